//! `twinstore cluster ...`: a region's raft group.
//!
//! `status` asks every endpoint given, and every member those nodes name, for its own view
//! (`ClusterService.ClusterStatus`), all at once and briefly, and prints one row per node: id, address,
//! role, term, last log and applied index, the leader it follows, and health (reachable, and on the
//! leader's word how far behind it is). A node that cannot be reached is a row too, not a failure:
//! the command fails only when no node answers at all. The leader is the node that says it leads
//! with the highest term, marked `*`. Endpoints of two regions (a DR pair) give one table per
//! region: each region is its own raft group, with its own leader and terms.
//!
//! `add-node ID ADDR` and `remove-node ID` go to the leader (the client finds it) and print the
//! members after the change.

use super::Ctx;
use super::output::{CliError, CliResult, OutputFormat, out};
use clap::Subcommand;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use twinstore::client::{Client, normalize_url};
use twinstore::error::ErrorCode;
use twinstore::pb;

/// The most nodes `status` asks (a region has 1, 3 or 5; this bounds a misconfigured list).
const MAX_NODES: usize = 64;

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Each member's raft state (asks every --endpoint and every member they name).
    Status,
    /// Add a node to the region: it joins as a learner, catches up, then becomes a voter.
    AddNode {
        /// The new node's id (unique in the region, never reused).
        id: u64,
        /// The URL the other nodes reach it at, e.g. http://127.0.1.4:7001.
        addr: String,
    },
    /// Remove a node from the region.
    RemoveNode {
        /// The node's id.
        id: u64,
    },
}

pub(crate) async fn run(ctx: Ctx, cmd: ClusterCommand) -> CliResult {
    let Ctx { client, printer } = ctx;
    match cmd {
        ClusterCommand::Status => {
            let view = collect(&client, &client.endpoints()).await;
            if view.reachable() == 0 {
                let first = view.nodes.first().and_then(|n| n.status.as_ref().err().cloned());
                return Err(CliError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "no node answered: {}",
                        first.unwrap_or_else(|| "no endpoint given".into())
                    ),
                ));
            }
            match printer.format {
                OutputFormat::Json => out(&view.to_json().to_string()),
                OutputFormat::Text => {
                    for line in view.table() {
                        out(&line);
                    }
                }
            }
        }
        ClusterCommand::AddNode { id, addr } => {
            let addr = normalize_url(&addr);
            let r = client.add_node(id, &addr).await?;
            printer.ack(
                &format!("node {id} ({addr}) added; members: {}", members_text(&r.members)),
                membership_json(&r),
            );
        }
        ClusterCommand::RemoveNode { id } => {
            let r = client.remove_node(id).await?;
            printer.ack(
                &format!("node {id} removed; members: {}", members_text(&r.members)),
                membership_json(&r),
            );
        }
    }
    Ok(())
}

fn members_text(members: &[pb::Member]) -> String {
    let v: Vec<String> = members
        .iter()
        .map(|m| format!("{}{}", m.id, if m.voter { "" } else { " (learner)" }))
        .collect();
    v.join(", ")
}

fn member_json(m: &pb::Member) -> Value {
    json!({"id": m.id, "addr": m.addr, "voter": m.voter, "matched_index": m.matched_index})
}

fn membership_json(r: &pb::Membership) -> Value {
    json!({"members": r.members.iter().map(member_json).collect::<Vec<_>>(), "index": r.index})
}

/// One node as seen by `status`.
#[derive(Clone, Debug)]
pub(crate) struct NodeView {
    /// The URL it was asked at.
    pub(crate) url: String,
    /// Its answer, or why there was none.
    pub(crate) status: Result<pb::ClusterStatusResponse, String>,
    /// Its id according to another node's member list (for nodes that did not answer).
    pub(crate) member_id: Option<u64>,
    /// Its region: from its answer, or from the node whose member list named it.
    pub(crate) region: Option<String>,
}

impl NodeView {
    fn id(&self) -> Option<u64> {
        self.status.as_ref().ok().map(|s| s.id).or(self.member_id)
    }
}

/// What `status` learned.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClusterView {
    /// One entry per node, by id (unknown ids last).
    pub(crate) nodes: Vec<NodeView>,
}

/// Asks `seeds` and every member they name for their status, in waves, at most [`MAX_NODES`].
pub(crate) async fn collect(client: &Client, seeds: &[String]) -> ClusterView {
    let mut asked: BTreeSet<String> = BTreeSet::new();
    let mut views: Vec<NodeView> = Vec::new();
    let mut member_ids: BTreeMap<String, u64> = BTreeMap::new();
    let mut member_regions: BTreeMap<String, String> = BTreeMap::new();
    let mut wave: Vec<String> = seeds.iter().map(|s| normalize_url(s)).collect();
    while !wave.is_empty() && asked.len() < MAX_NODES {
        let mut set = tokio::task::JoinSet::new();
        for url in wave.drain(..) {
            if asked.len() >= MAX_NODES || !asked.insert(url.clone()) {
                continue;
            }
            let client = client.clone();
            set.spawn(async move {
                let r = client.cluster_status(&url).await.map_err(|e| e.to_string());
                (url, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((url, status)) = joined else { continue };
            if let Ok(s) = &status {
                for m in &s.members {
                    let addr = normalize_url(&m.addr);
                    member_ids.insert(addr.clone(), m.id);
                    member_regions.insert(addr.clone(), s.region.clone());
                    if !asked.contains(&addr) && !wave.contains(&addr) {
                        wave.push(addr);
                    }
                }
                // A node may be reached at a URL other than the one it advertises.
                if !s.addr.is_empty() {
                    asked.insert(normalize_url(&s.addr));
                }
            }
            views.push(NodeView { url, status, member_id: None, region: None });
        }
    }
    for v in &mut views {
        v.member_id = member_ids.get(&v.url).copied();
        v.region = match &v.status {
            Ok(s) => Some(s.region.clone()),
            Err(_) => member_regions.get(&v.url).cloned(),
        };
    }
    // One row per node: a node that answered at one URL hides failures at another URL of it.
    let answered: BTreeSet<(String, u64)> = views
        .iter()
        .filter_map(|v| v.status.as_ref().ok().map(|s| (s.region.clone(), s.id)))
        .collect();
    let mut seen: BTreeSet<(String, u64)> = BTreeSet::new();
    views.retain(|v| match &v.status {
        Ok(s) => seen.insert((s.region.clone(), s.id)),
        Err(_) => !v.member_id.is_some_and(|id| {
            answered.iter().any(|(r, i)| *i == id && v.region.as_ref().is_none_or(|vr| vr == r))
        }),
    });
    views.sort_by_key(|v| {
        (v.region.is_none(), v.region.clone(), v.id().is_none(), v.id().unwrap_or(0), v.url.clone())
    });
    ClusterView { nodes: views }
}

impl ClusterView {
    /// One view per region (a node of no known region joins the first), in name order.
    pub(crate) fn by_region(&self) -> Vec<ClusterView> {
        let mut regions: BTreeMap<String, ClusterView> = BTreeMap::new();
        let mut unknown = Vec::new();
        for n in &self.nodes {
            match &n.region {
                Some(r) => regions.entry(r.clone()).or_default().nodes.push(n.clone()),
                None => unknown.push(n.clone()),
            }
        }
        let mut views: Vec<ClusterView> = regions.into_values().collect();
        match views.first_mut() {
            Some(first) => first.nodes.extend(unknown),
            None => views.push(ClusterView { nodes: unknown }),
        }
        views
    }

    /// How many nodes answered.
    pub(crate) fn reachable(&self) -> usize {
        self.nodes.iter().filter(|n| n.status.is_ok()).count()
    }

    /// The node that says it leads, with the highest term: its status and the URL it answered at.
    pub(crate) fn leader(&self) -> Option<(&pb::ClusterStatusResponse, &str)> {
        self.nodes
            .iter()
            .filter_map(|n| n.status.as_ref().ok().map(|s| (s, n.url.as_str())))
            .filter(|(s, _)| s.role() == pb::RaftRole::Leader)
            .max_by_key(|(s, _)| s.term)
    }

    /// True when, in every region, a leader is elected and every node that answered follows it in
    /// its term.
    pub(crate) fn settled(&self) -> bool {
        let regions = self.by_region();
        if regions.len() > 1 {
            return regions.iter().all(|r| r.settled_region());
        }
        self.settled_region()
    }

    fn settled_region(&self) -> bool {
        let Some((leader, _)) = self.leader() else { return false };
        self.nodes
            .iter()
            .filter_map(|n| n.status.as_ref().ok())
            .all(|s| s.leader_id == leader.id && s.term == leader.term)
    }

    /// The JSON form (`--output json`): one region's, or with several regions the overall
    /// `settled` and `reachable` and each region's under `regions`.
    pub(crate) fn to_json(&self) -> Value {
        let regions = self.by_region();
        if regions.len() > 1 {
            let each: Vec<Value> = regions.iter().map(|r| r.region_json()).collect();
            let nodes: Vec<Value> = each
                .iter()
                .flat_map(|r| r["nodes"].as_array().cloned().unwrap_or_default())
                .collect();
            return json!({
                "settled": self.settled(),
                "reachable": self.reachable(),
                "regions": each,
                "nodes": nodes,
            });
        }
        self.region_json()
    }

    fn region_json(&self) -> Value {
        let leader = self.leader();
        let leader_members: BTreeMap<u64, &pb::Member> =
            leader.map(|(s, _)| s.members.iter().map(|m| (m.id, m)).collect()).unwrap_or_default();
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| match &n.status {
                Ok(s) => {
                    let member = leader_members.get(&s.id);
                    json!({
                        "id": s.id,
                        "addr": s.addr,
                        "endpoint": n.url,
                        "reachable": true,
                        "region": s.region,
                        "state": s.role().label(),
                        "is_leader": leader.is_some_and(|(l, _)| l.id == s.id),
                        "term": s.term,
                        "leader_id": s.leader_id,
                        "leader_addr": s.leader_addr,
                        "last_log_index": s.last_log_index,
                        "last_applied_index": s.last_applied_index,
                        "snapshot_index": s.snapshot_index,
                        "purged_index": s.purged_index,
                        "millis_since_quorum_ack": s.millis_since_quorum_ack,
                        "voter": member.map(|m| m.voter),
                        "matched_index": member.map(|m| m.matched_index),
                        "members": s.members.iter().map(member_json).collect::<Vec<_>>(),
                    })
                }
                Err(e) => json!({
                    "id": n.member_id,
                    "addr": n.url,
                    "endpoint": n.url,
                    "reachable": false,
                    "is_leader": false,
                    "error": e,
                }),
            })
            .collect();
        json!({
            "region": leader.map(|(s, _)| s.region.clone()),
            "leader_id": leader.map(|(s, _)| s.id),
            "leader_addr": leader.map(|(s, url)| if s.addr.is_empty() { url.to_string() } else { s.addr.clone() }),
            "term": leader.map(|(s, _)| s.term),
            "settled": self.settled(),
            "reachable": self.reachable(),
            "nodes": nodes,
        })
    }

    /// The text form: a summary line and a table, per region (a blank line between regions).
    pub(crate) fn table(&self) -> Vec<String> {
        let regions = self.by_region();
        if regions.len() > 1 {
            let mut lines = Vec::new();
            for (i, r) in regions.iter().enumerate() {
                if i > 0 {
                    lines.push(String::new());
                }
                lines.extend(r.region_table());
            }
            return lines;
        }
        self.region_table()
    }

    fn region_table(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let leader = self.leader();
        let total = self.nodes.len();
        match leader {
            Some((l, _)) => {
                let voters = l.members.iter().filter(|m| m.voter).count();
                let learners = l.members.len() - voters;
                lines.push(format!(
                    "region {}: leader {} ({}), term {}; {} voter(s), {} learner(s); {}/{} node(s) reachable",
                    l.region,
                    l.id,
                    l.addr,
                    l.term,
                    voters,
                    learners,
                    self.reachable(),
                    total
                ));
            }
            None => lines.push(format!(
                "{}no leader: {}/{} node(s) reachable, none says it leads (an election may be under way)",
                self.nodes
                    .iter()
                    .find_map(|n| n.region.as_ref())
                    .map(|r| format!("region {r}: "))
                    .unwrap_or_default(),
                self.reachable(),
                total
            )),
        }
        let matched: BTreeMap<u64, u64> = leader
            .map(|(l, _)| l.members.iter().map(|m| (m.id, m.matched_index)).collect())
            .unwrap_or_default();
        let leader_last = leader.map(|(l, _)| l.last_log_index).unwrap_or(0);
        let header = ["", "ID", "ADDR", "ROLE", "TERM", "LAST-LOG", "APPLIED", "LEADER", "HEALTH"];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for n in &self.nodes {
            let row = match &n.status {
                Ok(s) => {
                    let is_leader = leader.is_some_and(|(l, _)| l.id == s.id);
                    let health = if is_leader {
                        format!("ok, quorum ack {} ms ago", s.millis_since_quorum_ack)
                    } else {
                        match matched.get(&s.id) {
                            Some(m) if leader_last >= *m => {
                                format!("ok, {} behind", leader_last - m)
                            }
                            _ => "ok".to_string(),
                        }
                    };
                    vec![
                        if is_leader { "*".into() } else { String::new() },
                        s.id.to_string(),
                        if s.addr.is_empty() { n.url.clone() } else { s.addr.clone() },
                        s.role().label().to_string(),
                        s.term.to_string(),
                        s.last_log_index.to_string(),
                        s.last_applied_index.to_string(),
                        if s.leader_id == 0 { "-".into() } else { s.leader_id.to_string() },
                        health,
                    ]
                }
                Err(e) => vec![
                    String::new(),
                    n.member_id.map_or("?".into(), |i| i.to_string()),
                    n.url.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    format!("unreachable: {e}"),
                ],
            };
            rows.push(row);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for r in rows {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                let last = c + 1 == r.len();
                let numeric = matches!(c, 1 | 4 | 5 | 6 | 7);
                let pad = widths[c] - cell.chars().count();
                if numeric {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, role: pb::RaftRole, term: u64, leader: u64) -> pb::ClusterStatusResponse {
        let members = (1..=3)
            .map(|i| pb::Member {
                id: i,
                addr: format!("http://127.0.1.{i}:7001"),
                voter: true,
                matched_index: if i == 3 { 7 } else { 10 },
            })
            .collect();
        pb::ClusterStatusResponse {
            id,
            addr: format!("http://127.0.1.{id}:7001"),
            role: role.into(),
            term,
            leader_id: leader,
            leader_addr: format!("http://127.0.1.{leader}:7001"),
            last_log_index: 10,
            last_applied_index: 10,
            members,
            region: "primary".into(),
            ..Default::default()
        }
    }

    fn view() -> ClusterView {
        ClusterView {
            nodes: vec![
                NodeView {
                    url: "http://127.0.1.1:7001".into(),
                    status: Ok(status(1, pb::RaftRole::Follower, 3, 2)),
                    member_id: Some(1),
                    region: Some("primary".into()),
                },
                NodeView {
                    url: "http://127.0.1.2:7001".into(),
                    status: Ok(status(2, pb::RaftRole::Leader, 3, 2)),
                    member_id: Some(2),
                    region: Some("primary".into()),
                },
                NodeView {
                    url: "http://127.0.1.3:7001".into(),
                    status: Err("Unavailable: cannot reach http://127.0.1.3:7001".into()),
                    member_id: Some(3),
                    region: Some("primary".into()),
                },
            ],
        }
    }

    #[test]
    fn the_leader_is_found_and_shown() {
        let v = view();
        assert_eq!(v.leader().unwrap().0.id, 2);
        assert!(v.settled());
        assert_eq!(v.reachable(), 2);
        let j = v.to_json();
        assert_eq!(j["leader_id"], 2);
        assert_eq!(j["nodes"][1]["is_leader"], true);
        assert_eq!(j["nodes"][2]["reachable"], false);
        assert_eq!(j["nodes"][2]["id"], 3);
        let t = v.table();
        assert!(t[0].starts_with("region primary: leader 2 (http://127.0.1.2:7001), term 3"));
        assert!(t[1].contains("ID") && t[1].contains("HEALTH"), "{t:#?}");
        assert!(t[3].starts_with("*") && t[3].contains("Leader"), "{t:#?}");
        assert!(t[2].contains("ok, 0 behind"), "{t:#?}");
        assert!(t[4].contains("unreachable: Unavailable"), "{t:#?}");
    }

    #[test]
    fn two_regions_are_two_groups() {
        let mut v = view();
        // The standby region: its own leader (node 1) in its own, lower term.
        for id in 1..=2u64 {
            let mut s = status(
                id,
                if id == 1 { pb::RaftRole::Leader } else { pb::RaftRole::Follower },
                1,
                1,
            );
            s.region = "standby".into();
            s.addr = format!("http://127.0.2.{id}:7001");
            v.nodes.push(NodeView {
                url: s.addr.clone(),
                status: Ok(s),
                member_id: Some(id),
                region: Some("standby".into()),
            });
        }
        let regions = v.by_region();
        assert_eq!(regions.len(), 2);
        assert_eq!(regions[1].leader().unwrap().0.region, "standby");
        assert!(v.settled());
        let j = v.to_json();
        assert_eq!(j["regions"][0]["leader_id"], 2, "{j}");
        assert_eq!(j["regions"][1]["leader_id"], 1, "{j}");
        assert_eq!(j["reachable"], 4);
        let t = v.table();
        assert!(t.iter().any(|l| l.starts_with("region primary: leader 2")), "{t:#?}");
        assert!(t.iter().any(|l| l.starts_with("region standby: leader 1")), "{t:#?}");
    }

    #[test]
    fn a_stale_leader_is_not_the_leader() {
        let mut v = view();
        // Node 1 still thinks it leads, in an older term.
        v.nodes[0].status = Ok(status(1, pb::RaftRole::Leader, 2, 1));
        assert_eq!(v.leader().unwrap().0.id, 2);
        assert!(!v.settled());
        v.nodes[1].status = Err("down".into());
        assert_eq!(v.leader().unwrap().0.id, 1);
    }
}
