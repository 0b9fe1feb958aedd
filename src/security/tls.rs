//! TLS settings of a node and of a client, loaded from PEM files and checked once at start.
//!
//! A node has one identity — its certificate and key, signed by the deployment's CA — and uses it
//! on both sides: it serves the gRPC port (public and internal services on one listener) and the
//! HTTP port with it, and presents it when it calls a peer (raft, forwarded writes, log shipping,
//! health probes), so every internal call is mutual TLS. The gRPC port *asks* for a client
//! certificate but does not require one: people and programs may come with a bearer token instead;
//! whether a call needs a node's certificate is decided per method, above TLS, from the
//! [`super::identity::Peer`] the certificate names.
//!
//! Everything is checked when the files are loaded, so a misconfigured node refuses to start
//! with the file and the reason instead of failing its first handshake: the files exist and
//! parse, the certificate chains to the given CA, and (for a node) it names this very node.
//!
//! rustls with the `ring` provider throughout (tonic's `tls-ring` feature): no OpenSSL.

use super::certs::read;
use super::identity::{self, Peer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Where a node's TLS material is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The deployment's CA certificate: peers and client certificates must chain to it.
    pub ca: PathBuf,
    /// This node's certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A node's loaded and checked TLS material.
#[derive(Clone, Debug)]
pub struct NodeTls {
    ca: String,
    cert: String,
    key: String,
    /// Whom the certificate names.
    pub peer: Peer,
}

impl NodeTls {
    /// Loads `files` for node `id` of `region`; refuses a certificate that is not signed by the
    /// CA or names another node.
    pub fn load(files: &TlsFiles, region: &str, id: u64) -> Result<NodeTls, String> {
        let ca = read(&files.ca)?;
        let cert = read(&files.cert)?;
        let key = read(&files.key)?;
        identity::first_der(&ca).map_err(|e| at(&files.ca, e))?;
        let der = identity::first_der(&cert).map_err(|e| at(&files.cert, e))?;
        PrivateKeyDer::from_pem_slice(key.as_bytes())
            .map_err(|e| format!("{}: not a PEM private key: {e}", files.key.display()))?;
        if !identity::signed_by(&der, &ca).map_err(|e| at(&files.ca, e))? {
            return Err(format!(
                "{} is not signed by the CA in {} (or is expired)",
                files.cert.display(),
                files.ca.display()
            ));
        }
        let peer = identity::of_certificate(&der).map_err(|e| at(&files.cert, e))?;
        let me = Peer::Node { region: region.to_string(), id };
        if peer != me {
            return Err(format!("{} names {peer}, but this is {me}", files.cert.display()));
        }
        Ok(NodeTls { ca, cert, key, peer })
    }

    /// The gRPC server's TLS: this node's identity; client certificates asked for, checked
    /// against the CA when given, but optional (tokens are the other way in).
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
            .client_auth_optional(true)
    }

    /// The TLS of this node's calls to its peers: the CA to check them by, and this node's own
    /// certificate to present (mutual TLS).
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
    }

    /// The HTTP port's TLS (metrics, status page): server-authenticated only, as a browser or a
    /// Prometheus scraper expects.
    pub fn http_acceptor(&self) -> Result<TlsAcceptor, String> {
        let certs = CertificateDer::pem_slice_iter(self.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the node certificate: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes())
            .map_err(|e| format!("the node key: {e}"))?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the node certificate and key do not go together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// `path: error`.
fn at(path: &Path, e: String) -> String {
    format!("{}: {e}", path.display())
}

/// A client's TLS: the CA that signed the deployment's nodes, and optionally a client
/// certificate (the other way to authenticate besides a bearer token).
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    ca: Option<String>,
    identity: Option<(String, String)>,
}

impl ClientTls {
    /// Loads the CA (`ca`) and an optional client certificate and key, naming a file that is
    /// missing or broken.
    pub fn load(ca: &Path, cert_key: Option<(&Path, &Path)>) -> Result<ClientTls, String> {
        let ca_pem = read(ca)?;
        identity::first_der(&ca_pem).map_err(|e| format!("{}: {e}", ca.display()))?;
        let identity = match cert_key {
            Some((cert, key)) => {
                let cert_pem = read(cert)?;
                identity::first_der(&cert_pem).map_err(|e| format!("{}: {e}", cert.display()))?;
                let key_pem = read(key)?;
                PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
                Some((cert_pem, key_pem))
            }
            None => None,
        };
        Ok(ClientTls { ca: Some(ca_pem), identity })
    }

    /// The tonic client configuration.
    pub fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        if let Some(ca) = &self.ca {
            config = config.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::certs::{Ca, write_pair};

    fn files(dir: &Path, stem: &str) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}-key.pem")),
        }
    }

    #[test]
    fn a_node_loads_its_own_certificate_and_refuses_anothers() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, pem) = Ca::generate("t").unwrap();
        write_pair(dir.path(), "ca", &pem).unwrap();
        let hosts = ["127.0.0.1".to_string()];
        write_pair(dir.path(), "n1", &ca.node("primary", 1, &hosts, 1).unwrap()).unwrap();
        let tls = NodeTls::load(&files(dir.path(), "n1"), "primary", 1).unwrap();
        assert_eq!(tls.peer, Peer::Node { region: "primary".into(), id: 1 });
        tls.http_acceptor().unwrap();

        let err = NodeTls::load(&files(dir.path(), "n1"), "primary", 2).unwrap_err();
        assert!(err.contains("names node 1 of region 'primary', but this is node 2"), "{err}");
        let err = NodeTls::load(&files(dir.path(), "n1"), "standby", 1).unwrap_err();
        assert!(err.contains("but this is node 1 of region 'standby'"), "{err}");

        // Signed by another CA.
        let (other, _) = Ca::generate("other").unwrap();
        write_pair(dir.path(), "x", &other.node("primary", 1, &hosts, 1).unwrap()).unwrap();
        let err = NodeTls::load(&files(dir.path(), "x"), "primary", 1).unwrap_err();
        assert!(err.contains("is not signed by the CA"), "{err}");

        // A client certificate is not a node's.
        write_pair(dir.path(), "c", &ca.client("Admin", "ops", 1).unwrap()).unwrap();
        let err = NodeTls::load(&files(dir.path(), "c"), "primary", 1).unwrap_err();
        assert!(err.contains("names client 'ops' (Admin)"), "{err}");
    }

    #[test]
    fn missing_or_broken_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = NodeTls::load(&files(dir.path(), "n1"), "primary", 1).unwrap_err();
        assert!(err.contains("ca.pem"), "{err}");
        std::fs::write(dir.path().join("ca.pem"), "garbage").unwrap();
        std::fs::write(dir.path().join("n1.pem"), "garbage").unwrap();
        std::fs::write(dir.path().join("n1-key.pem"), "garbage").unwrap();
        let err = NodeTls::load(&files(dir.path(), "n1"), "primary", 1).unwrap_err();
        assert!(err.contains("ca.pem: no certificate"), "{err}");
        let err = ClientTls::load(&dir.path().join("ca.pem"), None).unwrap_err();
        assert!(err.contains("ca.pem: no certificate"), "{err}");
    }
}
