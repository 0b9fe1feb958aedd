//! Reading DTDL's JSON-LD members.
//!
//! DTDL is JSON-LD, which lets most members take either one value or an array of them (`"@type":
//! "Property"` or `["Property", "Temperature"]`, `"extends": "dtmi:…"` or a list), writes
//! localizable text as a string or a language map, and allows terms to be spelled as their DTMI
//! (`dtmi:dtdl:class:Property;3`). These helpers absorb those variations once so that the parser
//! reads like the rules it enforces. They also hold the small string utilities shared by the
//! parser's messages (describing a JSON value, suggesting a close spelling).

use std::collections::BTreeMap;

use serde_json::Value;

/// The items of a member that may be one value or an array of values.
pub fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// The strings of a member that may be a string or an array of strings; `None` if any item is not
/// a string.
pub fn strings(v: &Value) -> Option<Vec<&str>> {
    items(v).into_iter().map(Value::as_str).collect()
}

/// "a string", "an array", … for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The term a DTDL class DTMI stands for (`dtmi:dtdl:class:Property;3` -> `Property`); other
/// strings are returned unchanged.
pub fn class_term(s: &str) -> &str {
    s.strip_prefix("dtmi:dtdl:class:")
        .and_then(|rest| rest.strip_suffix(";2").or_else(|| rest.strip_suffix(";3")))
        .filter(|t| !t.contains(':'))
        .unwrap_or(s)
}

/// Checks a co-type (an extra `@type` entry such as a semantic type `Temperature` or an extension
/// type `Historized`): a plain term, or a valid DTMI. Strings with ':' that are not DTMIs are not
/// IRIs DTDL accepts.
pub fn check_cotype(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an @type entry is empty".into());
    }
    if s.starts_with("dtmi:") {
        return crate::model::dtmi::check(s)
            .map_err(|why| format!("@type '{s}' is not a valid DTMI: {why}"));
    }
    if s.contains(':') {
        return Err(format!("@type '{s}' contains ':' but is not a DTMI"));
    }
    Ok(())
}

/// Reads a localizable string (`"text"` or `{"en": "text", "it": "testo"}`), each text at most
/// `max_chars` characters. A plain string is English.
pub fn localizable(v: &Value, max_chars: usize) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let check_len = |lang: &str, text: &str| {
        let n = text.chars().count();
        if n > max_chars {
            Err(format!(
                "the '{lang}' text is {n} characters long; at most {max_chars} are allowed"
            ))
        } else {
            Ok(())
        }
    };
    match v {
        Value::String(s) => {
            check_len("en", s)?;
            out.insert("en".to_string(), s.clone());
        }
        Value::Object(map) => {
            for (lang, text) in map {
                if !is_language_tag(lang) {
                    return Err(format!("'{lang}' is not a language tag (like 'en' or 'en-US')"));
                }
                let Value::String(text) = text else {
                    return Err(format!(
                        "the '{lang}' text must be a string, found {}",
                        kind_of(text)
                    ));
                };
                check_len(lang, text)?;
                out.insert(lang.clone(), text.clone());
            }
        }
        other => {
            return Err(format!(
                "must be a string or a map from language tag to string, found {}",
                kind_of(other)
            ));
        }
    }
    Ok(out)
}

/// A loose BCP 47 check: letter/digit subtags of 1 to 8 characters separated by '-', starting with
/// letters.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The longest content name in DTDL v2.
pub const MAX_NAME_CHARS_V2: usize = 64;
/// The longest content name in DTDL v3.
pub const MAX_NAME_CHARS_V3: usize = 512;

/// Checks a DTDL `name`: letters, digits and '_', starting with a letter, not ending with '_', at
/// most 64 characters in v2 and 512 in v3. The error is a clause ("must start with a letter").
pub fn check_name(name: &str, dtdl_version: u8) -> Result<(), String> {
    let max = if dtdl_version >= 3 { MAX_NAME_CHARS_V3 } else { MAX_NAME_CHARS_V2 };
    let Some(first) = name.chars().next() else {
        return Err("the name is empty".into());
    };
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!("contains '{c}'; names may contain only letters, digits and '_'"));
    }
    if !first.is_ascii_alphabetic() {
        return Err("must start with a letter".into());
    }
    if name.ends_with('_') {
        return Err("must not end with '_'".into());
    }
    if name.len() > max {
        return Err(format!(
            "is {} characters long; DTDL v{dtdl_version} allows at most {max}",
            name.len()
        ));
    }
    Ok(())
}

/// The first member of `obj` not in `allowed` (members are in sorted order, so the answer is
/// deterministic).
pub fn unknown_member<'a>(
    obj: &'a serde_json::Map<String, Value>,
    allowed: &[&str],
) -> Option<&'a str> {
    obj.keys().map(String::as_str).find(|k| !allowed.contains(k))
}

/// The candidate closest to `word` when it is plausibly a misspelling of it (case-insensitive
/// match, or an edit distance of at most 2, or 1 for short words).
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| {
            let d = if c.to_ascii_lowercase() == lower { 0 } else { edit_distance(word, c) };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_or_many() {
        assert_eq!(strings(&json!("a")), Some(vec!["a"]));
        assert_eq!(strings(&json!(["a", "b"])), Some(vec!["a", "b"]));
        assert_eq!(strings(&json!(["a", 1])), None);
        assert_eq!(items(&json!({"x": 1})).len(), 1);
    }

    #[test]
    fn class_terms_and_cotypes() {
        assert_eq!(class_term("dtmi:dtdl:class:Property;3"), "Property");
        assert_eq!(class_term("dtmi:dtdl:class:Interface;2"), "Interface");
        assert_eq!(class_term("Temperature"), "Temperature");
        assert!(check_cotype("Temperature").is_ok());
        assert!(check_cotype("dtmi:com:example:MyType;1").is_ok());
        assert!(check_cotype("dtmi:com:1bad;1").is_err());
        assert!(check_cotype("http://x").is_err());
        assert!(check_cotype("").is_err());
    }

    #[test]
    fn localizable_strings() {
        assert_eq!(localizable(&json!("Room"), 64).unwrap()["en"], "Room");
        let m = localizable(&json!({"en": "Room", "it": "Stanza", "en-US": "Room"}), 64).unwrap();
        assert_eq!(m.len(), 3);
        assert!(localizable(&json!({"en": 1}), 64).is_err());
        assert!(localizable(&json!({"not a tag": "x"}), 64).is_err());
        assert!(localizable(&json!(5), 64).is_err());
        let e = localizable(&json!("x".repeat(65)), 64).unwrap_err();
        assert!(e.contains("65 characters") && e.contains("at most 64"), "{e}");
    }

    #[test]
    fn names() {
        for ok in ["a", "temp", "Temp_1", "a_b_c9"] {
            assert!(check_name(ok, 2).is_ok(), "{ok}");
        }
        assert!(check_name("", 3).unwrap_err().contains("empty"));
        assert!(check_name("1a", 3).unwrap_err().contains("start with a letter"));
        assert!(check_name("_a", 3).unwrap_err().contains("start with a letter"));
        assert!(check_name("a_", 3).unwrap_err().contains("end with '_'"));
        assert!(check_name("a-b", 3).unwrap_err().contains("'-'"));
        assert!(check_name("$dtId", 3).is_err());
        let long = "a".repeat(65);
        assert!(check_name(&long, 2).unwrap_err().contains("at most 64"));
        assert!(check_name(&long, 3).is_ok());
        assert!(check_name(&"a".repeat(513), 3).unwrap_err().contains("at most 512"));
    }

    #[test]
    fn suggestions() {
        let terms = ["double", "string", "dateTime", "integer"];
        assert_eq!(suggest("doubel", terms), Some("double"));
        assert_eq!(suggest("String", terms), Some("string"));
        assert_eq!(suggest("datetime", terms), Some("dateTime"));
        assert_eq!(suggest("quaternion", terms), None);
        assert_eq!(suggest("tempreature", ["temperature", "humidity"]), Some("temperature"));
    }

    #[test]
    fn unknown_members_in_order() {
        let obj = json!({"name": "x", "zeta": 1, "alpha": 2});
        let obj = obj.as_object().unwrap();
        assert_eq!(unknown_member(obj, &["name"]), Some("alpha"));
        assert_eq!(unknown_member(obj, &["name", "alpha", "zeta"]), None);
    }
}
