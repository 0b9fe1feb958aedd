//! What every service shares: the store, the write path, and the conversions between requests
//! and commands.

use super::status::IntoStatus;
use super::writer::Writer;
use crate::err;
use crate::error::{Error, Result};
use crate::model::time::Timestamp;
use crate::pb;
use crate::storage::{Command, Op, Outcome, Precondition, Reply, RequestId, Store};
use std::sync::Arc;
use tonic::Status;

/// The default and largest page size for listings.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The node's state, shared by every service.
#[derive(Clone)]
pub struct Shared {
    /// The state machine.
    pub store: Arc<Store>,
    /// The write path.
    pub writer: Writer,
    /// The DR epoch writes are accepted under.
    pub epoch: u64,
}

impl Shared {
    /// Turns an operation into a command (time decided here, before apply) and applies it.
    pub async fn write(&self, op: Op, options: Option<&pb::WriteOptions>) -> Result<(u64, Reply)> {
        let request = options
            .filter(|o| !o.client_id.is_empty())
            .map(|o| RequestId { client: o.client_id.clone(), seq: o.request_id });
        let cmd = Command { request, time: Timestamp::now(), epoch: self.epoch, origin: None, op };
        let (index, outcome): (u64, Outcome) = self.writer.write(cmd).await?;
        Ok((index, outcome?))
    }

    /// Where a read is served (a single node: its applied index; every acknowledged write has
    /// been applied before it was acknowledged, so local state is linearizable here).
    pub fn read_info(&self, options: Option<&pb::ReadOptions>) -> pb::ReadInfo {
        let consistency = match options.map(|o| o.consistency()) {
            Some(pb::Consistency::Local) => pb::Consistency::Local,
            _ => pb::Consistency::Linearizable,
        };
        pb::ReadInfo { applied_index: self.store.applied_index(), consistency: consistency as i32 }
    }
}

/// The precondition of a request's write options.
pub fn precondition(options: Option<&pb::WriteOptions>) -> Precondition {
    match options {
        Some(o) => Precondition {
            if_match: (!o.if_match.is_empty()).then(|| o.if_match.clone()),
            if_none_match: o.if_none_match,
        },
        None => Precondition::default(),
    }
}

/// Checks a required string argument.
pub fn required<'a>(what: &str, value: &'a str) -> std::result::Result<&'a str, Status> {
    if value.is_empty() {
        return Err(err!(InvalidArgument, "{what} is required")).status();
    }
    Ok(value)
}

/// A page size from a request (0: the default).
pub fn page_size(n: u32) -> usize {
    match n as usize {
        0 => MAX_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// A continuation token from a request (empty: the first page).
pub fn token(t: &str) -> std::result::Result<Option<&str>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    if !crate::storage::valid_token(t) {
        return Err(err!(BadRequest, "the continuation token is not one this service issued"))
            .status();
    }
    Ok(Some(t))
}

/// An unexpected reply kind: a bug.
pub fn unexpected(reply: Reply) -> Status {
    super::status::to_status(Error::new(
        crate::error::ErrorCode::Internal,
        format!("unexpected reply {reply:?}"),
    ))
}
