//! The query engine: runs a query and serves its result page by page.
//!
//! sled has no snapshots, so a continuation token cannot mean "resume the scan at the same point
//! in time". Instead the first request runs the query to completion (within the limits of
//! [`super::exec`]), returns the first page, and keeps the rest in a *cursor*: an in-memory
//! copy of the remaining rows, keyed by a random id. The token names the cursor and the offset of
//! the next page, so every page comes from the same result (the same "snapshot position", reported
//! as the applied index the query started at), and asking for the same page twice (a retry) gives
//! the same rows. A cursor is dropped when its last page is served, after [`CURSOR_TTL`] without
//! use, or, least recently used first, when the cursors would hold more than
//! [`MAX_CURSOR_BYTES`] or number more than [`MAX_CURSORS`]. A token for a cursor that is gone —
//! expired, evicted, or issued by another node or an earlier run of this one — is refused with
//! `BadRequest`, and the client runs the query again.
//!
//! Each page reports its own cost: the first the entries the query read and a charge for that work
//! and the bytes it returns; later pages read nothing from the store and are charged for their bytes
//! only. The charge is `1 + 0.1 × entries read + 0.1 × KiB returned` (a relative figure in the
//! spirit of ADT's query units, not the same numbers).

use super::exec::{self, Outcome};
use super::{parser, planner};
use crate::err;
use crate::error::Result;
use crate::storage::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default and largest page size.
pub const MAX_PAGE_SIZE: usize = 1000;
/// How long a query may run (ADT's limit).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an unused cursor is kept.
pub const CURSOR_TTL: Duration = Duration::from_secs(5 * 60);
/// The most cursors kept at once.
pub const MAX_CURSORS: usize = 256;
/// The most bytes of rows all cursors may hold together.
pub const MAX_CURSOR_BYTES: usize = 512 << 20;

/// One request: a query, or the next page of one.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The query text (may be empty when a token is given; otherwise it must be the same query).
    pub query: &'a str,
    /// The most rows to return (0: the default, [`MAX_PAGE_SIZE`]).
    pub page_size: usize,
    /// The continuation token of the previous page.
    pub token: Option<&'a str>,
    /// How long the query may run.
    pub timeout: Duration,
}

impl<'a> Request<'a> {
    /// The first page of `query`, with the default page size and timeout.
    pub fn new(query: &'a str) -> Request<'a> {
        Request { query, page_size: 0, token: None, timeout: QUERY_TIMEOUT }
    }
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The rows, as JSON text.
    pub rows: Vec<String>,
    /// The token for the next page; `None` on the last page.
    pub token: Option<String>,
    /// This page's cost.
    pub charge: f64,
    /// Entries read from the store for this page.
    pub rows_scanned: u64,
    /// The applied index the query started at.
    pub applied_index: u64,
}

struct Cursor {
    query: String,
    rows: Vec<String>,
    bytes: usize,
    applied_index: u64,
    last_used: Instant,
}

/// Runs queries and keeps their cursors. One per node.
#[derive(Default)]
pub struct Engine {
    cursors: Mutex<HashMap<u128, Cursor>>,
    next: AtomicU64,
}

/// The charge of a piece of work (see the module documentation).
pub fn charge(scanned: u64, bytes: usize) -> f64 {
    let c = 1.0 + 0.1 * scanned as f64 + 0.1 * (bytes as f64 / 1024.0);
    (c * 100.0).round() / 100.0
}

/// Parses, plans and runs a query to completion (no paging).
pub fn run(store: &Store, query: &str, deadline: Instant, cancel: &AtomicBool) -> Result<Outcome> {
    let ast = parser::parse(query)?;
    let plan = planner::plan(store, &ast)?;
    exec::execute(store, &plan, deadline, cancel)
}

impl Engine {
    /// A new engine with no cursors.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Serves a request. `cancel` stops the query when set (the client went away).
    pub fn query(&self, store: &Store, req: &Request, cancel: &AtomicBool) -> Result<Page> {
        let size = match req.page_size {
            0 => MAX_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        if let Some(token) = req.token {
            return self.next_page(token, req.query, size);
        }
        let applied_index = store.applied_index();
        let deadline = Instant::now() + req.timeout;
        let outcome = run(store, req.query, deadline, cancel)?;
        let charge = charge(outcome.scanned, page_bytes(&outcome.rows, size));
        let mut rows = outcome.rows;
        if rows.len() <= size {
            return Ok(Page {
                rows,
                token: None,
                charge,
                rows_scanned: outcome.scanned,
                applied_index,
            });
        }
        let first: Vec<String> = rows.drain(..size).collect();
        let id = self.random_id();
        let bytes = rows.iter().map(String::len).sum();
        let cursor = Cursor {
            query: req.query.to_string(),
            rows,
            bytes,
            applied_index,
            last_used: Instant::now(),
        };
        self.keep(id, cursor);
        Ok(Page {
            rows: first,
            token: Some(token_text(id, 0)),
            charge,
            rows_scanned: outcome.scanned,
            applied_index,
        })
    }

    /// How many cursors are held (for tests and metrics).
    pub fn cursor_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Cursor>> {
        self.cursors.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, id: u128, cursor: Cursor) {
        let mut cursors = self.lock();
        let now = Instant::now();
        cursors.retain(|_, c| now.duration_since(c.last_used) < CURSOR_TTL);
        let mut total: usize = cursors.values().map(|c| c.bytes).sum();
        while !cursors.is_empty()
            && (cursors.len() >= MAX_CURSORS || total + cursor.bytes > MAX_CURSOR_BYTES)
        {
            let oldest = cursors.iter().min_by_key(|(_, c)| c.last_used).map(|(k, _)| *k);
            if let Some(k) = oldest
                && let Some(c) = cursors.remove(&k)
            {
                total -= c.bytes;
            }
        }
        cursors.insert(id, cursor);
    }

    fn next_page(&self, token: &str, query: &str, size: usize) -> Result<Page> {
        let (id, offset) = parse_token(token).ok_or_else(|| {
            err!(BadRequest, "the continuation token is not one this service issued")
        })?;
        let mut cursors = self.lock();
        let now = Instant::now();
        cursors.retain(|_, c| now.duration_since(c.last_used) < CURSOR_TTL);
        let Some(cursor) = cursors.get_mut(&id) else {
            return Err(err!(
                BadRequest,
                "the continuation token has expired or is unknown to this node (results are kept {} minutes \
                 after their last page is read, on the node that ran the query); run the query again",
                CURSOR_TTL.as_secs() / 60
            ));
        };
        if !query.is_empty() && query != cursor.query {
            return Err(err!(BadRequest, "the continuation token belongs to a different query"));
        }
        // `offset` counts rows after the first page.
        if offset > cursor.rows.len() {
            return Err(err!(
                BadRequest,
                "the continuation token points past the end of the result"
            ));
        }
        let end = (offset + size).min(cursor.rows.len());
        let rows: Vec<String> = cursor.rows[offset..end].to_vec();
        let applied_index = cursor.applied_index;
        let bytes: usize = rows.iter().map(String::len).sum();
        let token = if end < cursor.rows.len() {
            cursor.last_used = now;
            Some(token_text(id, end))
        } else {
            cursors.remove(&id);
            None
        };
        Ok(Page { rows, token, charge: charge(0, bytes), rows_scanned: 0, applied_index })
    }

    /// A cursor id no one can guess: SipHash with the process's random keys over a counter and
    /// the time (std has no random source; this is what `HashMap` seeds itself with).
    fn random_id(&self) -> u128 {
        use std::hash::{BuildHasher, Hasher};
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let half = |salt: u64| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u128(nanos);
            h.write_u64(salt);
            h.finish() as u128
        };
        (half(1) << 64) | half(2)
    }
}

fn page_bytes(rows: &[String], size: usize) -> usize {
    rows.iter().take(size).map(String::len).sum()
}

const TOKEN_PREFIX: &str = "q1-";

fn token_text(id: u128, offset: usize) -> String {
    format!("{TOKEN_PREFIX}{id:032x}-{offset:x}")
}

fn parse_token(token: &str) -> Option<(u128, usize)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, offset) = rest.split_once('-')?;
    if id.len() != 32 {
        return None;
    }
    Some((u128::from_str_radix(id, 16).ok()?, usize::from_str_radix(offset, 16).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fixture::Fixture;
    use serde_json::json;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let t = token_text(0xabc, 1000);
        assert_eq!(parse_token(&t), Some((0xabc, 1000)));
        for bad in ["", "q1-", "q1-xyz-1", "abc", "q1-00000000000000000000000000000abc", "q2-0-0"] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn charge_grows_with_work_and_bytes() {
        assert_eq!(charge(0, 0), 1.0);
        assert_eq!(charge(10, 0), 2.0);
        assert_eq!(charge(0, 10 * 1024), 2.0);
    }

    fn page(
        e: &Engine,
        f: &Fixture,
        query: &str,
        size: usize,
        token: Option<&str>,
    ) -> Result<Page> {
        let req = Request { query, page_size: size, token, timeout: QUERY_TIMEOUT };
        e.query(&f.store, &req, &AtomicBool::new(false))
    }

    fn ids(p: &Page) -> Vec<String> {
        p.rows
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap()["id"].to_string())
            .collect()
    }

    #[test]
    fn pages_come_from_one_result() {
        let mut f = Fixture::new();
        let e = Engine::new();
        let q = "SELECT T.$dtId AS id FROM DIGITALTWINS T";
        let first = page(&e, &f, q, 5, None).unwrap();
        assert_eq!(first.rows.len(), 5);
        assert_eq!(first.rows_scanned, 13);
        assert_eq!(first.applied_index, f.store.applied_index());
        let t1 = first.token.clone().unwrap();
        // A write after the first page does not change the pages that follow.
        f.put_twin("aaa", json!({"$metadata": {"$model": "dtmi:example:Sensor;1"}}));
        let second = page(&e, &f, q, 5, Some(&t1)).unwrap();
        assert_eq!((second.rows.len(), second.rows_scanned), (5, 0));
        assert_eq!(second.applied_index, first.applied_index);
        // Asking for the same page again (a retry) gives the same rows.
        assert_eq!(page(&e, &f, "", 5, Some(&t1)).unwrap(), second);
        let third = page(&e, &f, q, 5, second.token.as_deref()).unwrap();
        assert_eq!((third.rows.len(), &third.token), (3, &None));
        let mut all = ids(&first);
        all.extend(ids(&second));
        all.extend(ids(&third));
        assert_eq!(all.len(), 13);
        assert!(!all.contains(&"\"aaa\"".to_string()));
        assert_eq!(e.cursor_count(), 0, "the last page frees the cursor");
        // The cursor is gone now; a new run sees the write (read-your-writes).
        let err = page(&e, &f, q, 5, Some(&t1)).unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::BadRequest);
        assert!(
            err.message.starts_with("the continuation token has expired or is unknown"),
            "{err}"
        );
        let again = page(&e, &f, q, 0, None).unwrap();
        assert_eq!((again.rows.len(), again.token), (14, None));
        assert!(again.rows[0].contains("\"aaa\""));
    }

    #[test]
    fn bad_tokens_are_bad_requests() {
        let f = Fixture::new();
        let e = Engine::new();
        let q = "SELECT * FROM DIGITALTWINS";
        let first = page(&e, &f, q, 2, None).unwrap();
        let token = first.token.unwrap();
        let err = page(&e, &f, "SELECT * FROM RELATIONSHIPS", 2, Some(&token)).unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::BadRequest);
        assert_eq!(err.message, "the continuation token belongs to a different query");
        let err = page(&e, &f, q, 2, Some("garbage")).unwrap_err();
        assert_eq!(err.message, "the continuation token is not one this service issued");
        let other = Engine::new();
        let err = page(&other, &f, q, 2, Some(&token)).unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::BadRequest);
        // Page sizes above the largest are capped; 0 is the default.
        assert_eq!(page(&e, &f, q, 5000, None).unwrap().rows.len(), 13);
        // Charges: the first page carries the work.
        let p = page(&e, &f, "SELECT COUNT() FROM DIGITALTWINS", 0, None).unwrap();
        assert_eq!(p.rows, ["{\"COUNT\":13}"]);
        assert_eq!(p.charge, charge(13, p.rows[0].len()));
    }

    #[test]
    fn cursors_are_bounded() {
        let f = Fixture::new();
        let e = Engine::new();
        let mut tokens = Vec::new();
        for _ in 0..MAX_CURSORS + 3 {
            tokens
                .push(page(&e, &f, "SELECT * FROM DIGITALTWINS", 1, None).unwrap().token.unwrap());
        }
        assert_eq!(e.cursor_count(), MAX_CURSORS);
        // The least recently used went first.
        assert!(page(&e, &f, "", 1, Some(&tokens[0])).is_err());
        assert!(page(&e, &f, "", 1, Some(tokens.last().unwrap())).is_ok());
    }

    #[test]
    fn ids_differ() {
        let e = Engine::new();
        let a = e.random_id();
        let b = e.random_id();
        assert_ne!(a, b);
        assert_ne!(a >> 64, a & u64::MAX as u128);
    }
}
