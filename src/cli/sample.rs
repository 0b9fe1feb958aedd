//! The sample building graph, compiled into the binary.
//!
//! `twinstore up` loads it so a fresh deployment has something to query, wherever the binary is
//! run from; the same files live in `scripts/sample/` for `twinstore model add` and for reading.
//! One building, two floors, four rooms (each with a `thermostat` component) and four sensors,
//! joined by `contains` and `hasSensor` relationships.

/// The DTDL Interfaces, dependencies first: (file name, JSON).
pub(crate) const MODELS: [(&str, &str); 5] = [
    ("thermostat.json", include_str!("../../scripts/sample/models/thermostat.json")),
    ("sensor.json", include_str!("../../scripts/sample/models/sensor.json")),
    ("room.json", include_str!("../../scripts/sample/models/room.json")),
    ("floor.json", include_str!("../../scripts/sample/models/floor.json")),
    ("building.json", include_str!("../../scripts/sample/models/building.json")),
];

/// The twins: a JSON array of twin documents with `$dtId`.
pub(crate) const TWINS: &str = include_str!("../../scripts/sample/twins.json");

/// The relationships: a JSON array with `$sourceId`, `$relationshipId`, `$targetId`,
/// `$relationshipName` and properties.
pub(crate) const RELATIONSHIPS: &str = include_str!("../../scripts/sample/relationships.json");

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
