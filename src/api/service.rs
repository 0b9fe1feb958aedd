//! What every service shares: the store, the raft group, and the two paths every request takes —
//! a write goes to the leader and is applied through the log; a read waits for the consistency it
//! asked for and then reads the local store.
//!
//! WRITES. A node that gets a write and is the leader builds the [`Command`] (it decides the time,
//! before proposing) and proposes it; the answer comes back once the command is committed and
//! applied. A follower forwards the write to the leader over the internal `RaftService.Forward`
//! RPC, so a client can send writes to any node. Every write carries a request id — the client's
//! own, or one this node makes up — so a write retried after a leader change or a lost answer is
//! applied once (the state machine's dedupe table).
//!
//! READS. `LINEARIZABLE` (the default): the leader confirms with a quorum that it is still the
//! leader (openraft's `get_read_log_id`) and the read waits until this node has applied up to the
//! index the leader had then. On a follower the index comes from the leader (`RaftService.
//! ReadIndex`). So a read reflects every write acknowledged before it began, on any node, and a
//! deposed leader cannot serve a stale read (it cannot reach a quorum). `LOCAL`: served from this
//! node's state at once, and the response says which index that was.

use super::status::to_status;
use crate::err;
use crate::error::{Error, ErrorCode, Result};
use crate::model::time::Timestamp;
use crate::pb;
use crate::pb::raft_service_client::RaftServiceClient;
use crate::raft::{NodeInfo, Proposer, Raft, network};
use crate::storage::space::DiskGuard;
use crate::storage::{Command, Op, Outcome, Precondition, Reply, RequestId, Store};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::Status;
use tonic::transport::Channel;

/// The default and largest page size for listings.
pub const MAX_PAGE_SIZE: usize = 1000;

/// How long a write or a linearizable read may wait for a leader, in all.
pub const LEADER_WAIT: Duration = Duration::from_secs(10);

/// A write forwarded from a follower to the leader.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    /// The request id (always set: the follower makes one up if the client gave none).
    pub request: RequestId,
    /// The operation.
    pub op: Op,
}

/// The leader's answer to a forwarded write.
pub type ForwardAnswer = std::result::Result<(u64, Outcome), Error>;

/// The node's state, shared by every service.
#[derive(Clone)]
pub struct Shared {
    /// The state machine.
    pub store: Arc<Store>,
    /// The region's raft group, as seen from this node.
    pub raft: Raft,
    /// This node's id.
    pub id: u64,
    /// This node's region.
    pub region: String,
    /// This node's URL.
    pub addr: String,
    inner: Arc<Inner>,
}

struct Inner {
    /// The client id this node uses for writes that came without one.
    client_id: String,
    next_request: AtomicU64,
    /// Channels to peers, by URL.
    peers: network::Channels,
    local_ip: Option<IpAddr>,
    /// Whether the node was started as part of a standby region.
    configured_standby: bool,
    /// Links cut for tests.
    faults: network::Faults,
    /// Linearizable reads waiting for a quorum confirmation.
    reads: Mutex<ReadBatch>,
    /// Proposes this node's writes while it leads, batching those that arrive together.
    proposer: Proposer,
    /// Refuses writes while the data directory is nearly full.
    disk: DiskGuard,
}

/// Reads waiting for the next quorum confirmation, and whether one is running.
#[derive(Default)]
struct ReadBatch {
    running: bool,
    waiting: Vec<tokio::sync::oneshot::Sender<Result<u64>>>,
}

/// Who leads, from this node's point of view.
enum Leader {
    Me,
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
    pub faults: network::Faults,
    /// Refuses writes while the data directory is nearly full.
    pub disk: DiskGuard,
}

impl Shared {
    /// Shared state for a node.
    pub fn new(store: Arc<Store>, raft: Raft, me: Identity) -> Self {
        let Identity { id, region, addr, local_ip, configured_standby, faults, disk } = me;
        let nanos = Timestamp::now().0;
        let inner = Inner {
            client_id: format!("node-{id}-{nanos:x}"),
            next_request: AtomicU64::new(1),
            peers: network::Channels::default(),
            local_ip,
            configured_standby,
            faults,
            reads: Mutex::new(ReadBatch::default()),
            proposer: Proposer::start(raft.clone()),
            disk,
        };
        Shared { store, raft, id, region, addr, inner: Arc::new(inner) }
    }

    /// A write: sent to the leader, applied through the log, answered once applied.
    pub async fn write(&self, op: Op, options: Option<&pb::WriteOptions>) -> Result<(u64, Reply)> {
        // A region configured as a standby takes no data write even before its DR role is
        // recorded (the first moments of a new region).
        if self.inner.configured_standby
            && crate::storage::dr::is_data_write(&op)
            && self.store.meta(crate::storage::keys::meta::DR)?.is_none()
        {
            return Err(err!(
                ReadOnlyRegion,
                "region '{}' is a standby that is still starting; it takes no writes",
                self.region
            ));
        }
        // A full disk here refuses at once, rather than after the deadline.
        self.inner.disk.check()?;
        let request = match options.filter(|o| !o.client_id.is_empty()) {
            Some(o) => RequestId { client: o.client_id.clone(), seq: o.request_id },
            None => RequestId {
                client: self.inner.client_id.clone(),
                seq: self.inner.next_request.fetch_add(1, Ordering::Relaxed),
            },
        };
        let deadline = Instant::now() + LEADER_WAIT;
        let mut last = err!(Unavailable, "no leader was found in region '{}'", self.region);
        while Instant::now() < deadline {
            let answer = match self.leader(deadline).await {
                Ok(Leader::Me) => self.write_local(request.clone(), op.clone()).await,
                Ok(Leader::Other(addr)) => self.forward(&addr, &request, &op, deadline).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok((index, outcome)) => return Ok((index, outcome?)),
                Err(e) if matches!(e.code, ErrorCode::NotLeader | ErrorCode::Unavailable) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Proposes a write on this node, which must be the leader.
    pub async fn write_local(&self, request: RequestId, op: Op) -> ForwardAnswer {
        // The leader's own disk: the entry goes into its log first.
        self.inner.disk.check()?;
        // The epoch this leader believes current; apply refuses the write if it is not.
        let epoch = self.store.dr()?.epoch;
        let cmd =
            Command { request: Some(request), time: Timestamp::now(), epoch, origin: None, op };
        match self.inner.proposer.propose(cmd).await {
            Ok(answer) => Ok(answer),
            Err(openraft::error::RaftError::APIError(
                openraft::error::ClientWriteError::ForwardToLeader(f),
            )) => Err(not_leader(f.leader_node.as_ref())),
            Err(e) => Err(err!(Unavailable, "node {} cannot take writes: {e}", self.id)),
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
        let mut req = tonic::Request::new(pb::ForwardRequest { data });
        req.set_timeout(
            deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100)),
        );
        // A leader that stops answering (paused, partitioned away) is replaced within a second;
        // waiting for its answer until the deadline would keep the write waiting long after a new
        // leader took over. Resending to the new leader is safe: the request id makes the write
        // exactly-once whichever leader commits it.
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
        if let Some(delay) = self.inner.faults.delay_of(addr) {
            tokio::time::sleep(delay.sample()).await;
        }
    }

    /// Returns once this node knows a leader other than the one at `addr` (never, if raft stops).
    async fn leader_moved_from(&self, addr: &str) {
        let mut metrics = self.raft.metrics();
        loop {
            let moved = {
                let m = metrics.borrow();
                m.current_leader
                    .and_then(|id| m.membership_config.membership().get_node(&id).cloned())
                    .is_some_and(|n| n.addr != addr)
            };
            if moved {
                return;
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The leader, waiting (until `deadline`) while there is none.
    async fn leader(&self, deadline: Instant) -> Result<Leader> {
        let mut metrics = self.raft.metrics();
        loop {
            let leader = {
                let m = metrics.borrow();
                m.current_leader.map(|id| {
                    if id == self.id {
                        Ok(Leader::Me)
                    } else {
                        m.membership_config
                            .membership()
                            .get_node(&id)
                            .map(|n| Leader::Other(n.addr.clone()))
                            .ok_or(id)
                    }
                })
            };
            match leader {
                Some(Ok(l)) => return Ok(l),
                Some(Err(id)) => tracing::debug!(id, "the leader is not in the membership yet"),
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                return Err(err!(
                    Unavailable,
                    "region '{}' has no leader (node {} sees none)",
                    self.region,
                    self.id
                ));
            }
        }
    }

    /// Whether the node was started as part of a standby region (its DR role may not be
    /// recorded yet).
    pub fn configured_standby(&self) -> bool {
        self.inner.configured_standby
    }

    /// The leader's URL, or `None` when this node leads (waiting a while for a leader).
    pub async fn leader_url(&self) -> Result<Option<String>> {
        match self.leader(Instant::now() + LEADER_WAIT).await? {
            Leader::Me => Ok(None),
            Leader::Other(addr) => Ok(Some(addr)),
        }
    }

    /// A client for a peer's `RaftService`, over one cached channel per peer.
    pub fn peer(&self, addr: &str) -> Result<RaftServiceClient<Channel>> {
        if self.inner.faults.blocked(addr) {
            return Err(err!(Unavailable, "the link to {addr} is cut (fault injection)"));
        }
        let channel = (self.inner.peers.get(addr, self.inner.local_ip))
            .map_err(|e| err!(Unavailable, "{e}"))?;
        Ok(network::client(channel))
    }

    /// Serves a read: waits for the consistency it asked for, runs `read` on this node's state,
    /// and says where it was served. A reseed that starts while `read` runs may have replaced
    /// part of the graph under it, so then the answer — whatever it was, a "not found" too — is
    /// refused (Unavailable: retry).
    pub async fn read<T>(
        &self,
        options: Option<&pb::ReadOptions>,
        read: impl FnOnce() -> std::result::Result<T, Status>,
    ) -> std::result::Result<(pb::ReadInfo, T), Status> {
        let (info, reseeds) = self.read_info(options).await?;
        let answer = read();
        self.read_done(reseeds)?;
        Ok((info, answer?))
    }

    /// Refuses a read's answer when a reseed has started since [`Shared::read_info`] counted
    /// `reseeds`.
    pub fn read_done(&self, reseeds: u64) -> std::result::Result<(), Status> {
        let dr = self.store.dr().map_err(|e| to_status(e.into()))?;
        if dr.reseeds != reseeds || dr.reseeding.is_some() {
            return Err(to_status(err!(
                Unavailable,
                "region '{}' started being reseeded from the primary while the read ran; retry, \
                 or read from the primary",
                self.region
            )));
        }
        Ok(())
    }

    /// Waits for the consistency a read asked for; says where it is served, and how many reseeds
    /// the region has had (for [`Shared::read_done`]). Prefer [`Shared::read`].
    pub async fn read_info(
        &self,
        options: Option<&pb::ReadOptions>,
    ) -> std::result::Result<(pb::ReadInfo, u64), Status> {
        let local = matches!(options.map(|o| o.consistency()), Some(pb::Consistency::Local));
        if !local {
            self.read_barrier().await.map_err(to_status)?;
        }
        let consistency =
            if local { pb::Consistency::Local } else { pb::Consistency::Linearizable };
        let dr = self.store.dr().map_err(|e| to_status(e.into()))?;
        if let Some(r) = dr.reseeding {
            return Err(to_status(err!(
                Unavailable,
                "region '{}' is being reseeded from the primary's {r} and has no consistent graph \
                 to read until it is done; retry, or read from the primary",
                self.region
            )));
        }
        let standby = dr.role == crate::storage::dr::Role::Standby;
        let staleness_ms = if standby && dr.replicated_time.0 > 0 {
            Timestamp::now().0.saturating_sub(dr.replicated_time.0) as f64 / 1e6
        } else {
            0.0
        };
        let info = pb::ReadInfo {
            applied_index: self.store.applied_index(),
            consistency: consistency as i32,
            region: self.region.clone(),
            standby,
            replicated_index: if standby { dr.upstream.index } else { 0 },
            replicated_time_ns: if standby { dr.replicated_time.0 } else { 0 },
            staleness_ms,
        };
        Ok((info, dr.reseeds))
    }

    /// Waits until this node has applied every write acknowledged before now.
    pub async fn read_barrier(&self) -> Result<()> {
        let deadline = Instant::now() + LEADER_WAIT;
        let mut last = err!(Unavailable, "no leader was found in region '{}'", self.region);
        while Instant::now() < deadline {
            let index = match self.leader(deadline).await {
                Ok(Leader::Me) => self.read_index().await,
                Ok(Leader::Other(addr)) => self.remote_read_index(&addr, deadline).await,
                Err(e) => Err(e),
            };
            match index {
                Ok(index) => return self.wait_applied(index, deadline).await,
                Err(e) if matches!(e.code, ErrorCode::NotLeader | ErrorCode::Unavailable) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// On the leader: confirms leadership with a quorum and returns the index a linearizable read
    /// must wait for.
    ///
    /// Concurrent callers share one confirmation: a caller joins the batch that has not started
    /// yet and gets the index of a quorum round that began after it asked — which is all
    /// linearizability needs — so a burst of reads costs one heartbeat round, not one each.
    pub async fn read_index(&self) -> Result<u64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut batch = self.inner.reads.lock().unwrap_or_else(|e| e.into_inner());
            batch.waiting.push(tx);
            !std::mem::replace(&mut batch.running, true)
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.drive_read_batches().await });
        }
        rx.await.map_err(|_| err!(Unavailable, "node {} is shutting down", self.id))?
    }

    /// Runs quorum confirmations for the waiting batches until none is left.
    async fn drive_read_batches(&self) {
        loop {
            let waiting = {
                let mut batch = self.inner.reads.lock().unwrap_or_else(|e| e.into_inner());
                if batch.waiting.is_empty() {
                    batch.running = false;
                    return;
                }
                std::mem::take(&mut batch.waiting)
            };
            let answer = self.confirm_read_index().await;
            for tx in waiting {
                let _ = tx.send(answer.clone());
            }
        }
    }

    async fn confirm_read_index(&self) -> Result<u64> {
        match self.raft.get_read_log_id().await {
            Ok((read, _applied)) => Ok(read.map(|l| l.index).unwrap_or(0)),
            Err(openraft::error::RaftError::APIError(
                openraft::error::CheckIsLeaderError::ForwardToLeader(f),
            )) => Err(not_leader(f.leader_node.as_ref())),
            Err(e) => Err(err!(Unavailable, "node {} cannot confirm its leadership: {e}", self.id)),
        }
    }

    async fn remote_read_index(&self, addr: &str, deadline: Instant) -> Result<u64> {
        let mut client = self.peer(addr)?;
        let mut req = tonic::Request::new(pb::ReadIndexRequest { data: Vec::new() });
        req.set_timeout(
            deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100)),
        );
        let reply = tokio::select! {
            reply = async { self.link_delay(addr).await; client.read_index(req).await } => reply.map_err(|s| {
                err!(
                    Unavailable,
                    "asking the leader at {addr} for a read index failed: {}",
                    s.message()
                )
            })?,
            () = self.leader_moved_from(addr) => {
                return Err(err!(NotLeader, "the leader at {addr} was replaced during a read"));
            }
        };
        network::decode::<Result<u64>>(&reply.into_inner().data)
            .map_err(|e| err!(Internal, "{e}"))?
    }

    async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<()> {
        if self.store.applied_index() >= index {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(left))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map(|_| ())
            .map_err(|e| {
                err!(Unavailable, "node {} did not catch up to index {index} in time: {e}", self.id)
            })
    }
}

fn not_leader(leader: Option<&NodeInfo>) -> Error {
    match leader {
        Some(n) => err!(NotLeader, "this node is not the leader; the leader is at {}", n.addr),
        None => err!(NotLeader, "this node is not the leader and no leader is known yet"),
    }
}

/// The precondition of a request's write options.
pub fn precondition(options: Option<&pb::WriteOptions>) -> Precondition {
    match options {
        Some(o) => Precondition {
            if_match: (!o.if_match.is_empty()).then(|| o.if_match.clone()),
            if_none_match: o.if_none_match,
        },
        None => Precondition::default(),
    }
}

/// Checks a required string argument.
pub fn required<'a>(what: &str, value: &'a str) -> std::result::Result<&'a str, Status> {
    if value.is_empty() {
        return Err(to_status(err!(InvalidArgument, "{what} is required")));
    }
    Ok(value)
}

/// A page size from a request (0: the default).
pub fn page_size(n: u32) -> usize {
    match n as usize {
        0 => MAX_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// A continuation token from a request (empty: the first page).
pub fn token(t: &str) -> std::result::Result<Option<&str>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    if !crate::storage::valid_token(t) {
        return Err(to_status(err!(
            BadRequest,
            "the continuation token is not one this service issued"
        )));
    }
    Ok(Some(t))
}

/// An unexpected reply kind: a bug.
pub fn unexpected(reply: Reply) -> Status {
    to_status(Error::new(ErrorCode::Internal, format!("unexpected reply {reply:?}")))
}
