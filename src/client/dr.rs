//! Cross-region disaster recovery from the client's side (`twinstore.v1.DrService`): which region
//! is the primary, each node's DR status, failover, reprotect, and the writes kept aside.
//!
//! **Which region is primary.** A client is given the endpoints of both regions. Each node says
//! (`DrService.DrStatus`) its region, its role and the DR epoch it knows. The primary is the region
//! of a node that says `primary` with the highest epoch; a node that says `primary` under an
//! older epoch than any node has shown (an old primary that has not yet learned it was replaced)
//! is never chosen, and neither is a standby — which is also what a fenced old primary says. The
//! client also remembers the highest epoch it has ever seen, so once it has seen a failover it
//! never goes back to the replaced region, even if the new one is briefly unreachable.
//! [`choose`] is that rule as a pure function; `pool.rs` runs it at every leader discovery.
//!
//! **Failover and reprotect** go to a region's nodes, found from a [`DrOverview`] (every endpoint
//! and every node the answers name, asked at once): `failover` to the standby region (the one that
//! follows the primary), `reprotect` to the region that is not the primary. Neither is retried
//! once it has reached a node: a failover that did its work and lost its answer must not be run
//! twice. Only a refused connection moves on to the region's next node.

use super::overview::{DrNode, DrOverview};
use super::pool::normalize_url;
use super::{Client, ClientError};
use crate::error::ErrorCode;
use crate::pb;
use crate::pb::dr_service_client::DrServiceClient;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long one node's DR status may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a failover may take (a planned one fences the primary and waits for the standby to
/// catch up, up to 30 s on the server).
pub const FAILOVER_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a reprotect may take (it reseeds the region from a snapshot of the primary).
pub const REPROTECT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long reading the divergent writes may take.
const DIVERGENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most nodes an overview asks (two regions of 1, 3 or 5; this bounds a misconfiguration).
const MAX_NODES: usize = 64;
/// The largest answer accepted (the divergent writes of a region can be many).
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// What one endpoint said when asked who it is: its DR status and its raft status, each when it
/// answered.
#[derive(Clone, Debug, Default)]
pub(super) struct Probe {
    /// The URL it was asked at.
    pub(super) url: String,
    /// `DrService.DrStatus`.
    pub(super) dr: Option<pb::DrStatusResponse>,
    /// `ClusterService.ClusterStatus`.
    pub(super) raft: Option<pb::ClusterStatusResponse>,
}

impl Probe {
    /// The region it says it is in.
    pub(super) fn region(&self) -> Option<&str> {
        self.dr
            .as_ref()
            .map(|d| d.region.as_str())
            .or(self.raft.as_ref().map(|r| r.region.as_str()))
            .filter(|r| !r.is_empty())
    }

    fn term(&self) -> u64 {
        self.raft.as_ref().map_or(0, |r| r.term)
    }
}

/// Where writes go, as decided from a round of probes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Choice {
    /// The URL to send writes and linearizable reads to.
    pub(super) leader: Option<String>,
    /// The primary region and its epoch (when the nodes speak DR).
    pub(super) primary: Option<(String, u64)>,
    /// The highest epoch any node showed.
    pub(super) max_epoch: u64,
}

/// Whether a DR status is a primary's.
fn is_primary(d: &pb::DrStatusResponse) -> bool {
    d.role() == pb::DrRole::Primary
}

/// Decides where writes go (see the module docs). `min_epoch` is the highest epoch the client has
/// seen before: a primary under an older epoch has been replaced.
pub(super) fn choose(probes: &[Probe], min_epoch: u64) -> Choice {
    let max_epoch = probes.iter().filter_map(|p| p.dr.as_ref()).map(|d| d.epoch).max().unwrap_or(0);
    let floor = max_epoch.max(min_epoch);
    if !probes.iter().any(|p| p.dr.is_some()) {
        return Choice { leader: raft_leader(probes.iter()), primary: None, max_epoch };
    }
    // The primary: the highest epoch; between two regions at the same epoch (which a correct
    // deployment never shows) the one more of whose nodes say so, then the name, for determinism.
    let mut votes: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for d in probes.iter().filter_map(|p| p.dr.as_ref()) {
        if is_primary(d) && d.epoch >= floor {
            *votes.entry((d.epoch, d.region.clone())).or_default() += 1;
        }
    }
    let Some(((epoch, region), _)) =
        votes.into_iter().max_by(|(a, na), (b, nb)| (a.0, na, &b.1).cmp(&(b.0, nb, &a.1)))
    else {
        return Choice { leader: None, primary: None, max_epoch };
    };
    let says_primary = |p: &&Probe| {
        p.dr.as_ref().is_some_and(|d| is_primary(d) && d.epoch == epoch && d.region == region)
    };
    // 1. A node of the primary region that says it leads (the highest raft term, should a
    //    deposed leader still think it does).
    let leader = probes
        .iter()
        .filter(says_primary)
        .filter(|p| p.dr.as_ref().is_some_and(|d| d.leader))
        .max_by_key(|p| p.term())
        .map(|p| p.url.clone())
        // 2. The leader a node of that region names.
        .or_else(|| raft_leader(probes.iter().filter(|p| p.region() == Some(region.as_str()))))
        // 3. Any node of it that says it is the primary: it forwards writes to its leader.
        .or_else(|| probes.iter().find(says_primary).map(|p| p.url.clone()));
    Choice { leader, primary: Some((region, epoch)), max_epoch }
}

/// The raft leader among probes: a node that says it leads beats a follower's hint; among those,
/// the highest term wins (a partitioned old leader still says it leads, in an older term).
fn raft_leader<'a>(probes: impl Iterator<Item = &'a Probe>) -> Option<String> {
    let mut best: Option<(bool, u64, String)> = None;
    for p in probes {
        let Some(s) = &p.raft else { continue };
        let candidate = if s.role() == pb::RaftRole::Leader {
            Some((true, s.term, p.url.clone()))
        } else if s.leader_id != 0 && !s.leader_addr.is_empty() {
            Some((false, s.term, s.leader_addr.clone()))
        } else {
            None
        };
        if let Some(c) = candidate
            && best.as_ref().is_none_or(|b| (c.0, c.1) > (b.0, b.1))
        {
            best = Some(c);
        }
    }
    best.map(|(_, _, url)| url)
}

/// Which failover to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverKind {
    /// Zero loss: the primary is fenced, the standby catches up to exactly where it stopped, and
    /// is promoted.
    Planned,
    /// The standby is promoted at what it has; the writes it had not received are lost (the
    /// report says how much). Refused while the primary still answers, unless
    /// `even_if_primary_answers`.
    Forced {
        /// Promote even though a node of the primary region answers.
        even_if_primary_answers: bool,
    },
}

/// What a failover did, and where it was sent.
#[derive(Clone, Debug)]
pub struct FailoverOutcome {
    /// The node the request was sent to.
    pub endpoint: String,
    /// The region that was primary before (when known).
    pub old_primary: Option<String>,
    /// The region promoted.
    pub region: String,
    /// The server's report.
    pub report: pb::FailoverResponse,
}

/// What a reprotect did, and where it was sent.
#[derive(Clone, Debug)]
pub struct ReprotectOutcome {
    /// The region reprotected.
    pub region: String,
    /// The node the request was sent to.
    pub endpoint: String,
    /// The server's report.
    pub report: pb::ReprotectResponse,
}

impl Client {
    fn dr(
        &self,
        endpoint: &str,
    ) -> Result<(String, DrServiceClient<super::pool::Conn>), ClientError> {
        let (url, channel) = self.inner.pool.channel_to(endpoint)?;
        Ok((url, DrServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES)))
    }

    /// The DR status of the node at `endpoint` (any URL): one attempt, at most 3 s.
    pub async fn dr_status(&self, endpoint: &str) -> Result<pb::DrStatusResponse, ClientError> {
        let (url, mut c) = self.dr(endpoint)?;
        let timeout = self.inner.policy.attempt_timeout.min(STATUS_TIMEOUT);
        match tokio::time::timeout(timeout, c.dr_status(pb::DrStatusRequest {})).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(ClientError::from_status(&status, &url)),
            Err(_) => Err(ClientError::timeout(&url, timeout)),
        }
    }

    /// Asks every endpoint, and every node their answers name, for its DR status, in waves (all
    /// of a wave at once).
    pub async fn dr_overview(&self) -> DrOverview {
        let mut asked: BTreeSet<String> = BTreeSet::new();
        let mut hints: BTreeMap<String, String> = BTreeMap::new();
        let mut nodes: Vec<DrNode> = Vec::new();
        let mut wave: Vec<String> = self.endpoints();
        while !wave.is_empty() && asked.len() < MAX_NODES {
            let mut set = tokio::task::JoinSet::new();
            for url in wave.drain(..) {
                let url = normalize_url(&url);
                if asked.len() >= MAX_NODES || !asked.insert(url.clone()) {
                    continue;
                }
                let client = self.clone();
                set.spawn(async move {
                    let r = client.dr_status(&url).await;
                    (url, r)
                });
            }
            while let Some(joined) = set.join_next().await {
                let Ok((url, status)) = joined else { continue };
                if let Ok(s) = &status {
                    let named = s
                        .endpoints
                        .iter()
                        .map(|e| (e, &s.region))
                        .chain(s.peer_endpoints.iter().map(|e| (e, &s.peer_region)));
                    for (e, region) in named {
                        let e = normalize_url(e);
                        if !region.is_empty() {
                            hints.entry(e.clone()).or_insert_with(|| region.clone());
                        }
                        if !asked.contains(&e) && !wave.contains(&e) {
                            wave.push(e);
                        }
                    }
                }
                nodes.push(DrNode { url, region: None, status });
            }
        }
        for n in &mut nodes {
            n.region = match &n.status {
                Ok(s) if !s.region.is_empty() => Some(s.region.clone()),
                _ => hints.get(&n.url).cloned(),
            };
        }
        nodes.sort_by(|a, b| {
            (a.region.is_none(), &a.region, &a.url).cmp(&(b.region.is_none(), &b.region, &b.url))
        });
        DrOverview { nodes }
    }

    /// A failover to the standby region, found from a [`DrOverview`]: planned (zero loss: the
    /// primary is fenced first and the standby catches up) or forced (the standby is promoted at
    /// what it has). Sent once, to the standby's leader (to its next node only if a connection is
    /// refused); the client moves its writes to the new primary afterwards.
    ///
    /// A forced failover is refused while a node of the primary region still answers as the
    /// primary, unless `even_if_primary_answers`: it would lose the writes the standby has not
    /// received yet, and a planned one loses none.
    pub async fn failover(&self, kind: FailoverKind) -> Result<FailoverOutcome, ClientError> {
        let overview = self.dr_overview().await;
        if overview.reachable() == 0 {
            return Err(nobody_answers(&overview));
        }
        let region = overview.standby_region()?;
        let old_primary = overview.primary().map(|(r, _)| r);
        if kind == (FailoverKind::Forced { even_if_primary_answers: false })
            && let Some(node) = overview.answering_primary().filter(|(r, _)| *r != region)
        {
            let (primary, url) = node;
            return Err(ClientError::local(
                ErrorCode::OperationNotAllowed,
                format!(
                    "the primary region '{primary}' still answers ({url}): a forced failover \
                     would lose the writes region '{region}' has not received yet; fail over \
                     planned, or stop the primary first, or force it even so"
                ),
            ));
        }
        let planned = kind == FailoverKind::Planned;
        let (endpoint, report) = self.failover_at(&overview.region_urls(&region), planned).await?;
        Ok(FailoverOutcome { endpoint, old_primary, region, report })
    }

    /// Sends a failover to the first of `endpoints` (nodes of the standby region) that accepts a
    /// connection; returns the node it went to and the report.
    pub async fn failover_at(
        &self,
        endpoints: &[String],
        planned: bool,
    ) -> Result<(String, pb::FailoverResponse), ClientError> {
        let result = self
            .once_per_node(endpoints, FAILOVER_TIMEOUT, |mut c| async move {
                c.failover(pb::FailoverRequest { planned }).await
            })
            .await;
        self.inner.pool.forget_leader();
        result
    }

    /// Reprotect: the region that is not the primary (an old primary, after a forced failover)
    /// keeps aside the writes the new primary never received, is reseeded from the new primary
    /// and becomes its standby.
    pub async fn reprotect(&self) -> Result<ReprotectOutcome, ClientError> {
        let overview = self.dr_overview().await;
        if overview.reachable() == 0 {
            return Err(nobody_answers(&overview));
        }
        let region = overview.reprotect_region()?;
        let (endpoint, report) = self.reprotect_at(&overview.region_urls(&region)).await?;
        Ok(ReprotectOutcome { region, endpoint, report })
    }

    /// Sends a reprotect to the first of `endpoints` that accepts a connection.
    pub async fn reprotect_at(
        &self,
        endpoints: &[String],
    ) -> Result<(String, pb::ReprotectResponse), ClientError> {
        self.once_per_node(endpoints, REPROTECT_TIMEOUT, |mut c| async move {
            c.reprotect(pb::ReprotectRequest {}).await
        })
        .await
    }

    /// The writes the region of the node at `endpoint` keeps aside (one JSON object each).
    pub async fn divergent(&self, endpoint: &str) -> Result<Vec<String>, ClientError> {
        let (url, mut c) = self.dr(endpoint)?;
        match tokio::time::timeout(DIVERGENT_TIMEOUT, c.divergent(pb::DivergentRequest {})).await {
            Ok(Ok(r)) => Ok(r.into_inner().write_json),
            Ok(Err(status)) => Err(ClientError::from_status(&status, &url)),
            Err(_) => Err(ClientError::timeout(&url, DIVERGENT_TIMEOUT)),
        }
    }

    /// The primary region, its epoch and the URL writes go to, asked now; `None` when no node
    /// answers as the primary (none reachable, or a planned failover in the middle).
    pub async fn discover_primary(&self) -> Option<(String, u64, Option<String>)> {
        let leader = self.discover_leader().await;
        let (region, epoch) = self.inner.pool.primary()?;
        Some((region, epoch, leader))
    }

    /// Runs a call once on the first node of `endpoints` that takes a connection.
    async fn once_per_node<T, F, Fut>(
        &self,
        endpoints: &[String],
        timeout: Duration,
        mut call: F,
    ) -> Result<(String, T), ClientError>
    where
        F: FnMut(DrServiceClient<super::pool::Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut last = ClientError::local(ErrorCode::Unavailable, "no node to send it to");
        for endpoint in endpoints {
            let (url, c) = self.dr(endpoint)?;
            let err = match tokio::time::timeout(timeout, call(c)).await {
                Ok(Ok(r)) => return Ok((url, r.into_inner())),
                Ok(Err(status)) => ClientError::from_status(&status, &url),
                Err(_) => return Err(ClientError::timeout(&url, timeout)),
            };
            // Only a request that surely never reached the node may go to another one.
            if !(err.transport && err.message.contains("onnect")) {
                return Err(err);
            }
            last = err;
        }
        Err(last)
    }
}

fn nobody_answers(overview: &DrOverview) -> ClientError {
    let first = overview.nodes.iter().find_map(|n| n.status.as_ref().err());
    ClientError::local(
        ErrorCode::Unavailable,
        match first {
            Some(e) => format!("no node answered: {e}"),
            None => "no endpoint given".to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::DrRole::{Primary, Standby};

    fn node(url: &str, region: &str, role: pb::DrRole, epoch: u64, leader: bool) -> Probe {
        Probe {
            url: url.into(),
            dr: Some(pb::DrStatusResponse {
                region: region.into(),
                role: role.into(),
                epoch,
                leader,
                ..Default::default()
            }),
            raft: Some(pb::ClusterStatusResponse {
                role: if leader { pb::RaftRole::Leader } else { pb::RaftRole::Follower }.into(),
                term: 3,
                region: region.into(),
                ..Default::default()
            }),
        }
    }

    /// Region `a` on a1..a3 and region `b` on b1..b3, their leaders on a2 and b3.
    fn pair(a: (pb::DrRole, u64), b: (pb::DrRole, u64)) -> Vec<Probe> {
        let mut v = Vec::new();
        for i in 1..=3 {
            v.push(node(&format!("a{i}"), "a", a.0, a.1, i == 2));
        }
        for i in 1..=3 {
            v.push(node(&format!("b{i}"), "b", b.0, b.1, i == 3));
        }
        v
    }

    #[test]
    fn the_primary_region_s_leader_is_chosen() {
        let c = choose(&pair((Primary, 1), (Standby, 1)), 0);
        assert_eq!(c.leader.as_deref(), Some("a2"));
        assert_eq!(c.primary, Some(("a".into(), 1)));
        // After a failover: b is primary at epoch 2, a a standby.
        let c = choose(&pair((Standby, 2), (Primary, 2)), 0);
        assert_eq!(c.leader.as_deref(), Some("b3"));
        assert_eq!(c.primary, Some(("b".into(), 2)));
        assert_eq!(c.max_epoch, 2);
    }

    #[test]
    fn the_highest_epoch_primary_wins() {
        // A forced failover: b was promoted at epoch 2 while a, cut off, still says primary at 1.
        let c = choose(&pair((Primary, 1), (Primary, 2)), 0);
        assert_eq!(c.leader.as_deref(), Some("b3"));
        assert_eq!(c.primary, Some(("b".into(), 2)));
        // Order does not matter.
        let mut probes = pair((Primary, 1), (Primary, 2));
        probes.reverse();
        assert_eq!(choose(&probes, 0).leader.as_deref(), Some("b3"));
    }

    #[test]
    fn standby_and_fenced_nodes_are_never_chosen_for_writes() {
        // Mid planned failover: a is fenced (a standby at epoch 2), b not yet promoted.
        let c = choose(&pair((Standby, 2), (Standby, 1)), 0);
        assert_eq!(c, Choice { leader: None, primary: None, max_epoch: 2 });
        // Only the standby answers.
        let probes: Vec<Probe> = pair((Primary, 1), (Standby, 1))
            .into_iter()
            .filter(|p| p.url.starts_with('b'))
            .collect();
        assert_eq!(choose(&probes, 0).leader, None);
        // An old primary at epoch 1 is stale once any node shows epoch 2, even a standby...
        let c = choose(&pair((Primary, 1), (Standby, 2)), 0);
        assert_eq!(c.leader, None);
        // ...or once the client has seen epoch 2 before, even if nobody shows it now.
        let old: Vec<Probe> = pair((Primary, 1), (Standby, 1))
            .into_iter()
            .filter(|p| p.url.starts_with('a'))
            .collect();
        assert_eq!(choose(&old, 0).leader.as_deref(), Some("a2"));
        assert_eq!(choose(&old, 2).leader, None);
    }

    #[test]
    fn without_a_leader_answer_the_primary_region_s_hint_or_any_of_its_nodes() {
        let mut probes = pair((Primary, 1), (Standby, 1));
        // a2 (the leader) does not answer; a1 names it.
        probes.retain(|p| p.url != "a2");
        probes[0].raft.as_mut().unwrap().leader_id = 2;
        probes[0].raft.as_mut().unwrap().leader_addr = "a2".into();
        // The standby's leader hint must not count.
        let b = probes.iter_mut().find(|p| p.url == "b1").unwrap();
        b.raft.as_mut().unwrap().leader_id = 3;
        b.raft.as_mut().unwrap().leader_addr = "b3".into();
        b.raft.as_mut().unwrap().term = 99;
        assert_eq!(choose(&probes, 0).leader.as_deref(), Some("a2"));
        // No hint at all: a node of the primary region (it forwards).
        probes[0].raft = None;
        assert_eq!(choose(&probes, 0).leader.as_deref(), Some("a1"));
    }

    #[test]
    fn servers_without_dr_fall_back_to_the_raft_leader() {
        let mut probes = pair((Primary, 1), (Standby, 1));
        for p in &mut probes {
            p.dr = None;
        }
        probes.truncate(3);
        assert_eq!(choose(&probes, 0).leader.as_deref(), Some("a2"));
    }

    fn dr_node(url: &str, region: &str, s: pb::DrStatusResponse) -> DrNode {
        DrNode { url: url.into(), region: Some(region.into()), status: Ok(s) }
    }

    fn st(region: &str, role: pb::DrRole, epoch: u64, leader: bool) -> pb::DrStatusResponse {
        pb::DrStatusResponse {
            region: region.into(),
            role: role.into(),
            epoch,
            leader,
            replicated_index: if role == Standby { 10 } else { 0 },
            ..Default::default()
        }
    }

    #[test]
    fn failover_and_reprotect_targets() {
        let o = DrOverview {
            nodes: vec![
                dr_node("a1", "a", st("a", Primary, 1, true)),
                dr_node("b1", "b", st("b", Standby, 1, false)),
                dr_node("b2", "b", st("b", Standby, 1, true)),
            ],
        };
        assert_eq!(o.primary(), Some(("a".into(), 1)));
        assert_eq!(o.regions(), vec!["a", "b"]);
        assert_eq!(o.standby_region().unwrap(), "b");
        assert_eq!(o.region_urls("b"), vec!["b2", "b1"]);
        assert_eq!(o.reprotect_region().unwrap(), "b");
        // An old primary, fenced and following nobody, is no failover target.
        let mut fenced = st("a", Standby, 2, true);
        fenced.fenced_index = 40;
        fenced.replicated_index = 0;
        let o = DrOverview {
            nodes: vec![dr_node("a1", "a", fenced), dr_node("b1", "b", st("b", Primary, 2, true))],
        };
        assert_eq!(o.regions(), vec!["b", "a"]);
        let e = o.standby_region().unwrap_err();
        assert!(e.to_string().contains("reprotect"), "{e}");
        assert_eq!(o.reprotect_region().unwrap(), "a");
        // Only the primary answers.
        let o = DrOverview { nodes: vec![dr_node("a1", "a", st("a", Primary, 1, true))] };
        assert_eq!(o.standby_region().unwrap_err().code, Some(ErrorCode::OperationNotAllowed));
        assert!(o.reprotect_region().is_err());
    }
}
