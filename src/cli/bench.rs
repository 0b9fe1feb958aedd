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
//! Workloads, on a key space of `--keys` twins named `bench-<n>` of the bench model
//! `dtmi:twinstore:bench:Device;1` (uploaded first unless it exists):
//! - `put`: create or replace a twin of about `--value-size` bytes (a string payload and a double);
//! - `patch`: a JSON Patch replacing the double (the twins are created first);
//! - `get`: read a twin with `--consistency linearizable|local` (the twins are created first).
//!   Writes and linearizable reads go to the leader (the client discovers it); local reads are
//!   spread over the endpoints (connection `i` starts at endpoint `i`).
//!
//! Latencies go to an HdrHistogram (1 µs to 60 s, 3 significant digits); the report has ops/s and
//! p50 / p90 / p99 / p99.9 / max, the errors by code, and the machine. Afterwards a sample of
//! acknowledged writes is read back (linearizably): a missing one fails the run.

use super::output::{CliError, CliResult, OutputFormat, out};
use super::{ConsistencyArg, GlobalArgs};
use crate::client::{Client, ClientError, Conditions, Consistency};
use crate::error::ErrorCode;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The bench model's id.
pub(crate) const BENCH_MODEL: &str = "dtmi:twinstore:bench:Device;1";
/// The largest string property a twin may have (ADT's limit).
const MAX_PAYLOAD: usize = crate::model::limits::MAX_STRING_VALUE_BYTES;
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
    fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Patch => "patch",
            Workload::Get => "get",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// What to do.
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
    /// The approximate size of a put twin in bytes.
    #[arg(long, default_value_t = 1024, value_name = "BYTES")]
    value_size: usize,
    /// The number of distinct twins the workload touches.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    keys: u64,
    /// How fresh `get` reads must be.
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

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

/// The bench model (DTDL v3).
fn bench_model() -> String {
    json!({
        "@context": "dtmi:dtdl:context;3",
        "@id": BENCH_MODEL,
        "@type": "Interface",
        "displayName": "twinstore bench device",
        "contents": [
            {"@type": "Property", "name": "payload", "schema": "string"},
            {"@type": "Property", "name": "value", "schema": "double"}
        ]
    })
    .to_string()
}

/// A bench twin of about `size` bytes.
fn twin_json(payload: &str, value: u64) -> String {
    format!(
        "{{\"$metadata\":{{\"$model\":\"{BENCH_MODEL}\"}},\"payload\":\"{payload}\",\"value\":{value}}}"
    )
}

/// The payload that makes a twin of about `size` bytes.
fn payload_for(size: usize) -> CliResult<String> {
    let overhead = twin_json("", 0).len() + 4;
    let len = size.saturating_sub(overhead).max(1);
    if len > MAX_PAYLOAD {
        return Err(invalid(format!(
            "--value-size {size} is too large: a string property holds at most {MAX_PAYLOAD} \
             bytes, so at most {} here",
            MAX_PAYLOAD + overhead
        )));
    }
    // Printable, not all one byte, so compression-free storage sees realistic data.
    Ok((0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect())
}

fn key(n: u64) -> String {
    format!("bench-{n}")
}

/// A small fast PRNG (splitmix64) per client; seeded, so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The checked plan of a run.
#[derive(Clone, Debug)]
struct Plan {
    workload: Workload,
    clients: usize,
    conns: usize,
    total: Option<u64>,
    duration: Option<Duration>,
    /// The end of the run whatever else happens.
    cap: Duration,
    rate: Option<f64>,
    value_size: usize,
    keys: u64,
    consistency: Consistency,
    seed: u64,
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
        let total = match (self.total, self.duration) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(10_000),
        };
        let cap = self.duration.unwrap_or(self.max_time);
        Ok(Plan {
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
    let payload = payload_for(plan.value_size)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    let report = runtime.block_on(bench(&global.endpoint, &plan, payload, global.output))?;
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

fn progress(format: OutputFormat, line: &str) {
    if format == OutputFormat::Text {
        eprintln!("{line}");
    }
}

/// Uploads the bench model unless it is there.
async fn ensure_model(client: &Client) -> CliResult {
    match client.get_model(BENCH_MODEL, false, Consistency::Linearizable).await {
        Ok(_) => return Ok(()),
        Err(e) if e.code == Some(ErrorCode::ModelNotFound) => {}
        Err(e) => return Err(CliError::from(e).context("reading the bench model")),
    }
    match client.add_models(&format!("[{}]", bench_model())).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == Some(ErrorCode::ModelAlreadyExists) => Ok(()),
        Err(e) => Err(CliError::from(e).context("uploading the bench model")),
    }
}

/// Creates the key space (for patch and get), with a few concurrent writers.
async fn prepare_keys(client: &Client, plan: &Plan, payload: &Arc<str>) -> CliResult {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..plan.clients.clamp(4, 32) {
        let (client, next, payload, keys) =
            (client.clone(), next.clone(), payload.clone(), plan.keys);
        set.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= keys {
                    return Ok::<(), ClientError>(());
                }
                client.put_twin(&key(n), &twin_json(&payload, n), Conditions::none()).await?;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CliError::from(e).context("creating the bench twins")),
            Err(e) => {
                return Err(CliError::new(ErrorCode::Internal, format!("a task failed: {e}")));
            }
        }
    }
    Ok(())
}

/// What one client task measured.
struct TaskResult {
    hist: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    acked: Vec<u64>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// The outcome of a run.
struct Report {
    plan: Plan,
    endpoints: Vec<String>,
    leader: Option<String>,
    nproc: usize,
    cpu_model: String,
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    elapsed: Duration,
    readback_checked: u64,
    readback_missing: u64,
}

async fn bench(
    endpoints: &[String],
    plan: &Plan,
    payload: String,
    format: OutputFormat,
) -> CliResult<Report> {
    let payload: Arc<str> = payload.into();
    let setup = Client::new(endpoints)?;
    ensure_model(&setup).await?;
    if plan.workload != Workload::Put {
        progress(format, &format!("creating {} bench twins ...", plan.keys));
        prepare_keys(&setup, plan, &payload).await?;
    }
    let leader = match setup.leader() {
        Some(l) => Some(l),
        None => setup.discover_leader().await,
    };
    // The connections: local reads start at different endpoints, everything else at the leader.
    let spread = plan.workload == Workload::Get && plan.consistency == Consistency::Local;
    let mut conns = Vec::with_capacity(plan.conns);
    for i in 0..plan.conns {
        let mut eps = endpoints.to_vec();
        if spread && !eps.is_empty() {
            let n = i % eps.len();
            eps.rotate_left(n);
        }
        let client = Client::new(&eps)?;
        if !spread {
            client.discover_leader().await;
        }
        // Open the connection before the clock starts.
        let _ = client.get_twin(&key(0), plan.consistency).await;
        conns.push(client);
    }

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
        let client = conns[i % conns.len()].clone();
        let (next, payload, plan) = (next.clone(), payload.clone(), plan.clone());
        set.spawn(client_loop(i, client, next, payload, plan, start, deadline));
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
        match setup.get_twin(&key(n), Consistency::Linearizable).await {
            Ok(_) => {}
            Err(e) if e.code == Some(ErrorCode::DigitalTwinNotFound) => missing += 1,
            Err(e) => return Err(CliError::from(e).context("reading back acknowledged writes")),
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
    client: Client,
    next: Arc<AtomicU64>,
    payload: Arc<str>,
    plan: Plan,
    start: Instant,
    deadline: tokio::time::Instant,
) -> TaskResult {
    let mut rng = Rng(plan.seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
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
        let id = key(k);
        let outcome = match plan.workload {
            Workload::Put => {
                client.put_twin(&id, &twin_json(&payload, n), Conditions::none()).await.map(|_| ())
            }
            Workload::Patch => {
                let patch = format!("[{{\"op\":\"replace\",\"path\":\"/value\",\"value\":{n}}}]");
                client.patch_twin(&id, &patch, Conditions::none()).await.map(|_| ())
            }
            Workload::Get => client.get_twin(&id, plan.consistency).await.map(|_| ()),
        };
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
            Err(e) => *result.errors.entry(e.code_str()).or_default() += 1,
        }
    }
    result
}

/// The number of CPUs and the CPU model (Linux's /proc/cpuinfo; "unknown" elsewhere).
fn machine() -> (usize, String) {
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    (nproc, model)
}

fn ms(micros: u64) -> f64 {
    (micros as f64 / 1000.0 * 1000.0).round() / 1000.0
}

impl Report {
    fn percentile(&self, q: f64) -> f64 {
        if self.hist.is_empty() { 0.0 } else { ms(self.hist.value_at_quantile(q)) }
    }

    fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { (self.ok as f64 / secs * 10.0).round() / 10.0 } else { 0.0 }
    }

    fn describe(&self) -> String {
        let p = &self.plan;
        let what = match p.workload {
            Workload::Put => format!("put of {}-byte twins", p.value_size),
            Workload::Patch => "patch (replace one double)".into(),
            Workload::Get => format!("get ({})", consistency_name(p.consistency)),
        };
        let load = match p.rate {
            Some(r) => format!("open loop at {r} ops/s"),
            None => "closed loop".into(),
        };
        let bound = match (p.total, p.duration) {
            (Some(t), _) => format!("{t} ops"),
            (None, Some(d)) => format!("{:.1} s", d.as_secs_f64()),
            (None, None) => String::new(),
        };
        format!(
            "{what} on {} keys, {load}, {} client(s) over {} connection(s), {bound}",
            p.keys, p.clients, p.conns
        )
    }

    fn to_json(&self) -> Value {
        let p = &self.plan;
        json!({
            "workload": p.workload.name(),
            "description": self.describe(),
            "mode": if p.rate.is_some() { "open" } else { "closed" },
            "clients": p.clients,
            "conns": p.conns,
            "total": p.total,
            "duration_secs": p.duration.map(|d| d.as_secs_f64()),
            "rate": p.rate,
            "value_size": p.value_size,
            "keys": p.keys,
            "consistency": consistency_name(p.consistency),
            "endpoints": self.endpoints,
            "leader": self.leader,
            "machine": {"nproc": self.nproc, "cpu_model": self.cpu_model},
            "ok": self.ok,
            "failed": self.errors.values().sum::<u64>(),
            "errors": self.errors,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "latency_ms": {
                "p50": self.percentile(0.5),
                "p90": self.percentile(0.9),
                "p99": self.percentile(0.99),
                "p99_9": self.percentile(0.999),
                "max": if self.hist.is_empty() { 0.0 } else { ms(self.hist.max()) },
                "min": if self.hist.is_empty() { 0.0 } else { ms(self.hist.min()) },
                "mean": (self.hist.mean() / 1000.0 * 1000.0).round() / 1000.0,
            },
            "readback": {"checked": self.readback_checked, "missing": self.readback_missing},
        })
    }

    fn text(&self) -> Vec<String> {
        let mut l = vec![
            format!("twinstore bench: {}", self.describe()),
            format!(
                "machine: {} CPU(s), {}; endpoints: {}{}",
                self.nproc,
                self.cpu_model,
                self.endpoints.join(","),
                self.leader.as_ref().map(|x| format!(" (leader {x})")).unwrap_or_default()
            ),
            String::new(),
            "Summary:".into(),
            format!("  elapsed      {:.3} s", self.elapsed.as_secs_f64()),
            format!("  ops          {} ok, {} failed", self.ok, self.errors.values().sum::<u64>()),
            format!("  throughput   {:.1} ops/s", self.ops_per_sec()),
            String::new(),
            "Latency (ms):".into(),
        ];
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
            l.push(format!("  {name:<7}{:>10.3}", self.percentile(q)));
        }
        let max = if self.hist.is_empty() { 0.0 } else { ms(self.hist.max()) };
        l.push(format!("  {:<7}{:>10.3}", "max", max));
        l.push(format!("  {:<7}{:>10.3}", "mean", self.hist.mean() / 1000.0));
        l.push(String::new());
        if self.errors.is_empty() {
            l.push("Errors: none".into());
        } else {
            l.push("Errors by code:".into());
            for (code, n) in &self.errors {
                l.push(format!("  {code:<24}{n:>8}"));
            }
        }
        if self.plan.workload != Workload::Get {
            l.push(format!(
                "Read-back: {} of {} sampled acknowledged writes present",
                self.readback_checked - self.readback_missing,
                self.readback_checked
            ));
        }
        l
    }
}

fn consistency_name(c: Consistency) -> &'static str {
    match c {
        Consistency::Local => "local",
        _ => "linearizable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn twins_have_about_the_asked_size() {
        for size in [100, 1024, 4000] {
            let t = twin_json(&payload_for(size).unwrap(), 123_456);
            assert!(t.len().abs_diff(size) < 16, "{size}: {}", t.len());
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["$metadata"]["$model"], BENCH_MODEL);
        }
        assert!(payload_for(1 << 20).is_err());
        let m: Value = serde_json::from_str(&bench_model()).unwrap();
        assert_eq!(m["@id"], BENCH_MODEL);
    }

    #[test]
    fn the_rng_is_seeded_and_spread() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!((0..10).all(|k| xs.contains(&k)));
    }

    #[test]
    fn machine_is_known() {
        let (n, model) = machine();
        assert!(n >= 1);
        assert!(!model.is_empty());
    }
}
