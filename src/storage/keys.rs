//! The sled keyspace of the state machine, with order-preserving keys.
//!
//! Everything the state machine owns lives in one sled tree (`graph`), so that one write — the twin,
//! both edge indexes, the counters, the dedupe entry and the applied index — is one atomic
//! `apply_batch`. Each key starts with a one-byte *space* tag; string components are escaped so
//! that a key sorts like the tuple it encodes and a prefix of components is a key prefix:
//! `0x00` becomes `0x00 0xff`, and each string ends with `0x00 0x00`. Integers are big-endian.
//!
//! | space | key                                 | value                                  |
//! |-------|-------------------------------------|----------------------------------------|
//! | 0x01  | twin id                             | twin document (JSON text)              |
//! | 0x02  | source, relationship id             | relationship document (JSON text)      |
//! | 0x03  | target, source, relationship id     | relationship name (text)               |
//! | 0x04  | model id                            | `ModelRecord` (bincode)                |
//! | 0x05  | referenced model, referencing model | empty (who depends on a model)         |
//! | 0x06  | model id, twin id                   | empty (twins by model)                 |
//! | 0x07  | twin id                             | `EdgeCounts` (bincode)                 |
//! | 0x08  | client id, request number           | `DedupeRecord` (bincode)               |
//! | 0x09  | time, client id, request number     | empty (dedupe entries by age)          |
//! | 0x0a  | name                                | region metadata (`applied`, `dr`, raft's) |
//! | 0x0b  | log index                           | a divergent write kept aside (`Command`) |
//! | 0x0c  | name                                | data metadata (`dedupe_count`)         |
//! | 0x0d  | start time, incident id             | an `Incident` (bincode)                |
//! | 0x0e  | time, log index                     | an `AuditRecord` (bincode)             |
//!
//! Spaces 0x01–0x09 and 0x0c are the data: the same bytes in every replica of both DR regions
//! (they are what `Store::fingerprint` covers and what a reseed copies). 0x0a, 0x0b, 0x0d and
//! 0x0e belong to the region ([`region_local`]): raft's state, the DR role, the writes a fenced
//! region kept aside, its incident history, its audit trail.
//!
//! A twin's outgoing edges are the prefix `0x02 source`, its incoming ones `0x03 target`: listing
//! them is a prefix scan, never a full scan.

/// The key spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Space {
    /// Twin documents by id.
    Twin = 0x01,
    /// Outgoing edges: source, relationship id.
    Out = 0x02,
    /// Incoming edges: target, source, relationship id.
    In = 0x03,
    /// Models by id.
    Model = 0x04,
    /// Model dependents: referenced, referencing.
    Dependent = 0x05,
    /// Twins by model: model, twin.
    ModelTwin = 0x06,
    /// Edge counters per twin.
    EdgeCount = 0x07,
    /// Dedupe records: client, request.
    Dedupe = 0x08,
    /// Dedupe records by time: time, client, request.
    DedupeAge = 0x09,
    /// Metadata.
    Meta = 0x0a,
    /// Writes kept aside after a fence: this region's log index.
    Divergent = 0x0b,
    /// Metadata that is part of the replicated data (the same in both DR regions): the dedupe
    /// table's size.
    DataMeta = 0x0c,
    /// Incidents (service-health history): start time, id. Region-local.
    Incident = 0x0d,
    /// The audit trail of administrative operations: time, log index. Region-local.
    Audit = 0x0e,
}

/// Whether a key with this first byte belongs to the region rather than to the replicated data:
/// not covered by the fingerprint, kept by a reseed, never shipped.
pub fn region_local(tag: u8) -> bool {
    tag == Space::Meta as u8
        || tag == Space::Divergent as u8
        || tag == Space::Incident as u8
        || tag == Space::Audit as u8
}

/// Builds a key component by component.
#[derive(Clone, Debug)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key in `space`.
    pub fn new(space: Space) -> Key {
        Key(vec![space as u8])
    }

    /// Appends an escaped, terminated string.
    pub fn s(mut self, s: &str) -> Key {
        for &b in s.as_bytes() {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xff);
            }
        }
        self.0.extend_from_slice(&[0, 0]);
        self
    }

    /// Appends a big-endian integer.
    pub fn u(mut self, n: u64) -> Key {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Reads components back out of a key.
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader over `key`, checking and skipping its space tag.
    pub fn new(key: &'a [u8], space: Space) -> Option<Reader<'a>> {
        match key.split_first() {
            Some((&tag, rest)) if tag == space as u8 => Some(Reader(rest)),
            _ => None,
        }
    }

    /// The next string component.
    pub fn s(&mut self) -> Option<String> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match *self.0.get(i)? {
                0 => match *self.0.get(i + 1)? {
                    0 => break,
                    0xff => {
                        out.push(0);
                        i += 2;
                    }
                    _ => return None,
                },
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.0 = &self.0[i + 2..];
        String::from_utf8(out).ok()
    }

    /// The next integer component.
    pub fn u(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*head))
    }
}

/// Metadata key names.
pub mod meta {
    /// The last applied position (`Applied`).
    pub const APPLIED: &str = "applied";
    /// The number of dedupe records.
    pub const DEDUPE_COUNT: &str = "dedupe_count";
    /// The DR state.
    pub const DR: &str = "dr";
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let k = Key::new(Space::In).s("a\0b").s("").u(42).into_bytes();
        let mut r = Reader::new(&k, Space::In).unwrap();
        assert_eq!(r.s().unwrap(), "a\0b");
        assert_eq!(r.s().unwrap(), "");
        assert_eq!(r.u().unwrap(), 42);
        assert!(Reader::new(&k, Space::Out).is_none());
    }

    proptest! {
        #[test]
        fn order_is_preserved(a in ".*", b in ".*", x in any::<u64>(), y in any::<u64>()) {
            let ka = Key::new(Space::Out).s(&a).u(x).into_bytes();
            let kb = Key::new(Space::Out).s(&b).u(y).into_bytes();
            prop_assert_eq!(ka.cmp(&kb), (a.as_bytes(), x).cmp(&(b.as_bytes(), y)));
        }

        #[test]
        fn a_prefix_of_components_is_a_key_prefix(a in ".*", b in ".*", c in ".*") {
            let whole = Key::new(Space::In).s(&a).s(&b).into_bytes();
            let prefix = Key::new(Space::In).s(&a).into_bytes();
            prop_assert!(whole.starts_with(&prefix));
            let other = Key::new(Space::In).s(&c).into_bytes();
            prop_assert_eq!(whole.starts_with(&other), a == c);
        }
    }
}
