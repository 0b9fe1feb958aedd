//! A linearizability checker for the register-per-key model (Wing & Gong's search with
//! porcupine's memoization of (linearized set, state)), plus the checks that do not fit a
//! linearizability search: `LOCAL` reads and the nodes' final states.
//!
//! Histories are checked per key (linearizability is compositional, so a history is linearizable
//! exactly when each key's sub-history is). For one key, the search repeatedly picks an operation
//! that may take effect next — one invoked before every not-yet-linearized completed operation
//! returned — whose answer the model accepts, until every completed operation is placed.
//! `Unknown` operations may be placed (they took effect) or left out (they did not): leaving one
//! out is the same as placing it after everything else, where nobody observes it. `Failed`
//! conditional writes are observations ("the register did not hold `expect`"); other failed
//! operations did nothing and are dropped.
//!
//! `LOCAL` reads are served from one node's state without a quorum, so they may be stale by
//! design and are left out of the search. What they must never do is invent: a `LOCAL` read may
//! only see nothing, or a value that some write of that key which did not definitely fail had
//! been invoked to write before the read returned. Anything else is a violation.
//!
//! The final states ([`Finals`]) are each node's value of every key, read after the workload
//! ended and the deployment quiesced: each is checked as one more linearizable read after
//! everything (so a node missing an acknowledged write that nothing superseded is caught), and the
//! nodes must agree with each other (a write whose outcome the client never learned may have taken
//! effect or not, but not on one node and not on another). A node that did not answer is not
//! "a node where the key is absent": it is listed as unreachable, and the verdict cannot be a
//! pass, because its state was never checked.

use super::history::{Kind, Op, Outcome};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// The most operations of one key the search accepts (the search is exponential in the worst
/// case; the workload keeps keys' histories short by spreading over many keys).
pub const MAX_OPS_PER_KEY: usize = 4096;

/// The client number of the first node's final reads; node `i`'s are `FINAL_CLIENT - i`.
pub const FINAL_CLIENT: u32 = u32::MAX;

/// What is wrong with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// No order of its operations (and final reads), consistent with real time, explains every
    /// answer.
    NotLinearizable,
    /// A `LOCAL` read saw a value no write of the key could have written by then.
    LocalReadUnwritten,
    /// The nodes' final values of the key differ.
    NodesDisagree,
}

impl Problem {
    /// A few words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Problem::NotLinearizable => "not linearizable",
            Problem::LocalReadUnwritten => "a LOCAL read saw a value never written",
            Problem::NodesDisagree => "the nodes' final values differ",
        }
    }
}

/// A key whose history breaks a rule, and the operations involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The register.
    pub key: String,
    /// Which rule.
    pub problem: Problem,
    /// The specifics, for people (which node holds what, which client is a final read).
    pub detail: String,
    /// For [`Problem::NotLinearizable`], the smallest prefix (by invoke time) of the key's history
    /// that is already not linearizable; for [`Problem::LocalReadUnwritten`], the offending reads;
    /// for [`Problem::NodesDisagree`], the final reads.
    pub ops: Vec<Op>,
}

/// A node whose final state could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    /// The node's URL.
    pub node: String,
    /// The last error it answered with.
    pub error: String,
}

/// One node's final state: its value of every key (`None`: the key does not exist there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeState {
    /// The node's URL.
    pub node: String,
    /// Its value of each key.
    pub values: BTreeMap<String, Option<i64>>,
}

/// The final states of the nodes read after the workload; a node is either fully read or
/// unreachable, never half of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finals {
    /// The nodes that answered for every key.
    pub nodes: Vec<NodeState>,
    /// The nodes that did not.
    pub unreachable: Vec<Unreachable>,
}

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    /// Every key checked, no violation, every node's final state read.
    Pass,
    /// At least one violation.
    Fail,
    /// No violation found, but something was not checked (a key too long, a node unreachable).
    Inconclusive,
}

impl Conclusion {
    /// `pass`, `fail` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Pass => "pass",
            Conclusion::Fail => "fail",
            Conclusion::Inconclusive => "inconclusive",
        }
    }
}

/// The verdict on a whole history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked, the final reads included.
    pub ops: usize,
    /// Keys that break a rule (a key may appear once per [`Problem`]).
    pub violations: Vec<Violation>,
    /// Keys whose histories were too long to check (more than [`MAX_OPS_PER_KEY`]): neither
    /// proven nor refuted.
    pub unchecked: Vec<String>,
    /// Nodes whose final states could not be read: neither proven nor refuted.
    pub unreachable: Vec<Unreachable>,
}

impl Verdict {
    /// Whether every key's history was checked and broke no rule, and every node answered.
    pub fn ok(&self) -> bool {
        self.conclusion() == Conclusion::Pass
    }

    /// Whether every key's history was checked and broke no rule (the nodes that did not answer
    /// aside).
    pub fn linearizable(&self) -> bool {
        self.violations.is_empty() && self.unchecked.is_empty()
    }

    /// Pass, fail, or inconclusive.
    pub fn conclusion(&self) -> Conclusion {
        if !self.violations.is_empty() {
            Conclusion::Fail
        } else if self.unchecked.is_empty() && self.unreachable.is_empty() {
            Conclusion::Pass
        } else {
            Conclusion::Inconclusive
        }
    }
}

/// Checks a history and the nodes' final states (each node's value of a key is checked as a
/// linearizable read after everything, and the nodes must agree).
pub fn check(ops: &[Op], finals: &Finals) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op.clone());
    }
    let end =
        ops.iter().filter_map(|o| o.ret).chain(ops.iter().map(|o| o.invoke)).max().unwrap_or(0) + 1;
    let mut verdict = Verdict { unreachable: finals.unreachable.clone(), ..Verdict::default() };
    let mut final_reads: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
    for (i, node) in finals.nodes.iter().enumerate() {
        for (key, value) in &node.values {
            let read = Op {
                client: FINAL_CLIENT - i as u32,
                key: key.clone(),
                kind: Kind::Read { value: *value },
                invoke: end,
                ret: Some(end + 1),
                outcome: Outcome::Ok,
            };
            by_key.entry(key.as_str()).or_default().push(read.clone());
            final_reads.entry(key.as_str()).or_default().push(read);
        }
    }
    let who = final_clients(finals);
    for (key, list) in by_key {
        verdict.keys += 1;
        verdict.ops += list.len();
        let (local, mut list): (Vec<Op>, Vec<Op>) =
            list.into_iter().partition(|o| matches!(o.kind, Kind::LocalRead { .. }));
        list.sort_by_key(|o| o.invoke);
        if list.len() > MAX_OPS_PER_KEY {
            verdict.unchecked.push(key.to_string());
        } else if !linearizable(&list) {
            let ops = smallest_prefix(&list);
            let mut detail = String::from(
                "no order of these operations, consistent with real time, explains every answer",
            );
            let finals_involved: Vec<&str> =
                ops.iter().filter_map(|o| who.get(&o.client).map(String::as_str)).collect();
            if !finals_involved.is_empty() {
                detail.push_str(&format!(" (final reads: {})", finals_involved.join(", ")));
            }
            verdict.violations.push(Violation {
                key: key.to_string(),
                problem: Problem::NotLinearizable,
                detail,
                ops,
            });
        }
        let bad = unwritten_local_reads(&list, &local);
        if !bad.is_empty() {
            let seen: Vec<String> = bad
                .iter()
                .filter_map(|o| match o.kind {
                    Kind::LocalRead { value: Some(v) } => Some(v.to_string()),
                    _ => None,
                })
                .collect();
            verdict.violations.push(Violation {
                key: key.to_string(),
                problem: Problem::LocalReadUnwritten,
                detail: format!(
                    "saw {}, but no write of that value to this key (other than one that \
                     definitely failed) was invoked before the read returned",
                    seen.join(", ")
                ),
                ops: bad,
            });
        }
        if let Some(reads) = final_reads.get(key)
            && reads.windows(2).any(|w| w[0].kind != w[1].kind)
        {
            let held: Vec<String> = reads
                .iter()
                .map(|o| {
                    let value = match o.kind {
                        Kind::Read { value: Some(v) } => v.to_string(),
                        _ => "nothing".into(),
                    };
                    let node = who.get(&o.client).map(String::as_str).unwrap_or("?");
                    format!("{node} holds {value}")
                })
                .collect();
            verdict.violations.push(Violation {
                key: key.to_string(),
                problem: Problem::NodesDisagree,
                detail: format!(
                    "{} (were the nodes quiesced, the standby caught up?)",
                    held.join(", ")
                ),
                ops: reads.clone(),
            });
        }
    }
    verdict
}

/// The final reads' client numbers, each with "client N = node URL".
fn final_clients(finals: &Finals) -> BTreeMap<u32, String> {
    finals
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let client = FINAL_CLIENT - i as u32;
            (client, format!("client {client} = {}", n.node))
        })
        .collect()
}

/// The `LOCAL` reads of one key that saw a value no write of the key could have written by the
/// time the read returned: a write or conditional write, not definitely failed, of that value,
/// invoked no later than the read returned. Seeing nothing is always allowed (a node may lag
/// behind the key's creation).
pub fn unwritten_local_reads(writes: &[Op], local: &[Op]) -> Vec<Op> {
    local
        .iter()
        .filter(|read| {
            let Kind::LocalRead { value: Some(v) } = read.kind else { return false };
            let by = read.ret.unwrap_or(u64::MAX);
            !writes.iter().any(|w| {
                w.kind.written() == Some(v) && w.outcome != Outcome::Failed && w.invoke <= by
            })
        })
        .cloned()
        .collect()
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

/// Whether one key's operations (sorted by invoke) are linearizable; `LOCAL` reads are ignored.
pub fn linearizable(list: &[Op]) -> bool {
    let ops: Vec<&Op> = list
        .iter()
        .filter(|o| match (o.outcome, &o.kind) {
            (_, Kind::LocalRead { .. }) => false,
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
        (Kind::Read { .. } | Kind::LocalRead { .. }, _) => Some(state),
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
        check(&ops, &Finals::default())
    }

    fn local(v: Option<i64>, a: u64, b: u64) -> Op {
        op(3, Kind::LocalRead { value: v }, a, Some(b), Outcome::Ok)
    }

    fn on(key: &str, mut o: Op) -> Op {
        o.key = key.into();
        o
    }

    /// Final states: per node, its value of key `k`.
    fn finals(values: &[Option<i64>]) -> Finals {
        let nodes = values
            .iter()
            .enumerate()
            .map(|(i, v)| NodeState {
                node: format!("http://n{i}"),
                values: BTreeMap::from([("k".to_string(), *v)]),
            })
            .collect();
        Finals { nodes, unreachable: Vec::new() }
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
        let v = check(&ops, &finals(&[Some(2), Some(1)]));
        assert!(!v.ok(), "a node that holds 1 lost the acknowledged write of 2");
        assert_eq!(v.conclusion(), Conclusion::Fail);
        assert!(
            v.violations
                .iter()
                .any(|v| v.problem == Problem::NotLinearizable && v.detail.contains("http://n1"))
        );
        assert!(check(&ops, &finals(&[Some(2), Some(2)])).ok());
        // A node where the key is absent lost both writes.
        assert!(!check(&ops, &finals(&[Some(2), None])).ok());
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

    #[test]
    fn relationship_keys_are_registers_of_their_own() {
        let (twin, link) = ("chaos-1", "chaos-1/link");
        // Writes of the twin do not touch its relationship, and the other way round.
        let ops = vec![
            on(twin, w(1, 0, 1)),
            on(link, w(10, 2, 3)),
            on(twin, r(Some(1), 4, 5)),
            on(link, r(Some(10), 4, 5)),
            on(link, op(3, Kind::Cas { expect: 10, value: 11 }, 6, Some(7), Outcome::Ok)),
            on(link, r(Some(11), 8, 9)),
        ];
        let v = verdict(ops.clone());
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.keys, 2);
        // A stale read of the relationship is caught, and only on its key.
        let mut stale = ops.clone();
        stale.push(on(link, r(Some(10), 10, 11)));
        let v = verdict(stale);
        assert_eq!(v.violations.len(), 1);
        assert_eq!(v.violations[0].key, link);
        // So is a node that lost the relationship's last write.
        let node = |held: Option<i64>| NodeState {
            node: "http://n0".into(),
            values: BTreeMap::from([(twin.to_string(), Some(1)), (link.to_string(), held)]),
        };
        let lost = Finals { nodes: vec![node(Some(10))], unreachable: Vec::new() };
        let v = check(&ops, &lost);
        assert_eq!(v.violations.len(), 1);
        assert_eq!(v.violations[0].key, link);
        let kept = Finals { nodes: vec![node(Some(11))], unreachable: Vec::new() };
        assert!(check(&ops, &kept).ok());
    }

    #[test]
    fn local_reads_may_be_stale_but_never_invent() {
        // Stale, empty and fresh LOCAL reads are all fine; they do not enter the search (the
        // stale one would make it fail).
        let ok = vec![w(1, 0, 1), w(2, 2, 3), local(Some(1), 4, 5), local(None, 6, 7)];
        assert!(verdict(ok.clone()).ok());
        assert!(linearizable(&ok));
        // The value of a write still in flight, or of one whose outcome is unknown.
        let unknown = op(1, Kind::Write { value: 5 }, 10, None, Outcome::Unknown);
        assert!(verdict(vec![w(1, 0, 1), w(4, 2, 20), unknown, local(Some(4), 3, 4)]).ok());
        let unknown = op(1, Kind::Write { value: 5 }, 10, None, Outcome::Unknown);
        assert!(verdict(vec![unknown, local(Some(5), 11, 12)]).ok());
        // A value never written.
        let v = verdict(vec![w(1, 0, 1), local(Some(7), 2, 3)]);
        assert_eq!(v.conclusion(), Conclusion::Fail);
        assert_eq!(v.violations.len(), 1);
        assert_eq!(v.violations[0].problem, Problem::LocalReadUnwritten);
        assert_eq!(v.violations[0].key, "k");
        assert_eq!(v.violations[0].ops, vec![local(Some(7), 2, 3)]);
        // A value written only by a write invoked after the read returned.
        let v = verdict(vec![local(Some(1), 0, 1), w(1, 2, 3)]);
        assert_eq!(v.violations[0].problem, Problem::LocalReadUnwritten);
        // A value of a write that definitely failed, or of a conditional write that failed.
        let failed = op(1, Kind::Write { value: 3 }, 0, Some(1), Outcome::Failed);
        assert!(!verdict(vec![failed, local(Some(3), 2, 3)]).ok());
        let cas = op(1, Kind::Cas { expect: 1, value: 3 }, 2, Some(3), Outcome::Failed);
        assert!(!verdict(vec![w(4, 0, 1), cas, local(Some(3), 4, 5)]).ok());
        // Another key's value does not count.
        assert!(!verdict(vec![on("other", w(8, 0, 1)), local(Some(8), 2, 3)]).ok());
    }

    #[test]
    fn local_reads_round_trip_as_json_lines() {
        let ops = vec![local(Some(4), 0, 1)];
        let text = crate::chaos::history::to_lines(&ops);
        assert!(text.contains(r#""type":"local_read""#), "{text}");
        assert_eq!(crate::chaos::history::parse(&text).unwrap(), ops);
    }

    #[test]
    fn unreachable_nodes_are_not_taken_for_nodes_without_the_key() {
        let ops = vec![w(1, 0, 1), w(2, 2, 3)];
        let unreachable = Unreachable { node: "http://down".into(), error: "refused".into() };
        let mut f = finals(&[Some(2)]);
        f.unreachable.push(unreachable.clone());
        let v = check(&ops, &f);
        // Had the node counted as "absent", the acknowledged writes would look lost.
        assert!(v.violations.is_empty(), "{:?}", v.violations);
        assert!(v.linearizable());
        assert!(!v.ok());
        assert_eq!(v.conclusion(), Conclusion::Inconclusive);
        assert_eq!(v.unreachable, vec![unreachable.clone()]);
        // A violation elsewhere still fails.
        let f = Finals { nodes: Vec::new(), unreachable: vec![unreachable] };
        let v = check(&[w(1, 0, 1), r(Some(9), 2, 3)], &f);
        assert_eq!(v.conclusion(), Conclusion::Fail);
    }

    #[test]
    fn nodes_must_agree_on_writes_whose_outcome_is_unknown() {
        let unknown = op(1, Kind::Write { value: 5 }, 2, None, Outcome::Unknown);
        let ops = vec![w(1, 0, 1), unknown];
        assert!(check(&ops, &finals(&[Some(5), Some(5)])).ok());
        assert!(check(&ops, &finals(&[Some(1), Some(1)])).ok());
        // Each alone is explained by some order; both together are a divergence.
        let v = check(&ops, &finals(&[Some(1), Some(5)]));
        assert!(!v.ok());
        let d = v.violations.iter().find(|v| v.problem == Problem::NodesDisagree).unwrap();
        assert!(d.detail.contains("http://n0") && d.detail.contains("http://n1"), "{}", d.detail);
        assert_eq!(d.ops.len(), 2);
    }
}
