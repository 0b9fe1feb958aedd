//! Failure tests with in-process fault injection: a recorded workload (twins, relationships,
//! linearizable and LOCAL reads) runs against a 3-node region while links are cut; the checker
//! then proves the history linearizable and every node's final state consistent with it.
//! Deterministic (seeded) and needs no root.

use std::time::{Duration, Instant};
use tonic::transport::Channel;
use twinstore::pb;
use twinstore::pb::cluster_service_client::ClusterServiceClient;
use twinstore::server::{Node, NodeConfig};
use twinstore_cli::chaos::history::{Kind, Outcome};
use twinstore_cli::chaos::{checker, report, workload};

async fn status(addr: &str) -> Option<pb::ClusterStatusResponse> {
    let ch =
        Channel::from_shared(addr.to_string()).ok()?.timeout(Duration::from_secs(2)).connect_lazy();
    ClusterServiceClient::new(ch)
        .cluster_status(pb::ClusterStatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

async fn start3() -> (Vec<Node>, Vec<String>, Vec<tempfile::TempDir>) {
    let mut nodes = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    let mut dirs = Vec::new();
    for id in 1..=3u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut c = NodeConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap());
        c.id = id;
        if id > 1 {
            c.join = Some(addrs[0].clone());
        }
        let n = Node::start(c).await.unwrap();
        addrs.push(format!("http://{}", n.addr()));
        nodes.push(n);
        dirs.push(dir);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = status(&addrs[0]).await
            && s.members.iter().filter(|m| m.voter).count() == 3
            && s.leader_id != 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "the group did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (nodes, addrs, dirs)
}

/// Waits until every node has applied the same index (quiesced).
async fn quiesce(addrs: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut applied = Vec::new();
        for a in addrs {
            applied.push(status(a).await.map(|s| s.last_applied_index));
        }
        if applied.iter().all(|a| a.is_some() && *a == applied[0]) {
            return;
        }
        assert!(Instant::now() < deadline, "the nodes did not quiesce: {applied:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_loses_nothing_and_serves_no_stale_read() {
    let (nodes, addrs, _dirs) = start3().await;
    workload::prepare(&addrs[0], &Default::default()).await.unwrap();
    // Again: the model is there already, with its relationship.
    workload::prepare(&addrs[1], &Default::default()).await.unwrap();
    let settings = workload::Settings {
        endpoints: addrs.clone(),
        access: Default::default(),
        clients: 6,
        keys: 5,
        duration: Duration::from_secs(5),
        timeout: Duration::from_secs(2),
        seed: 7,
        offset_ns: 0,
        client_base: 0,
    };
    let run = tokio::spawn(workload::run(settings));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Isolate the leader: both directions of both of its links.
    let leader = status(&addrs[0]).await.unwrap().leader_id as usize - 1;
    for (i, n) in nodes.iter().enumerate() {
        for (j, a) in addrs.iter().enumerate() {
            if i != j && (i == leader || j == leader) {
                n.faults().block(a);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for n in &nodes {
        n.faults().heal();
    }
    let history = run.await.unwrap();
    quiesce(&addrs).await;
    let finals = workload::finals(&addrs, 5, &Default::default()).await;
    assert!(finals.unreachable.is_empty(), "{:?}", finals.unreachable);
    assert_eq!(finals.nodes.len(), 3);
    assert_eq!(finals.nodes[0].values.len(), 10, "5 twins and their 5 relationships");
    let verdict = checker::check(&history, &finals);
    let summary = report::Summary::of(&history);
    eprint!("{}", report::text(&summary, &verdict));
    let ok_on = |link: bool| {
        history
            .iter()
            .filter(|o| o.outcome == Outcome::Ok && o.key.ends_with("/link") == link)
            .filter(|o| o.kind.written().is_some())
            .count()
    };
    let local_reads = history.iter().filter(|o| matches!(o.kind, Kind::LocalRead { .. })).count();
    assert!(summary.ok > 50, "too few operations succeeded: {}", summary.ok);
    assert!(ok_on(false) > 10, "too few twin writes succeeded: {}", ok_on(false));
    assert!(ok_on(true) > 0, "no relationship write succeeded");
    assert!(local_reads > 0, "no LOCAL read");
    assert!(
        summary.longest_unavailable_ms() < 5000,
        "the region took no write for {} ms",
        summary.longest_unavailable_ms()
    );
    assert!(verdict.ok(), "violations: {:#?}", verdict.violations);
    for n in nodes {
        n.shutdown().await;
    }
}
