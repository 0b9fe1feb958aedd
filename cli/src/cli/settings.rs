//! `twinstore node`'s settings: one struct that is at once the command's flags, the environment
//! variables, and the TOML config file.
//!
//! Every setting has three spellings that cannot drift apart, because they come from one field of
//! [`Settings`]: the file key (`min_free_mb`), the flag (`--min-free-mb`) and the environment
//! variable (`TWINSTORE_MIN_FREE_MB`). The layers, each over the one before:
//!
//! 1. the defaults (those of [`NodeConfig::new`]),
//! 2. the config file named by `--config FILE` (or `TWINSTORE_CONFIG`),
//! 3. the environment variables `TWINSTORE_<KEY>`,
//! 4. the flags.
//!
//! A flag wins over everything because it is the most specific thing a person typed for this one
//! run; the environment wins over the file so a deployment can override one key of a shared file
//! (a container's `TWINSTORE_ID`) without rewriting it. This is also the order clap gives its own
//! `env` values, and the one `TWINSTORE_ENDPOINT` already had for the client commands, so the
//! whole command has one rule.
//!
//! The file is TOML (parsed with the `toml` crate), one `key = value` a line, no sections:
//!
//! ```toml
//! # node 2 of the primary region
//! id = 2
//! region = "primary"
//! data = "node2"                    # relative paths are relative to this file's directory
//! listen = "127.0.1.2:7001"
//! advertise = "http://127.0.1.2:7001"
//! peers = ["1=http://127.0.1.1:7001", "2=http://127.0.1.2:7001", "3=http://127.0.1.3:7001"]
//! # join = "http://127.0.1.1:7001"  # instead of peers: join an existing region
//! cache_mb = 64
//! min_free_mb = 64                  # writes are refused while less than this is free on the disk
//! snapshot_logs = 1000              # a raft snapshot every this many log entries
//! # http = "127.0.1.2:8001"         # /metrics and the status page
//! # max_retained = 1000000          # DR, on a primary: log entries kept for a lagging standby
//! # DR: this region's geo-pair, the standby region (on the primary's nodes) ...
//! standby = ["http://127.0.2.1:7001", "http://127.0.2.2:7001", "http://127.0.2.3:7001"]
//! # ... or, on the standby's nodes, the primary region they follow:
//! # standby_of = ["http://127.0.1.1:7001", "http://127.0.1.2:7001", "http://127.0.1.3:7001"]
//! # peer_region = "standby"         # the other region's name [standby / primary]
//! # fault_wan_delay_ms = 50         # chaos testing only: delay log shipping from the other
//! # fault_wan_jitter_ms = 10        # region by 50 ± 10 ms, as a WAN between regions would
//! # tls_ca = "certs/ca.pem"         # TLS on every port, mutual TLS between nodes: the CA,
//! # tls_cert = "certs/node-primary-2.pem"   # this node's certificate and key (twinstore certs);
//! # tls_key = "certs/node-primary-2-key.pem" # every URL above is then https://
//! # insecure = true                 # plaintext on a non-loopback address anyway (not advised)
//! # token_key = ["keys/token-verify.pem"]  # client authentication: tokens signed by these keys
//! # token_issuer = "twinstore"      # ... naming this issuer
//! # token_audience = "twinstore"    # ... and this audience
//! ```
//!
//! Strings are quoted (`"..."` or `'...'`), numbers are bare, and the lists (`peers`, `standby`,
//! `standby_of`) are an array of strings or one comma-separated string, as the flags take them.
//! Keys spelled with `-` (`cache-mb`) are accepted too. An unknown key, a value of the wrong type,
//! or anything else that is not TOML is an error naming the file, the line and the column, so a
//! typo never silently falls back to a default. Environment variables that are not settings
//! (`TWINSTORE_ENDPOINT`, those of the scripts) are not read here.
//!
//! DR settings: `standby_of` makes this node's region the standby of the primary region at those
//! URLs (it pulls the primary's log and refuses writes until promoted); `standby` gives a primary
//! region's nodes their geo-pair (to fence it and to tell clients where to go). Both name the
//! other region's nodes, so they cannot be given together. The role is recorded in the region's
//! replicated state when the region first forms; afterwards failovers and reprotects change it,
//! and these settings only say where the other region is.
//!
//! Client authentication: `token_key` (one or more public key files, a relative path is relative
//! to the file's directory) turns it on; `token_issuer` and `token_audience` say what tokens must
//! name. For now it works on single-node regions only (see `NodeConfig::validate`).
//!
//! This module only turns text into a [`NodeConfig`] (what a `peers` entry looks like, that
//! `listen` is an address, which DR keys go together). Whether the settings make sense is
//! [`NodeConfig::validate`]'s job, the same checks an in-process node gets from `Node::start`.

use super::output::{CliError, CliResult};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twinstore::client::normalize_url;
use twinstore::error::ErrorCode;
use twinstore::raft::network::Delay;
use twinstore::security::AuthConfig;
use twinstore::security::tls::TlsFiles;
use twinstore::server::NodeConfig;
use twinstore::storage::dr::{PeerRegion, Role};

/// The listen address when none is given.
const DEFAULT_LISTEN: &str = "127.0.0.1:7000";
/// The region when none is given.
const DEFAULT_REGION: &str = "primary";
/// The peer region's name by default: of a standby's primary, and of a primary's standby.
const DEFAULT_PRIMARY_PEER: &str = "primary";
const DEFAULT_STANDBY_PEER: &str = "standby";

/// A node's settings as given: every field is a flag, an environment variable and a file key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// A TOML config file with the settings below, one `key = value` a line (the environment
    /// and the flags win over it).
    #[arg(long, value_name = "FILE", env = "TWINSTORE_CONFIG")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,
    /// The node's id in its region (1, 2, ...; unique in the region, never reused) [default: 1].
    #[arg(long, value_name = "N", env = "TWINSTORE_ID")]
    pub(crate) id: Option<u64>,
    /// The region the node belongs to [default: primary; standby with --standby-of].
    #[arg(long, value_name = "NAME", env = "TWINSTORE_REGION")]
    pub(crate) region: Option<String>,
    /// The node's data directory (created if missing).
    #[arg(long, value_name = "DIR", env = "TWINSTORE_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// The address to serve the gRPC API on (port 0 picks a free port) [default: 127.0.0.1:7000].
    #[arg(long, value_name = "ADDR", env = "TWINSTORE_LISTEN")]
    pub(crate) listen: Option<String>,
    /// The URL other nodes and clients reach this node at [default: this node's --peers entry,
    /// or http://<listen>].
    #[arg(long, value_name = "URL", env = "TWINSTORE_ADVERTISE")]
    pub(crate) advertise: Option<String>,
    /// The initial members of a new region, this node included: 1=URL,2=URL,3=URL. The member with
    /// the smallest id initializes the group. Without --peers or --join: a single-node region.
    #[arg(long, value_name = "ID=URL,..", env = "TWINSTORE_PEERS")]
    #[serde(default, deserialize_with = "list")]
    pub(crate) peers: Option<String>,
    /// The URL of a member of a running region to join (as a learner, then a voter).
    #[arg(long, value_name = "URL", env = "TWINSTORE_JOIN")]
    pub(crate) join: Option<String>,
    /// The storage page cache size in MiB [default: 64].
    #[arg(long, value_name = "N", env = "TWINSTORE_CACHE_MB")]
    #[serde(alias = "cache-mb")]
    pub(crate) cache_mb: Option<u64>,
    /// Refuse writes (ResourceExhausted) while the data directory has less than this many MiB
    /// free [default: 64].
    #[arg(long, value_name = "N", env = "TWINSTORE_MIN_FREE_MB")]
    #[serde(alias = "min-free-mb")]
    pub(crate) min_free_mb: Option<u64>,
    /// Take a raft snapshot (and let the log be purged before it) every this many log entries;
    /// an entry carries a batch of writes [default: 1000].
    #[arg(long, value_name = "N", env = "TWINSTORE_SNAPSHOT_LOGS")]
    #[serde(alias = "snapshot-logs")]
    pub(crate) snapshot_logs: Option<u64>,
    /// Serve Prometheus `/metrics` and the status page `/` on this address (e.g. 127.0.0.1:9100).
    #[arg(long, value_name = "ADDR", env = "TWINSTORE_HTTP")]
    pub(crate) http: Option<String>,
    /// DR, on a primary: the most log entries kept for a standby that has not confirmed them; a
    /// standby further behind is reseeded from a snapshot [default: 1000000].
    #[arg(long, value_name = "ENTRIES", env = "TWINSTORE_MAX_RETAINED")]
    #[serde(alias = "max-retained")]
    pub(crate) max_retained: Option<u64>,
    /// DR: this node's region is the standby of the primary region at these URLs (its nodes): it
    /// pulls the primary's log, serves reads and refuses writes until it is promoted.
    #[arg(long, value_name = "URL,..", env = "TWINSTORE_STANDBY_OF")]
    #[serde(default, alias = "standby-of", deserialize_with = "list")]
    pub(crate) standby_of: Option<String>,
    /// DR, on a primary region's nodes: the URLs of its standby region (its geo-pair), used to
    /// fence it and to tell clients where to go.
    #[arg(long, value_name = "URL,..", env = "TWINSTORE_STANDBY")]
    #[serde(default, deserialize_with = "list")]
    pub(crate) standby: Option<String>,
    /// DR: the other region's name [default: primary with --standby-of, standby with --standby].
    #[arg(long, value_name = "NAME", env = "TWINSTORE_PEER_REGION")]
    #[serde(alias = "peer-region")]
    pub(crate) peer_region: Option<String>,
    /// Chaos testing only: delay every log-shipping message from the other region by this many
    /// milliseconds, as a WAN between the regions would (where the kernel has no tc netem).
    #[arg(long, value_name = "MS", env = "TWINSTORE_FAULT_WAN_DELAY_MS")]
    #[serde(alias = "fault-wan-delay-ms")]
    pub(crate) fault_wan_delay_ms: Option<u64>,
    /// Chaos testing only: vary that delay by up to this many milliseconds either way.
    #[arg(long, value_name = "MS", env = "TWINSTORE_FAULT_WAN_JITTER_MS")]
    #[serde(alias = "fault-wan-jitter-ms")]
    pub(crate) fault_wan_jitter_ms: Option<u64>,
    /// TLS: the deployment's CA certificate (PEM). With `tls_cert` and `tls_key` the node serves
    /// TLS on every port and uses mutual TLS with the other nodes (`twinstore certs` makes them).
    #[arg(long, value_name = "FILE", env = "TWINSTORE_TLS_CA")]
    #[serde(alias = "tls-ca")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// TLS: this node's certificate, signed by the CA, naming this node and region.
    #[arg(long, value_name = "FILE", env = "TWINSTORE_TLS_CERT")]
    #[serde(alias = "tls-cert")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS: this node's private key.
    #[arg(long, value_name = "FILE", env = "TWINSTORE_TLS_KEY")]
    #[serde(alias = "tls-key")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address anyway: anyone who reaches the node can read
    /// and write every twin (a warning is logged at start and every hour).
    #[arg(
        long,
        value_name = "BOOL",
        env = "TWINSTORE_INSECURE",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub(crate) insecure: Option<bool>,
    /// Client authentication: a public key file (token-verify.pem from `twinstore token keygen`)
    /// tokens may be signed with; repeat it (or separate with commas) to accept several keys
    /// while rotating. Without it, calls are not authenticated.
    #[arg(long, value_name = "FILE", env = "TWINSTORE_TOKEN_KEY", value_delimiter = ',')]
    #[serde(default, alias = "token-key", deserialize_with = "list_of")]
    pub(crate) token_key: Option<Vec<String>>,
    /// The issuer tokens must name [default: twinstore].
    #[arg(long, value_name = "NAME", env = "TWINSTORE_TOKEN_ISSUER")]
    #[serde(alias = "token-issuer")]
    pub(crate) token_issuer: Option<String>,
    /// The audience tokens must name [default: twinstore].
    #[arg(long, value_name = "NAME", env = "TWINSTORE_TOKEN_AUDIENCE")]
    #[serde(alias = "token-audience")]
    pub(crate) token_audience: Option<String>,
}

/// The environment variables of the settings (`TWINSTORE_CONFIG`, `TWINSTORE_ID`, ...), read
/// from their definitions: `twinstore up` clears them for the nodes it starts.
pub(crate) fn env_names() -> Vec<std::ffi::OsString> {
    let node = Settings::augment_args(clap::Command::new("node"));
    node.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_owned()).collect()
}

/// A list setting in a file: an array of strings, or one comma-separated string as on the
/// command line.
#[derive(Deserialize)]
#[serde(untagged, expecting = "an array of strings or one comma-separated string")]
enum List {
    One(String),
    Many(Vec<String>),
}

fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(match List::deserialize(d)? {
        List::One(s) => s,
        List::Many(items) => items.join(","),
    }))
}

fn list_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Some(match List::deserialize(d)? {
        List::One(s) => entries(&s).map(str::to_string).collect(),
        List::Many(items) => items,
    }))
}

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

impl Settings {
    /// The settings of a node as `twinstore node` was given them: `self` holds the flags and
    /// the environment (clap merged those), over the file they name, over the defaults; parsed
    /// into a `NodeConfig` and checked.
    pub(crate) fn load(self) -> CliResult<NodeConfig> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => Settings::default(),
        };
        self.without_empty().over(file).node_config()
    }

    /// `self` with empty strings taken as not given: an environment variable set to nothing
    /// (`TWINSTORE_STANDBY= cmd`, as scripts write to pass nothing on) must not hide the file's
    /// value, nor be an empty list.
    fn without_empty(mut self) -> Settings {
        for text in [
            &mut self.region,
            &mut self.listen,
            &mut self.advertise,
            &mut self.peers,
            &mut self.join,
            &mut self.http,
            &mut self.standby_of,
            &mut self.standby,
            &mut self.peer_region,
            &mut self.token_issuer,
            &mut self.token_audience,
        ] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
        for path in [
            &mut self.config,
            &mut self.data,
            &mut self.tls_ca,
            &mut self.tls_cert,
            &mut self.tls_key,
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                *path = None;
            }
        }
        if let Some(keys) = &mut self.token_key {
            keys.retain(|k| !k.trim().is_empty());
            if keys.is_empty() {
                self.token_key = None;
            }
        }
        self
    }

    /// `self` with the settings it does not have taken from `below`.
    pub(crate) fn over(self, below: Settings) -> Settings {
        Settings {
            config: self.config.or(below.config),
            id: self.id.or(below.id),
            region: self.region.or(below.region),
            data: self.data.or(below.data),
            listen: self.listen.or(below.listen),
            advertise: self.advertise.or(below.advertise),
            peers: self.peers.or(below.peers),
            join: self.join.or(below.join),
            cache_mb: self.cache_mb.or(below.cache_mb),
            min_free_mb: self.min_free_mb.or(below.min_free_mb),
            snapshot_logs: self.snapshot_logs.or(below.snapshot_logs),
            http: self.http.or(below.http),
            max_retained: self.max_retained.or(below.max_retained),
            standby_of: self.standby_of.or(below.standby_of),
            standby: self.standby.or(below.standby),
            peer_region: self.peer_region.or(below.peer_region),
            fault_wan_delay_ms: self.fault_wan_delay_ms.or(below.fault_wan_delay_ms),
            fault_wan_jitter_ms: self.fault_wan_jitter_ms.or(below.fault_wan_jitter_ms),
            tls_ca: self.tls_ca.or(below.tls_ca),
            tls_cert: self.tls_cert.or(below.tls_cert),
            tls_key: self.tls_key.or(below.tls_key),
            insecure: self.insecure.or(below.insecure),
            token_key: self.token_key.or(below.token_key),
            token_issuer: self.token_issuer.or(below.token_issuer),
            token_audience: self.token_audience.or(below.token_audience),
        }
    }

    /// The node's config: the text parsed, the defaults filled in, then
    /// [`NodeConfig::validate`].
    pub(crate) fn node_config(self) -> CliResult<NodeConfig> {
        let data = self.data.ok_or_else(|| {
            invalid("a data directory is required: --data DIR (or `data = \"DIR\"` in --config)")
        })?;
        let listen_text = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.trim().parse().map_err(|_| {
            invalid(format!("listen '{listen_text}' is not an address such as 127.0.0.1:7000"))
        })?;
        let mut c = NodeConfig::new(data, listen);
        c.id = self.id.unwrap_or(c.id);
        // A standby's region is called "standby" unless named.
        let region = if self.standby_of.is_some() { DEFAULT_STANDBY_PEER } else { DEFAULT_REGION };
        c.region = self.region.unwrap_or_else(|| region.into());
        c.peers = match &self.peers {
            Some(p) => parse_peers(p)?,
            None => Vec::new(),
        };
        // A member of a new region is reached at its own `peers` entry unless told otherwise.
        c.advertise = self
            .advertise
            .map(|a| normalize_url(&a))
            .or_else(|| c.peers.iter().find(|(i, _)| *i == c.id).map(|(_, url)| url.clone()));
        c.join = self.join.map(|j| normalize_url(&j));
        (c.role, c.peer) = dr_pair(self.standby_of, self.standby, self.peer_region)?;
        let mib = |n: u64| n.saturating_mul(1 << 20);
        c.cache_capacity = self.cache_mb.map_or(c.cache_capacity, mib);
        c.min_free_bytes = self.min_free_mb.map_or(c.min_free_bytes, mib);
        c.snapshot_logs = self.snapshot_logs.unwrap_or(c.snapshot_logs);
        c.max_retained = self.max_retained.unwrap_or(c.max_retained);
        c.http = match &self.http {
            Some(h) => Some(h.trim().parse().map_err(|_| {
                invalid(format!("http '{h}' is not an address such as 127.0.0.1:9100"))
            })?),
            None => None,
        };
        c.wan_delay = match (self.fault_wan_delay_ms, self.fault_wan_jitter_ms) {
            (None, None) => None,
            (None, Some(_)) => return Err(invalid("fault_wan_jitter_ms needs fault_wan_delay_ms")),
            (Some(d), j) => Some(Delay {
                base: Duration::from_millis(d),
                jitter: Duration::from_millis(j.unwrap_or(0)),
            }),
        };
        c.tls = match (self.tls_ca, self.tls_cert, self.tls_key) {
            (None, None, None) => None,
            (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
            _ => {
                return Err(invalid(
                    "TLS needs all three of tls_ca, tls_cert and tls_key (twinstore certs makes \
                     them)",
                ));
            }
        };
        c.insecure = self.insecure.unwrap_or(false);
        c.auth = match self.token_key {
            Some(keys) => {
                let mut auth =
                    AuthConfig::new(keys.iter().map(|k| PathBuf::from(k.trim())).collect());
                auth.issuer = self.token_issuer.unwrap_or(auth.issuer);
                auth.audience = self.token_audience.unwrap_or(auth.audience);
                Some(auth)
            }
            None if self.token_issuer.is_some() || self.token_audience.is_some() => {
                return Err(invalid(
                    "token_issuer and token_audience need token_key (the public key tokens are \
                     verified with)",
                ));
            }
            None => None,
        };
        c.validate().map_err(|e| invalid(e.0))?;
        Ok(c)
    }
}

/// Splits a list setting: commas or whitespace between the entries.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ' ', '\n', '\t']).map(str::trim).filter(|e| !e.is_empty())
}

/// Parses `peers`: `ID=URL` entries, sorted by id (their URLs are checked by `validate`).
fn parse_peers(text: &str) -> CliResult<Vec<(u64, String)>> {
    let mut peers = Vec::new();
    for entry in entries(text) {
        let Some((id, url)) = entry.split_once('=') else {
            return Err(invalid(format!(
                "peers entry '{entry}' is not ID=URL (e.g. 1=http://127.0.1.1:7001)"
            )));
        };
        let id: u64 = id.trim().parse().map_err(|_| {
            invalid(format!("peers entry '{entry}': '{}' is not a node id (1, 2, ...)", id.trim()))
        })?;
        if url.trim().is_empty() {
            return Err(invalid(format!("peers entry '{entry}' has no URL")));
        }
        peers.push((id, normalize_url(url)));
    }
    peers.sort();
    Ok(peers)
}

/// The DR role and the other region from `standby_of`, `standby` and `peer_region`.
fn dr_pair(
    standby_of: Option<String>,
    standby: Option<String>,
    peer_region: Option<String>,
) -> CliResult<(Role, Option<PeerRegion>)> {
    let (role, urls, default_peer) = match (standby_of, standby) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "give standby_of URL,.. (this region is the standby of that primary) or \
                 standby URL,.. (this primary region's standby), not both",
            ));
        }
        (Some(urls), None) => (Role::Standby, urls, DEFAULT_PRIMARY_PEER),
        (None, Some(urls)) => (Role::Primary, urls, DEFAULT_STANDBY_PEER),
        (None, None) => {
            if let Some(name) = peer_region {
                return Err(invalid(format!(
                    "peer_region {name} names the other region of a DR pair: give it with \
                     standby_of URL,.. or standby URL,.."
                )));
            }
            return Ok((Role::Primary, None));
        }
    };
    let mut endpoints: Vec<String> = Vec::new();
    for url in entries(&urls).map(normalize_url) {
        if !endpoints.contains(&url) {
            endpoints.push(url);
        }
    }
    let name = peer_region.unwrap_or_else(|| default_peer.to_string());
    Ok((role, Some(PeerRegion { name, endpoints })))
}

/// Reads a config file; a relative path (`data`, the TLS files) is taken relative to the file's
/// directory, so the node finds its files wherever it is started from.
pub(crate) fn read_file(path: &Path) -> CliResult<Settings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read the config file {}: {e}", path.display())))?;
    let mut file = parse(&text).map_err(|e| invalid(format!("{}, {e}", path.display())))?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for file_path in [&mut file.data, &mut file.tls_ca, &mut file.tls_cert, &mut file.tls_key] {
        if let Some(p) = file_path.as_ref().filter(|p| p.is_relative()) {
            *file_path = Some(base.join(p));
        }
    }
    for key in file.token_key.iter_mut().flatten() {
        if Path::new(key.trim()).is_relative() {
            *key = base.join(key.trim()).display().to_string();
        }
    }
    Ok(file)
}

/// Parses a config file's text. The error is one line, `line L, column C: what was wrong` (the
/// `toml` crate's own rendering spans several lines, and the command's errors are one line).
pub(crate) fn parse(text: &str) -> Result<Settings, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let message = e.message().trim_end();
        let Some(span) = e.span() else { return message.to_string() };
        let before = &text[..span.start.min(text.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        let whole_line = text[line_start..].lines().next().unwrap_or_default();
        format!("line {line}, column {column}: {message}{}", quote_hint(whole_line))
    })
}

/// A hint for a string value written without quotes (`listen = 127.0.0.1:7000`), which files
/// before TOML accepted: the line as it would be with them, if that is TOML.
fn quote_hint(line: &str) -> String {
    let Some((key, value)) = line.split_once('=') else { return String::new() };
    let value = value.split('#').next().unwrap_or_default().trim();
    let quoted = format!("{} = \"{value}\"", key.trim());
    let is_string =
        |l: &str| l.parse::<toml::Table>().is_ok_and(|t| t.values().all(|v| v.is_str()));
    let structured = value.starts_with(['[', '{', '\'']) || value.contains('"');
    if value.is_empty() || structured || is_string(line) || !is_string(&quoted) {
        return String::new();
    }
    format!(" (strings are quoted in TOML: {quoted})")
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
