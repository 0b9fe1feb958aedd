//! Models: stored DTDL Interfaces, their dependents index, and a cache of parsed and resolved
//! models for validating twins.
//!
//! Models are immutable once added (only the `decommissioned` flag changes), so the cache needs no
//! versioning: apply clears it whenever a model operation commits, and it is rebuilt on demand from
//! the stored JSON. The cache is derived from the state, so it cannot make replicas diverge.

use super::apply::{Ctx, Fail, Step, Writes};
use super::command::Reply;
use super::keys::{Key, Reader, Space};
use super::store::{Page, Store, corrupt};
use super::{StorageError, codec};
use crate::err;
use crate::error::Result as UserResult;
use crate::model::dtdl::{self, Interface, ModelSource, ResolvedModel};
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A stored model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The DTMI.
    pub id: String,
    /// The Interface's JSON text.
    pub json: String,
    /// When it was added.
    pub upload_time: Timestamp,
    /// Whether it was decommissioned.
    pub decommissioned: bool,
}

/// Parsed and resolved models, rebuilt on demand.
#[derive(Default)]
pub(super) struct ModelCache {
    interfaces: Mutex<HashMap<String, Arc<Interface>>>,
    resolved: Mutex<HashMap<String, Arc<ResolvedModel>>>,
}

impl ModelCache {
    /// Forgets everything (after a model operation, or when the whole state is replaced).
    pub(super) fn clear(&self) {
        self.interfaces.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.resolved.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The stored models as a [`ModelSource`], remembering any storage failure (which must not be
/// mistaken for a missing model).
struct Source<'a> {
    store: &'a Store,
    /// The writes of the entry being applied, which lookups must see (a replicated batch may add
    /// a model and then use it).
    writes: Option<&'a Writes<'a>>,
    failure: RefCell<Option<StorageError>>,
}

impl Source<'_> {
    fn check(self) -> Result<(), StorageError> {
        match self.failure.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl ModelSource for Source<'_> {
    fn interface(&self, id: &str) -> Option<Arc<Interface>> {
        match self.store.interface(self.writes, id) {
            Ok(i) => i,
            Err(e) => {
                self.failure.replace(Some(e));
                None
            }
        }
    }
}

fn model_key(id: &str) -> Vec<u8> {
    Key::new(Space::Model).s(id).into_bytes()
}

impl Store {
    /// A stored model's record.
    pub fn model_record(&self, id: &str) -> Result<Option<ModelRecord>, StorageError> {
        self.graph.get(model_key(id))?.map(|v| codec::decode(&v)).transpose()
    }

    /// A model's record as the entry being applied sees it.
    fn model_record_in(&self, w: &Writes, id: &str) -> Result<Option<ModelRecord>, StorageError> {
        w.get(model_key(id))?.map(|v| codec::decode(&v)).transpose()
    }

    /// A stored model's parsed Interface (cached), seen through `w` when given.
    fn interface(
        &self,
        w: Option<&Writes>,
        id: &str,
    ) -> Result<Option<Arc<Interface>>, StorageError> {
        if let Some(i) = self.models.interfaces.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(Some(i.clone()));
        }
        let record = match w {
            Some(w) => self.model_record_in(w, id)?,
            None => self.model_record(id)?,
        };
        let Some(record) = record else { return Ok(None) };
        let iface = Arc::new(
            dtdl::parse_interface(&record.json)
                .map_err(|e| StorageError::Corrupt(format!("stored model {id}: {e}")))?,
        );
        self.models
            .interfaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.into(), iface.clone());
        Ok(Some(iface))
    }

    /// A model resolved for validation (cached).
    pub fn resolved(&self, id: &str) -> UserResult<Arc<ResolvedModel>> {
        self.resolved_model(&Writes::new(self), id).map_err(|f| match f {
            Fail::User(e) => e,
            Fail::Storage(e) => e.into(),
        })
    }

    pub(super) fn resolved_model(&self, w: &Writes, id: &str) -> Step<Arc<ResolvedModel>> {
        if let Some(m) = self.models.resolved.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(m.clone());
        }
        let source = Source { store: self, writes: Some(w), failure: RefCell::new(None) };
        let resolved = dtdl::resolve(id, &source);
        source.check()?;
        let resolved = Arc::new(resolved?);
        self.models
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.into(), resolved.clone());
        Ok(resolved)
    }

    /// The model a twin write uses: it must exist and, when the twin newly takes it on, must not
    /// be decommissioned.
    pub(super) fn model_for_write(
        &self,
        w: &Writes,
        id: &str,
        new_use: bool,
    ) -> Step<Arc<ResolvedModel>> {
        let Some(record) = self.model_record_in(w, id)? else {
            return Err(err!(
                ValidationFailed,
                "model {id} does not exist; add it before creating twins of it"
            )
            .into());
        };
        if new_use && record.decommissioned {
            return Err(err!(
                ModelDecommissioned,
                "model {id} is decommissioned and cannot be used for new twins"
            )
            .into());
        }
        self.resolved_model(w, id)
    }

    pub(super) fn add_models(&self, w: &mut Writes, ctx: &Ctx, json: &str) -> Step<Reply> {
        let batch = dtdl::parse_batch(json)?;
        let interfaces: Vec<Interface> = batch.iter().map(|(i, _)| i.clone()).collect();
        let source = Source { store: self, writes: Some(w), failure: RefCell::new(None) };
        let checked = dtdl::check_batch(&interfaces, &source);
        source.check()?;
        checked?;
        let mut out = Vec::with_capacity(batch.len());
        for (iface, text) in &batch {
            let record = ModelRecord {
                id: iface.id.clone(),
                json: text.clone(),
                upload_time: ctx.time,
                decommissioned: false,
            };
            w.put(model_key(&iface.id), codec::encode(&record)?);
            for dep in iface.dependencies() {
                w.put(Key::new(Space::Dependent).s(&dep).s(&iface.id).into_bytes(), Vec::new());
            }
            out.push(model_data(&record, iface, false).to_string());
        }
        Ok(Reply::Models { json: out })
    }

    pub(super) fn decommission_model(&self, w: &mut Writes, id: &str) -> Step<Reply> {
        let Some(mut record) = self.model_record_in(w, id)? else {
            return Err(model_not_found(id).into());
        };
        record.decommissioned = true;
        w.put(model_key(id), codec::encode(&record)?);
        let iface = self.interface(Some(w), id)?.ok_or_else(|| corrupt("model vanished"))?;
        Ok(Reply::Model { json: model_data(&record, &iface, false).to_string() })
    }

    pub(super) fn delete_model(&self, w: &mut Writes, id: &str) -> Step<Reply> {
        if self.model_record_in(w, id)?.is_none() {
            return Err(model_not_found(id).into());
        }
        let dependents = self.dependents_in(w, id)?;
        if !dependents.is_empty() {
            return Err(err!(
                ModelReferencesNotDeleted,
                "model {id} is still referenced by {}; delete those models first",
                dependents.join(", ")
            )
            .into());
        }
        let iface = self.interface(Some(w), id)?.ok_or_else(|| corrupt("model vanished"))?;
        for dep in iface.dependencies() {
            w.delete(Key::new(Space::Dependent).s(&dep).s(id).into_bytes());
        }
        w.delete(model_key(id));
        Ok(Reply::Deleted)
    }

    /// The models that extend `id` or use it as a component.
    pub fn dependents(&self, id: &str) -> Result<Vec<String>, StorageError> {
        self.dependents_in(&Writes::new(self), id)
    }

    fn dependents_in(&self, w: &Writes, id: &str) -> Result<Vec<String>, StorageError> {
        let prefix = Key::new(Space::Dependent).s(id).into_bytes();
        let mut out = Vec::new();
        for (k, _) in w.scan_prefix(&prefix)? {
            let mut r =
                Reader::new(&k, Space::Dependent).ok_or_else(|| corrupt("dependent key"))?;
            r.s();
            out.push(r.s().ok_or_else(|| corrupt("dependent key"))?);
        }
        Ok(out)
    }

    /// One model's data (ADT's `DigitalTwinsModelData`), or `ModelNotFound`.
    pub fn get_model(&self, id: &str, include_definition: bool) -> UserResult<String> {
        let record = self.model_record(id)?.ok_or_else(|| model_not_found(id))?;
        let iface = self.interface(None, id)?.ok_or_else(|| model_not_found(id))?;
        Ok(model_data(&record, &iface, include_definition).to_string())
    }

    /// A page of all models, in id order; or, with `dependencies_for`, those models and
    /// everything they depend on (one page).
    pub fn list_models(
        &self,
        dependencies_for: &[String],
        include_definition: bool,
        after: Option<&str>,
        limit: usize,
    ) -> UserResult<Page<String>> {
        if dependencies_for.is_empty() {
            let page = self.page(&[Space::Model as u8], after, limit, |_, v| {
                Ok(Some(codec::decode::<ModelRecord>(&v)?))
            })?;
            let mut items = Vec::with_capacity(page.items.len());
            for record in page.items {
                let iface =
                    self.interface(None, &record.id)?.ok_or_else(|| corrupt("model vanished"))?;
                items.push(model_data(&record, &iface, include_definition).to_string());
            }
            return Ok(Page { items, next: page.next });
        }
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = dependencies_for.to_vec();
        while let Some(id) = todo.pop() {
            if seen.contains(&id) {
                continue;
            }
            let iface = self.interface(None, &id)?.ok_or_else(|| model_not_found(&id))?;
            todo.extend(iface.dependencies());
            seen.insert(id);
        }
        let mut items = Vec::new();
        for id in seen {
            items.push(self.get_model(&id, include_definition)?);
        }
        Ok(Page { items, next: None })
    }
}

/// ADT's model data document.
fn model_data(record: &ModelRecord, iface: &Interface, include_definition: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(record.id.clone()));
    let lang = |map: &std::collections::BTreeMap<String, String>| {
        Value::Object(map.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    };
    if !iface.display_name.is_empty() {
        m.insert("displayName".into(), lang(&iface.display_name));
    }
    if !iface.description.is_empty() {
        m.insert("description".into(), lang(&iface.description));
    }
    m.insert("uploadTime".into(), Value::String(record.upload_time.to_adt_string()));
    m.insert("decommissioned".into(), Value::Bool(record.decommissioned));
    if include_definition {
        let def = serde_json::from_str(&record.json).unwrap_or(Value::Null);
        m.insert("model".into(), def);
    }
    Value::Object(m)
}

/// The error for a missing model.
pub fn model_not_found(id: &str) -> crate::error::Error {
    err!(ModelNotFound, "there is no model with id '{id}'")
}
