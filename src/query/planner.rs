//! The planner: checks a parsed query against the language's rules and turns it into a [`Plan`]
//! the executor can follow without further decisions.
//!
//! A query names *slots*: the FROM collection, every JOIN target and relationship variable, every
//! MATCH twin and relationship variable. Their links (a JOIN, a MATCH condition) form a tree, and
//! the plan walks that tree from one slot, the *anchor*:
//!
//! 1. **Anchor and access path** ([`super::access`]). The WHERE condition is split into its
//!    top-level AND terms. A term `X.$dtId = 'id'` or `X.$dtId IN [...]` (or an OR of them) makes
//!    `X` a key lookup; failing that, `IS_OF_MODEL(X, ...)` reads the twins-by-model index for every
//!    model that is one of the given model (itself, a later version, or a model extending either);
//!    failing that, the first slot is scanned. `FROM RELATIONSHIPS` is read by source (`$sourceId`), by target through the in-edge
//!    index (`$targetId`), or scanned. The term that chose the access path is implied by it and
//!    dropped. Because any twin of a JOIN or MATCH can be the anchor, a `$dtId` filter on the
//!    *target* of a JOIN, or on the middle twin of a MATCH, is as fast as one on the first twin.
//! 2. **Steps.** The links are ordered breadth-first from the anchor; each step binds one new twin
//!    (and the relationship, when it has a variable), following out-edges or in-edges (an arrow
//!    walked against its direction reads the in-edge index).
//! 3. **Filters.** Each remaining AND term is attached to the first step after which every slot it
//!    names is bound, so rows are dropped as early as possible.
//!
//! Rules checked here, each with an error naming the position: unknown or duplicate names, `SELECT
//! *` with JOIN, JOIN or MATCH on `RELATIONSHIPS`, a relationship variable on more than one hop,
//! hop ranges that match nothing, at most 5 JOINs and 10 hops, one MATCH, `TOP` with `COUNT()`.

pub use super::access::Access;
use super::access::{choose_access, models_of};
use super::ast::{
    self, CmpOp, Collection, Direction, Expr, Function, Hops, Operand, Query, Select,
};
use super::lexer::Pos;
use crate::err;
use crate::error::{Error, Result};
use crate::storage::Store;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// The most JOINs in one query (ADT's limit).
pub const MAX_JOINS: usize = 5;
/// The most hops in one MATCH, adding up the largest hop count of every condition (ADT's limit).
pub const MAX_HOPS: u64 = 10;

/// What a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A twin document.
    Twin,
    /// A relationship document.
    Relationship,
}

/// A named collection of the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Its name as declared (empty for the unnamed FROM collection and `()` twins).
    pub name: String,
    /// Twin or relationship.
    pub kind: SlotKind,
}

/// Which edges a step follows, seen from the twin it starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Relationships whose source is the bound twin.
    Out,
    /// Relationships whose target is the bound twin.
    In,
    /// Both.
    Both,
}

/// One traversal step: from a bound twin to the twins related to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The bound twin slot.
    pub from: usize,
    /// The twin slot it binds.
    pub to: usize,
    /// The relationship slot it binds, if any.
    pub rel: Option<usize>,
    /// Which edges it follows.
    pub dir: Dir,
    /// The relationship names allowed (empty: any).
    pub names: Vec<String>,
    /// The fewest hops.
    pub min: u64,
    /// The most hops.
    pub max: u64,
    /// One row per relationship (JOIN, or a MATCH condition with a variable); otherwise one row
    /// per distinct twin reached.
    pub per_relationship: bool,
}

/// A value inside a slot's document: `path` empty means the whole document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    /// The slot.
    pub slot: usize,
    /// The property path inside its document.
    pub path: Vec<String>,
}

/// An operand with names resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// A value of a slot.
    Ref(Ref),
    /// A literal.
    Lit(Value),
}

/// A condition with names resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    /// All hold.
    And(Vec<Pred>),
    /// One holds.
    Or(Vec<Pred>),
    /// Negation (three-valued: NOT undefined is undefined).
    Not(Box<Pred>),
    /// A comparison.
    Cmp(Term, CmpOp, Term),
    /// IN (`false`) or NIN (`true`).
    In(Term, Vec<Value>, bool),
    /// A function.
    Call(Function, Vec<Term>),
    /// The twin in `slot` has one of these models.
    IsOfModel(usize, Arc<HashSet<String>>),
    /// A bare operand: holds when it is `true`.
    Value(Term),
}

/// What a row of the result is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The document of one slot, as stored (`SELECT *` on one collection).
    Document(usize),
    /// An object of the named slots' documents (`SELECT *` with MATCH).
    Collections(Vec<(String, usize)>),
    /// An object of projected values, in SELECT order.
    Columns(Vec<(String, Ref)>),
    /// `{"COUNT": n}`.
    Count,
}

/// An executable query.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The slots.
    pub slots: Vec<Slot>,
    /// The slot the walk starts at.
    pub anchor: usize,
    /// How its candidates are found.
    pub access: Access,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// `filters[0]` holds once the anchor is bound, `filters[k]` once step `k - 1` is.
    pub filters: Vec<Vec<Pred>>,
    /// The row shape.
    pub output: Output,
    /// `ORDER BY` keys (descending when true).
    pub order: Vec<(Ref, bool)>,
    /// `TOP(n)`.
    pub top: Option<usize>,
    /// A row may not hold the same twin twice (MATCH).
    pub distinct_twins: bool,
    /// Per slot, the top-level members of its documents that conditions, ORDER BY and
    /// projections read (`None`: the whole document is needed). Documents are parsed only that
    /// far; a slot returned whole is copied as stored, never parsed.
    pub fields: Vec<Option<Vec<String>>>,
}

fn query_error(pos: Pos, what: impl std::fmt::Display) -> Error {
    err!(InvalidArgument, "query error at {pos}: {what}")
}

/// A link between two slots, before it is ordered into steps.
struct Link {
    a: usize,
    b: usize,
    rel: Option<usize>,
    /// Seen from `a`.
    dir: Dir,
    names: Vec<String>,
    min: u64,
    max: u64,
    per_relationship: bool,
}

struct Planner<'a> {
    store: &'a Store,
    slots: Vec<Slot>,
    /// The slot unqualified paths refer to (a FROM without alias, alone).
    default: Option<usize>,
    links: Vec<Link>,
}

/// Plans a parsed query. The store is read for the model catalogue (IS_OF_MODEL).
pub fn plan(store: &Store, q: &Query) -> Result<Plan> {
    let mut p = Planner { store, slots: Vec::new(), default: None, links: Vec::new() };
    if q.from.collection == Collection::Relationships
        && (!q.joins.is_empty() || q.pattern.is_some())
    {
        let what = if q.pattern.is_some() { "MATCH" } else { "JOIN" };
        return Err(query_error(
            q.from.alias.as_ref().map(|a| a.pos).unwrap_or_default(),
            format!("FROM RELATIONSHIPS cannot be combined with {what}; use FROM DIGITALTWINS"),
        ));
    }
    if !q.joins.is_empty() && q.pattern.is_some() {
        return Err(query_error(q.joins[0].target.pos, "a query uses JOIN or MATCH, not both"));
    }
    if q.joins.len() > MAX_JOINS {
        return Err(err!(
            LimitExceeded,
            "the query has {} JOINs; the limit is {MAX_JOINS} (MATCH can follow longer paths)",
            q.joins.len()
        ));
    }
    let kind = match q.from.collection {
        Collection::Twins => SlotKind::Twin,
        Collection::Relationships => SlotKind::Relationship,
    };
    match &q.pattern {
        Some(pattern) => p.pattern(pattern, q.from.alias.as_ref())?,
        None => {
            match &q.from.alias {
                Some(a) => {
                    p.declare(a, kind)?;
                }
                None => p.slots.push(Slot { name: String::new(), kind }),
            }
            if q.from.alias.is_none() {
                if let Some(j) = q.joins.first() {
                    return Err(query_error(
                        j.target.pos,
                        "JOIN needs a name for the FROM collection: FROM DIGITALTWINS T JOIN ... RELATED T.<relationship>",
                    ));
                }
                p.default = Some(0);
            }
            for j in &q.joins {
                p.join(j)?;
            }
        }
    }

    let terms: Vec<Pred> = match &q.filter {
        Some(e) => match p.pred(e)? {
            Pred::And(terms) => terms,
            other => vec![other],
        },
        None => Vec::new(),
    };
    let output = p.output(q)?;
    let order = q
        .order
        .iter()
        .map(|k| Ok((p.reference(&k.path)?, k.descending)))
        .collect::<Result<Vec<_>>>()?;
    let top = q.top.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let distinct_twins = q.pattern.is_some();
    Ok(p.finish(terms, output, order, top, distinct_twins))
}

impl Planner<'_> {
    fn find(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|s| !s.name.is_empty() && s.name.eq_ignore_ascii_case(name))
    }

    fn declare(&mut self, name: &ast::Name, kind: SlotKind) -> Result<usize> {
        if let Some(i) = self.find(&name.text) {
            return Err(query_error(
                name.pos,
                format!(
                    "the name '{}' is already used for '{}' in this query",
                    name.text, self.slots[i].name
                ),
            ));
        }
        self.slots.push(Slot { name: name.text.clone(), kind });
        Ok(self.slots.len() - 1)
    }

    fn names(&self) -> String {
        let named: Vec<&str> =
            self.slots.iter().filter(|s| !s.name.is_empty()).map(|s| s.name.as_str()).collect();
        named.join(", ")
    }

    fn twin_slot(&self, name: &ast::Name) -> Result<usize> {
        match self.find(&name.text) {
            Some(i) if self.slots[i].kind == SlotKind::Twin => Ok(i),
            Some(_) => Err(query_error(
                name.pos,
                format!("'{}' names relationships, not twins", name.text),
            )),
            None => Err(query_error(
                name.pos,
                format!("unknown collection '{}'; this query names {}", name.text, self.names()),
            )),
        }
    }

    fn join(&mut self, j: &ast::Join) -> Result<()> {
        let source = self.twin_slot(&j.source)?;
        let target = self.declare(&j.target, SlotKind::Twin)?;
        let rel = match &j.variable {
            Some(v) => Some(self.declare(v, SlotKind::Relationship)?),
            None => None,
        };
        self.links.push(Link {
            a: source,
            b: target,
            rel,
            dir: Dir::Out,
            names: vec![j.relationship.clone()],
            min: 1,
            max: 1,
            per_relationship: true,
        });
        Ok(())
    }

    fn pattern(&mut self, pattern: &ast::Pattern, from_alias: Option<&ast::Name>) -> Result<()> {
        let mut nodes = Vec::new();
        for node in &pattern.nodes {
            nodes.push(match node {
                Some(name) => self.declare(name, SlotKind::Twin).map_err(|_| {
                    query_error(
                        name.pos,
                        format!(
                            "the twin '{}' appears twice in the MATCH pattern; give each twin its own name and compare them in WHERE",
                            name.text
                        ),
                    )
                })?,
                None => {
                    self.slots.push(Slot { name: String::new(), kind: SlotKind::Twin });
                    self.slots.len() - 1
                }
            });
        }
        if let Some(alias) = from_alias
            && self.find(&alias.text).is_none()
        {
            return Err(query_error(
                alias.pos,
                format!(
                    "with MATCH the twins are named in the pattern; '{}' is not one of them (write FROM DIGITALTWINS MATCH ...)",
                    alias.text
                ),
            ));
        }
        let mut total = 0u64;
        for (i, edge) in pattern.edges.iter().enumerate() {
            let (min, max) = match edge.hops {
                None => (1, 1),
                Some(Hops::Exact(n)) => (n, n),
                Some(Hops::Range { after: Some(a), to }) => (a.saturating_add(1), to),
                Some(Hops::Range { after: None, to }) => (1, to),
            };
            if max == 0 || min > max {
                return Err(query_error(
                    edge.pos,
                    format!(
                        "this relationship condition matches no number of hops ({}); the start of a range is excluded, so *1..3 means 2 or 3 hops",
                        hops_text(edge.hops)
                    ),
                ));
            }
            total = total.saturating_add(max);
            if total > MAX_HOPS {
                return Err(err!(
                    LimitExceeded,
                    "the MATCH pattern has up to {total} hops or more; the limit is {MAX_HOPS}"
                ));
            }
            let rel = match &edge.variable {
                Some(v) if max > 1 => {
                    return Err(query_error(
                        v.pos,
                        format!(
                            "the relationship variable '{}' is only allowed on a single hop; drop the variable or the hop count",
                            v.text
                        ),
                    ));
                }
                Some(v) => Some(self.declare(v, SlotKind::Relationship)?),
                None => None,
            };
            let dir = match edge.direction {
                Direction::Right => Dir::Out,
                Direction::Left => Dir::In,
                Direction::Both => Dir::Both,
            };
            self.links.push(Link {
                a: nodes[i],
                b: nodes[i + 1],
                rel,
                dir,
                names: edge.names.clone(),
                min,
                max,
                per_relationship: rel.is_some(),
            });
        }
        Ok(())
    }

    /// Resolves a path to a slot and a path inside its document.
    fn reference(&self, path: &ast::Path) -> Result<Ref> {
        if let Some(slot) = self.default {
            return Ok(Ref { slot, path: path.parts.clone() });
        }
        match self.find(&path.parts[0]) {
            Some(slot) => Ok(Ref { slot, path: path.parts[1..].to_vec() }),
            None => Err(query_error(
                path.pos,
                format!(
                    "unknown collection '{}'; start the path with one of the names this query gives: {}",
                    path.parts[0],
                    self.names()
                ),
            )),
        }
    }

    fn term(&self, o: &Operand) -> Result<Term> {
        Ok(match o {
            Operand::Path(p) => Term::Ref(self.reference(p)?),
            Operand::Literal(v) => Term::Lit(v.clone()),
        })
    }

    fn pred(&self, e: &Expr) -> Result<Pred> {
        Ok(match e {
            Expr::And(es) => {
                let mut out = Vec::new();
                for e in es {
                    match self.pred(e)? {
                        Pred::And(inner) => out.extend(inner),
                        p => out.push(p),
                    }
                }
                Pred::And(out)
            }
            Expr::Or(es) => Pred::Or(es.iter().map(|e| self.pred(e)).collect::<Result<_>>()?),
            Expr::Not(e) => Pred::Not(Box::new(self.pred(e)?)),
            Expr::Compare(a, op, b) => Pred::Cmp(self.term(a)?, *op, self.term(b)?),
            Expr::In { value, list, negated } => {
                Pred::In(self.term(value)?, list.clone(), *negated)
            }
            Expr::Call(f, args, _) => {
                Pred::Call(*f, args.iter().map(|a| self.term(a)).collect::<Result<_>>()?)
            }
            Expr::Value(o) => Pred::Value(self.term(o)?),
            Expr::IsOfModel { alias, model, exact, pos } => {
                let slot = match alias {
                    Some(a) => self.twin_slot(a)?,
                    None => match self.default {
                        Some(d) if self.slots[d].kind == SlotKind::Twin => d,
                        Some(_) => {
                            return Err(query_error(
                                *pos,
                                "IS_OF_MODEL applies to twins, not relationships",
                            ));
                        }
                        // One twin collection (FROM DIGITALTWINS T): it is the one tested.
                        None if self.slots.len() == 1 && self.slots[0].kind == SlotKind::Twin => 0,
                        None => {
                            return Err(query_error(
                                *pos,
                                format!(
                                    "name the twins IS_OF_MODEL tests, e.g. IS_OF_MODEL(X, '{model}'); this query names {}",
                                    self.names()
                                ),
                            ));
                        }
                    },
                };
                Pred::IsOfModel(slot, Arc::new(models_of(self.store, model, *exact)?))
            }
        })
    }

    fn output(&self, q: &Query) -> Result<Output> {
        Ok(match &q.select {
            Select::All => {
                if let Some(j) = q.joins.first() {
                    return Err(query_error(
                        j.target.pos,
                        "SELECT * cannot be used with JOIN; name the collections to return, e.g. SELECT T, CT",
                    ));
                }
                if q.pattern.is_some() {
                    let named = self.slots.iter().enumerate().filter(|(_, s)| !s.name.is_empty());
                    Output::Collections(named.map(|(i, s)| (s.name.clone(), i)).collect())
                } else {
                    Output::Document(0)
                }
            }
            Select::Count => {
                if q.top.is_some() {
                    return Err(err!(
                        InvalidArgument,
                        "query error: TOP and COUNT() cannot be combined"
                    ));
                }
                Output::Count
            }
            Select::Items(items) => {
                let mut columns: Vec<(String, Ref)> = Vec::new();
                for item in items {
                    let r = self.reference(&item.path)?;
                    let key = match &item.alias {
                        Some(a) => a.text.clone(),
                        None => item.path.parts.last().cloned().unwrap_or_default(),
                    };
                    if columns.iter().any(|(k, _)| *k == key) {
                        let pos = item.alias.as_ref().map(|a| a.pos).unwrap_or(item.path.pos);
                        return Err(query_error(
                            pos,
                            format!("two projections are named '{key}'; rename one with AS"),
                        ));
                    }
                    columns.push((key, r));
                }
                Output::Columns(columns)
            }
        })
    }

    fn finish(
        self,
        terms: Vec<Pred>,
        output: Output,
        order: Vec<(Ref, bool)>,
        top: Option<usize>,
        distinct_twins: bool,
    ) -> Plan {
        let mut terms = terms;
        let (anchor, access) = choose_access(&self.slots, &mut terms);
        // Order the links breadth-first from the anchor.
        let mut bound = vec![false; self.slots.len()];
        bound[anchor] = true;
        let mut steps = Vec::new();
        let mut used = vec![false; self.links.len()];
        loop {
            let next = self
                .links
                .iter()
                .enumerate()
                .find(|(i, l)| !used[*i] && (bound[l.a] || bound[l.b]));
            let Some((i, l)) = next else { break };
            used[i] = true;
            let (from, to, dir) =
                if bound[l.a] { (l.a, l.b, l.dir) } else { (l.b, l.a, flip(l.dir)) };
            bound[to] = true;
            if let Some(r) = l.rel {
                bound[r] = true;
            }
            steps.push(Step {
                from,
                to,
                rel: l.rel,
                dir,
                names: l.names.clone(),
                min: l.min,
                max: l.max,
                per_relationship: l.per_relationship,
            });
        }
        // Attach each term to the first step after which its slots are bound.
        let mut filters: Vec<Vec<Pred>> = vec![Vec::new(); steps.len() + 1];
        let mut level = vec![usize::MAX; self.slots.len()];
        level[anchor] = 0;
        for (k, s) in steps.iter().enumerate() {
            level[s.to] = k + 1;
            if let Some(r) = s.rel {
                level[r] = k + 1;
            }
        }
        for t in terms {
            let mut slots = BTreeSet::new();
            slots_of(&t, &mut slots);
            let at = slots.iter().map(|s| level[*s]).max().unwrap_or(0);
            filters[at.min(steps.len())].push(t);
        }
        let fields = fields_read(self.slots.len(), &filters, &output, &order);
        Plan {
            slots: self.slots,
            anchor,
            access,
            steps,
            filters,
            output,
            order,
            top,
            distinct_twins,
            fields,
        }
    }
}

/// The top-level members each slot's documents must be parsed for.
fn fields_read(
    slots: usize,
    filters: &[Vec<Pred>],
    output: &Output,
    order: &[(Ref, bool)],
) -> Vec<Option<Vec<String>>> {
    let mut fields: Vec<Option<BTreeSet<String>>> = vec![Some(BTreeSet::new()); slots];
    let mut need = |slot: usize, member: Option<&String>| match (member, &mut fields[slot]) {
        (None, f) => *f = None,
        (Some(m), Some(set)) => {
            set.insert(m.clone());
        }
        (Some(_), None) => {}
    };
    fn walk(p: &Pred, need: &mut dyn FnMut(usize, Option<&String>)) {
        let mut term = |t: &Term| {
            if let Term::Ref(r) = t {
                need(r.slot, r.path.first());
            }
        };
        match p {
            Pred::And(ps) | Pred::Or(ps) => ps.iter().for_each(|p| walk(p, need)),
            Pred::Not(p) => walk(p, need),
            Pred::Cmp(a, _, b) => {
                term(a);
                term(b);
            }
            Pred::In(t, _, _) | Pred::Value(t) => term(t),
            Pred::Call(_, ts) => ts.iter().for_each(term),
            Pred::IsOfModel(slot, _) => need(*slot, Some(&"$metadata".to_string())),
        }
    }
    for p in filters.iter().flatten() {
        walk(p, &mut need);
    }
    for (r, _) in order {
        need(r.slot, r.path.first());
    }
    if let Output::Columns(columns) = output {
        // A whole collection is returned as stored: it needs no parsing.
        for (_, r) in columns.iter().filter(|(_, r)| !r.path.is_empty()) {
            need(r.slot, r.path.first());
        }
    }
    fields.into_iter().map(|f| f.map(|set| set.into_iter().collect())).collect()
}

fn flip(d: Dir) -> Dir {
    match d {
        Dir::Out => Dir::In,
        Dir::In => Dir::Out,
        Dir::Both => Dir::Both,
    }
}

fn hops_text(h: Option<Hops>) -> String {
    match h {
        None => "1".into(),
        Some(Hops::Exact(n)) => format!("*{n}"),
        Some(Hops::Range { after: Some(a), to }) => format!("*{a}..{to}"),
        Some(Hops::Range { after: None, to }) => format!("*..{to}"),
    }
}

/// The slots a condition reads.
fn slots_of(p: &Pred, out: &mut BTreeSet<usize>) {
    let term = |t: &Term, out: &mut BTreeSet<usize>| {
        if let Term::Ref(r) = t {
            out.insert(r.slot);
        }
    };
    match p {
        Pred::And(ps) | Pred::Or(ps) => ps.iter().for_each(|p| slots_of(p, out)),
        Pred::Not(p) => slots_of(p, out),
        Pred::Cmp(a, _, b) => {
            term(a, out);
            term(b, out);
        }
        Pred::In(t, _, _) | Pred::Value(t) => term(t, out),
        Pred::Call(_, ts) => ts.iter().for_each(|t| term(t, out)),
        Pred::IsOfModel(s, _) => {
            out.insert(*s);
        }
    }
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
