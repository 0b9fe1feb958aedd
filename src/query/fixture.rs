//! The graph the query tests run on: the sample building of `scripts/sample/`, plus a lab (a model
//! extending Room;1, with an array, a map and a property named by a reserved word) and a room of a
//! later Room version.
//!
//! ```text
//! building-1 -contains-> floor-1 -contains-> room-101 -hasSensor-> sensor-101
//!                                -contains-> room-102 -hasSensor-> sensor-102
//!            -contains-> floor-2 -contains-> lab-1
//!                                -contains-> room-201 -hasSensor-> sensor-201
//!                                -contains-> room-202 -hasSensor-> sensor-202
//! room-301 (dtmi:example:Room;2, no relationships)
//! ```
//!
//! | twin     | model   | Capacity | temperature | thermostat.mode |
//! |----------|---------|----------|-------------|-----------------|
//! | room-101 | Room;1  | 12       | 22.5        | heat            |
//! | room-102 | Room;1  | 2        | 19.0        | heat            |
//! | room-201 | Room;1  | 8        | 21.5        | heat            |
//! | room-202 | Room;1  | 4        | 20.0        | heat            |
//! | lab-1    | Lab;1   | 30       | 18.5        | cool            |
//! | room-301 | Room;2  | 40       | -           | -               |

use crate::model::time::Timestamp;
use crate::storage::{Command, Op, Precondition, Store};
use serde_json::{Value, json};

const EXTRA_MODELS: &str = r#"[
  {"@id": "dtmi:example:Lab;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "extends": "dtmi:example:Room;1",
   "contents": [
     {"@type": "Property", "name": "tags", "schema": {"@type": "Array", "elementSchema": "string"}},
     {"@type": "Property", "name": "readings", "schema": {"@type": "Map",
       "mapKey": {"name": "key", "schema": "string"}, "mapValue": {"name": "value", "schema": "double"}}},
     {"@type": "Property", "name": "Group", "schema": "string"}]},
  {"@id": "dtmi:example:Room;2", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "name", "schema": "string"},
                {"@type": "Property", "name": "Capacity", "schema": "integer"}]}
]"#;

/// A store holding the fixture graph.
pub(crate) struct Fixture {
    pub store: Store,
    index: u64,
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut f = Fixture { store: Store::temporary().unwrap(), index: 0 };
        for (_, m) in crate::model::sample::MODELS {
            f.apply(Op::AddModels { json: m.into() });
        }
        f.apply(Op::AddModels { json: EXTRA_MODELS.into() });
        let twins: Vec<Value> = serde_json::from_str(crate::model::sample::TWINS).unwrap();
        for t in twins {
            let id = t["$dtId"].as_str().unwrap().to_string();
            f.put_twin(&id, t);
        }
        f.put_twin(
            "lab-1",
            json!({"$metadata": {"$model": "dtmi:example:Lab;1"}, "name": "Lab 1", "Capacity": 30,
                   "temperature": 18.5, "thermostat": {"setpoint": 18.0, "mode": "cool"},
                   "tags": ["wet", "bio"], "readings": {"1st": 1.5, "co2": 410.0}, "Group": "BravoTeam"}),
        );
        f.put_twin(
            "room-301",
            json!({"$metadata": {"$model": "dtmi:example:Room;2"}, "name": "Room 301", "Capacity": 40}),
        );
        let rels: Vec<Value> = serde_json::from_str(crate::model::sample::RELATIONSHIPS).unwrap();
        for r in rels {
            let source = r["$sourceId"].as_str().unwrap().to_string();
            let id = r["$relationshipId"].as_str().unwrap().to_string();
            f.put_relationship(&source, &id, r);
        }
        f.put_relationship(
            "floor-2",
            "floor-2-contains-lab-1",
            json!({"$targetId": "lab-1", "$relationshipName": "contains"}),
        );
        f
    }

    pub fn apply(&mut self, op: Op) {
        self.index += 1;
        let name = op.name();
        let cmd = Command {
            request: None,
            time: Timestamp(1_700_000_000_000_000_000 + self.index),
            epoch: 1,
            origin: None,
            op,
        };
        self.store.apply(self.index, &cmd).unwrap().unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    pub fn put_twin(&mut self, id: &str, doc: Value) {
        self.apply(Op::PutTwin {
            id: id.into(),
            json: doc.to_string(),
            pre: Precondition::default(),
        });
    }

    pub fn put_relationship(&mut self, source: &str, id: &str, doc: Value) {
        self.apply(Op::PutRelationship {
            source: source.into(),
            id: id.into(),
            json: doc.to_string(),
            pre: Precondition::default(),
        });
    }
}
