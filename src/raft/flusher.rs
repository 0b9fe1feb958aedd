//! Group commit: one disk flush acknowledges every log append queued before it.
//!
//! openraft's `append` must return at once and report "flushed" later, only once the entries are
//! on disk. Flushing once per append would put one disk sync on the path of every entry and, done
//! on the raft task, stall the whole node. Instead each append writes its entries and queues its
//! completion here; a dedicated thread takes *everything* queued so far, runs one flush, then
//! completes them all, in queue order. While a flush runs, new completions pile up and share the
//! next flush, so the flush rate adapts to the disk, not to the write rate.
//!
//! Correctness needs only this: a completion is queued *after* its entries were written, and the
//! thread starts the flush after taking the completion off the queue, so the flush covers the
//! entries.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// What to do once a flush has completed (or failed).
pub(crate) type Completion = Box<dyn FnOnce(io::Result<()>) + Send>;

/// The flusher thread and its queue. Dropping it lets the thread finish the queue and waits for it.
pub(crate) struct Flusher {
    queue: Option<mpsc::Sender<Completion>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    flushes: AtomicU64,
    completions: AtomicU64,
}

impl Flusher {
    /// Starts a flusher thread named `name` that makes writes durable with `flush`.
    pub(crate) fn start(
        name: &str,
        flush: impl Fn() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Flusher> {
        let (tx, rx) = mpsc::channel::<Completion>();
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                group.extend(rx.try_iter());
                let result = flush();
                thread_stats.flushes.fetch_add(1, Ordering::Relaxed);
                thread_stats.completions.fetch_add(group.len() as u64, Ordering::Relaxed);
                for done in group {
                    done(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    });
                }
            }
        })?;
        Ok(Flusher { queue: Some(tx), thread: Some(thread), stats })
    }

    /// Queues `done` to run after the next flush. The caller must have made the writes `done`
    /// stands for before calling. Gives `done` back if the thread is gone.
    pub(crate) fn enqueue(&self, done: Completion) -> Result<(), Completion> {
        match &self.queue {
            Some(q) => q.send(done).map_err(|e| e.0),
            None => Err(done),
        }
    }

    /// How many flushes have run.
    pub(crate) fn flushes(&self) -> u64 {
        self.stats.flushes.load(Ordering::Relaxed)
    }

    /// How many completions those flushes have completed.
    pub(crate) fn completions(&self) -> u64 {
        self.stats.completions.load(Ordering::Relaxed)
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once the queue is empty.
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A flush that waits for the test's permission, and counts.
    struct Gate {
        open: Mutex<bool>,
        cv: std::sync::Condvar,
    }

    #[test]
    fn completions_wait_for_the_flush_and_share_it() {
        let gate = Arc::new(Gate { open: Mutex::new(false), cv: std::sync::Condvar::new() });
        let g = gate.clone();
        let flusher = Flusher::start("test-flusher", move || {
            let mut open = g.open.lock().unwrap();
            while !*open {
                open = g.cv.wait(open).unwrap();
            }
            Ok(())
        })
        .unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            assert!(flusher.enqueue(Box::new(move |r| tx.send((i, r.is_ok())).unwrap())).is_ok());
        }
        // The flush is blocked: nothing may be reported as flushed.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        *gate.open.lock().unwrap() = true;
        gate.cv.notify_all();
        let done: Vec<_> =
            (0..100).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(done, (0..100).map(|i| (i, true)).collect::<Vec<_>>(), "all, in order, ok");
        // The first flush may have taken only the first completion; the rest share at most one more.
        assert!(flusher.flushes() <= 2, "{} flushes for 100 completions", flusher.flushes());
        assert_eq!(flusher.completions(), 100);
    }

    #[test]
    fn a_failed_flush_fails_its_completions() {
        let flusher =
            Flusher::start("test-flusher", || Err(io::Error::other("disk on fire"))).unwrap();
        let (tx, rx) = mpsc::channel();
        assert!(flusher.enqueue(Box::new(move |r| tx.send(r).unwrap())).is_ok());
        let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(r.unwrap_err().to_string().contains("disk on fire"));
    }

    #[test]
    fn drop_drains_the_queue() {
        let (tx, rx) = mpsc::channel();
        {
            let flusher = Flusher::start("test-flusher", || Ok(())).unwrap();
            for _ in 0..10 {
                let tx = tx.clone();
                assert!(flusher.enqueue(Box::new(move |r| tx.send(r.is_ok()).unwrap())).is_ok());
            }
        }
        assert_eq!(rx.try_iter().filter(|ok| *ok).count(), 10);
    }
}
