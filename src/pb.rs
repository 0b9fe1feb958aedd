//! The generated protobuf and gRPC code of the `twinstore.v1` API, and its encoded descriptor set
//! (served by gRPC reflection so generic tools such as grpcurl can call the API).
//!
//! Roles travel as enums ([`RaftRole`], [`DrRole`]) rather than text, so an openraft upgrade that
//! renames a state cannot silently break leader detection: the conversions below are exhaustive
//! `match`es the compiler checks, and the words people read ("Leader", "primary") come from
//! [`RaftRole::label`] and [`DrRole::label`] only.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("twinstore.v1");

/// The encoded `FileDescriptorSet` of every `.proto` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/twinstore_descriptor.bin"));

impl From<openraft::ServerState> for RaftRole {
    fn from(s: openraft::ServerState) -> Self {
        use openraft::ServerState;
        match s {
            ServerState::Leader => RaftRole::Leader,
            ServerState::Follower => RaftRole::Follower,
            ServerState::Candidate => RaftRole::Candidate,
            ServerState::Learner => RaftRole::Learner,
            ServerState::Shutdown => RaftRole::Shutdown,
        }
    }
}

impl RaftRole {
    /// The word shown to people: `Leader`, `Follower`, `Candidate`, `Learner`, `Shutdown`, or
    /// `Unknown`.
    pub fn label(self) -> &'static str {
        match self {
            RaftRole::Unspecified => "Unknown",
            RaftRole::Leader => "Leader",
            RaftRole::Follower => "Follower",
            RaftRole::Candidate => "Candidate",
            RaftRole::Learner => "Learner",
            RaftRole::Shutdown => "Shutdown",
        }
    }
}

impl From<crate::storage::dr::Role> for DrRole {
    fn from(r: crate::storage::dr::Role) -> Self {
        use crate::storage::dr::Role;
        match r {
            Role::Primary => DrRole::Primary,
            Role::Standby => DrRole::Standby,
        }
    }
}

impl DrRole {
    /// The word shown to people: `primary`, `standby`, or `unknown`.
    pub fn label(self) -> &'static str {
        match self {
            DrRole::Unspecified => "unknown",
            DrRole::Primary => "primary",
            DrRole::Standby => "standby",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_convert_without_debug_text() {
        assert_eq!(RaftRole::from(openraft::ServerState::Leader), RaftRole::Leader);
        assert_eq!(RaftRole::from(openraft::ServerState::Shutdown).label(), "Shutdown");
        assert_eq!(RaftRole::Unspecified.label(), "Unknown");
        assert_eq!(DrRole::from(crate::storage::dr::Role::Standby), DrRole::Standby);
        assert_eq!(DrRole::from(crate::storage::dr::Role::Primary).label(), "primary");
        assert_eq!(RaftRole::default(), RaftRole::Unspecified);
        assert_eq!(DrRole::default(), DrRole::Unspecified);
    }
}
