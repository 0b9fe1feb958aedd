//! The audit trail from the client's side (`twinstore.v1.AuditService`): who ran which
//! administrative operation, when, and how it ended. Needs the `Admin` role on a node with
//! authentication.
//!
//! Each region keeps its own trail (what was done to it), so the answer is that of the region of
//! the node that answers: the client asks the leader it knows (the primary's), like a write.

use super::pool::Route;
use super::{Client, ClientError, retry};
use crate::pb;
use crate::pb::audit_service_client::AuditServiceClient;

impl Client {
    /// The audit trail of the primary region, newest first, at most `limit` entries (0: all).
    pub async fn audit_entries(
        &self,
        limit: u32,
    ) -> Result<pb::ListAuditEntriesResponse, ClientError> {
        let req = pb::ListAuditEntriesRequest { limit };
        retry::run(&self.inner.policy, &self.inner.pool, Route::Leader, |ch| async move {
            AuditServiceClient::new(ch).list_audit_entries(req).await
        })
        .await
    }
}
