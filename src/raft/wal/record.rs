//! One record of the WAL, as bytes on disk.
//!
//! ```text
//! +-------------+-------------+--------+----------------+
//! | len: u32 LE | crc: u32 LE | kind u8 | body           |
//! +-------------+-------------+--------+----------------+
//!   len = 1 + body length; crc = CRC-32C over (len bytes, kind, body)
//! ```
//!
//! The checksum covers the length word too, so a torn or zeroed length is caught like any other
//! damage instead of sending the reader off to a random offset. A zero length is never written
//! (every record has a kind), which is how a zero-filled tail — a file extended by the file system
//! but whose data never reached the disk — is recognised.
//!
//! Bodies (all integers little-endian):
//!
//! | kind | record         | body                                                          |
//! |------|----------------|---------------------------------------------------------------|
//! | 1    | state          | flags u8, then per flag: vote, committed (u32 len + bytes), purged (u64 index + u32 len + bytes) |
//! | 2    | entry          | index u64, payload                                            |
//! | 3    | vote           | bytes                                                         |
//! | 4    | committed      | bytes                                                         |
//! | 5    | truncate-from  | index u64                                                     |
//! | 6    | purge          | index u64, bytes                                              |
//!
//! Every segment starts with a state record (the vote, committed position and purge point as of
//! the segment's creation), so a segment never depends on the ones before it for anything but log
//! entries, and old segments can be deleted whole. The WAL knows nothing of what the byte strings
//! mean: the raft layer encodes its own types into them.

use std::fmt;

/// The bytes before a record's kind: its length word and checksum.
pub(super) const HEADER: usize = 8;

const STATE: u8 = 1;
const ENTRY: u8 = 2;
const VOTE: u8 = 3;
const COMMITTED: u8 = 4;
const TRUNCATE: u8 = 5;
const PURGE: u8 = 6;

/// The durable values a state record carries; borrowed from a buffer or from the WAL's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct StateRef<'a> {
    pub vote: Option<&'a [u8]>,
    pub committed: Option<&'a [u8]>,
    pub purged: Option<(u64, &'a [u8])>,
}

/// A record, borrowing its byte strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Record<'a> {
    /// The state at the start of a segment.
    State(StateRef<'a>),
    /// A log entry at `index`.
    Entry { index: u64, payload: &'a [u8] },
    /// The vote.
    Vote(&'a [u8]),
    /// The committed position.
    Committed(&'a [u8]),
    /// Entries at `index` and above are gone.
    TruncateFrom(u64),
    /// The log is purged up to `index` (inclusive), whose id is `meta`.
    Purge { index: u64, meta: &'a [u8] },
}

/// Why the bytes at an offset are not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// The file ends inside the record (a write cut short).
    Short { need: usize, have: usize },
    /// A zero length word: zero-filled space, never written.
    Zero,
    /// The checksum does not match.
    Checksum { stored: u32, computed: u32 },
    /// The checksum matches but the body makes no sense (a bug, or a newer format).
    Malformed(String),
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Short { need, have } => {
                write!(f, "a record cut short ({have} of {need} bytes present)")
            }
            Bad::Zero => f.write_str("zero-filled bytes where a record should start"),
            Bad::Checksum { stored, computed } => {
                write!(f, "a checksum mismatch (stored {stored:08x}, computed {computed:08x})")
            }
            Bad::Malformed(why) => write!(f, "a malformed record: {why}"),
        }
    }
}

/// Appends `record`, framed, to `out`.
pub(super) fn encode(record: &Record<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    match record {
        Record::State(s) => {
            out.push(STATE);
            let flags = u8::from(s.vote.is_some())
                | (u8::from(s.committed.is_some()) << 1)
                | (u8::from(s.purged.is_some()) << 2);
            out.push(flags);
            for bytes in [s.vote, s.committed].into_iter().flatten() {
                put_bytes(out, bytes);
            }
            if let Some((index, meta)) = s.purged {
                out.extend_from_slice(&index.to_le_bytes());
                put_bytes(out, meta);
            }
        }
        Record::Entry { index, payload } => {
            out.push(ENTRY);
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(payload);
        }
        Record::Vote(v) => {
            out.push(VOTE);
            out.extend_from_slice(v);
        }
        Record::Committed(c) => {
            out.push(COMMITTED);
            out.extend_from_slice(c);
        }
        Record::TruncateFrom(index) => {
            out.push(TRUNCATE);
            out.extend_from_slice(&index.to_le_bytes());
        }
        Record::Purge { index, meta } => {
            out.push(PURGE);
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(meta);
        }
    }
    let len = u32::try_from(out.len() - start - HEADER).expect("a WAL record under 4 GiB");
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), &out[start + HEADER..]);
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// The record at `at` in `buf` and the offset just past it; `Ok(None)` at the end of `buf`.
pub(super) fn decode(buf: &[u8], at: usize) -> Result<Option<(Record<'_>, usize)>, Bad> {
    let rest = &buf[at..];
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < HEADER {
        // A few zero bytes at the very end are zero fill too, not a short record.
        if rest.iter().all(|&b| b == 0) {
            return Err(Bad::Zero);
        }
        return Err(Bad::Short { need: HEADER, have: rest.len() });
    }
    let len_word: [u8; 4] = rest[..4].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_word) as usize;
    if len == 0 {
        return Err(Bad::Zero);
    }
    let need = HEADER + len;
    if rest.len() < need {
        return Err(Bad::Short { need, have: rest.len() });
    }
    let stored = u32::from_le_bytes(rest[4..HEADER].try_into().expect("4 bytes"));
    let data = &rest[HEADER..need];
    let computed = crc32c::crc32c_append(crc32c::crc32c(&len_word), data);
    if stored != computed {
        return Err(Bad::Checksum { stored, computed });
    }
    let record = parse(data[0], &data[1..]).map_err(Bad::Malformed)?;
    Ok(Some((record, at + need)))
}

fn parse(kind: u8, body: &[u8]) -> Result<Record<'_>, String> {
    let mut r = Cursor(body);
    let record = match kind {
        STATE => {
            let flags = r.u8()?;
            if flags & !0b111 != 0 {
                return Err(format!("unknown state flags {flags:#x}"));
            }
            let vote = if flags & 1 != 0 { Some(r.bytes()?) } else { None };
            let committed = if flags & 2 != 0 { Some(r.bytes()?) } else { None };
            let purged = if flags & 4 != 0 { Some((r.u64()?, r.bytes()?)) } else { None };
            r.end()?;
            Record::State(StateRef { vote, committed, purged })
        }
        ENTRY => Record::Entry { index: r.u64()?, payload: r.rest() },
        VOTE => Record::Vote(r.rest()),
        COMMITTED => Record::Committed(r.rest()),
        TRUNCATE => {
            let index = r.u64()?;
            r.end()?;
            Record::TruncateFrom(index)
        }
        PURGE => Record::Purge { index: r.u64()?, meta: r.rest() },
        k => return Err(format!("unknown record kind {k}")),
    };
    Ok(record)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a WAL value under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a record body front to back.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("{n} bytes needed, {} left", self.0.len()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        self.take(len as usize)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn end(&self) -> Result<(), String> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(format!("{n} trailing bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Record<'static>> {
        vec![
            Record::State(StateRef::default()),
            Record::State(StateRef {
                vote: Some(b"v"),
                committed: Some(b""),
                purged: Some((7, b"p7")),
            }),
            Record::State(StateRef { vote: None, committed: Some(b"c"), purged: None }),
            Record::Entry { index: 42, payload: b"hello" },
            Record::Entry { index: u64::MAX, payload: b"" },
            Record::Vote(b"vote"),
            Record::Committed(b"c"),
            Record::TruncateFrom(9),
            Record::Purge { index: 3, meta: b"m" },
        ]
    }

    #[test]
    fn records_round_trip_back_to_back() {
        let mut buf = Vec::new();
        for r in all() {
            encode(&r, &mut buf);
        }
        let mut at = 0;
        let mut back = Vec::new();
        while let Some((r, next)) = decode(&buf, at).unwrap() {
            back.push(r);
            at = next;
        }
        assert_eq!(back, all());
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_detected() {
        let mut buf = Vec::new();
        encode(&Record::Entry { index: 5, payload: b"some payload" }, &mut buf);
        for cut in 1..buf.len() {
            let e = decode(&buf[..cut], 0).unwrap_err();
            assert!(matches!(e, Bad::Short { .. } | Bad::Zero), "cut at {cut}: {e:?}");
        }
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(decode(&bad, 0).is_err(), "flip of bit {bit} of byte {byte} undetected");
            }
        }
        assert_eq!(decode(&[0u8; 64], 0).unwrap_err(), Bad::Zero);
        assert_eq!(decode(&[0u8; 3], 0).unwrap_err(), Bad::Zero);
    }
}
