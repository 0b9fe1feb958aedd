//! The raft state machine: the twin graph, with raft's bookkeeping in the same atomic writes.
//!
//! Applying an entry is [`Store::apply_entry`]: the command's effects, the raft log id it was
//! applied at (`raft_applied`) and, for a membership entry, the membership (`raft_membership`) go
//! into one sled batch, so after any crash the graph, the applied position and the membership
//! agree. A normal entry answers its command's [`Outcome`](crate::storage::Outcome) unchanged
//! (the API layer maps it); blank and membership entries answer `Ok(Reply::Done)`.
//!
//! A `StorageError` from apply is not an answer: it goes back to openraft as its own
//! `StorageError`, and openraft stops the node (see the [module docs](super)).
//!
//! Snapshots are the store's consistent copies ([`Store::snapshot_with_meta`]), taken with apply
//! held off; the raft metas are read in that same cut, and they are also *inside* the data (they
//! live in the state machine's tree), so installing a snapshot restores them with the graph. The
//! current snapshot survives a restart: its bytes in a file beside the database (sled copes badly
//! with values of hundreds of megabytes), its meta in the raft metadata tree, written after the
//! file is durable; it is only ever replaced by a snapshot at least as recent.

// openraft's storage traits return its `StorageError` (over 200 bytes) by value; the helpers
// here return what the traits return.
#![allow(clippy::result_large_err)]

use super::{TypeConfig, sto_err, typ};
use crate::storage::codec::{decode, encode};
use crate::storage::{RaftLog, Reply, StorageError as StoreError, Store};
use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder, StorageIOError,
};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The state machine meta holding the last applied raft log id (`LogId`).
pub(crate) const RAFT_APPLIED: &str = "raft_applied";
/// The state machine meta holding the last applied membership (`StoredMembership`).
pub(crate) const RAFT_MEMBERSHIP: &str = "raft_membership";
/// The raft metadata value holding the current snapshot's meta (`CurrentSnapshot`).
const SNAPSHOT_META: &str = "snapshot_meta";

type Result<T> = std::result::Result<T, typ::StorageError>;

/// Runs blocking storage work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(sto_err(ErrorSubject::StateMachine, ErrorVerb::Write, &std::io::Error::other(e)))
    })
}

/// The twin graph as openraft's state machine.
pub struct StateMachine {
    store: Arc<Store>,
    snapshots: Snapshots,
}

/// Builds snapshots of the state machine, beside it.
pub struct SnapshotBuilder {
    store: Arc<Store>,
    snapshots: Snapshots,
}

/// Where the current snapshot is kept, shared by the state machine and its builders.
#[derive(Clone)]
struct Snapshots {
    log: RaftLog,
    /// Keeps the snapshot bytes (in files beside the database).
    store: Arc<Store>,
    /// Serializes "compare with the current snapshot, then replace it".
    lock: Arc<Mutex<()>>,
    /// The last snapshot sequence number used (persisted with each snapshot).
    seq: Arc<AtomicU64>,
}

/// The stored meta of the current snapshot.
#[derive(Serialize, Deserialize)]
struct CurrentSnapshot {
    meta: typ::SnapshotMeta,
    seq: u64,
}

impl StateMachine {
    /// The state machine over `store` (which also keeps its current snapshot).
    pub fn new(store: Arc<Store>) -> std::result::Result<StateMachine, StoreError> {
        let log = RaftLog::open(&store)?;
        let seq = match log.value(SNAPSHOT_META)? {
            Some(bytes) => decode::<CurrentSnapshot>(&bytes)?.seq,
            None => 0,
        };
        let snapshots = Snapshots {
            log,
            store: store.clone(),
            lock: Arc::new(Mutex::new(())),
            seq: Arc::new(AtomicU64::new(seq)),
        };
        Ok(StateMachine { store, snapshots })
    }

    /// The store underneath (for reads).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The last applied log id and membership, as stored.
    pub fn applied_state_now(&self) -> Result<(Option<typ::LogId>, typ::StoredMembership)> {
        let read = |e: StoreError| sto_err(ErrorSubject::StateMachine, ErrorVerb::Read, &e);
        let applied = self.store.meta(RAFT_APPLIED).map_err(read)?;
        let applied: Option<typ::LogId> = applied.map(|b| decode(&b)).transpose().map_err(read)?;
        let membership = self.store.meta(RAFT_MEMBERSHIP).map_err(read)?;
        let membership: Option<typ::StoredMembership> =
            membership.map(|b| decode(&b)).transpose().map_err(read)?;
        Ok((applied, membership.unwrap_or_default()))
    }

    /// Applies one entry; its answer.
    fn apply_one(&self, entry: typ::Entry) -> Result<crate::storage::Outcome> {
        let log_id = entry.log_id;
        let fail = |e: StoreError| -> typ::StorageError {
            StorageIOError::apply(log_id, openraft::AnyError::new(&e)).into()
        };
        let applied = encode(&log_id).map_err(fail)?;
        match entry.payload {
            EntryPayload::Blank => {
                self.store
                    .apply_entry(log_id.index, None, &[(RAFT_APPLIED, applied)])
                    .map_err(fail)?;
                Ok(Ok(Reply::Done))
            }
            EntryPayload::Normal(cmd) => {
                let outcome = self
                    .store
                    .apply_entry(log_id.index, Some(&cmd), &[(RAFT_APPLIED, applied)])
                    .map_err(fail)?;
                outcome.ok_or_else(|| fail(StoreError::Corrupt("a command gave no outcome".into())))
            }
            EntryPayload::Membership(m) => {
                let stored = typ::StoredMembership::new(Some(log_id), m);
                let membership = encode(&stored).map_err(fail)?;
                let metas = [(RAFT_APPLIED, applied), (RAFT_MEMBERSHIP, membership)];
                self.store.apply_entry(log_id.index, None, &metas).map_err(fail)?;
                Ok(Ok(Reply::Done))
            }
        }
    }
}

impl Snapshots {
    /// Makes `meta`/`data` the current snapshot, unless the current one is more recent; durable
    /// when this returns. The file is written and synced on the blocking pool, which takes the
    /// data and hands it back (a snapshot is the whole graph: not copied for the trip).
    async fn save(&self, meta: &typ::SnapshotMeta, data: Vec<u8>, seq: u64) -> Result<Vec<u8>> {
        let this = self.clone();
        let meta = meta.clone();
        blocking(move || this.save_blocking(&meta, &data, seq).map(|()| data)).await
    }

    fn save_blocking(&self, meta: &typ::SnapshotMeta, data: &[u8], seq: u64) -> Result<()> {
        let write = |e: StoreError| {
            let e = openraft::AnyError::new(&e);
            typ::StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), e))
        };
        let stored = encode(&CurrentSnapshot { meta: meta.clone(), seq }).map_err(write)?;
        {
            let _current = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(bytes) = self.log.value(SNAPSHOT_META).map_err(write)? {
                let current: CurrentSnapshot = decode(&bytes).map_err(write)?;
                if current.meta.last_log_id > meta.last_log_id {
                    return Ok(());
                }
            }
            // The bytes first (durable, under their own sequence number), then the meta that
            // names them: a crash in between leaves the old snapshot current.
            self.store.write_snapshot_file(seq, data).map_err(write)?;
            self.log.set_values(&[(SNAPSHOT_META, &stored)]).map_err(write)?;
        }
        // Really durable (sled's own flush is not): the installed state and the meta naming it
        // must survive before openraft purges the log they replace.
        self.store.sync().map_err(write)?;
        self.store.remove_snapshot_files_except(seq);
        Ok(())
    }

    /// The current snapshot, if any.
    fn current(&self) -> Result<Option<typ::Snapshot>> {
        let read = |e: StoreError| sto_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, &e);
        let _current = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some(meta) = self.log.value(SNAPSHOT_META).map_err(read)? else { return Ok(None) };
        let meta: CurrentSnapshot = decode(&meta).map_err(read)?;
        let data = self.store.read_snapshot_file(meta.seq).map_err(read)?.ok_or_else(|| {
            read(StoreError::Corrupt(format!(
                "the current snapshot's file (number {}) is missing",
                meta.seq
            )))
        })?;
        Ok(Some(typ::Snapshot { meta: meta.meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<typ::Snapshot> {
        let read = |e: StoreError| sto_err(ErrorSubject::StateMachine, ErrorVerb::Read, &e);
        // The copy, its encoding and the file are blocking work: off the runtime's workers, so
        // that heartbeats, votes and replication keep running meanwhile (on two cores, a worker
        // busy for a second is a lost leader).
        let store = self.store.clone();
        let (_, metas, data) = blocking(move || {
            store.snapshot_with_meta(&[RAFT_APPLIED, RAFT_MEMBERSHIP]).map_err(read)
        })
        .await?;
        let mut metas = metas.into_iter();
        let last_log_id: Option<typ::LogId> =
            metas.next().flatten().map(|b| decode(&b)).transpose().map_err(read)?;
        let last_membership: Option<typ::StoredMembership> =
            metas.next().flatten().map(|b| decode(&b)).transpose().map_err(read)?;
        let seq = self.snapshots.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let snapshot_id = match &last_log_id {
            Some(l) => format!("{}-{}-{}-{seq}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => format!("none-{seq}"),
        };
        let meta = typ::SnapshotMeta {
            last_log_id,
            last_membership: last_membership.unwrap_or_default(),
            snapshot_id,
        };
        let data = self.snapshots.save(&meta, data, seq).await?;
        Ok(typ::Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<typ::LogId>, typ::StoredMembership)> {
        self.applied_state_now()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<crate::storage::Outcome>>
    where
        I: IntoIterator<Item = typ::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        entries.into_iter().map(|e| self.apply_one(e)).collect()
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder { store: self.store.clone(), snapshots: self.snapshots.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &typ::SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let fail = |e: StoreError| {
            let e = openraft::AnyError::new(&e);
            typ::StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), e))
        };
        let data = snapshot.into_inner();
        self.store.install_snapshot(&data).map_err(fail)?;
        // The raft metas came with the data; they must be what the leader says the snapshot is.
        let (applied, membership) = self.applied_state_now()?;
        if applied != meta.last_log_id || membership != meta.last_membership {
            return Err(fail(StoreError::Corrupt(format!(
                "snapshot {} says it is at {:?} with membership {:?}, but its data is at {:?} \
                 with membership {:?}",
                meta.snapshot_id, meta.last_log_id, meta.last_membership, applied, membership
            ))));
        }
        let seq = self.snapshots.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // Durable (with the installed state, by the same flush) before openraft purges the log.
        self.snapshots.save(meta, data, seq).await.map(drop)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<typ::Snapshot>> {
        self.snapshots.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId};

    fn meta(index: u64, id: &str) -> typ::SnapshotMeta {
        typ::SnapshotMeta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), index)),
            last_membership: Default::default(),
            snapshot_id: id.into(),
        }
    }

    #[tokio::test]
    async fn an_older_snapshot_never_replaces_a_newer_one() {
        let sm = StateMachine::new(Arc::new(Store::temporary().unwrap())).unwrap();
        assert!(sm.snapshots.current().unwrap().is_none());
        sm.snapshots.save(&meta(10, "a"), b"ten".to_vec(), 1).await.unwrap();
        // E.g. a builder that started before a newer snapshot was installed.
        sm.snapshots.save(&meta(5, "b"), b"five".to_vec(), 2).await.unwrap();
        let current = sm.snapshots.current().unwrap().unwrap();
        assert_eq!(current.meta, meta(10, "a"));
        assert_eq!(current.snapshot.into_inner(), b"ten");
        sm.snapshots.save(&meta(10, "c"), b"ten again".to_vec(), 3).await.unwrap();
        assert_eq!(sm.snapshots.current().unwrap().unwrap().meta, meta(10, "c"));
    }
}
