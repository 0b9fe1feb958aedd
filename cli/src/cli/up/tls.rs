//! `twinstore up`'s certificates: secure by default, with nothing to set up.
//!
//! `up` keeps a CA and one certificate per node under `<data>/certs/`, made with the same code
//! as `twinstore certs` on the first start and reused after (so a client that trusted the CA
//! keeps working across restarts). Each node certificate names its node, region and loopback
//! address; the nodes are started with them, and every client `up` makes — and the one the
//! user runs, through `TWINSTORE_CA` — checks the nodes by the CA.

use crate::cli::output::{CliError, CliResult};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use twinstore::error::ErrorCode;
use twinstore::security::certs::{self, Ca};
use twinstore::security::tls::TlsFiles;

fn failed(message: String) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

/// One node `up` starts: (region, id, listen address).
pub(crate) type Member<'a> = (&'a str, u64, SocketAddr);

/// Makes what is missing under `<data>/certs` — the CA, then a certificate for every member —
/// and returns the CA's path and each member's TLS files, in `members`' order.
pub(crate) fn prepare(data: &Path, members: &[Member]) -> CliResult<(PathBuf, Vec<TlsFiles>)> {
    let dir = data.join("certs");
    std::fs::create_dir_all(&dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let dir = dir.canonicalize().map_err(|e| failed(format!("{}: {e}", dir.display())))?;
    let (ca_cert, ca_key) = (dir.join(certs::CA_CERT), dir.join(certs::CA_KEY));
    let ca = match (ca_cert.exists(), ca_key.exists()) {
        (true, true) => Ca::load(&dir).map_err(failed)?,
        (false, false) => {
            let (ca, pem) = Ca::generate("twinstore up").map_err(failed)?;
            certs::write_pair(&dir, "ca", &pem).map_err(failed)?;
            ca
        }
        _ => {
            return Err(failed(format!(
                "{} has one of ca.pem and ca-key.pem but not the other: restore it, or remove the \
                 directory to make a new CA (clients must then trust the new ca.pem)",
                dir.display()
            )));
        }
    };
    let mut files = Vec::with_capacity(members.len());
    for (region, id, listen) in members {
        let stem = format!("node-{region}-{id}");
        let tls = TlsFiles {
            ca: ca_cert.clone(),
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}-key.pem")),
        };
        if !(tls.cert.exists() && tls.key.exists()) {
            let _ = std::fs::remove_file(&tls.cert);
            let _ = std::fs::remove_file(&tls.key);
            let hosts = [listen.ip().to_string(), "localhost".to_string()];
            let pem = ca.node(region, *id, &hosts, certs::LEAF_DAYS).map_err(failed)?;
            certs::write_pair(&dir, &stem, &pem).map_err(failed)?;
        }
        files.push(tls);
    }
    Ok((ca_cert, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinstore::security::tls::NodeTls;

    #[test]
    fn certificates_are_made_once_and_name_their_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let a: SocketAddr = "127.0.1.1:7001".parse().unwrap();
        let b: SocketAddr = "127.0.2.1:7001".parse().unwrap();
        let (ca, files) = prepare(dir.path(), &[("primary", 1, a), ("standby", 1, b)]).unwrap();
        NodeTls::load(&files[0], "primary", 1).unwrap();
        NodeTls::load(&files[1], "standby", 1).unwrap();
        let before = std::fs::read(&ca).unwrap();
        let (_, again) = prepare(dir.path(), &[("primary", 1, a), ("primary", 2, a)]).unwrap();
        assert_eq!(std::fs::read(&ca).unwrap(), before, "the CA is kept");
        assert_eq!(std::fs::read(&again[0].cert).unwrap(), std::fs::read(&files[0].cert).unwrap());
        NodeTls::load(&again[1], "primary", 2).unwrap();
        std::fs::remove_file(dir.path().join("certs/ca-key.pem")).unwrap();
        let e = prepare(dir.path(), &[("primary", 1, a)]).unwrap_err().to_string();
        assert!(e.contains("has one of ca.pem and ca-key.pem"), "{e}");
    }
}
