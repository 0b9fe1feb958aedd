//! The executor: follows a [`Plan`] over the store and builds the result rows.
//!
//! It is a depth-first walk: for each candidate of the anchor, bind it and check the filters that
//! only need it; then for each twin the first step reaches, bind it, check the filters now
//! complete, and go on to the next step; a row is emitted when every step is bound. Candidates of
//! the anchor are streamed from the store; besides the result, memory holds the current row and,
//! per step, what the step reached from its twin (at most a twin's edges, 50,000 each way, or the
//! twins within its hop range):
//!
//! - a step *per relationship* (a JOIN, or a MATCH condition with a variable) yields one row per
//!   matching relationship: out-edges are read from the source's relationship documents (only
//!   `$targetId` and `$relationshipName` are decoded), in-edges from the in-edge index, whose value
//!   is the name, so walking an arrow backwards reads no document unless the relationship is bound;
//! - any other MATCH step yields each twin reachable over a path of an allowed length once; paths
//!   are simple (no twin twice on one path, so cycles are followed once) and the start twin is not
//!   a result of its own step.
//!
//! A MATCH row never holds the same twin in two places (ADT drops such rows too).
//!
//! The work is bounded: every entry read counts towards `rows_scanned`, the cancellation flag is
//! checked at every read and the deadline every [`CHECK_EVERY`] reads; the result may not grow
//! past [`MAX_ROWS`] rows or [`MAX_RESULT_BYTES`] bytes. `TOP` without `ORDER BY` stops the walk as
//! soon as it has its rows; `COUNT()` counts without building rows.

use super::eval::{Doc, Row, holds, lookup, sort_cmp};
use super::planner::{Access, Dir, Output, Plan, SlotKind, Step};
use crate::err;
use crate::error::Result;
use crate::storage::Store;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The most rows one query may produce (before paging).
pub const MAX_ROWS: usize = 1_000_000;
/// The most bytes of JSON one query's rows may add up to (before paging).
pub const MAX_RESULT_BYTES: usize = 128 << 20;
/// How many reads pass between two looks at the clock.
pub const CHECK_EVERY: u64 = 512;

/// What a query produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The rows, as JSON text.
    pub rows: Vec<String>,
    /// Entries read from the store (twins, relationships, index entries).
    pub scanned: u64,
    /// The rows' total size in bytes.
    pub bytes: usize,
}

/// Runs a plan until it is done, the deadline passes or `cancel` is set.
pub fn execute(
    store: &Store,
    plan: &Plan,
    deadline: Instant,
    cancel: &AtomicBool,
) -> Result<Outcome> {
    let fields = plan.fields.iter().map(|f| f.as_ref().map(|f| Rc::from(f.as_slice()))).collect();
    let keys_json = match &plan.output {
        Output::Columns(columns) => {
            columns.iter().map(|(k, _)| Value::String(k.clone()).to_string()).collect()
        }
        _ => Vec::new(),
    };
    let mut x = Exec {
        store,
        plan,
        fields,
        keys_json,
        deadline,
        cancel,
        started: Instant::now(),
        scanned: 0,
        count: 0,
        rows: Vec::new(),
        keys: Vec::new(),
        bytes: 0,
    };
    x.run()?;
    let Exec { mut rows, mut keys, scanned, count, bytes, .. } = x;
    if plan.output == Output::Count {
        let row = format!("{{\"COUNT\":{count}}}");
        return Ok(Outcome { bytes: row.len(), rows: vec![row], scanned });
    }
    if !plan.order.is_empty() {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|&a, &b| {
            for (i, (_, descending)) in plan.order.iter().enumerate() {
                let c = sort_cmp(keys[a][i].as_ref(), keys[b][i].as_ref());
                let c = if *descending { c.reverse() } else { c };
                if c.is_ne() {
                    return c;
                }
            }
            std::cmp::Ordering::Equal
        });
        let mut taken: Vec<Option<String>> = rows.into_iter().map(Some).collect();
        rows = order.into_iter().filter_map(|i| taken[i].take()).collect();
        keys.clear();
        if let Some(top) = plan.top {
            rows.truncate(top);
        }
    }
    let bytes = if plan.order.is_empty() { bytes } else { rows.iter().map(String::len).sum() };
    Ok(Outcome { rows, scanned, bytes })
}

/// Whether the walk goes on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// The two fields of a relationship document a walk needs (borrowed from the text when they
/// have no escapes).
#[derive(Deserialize)]
struct EdgeHead<'a> {
    #[serde(borrow, rename = "$targetId")]
    target: Cow<'a, str>,
    #[serde(borrow, rename = "$relationshipName")]
    name: Cow<'a, str>,
}

/// The target of an out-edge when its name is one the step follows.
fn target_if(step: &Step, from: &str, id: &str, json: &str) -> Result<Option<String>> {
    let head: EdgeHead = serde_json::from_str(json)
        .map_err(|e| err!(Internal, "the stored relationship '{from}/{id}' is malformed: {e}"))?;
    Ok(Exec::name_ok(step, &head.name).then(|| head.target.into_owned()))
}

/// One relationship found by a step: the twin on its other end, its document when bound.
struct Hop {
    twin: String,
    rel: Option<Rc<Doc>>,
}

struct Exec<'a> {
    store: &'a Store,
    plan: &'a Plan,
    /// `plan.fields`, shared with every document of the slot.
    fields: Vec<Option<Rc<[String]>>>,
    /// The column names of `Output::Columns`, as JSON strings.
    keys_json: Vec<String>,
    deadline: Instant,
    cancel: &'a AtomicBool,
    started: Instant,
    scanned: u64,
    count: u64,
    rows: Vec<String>,
    keys: Vec<Vec<Option<Value>>>,
    bytes: usize,
}

impl Exec<'_> {
    /// A document for `slot`, parsed (if ever) only as far as the query reads it.
    fn doc(&self, slot: usize, id: String, raw: String) -> Rc<Doc> {
        Doc::with_fields(id, raw, self.fields[slot].clone())
    }

    /// Counts one read and checks for cancellation and the deadline.
    fn tick(&mut self) -> Result<()> {
        self.scanned += 1;
        if self.cancel.load(Ordering::Relaxed) {
            return Err(err!(Unavailable, "the query was cancelled"));
        }
        if self.scanned % CHECK_EVERY == 1 && Instant::now() >= self.deadline {
            let secs = self.deadline.saturating_duration_since(self.started).as_secs_f64();
            return Err(err!(
                LimitExceeded,
                "the query ran longer than {secs:.0} s, the limit, and was stopped after reading {} entries; \
                 narrow it with a $dtId or IS_OF_MODEL filter, TOP, or fewer hops",
                self.scanned
            ));
        }
        Ok(())
    }

    fn run(&mut self) -> Result<()> {
        let plan = self.plan;
        let mut row: Vec<Option<Rc<Doc>>> = vec![None; plan.slots.len()];
        match &plan.access {
            Access::TwinIds(ids) => {
                for id in ids {
                    self.tick()?;
                    if let Some(raw) = self.store.twin(id)?
                        && self.root(&mut row, id.clone(), raw)? == Flow::Stop
                    {
                        break;
                    }
                }
            }
            Access::TwinModels(models) if models.len() == 1 => {
                // One model: stream its index (TOP stops early).
                for id in self.store.twins_of_model(&models[0]) {
                    self.tick()?;
                    let id = id?;
                    self.tick()?;
                    if let Some(raw) = self.store.twin(&id)?
                        && self.root(&mut row, id, raw)? == Flow::Stop
                    {
                        break;
                    }
                }
            }
            Access::TwinModels(models) => {
                // Several: their ids merged into one id order.
                let mut ids = Vec::new();
                for m in models {
                    for id in self.store.twins_of_model(m) {
                        self.tick()?;
                        ids.push(id?);
                    }
                }
                ids.sort();
                for id in ids {
                    self.tick()?;
                    if let Some(raw) = self.store.twin(&id)?
                        && self.root(&mut row, id, raw)? == Flow::Stop
                    {
                        break;
                    }
                }
            }
            Access::TwinScan => {
                for twin in self.store.twins_from(None) {
                    self.tick()?;
                    let (id, raw) = twin?;
                    if self.root(&mut row, id, raw)? == Flow::Stop {
                        break;
                    }
                }
            }
            Access::RelSources(sources) => {
                'sources: for s in sources {
                    for e in self.store.out_edges(s) {
                        self.tick()?;
                        let e = e?;
                        if self.root(&mut row, e.id, e.json)? == Flow::Stop {
                            break 'sources;
                        }
                    }
                }
            }
            Access::RelTargets(targets) => {
                'targets: for t in targets {
                    for e in self.store.in_edges(t) {
                        self.tick()?;
                        let e = e?;
                        self.tick()?;
                        if let Some(json) = self.store.relationship(&e.source, &e.id)?
                            && self.root(&mut row, e.id, json)? == Flow::Stop
                        {
                            break 'targets;
                        }
                    }
                }
            }
            Access::RelScan => {
                for e in self.store.all_relationships() {
                    self.tick()?;
                    let e = e?;
                    if self.root(&mut row, e.id, e.json)? == Flow::Stop {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn root(&mut self, row: &mut [Option<Rc<Doc>>], id: String, raw: String) -> Result<Flow> {
        row[self.plan.anchor] = Some(self.doc(self.plan.anchor, id, raw));
        let flow = if self.passes(0, row)? { self.descend(0, row)? } else { Flow::Continue };
        row[self.plan.anchor] = None;
        Ok(flow)
    }

    fn passes(&self, level: usize, row: &Row) -> Result<bool> {
        for p in &self.plan.filters[level] {
            if !holds(p, row)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn descend(&mut self, k: usize, row: &mut [Option<Rc<Doc>>]) -> Result<Flow> {
        let plan = self.plan;
        let Some(step) = plan.steps.get(k) else { return self.emit(row) };
        let Some(from) = row[step.from].as_ref().map(|d| d.id.clone()) else {
            return Ok(Flow::Continue);
        };
        let hops = if step.per_relationship {
            self.relationships(step, &from)?
        } else {
            self.reach(step, &from)?
        };
        for hop in hops {
            if plan.distinct_twins
                && row.iter().enumerate().any(|(i, d)| {
                    i != step.to
                        && plan.slots[i].kind == SlotKind::Twin
                        && d.as_ref().is_some_and(|d| d.id == hop.twin)
                })
            {
                continue;
            }
            self.tick()?;
            let Some(raw) = self.store.twin(&hop.twin)? else { continue };
            row[step.to] = Some(self.doc(step.to, hop.twin, raw));
            if let Some(r) = step.rel {
                row[r] = hop.rel;
            }
            let flow =
                if self.passes(k + 1, row)? { self.descend(k + 1, row)? } else { Flow::Continue };
            row[step.to] = None;
            if let Some(r) = step.rel {
                row[r] = None;
            }
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn name_ok(step: &Step, name: &str) -> bool {
        step.names.is_empty() || step.names.iter().any(|n| n == name)
    }

    /// The relationships of a single-hop step, one entry each.
    fn relationships(&mut self, step: &Step, from: &str) -> Result<Vec<Hop>> {
        let mut out = Vec::new();
        if matches!(step.dir, Dir::Out | Dir::Both) {
            for e in self.store.out_edges(from) {
                self.tick()?;
                let e = e?;
                let Some(twin) = target_if(step, from, &e.id, &e.json)? else { continue };
                let rel = step.rel.map(|slot| self.doc(slot, e.id, e.json));
                out.push(Hop { twin, rel });
            }
        }
        if matches!(step.dir, Dir::In | Dir::Both) {
            for e in self.store.in_edges(from) {
                self.tick()?;
                let e = e?;
                if !Self::name_ok(step, &e.name) {
                    continue;
                }
                let rel = match step.rel {
                    Some(slot) => {
                        self.tick()?;
                        match self.store.relationship(&e.source, &e.id)? {
                            Some(json) => Some(self.doc(slot, e.id, json)),
                            None => continue,
                        }
                    }
                    None => None,
                };
                out.push(Hop { twin: e.source, rel });
            }
        }
        Ok(out)
    }

    /// The twins one hop away (over allowed names and directions), with repeats.
    fn neighbours(&mut self, step: &Step, from: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if matches!(step.dir, Dir::Out | Dir::Both) {
            for e in self.store.out_edges(from) {
                self.tick()?;
                let e = e?;
                if let Some(twin) = target_if(step, from, &e.id, &e.json)? {
                    out.push(twin);
                }
            }
        }
        if matches!(step.dir, Dir::In | Dir::Both) {
            for e in self.store.in_edges(from) {
                self.tick()?;
                let e = e?;
                if Self::name_ok(step, &e.name) {
                    out.push(e.source);
                }
            }
        }
        Ok(out)
    }

    /// Every twin reachable from `from` over a simple path of `step.min..=step.max` hops, once
    /// each, in the order a depth-first walk finds them.
    fn reach(&mut self, step: &Step, from: &str) -> Result<Vec<Hop>> {
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut path = vec![from.to_string()];
        self.walk(step, &mut path, &mut seen, &mut found)?;
        Ok(found.into_iter().map(|twin| Hop { twin, rel: None }).collect())
    }

    fn walk(
        &mut self,
        step: &Step,
        path: &mut Vec<String>,
        seen: &mut HashSet<String>,
        found: &mut Vec<String>,
    ) -> Result<()> {
        let depth = path.len() as u64; // hops after taking the next one
        let here = path.last().cloned().unwrap_or_default();
        for next in self.neighbours(step, &here)? {
            if path.contains(&next) {
                continue;
            }
            if depth >= step.min && seen.insert(next.clone()) {
                found.push(next.clone());
            }
            if depth < step.max {
                path.push(next);
                self.walk(step, path, seen, found)?;
                path.pop();
            }
        }
        Ok(())
    }

    fn emit(&mut self, row: &Row) -> Result<Flow> {
        let plan = self.plan;
        if plan.output == Output::Count {
            self.count += 1;
            return Ok(Flow::Continue);
        }
        let text = self.render(row)?;
        if self.rows.len() >= MAX_ROWS || self.bytes + text.len() > MAX_RESULT_BYTES {
            return Err(err!(
                LimitExceeded,
                "the query's result is larger than {MAX_ROWS} rows or {} MiB, the limit for one query; \
                 narrow it with a filter or TOP",
                MAX_RESULT_BYTES >> 20
            ));
        }
        if !plan.order.is_empty() {
            let mut keys = Vec::with_capacity(plan.order.len());
            for (r, _) in &plan.order {
                keys.push(lookup(r, row)?.cloned());
            }
            self.keys.push(keys);
        }
        self.bytes += text.len();
        self.rows.push(text);
        if plan.order.is_empty() && plan.top.is_some_and(|t| self.rows.len() >= t) {
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    /// A row as JSON text. Whole documents are copied as stored, never re-serialized.
    fn render(&self, row: &Row) -> Result<String> {
        let raw = |slot: usize| row[slot].as_ref().map(|d| d.raw.as_str()).unwrap_or("null");
        Ok(match &self.plan.output {
            Output::Document(slot) => raw(*slot).to_string(),
            Output::Collections(slots) => {
                let size: usize =
                    slots.iter().map(|(name, slot)| name.len() + raw(*slot).len() + 4).sum();
                let mut s = String::with_capacity(size + 2);
                s.push('{');
                for (i, (name, slot)) in slots.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&Value::String(name.clone()).to_string());
                    s.push(':');
                    s.push_str(raw(*slot));
                }
                s.push('}');
                s
            }
            Output::Columns(columns) => {
                // The values first, so the row is built in one allocation.
                let mut parts: Vec<(&str, std::borrow::Cow<'_, str>)> =
                    Vec::with_capacity(columns.len());
                for ((_, r), key) in columns.iter().zip(&self.keys_json) {
                    let text = if r.path.is_empty() {
                        match &row[r.slot] {
                            Some(d) => std::borrow::Cow::Borrowed(d.raw.as_str()),
                            None => continue,
                        }
                    } else {
                        match lookup(r, row)? {
                            Some(v) => std::borrow::Cow::Owned(v.to_string()),
                            None => continue, // a missing property is left out of the row
                        }
                    };
                    parts.push((key.as_str(), text));
                }
                let size: usize = parts.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
                let mut s = String::with_capacity(size + 2);
                s.push('{');
                for (i, (key, text)) in parts.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(key);
                    s.push(':');
                    s.push_str(text);
                }
                s.push('}');
                s
            }
            Output::Count => String::new(),
        })
    }
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
