//! Tests of the state machine: apply over a temporary sled store.

use super::*;
use crate::error::ErrorCode;
use crate::model::time::Timestamp;
use serde_json::{Value, json};

/// A small model set: a Room with a Thermostat component, that may contain Sensors.
pub(crate) const MODELS: &str = r#"[
  {"@id": "dtmi:test:Thermostat;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "setpoint", "schema": "double", "writable": true}]},
  {"@id": "dtmi:test:Sensor;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "kind", "schema": "string"}]},
  {"@id": "dtmi:test:Space;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "name", "schema": "string"},
                {"@type": "Relationship", "name": "contains", "target": "dtmi:test:Sensor;1",
                 "properties": [{"@type": "Property", "name": "since", "schema": "integer"}]}]},
  {"@id": "dtmi:test:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "extends": "dtmi:test:Space;1",
   "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                {"@type": "Property", "name": "capacity", "schema": "integer"},
                {"@type": "Component", "name": "thermostat", "schema": "dtmi:test:Thermostat;1"}]}
]"#;

pub(crate) struct Harness {
    pub store: Store,
    pub index: u64,
    pub time: u64,
}

impl Harness {
    pub fn new() -> Harness {
        let mut h = Harness::empty();
        h.ok(Op::AddModels { json: MODELS.into() });
        h
    }

    /// A store with nothing applied yet.
    pub fn empty() -> Harness {
        Harness { store: Store::temporary().unwrap(), index: 0, time: 1_700_000_000_000_000_000 }
    }

    pub fn run(&mut self, request: Option<RequestId>, op: Op) -> Outcome {
        self.index += 1;
        self.time += 1_000_000;
        let cmd = Command { request, time: Timestamp(self.time), epoch: 1, origin: None, op };
        self.store.apply(self.index, &cmd).unwrap()
    }

    pub fn ok(&mut self, op: Op) -> Reply {
        let name = op.name();
        self.run(None, op).unwrap_or_else(|e| panic!("{name} failed: {e}"))
    }

    pub fn fail(&mut self, op: Op) -> ErrorCode {
        match self.run(None, op) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e.code,
        }
    }

    pub fn put_twin(&mut self, id: &str, doc: Value) -> String {
        match self.ok(put(id, doc)) {
            Reply::Twin { etag, .. } => etag,
            other => panic!("{other:?}"),
        }
    }

    pub fn twin(&self, id: &str) -> Option<Value> {
        self.store.twin(id).unwrap().map(|t| serde_json::from_str(&t).unwrap())
    }
}

pub(crate) fn put(id: &str, doc: Value) -> Op {
    Op::PutTwin { id: id.into(), json: doc.to_string(), pre: Precondition::default() }
}

fn patch(id: &str, p: Value, if_match: Option<&str>) -> Op {
    Op::PatchTwin {
        id: id.into(),
        component: None,
        patch: p.to_string(),
        pre: Precondition { if_match: if_match.map(str::to_string), if_none_match: false },
    }
}

fn rel(source: &str, id: &str, target: &str) -> Op {
    Op::PutRelationship {
        source: source.into(),
        id: id.into(),
        json: json!({"$targetId": target, "$relationshipName": "contains", "since": 2020})
            .to_string(),
        pre: Precondition::default(),
    }
}

fn room() -> Value {
    json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "temperature": 21.5, "name": "r", "thermostat": {}})
}

fn sensor() -> Value {
    json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": "co2"})
}

#[test]
fn put_builds_the_adt_document() {
    let mut h = Harness::new();
    let etag = h.put_twin("room1", room());
    let doc = h.twin("room1").unwrap();
    assert_eq!(doc["$dtId"], "room1");
    assert_eq!(doc["$etag"], etag.as_str());
    assert_eq!(doc["$metadata"]["$model"], "dtmi:test:Room;1");
    let t = doc["$metadata"]["$lastUpdateTime"].as_str().unwrap();
    assert_eq!(doc["$metadata"]["temperature"]["lastUpdateTime"], t);
    assert_eq!(doc["thermostat"]["$metadata"]["$lastUpdateTime"], t);
    assert_eq!(doc["temperature"], 21.5);
}

#[test]
fn apply_is_deterministic_across_replicas() {
    let run = || {
        let mut h = Harness::new();
        h.put_twin("room1", room());
        h.put_twin("s1", sensor());
        h.ok(rel("room1", "r1", "s1"));
        h.ok(patch("room1", json!([{"op": "replace", "path": "/temperature", "value": 19}]), None));
        let twins: Vec<_> = h.store.twins().map(|t| t.unwrap()).collect();
        (twins, h.store.relationship("room1", "r1").unwrap(), h.store.applied().unwrap())
    };
    assert_eq!(run(), run());
}

#[test]
fn etags_change_on_every_write_and_preconditions_hold() {
    let mut h = Harness::new();
    let e1 = h.put_twin("room1", room());
    // If-None-Match on an existing twin fails and changes nothing.
    let code = h.fail(Op::PutTwin {
        id: "room1".into(),
        json: room().to_string(),
        pre: Precondition { if_match: None, if_none_match: true },
    });
    assert_eq!(code, ErrorCode::PreconditionFailed);
    assert_eq!(h.twin("room1").unwrap()["$etag"], e1.as_str());
    // A stale If-Match fails; the current one succeeds with a new ETag.
    assert_eq!(
        h.fail(patch(
            "room1",
            json!([{"op": "add", "path": "/capacity", "value": 4}]),
            Some("W/\"stale\"")
        )),
        ErrorCode::PreconditionFailed
    );
    let e2 = match h.ok(patch(
        "room1",
        json!([{"op": "add", "path": "/capacity", "value": 4}]),
        Some(&e1),
    )) {
        Reply::Twin { etag, .. } => etag,
        r => panic!("{r:?}"),
    };
    assert_ne!(e1, e2);
    assert_eq!(
        h.fail(patch("room1", json!([{"op": "add", "path": "/capacity", "value": 5}]), Some(&e1))),
        ErrorCode::PreconditionFailed
    );
    assert_eq!(h.twin("room1").unwrap()["capacity"], 4);
    // If-Match: * needs the twin to exist.
    assert_eq!(
        h.fail(Op::PutTwin {
            id: "nope".into(),
            json: room().to_string(),
            pre: Precondition { if_match: Some("*".into()), if_none_match: false }
        }),
        ErrorCode::PreconditionFailed
    );
    h.ok(patch("room1", json!([{"op": "add", "path": "/capacity", "value": 6}]), Some("*")));
}

#[test]
fn patch_updates_only_touched_metadata() {
    let mut h = Harness::new();
    h.put_twin("room1", room());
    let before = h.twin("room1").unwrap();
    h.ok(patch("room1", json!([{"op": "replace", "path": "/temperature", "value": 30.0}, {"op": "add", "path": "/$metadata/temperature/sourceTime", "value": "2024-01-01T00:00:00Z"}]), None));
    let after = h.twin("room1").unwrap();
    assert_eq!(after["temperature"], 30.0);
    assert_eq!(after["$metadata"]["temperature"]["sourceTime"], "2024-01-01T00:00:00Z");
    assert_ne!(
        after["$metadata"]["temperature"]["lastUpdateTime"],
        before["$metadata"]["temperature"]["lastUpdateTime"]
    );
    assert_eq!(after["$metadata"]["name"], before["$metadata"]["name"]);
    assert_eq!(after["thermostat"], before["thermostat"]);
    // Removing a property removes its metadata.
    h.ok(patch("room1", json!([{"op": "remove", "path": "/name"}]), None));
    let after = h.twin("room1").unwrap();
    assert!(after.get("name").is_none());
    assert!(after["$metadata"].get("name").is_none());
}

#[test]
fn bad_patches_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    h.put_twin("room1", room());
    let before = h.twin("room1").unwrap();
    for (p, code) in [
        (
            json!([{"op": "replace", "path": "/temperature", "value": "hot"}]),
            ErrorCode::ValidationFailed,
        ),
        (json!([{"op": "add", "path": "/undeclared", "value": 1}]), ErrorCode::ValidationFailed),
        (json!([{"op": "remove", "path": "/thermostat"}]), ErrorCode::ValidationFailed),
        (json!([{"op": "replace", "path": "/missing", "value": 1}]), ErrorCode::JsonPatchInvalid),
        (json!([{"op": "move", "from": "/name", "path": "/x"}]), ErrorCode::JsonPatchInvalid),
        (json!([{"op": "replace", "path": "/$dtId", "value": "x"}]), ErrorCode::JsonPatchInvalid),
        (
            json!([{"op": "replace", "path": "/$metadata/$lastUpdateTime", "value": "x"}]),
            ErrorCode::JsonPatchInvalid,
        ),
        (
            json!([{"op": "replace", "path": "/$metadata/$model", "value": "dtmi:test:Nope;1"}]),
            ErrorCode::ValidationFailed,
        ),
        (json!({"op": "add"}), ErrorCode::JsonPatchInvalid),
    ] {
        assert_eq!(h.fail(patch("room1", p.clone(), None)), code, "{p}");
    }
    assert_eq!(h.twin("room1").unwrap(), before);
    assert_eq!(
        h.fail(patch("nope", json!([{"op": "add", "path": "/x", "value": 1}]), None)),
        ErrorCode::DigitalTwinNotFound
    );
}

#[test]
fn model_can_change_by_patch() {
    let mut h = Harness::new();
    h.put_twin("x", json!({"$metadata": {"$model": "dtmi:test:Space;1"}, "name": "n"}));
    h.ok(patch("x", json!([{"op": "replace", "path": "/$metadata/$model", "value": "dtmi:test:Room;1"}, {"op": "add", "path": "/thermostat", "value": {}}]), None));
    assert_eq!(h.twin("x").unwrap()["$metadata"]["$model"], "dtmi:test:Room;1");
    let ids: Vec<_> = h.store.twins_of_model("dtmi:test:Room;1").map(|r| r.unwrap()).collect();
    assert_eq!(ids, vec!["x".to_string()]);
    assert_eq!(h.store.twins_of_model("dtmi:test:Space;1").count(), 0);
}

#[test]
fn components_are_patched_with_relative_paths() {
    let mut h = Harness::new();
    h.put_twin("room1", room());
    h.ok(Op::PatchTwin {
        id: "room1".into(),
        component: Some("thermostat".into()),
        patch: json!([{"op": "add", "path": "/setpoint", "value": 20.5}]).to_string(),
        pre: Precondition::default(),
    });
    let doc = h.twin("room1").unwrap();
    assert_eq!(doc["thermostat"]["setpoint"], 20.5);
    assert!(doc["thermostat"]["$metadata"]["setpoint"]["lastUpdateTime"].is_string());
    let code = h.fail(Op::PatchTwin {
        id: "room1".into(),
        component: Some("nope".into()),
        patch: json!([{"op": "add", "path": "/a", "value": 1}]).to_string(),
        pre: Precondition::default(),
    });
    assert_eq!(code, ErrorCode::ComponentNotFound);
}

#[test]
fn twin_put_rules() {
    let mut h = Harness::new();
    assert_eq!(
        h.fail(Op::PutTwin {
            id: "a".into(),
            json: "{not json".into(),
            pre: Precondition::default()
        }),
        ErrorCode::InvalidArgument
    );
    assert_eq!(h.fail(put("a", json!([1, 2]))), ErrorCode::InvalidArgument);
    assert_eq!(h.fail(put("a", json!({"name": "x"}))), ErrorCode::InvalidArgument);
    assert_eq!(
        h.fail(put("a", json!({"$metadata": {"$model": "dtmi:test:Unknown;1"}}))),
        ErrorCode::ValidationFailed
    );
    // A missing component.
    assert_eq!(
        h.fail(put("a", json!({"$metadata": {"$model": "dtmi:test:Room;1"}}))),
        ErrorCode::ValidationFailed
    );
    assert_eq!(
        h.fail(put("a", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": 5}))),
        ErrorCode::ValidationFailed
    );
    assert_eq!(h.fail(put("", sensor())), ErrorCode::InvalidArgument);
    let big = "x".repeat(limits_twin() + 1);
    assert_eq!(
        h.fail(put("a", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": big}))),
        ErrorCode::LimitExceeded
    );
    assert!(h.twin("a").is_none());
    // A GET document can be PUT back as it is.
    h.put_twin("room1", room());
    let doc = h.twin("room1").unwrap();
    h.ok(put("room1", doc));
}

fn limits_twin() -> usize {
    crate::model::limits::MAX_TWIN_BYTES
}

#[test]
fn relationship_rules() {
    let mut h = Harness::new();
    h.put_twin("room1", room());
    h.put_twin("s1", sensor());
    h.put_twin("room2", room());
    assert_eq!(h.fail(rel("room1", "r", "room1")), ErrorCode::OperationNotAllowed);
    assert_eq!(h.fail(rel("room1", "r", "ghost")), ErrorCode::TargetTwinNotFound);
    assert_eq!(h.fail(rel("ghost", "r", "s1")), ErrorCode::DigitalTwinNotFound);
    // The declared target is a Sensor, not a Room.
    assert_eq!(h.fail(rel("room1", "r", "room2")), ErrorCode::InvalidRelationship);
    // Sensors declare no relationships.
    assert_eq!(h.fail(rel("s1", "r", "room1")), ErrorCode::InvalidRelationship);
    let bad_prop = Op::PutRelationship {
        source: "room1".into(),
        id: "r".into(),
        json: json!({"$targetId": "s1", "$relationshipName": "contains", "since": "long ago"})
            .to_string(),
        pre: Precondition::default(),
    };
    assert_eq!(h.fail(bad_prop), ErrorCode::ValidationFailed);
    h.ok(rel("room1", "r1", "s1"));
    let out = h.store.relationships("room1", None, None, 10).unwrap();
    assert_eq!(out.items.len(), 1);
    let incoming = h.store.incoming("s1", None, 10).unwrap();
    let entry: Value = serde_json::from_str(&incoming.items[0]).unwrap();
    assert_eq!(entry["$sourceId"], "room1");
    assert_eq!(entry["$relationshipId"], "r1");
    // Twins with edges cannot be deleted, either end.
    assert_eq!(
        h.fail(Op::DeleteTwin { id: "room1".into(), pre: Precondition::default() }),
        ErrorCode::RelationshipsNotDeleted
    );
    assert_eq!(
        h.fail(Op::DeleteTwin { id: "s1".into(), pre: Precondition::default() }),
        ErrorCode::RelationshipsNotDeleted
    );
    // Patching the target is refused; properties can change.
    let p = |v: Value| Op::PatchRelationship {
        source: "room1".into(),
        id: "r1".into(),
        patch: v.to_string(),
        pre: Precondition::default(),
    };
    assert_eq!(
        h.fail(p(json!([{"op": "replace", "path": "/$targetId", "value": "room2"}]))),
        ErrorCode::JsonPatchInvalid
    );
    h.ok(p(json!([{"op": "replace", "path": "/since", "value": 2021}])));
    assert_eq!(
        h.fail(p(json!([{"op": "add", "path": "/nope", "value": 1}]))),
        ErrorCode::ValidationFailed
    );
    h.ok(Op::DeleteRelationship {
        source: "room1".into(),
        id: "r1".into(),
        pre: Precondition::default(),
    });
    assert_eq!(
        h.fail(Op::DeleteRelationship {
            source: "room1".into(),
            id: "r1".into(),
            pre: Precondition::default()
        }),
        ErrorCode::RelationshipNotFound
    );
    assert!(h.store.incoming("s1", None, 10).unwrap().items.is_empty());
    h.ok(Op::DeleteTwin { id: "room1".into(), pre: Precondition::default() });
    h.ok(Op::DeleteTwin { id: "s1".into(), pre: Precondition::default() });
    assert_eq!(
        h.fail(Op::DeleteTwin { id: "s1".into(), pre: Precondition::default() }),
        ErrorCode::DigitalTwinNotFound
    );
}

#[test]
fn listings_page_with_tokens() {
    let mut h = Harness::new();
    h.put_twin("room1", room());
    for i in 0..25 {
        h.put_twin(&format!("s{i:02}"), sensor());
        h.ok(rel("room1", &format!("r{i:02}"), &format!("s{i:02}")));
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let page = h.store.relationships("room1", None, token.as_deref(), 10).unwrap();
        seen.extend(page.items);
        token = page.next;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(h.store.relationships("room1", Some("other"), None, 100).unwrap().items.len(), 0);
}

#[test]
fn retried_writes_are_applied_once() {
    let mut h = Harness::new();
    h.put_twin("room1", room());
    let req = RequestId { client: "c1".into(), seq: 7 };
    let op = patch("room1", json!([{"op": "replace", "path": "/temperature", "value": 25}]), None);
    let first = h.run(Some(req.clone()), op.clone());
    let etag_after_first = h.twin("room1").unwrap()["$etag"].clone();
    let second = h.run(Some(req.clone()), op.clone());
    assert_eq!(first, second);
    assert_eq!(h.twin("room1").unwrap()["$etag"], etag_after_first);
    // An error is remembered too.
    let bad = Op::DeleteTwin { id: "ghost".into(), pre: Precondition::default() };
    let req2 = RequestId { client: "c1".into(), seq: 8 };
    assert_eq!(h.run(Some(req2.clone()), bad.clone()), h.run(Some(req2), bad));
    // Another request number is a new write.
    let third = h.run(Some(RequestId { client: "c1".into(), seq: 9 }), op);
    assert_ne!(first, third);
}

#[test]
fn dedupe_entries_expire_by_command_time() {
    let mut h = Harness::new();
    let req = RequestId { client: "c".into(), seq: 1 };
    let _ = h.run(Some(req.clone()), put("s0", sensor()));
    assert!(h.store.remembered(&req).unwrap().is_some());
    // Control ops are not deduplicated (only data writes are, which both DR regions apply).
    let noop = RequestId { client: "c".into(), seq: 2 };
    let _ = h.run(Some(noop.clone()), Op::Noop);
    assert!(h.store.remembered(&noop).unwrap().is_none());
    h.time += dedupe::DEDUPE_WINDOW_NANOS + 1;
    // Control entries do not evict (only data writes, which both DR regions apply, do).
    let _ = h.run(None, Op::Noop);
    assert!(
        h.store
            .dedupe_get(&super::apply::Writes::new(&h.store), &req, &put("s0", sensor()))
            .unwrap()
            .is_some()
    );
    h.put_twin("s1", sensor());
    assert!(
        h.store
            .dedupe_get(&super::apply::Writes::new(&h.store), &req, &put("s0", sensor()))
            .unwrap()
            .is_none()
    );
}

#[test]
fn model_lifecycle() {
    let mut h = Harness::new();
    assert_eq!(h.fail(Op::AddModels { json: MODELS.into() }), ErrorCode::ModelAlreadyExists);
    h.put_twin("s1", sensor());
    // Referenced models cannot be deleted.
    assert_eq!(
        h.fail(Op::DeleteModel { id: "dtmi:test:Space;1".into() }),
        ErrorCode::ModelReferencesNotDeleted
    );
    assert_eq!(h.fail(Op::DeleteModel { id: "dtmi:test:Nope;1".into() }), ErrorCode::ModelNotFound);
    h.ok(Op::DecommissionModel { id: "dtmi:test:Sensor;1".into() });
    assert_eq!(h.fail(put("s2", sensor())), ErrorCode::ModelDecommissioned);
    // Existing twins stay writable.
    h.ok(patch("s1", json!([{"op": "replace", "path": "/kind", "value": "temp"}]), None));
    let data: Value =
        serde_json::from_str(&h.store.get_model("dtmi:test:Sensor;1", true).unwrap()).unwrap();
    assert_eq!(data["decommissioned"], true);
    assert_eq!(data["model"]["@id"], "dtmi:test:Sensor;1");
    let deps = h.store.list_models(&["dtmi:test:Room;1".into()], false, None, 100).unwrap();
    assert_eq!(deps.items.len(), 3, "Room, Space, Thermostat");
    h.ok(Op::DeleteModel { id: "dtmi:test:Room;1".into() });
    h.ok(Op::DeleteModel { id: "dtmi:test:Space;1".into() });
    assert_eq!(h.store.list_models(&[], false, None, 100).unwrap().items.len(), 2);
}

#[test]
fn applied_position_is_recorded_and_gaps_are_allowed_but_not_reapplies() {
    let mut h = Harness::new();
    h.index += 5;
    h.ok(Op::Noop);
    assert_eq!(h.store.applied().unwrap().index, 7);
    assert_eq!(h.store.applied_index(), 7);
    let cmd = Command { request: None, time: Timestamp(1), epoch: 1, origin: None, op: Op::Noop };
    assert!(h.store.apply(7, &cmd).is_err());
}

/// Regression (`model/dtdl/fuzz_tests.rs`): a model whose schema referenced `"@id": "a\0𐀀"`
/// made the DTMI check slice a character in two, a panic inside apply — on every replica, and
/// again at every restart as the entry was replayed. Now it is a user error and nothing changes.
#[test]
fn a_model_id_that_splits_a_character_is_refused_not_a_panic() {
    let mut h = Harness::new();
    let before = h.store.fingerprint().unwrap();
    let models = json!([{"@id": "dtmi:f:A;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "x", "schema": [{"@id": "a\u{0}𐀀"}]}]}]);
    assert_eq!(h.fail(Op::AddModels { json: models.to_string() }), ErrorCode::DTDLParserError);
    let id = json!([{"@id": "abcd€", "@type": "Interface", "@context": "dtmi:dtdl:context;3"}]);
    assert_eq!(h.fail(Op::AddModels { json: id.to_string() }), ErrorCode::DTDLParserError);
    assert_eq!(h.store.fingerprint().unwrap(), before);
}
