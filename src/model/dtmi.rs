//! Digital Twin Model Identifiers (DTMIs): `dtmi:<segment>(:<segment>)*[;<version>]`.
//!
//! Every model, every model element and every twin's `$metadata.$model` is named by a DTMI, and
//! twinstore compares them byte for byte (DTMIs are case-sensitive). Checking the syntax once, when
//! a model is uploaded, is what lets every other layer treat a DTMI as an opaque key: the store
//! indexes by it, the query layer's `IS_OF_MODEL` splits off its version with [`split_version`], and
//! nothing downstream has to cope with a malformed one.
//!
//! The rules are DTDL's (v2 and v3 alike; whether a version is *required* depends on the DTDL
//! version and is checked by the DTDL parser, not here):
//! - the scheme is `dtmi` in lower case;
//! - the path is one or more `:`-separated segments of `[A-Za-z0-9_]` that do not start with a
//!   digit and do not end with `_`; a segment starting with `_` is a *system* segment, and models
//!   may only use *user* DTMIs, so it is refused;
//! - the optional version is `N` or `N.M`: `N` at most 9 digits, `M` at most 6, neither with a
//!   leading zero (so `M` is never 0 either);
//! - at most 4096 characters, and at most 2048 for a user DTMI (every DTMI accepted here is one).

use crate::err;
use crate::error::Result;

/// The longest DTMI DTDL allows.
pub const MAX_DTMI_CHARS: usize = 4096;
/// The longest user DTMI (no system segments) DTDL allows.
pub const MAX_USER_DTMI_CHARS: usize = 2048;
/// The longest DTMI an Interface may have.
pub const MAX_INTERFACE_ID_CHARS: usize = 128;
/// Prefixes DTDL reserves for itself; user models may not define ids under them.
pub const RESERVED_PREFIXES: [&str; 2] = ["dtmi:dtdl:", "dtmi:standard:"];

/// Checks a DTMI string (see the module documentation for the rules). The error is a
/// `DTDLParserError` that quotes the DTMI and says what is wrong with it.
pub fn validate(dtmi: &str) -> Result<()> {
    check(dtmi).map_err(|why| err!(DTDLParserError, "'{}' is not a valid DTMI: {why}", shown(dtmi)))
}

/// Like [`validate`], but returns only the reason (a clause such as "segment '1a' starts with a
/// digit"), for callers that build their own message around it.
pub fn check(dtmi: &str) -> std::result::Result<(), String> {
    if dtmi.is_empty() {
        return Err("it is empty".into());
    }
    if dtmi.len() > MAX_DTMI_CHARS {
        return Err(format!(
            "it is {} characters long; a DTMI may be at most {MAX_DTMI_CHARS}",
            dtmi.len()
        ));
    }
    let Some(rest) = dtmi.strip_prefix("dtmi:") else {
        // `get`, not `[..5]`: byte 5 may fall inside a character (`a\0𐀀`), and a panic here is a
        // panic in apply, on every replica (found by `dtdl/fuzz_tests.rs`).
        return Err(if dtmi.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("dtmi:")) {
            "the scheme must be 'dtmi' in lower case".into()
        } else {
            "it must start with 'dtmi:'".into()
        });
    };
    let (path, version) = match rest.split_once(';') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err("it has no path segments after 'dtmi:'".into());
    }
    for segment in path.split(':') {
        check_segment(segment)?;
    }
    if let Some(v) = version {
        check_version(v)?;
    }
    if dtmi.len() > MAX_USER_DTMI_CHARS {
        return Err(format!(
            "it is {} characters long; a user DTMI may be at most {MAX_USER_DTMI_CHARS}",
            dtmi.len()
        ));
    }
    Ok(())
}

fn check_segment(segment: &str) -> std::result::Result<(), String> {
    let Some(first) = segment.chars().next() else {
        return Err("it has an empty path segment (two ':' in a row, or a trailing ':')".into());
    };
    if let Some(bad) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(format!(
            "segment '{}' contains '{bad}'; segments may contain only letters, digits and '_'",
            shown(segment)
        ));
    }
    if first.is_ascii_digit() {
        return Err(format!("segment '{}' starts with a digit", shown(segment)));
    }
    if segment.ends_with('_') {
        return Err(format!("segment '{}' ends with '_'", shown(segment)));
    }
    if first == '_' {
        return Err(format!(
            "segment '{}' starts with '_', which marks a system segment; models may use only user DTMIs",
            shown(segment)
        ));
    }
    Ok(())
}

fn check_version(v: &str) -> std::result::Result<(), String> {
    if v.is_empty() {
        return Err("the version after ';' is empty".into());
    }
    let (major, minor) = match v.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    check_version_part(v, major, "major", 9)?;
    if let Some(minor) = minor {
        check_version_part(v, minor, "minor", 6)?;
    }
    Ok(())
}

fn check_version_part(
    whole: &str,
    part: &str,
    which: &str,
    max_digits: usize,
) -> std::result::Result<(), String> {
    let whole = shown(whole);
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "version '{whole}' must be a number N or N.M (digits only, one '.' at most)"
        ));
    }
    if part.starts_with('0') {
        return Err(format!(
            "version '{whole}' has a {which} part starting with 0; version parts start at 1 and have no leading zeros"
        ));
    }
    if part.len() > max_digits {
        return Err(format!(
            "version '{whole}' has a {which} part of {} digits; at most {max_digits} are allowed",
            part.len()
        ));
    }
    Ok(())
}

/// True when `dtmi` lies under a prefix DTDL reserves (`dtmi:dtdl:`, `dtmi:standard:`).
pub fn is_reserved(dtmi: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| dtmi.starts_with(p))
}

/// The version of a DTMI as `(major, minor)`, or `None` when it has no (valid) version.
pub fn parse_version(dtmi: &str) -> Option<(u64, Option<u64>)> {
    let (_, v) = dtmi.rsplit_once(';')?;
    check_version(v).ok()?;
    match v.split_once('.') {
        Some((a, b)) => Some((a.parse().ok()?, Some(b.parse().ok()?))),
        None => Some((v.parse().ok()?, None)),
    }
}

/// Splits a DTMI into its path (everything before `;`) and its major version:
/// `"dtmi:a:b;2"` gives `("dtmi:a:b", Some(2))`, `"dtmi:a:b;2.5"` gives `("dtmi:a:b", Some(2))`,
/// and a DTMI without a version gives `(dtmi, None)`. A DTMI whose version part is not a valid
/// version is returned whole with `None`, so it never equals another DTMI's path by accident.
pub fn split_version(dtmi: &str) -> (&str, Option<u64>) {
    match (dtmi.rsplit_once(';'), parse_version(dtmi)) {
        (Some((path, _)), Some((major, _))) => (path, Some(major)),
        _ => (dtmi, None),
    }
}

/// A DTMI (or segment) shortened for an error message, so a 4 KB identifier does not flood it.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn why(d: &str) -> String {
        check(d).expect_err(d)
    }

    /// Regression (`fuzz_arbitrary_json_models`): a string whose fifth byte is inside a
    /// character panicked while checking for an upper-case scheme.
    #[test]
    fn a_character_across_byte_five_is_not_a_panic() {
        assert_eq!(why("a\0𐀀"), "it must start with 'dtmi:'");
        assert_eq!(why("abcd€"), "it must start with 'dtmi:'");
        assert_eq!(why("DTMI:é"), "the scheme must be 'dtmi' in lower case");
    }

    #[test]
    fn accepts_valid_dtmis() {
        for d in [
            "dtmi:com:example:Room;1",
            "dtmi:example:Room",
            "dtmi:a",
            "dtmi:a_b:C9;999999999",
            "dtmi:a:b;1.2",
            "dtmi:a:b;1.999999",
            "dtmi:foo_bar:baz33:qux;12",
            "dtmi:dtdl:context;3",
        ] {
            assert!(validate(d).is_ok(), "{d}: {:?}", check(d));
        }
    }

    #[test]
    fn refuses_malformed_dtmis() {
        let cases = [
            ("", "empty"),
            ("com:example:Room;1", "start with 'dtmi:'"),
            ("DTMI:com:example;1", "lower case"),
            ("dtmi:", "no path"),
            ("dtmi:;1", "no path"),
            ("dtmi:com::Room;1", "empty path segment"),
            ("dtmi:com:Room:;1", "empty path segment"),
            ("dtmi:com:1Room;1", "starts with a digit"),
            ("dtmi:com:Room_;1", "ends with '_'"),
            ("dtmi:com:_Room;1", "system segment"),
            ("dtmi:com:Ro-om;1", "contains '-'"),
            ("dtmi:com:Roöm;1", "contains 'ö'"),
            ("dtmi:com:Room;", "version after ';' is empty"),
            ("dtmi:com:Room;01", "leading zeros"),
            ("dtmi:com:Room;0", "leading zeros"),
            ("dtmi:com:Room;1.0", "minor part starting with 0"),
            ("dtmi:com:Room;1.", "digits only"),
            ("dtmi:com:Room;1.2.3", "digits only"),
            ("dtmi:com:Room;v1", "digits only"),
            ("dtmi:com:Room;1;2", "digits only"),
            ("dtmi:com:Room;1234567890", "9 are allowed"),
            ("dtmi:com:Room;1.1234567", "6 are allowed"),
        ];
        for (d, expect) in cases {
            let w = why(d);
            assert!(w.contains(expect), "{d:?}: got {w:?}, expected it to mention {expect:?}");
        }
    }

    #[test]
    fn enforces_length_limits() {
        let seg = "a".repeat(100);
        let mut user = String::from("dtmi");
        while user.len() <= MAX_USER_DTMI_CHARS {
            user.push(':');
            user.push_str(&seg);
        }
        assert!(why(&user).contains("user DTMI may be at most 2048"));
        let mut huge = user.clone();
        while huge.len() <= MAX_DTMI_CHARS {
            huge.push(':');
            huge.push_str(&seg);
        }
        assert!(why(&huge).contains("at most 4096"));
        // The message quotes a shortened DTMI.
        let e = validate(&huge).unwrap_err();
        assert_eq!(e.code, ErrorCode::DTDLParserError);
        assert!(e.message.len() < 400, "{}", e.message);
    }

    #[test]
    fn error_is_a_dtdl_parser_error_quoting_the_dtmi() {
        let e = validate("dtmi:com:1x;1").unwrap_err();
        assert_eq!(e.code, ErrorCode::DTDLParserError);
        assert_eq!(
            e.message,
            "'dtmi:com:1x;1' is not a valid DTMI: segment '1x' starts with a digit"
        );
    }

    #[test]
    fn dtmis_are_case_sensitive_but_syntax_is_not_about_case() {
        assert!(validate("dtmi:Com:Example;1").is_ok());
        assert_ne!("dtmi:com:example;1", "dtmi:Com:Example;1");
    }

    #[test]
    fn reserved_prefixes() {
        assert!(is_reserved("dtmi:dtdl:context;2"));
        assert!(is_reserved("dtmi:standard:schema:geospatial:point;3"));
        assert!(!is_reserved("dtmi:dtdlx:a;1"));
        assert!(!is_reserved("dtmi:com:example;1"));
    }

    #[test]
    fn splits_versions() {
        assert_eq!(split_version("dtmi:a:b;2"), ("dtmi:a:b", Some(2)));
        assert_eq!(split_version("dtmi:a:b;2.5"), ("dtmi:a:b", Some(2)));
        assert_eq!(split_version("dtmi:a:b"), ("dtmi:a:b", None));
        assert_eq!(split_version("dtmi:a:b;x"), ("dtmi:a:b;x", None));
        assert_eq!(split_version("dtmi:a:b;01"), ("dtmi:a:b;01", None));
        assert_eq!(parse_version("dtmi:a;3.14"), Some((3, Some(14))));
        assert_eq!(parse_version("dtmi:a;3"), Some((3, None)));
        assert_eq!(parse_version("dtmi:a"), None);
    }
}
