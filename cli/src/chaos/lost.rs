//! Writes the system itself reported lost, excused from the check.
//!
//! A forced failover promotes the standby without the primary's last writes — the ones it had not
//! shipped yet. That is the documented RPO, not a bug, but only if the system *says* so: when the
//! old primary comes back and is reprotected, it keeps those writes aside as divergent
//! (`twinstore dr divergent --export FILE` lists them). The checker then treats a workload write
//! found in that list as one that did not take effect (it is not in the surviving history), and
//! drops the observations that may have seen it — reads and LOCAL reads that returned its value,
//! and failed conditional writes of its key that returned after it was invoked (their "the twin
//! did not hold X" may be about the lost state). Everything else is checked as usual, so an
//! acknowledged write that vanished *without* being listed still fails the run.
//!
//! The values are found precisely: in each divergent command, the workload's property `v` of a
//! twin or relationship document, and the `value` of a JSON Patch on `/v` (documents and patches
//! travel as JSON text inside the command, so strings that parse as JSON are searched too).

use super::history::{Kind, Op, Outcome};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The workload values written by the divergent commands of a `dr divergent --export` file (JSON
/// lines, each with the command under `"command"`).
pub fn lost_values(export: &str) -> Result<BTreeSet<i64>, String> {
    let mut values = BTreeSet::new();
    for (i, line) in export.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let record: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let command = record
            .get("command")
            .ok_or_else(|| format!("line {}: no \"command\" in a divergent write", i + 1))?;
        collect(command, &mut values);
    }
    Ok(values)
}

/// Adds the values `v` (of a document) and `value` (of a patch of `/v`) found anywhere in `json`.
fn collect(json: &Value, out: &mut BTreeSet<i64>) {
    match json {
        Value::Object(map) => {
            if let Some(v) = map.get("v").and_then(Value::as_i64) {
                out.insert(v);
            }
            if map.get("path").and_then(Value::as_str) == Some("/v")
                && let Some(v) = map.get("value").and_then(Value::as_i64)
            {
                out.insert(v);
            }
            map.values().for_each(|v| collect(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        Value::String(text) if text.starts_with(['{', '[']) => {
            if let Ok(inner) = serde_json::from_str::<Value>(text) {
                collect(&inner, out);
            }
        }
        _ => {}
    }
}

/// What excusing did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Excused {
    /// Acknowledged writes reported lost.
    pub acknowledged: usize,
    /// Writes of unknown outcome reported lost (they did take effect, on the old primary).
    pub unknown: usize,
    /// Observations dropped because they may have seen a lost write.
    pub observations: usize,
}

/// `ops` without the writes in `lost` and the observations that may have seen them.
pub fn excuse(ops: &[Op], lost: &BTreeSet<i64>) -> (Vec<Op>, Excused) {
    let mut excused = Excused::default();
    let is_lost = |op: &Op| op.kind.written().is_some_and(|v| lost.contains(&v));
    // Per key, when its first lost write was invoked.
    let mut first: BTreeMap<&str, u64> = BTreeMap::new();
    for op in ops.iter().filter(|op| is_lost(op) && op.outcome != Outcome::Failed) {
        let t = first.entry(op.key.as_str()).or_insert(op.invoke);
        *t = (*t).min(op.invoke);
    }
    let kept = ops
        .iter()
        .filter(|op| {
            if is_lost(op) && op.outcome != Outcome::Failed {
                match op.outcome {
                    Outcome::Ok => excused.acknowledged += 1,
                    _ => excused.unknown += 1,
                }
                return false;
            }
            let saw_lost = match &op.kind {
                Kind::Read { value } | Kind::LocalRead { value } => {
                    value.is_some_and(|v| lost.contains(&v))
                }
                Kind::Cas { .. } => {
                    op.outcome == Outcome::Failed
                        && first.get(op.key.as_str()).is_some_and(|t| op.ret.is_none_or(|r| r > *t))
                }
                Kind::Write { .. } => false,
            };
            if saw_lost {
                excused.observations += 1;
            }
            !saw_lost
        })
        .cloned()
        .collect();
    (kept, excused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::checker::{self, Finals, NodeState};

    fn op(kind: Kind, invoke: u64, ret: u64, outcome: Outcome) -> Op {
        Op { client: 1, key: "chaos-0".into(), kind, invoke, ret: Some(ret), outcome }
    }

    #[test]
    fn values_are_found_in_documents_and_patches_not_elsewhere() {
        let export = [
            r#"{"index": 41, "epoch": 2, "command": {"PutTwin": {"id": "chaos-0", "twin_json": "{\"$metadata\":{\"$model\":\"m\"},\"v\":1099511627777}"}}}"#,
            r#"{"index": 42, "command": {"PatchTwin": {"id": "chaos-1", "patch_json": "[{\"op\":\"replace\",\"path\":\"/v\",\"value\":7}]"}}}"#,
            r#"{"index": 43, "requestId": 9, "command": {"PutRelationship": {"source": "chaos-2", "relationship_json": "{\"$targetId\":\"chaos-3\",\"v\":12}"}}}"#,
        ]
        .join("\n");
        let values = lost_values(&export).unwrap();
        assert_eq!(values, BTreeSet::from([7, 12, 1_099_511_627_777]));
        // Indexes, epochs and request ids are not values.
        assert!(!values.contains(&41) && !values.contains(&9));
        assert!(lost_values("{\"index\": 1}").unwrap_err().contains("no \"command\""));
        assert!(lost_values("not json").is_err());
    }

    #[test]
    fn a_reported_loss_is_excused_and_an_unreported_one_is_not() {
        // 1 is acknowledged and survives; 2 is acknowledged, read, and lost with the old primary.
        let history = vec![
            op(Kind::Write { value: 1 }, 0, 10, Outcome::Ok),
            op(Kind::Write { value: 2 }, 20, 30, Outcome::Ok),
            op(Kind::Read { value: Some(2) }, 40, 50, Outcome::Ok),
            op(Kind::Cas { expect: 5, value: 3 }, 45, 55, Outcome::Failed),
            op(Kind::LocalRead { value: Some(2) }, 46, 56, Outcome::Ok),
            // On the new primary, after the failover.
            op(Kind::Read { value: Some(1) }, 100, 110, Outcome::Ok),
        ];
        let finals = Finals {
            nodes: vec![NodeState {
                node: "n".into(),
                values: BTreeMap::from([("chaos-0".to_string(), Some(1))]),
            }],
            unreachable: Vec::new(),
        };
        // Without the report, write 2 is lost: a violation.
        assert!(!checker::check(&history, &finals).ok());
        // Reported lost: excused, with the read, LOCAL read and failed CAS that may have seen it.
        let (kept, excused) = excuse(&history, &BTreeSet::from([2]));
        assert_eq!(excused, Excused { acknowledged: 1, unknown: 0, observations: 3 });
        assert_eq!(kept.len(), 2);
        assert!(checker::check(&kept, &finals).ok());
        // A report of some other value excuses nothing.
        let (kept, excused) = excuse(&history, &BTreeSet::from([99]));
        assert_eq!(excused, Excused::default());
        assert!(!checker::check(&kept, &finals).ok());
    }
}
