//! Tests of the DR state machine: shipping a primary's log to a standby, fencing, promotion.

use super::dr::{DrState, Position, Role, ShipBatch};
use super::tests::{Harness, MODELS};
use super::*;
use crate::error::ErrorCode;
use crate::model::time::Timestamp;
use serde_json::json;

/// A region's store with its own log: every command applied is remembered with its index.
struct Region {
    h: Harness,
    log: Vec<(u64, Command)>,
}

impl Region {
    fn primary() -> Region {
        let mut r = Region { h: Harness::empty(), log: Vec::new() };
        r.run(Op::AddModels { json: MODELS.into() }, None, 1).unwrap();
        r
    }

    fn standby() -> Region {
        let mut r = Region { h: Harness::empty(), log: Vec::new() };
        r.run(Op::DrInit { role: Role::Standby, epoch: 1, peer: None }, None, 1).unwrap();
        r
    }

    fn run(&mut self, op: Op, request: Option<RequestId>, epoch: u64) -> Outcome {
        self.h.index += 1;
        self.h.time += 1_000_000;
        let cmd = Command { request, time: Timestamp(self.h.time), epoch, origin: None, op };
        self.log.push((self.h.index, cmd.clone()));
        self.h.store.apply(self.h.index, &cmd).unwrap()
    }

    fn ship(&mut self, from: u64, to: u64, source: &Region, caught_up: bool) -> Outcome {
        self.run(Op::Replicate(source.batch(from, to, caught_up)), None, 1)
    }

    /// The batch this region ships for `from..=to`.
    fn batch(&self, from: u64, to: u64, caught_up: bool) -> ShipBatch {
        let entries = self.log.iter().filter(|(i, _)| *i >= from && *i <= to).cloned().collect();
        ShipBatch {
            source_epoch: 1,
            from,
            to,
            entries,
            source_time: Timestamp(self.h.time),
            caught_up,
        }
    }

    fn fp(&self) -> u64 {
        self.h.store.fingerprint().unwrap()
    }
}

fn twin(n: i64) -> Op {
    Op::PutTwin {
        id: format!("s{n}"),
        json: json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": format!("k{n}")})
            .to_string(),
        pre: Precondition::default(),
    }
}

#[test]
fn a_standby_applying_the_shipped_log_is_identical_to_the_primary() {
    let mut p = Region::primary();
    let req = RequestId { client: "c".into(), seq: 1 };
    for n in 0..10 {
        let _ = p.run(twin(n), None, 1);
    }
    // A retry (deduped), a failed precondition, and a write under a stale epoch (refused).
    let _ = p.run(twin(100), Some(req.clone()), 1);
    let _ = p.run(twin(100), Some(req), 1);
    let bad = Op::DeleteTwin {
        id: "s1".into(),
        pre: Precondition { if_match: Some("W/\"x\"".into()), if_none_match: false },
    };
    assert_eq!(p.run(bad, None, 1).unwrap_err().code, ErrorCode::PreconditionFailed);
    assert_eq!(p.run(twin(200), None, 0).unwrap_err().code, ErrorCode::ReadOnlyRegion);
    let last = p.h.index;

    let mut s = Region::standby();
    // In pieces, with a duplicate and an overlapping batch.
    s.ship(1, 5, &p, false).unwrap();
    s.ship(1, 5, &p, false).unwrap();
    s.ship(3, 9, &p, false).unwrap();
    let before = s.fp();
    // A gap is refused and changes nothing.
    assert_eq!(s.ship(12, last, &p, true).unwrap_err().code, ErrorCode::BadRequest);
    assert_eq!(s.fp(), before);
    s.ship(10, last, &p, true).unwrap();
    assert_eq!(s.fp(), p.fp(), "the standby is the primary as of {last}");
    assert_eq!(s.h.twin("s100").unwrap()["$etag"], p.h.twin("s100").unwrap()["$etag"]);
    assert!(s.h.twin("s200").is_none());
    let dr = s.h.store.dr().unwrap();
    assert_eq!(dr.upstream, Position { epoch: 1, index: last });
    assert_eq!(dr.replicated_time, Timestamp(p.h.time));
}

#[test]
fn a_standby_refuses_local_writes_without_a_trace() {
    let mut s = Region::standby();
    let before = s.fp();
    let e = s.run(twin(1), Some(RequestId { client: "c".into(), seq: 9 }), 1).unwrap_err();
    assert_eq!(e.code, ErrorCode::ReadOnlyRegion);
    assert_eq!(s.fp(), before);
}

#[test]
fn fence_promote_and_follow_again() {
    let mut p = Region::primary();
    let _ = p.run(twin(1), None, 1);
    let mut s = Region::standby();
    let shipped = p.h.index;
    s.ship(1, shipped, &p, true).unwrap();

    // Planned failover: fence the primary, promote the standby at epoch 2.
    let fenced = p.run(Op::Fence { epoch: 2, peer: None }, None, 1).unwrap();
    assert_eq!(fenced, Reply::Fenced { at: Position { epoch: 1, index: shipped } });
    assert_eq!(p.run(twin(2), None, 1).unwrap_err().code, ErrorCode::ReadOnlyRegion);
    assert_eq!(p.run(twin(2), None, 2).unwrap_err().code, ErrorCode::ReadOnlyRegion);
    let promoted = s.run(Op::Promote { epoch: 2, peer: None }, None, 1).unwrap();
    let Reply::Promoted { at, index, .. } = promoted else { panic!("{promoted:?}") };
    assert_eq!(at, Position { epoch: 1, index: shipped }, "promoted at everything the primary had");
    // The new primary takes writes under epoch 2 only.
    assert_eq!(s.run(twin(3), None, 1).unwrap_err().code, ErrorCode::ReadOnlyRegion);
    s.run(twin(3), None, 2).unwrap();
    assert_eq!(s.h.store.dr().unwrap().role, Role::Primary);
    // A promoted region refuses another promotion at its epoch and shipped batches.
    assert_eq!(
        s.run(Op::Promote { epoch: 2, peer: None }, None, 2).unwrap_err().code,
        ErrorCode::OperationNotAllowed
    );

    // The old primary follows the new one from after the promotion.
    p.run(Op::SetUpstream { epoch: 2, index, peer: None }, None, 2).unwrap();
    let entries: Vec<_> = s.log.iter().filter(|(i, _)| *i > index).cloned().collect();
    let batch = ShipBatch {
        source_epoch: 2,
        from: index + 1,
        to: s.h.index,
        entries,
        source_time: Timestamp(s.h.time),
        caught_up: true,
    };
    p.run(Op::Replicate(batch), None, 2).unwrap();
    assert_eq!(p.fp(), s.fp());
    assert_eq!(p.h.twin("s3").unwrap()["$etag"], s.h.twin("s3").unwrap()["$etag"]);
}

/// A primary with twins `s0`..`s{n-1}`, and its snapshot.
fn primary_with_twins(n: i64) -> (Region, Vec<u8>) {
    let mut p = Region::primary();
    for n in 0..n {
        let _ = p.run(twin(n), None, 1);
    }
    let (_, data) = p.h.store.snapshot().unwrap();
    (p, data)
}

/// The reseed ops for `data` at `position`, in parts of about `max_bytes`.
fn reseed_ops(data: &[u8], position: Position, time: u64, max_bytes: usize) -> Vec<Op> {
    let parts = Store::snapshot_parts(data, max_bytes).unwrap();
    let count = parts.len() as u32;
    (0..count)
        .zip(parts)
        .map(|(part, data)| Op::Reseed {
            position,
            time: Timestamp(time),
            part,
            parts: count,
            data,
        })
        .collect()
}

#[test]
fn reseed_replaces_the_data_and_keeps_the_region_own_state() {
    let (mut p, data) = primary_with_twins(5);
    let mut s = Region::standby();
    // Something of its own that the reseed must replace.
    let _ = s.ship(1, 2, &p, false);
    let position = Position { epoch: 1, index: p.h.index };
    for op in reseed_ops(&data, position, p.h.time, usize::MAX) {
        s.run(op, None, 1).unwrap();
    }
    assert_eq!(s.fp(), p.fp());
    let dr: DrState = s.h.store.dr().unwrap();
    assert_eq!(dr.role, Role::Standby);
    assert_eq!(dr.upstream, position);
    assert_eq!(dr.reseeding, None);
    // And it keeps following from there.
    let _ = p.run(twin(9), None, 1);
    s.ship(position.index + 1, p.h.index, &p, true).unwrap();
    assert_eq!(s.fp(), p.fp());
    // A primary cannot be reseeded.
    let (_, data) = s.h.store.snapshot().unwrap();
    let op = reseed_ops(&data, position, 0, usize::MAX).remove(0);
    assert_eq!(p.run(op, None, 1).unwrap_err().code, ErrorCode::OperationNotAllowed);
}

#[test]
fn a_snapshot_is_cut_into_parts_of_its_keys() {
    let (_, data) = primary_with_twins(40);
    let whole: Vec<(Vec<u8>, Vec<u8>)> = codec::decode(&data).unwrap();
    let parts = Store::snapshot_parts(&data, 1000).unwrap();
    assert!(parts.len() > 5, "{} parts", parts.len());
    let mut joined = Vec::new();
    for part in &parts {
        let part: Vec<(Vec<u8>, Vec<u8>)> = codec::decode(part).unwrap();
        let bytes: usize = part.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(bytes <= 1000 || part.len() == 1, "a part of {bytes} bytes");
        joined.extend(part);
    }
    assert_eq!(joined, whole);
    // An empty snapshot is one empty part (a reseed to an empty graph still happens).
    let empty = codec::encode(&Vec::<(Vec<u8>, Vec<u8>)>::new()).unwrap();
    assert_eq!(Store::snapshot_parts(&empty, 1000).unwrap(), vec![empty]);
}

#[test]
fn a_reseed_in_parts_is_all_or_starts_again() {
    let (p, data) = primary_with_twins(40);
    let position = Position { epoch: 1, index: p.h.index };
    let ops = reseed_ops(&data, position, p.h.time, 1000);
    assert!(ops.len() > 5);
    let mut s = Region::standby();
    s.ship(1, 3, &p, false).unwrap();
    // Parts out of order are refused and change nothing.
    let before = s.fp();
    assert_eq!(s.run(ops[1].clone(), None, 1).unwrap_err().code, ErrorCode::BadRequest);
    assert_eq!(s.fp(), before);
    // Cut short after two parts: the graph is incomplete, and the region says so.
    s.run(ops[0].clone(), None, 1).unwrap();
    s.run(ops[1].clone(), None, 1).unwrap();
    let dr = s.h.store.dr().unwrap();
    assert_eq!(dr.reseeds, 1);
    let reseeding = dr.reseeding.expect("a reseed is under way");
    assert_eq!((reseeding.position, reseeding.next_part), (position, 2));
    assert_eq!(dr.upstream, Position { epoch: 1, index: 3 }, "follows nothing new yet");
    assert_eq!(s.run(ops[1].clone(), None, 1).unwrap_err().code, ErrorCode::BadRequest);
    assert_eq!(s.run(ops[3].clone(), None, 1).unwrap_err().code, ErrorCode::BadRequest);
    // Nothing may build on an incomplete graph: no shipped batch, no promotion, no new upstream.
    assert_eq!(s.ship(4, 5, &p, false).unwrap_err().code, ErrorCode::OperationNotAllowed);
    let promote = Op::Promote { epoch: 2, peer: None };
    assert_eq!(s.run(promote, None, 1).unwrap_err().code, ErrorCode::OperationNotAllowed);
    let follow = Op::SetUpstream { epoch: 1, index: 9, peer: None };
    assert_eq!(s.run(follow, None, 1).unwrap_err().code, ErrorCode::OperationNotAllowed);
    // Started again from part 0, it completes and is the primary's state exactly.
    for op in ops {
        s.run(op, None, 1).unwrap();
    }
    assert_eq!(s.fp(), p.fp());
    let dr = s.h.store.dr().unwrap();
    assert_eq!((dr.upstream, dr.reseeding, dr.reseeds), (position, None, 2));
}

#[test]
fn the_replicated_time_is_the_newest_write_applied_even_when_never_caught_up() {
    // Under steady load the primary always has more, so no batch is marked caught up; the
    // standby still has the primary's history up to the newest write it applied, and a forced
    // failover's RPO is measured from that.
    let mut p = Region::primary();
    for n in 0..6 {
        let _ = p.run(twin(n), None, 1);
    }
    let time_of = |i: u64| p.log.iter().find(|(j, _)| *j == i).unwrap().1.time;
    let mut s = Region::standby();
    s.ship(1, 4, &p, false).unwrap();
    assert_eq!(s.h.store.dr().unwrap().replicated_time, time_of(4));
    // A re-sent older batch does not move it back.
    s.ship(1, 2, &p, false).unwrap();
    assert_eq!(s.h.store.dr().unwrap().replicated_time, time_of(4));
    s.ship(5, 7, &p, false).unwrap();
    assert_eq!(s.h.store.dr().unwrap().replicated_time, time_of(7));
}

#[test]
fn a_merged_batch_applies_like_its_parts_in_order() {
    let mut p = Region::primary();
    for n in 0..6 {
        let _ = p.run(twin(n), None, 1);
    }
    let last = p.h.index;
    // Two standbys: one takes three batches one by one, the other the same three merged.
    let parts = [p.batch(1, 3, false), p.batch(4, 4, false), p.batch(5, last, true)];
    let mut one = Region::standby();
    for b in parts.clone() {
        one.run(Op::Replicate(b), None, 1).unwrap();
    }
    let mut all = parts[0].clone();
    all.append(parts[1].clone()).unwrap();
    all.append(parts[2].clone()).unwrap();
    assert_eq!((all.from, all.to, all.caught_up), (1, last, true));
    let mut merged = Region::standby();
    merged.run(Op::Replicate(all), None, 1).unwrap();
    assert_eq!(one.fp(), merged.fp());
    assert_eq!(one.fp(), p.fp());
    let (a, b) = (one.h.store.dr().unwrap(), merged.h.store.dr().unwrap());
    assert_eq!((a.upstream, a.replicated_time), (b.upstream, b.replicated_time));
}

#[test]
fn a_batch_that_does_not_follow_is_not_merged() {
    let mut p = Region::primary();
    for n in 0..4 {
        let _ = p.run(twin(n), None, 1);
    }
    let mut b = p.batch(1, 2, false);
    assert_eq!(b.append(p.batch(4, 4, false)).unwrap_err().from, 4, "a gap is handed back");
    let mut other_epoch = p.batch(3, 3, false);
    other_epoch.source_epoch += 1;
    assert!(b.append(other_epoch).is_err(), "another epoch is handed back");
    assert_eq!((b.from, b.to, b.entries.len()), (1, 2, 2), "and the batch is untouched");
}

/// A standby applies a shipped batch of many entries with one set of pending writes: each
/// entry's dedupe eviction must evict what the primary's did, so both regions keep the same
/// table (and the same count of it).
#[test]
fn a_shipped_batch_evicts_the_dedupe_table_as_the_primary_did() {
    let mut p = Region::primary();
    for n in 0..60 {
        let _ = p.run(twin(n), Some(RequestId { client: "c".into(), seq: n as u64 }), 1);
    }
    p.h.time += super::dedupe::DEDUPE_WINDOW_NANOS;
    for n in 60..64 {
        let _ = p.run(twin(n), Some(RequestId { client: "c".into(), seq: n as u64 }), 1);
    }
    let mut s = Region::standby();
    s.ship(1, p.h.index, &p, true).unwrap();
    let table = |r: &Region| {
        let graph = r.h.store.db().open_tree("graph").unwrap();
        let keys: Vec<_> = graph
            .scan_prefix([keys::Space::Dedupe as u8])
            .chain(graph.scan_prefix([keys::Space::DedupeAge as u8]))
            .map(|kv| kv.unwrap().0)
            .collect();
        let count = r.h.store.dedupe_count(&super::apply::Writes::new(&r.h.store)).unwrap();
        (keys, count)
    };
    let (keys, count) = table(&p);
    assert_eq!(count, 60 - 4 * super::dedupe::EVICT_PER_APPLY as u64 + 4);
    assert_eq!(keys.len() as u64, 2 * count);
    assert_eq!(table(&s), (keys, count));
}
