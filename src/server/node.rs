//! Node start-up and shutdown.
//!
//! A node opens its sled store, starts its raft member (log store and state machine on the same
//! sled database), and serves on one listener: the public services, the internal `RaftService`
//! and `ClusterService`, `grpc.health.v1` and gRPC reflection (so grpcurl and health probes work).
//!
//! Forming a group: a node that has never been in a group and was given `peers` waits for them to
//! be reachable only if it has the smallest id, which then initializes the group with all of them
//! (initializing twice with the same members is safe; other nodes just wait to hear from the
//! leader). With neither `peers` nor `join`, the node forms a group of itself alone. With `join`,
//! it asks a member of an existing group to add it (learner first, voter once caught up).
//!
//! Health: the node's health monitor runs beside the DR monitor, `HealthService` is served with
//! the rest, `grpc.health.v1` follows the node's real state (NOT_SERVING when fenced or without
//! quorum), every call is counted for `/metrics`, and with `http` set the node serves `/metrics`
//! and its status page there.
//!
//! Authentication: with `auth` set, one layer over the whole router checks every call's
//! credential and role before any service sees it (`security::auth`); refused calls change
//! nothing.
//!
//! Shutdown runs in the safe order: stop accepting requests (health says NOT_SERVING first), let
//! in-flight ones finish, stop raft, flush storage.

use crate::api::service::Shared;
use crate::api::{
    AuditApi, ClusterApi, DrApi, HealthApi, ModelApi, QueryApi, RelationshipApi, TwinApi, http,
    limits, rpc_metrics,
};
use crate::dr::{self, Dr};
use crate::health::{self, Health, Thresholds};
use crate::pb;
use crate::pb::audit_service_server::AuditServiceServer;
use crate::pb::cluster_service_client::ClusterServiceClient;
use crate::pb::cluster_service_server::ClusterServiceServer;
use crate::pb::dr_service_server::DrServiceServer;
use crate::pb::health_service_server::HealthServiceServer;
use crate::pb::model_service_server::ModelServiceServer;
use crate::pb::raft_service_server::RaftServiceServer;
use crate::pb::relationship_service_server::RelationshipServiceServer;
use crate::pb::twin_service_server::TwinServiceServer;
use crate::raft::service::RaftApi;
use crate::raft::{self, Identity, NodeInfo, Raft, RaftHandle};
use crate::security::tls::{NodeTls, TlsFiles};
use crate::security::{AuthConfig, AuthLayer};
use crate::storage::Op;
use crate::storage::Store;
use crate::storage::dr::{PeerRegion, Role};
use crate::storage::space::DiskGuard;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The error type of start-up.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// How to run one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The node's id in its region's raft group (unique in the region, never reused).
    pub id: u64,
    /// The region the node belongs to.
    pub region: String,
    /// Where the node keeps its data: the sled database in `db/`, the raft WAL in `wal/`.
    pub data_dir: PathBuf,
    /// The address the gRPC API (public and internal services) listens on; port 0 picks a free
    /// port.
    pub listen: SocketAddr,
    /// The URL other nodes and clients reach this node at; by default `http://<listen address>`.
    pub advertise: Option<String>,
    /// The initial members of the region (id, URL), this node included. Empty: a single-node
    /// group of this node alone, unless `join` is set. Only a node that has never been part of a
    /// group uses it; the member with the smallest id initializes the group.
    pub peers: Vec<(u64, String)>,
    /// The URL of a member of an existing group to join (as a learner, then a voter).
    pub join: Option<String>,
    /// sled's page cache size in bytes.
    pub cache_capacity: u64,
    /// Writes are refused (`ResourceExhausted`) while the data directory has less than this many
    /// bytes free (see `storage::space`).
    pub min_free_bytes: u64,
    /// Take a raft snapshot (and allow purging the log before it) every this many entries.
    pub snapshot_logs: u64,
    /// The most log entries a primary keeps behind its snapshots for a standby that has not
    /// confirmed them; a standby further behind is reseeded from a snapshot.
    pub max_retained: u64,
    /// This region's DR role when it is first formed: primary, or standby of `peer`.
    pub role: Role,
    /// The other region of the DR pair: for a standby, the primary it follows; for a primary, its
    /// standby (used for fencing and to tell clients where to go). `None`: no DR pair.
    pub peer: Option<PeerRegion>,
    /// Where to serve `/metrics` and the status page over HTTP (port 0 picks a free port).
    /// `None`: no HTTP port.
    pub http: Option<SocketAddr>,
    /// The thresholds of health detection (the defaults suit production).
    pub health: Thresholds,
    /// Chaos testing: a delay added to every message this node receives from the other region
    /// (see [`raft::network::Faults`]), to emulate a WAN between two regions on one machine.
    /// `None` in production.
    pub wan_delay: Option<raft::network::Delay>,
    /// TLS on every port, and mutual TLS to and from the other nodes (see
    /// [`crate::security::tls`]). `None`: plaintext, which only a loopback address allows unless
    /// `insecure` is set.
    pub tls: Option<TlsFiles>,
    /// Serve plaintext on a non-loopback address anyway (logged as a warning at start and every
    /// hour).
    pub insecure: bool,
    /// Client authentication: the public keys tokens may be signed with, and the issuer and
    /// audience they must name (see `security`). `None`: no authentication, every call is let
    /// through. For now only single-node regions without a DR pair (see `validate`).
    pub auth: Option<AuthConfig>,
}

impl NodeConfig {
    /// A config with default settings: node 1 of region `primary`, alone in its group, a 64 MiB
    /// page cache (modest, as several nodes may share one machine).
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        NodeConfig {
            id: 1,
            region: "primary".into(),
            data_dir: data_dir.into(),
            listen,
            advertise: None,
            peers: Vec::new(),
            join: None,
            cache_capacity: 64 << 20,
            min_free_bytes: crate::storage::space::DEFAULT_RESERVE,
            snapshot_logs: raft::DEFAULT_SNAPSHOT_LOGS,
            max_retained: raft::MAX_RETAINED,
            role: Role::Primary,
            peer: None,
            http: None,
            health: Thresholds::default(),
            wan_delay: None,
            tls: None,
            insecure: false,
            auth: None,
        }
    }
}

/// How often a node serving plaintext off loopback says so again.
const INSECURE_WARNING_EVERY: Duration = Duration::from_secs(3600);

/// `insecure`: a warning at start and every hour, so it is not forgotten in a log.
async fn warn_insecure(addr: SocketAddr) {
    loop {
        tracing::warn!(
            %addr,
            "INSECURE: serving plaintext with no authentication (--insecure); anyone who reaches \
             this port can read and write every twin and speak raft to this node"
        );
        tokio::time::sleep(INSECURE_WARNING_EVERY).await;
    }
}

/// A running node.
pub struct Node {
    addr: SocketAddr,
    /// Background tasks (DR shipper and monitor, health monitor): they hold the store, so
    /// shutdown ends them before returning, and the data directory is free to reopen.
    tasks: Vec<JoinHandle<()>>,
    faults: raft::network::Faults,
    store: Arc<Store>,
    raft: Raft,
    health: Health,
    http: Option<(SocketAddr, JoinHandle<()>)>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Node {
    /// Opens the data directory, starts the raft member, binds the listener and serves in the
    /// background. Returns once the node serves; the group may still be electing a leader.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        // Every way to configure a node gets the same checks (see `node_config.rs`).
        config.validate()?;
        let tls = match &config.tls {
            Some(files) => Some(NodeTls::load(files, &config.region, config.id)?),
            None => None,
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            format!("cannot create data directory {}: {e}", config.data_dir.display())
        })?;
        let db_dir = config.data_dir.join("db");
        let store = Arc::new(
            Store::open(&db_dir, config.cache_capacity)
                .map_err(|e| format!("cannot open the store in {}: {e}", db_dir.display()))?,
        );

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let advertise = config.advertise.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
        // Outgoing connections leave from the node's own address, so packet filters can cut the
        // link between two chosen nodes (all on loopback, one address each).
        let local_ip = (!addr.ip().is_unspecified()).then_some(addr.ip());

        let wal_dir = config.data_dir.join("wal");
        let (log_store, state_machine) = raft::open(store.clone(), &wal_dir)?;
        let mut log_store = log_store;
        log_store.set_max_retained(config.max_retained);
        let retention = log_store.retention();
        let shipping_log = log_store.shipping_reader();
        let faults = raft::network::Faults::default();
        faults.set_wan_delay(config.wan_delay);
        let raft_config = raft::config(config.snapshot_logs)?;
        let elections = raft::election::Elections::new(std::time::Duration::from_millis(
            raft_config.election_timeout_max,
        ));
        // One channel per peer URL, for raft and every other part of the node.
        let channels = raft::network::Channels::new(tls.as_ref().map(NodeTls::client));
        let network = raft::network::Network {
            local: local_ip,
            faults: faults.clone(),
            elections: elections.clone(),
            channels: channels.clone(),
        };
        let raft =
            Raft::new(config.id, Arc::new(raft_config), network, log_store, state_machine).await?;
        tokio::spawn(elections.clone().drive(raft.clone()));
        let me = Identity {
            id: config.id,
            region: config.region.clone(),
            addr: advertise.clone(),
            local_ip,
            configured_standby: config.role == Role::Standby,
            faults: faults.clone(),
            disk: DiskGuard::new(
                format!("node {} of region '{}'", config.id, config.region),
                &config.data_dir,
                config.min_free_bytes,
            ),
        };
        let node = RaftHandle::new(store.clone(), raft.clone(), me, channels);
        let geo = Dr::new(node.clone(), shipping_log, retention);
        let node_health = Health::new(geo.clone(), config.health.clone());
        let shared = Shared::new(geo.clone());

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<TwinServiceServer<TwinApi>>().await;
        health.set_serving::<RelationshipServiceServer<RelationshipApi>>().await;
        health.set_serving::<ModelServiceServer<ModelApi>>().await;
        health.set_serving::<pb::query_service_server::QueryServiceServer<QueryApi>>().await;
        health.set_serving::<ClusterServiceServer<ClusterApi>>().await;
        health.set_serving::<HealthServiceServer<HealthApi>>().await;
        health.set_serving::<AuditServiceServer<AuditApi>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;

        // Checked by `validate` already; read here once, for the life of the node.
        let verifier = match &config.auth {
            Some(auth) => Some(Arc::new(auth.verifier()?)),
            None => None,
        };
        // Every port's request-size limit is stated, with its reason, in `api::limits`.
        let max = limits::MAX_REQUEST_BYTES;
        let internal = limits::MAX_INTERNAL_BYTES;
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &tls {
            builder = builder.tls_config(tls.server())?;
        }
        let router = builder
            .tcp_nodelay(true)
            .http2_max_header_list_size(limits::MAX_HEADER_LIST_BYTES)
            .layer(rpc_metrics::RpcMetricsLayer(node_health.rpc()))
            // Inside the metrics layer, so refused calls are counted too: the TLS guard
            // (internal methods for nodes only) and client authentication.
            .layer(AuthLayer::new(&config.region, tls.is_some(), verifier))
            .layer(limits::MessageLimitLayer)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(
                TwinServiceServer::new(TwinApi(shared.clone())).max_decoding_message_size(max),
            )
            .add_service(
                RelationshipServiceServer::new(RelationshipApi(shared.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                ModelServiceServer::new(ModelApi(shared.clone()))
                    .max_decoding_message_size(limits::MAX_MODEL_UPLOAD_BYTES),
            )
            .add_service(
                pb::query_service_server::QueryServiceServer::new(QueryApi::new(shared.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                ClusterServiceServer::new(ClusterApi(shared.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                HealthServiceServer::new(HealthApi(node_health.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                AuditServiceServer::new(AuditApi(shared.clone())).max_decoding_message_size(max),
            )
            .add_service(
                DrServiceServer::new(DrApi {
                    shared: shared.clone(),
                    geo: geo.clone(),
                    health: node_health.clone(),
                })
                .max_decoding_message_size(internal)
                .max_encoding_message_size(internal),
            )
            .add_service(
                RaftServiceServer::new(RaftApi {
                    node: node.clone(),
                    elections: elections.clone(),
                })
                .max_decoding_message_size(internal)
                .max_encoding_message_size(internal),
            );

        let (stop, stopped) = oneshot::channel::<()>();
        // Nagle off on every accepted connection: tonic's own `tcp_nodelay` only applies to
        // listeners it creates, and without it every response waits for the peer's delayed ACK
        // (about 40 ms).
        let incoming = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            |conn| {
                if let Ok(c) = &conn {
                    let _ = c.set_nodelay(true);
                }
                conn
            },
        );
        let mut tasks = vec![tokio::spawn(crate::api::health::follow_serving(
            health.clone(),
            node_health.subscribe(),
        ))];
        let http = match config.http {
            Some(http_addr) => {
                let listener = http::bind(http_addr)
                    .await
                    .map_err(|e| format!("cannot listen for HTTP on {http_addr}: {e}"))?;
                let bound = listener.local_addr()?;
                let acceptor = tls.as_ref().map(NodeTls::http_acceptor).transpose()?;
                Some((bound, http::serve(listener, node_health.clone(), acceptor)))
            }
            None => None,
        };
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

        form_group(&config, &node).await?;
        // DR: the region's initial role (proposed once by its leader), the shipper (active on a
        // standby's leader) and the monitor (retention, fencing).
        let init = (config.role == Role::Standby || config.peer.is_some()).then(|| Op::DrInit {
            role: config.role,
            epoch: 1,
            peer: config.peer.clone(),
        });
        tasks.push(tokio::spawn(dr::monitor::run(geo.clone(), init)));
        tasks.push(tokio::spawn(dr::shipper::run(geo)));
        tasks.push(tokio::spawn(health::monitor::run(node_health.clone())));
        if config.insecure {
            tasks.push(tokio::spawn(warn_insecure(addr)));
        }
        tracing::info!(%addr, id = config.id, region = %config.region, data = %config.data_dir.display(), http = ?http.as_ref().map(|h| h.0), "node started");
        Ok(Node {
            addr,
            tasks,
            faults,
            store,
            raft,
            health: node_health,
            http,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// The address the API is served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node's store (for tests and tools that inspect the state).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The node's fault-injection switches: cut its outgoing links to chosen peers (tests).
    pub fn faults(&self) -> &raft::network::Faults {
        &self.faults
    }

    /// The node's raft member (for tests and tools).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The node's health machinery (for tests and tools).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The address `/metrics` and the status page are served on, when `http` was set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.0)
    }

    /// Stops serving, lets in-flight requests finish, stops raft and flushes storage.
    pub async fn shutdown(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some((_, http)) = self.http.take() {
            http.abort();
        }
        if let Some(mut server) = self.server.take() {
            // In-flight requests get a moment; a stuck one (or an endless stream, such as a
            // standby's log shipping) must not hold the node forever, nor outlive it.
            if tokio::time::timeout(Duration::from_secs(5), &mut server).await.is_err() {
                server.abort();
            }
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::error!("stopping raft: {e}");
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Err(e) = self.store.flush() {
            tracing::error!("flushing at shutdown: {e}");
        }
    }
}

/// Forms or joins the group, as the config asks (see the module docs).
async fn form_group(config: &NodeConfig, node: &RaftHandle) -> Result<(), StartError> {
    let (raft, advertise) = (node.raft(), node.addr());
    if raft.is_initialized().await? {
        return Ok(());
    }
    if let Some(join) = &config.join {
        let (node, join) = (node.clone(), join.clone());
        tokio::spawn(async move { join_group(node, join).await });
        return Ok(());
    }
    let members: BTreeMap<u64, NodeInfo> = if config.peers.is_empty() {
        BTreeMap::from([(config.id, NodeInfo { addr: advertise.to_string() })])
    } else {
        // `NodeConfig::validate` made sure this node is among its peers.
        config.peers.iter().map(|(id, addr)| (*id, NodeInfo { addr: addr.clone() })).collect()
    };
    if members.keys().next() == Some(&config.id) {
        match raft.initialize(members).await {
            Ok(()) => tracing::info!(id = config.id, "initialized the group"),
            Err(openraft::error::RaftError::APIError(
                openraft::error::InitializeError::NotAllowed(_),
            )) => {}
            Err(e) => return Err(format!("cannot initialize the group: {e}").into()),
        }
    }
    Ok(())
}

/// Asks a member of an existing group to add this node, retrying for a while (the group may be
/// electing a leader, or the member may be starting too).
async fn join_group(node: RaftHandle, join: String) {
    let id = node.id();
    let request = pb::AddNodeRequest { id, addr: node.addr().to_string() };
    for attempt in 0..60u32 {
        let result = async {
            let channel = node.channel(&join).map_err(|e| e.to_string())?;
            ClusterServiceClient::new(channel)
                .add_node(request.clone())
                .await
                .map_err(|s| s.to_string())
        }
        .await;
        match result {
            Ok(_) => {
                tracing::info!(id, %join, "joined the group");
                return;
            }
            Err(e) => tracing::warn!(id, %join, attempt, "joining the group failed, retrying: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt.min(4) + 1))).await;
    }
    tracing::error!(id, %join, "gave up joining the group; restart the node with --join to try again");
}
