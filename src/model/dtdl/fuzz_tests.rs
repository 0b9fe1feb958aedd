//! Fuzzing the DTDL parser and the cross-model checks: [`parse_batch`], [`check_batch`],
//! [`parse_interface`] and [`resolve()`]. The runner and the JSON generators are `crate::fuzz`'s.
//!
//! What is generated, and why:
//! - **Mutations of real models**: a subset of the sample models of `scripts/sample/models/`
//!   uploaded as one batch (the others already stored), after one to four random edits — a value
//!   replaced by arbitrary JSON or by a word of DTDL's vocabulary (`Property`, `Enum`, a schema
//!   name, another model's id, another context version), a member deleted or added, an array
//!   element duplicated, a value wrapped in an array, a character (multi-byte ones included) put
//!   anywhere inside a string. Random JSON almost never gets past "this is
//!   not an Interface"; one edit of a valid model reaches every rule of the parser and the batch
//!   checks (schemas, enums, components, `extends`, duplicates, references).
//! - **Arbitrary JSON** with DTDL's member names — alone, or as the contents of an Interface, or
//!   as content elements of a random kind, name and schema — and arbitrary text, because an
//!   upload can be anything.
//!
//! The properties: nothing panics; every refusal carries a user error code (`InvalidArgument`,
//! `DTDLParserError`, `LimitExceeded`, `ModelAlreadyExists`, `ModelNotFound` — never `Internal`);
//! an accepted Interface round-trips (its canonical text parses back to the same Interface, and
//! uploads as the same text); and a batch that passes [`check_batch`] resolves — every model in it
//! flattens with [`resolve()`] — since the store keeps it on that promise. Each target checks
//! how many of its cases parsed and passed the batch checks, so it cannot quietly stop reaching
//! them (mutations: one in seven do).
//!
//! Cases per CI run: model mutations 2,000, arbitrary JSON 1,000, arbitrary text 500.

use super::{Interface, check_batch, parse_batch, parse_interface, resolve};
use crate::error::ErrorCode;
use crate::fuzz::{Reach, check, json_value, key_from, nasty_string};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const SAMPLE_MODELS: [&str; 5] = [
    include_str!("../../../scripts/sample/models/thermostat.json"),
    include_str!("../../../scripts/sample/models/sensor.json"),
    include_str!("../../../scripts/sample/models/room.json"),
    include_str!("../../../scripts/sample/models/floor.json"),
    include_str!("../../../scripts/sample/models/building.json"),
];

/// DTDL's member names.
const MEMBERS: &[&str] = &[
    "@id",
    "@type",
    "@context",
    "contents",
    "name",
    "schema",
    "extends",
    "target",
    "properties",
    "fields",
    "enumValues",
    "enumValue",
    "valueSchema",
    "elementSchema",
    "mapKey",
    "mapValue",
    "schemas",
    "displayName",
    "description",
    "comment",
    "writable",
    "maxMultiplicity",
    "minMultiplicity",
    "unit",
];

/// Words of DTDL's vocabulary, to put where a value was.
const WORDS: &[&str] = &[
    "Interface",
    "Property",
    "Telemetry",
    "Relationship",
    "Component",
    "Command",
    "Enum",
    "Object",
    "Map",
    "Array",
    "string",
    "integer",
    "double",
    "boolean",
    "date",
    "dateTime",
    "duration",
    "point",
    "dtmi:dtdl:context;2",
    "dtmi:dtdl:context;3",
    "dtmi:dtdl:context;4",
    "dtmi:example:Room;1",
    "dtmi:example:Thermostat;1",
    "dtmi:example:Sensor;1",
    "dtmi:example:Floor;2",
    "dtmi:x",
    "name",
    "mode",
    "Temperature",
];

const ERRORS: &[ErrorCode] = &[
    ErrorCode::InvalidArgument,
    ErrorCode::DTDLParserError,
    ErrorCode::LimitExceeded,
    ErrorCode::ModelAlreadyExists,
    ErrorCode::ModelNotFound,
];

fn strings() -> BoxedStrategy<String> {
    prop_oneof![3 => proptest::sample::select(WORDS).prop_map(str::to_string), 1 => nasty_string()]
        .boxed()
}

fn json() -> BoxedStrategy<Value> {
    json_value(key_from(MEMBERS), strings(), 3)
}

/// One edit: what to do, where (an index into the value's nodes, modulo their number), and the
/// JSON or member name it may need.
#[derive(Clone, Debug)]
enum Edit {
    Replace(u64, Value),
    Delete(u64),
    Insert(u64, String, Value),
    Duplicate(u64),
    Wrap(u64),
    /// A character put inside a string (an id, a name, a schema), at any position: multi-byte
    /// characters where the code may slice bytes.
    Garble(u64, usize, char),
}

fn edit() -> BoxedStrategy<Edit> {
    let word = proptest::sample::select(WORDS).prop_map(Value::from);
    prop_oneof![
        3 => (any::<u64>(), prop_oneof![word, json()]).prop_map(|(at, v)| Edit::Replace(at, v)),
        2 => any::<u64>().prop_map(Edit::Delete),
        2 => (any::<u64>(), key_from(MEMBERS), json()).prop_map(|(at, k, v)| Edit::Insert(at, k, v)),
        1 => any::<u64>().prop_map(Edit::Duplicate),
        1 => any::<u64>().prop_map(Edit::Wrap),
        3 => (any::<u64>(), any::<usize>(), proptest::sample::select(&['é', '€', '𐀀', '\0', ':', ';'][..]))
            .prop_map(|(at, pos, c)| Edit::Garble(at, pos, c)),
    ]
    .boxed()
}

/// The JSON Pointers of every node of `v`, root first.
fn nodes(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                nodes(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                nodes(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Applies one edit to `doc`.
fn apply(doc: &mut Value, edit: &Edit) {
    let mut all = Vec::new();
    nodes(doc, String::new(), &mut all);
    let pick = |at: u64| all[(at % all.len() as u64) as usize].clone();
    match edit {
        Edit::Replace(at, v) => {
            if let Some(n) = doc.pointer_mut(&pick(*at)) {
                *n = v.clone();
            }
        }
        Edit::Delete(at) => {
            let path = pick(*at);
            let Some((parent, last)) = path.rsplit_once('/') else { return };
            let last = last.replace("~1", "/").replace("~0", "~");
            match doc.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        a.remove(i);
                    }
                }
                _ => {}
            }
        }
        Edit::Insert(at, k, v) => {
            if let Some(Value::Object(m)) = doc.pointer_mut(&pick(*at)) {
                m.insert(k.clone(), v.clone());
            } else if let Some(Value::Array(a)) = doc.pointer_mut(&pick(*at)) {
                a.push(v.clone());
            }
        }
        Edit::Duplicate(at) => {
            if let Some(Value::Array(a)) = doc.pointer_mut(&pick(*at))
                && let Some(first) = a.first().cloned()
            {
                a.push(first);
            }
        }
        Edit::Garble(at, pos, c) => {
            // The `at`-th string, counting round (strings are most of a model).
            let strings: Vec<&String> =
                all.iter().filter(|p| doc.pointer(p).is_some_and(Value::is_string)).collect();
            if let Some(p) = strings.get((*at % strings.len().max(1) as u64) as usize)
                && let Some(Value::String(s)) = doc.pointer_mut(p)
            {
                let i = s.char_indices().map(|(i, _)| i).nth(pos % (s.chars().count() + 1));
                s.insert(i.unwrap_or(s.len()), *c);
            }
        }
        Edit::Wrap(at) => {
            if let Some(n) = doc.pointer_mut(&pick(*at)) {
                *n = Value::Array(vec![n.take()]);
            }
        }
    }
}

type Store = BTreeMap<String, Arc<Interface>>;

fn sample() -> Vec<Value> {
    SAMPLE_MODELS.iter().map(|m| serde_json::from_str(m).unwrap()).collect()
}

fn stored(models: &[Value]) -> Store {
    let mut store = Store::new();
    for m in models {
        for (i, _) in parse_batch(&m.to_string()).unwrap() {
            store.insert(i.id.clone(), Arc::new(i));
        }
    }
    store
}

/// Uploads `text` onto `existing` the way the store does, checking every property on the way.
fn upload(reach: &Reach, text: &str, existing: &Store) -> Result<(), TestCaseError> {
    let parsed = match parse_batch(text) {
        Ok(p) => p,
        Err(e) => {
            prop_assert!(ERRORS.contains(&e.code), "parse_batch: {:?}: {}", e.code, e.message);
            return Ok(());
        }
    };
    reach.hit(0);
    for (iface, canonical) in &parsed {
        let again = parse_interface(canonical);
        prop_assert_eq!(again.as_ref().ok(), Some(iface), "canonical text {}", canonical);
        let reup = parse_batch(canonical).map(|b| b.into_iter().map(|(_, t)| t).collect());
        prop_assert_eq!(reup.ok(), Some(vec![canonical.clone()]));
    }
    let batch: Vec<Interface> = parsed.into_iter().map(|(i, _)| i).collect();
    match check_batch(&batch, existing) {
        Ok(()) => {
            reach.hit(1);
            let mut all = existing.clone();
            for i in &batch {
                all.insert(i.id.clone(), Arc::new(i.clone()));
            }
            for i in &batch {
                let r = resolve(&i.id, &all);
                prop_assert!(r.is_ok(), "checked but does not resolve: {}: {:?}", i.id, r.err());
            }
        }
        Err(e) => {
            prop_assert!(ERRORS.contains(&e.code), "check_batch: {:?}: {}", e.code, e.message)
        }
    }
    Ok(())
}

#[test]
fn fuzz_mutated_sample_models() {
    let models = sample();
    let n = models.len();
    let strategy = (
        proptest::collection::vec(any::<bool>(), n),
        proptest::collection::vec(edit(), 1..5),
        any::<bool>(),
    );
    let reach = Reach::new(&["parsed", "checked"]);
    check("mutated sample models", 2000, strategy, |(chosen, edits, as_batch)| {
        let (mine, theirs): (Vec<_>, Vec<_>) =
            models.iter().cloned().zip(&chosen).partition(|(_, c)| **c);
        let mine: Vec<Value> = mine.into_iter().map(|(m, _)| m).collect();
        let theirs: Vec<Value> = theirs.into_iter().map(|(m, _)| m).collect();
        // Edits land anywhere in the batch, including its top-level array.
        let mut doc = match (as_batch, mine.as_slice()) {
            (false, [one]) => one.clone(),
            (_, []) => models[2].clone(),
            _ => Value::Array(mine.clone()),
        };
        for e in &edits {
            apply(&mut doc, e);
        }
        upload(&reach, &doc.to_string(), &stored(&theirs))
    });
    reach.at_least(2000, &[100, 100]); // measured: 151 and 144
}

/// An Interface around `contents`.
fn interface(contents: Value) -> Value {
    serde_json::json!({"@id": "dtmi:f:A;1", "@type": "Interface",
        "@context": "dtmi:dtdl:context;3", "contents": contents})
}

/// A content element: a kind, a name and a schema from DTDL's words or arbitrary JSON, and now
/// and then another member.
fn content() -> BoxedStrategy<Value> {
    let kind = proptest::sample::select(&WORDS[1..6]);
    let schema = prop_oneof![3 => proptest::sample::select(&WORDS[6..18]).prop_map(Value::from), 1 => json()];
    let extra = proptest::option::weighted(0.3, (key_from(MEMBERS), json()));
    (kind, strings(), schema, extra)
        .prop_map(|(kind, name, schema, extra)| {
            let mut c = serde_json::json!({"@type": kind, "name": name, "schema": schema});
            if let Some((k, v)) = extra {
                c[k] = v;
            }
            c
        })
        .boxed()
}

#[test]
fn fuzz_arbitrary_json_models() {
    let models = sample();
    let store = stored(&models[..2]);
    let doc = prop_oneof![
        json(),
        json().prop_map(|v| Value::Array(vec![v])),
        json().prop_map(interface),
        proptest::collection::vec(content(), 1..4).prop_map(|c| interface(Value::Array(c))),
    ];
    let reach = Reach::new(&["parsed", "checked"]);
    check("arbitrary JSON models", 1000, doc, |doc| upload(&reach, &doc.to_string(), &store));
    reach.at_least(1000, &[10, 10]); // measured: 26 and 26
}

#[test]
fn fuzz_arbitrary_text_models() {
    let text = prop_oneof![
        ".{0,64}",
        Just("[".repeat(200)),
        Just("{\"@id\": \"dtmi:x:A;1\", \"@type\": \"Interface\"".to_string()),
    ];
    let reach = Reach::new(&["parsed", "checked"]);
    check("arbitrary text models", 500, text, |text| upload(&reach, &text, &Store::new()));
    reach.at_least(500, &[0, 0]);
}

#[test]
fn edits_reach_every_node() {
    let mut doc = serde_json::json!({"a": [1, {"b~/c": 2}]});
    let mut all = Vec::new();
    nodes(&doc, String::new(), &mut all);
    assert_eq!(all, ["", "/a", "/a/0", "/a/1", "/a/1/b~0~1c"]);
    apply(&mut doc, &Edit::Delete(4));
    assert_eq!(doc, serde_json::json!({"a": [1, {}]}));
    apply(&mut doc, &Edit::Wrap(2));
    assert_eq!(doc, serde_json::json!({"a": [[1], {}]}));
    let mut doc = serde_json::json!({"@id": "dtmi:a;1", "n": 1});
    apply(&mut doc, &Edit::Garble(0, 3, '€'));
    assert_eq!(doc, serde_json::json!({"@id": "dtm€i:a;1", "n": 1}));
}
