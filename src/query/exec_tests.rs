//! Result tests over the fixture graph (see `fixture.rs` for the graph and its table). Every
//! expected result below was worked out from that picture, not by running the code.

use super::*;
use crate::error::ErrorCode;
use crate::query::engine::run;
use crate::query::fixture::Fixture;
use serde_json::{Value, json};
use std::time::Duration;

fn rows(f: &Fixture, text: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = run(&f.store, text, deadline, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(out.bytes, out.rows.iter().map(String::len).sum::<usize>());
    out.rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
}

/// The `$dtId` of each row (rows that are twin documents).
fn ids(f: &Fixture, text: &str) -> Vec<String> {
    rows(f, text).iter().map(|r| r["$dtId"].as_str().unwrap_or("?").to_string()).collect()
}

/// One string field of each row.
fn column(f: &Fixture, text: &str, key: &str) -> Vec<String> {
    rows(f, text).iter().map(|r| r[key].as_str().unwrap_or("?").to_string()).collect()
}

fn count(f: &Fixture, text: &str) -> u64 {
    let r = rows(f, text);
    assert_eq!(r.len(), 1);
    r[0]["COUNT"].as_u64().unwrap()
}

#[test]
fn the_issue_examples() {
    let f = Fixture::new();
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['room-101', 'sensor-202', 'nope']"),
        ["room-101", "sensor-202"]
    );
    let r = rows(
        &f,
        "SELECT T, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE T.$dtId = 'floor-1'",
    );
    let pairs: Vec<(&str, &str)> = r
        .iter()
        .map(|r| (r["T"]["$dtId"].as_str().unwrap(), r["CT"]["$dtId"].as_str().unwrap()))
        .collect();
    assert_eq!(pairs, [("floor-1", "room-101"), ("floor-1", "room-102")]);
    assert_eq!(r[0]["CT"]["Capacity"], 12);
    let r = rows(
        &f,
        "SELECT Floor, Room FROM DIGITALTWINS MATCH (Floor)-[:contains*..2]->(Room) WHERE Floor.$dtId = 'floor-1'",
    );
    let rooms: Vec<&str> = r.iter().map(|r| r["Room"]["$dtId"].as_str().unwrap()).collect();
    assert_eq!(rooms, ["room-101", "room-102"]);
    assert!(r.iter().all(|r| r["Floor"]["$dtId"] == "floor-1"));
    // Room;1 or later or extending it: the four rooms (12, 2, 8, 4), lab-1 (30), room-301 (40).
    assert_eq!(
        count(
            &f,
            "SELECT COUNT() FROM DIGITALTWINS c WHERE IS_OF_MODEL('dtmi:example:Room;1') AND c.Capacity > 20"
        ),
        2
    );
}

#[test]
fn select_shapes() {
    let f = Fixture::new();
    // SELECT * is the document as stored.
    let doc: Value = serde_json::from_str(&f.store.twin("room-101").unwrap().unwrap()).unwrap();
    assert_eq!(
        rows(&f, "SELECT * FROM DIGITALTWINS WHERE $dtId = 'room-101'"),
        std::slice::from_ref(&doc)
    );
    assert_eq!(
        rows(&f, "SELECT T FROM DIGITALTWINS T WHERE T.$dtId = 'room-101'"),
        [json!({"T": doc})]
    );
    // Projections: keyed by property name or AS; missing properties left out.
    assert_eq!(
        rows(
            &f,
            "SELECT name, level FROM DIGITALTWINS WHERE STARTSWITH($dtId, 'floor') OR $dtId = 'building-1'"
        ),
        [json!({"name": "Main building"}), json!({"level": 1}), json!({"level": 2})]
    );
    assert_eq!(
        rows(
            &f,
            "SELECT T.$dtId AS id, T.thermostat.mode, T.$metadata.$model FROM DIGITALTWINS T WHERE T.$dtId = 'lab-1'"
        ),
        [json!({"id": "lab-1", "mode": "cool", "$model": "dtmi:example:Lab;1"})]
    );
    // Complex values project whole.
    assert_eq!(
        rows(&f, "SELECT T.tags, T.readings FROM DIGITALTWINS T WHERE T.$dtId = 'lab-1'"),
        [json!({"tags": ["wet", "bio"], "readings": {"1st": 1.5, "co2": 410.0}})]
    );
    // TOP without ORDER BY: the first rows in id order.
    assert_eq!(
        column(&f, "SELECT TOP(2) T.$dtId FROM DIGITALTWINS T", "$dtId"),
        ["building-1", "floor-1"]
    );
    assert_eq!(ids(&f, "SELECT TOP(2) FROM DIGITALTWINS"), ["building-1", "floor-1"]);
    // SELECT * with MATCH: every named twin and relationship.
    let r = rows(
        &f,
        "SELECT * FROM DIGITALTWINS MATCH (f)-[c:contains]->(r) WHERE f.$dtId = 'floor-1'",
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["r"]["$dtId"], "room-102");
    assert_eq!(r[1]["c"]["$relationshipId"], "floor-1-contains-room-102");
    assert_eq!(r[1].as_object().unwrap().keys().collect::<Vec<_>>(), ["c", "f", "r"]);
}

#[test]
fn counts() {
    let f = Fixture::new();
    assert_eq!(count(&f, "SELECT COUNT() FROM DIGITALTWINS"), 13);
    assert_eq!(count(&f, "SELECT COUNT() FROM RELATIONSHIPS"), 11);
    assert_eq!(
        count(&f, "SELECT COUNT() FROM RELATIONSHIPS r WHERE r.$relationshipName = 'contains'"),
        7
    );
    assert_eq!(count(&f, "SELECT COUNT() FROM RELATIONSHIPS WHERE installedBy = 'facilities'"), 4);
    assert_eq!(
        count(
            &f,
            "SELECT COUNT() FROM DIGITALTWINS T WHERE T.$metadata.$model = 'dtmi:example:Sensor;1'"
        ),
        4
    );
    assert_eq!(count(&f, "SELECT COUNT() FROM DIGITALTWINS WHERE $dtId = 'nope'"), 0);
    // Undefined is not false: twins without Capacity are not "not over 10".
    assert_eq!(count(&f, "SELECT COUNT() FROM DIGITALTWINS WHERE NOT Capacity > 10"), 3);
    assert_eq!(count(&f, "SELECT COUNT() FROM DIGITALTWINS WHERE Capacity != 12"), 5);
}

#[test]
fn is_of_model_honours_extends_and_versions() {
    let f = Fixture::new();
    let all = "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1') ORDER BY T.$dtId";
    assert_eq!(
        column(&f, all, "$dtId"),
        ["lab-1", "room-101", "room-102", "room-201", "room-202", "room-301"]
    );
    let exact =
        "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1', exact)";
    assert_eq!(column(&f, exact, "$dtId"), ["room-101", "room-102", "room-201", "room-202"]);
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:example:Room;2')"),
        ["room-301"]
    );
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:example:Lab;1')"),
        ["lab-1"]
    );
    // In an OR it is evaluated per twin rather than used as the access path.
    let q = "SELECT T.$dtId FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Lab;1') OR T.$dtId = 'floor-1'";
    assert_eq!(column(&f, q, "$dtId"), ["floor-1", "lab-1"]);
    let q = "SELECT COUNT() FROM DIGITALTWINS T WHERE NOT IS_OF_MODEL(T, 'dtmi:example:Room;1')";
    assert_eq!(count(&f, q), 7);
}

#[test]
fn filters_functions_and_escapes() {
    let f = Fixture::new();
    assert_eq!(ids(&f, "SELECT * FROM DIGITALTWINS WHERE [[Group]] = 'BravoTeam'"), ["lab-1"]);
    assert_eq!(
        rows(&f, "SELECT T.readings.[[1st]] AS first FROM DIGITALTWINS T WHERE T.$dtId = 'lab-1'"),
        [json!({"first": 1.5})]
    );
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS T WHERE ARRAY_CONTAINS(T.tags, 'bio')"),
        ["lab-1"]
    );
    assert_eq!(ids(&f, "SELECT * FROM DIGITALTWINS T WHERE T.thermostat.mode = 'cool'"), ["lab-1"]);
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS T WHERE ENDSWITH(T.name, '02')"),
        ["room-102", "room-202"]
    );
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS T WHERE CONTAINS(T.serialNumber, '-2')"),
        ["sensor-201", "sensor-202"]
    );
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS T WHERE T.temperature >= 20 AND T.temperature < 22.5"),
        ["room-201", "room-202"]
    );
    assert_eq!(
        ids(
            &f,
            "SELECT * FROM DIGITALTWINS T WHERE T.Capacity IN [2, 4, 'x'] OR (IS_NUMBER(T.level) AND T.level NIN [1])"
        ),
        ["floor-2", "room-102", "room-202"]
    );
    assert_eq!(ids(&f, "SELECT * FROM DIGITALTWINS WHERE IS_DEFINED(address)"), ["building-1"]);
    assert_eq!(ids(&f, "SELECT * FROM DIGITALTWINS WHERE IS_OBJECT(readings)"), ["lab-1"]);
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS WHERE name = 'room 101'"),
        Vec::<String>::new(),
        "values are case-sensitive"
    );
    assert_eq!(
        ids(&f, "SELECT * FROM DIGITALTWINS WHERE Name = 'Room 101'"),
        Vec::<String>::new(),
        "names are case-sensitive"
    );
}

#[test]
fn order_by() {
    let f = Fixture::new();
    let q = "SELECT T.name, T.Capacity AS cap FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1', exact) \
             ORDER BY T.Capacity DESC";
    assert_eq!(
        rows(&f, q),
        [
            json!({"name": "Room 101", "cap": 12}),
            json!({"name": "Room 201", "cap": 8}),
            json!({"name": "Room 202", "cap": 4}),
            json!({"name": "Room 102", "cap": 2}),
        ]
    );
    // Missing values sort first; ties keep the order they were found in.
    let q = "SELECT T.$dtId FROM DIGITALTWINS T WHERE T.$dtId IN ['building-1', 'room-101', 'floor-1'] ORDER BY T.Capacity";
    assert_eq!(column(&f, q, "$dtId"), ["building-1", "floor-1", "room-101"]);
    let q = "SELECT T.$dtId FROM DIGITALTWINS T WHERE T.$dtId IN ['building-1', 'room-101', 'floor-1'] ORDER BY T.Capacity DESC";
    assert_eq!(column(&f, q, "$dtId"), ["room-101", "building-1", "floor-1"]);
    // TOP applies after sorting.
    let q = "SELECT TOP(2) T.$dtId FROM DIGITALTWINS T WHERE IS_DEFINED(T.Capacity) ORDER BY T.Capacity DESC, T.$dtId";
    assert_eq!(column(&f, q, "$dtId"), ["room-301", "lab-1"]);
}

#[test]
fn relationships_collection() {
    let f = Fixture::new();
    assert_eq!(
        rows(&f, "SELECT r.$targetId FROM RELATIONSHIPS r WHERE r.$sourceId = 'room-101'"),
        [json!({"$targetId": "sensor-101"})]
    );
    let q = "SELECT * FROM RELATIONSHIPS WHERE $targetId IN ['room-101', 'lab-1']";
    assert_eq!(
        column(&f, q, "$relationshipId"),
        ["floor-1-contains-room-101", "floor-2-contains-lab-1"]
    );
    let q = "SELECT R.$relationshipId FROM RELATIONSHIPS R WHERE R.$sourceId IN ['floor-2', 'building-1'] \
             AND R.$targetId != 'room-202'";
    assert_eq!(
        column(&f, q, "$relationshipId"),
        [
            "floor-2-contains-lab-1",
            "floor-2-contains-room-201",
            "building-1-contains-floor-1",
            "building-1-contains-floor-2"
        ]
    );
    let q =
        "SELECT TOP(1) R.$sourceId FROM RELATIONSHIPS R WHERE R.$relationshipName = 'hasSensor'";
    assert_eq!(column(&f, q, "$sourceId"), ["room-101"]);
}

#[test]
fn joins() {
    let f = Fixture::new();
    // Three JOINs down to the sensors; lab-1 has none, so it drops out (no outer join).
    let q = "SELECT S.$dtId AS s FROM DIGITALTWINS B JOIN F RELATED B.contains JOIN R RELATED F.contains \
             JOIN S RELATED R.hasSensor WHERE B.$dtId = 'building-1'";
    assert_eq!(column(&f, q, "s"), ["sensor-101", "sensor-102", "sensor-201", "sensor-202"]);
    // Pinned on the joined twin: walked backwards.
    let q = "SELECT B.$dtId AS b FROM DIGITALTWINS B JOIN F RELATED B.contains WHERE F.$dtId = 'floor-2'";
    assert_eq!(column(&f, q, "b"), ["building-1"]);
    // The relationship alias, and a filter on it.
    let q = "SELECT Room.name, Rel.position, S.serialNumber FROM DIGITALTWINS Room JOIN S RELATED Room.hasSensor Rel \
             WHERE Room.Capacity > 5 AND Rel.installedBy = 'facilities'";
    assert_eq!(
        rows(&f, q),
        [
            json!({"name": "Room 101", "position": "ceiling", "serialNumber": "SN-101"}),
            json!({"name": "Room 201", "position": "ceiling", "serialNumber": "SN-201"}),
        ]
    );
    // No JOIN target: no row.
    let q = "SELECT T, X FROM DIGITALTWINS T JOIN X RELATED T.contains WHERE T.$dtId = 'room-101'";
    assert!(rows(&f, q).is_empty());
    // A COUNT over a JOIN.
    assert_eq!(
        count(
            &f,
            "SELECT COUNT() FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'floor-2'"
        ),
        3
    );
}

#[test]
fn match_hops_and_directions() {
    let f = Fixture::new();
    let rooms =
        |q: &str| column(&f, &format!("SELECT X.$dtId AS x FROM DIGITALTWINS MATCH {q}"), "x");
    // Up to 2 hops from the building, depth first in relationship-id order.
    assert_eq!(
        rooms("(B)-[:contains*..2]->(X) WHERE B.$dtId = 'building-1'"),
        ["floor-1", "room-101", "room-102", "floor-2", "lab-1", "room-201", "room-202"]
    );
    // *1..2 excludes 1: exactly 2 hops.
    assert_eq!(
        rooms("(B)-[:contains*1..2]->(X) WHERE B.$dtId = 'building-1'"),
        ["room-101", "room-102", "lab-1", "room-201", "room-202"]
    );
    // Exactly 3 hops over any relationship: the sensors.
    assert_eq!(
        rooms("(B)-[*3]->(X) WHERE B.$dtId = 'building-1'"),
        ["sensor-101", "sensor-102", "sensor-201", "sensor-202"]
    );
    // Against the arrows.
    assert_eq!(rooms("(S)<-[*2]-(X) WHERE S.$dtId = 'sensor-201'"), ["floor-2"]);
    assert_eq!(
        rooms("(X)-[*..3]->(S) WHERE S.$dtId = 'sensor-201'"),
        ["room-201", "floor-2", "building-1"]
    );
    // Undirected: out-edges first, then in-edges.
    assert_eq!(rooms("(R)-[]-(X) WHERE R.$dtId = 'room-201'"), ["sensor-201", "floor-2"]);
    // Undirected with hops: paths never revisit a twin, and the start is not a result. Via
    // sensor-201 nothing (its only edge leads back); via floor-2 its out-edges (lab-1, room-202;
    // room-201 is on the path) and then its in-edge (building-1).
    assert_eq!(
        rooms("(R)-[*2]-(X) WHERE R.$dtId = 'room-201'"),
        ["lab-1", "room-202", "building-1"]
    );
    // Names restrict every hop.
    assert_eq!(rooms("(B)-[:contains|hasSensor*3]->(X) WHERE B.$dtId = 'building-1'").len(), 4);
    assert!(rooms("(B)-[:contains*3]->(X) WHERE B.$dtId = 'building-1'").is_empty());
}

#[test]
fn match_chains_variables_and_anchors() {
    let f = Fixture::new();
    // A relationship variable, filtered in WHERE; no $dtId at all (scanned).
    let q = "SELECT Room.$dtId AS room, r.$relationshipId AS rel, Sensor.$dtId AS sensor FROM DIGITALTWINS \
             MATCH (Room)-[r:hasSensor]->(Sensor) WHERE r.position = 'ceiling' AND Room.Capacity < 5";
    assert_eq!(
        rows(&f, q),
        [
            json!({"room": "room-102", "rel": "room-102-hasSensor-sensor-102", "sensor": "sensor-102"}),
            json!({"room": "room-202", "rel": "room-202-hasSensor-sensor-202", "sensor": "sensor-202"}),
        ]
    );
    // Pinned at the end of a chain: walked backwards.
    let q = "SELECT Floor.$dtId AS f FROM DIGITALTWINS MATCH (Floor)-[:contains]->(Room)-[:hasSensor]->(Sensor) \
             WHERE Sensor.$dtId = 'sensor-201'";
    assert_eq!(column(&f, q, "f"), ["floor-2"]);
    // Arrows meeting in the middle: other rooms on the same floor. A row never holds a twin twice,
    // so room-201 is not its own neighbour.
    let q = "SELECT Other.$dtId AS o FROM DIGITALTWINS MATCH (Room)<-[:contains]-(Floor)-[:contains]->(Other) \
             WHERE Room.$dtId = 'room-201'";
    assert_eq!(column(&f, q, "o"), ["lab-1", "room-202"]);
    // A filter on a later twin.
    let q = "SELECT Room.name FROM DIGITALTWINS MATCH (Floor)-[:contains]->(Room) WHERE Floor.level = 2 AND Room.Capacity < 10";
    assert_eq!(column(&f, q, "name"), ["Room 201", "Room 202"]);
}

#[test]
fn limits_cancellation_and_deadline() {
    let f = Fixture::new();
    let cancel = AtomicBool::new(true);
    let e = run(
        &f.store,
        "SELECT * FROM DIGITALTWINS",
        Instant::now() + Duration::from_secs(5),
        &cancel,
    )
    .unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Unavailable, "the query was cancelled"));
    let e = run(&f.store, "SELECT * FROM DIGITALTWINS", Instant::now(), &AtomicBool::new(false))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert!(
        e.message.starts_with("the query ran longer than 0 s, the limit, and was stopped"),
        "{e}"
    );
    // rows_scanned counts what was read: a lookup reads one twin, a scan all of them.
    let never = AtomicBool::new(false);
    let later = Instant::now() + Duration::from_secs(5);
    let out =
        run(&f.store, "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'room-101'", later, &never)
            .unwrap();
    assert_eq!(out.scanned, 1);
    let out =
        run(&f.store, "SELECT COUNT() FROM DIGITALTWINS T WHERE T.Capacity > 100", later, &never)
            .unwrap();
    assert_eq!(out.scanned, 13);
    // TOP stops the scan early.
    let out = run(&f.store, "SELECT TOP(3) FROM DIGITALTWINS", later, &never).unwrap();
    assert_eq!((out.rows.len(), out.scanned), (3, 3));
}
