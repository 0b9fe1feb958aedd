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
//! and `TWINSTORE_<KEY>` environment variables (see `settings.rs` for the file format and which
//! wins); they are all checked before anything starts (by `NodeConfig::validate`, the checks
//! `Node::start` makes too), so a mistake ends with one `InvalidArgument: ...` line and exit
//! code 1.

use super::output::{CliError, CliResult, out};
use super::settings::Settings;
use std::net::SocketAddr;
use std::process::ExitCode;
use twinstore::error::ErrorCode;
use twinstore::server::{Node, NodeConfig};

/// The line a node prints first; `twinstore up` and the tests look for it.
pub(crate) const LISTENING_PREFIX: &str = "twinstore node listening on ";

pub(crate) fn run(settings: Settings) -> CliResult<ExitCode> {
    let config = settings.load()?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    runtime.block_on(serve(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: NodeConfig) -> CliResult {
    let signal = super::shutdown_signal().map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("cannot install signal handlers: {e}"))
    })?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot create the data directory {}: {e}", config.data_dir.display()),
        )
    })?;
    let what = format!(
        "node {} of region {} on {} with data in {}",
        config.id,
        config.region,
        config.listen,
        config.data_dir.display()
    );
    let listen = config.listen;
    let node = Node::start(config).await.map_err(|e| {
        let hint = bind_hint(&listen, &e.to_string());
        CliError::new(ErrorCode::Unavailable, format!("cannot start {what}: {e}{hint}"))
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
