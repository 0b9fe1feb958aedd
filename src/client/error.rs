//! The error a client call ends with.
//!
//! Servers answer with a gRPC status whose message starts with ADT's error code and which carries
//! the same code in the `x-ms-error-code` metadata entry. Programs branch on [`ClientError::code`];
//! people read [`ClientError`]'s `Display`, which is always one line starting with the code, so the
//! CLI can print it as is. A failure to reach a node at all (refused connection, broken stream) has
//! no ADT code from the server; it is reported as `Unavailable` with the endpoint that failed.

use crate::error::ErrorCode;
use std::time::Duration;

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientError {
    /// The ADT error code, when the server sent one (or the failure was a transport failure,
    /// reported as [`ErrorCode::Unavailable`]).
    pub code: Option<ErrorCode>,
    /// The gRPC status code of the answer.
    pub status: tonic::Code,
    /// What went wrong, without the code prefix.
    pub message: String,
    /// True when no server answered (connection refused, reset, timed out before an answer).
    pub transport: bool,
}

/// The metadata entry that carries the ADT error code.
pub const ERROR_CODE_METADATA: &str = "x-ms-error-code";

impl ClientError {
    /// An error made on the client side (bad endpoint URL, bad argument).
    pub fn local(code: ErrorCode, message: impl Into<String>) -> Self {
        ClientError {
            code: Some(code),
            status: tonic::Code::InvalidArgument,
            message: message.into(),
            transport: false,
        }
    }

    /// Reads a status answered by (or on the way to) the node at `endpoint`.
    pub fn from_status(status: &tonic::Status, endpoint: &str) -> Self {
        let raw = status.message();
        let (prefix_code, rest) = split_code_prefix(raw);
        let meta_code = status
            .metadata()
            .get(ERROR_CODE_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| ErrorCode::parse(s.trim()));
        let code = meta_code.or(prefix_code);
        let message = if prefix_code.is_some() { rest.to_string() } else { raw.to_string() };
        let transport = is_transport_status(status);
        let lost_connection = code.is_none()
            && matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown)
            && transport;
        // What a plaintext HTTP/2 client sees of a TLS port: the server answers the HTTP/2
        // preface with a TLS alert and hangs up — a protocol error, a broken pipe or a cancelled
        // call, but never a refused connection.
        let broken_protocol = (status.code() == tonic::Code::Internal
            && raw.contains("h2 protocol error"))
            || (status.code() == tonic::Code::Cancelled && transport)
            || (lost_connection && !raw.contains("connect error"));
        if code.is_none() && endpoint.starts_with("http://") && broken_protocol {
            return ClientError {
                code: Some(ErrorCode::Unavailable),
                status: tonic::Code::Unavailable,
                message: format!(
                    "cannot talk to {endpoint}: {}; if the node serves TLS, use https:// and the \
                     deployment's CA (--ca)",
                    error_chain(status)
                ),
                transport: true,
            };
        }
        if lost_connection {
            return ClientError {
                code: Some(ErrorCode::Unavailable),
                status: tonic::Code::Unavailable,
                message: format!("cannot reach {endpoint}: {}", error_chain(status)),
                transport: true,
            };
        }
        ClientError { code, status: status.code(), message: one_line(&message), transport: false }
    }

    /// An answer without a message field the protocol requires (a server of another version).
    pub fn missing(field: &str) -> Self {
        ClientError {
            code: Some(ErrorCode::Internal),
            status: tonic::Code::Internal,
            message: format!("the server's answer carries no {field}"),
            transport: false,
        }
    }

    /// An attempt that got no answer within `after`.
    pub fn timeout(endpoint: &str, after: Duration) -> Self {
        ClientError {
            code: None,
            status: tonic::Code::DeadlineExceeded,
            message: format!("no answer from {endpoint} within {after:?}"),
            transport: true,
        }
    }

    /// The code as text: the ADT code when known, otherwise the gRPC status code's name.
    pub fn code_str(&self) -> String {
        match self.code {
            Some(c) => c.as_str().to_string(),
            None => format!("{:?}", self.status),
        }
    }

    /// True when the failure may go away by retrying (possibly on another node): no node answered
    /// (refused, reset, timed out), or the node said `Unavailable` or `NotLeader`. Every other
    /// answer is deterministic and would come back the same.
    pub fn is_retryable(&self) -> bool {
        self.transport
            || self.status == tonic::Code::Unavailable
            || matches!(self.code, Some(ErrorCode::Unavailable) | Some(ErrorCode::NotLeader))
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code_str(), self.message)
    }
}

impl std::error::Error for ClientError {}

/// Splits `Code: rest` when `Code` is a known ADT error code.
fn split_code_prefix(message: &str) -> (Option<ErrorCode>, &str) {
    if let Some((head, rest)) = message.split_once(':')
        && let Some(code) = ErrorCode::parse(head.trim())
    {
        return (Some(code), rest.trim_start());
    }
    (None, message)
}

/// Whether the status was made by the client's transport rather than sent by a server.
fn is_transport_status(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    // A server-sent status has no source; tonic attaches the transport error as its source.
    status.source().is_some()
        || status.message().contains("transport error")
        || status.message().contains("connect error")
}

/// The status message followed by its chain of causes, on one line.
fn error_chain(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut parts = vec![status.message().to_string()];
    let mut source = status.source();
    while let Some(e) = source {
        let text = e.to_string();
        let generic = text == "transport error";
        if !text.is_empty() && !generic && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    one_line(&parts.join(": "))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_comes_from_metadata_or_prefix() {
        let mut st = tonic::Status::not_found("DigitalTwinNotFound: there is no digital twin 'x'");
        let e = ClientError::from_status(&st, "http://a");
        assert_eq!(e.code, Some(ErrorCode::DigitalTwinNotFound));
        assert_eq!(e.to_string(), "DigitalTwinNotFound: there is no digital twin 'x'");
        st.metadata_mut().insert(ERROR_CODE_METADATA, "ModelNotFound".parse().unwrap());
        assert_eq!(ClientError::from_status(&st, "http://a").code, Some(ErrorCode::ModelNotFound));
        let plain = tonic::Status::internal("boom");
        let e = ClientError::from_status(&plain, "http://a");
        assert_eq!(e.code, None);
        assert_eq!(e.to_string(), "Internal: boom");
    }

    #[test]
    fn retryable_codes() {
        let st = tonic::Status::unavailable("Unavailable: no leader");
        assert!(ClientError::from_status(&st, "x").is_retryable());
        let st = tonic::Status::failed_precondition("PreconditionFailed: etag");
        assert!(!ClientError::from_status(&st, "x").is_retryable());
        let st = tonic::Status::unavailable("NotLeader: the leader is node 2");
        assert_eq!(ClientError::from_status(&st, "x").code, Some(ErrorCode::NotLeader));
        assert!(ClientError::from_status(&st, "x").is_retryable());
        assert!(ClientError::timeout("x", Duration::from_secs(1)).is_retryable());
        let st = tonic::Status::unimplemented("no such method");
        assert!(!ClientError::from_status(&st, "x").is_retryable());
    }
}
