//! The gRPC surface: tonic services mapping `twinstore.v1` onto the domain.
//!
//! Each public service (`twins`, `relationships`, `models`, `query`) turns a request into either a
//! read of the store or a write `Op`; [`service::Shared`] holds the node's
//! [`RaftHandle`](crate::raft::RaftHandle), which sends writes through the region's raft group
//! (forwarding to the leader when needed) and makes reads wait for the consistency they asked for.
//! `ClusterService` manages membership, `DrService` the DR pair, `HealthService` ([`health`])
//! resource health and incidents, `AuditService` ([`audit`]) the trail of administrative
//! operations (who failed over, who changed the membership). Errors become gRPC statuses carrying the ADT error code
//! ([`status`]). Each node can also serve `/metrics` and a status page on an HTTP port
//! ([`http`]), and every gRPC call is counted ([`rpc_metrics`]). Every port's request-size
//! limit is stated in [`limits`].
//!
//! This layer builds no server: `crate::server` wires these services, raft's own
//! `RaftService` and the background tasks into a running node.

pub mod audit;
mod cluster;
mod dr;
pub mod health;
pub mod http;
pub mod limits;
mod models;
mod query;
mod relationships;
pub mod rpc_metrics;
pub mod service;
pub mod status;
mod twins;

pub use audit::AuditApi;
pub use cluster::ClusterApi;
pub use dr::DrApi;
pub use health::HealthApi;
pub use models::ModelApi;
pub use query::QueryApi;
pub use relationships::RelationshipApi;
pub use twins::TwinApi;
