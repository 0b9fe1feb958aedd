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

use super::audit::AuditEntry;
use super::dr::{PeerRegion, Position, Role, ShipBatch};
use super::incidents::{Incident, IncidentUpdate};
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
    /// Does nothing; used to commit a position and in tests.
    Noop,
    /// Several client writes in one log entry, applied in order, each with its own outcome,
    /// dedupe record and origin slot (its place here): one entry — one disk sync on each node,
    /// one apply batch — carries many writes. Only [`Op::batchable`] ops go in a batch.
    Batch(Vec<Command>),
    /// DR: the region's initial role, applied only if it has none yet.
    DrInit { role: Role, epoch: u64, peer: Option<PeerRegion> },
    /// DR: a batch of the primary's log (standby only).
    Replicate(ShipBatch),
    /// DR: a higher epoch exists; stop taking writes and become a standby.
    Fence { epoch: u64, peer: Option<PeerRegion> },
    /// DR: become the primary under `epoch`.
    Promote { epoch: u64, peer: Option<PeerRegion> },
    /// DR: follow the primary's log after position (`epoch`, `index`).
    SetUpstream { epoch: u64, index: u64, peer: Option<PeerRegion> },
    /// DR: part `part` (from 0) of `parts` of the primary's snapshot at `position`, whose time was
    /// `time`: part 0 clears the graph, the last one makes the region follow from `position`. A
    /// snapshot goes in parts so that no raft entry is larger than a part (see `storage::dr`).
    Reseed { position: Position, time: Timestamp, part: u32, parts: u32, data: Vec<u8> },
    /// DR: the standby confirmed the primary's log up to `index` (for log retention).
    StandbyConfirmed { index: u64 },
    /// DR: keep aside writes the new primary never received.
    KeepDivergent { entries: Vec<(u64, Command)> },
    /// Health: record a new incident (region-local; see `storage::incidents`).
    RecordIncident { incident: Incident },
    /// Health: append an update to an incident, if `version` is its next version.
    UpdateIncident { id: String, version: u64, update: IncidentUpdate, summary: Option<String> },
    /// Health: incidents fetched from the peer region, each kept if new or newer.
    MergeIncidents { incidents: Vec<Incident> },
    /// Audit: an administrative operation this region ran (region-local; see `storage::audit`).
    Audit { entry: AuditEntry },
}

impl Op {
    /// Whether the op may share a log entry with others ([`Op::Batch`]): the twin and
    /// relationship writes. Model changes go alone (they invalidate the model cache), and so do
    /// control ops.
    pub fn batchable(&self) -> bool {
        matches!(
            self,
            Op::PutTwin { .. }
                | Op::PatchTwin { .. }
                | Op::DeleteTwin { .. }
                | Op::PutRelationship { .. }
                | Op::PatchRelationship { .. }
                | Op::DeleteRelationship { .. }
        )
    }

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
            Op::Batch(_) => "batch",
            Op::DrInit { .. } => "dr_init",
            Op::Replicate(_) => "replicate",
            Op::Fence { .. } => "fence",
            Op::Promote { .. } => "promote",
            Op::SetUpstream { .. } => "set_upstream",
            Op::Reseed { .. } => "reseed",
            Op::StandbyConfirmed { .. } => "standby_confirmed",
            Op::KeepDivergent { .. } => "keep_divergent",
            Op::RecordIncident { .. } => "record_incident",
            Op::UpdateIncident { .. } => "update_incident",
            Op::MergeIncidents { .. } => "merge_incidents",
            Op::Audit { .. } => "audit",
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
    /// A standby applied the primary's log up to `upstream`.
    Replicated { upstream: u64 },
    /// The region was fenced; `at` is where its own history as primary ended.
    Fenced { at: Position },
    /// The region was promoted: it had replicated up to `at` (as of `replicated_time`), and its
    /// own history as primary starts after log index `index`.
    Promoted { at: Position, replicated_time: Timestamp, index: u64 },
    /// The outcomes of an [`Op::Batch`]'s writes, in order.
    Batch(Vec<Outcome>),
}

/// What a write did: a reply or a (deterministic) error.
pub type Outcome = Result<Reply, Error>;
