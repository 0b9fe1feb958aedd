//! Service health from the client's side (`twinstore.v1.HealthService`): both regions' resource
//! health, the incident history, one incident.
//!
//! These are reads any node answers, so they go to whichever endpoint answers (the client's
//! retry policy moves on past a dead node) — which matters, because health is what people look at
//! while part of a deployment is down. Give the client endpoints of both regions and it still
//! answers when one region is gone.

use super::pool::Route;
use super::{Client, ClientError, retry};
use crate::pb;
use crate::pb::health_service_client::HealthServiceClient;

impl Client {
    /// Both regions' health: the answering node's region first, then its peer.
    pub async fn health_overview(&self) -> Result<pb::OverviewResponse, ClientError> {
        retry::run(&self.inner.policy, &self.inner.pool, Route::Any, |ch| async move {
            HealthServiceClient::new(ch).overview(pb::OverviewRequest {}).await
        })
        .await
    }

    /// The incident history, newest first: those active at some time since `since_ns` (0: all),
    /// at most `limit` (0: all).
    pub async fn incidents(
        &self,
        since_ns: u64,
        limit: u32,
    ) -> Result<pb::ListIncidentsResponse, ClientError> {
        let req = pb::ListIncidentsRequest { since_ns, limit };
        retry::run(&self.inner.policy, &self.inner.pool, Route::Any, |ch| async move {
            HealthServiceClient::new(ch).list_incidents(req).await
        })
        .await
    }

    /// One incident with its timeline.
    pub async fn incident(&self, id: &str) -> Result<pb::Incident, ClientError> {
        let req = pb::GetIncidentRequest { id: id.to_string() };
        retry::run(&self.inner.policy, &self.inner.pool, Route::Any, |ch| {
            let req = req.clone();
            async move { HealthServiceClient::new(ch).get_incident(req).await }
        })
        .await?
        .incident
        .ok_or_else(|| ClientError::missing("incident"))
    }
}
