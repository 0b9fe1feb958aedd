//! A layer on the gRPC server that counts every call by method and status code and records its
//! latency (into [`crate::health::metrics::Rpc`], exposed on `/metrics`).
//!
//! It sees HTTP/2 requests and responses, below tonic's services: the method is the request path
//! (`/twinstore.v1.TwinService/GetTwin`) and the status code is the response's `grpc-status`
//! header, which tonic sets on every failed call (an answer with no such header at the start is a
//! success: its status comes in the trailers). The latency is to the response headers — the whole
//! call for unary RPCs. Nothing is logged here: this is the hot path.

use crate::health::metrics::{Rpc, code_name};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::codegen::Service;
use tonic::codegen::http::{Request, Response};

/// The layer: wraps the server's routes.
#[derive(Clone)]
pub struct RpcMetricsLayer(pub Arc<Rpc>);

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner, rpc: self.0.clone() }
    }
}

/// The service the layer makes.
#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    rpc: Arc<Rpc>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> Service<Request<B>> for RpcMetrics<S>
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
        let started = Instant::now();
        let rpc = self.rpc.clone();
        let call = self.inner.call(req);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(code_name)
                    .unwrap_or("OK"),
                Err(_) => "Unknown",
            };
            rpc.record(&method, code, started.elapsed());
            result
        })
    }
}
