//! Apply throughput of the state machine on one node: create-twin and patch-twin commands applied
//! to a sled store on disk, without and with a flush per group of 64 commands (what the write path
//! does under load: one flush covers every command applied before it).
//!
//! Run: `cargo bench --bench apply`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use twinstore::model::time::Timestamp;
use twinstore::storage::{Command, Op, Precondition, Store};

const MODEL: &str = r#"[{"@id": "dtmi:bench:Device;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "payload", "schema": "string"},
               {"@type": "Property", "name": "temperature", "schema": "double"}]}]"#;

struct Bench {
    store: Store,
    _dir: tempfile::TempDir,
    index: u64,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 64 << 20).unwrap();
        let mut b = Bench { store, _dir: dir, index: 0 };
        b.apply(Op::AddModels { json: MODEL.into() });
        b
    }

    fn apply(&mut self, op: Op) {
        self.index += 1;
        let cmd =
            Command { request: None, time: Timestamp(self.index), epoch: 1, origin: None, op };
        self.store.apply(self.index, &cmd).unwrap().unwrap();
    }
}

fn twin(i: u64) -> Op {
    // About 1 KiB of document.
    let doc = json!({"$metadata": {"$model": "dtmi:bench:Device;1"}, "payload": "x".repeat(1000), "temperature": i as f64});
    Op::PutTwin { id: format!("device-{i}"), json: doc.to_string(), pre: Precondition::default() }
}

fn patch(i: u64) -> Op {
    let p = json!([{"op": "replace", "path": "/temperature", "value": i as f64}]);
    Op::PatchTwin {
        id: format!("device-{}", i % 1000),
        component: None,
        patch: p.to_string(),
        pre: Precondition::default(),
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("apply");
    g.throughput(Throughput::Elements(64));
    g.sample_size(20);
    for (name, flush) in [("create_twin_1k", false), ("create_twin_1k_flush_per_64", true)] {
        let mut b = Bench::new();
        let mut next = 0u64;
        g.bench_function(name, |bench| {
            bench.iter_batched(
                || {
                    next += 64;
                    (next - 64..next).map(twin).collect::<Vec<_>>()
                },
                |ops| {
                    for op in ops {
                        b.apply(op);
                    }
                    if flush {
                        b.store.flush().unwrap();
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    for (name, flush) in [("patch_twin", false), ("patch_twin_flush_per_64", true)] {
        let mut b = Bench::new();
        for i in 0..1000 {
            b.apply(twin(i));
        }
        let mut next = 0u64;
        g.bench_function(name, |bench| {
            bench.iter_batched(
                || {
                    next += 64;
                    (next - 64..next).map(patch).collect::<Vec<_>>()
                },
                |ops| {
                    for op in ops {
                        b.apply(op);
                    }
                    if flush {
                        b.store.flush().unwrap();
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(apply, benches);
criterion_main!(apply);
