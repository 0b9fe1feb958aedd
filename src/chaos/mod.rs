//! Tools for breaking twinstore on purpose and proving nothing acknowledged was lost: a recorded
//! history format ([`history`]) and a linearizability checker ([`checker`]).
//!
//! The workload (run against a deployment while faults are injected) records every operation with
//! its invoke and return times and its outcome — `ok`, `failed`, or `unknown` for timeouts and
//! dropped connections, which are never assumed to have failed. The checker then decides, per twin,
//! whether some order of the operations, consistent with real time, explains every answer the
//! clients saw (Wing & Gong's search, with the memoization porcupine uses), and that each node's
//! final state is one such order's outcome.

pub mod checker;
pub mod history;
pub mod workload;
