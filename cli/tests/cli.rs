//! End-to-end tests of the `twinstore` binary: a real node process, driven through the CLI exactly
//! as a user or a script would, on 127.0.0.1 with bounded waits.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn etag(doc: &Value) -> String {
    doc["$etag"].as_str().unwrap_or_else(|| panic!("no $etag in {doc}")).to_string()
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|d| d[key].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn twin_relationship_and_model_lifecycle() {
    let dir = tempdir();
    let node = NodeProc::start(dir.path());
    let ep = node.endpoint();
    let ep = ep.as_str();

    // Models: a whole directory in one batch.
    let models = repo_path("scripts/sample/models");
    let added = json(ep, &["model", "add", models.to_str().unwrap()]);
    assert_eq!(strs(&added, "id").len(), 5);
    let all = json(ep, &["model", "list"]);
    assert!(strs(&all, "id").contains(&"dtmi:example:Room;1".to_string()), "{all}");
    let room_model = json(ep, &["model", "get", "dtmi:example:Room;1", "--definition"]);
    assert_eq!(room_model["id"], "dtmi:example:Room;1");
    assert_eq!(room_model["model"]["@id"], "dtmi:example:Room;1");
    let deps = json(ep, &["model", "list", "--dependencies-for", "dtmi:example:Room;1"]);
    assert!(strs(&deps, "id").contains(&"dtmi:example:Thermostat;1".to_string()), "{deps}");
    run(ep, &["model", "add", models.to_str().unwrap()]).assert_code("ModelAlreadyExists");

    // Twins: put, get, patch with If-Match.
    let floor = json!({"$metadata": {"$model": "dtmi:example:Floor;1"}, "level": 1});
    json(ep, &["twin", "put", "floor-1", &floor.to_string()]);
    let room = json!({
        "$metadata": {"$model": "dtmi:example:Room;1"},
        "name": "Room 101", "Capacity": 8, "temperature": 21.5,
        "thermostat": {"$metadata": {}, "setpoint": 21.0}
    });
    let put = json(ep, &["twin", "put", "room-101", &room.to_string()]);
    assert_eq!(put["$dtId"], "room-101");
    assert_eq!(put["Capacity"], 8);
    let e1 = etag(&put);
    let got = json(ep, &["twin", "get", "room-101"]);
    assert_eq!(etag(&got), e1);
    assert_eq!(got["temperature"], 21.5);
    let local = json(ep, &["twin", "get", "room-101", "--consistency", "local"]);
    assert_eq!(etag(&local), e1);
    // Text output is the same document, pretty-printed.
    let text = run(ep, &["twin", "get", "room-101"]);
    assert_eq!(text.code, Some(0));
    assert!(text.stdout.lines().count() > 3, "{}", text.stdout);
    assert_eq!(serde_json::from_str::<Value>(&text.stdout).unwrap(), got);

    let patch = r#"[{"op":"replace","path":"/temperature","value":23.5}]"#;
    let patched = json(ep, &["twin", "patch", "room-101", patch, "--if-match", &e1]);
    assert_eq!(patched["temperature"], 23.5);
    let e2 = etag(&patched);
    assert_ne!(e1, e2);
    // The old ETag no longer matches, and If-None-Match refuses to overwrite.
    let stale = r#"[{"op":"replace","path":"/temperature","value":99}]"#;
    run(ep, &["twin", "patch", "room-101", stale, "--if-match", &e1])
        .assert_code("PreconditionFailed");
    run(ep, &["twin", "put", "room-101", &room.to_string(), "--if-none-match"])
        .assert_code("PreconditionFailed");
    assert_eq!(json(ep, &["twin", "get", "room-101"])["temperature"], 23.5);

    // Components.
    let comp = json(ep, &["twin", "component", "get", "room-101", "thermostat"]);
    assert_eq!(comp["setpoint"], 21.0);
    let cpatch = r#"[{"op":"replace","path":"/setpoint","value":19.5}]"#;
    let after = json(ep, &["twin", "component", "patch", "room-101", "thermostat", cpatch]);
    assert_eq!(after["thermostat"]["setpoint"], 19.5);
    run(ep, &["twin", "component", "get", "room-101", "nope"]).assert_code("ComponentNotFound");

    // Telemetry (validated, not stored).
    let sent = json(ep, &["telemetry", "send", "room-101", r#"{"occupancy":3}"#]);
    assert_eq!(sent["sent"], true);
    run(ep, &["telemetry", "send", "no-such-twin", r#"{"occupancy":3}"#])
        .assert_code("DigitalTwinNotFound");

    // Relationships.
    let sensor = json!({"$metadata": {"$model": "dtmi:example:Sensor;1"}, "serialNumber": "SN-1"});
    json(ep, &["twin", "put", "sensor-101", &sensor.to_string()]);
    let contains = json!({"$targetId": "room-101", "$relationshipName": "contains"});
    let r1 = json(ep, &["rel", "put", "floor-1", "f1-r101", &contains.to_string()]);
    assert_eq!(r1["$sourceId"], "floor-1");
    assert_eq!(r1["$targetId"], "room-101");
    let has =
        json!({"$targetId": "sensor-101", "$relationshipName": "hasSensor", "position": "wall"});
    let r2 =
        json(ep, &["rel", "put", "room-101", "r101-s101", &has.to_string(), "--if-none-match"]);
    run(ep, &["rel", "put", "room-101", "r101-s101", &has.to_string(), "--if-none-match"])
        .assert_code("PreconditionFailed");
    let got = json(ep, &["rel", "get", "room-101", "r101-s101"]);
    assert_eq!(got["position"], "wall");
    let rpatch = r#"[{"op":"replace","path":"/position","value":"ceiling"}]"#;
    let rp = json(ep, &["rel", "patch", "room-101", "r101-s101", rpatch, "--if-match", &etag(&r2)]);
    assert_eq!(rp["position"], "ceiling");
    run(ep, &["rel", "patch", "room-101", "r101-s101", rpatch, "--if-match", &etag(&r2)])
        .assert_code("PreconditionFailed");
    let bad_target = json!({"$targetId": "nobody", "$relationshipName": "hasSensor"});
    run(ep, &["rel", "put", "room-101", "r-bad", &bad_target.to_string()])
        .assert_code("TargetTwinNotFound");

    let out = json(ep, &["rel", "list", "room-101"]);
    assert_eq!(strs(&out, "$relationshipId"), vec!["r101-s101"]);
    let named = json(ep, &["rel", "list", "floor-1", "--name", "contains"]);
    assert_eq!(strs(&named, "$relationshipId"), vec!["f1-r101"]);
    let none = json(ep, &["rel", "list", "floor-1", "--name", "hasSensor"]);
    assert_eq!(none, json!([]));
    let incoming = json(ep, &["rel", "incoming", "room-101"]);
    assert_eq!(strs(&incoming, "$sourceId"), vec!["floor-1"]);

    // A twin with relationships cannot be deleted; without them it can.
    run(ep, &["twin", "delete", "room-101"]).assert_code("RelationshipsNotDeleted");
    let del = json(ep, &["rel", "delete", "room-101", "r101-s101"]);
    assert!(del["index"].as_u64().is_some(), "{del}");
    assert_eq!(del["deleted"]["relationshipId"], "r101-s101");
    run(ep, &["rel", "get", "room-101", "r101-s101"]).assert_code("RelationshipNotFound");
    run(ep, &["twin", "delete", "room-101"]).assert_code("RelationshipsNotDeleted"); // incoming
    let text = run(ep, &["rel", "delete", "floor-1", "f1-r101"]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(text.stdout.starts_with("deleted relationship 'f1-r101'"), "{}", text.stdout);
    let current = etag(&json(ep, &["twin", "get", "room-101"]));
    run(ep, &["twin", "delete", "room-101", "--if-match", &e1]).assert_code("PreconditionFailed");
    let del = json(ep, &["twin", "delete", "room-101", "--if-match", &current]);
    assert_eq!(del["deleted"], "room-101");
    assert!(del["index"].as_u64().unwrap() > 0);
    let line = run(ep, &["twin", "get", "room-101"]).assert_code("DigitalTwinNotFound");
    assert!(line.contains("room-101"), "{line}");

    // Models: decommission stops new twins; delete is refused while referenced.
    let dec = json(ep, &["model", "decommission", "dtmi:example:Sensor;1"]);
    assert_eq!(dec["decommissioned"], true);
    run(ep, &["twin", "put", "sensor-102", &sensor.to_string()]).assert_code("ModelDecommissioned");
    // The existing sensor twin stays readable.
    json(ep, &["twin", "get", "sensor-101"]);
    run(ep, &["model", "delete", "dtmi:example:Thermostat;1"])
        .assert_code("ModelReferencesNotDeleted");
    let del = json(ep, &["model", "delete", "dtmi:example:Building;1"]);
    assert_eq!(del["deleted"], "dtmi:example:Building;1");
    run(ep, &["model", "get", "dtmi:example:Building;1"]).assert_code("ModelNotFound");
}

#[test]
fn bad_input_fails_with_the_code_and_leaves_the_twin_unchanged() {
    let dir = tempdir();
    let node = NodeProc::start(dir.path());
    let ep = node.endpoint();
    let ep = ep.as_str();
    load_sample(ep);
    let before = json(ep, &["twin", "get", "room-101"]);

    // Malformed JSON, caught before anything is sent.
    run(ep, &["twin", "put", "room-101", "{not json"]).assert_code("InvalidArgument");
    run(ep, &["twin", "patch", "room-101", "[{]"]).assert_code("InvalidArgument");
    run(ep, &["model", "add", "{\"@id\":"]).assert_code("InvalidArgument");
    run(ep, &["twin", "put", "room-101", "@/no/such/file.json"]).assert_code("InvalidArgument");
    // A model that does not exist.
    let unknown = json!({"$metadata": {"$model": "dtmi:example:Nope;1"}});
    let line = run(ep, &["twin", "put", "room-101", &unknown.to_string()]).error_line();
    assert!(
        ["ModelNotFound:", "ValidationFailed:", "InvalidArgument:"]
            .iter()
            .any(|c| line.starts_with(c)),
        "{line}"
    );
    // A property the model does not declare, and a value of the wrong type.
    let mut wrong = before.clone();
    wrong["Capacity"] = json!("lots");
    run(ep, &["twin", "put", "room-101", &wrong.to_string()]).assert_code("ValidationFailed");
    let patch = r#"[{"op":"add","path":"/noSuchProperty","value":1}]"#;
    run(ep, &["twin", "patch", "room-101", patch]).assert_code("ValidationFailed");
    // A wrong ETag.
    let patch = r#"[{"op":"replace","path":"/Capacity","value":1}]"#;
    run(ep, &["twin", "patch", "room-101", patch, "--if-match", "W/\"nope\""])
        .assert_code("PreconditionFailed");
    // An oversized twin (> 32 KB).
    let mut big = before.clone();
    big["name"] = json!("x".repeat(40 * 1024));
    run(ep, &["twin", "put", "room-101", &big.to_string()]).assert_code("LimitExceeded");
    // Not found.
    run(ep, &["twin", "patch", "nobody", patch]).assert_code("DigitalTwinNotFound");

    let after = json(ep, &["twin", "get", "room-101"]);
    assert_eq!(after, before, "a refused write changed the twin");

    // Usage errors are clap's: exit code 2.
    let usage = run(ep, &["twin", "get"]);
    assert_eq!(usage.code, Some(2), "{usage:?}");
}

#[test]
fn json_arguments_from_files_and_stdin() {
    let dir = tempdir();
    let node = NodeProc::start(dir.path());
    let ep = node.endpoint();
    let ep = ep.as_str();
    // Single model files and literal JSON mixed in one batch.
    let m = |f: &str| repo_path(&format!("scripts/sample/models/{f}")).display().to_string();
    let sensor = std::fs::read_to_string(m("sensor.json")).unwrap();
    let added = json(ep, &["model", "add", &m("thermostat.json"), &m("room.json"), &sensor]);
    assert_eq!(strs(&added, "id").len(), 3);

    let file = dir.path().join("room.json");
    let room = json!({"$metadata": {"$model": "dtmi:example:Room;1"}, "Capacity": 2,
                      "thermostat": {"$metadata": {}}});
    std::fs::write(&file, room.to_string()).unwrap();
    let put = json(ep, &["twin", "put", "r", &format!("@{}", file.display())]);
    assert_eq!(put["Capacity"], 2);
    let patch = r#"[{"op":"add","path":"/temperature","value":20.25}]"#;
    let out = run_with_stdin(ep, &["--output", "json", "twin", "patch", "r", "-"], Some(patch));
    assert_eq!(out.json()["temperature"], 20.25);
}

#[test]
fn unreachable_endpoints_fail_with_unavailable_or_fall_over() {
    let closed = closed_endpoint();
    let start = Instant::now();
    let line = run(&closed, &["twin", "get", "x"]).assert_code("Unavailable");
    assert!(line.contains(&format!("cannot reach {closed}")), "{line}");
    assert!(start.elapsed() < Duration::from_secs(30));

    // With a live node later in the list, the call moves on to it.
    let dir = tempdir();
    let node = NodeProc::start(dir.path());
    let both = format!("{closed},{}", node.endpoint());
    run(&both, &["twin", "get", "x"]).assert_code("DigitalTwinNotFound");
    let models = repo_path("scripts/sample/models");
    let added = json(&both, &["model", "add", models.to_str().unwrap()]);
    assert_eq!(added.as_array().unwrap().len(), 5);
}

#[test]
fn twins_survive_kill_9_with_the_same_etags() {
    let dir = tempdir();
    let node = NodeProc::start(dir.path());
    let ep = node.endpoint();
    load_sample(&ep);
    let ids: Vec<String> = sample("twins.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["$dtId"].as_str().unwrap().to_string())
        .collect();
    let patch = r#"[{"op":"replace","path":"/temperature","value":30.5}]"#;
    json(&ep, &["twin", "patch", "room-202", patch]);
    let before: Vec<Value> = ids.iter().map(|id| json(&ep, &["twin", "get", id])).collect();
    let rels_before = json(&ep, &["rel", "list", "floor-1"]);

    node.kill9();
    let node = NodeProc::start(dir.path());
    let ep = node.endpoint();
    for (id, doc) in ids.iter().zip(&before) {
        let after = json(&ep, &["twin", "get", id]);
        assert_eq!(etag(&after), etag(doc), "twin {id} has a new ETag after restart");
        assert_eq!(&after, doc);
    }
    assert_eq!(json(&ep, &["rel", "list", "floor-1"]), rels_before);
    assert_eq!(json(&ep, &["twin", "get", "room-202"])["temperature"], 30.5);
    // And it keeps working.
    json(&ep, &["twin", "patch", "room-202", patch]);

    // A clean stop (SIGTERM) exits 0.
    let status = node.signal_and_wait("TERM", Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}

#[test]
fn up_without_standby_starts_a_region_loads_the_sample_graph_and_stops_on_signals() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let port = free_port_on(&region_ips(3));

    let (mut up, eps, pids, lines) = start_up(&data, port, &["--no-standby"]);
    assert_eq!(pids.len(), 3, "three node pids expected in {lines:#?}");
    // Secure by default: TLS with a CA `up` made under its data directory.
    let expected: Vec<String> = (1..=3).map(|n| format!("https://127.0.1.{n}:{port}")).collect();
    assert_eq!(eps, expected.join(","));
    let ca = data.join("certs/ca.pem").canonicalize().unwrap();
    let export = format!("export TWINSTORE_CA={}", ca.display());
    assert!(lines.iter().any(|l| l.trim() == export), "{lines:#?}");
    // ... and client authentication: an Admin token is printed; without one a call is refused.
    let token = lines.iter().find_map(|l| l.trim().strip_prefix("export TWINSTORE_TOKEN="));
    assert!(token.is_some_and(|t| t.split('.').count() == 3), "{lines:#?}");
    let anonymous = Command::new(bin())
        .args(["--endpoint", &eps, "--ca", ca.to_str().unwrap(), "twin", "get", "room-101"])
        .env_remove("TWINSTORE_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&anonymous.stderr);
    assert!(err.starts_with("Unauthenticated: "), "{err}");
    // Without the CA a client is told what to give.
    let refused = Command::new(bin())
        .args(["--endpoint", &eps, "twin", "get", "room-101"])
        .env_remove("TWINSTORE_CA")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("give the deployment's CA certificate (--ca or TWINSTORE_CA)"), "{err}");
    assert!(lines.iter().any(|l| l.contains("5 models (5 new), 11 twins, 10 relationships")));
    assert!(
        lines.iter().any(|l| l.trim() == format!("export TWINSTORE_ENDPOINT={eps}")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("region primary: leader")), "{lines:#?}");
    assert!(data.join("primary/node2").is_dir());
    // Every node serves the graph, each alone.
    for ep in &expected {
        let room = json(ep, &["twin", "get", "room-101"]);
        assert_eq!(room["$metadata"]["$model"], "dtmi:example:Room;1");
        assert!(room["Capacity"].is_i64());
    }
    assert_eq!(json(&eps, &["rel", "list", "floor-1"]).as_array().unwrap().len(), 2);
    assert_eq!(
        strs(&json(&eps, &["rel", "incoming", "sensor-101"]), "$sourceId"),
        vec!["room-101"]
    );
    assert_eq!(json(&eps, &["model", "list"]).as_array().unwrap().len(), 5);
    let patch = r#"[{"op":"replace","path":"/temperature","value":25.0}]"#;
    json(&eps, &["twin", "patch", "room-101", patch]);
    let status = json(&eps, &["cluster", "status"]);
    assert_eq!(status["reachable"], 3, "{status}");
    assert_eq!(status["settled"], true, "{status}");

    send_signal(up.id(), "INT");
    let status = wait_child(&mut up, Duration::from_secs(30)).expect("`up` did not stop on SIGINT");
    assert!(status.success(), "{status:?}");
    for pid in &pids {
        assert!(!process_exists(*pid), "node {pid} outlived `up`");
    }

    // Again on the same data: models are skipped, twins and relationships put again.
    let (mut up, eps, pids, lines) = start_up(&data, port, &["--no-standby"]);
    assert_eq!(pids.len(), 3, "three node pids expected in {lines:#?}");
    assert!(lines.iter().any(|l| l.contains("5 models (0 new)")), "{lines:#?}");
    // The twins are put again (back to the sample's values), on every node.
    let sample_room = sample("twins.json")
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["$dtId"] == "room-101")
        .cloned()
        .unwrap();
    for ep in eps.split(',') {
        poll(Duration::from_secs(10), &format!("{ep} showing the sample's room-101"), || {
            let room = json(ep, &["twin", "get", "room-101", "--consistency", "local"]);
            (room["temperature"] == sample_room["temperature"]).then_some(())
        });
    }
    send_signal(up.id(), "TERM");
    let status =
        wait_child(&mut up, Duration::from_secs(30)).expect("`up` did not stop on SIGTERM");
    assert!(status.success(), "{status:?}");
    for pid in &pids {
        assert!(!process_exists(*pid), "node {pid} outlived `up`");
    }
}

#[test]
fn up_says_clearly_when_its_port_is_taken() {
    let dir = tempdir();
    let port = free_port_on(&region_ips(3));
    let _taken = std::net::TcpListener::bind(("127.0.1.2", port)).unwrap();
    let out = Command::new(bin())
        .args(["up", "--data"])
        .arg(dir.path())
        .args(["--base-port", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on 127.0.1.2:{port}")), "{err}");
    assert!(err.contains("--base-port"), "{err}");
}

#[test]
fn bench_against_one_node_reports_percentiles() {
    let dir = tempdir();
    let node = NodeProc::start(dir.path());
    let ep = node.endpoint();
    let report = json(
        &ep,
        &["bench", "--total", "200", "--clients", "4", "--keys", "50", "--value-size", "512"],
    );
    assert_eq!(report["workload"], "put", "{report}");
    assert_eq!(report["ok"], 200, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["ops_per_sec"].as_f64().unwrap() > 0.0, "{report}");
    let lat = &report["latency_ms"];
    let p: Vec<f64> = ["p50", "p90", "p99", "p99_9", "max"]
        .iter()
        .map(|k| lat[k].as_f64().unwrap_or_else(|| panic!("no {k} in {report}")))
        .collect();
    assert!(p[0] > 0.0 && p.windows(2).all(|w| w[0] <= w[1]), "{report}");
    assert!(report["machine"]["nproc"].as_u64().unwrap() >= 1, "{report}");
    assert!(!report["machine"]["cpu_model"].as_str().unwrap().is_empty());
    assert_eq!(report["readback"]["missing"], 0, "{report}");
    assert!(report["readback"]["checked"].as_u64().unwrap() > 0, "{report}");
    // The bench model was uploaded and the twins are ordinary twins.
    json(&ep, &["model", "get", "dtmi:twinstore:bench:Device;1"]);
    let twins: Vec<Value> = (0..50)
        .filter_map(|n| {
            let out = run(&ep, &["--output", "json", "twin", "get", &format!("bench-{n}")]);
            (out.code == Some(0)).then(|| out.json())
        })
        .collect();
    assert!(!twins.is_empty());
    let size = twins[0].to_string().len();
    assert!(size > 400, "a 512-byte bench twin is {size} bytes: {}", twins[0]);

    // Text output, open loop, reads: the percentile lines are there.
    let text = run(
        &ep,
        &[
            "bench",
            "--workload",
            "get",
            "--consistency",
            "local",
            "--total",
            "100",
            "--clients",
            "2",
            "--keys",
            "20",
            "--rate",
            "500",
        ],
    );
    assert_eq!(text.code, Some(0), "{text:?}");
    for label in ["throughput", "p50", "p90", "p99", "p99.9", "max", "machine:"] {
        assert!(text.stdout.contains(label), "no {label} in {}", text.stdout);
    }
    assert!(text.stdout.contains("open loop at 500 ops/s"), "{}", text.stdout);
    // Patch on a bounded duration.
    let patch = json(&ep, &["bench", "--workload", "patch", "--duration", "1s", "--keys", "10"]);
    assert!(patch["ok"].as_u64().unwrap() > 0, "{patch}");
    assert_eq!(patch["failed"], 0, "{patch}");
    assert!(patch["elapsed_secs"].as_f64().unwrap() < 5.0, "{patch}");

    // Bad flags are usage or argument errors, before any load.
    run(&ep, &["bench", "--clients", "0"]).assert_code("InvalidArgument");
    run(&ep, &["bench", "--value-size", "100000"]).assert_code("InvalidArgument");
    assert_eq!(run(&ep, &["bench", "--total", "5", "--duration", "1s"]).code, Some(2));
}

#[test]
fn node_flags_are_checked_before_anything_starts() {
    let dir = tempdir();
    let data = dir.path().join("n");
    let data = data.to_str().unwrap();
    let node = |extra: &[&str]| {
        let mut args = vec!["node", "--data", data];
        args.extend_from_slice(extra);
        run("http://127.0.0.1:1", &args)
    };
    let line = node(&["--peers", "1=http://127.0.1.1:7001,2http://127.0.1.2:7001"])
        .assert_code("InvalidArgument");
    assert!(line.contains("'2http://127.0.1.2:7001' is not ID=URL"), "{line}");
    let line = node(&["--id", "3", "--peers", "1=http://127.0.1.1:7001,2=http://127.0.1.2:7001"])
        .assert_code("InvalidArgument");
    assert!(line.contains("peers must include this node (id 3)"), "{line}");
    let line = node(&["--peers", "1=http://127.0.1.1:7001", "--join", "http://127.0.1.2:7001"])
        .assert_code("InvalidArgument");
    assert!(line.contains("not both"), "{line}");
    node(&["--listen", "localhost"]).assert_code("InvalidArgument");
    // DR: a region is the standby of a primary or the primary of a standby, not both.
    let line =
        node(&["--standby-of", "http://127.0.1.1:7001", "--standby", "http://127.0.2.1:7001"])
            .assert_code("InvalidArgument");
    assert!(line.contains("not both"), "{line}");
    let line = node(&["--peer-region", "east"]).assert_code("InvalidArgument");
    assert!(line.contains("standby_of URL,.. or standby URL,.."), "{line}");
    // A config file with a typo names the file, the line and the key.
    let conf = dir.path().join("node.toml");
    std::fs::write(&conf, "id = 1\nlisten = \"127.0.0.1:0\"\nport = 7001\n").unwrap();
    let line = run("http://127.0.0.1:1", &["node", "--config", conf.to_str().unwrap()])
        .assert_code("InvalidArgument");
    assert!(line.contains("line 3, column 1: unknown field `port`"), "{line}");
    assert!(!std::path::Path::new(data).exists(), "a refused node created its data directory");
}

/// One setting given at every layer: the default (64 MiB), the file, the environment and a flag;
/// each refused value names the layer that won. An empty environment variable counts as unset.
#[test]
fn node_settings_layer_defaults_file_environment_and_flags() {
    let dir = tempdir();
    let conf = dir.path().join("node.toml");
    std::fs::write(&conf, "data = \"n\"\nlisten = \"127.0.0.1:0\"\nmin_free_mb = 8\n").unwrap();
    let node = |env: &[(&str, &str)], flags: &[&str]| {
        let out = Command::new(bin())
            .args(["node", "--config", conf.to_str().unwrap()])
            .args(flags)
            .env_remove("TWINSTORE_MIN_FREE_MB")
            .envs(env.iter().copied())
            .env("TWINSTORE_STANDBY", "")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        stderr
    };
    let mib = |n: u32| format!("InvalidArgument: min_free_mb is {n} MiB; it must be at least");
    let file = node(&[], &[]);
    assert!(file.starts_with(&mib(8)), "the file over the default: {file}");
    let env = [("TWINSTORE_MIN_FREE_MB", "9")];
    let over_file = node(&env, &[]);
    assert!(over_file.starts_with(&mib(9)), "the environment over the file: {over_file}");
    let flag = node(&env, &["--min-free-mb", "10"]);
    assert!(flag.starts_with(&mib(10)), "a flag over both: {flag}");
    // The file itself can be named in the environment.
    let out = Command::new(bin())
        .arg("node")
        .env("TWINSTORE_CONFIG", &conf)
        .env_remove("TWINSTORE_MIN_FREE_MB")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(&mib(8)), "{out:?}");
    assert!(!dir.path().join("n").exists(), "a refused node created its data directory");
}
