//! The `ClusterService`: a region's membership and each node's raft state.
//!
//! Membership changes follow raft's safe path: a new node joins as a learner, the leader waits
//! until it has caught up, and only then is it made a voter (joint consensus underneath). A
//! request that reaches a follower is passed to the leader. The leader records each change it
//! runs, and who asked for it, on the audit trail (`audit.rs`).

use super::audit;
use super::service::{LEADER_WAIT, Shared};
use super::status::to_status;
use crate::err;
use crate::pb;
use crate::pb::cluster_service_client::ClusterServiceClient;
use crate::pb::cluster_service_server::ClusterService;
use crate::raft::NodeInfo;
use openraft::ChangeMembers;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use std::collections::{BTreeMap, BTreeSet};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The cluster service over the node's shared state.
pub struct ClusterApi(pub Shared);

impl ClusterApi {
    /// A client for the leader when it is another node; `None` when this node leads.
    async fn leader(&self) -> Result<Option<ClusterServiceClient<Channel>>, Status> {
        let channel = self.0.node.leader_channel().await.map_err(to_status)?;
        Ok(channel.map(ClusterServiceClient::new))
    }

    fn members(&self) -> Vec<pb::Member> {
        let m = self.0.node.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let matched: BTreeMap<u64, u64> = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index).unwrap_or(0))).collect())
            .unwrap_or_default();
        membership
            .nodes()
            .map(|(id, node)| pb::Member {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
                matched_index: if *id == self.0.node.id()
                    && m.current_leader == Some(self.0.node.id())
                {
                    m.last_log_index.unwrap_or(0)
                } else {
                    matched.get(id).copied().unwrap_or(0)
                },
            })
            .collect()
    }
}

/// How long a membership change waits for one already in progress (openraft runs one at a time:
/// a joint configuration, then the final one) before it gives up.
const CHANGE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl ClusterApi {
    /// Changes the membership; when another change is still in progress (a node that just joined
    /// is committed in two steps; another admin's change), waits for it to finish first rather
    /// than failing.
    async fn change(
        &self,
        members: ChangeMembers<u64, NodeInfo>,
    ) -> Result<openraft::raft::ClientWriteResponse<crate::raft::TypeConfig>, Status> {
        let raft = self.0.node.raft();
        retry_in_progress(|| raft.change_membership(members.clone(), false)).await
    }
}

/// Runs a membership change (`attempt`) again while openraft answers that another one is in
/// progress, for up to [`CHANGE_WAIT`].
async fn retry_in_progress<T, F, Fut>(attempt: F) -> Result<T, Status>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, RaftError<u64, ClientWriteError<u64, NodeInfo>>>>,
{
    let deadline = std::time::Instant::now() + CHANGE_WAIT;
    loop {
        match attempt().await {
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            ))) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            answer => return answer.map_err(change_error),
        }
    }
}

fn change_error(e: impl std::fmt::Display) -> Status {
    to_status(err!(Unavailable, "the membership change did not complete: {e}"))
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn cluster_status(
        &self,
        _req: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let m = self.0.node.raft().metrics().borrow().clone();
        let leader_addr = m
            .current_leader
            .and_then(|id| m.membership_config.membership().get_node(&id).map(|n| n.addr.clone()))
            .unwrap_or_default();
        Ok(Response::new(pb::ClusterStatusResponse {
            id: self.0.node.id(),
            addr: self.0.node.addr().to_string(),
            role: pb::RaftRole::from(m.state).into(),
            term: m.current_term,
            leader_id: m.current_leader.unwrap_or(0),
            leader_addr,
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            purged_index: m.purged.map(|l| l.index).unwrap_or(0),
            members: self.members(),
            millis_since_quorum_ack: m.millis_since_quorum_ack.unwrap_or(0),
            region: self.0.region().to_string(),
        }))
    }

    async fn add_node(
        &self,
        req: Request<pb::AddNodeRequest>,
    ) -> Result<Response<pb::AddNodeResponse>, Status> {
        let who = audit::principal(&req);
        let r = req.into_inner();
        if r.id == 0 || r.addr.is_empty() {
            return Err(to_status(err!(
                InvalidArgument,
                "a node needs a non-zero id and an address"
            )));
        }
        if let Some(mut leader) = self.leader().await? {
            return leader.add_node(r).await;
        }
        let result = self.add_here(&r).await;
        let detail = format!("node {} at {}", r.id, r.addr);
        audit::record(&self.0, who, "AddNode", detail, &result).await;
        result
    }

    async fn remove_node(
        &self,
        req: Request<pb::RemoveNodeRequest>,
    ) -> Result<Response<pb::RemoveNodeResponse>, Status> {
        let who = audit::principal(&req);
        let r = req.into_inner();
        if let Some(mut leader) = self.leader().await? {
            return leader.remove_node(r).await;
        }
        let result = self.remove_here(&r).await;
        audit::record(&self.0, who, "RemoveNode", format!("node {}", r.id), &result).await;
        result
    }
}

impl ClusterApi {
    /// Adds node `r.id` on this node, the leader: as a learner, then as a voter once caught up.
    async fn add_here(
        &self,
        r: &pb::AddNodeRequest,
    ) -> Result<Response<pb::AddNodeResponse>, Status> {
        let node = NodeInfo { addr: r.addr.clone() };
        let raft = self.0.node.raft();
        let learner = retry_in_progress(|| raft.add_learner(r.id, node.clone(), true));
        tokio::time::timeout(LEADER_WAIT * 6, learner).await.map_err(|_| {
            to_status(err!(Unavailable, "node {} did not catch up within a minute", r.id))
        })??;
        let resp = self.change(ChangeMembers::AddVoterIds(BTreeSet::from([r.id]))).await?;
        let membership = pb::Membership { members: self.members(), index: resp.log_id.index };
        Ok(Response::new(pb::AddNodeResponse { membership: Some(membership) }))
    }

    /// Removes node `r.id` on this node, the leader.
    async fn remove_here(
        &self,
        r: &pb::RemoveNodeRequest,
    ) -> Result<Response<pb::RemoveNodeResponse>, Status> {
        let m = self.0.node.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        if membership.get_node(&r.id).is_none() {
            return Err(to_status(err!(
                InvalidArgument,
                "node {} is not a member of region '{}'",
                r.id,
                self.0.region()
            )));
        }
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let mut index = 0;
        if voters.contains(&r.id) {
            if voters.len() == 1 {
                return Err(to_status(err!(
                    OperationNotAllowed,
                    "node {} is the last voter; a region needs one",
                    r.id
                )));
            }
            let resp = self.change(ChangeMembers::RemoveVoters(BTreeSet::from([r.id]))).await?;
            index = resp.log_id.index;
        }
        let m = self.0.node.raft().metrics().borrow().clone();
        if m.membership_config.membership().get_node(&r.id).is_some() {
            let resp = self.change(ChangeMembers::RemoveNodes(BTreeSet::from([r.id]))).await?;
            index = resp.log_id.index;
        }
        let membership = pb::Membership { members: self.members(), index };
        Ok(Response::new(pb::RemoveNodeResponse { membership: Some(membership) }))
    }
}
