//! The endpoints a client talks to, each with a channel opened on first use.
//!
//! Channels are created lazily (`connect_lazy`) the first time an endpoint is tried, inside the
//! caller's tokio runtime, so building a [`Client`](super::Client) needs neither a runtime nor a
//! reachable node. The pool remembers the endpoint that answered last and starts there.

use super::error::ClientError;
use crate::error::ErrorCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

struct Slot {
    url: String,
    endpoint: Endpoint,
    channel: OnceLock<Channel>,
}

/// The endpoints of a client.
pub(super) struct Pool {
    slots: Vec<Slot>,
    preferred: AtomicUsize,
}

impl Pool {
    /// Parses the endpoint URLs; a bare `host:port` is taken as `http://host:port`.
    pub(super) fn new<I, S>(urls: I) -> Result<Pool, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut slots = Vec::new();
        for url in urls {
            let url = url.as_ref().trim();
            if url.is_empty() {
                continue;
            }
            let url = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| {
                    ClientError::local(
                        ErrorCode::InvalidArgument,
                        format!("'{url}' is not a valid endpoint URL: {e}"),
                    )
                })?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true);
            slots.push(Slot { url, endpoint, channel: OnceLock::new() });
        }
        if slots.is_empty() {
            return Err(ClientError::local(
                ErrorCode::InvalidArgument,
                "no endpoint given (e.g. http://127.0.0.1:7000)",
            ));
        }
        Ok(Pool { slots, preferred: AtomicUsize::new(0) })
    }

    /// The endpoint URLs, in order.
    pub(super) fn urls(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.url.clone()).collect()
    }

    /// The index of the endpoint to try first.
    pub(super) fn preferred(&self) -> usize {
        self.preferred.load(Ordering::Relaxed) % self.slots.len()
    }

    /// Remembers the endpoint that answered.
    pub(super) fn set_preferred(&self, index: usize) {
        self.preferred.store(index, Ordering::Relaxed);
    }

    /// The endpoint after `index`, wrapping around.
    pub(super) fn next_index(&self, index: usize) -> usize {
        (index + 1) % self.slots.len()
    }

    /// The URL and channel of endpoint `index`; must be called inside a tokio runtime.
    pub(super) fn channel(&self, index: usize) -> (&str, Channel) {
        let slot = &self.slots[index % self.slots.len()];
        let channel = slot.channel.get_or_init(|| slot.endpoint.connect_lazy()).clone();
        (&slot.url, channel)
    }
}

/// A client id that is very likely unique: the standard library's randomly keyed hasher fed with
/// the time, the process id and a per-process counter.
pub(super) fn random_client_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!("c-{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_bare_addresses() {
        let p = Pool::new(["http://127.0.0.1:7000", " 127.0.0.1:7001 ", ""]).unwrap();
        assert_eq!(p.urls(), vec!["http://127.0.0.1:7000", "http://127.0.0.1:7001"]);
        assert_eq!(p.next_index(1), 0);
        assert!(Pool::new(Vec::<String>::new()).is_err());
    }

    #[test]
    fn client_ids_differ() {
        assert_ne!(random_client_id(), random_client_id());
    }
}
