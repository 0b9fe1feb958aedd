//! `twinstore up`'s certificates and token key: secure by default, with nothing to set up.
//!
//! `up` keeps a CA and one certificate per node under `<data>/certs/`, made with the same code
//! as `twinstore certs` on the first start and reused after (so a client that trusted the CA
//! keeps working across restarts). Each node certificate names its node, region and loopback
//! address; the nodes are started with them, and every client `up` makes — and the one the
//! user runs, through `TWINSTORE_CA` — checks the nodes by the CA.
//!
//! Likewise a token signing key pair under `<data>/keys/` (as `twinstore token keygen` makes):
//! the nodes verify tokens with its public half, and `up` issues an Admin token for its own
//! clients and prints it for the user (`TWINSTORE_TOKEN`); more are issued with `twinstore token
//! issue --key <data>/keys/token-signing.pem`.

use crate::cli::output::{CliError, CliResult};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use twinstore::error::ErrorCode;
use twinstore::security::Role;
use twinstore::security::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use twinstore::security::certs::{self, Ca};
use twinstore::security::tls::TlsFiles;
use twinstore::security::token::{self, KeyPair, Signer, TokenSpec, now_secs};

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
    let ca_cert = dir.join(certs::CA_CERT);
    let new_ca = "a new CA (clients must then trust the new ca.pem)";
    let ca = if pair_present(&dir, certs::CA_CERT, certs::CA_KEY, new_ca)? {
        Ca::load(&dir).map_err(failed)?
    } else {
        let (ca, pem) = Ca::generate("twinstore up").map_err(failed)?;
        certs::write_pair(&dir, "ca", &pem).map_err(failed)?;
        ca
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

/// Whether both files `a` and `b` of a key pair are in `dir` (`false`: neither, make them). One
/// without the other is an error: making the missing one would not match the other, and making
/// both anew would replace what clients or tokens already rely on (`remedy` says what).
fn pair_present(dir: &Path, a: &str, b: &str, remedy: &str) -> CliResult<bool> {
    match (dir.join(a).exists(), dir.join(b).exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        _ => Err(failed(format!(
            "{} has one of {a} and {b} but not the other: restore it, or remove the directory to \
             make {remedy}",
            dir.display()
        ))),
    }
}

/// How long the token `up` prints is valid.
pub(crate) const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The token keys under `<data>/keys` (made when missing): the public key's path for the nodes,
/// and an Admin token for `up`'s clients and the user.
pub(crate) fn token(data: &Path) -> CliResult<(PathBuf, PathBuf, String)> {
    let dir = data.join("keys");
    let (private, public) = (dir.join(token::PRIVATE_FILE), dir.join(token::PUBLIC_FILE));
    let new_keys = "new keys (tokens signed with the old one stop working)";
    if !pair_present(&dir, token::PRIVATE_FILE, token::PUBLIC_FILE, new_keys)? {
        KeyPair::generate().and_then(|k| k.write(&dir)).map_err(failed)?;
    }
    let private = private.canonicalize().map_err(|e| failed(format!("{e}")))?;
    let public = public.canonicalize().map_err(|e| failed(format!("{e}")))?;
    let spec = TokenSpec {
        subject: "twinstore-up".into(),
        role: Role::Admin,
        issuer: DEFAULT_ISSUER.into(),
        audience: DEFAULT_AUDIENCE.into(),
        ttl: TOKEN_TTL,
    };
    let token = Signer::load(&private).and_then(|s| s.issue(&spec, now_secs())).map_err(failed)?;
    Ok((private, public, token))
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

    #[test]
    fn the_token_key_is_made_once_and_its_tokens_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (_, public, first) = token(dir.path()).unwrap();
        let (_, again, second) = token(dir.path()).unwrap();
        assert_eq!(public, again);
        let verifier =
            twinstore::security::Verifier::load(&[public], DEFAULT_ISSUER, DEFAULT_AUDIENCE)
                .unwrap();
        for t in [first, second] {
            assert_eq!(verifier.verify(&t, now_secs()).unwrap().role, Role::Admin);
        }
    }
}
