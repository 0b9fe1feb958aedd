//! The Rust client of twinstore's gRPC API.
//!
//! [`Client`] wraps the generated `twinstore.v1` stubs with what every caller would otherwise
//! write by hand:
//!
//! - a list of endpoints, connected lazily, and leader discovery (`pool.rs`): writes and
//!   linearizable reads go to the primary region's leader first (any node of that region would
//!   take them, the leader saves a hop), local reads to the endpoint that answered last;
//! - a retry policy for transient failures ([`RetryPolicy`], `retry.rs`): exponential backoff
//!   with jitter, bounded attempts and total time, only for retryable codes (`Unavailable`,
//!   `NotLeader`, no answer), the leader re-discovered and the endpoints rotated between attempts;
//! - cluster administration (`cluster.rs`): one node's raft status, adding and removing members;
//! - the audit trail of administrative operations (`audit.rs`);
//! - two regions (`dr.rs`): given the endpoints of both, the client finds which region is the
//!   primary (the highest DR epoch), sends writes and linearizable reads to its leader, and after
//!   a failover (a `ReadOnlyRegion` or `Unavailable` answer) rediscovers and retries there with the
//!   same request id; `LOCAL` reads may go to any endpoint, the standby's included. It also asks
//!   for DR status and starts failover and reprotect;
//! - exactly-once writes: each client has a random `client_id`, each write call takes the next
//!   `request_id`, and every retry of that call resends the same pair so the server's dedupe table
//!   applies it once;
//! - [`ClientError`], which reads the ADT error code (`DigitalTwinNotFound`, ...) from the
//!   `x-ms-error-code` metadata entry or the message prefix;
//! - paged lists returned one page at a time ([`Page`]) or all at once (`*_all` helpers).
//!
//! Documents travel as JSON text in ADT's shape, exactly as the server sends them; the client does
//! not parse them (it depends only on the generated code, tonic and tokio).
//!
//! ```no_run
//! # async fn demo() -> Result<(), twinstore::client::ClientError> {
//! use twinstore::client::{Client, Conditions, Consistency};
//! let client = Client::new(["http://127.0.0.1:7000"])?;
//! let put = client
//!     .put_twin("room-1", r#"{"$metadata":{"$model":"dtmi:example:Room;1"}}"#, Conditions::none())
//!     .await?;
//! let got = client.get_twin("room-1", Consistency::Linearizable).await?;
//! assert_eq!(put.etag, got.etag);
//! # Ok(()) }
//! ```

mod audit;
mod cluster;
mod dr;
mod error;
mod health;
mod overview;
mod pool;
mod query;
mod relationships;
mod retry;

pub use crate::pb::Consistency;
pub use dr::{
    FAILOVER_TIMEOUT, FailoverKind, FailoverOutcome, REPROTECT_TIMEOUT, ReprotectOutcome,
};
pub use error::{ClientError, ERROR_CODE_METADATA};
pub use overview::{DrNode, DrOverview};
pub use pool::{Bearer, normalize_url};
pub use query::QueryPage;
pub use retry::RetryPolicy;

use crate::pb;
use crate::pb::model_service_client::ModelServiceClient;
use crate::pb::relationship_service_client::RelationshipServiceClient;
use crate::pb::twin_service_client::TwinServiceClient;
pub use crate::security::tls::ClientTls;
use pool::{Conn, Pool, Route};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest answer a client accepts (model lists with definitions can be large).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// The preconditions of a write (ADT's `If-Match` / `If-None-Match: *`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The ETag the entity must have, or `*` for "must exist".
    pub if_match: Option<String>,
    /// The write succeeds only if the entity does not exist yet.
    pub if_none_match: bool,
}

impl Conditions {
    /// No precondition.
    pub fn none() -> Self {
        Conditions::default()
    }

    /// The entity must currently have this ETag (or exist, for `*`).
    pub fn if_match(etag: impl Into<String>) -> Self {
        Conditions { if_match: Some(etag.into()), if_none_match: false }
    }

    /// The entity must not exist yet.
    pub fn if_none_match() -> Self {
        Conditions { if_match: None, if_none_match: true }
    }
}

/// Which page of a list to read, and how fresh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (0: the server's default).
    pub page_size: u32,
    /// The token of the previous page; `None` for the first page.
    pub continuation_token: Option<String>,
    /// How fresh the read must be.
    pub consistency: Consistency,
}

impl PageRequest {
    /// The first page with the server's page size.
    pub fn first(consistency: Consistency) -> Self {
        PageRequest { consistency, ..Default::default() }
    }
}

/// One page of a list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The JSON documents of this page.
    pub items: Vec<String>,
    /// The token for the next page; `None` on the last page.
    pub continuation_token: Option<String>,
    /// Where the read was served.
    pub read: Option<pb::ReadInfo>,
}

/// How a client reaches the deployment.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// What is retried, how often, for how long.
    pub policy: RetryPolicy,
    /// TLS for `https://` endpoints (a bare `host:port` is taken as `https://` when set): the
    /// deployment's CA, and optionally a client certificate.
    pub tls: Option<ClientTls>,
    /// A bearer token sent with every call (see [`Client::with_token`]).
    pub token: Option<String>,
}

struct Inner {
    pool: Pool,
    policy: RetryPolicy,
    client_id: String,
    next_request: AtomicU64,
}

/// A twinstore client. Cheap to clone; clones share connections and the request counter.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.inner.pool.urls())
            .field("client_id", &self.inner.client_id)
            .finish()
    }
}

impl Client {
    /// A client of the given endpoints (`http://host:port`; a bare `host:port` works too) with the
    /// default retry policy. Nothing is connected until the first call.
    pub fn new<I, S>(endpoints: I) -> Result<Client, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_policy(endpoints, RetryPolicy::default())
    }

    /// A client with a given retry policy.
    pub fn with_policy<I, S>(endpoints: I, policy: RetryPolicy) -> Result<Client, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_options(endpoints, ClientOptions { policy, ..ClientOptions::default() })
    }

    /// A client with the given options (retry policy, TLS).
    pub fn with_options<I, S>(endpoints: I, options: ClientOptions) -> Result<Client, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pool = Pool::new(endpoints, options.tls.as_ref().map(ClientTls::config))?;
        if let Some(token) = &options.token {
            pool.set_token(Some(token))?;
        }
        let inner = Inner {
            pool,
            policy: options.policy,
            client_id: pool::random_client_id(),
            next_request: 1.into(),
        };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// This client (and its clones) sends `token` as `authorization: Bearer <token>` with every
    /// call from now on: what a node with authentication needs (see `security`). The token is
    /// used as given; an expired or wrong one is refused by the server with `Unauthenticated`.
    pub fn with_token(self, token: &str) -> Result<Client, ClientError> {
        self.inner.pool.set_token(Some(token))?;
        Ok(self)
    }

    /// The endpoint URLs, in order.
    pub fn endpoints(&self) -> Vec<String> {
        self.inner.pool.urls()
    }

    /// The id this client sends with its writes.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.inner.policy
    }

    /// The leader's URL, if the client has learned it (it does on the first write or
    /// linearizable read, and again after a failure).
    pub fn leader(&self) -> Option<String> {
        self.inner.pool.leader_url()
    }

    /// Asks the endpoints who the leader is, now, and returns its URL; `None` when no node names
    /// one (no leader elected yet, nodes down, or servers without `ClusterService`).
    pub async fn discover_leader(&self) -> Option<String> {
        self.inner.pool.discover_now(&self.inner.policy).await
    }

    /// The write options of one call: its conditions plus a fresh request id. Built once per call,
    /// so every retry carries the same id.
    fn write_options(&self, c: &Conditions) -> Option<pb::WriteOptions> {
        Some(pb::WriteOptions {
            if_match: c.if_match.clone().unwrap_or_default(),
            if_none_match: c.if_none_match,
            client_id: self.inner.client_id.clone(),
            request_id: self.inner.next_request.fetch_add(1, Ordering::Relaxed),
        })
    }

    async fn twins<T, F, Fut>(&self, route: Route, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(TwinServiceClient<Conn>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        retry::run(&self.inner.policy, &self.inner.pool, route, |ch| {
            f(TwinServiceClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES))
        })
        .await
    }

    async fn rels<T, F, Fut>(&self, route: Route, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(RelationshipServiceClient<Conn>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        retry::run(&self.inner.policy, &self.inner.pool, route, |ch| {
            f(RelationshipServiceClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES))
        })
        .await
    }

    async fn models<T, F, Fut>(&self, route: Route, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(ModelServiceClient<Conn>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        retry::run(&self.inner.policy, &self.inner.pool, route, |ch| {
            f(ModelServiceClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES))
        })
        .await
    }

    // --- twins ---------------------------------------------------------------------------------

    /// Creates or replaces a twin (ADT `PUT /digitaltwins/{id}`).
    pub async fn put_twin(
        &self,
        id: &str,
        twin_json: &str,
        conditions: Conditions,
    ) -> Result<pb::PutTwinResponse, ClientError> {
        let req = pb::PutTwinRequest {
            id: id.into(),
            twin_json: twin_json.into(),
            options: self.write_options(&conditions),
        };
        self.twins(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.put_twin(r).await }
        })
        .await
    }

    /// Reads a twin.
    pub async fn get_twin(
        &self,
        id: &str,
        consistency: Consistency,
    ) -> Result<pb::GetTwinResponse, ClientError> {
        let req = pb::GetTwinRequest { id: id.into(), options: read_options(consistency) };
        self.twins(route_for(consistency), move |mut c| {
            let r = req.clone();
            async move { c.get_twin(r).await }
        })
        .await
    }

    /// Applies a JSON Patch (a JSON array of add / replace / remove operations) to a twin.
    pub async fn patch_twin(
        &self,
        id: &str,
        patch_json: &str,
        conditions: Conditions,
    ) -> Result<pb::PatchTwinResponse, ClientError> {
        let req = pb::PatchTwinRequest {
            id: id.into(),
            patch_json: patch_json.into(),
            options: self.write_options(&conditions),
        };
        self.twins(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.patch_twin(r).await }
        })
        .await
    }

    /// Deletes a twin that has no relationships left.
    pub async fn delete_twin(
        &self,
        id: &str,
        conditions: Conditions,
    ) -> Result<pb::DeleteTwinResponse, ClientError> {
        let req = pb::DeleteTwinRequest { id: id.into(), options: self.write_options(&conditions) };
        self.twins(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.delete_twin(r).await }
        })
        .await
    }

    /// Reads one component of a twin.
    pub async fn get_component(
        &self,
        id: &str,
        component: &str,
        consistency: Consistency,
    ) -> Result<pb::GetComponentResponse, ClientError> {
        let req = pb::GetComponentRequest {
            id: id.into(),
            component: component.into(),
            options: read_options(consistency),
        };
        self.twins(route_for(consistency), move |mut c| {
            let r = req.clone();
            async move { c.get_component(r).await }
        })
        .await
    }

    /// Applies a JSON Patch whose paths are relative to the component.
    pub async fn patch_component(
        &self,
        id: &str,
        component: &str,
        patch_json: &str,
        conditions: Conditions,
    ) -> Result<pb::PatchComponentResponse, ClientError> {
        let req = pb::PatchComponentRequest {
            id: id.into(),
            component: component.into(),
            patch_json: patch_json.into(),
            options: self.write_options(&conditions),
        };
        self.twins(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.patch_component(r).await }
        })
        .await
    }

    /// Publishes telemetry for a twin or one of its components. `message_id` is required and
    /// should be unique per twin; `source_time` is an optional RFC 3339 time.
    pub async fn publish_telemetry(
        &self,
        id: &str,
        component: Option<&str>,
        message_id: &str,
        telemetry_json: &str,
        source_time: Option<&str>,
    ) -> Result<pb::PublishTelemetryResponse, ClientError> {
        let req = pb::PublishTelemetryRequest {
            id: id.into(),
            component: component.unwrap_or_default().into(),
            message_id: message_id.into(),
            telemetry_json: telemetry_json.into(),
            source_time: source_time.unwrap_or_default().into(),
        };
        self.twins(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.publish_telemetry(r).await }
        })
        .await
    }

    // --- models --------------------------------------------------------------------------------

    /// Adds a batch of DTDL Interfaces (a JSON array, or one Interface object), all or nothing.
    pub async fn add_models(
        &self,
        models_json: &str,
    ) -> Result<pb::AddModelsResponse, ClientError> {
        let req = pb::AddModelsRequest {
            models_json: models_json.into(),
            options: self.write_options(&Conditions::none()),
        };
        self.models(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.add_models(r).await }
        })
        .await
    }

    /// Reads a model's metadata, with its DTDL definition under `"model"` if asked.
    pub async fn get_model(
        &self,
        id: &str,
        include_definition: bool,
        consistency: Consistency,
    ) -> Result<pb::GetModelResponse, ClientError> {
        let req = pb::GetModelRequest {
            id: id.into(),
            include_definition,
            options: read_options(consistency),
        };
        self.models(route_for(consistency), move |mut c| {
            let r = req.clone();
            async move { c.get_model(r).await }
        })
        .await
    }

    /// One page of models: all of them, or only `dependencies_for` and what they depend on.
    pub async fn list_models(
        &self,
        dependencies_for: &[String],
        include_definition: bool,
        page: &PageRequest,
    ) -> Result<Page, ClientError> {
        let req = pb::ListModelsRequest {
            dependencies_for: dependencies_for.to_vec(),
            include_definition,
            page_size: page.page_size,
            continuation_token: page.continuation_token.clone().unwrap_or_default(),
            options: read_options(page.consistency),
        };
        let resp = self
            .models(route_for(page.consistency), move |mut c| {
                let r = req.clone();
                async move { c.list_models(r).await }
            })
            .await?;
        Ok(make_page(resp.model_json, resp.continuation_token, resp.read))
    }

    /// All models (or the named ones and their dependencies), following every page.
    pub async fn list_models_all(
        &self,
        dependencies_for: &[String],
        include_definition: bool,
        consistency: Consistency,
    ) -> Result<Vec<String>, ClientError> {
        collect_pages(consistency, |p| async move {
            self.list_models(dependencies_for, include_definition, &p).await
        })
        .await
    }

    /// Marks a model decommissioned: no new twin may use it.
    pub async fn decommission_model(
        &self,
        id: &str,
    ) -> Result<pb::DecommissionModelResponse, ClientError> {
        let req = pb::DecommissionModelRequest {
            id: id.into(),
            options: self.write_options(&Conditions::none()),
        };
        self.models(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.decommission_model(r).await }
        })
        .await
    }

    /// Deletes a model that no other model references.
    pub async fn delete_model(&self, id: &str) -> Result<pb::DeleteModelResponse, ClientError> {
        let req = pb::DeleteModelRequest {
            id: id.into(),
            options: self.write_options(&Conditions::none()),
        };
        self.models(Route::Leader, move |mut c| {
            let r = req.clone();
            async move { c.delete_model(r).await }
        })
        .await
    }
}

/// Linearizable reads go to the leader (a follower would ask it for a read index anyway); local
/// reads to whichever node answered last.
fn route_for(consistency: Consistency) -> Route {
    match consistency {
        Consistency::Local => Route::Any,
        _ => Route::Leader,
    }
}

fn read_options(consistency: Consistency) -> Option<pb::ReadOptions> {
    Some(pb::ReadOptions { consistency: consistency as i32 })
}

fn make_page(items: Vec<String>, token: String, read: Option<pb::ReadInfo>) -> Page {
    Page { items, continuation_token: (!token.is_empty()).then_some(token), read }
}

/// Reads pages until the last one. Bounded: a server that keeps returning the same token would
/// otherwise loop forever.
async fn collect_pages<F, Fut>(
    consistency: Consistency,
    mut page: F,
) -> Result<Vec<String>, ClientError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page, ClientError>>,
{
    let mut items = Vec::new();
    let mut request = PageRequest::first(consistency);
    loop {
        let p = page(request.clone()).await?;
        items.extend(p.items);
        match p.continuation_token {
            Some(t) if Some(&t) != request.continuation_token.as_ref() => {
                request.continuation_token = Some(t)
            }
            Some(_) => {
                return Err(ClientError::local(
                    crate::error::ErrorCode::Internal,
                    "the server returned the same continuation token twice",
                ));
            }
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_write_call_gets_the_next_request_id() {
        let client = Client::new(["http://127.0.0.1:1"]).unwrap();
        let a = client.write_options(&Conditions::if_match("W/\"x\"")).unwrap();
        let b = client.write_options(&Conditions::if_none_match()).unwrap();
        assert_eq!(a.client_id, client.client_id());
        assert_eq!(a.client_id, b.client_id);
        assert_eq!(b.request_id, a.request_id + 1);
        assert_eq!((a.if_match.as_str(), a.if_none_match), ("W/\"x\"", false));
        assert_eq!((b.if_match.as_str(), b.if_none_match), ("", true));
        let other = Client::new(["http://127.0.0.1:1"]).unwrap();
        assert_ne!(other.client_id(), client.client_id());
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_unavailable_after_bounded_retries() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: std::time::Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let client = Client::with_policy(["http://127.0.0.1:1", "127.0.0.1:2"], policy).unwrap();
        let err = client.get_twin("x", Consistency::Linearizable).await.unwrap_err();
        assert!(err.transport, "{err:?}");
        assert_eq!(err.code, Some(crate::error::ErrorCode::Unavailable));
        assert!(
            err.to_string().starts_with("Unavailable: cannot reach http://127.0.0.1:"),
            "{err}"
        );
    }
}
