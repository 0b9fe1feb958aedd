//! ETags.
//!
//! An ETag is a pure function of the *origin position* of the write that produced it: the DR epoch,
//! the log index in the region that accepted the write, and the write's place (slot) in that log
//! entry — many client writes share one raft entry, so the index alone does not tell them apart. Every replica in both regions computes
//! the same ETag for the same write (the standby region's own log indexes never feed it), and an
//! ETag a client holds stays valid across a failover. Two different writes never share a position,
//! so every update gets a new ETag, as ADT promises.
//!
//! The text looks like ADT's (`W/"<uuid>"`) and clients must treat it as opaque and compare it by
//! equality only.

use serde::{Deserialize, Serialize};

/// Where a write was first accepted: the DR epoch of the region that accepted it, the index in
/// that region's log, and its place in that entry (0 for an entry that holds one write; writes
/// batched into one entry take slots 0, 1, 2, ...).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Origin {
    /// The DR epoch the write was accepted under.
    pub epoch: u64,
    /// The log index it had in the region that accepted it.
    pub index: u64,
    /// Its place in the entry at `index`.
    pub slot: u32,
}

impl Origin {
    /// The position of the only (or first) write of the entry at `index`.
    pub fn at(epoch: u64, index: u64) -> Origin {
        Origin { epoch, index, slot: 0 }
    }
}

/// The ETag of the write at `origin`: the epoch (48 bits), the slot (32 bits) and the index (48
/// bits) laid out as a UUID's groups. Epochs and slots never come near their bounds.
pub fn etag(origin: Origin) -> String {
    let i = origin.index;
    format!(
        "W/\"{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}\"",
        origin.epoch as u32,
        (origin.epoch >> 32) as u16,
        (origin.slot >> 16) as u16,
        origin.slot as u16,
        (i >> 32) as u16,
        i as u32
    )
}

/// Does an `If-Match` value accept an entity whose current ETag is `current`? `*` accepts any
/// existing entity; otherwise the values must be equal.
pub fn if_match_accepts(if_match: &str, current: &str) -> bool {
    if_match == "*" || if_match == current
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn etags_look_like_adt_and_are_unique_per_position() {
        let a = etag(Origin::at(1, 42));
        assert_eq!(a, "W/\"00000001-0000-0000-0000-00000000002a\"");
        let b = etag(Origin { epoch: 1, index: 42, slot: 3 });
        assert_eq!(b, "W/\"00000001-0000-0000-0003-00000000002a\"");
        let mut seen = HashSet::new();
        for epoch in [0, 1, 2, 1 << 40] {
            for index in [0, 1, 2, 1 << 40, 1 << 47] {
                for slot in [0, 1, 255, 70_000] {
                    assert!(seen.insert(etag(Origin { epoch, index, slot })));
                }
            }
        }
    }

    #[test]
    fn etags_are_pure() {
        let o = Origin { epoch: 7, index: 123_456, slot: 2 };
        assert_eq!(etag(o), etag(o));
    }

    #[test]
    fn if_match() {
        assert!(if_match_accepts("*", "W/\"x\""));
        assert!(if_match_accepts("W/\"x\"", "W/\"x\""));
        assert!(!if_match_accepts("W/\"y\"", "W/\"x\""));
    }
}
