//! What the property tests that fuzz the parsers share (test builds only): the runner and the
//! generators of arbitrary JSON.
//!
//! The fuzz targets — `model/twin_fuzz_tests.rs` (the twin validator),
//! `model/patch_fuzz_tests.rs` (JSON Patch), `model/dtdl/fuzz_tests.rs` (the DTDL parser and batch
//! checks) and `query/fuzz_tests.rs` (the query language) — are proptest properties run as
//! ordinary unit tests, so CI runs them on every push in a debug build: 18,000 cases in about
//! 14 s on one core. Why proptest rather than
//! cargo-fuzz: it needs no nightly toolchain or separate build, it shrinks a failure to a minimal
//! input that can be pasted into a regression test, and structured generators (patch operations,
//! query tokens, mutations of real models) reach deep code that random bytes rarely do.
//!
//! The runner is **deterministic** by default (a fixed seed): CI runs the same cases every time, so
//! a red build is reproducible and never flaky. To explore further, set `TWINSTORE_FUZZ_SEED` to
//! any number (a different sequence of cases) and `TWINSTORE_FUZZ_CASES` to run more cases per
//! target than its CI count. No failure files are written (`failure_persistence: None`): a failure
//! found this way becomes a plain regression test next to the code it fixes.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt::Debug;

/// Runs `property` over `cases` inputs from `strategy` (or `TWINSTORE_FUZZ_CASES` of them) and
/// panics with the shrunk, minimal failing input if one fails. `name` is the target's name in
/// the failure message.
pub fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: Debug,
{
    let cases = env_u64("TWINSTORE_FUZZ_CASES").map_or(cases, |n| n as u32);
    let config =
        Config { cases, failure_persistence: None, max_shrink_iters: 4096, ..Config::default() };
    let rng = match env_u64("TWINSTORE_FUZZ_SEED") {
        Some(seed) => {
            let mut bytes = [0u8; 32];
            let mut r = crate::rng::Rng::new(seed);
            for chunk in bytes.chunks_mut(8) {
                chunk.copy_from_slice(&r.next_u64().to_le_bytes());
            }
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
        }
        None => TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    match runner.run(&strategy, property) {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => {
            panic!("fuzz target {name} failed: {why}\nminimal input: {input:#?}")
        }
        Err(TestError::Abort(why)) => panic!("fuzz target {name} aborted: {why}"),
    }
}

/// How far a target's cases got, stage by stage (parsed, accepted, ran…): each target asserts a
/// floor for each stage, because a generator that stopped reaching the deep code would make its
/// target pass without testing it.
pub struct Reach {
    stages: &'static [&'static str],
    counts: Vec<Cell<u32>>,
}

impl Reach {
    /// Counters for the named stages.
    pub fn new(stages: &'static [&'static str]) -> Reach {
        Reach { stages, counts: stages.iter().map(|_| Cell::new(0)).collect() }
    }

    /// One case reached stage `i`.
    pub fn hit(&self, i: usize) {
        self.counts[i].set(self.counts[i].get() + 1);
    }

    /// Asserts that at least `floors[i]` cases in a thousand reached stage `i` (floors set a good
    /// margin below what was measured, which the call sites record).
    pub fn at_least(&self, cases: u32, floors: &[u32]) {
        let per_mille: Vec<u32> =
            self.counts.iter().map(|c| c.get() * 1000 / cases.max(1)).collect();
        let report: Vec<String> =
            self.stages.iter().zip(&per_mille).map(|(s, n)| format!("{s} {n}/1000")).collect();
        eprintln!("reach: {}", report.join(", "));
        for ((stage, n), floor) in self.stages.iter().zip(&per_mille).zip(floors) {
            assert!(n >= floor, "only {n}/1000 cases {stage}, expected at least {floor}");
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Strings that tend to break parsers: empty, whitespace, escapes, quotes, non-ASCII (also
/// straddling small byte offsets), control characters, very long runs, numbers as text.
pub fn nasty_string() -> BoxedStrategy<String> {
    const NASTY: &[&str] = &[
        "",
        " ",
        "\u{0}",
        "~",
        "/",
        "'",
        "\"",
        "\\",
        "é€😀",
        "\u{202e}",
        "-",
        "0",
        "1e999",
        "-0",
        "9223372036854775808",
        // A character across a byte offset a parser might slice at (found: `dtmi.rs`, byte 5).
        "abcd€",
        "dtmi:€;1",
        "a\u{10000}",
    ];
    prop_oneof![
        3 => proptest::sample::select(NASTY).prop_map(str::to_string),
        1 => Just("x".repeat(5000)),
        3 => ".{0,16}",
    ]
    .boxed()
}

/// A JSON scalar: null, booleans, integers at the edges of every integer width, ordinary and
/// extreme finite doubles, and strings (`strings` chooses them).
pub fn json_scalar(strings: BoxedStrategy<String>) -> BoxedStrategy<Value> {
    let edges = [
        0i64,
        1,
        -1,
        127,
        128,
        -129,
        255,
        256,
        32767,
        32768,
        65535,
        65536,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64,
        i32::MIN as i64 - 1,
        u32::MAX as i64,
        u32::MAX as i64 + 1,
        i64::MAX,
        i64::MIN,
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        proptest::sample::select(edges.to_vec()).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_filter_map("finite", Number::from_f64).prop_map(Value::Number),
        // Doubles that are hard to parse back exactly (found: 6.805646932770577e38 came back
        // one ulp off before serde_json's float_roundtrip), and the edges of the range.
        proptest::sample::select(vec![
            0.5,
            -2.25,
            1e300,
            f32::MAX as f64 * 2.0,
            6.805646932770577e38,
            2.225073858507201e-308,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
        ])
        .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
        strings.prop_map(Value::String),
    ]
    .boxed()
}

/// Arbitrary JSON up to `depth` levels of arrays and objects, with object keys from `keys` and
/// strings from `strings`.
pub fn json_value(
    keys: BoxedStrategy<String>,
    strings: BoxedStrategy<String>,
    depth: u32,
) -> BoxedStrategy<Value> {
    json_scalar(strings)
        .prop_recursive(depth, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// Keys chosen from `names` most of the time and arbitrary otherwise.
pub fn key_from(names: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        4 => proptest::sample::select(names).prop_map(str::to_string),
        1 => nasty_string(),
    ]
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_property_is_reported_with_its_minimal_input() {
        let failed = std::panic::catch_unwind(|| {
            check("demo", 200, 0u32..1000, |n| {
                prop_assert!(n < 500);
                Ok(())
            })
        })
        .unwrap_err();
        let message = failed.downcast_ref::<String>().unwrap();
        assert!(message.contains("fuzz target demo failed"), "{message}");
        assert!(message.contains("minimal input: 500"), "{message}");
    }

    #[test]
    fn json_values_are_varied() {
        let mut runner = TestRunner::deterministic();
        let strategy = json_value(key_from(&["a", "b"]), nasty_string(), 3);
        fn walk(v: &Value, kinds: &mut std::collections::BTreeSet<&'static str>) {
            kinds.insert(crate::model::twin::kind(v));
            match v {
                Value::Array(a) => a.iter().for_each(|v| walk(v, kinds)),
                Value::Object(m) => m.values().for_each(|v| walk(v, kinds)),
                _ => {}
            }
        }
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..300 {
            walk(&strategy.new_tree(&mut runner).unwrap().current(), &mut kinds);
        }
        assert_eq!(kinds.len(), 6, "{kinds:?}");
    }
}
