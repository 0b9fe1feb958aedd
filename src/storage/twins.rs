//! Applying twin writes: create-or-replace, patch, delete, with the twins-by-model index.

use super::apply::{Ctx, Fail, Step, Writes, check_precondition};
use super::command::{Precondition, Reply};
use super::keys::{Key, Space};
use super::store::{Store, text, twin_key};
use crate::err;
use crate::model::limits;
use crate::model::patch::Patch;
use crate::model::twin::{self, Stamp};
use serde_json::Value;

impl Store {
    pub(super) fn put_twin(
        &self,
        w: &mut Writes,
        ctx: &Ctx,
        id: &str,
        json: &str,
        pre: &Precondition,
    ) -> Step<Reply> {
        limits::check_id("twin", id)?;
        limits::check_size("twin document", json.len(), limits::MAX_TWIN_BYTES)?;
        let input = twin::parse_object("twin document", json)?;
        let old = self.read_twin(w, id)?;
        check_precondition(&format!("twin '{id}'"), pre, old.as_ref().and_then(twin::etag_of))?;
        let model_id = twin::requested_model(&input)?;
        let old_model = old.as_ref().and_then(twin::model_of).map(str::to_string);
        let model =
            self.model_for_write(w, &model_id, old_model.as_deref() != Some(model_id.as_str()))?;
        let doc = twin::build_put(id, &input, &model, &stamp(ctx))?;
        self.write_twin(w, id, &doc, old_model.as_deref(), &model_id);
        Ok(Reply::Twin { json: doc.to_string(), etag: ctx.etag.clone() })
    }

    pub(super) fn patch_twin(
        &self,
        w: &mut Writes,
        ctx: &Ctx,
        id: &str,
        component: Option<&str>,
        patch: &str,
        pre: &Precondition,
    ) -> Step<Reply> {
        limits::check_size("patch", patch.len(), limits::MAX_PAYLOAD_BYTES)?;
        let Some(current) = self.read_twin(w, id)? else {
            return Err(not_found(id).into());
        };
        if pre.if_none_match {
            return Err(err!(InvalidArgument, "If-None-Match cannot be used on an update").into());
        }
        check_precondition(&format!("twin '{id}'"), pre, twin::etag_of(&current))?;
        let old_model = twin::model_of(&current).unwrap_or_default().to_string();
        let patch = match component {
            Some(c) => {
                let model = self.resolved_model(w, &old_model).ok();
                twin::component(&current, model.as_deref(), c)?;
                Patch::parse(patch, &[c])?
            }
            None => Patch::parse(patch, &[])?,
        };
        // A storage failure inside the model lookup must stay fatal, not become a user error.
        let mut failure = None;
        let mut resolve =
            |model_id: &str, changed: bool| match self.model_for_write(w, model_id, changed) {
                Ok(m) => Ok(m),
                Err(Fail::User(e)) => Err(e),
                Err(Fail::Storage(e)) => {
                    let msg = e.to_string();
                    failure = Some(e);
                    Err(err!(Internal, "storage failure: {msg}"))
                }
            };
        let built = twin::build_patch(&current, &patch, &mut resolve, &stamp(ctx));
        if let Some(e) = failure {
            return Err(Fail::Storage(e));
        }
        let doc = built?;
        let new_model = twin::model_of(&doc).unwrap_or_default().to_string();
        self.write_twin(w, id, &doc, Some(&old_model), &new_model);
        Ok(Reply::Twin { json: doc.to_string(), etag: ctx.etag.clone() })
    }

    pub(super) fn delete_twin(&self, w: &mut Writes, id: &str, pre: &Precondition) -> Step<Reply> {
        let Some(current) = self.read_twin(w, id)? else {
            return Err(not_found(id).into());
        };
        check_precondition(&format!("twin '{id}'"), pre, twin::etag_of(&current))?;
        let counts = self.edge_counts(w, id)?;
        if counts.out > 0 || counts.incoming > 0 {
            return Err(err!(
                RelationshipsNotDeleted,
                "twin '{id}' still has {} outgoing and {} incoming relationships; delete them first",
                counts.out,
                counts.incoming
            )
            .into());
        }
        w.delete(twin_key(id));
        if let Some(model) = twin::model_of(&current) {
            w.delete(Key::new(Space::ModelTwin).s(model).s(id).into_bytes());
        }
        Ok(Reply::Deleted)
    }

    /// Reads a twin document as the command sees it.
    pub(super) fn read_twin(&self, w: &Writes, id: &str) -> Step<Option<Value>> {
        match w.get(twin_key(id))? {
            Some(bytes) => {
                let text = text(bytes.into())?;
                let v = serde_json::from_str(&text)
                    .map_err(|e| super::StorageError::Corrupt(format!("twin '{id}': {e}")))?;
                Ok(Some(v))
            }
            None => Ok(None),
        }
    }

    fn write_twin(
        &self,
        w: &mut Writes,
        id: &str,
        doc: &Value,
        old_model: Option<&str>,
        model: &str,
    ) {
        w.put(twin_key(id), doc.to_string().into_bytes());
        if old_model != Some(model) {
            if let Some(old) = old_model {
                w.delete(Key::new(Space::ModelTwin).s(old).s(id).into_bytes());
            }
            w.put(Key::new(Space::ModelTwin).s(model).s(id).into_bytes(), Vec::new());
        }
    }
}

fn stamp(ctx: &Ctx) -> Stamp {
    Stamp { time: ctx.time, etag: ctx.etag.clone() }
}

/// The error for a missing twin.
pub fn not_found(id: &str) -> crate::error::Error {
    err!(DigitalTwinNotFound, "there is no digital twin with id '{id}'")
}
