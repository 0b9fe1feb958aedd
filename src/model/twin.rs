//! Twin documents in ADT's shape, and the rules for writing them.
//!
//! A stored twin is exactly the document GET returns:
//!
//! ```json
//! { "$dtId": "room1", "$etag": "W/\"…\"", "temperature": 21.5,
//!   "thermostat": { "setpoint": 20, "$metadata": { "$lastUpdateTime": "…",
//!                                                  "setpoint": { "lastUpdateTime": "…" } } },
//!   "$metadata": { "$model": "dtmi:example:Room;1", "$lastUpdateTime": "…",
//!                  "temperature": { "lastUpdateTime": "…", "sourceTime": "…" } } }
//! ```
//!
//! The functions here build that document for a create-or-replace ([`build_put`]) and for a JSON
//! Patch ([`build_patch`]). They are pure: the time, the ETag and the resolved model come in as
//! arguments, so every replica builds the same bytes. Server-managed fields (`$dtId`, `$etag`,
//! `lastUpdateTime`) are always written by the server: values a client sends for them are ignored
//! on PUT (so a GET document can be PUT back) and refused in a patch. Only `sourceTime` is
//! client-writable metadata.
//!
//! The key order of the stored JSON is the sorted order of `serde_json::Map` (a `BTreeMap`), so the
//! serialized bytes are deterministic.

use crate::err;
use crate::error::{Error, ErrorCode, Result};
use crate::model::dtdl::ResolvedModel;
use crate::model::limits;
use crate::model::patch::Patch;
use crate::model::time::{Timestamp, is_rfc3339};
use serde_json::{Map, Value};

/// The metadata key of a document or component.
pub const METADATA: &str = "$metadata";

/// What a write needs besides the document: the time and ETag decided for it.
#[derive(Clone, Debug)]
pub struct Stamp {
    /// The write's time, decided before apply.
    pub time: Timestamp,
    /// The write's ETag (from its origin position).
    pub etag: String,
}

/// Parses request JSON into an object, or explains what is wrong.
pub fn parse_object(what: &str, text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            Err(err!(InvalidArgument, "the {what} must be a JSON object, not {}", kind(&other)))
        }
        Err(e) => Err(err!(InvalidArgument, "the {what} is not valid JSON: {e}")),
    }
}

/// A name for a JSON value's type, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `$metadata.$model` of a request document.
pub fn requested_model(input: &Map<String, Value>) -> Result<String> {
    match input.get(METADATA).and_then(|m| m.get("$model")) {
        Some(Value::String(m)) if !m.is_empty() => Ok(m.clone()),
        Some(_) => Err(err!(InvalidArgument, "'$metadata.$model' must be a non-empty string")),
        None => Err(err!(
            InvalidArgument,
            "the twin has no '$metadata.$model'; every twin must name its model"
        )),
    }
}

/// The model of a stored twin document.
pub fn model_of(doc: &Value) -> Option<&str> {
    doc.get(METADATA)?.get("$model")?.as_str()
}

/// The ETag of a stored document.
pub fn etag_of(doc: &Value) -> Option<&str> {
    doc.get("$etag")?.as_str()
}

/// Builds the stored document of a create-or-replace from the client's document.
pub fn build_put(
    id: &str,
    input: &Map<String, Value>,
    model: &ResolvedModel,
    stamp: &Stamp,
) -> Result<Value> {
    let mut contents = Map::new();
    for (k, v) in input {
        if k.starts_with('$') {
            match k.as_str() {
                "$dtId" | "$etag" | METADATA => continue,
                _ => {
                    return Err(err!(
                        InvalidArgument,
                        "'{k}' is not a twin field; only $dtId, $etag and $metadata may start with '$'"
                    ));
                }
            }
        }
        contents.insert(k.clone(), v.clone());
    }
    let source_times = source_times_from(input.get(METADATA))?;
    model.validate_contents(&strip_component_metadata(&contents, model))?;
    let t = Value::String(stamp.time.to_adt_string());
    let mut meta = Map::new();
    meta.insert("$model".into(), Value::String(model.id.clone()));
    meta.insert("$lastUpdateTime".into(), t.clone());
    let mut doc = Map::new();
    for (k, v) in contents {
        if model.components.contains_key(&k) {
            let Value::Object(comp) = v else { unreachable!("validated as an object") };
            check_component_fields(&k, &comp, ErrorCode::InvalidArgument)?;
            let comp_times = source_times_from(comp.get(METADATA))?;
            doc.insert(k, Value::Object(stamp_component(&comp, &comp_times, None, &t)?));
        } else {
            meta.insert(k.clone(), prop_meta(&t, source_times.get(&k))?);
            doc.insert(k, v);
        }
    }
    check_stray_source_times(&source_times, &doc)?;
    doc.insert(METADATA.into(), Value::Object(meta));
    doc.insert("$dtId".into(), Value::String(id.to_string()));
    doc.insert("$etag".into(), Value::String(stamp.etag.clone()));
    check_twin_size(&doc)?;
    Ok(Value::Object(doc))
}

/// Applies a JSON Patch to a stored twin document and builds the new stored document.
/// `resolve` finds the (possibly new) model named by the patched `$metadata.$model`.
pub fn build_patch(
    current: &Value,
    patch: &Patch,
    resolve: &mut dyn FnMut(&str, bool) -> Result<std::sync::Arc<ResolvedModel>>,
    stamp: &Stamp,
) -> Result<Value> {
    // Guard the server-managed fields.
    let mut model_changed = false;
    for op in &patch.ops {
        let p = &op.path;
        let first = p[0].as_str();
        match first {
            "$dtId" | "$etag" => {
                return Err(err!(
                    JsonPatchInvalid,
                    "'/{first}' is managed by the service and cannot be patched"
                ));
            }
            METADATA => check_metadata_path(&p[1..], op.op.as_str(), &mut model_changed)?,
            _ if first.starts_with('$') => {
                return Err(err!(JsonPatchInvalid, "'/{first}' is not a twin field"));
            }
            _ => {
                if p.len() >= 2 && p[1] == METADATA {
                    let mut component_model = false;
                    check_metadata_path(&p[2..], op.op.as_str(), &mut component_model)?;
                    if component_model {
                        return Err(err!(JsonPatchInvalid, "a component has no '$model' to patch"));
                    }
                }
            }
        }
    }
    let patched = patch.apply(current)?;
    let Value::Object(patched) = patched else {
        return Err(err!(JsonPatchInvalid, "the patch replaced the twin with a non-object"));
    };
    let model_id =
        requested_model(&patched).map_err(|e| err!(ValidationFailed, "{}", e.message))?;
    let model = resolve(&model_id, model_changed)?;
    let old_meta = current.get(METADATA).and_then(Value::as_object);
    let new_meta = patched.get(METADATA).and_then(Value::as_object);
    let t = Value::String(stamp.time.to_adt_string());

    let mut contents = Map::new();
    for (k, v) in &patched {
        if !k.starts_with('$') {
            contents.insert(k.clone(), v.clone());
        }
    }
    model.validate_contents(&strip_component_metadata(&contents, &model))?;

    let touched_top: std::collections::BTreeSet<&str> =
        patch.ops.iter().map(|op| op.path[0].as_str()).collect();
    let mut meta = Map::new();
    meta.insert("$model".into(), Value::String(model.id.clone()));
    meta.insert("$lastUpdateTime".into(), t.clone());
    let mut doc = Map::new();
    for (k, v) in contents {
        if model.components.contains_key(&k) {
            let Value::Object(comp) = v else { unreachable!("validated as an object") };
            check_component_fields(&k, &comp, ErrorCode::JsonPatchInvalid)?;
            let touched: std::collections::BTreeSet<&str> = patch
                .ops
                .iter()
                .filter(|op| op.path[0] == k)
                .map(|op| op.path.get(1).map(String::as_str).unwrap_or(""))
                .collect();
            let whole = touched.contains("");
            let old_comp = current.get(&k).and_then(|c| c.get(METADATA)).and_then(Value::as_object);
            let comp_times = source_times_from(comp.get(METADATA))?;
            let comp = if whole || touched.is_empty() && old_comp.is_none() {
                stamp_component(&comp, &comp_times, None, &t)?
            } else if touched.is_empty() {
                // Untouched: keep it exactly as stored.
                comp
            } else {
                stamp_component(&comp, &comp_times, Some((old_comp, &touched)), &t)?
            };
            doc.insert(k, Value::Object(comp));
        } else {
            let source = new_meta.and_then(|m| m.get(&k)).and_then(|m| m.get("sourceTime"));
            let entry = if touched_top.contains(k.as_str())
                || source != old_meta.and_then(|m| m.get(&k)).and_then(|m| m.get("sourceTime"))
            {
                prop_meta(&t, source)?
            } else {
                old_meta
                    .and_then(|m| m.get(&k))
                    .cloned()
                    .map_or_else(|| prop_meta(&t, source), Ok)?
            };
            meta.insert(k.clone(), entry);
            doc.insert(k, v);
        }
    }
    if let Some(new_meta) = new_meta {
        for (k, v) in new_meta {
            if !k.starts_with('$') && !doc.contains_key(k) && v.get("sourceTime").is_some() {
                return Err(err!(
                    ValidationFailed,
                    "sourceTime is set for property '{k}', which has no value"
                ));
            }
        }
    }
    doc.insert(METADATA.into(), Value::Object(meta));
    doc.insert("$dtId".into(), current.get("$dtId").cloned().unwrap_or(Value::Null));
    doc.insert("$etag".into(), Value::String(stamp.etag.clone()));
    check_twin_size(&doc)?;
    Ok(Value::Object(doc))
}

/// Checks a patch path under `$metadata` (the part after it): `$model` (twin level) or
/// `<property>/sourceTime`; everything else there is managed by the service.
fn check_metadata_path(rest: &[String], op: &str, model_changed: &mut bool) -> Result<()> {
    match rest {
        [m] if m == "$model" => {
            if op == "remove" {
                return Err(err!(JsonPatchInvalid, "'$metadata/$model' cannot be removed"));
            }
            *model_changed = true;
            Ok(())
        }
        [prop, s] if s == "sourceTime" && !prop.starts_with('$') => Ok(()),
        // add {"sourceTime": ...} as a whole entry
        [prop] if op != "remove" && !prop.starts_with('$') => Ok(()),
        _ => Err(err!(
            JsonPatchInvalid,
            "'$metadata/{}' is managed by the service; only '$metadata/$model' and \
             '$metadata/<property>/sourceTime' can be patched",
            rest.join("/")
        )),
    }
}

/// A component holds its properties and its `$metadata`, and no other field starting with '$'
/// (ADT's shape). Validation skips `$` fields, so without this check a component could keep one —
/// `{"$model": null}` — that GET would return as if the service had written it. (Found by the
/// patch fuzzer: `model/patch_fuzz_tests.rs`.)
fn check_component_fields(name: &str, comp: &Map<String, Value>, code: ErrorCode) -> Result<()> {
    match comp.keys().find(|k| k.starts_with('$') && k.as_str() != METADATA) {
        Some(k) => Err(Error::new(
            code,
            format!(
                "'{k}' is not a field of component '{name}'; only $metadata may start with '$'"
            ),
        )),
        None => Ok(()),
    }
}

/// The contents with each component's `$metadata` removed, for validation.
fn strip_component_metadata(
    contents: &Map<String, Value>,
    model: &ResolvedModel,
) -> Map<String, Value> {
    let mut out = contents.clone();
    for name in model.components.keys() {
        if let Some(Value::Object(c)) = out.get_mut(name) {
            c.remove(METADATA);
        }
    }
    out
}

/// The `sourceTime`s a client set in a request document's `$metadata`, checked. Server-managed
/// entries (`$model`, `$lastUpdateTime`, `lastUpdateTime`) are ignored so that a document read
/// with GET can be written back unchanged.
fn source_times_from(meta: Option<&Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let Some(meta) = meta else { return Ok(out) };
    let Value::Object(meta) = meta else {
        return Err(err!(InvalidArgument, "'$metadata' must be a JSON object"));
    };
    for (k, v) in meta {
        if k.starts_with('$') {
            continue;
        }
        let Value::Object(entry) = v else {
            return Err(err!(
                InvalidArgument,
                "'$metadata.{k}' must be an object such as {{\"sourceTime\": \"…\"}}"
            ));
        };
        for (field, value) in entry {
            match field.as_str() {
                "lastUpdateTime" => {}
                "sourceTime" => match value {
                    Value::String(s) if is_rfc3339(s) => {
                        out.insert(k.clone(), value.clone());
                    }
                    Value::Null => {}
                    _ => {
                        return Err(err!(
                            ValidationFailed,
                            "'$metadata.{k}.sourceTime' must be an ISO 8601 date-time such as 2022-05-31T12:00:00Z"
                        ));
                    }
                },
                other => {
                    return Err(err!(
                        InvalidArgument,
                        "'$metadata.{k}.{other}' is not a writable metadata field; only sourceTime is"
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Source times may only be given for properties the document has.
fn check_stray_source_times(times: &Map<String, Value>, doc: &Map<String, Value>) -> Result<()> {
    for k in times.keys() {
        if !doc.contains_key(k) {
            return Err(err!(
                ValidationFailed,
                "sourceTime is set for property '{k}', which has no value"
            ));
        }
    }
    Ok(())
}

/// The metadata entry of a property written at `t`.
fn prop_meta(t: &Value, source: Option<&Value>) -> Result<Value> {
    let mut m = Map::new();
    m.insert("lastUpdateTime".into(), t.clone());
    if let Some(s) = source {
        match s {
            Value::String(st) if is_rfc3339(st) => {
                m.insert("sourceTime".into(), s.clone());
            }
            Value::Null => {}
            _ => {
                return Err(err!(
                    ValidationFailed,
                    "a sourceTime must be an ISO 8601 date-time such as 2022-05-31T12:00:00Z"
                ));
            }
        }
    }
    Ok(Value::Object(m))
}

/// For a component patch: the component's stored metadata and the component-relative names the
/// patch touched.
type ComponentPatch<'a> = (Option<&'a Map<String, Value>>, &'a std::collections::BTreeSet<&'a str>);

/// A component object with fresh metadata: all properties stamped `t`, or (for a patch) only the
/// touched ones, the others keeping their old entries.
fn stamp_component(
    comp: &Map<String, Value>,
    times: &Map<String, Value>,
    patch: Option<ComponentPatch<'_>>,
    t: &Value,
) -> Result<Map<String, Value>> {
    let mut meta = Map::new();
    meta.insert("$lastUpdateTime".into(), t.clone());
    let mut out = Map::new();
    for (k, v) in comp {
        if k == METADATA {
            continue;
        }
        let entry = match patch {
            Some((old, touched))
                if !touched.contains(k.as_str()) && !touched.contains(METADATA) =>
            {
                match old.and_then(|m| m.get(k)) {
                    Some(e) => e.clone(),
                    None => prop_meta(t, times.get(k))?,
                }
            }
            _ => prop_meta(t, times.get(k))?,
        };
        meta.insert(k.clone(), entry);
        out.insert(k.clone(), v.clone());
    }
    check_stray_source_times(times, &out)?;
    out.insert(METADATA.into(), Value::Object(meta));
    Ok(out)
}

/// The 32 KB limit applies to the twin's own content (its properties and components), not to the
/// metadata the service adds.
fn check_twin_size(doc: &Map<String, Value>) -> Result<()> {
    let mut size = 2;
    for (k, v) in doc {
        if k.starts_with('$') {
            continue;
        }
        size += k.len() + 4 + serde_json::to_string(v).map(|s| s.len()).unwrap_or(0);
    }
    limits::check_size("twin document", size, limits::MAX_TWIN_BYTES)
}

/// A twin's component, or `ComponentNotFound`.
pub fn component<'a>(
    doc: &'a Value,
    model: Option<&ResolvedModel>,
    name: &str,
) -> Result<&'a Value> {
    let declared = model.is_none_or(|m| m.components.contains_key(name));
    match doc.get(name) {
        Some(v @ Value::Object(_)) if declared && !name.starts_with('$') => Ok(v),
        _ => Err(err!(
            ComponentNotFound,
            "twin '{}' has no component '{name}'",
            doc.get("$dtId").and_then(Value::as_str).unwrap_or("?")
        )),
    }
}
