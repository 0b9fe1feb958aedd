//! Read access for the query engine: streaming twins, edges and models straight from the key
//! spaces, without the paging and JSON work of the API listings.
//!
//! Every iterator here is a sled prefix scan. sled has no snapshots, so a long scan that runs while
//! writes are applied sees each key either before or after its write (every single document is
//! always a committed version), but not the whole graph as of one instant.

use super::StorageError;
use super::keys::{Key, Reader, Space};
use super::store::{Store, corrupt, text};

/// An incoming edge, from the in-edge index (no relationship document is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InEdge {
    /// The source twin.
    pub source: String,
    /// The relationship id (unique within its source).
    pub id: String,
    /// The relationship name.
    pub name: String,
}

/// A relationship document with the key parts it is stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationshipEntry {
    /// The source twin.
    pub source: String,
    /// The relationship id.
    pub id: String,
    /// The relationship document (JSON text).
    pub json: String,
}

impl Store {
    /// Every twin document from the first id after `after` (all of them for `None`), in id order.
    pub fn twins_from(
        &self,
        after: Option<&str>,
    ) -> impl Iterator<Item = Result<(String, String), StorageError>> + '_ {
        let mut start = vec![Space::Twin as u8];
        if let Some(a) = after {
            start.extend_from_slice(a.as_bytes());
            start.push(0); // strictly after
        }
        self.graph.range(start..).take_while(twin_space).map(|kv| {
            let (k, v) = kv?;
            let id = String::from_utf8(k[1..].to_vec()).map_err(|_| corrupt("twin key"))?;
            Ok((id, text(v)?))
        })
    }

    /// The outgoing relationship documents of `source`, in relationship-id order.
    pub fn out_edges(
        &self,
        source: &str,
    ) -> impl Iterator<Item = Result<RelationshipEntry, StorageError>> + '_ {
        let prefix = Key::new(Space::Out).s(source).into_bytes();
        self.graph.scan_prefix(prefix).map(relationship_entry)
    }

    /// The incoming edges of `target` (source, id, name), in source then id order.
    pub fn in_edges(
        &self,
        target: &str,
    ) -> impl Iterator<Item = Result<InEdge, StorageError>> + '_ {
        let prefix = Key::new(Space::In).s(target).into_bytes();
        self.graph.scan_prefix(prefix).map(|kv| {
            let (k, v) = kv?;
            let mut r = Reader::new(&k, Space::In).ok_or_else(|| corrupt("incoming edge key"))?;
            let (_, source, id) = (r.s(), r.s(), r.s());
            let (Some(source), Some(id)) = (source, id) else {
                return Err(corrupt("incoming edge key"));
            };
            Ok(InEdge { source, id, name: text(v)? })
        })
    }

    /// Every relationship document, in source then id order.
    pub fn all_relationships(
        &self,
    ) -> impl Iterator<Item = Result<RelationshipEntry, StorageError>> + '_ {
        self.graph.scan_prefix([Space::Out as u8]).map(relationship_entry)
    }

    /// The id of every stored model, in id order (without decoding the records).
    pub fn model_ids(&self) -> impl Iterator<Item = Result<String, StorageError>> + '_ {
        self.graph.scan_prefix([Space::Model as u8]).map(|kv| {
            let (k, _) = kv?;
            Reader::new(&k, Space::Model)
                .and_then(|mut r| r.s())
                .ok_or_else(|| corrupt("model key"))
        })
    }
}

fn twin_space(kv: &sled::Result<(sled::IVec, sled::IVec)>) -> bool {
    match kv {
        Ok((k, _)) => k.first() == Some(&(Space::Twin as u8)),
        Err(_) => true,
    }
}

fn relationship_entry(
    kv: sled::Result<(sled::IVec, sled::IVec)>,
) -> Result<RelationshipEntry, StorageError> {
    let (k, v) = kv?;
    let mut r = Reader::new(&k, Space::Out).ok_or_else(|| corrupt("relationship key"))?;
    let (Some(source), Some(id)) = (r.s(), r.s()) else {
        return Err(corrupt("relationship key"));
    };
    Ok(RelationshipEntry { source, id, json: text(v)? })
}

#[cfg(test)]
mod tests {
    use super::super::tests::Harness;
    use super::*;
    use crate::storage::{Op, Precondition};
    use serde_json::json;

    #[test]
    fn scans_twins_edges_and_models() {
        let mut h = Harness::new();
        let sensor = json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": "co2"});
        for id in ["s1", "s2", "s3"] {
            h.put_twin(id, sensor.clone());
        }
        let room = json!({"$metadata": {"$model": "dtmi:test:Room;1"}, "thermostat": {}});
        h.put_twin("room", room);
        for (rel, target) in [("a", "s1"), ("b", "s2")] {
            let json = json!({"$targetId": target, "$relationshipName": "contains"}).to_string();
            h.ok(Op::PutRelationship {
                source: "room".into(),
                id: rel.into(),
                json,
                pre: Precondition::default(),
            });
        }
        let ids: Vec<String> = h.store.twins_from(None).map(|t| t.unwrap().0).collect();
        assert_eq!(ids, ["room", "s1", "s2", "s3"]);
        let ids: Vec<String> = h.store.twins_from(Some("s1")).map(|t| t.unwrap().0).collect();
        assert_eq!(ids, ["s2", "s3"]);
        let out: Vec<String> = h.store.out_edges("room").map(|e| e.unwrap().id).collect();
        assert_eq!(out, ["a", "b"]);
        assert_eq!(h.store.out_edges("s1").count(), 0);
        let incoming: Vec<InEdge> = h.store.in_edges("s2").map(|e| e.unwrap()).collect();
        assert_eq!(
            incoming,
            [InEdge { source: "room".into(), id: "b".into(), name: "contains".into() }]
        );
        let all: Vec<(String, String)> =
            h.store.all_relationships().map(|e| e.unwrap()).map(|e| (e.source, e.id)).collect();
        assert_eq!(all, [("room".into(), "a".into()), ("room".into(), "b".into())]);
        let models: Vec<String> = h.store.model_ids().map(|m| m.unwrap()).collect();
        assert_eq!(models.len(), 4);
        assert!(models.contains(&"dtmi:test:Room;1".to_string()));
    }
}
