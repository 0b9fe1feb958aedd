//! The `DrService`: DR status, log shipping to the standby region, failover, reprotect.
//!
//! Requests that change the region's DR state run on the region's leader: a follower passes them
//! on. The work itself is in `dr`. The leader records each failover and reprotect it runs, and
//! who asked for it, on the audit trail (`audit.rs`).

use super::audit;
use super::service::Shared;
use super::status::{IntoStatus, to_status};
use crate::dr::{Dr, failover, source};
use crate::err;
use crate::model::time::Timestamp;
use crate::pb;
use crate::pb::dr_service_server::DrService;
use crate::raft::network;
use crate::storage::dr::{PeerRegion, Position, Role};
use crate::storage::{Op, Reply};
use std::pin::Pin;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// The DrService over the node's shared state and DR machinery.
pub struct DrApi {
    /// The node's shared state.
    pub shared: Shared,
    /// Its DR machinery.
    pub geo: Dr,
    /// Its health machinery (failovers and reprotects are recorded as incidents).
    pub health: crate::health::Health,
}

type StreamOf<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Snapshots are sent in chunks of this size.
const CHUNK: usize = 1 << 20;

impl DrApi {
    fn status_now(&self) -> Result<pb::DrStatusResponse, Status> {
        let status = self.geo.status().status()?;
        let dr = status.state;
        let lag = status.lag.unwrap_or_default();
        let (first, last) = self.geo.log.bounds().unwrap_or((0, 0));
        let peer = dr.peer.clone().unwrap_or_default();
        Ok(pb::DrStatusResponse {
            region: self.geo.region.clone(),
            role: pb::DrRole::from(dr.role).into(),
            epoch: dr.epoch,
            node_id: self.geo.id,
            peer_region: peer.name,
            peer_endpoints: peer.endpoints,
            endpoints: self.geo.endpoints(),
            replicated_epoch: dr.upstream.epoch,
            replicated_index: dr.upstream.index,
            replicated_time_ns: lag.as_of.0,
            lag_entries: lag.entries,
            lag_seconds: lag.seconds,
            retained_from: first,
            retained_to: last,
            standby_confirmed: dr.standby_confirmed,
            fenced_epoch: dr.fenced_at.map(|f| f.epoch).unwrap_or(0),
            fenced_index: dr.fenced_at.map(|f| f.index).unwrap_or(0),
            divergent_writes: self.geo.store.divergent().status()?.len() as u64,
            promoted_index: dr.promoted_at.map(|p| p.index).unwrap_or(0),
            applied_index: self.geo.store.applied_index(),
            leader: status.leader,
            shipping: lag.shipping && lag.connected,
            shipping_error: lag.error,
            lag_p50_ms: lag.p50_ms,
            lag_p99_ms: lag.p99_ms,
            lag_max_ms: lag.max_ms,
            lag_samples: lag.samples,
        })
    }

    /// Runs a failover on this node, the standby region's leader.
    async fn failover_here(
        &self,
        r: &pb::FailoverRequest,
    ) -> Result<Response<pb::FailoverResponse>, Status> {
        let incident = self.health.failover_started(r.planned).await;
        let report = if r.planned {
            failover::planned(&self.geo).await
        } else {
            failover::forced(&self.geo).await
        };
        self.health.failover_finished(incident, r.planned, report.as_ref()).await;
        let report = report.status()?;
        Ok(Response::new(pb::FailoverResponse {
            epoch: report.epoch,
            region: self.geo.region.clone(),
            promoted_at_epoch: report.at.epoch,
            promoted_at_index: report.at.index,
            promoted_at_time_ns: report.at_time.0,
            write_pause_ms: report.write_pause.as_secs_f64() * 1000.0,
            lost_entries_estimate: report.lost_estimate,
            rpo_seconds: if r.planned {
                0.0
            } else {
                Timestamp::now().0.saturating_sub(report.at_time.0) as f64 / 1e9
            },
            summary: report.summary,
        }))
    }

    /// Runs a reprotect on this node, the old primary region's leader.
    async fn reprotect_here(&self) -> Result<Response<pb::ReprotectResponse>, Status> {
        let incident = self.health.reprotect_started().await;
        let outcome = failover::reprotect(&self.geo).await;
        self.health.reprotect_finished(incident, outcome.as_ref().map(|o| *o)).await;
        let (kept, at): (u64, Position) = outcome.status()?;
        Ok(Response::new(pb::ReprotectResponse {
            divergent_writes: kept,
            reseeded_epoch: at.epoch,
            reseeded_index: at.index,
            summary: format!(
                "region '{}' is now the standby, reseeded at {}:{}; {kept} write(s) it had accepted \
                 that the primary never received are kept aside (`twinstore dr divergent`)",
                self.geo.region, at.epoch, at.index
            ),
        }))
    }
}

#[tonic::async_trait]
impl DrService for DrApi {
    async fn dr_status(
        &self,
        _req: Request<pb::DrStatusRequest>,
    ) -> Result<Response<pb::DrStatusResponse>, Status> {
        Ok(Response::new(self.status_now()?))
    }

    type PullStream = StreamOf<pb::PullResponse>;

    async fn pull(
        &self,
        req: Request<pb::PullRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let r = req.into_inner();
        let rx = source::stream(self.geo.clone(), r.from_index);
        let stream = tokio_stream::StreamExt::map(ReceiverStream::new(rx), |item| match item {
            Ok((batch, applied)) => match network::encode(&batch) {
                Ok(bytes) => Ok(pb::PullResponse { batch: bytes, primary_applied: applied }),
                Err(e) => Err(Status::internal(format!("encoding a batch: {e}"))),
            },
            Err(e) => Err(to_status(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn confirm(
        &self,
        req: Request<pb::ConfirmRequest>,
    ) -> Result<Response<pb::ConfirmResponse>, Status> {
        let index = req.into_inner().index;
        if self.geo.store.dr().status()?.standby_confirmed < index {
            self.shared.write(Op::StandbyConfirmed { index }, None).await.status()?;
        }
        Ok(Response::new(pb::ConfirmResponse {}))
    }

    type SnapshotStream = StreamOf<pb::SnapshotResponse>;

    async fn snapshot(
        &self,
        _req: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let dr = self.geo.store.dr().status()?;
        if dr.role != Role::Primary {
            return Err(to_status(err!(
                ReadOnlyRegion,
                "region '{}' is not the primary; seed from the primary",
                self.geo.region
            )));
        }
        let store = self.geo.store.clone();
        let (applied, data) = tokio::task::spawn_blocking(move || store.snapshot())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .status()?;
        let total = data.len() as u64;
        let time = Timestamp::now();
        let chunks: Vec<Result<pb::SnapshotResponse, Status>> = data
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, c)| {
                let first = i == 0;
                Ok(pb::SnapshotResponse {
                    data: c.to_vec(),
                    epoch: if first { dr.epoch } else { 0 },
                    index: if first { applied.index } else { 0 },
                    time_ns: if first { time.0 } else { 0 },
                    total: if first { total } else { 0 },
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn failover(
        &self,
        req: Request<pb::FailoverRequest>,
    ) -> Result<Response<pb::FailoverResponse>, Status> {
        let who = audit::principal(&req);
        let r = req.into_inner();
        if let Some(mut leader) = self.geo.leader_client().await.status()? {
            return leader.failover(r).await;
        }
        let result = self.failover_here(&r).await;
        let kind = if r.planned { "planned" } else { "forced" };
        audit::record(&self.shared, who, "Failover", kind.to_string(), &result).await;
        result
    }

    async fn fence(
        &self,
        req: Request<pb::FenceRequest>,
    ) -> Result<Response<pb::FenceResponse>, Status> {
        let r = req.into_inner();
        let peer = PeerRegion { name: r.peer_region, endpoints: r.peer_endpoints };
        let (_, reply) = self
            .shared
            .write(Op::Fence { epoch: r.epoch, peer: Some(peer) }, None)
            .await
            .status()?;
        match reply {
            Reply::Fenced { at } => {
                Ok(Response::new(pb::FenceResponse { epoch: at.epoch, index: at.index }))
            }
            other => Err(to_status(err!(Internal, "unexpected reply to a fence: {other:?}"))),
        }
    }

    async fn follow(
        &self,
        req: Request<pb::FollowRequest>,
    ) -> Result<Response<pb::FollowResponse>, Status> {
        let r = req.into_inner();
        let peer = PeerRegion { name: r.peer_region, endpoints: r.peer_endpoints };
        self.shared
            .write(Op::SetUpstream { epoch: r.epoch, index: r.index, peer: Some(peer) }, None)
            .await
            .status()?;
        Ok(Response::new(pb::FollowResponse {}))
    }

    async fn reprotect(
        &self,
        req: Request<pb::ReprotectRequest>,
    ) -> Result<Response<pb::ReprotectResponse>, Status> {
        let who = audit::principal(&req);
        if let Some(mut leader) = self.geo.leader_client().await.status()? {
            return leader.reprotect(req.into_inner()).await;
        }
        let result = self.reprotect_here().await;
        audit::record(&self.shared, who, "Reprotect", String::new(), &result).await;
        result
    }

    async fn divergent(
        &self,
        _req: Request<pb::DivergentRequest>,
    ) -> Result<Response<pb::DivergentResponse>, Status> {
        let writes = self.geo.store.divergent().status()?;
        // A batch of writes is listed as its writes, each with the batch's index.
        let write_json = writes
            .into_iter()
            .flat_map(|(index, cmd)| match cmd.op {
                Op::Batch(cmds) => cmds.into_iter().map(|c| (index, c)).collect(),
                _ => vec![(index, cmd)],
            })
            .map(|(index, cmd)| {
                serde_json::json!({
                    "index": index,
                    "epoch": cmd.epoch,
                    "time": cmd.time.to_adt_string(),
                    "op": cmd.op.name(),
                    "command": serde_json::to_value(&cmd.op).unwrap_or_default(),
                    "clientId": cmd.request.as_ref().map(|r| r.client.clone()),
                    "requestId": cmd.request.as_ref().map(|r| r.seq),
                })
                .to_string()
            })
            .collect();
        Ok(Response::new(pb::DivergentResponse { write_json }))
    }
}
