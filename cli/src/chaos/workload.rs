//! The recorded workload: clients doing twin creates (PUT), conditional writes (a read, then a
//! JSON Patch with If-Match), linearizable and `LOCAL` reads, and relationship writes and reads,
//! on a bounded set of keys, each operation written to the history with its times and outcome.
//!
//! Every key is a register (see [`history`](super::history)): twin `chaos-K`'s property `v`, or
//! the property `v` of the relationship `link` from `chaos-K` to another workload twin (keys
//! `chaos-K/link`; a twin may not have a relationship to itself, so with one key there are no
//! relationship keys). A relationship is a document with its own ETag that a PUT replaces
//! whole, and replacing its source twin leaves it alone, so it is a register exactly like a twin —
//! one whose writes may also fail because a twin it names does not exist yet.
//!
//! An error is a definite failure only when the server decided it deterministically (a failed
//! precondition, a missing twin, a validation error); a timeout, a dropped connection,
//! `Unavailable` or `Internal` may hide a write that did take effect, so those are recorded as
//! `unknown` — never assumed to have failed.
//!
//! [`finals`] reads every node's value of every key after the run. A node that does not answer
//! is reported as unreachable, never as "the key does not exist there": the two mean opposite
//! things to the checker (an unreachable node proves nothing; a node without the key lost
//! every write of it).

use super::checker::{Finals, NodeState, Unreachable};
use super::history::{Kind, Op, Outcome};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig};
use twinstore::client::Bearer;
use twinstore::pb;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::relationship_service_client::RelationshipServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::rng::Rng;

/// The workload's model id. It stays the same as the model grows: a deployment made for a chaos
/// run is fresh, and [`prepare`] refuses an older model of the same id.
pub const MODEL_ID: &str = "dtmi:twinstore:chaos:Register;1";

/// The workload's relationship: its name, and its id on every source twin.
pub const LINK: &str = "link";

/// The model of the workload's twins: one `long` property, and the relationship `link` to another
/// such twin carrying one `long` property.
pub const MODEL: &str = r#"[{"@id": "dtmi:twinstore:chaos:Register;1", "@type": "Interface",
  "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "v", "schema": "long"},
    {"@type": "Relationship", "name": "link", "target": "dtmi:twinstore:chaos:Register;1",
     "properties": [{"@type": "Property", "name": "v", "schema": "long"}]}]}]"#;

/// Out of 100 operations, how many are on a relationship key (when there are any).
const LINK_PERCENT: u64 = 15;

/// How the workload runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The nodes' URLs; client `c` talks to `endpoints[c % len]`.
    pub endpoints: Vec<String>,
    /// How to reach a secure deployment: TLS and a bearer token.
    pub access: Access,
    /// Concurrent clients.
    pub clients: u32,
    /// Twins (keys) the clients share.
    pub keys: u32,
    /// How long to run.
    pub duration: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Seed of the clients' choices.
    pub seed: u64,
    /// Added to every recorded time: where this run starts on a timeline shared with other runs
    /// (0: the run's own start).
    pub offset_ns: u64,
    /// The first client's number (clients are numbered from it), so the values of two runs that
    /// share one history never collide.
    pub client_base: u32,
}

/// Uploads the workload's model (if missing). A deployment that already holds a model of the same
/// id without the `link` relationship (an older workload's) is refused: every relationship write
/// would fail there.
pub async fn prepare(endpoint: &str, access: &Access) -> Result<(), String> {
    let mut models = ModelServiceClient::new(service(endpoint, None, access)?);
    match models.add_models(pb::AddModelsRequest { models_json: MODEL.into(), options: None }).await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::AlreadyExists => {
            let request = pb::GetModelRequest {
                id: MODEL_ID.into(),
                include_definition: true,
                options: None,
            };
            let existing = models.get_model(request).await.map_err(|s| s.to_string())?;
            if declares_link(&existing.into_inner().model_json) {
                Ok(())
            } else {
                Err(format!(
                    "the deployment holds an older {MODEL_ID} without the '{LINK}' relationship: \
                     run the workload against a fresh deployment"
                ))
            }
        }
        Err(s) => Err(s.to_string()),
    }
}

/// Whether a stored model (`{"id", ..., "model": <DTDL>}`) declares the `link` relationship.
fn declares_link(model_json: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(model_json) else { return false };
    let contents = doc["model"]["contents"].as_array().cloned().unwrap_or_default();
    contents.iter().any(|c| {
        let relationship = match &c["@type"] {
            serde_json::Value::String(t) => t == "Relationship",
            serde_json::Value::Array(ts) => ts.iter().any(|t| t == "Relationship"),
            _ => false,
        };
        relationship && c["name"] == LINK
    })
}

/// Runs the workload; returns the history.
pub async fn run(settings: Settings) -> Vec<Op> {
    let history = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in settings.client_base..settings.client_base.saturating_add(settings.clients) {
        let s = settings.clone();
        let history = history.clone();
        tasks.push(tokio::spawn(async move { client(c, s, start, history).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut ops = std::mem::take(&mut *history.lock().unwrap_or_else(|e| e.into_inner()));
    ops.sort_by_key(|o| o.invoke);
    ops
}

/// A twin's name in the workload.
pub fn key_name(k: u32) -> String {
    format!("chaos-{k}")
}

/// The key of twin `k`'s relationship `link`.
pub fn link_key(k: u32) -> String {
    format!("chaos-{k}/{LINK}")
}

/// Every key a workload over `keys` twins uses: the twins, and their relationships when there are
/// at least two twins.
pub fn key_names(keys: u32) -> Vec<String> {
    registers(keys).map(Register::key).collect()
}

fn registers(keys: u32) -> impl Iterator<Item = Register> {
    let links = if keys >= 2 { keys } else { 0 };
    (0..keys).map(Register::Twin).chain((0..links).map(Register::Link))
}

/// One register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// Twin `k`'s property `v`.
    Twin(u32),
    /// The property `v` of twin `k`'s relationship `link`.
    Link(u32),
}

impl Register {
    fn key(self) -> String {
        match self {
            Register::Twin(k) => key_name(k),
            Register::Link(k) => link_key(k),
        }
    }
}

/// How the workload reaches a secure deployment: TLS for `https://` endpoints (the deployment's
/// CA) and a bearer token for every call; both empty for a plaintext one.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// The TLS configuration.
    pub tls: Option<ClientTlsConfig>,
    /// The token, sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
}

/// A node's calls: a channel with the token added.
type Svc = InterceptedService<Channel, Bearer>;

/// A lazily connecting channel to `endpoint` (over TLS for an `https://` one), sending the token.
fn service(endpoint: &str, timeout: Option<Duration>, access: &Access) -> Result<Svc, String> {
    let bearer = Bearer::new(access.token.as_deref()).map_err(|e| e.to_string())?;
    Ok(InterceptedService::new(channel(endpoint, timeout, access.tls.as_ref())?, bearer))
}

/// A lazily connecting channel to `endpoint`, over TLS for an `https://` one.
fn channel(
    endpoint: &str,
    timeout: Option<Duration>,
    tls: Option<&ClientTlsConfig>,
) -> Result<Channel, String> {
    let mut ep =
        Channel::from_shared(endpoint.to_string()).map_err(|e| format!("{endpoint}: {e}"))?;
    if let Some(t) = timeout {
        ep = ep.timeout(t);
    }
    if endpoint.starts_with("https://") {
        let tls = tls.ok_or_else(|| format!("{endpoint} is a TLS endpoint: give the CA (--ca)"))?;
        ep = ep.tls_config(tls.clone()).map_err(|e| format!("{endpoint}: {e}"))?;
    }
    Ok(ep.connect_lazy())
}

/// One node's twin and relationship services.
struct Conn {
    twins: TwinServiceClient<Svc>,
    rels: RelationshipServiceClient<Svc>,
}

impl Conn {
    fn new(endpoint: &str, timeout: Duration, access: &Access) -> Result<Self, String> {
        let ch = service(endpoint, Some(timeout), access)?;
        Ok(Conn {
            twins: TwinServiceClient::new(ch.clone()),
            rels: RelationshipServiceClient::new(ch),
        })
    }

    /// Creates or replaces the register with `value`; a relationship points at twin `target`.
    async fn write(&mut self, reg: Register, value: i64, target: u32) -> Result<(), tonic::Status> {
        match reg {
            Register::Twin(k) => {
                let doc = json!({"$metadata": {"$model": MODEL_ID}, "v": value});
                let req = pb::PutTwinRequest {
                    id: key_name(k),
                    twin_json: doc.to_string(),
                    options: None,
                };
                self.twins.put_twin(req).await.map(drop)
            }
            Register::Link(k) => {
                let doc =
                    json!({"$targetId": key_name(target), "$relationshipName": LINK, "v": value});
                let req = pb::PutRelationshipRequest {
                    source_id: key_name(k),
                    relationship_id: LINK.into(),
                    relationship_json: doc.to_string(),
                    options: None,
                };
                self.rels.put_relationship(req).await.map(drop)
            }
        }
    }

    /// Reads the register: its value and ETag, `(None, "")` when it does not exist.
    async fn read(
        &mut self,
        reg: Register,
        consistency: pb::Consistency,
    ) -> Result<(Option<i64>, String), tonic::Status> {
        let options = Some(pb::ReadOptions { consistency: consistency as i32 });
        let r = match reg {
            Register::Twin(k) => self
                .twins
                .get_twin(pb::GetTwinRequest { id: key_name(k), options })
                .await
                .map(|r| r.into_inner())
                .map(|r| (r.twin_json, r.etag)),
            Register::Link(k) => self
                .rels
                .get_relationship(pb::GetRelationshipRequest {
                    source_id: key_name(k),
                    relationship_id: LINK.into(),
                    options,
                })
                .await
                .map(|r| r.into_inner())
                .map(|r| (r.relationship_json, r.etag)),
        };
        match r {
            Ok((doc, etag)) => {
                let doc: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
                Ok((doc["v"].as_i64(), etag))
            }
            // No twin, or no relationship (or no source twin): the register is empty.
            Err(e) if e.code() == tonic::Code::NotFound => Ok((None, String::new())),
            Err(e) => Err(e),
        }
    }

    /// Replaces the register's value by a JSON Patch, if its ETag is still `etag`.
    async fn cas(&mut self, reg: Register, value: i64, etag: String) -> Result<(), tonic::Status> {
        let patch_json = json!([{"op": "replace", "path": "/v", "value": value}]).to_string();
        let options = Some(pb::WriteOptions { if_match: etag, ..Default::default() });
        match reg {
            Register::Twin(k) => self
                .twins
                .patch_twin(pb::PatchTwinRequest { id: key_name(k), patch_json, options })
                .await
                .map(drop),
            Register::Link(k) => self
                .rels
                .patch_relationship(pb::PatchRelationshipRequest {
                    source_id: key_name(k),
                    relationship_id: LINK.into(),
                    patch_json,
                    options,
                })
                .await
                .map(drop),
        }
    }
}

fn outcome_of(s: &tonic::Status) -> Outcome {
    let code = s.metadata().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("");
    // The connection was never made: the request was not sent, so it cannot have taken effect.
    if code.is_empty()
        && s.code() == tonic::Code::Unavailable
        && format!("{s:?}").contains("tcp connect error")
    {
        return Outcome::Failed;
    }
    match (s.code(), code) {
        (_, "Unavailable" | "NotLeader" | "Internal") => Outcome::Unknown,
        (
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown
            | tonic::Code::Internal,
            _,
        ) => Outcome::Unknown,
        _ => Outcome::Failed,
    }
}

/// How a write ended: its return time (none when unknown) and outcome.
fn ended(r: &Result<(), tonic::Status>, now: u64) -> (Option<u64>, Outcome) {
    match r {
        Ok(()) => (Some(now), Outcome::Ok),
        Err(e) => {
            let o = outcome_of(e);
            ((o != Outcome::Unknown).then_some(now), o)
        }
    }
}

async fn client(c: u32, s: Settings, start: Instant, history: Arc<Mutex<Vec<Op>>>) {
    let endpoint = &s.endpoints[c as usize % s.endpoints.len()];
    let Ok(mut conn) = Conn::new(endpoint, s.timeout, &s.access) else { return };
    let mut rng = Rng::new(s.seed ^ (u64::from(c) << 32));
    let mut counter = 0i64;
    let now = || s.offset_ns + start.elapsed().as_nanos() as u64;
    let record = |op: Op| history.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    let pause = || tokio::time::sleep(Duration::from_millis(50));
    while start.elapsed() < s.duration {
        let k = rng.below(u64::from(s.keys)) as u32;
        let reg = if s.keys >= 2 && rng.chance(LINK_PERCENT) {
            Register::Link(k)
        } else {
            Register::Twin(k)
        };
        let key = reg.key();
        counter += 1;
        let value = (i64::from(c) << 40) | counter;
        // Out of 20: 8 writes, 3 LOCAL reads, 3 linearizable reads, 6 reads followed by a
        // conditional write.
        let choice = rng.below(20);
        if choice < 8 {
            // A relationship's target: any other workload twin.
            let target = (k + 1 + rng.below(u64::from(s.keys.max(2) - 1)) as u32) % s.keys;
            let invoke = now();
            let r = conn.write(reg, value, target).await;
            let (ret, outcome) = ended(&r, now());
            record(Op { client: c, key, kind: Kind::Write { value }, invoke, ret, outcome });
            if outcome != Outcome::Ok {
                // Do not spin against a node that is down.
                pause().await;
            }
            continue;
        }
        let local = choice < 11;
        let consistency =
            if local { pb::Consistency::Local } else { pb::Consistency::Linearizable };
        let invoke = now();
        let (current, etag) = match conn.read(reg, consistency).await {
            Ok(seen) => seen,
            // A read that failed or timed out observed nothing: it constrains nothing.
            Err(_) => {
                pause().await;
                continue;
            }
        };
        let kind =
            if local { Kind::LocalRead { value: current } } else { Kind::Read { value: current } };
        let ret = Some(now());
        record(Op { client: c, key: key.clone(), kind, invoke, ret, outcome: Outcome::Ok });
        let (Some(expect), true) = (current, choice >= 14) else { continue };
        let invoke = now();
        let r = conn.cas(reg, value, etag).await;
        let (ret, outcome) = ended(&r, now());
        record(Op { client: c, key, kind: Kind::Cas { expect, value }, invoke, ret, outcome });
    }
}

/// How many times [`finals`] asks a node for a key before calling the node unreachable.
const FINAL_ATTEMPTS: u32 = 3;

/// Each node's final value of every key of a workload over `keys` twins (`LOCAL` reads), for the
/// checker. A node is either read completely or listed as unreachable with its last error (after
/// `FINAL_ATTEMPTS` tries of one key); a key that does not exist on a node is `None`.
pub async fn finals(endpoints: &[String], keys: u32, access: &Access) -> Finals {
    let mut out = Finals::default();
    for node in endpoints {
        match node_state(node, keys, access).await {
            Ok(values) => out.nodes.push(NodeState { node: node.clone(), values }),
            Err(error) => out.unreachable.push(Unreachable { node: node.clone(), error }),
        }
    }
    out
}

async fn node_state(
    node: &str,
    keys: u32,
    access: &Access,
) -> Result<BTreeMap<String, Option<i64>>, String> {
    let mut conn = Conn::new(node, Duration::from_secs(5), access)?;
    let mut values = BTreeMap::new();
    for reg in registers(keys) {
        let mut attempt = 1;
        let value = loop {
            match conn.read(reg, pb::Consistency::Local).await {
                Ok((value, _)) => break value,
                Err(e) if attempt >= FINAL_ATTEMPTS => {
                    return Err(format!("reading {}: {}", reg.key(), describe(&e)));
                }
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        values.insert(reg.key(), value);
    }
    Ok(values)
}

/// A status as "code: message: cause: ...", the transport's causes included (a bare
/// "tcp connect error" does not say whether the connection was refused or timed out).
fn describe(e: &tonic::Status) -> String {
    let mut out = format!("{:?}: {}", e.code(), e.message());
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(&format!(": {text}"));
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_declares_the_link_relationship() {
        let batch =
            twinstore::model::dtdl::parse_batch(MODEL).expect("the workload's model parses");
        assert_eq!(batch.len(), 1);
        let stored = json!({"id": MODEL_ID, "model": serde_json::from_str::<serde_json::Value>(MODEL).unwrap()[0]});
        assert!(declares_link(&stored.to_string()));
        let old = json!({"id": MODEL_ID, "model": {"contents": [
            {"@type": "Property", "name": "v", "schema": "long"}]}});
        assert!(!declares_link(&old.to_string()));
        assert!(!declares_link("not json"));
    }

    #[test]
    fn relationship_keys_exist_only_with_two_twins_or_more() {
        assert_eq!(key_names(1), vec!["chaos-0"]);
        assert_eq!(key_names(2), vec!["chaos-0", "chaos-1", "chaos-0/link", "chaos-1/link"]);
        assert_eq!(Register::Link(3).key(), link_key(3));
    }

    #[tokio::test]
    async fn a_node_that_does_not_answer_is_unreachable_not_empty() {
        // Nothing listens on port 1.
        let node = "http://127.0.0.1:1".to_string();
        let f = finals(std::slice::from_ref(&node), 2, &Access::default()).await;
        assert!(f.nodes.is_empty(), "{f:?}");
        assert_eq!(f.unreachable.len(), 1);
        assert_eq!(f.unreachable[0].node, node);
        let error = &f.unreachable[0].error;
        assert!(error.starts_with("reading chaos-0: "), "{error}");
    }
}
