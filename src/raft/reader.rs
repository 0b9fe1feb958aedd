//! Reading the committed log back, for shipping it to the standby region.
//!
//! The shipper reads entries straight from this node's raft log: only entries at or below the
//! applied index (so committed, never truncated), only the data commands (raft's own entries and
//! region-local control commands are not history the standby replays), and only a contiguous run
//! starting exactly where the standby asked — if that entry is gone (purged past what retention
//! kept, or the node installed a snapshot), the caller learns it must reseed.

use super::typ;
use crate::storage::codec::decode;
use crate::storage::dr::is_data_write;
use crate::storage::{Command, RaftLog, StorageError};

/// At most this many bytes of log go in one batch (about: the entry that reaches it is the last).
/// A batch is one raft entry in the standby region, so this is also about the largest entry its
/// raft group replicates (see `log_store::MAX_APPEND_BYTES`).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// A run of the log: the last index it covers and its data commands.
pub struct Run {
    /// The last index covered (every index from the start up to it was present).
    pub to: u64,
    /// The data commands, with their indexes.
    pub entries: Vec<(u64, Command)>,
}

/// Reads the log from `from` up to `to` (inclusive), at most `max` entries and about
/// [`MAX_BATCH_BYTES`]. `None` when the entry at `from` is not in the log.
pub fn read_run(
    log: &RaftLog,
    from: u64,
    to: u64,
    max: usize,
) -> Result<Option<Run>, StorageError> {
    let mut entries = Vec::new();
    let mut last = None;
    let mut bytes = 0;
    for (index, raw) in log.range(from..=to, max)? {
        let expected = last.map_or(from, |l: u64| l + 1);
        if index != expected {
            break;
        }
        bytes += raw.len();
        let entry: typ::Entry = decode(&raw)?;
        if let openraft::EntryPayload::Normal(cmd) = entry.payload
            && is_data_write(&cmd.op)
        {
            entries.push((index, cmd));
        }
        last = Some(index);
        if bytes >= MAX_BATCH_BYTES {
            break;
        }
    }
    Ok(last.map(|to| Run { to, entries }))
}
