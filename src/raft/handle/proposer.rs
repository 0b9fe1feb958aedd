//! Group proposal: many client writes ride in one raft entry.
//!
//! openraft 0.9 appends each `client_write` as its own log entry and waits for that append's
//! disk sync before it does anything else, and then every follower syncs it too. One write per
//! entry is therefore one `fdatasync` per write on every node, plus one apply batch, one
//! AppendEntries and one wake-up of every task on the way — the ceiling the issue measured
//! (0.28× etcd). Batching amortises all of it: the writes that arrive while earlier entries are
//! being proposed wait in a queue, and the next proposal takes the whole queue as one
//! [`Op::Batch`] entry. Under load a batch holds as many writes as arrived during one round trip;
//! alone, a write is proposed at once, as itself (no waiting for company, so a single client's
//! latency is one entry's).
//!
//! Each write of a batch keeps its own identity: its request id (dedupe), its time and epoch, its
//! outcome, and its origin slot, so its ETag is distinct and the same in both regions (see
//! `storage::apply` and `model::etag`). Only [`Op::batchable`] writes are batched; others are
//! proposed alone, after the batch taken with them.
//!
//! Proposals in flight are bounded ([`MAX_IN_FLIGHT`]): enough that the next entry's append
//! overlaps the previous entry's replication, few enough that the queue — and so the batches —
//! grow under load instead of the raft core's own mailbox.

// openraft's client-write error is over 200 bytes; it is what `client_write` returns.
#![allow(clippy::result_large_err)]

use crate::model::time::Timestamp;
use crate::raft::{Raft, typ};
use crate::storage::{Command, Op, Outcome, Reply};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The most writes in one batch.
pub const MAX_BATCH_WRITES: usize = 512;
/// About the most bytes of documents and patches in one batch (an AppendEntries carries about
/// 1 MiB; see `log_store::MAX_APPEND_BYTES`).
pub const MAX_BATCH_BYTES: usize = 256 << 10;
/// The most proposals (entries) in flight at once.
pub const MAX_IN_FLIGHT: usize = 3;

/// Why a proposal was not applied: openraft's own error (not the leader, shutting down...).
pub type ProposeError = typ::RaftError<typ::ClientWriteError>;

/// The answer to one write: the log index of the entry that carried it and its outcome.
pub type Proposed = Result<(u64, Outcome), ProposeError>;

/// A write waiting to be proposed.
struct Pending {
    cmd: Command,
    done: oneshot::Sender<Proposed>,
}

/// Proposes client writes on this node's raft, batching those that arrive together. Cheap to
/// clone; the batching task ends when the last clone is dropped.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the batching task on the current tokio runtime.
    pub fn start(raft: Raft) -> Proposer {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Proposer { queue }
    }

    /// Proposes `cmd` (this node must be the leader) and waits until it is applied.
    pub async fn propose(&self, cmd: Command) -> Proposed {
        let (done, answer) = oneshot::channel();
        let stopped = || openraft::error::RaftError::Fatal(openraft::error::Fatal::Stopped);
        self.queue.send(Pending { cmd, done }).map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// The batching loop: wait for a write, wait for room in flight, take everything queued by then.
async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let mut bytes = size(&first.cmd);
        let mut group = vec![first];
        while group.len() < MAX_BATCH_WRITES && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += size(&p.cmd);
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose_group(&raft, group).await;
            drop(permit);
        });
    }
}

/// About the bytes a write adds to an entry.
fn size(cmd: &Command) -> usize {
    let text = match &cmd.op {
        Op::PutTwin { json, .. } | Op::PutRelationship { json, .. } => json.len(),
        Op::PatchTwin { patch, .. } | Op::PatchRelationship { patch, .. } => patch.len(),
        _ => 0,
    };
    text + 64
}

/// Proposes a group: its batchable writes as one entry (or alone, if only one), then the others
/// one by one.
async fn propose_group(raft: &Raft, group: Vec<Pending>) {
    let (batch, alone): (Vec<_>, Vec<_>) = group.into_iter().partition(|p| p.cmd.op.batchable());
    if batch.len() == 1 {
        propose_alone(raft, batch.into_iter().next().expect("one")).await;
    } else if !batch.is_empty() {
        propose_batch(raft, batch).await;
    }
    for p in alone {
        propose_alone(raft, p).await;
    }
}

async fn propose_alone(raft: &Raft, p: Pending) {
    let answer = raft.client_write(p.cmd).await.map(|r| (r.log_id.index, r.data));
    let _ = p.done.send(answer);
}

async fn propose_batch(raft: &Raft, batch: Vec<Pending>) {
    let time = batch.iter().map(|p| p.cmd.time).max().unwrap_or(Timestamp(0));
    let epoch = batch[0].cmd.epoch;
    let (cmds, waiters): (Vec<Command>, Vec<_>) =
        batch.into_iter().map(|p| (p.cmd, p.done)).unzip();
    let n = cmds.len();
    let cmd = Command { request: None, time, epoch, origin: None, op: Op::Batch(cmds) };
    match raft.client_write(cmd).await {
        Ok(resp) => {
            let index = resp.log_id.index;
            match resp.data {
                Ok(Reply::Batch(outcomes)) if outcomes.len() == n => {
                    for (done, outcome) in waiters.into_iter().zip(outcomes) {
                        let _ = done.send(Ok((index, outcome)));
                    }
                }
                other => {
                    // Apply answers a batch with one outcome per write; anything else is a bug.
                    let e = crate::err!(
                        Internal,
                        "a batch of {n} writes at index {index} was answered {other:?}"
                    );
                    for done in waiters {
                        let _ = done.send(Ok((index, Err(e.clone()))));
                    }
                }
            }
        }
        Err(e) => {
            for done in waiters {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}
