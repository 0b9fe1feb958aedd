//! A picture of a DR pair from the client's side: every node's DR status, asked of the given
//! endpoints and of every node their answers name, and what follows from it — which region is the
//! primary, which one a failover or a reprotect goes to, whether the primary still answers (the
//! forced-failover check). `twinstore dr status` prints it; [`Client::failover`] and
//! [`Client::reprotect`] act on it.
//!
//! [`Client::failover`]: super::Client::failover
//! [`Client::reprotect`]: super::Client::reprotect

use super::ClientError;
use super::dr::{Probe, choose};
use crate::error::ErrorCode;
use crate::pb;
use std::collections::BTreeSet;

/// One node in a [`DrOverview`].
#[derive(Clone, Debug)]
pub struct DrNode {
    /// The URL it was asked at.
    pub url: String,
    /// Its region: from its answer, or else from another node that named it.
    pub region: Option<String>,
    /// Its DR status, or why there was none.
    pub status: Result<pb::DrStatusResponse, ClientError>,
}

/// Every node's DR status: the given endpoints and every node their answers name (their regions'
/// members and their peer regions' endpoints).
#[derive(Clone, Debug, Default)]
pub struct DrOverview {
    /// The nodes, by region then URL (nodes of no known region last).
    pub nodes: Vec<DrNode>,
}

impl DrOverview {
    /// The answers.
    pub fn answers(&self) -> impl Iterator<Item = &pb::DrStatusResponse> {
        self.nodes.iter().filter_map(|n| n.status.as_ref().ok())
    }

    /// How many nodes answered.
    pub fn reachable(&self) -> usize {
        self.answers().count()
    }

    /// The highest epoch any node showed.
    pub fn max_epoch(&self) -> u64 {
        self.answers().map(|d| d.epoch).max().unwrap_or(0)
    }

    /// The primary region and its epoch: a node that says `primary` with the highest epoch.
    pub fn primary(&self) -> Option<(String, u64)> {
        let probes: Vec<Probe> = self
            .nodes
            .iter()
            .map(|n| Probe { url: n.url.clone(), dr: n.status.as_ref().ok().cloned(), raft: None })
            .collect();
        choose(&probes, 0).primary
    }

    /// The primary region and the URL of one of its nodes that answers as the primary, if any.
    pub fn answering_primary(&self) -> Option<(String, String)> {
        let (primary, _) = self.primary()?;
        let node = self
            .region_nodes(&primary)
            .into_iter()
            .find(|n| n.status.as_ref().is_ok_and(|s| s.role() == pb::DrRole::Primary))?;
        Some((primary, node.url.clone()))
    }

    /// The region names: the primary first, then the others by name.
    pub fn regions(&self) -> Vec<String> {
        let primary = self.primary().map(|(r, _)| r);
        let mut names: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|n| n.region.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        names.sort_by_key(|r| Some(r) != primary.as_ref());
        names
    }

    /// The nodes of a region.
    pub fn region_nodes(&self, region: &str) -> Vec<&DrNode> {
        self.nodes.iter().filter(|n| n.region.as_deref() == Some(region)).collect()
    }

    /// The status that speaks for a region: its leader's (the one whose lag figures are live), or
    /// else the answer of the node that has applied the most.
    pub fn region_view(&self, region: &str) -> Option<(&DrNode, &pb::DrStatusResponse)> {
        let answered: Vec<(&DrNode, &pb::DrStatusResponse)> = self
            .region_nodes(region)
            .into_iter()
            .filter_map(|n| n.status.as_ref().ok().map(|s| (n, s)))
            .collect();
        answered
            .iter()
            .find(|(_, s)| s.leader)
            .or_else(|| answered.iter().max_by_key(|(_, s)| (s.epoch, s.applied_index)))
            .copied()
    }

    /// The region's URLs, its leader's first.
    pub fn region_urls(&self, region: &str) -> Vec<String> {
        let mut nodes = self.region_nodes(region);
        nodes.sort_by_key(|n| !n.status.as_ref().is_ok_and(|s| s.leader));
        nodes.into_iter().map(|n| n.url.clone()).collect()
    }

    /// The region a failover goes to: a standby region that follows the primary. A region that
    /// was fenced and follows nobody (an old primary after a forced failover, until it is
    /// reprotected) is not one.
    pub fn standby_region(&self) -> Result<String, ClientError> {
        let primary = self.primary().map(|(r, _)| r);
        let mut candidates: Vec<(bool, u64, String)> = Vec::new();
        for region in self.regions() {
            if Some(&region) == primary.as_ref() {
                continue;
            }
            let Some((_, s)) = self.region_view(&region) else { continue };
            if s.role() != pb::DrRole::Standby {
                continue;
            }
            let following = !(s.fenced_index > 0 && s.replicated_index == 0);
            candidates.push((following, s.epoch, region));
        }
        candidates.sort();
        match candidates.pop() {
            Some((true, _, region)) => Ok(region),
            Some((false, _, region)) => Err(ClientError::local(
                ErrorCode::OperationNotAllowed,
                format!(
                    "region '{region}' was fenced and follows no primary yet: run `twinstore dr \
                     reprotect` first"
                ),
            )),
            None => Err(ClientError::local(
                ErrorCode::OperationNotAllowed,
                format!(
                    "no standby region answers among {} ({}); give the endpoints of both regions",
                    self.nodes.len(),
                    self.describe()
                ),
            )),
        }
    }

    /// The region a reprotect goes to: the region that is not the primary.
    pub fn reprotect_region(&self) -> Result<String, ClientError> {
        let Some((primary, _)) = self.primary() else {
            return Err(ClientError::local(
                ErrorCode::Unavailable,
                format!("no node answers as the primary ({})", self.describe()),
            ));
        };
        self.regions().into_iter().find(|r| *r != primary).ok_or_else(|| {
            ClientError::local(
                ErrorCode::OperationNotAllowed,
                format!(
                    "only region '{primary}' answers; give the endpoints of the region to \
                     reprotect too"
                ),
            )
        })
    }

    /// "region a: primary at epoch 2 (3 of 3 nodes); region b: ...", for errors.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for region in self.regions() {
            let nodes = self.region_nodes(&region);
            let ok = nodes.iter().filter(|n| n.status.is_ok()).count();
            match self.region_view(&region) {
                Some((_, s)) => parts.push(format!(
                    "region {region}: {} at epoch {} ({ok} of {} node(s) answer)",
                    s.role().label(),
                    s.epoch,
                    nodes.len()
                )),
                None => parts.push(format!("region {region}: no node answers")),
            }
        }
        let unknown = self.nodes.iter().filter(|n| n.region.is_none()).count();
        if unknown > 0 {
            parts.push(format!("{unknown} node(s) of unknown region do not answer"));
        }
        if parts.is_empty() { "no node".into() } else { parts.join("; ") }
    }
}
