//! The twinstore side of `twinstore bench`: the bench model and its twins, the key space, the
//! connections (each a [`Client`] with its own channels and leader discovery), and one operation.
//!
//! A put writes twin `bench-<n>` of the bench model `dtmi:twinstore:bench:Device;1` (uploaded
//! first unless it exists) with a string payload that makes it about `--value-size` bytes, and the
//! operation's number as a double; a patch replaces that double; a get reads the twin.

use super::bench::{Plan, Workload, invalid, key, progress, value_of};
use super::output::{CliError, CliResult, OutputFormat};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use twinstore::client::{Client, ClientError, ClientOptions, Conditions, Consistency};
use twinstore::error::ErrorCode;

/// The bench model's id.
pub(crate) const BENCH_MODEL: &str = "dtmi:twinstore:bench:Device;1";
/// The largest string property a twin may have (ADT's limit).
const MAX_PAYLOAD: usize = twinstore::model::limits::MAX_STRING_VALUE_BYTES;

/// The bench model (DTDL v3).
fn bench_model() -> String {
    json!({
        "@context": "dtmi:dtdl:context;3",
        "@id": BENCH_MODEL,
        "@type": "Interface",
        "displayName": "twinstore bench device",
        "contents": [
            {"@type": "Property", "name": "payload", "schema": "string"},
            {"@type": "Property", "name": "value", "schema": "double"}
        ]
    })
    .to_string()
}

/// A bench twin of about `size` bytes.
pub(super) fn twin_json(payload: &str, value: u64) -> String {
    format!(
        "{{\"$metadata\":{{\"$model\":\"{BENCH_MODEL}\"}},\"payload\":\"{payload}\",\"value\":{value}}}"
    )
}

/// The payload that makes a twin of about `size` bytes.
pub(super) fn payload_for(size: usize) -> CliResult<String> {
    let overhead = twin_json("", 0).len() + 4;
    let len = size.saturating_sub(overhead).max(1);
    if len > MAX_PAYLOAD {
        return Err(invalid(format!(
            "--value-size {size} is too large: a string property holds at most {MAX_PAYLOAD} \
             bytes, so at most {} here",
            MAX_PAYLOAD + overhead
        )));
    }
    Ok(value_of(len))
}

/// Uploads the bench model unless it is there.
async fn ensure_model(client: &Client) -> CliResult {
    match client.get_model(BENCH_MODEL, false, Consistency::Linearizable).await {
        Ok(_) => return Ok(()),
        Err(e) if e.code == Some(ErrorCode::ModelNotFound) => {}
        Err(e) => return Err(CliError::from(e).context("reading the bench model")),
    }
    match client.add_models(&format!("[{}]", bench_model())).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == Some(ErrorCode::ModelAlreadyExists) => Ok(()),
        Err(e) => Err(CliError::from(e).context("uploading the bench model")),
    }
}

/// Creates the key space (for patch and get), with a few concurrent writers.
async fn prepare_keys(client: &Client, plan: &Plan, payload: &Arc<str>) -> CliResult {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..plan.clients.clamp(4, 32) {
        let (client, next, payload, keys) =
            (client.clone(), next.clone(), payload.clone(), plan.keys);
        set.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= keys {
                    return Ok::<(), ClientError>(());
                }
                client.put_twin(&key(n), &twin_json(&payload, n), Conditions::none()).await?;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CliError::from(e).context("creating the bench twins")),
            Err(e) => {
                return Err(CliError::new(ErrorCode::Internal, format!("a task failed: {e}")));
            }
        }
    }
    Ok(())
}

/// The connections of a run, the leader, and a client for the read-back check; the bench model is
/// uploaded and, for patch and get, the twins are created first.
pub(super) async fn setup(
    endpoints: &[String],
    options: &ClientOptions,
    plan: &Plan,
    payload: &Arc<str>,
    format: OutputFormat,
) -> CliResult<(Vec<Client>, Option<String>, Client)> {
    let setup = Client::with_options(endpoints, options.clone())?;
    ensure_model(&setup).await?;
    if plan.workload != Workload::Put {
        progress(format, &format!("creating {} bench twins ...", plan.keys));
        prepare_keys(&setup, plan, payload).await?;
    }
    let leader = match setup.leader() {
        Some(l) => Some(l),
        None => setup.discover_leader().await,
    };
    // The connections: local reads start at different endpoints, everything else at the leader.
    let spread = plan.workload == Workload::Get && plan.consistency == Consistency::Local;
    let mut conns = Vec::with_capacity(plan.conns);
    for i in 0..plan.conns {
        let mut eps = endpoints.to_vec();
        if spread && !eps.is_empty() {
            let n = i % eps.len();
            eps.rotate_left(n);
        }
        let client = Client::with_options(&eps, options.clone())?;
        if !spread {
            client.discover_leader().await;
        }
        // Open the connection before the clock starts.
        let _ = client.get_twin(&key(0), plan.consistency).await;
        conns.push(client);
    }
    Ok((conns, leader, setup))
}

/// One operation of the workload on twin `id`; `n` is the operation's number.
pub(super) async fn op(
    client: &Client,
    plan: &Plan,
    id: &str,
    n: u64,
    payload: &str,
) -> Result<(), ClientError> {
    match plan.workload {
        Workload::Put => {
            client.put_twin(id, &twin_json(payload, n), Conditions::none()).await.map(|_| ())
        }
        Workload::Patch => {
            let patch = format!("[{{\"op\":\"replace\",\"path\":\"/value\",\"value\":{n}}}]");
            client.patch_twin(id, &patch, Conditions::none()).await.map(|_| ())
        }
        Workload::Get => client.get_twin(id, plan.consistency).await.map(|_| ()),
    }
}

/// Whether twin `id` is there, read linearizably (the read-back check).
pub(super) async fn exists(client: &Client, id: &str) -> CliResult<bool> {
    match client.get_twin(id, Consistency::Linearizable).await {
        Ok(_) => Ok(true),
        Err(e) if e.code == Some(ErrorCode::DigitalTwinNotFound) => Ok(false),
        Err(e) => Err(CliError::from(e).context("reading back acknowledged writes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn twins_have_about_the_asked_size() {
        for size in [100, 1024, 4000] {
            let t = twin_json(&payload_for(size).unwrap(), 123_456);
            assert!(t.len().abs_diff(size) < 16, "{size}: {}", t.len());
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["$metadata"]["$model"], BENCH_MODEL);
        }
        assert!(payload_for(1 << 20).is_err());
        let m: Value = serde_json::from_str(&bench_model()).unwrap();
        assert_eq!(m["@id"], BENCH_MODEL);
    }
}
