//! `twinstore bench --target etcd` against a real etcd: one member on loopback with its data in a
//! temporary directory, from the `etcd` binary on PATH (Debian's `etcd-server`, which `.ci/run`
//! installs). Without one the test fails, saying what to install: a skipped comparison proves
//! nothing.

mod common;

use common::*;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to accept connections.
const ETCD_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `etcd` executable on PATH, if any.
fn etcd_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("etcd")).find(|p| p.is_file())
}

/// One etcd member; killed when dropped.
struct Etcd {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Etcd {
    fn start(bin: &Path, dir: &Path) -> Etcd {
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = dir.join("etcd.log");
        let log_file = std::fs::File::create(&log).expect("etcd log file");
        let child = Command::new(bin)
            .args(["--name", "bench-test", "--data-dir"])
            .arg(dir.join("etcd"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("bench-test={peer_url}")])
            .args(["--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", "stderr"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("cannot run etcd");
        let mut etcd = Etcd { child, endpoint: client_url, log };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", client)).is_err() {
            if let Ok(Some(status)) = etcd.child.try_wait() {
                panic!("etcd exited at start ({status}): {}", etcd.log_tail());
            }
            assert!(
                start.elapsed() < ETCD_START_TIMEOUT,
                "etcd did not listen within {ETCD_START_TIMEOUT:?}: {}",
                etcd.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        etcd
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bench_against_a_real_etcd_member() {
    let Some(bin) = etcd_on_path() else {
        panic!(
            "a real etcd member is needed for this test and no `etcd` binary is on PATH: run \
             `apt-get update && apt-get install -y etcd-server` (.ci/run does this when it is missing)"
        );
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let etcd = Etcd::start(&bin, dir.path());
    let ep = etcd.endpoint.as_str();

    // Puts, closed loop: every one acknowledged, a sample read back linearizably.
    let args = ["bench", "--target", "etcd", "--total", "300", "--clients", "4", "--conns", "2"];
    let put = json(ep, &[&args[..], &["--keys", "50"]].concat());
    assert_eq!(put["target"], "etcd", "{put}");
    assert_eq!(put["workload"], "put", "{put}");
    assert_eq!(put["ok"], 300, "{put}; etcd log: {}", etcd.log_tail());
    assert_eq!(put["failed"], 0, "{put}");
    assert_eq!(put["value_size"], 1024, "{put}");
    assert_eq!(put["readback"]["missing"], 0, "{put}");
    assert!(put["readback"]["checked"].as_u64().unwrap() > 0, "{put}");
    let lat = &put["latency_ms"];
    let p: Vec<f64> = ["p50", "p90", "p99", "p99_9", "max"]
        .iter()
        .map(|k| lat[k].as_f64().unwrap_or_else(|| panic!("no {k} in {put}")))
        .collect();
    assert!(p[0] > 0.0 && p.windows(2).all(|w| w[0] <= w[1]), "{put}");

    // Linearizable gets: the keys are written first, so every read finds its key.
    let get = json(
        ep,
        &["bench", "--target", "etcd", "--workload", "get", "--total", "200", "--keys", "20"],
    );
    assert_eq!((get["ok"].as_u64(), get["failed"].as_u64()), (Some(200), Some(0)), "{get}");
    assert_eq!(get["consistency"], "linearizable", "{get}");

    // Serializable gets, open loop, text report.
    let text = run(
        ep,
        &[
            "bench",
            "--target",
            "etcd",
            "--workload",
            "get",
            "--consistency",
            "serializable",
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
    for line in
        ["(target etcd)", "get (serializable)", "open loop at 500 ops/s", "100 ok, 0 failed"]
    {
        assert!(text.stdout.contains(line), "no {line:?} in {}", text.stdout);
    }

    // What etcd cannot do is refused before any load.
    run(ep, &["bench", "--target", "etcd", "--workload", "patch"]).assert_code("InvalidArgument");
}
