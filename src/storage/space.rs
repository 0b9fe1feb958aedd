//! Free disk space: refuse writes before the disk is full, not after.
//!
//! A write that reaches a full disk fails deep down — in the log's `write`, or in sled — and a
//! storage failure there stops the raft member (it cannot be sure of its own state). Clients would
//! then wait out their whole deadline for a leader that never answers. So a node checks its data
//! directory's free space before it takes a write, and below a reserve it refuses the write at
//! once with `ResourceExhausted`, naming the node and the path. Reads go on; the reserve leaves
//! room for what is already in flight (entries replicated to this node, snapshots). Once space is
//! freed, writes are taken again (the check is live); a node whose log did hit the full disk is
//! restarted, and recovers every acknowledged write from its log and its peers.
//!
//! `statvfs` costs a system call, so the answer is cached for [`RECHECK`].

use crate::err;
use crate::error::Result;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a free-space reading is trusted.
pub const RECHECK: Duration = Duration::from_millis(100);

/// The default reserve: writes are refused when less than this is free.
pub const DEFAULT_RESERVE: u64 = 64 << 20;

/// Watches the free space of one directory.
pub struct DiskGuard {
    /// Who is checking, for the message (e.g. "node 2 of region 'primary'").
    who: String,
    path: PathBuf,
    reserve: u64,
    last: Mutex<Option<(Instant, u64)>>,
}

impl DiskGuard {
    /// A guard of `path` that refuses writes when less than `reserve` bytes are free.
    pub fn new(who: impl Into<String>, path: impl Into<PathBuf>, reserve: u64) -> DiskGuard {
        DiskGuard { who: who.into(), path: path.into(), reserve, last: Mutex::new(None) }
    }

    /// The free bytes under the path (cached for [`RECHECK`]); `None` if they cannot be read.
    fn free(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, free)) = *last
            && at.elapsed() < RECHECK
        {
            return Some(free);
        }
        let free = fs2::available_space(&self.path).ok()?;
        *last = Some((Instant::now(), free));
        Some(free)
    }

    /// Refuses a write when the free space is under the reserve.
    pub fn check(&self) -> Result<()> {
        match self.free() {
            Some(free) if free < self.reserve => Err(err!(
                ResourceExhausted,
                "{}: its data directory {} has {} free, under the {} it keeps in reserve; \
                 writes are refused until space is freed (reads still work)",
                self.who,
                self.path.display(),
                mib(free),
                mib(self.reserve)
            )),
            // A directory whose space cannot be read is not refused on that account: the write
            // path reports its own errors.
            _ => Ok(()),
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn writes_are_refused_under_the_reserve_with_the_node_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let free = fs2::available_space(dir.path()).unwrap();
        DiskGuard::new("node 1", dir.path(), 0).check().unwrap();
        let e = DiskGuard::new("node 7 of region 'r'", dir.path(), free.saturating_mul(2).max(1))
            .check()
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ResourceExhausted);
        assert!(e.message.contains("node 7 of region 'r'"), "{e}");
        assert!(e.message.contains(&dir.path().display().to_string()), "{e}");
    }
}
