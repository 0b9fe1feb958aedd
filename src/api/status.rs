//! Mapping errors to gRPC statuses.
//!
//! The status message is `<ADT code>: <sentence>` and the ADT code is also sent in the
//! `x-ms-error-code` metadata entry (ADT's REST API sends the same header), so clients can branch
//! on it without parsing messages.

use crate::error::{Error, ErrorCode};
use tonic::{Code, Status};

pub use crate::error::ERROR_CODE_HEADER;

/// The gRPC code for an ADT error code.
pub fn grpc_code(code: ErrorCode) -> Code {
    use ErrorCode::*;
    match code {
        InvalidArgument | ValidationFailed | JsonPatchInvalid | DTDLParserError
        | InvalidRelationship | OperationNotAllowed | LimitExceeded | BadRequest => {
            Code::InvalidArgument
        }
        DigitalTwinNotFound | RelationshipNotFound | ComponentNotFound | ModelNotFound
        | TargetTwinNotFound => Code::NotFound,
        PreconditionFailed
        | RelationshipsNotDeleted
        | ModelReferencesNotDeleted
        | ModelDecommissioned
        | ReadOnlyRegion => Code::FailedPrecondition,
        ModelAlreadyExists => Code::AlreadyExists,
        Unavailable | NotLeader => Code::Unavailable,
        ResourceExhausted => Code::ResourceExhausted,
        Internal => Code::Internal,
        Unauthenticated => Code::Unauthenticated,
        PermissionDenied => Code::PermissionDenied,
    }
}

/// The gRPC status for an error.
pub fn to_status(e: Error) -> Status {
    let mut status = Status::new(grpc_code(e.code), e.to_string());
    if let Ok(v) = e.code.as_str().parse() {
        status.metadata_mut().insert(ERROR_CODE_HEADER, v);
    }
    status
}

/// `?`-friendly conversion for service code.
pub trait IntoStatus<T> {
    /// Maps the error to a status.
    fn status(self) -> Result<T, Status>;
}

impl<T, E: Into<Error>> IntoStatus<T> for Result<T, E> {
    fn status(self) -> Result<T, Status> {
        self.map_err(|e| to_status(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_code_twice() {
        let s = to_status(Error::new(ErrorCode::PreconditionFailed, "etag mismatch"));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.message(), "PreconditionFailed: etag mismatch");
        assert_eq!(s.metadata().get(ERROR_CODE_HEADER).unwrap(), "PreconditionFailed");
        for code in ErrorCode::ALL {
            let _ = grpc_code(code);
        }
    }
}
