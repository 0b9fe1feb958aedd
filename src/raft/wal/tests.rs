//! Tests of the WAL: power cuts at thousands of points (simulated disk), damaged files (real
//! disk), acknowledgement only after the covering sync, fatal sync errors, segment rollover and
//! deletion.

use super::sim::{Cut, Rng, SimDisk};
use super::*;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::time::Duration;

pub(super) fn small(segment_bytes: u64) -> Options {
    Options { segment_bytes }
}

fn open_sim(disk: &SimDisk, segment_bytes: u64) -> io::Result<Wal> {
    Wal::open_on(Arc::new(disk.clone()), small(segment_bytes))
}

pub(super) fn all_entries(wal: &Wal) -> BTreeMap<u64, Vec<u8>> {
    wal.reader().read(0, u64::MAX, usize::MAX, usize::MAX).unwrap().into_iter().collect()
}

pub(super) fn ignore() -> Completion {
    Box::new(|_| ())
}

/// The WAL's logical state, modelled independently of `State`.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    vote: Option<Vec<u8>>,
    committed: Option<Vec<u8>>,
    purged: Option<(u64, Vec<u8>)>,
    entries: BTreeMap<u64, Vec<u8>>,
}

impl Model {
    fn of(wal: &Wal) -> Model {
        Model {
            vote: wal.vote(),
            committed: wal.committed(),
            purged: wal.purged(),
            entries: all_entries(wal),
        }
    }

    fn entry(&mut self, index: u64, payload: &[u8]) {
        if self.entries.last_key_value().is_some_and(|(&last, _)| index > last + 1) {
            self.entries.clear(); // a hole: a new run
        }
        self.entries.split_off(&index);
        self.entries.insert(index, payload.to_vec());
    }

    fn last(&self) -> Option<u64> {
        self.entries.last_key_value().map(|(&i, _)| i)
    }

    /// Whether `self` (recovered) is `expected`, except that entries at or below `floor` may be
    /// missing (their segments deleted), though never different.
    fn matches(&self, expected: &Model, floor: Option<u64>) -> bool {
        if (&self.vote, &self.committed, &self.purged)
            != (&expected.vote, &expected.committed, &expected.purged)
        {
            return false;
        }
        let f = floor.map_or(0, |f| f.saturating_add(1));
        self.entries.range(f..).eq(expected.entries.range(f..))
            && self.entries.range(..f).all(|(i, e)| expected.entries.get(i) == Some(e))
    }
}

fn u64_bytes(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn as_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap())
}

/// Drives a WAL with a random raft-like workload and keeps the state after every record written.
struct Driver {
    disk: SimDisk,
    wal: Wal,
    /// `history[k]`: the state after the first `k` records written.
    history: Vec<Model>,
    /// The largest `k` whose records are acknowledged (a completion ran with `Ok`).
    acked: Arc<AtomicUsize>,
    /// The highest floor segments were released with.
    floor: Option<u64>,
    votes: u64,
    generation: u64,
}

const SEGMENT: u64 = 1024;

impl Driver {
    fn new(disk: SimDisk, wal: Wal, floor: Option<u64>) -> Driver {
        let now = Model::of(&wal);
        let votes = now.vote.as_deref().map_or(0, as_u64);
        Driver {
            disk,
            wal,
            history: vec![now],
            acked: Arc::new(AtomicUsize::new(0)),
            floor,
            votes,
            generation: 0,
        }
    }

    fn now(&self) -> &Model {
        self.history.last().unwrap()
    }

    fn record(&mut self, change: impl FnOnce(&mut Model)) {
        let mut next = self.now().clone();
        change(&mut next);
        self.history.push(next);
    }

    /// A completion that marks everything written so far acknowledged.
    fn ack(&self) -> Completion {
        let (k, acked) = (self.history.len() - 1, self.acked.clone());
        Box::new(move |r| {
            if r.is_ok() {
                acked.fetch_max(k, Ordering::SeqCst);
            }
        })
    }

    fn append(&mut self, rng: &mut Rng, from: u64, n: u64) {
        self.generation += 1;
        let entries: Vec<(u64, Vec<u8>)> = (from..from + n)
            .map(|i| {
                let mut p = format!("{i}/{}:", self.generation).into_bytes();
                p.extend((0..rng.below(120)).map(|_| rng.next_u64() as u8));
                (i, p)
            })
            .collect();
        for (i, p) in &entries {
            self.record(|m| m.entry(*i, p));
        }
        let done = self.ack();
        self.wal.append(entries.iter().map(|(i, p)| (*i, p.as_slice())), done).unwrap();
    }

    fn step(&mut self, rng: &mut Rng) {
        let now = self.now();
        let committed = now.committed.as_deref().map_or(0, as_u64);
        let purged = now.purged.as_ref().map_or(0, |p| p.0);
        let last = now.last();
        let next = last.map_or(purged + 1, |l| l + 1);
        match rng.below(100) {
            0..45 => {
                let n = 1 + rng.below(4);
                self.append(rng, next, n);
            }
            45..53 => match last {
                Some(last) if last > committed => {
                    let from = committed + 1 + rng.below(last - committed);
                    self.record(|m| {
                        m.entries.split_off(&from);
                    });
                    self.wal.truncate_from(from).unwrap();
                    let n = 1 + rng.below(2);
                    self.append(rng, from, n);
                }
                _ => self.append(rng, next, 1),
            },
            53..63 => {
                self.votes += 1;
                let vote = u64_bytes(self.votes);
                self.record(|m| m.vote = Some(vote.clone()));
                if rng.chance(50) {
                    let (tx, rx) = mpsc::channel();
                    let ack = self.ack();
                    let done: Completion = Box::new(move |r| {
                        let ok = r.is_ok();
                        ack(r);
                        let _ = tx.send(ok);
                    });
                    self.wal.save_vote(&vote, done).unwrap();
                    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "vote synced");
                } else {
                    let done = self.ack();
                    self.wal.save_vote(&vote, done).unwrap();
                }
            }
            63..78 => {
                let c =
                    committed + rng.below(last.unwrap_or(committed).saturating_sub(committed) + 1);
                self.record(|m| m.committed = Some(u64_bytes(c)));
                self.wal.save_committed(&u64_bytes(c)).unwrap();
            }
            78..85 => {
                let p = purged + rng.below(committed.saturating_sub(purged) + 1);
                let meta = format!("id of {p}").into_bytes();
                self.record(|m| m.purged = Some((p, meta.clone())));
                self.wal.purge(p, &meta).unwrap();
                if rng.chance(70) {
                    let floor = p.saturating_sub(rng.below(5));
                    // Everything written before the release is durable once it returns.
                    let synced = self.history.len() - 1;
                    if self.wal.release(floor).unwrap() > 0 {
                        // It synced before deleting.
                        self.acked.fetch_max(synced, Ordering::SeqCst);
                        self.floor = self.floor.max(Some(floor));
                    }
                }
            }
            85..88 => {
                // A snapshot installed past the end of the log: the next append leaves a hole.
                let p = next + rng.below(5);
                let meta = format!("id of {p}").into_bytes();
                self.record(|m| m.purged = Some((p, meta.clone())));
                self.wal.purge(p, &meta).unwrap();
                self.record(|m| m.committed = Some(u64_bytes(p)));
                self.wal.save_committed(&u64_bytes(p)).unwrap();
                self.append(rng, p + 1, 1);
            }
            _ => {
                let synced = self.history.len() - 1;
                self.wal.sync().unwrap();
                self.acked.fetch_max(synced, Ordering::SeqCst);
            }
        }
    }

    /// Cuts the power now and checks what a reboot recovers; returns the recovered WAL.
    fn cut_and_check(&self, rng: &mut Rng, what: &str) -> (SimDisk, Wal) {
        // The acknowledgements first: everything they cover is durable before the cut.
        let acked = self.acked.load(Ordering::SeqCst);
        let cut = [Cut::Drop, Cut::Prefix, Cut::Tear][rng.below(3) as usize];
        let image = self.disk.power_cut(rng, cut);
        let wal = open_sim(&image, SEGMENT)
            .unwrap_or_else(|e| panic!("{what}: recovery after a {cut:?} cut failed: {e}"));
        let got = Model::of(&wal);
        let found =
            (acked..self.history.len()).rev().find(|&k| got.matches(&self.history[k], self.floor));
        assert!(
            found.is_some(),
            "{what}: after a {cut:?} cut, the recovered WAL is not the state after any prefix of \
             the writes that includes the {acked} acknowledged ones ({} written)\nrecovered: \
             {got:?}\nacknowledged: {:?}",
            self.history.len() - 1,
            self.history[acked]
        );
        let acked_vote = self.history[acked].vote.as_deref().map_or(0, as_u64);
        assert!(got.vote.as_deref().map_or(0, as_u64) >= acked_vote, "{what}: the vote went back");
        (image, wal)
    }
}

/// Thousands of power cuts at random points of a random workload (segment rollovers, truncations,
/// purges with segment deletion, holes), each followed by recovery: the recovered WAL is exactly
/// the state after some prefix of the records written — so nothing is invented and a truncation
/// is honoured — and that prefix includes every record acknowledged before the cut (so the vote
/// never goes back). Some recovered WALs take more writes and another cut.
#[test]
fn power_cuts_lose_nothing_acknowledged_and_invent_nothing() {
    let mut cuts = 0;
    for seed in 0..160u64 {
        let mut rng = Rng::new(seed);
        let disk = SimDisk::default();
        let wal = open_sim(&disk, SEGMENT).unwrap();
        let mut driver = Driver::new(disk, wal, None);
        for step in 0..150 {
            driver.step(&mut rng);
            if rng.chance(8) {
                let what = format!("seed {seed}, step {step}");
                let (image, wal) = driver.cut_and_check(&mut rng, &what);
                cuts += 1;
                if rng.chance(30) {
                    // Go on from the recovered disk: writes after a repaired tail survive too.
                    driver = Driver::new(image, wal, driver.floor);
                }
            }
        }
        let (_, _) = driver.cut_and_check(&mut rng, &format!("seed {seed}, end"));
        cuts += 1;
    }
    assert!(cuts >= 2_000, "only {cuts} cuts");
}

/// No completion runs before an `fdatasync` that covers its write: at the moment it runs, the sync
/// count has moved past the count at write time, and a power cut at that very moment keeps the
/// entry.
#[test]
fn appends_are_acknowledged_only_after_the_sync_that_covers_them() {
    let disk = SimDisk::default();
    let wal = open_sim(&disk, 4096).unwrap();
    let (tx, rx) = mpsc::channel();
    let n = 200u64;
    for i in 1..=n {
        let (d, tx) = (disk.clone(), tx.clone());
        let before = disk.syncs();
        let payload = format!("entry {i}").into_bytes();
        let done: Completion = Box::new(move |r| {
            let image = d.power_cut(&mut Rng::new(i), Cut::Drop);
            let _ = tx.send((i, r.is_ok(), before, d.syncs(), image));
        });
        wal.append([(i, payload.as_slice())], done).unwrap();
    }
    let mut order = Vec::new();
    for _ in 1..=n {
        let (i, ok, before, at_ack, image) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(ok);
        assert!(at_ack > before, "entry {i} acknowledged with no sync since its write");
        if i % 20 == 0 {
            let recovered = open_sim(&image, 4096).unwrap();
            let got = recovered.reader().get(i).unwrap();
            assert_eq!(
                got,
                Some(format!("entry {i}").into_bytes()),
                "entry {i} not durable at ack"
            );
        }
        order.push(i);
    }
    assert_eq!(order, (1..=n).collect::<Vec<_>>(), "completions run in write order");
    assert_eq!(wal.completions(), n);
    assert!(wal.syncs() >= 1 && wal.syncs() <= n);
}

/// A failed fdatasync fails its waiters, later waiters and later writes, and is never retried.
#[test]
fn a_failed_sync_is_fatal_and_never_retried() {
    let disk = SimDisk::default();
    let wal = open_sim(&disk, 4096).unwrap();
    wal.append([(1, &b"one"[..])], ignore()).unwrap();
    wal.sync().unwrap();
    disk.fail_syncs(true);
    let (tx, rx) = mpsc::channel();
    wal.append([(2, &b"two"[..])], Box::new(move |r| tx.send(r).unwrap())).unwrap();
    let err = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap_err();
    assert!(err.to_string().contains("never retried"), "{err}");
    disk.fail_syncs(false);
    let syncs = disk.syncs();
    let again = wal.append([(3, &b"three"[..])], ignore()).unwrap_err();
    assert!(again.to_string().contains("fdatasync"), "{again}");
    assert!(wal.save_vote(b"v", ignore()).is_err());
    assert!(wal.save_committed(b"c").is_err());
    assert!(wal.sync().is_err());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(disk.syncs(), syncs, "the failed sync was retried");
    // What was written stays readable.
    assert_eq!(wal.reader().get(1).unwrap(), Some(b"one".to_vec()));
}

pub(super) fn write_entries(wal: &Wal, rng: &mut Rng, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        let mut p = format!("entry {i}:").into_bytes();
        p.extend((0..rng.below(300)).map(|_| rng.next_u64() as u8));
        wal.append([(i, p.as_slice())], ignore()).unwrap();
    }
    wal.sync().unwrap();
}

/// The segment files in `dir` (not a `.tmp` being preallocated).
pub(super) fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    names
}

/// Where the records in a segment file's bytes end (its logical end; zeros follow, if anything).
pub(super) fn logical_end(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Ok(Some((_, next))) = record::decode(bytes, at) {
        at = next;
    }
    at
}

/// Real files, damaged after a clean shutdown: the last (preallocated) segment truncated or with a
/// flipped byte at random offsets (in its records or in its zero fill), or zero-filled past its
/// end. Recovery keeps exactly the records that end before the damage, cuts the segment there
/// (zeros from there on: nothing after it parses), and takes new writes after it.
#[test]
fn a_damaged_last_segment_is_cut_at_the_first_bad_record() {
    for trial in 0..40u64 {
        let mut rng = Rng::new(1000 + trial);
        let dir = tempfile::tempdir().unwrap();
        let (vote, full, locs, last_name) = {
            let wal = Wal::open(dir.path(), small(4096)).unwrap();
            let (tx, rx) = mpsc::channel();
            wal.save_vote(b"vote 1", Box::new(move |r| tx.send(r).unwrap())).unwrap();
            rx.recv().unwrap().unwrap();
            write_entries(&wal, &mut rng, 1..=40);
            let locs: Vec<_> = (1..=40).map(|i| (i, wal.loc(i).unwrap())).collect();
            let names = wal.segment_names();
            assert!(names.len() >= 2, "the test needs an earlier segment");
            (wal.vote(), all_entries(&wal), locs, names.last().unwrap().clone())
        };
        let path = dir.path().join(&last_name);
        let len = std::fs::metadata(&path).unwrap().len();
        let mut bytes = std::fs::read(&path).unwrap();
        let end_before = logical_end(&bytes);
        let (kind, cut_at) = match rng.below(3) {
            0 => {
                let d = rng.below(len);
                bytes.truncate(d as usize);
                ("truncated", d)
            }
            1 => {
                let d = rng.below(len);
                bytes[d as usize] ^= 1 + rng.below(255) as u8;
                ("flipped", d)
            }
            _ => {
                bytes.extend(std::iter::repeat_n(0u8, 4096));
                ("zero-filled", len)
            }
        };
        std::fs::write(&path, &bytes).unwrap();
        let what = format!("trial {trial}: {kind} at {cut_at} of {len}");
        let expected: BTreeMap<u64, Vec<u8>> = locs
            .iter()
            .filter(|(_, (name, loc))| *name != last_name || loc.off + u64::from(loc.len) <= cut_at)
            .map(|(i, _)| (*i, full[i].clone()))
            .collect();
        let wal = Wal::open(dir.path(), small(4096)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(wal.vote(), vote, "{what}");
        assert_eq!(all_entries(&wal), expected, "{what}");
        // The segment was cut just after the last good record, only zeros after it (or removed,
        // if none was good); a clean zero fill is kept as it was.
        if let Ok(after) = std::fs::read(&path) {
            let kept = logical_end(&after);
            assert!(after[kept..].iter().all(|&b| b == 0), "{what}: non-zero bytes after {kept}");
            if kind == "zero-filled" {
                assert_eq!(kept, end_before, "{what}");
                assert_eq!(after.len(), bytes.len(), "{what}: the zero fill was cut away");
            } else {
                assert!(kept as u64 <= cut_at, "{what}: {kept} bytes kept");
            }
        }
        // New writes go after the cut, and survive a restart.
        let next = expected.last_key_value().map_or(1, |(i, _)| i + 1);
        write_entries(&wal, &mut rng, next..=next + 2);
        let after = all_entries(&wal);
        drop(wal);
        let wal = Wal::open(dir.path(), small(4096)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(all_entries(&wal), after, "{what}: after writing past the cut");
    }
}

/// Damage in a segment before the last is synced data gone bad: opening refuses, naming the file
/// and the offset of the damaged record.
#[test]
fn damage_in_an_earlier_segment_is_refused_naming_file_and_offset() {
    let mut rng = Rng::new(7);
    let dir = tempfile::tempdir().unwrap();
    let (name, loc) = {
        let wal = Wal::open(dir.path(), small(4096)).unwrap();
        write_entries(&wal, &mut rng, 1..=60);
        assert!(wal.segment_names().len() >= 3);
        wal.loc(3).unwrap()
    };
    assert_ne!(files(dir.path()).last(), Some(&name));
    let path = dir.path().join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(loc.off + u64::from(loc.len) - 2) as usize] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::open(dir.path(), small(4096)).err().expect("opening must fail");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {}", loc.off)), "{msg}");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    // Nothing was "repaired".
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// Segments roll over at the size bound; releasing deletes the files whose entries are all at or
/// below the floor (never the current one), and a reopened WAL has the same entries and purge
/// point.
#[test]
fn segments_roll_over_and_released_segments_are_deleted() {
    let mut rng = Rng::new(3);
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small(2048)).unwrap();
    write_entries(&wal, &mut rng, 1..=200);
    let segments = files(dir.path());
    assert!(segments.len() >= 10, "{segments:?}");
    assert_eq!(wal.segments(), segments.len());
    // Segment order (by sequence number) is the order of the file names.
    assert_eq!(wal.segment_names(), segments);
    let full = all_entries(&wal);
    assert!(!wal.releasable(0), "no segment holds only entries at or below 0");
    assert_eq!(wal.release(0).unwrap(), 0);

    wal.purge(150, b"150").unwrap();
    let deleted = wal.release(150).unwrap();
    assert!(deleted > 0);
    assert_eq!(files(dir.path()).len(), segments.len() - deleted);
    let (first, last) = wal.reader().bounds().unwrap();
    assert!(first <= 151, "entry 151 must stay, the log starts at {first}");
    assert_eq!(last, 200);
    // The segment holding 151 is kept, so some entries at or below the floor may remain.
    let segment_of_151 = wal.loc(151).unwrap().0;
    assert!(files(dir.path()).contains(&segment_of_151));
    assert_eq!(wal.loc(first).unwrap().0, segment_of_151);
    let kept = all_entries(&wal);
    assert_eq!(kept, full.range(first..).map(|(i, e)| (*i, e.clone())).collect());
    drop(wal);

    let wal = Wal::open(dir.path(), small(2048)).unwrap();
    assert_eq!(wal.purged(), Some((150, b"150".to_vec())));
    assert_eq!(all_entries(&wal), kept);
    write_entries(&wal, &mut rng, 201..=210);
    wal.purge(210, b"210").unwrap();
    wal.release(u64::MAX).unwrap();
    assert_eq!(files(dir.path()).len(), 1, "only the current segment is left");
    // Whatever is left is in the current segment, up to the last entry.
    assert!(wal.reader().bounds().is_none_or(|(_, last)| last == 210));
    let left = all_entries(&wal);
    drop(wal);
    let wal = Wal::open(dir.path(), small(2048)).unwrap();
    assert_eq!(all_entries(&wal), left);
    assert_eq!(wal.purged(), Some((210, b"210".to_vec())));
}

/// Reads stop at a count and at about a byte bound (never returning nothing when an entry is
/// there), and a reader handle outlives the WAL.
#[test]
fn reads_are_bounded_by_count_and_bytes() {
    let disk = SimDisk::default();
    let wal = open_sim(&disk, 1 << 20).unwrap();
    for i in 250..=260u64 {
        wal.append([(i, format!("e{i}").as_bytes())], ignore()).unwrap();
    }
    let r = wal.reader();
    let idx = |v: Vec<(u64, Vec<u8>)>| v.into_iter().map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(idx(r.read(254, 257, usize::MAX, usize::MAX).unwrap()), vec![254, 255, 256, 257]);
    assert_eq!(idx(r.read(254, 258, 2, usize::MAX).unwrap()), vec![254, 255]);
    assert_eq!(idx(r.read(0, 251, usize::MAX, usize::MAX).unwrap()), vec![250, 251]);
    assert!(r.read(300, u64::MAX, usize::MAX, usize::MAX).unwrap().is_empty());
    // Records of 4-byte payloads are 8 + 1 + 8 + 4 = 21 bytes: the read stops once it reaches
    // the bound, and always returns at least one entry.
    assert_eq!(idx(r.read(250, u64::MAX, usize::MAX, 42).unwrap()), vec![250, 251]);
    assert_eq!(idx(r.read(250, u64::MAX, usize::MAX, 43).unwrap()), vec![250, 251, 252]);
    assert_eq!(idx(r.read(250, u64::MAX, usize::MAX, 1).unwrap()), vec![250]);
    assert_eq!(r.get(256).unwrap(), Some(b"e256".to_vec()));
    assert_eq!(r.bounds(), Some((250, 260)));
    drop(wal);
    assert_eq!(r.get(260).unwrap(), Some(b"e260".to_vec()), "the reader outlives the WAL");
    let _ = disk;
}
