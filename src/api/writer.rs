//! The write path of a single node: a log of commands applied in order, with group commit.
//!
//! Every write becomes a [`Command`] that is given the next log index, applied by the state
//! machine ([`Store::apply`]) and made durable (sled `flush`) before its caller hears the answer.
//! One applier thread does this for all writers; it takes every command that is waiting, applies
//! them one after the other, and covers them all with one flush, so the cost of durability is
//! shared by the whole group instead of paid per write.
//!
//! This is the shape the raft layer keeps: a write is proposed, committed at an index, applied,
//! and answered; only "committed" will then mean "on a quorum" instead of "on this disk".

use crate::error::{Error, ErrorCode};
use crate::storage::{Command, Outcome, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How many commands one flush may cover at most.
const MAX_GROUP: usize = 1024;

/// An applied write: its index and outcome.
pub type Written = (u64, Outcome);

type Request = (Command, oneshot::Sender<Result<Written, Error>>);

/// A handle to the applier thread.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the applier thread over `store`.
    pub fn start(store: Arc<Store>) -> (Writer, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
        let handle = std::thread::Builder::new()
            .name("twinstore-apply".into())
            .spawn(move || run(store, rx))
            .expect("spawn the applier thread");
        (Writer { tx }, handle)
    }

    /// Applies a command durably and returns its index and outcome.
    pub async fn write(&self, cmd: Command) -> Result<Written, Error> {
        let (tx, rx) = oneshot::channel();
        let gone = || Error::new(ErrorCode::Unavailable, "the node is shutting down");
        self.tx.send((cmd, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

fn run(store: Arc<Store>, mut rx: mpsc::Receiver<Request>) {
    let mut group: Vec<Request> = Vec::with_capacity(MAX_GROUP);
    let mut answers = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        for (cmd, reply) in group.drain(..) {
            let index = store.applied_index() + 1;
            match store.apply(index, &cmd) {
                Ok(outcome) => answers.push((reply, Ok((index, outcome)))),
                Err(e) => {
                    fatal(&format!("applying command {} at index {index}: {e}", cmd.op.name()))
                }
            }
        }
        if let Err(e) = store.flush() {
            fatal(&format!("flushing the state machine: {e}"));
        }
        for (reply, answer) in answers.drain(..) {
            let _ = reply.send(answer);
        }
    }
    if let Err(e) = store.flush() {
        fatal(&format!("flushing the state machine at shutdown: {e}"));
    }
}

/// A storage failure on the write path is not a user error and not deterministic: carrying on
/// could acknowledge writes that are not stored. Stop the process loudly.
fn fatal(what: &str) -> ! {
    tracing::error!("fatal storage error, stopping the node: {what}");
    eprintln!("twinstore: fatal storage error, stopping the node: {what}");
    std::process::abort()
}
