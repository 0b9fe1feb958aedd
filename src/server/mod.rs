//! A running node: start-up, wiring and shutdown — the one place that knows every part.
//!
//! [`Node::start`] opens the store and the raft log, starts the raft member and the node's
//! [`RaftHandle`](crate::raft::RaftHandle) (the only way the parts above raft talk to it), builds
//! DR ([`crate::dr`]) and health ([`crate::health`]) on that handle, serves the gRPC services
//! of [`crate::api`] and raft's own `RaftService` on one listener, and starts the background tasks
//! (log shipping, the DR and health monitors). It sits above every other layer of the server so
//! that none of them needs to know how the others are started.

mod node;
mod node_config;

pub use node::{Node, NodeConfig, StartError};
pub use node_config::ConfigError;
