//! The write commands of the state machine and their answers.
//!
//! Every write a user makes becomes one [`Command`]. A command carries everything apply needs that
//! is not already in the state: the leader-assigned time, the DR epoch it was accepted under, and
//! (for a write shipped from another region) its origin position. Documents travel as JSON text,
//! because the command is bincode-encoded and bincode cannot carry `serde_json::Value`.
//!
//! The answer is an [`Outcome`]: either a [`Reply`] or a user-facing [`Error`] (a failed
//! precondition, a validation error...). Both are deterministic results of the command and the
//! state, and both are remembered in the dedupe table, so a retry gets the very same answer.

use crate::error::Error;
use crate::model::etag::Origin;
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A write to the state machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Who sent it, for exactly-once retries. `None`: not deduplicated.
    pub request: Option<RequestId>,
    /// The write's time, decided by the node that accepted it.
    pub time: Timestamp,
    /// The DR epoch the write was accepted under.
    pub epoch: u64,
    /// For a write shipped from another region: where it was first accepted. `None` for a write
    /// accepted here; its origin is then `(epoch, the index it is applied at)`.
    pub origin: Option<Origin>,
    /// What to do.
    pub op: Op,
}

/// A client's identity for one request: retries of the request reuse it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The client's id (random per client process).
    pub client: String,
    /// The request's number, unique per client.
    pub seq: u64,
}

/// If-Match / If-None-Match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precondition {
    /// The ETag the entity must have, or `*` (it must exist).
    pub if_match: Option<String>,
    /// The entity must not exist.
    pub if_none_match: bool,
}

/// The operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Create or replace a twin.
    PutTwin { id: String, json: String, pre: Precondition },
    /// JSON-Patch a twin, or (with `component`) one of its components.
    PatchTwin { id: String, component: Option<String>, patch: String, pre: Precondition },
    /// Delete a twin without relationships.
    DeleteTwin { id: String, pre: Precondition },
    /// Create or replace a relationship.
    PutRelationship { source: String, id: String, json: String, pre: Precondition },
    /// JSON-Patch a relationship's properties.
    PatchRelationship { source: String, id: String, patch: String, pre: Precondition },
    /// Delete a relationship.
    DeleteRelationship { source: String, id: String, pre: Precondition },
    /// Add a batch of DTDL Interfaces (a JSON array), all or nothing.
    AddModels { json: String },
    /// Decommission a model.
    DecommissionModel { id: String },
    /// Delete a model nothing references.
    DeleteModel { id: String },
    /// Does nothing; used to commit a position (e.g. a leader's first entry) and in tests.
    Noop,
}

impl Op {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Op::PutTwin { .. } => "put_twin",
            Op::PatchTwin { .. } => "patch_twin",
            Op::DeleteTwin { .. } => "delete_twin",
            Op::PutRelationship { .. } => "put_relationship",
            Op::PatchRelationship { .. } => "patch_relationship",
            Op::DeleteRelationship { .. } => "delete_relationship",
            Op::AddModels { .. } => "add_models",
            Op::DecommissionModel { .. } => "decommission_model",
            Op::DeleteModel { .. } => "delete_model",
            Op::Noop => "noop",
        }
    }
}

/// A successful write's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The twin as stored.
    Twin { json: String, etag: String },
    /// The relationship as stored.
    Relationship { json: String, etag: String },
    /// The entity was deleted.
    Deleted,
    /// The models added (ADT model data JSON, without definitions).
    Models { json: Vec<String> },
    /// One model's data.
    Model { json: String },
    /// Nothing to say.
    Done,
}

/// What a write did: a reply or a (deterministic) error.
pub type Outcome = Result<Reply, Error>;
