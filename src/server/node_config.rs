//! The checks of a [`NodeConfig`], in one place.
//!
//! Why here and not in the command line: a node can be configured by `twinstore node` (flags, a
//! TOML file, the environment; see `cli/settings.rs`) or built directly in Rust (the in-process
//! nodes of the integration tests, an embedding program). Both end in a `NodeConfig`, and
//! [`Node::start`](super::Node::start) calls [`NodeConfig::validate`] before it touches the disk,
//! so every way in gets the same checks and the same messages, and a mistake is refused before
//! anything is created rather than found later as a node that cannot join or a region that never
//! forms. The command line only parses text into a `NodeConfig` (what a `--peers` entry looks
//! like, that `--listen` is an address) and calls the same function.
//!
//! The messages name the settings by their key in the config file (`peers`, `min_free_mb`);
//! `twinstore node` takes each as a flag spelled with dashes (`--min-free-mb`) too.

use super::NodeConfig;
use crate::client::normalize_url;
use crate::raft;
use crate::storage::dr::Role;
use std::time::Duration;

/// A setting that is wrong, or settings that do not fit together; the message says which and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// The longest WAN delay fault injection may add (longer is a typo, not a WAN).
const MAX_WAN_DELAY: Duration = Duration::from_secs(60);

impl NodeConfig {
    /// Checks every setting and how they fit together. [`Node::start`](super::Node::start) calls
    /// it first; the command line calls it before it creates the data directory.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return bad("id: node ids start at 1");
        }
        check_region(&self.region, "region")?;
        if self.data_dir.as_os_str().is_empty() {
            return bad("data: no data directory given");
        }
        let advertise = self.advertise.as_deref().map(|a| check_url(a, "advertise")).transpose()?;
        let peers = check_peers(&self.peers)?;
        let join = self.join.as_deref().map(|j| check_url(j, "join")).transpose()?;
        if !peers.is_empty() && join.is_some() {
            return bad("give peers to form a new region or join to join a running one, not both");
        }
        if !peers.is_empty() {
            let Some((_, own)) = peers.iter().find(|(i, _)| *i == self.id) else {
                let ids: Vec<String> = peers.iter().map(|(i, _)| i.to_string()).collect();
                return bad(format!(
                    "peers must include this node (id {}); it names nodes {}",
                    self.id,
                    ids.join(", ")
                ));
            };
            if let Some(a) = advertise.as_ref().filter(|a| *a != own) {
                return bad(format!(
                    "advertise {a} differs from this node's peers entry {}={own}",
                    self.id
                ));
            }
            if self.listen.port() == 0 {
                return bad(
                    "listen with port 0 cannot be used with peers: the peers need this node's \
                     address in advance",
                );
            }
        }
        if advertise.is_none() && self.listen.ip().is_unspecified() && join.is_some() {
            return bad(format!(
                "listen {} is not an address other nodes can dial: give advertise URL",
                self.listen
            ));
        }
        self.check_dr(&peers, advertise.as_ref())?;
        self.check_transport(&peers, advertise.as_ref(), join.as_ref())?;
        self.check_auth(&peers, join.as_ref())?;
        // The reserve is what the node still writes after it refuses writes: the raft log's
        // current and next (preallocated) segments, snapshots, the sled database catching up. A
        // smaller one lets the log run out of space first, and a failed log write stops the node.
        let least = 2 * raft::SEGMENT_BYTES;
        if self.min_free_bytes < least {
            return bad(format!(
                "min_free_mb is {} MiB; it must be at least {} MiB (two raft log segments), or the \
                 log can run out of space before writes are refused",
                self.min_free_bytes >> 20,
                least >> 20
            ));
        }
        if self.snapshot_logs == 0 {
            return bad("snapshot_logs must be at least 1 (a raft snapshot every N log entries)");
        }
        if self.cache_capacity == 0 {
            return bad("cache_mb must be at least 1 (the storage page cache in MiB)");
        }
        if let Some(d) = &self.wan_delay
            && (d.base > MAX_WAN_DELAY || d.jitter > d.base)
        {
            return bad(format!(
                "fault_wan_delay_ms {} fault_wan_jitter_ms {}: the delay must be at most {} ms \
                 and the jitter at most the delay",
                d.base.as_millis(),
                d.jitter.as_millis(),
                MAX_WAN_DELAY.as_millis()
            ));
        }
        Ok(())
    }

    /// The DR settings: a standby names the primary it follows; the other region has another
    /// name, at least one URL, and none of this region's own members.
    fn check_dr(
        &self,
        peers: &[(u64, String)],
        advertise: Option<&String>,
    ) -> Result<(), ConfigError> {
        let Some(peer) = &self.peer else {
            if self.role == Role::Standby {
                return bad("a standby region needs the primary region it follows (standby_of)");
            }
            return Ok(());
        };
        let key = if self.role == Role::Standby { "standby_of" } else { "standby" };
        check_region(&peer.name, "peer_region")?;
        if peer.name == self.region {
            return bad(format!(
                "peer_region {} is this node's own region: the two regions of a DR pair need \
                 different names (set region or peer_region)",
                peer.name
            ));
        }
        if peer.endpoints.is_empty() {
            return bad(format!(
                "{key} needs at least one URL of the other region (e.g. http://127.0.1.1:7001)"
            ));
        }
        let own: Vec<&String> = peers.iter().map(|(_, u)| u).chain(advertise).collect();
        for url in &peer.endpoints {
            let url = check_url(url, key)?;
            if own.contains(&&url) {
                return bad(format!(
                    "{url} is a member of this region (peers / advertise), so it cannot be in \
                     the other region's list ({key})"
                ));
            }
        }
        Ok(())
    }
}

impl NodeConfig {
    /// TLS or plaintext, consistently: with TLS every URL of a node of the deployment is
    /// `https://`, without it `http://`; and plaintext is served off loopback only when asked for
    /// by name (`insecure`), because anyone who reaches the port could read and write every twin
    /// and speak raft to the node.
    fn check_transport(
        &self,
        peers: &[(u64, String)],
        advertise: Option<&String>,
        join: Option<&String>,
    ) -> Result<(), ConfigError> {
        let dr: Vec<String> =
            self.peer.iter().flat_map(|p| p.endpoints.iter().map(|u| normalize_url(u))).collect();
        let urls = peers.iter().map(|(_, u)| u).chain(advertise).chain(join).chain(&dr);
        let (want, have) = if self.tls.is_some() { ("https", "http") } else { ("http", "https") };
        if let Some(url) = urls.clone().find(|u| u.starts_with(&format!("{have}://"))) {
            return bad(if self.tls.is_some() {
                format!(
                    "{url} is plaintext, but this node uses TLS (tls_ca, tls_cert, tls_key): \
                     give every node's URL as {want}://"
                )
            } else {
                format!(
                    "{url} is a TLS URL, but this node has no TLS settings: give tls_ca, tls_cert \
                     and tls_key, or {want}:// URLs"
                )
            });
        }
        if self.tls.is_none() && !self.insecure {
            let http = self.http.iter().copied();
            if let Some(addr) =
                std::iter::once(self.listen).chain(http).find(|a| !a.ip().is_loopback())
            {
                return bad(format!(
                    "{addr} is not a loopback address, and plaintext off loopback lets anyone who \
                     reaches it read and write every twin: give TLS settings (tls_ca, tls_cert, \
                     tls_key), or insecure = true (--insecure) to serve plaintext anyway"
                ));
            }
        }
        if self.tls.is_some() && self.insecure {
            return bad("insecure is for serving without TLS; this node has TLS settings");
        }
        Ok(())
    }

    /// Auth: the keys must load, and a node with others to talk to needs TLS. Nodes call each
    /// other (raft, forwarded writes, DR shipping, health probes) without tokens, and with auth on
    /// such calls are refused unless the caller is identified as a node — by its certificate,
    /// over mutual TLS. So auth with peers, join or a DR pair but no TLS would be a region that
    /// cannot work.
    fn check_auth(
        &self,
        peers: &[(u64, String)],
        join: Option<&String>,
    ) -> Result<(), ConfigError> {
        let Some(auth) = &self.auth else { return Ok(()) };
        if auth.keys.is_empty() {
            return bad("token_key: auth needs at least one public key file to verify tokens with");
        }
        auth.verifier().map_err(ConfigError)?;
        if (peers.len() > 1 || join.is_some() || self.peer.is_some()) && self.tls.is_none() {
            return bad(
                "token_key (client authentication) with other nodes (peers, join, standby / \
                 standby_of) needs TLS: the nodes authenticate each other with their \
                 certificates; give tls_ca, tls_cert and tls_key",
            );
        }
        Ok(())
    }
}

/// The peers with their URLs normalized: ids from 1, each id and each URL once.
fn check_peers(peers: &[(u64, String)]) -> Result<Vec<(u64, String)>, ConfigError> {
    let mut checked: Vec<(u64, String)> = Vec::with_capacity(peers.len());
    for (id, url) in peers {
        if *id == 0 {
            return bad(format!("peers entry {id}={url}: node ids start at 1"));
        }
        let url = check_url(url, &format!("peers entry {id}"))?;
        if checked.iter().any(|(i, _)| i == id) {
            return bad(format!("peers names node {id} twice"));
        }
        if let Some((other, _)) = checked.iter().find(|(_, u)| *u == url) {
            return bad(format!("peers gives nodes {other} and {id} the same URL {url}"));
        }
        checked.push((*id, url));
    }
    Ok(checked)
}

/// A URL other nodes can dial: `http(s)://host:port`, a bare `host:port` taken as http. Returns
/// it normalized (as the client and the peers compare URLs).
pub(crate) fn check_url(url: &str, what: &str) -> Result<String, ConfigError> {
    let url = normalize_url(url);
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return bad(format!("{what}: '{url}' is not an http:// URL"));
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let port_ok = host_port
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        return bad(format!("{what}: '{url}' needs a host and a port (http://HOST:PORT)"));
    }
    Ok(url)
}

/// A region name: letters, digits, `-` and `_`.
fn check_region(name: &str, what: &str) -> Result<(), ConfigError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return bad(format!("{what} '{name}': use letters, digits, '-' and '_' only"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "node_config_tests.rs"]
mod tests;
