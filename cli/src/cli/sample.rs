//! The sample building graph (`twinstore::model::sample`, compiled in from `scripts/sample/`),
//! and [`load`], which puts it into a deployment for `twinstore up`.

use super::output::{CliError, CliResult};
use serde_json::Value;
use std::collections::BTreeSet;
use twinstore::client::{Client, Conditions, Consistency};
use twinstore::error::ErrorCode;

pub(crate) use twinstore::model::sample::{MODELS, RELATIONSHIPS, TWINS};

/// What was loaded.
pub(crate) struct Loaded {
    pub(crate) models: usize,
    pub(crate) new_models: usize,
    pub(crate) twins: usize,
    pub(crate) relationships: usize,
}

/// Loads the sample graph; safe to run again on the same data.
pub(crate) async fn load(client: &Client) -> CliResult<Loaded> {
    let ctx = |what: &'static str| {
        move |e: twinstore::client::ClientError| CliError::from(e).context(what)
    };
    let existing: BTreeSet<String> = client
        .list_models_all(&[], false, Consistency::Linearizable)
        .await
        .map_err(ctx("listing models"))?
        .iter()
        .filter_map(|m| {
            let v: Value = serde_json::from_str(m).ok()?;
            Some(v.get("id")?.as_str()?.to_string())
        })
        .collect();
    let models: Vec<Value> =
        MODELS.iter().map(|(file, text)| parse(text, file)).collect::<CliResult<_>>()?;
    let missing: Vec<Value> = models
        .iter()
        .filter(|m| !m["@id"].as_str().is_some_and(|id| existing.contains(id)))
        .cloned()
        .collect();
    let new_models = missing.len();
    if !missing.is_empty() {
        match client.add_models(&Value::Array(missing).to_string()).await {
            Ok(_) => {}
            Err(e) if e.code == Some(ErrorCode::ModelAlreadyExists) => {}
            Err(e) => return Err(CliError::from(e).context("adding the sample models")),
        }
    }
    let twins = parse_array(TWINS, "twins.json")?;
    for mut twin in twins.iter().cloned() {
        let id = take_string(&mut twin, "$dtId", "twins.json")?;
        client
            .put_twin(&id, &twin.to_string(), Conditions::none())
            .await
            .map_err(|e| CliError::from(e).context(&format!("putting twin '{id}'")))?;
    }
    let rels = parse_array(RELATIONSHIPS, "relationships.json")?;
    for mut rel in rels.iter().cloned() {
        let source = take_string(&mut rel, "$sourceId", "relationships.json")?;
        let rel_id = take_string(&mut rel, "$relationshipId", "relationships.json")?;
        client
            .put_relationship(&source, &rel_id, &rel.to_string(), Conditions::none())
            .await
            .map_err(|e| {
                CliError::from(e).context(&format!("putting relationship '{source}/{rel_id}'"))
            })?;
    }
    Ok(Loaded { models: models.len(), new_models, twins: twins.len(), relationships: rels.len() })
}

fn parse(text: &str, file: &str) -> CliResult<Value> {
    serde_json::from_str(text).map_err(|e| {
        CliError::new(ErrorCode::Internal, format!("the embedded sample {file} is broken: {e}"))
    })
}

fn parse_array(text: &str, file: &str) -> CliResult<Vec<Value>> {
    match parse(text, file)? {
        Value::Array(items) => Ok(items),
        _ => Err(CliError::new(ErrorCode::Internal, format!("sample {file} is not an array"))),
    }
}

/// Removes a string field (ids that travel in the request, not the body).
fn take_string(doc: &mut Value, key: &str, file: &str) -> CliResult<String> {
    match doc.as_object_mut().and_then(|o| o.remove(key)) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(CliError::new(ErrorCode::Internal, format!("an entry of {file} has no {key}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    #[test]
    fn the_sample_is_well_formed() {
        let mut ids = BTreeSet::new();
        for (file, text) in MODELS {
            let m: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(m["@context"], "dtmi:dtdl:context;3", "{file}");
            assert_eq!(m["@type"], "Interface", "{file}");
            ids.insert(m["@id"].as_str().unwrap().to_string());
        }
        let twins: Vec<Value> = serde_json::from_str(TWINS).unwrap();
        let twin_ids: BTreeSet<&str> = twins.iter().map(|t| t["$dtId"].as_str().unwrap()).collect();
        for t in &twins {
            assert!(ids.contains(t["$metadata"]["$model"].as_str().unwrap()));
        }
        let rels: Vec<Value> = serde_json::from_str(RELATIONSHIPS).unwrap();
        for r in &rels {
            assert!(twin_ids.contains(r["$sourceId"].as_str().unwrap()));
            assert!(twin_ids.contains(r["$targetId"].as_str().unwrap()));
        }
        assert_eq!((twins.len(), rels.len()), (11, 10));
    }
}
