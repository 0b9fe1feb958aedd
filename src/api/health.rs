//! The `HealthService` (resource health, incidents) and `grpc.health.v1` kept true to life.
//!
//! The service is a thin mapping onto [`crate::health::Health`]. `grpc.health.v1` answers per
//! service: the data services (twins, relationships, models, queries) and the overall status `""`
//! say NOT_SERVING while the node is Unavailable (no leader, quorum lost, raft stopped) or its
//! region is fenced, so load balancers and probes move away; the admin services (cluster, health)
//! stay SERVING, because that is when operators need them.

use super::status::{IntoStatus, to_status};
use crate::err;
use crate::health::{Health, convert};
use crate::model::time::Timestamp;
use crate::pb;
use crate::pb::health_service_server::HealthService;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The HealthService over the node's health machinery.
pub struct HealthApi(pub Health);

#[tonic::async_trait]
impl HealthService for HealthApi {
    async fn node_health(
        &self,
        _req: Request<pb::NodeHealthRequest>,
    ) -> Result<Response<pb::NodeHealthResponse>, Status> {
        Ok(Response::new(pb::NodeHealthResponse { node: Some(self.0.node_report()) }))
    }

    async fn region_health(
        &self,
        _req: Request<pb::RegionHealthRequest>,
    ) -> Result<Response<pb::RegionHealthResponse>, Status> {
        Ok(Response::new(pb::RegionHealthResponse { region: Some(self.0.region_report()) }))
    }

    async fn overview(
        &self,
        _req: Request<pb::OverviewRequest>,
    ) -> Result<Response<pb::OverviewResponse>, Status> {
        Ok(Response::new(pb::OverviewResponse { regions: self.0.overview().await }))
    }

    async fn list_incidents(
        &self,
        req: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        let r = req.into_inner();
        let mut incidents = self.0.incidents(Timestamp(r.since_ns)).status()?;
        if r.limit > 0 {
            incidents.truncate(r.limit as usize);
        }
        Ok(Response::new(pb::ListIncidentsResponse {
            incidents,
            region: self.0.dr().region.clone(),
        }))
    }

    async fn get_incident(
        &self,
        req: Request<pb::GetIncidentRequest>,
    ) -> Result<Response<pb::GetIncidentResponse>, Status> {
        let id = req.into_inner().id;
        match self.0.incident(&id).status()? {
            Some(i) => Ok(Response::new(pb::GetIncidentResponse { incident: Some(i) })),
            None => Err(Status::not_found(format!(
                "there is no incident '{id}' in region '{}'",
                self.0.dr().region
            ))),
        }
    }

    async fn export_incidents(
        &self,
        req: Request<pb::ExportIncidentsRequest>,
    ) -> Result<Response<pb::ExportIncidentsResponse>, Status> {
        let since = Timestamp(req.into_inner().updated_since_ns);
        Ok(Response::new(pb::ExportIncidentsResponse {
            incidents: self.0.export(since).status()?,
            region: self.0.dr().region.clone(),
        }))
    }

    async fn submit_incident(
        &self,
        req: Request<pb::SubmitIncidentRequest>,
    ) -> Result<Response<pb::SubmitIncidentResponse>, Status> {
        let incident = req
            .into_inner()
            .incident
            .ok_or_else(|| to_status(err!(InvalidArgument, "an incident is required")))?;
        let incident = convert::from_pb(&incident).status()?;
        if incident.owner != self.0.dr().region {
            return Err(to_status(err!(
                InvalidArgument,
                "region '{}' records only its own incidents, not region '{}'s",
                self.0.dr().region,
                incident.owner
            )));
        }
        if !self.0.dr().is_leader() {
            return Err(to_status(err!(NotLeader, "this node does not lead its region")));
        }
        self.0.propose(crate::storage::Op::RecordIncident { incident }).await.status()?;
        Ok(Response::new(pb::SubmitIncidentResponse {}))
    }
}

/// The `grpc.health.v1` names of the services that stop serving when the node cannot.
pub const DATA_SERVICES: [&str; 5] = [
    "",
    pb::twin_service_server::SERVICE_NAME,
    pb::relationship_service_server::SERVICE_NAME,
    pb::model_service_server::SERVICE_NAME,
    pb::query_service_server::SERVICE_NAME,
];

/// Keeps `grpc.health.v1` in line with the node's health until the node stops.
pub async fn follow_serving(
    reporter: HealthReporter,
    mut serving: watch::Receiver<crate::health::Serving>,
) {
    loop {
        let status = if serving.borrow_and_update().serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in DATA_SERVICES {
            reporter.set_service_status(name, status).await;
        }
        if serving.changed().await.is_err() {
            return;
        }
    }
}
