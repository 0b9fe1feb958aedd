//! Reading the committed log back, for shipping it to the standby region.
//!
//! The shipper reads entries straight from this node's raft WAL (purged entries the retention
//! floor kept included): only entries at or below the
//! applied index (so committed, never truncated), only the data commands (raft's own entries and
//! region-local control commands are not history the standby replays), and only a contiguous run
//! starting exactly where the standby asked — if that entry is gone (purged past what retention
//! kept, or the node installed a snapshot), the caller learns it must reseed.

use super::{ShipReader, typ};
use crate::storage::codec::decode;
use crate::storage::dr::is_data_write;
use crate::storage::{Command, StorageError};

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
    log: &ShipReader,
    from: u64,
    to: u64,
    max: usize,
) -> Result<Option<Run>, StorageError> {
    let raw = log
        .read(from, to, max, MAX_BATCH_BYTES)
        .map_err(|e| StorageError::Io(format!("reading the raft WAL: {e}")))?;
    // The WAL's live entries are contiguous: the run is there from `from`, or not at all.
    if raw.first().is_none_or(|(index, _)| *index != from) {
        return Ok(None);
    }
    let mut entries = Vec::new();
    let mut last = from;
    for (index, raw) in raw {
        let entry: typ::Entry = decode(&raw)?;
        if let openraft::EntryPayload::Normal(cmd) = entry.payload
            && is_data_write(&cmd.op)
        {
            entries.push((index, cmd));
        }
        last = index;
    }
    Ok(Some(Run { to: last, entries }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::put;
    use crate::storage::{Command, Op};
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    fn entry(index: u64, op: Option<Op>) -> Vec<u8> {
        let payload = match op {
            Some(op) => EntryPayload::Normal(Command {
                request: None,
                time: crate::model::time::Timestamp(index),
                epoch: 1,
                origin: None,
                op,
            }),
            None => EntryPayload::Blank,
        };
        let entry = typ::Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload };
        crate::storage::codec::encode(&entry).unwrap()
    }

    #[tokio::test]
    async fn a_run_starts_exactly_at_from_and_keeps_only_data_writes() {
        let dir = tempfile::tempdir().unwrap();
        let wal = crate::raft::wal::Wal::open(dir.path(), Default::default()).unwrap();
        let twin = || Some(put("t", serde_json::json!({"$metadata": {"$model": "dtmi:x;1"}})));
        let bytes: Vec<_> =
            (5..=9).map(|i| (i, entry(i, if i == 7 { None } else { twin() }))).collect();
        wal.append(bytes.iter().map(|(i, b)| (*i, b.as_slice())), Box::new(|_| ())).unwrap();
        let barrier: crate::raft::Barrier = std::sync::Arc::new(|| Ok(()));
        let mut store = crate::raft::LogStore::with_wal(wal, barrier).unwrap();
        let log = store.shipping_reader();
        assert!(read_run(&log, 4, 9, 100).unwrap().is_none(), "entry 4 is not there");
        assert!(read_run(&log, 10, 12, 100).unwrap().is_none());
        let run = read_run(&log, 5, 9, 100).unwrap().unwrap();
        assert_eq!(run.to, 9);
        let indexes: Vec<u64> = run.entries.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![5, 6, 8, 9], "the blank entry is not shipped");
        let run = read_run(&log, 6, 9, 2).unwrap().unwrap();
        assert_eq!(run.to, 7);
        // A purge whose retention floor is 6: entries up to 6 are gone for the shipper.
        store.retention().store(6, std::sync::atomic::Ordering::SeqCst);
        let id = LogId::new(CommittedLeaderId::new(1, 1), 8);
        openraft::storage::RaftLogStorage::purge(&mut store, id).await.unwrap();
        assert!(read_run(&log, 6, 9, 100).unwrap().is_none(), "entry 6 is below the floor");
        assert_eq!(read_run(&log, 7, 9, 100).unwrap().unwrap().to, 9);
        assert_eq!(log.bounds(), Some((7, 9)));
    }
}
