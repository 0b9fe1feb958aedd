//! JSON Patch (RFC 6902) as ADT accepts it: only `add`, `replace` and `remove`, applied all or
//! nothing, with server-managed fields (`$dtId`, `$etag`, `lastUpdateTime`) out of reach.
//!
//! The application itself is the `json-patch` crate's; this module checks the operations first and
//! reports which paths a patch touched, so that the twin module can refresh exactly those
//! properties' `lastUpdateTime`.

use crate::err;
use crate::error::Result;
use serde_json::Value;

/// One checked operation: its verb and its path split into unescaped tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// `add`, `replace` or `remove`.
    pub op: String,
    /// The path's reference tokens, `~1` and `~0` decoded.
    pub path: Vec<String>,
}

/// A parsed, checked patch.
#[derive(Clone, Debug)]
pub struct Patch {
    /// The operations, in order.
    pub ops: Vec<Op>,
    patch: json_patch::Patch,
}

impl Patch {
    /// Parses patch text: a JSON array of `{op, path[, value]}` objects with `op` one of add,
    /// replace, remove. `prefix` is prepended to every path (tokens), for component patches.
    pub fn parse(text: &str, prefix: &[&str]) -> Result<Patch> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| err!(JsonPatchInvalid, "the patch is not valid JSON: {e}"))?;
        let Value::Array(items) = value else {
            return Err(err!(JsonPatchInvalid, "a JSON Patch must be a JSON array of operations"));
        };
        if items.is_empty() {
            return Err(err!(JsonPatchInvalid, "the patch has no operations"));
        }
        let mut ops = Vec::with_capacity(items.len());
        let mut rewritten = Vec::with_capacity(items.len());
        for (i, mut item) in items.into_iter().enumerate() {
            let Some(obj) = item.as_object_mut() else {
                return Err(err!(JsonPatchInvalid, "operation {i} is not a JSON object"));
            };
            let op = match obj.get("op").and_then(Value::as_str) {
                Some(op @ ("add" | "replace" | "remove")) => op.to_string(),
                Some(other) => {
                    return Err(err!(
                        JsonPatchInvalid,
                        "operation {i}: '{other}' is not supported; use add, replace or remove"
                    ));
                }
                None => return Err(err!(JsonPatchInvalid, "operation {i} has no string 'op'")),
            };
            let Some(path) = obj.get("path").and_then(Value::as_str) else {
                return Err(err!(JsonPatchInvalid, "operation {i} has no string 'path'"));
            };
            let mut tokens: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
            tokens.extend(
                split_pointer(path).map_err(|e| err!(JsonPatchInvalid, "operation {i}: {e}"))?,
            );
            if tokens.is_empty() {
                return Err(err!(
                    JsonPatchInvalid,
                    "operation {i}: the whole document cannot be patched"
                ));
            }
            if op != "remove" && !obj.contains_key("value") {
                return Err(err!(JsonPatchInvalid, "operation {i} ('{op}') has no 'value'"));
            }
            obj.insert("path".into(), Value::String(join_pointer(&tokens)));
            ops.push(Op { op, path: tokens });
            rewritten.push(item);
        }
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(rewritten))
            .map_err(|e| err!(JsonPatchInvalid, "the patch is malformed: {e}"))?;
        Ok(Patch { ops, patch })
    }

    /// Applies the patch to a copy of `doc`; the original is untouched on failure.
    pub fn apply(&self, doc: &Value) -> Result<Value> {
        let mut out = doc.clone();
        json_patch::patch(&mut out, &self.patch)
            .map_err(|e| err!(JsonPatchInvalid, "the patch cannot be applied: {e}"))?;
        Ok(out)
    }
}

/// Splits a JSON Pointer (`/a/b~1c`) into decoded tokens.
pub fn split_pointer(path: &str) -> std::result::Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path '{path}' must start with '/'"));
    };
    rest.split('/')
        .map(|t| {
            if t.contains('~') {
                let mut out = String::with_capacity(t.len());
                let mut chars = t.chars();
                while let Some(c) = chars.next() {
                    if c == '~' {
                        match chars.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => return Err(format!("path '{path}' has a bad '~' escape")),
                        }
                    } else {
                        out.push(c);
                    }
                }
                Ok(out)
            } else {
                Ok(t.to_string())
            }
        })
        .collect()
}

/// Joins decoded tokens back into a JSON Pointer.
pub fn join_pointer(tokens: &[String]) -> String {
    let mut out = String::new();
    for t in tokens {
        out.push('/');
        out.push_str(&t.replace('~', "~0").replace('/', "~1"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn code(r: Result<Patch>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn each_op_applies() {
        let doc = json!({"a": 1, "b": {"c": 2}});
        let p = Patch::parse(r#"[{"op":"add","path":"/d","value":4}]"#, &[]).unwrap();
        assert_eq!(p.apply(&doc).unwrap(), json!({"a": 1, "b": {"c": 2}, "d": 4}));
        let p = Patch::parse(r#"[{"op":"replace","path":"/b/c","value":3}]"#, &[]).unwrap();
        assert_eq!(p.apply(&doc).unwrap(), json!({"a": 1, "b": {"c": 3}}));
        let p = Patch::parse(r#"[{"op":"remove","path":"/a"}]"#, &[]).unwrap();
        assert_eq!(p.apply(&doc).unwrap(), json!({"b": {"c": 2}}));
        assert_eq!(p.ops, vec![Op { op: "remove".into(), path: vec!["a".into()] }]);
    }

    #[test]
    fn unsupported_and_malformed_ops_are_refused() {
        assert_eq!(code(Patch::parse("not json", &[])), ErrorCode::JsonPatchInvalid);
        assert_eq!(code(Patch::parse("{}", &[])), ErrorCode::JsonPatchInvalid);
        assert_eq!(code(Patch::parse("[]", &[])), ErrorCode::JsonPatchInvalid);
        for op in ["move", "copy", "test"] {
            let text = format!(r#"[{{"op":"{op}","path":"/a","from":"/b","value":1}}]"#);
            let e = Patch::parse(&text, &[]).unwrap_err();
            assert_eq!(e.code, ErrorCode::JsonPatchInvalid);
            assert!(e.message.contains(op));
        }
        assert_eq!(
            code(Patch::parse(r#"[{"op":"add","path":"a","value":1}]"#, &[])),
            ErrorCode::JsonPatchInvalid
        );
        assert_eq!(
            code(Patch::parse(r#"[{"op":"add","path":"/a"}]"#, &[])),
            ErrorCode::JsonPatchInvalid
        );
        assert_eq!(
            code(Patch::parse(r#"[{"op":"add","path":"","value":1}]"#, &[])),
            ErrorCode::JsonPatchInvalid
        );
        assert_eq!(code(Patch::parse(r#"[{"path":"/a"}]"#, &[])), ErrorCode::JsonPatchInvalid);
    }

    #[test]
    fn bad_paths_fail_to_apply_and_leave_the_document() {
        let doc = json!({"a": 1});
        let p = Patch::parse(r#"[{"op":"replace","path":"/missing","value":1}]"#, &[]).unwrap();
        assert_eq!(p.apply(&doc).unwrap_err().code, ErrorCode::JsonPatchInvalid);
        let p = Patch::parse(r#"[{"op":"add","path":"/x/y","value":1}]"#, &[]).unwrap();
        assert_eq!(p.apply(&doc).unwrap_err().code, ErrorCode::JsonPatchInvalid);
        // The second op fails: the first is not applied either.
        let p = Patch::parse(
            r#"[{"op":"add","path":"/b","value":1},{"op":"remove","path":"/zzz"}]"#,
            &[],
        )
        .unwrap();
        assert!(p.apply(&doc).is_err());
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn prefixes_and_escapes() {
        let p = Patch::parse(r#"[{"op":"add","path":"/a~1b~0c","value":1}]"#, &["comp"]).unwrap();
        assert_eq!(p.ops[0].path, vec!["comp".to_string(), "a/b~c".to_string()]);
        let doc = json!({"comp": {}});
        assert_eq!(p.apply(&doc).unwrap(), json!({"comp": {"a/b~c": 1}}));
        assert!(split_pointer("/a~2").is_err());
        assert_eq!(join_pointer(&["a/b~c".into()]), "/a~1b~0c");
    }
}
