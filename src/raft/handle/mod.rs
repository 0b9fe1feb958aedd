//! The one way into the region's raft group for everything above it: the gRPC services, log
//! shipping (`dr`), health — and any later front door.
//!
//! Talking to raft has rules that are easy to get subtly wrong when each caller does it its own
//! way, so they live here once:
//!
//! - **Who leads** ([`RaftHandle::leader`]): read from raft's metrics, waiting (up to a deadline)
//!   while an election runs, and resolved to the leader's URL through the membership.
//! - **Writes** ([`RaftHandle::write`]): every write carries a request id — the client's own, or
//!   one this node makes up — so a write retried after a leader change or a lost answer is applied
//!   once (the state machine's dedupe table). The leader proposes it through the [`Proposer`]
//!   (many writes to one entry); a follower forwards it to the leader over the internal
//!   `RaftService.Forward` RPC and gives up on a leader that was replaced meanwhile (resending is
//!   safe: the request id makes the write exactly-once whichever leader commits it). Everything
//!   has a deadline.
//! - **Proposals on the leader** ([`RaftHandle::propose`]): what DR and health record (ship
//!   batches, failover steps, incidents), with a request id and a deadline too.
//! - **Linearizable reads** ([`RaftHandle::read_barrier`], in `read_index.rs`): the leader confirms
//!   with a quorum that it still leads, and the read waits until this node has applied up to the
//!   index the leader had then; a follower asks the leader for that index.
//! - **Connections**: one channel per peer URL ([`Channels`]) for every service, leaving from the
//!   node's own address (so packet filters can cut chosen links) and honouring the links cut by
//!   fault injection.
//!
//! Nothing outside this module calls openraft's `client_write` or `get_read_log_id`; the
//! [`Proposer`] it owns is the only place that proposes.

mod proposer;
mod read_index;

pub use proposer::{MAX_BATCH_BYTES, MAX_BATCH_WRITES, MAX_IN_FLIGHT, Proposer};

use super::network::{self, Channels, Faults};
use super::{NodeInfo, Raft, typ};
use crate::err;
use crate::error::{Error, ErrorCode, Result};
use crate::model::time::Timestamp;
use crate::pb::raft_service_client::RaftServiceClient;
use crate::storage::space::DiskGuard;
use crate::storage::{Command, Op, Outcome, Reply, RequestId, Store};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// How long a write or a linearizable read may wait for a leader, in all.
pub const LEADER_WAIT: Duration = Duration::from_secs(10);

/// How long to wait before asking again after "not the leader" or "unavailable".
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// A write forwarded from a follower to the leader.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    /// The request id (always set: the follower makes one up if the client gave none).
    pub request: RequestId,
    /// The operation.
    pub op: Op,
}

/// The leader's answer to a proposal: the log index that carried it and the outcome of applying
/// it (a rule the write broke is an `Err` inside).
pub type ForwardAnswer = std::result::Result<(u64, Outcome), Error>;

/// Who leads, from this node's point of view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leader {
    /// This node.
    Me,
    /// Another member, at this URL.
    Other(String),
}

/// Who a node is and how it reaches its peers.
pub struct Identity {
    /// The node's id in its region.
    pub id: u64,
    /// Its region.
    pub region: String,
    /// Its URL.
    pub addr: String,
    /// The address its outgoing connections leave from.
    pub local_ip: Option<IpAddr>,
    /// Whether it was started as part of a standby region.
    pub configured_standby: bool,
    /// Links cut for tests.
    pub faults: Faults,
    /// Refuses writes while the data directory is nearly full.
    pub disk: DiskGuard,
}

/// A node's handle on its region's raft group. Cheap to clone.
#[derive(Clone)]
pub struct RaftHandle {
    inner: Arc<Inner>,
}

struct Inner {
    raft: Raft,
    store: Arc<Store>,
    me: Identity,
    /// The client id this node uses for proposals that came without one.
    client_id: String,
    next_request: AtomicU64,
    /// Channels to other nodes (either region), by URL.
    channels: Channels,
    /// Proposes this node's writes while it leads, batching those that arrive together.
    proposer: Proposer,
    /// Linearizable reads waiting for a quorum confirmation (see `read_index.rs`).
    reads: Mutex<read_index::ReadBatch>,
}

impl RaftHandle {
    /// The handle of the node `me` on `raft`, whose state machine is `store`; `channels` is the
    /// node's one channel pool (the raft network shares it). Starts the proposer's task.
    pub fn new(store: Arc<Store>, raft: Raft, me: Identity, channels: Channels) -> RaftHandle {
        let nanos = Timestamp::now().0;
        let inner = Inner {
            client_id: format!("node-{}-{nanos:x}", me.id),
            next_request: AtomicU64::new(1),
            proposer: Proposer::start(raft.clone()),
            reads: Mutex::default(),
            raft,
            store,
            me,
            channels,
        };
        RaftHandle { inner: Arc::new(inner) }
    }

    /// The raft member itself: its metrics and membership changes (not proposals: use
    /// [`RaftHandle::write`] or [`RaftHandle::propose`]).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// The node's state machine.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.inner.me.id
    }

    /// This node's region.
    pub fn region(&self) -> &str {
        &self.inner.me.region
    }

    /// This node's URL.
    pub fn addr(&self) -> &str {
        &self.inner.me.addr
    }

    /// The links cut for tests.
    pub fn faults(&self) -> &Faults {
        &self.inner.me.faults
    }

    /// Whether the node was started as part of a standby region (its DR role may not be
    /// recorded yet).
    pub fn configured_standby(&self) -> bool {
        self.inner.me.configured_standby
    }

    /// Raft's metrics now.
    pub fn metrics(&self) -> typ::RaftMetrics {
        self.inner.raft.metrics().borrow().clone()
    }

    /// Whether this node leads its region now.
    pub fn is_leader(&self) -> bool {
        self.inner.raft.metrics().borrow().current_leader == Some(self.id())
    }

    /// The members of the region: (id, URL), by id.
    pub fn members(&self) -> Vec<(u64, String)> {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        m.membership_config.membership().nodes().map(|(id, n)| (*id, n.addr.clone())).collect()
    }

    /// The leader now, without waiting: `None` while there is none (or it is not in the
    /// membership yet).
    pub fn leader_now(&self) -> Option<Leader> {
        let m = self.inner.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        if id == self.id() {
            return Some(Leader::Me);
        }
        m.membership_config.membership().get_node(&id).map(|n| Leader::Other(n.addr.clone()))
    }

    /// The leader, waiting (until `deadline`) while there is none.
    pub async fn leader(&self, deadline: Instant) -> Result<Leader> {
        let mut metrics = self.inner.raft.metrics();
        loop {
            if let Some(leader) = self.leader_now() {
                return Ok(leader);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                return Err(err!(
                    Unavailable,
                    "region '{}' has no leader (node {} sees none)",
                    self.region(),
                    self.id()
                ));
            }
        }
    }

    /// A channel to the leader when another node leads, or `None` when this node does — for the
    /// services that pass a request on to the leader as it is (membership changes, failover).
    /// Waits for a leader up to [`LEADER_WAIT`].
    pub async fn leader_channel(&self) -> Result<Option<Channel>> {
        match self.leader(Instant::now() + LEADER_WAIT).await? {
            Leader::Me => Ok(None),
            Leader::Other(addr) => self.channel(&addr).map(Some),
        }
    }

    /// A request id of this node's own, for a proposal that came without one.
    pub fn new_request(&self) -> RequestId {
        RequestId {
            client: self.inner.client_id.clone(),
            seq: self.inner.next_request.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A write from a client: sent to the leader (forwarded when that is another node), applied
    /// through the log, answered once applied. `request` is the client's request id, if it gave
    /// one. Waits out elections up to [`LEADER_WAIT`] in all.
    pub async fn write(&self, op: Op, request: Option<RequestId>) -> Result<(u64, Reply)> {
        // A region configured as a standby takes no data write even before its DR role is
        // recorded (the first moments of a new region).
        if self.configured_standby()
            && crate::storage::dr::is_data_write(&op)
            && !self.store().dr_recorded()?
        {
            return Err(err!(
                ReadOnlyRegion,
                "region '{}' is a standby that is still starting; it takes no writes",
                self.region()
            ));
        }
        // A full disk here refuses at once, rather than after the deadline.
        self.inner.me.disk.check()?;
        let request = request.unwrap_or_else(|| self.new_request());
        let deadline = Instant::now() + LEADER_WAIT;
        retry_until(deadline, &self.no_leader(), || async {
            match self.leader(deadline).await? {
                Leader::Me => self.propose_as_leader(request.clone(), op.clone()).await,
                Leader::Other(addr) => self.forward(&addr, &request, &op, deadline).await,
            }
        })
        .await
        .and_then(|(index, outcome)| Ok((index, outcome?)))
    }

    /// Proposes `op` on this node, which must lead its region (DR's and health's records):
    /// with a request id of this node's, answered once applied, or an error after `timeout`.
    pub async fn propose(&self, op: Op, timeout: Duration) -> Result<(u64, Reply)> {
        let request = self.new_request();
        match tokio::time::timeout(timeout, self.propose_as_leader(request, op)).await {
            Ok(answer) => answer.and_then(|(index, outcome)| Ok((index, outcome?))),
            Err(_) => Err(err!(
                Unavailable,
                "node {} of region '{}': a proposal took over {timeout:?}",
                self.id(),
                self.region()
            )),
        }
    }

    /// Proposes a write on this node, which must be the leader; the answer a forwarding follower
    /// gets back (`RaftService.Forward`).
    pub async fn propose_as_leader(&self, request: RequestId, op: Op) -> ForwardAnswer {
        // The leader's own disk: the entry goes into its log first.
        if crate::storage::dr::is_data_write(&op) {
            self.inner.me.disk.check()?;
        }
        // The epoch this leader believes current; apply refuses a data write if it is not.
        let epoch = self.store().dr()?.epoch;
        let cmd =
            Command { request: Some(request), time: Timestamp::now(), epoch, origin: None, op };
        match self.inner.proposer.propose(cmd).await {
            Ok(answer) => Ok(answer),
            Err(openraft::error::RaftError::APIError(
                openraft::error::ClientWriteError::ForwardToLeader(f),
            )) => Err(not_leader(f.leader_node.as_ref())),
            Err(e) => Err(err!(Unavailable, "node {} cannot take writes: {e}", self.id())),
        }
    }

    /// Sends a write to the leader at `addr`.
    async fn forward(
        &self,
        addr: &str,
        request: &RequestId,
        op: &Op,
        deadline: Instant,
    ) -> ForwardAnswer {
        let msg = Forwarded { request: request.clone(), op: op.clone() };
        let data =
            network::encode(&msg).map_err(|e| err!(Internal, "encoding a forwarded write: {e}"))?;
        let mut client = self.peer(addr)?;
        let req = with_deadline(crate::pb::ForwardRequest { data }, deadline);
        // A leader that stops answering (paused, partitioned away) is replaced within a second;
        // waiting for its answer until the deadline would keep the write waiting long after a new
        // leader took over.
        let reply = tokio::select! {
            reply = async { self.link_delay(addr).await; client.forward(req).await } => reply.map_err(|s| {
                err!(Unavailable, "forwarding to the leader at {addr} failed: {}", s.message())
            })?,
            () = self.leader_moved_from(addr) => {
                return Err(err!(NotLeader, "the leader at {addr} was replaced during a forwarded write"));
            }
        };
        network::decode::<ForwardAnswer>(&reply.into_inner().data)
            .map_err(|e| err!(Internal, "decoding the leader's answer: {e}"))?
    }

    /// Waits out the fault-injected delay of this node's link to `addr`, if any (tests only).
    async fn link_delay(&self, addr: &str) {
        if let Some(delay) = self.faults().delay_of(addr) {
            tokio::time::sleep(delay.sample()).await;
        }
    }

    /// Returns once this node knows a leader other than the one at `addr` (never, if raft stops).
    async fn leader_moved_from(&self, addr: &str) {
        let mut metrics = self.inner.raft.metrics();
        loop {
            match self.leader_now() {
                Some(Leader::Other(a)) if a == addr => {}
                Some(_) => return,
                None => {}
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The channel to the node at `addr` (either region), from this node's pool; refused while
    /// fault injection cuts the link.
    pub fn channel(&self, addr: &str) -> Result<Channel> {
        if self.faults().blocked(addr) {
            return Err(err!(Unavailable, "the link to {addr} is cut (fault injection)"));
        }
        (self.inner.channels.get(addr, self.inner.me.local_ip))
            .map_err(|e| err!(Unavailable, "{e}"))
    }

    /// A client for a peer's `RaftService`.
    pub fn peer(&self, addr: &str) -> Result<RaftServiceClient<Channel>> {
        Ok(network::client(self.channel(addr)?))
    }

    /// The error of a region without a reachable leader.
    fn no_leader(&self) -> Error {
        err!(Unavailable, "no leader was found in region '{}'", self.region())
    }
}

/// Runs `attempt` until it succeeds, fails for a reason other than "not the leader" or
/// "unavailable", or `deadline` passes (then the last such error, or `none` if there was none).
async fn retry_until<T, F, Fut>(deadline: Instant, none: &Error, attempt: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut last = none.clone();
    while Instant::now() < deadline {
        match attempt().await {
            Err(e) if matches!(e.code, ErrorCode::NotLeader | ErrorCode::Unavailable) => {
                last = e;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            answer => return answer,
        }
    }
    Err(last)
}

/// A request to a peer that times out at `deadline` (at least 100 ms from now).
fn with_deadline<T>(message: T, deadline: Instant) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.set_timeout(
        deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100)),
    );
    req
}

/// "Not the leader", naming the leader when it is known.
fn not_leader(leader: Option<&NodeInfo>) -> Error {
    match leader {
        Some(n) => err!(NotLeader, "this node is not the leader; the leader is at {}", n.addr),
        None => err!(NotLeader, "this node is not the leader and no leader is known yet"),
    }
}
