//! Resolved models: an Interface flattened with everything it inherits, and the validation of twin
//! and relationship documents against it.
//!
//! A twin write is validated against its model on every replica at apply time, so this must be
//! cheap and must not consult the store: the storage layer resolves a model once (and caches the
//! `Arc`), and validation is then a walk over the document. The rules are ADT's: every key is a
//! declared property or component (inherited ones included), values match their schemas, every
//! component is present as an object and is validated against its own model, properties are
//! optional. `writable` and multiplicities are not enforced, as in ADT.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::MAX_INTERFACES_IN_HIERARCHY;
use super::interface::{Content, ModelSource, PropertyDef, RelationshipDef, TelemetryDef};
use super::json::suggest;
use super::schema::found;
use crate::err;
use crate::error::{Error, Result};
use crate::model::dtmi::shown;
use crate::model::limits::MAX_PROPERTY_NAME_BYTES;

/// A model flattened for validating twins: its own and all inherited contents.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedModel {
    /// The model's id.
    pub id: String,
    /// This id and every Interface it extends, transitively.
    pub ancestors: BTreeSet<String>,
    /// Properties by name, own and inherited.
    pub properties: BTreeMap<String, PropertyDef>,
    /// Relationships by name, own and inherited.
    pub relationships: BTreeMap<String, RelationshipDef>,
    /// Components by name, each resolved against its own model.
    pub components: BTreeMap<String, Arc<ResolvedModel>>,
    /// Telemetry by name, own and inherited.
    pub telemetry: BTreeMap<String, TelemetryDef>,
}

/// Resolves a stored model with its `extends` chain and components. `ModelNotFound` if `id` or a
/// model it depends on is missing.
pub fn resolve(id: &str, source: &dyn ModelSource) -> Result<ResolvedModel> {
    resolve_inner(id, source, &mut Vec::new())
}

fn resolve_inner(
    id: &str,
    source: &dyn ModelSource,
    within: &mut Vec<String>,
) -> Result<ResolvedModel> {
    let root = source
        .interface(id)
        .ok_or_else(|| err!(ModelNotFound, "model {} was not found; upload it first", shown(id)))?;
    let mut model = ResolvedModel {
        id: id.to_string(),
        ancestors: BTreeSet::new(),
        properties: BTreeMap::new(),
        relationships: BTreeMap::new(),
        components: BTreeMap::new(),
        telemetry: BTreeMap::new(),
    };
    let mut component_defs = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(iface) = queue.pop_front() {
        if !model.ancestors.insert(iface.id.clone()) {
            continue;
        }
        if model.ancestors.len() > MAX_INTERFACES_IN_HIERARCHY {
            return Err(err!(
                DTDLParserError,
                "model {id}: its extends hierarchy has more than {MAX_INTERFACES_IN_HIERARCHY} Interfaces"
            ));
        }
        for c in &iface.contents {
            // Names are unique across a hierarchy (check_batch); keep the first if not.
            match c {
                Content::Property(p) => {
                    model.properties.entry(p.name.clone()).or_insert_with(|| p.clone());
                }
                Content::Relationship(r) => {
                    model.relationships.entry(r.name.clone()).or_insert_with(|| r.clone());
                }
                Content::Telemetry(t) => {
                    model.telemetry.entry(t.name.clone()).or_insert_with(|| t.clone());
                }
                Content::Component(c) => component_defs.push(c.clone()),
            }
        }
        for parent in &iface.extends {
            if model.ancestors.contains(parent) {
                continue;
            }
            let p = source.interface(parent).ok_or_else(|| {
                err!(
                    ModelNotFound,
                    "model {id}: {} extends {parent}, which was not found; upload it again",
                    iface.id
                )
            })?;
            queue.push_back(p);
        }
    }
    within.push(id.to_string());
    for c in component_defs {
        if model.components.contains_key(&c.name) {
            continue;
        }
        if within.contains(&c.schema) {
            within.pop();
            return Err(err!(
                DTDLParserError,
                "model {id}: component '{}' uses {}, which contains {id} itself",
                c.name,
                c.schema
            ));
        }
        let resolved = match resolve_inner(&c.schema, source, within) {
            Ok(r) => r,
            Err(e) if e.code == crate::error::ErrorCode::ModelNotFound => {
                within.pop();
                return Err(err!(
                    ModelNotFound,
                    "model {id}: component '{}' uses model {}, which was not found ({})",
                    c.name,
                    c.schema,
                    e.message
                ));
            }
            Err(e) => {
                within.pop();
                return Err(e);
            }
        };
        model.components.insert(c.name.clone(), Arc::new(resolved));
    }
    within.pop();
    Ok(model)
}

impl ResolvedModel {
    /// True when this model is `other` or extends it (transitively).
    pub fn is_a(&self, other: &str) -> bool {
        self.ancestors.contains(other)
    }

    /// Validates a twin's (or a component's) contents: `contents` is the document's object; keys
    /// starting with '$' (`$dtId`, `$etag`, `$metadata`) are ignored. Every other key must be a
    /// declared property (its value matching its schema) or component (an object, validated
    /// against the component's model), and every declared component must be present.
    pub fn validate_contents(&self, contents: &Map<String, Value>) -> Result<()> {
        for (key, value) in contents {
            if key.starts_with('$') {
                continue;
            }
            check_name_length(key)?;
            if let Some(p) = self.properties.get(key) {
                p.schema.validate_at(value, key).map_err(|why| {
                    err!(
                        ValidationFailed,
                        "twin property '{key}' does not match its schema in model {}: {why}",
                        self.id
                    )
                })?;
            } else if let Some(c) = self.components.get(key) {
                let Value::Object(inner) = value else {
                    return Err(err!(
                        ValidationFailed,
                        "component '{key}' of model {} must be a JSON object, found {}",
                        self.id,
                        found(value)
                    ));
                };
                c.validate_contents(inner).map_err(|e| in_component(key, e))?;
            } else {
                return Err(self.undeclared(key));
            }
        }
        if let Some(missing) = self.components.keys().find(|c| !contents.contains_key(*c)) {
            return Err(err!(
                ValidationFailed,
                "component '{missing}' is required by model {} but is missing; add \"{missing}\": {{\"$metadata\": {{}}}} to the twin",
                self.id
            ));
        }
        Ok(())
    }

    fn undeclared(&self, key: &str) -> Error {
        let kind = if self.relationships.contains_key(key) {
            Some("a relationship")
        } else if self.telemetry.contains_key(key) {
            Some("a telemetry")
        } else {
            None
        };
        let hint = match kind {
            Some(kind) => format!("; '{key}' is {kind}, which is not stored on the twin"),
            None => {
                let names =
                    self.properties.keys().chain(self.components.keys()).map(String::as_str);
                match suggest(key, names) {
                    Some(s) => format!("; did you mean '{s}'?"),
                    None => String::new(),
                }
            }
        };
        err!(
            ValidationFailed,
            "twin property '{}' is not defined in model {}{hint}",
            shown(key),
            self.id
        )
    }

    /// Validates a relationship's user properties (all keys not starting with '$') against the
    /// properties declared on relationship `name`. `InvalidRelationship` if the model has no such
    /// relationship.
    pub fn validate_relationship_properties(
        &self,
        name: &str,
        props: &Map<String, Value>,
    ) -> Result<()> {
        let Some(rel) = self.relationships.get(name) else {
            let hint = match suggest(name, self.relationships.keys().map(String::as_str)) {
                Some(s) => format!("; did you mean '{s}'?"),
                None => String::new(),
            };
            return Err(err!(
                InvalidRelationship,
                "model {} has no relationship named '{}'{hint}",
                self.id,
                shown(name)
            ));
        };
        for (key, value) in props {
            if key.starts_with('$') {
                continue;
            }
            check_name_length(key)?;
            let Some(p) = rel.properties.get(key) else {
                return Err(err!(
                    ValidationFailed,
                    "relationship property '{}' is not defined on relationship '{name}' of model {}",
                    shown(key),
                    self.id
                ));
            };
            p.schema.validate_at(value, key).map_err(|why| {
                err!(
                    ValidationFailed,
                    "relationship property '{key}' of relationship '{name}' does not match its schema in model {}: {why}",
                    self.id
                )
            })?;
        }
        Ok(())
    }

    /// The relationship `name`, own or inherited.
    pub fn relationship(&self, name: &str) -> Option<&RelationshipDef> {
        self.relationships.get(name)
    }
}

fn check_name_length(key: &str) -> Result<()> {
    if key.len() > MAX_PROPERTY_NAME_BYTES {
        return Err(err!(
            LimitExceeded,
            "property name '{}' is {} bytes long; a property name may be at most {MAX_PROPERTY_NAME_BYTES} bytes",
            shown(key),
            key.len()
        ));
    }
    Ok(())
}

fn in_component(name: &str, e: Error) -> Error {
    Error::new(e.code, format!("in component '{name}': {}", e.message))
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
