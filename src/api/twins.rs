//! The `TwinService`: twins, components and telemetry.

use super::service::{Shared, precondition, required, unexpected};
use super::status::{IntoStatus, to_status};
use crate::err;
use crate::model::{limits, twin};
use crate::pb;
use crate::pb::twin_service_server::TwinService;
use crate::storage::{Op, Reply};
use tonic::{Request, Response, Status};

/// The twin service over the node's shared state.
pub struct TwinApi(pub Shared);

/// The twin a write stored: (its document, its ETag).
fn written_twin(reply: Reply) -> Result<(String, String), Status> {
    match reply {
        Reply::Twin { json, etag } => Ok((json, etag)),
        other => Err(unexpected(other)),
    }
}

impl TwinApi {
    fn load(&self, id: &str) -> Result<String, Status> {
        match self.0.store.twin(id).status()? {
            Some(doc) => Ok(doc),
            None => {
                Err(to_status(err!(DigitalTwinNotFound, "there is no digital twin with id '{id}'")))
            }
        }
    }
}

#[tonic::async_trait]
impl TwinService for TwinApi {
    async fn put_twin(
        &self,
        req: Request<pb::PutTwinRequest>,
    ) -> Result<Response<pb::PutTwinResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?.to_string();
        let op = Op::PutTwin { id, json: r.twin_json, pre: precondition(r.options.as_ref()) };
        let (index, reply) = self.0.write(op, r.options.as_ref()).await.status()?;
        let (twin_json, etag) = written_twin(reply)?;
        Ok(Response::new(pb::PutTwinResponse { twin_json, etag, index }))
    }

    async fn get_twin(
        &self,
        req: Request<pb::GetTwinRequest>,
    ) -> Result<Response<pb::GetTwinResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?;
        let (read, doc) = self.0.read(r.options.as_ref(), || self.load(id)).await?;
        let etag = etag_in(&doc);
        Ok(Response::new(pb::GetTwinResponse { twin_json: doc, etag, read: Some(read) }))
    }

    async fn patch_twin(
        &self,
        req: Request<pb::PatchTwinRequest>,
    ) -> Result<Response<pb::PatchTwinResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?.to_string();
        let op = Op::PatchTwin {
            id,
            component: None,
            patch: r.patch_json,
            pre: precondition(r.options.as_ref()),
        };
        let (index, reply) = self.0.write(op, r.options.as_ref()).await.status()?;
        let (twin_json, etag) = written_twin(reply)?;
        Ok(Response::new(pb::PatchTwinResponse { twin_json, etag, index }))
    }

    async fn delete_twin(
        &self,
        req: Request<pb::DeleteTwinRequest>,
    ) -> Result<Response<pb::DeleteTwinResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?.to_string();
        let op = Op::DeleteTwin { id, pre: precondition(r.options.as_ref()) };
        let (index, _) = self.0.write(op, r.options.as_ref()).await.status()?;
        Ok(Response::new(pb::DeleteTwinResponse { index }))
    }

    async fn get_component(
        &self,
        req: Request<pb::GetComponentRequest>,
    ) -> Result<Response<pb::GetComponentResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?;
        let name = required("the component name", &r.component)?;
        let (read, (component_json, etag)) = self
            .0
            .read(r.options.as_ref(), || {
                let doc: serde_json::Value =
                    serde_json::from_str(&self.load(id)?).map_err(|e| {
                        to_status(err!(Internal, "stored twin '{id}' is not JSON: {e}"))
                    })?;
                let model = twin::model_of(&doc).and_then(|m| self.0.store.resolved(m).ok());
                let component = twin::component(&doc, model.as_deref(), name).status()?;
                Ok((component.to_string(), twin::etag_of(&doc).unwrap_or_default().to_string()))
            })
            .await?;
        Ok(Response::new(pb::GetComponentResponse { component_json, etag, read: Some(read) }))
    }

    async fn patch_component(
        &self,
        req: Request<pb::PatchComponentRequest>,
    ) -> Result<Response<pb::PatchComponentResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?.to_string();
        let component = required("the component name", &r.component)?.to_string();
        let op = Op::PatchTwin {
            id,
            component: Some(component),
            patch: r.patch_json,
            pre: precondition(r.options.as_ref()),
        };
        let (index, reply) = self.0.write(op, r.options.as_ref()).await.status()?;
        let (twin_json, etag) = written_twin(reply)?;
        Ok(Response::new(pb::PatchComponentResponse { twin_json, etag, index }))
    }

    async fn publish_telemetry(
        &self,
        req: Request<pb::PublishTelemetryRequest>,
    ) -> Result<Response<pb::PublishTelemetryResponse>, Status> {
        let r = req.into_inner();
        let id = required("the twin id", &r.id)?;
        required("the message id (Message-Id)", &r.message_id)?;
        limits::check_size("telemetry payload", r.telemetry_json.len(), limits::MAX_PAYLOAD_BYTES)
            .status()?;
        twin::parse_object("telemetry payload", &r.telemetry_json).status()?;
        if !r.source_time.is_empty() && !crate::model::time::is_rfc3339(&r.source_time) {
            return Err(to_status(err!(
                InvalidArgument,
                "the telemetry source time '{}' is not an RFC 3339 date-time",
                r.source_time
            )));
        }
        let doc: serde_json::Value = serde_json::from_str(&self.load(id)?)
            .map_err(|e| to_status(err!(Internal, "stored twin '{id}' is not JSON: {e}")))?;
        if !r.component.is_empty() {
            let model = twin::model_of(&doc).and_then(|m| self.0.store.resolved(m).ok());
            twin::component(&doc, model.as_deref(), &r.component).status()?;
        }
        // Telemetry is not stored: ADT emits it as an event. Event routes are not built yet, so it
        // is validated and acknowledged.
        Ok(Response::new(pb::PublishTelemetryResponse {}))
    }
}

/// The `$etag` of a stored document's text.
pub fn etag_in(doc: &str) -> String {
    serde_json::from_str::<serde_json::Value>(doc)
        .ok()
        .and_then(|v| twin::etag_of(&v).map(str::to_string))
        .unwrap_or_default()
}
