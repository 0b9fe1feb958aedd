//! Query latency on a graph of 100,000 twins, through the query engine (parse, plan, execute and
//! the first page, as the `Query` RPC runs them, without the gRPC hop).
//!
//! The graph, built with `Store::apply` on a sled store on disk (a 64 MiB page cache, a node's
//! default):
//! - twins `t000000`..`t099999`; every tenth is a `dtmi:bench:Sensor;1`, the rest
//!   `dtmi:bench:Device;1`; each has `temperature` (i mod 1000 / 10, so 0.0..99.9), `kind`
//!   (`k0`..`k6`) and `level` (i mod 100);
//! - `t000000` contains `t000001`..`t001000` (1,000 relationships);
//! - `t002000` is the root of a tree of `contains`: 10 children, 100 grandchildren, 1,000
//!   great-grandchildren (`t002111`..`t003110`).
//!
//! Criterion measures the mean; a second pass prints p50 / p99 / max over repeated runs (the
//! targets are about p99). Run: `cargo bench --bench query`.

use criterion::{Criterion, criterion_group};
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use twinstore::model::time::Timestamp;
use twinstore::query::{Engine, Request};
use twinstore::storage::{Command, Op, Precondition, Store};

const TWINS: usize = 100_000;

const MODELS: &str = r#"[
  {"@id": "dtmi:bench:Device;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                {"@type": "Property", "name": "kind", "schema": "string"},
                {"@type": "Property", "name": "level", "schema": "integer"},
                {"@type": "Relationship", "name": "contains"}]},
  {"@id": "dtmi:bench:Sensor;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "extends": "dtmi:bench:Device;1"}
]"#;

/// The queries, by bench name.
const QUERIES: [(&str, &str); 7] = [
    ("dtid_lookup", "SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 't054321'"),
    (
        "dtid_in_10",
        "SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['t000010', 't010010', 't020010', 't030010', 't040010', 't050010', 't060010', 't070010', 't080010', 't090010']",
    ),
    (
        "model_filter_10k",
        "SELECT COUNT() FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:bench:Sensor;1') AND T.temperature > 50",
    ),
    (
        "join_1hop_1000_edges",
        "SELECT T, C FROM DIGITALTWINS T JOIN C RELATED T.contains WHERE T.$dtId = 't000000'",
    ),
    (
        "match_3hop_1000_leaves",
        "SELECT d FROM DIGITALTWINS MATCH (a)-[:contains*3]->(d) WHERE a.$dtId = 't002000'",
    ),
    (
        "match_3_chained_hops",
        "SELECT d.$dtId FROM DIGITALTWINS MATCH (a)-[:contains]->(b)-[:contains]->(c)-[:contains]->(d) WHERE a.$dtId = 't002000'",
    ),
    (
        "full_scan_filter_100k",
        "SELECT COUNT() FROM DIGITALTWINS T WHERE T.temperature > 99.5 AND T.kind = 'k3'",
    ),
];

struct Graph {
    store: Store,
    _dir: tempfile::TempDir,
}

fn build() -> Graph {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 64 << 20).unwrap();
    let mut index = 0u64;
    let mut apply = |op: Op| {
        index += 1;
        let cmd = Command { request: None, time: Timestamp(index), epoch: 1, origin: None, op };
        store.apply(index, &cmd).unwrap().unwrap();
    };
    apply(Op::AddModels { json: MODELS.into() });
    for i in 0..TWINS {
        let model = if i % 10 == 0 { "dtmi:bench:Sensor;1" } else { "dtmi:bench:Device;1" };
        let doc = json!({"$metadata": {"$model": model}, "temperature": (i % 1000) as f64 / 10.0,
                         "kind": format!("k{}", i % 7), "level": i % 100});
        apply(Op::PutTwin { id: id(i), json: doc.to_string(), pre: Precondition::default() });
    }
    let mut contains = |source: usize, target: usize| {
        let json = json!({"$targetId": id(target), "$relationshipName": "contains"}).to_string();
        let op = Op::PutRelationship {
            source: id(source),
            id: format!("c-{}", id(target)),
            json,
            pre: Precondition::default(),
        };
        apply(op);
    };
    for t in 1..=1000 {
        contains(0, t);
    }
    // The tree under t002000: level k has 10^k nodes, numbered on after the previous level.
    let (mut level, mut next) = (vec![2000usize], 2001usize);
    for _ in 0..3 {
        let mut children = Vec::new();
        for &parent in &level {
            for _ in 0..10 {
                contains(parent, next);
                children.push(next);
                next += 1;
            }
        }
        level = children;
    }
    store.flush().unwrap();
    eprintln!(
        "built {TWINS} twins and 2,110 relationships in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Graph { store, _dir: dir }
}

fn id(i: usize) -> String {
    format!("t{i:06}")
}

fn run(engine: &Engine, store: &Store, query: &str) -> usize {
    let page = engine.query(store, &Request::new(query), &AtomicBool::new(false)).unwrap();
    page.rows.len()
}

fn benches(c: &mut Criterion, g: &Graph) {
    let engine = Engine::new();
    // The expected sizes, worked out from the graph: one twin; ten; one COUNT row; 1,000 pairs;
    // 1,000 leaves, twice; one COUNT row.
    let sizes = [1, 10, 1, 1000, 1000, 1000, 1];
    for ((name, q), size) in QUERIES.iter().zip(sizes) {
        assert_eq!(run(&engine, &g.store, q), size, "{name}");
    }
    let mut group = c.benchmark_group("query");
    group.sample_size(30).measurement_time(Duration::from_secs(4));
    for (name, q) in QUERIES {
        group.bench_function(name, |b| b.iter(|| run(&engine, &g.store, q)));
    }
    group.finish();
}

/// The name filter given on the command line (`cargo bench --bench query -- join`), if any:
/// the first argument that is neither an option nor a number.
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
}

fn percentiles(g: &Graph) {
    let engine = Engine::new();
    let only = filter();
    println!(
        "\n{:<26} {:>6} {:>10} {:>10} {:>10}",
        "query (100k twins)", "runs", "p50 ms", "p99 ms", "max ms"
    );
    for (name, q) in QUERIES {
        if only.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let runs =
            if name.starts_with("full_scan") || name.starts_with("model") { 40 } else { 300 };
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for _ in 0..runs {
            let t = Instant::now();
            run(&engine, &g.store, q);
            h.record(t.elapsed().as_micros() as u64).unwrap();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "{name:<26} {runs:>6} {:>10.3} {:>10.3} {:>10.3}",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max())
        );
    }
}

fn query_benches(c: &mut Criterion) {
    let g = build();
    benches(c, &g);
    percentiles(&g);
}

criterion_group!(query, query_benches);

fn main() {
    query();
    Criterion::default().configure_from_args().final_summary();
}
