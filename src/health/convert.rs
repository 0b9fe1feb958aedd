//! Incidents between their stored form (`storage::incidents`) and the API's (`pb::Incident`).
//!
//! The API form carries the same facts with names for the enums, so a generic gRPC tool shows
//! them readably; the incidents fetched from the peer region come back through [`from_pb`], which
//! refuses anything it cannot read rather than store half an incident.

use crate::err;
use crate::error::Result;
use crate::model::time::Timestamp;
use crate::pb;
use crate::storage::incidents::{Incident, IncidentKind, IncidentStatus, IncidentUpdate};

fn status(s: &str) -> Result<IncidentStatus> {
    match s {
        "Active" => Ok(IncidentStatus::Active),
        "Mitigated" => Ok(IncidentStatus::Mitigated),
        other => Err(err!(InvalidArgument, "unknown incident status '{other}'")),
    }
}

/// The API form of an incident.
pub fn to_pb(i: &Incident) -> pb::Incident {
    pb::Incident {
        id: i.id.clone(),
        title: i.title(),
        kind: i.kind.as_str().into(),
        cause: i.cause.clone(),
        region: i.region.clone(),
        nodes: i.nodes.clone(),
        owner: i.owner.clone(),
        started_ns: i.started.0,
        status: i.status.as_str().into(),
        mitigated_ns: i.mitigated.map(|t| t.0).unwrap_or(0),
        summary: i.summary.clone(),
        updates: i
            .updates
            .iter()
            .map(|u| pb::IncidentUpdate {
                time_ns: u.time.0,
                status: u.status.as_str().into(),
                message: u.message.clone(),
            })
            .collect(),
        version: i.version,
        pending: false,
    }
}

/// The stored form of an incident received over the API.
pub fn from_pb(p: &pb::Incident) -> Result<Incident> {
    if p.id.is_empty() || p.updates.is_empty() {
        return Err(err!(InvalidArgument, "an incident needs an id and a timeline"));
    }
    let kind = IncidentKind::parse(&p.kind)
        .ok_or_else(|| err!(InvalidArgument, "unknown incident kind '{}'", p.kind))?;
    let updates = p
        .updates
        .iter()
        .map(|u| {
            Ok(IncidentUpdate {
                time: Timestamp(u.time_ns),
                status: status(&u.status)?,
                message: u.message.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Incident {
        id: p.id.clone(),
        kind,
        cause: p.cause.clone(),
        region: p.region.clone(),
        nodes: p.nodes.clone(),
        owner: p.owner.clone(),
        started: Timestamp(p.started_ns),
        status: status(&p.status)?,
        mitigated: (p.mitigated_ns != 0).then_some(Timestamp(p.mitigated_ns)),
        summary: p.summary.clone(),
        updates,
        version: p.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let i = Incident {
            id: "west-3-1".into(),
            kind: IncidentKind::Failover,
            cause: "failover/2".into(),
            region: "east".into(),
            nodes: vec![],
            owner: "east".into(),
            started: Timestamp(5),
            status: IncidentStatus::Mitigated,
            mitigated: Some(Timestamp(9)),
            summary: "forced failover".into(),
            updates: vec![
                IncidentUpdate {
                    time: Timestamp(5),
                    status: IncidentStatus::Active,
                    message: "a".into(),
                },
                IncidentUpdate {
                    time: Timestamp(9),
                    status: IncidentStatus::Mitigated,
                    message: "b".into(),
                },
            ],
            version: 2,
        };
        let p = to_pb(&i);
        assert_eq!(p.title, "twinstore - east - Mitigated");
        assert_eq!(from_pb(&p).unwrap(), i);
        let mut bad = p.clone();
        bad.kind = "meteor".into();
        assert!(from_pb(&bad).is_err());
        bad = p;
        bad.updates.clear();
        assert!(from_pb(&bad).is_err());
    }
}
