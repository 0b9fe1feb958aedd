//! `twinstore node`'s settings: flags, an optional config file, and their checks.
//!
//! Every setting can be given as a flag or in the file named by `--config`; a flag wins over the
//! file, the file over the default. The file is a small TOML subset, one `key = value` a line:
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
//! min_free_mb = 64                 # writes are refused while less than this is free on the disk
//! snapshot_logs = 1000              # a raft snapshot every this many log entries
//! # DR: this region's geo-pair, the standby region (on the primary's nodes) ...
//! standby = ["http://127.0.2.1:7001", "http://127.0.2.2:7001", "http://127.0.2.3:7001"]
//! # ... or, on the standby's nodes, the primary region they follow:
//! # standby_of = ["http://127.0.1.1:7001", "http://127.0.1.2:7001", "http://127.0.1.3:7001"]
//! # peer_region = "standby"         # the other region's name [standby / primary]
//! # fault_wan_delay_ms = 50          # chaos testing only: delay log shipping from the other
//! # fault_wan_jitter_ms = 10         # region by 50 ± 10 ms, as a WAN between regions would
//! ```
//!
//! DR settings: `standby_of` makes this node's region the standby of the primary region at those
//! URLs (it pulls the primary's log and refuses writes until promoted); `standby` gives a primary
//! region's nodes their geo-pair (to fence it and to tell clients where to go). Both name the
//! other region's nodes, so they cannot be given together. The role is recorded in the region's
//! replicated state when the region first forms; afterwards failovers and reprotects change it,
//! and these settings only say where the other region is.
//!
//! Values are strings (quoted, or bare words), integers, or for `peers` an array of strings or one
//! comma-separated string. Keys may be spelled with `-` or `_`. Unknown keys and malformed lines
//! are errors that name the file and line, so a typo never silently falls back to a default.

use super::output::{CliError, CliResult};
use crate::client::normalize_url;
use crate::error::ErrorCode;
use crate::raft::network::Delay;
use crate::storage::dr::{PeerRegion, Role};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The listen address when none is given.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7000";
/// The region when none is given.
pub(crate) const DEFAULT_REGION: &str = "primary";
/// The peer region's name by default: of a standby's primary, and of a primary's standby.
pub(crate) const DEFAULT_PRIMARY_PEER: &str = "primary";
pub(crate) const DEFAULT_STANDBY_PEER: &str = "standby";

/// The settings as given (flags or file), before defaults and checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawSettings {
    pub(crate) id: Option<u64>,
    pub(crate) region: Option<String>,
    pub(crate) data: Option<PathBuf>,
    pub(crate) listen: Option<String>,
    pub(crate) advertise: Option<String>,
    pub(crate) peers: Option<String>,
    pub(crate) join: Option<String>,
    pub(crate) cache_mb: Option<u64>,
    pub(crate) min_free_mb: Option<u64>,
    pub(crate) snapshot_logs: Option<u64>,
    pub(crate) http: Option<String>,
    pub(crate) max_retained: Option<u64>,
    pub(crate) standby_of: Option<String>,
    pub(crate) standby: Option<String>,
    pub(crate) peer_region: Option<String>,
    pub(crate) fault_wan_delay_ms: Option<u64>,
    pub(crate) fault_wan_jitter_ms: Option<u64>,
}

impl RawSettings {
    /// `self` with the unset fields taken from `file`.
    pub(crate) fn or(self, file: RawSettings) -> RawSettings {
        RawSettings {
            id: self.id.or(file.id),
            region: self.region.or(file.region),
            data: self.data.or(file.data),
            listen: self.listen.or(file.listen),
            advertise: self.advertise.or(file.advertise),
            peers: self.peers.or(file.peers),
            join: self.join.or(file.join),
            cache_mb: self.cache_mb.or(file.cache_mb),
            min_free_mb: self.min_free_mb.or(file.min_free_mb),
            snapshot_logs: self.snapshot_logs.or(file.snapshot_logs),
            http: self.http.or(file.http),
            max_retained: self.max_retained.or(file.max_retained),
            standby_of: self.standby_of.or(file.standby_of),
            standby: self.standby.or(file.standby),
            peer_region: self.peer_region.or(file.peer_region),
            fault_wan_delay_ms: self.fault_wan_delay_ms.or(file.fault_wan_delay_ms),
            fault_wan_jitter_ms: self.fault_wan_jitter_ms.or(file.fault_wan_jitter_ms),
        }
    }
}

/// The checked settings of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) id: u64,
    pub(crate) region: String,
    pub(crate) data: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) advertise: Option<String>,
    pub(crate) peers: Vec<(u64, String)>,
    pub(crate) join: Option<String>,
    pub(crate) cache_mb: Option<u64>,
    /// Writes are refused while less than this many MiB are free.
    pub(crate) min_free_mb: Option<u64>,
    /// A raft snapshot every this many log entries.
    pub(crate) snapshot_logs: Option<u64>,
    /// Where to serve `/metrics` and the status page, if anywhere.
    pub(crate) http: Option<SocketAddr>,
    /// The most log entries kept for an unconfirmed standby.
    pub(crate) max_retained: Option<u64>,
    /// The region's DR role when it first forms.
    pub(crate) role: Role,
    /// The other region of the DR pair.
    pub(crate) peer: Option<PeerRegion>,
    /// Chaos testing: the delay added to messages from the other region.
    pub(crate) wan_delay: Option<Delay>,
}

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, message)
}

/// Parses `--peers`: `ID=URL` entries separated by commas (or whitespace).
pub(crate) fn parse_peers(text: &str) -> CliResult<Vec<(u64, String)>> {
    let mut peers: Vec<(u64, String)> = Vec::new();
    for entry in text.split([',', ' ', '\n', '\t']).map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, url)) = entry.split_once('=') else {
            return Err(invalid(format!(
                "--peers entry '{entry}' is not ID=URL (e.g. 1=http://127.0.1.1:7001)"
            )));
        };
        let id: u64 = id.trim().parse().map_err(|_| {
            invalid(format!(
                "--peers entry '{entry}': '{}' is not a node id (1, 2, ...)",
                id.trim()
            ))
        })?;
        if id == 0 {
            return Err(invalid(format!("--peers entry '{entry}': node ids start at 1")));
        }
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid(format!("--peers entry '{entry}' has no URL")));
        }
        let url = check_url(url, &format!("--peers entry '{entry}'"))?;
        if peers.iter().any(|(i, _)| *i == id) {
            return Err(invalid(format!("--peers names node {id} twice")));
        }
        if let Some((other, _)) = peers.iter().find(|(_, u)| *u == url) {
            return Err(invalid(format!(
                "--peers gives nodes {other} and {id} the same URL {url}"
            )));
        }
        peers.push((id, url));
    }
    peers.sort();
    Ok(peers)
}

/// A URL other nodes can dial: `http(s)://host:port`, a bare `host:port` taken as http.
fn check_url(url: &str, what: &str) -> CliResult<String> {
    let url = normalize_url(url);
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| invalid(format!("{what}: '{url}' is not an http:// URL")))?;
    let host_port = rest.split('/').next().unwrap_or_default();
    let port_ok = host_port
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        return Err(invalid(format!("{what}: '{url}' needs a host and a port (http://HOST:PORT)")));
    }
    Ok(url)
}

/// Parses a list of URLs (`--standby-of`, `--standby`): separated by commas (or whitespace), each
/// checked, duplicates dropped.
pub(crate) fn parse_urls(text: &str, what: &str) -> CliResult<Vec<String>> {
    let mut urls: Vec<String> = Vec::new();
    for entry in text.split([',', ' ', '\n', '\t']).map(str::trim).filter(|e| !e.is_empty()) {
        let url = check_url(entry, what)?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(invalid(format!(
            "{what} needs at least one URL of the other region (e.g. http://127.0.1.1:7001)"
        )));
    }
    Ok(urls)
}

/// Checks a region name.
fn check_region(name: &str, what: &str) -> CliResult<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid(format!("{what} '{name}': use letters, digits, '-' and '_' only")));
    }
    Ok(())
}

impl RawSettings {
    /// Applies defaults and checks the settings together.
    pub(crate) fn check(self) -> CliResult<Settings> {
        let id = self.id.unwrap_or(1);
        if id == 0 {
            return Err(invalid("--id: node ids start at 1"));
        }
        // A standby's region is called "standby" unless named.
        let region = self.region.unwrap_or_else(|| {
            if self.standby_of.is_some() { DEFAULT_STANDBY_PEER } else { DEFAULT_REGION }.into()
        });
        check_region(&region, "--region")?;
        let data = self.data.ok_or_else(|| {
            invalid("a data directory is required: --data DIR (or `data = \"DIR\"` in --config)")
        })?;
        let listen_text = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
            invalid(format!("--listen '{listen_text}' is not an address such as 127.0.0.1:7000"))
        })?;
        let advertise = match self.advertise {
            Some(a) => Some(check_url(&a, "--advertise")?),
            None => None,
        };
        let peers = match &self.peers {
            Some(p) => parse_peers(p)?,
            None => Vec::new(),
        };
        let join = match self.join {
            Some(j) => Some(check_url(&j, "--join")?),
            None => None,
        };
        if !peers.is_empty() && join.is_some() {
            return Err(invalid(
                "give --peers to form a new region or --join to join a running one, not both",
            ));
        }
        let mut advertise = advertise;
        if !peers.is_empty() {
            let Some((_, own)) = peers.iter().find(|(i, _)| *i == id) else {
                let ids: Vec<String> = peers.iter().map(|(i, _)| i.to_string()).collect();
                return Err(invalid(format!(
                    "--peers must include this node (--id {id}); it names nodes {}",
                    ids.join(", ")
                )));
            };
            match &advertise {
                Some(a) if a != own => {
                    return Err(invalid(format!(
                        "--advertise {a} differs from this node's --peers entry {id}={own}"
                    )));
                }
                Some(_) => {}
                None => advertise = Some(own.clone()),
            }
            if listen.port() == 0 {
                return Err(invalid(
                    "--listen with port 0 cannot be used with --peers: the peers need this \
                     node's address in advance",
                ));
            }
        }
        if advertise.is_none() && listen.ip().is_unspecified() && (join.is_some()) {
            return Err(invalid(format!(
                "--listen {listen} is not an address other nodes can dial: give --advertise URL"
            )));
        }
        let (role, peer) = dr_pair(
            &region,
            self.standby_of.as_deref(),
            self.standby.as_deref(),
            self.peer_region,
        )?;
        if let Some(p) = &peer {
            let own: Vec<&String> =
                peers.iter().map(|(_, u)| u).chain(advertise.as_ref()).collect();
            if let Some(u) = p.endpoints.iter().find(|u| own.contains(u)) {
                return Err(invalid(format!(
                    "{u} is a member of this region (--peers / --advertise), so it cannot be in \
                     the other region's list ({})",
                    if role == Role::Standby { "--standby-of" } else { "--standby" }
                )));
            }
        }
        Ok(Settings {
            id,
            region,
            data,
            listen,
            advertise,
            peers,
            join,
            cache_mb: self.cache_mb,
            min_free_mb: self.min_free_mb,
            snapshot_logs: self.snapshot_logs,
            http: match &self.http {
                Some(h) => Some(h.parse().map_err(|_| {
                    invalid(format!("--http {h} is not an address such as 127.0.0.1:9100"))
                })?),
                None => None,
            },
            max_retained: self.max_retained,
            role,
            peer,
            wan_delay: wan_delay(self.fault_wan_delay_ms, self.fault_wan_jitter_ms)?,
        })
    }
}

/// The fault-injected WAN delay from `fault_wan_delay_ms` and `fault_wan_jitter_ms`.
fn wan_delay(delay: Option<u64>, jitter: Option<u64>) -> CliResult<Option<Delay>> {
    match (delay, jitter) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(invalid("--fault-wan-jitter-ms needs --fault-wan-delay-ms")),
        (Some(d), j) => {
            let j = j.unwrap_or(0);
            if d > 60_000 || j > d {
                return Err(invalid(format!(
                    "--fault-wan-delay-ms {d} --fault-wan-jitter-ms {j}: the delay must be at \
                     most 60000 ms and the jitter at most the delay"
                )));
            }
            Ok(Some(Delay {
                base: std::time::Duration::from_millis(d),
                jitter: std::time::Duration::from_millis(j),
            }))
        }
    }
}

/// The DR role and peer region from `--standby-of`, `--standby` and `--peer-region`.
fn dr_pair(
    region: &str,
    standby_of: Option<&str>,
    standby: Option<&str>,
    peer_region: Option<String>,
) -> CliResult<(Role, Option<PeerRegion>)> {
    let (role, urls, default_peer) = match (standby_of, standby) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "give --standby-of URL,.. (this region is the standby of that primary) or \
                 --standby URL,.. (this primary region's standby), not both",
            ));
        }
        (Some(urls), None) => {
            (Role::Standby, parse_urls(urls, "--standby-of")?, DEFAULT_PRIMARY_PEER)
        }
        (None, Some(urls)) => (Role::Primary, parse_urls(urls, "--standby")?, DEFAULT_STANDBY_PEER),
        (None, None) => {
            if let Some(name) = peer_region {
                return Err(invalid(format!(
                    "--peer-region {name} names the other region of a DR pair: give it with \
                     --standby-of URL,.. or --standby URL,.."
                )));
            }
            return Ok((Role::Primary, None));
        }
    };
    let name = peer_region.unwrap_or_else(|| default_peer.to_string());
    check_region(&name, "--peer-region")?;
    if name == region {
        return Err(invalid(format!(
            "--peer-region {name} is this node's own region: the two regions of a DR pair need \
             different names (set --region or --peer-region)"
        )));
    }
    Ok((role, Some(PeerRegion { name, endpoints: urls })))
}

/// Reads a config file.
pub(crate) fn read_file(path: &Path) -> CliResult<RawSettings> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read the config file {}: {e}", path.display())))?;
    let mut raw = parse(&text).map_err(|(line, message)| {
        invalid(format!("{}, line {line}: {message}", path.display()))
    })?;
    // A relative data directory is relative to the file, wherever the node is started from.
    if let Some(data) = &raw.data
        && data.is_relative()
    {
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        raw.data = Some(base.join(data));
    }
    Ok(raw)
}

/// A parsed value.
enum Value {
    Text(String),
    List(Vec<String>),
}

/// Parses the config text; an error is `(line number, message)`.
pub(crate) fn parse(text: &str) -> Result<RawSettings, (usize, String)> {
    let mut raw = RawSettings::default();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = strip_comment(line).trim().to_string();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') && !line.contains('=') {
            return Err((n, format!("sections such as {line} are not used; write key = value")));
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err((n, format!("expected key = value, found '{line}'")));
        };
        let key = key.trim().replace('-', "_");
        let value = parse_value(value.trim()).map_err(|m| (n, m))?;
        let text = |v: Value| match v {
            Value::Text(s) => Ok(s),
            Value::List(_) => Err((n, format!("{key} takes one value, not a list"))),
        };
        let number = |v: Value| -> Result<u64, (usize, String)> {
            let s = text(v)?;
            s.parse().map_err(|_| (n, format!("{key} must be a whole number, not '{s}'")))
        };
        match key.as_str() {
            "id" => raw.id = Some(number(value)?),
            "region" => raw.region = Some(text(value)?),
            "data" => raw.data = Some(PathBuf::from(text(value)?)),
            "listen" => raw.listen = Some(text(value)?),
            "advertise" => raw.advertise = Some(text(value)?),
            "join" => raw.join = Some(text(value)?),
            "cache_mb" => raw.cache_mb = Some(number(value)?),
            "min_free_mb" => raw.min_free_mb = Some(number(value)?),
            "snapshot_logs" => raw.snapshot_logs = Some(number(value)?),
            "http" => raw.http = Some(text(value)?),
            "max_retained" => raw.max_retained = Some(number(value)?),
            "peer_region" => raw.peer_region = Some(text(value)?),
            "fault_wan_delay_ms" => raw.fault_wan_delay_ms = Some(number(value)?),
            "fault_wan_jitter_ms" => raw.fault_wan_jitter_ms = Some(number(value)?),
            "peers" | "standby_of" | "standby" => {
                let joined = match value {
                    Value::Text(s) => s,
                    Value::List(items) => items.join(","),
                };
                match key.as_str() {
                    "peers" => raw.peers = Some(joined),
                    "standby_of" => raw.standby_of = Some(joined),
                    _ => raw.standby = Some(joined),
                }
            }
            other => {
                return Err((
                    n,
                    format!(
                        "unknown key '{other}' (known: id, region, data, listen, advertise, \
                         peers, join, cache_mb, min_free_mb, snapshot_logs, standby_of, standby, peer_region, fault_wan_delay_ms, \
                         fault_wan_jitter_ms)"
                    ),
                ));
            }
        }
    }
    Ok(raw)
}

/// The line without a `#` comment (a `#` inside quotes is kept).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn parse_value(v: &str) -> Result<Value, String> {
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| format!("the list {v} has no closing ']' on this line"))?;
        let mut items = Vec::new();
        for item in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match parse_value(item)? {
                Value::Text(s) => items.push(s),
                Value::List(_) => return Err("lists cannot be nested".into()),
            }
        }
        return Ok(Value::List(items));
    }
    if let Some(inner) = v.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| format!("the string {v} has no closing quote"))?;
        if inner.contains('"') || inner.contains('\\') {
            return Err(format!("the string {v} has quotes or backslashes inside"));
        }
        return Ok(Value::Text(inner.to_string()));
    }
    if let Some(inner) = v.strip_prefix('\'') {
        let inner = inner
            .strip_suffix('\'')
            .ok_or_else(|| format!("the string {v} has no closing quote"))?;
        return Ok(Value::Text(inner.to_string()));
    }
    if v.is_empty() {
        return Err("a value is missing after '='".into());
    }
    if v.contains(char::is_whitespace) {
        return Err(format!("put the value {v} in double quotes"));
    }
    Ok(Value::Text(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(data: &str) -> RawSettings {
        RawSettings { data: Some(data.into()), ..Default::default() }
    }

    #[test]
    fn defaults_are_a_lone_node_one() {
        let s = raw("d").check().unwrap();
        assert_eq!((s.id, s.region.as_str()), (1, "primary"));
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert!(s.peers.is_empty() && s.join.is_none() && s.advertise.is_none());
        let e = RawSettings::default().check().unwrap_err().to_string();
        assert!(e.starts_with("InvalidArgument: a data directory is required"), "{e}");
    }

    #[test]
    fn peers_parse_and_are_checked() {
        let p = parse_peers("2=http://127.0.1.2:7001, 1=127.0.1.1:7001,3=http://127.0.1.3:7001/")
            .unwrap();
        assert_eq!(
            p,
            vec![
                (1, "http://127.0.1.1:7001".to_string()),
                (2, "http://127.0.1.2:7001".to_string()),
                (3, "http://127.0.1.3:7001".to_string())
            ]
        );
        let err = |s: &str| parse_peers(s).unwrap_err().to_string();
        assert!(err("1=http://a:1,2http://b:2").contains("'2http://b:2' is not ID=URL"));
        assert!(err("x=http://a:1").contains("'x' is not a node id"));
        assert!(err("0=http://a:1").contains("node ids start at 1"));
        assert!(err("1=").contains("has no URL"));
        assert!(err("1=http://a:1,1=http://b:1").contains("names node 1 twice"));
        assert!(err("1=http://a:1,2=http://a:1").contains("the same URL"));
        assert!(err("1=http://a").contains("needs a host and a port"));
        assert!(err("1=ftp://a:1").contains("is not an http:// URL"));
    }

    #[test]
    fn settings_are_checked_together() {
        let peers = "1=http://127.0.1.1:7001,2=http://127.0.1.2:7001,3=http://127.0.1.3:7001";
        let mut r = raw("d");
        r.id = Some(2);
        r.listen = Some("127.0.1.2:7001".into());
        r.peers = Some(peers.into());
        let s = r.clone().check().unwrap();
        assert_eq!(s.advertise.as_deref(), Some("http://127.0.1.2:7001"));
        assert_eq!(s.peers.len(), 3);

        let mut missing = r.clone();
        missing.id = Some(4);
        let e = missing.check().unwrap_err().to_string();
        assert!(e.contains("--peers must include this node (--id 4)"), "{e}");

        let mut both = r.clone();
        both.join = Some("http://127.0.1.1:7001".into());
        assert!(both.check().unwrap_err().to_string().contains("not both"));

        let mut other = r.clone();
        other.advertise = Some("http://127.0.1.9:7001".into());
        assert!(other.check().unwrap_err().to_string().contains("differs"));

        let mut zero = r.clone();
        zero.listen = Some("127.0.1.2:0".into());
        assert!(zero.check().unwrap_err().to_string().contains("port 0"));

        let mut bad = r;
        bad.listen = Some("nowhere".into());
        assert!(bad.check().unwrap_err().to_string().contains("--listen 'nowhere'"));
        let mut id0 = raw("d");
        id0.id = Some(0);
        assert!(id0.check().is_err());
    }

    #[test]
    fn dr_flags_make_a_standby_or_a_primary_with_its_pair() {
        let primary = "http://127.0.1.1:7001,127.0.1.2:7001";
        let mut r = raw("d");
        r.standby_of = Some(primary.into());
        let s = r.clone().check().unwrap();
        assert_eq!(s.role, Role::Standby);
        assert_eq!(s.region, "standby", "a standby's region is named standby by default");
        let peer = s.peer.unwrap();
        assert_eq!(peer.name, "primary");
        assert_eq!(peer.endpoints, vec!["http://127.0.1.1:7001", "http://127.0.1.2:7001"]);
        r.region = Some("east".into());
        r.peer_region = Some("west".into());
        let s = r.clone().check().unwrap();
        assert_eq!((s.region.as_str(), s.peer.unwrap().name.as_str()), ("east", "west"));

        let mut p = raw("d");
        p.standby = Some("http://127.0.2.1:7001, http://127.0.2.1:7001".into());
        let s = p.clone().check().unwrap();
        assert_eq!(s.role, Role::Primary);
        assert_eq!(s.region, "primary");
        let peer = s.peer.unwrap();
        assert_eq!((peer.name.as_str(), peer.endpoints.len()), ("standby", 1));
        // No DR flags: a primary with no pair.
        let s = raw("d").check().unwrap();
        assert_eq!((s.role, s.peer), (Role::Primary, None));

        let err = |r: RawSettings| r.check().unwrap_err().to_string();
        let mut both = p.clone();
        both.standby_of = Some(primary.into());
        assert!(err(both).contains("not both"));
        let mut lone = raw("d");
        lone.peer_region = Some("east".into());
        assert!(err(lone).contains("--peer-region east names the other region"));
        let mut same = p.clone();
        same.peer_region = Some("primary".into());
        assert!(err(same).contains("own region"));
        let mut empty = raw("d");
        empty.standby_of = Some(" , ".into());
        assert!(err(empty).contains("--standby-of needs at least one URL"));
        let mut bad = raw("d");
        bad.standby = Some("http://127.0.2.1".into());
        assert!(err(bad).contains("--standby: 'http://127.0.2.1' needs a host and a port"));
        let mut badname = p.clone();
        badname.peer_region = Some("a b".into());
        assert!(err(badname).contains("--peer-region 'a b'"));
        // The other region's list cannot hold this region's own members.
        let mut own = p;
        own.id = Some(1);
        own.listen = Some("127.0.1.1:7001".into());
        own.peers = Some("1=http://127.0.1.1:7001".into());
        own.standby = Some("http://127.0.1.1:7001".into());
        assert!(err(own).contains("is a member of this region"));
    }

    #[test]
    fn dr_keys_in_config_files() {
        let text = r#"
            standby_of = ["http://127.0.1.1:7001", "http://127.0.1.2:7001"]
            peer-region = "west"
        "#;
        let file = parse(text).unwrap();
        assert_eq!(file.standby_of.as_deref(), Some("http://127.0.1.1:7001,http://127.0.1.2:7001"));
        assert_eq!(file.peer_region.as_deref(), Some("west"));
        let file = parse("standby = \"http://127.0.2.1:7001,http://127.0.2.2:7001\"").unwrap();
        assert_eq!(file.standby.as_deref(), Some("http://127.0.2.1:7001,http://127.0.2.2:7001"));
        // A flag wins over the file.
        let flags = RawSettings { peer_region: Some("east".into()), ..Default::default() };
        assert_eq!(flags.or(parse(text).unwrap()).peer_region.as_deref(), Some("east"));
    }

    #[test]
    fn config_files_parse_and_flags_win() {
        let text = r#"
            # a node
            id = 2
            region = "primary"   # the region
            data = 'node2'
            listen = 127.0.1.2:7001
            peers = ["1=http://127.0.1.1:7001", "2=http://127.0.1.2:7001"]
            cache-mb = 32
            snapshot_logs = 5000
        "#;
        let file = parse(text).unwrap();
        assert_eq!(file.id, Some(2));
        assert_eq!(file.region.as_deref(), Some("primary"));
        assert_eq!(file.data, Some(PathBuf::from("node2")));
        assert_eq!(file.cache_mb, Some(32));
        assert_eq!(file.snapshot_logs, Some(5000));
        assert_eq!(file.peers.as_deref(), Some("1=http://127.0.1.1:7001,2=http://127.0.1.2:7001"));
        let flags = RawSettings { id: Some(1), ..Default::default() };
        let merged = flags.or(file);
        assert_eq!(merged.id, Some(1));
        assert_eq!(merged.listen.as_deref(), Some("127.0.1.2:7001"));

        let err = |t: &str| parse(t).unwrap_err();
        assert_eq!(err("id = 1\nport = 3").0, 2);
        assert!(err("port = 3").1.contains("unknown key 'port'"));
        assert!(err("id = one").1.contains("whole number"));
        assert!(err("just words").1.contains("expected key = value"));
        assert!(err("[node]").1.contains("sections"));
        assert!(err("peers = [\"1=a\"").1.contains("closing ']'"));
        assert!(err("region = \"x").1.contains("closing quote"));
        assert!(err("region = a b").1.contains("double quotes"));
        assert!(err("id = [1]").1.contains("not a list"));
    }

    #[test]
    fn relative_data_in_a_file_is_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.toml");
        std::fs::write(&path, "data = \"node1\"\n").unwrap();
        assert_eq!(read_file(&path).unwrap().data, Some(dir.path().join("node1")));
        std::fs::write(&path, "data = \"/abs/node1\"\n").unwrap();
        assert_eq!(read_file(&path).unwrap().data, Some(PathBuf::from("/abs/node1")));
        let e = read_file(&dir.path().join("none.toml")).unwrap_err().to_string();
        assert!(e.contains("cannot read the config file"), "{e}");
    }
}
