//! Tests of preallocated segments (real disk): appends go to the logical end of a reopened,
//! partly used segment; a torn record inside the zero fill is cut and zeroed, and writes after
//! it survive restarts; segments are full-size files from their creation.

use super::sim::Rng;
use super::tests::{all_entries, files, ignore, logical_end, small, write_entries};
use super::*;

const SIZE: u64 = 64 << 10;

fn file_len(dir: &std::path::Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).unwrap().len()
}

/// A reopened WAL whose last segment is preallocated and partly used appends at its logical end
/// (not at the end of the file), keeps the preallocation, and recovers everything after another
/// restart.
#[test]
fn a_reopened_partly_used_segment_is_appended_at_its_logical_end() {
    let mut rng = Rng::new(11);
    let dir = tempfile::tempdir().unwrap();
    let (name, end) = {
        let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
        write_entries(&wal, &mut rng, 1..=20);
        let (name, loc) = wal.loc(20).unwrap();
        (name, loc.off + u64::from(loc.len))
    };
    assert_eq!(files(dir.path()), vec![name.clone()]);
    assert_eq!(file_len(dir.path(), &name), SIZE, "the segment is preallocated");
    let bytes = std::fs::read(dir.path().join(&name)).unwrap();
    assert_eq!(logical_end(&bytes) as u64, end);
    assert!(bytes[end as usize..].iter().all(|&b| b == 0));

    let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
    assert_eq!(file_len(dir.path(), &name), SIZE, "reopening keeps the preallocation");
    let before = all_entries(&wal);
    assert_eq!(before.len(), 20);
    write_entries(&wal, &mut rng, 21..=30);
    let (name21, loc21) = wal.loc(21).unwrap();
    assert_eq!((name21, loc21.off), (name.clone(), end), "appended at the logical end");
    let now = all_entries(&wal);
    assert_eq!(now.len(), 30);
    assert_eq!(file_len(dir.path(), &name), SIZE, "appends inside the preallocation");
    drop(wal);
    let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
    assert_eq!(all_entries(&wal), now);
    assert_eq!(wal.segment_names(), vec![name]);
}

/// A torn write in a preallocated segment — a bad record with a good one after it, then zeros —
/// is cut at the bad record, and zeroed to the end (the good record after it is gone too); an
/// append after that recovery survives another restart.
#[test]
fn an_append_after_a_torn_record_in_a_preallocated_segment_survives_a_restart() {
    let mut rng = Rng::new(12);
    let dir = tempfile::tempdir().unwrap();
    let (name, loc10) = {
        let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
        write_entries(&wal, &mut rng, 1..=12);
        let (name, loc) = wal.loc(10).unwrap();
        assert_eq!(wal.loc(12).unwrap().0, name);
        (name, loc)
    };
    let path = dir.path().join(&name);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(loc10.off + u64::from(loc10.len) - 3) as usize] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();

    let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
    let kept = all_entries(&wal);
    assert_eq!(kept.keys().copied().collect::<Vec<_>>(), (1..=9).collect::<Vec<_>>());
    let after = std::fs::read(&path).unwrap();
    assert_eq!(after.len() as u64, SIZE, "the preallocation is kept");
    assert_eq!(logical_end(&after) as u64, loc10.off);
    assert!(after[loc10.off as usize..].iter().all(|&b| b == 0), "the torn tail is zeroed");

    // Shorter entries than before: had the old records been left behind, one could line up.
    for i in 10..=14u64 {
        wal.append([(i, format!("again {i}").as_bytes())], ignore()).unwrap();
    }
    wal.sync().unwrap();
    assert_eq!(wal.loc(10).unwrap().1.off, loc10.off, "appended at the cut");
    let now = all_entries(&wal);
    drop(wal);
    let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
    assert_eq!(all_entries(&wal), now);
    assert_eq!(wal.reader().get(12).unwrap(), Some(b"again 12".to_vec()));
    drop(wal);
    let wal = Wal::open(dir.path(), small(SIZE)).unwrap();
    assert_eq!(all_entries(&wal), now);
}

/// Every segment a cut creates is a full-size file from the start, the next one is prepared as a
/// `.tmp` (removed by recovery if left over), and old segments whose logical end is below their
/// file length stay readable and deletable.
#[test]
fn cut_segments_are_preallocated_and_leftover_tmp_files_are_removed() {
    let mut rng = Rng::new(13);
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    write_entries(&wal, &mut rng, 1..=60);
    let names = files(dir.path());
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        assert!(file_len(dir.path(), name) >= 4096, "{name} is not preallocated");
    }
    let full = all_entries(&wal);
    drop(wal);
    // Reopen with a larger segment size: the old segments end early, in zeros.
    let wal = Wal::open(dir.path(), small(8192)).unwrap();
    assert_eq!(all_entries(&wal), full);
    write_entries(&wal, &mut rng, 61..=200);
    let full = all_entries(&wal);
    drop(wal);
    std::fs::write(dir.path().join(prealloc::tmp_name(999)), b"half-made").unwrap();
    let wal = Wal::open(dir.path(), small(2048)).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(all_entries(&wal), full);
    wal.purge(150, b"150").unwrap();
    assert!(wal.release(150).unwrap() > 0);
    let (first, last) = wal.reader().bounds().unwrap();
    assert!(first <= 151 && last == 200);
    assert_eq!(all_entries(&wal), full.range(first..).map(|(i, e)| (*i, e.clone())).collect());
    write_entries(&wal, &mut rng, 201..=260);
    let full = all_entries(&wal);
    drop(wal);
    let names = files(dir.path());
    let early = names[..names.len() - 1]
        .iter()
        .find(|n| {
            let bytes = std::fs::read(dir.path().join(n)).unwrap();
            logical_end(&bytes) < bytes.len()
        })
        .expect("an earlier segment that ends in zeros")
        .clone();
    let wal = Wal::open(dir.path(), small(2048)).unwrap();
    assert_eq!(all_entries(&wal), full);
    drop(wal);
    // Such a segment losing its last entry to zeros is damage, not a clean end.
    let path = dir.path().join(&early);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut at = 0;
    let mut last_entry = None;
    while let Ok(Some((r, next))) = record::decode(&bytes, at) {
        if matches!(r, record::Record::Entry { .. }) {
            last_entry = Some(at);
        }
        at = next;
    }
    let from = last_entry.expect("an entry in the segment");
    bytes[from..].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::open(dir.path(), small(2048)).err().expect("opening must fail");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}
