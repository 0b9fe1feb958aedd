//! A node whose disk fills up: writes fail fast with a clear error, reads go on, and once space is
//! freed and the node restarted every acknowledged write is there.
//!
//! The node's data directory is a small tmpfs of its own (so the test fills a real filesystem,
//! not a simulation). Mounting needs root; without it the test says so and does nothing (CI runs
//! as root).

mod common;

use common::{NodeProc, json, load_sample, run};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size_mib: u64) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills `dir`'s filesystem with a file until `leave` bytes are free; returns the file.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let free = fs2::available_space(dir).unwrap();
    let path = dir.join("filler");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(0).unwrap();
    // tmpfs allocates on write, not on set_len: write the bytes.
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    let chunk = vec![7u8; 1 << 20];
    let mut left = free.saturating_sub(leave);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if w.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = w.flush();
    path
}

#[test]
fn a_full_disk_fails_writes_fast_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(dir.path(), 96) else {
        println!("SKIPPED: cannot mount a tmpfs here (needs root); the disk-full test did not run");
        return;
    };
    let data = fs.0.join("node");
    let data_arg = data.display().to_string();
    let args = ["--data", &data_arg, "--listen", "127.0.0.1:0", "--min-free-mb", "32"];
    let node = NodeProc::start_with(&data, &args);
    let ep = node.endpoint();
    load_sample(&ep);
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let id = format!("t{i}");
        let doc = json!({"$metadata": {"$model": "dtmi:example:Sensor;1"}, "serialNumber": format!("k{i}")});
        let put = json(&ep, &["twin", "put", &id, &doc.to_string()]);
        assert_eq!(put["$dtId"], id.as_str());
        acknowledged.push(id);
    }

    // The disk fills up (another tenant, a runaway log): less than the reserve is free.
    let filler = fill(&fs.0, 4 << 20);
    // The node reads the free space at most every 100 ms (`storage::space::RECHECK`): a write
    // within that time of the disk filling may still be taken (a fill on tmpfs is that fast).
    std::thread::sleep(Duration::from_millis(150));
    let doc = json!({"$metadata": {"$model": "dtmi:example:Sensor;1"}, "serialNumber": "late"});
    let started = Instant::now();
    let refused = run(&ep, &["twin", "put", "late", &doc.to_string()]);
    let took = started.elapsed();
    let line = refused.assert_code("ResourceExhausted");
    assert!(took < Duration::from_secs(1), "the refusal took {took:?}: {line}");
    assert!(line.contains("node 1") && line.contains(&data_arg), "{line}");
    // Reads keep working, linearizable ones included.
    assert_eq!(json(&ep, &["twin", "get", "t3"])["serialNumber"], "k3");
    assert_eq!(json(&ep, &["twin", "get", "t4", "--consistency", "local"])["serialNumber"], "k4");

    // Space is freed: the node is restarted (as an operator would after a disk incident) and
    // every acknowledged write is there; writes are taken again.
    std::fs::remove_file(filler).unwrap();
    node.kill9();
    let node = NodeProc::start_with(&data, &args);
    let ep = node.endpoint();
    for id in &acknowledged {
        assert_eq!(json(&ep, &["twin", "get", id])["$dtId"], id.as_str());
    }
    assert!(run(&ep, &["twin", "get", "late"]).code != Some(0), "a refused write left a trace");
    let put = json(&ep, &["twin", "put", "late", &doc.to_string()]);
    assert_eq!(put["serialNumber"], "late");
}

/// A reserve too small to hold the raft log's next segment is refused at start, saying why, and
/// the data directory is left untouched.
#[test]
fn a_reserve_smaller_than_the_log_needs_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(common::bin())
        .args(["node", "--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--min-free-mb", "8"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the node must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("min_free_mb is 8 MiB; it must be at least 32 MiB"),
        "stderr: {stderr}"
    );
    assert!(!data.join("wal").exists(), "nothing was written");
}
