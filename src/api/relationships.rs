//! The `RelationshipService`.

use super::service::{Shared, page_size, precondition, required, token, unexpected};
use super::status::{IntoStatus, to_status};
use super::twins::etag_in;
use crate::err;
use crate::pb;
use crate::pb::relationship_service_server::RelationshipService;
use crate::storage::{Op, Reply};
use tonic::{Request, Response, Status};

/// The relationship service over the node's shared state.
pub struct RelationshipApi(pub Shared);

/// The relationship a write stored: (its document, its ETag).
fn written_relationship(reply: Reply) -> Result<(String, String), Status> {
    match reply {
        Reply::Relationship { json, etag } => Ok((json, etag)),
        other => Err(unexpected(other)),
    }
}

impl RelationshipApi {
    fn twin_must_exist(&self, id: &str) -> Result<(), Status> {
        if !self.0.store.twin_exists(id).status()? {
            return Err(to_status(err!(
                DigitalTwinNotFound,
                "there is no digital twin with id '{id}'"
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl RelationshipService for RelationshipApi {
    async fn put_relationship(
        &self,
        req: Request<pb::PutRelationshipRequest>,
    ) -> Result<Response<pb::PutRelationshipResponse>, Status> {
        let r = req.into_inner();
        let source = required("the source twin id", &r.source_id)?.to_string();
        let id = required("the relationship id", &r.relationship_id)?.to_string();
        let op = Op::PutRelationship {
            source,
            id,
            json: r.relationship_json,
            pre: precondition(r.options.as_ref()),
        };
        let (index, reply) = self.0.write(op, r.options.as_ref()).await.status()?;
        let (relationship_json, etag) = written_relationship(reply)?;
        Ok(Response::new(pb::PutRelationshipResponse { relationship_json, etag, index }))
    }

    async fn get_relationship(
        &self,
        req: Request<pb::GetRelationshipRequest>,
    ) -> Result<Response<pb::GetRelationshipResponse>, Status> {
        let r = req.into_inner();
        let source = required("the source twin id", &r.source_id)?;
        let id = required("the relationship id", &r.relationship_id)?;
        let (read, doc) = self
            .0
            .read(r.options.as_ref(), || {
                let Some(doc) = self.0.store.relationship(source, id).status()? else {
                    self.twin_must_exist(source)?;
                    return Err(to_status(err!(
                        RelationshipNotFound,
                        "twin '{source}' has no relationship with id '{id}'"
                    )));
                };
                Ok(doc)
            })
            .await?;
        let etag = etag_in(&doc);
        Ok(Response::new(pb::GetRelationshipResponse {
            relationship_json: doc,
            etag,
            read: Some(read),
        }))
    }

    async fn patch_relationship(
        &self,
        req: Request<pb::PatchRelationshipRequest>,
    ) -> Result<Response<pb::PatchRelationshipResponse>, Status> {
        let r = req.into_inner();
        let source = required("the source twin id", &r.source_id)?.to_string();
        let id = required("the relationship id", &r.relationship_id)?.to_string();
        let op = Op::PatchRelationship {
            source,
            id,
            patch: r.patch_json,
            pre: precondition(r.options.as_ref()),
        };
        let (index, reply) = self.0.write(op, r.options.as_ref()).await.status()?;
        let (relationship_json, etag) = written_relationship(reply)?;
        Ok(Response::new(pb::PatchRelationshipResponse { relationship_json, etag, index }))
    }

    async fn delete_relationship(
        &self,
        req: Request<pb::DeleteRelationshipRequest>,
    ) -> Result<Response<pb::DeleteRelationshipResponse>, Status> {
        let r = req.into_inner();
        let source = required("the source twin id", &r.source_id)?.to_string();
        let id = required("the relationship id", &r.relationship_id)?.to_string();
        let op = Op::DeleteRelationship { source, id, pre: precondition(r.options.as_ref()) };
        let (index, _) = self.0.write(op, r.options.as_ref()).await.status()?;
        Ok(Response::new(pb::DeleteRelationshipResponse { index }))
    }

    async fn list_relationships(
        &self,
        req: Request<pb::ListRelationshipsRequest>,
    ) -> Result<Response<pb::ListRelationshipsResponse>, Status> {
        let r = req.into_inner();
        let source = required("the source twin id", &r.source_id)?;
        let name = (!r.relationship_name.is_empty()).then_some(r.relationship_name.as_str());
        let (read, page) = self
            .0
            .read(r.options.as_ref(), || {
                self.twin_must_exist(source)?;
                let from = token(&r.continuation_token)?;
                self.0.store.relationships(source, name, from, page_size(r.page_size)).status()
            })
            .await?;
        Ok(Response::new(pb::ListRelationshipsResponse {
            relationship_json: page.items,
            continuation_token: page.next.unwrap_or_default(),
            read: Some(read),
        }))
    }

    async fn list_incoming_relationships(
        &self,
        req: Request<pb::ListIncomingRelationshipsRequest>,
    ) -> Result<Response<pb::ListIncomingRelationshipsResponse>, Status> {
        let r = req.into_inner();
        let target = required("the twin id", &r.target_id)?;
        let (read, page) = self
            .0
            .read(r.options.as_ref(), || {
                self.twin_must_exist(target)?;
                let from = token(&r.continuation_token)?;
                self.0.store.incoming(target, from, page_size(r.page_size)).status()
            })
            .await?;
        Ok(Response::new(pb::ListIncomingRelationshipsResponse {
            incoming_json: page.items,
            continuation_token: page.next.unwrap_or_default(),
            read: Some(read),
        }))
    }
}
