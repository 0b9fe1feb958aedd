//! Tests of [`super::resolve`] and twin / relationship validation against a resolved model.

use super::*;
use crate::error::ErrorCode;
use crate::model::dtdl::{Interface, parse_batch};
use serde_json::json;

type Store = BTreeMap<String, Arc<Interface>>;

/// Base (name, address, contains -> Room with `since`, temp telemetry) <- Room (temperature,
/// thermostat component) ; Thermostat (setPoint, mode enum).
fn store() -> Store {
    let models = json!([
        {
            "@context": "dtmi:dtdl:context;3", "@id": "dtmi:x:Base;1", "@type": "Interface",
            "contents": [
                {"@type": "Property", "name": "name", "schema": "string"},
                {"@type": "Property", "name": "address", "schema": {"@type": "Object", "fields": [
                    {"name": "city", "schema": "string"}, {"name": "zip", "schema": "string"}]}},
                {"@type": "Relationship", "name": "contains", "target": "dtmi:x:Room;1",
                 "properties": [{"@type": "Property", "name": "since", "schema": "date"}]},
                {"@type": "Telemetry", "name": "temp", "schema": "double"}
            ]
        },
        {
            "@context": "dtmi:dtdl:context;3", "@id": "dtmi:x:Room;1", "@type": "Interface",
            "extends": "dtmi:x:Base;1",
            "contents": [
                {"@type": "Property", "name": "temperature", "schema": "double"},
                {"@type": "Component", "name": "thermostat", "schema": "dtmi:x:Thermostat;1"}
            ]
        },
        {
            "@context": "dtmi:dtdl:context;3", "@id": "dtmi:x:Thermostat;1", "@type": "Interface",
            "contents": [
                {"@type": "Property", "name": "setPoint", "schema": "double"},
                {"@type": "Property", "name": "mode", "schema": {"@type": "Enum", "valueSchema": "string",
                    "enumValues": [{"name": "heat", "enumValue": "HEAT"}, {"name": "cool", "enumValue": "COOL"}]}}
            ]
        }
    ]);
    parse_batch(&models.to_string())
        .unwrap()
        .into_iter()
        .map(|(i, _)| (i.id.clone(), Arc::new(i)))
        .collect()
}

fn room() -> ResolvedModel {
    resolve("dtmi:x:Room;1", &store()).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn invalid(model: &ResolvedModel, doc: Value, code: ErrorCode, expect: &str) -> String {
    let e = model.validate_contents(&obj(doc.clone())).expect_err(&format!("should refuse {doc}"));
    assert_eq!(e.code, code, "{e}");
    assert!(e.message.contains(expect), "message {:?} should contain {expect:?}", e.message);
    e.message
}

#[test]
fn resolves_inherited_contents_and_components() {
    let r = room();
    assert_eq!(r.id, "dtmi:x:Room;1");
    assert_eq!(
        r.ancestors,
        BTreeSet::from(["dtmi:x:Room;1".to_string(), "dtmi:x:Base;1".to_string()])
    );
    assert_eq!(r.properties.keys().collect::<Vec<_>>(), ["address", "name", "temperature"]);
    assert_eq!(r.relationships.keys().collect::<Vec<_>>(), ["contains"]);
    assert_eq!(r.telemetry.keys().collect::<Vec<_>>(), ["temp"]);
    assert_eq!(r.components["thermostat"].id, "dtmi:x:Thermostat;1");
    assert!(r.components["thermostat"].properties.contains_key("setPoint"));
    assert!(r.relationship("contains").is_some());
}

#[test]
fn is_a_follows_extends() {
    let r = room();
    assert!(r.is_a("dtmi:x:Room;1"));
    assert!(r.is_a("dtmi:x:Base;1"));
    assert!(!r.is_a("dtmi:x:Thermostat;1"));
    assert!(!resolve("dtmi:x:Base;1", &store()).unwrap().is_a("dtmi:x:Room;1"));
}

#[test]
fn dependencies_of_a_stored_model() {
    let s = store();
    assert_eq!(s["dtmi:x:Room;1"].dependencies(), vec!["dtmi:x:Base;1", "dtmi:x:Thermostat;1"]);
    assert!(s["dtmi:x:Base;1"].dependencies().is_empty());
}

#[test]
fn missing_models_are_not_found() {
    let e = resolve("dtmi:x:Nope;1", &store()).unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelNotFound);
    assert!(e.message.contains("dtmi:x:Nope;1"));
    let mut s = store();
    s.remove("dtmi:x:Base;1");
    let e = resolve("dtmi:x:Room;1", &s).unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelNotFound);
    assert!(e.message.contains("extends dtmi:x:Base;1"), "{e}");
    let mut s = store();
    s.remove("dtmi:x:Thermostat;1");
    let e = resolve("dtmi:x:Room;1", &s).unwrap_err();
    assert_eq!(e.code, ErrorCode::ModelNotFound);
    assert!(e.message.contains("component 'thermostat'"), "{e}");
}

#[test]
fn accepts_a_valid_twin_with_inherited_properties_and_components() {
    let r = room();
    let doc = json!({
        "name": "Lobby",
        "address": {"city": "Oslo"},
        "temperature": 21.5,
        "thermostat": {"setPoint": 20, "mode": "HEAT", "$metadata": {}}
    });
    r.validate_contents(&obj(doc)).unwrap();
    // Properties are optional; the component may be empty.
    r.validate_contents(&obj(json!({"thermostat": {}}))).unwrap();
    // '$' keys are not properties.
    r.validate_contents(&obj(json!({"thermostat": {}, "$dtId": "x", "$metadata": {}}))).unwrap();
}

#[test]
fn refuses_undeclared_properties() {
    let r = room();
    let msg =
        invalid(&r, json!({"thermostat": {}, "colour": "red"}), ErrorCode::ValidationFailed, "");
    assert_eq!(msg, "twin property 'colour' is not defined in model dtmi:x:Room;1");
    invalid(
        &r,
        json!({"thermostat": {}, "temprature": 1}),
        ErrorCode::ValidationFailed,
        "did you mean 'temperature'?",
    );
    invalid(
        &r,
        json!({"thermostat": {}, "contains": 1}),
        ErrorCode::ValidationFailed,
        "'contains' is a relationship",
    );
    invalid(
        &r,
        json!({"thermostat": {}, "temp": 1}),
        ErrorCode::ValidationFailed,
        "'temp' is a telemetry",
    );
}

#[test]
fn refuses_wrong_types_with_the_path() {
    let r = room();
    let msg = invalid(
        &r,
        json!({"thermostat": {}, "temperature": "warm"}),
        ErrorCode::ValidationFailed,
        "",
    );
    assert_eq!(
        msg,
        "twin property 'temperature' does not match its schema in model dtmi:x:Room;1: value at 'temperature' must be a number, found \"warm\""
    );
    invalid(
        &r,
        json!({"thermostat": {}, "address": {"zip": 12}}),
        ErrorCode::ValidationFailed,
        "value at 'address.zip' must be a string, found 12",
    );
}

#[test]
fn components_are_required_objects_validated_against_their_model() {
    let r = room();
    invalid(
        &r,
        json!({"name": "x"}),
        ErrorCode::ValidationFailed,
        "component 'thermostat' is required by model dtmi:x:Room;1 but is missing",
    );
    invalid(
        &r,
        json!({"thermostat": 5}),
        ErrorCode::ValidationFailed,
        "must be a JSON object, found 5",
    );
    let msg =
        invalid(&r, json!({"thermostat": {"setPoint": "hot"}}), ErrorCode::ValidationFailed, "");
    assert!(
        msg.starts_with("in component 'thermostat': twin property 'setPoint' does not match its schema in model dtmi:x:Thermostat;1"),
        "{msg}"
    );
    invalid(
        &r,
        json!({"thermostat": {"mode": "OFF"}}),
        ErrorCode::ValidationFailed,
        "one of the enum values \"HEAT\" (heat), \"COOL\" (cool)",
    );
    invalid(
        &r,
        json!({"thermostat": {"name": "x"}}),
        ErrorCode::ValidationFailed,
        "in component 'thermostat': twin property 'name' is not defined in model dtmi:x:Thermostat;1",
    );
}

#[test]
fn long_property_names_exceed_a_limit() {
    let r = room();
    let long = "p".repeat(1025);
    let mut doc = obj(json!({"thermostat": {}}));
    doc.insert(long, json!(1));
    let e = r.validate_contents(&doc).unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert!(e.message.contains("at most 1024 bytes"), "{e}");
}

#[test]
fn long_string_values_are_refused() {
    let r = room();
    let msg = invalid(
        &r,
        json!({"thermostat": {}, "name": "n".repeat(4097)}),
        ErrorCode::ValidationFailed,
        "at most 4096 bytes",
    );
    assert!(msg.len() < 300, "{msg}");
}

#[test]
fn relationship_properties_are_validated() {
    let r = room();
    r.validate_relationship_properties(
        "contains",
        &obj(json!({"since": "2020-02-04", "$targetId": "x"})),
    )
    .unwrap();
    r.validate_relationship_properties("contains", &Map::new()).unwrap();
    let e = r
        .validate_relationship_properties("contains", &obj(json!({"since": "yesterday"})))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert!(e.message.contains("value at 'since' must be a date string"), "{e}");
    let e = r.validate_relationship_properties("contains", &obj(json!({"until": 1}))).unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(
        e.message,
        "relationship property 'until' is not defined on relationship 'contains' of model dtmi:x:Room;1"
    );
    let e = r.validate_relationship_properties("contain", &Map::new()).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRelationship);
    assert!(e.message.contains("did you mean 'contains'?"), "{e}");
}
