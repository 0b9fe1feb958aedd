//! Opening a WAL: replaying its segments, repairing a torn tail, refusing real damage.
//!
//! Segments are replayed oldest first, every record through [`State::apply`]. What a bad record
//! (see [`Bad`](super::record::Bad)) means depends on where it is:
//!
//! - In the **last** segment it is the tail of a write that a crash cut short: only bytes written
//!   after the last `fdatasync` can be torn, and nothing after them was acknowledged. The segment
//!   is cut at the first bad record (logged with file and offset) and synced. A last segment whose
//!   very first record is bad never finished being created (creation syncs it before any write
//!   goes there): it is removed.
//! - In an **earlier** segment it is damage to bytes that were synced — a cut syncs the segment it
//!   leaves. Guessing would risk a replica silently forgetting acknowledged entries, so opening
//!   fails with an error naming the file and offset, for an operator to look at (or to rebuild the
//!   node from its peers).
//!
//! Finally the last segment is synced whole: after a process crash (not a power cut) the page
//! cache may still hold writes that were never synced, and raft must not be told about entries
//! that a later power cut could take away.

use super::disk::Disk;
use super::record::{self, Record};
use super::state::{Loc, State};
use super::{Segment, new_segment, parse_segment_name};
use std::collections::VecDeque;
use std::io;

/// The state and segments found in `disk` (a first segment is created if there is none).
pub(super) fn recover(disk: &dyn Disk) -> io::Result<(State, VecDeque<Segment>)> {
    let mut names: Vec<(u32, String)> =
        disk.list()?.into_iter().filter_map(|n| Some((parse_segment_name(&n)?, n))).collect();
    names.sort();
    let mut state = State::default();
    let mut segments = VecDeque::new();
    let count = names.len();
    for (i, (seq, name)) in names.into_iter().enumerate() {
        let last = i + 1 == count;
        let file = disk.open(&name)?;
        let mut data = vec![0; usize::try_from(file.len()?).map_err(io::Error::other)?];
        file.read_at(&mut data, 0)?;
        let mut at = 0;
        let damage = loop {
            match record::decode(&data, at) {
                Ok(None) if at == 0 => break Some("an empty segment".to_string()),
                Ok(None) => break None,
                Ok(Some((r, _))) if at == 0 && !matches!(r, Record::State(_)) => {
                    break Some("a segment that does not start with a state record".to_string());
                }
                Ok(Some((r, next))) => {
                    let len = u32::try_from(next - at).expect("a record under 4 GiB");
                    state.apply(&r, Loc { seg: seq, len, off: at as u64 });
                    at = next;
                }
                Err(bad) => break Some(bad.to_string()),
            }
        };
        if let Some(why) = damage {
            let file_name = disk.describe(&name);
            if !last {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the raft WAL segment {file_name} is damaged at offset {at}: {why}; it is \
                         not the last segment, so these are synced, acknowledged records. \
                         Refusing to start: restore the node from its peers (or a backup)"
                    ),
                ));
            }
            if at == 0 {
                tracing::warn!(
                    "raft WAL: removing {file_name}, a segment whose creation a crash cut short \
                     ({why} at offset 0)"
                );
                drop(file);
                disk.remove(&name)?;
                disk.sync_dir()?;
                continue;
            }
            tracing::warn!(
                "raft WAL: cutting {file_name} at offset {at} (of {}): {why} — the tail of a write \
                 a crash cut short",
                data.len()
            );
            file.truncate(at as u64)?;
        }
        segments.push_back(Segment { seq, name, file, len: at as u64 });
    }
    match segments.back() {
        Some(current) => {
            current.file.sync_data()?;
            disk.sync_dir()?;
        }
        None => segments.push_back(new_segment(disk, 0, 0, &state)?),
    }
    Ok((state, segments))
}
