//! The parsed form of a DTDL Interface.
//!
//! This is what the rest of twinstore sees of a model: plain data, with every reference already
//! checked for syntax and every named schema expanded into its tree, so that validating a twin never
//! needs to look anything up inside the model again. The only references left are *between*
//! Interfaces (`extends`, component schemas, relationship targets), which are resolved against the
//! store through [`ModelSource`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::schema::Schema;

/// A parsed, individually validated DTDL Interface.
#[derive(Clone, Debug, PartialEq)]
pub struct Interface {
    /// The Interface's DTMI (`@id`).
    pub id: String,
    /// 2 or 3, from `@context`.
    pub dtdl_version: u8,
    /// The Interfaces this one extends, in the order written.
    pub extends: Vec<String>,
    /// Its own contents (not the inherited ones), in the order written.
    pub contents: Vec<Content>,
    /// Language tag -> text; a plain string becomes `{"en": s}`.
    pub display_name: BTreeMap<String, String>,
    /// Language tag -> text; a plain string becomes `{"en": s}`.
    pub description: BTreeMap<String, String>,
    /// The `comment`, if any.
    pub comment: Option<String>,
    /// Complex schemas declared with an `@id` (in `schemas`, or inline with an `@id`), expanded.
    pub schemas: BTreeMap<String, Schema>,
    /// `@context` entries after the DTDL context (v3 language extensions).
    pub extensions: Vec<String>,
}

/// One element of an Interface's `contents`.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    /// A Property: state stored on the twin.
    Property(PropertyDef),
    /// A Relationship: a typed edge to another twin.
    Relationship(RelationshipDef),
    /// A Component: another Interface embedded by value.
    Component(ComponentDef),
    /// A Telemetry: an event the twin emits; never stored.
    Telemetry(TelemetryDef),
}

/// A Property of an Interface or of a Relationship.
#[derive(Clone, Debug, PartialEq)]
pub struct PropertyDef {
    /// Its name, unique among the Interface's contents (or the Relationship's properties).
    pub name: String,
    /// The schema its values must match.
    pub schema: Schema,
    /// DTDL `writable` (accepted, not enforced, as in ADT).
    pub writable: bool,
}

/// A Relationship.
#[derive(Clone, Debug, PartialEq)]
pub struct RelationshipDef {
    /// Its name, unique among the Interface's contents.
    pub name: String,
    /// The Interface a target twin must be (or extend); `None` allows any twin. Need not exist yet.
    pub target: Option<String>,
    /// The properties an edge may carry, by name.
    pub properties: BTreeMap<String, PropertyDef>,
    /// DTDL `minMultiplicity` (always 0 when given).
    pub min_multiplicity: Option<u64>,
    /// DTDL `maxMultiplicity` (at least 1 when given).
    pub max_multiplicity: Option<u64>,
}

/// A Component.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentDef {
    /// Its name, unique among the Interface's contents.
    pub name: String,
    /// The DTMI of the Interface it embeds.
    pub schema: String,
}

/// A Telemetry.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryDef {
    /// Its name, unique among the Interface's contents.
    pub name: String,
    /// The schema of its payload.
    pub schema: Schema,
}

impl Content {
    /// The content's name.
    pub fn name(&self) -> &str {
        match self {
            Content::Property(p) => &p.name,
            Content::Relationship(r) => &r.name,
            Content::Component(c) => &c.name,
            Content::Telemetry(t) => &t.name,
        }
    }

    /// "property", "relationship", "component" or "telemetry", for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Property(_) => "property",
            Content::Relationship(_) => "relationship",
            Content::Component(_) => "component",
            Content::Telemetry(_) => "telemetry",
        }
    }
}

impl Interface {
    /// The models this one depends on: its `extends` and its component schemas, each once, in the
    /// order they first appear. This is what ADT's `dependenciesFor` follows and what blocks
    /// deleting those models. Relationship targets are not dependencies.
    pub fn dependencies(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let components = self.contents.iter().filter_map(|c| match c {
            Content::Component(c) => Some(&c.schema),
            _ => None,
        });
        for id in self.extends.iter().chain(components) {
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        out
    }

    /// The content with this name declared by this Interface itself (not inherited).
    pub fn content(&self, name: &str) -> Option<&Content> {
        self.contents.iter().find(|c| c.name() == name)
    }

    /// The components this Interface declares itself.
    pub fn components(&self) -> impl Iterator<Item = &ComponentDef> {
        self.contents.iter().filter_map(|c| match c {
            Content::Component(c) => Some(c),
            _ => None,
        })
    }
}

/// Where already-stored models are looked up.
pub trait ModelSource {
    /// The stored Interface with this id, if any.
    fn interface(&self, id: &str) -> Option<Arc<Interface>>;
}

/// A map of Interfaces is a model source (handy for tests and for caches).
impl ModelSource for BTreeMap<String, Arc<Interface>> {
    fn interface(&self, id: &str) -> Option<Arc<Interface>> {
        self.get(id).cloned()
    }
}

/// No stored models at all.
impl ModelSource for () {
    fn interface(&self, _id: &str) -> Option<Arc<Interface>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(extends: &[&str], components: &[(&str, &str)]) -> Interface {
        Interface {
            id: "dtmi:x:A;1".into(),
            dtdl_version: 3,
            extends: extends.iter().map(|s| s.to_string()).collect(),
            contents: components
                .iter()
                .map(|(n, s)| {
                    Content::Component(ComponentDef { name: n.to_string(), schema: s.to_string() })
                })
                .chain([Content::Relationship(RelationshipDef {
                    name: "rel".into(),
                    target: Some("dtmi:x:T;1".into()),
                    properties: BTreeMap::new(),
                    min_multiplicity: None,
                    max_multiplicity: None,
                })])
                .collect(),
            display_name: BTreeMap::new(),
            description: BTreeMap::new(),
            comment: None,
            schemas: BTreeMap::new(),
            extensions: vec![],
        }
    }

    #[test]
    fn dependencies_are_extends_then_components_without_duplicates_or_targets() {
        let i = iface(
            &["dtmi:x:B;1", "dtmi:x:C;1"],
            &[("c1", "dtmi:x:D;1"), ("c2", "dtmi:x:D;1"), ("c3", "dtmi:x:B;1")],
        );
        assert_eq!(i.dependencies(), vec!["dtmi:x:B;1", "dtmi:x:C;1", "dtmi:x:D;1"]);
        assert!(iface(&[], &[]).dependencies().is_empty());
    }

    #[test]
    fn content_lookup() {
        let i = iface(&[], &[("c1", "dtmi:x:D;1")]);
        assert_eq!(i.content("c1").map(Content::kind), Some("component"));
        assert_eq!(i.content("rel").map(Content::kind), Some("relationship"));
        assert!(i.content("nope").is_none());
        assert_eq!(i.components().count(), 1);
    }
}
