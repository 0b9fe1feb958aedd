//! The sample building graph of `scripts/sample/`, compiled in.
//!
//! One building, two floors, four rooms (each with a `thermostat` component) and four sensors,
//! joined by `contains` and `hasSensor` relationships. `twinstore up` loads it so a fresh
//! deployment has something to query wherever the binary runs from, and the query tests and the
//! fuzz targets use it as a realistic graph; one copy here keeps them all on the same files.

/// The DTDL Interfaces, dependencies first: (file name, JSON).
pub const MODELS: [(&str, &str); 5] = [
    ("thermostat.json", include_str!("../../scripts/sample/models/thermostat.json")),
    ("sensor.json", include_str!("../../scripts/sample/models/sensor.json")),
    ("room.json", include_str!("../../scripts/sample/models/room.json")),
    ("floor.json", include_str!("../../scripts/sample/models/floor.json")),
    ("building.json", include_str!("../../scripts/sample/models/building.json")),
];

/// The twins: a JSON array of twin documents with `$dtId`.
pub const TWINS: &str = include_str!("../../scripts/sample/twins.json");

/// The relationships: a JSON array with `$sourceId`, `$relationshipId`, `$targetId`,
/// `$relationshipName` and properties.
pub const RELATIONSHIPS: &str = include_str!("../../scripts/sample/relationships.json");
