//! Tests of the storage side of raft: openraft's conformance suite, restarts, group commit, the
//! purge barrier and retention, snapshots of a real twin graph, and the encoding of openraft's
//! types. (The WAL's own crash tests are in `wal::tests`.)

use super::*;
use crate::model::etag::Origin;
use crate::model::time::Timestamp;
use crate::storage::tests::{MODELS, put};
use crate::storage::{Command, Op, Precondition, Reply, RequestId, Store};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, RaftLogReader, RaftSnapshotBuilder};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tempfile::TempDir;

fn log_id(term: u64, index: u64) -> typ::LogId {
    openraft::LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn blank(term: u64, index: u64) -> typ::Entry {
    typ::Entry { log_id: log_id(term, index), payload: EntryPayload::Blank }
}

fn members(voters: &[u64]) -> typ::Membership {
    let nodes: BTreeMap<u64, NodeInfo> = voters
        .iter()
        .map(|&id| (id, NodeInfo::new(format!("http://127.0.0.1:{}", 7000 + id))))
        .collect();
    typ::Membership::new(vec![voters.iter().copied().collect::<BTreeSet<_>>()], nodes)
}

fn membership(term: u64, index: u64, voters: &[u64]) -> typ::Entry {
    typ::Entry { log_id: log_id(term, index), payload: EntryPayload::Membership(members(voters)) }
}

fn command(index: u64, op: Op) -> Command {
    Command {
        request: None,
        time: Timestamp(1_700_000_000_000_000_000 + index),
        epoch: 1,
        origin: None,
        op,
    }
}

fn normal(term: u64, index: u64, op: Op) -> typ::Entry {
    typ::Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(command(index, op)) }
}

fn sensor(id: &str) -> Op {
    put(id, json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": "co2"}))
}

/// A graph's worth of entries from `from` to `to` (inclusive), term 1: a membership entry at 0,
/// the models at 1, then twins `t{index}`.
fn graph_entries(from: u64, to: u64) -> Vec<typ::Entry> {
    (from..=to)
        .map(|i| match i {
            0 => membership(1, 0, &[1, 2, 3]),
            1 => normal(1, 1, Op::AddModels { json: MODELS.into() }),
            i => normal(1, i, sensor(&format!("t{i}"))),
        })
        .collect()
}

/// The log store and state machine of a node whose data directory is `dir` (sled in `db/`, the
/// WAL in `wal/`, as a node has them).
fn storage_pair(dir: &Path) -> (LogStore, StateMachine) {
    let store = Store::open(&dir.join("db"), 16 << 20).unwrap();
    open(Arc::new(store), &dir.join("wal")).unwrap()
}

/// A log store and state machine over a temporary store and WAL (deleted with the `TempDir`).
fn temporary_pair() -> (LogStore, StateMachine, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (log, sm) = open(Arc::new(Store::temporary().unwrap()), dir.path()).unwrap();
    (log, sm, dir)
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), typ::StorageError> {
        let (log, sm, dir) = temporary_pair();
        Ok((dir, log, sm))
    }
}

/// A data directory whose raft log (and vote) are still in sled is refused while it has no WAL.
#[test]
fn a_data_directory_from_before_the_wal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::temporary().unwrap());
    store.db().open_tree("raft_log").unwrap().insert(7u64.to_be_bytes(), b"old").unwrap();
    let wal_dir = dir.path().join("wal");
    let err = open(store.clone(), &wal_dir).err().expect("refused");
    assert!(err.to_string().contains("before the raft WAL"), "{err}");
    assert!(!wal_dir.exists());
    std::fs::create_dir(&wal_dir).unwrap();
    assert!(open(store, &wal_dir).is_ok(), "a node that has a WAL starts");
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

#[tokio::test]
async fn vote_log_committed_and_applied_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot_meta;
    let fingerprint;
    {
        let (mut log, mut sm) = storage_pair(dir.path());
        log.save_vote(&typ::Vote::new_committed(3, 1)).await.unwrap();
        log.blocking_append(graph_entries(0, 20)).await.unwrap();
        log.save_committed(Some(log_id(1, 15))).await.unwrap();
        sm.apply(graph_entries(0, 10)).await.unwrap();
        snapshot_meta = sm.get_snapshot_builder().await.build_snapshot().await.unwrap().meta;
        let replies = sm.apply(graph_entries(11, 15)).await.unwrap();
        assert!(replies.iter().all(|r| matches!(r, Ok(Reply::Twin { .. }))), "{replies:?}");
        log.purge(log_id(1, 4)).await.unwrap();
        fingerprint = sm.store().fingerprint().unwrap();
        // Make the unflushed writes (committed, apply) durable too, as time would.
        sm.store().flush().unwrap();
    }
    let (mut log, mut sm) = storage_pair(dir.path());
    assert_eq!(log.read_vote().await.unwrap(), Some(typ::Vote::new_committed(3, 1)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
    assert_eq!(state.last_log_id, Some(log_id(1, 20)));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 15)));
    let entries = log.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(entries.first().unwrap().log_id, log_id(1, 5));
    assert_eq!(entries, graph_entries(5, 20));
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 15)));
    assert_eq!(membership, typ::StoredMembership::new(Some(log_id(1, 0)), members(&[1, 2, 3])));
    assert_eq!(sm.store().fingerprint().unwrap(), fingerprint);
    assert_eq!(sm.store().applied_index(), 15);
    assert!(sm.store().twin("t15").unwrap().is_some());
    let current = sm.get_current_snapshot().await.unwrap().expect("the snapshot survives");
    assert_eq!(current.meta, snapshot_meta);
    // Applying goes on where it stopped.
    sm.apply(graph_entries(16, 16)).await.unwrap();
    assert!(sm.store().twin("t16").unwrap().is_some());
}

/// One AppendEntries carries about `MAX_APPEND_BYTES` of entries, never nothing: a follower far
/// behind on large entries (whole shipped batches on a standby) is sent them in pieces that fit in
/// openraft's one-heartbeat timeout.
#[tokio::test]
async fn appends_to_a_follower_are_bounded_in_bytes() {
    let (mut log, _sm, _dir) = temporary_pair();
    let big = |i: u64| {
        let kind = "x".repeat(300 << 10);
        normal(
            1,
            i,
            put(
                &format!("t{i}"),
                json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": kind}),
            ),
        )
    };
    log.blocking_append((1..=10).map(big)).await.unwrap();
    let mut reader = log.get_log_reader().await;
    let sent = reader.limited_get_log_entries(1, 11).await.unwrap();
    let indexes: Vec<u64> = sent.iter().map(|e| e.log_id.index).collect();
    // 300 KiB each: the fourth reaches 1 MiB, so four are sent, from the first on.
    assert_eq!(indexes, vec![1, 2, 3, 4]);
    // Small entries all go at once; one entry above the bound still goes alone.
    log.blocking_append(graph_entries(11, 20)).await.unwrap();
    let small = reader.limited_get_log_entries(11, 21).await.unwrap();
    assert_eq!(small.len(), 10);
    let one = reader.limited_get_log_entries(10, 11).await.unwrap();
    assert_eq!(one.len(), 1);
    // Reading everything is not limited.
    assert_eq!(reader.try_get_log_entries(1..21).await.unwrap().len(), 20);
}

/// Runs the test `name` of this binary again in a child process with `env` set to a new data
/// directory (the test's crash half, which ends in `abort`); the directory, for the checks.
fn crash_child(name: &str, env: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have crashed");
    dir
}

/// Set in the child process of [`acknowledged_vote_and_appends_survive_a_crash`]: its data dir.
const CRASH_DIR: &str = "TWINSTORE_RAFT_CRASH_TEST_DIR";

/// Saves a vote and appends entries, and the moment both are acknowledged, the process dies
/// (`abort`: no destructor, no exit flush — sled's unflushed buffers die with it). Everything
/// acknowledged must be there after a restart.
#[test]
fn acknowledged_vote_and_appends_survive_a_crash() {
    if let Some(dir) = std::env::var_os(CRASH_DIR) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let (mut log, _sm) = storage_pair(dir.as_ref());
            log.save_vote(&typ::Vote::new(7, 2)).await.unwrap();
            log.blocking_append(graph_entries(0, 50)).await.unwrap();
            std::process::abort();
        });
    }
    let dir = crash_child("raft::tests::acknowledged_vote_and_appends_survive_a_crash", CRASH_DIR);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut log, _sm) = storage_pair(dir.path());
        assert_eq!(log.read_vote().await.unwrap(), Some(typ::Vote::new(7, 2)));
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(log_id(1, 50)));
        assert_eq!(log.try_get_log_entries(0..).await.unwrap(), graph_entries(0, 50));
    });
}

/// Set in the child process of [`a_crash_between_the_wal_sync_and_the_apply_reapplies_once`].
const APPLY_CRASH_DIR: &str = "TWINSTORE_RAFT_APPLY_CRASH_TEST_DIR";

/// The log is synced and committed through 30, sled has been made durable through 10 and has
/// applied (but not flushed) through 30 when the process dies. After the restart the state
/// machine says how far sled really got, openraft re-applies the rest from the WAL (done here by
/// hand, as openraft does it: from the applied index to the committed one), and the graph is
/// exactly that of a node that applied every entry once — whatever part of sled's unflushed
/// writes survived the crash.
#[test]
fn a_crash_between_the_wal_sync_and_the_apply_reapplies_once() {
    if let Some(dir) = std::env::var_os(APPLY_CRASH_DIR) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let (mut log, mut sm) = storage_pair(dir.as_ref());
            log.blocking_append(graph_entries(0, 30)).await.unwrap();
            log.save_committed(Some(log_id(1, 30))).await.unwrap();
            sm.apply(graph_entries(0, 10)).await.unwrap();
            sm.store().sync().unwrap();
            sm.apply(graph_entries(11, 30)).await.unwrap();
            std::process::abort();
        });
    }
    let dir = crash_child(
        "raft::tests::a_crash_between_the_wal_sync_and_the_apply_reapplies_once",
        APPLY_CRASH_DIR,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut log, mut sm) = storage_pair(dir.path());
        let (applied, _) = sm.applied_state().await.unwrap();
        let applied = applied.expect("sled was made durable through 10").index;
        assert!((10..=30).contains(&applied), "applied {applied}");
        let committed = log.read_committed().await.unwrap().expect("committed survives").index;
        assert_eq!(committed, 30);
        let rest = log.try_get_log_entries(applied + 1..committed + 1).await.unwrap();
        assert_eq!(rest, graph_entries(applied + 1, 30));
        let replies = sm.apply(rest).await.unwrap();
        assert!(replies.iter().all(|r| matches!(r, Ok(Reply::Twin { .. }))), "{replies:?}");
        // A node that never crashed, applying each entry once.
        let (_log, mut once, _tmp) = temporary_pair();
        once.apply(graph_entries(0, 30)).await.unwrap();
        assert_eq!(sm.store().applied_index(), 30);
        assert_eq!(sm.store().fingerprint().unwrap(), once.store().fingerprint().unwrap());
        for i in 2..=30 {
            let id = format!("t{i}");
            let doc = sm.store().twin(&id).unwrap().expect("every twin is there");
            assert_eq!(Some(doc), once.store().twin(&id).unwrap(), "{id}: same document and ETag");
        }
    });
}

#[tokio::test]
async fn appends_are_acknowledged_only_after_a_shared_flush() {
    let (log, _sm, _dir) = temporary_pair();
    let (tx, rx) = mpsc::channel();
    let appends = 300u64;
    for i in 0..appends {
        let tx = tx.clone();
        log.append_then([blank(1, i)], Box::new(move |r| tx.send((i, r.is_ok())).unwrap()))
            .unwrap();
    }
    let mut acked = Vec::new();
    for _ in 0..appends {
        acked.push(rx.recv_timeout(Duration::from_secs(10)).unwrap());
    }
    assert_eq!(acked, (0..appends).map(|i| (i, true)).collect::<Vec<_>>(), "all, in order");
    assert_eq!(log.flushed_appends(), appends);
    assert!(log.flushes() >= 1);
    assert!(log.flushes() < appends, "{} flushes for {appends} appends", log.flushes());
}

/// A purge point that reached the WAL while the segments it allows to delete did not go (a crash
/// in between, or retention for the standby): the entries below it stay invisible to openraft.
#[tokio::test]
async fn entries_below_the_purge_point_stay_invisible_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _sm) = storage_pair(dir.path());
        log.blocking_append(graph_entries(0, 9)).await.unwrap();
    }
    {
        let wal = wal::Wal::open(dir.path().join("wal"), wal::Options::default()).unwrap();
        let purged = crate::storage::codec::encode(&log_id(1, 5)).unwrap();
        wal.purge(5, &purged).unwrap();
        wal.sync().unwrap();
    }
    let (mut log, _sm) = storage_pair(dir.path());
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)));
    assert_eq!(state.last_log_id, Some(log_id(1, 9)));
    assert_eq!(log.try_get_log_entries(0..100).await.unwrap(), graph_entries(6, 9));
    let shipped = log.shipping_reader().read(0, 100, 100, usize::MAX).unwrap();
    assert_eq!(shipped.len(), 10, "the shipper still reads the retained entries");
}

/// A log store over a WAL with small segments and a barrier that counts its calls (and fails on
/// demand).
fn counted_log_store(dir: &Path) -> (LogStore, Arc<AtomicU64>, Arc<std::sync::atomic::AtomicBool>) {
    let calls = Arc::new(AtomicU64::new(0));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (c, f) = (calls.clone(), fail.clone());
    let barrier: Barrier = Arc::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
        if f.load(Ordering::SeqCst) {
            return Err(crate::storage::StorageError::Io("the disk is full".into()));
        }
        Ok(())
    });
    let wal = wal::Wal::open(dir, wal::Options { segment_bytes: 2048 }).unwrap();
    (LogStore::with_wal(wal, barrier).unwrap(), calls, fail)
}

fn wal_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Every purge first makes the state machine durable (the barrier); a purge whose barrier fails
/// is never written, and stops the log store. Segments are deleted only up to the standby's retention floor, bounded by
/// `max_retained`, and never past the purge point.
#[tokio::test]
async fn purges_wait_for_the_barrier_and_keep_what_the_standby_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, barrier_calls, fail) = counted_log_store(dir.path());
    // One append per entry: a segment is cut between writes, never inside one.
    for entry in graph_entries(0, 200) {
        log.blocking_append([entry]).await.unwrap();
    }
    let segments = wal_files(dir.path());
    assert!(segments >= 10, "{segments} segments");

    // The barrier fails: the purge hides the entries at once, but is never written, and the
    // failure stops the log store at its next call.
    fail.store(true, Ordering::SeqCst);
    log.purge(log_id(1, 50)).await.unwrap();
    assert_eq!(log.try_get_log_entries(0..).await.unwrap(), graph_entries(51, 200));
    log.flush_purges().unwrap();
    assert_eq!(barrier_calls.load(Ordering::SeqCst), 1);
    let err = log.purge(log_id(1, 60)).await.unwrap_err();
    assert!(err.to_string().contains("the disk is full"), "{err}");
    assert!(log.blocking_append(graph_entries(201, 201)).await.is_err());
    assert_eq!(wal_files(dir.path()), segments, "nothing deleted");
    drop(log);
    let (mut log, barrier_calls, _) = counted_log_store(dir.path());
    assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, None, "nothing purged");
    assert_eq!(log.try_get_log_entries(0..).await.unwrap().len(), 201);

    // A standby that has confirmed index 20: entries above it stay on disk for the shipper.
    log.retention().store(20, Ordering::SeqCst);
    log.purge(log_id(1, 150)).await.unwrap();
    log.flush_purges().unwrap();
    assert_eq!(barrier_calls.load(Ordering::SeqCst), 1);
    assert_eq!(log.try_get_log_entries(0..).await.unwrap(), graph_entries(151, 200));
    let shipper = log.shipping_reader();
    assert_eq!(shipper.bounds(), Some((21, 200)), "the standby's next entry is kept");
    assert_eq!(shipper.read(0, 21, 10, usize::MAX).unwrap().len(), 1);
    let after_first = wal_files(dir.path());
    assert!(after_first < segments, "segments wholly below 21 deleted");

    // The standby catches up: the purged entries go (on disk, a whole segment at a time).
    log.retention().store(u64::MAX, Ordering::SeqCst);
    log.purge(log_id(1, 160)).await.unwrap();
    log.flush_purges().unwrap();
    assert_eq!(shipper.bounds(), Some((161, 200)));
    let after_second = wal_files(dir.path());
    assert!(after_second < after_first);

    // A standby far behind is given up on past `max_retained` entries.
    log.set_max_retained(10);
    log.retention().store(0, Ordering::SeqCst);
    log.purge(log_id(1, 190)).await.unwrap();
    log.flush_purges().unwrap();
    assert_eq!(barrier_calls.load(Ordering::SeqCst), 3, "one barrier per purge");
    assert_eq!(shipper.bounds(), Some((181, 200)));
    assert!(shipper.read(170, 200, 100, usize::MAX).unwrap().first().is_some_and(|e| e.0 == 181));
    assert!(wal_files(dir.path()) < after_second);
    drop(log);

    // A restart keeps the purge point and the entries.
    let (mut log, _, _) = counted_log_store(dir.path());
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 190)));
    assert_eq!(state.last_log_id, Some(log_id(1, 200)));
    assert_eq!(log.try_get_log_entries(0..).await.unwrap(), graph_entries(191, 200));
    // Entries still on disk below the last floor may be shipped again: they are the committed log.
    let (first, last) = log.shipping_reader().bounds().unwrap();
    assert!(first <= 181 && last == 200, "{first}..={last}");
}

#[tokio::test]
async fn a_snapshot_of_a_twin_graph_installs_elsewhere() {
    let (_la, mut a, _da) = temporary_pair();
    a.apply(graph_entries(0, 30)).await.unwrap();
    let rel = Op::PutRelationship {
        source: "t2".into(),
        id: "r1".into(),
        json: json!({"$targetId": "t3", "$relationshipName": "contains"}).to_string(),
        pre: Precondition::default(),
    };
    // t2 is a Sensor, which has no relationships: a deterministic refusal, not a storage failure.
    let refused = a.apply([normal(2, 31, rel)]).await.unwrap();
    assert!(refused[0].is_err());
    let snapshot = a.get_snapshot_builder().await.build_snapshot().await.unwrap();
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(2, 31)));
    assert_eq!(snapshot.meta.last_membership.membership(), &members(&[1, 2, 3]));

    // B has a different past; the snapshot replaces it entirely.
    let (_lb, mut b, _db) = temporary_pair();
    b.apply([membership(1, 0, &[1]), normal(1, 1, Op::AddModels { json: MODELS.into() })])
        .await
        .unwrap();
    b.apply([normal(1, 2, sensor("only-on-b"))]).await.unwrap();
    let mut incoming = b.begin_receiving_snapshot().await.unwrap();
    *incoming = *snapshot.snapshot;
    b.install_snapshot(&snapshot.meta, incoming).await.unwrap();
    assert_eq!(b.store().fingerprint().unwrap(), a.store().fingerprint().unwrap());
    assert!(b.store().twin("only-on-b").unwrap().is_none());
    assert_eq!(b.applied_state().await.unwrap(), a.applied_state().await.unwrap());
    assert_eq!(b.get_current_snapshot().await.unwrap().unwrap().meta, snapshot.meta);

    // Both go on identically.
    let next = [normal(2, 32, sensor("after")), blank(3, 33)];
    let ra = a.apply(next.clone()).await.unwrap();
    let rb = b.apply(next).await.unwrap();
    assert_eq!(ra, rb);
    assert_eq!(b.store().fingerprint().unwrap(), a.store().fingerprint().unwrap());

    // Snapshot ids are unique, even at the same position.
    let again = b.get_snapshot_builder().await.build_snapshot().await.unwrap().meta;
    let again2 = b.get_snapshot_builder().await.build_snapshot().await.unwrap().meta;
    assert_eq!(again.last_log_id, Some(log_id(3, 33)));
    assert_ne!(again.snapshot_id, again2.snapshot_id);
    assert_eq!(b.get_current_snapshot().await.unwrap().unwrap().meta, again2);
}

#[tokio::test]
async fn a_snapshot_whose_data_disagrees_with_its_meta_is_refused() {
    let (_la, mut a, _da) = temporary_pair();
    a.apply(graph_entries(0, 5)).await.unwrap();
    let mut snapshot = a.get_snapshot_builder().await.build_snapshot().await.unwrap();
    snapshot.meta.last_log_id = Some(log_id(1, 6));
    let (_lb, mut b, _db) = temporary_pair();
    let err = b.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap_err();
    assert!(err.to_string().contains("snapshot"), "{err}");
}

#[tokio::test]
async fn reapplying_an_entry_is_a_fatal_storage_error() {
    let (_l, mut sm, _d) = temporary_pair();
    sm.apply(graph_entries(0, 3)).await.unwrap();
    let err = sm.apply(graph_entries(3, 3)).await.unwrap_err();
    assert!(err.to_string().contains("already applied"), "{err}");
}

#[test]
fn entries_and_raft_types_round_trip_through_bincode() {
    use crate::storage::codec::{decode, encode};
    fn round_trip<
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    >(
        v: T,
    ) {
        let bytes = encode(&v).unwrap();
        assert_eq!(decode::<T>(&bytes).unwrap(), v);
    }
    round_trip(blank(3, 9));
    round_trip(membership(1, 0, &[1, 2, 3]));
    let joint = typ::Membership::new(
        vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([3, 4, 5])],
        (1..=6).map(|id| (id, NodeInfo::new(format!("http://n{id}")))).collect::<BTreeMap<_, _>>(),
    );
    round_trip(typ::Entry {
        log_id: log_id(4, 10),
        payload: EntryPayload::Membership(joint.clone()),
    });
    round_trip(normal(1, 1, Op::AddModels { json: MODELS.into() }));
    round_trip(normal(1, 2, sensor("s")));
    round_trip(typ::Entry {
        log_id: log_id(5, 11),
        payload: EntryPayload::Normal(Command {
            request: Some(RequestId { client: "c".into(), seq: 7 }),
            time: Timestamp(42),
            epoch: 3,
            origin: Some(Origin::at(2, 99)),
            op: Op::PatchTwin {
                id: "s".into(),
                component: Some("thermostat".into()),
                patch: "[]".into(),
                pre: Precondition { if_match: Some("W/\"x\"".into()), if_none_match: false },
            },
        }),
    });
    round_trip(normal(1, 3, Op::Noop));
    round_trip(typ::Vote::new(3, 2));
    round_trip(typ::Vote::new_committed(3, 2));
    round_trip(Some(log_id(2, 5)));
    round_trip(None::<typ::LogId>);
    round_trip(typ::StoredMembership::new(Some(log_id(4, 10)), joint.clone()));
    round_trip(typ::StoredMembership::default());
    round_trip(typ::SnapshotMeta {
        last_log_id: Some(log_id(4, 10)),
        last_membership: typ::StoredMembership::new(Some(log_id(4, 10)), joint),
        snapshot_id: "4-1-10-1".into(),
    });
}

#[test]
fn config_is_valid_and_fails_over_in_under_a_second() {
    let c = config(DEFAULT_SNAPSHOT_LOGS).unwrap();
    assert!(c.heartbeat_interval < c.election_timeout_min);
    // A follower campaigns after the leader's lease (election_timeout_max) plus its own timeout.
    assert!(2 * c.election_timeout_max < 1_000);
    assert!(c.install_snapshot_timeout >= 10_000);
    assert_eq!(c.max_in_snapshot_log_to_keep, 2 * DEFAULT_SNAPSHOT_LOGS);
    assert!(config(0).is_ok(), "a test may snapshot as often as it likes");
}
