//! The report of `twinstore bench`: the latency histogram, throughput, errors and machine, as text
//! for people or JSON for scripts, whichever the target (twinstore or etcd) was.
//!
//! Latencies go to an HdrHistogram (1 µs to 60 s, 3 significant digits); the report has ops/s and
//! p50 / p90 / p99 / p99.9 / max, the errors by code, the machine, and the read-back check of
//! acknowledged writes.

use super::bench::{Plan, Target, Workload};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use twinstore::client::Consistency;

/// A histogram of latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// The outcome of a run.
pub(super) struct Report {
    pub(super) plan: Plan,
    pub(super) endpoints: Vec<String>,
    pub(super) leader: Option<String>,
    pub(super) nproc: usize,
    pub(super) cpu_model: String,
    pub(super) hist: Histogram<u64>,
    pub(super) ok: u64,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) elapsed: Duration,
    pub(super) readback_checked: u64,
    pub(super) readback_missing: u64,
}

/// The number of CPUs and the CPU model (Linux's /proc/cpuinfo; "unknown" elsewhere).
pub(super) fn machine() -> (usize, String) {
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| cpu_model(&text))
        .unwrap_or_else(|| "unknown".into());
    (nproc, model)
}

/// The CPU model a `/proc/cpuinfo` names (x86's `model name`, ARM's `Model`).
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn ms(micros: u64) -> f64 {
    (micros as f64 / 1000.0 * 1000.0).round() / 1000.0
}

/// How a read's freshness is called on the target: etcd calls a member-local read serializable.
pub(super) fn consistency_name(target: Target, c: Consistency) -> &'static str {
    match (target, c) {
        (Target::Etcd, Consistency::Local) => "serializable",
        (_, Consistency::Local) => "local",
        _ => "linearizable",
    }
}

impl Report {
    fn percentile(&self, q: f64) -> f64 {
        if self.hist.is_empty() { 0.0 } else { ms(self.hist.value_at_quantile(q)) }
    }

    pub(super) fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { (self.ok as f64 / secs * 10.0).round() / 10.0 } else { 0.0 }
    }

    fn describe(&self) -> String {
        let p = &self.plan;
        let what = match (p.workload, p.target) {
            (Workload::Put, Target::Twinstore) => format!("put of {}-byte twins", p.value_size),
            (Workload::Put, Target::Etcd) => format!("put of {}-byte values", p.value_size),
            (Workload::Patch, _) => "patch (replace one double)".into(),
            (Workload::Get, t) => format!("get ({})", consistency_name(t, p.consistency)),
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

    pub(super) fn to_json(&self) -> Value {
        let p = &self.plan;
        json!({
            "target": p.target.name(),
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
            "consistency": consistency_name(p.target, p.consistency),
            "endpoints": self.endpoints,
            "leader": self.leader,
            "machine": {"nproc": self.nproc, "cpu_model": self.cpu_model},
            "ok": self.ok,
            "failed": self.failed(),
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

    pub(super) fn text(&self) -> Vec<String> {
        let mut l = vec![
            format!("twinstore bench (target {}): {}", self.plan.target.name(), self.describe()),
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
            format!("  ops          {} ok, {} failed", self.ok, self.failed()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_is_read_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("Model\t\t: Raspberry Pi 4\n").as_deref(), Some("Raspberry Pi 4"));
        assert_eq!(cpu_model("processor\t: 0\n"), None);
    }

    #[test]
    fn reads_are_named_as_the_target_names_them() {
        assert_eq!(consistency_name(Target::Etcd, Consistency::Local), "serializable");
        assert_eq!(consistency_name(Target::Etcd, Consistency::Linearizable), "linearizable");
        assert_eq!(consistency_name(Target::Twinstore, Consistency::Local), "local");
        assert_eq!(consistency_name(Target::Twinstore, Consistency::Linearizable), "linearizable");
    }
}
