//! One node's DR status: its region's role and epoch, whether it is fenced, and on a standby how
//! far behind the primary it is.
//!
//! Everything that shows or acts on DR reads it from here — `DrService.Status` (and through it
//! the client library and `twinstore dr status`), the health reports and the incident monitor — so
//! "how far behind" has one definition: the standby's leader knows the primary's newest applied
//! index (from the shipped messages it has received) and the primary's time as of which the
//! standby held everything; another node of the standby region knows only the primary's time of
//! what it has applied itself.

use super::Dr;
use crate::error::Result;
use crate::model::time::Timestamp;
use crate::storage::dr::{DrState, Position, Role};

/// A node's DR status, now.
#[derive(Clone, Debug)]
pub struct DrStatus {
    /// The region's replicated DR state. A node started as part of a standby region whose role is
    /// not recorded yet says standby at epoch 0, never primary.
    pub state: DrState,
    /// Whether this node leads its region.
    pub leader: bool,
    /// A former primary, fenced and not yet reprotected: it refuses writes and follows nobody.
    pub awaiting_reprotect: bool,
    /// On a standby region (following a primary): how far behind it is.
    pub lag: Option<Lag>,
}

/// How far a standby is behind its primary, as this node knows it.
#[derive(Clone, Debug, Default)]
pub struct Lag {
    /// Whether this node runs the shipper (it leads a standby region that follows a primary).
    pub shipping: bool,
    /// Log entries (shipped messages) the primary has applied that this region has not (known
    /// only where the shipper runs; 0 elsewhere).
    pub entries: u64,
    /// The primary's time as of which this region held everything it had.
    pub as_of: Timestamp,
    /// Seconds since `as_of` (0 when nothing is known yet).
    pub seconds: f64,
    /// Whether the shipper is connected to the primary.
    pub connected: bool,
    /// Why it is not (its last error).
    pub error: String,
    /// Commit-to-apply latency of the shipped batches: median, 99th percentile and maximum in
    /// milliseconds, and how many batches were measured (this leader's term only).
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// See `p50_ms`.
    pub max_ms: f64,
    /// See `p50_ms`.
    pub samples: u64,
}

/// A region fenced and not yet reprotected: a former primary that refuses writes and follows
/// nobody.
pub fn awaiting_reprotect(dr: &DrState) -> bool {
    dr.role == Role::Standby && dr.fenced_at.is_some() && dr.upstream == Position::default()
}

impl Dr {
    /// This node's DR status, now.
    pub fn status(&self) -> Result<DrStatus> {
        let mut state = self.store.dr()?;
        if self.node.configured_standby() && !self.store.dr_recorded()? {
            state.role = Role::Standby;
            state.epoch = 0;
        }
        let leader = self.is_leader();
        let fenced = awaiting_reprotect(&state);
        let lag = (state.role == Role::Standby && !fenced).then(|| {
            let shipping = leader && state.peer.is_some();
            let l = self.lag.lock().unwrap_or_else(|e| e.into_inner());
            let as_of = match l.caught_up_as_of {
                Some(t) if shipping => t.max(state.replicated_time),
                _ => state.replicated_time,
            };
            let seconds = match as_of.0 {
                0 => 0.0,
                t => Timestamp::now().0.saturating_sub(t) as f64 / 1e9,
            };
            if !shipping {
                return Lag { as_of, seconds, ..Lag::default() };
            }
            Lag {
                shipping,
                entries: l.primary_applied.saturating_sub(state.upstream.index),
                as_of,
                seconds,
                connected: l.connected,
                error: l.error.clone(),
                p50_ms: l.percentile_ms(0.5),
                p99_ms: l.percentile_ms(0.99),
                max_ms: l.percentile_ms(1.0),
                samples: l.latency.len(),
            }
        });
        Ok(DrStatus { state, leader, awaiting_reprotect: fenced, lag })
    }
}
