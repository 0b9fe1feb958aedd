//! Fuzzing JSON Patch on twins: [`Patch::parse`](crate::model::patch::Patch::parse) and
//! [`twin::build_patch`](crate::model::twin::build_patch), on each sample twin and, as component
//! patches, on its Thermostat. The models, the write pipeline, the value generators and the
//! oracle are `twin_fuzz_tests.rs`'s; the runner is `crate::fuzz`'s.
//!
//! What is generated, and why:
//! - **Well-typed operations**: add / replace / remove of a property the twin's (or the
//!   component's) model declares, with a value of its type at the edges of its range, and
//!   `sourceTime` entries in `$metadata` — so that a good share of patches is accepted and the
//!   accepted side (the rebuilt document, its metadata, the component stamps) is checked too.
//! - **Hostile operations**: the verbs ADT refuses, paths built from the models' names, `$`
//!   fields, array indexes, `-`, escapes and broken pointers, values of every type, missing and
//!   stray members; mixed with the well-typed ones, so a bad operation can follow good ones.
//! - **Arbitrary JSON and text** as a patch.
//!
//! The properties: nothing panics; every refusal is a user error (never `Internal`); a patch is
//! all or nothing — when it is accepted, every operation applied in turn (by the `json-patch`
//! crate, one at a time) succeeds and the twin's content is what they make, the result satisfies
//! the oracle and ADT's size limit, keeps its `$dtId` and takes the write's ETag; and the stored
//! twin is never touched either way.
//!
//! Cases per CI run: patches 2,500, patch text 1,000.

use super::twin_fuzz_tests::{
    NAMES, PATCH_ERRORS, content, declared, models, oracle, patch, put, source_time, stamp,
    strings, typed, user_error, value,
};
use crate::error::ErrorCode;
use crate::fuzz::{Reach, check, json_value, key_from, nasty_string};
use crate::model::limits;
use crate::model::twin;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The least share of patches (per thousand) accepted: a margin below the measured 312.
const REACH_PATCH: u32 = 200;

/// A JSON Pointer: usually tokens from the models' names, escaped; sometimes a broken one.
fn pointer() -> BoxedStrategy<String> {
    let token = prop_oneof![
        6 => key_from(NAMES),
        1 => proptest::sample::select(&["-", "0", "1", "", "a~b", "a/b", "~"][..])
            .prop_map(str::to_string),
    ];
    let good = proptest::collection::vec(token, 1..4).prop_map(|tokens| {
        tokens.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()
    });
    prop_oneof![
        8 => good,
        1 => proptest::sample::select(&["", "/", "name", "/~2", "/a~", "//"][..])
            .prop_map(str::to_string),
        1 => nasty_string(),
    ]
    .boxed()
}

/// One patch operation; now and then with a field missing or one that does not belong.
fn operation() -> BoxedStrategy<Value> {
    let verb = prop_oneof![
        12 => proptest::sample::select(&["add", "replace", "remove"][..]),
        1 => proptest::sample::select(&["move", "copy", "test", "ADD", ""][..]),
    ];
    (verb, pointer(), proptest::option::weighted(0.8, value()), proptest::option::of(pointer()))
        .prop_map(|(op, path, value, from)| {
            let mut o = Map::new();
            o.insert("op".into(), op.into());
            o.insert("path".into(), path.into());
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            if let Some(f) = from.filter(|f| f.len() % 5 == 0) {
                o.insert("from".into(), f.into());
            }
            Value::Object(o)
        })
        .boxed()
}

/// Applies `ops` one at a time with the `json-patch` crate, each path under `prefix`.
fn one_by_one(doc: &Value, ops: &[Value], prefix: &str) -> Option<Value> {
    let mut out = doc.clone();
    for op in ops {
        let mut op = op.clone();
        let verb = op.get("op").and_then(Value::as_str)?;
        if !["add", "replace", "remove"].contains(&verb) {
            return None;
        }
        let path = format!("{prefix}{}", op.get("path").and_then(Value::as_str)?);
        op["path"] = path.into();
        let p: json_patch::Patch = serde_json::from_value(json!([op])).ok()?;
        json_patch::patch(&mut out, &p).ok()?;
    }
    Some(out)
}

/// An operation before it meets its twin: the well-typed ones name a property of the twin's (or
/// the component's) model by index, so one generator fits every sample twin.
#[derive(Clone, Debug)]
enum Op {
    Typed { verb: &'static str, prop: u64, pick: u64 },
    SourceTime { prop: u64, entry: Value },
    Hostile(Value),
}

fn op() -> BoxedStrategy<Op> {
    let verb = prop_oneof![3 => Just("add"), 3 => Just("replace"), 1 => Just("remove")];
    prop_oneof![
        6 => (verb, any::<u64>(), any::<u64>())
            .prop_map(|(verb, prop, pick)| Op::Typed { verb, prop, pick }),
        1 => (any::<u64>(), source_time()).prop_map(|(prop, entry)| Op::SourceTime { prop, entry }),
        3 => operation().prop_map(Op::Hostile),
    ]
    .boxed()
}

/// The operation as JSON, for `current` or, with `component`, for its Thermostat.
fn render(op: &Op, current: &Value, component: Option<&str>) -> Value {
    let model = match component {
        Some(_) => "dtmi:example:Thermostat;1",
        None => twin::model_of(current).unwrap_or_default(),
    };
    let props = declared(model).unwrap_or(&[]);
    let nth = |i: &u64| props[(i % props.len().max(1) as u64) as usize];
    match op {
        Op::Typed { verb, prop, pick } if !props.is_empty() => {
            let (name, kind) = nth(prop);
            let mut o = json!({"op": verb, "path": format!("/{name}")});
            if *verb != "remove" {
                o["value"] = typed(kind, *pick);
            }
            o
        }
        Op::SourceTime { prop, entry } if !props.is_empty() => {
            json!({"op": "add", "path": format!("/$metadata/{}", nth(prop).0), "value": entry})
        }
        Op::Hostile(v) => v.clone(),
        _ => json!({"op": "remove", "path": "/nothing"}),
    }
}

#[test]
fn fuzz_patches() {
    let m = models();
    let n = m.twins.len();
    let ops = proptest::collection::vec(op(), 0..5);
    let reach = Reach::new(&["accepted"]);
    check("patches", 2500, (0..n, any::<bool>(), ops), |(which, on_component, ops)| {
        let current = &m.twins[which];
        let before = current.clone();
        let component =
            (on_component && current.get("thermostat").is_some()).then_some("thermostat");
        let ops: Vec<Value> = ops.iter().map(|o| render(o, current, component)).collect();
        let text = Value::Array(ops.clone()).to_string();
        let result = patch(m, current, component, &text);
        prop_assert_eq!(current, &before, "the stored twin was modified");
        match result {
            Ok(doc) => {
                reach.hit(0);
                prop_assert_eq!(oracle(&doc, None), Ok(()), "accepted: {}", doc);
                prop_assert_eq!(&doc["$dtId"], &current["$dtId"]);
                prop_assert_eq!(&doc["$etag"], &stamp().etag);
                let prefix = component.map(|c| format!("/{c}")).unwrap_or_default();
                let expected = one_by_one(current, &ops, &prefix);
                prop_assert!(expected.is_some(), "accepted, but an operation fails on its own");
                prop_assert_eq!(content(&doc), content(&expected.unwrap()));
                let size = serde_json::to_string(&content(&doc)).unwrap().len();
                prop_assert!(size <= limits::MAX_TWIN_BYTES + 64, "{size} bytes accepted");
            }
            Err(e) => user_error(e.code, PATCH_ERRORS)?,
        }
        Ok(())
    });
    reach.at_least(2500, &[REACH_PATCH]);
}

#[test]
fn fuzz_patch_text() {
    let m = models();
    let text = prop_oneof![
        json_value(key_from(&["op", "path", "value", "from", "add", "/name"]), strings(), 3)
            .prop_map(|v| v.to_string()),
        json_value(key_from(NAMES), strings(), 2).prop_map(|v| format!("[{v}]")),
        ".{0,64}",
    ];
    check("patch text", 1000, (0..m.twins.len(), text), |(which, text)| {
        let current = &m.twins[which];
        match patch(m, current, None, &text) {
            Ok(doc) => prop_assert_eq!(oracle(&doc, None), Ok(()), "accepted: {}", doc),
            Err(e) => user_error(e.code, PATCH_ERRORS)?,
        }
        Ok(())
    });
}

// Regressions: the minimal inputs of failures the targets above found, as plain tests.

/// `fuzz_patches`: a component patch `[{"op": "add", "path": "/$model", "value": null}]` on
/// room-101's thermostat was accepted, and the component kept a `$model` field (with a
/// `lastUpdateTime` in its `$metadata`) that GET returned as if the service had written it.
#[test]
fn a_component_takes_no_dollar_fields() {
    let m = models();
    let room = m.twins.iter().find(|t| t["$dtId"] == "room-101").unwrap();
    let add = r#"[{"op": "add", "path": "/$model", "value": null}]"#;
    let e = patch(m, room, Some("thermostat"), add).unwrap_err();
    assert_eq!(e.code, ErrorCode::JsonPatchInvalid, "{e}");
    assert!(e.message.contains("'$model' is not a field of component 'thermostat'"), "{e}");
    // The same through the twin, and by replacing the whole component.
    for p in [
        r#"[{"op": "add", "path": "/thermostat/$foo", "value": 1}]"#,
        r#"[{"op": "replace", "path": "/thermostat", "value": {"$etag": "x", "setpoint": 1}}]"#,
    ] {
        assert_eq!(patch(m, room, None, p).unwrap_err().code, ErrorCode::JsonPatchInvalid, "{p}");
    }
    // And on create-or-replace.
    let doc = json!({"$metadata": {"$model": "dtmi:example:Room;1"},
                     "thermostat": {"$metadata": {}, "$model": null}});
    assert_eq!(put(m, "r", &doc.to_string()).unwrap_err().code, ErrorCode::InvalidArgument);
    // `$metadata` itself is still the component's.
    let ok = r#"[{"op": "add", "path": "/$metadata/setpoint", "value": {"sourceTime": "2024-01-02T03:04:05Z"}}]"#;
    patch(m, room, Some("thermostat"), ok).unwrap();
}
