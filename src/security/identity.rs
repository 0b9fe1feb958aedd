//! Who is on the other end of a TLS connection: a peer's certificate read back into a [`Peer`].
//!
//! TLS has already checked, before any of this runs, that the certificate chains to the
//! deployment's CA. What remains is the *name*: the certificate's `twinstore://` URI (see
//! [`super::certs`]) says whether the peer is node `id` of `region` or a client with a role. Only
//! that URI counts — a common name or a DNS name could be chosen to look like anything — and a
//! certificate with no such URI, or with two, names nobody.

use std::sync::Arc;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// A peer, as its certificate names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A node of the deployment.
    Node {
        /// Its region.
        region: String,
        /// Its raft node id.
        id: u64,
    },
    /// A client (a person or a program) with a role.
    Client {
        /// The role the certificate grants, as written (`DataReader`, `DataOwner`, `Admin`).
        role: String,
        /// Who it is.
        name: String,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Node { region, id } => write!(f, "node {id} of region '{region}'"),
            Peer::Client { role, name } => write!(f, "client '{name}' ({role})"),
        }
    }
}

/// The peer of a request served over TLS (tonic puts the connection's TLS information into every
/// request's extensions); `None` without TLS or a usable client certificate.
pub fn of_request<B>(req: &tonic::codegen::http::Request<B>) -> Option<Peer> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    of_chain(req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()?.peer_certs())
}

/// The peer named by the leaf of a verified chain (`tonic::Request::peer_certs`); `None` when
/// there is no certificate (plaintext, or TLS without a client certificate) or it names nobody.
pub fn of_chain(chain: Option<Arc<Vec<CertificateDer<'static>>>>) -> Option<Peer> {
    of_certificate(chain?.first()?).ok()
}

/// The peer a certificate names, or why it names nobody.
pub fn of_certificate(der: &[u8]) -> Result<Peer, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut found = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(rest) = uri.strip_prefix("twinstore://")
            {
                found.push(parse(rest).ok_or_else(|| format!("'{uri}' is not a twinstore name"))?);
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err("the certificate has no twinstore:// name".into()),
        _ => Err("the certificate has more than one twinstore:// name".into()),
    }
}

fn parse(rest: &str) -> Option<Peer> {
    let mut parts = rest.split('/');
    let peer = match (parts.next()?, parts.next()?, parts.next()?) {
        ("node", region, id) if !region.is_empty() => {
            Peer::Node { region: region.to_string(), id: id.parse().ok()? }
        }
        ("client", role, name) if !role.is_empty() && !name.is_empty() => {
            Peer::Client { role: role.to_string(), name: name.to_string() }
        }
        _ => return None,
    };
    parts.next().is_none().then_some(peer)
}

/// The first certificate of a PEM text, DER-encoded.
pub fn first_der(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or("no certificate in the PEM text")?
        .map_err(|e| format!("a broken PEM certificate: {e}"))
}

/// Whether `der` is signed by the CA certificate `ca_pem` (and is within its validity period).
pub fn signed_by(der: &[u8], ca_pem: &str) -> Result<bool, String> {
    let ca = first_der(ca_pem)?;
    let (_, ca) = X509Certificate::from_der(&ca).map_err(|e| format!("the CA: {e}"))?;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not X.509: {e}"))?;
    Ok(cert.verify_signature(Some(ca.public_key())).is_ok() && cert.validity().is_valid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_exactly() {
        assert_eq!(parse("node/eu/2"), Some(Peer::Node { region: "eu".into(), id: 2 }));
        assert_eq!(
            parse("client/Admin/ops"),
            Some(Peer::Client { role: "Admin".into(), name: "ops".into() })
        );
        for bad in ["node/eu", "node//2", "node/eu/x", "node/eu/2/3", "client/Admin/", "x/y/z"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn garbage_names_nobody() {
        assert!(of_certificate(b"not a certificate").is_err());
        assert!(first_der("no pem here").is_err());
        assert_eq!(of_chain(None), None);
    }
}
