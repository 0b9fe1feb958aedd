//! The report of `chaos check`: what the workload did (operations, how they ended, how long the
//! deployment took no writes) and what the checker concluded, as text for people and JSON for
//! scripts.
//!
//! Everything here is a pure function of the history and the [`Verdict`], so the numbers a chaos
//! scenario prints can be unit-tested and recomputed from a saved history at any time.

use super::checker::{Conclusion, Verdict};
use super::history::{Op, Outcome};
use serde_json::{Value, json};

/// What the workload did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Operations in the history (the final reads not included).
    pub operations: usize,
    /// Those that succeeded.
    pub ok: usize,
    /// Those that definitely did not take effect.
    pub failed: usize,
    /// Those whose outcome the client never learned.
    pub unknown: usize,
    /// The longest write unavailability, in nanoseconds (see [`longest_unavailable_ns`]).
    pub longest_unavailable_ns: u64,
    /// Acknowledged writes excused because the system reported them lost (see
    /// [`super::lost`]); set by the caller.
    pub reported_lost: usize,
}

impl Summary {
    /// Counts a history.
    pub fn of(ops: &[Op]) -> Self {
        let count = |o: Outcome| ops.iter().filter(|op| op.outcome == o).count();
        Summary {
            operations: ops.len(),
            ok: count(Outcome::Ok),
            failed: count(Outcome::Failed),
            unknown: count(Outcome::Unknown),
            longest_unavailable_ns: longest_unavailable_ns(ops),
            reported_lost: 0,
        }
    }

    /// The longest write unavailability in milliseconds, rounded to the nearest.
    pub fn longest_unavailable_ms(&self) -> u64 {
        (self.longest_unavailable_ns + 500_000) / 1_000_000
    }
}

/// The longest time during the run in which no write succeeded, in nanoseconds.
///
/// The run spans from the first invoke `s` to the last invoke `e` of the history (after `e` no
/// client was trying any more, so silence there says nothing). A successful write is an `ok`
/// write or conditional write (of a twin or a relationship); the moments that count are when
/// they *returned* — when a client learned the deployment took a write. With those return times
/// clipped to `[s, e]` and sorted, `r1 ≤ … ≤ rn`, the result is the largest of the gaps
/// `r1 − s`, `r(i+1) − ri`, and `e − rn`; with no successful write at all it is `e − s`, and with
/// an empty history 0. A write still in flight (and so no write returning) counts as unavailable:
/// at the client, that is what it looks like.
pub fn longest_unavailable_ns(ops: &[Op]) -> u64 {
    let Some(start) = ops.iter().map(|o| o.invoke).min() else { return 0 };
    let end = ops.iter().map(|o| o.invoke).max().unwrap_or(start);
    let mut points: Vec<u64> = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && o.kind.written().is_some())
        .filter_map(|o| o.ret)
        .map(|r| r.clamp(start, end))
        .collect();
    points.push(start);
    points.push(end);
    points.sort_unstable();
    points.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

/// How long writes took to come back after each fault, in nanoseconds: for a fault injected at
/// `t` (on the history's timeline), the time from `t` until the first successful write invoked at
/// or after `t` returned — `None` when none did. (Writes invoked before the fault say nothing
/// about the deployment after it, whatever they returned.)
pub fn recovery_ns(ops: &[Op], faults: &[u64]) -> Vec<Option<u64>> {
    faults
        .iter()
        .map(|&t| {
            ops.iter()
                .filter(|o| o.outcome == Outcome::Ok && o.kind.written().is_some() && o.invoke >= t)
                .filter_map(|o| o.ret)
                .min()
                .map(|r| r - t)
        })
        .collect()
}

/// The first line's verdict words.
fn words(verdict: &Verdict) -> String {
    match verdict.conclusion() {
        Conclusion::Pass => "linearizable, final states consistent".into(),
        Conclusion::Fail => "NOT linearizable".into(),
        Conclusion::Inconclusive => {
            let mut why = Vec::new();
            if !verdict.unchecked.is_empty() {
                let n = verdict.unchecked.len();
                let what = if n == 1 { "key's history is" } else { "keys' histories are" };
                why.push(format!("{n} {what} too long to check: use more keys"));
            }
            if !verdict.unreachable.is_empty() {
                let n = verdict.unreachable.len();
                why.push(format!(
                    "{n} node{} did not answer: their final states are unchecked",
                    if n == 1 { "" } else { "s" }
                ));
            }
            format!("INCONCLUSIVE ({})", why.join("; "))
        }
    }
}

/// The report for people:
///
/// ```text
/// N operations on K keys: <linearizable, final states consistent | NOT linearizable | INCONCLUSIVE (why)>
/// ok N, failed N, unknown N, longest write unavailability N ms
/// node URL did not answer: ERROR                               (per unreachable node)
/// key KEY: PROBLEM — DETAIL (N operations):                    (per violation)
///   {op as JSON}
/// ```
pub fn text(summary: &Summary, verdict: &Verdict) -> String {
    let mut out = format!(
        "{} operations on {} keys: {}\nok {}, failed {}, unknown {}, longest write unavailability {} ms\n",
        summary.operations,
        verdict.keys,
        words(verdict),
        summary.ok,
        summary.failed,
        summary.unknown,
        summary.longest_unavailable_ms()
    );
    if summary.reported_lost > 0 {
        out.push_str(&format!(
            "{} acknowledged write(s) reported lost by a forced failover (divergent), excused\n",
            summary.reported_lost
        ));
    }
    for u in &verdict.unreachable {
        out.push_str(&format!("node {} did not answer: {}\n", u.node, u.error));
    }
    for key in &verdict.unchecked {
        out.push_str(&format!("key {key}: too many operations to check\n"));
    }
    for v in &verdict.violations {
        out.push_str(&format!(
            "key {}: {} — {} ({} operations):\n",
            v.key,
            v.problem.describe(),
            v.detail,
            v.ops.len()
        ));
        for op in &v.ops {
            out.push_str(&format!("  {}\n", serde_json::to_string(op).unwrap_or_default()));
        }
    }
    out
}

/// The report for scripts: `{"linearizable", "verdict": "pass"|"fail"|"inconclusive",
/// "operations", "ok", "failed", "unknown", "longest_unavailable_ms", "keys", "nodes",
/// "violations": [{"key", "problem", "detail", "ops"}], "unchecked": [key],
/// "unreachable": [{"node", "error"}]}`. `linearizable` is true when every key was checked and
/// broke no rule; `verdict` is `pass` only when, besides, every node's final state was read.
pub fn json(summary: &Summary, verdict: &Verdict, nodes: usize) -> Value {
    json!({
        "reported_lost": summary.reported_lost,
        "linearizable": verdict.linearizable(),
        "verdict": verdict.conclusion().as_str(),
        "operations": summary.operations,
        "ok": summary.ok,
        "failed": summary.failed,
        "unknown": summary.unknown,
        "longest_unavailable_ms": summary.longest_unavailable_ms(),
        "keys": verdict.keys,
        "nodes": nodes,
        "violations": verdict.violations.iter().map(|v| json!({
            "key": v.key,
            "problem": v.problem,
            "detail": v.detail,
            "ops": v.ops,
        })).collect::<Vec<_>>(),
        "unchecked": verdict.unchecked,
        "unreachable": verdict.unreachable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::checker::{Problem, Unreachable, Violation};
    use crate::chaos::history::Kind;

    const MS: u64 = 1_000_000;

    fn op(kind: Kind, invoke: u64, ret: Option<u64>, outcome: Outcome) -> Op {
        Op {
            client: 1,
            key: "k".into(),
            kind,
            invoke: invoke * MS,
            ret: ret.map(|r| r * MS),
            outcome,
        }
    }

    fn write(invoke: u64, ret: u64, outcome: Outcome) -> Op {
        op(Kind::Write { value: invoke as i64 }, invoke, Some(ret), outcome)
    }

    fn read(invoke: u64, ret: u64) -> Op {
        op(Kind::Read { value: None }, invoke, Some(ret), Outcome::Ok)
    }

    #[test]
    fn recovery_is_timed_from_each_fault_to_the_first_write_invoked_after_it() {
        let ops = vec![
            // In flight across the fault at 10 ms: says nothing about after it.
            op(Kind::Write { value: 1 }, 9, Some(40), Outcome::Ok),
            op(Kind::Write { value: 2 }, 12, None, Outcome::Unknown),
            op(Kind::Write { value: 3 }, 20, Some(25), Outcome::Failed),
            op(Kind::Read { value: Some(1) }, 21, Some(22), Outcome::Ok),
            op(Kind::Write { value: 4 }, 30, Some(35), Outcome::Ok),
            op(Kind::Cas { expect: 4, value: 5 }, 31, Some(33), Outcome::Ok),
        ];
        assert_eq!(recovery_ns(&ops, &[10 * MS, 32 * MS]), vec![Some(23 * MS), None]);
        assert_eq!(recovery_ns(&ops, &[]), Vec::<Option<u64>>::new());
    }

    #[test]
    fn unavailability_is_the_longest_gap_between_successful_write_returns() {
        assert_eq!(longest_unavailable_ns(&[]), 0);
        // Writes return at 5, 10 and 900; the run spans 0..=1000.
        let ops = vec![
            write(0, 5, Outcome::Ok),
            write(6, 10, Outcome::Ok),
            write(11, 300, Outcome::Unknown),
            write(400, 450, Outcome::Failed),
            op(Kind::Cas { expect: 1, value: 2 }, 800, Some(900), Outcome::Ok),
            read(1000, 1001),
        ];
        assert_eq!(longest_unavailable_ns(&ops), 890 * MS);
        let s = Summary::of(&ops);
        assert_eq!((s.operations, s.ok, s.failed, s.unknown), (6, 4, 1, 1));
        assert_eq!(s.longest_unavailable_ms(), 890);
    }

    #[test]
    fn unavailability_counts_the_start_and_the_end_of_the_run() {
        // Nothing succeeds for 700 ms from the start.
        let late_start =
            vec![read(0, 1), write(10, 700, Outcome::Ok), write(701, 702, Outcome::Ok)];
        assert_eq!(longest_unavailable_ns(&late_start), 700 * MS);
        // The last write returns at 100 but clients keep trying until 600.
        let dead_end = vec![write(0, 100, Outcome::Ok), read(600, 601)];
        assert_eq!(longest_unavailable_ns(&dead_end), 500 * MS);
        // No write ever succeeds: the whole run; a failed CAS is no write.
        let none = vec![
            write(0, 5, Outcome::Failed),
            op(Kind::Cas { expect: 1, value: 2 }, 10, Some(20), Outcome::Failed),
            read(250, 260),
        ];
        assert_eq!(longest_unavailable_ns(&none), 250 * MS);
        // A successful write returning after the last invoke is clipped to it.
        let clipped = vec![write(0, 50, Outcome::Ok), write(60, 5000, Outcome::Ok), read(100, 101)];
        assert_eq!(longest_unavailable_ns(&clipped), 50 * MS);
        // LOCAL and linearizable reads are not writes, whatever they return.
        let reads =
            vec![read(0, 1), op(Kind::LocalRead { value: Some(1) }, 2, Some(3), Outcome::Ok)];
        assert_eq!(longest_unavailable_ns(&reads), 2 * MS);
    }

    #[test]
    fn the_report_prints_counts_unavailability_and_the_verdict() {
        let ops = vec![write(0, 5, Outcome::Ok), write(6, 812, Outcome::Ok), read(813, 814)];
        let summary = Summary::of(&ops);
        let pass = Verdict { keys: 1, ops: 4, ..Verdict::default() };
        let t = text(&summary, &pass);
        let mut lines = t.lines();
        assert_eq!(
            lines.next(),
            Some("3 operations on 1 keys: linearizable, final states consistent")
        );
        assert_eq!(
            lines.next(),
            Some("ok 3, failed 0, unknown 0, longest write unavailability 807 ms")
        );
        let j = json(&summary, &pass, 3);
        assert_eq!(j["verdict"], "pass");
        assert_eq!(j["linearizable"], true);
        assert_eq!(j["operations"], 3);
        assert_eq!(j["ok"], 3);
        assert_eq!(j["longest_unavailable_ms"], 807);
        assert_eq!(j["keys"], 1);
        assert_eq!(j["nodes"], 3);

        let unreachable = Unreachable { node: "http://n4".into(), error: "refused".into() };
        let down = Verdict { unreachable: vec![unreachable], ..pass.clone() };
        let t = text(&summary, &down);
        assert!(t.lines().next().unwrap().contains("INCONCLUSIVE (1 node did not answer"), "{t}");
        assert!(t.contains("node http://n4 did not answer: refused"), "{t}");
        let j = json(&summary, &down, 2);
        assert_eq!(j["verdict"], "inconclusive");
        assert_eq!(j["linearizable"], true);
        assert_eq!(j["unreachable"][0]["node"], "http://n4");

        let violation = Violation {
            key: "k".into(),
            problem: Problem::LocalReadUnwritten,
            detail: "LOCAL reads saw 7".into(),
            ops: vec![read(1, 2)],
        };
        let bad = Verdict { violations: vec![violation], ..pass };
        let t = text(&summary, &bad);
        assert!(t.starts_with("3 operations on 1 keys: NOT linearizable\n"), "{t}");
        assert!(t.contains("key k: a LOCAL read saw a value never written — LOCAL reads saw 7"));
        let j = json(&summary, &bad, 3);
        assert_eq!(j["verdict"], "fail");
        assert_eq!(j["linearizable"], false);
        assert_eq!(j["violations"][0]["problem"], "local_read_unwritten");
    }
}
