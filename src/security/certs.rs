//! Certificates for a deployment: one CA, a certificate per node and per client, made with
//! `rcgen` (pure Rust, no OpenSSL).
//!
//! Why a CA of the deployment's own: mutual TLS between nodes means every node must tell a fellow
//! node from anyone else who can open a socket. A CA that signs only this deployment's nodes and
//! clients makes "signed by our CA" the membership test, and the certificate's name says *which*
//! member: a node certificate carries the URI `twinstore://node/<region>/<id>` in its subject
//! alternative names (and a readable common name), a client certificate
//! `twinstore://client/<role>/<name>`. [`super::identity`] reads those names back from a peer's
//! certificate; nothing else in a certificate is trusted for identity.
//!
//! A node certificate is valid for both sides of TLS (server and client authentication): a node
//! serves its peers and calls them. Its other subject alternative names are the addresses it is
//! reached at (an IP address or a DNS name each), which a client checks as usual.
//!
//! Keys are ECDSA P-256 (rcgen's default): small, fast to sign with, accepted by every TLS stack.
//! Private keys are written with mode 0600.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The CA's certificate and key file names in a certificate directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA's private key.
pub const CA_KEY: &str = "ca-key.pem";

/// How long a CA is valid.
pub const CA_DAYS: i64 = 10 * 365;
/// How long a node or client certificate is valid by default.
pub const LEAF_DAYS: i64 = 365;

/// The URI naming node `id` of `region` in its certificate.
pub fn node_uri(region: &str, id: u64) -> String {
    format!("twinstore://node/{region}/{id}")
}

/// The URI naming client `name` with `role` in its certificate.
pub fn client_uri(role: &str, name: &str) -> String {
    format!("twinstore://client/{role}/{name}")
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone, Debug)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// Its private key (PKCS#8).
    pub key: String,
}

/// A loaded CA, able to sign.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca")
    }
}

impl Ca {
    /// Makes a new CA named `name`.
    pub fn generate(name: &str) -> Result<(Ca, Pem), String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(&format!("{name} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, CA_DAYS);
        let cert = params.self_signed(&key).map_err(|e| format!("cannot sign the CA: {e}"))?;
        let pem = Pem { cert: cert.pem(), key: key.serialize_pem() };
        let issuer = Issuer::new(params, key);
        Ok((Ca { cert_pem: pem.cert.clone(), issuer }, pem))
    }

    /// Loads a CA from its certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, String> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| format!("not a private key: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| format!("not a CA certificate: {e}"))?;
        Ok(Ca { cert_pem: cert_pem.to_string(), issuer })
    }

    /// Loads the CA kept in `dir` (`ca.pem`, `ca-key.pem`), naming the file that is missing or
    /// broken.
    pub fn load(dir: &Path) -> Result<Ca, String> {
        let cert = read(&dir.join(CA_CERT))?;
        let key = read(&dir.join(CA_KEY))?;
        Ca::from_pem(&cert, &key).map_err(|e| format!("{}: {e}", dir.join(CA_KEY).display()))
    }

    /// The CA's certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for node `id` of `region`, reached at `hosts` (IP addresses or DNS names).
    pub fn node(&self, region: &str, id: u64, hosts: &[String], days: i64) -> Result<Pem, String> {
        check_name("region", region)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(&format!("twinstore node {id} of region {region}"));
        params.subject_alt_names = vec![uri(&node_uri(region, id))?];
        for host in hosts {
            params.subject_alt_names.push(host_san(host)?);
        }
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, days)
    }

    /// A certificate for a client `name` acting with `role`.
    pub fn client(&self, role: &str, name: &str, days: i64) -> Result<Pem, String> {
        check_name("role", role)?;
        check_name("client name", name)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(&format!("twinstore client {name} ({role})"));
        params.subject_alt_names = vec![uri(&client_uri(role, name))?];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, days)
    }

    fn sign(&self, mut params: CertificateParams, days: i64) -> Result<Pem, String> {
        if days <= 0 {
            return Err(format!("a certificate must be valid for at least a day, not {days}"));
        }
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        validity(&mut params, days);
        let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| format!("cannot sign the certificate: {e}"))?;
        Ok(Pem { cert: cert.pem(), key: key.serialize_pem() })
    }
}

/// Writes a certificate and key as `<dir>/<stem>.pem` and `<dir>/<stem>-key.pem` (the key 0600),
/// refusing to overwrite either. Returns both paths.
pub fn write_pair(dir: &Path, stem: &str, pem: &Pem) -> Result<(PathBuf, PathBuf), String> {
    let (key, cert) = super::files::write_pair(
        dir,
        (&format!("{stem}-key.pem"), &pem.key),
        (&format!("{stem}.pem"), &pem.cert),
    )?;
    Ok((cert, key))
}

/// Reads a PEM file, naming it when that fails.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn named(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "twinstore");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Valid from an hour ago (clocks of a deployment differ a little) for `days`.
fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

fn uri(text: &str) -> Result<SanType, String> {
    Ok(SanType::URI(text.try_into().map_err(|e| format!("'{text}' cannot be named: {e}"))?))
}

/// An IP address or a DNS name; a `host:port` or a URL is reduced to its host.
fn host_san(host: &str) -> Result<SanType, String> {
    let host = host.trim();
    let host = host.split_once("://").map_or(host, |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or(host);
    let host = match host.parse::<std::net::SocketAddr>() {
        Ok(addr) => return Ok(SanType::IpAddress(addr.ip())),
        Err(_) => host
            .rsplit_once(':')
            .map_or(host, |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(format!("'{host}' is neither an IP address nor a DNS name"));
    }
    Ok(SanType::DnsName(host.try_into().map_err(|e| format!("'{host}' is not a DNS name: {e}"))?))
}

/// Names go into URIs: letters, digits, `-`, `_` and `.` only.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("the {what} '{name}' must be 1-64 letters, digits, '-', '_' or '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::identity::{self, Peer};

    #[test]
    fn a_node_certificate_names_its_node_and_is_signed_by_the_ca() {
        let (ca, ca_pem) = Ca::generate("test").unwrap();
        let hosts = ["127.0.1.1:7001".to_string(), "db-1.example".to_string()];
        let node = ca.node("primary", 3, &hosts, 30).unwrap();
        let der = identity::first_der(&node.cert).unwrap();
        assert_eq!(
            identity::of_certificate(&der).unwrap(),
            Peer::Node { region: "primary".into(), id: 3 }
        );
        assert!(identity::signed_by(&der, &ca_pem.cert).unwrap());
        let (other, _) = Ca::generate("other").unwrap();
        let stranger = other.node("primary", 3, &hosts, 30).unwrap();
        let der = identity::first_der(&stranger.cert).unwrap();
        assert!(!identity::signed_by(&der, &ca_pem.cert).unwrap());
    }

    #[test]
    fn a_ca_written_and_loaded_again_signs_clients() {
        let dir = tempfile::tempdir().unwrap();
        let (_, pem) = Ca::generate("test").unwrap();
        write_pair(dir.path(), "ca", &pem).unwrap();
        assert!(write_pair(dir.path(), "ca", &pem).unwrap_err().contains("not overwriting"));
        let ca = Ca::load(dir.path()).unwrap();
        let client = ca.client("DataReader", "alice", 1).unwrap();
        let der = identity::first_der(&client.cert).unwrap();
        assert_eq!(
            identity::of_certificate(&der).unwrap(),
            Peer::Client { role: "DataReader".into(), name: "alice".into() }
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca-key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bad_names_and_hosts_are_refused_with_what_was_wrong() {
        let (ca, _) = Ca::generate("test").unwrap();
        assert!(ca.node("pri/mary", 1, &[], 30).unwrap_err().contains("region 'pri/mary'"));
        assert!(ca.client("Admin", "", 30).unwrap_err().contains("client name ''"));
        assert!(ca.node("p", 1, &["bad host!".into()], 30).unwrap_err().contains("bad host!"));
        assert!(ca.client("Admin", "bob", 0).unwrap_err().contains("at least a day"));
        assert!(Ca::load(Path::new("/nonexistent")).unwrap_err().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn hosts_become_ip_or_dns_names() {
        let ip = |s: &str| matches!(host_san(s).unwrap(), SanType::IpAddress(_));
        assert!(ip("127.0.0.1"));
        assert!(ip("127.0.0.1:7001"));
        assert!(ip("https://127.0.1.2:7001/"));
        assert!(ip("[::1]:7001"));
        assert!(matches!(host_san("localhost:7001").unwrap(), SanType::DnsName(_)));
    }
}
