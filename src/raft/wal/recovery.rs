//! Opening a WAL: replaying its segments, repairing a torn tail, refusing real damage.
//!
//! Segments are replayed oldest first, every record through [`State::apply`]. A segment's records
//! end at its *logical end*: the end of the file, or the start of the zero fill that preallocated
//! it ([`prealloc`](super::prealloc)) — a zero length word followed only by zeros. That is a clean
//! end, neither warned about nor cut away: the preallocation is kept and appends go on from there.
//! What a bad record (see [`Bad`](super::record::Bad); also a zero length word followed by
//! anything but zeros) means depends on where it is:
//!
//! - In the **last** segment it is the tail of a write that a crash cut short: only bytes written
//!   after the last `fdatasync` can be torn, and nothing after them was acknowledged. The segment
//!   is cut at the first bad record (logged with file and offset): everything from there to the
//!   last non-zero byte is overwritten with zeros — so nothing after the logical end can ever parse
//!   as a record, not even records of the torn write that outlived the bad one — and synced. A
//!   last segment whose very first record is bad never finished being created: it is removed.
//! - In an **earlier** segment it is damage to bytes that were synced — a cut syncs the segment it
//!   leaves. Guessing would risk a replica silently forgetting acknowledged entries, so opening
//!   fails with an error naming the file and offset, for an operator to look at (or to rebuild the
//!   node from its peers). An earlier segment normally ends at its file's end (it was cut because
//!   its records filled it); if one ends early in zeros, the next segment's name (the first index
//!   it was cut for) must follow on from its entries, or records were lost and opening fails too.
//!
//! The last segment is then zero-filled up to the segment size if it is shorter (a WAL written
//! before segments were preallocated, or a file cut short), and synced whole: after a process
//! crash (not a power cut) the page cache may still hold writes that were never synced, and raft
//! must not be told about entries that a later power cut could take away. Leftover `.tmp` files
//! (preallocations a crash interrupted) are removed.

use super::disk::{Disk, zero_fill};
use super::prealloc;
use super::record::{self, Bad, Record};
use super::state::{Loc, State};
use super::{Segment, parse_segment_name};
use std::collections::VecDeque;
use std::io;

/// The state and segments found in `disk` (a first segment is created if there is none); the
/// last segment is preallocated to at least `segment_bytes`.
pub(super) fn recover(
    disk: &dyn Disk,
    segment_bytes: u64,
) -> io::Result<(State, VecDeque<Segment>)> {
    let listed = disk.list()?;
    for tmp in listed.iter().filter(|n| n.ends_with(".tmp")) {
        disk.remove(tmp)?;
    }
    let mut names: Vec<(u32, u64, String)> = listed
        .into_iter()
        .filter_map(|n| {
            let (seq, first) = parse_segment_name(&n)?;
            Some((seq, first, n))
        })
        .collect();
    names.sort();
    let mut state = State::default();
    let mut segments = VecDeque::new();
    let count = names.len();
    for (i, (seq, _, name)) in names.iter().enumerate() {
        let (seq, name) = (*seq, name.clone());
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
                Err(Bad::Zero) if at > 0 => match data[at..].iter().position(|&b| b != 0) {
                    None => break None,
                    Some(k) => {
                        break Some(format!(
                            "zero-filled bytes where a record should start, then non-zero bytes \
                             at offset {}",
                            at + k
                        ));
                    }
                },
                Err(bad) => break Some(bad.to_string()),
            }
        };
        let file_name = disk.describe(&name);
        if let Some(why) = damage {
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
            let end = data.iter().rposition(|&b| b != 0).map_or(at, |k| k + 1);
            zero_fill(file.as_ref(), at as u64, end as u64)?;
        } else if !last && at < data.len() {
            check_follows_on(&state, &names[i + 1], seq, &file_name, at)?;
        }
        segments.push_back(Segment { seq, name, file, len: at as u64 });
    }
    match segments.back() {
        Some(current) => {
            let len = current.file.len()?;
            if len < segment_bytes {
                zero_fill(current.file.as_ref(), len, segment_bytes)?;
            }
            current.file.sync_data()?;
            disk.sync_dir()?;
        }
        None => {
            let prepared = prealloc::prepare(disk, 0, segment_bytes)?;
            segments.push_back(prealloc::install(disk, prepared, 0, &state)?);
        }
    }
    Ok((state, segments))
}

/// An earlier segment `seq` that ends in zeros at `at` must hold every entry up to the first index
/// its successor was cut for, or its tail was lost. Checked only when the successor is the very
/// next segment and its name carries an index (0 means the log was empty, or forgotten, then).
fn check_follows_on(
    state: &State,
    (next_seq, next_first, _): &(u32, u64, String),
    seq: u32,
    file_name: &str,
    at: usize,
) -> io::Result<()> {
    let expected = state.last().map_or(0, |l| l + 1);
    if *next_seq != seq + 1 || *next_first == 0 || *next_first == expected {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the raft WAL segment {file_name} ends at offset {at}, followed by zeros, but the next \
             segment was cut for entry {next_first} and this one ends at entry {}; it is not the \
             last segment, so records were lost. Refusing to start: restore the node from its \
             peers (or a backup)",
            expected.saturating_sub(1)
        ),
    ))
}
