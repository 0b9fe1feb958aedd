//! The `QueryService`: the twin query language over gRPC.
//!
//! A query is a read: the first page waits for the consistency the request asked for (by default
//! linearizable, so every write acknowledged before the query was sent is in the result), then runs
//! the query with [`crate::query::Engine`]. Later pages come from the engine's cursor and need no
//! read barrier.
//!
//! The query runs on a blocking thread (`spawn_blocking`), never on the async runtime, so a long
//! scan cannot stall other requests. At most [`MAX_CONCURRENT_QUERIES`] run at once; more wait for
//! a turn. Each has [`QUERY_TIMEOUT`] from its arrival, enforced by the executor's own deadline (it
//! stops itself and answers `LimitExceeded`). If the client goes away — it cancels, its connection
//! drops, or its own deadline passes — tonic drops the request's future, which sets the query's
//! cancellation flag ([`CancelOnDrop`]), and the executor stops at its next read.

use super::service::Shared;
use super::status::{IntoStatus, to_status};
use crate::err;
use crate::pb;
use crate::pb::query_service_server::QueryService;
use crate::query::engine::{Engine, QUERY_TIMEOUT, Request as QueryRequest};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

/// How many queries may run at once on one node.
pub const MAX_CONCURRENT_QUERIES: usize = 4;

/// How long past its own deadline a query task is waited for before the request gives up on it
/// (the executor checks its deadline every few hundred reads, so this is never reached unless a
/// single read hangs).
const GRACE: Duration = Duration::from_secs(5);

/// The query service over the node's shared state.
pub struct QueryApi {
    shared: Shared,
    engine: Arc<Engine>,
    running: Arc<Semaphore>,
}

impl QueryApi {
    /// The service, with its own cursor cache.
    pub fn new(shared: Shared) -> Self {
        QueryApi {
            shared,
            engine: Arc::new(Engine::new()),
            running: Arc::new(Semaphore::new(MAX_CONCURRENT_QUERIES)),
        }
    }
}

/// Sets its flag when dropped. The request future owns one; when tonic drops that future because
/// the client went away, the query on the blocking thread sees the flag and stops.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    async fn query(
        &self,
        req: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let arrived = Instant::now();
        let r = req.into_inner();
        let token = (!r.continuation_token.is_empty()).then(|| r.continuation_token.clone());
        if token.is_none() && r.query.trim().is_empty() {
            return Err(to_status(err!(InvalidArgument, "the query is empty")));
        }
        let local =
            matches!(r.options.as_ref().map(|o| o.consistency()), Some(pb::Consistency::Local));
        // The first page waits until every write acknowledged before now is applied here; later
        // pages come from the cursor and need no barrier.
        let barrier = match &token {
            Some(_) => Some(pb::ReadOptions { consistency: pb::Consistency::Local as i32 }),
            None => r.options,
        };
        let (mut read, reseeds) = self.shared.read_info(barrier.as_ref()).await?;

        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancel.clone());
        let permit = tokio::time::timeout(QUERY_TIMEOUT, self.running.clone().acquire_owned())
            .await
            .map_err(|_| {
                to_status(err!(
                    Unavailable,
                    "too many queries are running on this node; try again later"
                ))
            })?
            .map_err(|_| to_status(err!(Unavailable, "the node is shutting down")))?;
        let timeout = QUERY_TIMEOUT.saturating_sub(arrived.elapsed());
        let engine = self.engine.clone();
        let store = self.shared.store.clone();
        let flag = cancel.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let request = QueryRequest {
                query: &r.query,
                page_size: r.page_size as usize,
                token: token.as_deref(),
                timeout,
            };
            engine.query(&store, &request, &flag)
        });
        let page = tokio::time::timeout(timeout + GRACE, task).await;
        self.shared.read_done(reseeds)?;
        let page = match page {
            Ok(Ok(result)) => result.status()?,
            Ok(Err(e)) => return Err(to_status(err!(Internal, "the query task failed: {e}"))),
            Err(_) => {
                return Err(to_status(err!(
                    LimitExceeded,
                    "the query ran longer than {} s, the limit, and was stopped",
                    QUERY_TIMEOUT.as_secs()
                )));
            }
        };
        let consistency =
            if local { pb::Consistency::Local } else { pb::Consistency::Linearizable };
        // The index the query started at (for later pages: the first page's).
        read.applied_index = page.applied_index;
        read.consistency = consistency as i32;
        Ok(Response::new(pb::QueryResponse {
            row_json: page.rows,
            continuation_token: page.token.unwrap_or_default(),
            query_charge: page.charge,
            rows_scanned: page.rows_scanned,
            read: Some(read),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_cancels() {
        let flag = Arc::new(AtomicBool::new(false));
        let guard = CancelOnDrop(flag.clone());
        assert!(!flag.load(Ordering::Relaxed));
        drop(guard);
        assert!(flag.load(Ordering::Relaxed));
    }
}
