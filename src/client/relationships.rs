//! Relationships (`twinstore.v1.RelationshipService`): a twin's outgoing edges, put, read, patched
//! and deleted one at a time, and listed (one page, or every page) in either direction.

use super::pool::Route;
use super::{
    Client, ClientError, Conditions, Consistency, Page, PageRequest, collect_pages, make_page,
    read_options, route_for,
};
use crate::pb;

impl Client {
    /// Creates or replaces a relationship: `{"$targetId", "$relationshipName", <properties>}`.
    pub async fn put_relationship(
        &self,
        source_id: &str,
        relationship_id: &str,
        relationship_json: &str,
        conditions: Conditions,
    ) -> Result<pb::PutRelationshipResponse, ClientError> {
        let req = pb::PutRelationshipRequest {
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            relationship_json: relationship_json.into(),
            options: self.write_options(&conditions),
        };
        self.rels(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.put_relationship(r).await }
        })
        .await
    }

    /// Reads a relationship.
    pub async fn get_relationship(
        &self,
        source_id: &str,
        relationship_id: &str,
        consistency: Consistency,
    ) -> Result<pb::GetRelationshipResponse, ClientError> {
        let req = pb::GetRelationshipRequest {
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            options: read_options(consistency),
        };
        self.rels(route_for(consistency), move |mut c| {
            let r = req.clone();
            async move { c.get_relationship(r).await }
        })
        .await
    }

    /// Applies a JSON Patch to a relationship's properties.
    pub async fn patch_relationship(
        &self,
        source_id: &str,
        relationship_id: &str,
        patch_json: &str,
        conditions: Conditions,
    ) -> Result<pb::PatchRelationshipResponse, ClientError> {
        let req = pb::PatchRelationshipRequest {
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            patch_json: patch_json.into(),
            options: self.write_options(&conditions),
        };
        self.rels(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.patch_relationship(r).await }
        })
        .await
    }

    /// Deletes a relationship.
    pub async fn delete_relationship(
        &self,
        source_id: &str,
        relationship_id: &str,
        conditions: Conditions,
    ) -> Result<pb::DeleteRelationshipResponse, ClientError> {
        let req = pb::DeleteRelationshipRequest {
            source_id: source_id.into(),
            relationship_id: relationship_id.into(),
            options: self.write_options(&conditions),
        };
        self.rels(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.delete_relationship(r).await }
        })
        .await
    }

    /// One page of a twin's outgoing relationships, optionally only those named `name`.
    pub async fn list_relationships(
        &self,
        source_id: &str,
        name: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page, ClientError> {
        let req = pb::ListRelationshipsRequest {
            source_id: source_id.into(),
            relationship_name: name.unwrap_or_default().into(),
            page_size: page.page_size,
            continuation_token: page.continuation_token.clone().unwrap_or_default(),
            options: read_options(page.consistency),
        };
        let resp = self
            .rels(route_for(page.consistency), move |mut c| {
                let r = req.clone();
                async move { c.list_relationships(r).await }
            })
            .await?;
        Ok(make_page(resp.relationship_json, resp.continuation_token, resp.read))
    }

    /// All outgoing relationships of a twin, following every page.
    pub async fn list_relationships_all(
        &self,
        source_id: &str,
        name: Option<&str>,
        consistency: Consistency,
    ) -> Result<Vec<String>, ClientError> {
        collect_pages(
            consistency,
            |p| async move { self.list_relationships(source_id, name, &p).await },
        )
        .await
    }

    /// One page of a twin's incoming relationships.
    pub async fn list_incoming_relationships(
        &self,
        target_id: &str,
        page: &PageRequest,
    ) -> Result<Page, ClientError> {
        let req = pb::ListIncomingRelationshipsRequest {
            target_id: target_id.into(),
            page_size: page.page_size,
            continuation_token: page.continuation_token.clone().unwrap_or_default(),
            options: read_options(page.consistency),
        };
        let resp = self
            .rels(route_for(page.consistency), move |mut c| {
                let r = req.clone();
                async move { c.list_incoming_relationships(r).await }
            })
            .await?;
        Ok(make_page(resp.incoming_json, resp.continuation_token, resp.read))
    }

    /// All incoming relationships of a twin, following every page.
    pub async fn list_incoming_relationships_all(
        &self,
        target_id: &str,
        consistency: Consistency,
    ) -> Result<Vec<String>, ClientError> {
        collect_pages(consistency, |p| async move {
            self.list_incoming_relationships(target_id, &p).await
        })
        .await
    }
}
