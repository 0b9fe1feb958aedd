//! How results and failures are shown.
//!
//! Scripts parse `--output json` and people read the text form, so the two are kept separate here,
//! in one place: text prints each ADT document pretty-printed, json prints documents as the server
//! sent them (one line each) and lists as one JSON array. Documents are re-indented token by token
//! rather than through a JSON value, so the server's key order (`$dtId`, `$etag`, ... first) is kept.
//!
//! Every failure becomes a [`CliError`]: one line on stderr starting with the ADT error code
//! (`DigitalTwinNotFound: ...`), exit code 1.

use clap::ValueEnum;
use std::io::Write;
use twinstore::client::ClientError;
use twinstore::error::ErrorCode;

/// The output format chosen with `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Pretty-printed documents and sentences, for people.
    #[default]
    Text,
    /// One JSON value on stdout, for scripts.
    Json,
}

/// A failure of a command: printed as `Code: message` on one line.
#[derive(Debug)]
pub(crate) struct CliError {
    code: String,
    message: String,
}

impl CliError {
    /// An error with an ADT code.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CliError { code: code.as_str().to_string(), message: message.into() }
    }

    /// The same error with `context: ` put before its message.
    pub(crate) fn context(self, context: &str) -> Self {
        CliError { code: self.code, message: format!("{context}: {}", self.message) }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError { code: e.code_str(), message: e.message }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = self.message.split_whitespace().collect::<Vec<_>>().join(" ");
        write!(f, "{}: {}", self.code, message)
    }
}

/// The result of a command.
pub(crate) type CliResult<T = ()> = Result<T, CliError>;

/// Writes a line to stdout; a closed pipe (`twinstore ... | head`) is not an error.
pub(crate) fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Prints command results in the chosen format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Printer {
    pub(crate) format: OutputFormat,
}

impl Printer {
    /// One ADT document (a JSON text).
    pub(crate) fn document(&self, json: &str) {
        match self.format {
            OutputFormat::Text => out(&reformat(json, true)),
            OutputFormat::Json => out(&reformat(json, false)),
        }
    }

    /// A list of documents: one after another (text) or one JSON array (json).
    pub(crate) fn list(&self, docs: &[String]) {
        match self.format {
            OutputFormat::Text => {
                for d in docs {
                    out(&reformat(d, true));
                }
            }
            OutputFormat::Json => {
                let items: Vec<String> = docs.iter().map(|d| reformat(d, false)).collect();
                out(&format!("[{}]", items.join(",")));
            }
        }
    }

    /// The outcome of a delete: `deleted <what> (at index n)`, or `{"deleted": id, "index": n}`.
    pub(crate) fn deleted(&self, what: &str, id: serde_json::Value, index: u64) {
        match self.format {
            OutputFormat::Text => out(&format!("deleted {what} (at index {index})")),
            OutputFormat::Json => {
                out(&serde_json::json!({ "deleted": id, "index": index }).to_string());
            }
        }
    }

    /// A short acknowledgement: the sentence in text mode, the JSON value in json mode.
    pub(crate) fn ack(&self, sentence: &str, json: serde_json::Value) {
        match self.format {
            OutputFormat::Text => out(sentence),
            OutputFormat::Json => out(&json.to_string()),
        }
    }
}

/// Re-indents a JSON text without reordering it: pretty (two-space indent) or compact. Text that
/// is not valid JSON is returned unchanged.
pub(crate) fn reformat(json: &str, pretty: bool) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
        return json.to_string();
    }
    let chars: Vec<char> = json.chars().collect();
    let mut s = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |s: &mut String, depth: usize| {
        if pretty {
            s.push('\n');
            for _ in 0..depth {
                s.push_str("  ");
            }
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_string {
            s.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                s.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j < chars.len() && chars[j] == close {
                    s.push(c);
                    s.push(close);
                    i = j + 1;
                } else {
                    s.push(c);
                    depth += 1;
                    newline(&mut s, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut s, depth);
                s.push(c);
            }
            ',' => {
                s.push(c);
                newline(&mut s, depth);
            }
            ':' => {
                s.push(':');
                if pretty {
                    s.push(' ');
                }
            }
            c if c.is_whitespace() => {}
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reformat_keeps_order_and_strings() {
        let doc = r#"{"$dtId":"a b","z":[1, 2],"e":{},"s":"x,{\"y\":1}"}"#;
        assert_eq!(reformat(doc, false), r#"{"$dtId":"a b","z":[1,2],"e":{},"s":"x,{\"y\":1}"}"#);
        let pretty = reformat(doc, true);
        assert!(pretty.starts_with("{\n  \"$dtId\": \"a b\",\n  \"z\": [\n    1,"), "{pretty}");
        let back: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(doc).unwrap());
        assert_eq!(reformat("not json", true), "not json");
    }

    #[test]
    fn errors_are_one_line() {
        let e = CliError::new(ErrorCode::InvalidArgument, "bad\nthing");
        assert_eq!(e.to_string(), "InvalidArgument: bad thing");
    }
}
