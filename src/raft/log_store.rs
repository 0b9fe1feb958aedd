//! The raft log store: openraft's `RaftLogStorage` over the node's [`Wal`].
//!
//! Entries are `openraft::Entry<TypeConfig>` encoded with the storage codec (bincode), one WAL
//! entry record per raft entry, at its index. The vote, the committed log id and the last purged
//! log id are the WAL's own values, encoded the same way. What is durable when is explained in the
//! [module docs](super): an append is acknowledged, and `save_vote` returns, only after an
//! `fdatasync` that covers it; the committed position, truncations and purge points are durable
//! with the next sync.
//!
//! THE PURGE BARRIER. openraft purges the log behind a snapshot, but twinstore's state machine is
//! sled, written without syncs (a crash is repaired by re-applying the log from sled's last applied
//! index). So the log may forget entries only once the state they produced is durable: the
//! [`Purger`] thread first runs [`Store::sync`] (sled flush, then `fsync` of its file and
//! directory), then writes the purge point, then deletes segments. A purge point that reached the
//! disk is therefore never ahead of the durable state machine, and neither is any deleted segment.
//! `purge` itself only moves the visible start of the log, in memory, and queues that work: the
//! raft task must not wait for sled's sync.
//!
//! RETENTION FOR THE STANDBY REGION. openraft purges the log behind its snapshots, but the
//! standby region pulls this log and must not find it gone. So a purge moves the *visible* start
//! of the log at once (openraft never sees purged entries again), while the *physical* deletion
//! (of whole WAL segments) stops at the retention floor — the last index the standby has
//! confirmed — unless that would keep more than the retention bound ([`MAX_RETAINED`] by default,
//! [`LogStore::set_max_retained`]) entries behind the purge point, past which a standby must be
//! reseeded from a snapshot. The shipper reads retained entries directly
//! ([`LogStore::shipping_reader`], `raft::reader`). With no standby the floor is `u64::MAX`:
//! everything purged may be deleted.
//!
//! The WAL deletes whole segments (64 MiB), so the floor is applied in two steps: at once
//! *logically* — the [`ShipReader`] no longer serves entries at or below it, so a standby past the
//! bound is reseeded exactly as if they were gone — and *physically* when a whole segment is at or
//! below it. After a restart the logical floor starts again from the physical one (minus
//! [`MAX_RETAINED`] behind the purge point): entries still on disk may be shipped again, which is
//! harmless, as they are the committed log.

// openraft's storage traits return its `StorageError` (over 200 bytes) by value; the helpers
// here return what the traits return.
#![allow(clippy::result_large_err)]

use super::purger::Purger;
use super::wal::{self, Completion, Wal};
use super::{NodeId, TypeConfig, sto_err, typ};
use crate::storage::codec::{decode, encode};
use crate::storage::{StorageError as StoreError, Store};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most entries kept behind the purge point for the standby region, by default.
pub const MAX_RETAINED: u64 = 1_000_000;

/// About the most bytes of entries one AppendEntries carries (at least one entry is always sent).
/// openraft times each AppendEntries out after one heartbeat interval and then sends the same range
/// again, so a follower far behind — a restarted node, or a standby node whose entries are whole
/// shipped batches — must be sent its backlog in pieces that fit in that time, or it never catches
/// up (and, not hearing from the leader in time, it campaigns).
pub const MAX_APPEND_BYTES: usize = 1 << 20;

type Result<T> = std::result::Result<T, typ::StorageError>;

/// The purge barrier: makes the state machine durable ([`Store::sync`]).
pub type Barrier = Arc<dyn Fn() -> std::result::Result<(), StoreError> + Send + Sync>;

/// The raft log, vote and committed position of one node.
pub struct LogStore {
    wal: Arc<Wal>,
    /// Carries out purges, after the barrier.
    purger: Purger,
    /// The last purge openraft asked for (the WAL's may lag behind it).
    last_purged: Option<typ::LogId>,
    /// The first index openraft may see (one past the last purged).
    visible_from: Arc<AtomicU64>,
    /// Entries at or below this index may be deleted (the standby has them).
    retention: Arc<AtomicU64>,
    /// The most entries kept behind the purge point for the standby.
    max_retained: u64,
    /// The first index the shipper may read (see [`ShipReader`]).
    ship_from: Arc<AtomicU64>,
}

/// A reader of the entries kept for the standby region, for the geo shipper: every entry above
/// the retention floor, purged or not (cheap to clone).
#[derive(Clone)]
pub struct ShipReader {
    log: wal::Reader,
    /// The first index the shipper may read (one past the last retention floor applied).
    from: Arc<AtomicU64>,
}

impl ShipReader {
    /// The entries with indexes in `from..=to`, as [`wal::Reader::read`] returns them.
    pub fn read(
        &self,
        from: u64,
        to: u64,
        limit: usize,
        max_bytes: usize,
    ) -> io::Result<Vec<(u64, Vec<u8>)>> {
        self.log.read(from.max(self.from.load(Ordering::SeqCst)), to, limit, max_bytes)
    }

    /// The first and last indexes the shipper can read.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let (first, last) = self.log.bounds()?;
        let first = first.max(self.from.load(Ordering::SeqCst));
        (first <= last).then_some((first, last))
    }
}

/// A reader of the log, for openraft's replication tasks (cheap to clone).
#[derive(Clone)]
pub struct LogReader {
    log: wal::Reader,
    visible_from: Arc<AtomicU64>,
}

/// The WAL's segment size. Segments are deleted whole, so a node keeps up to one segment more than
/// the log it retains: 16 MiB keeps that small next to the retained log (2 x
/// [`DEFAULT_SNAPSHOT_LOGS`](super::DEFAULT_SNAPSHOT_LOGS) entries of batched writes).
pub const SEGMENT_BYTES: u64 = 16 << 20;

fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
) -> impl Fn(io::Error) -> typ::StorageError {
    move |e| sto_err(subject.clone(), verb, &e)
}

impl LogStore {
    /// The log store in the WAL directory `wal_dir` (created if missing), purging only what
    /// `store` has made durable. Starts the WAL's sync thread (it stops when the log store is
    /// dropped).
    pub fn new(store: Arc<Store>, wal_dir: &Path) -> std::result::Result<LogStore, StoreError> {
        let options = wal::Options { segment_bytes: SEGMENT_BYTES };
        let wal = Wal::open(wal_dir, options).map_err(|e| {
            StoreError::Io(format!("cannot open the raft WAL in {}: {e}", wal_dir.display()))
        })?;
        LogStore::with_wal(wal, Arc::new(move || store.sync()))
    }

    /// The log store over an open WAL, running `barrier` before each purge.
    pub fn with_wal(wal: Wal, barrier: Barrier) -> std::result::Result<LogStore, StoreError> {
        // Entries below the purge point are invisible; those past the retention bound are
        // deleted (they were purged, so the state machine had them durably).
        let (mut visible_from, mut ship_from) = (0, 0);
        let last_purged = wal.purged().map(|(_, id)| decode::<typ::LogId>(&id)).transpose()?;
        if let Some((index, _)) = wal.purged() {
            visible_from = index + 1;
            if let Some(bound) = index.checked_sub(MAX_RETAINED) {
                ship_from = bound + 1;
                wal.release(bound).map_err(|e| {
                    StoreError::Io(format!("cannot delete old raft WAL segments: {e}"))
                })?;
            }
        }
        let wal = Arc::new(wal);
        let purger = Purger::start(wal.clone(), barrier)
            .map_err(|e| StoreError::Io(format!("cannot start the raft purge thread: {e}")))?;
        Ok(LogStore {
            wal,
            purger,
            last_purged,
            visible_from: Arc::new(AtomicU64::new(visible_from)),
            retention: Arc::new(AtomicU64::new(u64::MAX)),
            max_retained: MAX_RETAINED,
            ship_from: Arc::new(AtomicU64::new(ship_from)),
        })
    }

    /// Sets the most entries kept behind the purge point for the standby region; a standby
    /// further behind than that is reseeded from a snapshot.
    pub fn set_max_retained(&mut self, entries: u64) {
        self.max_retained = entries;
    }

    /// The retention floor: set it to the last index the standby region has confirmed
    /// (`u64::MAX`, the default, when there is no standby to keep entries for).
    pub fn retention(&self) -> Arc<AtomicU64> {
        self.retention.clone()
    }

    /// A reader of the entries kept for the standby, purged or not: what the geo shipper reads.
    pub fn shipping_reader(&self) -> ShipReader {
        ShipReader { log: self.wal.reader(), from: self.ship_from.clone() }
    }

    /// How many group-commit syncs have run so far (for metrics and tests).
    pub fn flushes(&self) -> u64 {
        self.wal.syncs()
    }

    /// How many writes (appends, votes) those syncs have acknowledged.
    pub fn flushed_appends(&self) -> u64 {
        self.wal.completions()
    }

    /// Writes `entries` (readable when this returns) and queues `done` to run once an `fdatasync`
    /// that covers them has completed.
    pub(crate) fn append_then(
        &self,
        entries: impl IntoIterator<Item = typ::Entry>,
        done: Completion,
    ) -> Result<()> {
        self.purge_failure(ErrorSubject::Logs)?;
        let mut batch = Vec::new();
        for entry in entries {
            let bytes =
                encode(&entry).map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
            batch.push((entry.log_id.index, bytes));
        }
        let entries = batch.iter().map(|(i, b)| (*i, b.as_slice()));
        self.wal.append(entries, done).map_err(io_err(ErrorSubject::Logs, ErrorVerb::Write))
    }

    /// Waits until the purges asked for so far are durable (or have failed).
    pub fn flush_purges(&self) -> std::result::Result<(), String> {
        self.purger.flush()
    }

    /// A purge that failed in the background, as the error to give openraft.
    fn purge_failure(&self, subject: ErrorSubject<NodeId>) -> Result<()> {
        match self.purger.failure() {
            Some(why) => Err(sto_err(subject, ErrorVerb::Delete, &io::Error::other(why))),
            None => Ok(()),
        }
    }
}

fn decode_value<T: serde::de::DeserializeOwned>(
    bytes: Option<Vec<u8>>,
    subject: ErrorSubject<NodeId>,
) -> Result<Option<T>> {
    bytes.map(|b| decode(&b)).transpose().map_err(|e| sto_err(subject, ErrorVerb::Read, &e))
}

/// Reads the visible entries in `range` (missing ones are skipped, as openraft allows).
fn read_entries(
    log: &wal::Reader,
    visible_from: u64,
    range: impl RangeBounds<u64>,
    max_bytes: usize,
) -> Result<Vec<typ::Entry>> {
    let read = |e: &dyn std::error::Error| {
        sto_err(ErrorSubject::Logs, ErrorVerb::Read, &io::Error::other(e.to_string()))
    };
    let start = match range.start_bound() {
        Bound::Included(&i) => i.max(visible_from),
        Bound::Excluded(&i) => i.saturating_add(1).max(visible_from),
        Bound::Unbounded => visible_from,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&0) => return Ok(Vec::new()),
        Bound::Excluded(&i) => i - 1,
        Bound::Unbounded => u64::MAX,
    };
    if start > end {
        return Ok(Vec::new());
    }
    let raw = log.read(start, end, usize::MAX, max_bytes).map_err(|e| read(&e))?;
    let mut entries = Vec::with_capacity(raw.len());
    for (index, bytes) in raw {
        let entry: typ::Entry = decode(&bytes).map_err(|e| read(&e))?;
        if entry.log_id.index != index {
            return Err(read(&StoreError::Corrupt(format!(
                "the raft log entry stored at index {index} has log id {}",
                entry.log_id
            ))));
        }
        entries.push(entry);
    }
    Ok(entries)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<typ::Entry>> {
        read_entries(&self.log, self.visible_from.load(Ordering::SeqCst), range, usize::MAX)
    }

    /// What one AppendEntries carries: openraft bounds it by count only
    /// (`max_payload_entries`), so this bounds it by size too.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<typ::Entry>> {
        let visible_from = self.visible_from.load(Ordering::SeqCst);
        read_entries(&self.log, visible_from, start..end, MAX_APPEND_BYTES)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<typ::Entry>> {
        let visible_from = self.visible_from.load(Ordering::SeqCst);
        read_entries(&self.wal.reader(), visible_from, range, usize::MAX)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let last_purged = self.last_purged;
        let last_entry = match self.wal.reader().bounds() {
            Some((_, last)) => read_entries(&self.wal.reader(), 0, last..=last, usize::MAX)?
                .pop()
                .map(|e| e.log_id),
            None => None,
        };
        // After a purge past the end of the log (e.g. after installing a snapshot) the log is
        // empty, and the last log id is the last purged one.
        let last_log_id = match (last_entry, last_purged) {
            (Some(e), Some(p)) if e.index <= p.index => Some(p),
            (Some(e), _) => Some(e),
            (None, p) => p,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        LogReader { log: self.wal.reader(), visible_from: self.visible_from.clone() }
    }

    async fn save_vote(&mut self, vote: &typ::Vote) -> Result<()> {
        let write = |e: &dyn std::error::Error| {
            sto_err(ErrorSubject::Vote, ErrorVerb::Write, &io::Error::other(e.to_string()))
        };
        let bytes = encode(vote).map_err(|e| write(&e))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.wal
            .save_vote(
                &bytes,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            )
            .map_err(|e| write(&e))?;
        // Durable before returning: a node never votes twice in a term, even across a crash.
        match rx.await {
            Ok(r) => r.map_err(|e| write(&e)),
            Err(e) => Err(write(&e)),
        }
    }

    async fn read_vote(&mut self) -> Result<Option<typ::Vote>> {
        decode_value(self.wal.vote(), ErrorSubject::Vote)
    }

    async fn save_committed(&mut self, committed: Option<typ::LogId>) -> Result<()> {
        // Not synced: see the module docs of `raft`.
        let bytes =
            encode(&committed).map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
        self.wal.save_committed(&bytes).map_err(io_err(ErrorSubject::Store, ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<typ::LogId>> {
        Ok(decode_value::<Option<typ::LogId>>(self.wal.committed(), ErrorSubject::Store)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = typ::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_then(entries, Box::new(move |r| callback.log_io_completed(r)))
    }

    async fn truncate(&mut self, log_id: typ::LogId) -> Result<()> {
        // Not synced: the next append's sync covers it, and until then a crash only brings back
        // entries that were never acknowledged as matching the leader's.
        self.wal.truncate_from(log_id.index).map_err(io_err(ErrorSubject::Logs, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: typ::LogId) -> Result<()> {
        self.purge_failure(ErrorSubject::Logs)?;
        let id = encode(&log_id).map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        let floor = self
            .retention
            .load(Ordering::SeqCst)
            .max(log_id.index.saturating_sub(self.max_retained))
            .min(log_id.index);
        // Logically purged at once (for openraft, and for the shipper below the floor); made
        // durable, after the barrier, by the purge thread.
        self.last_purged = self.last_purged.max(Some(log_id));
        self.visible_from.fetch_max(log_id.index + 1, Ordering::SeqCst);
        self.ship_from.fetch_max(floor.saturating_add(1), Ordering::SeqCst);
        self.purger
            .purge(log_id.index, id, floor)
            .map_err(|why| sto_err(ErrorSubject::Logs, ErrorVerb::Delete, &io::Error::other(why)))
    }
}
