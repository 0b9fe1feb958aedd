//! The purge barrier, off the raft task: a thread that makes purges durable in the right order.
//!
//! A purge must not reach the disk before the state machine that applied the purged entries is
//! durable (see [`LogStore`](super::LogStore)): so the thread runs the barrier ([`Store::sync`]:
//! sled flush, then `fsync` of sled's file and directory), then writes the purge point to the WAL,
//! then deletes the segments the retention floor allows. Syncing sled can take a while on a busy
//! disk, and openraft 0.9 handles nothing else (no heartbeat, no vote) while a storage call runs,
//! so `purge` only moves the visible start of the log in memory and queues the rest here; openraft
//! allows a purge to be done later. Queued purges are coalesced: only the latest is carried out.
//!
//! A crash before the purge point is written leaves the log starting earlier than openraft last
//! saw it: harmless, the entries are still there. A barrier or WAL failure is kept and returned by
//! the next call to [`Purger::failure`], so the log store reports it to openraft, which stops the
//! node.
//!
//! [`Store::sync`]: crate::storage::Store::sync

use super::log_store::Barrier;
use super::wal::Wal;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// What the thread is asked to do.
enum Job {
    /// Make the purge up to `index` (whose encoded id is `id`) durable, then delete the segments
    /// at or below `floor`.
    Purge { index: u64, id: Vec<u8>, floor: u64 },
    /// Answer once every job before this one is done.
    Flush(mpsc::Sender<()>),
}

/// The purge thread. Dropping it finishes the queued purges and waits for the thread.
pub(crate) struct Purger {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    failed: Arc<OnceLock<String>>,
}

impl Purger {
    /// Starts the thread over `wal`, running `barrier` before each purge it writes.
    pub(crate) fn start(wal: Arc<Wal>, barrier: Barrier) -> std::io::Result<Purger> {
        let (tx, rx) = mpsc::channel::<Job>();
        let failed = Arc::new(OnceLock::new());
        let thread_failed = failed.clone();
        let thread = std::thread::Builder::new().name("raft-purge".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                let mut latest = None;
                let mut waiters = Vec::new();
                for job in std::iter::once(job).chain(rx.try_iter()) {
                    match job {
                        Job::Purge { index, id, floor } => latest = Some((index, id, floor)),
                        Job::Flush(w) => waiters.push(w),
                    }
                }
                // No lock is held while purging: appends read the failure (`Purger::failure`)
                // on the raft task, and must not wait for the barrier's sled sync.
                if let Some((index, id, floor)) = latest
                    && thread_failed.get().is_none()
                    && let Err(why) = purge(&wal, &barrier, index, &id, floor)
                {
                    tracing::error!("raft log purge up to {index} failed: {why}");
                    let _ = thread_failed.set(why);
                }
                for w in waiters {
                    let _ = w.send(());
                }
            }
        })?;
        Ok(Purger { queue: Some(tx), thread: Some(thread), failed })
    }

    /// Queues a purge up to `index` (id `id`), deleting segments at or below `floor`.
    pub(crate) fn purge(&self, index: u64, id: Vec<u8>, floor: u64) -> Result<(), String> {
        self.send(Job::Purge { index, id, floor })
    }

    /// Waits until every purge queued so far is done (or has failed).
    pub(crate) fn flush(&self) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        self.send(Job::Flush(tx))?;
        rx.recv().map_err(|_| "the raft purge thread has stopped".to_string())
    }

    /// Why a purge failed, if one has.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failed.get().cloned()
    }

    fn send(&self, job: Job) -> Result<(), String> {
        let queue = self.queue.as_ref().ok_or("the raft purge thread has stopped")?;
        queue.send(job).map_err(|_| "the raft purge thread has stopped".to_string())
    }
}

/// The barrier, the purge point, the deletion — in that order.
fn purge(wal: &Wal, barrier: &Barrier, index: u64, id: &[u8], floor: u64) -> Result<(), String> {
    barrier().map_err(|e| format!("cannot sync the state machine before a purge: {e}"))?;
    wal.purge(index, id).map_err(|e| e.to_string())?;
    wal.release(floor).map(|_| ()).map_err(|e| format!("cannot delete raft WAL segments: {e}"))
}

impl Drop for Purger {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
