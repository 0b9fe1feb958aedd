//! Tests of batched writes (many client writes in one log entry) and of the lean dedupe table.

use super::tests::{Harness, put};
use super::*;
use crate::error::ErrorCode;
use crate::model::etag::{Origin, etag};
use crate::model::time::Timestamp;
use serde_json::{Value, json};

fn sensor(kind: &str) -> Value {
    json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": kind})
}

fn write(client: &str, seq: u64, time: u64, op: Op) -> Command {
    let request = Some(RequestId { client: client.into(), seq });
    Command { request, time: Timestamp(time), epoch: 1, origin: None, op }
}

fn patch_kind(id: &str, kind: &str) -> Op {
    Op::PatchTwin {
        id: id.into(),
        component: None,
        patch: json!([{"op": "replace", "path": "/kind", "value": kind}]).to_string(),
        pre: Precondition::default(),
    }
}

fn create_only(id: &str, kind: &str) -> Op {
    let pre = Precondition { if_match: None, if_none_match: true };
    Op::PutTwin { id: id.into(), json: sensor(kind).to_string(), pre }
}

/// `cmds` as one batch entry, at the harness's time.
fn batch_of(h: &Harness, cmds: Vec<Command>) -> Command {
    Command { request: None, time: Timestamp(h.time), epoch: 1, origin: None, op: Op::Batch(cmds) }
}

/// Applies `cmds` as one batch entry at the harness's next index; the outcomes.
fn run_batch(h: &mut Harness, cmds: Vec<Command>) -> (u64, Vec<Outcome>) {
    h.index += 1;
    let batch = batch_of(h, cmds);
    match h.store.apply(h.index, &batch).unwrap() {
        Ok(Reply::Batch(outcomes)) => (h.index, outcomes),
        other => panic!("a batch answered {other:?}"),
    }
}

fn etag_of(outcome: &Outcome) -> String {
    match outcome {
        Ok(Reply::Twin { etag, .. }) => etag.clone(),
        other => panic!("not a twin reply: {other:?}"),
    }
}

#[test]
fn a_batch_applies_each_write_in_order_with_its_own_outcome_and_etag() {
    let mut h = Harness::new();
    h.put_twin("old", sensor("co2"));
    let t = h.time;
    let (index, outcomes) = run_batch(
        &mut h,
        vec![
            write("a", 1, t + 1, put("s1", sensor("co2"))),
            // Sees the write before it in the same entry.
            write("b", 1, t + 2, patch_kind("s1", "temp")),
            // Refused (the twin exists): the others stay applied.
            write("c", 1, t + 3, create_only("old", "x")),
            write("d", 1, t + 4, create_only("s2", "hum")),
        ],
    );
    assert_eq!(outcomes.len(), 4);
    for (slot, o) in [(0, &outcomes[0]), (1, &outcomes[1]), (3, &outcomes[3])] {
        assert_eq!(etag_of(o), etag(Origin { epoch: 1, index, slot }), "slot {slot}");
    }
    assert_eq!(outcomes[2].as_ref().unwrap_err().code, ErrorCode::PreconditionFailed);
    assert_eq!(h.twin("s1").unwrap()["kind"], "temp");
    assert_eq!(h.twin("s1").unwrap()["$etag"], etag_of(&outcomes[1]).as_str());
    assert_eq!(h.twin("old").unwrap()["kind"], "co2");
    assert_eq!(h.twin("s2").unwrap()["kind"], "hum");
    // Each write keeps its own time.
    let stamp = h.twin("s2").unwrap()["$metadata"]["$lastUpdateTime"].clone();
    assert_eq!(stamp, Timestamp(t + 4).to_adt_string().as_str());
    assert_eq!(h.store.applied().unwrap().index, index);
}

#[test]
fn a_batch_gives_the_same_state_on_every_replica() {
    let mut a = Harness::new();
    let mut b = Harness::new();
    let t = a.time;
    let cmds = vec![
        write("a", 1, t + 1, put("s1", sensor("co2"))),
        write("a", 2, t + 2, patch_kind("s1", "temp")),
        write("b", 1, t + 3, create_only("s1", "x")),
    ];
    let (_, first) = run_batch(&mut a, cmds.clone());
    let (_, second) = run_batch(&mut b, cmds);
    assert_eq!(first, second);
    assert_eq!(a.store.fingerprint().unwrap(), b.store.fingerprint().unwrap());
}

#[test]
fn a_write_of_a_batch_retried_alone_gets_its_first_answer_and_is_not_applied_again() {
    let mut h = Harness::new();
    let t = h.time;
    let (_, outcomes) = run_batch(
        &mut h,
        vec![
            write("a", 1, t + 1, put("s1", sensor("co2"))),
            write("a", 2, t + 2, put("s2", sensor("co2"))),
        ],
    );
    let etag_before = h.twin("s2").unwrap()["$etag"].clone();
    // The retry comes alone, in a later entry (e.g. to a new leader).
    h.index += 1;
    let retry = write("a", 2, t + 5, put("s2", sensor("other")));
    let again = h.store.apply(h.index, &retry).unwrap();
    assert_eq!(again, outcomes[1]);
    assert_eq!(h.twin("s2").unwrap()["$etag"], etag_before);
    assert_eq!(h.twin("s2").unwrap()["kind"], "co2");
}

#[test]
fn a_batch_never_holds_a_model_or_control_write() {
    let mut h = Harness::new();
    let bad = vec![write("a", 1, h.time, Op::DeleteModel { id: "dtmi:test:Sensor;1".into() })];
    h.index += 1;
    let batch = batch_of(&h, bad);
    assert!(h.store.apply(h.index, &batch).is_err(), "a storage error: the log is not ours");
}

/// The bytes of every dedupe record.
fn dedupe_bytes(store: &Store) -> usize {
    store
        .db()
        .open_tree("graph")
        .unwrap()
        .scan_prefix([keys::Space::Dedupe as u8])
        .map(|kv| kv.unwrap().1.len())
        .sum()
}

#[test]
fn the_dedupe_table_keeps_answers_not_documents() {
    let mut h = Harness::new();
    let big = "x".repeat(3_000);
    let req = RequestId { client: "c".into(), seq: 1 };
    let first = h.run(Some(req.clone()), put("s1", sensor(&big)));
    assert!(first.is_ok());
    let bytes = dedupe_bytes(&h.store);
    assert!(bytes < 200, "a dedupe record of {bytes} bytes for a 3 kB twin");
    // A retry while nothing changed it: the very first answer.
    assert_eq!(h.run(Some(req.clone()), put("s1", sensor("other"))), first);
    // Changed since by another write: the twin as it is now, with its ETag (a consistent pair).
    h.ok(patch_kind("s1", "changed"));
    let now = h.twin("s1").unwrap();
    match h.run(Some(req.clone()), put("s1", sensor("other"))) {
        Ok(Reply::Twin { json, etag }) => {
            assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), now);
            assert_eq!(now["$etag"], etag.as_str());
        }
        other => panic!("{other:?}"),
    }
    // Deleted since: the retry says so, and recreates nothing.
    h.ok(Op::DeleteTwin { id: "s1".into(), pre: Precondition::default() });
    let gone = h.run(Some(req), put("s1", sensor("other")));
    assert_eq!(gone.unwrap_err().code, ErrorCode::DigitalTwinNotFound);
    assert!(h.twin("s1").is_none());
}

/// The dedupe records, and the count the table keeps of them.
fn dedupe_table(store: &Store) -> (usize, u64) {
    let graph = store.db().open_tree("graph").unwrap();
    let records = graph.scan_prefix([keys::Space::Dedupe as u8]).count();
    let ages = graph.scan_prefix([keys::Space::DedupeAge as u8]).count();
    assert_eq!(records, ages, "every record has its age key");
    (records, store.dedupe_count(&apply::Writes::new(store)).unwrap())
}

/// The writes of a batch share one set of pending writes, which the tree sees only at the end:
/// each write's eviction must go on after the previous one's, not evict (and count) the same
/// oldest entry again — which left the count below the real size and let the table grow without
/// bound under batched load.
#[test]
fn writes_of_a_batch_evict_distinct_entries_and_the_count_stays_true() {
    let mut h = Harness::new();
    let start = h.time;
    for n in 0..100 {
        let _ = h.run(Some(RequestId { client: "old".into(), seq: n }), put("s1", sensor("a")));
    }
    assert_eq!(dedupe_table(&h.store), (100, 100));
    // Past the window, each of 5 writes evicts up to 8 expired entries: 40 distinct ones.
    h.time = start + dedupe::DEDUPE_WINDOW_NANOS + 1_000_000_000;
    let t = h.time;
    let cmds = (0..5).map(|n| write("new", n, t, patch_kind("s1", &format!("k{n}")))).collect();
    let (_, outcomes) = run_batch(&mut h, cmds);
    assert!(outcomes.iter().all(Result::is_ok));
    assert_eq!(dedupe_table(&h.store), (100 - 5 * dedupe::EVICT_PER_APPLY + 5, 65));
    // The oldest went first.
    assert!(h.store.remembered(&RequestId { client: "old".into(), seq: 39 }).unwrap().is_none());
    assert!(h.store.remembered(&RequestId { client: "old".into(), seq: 40 }).unwrap().is_some());
}
