//! The internal `RaftService`, the server side of [`network`] and of the [`RaftHandle`]'s
//! forwarding: raft's RPCs from peers, writes forwarded by followers, and read indexes for
//! followers' linearizable reads.

use super::election::Elections;
use super::handle::{ForwardAnswer, Forwarded, RaftHandle};
use super::{TypeConfig, network};
use crate::error::Result;
use crate::pb;
use crate::pb::raft_service_server::RaftService;
use crate::security::identity::Peer;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

/// The raft service of a node.
pub struct RaftApi {
    /// The node's raft handle.
    pub node: RaftHandle,
    /// The node's election corrections: they see every AppendEntries and vote request.
    pub elections: Elections,
}

/// Decodes a request's payload (every RPC's request message is `{ bytes data = 1; }`).
fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, Status> {
    network::decode(data).map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))
}

/// Encodes a reply's payload; the caller wraps it in the RPC's response message.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Status> {
    network::encode(value).map_err(|e| Status::internal(format!("encoding a raft reply: {e}")))
}

/// With TLS, a raft message must come from the member it names: a leader's AppendEntries or
/// snapshot, a candidate's vote request, over that very node's certificate (the guard has
/// already checked the certificate names a node of this region, see `security::guard`). Without
/// TLS there is no peer to compare with.
fn claimed(peer: Option<Peer>, sender: Option<u64>) -> Result<(), Status> {
    match (peer, sender) {
        (Some(Peer::Node { id, .. }), Some(sender)) if id != sender => {
            Err(Status::permission_denied(format!(
                "a raft message from node {sender} came over node {id}'s certificate"
            )))
        }
        _ => Ok(()),
    }
}

#[tonic::async_trait]
impl RaftService for RaftApi {
    async fn append_entries(
        &self,
        req: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let peer = req.extensions().get::<Peer>().cloned();
        let rpc: AppendEntriesRequest<TypeConfig> = decode(&req.into_inner().data)?;
        claimed(peer, rpc.vote.leader_id().voted_for())?;
        let answer = self.node.raft().append_entries(rpc).await;
        if !matches!(answer, Ok(AppendEntriesResponse::HigherVote(_)) | Err(_)) {
            self.elections.heard_from_leader();
        }
        Ok(Response::new(pb::AppendEntriesResponse { data: encode(&answer)? }))
    }

    async fn vote(
        &self,
        req: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let peer = req.extensions().get::<Peer>().cloned();
        let rpc: VoteRequest<u64> = decode(&req.into_inner().data)?;
        claimed(peer, rpc.vote.leader_id().voted_for())?;
        let answer = self.node.raft().vote(rpc.clone()).await;
        if let Ok(resp) = &answer {
            self.elections.vote_received(self.node.raft(), &rpc, resp);
        }
        Ok(Response::new(pb::VoteResponse { data: encode(&answer)? }))
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::InstallSnapshotRequest>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        let peer = req.extensions().get::<Peer>().cloned();
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(&req.into_inner().data)?;
        claimed(peer, rpc.vote.leader_id().voted_for())?;
        let answer = self.node.raft().install_snapshot(rpc).await;
        Ok(Response::new(pb::InstallSnapshotResponse { data: encode(&answer)? }))
    }

    async fn forward(
        &self,
        req: Request<pb::ForwardRequest>,
    ) -> Result<Response<pb::ForwardResponse>, Status> {
        let f: Forwarded = decode(&req.into_inner().data)?;
        // Only the leader proposes; a node that is not the leader says so and the sender retries
        // with the leader it learns of. Forwarding is never chained.
        let answer: ForwardAnswer = self.node.propose_as_leader(f.request, f.op).await;
        Ok(Response::new(pb::ForwardResponse { data: encode(&answer)? }))
    }

    async fn read_index(
        &self,
        _req: Request<pb::ReadIndexRequest>,
    ) -> Result<Response<pb::ReadIndexResponse>, Status> {
        let index: Result<u64> = self.node.read_index().await;
        Ok(Response::new(pb::ReadIndexResponse { data: encode(&index)? }))
    }
}
