//! `twinstore node`: run one node in the foreground.
//!
//! The first line on stdout is exactly `twinstore node listening on <addr>`, with the address the
//! listener really got, so a parent (`twinstore up`, tests, scripts) can start a node on port 0 and
//! learn where it is. Nothing else goes to stdout: logs go to stderr through `tracing`, quiet by
//! default (`warn`; set `RUST_LOG` for more). SIGINT or SIGTERM shuts the node down cleanly
//! (storage flushed) and the process exits 0. Signal handlers are installed before the line is
//! printed, so a signal sent right after it is never lost.
//!
//! A node is one member of a region's raft group: `--id` and `--region` name it, `--peers` lists
//! the initial members of a new region (the same list on every member), `--join` joins a running
//! one; with neither, the node is a region of its own. For cross-region DR, a standby region's
//! nodes are started with `--standby-of <the primary's URLs>` and a primary region's nodes with
//! `--standby <the standby's URLs>`; `--peer-region` names the other region (by default
//! "primary" for a standby and "standby" for a primary). Settings can also come from `--config FILE`
//! (see `node_config.rs`); they are all checked before anything starts, so a mistake ends with one
//! `InvalidArgument: ...` line and exit code 1.

use super::node_config::{self, RawSettings, Settings};
use super::output::{CliError, CliResult, out};
use crate::error::ErrorCode;
use crate::server::{Node, NodeConfig};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The line a node prints first; `twinstore up` and the tests look for it.
pub(crate) const LISTENING_PREFIX: &str = "twinstore node listening on ";

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// A config file with the settings below, one `key = value` a line (flags win over it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The node's id in its region (1, 2, ...; unique in the region, never reused) [default: 1].
    #[arg(long, value_name = "N")]
    id: Option<u64>,
    /// The region the node belongs to [default: primary; standby with --standby-of].
    #[arg(long, value_name = "NAME")]
    region: Option<String>,
    /// The node's data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The address to serve the gRPC API on (port 0 picks a free port) [default: 127.0.0.1:7000].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The URL other nodes and clients reach this node at [default: this node's --peers entry,
    /// or http://<listen>].
    #[arg(long, value_name = "URL")]
    advertise: Option<String>,
    /// The initial members of a new region, this node included: 1=URL,2=URL,3=URL. The member with
    /// the smallest id initializes the group. Without --peers or --join: a single-node region.
    #[arg(long, value_name = "ID=URL,..")]
    peers: Option<String>,
    /// The URL of a member of a running region to join (as a learner, then a voter).
    #[arg(long, value_name = "URL")]
    join: Option<String>,
    /// The storage page cache size in MiB [default: 64].
    #[arg(long, value_name = "N")]
    cache_mb: Option<u64>,
    /// Refuse writes (ResourceExhausted) while the data directory has less than this many MiB
    /// free [default: 64].
    #[arg(long, value_name = "N")]
    min_free_mb: Option<u64>,
    /// Take a raft snapshot (and let the log be purged before it) every this many log entries;
    /// an entry carries a batch of writes [default: 1000].
    #[arg(long, value_name = "N")]
    snapshot_logs: Option<u64>,
    /// Serve Prometheus `/metrics` and the status page `/` on this address (e.g. 127.0.0.1:9100).
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// DR, on a primary: the most log entries kept for a standby that has not confirmed them; a
    /// standby further behind is reseeded from a snapshot [default: 1000000].
    #[arg(long, value_name = "ENTRIES")]
    max_retained: Option<u64>,
    /// DR: this node's region is the standby of the primary region at these URLs (its nodes): it
    /// pulls the primary's log, serves reads and refuses writes until it is promoted.
    #[arg(long, value_name = "URL,..")]
    standby_of: Option<String>,
    /// DR, on a primary region's nodes: the URLs of its standby region (its geo-pair), used to
    /// fence it and to tell clients where to go.
    #[arg(long, value_name = "URL,..")]
    standby: Option<String>,
    /// DR: the other region's name [default: primary with --standby-of, standby with --standby].
    #[arg(long, value_name = "NAME")]
    peer_region: Option<String>,
    /// Chaos testing only: delay every log-shipping message from the other region by this many
    /// milliseconds, as a WAN between the regions would (where the kernel has no tc netem).
    #[arg(long, value_name = "MS")]
    fault_wan_delay_ms: Option<u64>,
    /// Chaos testing only: vary that delay by up to this many milliseconds either way.
    #[arg(long, value_name = "MS")]
    fault_wan_jitter_ms: Option<u64>,
}

impl NodeArgs {
    /// The flags, over the config file, over the defaults, checked.
    fn settings(&self) -> CliResult<Settings> {
        let flags = RawSettings {
            id: self.id,
            region: self.region.clone(),
            data: self.data.clone(),
            listen: self.listen.clone(),
            advertise: self.advertise.clone(),
            peers: self.peers.clone(),
            join: self.join.clone(),
            cache_mb: self.cache_mb,
            min_free_mb: self.min_free_mb,
            snapshot_logs: self.snapshot_logs,
            http: self.http.clone(),
            max_retained: self.max_retained,
            standby_of: self.standby_of.clone(),
            standby: self.standby.clone(),
            peer_region: self.peer_region.clone(),
            fault_wan_delay_ms: self.fault_wan_delay_ms,
            fault_wan_jitter_ms: self.fault_wan_jitter_ms,
        };
        let file = match &self.config {
            Some(path) => node_config::read_file(path)?,
            None => RawSettings::default(),
        };
        flags.or(file).check()
    }
}

pub(crate) fn run(args: NodeArgs) -> CliResult<ExitCode> {
    let settings = args.settings()?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(s: Settings) -> CliResult {
    let signal = super::shutdown_signal().map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("cannot install signal handlers: {e}"))
    })?;
    std::fs::create_dir_all(&s.data).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot create the data directory {}: {e}", s.data.display()),
        )
    })?;
    let mut config = NodeConfig::new(&s.data, s.listen);
    config.id = s.id;
    config.region = s.region.clone();
    config.advertise = s.advertise.clone();
    config.peers = s.peers.clone();
    config.join = s.join.clone();
    config.role = s.role;
    config.peer = s.peer.clone();
    config.http = s.http;
    config.wan_delay = s.wan_delay;
    if let Some(n) = s.max_retained {
        config.max_retained = n;
    }
    if let Some(mb) = s.min_free_mb {
        config.min_free_bytes = mb.saturating_mul(1 << 20);
    }
    if let Some(n) = s.snapshot_logs {
        config.snapshot_logs = n;
    }
    if let Some(mb) = s.cache_mb {
        config.cache_capacity = mb.saturating_mul(1 << 20);
    }
    let node = Node::start(config).await.map_err(|e| {
        let hint = bind_hint(&s.listen, &e.to_string());
        CliError::new(
            ErrorCode::Unavailable,
            format!(
                "cannot start node {} of region {} on {} with data in {}: {e}{hint}",
                s.id,
                s.region,
                s.listen,
                s.data.display()
            ),
        )
    })?;
    out(&format!("{LISTENING_PREFIX}{}", node.addr()));
    let which = signal.await;
    tracing::info!("{which} received, shutting down");
    node.shutdown().await;
    Ok(())
}

/// A hint for the usual reasons a listener cannot be bound.
pub(crate) fn bind_hint(listen: &SocketAddr, error: &str) -> String {
    if error.contains("Cannot assign requested address") || error.contains("os error 99") {
        if listen.ip().is_loopback() && listen.ip() != std::net::Ipv4Addr::LOCALHOST {
            return format!(
                " ({} is a loopback address Linux answers without setup; on this system it is \
                 not configured: add it to the loopback interface, e.g. \
                 `sudo ifconfig lo0 alias {}` on macOS)",
                listen.ip(),
                listen.ip()
            );
        }
        return format!(" ({} is not an address of this machine)", listen.ip());
    }
    if error.contains("Address already in use") || error.contains("os error 98") {
        return format!(" (something else listens on {listen} already: another node?)");
    }
    String::new()
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings and errors only).
/// Quiet by default: warnings and errors, except openraft's warnings and its per-heartbeat errors
/// about a peer that is down (the health service reports that as an incident instead). `RUST_LOG`
/// overrides it, e.g. `RUST_LOG=info,openraft=warn`.
const DEFAULT_LOG: &str = "warn,openraft=error,openraft::replication=off";

fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
