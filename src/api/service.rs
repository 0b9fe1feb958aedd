//! What every gRPC service shares: the node's [`RaftHandle`] (writes go through the region's
//! log, to the leader; linearizable reads wait for the read index) and the request-side helpers
//! that turn `twinstore.v1` options into it.
//!
//! WRITES carry a request id — the client's own (`WriteOptions.client_id`/`request_id`), or one
//! the node makes up — so a write retried after a leader change or a lost answer is applied once.
//!
//! READS. `LINEARIZABLE` (the default) waits for the read index (see `raft::read_index`), on any
//! node; `LOCAL` is served from this node's state at once. Either way the response says which
//! index it was served at, and on a standby how stale that is.

use super::status::to_status;
use crate::dr::Dr;
use crate::err;
use crate::error::{Error, ErrorCode, Result};
use crate::pb;
use crate::raft::handle::RaftHandle;
use crate::storage::{Op, Precondition, Reply, RequestId, Store};
use std::sync::Arc;
use tonic::Status;

pub use crate::raft::handle::LEADER_WAIT;

/// The default and largest page size for listings.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The node's state, shared by every service.
#[derive(Clone)]
pub struct Shared {
    /// The state machine.
    pub store: Arc<Store>,
    /// The node's way into its region's raft group.
    pub node: RaftHandle,
    /// The node's DR machinery (reads on a standby say how stale they are).
    pub dr: Dr,
}

impl Shared {
    /// Shared state over a node's DR machinery (and through it its raft handle and store).
    pub fn new(dr: Dr) -> Self {
        Shared { store: dr.store.clone(), node: dr.node.clone(), dr }
    }

    /// A write: sent to the leader, applied through the log, answered once applied.
    pub async fn write(&self, op: Op, options: Option<&pb::WriteOptions>) -> Result<(u64, Reply)> {
        let request = options
            .filter(|o| !o.client_id.is_empty())
            .map(|o| RequestId { client: o.client_id.clone(), seq: o.request_id });
        self.node.write(op, request).await
    }

    /// This node's region.
    pub fn region(&self) -> &str {
        self.node.region()
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
                self.region()
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
            self.node.read_barrier().await.map_err(to_status)?;
        }
        let consistency =
            if local { pb::Consistency::Local } else { pb::Consistency::Linearizable };
        let status = self.dr.status().map_err(to_status)?;
        let dr = &status.state;
        if let Some(r) = dr.reseeding {
            return Err(to_status(err!(
                Unavailable,
                "region '{}' is being reseeded from the primary's {r} and has no consistent graph \
                 to read until it is done; retry, or read from the primary",
                self.region()
            )));
        }
        // On a standby: how far behind the primary the data served is (`dr::status`).
        let lag = status.lag.clone().unwrap_or_default();
        let standby = dr.role == crate::storage::dr::Role::Standby;
        let info = pb::ReadInfo {
            applied_index: self.store.applied_index(),
            consistency: consistency as i32,
            region: self.region().to_string(),
            standby,
            replicated_index: if standby { dr.upstream.index } else { 0 },
            replicated_time_ns: lag.as_of.0,
            staleness_ms: lag.seconds * 1000.0,
        };
        Ok((info, dr.reseeds))
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
