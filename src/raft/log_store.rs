//! The raft log store: openraft's `RaftLogStorage` over the sled trees of [`RaftLog`].
//!
//! Entries are `openraft::Entry<TypeConfig>` encoded with the storage codec (bincode), keyed by
//! index. The vote, the committed log id and the last purged log id are named values beside them.
//! What is durable when is explained in the [module docs](super): the vote is flushed before
//! `save_vote` returns; appends are acknowledged by the group-commit [`Flusher`] once a flush that
//! covers them has completed; truncate and purge flush before returning.
//!
//! RETENTION FOR THE STANDBY REGION. openraft purges the log behind its snapshots, but the
//! standby region pulls this log and must not find it gone. So a purge moves the *visible* start
//! of the log at once (openraft never sees purged entries again), while the *physical* deletion
//! stops at the retention floor — the last index the standby has confirmed — unless that would
//! keep more than the retention bound ([`MAX_RETAINED`] by default, [`LogStore::set_max_retained`]) entries behind the purge point, past which a standby must be
//! reseeded from a snapshot. The shipper reads retained entries directly
//! (`raft::reader`). With no standby the floor is `u64::MAX`: everything purged is deleted.

// openraft's storage traits return its `StorageError` (over 200 bytes) by value; the helpers
// here return what the traits return.
#![allow(clippy::result_large_err)]

use super::flusher::{Completion, Flusher};
use super::{NodeId, TypeConfig, sto_err, typ};
use crate::storage::codec::{decode, encode};
use crate::storage::{RaftLog, StorageError as StoreError, Store};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
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

/// The vote (`Vote`).
const VOTE: &str = "vote";
/// The last committed log id (`Option<LogId>`).
const COMMITTED: &str = "committed";
/// The last purged log id (`LogId`).
const PURGED: &str = "last_purged";

type Result<T> = std::result::Result<T, typ::StorageError>;

/// The raft log, vote and committed position of one node.
pub struct LogStore {
    log: RaftLog,
    flusher: Flusher,
    /// The first index openraft may see (one past the last purged).
    visible_from: Arc<AtomicU64>,
    /// Entries at or below this index may be deleted (the standby has them).
    retention: Arc<AtomicU64>,
    /// The most entries kept behind the purge point for the standby.
    max_retained: u64,
}

/// A reader of the log, for openraft's replication tasks (cheap to clone).
#[derive(Clone)]
pub struct LogReader {
    log: RaftLog,
    visible_from: Arc<AtomicU64>,
}

impl LogStore {
    /// The log store kept in `store`'s database. Starts the group-commit flusher thread (it stops
    /// when the log store is dropped).
    pub fn new(store: &Store) -> std::result::Result<LogStore, StoreError> {
        let log = RaftLog::open(store)?;
        // Entries below the purge point are invisible; those past the retention bound (or left
        // by a crash in the middle of a purge) are deleted.
        let mut visible_from = 0;
        if let Some(purged) = log.value(PURGED)? {
            let purged: typ::LogId = decode(&purged)?;
            visible_from = purged.index + 1;
            if let Some(bound) = purged.index.checked_sub(MAX_RETAINED) {
                log.purge_up_to(bound)?;
            }
        }
        let flush_log = log.clone();
        let flusher = Flusher::start("raft-log-flush", move || {
            flush_log.flush().map_err(|e| io::Error::other(e.to_string()))
        })
        .map_err(|e| StoreError::Corrupt(format!("cannot start the log flusher thread: {e}")))?;
        Ok(LogStore {
            log,
            flusher,
            visible_from: Arc::new(AtomicU64::new(visible_from)),
            retention: Arc::new(AtomicU64::new(u64::MAX)),
            max_retained: MAX_RETAINED,
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

    /// How many group-commit flushes have acknowledged appends so far (for metrics and tests).
    pub fn flushes(&self) -> u64 {
        self.flusher.flushes()
    }

    /// How many appends those flushes have acknowledged.
    pub fn flushed_appends(&self) -> u64 {
        self.flusher.completions()
    }

    /// Writes `entries` (readable when this returns) and queues `done` to run once a flush that
    /// covers them has completed.
    pub(crate) fn append_then(
        &self,
        entries: impl IntoIterator<Item = typ::Entry>,
        done: Completion,
    ) -> Result<()> {
        let write = |e: StoreError| sto_err(ErrorSubject::Logs, ErrorVerb::Write, &e);
        let mut batch = Vec::new();
        for entry in entries {
            batch.push((entry.log_id.index, encode(&entry).map_err(write)?));
        }
        self.log.append(batch).map_err(write)?;
        // Only now, with the entries written, may a flush that acknowledges them start.
        if self.flusher.enqueue(done).is_err() {
            return Err(write(StoreError::Corrupt("the log flusher thread has stopped".into())));
        }
        Ok(())
    }

    fn read_value<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        subject: ErrorSubject<NodeId>,
    ) -> Result<Option<T>> {
        let read = |e: StoreError| sto_err(subject.clone(), ErrorVerb::Read, &e);
        self.log.value(name).map_err(read)?.map(|v| decode(&v)).transpose().map_err(read)
    }

    fn write_value<T: serde::Serialize>(
        &self,
        name: &str,
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> Result<()> {
        let bytes = encode(value).map_err(|e| sto_err(subject.clone(), ErrorVerb::Write, &e))?;
        self.log.set_values(&[(name, &bytes)]).map_err(|e| sto_err(subject, ErrorVerb::Write, &e))
    }

    async fn flush(&self, subject: ErrorSubject<NodeId>) -> Result<()> {
        self.log.flush_async().await.map_err(|e| sto_err(subject, ErrorVerb::Write, &e))
    }
}

/// Reads the visible entries in `range` (missing ones are skipped, as openraft allows).
fn read_entries(
    log: &RaftLog,
    visible_from: u64,
    range: impl RangeBounds<u64>,
    max_bytes: usize,
) -> Result<Vec<typ::Entry>> {
    let read = |e: StoreError| sto_err(ErrorSubject::Logs, ErrorVerb::Read, &e);
    let start = match range.start_bound() {
        Bound::Included(&i) => i.max(visible_from),
        Bound::Excluded(&i) => (i + 1).max(visible_from),
        Bound::Unbounded => visible_from,
    };
    let raw = log
        .range_bytes((Bound::Included(start), range.end_bound().cloned()), usize::MAX, max_bytes)
        .map_err(read)?;
    let mut entries = Vec::with_capacity(raw.len());
    for (index, bytes) in raw {
        let entry: typ::Entry = decode(&bytes).map_err(read)?;
        if entry.log_id.index != index {
            return Err(read(StoreError::Corrupt(format!(
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
        read_entries(&self.log, self.visible_from.load(Ordering::SeqCst), range, usize::MAX)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let last_purged: Option<typ::LogId> = self.read_value(PURGED, ErrorSubject::Logs)?;
        let read = |e: StoreError| sto_err(ErrorSubject::Logs, ErrorVerb::Read, &e);
        let last_entry = match self.log.last().map_err(read)? {
            Some((_, bytes)) => Some(decode::<typ::Entry>(&bytes).map_err(read)?.log_id),
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
        LogReader { log: self.log.clone(), visible_from: self.visible_from.clone() }
    }

    async fn save_vote(&mut self, vote: &typ::Vote) -> Result<()> {
        self.write_value(VOTE, vote, ErrorSubject::Vote)?;
        self.flush(ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<typ::Vote>> {
        self.read_value(VOTE, ErrorSubject::Vote)
    }

    async fn save_committed(&mut self, committed: Option<typ::LogId>) -> Result<()> {
        // Not flushed: see the module docs of `raft`.
        self.write_value(COMMITTED, &committed, ErrorSubject::Store)
    }

    async fn read_committed(&mut self) -> Result<Option<typ::LogId>> {
        Ok(self.read_value::<Option<typ::LogId>>(COMMITTED, ErrorSubject::Store)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = typ::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_then(entries, Box::new(move |r| callback.log_io_completed(r)))
    }

    async fn truncate(&mut self, log_id: typ::LogId) -> Result<()> {
        self.log
            .truncate_from(log_id.index)
            .map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))?;
        self.flush(ErrorSubject::Logs).await
    }

    async fn purge(&mut self, log_id: typ::LogId) -> Result<()> {
        // The purge point first: a crash before the deletion leaves stale entries below it
        // (removed at the next open), never a log that seems to start later than it does.
        self.write_value(PURGED, &log_id, ErrorSubject::Logs)?;
        self.visible_from.fetch_max(log_id.index + 1, Ordering::SeqCst);
        let floor = self
            .retention
            .load(Ordering::SeqCst)
            .max(log_id.index.saturating_sub(self.max_retained));
        self.log
            .purge_up_to(log_id.index.min(floor))
            .map_err(|e| sto_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))?;
        self.flush(ErrorSubject::Logs).await
    }
}
