//! Prometheus metrics: per-RPC request counts and latency histograms, and the node's raft, DR,
//! health, incident and storage numbers, in the Prometheus text exposition format (0.0.4).
//!
//! Hand-written rather than a metrics crate: the RPC numbers are the only ones kept as they
//! happen ([`Rpc`], fed by a layer on the gRPC server); everything else is read from live state
//! when `/metrics` is scraped, so there is nothing to keep in sync. Every node-level family carries
//! `region` and `node` labels, so the scrapes of all nodes of both regions can be put together.
//!
//! The RPC latency is measured from the request to its response headers: for unary calls, the
//! whole call; for streams (log shipping, snapshots), until the stream starts.

use super::Health;
use super::state;
use crate::pb::{self, HealthState};
use crate::storage::incidents::{IncidentKind, IncidentStatus};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// The latency histogram's bucket bounds, in seconds.
pub const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The most distinct RPC methods tracked (paths come from clients; past this, `other`).
const MAX_METHODS: usize = 200;

/// The name of a gRPC status code.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "Cancelled",
        2 => "Unknown",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

/// Whether a status code is the server's fault (what makes a node Degraded).
fn server_error(code: &str) -> bool {
    matches!(code, "Internal" | "DataLoss" | "Unknown")
}

#[derive(Clone, Debug, Default)]
struct MethodStats {
    codes: BTreeMap<&'static str, u64>,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Request counts by method and status code, and latency histograms by method.
#[derive(Debug, Default)]
pub struct Rpc {
    methods: Mutex<BTreeMap<String, MethodStats>>,
}

impl Rpc {
    /// Records one call of `method` (its path, `/twinstore.v1.TwinService/GetTwin`).
    pub fn record(&self, method: &str, code: &'static str, elapsed: Duration) {
        let mut methods = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        let key = if methods.contains_key(method) || methods.len() < MAX_METHODS {
            method
        } else {
            "other"
        };
        let stats = match methods.get_mut(key) {
            Some(s) => s,
            None => methods.entry(key.to_string()).or_default(),
        };
        *stats.codes.entry(code).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                stats.buckets[i] += 1;
            }
        }
        stats.sum += secs;
        stats.count += 1;
    }

    /// (server errors, all requests) since start.
    pub fn totals(&self) -> (u64, u64) {
        let methods = self.methods.lock().unwrap_or_else(|e| e.into_inner());
        let mut failed = 0;
        let mut total = 0;
        for s in methods.values() {
            total += s.count;
            failed += s.codes.iter().filter(|(c, _)| server_error(c)).map(|(_, n)| n).sum::<u64>();
        }
        (failed, total)
    }

    fn snapshot(&self) -> BTreeMap<String, MethodStats> {
        self.methods.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Writes the text format: each family's HELP and TYPE once, then its samples.
pub struct Exposition {
    out: String,
    base: Vec<(String, String)>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// A new exposition whose samples all carry `base` labels.
    pub fn new(base: &[(&str, &str)]) -> Exposition {
        Exposition {
            out: String::new(),
            base: base.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// Starts a family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ =
            writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let all: Vec<String> = self
            .base
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(labels.iter().copied())
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if all.is_empty() {
            let _ = writeln!(self.out, "{name} {}", number(value));
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {}", all.join(","), number(value));
        }
    }

    /// A family with one sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn one_hot(e: &mut Exposition, name: &str, scope: &str, s: HealthState) {
    for candidate in [HealthState::Available, HealthState::Degraded, HealthState::Unavailable] {
        let v = if candidate == s { 1.0 } else { 0.0 };
        e.sample(name, &[("scope", scope), ("state", state::name(candidate))], v);
    }
}

/// Every metric of this node, in the text format.
pub fn render(h: &Health) -> String {
    let geo = h.dr();
    let node = geo.id.to_string();
    let me = h.node_report();
    let region = h.region_report();
    let mut e = Exposition::new(&[("region", &geo.region), ("node", &node)]);

    e.family("twinstore_node_info", "gauge", "The node: its URL and version (always 1).");
    e.sample(
        "twinstore_node_info",
        &[("addr", h.addr()), ("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.family(
        "twinstore_health",
        "gauge",
        "Resource health: 1 for the current state of this node (scope=node) and of its region as \
         this node sees it (scope=region).",
    );
    one_hot(&mut e, "twinstore_health", "node", me.state());
    one_hot(&mut e, "twinstore_health", "region", region.state());
    e.family("twinstore_region_nodes", "gauge", "Members of this node's region by health state.");
    for s in [HealthState::Available, HealthState::Degraded, HealthState::Unavailable] {
        let n = region.nodes.iter().filter(|n| n.state() == s).count();
        e.sample("twinstore_region_nodes", &[("state", state::name(s))], n as f64);
    }

    rpc(&mut e, &h.inner.rpc);
    raft(&mut e, h, &me);
    dr(&mut e, &me);
    incidents(&mut e, h);

    e.gauge(
        "twinstore_storage_bytes",
        "Bytes the node keeps on disk: database, snapshots and raft WAL.",
        me.storage_bytes as f64,
    );
    e.gauge(
        "twinstore_storage_errors",
        "1 while the node's storage check fails.",
        if me.storage_error.is_empty() { 0.0 } else { 1.0 },
    );
    e.finish()
}

fn rpc(e: &mut Exposition, rpc: &Rpc) {
    let methods = rpc.snapshot();
    e.family("twinstore_rpc_requests_total", "counter", "gRPC requests by method and status code.");
    for (m, s) in &methods {
        for (code, n) in &s.codes {
            e.sample("twinstore_rpc_requests_total", &[("method", m), ("code", code)], *n as f64);
        }
    }
    e.family(
        "twinstore_rpc_duration_seconds",
        "histogram",
        "gRPC latency by method, from the request to its response headers.",
    );
    for (m, s) in &methods {
        for (i, bound) in BUCKETS.iter().enumerate() {
            let le = number(*bound);
            e.sample(
                "twinstore_rpc_duration_seconds_bucket",
                &[("method", m), ("le", &le)],
                s.buckets[i] as f64,
            );
        }
        e.sample(
            "twinstore_rpc_duration_seconds_bucket",
            &[("method", m), ("le", "+Inf")],
            s.count as f64,
        );
        e.sample("twinstore_rpc_duration_seconds_sum", &[("method", m)], s.sum);
        e.sample("twinstore_rpc_duration_seconds_count", &[("method", m)], s.count as f64);
    }
}

fn raft(e: &mut Exposition, h: &Health, me: &pb::NodeHealth) {
    let m = h.dr().node.raft().metrics().borrow().clone();
    e.gauge("twinstore_raft_term", "The node's current raft term.", me.term as f64);
    e.gauge(
        "twinstore_raft_leader_id",
        "The leader this node knows (0: none).",
        me.leader_id as f64,
    );
    e.gauge(
        "twinstore_raft_is_leader",
        "1 when this node leads its region.",
        if me.raft_role() == pb::RaftRole::Leader { 1.0 } else { 0.0 },
    );
    e.gauge(
        "twinstore_raft_last_log_index",
        "The last index in the node's raft log.",
        me.last_log_index as f64,
    );
    e.gauge(
        "twinstore_raft_applied_index",
        "The last log index applied to the state machine.",
        me.applied_index as f64,
    );
    e.gauge(
        "twinstore_raft_snapshot_index",
        "The log index of the last snapshot.",
        me.snapshot_index as f64,
    );
    e.gauge(
        "twinstore_raft_purged_index",
        "The last purged log index.",
        m.purged.map(|l| l.index).unwrap_or(0) as f64,
    );
    e.gauge(
        "twinstore_raft_millis_since_quorum_ack",
        "Leader only: milliseconds since a quorum last acknowledged it.",
        me.millis_since_quorum_ack as f64,
    );
    e.gauge(
        "twinstore_raft_voters",
        "Voters in the region's membership.",
        m.membership_config.membership().voter_ids().count() as f64,
    );
    e.family(
        "twinstore_raft_follower_lag_entries",
        "gauge",
        "Leader only: how many entries each follower is behind the leader's log.",
    );
    for p in &me.progress {
        if p.id == me.id {
            continue;
        }
        let id = p.id.to_string();
        e.sample(
            "twinstore_raft_follower_lag_entries",
            &[("follower", &id)],
            me.last_log_index.saturating_sub(p.matched_index) as f64,
        );
    }
}

fn dr(e: &mut Exposition, me: &pb::NodeHealth) {
    e.gauge("twinstore_dr_epoch", "The DR epoch (grows at every promotion).", me.dr_epoch as f64);
    e.gauge(
        "twinstore_dr_is_primary",
        "1 when this node's region is the DR primary.",
        if me.dr_role() == pb::DrRole::Primary { 1.0 } else { 0.0 },
    );
    e.gauge(
        "twinstore_dr_fenced",
        "1 while the region is fenced (a former primary awaiting reprotect).",
        if me.fenced { 1.0 } else { 0.0 },
    );
    e.gauge(
        "twinstore_dr_shipping_connected",
        "Standby leader only: 1 while connected to the primary's log.",
        if me.shipping { 1.0 } else { 0.0 },
    );
    e.gauge(
        "twinstore_dr_replication_lag_entries",
        "Standby leader only: log entries the primary has that this region has not applied.",
        me.lag_entries as f64,
    );
    e.gauge(
        "twinstore_dr_replication_lag_seconds",
        "Standby leader only: how far behind the primary this region is, in seconds.",
        me.lag_seconds,
    );
}

fn incidents(e: &mut Exposition, h: &Health) {
    let all = h.dr().store.incidents().unwrap_or_default();
    let pending = h.state().pending();
    e.family(
        "twinstore_incidents",
        "gauge",
        "Incidents this region holds (its own and its peer's) by kind and status.",
    );
    for kind in IncidentKind::ALL {
        for status in [IncidentStatus::Active, IncidentStatus::Mitigated] {
            let n = all.iter().filter(|i| i.kind == kind && i.status == status).count();
            e.sample(
                "twinstore_incidents",
                &[("kind", kind.as_str()), ("status", status.as_str())],
                n as f64,
            );
        }
    }
    e.gauge(
        "twinstore_incidents_pending",
        "Incidents this node sees that are not recorded yet (its region has no quorum).",
        pending.len() as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_errors_counted() {
        let rpc = Rpc::default();
        rpc.record("/a/B", "OK", Duration::from_millis(3));
        rpc.record("/a/B", "Internal", Duration::from_millis(300));
        assert_eq!(rpc.totals(), (1, 2));
        let mut e = Exposition::new(&[("region", "we\"st")]);
        super::rpc(&mut e, &rpc);
        let text = e.finish();
        assert!(text.contains(
            "twinstore_rpc_duration_seconds_bucket{region=\"we\\\"st\",method=\"/a/B\",le=\"0.005\"} 1\n"
        ), "{text}");
        assert!(text.contains("le=\"0.5\"} 2\n"));
        assert!(text.contains("le=\"+Inf\"} 2\n"));
        assert!(text.contains("code=\"Internal\"} 1\n"));
        assert_eq!(text.matches("# TYPE twinstore_rpc_duration_seconds histogram").count(), 1);
    }

    #[test]
    fn methods_are_bounded() {
        let rpc = Rpc::default();
        for i in 0..MAX_METHODS + 10 {
            rpc.record(&format!("/x/{i}"), "OK", Duration::from_millis(1));
        }
        let s = rpc.snapshot();
        assert_eq!(s.len(), MAX_METHODS + 1);
        assert_eq!(s["other"].count, 10);
    }
}
