//! twinstore: a self-hosted digital-twins graph store.
//!
//! The layers, lowest first (a layer uses only those above it in this list):
//!
//! - [`rng`]: the one small deterministic random number generator (splitmix64), for every layer.
//! - [`error`]: the user-facing error type with ADT's error codes.
//! - [`model`]: twins, relationships, DTDL models and their validation, JSON Patch, ETags, limits.
//!   Pure functions, no I/O.
//! - [`storage`]: the sled keyspace and the deterministic `apply` of a write command; the DR
//!   state's keys.
//! - [`query`]: ADT's query language: parser, planner and evaluator over the store's read view.
//! - [`pb`]: the generated gRPC code of the public API, and its enums' conversions.
//! - [`security`]: TLS and who may call what — the deployment's certificates and the identities
//!   they carry, TLS settings, the guard that keeps internal services for nodes, bearer tokens
//!   (Ed25519-signed JWTs), the roles and the table of which method needs which, and the layer
//!   that checks every call.
//! - [`raft`]: the region's openraft group — the write-ahead log, the state machine adapter, the
//!   network, and the raft handle (`raft::handle`), the one place that proposes, finds and
//!   forwards to the leader, and serves linearizable reads.
//! - [`dr`]: the geo-pair — log shipping to the standby, epochs and fencing, failover and
//!   reprotect, and `dr::status`, the one definition of a region's DR role and lag.
//! - [`health`]: node and region health, the incident history, metrics and the status page.
//! - [`api`]: the tonic services (the front door): each call maps onto the raft handle, DR or
//!   health.
//! - [`server`]: a node's start-up: its configuration (validated in one place) and the wiring of
//!   every part above.
//! - [`client`]: the Rust client library (the generated proto, and `security` for TLS).
//!
//! The `twinstore` command, the chaos workload and checker, and the load generator are in the
//! `twinstore-cli` package (`cli/` in the repository), so they are not part of this library's API.
//! `docs/architecture.md` is a bottom-up tour of the source; README.md the user's view.

#![warn(clippy::all)]

pub mod api;
pub mod client;
pub mod dr;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod health;
pub mod model;
pub mod pb;
pub mod query;
pub mod raft;
pub mod rng;
pub mod security;
pub mod server;
pub mod storage;
