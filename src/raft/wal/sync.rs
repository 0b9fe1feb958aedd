//! Group commit: one `fdatasync` acknowledges every write queued before it.
//!
//! A write queues its completion *after* its bytes are written, under the same lock that picks
//! the segment it went to. This thread takes everything queued so far together with the current
//! segment, syncs that segment, and then runs the completions in queue order. The sync covers
//! every write whose completion it took: those writes went to this segment, or to an older one,
//! and a segment is synced when it stops being the current one. While a sync runs, new
//! completions pile up and share the next one, so the sync rate follows the disk, not the write
//! rate.
//!
//! A failed sync is never retried (the kernel may have dropped the pages it could not write, and
//! a second `fdatasync` would report success over lost data): the WAL is marked failed, this
//! batch and every later waiter get the error, and writes are refused from then on.

use super::Shared;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A sync slower than this is logged (etcd's threshold; its guidance is a p99 under 10 ms).
const SLOW_SYNC: Duration = Duration::from_secs(1);

/// The sync thread's loop; returns once the WAL is closing and the queue is empty.
pub(super) fn run(shared: &Shared) {
    loop {
        let (batch, target, failed) = {
            let mut inner = shared.lock();
            while inner.queue.is_empty() && !inner.closing {
                inner = shared.wake.wait(inner).unwrap_or_else(|e| e.into_inner());
            }
            if inner.queue.is_empty() {
                return;
            }
            let current = inner.segments.back().expect("a WAL always has a segment");
            let target = (current.file.clone(), current.name.clone());
            (std::mem::take(&mut inner.queue), target, inner.failed.clone())
        };
        let result = match failed {
            Some(why) => Err(why),
            None => {
                let start = Instant::now();
                let r = target.0.sync_data();
                shared.syncs.fetch_add(1, Ordering::Relaxed);
                if start.elapsed() > SLOW_SYNC {
                    tracing::warn!(
                        "raft WAL: fdatasync of {} took {:?} (expected well under 10 ms)",
                        target.1,
                        start.elapsed()
                    );
                }
                r.map_err(|e| {
                    let why = format!(
                        "fdatasync of the raft WAL segment {} failed: {e}; the WAL refuses \
                         further writes (a failed sync is never retried)",
                        shared.disk.describe(&target.1)
                    );
                    let _ = shared.lock().fail(why.clone());
                    why
                })
            }
        };
        shared.completions.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for done in batch {
            done(result.clone().map_err(io::Error::other));
        }
    }
}
