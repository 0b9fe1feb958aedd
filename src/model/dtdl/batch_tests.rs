//! Tests of [`super::check_batch`]: the rules that span Interfaces.

use super::*;
use crate::error::ErrorCode;
use crate::model::dtdl::parse_batch;
use serde_json::{Value, json};

type Store = BTreeMap<String, Arc<Interface>>;

/// A model: `(id, context version, extends, contents)`.
fn model(id: &str, version: u8, extends: &[&str], contents: Value) -> Value {
    json!({
        "@context": format!("dtmi:dtdl:context;{version}"),
        "@id": id,
        "@type": "Interface",
        "extends": extends,
        "contents": contents,
    })
}

fn prop(name: &str) -> Value {
    json!({"@type": "Property", "name": name, "schema": "double"})
}

fn comp(name: &str, schema: &str) -> Value {
    json!({"@type": "Component", "name": name, "schema": schema})
}

fn parse(models: Vec<Value>) -> Vec<Interface> {
    parse_batch(&Value::Array(models).to_string()).unwrap().into_iter().map(|(i, _)| i).collect()
}

fn store(models: Vec<Value>) -> Store {
    let parsed = models.into_iter().flat_map(|m| parse(vec![m]));
    parsed.map(|i| (i.id.clone(), Arc::new(i))).collect()
}

fn refused(batch: Vec<Value>, existing: &Store, code: ErrorCode, expect: &str) -> String {
    let e = check_batch(&parse(batch), existing).expect_err("should be refused");
    assert_eq!(e.code, code, "{e}");
    assert!(e.message.contains(expect), "message {:?} should contain {expect:?}", e.message);
    e.message
}

#[test]
fn accepts_references_within_the_batch_and_to_stored_models() {
    let stored = store(vec![model("dtmi:x:Base;1", 2, &[], json!([prop("name")]))]);
    let batch = parse(vec![
        model("dtmi:x:Room;1", 2, &["dtmi:x:Base;1"], json!([comp("t", "dtmi:x:Thermostat;1")])),
        model("dtmi:x:Thermostat;1", 2, &[], json!([prop("setPoint")])),
        model(
            "dtmi:x:Floor;1",
            3,
            &["dtmi:x:Room;1"],
            json!([{"@type": "Relationship", "name": "has", "target": "dtmi:x:NotYetUploaded;1"}]),
        ),
    ]);
    check_batch(&batch, &stored).unwrap();
    check_batch(&batch[1..2], &()).unwrap();
}

#[test]
fn refuses_models_that_already_exist() {
    let stored = store(vec![model("dtmi:x:A;1", 3, &[], json!([]))]);
    let msg = refused(
        vec![model("dtmi:x:A;1", 3, &[], json!([]))],
        &stored,
        ErrorCode::ModelAlreadyExists,
        "model dtmi:x:A;1 already exists",
    );
    assert!(msg.contains("new version"), "{msg}");
}

#[test]
fn refuses_duplicates_given_directly() {
    let a = parse(vec![model("dtmi:x:A;1", 3, &[], json!([]))]);
    let twice = vec![a[0].clone(), a[0].clone()];
    let e = check_batch(&twice, &()).unwrap_err();
    assert_eq!(e.code, ErrorCode::DTDLParserError);
    assert!(e.message.contains("appears twice"));
}

#[test]
fn refuses_missing_references_naming_them() {
    let msg = refused(
        vec![model("dtmi:x:A;1", 3, &["dtmi:x:Missing;1"], json!([]))],
        &Store::new(),
        ErrorCode::DTDLParserError,
        "extends dtmi:x:Missing;1, which is neither in this upload nor already stored",
    );
    assert!(msg.starts_with("model dtmi:x:A;1: "), "{msg}");
    refused(
        vec![model("dtmi:x:A;1", 3, &[], json!([comp("c", "dtmi:x:Gone;1")]))],
        &Store::new(),
        ErrorCode::DTDLParserError,
        "component 'c' uses dtmi:x:Gone;1, which is neither",
    );
}

#[test]
fn refuses_extends_cycles() {
    let msg = refused(
        vec![
            model("dtmi:x:A;1", 3, &["dtmi:x:B;1"], json!([])),
            model("dtmi:x:B;1", 3, &["dtmi:x:A;1"], json!([])),
        ],
        &Store::new(),
        ErrorCode::DTDLParserError,
        "cycle",
    );
    assert!(msg.contains("dtmi:x:A;1 -> dtmi:x:B;1 -> dtmi:x:A;1"), "{msg}");
    refused(
        vec![
            model("dtmi:x:A;1", 3, &["dtmi:x:B;1"], json!([])),
            model("dtmi:x:B;1", 3, &["dtmi:x:C;1"], json!([])),
            model("dtmi:x:C;1", 3, &["dtmi:x:B;1"], json!([])),
        ],
        &Store::new(),
        ErrorCode::DTDLParserError,
        "dtmi:x:B;1 -> dtmi:x:C;1 -> dtmi:x:B;1",
    );
}

/// `n` models, each extending the next: I0 extends I1 … extends I(n-1).
fn chain(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let parent = format!("dtmi:x:I{};1", i + 1);
            let extends: Vec<&str> = if i + 1 < n { vec![parent.as_str()] } else { vec![] };
            model(&format!("dtmi:x:I{i};1"), 3, &extends, json!([prop(&format!("p{i}"))]))
        })
        .collect()
}

#[test]
fn extends_is_at_most_ten_levels_deep() {
    check_batch(&parse(chain(11)), &()).unwrap(); // I0 is 10 levels above I10
    refused(chain(12), &Store::new(), ErrorCode::DTDLParserError, "at most 10");
    // Also when most of the chain is already stored.
    let stored = store(chain(11));
    refused(
        vec![model("dtmi:x:Top;1", 3, &["dtmi:x:I0;1"], json!([]))],
        &stored,
        ErrorCode::DTDLParserError,
        "at most 10",
    );
}

#[test]
fn a_hierarchy_has_at_most_1024_interfaces() {
    let parents: Vec<String> = (0..1100).map(|i| format!("dtmi:x:P{i};1")).collect();
    let stored = store(parents.iter().map(|p| model(p, 3, &[], json!([]))).collect());
    let refs: Vec<&str> = parents.iter().map(String::as_str).collect();
    refused(
        vec![model("dtmi:x:Wide;1", 3, &refs, json!([]))],
        &stored,
        ErrorCode::DTDLParserError,
        "more than 1024 Interfaces",
    );
    check_batch(&parse(vec![model("dtmi:x:Wide;1", 3, &refs[..1000], json!([]))]), &stored)
        .unwrap();
}

#[test]
fn inherited_names_cannot_be_redeclared() {
    let stored = store(vec![
        model("dtmi:x:Base;1", 3, &[], json!([prop("name")])),
        model("dtmi:x:Other;1", 3, &[], json!([prop("name")])),
        model("dtmi:x:Left;1", 3, &["dtmi:x:Base;1"], json!([prop("left")])),
        model("dtmi:x:Right;1", 3, &["dtmi:x:Base;1"], json!([prop("right")])),
    ]);
    let msg = refused(
        vec![model("dtmi:x:Child;1", 3, &["dtmi:x:Base;1"], json!([prop("name")]))],
        &stored,
        ErrorCode::DTDLParserError,
        "content 'name' is already declared by dtmi:x:Base;1",
    );
    assert!(msg.contains("cannot redeclare"), "{msg}");
    refused(
        vec![model("dtmi:x:Both;1", 3, &["dtmi:x:Base;1", "dtmi:x:Other;1"], json!([]))],
        &stored,
        ErrorCode::DTDLParserError,
        "content 'name' is declared by both dtmi:x:Base;1 and dtmi:x:Other;1",
    );
    // Redeclared further up the chain, within the batch.
    refused(
        vec![
            model("dtmi:x:C;1", 3, &["dtmi:x:B;1"], json!([prop("name")])),
            model("dtmi:x:B;1", 3, &["dtmi:x:Base;1"], json!([])),
        ],
        &stored,
        ErrorCode::DTDLParserError,
        "already declared by dtmi:x:Base;1",
    );
    // A diamond inherits the same declaration twice, which is fine.
    let diamond = vec![model("dtmi:x:D;1", 3, &["dtmi:x:Left;1", "dtmi:x:Right;1"], json!([]))];
    check_batch(&parse(diamond), &stored).unwrap();
}

#[test]
fn components_nest_one_level_only() {
    let msg = refused(
        vec![
            model("dtmi:x:A;1", 3, &[], json!([comp("b", "dtmi:x:B;1")])),
            model("dtmi:x:B;1", 3, &[], json!([comp("c", "dtmi:x:C;1")])),
            model("dtmi:x:C;1", 3, &[], json!([prop("x")])),
        ],
        &Store::new(),
        ErrorCode::DTDLParserError,
        "only one level of component nesting",
    );
    assert!(
        msg.contains("component 'b' uses dtmi:x:B;1, which has a component of its own ('c')"),
        "{msg}"
    );
    // A component inherited by the component's Interface counts too.
    let stored = store(vec![
        model("dtmi:x:C;1", 3, &[], json!([prop("x")])),
        model("dtmi:x:Holder;1", 3, &[], json!([comp("c", "dtmi:x:C;1")])),
    ]);
    refused(
        vec![
            model("dtmi:x:A;1", 3, &[], json!([comp("b", "dtmi:x:B;1")])),
            model("dtmi:x:B;1", 3, &["dtmi:x:Holder;1"], json!([])),
        ],
        &stored,
        ErrorCode::DTDLParserError,
        "inherited from dtmi:x:Holder;1",
    );
}

#[test]
fn v2_cannot_build_on_v3() {
    refused(
        vec![
            model("dtmi:x:Old;1", 2, &["dtmi:x:New;1"], json!([])),
            model("dtmi:x:New;1", 3, &[], json!([])),
        ],
        &Store::new(),
        ErrorCode::DTDLParserError,
        "a DTDL v2 Interface cannot build on a DTDL v3 Interface",
    );
    let stored = store(vec![model("dtmi:x:New;1", 3, &[], json!([]))]);
    refused(
        vec![model("dtmi:x:Old;1", 2, &[], json!([comp("c", "dtmi:x:New;1")]))],
        &stored,
        ErrorCode::DTDLParserError,
        "component 'c' uses dtmi:x:New;1, but a DTDL v2 Interface cannot build on",
    );
    // The reverse is allowed.
    let stored = store(vec![model("dtmi:x:Old;1", 2, &[], json!([]))]);
    let batch = parse(vec![model(
        "dtmi:x:New;2",
        3,
        &["dtmi:x:Old;1"],
        json!([comp("c", "dtmi:x:Old;1")]),
    )]);
    check_batch(&batch, &stored).unwrap();
}
