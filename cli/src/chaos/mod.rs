//! Tools for breaking twinstore on purpose and proving nothing acknowledged was lost: a recorded
//! history format ([`history`]), the workload that records it ([`workload`]), a linearizability
//! checker ([`checker`]), the excusing of writes the system reported lost in a forced failover
//! ([`lost`]) and the report a chaos scenario prints ([`report`]).
//!
//! The workload (run against a deployment while faults are injected) records every operation with
//! its invoke and return times and its outcome — `ok`, `failed`, or `unknown` for timeouts and
//! dropped connections, which are never assumed to have failed. Each twin and each relationship
//! the workload touches is a register of its own. The checker then decides, per register, whether
//! some order of the operations, consistent with real time, explains every answer the clients saw
//! (Wing & Gong's search, with the memoization porcupine uses), that `LOCAL` reads only saw values
//! that were written, and that each node's final state — in the primary region, and in the standby
//! once it caught up — is one such order's outcome, the same on every node.

pub mod checker;
pub mod history;
pub mod lost;
pub mod report;
pub mod workload;
