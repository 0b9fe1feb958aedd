//! The endpoints a client talks to, each with a channel opened on first use, and where the leader
//! is.
//!
//! Channels are created lazily (`connect_lazy`) the first time an endpoint is tried, inside the
//! caller's tokio runtime, so building a [`Client`](super::Client) needs neither a runtime nor a
//! reachable node. The pool remembers the endpoint that answered last and starts there.
//!
//! **Leader discovery.** Writes and linearizable reads are best sent to the leader of the primary
//! region: any node of that region takes them (a follower forwards a write to the leader and asks
//! it for a read index), but going to the leader saves that hop; a node of the standby region
//! refuses writes (`ReadOnlyRegion`). The pool asks every endpoint, at once and briefly, for its DR
//! status (`DrService.DrStatus`: region, role, epoch, whether it leads) and its raft status
//! (`ClusterService.ClusterStatus`: term, the leader it follows), and picks with `dr::choose`: the
//! primary is the region that says `primary` under the highest epoch, and within it the node that
//! leads (or the leader its members name). The leader's URL may be one the user never listed (a
//! client given one endpoint of a three-node region learns the others): it is added to the
//! endpoint list. A failed call forgets the leader it went to, and its retry discovers again;
//! so does a `ReadOnlyRegion` answer when the client knows more than one region — that is how a
//! client follows a failover with no change in the calling code. Discovery is single-flight: when
//! many calls fail together (a leader dies under load) one of them asks and the others use its
//! answer. A server without `DrService` is judged by its raft status alone, and one without
//! `ClusterService` either leaves the pool on plain rotation through its endpoints.

use super::dr::{self, Probe};
use super::error::ClientError;
use super::retry::RetryPolicy;
use crate::error::ErrorCode;
use crate::pb;
use crate::pb::cluster_service_client::ClusterServiceClient;
use crate::pb::dr_service_client::DrServiceClient;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// A channel that adds the client's credential, if it has one, to every call.
pub(super) type Conn = InterceptedService<Channel, Bearer>;

/// The `authorization: Bearer <token>` entry the client sends with every call (see
/// [`Client::with_token`](super::Client::with_token)); empty when it has no token. An
/// interceptor, so a program talking to the generated gRPC clients directly can send the same.
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// The entry for `token` (`None`: send no credential).
    pub fn new(token: Option<&str>) -> Result<Bearer, ClientError> {
        match token.map(str::trim) {
            None => Ok(Bearer(None)),
            Some(t) => Ok(Bearer(Some(format!("Bearer {t}").parse().map_err(|_| {
                ClientError::local(
                    ErrorCode::InvalidArgument,
                    "the token is not usable in a header (printable ASCII only)",
                )
            })?))),
        }
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long leader discovery waits for the `DrStatus` and `ClusterStatus` answers.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Once a node has said it leads, how long discovery waits for the others' answers.
const LEADER_GRACE: Duration = Duration::from_millis(30);
/// After a discovery that found no leader, calls that have not failed yet do not start another one
/// for this long (retries always may).
const DISCOVERY_QUIET: Duration = Duration::from_millis(500);

/// Where a call should go first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// The leader when known (writes, linearizable reads, membership changes).
    Leader,
    /// Any endpoint: the one that answered last (local reads).
    Any,
}

/// The endpoint one attempt goes to.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The endpoint's index in the pool.
    pub(super) index: usize,
    /// Whether it was chosen as the leader.
    leader: bool,
    /// The discovery generation when it was chosen.
    generation: u64,
}

struct Slot {
    url: String,
    endpoint: Endpoint,
    channel: OnceLock<Channel>,
}

impl Slot {
    fn channel(&self) -> Channel {
        self.channel.get_or_init(|| self.endpoint.connect_lazy()).clone()
    }
}

#[derive(Default)]
struct LeaderState {
    /// The leader's endpoint index, when known.
    index: Option<usize>,
    /// Bumped at the end of every discovery.
    generation: u64,
    /// When the last discovery that found no leader ended.
    failed_at: Option<Instant>,
    /// The primary region and its epoch, as last discovered.
    primary: Option<(String, u64)>,
    /// The highest DR epoch any node has shown this client: a primary under an older one has
    /// been replaced.
    max_epoch: u64,
    /// The region of each endpoint that has said which it is in, by URL.
    regions: BTreeMap<String, String>,
}

/// The endpoints of a client.
pub(super) struct Pool {
    /// Append-only: indices stay valid.
    slots: RwLock<Vec<Arc<Slot>>>,
    preferred: AtomicUsize,
    leader: Mutex<LeaderState>,
    discovery: tokio::sync::Mutex<()>,
    /// False when the servers have no `ClusterService` (or discovery was turned off).
    discovery_enabled: AtomicBool,
    /// Channels to nodes asked for their status that are not in the endpoint list.
    others: Mutex<Vec<Arc<Slot>>>,
    /// TLS for `https://` endpoints.
    tls: Option<ClientTlsConfig>,
    /// The credential sent with every call.
    bearer: RwLock<Bearer>,
}

/// `http://host:port` for a URL or a bare `host:port`, without a trailing slash.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") { url.to_string() } else { format!("http://{url}") }
}

/// [`normalize_url`], with a bare `host:port` taken as `https://` when the client uses TLS.
fn normalize_for(url: &str, tls: Option<&ClientTlsConfig>) -> String {
    match tls {
        Some(_) if !url.contains("://") => normalize_url(&format!("https://{}", url.trim())),
        _ => normalize_url(url),
    }
}

fn make_slot(url: &str, tls: Option<&ClientTlsConfig>) -> Result<Slot, ClientError> {
    let url = normalize_for(url, tls);
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| {
            ClientError::local(
                ErrorCode::InvalidArgument,
                format!("'{url}' is not a valid endpoint URL: {e}"),
            )
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if url.starts_with("https://") {
        let Some(tls) = tls else {
            return Err(ClientError::local(
                ErrorCode::InvalidArgument,
                format!(
                    "'{url}' is a TLS endpoint: give the deployment's CA certificate (--ca or \
                     TWINSTORE_CA)"
                ),
            ));
        };
        endpoint = endpoint.tls_config(tls.clone()).map_err(|e| {
            ClientError::local(ErrorCode::InvalidArgument, format!("TLS for '{url}': {e}"))
        })?;
    }
    Ok(Slot { url, endpoint, channel: OnceLock::new() })
}

impl Pool {
    /// Parses the endpoint URLs; a bare `host:port` is taken as `http://host:port`.
    pub(super) fn new<I, S>(urls: I, tls: Option<ClientTlsConfig>) -> Result<Pool, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut slots: Vec<Arc<Slot>> = Vec::new();
        for url in urls {
            if url.as_ref().trim().is_empty() {
                continue;
            }
            let slot = make_slot(url.as_ref(), tls.as_ref())?;
            if !slots.iter().any(|s| s.url == slot.url) {
                slots.push(Arc::new(slot));
            }
        }
        if slots.is_empty() {
            return Err(ClientError::local(
                ErrorCode::InvalidArgument,
                "no endpoint given (e.g. http://127.0.0.1:7000)",
            ));
        }
        Ok(Pool {
            slots: RwLock::new(slots),
            preferred: AtomicUsize::new(0),
            leader: Mutex::new(LeaderState::default()),
            discovery: tokio::sync::Mutex::new(()),
            discovery_enabled: AtomicBool::new(true),
            others: Mutex::new(Vec::new()),
            tls,
            bearer: RwLock::new(Bearer::default()),
        })
    }

    /// Sends `authorization: Bearer <token>` with every call from now on (`None`: no credential).
    pub(super) fn set_token(&self, token: Option<&str>) -> Result<(), ClientError> {
        *self.bearer.write().unwrap_or_else(|e| e.into_inner()) = Bearer::new(token)?;
        Ok(())
    }

    /// `channel` with the client's credential on every call.
    fn conn(&self, channel: Channel) -> Conn {
        InterceptedService::new(
            channel,
            self.bearer.read().unwrap_or_else(|e| e.into_inner()).clone(),
        )
    }

    fn slots(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Slot>>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }

    fn leader_state(&self) -> std::sync::MutexGuard<'_, LeaderState> {
        self.leader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The endpoint URLs, in order (discovered members after the given ones).
    pub(super) fn urls(&self) -> Vec<String> {
        self.slots().iter().map(|s| s.url.clone()).collect()
    }

    fn len(&self) -> usize {
        self.slots().len()
    }

    /// The index of the endpoint to try first for [`Route::Any`].
    pub(super) fn preferred(&self) -> usize {
        self.preferred.load(Ordering::Relaxed) % self.len()
    }

    /// Remembers the endpoint that answered.
    pub(super) fn answered(&self, index: usize) {
        self.preferred.store(index, Ordering::Relaxed);
    }

    /// The endpoint after `index`, wrapping around.
    pub(super) fn next_index(&self, index: usize) -> usize {
        (index + 1) % self.len()
    }

    /// The URL and channel of endpoint `index`; must be called inside a tokio runtime.
    pub(super) fn channel(&self, index: usize) -> (String, Conn) {
        let slot = {
            let slots = self.slots();
            slots[index % slots.len()].clone()
        };
        (slot.url.clone(), self.conn(slot.channel()))
    }

    /// The index of `url`, added to the list if it is not there yet.
    fn index_of(&self, url: &str) -> Option<usize> {
        let url = normalize_for(url, self.tls.as_ref());
        if let Some(i) = self.slots().iter().position(|s| s.url == url) {
            return Some(i);
        }
        let slot = Arc::new(make_slot(&url, self.tls.as_ref()).ok()?);
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = slots.iter().position(|s| s.url == url) {
            return Some(i);
        }
        slots.push(slot);
        Some(slots.len() - 1)
    }

    /// A channel to any node, in the list or not (for status queries of single nodes).
    pub(super) fn channel_to(&self, url: &str) -> Result<(String, Conn), ClientError> {
        let url = normalize_for(url, self.tls.as_ref());
        if let Some(slot) = self.slots().iter().find(|s| s.url == url) {
            return Ok((url.clone(), self.conn(slot.channel())));
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = others.iter().find(|s| s.url == url) {
            return Ok((url.clone(), self.conn(slot.channel())));
        }
        let slot = Arc::new(make_slot(&url, self.tls.as_ref())?);
        let channel = slot.channel();
        others.push(slot);
        Ok((url, self.conn(channel)))
    }

    /// The leader's URL, when known.
    pub(super) fn leader_url(&self) -> Option<String> {
        let index = self.leader_state().index?;
        self.slots().get(index).map(|s| s.url.clone())
    }

    /// Stops leader discovery (servers without `ClusterService`, tests).
    pub(super) fn disable_discovery(&self) {
        self.discovery_enabled.store(false, Ordering::Relaxed);
    }

    /// An attempt to `target` failed with a retryable error: forget it as the leader.
    pub(super) fn failed(&self, target: &Target) {
        let mut state = self.leader_state();
        if target.leader && state.index == Some(target.index) {
            state.index = None;
        }
    }

    /// Where the next attempt of a call goes. `previous` is the target of the attempt that just
    /// failed, if any.
    pub(super) async fn target(
        &self,
        route: Route,
        policy: &RetryPolicy,
        previous: Option<&Target>,
    ) -> Target {
        let fallback = |generation: u64| Target {
            index: match previous {
                None => self.preferred(),
                Some(p) => self.next_index(p.index),
            },
            leader: false,
            generation,
        };
        let (known, generation, failed_at) = {
            let s = self.leader_state();
            (s.index, s.generation, s.failed_at)
        };
        if route == Route::Any || !self.discovery_enabled.load(Ordering::Relaxed) {
            return fallback(generation);
        }
        if let Some(index) = known {
            return Target { index, leader: true, generation };
        }
        if previous.is_none() && failed_at.is_some_and(|t| t.elapsed() < DISCOVERY_QUIET) {
            return fallback(generation);
        }
        // Single flight: whoever gets the lock first asks; the others use its answer.
        let seen = previous.map_or(generation, |p| p.generation.max(generation));
        let _guard = self.discovery.lock().await;
        let current = self.leader_state().generation;
        if current == seen {
            self.discover(policy).await;
        }
        let s = self.leader_state();
        match s.index {
            Some(index) => Target { index, leader: true, generation: s.generation },
            None => fallback(s.generation),
        }
    }

    /// Asks every endpoint for its DR and raft status (concurrently, briefly) and records the
    /// leader of the primary region.
    async fn discover(&self, policy: &RetryPolicy) -> Option<String> {
        let timeout = policy.attempt_timeout.min(DISCOVERY_TIMEOUT);
        let slots: Vec<Arc<Slot>> = self.slots().clone();
        let (known_epoch, known_regions) = {
            let state = self.leader_state();
            (state.max_epoch, state.regions.values().cloned().collect::<BTreeSet<String>>())
        };
        let mut asks = tokio::task::JoinSet::new();
        for slot in slots {
            let channel = self.conn(slot.channel());
            asks.spawn(async move {
                let mut geo = DrServiceClient::new(channel.clone());
                let mut raft = ClusterServiceClient::new(channel);
                let (dr, cluster) = tokio::join!(
                    tokio::time::timeout(timeout, geo.dr_status(pb::DrStatusRequest {})),
                    tokio::time::timeout(timeout, raft.cluster_status(pb::ClusterStatusRequest {})),
                );
                let dr = dr.unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("timeout")));
                let cluster =
                    cluster.unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("timeout")));
                (slot.url.clone(), dr, cluster)
            });
        }
        // Once the primary region's leader (at the highest epoch known) has answered, and a node
        // of every region this client has seen, the others get only a moment more: one of them
        // could still show a higher epoch (a client that has seen no region yet waits for all).
        let mut probes: Vec<Probe> = Vec::new();
        let mut answered_regions: BTreeSet<String> = BTreeSet::new();
        let mut primary_leader_seen = false;
        let mut unimplemented = 0usize;
        let mut answers = 0usize;
        let mut deadline = tokio::time::Instant::now() + timeout + Duration::from_millis(100);
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, asks.join_next()).await {
            let Ok((url, dr, cluster)) = joined else { continue };
            let (dr_missing, cluster_missing) = (
                dr.as_ref().err().is_some_and(|s| s.code() == tonic::Code::Unimplemented),
                cluster.as_ref().err().is_some_and(|s| s.code() == tonic::Code::Unimplemented),
            );
            if dr.is_ok() || cluster.is_ok() || dr_missing || cluster_missing {
                answers += 1;
            }
            if dr_missing && cluster_missing {
                unimplemented += 1;
            }
            let probe = Probe {
                url,
                dr: dr.ok().map(|r| r.into_inner()),
                raft: cluster.ok().map(|r| r.into_inner()),
            };
            let leads_primary = probe.dr.as_ref().is_some_and(|d| {
                d.role() == pb::DrRole::Primary && d.leader && d.epoch >= known_epoch
            }) || (probe.dr.is_none()
                && probe.raft.as_ref().is_some_and(|r| r.role() == pb::RaftRole::Leader));
            primary_leader_seen |= leads_primary;
            if let Some(region) = probe.region() {
                answered_regions.insert(region.to_string());
            }
            if primary_leader_seen
                && !known_regions.is_empty()
                && known_regions.is_subset(&answered_regions)
            {
                deadline = deadline.min(tokio::time::Instant::now() + LEADER_GRACE);
            }
            probes.push(probe);
        }
        asks.abort_all();
        if answers > 0 && unimplemented == answers {
            // A server of a version without ClusterService: rotate as before.
            self.disable_discovery();
        }
        let choice = dr::choose(&probes, known_epoch);
        let index = choice.leader.as_deref().and_then(|url| self.index_of(url));
        let mut state = self.leader_state();
        state.generation += 1;
        state.index = index;
        state.failed_at = if index.is_none() { Some(Instant::now()) } else { None };
        state.max_epoch = state.max_epoch.max(choice.max_epoch);
        state.primary = choice.primary;
        for p in &probes {
            if let Some(region) = p.region() {
                state.regions.insert(p.url.clone(), region.to_string());
            }
        }
        drop(state);
        index.map(|i| self.channel(i).0)
    }

    /// The primary region and its epoch, as last discovered.
    pub(super) fn primary(&self) -> Option<(String, u64)> {
        self.leader_state().primary.clone()
    }

    /// Whether the endpoints have shown more than one region: then a `ReadOnlyRegion` answer
    /// means "the primary is elsewhere" and is worth a rediscovery and a retry.
    pub(super) fn spans_regions(&self) -> bool {
        let state = self.leader_state();
        state.regions.values().collect::<BTreeSet<_>>().len() > 1
    }

    /// Records the region of an endpoint (tests).
    #[cfg(test)]
    pub(super) fn note_region(&self, url: &str, region: &str) {
        self.leader_state().regions.insert(normalize_url(url), region.into());
    }

    /// Forgets the leader (the region may have failed over): the next call discovers again.
    pub(super) fn forget_leader(&self) {
        self.leader_state().index = None;
    }

    /// Discovers the leader now (bypassing the quiet period) and returns its URL.
    pub(super) async fn discover_now(&self, policy: &RetryPolicy) -> Option<String> {
        if !self.discovery_enabled.load(Ordering::Relaxed) {
            return None;
        }
        let _guard = self.discovery.lock().await;
        self.discover(policy).await
    }
}

/// A client id that is very likely unique: the standard library's randomly keyed hasher fed with
/// the time, the process id and a per-process counter.
pub(super) fn random_client_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!("c-{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_bare_addresses() {
        let p =
            Pool::new(["http://127.0.0.1:7000", " 127.0.0.1:7001 ", "", "127.0.0.1:7000/"], None)
                .unwrap();
        assert_eq!(p.urls(), vec!["http://127.0.0.1:7000", "http://127.0.0.1:7001"]);
        assert_eq!(p.next_index(1), 0);
        assert!(Pool::new(Vec::<String>::new(), None).is_err());
        assert!(Pool::new(["http://bad url"], None).is_err());
        // With TLS a bare address is https://; without, an https:// URL asks for the CA.
        let tls = Some(ClientTlsConfig::new());
        let p = Pool::new(["127.0.0.1:7001", "http://127.0.0.1:7002"], tls).unwrap();
        assert_eq!(p.urls(), vec!["https://127.0.0.1:7001", "http://127.0.0.1:7002"]);
        let e = Pool::new(["https://127.0.0.1:7001"], None).err().unwrap();
        assert!(e.message.contains("give the deployment's CA certificate"), "{e}");
    }

    #[test]
    fn discovered_members_join_the_list_once() {
        let p = Pool::new(["http://127.0.0.1:7000"], None).unwrap();
        assert_eq!(p.index_of("127.0.0.1:7000"), Some(0));
        assert_eq!(p.index_of("http://127.0.0.2:7000"), Some(1));
        assert_eq!(p.index_of("http://127.0.0.2:7000/"), Some(1));
        assert_eq!(p.urls().len(), 2);
        assert_eq!(p.next_index(1), 0);
    }

    #[tokio::test]
    async fn a_failed_leader_is_forgotten() {
        let p = Pool::new(["http://127.0.0.1:1", "http://127.0.0.1:2"], None).unwrap();
        p.leader_state().index = Some(1);
        let policy = RetryPolicy::default();
        let t = p.target(Route::Leader, &policy, None).await;
        assert_eq!((t.index, t.leader), (1, true));
        assert_eq!(p.leader_url().as_deref(), Some("http://127.0.0.1:2"));
        // Local reads do not care about the leader.
        assert_eq!(p.target(Route::Any, &policy, None).await.index, 0);
        p.failed(&t);
        assert_eq!(p.leader_url(), None);
        // Nothing answers discovery here: the retry moves on to the next endpoint.
        let next = p.target(Route::Leader, &policy, Some(&t)).await;
        assert_eq!((next.index, next.leader), (0, false));
    }

    #[test]
    fn client_ids_differ() {
        assert_ne!(random_client_id(), random_client_id());
    }
}
