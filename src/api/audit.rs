//! The audit trail, API side: recording an administrative operation, and `AuditService`.
//!
//! The handlers of failover, reprotect and membership changes call [`record`] once they have run
//! the operation *on the node that ran it* (a follower that passes a request on to its leader does
//! not record; the leader does), with the [`Principal`] the auth layer left in the request's
//! extensions (none on a node without auth: recorded as `anonymous`). The entry goes through the
//! region's raft log as an `Op::Audit` (see `storage::audit`: who and what are in the op, when is
//! the command's time).
//!
//! The record is written after the operation, with its outcome, so a failed operation is on the
//! trail too. Calls the auth layer refused never reach a handler, so they are not recorded (a
//! refused call changes nothing). If recording fails or takes over [`RECORD_WAIT`] (the region
//! lost its leader just then), the operation's own answer stands and the failure is logged: the
//! operation has already happened and must not be reported as failed.

use super::service::Shared;
use super::status::to_status;
use crate::pb;
use crate::pb::audit_service_server::AuditService;
use crate::security::{Principal, Via};
use crate::storage::Op;
use crate::storage::audit::AuditEntry;
use tonic::{Request, Response, Status};

/// The principal of a request, as the auth layer left it.
pub fn principal<T>(req: &Request<T>) -> Option<Principal> {
    req.extensions().get::<Principal>().cloned()
}

/// Records an administrative operation this node ran: `method` with `detail`, by `who`, ending
/// with `outcome`.
pub async fn record<T>(
    shared: &Shared,
    who: Option<Principal>,
    method: &str,
    detail: String,
    outcome: &Result<T, Status>,
) {
    let (subject, role, via) = match who {
        Some(p) => {
            let via = match p.via {
                Via::Token => "token".to_string(),
                Via::ClientCertificate => "certificate".to_string(),
                Via::Node { region, id } => format!("node {region}/{id}"),
            };
            (p.subject, p.role.to_string(), via)
        }
        None => ("anonymous".to_string(), String::new(), "none".to_string()),
    };
    let outcome = match outcome {
        Ok(_) => "OK".to_string(),
        Err(s) => s.message().to_string(),
    };
    let entry = AuditEntry {
        subject,
        role,
        via,
        method: method.to_string(),
        detail,
        outcome,
        node_id: shared.node.id(),
        region: shared.region().to_string(),
    };
    let write = shared.write(Op::Audit { entry: entry.clone() }, None);
    match tokio::time::timeout(RECORD_WAIT, write).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(?entry, "the audit trail could not record an operation: {e}"),
        Err(_) => tracing::error!(?entry, "the audit trail took over {RECORD_WAIT:?} to record"),
    }
}

/// How long recording may hold up the operation's answer: a region without a leader (the very
/// moment an operation may have failed for) must not keep the caller waiting for the record.
const RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The audit service over the node's shared state.
pub struct AuditApi(pub Shared);

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit_entries(
        &self,
        req: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let limit = req.into_inner().limit as usize;
        let (_, records) = self
            .0
            .read(None, || self.0.store.audit_entries(limit).map_err(|e| to_status(e.into())))
            .await?;
        let entries = records
            .into_iter()
            .map(|r| pb::AuditEntry {
                time_ns: r.time.0,
                subject: r.entry.subject,
                role: r.entry.role,
                via: r.entry.via,
                method: r.entry.method,
                detail: r.entry.detail,
                outcome: r.entry.outcome,
                node_id: r.entry.node_id,
                region: r.entry.region,
                index: r.index,
            })
            .collect();
        Ok(Response::new(pb::ListAuditEntriesResponse {
            entries,
            region: self.0.region().to_string(),
        }))
    }
}
