//! `twinstore chaos workload|check`: the recorded workload and the history checker, for people
//! (and scripts) who break a deployment on purpose and want proof that nothing acknowledged was
//! lost.
//!
//! `workload` runs clients against the given endpoints (client `c` talks to endpoint `c mod n`, so
//! faults on one node hit some clients and not others) and writes every operation to a history
//! file as JSON lines, timeouts recorded as `unknown`. `check` reads the history, reads every
//! node's final value of every key (`LOCAL`, so run it after the deployment has quiesced) — the
//! `--endpoint` nodes and the `--also` ones (the standby region, once it caught up) alike — and
//! decides whether the history is linearizable, its `LOCAL` reads saw only written values, and the
//! final states are consistent with it and with each other. It prints the report of
//! [`crate::chaos::report`]: on a violation, the smallest offending sub-history. It exits 0 only
//! on a pass: a violation, a key too long to check, or a node that did not answer (which is never
//! taken for a node without the key) exit 1.

use super::bench::parse_duration;
use super::output::{CliError, CliResult};
use super::{GlobalArgs, OutputFormat};
use crate::chaos::history;
use crate::chaos::report::{self, Summary};
use crate::chaos::{checker, lost, workload};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use twinstore::error::ErrorCode;

/// The chaos subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ChaosCommand {
    /// Run the recorded workload and write its history.
    Workload(WorkloadArgs),
    /// Check a history (and the nodes' final states) for linearizability.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WorkloadArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: u32,
    /// Twins the clients share (few keys: many conflicts to check); with two or more, each twin's
    /// relationship `link` is a key too.
    #[arg(long, default_value_t = 8)]
    keys: u32,
    /// How long to run (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Per-request deadline; a request that takes longer is recorded as unknown.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    timeout: Duration,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the history (JSON lines).
    #[arg(long, default_value = "history.jsonl")]
    history: PathBuf,
    /// Record times from this moment (Unix time in ns) instead of the run's start, so the
    /// histories of two runs (e.g. before and after a failover) share one timeline.
    #[arg(long, value_name = "NS")]
    t0_ns: Option<u64>,
    /// Number the clients from this (a second run of one scenario uses another range, so all
    /// written values stay unique).
    #[arg(long, default_value_t = 0)]
    client_base: u32,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The history file(s) written by `chaos workload` (several: runs that shared a timeline
    /// through `--t0-ns`, checked as one history).
    #[arg(required = true, num_args = 1..)]
    history: Vec<PathBuf>,
    /// The number of twins the workload used (its `--keys`).
    #[arg(long, default_value_t = 8)]
    keys: u32,
    /// More nodes whose final states are checked like the `--endpoint` ones, comma-separated or
    /// repeated (e.g. the standby region's, once it has caught up).
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    also: Vec<String>,
    /// Check the history alone, without reading the nodes' final states.
    #[arg(long)]
    no_finals: bool,
    /// The writes the system reported lost in a forced failover (`dr divergent --export FILE`):
    /// excused, with the observations that may have seen them; any other loss still fails.
    #[arg(long, value_name = "FILE")]
    lost: Option<PathBuf>,
    /// When faults were injected: a file of times in ns on the history's timeline (since the
    /// workload's start, or its `--t0-ns`), one a line; the report then says how long writes took
    /// to come back after each.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
}

pub(crate) fn run(global: &GlobalArgs, cmd: ChaosCommand) -> CliResult<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("tokio: {e}")))?;
    runtime.block_on(async {
        match cmd {
            ChaosCommand::Workload(args) => run_workload(global, args).await,
            ChaosCommand::Check(args) => run_check(global, args).await,
        }
    })
}

/// The workload's TLS and token, from the command's flags.
fn access(global: &GlobalArgs) -> CliResult<workload::Access> {
    let options = global.client_options()?;
    Ok(workload::Access { tls: options.tls.map(|t| t.config()), token: options.token })
}

async fn run_workload(global: &GlobalArgs, a: WorkloadArgs) -> CliResult<ExitCode> {
    if a.clients == 0 || a.keys == 0 {
        return Err(CliError::new(
            ErrorCode::InvalidArgument,
            "--clients and --keys must be at least 1",
        ));
    }
    let access = access(global)?;
    let mut prepared = Err(String::from("no endpoint"));
    for e in &global.endpoint {
        prepared = workload::prepare(e, &access).await;
        if prepared.is_ok() {
            break;
        }
    }
    prepared.map_err(|e| {
        CliError::new(ErrorCode::Unavailable, format!("cannot upload the workload's model: {e}"))
    })?;
    let offset_ns = match a.t0_ns {
        None => 0,
        Some(t0) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            now.checked_sub(t0).ok_or_else(|| {
                CliError::new(ErrorCode::InvalidArgument, format!("--t0-ns {t0} is in the future"))
            })?
        }
    };
    let settings = workload::Settings {
        endpoints: global.endpoint.clone(),
        access,
        clients: a.clients,
        keys: a.keys,
        duration: a.duration,
        timeout: a.timeout,
        seed: a.seed,
        offset_ns,
        client_base: a.client_base,
    };
    let ops = workload::run(settings).await;
    std::fs::write(&a.history, history::to_lines(&ops)).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot write {}: {e}", a.history.display()),
        )
    })?;
    let s = Summary::of(&ops);
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "history": a.history.display().to_string(),
                "operations": s.operations,
                "ok": s.ok,
                "failed": s.failed,
                "unknown": s.unknown,
            })
        ),
        OutputFormat::Text => println!(
            "{} operations ({} ok, {} failed, {} unknown) written to {}",
            s.operations,
            s.ok,
            s.failed,
            s.unknown,
            a.history.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_check(global: &GlobalArgs, a: CheckArgs) -> CliResult<ExitCode> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| {
            CliError::new(
                ErrorCode::InvalidArgument,
                format!("cannot read {}: {e}", path.display()),
            )
        })
    };
    let mut ops = Vec::new();
    for path in &a.history {
        ops.extend(history::parse(&read(path)?).map_err(|e| {
            CliError::new(ErrorCode::InvalidArgument, format!("{}: {e}", path.display()))
        })?);
    }
    ops.sort_by_key(|o| o.invoke);
    let mut summary = Summary::of(&ops);
    if let Some(path) = &a.lost {
        let values = lost::lost_values(&read(path)?).map_err(|e| {
            CliError::new(ErrorCode::InvalidArgument, format!("{}: {e}", path.display()))
        })?;
        let (kept, excused) = lost::excuse(&ops, &values);
        ops = kept;
        summary.reported_lost = excused.acknowledged;
    }
    let finals = if a.no_finals {
        checker::Finals::default()
    } else {
        let nodes: Vec<String> = global.endpoint.iter().chain(&a.also).cloned().collect();
        workload::finals(&nodes, a.keys, &access(global)?).await
    };
    let verdict = checker::check(&ops, &finals);
    let faults = match &a.faults {
        None => Vec::new(),
        Some(path) => read(path)?
            .split_whitespace()
            .map(|t| {
                t.parse::<u64>().map_err(|_| {
                    CliError::new(
                        ErrorCode::InvalidArgument,
                        format!("{}: '{t}' is not a time in ns", path.display()),
                    )
                })
            })
            .collect::<CliResult<Vec<u64>>>()?,
    };
    let recovery: Vec<Option<u64>> = report::recovery_ns(&ops, &faults)
        .into_iter()
        .map(|r| r.map(|ns| (ns + 500_000) / 1_000_000))
        .collect();
    let worst = recovery.iter().flatten().max().copied();
    match global.output {
        OutputFormat::Json => {
            let mut v = report::json(&summary, &verdict, finals.nodes.len());
            v["recovery_ms"] = serde_json::json!(recovery);
            v["recovery_max_ms"] = serde_json::json!(worst);
            println!("{v}");
        }
        OutputFormat::Text => {
            print!("{}", report::text(&summary, &verdict));
            if !recovery.is_empty() {
                let each: Vec<String> = recovery
                    .iter()
                    .map(|r| r.map_or("never".to_string(), |ms| format!("{ms} ms")))
                    .collect();
                println!("writes back after each fault: {}", each.join(", "));
            }
        }
    }
    Ok(if verdict.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        chaos: ChaosCommand,
    }

    #[test]
    fn also_takes_commas_and_repeats() {
        let cli = Cli::parse_from([
            "t",
            "check",
            "h.jsonl",
            "--also",
            "http://a:1,http://b:2",
            "--also",
            "http://c:3",
        ]);
        let ChaosCommand::Check(a) = cli.chaos else { panic!("not check") };
        assert_eq!(a.also, vec!["http://a:1", "http://b:2", "http://c:3"]);
        assert_eq!(a.keys, 8);
        assert!(!a.no_finals);
    }
}
