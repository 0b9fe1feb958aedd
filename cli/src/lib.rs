//! The `twinstore` command and the tools that only it needs, on top of the `twinstore` library.
//!
//! - [`cli`]: the command itself — running a node or a local deployment (`node`, `up`), the client
//!   commands (`twin`, `rel`, `model`, `query`, `cluster`, `dr`, `health`), and `bench`, the load
//!   generator that drives twinstore or a real etcd member with the same clients.
//! - [`chaos`]: the chaos scenarios' recorded workload, its history, and the linearizability
//!   checker behind `twinstore chaos`.
//!
//! They live in their own package so that a program using the library (the client, or an embedded
//! node) does not carry a load generator, a history checker or clap in its API.

#![warn(clippy::all)]

pub mod chaos;
pub mod cli;
