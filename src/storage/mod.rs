//! Persistence: the sled keyspace of the twin graph and the deterministic `apply` of a command.
//!
//! The store is shaped as a replicated state machine: [`Store::apply`] takes a log index and a
//! [`Command`] and is the only way the graph changes. It must give the same bytes on every
//! replica, so it never reads the clock or a random source (time and origin come in the
//! command), it checks preconditions and validation against the state it is applied to, and each
//! command is one atomic sled batch that also records the applied index. Reads go straight to sled.
//!
//! Errors are split as in toyDB: a user-caused problem is an `Outcome` error returned to the client
//! (deterministic, the same on every replica); a sled or decoding failure is a [`StorageError`],
//! which the caller must treat as fatal for the node rather than let replicas diverge.
//!
//! The key layout is documented in [`keys`].

mod apply;
pub mod audit;
pub mod codec;
pub mod command;
pub mod dedupe;
pub mod dr;
pub mod incidents;
pub mod keys;
mod models;
mod raftlog;
mod relationships;
pub mod scan;
mod snapshot;
pub mod space;
mod store;
mod twins;

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod dr_tests;

#[cfg(test)]
mod batch_tests;

pub use command::{Command, Op, Outcome, Precondition, Reply, RequestId};
pub use models::ModelRecord;
pub use raftlog::{RaftLog, legacy_log_present};
pub use store::{Applied, Page, Store, valid_token};

/// A failure of the storage itself: not caused by the request, not deterministic.
#[derive(Debug)]
pub enum StorageError {
    /// sled failed (I/O, corruption).
    Sled(sled::Error),
    /// A stored value could not be decoded.
    Codec(String),
    /// Stored data breaks an invariant.
    Corrupt(String),
    /// The data directory is locked by another process.
    InUse(String),
    /// A file operation outside sled failed (the raft WAL, an fsync).
    Io(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Sled(e) => write!(f, "sled: {e}"),
            StorageError::Codec(e) => write!(f, "cannot decode a stored value: {e}"),
            StorageError::Corrupt(e) => write!(f, "corrupt data: {e}"),
            StorageError::InUse(e) => write!(f, "{e}"),
            StorageError::Io(e) => write!(f, "I/O: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Sled(e)
    }
}

impl From<StorageError> for crate::error::Error {
    fn from(e: StorageError) -> Self {
        crate::error::Error::new(crate::error::ErrorCode::Internal, format!("storage failure: {e}"))
    }
}
