//! Live views: this node's report, its region as it sees it, and the peer region.
//!
//! A node's own report is made on demand from raft's metrics, the DR state, the shipper's
//! progress and what the monitor keeps (storage check, leaderless time, server errors). The region
//! view adds every other member as last probed by this node's monitor; the peer region's view is
//! asked from one of its nodes, and when none answers it is described as unreachable *from here*
//! (which is all one region can know about the other).

use super::state::{self, NodeFacts, Shipping};
use super::{Health, monitor};
use crate::model::time::Timestamp;
use crate::pb::{self, HealthState};
use std::time::{Duration, Instant};

/// How long asking the peer region for its view may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);

impl Health {
    /// This node's own report, now.
    pub fn node_report(&self) -> pb::NodeHealth {
        let geo = self.dr();
        let m = geo.node.raft().metrics().borrow().clone();
        let is_leader = m.current_leader == Some(geo.id);
        let (status, dr_error) = match geo.status() {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let dr = status.as_ref().map(|s| s.state.clone()).unwrap_or_default();
        let fenced = status.as_ref().is_some_and(|s| s.awaiting_reprotect);
        let lag = status.and_then(|s| s.lag).filter(|l| l.shipping);
        let standby_leader = lag.is_some();
        let lag = lag.unwrap_or_default();
        let (lag_seconds, lag_entries, connected, shipping_error) =
            (lag.seconds, lag.entries, lag.connected, lag.error);
        let now = Instant::now();
        let st = self.state();
        let mut raft_role = pb::RaftRole::from(m.state);
        if let Err(fatal) = &m.running_state {
            raft_role = pb::RaftRole::Shutdown;
            tracing::debug!("raft stopped: {fatal}");
        }
        let facts = NodeFacts {
            raft_role,
            leader: m.current_leader,
            millis_since_quorum_ack: if is_leader { m.millis_since_quorum_ack } else { None },
            leaderless_for: st.leaderless_since.map(|t| now.saturating_duration_since(t)),
            fenced_at_epoch: fenced.then_some(dr.epoch),
            shipping: standby_leader.then(|| Shipping {
                primary: dr.peer.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                connected,
                down_for: st
                    .shipping_down_since
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default(),
                error: shipping_error.clone(),
                lag_seconds,
            }),
            storage_error: st.storage_error.clone().or(dr_error),
            server_errors: st.server_errors(),
        };
        let a = state::assess_node(&facts, self.thresholds());
        let voter = m.membership_config.membership().voter_ids().any(|v| v == geo.id);
        let progress = if is_leader {
            m.replication
                .as_ref()
                .map(|r| {
                    r.iter()
                        .map(|(id, l)| pb::Progress {
                            id: *id,
                            matched_index: l.map(|l| l.index).unwrap_or(0),
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut report = pb::NodeHealth {
            id: geo.id,
            addr: self.addr().to_string(),
            region: geo.region.clone(),
            reasons: a.reasons,
            reachable: true,
            error: String::new(),
            raft_role: raft_role.into(),
            term: m.current_term,
            leader_id: m.current_leader.unwrap_or(0),
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            millis_since_quorum_ack: facts.millis_since_quorum_ack.unwrap_or(0),
            voter,
            behind_leader: 0,
            region_reasons: a.region_reasons,
            dr_role: pb::DrRole::from(dr.role).into(),
            dr_epoch: dr.epoch,
            fenced: facts.fenced_at_epoch.is_some(),
            shipping: standby_leader && connected,
            shipping_error,
            lag_seconds,
            lag_entries,
            storage_bytes: st.storage_bytes,
            storage_error: facts.storage_error.clone().unwrap_or_default(),
            progress,
            time_ns: Timestamp::now().0,
            ..Default::default()
        };
        report.set_state(a.state);
        report.set_region_state(a.region_state);
        report
    }

    /// This node's region as it sees it: itself now, every other member as last probed.
    pub fn region_report(&self) -> pb::RegionHealth {
        let me = self.node_report();
        let geo = self.dr();
        let m = geo.node.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let (mut nodes, samples) = {
            let st = self.state();
            let nodes: Vec<pb::NodeHealth> = membership
                .nodes()
                .map(|(id, node)| {
                    let mut n = if *id == geo.id {
                        me.clone()
                    } else {
                        member_view(*id, &node.addr, st.members.get(id))
                    };
                    n.voter = voters.contains(id);
                    n
                })
                .collect();
            (nodes, st.samples.to_vec())
        };
        let (state, reasons) = state::assess_region(&mut nodes, self.thresholds());
        let dr = geo.store.dr().unwrap_or_default();
        let peer = dr.peer.clone().unwrap_or_default();
        let mut r = pb::RegionHealth {
            region: geo.region.clone(),
            reasons,
            dr_role: pb::DrRole::from(dr.role).into(),
            dr_epoch: dr.epoch,
            leader_id: m.current_leader.unwrap_or(0),
            term: m.current_term,
            nodes,
            lag_samples: samples,
            observed_by: geo.id,
            peer_region: peer.name,
            peer_endpoints: peer.endpoints,
            reachable: true,
            error: String::new(),
            time_ns: Timestamp::now().0,
            ..Default::default()
        };
        r.set_state(state);
        r
    }

    /// The peer region's view, asked from its nodes; `None` without a DR pair.
    pub async fn peer_report(&self) -> Option<pb::RegionHealth> {
        let peer = self.dr().store.dr().ok()?.peer?;
        let mut last = String::from("no endpoints known");
        for addr in &peer.endpoints {
            let Ok(mut c) = self.client(addr) else { continue };
            let mut req = tonic::Request::new(pb::RegionHealthRequest {});
            req.set_timeout(PEER_TIMEOUT);
            match tokio::time::timeout(PEER_TIMEOUT, c.region_health(req)).await {
                Ok(Ok(r)) => match r.into_inner().region {
                    Some(region) => return Some(region),
                    None => last = format!("{addr}: an empty answer"),
                },
                Ok(Err(s)) => last = format!("{addr}: {}", s.message()),
                Err(_) => last = format!("{addr}: no answer in {PEER_TIMEOUT:?}"),
            }
        }
        let reason = format!("not reachable from region '{}' ({last})", self.dr().region);
        let mut r = pb::RegionHealth {
            region: peer.name,
            reasons: vec![reason.clone()],
            peer_region: self.dr().region.clone(),
            peer_endpoints: peer.endpoints,
            reachable: false,
            error: reason,
            time_ns: Timestamp::now().0,
            ..Default::default()
        };
        r.set_state(HealthState::Unavailable);
        Some(r)
    }

    /// Both regions: this one first, then the peer (if any).
    pub async fn overview(&self) -> Vec<pb::RegionHealth> {
        let mut out = vec![self.region_report()];
        out.extend(self.peer_report().await);
        out
    }
}

/// A member as this node last saw it.
fn member_view(id: u64, addr: &str, seen: Option<&monitor::Member>) -> pb::NodeHealth {
    match seen {
        Some(m) if m.failing_since.is_none() && m.report.is_some() => {
            let mut r = m.report.clone().unwrap_or_default();
            r.reachable = true;
            r
        }
        _ => {
            let error = match seen {
                Some(m) if !m.error.is_empty() => m.error.clone(),
                _ => "no answer yet".to_string(),
            };
            let mut r = pb::NodeHealth {
                id,
                addr: addr.to_string(),
                reachable: false,
                error,
                ..Default::default()
            };
            // What it last said about itself, for context.
            if let Some(last) = seen.and_then(|m| m.report.as_ref()) {
                r.region = last.region.clone();
                r.dr_role = last.dr_role;
                r.dr_epoch = last.dr_epoch;
            }
            r.set_state(HealthState::Unavailable);
            r.set_region_state(HealthState::Unspecified);
            r
        }
    }
}
