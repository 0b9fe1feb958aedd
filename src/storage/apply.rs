//! The deterministic apply of a command.
//!
//! [`Store::apply`] runs one command against the current state and commits its effects, the dedupe
//! record and the new applied position in one atomic sled batch. The command's effects are first
//! gathered in a [`Writes`] buffer; a command that fails with a user error leaves nothing behind but
//! the advanced applied position (and its remembered answer), so bad input never changes the graph.

use super::command::{Command, Op, Outcome, Precondition, Reply};
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

/// The writes of one command, buffered until it succeeds; reads see them first.
pub(super) struct Writes<'a> {
    store: &'a Store,
    ops: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Writes<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Writes { store, ops: BTreeMap::new() }
    }

    /// Reads a key as this command has left it so far.
    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StorageError> {
        match self.ops.get(key.as_ref()) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.store.graph.get(key)?.map(|v| v.to_vec())),
        }
    }

    pub(super) fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.insert(key.into(), Some(value.into()));
    }

    pub(super) fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.insert(key.into(), None);
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
                let origin = cmd.origin.unwrap_or(Origin { epoch: cmd.epoch, index });
                let (effects, outcome) = self.run_command(cmd, origin)?;
                w = effects;
                (origin, Some(outcome))
            }
            None => (self.applied()?.origin, None),
        };
        if let Some(cmd) = cmd {
            self.dedupe_evict(&mut w, cmd.time)?;
        }
        for (name, value) in meta {
            w.put(Key::new(Space::Meta).s(name).into_bytes(), value.clone());
        }
        w.put(
            Key::new(Space::Meta).s(meta::APPLIED).into_bytes(),
            codec::encode(&Applied { index, origin })?,
        );
        let models_changed = matches!(&outcome, Some(Ok(_)))
            && matches!(
                cmd.map(|c| &c.op),
                Some(Op::AddModels { .. } | Op::DecommissionModel { .. } | Op::DeleteModel { .. })
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

    /// Runs a command (or recalls its remembered outcome): its buffered effects and outcome.
    fn run_command(
        &self,
        cmd: &Command,
        origin: Origin,
    ) -> Result<(Writes<'_>, Outcome), StorageError> {
        let ctx = Ctx { time: cmd.time, etag: etag::etag(origin) };
        if let Some(req) = &cmd.request
            && let Some(outcome) = self.dedupe_get(req)?
        {
            return Ok((Writes::new(self), outcome));
        }
        let mut effects = Writes::new(self);
        let outcome = match self.execute(&mut effects, &ctx, &cmd.op) {
            Ok(reply) => Ok(reply),
            Err(Fail::User(e)) => {
                // A refused command leaves no effects behind.
                effects = Writes::new(self);
                Err(e)
            }
            Err(Fail::Storage(e)) => return Err(e),
        };
        if let Some(req) = &cmd.request {
            self.dedupe_put(&mut effects, req, cmd.time, &outcome)?;
        }
        Ok((effects, outcome))
    }

    fn execute(&self, w: &mut Writes, ctx: &Ctx, op: &Op) -> Step<Reply> {
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
