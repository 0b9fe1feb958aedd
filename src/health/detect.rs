//! Incident detection: which conditions hold, and what to record about them — pure functions
//! over what the monitor observed, so the rules are tested without a cluster.
//!
//! THE RULES (the thresholds are in [`Thresholds`]; the defaults in brackets):
//!
//! | incident | opened when (on the region's leader) | mitigated when |
//! |---|---|---|
//! | node down | a member has failed every probe for `node_down_after` [1.5 s] (10 s for one that never answered yet: it may be starting) | it answers a probe (or leaves the membership) |
//! | leader lost | a node becomes leader while the leader it last knew fails its probe | (recorded mitigated: the election is the mitigation) |
//! | quorum lost | any node: no leader, or a leader without quorum acks, for `quorum_lost_after` [2 s] | a leader with quorum exists again (the node that saw it hands it to the leader) |
//! | region unreachable | standby: not connected to the primary for `region_unreachable_after` [3 s]; primary: the standby does not answer for as long | connected / answers again |
//! | replication lag | standby, connected: lag over `lag_seconds` [30 s] for `lag_for` [2 s]; a follower more than `follower_lag_entries` behind for as long | back under the threshold |
//! | fenced | the region is fenced and not reprotected for `fenced_for` [2 s] | reprotected (or promoted) |
//! | storage errors | a member reports a storage error | its report shows none |
//! | failover, failback, reprotect | recorded around the operation itself (see `hooks`) | the operation ends |
//!
//! Each condition has a stable *cause* key (`node_down/3`, `region_unreachable/west`): the leader
//! keeps at most one active incident per cause, so a new leader picks up where the old one left
//! and nothing is opened twice. An incident is mitigated only on positive evidence that its cause
//! is gone (a successful probe, a reconnected stream) — never because a new leader has not looked
//! yet.

use super::Thresholds;
use crate::model::time::Timestamp;
use crate::storage::incidents::{Incident, IncidentKind, IncidentStatus, IncidentUpdate};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a member that has never answered this node may take to come up before it is down
/// (the members of a new region start one after another).
pub const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// A condition that holds now.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The stable cause key.
    pub cause: String,
    /// The incident kind it opens.
    pub kind: IncidentKind,
    /// The affected region.
    pub region: String,
    /// The affected nodes.
    pub nodes: Vec<u64>,
    /// What is wrong, for the summary and the first update.
    pub message: String,
    /// When it started.
    pub since: Timestamp,
}

/// What the leader observed about one other member.
#[derive(Clone, Debug, Default)]
pub struct MemberObs {
    /// Its id and URL.
    pub id: u64,
    /// Its URL.
    pub addr: String,
    /// It has failed every probe for this long (`None`: its last probe succeeded).
    pub failing_for: Option<Duration>,
    /// Whether it has ever answered this node's probes (a member that has not may still be
    /// starting: it gets [`STARTUP_GRACE`] before it counts as down).
    pub ever_answered: bool,
    /// The last probe error.
    pub error: String,
    /// Its last report's storage error (empty: none), when it answered.
    pub storage_error: String,
    /// Entries behind the leader, and for how long it has been over the threshold.
    pub behind: u64,
    /// How long it has been over the follower-lag threshold.
    pub behind_for: Option<Duration>,
}

/// The DR side of what the leader observed.
#[derive(Clone, Debug, Default)]
pub struct DrObs {
    /// The peer region's name.
    pub peer: String,
    /// This region is a standby (shipping from the peer).
    pub standby: bool,
    /// How long the peer has been unreachable (`None`: reachable now, or not known yet).
    pub peer_down_for: Option<Duration>,
    /// Whether the peer was just seen reachable (evidence to mitigate).
    pub peer_up: bool,
    /// The last error reaching the peer.
    pub peer_error: String,
    /// Standby: replication lag in seconds, and how long it has been over the threshold.
    pub lag_seconds: f64,
    /// How long the lag has been over its threshold.
    pub lag_over_for: Option<Duration>,
    /// The region is fenced awaiting reprotect, for this long.
    pub fenced_for: Option<Duration>,
    /// The epoch (for the fenced message).
    pub epoch: u64,
}

/// What the leader observed.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// This region.
    pub region: String,
    /// This node (the leader).
    pub me: u64,
    /// Now.
    pub now: Timestamp,
    /// Every other member.
    pub members: Vec<MemberObs>,
    /// This node's own storage error (empty: none).
    pub storage_error: String,
    /// DR, when the region has a peer.
    pub dr: Option<DrObs>,
}

fn ago(now: Timestamp, d: Duration) -> Timestamp {
    Timestamp(now.0.saturating_sub(d.as_nanos() as u64))
}

/// The conditions that hold, and the causes known to be clear (with what cleared them).
pub fn conditions(o: &Observed, t: &Thresholds) -> (Vec<Condition>, BTreeMap<String, String>) {
    let mut present = Vec::new();
    let mut clear = BTreeMap::new();
    let mut cond = |cause: String, kind, region: &str, nodes: Vec<u64>, message, since| {
        present.push(Condition { cause, kind, region: region.to_string(), nodes, message, since });
    };
    let region = o.region.as_str();
    for m in &o.members {
        let cause = format!("node_down/{}", m.id);
        let down_after =
            if m.ever_answered { t.node_down_after } else { t.node_down_after.max(STARTUP_GRACE) };
        match m.failing_for {
            Some(d) if d >= down_after => cond(
                cause,
                IncidentKind::NodeDown,
                region,
                vec![m.id],
                format!("node {} ({}) is unreachable: {}", m.id, m.addr, m.error),
                ago(o.now, d),
            ),
            Some(_) => {}
            None => {
                clear.insert(cause, format!("node {} answers again", m.id));
            }
        }
        if m.failing_for.is_none() {
            let cause = format!("storage/{}", m.id);
            if m.storage_error.is_empty() {
                clear.insert(cause, format!("node {}'s storage answers again", m.id));
            } else {
                cond(
                    cause,
                    IncidentKind::StorageErrors,
                    region,
                    vec![m.id],
                    format!("node {} reports a storage error: {}", m.id, m.storage_error),
                    o.now,
                );
            }
            let cause = format!("follower_lag/{}", m.id);
            match m.behind_for {
                Some(d) if d >= t.lag_for => cond(
                    cause,
                    IncidentKind::ReplicationLag,
                    region,
                    vec![m.id],
                    format!(
                        "node {} is {} entries behind the leader (threshold {})",
                        m.id, m.behind, t.follower_lag_entries
                    ),
                    ago(o.now, d),
                ),
                Some(_) => {}
                None => {
                    clear.insert(cause, format!("node {} has caught up with the leader", m.id));
                }
            }
        }
    }
    let cause = format!("storage/{}", o.me);
    if o.storage_error.is_empty() {
        clear.insert(cause, format!("node {}'s storage answers again", o.me));
    } else {
        cond(
            cause,
            IncidentKind::StorageErrors,
            region,
            vec![o.me],
            format!("node {} reports a storage error: {}", o.me, o.storage_error),
            o.now,
        );
    }
    if let Some(dr) = &o.dr {
        let cause = format!("region_unreachable/{}", dr.peer);
        match dr.peer_down_for {
            Some(d) if d >= t.region_unreachable_after => {
                let message = if dr.standby {
                    format!(
                        "the primary region '{}' is unreachable from region '{region}': log \
                         shipping stopped ({})",
                        dr.peer, dr.peer_error
                    )
                } else {
                    format!(
                        "the standby region '{}' is unreachable from region '{region}': region \
                         '{region}' is not protected by DR ({})",
                        dr.peer, dr.peer_error
                    )
                };
                cond(
                    cause,
                    IncidentKind::RegionUnreachable,
                    &dr.peer,
                    vec![],
                    message,
                    ago(o.now, d),
                );
            }
            _ if dr.peer_up => {
                clear.insert(cause, format!("region '{}' is reachable again", dr.peer));
            }
            _ => {}
        }
        let cause = format!("replication_lag/{region}");
        match dr.lag_over_for {
            Some(d) if dr.standby && d >= t.lag_for => cond(
                cause,
                IncidentKind::ReplicationLag,
                region,
                vec![],
                format!(
                    "replication from region '{}' is {:.1} s behind (threshold {:.1} s)",
                    dr.peer, dr.lag_seconds, t.lag_seconds
                ),
                ago(o.now, d),
            ),
            None if dr.peer_up || !dr.standby => {
                clear.insert(cause, format!("replication lag is {:.1} s again", dr.lag_seconds));
            }
            _ => {}
        }
        let cause = "fenced".to_string();
        match dr.fenced_for {
            Some(d) if d >= t.fenced_for => cond(
                cause,
                IncidentKind::Fenced,
                region,
                vec![],
                format!(
                    "region '{region}' was fenced: region '{}' is the primary at epoch {}; this \
                     region refuses writes until `twinstore dr reprotect`",
                    dr.peer, dr.epoch
                ),
                ago(o.now, d),
            ),
            Some(_) => {}
            None => {
                clear.insert(cause, format!("region '{region}' is no longer fenced"));
            }
        }
    } else {
        clear.insert("fenced".into(), format!("region '{region}' is no longer fenced"));
    }
    (present, clear)
}

/// What to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Record a new incident for this condition.
    Open(Condition),
    /// Mitigate this open incident, saying why.
    Mitigate(Incident, String),
}

/// The kinds the detector opens and mitigates on its own (the others are recorded around the
/// operations they describe, or by the node that saw them).
pub fn detector_managed(kind: IncidentKind) -> bool {
    matches!(
        kind,
        IncidentKind::NodeDown
            | IncidentKind::RegionUnreachable
            | IncidentKind::ReplicationLag
            | IncidentKind::Fenced
            | IncidentKind::StorageErrors
    )
}

/// The actions that bring the recorded incidents in line with the conditions. `open` are this
/// region's active incidents (owned by it).
pub fn plan(
    present: &[Condition],
    clear: &BTreeMap<String, String>,
    open: &[Incident],
    members: &[u64],
) -> Vec<Action> {
    let mut actions = Vec::new();
    for c in present {
        if !open.iter().any(|i| i.cause == c.cause && i.region == c.region) {
            actions.push(Action::Open(c.clone()));
        }
    }
    for i in open.iter().filter(|i| detector_managed(i.kind)) {
        if let Some(why) = clear.get(&i.cause) {
            actions.push(Action::Mitigate(i.clone(), why.clone()));
        } else if i.kind == IncidentKind::NodeDown
            && i.nodes.iter().all(|n| !members.contains(n))
            && i.cause.starts_with("node_down/")
        {
            actions.push(Action::Mitigate(i.clone(), "the node left the region".into()));
        }
    }
    actions
}

/// The incident a condition opens.
pub fn open_incident(id: String, owner: &str, c: &Condition) -> Incident {
    Incident {
        id,
        kind: c.kind,
        cause: c.cause.clone(),
        region: c.region.clone(),
        nodes: c.nodes.clone(),
        owner: owner.to_string(),
        started: c.since,
        status: IncidentStatus::Active,
        mitigated: None,
        summary: c.message.clone(),
        updates: vec![IncidentUpdate {
            time: c.since,
            status: IncidentStatus::Active,
            message: c.message.clone(),
        }],
        version: 1,
    }
}

/// How long, in words.
pub fn duration_words(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The update that mitigates `i` at `now`, and its new summary.
pub fn mitigation(i: &Incident, now: Timestamp, why: &str) -> (IncidentUpdate, String) {
    let lasted = Duration::from_nanos(now.0.saturating_sub(i.started.0));
    let message = format!("Mitigated: {why} (after {})", duration_words(lasted));
    let summary = format!("{} Mitigated after {}: {why}.", i.summary, duration_words(lasted));
    (IncidentUpdate { time: now, status: IncidentStatus::Mitigated, message }, summary)
}

/// A leader loss seen by the node elected after it: recorded already mitigated, its timeline the
/// loss and the election.
pub fn leader_lost(
    id: String,
    region: &str,
    lost: u64,
    last_seen: Timestamp,
    elected: u64,
    term: u64,
    now: Timestamp,
) -> Incident {
    let gap = Duration::from_nanos(now.0.saturating_sub(last_seen.0));
    let lost_msg = format!("the leader of region '{region}', node {lost}, was lost");
    let elected_msg = format!(
        "node {elected} was elected leader in term {term}, {} after it last saw node {lost} lead \
         (node {lost} no longer answers)",
        duration_words(gap)
    );
    Incident {
        id,
        kind: IncidentKind::LeaderLost,
        cause: format!("leader_lost/{term}"),
        region: region.to_string(),
        nodes: vec![lost],
        owner: region.to_string(),
        started: last_seen,
        status: IncidentStatus::Mitigated,
        mitigated: Some(now),
        summary: format!("{lost_msg}; {elected_msg}."),
        updates: vec![
            IncidentUpdate { time: last_seen, status: IncidentStatus::Active, message: lost_msg },
            IncidentUpdate { time: now, status: IncidentStatus::Mitigated, message: elected_msg },
        ],
        version: 2,
    }
}

/// A quorum loss as a node sees it while it lasts (to be finished with [`mitigation`]).
pub fn quorum_lost(
    id: String,
    region: &str,
    unreachable: Vec<u64>,
    voters: usize,
    since: Timestamp,
) -> Incident {
    let message = format!(
        "region '{region}' lost its quorum: no leader, no writes, no linearizable reads \
         ({} of {voters} voters unreachable{})",
        unreachable.len(),
        if unreachable.is_empty() {
            String::new()
        } else {
            format!(
                ": node {}",
                unreachable.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", node ")
            )
        }
    );
    Incident {
        id,
        kind: IncidentKind::QuorumLost,
        cause: "quorum_lost".into(),
        region: region.to_string(),
        nodes: unreachable,
        owner: region.to_string(),
        started: since,
        status: IncidentStatus::Active,
        mitigated: None,
        summary: message.clone(),
        updates: vec![IncidentUpdate { time: since, status: IncidentStatus::Active, message }],
        version: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds::default()
    }

    fn obs() -> Observed {
        Observed {
            region: "west".into(),
            me: 1,
            now: Timestamp(100_000_000_000),
            members: vec![
                MemberObs {
                    id: 2,
                    addr: "http://n2".into(),
                    ever_answered: true,
                    ..Default::default()
                },
                MemberObs {
                    id: 3,
                    addr: "http://n3".into(),
                    ever_answered: true,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn causes(c: &[Condition]) -> Vec<&str> {
        c.iter().map(|c| c.cause.as_str()).collect()
    }

    #[test]
    fn a_node_failing_probes_long_enough_is_down() {
        let mut o = obs();
        o.members[1].failing_for = Some(Duration::from_millis(500));
        o.members[1].error = "connection refused".into();
        let (present, clear) = conditions(&o, &t());
        assert!(present.is_empty(), "a blip is not an incident");
        assert!(!clear.contains_key("node_down/3"), "no evidence either way");
        assert!(clear.contains_key("node_down/2"));
        o.members[1].failing_for = Some(Duration::from_secs(2));
        let (present, _) = conditions(&o, &t());
        assert_eq!(causes(&present), ["node_down/3"]);
        assert_eq!(present[0].since, Timestamp(98_000_000_000));
        assert!(present[0].message.contains("connection refused"));
        // A member that never answered yet may still be starting.
        o.members[1].ever_answered = false;
        assert!(conditions(&o, &t()).0.is_empty());
        o.members[1].failing_for = Some(STARTUP_GRACE);
        assert_eq!(causes(&conditions(&o, &t()).0), ["node_down/3"]);
    }

    #[test]
    fn plan_opens_once_and_mitigates_on_evidence() {
        let mut o = obs();
        o.members[1].failing_for = Some(Duration::from_secs(2));
        let (present, clear) = conditions(&o, &t());
        let actions = plan(&present, &clear, &[], &[1, 2, 3]);
        let Action::Open(c) = &actions[0] else { panic!("{actions:?}") };
        let incident = open_incident("west-2-1".into(), "west", c);
        assert_eq!(incident.kind, IncidentKind::NodeDown);
        // Already open: nothing more to do while the node is down.
        assert!(plan(&present, &clear, std::slice::from_ref(&incident), &[1, 2, 3]).is_empty());
        // The node answers again: mitigated.
        o.members[1].failing_for = None;
        let (present, clear) = conditions(&o, &t());
        let actions = plan(&present, &clear, std::slice::from_ref(&incident), &[1, 2, 3]);
        assert!(
            matches!(&actions[..], [Action::Mitigate(i, why)] if i.id == "west-2-1" && why.contains("answers again"))
        );
        let (update, summary) =
            mitigation(&incident, Timestamp(105_000_000_000), "node 3 answers again");
        assert_eq!(update.status, IncidentStatus::Mitigated);
        assert!(update.message.contains("after 7.0 s"), "{}", update.message);
        assert!(summary.contains("Mitigated after 7.0 s"));
        // A node that left the membership is no longer down.
        let (present, clear) = conditions(&obs(), &t());
        let mut gone = incident.clone();
        gone.cause = "node_down/9".into();
        gone.nodes = vec![9];
        let actions = plan(&present, &clear, &[gone], &[1, 2, 3]);
        assert!(matches!(&actions[..], [Action::Mitigate(_, why)] if why.contains("left")));
    }

    #[test]
    fn dr_conditions() {
        let mut o = obs();
        o.dr = Some(DrObs {
            peer: "east".into(),
            standby: true,
            peer_down_for: Some(Duration::from_secs(4)),
            peer_error: "connection refused".into(),
            epoch: 1,
            ..Default::default()
        });
        let (present, clear) = conditions(&o, &t());
        assert_eq!(causes(&present), ["region_unreachable/east"]);
        assert_eq!(present[0].region, "east", "the affected region is the unreachable one");
        assert!(present[0].message.contains("log shipping stopped"));
        assert!(!clear.contains_key("region_unreachable/east"));
        assert!(!clear.contains_key("replication_lag/west"), "lag unknown while disconnected");

        let dr = o.dr.as_mut().unwrap();
        dr.peer_down_for = None;
        dr.peer_up = true;
        dr.lag_seconds = 45.0;
        dr.lag_over_for = Some(Duration::from_secs(3));
        dr.fenced_for = Some(Duration::from_secs(3));
        let (present, clear) = conditions(&o, &t());
        assert_eq!(causes(&present), ["replication_lag/west", "fenced"]);
        assert!(clear.contains_key("region_unreachable/east"));
    }

    #[test]
    fn leader_and_quorum_incidents_have_their_timelines() {
        let i =
            leader_lost("west-5-1".into(), "west", 1, Timestamp(10), 2, 5, Timestamp(900_000_010));
        assert_eq!(i.status, IncidentStatus::Mitigated);
        assert_eq!(i.updates.len(), 2);
        assert!(i.summary.contains("node 1, was lost"), "{}", i.summary);
        assert!(i.summary.contains("term 5, 0.9 s after it last saw node 1 lead"), "{}", i.summary);
        let q = quorum_lost("west-n1-1".into(), "west", vec![2, 3], 3, Timestamp(10));
        assert!(q.summary.contains("2 of 3 voters unreachable: node 2, node 3"), "{}", q.summary);
        let (u, s) = mitigation(&q, Timestamp(2_000_000_010), "node 2 leads in term 7");
        let done = q.with_update(u, Some(s));
        assert_eq!(done.status, IncidentStatus::Mitigated);
        assert_eq!(done.version, 2);
    }
}
