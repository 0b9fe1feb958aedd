//! A ring of replication-lag samples, for the status page's chart of the last minutes.
//!
//! Kept in memory by every node (one sample a second by default): the chart is about "now", a
//! restarted node starts a fresh one, and nothing about it needs to be durable or replicated.

use crate::pb;
use std::collections::VecDeque;

/// The last `capacity` samples, oldest first.
#[derive(Clone, Debug)]
pub struct Samples {
    ring: VecDeque<pb::LagSample>,
    capacity: usize,
}

impl Samples {
    /// An empty ring of `capacity` samples.
    pub fn new(capacity: usize) -> Samples {
        Samples { ring: VecDeque::with_capacity(capacity.min(4096)), capacity: capacity.max(1) }
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, s: pb::LagSample) {
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(s);
    }

    /// The time of the newest sample (0 when empty).
    pub fn last_time(&self) -> u64 {
        self.ring.back().map(|s| s.time_ns).unwrap_or(0)
    }

    /// Every sample, oldest first.
    pub fn to_vec(&self) -> Vec<pb::LagSample> {
        self.ring.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let mut s = Samples::new(3);
        for t in 1..=5 {
            s.push(pb::LagSample { time_ns: t, lag_seconds: t as f64, lag_entries: t });
        }
        let v: Vec<u64> = s.to_vec().iter().map(|s| s.time_ns).collect();
        assert_eq!(v, [3, 4, 5]);
        assert_eq!(s.last_time(), 5);
    }
}
