//! Access paths: how the first twins (or relationships) of a query are found.
//!
//! The planner hands over the query's top-level AND terms; the first that can narrow the anchor's
//! candidates is turned into an [`Access`] and removed (the access path implies it):
//!
//! - `X.$dtId = 'id'`, `X.$dtId IN [...]`, or an OR of those on one twin: key lookups (the twin
//!   pinned to the fewest ids wins);
//! - `IS_OF_MODEL(X, 'dtmi')`: the twins-by-model index of every model that is one of `dtmi`
//!   ([`models_of`]);
//! - on `FROM RELATIONSHIPS`, `$sourceId` (a prefix of the out-edges) or `$targetId` (the in-edge
//!   index);
//! - otherwise a scan of the first collection.

use super::ast::CmpOp;
use super::planner::{Pred, Slot, SlotKind, Term};
use crate::error::Result;
use crate::model::dtmi::split_version;
use crate::storage::Store;
use std::collections::HashSet;

/// How the anchor's candidates are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// These twins, by key.
    TwinIds(Vec<String>),
    /// The twins of these models (exactly), through the twins-by-model index.
    TwinModels(Vec<String>),
    /// Every twin.
    TwinScan,
    /// The outgoing relationships of these twins.
    RelSources(Vec<String>),
    /// The incoming relationships of these twins, through the in-edge index.
    RelTargets(Vec<String>),
    /// Every relationship.
    RelScan,
}

/// The string values a term pins `slot.<field>` to: `X.field = 's'`, `X.field IN [...]`, or an
/// OR of those. Values that are not strings can never equal an id and are left out.
fn pinned(p: &Pred, field: &str) -> Option<(usize, Vec<String>)> {
    let is_field = |t: &Term| match t {
        Term::Ref(r) if r.path.len() == 1 && r.path[0] == field => Some(r.slot),
        _ => None,
    };
    match p {
        Pred::Cmp(a, CmpOp::Eq, b) => {
            let (slot, lit) = match (is_field(a), is_field(b), a, b) {
                (Some(s), _, _, Term::Lit(v)) => (s, v),
                (_, Some(s), Term::Lit(v), _) => (s, v),
                _ => return None,
            };
            Some((slot, lit.as_str().map(|s| vec![s.to_string()]).unwrap_or_default()))
        }
        Pred::In(t, list, false) => {
            let slot = is_field(t)?;
            Some((slot, list.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()))
        }
        Pred::Or(ps) => {
            let mut slot = None;
            let mut all = Vec::new();
            for p in ps {
                let (s, values) = pinned(p, field)?;
                if slot.is_some_and(|x| x != s) {
                    return None;
                }
                slot = Some(s);
                all.extend(values);
            }
            Some((slot?, all))
        }
        _ => None,
    }
}

fn dedupe(values: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values.into_iter().filter(|v| seen.insert(v.clone())).collect()
}

/// Picks the anchor slot and its access path, removing the term the access path implies.
pub(super) fn choose_access(slots: &[Slot], terms: &mut Vec<Pred>) -> (usize, Access) {
    if slots[0].kind == SlotKind::Relationship {
        for (field, make) in [
            ("$sourceId", Access::RelSources as fn(Vec<String>) -> Access),
            ("$targetId", Access::RelTargets as fn(Vec<String>) -> Access),
        ] {
            if let Some(i) =
                terms.iter().position(|t| pinned(t, field).is_some_and(|(s, _)| s == 0))
            {
                let (_, values) = pinned(&terms.remove(i), field).unwrap_or_default();
                return (0, make(dedupe(values)));
            }
        }
        return (0, Access::RelScan);
    }
    // The twin slot pinned to the fewest ids.
    let best = terms
        .iter()
        .enumerate()
        .filter_map(|(i, t)| pinned(t, "$dtId").map(|(slot, ids)| (i, slot, ids)))
        .filter(|(_, slot, _)| slots[*slot].kind == SlotKind::Twin)
        .min_by_key(|(_, _, ids)| ids.len());
    if let Some((i, slot, _)) = best {
        let (_, ids) = pinned(&terms.remove(i), "$dtId").unwrap_or_default();
        return (slot, Access::TwinIds(dedupe(ids)));
    }
    if let Some(i) = terms.iter().position(|t| matches!(t, Pred::IsOfModel(..)))
        && let Pred::IsOfModel(slot, models) = terms.remove(i)
    {
        let mut models: Vec<String> = models.iter().cloned().collect();
        models.sort();
        return (slot, Access::TwinModels(models));
    }
    let first_twin = slots.iter().position(|s| s.kind == SlotKind::Twin).unwrap_or(0);
    (first_twin, Access::TwinScan)
}

/// Every stored model a twin may have for `IS_OF_MODEL(target)` to hold: with `exact`, only the
/// target; otherwise every model whose ancestors (itself included) hold the target's DTMI at the
/// same or a later major version. A model that cannot be resolved counts as only itself.
pub fn models_of(store: &Store, target: &str, exact: bool) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    if exact {
        out.insert(target.to_string());
        return Ok(out);
    }
    let (path, version) = split_version(target);
    let matches = |ancestor: &str| {
        if ancestor == target {
            return true;
        }
        let (p, v) = split_version(ancestor);
        p == path
            && match (version, v) {
                (None, _) => true,
                (Some(want), Some(v)) => v >= want,
                (Some(_), None) => false,
            }
    };
    for id in store.model_ids() {
        let id = id?;
        let is = match store.resolved(&id) {
            Ok(m) => m.ancestors.iter().any(|a| matches(a)),
            Err(_) => matches(&id),
        };
        if is {
            out.insert(id);
        }
    }
    Ok(out)
}
