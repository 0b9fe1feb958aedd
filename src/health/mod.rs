//! Service health and resource health: how each node and region is doing, the incident history,
//! and the numbers behind them (Prometheus metrics, the status page).
//!
//! RESOURCE HEALTH ([`state`]) is derived, every half second, from live state — raft's metrics,
//! the DR state and shipping progress, storage answering, recent server errors, and what the other
//! members answer when probed ([`view`]) — never from a flag someone sets. A node and a region are
//! `Available`, `Degraded` (working, with a problem: a node down, lag over its threshold, fenced,
//! shipping stopped, storage errors) or `Unavailable` (no leader, quorum lost, raft stopped), with
//! the reasons.
//!
//! INCIDENTS ([`detect`], [`monitor`]) are the history: "node 3 is down", "the leader was lost",
//! "quorum lost", "primary region unreachable", "failover to east". The monitor runs on every node;
//! the region's leader turns conditions that persist into incidents and mitigates them when the
//! cause goes away, by proposing commands (`storage::incidents`), so the history is replicated in
//! the region and survives restarts. Two things cannot wait for a leader: a quorum loss (nothing
//! can be recorded while it lasts) is kept in memory by the node that sees it, shown as a pending
//! incident, and handed to the leader once there is one again; and a failover is recorded around
//! the failover itself ([`hooks`]). Each region's leader fetches its peer region's incidents and
//! merges them, so both regions hold the whole history, including what happened while one of them
//! was down.
//!
//! WHERE PEOPLE SEE IT: the `HealthService` gRPC API (served by `api::health`), `grpc.health.v1`
//! (NOT_SERVING on a fenced or quorum-less node, from [`Health::subscribe`]), `/metrics`
//! ([`metrics`]) and the status page ([`page`]) on the node's HTTP port, and `twinstore health`.
//!
//! This layer uses `raft` and `dr`; it knows no tonic server type.

pub mod convert;
pub mod detect;
pub mod hooks;
pub mod metrics;
pub mod monitor;
pub mod page;
pub mod samples;
pub mod state;
pub mod view;

use crate::dr::Dr;
use crate::err;
use crate::error::Result;
use crate::model::time::Timestamp;
use crate::pb;
use crate::pb::health_service_client::HealthServiceClient;
use crate::raft::handle::Leader;
use crate::storage::Op;
use crate::storage::incidents::Incident;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::Channel;

/// How long a proposal of an incident may take before the monitor moves on (it retries later;
/// the ops are idempotent).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The thresholds of detection. The defaults suit production; tests make them shorter.
#[derive(Clone, Debug)]
pub struct Thresholds {
    /// How often the monitor looks (and probes the other members).
    pub period: Duration,
    /// How long a probe of a member may take.
    pub probe_timeout: Duration,
    /// A member that fails probes this long is down.
    pub node_down_after: Duration,
    /// No leader (or a leader without quorum acknowledgements) this long: quorum lost.
    pub quorum_lost_after: Duration,
    /// The peer region unreachable (shipping stopped) this long: an incident.
    pub region_unreachable_after: Duration,
    /// Cross-region replication lag above this many seconds, for `lag_for`, is an incident.
    pub lag_seconds: f64,
    /// How long the lag must stay above its threshold.
    pub lag_for: Duration,
    /// A follower more than this many entries behind the leader is lagging.
    pub follower_lag_entries: u64,
    /// How long a region stays fenced (awaiting reprotect) before that is an incident.
    pub fenced_for: Duration,
    /// How often the leader fetches the peer region's incidents.
    pub merge_every: Duration,
    /// How often a lag sample is kept, and how many (a ring).
    pub sample_every: Duration,
    /// The number of samples kept.
    pub samples: usize,
    /// The window of recent server errors that makes a node Degraded.
    pub error_window: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            period: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(400),
            node_down_after: Duration::from_millis(1500),
            quorum_lost_after: Duration::from_secs(2),
            region_unreachable_after: Duration::from_secs(3),
            lag_seconds: 30.0,
            lag_for: Duration::from_secs(2),
            follower_lag_entries: 10_000,
            fenced_for: Duration::from_secs(2),
            merge_every: Duration::from_secs(2),
            sample_every: Duration::from_secs(1),
            samples: 300,
            error_window: Duration::from_secs(60),
        }
    }
}

/// Whether the node should tell `grpc.health.v1` clients it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serving {
    /// SERVING or NOT_SERVING.
    pub serving: bool,
    /// Why not.
    pub reason: String,
}

/// A node's health machinery. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    geo: Dr,
    thresholds: Thresholds,
    rpc: Arc<metrics::Rpc>,
    state: Mutex<monitor::State>,
    serving: watch::Sender<Serving>,
    next_seq: AtomicU64,
}

impl Health {
    /// The health machinery of the node `geo` describes.
    pub fn new(geo: Dr, thresholds: Thresholds) -> Health {
        let (serving, _) = watch::channel(Serving { serving: true, reason: String::new() });
        let samples = thresholds.samples;
        Health {
            inner: Arc::new(Inner {
                geo,
                thresholds,
                rpc: Arc::new(metrics::Rpc::default()),
                state: Mutex::new(monitor::State::new(samples)),
                serving,
                next_seq: AtomicU64::new(1),
            }),
        }
    }

    /// The node's DR machinery (its store, raft group, id, region).
    pub fn dr(&self) -> &Dr {
        &self.inner.geo
    }

    /// This node's URL.
    pub fn addr(&self) -> &str {
        self.inner.geo.node.addr()
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> &Thresholds {
        &self.inner.thresholds
    }

    /// The per-RPC request counters and latency histograms (fed by the API's server layer).
    pub fn rpc(&self) -> Arc<metrics::Rpc> {
        self.inner.rpc.clone()
    }

    /// Follows whether the node should report SERVING to `grpc.health.v1` clients.
    pub fn subscribe(&self) -> watch::Receiver<Serving> {
        self.inner.serving.subscribe()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, monitor::State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new incident id, unique across both regions: `<region>-<term>-<n>` (one leader per
    /// term; `n` counts this node's incidents).
    pub fn new_id(&self) -> String {
        let term = self.inner.geo.node.raft().metrics().borrow().current_term;
        let n = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        format!("{}-{term}-{n}", self.inner.geo.region)
    }

    /// Proposes an incident op on this node, which must lead its region.
    pub async fn propose(&self, op: Op) -> Result<()> {
        self.inner.geo.node.propose(op, PROPOSE_TIMEOUT).await.map(|_| ())
    }

    /// Records an incident a node observed: proposed here when this node leads, otherwise handed
    /// to the leader (`HealthService.SubmitIncident`).
    pub async fn submit(&self, incident: Incident) -> Result<()> {
        let geo = &self.inner.geo;
        let addr = match geo.node.leader_now() {
            Some(Leader::Me) => return self.propose(Op::RecordIncident { incident }).await,
            Some(Leader::Other(addr)) => addr,
            None => return Err(err!(Unavailable, "region '{}' has no leader", geo.region)),
        };
        let mut req = tonic::Request::new(pb::SubmitIncidentRequest {
            incident: Some(convert::to_pb(&incident)),
        });
        req.set_timeout(PROPOSE_TIMEOUT);
        self.client(&addr)?.submit_incident(req).await.map_err(|s| {
            err!(Unavailable, "handing an incident to the leader at {addr}: {}", s.message())
        })?;
        Ok(())
    }

    /// The incidents this region holds, plus the ones this node sees that are not recorded yet,
    /// newest first; only those active at some time since `since` (0: all).
    pub fn incidents(&self, since: Timestamp) -> Result<Vec<pb::Incident>> {
        let mut out: Vec<pb::Incident> = self
            .state()
            .pending()
            .iter()
            .map(|i| {
                let mut p = convert::to_pb(i);
                p.pending = true;
                p
            })
            .collect();
        out.extend(self.inner.geo.store.incidents()?.iter().map(convert::to_pb));
        out.retain(|i| since.0 == 0 || i.mitigated_ns == 0 || i.mitigated_ns >= since.0);
        out.sort_by(|a, b| b.started_ns.cmp(&a.started_ns).then_with(|| b.id.cmp(&a.id)));
        Ok(out)
    }

    /// One incident (recorded or pending).
    pub fn incident(&self, id: &str) -> Result<Option<pb::Incident>> {
        Ok(self.incidents(Timestamp(0))?.into_iter().find(|i| i.id == id))
    }

    /// The incidents this region recorded whose last update is at or after `since`.
    pub fn export(&self, since: Timestamp) -> Result<Vec<pb::Incident>> {
        let region = &self.inner.geo.region;
        Ok(self
            .inner
            .geo
            .store
            .incidents()?
            .iter()
            .filter(|i| &i.owner == region && i.updated() >= since)
            .map(convert::to_pb)
            .collect())
    }

    /// A HealthService client for another node, over the node's channel pool.
    pub fn client(&self, addr: &str) -> Result<HealthServiceClient<Channel>> {
        Ok(HealthServiceClient::new(self.inner.geo.node.channel(addr)?))
    }
}
