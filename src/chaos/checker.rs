//! A linearizability checker for the register-per-twin model (Wing & Gong's search with
//! porcupine's memoization of (linearized set, state)).
//!
//! Histories are checked per key (linearizability is compositional, so a history is linearizable
//! exactly when each key's sub-history is). For one key, the search repeatedly picks an operation
//! that may take effect next — one invoked before every not-yet-linearized completed operation
//! returned — whose answer the model accepts, until every completed operation is placed.
//! `Unknown` operations may be placed (they took effect) or left out (they did not): leaving one
//! out is the same as placing it after everything else, where nobody observes it. `Failed`
//! conditional writes are observations ("the twin did not hold `expect`"); other failed
//! operations did nothing and are dropped.

use super::history::{Kind, Op, Outcome};
use std::collections::{BTreeMap, HashSet};

/// The most operations of one key the search accepts (the search is exponential in the worst
/// case; the workload keeps keys' histories short by spreading over many keys).
pub const MAX_OPS_PER_KEY: usize = 4096;

/// A key whose history cannot be linearized, and the operations involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The twin.
    pub key: String,
    /// The smallest prefix (by invoke time) of the key's history that is already not
    /// linearizable.
    pub ops: Vec<Op>,
}

/// The verdict on a whole history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked.
    pub ops: usize,
    /// Keys whose histories are not linearizable.
    pub violations: Vec<Violation>,
    /// Keys whose histories were too long to check (more than [`MAX_OPS_PER_KEY`]): neither
    /// proven nor refuted.
    pub unchecked: Vec<String>,
}

impl Verdict {
    /// Whether every key's history was checked and is linearizable.
    pub fn ok(&self) -> bool {
        self.violations.is_empty() && self.unchecked.is_empty()
    }
}

/// Checks a history; `finals` adds, per key, the value each node holds at the end (checked as a
/// read after everything).
pub fn check(ops: &[Op], finals: &BTreeMap<String, Vec<Option<i64>>>) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op.clone());
    }
    let end =
        ops.iter().filter_map(|o| o.ret).chain(ops.iter().map(|o| o.invoke)).max().unwrap_or(0) + 1;
    let mut verdict = Verdict::default();
    for (key, values) in finals {
        let list = by_key.entry(key.as_str()).or_default();
        for (i, v) in values.iter().enumerate() {
            list.push(Op {
                client: u32::MAX - i as u32,
                key: key.clone(),
                kind: Kind::Read { value: *v },
                invoke: end,
                ret: Some(end + 1),
                outcome: Outcome::Ok,
            });
        }
    }
    for (key, mut list) in by_key {
        list.sort_by_key(|o| o.invoke);
        verdict.keys += 1;
        verdict.ops += list.len();
        if list.len() > MAX_OPS_PER_KEY {
            verdict.unchecked.push(key.to_string());
        } else if !linearizable(&list) {
            verdict
                .violations
                .push(Violation { key: key.to_string(), ops: smallest_prefix(&list) });
        }
    }
    verdict
}

/// The shortest prefix (by invoke order) that is not linearizable.
fn smallest_prefix(list: &[Op]) -> Vec<Op> {
    let (mut lo, mut hi) = (1, list.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if linearizable(&list[..mid]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    list[..hi].to_vec()
}

/// Whether one key's operations (sorted by invoke) are linearizable.
pub fn linearizable(list: &[Op]) -> bool {
    let ops: Vec<&Op> = list
        .iter()
        .filter(|o| match (o.outcome, &o.kind) {
            (Outcome::Failed, Kind::Cas { .. }) => true,
            (Outcome::Failed, _) => false,
            _ => true,
        })
        .collect();
    if ops.len() > MAX_OPS_PER_KEY {
        return false;
    }
    let n = ops.len();
    let words = n.div_ceil(64).max(1);
    let mut done = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, Option<i64>)> = HashSet::new();
    search(&ops, &mut done, None, &mut seen)
}

fn is_done(done: &[u64], i: usize) -> bool {
    done[i / 64] & (1 << (i % 64)) != 0
}

fn flip(done: &mut [u64], i: usize) {
    done[i / 64] ^= 1 << (i % 64);
}

/// Depth-first search for a linearization of the remaining operations from `state`.
fn search(
    ops: &[&Op],
    done: &mut Vec<u64>,
    state: Option<i64>,
    seen: &mut HashSet<(Vec<u64>, Option<i64>)>,
) -> bool {
    // Finished when every completed operation is placed (unknown ones may stay out).
    let deadline = (0..ops.len())
        .filter(|&i| !is_done(done, i) && ops[i].outcome != Outcome::Unknown)
        .filter_map(|i| ops[i].ret)
        .min();
    let Some(deadline) = deadline else { return true };
    if !seen.insert((done.clone(), state)) {
        return false;
    }
    for i in 0..ops.len() {
        if is_done(done, i) || ops[i].invoke >= deadline {
            continue;
        }
        let Some(next) = step(ops[i], state) else { continue };
        flip(done, i);
        if search(ops, done, next, seen) {
            return true;
        }
        flip(done, i);
    }
    false
}

/// The state after `op` takes effect on `state`, or `None` if its answer contradicts `state`.
fn step(op: &Op, state: Option<i64>) -> Option<Option<i64>> {
    match (&op.kind, op.outcome) {
        (Kind::Write { value }, _) => Some(Some(*value)),
        (Kind::Cas { expect, value }, Outcome::Ok | Outcome::Unknown) => {
            (state == Some(*expect)).then_some(Some(*value))
        }
        (Kind::Cas { expect, .. }, Outcome::Failed) => (state != Some(*expect)).then_some(state),
        (Kind::Read { value }, Outcome::Ok) => (state == *value).then_some(state),
        (Kind::Read { .. }, _) => Some(state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u32, kind: Kind, invoke: u64, ret: Option<u64>, outcome: Outcome) -> Op {
        Op { client, key: "k".into(), kind, invoke, ret, outcome }
    }

    fn w(v: i64, a: u64, b: u64) -> Op {
        op(1, Kind::Write { value: v }, a, Some(b), Outcome::Ok)
    }

    fn r(v: Option<i64>, a: u64, b: u64) -> Op {
        op(2, Kind::Read { value: v }, a, Some(b), Outcome::Ok)
    }

    fn verdict(ops: Vec<Op>) -> Verdict {
        check(&ops, &BTreeMap::new())
    }

    #[test]
    fn sequential_histories_are_linearizable() {
        assert!(
            verdict(vec![
                r(None, 0, 1),
                w(1, 2, 3),
                r(Some(1), 4, 5),
                w(2, 6, 7),
                r(Some(2), 8, 9)
            ])
            .ok()
        );
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either() {
        assert!(verdict(vec![w(1, 0, 1), w(2, 2, 10), r(Some(1), 3, 4), r(Some(2), 5, 6)]).ok());
        // But not the new value and then the old one.
        assert!(!verdict(vec![w(1, 0, 1), w(2, 2, 10), r(Some(2), 3, 4), r(Some(1), 5, 6)]).ok());
    }

    #[test]
    fn a_stale_read_is_caught() {
        let v = verdict(vec![w(1, 0, 1), w(2, 2, 3), r(Some(1), 4, 5)]);
        assert!(!v.ok());
        assert_eq!(v.violations[0].ops.len(), 3);
    }

    #[test]
    fn a_lost_write_is_caught_by_the_final_state() {
        let ops = vec![w(1, 0, 1), w(2, 2, 3)];
        let finals = BTreeMap::from([("k".to_string(), vec![Some(2), Some(1)])]);
        let v = check(&ops, &finals);
        assert!(!v.ok(), "a node that holds 1 lost the acknowledged write of 2");
        let finals = BTreeMap::from([("k".to_string(), vec![Some(2), Some(2)])]);
        assert!(check(&ops, &finals).ok());
    }

    #[test]
    fn a_read_of_a_value_never_written_is_caught() {
        assert!(!verdict(vec![w(1, 0, 1), r(Some(7), 2, 3)]).ok());
    }

    #[test]
    fn unknown_writes_may_or_may_not_have_happened() {
        let unknown = op(1, Kind::Write { value: 5 }, 0, None, Outcome::Unknown);
        assert!(verdict(vec![unknown.clone(), r(None, 2, 3)]).ok());
        assert!(verdict(vec![unknown.clone(), r(Some(5), 2, 3)]).ok());
        // Once seen, it happened: it cannot un-happen.
        assert!(!verdict(vec![unknown, r(Some(5), 2, 3), r(None, 4, 5)]).ok());
    }

    #[test]
    fn conditional_writes_follow_their_precondition() {
        let cas_ok = op(3, Kind::Cas { expect: 1, value: 2 }, 2, Some(3), Outcome::Ok);
        assert!(verdict(vec![w(1, 0, 1), cas_ok.clone(), r(Some(2), 4, 5)]).ok());
        // A successful CAS on a value the twin never held.
        let bad = op(3, Kind::Cas { expect: 9, value: 2 }, 2, Some(3), Outcome::Ok);
        assert!(!verdict(vec![w(1, 0, 1), bad]).ok());
        // A failed CAS says the value was not `expect` at that point.
        let failed = op(3, Kind::Cas { expect: 1, value: 2 }, 2, Some(3), Outcome::Failed);
        assert!(!verdict(vec![w(1, 0, 1), failed.clone()]).ok());
        assert!(verdict(vec![w(1, 0, 1), w(4, 1, 5), failed]).ok());
        // Two CASes from the same value cannot both succeed.
        let a = op(3, Kind::Cas { expect: 1, value: 2 }, 2, Some(6), Outcome::Ok);
        let b = op(4, Kind::Cas { expect: 1, value: 3 }, 2, Some(6), Outcome::Ok);
        assert!(!verdict(vec![w(1, 0, 1), a, b]).ok());
    }

    #[test]
    fn failed_plain_writes_are_dropped_and_keys_are_independent() {
        let failed = op(1, Kind::Write { value: 3 }, 0, Some(1), Outcome::Failed);
        let mut other = w(9, 0, 1);
        other.key = "other".into();
        let v = verdict(vec![failed, r(None, 2, 3), other]);
        assert!(v.ok());
        assert_eq!(v.keys, 2);
    }

    #[test]
    fn a_history_too_long_to_check_is_inconclusive_not_a_pass() {
        let ops: Vec<Op> =
            (0..MAX_OPS_PER_KEY as u64 + 1).map(|i| w(i as i64, 2 * i, 2 * i + 1)).collect();
        let v = verdict(ops);
        assert!(v.violations.is_empty());
        assert_eq!(v.unchecked, vec!["k".to_string()]);
        assert!(!v.ok());
    }

    #[test]
    fn histories_round_trip_as_json_lines() {
        let ops = vec![w(1, 0, 1), op(2, Kind::Read { value: None }, 2, None, Outcome::Unknown)];
        let text = crate::chaos::history::to_lines(&ops);
        assert_eq!(crate::chaos::history::parse(&text).unwrap(), ops);
        assert!(crate::chaos::history::parse("{nope").is_err());
    }
}
