//! A write-ahead log of opaque byte records, in segment files, with group commit — the raft log,
//! vote and committed position of a node (modelled on etcd's `wal` package).
//!
//! WHY OUR OWN. The raft log used to live in sled trees, made "durable" by sled's flush, which is
//! `sync_file_range`: it writes pages out but neither flushes the drive's cache nor the file's
//! metadata, so an acknowledged entry could vanish in a power cut. Here every acknowledgement
//! follows an `fdatasync` that covers it.
//!
//! ON DISK. A directory of segments named `{seq:016x}-{first_index:016x}.wal` (the segment number
//! and the first index it was cut for). Records are framed with a length and a CRC-32C
//! ([`record`]); each segment starts with a state record (vote, committed, purge point), so old
//! segments can be deleted whole. Segment files are preallocated ([`prealloc`]): created full of
//! zeros, [`Options::segment_bytes`] long, and synced before use, so an append's `fdatasync` has no
//! metadata to commit; a segment's records end at its *logical end*, followed by zeros. A segment
//! is cut once its logical end passes [`Options::segment_bytes`]: the old one is synced, the next
//! (already zero-filled in the background as `{seq:016x}.tmp`) is given its state record, synced,
//! renamed to its `.wal` name, and the directory is synced, before anything is written into it.
//!
//! WRITES. Every write is one `pwrite` of whole records at the logical end of the current segment,
//! readable (by `pread`) as soon as it returns. A write that wants to know when it is durable
//! passes a [`Completion`]; the [`sync`] thread takes every completion queued so far, runs one
//! `fdatasync` covering all of them, and only then runs them, in order (group commit). An
//! `fdatasync` failure is fatal: every waiter gets the error, and every later write is refused.
//!
//! - entries ([`Wal::append`]) and the vote ([`Wal::save_vote`]) are written with a completion;
//! - the committed position, a truncation and a purge point are written without one: they become
//!   durable with the next sync, and nothing depends on them sooner (see `raft`'s module docs);
//! - [`Wal::release`] deletes whole segments whose entries are all at or below a floor, after a
//!   sync (so the purge point that explains their absence is durable first).
//!
//! RECOVERY ([`recovery`]). Segments are replayed in order through the same [`state`] function
//! that live writes use. Zeros after a segment's last record are its clean end. A bad record
//! (short, wrong checksum, or zeros followed by other bytes) in the *last* segment is a write torn
//! by a crash: the segment is cut there — everything from there on zeroed, the preallocation kept
//! — with a warning naming the file and offset, and synced. In any earlier segment it is damage
//! to data once synced: opening fails, naming the file and offset (an earlier segment that ends
//! early in zeros must also be followed by the entry its successor was cut for). After recovery
//! the last segment is zero-filled to full size if shorter and synced whole, so nothing recovered
//! from the page cache of a crashed process is reported to raft before it is durable.
//!
//! The WAL knows nothing of raft's types: the raft layer (`raft::log_store`) encodes them.

mod disk;
mod prealloc;
mod record;
mod recovery;
mod state;
mod sync;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prealloc;

use disk::{Disk, StdDisk, WalFile};
use prealloc::Preparing;
use record::Record;
use state::{Loc, State};
use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What to run once a write is durable (or the WAL has failed).
pub type Completion = Box<dyn FnOnce(io::Result<()>) + Send>;

/// WAL settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cut a new segment once the current one is this long; also the size segment files are
    /// preallocated to.
    pub segment_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { segment_bytes: 64 << 20 }
    }
}

/// The write-ahead log. Dropping it lets the sync thread finish its queue and stops it; readers
/// keep working.
pub struct Wal {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Reads entries from a [`Wal`] (cheap to clone; usable from any thread).
#[derive(Clone)]
pub struct Reader {
    shared: Arc<Shared>,
}

/// What the writers, the sync thread and the readers share.
struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the sync thread.
    wake: Condvar,
    disk: Arc<dyn Disk>,
    options: Options,
    /// Serializes segment deletion.
    release: Mutex<()>,
    syncs: AtomicU64,
    completions: AtomicU64,
}

struct Inner {
    state: State,
    /// Oldest first; the last one is written to.
    segments: VecDeque<Segment>,
    /// Completions waiting for the next sync.
    queue: Vec<Completion>,
    /// Why the WAL refuses writes, once a write or sync has failed.
    failed: Option<String>,
    closing: bool,
    buf: Vec<u8>,
    /// The next segment, being preallocated: started once the current segment is half full (so
    /// a short-lived WAL does not zero-fill a segment it never uses). If it was not started, or
    /// starting the helper failed, the cut preallocates the segment itself.
    next: Option<Preparing>,
    /// Whether preparing the next segment was started (or tried) for the current one.
    next_tried: bool,
}

struct Segment {
    seq: u32,
    name: String,
    file: Arc<dyn WalFile>,
    /// The logical end: where the next record goes (the file is at least this long; zeros follow).
    len: u64,
}

/// The file name of segment `seq`, cut when the next entry was `first_index`.
fn segment_name(seq: u32, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

/// The segment number and first index in a segment file name.
fn parse_segment_name(name: &str) -> Option<(u32, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, first) = stem.split_once('-')?;
    let first = u64::from_str_radix(first, 16).ok()?;
    (seq.len() == 16).then(|| Some((u32::from_str_radix(seq, 16).ok()?, first))).flatten()
}

impl Wal {
    /// Opens (or creates) the WAL in directory `dir`, recovering what is there.
    pub fn open(dir: impl Into<PathBuf>, options: Options) -> io::Result<Wal> {
        Wal::open_on(Arc::new(StdDisk::open(dir.into())?), options)
    }

    fn open_on(disk: Arc<dyn Disk>, options: Options) -> io::Result<Wal> {
        let (state, segments) = recovery::recover(disk.as_ref(), options.segment_bytes)?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state,
                segments,
                queue: Vec::new(),
                failed: None,
                closing: false,
                buf: Vec::new(),
                next: None,
                next_tried: false,
            }),
            wake: Condvar::new(),
            disk,
            options,
            release: Mutex::new(()),
            syncs: AtomicU64::new(0),
            completions: AtomicU64::new(0),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("raft-wal-sync".into())
            .spawn(move || sync::run(&thread_shared))?;
        Ok(Wal { shared, thread: Some(thread) })
    }

    /// A reader of the entries.
    pub fn reader(&self) -> Reader {
        Reader { shared: self.shared.clone() }
    }

    /// Writes entries `(index, payload)` (readable when this returns) and queues `done` to run
    /// once an `fdatasync` covering them has completed.
    pub fn append<'a>(
        &self,
        entries: impl IntoIterator<Item = (u64, &'a [u8])>,
        done: Completion,
    ) -> io::Result<()> {
        let records: Vec<_> =
            entries.into_iter().map(|(index, payload)| Record::Entry { index, payload }).collect();
        self.write(&records, Some(done))
    }

    /// Writes the vote and queues `done` to run once it is durable.
    pub fn save_vote(&self, vote: &[u8], done: Completion) -> io::Result<()> {
        self.write(&[Record::Vote(vote)], Some(done))
    }

    /// Writes the committed position (durable with the next sync).
    pub fn save_committed(&self, committed: &[u8]) -> io::Result<()> {
        self.write(&[Record::Committed(committed)], None)
    }

    /// Removes the entries at `index` and above (durable with the next sync).
    pub fn truncate_from(&self, index: u64) -> io::Result<()> {
        self.write(&[Record::TruncateFrom(index)], None)
    }

    /// Records that the log is purged up to `index`, whose id is `meta` (durable with the next
    /// sync). The entries stay until [`Wal::release`] deletes their segments.
    pub fn purge(&self, index: u64, meta: &[u8]) -> io::Result<()> {
        self.write(&[Record::Purge { index, meta }], None)
    }

    /// Blocks until everything written so far is durable.
    pub fn sync(&self) -> io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.shared.enqueue(Box::new(move |r| {
            let _ = tx.send(r);
        }))?;
        rx.recv().map_err(|_| io::Error::other("the raft WAL's sync thread has stopped"))?
    }

    /// Whether [`Wal::release`] with this floor would delete a segment.
    pub fn releasable(&self, floor: u64) -> bool {
        !self.shared.lock().releasable(floor).is_empty()
    }

    /// Deletes the segments (never the current one) whose live entries are all at or below
    /// `floor`; blocks for a sync first and a directory sync after. Returns how many it deleted.
    pub fn release(&self, floor: u64) -> io::Result<usize> {
        let _one_at_a_time = self.shared.release.lock().unwrap_or_else(|e| e.into_inner());
        if !self.releasable(floor) {
            return Ok(0);
        }
        // The purge point that makes these entries unnecessary must be durable before they go.
        self.sync()?;
        let doomed = {
            let mut inner = self.shared.lock();
            let doomed = inner.releasable(floor);
            if let Some(keep) = inner.segments.get(doomed.len()).map(|s| s.seq) {
                inner.state.forget_below(keep);
            }
            inner.segments.drain(..doomed.len()).map(|s| s.name).collect::<Vec<_>>()
        };
        for name in &doomed {
            self.shared.disk.remove(name)?;
        }
        self.shared.disk.sync_dir()?;
        Ok(doomed.len())
    }

    /// The last saved vote.
    pub fn vote(&self) -> Option<Vec<u8>> {
        self.shared.lock().state.vote.clone()
    }

    /// The last saved committed position.
    pub fn committed(&self) -> Option<Vec<u8>> {
        self.shared.lock().state.committed.clone()
    }

    /// The last purge point: its index and id.
    pub fn purged(&self) -> Option<(u64, Vec<u8>)> {
        self.shared.lock().state.purged.clone()
    }

    /// How many `fdatasync`s the sync thread has run.
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// How many completions those syncs have run.
    pub fn completions(&self) -> u64 {
        self.shared.completions.load(Ordering::Relaxed)
    }

    /// How many segment files there are.
    pub fn segments(&self) -> usize {
        self.shared.lock().segments.len()
    }

    fn write(&self, records: &[Record<'_>], done: Option<Completion>) -> io::Result<()> {
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        if let Some(why) = &inner.failed {
            return Err(io::Error::other(why.clone()));
        }
        let current = inner.segments.back().expect("a WAL always has a segment");
        if current.len >= self.shared.options.segment_bytes
            && let Err(e) = inner.cut(self.shared.disk.as_ref(), self.shared.options.segment_bytes)
        {
            return Err(inner.fail(format!("cannot start a new raft WAL segment: {e}")));
        }
        let current = inner.segments.back_mut().expect("a WAL always has a segment");
        inner.buf.clear();
        let mut locs = Vec::with_capacity(records.len());
        for r in records {
            let start = inner.buf.len();
            record::encode(r, &mut inner.buf);
            let len = u32::try_from(inner.buf.len() - start).expect("a record under 4 GiB");
            locs.push(Loc { seg: current.seq, len, off: current.len + start as u64 });
        }
        if let Err(e) = current.file.write_at(&inner.buf, current.len) {
            // Part of the records may be in the file: nothing may follow them.
            let why = format!("cannot write to the raft WAL ({}): {e}", current.name);
            return Err(inner.fail(why));
        }
        current.len += inner.buf.len() as u64;
        let size = self.shared.options.segment_bytes;
        if !inner.next_tried && current.len >= size / 2 {
            inner.next_tried = true;
            inner.next = current.seq.checked_add(1).and_then(|seq| {
                Preparing::start(self.shared.disk.clone(), seq, size)
                    .inspect_err(|e| {
                        tracing::warn!("raft WAL: cannot start preallocating a segment: {e}");
                    })
                    .ok()
            });
        }
        for (r, loc) in records.iter().zip(locs) {
            inner.state.apply(r, loc);
        }
        if let Some(done) = done {
            inner.queue.push(done);
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    #[cfg(test)]
    fn loc(&self, index: u64) -> Option<(String, Loc)> {
        let inner = self.shared.lock();
        let loc = inner.state.loc(index)?;
        Some((inner.segment(loc.seg)?.name.clone(), loc))
    }

    #[cfg(test)]
    fn segment_names(&self) -> Vec<String> {
        self.shared.lock().segments.iter().map(|s| s.name.clone()).collect()
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Let the helper finish, so a WAL reopened at once never races it for its `.tmp`.
        let next = self.shared.lock().next.take();
        if let Some(next) = next {
            let _ = next.finish();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `done` for the next sync (the writes it stands for are already made).
    fn enqueue(&self, done: Completion) -> io::Result<()> {
        let mut inner = self.lock();
        if let Some(why) = &inner.failed {
            return Err(io::Error::other(why.clone()));
        }
        inner.queue.push(done);
        self.wake.notify_one();
        Ok(())
    }
}

impl Inner {
    /// Refuses every write from now on; the error to return.
    fn fail(&mut self, why: String) -> io::Error {
        tracing::error!("{why}");
        self.failed.get_or_insert(why.clone());
        io::Error::other(why)
    }

    fn segment(&self, seq: u32) -> Option<&Segment> {
        let i = self.segments.binary_search_by_key(&seq, |s| s.seq).ok()?;
        self.segments.get(i)
    }

    /// The names of the segments [`Wal::release`] would delete with `floor`, oldest first.
    fn releasable(&self, floor: u64) -> Vec<String> {
        let current = self.segments.back().expect("a WAL always has a segment").seq;
        let keep = self.state.first_above(floor).map_or(current, |l| l.seg.min(current));
        self.segments.iter().take_while(|s| s.seq < keep).map(|s| s.name.clone()).collect()
    }

    /// Syncs the current segment and starts the next (preallocated in the background), durable
    /// (file and name) before returning.
    fn cut(&mut self, disk: &dyn Disk, size: u64) -> io::Result<()> {
        let old = self.segments.back().expect("a WAL always has a segment");
        old.file.sync_data()?;
        let seq =
            old.seq.checked_add(1).ok_or_else(|| io::Error::other("segment numbers ran out"))?;
        let prepared = match self.next.take() {
            Some(next) => next.finish()?,
            None => prealloc::prepare(disk, seq, size)?,
        };
        let first = self.state.last().map_or(0, |l| l + 1);
        let segment = prealloc::install(disk, prepared, first, &self.state)?;
        self.segments.push_back(segment);
        self.next_tried = false;
        Ok(())
    }
}

impl Reader {
    /// The entries with indexes in `from..=to`, in order, at most `limit` of them, stopping once
    /// they reach `max_bytes` (the first is always read, however large). Entries no longer live
    /// (truncated, or in deleted segments) are not there.
    pub fn read(
        &self,
        from: u64,
        to: u64,
        limit: usize,
        max_bytes: usize,
    ) -> io::Result<Vec<(u64, Vec<u8>)>> {
        // Find the entries under the lock; read them without it. A segment deleted meanwhile
        // stays readable through its open handle.
        let mut wanted = Vec::new();
        {
            let inner = self.shared.lock();
            let (Some(first), Some(last)) = (inner.state.first(), inner.state.last()) else {
                return Ok(Vec::new());
            };
            let mut bytes = 0usize;
            for index in from.max(first)..=to.min(last) {
                if wanted.len() >= limit || bytes >= max_bytes {
                    break;
                }
                let loc = inner.state.loc(index).expect("a live index");
                let segment = inner.segment(loc.seg).expect("a live entry's segment");
                bytes = bytes.saturating_add(loc.len as usize);
                wanted.push((index, loc, segment.file.clone(), segment.name.clone()));
            }
        }
        let mut out = Vec::with_capacity(wanted.len());
        for (index, loc, file, name) in wanted {
            let mut buf = vec![0; loc.len as usize];
            file.read_at(&mut buf, loc.off)?;
            let damaged = |why: String| {
                let file = self.shared.disk.describe(&name);
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{file} at offset {}: {why}", loc.off),
                )
            };
            match record::decode(&buf, 0) {
                Ok(Some((Record::Entry { index: at, payload }, _))) if at == index => {
                    out.push((index, payload.to_vec()));
                }
                Ok(other) => {
                    return Err(damaged(format!("entry {index} expected, found {other:?}")));
                }
                Err(bad) => return Err(damaged(bad.to_string())),
            }
        }
        Ok(out)
    }

    /// The entry at `index`, if live.
    pub fn get(&self, index: u64) -> io::Result<Option<Vec<u8>>> {
        Ok(self.read(index, index, 1, usize::MAX)?.pop().map(|(_, e)| e))
    }

    /// The first and last live indexes.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let inner = self.shared.lock();
        Some((inner.state.first()?, inner.state.last()?))
    }
}
