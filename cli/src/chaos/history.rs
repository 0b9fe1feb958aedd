//! The recorded history of a chaos workload: one [`Op`] per client operation.
//!
//! The model is a register per key. A key is a twin (`chaos-3`, its property `v`) or one of its
//! relationships (`chaos-3/link`, the relationship's property `v`): both are documents with their
//! own ETag whose writes replace a whole value, so the checker treats them alike. Every write
//! writes a value unique for its key, so a conditional write's If-Match ETag can be named by the
//! value that ETag was returned with, and a read's answer names the write it saw.
//!
//! Reads come in two kinds because they promise different things: a [`Kind::Read`] is
//! linearizable and takes part in the search; a [`Kind::LocalRead`] was served from one node's
//! local state, may be arbitrarily stale, and is only checked for having seen a value that some
//! write actually wrote.

use serde::{Deserialize, Serialize};

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It succeeded, and its answer is recorded.
    Ok,
    /// It definitely did not take effect (refused before or at apply).
    Failed,
    /// It may or may not have taken effect (a timeout, a dropped connection).
    Unknown,
}

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    /// Create or replace the register (the twin, or the relationship) with `value`.
    Write {
        /// The value written.
        value: i64,
    },
    /// Write `value` only if the register currently holds `expect` (a JSON Patch with If-Match
    /// set to the ETag of the write of `expect`). A `Failed` outcome means the precondition did not hold.
    Cas {
        /// The value the register must hold.
        expect: i64,
        /// The value written.
        value: i64,
    },
    /// Read the register (linearizable); `value` is what was seen (`None`: it did not exist).
    Read {
        /// The value seen.
        value: Option<i64>,
    },
    /// Read the register from the contacted node's local state (`LOCAL` consistency): possibly stale,
    /// so not part of the linearizability search.
    #[serde(rename = "local_read")]
    LocalRead {
        /// The value seen.
        value: Option<i64>,
    },
}

impl Kind {
    /// The value this operation writes, if it is a write.
    pub fn written(&self) -> Option<i64> {
        match self {
            Kind::Write { value } | Kind::Cas { value, .. } => Some(*value),
            Kind::Read { .. } | Kind::LocalRead { .. } => None,
        }
    }
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The client that ran it.
    pub client: u32,
    /// The register: a twin (`chaos-3`) or a relationship (`chaos-3/link`).
    pub key: String,
    /// What it did.
    pub kind: Kind,
    /// When it was invoked (ns since the workload started).
    pub invoke: u64,
    /// When it returned (ns); `None` when it never did.
    pub ret: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
}

/// Reads a history written as JSON lines.
pub fn parse(text: &str) -> Result<Vec<Op>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Writes a history as JSON lines.
pub fn to_lines(ops: &[Op]) -> String {
    let mut out = String::new();
    for op in ops {
        out.push_str(&serde_json::to_string(op).expect("an op serializes"));
        out.push('\n');
    }
    out
}
