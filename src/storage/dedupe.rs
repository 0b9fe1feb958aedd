//! The dedupe table: exactly-once answers for retried writes.
//!
//! A write that carries a client id and request number is remembered with its outcome; applying
//! the same pair again returns the remembered outcome and changes nothing. This is what makes a
//! client's retry after a timeout or a leader change safe.
//!
//! The table is bounded, and its eviction is deterministic so every replica holds the same table:
//! it is driven only by the times carried in commands. An entry older than [`DEDUPE_WINDOW`] (by
//! the applying command's time) is evicted, at most [`EVICT_PER_APPLY`] per command, and the
//! oldest entries go first whenever the table holds more than [`DEDUPE_MAX_ENTRIES`]. A retry that
//! arrives after its entry was evicted is applied again, so clients must give up retrying well
//! within the window (the client library's total retry budget is seconds, the window minutes).

use super::apply::Writes;
use super::command::{Op, Outcome, Reply, RequestId};
use super::keys::{Key, Reader, Space, meta};
use super::store::{Store, corrupt};
use super::{StorageError, codec};
use crate::err;
use crate::error::Error;
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// How long an answer is remembered, by command time.
pub const DEDUPE_WINDOW_NANOS: u64 = 10 * 60 * 1_000_000_000;
/// The same, for documentation.
pub const DEDUPE_WINDOW: std::time::Duration = std::time::Duration::from_nanos(DEDUPE_WINDOW_NANOS);
/// The most answers remembered.
pub const DEDUPE_MAX_ENTRIES: u64 = 100_000;
/// The most expired entries one command evicts (keeps apply's cost bounded).
pub const EVICT_PER_APPLY: usize = 8;

#[derive(Serialize, Deserialize)]
struct DedupeRecord {
    time: Timestamp,
    outcome: Result<Answer, Error>,
}

/// What a retry needs to be answered, and no more: the table is in every snapshot and sized by
/// the write rate, so it must not hold documents (a table of whole replies was 87 MB for 1 MB of
/// live data). Errors are small and kept whole.
#[derive(Serialize, Deserialize)]
enum Answer {
    /// The write stored its twin or relationship with this ETag; a retry is answered with the
    /// entity as stored now (see [`Store::dedupe_get`]).
    Stored { etag: String },
    /// Any other reply (deleted, model replies — small or rare), whole.
    Whole(Reply),
}

impl Answer {
    fn of(reply: &Reply) -> Answer {
        match reply {
            Reply::Twin { etag, .. } | Reply::Relationship { etag, .. } => {
                Answer::Stored { etag: etag.clone() }
            }
            other => Answer::Whole(other.clone()),
        }
    }
}

fn record_key(req: &RequestId) -> Vec<u8> {
    Key::new(Space::Dedupe).s(&req.client).u(req.seq).into_bytes()
}

fn age_key(time: Timestamp, client: &str, seq: u64) -> Vec<u8> {
    Key::new(Space::DedupeAge).u(time.0).s(client).u(seq).into_bytes()
}

fn count_key() -> Vec<u8> {
    Key::new(Space::DataMeta).s(meta::DEDUPE_COUNT).into_bytes()
}

impl Store {
    /// The remembered outcome of request `req`, which was `op`, if any.
    ///
    /// A write that stored an entity is answered with the entity as it is now. That is its first
    /// answer while nothing has changed it since — the case of a retry after a lost answer. If
    /// another write has changed it since, the retry gets it as it is now, with its current ETag
    /// (a consistent pair, as if read after the write); if it was deleted since, `NotFound` says
    /// so. The answer depends only on the state, so every replica gives the same one.
    pub(super) fn dedupe_get(
        &self,
        w: &Writes,
        req: &RequestId,
        op: &Op,
    ) -> Result<Option<Outcome>, StorageError> {
        let Some(v) = w.get(record_key(req))? else { return Ok(None) };
        let answer = match codec::decode::<DedupeRecord>(&v)?.outcome {
            Err(e) => Err(e),
            Ok(Answer::Whole(reply)) => Ok(reply),
            Ok(Answer::Stored { etag }) => self.stored_now(w, op, etag)?,
        };
        Ok(Some(answer))
    }

    /// The entity `op` stored, as it is now (see [`Store::dedupe_get`]).
    fn stored_now(&self, w: &Writes, op: &Op, etag: String) -> Result<Outcome, StorageError> {
        let step = |r: super::apply::Step<Option<serde_json::Value>>| match r {
            Ok(doc) => Ok(doc),
            Err(super::apply::Fail::Storage(e)) => Err(e),
            Err(super::apply::Fail::User(e)) => Err(StorageError::Corrupt(e.message)),
        };
        let now = |doc: serde_json::Value| {
            let etag = crate::model::twin::etag_of(&doc).map_or(etag, str::to_string);
            (doc.to_string(), etag)
        };
        match op {
            Op::PutTwin { id, .. } | Op::PatchTwin { id, .. } => {
                Ok(match step(self.read_twin(w, id))? {
                    Some(doc) => {
                        let (json, etag) = now(doc);
                        Ok(Reply::Twin { json, etag })
                    }
                    None => Err(err!(
                        DigitalTwinNotFound,
                        "this request was applied earlier, but twin '{id}' has been deleted since"
                    )),
                })
            }
            Op::PutRelationship { source, id, .. } | Op::PatchRelationship { source, id, .. } => {
                Ok(match step(self.read_relationship(w, source, id))? {
                    Some(doc) => {
                        let (json, etag) = now(doc);
                        Ok(Reply::Relationship { json, etag })
                    }
                    None => Err(err!(
                        RelationshipNotFound,
                        "this request was applied earlier, but relationship '{id}' of twin \
                         '{source}' has been deleted since"
                    )),
                })
            }
            other => Err(StorageError::Corrupt(format!(
                "the dedupe table remembers a stored entity for a {} write",
                other.name()
            ))),
        }
    }

    /// Remembers a request's outcome.
    pub(super) fn dedupe_put(
        &self,
        w: &mut Writes,
        req: &RequestId,
        time: Timestamp,
        outcome: &Outcome,
    ) -> Result<(), StorageError> {
        let record =
            DedupeRecord { time, outcome: outcome.as_ref().map(Answer::of).map_err(Clone::clone) };
        w.put(record_key(req), codec::encode(&record)?);
        let age = age_key(time, &req.client, req.seq);
        // An entry older than what was evicted here (a clock that stepped back): the next
        // eviction must walk from the start again to see it.
        if w.evicted_through.as_ref().is_some_and(|e| &age < e) {
            w.evicted_through = None;
        }
        w.put(age, Vec::new());
        let n = self.dedupe_count(w)?;
        w.put(count_key(), codec::encode(&(n + 1))?);
        Ok(())
    }

    pub(super) fn dedupe_count(&self, w: &Writes) -> Result<u64, StorageError> {
        match w.get(count_key())? {
            Some(v) => codec::decode(&v),
            None => Ok(0),
        }
    }

    /// Evicts expired entries (bounded work) and, past the size bound, the oldest.
    ///
    /// It sees the table as the writes sharing `w` have left it (a batch's members, or the
    /// entries of a batch shipped to a standby, are applied with one `w`): a standby that applies
    /// many of the primary's entries at once must evict exactly what the primary evicted entry by
    /// entry, entries added and evicted within the same `w` included.
    pub(super) fn dedupe_evict(&self, w: &mut Writes, now: Timestamp) -> Result<(), StorageError> {
        let mut count = self.dedupe_count(w)?;
        let from = match w.evicted_through.clone() {
            Some(k) => Bound::Excluded(k),
            None => Bound::Included(vec![Space::DedupeAge as u8]),
        };
        let mut doomed: Vec<(Vec<u8>, RequestId)> = Vec::new();
        let mut bad = false;
        w.walk_keys(from, vec![Space::DedupeAge as u8 + 1], |k| {
            let mut r = Reader::new(k, Space::DedupeAge);
            let Some((time, client, seq)) = r.as_mut().and_then(|r| Some((r.u()?, r.s()?, r.u()?)))
            else {
                bad = true;
                return false;
            };
            let expired = time.saturating_add(DEDUPE_WINDOW_NANOS) < now.0;
            let over = count > DEDUPE_MAX_ENTRIES;
            if !(over || expired && doomed.len() < EVICT_PER_APPLY) {
                return false;
            }
            doomed.push((k.to_vec(), RequestId { client, seq }));
            count -= 1;
            true
        })?;
        if bad {
            return Err(corrupt("dedupe age key"));
        }
        if doomed.is_empty() {
            return Ok(());
        }
        for (k, req) in &doomed {
            w.delete(k.clone());
            w.delete(record_key(req));
        }
        w.evicted_through = doomed.pop().map(|(k, _)| k);
        w.put(count_key(), codec::encode(&count)?);
        Ok(())
    }
}

impl Store {
    /// Whether the dedupe table still remembers request `req`, and if so whether it succeeded.
    pub fn remembered(&self, req: &RequestId) -> Result<Option<bool>, StorageError> {
        match self.graph.get(record_key(req))? {
            Some(v) => Ok(Some(codec::decode::<DedupeRecord>(&v)?.outcome.is_ok())),
            None => Ok(None),
        }
    }
}
