//! Fuzzing the query language: lexer, parser, planner, executor and the paging engine, over the
//! fixture graph (`fixture.rs`). The runner is `crate::fuzz`'s.
//!
//! What is generated, and why:
//! - **Random text**, from all of Unicode and from the characters queries are made of, because a
//!   query is a string from the network: the lexer must survive anything.
//! - **Random token sequences** from the language's vocabulary (keywords, functions, names of the
//!   fixture's properties and relationships, `$` fields, literals at the edges, every operator and
//!   MATCH's arrows), so the parser sees well-formed tokens in every wrong order.
//! - **Generated queries** from the grammar (`SELECT [TOP] * | COUNT() | projections`, `FROM`
//!   twins with up to 7 JOINs, or relationships, or a MATCH of up to three hop elements; a random
//!   condition tree over the fixture's properties and literals; `ORDER BY`), with consistent
//!   names: nine in ten parse and three in four run to a result, so the planner's choices and the
//!   executor's walks are exercised with shapes no test wrote.
//! - **Mutations** of those and of valid queries (the queries of the executor's and planner's
//!   tests): a word replaced by another of its kind (a literal, an operator, AND/OR…) or by any
//!   word, inserted, duplicated, deleted or swapped, a span of characters cut. A quarter still
//!   parse; the rest reach the parser's and the planner's refusals from nearly valid input.
//!
//! The properties: nothing panics; a refusal is a user error (`InvalidArgument`,
//! `LimitExceeded`, `BadRequest`, never `Internal`); a query that parses runs over the fixture
//! within its limits — at most `TOP` rows, `bytes` the rows' total size, every row JSON, `COUNT()`
//! one row — gives the same rows when run again (the executor is deterministic), and gives the
//! same rows again when served page by page by the engine with a small page size.
//!
//! Each target also checks how far its cases got (parsed, ran): a generator that stopped
//! reaching the executor would otherwise keep passing without testing it.
//!
//! Cases per CI run: random text 2,000, token sequences 2,000, generated queries 2,000, mutated
//! queries 2,000.

use super::ast::{Query, Select};
use super::engine::{Engine, Request, run};
use super::fixture::Fixture;
use super::parser::parse;
use crate::error::ErrorCode;
use crate::fuzz::{Reach, check};
use proptest::prelude::*;
use std::fmt::Debug;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Queries the tests of `exec` and `planner` run, valid or nearly so.
const SEEDS: &[&str] = &[
    "SELECT * FROM DIGITALTWINS",
    "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['room-101', 'sensor-202', 'nope']",
    "SELECT T, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE T.$dtId = 'floor-1'",
    "SELECT Floor, Room FROM DIGITALTWINS MATCH (Floor)-[:contains*..2]->(Room) WHERE Floor.$dtId = 'floor-1'",
    "SELECT * FROM DIGITALTWINS MATCH (a)-[*..5]->(b)-[*5]->(c)",
    "SELECT * FROM DIGITALTWINS MATCH (a)-[r]->(b) WHERE IS_OF_MODEL(r, 'dtmi:x;1')",
    "SELECT * FROM DIGITALTWINS MATCH (f)-[c:contains]->(r) WHERE f.$dtId = 'floor-1'",
    "SELECT * FROM DIGITALTWINS MATCH (a)<-[:contains]-(b)-[:hasSensor|contains*1..3]-(c)",
    "SELECT * FROM DIGITALTWINS T WHERE ARRAY_CONTAINS(T.tags, 'bio')",
    "SELECT * FROM DIGITALTWINS T WHERE CONTAINS(T.serialNumber, '-2')",
    "SELECT * FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1', exact)",
    "SELECT * FROM DIGITALTWINS T WHERE T.Capacity IN [2, 4, 'x'] OR (IS_NUMBER(T.level) AND T.level NIN [1])",
    "SELECT * FROM DIGITALTWINS T WHERE T.temperature >= 20 AND T.temperature < 22.5",
    "SELECT * FROM DIGITALTWINS T WHERE T.thermostat.mode = 'cool'",
    "SELECT * FROM DIGITALTWINS WHERE $dtId IN ['a', 'b', 'a', 3] AND Capacity > 2",
    "SELECT * FROM DIGITALTWINS WHERE IS_OBJECT(readings) AND readings.[[1st]] = 1.5",
    "SELECT * FROM DIGITALTWINS WHERE [[Group]] = 'BravoTeam'",
    "SELECT * FROM RELATIONSHIPS R WHERE R.$sourceId = 'floor-1' AND R.$targetId = 'room-101'",
    "SELECT * FROM RELATIONSHIPS WHERE $targetId IN ['room-101', 'lab-1']",
    "SELECT B.$dtId AS b FROM DIGITALTWINS B JOIN F RELATED B.contains WHERE F.$dtId = 'floor-2'",
    "SELECT B FROM DIGITALTWINS B JOIN F RELATED B.contains R JOIN G RELATED F.contains WHERE R.x = 1",
    "SELECT COUNT() FROM DIGITALTWINS F JOIN R RELATED F.contains WHERE F.$dtId = 'floor-2'",
    "SELECT COUNT() FROM DIGITALTWINS T WHERE NOT IS_OF_MODEL(T, 'dtmi:example:Room;1')",
    "SELECT COUNT() FROM DIGITALTWINS T WHERE T.$metadata.$model = 'dtmi:example:Sensor;1'",
    "SELECT COUNT() FROM RELATIONSHIPS r WHERE r.$relationshipName = 'contains'",
    "SELECT TOP(3) T.name, T.Capacity AS c FROM DIGITALTWINS T WHERE IS_DEFINED(T.Capacity) ORDER BY T.Capacity DESC",
    "SELECT * FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'room') AND NOT IS_NULL(T.name) ORDER BY T.name ASC, T.$dtId",
    "SELECT T.$metadata.temperature.lastUpdateTime FROM DIGITALTWINS T WHERE IS_PRIMITIVE(T.temperature)",
];

/// The language's words and marks.
const VOCABULARY: &[&str] = &[
    "SELECT",
    "TOP",
    "(",
    ")",
    "COUNT",
    "*",
    "FROM",
    "DIGITALTWINS",
    "RELATIONSHIPS",
    "JOIN",
    "RELATED",
    "MATCH",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "NIN",
    "AS",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "IS_OF_MODEL",
    "IS_DEFINED",
    "IS_NULL",
    "IS_NUMBER",
    "STARTSWITH",
    "ARRAY_CONTAINS",
    "exact",
    "true",
    "null",
    "T",
    "R",
    "a",
    "b",
    "$dtId",
    "$metadata",
    "$model",
    "$sourceId",
    "$relationshipName",
    "name",
    "Capacity",
    "contains",
    "hasSensor",
    "[[Group]]",
    "[[",
    "]]",
    "'room-101'",
    "'dtmi:example:Room;1'",
    "'",
    "\"",
    "0",
    "1",
    "2.5",
    "-1",
    "1e308",
    "1e999",
    "99999999999999999999",
    "[",
    "]",
    ",",
    ".",
    "..",
    ":",
    "|",
    "-",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "-[",
    "]->",
    "<-[",
    "]-",
    "*0",
    "*1..3",
    "*..10",
    "*11",
];

fn word() -> BoxedStrategy<String> {
    proptest::sample::select(VOCABULARY).prop_map(str::to_string).boxed()
}

/// One edit of a query.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, String),
    Insert(usize, String),
    Duplicate(usize),
    Delete(usize),
    Swap(usize, usize),
    Cut(usize, usize),
    /// A word replaced by another of its kind (a literal by a literal, `<` by `>=`, AND by OR…),
    /// which mostly keeps the query valid and changes what it asks.
    Similar(usize, usize),
}

/// Words that can stand in for each other.
const KINDS: &[&[&str]] = &[
    LITERALS,
    &["=", "!=", "<", "<=", ">", ">="],
    &["AND", "OR", "AND NOT"],
    &["IN", "NIN", "NOT IN"],
    &["ASC", "DESC"],
    &["DIGITALTWINS", "RELATIONSHIPS"],
    &["*", "COUNT()", "T", "T.name", "TOP(2) *"],
];

fn edit() -> BoxedStrategy<Edit> {
    let at = any::<usize>();
    prop_oneof![
        3 => (at, word()).prop_map(|(i, w)| Edit::Replace(i, w)),
        3 => (at, word()).prop_map(|(i, w)| Edit::Insert(i, w)),
        1 => at.prop_map(Edit::Duplicate),
        2 => at.prop_map(Edit::Delete),
        1 => (at, any::<usize>()).prop_map(|(i, j)| Edit::Swap(i, j)),
        1 => (at, 1..12usize).prop_map(|(i, n)| Edit::Cut(i, n)),
        6 => (at, any::<usize>()).prop_map(|(i, j)| Edit::Similar(i, j)),
    ]
    .boxed()
}

/// Applies edits to a query's words (split on spaces) or, for [`Edit::Cut`], its characters.
fn mutate(query: &str, edits: &[Edit]) -> String {
    let mut words: Vec<String> = query.split(' ').map(str::to_string).collect();
    for e in edits {
        let n = words.len().max(1);
        match e {
            Edit::Replace(i, w) if !words.is_empty() => words[i % n] = w.clone(),
            Edit::Insert(i, w) => words.insert(i % (words.len() + 1), w.clone()),
            Edit::Duplicate(i) if !words.is_empty() => words.insert(i % n, words[i % n].clone()),
            Edit::Delete(i) if !words.is_empty() => {
                words.remove(i % n);
            }
            Edit::Swap(i, j) if !words.is_empty() => words.swap(i % n, j % n),
            Edit::Similar(i, j) => {
                // The i-th word that has a kind, counting round.
                let kinded: Vec<usize> = (0..words.len())
                    .filter(|&w| KINDS.iter().any(|k| k.contains(&words[w].as_str())))
                    .collect();
                if let Some(&w) = kinded.get(i % kinded.len().max(1)) {
                    let kind = KINDS.iter().find(|k| k.contains(&words[w].as_str())).unwrap();
                    words[w] = kind[j % kind.len()].to_string();
                }
            }
            Edit::Cut(i, len) => {
                let chars: Vec<char> = words.join(" ").chars().collect();
                let start = i % (chars.len() + 1);
                let end = (start + len).min(chars.len());
                let cut: String = chars[..start].iter().chain(&chars[end..]).collect();
                words = cut.split(' ').map(str::to_string).collect();
            }
            _ => {}
        }
    }
    words.join(" ")
}

/// A condition of a generated query; `usize`s pick one of the query's collection names.
#[derive(Clone, Debug)]
enum Cond {
    Cmp(usize, &'static str, &'static str, &'static str),
    Func(&'static str, usize, &'static str),
    In(usize, &'static str, bool, Vec<&'static str>),
    Model(usize, &'static str, bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

const PROPS: &[&str] = &[
    "$dtId",
    "name",
    "Capacity",
    "temperature",
    "thermostat.mode",
    "thermostat",
    "$metadata.$model",
    "$metadata.temperature.lastUpdateTime",
    "tags",
    "readings.co2",
    "readings.[[1st]]",
    "[[Group]]",
    "level",
    "serialNumber",
    "$sourceId",
    "$targetId",
    "$relationshipName",
    "installedBy",
    "nope",
];
const LITERALS: &[&str] = &[
    "'room-101'",
    "'floor-1'",
    "'lab-1'",
    "'nope'",
    "''",
    "'heat'",
    "'contains'",
    "'dtmi:example:Room;1'",
    "0",
    "-1",
    "2",
    "12",
    "22.5",
    "1e308",
    "99999999999999999999",
    "true",
    "null",
];
const MODELS: &[&str] = &[
    "'dtmi:example:Room;1'",
    "'dtmi:example:Room;2'",
    "'dtmi:example:Lab;1'",
    "'dtmi:example:Floor;1'",
    "'dtmi:x;1'",
    "'not a dtmi'",
];
const FUNCS: &[&str] = &[
    "IS_DEFINED",
    "IS_NULL",
    "IS_BOOL",
    "IS_NUMBER",
    "IS_STRING",
    "IS_OBJECT",
    "IS_PRIMITIVE",
    "STARTSWITH",
    "ENDSWITH",
    "CONTAINS",
    "ARRAY_CONTAINS",
];
const RELS: &[&str] = &["contains", "hasSensor", "nope", "contains|hasSensor"];
const HOPS: &[&str] = &["", "*1", "*2", "*3", "*..2", "*1..3"];
/// Hops the planner refuses (no number of hops, or over the limit), now and then.
const BAD_HOPS: &[&str] = &["*0", "*2..2", "*11", "*..11"];

fn pick<T: Clone + Debug + 'static>(items: &'static [T]) -> proptest::sample::Select<T> {
    proptest::sample::select(items)
}

fn cond() -> BoxedStrategy<Cond> {
    let ops = pick(&["=", "!=", "<", "<=", ">", ">="]);
    let leaf = prop_oneof![
        4 => (any::<usize>(), pick(PROPS), ops, pick(LITERALS))
            .prop_map(|(a, p, o, l)| Cond::Cmp(a, p, o, l)),
        2 => (pick(FUNCS), any::<usize>(), pick(PROPS)).prop_map(|(f, a, p)| Cond::Func(f, a, p)),
        1 => (any::<usize>(), pick(PROPS), any::<bool>(), proptest::collection::vec(pick(LITERALS), 0..4))
            .prop_map(|(a, p, nin, l)| Cond::In(a, p, nin, l)),
        2 => (any::<usize>(), pick(MODELS), any::<bool>()).prop_map(|(a, m, e)| Cond::Model(a, m, e)),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
    .boxed()
}

/// `alias.prop`, or the bare property when the query has no collection names.
fn path(names: &[String], a: usize, prop: &str) -> String {
    match names.is_empty() {
        true => prop.to_string(),
        false => format!("{}.{prop}", names[a % names.len()]),
    }
}

fn render(c: &Cond, names: &[String]) -> String {
    match c {
        Cond::Cmp(a, p, op, l) => format!("{} {op} {l}", path(names, *a, p)),
        Cond::Func(f, a, p) if f.ends_with("WITH") || f.contains("CONTAINS") => {
            format!("{f}({}, 'r')", path(names, *a, p))
        }
        Cond::Func(f, a, p) => format!("{f}({})", path(names, *a, p)),
        Cond::In(a, p, nin, l) => {
            format!("{} {} [{}]", path(names, *a, p), if *nin { "NIN" } else { "IN" }, l.join(", "))
        }
        Cond::Model(a, m, exact) => {
            let name = if names.is_empty() {
                String::new()
            } else {
                format!("{}, ", names[a % names.len()])
            };
            format!("IS_OF_MODEL({name}{m}{})", if *exact { ", exact" } else { "" })
        }
        Cond::Not(c) => format!("NOT ({})", render(c, names)),
        Cond::And(a, b) => format!("({}) AND ({})", render(a, names), render(b, names)),
        Cond::Or(a, b) => format!("{} OR {}", render(a, names), render(b, names)),
    }
}

/// The FROM part of a generated query: which collection names it makes.
#[derive(Clone, Debug)]
enum Source {
    Twins { alias: bool, joins: Vec<(&'static str, bool)> },
    Relationships { alias: bool },
    Match(Vec<(u8, &'static str, &'static str, bool)>),
}

fn source() -> BoxedStrategy<Source> {
    let join = (pick(RELS), any::<bool>());
    let hops = prop_oneof![9 => pick(HOPS), 1 => pick(BAD_HOPS)];
    let hop = (0u8..3, pick(RELS), hops, any::<bool>());
    let joins = prop_oneof![
        9 => proptest::collection::vec(join.clone(), 0..6),
        1 => proptest::collection::vec(join, 6..8),
    ];
    prop_oneof![
        3 => (any::<bool>(), joins)
            .prop_map(|(alias, joins)| Source::Twins { alias, joins }),
        1 => any::<bool>().prop_map(|alias| Source::Relationships { alias }),
        3 => proptest::collection::vec(hop, 1..4).prop_map(Source::Match),
    ]
    .boxed()
}

/// Renders the FROM part and returns the collection names it makes.
fn render_source(s: &Source) -> (String, Vec<String>) {
    match s {
        Source::Twins { alias, joins } => {
            if !alias && joins.is_empty() {
                return ("FROM DIGITALTWINS".into(), vec![]);
            }
            let mut names = vec!["T".to_string()];
            let mut text = "FROM DIGITALTWINS T".to_string();
            for (i, (rel, var)) in joins.iter().enumerate() {
                let rel = rel.split('|').next().unwrap_or(rel);
                let twin = names.iter().rev().find(|n| !n.starts_with('R')).cloned();
                text += &format!(" JOIN J{i} RELATED {}.{rel}", twin.unwrap_or_default());
                names.push(format!("J{i}"));
                if *var {
                    text += &format!(" R{i}");
                    names.push(format!("R{i}"));
                }
            }
            (text, names)
        }
        Source::Relationships { alias: true } => ("FROM RELATIONSHIPS R".into(), vec!["R".into()]),
        Source::Relationships { alias: false } => ("FROM RELATIONSHIPS".into(), vec![]),
        Source::Match(hops) => {
            let mut names = vec!["n0".to_string()];
            let mut text = "FROM DIGITALTWINS MATCH (n0)".to_string();
            for (i, (dir, rel, hop, var)) in hops.iter().enumerate() {
                let var = if *var && hop.is_empty() { format!("r{i}") } else { String::new() };
                let inner = format!("[{var}:{rel}{hop}]");
                text += &match dir {
                    0 => format!("-{inner}->"),
                    1 => format!("<-{inner}-"),
                    _ => format!("-{inner}-"),
                };
                text += &format!("(n{})", i + 1);
                names.push(format!("n{}", i + 1));
                if !var.is_empty() {
                    names.push(var);
                }
            }
            (text, names)
        }
    }
}

/// A query from the language's grammar: every part optional or chosen, names consistent.
fn generated() -> BoxedStrategy<String> {
    let top = proptest::option::of(pick(&["0", "1", "3", "1000", "99999999999"]));
    let select =
        (0u8..3, proptest::collection::vec((any::<usize>(), pick(PROPS), any::<bool>()), 1..4));
    let order = proptest::collection::vec(
        (any::<usize>(), pick(PROPS), pick(&["", " ASC", " DESC"])),
        0..3,
    );
    (top, select, source(), proptest::option::weighted(0.8, cond()), order)
        .prop_map(|(top, (kind, proj), source, cond, order)| {
            let (from, names) = render_source(&source);
            // SELECT * cannot be used with JOIN, nor TOP with COUNT(); two projections cannot
            // share a name. (The mutation target reaches those refusals.)
            let joined = matches!(&source, Source::Twins { joins, .. } if !joins.is_empty());
            let kind = if kind == 0 && joined { 2 } else { kind };
            let top = top.filter(|_| kind != 1);
            let what = match kind {
                0 => "*".to_string(),
                1 => "COUNT()".to_string(),
                _ => {
                    let mut seen = std::collections::BTreeSet::new();
                    let mut cols = Vec::new();
                    for (i, (a, p, named)) in proj.iter().enumerate() {
                        let (col, key) = match (names.is_empty(), i % 2 == 0, named) {
                            (true, _, _) => (p.to_string(), p.to_string()),
                            (false, true, _) => {
                                let n = names[a % names.len()].clone();
                                (n.clone(), n)
                            }
                            (false, false, true) => {
                                (format!("{} AS c{i}", path(&names, *a, p)), format!("c{i}"))
                            }
                            (false, false, false) => {
                                let last = p.rsplit('.').next().unwrap_or(p).to_string();
                                (path(&names, *a, p), last)
                            }
                        };
                        if seen.insert(key) {
                            cols.push(col);
                        }
                    }
                    cols.join(", ")
                }
            };
            let mut q = format!(
                "SELECT {}{what} {from}",
                top.map(|n| format!("TOP({n}) ")).unwrap_or_default()
            );
            if let Some(c) = cond {
                q += &format!(" WHERE {}", render(&c, &names));
            }
            if !order.is_empty() {
                let keys: Vec<String> =
                    order.iter().map(|(a, p, d)| format!("{}{d}", path(&names, *a, p))).collect();
                q += &format!(" ORDER BY {}", keys.join(", "));
            }
            q
        })
        .boxed()
}

const ERRORS: &[ErrorCode] =
    &[ErrorCode::InvalidArgument, ErrorCode::LimitExceeded, ErrorCode::BadRequest];

/// Every property, for one query text.
fn check_query(
    f: &Fixture,
    engine: &Engine,
    reach: &Reach,
    text: &str,
    page: usize,
) -> Result<(), TestCaseError> {
    let ast = match parse(text) {
        Ok(ast) => ast,
        Err(e) => {
            prop_assert!(ERRORS.contains(&e.code), "parse: {:?}: {}", e.code, e.message);
            return Ok(());
        }
    };
    reach.hit(0);
    let cancel = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = match run(&f.store, text, deadline, &cancel) {
        Ok(out) => out,
        Err(e) => {
            prop_assert!(ERRORS.contains(&e.code), "run: {:?}: {}", e.code, e.message);
            return Ok(());
        }
    };
    reach.hit(1);
    check_rows(&ast, &out.rows)?;
    prop_assert_eq!(out.bytes, out.rows.iter().map(String::len).sum::<usize>());
    let again = run(&f.store, text, deadline, &cancel);
    prop_assert_eq!(again.ok().map(|o| o.rows), Some(out.rows.clone()), "not deterministic");

    // Page by page through the engine: the same rows, in the same order.
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..=out.rows.len() {
        let req = Request {
            query: text,
            page_size: page,
            token: token.as_deref(),
            timeout: Duration::from_secs(20),
        };
        let p = engine.query(&f.store, &req, &cancel);
        prop_assert!(p.is_ok(), "page {}: {:?}", paged.len() / page, p.err());
        let p = p.unwrap();
        prop_assert!(p.rows.len() <= page);
        paged.extend(p.rows);
        token = p.token;
        if token.is_none() {
            break;
        }
    }
    prop_assert!(token.is_none(), "more pages than rows");
    prop_assert_eq!(paged, out.rows);
    Ok(())
}

fn check_rows(ast: &Query, rows: &[String]) -> Result<(), TestCaseError> {
    if let Some(top) = ast.top {
        prop_assert!(rows.len() as u64 <= top, "{} rows for TOP({top})", rows.len());
    }
    for r in rows {
        let v: Result<serde_json::Value, _> = serde_json::from_str(r);
        prop_assert!(v.is_ok(), "a row that is not JSON: {}", r);
    }
    if ast.select == Select::Count {
        prop_assert_eq!(rows.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&rows[0]).unwrap();
        prop_assert!(v["COUNT"].is_u64(), "{}", v);
    }
    Ok(())
}

#[test]
fn fuzz_random_text() {
    let f = Fixture::new();
    let engine = Engine::new();
    let reach = Reach::new(&["parsed", "ran"]);
    let text = prop_oneof![
        ".{0,80}",
        "[A-Za-z0-9_$.,()\\[\\]*:|<>=!'\" \\-]{0,80}",
        "(SELECT|select|FROM|WHERE| |\\*|T|\\.|\\$dtId|=|'x'|\\[|\\]|\\(|\\)){0,30}",
    ];
    check("query random text", 2000, text, |text| check_query(&f, &engine, &reach, &text, 3));
    reach.at_least(2000, &[0, 0]); // the lexer and the parser's errors: hardly anything parses
}

#[test]
fn fuzz_token_sequences() {
    let f = Fixture::new();
    let engine = Engine::new();
    let reach = Reach::new(&["parsed", "ran"]);
    let tokens = proptest::collection::vec(word(), 0..30);
    check("query token sequences", 2000, (tokens, any::<bool>()), |(tokens, glued)| {
        let text = tokens.join(if glued { "" } else { " " });
        check_query(&f, &engine, &reach, &format!("SELECT {text}"), 2)
    });
    reach.at_least(2000, &[0, 0]); // the parser's errors: hardly anything parses
}

#[test]
fn fuzz_mutated_queries() {
    let f = Fixture::new();
    let engine = Engine::new();
    let reach = Reach::new(&["parsed", "ran"]);
    let seed = prop_oneof![pick(SEEDS).prop_map(str::to_string), generated()];
    let strategy = (seed, proptest::collection::vec(edit(), 1..3), 1..6usize);
    check("mutated queries", 2000, strategy, |(seed, edits, page)| {
        check_query(&f, &engine, &reach, &mutate(&seed, &edits), page)
    });
    reach.at_least(2000, &[150, 100]); // measured: 251 and 170
}

#[test]
fn fuzz_generated_queries() {
    let f = Fixture::new();
    let engine = Engine::new();
    let reach = Reach::new(&["parsed", "ran"]);
    check("generated queries", 2000, (generated(), 1..6usize), |(text, page)| {
        check_query(&f, &engine, &reach, &text, page)
    });
    reach.at_least(2000, &[850, 600]); // measured: 933 and 734
}

#[test]
fn the_seeds_run() {
    let f = Fixture::new();
    let cancel = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ran = 0;
    for q in SEEDS {
        if run(&f.store, q, deadline, &cancel).is_ok() {
            ran += 1;
        }
    }
    // Most seeds are valid queries, so mutations start close to something the executor runs.
    assert!(ran >= SEEDS.len() - 3, "only {ran} of {} seeds run", SEEDS.len());
}

#[test]
fn mutations_edit_words_and_characters() {
    let q = "SELECT * FROM X";
    assert_eq!(mutate(q, &[Edit::Replace(1, "COUNT()".into())]), "SELECT COUNT() FROM X");
    assert_eq!(mutate(q, &[Edit::Delete(3)]), "SELECT * FROM");
    assert_eq!(mutate(q, &[Edit::Swap(0, 2)]), "FROM * SELECT X");
    assert_eq!(mutate(q, &[Edit::Cut(6, 2)]), "SELECT FROM X");
    assert_eq!(mutate(q, &[Edit::Insert(4, "T".into())]), "SELECT * FROM X T");
    let q = "SELECT * FROM DIGITALTWINS T WHERE T.x = 1";
    assert_eq!(mutate(q, &[Edit::Similar(3, 1)]), "SELECT * FROM DIGITALTWINS T WHERE T.x != 1");
}
