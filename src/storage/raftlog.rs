//! The raft log and raft metadata on sled, as bytes.
//!
//! Raft needs a durable log (entries by index) and a few durable values (the vote, the committed
//! position, the last purged position, the current snapshot). They live in the node's one sled
//! database, beside the state machine, in two trees of their own:
//!
//! | tree        | key                       | value                                  |
//! |-------------|---------------------------|----------------------------------------|
//! | `raft_log`  | log index, u64 big-endian | one encoded log entry                  |
//! | `raft_meta` | a name (UTF-8)            | an encoded value (vote, committed, ...) |
//!
//! Big-endian keys sort like the indexes they encode, so a range of indexes is a range scan and
//! the last entry is the tree's last key.
//!
//! This module knows nothing of openraft: it stores opaque bytes. The `raft` layer encodes
//! openraft's types and decides what must be durable when. What this module promises:
//!
//! - Writes reach sled in the order they are made. Each call is atomic on its own tree (one sled
//!   batch): a crash never leaves half an `append` or half a truncation.
//! - [`RaftLog::flush`] / [`RaftLog::flush_async`] make *every* write made before the call durable,
//!   in every tree of the database (sled's flush is database-wide), including the state
//!   machine's. sled assigns its log positions in the order writes are made and recovers a prefix
//!   of its log after a crash, so a write that survives a crash implies every earlier write
//!   survived too. The raft layer relies on this for the writes it does not flush itself.
//!
//! sled failures are [`StorageError`]s: the node must stop rather than guess.

use super::{StorageError, Store};
use std::ops::{Bound, RangeBounds};

/// The log and metadata trees of a store.
#[derive(Clone)]
pub struct RaftLog {
    db: sled::Db,
    log: sled::Tree,
    meta: sled::Tree,
}

/// The key of log index `index`.
fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The index a log key encodes.
fn index_of(key: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        StorageError::Corrupt(format!("a raft log key has {} bytes, not 8", key.len()))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

impl RaftLog {
    /// Opens (or creates) the raft trees in `store`'s database.
    pub fn open(store: &Store) -> Result<RaftLog, StorageError> {
        let db = store.db().clone();
        let log = db.open_tree("raft_log")?;
        let meta = db.open_tree("raft_meta")?;
        Ok(RaftLog { db, log, meta })
    }

    /// Writes entries `(index, bytes)`, replacing any entry already at those indexes. One atomic
    /// batch; not yet durable (see [`RaftLog::flush`]).
    pub fn append(
        &self,
        entries: impl IntoIterator<Item = (u64, Vec<u8>)>,
    ) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for (index, bytes) in entries {
            batch.insert(&key(index), bytes);
        }
        self.log.apply_batch(batch)?;
        Ok(())
    }

    /// The entry at `index`, if present.
    pub fn get(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.log.get(key(index))?.map(|v| v.to_vec()))
    }

    /// The entries whose indexes are in `range`, in index order, at most `limit` of them.
    pub fn range(
        &self,
        range: impl RangeBounds<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        self.range_bytes(range, limit, usize::MAX)
    }

    /// [`RaftLog::range`], stopping once the entries read reach `max_bytes` (the first entry is
    /// always read, however large).
    pub fn range_bytes(
        &self,
        range: impl RangeBounds<u64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => Bound::Included(key(i)),
            Bound::Excluded(&i) => Bound::Excluded(key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Bound::Included(key(i)),
            Bound::Excluded(&i) => Bound::Excluded(key(i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for kv in self.log.range::<[u8; 8], _>((start, end)).take(limit) {
            if bytes >= max_bytes {
                break;
            }
            let (k, v) = kv?;
            bytes += v.len();
            out.push((index_of(&k)?, v.to_vec()));
        }
        Ok(out)
    }

    /// The entry with the lowest index, if any.
    pub fn first(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        match self.log.first()? {
            Some((k, v)) => Ok(Some((index_of(&k)?, v.to_vec()))),
            None => Ok(None),
        }
    }

    /// The entry with the highest index, if any.
    pub fn last(&self) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        match self.log.last()? {
            Some((k, v)) => Ok(Some((index_of(&k)?, v.to_vec()))),
            None => Ok(None),
        }
    }

    /// The number of entries (a full scan: for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.log.len()
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Deletes every entry at `index` or above. One atomic batch; not yet durable.
    pub fn truncate_from(&self, index: u64) -> Result<(), StorageError> {
        self.remove_range(key(index)..)
    }

    /// Deletes every entry at `index` or below. One atomic batch; not yet durable.
    pub fn purge_up_to(&self, index: u64) -> Result<(), StorageError> {
        self.remove_range(..=key(index))
    }

    fn remove_range(&self, range: impl RangeBounds<[u8; 8]>) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for k in self.log.range(range).keys() {
            batch.remove(k?);
        }
        self.log.apply_batch(batch)?;
        Ok(())
    }

    /// The metadata value `name`, if set.
    pub fn value(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.meta.get(name)?.map(|v| v.to_vec()))
    }

    /// Sets metadata values, all in one atomic batch; not yet durable.
    pub fn set_values(&self, values: &[(&str, &[u8])]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for (name, bytes) in values {
            batch.insert(name.as_bytes(), *bytes);
        }
        self.meta.apply_batch(batch)?;
        Ok(())
    }

    /// Makes every write made so far durable, in the whole database. Blocks the calling thread
    /// (use it from a dedicated thread, or use [`RaftLog::flush_async`]).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    /// [`RaftLog::flush`] without blocking the caller's thread (sled runs it on its own pool).
    pub async fn flush_async(&self) -> Result<(), StorageError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<u8>)> {
        range.map(|i| (i, format!("e{i}").into_bytes())).collect()
    }

    fn indexes(v: &[(u64, Vec<u8>)]) -> Vec<u64> {
        v.iter().map(|(i, _)| *i).collect()
    }

    #[test]
    fn append_read_truncate_purge() {
        let store = Store::temporary().unwrap();
        let log = RaftLog::open(&store).unwrap();
        assert!(log.is_empty());
        assert_eq!(log.last().unwrap(), None);
        // Indexes above 255 check that keys sort numerically (big-endian).
        log.append(entries(250..=260)).unwrap();
        assert_eq!(log.len(), 11);
        assert_eq!(log.first().unwrap().unwrap().0, 250);
        assert_eq!(log.last().unwrap(), Some((260, b"e260".to_vec())));
        assert_eq!(log.get(256).unwrap(), Some(b"e256".to_vec()));
        assert_eq!(indexes(&log.range(254..258, usize::MAX).unwrap()), vec![254, 255, 256, 257]);
        assert_eq!(indexes(&log.range(254..=258, 2).unwrap()), vec![254, 255]);
        assert_eq!(indexes(&log.range(..252, usize::MAX).unwrap()), vec![250, 251]);
        assert_eq!(log.range(300.., usize::MAX).unwrap(), vec![]);
        // Each entry here is 4 bytes: the read stops once the bytes reach the bound, and always
        // returns at least one entry.
        assert_eq!(indexes(&log.range_bytes(250.., usize::MAX, 8).unwrap()), vec![250, 251]);
        assert_eq!(indexes(&log.range_bytes(250.., usize::MAX, 9).unwrap()), vec![250, 251, 252]);
        assert_eq!(indexes(&log.range_bytes(250.., usize::MAX, 1).unwrap()), vec![250]);
        assert_eq!(indexes(&log.range_bytes(250.., 1, 100).unwrap()), vec![250]);

        log.truncate_from(258).unwrap();
        assert_eq!(log.last().unwrap().unwrap().0, 257);
        log.append(vec![(258, b"new".to_vec())]).unwrap();
        assert_eq!(log.get(258).unwrap(), Some(b"new".to_vec()));

        log.purge_up_to(255).unwrap();
        assert_eq!(indexes(&log.range(.., usize::MAX).unwrap()), vec![256, 257, 258]);
        log.purge_up_to(1_000).unwrap();
        assert!(log.is_empty());
    }

    #[test]
    fn values_are_set_together_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let log = RaftLog::open(&store).unwrap();
            assert_eq!(log.value("vote").unwrap(), None);
            log.set_values(&[("vote", b"v1"), ("committed", b"c1")]).unwrap();
            log.append(entries(1..=3)).unwrap();
            log.flush().unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let log = RaftLog::open(&store).unwrap();
        assert_eq!(log.value("vote").unwrap(), Some(b"v1".to_vec()));
        assert_eq!(log.value("committed").unwrap(), Some(b"c1".to_vec()));
        assert_eq!(indexes(&log.range(.., usize::MAX).unwrap()), vec![1, 2, 3]);
    }
}
