//! Reading JSON arguments.
//!
//! Twins, patches and models are often long, so every JSON argument can be given three ways:
//! literally, as `@path/to/file.json`, or as `-` to read stdin. `model add` also takes files and
//! directories, and sends everything it was given as one batch (ADT's model upload is all or
//! nothing, and a component's Interface must travel in the same batch as the Interface using it).
//! JSON is checked here first, so a typo is reported as `InvalidArgument` before any network call.

use super::output::{CliError, CliResult};
use std::io::Read;
use std::path::Path;
use twinstore::error::ErrorCode;

/// Reads a JSON argument (literal, `@file` or `-`) and checks that it is JSON. `what` names it in
/// errors ("twin", "patch", ...).
pub(crate) fn json_arg(arg: &str, what: &str) -> CliResult<String> {
    let text = if arg == "-" {
        read_stdin()?
    } else if let Some(path) = arg.strip_prefix('@') {
        read_file(Path::new(path))?
    } else {
        arg.to_string()
    };
    check_json(&text, what)?;
    Ok(text.trim().to_string())
}

/// Parses `text` as JSON, or says why it is not.
pub(crate) fn check_json(text: &str, what: &str) -> CliResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| {
        CliError::new(ErrorCode::InvalidArgument, format!("the {what} is not valid JSON: {e}"))
    })
}

/// Gathers `model add` inputs into one JSON array of Interfaces. Each input is `-`, `@file`, a
/// file, a directory (its `*.json` files, sorted by name) or literal JSON; an input holding an
/// array contributes each of its elements.
pub(crate) fn models_batch(inputs: &[String]) -> CliResult<String> {
    let mut models = Vec::new();
    for input in inputs {
        let trimmed = input.trim_start();
        if input == "-" {
            push_models(&mut models, &read_stdin()?, "stdin")?;
        } else if let Some(path) = input.strip_prefix('@') {
            push_models(&mut models, &read_file(Path::new(path))?, path)?;
        } else if trimmed.starts_with('{') || trimmed.starts_with('[') {
            push_models(&mut models, input, "model argument")?;
        } else {
            let path = Path::new(input);
            if path.is_dir() {
                let mut files: Vec<_> = std::fs::read_dir(path)
                    .map_err(|e| io_error(path, e))?
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                    .collect();
                files.sort();
                if files.is_empty() {
                    return Err(CliError::new(
                        ErrorCode::InvalidArgument,
                        format!("the directory {} has no *.json file", path.display()),
                    ));
                }
                for file in files {
                    push_models(&mut models, &read_file(&file)?, &file.display().to_string())?;
                }
            } else if path.exists() {
                push_models(&mut models, &read_file(path)?, input)?;
            } else {
                return Err(CliError::new(
                    ErrorCode::InvalidArgument,
                    format!("'{input}' is neither a file, a directory nor JSON"),
                ));
            }
        }
    }
    if models.is_empty() {
        return Err(CliError::new(ErrorCode::InvalidArgument, "no model given"));
    }
    Ok(serde_json::Value::Array(models).to_string())
}

fn push_models(models: &mut Vec<serde_json::Value>, text: &str, origin: &str) -> CliResult {
    match check_json(text, &format!("model JSON in {origin}"))? {
        serde_json::Value::Array(items) => models.extend(items),
        other => models.push(other),
    }
    Ok(())
}

fn read_stdin() -> CliResult<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(|e| {
        CliError::new(ErrorCode::InvalidArgument, format!("cannot read stdin: {e}"))
    })?;
    Ok(s)
}

fn read_file(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::new(ErrorCode::InvalidArgument, format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_json_and_errors() {
        assert_eq!(json_arg(r#" {"a":1} "#, "twin").unwrap(), r#"{"a":1}"#);
        let e = json_arg("{oops", "twin").unwrap_err().to_string();
        assert!(e.starts_with("InvalidArgument: the twin is not valid JSON"), "{e}");
        assert!(json_arg("@/no/such/file.json", "twin").is_err());
    }

    #[test]
    fn models_are_flattened_into_one_array() {
        let batch = models_batch(&[r#"[{"@id":"a"},{"@id":"b"}]"#.into(), r#"{"@id":"c"}"#.into()])
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&batch).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 3);
        assert!(models_batch(&["no-such-thing".into()]).is_err());
    }
}
