//! End-to-end tests of a three-node region made of separate `twinstore node` processes, driven
//! through the CLI as a user or a script would: each node on its own loopback address
//! (127.0.1.N, as `twinstore up` does) and one port found free on all three. Every wait is bounded.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an election (first or after a kill) may take before the test fails.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Writes must resume this soon after the leader is killed.
const RESUME_WITHIN: Duration = Duration::from_secs(5);

struct Region {
    port: u16,
    peers: String,
    nodes: BTreeMap<u64, NodeProc>,
}

impl Region {
    fn url(&self, id: u64) -> String {
        format!("http://127.0.1.{id}:{}", self.port)
    }

    fn all(&self) -> String {
        (1..=3).map(|id| self.url(id)).collect::<Vec<_>>().join(",")
    }

    fn live(&self) -> String {
        self.nodes.keys().map(|id| self.url(*id)).collect::<Vec<_>>().join(",")
    }
}

/// Starts nodes 1 and 2 with flags and node 3 from a config file, all with the same peers.
fn start_region(dir: &Path) -> Region {
    let port = free_port_on(&region_ips(3));
    let peers: Vec<String> = (1..=3).map(|id| format!("{id}=http://127.0.1.{id}:{port}")).collect();
    let peers = peers.join(",");
    let mut nodes = BTreeMap::new();
    for id in 1..=2u64 {
        let data = dir.join(format!("node{id}"));
        let listen = format!("127.0.1.{id}:{port}");
        let node = NodeProc::start_with(
            &data,
            &[
                "--id",
                &id.to_string(),
                "--data",
                data.to_str().unwrap(),
                "--listen",
                &listen,
                "--peers",
                &peers,
                "--cache-mb",
                "16",
            ],
        );
        assert_eq!(node.addr, listen);
        nodes.insert(id, node);
    }
    let conf = dir.join("node3.toml");
    let quoted: Vec<String> = peers.split(',').map(|p| format!("\"{p}\"")).collect();
    std::fs::write(
        &conf,
        format!(
            "# node 3, from a config file\nid = 3\nregion = \"primary\"\ndata = \"node3\"\n\
             listen = \"127.0.1.3:{port}\"\npeers = [{}]\ncache_mb = 16\n",
            quoted.join(", ")
        ),
    )
    .unwrap();
    let node3 = NodeProc::start_with(&dir.join("node3"), &["--config", conf.to_str().unwrap()]);
    assert_eq!(node3.addr, format!("127.0.1.3:{port}"));
    nodes.insert(3, node3);
    Region { port, peers, nodes }
}

fn etag(doc: &Value) -> String {
    doc["$etag"].as_str().unwrap_or_else(|| panic!("no $etag in {doc}")).to_string()
}

/// Reads `id` from the node at `endpoint` alone with a local read, polling (bounded) until the
/// node has applied it.
fn local_read_eventually(endpoint: &str, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let out = run(endpoint, &["--output", "json", "twin", "get", id, "--consistency", "local"]);
        if out.code == Some(0) {
            return out.json();
        }
        if start.elapsed() > Duration::from_secs(10) {
            panic!("{endpoint} never showed twin {id}: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn twin(n: u64) -> String {
    json!({"$metadata": {"$model": "dtmi:example:Floor;1"}, "level": n}).to_string()
}

#[test]
fn a_region_of_three_processes_elects_serves_and_survives_a_leader_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut region = start_region(dir.path());
    let all = region.all();
    let status = wait_for_leader(&all, 3, ELECTION_TIMEOUT);
    let leader = status["leader_id"].as_u64().unwrap();
    assert_eq!(status["region"], "primary");
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    for n in nodes {
        assert_eq!(n["reachable"], true, "{status}");
        assert_eq!(n["leader_id"], leader, "{status}");
        assert_eq!(n["voter"], true, "{status}");
    }
    // The text table has a row per node and marks the leader.
    let table = run(&all, &["cluster", "status"]);
    assert_eq!(table.code, Some(0), "{table:?}");
    assert_eq!(table.stdout.lines().count(), 5, "{}", table.stdout);
    assert!(table.stdout.lines().any(|l| l.starts_with('*') && l.contains("Leader")));

    // Writes through a follower's endpoint alone succeed.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let fep = region.url(follower);
    let models = repo_path("scripts/sample/models");
    let added = json(&fep, &["model", "add", models.to_str().unwrap()]);
    assert_eq!(added.as_array().unwrap().len(), 5);
    let put = json(&fep, &["twin", "put", "f-0", &twin(0)]);
    let e0 = etag(&put);
    // Every node has it: linearizable through each endpoint, and in each node's own state.
    for id in 1..=3 {
        let ep = region.url(id);
        assert_eq!(etag(&json(&ep, &["twin", "get", "f-0"])), e0, "node {id}");
        assert_eq!(etag(&local_read_eventually(&ep, "f-0")), e0, "node {id}");
    }

    // A steady stream of writes, each through the whole endpoint list, recording what was
    // acknowledged and when.
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, failures, stop, all) =
            (acked.clone(), failures.clone(), stop.clone(), all.clone());
        std::thread::spawn(move || {
            for n in 1..=2_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = format!("w-{n}");
                let out = run(&all, &["--output", "json", "twin", "put", &id, &twin(n)]);
                if out.code == Some(0) {
                    acked.lock().unwrap().push((id, Instant::now()));
                } else {
                    failures.lock().unwrap().push(format!("{id}: {}", out.stderr.trim()));
                }
            }
        })
    };
    let wait_acked = |n: usize| {
        let start = Instant::now();
        while acked.lock().unwrap().len() < n {
            assert!(start.elapsed() < Duration::from_secs(60), "the writes do not progress");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_acked(10);

    // kill -9 the leader.
    let killed_at = Instant::now();
    region.nodes.remove(&leader).unwrap().kill9();
    let before = acked.lock().unwrap().len();
    let start = Instant::now();
    while acked.lock().unwrap().iter().all(|(_, at)| *at <= killed_at) {
        assert!(
            start.elapsed() < RESUME_WITHIN + Duration::from_secs(10),
            "no write acknowledged within {:?} of the leader kill; failures: {:?}",
            start.elapsed(),
            failures.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let resumed = acked
        .lock()
        .unwrap()
        .iter()
        .find(|(_, at)| *at > killed_at)
        .map(|(_, at)| at.duration_since(killed_at))
        .unwrap();
    eprintln!("writes resumed {resumed:?} after the leader (node {leader}) was killed");
    assert!(resumed < RESUME_WITHIN, "writes resumed only after {resumed:?}");
    wait_acked(before + 10);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked: Vec<String> = acked.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
    let failures = failures.lock().unwrap().clone();
    // The client library rides out the election: no write reported a failure.
    assert!(failures.is_empty(), "writes failed across the leader change: {failures:?}");

    // A new leader among the survivors, followed by both.
    let live = region.live();
    let status = wait_for_leader(&live, 2, ELECTION_TIMEOUT);
    let new_leader = status["leader_id"].as_u64().unwrap();
    assert_ne!(new_leader, leader, "{status}");
    assert!(status["term"].as_u64() > Some(0));

    // Every acknowledged write is on every survivor (in its own state), and readable
    // linearizably through the full endpoint list, the dead node included.
    for id in region.nodes.keys() {
        let ep = region.url(*id);
        for twin_id in &acked {
            local_read_eventually(&ep, twin_id);
        }
    }
    let last = acked.last().unwrap();
    json(&all, &["twin", "get", last]);
    assert_eq!(json(&live, &["twin", "get", "f-0"])["level"], 0);
    eprintln!("{} acknowledged writes found on both survivors", acked.len());
    // The peers list is the one the nodes were started with.
    assert!(region.peers.contains(&format!("3=http://127.0.1.3:{}", region.port)));
}

/// Runs `scripts/cluster.sh <args>` with the binary under test, in `dir`, on `port`.
fn cluster_sh(dir: &Path, port: u16, args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new("bash")
        .arg(repo_path("scripts/cluster.sh"))
        .args(args)
        .env("TWINSTORE_BIN", bin())
        .env("TWINSTORE_CLUSTER_DIR", dir)
        .env("TWINSTORE_BASE_PORT", port.to_string())
        .env_remove("TWINSTORE_NODES")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if wait_child(&mut child, Duration::from_secs(120)).is_none() {
        let _ = child.kill();
        panic!("cluster.sh {args:?} did not finish within 2 minutes");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn cluster_sh_starts_kills_restarts_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let port = free_port_on(&region_ips(3));
    // Secure by default: https, with a CA cluster.sh makes under the cluster's directory.
    let eps: Vec<String> = (1..=3).map(|n| format!("https://127.0.1.{n}:{port}")).collect();
    let all = eps.join(",");
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    // Whatever happens, stop the nodes.
    struct Down<'a>(&'a Path, u16);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = cluster_sh(self.0, self.1, &["down"]);
        }
    }
    let _down = Down(&dir, port);

    let up = cluster_sh(&dir, port, &["up"]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(text(&up).contains(&format!("export TWINSTORE_ENDPOINT={all}")), "{}", text(&up));
    let ca = dir.join("certs/ca.pem").canonicalize().unwrap();
    let export = format!("export TWINSTORE_CA={} TWINSTORE_TOKEN=", ca.display());
    let shown = text(&up);
    let token = shown.lines().find_map(|l| l.strip_prefix(&export)).map(str::trim);
    assert!(token.is_some_and(|t| t.split('.').count() == 3), "{shown}");
    let config = std::fs::read_to_string(dir.join("node2.toml")).unwrap();
    assert!(config.contains("tls_cert = ") && config.contains("token_key = "), "{config}");
    // Secure: a call without the token is refused.
    let anonymous = std::process::Command::new(bin())
        .args(["--endpoint", &all, "--ca", ca.to_str().unwrap(), "model", "list"])
        .env_remove("TWINSTORE_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&anonymous.stderr);
    assert!(err.starts_with("Unauthenticated: "), "{err}");
    trust(&all, &ca, token);
    let status = wait_for_leader(&all, 3, ELECTION_TIMEOUT);
    assert!(dir.join("node1.toml").is_file() && dir.join("node2.pid").is_file());
    json(&all, &["model", "add", repo_path("scripts/sample/models").to_str().unwrap()]);
    json(&all, &["twin", "put", "c-1", &twin(1)]);

    // Kill the leader by hand, as a user would; the others carry on.
    let leader = status["leader_id"].as_u64().unwrap().to_string();
    let killed = cluster_sh(&dir, port, &["kill", &leader]);
    assert!(killed.status.success(), "{}", text(&killed));
    assert!(!dir.join(format!("node{leader}.pid")).exists());
    json(&all, &["twin", "put", "c-2", &twin(2)]);
    let st = cluster_sh(&dir, port, &["status"]);
    assert!(text(&st).contains(&format!("node {leader}: stopped")), "{}", text(&st));
    assert!(text(&st).contains("unreachable"), "{}", text(&st));

    // Restarted with the same settings, it catches up.
    let restarted = cluster_sh(&dir, port, &["restart", &leader]);
    assert!(restarted.status.success(), "{}", text(&restarted));
    let back = format!("https://127.0.1.{leader}:{port}");
    local_read_eventually(&back, "c-2");
    wait_for_leader(&all, 3, ELECTION_TIMEOUT);

    let bad = cluster_sh(&dir, port, &["kill", "7"]);
    assert!(!bad.status.success());
    let down = cluster_sh(&dir, port, &["down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!dir.join("node1.pid").exists());
    let clean = cluster_sh(&dir, port, &["clean"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(!dir.exists());
}

/// The voters and learners the leader reports, by id.
fn members(endpoints: &str) -> BTreeMap<u64, bool> {
    let status = json(endpoints, &["cluster", "status"]);
    let leader = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["is_leader"] == true)
        .unwrap_or_else(|| panic!("no leader in {status}"))
        .clone();
    leader["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["voter"].as_bool().unwrap()))
        .collect()
}

#[test]
fn members_are_added_by_hand_or_by_join_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port_on(&region_ips(5));
    let url = |id: u64| format!("http://127.0.1.{id}:{port}");
    let peers: Vec<String> = (1..=3).map(|id| format!("{id}={}", url(id))).collect();
    let peers = peers.join(",");
    let start = |id: u64, extra: &[&str]| {
        let data = dir.path().join(format!("node{id}"));
        let listen = format!("127.0.1.{id}:{port}");
        let mut args = vec!["--id".to_string(), id.to_string(), "--data".into()];
        args.push(data.to_str().unwrap().into());
        args.extend(["--listen".into(), listen, "--cache-mb".into(), "16".into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        NodeProc::start_with(&data, &args)
    };
    let _n1 = start(1, &["--peers", &peers]);
    let _n2 = start(2, &["--peers", &peers]);
    let _n3 = start(3, &["--peers", &peers]);
    let region = (1..=3).map(url).collect::<Vec<_>>().join(",");
    wait_for_leader(&region, 3, ELECTION_TIMEOUT);
    json(&region, &["model", "add", repo_path("scripts/sample/models").to_str().unwrap()]);
    json(&region, &["twin", "put", "m-1", &twin(1)]);

    // Node 4 asks a dead address to let it in, so it waits, empty, until added by hand.
    let _n4 = start(4, &["--join", &closed_endpoint()]);
    let added = json(&url(2), &["cluster", "add-node", "4", &url(4)]);
    let voters: Vec<u64> = added["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(voters, vec![1, 2, 3, 4], "{added}");
    assert_eq!(local_read_eventually(&url(4), "m-1")["level"], 1);

    // Node 5 joins by itself through a member.
    let _n5 = start(5, &["--join", &url(1)]);
    let all5 = (1..=5).map(url).collect::<Vec<_>>().join(",");
    poll(Duration::from_secs(60), "node 5 becoming a voter", || {
        (members(&all5).get(&5) == Some(&true)).then_some(())
    });
    json(&region, &["twin", "put", "m-2", &twin(2)]);
    assert_eq!(local_read_eventually(&url(5), "m-2")["level"], 2);
    let status = wait_for_leader(&all5, 5, ELECTION_TIMEOUT);
    assert_eq!(status["nodes"].as_array().unwrap().len(), 5, "{status}");

    // Both leave again; the region is the original three.
    let text = run(&region, &["cluster", "remove-node", "5"]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(text.stdout.starts_with("node 5 removed; members: 1, 2, 3, 4"), "{}", text.stdout);
    json(&region, &["cluster", "remove-node", "4"]);
    assert_eq!(members(&region), BTreeMap::from([(1, true), (2, true), (3, true)]));
    json(&region, &["twin", "put", "m-3", &twin(3)]);
    let line = run(&region, &["cluster", "remove-node", "42"]).error_line();
    assert!(line.contains("42"), "{line}");
}
