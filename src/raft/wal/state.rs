//! What the WAL holds, in memory: the durable values and *where* each live entry is on disk.
//!
//! The payloads stay on disk. The log may keep up to a million entries behind the purge point for
//! the standby region, and holding them in memory would make the node's RSS track history rather
//! than live data; a [`Loc`] is 16 bytes per entry, and reads are `pread`s.
//!
//! Live writes and recovery change this state through the one function [`State::apply`], so a
//! recovered WAL is exactly the state after the records it replayed — the property the power-cut
//! tests check.
//!
//! The live entries are one contiguous run of indexes (a `VecDeque` from `first`):
//!
//! - an entry at the next index extends the run;
//! - an entry at or below the last one replaces it and everything after (an implicit truncation);
//! - an entry past the next index (after a purge beyond the end of the log, e.g. a snapshot was
//!   installed) starts a new run: the old entries are unreachable, as in any log with a hole.
//!
//! Live entries are also in file order: entry `i + 1` was written after entry `i` (had `i` been
//! written again later, `i + 1` would have been truncated). So the entries of a segment are a
//! stretch of the run, which is what lets [`State::first_above`] pick the segments to delete.

use super::record::{Record, StateRef};
use std::collections::VecDeque;

/// Where a record is: segment number, offset of its header, total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub seg: u32,
    pub len: u32,
    pub off: u64,
}

/// The WAL's logical state.
#[derive(Debug, Default)]
pub(super) struct State {
    pub vote: Option<Vec<u8>>,
    pub committed: Option<Vec<u8>>,
    pub purged: Option<(u64, Vec<u8>)>,
    /// The index of `locs[0]`.
    first: u64,
    locs: VecDeque<Loc>,
}

impl State {
    /// Applies one record; `loc` is where it is (used for entries).
    pub fn apply(&mut self, record: &Record<'_>, loc: Loc) {
        match *record {
            Record::State(s) => {
                self.vote = s.vote.map(<[u8]>::to_vec);
                self.committed = s.committed.map(<[u8]>::to_vec);
                self.purged = s.purged.map(|(i, m)| (i, m.to_vec()));
            }
            Record::Entry { index, .. } => {
                match self.last() {
                    Some(last) if index == last + 1 => {}
                    Some(last) if index >= self.first && index <= last => {
                        self.locs.truncate((index - self.first) as usize);
                    }
                    _ => {
                        self.locs.clear();
                        self.first = index;
                    }
                }
                self.locs.push_back(loc);
            }
            Record::Vote(v) => self.vote = Some(v.to_vec()),
            Record::Committed(c) => self.committed = Some(c.to_vec()),
            Record::TruncateFrom(index) => {
                if index <= self.first {
                    self.locs.clear();
                } else if (index - self.first) < self.locs.len() as u64 {
                    self.locs.truncate((index - self.first) as usize);
                }
            }
            Record::Purge { index, meta } => self.purged = Some((index, meta.to_vec())),
        }
    }

    /// The state record that starts a new segment.
    pub fn state_record(&self) -> Record<'_> {
        Record::State(StateRef {
            vote: self.vote.as_deref(),
            committed: self.committed.as_deref(),
            purged: self.purged.as_ref().map(|(i, m)| (*i, m.as_slice())),
        })
    }

    /// The first live index.
    pub fn first(&self) -> Option<u64> {
        (!self.locs.is_empty()).then_some(self.first)
    }

    /// The last live index.
    pub fn last(&self) -> Option<u64> {
        (!self.locs.is_empty()).then(|| self.first + self.locs.len() as u64 - 1)
    }

    /// Where entry `index` is, if live.
    pub fn loc(&self, index: u64) -> Option<Loc> {
        self.locs.get(usize::try_from(index.checked_sub(self.first)?).ok()?).copied()
    }

    /// The location of the first live entry above `floor`, if any.
    pub fn first_above(&self, floor: u64) -> Option<Loc> {
        let skip = floor.saturating_add(1).saturating_sub(self.first);
        self.locs.get(usize::try_from(skip).ok()?).copied()
    }

    /// Forgets the live entries in segments numbered below `seg` (they are being deleted).
    pub fn forget_below(&mut self, seg: u32) {
        while self.locs.front().is_some_and(|l| l.seg < seg) {
            self.locs.pop_front();
            self.first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(off: u64) -> Loc {
        Loc { seg: (off / 100) as u32, len: 1, off }
    }

    fn entry(s: &mut State, index: u64, off: u64) {
        s.apply(&Record::Entry { index, payload: b"" }, at(off));
    }

    #[test]
    fn the_live_run_follows_appends_truncations_and_holes() {
        let mut s = State::default();
        assert_eq!((s.first(), s.last()), (None, None));
        for i in 5..=9 {
            entry(&mut s, i, i * 10);
        }
        assert_eq!((s.first(), s.last()), (Some(5), Some(9)));
        assert_eq!(s.loc(7), Some(at(70)));
        assert_eq!(s.loc(4), None);
        assert_eq!(s.loc(10), None);
        s.apply(&Record::TruncateFrom(8), at(0));
        assert_eq!(s.last(), Some(7));
        s.apply(&Record::TruncateFrom(20), at(0));
        assert_eq!(s.last(), Some(7));
        entry(&mut s, 8, 200);
        assert_eq!(s.loc(8), Some(at(200)));
        // Implicit truncation.
        entry(&mut s, 6, 300);
        assert_eq!((s.first(), s.last()), (Some(5), Some(6)));
        assert_eq!(s.loc(6), Some(at(300)));
        // A hole starts a new run.
        entry(&mut s, 20, 400);
        assert_eq!((s.first(), s.last()), (Some(20), Some(20)));
        s.apply(&Record::TruncateFrom(3), at(0));
        assert_eq!(s.first(), None);
    }

    #[test]
    fn segments_below_are_forgotten_and_the_first_above_a_floor_is_found() {
        let mut s = State::default();
        for i in 1..=10 {
            entry(&mut s, i, i * 50); // two entries per segment number
        }
        assert_eq!(s.first_above(0), Some(at(50)));
        assert_eq!(s.first_above(4), Some(at(250)));
        assert_eq!(s.first_above(10), None);
        assert_eq!(s.first_above(u64::MAX), None);
        s.forget_below(3);
        assert_eq!(s.first(), Some(6));
        assert_eq!(s.loc(6), Some(at(300)));
    }

    #[test]
    fn a_state_record_sets_every_value() {
        let mut s = State::default();
        s.apply(&Record::Vote(b"v1"), at(0));
        s.apply(&Record::Purge { index: 4, meta: b"p" }, at(0));
        let copy = {
            let mut t = State::default();
            t.apply(&s.state_record(), at(0));
            t
        };
        assert_eq!(copy.vote.as_deref(), Some(&b"v1"[..]));
        assert_eq!(copy.committed, None);
        assert_eq!(copy.purged, Some((4, b"p".to_vec())));
    }
}
