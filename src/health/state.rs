//! Resource health: the rules that turn live facts into `Available`, `Degraded` or `Unavailable`
//! with reasons — pure functions, so every rule is tested without a cluster.
//!
//! A node assesses itself ([`assess_node`]) from what it knows locally: its raft state and
//! leader, how long it has been without one, whether its storage answers, recent server errors,
//! the DR state and, on a standby's leader, shipping. Some of what it sees is about the whole
//! region (no leader, quorum lost, fenced, shipping stopped, lag over its threshold): those are
//! kept apart as *region reasons*, so a region view lists them once rather than once per node.
//!
//! A region's health ([`assess_region`]) is assessed by any of its nodes from every member's
//! report (the members probe each other): unreachable members, too few reachable voters for a
//! quorum, no member that knows a leader, the region reasons the members report, and each node's
//! own problems. A node in a region without quorum is itself Unavailable: it can serve neither
//! writes nor linearizable reads.
//!
//! What each state means: `Available` — serving normally. `Degraded` — serving, with a problem
//! that needs attention (one node down, lag over its threshold, fenced: reads only, shipping
//! stopped, storage or server errors). `Unavailable` — not serving writes or linearizable reads
//! (no leader, quorum lost, raft stopped).

use super::Thresholds;
use crate::pb::{self, HealthState, RaftRole};
use std::time::Duration;

/// The worse of two states.
pub fn worse(a: HealthState, b: HealthState) -> HealthState {
    if (b as i32) > (a as i32) { b } else { a }
}

/// A state's name: `Available`, `Degraded`, `Unavailable` (or `Unknown`).
pub fn name(s: HealthState) -> &'static str {
    match s {
        HealthState::Available => "Available",
        HealthState::Degraded => "Degraded",
        HealthState::Unavailable => "Unavailable",
        HealthState::Unspecified => "Unknown",
    }
}

/// The standby's leader's view of shipping.
#[derive(Clone, Debug, Default)]
pub struct Shipping {
    /// The primary region's name.
    pub primary: String,
    /// Connected to the primary now.
    pub connected: bool,
    /// How long it has not been connected (zero when connected).
    pub down_for: Duration,
    /// The last shipping error.
    pub error: String,
    /// How far behind the primary, in seconds of the primary's time.
    pub lag_seconds: f64,
}

/// What a node knows about itself.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    /// Its raft role (from openraft's server state).
    pub raft_role: RaftRole,
    /// The leader this node knows.
    pub leader: Option<u64>,
    /// Leader only: since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// How long the node has been without a leader (`None`: it has one, or never had one since
    /// it started — a region still forming is not an outage).
    pub leaderless_for: Option<Duration>,
    /// The region is fenced, awaiting reprotect, at this epoch.
    pub fenced_at_epoch: Option<u64>,
    /// Standby leader only: shipping.
    pub shipping: Option<Shipping>,
    /// The last storage error, if storage is failing now.
    pub storage_error: Option<String>,
    /// Server errors (Internal, DataLoss, Unknown) and all requests in the recent window.
    pub server_errors: (u64, u64),
}

/// A node's assessment.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The node's state (its own problems and its region's).
    pub state: HealthState,
    /// The node's own problems.
    pub reasons: Vec<String>,
    /// The state the region problems this node sees make the region.
    pub region_state: HealthState,
    /// Problems of the whole region this node sees.
    pub region_reasons: Vec<String>,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Whether the facts say quorum is lost (no leader, or a leader a majority stopped answering).
pub fn quorum_lost(f: &NodeFacts, t: &Thresholds) -> bool {
    let leaderless = f.leaderless_for.is_some_and(|d| d >= t.quorum_lost_after);
    let unacked = f.raft_role == RaftRole::Leader
        && f.millis_since_quorum_ack.is_some_and(|ms| ms >= t.quorum_lost_after.as_millis() as u64);
    leaderless || unacked
}

/// A node's own assessment.
pub fn assess_node(f: &NodeFacts, t: &Thresholds) -> Assessment {
    let mut state = HealthState::Available;
    let mut reasons = Vec::new();
    if f.raft_role == RaftRole::Shutdown {
        state = HealthState::Unavailable;
        reasons.push(
            "raft has stopped on this node (a storage failure stops a node rather than let it \
             diverge); restart it"
                .to_string(),
        );
    }
    if let Some(e) = &f.storage_error {
        state = worse(state, HealthState::Degraded);
        reasons.push(format!("storage error: {e}"));
    }
    let (failed, total) = f.server_errors;
    if failed > 0 {
        state = worse(state, HealthState::Degraded);
        reasons.push(format!(
            "{failed} of {total} requests failed with a server error in the last {}",
            secs(t.error_window)
        ));
    }
    let mut region_state = HealthState::Available;
    let mut region_reasons = Vec::new();
    if f.raft_role != RaftRole::Shutdown && quorum_lost(f, t) {
        region_state = HealthState::Unavailable;
        match (f.leaderless_for, f.millis_since_quorum_ack) {
            (Some(d), _) if d >= t.quorum_lost_after => region_reasons.push(format!(
                "no leader for {} (quorum lost: a majority of the voters is unreachable)",
                secs(d)
            )),
            (_, Some(ms)) => region_reasons.push(format!(
                "quorum lost: a majority of the voters has not answered the leader for {}",
                secs(Duration::from_millis(ms))
            )),
            _ => region_reasons.push("quorum lost".into()),
        }
    }
    if let Some(epoch) = f.fenced_at_epoch {
        region_state = worse(region_state, HealthState::Degraded);
        region_reasons.push(format!(
            "standby fenced: a higher epoch ({epoch}) took over; the region refuses writes until \
             `twinstore dr reprotect`"
        ));
    }
    if let Some(s) = &f.shipping {
        if !s.connected && s.down_for >= t.region_unreachable_after {
            region_state = worse(region_state, HealthState::Degraded);
            let why = if s.error.is_empty() { String::new() } else { format!(": {}", s.error) };
            region_reasons.push(format!(
                "shipping stopped for {}: the primary region '{}' is unreachable{why}",
                secs(s.down_for),
                s.primary
            ));
        }
        if s.lag_seconds > t.lag_seconds {
            region_state = worse(region_state, HealthState::Degraded);
            region_reasons.push(format!(
                "replication lag {:.1} s is over its threshold of {:.1} s",
                s.lag_seconds, t.lag_seconds
            ));
        }
    }
    Assessment { state: worse(state, region_state), reasons, region_state, region_reasons }
}

/// A region's state and reasons from its members' reports (the caller marks unreachable members
/// `reachable = false`). Fills in each report's `behind_leader` from the leader's progress.
pub fn assess_region(nodes: &mut [pb::NodeHealth], t: &Thresholds) -> (HealthState, Vec<String>) {
    let mut state = HealthState::Available;
    let mut reasons: Vec<String> = Vec::new();
    let add = |reasons: &mut Vec<String>, r: String| {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    };
    // The leader's word on how far behind each follower is.
    let leader = nodes
        .iter()
        .filter(|n| n.reachable && n.raft_role() == RaftRole::Leader)
        .max_by_key(|n| n.term)
        .map(|n| (n.id, n.last_log_index, n.progress.clone()));
    if let Some((leader_id, last, progress)) = &leader {
        for n in nodes.iter_mut().filter(|n| n.id != *leader_id) {
            if let Some(p) = progress.iter().find(|p| p.id == n.id) {
                n.behind_leader = last.saturating_sub(p.matched_index);
                if n.reachable && n.behind_leader > t.follower_lag_entries {
                    n.reasons.push(format!(
                        "{} entries behind the leader (threshold {})",
                        n.behind_leader, t.follower_lag_entries
                    ));
                    n.set_state(worse(n.state(), HealthState::Degraded));
                }
            }
        }
    }
    let voters = nodes.iter().filter(|n| n.voter).count();
    let reachable = nodes.iter().filter(|n| n.voter && n.reachable).count();
    if voters > 0 && reachable < voters / 2 + 1 {
        state = HealthState::Unavailable;
        add(
            &mut reasons,
            format!("quorum lost: only {reachable} of {voters} voters are reachable"),
        );
    }
    if !nodes
        .iter()
        .any(|n| n.reachable && n.leader_id != 0 && n.region_state() != HealthState::Unavailable)
    {
        state = HealthState::Unavailable;
        add(&mut reasons, "no leader".into());
    }
    for n in nodes.iter().filter(|n| n.reachable) {
        state = worse(state, n.region_state());
        for r in &n.region_reasons {
            add(&mut reasons, r.clone());
        }
    }
    for n in nodes.iter() {
        if !n.reachable {
            state = worse(state, HealthState::Degraded);
            add(&mut reasons, format!("node {} ({}) is unreachable: {}", n.id, n.addr, n.error));
        } else if !n.reasons.is_empty() {
            state = worse(state, HealthState::Degraded);
            for r in &n.reasons {
                add(&mut reasons, format!("node {}: {r}", n.id));
            }
        }
    }
    (state, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds::default()
    }

    fn follower() -> NodeFacts {
        NodeFacts { raft_role: RaftRole::Follower, leader: Some(1), ..Default::default() }
    }

    #[test]
    fn a_healthy_follower_is_available() {
        let a = assess_node(&follower(), &t());
        assert_eq!(a.state, HealthState::Available);
        assert!(a.reasons.is_empty() && a.region_reasons.is_empty());
    }

    #[test]
    fn no_leader_for_long_is_quorum_lost_and_unavailable() {
        let mut f = follower();
        f.raft_role = RaftRole::Candidate;
        f.leader = None;
        f.leaderless_for = Some(Duration::from_millis(500));
        assert_eq!(assess_node(&f, &t()).state, HealthState::Available, "an election is brief");
        f.leaderless_for = Some(Duration::from_secs(3));
        let a = assess_node(&f, &t());
        assert_eq!(a.state, HealthState::Unavailable);
        assert_eq!(a.region_state, HealthState::Unavailable);
        assert!(a.region_reasons[0].contains("quorum lost"), "{a:?}");
    }

    #[test]
    fn a_leader_without_acks_has_lost_quorum() {
        let f = NodeFacts {
            raft_role: RaftRole::Leader,
            leader: Some(1),
            millis_since_quorum_ack: Some(5000),
            ..Default::default()
        };
        let a = assess_node(&f, &t());
        assert_eq!(a.state, HealthState::Unavailable);
        assert!(a.region_reasons[0].starts_with("quorum lost"), "{a:?}");
    }

    #[test]
    fn fenced_shipping_lag_storage_and_errors_degrade() {
        let mut f = follower();
        f.fenced_at_epoch = Some(2);
        let a = assess_node(&f, &t());
        assert_eq!(a.state, HealthState::Degraded);
        assert!(a.region_reasons[0].contains("fenced"));

        let mut f = follower();
        f.shipping = Some(Shipping {
            primary: "west".into(),
            connected: false,
            down_for: Duration::from_secs(5),
            error: "connection refused".into(),
            lag_seconds: 45.0,
        });
        let a = assess_node(&f, &t());
        assert_eq!(a.region_state, HealthState::Degraded);
        assert_eq!(a.region_reasons.len(), 2, "{a:?}");
        assert!(a.region_reasons[0].contains("'west' is unreachable: connection refused"));
        assert!(a.region_reasons[1].contains("lag 45.0 s"));

        let mut f = follower();
        f.storage_error = Some("sled: io error".into());
        f.server_errors = (3, 10);
        let a = assess_node(&f, &t());
        assert_eq!(a.state, HealthState::Degraded);
        assert_eq!(a.region_state, HealthState::Available);
        assert_eq!(a.reasons.len(), 2);

        let f = NodeFacts { raft_role: RaftRole::Shutdown, ..Default::default() };
        assert_eq!(assess_node(&f, &t()).state, HealthState::Unavailable);
    }

    fn report(id: u64, reachable: bool, leader: u64, role: RaftRole) -> pb::NodeHealth {
        let mut n = pb::NodeHealth {
            id,
            addr: format!("http://n{id}"),
            reachable,
            voter: true,
            raft_role: role.into(),
            leader_id: leader,
            term: 2,
            ..Default::default()
        };
        n.set_state(if reachable { HealthState::Available } else { HealthState::Unavailable });
        n.set_region_state(HealthState::Available);
        if !reachable {
            n.error = "connection refused".into();
        }
        n
    }

    #[test]
    fn region_states_follow_the_members() {
        let mut all = vec![
            report(1, true, 1, RaftRole::Leader),
            report(2, true, 1, RaftRole::Follower),
            report(3, true, 1, RaftRole::Follower),
        ];
        assert_eq!(assess_region(&mut all, &t()), (HealthState::Available, vec![]));

        // One node down: degraded.
        all[2] = report(3, false, 0, RaftRole::Unspecified);
        let (s, r) = assess_region(&mut all, &t());
        assert_eq!(s, HealthState::Degraded);
        assert_eq!(r, ["node 3 (http://n3) is unreachable: connection refused"]);

        // Two down: quorum lost.
        all[0] = report(1, false, 0, RaftRole::Unspecified);
        all[1].leader_id = 0;
        all[1].set_raft_role(RaftRole::Candidate);
        let (s, r) = assess_region(&mut all, &t());
        assert_eq!(s, HealthState::Unavailable);
        assert_eq!(r[0], "quorum lost: only 1 of 3 voters are reachable");
        assert!(r.contains(&"no leader".to_string()));
    }

    #[test]
    fn followers_behind_the_leader_are_degraded_and_region_reasons_are_listed_once() {
        let mut all =
            vec![report(1, true, 1, RaftRole::Leader), report(2, true, 1, RaftRole::Follower)];
        all[0].last_log_index = 50_000;
        all[0].progress = vec![
            pb::Progress { id: 2, matched_index: 100 },
            pb::Progress { id: 1, matched_index: 0 },
        ];
        for n in &mut all {
            n.region_reasons = vec!["standby fenced".into()];
            n.set_region_state(HealthState::Degraded);
        }
        let (s, r) = assess_region(&mut all, &t());
        assert_eq!(s, HealthState::Degraded);
        assert_eq!(all[1].behind_leader, 49_900);
        assert_eq!(r[0], "standby fenced");
        assert!(r[1].starts_with("node 2: 49900 entries behind the leader"), "{r:?}");
        assert_eq!(r.len(), 2);
    }
}
