//! `twinstore up`: a local deployment with the sample graph, in one command.
//!
//! The point is a first five minutes without reading docs: `twinstore up` starts the node(s) as
//! child processes of itself (`<this binary> node ...`, so there is nothing else to install),
//! waits until they answer, loads the sample building graph compiled into the binary, prints the
//! endpoint and a few commands to try, and stays in the foreground. Ctrl-C (SIGINT) or SIGTERM
//! stops every child cleanly (SIGTERM, wait, kill only if it hangs) and exits 0.
//!
//! Loading is idempotent, so `up` can be run again on the same data: models that already exist are
//! skipped, twins and relationships are simply PUT again.
//!
//! Today the deployment is a single node; it is already "a list of child nodes" (`plan` returns
//! the list, everything else loops over it) so it can grow into two regions of three nodes.

use super::node::LISTENING_PREFIX;
use super::output::{CliError, CliResult, out};
use super::sample;
use crate::client::{Client, Conditions, Consistency, PageRequest, RetryPolicy};
use crate::error::ErrorCode;
use clap::Args;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Where `up` keeps data when `--data` is not given (relative to the current directory).
const DEFAULT_DATA_DIR: &str = "./twinstore-data/node1";
/// How long a node may take to print its listening line, and then to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The node's data directory [default: ./twinstore-data/node1].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The address the node serves on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
}

/// One node to start.
#[derive(Debug, Clone)]
struct NodeSpec {
    name: String,
    data: PathBuf,
    listen: SocketAddr,
}

/// A started node.
struct ChildNode {
    spec: NodeSpec,
    child: tokio::process::Child,
    pid: u32,
    endpoint: String,
}

pub(crate) fn run(args: UpArgs) -> CliResult<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    runtime.block_on(up(args))
}

/// The nodes of the deployment.
fn plan(args: &UpArgs) -> Vec<NodeSpec> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => {
            out(&format!("no --data given: node1 keeps its data in {DEFAULT_DATA_DIR}"));
            PathBuf::from(DEFAULT_DATA_DIR)
        }
    };
    vec![NodeSpec { name: "node1".into(), data, listen: args.listen }]
}

async fn up(args: UpArgs) -> CliResult<ExitCode> {
    let signal = super::shutdown_signal().map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("cannot install signal handlers: {e}"))
    })?;
    tokio::pin!(signal);
    let specs = plan(&args);
    let mut nodes = Vec::new();
    let started = tokio::select! {
        r = start_and_load(&specs, &mut nodes) => Some(r),
        which = &mut signal => {
            out(&format!("{which} received while starting; stopping"));
            None
        }
    };
    let loaded = match started {
        None => {
            stop_all(&mut nodes).await;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Err(e)) => {
            stop_all(&mut nodes).await;
            return Err(e);
        }
        Some(Ok(loaded)) => loaded,
    };
    print_banner(&nodes, &loaded);
    let outcome = tokio::select! {
        which = &mut signal => Ok(which),
        exited = watch(&mut nodes) => Err(exited),
    };
    match outcome {
        Ok(which) => out(&format!("{which} received; stopping {} node(s)", nodes.len())),
        // A node that exits with success was stopped by someone else (a Ctrl-C in the terminal
        // reaches the whole process group): stop the rest the same way.
        Err(Exited { name, status, .. }) if status.success() => {
            out(&format!("{name} stopped; stopping the deployment"))
        }
        Err(Exited { name, pid, status }) => {
            stop_all(&mut nodes).await;
            return Err(CliError::new(
                ErrorCode::Unavailable,
                format!("{name} (pid {pid}) exited unexpectedly: {status}"),
            ));
        }
    }
    stop_all(&mut nodes).await;
    out("stopped");
    Ok(ExitCode::SUCCESS)
}

/// What was loaded.
struct Loaded {
    models: usize,
    new_models: usize,
    twins: usize,
    relationships: usize,
}

async fn start_and_load(specs: &[NodeSpec], nodes: &mut Vec<ChildNode>) -> CliResult<Loaded> {
    for spec in specs {
        nodes.push(start_node(spec).await?);
    }
    let endpoints: Vec<&str> = nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let client = Client::new(&endpoints)?;
    wait_until_ready(&endpoints).await?;
    load_sample(&client).await
}

async fn start_node(spec: &NodeSpec) -> CliResult<ChildNode> {
    let name = spec.name.clone();
    std::fs::create_dir_all(&spec.data).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot create {}: {e}", spec.data.display()),
        )
    })?;
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("cannot find the twinstore binary: {e}"))
    })?;
    let mut child = tokio::process::Command::new(exe)
        .arg("node")
        .arg("--data")
        .arg(&spec.data)
        .arg("--listen")
        .arg(spec.listen.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start {name}: {e}")))?;
    let pid = child.id().unwrap_or(0);
    let Some(stdout) = child.stdout.take() else {
        return Err(CliError::new(ErrorCode::Internal, "the node's stdout is not piped"));
    };
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(START_TIMEOUT, lines.next_line()).await;
    let addr = match first {
        Ok(Ok(Some(line))) => {
            line.strip_prefix(LISTENING_PREFIX).and_then(|a| a.trim().parse::<SocketAddr>().ok())
        }
        _ => None,
    };
    let Some(mut addr) = addr else {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(CliError::new(
            ErrorCode::Unavailable,
            format!("{name} did not start on {} (its error, if any, is above)", spec.listen),
        ));
    };
    // Anything else the node prints on stdout goes to our stderr, tagged.
    let tag = name.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{tag}] {line}");
        }
    });
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(ChildNode { spec: spec.clone(), child, pid, endpoint: format!("http://{addr}") })
}

/// Polls until a read succeeds (the node may need a moment to elect itself leader).
async fn wait_until_ready(endpoints: &[&str]) -> CliResult {
    let policy = RetryPolicy { attempt_timeout: Duration::from_secs(5), ..RetryPolicy::no_retry() };
    let probe = Client::with_policy(endpoints, policy)?;
    let page = PageRequest { page_size: 1, ..PageRequest::first(Consistency::Linearizable) };
    let start = Instant::now();
    loop {
        match probe.list_models(&[], false, &page).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retryable() && start.elapsed() < START_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(CliError::from(e).context("the node does not answer")),
        }
    }
}

/// Loads the sample graph; safe to run again on the same data.
async fn load_sample(client: &Client) -> CliResult<Loaded> {
    let ctx =
        |what: &'static str| move |e: crate::client::ClientError| CliError::from(e).context(what);
    let existing: BTreeSet<String> = client
        .list_models_all(&[], false, Consistency::Linearizable)
        .await
        .map_err(ctx("listing models"))?
        .iter()
        .filter_map(|m| {
            let v: Value = serde_json::from_str(m).ok()?;
            Some(v.get("id")?.as_str()?.to_string())
        })
        .collect();
    let models: Vec<Value> =
        sample::MODELS.iter().map(|(file, text)| parse(text, file)).collect::<CliResult<_>>()?;
    let missing: Vec<Value> = models
        .iter()
        .filter(|m| !m["@id"].as_str().is_some_and(|id| existing.contains(id)))
        .cloned()
        .collect();
    let new_models = missing.len();
    if !missing.is_empty() {
        match client.add_models(&Value::Array(missing).to_string()).await {
            Ok(_) => {}
            Err(e) if e.code == Some(ErrorCode::ModelAlreadyExists) => {}
            Err(e) => return Err(CliError::from(e).context("adding the sample models")),
        }
    }
    let twins = parse_array(sample::TWINS, "twins.json")?;
    for mut twin in twins.iter().cloned() {
        let id = take_string(&mut twin, "$dtId", "twins.json")?;
        client
            .put_twin(&id, &twin.to_string(), Conditions::none())
            .await
            .map_err(|e| CliError::from(e).context(&format!("putting twin '{id}'")))?;
    }
    let rels = parse_array(sample::RELATIONSHIPS, "relationships.json")?;
    for mut rel in rels.iter().cloned() {
        let source = take_string(&mut rel, "$sourceId", "relationships.json")?;
        let rel_id = take_string(&mut rel, "$relationshipId", "relationships.json")?;
        client
            .put_relationship(&source, &rel_id, &rel.to_string(), Conditions::none())
            .await
            .map_err(|e| {
                CliError::from(e).context(&format!("putting relationship '{source}/{rel_id}'"))
            })?;
    }
    Ok(Loaded { models: models.len(), new_models, twins: twins.len(), relationships: rels.len() })
}

fn parse(text: &str, file: &str) -> CliResult<Value> {
    serde_json::from_str(text).map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("the embedded sample {file} is broken: {e}"))
    })
}

fn parse_array(text: &str, file: &str) -> CliResult<Vec<Value>> {
    match parse(text, file)? {
        Value::Array(items) => Ok(items),
        _ => Err(CliError::new(ErrorCode::Internal, format!("sample {file} is not an array"))),
    }
}

/// Removes a string field (ids that travel in the request, not the body).
fn take_string(doc: &mut Value, key: &str, file: &str) -> CliResult<String> {
    match doc.as_object_mut().and_then(|o| o.remove(key)) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(CliError::new(ErrorCode::Internal, format!("an entry of {file} has no {key}"))),
    }
}

fn print_banner(nodes: &[ChildNode], loaded: &Loaded) {
    out(&format!(
        "sample graph loaded: {} models ({} new), {} twins, {} relationships",
        loaded.models, loaded.new_models, loaded.twins, loaded.relationships
    ));
    out("");
    out(&format!("twinstore is up: {} node(s)", nodes.len()));
    for n in nodes {
        out(&format!(
            "  {}  {}  pid {}  data {}",
            n.spec.name,
            n.endpoint,
            n.pid,
            n.spec.data.display()
        ));
    }
    let endpoints: Vec<&str> = nodes.iter().map(|n| n.endpoint.as_str()).collect();
    let endpoint = endpoints.join(",");
    out(&format!("endpoint: {endpoint}"));
    let cmd = if endpoint == super::DEFAULT_ENDPOINT {
        "twinstore".to_string()
    } else {
        format!("twinstore --endpoint {endpoint}")
    };
    out("");
    out("Try, in another terminal:");
    out(&format!("  {cmd} twin get room-101"));
    out(&format!("  {cmd} rel list floor-1"));
    out(&format!(
        "  {cmd} twin patch room-101 '[{{\"op\":\"replace\",\"path\":\"/temperature\",\"value\":23.5}}]'"
    ));
    out(&format!("  {cmd} rel incoming sensor-101"));
    out(&format!("  {cmd} model list"));
    out("");
    out("Press Ctrl-C to stop.");
}

/// A node that exited on its own.
struct Exited {
    name: String,
    pid: u32,
    status: std::process::ExitStatus,
}

/// Returns when a node exits on its own.
async fn watch(nodes: &mut [ChildNode]) -> Exited {
    loop {
        for n in nodes.iter_mut() {
            if let Ok(Some(status)) = n.child.try_wait() {
                return Exited { name: n.spec.name.clone(), pid: n.pid, status };
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends SIGTERM to every node, then waits for each; one that hangs is killed.
async fn stop_all(nodes: &mut [ChildNode]) {
    for n in nodes.iter_mut() {
        if !terminate(n.pid).await {
            let _ = n.child.start_kill();
        }
    }
    for n in nodes.iter_mut() {
        match tokio::time::timeout(STOP_TIMEOUT, n.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => eprintln!("{} exited with {status}", n.spec.name),
            Ok(Err(e)) => eprintln!("cannot wait for {}: {e}", n.spec.name),
            Err(_) => {
                eprintln!("{} did not stop within {STOP_TIMEOUT:?}; killing it", n.spec.name);
                let _ = n.child.kill().await;
            }
        }
    }
}

/// Asks a process to stop with SIGTERM (through `kill`, to stay free of libc). False when the
/// signal could not be sent (not unix, no `kill` command).
async fn terminate(pid: u32) -> bool {
    if !cfg!(unix) || pid == 0 {
        return false;
    }
    let status = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    // `kill` fails when the process is already gone, which is fine too.
    status.is_ok()
}
