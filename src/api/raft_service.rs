//! The internal `RaftService`: raft's RPCs from peers, writes forwarded by followers, and read
//! indexes for followers' linearizable reads.

use super::service::{ForwardAnswer, Forwarded, Shared};
use crate::error::Result;
use crate::pb;
use crate::pb::raft_service_server::RaftService;
use crate::raft::election::Elections;
use crate::raft::{TypeConfig, network};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

/// The raft service over the node's shared state.
pub struct RaftApi {
    /// The node's shared state.
    pub shared: Shared,
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
        let answer = self.shared.raft.append_entries(rpc).await;
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
        let answer = self.shared.raft.vote(rpc.clone()).await;
        if let Ok(resp) = &answer {
            self.elections.vote_received(&self.shared.raft, &rpc, resp);
        }
        reply(&answer)
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> = decode(req)?;
        reply(&self.shared.raft.install_snapshot(rpc).await)
    }

    async fn forward(
        &self,
        req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let f: Forwarded = decode(req)?;
        // Only the leader proposes; a node that is not the leader says so and the sender retries
        // with the leader it learns of. Forwarding is never chained.
        let answer: ForwardAnswer = self.shared.write_local(f.request, f.op).await;
        reply(&answer)
    }

    async fn read_index(
        &self,
        _req: Request<pb::RaftMessage>,
    ) -> Result<Response<pb::RaftMessage>, Status> {
        let index: Result<u64> = self.shared.read_index().await;
        reply(&index)
    }
}
