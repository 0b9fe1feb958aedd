//! `twinstore node`: run one node in the foreground.
//!
//! The first line on stdout is exactly `twinstore node listening on <addr>`, with the address the
//! listener really got, so a parent (`twinstore up`, tests, scripts) can start a node on port 0 and
//! learn where it is. Nothing else goes to stdout: logs go to stderr through `tracing`, quiet by
//! default (`warn`; set `RUST_LOG` for more). SIGINT or SIGTERM shuts the node down cleanly
//! (storage flushed) and the process exits 0. Signal handlers are installed before the line is
//! printed, so a signal sent right after it is never lost.

use super::output::{CliError, CliResult, out};
use crate::api::{Node, NodeConfig};
use crate::error::ErrorCode;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The line a node prints first; `twinstore up` and the tests look for it.
pub(crate) const LISTENING_PREFIX: &str = "twinstore node listening on ";

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The node's data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The address to serve the gRPC API on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
    /// The storage page cache size in MiB.
    #[arg(long, value_name = "N")]
    cache_mb: Option<u64>,
}

pub(crate) fn run(args: NodeArgs) -> CliResult<ExitCode> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(ErrorCode::Internal, format!("cannot start tokio: {e}")))?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: NodeArgs) -> CliResult {
    let signal = super::shutdown_signal().map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("cannot install signal handlers: {e}"))
    })?;
    std::fs::create_dir_all(&args.data).map_err(|e| {
        CliError::new(
            ErrorCode::InvalidArgument,
            format!("cannot create the data directory {}: {e}", args.data.display()),
        )
    })?;
    let mut config = NodeConfig::new(&args.data, args.listen);
    if let Some(mb) = args.cache_mb {
        config.cache_capacity = mb.saturating_mul(1 << 20);
    }
    let node = Node::start(config).await.map_err(|e| {
        CliError::new(
            ErrorCode::Unavailable,
            format!(
                "cannot start a node on {} with data in {}: {e}",
                args.listen,
                args.data.display()
            ),
        )
    })?;
    out(&format!("{LISTENING_PREFIX}{}", node.addr()));
    let which = signal.await;
    tracing::info!("{which} received, shutting down");
    node.shutdown().await;
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default: warnings and errors only).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
