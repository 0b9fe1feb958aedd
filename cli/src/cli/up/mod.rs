//! `twinstore up`: a local two-region deployment with the sample graph, in one command.
//!
//! The point is a first five minutes without reading docs: `twinstore up` starts a primary region
//! and its standby region (three nodes each by default) as child processes of itself (`<this
//! binary> node ...`, so there is nothing else to install), waits until each region has elected a
//! leader and the standby has taken its role, loads the sample building graph compiled into the
//! binary into the primary, waits (bounded) until the standby has caught up, prints both regions'
//! endpoints, the DR status and each region's raft status, and stays in the foreground. Ctrl-C
//! (SIGINT) or SIGTERM stops every child cleanly (SIGTERM, wait, kill only if it hangs) and exits
//! 0. Killing one node by hand (`kill -9 <pid>`) is fine: `up` says so and the others keep
//! serving.
//!
//! Every node has its own loopback address, as DESIGN.md asks for local deployments: node N of
//! region `primary` listens on `127.0.1.N:<port>` and node N of region `standby` on
//! `127.0.2.N:<port>` (default port 7001), each keeping its data in `<data>/<region>/nodeN`. The
//! primary's nodes are started with `--standby <the standby's URLs>`, the standby's with
//! `--standby-of <the primary's URLs>`. Linux answers on all of 127.0.0.0/8 without setup;
//! elsewhere binding fails, and `up` says which address to add. `--no-standby` starts the primary
//! region alone; `--nodes` sets the size of each region.
//!
//! Loading is idempotent, so `up` can be run again on the same data: models that already exist are
//! skipped, twins and relationships are simply PUT again — through a client given both regions'
//! endpoints, so they go to whichever region is the primary now (after a DR drill it may be the
//! region named `standby`).
//!
//! The deployment is "a list of regions, each a list of nodes" ([`plan`]); everything else loops
//! over it.

mod banner;
mod tls;

use super::cluster;
use super::node::{LISTENING_PREFIX, bind_hint};
use super::output::{CliError, CliResult, out};
use super::sample::{self, Loaded};
use clap::Args;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use twinstore::client::{
    Client, ClientOptions, ClientTls, Consistency, DrOverview, PageRequest, RetryPolicy,
};
use twinstore::error::ErrorCode;
use twinstore::pb::DrRole;
use twinstore::security::tls::TlsFiles;

/// Where `up` keeps data when `--data` is not given (relative to the current directory).
const DEFAULT_DATA_DIR: &str = "./twinstore-data";
/// How long a node may take to print its listening line, and the region to elect a leader.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the standby may take to catch up with the loaded sample before `up` goes on anyway.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// The regions' names and the third octet of their nodes' loopback addresses.
const PRIMARY: (&str, u8) = ("primary", 1);
const STANDBY: (&str, u8) = ("standby", 2);

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Where the nodes keep their data: DIR/<region>/node<N> [default: ./twinstore-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The port every node listens on, each on its own loopback address (127.0.1.N in region
    /// primary, 127.0.2.N in region standby).
    #[arg(long, value_name = "PORT", default_value_t = 7001)]
    base_port: u16,
    /// The number of nodes in each region (3 tolerates one failure, 5 two; 1 none).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Start the primary region alone, without a standby region.
    #[arg(long)]
    no_standby: bool,
    /// Each node's storage page cache in MiB.
    #[arg(long, value_name = "N", default_value_t = 64)]
    cache_mb: u64,
    /// Serve plaintext, without TLS (loopback only). By default the nodes use TLS with a CA and
    /// certificates `up` keeps in DIR/certs (clients then need `--ca DIR/certs/ca.pem`, or
    /// TWINSTORE_CA, as `up` prints).
    #[arg(long)]
    insecure: bool,
}

/// One region to start.
#[derive(Debug, Clone)]
struct RegionSpec {
    name: String,
    nodes: Vec<NodeSpec>,
}

/// One node to start.
#[derive(Debug, Clone)]
struct NodeSpec {
    /// `<region>/node<N>`.
    name: String,
    region: String,
    id: u64,
    data: PathBuf,
    listen: SocketAddr,
    /// The region's `--peers` (the same on every member).
    peers: String,
    /// The DR flags (`--standby URLs` or `--standby-of URLs`).
    dr: Vec<String>,
    cache_mb: u64,
    /// Its TLS files (see `tls`); `None` with `--insecure`.
    tls: Option<TlsFiles>,
    /// The public key it verifies tokens with (see `tls`); `None` with `--insecure`.
    token_key: Option<PathBuf>,
}

/// A started node.
struct ChildNode {
    spec: NodeSpec,
    child: tokio::process::Child,
    pid: u32,
    endpoint: String,
    /// Set once the node has exited.
    exited: bool,
}

pub(crate) fn run(args: UpArgs) -> CliResult<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    runtime.block_on(up(args))
}

/// The regions of the deployment: `primary` on 127.0.1.N and, unless `--no-standby`, `standby`
/// on 127.0.2.N, each told where the other is.
fn plan(args: &UpArgs, data: &Path) -> Vec<RegionSpec> {
    let scheme = scheme(args);
    let region = |(name, octet): (&str, u8)| region_plan(name, octet, args, scheme, data);
    let mut primary = region(PRIMARY);
    if args.no_standby {
        return vec![primary];
    }
    let mut standby = region(STANDBY);
    let urls = |r: &RegionSpec| {
        r.nodes.iter().map(|n| format!("{scheme}://{}", n.listen)).collect::<Vec<_>>().join(",")
    };
    let (primary_urls, standby_urls) = (urls(&primary), urls(&standby));
    for n in &mut primary.nodes {
        n.dr = vec![
            "--standby".into(),
            standby_urls.clone(),
            "--peer-region".into(),
            STANDBY.0.into(),
        ];
    }
    for n in &mut standby.nodes {
        n.dr = vec![
            "--standby-of".into(),
            primary_urls.clone(),
            "--peer-region".into(),
            PRIMARY.0.into(),
        ];
    }
    vec![primary, standby]
}

/// `https`, or `http` with `--insecure`.
fn scheme(args: &UpArgs) -> &'static str {
    if args.insecure { "http" } else { "https" }
}

/// Where the data goes.
fn data_dir(args: &UpArgs) -> PathBuf {
    match &args.data {
        Some(d) => d.clone(),
        None => {
            out(&format!("no --data given: keeping data in {DEFAULT_DATA_DIR}"));
            PathBuf::from(DEFAULT_DATA_DIR)
        }
    }
}

/// Region `name` on `127.0.<octet>.N:<port>` for N in 1..=nodes.
fn region_plan(name: &str, octet: u8, args: &UpArgs, scheme: &str, data: &Path) -> RegionSpec {
    let (nodes, cache_mb) = (args.nodes, args.cache_mb);
    let addr = |n: u64| SocketAddr::from((Ipv4Addr::new(127, 0, octet, n as u8), args.base_port));
    // A region of one node needs no peers: a lone node forms its own group.
    let peers: Vec<String> = (1..=nodes).map(|n| format!("{n}={scheme}://{}", addr(n))).collect();
    let peers = if nodes > 1 { peers.join(",") } else { String::new() };
    let nodes = (1..=nodes)
        .map(|n| NodeSpec {
            name: format!("{name}/node{n}"),
            region: name.to_string(),
            id: n,
            data: data.join(name).join(format!("node{n}")),
            listen: addr(n),
            peers: peers.clone(),
            dr: Vec::new(),
            cache_mb,
            tls: None,
            token_key: None,
        })
        .collect();
    RegionSpec { name: name.to_string(), nodes }
}

async fn up(args: UpArgs) -> CliResult<ExitCode> {
    let signal = super::shutdown_signal().map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("cannot install signal handlers: {e}"))
    })?;
    tokio::pin!(signal);
    let data = data_dir(&args);
    let mut regions = plan(&args, &data);
    check_addresses(&regions)?;
    let secured = if args.insecure { None } else { Some(secure(&data, &mut regions)?) };
    let options = ClientOptions {
        tls: secured
            .as_ref()
            .map(|s| ClientTls::load(&s.ca, None))
            .transpose()
            .map_err(|e| CliError::new(ErrorCode::InvalidArgument, e))?,
        token: secured.as_ref().map(|s| s.token.clone()),
        ..ClientOptions::default()
    };
    let mut nodes = Vec::new();
    let started = tokio::select! {
        r = start_and_load(&regions, &mut nodes, &options) => Some(r),
        which = &mut signal => {
            out(&format!("{which} received while starting; stopping"));
            None
        }
    };
    let (loaded, ready) = match started {
        None => {
            stop_all(&mut nodes).await;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Err(e)) => {
            stop_all(&mut nodes).await;
            return Err(e);
        }
        Some(Ok(done)) => done,
    };
    banner::print(&regions, &nodes, &loaded, &ready, secured.as_ref());
    loop {
        let outcome = tokio::select! {
            which = &mut signal => Ok(which),
            exited = watch(&mut nodes) => Err(exited),
        };
        match outcome {
            Ok(which) => {
                out(&format!("{which} received; stopping {} node(s)", running(&nodes)));
                break;
            }
            // A node that exits with success was stopped by someone else (a Ctrl-C in the
            // terminal reaches the whole process group): stop the rest the same way.
            Err(Exited { name, status, .. }) if status.success() => {
                out(&format!("{name} stopped; stopping the deployment"));
                break;
            }
            Err(Exited { name, pid, status }) => {
                eprintln!(
                    "{name} (pid {pid}) exited: {status}; {} node(s) still running",
                    running(&nodes)
                );
                if running(&nodes) == 0 {
                    return Err(CliError::new(
                        ErrorCode::Unavailable,
                        "every node has exited; stopping".to_string(),
                    ));
                }
            }
        }
    }
    stop_all(&mut nodes).await;
    out("stopped");
    Ok(ExitCode::SUCCESS)
}

/// What a secure deployment's clients need: the CA to check the nodes by, a token, and where
/// the key to issue more is.
pub(crate) struct Secured {
    ca: PathBuf,
    token: String,
    signing_key: PathBuf,
}

/// Gives every node its certificate and the token key (made under `<data>` when missing).
fn secure(data: &Path, regions: &mut [RegionSpec]) -> CliResult<Secured> {
    let members: Vec<tls::Member> = regions
        .iter()
        .flat_map(|r| &r.nodes)
        .map(|n| (n.region.as_str(), n.id, n.listen))
        .collect();
    let (ca, files) = tls::prepare(data, &members)?;
    let (signing_key, public, token) = tls::token(data)?;
    for (node, tls) in regions.iter_mut().flat_map(|r| &mut r.nodes).zip(files) {
        node.tls = Some(tls);
        node.token_key = Some(public.clone());
    }
    Ok(Secured { ca, token, signing_key })
}

fn running(nodes: &[ChildNode]) -> usize {
    nodes.iter().filter(|n| !n.exited).count()
}

/// Checks that every node's address can be bound before anything starts, so a busy port or a
/// missing loopback address is one clear error instead of a node dying later.
fn check_addresses(regions: &[RegionSpec]) -> CliResult {
    for node in regions.iter().flat_map(|r| &r.nodes) {
        if let Err(e) = std::net::TcpListener::bind(node.listen) {
            let hint = bind_hint(&node.listen, &e.to_string());
            return Err(CliError::new(
                ErrorCode::Unavailable,
                format!(
                    "cannot listen on {} for {}: {e}{hint}; choose other ports with --base-port",
                    node.listen, node.name
                ),
            ));
        }
    }
    Ok(())
}

/// What `up` shows once everything is ready.
struct Ready {
    /// Each region's raft status.
    cluster: cluster::ClusterView,
    /// The DR status of every node (empty with one region).
    dr: Option<DrOverview>,
    /// Where the sample went.
    primary: String,
    /// Set when the standby did not catch up in time: what it showed last.
    lagging: Option<String>,
}

async fn start_and_load(
    regions: &[RegionSpec],
    nodes: &mut Vec<ChildNode>,
    options: &ClientOptions,
) -> CliResult<(Loaded, Ready)> {
    // Start every node, then wait for each: a region can only elect once a majority is up.
    let mut pending = Vec::new();
    for spec in regions.iter().flat_map(|r| &r.nodes) {
        pending.push(spawn_node(spec)?);
    }
    for (spec, child, lines) in pending {
        nodes.push(await_listening(spec, child, lines).await?);
    }
    let endpoints: Vec<String> = nodes.iter().map(|n| n.endpoint.clone()).collect();
    for region in regions {
        let members: Vec<String> = nodes
            .iter()
            .filter(|n| n.spec.region == region.name)
            .map(|n| n.endpoint.clone())
            .collect();
        wait_until_elected(&region.name, &members, options).await?;
    }
    let two_regions = regions.len() > 1;
    if two_regions {
        wait_for_roles(&endpoints, options).await?;
    }
    let client = Client::with_options(&endpoints, options.clone())?;
    wait_until_writable(&client).await?;
    let loaded = sample::load(&client).await?;
    let (primary, lagging, dr) = if two_regions {
        let (primary, lagging, overview) = wait_for_standby(&client).await;
        (primary, lagging, Some(overview))
    } else {
        (regions[0].name.clone(), None, None)
    };
    let cluster = cluster::collect(&client, &endpoints).await;
    Ok((loaded, Ready { cluster, dr, primary, lagging }))
}

type NodeLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Where a node started by `up` serves its status page and metrics: its own address, the gRPC
/// port + 1000.
fn http_addr(listen: SocketAddr) -> SocketAddr {
    SocketAddr::new(listen.ip(), listen.port().saturating_add(1000))
}

fn spawn_node(spec: &NodeSpec) -> CliResult<(NodeSpec, tokio::process::Child, NodeLines)> {
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
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("node")
        .args(["--id", &spec.id.to_string()])
        .args(["--region", &spec.region])
        .arg("--data")
        .arg(&spec.data)
        .args(["--listen", &spec.listen.to_string()])
        .args(["--cache-mb", &spec.cache_mb.to_string()])
        .args(["--http", &http_addr(spec.listen).to_string()]);
    if !spec.peers.is_empty() {
        command.args(["--peers", &spec.peers]);
    }
    if let Some(tls) = &spec.tls {
        command.arg("--tls-ca").arg(&tls.ca);
        command.arg("--tls-cert").arg(&tls.cert);
        command.arg("--tls-key").arg(&tls.key);
    }
    if let Some(key) = &spec.token_key {
        command.arg("--token-key").arg(key);
    }
    command.args(&spec.dr);
    // `up`'s nodes are configured by `up` alone: a node setting left in the user's environment
    // (`TWINSTORE_STANDBY_OF`, say) would otherwise apply to every node it starts.
    for name in super::settings::env_names() {
        command.env_remove(name);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start {name}: {e}")))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(CliError::new(ErrorCode::Internal, "the node's stdout is not piped"));
    };
    Ok((spec.clone(), child, BufReader::new(stdout).lines()))
}

async fn await_listening(
    spec: NodeSpec,
    mut child: tokio::process::Child,
    mut lines: NodeLines,
) -> CliResult<ChildNode> {
    let name = spec.name.clone();
    let pid = child.id().unwrap_or(0);
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
        addr.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if spec.tls.is_some() { "https" } else { "http" };
    Ok(ChildNode { spec, child, pid, endpoint: format!("{scheme}://{addr}"), exited: false })
}

/// Waits (bounded) until every node of a region answers and follows one leader. Servers without
/// `ClusterService` skip this.
async fn wait_until_elected(
    region: &str,
    endpoints: &[String],
    options: &ClientOptions,
) -> CliResult {
    let policy = RetryPolicy { attempt_timeout: Duration::from_secs(2), ..RetryPolicy::no_retry() };
    let probe = Client::with_options(endpoints, ClientOptions { policy, ..options.clone() })?;
    let start = Instant::now();
    loop {
        let view = cluster::collect(&probe, endpoints).await;
        let unimplemented = view
            .nodes
            .iter()
            .all(|n| n.status.as_ref().err().is_some_and(|e| e.starts_with("Unimplemented")));
        if unimplemented || (view.settled() && view.reachable() >= endpoints.len()) {
            return Ok(());
        }
        if start.elapsed() > START_TIMEOUT {
            let lines = view.table().join("\n");
            return Err(CliError::new(
                ErrorCode::Unavailable,
                format!("region {region} elected no leader within {START_TIMEOUT:?}:\n{lines}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (bounded) until one region says it is the primary and every other region's leader says
/// it is a standby (a new standby region records its role once it has a leader).
async fn wait_for_roles(endpoints: &[String], options: &ClientOptions) -> CliResult {
    let policy = RetryPolicy::no_retry();
    let probe = Client::with_options(endpoints, ClientOptions { policy, ..options.clone() })?;
    let start = Instant::now();
    loop {
        let overview = probe.dr_overview().await;
        if let Some((primary, _)) = overview.primary() {
            let others_standby = overview.regions().iter().filter(|r| **r != primary).all(|r| {
                overview
                    .region_view(r)
                    .is_some_and(|(_, s)| s.leader && s.role() == DrRole::Standby)
            });
            if others_standby && overview.regions().len() > 1 {
                return Ok(());
            }
        }
        if start.elapsed() > START_TIMEOUT {
            return Err(CliError::new(
                ErrorCode::Unavailable,
                format!(
                    "the regions did not take their DR roles within {START_TIMEOUT:?}: {}",
                    overview.describe()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (bounded) until a linearizable read succeeds on the primary.
async fn wait_until_writable(client: &Client) -> CliResult {
    let start = Instant::now();
    let page = PageRequest { page_size: 1, ..PageRequest::first(Consistency::Linearizable) };
    loop {
        match client.list_models(&[], false, &page).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retryable() && start.elapsed() < START_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(CliError::from(e).context("the primary region does not answer")),
        }
    }
}

/// Waits (bounded) until the standby holds everything the primary had once the sample was
/// loaded: the primary region, and what the standby showed last if it did not catch up in time.
async fn wait_for_standby(client: &Client) -> (String, Option<String>, DrOverview) {
    let start = Instant::now();
    let mut target = None;
    loop {
        let overview = client.dr_overview().await;
        let primary = overview.primary().map(|(r, _)| r).unwrap_or_default();
        if target.is_none() {
            target = overview.region_view(&primary).map(|(_, s)| s.applied_index);
        }
        let standby = overview.standby_region().ok();
        let view = standby.as_deref().and_then(|r| overview.region_view(r)).map(|(_, s)| s.clone());
        let caught_up = view.as_ref().is_some_and(|s| {
            s.leader
                && s.shipping
                && s.lag_entries == 0
                && target.is_some_and(|t| s.replicated_index >= t)
        });
        if caught_up {
            return (primary, None, overview);
        }
        if start.elapsed() > CATCH_UP_TIMEOUT {
            let last = match view {
                Some(s) => format!(
                    "region {} is at {}:{} ({} entries behind{})",
                    s.region,
                    s.replicated_epoch,
                    s.replicated_index,
                    s.lag_entries,
                    if s.shipping_error.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", s.shipping_error)
                    }
                ),
                None => format!("no standby answers ({})", overview.describe()),
            };
            return (primary, Some(last), overview);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A node that exited on its own.
struct Exited {
    name: String,
    pid: u32,
    status: std::process::ExitStatus,
}

/// Returns when a node that was running exits (and marks it).
async fn watch(nodes: &mut [ChildNode]) -> Exited {
    loop {
        for n in nodes.iter_mut().filter(|n| !n.exited) {
            if let Ok(Some(status)) = n.child.try_wait() {
                n.exited = true;
                return Exited { name: n.spec.name.clone(), pid: n.pid, status };
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends SIGTERM to every running node, then waits for each; one that hangs is killed.
async fn stop_all(nodes: &mut [ChildNode]) {
    for n in nodes.iter_mut().filter(|n| !n.exited) {
        if !terminate(n.pid).await {
            let _ = n.child.start_kill();
        }
    }
    for n in nodes.iter_mut().filter(|n| !n.exited) {
        match tokio::time::timeout(STOP_TIMEOUT, n.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => eprintln!("{} exited with {status}", n.spec.name),
            Ok(Err(e)) => eprintln!("cannot wait for {}: {e}", n.spec.name),
            Err(_) => {
                eprintln!("{} did not stop within {STOP_TIMEOUT:?}; killing it", n.spec.name);
                let _ = n.child.kill().await;
            }
        }
        n.exited = true;
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
