//! Writing key material: a private file and its public companion (a key and its certificate, a
//! signing key and its verification key), never over an existing file.
//!
//! Refusing to overwrite is the point: replacing a CA or a signing key by a typo would make every
//! certificate or token made with the old one stop working. The private file is created with mode
//! 0600 before anything is written into it, and both are synced before this returns.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `private` (0600) and `public` (0644), each `(file name, text)`, into `dir` (created if
/// missing); refuses if either file exists. Returns their paths, private first.
pub fn write_pair(
    dir: &Path,
    private: (&str, &str),
    public: (&str, &str),
) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (private_path, public_path) = (dir.join(private.0), dir.join(public.0));
    for path in [&private_path, &public_path] {
        if path.exists() {
            return Err(format!("{} exists already; not overwriting it", path.display()));
        }
    }
    write_new(&private_path, private.1, 0o600)?;
    write_new(&public_path, public.1, 0o644)?;
    Ok((private_path, public_path))
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
