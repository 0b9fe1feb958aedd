//! Relationship documents in ADT's shape, and the rules for writing them.
//!
//! A stored relationship is the document GET returns:
//! `{"$relationshipId", "$etag", "$sourceId", "$targetId", "$relationshipName", <properties>}`.
//!
//! The rules (ADT's): the name must be declared on the source twin's model (or a model it
//! extends); the target twin must exist and be of the declared target model (or one extending it);
//! a twin may not have a relationship to itself; properties must match the relationship's declared
//! properties. A patch may change properties only: the target and name are fixed once created.
//! Existence checks need the store, so they live in `storage`; the pure parts live here.

use crate::err;
use crate::error::Result;
use crate::model::dtdl::ResolvedModel;
use crate::model::limits;
use crate::model::patch::Patch;
use serde_json::{Map, Value};

/// The parts of a create-or-replace request.
#[derive(Clone, Debug, PartialEq)]
pub struct RelationshipInput {
    /// `$targetId`.
    pub target: String,
    /// `$relationshipName`.
    pub name: String,
    /// The user properties (every key not starting with `$`).
    pub properties: Map<String, Value>,
}

/// Parses and checks the shape of a relationship request document.
pub fn parse_input(
    source: &str,
    id: &str,
    input: &Map<String, Value>,
) -> Result<RelationshipInput> {
    let field = |name: &str| -> Result<String> {
        match input.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(err!(InvalidArgument, "'{name}' must be a non-empty string")),
            None => Err(err!(InvalidArgument, "the relationship has no '{name}'")),
        }
    };
    let target = field("$targetId")?;
    let name = field("$relationshipName")?;
    limits::check_id("target twin", &target)?;
    for (k, want) in [("$sourceId", source), ("$relationshipId", id)] {
        if let Some(v) = input.get(k)
            && v.as_str() != Some(want)
        {
            return Err(err!(
                InvalidArgument,
                "'{k}' in the document is {v} but the request is for '{want}'"
            ));
        }
    }
    let mut properties = Map::new();
    for (k, v) in input {
        if k.starts_with('$') {
            match k.as_str() {
                "$targetId" | "$relationshipName" | "$sourceId" | "$relationshipId" | "$etag" => {}
                _ => return Err(err!(InvalidArgument, "'{k}' is not a relationship field")),
            }
        } else {
            properties.insert(k.clone(), v.clone());
        }
    }
    if source == target {
        return Err(err!(
            OperationNotAllowed,
            "a relationship may not connect twin '{source}' to itself"
        ));
    }
    Ok(RelationshipInput { target, name, properties })
}

/// Checks the relationship against the source and target models: the name is declared on the
/// source's model, the target's model is the declared target (or extends it), the properties
/// match.
pub fn check_models(
    input: &RelationshipInput,
    source_model: &ResolvedModel,
    target_model_id: &str,
    target_model: Option<&ResolvedModel>,
) -> Result<()> {
    let Some(def) = source_model.relationships.get(&input.name) else {
        return Err(err!(
            InvalidRelationship,
            "model {} declares no relationship named '{}'",
            source_model.id,
            input.name
        ));
    };
    if let Some(want) = &def.target {
        let ok = match target_model {
            Some(m) => m.is_a(want),
            None => target_model_id == want,
        };
        if !ok {
            return Err(err!(
                InvalidRelationship,
                "relationship '{}' must target a twin of model {want}, but the target is of model {target_model_id}",
                input.name
            ));
        }
    }
    source_model.validate_relationship_properties(&input.name, &input.properties)
}

/// Builds the stored document.
pub fn build(source: &str, id: &str, input: &RelationshipInput, etag: &str) -> Result<Value> {
    let mut doc = input.properties.clone();
    doc.insert("$relationshipId".into(), Value::String(id.to_string()));
    doc.insert("$etag".into(), Value::String(etag.to_string()));
    doc.insert("$sourceId".into(), Value::String(source.to_string()));
    doc.insert("$targetId".into(), Value::String(input.target.clone()));
    doc.insert("$relationshipName".into(), Value::String(input.name.clone()));
    let size = serde_json::to_string(&doc).map(|s| s.len()).unwrap_or(0);
    limits::check_size("relationship document", size, limits::MAX_PAYLOAD_BYTES)?;
    Ok(Value::Object(doc))
}

/// Applies a patch to a stored relationship: properties only.
pub fn patch(
    current: &Value,
    patch: &Patch,
    source_model: &ResolvedModel,
    etag: &str,
) -> Result<Value> {
    for op in &patch.ops {
        if op.path[0].starts_with('$') {
            return Err(err!(
                JsonPatchInvalid,
                "'/{}' cannot be patched: a relationship's id, source, target and name are fixed; \
                 delete it and create a new one to change them",
                op.path[0]
            ));
        }
    }
    let patched = patch.apply(current)?;
    let Value::Object(mut doc) = patched else {
        return Err(err!(
            JsonPatchInvalid,
            "the patch replaced the relationship with a non-object"
        ));
    };
    let name = doc.get("$relationshipName").and_then(Value::as_str).unwrap_or_default().to_string();
    let props: Map<String, Value> = doc
        .iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    source_model.validate_relationship_properties(&name, &props)?;
    doc.insert("$etag".into(), Value::String(etag.to_string()));
    Ok(Value::Object(doc))
}

/// The entry `ListIncomingRelationships` returns for a relationship.
pub fn incoming_entry(source: &str, id: &str, name: &str) -> Value {
    serde_json::json!({
        "$relationshipId": id,
        "$sourceId": source,
        "$relationshipName": name,
        "$relationshipLink": format!("/digitaltwins/{source}/relationships/{id}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_the_request_shape() {
        let i = parse_input(
            "a",
            "r1",
            &obj(json!({"$targetId": "b", "$relationshipName": "contains", "since": 3})),
        )
        .unwrap();
        assert_eq!(i.target, "b");
        assert_eq!(i.name, "contains");
        assert_eq!(i.properties, obj(json!({"since": 3})));
    }

    #[test]
    fn refuses_bad_shapes() {
        let code = |v: Value| parse_input("a", "r1", &obj(v)).unwrap_err().code;
        assert_eq!(code(json!({"$relationshipName": "x"})), ErrorCode::InvalidArgument);
        assert_eq!(code(json!({"$targetId": "b"})), ErrorCode::InvalidArgument);
        assert_eq!(
            code(json!({"$targetId": 1, "$relationshipName": "x"})),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(json!({"$targetId": "a", "$relationshipName": "x"})),
            ErrorCode::OperationNotAllowed
        );
        assert_eq!(
            code(json!({"$targetId": "b", "$relationshipName": "x", "$weird": 1})),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(json!({"$targetId": "b", "$relationshipName": "x", "$sourceId": "other"})),
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn builds_the_adt_document() {
        let i = parse_input(
            "a",
            "r1",
            &obj(json!({"$targetId": "b", "$relationshipName": "contains"})),
        )
        .unwrap();
        let doc = build("a", "r1", &i, "W/\"e\"").unwrap();
        assert_eq!(
            doc,
            json!({"$relationshipId": "r1", "$etag": "W/\"e\"", "$sourceId": "a", "$targetId": "b", "$relationshipName": "contains"})
        );
        let e = incoming_entry("a", "r1", "contains");
        assert_eq!(e["$relationshipLink"], "/digitaltwins/a/relationships/r1");
    }
}
