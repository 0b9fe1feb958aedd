//! The raft transport: openraft's RPCs over gRPC (`twinstore.v1.RaftService`).
//!
//! Each peer gets one long-lived HTTP/2 channel, created lazily and reused for every RPC (tonic
//! multiplexes concurrent calls on it and reconnects after a failure). Every call carries the
//! deadline openraft gives it. Payloads are openraft's own types encoded with the storage codec;
//! a remote raft error comes back inside the payload and becomes `RPCError::RemoteError`, while a
//! transport failure becomes `Unreachable` (openraft then backs off before retrying that peer) or
//! `Network`.
//!
//! Outgoing connections can be bound to the node's own loopback address, so that packet filters
//! can cut the link between two chosen nodes on one machine.

use super::election::Elections;
use super::{NodeInfo, TypeConfig};
use crate::pb;
use crate::pb::raft_service_client::RaftServiceClient;
use crate::storage::codec;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// The largest raft message (a batch of entries or a snapshot chunk).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Encodes a raft message.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    codec::encode(value).map_err(|e| e.to_string())
}

/// Decodes a raft message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    codec::decode(bytes).map_err(|e| e.to_string())
}

/// A lazily connecting gRPC channel to `addr`, bound to `local` when given, over (mutual) TLS
/// when `tls` is given.
pub fn channel(
    addr: &str,
    local: Option<IpAddr>,
    tls: Option<&ClientTlsConfig>,
) -> Result<Channel, String> {
    let mut endpoint = Endpoint::from_shared(addr.to_string())
        .map_err(|e| format!("bad peer address {addr}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .local_address(local);
    if let Some(tls) = tls {
        endpoint =
            endpoint.tls_config(tls.clone()).map_err(|e| format!("TLS to peer {addr}: {e}"))?;
    }
    Ok(endpoint.connect_lazy())
}

/// A raft client for a peer's `RaftService`.
pub fn client(channel: Channel) -> RaftServiceClient<Channel> {
    RaftServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// In-process fault injection: the peers (by URL) this node cannot reach, and the links it
/// delays. Tests cut and slow links with it deterministically, without root; every internal call
/// (raft, forwarding, read index, log shipping) checks it before going out. Empty in production.
///
/// A delay is one-way and per message, like netem's: a raft RPC waits `base ± jitter` before it is
/// sent; a log-shipping stream holds every message it receives for `base ± jitter` (in order, as a
/// delay line, so the stream's throughput is kept and only its latency grows). The WAN delay
/// applies to every cross-region link (log shipping), whatever the peer region's addresses.
#[derive(Clone, Debug, Default)]
pub struct Faults(std::sync::Arc<std::sync::RwLock<FaultState>>);

#[derive(Debug, Default)]
struct FaultState {
    blocked: std::collections::HashSet<String>,
    delayed: std::collections::HashMap<String, Delay>,
    wan: Option<Delay>,
}

/// A one-way message delay: `base`, plus or minus up to `jitter`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delay {
    /// The mean delay.
    pub base: Duration,
    /// The most the delay differs from `base`, either way.
    pub jitter: Duration,
}

impl Delay {
    /// One message's delay: uniform in `base ± jitter` (never below zero). Not deterministic on
    /// purpose; it is used only on the network path, never in apply.
    pub fn sample(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.base;
        }
        let span = self.jitter.as_nanos() as u64 * 2 + 1;
        let offset = crate::rng::Rng::from_entropy().below(span);
        (self.base + Duration::from_nanos(offset)).saturating_sub(self.jitter)
    }
}

impl Faults {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FaultState> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FaultState> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Cuts this node's outgoing link to `addr`.
    pub fn block(&self, addr: &str) {
        self.write().blocked.insert(addr.to_string());
    }

    /// Delays this node's messages to (raft) or from (log shipping) `addr`.
    pub fn delay(&self, addr: &str, delay: Delay) {
        self.write().delayed.insert(addr.to_string(), delay);
    }

    /// Delays every message of this node's cross-region links (log shipping), as a WAN would.
    pub fn set_wan_delay(&self, delay: Option<Delay>) {
        self.write().wan = delay;
    }

    /// Restores every link: no cuts, no delays (the WAN delay included).
    pub fn heal(&self) {
        *self.write() = FaultState::default();
    }

    /// Whether the link to `addr` is cut.
    pub fn blocked(&self, addr: &str) -> bool {
        let state = self.read();
        !state.blocked.is_empty() && state.blocked.contains(addr)
    }

    /// The delay of the region-local link to `addr`, if any.
    pub fn delay_of(&self, addr: &str) -> Option<Delay> {
        self.read().delayed.get(addr).copied()
    }

    /// The delay of the cross-region link to `addr`: its own, or the WAN delay.
    pub fn wan_delay_of(&self, addr: &str) -> Option<Delay> {
        let state = self.read();
        state.delayed.get(addr).copied().or(state.wan)
    }
}

/// Channels to peers by URL, one each, made on first use (a tonic channel multiplexes requests
/// and reconnects by itself). The raft network shares one among every connection it makes:
/// openraft asks for a new client for every leadership check — each linearizable read's quorum round — and every
/// election; a fresh channel would be a TCP connect and an HTTP/2 handshake each time, on the
/// read's critical path. A tonic channel multiplexes requests and reconnects by itself.
///
/// With TLS every channel is mutual TLS: the node presents its own certificate.
#[derive(Clone, Debug, Default)]
pub struct Channels {
    map: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Channel>>>,
    tls: Option<std::sync::Arc<ClientTlsConfig>>,
}

impl Channels {
    /// Channels over `tls` (none: plaintext).
    pub fn new(tls: Option<ClientTlsConfig>) -> Channels {
        Channels { map: Default::default(), tls: tls.map(std::sync::Arc::new) }
    }

    /// The channel to `addr`, made (lazily connecting, from `local` if given) on first use.
    pub fn get(&self, addr: &str, local: Option<IpAddr>) -> Result<Channel, String> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ch) = map.get(addr) {
            return Ok(ch.clone());
        }
        let ch = channel(addr, local, self.tls.as_deref())?;
        map.insert(addr.to_string(), ch.clone());
        Ok(ch)
    }
}

/// Creates connections to peers.
#[derive(Clone, Debug)]
pub struct Network {
    /// The local address to bind outgoing connections to.
    pub local: Option<IpAddr>,
    /// Links cut for tests.
    pub faults: Faults,
    /// Sees the answers to this node's vote requests (see [`super::election`]).
    pub elections: Elections,
    /// The channels every connection shares.
    pub channels: Channels,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &NodeInfo) -> Connection {
        Connection {
            target,
            addr: node.addr.clone(),
            local: self.local,
            client: None,
            faults: self.faults.clone(),
            elections: self.elections.clone(),
            channels: self.channels.clone(),
        }
    }
}

/// A connection to one peer.
pub struct Connection {
    target: u64,
    addr: String,
    local: Option<IpAddr>,
    client: Option<RaftServiceClient<Channel>>,
    faults: Faults,
    elections: Elections,
    channels: Channels,
}

#[derive(Clone, Copy)]
enum Method {
    Append,
    Vote,
    Snapshot,
}

impl Connection {
    async fn call<Req, Resp, E>(
        &mut self,
        method: Method,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<u64, NodeInfo, RaftError<u64, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        if self.faults.blocked(&self.addr) {
            let e = Text(format!(
                "the link to node {} at {} is cut (fault injection)",
                self.target, self.addr
            ));
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        }
        if let Some(delay) = self.faults.delay_of(&self.addr) {
            tokio::time::sleep(delay.sample()).await;
        }
        let data = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&Text(e))))?;
        if self.client.is_none() {
            let ch = self
                .channels
                .get(&self.addr, self.local)
                .map_err(|e| RPCError::Unreachable(Unreachable::new(&Text(e))))?;
            self.client = Some(client(ch));
        }
        let client = self.client.as_mut().expect("connected above");
        fn timed<T>(message: T, ttl: Duration) -> tonic::Request<T> {
            let mut request = tonic::Request::new(message);
            request.set_timeout(ttl);
            request
        }
        let result = match method {
            Method::Append => client
                .append_entries(timed(pb::AppendEntriesRequest { data }, ttl))
                .await
                .map(|r| r.into_inner().data),
            Method::Vote => {
                client.vote(timed(pb::VoteRequest { data }, ttl)).await.map(|r| r.into_inner().data)
            }
            Method::Snapshot => client
                .install_snapshot(timed(pb::InstallSnapshotRequest { data }, ttl))
                .await
                .map(|r| r.into_inner().data),
        };
        let reply = match result {
            Ok(data) => data,
            Err(status) => {
                let e = Text(format!(
                    "{} to node {} at {}: {status}",
                    method.name(),
                    self.target,
                    self.addr
                ));
                return Err(match status.code() {
                    tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::new(&e)),
                    _ => RPCError::Network(NetworkError::new(&e)),
                });
            }
        };
        let answer: Result<Resp, RaftError<u64, E>> =
            decode(&reply).map_err(|e| RPCError::Network(NetworkError::new(&Text(e))))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Append => "append-entries",
            Method::Vote => "vote",
            Method::Snapshot => "install-snapshot",
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        self.call(Method::Append, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, NodeInfo, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(Method::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        let mut resp = self.call(Method::Vote, &rpc, option.hard_ttl()).await?;
        self.elections.vote_answered(&rpc, &mut resp);
        Ok(resp)
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // A peer that is down is retried every 200 ms: soon enough to notice it is back, rarely
        // enough to cost nothing.
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// A plain error message as an `Error`.
#[derive(Debug)]
pub struct Text(pub String);

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Text {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_stays_within_its_jitter() {
        let d = Delay { base: Duration::from_millis(50), jitter: Duration::from_millis(10) };
        let samples: Vec<Duration> = (0..200).map(|_| d.sample()).collect();
        assert!(samples.iter().all(|s| *s >= Duration::from_millis(40)));
        assert!(samples.iter().all(|s| *s <= Duration::from_millis(60)));
        // Not a constant: the jitter is used.
        assert!(samples.iter().any(|s| *s != samples[0]));
        let fixed = Delay { base: Duration::from_millis(5), jitter: Duration::ZERO };
        assert_eq!(fixed.sample(), Duration::from_millis(5));
    }

    #[test]
    fn faults_cut_delay_and_heal_links() {
        let f = Faults::default();
        let d = Delay { base: Duration::from_millis(7), jitter: Duration::ZERO };
        assert!(!f.blocked("a") && f.delay_of("a").is_none() && f.wan_delay_of("a").is_none());
        f.block("a");
        f.delay("b", d);
        f.set_wan_delay(Some(Delay { base: Duration::from_millis(9), ..d }));
        assert!(f.blocked("a") && !f.blocked("b"));
        assert_eq!(f.delay_of("b"), Some(d));
        // A link's own delay wins over the WAN delay; other links get the WAN delay.
        assert_eq!(f.wan_delay_of("b"), Some(d));
        assert_eq!(f.wan_delay_of("c").map(|d| d.base), Some(Duration::from_millis(9)));
        assert_eq!(f.delay_of("c"), None);
        f.heal();
        assert!(!f.blocked("a") && f.delay_of("b").is_none() && f.wan_delay_of("c").is_none());
    }
}
