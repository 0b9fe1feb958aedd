//! Replication progress and latency, as the standby's leader sees it.
//!
//! Kept in memory by the node that runs the shipper: how far the primary is, when the standby was
//! last known to hold everything, and a histogram of how long each applied batch took from the
//! primary's commit (its command time) to being applied here. A new leader starts afresh.

use crate::model::time::Timestamp;
use hdrhistogram::Histogram;

/// The standby's view of replication.
pub struct Lag {
    /// The primary's applied index, from the newest message received (applied here or not).
    pub primary_applied: u64,
    /// Whether the shipper is connected to the primary now.
    pub connected: bool,
    /// Why the shipper is not connected (its last error).
    pub error: String,
    /// The primary's time as of which this region held everything it had.
    pub caught_up_as_of: Option<Timestamp>,
    /// Commit-to-apply latency of applied batches, in microseconds.
    pub latency: Histogram<u64>,
}

impl Default for Lag {
    fn default() -> Self {
        Lag {
            primary_applied: 0,
            connected: false,
            error: String::new(),
            caught_up_as_of: None,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl Lag {
    /// Records a batch applied now whose newest write the primary committed at `committed`.
    pub fn record(&mut self, committed: Timestamp) {
        let now = Timestamp::now();
        let micros = now.0.saturating_sub(committed.0) / 1000;
        let _ = self.latency.record(micros.max(1));
    }

    /// A percentile of the latency, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}
