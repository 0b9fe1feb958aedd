//! Integration tests of service health and resource health: real regions in-process on 127.0.0.1
//! (3-node raft groups, and DR pairs), failures caused for real (nodes shut down, a primary region
//! lost, a forced failover), and the incidents, resource health, `grpc.health.v1`, `/metrics` and
//! the status page (in headless Chromium) checked from the outside. Every wait is bounded.

#[path = "health/browser.rs"]
mod browser;
mod common;
#[path = "health/prometheus.rs"]
mod prometheus;

use browser::{output_dir, run_chromium};
use common::region::{Region, timed_channel};
use prometheus::{parse_prometheus, value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use twinstore::health::Thresholds;
use twinstore::pb;
use twinstore::pb::dr_service_client::DrServiceClient;
use twinstore::pb::health_service_client::HealthServiceClient;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::storage::dr::Role;

const MODEL: &str = r#"[{"@id": "dtmi:health:Device;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "n", "schema": "integer"}]}]"#;

/// How long any one condition may take to show.
const WAIT: Duration = Duration::from_secs(25);

/// Detection thresholds short enough for tests.
fn thresholds() -> Thresholds {
    Thresholds {
        period: Duration::from_millis(200),
        probe_timeout: Duration::from_millis(300),
        node_down_after: Duration::from_millis(800),
        quorum_lost_after: Duration::from_millis(1500),
        region_unreachable_after: Duration::from_millis(1500),
        lag_for: Duration::from_millis(600),
        fenced_for: Duration::from_millis(500),
        merge_every: Duration::from_millis(500),
        sample_every: Duration::from_millis(200),
        ..Thresholds::default()
    }
}

/// How long one RPC may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

fn channel(addr: &str) -> Channel {
    timed_channel(addr, RPC_TIMEOUT)
}

fn health(addr: &str) -> HealthServiceClient<Channel> {
    HealthServiceClient::new(channel(addr))
}

/// A region `name` of `n` nodes, none started, each serving HTTP, with the short [`thresholds`]
/// and RPCs of at most [`RPC_TIMEOUT`].
fn region(name: &str, n: usize, role: Role, peer_name: &str) -> Region {
    let mut r = Region::new(name, n, role, peer_name);
    r.serve_http = true;
    r.thresholds = thresholds();
    r.rpc_timeout = RPC_TIMEOUT;
    r
}

/// What the health tests ask of a region, beyond the shared harness.
impl Region {
    /// The incidents node `i` holds; none when it does not answer.
    async fn incidents(&self, i: usize) -> Vec<pb::Incident> {
        match health(&self.addrs[i]).list_incidents(pb::ListIncidentsRequest::default()).await {
            Ok(r) => r.into_inner().incidents,
            Err(_) => Vec::new(),
        }
    }

    /// Waits until an incident held by node `i` satisfies `f`.
    async fn wait_incident_on(
        &self,
        i: usize,
        what: &str,
        f: impl Fn(&pb::Incident) -> bool,
    ) -> pb::Incident {
        let deadline = Instant::now() + WAIT;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.incidents(i).await;
            if let Some(found) = last.iter().find(|x| f(x)) {
                return found.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let view = health(&self.addrs[i]).region_health(pb::RegionHealthRequest {}).await;
        panic!(
            "region {} node {}: timed out waiting for {what}; incidents: {last:#?}; view: {view:#?}",
            self.name,
            i + 1
        );
    }

    /// Waits until some live node holds an incident satisfying `f`.
    async fn wait_incident(&self, what: &str, f: impl Fn(&pb::Incident) -> bool) -> pb::Incident {
        let deadline = Instant::now() + WAIT;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            for i in self.live() {
                let all = self.incidents(i).await;
                if let Some(found) = all.iter().find(|x| f(x)) {
                    return found.clone();
                }
                last = all;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("region {}: timed out waiting for {what}; incidents: {last:#?}", self.name);
    }

    /// Waits until node `i`'s view of its region satisfies `f`.
    async fn wait_region(
        &self,
        i: usize,
        what: &str,
        f: impl Fn(&pb::RegionHealth) -> bool,
    ) -> pb::RegionHealth {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(r) = health(&self.addrs[i]).region_health(pb::RegionHealthRequest {}).await {
                let r = r.into_inner().region.expect("a region view");
                if f(&r) {
                    return r;
                }
                last = Some(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "region {} node {}: timed out waiting for {what}; last view: {last:#?}",
            self.name,
            i + 1
        );
    }
}

fn state(r: &pb::RegionHealth) -> pb::HealthState {
    r.state()
}

fn has_reason(r: &pb::RegionHealth, text: &str) -> bool {
    r.reasons.iter().any(|x| x.contains(text))
}

/// The `grpc.health.v1` status of `service` on the node at `addr`.
async fn grpc_health(addr: &str, service: &str) -> i32 {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    HealthClient::new(channel(addr))
        .check(HealthCheckRequest { service: service.into() })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

async fn wait_grpc_health(addr: &str, service: &str, want: tonic_health::ServingStatus) {
    let deadline = Instant::now() + WAIT;
    let mut last = -1;
    while Instant::now() < deadline {
        last = grpc_health(addr, service).await;
        if last == want as i32 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr}: grpc.health.v1 for '{service}' stayed {last}, wanted {want:?}");
}

/// A plain HTTP GET on the node's HTTP port: (status code, body).
async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the HTTP answer took over 10 s")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP head");
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

async fn add_model(addr: &str) {
    ModelServiceClient::new(channel(addr))
        .add_models(pb::AddModelsRequest { models_json: MODEL.into(), options: None })
        .await
        .unwrap();
}

async fn put(addr: &str, id: &str, n: i64) -> u64 {
    let doc = serde_json::json!({"$metadata": {"$model": "dtmi:health:Device;1"}, "n": n});
    TwinServiceClient::new(channel(addr))
        .put_twin(pb::PutTwinRequest { id: id.into(), twin_json: doc.to_string(), options: None })
        .await
        .unwrap()
        .into_inner()
        .index
}

/// Runs the CLI against `endpoint` (off the async runtime: it blocks).
async fn cli(endpoint: &str, args: &[&str]) -> common::Out {
    let endpoint = endpoint.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        common::run(&endpoint, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_is_an_incident_mitigated_when_it_returns() {
    let mut r = region("west", 3, Role::Primary, "");
    r.start_all().await;
    let leader = r.wait_leader().await;
    let down = (leader + 1) % 3;
    let id = down as u64 + 1;
    r.wait_region(leader, "the region to be Available", |v| state(v) == pb::HealthState::Available)
        .await;

    r.kill(down).await;
    let incident = r
        .wait_incident_on(leader, "a node-down incident", |i| {
            i.kind == "node_down" && i.nodes == [id] && i.status == "Active"
        })
        .await;
    assert_eq!(incident.title, "twinstore - west - Active");
    assert_eq!(incident.region, "west");
    assert_eq!(incident.owner, "west");
    assert!(incident.summary.contains("unreachable"), "{incident:?}");
    let view = r
        .wait_region(leader, "the region to be Degraded", |v| {
            state(v) == pb::HealthState::Degraded && has_reason(v, "unreachable")
        })
        .await;
    let node = view.nodes.iter().find(|n| n.id == id).unwrap();
    assert!(!node.reachable);
    assert_eq!(node.state(), pb::HealthState::Unavailable);
    // Every live node holds the incident (it is replicated in the region).
    let other = (0..3).find(|i| *i != leader && *i != down).unwrap();
    r.wait_incident_on(other, "the incident on a follower", |i| i.id == incident.id).await;

    r.start(down).await;
    let mitigated = r
        .wait_incident_on(leader, "the incident to be mitigated", |i| {
            i.id == incident.id && i.status == "Mitigated"
        })
        .await;
    assert_eq!(mitigated.title, "twinstore - west - Mitigated");
    assert_eq!(mitigated.updates.len(), 2);
    assert_eq!(mitigated.updates[1].status, "Mitigated");
    assert!(mitigated.mitigated_ns >= mitigated.started_ns);
    r.wait_region(leader, "the region to be Available again", |v| {
        state(v) == pb::HealthState::Available
    })
    .await;

    // The CLI shows the same.
    let endpoint = r.addrs[leader].clone();
    let out = cli(&endpoint, &["health"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("region west  primary"), "{}", out.stdout);
    assert!(out.stdout.contains("Available"), "{}", out.stdout);
    let out = cli(&endpoint, &["health", "--history", "--since", "10m"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&incident.id), "{}", out.stdout);
    assert!(out.stdout.contains("twinstore - west - Mitigated"), "{}", out.stdout);
    let json =
        cli(&endpoint, &["--output", "json", "health", "incident", &incident.id]).await.json();
    assert_eq!(json["status"], "Mitigated");
    assert_eq!(json["updates"].as_array().unwrap().len(), 2);
    let json = cli(&endpoint, &["--output", "json", "health"]).await.json();
    assert_eq!(json["regions"][0]["region"], "west");
    assert_eq!(json["regions"][0]["nodes"].as_array().unwrap().len(), 3);
    let out = cli(&endpoint, &["health", "incident", "no-such-incident"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_is_recorded_as_leader_lost_and_node_down() {
    let mut r = region("west", 3, Role::Primary, "");
    r.start_all().await;
    let old = r.wait_leader().await;
    let old_id = old as u64 + 1;
    // Let every node see the leader for a moment.
    r.wait_region((old + 1) % 3, "a healthy region", |v| state(v) == pb::HealthState::Available)
        .await;
    r.kill(old).await;
    let new = r.wait_leader().await;
    assert_ne!(new, old);
    let lost = r
        .wait_incident("a leader-lost incident", |i| i.kind == "leader_lost" && i.nodes == [old_id])
        .await;
    assert_eq!(lost.status, "Mitigated", "the election is the mitigation: {lost:?}");
    assert_eq!(lost.updates.len(), 2);
    assert!(lost.updates[1].message.contains(&format!("node {} was elected", new + 1)), "{lost:?}");
    let down = r
        .wait_incident("the old leader down", |i| {
            i.kind == "node_down" && i.nodes == [old_id] && i.status == "Active"
        })
        .await;
    r.start(old).await;
    r.wait_incident("the old leader back", |i| i.id == down.id && i.status == "Mitigated").await;
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_quorum_makes_the_region_unavailable_until_it_is_restored() {
    let mut r = region("west", 3, Role::Primary, "");
    r.start_all().await;
    let leader = r.wait_leader().await;
    r.wait_region(leader, "a healthy region", |v| state(v) == pb::HealthState::Available).await;
    let twins = twinstore::pb::twin_service_server::SERVICE_NAME;
    let cluster = twinstore::pb::cluster_service_server::SERVICE_NAME;
    assert_eq!(
        grpc_health(&r.addrs[leader], twins).await,
        tonic_health::ServingStatus::Serving as i32
    );

    // First: both followers die; the leader is alone.
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for f in &followers {
        r.kill(*f).await;
    }
    let view = r
        .wait_region(leader, "the region to be Unavailable", |v| {
            state(v) == pb::HealthState::Unavailable && has_reason(v, "quorum lost")
        })
        .await;
    assert!(has_reason(&view, "only 1 of 3 voters are reachable"), "{view:?}");
    let pending = r
        .wait_incident_on(leader, "a pending quorum-lost incident", |i| {
            i.kind == "quorum_lost" && i.status == "Active" && i.pending
        })
        .await;
    let mut nodes = pending.nodes.clone();
    nodes.sort();
    assert_eq!(nodes, followers.iter().map(|f| *f as u64 + 1).collect::<Vec<_>>());
    wait_grpc_health(&r.addrs[leader], twins, tonic_health::ServingStatus::NotServing).await;
    wait_grpc_health(&r.addrs[leader], "", tonic_health::ServingStatus::NotServing).await;
    assert_eq!(
        grpc_health(&r.addrs[leader], cluster).await,
        tonic_health::ServingStatus::Serving as i32
    );
    let (code, body) = http_get(r.http[leader], "/healthz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("quorum lost"), "{body}");

    for f in &followers {
        r.start(*f).await;
    }
    let first = r
        .wait_incident("the quorum loss recorded and mitigated", |i| {
            i.kind == "quorum_lost" && i.status == "Mitigated" && !i.pending
        })
        .await;
    assert_eq!(first.title, "twinstore - west - Mitigated");
    assert!(first.updates.last().unwrap().message.contains("quorum restored"), "{first:?}");
    let leader = r.wait_leader().await;
    r.wait_region(leader, "the region Available again", |v| state(v) == pb::HealthState::Available)
        .await;
    wait_grpc_health(&r.addrs[leader], twins, tonic_health::ServingStatus::Serving).await;

    // Second: the leader and a follower die; the survivor has no leader at all.
    let survivor = (leader + 1) % 3;
    for i in (0..3).filter(|i| *i != survivor) {
        r.kill(i).await;
    }
    r.wait_region(survivor, "the survivor to see no quorum", |v| {
        state(v) == pb::HealthState::Unavailable
    })
    .await;
    r.wait_incident_on(survivor, "a pending quorum loss on the survivor", |i| {
        i.kind == "quorum_lost" && i.pending
    })
    .await;
    wait_grpc_health(&r.addrs[survivor], twins, tonic_health::ServingStatus::NotServing).await;
    for i in (0..3).filter(|i| *i != survivor) {
        r.start(i).await;
    }
    r.wait_incident("the second quorum loss recorded", |i| {
        i.kind == "quorum_lost" && i.status == "Mitigated" && !i.pending && i.id != first.id
    })
    .await;
    wait_grpc_health(&r.addrs[survivor], twins, tonic_health::ServingStatus::Serving).await;
    r.shutdown().await;
}

/// A primary region and its standby.
/// A primary region "west" of `primary` nodes and its standby "east" of `standby` nodes (with
/// the standby's health thresholds), both started.
async fn pair(primary: usize, standby: usize, thresholds: Thresholds) -> (Region, Region) {
    let mut p = region("west", primary, Role::Primary, "east");
    let mut s = region("east", standby, Role::Standby, "west");
    s.thresholds = thresholds;
    p.peer = s.addrs.clone();
    s.peer = p.addrs.clone();
    p.start_all().await;
    s.start_all().await;
    (p, s)
}

async fn dr_status(addr: &str) -> Option<pb::DrStatusResponse> {
    DrServiceClient::new(channel(addr))
        .dr_status(pb::DrStatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_primary_a_forced_failover_and_reprotect_are_recorded_in_both_regions() {
    let (mut p, s) = pair(1, 1, thresholds()).await;
    let (west, east) = (p.addrs[0].clone(), s.addrs[0].clone());
    add_model(&west).await;
    let mut last = 0;
    for n in 0..5 {
        last = put(&west, &format!("d{n}"), n).await;
    }
    let deadline = Instant::now() + WAIT;
    while dr_status(&east).await.is_none_or(|d| d.replicated_index < last) {
        assert!(Instant::now() < deadline, "the standby did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.wait_region(0, "the standby Available", |v| state(v) == pb::HealthState::Available).await;

    // The primary region is lost: shipping stops.
    p.kill_all().await;
    let unreachable = s
        .wait_incident_on(0, "primary region unreachable", |i| {
            i.kind == "region_unreachable" && i.region == "west" && i.status == "Active"
        })
        .await;
    assert_eq!(unreachable.owner, "east");
    assert_eq!(unreachable.title, "twinstore - west - Active");
    let view = s.wait_region(0, "shipping stopped", |v| has_reason(v, "shipping stopped")).await;
    assert_eq!(state(&view), pb::HealthState::Degraded);

    // Forced failover: recorded with its RPO.
    let resp = DrServiceClient::new(channel(&east))
        .failover(pb::FailoverRequest { planned: false })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.epoch, 2);
    let failover = s
        .wait_incident_on(0, "the failover incident", |i| {
            i.kind == "failover" && i.status == "Mitigated"
        })
        .await;
    assert!(failover.summary.contains("forced failover"), "{failover:?}");
    assert!(failover.summary.contains("RPO"), "{failover:?}");
    assert_eq!(failover.updates.len(), 2);
    s.wait_region(0, "east primary at epoch 2", |v| {
        v.dr_role() == pb::DrRole::Primary && v.dr_epoch == 2
    })
    .await;

    // The old primary returns: it fences itself, says so, and learns what happened while it was
    // gone; the new primary sees it again.
    p.start_all().await;
    wait_grpc_health(&west, "", tonic_health::ServingStatus::NotServing).await;
    let view = p.wait_region(0, "west fenced", |v| has_reason(v, "fenced")).await;
    assert_eq!(state(&view), pb::HealthState::Degraded);
    let fenced = p
        .wait_incident_on(0, "a fenced incident", |i| i.kind == "fenced" && i.status == "Active")
        .await;
    assert_eq!(fenced.owner, "west");
    p.wait_incident_on(0, "the failover, merged from east", |i| {
        i.id == failover.id && i.owner == "east" && i.status == "Mitigated"
    })
    .await;
    p.wait_incident_on(0, "east's view of the outage, merged", |i| i.id == unreachable.id).await;
    s.wait_incident_on(0, "the outage mitigated", |i| {
        i.id == unreachable.id && i.status == "Mitigated"
    })
    .await;
    s.wait_incident_on(0, "west's fenced incident, merged", |i| i.id == fenced.id).await;

    // Reprotect: recorded, the fence incident mitigated, the node serving again.
    DrServiceClient::new(channel(&west)).reprotect(pb::ReprotectRequest {}).await.unwrap();
    p.wait_incident_on(0, "the reprotect incident", |i| {
        i.kind == "reprotect" && i.status == "Mitigated"
    })
    .await;
    p.wait_incident_on(0, "the fence mitigated", |i| i.id == fenced.id && i.status == "Mitigated")
        .await;
    wait_grpc_health(&west, "", tonic_health::ServingStatus::Serving).await;

    // Both regions converge on the same history.
    let deadline = Instant::now() + WAIT;
    loop {
        let key = |v: Vec<pb::Incident>| -> BTreeSet<(String, u64)> {
            v.into_iter().map(|i| (i.id, i.version)).collect()
        };
        let (a, b) = (key(p.incidents(0).await), key(s.incidents(0).await));
        if a == b && !a.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the regions' histories differ: {a:?} vs {b:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_lag_over_its_threshold_is_an_incident() {
    // Any lag at all is over a threshold of 0 s.
    let strict = Thresholds { lag_seconds: 0.0, ..thresholds() };
    let (p, s) = pair(1, 1, strict).await;
    add_model(&p.addrs[0]).await;
    put(&p.addrs[0], "x", 1).await;
    let lag = s
        .wait_incident_on(0, "a replication-lag incident", |i| {
            i.kind == "replication_lag" && i.status == "Active"
        })
        .await;
    assert_eq!(lag.region, "east");
    assert!(lag.summary.contains("behind"), "{lag:?}");
    let view = s.wait_region(0, "lag in the reasons", |v| has_reason(v, "replication lag")).await;
    assert_eq!(state(&view), pb::HealthState::Degraded);
    // The status page's chart has samples.
    assert!(!view.lag_samples.is_empty());
    p.shutdown().await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let mut r = region("west", 3, Role::Primary, "");
    r.start_all().await;
    let leader = r.wait_leader().await;
    add_model(&r.addrs[leader]).await;
    for n in 0..10 {
        put(&r.addrs[leader], &format!("m{n}"), n).await;
    }
    let (code, text) = http_get(r.http[leader], "/metrics").await;
    assert_eq!(code, 200);
    let samples = parse_prometheus(&text);
    let node = (leader + 1).to_string();
    let base = [("region", "west"), ("node", node.as_str())];
    let put_twin = "/twinstore.v1.TwinService/PutTwin";
    let puts =
        value(&samples, "twinstore_rpc_requests_total", &[("method", put_twin), ("code", "OK")]);
    assert!(puts.is_some_and(|n| n >= 10.0), "PutTwin calls: {puts:?}");
    assert!(
        value(&samples, "twinstore_rpc_duration_seconds_count", &[("method", put_twin)])
            .is_some_and(|n| n >= 10.0)
    );
    assert_eq!(value(&samples, "twinstore_raft_is_leader", &base), Some(1.0));
    assert!(value(&samples, "twinstore_raft_term", &base).is_some_and(|t| t >= 1.0));
    assert!(value(&samples, "twinstore_raft_applied_index", &base).is_some_and(|t| t >= 11.0));
    assert!(value(&samples, "twinstore_raft_last_log_index", &base).is_some());
    assert!(value(&samples, "twinstore_raft_snapshot_index", &base).is_some());
    assert!(value(&samples, "twinstore_raft_follower_lag_entries", &[]).is_some());
    assert_eq!(value(&samples, "twinstore_dr_epoch", &base), Some(1.0));
    assert!(value(&samples, "twinstore_dr_replication_lag_seconds", &base).is_some());
    assert!(value(&samples, "twinstore_dr_replication_lag_entries", &base).is_some());
    assert!(value(&samples, "twinstore_storage_bytes", &base).is_some_and(|b| b > 0.0));
    assert!(
        value(&samples, "twinstore_incidents", &[("kind", "node_down"), ("status", "Active")])
            .is_some()
    );
    assert_eq!(
        value(&samples, "twinstore_health", &[("scope", "node"), ("state", "Available")]),
        Some(1.0)
    );
    // A follower's too.
    let follower = (leader + 1) % 3;
    let (code, text) = http_get(r.http[follower], "/metrics").await;
    assert_eq!(code, 200);
    let samples = parse_prometheus(&text);
    assert_eq!(value(&samples, "twinstore_raft_is_leader", &[]), Some(0.0));
    // Unknown paths and methods.
    assert_eq!(http_get(r.http[leader], "/nope").await.0, 404);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_both_regions_their_nodes_and_incidents_in_chromium() {
    let (mut p, s) = pair(3, 1, thresholds()).await;
    let leader = p.wait_leader().await;
    add_model(&p.addrs[leader]).await;
    for n in 0..5 {
        put(&p.addrs[leader], &format!("s{n}"), n).await;
    }
    p.wait_region(leader, "a healthy primary", |v| state(v) == pb::HealthState::Available).await;
    // An incident to show: a follower of the primary goes down.
    let down = (leader + 1) % 3;
    p.kill(down).await;
    let incident = p
        .wait_incident_on(leader, "a node-down incident", |i| {
            i.kind == "node_down" && i.status == "Active"
        })
        .await;
    // Let the chart collect a few samples.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let url = format!("http://127.0.0.1:{}/", p.http[leader]);
    let (code, html) = http_get(p.http[leader], "/").await;
    assert_eq!(code, 200);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external assets");

    let dom = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run_chromium(&url, &["--dump-dom".into()])
    })
    .await
    .unwrap();
    assert!(dom.contains("twinstore status"), "{dom}");
    assert!(dom.contains("data-region=\"west\""), "the primary region is shown");
    assert!(dom.contains("data-region=\"east\""), "the standby region is shown");
    for id in 1..=3 {
        assert!(dom.contains(&format!("data-node=\"{id}\"")), "node {id} is shown");
    }
    assert!(
        dom.contains(&format!("data-incident-id=\"{}\"", incident.id)),
        "the incident is shown"
    );
    assert!(dom.contains("twinstore - west - Active"));
    assert!(dom.contains("<svg"), "a lag chart is drawn");
    // The script ran: times are shown in the reader's locale, not as the server's UTC text.
    assert!(!dom.contains(" UTC</time>"), "the page's script did not run");

    let shot = output_dir().join("status.png");
    let _ = std::fs::remove_file(&shot);
    let args = vec![format!("--screenshot={}", shot.display()), "--window-size=1400,1100".into()];
    tokio::task::spawn_blocking(move || run_chromium(&url, &args)).await.unwrap();
    let png = std::fs::read(&shot).expect("chromium saved no screenshot");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    assert!(png.len() > 10_000, "the screenshot is suspiciously small");
    p.shutdown().await;
    s.shutdown().await;
}

/// Regenerates the README's screenshot of the status page (`scripts/screenshots/status.png`):
/// `cargo test --test health readme_screenshot -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "regenerates the README's screenshot; run by hand"]
async fn readme_screenshot() {
    let (mut p, s) = pair(3, 3, thresholds()).await;
    let leader = p.wait_leader().await;
    add_model(&p.addrs[leader]).await;
    let write_for = |addr: String, from: i64, millis: u64| async move {
        let until = Instant::now() + Duration::from_millis(millis);
        let mut n = from;
        while Instant::now() < until {
            put(&addr, &format!("room-{}", n % 50), n).await;
            n += 1;
        }
    };
    write_for(p.addrs[leader].clone(), 0, 3000).await;
    // A follower goes down and comes back.
    let follower = (leader + 1) % 3;
    p.kill(follower).await;
    let down = p
        .wait_incident_on(leader, "node down", |i| i.kind == "node_down" && i.status == "Active")
        .await;
    write_for(p.addrs[leader].clone(), 1000, 1500).await;
    p.start(follower).await;
    p.wait_incident_on(leader, "node back", |i| i.id == down.id && i.status == "Mitigated").await;
    // The leader dies and stays down.
    p.kill(leader).await;
    let new = p.wait_leader().await;
    p.wait_incident_on(new, "leader lost", |i| i.kind == "leader_lost").await;
    p.wait_incident_on(new, "old leader down", |i| {
        i.kind == "node_down" && i.status == "Active" && i.nodes == [leader as u64 + 1]
    })
    .await;
    write_for(p.addrs[new].clone(), 2000, 4000).await;
    let url = format!("http://127.0.0.1:{}/", p.http[new]);
    let shot = common::repo_path("scripts/screenshots/status.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let args = vec![format!("--screenshot={}", shot.display()), "--window-size=1300,1250".into()];
    tokio::task::spawn_blocking(move || run_chromium(&url, &args)).await.unwrap();
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    p.shutdown().await;
    s.shutdown().await;
}
