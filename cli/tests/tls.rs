//! TLS on every port and mutual TLS between nodes, over real sockets: a three-node region whose
//! raft, forwarding and reads all run over mutual TLS, a client that reaches it with the
//! deployment's CA — and every way in that must be refused (plaintext, a stranger's CA, a client
//! or a node of another region speaking raft, a node claiming to be another), each leaving the
//! stored graph byte-identical on every node.

mod common;

use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use twinstore::client::{Client, ClientOptions, ClientTls, Conditions, Consistency};
use twinstore::pb;
use twinstore::pb::raft_service_client::RaftServiceClient;
use twinstore::security::certs::{self, Ca};
use twinstore::security::tls::TlsFiles;
use twinstore::security::token::{KeyPair, Signer, TokenSpec, now_secs};
use twinstore::security::{AuthConfig, Role};
use twinstore::server::{Node, NodeConfig};

const MODEL: &str = r#"[{"@id":"dtmi:t:Room;1","@type":"Interface","@context":"dtmi:dtdl:context;2",
  "contents":[{"@type":"Property","name":"temp","schema":"double"}]}]"#;

/// A region of `n` TLS nodes on 127.0.0.1, with its CA and certificates in `dir`.
struct TlsRegion {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    urls: Vec<String>,
}

fn files(dir: &Path, stem: &str) -> TlsFiles {
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}-key.pem")),
    }
}

fn config(dir: &Path, urls: &[String], id: u64) -> NodeConfig {
    let url = &urls[id as usize - 1];
    let mut c = NodeConfig::new(
        dir.join(format!("n{id}")),
        url.trim_start_matches("https://").parse().unwrap(),
    );
    c.id = id;
    c.peers = urls.iter().enumerate().map(|(j, u)| (j as u64 + 1, u.clone())).collect();
    c.http = Some("127.0.0.1:0".parse().unwrap());
    c.tls = Some(files(dir, &format!("node-primary-{id}")));
    c
}

impl TlsRegion {
    async fn start(n: u64) -> TlsRegion {
        Self::start_with(n, |_| {}).await
    }

    /// A region whose nodes' configs `f` adjusts before they start.
    async fn start_with(n: u64, f: impl Fn(&mut NodeConfig)) -> TlsRegion {
        let dir = tempfile::tempdir().unwrap();
        let (ca, pem) = Ca::generate("test").unwrap();
        certs::write_pair(dir.path(), "ca", &pem).unwrap();
        let hosts = ["127.0.0.1".to_string()];
        for id in 1..=n {
            let node = ca.node("primary", id, &hosts, 1).unwrap();
            certs::write_pair(dir.path(), &format!("node-primary-{id}"), &node).unwrap();
        }
        // Certificates a test presents: clients', and a node of another region's.
        certs::write_pair(dir.path(), "client", &ca.client("Admin", "ops", 1).unwrap()).unwrap();
        let owner = ca.client("DataOwner", "loader", 1).unwrap();
        certs::write_pair(dir.path(), "client-owner", &owner).unwrap();
        let other = ca.node("standby", 1, &hosts, 1).unwrap();
        certs::write_pair(dir.path(), "node-standby-1", &other).unwrap();
        let urls: Vec<String> =
            (0..n).map(|_| format!("https://127.0.0.1:{}", common::free_port())).collect();
        let mut nodes = Vec::new();
        for id in 1..=n {
            let mut c = config(dir.path(), &urls, id);
            f(&mut c);
            nodes.push(Node::start(c).await.unwrap());
        }
        TlsRegion { dir, nodes, urls }
    }

    fn client_tls(&self, cert: Option<&str>) -> ClientTls {
        let pair = cert.map(|stem| files(self.dir.path(), stem));
        ClientTls::load(
            &self.dir.path().join("ca.pem"),
            pair.as_ref().map(|f| (f.cert.as_path(), f.key.as_path())),
        )
        .unwrap()
    }

    fn client(&self) -> Client {
        self.client_with(None, None)
    }

    /// A client presenting `cert`'s certificate and/or sending `token`.
    fn client_with(&self, cert: Option<&str>, token: Option<String>) -> Client {
        let options =
            ClientOptions { tls: Some(self.client_tls(cert)), token, ..Default::default() };
        Client::with_options(&self.urls, options).unwrap()
    }

    /// A raw raft client of node 1 over TLS, presenting `stem`'s certificate (if any).
    fn raft(&self, stem: Option<&str>) -> RaftServiceClient<Channel> {
        let ca = std::fs::read_to_string(self.dir.path().join("ca.pem")).unwrap();
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some(stem) = stem {
            let f = files(self.dir.path(), stem);
            let cert = std::fs::read_to_string(f.cert).unwrap();
            let key = std::fs::read_to_string(f.key).unwrap();
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        let channel = Channel::from_shared(self.urls[0].clone())
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        RaftServiceClient::new(channel)
    }

    fn fingerprints(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.store().fingerprint().unwrap()).collect()
    }

    async fn shutdown(self) {
        for n in self.nodes {
            n.shutdown().await;
        }
    }
}

/// A vote request from `candidate`, encoded as raft's service carries it.
fn vote_from(candidate: u64) -> pb::VoteRequest {
    let rpc = openraft::raft::VoteRequest::<u64> {
        vote: openraft::Vote::new(1_000, candidate),
        last_log_id: None,
    };
    pb::VoteRequest { data: twinstore::raft::network::encode(&rpc).unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_runs_over_mutual_tls_and_refuses_everyone_else() {
    let region = TlsRegion::start(3).await;
    let client = region.client();
    client.add_models(MODEL).await.unwrap();
    let twin = r#"{"$metadata":{"$model":"dtmi:t:Room;1"},"temp":21.5}"#;
    client.put_twin("room-1", twin, Conditions::none()).await.unwrap();
    // Linearizable reads on every node: followers ask the leader over mutual TLS.
    for url in &region.urls {
        let one = Client::with_options(
            [url],
            ClientOptions { tls: Some(region.client_tls(None)), ..Default::default() },
        )
        .unwrap();
        let doc = one.get_twin("room-1", Consistency::Linearizable).await.unwrap();
        assert!(doc.twin_json.contains("21.5"), "{url}: {}", doc.twin_json);
    }
    // Replicated everywhere before the refusals start.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let before = loop {
        let f = region.fingerprints();
        if f.windows(2).all(|w| w[0] == w[1]) {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "the nodes never agreed: {f:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Plaintext to the TLS port.
    let plain: Vec<String> = region.urls.iter().map(|u| u.replace("https://", "http://")).collect();
    let err = Client::new(&plain).unwrap().put_twin("room-2", twin, Conditions::none()).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("if the node serves TLS, use https://"), "{err}");

    // https:// without the CA, and with a stranger's CA.
    let err = Client::new(&region.urls).unwrap_err().to_string();
    assert!(err.contains("give the deployment's CA certificate"), "{err}");
    let stranger = tempfile::tempdir().unwrap();
    let (_, other) = Ca::generate("stranger").unwrap();
    certs::write_pair(stranger.path(), "ca", &other).unwrap();
    let options = ClientOptions {
        tls: Some(ClientTls::load(&stranger.path().join("ca.pem"), None).unwrap()),
        ..Default::default()
    };
    let err = Client::with_options(&region.urls, options)
        .unwrap()
        .put_twin("room-2", twin, Conditions::none())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Unavailable"), "{err}");

    // Raft from a connection without a certificate, with a client's, with another region's
    // node's, and a node claiming to be another member.
    let denied = |r: Result<tonic::Response<pb::VoteResponse>, tonic::Status>| {
        let s = r.expect_err("a refused raft call");
        assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
        s.message().to_string()
    };
    let m = denied(region.raft(None).vote(vote_from(2)).await);
    assert!(m.contains("no node certificate"), "{m}");
    let m = denied(region.raft(Some("client")).vote(vote_from(2)).await);
    assert!(m.contains("client 'ops' (Admin) is not a node"), "{m}");
    let m = denied(region.raft(Some("node-standby-1")).vote(vote_from(1)).await);
    assert!(m.contains("node 1 of region 'standby' is not a member of region 'primary'"), "{m}");
    let m = denied(region.raft(Some("node-primary-2")).vote(vote_from(3)).await);
    assert!(m.contains("from node 3 came over node 2's certificate"), "{m}");
    // Log shipping is internal too.
    let mut dr = pb::dr_service_client::DrServiceClient::new(
        Channel::from_shared(region.urls[0].clone())
            .unwrap()
            .tls_config(region.client_tls(Some("client")).config())
            .unwrap()
            .connect_lazy(),
    );
    let s = dr.confirm(pb::ConfirmRequest { index: 1 }).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");

    assert_eq!(region.fingerprints(), before, "a refused call changed the stored graph");
    // And the region still takes writes.
    client.put_twin("room-3", twin, Conditions::none()).await.unwrap();
    region.shutdown().await;
}

/// Client authentication on a region of three: the nodes know each other by their certificates
/// (raft, forwarding and reads between them carry no token), clients by a token or a client
/// certificate naming a role.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_and_client_certificates_on_a_region_over_mutual_tls() {
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = KeyPair::generate().unwrap().write(keys.path()).unwrap();
    let signer = Signer::load(&private).unwrap();
    let token = |role: Role| {
        let spec = TokenSpec {
            subject: format!("t-{role}"),
            role,
            issuer: "twinstore".into(),
            audience: "twinstore".into(),
            ttl: Duration::from_secs(600),
        };
        signer.issue(&spec, now_secs()).unwrap()
    };
    let region =
        TlsRegion::start_with(3, |c| c.auth = Some(AuthConfig::new(vec![public.clone()]))).await;
    // A client certificate with DataOwner: models and twins, through any node (followers forward
    // to the leader over mutual TLS, with no token of their own).
    let owner = region.client_with(Some("client-owner"), None);
    owner.add_models(MODEL).await.unwrap();
    let twin = r#"{"$metadata":{"$model":"dtmi:t:Room;1"},"temp":20.0}"#;
    owner.put_twin("room-1", twin, Conditions::none()).await.unwrap();
    // A reader's token reads on every node, linearizably, and may not write.
    let reader = region.client_with(None, Some(token(Role::DataReader)));
    for url in &region.urls {
        let one = Client::with_options(
            [url],
            ClientOptions {
                tls: Some(region.client_tls(None)),
                token: Some(token(Role::DataReader)),
                ..Default::default()
            },
        )
        .unwrap();
        one.get_twin("room-1", Consistency::Linearizable).await.unwrap();
    }
    let before = region.fingerprints();
    let e = reader.put_twin("room-2", twin, Conditions::none()).await.unwrap_err();
    assert_eq!(e.status, tonic::Code::PermissionDenied, "{e}");
    assert!(e.to_string().contains("role DataOwner needed"), "{e}");
    // Neither token nor certificate: refused.
    let e = region.client().get_twin("room-1", Consistency::Linearizable).await.unwrap_err();
    assert_eq!(e.status, tonic::Code::Unauthenticated, "{e}");
    // An Admin's client certificate still may not speak raft.
    let s = region.raft(Some("client")).vote(vote_from(2)).await.unwrap_err();
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    assert_eq!(region.fingerprints(), before, "a refused call changed the stored graph");
    region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_port_serves_tls_too() {
    let region = TlsRegion::start(1).await;
    let addr = region.nodes[0].http_addr().unwrap();
    let ca = std::fs::read(region.dir.path().join("ca.pem")).unwrap();
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&ca) {
        roots.add(cert).unwrap();
    }
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );

    // Plaintext HTTP to it gets no page.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut plain = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut plain)).await;
    assert!(!String::from_utf8_lossy(&plain).contains("HTTP/1.1 200"), "served plaintext");
    region.shutdown().await;
}

fn rustls_pemfile_certs(
    pem: &[u8],
) -> Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    tokio_rustls::rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn a_node_refuses_to_start_with_a_certificate_that_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, pem) = Ca::generate("test").unwrap();
    certs::write_pair(dir.path(), "ca", &pem).unwrap();
    let node1 = ca.node("primary", 1, &["127.0.0.1".to_string()], 1).unwrap();
    certs::write_pair(dir.path(), "node-primary-2", &node1).unwrap();
    let urls: Vec<String> =
        (0..2).map(|_| format!("https://127.0.0.1:{}", common::free_port())).collect();
    let err = Node::start(config(dir.path(), &urls, 2)).await.err().expect("refused");
    let err = err.to_string();
    assert!(err.contains("names node 1 of region 'primary', but this is node 2"), "{err}");
    assert!(!dir.path().join("n2").exists(), "nothing created for a refused node");

    // Plaintext off loopback needs --insecure; TLS URLs need TLS settings.
    let mut c = NodeConfig::new(dir.path().join("x"), "0.0.0.0:7000".parse().unwrap());
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("0.0.0.0:7000 is not a loopback address"), "{err}");
    c.insecure = true;
    c.validate().unwrap();
    c.listen = "127.0.0.1:7000".parse().unwrap();
    c.insecure = false;
    c.advertise = Some("https://127.0.0.1:7000".into());
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("is a TLS URL, but this node has no TLS settings"), "{err}");
}
