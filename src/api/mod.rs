//! The gRPC surface: tonic services mapping `twinstore.v1` onto the domain, and node start-up.
//!
//! Each service (`twins`, `relationships`, `models`) turns a request into either a read of the
//! store or a write `Op`; writes go through the node's write path ([`writer`]), which gives every
//! command its log index and time and answers only once the command is applied and durable.
//! Errors become gRPC statuses carrying the ADT error code ([`status`]).

mod models;
mod node;
mod relationships;
pub mod service;
pub mod status;
mod twins;
pub mod writer;

pub use node::{Node, NodeConfig, StartError};
