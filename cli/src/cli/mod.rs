//! The `twinstore` command.
//!
//! One binary runs a node (`twinstore node`), starts a local deployment with a sample graph
//! (`twinstore up`), talks to a deployment as a client (`twin`, `rel`, `model`, `telemetry`,
//! `cluster`, `dr`, `audit`), and loads it (`bench`). `twinstore certs` makes a deployment's CA
//! and certificates; `twinstore token` makes signing keys and issues the bearer tokens that client
//! commands (and `bench`) send with `--token` (or `TWINSTORE_TOKEN`) to nodes started with
//! `--token-key`; the chaos workload and `up`'s own clients do not send tokens.
//! The client commands are thin: they read their arguments, make one [`twinstore::client::Client`]
//! call (or follow a list's pages), and print the answer with `output::Printer`. Keeping them
//! thin keeps the CLI's behaviour identical to the client library's, which is what scripts and
//! the tests in `cli/tests/cli.rs` rely on.
//!
//! Exit codes: 0 on success, 1 on failure with exactly one line on stderr starting with the ADT
//! error code (`DigitalTwinNotFound: ...`), 2 for usage errors (clap's).

mod audit;
mod bench;
mod bench_etcd;
mod bench_report;
mod bench_twinstore;
mod certs;
mod chaos;
mod cluster;
mod dr;
mod health;
mod input;
mod model;
mod node;
mod output;
mod query;
mod rel;
mod sample;
mod settings;
mod telemetry;
mod token;
mod twin;
mod up;

pub use output::OutputFormat;

use clap::{Args, Parser, Subcommand, ValueEnum};
use output::{CliError, CliResult, Printer};
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use twinstore::client::{Client, ClientOptions, ClientTls, Consistency};
use twinstore::error::ErrorCode;

/// The endpoint client commands use when none is given.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7000";

/// twinstore: a self-hosted digital-twins graph store speaking Azure Digital Twins' API over gRPC.
#[derive(Debug, Parser)]
#[command(name = "twinstore", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every client command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The node(s) to talk to, comma-separated: give both regions' nodes and writes go to the
    /// primary region, wherever it is after a failover; a failed call moves on to the next one.
    #[arg(
        long,
        global = true,
        env = "TWINSTORE_ENDPOINT",
        value_delimiter = ',',
        default_value = DEFAULT_ENDPOINT
    )]
    pub(crate) endpoint: Vec<String>,
    /// Output format: pretty text for people, or JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// TLS: the deployment's CA certificate (PEM), to check the nodes by; `https://` endpoints
    /// need it, and a bare HOST:PORT is then taken as `https://`.
    #[arg(long, global = true, value_name = "FILE", env = "TWINSTORE_CA")]
    pub(crate) ca: Option<PathBuf>,
    /// TLS: a client certificate to authenticate with (`twinstore certs client`), with --key.
    #[arg(long, global = true, value_name = "FILE", env = "TWINSTORE_CERT", requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// TLS: the client certificate's private key.
    #[arg(long, global = true, value_name = "FILE", env = "TWINSTORE_KEY", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// The bearer token client commands send (`twinstore token issue`), or @FILE to read it from
    /// a file; needed by nodes started with --token-key.
    #[arg(
        long,
        global = true,
        value_name = "TOKEN|@FILE",
        env = "TWINSTORE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,
}

impl GlobalArgs {
    /// The client options these flags give: TLS when a CA is given, the bearer token if any.
    pub(crate) fn client_options(&self) -> CliResult<ClientOptions> {
        let empty = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        let tls = match (empty(&self.ca), empty(&self.cert), empty(&self.key)) {
            (None, None, None) => None,
            (None, _, _) => {
                return Err(CliError::new(
                    ErrorCode::InvalidArgument,
                    "a client certificate needs the CA too (--ca FILE or TWINSTORE_CA)",
                ));
            }
            (Some(ca), cert, key) => Some(
                ClientTls::load(&ca, cert.as_deref().zip(key.as_deref()))
                    .map_err(|e| CliError::new(ErrorCode::InvalidArgument, e))?,
            ),
        };
        let token = match self.token.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(t) => Some(token::read_token(t)?),
            None => None,
        };
        Ok(ClientOptions { tls, token, ..ClientOptions::default() })
    }

    /// A client of the endpoints with these flags' options.
    pub(crate) fn client(&self) -> CliResult<Client> {
        Ok(Client::with_options(&self.endpoint, self.client_options()?)?)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one node until SIGINT or SIGTERM.
    Node(Box<settings::Settings>),
    /// Start a local deployment with the sample building graph; Ctrl-C stops it.
    Up(up::UpArgs),
    /// Create, read, update and delete digital twins and their components.
    #[command(subcommand)]
    Twin(twin::TwinCommand),
    /// Create, read, update, delete and list relationships.
    #[command(subcommand)]
    Rel(rel::RelCommand),
    /// Upload, read, list, decommission and delete DTDL models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Publish telemetry for a twin.
    #[command(subcommand)]
    Telemetry(telemetry::TelemetryCommand),
    /// A region's raft group: status of every member, add and remove nodes.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Cross-region disaster recovery: status of both regions, failover, reprotect.
    #[command(subcommand)]
    Dr(dr::DrCommand),
    /// Service health: both regions and their nodes, the incident history, one incident.
    Health(health::HealthArgs),
    /// Load generator: put / patch / get twins, closed or open loop, latency percentiles.
    Bench(bench::BenchArgs),
    /// Run a query (ADT's query language) and print its rows as JSON.
    Query(query::QueryArgs),
    /// The recorded chaos workload and its linearizability checker.
    #[command(subcommand)]
    Chaos(chaos::ChaosCommand),
    /// TLS certificates: the deployment's CA, and a certificate per node and client.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// The audit trail of administrative operations: who failed over, reprotected, changed the
    /// membership, and when.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Bearer tokens: make a signing key pair, issue a token for a role.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// How fresh a read must be (`--consistency`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum ConsistencyArg {
    /// Reflects every write acknowledged before the read started.
    #[default]
    Linearizable,
    /// Served from the contacted node's local state (may be slightly stale); etcd calls it
    /// serializable.
    #[value(alias = "serializable")]
    Local,
}

impl From<ConsistencyArg> for Consistency {
    fn from(c: ConsistencyArg) -> Self {
        match c {
            ConsistencyArg::Linearizable => Consistency::Linearizable,
            ConsistencyArg::Local => Consistency::Local,
        }
    }
}

/// What a client command needs: a client and a printer.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    pub(crate) printer: Printer,
}

/// Runs the `twinstore` command with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> CliResult<ExitCode> {
    let printer = Printer { format: cli.global.output };
    match cli.command {
        Command::Node(args) => node::run(*args),
        Command::Up(args) => up::run(args),
        Command::Twin(cmd) => client_command(&cli.global, printer, |ctx| twin::run(ctx, cmd)),
        Command::Rel(cmd) => client_command(&cli.global, printer, |ctx| rel::run(ctx, cmd)),
        Command::Model(cmd) => client_command(&cli.global, printer, |ctx| model::run(ctx, cmd)),
        Command::Telemetry(cmd) => {
            client_command(&cli.global, printer, |ctx| telemetry::run(ctx, cmd))
        }
        Command::Cluster(cmd) => client_command(&cli.global, printer, |ctx| cluster::run(ctx, cmd)),
        Command::Dr(cmd) => client_command(&cli.global, printer, |ctx| dr::run(ctx, cmd)),
        Command::Health(args) => client_command(&cli.global, printer, |ctx| health::run(ctx, args)),
        Command::Bench(args) => bench::run(&cli.global, args),
        Command::Query(args) => client_command(&cli.global, printer, |ctx| query::run(ctx, args)),
        Command::Chaos(cmd) => chaos::run(&cli.global, cmd),
        Command::Certs(cmd) => certs::run(printer, cmd).map(|()| ExitCode::SUCCESS),
        Command::Token(cmd) => token::run(cmd),
        Command::Audit(cmd) => client_command(&cli.global, printer, |ctx| audit::run(ctx, cmd)),
    }
}

/// Runs one client command on a small single-threaded runtime.
fn client_command<F, Fut>(global: &GlobalArgs, printer: Printer, f: F) -> CliResult<ExitCode>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = CliResult>,
{
    let client = global.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(twinstore::error::ErrorCode::Internal, format!("tokio: {e}")))?;
    runtime.block_on(f(Ctx { client, printer }))?;
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM and says which one came. The handlers are installed when
/// this is called, so call it early and await the returned future later.
pub(crate) fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn endpoints_split_on_commas() {
        let cli = Cli::try_parse_from([
            "twinstore",
            "--endpoint",
            "http://a:1,http://b:2",
            "twin",
            "get",
            "x",
        ])
        .unwrap();
        assert_eq!(cli.global.endpoint, vec!["http://a:1", "http://b:2"]);
    }
}
