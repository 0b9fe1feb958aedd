//! Timestamps as ADT writes them (`2022-02-28T00:30:00.1234567Z`: UTC, seven fractional digits).
//!
//! A [`Timestamp`] is decided once, by the node that accepts a write, and carried inside the
//! command; apply only formats it. Nothing in this module reads the clock except [`Timestamp::now`],
//! which the API layer calls before proposing.

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch, UTC.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time. Only for the node that *proposes* a command, never in apply.
    pub fn now() -> Timestamp {
        let d =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(d.as_nanos() as u64)
    }

    /// Formats as ADT does: RFC 3339 in UTC with 7 fractional digits.
    pub fn to_adt_string(self) -> String {
        let secs = (self.0 / 1_000_000_000) as i64;
        let ticks = (self.0 % 1_000_000_000) / 100;
        let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
        format!("{}.{ticks:07}Z", dt.format("%Y-%m-%dT%H:%M:%S"))
    }

    /// Seconds since the epoch, for coarse comparisons.
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
}

/// Checks a client-supplied ISO 8601 / RFC 3339 date-time (a `sourceTime`).
pub fn is_rfc3339(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_adt() {
        assert_eq!(Timestamp(0).to_adt_string(), "1970-01-01T00:00:00.0000000Z");
        let t = Timestamp(1_646_008_200_123_456_789);
        assert_eq!(t.to_adt_string(), "2022-02-28T00:30:00.1234567Z");
        assert!(is_rfc3339(&t.to_adt_string()));
    }

    #[test]
    fn checks_source_times() {
        assert!(is_rfc3339("2022-05-31T12:00:00.000125009Z"));
        assert!(is_rfc3339("2022-05-31T12:00:00+02:00"));
        assert!(!is_rfc3339("yesterday"));
        assert!(!is_rfc3339("2022-05-31"));
    }
}
