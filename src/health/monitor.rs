//! The health monitor: every node runs it; what it records, it records through the leader.
//!
//! Every `period` (500 ms) each node: checks its storage answers; probes the other members of its
//! region (`HealthService.NodeHealth`, bounded by `probe_timeout`); keeps a lag sample; works out
//! whether it should answer SERVING to `grpc.health.v1`; and watches for a quorum loss, which it
//! must track itself because nothing can be recorded while it lasts (it shows as a *pending*
//! incident on this node and is handed to the leader once there is one again).
//!
//! On the region's leader it also: turns persisting conditions into incidents and mitigates them
//! ([`super::detect`]); records a leader loss when it was just elected and the leader it
//! knew no longer answers; and every `merge_every` fetches the peer region's incidents and merges
//! the ones it lacks, which is also how a primary notices its standby is unreachable.
//!
//! All of the monitor's memory is soft: a new leader starts with empty probe history and picks up
//! the open incidents from the store, mitigating them only when it sees the cause is gone.

use super::detect::{self, Action, DrObs, MemberObs, Observed};
use super::samples::Samples;
use super::{Health, Serving, convert};
use crate::model::time::Timestamp;
use crate::pb;
use crate::storage::Op;
use crate::storage::dr::Role;
use crate::storage::incidents::{Incident, IncidentStatus};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The most incidents merged in one command.
const MERGE_CHUNK: usize = 100;

/// How long a new leader waits to learn whether the old leader is gone.
const ELECTION_CHECK: Duration = Duration::from_secs(5);

/// Another member, as this node's probes see it.
#[derive(Clone, Debug, Default)]
pub struct Member {
    /// Its URL.
    pub addr: String,
    /// Its last report.
    pub report: Option<pb::NodeHealth>,
    /// When its probes started failing (`None`: the last one succeeded).
    pub failing_since: Option<Instant>,
    /// The last probe error.
    pub error: String,
}

/// A leader this node knew, and when it last saw it lead.
#[derive(Clone, Copy, Debug)]
struct SeenLeader {
    id: u64,
    at: Timestamp,
}

/// The monitor's memory (soft: lost at restart, rebuilt from live state).
pub struct State {
    pub(super) members: BTreeMap<u64, Member>,
    pub(super) storage_bytes: u64,
    pub(super) storage_error: Option<String>,
    pub(super) samples: Samples,
    last_sample: Option<Instant>,
    had_leader: bool,
    pub(super) leaderless_since: Option<Instant>,
    last_leader: Option<SeenLeader>,
    was_leader: bool,
    election: Option<(SeenLeader, u64, Instant)>,
    outage: Option<Incident>,
    to_submit: Vec<Incident>,
    pub(super) shipping_down_since: Option<Instant>,
    since: BTreeMap<String, Instant>,
    peer_down_since: Option<Instant>,
    peer_up: bool,
    peer_error: String,
    last_merge: Option<Instant>,
    /// Cumulative (server errors, requests) snapshots over the error window.
    errors: VecDeque<(Instant, u64, u64)>,
}

impl State {
    /// Fresh memory, with room for `samples` lag samples.
    pub fn new(samples: usize) -> State {
        State {
            members: BTreeMap::new(),
            storage_bytes: 0,
            storage_error: None,
            samples: Samples::new(samples),
            last_sample: None,
            had_leader: false,
            leaderless_since: None,
            last_leader: None,
            was_leader: false,
            election: None,
            outage: None,
            to_submit: Vec::new(),
            shipping_down_since: None,
            since: BTreeMap::new(),
            peer_down_since: None,
            peer_up: false,
            peer_error: String::new(),
            last_merge: None,
            errors: VecDeque::new(),
        }
    }

    /// Incidents this node saw that are not recorded yet.
    pub fn pending(&self) -> Vec<Incident> {
        self.outage.iter().chain(self.to_submit.iter()).cloned().collect()
    }

    /// Server errors and requests in the error window.
    pub fn server_errors(&self) -> (u64, u64) {
        match (self.errors.front(), self.errors.back()) {
            (Some(a), Some(b)) => (b.1 - a.1, b.2 - a.2),
            _ => (0, 0),
        }
    }

    /// How long `key` has held (tracking starts when it first holds; it resets when it does not).
    fn held(&mut self, key: &str, holds: bool, now: Instant) -> Option<Duration> {
        if !holds {
            self.since.remove(key);
            return None;
        }
        let start = *self.since.entry(key.to_string()).or_insert(now);
        Some(now.saturating_duration_since(start))
    }
}

/// Runs until raft shuts down.
pub async fn run(health: Health) {
    let period = health.thresholds().period;
    loop {
        let shutdown = {
            let m = health.dr().node.raft().metrics().borrow().clone();
            m.state == openraft::ServerState::Shutdown && m.running_state.is_ok()
        };
        if shutdown {
            health.inner.serving.send_replace(Serving {
                serving: false,
                reason: "the node is shutting down".into(),
            });
            return;
        }
        tick(&health).await;
        tokio::time::sleep(period).await;
    }
}

/// One look.
pub async fn tick(h: &Health) {
    let now = Instant::now();
    check_storage(h);
    sample_errors(h, now);
    track_leader(h, now);
    probe(h).await;
    track_shipping(h, now);
    let me = h.node_report();
    update_serving(h, &me);
    track_outage(h, &me);
    flush_pending(h).await;
    sample_lag(h, now, &me);
    let m = h.dr().node.raft().metrics().borrow().clone();
    let leads =
        m.current_leader == Some(h.dr().id) && me.region_state() != pb::HealthState::Unavailable;
    if leads {
        if let Err(e) = lead(h, now, &me).await {
            tracing::debug!("health monitor: {e}");
        }
    } else {
        let mut st = h.state();
        st.election = None;
        st.since.clear();
    }
    h.state().was_leader = m.current_leader == Some(h.dr().id);
}

fn check_storage(h: &Health) {
    let store = &h.dr().store;
    let result = store.size_on_disk().and_then(|bytes| store.applied().map(|_| bytes));
    let mut st = h.state();
    match result {
        Ok(bytes) => {
            st.storage_bytes = bytes;
            st.storage_error = None;
        }
        Err(e) => {
            tracing::warn!("storage check failed: {e}");
            st.storage_error = Some(e.to_string());
        }
    }
}

fn sample_errors(h: &Health, now: Instant) {
    let (failed, total) = h.inner.rpc.totals();
    let window = h.thresholds().error_window;
    let mut st = h.state();
    st.errors.push_back((now, failed, total));
    while st.errors.front().is_some_and(|(t, ..)| now.saturating_duration_since(*t) > window) {
        st.errors.pop_front();
    }
}

fn track_leader(h: &Health, now: Instant) {
    let m = h.dr().node.raft().metrics().borrow().clone();
    let mut st = h.state();
    match m.current_leader {
        Some(id) => {
            st.had_leader = true;
            st.leaderless_since = None;
            if !st.was_leader && id == h.dr().id {
                // Just elected: remember whom we replace, to see whether it is gone.
                if let Some(prev) = st.last_leader.filter(|p| p.id != id) {
                    st.election = Some((prev, m.current_term, now));
                }
            }
            st.last_leader = Some(SeenLeader { id, at: Timestamp::now() });
        }
        None if st.had_leader => {
            st.leaderless_since.get_or_insert(now);
        }
        None => {}
    }
}

/// Probes every other member at once.
async fn probe(h: &Health) {
    let m = h.dr().node.raft().metrics().borrow().clone();
    let others: Vec<(u64, String)> = m
        .membership_config
        .membership()
        .nodes()
        .filter(|(id, _)| **id != h.dr().id)
        .map(|(id, n)| (*id, n.addr.clone()))
        .collect();
    let timeout = h.thresholds().probe_timeout;
    let mut probes = JoinSet::new();
    for (id, addr) in &others {
        let client = h.client(addr);
        let (id, addr) = (*id, addr.clone());
        probes.spawn(async move {
            let result = match client {
                Ok(mut c) => {
                    let mut req = tonic::Request::new(pb::NodeHealthRequest {});
                    req.set_timeout(timeout);
                    match tokio::time::timeout(timeout, c.node_health(req)).await {
                        Ok(Ok(r)) => r.into_inner().node.ok_or_else(|| "an empty answer".into()),
                        Ok(Err(s)) => Err(s.message().to_string()),
                        Err(_) => Err(format!("no answer in {timeout:?}")),
                    }
                }
                Err(e) => Err(e.message),
            };
            (id, addr, result)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = probes.join_next().await {
        if let Ok(r) = r {
            results.push(r);
        }
    }
    let now = Instant::now();
    let mut st = h.state();
    st.members.retain(|id, _| others.iter().any(|(o, _)| o == id));
    for (id, addr, result) in results {
        let member = st.members.entry(id).or_default();
        member.addr = addr;
        match result {
            Ok(report) => {
                member.report = Some(report);
                member.failing_since = None;
                member.error.clear();
            }
            Err(e) => {
                member.failing_since.get_or_insert(now);
                member.error = e;
            }
        }
    }
}

fn track_shipping(h: &Health, now: Instant) {
    let geo = h.dr();
    let down = geo.status().ok().and_then(|s| s.lag).is_some_and(|l| l.shipping && !l.connected);
    let mut st = h.state();
    if down {
        st.shipping_down_since.get_or_insert(now);
    } else {
        st.shipping_down_since = None;
    }
}

fn update_serving(h: &Health, me: &pb::NodeHealth) {
    let serving = if me.state() == pb::HealthState::Unavailable {
        let mut why = me.region_reasons.clone();
        why.extend(me.reasons.iter().cloned());
        Serving { serving: false, reason: why.join("; ") }
    } else if me.fenced {
        Serving { serving: false, reason: me.region_reasons.join("; ") }
    } else {
        Serving { serving: true, reason: String::new() }
    };
    h.inner.serving.send_if_modified(|s| {
        if s.serving == serving.serving {
            return false;
        }
        if serving.serving {
            tracing::info!("serving again");
        } else {
            tracing::warn!(reason = %serving.reason, "not serving");
        }
        *s = serving;
        true
    });
}

/// Opens, and finishes, the quorum-loss incident this node sees.
fn track_outage(h: &Health, me: &pb::NodeHealth) {
    let geo = h.dr();
    let lost = me.region_state() == pb::HealthState::Unavailable
        && me.raft_role() != pb::RaftRole::Shutdown;
    let mut st = h.state();
    if lost && st.outage.is_none() {
        let m = geo.node.raft().metrics().borrow().clone();
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        let unreachable: Vec<u64> = voters
            .iter()
            .copied()
            .filter(|v| *v != geo.id && st.members.get(v).is_none_or(|m| m.failing_since.is_some()))
            .collect();
        let out_for = match (st.leaderless_since, me.millis_since_quorum_ack) {
            (Some(t), _) => t.elapsed(),
            (None, ms) => Duration::from_millis(ms),
        };
        let since = Timestamp(Timestamp::now().0.saturating_sub(out_for.as_nanos() as u64));
        let id = format!("{}-n{}-{}", geo.region, geo.id, since.0 / 1_000_000);
        tracing::warn!(region = %geo.region, "quorum lost");
        st.outage =
            Some(detect::quorum_lost(id, &geo.region, unreachable, voters.len().max(1), since));
    } else if !lost
        && me.leader_id != 0
        && let Some(outage) = st.outage.take()
    {
        let why = format!("quorum restored: node {} leads in term {}", me.leader_id, me.term);
        tracing::info!(region = %geo.region, "{why}");
        let (update, summary) = detect::mitigation(&outage, Timestamp::now(), &why);
        st.to_submit.push(outage.with_update(update, Some(summary)));
    }
}

/// Hands finished outages to the leader.
async fn flush_pending(h: &Health) {
    let pending = std::mem::take(&mut h.state().to_submit);
    let mut left = Vec::new();
    for incident in pending {
        if let Err(e) = h.submit(incident.clone()).await {
            tracing::debug!("handing incident {} to the leader: {e}", incident.id);
            left.push(incident);
        }
    }
    let mut st = h.state();
    left.append(&mut st.to_submit);
    left.truncate(100);
    st.to_submit = left;
}

fn sample_lag(h: &Health, now: Instant, me: &pb::NodeHealth) {
    let every = h.thresholds().sample_every;
    let region = h.region_report();
    let mut st = h.state();
    if st.last_sample.is_some_and(|t| now.saturating_duration_since(t) < every) {
        return;
    }
    st.last_sample = Some(now);
    let leader = region.nodes.iter().find(|n| n.reachable && n.raft_role() == pb::RaftRole::Leader);
    let sample = if me.dr_role() == pb::DrRole::Standby {
        leader.map(|l| pb::LagSample {
            time_ns: Timestamp::now().0,
            lag_seconds: l.lag_seconds,
            lag_entries: l.lag_entries,
        })
    } else {
        let worst = region.nodes.iter().map(|n| n.behind_leader).max().unwrap_or(0);
        Some(pb::LagSample { time_ns: Timestamp::now().0, lag_seconds: 0.0, lag_entries: worst })
    };
    if let Some(s) = sample {
        st.samples.push(s);
    }
}

/// The leader's work: election check, conditions to incidents, merge from the peer.
async fn lead(h: &Health, now: Instant, me: &pb::NodeHealth) -> crate::error::Result<()> {
    check_election(h, now).await?;
    let observed = observe(h, now, me);
    let (present, clear) = detect::conditions(&observed, h.thresholds());
    let region = h.dr().region.clone();
    let open: Vec<Incident> = h
        .dr()
        .store
        .incidents()?
        .into_iter()
        .filter(|i| i.owner == region && i.status == IncidentStatus::Active)
        .collect();
    let members: Vec<u64> = {
        let m = h.dr().node.raft().metrics().borrow().clone();
        m.membership_config.membership().nodes().map(|(id, _)| *id).collect()
    };
    for action in detect::plan(&present, &clear, &open, &members) {
        match action {
            Action::Open(c) => {
                let incident = detect::open_incident(h.new_id(), &region, &c);
                tracing::warn!(id = %incident.id, kind = incident.kind.as_str(), "{}", c.message);
                h.propose(Op::RecordIncident { incident }).await?;
            }
            Action::Mitigate(i, why) => {
                tracing::info!(id = %i.id, kind = i.kind.as_str(), "mitigated: {why}");
                let (update, summary) = detect::mitigation(&i, Timestamp::now(), &why);
                let op = Op::UpdateIncident {
                    id: i.id.clone(),
                    version: i.version + 1,
                    update,
                    summary: Some(summary),
                };
                h.propose(op).await?;
            }
        }
    }
    merge(h, now).await
}

/// Records a leader loss once the new leader knows the old one is gone.
async fn check_election(h: &Health, now: Instant) -> crate::error::Result<()> {
    let (prev, term) = {
        let st = h.state();
        let Some((prev, term, at)) = st.election else { return Ok(()) };
        let gone = st.members.get(&prev.id).map(|m| m.failing_since.is_some());
        match gone {
            Some(true) => {}
            Some(false) => {
                drop(st);
                h.state().election = None;
                return Ok(());
            }
            None if now.saturating_duration_since(at) > ELECTION_CHECK => {
                drop(st);
                h.state().election = None;
                return Ok(());
            }
            None => return Ok(()),
        }
        (prev, term)
    };
    let geo = h.dr();
    let incident = detect::leader_lost(
        h.new_id(),
        &geo.region,
        prev.id,
        prev.at,
        geo.id,
        term,
        Timestamp::now(),
    );
    tracing::warn!(id = %incident.id, lost = prev.id, term, "the leader was lost; this node was elected");
    h.propose(Op::RecordIncident { incident }).await?;
    h.state().election = None;
    Ok(())
}

/// What the leader observed, for detection.
fn observe(h: &Health, now: Instant, me: &pb::NodeHealth) -> Observed {
    let geo = h.dr();
    let t = h.thresholds().clone();
    let status = geo.status().ok();
    let dr = status.as_ref().map(|s| s.state.clone()).unwrap_or_default();
    let fenced = status.as_ref().is_some_and(|s| s.awaiting_reprotect);
    let lag = status.and_then(|s| s.lag);
    let mut st = h.state();
    let progress: BTreeMap<u64, u64> =
        me.progress.iter().map(|p| (p.id, p.matched_index)).collect();
    let mut members = Vec::new();
    let ids: Vec<u64> = st.members.keys().copied().collect();
    for id in ids {
        let m = st.members[&id].clone();
        let behind = progress.get(&id).map(|p| me.last_log_index.saturating_sub(*p)).unwrap_or(0);
        let behind_for = st.held(&format!("behind/{id}"), behind > t.follower_lag_entries, now);
        members.push(MemberObs {
            id,
            addr: m.addr.clone(),
            failing_for: m.failing_since.map(|s| now.saturating_duration_since(s)),
            ever_answered: m.report.is_some(),
            error: m.error.clone(),
            storage_error: m.report.map(|r| r.storage_error).unwrap_or_default(),
            behind,
            behind_for,
        });
    }
    let dr_obs = dr.peer.as_ref().map(|peer| {
        let standby = dr.role == Role::Standby;
        let (lag_seconds, peer_down_since, peer_up, peer_error) = if let Some(l) = &lag {
            (l.seconds, st.shipping_down_since, l.connected, l.error.clone())
        } else if standby {
            (0.0, None, false, String::new())
        } else {
            (0.0, st.peer_down_since, st.peer_up, st.peer_error.clone())
        };
        let lag_over = standby && !fenced && peer_up && lag_seconds > t.lag_seconds;
        DrObs {
            peer: peer.name.clone(),
            standby,
            peer_down_for: peer_down_since.map(|s| now.saturating_duration_since(s)),
            peer_up,
            peer_error,
            lag_seconds,
            lag_over_for: st.held("lag", lag_over, now),
            fenced_for: st.held("fenced", fenced, now),
            epoch: dr.epoch,
        }
    });
    Observed {
        region: geo.region.clone(),
        me: geo.id,
        now: Timestamp::now(),
        members,
        storage_error: me.storage_error.clone(),
        dr: dr_obs,
    }
}

/// Fetches the peer region's incidents and merges those this region lacks.
async fn merge(h: &Health, now: Instant) -> crate::error::Result<()> {
    let geo = h.dr();
    let every = h.thresholds().merge_every;
    {
        let mut st = h.state();
        if st.last_merge.is_some_and(|t| now.saturating_duration_since(t) < every) {
            return Ok(());
        }
        st.last_merge = Some(now);
    }
    let Some(peer) = geo.store.dr()?.peer else { return Ok(()) };
    let held = geo.store.incidents()?;
    let since = held.iter().filter(|i| i.owner == peer.name).map(|i| i.updated().0).max();
    let request = pb::ExportIncidentsRequest {
        updated_since_ns: since.unwrap_or(0),
        region: geo.region.clone(),
    };
    let timeout = h.thresholds().probe_timeout.max(Duration::from_secs(1));
    let mut last = String::from("no endpoints known");
    let mut got = None;
    for addr in &peer.endpoints {
        let Ok(mut c) = h.client(addr) else { continue };
        let mut req = tonic::Request::new(request.clone());
        req.set_timeout(timeout);
        match tokio::time::timeout(timeout, c.export_incidents(req)).await {
            Ok(Ok(r)) => {
                got = Some(r.into_inner());
                break;
            }
            Ok(Err(s)) => last = format!("{addr}: {}", s.message()),
            Err(_) => last = format!("{addr}: no answer in {timeout:?}"),
        }
    }
    let Some(resp) = got else {
        let mut st = h.state();
        st.peer_down_since.get_or_insert(now);
        st.peer_up = false;
        st.peer_error = last;
        return Ok(());
    };
    {
        let mut st = h.state();
        st.peer_down_since = None;
        st.peer_up = true;
        st.peer_error.clear();
    }
    let mut fresh = Vec::new();
    for p in &resp.incidents {
        match convert::from_pb(p) {
            Ok(i) if held.iter().all(|m| m.id != i.id || m.version < i.version) => fresh.push(i),
            Ok(_) => {}
            Err(e) => tracing::debug!("skipping an incident from region '{}': {e}", peer.name),
        }
    }
    for chunk in fresh.chunks(MERGE_CHUNK) {
        h.propose(Op::MergeIncidents { incidents: chunk.to_vec() }).await?;
    }
    Ok(())
}
