//! A latency probe on the real disk (not a timed test: run it by hand and read the numbers):
//! `cargo test --release --lib raft::wal::bench -- --ignored --nocapture`. Each of 2,000 appends
//! of 1 KiB waits for the `fdatasync` that covers it before the next is written, so the time per
//! append is one write plus one sync — what a raft append costs on the acknowledgement path.
//! `WAL_BENCH_DIR` picks the directory (a temporary one on the default disk otherwise).

use super::*;
use std::time::{Duration, Instant};

#[test]
#[ignore = "measures the real disk; run by hand"]
fn append_and_sync_latency() {
    let tmp = tempfile::tempdir_in(std::env::var("WAL_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .unwrap();
    let wal = Wal::open(tmp.path(), Options::default()).unwrap();
    let payload = vec![0xa5u8; 1024];
    let mut times = Vec::with_capacity(2000);
    for i in 1..=2000u64 {
        let (tx, rx) = std::sync::mpsc::channel();
        let start = Instant::now();
        wal.append([(i, payload.as_slice())], Box::new(move |r| tx.send(r).unwrap())).unwrap();
        rx.recv().unwrap().unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "2000 appends of 1 KiB, each synced: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}, mean {:?}",
        pct(50),
        pct(90),
        pct(99),
        times[times.len() - 1],
        mean
    );
}
