//! `twinstore bench`: a load generator shaped like etcd's `benchmark` tool.
//!
//! `--clients N` tasks share `--conns M` gRPC connections (each connection is a [`Client`] of its
//! own, with its own channels and leader discovery; client task `i` uses connection `i % M`). The
//! run is bounded in count and time always: `--total N` operations (at most `--max-time`), or
//! `--duration D`.
//!
//! Two load models:
//! - **closed loop** (default): every client sends its next request as soon as the previous one
//!   answered; this finds the peak throughput. Latency is each request's service time.
//! - **open loop** (`--rate R`): requests are *scheduled* at R per second in total, whatever the
//!   answers do; a client takes the next slot, waits for its time, and sends. Latency is measured
//!   from the *intended* send time, so a stall shows up as the queue it really causes (wrk2's fix
//!   for coordinated omission), not as one slow request.
//!
//! Two targets, one report (`bench_report.rs`): `--target twinstore` (the default) and `--target
//! etcd`, etcd's v3 KV API with the same workloads on keys `bench-<n>` (`bench_etcd.rs`), so the
//! two are measured side by side by one command.
//!
//! Workloads on twinstore (`bench_twinstore.rs`), on a key space of `--keys` twins named
//! `bench-<n>` of the bench model `dtmi:twinstore:bench:Device;1` (uploaded first unless it
//! exists):
//! - `put`: create or replace a twin of about `--value-size` bytes (a string payload and a double);
//! - `patch`: a JSON Patch replacing the double (the twins are created first);
//! - `get`: read a twin with `--consistency linearizable|local` (the twins are created first).
//!   Writes and linearizable reads go to the leader (the client discovers it); local reads are
//!   spread over the endpoints (connection `i` starts at endpoint `i`).
//!
//! Latencies go to an HdrHistogram (1 µs to 60 s, 3 significant digits); the report has ops/s and
//! p50 / p90 / p99 / p99.9 / max, the errors by code, and the machine. Afterwards a sample of
//! acknowledged writes is read back (linearizably): a missing one fails the run.

use super::bench_etcd::{self, EtcdConn};
use super::bench_report::{Report, machine, new_histogram};
use super::bench_twinstore;
use super::output::{CliError, CliResult, OutputFormat, out};
use super::{ConsistencyArg, GlobalArgs};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use twinstore::client::{Client, ClientOptions, Consistency};
use twinstore::error::ErrorCode;
use twinstore::rng::Rng;

/// How many acknowledged writes each client remembers for the read-back check.
const READBACK_PER_CLIENT: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// Create or replace twins of about --value-size bytes.
    Put,
    /// JSON-patch one property of existing twins.
    Patch,
    /// Read twins by id.
    Get,
}

impl Workload {
    pub(super) fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Patch => "patch",
            Workload::Get => "get",
        }
    }
}

/// What is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Target {
    /// twinstore's gRPC API: twins of the bench model.
    #[default]
    Twinstore,
    /// etcd's v3 gRPC KV API (KV/Put, KV/Range): keys and values. --endpoint takes etcd's client
    /// URLs; the connections go round robin over them (etcd members forward to their leader).
    Etcd,
}

impl Target {
    pub(super) fn name(self) -> &'static str {
        match self {
            Target::Twinstore => "twinstore",
            Target::Etcd => "etcd",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The store to measure.
    #[arg(long, value_enum, default_value_t)]
    target: Target,
    /// What to do (etcd: put or get).
    #[arg(long, value_enum, default_value_t = Workload::Put)]
    workload: Workload,
    /// Concurrent clients (tasks).
    #[arg(long, default_value_t = 1, value_name = "N")]
    clients: usize,
    /// gRPC connections, shared round-robin by the clients.
    #[arg(long, default_value_t = 1, value_name = "N")]
    conns: usize,
    /// Operations in total [default: 10000 when --duration is not given].
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    total: Option<u64>,
    /// Run for this long (e.g. 10s, 500ms, 2m) instead of a count.
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Open loop: this many operations per second in total, latency from the intended send time.
    /// Without it: closed loop.
    #[arg(long, value_name = "OPS")]
    rate: Option<f64>,
    /// The approximate size of a put twin in bytes (etcd: the exact size of a value).
    #[arg(long, default_value_t = 1024, value_name = "BYTES")]
    value_size: usize,
    /// The number of distinct twins the workload touches.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    keys: u64,
    /// How fresh `get` reads must be (etcd: linearizable, or serializable alias local).
    #[arg(long, value_enum, default_value_t)]
    consistency: ConsistencyArg,
    /// The longest a --total run may take.
    #[arg(long, value_name = "TIME", value_parser = parse_duration, default_value = "5m")]
    max_time: Duration,
    /// The seed of the key choice (runs with the same seed touch the same keys).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Parses `10s`, `500ms`, `2m`, `1.5s`, `1h` or a number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 =
        num.parse().map_err(|_| format!("'{s}' is not a duration such as 10s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{s}': use ms, s, m or h")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 * 7.0 {
        return Err(format!("'{s}' must be positive and at most a week"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(super) fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

/// A value of exactly `size` printable bytes, not all one byte (so storage that compresses sees
/// realistic data), for both targets.
pub(super) fn value_of(size: usize) -> String {
    (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

/// The key (twin id) number `n`: `bench-<n>`, on both targets.
pub(super) fn key(n: u64) -> String {
    format!("bench-{n}")
}

/// The checked plan of a run.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) target: Target,
    pub(super) workload: Workload,
    pub(super) clients: usize,
    pub(super) conns: usize,
    pub(super) total: Option<u64>,
    pub(super) duration: Option<Duration>,
    /// The end of the run whatever else happens.
    pub(super) cap: Duration,
    pub(super) rate: Option<f64>,
    pub(super) value_size: usize,
    pub(super) keys: u64,
    pub(super) consistency: Consistency,
    pub(super) seed: u64,
}

impl BenchArgs {
    fn plan(&self) -> CliResult<Plan> {
        if self.clients == 0 || self.clients > 10_000 {
            return Err(invalid("--clients must be between 1 and 10000"));
        }
        if self.conns == 0 {
            return Err(invalid("--conns must be at least 1"));
        }
        if self.keys == 0 {
            return Err(invalid("--keys must be at least 1"));
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(invalid(format!("--rate {r} must be a positive number of ops/s")));
        }
        if self.total == Some(0) {
            return Err(invalid("--total must be at least 1"));
        }
        if self.target == Target::Etcd {
            if self.workload == Workload::Patch {
                return Err(invalid(
                    "--workload patch is twinstore's alone (etcd has no JSON Patch): use put or get",
                ));
            }
            if self.value_size > bench_etcd::MAX_VALUE {
                return Err(invalid(format!(
                    "--value-size {} is too large for etcd: at most {} bytes",
                    self.value_size,
                    bench_etcd::MAX_VALUE
                )));
            }
        }
        let total = match (self.total, self.duration) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(10_000),
        };
        let cap = self.duration.unwrap_or(self.max_time);
        Ok(Plan {
            target: self.target,
            workload: self.workload,
            clients: self.clients,
            conns: self.conns.min(self.clients),
            total,
            duration: self.duration,
            cap,
            rate: self.rate,
            value_size: self.value_size,
            keys: self.keys,
            consistency: self.consistency.into(),
            seed: self.seed,
        })
    }
}

pub(crate) fn run(global: &GlobalArgs, args: BenchArgs) -> CliResult<ExitCode> {
    let plan = args.plan()?;
    // What a put writes: a twin's string property, or etcd's value.
    let payload = match plan.target {
        Target::Twinstore => bench_twinstore::payload_for(plan.value_size)?,
        Target::Etcd => value_of(plan.value_size),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    let options = global.client_options()?;
    let report =
        runtime.block_on(bench(&global.endpoint, &options, &plan, payload, global.output))?;
    match global.output {
        OutputFormat::Json => out(&report.to_json().to_string()),
        OutputFormat::Text => {
            for line in report.text() {
                out(&line);
            }
        }
    }
    if report.ok == 0 {
        let first = report.errors.keys().next().cloned().unwrap_or_default();
        return Err(CliError::new(
            ErrorCode::Unavailable,
            format!("no operation succeeded (errors: {first})"),
        ));
    }
    if report.readback_missing > 0 {
        return Err(CliError::new(
            ErrorCode::Internal,
            format!(
                "{} of {} acknowledged writes read back were missing",
                report.readback_missing, report.readback_checked
            ),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn progress(format: OutputFormat, line: &str) {
    if format == OutputFormat::Text {
        eprintln!("{line}");
    }
}

/// What one client task measured.
struct TaskResult {
    hist: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    acked: Vec<u64>,
}

/// One connection of a run: a twinstore client (with its own channels and leader discovery), or
/// a channel to one etcd member.
#[derive(Clone)]
enum Conn {
    Twinstore(Client),
    Etcd(EtcdConn),
}

impl Conn {
    /// One operation of the workload on key number `k` (`n` is the operation's number); a failure
    /// is given as the code it is counted under.
    async fn op(&self, plan: &Plan, k: u64, n: u64, payload: &str) -> Result<(), String> {
        let id = key(k);
        match self {
            Conn::Twinstore(client) => {
                bench_twinstore::op(client, plan, &id, n, payload).await.map_err(|e| e.code_str())
            }
            Conn::Etcd(conn) => bench_etcd::op(conn, plan, &id, payload).await,
        }
    }

    /// Whether key number `k` is there, read linearizably (the read-back check).
    async fn exists(&self, k: u64) -> CliResult<bool> {
        match self {
            Conn::Twinstore(client) => bench_twinstore::exists(client, &key(k)).await,
            Conn::Etcd(conn) => bench_etcd::exists(conn, &key(k)).await,
        }
    }
}

async fn bench(
    endpoints: &[String],
    options: &ClientOptions,
    plan: &Plan,
    payload: String,
    format: OutputFormat,
) -> CliResult<Report> {
    let payload: Arc<str> = payload.into();
    let (conns, leader, readback) = match plan.target {
        Target::Twinstore => {
            let (conns, leader, setup) =
                bench_twinstore::setup(endpoints, options, plan, &payload, format).await?;
            (
                conns.into_iter().map(Conn::Twinstore).collect::<Vec<_>>(),
                leader,
                Conn::Twinstore(setup),
            )
        }
        Target::Etcd => {
            let conns = bench_etcd::setup(endpoints, plan, &payload, format).await?;
            let readback = Conn::Etcd(conns[0].clone());
            (conns.into_iter().map(Conn::Etcd).collect(), None, readback)
        }
    };

    let mode = if plan.rate.is_some() { "open loop" } else { "closed loop" };
    progress(
        format,
        &format!(
            "running {} ({mode}, {} clients over {} connections) ...",
            plan.workload.name(),
            plan.clients,
            plan.conns
        ),
    );
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + plan.cap;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..plan.clients {
        let conn = conns[i % conns.len()].clone();
        let (next, payload, plan) = (next.clone(), payload.clone(), plan.clone());
        set.spawn(client_loop(i, conn, next, payload, plan, start, deadline));
    }
    let mut hist = new_histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut acked: Vec<u64> = Vec::new();
    while let Some(r) = set.join_next().await {
        let r =
            r.map_err(|e| CliError::new(ErrorCode::Internal, format!("a client failed: {e}")))?;
        hist.add(&r.hist).map_err(|e| CliError::new(ErrorCode::Internal, e.to_string()))?;
        for (code, n) in r.errors {
            *errors.entry(code).or_default() += n;
        }
        acked.extend(r.acked);
    }
    let elapsed = start.elapsed();

    // Read back a sample of acknowledged writes, linearizably.
    acked.sort_unstable();
    acked.dedup();
    let mut missing = 0;
    for &n in &acked {
        if !readback.exists(n).await? {
            missing += 1;
        }
    }
    let (nproc, cpu_model) = machine();
    Ok(Report {
        plan: plan.clone(),
        endpoints: endpoints.to_vec(),
        leader,
        nproc,
        cpu_model,
        ok: hist.len(),
        hist,
        errors,
        elapsed,
        readback_checked: acked.len() as u64,
        readback_missing: missing,
    })
}

async fn client_loop(
    index: usize,
    conn: Conn,
    next: Arc<AtomicU64>,
    payload: Arc<str>,
    plan: Plan,
    start: Instant,
    deadline: tokio::time::Instant,
) -> TaskResult {
    let mut rng = Rng::new(plan.seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut result =
        TaskResult { hist: new_histogram(), errors: BTreeMap::new(), acked: Vec::new() };
    let tokio_start = tokio::time::Instant::from_std(start);
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if plan.total.is_some_and(|t| n >= t) {
            break;
        }
        // Open loop: op n is due at start + n / rate; latency counts from then.
        let due = match plan.rate {
            Some(rate) => {
                let due = tokio_start + Duration::from_secs_f64(n as f64 / rate);
                if due >= deadline {
                    break;
                }
                tokio::time::sleep_until(due).await;
                due
            }
            None => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
        };
        let k = rng.below(plan.keys);
        let outcome = conn.op(&plan, k, n, &payload).await;
        let micros = due.elapsed().as_micros().min(u64::MAX as u128) as u64;
        match outcome {
            Ok(()) => {
                result.hist.saturating_record(micros.max(1));
                if plan.workload != Workload::Get
                    && (result.acked.len() < READBACK_PER_CLIENT || rng.below(8) == 0)
                {
                    if result.acked.len() >= READBACK_PER_CLIENT {
                        let slot = rng.below(READBACK_PER_CLIENT as u64) as usize;
                        result.acked[slot] = k;
                    } else {
                        result.acked.push(k);
                    }
                }
            }
            Err(code) => *result.errors.entry(code).or_default() += 1,
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cmd::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    fn refused(args: &[&str]) -> String {
        let err = parse(args).unwrap().plan().unwrap_err().to_string();
        assert!(err.starts_with("InvalidArgument: "), "{err}");
        err
    }

    #[test]
    fn the_target_is_twinstore_unless_etcd_is_asked() {
        let plan = parse(&[]).unwrap().plan().unwrap();
        assert_eq!(
            (plan.target, plan.workload, plan.total),
            (Target::Twinstore, Workload::Put, Some(10_000))
        );
        let plan = parse(&[
            "--target",
            "etcd",
            "--workload",
            "get",
            "--consistency",
            "serializable",
            "--clients",
            "64",
            "--conns",
            "8",
            "--rate",
            "1000",
            "--duration",
            "2s",
            "--keys",
            "50",
        ])
        .unwrap()
        .plan()
        .unwrap();
        assert_eq!(plan.target, Target::Etcd);
        assert_eq!((plan.workload, plan.consistency), (Workload::Get, Consistency::Local));
        assert_eq!((plan.clients, plan.conns, plan.keys), (64, 8, 50));
        assert_eq!((plan.rate, plan.total, plan.cap), (Some(1000.0), None, Duration::from_secs(2)));
        let plan = parse(&["--target", "etcd", "--consistency", "local"]).unwrap().plan().unwrap();
        assert_eq!(plan.consistency, Consistency::Local);
        assert!(parse(&["--target", "consul"]).is_err());
    }

    #[test]
    fn etcd_runs_refuse_what_etcd_cannot_do() {
        assert!(refused(&["--target", "etcd", "--workload", "patch"]).contains("JSON Patch"));
        assert!(refused(&["--target", "etcd", "--value-size", "2000000"]).contains("etcd"));
        // The same checks as for twinstore.
        refused(&["--target", "etcd", "--clients", "0"]);
        refused(&["--target", "etcd", "--rate", "0"]);
        // A value larger than a twin's string property is fine for etcd.
        let plan = parse(&["--target", "etcd", "--value-size", "100000"]).unwrap().plan().unwrap();
        assert_eq!(plan.value_size, 100_000);
    }

    #[test]
    fn the_report_names_its_target() {
        for (target, consistency) in [("etcd", "serializable"), ("twinstore", "local")] {
            let args = ["--target", target, "--workload", "get", "--consistency", "local"];
            let plan = parse(&args).unwrap().plan().unwrap();
            let mut hist = new_histogram();
            hist.record(1500).unwrap();
            let report = Report {
                plan,
                endpoints: vec!["http://127.0.0.1:2379".into()],
                leader: None,
                nproc: 2,
                cpu_model: "cpu".into(),
                ok: 1,
                hist,
                errors: BTreeMap::from([("Unavailable".to_string(), 2)]),
                elapsed: Duration::from_secs(1),
                readback_checked: 0,
                readback_missing: 0,
            };
            let json = report.to_json();
            assert_eq!(json["target"], target);
            assert_eq!(json["consistency"], consistency);
            assert_eq!(json["failed"], 2);
            assert_eq!(json["latency_ms"]["p50"], 1.5);
            assert!(
                report.text()[0].contains(&format!("(target {target})")),
                "{:?}",
                report.text()
            );
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
