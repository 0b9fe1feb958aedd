//! Checking an upload against itself and the stored models.
//!
//! ADT accepts a batch all or nothing, and models are immutable once stored, so every rule that
//! spans Interfaces must hold *before* anything is written: a stored model is never revisited. The
//! rules: every id is new; every `extends` and component schema resolves (in the batch or among the
//! stored models); inheritance has no cycle, is at most 10 levels deep and 1024 Interfaces wide,
//! and never declares one content name in two Interfaces of a hierarchy; a component's Interface has
//! no components itself (ADT nests components one level); a DTDL v2 Interface does not build on a
//! v3 one. Relationship targets are deliberately *not* resolved: ADT lets a model name a target
//! that is uploaded later.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Deref;
use std::sync::Arc;

use super::MAX_INTERFACES_IN_HIERARCHY;
use super::interface::{Content, Interface, ModelSource};
use crate::err;
use crate::error::{Error, Result};
use crate::model::limits::MAX_EXTENDS_DEPTH;

/// Checks a batch against itself and the stored models given by `existing`.
pub fn check_batch(batch: &[Interface], existing: &dyn ModelSource) -> Result<()> {
    let mut in_batch: BTreeMap<&str, &Interface> = BTreeMap::new();
    for iface in batch {
        if existing.interface(&iface.id).is_some() {
            return Err(err!(
                ModelAlreadyExists,
                "model {} already exists; models cannot be changed: upload a new version (a higher ';N') or delete the stored one first",
                iface.id
            ));
        }
        if in_batch.insert(&iface.id, iface).is_some() {
            return Err(err!(
                DTDLParserError,
                "model {} appears twice in the upload; each model may be uploaded once",
                iface.id
            ));
        }
    }
    let mut graph = Graph { lookup: Lookup { batch: in_batch, existing }, depth: BTreeMap::new() };
    for iface in batch {
        check_references(&graph.lookup, iface)?;
    }
    for iface in batch {
        let depth = graph.depth(&iface.id, &iface.id, &mut Vec::new())?;
        if depth > MAX_EXTENDS_DEPTH {
            return Err(err!(
                DTDLParserError,
                "model {}: its extends hierarchy is {depth} levels deep; DTDL allows at most {MAX_EXTENDS_DEPTH}",
                iface.id
            ));
        }
        check_hierarchy_names(&graph.lookup, iface)?;
        check_components(&graph.lookup, iface)?;
    }
    Ok(())
}

/// An Interface from the batch or from the store.
enum Found<'a> {
    Batch(&'a Interface),
    Stored(Arc<Interface>),
}

impl Deref for Found<'_> {
    type Target = Interface;
    fn deref(&self) -> &Interface {
        match self {
            Found::Batch(i) => i,
            Found::Stored(i) => i,
        }
    }
}

struct Lookup<'a> {
    batch: BTreeMap<&'a str, &'a Interface>,
    existing: &'a dyn ModelSource,
}

impl<'a> Lookup<'a> {
    fn get(&self, id: &str) -> Option<Found<'a>> {
        match self.batch.get(id) {
            Some(i) => Some(Found::Batch(i)),
            None => self.existing.interface(id).map(Found::Stored),
        }
    }

    /// The Interface `id`, which `referrer` refers to as `how` ("extends", "component 'c' uses").
    fn require(&self, id: &str, referrer: &Interface, how: &str) -> Result<Found<'a>> {
        let found = self.get(id).ok_or_else(|| {
            err!(
                DTDLParserError,
                "model {}: {how} {id}, which is neither in this upload nor already stored; upload it first or in the same batch",
                referrer.id
            )
        })?;
        if referrer.dtdl_version == 2 && found.dtdl_version >= 3 {
            return Err(err!(
                DTDLParserError,
                "model {}: {how} {id}, but a DTDL v2 Interface cannot build on a DTDL v3 Interface; move {} to dtmi:dtdl:context;3",
                referrer.id,
                referrer.id
            ));
        }
        Ok(found)
    }

    /// The Interface `id` and every Interface it extends, each once, breadth first (so `id`
    /// comes first). Stops with an error past [`MAX_INTERFACES_IN_HIERARCHY`].
    fn hierarchy(&self, root: &Interface) -> Result<Vec<Found<'a>>> {
        let mut seen = BTreeSet::from([root.id.clone()]);
        let mut out: Vec<Found<'a>> = Vec::new();
        let mut queue: VecDeque<(String, Vec<String>)> =
            VecDeque::from([(root.id.clone(), root.extends.clone())]);
        while let Some((child, parents)) = queue.pop_front() {
            for p in parents {
                if !seen.insert(p.clone()) {
                    continue;
                }
                let found = self.get(&p).ok_or_else(|| {
                    err!(
                        DTDLParserError,
                        "model {}: {child} extends {p}, which is neither in this upload nor already stored",
                        root.id
                    )
                })?;
                if seen.len() > MAX_INTERFACES_IN_HIERARCHY {
                    return Err(err!(
                        DTDLParserError,
                        "model {}: its extends hierarchy has more than {MAX_INTERFACES_IN_HIERARCHY} Interfaces; DTDL allows at most {MAX_INTERFACES_IN_HIERARCHY}",
                        root.id
                    ));
                }
                queue.push_back((found.id.clone(), found.extends.clone()));
                out.push(found);
            }
        }
        Ok(out)
    }
}

/// Every `extends` and component schema of `iface` resolves, and none is a v3 model under a v2 one.
fn check_references(lookup: &Lookup, iface: &Interface) -> Result<()> {
    for parent in &iface.extends {
        lookup.require(parent, iface, "extends")?;
    }
    for c in iface.components() {
        lookup.require(&c.schema, iface, &format!("component '{}' uses", c.name))?;
    }
    Ok(())
}

struct Graph<'a> {
    lookup: Lookup<'a>,
    /// The longest extends chain above each Interface already explored.
    depth: BTreeMap<String, usize>,
}

impl Graph<'_> {
    /// The number of `extends` levels above `id`, refusing cycles. `root` is the batch model being
    /// checked (named in messages); `stack` the chain from it to `id`.
    fn depth(&mut self, id: &str, root: &str, stack: &mut Vec<String>) -> Result<usize> {
        if let Some(d) = self.depth.get(id) {
            return Ok(*d);
        }
        if let Some(pos) = stack.iter().position(|s| s == id) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(id.to_string());
            return Err(err!(
                DTDLParserError,
                "model {root}: extends forms a cycle ({}); an Interface cannot inherit from itself",
                cycle.join(" -> ")
            ));
        }
        if stack.len() > MAX_EXTENDS_DEPTH {
            return Err(err!(
                DTDLParserError,
                "model {root}: its extends hierarchy is more than {MAX_EXTENDS_DEPTH} levels deep ({} -> …); DTDL allows at most {MAX_EXTENDS_DEPTH}",
                stack.join(" -> ")
            ));
        }
        let Some(iface) = self.lookup.get(id) else {
            let referrer = stack.last().map(String::as_str).unwrap_or(root);
            return Err(err!(
                DTDLParserError,
                "model {root}: {referrer} extends {id}, which is neither in this upload nor already stored"
            ));
        };
        stack.push(id.to_string());
        let mut deepest = 0;
        for parent in &iface.extends {
            match self.depth(parent, root, stack) {
                Ok(d) => deepest = deepest.max(d + 1),
                Err(e) => {
                    stack.pop();
                    return Err(e);
                }
            }
        }
        stack.pop();
        self.depth.insert(id.to_string(), deepest);
        Ok(deepest)
    }
}

/// No content name is declared by two Interfaces of `iface`'s hierarchy.
fn check_hierarchy_names(lookup: &Lookup, iface: &Interface) -> Result<()> {
    let ancestors = lookup.hierarchy(iface)?;
    let mut declared: BTreeMap<&str, &str> = BTreeMap::new();
    for a in &ancestors {
        for c in &a.contents {
            if let Some(other) = declared.insert(c.name(), &a.id)
                && other != a.id
            {
                return Err(err!(
                    DTDLParserError,
                    "model {}: content '{}' is declared by both {other} and {}, which it inherits from; a name may be declared only once in a hierarchy",
                    iface.id,
                    c.name(),
                    a.id
                ));
            }
        }
    }
    for c in &iface.contents {
        if let Some(parent) = declared.get(c.name()) {
            return Err(err!(
                DTDLParserError,
                "model {}: content '{}' is already declared by {parent}, which it extends; a child Interface cannot redeclare an inherited name (not even identically)",
                iface.id,
                c.name()
            ));
        }
    }
    Ok(())
}

/// Each component's Interface (with everything it inherits) has no components itself.
fn check_components(lookup: &Lookup, iface: &Interface) -> Result<()> {
    for c in iface.components() {
        let target = lookup.require(&c.schema, iface, &format!("component '{}' uses", c.name))?;
        let hierarchy = lookup.hierarchy(&target)?;
        let all = std::iter::once(&*target).chain(hierarchy.iter().map(|f| &**f));
        for t in all {
            if let Some(inner) = t.contents.iter().find(|x| matches!(x, Content::Component(_))) {
                return Err(component_nesting(iface, &c.name, &target.id, &t.id, inner.name()));
            }
        }
    }
    Ok(())
}

fn component_nesting(
    iface: &Interface,
    comp: &str,
    target: &str,
    owner: &str,
    inner: &str,
) -> Error {
    let whose = if owner == target { String::new() } else { format!(" (inherited from {owner})") };
    err!(
        DTDLParserError,
        "model {}: component '{comp}' uses {target}, which has a component of its own ('{inner}'{whose}); Azure Digital Twins allows only one level of component nesting",
        iface.id
    )
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
