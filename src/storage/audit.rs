//! The audit trail: who ran which administrative operation, when, and how it ended.
//!
//! Failover, reprotect and membership changes are recorded by the node that ran them as an
//! [`Op::Audit`] command through the region's raft log, so every replica of the region holds the
//! same trail and a restarted node finds it again. Like every command, the op never reads the
//! clock: *who* and *what* are in the op (the caller's principal, the method and its arguments,
//! the outcome), and *when* is the command's time, decided by the leader that proposed it; the
//! key is that time and the log index, so entries sort by time and never collide.
//!
//! WHERE IT LIVES. In its own key space (0x0e, see [`keys`](super::keys)), which is *region
//! local*, like the incident history and for the same reasons: a standby region must hold
//! exactly the primary's data, yet an operator runs a failover *on* the standby and that must be
//! recorded there; so audit entries are not data writes, they are not shipped, the fingerprint
//! skips them and a reseed keeps them. Each region's trail says what was done to that region.
//!
//! The trail is bounded ([`MAX_AUDIT_ENTRIES`]): past it the oldest entries go, a rule that only
//! depends on the stored state, so every replica drops the same ones.

use super::apply::{Fail, Step, Writes};
use super::command::{Op, Reply};
use super::keys::{Key, Reader, Space};
use super::store::{Store, corrupt};
use super::{StorageError, codec};
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The most entries a region keeps: years of failovers and membership changes. Each audit op
/// scans the trail to bound it, which is cheap at this size and for operations this rare.
pub const MAX_AUDIT_ENTRIES: usize = 1000;

/// One administrative operation, as the node that ran it describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Who: the token's subject or the certificate's name; `anonymous` without authentication.
    pub subject: String,
    /// Their role (`Admin`, ...), or empty without authentication.
    pub role: String,
    /// How they were identified: `token`, `certificate`, `node region/id`, or `none`.
    pub via: String,
    /// What: the gRPC method (`Failover`, `AddNode`, ...).
    pub method: String,
    /// Its arguments, in words (`planned`, `node 4 at http://...`).
    pub detail: String,
    /// How it ended: `OK`, or the error line (`Unavailable: ...`).
    pub outcome: String,
    /// The node that ran it.
    pub node_id: u64,
    /// Its region.
    pub region: String,
}

/// An entry as stored: with the time and log index of the command that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The command's time (the leader's, when it proposed it).
    pub time: Timestamp,
    /// The log index it was applied at.
    pub index: u64,
    /// What was done.
    pub entry: AuditEntry,
}

fn audit_key(time: Timestamp, index: u64) -> Vec<u8> {
    Key::new(Space::Audit).u(time.0).u(index).into_bytes()
}

impl Store {
    /// Applies an [`Op::Audit`]: stores the entry at (time, index), then drops the oldest past
    /// [`MAX_AUDIT_ENTRIES`].
    pub(super) fn execute_audit(
        &self,
        w: &mut Writes,
        time: Timestamp,
        index: u64,
        op: &Op,
    ) -> Step<Reply> {
        let Op::Audit { entry } = op else {
            return Err(Fail::Storage(StorageError::Corrupt(format!(
                "{} is not an audit op",
                op.name()
            ))));
        };
        let record = AuditRecord { time, index, entry: entry.clone() };
        w.put(audit_key(time, index), codec::encode(&record)?);
        let held = w.scan_prefix(&[Space::Audit as u8])?;
        let excess = held.len().saturating_sub(MAX_AUDIT_ENTRIES);
        for (k, _) in held.into_iter().take(excess) {
            w.delete(k);
        }
        Ok(Reply::Done)
    }

    /// The region's audit trail, newest first; at most `limit` entries (0: all).
    pub fn audit_entries(&self, limit: usize) -> Result<Vec<AuditRecord>, StorageError> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut out = Vec::new();
        for kv in self.graph.scan_prefix([Space::Audit as u8]).rev().take(limit) {
            let (k, v) = kv?;
            Reader::new(&k, Space::Audit).ok_or_else(|| corrupt("audit key"))?;
            out.push(codec::decode(&v)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{Harness, put};
    use serde_json::json;

    pub(crate) fn entry(method: &str) -> AuditEntry {
        AuditEntry {
            subject: "alice".into(),
            role: "Admin".into(),
            via: "token".into(),
            method: method.into(),
            detail: "planned".into(),
            outcome: "OK".into(),
            node_id: 1,
            region: "west".into(),
        }
    }

    #[test]
    fn entries_are_kept_with_the_commands_time_newest_first() {
        let mut h = Harness::new();
        h.ok(Op::Audit { entry: entry("Failover") });
        let (t1, i1) = (h.time, h.index);
        h.ok(Op::Audit { entry: entry("AddNode") });
        let got = h.store.audit_entries(0).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].entry.method, "AddNode");
        assert_eq!(
            got[1],
            AuditRecord { time: Timestamp(t1), index: i1, entry: entry("Failover") }
        );
        assert_eq!(h.store.audit_entries(1).unwrap().len(), 1);
    }

    #[test]
    fn the_trail_is_region_local_and_not_a_data_write() {
        let mut h = Harness::new();
        h.put_twin("a", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}}));
        let before = h.store.fingerprint().unwrap();
        h.ok(Op::Audit { entry: entry("Reprotect") });
        assert_eq!(h.store.fingerprint().unwrap(), before, "the fingerprint covers the trail");
        assert!(!crate::storage::dr::is_data_write(&Op::Audit { entry: entry("x") }));
        assert!(crate::storage::keys::region_local(Space::Audit as u8));
        // A standby records too (it refuses data writes only).
        let mut s = Harness::new();
        s.ok(Op::DrInit { role: crate::storage::dr::Role::Standby, epoch: 1, peer: None });
        s.ok(Op::Audit { entry: entry("Failover") });
        assert_eq!(s.store.audit_entries(0).unwrap().len(), 1);
        assert_eq!(s.fail(put("b", json!({}))), crate::error::ErrorCode::ReadOnlyRegion);
    }

    #[test]
    fn the_oldest_entries_go_past_the_bound() {
        let mut h = Harness::empty();
        for _ in 0..MAX_AUDIT_ENTRIES + 3 {
            h.ok(Op::Audit { entry: entry("AddNode") });
        }
        let all = h.store.audit_entries(0).unwrap();
        assert_eq!(all.len(), MAX_AUDIT_ENTRIES);
        assert_eq!(all.last().unwrap().index, 4, "the first three were dropped");
    }
}
