//! `twinstore certs`: the deployment's CA and the certificates it signs, for people.
//!
//! `certs init` makes the CA (`ca.pem`, `ca-key.pem`) in a directory; `certs node` a node's
//! certificate and key (`node-<region>-<id>.pem`, `...-key.pem`), naming the node and the
//! addresses it is reached at; `certs client` a client's, naming its role. Nothing is ever
//! overwritten: a file that exists is an error, so a CA cannot be replaced by a typo (every
//! certificate it signed would stop working). Keep `ca-key.pem` off the nodes: they need only
//! `ca.pem` and their own pair.

use super::output::{CliError, CliResult, Printer};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use twinstore::error::ErrorCode;
use twinstore::security::certs::{self, Ca};

/// `twinstore certs ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Make the deployment's CA in DIR (ca.pem, and ca-key.pem, its private key).
    Init {
        /// Where the certificates are kept.
        #[arg(long, value_name = "DIR", default_value = "certs")]
        dir: PathBuf,
        /// The CA's name, shown in every certificate it signs.
        #[arg(long, default_value = "twinstore")]
        name: String,
    },
    /// Make a node's certificate, signed by the CA in DIR.
    Node(NodeArgs),
    /// Make a client's certificate (its role is in the certificate), signed by the CA in DIR.
    Client {
        /// Where the CA is and the certificate goes.
        #[arg(long, value_name = "DIR", default_value = "certs")]
        dir: PathBuf,
        /// The role: DataReader, DataOwner or Admin.
        #[arg(long)]
        role: String,
        /// Who the client is (letters, digits, '-', '_', '.').
        #[arg(long)]
        name: String,
        /// How many days it is valid.
        #[arg(long, default_value_t = certs::LEAF_DAYS)]
        days: i64,
    },
}

/// `twinstore certs node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// Where the CA is and the certificate goes.
    #[arg(long, value_name = "DIR", default_value = "certs")]
    dir: PathBuf,
    /// The node's id in its region.
    #[arg(long)]
    id: u64,
    /// The node's region.
    #[arg(long, default_value = "primary")]
    region: String,
    /// An address the node is reached at (IP or DNS name, a port or a URL is fine); repeatable,
    /// or comma-separated.
    #[arg(long, value_name = "HOST", required = true, value_delimiter = ',')]
    addr: Vec<String>,
    /// How many days it is valid.
    #[arg(long, default_value_t = certs::LEAF_DAYS)]
    days: i64,
}

/// The roles a client certificate may name.
const ROLES: [&str; 3] = ["DataReader", "DataOwner", "Admin"];

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

pub(crate) fn run(printer: Printer, cmd: CertsCommand) -> CliResult {
    match cmd {
        CertsCommand::Init { dir, name } => {
            let (_, pem) = Ca::generate(&name).map_err(invalid)?;
            let (cert, key) = certs::write_pair(&dir, "ca", &pem).map_err(invalid)?;
            written(printer, "the CA", &cert, &key);
        }
        CertsCommand::Node(a) => {
            let ca = Ca::load(&a.dir).map_err(invalid)?;
            let pem = ca.node(&a.region, a.id, &a.addr, a.days).map_err(invalid)?;
            let stem = format!("node-{}-{}", a.region, a.id);
            let (cert, key) = certs::write_pair(&a.dir, &stem, &pem).map_err(invalid)?;
            written(printer, &format!("node {} of region '{}'", a.id, a.region), &cert, &key);
        }
        CertsCommand::Client { dir, role, name, days } => {
            if !ROLES.contains(&role.as_str()) {
                return Err(invalid(format!("role '{role}' is not one of {}", ROLES.join(", "))));
            }
            let ca = Ca::load(&dir).map_err(invalid)?;
            let pem = ca.client(&role, &name, days).map_err(invalid)?;
            let stem = format!("client-{name}");
            let (cert, key) = certs::write_pair(&dir, &stem, &pem).map_err(invalid)?;
            written(printer, &format!("client '{name}' ({role})"), &cert, &key);
        }
    }
    Ok(())
}

fn written(printer: Printer, what: &str, cert: &Path, key: &Path) {
    printer.ack(
        &format!("wrote {what}'s certificate {} and key {}", cert.display(), key.display()),
        json!({"certificate": cert, "key": key}),
    );
}
