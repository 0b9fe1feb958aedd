//! The gRPC surface: tonic services mapping `twinstore.v1` onto the domain, and node start-up.
//!
//! Each public service (`twins`, `relationships`, `models`) turns a request into either a read of
//! the store or a write `Op`; [`service::Shared`] sends writes through the region's raft group
//! (forwarding to the leader when needed) and makes reads wait for the consistency they asked for.
//! The internal `RaftService` carries raft's messages between nodes, and `ClusterService` manages
//! membership. Errors become gRPC statuses carrying the ADT error code ([`status`]). `HealthService`
//! ([`health`]) serves resource health and incidents; each node can also serve `/metrics` and a
//! status page on an HTTP port (`http.rs`), and every gRPC call is counted (`rpc_metrics.rs`).

mod cluster;
mod geo;
pub mod health;
mod http;
mod models;
mod node;
mod node_config;
mod query;
mod raft_service;
mod relationships;
mod rpc_metrics;
pub mod service;
pub mod status;
mod twins;

pub use node::{Node, NodeConfig, StartError};
pub use node_config::ConfigError;
