//! The recorded workload: clients doing writes, conditional writes (read, then JSON Patch with
//! If-Match) and linearizable reads on a small set of twins, each operation written to the
//! history with its times and outcome.
//!
//! An error is a definite failure only when the server decided it deterministically (a failed
//! precondition, a validation error); a timeout, a dropped connection, `Unavailable` or `Internal`
//! may hide a write that did take effect, so those are recorded as `unknown` — never assumed to
//! have failed.

use super::history::{Kind, Op, Outcome};
use crate::pb;
use crate::pb::model_service_client::ModelServiceClient;
use crate::pb::twin_service_client::TwinServiceClient;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// The model of the workload's twins: one `long` property.
pub const MODEL: &str = r#"[{"@id": "dtmi:twinstore:chaos:Register;1", "@type": "Interface",
  "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "v", "schema": "long"}]}]"#;

/// How the workload runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The nodes' URLs; client `c` talks to `endpoints[c % len]`.
    pub endpoints: Vec<String>,
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
}

/// Uploads the workload's model (if missing).
pub async fn prepare(endpoint: &str) -> Result<(), String> {
    let channel =
        Channel::from_shared(endpoint.to_string()).map_err(|e| e.to_string())?.connect_lazy();
    match ModelServiceClient::new(channel)
        .add_models(pb::AddModelsRequest { models_json: MODEL.into(), options: None })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(()),
        Err(s) => Err(s.to_string()),
    }
}

/// Runs the workload; returns the history.
pub async fn run(settings: Settings) -> Vec<Op> {
    let history = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..settings.clients {
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

/// A small deterministic generator (splitmix64): the workload's choices come from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

async fn client(c: u32, s: Settings, start: Instant, history: Arc<Mutex<Vec<Op>>>) {
    let endpoint = &s.endpoints[c as usize % s.endpoints.len()];
    let Ok(ch) = Channel::from_shared(endpoint.clone()) else { return };
    let mut twins = TwinServiceClient::new(ch.timeout(s.timeout).connect_lazy());
    let mut rng = Rng(s.seed ^ (u64::from(c) << 32));
    let mut counter = 0i64;
    let now = |start: Instant| start.elapsed().as_nanos() as u64;
    let record = |op: Op| history.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    while start.elapsed() < s.duration {
        let key = key_name((rng.next() % u64::from(s.keys)) as u32);
        counter += 1;
        let value = (i64::from(c) << 40) | counter;
        let choice = rng.next() % 10;
        if choice < 4 {
            let doc =
                json!({"$metadata": {"$model": "dtmi:twinstore:chaos:Register;1"}, "v": value});
            let invoke = now(start);
            let r = twins
                .put_twin(pb::PutTwinRequest {
                    id: key.clone(),
                    twin_json: doc.to_string(),
                    options: None,
                })
                .await;
            let (ret, outcome) = match &r {
                Ok(_) => (Some(now(start)), Outcome::Ok),
                Err(e) => {
                    let o = outcome_of(e);
                    ((o != Outcome::Unknown).then(|| now(start)), o)
                }
            };
            let failed = outcome != Outcome::Ok;
            record(Op { client: c, key, kind: Kind::Write { value }, invoke, ret, outcome });
            if failed {
                // Do not spin against a node that is down.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            // A linearizable read; for a conditional write it is followed by a patch.
            let invoke = now(start);
            let r = twins.get_twin(pb::GetTwinRequest { id: key.clone(), options: None }).await;
            let seen = match r {
                Ok(resp) => {
                    let resp = resp.into_inner();
                    let doc: serde_json::Value =
                        serde_json::from_str(&resp.twin_json).unwrap_or_default();
                    Some((doc["v"].as_i64(), resp.etag))
                }
                Err(e) if e.code() == tonic::Code::NotFound => Some((None, String::new())),
                // A read that failed or timed out observed nothing: it constrains nothing.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    None
                }
            };
            let Some((current, etag)) = seen else { continue };
            record(Op {
                client: c,
                key: key.clone(),
                kind: Kind::Read { value: current },
                invoke,
                ret: Some(now(start)),
                outcome: Outcome::Ok,
            });
            let (Some(expect), true) = (current, choice >= 7) else { continue };
            let patch = json!([{"op": "replace", "path": "/v", "value": value}]).to_string();
            let options = Some(pb::WriteOptions { if_match: etag, ..Default::default() });
            let invoke = now(start);
            let r = twins
                .patch_twin(pb::PatchTwinRequest { id: key.clone(), patch_json: patch, options })
                .await;
            let (ret, outcome) = match &r {
                Ok(_) => (Some(now(start)), Outcome::Ok),
                Err(e) => {
                    let o = outcome_of(e);
                    ((o != Outcome::Unknown).then(|| now(start)), o)
                }
            };
            record(Op { client: c, key, kind: Kind::Cas { expect, value }, invoke, ret, outcome });
        }
    }
}

/// Each node's final value of every key (LOCAL reads), for the checker.
pub async fn finals(
    endpoints: &[String],
    keys: u32,
) -> std::collections::BTreeMap<String, Vec<Option<i64>>> {
    let mut out: std::collections::BTreeMap<String, Vec<Option<i64>>> =
        std::collections::BTreeMap::new();
    for e in endpoints {
        let Ok(ch) = Channel::from_shared(e.clone()) else { continue };
        let mut twins = TwinServiceClient::new(ch.timeout(Duration::from_secs(5)).connect_lazy());
        for k in 0..keys {
            let key = key_name(k);
            let options = Some(pb::ReadOptions { consistency: pb::Consistency::Local as i32 });
            let v = match twins.get_twin(pb::GetTwinRequest { id: key.clone(), options }).await {
                Ok(r) => serde_json::from_str::<serde_json::Value>(&r.into_inner().twin_json)
                    .ok()
                    .and_then(|d| d["v"].as_i64()),
                Err(_) => None,
            };
            out.entry(key).or_default().push(v);
        }
    }
    out
}
