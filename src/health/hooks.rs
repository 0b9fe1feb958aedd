//! Incidents recorded around the DR operations an operator starts: failover (planned or forced),
//! failback and reprotect.
//!
//! These are events, not conditions: the API layer calls [`Health::failover_started`] before the
//! operation and [`Health::failover_finished`] after it, on the leader of the region being
//! changed (where the operation runs). The incident opens `Active` and is mitigated when the
//! operation ends, with its outcome — for a forced failover the RPO actually taken. Recording is
//! best effort: a failure to record never fails the operation itself.
//!
//! A planned failover to a region that was the primary before (it was fenced at some point) is a
//! failback.

use super::Health;
use super::detect::duration_words;
use crate::dr::failover::Report;
use crate::error::Error;
use crate::model::time::Timestamp;
use crate::storage::Op;
use crate::storage::dr::Position;
use crate::storage::incidents::{Incident, IncidentKind, IncidentStatus, IncidentUpdate};
use std::time::Duration;

impl Health {
    async fn open_event(
        &self,
        kind: IncidentKind,
        cause: String,
        message: String,
    ) -> Option<Incident> {
        let now = Timestamp::now();
        let region = self.dr().region.clone();
        let incident = Incident {
            id: self.new_id(),
            kind,
            cause,
            region: region.clone(),
            nodes: Vec::new(),
            owner: region,
            started: now,
            status: IncidentStatus::Active,
            mitigated: None,
            summary: message.clone(),
            updates: vec![IncidentUpdate { time: now, status: IncidentStatus::Active, message }],
            version: 1,
        };
        match self.propose(Op::RecordIncident { incident: incident.clone() }).await {
            Ok(()) => Some(incident),
            Err(e) => {
                tracing::warn!("could not record the start of a {}: {e}", kind.as_str());
                None
            }
        }
    }

    async fn close_event(&self, incident: Option<Incident>, message: String, summary: String) {
        let Some(i) = incident else { return };
        let op = Op::UpdateIncident {
            id: i.id.clone(),
            version: i.version + 1,
            update: IncidentUpdate {
                time: Timestamp::now(),
                status: IncidentStatus::Mitigated,
                message,
            },
            summary: Some(summary),
        };
        if let Err(e) = self.propose(op).await {
            tracing::warn!("could not record the end of incident {}: {e}", i.id);
        }
    }

    /// A failover to this region is starting (call on its leader).
    pub async fn failover_started(&self, planned: bool) -> Option<Incident> {
        let dr = self.dr().store.dr().ok()?;
        let was_primary = dr.fenced_at.is_some();
        let kind =
            if planned && was_primary { IncidentKind::Failback } else { IncidentKind::Failover };
        let peer = dr.peer.map(|p| p.name).unwrap_or_else(|| "?".into());
        let what = match (planned, kind) {
            (true, IncidentKind::Failback) => "planned failback",
            (true, _) => "planned failover",
            (false, _) => "forced failover",
        };
        let message = format!(
            "{what} from region '{peer}' to region '{}' started (epoch {} to {})",
            self.dr().region,
            dr.epoch,
            dr.epoch + 1
        );
        self.open_event(kind, format!("failover/{}", dr.epoch + 1), message).await
    }

    /// The failover ended; `rpo` is the data-loss window a forced failover took.
    pub async fn failover_finished(
        &self,
        started: Option<Incident>,
        planned: bool,
        outcome: Result<&Report, &Error>,
    ) {
        let Some(i) = started else { return };
        let (message, summary) = match outcome {
            Ok(r) => {
                let rpo = if planned {
                    Duration::ZERO
                } else {
                    Duration::from_nanos(Timestamp::now().0.saturating_sub(r.at_time.0))
                };
                let detail = if planned {
                    format!(
                        "no data lost (RPO 0); writes paused for {:.0} ms",
                        r.write_pause.as_secs_f64() * 1000.0
                    )
                } else {
                    format!(
                        "RPO {}: the region holds the old primary's history up to {}:{} ({}); \
                         at least {} log entries after it (by the old primary's last reported \
                         position) were not carried over",
                        duration_words(rpo),
                        r.at.epoch,
                        r.at.index,
                        r.at_time.to_adt_string(),
                        r.lost_estimate
                    )
                };
                let message = format!(
                    "completed: region '{}' is the primary at epoch {}; {detail}",
                    self.dr().region,
                    r.epoch
                );
                (message.clone(), format!("{} — {message}.", i.summary))
            }
            Err(e) => {
                let message = format!("failed, nothing was promoted: {e}");
                (message.clone(), format!("{} — {message}.", i.summary))
            }
        };
        self.close_event(Some(i), message, summary).await;
    }

    /// A reprotect of this region (a former primary) is starting.
    pub async fn reprotect_started(&self) -> Option<Incident> {
        let dr = self.dr().store.dr().ok()?;
        let peer = dr.peer.map(|p| p.name).unwrap_or_else(|| "?".into());
        let message = format!(
            "reprotect started: region '{}' becomes the standby of region '{peer}'",
            self.dr().region
        );
        self.open_event(IncidentKind::Reprotect, format!("reprotect/{}", dr.epoch), message).await
    }

    /// The reprotect ended.
    pub async fn reprotect_finished(
        &self,
        started: Option<Incident>,
        outcome: Result<(u64, Position), &Error>,
    ) {
        let Some(i) = started else { return };
        let message = match outcome {
            Ok((kept, at)) => format!(
                "completed: reseeded at {}:{}; {kept} write(s) the new primary never received are \
                 kept aside (`twinstore dr divergent`)",
                at.epoch, at.index
            ),
            Err(e) => format!("failed: {e}"),
        };
        let summary = format!("{} — {message}.", i.summary);
        self.close_event(Some(i), message, summary).await;
    }
}
