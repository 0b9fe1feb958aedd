//! The deterministic apply of a command.
//!
//! [`Store::apply`] runs one command against the current state and commits its effects, the dedupe
//! record and the new applied position in one atomic sled batch. The command's effects are first
//! gathered in a [`Writes`] buffer; a command that fails with a user error leaves nothing behind but
//! the advanced applied position (and its remembered answer), so bad input never changes the graph.

use super::command::{Command, Op, Outcome, Precondition, Reply};
use super::dr;
use super::keys::{Key, Space, meta};
use super::store::{Applied, Store};
use super::{StorageError, codec};
use crate::err;
use crate::error::{Error, Result as UserResult};
use crate::model::etag::{self, Origin};
use crate::model::time::Timestamp;
use std::collections::BTreeMap;

/// Why a step of apply stopped: the user's problem (an answer) or storage's (fatal).
pub(super) enum Fail {
    /// A deterministic, user-facing error: the command's answer.
    User(Error),
    /// A storage failure.
    Storage(StorageError),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::User(e)
    }
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Self {
        Fail::Storage(e)
    }
}

impl From<sled::Error> for Fail {
    fn from(e: sled::Error) -> Self {
        Fail::Storage(e.into())
    }
}

/// The result of a step of apply.
pub(super) type Step<T> = Result<T, Fail>;

/// A key and its value, as raw bytes.
pub(super) type Pair = (Vec<u8>, Vec<u8>);

/// A buffered write: a value to put, or `None` to delete.
type Pending = Option<Vec<u8>>;

/// The writes of one command, buffered until it succeeds; reads see them first.
pub(super) struct Writes<'a> {
    store: &'a Store,
    ops: BTreeMap<Vec<u8>, Pending>,
    /// While a command runs inside a larger batch: how to undo its writes if it is refused (each
    /// key with what was pending for it before, if anything).
    undo: Option<Vec<(Vec<u8>, Option<Pending>)>>,
    /// The last dedupe age key evicted into these writes, while every key before it is deleted
    /// here: the next eviction walks on from it instead of over the deletes again (many writes
    /// share one `Writes`: a batch's, a whole shipped batch of entries on a standby).
    pub(super) evicted_through: Option<Vec<u8>>,
}

impl<'a> Writes<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Writes { store, ops: BTreeMap::new(), undo: None, evicted_through: None }
    }

    /// Starts recording how to undo the writes that follow.
    fn begin(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Undoes every write since [`Writes::begin`].
    fn rollback(&mut self) {
        for (k, before) in self.undo.take().unwrap_or_default().into_iter().rev() {
            match before {
                Some(v) => self.ops.insert(k, v),
                None => self.ops.remove(&k),
            };
        }
    }

    /// Keeps the writes since [`Writes::begin`].
    fn commit(&mut self) {
        self.undo = None;
    }

    fn record(&mut self, key: &[u8]) {
        if let Some(undo) = &mut self.undo {
            undo.push((key.to_vec(), self.ops.get(key).cloned()));
        }
    }

    /// Reads a key as this command has left it so far.
    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StorageError> {
        match self.ops.get(key.as_ref()) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.store.graph.get(key)?.map(|v| v.to_vec())),
        }
    }

    pub(super) fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        let key = key.into();
        self.record(&key);
        self.ops.insert(key, Some(value.into()));
    }

    pub(super) fn delete(&mut self, key: impl Into<Vec<u8>>) {
        let key = key.into();
        self.record(&key);
        self.ops.insert(key, None);
    }

    /// Every key under `prefix` as this entry has left it, in key order.
    pub(super) fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Pair>, StorageError> {
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for kv in self.store.graph.scan_prefix(prefix) {
            let (k, v) = kv?;
            out.insert(k.to_vec(), v.to_vec());
        }
        for (k, v) in self.ops.range(prefix.to_vec()..).take_while(|(k, _)| k.starts_with(prefix)) {
            match v {
                Some(v) => out.insert(k.clone(), v.clone()),
                None => out.remove(k),
            };
        }
        Ok(out.into_iter().collect())
    }

    /// The keys from `from` up to (not including) `end` as this entry has left them, in key
    /// order, walked lazily: the tree's, less those deleted here, plus those put here. `visit`
    /// is called for each until it returns `false`.
    pub(super) fn walk_keys(
        &self,
        from: std::ops::Bound<Vec<u8>>,
        end: Vec<u8>,
        mut visit: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), StorageError> {
        use std::ops::Bound::Excluded;
        let mut tree = self.store.graph.range((from.clone(), Excluded(end.clone()))).keys();
        let mut pending = self.ops.range((from, Excluded(end))).peekable();
        let mut next_tree = tree.next().transpose()?;
        loop {
            // The smaller head goes first; on a tie the pending write wins over the tree's key.
            let from_pending = match (&next_tree, pending.peek()) {
                (None, None) => return Ok(()),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(t), Some((p, _))) => p.as_slice() <= t.as_ref(),
            };
            let key = if from_pending {
                let (p, v) = pending.next().expect("peeked");
                if next_tree.as_ref().is_some_and(|t| t.as_ref() == p.as_slice()) {
                    next_tree = tree.next().transpose()?;
                }
                if v.is_none() {
                    continue; // deleted here
                }
                p.clone()
            } else {
                let k = next_tree.take().expect("matched").to_vec();
                next_tree = tree.next().transpose()?;
                k
            };
            if !visit(&key) {
                return Ok(());
            }
        }
    }

    fn into_batch(self, batch: &mut sled::Batch) {
        for (k, v) in self.ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
    }
}

/// What a write needs to know about its position.
pub(super) struct Ctx {
    /// The write's time.
    pub time: Timestamp,
    /// The ETag its entity gets.
    pub etag: String,
}

impl Store {
    /// Applies the command at log index `index`. Returns the command's outcome (a reply or a
    /// deterministic user error); a [`StorageError`] means the node must stop.
    ///
    /// `index` must be greater than the last applied index (on a store that has applied nothing,
    /// it may be 0); indexes may skip.
    pub fn apply(&self, index: u64, cmd: &Command) -> Result<Outcome, StorageError> {
        let outcome = self.apply_entry(index, Some(cmd), &[])?;
        outcome.ok_or_else(|| StorageError::Corrupt("a command gave no outcome".into()))
    }

    /// Applies log entry `index`: a command, or none for an entry that only advances the position
    /// (raft's membership and blank entries). `meta` are metadata entries the caller keeps with
    /// the state (the raft layer's last applied log id and membership), written in the same
    /// atomic batch as the command's effects, so state and metadata can never disagree.
    pub fn apply_entry(
        &self,
        index: u64,
        cmd: Option<&Command>,
        meta: &[(&str, Vec<u8>)],
    ) -> Result<Option<Outcome>, StorageError> {
        let _apply = self.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        let applied = self.applied_index();
        // Index 0 is a real position (raft's first entry, the initial membership, is at index 0),
        // so "nothing applied yet" is told apart from "index 0 applied" by the stored record.
        if index <= applied && self.graph.contains_key(Key::new(Space::Meta).s(meta::APPLIED))? {
            return Err(StorageError::Corrupt(format!(
                "asked to apply index {index} but index {applied} is already applied"
            )));
        }
        let mut w = Writes::new(self);
        let (origin, outcome) = match cmd {
            Some(cmd) => {
                let origin = cmd.origin.unwrap_or(Origin::at(cmd.epoch, index));
                (origin, Some(self.run_into(&mut w, cmd, origin, index)?))
            }
            None => (self.applied()?.origin, None),
        };
        for (name, value) in meta {
            w.put(Key::new(Space::Meta).s(name).into_bytes(), value.clone());
        }
        w.put(
            Key::new(Space::Meta).s(meta::APPLIED).into_bytes(),
            codec::encode(&Applied { index, origin })?,
        );
        // Models are cached: drop the cache after anything that may have changed them (a model
        // op, or a replicated batch or reseed that may hold any op).
        let models_changed = matches!(
            cmd.map(|c| &c.op),
            Some(
                Op::AddModels { .. }
                    | Op::DecommissionModel { .. }
                    | Op::DeleteModel { .. }
                    | Op::Replicate(_)
                    | Op::Reseed { .. }
            )
        );
        let mut batch = sled::Batch::default();
        w.into_batch(&mut batch);
        self.graph.apply_batch(batch)?;
        self.set_applied_index(index);
        if models_changed {
            self.models.clear();
        }
        Ok(outcome)
    }

    /// Runs one command into `w` (or recalls its remembered outcome). A command that is refused
    /// leaves `w` as it was, but for its dedupe record: its answer is remembered too.
    ///
    /// A data write a standby may not take (or one under a stale epoch) is refused before
    /// anything else and leaves no trace at all — not even a dedupe record or an eviction — so the
    /// data this region holds stays exactly what the primary's history made it.
    pub(super) fn run_into(
        &self,
        w: &mut Writes,
        cmd: &Command,
        origin: Origin,
        index: u64,
    ) -> Result<Outcome, StorageError> {
        if let Op::Batch(cmds) = &cmd.op {
            return self.run_batch(w, cmds, cmd.origin.is_some(), origin, index);
        }
        match self.check_writable(w, cmd) {
            Ok(()) => {}
            Err(Fail::User(e)) => return Ok(Err(e)),
            Err(Fail::Storage(e)) => return Err(e),
        }
        // Only data writes are deduplicated: they are what both DR regions apply, so both hold
        // the same table. Control ops (DR, membership bookkeeping) are idempotent by design.
        let data = dr::is_data_write(&cmd.op);
        let request = cmd.request.as_ref().filter(|_| data);
        if let Some(req) = request
            && let Some(outcome) = self.dedupe_get(w, req, &cmd.op)?
        {
            if data {
                self.dedupe_evict(w, cmd.time)?;
            }
            return Ok(outcome);
        }
        let ctx = Ctx { time: cmd.time, etag: etag::etag(origin) };
        w.begin();
        let outcome = match self.execute(w, &ctx, index, &cmd.op) {
            Ok(reply) => {
                w.commit();
                Ok(reply)
            }
            Err(Fail::User(e)) => {
                w.rollback();
                // The cache may hold what the refused command saw.
                self.models.clear();
                Err(e)
            }
            Err(Fail::Storage(e)) => return Err(e),
        };
        if let Some(req) = request {
            self.dedupe_put(w, req, cmd.time, &outcome)?;
        }
        if data {
            // Eviction runs at data writes only: they are what both regions apply, so both
            // evict at the same points and keep identical tables.
            self.dedupe_evict(w, cmd.time)?;
        }
        Ok(outcome)
    }

    /// Runs the writes of a batch in order, each as if it were an entry of its own at slot `i` of
    /// `origin` — its own checks, dedupe record and ETag — so a refused write leaves the others
    /// applied, and a later write sees the earlier ones. `shipped`: the batch came from another
    /// region (its writes carry their origin).
    fn run_batch(
        &self,
        w: &mut Writes,
        cmds: &[Command],
        shipped: bool,
        origin: Origin,
        index: u64,
    ) -> Result<Outcome, StorageError> {
        let mut outcomes = Vec::with_capacity(cmds.len());
        for (slot, c) in cmds.iter().enumerate() {
            if !c.op.batchable() {
                return Err(StorageError::Corrupt(format!(
                    "a batch holds a {} write, which never goes in a batch",
                    c.op.name()
                )));
            }
            let at = Origin { epoch: c.epoch, index: origin.index, slot: slot as u32 };
            let outcome = if shipped {
                let c = Command { origin: Some(at), ..c.clone() };
                self.run_into(w, &c, at, index)?
            } else {
                self.run_into(w, c, at, index)?
            };
            outcomes.push(outcome);
        }
        Ok(Ok(Reply::Batch(outcomes)))
    }

    fn execute(&self, w: &mut Writes, ctx: &Ctx, index: u64, op: &Op) -> Step<Reply> {
        match op {
            Op::PutTwin { id, json, pre } => self.put_twin(w, ctx, id, json, pre),
            Op::PatchTwin { id, component, patch, pre } => {
                self.patch_twin(w, ctx, id, component.as_deref(), patch, pre)
            }
            Op::DeleteTwin { id, pre } => self.delete_twin(w, id, pre),
            Op::PutRelationship { source, id, json, pre } => {
                self.put_relationship(w, ctx, source, id, json, pre)
            }
            Op::PatchRelationship { source, id, patch, pre } => {
                self.patch_relationship(w, ctx, source, id, patch, pre)
            }
            Op::DeleteRelationship { source, id, pre } => {
                self.delete_relationship(w, source, id, pre)
            }
            Op::AddModels { json } => self.add_models(w, ctx, json),
            Op::DecommissionModel { id } => self.decommission_model(w, id),
            Op::DeleteModel { id } => self.delete_model(w, id),
            Op::Noop => Ok(Reply::Done),
            Op::Batch(_) => Err(Fail::Storage(StorageError::Corrupt(
                "a batch is run by run_batch, never executed as one write".into(),
            ))),
            Op::DrInit { .. }
            | Op::Replicate(_)
            | Op::Fence { .. }
            | Op::Promote { .. }
            | Op::SetUpstream { .. }
            | Op::Reseed { .. }
            | Op::StandbyConfirmed { .. }
            | Op::KeepDivergent { .. } => self.execute_dr(w, index, op),
            Op::RecordIncident { .. } | Op::UpdateIncident { .. } | Op::MergeIncidents { .. } => {
                self.execute_incident(w, op)
            }
            Op::Audit { .. } => self.execute_audit(w, ctx.time, index, op),
        }
    }
}

/// Checks If-Match / If-None-Match against an entity's current ETag (`None`: it does not exist).
pub(super) fn check_precondition(
    what: &str,
    pre: &Precondition,
    current: Option<&str>,
) -> UserResult<()> {
    if pre.if_none_match && current.is_some() {
        return Err(err!(
            PreconditionFailed,
            "{what} already exists and If-None-Match: * was given"
        ));
    }
    if let Some(want) = &pre.if_match {
        match current {
            None => {
                return Err(err!(
                    PreconditionFailed,
                    "{what} does not exist, so If-Match: {want} cannot hold"
                ));
            }
            Some(etag) if !etag::if_match_accepts(want, etag) => {
                return Err(err!(
                    PreconditionFailed,
                    "{what} has ETag {etag}, not {want} (If-Match): it was changed since you read it"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::model::time::Timestamp;
    use crate::storage::{Command, Op, Store};

    #[test]
    fn index_zero_applies_once_on_a_fresh_store() {
        let store = Store::temporary().unwrap();
        let meta = [("m", b"x".to_vec())];
        assert_eq!(store.apply_entry(0, None, &meta).unwrap(), None);
        assert_eq!(store.applied().unwrap().index, 0);
        assert_eq!(store.meta("m").unwrap(), Some(b"x".to_vec()));
        assert!(store.apply_entry(0, None, &[]).is_err(), "index 0 is now applied");
        let cmd =
            Command { request: None, time: Timestamp(1), epoch: 1, origin: None, op: Op::Noop };
        assert!(store.apply(1, &cmd).unwrap().is_ok());
        assert!(store.apply_entry(1, None, &[]).is_err());
    }
}
