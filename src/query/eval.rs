//! Evaluating conditions and values over a row of bound documents.
//!
//! Conditions use three-valued logic, as ADT's (Cosmos DB-derived) language does: a comparison with
//! a missing property, or between values that cannot be ordered (a string and a number), is
//! *undefined*, and a row is returned only when the whole condition is `true`. So
//! `NOT T.temperature > 20` does not return twins that have no temperature, and `AND`/`OR` follow
//! Kleene's rules (`false AND undefined` is `false`, `true OR undefined` is `true`).
//!
//! Equality is by JSON value (numbers by numeric value, so `1 = 1.0`; objects and arrays deeply);
//! values of different types are never equal, so `!=` between them is `true`. `<`, `<=`, `>`, `>=`
//! order numbers and strings (by code point); anything else is undefined. Names and string values
//! are compared case-sensitively.
//!
//! Documents are parsed lazily: a row's twin is parsed the first time a condition or projection
//! looks inside it, and a row that is only returned whole (`SELECT T`) is never parsed at all.

use super::ast::{CmpOp, Function};
use super::planner::{Pred, Ref, Term};
use crate::err;
use crate::error::Result;
use serde_json::{Number, Value};
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::rc::Rc;

/// A twin or relationship document bound to a slot.
pub struct Doc {
    /// The twin id, or the relationship id.
    pub id: String,
    /// The stored JSON text.
    pub raw: String,
    /// The top-level members the query reads (`None`: all).
    fields: Option<Rc<[String]>>,
    value: OnceCell<Value>,
}

impl Doc {
    /// A document from its stored text.
    pub fn new(id: String, raw: String) -> Rc<Doc> {
        Doc::with_fields(id, raw, None)
    }

    /// A document of which only the top-level members `fields` will be read: the others are
    /// skipped when it is parsed (scanned over, never allocated), which is most of the cost of a
    /// filtered scan.
    pub fn with_fields(id: String, raw: String, fields: Option<Rc<[String]>>) -> Rc<Doc> {
        Rc::new(Doc { id, raw, fields, value: OnceCell::new() })
    }

    /// The parsed document (parsed on first use).
    pub fn value(&self) -> Result<&Value> {
        if let Some(v) = self.value.get() {
            return Ok(v);
        }
        let parsed = match &self.fields {
            None => serde_json::from_str(&self.raw),
            Some(fields) => partial(&self.raw, fields),
        };
        let v = parsed
            .map_err(|e| err!(Internal, "the stored document '{}' is not JSON: {e}", self.id))?;
        Ok(self.value.get_or_init(|| v))
    }
}

/// Parses a JSON object keeping only the members named in `fields`.
fn partial(raw: &str, fields: &[String]) -> serde_json::Result<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(raw);
    let v = Members(fields).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// A seed that reads a JSON object, keeping the listed members.
struct Members<'a>(&'a [String]);

impl<'de> serde::de::DeserializeSeed<'de> for Members<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Members<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let name = key.as_str();
            if self.0.iter().any(|f| f == name) {
                let v: Value = map.next_value()?;
                out.insert(name.to_string(), v);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(Value::Object(out))
    }
}

/// A member name, borrowed from the text when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> std::result::Result<Key<'de>, E> {
                Ok(Key::Owned(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// The documents bound so far, by slot.
pub type Row = [Option<Rc<Doc>>];

/// True when `p` holds for `row` (undefined counts as not holding).
pub fn holds(p: &Pred, row: &Row) -> Result<bool> {
    Ok(test(p, row)? == Some(true))
}

/// Evaluates a condition: `Some(bool)`, or `None` for undefined.
pub fn test(p: &Pred, row: &Row) -> Result<Option<bool>> {
    Ok(match p {
        Pred::And(ps) => {
            let mut undefined = false;
            for p in ps {
                match test(p, row)? {
                    Some(false) => return Ok(Some(false)),
                    None => undefined = true,
                    Some(true) => {}
                }
            }
            if undefined { None } else { Some(true) }
        }
        Pred::Or(ps) => {
            let mut undefined = false;
            for p in ps {
                match test(p, row)? {
                    Some(true) => return Ok(Some(true)),
                    None => undefined = true,
                    Some(false) => {}
                }
            }
            if undefined { None } else { Some(false) }
        }
        Pred::Not(p) => test(p, row)?.map(|b| !b),
        Pred::Cmp(a, op, b) => match (term(a, row)?, term(b, row)?) {
            (Some(x), Some(y)) => compare(x, *op, y),
            _ => None,
        },
        Pred::In(t, list, negated) => {
            term(t, row)?.map(|x| list.iter().any(|v| json_eq(x, v)) != *negated)
        }
        Pred::Call(f, args) => call(*f, args, row)?,
        Pred::IsOfModel(slot, models) => match &row[*slot] {
            Some(doc) => {
                let model = doc.value()?.get("$metadata").and_then(|m| m.get("$model"));
                Some(model.and_then(Value::as_str).is_some_and(|m| models.contains(m)))
            }
            None => None,
        },
        Pred::Value(t) => match term(t, row)? {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        },
    })
}

fn call(f: Function, args: &[Term], row: &Row) -> Result<Option<bool>> {
    let a = term(&args[0], row)?;
    let strings = |row: &Row| -> Result<Option<(&str, String)>> {
        let b = term(&args[1], row)?;
        Ok(match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
            (Some(x), Some(y)) => Some((x, y.to_string())),
            _ => None,
        })
    };
    Ok(match f {
        Function::IsDefined => Some(a.is_some()),
        Function::IsNull => Some(matches!(a, Some(Value::Null))),
        Function::IsBool => Some(matches!(a, Some(Value::Bool(_)))),
        Function::IsNumber => Some(matches!(a, Some(Value::Number(_)))),
        Function::IsString => Some(matches!(a, Some(Value::String(_)))),
        Function::IsObject => Some(matches!(a, Some(Value::Object(_)))),
        Function::IsPrimitive => Some(matches!(
            a,
            Some(Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))
        )),
        Function::StartsWith => strings(row)?.map(|(s, p)| s.starts_with(&p)),
        Function::EndsWith => strings(row)?.map(|(s, p)| s.ends_with(&p)),
        Function::Contains => strings(row)?.map(|(s, p)| s.contains(&p)),
        Function::ArrayContains => match (a, term(&args[1], row)?) {
            (Some(Value::Array(items)), Some(v)) => Some(items.iter().any(|i| json_eq(i, v))),
            _ => None,
        },
    })
}

/// The value of a term, or `None` when it is undefined (a missing property).
pub fn term<'a>(t: &'a Term, row: &'a Row) -> Result<Option<&'a Value>> {
    match t {
        Term::Lit(v) => Ok(Some(v)),
        Term::Ref(r) => lookup(r, row),
    }
}

/// The value a reference points at inside its slot's document.
pub fn lookup<'a>(r: &Ref, row: &'a Row) -> Result<Option<&'a Value>> {
    let Some(doc) = &row[r.slot] else { return Ok(None) };
    let mut v = doc.value()?;
    for part in &r.path {
        let next = match v {
            Value::Object(m) => m.get(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return Ok(None),
        }
    }
    Ok(Some(v))
}

fn compare(x: &Value, op: CmpOp, y: &Value) -> Option<bool> {
    let ord = match op {
        CmpOp::Eq => return Some(json_eq(x, y)),
        CmpOp::NotEq => return Some(!json_eq(x, y)),
        _ => match (x, y) {
            (Value::Number(a), Value::Number(b)) => number_cmp(a, b)?,
            (Value::String(a), Value::String(b)) => a.cmp(b),
            _ => return None,
        },
    };
    Some(match op {
        CmpOp::Lt => ord.is_lt(),
        CmpOp::LtEq => ord.is_le(),
        CmpOp::Gt => ord.is_gt(),
        _ => ord.is_ge(),
    })
}

fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// JSON equality with numbers compared by value.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The total order of ORDER BY: missing values first, then null, booleans, numbers, strings,
/// arrays and objects (those two by their JSON text).
pub fn sort_cmp(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None => 0,
            Some(Value::Null) => 1,
            Some(Value::Bool(_)) => 2,
            Some(Value::Number(_)) => 3,
            Some(Value::String(_)) => 4,
            Some(Value::Array(_)) => 5,
            Some(Value::Object(_)) => 6,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            number_cmp(x, y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x @ (Value::Array(_) | Value::Object(_))), Some(y)) if rank(a) == rank(b) => {
            x.to_string().cmp(&y.to_string())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn row() -> Vec<Option<Rc<Doc>>> {
        let doc = json!({"$dtId": "t1", "$metadata": {"$model": "dtmi:a:B;1"}, "n": 21, "f": 20.5,
            "s": "Room 101", "b": true, "z": null, "o": {"k": 1}, "a": [1, 2, "x"], "map": {"1st": "one"}});
        vec![Some(Doc::new("t1".into(), doc.to_string())), None]
    }

    fn path(p: &str) -> Term {
        Term::Ref(Ref {
            slot: 0,
            path: p.split('.').filter(|s| !s.is_empty()).map(String::from).collect(),
        })
    }

    fn lit(v: Value) -> Term {
        Term::Lit(v)
    }

    fn t(p: Pred) -> Option<bool> {
        test(&p, &row()).unwrap()
    }

    #[test]
    fn comparisons_are_typed_and_three_valued() {
        use CmpOp::*;
        assert_eq!(t(Pred::Cmp(path("n"), Gt, lit(json!(20)))), Some(true));
        assert_eq!(t(Pred::Cmp(path("n"), Eq, lit(json!(21.0)))), Some(true));
        assert_eq!(t(Pred::Cmp(path("f"), LtEq, lit(json!(20.5)))), Some(true));
        assert_eq!(t(Pred::Cmp(lit(json!(20)), Lt, path("n"))), Some(true));
        assert_eq!(t(Pred::Cmp(path("s"), Gt, lit(json!("Room 1")))), Some(true));
        assert_eq!(t(Pred::Cmp(path("s"), Eq, lit(json!("room 101")))), Some(false));
        // Different types: never equal, not ordered.
        assert_eq!(t(Pred::Cmp(path("n"), Eq, lit(json!("21")))), Some(false));
        assert_eq!(t(Pred::Cmp(path("n"), NotEq, lit(json!("21")))), Some(true));
        assert_eq!(t(Pred::Cmp(path("n"), Lt, lit(json!("21")))), None);
        // Missing properties are undefined, and NOT keeps them undefined.
        assert_eq!(t(Pred::Cmp(path("missing"), NotEq, lit(json!(1)))), None);
        let not_gt = Pred::Not(Box::new(Pred::Cmp(path("missing"), Gt, lit(json!(1)))));
        assert_eq!(t(not_gt), None);
        assert_eq!(t(Pred::Cmp(path("o.k"), Eq, lit(json!(1)))), Some(true));
        assert_eq!(
            t(Pred::Cmp(path("$metadata.$model"), Eq, lit(json!("dtmi:a:B;1")))),
            Some(true)
        );
        assert_eq!(t(Pred::Cmp(path("map.1st"), Eq, lit(json!("one")))), Some(true));
        assert_eq!(t(Pred::Cmp(path("a.2"), Eq, lit(json!("x")))), Some(true));
        // An unbound slot is undefined.
        let unbound = Term::Ref(Ref { slot: 1, path: vec!["n".into()] });
        assert_eq!(t(Pred::Cmp(unbound, Eq, lit(json!(21)))), None);
    }

    #[test]
    fn and_or_follow_kleene() {
        let yes = || Pred::Value(lit(json!(true)));
        let no = || Pred::Value(lit(json!(false)));
        let undefined = || Pred::Value(path("missing"));
        assert_eq!(t(Pred::And(vec![no(), undefined()])), Some(false));
        assert_eq!(t(Pred::And(vec![yes(), undefined()])), None);
        assert_eq!(t(Pred::Or(vec![yes(), undefined()])), Some(true));
        assert_eq!(t(Pred::Or(vec![no(), undefined()])), None);
        assert_eq!(t(Pred::Or(vec![no(), no()])), Some(false));
        assert_eq!(t(Pred::Value(path("b"))), Some(true));
        assert!(!holds(&undefined(), &row()).unwrap());
    }

    #[test]
    fn in_and_functions() {
        use Function::*;
        assert_eq!(t(Pred::In(path("n"), vec![json!(1), json!(21)], false)), Some(true));
        assert_eq!(t(Pred::In(path("n"), vec![json!(1)], true)), Some(true));
        assert_eq!(t(Pred::In(path("missing"), vec![json!(1)], true)), None);
        let call = |f, args: Vec<Term>| t(Pred::Call(f, args));
        assert_eq!(call(IsDefined, vec![path("z")]), Some(true));
        assert_eq!(call(IsDefined, vec![path("missing")]), Some(false));
        assert_eq!(call(IsNull, vec![path("z")]), Some(true));
        assert_eq!(call(IsNull, vec![path("missing")]), Some(false));
        assert_eq!(call(IsBool, vec![path("b")]), Some(true));
        assert_eq!(call(IsNumber, vec![path("f")]), Some(true));
        assert_eq!(call(IsString, vec![path("n")]), Some(false));
        assert_eq!(call(IsObject, vec![path("o")]), Some(true));
        assert_eq!(call(IsPrimitive, vec![path("o")]), Some(false));
        assert_eq!(call(IsPrimitive, vec![path("z")]), Some(true));
        assert_eq!(call(StartsWith, vec![path("s"), lit(json!("Room"))]), Some(true));
        assert_eq!(call(EndsWith, vec![path("s"), lit(json!("101"))]), Some(true));
        assert_eq!(call(Contains, vec![path("s"), lit(json!("m 1"))]), Some(true));
        assert_eq!(call(Contains, vec![path("s"), lit(json!("M 1"))]), Some(false));
        assert_eq!(call(Contains, vec![path("n"), lit(json!("2"))]), None);
        assert_eq!(call(ArrayContains, vec![path("a"), lit(json!(2.0))]), Some(true));
        assert_eq!(call(ArrayContains, vec![path("a"), lit(json!("y"))]), Some(false));
        assert_eq!(call(ArrayContains, vec![path("s"), lit(json!("y"))]), None);
        let models: HashSet<String> = ["dtmi:a:B;1".to_string()].into();
        assert_eq!(t(Pred::IsOfModel(0, Arc::new(models))), Some(true));
        assert_eq!(t(Pred::IsOfModel(0, Arc::new(HashSet::new()))), Some(false));
    }

    #[test]
    fn sort_order_is_total() {
        let values =
            [json!("b"), json!(2), json!(null), json!([1]), json!(true), json!("a"), json!(1.5)];
        let mut v: Vec<Option<&Value>> = values.iter().map(Some).collect();
        v.push(None);
        v.sort_by(|a, b| sort_cmp(*a, *b));
        let shown: Vec<String> =
            v.iter().map(|v| v.map(|v| v.to_string()).unwrap_or("-".into())).collect();
        assert_eq!(shown, ["-", "null", "true", "1.5", "2", "\"a\"", "\"b\"", "[1]"]);
    }

    #[test]
    fn partial_parses_keep_only_the_members_read() {
        let raw = json!({"a": 1, "b": {"c": [1, 2]}, "we\"ird": 2, "z": "x"}).to_string();
        let fields: Rc<[String]> = vec!["b".to_string(), "we\"ird".to_string()].into();
        let d = Doc::with_fields("x".into(), raw.clone(), Some(fields));
        assert_eq!(*d.value().unwrap(), json!({"b": {"c": [1, 2]}, "we\"ird": 2}));
        let d = Doc::with_fields("x".into(), "[1]".into(), Some(Rc::from(vec![])));
        assert!(d.value().is_err());
        let d = Doc::with_fields("x".into(), format!("{raw} x"), Some(Rc::from(vec![])));
        assert!(d.value().is_err(), "trailing text is refused");
    }

    #[test]
    fn documents_parse_lazily_and_report_corruption() {
        let d = Doc::new("x".into(), "{not json".into());
        assert!(
            d.value().unwrap_err().to_string().starts_with("Internal: the stored document 'x'")
        );
        let d = Doc::new("y".into(), "{\"a\":1}".into());
        assert_eq!(d.value().unwrap()["a"], 1);
        assert_eq!(d.value().unwrap()["a"], 1);
    }
}
