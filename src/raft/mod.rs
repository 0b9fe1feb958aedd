//! Raft: one region's nodes agree on one log of commands, so any minority of them may die.
//!
//! openraft 0.9 (with `storage-v2`) runs the protocol: elections, replication, commitment,
//! membership changes, snapshots. This module gives it a place to keep things — the *storage
//! side* — and the types the rest of twinstore uses to talk to it:
//!
//! - [`TypeConfig`]: a log entry carries a [`Command`](crate::storage::Command); applying it
//!   answers an [`Outcome`](crate::storage::Outcome); nodes are `u64` ids with a [`NodeInfo`].
//! - [`LogStore`]: the raft log, the vote and the committed position, in the node's own
//!   write-ahead log ([`wal`], `data_dir/wal/`).
//! - [`StateMachine`]: the twin graph ([`crate::storage::Store`], sled in `data_dir/db/`);
//!   applying an entry is [`Store::apply_entry`](crate::storage::Store::apply_entry), and
//!   snapshots are the store's own consistent copies.
//! - [`config`]: the timeouts and snapshot policy.
//! - [`network`]: the gRPC transport between the members, and [`service`] its server side.
//! - [`RaftHandle`] ([`handle`]): the one way the layers above talk to the group — who leads,
//!   writes with request ids, deadlines and forwarding, proposals, linearizable reads, and the
//!   node's one pool of channels to other nodes. Nothing above calls openraft to propose or read.
//!
//! # How the storage side keeps openraft's durability contract
//!
//! Raft's safety rests on a node never forgetting what it told others. Only `fdatasync`/`fsync`
//! make a write durable: sled's flush is `sync_file_range`, which promises nothing across a power
//! cut (it flushes neither the drive's cache nor the file's size). So the log and the vote are in
//! the [`wal`], and sled is synced for real ([`Store::sync`]) only where the log depends on it:
//!
//! - **Vote**: `save_vote` writes the vote record and returns only after an `fdatasync` that covers
//!   it. A node never votes twice in a term, even across a crash.
//! - **Log append**: `append` writes the entries (readable at once) and queues openraft's
//!   `LogFlushed` callback; the WAL's sync thread takes every callback queued so far, runs one
//!   `fdatasync`, and only then reports them all flushed (group commit). openraft 0.9 waits for
//!   each append's callback before it starts the next one (and meanwhile handles no other event:
//!   no heartbeat, no vote), so on 0.9 the raft task *does* wait for the disk once per append, and
//!   groups form only from the vote and appends queued together; making each entry carry more (a
//!   batch of client commands) is what raises throughput, not the WAL.
//! - **Truncate**: written, not synced. The next append's sync covers it; a crash before then
//!   brings back only entries never acknowledged to the leader as matching its log.
//! - **Committed**: written without a sync, after the entries it covers, so a recovered committed
//!   position never points past the recovered log. Losing it only means re-learning it from the
//!   leader; at start-up openraft re-applies the log from the state machine's last applied index up
//!   to the recovered committed position.
//! - **State machine**: `apply` writes each entry's effects, the last applied log id and (for a
//!   membership entry) the membership in *one* atomic sled batch, without a sync: an entry is
//!   applied only once it is committed, i.e. durable in the log of a quorum, so a crash that loses
//!   the tail of apply is repaired by re-applying from the log (apply is deterministic).
//! - **Purge (the barrier)**: the log may forget entries only once the state machine that applied
//!   them is durable. `purge` hides the entries at once (in memory) and hands the rest to a purge
//!   thread, so the raft task never waits for sled: it runs [`Store::sync`] (sled flush, then
//!   `fsync` of sled's file and directory), then writes the purge point; WAL segments are deleted
//!   (after a WAL sync, so the purge point is durable first) only when all their entries are
//!   purged and the standby region no longer needs them (see [`LogStore`]'s retention). The
//!   snapshot openraft purges behind was saved before, so it is covered by the same sync.
//!
//! # Which failures are fatal
//!
//! A command that breaks a rule (bad precondition, invalid document) is a deterministic
//! [`Outcome`](crate::storage::Outcome) error: the same on every replica, returned to the client,
//! and the log moves on. A sled, WAL or decoding failure is a `StorageError`: it is returned to
//! openraft, which stops the node. A failed `fdatasync` is never retried (the kernel may have
//! dropped the pages it could not write): the WAL refuses every later write. Damage found when
//! opening the WAL is repaired only where a crash can have caused it (the unsynced tail of the
//! last segment); anywhere else the node refuses to start. A node that cannot be sure of its own
//! state must not vote, apply or answer — replicas must never diverge.

pub mod election;
pub mod handle;
mod log_store;
pub mod network;
mod purger;
pub mod reader;
pub mod service;
mod state_machine;
pub mod wal;

#[cfg(test)]
mod tests;

use crate::storage::Store;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use handle::{Identity, Leader, RaftHandle};
pub use log_store::{Barrier, LogReader, LogStore, MAX_RETAINED, SEGMENT_BYTES, ShipReader};
pub use state_machine::{SnapshotBuilder, StateMachine};

openraft::declare_raft_types!(
    /// The types openraft is instantiated with.
    pub TypeConfig:
        D = crate::storage::Command,
        R = crate::storage::Outcome,
        NodeId = u64,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node's id in its raft group.
pub type NodeId = u64;

/// A running raft node.
pub type Raft = openraft::Raft<TypeConfig>;

/// What the group knows about a member: where to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's gRPC URL, e.g. `http://127.0.0.1:7001`: it serves both the public API and the
    /// internal raft service.
    pub addr: String,
}

impl NodeInfo {
    /// A node reachable at `addr`.
    pub fn new(addr: impl Into<String>) -> NodeInfo {
        NodeInfo { addr: addr.into() }
    }
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// openraft's generic types, instantiated for twinstore.
pub mod typ {
    use super::{NodeId, NodeInfo, TypeConfig};

    /// A log entry.
    pub type Entry = openraft::Entry<TypeConfig>;
    /// A log entry's payload.
    pub type EntryPayload = openraft::EntryPayload<TypeConfig>;
    /// A log position: (term, leader, index).
    pub type LogId = openraft::LogId<NodeId>;
    /// A vote: (term, candidate, committed).
    pub type Vote = openraft::Vote<NodeId>;
    /// A leader id: (term, node).
    pub type LeaderId = openraft::LeaderId<NodeId>;
    /// A membership configuration (voters, possibly joint, and all nodes' info).
    pub type Membership = openraft::Membership<NodeId, NodeInfo>;
    /// A membership and the log id it was proposed at.
    pub type StoredMembership = openraft::StoredMembership<NodeId, NodeInfo>;
    /// What a snapshot holds: last log id, membership, id.
    pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeInfo>;
    /// A snapshot: its meta and its data.
    pub type Snapshot = openraft::Snapshot<TypeConfig>;
    /// Raft's metrics.
    pub type RaftMetrics = openraft::RaftMetrics<NodeId, NodeInfo>;

    /// A failure of a raft call; `E` is the call's own error.
    pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
    /// A failure of a raft RPC to a peer; `E` is the remote call's error.
    pub type RPCError<E = openraft::error::Infallible> =
        openraft::error::RPCError<NodeId, NodeInfo, RaftError<E>>;
    /// Why a client write failed (not leader, membership change refused).
    pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, NodeInfo>;
    /// Why a linearizable read could not be served here.
    pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, NodeInfo>;
    /// Why `initialize` failed.
    pub type InitializeError = openraft::error::InitializeError<NodeId, NodeInfo>;
    /// Why a membership change failed.
    pub type ChangeMembershipError = openraft::error::ChangeMembershipError<NodeId>;
    /// "Not the leader; here is who is (if known)".
    pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, NodeInfo>;
    /// A snapshot chunk could not be installed.
    pub type InstallSnapshotError = openraft::error::InstallSnapshotError;
    /// The node is shutting down or its storage failed.
    pub type Fatal = openraft::error::Fatal<NodeId>;
    /// A storage failure, as openraft sees it.
    pub type StorageError = openraft::StorageError<NodeId>;
    /// A committed client write: its log id, the applied [`Outcome`](crate::storage::Outcome),
    /// and the membership if it changed.
    pub type ClientWriteResponse = openraft::raft::ClientWriteResponse<TypeConfig>;

    /// Replication RPC.
    pub type AppendEntriesRequest = openraft::raft::AppendEntriesRequest<TypeConfig>;
    /// Replication RPC answer.
    pub type AppendEntriesResponse = openraft::raft::AppendEntriesResponse<NodeId>;
    /// Election RPC.
    pub type VoteRequest = openraft::raft::VoteRequest<NodeId>;
    /// Election RPC answer.
    pub type VoteResponse = openraft::raft::VoteResponse<NodeId>;
    /// One chunk of a snapshot.
    pub type InstallSnapshotRequest = openraft::raft::InstallSnapshotRequest<TypeConfig>;
    /// A snapshot chunk's answer.
    pub type InstallSnapshotResponse = openraft::raft::InstallSnapshotResponse<NodeId>;
    /// A whole snapshot's answer.
    pub type SnapshotResponse = openraft::raft::SnapshotResponse<NodeId>;
}

/// The default of [`config`]'s `snapshot_logs`: snapshot every this many applied entries.
///
/// An entry carries a batch of client writes under load (dozens), so 1,000 entries are tens of
/// thousands of writes; a snapshot is the live graph and the dedupe table, cheap to build (see
/// `state_machine`), and frequent snapshots keep the retained log — and the disk — small.
pub const DEFAULT_SNAPSHOT_LOGS: u64 = 1_000;

/// The log store of a node (its WAL in `wal_dir`) and its state machine (over `store`, which the
/// log store also syncs before purging).
///
/// A data directory written before the WAL (its raft log and vote in sled) is refused while it has
/// no WAL: started with an empty log and no vote, the node could vote twice in a term.
pub fn open(
    store: Arc<Store>,
    wal_dir: &Path,
) -> Result<(LogStore, StateMachine), crate::storage::StorageError> {
    if !wal_dir.exists() && crate::storage::legacy_log_present(&store)? {
        return Err(crate::storage::StorageError::Corrupt(format!(
            "the data directory holds a raft log in its sled database, written before the raft \
             WAL ({} does not exist); it is not carried over: remove the node from its group, \
             empty its data directory and add it back",
            wal_dir.display()
        )));
    }
    Ok((LogStore::new(store.clone(), wal_dir)?, StateMachine::new(store)?))
}

/// The raft configuration: modest timeouts for a small machine running a handful of nodes, and a
/// snapshot every `snapshot_logs` applied entries (see [`DEFAULT_SNAPSHOT_LOGS`]).
///
/// - Heartbeat every 100 ms; election timeout 200–300 ms. A follower that has heard from a leader
///   waits out the leader's lease (`election_timeout_max`) *plus* its election timeout before
///   campaigning, so a dead leader is replaced 500–600 ms after its last heartbeat, while a
///   loaded node must miss 5 heartbeats before anyone campaigns. When the first to campaign has
///   the shorter log, [`election`] has the follower with the longer log take over at once (openraft
///   alone would lose a round, and a stale flag of its could add 600 ms to a later election).
///   Measured by the chaos scenarios (README "Testing under failure"): 250–450 ms timeouts cost
///   0.9–2.2 s of writes per leader kill; 200–300 ms 0.5–0.9 s, and up to 1.9 s before the
///   [`election`] corrections; 0.5–0.7 s with them. openraft times every AppendEntries out after
///   one heartbeat interval, so each carries about 1 MiB at most (`log_store::MAX_APPEND_BYTES`).
/// - Keep `2 × snapshot_logs` entries behind the latest snapshot, so a follower that has just
///   installed a slightly older snapshot (one built before a newer one replaced it during the
///   transfer) still finds the entries that follow it, instead of being sent snapshot after
///   snapshot. A follower that falls further behind than that catches up by snapshot.
/// - 10 s per snapshot chunk (and for installing it): the 200 ms default retries big snapshots
///   forever. Chunks are 3 MiB, under gRPC's default 4 MiB message limit.
#[allow(clippy::result_large_err)] // openraft's `ConfigError`; built once per node
pub fn config(snapshot_logs: u64) -> Result<openraft::Config, openraft::ConfigError> {
    openraft::Config {
        cluster_name: "twinstore".into(),
        heartbeat_interval: 100,
        election_timeout_min: 200,
        election_timeout_max: 300,
        install_snapshot_timeout: 10_000,
        max_payload_entries: 300,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_logs.max(1)),
        snapshot_max_chunk_size: 3 << 20,
        max_in_snapshot_log_to_keep: snapshot_logs.saturating_mul(2),
        ..Default::default()
    }
    .validate()
}

/// A storage-layer failure as openraft's error, attributed to `subject`.
fn sto_err(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    e: &(impl std::error::Error + 'static),
) -> typ::StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(e)).into()
}
