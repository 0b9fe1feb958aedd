//! A simulated disk for tests: it remembers what a power cut would keep.
//!
//! Every file has its current bytes (what reads see) and its *synced* bytes (what the last
//! `sync_data` made durable). The directory has its current names and the names as of the last
//! `sync_dir`. [`SimDisk::power_cut`] builds the disk a reboot would find:
//!
//! - only the names of the last directory sync exist: an unsynced creation or rename is undone, an
//!   unsynced removal comes back (with that file's synced bytes);
//! - each file holds its synced bytes, overwritten from the first byte that differs by, of what
//!   was written after them (appended, or written in place over a preallocated zero fill),
//!   nothing ([`Cut::Drop`]), a random prefix ([`Cut::Prefix`]), or a random prefix whose last
//!   4 KiB page is torn: part of its unsynced bytes zeroed or scrambled ([`Cut::Tear`]). Synced
//!   bytes are never touched: that is what `fdatasync` promises — so a segment's zero fill, synced
//!   when it was preallocated, survives a cut as zeros wherever nothing newer reached the disk.
//! - a `.tmp` file (a segment being preallocated) keeps exactly its synced bytes, without drawing
//!   on the random numbers: whether its name is durable at the cut depends on thread timing, and
//!   a seed must replay the same cut.
//!
//! It also counts syncs of segment files (`.wal`; a preallocation's sync of its `.tmp` is not
//! counted, so the count moves only with the WAL's own syncs) and can be told to fail them, for the
//! tests of group commit and of the fatal sync error.

use super::disk::{Disk, WalFile};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

pub(super) use crate::rng::Rng;

/// What a power cut does to the bytes written since the last sync.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cut {
    Drop,
    Prefix,
    Tear,
}

#[derive(Default)]
struct FileData {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Default)]
struct Sim {
    files: HashMap<u64, FileData>,
    names: BTreeMap<String, u64>,
    durable_names: BTreeMap<String, u64>,
    next_id: u64,
    syncs: u64,
    fail_syncs: bool,
}

/// The simulated disk (clones share it).
#[derive(Clone, Default)]
pub(super) struct SimDisk(Arc<Mutex<Sim>>);

struct SimFile {
    sim: SimDisk,
    id: u64,
}

impl SimDisk {
    fn lock(&self) -> MutexGuard<'_, Sim> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many `sync_data` calls have succeeded.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Makes every later `sync_data` fail (or not).
    pub fn fail_syncs(&self, fail: bool) {
        self.lock().fail_syncs = fail;
    }

    /// The disk a reboot after a power cut now would find.
    pub fn power_cut(&self, rng: &mut Rng, cut: Cut) -> SimDisk {
        let sim = self.lock();
        let mut after = Sim { next_id: sim.next_id, ..Sim::default() };
        for (name, &id) in &sim.durable_names {
            let f = &sim.files[&id];
            let bytes =
                if name.ends_with(".tmp") { f.synced.clone() } else { after_cut(f, rng, cut) };
            after.files.insert(id, FileData { data: bytes.clone(), synced: bytes });
            after.names.insert(name.clone(), id);
            after.durable_names.insert(name.clone(), id);
        }
        SimDisk(Arc::new(Mutex::new(after)))
    }
}

/// What a power cut leaves of file `f`.
fn after_cut(f: &FileData, rng: &mut Rng, cut: Cut) -> Vec<u8> {
    // The first byte the last sync did not cover.
    let d = f.data.iter().zip(&f.synced).take_while(|(a, b)| a == b).count();
    // Files never shrink: the WAL only writes (zeros, where it cuts a torn tail).
    debug_assert!(f.data.len() >= f.synced.len());
    if d == f.data.len() && d == f.synced.len() {
        return f.synced.clone();
    }
    let unsynced = f.data.len() - d;
    let keep = match cut {
        Cut::Drop => 0,
        Cut::Prefix | Cut::Tear => rng.below(unsynced as u64 + 1) as usize,
    };
    let end = d + keep;
    let mut bytes = f.data[..end].to_vec();
    bytes.extend_from_slice(f.synced.get(end..).unwrap_or_default());
    if matches!(cut, Cut::Tear) && keep > 0 {
        // Damage part of the unsynced bytes of the last 4 KiB page that reached the disk.
        let page = (end - 1) / 4096 * 4096;
        let from = page.max(d);
        let a = from + rng.below((end - from) as u64) as usize;
        let b = a + 1 + rng.below((end - a) as u64) as usize;
        let zero = rng.chance(50);
        for byte in &mut bytes[a..b] {
            *byte = if zero { 0 } else { rng.next_u64() as u8 };
        }
    }
    bytes
}

impl WalFile for SimFile {
    fn write_at(&self, buf: &[u8], at: u64) -> io::Result<()> {
        let mut sim = self.sim.lock();
        let data = &mut sim.files.get_mut(&self.id).expect("an open file").data;
        let (at, end) = (at as usize, at as usize + buf.len());
        if data.len() < end {
            data.resize(end, 0);
        }
        data[at..end].copy_from_slice(buf);
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        let sim = self.sim.lock();
        let data = &sim.files[&self.id].data;
        let at = at as usize;
        let src = data
            .get(at..at + buf.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.sim.lock().files[&self.id].data.len() as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut sim = self.sim.lock();
        if sim.fail_syncs {
            return Err(io::Error::other("simulated EIO"));
        }
        if sim.names.iter().any(|(name, &id)| id == self.id && name.ends_with(".wal")) {
            sim.syncs += 1;
        }
        let f = sim.files.get_mut(&self.id).expect("an open file");
        f.synced.clone_from(&f.data);
        Ok(())
    }
}

impl Disk for SimDisk {
    fn create(&self, name: &str) -> io::Result<Arc<dyn WalFile>> {
        let mut sim = self.lock();
        if sim.names.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, name.to_string()));
        }
        let id = sim.next_id;
        sim.next_id += 1;
        sim.files.insert(id, FileData::default());
        sim.names.insert(name.to_string(), id);
        Ok(Arc::new(SimFile { sim: self.clone(), id }))
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn WalFile>> {
        let sim = self.lock();
        let id = *sim.names.get(name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Arc::new(SimFile { sim: self.clone(), id }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut sim = self.lock();
        let id = sim.names.remove(from).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        sim.names.insert(to.to_string(), id);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.lock().names.remove(name).map(|_| ()).ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().names.keys().cloned().collect())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut sim = self.lock();
        sim.durable_names = sim.names.clone();
        Ok(())
    }

    fn describe(&self, name: &str) -> String {
        format!("sim:{name}")
    }
}
