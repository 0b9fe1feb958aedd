//! Tests of [`super::parse_batch`] and [`super::parse_interface`]: valid v2 and v3 models, and one
//! test per rule a single Interface can break.

use super::*;
use crate::error::ErrorCode;
use crate::model::dtdl::EnumValueSchema;
use serde_json::json;

fn iface(context: &str, id: &str, contents: Value) -> Value {
    json!({"@context": context, "@id": id, "@type": "Interface", "contents": contents})
}

fn v2(id: &str, contents: Value) -> Value {
    iface("dtmi:dtdl:context;2", id, contents)
}

fn v3(id: &str, contents: Value) -> Value {
    iface("dtmi:dtdl:context;3", id, contents)
}

fn parse_one(v: Value) -> Result<Interface> {
    parse_batch(&v.to_string()).map(|mut b| b.remove(0).0)
}

fn refused(v: Value, code: ErrorCode, expect: &str) -> String {
    let e = parse_one(v.clone()).expect_err(&format!("should be refused: {v}"));
    assert_eq!(e.code, code, "{e}");
    assert!(e.message.contains(expect), "message {:?} should contain {expect:?}", e.message);
    e.message
}

fn model_error(v: Value, expect: &str) -> String {
    refused(v, ErrorCode::DTDLParserError, expect)
}

fn prop(name: &str, schema: Value) -> Value {
    json!({"@type": "Property", "name": name, "schema": schema})
}

#[test]
fn parses_a_v2_model_with_complex_schemas_components_and_relationships() {
    let model = json!({
        "@context": "dtmi:dtdl:context;2",
        "@id": "dtmi:com:example:Room;1",
        "@type": "Interface",
        "displayName": "Room",
        "description": {"en": "A room", "it": "Una stanza"},
        "comment": "for tests",
        "extends": "dtmi:com:example:Space;1",
        "contents": [
            {"@type": ["Property", "Temperature"], "name": "temperature", "schema": "double",
             "unit": "degreeCelsius", "writable": true},
            {"@type": "Property", "name": "mode", "schema": {
                "@type": "Enum", "valueSchema": "integer",
                "enumValues": [{"name": "off", "enumValue": 0}, {"name": "on", "enumValue": 1, "displayName": "On"}]}},
            {"@type": "Property", "name": "address", "schema": "dtmi:com:example:Room:address;1"},
            {"@type": "Property", "name": "tags", "schema": {
                "@type": "Map",
                "mapKey": {"name": "tag", "schema": "string"},
                "mapValue": {"name": "value", "schema": "string"}}},
            {"@type": "Telemetry", "name": "readings", "schema": {"@type": "Array", "elementSchema": "double"}},
            {"@type": "Relationship", "name": "contains", "target": "dtmi:com:example:Sensor;1",
             "minMultiplicity": 0, "maxMultiplicity": 10,
             "properties": [{"@type": "Property", "name": "since", "schema": "date"}]},
            {"@type": "Relationship", "name": "near"},
            {"@type": "Component", "name": "thermostat", "schema": "dtmi:com:example:Thermostat;1"}
        ],
        "schemas": [{
            "@id": "dtmi:com:example:Room:address;1", "@type": "Object",
            "fields": [{"name": "city", "schema": "string"}, {"name": "zip", "schema": "string"}]
        }]
    });
    let i = parse_one(model).unwrap();
    assert_eq!(i.id, "dtmi:com:example:Room;1");
    assert_eq!(i.dtdl_version, 2);
    assert_eq!(i.extends, vec!["dtmi:com:example:Space;1"]);
    assert_eq!(i.display_name["en"], "Room");
    assert_eq!(i.description["it"], "Una stanza");
    assert_eq!(i.comment.as_deref(), Some("for tests"));
    assert_eq!(i.contents.len(), 8);
    let Some(Content::Property(t)) = i.content("temperature") else { panic!() };
    assert_eq!(t.schema, Schema::Double);
    assert!(t.writable);
    let Some(Content::Property(m)) = i.content("mode") else { panic!() };
    assert_eq!(
        m.schema,
        Schema::Enum {
            value_schema: EnumValueSchema::Integer,
            values: vec![("off".into(), json!(0)), ("on".into(), json!(1))]
        }
    );
    let Some(Content::Property(a)) = i.content("address") else { panic!() };
    let Schema::Object { fields } = &a.schema else { panic!("{:?}", a.schema) };
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["city", "zip"]);
    assert_eq!(i.schemas["dtmi:com:example:Room:address;1"], a.schema);
    let Some(Content::Property(tags)) = i.content("tags") else { panic!() };
    assert_eq!(tags.schema, Schema::Map { value: Box::new(Schema::String) });
    let Some(Content::Telemetry(r)) = i.content("readings") else { panic!() };
    assert_eq!(r.schema, Schema::Array(Box::new(Schema::Double)));
    let Some(Content::Relationship(c)) = i.content("contains") else { panic!() };
    assert_eq!(c.target.as_deref(), Some("dtmi:com:example:Sensor;1"));
    assert_eq!(c.properties["since"].schema, Schema::Date);
    assert_eq!((c.min_multiplicity, c.max_multiplicity), (Some(0), Some(10)));
    let Some(Content::Relationship(n)) = i.content("near") else { panic!() };
    assert_eq!(n.target, None);
    let Some(Content::Component(th)) = i.content("thermostat") else { panic!() };
    assert_eq!(th.schema, "dtmi:com:example:Thermostat;1");
    assert_eq!(i.dependencies(), vec!["dtmi:com:example:Space;1", "dtmi:com:example:Thermostat;1"]);
}

#[test]
fn parses_a_v3_model_with_arrays_extensions_and_new_primitives() {
    let model = json!({
        "@context": ["dtmi:dtdl:context;3", "dtmi:dtdl:extension:quantitativeTypes;1"],
        "@id": "dtmi:com:example:Sensor",
        "@type": "Interface",
        "extends": ["dtmi:a:A;1", "dtmi:a:B;1", "dtmi:a:C;1"],
        "contents": [
            {"@type": "Property", "name": "levels", "schema": {"@type": "Array", "elementSchema": "integer"}},
            {"@type": ["Property", "Temperature"], "name": "temp", "schema": "double", "unit": "degreeCelsius"},
            {"@type": "Property", "name": "serial", "schema": "uuid"},
            {"@type": "Property", "name": "count", "schema": "unsignedLong"},
            {"@type": "Property", "name": "where", "schema": "point"},
            {"@type": "dtmi:dtdl:class:Property;3", "name": "label", "schema": "string"},
            {"@type": "Property", "name": "nested", "schema": {"@type": "Object", "fields": [
                {"name": "inner", "schema": {"@id": "dtmi:com:example:Sensor:inner;1", "@type": "Object",
                 "fields": [{"name": "x", "schema": "double"}]}}]}},
            {"@type": "Telemetry", "name": "again", "schema": "dtmi:com:example:Sensor:inner;1"}
        ]
    });
    let i = parse_one(model).unwrap();
    assert_eq!(i.dtdl_version, 3);
    assert_eq!(i.extensions, vec!["dtmi:dtdl:extension:quantitativeTypes;1"]);
    assert_eq!(i.extends.len(), 3);
    let Some(Content::Property(l)) = i.content("levels") else { panic!() };
    assert_eq!(l.schema, Schema::Array(Box::new(Schema::Integer)));
    let Some(Content::Telemetry(t)) = i.content("again") else { panic!() };
    assert!(matches!(&t.schema, Schema::Object { fields } if fields.contains_key("x")));
    assert!(i.schemas.contains_key("dtmi:com:example:Sensor:inner;1"));
    // Two-part versions are fine in v3.
    assert!(parse_one(v3("dtmi:com:example:S;1.2", json!([]))).is_ok());
}

#[test]
fn a_single_object_is_a_batch_of_one_and_the_text_round_trips() {
    let text = r#"{ "@type": "Interface", "@id": "dtmi:x:A;1",
        "contents": [{"name": "p", "@type": "Property", "schema": "string"}],
        "@context": "dtmi:dtdl:context;3" }"#;
    let batch = parse_batch(text).unwrap();
    assert_eq!(batch.len(), 1);
    let (i, canonical) = &batch[0];
    assert!(canonical.starts_with(r#"{"@context":"dtmi:dtdl:context;3","@id":"dtmi:x:A;1""#));
    assert_eq!(&parse_interface(canonical).unwrap(), i);
    let arr = format!("[{text}, {}]", v2("dtmi:x:B;1", json!([])));
    assert_eq!(parse_batch(&arr).unwrap().len(), 2);
}

#[test]
fn refuses_input_that_is_not_a_model_upload() {
    let e = parse_batch("[{").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(e.message.starts_with("the model upload is not valid JSON"));
    assert_eq!(parse_batch("42").unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(parse_batch("[]").unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(parse_interface("nope").unwrap_err().code, ErrorCode::InvalidArgument);
    let e = parse_batch(r#"["dtmi:x:A;1"]"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::DTDLParserError);
    assert!(e.message.contains("element 1 of the upload is a string"), "{e}");
}

#[test]
fn refuses_more_than_250_models_per_batch() {
    let many: Vec<Value> = (0..=250).map(|i| v3(&format!("dtmi:x:M{i};1"), json!([]))).collect();
    let e = parse_batch(&Value::Array(many.clone()).to_string()).unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert!(e.message.contains("251 models") && e.message.contains("at most 250"), "{e}");
    assert_eq!(parse_batch(&Value::Array(many[..250].to_vec()).to_string()).unwrap().len(), 250);
}

#[test]
fn refuses_oversized_models() {
    let mut m = v3("dtmi:x:Big;1", json!([]));
    m["comment"] = json!("x".repeat(1 << 20));
    let msg = refused(m, ErrorCode::LimitExceeded, "at most 1048576 bytes");
    assert!(msg.starts_with("model dtmi:x:Big;1 is "), "{msg}");
}

#[test]
fn refuses_duplicate_ids_in_a_batch() {
    let b = json!([v3("dtmi:x:A;1", json!([])), v3("dtmi:x:A;1", json!([]))]);
    let e = parse_batch(&b.to_string()).unwrap_err();
    assert_eq!(e.code, ErrorCode::DTDLParserError);
    assert!(e.message.contains("appears twice"), "{e}");
}

#[test]
fn refuses_bad_interface_ids() {
    for (id, expect) in [
        ("dtmi:com:1Room;1", "starts with a digit"),
        ("dtmi:com:Room_;1", "ends with '_'"),
        ("dtmi:com:_Room;1", "system segment"),
        ("dtmi:com::Room;1", "empty path segment"),
        ("dtmi:com:Room;01", "leading zeros"),
        ("dtmi:com:Room;1.0", "starting with 0"),
        ("com:Room;1", "start with 'dtmi:'"),
        ("dtmi:com:Ro om;1", "contains ' '"),
    ] {
        let msg = model_error(v3(id, json!([])), expect);
        assert!(msg.starts_with(&format!("model {id}: @id is not a valid DTMI")), "{msg}");
    }
    let long = format!("dtmi:com:{};1", "a".repeat(130));
    model_error(v3(&long, json!([])), "at most 128");
    model_error(v3("dtmi:dtdl:Mine;1", json!([])), "reserved prefix");
    model_error(v3("dtmi:standard:Mine;1", json!([])), "reserved prefix");
    model_error(v2("dtmi:com:NoVersion", json!([])), "DTDL v2 Interface ids need one");
    model_error(v2("dtmi:com:Minor;1.2", json!([])), "only DTDL v3 allows");
    let mut no_id = v3("dtmi:x:A;1", json!([]));
    no_id.as_object_mut().unwrap().remove("@id");
    let msg = model_error(no_id, "@id is missing");
    assert!(msg.starts_with("model (element 1 of the upload): "), "{msg}");
}

#[test]
fn checks_context_and_type() {
    let mut m = v3("dtmi:x:A;1", json!([]));
    m.as_object_mut().unwrap().remove("@context");
    model_error(m.clone(), "@context is missing");
    m["@context"] = json!("dtmi:dtdl:context;4");
    model_error(m.clone(), "not supported");
    m["@context"] = json!("https://schema.org");
    model_error(m.clone(), "is not a DTDL context");
    m["@context"] = json!(["dtmi:dtdl:extension:quantitativeTypes;1", "dtmi:dtdl:context;3"]);
    model_error(m.clone(), "first");
    m["@context"] = json!(["dtmi:dtdl:context;3", "dtmi:dtdl:extension:madeUp;1"]);
    model_error(m.clone(), "not a supported DTDL extension");
    m["@context"] = json!(["dtmi:dtdl:context;2", "dtmi:dtdl:extension:quantitativeTypes;1"]);
    model_error(m.clone(), "not allowed in DTDL v2");
    m["@context"] = json!([
        "dtmi:dtdl:context;3",
        "dtmi:dtdl:extension:historization;1",
        "dtmi:dtdl:extension:annotation;1"
    ]);
    assert!(parse_one(m.clone()).is_ok());
    m["@type"] = json!("Property");
    model_error(m.clone(), "every top-level element must be an Interface");
    let bare_property = json!({"@type": "Property", "name": "p", "schema": "double"});
    model_error(bare_property, "every top-level element must be an Interface");
    m["@type"] = json!(["Interface", "Property"]);
    model_error(m.clone(), "cannot be both Interface and Property");
    m["@type"] = json!(["Interface", "http://not/a/term"]);
    model_error(m, "not a DTMI");
}

#[test]
fn unknown_schemas_are_named_with_a_suggestion() {
    let m = v3("dtmi:example:Room;1", json!([prop("temp", json!("tempreature"))]));
    let msg = model_error(m, "");
    assert!(
        msg.starts_with(
            "model dtmi:example:Room;1: content 'temp' has unknown schema 'tempreature'"
        ),
        "{msg}"
    );
    let msg = model_error(
        v3("dtmi:x:A;1", json!([prop("t", json!("doubel"))])),
        "did you mean 'double'?",
    );
    assert!(msg.contains("content 't'"));
    model_error(v3("dtmi:x:A;1", json!([prop("t", json!("Object"))])), "written as a term");
    model_error(
        v3("dtmi:x:A;1", json!([prop("t", json!("dtmi:x:Nope;1"))])),
        "unknown schema 'dtmi:x:Nope;1'",
    );
    model_error(v3("dtmi:x:A;1", json!([prop("t", json!(5))])), "has a schema that is a number");
    model_error(v2("dtmi:x:A;1", json!([prop("t", json!("uuid"))])), "exists only in DTDL v3");
    let field = json!({"@type": "Object", "fields": [{"name": "zip", "schema": "strng"}]});
    model_error(
        v3("dtmi:x:A;1", json!([prop("address", field)])),
        "content 'address', field 'zip' has unknown schema 'strng'; did you mean 'string'?",
    );
    model_error(
        v3("dtmi:x:A;1", json!([prop("p", json!({"@type": "Struct"}))])),
        "Array, Enum, Map or Object",
    );
    model_error(
        v3("dtmi:x:A;1", json!([prop("p", json!({"@type": "Array"}))])),
        "missing 'elementSchema'",
    );
}

fn nested_arrays(levels: usize) -> Value {
    let mut s = json!("double");
    for _ in 0..levels {
        s = json!({"@type": "Array", "elementSchema": s});
    }
    s
}

#[test]
fn complex_schemas_nest_at_most_five_levels() {
    let t = |levels| json!([{"@type": "Telemetry", "name": "t", "schema": nested_arrays(levels)}]);
    assert!(parse_one(v2("dtmi:x:A;1", t(5))).is_ok());
    model_error(v2("dtmi:x:A;1", t(6)), "more than 5 levels deep");
    // Depth counts through named schemas too.
    let mut m = v3(
        "dtmi:x:A;1",
        json!([
            {"@type": "Telemetry", "name": "t", "schema": {"@type": "Array", "elementSchema": "dtmi:x:A:deep;1"}}
        ]),
    );
    let mut deep = nested_arrays(5);
    deep["@id"] = json!("dtmi:x:A:deep;1");
    m["schemas"] = json!([deep]);
    model_error(m, "more than 5 levels deep");
}

#[test]
fn named_schemas_cannot_contain_themselves() {
    let mut m = v3("dtmi:x:A;1", json!([prop("p", json!("dtmi:x:A:node;1"))]));
    m["schemas"] = json!([{"@id": "dtmi:x:A:node;1", "@type": "Object",
        "fields": [{"name": "next", "schema": "dtmi:x:A:node;1"}]}]);
    model_error(m, "refers to itself");
}

#[test]
fn named_schema_expansion_is_capped() {
    let fields = |schema: &str| -> Value {
        (0..400).map(|i| json!({"name": format!("f{i}"), "schema": schema})).collect()
    };
    let mut m = v3("dtmi:x:A;1", json!([prop("p", json!("dtmi:x:A:b;1"))]));
    m["schemas"] = json!([
        {"@id": "dtmi:x:A:a;1", "@type": "Object", "fields": fields("double")},
        {"@id": "dtmi:x:A:b;1", "@type": "Object", "fields": fields("dtmi:x:A:a;1")}
    ]);
    refused(m, ErrorCode::LimitExceeded, "more than 100000 elements");
}

#[test]
fn commands_are_refused() {
    let cmd = json!({"@type": "Command", "name": "reboot"});
    let msg = model_error(v3("dtmi:x:A;1", json!([cmd])), "commands are not supported");
    assert!(msg.contains("content 'reboot' is a Command"), "{msg}");
}

#[test]
fn inline_interfaces_are_refused() {
    let inline = json!({"@id": "dtmi:x:B;1", "@type": "Interface", "contents": []});
    let comp = json!({"@type": "Component", "name": "c", "schema": inline});
    model_error(v3("dtmi:x:A;1", json!([comp])), "inline Interfaces are not supported");
    model_error(v3("dtmi:x:A;1", json!([inline.clone()])), "inline Interfaces are not supported");
    let mut m = v3("dtmi:x:A;1", json!([]));
    m["extends"] = json!([inline]);
    model_error(m, "inline Interfaces are not supported");
}

#[test]
fn content_names_are_checked_and_unique() {
    let dup = json!([prop("x", json!("double")), {"@type": "Telemetry", "name": "x", "schema": "double"}]);
    model_error(
        v3("dtmi:x:A;1", dup),
        "content name 'x' is declared twice (as a property and as a telemetry)",
    );
    model_error(v3("dtmi:x:A;1", json!([prop("1x", json!("double"))])), "must start with a letter");
    model_error(v3("dtmi:x:A;1", json!([prop("x_", json!("double"))])), "must not end with '_'");
    model_error(v3("dtmi:x:A;1", json!([prop("a-b", json!("double"))])), "contains '-'");
    model_error(
        v3("dtmi:x:A;1", json!([{"@type": "Property", "schema": "double"}])),
        "has no name",
    );
    let long = "n".repeat(65);
    model_error(v2("dtmi:x:A;1", json!([prop(&long, json!("double"))])), "allows at most 64");
    assert!(parse_one(v3("dtmi:x:A;1", json!([prop(&long, json!("double"))]))).is_ok());
}

#[test]
fn content_types_are_checked() {
    model_error(
        v3("dtmi:x:A;1", json!([{"name": "x", "schema": "double"}])),
        "has no string @type",
    );
    model_error(v3("dtmi:x:A;1", json!([{"@type": "Field", "name": "x"}])), "not a content kind");
    model_error(
        v3(
            "dtmi:x:A;1",
            json!([{"@type": ["Property", "Telemetry"], "name": "x", "schema": "double"}]),
        ),
        "more than one content kind",
    );
    model_error(v3("dtmi:x:A;1", json!(["x"])), "contents entry 1 is a string");
}

#[test]
fn v2_limits_extends_to_two() {
    let mut m = v2("dtmi:x:A;1", json!([]));
    m["extends"] = json!(["dtmi:x:B;1", "dtmi:x:C;1", "dtmi:x:D;1"]);
    model_error(m.clone(), "DTDL v2 allows at most 2");
    m["extends"] = json!(["dtmi:x:B;1", "dtmi:x:C;1"]);
    assert!(parse_one(m.clone()).is_ok());
    m["extends"] = json!(["dtmi:x:B;1", "dtmi:x:B;1"]);
    model_error(m.clone(), "twice");
    m["extends"] = json!("dtmi:x:A;1");
    model_error(m.clone(), "extends itself");
    m["extends"] = json!("dtmi:x:;1");
    model_error(m, "extends 'dtmi:x:;1' is not a valid DTMI");
}

#[test]
fn arrays_in_properties_need_v3() {
    let arr = json!({"@type": "Array", "elementSchema": "double"});
    model_error(
        v2("dtmi:x:A;1", json!([prop("p", arr.clone())])),
        "DTDL v2 allows only for Telemetry",
    );
    let in_object = json!({"@type": "Object", "fields": [{"name": "xs", "schema": arr}]});
    model_error(
        v2("dtmi:x:A;1", json!([prop("p", in_object)])),
        "DTDL v2 allows only for Telemetry",
    );
    let rel = json!({"@type": "Relationship", "name": "r", "properties": [prop("p", arr.clone())]});
    model_error(v2("dtmi:x:A;1", json!([rel])), "DTDL v2 allows only for Telemetry");
    assert!(parse_one(v3("dtmi:x:A;1", json!([prop("p", arr)]))).is_ok());
}

#[test]
fn unknown_members_are_refused_unless_co_typed() {
    let typo = json!({"@type": "Property", "name": "p", "schema": "double", "writeable": true});
    model_error(
        v3("dtmi:x:A;1", json!([typo])),
        "unknown member 'writeable'; did you mean 'writable'?",
    );
    let arr = json!({"@type": "Array", "elementSchma": "double"});
    model_error(v3("dtmi:x:A;1", json!([prop("p", arr)])), "did you mean 'elementSchema'?");
    let mut m = v3("dtmi:x:A;1", json!([]));
    m["content"] = json!([]);
    model_error(m, "the Interface has unknown member 'content'; did you mean 'contents'?");
    let cotyped = json!({"@type": ["Property", "Temperature"], "name": "p", "schema": "double", "unit": "kelvin"});
    assert!(parse_one(v3("dtmi:x:A;1", json!([cotyped]))).is_ok());
    model_error(
        v3(
            "dtmi:x:A;1",
            json!([{"@type": "Property", "name": "p", "schema": "double", "writable": "yes"}]),
        ),
        "must be true or false",
    );
}

#[test]
fn enums_are_checked() {
    let e = |value_schema: &str, values: Value| {
        v3(
            "dtmi:x:A;1",
            json!([prop(
                "e",
                json!({"@type": "Enum", "valueSchema": value_schema, "enumValues": values})
            )]),
        )
    };
    assert!(parse_one(e("string", json!([{"name": "a", "enumValue": "A"}]))).is_ok());
    model_error(e("string", json!([{"name": "a", "enumValue": 1}])), "needs a string");
    model_error(e("integer", json!([{"name": "a", "enumValue": "A"}])), "needs an integer");
    model_error(e("double", json!([])), "must be \"integer\" or \"string\"");
    model_error(
        e("integer", json!([{"name": "a", "enumValue": 1}, {"name": "a", "enumValue": 2}])),
        "name 'a' twice",
    );
    model_error(
        e("integer", json!([{"name": "a", "enumValue": 1}, {"name": "b", "enumValue": 1}])),
        "enumValue 1 twice",
    );
    model_error(e("integer", json!([{"name": "a"}])), "missing 'enumValue'");
}

#[test]
fn maps_and_objects_are_checked() {
    let map = |key_schema: &str| json!({"@type": "Map", "mapKey": {"name": "k", "schema": key_schema}, "mapValue": {"name": "v", "schema": "double"}});
    assert!(parse_one(v3("dtmi:x:A;1", json!([prop("m", map("string"))]))).is_ok());
    model_error(
        v3("dtmi:x:A;1", json!([prop("m", map("integer"))])),
        "map keys must have schema \"string\"",
    );
    model_error(
        v3(
            "dtmi:x:A;1",
            json!([prop(
                "m",
                json!({"@type": "Map", "mapKey": {"name": "k", "schema": "string"}})
            )]),
        ),
        "missing 'mapValue'",
    );
    let dup = json!({"@type": "Object", "fields": [{"name": "a", "schema": "double"}, {"name": "a", "schema": "string"}]});
    model_error(v3("dtmi:x:A;1", json!([prop("o", dup)])), "field 'a' twice");
}

#[test]
fn relationships_are_checked() {
    let rel = |extra: Value| {
        let mut r = json!({"@type": "Relationship", "name": "r"});
        r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v3("dtmi:x:A;1", json!([r]))
    };
    model_error(rel(json!({"minMultiplicity": 1})), "minMultiplicity other than 0");
    model_error(rel(json!({"maxMultiplicity": 0})), "maxMultiplicity 0");
    model_error(rel(json!({"maxMultiplicity": -1})), "non-negative integer");
    model_error(rel(json!({"target": "dtmi:x:;1"})), "is not a valid DTMI");
    model_error(
        rel(json!({"properties": [{"name": "p", "schema": "double"}]})),
        "must have \"@type\": \"Property\"",
    );
    model_error(
        rel(json!({"properties": [prop("p", json!("double")), prop("p", json!("string"))]})),
        "property 'p' twice",
    );
    model_error(
        rel(json!({"properties": [prop("p", json!("nope"))]})),
        "property 'p' of relationship 'r' has unknown schema 'nope'",
    );
    let ok = parse_one(rel(json!({"target": "dtmi:x:Later;1", "writable": true}))).unwrap();
    assert!(ok.dependencies().is_empty(), "targets are not dependencies");
}

#[test]
fn components_are_checked() {
    let comp = |schema: Value| {
        v3("dtmi:x:A;1", json!([{"@type": "Component", "name": "c", "schema": schema}]))
    };
    model_error(comp(json!("dtmi:x:A;1")), "cannot contain its own Interface");
    model_error(comp(json!("double")), "not a valid DTMI");
    model_error(comp(json!(3)), "a component's schema is an Interface DTMI");
}

#[test]
fn element_ids_are_valid_and_unique() {
    let p = |id: &str| json!({"@type": "Property", "@id": id, "name": "p", "schema": "double"});
    model_error(v3("dtmi:x:A;1", json!([p("dtmi:x:A;1")])), "used by more than one element");
    model_error(
        v3("dtmi:x:A;1", json!([p("not-a-dtmi")])),
        "element @id 'not-a-dtmi' is not a valid DTMI",
    );
    model_error(v3("dtmi:x:A;1", json!([p("dtmi:standard:p;1")])), "reserved prefix");
    assert!(parse_one(v3("dtmi:x:A;1", json!([p("dtmi:x:A:p;1")]))).is_ok());
}

#[test]
fn display_texts_are_limited() {
    let mut m = v3("dtmi:x:A;1", json!([]));
    m["displayName"] = json!("d".repeat(65));
    model_error(
        m.clone(),
        "the Interface has a displayName that the 'en' text is 65 characters long",
    );
    m["displayName"] = json!({"en": "Room"});
    m["description"] = json!(7);
    model_error(m.clone(), "description that must be a string");
    m["description"] = json!("ok");
    m["comment"] = json!("c".repeat(513));
    model_error(m, "comment of 513 characters");
}
