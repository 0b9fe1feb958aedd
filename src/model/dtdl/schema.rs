//! DTDL schemas and the check of a JSON value against one.
//!
//! A [`Schema`] is a plain tree: named schemas (DTMI references inside an Interface) are expanded
//! when the model is parsed, so checking a value is a simple recursive walk with no lookups. The
//! check is what makes twin writes `ValidationFailed` in the same cases as ADT, so its messages
//! carry the path to the offending value (`value at 'address.zip' must be a string, found 12`): a
//! twin can be large, and "does not match the model" alone would leave the user guessing.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{formats, geo};
use crate::model::limits::MAX_STRING_VALUE_BYTES;

/// The type of an Enum's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumValueSchema {
    /// Values are integers (in the `integer` range).
    Integer,
    /// Values are strings.
    String,
}

/// A DTDL schema, expanded.
#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    /// `boolean`.
    Boolean,
    /// `date`: RFC 3339 full-date.
    Date,
    /// `dateTime`: RFC 3339 date-time.
    DateTime,
    /// `double`: any JSON number.
    Double,
    /// `duration`: ISO 8601 duration.
    Duration,
    /// `float`: a number within single-precision range.
    Float,
    /// `integer`: 32-bit signed.
    Integer,
    /// `long`: 64-bit signed.
    Long,
    /// `string`.
    String,
    /// `time`: RFC 3339 partial-time, optionally with an offset.
    Time,
    /// `byte` (v3): 8-bit signed.
    Byte,
    /// `bytes` (v3): base64 string.
    Bytes,
    /// `decimal` (v3): a number, or a string holding a decimal number.
    Decimal,
    /// `short` (v3): 16-bit signed.
    Short,
    /// `unsignedByte` (v3).
    UnsignedByte,
    /// `unsignedInteger` (v3).
    UnsignedInteger,
    /// `unsignedLong` (v3).
    UnsignedLong,
    /// `unsignedShort` (v3).
    UnsignedShort,
    /// `uuid` (v3): a UUID string.
    Uuid,
    /// `point`: a GeoJSON Point.
    Point,
    /// `lineString`: a GeoJSON LineString.
    LineString,
    /// `polygon`: a GeoJSON Polygon.
    Polygon,
    /// `multiPoint`: a GeoJSON MultiPoint.
    MultiPoint,
    /// `multiLineString`: a GeoJSON MultiLineString.
    MultiLineString,
    /// `multiPolygon`: a GeoJSON MultiPolygon.
    MultiPolygon,
    /// `Array`: a JSON array whose elements all match the element schema.
    Array(Box<Schema>),
    /// `Enum`: one of the declared values, `(name, value)`.
    Enum {
        /// The type of the values.
        value_schema: EnumValueSchema,
        /// The declared values, `(name, enumValue)`, in the order written.
        values: Vec<(String, Value)>,
    },
    /// `Map`: a JSON object with string keys whose values all match `value`.
    Map {
        /// The schema of the map's values.
        value: Box<Schema>,
    },
    /// `Object`: a JSON object whose keys are declared fields (each optional).
    Object {
        /// The fields by name.
        fields: BTreeMap<String, Schema>,
    },
}

/// Primitive and geospatial schema terms of DTDL v2 (also valid in v3).
const V2_TERMS: [(&str, Schema); 16] = [
    ("boolean", Schema::Boolean),
    ("date", Schema::Date),
    ("dateTime", Schema::DateTime),
    ("double", Schema::Double),
    ("duration", Schema::Duration),
    ("float", Schema::Float),
    ("integer", Schema::Integer),
    ("long", Schema::Long),
    ("string", Schema::String),
    ("time", Schema::Time),
    ("point", Schema::Point),
    ("lineString", Schema::LineString),
    ("polygon", Schema::Polygon),
    ("multiPoint", Schema::MultiPoint),
    ("multiLineString", Schema::MultiLineString),
    ("multiPolygon", Schema::MultiPolygon),
];

/// Primitive schema terms DTDL v3 added.
const V3_TERMS: [(&str, Schema); 9] = [
    ("byte", Schema::Byte),
    ("bytes", Schema::Bytes),
    ("decimal", Schema::Decimal),
    ("short", Schema::Short),
    ("unsignedByte", Schema::UnsignedByte),
    ("unsignedInteger", Schema::UnsignedInteger),
    ("unsignedLong", Schema::UnsignedLong),
    ("unsignedShort", Schema::UnsignedShort),
    ("uuid", Schema::Uuid),
];

impl Schema {
    /// The primitive or geospatial schema a term names in the given DTDL version.
    pub fn from_term(term: &str, dtdl_version: u8) -> Option<Schema> {
        let v3 = if dtdl_version >= 3 { &V3_TERMS[..] } else { &[] };
        V2_TERMS.iter().chain(v3).find(|(t, _)| *t == term).map(|(_, s)| s.clone())
    }

    /// True when `term` is a primitive schema only DTDL v3 knows.
    pub fn is_v3_only_term(term: &str) -> bool {
        V3_TERMS.iter().any(|(t, _)| *t == term)
    }

    /// Every primitive and geospatial term of a DTDL version, for messages and suggestions.
    pub fn terms(dtdl_version: u8) -> Vec<&'static str> {
        let v3 = if dtdl_version >= 3 { &V3_TERMS[..] } else { &[] };
        V2_TERMS.iter().chain(v3).map(|(t, _)| *t).collect()
    }

    /// The DTDL term of this schema (`"double"`, `"Object"`, …).
    pub fn term(&self) -> &'static str {
        match self {
            Schema::Array(_) => "Array",
            Schema::Enum { .. } => "Enum",
            Schema::Map { .. } => "Map",
            Schema::Object { .. } => "Object",
            primitive => V2_TERMS
                .iter()
                .chain(V3_TERMS.iter())
                .find(|(_, s)| s == primitive)
                .map(|(t, _)| *t)
                .unwrap_or("unknown"),
        }
    }

    /// True for Array, Enum, Map and Object.
    pub fn is_complex(&self) -> bool {
        matches!(
            self,
            Schema::Array(_) | Schema::Enum { .. } | Schema::Map { .. } | Schema::Object { .. }
        )
    }

    /// How many complex schemas are nested here (a primitive is 0, an Array of double is 1).
    pub fn depth(&self) -> usize {
        match self {
            Schema::Array(e) => 1 + e.depth(),
            Schema::Enum { .. } => 1,
            Schema::Map { value } => 1 + value.depth(),
            Schema::Object { fields } => 1 + fields.values().map(Schema::depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// True when an Array appears anywhere in this schema.
    pub fn contains_array(&self) -> bool {
        match self {
            Schema::Array(_) => true,
            Schema::Map { value } => value.contains_array(),
            Schema::Object { fields } => fields.values().any(Schema::contains_array),
            _ => false,
        }
    }

    /// Checks a JSON value against the schema. The error is a sentence naming what is wrong and
    /// where (`value at 'address.zip' must be a string, found 12`).
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        self.validate_at(value, "")
    }

    /// Like [`Schema::validate`], for a value found at `path` (e.g. the property name), which the
    /// message names and nested paths extend.
    pub fn validate_at(&self, value: &Value, path: &str) -> Result<(), String> {
        let at =
            || if path.is_empty() { "value".to_string() } else { format!("value at '{path}'") };
        if let Value::String(s) = value
            && s.len() > MAX_STRING_VALUE_BYTES
        {
            return Err(format!(
                "{} is a string of {} bytes; string values may be at most {MAX_STRING_VALUE_BYTES} bytes",
                at(),
                s.len()
            ));
        }
        let mismatch =
            |expected: &str| format!("{} must be {expected}, found {}", at(), found(value));
        let format_mismatch = |expected: &str, why: String| {
            format!("{} must be {expected}, found {}: {why}", at(), found(value))
        };
        let int_in = |lo: i128, hi: i128, expected: &str| -> Result<(), String> {
            match as_integer(value) {
                Some(n) if (lo..=hi).contains(&n) => Ok(()),
                _ => Err(mismatch(expected)),
            }
        };
        let string_format = |check: fn(&str) -> Result<(), String>, expected: &str| match value {
            Value::String(s) => check(s).map_err(|why| format_mismatch(expected, why)),
            _ => Err(mismatch(expected)),
        };
        match self {
            Schema::Boolean => {
                value.is_boolean().then_some(()).ok_or_else(|| mismatch("a boolean"))
            }
            Schema::Double => value.is_number().then_some(()).ok_or_else(|| mismatch("a number")),
            Schema::Float => match value.as_f64() {
                Some(f) if f.abs() <= f32::MAX as f64 => Ok(()),
                _ => Err(mismatch("a number within single-precision (float) range")),
            },
            Schema::Integer => int_in(
                i32::MIN.into(),
                i32::MAX.into(),
                "an integer from -2147483648 to 2147483647",
            ),
            Schema::Long => int_in(i64::MIN.into(), i64::MAX.into(), "a 64-bit integer"),
            Schema::Byte => int_in(i8::MIN.into(), i8::MAX.into(), "an integer from -128 to 127"),
            Schema::Short => {
                int_in(i16::MIN.into(), i16::MAX.into(), "an integer from -32768 to 32767")
            }
            Schema::UnsignedByte => int_in(0, u8::MAX.into(), "an integer from 0 to 255"),
            Schema::UnsignedShort => int_in(0, u16::MAX.into(), "an integer from 0 to 65535"),
            Schema::UnsignedInteger => {
                int_in(0, u32::MAX.into(), "an integer from 0 to 4294967295")
            }
            Schema::UnsignedLong => int_in(0, u64::MAX.into(), "a non-negative 64-bit integer"),
            Schema::String => value.is_string().then_some(()).ok_or_else(|| mismatch("a string")),
            Schema::Date => {
                string_format(formats::check_date, "a date string like \"2024-05-31\" (RFC 3339)")
            }
            Schema::DateTime => string_format(
                formats::check_date_time,
                "a date-time string like \"2024-05-31T12:00:00Z\" (RFC 3339, with 'T' and a UTC offset)",
            ),
            Schema::Time => {
                string_format(formats::check_time, "a time string like \"12:30:00\" (RFC 3339)")
            }
            Schema::Duration => string_format(
                formats::check_duration,
                "an ISO 8601 duration string like \"PT5M\" or \"P1DT2H\"",
            ),
            Schema::Uuid => string_format(
                formats::check_uuid,
                "a UUID string like \"123e4567-e89b-12d3-a456-426614174000\"",
            ),
            Schema::Bytes => string_format(formats::check_base64, "a base64 string"),
            Schema::Decimal => match value {
                Value::Number(_) => Ok(()),
                Value::String(s) => formats::check_decimal(s).map_err(|why| {
                    format_mismatch("a decimal number (or a string holding one)", why)
                }),
                _ => Err(mismatch("a decimal number (or a string holding one)")),
            },
            Schema::Point
            | Schema::LineString
            | Schema::Polygon
            | Schema::MultiPoint
            | Schema::MultiLineString
            | Schema::MultiPolygon => {
                let kind = geo::Geometry::of(self).expect("geospatial schema");
                geo::check(kind, value)
                    .map_err(|why| format!("{} must be a GeoJSON {}: {why}", at(), kind.name()))
            }
            Schema::Array(element) => {
                let Value::Array(items) = value else { return Err(mismatch("an array")) };
                items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| element.validate_at(item, &format!("{path}[{i}]")))
            }
            Schema::Enum { value_schema, values } => {
                let listed = || list_enum_values(values);
                let matches = match value_schema {
                    EnumValueSchema::Integer => {
                        let Some(n) = as_integer(value) else {
                            return Err(mismatch(&format!("one of the enum values {}", listed())));
                        };
                        values.iter().any(|(_, v)| as_integer(v) == Some(n))
                    }
                    EnumValueSchema::String => {
                        value.is_string() && values.iter().any(|(_, v)| v == value)
                    }
                };
                matches
                    .then_some(())
                    .ok_or_else(|| mismatch(&format!("one of the enum values {}", listed())))
            }
            Schema::Map { value: value_schema } => {
                let Value::Object(map) = value else {
                    return Err(mismatch("an object (a map with string keys)"));
                };
                map.iter().try_for_each(|(k, v)| value_schema.validate_at(v, &child(path, k)))
            }
            Schema::Object { fields } => {
                let Value::Object(map) = value else { return Err(mismatch("an object")) };
                for (k, v) in map {
                    let Some(field) = fields.get(k) else {
                        let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                        return Err(format!(
                            "{} has no field '{}'; its fields are: {}",
                            at(),
                            crate::model::dtmi::shown(k),
                            if known.is_empty() { "(none)".to_string() } else { known.join(", ") }
                        ));
                    };
                    field.validate_at(v, &child(path, k))?;
                }
                Ok(())
            }
        }
    }
}

/// The path of a member `key` under `path`.
fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// A JSON number as an integer, when it is one (1.0 is not: JSON integers are written without a
/// fraction, and ADT's parser treats 1.0 as a double).
fn as_integer(v: &Value) -> Option<i128> {
    v.as_i64().map(i128::from).or_else(|| v.as_u64().map(i128::from))
}

fn list_enum_values(values: &[(String, Value)]) -> String {
    if values.is_empty() {
        return "(the enum declares no values)".into();
    }
    const MAX: usize = 20;
    let mut parts: Vec<String> =
        values.iter().take(MAX).map(|(name, v)| format!("{v} ({name})")).collect();
    if values.len() > MAX {
        parts.push(format!("and {} more", values.len() - MAX));
    }
    parts.join(", ")
}

/// A short description of a JSON value for "found …" in messages.
pub(crate) fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            const MAX: usize = 60;
            if s.chars().count() <= MAX {
                Value::String(s.clone()).to_string()
            } else {
                let head: String = s.chars().take(MAX).collect();
                format!("{}… (a string of {} bytes)", Value::String(head), s.len())
            }
        }
        Value::Array(a) => format!("an array of {} elements", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(s: &Schema, v: Value) {
        if let Err(e) = s.validate(&v) {
            panic!("{s:?} should accept {v}: {e}");
        }
    }

    fn bad(s: &Schema, v: Value) -> String {
        s.validate(&v).expect_err(&format!("{s:?} should refuse {v}"))
    }

    #[test]
    fn booleans_and_strings() {
        ok(&Schema::Boolean, json!(true));
        assert_eq!(bad(&Schema::Boolean, json!("true")), "value must be a boolean, found \"true\"");
        ok(&Schema::String, json!("hello"));
        ok(&Schema::String, json!(""));
        assert_eq!(bad(&Schema::String, json!(12)), "value must be a string, found 12");
        assert!(bad(&Schema::String, json!(null)).contains("found null"));
    }

    #[test]
    fn long_strings_are_refused_naming_the_limit() {
        ok(&Schema::String, json!("x".repeat(MAX_STRING_VALUE_BYTES)));
        let e = bad(&Schema::String, json!("x".repeat(MAX_STRING_VALUE_BYTES + 1)));
        assert!(e.contains("4097 bytes") && e.contains("at most 4096 bytes"), "{e}");
        // Also inside complex schemas.
        let m = Schema::Map { value: Box::new(Schema::String) };
        let e = m.validate_at(&json!({"k": "y".repeat(5000)}), "tags").unwrap_err();
        assert!(e.starts_with("value at 'tags.k' is a string of 5000 bytes"), "{e}");
    }

    #[test]
    fn numbers() {
        ok(&Schema::Double, json!(1.5));
        ok(&Schema::Double, json!(-3));
        bad(&Schema::Double, json!("1.5"));
        ok(&Schema::Float, json!(3.25));
        ok(&Schema::Float, json!(7));
        bad(&Schema::Float, json!(1e300));
        ok(&Schema::Integer, json!(2147483647));
        ok(&Schema::Integer, json!(-2147483648));
        assert!(bad(&Schema::Integer, json!(2147483648_i64)).contains("-2147483648 to 2147483647"));
        bad(&Schema::Integer, json!(1.5));
        bad(&Schema::Integer, json!(1.0));
        bad(&Schema::Integer, json!("1"));
        ok(&Schema::Long, json!(i64::MAX));
        ok(&Schema::Long, json!(i64::MIN));
        bad(&Schema::Long, json!(u64::MAX));
        bad(&Schema::Long, json!(2.5));
    }

    #[test]
    fn v3_integer_types() {
        ok(&Schema::Byte, json!(-128));
        bad(&Schema::Byte, json!(128));
        ok(&Schema::Short, json!(32767));
        bad(&Schema::Short, json!(-32769));
        ok(&Schema::UnsignedByte, json!(255));
        bad(&Schema::UnsignedByte, json!(-1));
        ok(&Schema::UnsignedShort, json!(65535));
        bad(&Schema::UnsignedShort, json!(65536));
        ok(&Schema::UnsignedInteger, json!(4294967295_u64));
        bad(&Schema::UnsignedInteger, json!(4294967296_u64));
        ok(&Schema::UnsignedLong, json!(u64::MAX));
        bad(&Schema::UnsignedLong, json!(-5));
    }

    #[test]
    fn v3_string_types() {
        ok(&Schema::Uuid, json!("123e4567-e89b-12d3-a456-426614174000"));
        bad(&Schema::Uuid, json!("123e4567e89b12d3a456426614174000"));
        ok(&Schema::Bytes, json!("aGVsbG8="));
        bad(&Schema::Bytes, json!("not base64!"));
        ok(&Schema::Decimal, json!(12.5));
        ok(&Schema::Decimal, json!("-12.500"));
        bad(&Schema::Decimal, json!("12,5"));
        bad(&Schema::Decimal, json!(true));
    }

    #[test]
    fn temporal_types() {
        ok(&Schema::Date, json!("2024-02-29"));
        let e = bad(&Schema::Date, json!("2023-02-29"));
        assert!(e.starts_with("value must be a date string"), "{e}");
        ok(&Schema::DateTime, json!("2022-02-28T00:30:00.1234567Z"));
        ok(&Schema::DateTime, json!("2022-02-28T00:30:00+05:30"));
        bad(&Schema::DateTime, json!("2022-02-28 00:30:00Z"));
        bad(&Schema::DateTime, json!("2022-02-28T00:30:00"));
        bad(&Schema::DateTime, json!(1646008200));
        ok(&Schema::Time, json!("12:30:00"));
        ok(&Schema::Time, json!("23:59:59.5Z"));
        bad(&Schema::Time, json!("24:00:00"));
        ok(&Schema::Duration, json!("P1DT2H"));
        ok(&Schema::Duration, json!("PT5M"));
        bad(&Schema::Duration, json!("5 minutes"));
        bad(&Schema::Duration, json!("P"));
    }

    #[test]
    fn geospatial_types() {
        ok(&Schema::Point, json!({"type": "Point", "coordinates": [47.6, -122.1]}));
        let e = bad(&Schema::Point, json!({"type": "Point", "coordinates": [47.6]}));
        assert!(e.starts_with("value must be a GeoJSON Point: "), "{e}");
        bad(&Schema::Point, json!({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}));
        ok(&Schema::LineString, json!({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}));
        ok(
            &Schema::Polygon,
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
        );
        ok(&Schema::MultiPoint, json!({"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]}));
        ok(
            &Schema::MultiLineString,
            json!({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]]]}),
        );
        ok(
            &Schema::MultiPolygon,
            json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]}),
        );
        bad(&Schema::Polygon, json!("POLYGON((0 0, 1 0, 1 1, 0 0))"));
    }

    #[test]
    fn arrays() {
        let s = Schema::Array(Box::new(Schema::Integer));
        ok(&s, json!([1, 2, 3]));
        ok(&s, json!([]));
        assert_eq!(
            s.validate_at(&json!([1, "two"]), "levels").unwrap_err(),
            "value at 'levels[1]' must be an integer from -2147483648 to 2147483647, found \"two\""
        );
        bad(&s, json!({"0": 1}));
    }

    #[test]
    fn enums() {
        let ints = Schema::Enum {
            value_schema: EnumValueSchema::Integer,
            values: vec![("offline".into(), json!(1)), ("online".into(), json!(2))],
        };
        ok(&ints, json!(2));
        let e = bad(&ints, json!(3));
        assert_eq!(e, "value must be one of the enum values 1 (offline), 2 (online), found 3");
        bad(&ints, json!("online"));
        let strs = Schema::Enum {
            value_schema: EnumValueSchema::String,
            values: vec![("on".into(), json!("ON")), ("off".into(), json!("OFF"))],
        };
        ok(&strs, json!("ON"));
        bad(&strs, json!("on"));
        bad(&strs, json!(1));
    }

    #[test]
    fn maps() {
        let s = Schema::Map { value: Box::new(Schema::Double) };
        ok(&s, json!({"a": 1.0, "b": 2}));
        ok(&s, json!({}));
        assert_eq!(
            s.validate_at(&json!({"a": 1, "b": "x"}), "readings").unwrap_err(),
            "value at 'readings.b' must be a number, found \"x\""
        );
        bad(&s, json!([1, 2]));
    }

    #[test]
    fn objects_name_the_path_and_the_known_fields() {
        let address = Schema::Object {
            fields: BTreeMap::from([
                ("city".to_string(), Schema::String),
                ("zip".to_string(), Schema::String),
            ]),
        };
        let s = Schema::Object { fields: BTreeMap::from([("address".to_string(), address)]) };
        ok(&s, json!({"address": {"city": "Oslo", "zip": "0150"}}));
        ok(&s, json!({"address": {"city": "Oslo"}}));
        ok(&s, json!({}));
        assert_eq!(
            s.validate(&json!({"address": {"zip": 12}})).unwrap_err(),
            "value at 'address.zip' must be a string, found 12"
        );
        assert_eq!(
            s.validate_at(&json!({"address": {"zipp": "1"}}), "home").unwrap_err(),
            "value at 'home.address' has no field 'zipp'; its fields are: city, zip"
        );
        bad(&s, json!("address"));
    }

    #[test]
    fn depth_and_terms() {
        let nested = Schema::Array(Box::new(Schema::Map {
            value: Box::new(Schema::Object { fields: BTreeMap::new() }),
        }));
        assert_eq!(nested.depth(), 3);
        assert!(nested.contains_array());
        assert_eq!(Schema::Double.depth(), 0);
        assert_eq!(Schema::from_term("uuid", 2), None);
        assert_eq!(Schema::from_term("uuid", 3), Some(Schema::Uuid));
        assert_eq!(Schema::from_term("point", 2), Some(Schema::Point));
        assert!(Schema::is_v3_only_term("unsignedLong"));
        assert_eq!(Schema::MultiPolygon.term(), "multiPolygon");
        assert_eq!(nested.term(), "Array");
        assert!(Schema::terms(3).len() > Schema::terms(2).len());
    }

    #[test]
    fn found_shortens_long_strings() {
        let f = found(&json!("z".repeat(500)));
        assert!(f.contains("a string of 500 bytes") && f.len() < 100, "{f}");
        assert_eq!(found(&json!([1, 2])), "an array of 2 elements");
    }
}
