//! Azure Digital Twins' documented service limits, which twinstore enforces the same way so that an
//! application written against ADT neither breaks nor grows past what ADT would accept.
//!
//! Every limit is checked where the data enters (a write command, a model upload) and refused with
//! `LimitExceeded` naming the limit, never by truncating.

use crate::err;
use crate::error::Result;

/// The largest twin document (PUT body or the result of a PATCH), in bytes of JSON.
pub const MAX_TWIN_BYTES: usize = 32 * 1024;
/// The largest request payload, in bytes (a relationship document, a patch, telemetry).
pub const MAX_PAYLOAD_BYTES: usize = 32 * 1024;
/// The longest string property value, in bytes.
pub const MAX_STRING_VALUE_BYTES: usize = 4096;
/// The longest property name, in bytes.
pub const MAX_PROPERTY_NAME_BYTES: usize = 1024;
/// The most models one upload may carry.
pub const MAX_MODELS_PER_BATCH: usize = 250;
/// The largest DTDL Interface, in bytes of JSON.
pub const MAX_MODEL_BYTES: usize = 1 << 20;
/// The deepest `extends` chain.
pub const MAX_EXTENDS_DEPTH: usize = 10;
/// The most outgoing relationships one twin may have, and the most incoming.
pub const MAX_EDGES_PER_TWIN: u64 = 50_000;
/// The longest twin or relationship id, in bytes (ADT does not publish one; keys must stay small).
pub const MAX_ID_BYTES: usize = 1024;
/// The largest model upload request, in bytes (250 models of up to 1 MiB would be absurd on the
/// wire; gRPC's message limit is raised to this).
pub const MAX_MODEL_BATCH_BYTES: usize = 32 << 20;

/// Checks a twin or relationship id: not empty, no longer than [`MAX_ID_BYTES`], no control
/// characters (ids end up in keys, logs and URLs).
pub fn check_id(kind: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(err!(InvalidArgument, "the {kind} id is empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(err!(
            LimitExceeded,
            "the {kind} id is {} bytes long; the limit is {MAX_ID_BYTES} bytes",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(err!(InvalidArgument, "the {kind} id {id:?} contains control characters"));
    }
    Ok(())
}

/// Checks the size of a document or payload against `limit`.
pub fn check_size(what: &str, len: usize, limit: usize) -> Result<()> {
    if len > limit {
        return Err(err!(
            LimitExceeded,
            "the {what} is {len} bytes; the limit is {limit} bytes ({} KiB)",
            limit / 1024
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("twin", "room-1").is_ok());
        assert_eq!(check_id("twin", "").unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(check_id("twin", "a\nb").unwrap_err().code, ErrorCode::InvalidArgument);
        let long = "x".repeat(MAX_ID_BYTES + 1);
        assert_eq!(check_id("twin", &long).unwrap_err().code, ErrorCode::LimitExceeded);
        assert!(check_id("twin", &"x".repeat(MAX_ID_BYTES)).is_ok());
    }

    #[test]
    fn sizes_name_the_limit() {
        assert!(check_size("twin document", MAX_TWIN_BYTES, MAX_TWIN_BYTES).is_ok());
        let e = check_size("twin document", MAX_TWIN_BYTES + 1, MAX_TWIN_BYTES).unwrap_err();
        assert_eq!(e.code, ErrorCode::LimitExceeded);
        assert!(e.message.contains("32768"), "{e}");
    }
}
