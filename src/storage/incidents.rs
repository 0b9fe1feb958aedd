//! Incidents: the service-health history of a region, kept in its own raft log.
//!
//! An incident ("node 3 of region west is down", "failover to region east") is recorded by the
//! region's leader as a command, so every replica of the region holds the same history and a
//! node that restarts finds it again. Like every command, the ops here never read the clock: the
//! times are in the op (decided by the leader that proposed it).
//!
//! WHERE THEY LIVE. In their own key space (0x0d, see [`keys`](super::keys)), which is *region
//! local*, like the DR state: a standby region must hold byte-for-byte the primary's data (its
//! fingerprint is compared, a reseed replaces it), and it refuses data writes of its own — but it
//! must still record what happens to it. So the incident ops are not data writes
//! ([`is_data_write`](super::dr::is_data_write) is false for them), they are not shipped by log
//! shipping, the fingerprint skips them and a reseed keeps them.
//!
//! HOW BOTH REGIONS GET THE WHOLE HISTORY. Each incident has an *owner*: the region that recorded
//! it, the only one that updates it, each update bumping its `version`. The other region's leader
//! fetches the owner's incidents periodically and merges them ([`Op::MergeIncidents`]: a copy is
//! stored when it is new or has a higher version), so both regions converge on the same set, and a
//! region that was down sees on its return what happened while it was gone.
//!
//! THE OPS.
//! - `RecordIncident`: a new incident. A no-op when its id exists, or when the same owner already
//!   has an incident of the same cause in the same region whose time span overlaps it (two nodes
//!   that saw the same outage report it once).
//! - `UpdateIncident`: appends one update (and maybe a new status and summary) if the op's
//!   `version` is exactly the next one, so a retried proposal is not applied twice.
//! - `MergeIncidents`: copies from the peer region, each kept if new or newer.
//!
//! The history is bounded ([`MAX_INCIDENTS`]): past it, the oldest mitigated incidents go first, a
//! rule that only depends on the stored state, so every replica drops the same ones.

use super::apply::{Step, Writes};
use super::command::{Op, Reply};
use super::keys::{Key, Reader, Space};
use super::store::{Store, corrupt};
use super::{StorageError, codec};
use crate::err;
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The most incidents a region keeps.
pub const MAX_INCIDENTS: usize = 1000;

/// Whether an incident is still going on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentStatus {
    /// The cause is still there.
    Active,
    /// The cause went away (or the event is over).
    Mitigated,
}

impl IncidentStatus {
    /// `Active` or `Mitigated`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Active => "Active",
            IncidentStatus::Mitigated => "Mitigated",
        }
    }
}

/// What kind of incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentKind {
    /// The region's leader was lost; another node was elected.
    LeaderLost,
    /// A member of the region is unreachable.
    NodeDown,
    /// The region has no quorum: no leader, no writes, no linearizable reads.
    QuorumLost,
    /// Replication (across regions, or to a follower) is behind its threshold.
    ReplicationLag,
    /// The other region of the DR pair cannot be reached (shipping stopped).
    RegionUnreachable,
    /// A failover to this region (planned or forced).
    Failover,
    /// A planned failover back to the region that was primary before.
    Failback,
    /// A former primary became the standby of the new primary.
    Reprotect,
    /// The region was fenced: a higher epoch exists; it refuses writes until reprotected.
    Fenced,
    /// A node's storage reports errors.
    StorageErrors,
}

impl IncidentKind {
    /// Every kind.
    pub const ALL: [IncidentKind; 10] = [
        IncidentKind::LeaderLost,
        IncidentKind::NodeDown,
        IncidentKind::QuorumLost,
        IncidentKind::ReplicationLag,
        IncidentKind::RegionUnreachable,
        IncidentKind::Failover,
        IncidentKind::Failback,
        IncidentKind::Reprotect,
        IncidentKind::Fenced,
        IncidentKind::StorageErrors,
    ];

    /// A stable name for APIs, metrics and the CLI (`node_down`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::LeaderLost => "leader_lost",
            IncidentKind::NodeDown => "node_down",
            IncidentKind::QuorumLost => "quorum_lost",
            IncidentKind::ReplicationLag => "replication_lag",
            IncidentKind::RegionUnreachable => "region_unreachable",
            IncidentKind::Failover => "failover",
            IncidentKind::Failback => "failback",
            IncidentKind::Reprotect => "reprotect",
            IncidentKind::Fenced => "fenced",
            IncidentKind::StorageErrors => "storage_errors",
        }
    }

    /// Parses [`IncidentKind::as_str`].
    pub fn parse(s: &str) -> Option<IncidentKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    /// When (the owner's leader's clock).
    pub time: Timestamp,
    /// The status from this update on.
    pub status: IncidentStatus,
    /// What happened.
    pub message: String,
}

/// An incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Unique across both regions: `<owner region>-<term>-<n>`.
    pub id: String,
    /// What kind.
    pub kind: IncidentKind,
    /// A stable key of the cause (`node_down/3`): the owner keeps at most one active incident per
    /// cause and region, and mitigates it when the cause goes away.
    pub cause: String,
    /// The affected region.
    pub region: String,
    /// The affected nodes (ids in the affected region), if any in particular.
    pub nodes: Vec<u64>,
    /// The region that recorded the incident and keeps it up to date.
    pub owner: String,
    /// When it started.
    pub started: Timestamp,
    /// Active or Mitigated (the status of the last update).
    pub status: IncidentStatus,
    /// When it was mitigated.
    pub mitigated: Option<Timestamp>,
    /// What it is about, in a sentence or two.
    pub summary: String,
    /// The timeline, oldest first; never empty.
    pub updates: Vec<IncidentUpdate>,
    /// Grows by one at every update (merges keep the highest).
    pub version: u64,
}

impl Incident {
    /// `twinstore - <region> - <status>`, as Azure Service Health titles them.
    pub fn title(&self) -> String {
        format!("twinstore - {} - {}", self.region, self.status.as_str())
    }

    /// The time of the last update.
    pub fn updated(&self) -> Timestamp {
        self.updates.last().map(|u| u.time).unwrap_or(self.started)
    }

    /// When it ended (`None`: still active).
    pub fn ended(&self) -> Option<Timestamp> {
        match self.status {
            IncidentStatus::Active => None,
            IncidentStatus::Mitigated => Some(self.mitigated.unwrap_or_else(|| self.updated())),
        }
    }

    /// Whether `other` is the same event seen twice: same owner, region and cause, and time spans
    /// that overlap.
    pub fn same_event(&self, other: &Incident) -> bool {
        let overlaps = |a: &Incident, b: &Incident| a.ended().is_none_or(|end| b.started <= end);
        self.owner == other.owner
            && self.region == other.region
            && self.cause == other.cause
            && overlaps(self, other)
            && overlaps(other, self)
    }

    /// This incident with one more update.
    pub fn with_update(&self, update: IncidentUpdate, summary: Option<String>) -> Incident {
        let mut next = self.clone();
        next.status = update.status;
        next.mitigated = match update.status {
            IncidentStatus::Mitigated => Some(update.time),
            IncidentStatus::Active => None,
        };
        if let Some(s) = summary {
            next.summary = s;
        }
        next.updates.push(update);
        next.version += 1;
        next
    }
}

fn incident_key(started: Timestamp, id: &str) -> Vec<u8> {
    Key::new(Space::Incident).u(started.0).s(id).into_bytes()
}

fn decode_incidents(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Incident>, StorageError> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            Reader::new(&k, Space::Incident).ok_or_else(|| corrupt("incident key"))?;
            codec::decode(&v)
        })
        .collect()
}

impl Store {
    /// Every incident this region holds, newest first (by start).
    pub fn incidents(&self) -> Result<Vec<Incident>, StorageError> {
        let mut out = Vec::new();
        for kv in self.graph.scan_prefix([Space::Incident as u8]).rev() {
            let (k, v) = kv?;
            Reader::new(&k, Space::Incident).ok_or_else(|| corrupt("incident key"))?;
            out.push(codec::decode(&v)?);
        }
        Ok(out)
    }

    /// One incident by id.
    pub fn incident(&self, id: &str) -> Result<Option<Incident>, StorageError> {
        Ok(self.incidents()?.into_iter().find(|i| i.id == id))
    }

    /// Applies an incident op.
    pub(super) fn execute_incident(&self, w: &mut Writes, op: &Op) -> Step<Reply> {
        let prefix = [Space::Incident as u8];
        let held = decode_incidents(w.scan_prefix(&prefix)?)?;
        match op {
            Op::RecordIncident { incident } => {
                if incident.updates.is_empty() {
                    return Err(err!(InvalidArgument, "an incident needs a timeline").into());
                }
                if held.iter().any(|i| i.id == incident.id || i.same_event(incident)) {
                    return Ok(Reply::Done);
                }
                w.put(incident_key(incident.started, &incident.id), codec::encode(incident)?);
                self.evict_incidents(w, held.len() + 1, held)?;
                Ok(Reply::Done)
            }
            Op::UpdateIncident { id, version, update, summary } => {
                let Some(current) = held.iter().find(|i| &i.id == id) else {
                    return Err(err!(InvalidArgument, "there is no incident '{id}'").into());
                };
                if current.version + 1 != *version {
                    return Err(err!(
                        PreconditionFailed,
                        "incident '{id}' is at version {}, the update is for version {version}",
                        current.version
                    )
                    .into());
                }
                let next = current.with_update(update.clone(), summary.clone());
                w.put(incident_key(next.started, &next.id), codec::encode(&next)?);
                Ok(Reply::Done)
            }
            Op::MergeIncidents { incidents } => {
                let mut count = held.len();
                for incident in incidents {
                    match held.iter().find(|i| i.id == incident.id) {
                        Some(mine) if mine.version >= incident.version => continue,
                        Some(mine) => w.delete(incident_key(mine.started, &mine.id)),
                        None => count += 1,
                    }
                    w.put(incident_key(incident.started, &incident.id), codec::encode(incident)?);
                }
                let held = decode_incidents(w.scan_prefix(&prefix)?)?;
                self.evict_incidents(w, count, held)?;
                Ok(Reply::Done)
            }
            _ => Err(super::apply::Fail::Storage(StorageError::Corrupt(format!(
                "{} is not an incident op",
                op.name()
            )))),
        }
    }

    /// Drops the oldest mitigated incidents while there are more than [`MAX_INCIDENTS`]. `held`
    /// is in key order (oldest start first).
    fn evict_incidents(
        &self,
        w: &mut Writes,
        mut count: usize,
        held: Vec<Incident>,
    ) -> Result<(), StorageError> {
        for i in held {
            if count <= MAX_INCIDENTS {
                break;
            }
            if i.status == IncidentStatus::Mitigated {
                w.delete(incident_key(i.started, &i.id));
                count -= 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::dr::Role;
    use crate::storage::tests::Harness;

    fn incident(id: &str, cause: &str, started: u64) -> Incident {
        Incident {
            id: id.into(),
            kind: IncidentKind::NodeDown,
            cause: cause.into(),
            region: "west".into(),
            nodes: vec![3],
            owner: "west".into(),
            started: Timestamp(started),
            status: IncidentStatus::Active,
            mitigated: None,
            summary: "node 3 is unreachable".into(),
            updates: vec![IncidentUpdate {
                time: Timestamp(started),
                status: IncidentStatus::Active,
                message: "node 3 is unreachable".into(),
            }],
            version: 1,
        }
    }

    fn mitigation(t: u64) -> IncidentUpdate {
        IncidentUpdate {
            time: Timestamp(t),
            status: IncidentStatus::Mitigated,
            message: "back".into(),
        }
    }

    #[test]
    fn record_update_and_list_newest_first() {
        let mut h = Harness::empty();
        h.ok(Op::RecordIncident { incident: incident("west-1-1", "node_down/3", 10) });
        h.ok(Op::RecordIncident { incident: incident("west-1-2", "node_down/2", 20) });
        // Same id again: a no-op.
        h.ok(Op::RecordIncident { incident: incident("west-1-2", "node_down/2", 20) });
        let all = h.store.incidents().unwrap();
        assert_eq!(all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["west-1-2", "west-1-1"]);
        assert_eq!(all[0].title(), "twinstore - west - Active");

        let op = |version| Op::UpdateIncident {
            id: "west-1-1".into(),
            version,
            update: mitigation(30),
            summary: Some("node 3 was down for 20 ns".into()),
        };
        h.ok(op(2));
        // A retried update (same version) is refused, not applied twice.
        assert_eq!(h.fail(op(2)), crate::error::ErrorCode::PreconditionFailed);
        let i = h.store.incident("west-1-1").unwrap().unwrap();
        assert_eq!(i.status, IncidentStatus::Mitigated);
        assert_eq!(i.mitigated, Some(Timestamp(30)));
        assert_eq!(i.updates.len(), 2);
        assert_eq!(i.version, 2);
        assert_eq!(i.summary, "node 3 was down for 20 ns");
        assert_eq!(i.title(), "twinstore - west - Mitigated");
    }

    #[test]
    fn the_same_event_reported_twice_is_kept_once() {
        let mut h = Harness::empty();
        let mut a = incident("west-n1-1", "quorum_lost", 100);
        a = a.with_update(mitigation(200), None);
        h.ok(Op::RecordIncident { incident: a });
        // Another survivor saw the same outage from 120 to 190.
        let b = incident("west-n2-1", "quorum_lost", 120).with_update(mitigation(190), None);
        h.ok(Op::RecordIncident { incident: b });
        // A later outage of the same cause is a new incident.
        let c = incident("west-n1-2", "quorum_lost", 300).with_update(mitigation(400), None);
        h.ok(Op::RecordIncident { incident: c });
        let ids: Vec<String> = h.store.incidents().unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(ids, ["west-n1-2", "west-n1-1"]);
    }

    #[test]
    fn merges_keep_the_newest_version_and_converge() {
        let mut west = Harness::empty();
        let mut east = Harness::empty();
        east.ok(Op::DrInit { role: Role::Standby, epoch: 1, peer: None });
        let i = incident("west-1-1", "node_down/3", 10);
        west.ok(Op::RecordIncident { incident: i.clone() });
        east.ok(Op::MergeIncidents { incidents: west.store.incidents().unwrap() });
        west.ok(Op::UpdateIncident {
            id: i.id.clone(),
            version: 2,
            update: mitigation(20),
            summary: None,
        });
        // An old copy does not overwrite a newer one; a newer one replaces the old.
        east.ok(Op::MergeIncidents { incidents: vec![i.clone()] });
        east.ok(Op::MergeIncidents { incidents: west.store.incidents().unwrap() });
        assert_eq!(east.store.incidents().unwrap(), west.store.incidents().unwrap());
        west.ok(Op::MergeIncidents { incidents: vec![i] });
        assert_eq!(east.store.incidents().unwrap(), west.store.incidents().unwrap());
        assert_eq!(west.store.incidents().unwrap()[0].status, IncidentStatus::Mitigated);
    }

    #[test]
    fn incidents_are_region_local_not_data() {
        let mut h = Harness::new();
        let before = h.store.fingerprint().unwrap();
        h.ok(Op::RecordIncident { incident: incident("west-1-1", "node_down/3", 10) });
        assert_eq!(h.store.fingerprint().unwrap(), before, "the fingerprint covers data only");
        assert!(!crate::storage::dr::is_data_write(&Op::RecordIncident {
            incident: incident("x", "y", 1)
        }));
        // A standby records incidents (it refuses only data writes).
        let mut s = Harness::empty();
        s.ok(Op::DrInit { role: Role::Standby, epoch: 1, peer: None });
        s.ok(Op::RecordIncident { incident: incident("east-1-1", "fenced", 10) });
        assert_eq!(s.store.incidents().unwrap().len(), 1);
    }

    #[test]
    fn the_history_is_bounded_dropping_the_oldest_mitigated() {
        let mut h = Harness::empty();
        let active = incident("keep-active", "fenced", 1);
        h.ok(Op::RecordIncident { incident: active });
        let batch: Vec<Incident> = (0..MAX_INCIDENTS as u64)
            .map(|n| {
                incident(&format!("m-{n}"), &format!("c/{n}"), 10 + n)
                    .with_update(mitigation(11 + n), None)
            })
            .collect();
        h.ok(Op::MergeIncidents { incidents: batch });
        let all = h.store.incidents().unwrap();
        assert_eq!(all.len(), MAX_INCIDENTS);
        assert!(all.iter().any(|i| i.id == "keep-active"), "active incidents are kept");
        assert!(!all.iter().any(|i| i.id == "m-0"), "the oldest mitigated one went");
    }
}
