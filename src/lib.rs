//! twinstore: a self-hosted digital-twins graph store.
//!
//! The layers, lowest first (a layer uses only those above it in this list):
//!
//! - `rng`: the one small deterministic random number generator (splitmix64), for every layer.
//! - [`error`]: the user-facing error type with ADT's error codes.
//! - [`model`]: twins, relationships, DTDL models and their validation, JSON Patch, ETags, limits.
//!   Pure functions, no I/O.
//! - [`storage`]: the sled keyspace and the deterministic `apply` of a write command.
//! - [`pb`]: the generated gRPC code of the public API.
//! - [`health`]: node and region health, the incident history, metrics and the status page.
//! - [`api`]: the tonic services and node start-up.
//! - [`client`]: the Rust client library (generated proto only).
//! - [`cli`]: the `twinstore` command.
//!
//! See `../shared/DESIGN.md` (in the project's shared folder) and README.md for the whole picture.

#![warn(clippy::all)]

pub mod api;
pub mod chaos;
pub mod cli;
pub mod client;
pub mod dr;
pub mod error;
pub mod health;
pub mod model;
pub mod pb;
pub mod query;
pub mod raft;
pub(crate) mod rng;
pub mod server;
pub mod storage;
