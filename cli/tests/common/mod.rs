//! Helpers for the end-to-end tests: run the real `twinstore` binary, as a node or as a client,
//! always with bounded waits so a hung process fails the test instead of hanging it. [`region`]
//! runs a region's nodes inside the test process instead.

#![allow(dead_code)]

pub mod region;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long one CLI command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_twinstore")
}

/// A channel to an in-process node's gRPC port, connected (within 5 s); every call on it fails
/// after `timeout`.
pub async fn connect(addr: std::net::SocketAddr, timeout: Duration) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .connect()
        .await
        .unwrap()
}

/// A file or directory of the repository (e.g. `scripts/sample/models`); these tests belong to the
/// `cli/` package, one level below the repository's root.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A `twinstore node` child process; killed when dropped.
pub struct NodeProc {
    child: Child,
    /// The address the node listens on.
    pub addr: String,
    /// Its data directory.
    pub data: PathBuf,
}

impl NodeProc {
    /// Starts a node on a free loopback port with its data in `data`.
    pub fn start(data: &Path) -> NodeProc {
        let data_arg = data.display().to_string();
        NodeProc::start_with(data, &["--data", &data_arg, "--listen", "127.0.0.1:0"])
    }

    /// Starts `twinstore node <args>` (which must put its data in `data`) and waits for its
    /// listening line.
    pub fn start_with(data: &Path, args: &[&str]) -> NodeProc {
        let mut child = Command::new(bin())
            .arg("node")
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run the twinstore binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the node never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                panic!("the node did not print its listening line: {other:?}");
            }
        };
        let addr = line
            .strip_prefix("twinstore node listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .trim()
            .to_string();
        NodeProc { child, addr, data: data.to_path_buf() }
    }

    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the node with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. "TERM") and waits for the exit, at most `within`.
    pub fn signal_and_wait(mut self, signal: &str, within: Duration) -> ExitStatus {
        send_signal(self.child.id(), signal);
        wait_child(&mut self.child, within).expect("the node did not stop in time")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal through the `kill` command (no libc needed).
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Whether a process with this pid exists (`kill -0`).
pub fn process_exists(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Waits for a child to exit, at most `within`.
pub fn wait_child(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The outcome of one CLI command.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts success and parses stdout as JSON.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "command failed: {self:?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// Asserts a failure (exit 1 with exactly one stderr line) and returns that line.
    pub fn error_line(&self) -> String {
        assert_eq!(self.code, Some(1), "expected exit code 1: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected exactly one stderr line: {self:?}");
        lines[0].to_string()
    }

    /// Asserts a failure whose stderr line starts with `code: `.
    pub fn assert_code(&self, code: &str) -> String {
        let line = self.error_line();
        assert!(line.starts_with(&format!("{code}: ")), "expected {code}, got: {line}");
        line
    }
}

/// The CA of every secure deployment a test started (`twinstore up`, `scripts/cluster.sh`), by
/// its endpoints: [`run`] passes it (`--ca`) to a command sent to any of them, as a user would
/// after the `export TWINSTORE_CA=...` they print.
/// A secure deployment's endpoint, the CA to check it by and the token to send it.
type Trusted = (String, PathBuf, Option<String>);
static TRUSTED: std::sync::Mutex<Vec<Trusted>> = std::sync::Mutex::new(Vec::new());

/// Makes [`run`] check the nodes at `endpoints` (comma-separated) by `ca`, and send `token`.
pub fn trust(endpoints: &str, ca: &Path, token: Option<&str>) {
    let mut cas = TRUSTED.lock().unwrap_or_else(|e| e.into_inner());
    cas.extend(
        endpoints
            .split(',')
            .map(|e| (e.trim().to_string(), ca.to_path_buf(), token.map(str::to_string))),
    );
}

/// The CA and token for a (comma-separated) endpoint list, if a secure deployment a test
/// started printed one of them.
fn trusted(endpoint: &str) -> Option<(PathBuf, Option<String>)> {
    let cas = TRUSTED.lock().unwrap_or_else(|e| e.into_inner());
    endpoint.split(',').find_map(|e| {
        cas.iter().find(|(url, _, _)| url == e.trim()).map(|(_, ca, t)| (ca.clone(), t.clone()))
    })
}

/// Runs `twinstore --endpoint <endpoint> <args>` with an optional stdin.
pub fn run_with_stdin(endpoint: &str, args: &[&str], stdin: Option<&str>) -> Out {
    let mut command = Command::new(bin());
    if let Some((ca, token)) = trusted(endpoint) {
        command.arg("--ca").arg(ca);
        if let Some(token) = token {
            command.arg("--token").arg(token);
        }
    }
    let mut child = command
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env_remove("TWINSTORE_CA")
        .env_remove("TWINSTORE_TOKEN")
        .env_remove("TWINSTORE_ENDPOINT")
        .env_remove("TWINSTORE_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the twinstore binary");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let status = match wait_child(&mut child, COMMAND_TIMEOUT) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("twinstore {args:?} did not finish within {COMMAND_TIMEOUT:?}");
        }
    };
    Out {
        code: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Runs `twinstore --endpoint <endpoint> <args>`.
pub fn run(endpoint: &str, args: &[&str]) -> Out {
    run_with_stdin(endpoint, args, None)
}

/// Runs a command with `--output json` and returns the parsed JSON (asserting success).
pub fn json(endpoint: &str, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    run(endpoint, &all).json()
}

/// A port that is free on every one of `ips` right now (bound, then released), for nodes that
/// must know each other's addresses before they start, or that restart on the same address.
///
/// Candidates lie below the kernel's ephemeral range (`ip_local_port_range`), so no outgoing
/// connection of a concurrent test can take the port while its node is down between a kill and a
/// restart. A process-wide counter keeps tests of one binary apart; the starting point is derived
/// from the process id, so concurrent test processes rarely probe the same ports.
pub fn free_port_on(ips: &[std::net::Ipv4Addr]) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let high = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
        .max(LOW + 1_000);
    let span = high - LOW;
    let base = (std::process::id() % 1_000) * 17;
    for _ in 0..span {
        let port = (LOW + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if ips.iter().all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok()) {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// A free port on 127.0.0.1 outside the ephemeral range (see [`free_port_on`]).
pub fn free_port() -> u16 {
    free_port_on(&[std::net::Ipv4Addr::LOCALHOST])
}

/// `127.0.1.1 ..= 127.0.1.n`: one loopback address per node, as `twinstore up` uses.
pub fn region_ips(n: u8) -> Vec<std::net::Ipv4Addr> {
    region_ips_at(1, n)
}

/// `127.0.<octet>.1 ..= 127.0.<octet>.n`: region `primary` is on octet 1, `standby` on 2.
pub fn region_ips_at(octet: u8, n: u8) -> Vec<std::net::Ipv4Addr> {
    (1..=n).map(|i| std::net::Ipv4Addr::new(127, 0, octet, i)).collect()
}

/// Polls `cluster status --output json` on `endpoints` until one leader is followed by every
/// node that answers and `reachable` nodes answer, at most `within`; returns the last status.
pub fn wait_for_leader(endpoints: &str, reachable: u64, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let out = run(endpoints, &["--output", "json", "cluster", "status"]);
        let status: Option<Value> =
            if out.code == Some(0) { serde_json::from_str(&out.stdout).ok() } else { None };
        if let Some(s) = &status
            && s["settled"] == true
            && s["reachable"].as_u64() >= Some(reachable)
        {
            return s.clone();
        }
        if start.elapsed() > within {
            panic!("no leader among {endpoints} within {within:?}; last status: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Calls `f` every 50 ms until it returns `Some`, at most `within`; panics with `what` after.
pub fn poll<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > within {
            panic!("{what} did not happen within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback address where nothing listens.
pub fn closed_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// Reads the sample file `scripts/sample/<name>` as JSON.
pub fn sample(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_path(&format!("scripts/sample/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Adds the sample models and puts every sample twin and relationship through the CLI.
pub fn load_sample(endpoint: &str) {
    let models = repo_path("scripts/sample/models");
    let added = json(endpoint, &["model", "add", models.to_str().unwrap()]);
    assert_eq!(added.as_array().map(|a| a.len()), Some(5), "{added}");
    for twin in sample("twins.json").as_array().unwrap() {
        let id = twin["$dtId"].as_str().unwrap();
        let put = json(endpoint, &["twin", "put", id, &twin.to_string()]);
        assert_eq!(put["$dtId"], id);
    }
    for rel in sample("relationships.json").as_array().unwrap() {
        let mut body = rel.clone();
        let o = body.as_object_mut().unwrap();
        let source = o.remove("$sourceId").unwrap();
        let rel_id = o.remove("$relationshipId").unwrap();
        let (source, rel_id) = (source.as_str().unwrap(), rel_id.as_str().unwrap());
        let put = json(endpoint, &["rel", "put", source, rel_id, &body.to_string()]);
        assert_eq!(put["$relationshipId"], rel_id);
    }
}

/// Runs `twinstore up <extra>` on `port` with its data in `data`, waits until it is ready (its
/// banner ends with "Press Ctrl-C to stop."), and returns the child, the `endpoint:` line's
/// endpoints, the nodes' pids and the lines read so far. Stdout keeps being drained.
pub fn start_up(data: &Path, port: u16, extra: &[&str]) -> (Child, String, Vec<u32>, Vec<String>) {
    let mut child = Command::new(bin())
        .args(["up", "--data"])
        .arg(data)
        .args(["--base-port", &port.to_string()])
        .args(extra)
        .env_remove("RUST_LOG")
        // A node setting in the environment must not reach `up`'s nodes: were this one to, the
        // primary would follow a region that does not exist and refuse the sample graph.
        .env("TWINSTORE_STANDBY_OF", "http://127.0.9.9:9")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    // Two regions: both elect, the sample is loaded, the standby catches up.
    let deadline = Instant::now() + START_TIMEOUT * 2;
    let mut lines = Vec::new();
    // The banner ends with "Press Ctrl-C to stop."; the endpoint line comes before it.
    let mut endpoint = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(e) = line.strip_prefix("endpoint: ") {
                    endpoint = Some(e.to_string());
                }
                let done = line.starts_with("Press Ctrl-C");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("`twinstore up` did not finish starting ({e}); output so far: {lines:#?}");
            }
        }
    }
    let endpoint = endpoint.unwrap_or_else(|| panic!("no endpoint line in {lines:#?}"));
    let ca = lines.iter().find_map(|l| l.trim().strip_prefix("export TWINSTORE_CA="));
    let token = lines.iter().find_map(|l| l.trim().strip_prefix("export TWINSTORE_TOKEN="));
    if let Some(ca) = ca {
        trust(&endpoint, Path::new(ca), token);
    }
    let pids: Vec<u32> = lines
        .iter()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("primary/node") || l.starts_with("standby/node")
        })
        .filter_map(|l| l.split(" pid ").nth(1))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|p| p.parse().ok())
        .collect();
    // Keep draining stdout so `up` never blocks on a full pipe.
    std::thread::spawn(move || for _ in rx {});
    (child, endpoint, pids, lines)
}
