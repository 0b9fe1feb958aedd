//! Linearizable reads: the read index.
//!
//! A read reflects every write acknowledged before it began, on any node, when it waits until
//! the node has applied everything the leader had committed at some moment after the read began
//! *and* that leader was still the leader then. The leader proves the second part by a round of
//! heartbeats a quorum answers (openraft's `get_read_log_id`); a deposed leader cannot get one, so
//! it cannot serve a stale read. A follower asks the leader for that index
//! (`RaftService.ReadIndex`) and waits until it has applied that far.
//!
//! Concurrent reads on the leader share one confirmation: a caller joins the batch that has not
//! started yet and gets the index of a quorum round that began after it asked — which is all
//! linearizability needs — so a burst of reads costs one heartbeat round, not one each.

use super::{LEADER_WAIT, Leader, RaftHandle, not_leader, retry_until, with_deadline};
use crate::err;
use crate::error::Result;
use crate::raft::network;
use std::time::Instant;
use tokio::sync::oneshot;

/// Reads waiting for the next quorum confirmation, and whether one is running.
#[derive(Default)]
pub(super) struct ReadBatch {
    running: bool,
    waiting: Vec<oneshot::Sender<Result<u64>>>,
}

impl RaftHandle {
    /// Waits until this node has applied every write acknowledged before now.
    pub async fn read_barrier(&self) -> Result<()> {
        let deadline = Instant::now() + LEADER_WAIT;
        let index = retry_until(deadline, &self.no_leader(), || async {
            match self.leader(deadline).await? {
                Leader::Me => self.read_index().await,
                Leader::Other(addr) => self.remote_read_index(&addr, deadline).await,
            }
        })
        .await?;
        self.wait_applied(index, deadline).await
    }

    /// On the leader: confirms leadership with a quorum and returns the index a linearizable read
    /// must wait for (shared with the reads that asked at the same time).
    pub async fn read_index(&self) -> Result<u64> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut batch = self.inner.reads.lock().unwrap_or_else(|e| e.into_inner());
            batch.waiting.push(tx);
            !std::mem::replace(&mut batch.running, true)
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.drive_read_batches().await });
        }
        rx.await.map_err(|_| err!(Unavailable, "node {} is shutting down", self.id()))?
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
        match self.raft().get_read_log_id().await {
            Ok((read, _applied)) => Ok(read.map(|l| l.index).unwrap_or(0)),
            Err(openraft::error::RaftError::APIError(
                openraft::error::CheckIsLeaderError::ForwardToLeader(f),
            )) => Err(not_leader(f.leader_node.as_ref())),
            Err(e) => {
                Err(err!(Unavailable, "node {} cannot confirm its leadership: {e}", self.id()))
            }
        }
    }

    async fn remote_read_index(&self, addr: &str, deadline: Instant) -> Result<u64> {
        let mut client = self.peer(addr)?;
        let req = with_deadline(crate::pb::ReadIndexRequest { data: Vec::new() }, deadline);
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
        if self.store().applied_index() >= index {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.raft()
            .wait(Some(left))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map(|_| ())
            .map_err(|e| {
                err!(
                    Unavailable,
                    "node {} did not catch up to index {index} in time: {e}",
                    self.id()
                )
            })
    }
}
