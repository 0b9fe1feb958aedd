//! The `ModelService`.

use super::service::{Shared, page_size, required, token, unexpected};
use super::status::IntoStatus;
use crate::pb;
use crate::pb::model_service_server::ModelService;
use crate::storage::{Op, Reply};
use tonic::{Request, Response, Status};

/// The model service over the node's shared state.
pub struct ModelApi(pub Shared);

#[tonic::async_trait]
impl ModelService for ModelApi {
    async fn add_models(
        &self,
        req: Request<pb::AddModelsRequest>,
    ) -> Result<Response<pb::AddModelsResponse>, Status> {
        let r = req.into_inner();
        required("the models JSON", &r.models_json)?;
        let (index, reply) = self
            .0
            .write(Op::AddModels { json: r.models_json }, r.options.as_ref())
            .await
            .status()?;
        match reply {
            Reply::Models { json } => {
                Ok(Response::new(pb::AddModelsResponse { model_json: json, index }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn get_model(
        &self,
        req: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let r = req.into_inner();
        let id = required("the model id", &r.id)?;
        let (read, json) = self
            .0
            .read(r.options.as_ref(), || self.0.store.get_model(id, r.include_definition).status())
            .await?;
        Ok(Response::new(pb::GetModelResponse { model_json: json, read: Some(read) }))
    }

    async fn list_models(
        &self,
        req: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let r = req.into_inner();
        let (read, page) = self
            .0
            .read(r.options.as_ref(), || {
                let from = token(&r.continuation_token)?;
                let size = page_size(r.page_size);
                self.0
                    .store
                    .list_models(&r.dependencies_for, r.include_definition, from, size)
                    .status()
            })
            .await?;
        Ok(Response::new(pb::ListModelsResponse {
            model_json: page.items,
            continuation_token: page.next.unwrap_or_default(),
            read: Some(read),
        }))
    }

    async fn decommission_model(
        &self,
        req: Request<pb::DecommissionModelRequest>,
    ) -> Result<Response<pb::DecommissionModelResponse>, Status> {
        let r = req.into_inner();
        let id = required("the model id", &r.id)?.to_string();
        let (index, reply) =
            self.0.write(Op::DecommissionModel { id }, r.options.as_ref()).await.status()?;
        match reply {
            Reply::Model { json } => {
                Ok(Response::new(pb::DecommissionModelResponse { model_json: json, index }))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn delete_model(
        &self,
        req: Request<pb::DeleteModelRequest>,
    ) -> Result<Response<pb::DeleteModelResponse>, Status> {
        let r = req.into_inner();
        let id = required("the model id", &r.id)?.to_string();
        let (index, _) = self.0.write(Op::DeleteModel { id }, r.options.as_ref()).await.status()?;
        Ok(Response::new(pb::DeleteModelResponse { index }))
    }
}
