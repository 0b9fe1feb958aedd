//! The few file operations the WAL needs, behind a trait, so tests can swap the real file system
//! for a simulated disk that loses what a power cut would lose (`sim`).
//!
//! The real implementation is plain `std::fs` in one directory. What the WAL relies on, and where
//! Linux gives it:
//!
//! - [`WalFile::write_at`] is a `pwrite`: readable by `pread` at once, durable only after
//!   [`WalFile::sync_data`] (`fdatasync`). Segments are preallocated ([`zero_fill`]: real zeros,
//!   synced, see `prealloc`), so a `pwrite` into them changes no metadata and the `fdatasync`
//!   has only data to flush; a write past the end of the file still works (and the sync then also
//!   commits the new size).
//! - A file's *name* is durable only after [`Disk::sync_dir`] (`fsync` of the directory): after
//!   creating, renaming and removing a segment.
//! - An error from `sync_data` is final. Linux may have dropped the dirty pages it could not write
//!   and a retried `fsync` then "succeeds" on data that is gone (PostgreSQL, 2018), so the WAL
//!   never retries one: it stops taking writes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// An open segment file.
pub(crate) trait WalFile: Send + Sync {
    /// Writes `buf` at offset `at` (all of it, or an error), extending the file if needed.
    fn write_at(&self, buf: &[u8], at: u64) -> io::Result<()>;
    /// Fills `buf` from offset `at` (all of it, or an error).
    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<()>;
    /// The file's length.
    fn len(&self) -> io::Result<u64>;
    /// Makes the file's data (and size) durable: `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
}

/// A directory of segment files.
pub(crate) trait Disk: Send + Sync {
    /// Creates the file `name`, which must not exist; empty, open for writing and reading.
    fn create(&self, name: &str) -> io::Result<Arc<dyn WalFile>>;
    /// Opens the existing file `name` for writing and reading.
    fn open(&self, name: &str) -> io::Result<Arc<dyn WalFile>>;
    /// Renames the file `from` to `to` (open handles keep working; durable after `sync_dir`).
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes the file `name` (open handles keep working).
    fn remove(&self, name: &str) -> io::Result<()>;
    /// The names of the files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Makes the directory's entries durable (after a create or a remove).
    fn sync_dir(&self) -> io::Result<()>;
    /// Where the files are, for messages.
    fn describe(&self, name: &str) -> String;
}

/// Segment files in a directory of the real file system.
pub(crate) struct StdDisk {
    dir: PathBuf,
}

impl StdDisk {
    /// The directory `dir`, created if missing (and its parent synced, so it stays).
    pub(crate) fn open(dir: PathBuf) -> io::Result<StdDisk> {
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)?;
            if let Some(parent) = dir.parent() {
                File::open(parent)?.sync_all()?;
            }
        }
        Ok(StdDisk { dir })
    }
}

struct StdFile(File);

impl WalFile for StdFile {
    fn write_at(&self, buf: &[u8], at: u64) -> io::Result<()> {
        self.0.write_all_at(buf, at)
    }

    fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, at)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Disk for StdDisk {
    fn create(&self, name: &str) -> io::Result<Arc<dyn WalFile>> {
        let file =
            OpenOptions::new().read(true).write(true).create_new(true).open(self.dir.join(name))?;
        Ok(Arc::new(StdFile(file)))
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn WalFile>> {
        let file = OpenOptions::new().read(true).write(true).open(self.dir.join(name))?;
        Ok(Arc::new(StdFile(file)))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.dir.join(from), self.dir.join(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// Writes zeros over `from..to` of `file`, in large chunks (not synced).
pub(crate) fn zero_fill(file: &dyn WalFile, from: u64, to: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = CHUNK.min(to - at);
        file.write_at(&zeros[..n as usize], at)?;
        at += n;
    }
    Ok(())
}
