//! The internal `RaftService`, the server side of [`network`] and of the [`RaftHandle`]'s
//! forwarding: raft's RPCs from peers, writes forwarded by followers, and read indexes for
//! followers' linearizable reads.

use super::election::Elections;
use super::handle::{ForwardAnswer, Forwarded, RaftHandle};
use super::{TypeConfig, network};
use crate::error::Result;
use crate::pb;
use crate::pb::raft_service_server::RaftService;
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

fn decode<T: DeserializeOwned>(req: Request<pb::RaftMessage>) -> Result<T, Status> {
    network::decode(&req.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))
}

fn reply<T: Serialize>(value: &T) -> Result<Response<pb::RaftMessage>, Status> {
    let data = network::encode(value)
        .map_err(|e| Status::internal(format!("encoding a raft reply: {e}")))?;
    Ok(Response::new(pb::RaftMessage { data }))
}

#[tonic::async_trait]
impl RaftService for RaftApi {
    async fn append_entries(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = decode(req)?;
        let answer = self.node.raft().append_entries(rpc).await;
        if !matches!(answer, Ok(AppendEntriesResponse::HigherVote(_)) | Err(_)) {
            self.elections.heard_from_leader();
        }
        reply(&answer)
    }

    async fn vote(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let rpc: VoteRequest<u64> = decode(req)?;
        let answer = self.node.raft().vote(rpc.clone()).await;
        if let Ok(resp) = &answer {
            self.elections.vote_received(self.node.raft(), &rpc, resp);
        }
        reply(&answer)
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(req)?;
        reply(&self.node.raft().install_snapshot(rpc).await)
    }

    async fn forward(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let f: Forwarded = decode(req)?;
        // Only the leader proposes; a node that is not the leader says so and the sender retries
        // with the leader it learns of. Forwarding is never chained.
        let answer: ForwardAnswer = self.node.propose_as_leader(f.request, f.op).await;
        reply(&answer)
    }

    async fn read_index(
        &self,
        _req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let index: Result<u64> = self.node.read_index().await;
        reply(&index)
    }
}
