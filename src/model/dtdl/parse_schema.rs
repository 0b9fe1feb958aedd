//! Parsing DTDL schemas: primitive terms, complex schema objects (Array, Enum, Map, Object) and
//! references to named schemas.
//!
//! A schema value is either a term (`"double"`), an inline complex schema object, or the DTMI of a
//! complex schema declared elsewhere in the same Interface (in `schemas`, or inline with an `@id`).
//! References are expanded here, once, so the parsed [`Schema`] is a self-contained tree. Expansion
//! is guarded three ways, all of which a hostile or mistaken model could otherwise break: a schema
//! that refers to itself is refused, nesting deeper than five complex levels is refused as DTDL
//! requires, and the total number of expanded elements is capped (a few named schemas referencing
//! each other can otherwise expand into billions of nodes).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::json::{check_name, class_term, items, kind_of, localizable, suggest, unknown_member};
use super::parse::Ctx;
use super::schema::{EnumValueSchema, Schema};
use super::{MAX_ELEMENTS_PER_INTERFACE, MAX_SCHEMA_DEPTH};
use crate::error::Result;
use crate::model::dtmi::shown;

/// The complex schema kinds.
pub(crate) const COMPLEX: [&str; 4] = ["Array", "Enum", "Map", "Object"];

/// Members every DTDL element may carry besides its own.
const COMMON: [&str; 5] = ["@type", "@id", "comment", "description", "displayName"];

/// Parses the schema `v` found at `loc` (e.g. "content 'temp'"), which sits under `depth`
/// complex schemas.
pub(crate) fn schema(ctx: &mut Ctx, v: &Value, loc: &str, depth: usize) -> Result<Schema> {
    match v {
        Value::String(s) => term_or_reference(ctx, s, loc, depth),
        Value::Object(obj) => complex(ctx, obj, loc, depth),
        // JSON-LD allows a one-element array wherever a single value is expected.
        Value::Array(a) if a.len() == 1 => schema(ctx, &a[0], loc, depth),
        other => Err(ctx.err(format!(
            "{loc} has a schema that is {}; a schema is a term such as \"double\", a complex schema object, or the @id of a schema declared in 'schemas'",
            kind_of(other)
        ))),
    }
}

fn term_or_reference(ctx: &mut Ctx, s: &str, loc: &str, depth: usize) -> Result<Schema> {
    if let Some(primitive) = Schema::from_term(s, ctx.version) {
        return Ok(primitive);
    }
    if Schema::is_v3_only_term(s) {
        return Err(ctx.err(format!(
            "{loc} has schema '{s}', which exists only in DTDL v3; change @context to \"dtmi:dtdl:context;3\" or use another schema"
        )));
    }
    if s.starts_with("dtmi:") {
        if ctx.named_raw.contains_key(s) {
            return named(ctx, s, loc, depth);
        }
        return Err(ctx.err(format!(
            "{loc} has unknown schema '{}'; a schema DTMI must be the @id of a complex schema declared in this Interface (schemas are not shared between Interfaces)",
            shown(s)
        )));
    }
    if COMPLEX.contains(&s) {
        return Err(ctx.err(format!(
            "{loc} has schema '{s}' written as a term; write a complex schema as an object, like {{\"@type\": \"{s}\", …}}"
        )));
    }
    let terms = Schema::terms(ctx.version);
    let hint = match suggest(s, terms.iter().copied()) {
        Some(t) => format!("did you mean '{t}'?"),
        None => format!(
            "the built-in schemas are {}; complex schemas are written as objects, or referenced by the @id of one declared in 'schemas'",
            terms.join(", ")
        ),
    };
    Err(ctx.err(format!("{loc} has unknown schema '{}'; {hint}", shown(s))))
}

/// Expands the named schema `id` used at `loc`.
fn named(ctx: &mut Ctx, id: &str, loc: &str, depth: usize) -> Result<Schema> {
    if let Some((s, count)) = ctx.named_done.get(id) {
        let (s, count) = (s.clone(), *count);
        if depth + s.depth() > MAX_SCHEMA_DEPTH {
            return Err(too_deep(ctx, &format!("{loc} (through schema '{id}')")));
        }
        ctx.add_elements(count)?;
        return Ok(s);
    }
    if ctx.resolving.iter().any(|r| r == id) {
        let mut chain = ctx.resolving.clone();
        chain.push(id.to_string());
        return Err(ctx.err(format!(
            "schema '{id}' refers to itself ({}); a complex schema cannot contain itself",
            chain.join(" -> ")
        )));
    }
    let obj = ctx.named_raw[id].clone();
    ctx.resolving.push(id.to_string());
    let before = ctx.elements;
    let parsed = complex(ctx, &obj, &format!("schema '{id}'"), depth);
    ctx.resolving.pop();
    let parsed = parsed?;
    ctx.named_done.insert(id.to_string(), (parsed.clone(), ctx.elements - before));
    Ok(parsed)
}

fn too_deep(ctx: &Ctx, loc: &str) -> crate::error::Error {
    ctx.err(format!(
        "{loc} nests complex schemas more than {MAX_SCHEMA_DEPTH} levels deep; DTDL allows at most {MAX_SCHEMA_DEPTH}"
    ))
}

/// Parses an inline complex schema object.
fn complex(ctx: &mut Ctx, obj: &Map<String, Value>, loc: &str, depth: usize) -> Result<Schema> {
    let kind = complex_kind(ctx, obj, loc)?;
    if depth + 1 > MAX_SCHEMA_DEPTH {
        return Err(too_deep(ctx, loc));
    }
    // A schema with an @id is in `named_raw`; if it is defined inline here, guard its recursion
    // the same way as a reference to it.
    let own_id = obj.get("@id").and_then(Value::as_str).map(str::to_string);
    let pushed = match &own_id {
        Some(id) if !ctx.resolving.contains(id) => {
            ctx.resolving.push(id.clone());
            true
        }
        _ => false,
    };
    let result = complex_body(ctx, kind, obj, loc, depth);
    if pushed {
        ctx.resolving.pop();
    }
    result
}

fn complex_body(
    ctx: &mut Ctx,
    kind: &str,
    obj: &Map<String, Value>,
    loc: &str,
    depth: usize,
) -> Result<Schema> {
    ctx.add_elements(1)?;
    let own: &[&str] = match kind {
        "Array" => &["elementSchema"],
        "Enum" => &["valueSchema", "enumValues"],
        "Map" => &["mapKey", "mapValue"],
        _ => &["fields"],
    };
    check_members(ctx, obj, loc, own)?;
    check_descriptions(ctx, obj, loc)?;
    match kind {
        "Array" => {
            let element = required(ctx, obj, "elementSchema", loc)?;
            let element = schema(ctx, element, &format!("{loc}, element schema"), depth + 1)?;
            Ok(Schema::Array(Box::new(element)))
        }
        "Enum" => enumeration(ctx, obj, loc),
        "Map" => map(ctx, obj, loc, depth),
        _ => object(ctx, obj, loc, depth),
    }
}

/// Reads the complex kind from `@type` (one of [`COMPLEX`]).
fn complex_kind(ctx: &Ctx, obj: &Map<String, Value>, loc: &str) -> Result<&'static str> {
    let Some(types) = obj.get("@type").and_then(super::json::strings) else {
        return Err(ctx.err(format!(
            "{loc} has a schema object without a string @type; give it \"@type\": \"Object\" (or Array, Enum, Map)"
        )));
    };
    let terms: Vec<&str> = types.iter().map(|t| class_term(t)).collect();
    if terms.contains(&"Interface") {
        return Err(ctx.err(format!(
            "{loc} defines an Interface inline; inline Interfaces are not supported: upload it as its own model and use a Component to embed it"
        )));
    }
    let kinds: Vec<&'static str> = COMPLEX.iter().copied().filter(|k| terms.contains(k)).collect();
    match kinds.as_slice() {
        [one] => {
            for t in terms.iter().filter(|t| !COMPLEX.contains(t)) {
                super::json::check_cotype(t).map_err(|why| ctx.err(format!("{loc}: {why}")))?;
            }
            Ok(one)
        }
        [] => Err(ctx.err(format!(
            "{loc} has a schema object with @type {}; a complex schema's @type is Array, Enum, Map or Object",
            types.join(", ")
        ))),
        _ => Err(ctx.err(format!(
            "{loc} has a schema object with more than one schema kind in @type ({})",
            kinds.join(", ")
        ))),
    }
}

fn enumeration(ctx: &mut Ctx, obj: &Map<String, Value>, loc: &str) -> Result<Schema> {
    let value_schema = match required(ctx, obj, "valueSchema", loc)? {
        Value::String(s) if s == "integer" => EnumValueSchema::Integer,
        Value::String(s) if s == "string" => EnumValueSchema::String,
        other => {
            return Err(ctx.err(format!(
                "{loc} is an Enum with valueSchema {}; it must be \"integer\" or \"string\"",
                super::schema::found(other)
            )));
        }
    };
    let mut values: Vec<(String, Value)> = Vec::new();
    let mut seen_values = BTreeSet::new();
    for item in obj.get("enumValues").map(items).unwrap_or_default() {
        let Value::Object(ev) = item else {
            return Err(ctx.err(format!(
                "{loc} has an enumValues entry that is {}; each must be an object with name and enumValue",
                kind_of(item)
            )));
        };
        ctx.add_elements(1)?;
        let name = element_name(ctx, ev, &format!("{loc}, an enum value"))?;
        let vloc = format!("{loc}, enum value '{name}'");
        check_optional_type(ctx, ev, &vloc, "EnumValue")?;
        check_members(ctx, ev, &vloc, &["name", "enumValue"])?;
        check_descriptions(ctx, ev, &vloc)?;
        let v = required(ctx, ev, "enumValue", &vloc)?;
        let fits = match value_schema {
            EnumValueSchema::Integer => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            EnumValueSchema::String => v.is_string(),
        };
        if !fits {
            let want = match value_schema {
                EnumValueSchema::Integer => "an integer",
                EnumValueSchema::String => "a string",
            };
            return Err(ctx.err(format!(
                "{vloc} has enumValue {}, but the Enum's valueSchema needs {want}",
                super::schema::found(v)
            )));
        }
        if values.iter().any(|(n, _)| *n == name) {
            return Err(ctx.err(format!("{loc} declares enum value name '{name}' twice")));
        }
        if !seen_values.insert(v.to_string()) {
            return Err(ctx.err(format!("{loc} declares enumValue {v} twice")));
        }
        values.push((name, v.clone()));
    }
    Ok(Schema::Enum { value_schema, values })
}

fn map(ctx: &mut Ctx, obj: &Map<String, Value>, loc: &str, depth: usize) -> Result<Schema> {
    let key = required_object(ctx, obj, "mapKey", loc)?;
    let kloc = format!("{loc}, map key");
    element_name(ctx, key, &kloc)?;
    check_optional_type(ctx, key, &kloc, "MapKey")?;
    check_members(ctx, key, &kloc, &["name", "schema"])?;
    check_descriptions(ctx, key, &kloc)?;
    match required(ctx, key, "schema", &kloc)? {
        Value::String(s) if s == "string" => {}
        other => {
            return Err(ctx.err(format!(
                "{kloc} has schema {}; map keys must have schema \"string\"",
                super::schema::found(other)
            )));
        }
    }
    let value = required_object(ctx, obj, "mapValue", loc)?;
    let vloc = format!("{loc}, map value");
    element_name(ctx, value, &vloc)?;
    check_optional_type(ctx, value, &vloc, "MapValue")?;
    check_members(ctx, value, &vloc, &["name", "schema"])?;
    check_descriptions(ctx, value, &vloc)?;
    ctx.add_elements(2)?;
    let value_schema = schema(ctx, required(ctx, value, "schema", &vloc)?, &vloc, depth + 1)?;
    Ok(Schema::Map { value: Box::new(value_schema) })
}

fn object(ctx: &mut Ctx, obj: &Map<String, Value>, loc: &str, depth: usize) -> Result<Schema> {
    let mut fields = BTreeMap::new();
    for item in obj.get("fields").map(items).unwrap_or_default() {
        let Value::Object(f) = item else {
            return Err(ctx.err(format!(
                "{loc} has a fields entry that is {}; each must be an object with name and schema",
                kind_of(item)
            )));
        };
        ctx.add_elements(1)?;
        let name = element_name(ctx, f, &format!("{loc}, a field"))?;
        let floc = format!("{loc}, field '{name}'");
        check_optional_type(ctx, f, &floc, "Field")?;
        check_members(ctx, f, &floc, &["name", "schema"])?;
        check_descriptions(ctx, f, &floc)?;
        if fields.contains_key(&name) {
            return Err(ctx.err(format!("{loc} declares field '{name}' twice")));
        }
        let s = schema(ctx, required(ctx, f, "schema", &floc)?, &floc, depth + 1)?;
        fields.insert(name, s);
    }
    Ok(Schema::Object { fields })
}

/// Reads and checks an element's `name`.
pub(crate) fn element_name(ctx: &Ctx, obj: &Map<String, Value>, loc: &str) -> Result<String> {
    match obj.get("name") {
        Some(Value::String(n)) => {
            check_name(n, ctx.version)
                .map_err(|why| ctx.err(format!("{loc} has name '{}', which {why}", shown(n))))?;
            Ok(n.clone())
        }
        Some(other) => {
            Err(ctx
                .err(format!("{loc} has a name that is {}; it must be a string", kind_of(other))))
        }
        None => Err(ctx.err(format!("{loc} has no name"))),
    }
}

/// The member `key`, which `loc` must have.
pub(crate) fn required<'v>(
    ctx: &Ctx,
    obj: &'v Map<String, Value>,
    key: &str,
    loc: &str,
) -> Result<&'v Value> {
    obj.get(key).ok_or_else(|| ctx.err(format!("{loc} is missing '{key}'")))
}

fn required_object<'v>(
    ctx: &Ctx,
    obj: &'v Map<String, Value>,
    key: &str,
    loc: &str,
) -> Result<&'v Map<String, Value>> {
    match required(ctx, obj, key, loc)? {
        Value::Object(o) => Ok(o),
        other => {
            Err(ctx
                .err(format!("{loc} has '{key}' that is {}; it must be an object", kind_of(other))))
        }
    }
}

/// An optional `@type` on a sub-element (EnumValue, Field, MapKey, MapValue) must name that class.
fn check_optional_type(ctx: &Ctx, obj: &Map<String, Value>, loc: &str, class: &str) -> Result<()> {
    let Some(t) = obj.get("@type") else { return Ok(()) };
    match super::json::strings(t) {
        Some(ts) if ts.iter().any(|x| class_term(x) == class) => Ok(()),
        _ => Err(ctx.err(format!("{loc} has @type {t}; if given, it must be \"{class}\""))),
    }
}

/// Refuses members a DTDL element of this kind does not have (a misspelt `elementSchema`, say),
/// unless the element is co-typed, in which case DTDL allows members the co-type defines.
pub(crate) fn check_members(
    ctx: &Ctx,
    obj: &Map<String, Value>,
    loc: &str,
    own: &[&str],
) -> Result<()> {
    let cotyped = obj.get("@type").and_then(super::json::strings).is_some_and(|ts| ts.len() > 1);
    if cotyped {
        return Ok(());
    }
    let allowed: Vec<&str> = COMMON.iter().chain(own).copied().collect();
    if let Some(m) = unknown_member(obj, &allowed) {
        let hint = match suggest(m, allowed.iter().copied()) {
            Some(s) => format!("; did you mean '{s}'?"),
            None => format!("; the members it may have are {}", allowed.join(", ")),
        };
        return Err(ctx.err(format!("{loc} has unknown member '{}'{hint}", shown(m))));
    }
    Ok(())
}

/// Checks `displayName` (64 characters), `description` and `comment` (512) where present.
pub(crate) fn check_descriptions(ctx: &Ctx, obj: &Map<String, Value>, loc: &str) -> Result<()> {
    for (key, max) in [("displayName", 64), ("description", 512)] {
        if let Some(v) = obj.get(key) {
            localizable(v, max).map_err(|why| ctx.err(format!("{loc} has a {key} that {why}")))?;
        }
    }
    if let Some(c) = obj.get("comment") {
        match c {
            Value::String(s) if s.chars().count() <= 512 => {}
            Value::String(s) => {
                return Err(ctx.err(format!(
                    "{loc} has a comment of {} characters; at most 512 are allowed",
                    s.chars().count()
                )));
            }
            other => {
                return Err(ctx.err(format!(
                    "{loc} has a comment that is {}; it must be a string",
                    kind_of(other)
                )));
            }
        }
    }
    Ok(())
}

/// Guards against unbounded expansion.
impl Ctx {
    pub(crate) fn add_elements(&mut self, n: usize) -> Result<()> {
        self.elements += n;
        if self.elements > MAX_ELEMENTS_PER_INTERFACE {
            return Err(crate::err!(
                LimitExceeded,
                "model {}: its contents hierarchy has more than {MAX_ELEMENTS_PER_INTERFACE} elements (counting every use of a named schema); DTDL allows at most {MAX_ELEMENTS_PER_INTERFACE}",
                self.model
            ));
        }
        Ok(())
    }
}
