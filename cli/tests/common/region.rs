//! A region of in-process nodes, for the tests that need a whole raft group (or a DR pair of
//! them) inside the test process: `tests/dr.rs` and `tests/health.rs`.
//!
//! Every node is a [`twinstore::server::Node`] on 127.0.0.1 with its own data directory and a port
//! chosen up front, so the members know each other before any starts, and a killed node comes
//! back at the same address with the same data. The settings the test files differ in are public
//! fields holding a node's defaults: set them after [`Region::new`], before the nodes start. What
//! only one test file asks of a region (DR status, incidents) is an `impl Region` in that file.

#![allow(dead_code)]

use super::free_port;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use twinstore::health::Thresholds;
use twinstore::pb;
use twinstore::pb::cluster_service_client::ClusterServiceClient;
use twinstore::raft::network::Delay;
use twinstore::server::{Node, NodeConfig};
use twinstore::storage::dr::{PeerRegion, Role};

/// How long one RPC to a node may take, by default (see [`Region::rpc_timeout`]).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a region may take to elect a leader.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// A channel to `addr` (`http://host:port`) that connects on first use; every call on it fails
/// after `timeout`.
pub fn timed_channel(addr: &str, timeout: Duration) -> Channel {
    Channel::from_shared(addr.to_string()).unwrap().timeout(timeout).connect_lazy()
}

/// A region of `n` nodes; node `i` (from 0) has raft id `i + 1`.
pub struct Region {
    /// The region's name.
    pub name: String,
    /// Node `i` while it runs; `None` before it starts and after it is killed.
    pub nodes: Vec<Option<Node>>,
    /// Node `i`'s data directory, kept across restarts.
    pub dirs: Vec<tempfile::TempDir>,
    /// Node `i`'s gRPC address, `http://127.0.0.1:<port>`.
    pub addrs: Vec<String>,
    /// Node `i`'s HTTP port (`/metrics`, the status page) once it has started with
    /// `serve_http`; 0 otherwise.
    pub http: Vec<u16>,
    /// The region's DR role when it is first formed.
    pub role: Role,
    /// The other region's addresses; empty: the region is not part of a DR pair.
    pub peer: Vec<String>,
    /// The other region's name.
    pub peer_name: String,
    /// Every node's `NodeConfig::snapshot_logs`.
    pub snapshot_logs: u64,
    /// Every node's `NodeConfig::max_retained`.
    pub max_retained: u64,
    /// Every node's `NodeConfig::wan_delay`.
    pub wan_delay: Option<Delay>,
    /// Every node's `NodeConfig::health`.
    pub thresholds: Thresholds,
    /// Whether every node serves HTTP, on a free port (see `http`).
    pub serve_http: bool,
    /// How long each status call of [`Region::wait_leader`] may take.
    pub rpc_timeout: Duration,
}

impl Region {
    /// A region `name` of `n` nodes, none started, with a node's default settings. `peer_name`
    /// names the other region of the pair, if there is one (its addresses go in `peer`).
    pub fn new(name: &str, n: usize, role: Role, peer_name: &str) -> Region {
        let defaults = NodeConfig::new("", "127.0.0.1:0".parse().unwrap());
        Region {
            name: name.into(),
            nodes: (0..n).map(|_| None).collect(),
            dirs: (0..n).map(|_| tempfile::tempdir().unwrap()).collect(),
            addrs: (0..n).map(|_| format!("http://127.0.0.1:{}", free_port())).collect(),
            http: vec![0; n],
            role,
            peer: Vec::new(),
            peer_name: peer_name.into(),
            snapshot_logs: defaults.snapshot_logs,
            max_retained: defaults.max_retained,
            wan_delay: defaults.wan_delay,
            thresholds: defaults.health,
            serve_http: false,
            rpc_timeout: RPC_TIMEOUT,
        }
    }

    /// Node `i`'s configuration.
    pub fn config(&self, i: usize) -> NodeConfig {
        let mut c = NodeConfig::new(
            self.dirs[i].path(),
            self.addrs[i].trim_start_matches("http://").parse().unwrap(),
        );
        c.id = i as u64 + 1;
        c.region = self.name.clone();
        c.peers = self.addrs.iter().enumerate().map(|(j, a)| (j as u64 + 1, a.clone())).collect();
        c.role = self.role;
        c.snapshot_logs = self.snapshot_logs;
        c.max_retained = self.max_retained;
        c.wan_delay = self.wan_delay;
        c.health = self.thresholds.clone();
        if self.serve_http {
            c.http = Some("127.0.0.1:0".parse().unwrap());
        }
        if !self.peer.is_empty() {
            c.peer =
                Some(PeerRegion { name: self.peer_name.clone(), endpoints: self.peer.clone() });
        }
        c
    }

    /// Starts every node and waits for a leader.
    pub async fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i).await;
        }
        self.wait_leader().await;
    }

    /// Starts node `i` (again).
    pub async fn start(&mut self, i: usize) {
        let node = Node::start(self.config(i)).await.unwrap();
        if self.serve_http {
            self.http[i] = node.http_addr().expect("an HTTP port").port();
        }
        self.nodes[i] = Some(node);
    }

    /// Shuts node `i` down, if it runs.
    pub async fn kill(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.shutdown().await;
        }
    }

    /// Shuts every node down.
    pub async fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i).await;
        }
    }

    /// The nodes that run.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].is_some()).collect()
    }

    /// Waits until a running node says it is the leader, and returns it.
    pub async fn wait_leader(&self) -> usize {
        let deadline = Instant::now() + LEADER_WAIT;
        while Instant::now() < deadline {
            for i in self.live() {
                let mut cluster =
                    ClusterServiceClient::new(timed_channel(&self.addrs[i], self.rpc_timeout));
                let status = cluster.cluster_status(pb::ClusterStatusRequest {}).await;
                if status.is_ok_and(|s| s.get_ref().role() == pb::RaftRole::Leader) {
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("region {} elected no leader", self.name);
    }

    /// The fingerprints of the running nodes' data: one when they all hold the same.
    pub fn fingerprints(&self) -> BTreeSet<u64> {
        self.nodes.iter().flatten().map(|n| n.store().fingerprint().unwrap()).collect()
    }

    /// Shuts every node down and removes the data directories.
    pub async fn shutdown(mut self) {
        self.kill_all().await;
    }
}
