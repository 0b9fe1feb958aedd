//! `twinstore chaos workload|check`: the recorded workload and the history checker, for people
//! (and scripts) who break a deployment on purpose and want proof that nothing acknowledged was
//! lost.
//!
//! `workload` runs clients against the given endpoints (client `c` talks to endpoint `c mod n`, so
//! faults on one node hit some clients and not others) and writes every operation to a history
//! file as JSON lines, timeouts recorded as `unknown`. `check` reads the history, reads every
//! node's final value of every key (`LOCAL`, so run it after the deployment has quiesced), and
//! decides whether the history is linearizable and the final states are consistent with it; on a
//! violation it prints the smallest offending sub-history and exits 1.

use super::bench::parse_duration;
use super::output::{CliError, CliResult};
use super::{GlobalArgs, OutputFormat};
use crate::chaos::history::{self, Outcome};
use crate::chaos::{checker, workload};
use crate::error::ErrorCode;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Twins the clients share (few keys: many conflicts to check).
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
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The history file written by `chaos workload`.
    history: PathBuf,
    /// The number of keys the workload used.
    #[arg(long, default_value_t = 8)]
    keys: u32,
    /// Check the history alone, without reading the nodes' final states.
    #[arg(long)]
    no_finals: bool,
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

async fn run_workload(global: &GlobalArgs, a: WorkloadArgs) -> CliResult<ExitCode> {
    if a.clients == 0 || a.keys == 0 {
        return Err(CliError::new(
            ErrorCode::InvalidArgument,
            "--clients and --keys must be at least 1",
        ));
    }
    let mut prepared = Err(String::from("no endpoint"));
    for e in &global.endpoint {
        prepared = workload::prepare(e).await;
        if prepared.is_ok() {
            break;
        }
    }
    prepared.map_err(|e| {
        CliError::new(ErrorCode::Unavailable, format!("cannot upload the workload's model: {e}"))
    })?;
    let settings = workload::Settings {
        endpoints: global.endpoint.clone(),
        clients: a.clients,
        keys: a.keys,
        duration: a.duration,
        timeout: a.timeout,
        seed: a.seed,
    };
    let ops = workload::run(settings).await;
    std::fs::write(&a.history, history::to_lines(&ops)).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot write {}: {e}", a.history.display()),
        )
    })?;
    let count = |o: Outcome| ops.iter().filter(|op| op.outcome == o).count();
    let summary = serde_json::json!({
        "history": a.history.display().to_string(),
        "operations": ops.len(),
        "ok": count(Outcome::Ok),
        "failed": count(Outcome::Failed),
        "unknown": count(Outcome::Unknown),
    });
    match global.output {
        OutputFormat::Json => println!("{summary}"),
        OutputFormat::Text => println!(
            "{} operations ({} ok, {} failed, {} unknown) written to {}",
            ops.len(),
            count(Outcome::Ok),
            count(Outcome::Failed),
            count(Outcome::Unknown),
            a.history.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_check(global: &GlobalArgs, a: CheckArgs) -> CliResult<ExitCode> {
    let text = std::fs::read_to_string(&a.history).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot read {}: {e}", a.history.display()),
        )
    })?;
    let ops = history::parse(&text).map_err(|e| {
        CliError::new(ErrorCode::InvalidArgument, format!("{}: {e}", a.history.display()))
    })?;
    let finals = if a.no_finals {
        Default::default()
    } else {
        workload::finals(&global.endpoint, a.keys).await
    };
    let verdict = checker::check(&ops, &finals);
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "linearizable": verdict.ok(),
                "keys": verdict.keys,
                "operations": verdict.ops,
                "unchecked": verdict.unchecked,
                "violations": verdict.violations.iter().map(|v| serde_json::json!({
                    "key": v.key,
                    "ops": v.ops,
                })).collect::<Vec<_>>(),
            })
        ),
        OutputFormat::Text => {
            println!(
                "{} operations on {} keys: {}",
                verdict.ops,
                verdict.keys,
                if verdict.ok() {
                    "linearizable, final states consistent"
                } else if verdict.violations.is_empty() {
                    "INCONCLUSIVE (some keys' histories are too long to check: use more keys)"
                } else {
                    "NOT linearizable"
                }
            );
            for v in &verdict.violations {
                println!(
                    "key {}: the smallest offending sub-history ({} operations):",
                    v.key,
                    v.ops.len()
                );
                for op in &v.ops {
                    println!("  {}", serde_json::to_string(op).unwrap_or_default());
                }
            }
        }
    }
    Ok(if verdict.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
