//! How big a request may be, on every port a node listens on — stated here, once, and applied where
//! the servers are built (`server::node` for gRPC, [`super::http`] for the HTTP port).
//!
//! A request that is too big is refused *before* it is decoded or reaches the raft handle, so it
//! costs the node at most the limit in memory and never changes the graph. The numbers:
//!
//! | port / service | limit | why this number |
//! |---|---|---|
//! | gRPC `TwinService`, `RelationshipService`, `QueryService`, `ClusterService`, `HealthService` (and `grpc.health.v1`, reflection: tonic's default, the same 4 MiB) | [`MAX_REQUEST_BYTES`] = 4 MiB per message | the biggest legitimate request is far smaller: a twin or a relationship is at most 32 KiB, a patch 32 KiB (`model::limits`), a query a few KiB. 4 MiB is gRPC's customary default, so a client built with stock settings never meets a lower limit here than it expects, and a node with many clients cannot be made to buffer much. |
//! | gRPC `ModelService` | [`MAX_MODEL_UPLOAD_BYTES`] = 32 MiB per message | ADT takes up to 250 models per upload (`model::limits::MAX_MODELS_PER_BATCH`), each up to 1 MiB; 32 MiB (`model::limits::MAX_MODEL_BATCH_BYTES`) is room for large ontology uploads in one call while staying a bounded cost (twinstore's own choice: ADT documents the count and the per-model size, not a request size). |
//! | gRPC `RaftService`, `DrService` (internal: members of a group, the two regions) | [`MAX_INTERNAL_BYTES`] = 64 MiB per message, both directions | what is sent is bounded well below this: AppendEntries and shipped DR batches carry runs of log entries of about 1 MiB (`raft::reader::MAX_BATCH_BYTES`), raft snapshot chunks are 3 MiB (`raft::config`), DR snapshot chunks 1 MiB; but the last entry of a run is sent whole, and one entry is a proposal group (up to 256 KiB of writes, `raft::handle::MAX_BATCH_BYTES`, plus one more) whose last write can be a whole model upload (32 MiB). The worst case, about 33.3 MiB, is checked against the limit at compile time with 4 MiB to spare for the envelope. |
//! | gRPC, every service: the HTTP/2 header list (metadata) | [`MAX_HEADER_LIST_BYTES`] = 16 KiB | metadata carries a request id, preconditions, an ETag, a trace id: a few hundred bytes. hyper's default is also 16 KiB; it is set explicitly so the limit is ours and stated. An oversized header list is refused by HTTP/2 itself before any service runs: the stream is answered 431 (Request Header Fields Too Large) and reset, which a tonic client reports as `Unknown` naming HTTP status 431. |
//! | HTTP (`/metrics`, `/healthz`, status page) | [`MAX_HTTP_HEAD_BYTES`] = 16 KiB of request head, read within [`HTTP_READ_TIMEOUT`] = 5 s; no body is ever read | only GET and HEAD are served; a scraper's or a probe's request head is a few hundred bytes. A longer head gets `431 Request Header Fields Too Large`, a slow one `408`, and the connection is closed. |
//!
//! An oversized gRPC message gets `RESOURCE_EXHAUSTED` with the ADT code `LimitExceeded` in the
//! `x-ms-error-code` metadata entry and a message naming the size and the limit. tonic itself
//! answers `OUT_OF_RANGE` ("decoded message length too large"); [`MessageLimitLayer`] rewrites
//! that answer, so clients branch on the same code and header as for every other limit. (Limits on
//! the *content* — a 33 KiB twin inside a small message — are `model::limits`' and answer
//! `INVALID_ARGUMENT` / `LimitExceeded`, as ADT does.)

use crate::error::ErrorCode;
use crate::model::limits as model_limits;
use crate::raft::{self, network};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::codegen::Service;
use tonic::codegen::http::{HeaderValue, Request, Response};

/// The largest message a client-facing gRPC service decodes (all but `ModelService`).
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// The largest `ModelService` message (a model upload).
pub const MAX_MODEL_UPLOAD_BYTES: usize = model_limits::MAX_MODEL_BATCH_BYTES;

/// The largest message between nodes (`RaftService`, `DrService`), decoded or encoded.
pub const MAX_INTERNAL_BYTES: usize = network::MAX_MESSAGE_BYTES;

/// The largest HTTP/2 header list (the gRPC metadata of one call), in bytes as HTTP/2 counts them
/// (each entry's name and value plus 32).
pub const MAX_HEADER_LIST_BYTES: u32 = 16 << 10;

/// The largest request head on the HTTP port.
pub const MAX_HTTP_HEAD_BYTES: usize = 16 << 10;

/// How long a client of the HTTP port may take to send its request head.
pub const HTTP_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The biggest message between nodes that writes can cause: a run of log entries of about
/// 1 MiB whose last entry is a proposal group of 256 KiB of writes plus one more, a whole model
/// upload.
const WORST_INTERNAL_BYTES: usize =
    raft::reader::MAX_BATCH_BYTES + raft::handle::MAX_BATCH_BYTES + MAX_MODEL_UPLOAD_BYTES;
const _: () = assert!(MAX_INTERNAL_BYTES >= WORST_INTERNAL_BYTES + (4 << 20));
const _: () = assert!(MAX_MODEL_UPLOAD_BYTES >= MAX_REQUEST_BYTES);

/// tonic's message for a message over the decoding limit, which it answers with `OUT_OF_RANGE`.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// The layer: rewrites tonic's `OUT_OF_RANGE` "decoded message length too large" answer into
/// `RESOURCE_EXHAUSTED` with `x-ms-error-code: LimitExceeded`.
///
/// A request refused for its size never reaches a service, so tonic answers it "trailers-only":
/// the status is in the response headers, which is where this layer looks. No service of ours
/// answers `OUT_OF_RANGE` itself, and the message is matched too, so nothing else is rewritten.
#[derive(Clone, Copy, Default)]
pub struct MessageLimitLayer;

impl<S> tower_layer::Layer<S> for MessageLimitLayer {
    type Service = MessageLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageLimit { inner }
    }
}

/// The service the layer makes.
#[derive(Clone)]
pub struct MessageLimit<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> Service<Request<B>> for MessageLimit<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = req.uri().path().to_string();
        let call = self.inner.call(req);
        Box::pin(async move {
            let mut resp = call.await?;
            rewrite_too_large(&method, &mut resp);
            Ok(resp)
        })
    }
}

/// Rewrites a trailers-only "decoded message length too large" answer in place.
fn rewrite_too_large<R>(method: &str, resp: &mut Response<R>) {
    let headers = resp.headers_mut();
    if headers.get("grpc-status").and_then(|v| v.to_str().ok()) != Some("11") {
        return;
    }
    let Some(found) = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .filter(|m| m.starts_with(TONIC_TOO_LARGE))
    else {
        return;
    };
    // tonic's message: "... found N bytes, the limit is: M bytes".
    let numbers: Vec<&str> =
        found.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect();
    let (size, limit) = match numbers.as_slice() {
        [size, limit, ..] => (*size, *limit),
        _ => ("?", "?"),
    };
    let code = ErrorCode::LimitExceeded.as_str();
    let message = format!(
        "{code}: the request message to {method} is {size} bytes; the limit is {limit} bytes \
         ({} MiB)",
        limit.parse::<usize>().map(|l| l >> 20).unwrap_or(0)
    );
    headers.insert("grpc-status", HeaderValue::from_static("8"));
    headers.insert("x-ms-error-code", HeaderValue::from_static("LimitExceeded"));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(&message)) {
        headers.insert("grpc-message", v);
    }
}

/// gRPC's percent-decoding of `grpc-message` (enough for tonic's ASCII messages).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// gRPC's percent-encoding of `grpc-message`: printable ASCII but `%` as is, the rest escaped.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: &str, message: &str) -> Response<()> {
        let mut r = Response::new(());
        r.headers_mut().insert("grpc-status", HeaderValue::from_str(status).unwrap());
        r.headers_mut()
            .insert("grpc-message", HeaderValue::from_str(&percent_encode(message)).unwrap());
        r
    }

    #[test]
    fn too_large_becomes_resource_exhausted_with_the_adt_code() {
        let mut r = answer(
            "11",
            "Error, decoded message length too large: found 4194400 bytes, the limit is: \
             4194304 bytes",
        );
        rewrite_too_large("/twinstore.v1.TwinService/PutTwin", &mut r);
        assert_eq!(r.headers()["grpc-status"], "8");
        assert_eq!(r.headers()["x-ms-error-code"], "LimitExceeded");
        let m = percent_decode(r.headers()["grpc-message"].to_str().unwrap());
        assert_eq!(
            m,
            "LimitExceeded: the request message to /twinstore.v1.TwinService/PutTwin is 4194400 \
             bytes; the limit is 4194304 bytes (4 MiB)"
        );
    }

    #[test]
    fn other_answers_are_left_alone() {
        for (status, message) in [("11", "some other range error"), ("3", TONIC_TOO_LARGE)] {
            let mut r = answer(status, message);
            rewrite_too_large("/x", &mut r);
            assert_eq!(r.headers()["grpc-status"], status);
            assert!(r.headers().get("x-ms-error-code").is_none());
        }
        let mut ok = Response::new(());
        rewrite_too_large("/x", &mut ok);
        assert!(ok.headers().is_empty());
    }

    #[test]
    fn percent_coding_round_trips() {
        let s = "a%b: ü\n";
        assert_eq!(percent_decode(&percent_encode(s)), s);
    }
}
