//! Parsing model uploads: JSON text to checked [`Interface`]s.
//!
//! Everything that can be decided by looking at one Interface alone is decided here: `@context`,
//! `@type`, `@id`, names, schemas, and ADT's own restrictions (no Commands, no inline Interfaces, at
//! most two `extends` in v2, arrays in Property schemas only in v3, reserved DTMI prefixes, 1 MiB per
//! Interface, 250 Interfaces per upload). What needs other models (do the references resolve? is
//! there a cycle?) is [`super::check_batch`]'s job.
//!
//! The parser is strict about members it does not know, because a misspelt optional member
//! (`"writeable": true`) would otherwise be silently dropped; as DTDL prescribes, an element with a
//! co-type (`["Property", "Temperature"]`) may carry the extra members its co-type defines.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::MAX_V2_EXTENDS;
use super::interface::{
    ComponentDef, Content, Interface, PropertyDef, RelationshipDef, TelemetryDef,
};
use super::json::{check_cotype, class_term, items, kind_of, strings};
use super::parse_schema::{
    COMPLEX, check_descriptions, check_members, element_name, required, schema,
};
use super::schema::Schema;
use crate::err;
use crate::error::{Error, Result};
use crate::model::dtmi::{self, MAX_INTERFACE_ID_CHARS, shown};
use crate::model::limits::{MAX_MODEL_BYTES, MAX_MODELS_PER_BATCH};

/// The DTDL v3 language extensions ADT accepts alongside `dtmi:dtdl:context;3`.
pub const SUPPORTED_EXTENSIONS: [&str; 4] = [
    "dtmi:dtdl:extension:quantitativeTypes;1",
    "dtmi:dtdl:extension:historization;1",
    "dtmi:dtdl:extension:annotation;1",
    "dtmi:dtdl:extension:overriding;1",
];

/// The content kinds ADT supports, plus Command (recognised only to refuse it clearly).
const CONTENT_KINDS: [&str; 5] = ["Property", "Telemetry", "Relationship", "Component", "Command"];

/// Parses a batch upload: a JSON array of Interfaces (a single object is a batch of one). Each
/// Interface is checked in isolation and returned with its canonical JSON text (what the store
/// keeps, and what [`parse_interface`] reads back).
pub fn parse_batch(json: &str) -> Result<Vec<(Interface, String)>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| err!(InvalidArgument, "the model upload is not valid JSON: {e}"))?;
    let elements = match value {
        Value::Array(a) => a,
        Value::Object(_) => vec![value],
        other => {
            return Err(err!(
                InvalidArgument,
                "the model upload must be a JSON array of DTDL Interfaces (or one Interface object), but it is {}",
                kind_of(&other)
            ));
        }
    };
    if elements.is_empty() {
        return Err(err!(
            InvalidArgument,
            "the model upload is an empty array; send at least one Interface"
        ));
    }
    if elements.len() > MAX_MODELS_PER_BATCH {
        return Err(err!(
            LimitExceeded,
            "the model upload has {} models; at most {MAX_MODELS_PER_BATCH} may be added in one call, so split it into several uploads (dependencies first)",
            elements.len()
        ));
    }
    let mut out: Vec<(Interface, String)> = Vec::with_capacity(elements.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, element) in elements.iter().enumerate() {
        let label = format!("element {} of the upload", i + 1);
        let text = serde_json::to_string(element)
            .map_err(|e| err!(InvalidArgument, "{label} cannot be serialized: {e}"))?;
        let iface = parse_value(element, text.len(), &label)?;
        if let Some(first) = seen.insert(iface.id.clone(), i + 1) {
            return Err(err!(
                DTDLParserError,
                "model {} appears twice in the upload (elements {first} and {}); each model may be uploaded once",
                iface.id,
                i + 1
            ));
        }
        out.push((iface, text));
    }
    Ok(out)
}

/// Parses one stored Interface JSON text (as returned by [`parse_batch`]) again, with the same
/// checks. Used to rebuild caches.
pub fn parse_interface(json: &str) -> Result<Interface> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| err!(InvalidArgument, "the model is not valid JSON: {e}"))?;
    let text = serde_json::to_string(&value)
        .map_err(|e| err!(InvalidArgument, "the model cannot be serialized: {e}"))?;
    parse_value(&value, text.len(), "the stored model")
}

/// The state of parsing one Interface, shared with [`super::parse_schema`].
pub(crate) struct Ctx {
    /// The Interface id (or a description of the element while the id is unknown), for messages.
    pub model: String,
    /// The DTDL version, 2 or 3.
    pub version: u8,
    /// Complex schema definitions that have an `@id`, wherever they appear in the Interface.
    pub named_raw: BTreeMap<String, Map<String, Value>>,
    /// Named schemas already expanded, with the number of elements each expansion adds.
    pub named_done: BTreeMap<String, (Schema, usize)>,
    /// Named schemas being expanded (to refuse a schema that contains itself).
    pub resolving: Vec<String>,
    /// Elements counted so far (see [`super::MAX_ELEMENTS_PER_INTERFACE`]).
    pub elements: usize,
}

impl Ctx {
    /// A `DTDLParserError` about this model.
    pub(crate) fn err(&self, what: String) -> Error {
        err!(DTDLParserError, "model {}: {what}", self.model)
    }
}

/// Parses one top-level element whose canonical JSON is `size` bytes; `label` ("element 3 of the
/// upload") names it in messages until its id is known.
fn parse_value(v: &Value, size: usize, label: &str) -> Result<Interface> {
    let Value::Object(obj) = v else {
        return Err(err!(
            DTDLParserError,
            "{label} is {}; every top-level element must be a DTDL Interface object",
            kind_of(v)
        ));
    };
    let model = match obj.get("@id") {
        Some(Value::String(id)) => shown(id),
        _ => format!("({label})"),
    };
    if size > MAX_MODEL_BYTES {
        return Err(err!(
            LimitExceeded,
            "model {model} is {size} bytes of JSON; a model may be at most {MAX_MODEL_BYTES} bytes (1 MiB)"
        ));
    }
    let mut ctx = Ctx {
        model,
        version: 3,
        named_raw: BTreeMap::new(),
        named_done: BTreeMap::new(),
        resolving: Vec::new(),
        elements: 0,
    };
    interface_type(&ctx, obj)?;
    let (version, extensions) = context(&ctx, obj)?;
    ctx.version = version;
    let id = interface_id(&ctx, obj)?;
    check_members(&ctx, obj, "the Interface", &["@context", "contents", "extends", "schemas"])?;
    check_descriptions(&ctx, obj, "the Interface")?;
    let extends = extends(&ctx, obj, &id)?;

    let mut ids = BTreeSet::from([id.clone()]);
    for key in ["contents", "schemas"] {
        if let Some(v) = obj.get(key) {
            collect_ids(&mut ctx, v, &mut ids)?;
        }
    }

    let mut schemas = BTreeMap::new();
    if let Some(v) = obj.get("schemas") {
        for (i, item) in items(v).into_iter().enumerate() {
            let (sid, s) = named_schema_entry(&mut ctx, item, i)?;
            schemas.insert(sid, s);
        }
    }

    let mut contents: Vec<Content> = Vec::new();
    if let Some(v) = obj.get("contents") {
        for (i, item) in items(v).into_iter().enumerate() {
            let c = content(&mut ctx, item, i, &id)?;
            if let Some(prev) = contents.iter().find(|p| p.name() == c.name()) {
                return Err(ctx.err(format!(
                    "content name '{}' is declared twice (as a {} and as a {}); names must be unique within an Interface",
                    c.name(),
                    prev.kind(),
                    c.kind()
                )));
            }
            contents.push(c);
        }
    }
    // Identified schemas defined inline but never referenced are still part of the model.
    let pending: Vec<String> =
        ctx.named_raw.keys().filter(|k| !ctx.named_done.contains_key(*k)).cloned().collect();
    for sid in pending {
        let s = schema(&mut ctx, &Value::String(sid.clone()), &format!("schema '{sid}'"), 0)?;
        schemas.insert(sid, s);
    }
    for (sid, (s, _)) in &ctx.named_done {
        schemas.entry(sid.clone()).or_insert_with(|| s.clone());
    }

    let text = |key: &str, max: usize| {
        obj.get(key)
            .map(|v| super::json::localizable(v, max).unwrap_or_default())
            .unwrap_or_default()
    };
    Ok(Interface {
        id,
        dtdl_version: version,
        extends,
        contents,
        display_name: text("displayName", 64),
        description: text("description", 512),
        comment: obj.get("comment").and_then(Value::as_str).map(str::to_string),
        schemas,
        extensions,
    })
}

/// Reads `@context`: the DTDL context first, then (v3 only) supported extensions.
fn context(ctx: &Ctx, obj: &Map<String, Value>) -> Result<(u8, Vec<String>)> {
    let Some(v) = obj.get("@context") else {
        return Err(ctx.err(
            "@context is missing; add \"@context\": \"dtmi:dtdl:context;3\" (or \"dtmi:dtdl:context;2\")".into(),
        ));
    };
    let Some(entries) = strings(v) else {
        return Err(ctx.err("@context must be a string or an array of strings".into()));
    };
    let version = |s: &str| match s {
        "dtmi:dtdl:context;2" => Some(2u8),
        "dtmi:dtdl:context;3" => Some(3u8),
        _ => None,
    };
    let Some(first) = entries.first() else {
        return Err(
            ctx.err("@context is an empty array; it must name dtmi:dtdl:context;3 (or ;2)".into())
        );
    };
    let Some(v) = version(first) else {
        return Err(ctx.err(match entries.iter().find(|e| version(e).is_some()) {
            Some(dtdl) => format!("@context must list the DTDL context ('{dtdl}') first"),
            None if first.starts_with("dtmi:dtdl:context;") => format!(
                "@context '{first}' names a DTDL version that is not supported; use dtmi:dtdl:context;3 or dtmi:dtdl:context;2"
            ),
            None => format!(
                "@context '{}' is not a DTDL context; use dtmi:dtdl:context;3 or dtmi:dtdl:context;2",
                shown(first)
            ),
        }));
    };
    let mut extensions = Vec::new();
    for e in &entries[1..] {
        if version(e).is_some() {
            return Err(ctx.err("@context names a DTDL context more than once".into()));
        }
        if v == 2 {
            return Err(ctx.err(format!(
                "@context entry '{}' is not allowed in DTDL v2; language extensions need dtmi:dtdl:context;3",
                shown(e)
            )));
        }
        if !SUPPORTED_EXTENSIONS.contains(e) {
            return Err(ctx.err(format!(
                "@context entry '{}' is not a supported DTDL extension; the supported ones are {}",
                shown(e),
                SUPPORTED_EXTENSIONS.join(", ")
            )));
        }
        if !extensions.iter().any(|x: &String| x == e) {
            extensions.push(e.to_string());
        }
    }
    Ok((v, extensions))
}

fn interface_type(ctx: &Ctx, obj: &Map<String, Value>) -> Result<()> {
    let Some(types) = obj.get("@type").and_then(strings) else {
        return Err(ctx.err(
            "@type is missing or not a string; every top-level element must have \"@type\": \"Interface\"".into(),
        ));
    };
    if !types.iter().any(|t| class_term(t) == "Interface") {
        return Err(ctx.err(format!(
            "@type is {}; every top-level element must be an Interface",
            types.join(", ")
        )));
    }
    for t in types.iter().filter(|t| class_term(t) != "Interface") {
        if CONTENT_KINDS.contains(&class_term(t)) || COMPLEX.contains(&class_term(t)) {
            return Err(ctx.err(format!("@type cannot be both Interface and {t}")));
        }
        check_cotype(t).map_err(|why| ctx.err(why))?;
    }
    Ok(())
}

fn interface_id(ctx: &Ctx, obj: &Map<String, Value>) -> Result<String> {
    let id = match obj.get("@id") {
        Some(Value::String(id)) => id,
        Some(other) => {
            return Err(ctx.err(format!("@id is {}; it must be a DTMI string", kind_of(other))));
        }
        None => return Err(ctx.err("@id is missing; every Interface needs a DTMI @id".into())),
    };
    dtmi::check(id).map_err(|why| ctx.err(format!("@id is not a valid DTMI: {why}")))?;
    if id.len() > MAX_INTERFACE_ID_CHARS {
        return Err(ctx.err(format!(
            "@id is {} characters long; an Interface id may be at most {MAX_INTERFACE_ID_CHARS}",
            id.len()
        )));
    }
    if dtmi::is_reserved(id) {
        return Err(ctx.err(
            "@id uses a reserved prefix (dtmi:dtdl: and dtmi:standard: belong to DTDL itself); choose another id".into(),
        ));
    }
    if ctx.version == 2 {
        match dtmi::parse_version(id) {
            None => {
                return Err(ctx.err(
                    "@id has no version; DTDL v2 Interface ids need one (like ';1'), or use DTDL v3".into(),
                ));
            }
            Some((_, Some(_))) => {
                return Err(ctx.err(
                    "@id has a two-part version, which only DTDL v3 allows; use ';N' or dtmi:dtdl:context;3".into(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(id.clone())
}

fn extends(ctx: &Ctx, obj: &Map<String, Value>, id: &str) -> Result<Vec<String>> {
    let Some(v) = obj.get("extends") else { return Ok(Vec::new()) };
    let mut out: Vec<String> = Vec::new();
    for item in items(v) {
        let parent = match item {
            Value::String(s) => s,
            Value::Object(_) => {
                return Err(ctx.err(
                    "extends contains an inline Interface; inline Interfaces are not supported: upload it as its own model and list its @id".into(),
                ));
            }
            other => {
                return Err(ctx.err(format!(
                    "extends contains {}; it must list Interface DTMIs",
                    kind_of(other)
                )));
            }
        };
        dtmi::check(parent).map_err(|why| {
            ctx.err(format!("extends '{}' is not a valid DTMI: {why}", shown(parent)))
        })?;
        if parent == id {
            return Err(ctx.err("the Interface extends itself".into()));
        }
        if out.contains(parent) {
            return Err(ctx.err(format!("extends lists '{parent}' twice")));
        }
        out.push(parent.clone());
    }
    if ctx.version == 2 && out.len() > MAX_V2_EXTENDS {
        return Err(ctx.err(format!(
            "extends lists {} Interfaces; DTDL v2 allows at most {MAX_V2_EXTENDS} (DTDL v3 has no such limit)",
            out.len()
        )));
    }
    Ok(out)
}

/// Walks every element under `v`, checking each `@id` (valid, unique in the Interface) and
/// remembering the complex schemas that have one, so they can be referenced by DTMI.
fn collect_ids(ctx: &mut Ctx, v: &Value, ids: &mut BTreeSet<String>) -> Result<()> {
    match v {
        Value::Array(a) => a.iter().try_for_each(|x| collect_ids(ctx, x, ids)),
        Value::Object(obj) => {
            if let Some(idv) = obj.get("@id") {
                let Value::String(eid) = idv else {
                    return Err(ctx.err(format!(
                        "an element has an @id that is {}; it must be a DTMI string",
                        kind_of(idv)
                    )));
                };
                dtmi::check(eid).map_err(|why| {
                    ctx.err(format!("element @id '{}' is not a valid DTMI: {why}", shown(eid)))
                })?;
                if dtmi::is_reserved(eid) {
                    return Err(ctx.err(format!(
                        "element @id '{}' uses a reserved prefix (dtmi:dtdl: or dtmi:standard:)",
                        shown(eid)
                    )));
                }
                if !ids.insert(eid.clone()) {
                    return Err(ctx.err(format!(
                        "@id '{}' is used by more than one element; element ids must be unique",
                        shown(eid)
                    )));
                }
                let is_complex = obj
                    .get("@type")
                    .and_then(strings)
                    .is_some_and(|ts| ts.iter().any(|t| COMPLEX.contains(&class_term(t))));
                if is_complex {
                    ctx.named_raw.insert(eid.clone(), obj.clone());
                }
            }
            obj.values().try_for_each(|x| collect_ids(ctx, x, ids))
        }
        _ => Ok(()),
    }
}

fn named_schema_entry(ctx: &mut Ctx, item: &Value, i: usize) -> Result<(String, Schema)> {
    let loc = format!("schemas entry {}", i + 1);
    let Value::Object(obj) = item else {
        return Err(ctx.err(format!(
            "{loc} is {}; each entry of 'schemas' must be a complex schema object with an @id",
            kind_of(item)
        )));
    };
    let Some(Value::String(sid)) = obj.get("@id") else {
        return Err(ctx.err(format!(
            "{loc} has no @id; schemas declared in 'schemas' need an @id to be referenced by"
        )));
    };
    if !ctx.named_raw.contains_key(sid) {
        // Not a complex schema: let the schema parser explain what is wrong with it.
        schema(ctx, item, &loc, 0)?;
    }
    let s = schema(ctx, &Value::String(sid.clone()), &format!("schema '{sid}'"), 0)?;
    Ok((sid.clone(), s))
}

/// Parses one element of `contents`.
fn content(ctx: &mut Ctx, item: &Value, i: usize, iface_id: &str) -> Result<Content> {
    let pos = format!("contents entry {}", i + 1);
    let Value::Object(obj) = item else {
        return Err(
            ctx.err(format!("{pos} is {}; contents entries must be objects", kind_of(item)))
        );
    };
    ctx.add_elements(1)?;
    let kind = content_kind(ctx, obj, &pos)?;
    if kind == "Command" {
        let which = match obj.get("name") {
            Some(Value::String(n)) => format!("content '{}'", shown(n)),
            _ => pos,
        };
        return Err(ctx.err(format!(
            "{which} is a Command; commands are not supported by Azure Digital Twins, so remove it from the model"
        )));
    }
    let name = element_name(ctx, obj, &format!("{pos} ({kind})"))?;
    let loc = format!("content '{name}'");
    check_descriptions(ctx, obj, &loc)?;
    match kind {
        "Property" => Ok(Content::Property(property(ctx, obj, name, &loc)?)),
        "Telemetry" => {
            check_members(ctx, obj, &loc, &["name", "schema"])?;
            let s = schema(ctx, required(ctx, obj, "schema", &loc)?, &loc, 0)?;
            Ok(Content::Telemetry(TelemetryDef { name, schema: s }))
        }
        "Relationship" => Ok(Content::Relationship(relationship(ctx, obj, name, &loc)?)),
        _ => {
            check_members(ctx, obj, &loc, &["name", "schema"])?;
            let target = match required(ctx, obj, "schema", &loc)? {
                Value::String(s) => s,
                Value::Object(_) => {
                    return Err(ctx.err(format!(
                        "{loc} defines its Interface inline; inline Interfaces are not supported: upload it as its own model and give the component its @id as schema"
                    )));
                }
                other => {
                    return Err(ctx.err(format!(
                        "{loc} has a schema that is {}; a component's schema is an Interface DTMI",
                        kind_of(other)
                    )));
                }
            };
            dtmi::check(target).map_err(|why| {
                ctx.err(format!(
                    "{loc} has schema '{}', which is not a valid DTMI: {why}",
                    shown(target)
                ))
            })?;
            if target == iface_id {
                return Err(ctx.err(format!(
                    "{loc} uses the Interface itself as its schema; a component cannot contain its own Interface"
                )));
            }
            Ok(Content::Component(ComponentDef { name, schema: target.clone() }))
        }
    }
}

/// The content kind named by `@type` (exactly one of Property, Telemetry, Relationship,
/// Component, or Command), after checking the co-types.
fn content_kind(ctx: &Ctx, obj: &Map<String, Value>, pos: &str) -> Result<&'static str> {
    let Some(types) = obj.get("@type").and_then(strings) else {
        return Err(ctx.err(format!(
            "{pos} has no string @type; give it \"@type\": \"Property\" (or Telemetry, Relationship, Component)"
        )));
    };
    let terms: Vec<&str> = types.iter().map(|t| class_term(t)).collect();
    if terms.contains(&"Interface") {
        return Err(ctx.err(format!(
            "{pos} is an Interface; inline Interfaces are not supported: upload it as its own model and reference it by @id"
        )));
    }
    let kinds: Vec<&'static str> =
        CONTENT_KINDS.iter().copied().filter(|k| terms.contains(k)).collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return Err(ctx.err(format!(
                "{pos} has @type {}, which is not a content kind; use Property, Telemetry, Relationship or Component",
                types.join(", ")
            )));
        }
        _ => {
            return Err(ctx.err(format!(
                "{pos} has more than one content kind in @type ({})",
                kinds.join(", ")
            )));
        }
    };
    for t in terms.iter().filter(|t| **t != kind) {
        if COMPLEX.contains(t) {
            return Err(ctx.err(format!("{pos} has @type {t} alongside {kind}")));
        }
        check_cotype(t).map_err(|why| ctx.err(format!("{pos}: {why}")))?;
    }
    Ok(kind)
}

/// A Property (of an Interface or of a Relationship).
fn property(
    ctx: &mut Ctx,
    obj: &Map<String, Value>,
    name: String,
    loc: &str,
) -> Result<PropertyDef> {
    check_members(ctx, obj, loc, &["name", "schema", "writable"])?;
    let s = schema(ctx, required(ctx, obj, "schema", loc)?, loc, 0)?;
    if ctx.version == 2 && s.contains_array() {
        return Err(ctx.err(format!(
            "{loc} is a Property whose schema contains an Array, which DTDL v2 allows only for Telemetry; use dtmi:dtdl:context;3 or a Map"
        )));
    }
    let writable = match obj.get("writable") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ctx.err(format!("{loc} has writable {other}; it must be true or false")));
        }
    };
    Ok(PropertyDef { name, schema: s, writable })
}

fn relationship(
    ctx: &mut Ctx,
    obj: &Map<String, Value>,
    name: String,
    loc: &str,
) -> Result<RelationshipDef> {
    check_members(
        ctx,
        obj,
        loc,
        &["name", "target", "properties", "minMultiplicity", "maxMultiplicity", "writable"],
    )?;
    let target = match obj.get("target") {
        None => None,
        Some(Value::String(t)) => {
            dtmi::check(t).map_err(|why| {
                ctx.err(format!(
                    "{loc} has target '{}', which is not a valid DTMI: {why}",
                    shown(t)
                ))
            })?;
            Some(t.clone())
        }
        Some(Value::Object(_)) => {
            return Err(ctx.err(format!(
                "{loc} defines its target Interface inline; inline Interfaces are not supported: give the target's @id"
            )));
        }
        Some(other) => {
            return Err(ctx.err(format!(
                "{loc} has a target that is {}; it must be an Interface DTMI",
                kind_of(other)
            )));
        }
    };
    let multiplicity = |key: &str| -> Result<Option<u64>> {
        match obj.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ctx.err(format!("{loc} has {key} {v}; it must be a non-negative integer"))
            }),
        }
    };
    let min_multiplicity = multiplicity("minMultiplicity")?;
    let max_multiplicity = multiplicity("maxMultiplicity")?;
    if min_multiplicity.is_some_and(|m| m != 0) {
        return Err(
            ctx.err(format!("{loc} has minMultiplicity other than 0, which DTDL does not allow"))
        );
    }
    if max_multiplicity == Some(0) {
        return Err(ctx.err(format!("{loc} has maxMultiplicity 0; it must be at least 1")));
    }
    if let Some(w) = obj.get("writable")
        && !w.is_boolean()
    {
        return Err(ctx.err(format!("{loc} has writable {w}; it must be true or false")));
    }
    let mut properties = BTreeMap::new();
    for item in obj.get("properties").map(items).unwrap_or_default() {
        let Value::Object(p) = item else {
            return Err(ctx.err(format!(
                "{loc} has a properties entry that is {}; each must be a Property object",
                kind_of(item)
            )));
        };
        ctx.add_elements(1)?;
        let pname = element_name(ctx, p, &format!("{loc}, a property"))?;
        let ploc = format!("property '{pname}' of relationship '{name}'");
        let is_property = p
            .get("@type")
            .and_then(strings)
            .is_some_and(|ts| ts.iter().any(|t| class_term(t) == "Property"));
        if !is_property {
            return Err(ctx.err(format!("{ploc} must have \"@type\": \"Property\"")));
        }
        if properties.contains_key(&pname) {
            return Err(ctx.err(format!("{loc} declares property '{pname}' twice")));
        }
        check_descriptions(ctx, p, &ploc)?;
        let def = property(ctx, p, pname.clone(), &ploc)?;
        properties.insert(pname, def);
    }
    Ok(RelationshipDef { name, target, properties, min_multiplicity, max_multiplicity })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
