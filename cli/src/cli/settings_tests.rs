//! The settings file format, the layers, and the parsing into a `NodeConfig` (the checks of the
//! result are `api/node_config_tests.rs`'; one each here shows they run).

use super::*;

fn data(dir: &str) -> Settings {
    Settings { data: Some(dir.into()), ..Default::default() }
}

/// The message the settings get; panics if they pass.
fn err(s: Settings) -> String {
    s.node_config().expect_err("bad settings passed").to_string()
}

const PEERS: &str = "1=http://127.0.1.1:7001,2=http://127.0.1.2:7001,3=http://127.0.1.3:7001";

/// Node 2 of a three-node region.
fn node2() -> Settings {
    Settings {
        id: Some(2),
        listen: Some("127.0.1.2:7001".into()),
        peers: Some(PEERS.into()),
        ..data("d")
    }
}

#[test]
fn defaults_are_a_lone_node_one() {
    let c = data("d").node_config().unwrap();
    assert_eq!((c.id, c.region.as_str()), (1, "primary"));
    assert_eq!(c.listen, DEFAULT_LISTEN.parse().unwrap());
    assert!(c.peers.is_empty() && c.join.is_none() && c.advertise.is_none());
    let defaults = NodeConfig::new("d", c.listen);
    assert_eq!(
        (c.cache_capacity, c.min_free_bytes, c.snapshot_logs, c.max_retained),
        (
            defaults.cache_capacity,
            defaults.min_free_bytes,
            defaults.snapshot_logs,
            defaults.max_retained
        )
    );
    assert!(err(Settings::default()).starts_with("InvalidArgument: a data directory is required"));
}

#[test]
fn every_setting_reaches_the_node_config() {
    let s = Settings {
        region: Some("east".into()),
        advertise: Some("http://127.0.1.2:7001/".into()),
        cache_mb: Some(16),
        min_free_mb: Some(40),
        snapshot_logs: Some(500),
        http: Some("127.0.1.2:8001".into()),
        max_retained: Some(77),
        standby: Some("http://127.0.2.1:7001".into()),
        peer_region: Some("west".into()),
        fault_wan_delay_ms: Some(50),
        fault_wan_jitter_ms: Some(10),
        ..node2()
    };
    let c = s.node_config().unwrap();
    assert_eq!((c.id, c.region.as_str()), (2, "east"));
    assert_eq!(c.data_dir, PathBuf::from("d"));
    assert_eq!(c.listen, "127.0.1.2:7001".parse().unwrap());
    assert_eq!(c.advertise.as_deref(), Some("http://127.0.1.2:7001"));
    assert_eq!(c.peers.len(), 3);
    assert_eq!((c.cache_capacity, c.min_free_bytes), (16 << 20, 40 << 20));
    assert_eq!((c.snapshot_logs, c.max_retained), (500, 77));
    assert_eq!(c.http, Some("127.0.1.2:8001".parse().unwrap()));
    assert_eq!(c.role, Role::Primary);
    let peer = c.peer.unwrap();
    assert_eq!(
        (peer.name.as_str(), peer.endpoints.as_slice()),
        ("west", &["http://127.0.2.1:7001".to_string()][..])
    );
    let d = c.wan_delay.unwrap();
    assert_eq!((d.base, d.jitter), (Duration::from_millis(50), Duration::from_millis(10)));
    let mut join = data("d");
    join.join = Some("127.0.1.1:7001/".into());
    assert_eq!(join.node_config().unwrap().join.as_deref(), Some("http://127.0.1.1:7001"));
}

#[test]
fn peers_parse_and_are_checked() {
    let p =
        parse_peers("2=http://127.0.1.2:7001, 1=127.0.1.1:7001\n3=http://127.0.1.3:7001/").unwrap();
    let want: Vec<(u64, String)> =
        (1..=3).map(|i| (i, format!("http://127.0.1.{i}:7001"))).collect();
    assert_eq!(p, want);
    let e = |s: &str| parse_peers(s).unwrap_err().to_string();
    assert!(e("1=http://a:1,2http://b:2").contains("'2http://b:2' is not ID=URL"));
    assert!(e("x=http://a:1").contains("'x' is not a node id"));
    assert!(e("1=").contains("has no URL"));
    // A member of a new region is reached at its peers entry; the entries are checked.
    let c = node2().node_config().unwrap();
    assert_eq!(c.advertise.as_deref(), Some("http://127.0.1.2:7001"));
    let e =
        err(Settings { peers: Some("1=http://a:1,1=http://b:1,2=http://c:1".into()), ..node2() });
    assert!(e.contains("peers names node 1 twice"), "{e}");
    let e = err(Settings { id: Some(4), ..node2() });
    assert!(e.contains("peers must include this node (id 4); it names nodes 1, 2, 3"), "{e}");
    let e = err(Settings { join: Some("http://127.0.1.1:7001".into()), ..node2() });
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn addresses_are_parsed() {
    let e = err(Settings { listen: Some("nowhere".into()), ..data("d") });
    assert!(e.contains("listen 'nowhere' is not an address"), "{e}");
    let e = err(Settings { http: Some("9100".into()), ..data("d") });
    assert!(e.contains("http '9100' is not an address"), "{e}");
    let e = err(Settings { fault_wan_jitter_ms: Some(5), ..data("d") });
    assert!(e.contains("fault_wan_jitter_ms needs fault_wan_delay_ms"), "{e}");
    let e =
        err(Settings { fault_wan_delay_ms: Some(5), fault_wan_jitter_ms: Some(6), ..data("d") });
    assert!(e.contains("the jitter at most the delay"), "{e}");
    let e = err(Settings { min_free_mb: Some(8), ..data("d") });
    assert!(e.contains("min_free_mb is 8 MiB; it must be at least 32 MiB"), "{e}");
    let e = err(Settings { id: Some(0), ..data("d") });
    assert!(e.contains("id: node ids start at 1"), "{e}");
}

#[test]
fn dr_settings_make_a_standby_or_a_primary_with_its_pair() {
    let primary = "http://127.0.1.1:7001,127.0.1.2:7001, http://127.0.1.1:7001/";
    let standby = Settings { standby_of: Some(primary.into()), ..data("d") };
    let c = standby.clone().node_config().unwrap();
    assert_eq!(c.role, Role::Standby);
    assert_eq!(c.region, "standby", "a standby's region is named standby by default");
    let peer = c.peer.unwrap();
    assert_eq!(peer.name, "primary");
    assert_eq!(peer.endpoints, ["http://127.0.1.1:7001", "http://127.0.1.2:7001"]);
    let named = Settings {
        region: Some("east".into()),
        peer_region: Some("west".into()),
        ..standby.clone()
    };
    let c = named.node_config().unwrap();
    assert_eq!((c.region.as_str(), c.peer.unwrap().name.as_str()), ("east", "west"));

    let p = Settings { standby: Some("http://127.0.2.1:7001".into()), ..data("d") };
    let c = p.clone().node_config().unwrap();
    assert_eq!((c.role, c.region.as_str()), (Role::Primary, "primary"));
    assert_eq!(c.peer.unwrap().name, "standby");
    let c = data("d").node_config().unwrap();
    assert_eq!((c.role, c.peer), (Role::Primary, None));

    let e = err(Settings { standby: p.standby.clone(), ..standby });
    assert!(e.contains("give standby_of URL,.. (this region is the standby"), "{e}");
    assert!(e.ends_with("not both"), "{e}");
    let e = err(Settings { peer_region: Some("east".into()), ..data("d") });
    assert!(e.contains("peer_region east names the other region of a DR pair"), "{e}");
    let e = err(Settings { standby_of: Some(" , ".into()), ..data("d") });
    assert!(e.contains("standby_of needs at least one URL"), "{e}");
    let e = err(Settings { peer_region: Some("primary".into()), ..p });
    assert!(e.contains("own region"), "{e}");
}

#[test]
fn a_config_file_is_toml_with_the_same_keys() {
    let text = r#"
        # a node
        id = 2
        region = "primary"   # the region
        data = 'node2'
        listen = "127.0.1.2:7001"
        peers = ["1=http://127.0.1.1:7001", "2=http://127.0.1.2:7001"]
        cache-mb = 32          # keys may be spelled with '-'
        snapshot_logs = 5000
        standby = "http://127.0.2.1:7001,http://127.0.2.2:7001"
        peer_region = "standby"
    "#;
    let file = parse(text).unwrap();
    assert_eq!(file.id, Some(2));
    assert_eq!(file.region.as_deref(), Some("primary"));
    assert_eq!(file.data, Some(PathBuf::from("node2")));
    assert_eq!(file.listen.as_deref(), Some("127.0.1.2:7001"));
    assert_eq!(file.peers.as_deref(), Some("1=http://127.0.1.1:7001,2=http://127.0.1.2:7001"));
    assert_eq!(file.cache_mb, Some(32));
    assert_eq!(file.snapshot_logs, Some(5000));
    assert_eq!(file.standby.as_deref(), Some("http://127.0.2.1:7001,http://127.0.2.2:7001"));
    assert_eq!(file.peer_region.as_deref(), Some("standby"));
    assert_eq!(file.config, None);
    let file = parse("standby-of = [\"http://127.0.1.1:7001\"]\npeer-region = \"west\"").unwrap();
    assert_eq!(file.standby_of.as_deref(), Some("http://127.0.1.1:7001"));
    assert_eq!(parse("").unwrap(), Settings::default());
}

#[test]
fn a_bad_config_file_names_the_line_column_and_key() {
    let e = parse("id = 1\nlisten = \"127.0.0.1:0\"\nport = 7001\n").unwrap_err();
    assert!(e.starts_with("line 3, column 1: unknown field `port`, expected one of"), "{e}");
    let e = parse("id = \"one\"").unwrap_err();
    assert!(e.starts_with("line 1, column 6: invalid type: string \"one\", expected u64"), "{e}");
    assert!(!e.contains("quoted"), "{e}");
    let e = parse("id = -1").unwrap_err();
    assert!(e.starts_with("line 1, column 6:"), "{e}");
    let e = parse("id = 1\nlisten = 127.0.0.1:7000  # here").unwrap_err();
    assert!(e.starts_with("line 2, column "), "an unquoted string is not TOML: {e}");
    assert!(e.ends_with(" (strings are quoted in TOML: listen = \"127.0.0.1:7000\")"), "{e}");
    let e = parse("region = primary").unwrap_err();
    assert!(e.ends_with("(strings are quoted in TOML: region = \"primary\")"), "{e}");
    // No hint where quotes would not help.
    let e = parse("peers = [\"1=http://a:1\"").unwrap_err();
    assert!(e.starts_with("line 1, column ") && !e.contains("quoted"), "{e}");
    let e = parse("[node]\nid = 1").unwrap_err();
    assert!(e.contains("unknown field `node`"), "sections are not used: {e}");
    let e = parse("peers = [1, 2]").unwrap_err();
    assert!(e.contains("an array of strings or one comma-separated string"), "{e}");
    let e = parse("config = \"other.toml\"").unwrap_err();
    assert!(e.contains("unknown field `config`"), "a file cannot name another: {e}");
    let e = parse("id = 1\nid = 2").unwrap_err();
    assert!(e.starts_with("line 2, column 1:"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn flags_win_over_the_file_and_the_file_over_the_defaults() {
    let file = parse("id = 2\nlisten = \"127.0.1.2:7001\"\ncache_mb = 32\ndata = \"f\"").unwrap();
    let flags = Settings { id: Some(3), data: Some("flag".into()), ..Default::default() };
    let c = flags.over(file).node_config().unwrap();
    assert_eq!(c.id, 3, "a flag wins over the file");
    assert_eq!(c.data_dir, PathBuf::from("flag"));
    assert_eq!(c.listen, "127.0.1.2:7001".parse().unwrap(), "the file fills what the flags lack");
    assert_eq!(c.cache_capacity, 32 << 20);
    assert_eq!(c.snapshot_logs, NodeConfig::new("d", c.listen).snapshot_logs, "the default");
}

#[test]
fn empty_flags_and_environment_variables_count_as_not_given() {
    let file = parse("data = \"f\"\nstandby = [\"http://127.0.2.1:7001\"]").unwrap();
    let env = Settings {
        standby: Some(" ".into()),
        data: Some("".into()),
        region: Some("".into()),
        ..Default::default()
    };
    let c = env.without_empty().over(file.clone()).node_config().unwrap();
    assert_eq!(c.data_dir, PathBuf::from("f"));
    assert_eq!(c.peer.unwrap().endpoints, ["http://127.0.2.1:7001"]);
    assert_eq!(c.region, "primary");
    // Without that, the empty value would hide the file's.
    let e = err(Settings { standby: Some(" ".into()), ..Default::default() }.over(file));
    assert!(e.contains("standby needs at least one URL"), "{e}");
}

#[test]
fn load_reads_the_named_file_and_relative_data_is_relative_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.toml");
    std::fs::write(&path, "data = \"node1\"\nid = 2\n").unwrap();
    assert_eq!(read_file(&path).unwrap().data, Some(dir.path().join("node1")));
    let flags = Settings { config: Some(path.clone()), ..Default::default() };
    let c = flags.clone().load().unwrap();
    assert_eq!((c.id, c.data_dir), (2, dir.path().join("node1")));
    let c = Settings { id: Some(5), ..flags }.load().unwrap();
    assert_eq!(c.id, 5);
    std::fs::write(&path, "data = \"/abs/node1\"\n").unwrap();
    assert_eq!(read_file(&path).unwrap().data, Some(PathBuf::from("/abs/node1")));
    std::fs::write(&path, "data = \"node1\"\nport = 1\n").unwrap();
    let e = read_file(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "InvalidArgument: {}, line 2, column 1: unknown field `port`",
            path.display()
        )),
        "{e}"
    );
    let e = read_file(&dir.path().join("none.toml")).unwrap_err().to_string();
    assert!(e.contains("cannot read the config file"), "{e}");
}

#[test]
fn every_setting_has_its_environment_variable() {
    let names = env_names();
    // Every field has one (the flags, the file keys and the variables are one list).
    let keys = ["config", "id", "region", "data", "listen", "advertise", "peers", "join"];
    let more = ["cache_mb", "standby_of", "fault_wan_jitter_ms", "tls_ca", "tls_key", "insecure"];
    for key in keys.iter().chain(&more) {
        let name = format!("TWINSTORE_{}", key.to_uppercase());
        assert!(names.iter().any(|n| *n == *name), "no {name} in {names:?}");
    }
    assert_eq!(names.len(), 25, "{names:?}");
}

#[test]
fn tls_files_come_as_three_and_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        "data = \"n1\"\ntls_ca = \"certs/ca.pem\"\ntls_cert = \"certs/n.pem\"\n\
         tls_key = \"/abs/n-key.pem\"\n",
    )
    .unwrap();
    let file = read_file(&path).unwrap();
    assert_eq!(file.tls_ca, Some(dir.path().join("certs/ca.pem")));
    assert_eq!(file.tls_key, Some(PathBuf::from("/abs/n-key.pem")));
    let c = file.clone().node_config().unwrap();
    assert_eq!(c.tls.unwrap().cert, dir.path().join("certs/n.pem"));
    let e = err(Settings { tls_key: None, ..file });
    assert!(e.contains("TLS needs all three of tls_ca, tls_cert and tls_key"), "{e}");
    let e = err(Settings { listen: Some("0.0.0.0:7000".into()), ..data("d") });
    assert!(e.contains("is not a loopback address"), "{e}");
    let c = Settings { listen: Some("0.0.0.0:7000".into()), insecure: Some(true), ..data("d") };
    assert!(c.node_config().unwrap().insecure);
}

#[test]
fn token_keys_turn_auth_on_from_flags_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let pair = twinstore::security::KeyPair::generate().unwrap();
    let (_, public) = pair.write(&keys).unwrap();
    let public_text = public.display().to_string();
    assert_eq!(data("d").node_config().unwrap().auth, None, "off unless a key is given");
    let s = Settings {
        token_key: Some(vec![public_text.clone()]),
        token_audience: Some("prod".into()),
        ..data("d")
    };
    let auth = s.node_config().unwrap().auth.unwrap();
    assert_eq!(auth.keys, vec![public.clone()]);
    assert_eq!((auth.issuer.as_str(), auth.audience.as_str()), ("twinstore", "prod"));
    // In a file: a list, relative to the file's directory.
    let path = dir.path().join("n.toml");
    std::fs::write(&path, "data = \"d\"\ntoken_key = [\"keys/token-verify.pem\"]\n").unwrap();
    let auth = Settings { config: Some(path), ..Default::default() }.load().unwrap().auth.unwrap();
    assert_eq!(auth.keys, vec![dir.path().join("keys/token-verify.pem")]);
    let e = err(Settings { token_issuer: Some("x".into()), ..data("d") });
    assert!(e.contains("token_issuer and token_audience need token_key"), "{e}");
    let e = err(Settings { token_key: Some(vec![public_text]), ..node2() });
    assert!(e.contains("with other nodes (peers, join, standby / standby_of) needs TLS"), "{e}");
}
