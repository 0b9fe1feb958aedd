//! Errors that clients see.
//!
//! Every error a user can cause is an [`Error`]: an ADT error code ([`ErrorCode`]) plus a sentence a
//! person can act on. The code is what clients branch on (it travels in the gRPC status message
//! prefix and in the `x-ms-error-code` metadata entry); the sentence is for people.
//!
//! These errors are *deterministic*: the same command applied to the same state gives the same
//! error on every replica, so they are a legitimate outcome of `apply` and are stored in the dedupe
//! table like any other answer. Failures that are not deterministic (a disk error, a corrupt value)
//! are not `Error`s of this kind: apply reports them as `storage::StorageError`, and the node stops
//! rather than let replicas diverge.

use serde::{Deserialize, Serialize};

/// The error codes of Azure Digital Twins' data plane, plus a few of twinstore's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request is malformed: bad id, bad JSON, missing field.
    InvalidArgument,
    /// No twin with that id.
    DigitalTwinNotFound,
    /// No relationship with that id on that source twin.
    RelationshipNotFound,
    /// The twin has no component with that name.
    ComponentNotFound,
    /// No model with that id.
    ModelNotFound,
    /// If-Match / If-None-Match did not hold.
    PreconditionFailed,
    /// The document does not conform to its model.
    ValidationFailed,
    /// The JSON Patch is malformed or cannot be applied.
    JsonPatchInvalid,
    /// A twin with relationships cannot be deleted.
    RelationshipsNotDeleted,
    /// A model with that id was already uploaded.
    ModelAlreadyExists,
    /// The model is still referenced by another model.
    ModelReferencesNotDeleted,
    /// The model is decommissioned and cannot be used for new twins.
    ModelDecommissioned,
    /// The target twin of a relationship does not exist.
    TargetTwinNotFound,
    /// The operation is not allowed (e.g. a relationship from a twin to itself).
    OperationNotAllowed,
    /// The relationship is not valid for the source and target models.
    InvalidRelationship,
    /// A DTDL model failed to parse or validate.
    DTDLParserError,
    /// A documented limit was exceeded (size, count).
    LimitExceeded,
    /// A continuation token is malformed or too old.
    BadRequest,
    /// This node cannot serve the request now (no leader, shutting down); retry elsewhere or later.
    Unavailable,
    /// This node is not the leader; the message names the leader when known.
    NotLeader,
    /// The region is a standby and refuses writes.
    ReadOnlyRegion,
    /// A node is out of a resource it needs to take the request (disk space): the message names
    /// the node and what ran out. Reads still work; retry once the operator has made room.
    ResourceExhausted,
    /// An internal failure: a bug or a storage error. Never caused by the request alone.
    Internal,
    /// The call carried no usable credential (none, garbled, expired, signed by a key the node
    /// does not accept, for another audience); see `security`.
    Unauthenticated,
    /// The caller is known but its role does not allow the method (or the method is internal to
    /// the deployment); see `security`.
    PermissionDenied,
}

/// The metadata entry that carries the error code of a gRPC status (ADT's REST API sends the same
/// header).
pub const ERROR_CODE_HEADER: &str = "x-ms-error-code";

impl ErrorCode {
    /// The code's name as ADT spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidArgument => "InvalidArgument",
            Self::DigitalTwinNotFound => "DigitalTwinNotFound",
            Self::RelationshipNotFound => "RelationshipNotFound",
            Self::ComponentNotFound => "ComponentNotFound",
            Self::ModelNotFound => "ModelNotFound",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::ValidationFailed => "ValidationFailed",
            Self::JsonPatchInvalid => "JsonPatchInvalid",
            Self::RelationshipsNotDeleted => "RelationshipsNotDeleted",
            Self::ModelAlreadyExists => "ModelAlreadyExists",
            Self::ModelReferencesNotDeleted => "ModelReferencesNotDeleted",
            Self::ModelDecommissioned => "ModelDecommissioned",
            Self::TargetTwinNotFound => "TargetTwinNotFound",
            Self::OperationNotAllowed => "OperationNotAllowed",
            Self::InvalidRelationship => "InvalidRelationship",
            Self::DTDLParserError => "DTDLParserError",
            Self::LimitExceeded => "LimitExceeded",
            Self::BadRequest => "BadRequest",
            Self::Unavailable => "Unavailable",
            Self::NotLeader => "NotLeader",
            Self::ReadOnlyRegion => "ReadOnlyRegion",
            Self::ResourceExhausted => "ResourceExhausted",
            Self::Internal => "Internal",
            Self::Unauthenticated => "Unauthenticated",
            Self::PermissionDenied => "PermissionDenied",
        }
    }

    /// Every code, for parsing and tests.
    pub const ALL: [ErrorCode; 25] = [
        Self::InvalidArgument,
        Self::DigitalTwinNotFound,
        Self::RelationshipNotFound,
        Self::ComponentNotFound,
        Self::ModelNotFound,
        Self::PreconditionFailed,
        Self::ValidationFailed,
        Self::JsonPatchInvalid,
        Self::RelationshipsNotDeleted,
        Self::ModelAlreadyExists,
        Self::ModelReferencesNotDeleted,
        Self::ModelDecommissioned,
        Self::TargetTwinNotFound,
        Self::OperationNotAllowed,
        Self::InvalidRelationship,
        Self::DTDLParserError,
        Self::LimitExceeded,
        Self::BadRequest,
        Self::Unavailable,
        Self::NotLeader,
        Self::ReadOnlyRegion,
        Self::ResourceExhausted,
        Self::Internal,
        Self::Unauthenticated,
        Self::PermissionDenied,
    ];

    /// Parses a code name (as sent in `x-ms-error-code`).
    pub fn parse(s: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user-facing error: an ADT code and a sentence a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// What kind of error, for programs.
    pub code: ErrorCode,
    /// What went wrong and how to fix it, for people.
    pub message: String,
}

impl Error {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// A `Result` whose error is a user-facing [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error`] with a `format!`-style message: `err!(ValidationFailed, "bad {x}")`.
#[macro_export]
macro_rules! err {
    ($code:ident, $($arg:tt)*) => {
        $crate::error::Error::new($crate::error::ErrorCode::$code, format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_names() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NoSuchCode"), None);
    }

    #[test]
    fn display_starts_with_the_code() {
        let e = err!(DigitalTwinNotFound, "there is no digital twin with id '{}'", "x");
        assert_eq!(e.to_string(), "DigitalTwinNotFound: there is no digital twin with id 'x'");
    }
}
