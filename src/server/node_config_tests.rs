//! Each check of `NodeConfig::validate`: a config that passes, and one bad value at a time with
//! the message it gets.

use super::*;
use crate::raft::network::Delay;
use crate::storage::dr::PeerRegion;

/// Node 2 of a three-node region on 127.0.1.N:7001.
fn node2() -> NodeConfig {
    let mut c = NodeConfig::new("d", "127.0.1.2:7001".parse().unwrap());
    c.id = 2;
    c.peers = (1..=3).map(|i| (i, format!("http://127.0.1.{i}:7001"))).collect();
    c
}

/// The message `validate` gives `c`; panics if it passes.
fn err(c: NodeConfig) -> String {
    c.validate().expect_err("a bad config passed").0
}

fn with(f: impl FnOnce(&mut NodeConfig)) -> String {
    let mut c = node2();
    f(&mut c);
    err(c)
}

#[test]
fn good_configs_pass() {
    NodeConfig::new("d", "127.0.0.1:0".parse().unwrap()).validate().unwrap();
    node2().validate().unwrap();
    let mut c = node2();
    c.advertise = Some("127.0.1.2:7001/".into()); // the same URL, spelled differently
    c.validate().unwrap();
    let mut joiner = NodeConfig::new("d", "0.0.0.0:7001".parse().unwrap());
    joiner.join = Some("http://127.0.1.1:7001".into());
    joiner.advertise = Some("http://10.0.0.4:7001".into());
    joiner.insecure = true; // plaintext off loopback, by name
    joiner.validate().unwrap();
}

#[test]
fn plaintext_stays_on_loopback_and_tls_urls_need_tls() {
    let mut c = NodeConfig::new("d", "10.0.0.4:7001".parse().unwrap());
    let e = err(c.clone());
    assert!(e.contains("10.0.0.4:7001 is not a loopback address"), "{e}");
    assert!(e.contains("insecure = true (--insecure)"), "{e}");
    c.listen = "127.0.0.1:7001".parse().unwrap();
    c.http = Some("0.0.0.0:9100".parse().unwrap());
    assert!(err(c.clone()).contains("0.0.0.0:9100 is not a loopback address"));
    c.http = None;
    c.validate().unwrap();
    let tls = crate::security::tls::TlsFiles {
        ca: "ca.pem".into(),
        cert: "n.pem".into(),
        key: "n-key.pem".into(),
    };
    // With TLS every URL is https://, without it none is.
    let mut t = node2();
    t.tls = Some(tls.clone());
    let e = err(t.clone());
    assert!(e.contains("is plaintext, but this node uses TLS"), "{e}");
    t.peers = t.peers.iter().map(|(i, u)| (*i, u.replace("http://", "https://"))).collect();
    t.advertise = None;
    t.validate().unwrap();
    t.insecure = true;
    assert!(err(t.clone()).contains("insecure is for serving without TLS"));
    let mut p = node2();
    p.join = None;
    p.peers[0].1 = "https://127.0.1.1:7001".into();
    assert!(err(p).contains("is a TLS URL, but this node has no TLS settings"));
}

#[test]
fn ids_regions_and_data() {
    assert_eq!(with(|c| c.id = 0), "id: node ids start at 1");
    assert!(with(|c| c.region = "a b".into()).contains("region 'a b': use letters"));
    assert!(with(|c| c.region = String::new()).contains("region '': use letters"));
    assert_eq!(with(|c| c.data_dir = "".into()), "data: no data directory given");
}

#[test]
fn peers_are_unique_well_formed_and_include_this_node() {
    let e = with(|c| c.id = 4);
    assert_eq!(e, "peers must include this node (id 4); it names nodes 1, 2, 3");
    let e = with(|c| c.peers[0].0 = 0);
    assert!(e.contains("peers entry 0=http://127.0.1.1:7001: node ids start at 1"), "{e}");
    assert_eq!(with(|c| c.peers[2].0 = 1), "peers names node 1 twice");
    let e = with(|c| c.peers[2].1 = "http://127.0.1.1:7001/".into());
    assert_eq!(e, "peers gives nodes 1 and 3 the same URL http://127.0.1.1:7001");
    let e = with(|c| c.peers[2].1 = "http://127.0.1.3".into());
    assert!(e.contains("peers entry 3: 'http://127.0.1.3' needs a host and a port"), "{e}");
    let e = with(|c| c.peers[2].1 = "ftp://127.0.1.3:21".into());
    assert!(e.contains("is not an http:// URL"), "{e}");
    let e = with(|c| c.peers[2].1 = "http://127.0.1.3:0".into());
    assert!(e.contains("needs a host and a port"), "{e}");
}

#[test]
fn peers_exclude_join_and_fix_the_address() {
    let e = with(|c| c.join = Some("http://127.0.1.1:7001".into()));
    assert!(e.contains("not both"), "{e}");
    let e = with(|c| c.advertise = Some("http://127.0.1.9:7001".into()));
    assert_eq!(
        e,
        "advertise http://127.0.1.9:7001 differs from this node's peers entry 2=http://127.0.1.2:7001"
    );
    let e = with(|c| c.advertise = Some("127.0.1.9".into()));
    assert!(e.starts_with("advertise: 'http://127.0.1.9' needs a host and a port"), "{e}");
    let e = with(|c| c.listen = "127.0.1.2:0".parse().unwrap());
    assert!(e.contains("port 0 cannot be used with peers"), "{e}");
    let mut joiner = NodeConfig::new("d", "0.0.0.0:7001".parse().unwrap());
    joiner.join = Some("http://127.0.1.1:7001".into());
    assert!(
        err(joiner.clone()).contains("listen 0.0.0.0:7001 is not an address other nodes can dial")
    );
    joiner.join = Some("127.0.1.1".into());
    assert!(err(joiner).starts_with("join: 'http://127.0.1.1' needs a host and a port"));
}

#[test]
fn dr_settings() {
    let standby = |c: &mut NodeConfig| {
        c.region = "east".into();
        c.role = Role::Standby;
        c.peer = Some(PeerRegion {
            name: "west".into(),
            endpoints: vec!["http://127.0.2.1:7001".into()],
        });
    };
    let mut c = node2();
    standby(&mut c);
    c.validate().unwrap();
    let e = with(|c| c.role = Role::Standby);
    assert_eq!(e, "a standby region needs the primary region it follows (standby_of)");
    let e = with(|c| {
        standby(c);
        c.peer.as_mut().unwrap().name = "east".into();
    });
    assert!(e.starts_with("peer_region east is this node's own region"), "{e}");
    let e = with(|c| {
        standby(c);
        c.peer.as_mut().unwrap().name = "we st".into();
    });
    assert!(e.starts_with("peer_region 'we st'"), "{e}");
    let e = with(|c| {
        standby(c);
        c.peer.as_mut().unwrap().endpoints.clear();
    });
    assert!(e.starts_with("standby_of needs at least one URL"), "{e}");
    // On a primary the list is `standby`; it cannot hold this region's own members.
    let e = with(|c| {
        standby(c);
        c.role = Role::Primary;
        c.peer.as_mut().unwrap().endpoints.push("http://127.0.1.3:7001/".into());
    });
    assert!(e.starts_with("http://127.0.1.3:7001 is a member of this region"), "{e}");
    assert!(e.ends_with("(standby)"), "{e}");
    let e = with(|c| {
        standby(c);
        c.peer.as_mut().unwrap().endpoints = vec!["127.0.2.1".into()];
    });
    assert!(e.starts_with("standby_of: 'http://127.0.2.1' needs a host and a port"), "{e}");
}

#[test]
fn sizes_and_faults() {
    let e = with(|c| c.min_free_bytes = 8 << 20);
    assert!(e.starts_with("min_free_mb is 8 MiB; it must be at least 32 MiB"), "{e}");
    assert!(with(|c| c.snapshot_logs = 0).starts_with("snapshot_logs must be at least 1"));
    assert!(with(|c| c.cache_capacity = 0).starts_with("cache_mb must be at least 1"));
    let delay = |base, jitter| {
        Some(Delay { base: Duration::from_millis(base), jitter: Duration::from_millis(jitter) })
    };
    let mut c = node2();
    c.wan_delay = delay(50, 10);
    c.validate().unwrap();
    let e = with(|c| c.wan_delay = delay(50, 60));
    assert!(e.contains("the jitter at most the delay"), "{e}");
    assert!(with(|c| c.wan_delay = delay(60_001, 0)).contains("at most 60000 ms"));
}

#[test]
fn auth_needs_readable_keys_and_tls_beside_other_nodes() {
    use crate::security::{AuthConfig, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = KeyPair::generate().unwrap().write(dir.path()).unwrap();
    let mut alone = NodeConfig::new("d", "127.0.0.1:0".parse().unwrap());
    alone.auth = Some(AuthConfig::new(vec![public.clone()]));
    alone.validate().unwrap();

    let mut c = alone.clone();
    c.auth = Some(AuthConfig::new(vec![]));
    assert!(err(c).starts_with("token_key: auth needs at least one public key"));
    let mut c = alone.clone();
    c.auth = Some(AuthConfig::new(vec![dir.path().join("missing.pem")]));
    assert!(err(c).starts_with("cannot read the token key"));
    let mut c = alone.clone();
    c.auth = Some(AuthConfig::new(vec![dir.path().join(crate::security::token::PRIVATE_FILE)]));
    assert!(err(c).contains("not an Ed25519 public key"));
    let mut c = alone.clone();
    c.auth.as_mut().unwrap().audience = " ".into();
    assert!(err(c).contains("issuer and audience must not be empty"));

    // Other nodes need TLS: they know each other by their certificates, not by tokens.
    let e = with(|c| c.auth = Some(AuthConfig::new(vec![public.clone()])));
    assert!(e.starts_with("token_key (client authentication) with other nodes"), "{e}");
    assert!(e.contains("needs TLS"), "{e}");
    let mut c = alone;
    c.join = Some("http://127.0.1.1:7001".into());
    assert!(err(c.clone()).contains("needs TLS"));
    c.join = Some("https://127.0.1.1:7001".into());
    c.tls = Some(crate::security::tls::TlsFiles {
        ca: "ca.pem".into(),
        cert: "n.pem".into(),
        key: "n-key.pem".into(),
    });
    c.validate().unwrap();
}
