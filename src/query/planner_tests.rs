//! Planner tests: access paths, step order, filter placement, and the rules it enforces.

use super::*;
use crate::error::ErrorCode;
use crate::query::fixture::Fixture;
use crate::query::parser::parse;

fn plan_of(f: &Fixture, text: &str) -> Plan {
    plan(&f.store, &parse(text).unwrap()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn error_of(f: &Fixture, text: &str) -> Error {
    plan(&f.store, &parse(text).unwrap()).expect_err(text)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn dtid_filters_become_key_lookups() {
    let f = Fixture::new();
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'room-101'");
    assert_eq!((p.anchor, &p.access), (0, &Access::TwinIds(strings(&["room-101"]))));
    assert_eq!(p.filters, vec![Vec::<Pred>::new()], "the lookup implies the term");
    let p = plan_of(
        &f,
        "SELECT * FROM DIGITALTWINS WHERE $dtId IN ['a', 'b', 'a', 3] AND Capacity > 2",
    );
    assert_eq!(p.access, Access::TwinIds(strings(&["a", "b"])));
    assert_eq!(p.filters[0].len(), 1);
    let p =
        plan_of(&f, "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'a' OR T.$dtId IN ['b', 'c']");
    assert_eq!(p.access, Access::TwinIds(strings(&["a", "b", "c"])));
    // An OR with anything else is not a lookup.
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'a' OR T.name = 'b'");
    assert_eq!(p.access, Access::TwinScan);
    // The smallest id set wins.
    let p =
        plan_of(&f, "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['a', 'b'] AND T.$dtId = 'c'");
    assert_eq!(p.access, Access::TwinIds(strings(&["c"])));
    assert_eq!(p.filters[0].len(), 1);
}

#[test]
fn is_of_model_reads_the_model_index() {
    let f = Fixture::new();
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:example:Room;1')");
    // Room;1 itself, Lab;1 (extends it) and Room;2 (a later version).
    let want = ["dtmi:example:Lab;1", "dtmi:example:Room;1", "dtmi:example:Room;2"];
    assert_eq!(p.access, Access::TwinModels(strings(&want)));
    assert!(p.filters[0].is_empty());
    let p = plan_of(
        &f,
        "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1', exact)",
    );
    assert_eq!(p.access, Access::TwinModels(strings(&["dtmi:example:Room;1"])));
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS c WHERE IS_OF_MODEL('dtmi:example:Room;2')");
    assert_eq!(p.access, Access::TwinModels(strings(&["dtmi:example:Room;2"])));
    // Unversioned: every version.
    let models = models_of(&f.store, "dtmi:example:Room", false).unwrap();
    assert_eq!(models.len(), 3);
    assert!(models_of(&f.store, "dtmi:example:Nothing;1", false).unwrap().is_empty());
    // A $dtId lookup is preferred.
    let p = plan_of(
        &f,
        "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1') AND T.$dtId = 'x'",
    );
    assert_eq!(p.access, Access::TwinIds(strings(&["x"])));
    assert!(matches!(p.filters[0][..], [Pred::IsOfModel(0, _)]));
}

#[test]
fn relationships_are_read_by_source_target_or_scan() {
    let f = Fixture::new();
    let p =
        plan_of(&f, "SELECT * FROM RELATIONSHIPS R WHERE R.$sourceId = 'a' AND R.$targetId = 'b'");
    assert_eq!(p.access, Access::RelSources(strings(&["a"])));
    assert_eq!(p.filters[0].len(), 1);
    let p = plan_of(&f, "SELECT * FROM RELATIONSHIPS WHERE $targetId IN ['b', 'c']");
    assert_eq!(p.access, Access::RelTargets(strings(&["b", "c"])));
    let p = plan_of(&f, "SELECT COUNT() FROM RELATIONSHIPS WHERE $relationshipName = 'contains'");
    assert_eq!((p.access, p.output), (Access::RelScan, Output::Count));
}

#[test]
fn joins_start_from_whichever_twin_is_pinned() {
    let f = Fixture::new();
    let p = plan_of(
        &f,
        "SELECT T, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE T.$dtId = 'ABC'",
    );
    assert_eq!((p.anchor, &p.access), (0, &Access::TwinIds(strings(&["ABC"]))));
    let step = Step {
        from: 0,
        to: 1,
        rel: None,
        dir: Dir::Out,
        names: strings(&["contains"]),
        min: 1,
        max: 1,
        per_relationship: true,
    };
    assert_eq!(p.steps, vec![step]);
    assert_eq!(
        p.output,
        Output::Columns(vec![
            ("T".into(), Ref { slot: 0, path: vec![] }),
            ("CT".into(), Ref { slot: 1, path: vec![] })
        ])
    );
    // Pinned on the target: walk the in-edges.
    let p = plan_of(
        &f,
        "SELECT B FROM DIGITALTWINS B JOIN F RELATED B.contains R WHERE F.$dtId = 'floor-2' AND R.x = 1 AND B.y = 2",
    );
    assert_eq!(p.anchor, 1);
    assert_eq!(
        (p.steps[0].from, p.steps[0].to, p.steps[0].rel, p.steps[0].dir),
        (1, 0, Some(2), Dir::In)
    );
    assert!(p.filters[0].is_empty());
    assert_eq!(p.filters[1].len(), 2, "both wait for step 1");
}

#[test]
fn match_chains_are_walked_both_ways_from_the_anchor() {
    let f = Fixture::new();
    let p = plan_of(
        &f,
        "SELECT a, c FROM DIGITALTWINS MATCH (a)-[:x]->(b)<-[r:y]-(c)-[*2..4]-() WHERE b.$dtId = 'm' AND a.k = 1 AND c.k = 2 AND r.k = 3",
    );
    assert_eq!(
        p.slots.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "", "r"]
    );
    assert_eq!(p.anchor, 1);
    let shape: Vec<_> = p
        .steps
        .iter()
        .map(|s| (s.from, s.to, s.rel, s.dir, s.min, s.max, s.per_relationship))
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, 0, None, Dir::In, 1, 1, false),
            (1, 2, Some(4), Dir::In, 1, 1, true),
            (2, 3, None, Dir::Both, 3, 4, false),
        ]
    );
    assert_eq!(p.filters.iter().map(Vec::len).collect::<Vec<_>>(), [0, 1, 2, 0]);
    assert!(p.distinct_twins);
    // No pinned twin: the first is scanned.
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS MATCH (a)-[]->(b)");
    assert_eq!((p.anchor, p.access), (0, Access::TwinScan));
    assert_eq!(p.output, Output::Collections(vec![("a".into(), 0), ("b".into(), 1)]));
    // The FROM alias may name a twin of the pattern.
    plan_of(&f, "SELECT T FROM DIGITALTWINS T MATCH (T)-[]->(x)");
}

#[test]
fn projections_are_keyed_by_name() {
    let f = Fixture::new();
    let p = plan_of(
        &f,
        "SELECT T.name, T.Capacity AS cap, T.$metadata.$model FROM DIGITALTWINS T ORDER BY T.name DESC",
    );
    let Output::Columns(cols) = p.output else { panic!() };
    let keys: Vec<&str> = cols.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["name", "cap", "$model"]);
    assert_eq!(p.order, vec![(Ref { slot: 0, path: strings(&["name"]) }, true)]);
    // Aliases match without regard to case.
    let p = plan_of(
        &f,
        "SELECT building FROM DIGITALTWINS MATCH (Building)-[]->(x) WHERE BUILDING.$dtId = 'b'",
    );
    assert_eq!(p.access, Access::TwinIds(strings(&["b"])));
    // Without an alias, paths are the twin's own.
    let p = plan_of(&f, "SELECT name FROM DIGITALTWINS WHERE IS_DEFINED(Location)");
    assert_eq!(
        p.output,
        Output::Columns(vec![("name".into(), Ref { slot: 0, path: strings(&["name"]) })])
    );
    assert_eq!(p.top, None);
}

#[test]
fn rule_violations_are_refused_with_positions() {
    let f = Fixture::new();
    let cases = [
        (
            "SELECT * FROM DIGITALTWINS T JOIN CT RELATED T.contains",
            "query error at line 1, column 35: SELECT * cannot be used with JOIN; name the collections to return, e.g. SELECT T, CT",
        ),
        (
            "SELECT R FROM RELATIONSHIPS R JOIN CT RELATED R.contains",
            "query error at line 1, column 29: FROM RELATIONSHIPS cannot be combined with JOIN; use FROM DIGITALTWINS",
        ),
        (
            "SELECT T FROM DIGITALTWINS T JOIN CT RELATED T.contains MATCH (a)",
            "query error at line 1, column 35: a query uses JOIN or MATCH, not both",
        ),
        (
            "SELECT X.name FROM DIGITALTWINS T",
            "query error at line 1, column 8: unknown collection 'X'; start the path with one of the names this query gives: T",
        ),
        (
            "SELECT T FROM DIGITALTWINS T JOIN T RELATED T.contains",
            "query error at line 1, column 35: the name 'T' is already used for 'T' in this query",
        ),
        (
            "SELECT T FROM DIGITALTWINS T JOIN CT RELATED X.contains",
            "query error at line 1, column 46: unknown collection 'X'; this query names T",
        ),
        (
            "SELECT T FROM DIGITALTWINS T JOIN CT RELATED T.contains R JOIN X RELATED R.contains",
            "query error at line 1, column 74: 'R' names relationships, not twins",
        ),
        (
            "SELECT CT FROM DIGITALTWINS JOIN CT RELATED T.contains",
            "query error at line 1, column 34: JOIN needs a name for the FROM collection: FROM DIGITALTWINS T JOIN ... RELATED T.<relationship>",
        ),
        (
            "SELECT T.name, S.name FROM DIGITALTWINS T JOIN S RELATED T.x",
            "query error at line 1, column 16: two projections are named 'name'; rename one with AS",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[r*2]->(b)",
            "query error at line 1, column 39: the relationship variable 'r' is only allowed on a single hop; drop the variable or the hop count",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[*3..3]->(b)",
            "query error at line 1, column 37: this relationship condition matches no number of hops (*3..3); the start of a range is excluded, so *1..3 means 2 or 3 hops",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[*0]->(b)",
            "query error at line 1, column 37: this relationship condition matches no number of hops (*0); the start of a range is excluded, so *1..3 means 2 or 3 hops",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[]->(a)",
            "query error at line 1, column 43: the twin 'a' appears twice in the MATCH pattern; give each twin its own name and compare them in WHERE",
        ),
        (
            "SELECT * FROM DIGITALTWINS T MATCH (a)-[]->(b)",
            "query error at line 1, column 28: with MATCH the twins are named in the pattern; 'T' is not one of them (write FROM DIGITALTWINS MATCH ...)",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[]->(b) WHERE IS_OF_MODEL('dtmi:x;1')",
            "query error at line 1, column 52: name the twins IS_OF_MODEL tests, e.g. IS_OF_MODEL(X, 'dtmi:x;1'); this query names a, b",
        ),
        (
            "SELECT * FROM RELATIONSHIPS WHERE IS_OF_MODEL('dtmi:x;1')",
            "query error at line 1, column 35: IS_OF_MODEL applies to twins, not relationships",
        ),
        (
            "SELECT * FROM DIGITALTWINS MATCH (a)-[r]->(b) WHERE IS_OF_MODEL(r, 'dtmi:x;1')",
            "query error at line 1, column 65: 'r' names relationships, not twins",
        ),
        (
            "SELECT TOP(3) COUNT() FROM DIGITALTWINS",
            "query error: TOP and COUNT() cannot be combined",
        ),
    ];
    for (text, want) in cases {
        let e = error_of(&f, text);
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::InvalidArgument, want), "{text}");
    }
}

#[test]
fn join_and_hop_limits() {
    let f = Fixture::new();
    let mut text = "SELECT T FROM DIGITALTWINS T".to_string();
    for i in 0..6 {
        let source = if i == 0 { "T".to_string() } else { format!("J{}", i - 1) };
        text.push_str(&format!(" JOIN J{i} RELATED {source}.contains"));
    }
    let e = error_of(&f, &text);
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert_eq!(e.message, "the query has 6 JOINs; the limit is 5 (MATCH can follow longer paths)");
    let five = text.rsplit_once(" JOIN").unwrap().0;
    plan_of(&f, five);

    plan_of(&f, "SELECT * FROM DIGITALTWINS MATCH (a)-[*..5]->(b)-[*5]->(c)");
    let e = error_of(&f, "SELECT * FROM DIGITALTWINS MATCH (a)-[*..5]->(b)-[*5]->(c)-[]->(d)");
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert_eq!(e.message, "the MATCH pattern has up to 11 hops or more; the limit is 10");
}

#[test]
fn documents_are_parsed_only_as_far_as_they_are_read() {
    let f = Fixture::new();
    let p = plan_of(
        &f,
        "SELECT T, T.name, C.a.b FROM DIGITALTWINS T JOIN C RELATED T.contains R \
         WHERE T.$dtId = 'x' AND IS_OF_MODEL(C, 'dtmi:example:Room;1') AND R.k.j = 1 ORDER BY C.level",
    );
    let fields = |v: &[&str]| Some(strings(v));
    assert_eq!(
        p.fields,
        vec![fields(&["name"]), fields(&["$metadata", "a", "level"]), fields(&["k"])]
    );
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS T WHERE IS_OBJECT(T) OR T.x = 1");
    assert_eq!(p.fields, vec![None]);
    let p = plan_of(&f, "SELECT * FROM DIGITALTWINS T");
    assert_eq!(p.fields, vec![fields(&[])]);
}
