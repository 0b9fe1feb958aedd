//! `twinstore bench --target etcd`: the bench's workloads against etcd's v3 gRPC KV API, so one
//! command measures twinstore and etcd side by side with the same clients, connections, load
//! models and report.
//!
//! - `put` is `etcdserverpb.KV/Put` of a `--value-size`-byte value to key `bench-<n>`;
//! - `get` is `etcdserverpb.KV/Range` of one key, with `serializable` false for
//!   `--consistency linearizable` and true for `--consistency serializable` (or `local`); the keys
//!   are written first. A key that is not there counts as a `NotFound` error.
//!
//! Connection `i` talks to endpoint `i % endpoints` and stays there: there is no leader discovery,
//! since an etcd follower forwards a write (or a linearizable read's ReadIndex) to its leader
//! itself. The calls are made with the generated client of `cli/etcd-proto` (a subset of etcd's
//! own `rpc.proto`), each with a 10 s timeout and no retry: a failed call is counted by its gRPC
//! code, as a failed twinstore call is by its error code.

use super::bench::{Plan, Workload, key, progress};
use super::output::{CliError, CliResult, OutputFormat};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};
use twinstore::client::{Consistency, normalize_url};
use twinstore::error::ErrorCode;

/// The client of etcd's KV service, generated from `cli/etcd-proto` by build.rs.
#[allow(missing_docs, clippy::all)]
mod pb {
    pub mod mvccpb {
        tonic::include_proto!("mvccpb");
    }
    pub mod etcdserverpb {
        tonic::include_proto!("etcdserverpb");
    }
}

use pb::etcdserverpb::kv_client::KvClient;
use pb::etcdserverpb::{PutRequest, RangeRequest};

/// How long one call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the endpoints may take to answer a first read (a member just started may still be
/// electing a leader).
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest value: etcd refuses requests over 1.5 MiB unless started with a larger
/// `--max-request-bytes`.
pub(super) const MAX_VALUE: usize = 1 << 20;

/// One gRPC connection (HTTP/2 channel) to one etcd member; clones share it.
#[derive(Clone, Debug)]
pub(super) struct EtcdConn {
    url: String,
    kv: KvClient<Channel>,
}

impl EtcdConn {
    /// A connection to `url` (`http://host:port` or `host:port`), opened on first use.
    pub(super) fn new(url: &str) -> CliResult<EtcdConn> {
        let url = normalize_url(url);
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| {
                CliError::new(
                    ErrorCode::InvalidArgument,
                    format!("'{url}' is not a valid endpoint URL: {e}"),
                )
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true);
        Ok(EtcdConn { kv: KvClient::new(endpoint.connect_lazy()), url })
    }

    /// The member's URL.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// Puts `value` at `key`.
    pub(super) async fn put(&self, key: &str, value: &[u8]) -> Result<(), Status> {
        self.kv.clone().put(put_request(key, value)).await.map(|_| ())
    }

    /// Reads `key`; true when it is there.
    pub(super) async fn get(&self, key: &str, serializable: bool) -> Result<bool, Status> {
        let reply = self.kv.clone().range(range_request(key, serializable)).await?;
        Ok(reply.into_inner().kvs.iter().any(|kv| kv.key == key.as_bytes()))
    }
}

/// The request of a put: the key, the value, no lease, no previous value asked back.
fn put_request(key: &str, value: &[u8]) -> PutRequest {
    PutRequest { key: key.as_bytes().to_vec(), value: value.to_vec(), ..Default::default() }
}

/// The request of a one-key read: no range end, at most one key, the newest revision.
fn range_request(key: &str, serializable: bool) -> RangeRequest {
    RangeRequest { key: key.as_bytes().to_vec(), limit: 1, serializable, ..Default::default() }
}

/// The name a failed call is counted under: its gRPC code (`Unavailable`, `DeadlineExceeded`, ...).
pub(super) fn code(status: &Status) -> String {
    format!("{:?}", status.code())
}

/// `Code: message`, or `Code` alone when the message is empty.
fn status_text(status: &Status) -> String {
    match status.message() {
        "" => code(status),
        m => format!("{}: {m}", code(status)),
    }
}

/// `count` connections, connection `i` to endpoint `i % endpoints` (round robin).
fn connections(endpoints: &[String], count: usize) -> CliResult<Vec<EtcdConn>> {
    let urls: Vec<&String> = endpoints.iter().filter(|e| !e.trim().is_empty()).collect();
    if urls.is_empty() {
        return Err(CliError::new(ErrorCode::InvalidArgument, "no etcd endpoint given"));
    }
    (0..count.max(1)).map(|i| EtcdConn::new(urls[i % urls.len()])).collect()
}

/// Opens every connection before the clock starts with one read each, waiting (bounded) while a
/// member answers `Unavailable` (no leader yet); any other failure ends the run, since the
/// endpoint is likely not an etcd v3 server.
async fn warm_up(conns: &[EtcdConn], serializable: bool) -> CliResult {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    for conn in conns {
        loop {
            match conn.get("bench-0", serializable).await {
                Ok(_) => break,
                Err(s)
                    if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Cancelled)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(s) => {
                    let hint = if s.code() == tonic::Code::Unavailable {
                        "is etcd running there?"
                    } else {
                        "is it one of etcd's client URLs (--listen-client-urls)?"
                    };
                    return Err(CliError::new(
                        ErrorCode::Unavailable,
                        format!(
                            "etcd at {} did not answer a read ({}); {hint}",
                            conn.url(),
                            status_text(&s)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The connections of a run (round robin over the endpoints), opened, with the keys written first
/// for `get`.
pub(super) async fn setup(
    endpoints: &[String],
    plan: &Plan,
    value: &Arc<str>,
    format: OutputFormat,
) -> CliResult<Vec<EtcdConn>> {
    let conns = connections(endpoints, plan.conns)?;
    warm_up(&conns, plan.consistency == Consistency::Local).await?;
    if plan.workload == Workload::Get {
        progress(format, &format!("writing {} bench keys ...", plan.keys));
        prepare_keys(&conns, plan.keys, plan.clients.clamp(4, 32), value).await?;
    }
    Ok(conns)
}

/// One operation of the workload on `key`; a failure is given as the code it is counted under.
pub(super) async fn op(conn: &EtcdConn, plan: &Plan, key: &str, value: &str) -> Result<(), String> {
    match plan.workload {
        Workload::Put => conn.put(key, value.as_bytes()).await.map_err(|s| code(&s)),
        Workload::Get => match conn.get(key, plan.consistency == Consistency::Local).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("NotFound".into()),
            Err(s) => Err(code(&s)),
        },
        // Refused by the plan.
        Workload::Patch => Err("Unimplemented".into()),
    }
}

/// Whether `key` is there, read linearizably (the read-back check).
pub(super) async fn exists(conn: &EtcdConn, key: &str) -> CliResult<bool> {
    conn.get(key, false).await.map_err(|s| {
        CliError::new(
            ErrorCode::Unavailable,
            format!("reading back acknowledged writes from etcd: {}", status_text(&s)),
        )
    })
}

/// Writes keys `bench-0` .. `bench-<keys - 1>` (for `get`), with a few concurrent writers spread
/// over the connections.
async fn prepare_keys(
    conns: &[EtcdConn],
    keys: u64,
    writers: usize,
    value: &Arc<str>,
) -> CliResult {
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..writers.max(1) {
        let (conn, next, value) = (conns[i % conns.len()].clone(), next.clone(), value.clone());
        set.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= keys {
                    return Ok::<(), Status>(());
                }
                conn.put(&key(n), value.as_bytes()).await?;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(s)) => {
                return Err(CliError::new(
                    ErrorCode::Unavailable,
                    format!("writing the bench keys to etcd: {}", status_text(&s)),
                ));
            }
            Err(e) => {
                return Err(CliError::new(ErrorCode::Internal, format!("a task failed: {e}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::bench::value_of;
    use super::*;
    use prost::Message;

    #[test]
    fn a_put_carries_the_key_and_value_and_nothing_else() {
        let value = value_of(1024);
        let req = put_request("bench-42", value.as_bytes());
        assert_eq!(req.key, b"bench-42");
        assert_eq!(req.value.len(), 1024);
        assert_eq!(
            (req.lease, req.prev_kv, req.ignore_value, req.ignore_lease),
            (0, false, false, false)
        );
        // On the wire: field 1 (key) and field 2 (value), length-delimited, as etcd's PutRequest.
        let wire = req.encode_to_vec();
        assert_eq!(&wire[..10], &[0x0a, 8, b'b', b'e', b'n', b'c', b'h', b'-', b'4', b'2']);
        assert_eq!(&wire[10..13], &[0x12, 0x80, 0x08]);
        assert_eq!(wire.len(), 13 + 1024);
    }

    #[test]
    fn a_read_is_one_key_linearizable_or_serializable() {
        let lin = range_request("bench-7", false);
        assert_eq!(lin.key, b"bench-7");
        assert!(lin.range_end.is_empty());
        assert_eq!((lin.limit, lin.revision, lin.serializable), (1, 0, false));
        assert!(range_request("bench-7", true).serializable);
        // `serializable` is field 7 (a varint), as in etcd's RangeRequest.
        let wire = range_request("k", true).encode_to_vec();
        assert_eq!(wire, vec![0x0a, 1, b'k', 0x18, 1, 0x38, 1]);
    }

    #[test]
    fn values_have_the_asked_size() {
        for size in [0, 1, 1024, 4000] {
            assert_eq!(value_of(size).len(), size);
        }
        assert!(value_of(100).bytes().any(|b| b != b'a'));
    }

    #[tokio::test]
    async fn connections_go_round_robin_over_the_endpoints() {
        let eps = vec!["127.0.0.1:2379".to_string(), "http://127.0.0.2:2379/".to_string()];
        let conns = connections(&eps, 5).unwrap();
        let urls: Vec<&str> = conns.iter().map(|c| c.url()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:2379",
                "http://127.0.0.2:2379",
                "http://127.0.0.1:2379",
                "http://127.0.0.2:2379",
                "http://127.0.0.1:2379"
            ]
        );
        assert!(connections(&[], 2).is_err());
        assert!(connections(&["http://bad host".to_string()], 1).is_err());
    }

    #[test]
    fn failures_are_counted_by_grpc_code() {
        assert_eq!(code(&Status::unavailable("etcdserver: leader changed")), "Unavailable");
        assert_eq!(code(&Status::deadline_exceeded("x")), "DeadlineExceeded");
        assert_eq!(status_text(&Status::unimplemented("")), "Unimplemented");
        assert_eq!(status_text(&Status::unavailable("no leader")), "Unavailable: no leader");
    }
}
