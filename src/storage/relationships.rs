//! Applying relationship writes, keeping both edge indexes and the per-twin edge counters.

use super::apply::{Ctx, Step, Writes, check_precondition};
use super::command::{Precondition, Reply};
use super::keys::{Key, Space};
use super::store::{Store, text};
use super::twins::not_found as twin_not_found;
use super::{StorageError, codec};
use crate::err;
use crate::model::limits;
use crate::model::patch::Patch;
use crate::model::relationship;
use crate::model::twin::{self, parse_object};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many relationships a twin has, each way (to refuse deleting a twin with edges and to
/// enforce the 50,000-per-direction limit without scanning).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct EdgeCounts {
    pub out: u64,
    pub incoming: u64,
}

fn out_key(source: &str, id: &str) -> Vec<u8> {
    Key::new(Space::Out).s(source).s(id).into_bytes()
}

fn in_key(target: &str, source: &str, id: &str) -> Vec<u8> {
    Key::new(Space::In).s(target).s(source).s(id).into_bytes()
}

fn count_key(id: &str) -> Vec<u8> {
    Key::new(Space::EdgeCount).s(id).into_bytes()
}

impl Store {
    pub(super) fn edge_counts(&self, w: &Writes, id: &str) -> Result<EdgeCounts, StorageError> {
        match w.get(count_key(id))? {
            Some(v) => codec::decode(&v),
            None => Ok(EdgeCounts::default()),
        }
    }

    fn set_edge_counts(&self, w: &mut Writes, id: &str, c: EdgeCounts) -> Result<(), StorageError> {
        if c == EdgeCounts::default() {
            w.delete(count_key(id));
        } else {
            w.put(count_key(id), codec::encode(&c)?);
        }
        Ok(())
    }

    fn adjust_counts(
        &self,
        w: &mut Writes,
        id: &str,
        out: i64,
        incoming: i64,
    ) -> Result<(), StorageError> {
        let mut c = self.edge_counts(w, id)?;
        c.out = c
            .out
            .checked_add_signed(out)
            .ok_or_else(|| StorageError::Corrupt(format!("edge count of '{id}'")))?;
        c.incoming = c
            .incoming
            .checked_add_signed(incoming)
            .ok_or_else(|| StorageError::Corrupt(format!("edge count of '{id}'")))?;
        self.set_edge_counts(w, id, c)
    }

    pub(super) fn read_relationship(
        &self,
        w: &Writes,
        source: &str,
        id: &str,
    ) -> Step<Option<Value>> {
        match w.get(out_key(source, id))? {
            Some(bytes) => {
                let t = text(bytes.into())?;
                Ok(Some(serde_json::from_str(&t).map_err(|e| {
                    StorageError::Corrupt(format!("relationship '{source}/{id}': {e}"))
                })?))
            }
            None => Ok(None),
        }
    }

    pub(super) fn put_relationship(
        &self,
        w: &mut Writes,
        ctx: &Ctx,
        source: &str,
        id: &str,
        json: &str,
        pre: &Precondition,
    ) -> Step<Reply> {
        limits::check_id("twin", source)?;
        limits::check_id("relationship", id)?;
        limits::check_size("relationship document", json.len(), limits::MAX_PAYLOAD_BYTES)?;
        let input = relationship::parse_input(source, id, &parse_object("relationship", json)?)?;
        let Some(source_doc) = self.read_twin(w, source)? else {
            return Err(twin_not_found(source).into());
        };
        let old = self.read_relationship(w, source, id)?;
        let what = format!("relationship '{id}' of twin '{source}'");
        check_precondition(&what, pre, old.as_ref().and_then(twin::etag_of))?;
        let Some(target_doc) = self.read_twin(w, &input.target)? else {
            return Err(err!(
                TargetTwinNotFound,
                "the target twin '{}' does not exist",
                input.target
            )
            .into());
        };
        let source_model =
            self.resolved_model(w, twin::model_of(&source_doc).unwrap_or_default())?;
        let target_model_id = twin::model_of(&target_doc).unwrap_or_default().to_string();
        let target_model = self.resolved_model(w, &target_model_id).ok();
        relationship::check_models(
            &input,
            &source_model,
            &target_model_id,
            target_model.as_deref(),
        )?;
        let doc = relationship::build(source, id, &input, &ctx.etag)?;

        let old_target = old.as_ref().and_then(|o| o.get("$targetId")).and_then(Value::as_str);
        if old_target.is_none() {
            let c = self.edge_counts(w, source)?;
            if c.out >= limits::MAX_EDGES_PER_TWIN {
                return Err(err!(
                    LimitExceeded,
                    "twin '{source}' already has {} outgoing relationships, the limit",
                    c.out
                )
                .into());
            }
            self.adjust_counts(w, source, 1, 0)?;
        }
        if old_target != Some(input.target.as_str()) {
            let c = self.edge_counts(w, &input.target)?;
            if c.incoming >= limits::MAX_EDGES_PER_TWIN {
                return Err(err!(
                    LimitExceeded,
                    "twin '{}' already has {} incoming relationships, the limit",
                    input.target,
                    c.incoming
                )
                .into());
            }
            self.adjust_counts(w, &input.target, 0, 1)?;
            if let Some(t) = old_target {
                self.adjust_counts(w, t, 0, -1)?;
                w.delete(in_key(t, source, id));
            }
        }
        w.put(out_key(source, id), doc.to_string().into_bytes());
        w.put(in_key(&input.target, source, id), input.name.clone().into_bytes());
        Ok(Reply::Relationship { json: doc.to_string(), etag: ctx.etag.clone() })
    }

    pub(super) fn patch_relationship(
        &self,
        w: &mut Writes,
        ctx: &Ctx,
        source: &str,
        id: &str,
        patch: &str,
        pre: &Precondition,
    ) -> Step<Reply> {
        limits::check_size("patch", patch.len(), limits::MAX_PAYLOAD_BYTES)?;
        let Some(source_doc) = self.read_twin(w, source)? else {
            return Err(twin_not_found(source).into());
        };
        let Some(current) = self.read_relationship(w, source, id)? else {
            return Err(not_found(source, id).into());
        };
        if pre.if_none_match {
            return Err(err!(InvalidArgument, "If-None-Match cannot be used on an update").into());
        }
        check_precondition(
            &format!("relationship '{id}' of twin '{source}'"),
            pre,
            twin::etag_of(&current),
        )?;
        let patch = Patch::parse(patch, &[])?;
        let source_model =
            self.resolved_model(w, twin::model_of(&source_doc).unwrap_or_default())?;
        let doc = relationship::patch(&current, &patch, &source_model, &ctx.etag)?;
        w.put(out_key(source, id), doc.to_string().into_bytes());
        Ok(Reply::Relationship { json: doc.to_string(), etag: ctx.etag.clone() })
    }

    pub(super) fn delete_relationship(
        &self,
        w: &mut Writes,
        source: &str,
        id: &str,
        pre: &Precondition,
    ) -> Step<Reply> {
        if self.read_twin(w, source)?.is_none() {
            return Err(twin_not_found(source).into());
        }
        let Some(current) = self.read_relationship(w, source, id)? else {
            return Err(not_found(source, id).into());
        };
        check_precondition(
            &format!("relationship '{id}' of twin '{source}'"),
            pre,
            twin::etag_of(&current),
        )?;
        let target =
            current.get("$targetId").and_then(Value::as_str).unwrap_or_default().to_string();
        w.delete(out_key(source, id));
        w.delete(in_key(&target, source, id));
        self.adjust_counts(w, source, -1, 0)?;
        self.adjust_counts(w, &target, 0, -1)?;
        Ok(Reply::Deleted)
    }
}

/// The error for a missing relationship.
pub fn not_found(source: &str, id: &str) -> crate::error::Error {
    err!(RelationshipNotFound, "twin '{source}' has no relationship with id '{id}'")
}
