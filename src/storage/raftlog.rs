//! Raft's metadata that belongs with the state machine, in a sled tree of its own.
//!
//! The raft log, the vote and the committed position are in the raft WAL (`raft::wal`), not here.
//! What stays in sled is what must agree with the state machine: the current snapshot's meta
//! (`raft::state_machine`), in the `raft_meta` tree, as named encoded values:
//!
//! | tree        | key            | value                 |
//! |-------------|----------------|-----------------------|
//! | `raft_meta` | a name (UTF-8) | an encoded value      |
//!
//! Databases written before the WAL hold their raft log in a `raft_log` tree (and the vote in
//! `raft_meta`); [`legacy_log_present`] tells the raft layer so it can refuse to start such a node
//! with an empty WAL — it would have forgotten its vote.
//!
//! This module knows nothing of openraft: it stores opaque bytes. A write is atomic (one sled
//! batch) and durable after a flush, like every sled write (see [`Store::sync`] for what a flush
//! does and does not promise). sled failures are [`StorageError`]s: the node must stop rather than
//! guess.

use super::{StorageError, Store};

/// The raft metadata tree of a store.
#[derive(Clone)]
pub struct RaftLog {
    db: sled::Db,
    meta: sled::Tree,
}

impl RaftLog {
    /// Opens (or creates) the raft metadata tree in `store`'s database.
    pub fn open(store: &Store) -> Result<RaftLog, StorageError> {
        let db = store.db().clone();
        let meta = db.open_tree("raft_meta")?;
        Ok(RaftLog { db, meta })
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

    /// Flushes every write made so far, in the whole database, without blocking the caller's
    /// thread (sled runs it on its own pool).
    pub async fn flush_async(&self) -> Result<(), StorageError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

/// Whether `store` holds a non-empty raft log from before the WAL (a `raft_log` tree).
pub fn legacy_log_present(store: &Store) -> Result<bool, StorageError> {
    let db = store.db();
    if !db.tree_names().iter().any(|n| n.as_ref() == b"raft_log") {
        return Ok(false);
    }
    Ok(!db.open_tree("raft_log")?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_are_set_together_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            let meta = RaftLog::open(&store).unwrap();
            assert_eq!(meta.value("snapshot_meta").unwrap(), None);
            meta.set_values(&[("snapshot_meta", b"s1"), ("other", b"o1")]).unwrap();
            meta.flush_async().await.unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let meta = RaftLog::open(&store).unwrap();
        assert_eq!(meta.value("snapshot_meta").unwrap(), Some(b"s1".to_vec()));
        assert_eq!(meta.value("other").unwrap(), Some(b"o1".to_vec()));
    }

    #[test]
    fn a_legacy_raft_log_is_noticed() {
        let store = Store::temporary().unwrap();
        assert!(!legacy_log_present(&store).unwrap());
        assert!(!legacy_log_present(&store).unwrap(), "asking creates no tree");
        store.db().open_tree("raft_log").unwrap().insert(1u64.to_be_bytes(), b"e1").unwrap();
        assert!(legacy_log_present(&store).unwrap());
    }
}
