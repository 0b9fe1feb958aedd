//! Snapshots of the whole state machine, and metadata kept beside it.
//!
//! A snapshot is a consistent cut at the last applied index: every key of the state machine's
//! tree, copied while apply is held off (sled has no point-in-time view, so no apply may interleave
//! with the copy). Installing a snapshot replaces the whole state machine in one atomic batch: a
//! crash leaves either the old state or the new one, never a mix.

use super::keys::{Key, Space};
use super::store::{Applied, Store};
use super::{StorageError, codec};

/// Metadata values by position in the names asked for (`None`: not set).
type Metas = Vec<Option<Vec<u8>>>;

impl Store {
    /// A consistent copy of the whole state machine and the position it is at.
    pub fn snapshot(&self) -> Result<(Applied, Vec<u8>), StorageError> {
        let (applied, _, data) = self.snapshot_with_meta(&[])?;
        Ok((applied, data))
    }

    /// [`Store::snapshot`], plus the metadata entries `names` (see [`Store::apply_entry`]) as they
    /// are in that same cut: the raft layer describes a snapshot by the raft position and
    /// membership it holds, which must not come from a later apply.
    pub fn snapshot_with_meta(
        &self,
        names: &[&str],
    ) -> Result<(Applied, Metas, Vec<u8>), StorageError> {
        // Apply is held off only while the live data is copied (sled's values are reference
        // counted, so the copy is a walk of the tree); encoding happens after apply resumed.
        let (applied, metas, entries) = {
            let _apply = self.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
            let applied = self.applied()?;
            let metas = names.iter().map(|n| self.meta(n)).collect::<Result<Vec<_>, _>>()?;
            let entries = self.graph.iter().collect::<Result<Vec<_>, _>>()?;
            (applied, metas, entries)
        };
        let entries: Vec<(&[u8], &[u8])> =
            entries.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        Ok((applied, metas, codec::encode(&entries)?))
    }

    /// Replaces the whole state machine with a snapshot's contents; returns its position.
    pub fn install_snapshot(&self, data: &[u8]) -> Result<Applied, StorageError> {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = codec::decode(data)?;
        let _apply = self.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = sled::Batch::default();
        for k in self.graph.iter().keys() {
            batch.remove(k?);
        }
        for (k, v) in entries {
            batch.insert(k, v);
        }
        self.graph.apply_batch(batch)?;
        self.models.clear();
        let applied = self.applied()?;
        self.set_applied_index(applied.index);
        Ok(applied)
    }

    /// Cuts a snapshot (as [`Store::snapshot`] makes it) into parts of its keys, each encoded the
    /// same way and about `max_bytes` long (a key-value pair larger than that is a part alone), in
    /// key order; an empty snapshot is one empty part. A reseed proposes them one raft entry each.
    pub fn snapshot_parts(data: &[u8], max_bytes: usize) -> Result<Vec<Vec<u8>>, StorageError> {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = codec::decode(data)?;
        let mut parts = Vec::new();
        let mut part: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut bytes = 0;
        for (k, v) in entries {
            if !part.is_empty() && bytes + k.len() + v.len() > max_bytes {
                parts.push(codec::encode(&std::mem::take(&mut part))?);
                bytes = 0;
            }
            bytes += k.len() + v.len();
            part.push((k, v));
        }
        if !part.is_empty() || parts.is_empty() {
            parts.push(codec::encode(&part)?);
        }
        Ok(parts)
    }

    /// Keeps snapshot `seq`'s bytes durably: in a file beside the database (written to a
    /// temporary name, synced, then renamed, so a crash leaves the whole file or none), not in
    /// sled, whose log copes badly with values of hundreds of megabytes.
    pub fn write_snapshot_file(&self, seq: u64, data: &[u8]) -> Result<(), StorageError> {
        let Some(dir) = &self.snapshot_dir else {
            self.snapshot_mem.lock().unwrap_or_else(|e| e.into_inner()).insert(seq, data.to_vec());
            return Ok(());
        };
        let io = |e: std::io::Error| StorageError::Corrupt(format!("writing snapshot {seq}: {e}"));
        let tmp = dir.join(format!("snapshot-{seq}.tmp"));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(data).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, dir.join(format!("snapshot-{seq}.bin"))).map_err(io)?;
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }

    /// Snapshot `seq`'s bytes, if kept.
    pub fn read_snapshot_file(&self, seq: u64) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(dir) = &self.snapshot_dir else {
            return Ok(self
                .snapshot_mem
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&seq)
                .cloned());
        };
        match std::fs::read(dir.join(format!("snapshot-{seq}.bin"))) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::Corrupt(format!("reading snapshot {seq}: {e}"))),
        }
    }

    /// Deletes every kept snapshot but `seq` (best effort: a leftover file only wastes space).
    pub fn remove_snapshot_files_except(&self, seq: u64) {
        let Some(dir) = &self.snapshot_dir else {
            self.snapshot_mem.lock().unwrap_or_else(|e| e.into_inner()).retain(|s, _| *s == seq);
            return;
        };
        let keep = format!("snapshot-{seq}.bin");
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("snapshot-") && name != keep.as_str() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// A metadata entry kept with the state (see [`Store::apply_entry`]).
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.graph.get(Key::new(Space::Meta).s(name))?.map(|v| v.to_vec()))
    }

    /// A fingerprint of the graph (every data key and value, in key order: twins, edges, models,
    /// indexes, counters, the dedupe table — not the region's own metadata such as raft's state,
    /// its DR role or its incidents), to compare replicas, in one region or across the pair: equal data gives equal
    /// fingerprints. FNV-1a over the bytes: stable across processes and versions, unlike `std`'s
    /// hasher.
    pub fn fingerprint(&self) -> Result<u64, StorageError> {
        let _apply = self.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in (bytes.len() as u64).to_be_bytes().iter().chain(bytes) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for kv in self.graph.iter() {
            let (k, v) = kv?;
            if k.first().is_some_and(|&t| super::keys::region_local(t)) {
                continue;
            }
            eat(&k);
            eat(&v);
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::tests::{Harness, put};
    use serde_json::json;

    #[test]
    fn a_snapshot_installed_elsewhere_gives_the_same_state() {
        let mut a = Harness::new();
        a.put_twin("s1", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}, "kind": "co2"}));
        let (applied, data) = a.store.snapshot().unwrap();
        let mut b = Harness::new();
        b.put_twin("other", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}}));
        b.ok(put("s2", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}})));
        let installed = b.store.install_snapshot(&data).unwrap();
        assert_eq!(installed, applied);
        assert_eq!(b.store.applied_index(), applied.index);
        assert_eq!(a.store.fingerprint().unwrap(), b.store.fingerprint().unwrap());
        assert!(b.twin("other").is_none());
        assert!(b.twin("s1").is_some());
        // The installed state keeps working: models resolve, writes apply.
        b.index = applied.index;
        b.put_twin("s3", json!({"$metadata": {"$model": "dtmi:test:Sensor;1"}}));
        assert!(b.store.install_snapshot(b"garbage").is_err());
        assert!(b.twin("s3").is_some(), "a bad snapshot changes nothing");
    }
}
