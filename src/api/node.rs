//! Node start-up and shutdown.
//!
//! A node opens its sled store, starts the applier thread (the write path), and serves the public
//! gRPC services on one listener together with `grpc.health.v1` and gRPC reflection, so generic
//! tools (grpcurl, grpc_health_probe) work against it. Shutdown runs in the safe order: stop
//! accepting requests, let in-flight ones finish, stop the applier (which flushes), flush again.

use super::models::ModelApi;
use super::relationships::RelationshipApi;
use super::service::Shared;
use super::twins::TwinApi;
use super::writer::Writer;
use crate::model::limits;
use crate::pb;
use crate::pb::model_service_server::ModelServiceServer;
use crate::pb::relationship_service_server::RelationshipServiceServer;
use crate::pb::twin_service_server::TwinServiceServer;
use crate::storage::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The error type of start-up.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// How to run one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the node keeps its sled database.
    pub data_dir: PathBuf,
    /// The address the gRPC API listens on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// sled's page cache size in bytes.
    pub cache_capacity: u64,
}

impl NodeConfig {
    /// A config with default settings (a 64 MiB page cache: modest, as several nodes may share
    /// one machine).
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        NodeConfig { data_dir: data_dir.into(), listen, cache_capacity: 64 << 20 }
    }
}

/// A running node.
pub struct Node {
    addr: SocketAddr,
    store: Arc<Store>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    applier: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Opens the data directory, binds the listener and serves in the background.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            format!("cannot create data directory {}: {e}", config.data_dir.display())
        })?;
        let db_dir = config.data_dir.join("db");
        let store = Arc::new(
            Store::open(&db_dir, config.cache_capacity)
                .map_err(|e| format!("cannot open the store in {}: {e}", db_dir.display()))?,
        );
        let (writer, applier) = Writer::start(store.clone());
        let shared = Shared { store: store.clone(), writer, epoch: 1 };

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<TwinServiceServer<TwinApi>>().await;
        health.set_serving::<RelationshipServiceServer<RelationshipApi>>().await;
        health.set_serving::<ModelServiceServer<ModelApi>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;

        let max = limits::MAX_MODEL_BATCH_BYTES;
        let router = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(
                TwinServiceServer::new(TwinApi(shared.clone())).max_decoding_message_size(max),
            )
            .add_service(
                RelationshipServiceServer::new(RelationshipApi(shared.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(ModelServiceServer::new(ModelApi(shared)).max_decoding_message_size(max));

        let (stop, stopped) = oneshot::channel::<()>();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
                // Stop reporting SERVING first so health checkers move away.
                health.set_not_serving::<TwinServiceServer<TwinApi>>().await;
            };
            if let Err(e) = router.serve_with_incoming_shutdown(incoming, shutdown).await {
                tracing::error!("the gRPC server failed: {e}");
            }
        });
        tracing::info!(%addr, data = %config.data_dir.display(), "node started");
        Ok(Node { addr, store, stop: Some(stop), server: Some(server), applier: Some(applier) })
    }

    /// The address the API is served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node's store (for tests and tools that inspect the state).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stops serving, lets in-flight requests finish, stops the write path and flushes storage.
    pub async fn shutdown(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        // The services (and their writer handles) are dropped with the server: the applier's
        // channel closes and the thread flushes and ends.
        if let Some(applier) = self.applier.take() {
            let _ = tokio::task::spawn_blocking(move || applier.join()).await;
        }
        if let Err(e) = self.store.flush() {
            tracing::error!("flushing at shutdown: {e}");
        }
    }
}
