//! The store: the sled database, the applied position and the read side of the graph.

use super::keys::{Key, Reader, Space, meta};
use super::models::ModelCache;
use super::{StorageError, codec};
use crate::model::etag::Origin;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The last command applied: its local index and its origin position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The local log index.
    pub index: u64,
    /// Where that command was first accepted.
    pub origin: Origin,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts (opaque), or `None` on the last page.
    pub next: Option<String>,
}

/// The twin graph on sled.
pub struct Store {
    db: sled::Db,
    pub(super) graph: sled::Tree,
    pub(super) models: ModelCache,
    applied_index: AtomicU64,
    /// Held while a command is applied and while a snapshot is copied, so a snapshot is a
    /// consistent cut (sled has no point-in-time reads).
    pub(super) apply_lock: Mutex<()>,
    /// Where snapshot files go (beside the database); `None` for a temporary store, which keeps
    /// them in memory.
    pub(super) snapshot_dir: Option<std::path::PathBuf>,
    pub(super) snapshot_mem: Mutex<std::collections::HashMap<u64, Vec<u8>>>,
    /// The database directory; `None` for a temporary store (see [`Store::sync`]).
    db_dir: Option<std::path::PathBuf>,
}

/// How long [`Store::open`] waits for a database directory's lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Store {
    /// Opens (or creates) the store in `dir` with a sled page cache of `cache_capacity` bytes.
    ///
    /// sled locks the directory while a database is open, and a database just closed in this
    /// process may hold the lock a moment longer (its background I/O jobs end asynchronously), so
    /// a lock held elsewhere is waited for, up to `LOCK_WAIT`; after that the directory is
    /// taken to be in use by another process, and the error says so.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Store, StorageError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity)
            .mode(sled::Mode::HighThroughput);
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(e) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StorageError::InUse(format!(
                            "the data directory {} is in use by another process (is another \
                             node running on it?): {e}",
                            dir.display()
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let name =
            format!("{}.snapshots", dir.file_name().and_then(|n| n.to_str()).unwrap_or("db"));
        let snapshots = dir.with_file_name(name);
        std::fs::create_dir_all(&snapshots).map_err(|e| {
            StorageError::Corrupt(format!("cannot create {}: {e}", snapshots.display()))
        })?;
        let mut store = Self::from_db(db, Some(snapshots))?;
        store.db_dir = Some(dir.to_path_buf());
        Ok(store)
    }

    /// A store in a temporary directory, deleted on drop (tests, benches).
    pub fn temporary() -> Result<Store, StorageError> {
        Self::from_db(sled::Config::new().temporary(true).cache_capacity(16 << 20).open()?, None)
    }

    fn from_db(
        db: sled::Db,
        snapshot_dir: Option<std::path::PathBuf>,
    ) -> Result<Store, StorageError> {
        let graph = db.open_tree("graph")?;
        let store = Store {
            db,
            graph,
            models: ModelCache::default(),
            applied_index: AtomicU64::new(0),
            apply_lock: Mutex::new(()),
            snapshot_dir,
            snapshot_mem: Mutex::new(std::collections::HashMap::new()),
            db_dir: None,
        };
        store.applied_index.store(store.applied()?.index, Ordering::SeqCst);
        Ok(store)
    }

    /// The sled database, for layers that keep their own trees in it (raft's snapshot meta).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The bytes the node keeps on disk (also a cheap check that storage answers): every file in
    /// the directory that holds the database — the database, its snapshots and what the layers
    /// above keep beside them (the raft WAL) — which is what an operator sizes a disk for. sled's
    /// own figure alone is 0 until its first flush and leaves out the log, the larger part after
    /// a restart. A temporary store reports sled's figure.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        let sled_bytes = self.db.size_on_disk()?;
        let Some(parent) = self.db_dir.as_deref().and_then(Path::parent) else {
            return Ok(sled_bytes);
        };
        Ok(tree_bytes(parent).max(sled_bytes))
    }

    /// Hands every write so far to the kernel (sled's flush; for durability on the disk itself,
    /// see [`Store::sync`]).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    /// Makes every write so far durable, without blocking the caller's thread.
    pub async fn flush_async(&self) -> Result<(), StorageError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// The last applied position, as stored.
    pub fn applied(&self) -> Result<Applied, StorageError> {
        match self.graph.get(Key::new(Space::Meta).s(meta::APPLIED))? {
            Some(v) => codec::decode(&v),
            None => Ok(Applied::default()),
        }
    }

    /// The last applied local index (from memory: cheap, for read responses).
    pub fn applied_index(&self) -> u64 {
        self.applied_index.load(Ordering::SeqCst)
    }

    pub(super) fn set_applied_index(&self, index: u64) {
        self.applied_index.store(index, Ordering::SeqCst);
    }

    /// The twin document with `id`, as JSON text.
    pub fn twin(&self, id: &str) -> Result<Option<String>, StorageError> {
        self.graph.get(twin_key(id))?.map(text).transpose()
    }

    /// The relationship `id` of twin `source`, as JSON text.
    pub fn relationship(&self, source: &str, id: &str) -> Result<Option<String>, StorageError> {
        self.graph.get(Key::new(Space::Out).s(source).s(id))?.map(text).transpose()
    }

    /// A page of the outgoing relationships of `source` (all, or those named `name`), starting
    /// after the continuation `after`.
    pub fn relationships(
        &self,
        source: &str,
        name: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StorageError> {
        let prefix = Key::new(Space::Out).s(source).into_bytes();
        self.page(&prefix, after, limit, |_, v| {
            let doc = text(v)?;
            Ok(match name {
                Some(n) => relationship_name_is(&doc, n).then_some(doc),
                None => Some(doc),
            })
        })
    }

    /// A page of the incoming relationships of `target`, as ADT's incoming-relationship entries.
    pub fn incoming(
        &self,
        target: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StorageError> {
        let prefix = Key::new(Space::In).s(target).into_bytes();
        self.page(&prefix, after, limit, |k, v| {
            let mut r = Reader::new(k, Space::In).ok_or_else(|| corrupt("incoming edge key"))?;
            let (_, source, id) = (r.s(), r.s(), r.s());
            let (Some(source), Some(id)) = (source, id) else {
                return Err(corrupt("incoming edge key"));
            };
            let name = text(v)?;
            let entry = crate::model::relationship::incoming_entry(&source, &id, &name);
            Ok(Some(entry.to_string()))
        })
    }

    /// Whether a twin exists.
    pub fn twin_exists(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.graph.contains_key(twin_key(id))?)
    }

    /// Every twin id of `model` (exactly that model), in id order.
    pub fn twins_of_model(
        &self,
        model: &str,
    ) -> impl Iterator<Item = Result<String, StorageError>> + '_ {
        let prefix = Key::new(Space::ModelTwin).s(model).into_bytes();
        self.graph.scan_prefix(prefix).map(|kv| {
            let (k, _) = kv?;
            let mut r =
                Reader::new(&k, Space::ModelTwin).ok_or_else(|| corrupt("model index key"))?;
            r.s();
            r.s().ok_or_else(|| corrupt("model index key"))
        })
    }

    /// Every twin document, in id order.
    pub fn twins(&self) -> impl Iterator<Item = Result<(String, String), StorageError>> + '_ {
        self.graph.scan_prefix([Space::Twin as u8]).map(|kv| {
            let (k, v) = kv?;
            let id = String::from_utf8(k[1..].to_vec()).map_err(|_| corrupt("twin key"))?;
            Ok((id, text(v)?))
        })
    }

    /// A page of entries under `prefix`; `f` maps a (key, value) to an item or skips it.
    pub(super) fn page<T>(
        &self,
        prefix: &[u8],
        after: Option<&str>,
        limit: usize,
        mut f: impl FnMut(&[u8], sled::IVec) -> Result<Option<T>, StorageError>,
    ) -> Result<Page<T>, StorageError> {
        let start: Vec<u8> = match after {
            Some(token) => {
                let mut k = prefix.to_vec();
                k.extend(
                    decode_token(token).ok_or_else(|| StorageError::Corrupt("bad token".into()))?,
                );
                k.push(0); // strictly after
                k
            }
            None => prefix.to_vec(),
        };
        let mut items = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for kv in self.graph.range(start..) {
            let (k, v) = kv?;
            if !k.starts_with(prefix) {
                return Ok(Page { items, next: None });
            }
            if items.len() == limit {
                return Ok(Page { items, next: last.map(|l| encode_token(&l[prefix.len()..])) });
            }
            last = Some(k.to_vec());
            if let Some(item) = f(&k, v)? {
                items.push(item);
            }
        }
        Ok(Page { items, next: None })
    }
}

/// The key of a twin.
pub(super) fn twin_key(id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.len() + 1);
    k.push(Space::Twin as u8);
    k.extend_from_slice(id.as_bytes());
    k
}

/// A stored UTF-8 value.
pub(super) fn text(v: sled::IVec) -> Result<String, StorageError> {
    String::from_utf8(v.to_vec()).map_err(|_| corrupt("a stored document is not UTF-8"))
}

pub(super) fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(what.to_string())
}

fn relationship_name_is(doc: &str, name: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(doc)
        .ok()
        .and_then(|v| v.get("$relationshipName").and_then(|n| n.as_str().map(|s| s == name)))
        .unwrap_or(false)
}

/// Continuation tokens are the hex of the last key returned (past the listing's prefix).
fn encode_token(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(t: &str) -> Option<Vec<u8>> {
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len()).step_by(2).map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok()).collect()
}

/// Checks a continuation token's syntax (so a bad token is the client's error, not storage's).
pub fn valid_token(t: &str) -> bool {
    decode_token(t).is_some()
}

impl Store {
    /// Makes every write so far durable on the disk itself, not only handed to the kernel.
    ///
    /// sled's `flush` ends in `sync_file_range`, which writes the pages out but flushes neither
    /// the drive's cache nor the file's size; only its background flusher calls `fsync`, every
    /// 500 ms. So this flushes, then `fsync`s sled's `db` file and the database directory through
    /// handles of its own. The raft log store calls it before purging the log (the purge
    /// barrier): entries may go only once the state they produced is durable. For a temporary
    /// store it is a flush.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        let Some(dir) = &self.db_dir else { return Ok(()) };
        let fsync = |path: &Path| {
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| StorageError::Io(format!("cannot fsync {}: {e}", path.display())))
        };
        fsync(&dir.join("db"))?;
        fsync(dir)
    }
}

/// The bytes of the files under `dir` (walked to a bounded depth; unreadable entries count 0:
/// a file deleted mid-walk, such as a purged WAL segment, is not an error).
fn tree_bytes(dir: &Path) -> u64 {
    fn walk(dir: &Path, depth: u32) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() && depth < 4 => walk(&e.path(), depth + 1),
                Ok(m) if m.is_file() => m.len(),
                _ => 0,
            })
            .sum()
    }
    walk(dir, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_in_use_is_refused_clearly_and_free_again_once_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let first = Store::open(&path, 1 << 20).unwrap();
        let started = std::time::Instant::now();
        let e = Store::open(&path, 1 << 20).err().expect("a second open of a locked directory");
        assert!(started.elapsed() >= LOCK_WAIT, "gave up before waiting for the lock");
        assert!(matches!(e, StorageError::InUse(_)), "{e}");
        assert!(e.to_string().contains("in use by another process"), "{e}");
        drop(first);
        // Closed: reopening works (waiting out sled's background jobs if need be).
        Store::open(&path, 1 << 20).unwrap();
    }

    #[test]
    fn sync_fsyncs_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, 1 << 20).unwrap();
        store.graph.insert(b"k", b"v").unwrap();
        store.sync().unwrap();
        assert!(path.join("db").is_file(), "sled keeps its data in the file `db`");
        Store::temporary().unwrap().sync().unwrap();
    }
}
