//! End-to-end tests of cross-region DR through the built binary: a primary region on 127.0.1.N and
//! its standby on 127.0.2.N, each node a separate `twinstore node` process, driven through the CLI
//! with ONE endpoint list naming both regions' nodes — as an application would, with no change
//! across failovers. Every wait is bounded.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How long an election, a role change or a catch-up may take before a test fails.
const WAIT: Duration = Duration::from_secs(60);

fn etag(doc: &Value) -> String {
    doc["$etag"].as_str().unwrap_or_else(|| panic!("no $etag in {doc}")).to_string()
}

fn twin(n: u64) -> String {
    json!({"$metadata": {"$model": "dtmi:example:Floor;1"}, "level": n}).to_string()
}

/// One region of `n` nodes on 127.0.<octet>.N:<port>.
struct Region {
    name: &'static str,
    octet: u8,
    n: u64,
    port: u16,
    /// The DR flags of its nodes (`--standby URLs` or `--standby-of URLs`).
    dr: Vec<String>,
    nodes: BTreeMap<u64, NodeProc>,
}

impl Region {
    fn new(name: &'static str, octet: u8, n: u64, port: u16) -> Region {
        Region { name, octet, n, port, dr: Vec::new(), nodes: BTreeMap::new() }
    }

    fn url(&self, id: u64) -> String {
        format!("http://127.0.{}.{id}:{}", self.octet, self.port)
    }

    fn urls(&self) -> String {
        (1..=self.n).map(|id| self.url(id)).collect::<Vec<_>>().join(",")
    }

    /// Starts (or restarts) node `id` with its data under `dir/<region>/node<id>`.
    fn start(&mut self, dir: &Path, id: u64) {
        let data = dir.join(self.name).join(format!("node{id}"));
        let listen = format!("127.0.{}.{id}:{}", self.octet, self.port);
        let peers: Vec<String> = (1..=self.n).map(|i| format!("{i}={}", self.url(i))).collect();
        let mut args: Vec<String> = vec![
            "--id".into(),
            id.to_string(),
            "--region".into(),
            self.name.into(),
            "--data".into(),
            data.display().to_string(),
            "--listen".into(),
            listen,
            "--cache-mb".into(),
            "16".into(),
        ];
        if self.n > 1 {
            args.extend(["--peers".into(), peers.join(",")]);
        }
        args.extend(self.dr.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.nodes.insert(id, NodeProc::start_with(&data, &args));
    }

    fn start_all(&mut self, dir: &Path) {
        for id in 1..=self.n {
            self.start(dir, id);
        }
    }

    fn kill9_all(&mut self) {
        for (_, node) in std::mem::take(&mut self.nodes) {
            node.kill9();
        }
    }
}

/// A primary region and its standby, `n` nodes each, on one port free on all their addresses.
fn pair(n: u64) -> (Region, Region) {
    let mut ips = region_ips_at(1, n as u8);
    ips.extend(region_ips_at(2, n as u8));
    let port = free_port_on(&ips);
    let mut p = Region::new("primary", 1, n, port);
    let mut s = Region::new("standby", 2, n, port);
    p.dr = vec!["--standby".into(), s.urls()];
    s.dr = vec!["--standby-of".into(), p.urls()];
    (p, s)
}

/// `dr status --output json` through `endpoints`, polled until `f` holds.
fn wait_dr(endpoints: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let start = std::time::Instant::now();
    loop {
        let out = run(endpoints, &["--output", "json", "dr", "status"]);
        if out.code == Some(0) {
            last = out.json();
            if f(&last) {
                return last;
            }
        }
        if start.elapsed() > WAIT {
            panic!("{what} did not happen within {WAIT:?}; last status: {last}; last run: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The region named `name` in a `dr status` JSON.
fn region<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["regions"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["region"] == name))
        .unwrap_or_else(|| panic!("no region {name} in {status}"))
}

/// Waits until `primary` is the primary and `standby` follows it with nothing outstanding.
fn wait_caught_up(endpoints: &str, primary: &str, standby: &str) -> Value {
    wait_dr(endpoints, &format!("region {standby} catching up with {primary}"), |s| {
        s["primary_region"] == primary
            && s["standby_region"] == standby
            && s["shipping"] == true
            && s["lag_entries"] == 0
            && region(s, standby)["replicated_index"].as_u64()
                >= region(s, primary)["applied_index"].as_u64().map(|i| i.saturating_sub(2))
    })
}

/// Reads `id` from one node with a local read, polling until `f` holds for the answer.
fn local_eventually(endpoint: &str, id: &str, what: &str, f: impl Fn(&common::Out) -> bool) {
    poll(WAIT, &format!("{endpoint}: {what}"), || {
        let out = run(endpoint, &["--output", "json", "twin", "get", id, "--consistency", "local"]);
        f(&out).then_some(())
    });
}

#[test]
fn planned_failover_and_failback_move_writes_through_one_endpoint_list() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut s) = pair(3);
    p.start_all(dir.path());
    // Standby node 3 from a config file, with the DR keys.
    s.start(dir.path(), 1);
    s.start(dir.path(), 2);
    let conf = dir.path().join("standby3.toml");
    let quoted =
        |urls: String| urls.split(',').map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let peers: Vec<String> = (1..=3).map(|i| format!("{i}={}", s.url(i))).collect();
    std::fs::write(
        &conf,
        format!(
            "id = 3\nregion = \"standby\"\ndata = \"standby/node3\"\nlisten = \"127.0.2.3:{}\"\n\
             peers = [{}]\nstandby_of = [{}]\npeer_region = \"primary\"\ncache_mb = 16\n",
            s.port,
            quoted(peers.join(",")),
            quoted(p.urls())
        ),
    )
    .unwrap();
    s.nodes.insert(
        3,
        NodeProc::start_with(
            &dir.path().join("standby/node3"),
            &["--config", conf.to_str().unwrap()],
        ),
    );
    let all = format!("{},{}", p.urls(), s.urls());

    // Both regions elect; `cluster status` shows two groups.
    let cluster = wait_for_leader(&all, 6, WAIT);
    assert_eq!(cluster["regions"].as_array().map(Vec::len), Some(2), "{cluster}");
    wait_dr(&all, "the standby taking its role", |st| {
        st["primary_region"] == "primary" && region(st, "standby")["role"] == "standby"
    });

    // Writes through both regions' endpoints go to the primary.
    let models = repo_path("scripts/sample/models");
    json(&all, &["model", "add", models.to_str().unwrap()]);
    let mut etags = BTreeMap::new();
    for n in 1..=5 {
        let id = format!("d-{n}");
        etags.insert(id.clone(), etag(&json(&all, &["twin", "put", &id, &twin(n)])));
    }
    let st = wait_caught_up(&all, "primary", "standby");
    let standby = region(&st, "standby");
    assert_eq!(standby["role"], "standby", "{st}");
    assert_eq!(standby["nodes_reachable"], 3, "{st}");
    assert!(standby["replicated_time"].is_string(), "{st}");
    assert_eq!(region(&st, "primary")["role"], "primary", "{st}");
    assert_eq!(st["epoch"], 1, "{st}");
    // The text form has both regions side by side.
    let text = run(&all, &["dr", "status"]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout
            .starts_with("region primary is the primary at epoch 1; region standby follows it"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("connected to primary"), "{}", text.stdout);

    // The standby serves local reads, byte-identical, and refuses a direct write.
    for id in 1..=3 {
        local_eventually(&s.url(id), "d-5", "showing d-5", |o| {
            o.code == Some(0) && etag(&o.json()) == etags["d-5"]
        });
    }
    let line = run(&s.url(2), &["twin", "put", "nope", &twin(0)]).assert_code("ReadOnlyRegion");
    assert!(line.contains(&p.url(1)), "the refusal names the primary's endpoints: {line}");

    // Planned failover, sent through the same list (to the standby region).
    let report = json(&all, &["dr", "failover", "--planned"]);
    assert_eq!(report["kind"], "planned", "{report}");
    assert_eq!(report["region"], "standby", "{report}");
    assert_eq!(report["old_primary"], "primary", "{report}");
    assert_eq!(report["epoch"], 2, "{report}");
    assert_eq!(report["lost_entries_estimate"], 0, "{report}");
    assert_eq!(report["rpo_seconds"], 0.0, "{report}");
    assert!(report["promoted_at"]["index"].as_u64() > Some(0), "{report}");
    assert!(report["write_pause_ms"].as_f64().is_some(), "{report}");
    assert!(report["elapsed_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{report}");
    eprintln!("planned failover: {report}");

    // The same endpoint list: writes succeed, now in region standby; the old primary refuses them.
    let put = json(&all, &["twin", "put", "d-6", &twin(6)]);
    etags.insert("d-6".into(), etag(&put));
    let st =
        wait_dr(&all, "region standby being the primary", |st| st["primary_region"] == "standby");
    assert_eq!(st["epoch"], 2, "{st}");
    run(&p.url(1), &["twin", "put", "nope", &twin(0)]).assert_code("ReadOnlyRegion");
    // Nothing was lost, ETags are the same, and one held from before still works as If-Match.
    for (id, e) in &etags {
        assert_eq!(&etag(&json(&all, &["twin", "get", id])), e, "{id}");
    }
    let patch = r#"[{"op":"replace","path":"/level","value":10}]"#;
    let patched = json(&all, &["twin", "patch", "d-1", patch, "--if-match", &etags["d-1"]]);
    assert_eq!(patched["level"], 10);

    // The old primary follows the new one; then fail back the same way.
    wait_caught_up(&all, "standby", "primary");
    local_eventually(&p.url(3), "d-6", "showing d-6", |o| o.code == Some(0));
    let back = json(&all, &["dr", "failover", "--planned"]);
    assert_eq!((back["region"].as_str(), back["epoch"].as_u64()), (Some("primary"), Some(3)));
    assert_eq!(back["lost_entries_estimate"], 0, "{back}");
    json(&all, &["twin", "put", "d-7", &twin(7)]);
    assert_eq!(json(&all, &["twin", "get", "d-1"])["level"], 10);
    let st = wait_caught_up(&all, "primary", "standby");
    assert_eq!(st["epoch"], 3, "{st}");
    run(&s.url(1), &["twin", "put", "nope", &twin(0)]).assert_code("ReadOnlyRegion");
    local_eventually(&s.url(1), "d-7", "showing d-7", |o| o.code == Some(0));
    // A forced failover while the primary answers is refused by the CLI.
    let line = run(&all, &["dr", "failover", "--forced"]).assert_code("OperationNotAllowed");
    assert!(line.contains("--planned"), "{line}");
    assert_eq!(run(&all, &["dr", "failover"]).code, Some(2), "a kind is required");
}

#[test]
fn forced_failover_after_kill_9_then_reprotect_keeps_the_divergent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut p, mut s) = pair(1);
    p.start_all(dir.path());
    s.start_all(dir.path());
    let all = format!("{},{}", p.urls(), s.urls());
    wait_dr(&all, "the standby taking its role", |st| {
        st["primary_region"] == "primary" && region(st, "standby")["role"] == "standby"
    });
    json(&all, &["model", "add", repo_path("scripts/sample/models").to_str().unwrap()]);
    for n in 1..=3 {
        json(&all, &["twin", "put", &format!("f-{n}"), &twin(n)]);
    }
    wait_caught_up(&all, "primary", "standby");
    local_eventually(&s.url(1), "f-3", "showing f-3", |o| o.code == Some(0));

    // The standby goes down; the primary takes two more writes, then dies too (kill -9).
    s.kill9_all();
    for n in 4..=5 {
        json(&all, &["twin", "put", &format!("f-{n}"), &twin(n)]);
    }
    p.kill9_all();

    // The standby comes back alone. A planned failover cannot fence the dead primary...
    s.start_all(dir.path());
    wait_dr(&all, "the standby answering", |st| region(st, "standby")["role"] == "standby");
    let line = run(&all, &["dr", "failover", "--planned"]).assert_code("Unavailable");
    assert!(line.contains("forced"), "{line}");
    // ...a forced one promotes it at what it has, and reports the RPO it took.
    let report = json(&all, &["dr", "failover", "--forced"]);
    assert_eq!(report["kind"], "forced", "{report}");
    assert_eq!(report["region"], "standby", "{report}");
    assert_eq!(report["epoch"], 2, "{report}");
    assert!(report["promoted_at"]["index"].as_u64() > Some(0), "{report}");
    assert!(report["promoted_at"]["time"].is_string(), "{report}");
    assert!(report["rpo_seconds"].as_f64().is_some_and(|r| r > 0.0), "{report}");
    assert!(report["elapsed_ms"].as_f64().is_some(), "{report}");
    eprintln!("forced failover: {report}");
    let text = run(&all, &["dr", "status"]);
    assert!(text.stdout.starts_with("region standby is the primary at epoch 2"), "{text:?}");

    // Writes go on through the same list; what the standby never received is not there.
    json(&all, &["twin", "put", "f-6", &twin(6)]);
    assert_eq!(json(&all, &["twin", "get", "f-3"])["level"], 3);
    run(&all, &["twin", "get", "f-4"]).assert_code("DigitalTwinNotFound");

    // The old primary comes back: it learns of epoch 2 and fences itself; it takes no write.
    p.start_all(dir.path());
    let st = wait_dr(&all, "the old primary fencing itself", |st| {
        region(st, "primary")["role"] == "standby"
            && region(st, "primary")["fenced_index"].as_u64() > Some(0)
    });
    assert_eq!(st["primary_region"], "standby", "{st}");
    run(&p.url(1), &["twin", "put", "nope", &twin(0)]).assert_code("ReadOnlyRegion");
    let text = run(&all, &["dr", "status"]);
    assert!(text.stdout.contains("run `twinstore dr reprotect`"), "{}", text.stdout);
    // It cannot be failed over to before it is reprotected.
    let line = run(&all, &["dr", "failover", "--planned"]).assert_code("OperationNotAllowed");
    assert!(line.contains("reprotect"), "{line}");

    // Reprotect: the two writes it had acknowledged are kept aside, it is reseeded and follows.
    let r = json(&all, &["dr", "reprotect"]);
    assert_eq!(r["region"], "primary", "{r}");
    assert_eq!(r["divergent_writes"], 2, "{r}");
    assert!(r["reseeded_at"]["index"].as_u64() > Some(0), "{r}");
    let listed = json(&all, &["dr", "divergent"]);
    let listed = listed.as_array().unwrap_or_else(|| panic!("not an array: {listed}"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (w, id) in listed.iter().zip(["f-4", "f-5"]) {
        assert_eq!(w["region"], "primary", "{w}");
        assert_eq!(w["op"], "put_twin", "{w}");
        assert!(w.to_string().contains(id), "{w} is not {id}");
    }
    let file = dir.path().join("divergent.jsonl");
    let ack = run(&all, &["dr", "divergent", "--export", file.to_str().unwrap()]);
    assert_eq!(ack.code, Some(0), "{ack:?}");
    assert!(ack.stdout.starts_with("2 divergent write(s) of region(s) primary written to"));
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let st = wait_caught_up(&all, "standby", "primary");
    assert_eq!(region(&st, "primary")["divergent_writes"], 2, "{st}");
    // The old primary now holds exactly the new primary's history.
    local_eventually(&p.url(1), "f-6", "showing f-6", |o| o.code == Some(0));
    let gone = run(&p.url(1), &["twin", "get", "f-4", "--consistency", "local"]);
    assert_eq!(gone.code, Some(1), "{gone:?}");
    run(&p.url(1), &["twin", "put", "nope", &twin(0)]).assert_code("ReadOnlyRegion");
    json(&all, &["twin", "put", "f-7", &twin(7)]);
    local_eventually(&p.url(1), "f-7", "showing f-7", |o| o.code == Some(0));
}

#[test]
fn up_starts_both_regions_and_follows_the_primary_after_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut ips = region_ips_at(1, 1);
    ips.extend(region_ips_at(2, 1));
    let port = free_port_on(&ips);
    let primary = format!("https://127.0.1.1:{port}");
    let standby = format!("https://127.0.2.1:{port}");

    let (mut up, eps, pids, lines) = start_up(&data, port, &["--nodes", "1"]);
    assert_eq!(eps, format!("{primary},{standby}"));
    assert_eq!(pids.len(), 2, "{lines:#?}");
    let has = |lines: &[String], text: &str| lines.iter().any(|l| l.contains(text));
    assert!(
        has(&lines, "sample graph loaded into region primary: 5 models (5 new), 11 twins"),
        "{lines:#?}"
    );
    assert!(has(&lines, "region standby has caught up"), "{lines:#?}");
    assert!(has(&lines, "twinstore is up: region primary (the primary, epoch 1)"), "{lines:#?}");
    assert!(has(&lines, "twinstore is up: region standby (standby of primary)"), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.trim() == format!("export TWINSTORE_ENDPOINT={eps}")),
        "{lines:#?}"
    );
    assert!(has(&lines, "region primary is the primary at epoch 1; region standby follows it"));
    // The sample is on the standby, read locally there.
    let room = json(&standby, &["twin", "get", "room-101", "--consistency", "local"]);
    assert_eq!(room["$metadata"]["$model"], "dtmi:example:Room;1");
    json(&eps, &["dr", "failover", "--planned"]);
    send_signal(up.id(), "TERM");
    let status = wait_child(&mut up, Duration::from_secs(30)).expect("`up` did not stop");
    assert!(status.success(), "{status:?}");
    for pid in &pids {
        assert!(!process_exists(*pid), "node {pid} outlived `up`");
    }

    // Again on the same data: region standby is the primary now, and the sample goes there.
    let (mut up, eps, pids, lines) = start_up(&data, port, &["--nodes", "1"]);
    assert!(has(&lines, "sample graph loaded into region standby: 5 models (0 new)"), "{lines:#?}");
    assert!(has(&lines, "twinstore is up: region standby (the primary, epoch 2)"), "{lines:#?}");
    assert!(has(&lines, "region primary has caught up"), "{lines:#?}");
    json(
        &eps,
        &["twin", "patch", "room-101", r#"[{"op":"replace","path":"/temperature","value":25.0}]"#],
    );
    send_signal(up.id(), "INT");
    let status = wait_child(&mut up, Duration::from_secs(30)).expect("`up` did not stop");
    assert!(status.success(), "{status:?}");
    for pid in &pids {
        assert!(!process_exists(*pid), "node {pid} outlived `up`");
    }
}
