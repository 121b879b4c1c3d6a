//! After any crash, every acknowledged record is readable and intact, and replay yields
//! exactly a prefix of what was written (never a hole, never a wrong record).

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use lazuli_stream::record::{self, FrameVersion};
use lazuli_stream::{
    FaultPlan, LocalStore, MemStore, RecordLocation, StoreOptions, Stream, StreamError, StreamOptions, StreamPosition,
    StreamStore,
};
use proptest::prelude::*;

fn replay(stream: &dyn Stream) -> Vec<(RecordLocation, Vec<u8>)> {
    let mut out = Vec::new();
    stream
        .replay(StreamPosition::default(), &mut |loc, p| {
            out.push((loc, p.to_vec()));
            Ok(())
        })
        .unwrap();
    out
}

/// A stream written in `version`'s frames (blob data's chunk checksums, or not).
fn open_as(store: &dyn StreamStore, version: FrameVersion) -> Arc<dyn Stream> {
    store
        .open_stream_with(
            "log",
            StreamOptions {
                chunk_checksums: version == FrameVersion::Chunked,
                ..StreamOptions::default()
            },
        )
        .unwrap()
}

fn frame_version() -> impl Strategy<Value = FrameVersion> {
    prop_oneof![Just(FrameVersion::Whole), Just(FrameVersion::Chunked)]
}

fn batches() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let record = proptest::collection::vec(any::<u8>(), 0..300);
    let batch = proptest::collection::vec(record, 1..4);
    proptest::collection::vec(batch, 1..25)
}

#[derive(Clone, Debug)]
enum TailDamage {
    /// Cut the file this many bytes into the unacknowledged frames.
    Truncate(usize),
    /// Invert the byte at this index of the unacknowledged frames.
    Flip(usize),
    /// Append these bytes after the unacknowledged frames.
    Garbage(Vec<u8>),
}

fn tail_damage() -> impl Strategy<Value = TailDamage> {
    prop_oneof![
        any::<usize>().prop_map(TailDamage::Truncate),
        any::<usize>().prop_map(TailDamage::Flip),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(TailDamage::Garbage),
    ]
}

/// Number of whole frames in `frames` (lengths in bytes) that end at or before `limit`.
fn frames_before(frame_lens: &[usize], limit: usize) -> usize {
    let mut end = 0;
    frame_lens
        .iter()
        .take_while(|len| {
            end += **len;
            end <= limit
        })
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// LocalStore: acknowledged records, then unacknowledged frames written by hand at the end
    /// of the last extent (as a crash mid-append leaves them), then damage to that tail.
    #[test]
    fn local_store_recovers_a_damaged_tail(
        acked in batches(),
        unacked in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..6),
        damage in tail_damage(),
        version in frame_version(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // No fsync: the property is about what recovery does with the bytes it finds, and
        // the tests share the machine's disk with other work.
        let options = StoreOptions { extent_size_bytes_max: 2048, sync: false };
        let mut expected: Vec<(RecordLocation, Vec<u8>)> = Vec::new();
        let last_path;
        {
            let store = LocalStore::open(dir.path(), options.clone()).unwrap();
            let s = open_as(&*store, version);
            for batch in &acked {
                let refs: Vec<&[u8]> = batch.iter().map(|r| &r[..]).collect();
                let locs = s.append(&refs).unwrap();
                expected.extend(locs.into_iter().zip(batch.iter().cloned()));
            }
            let last = s.extents().last().unwrap().id;
            last_path = store.extent_path("log", last).unwrap();
        }
        let mut tail = Vec::new();
        let frame_lens: Vec<usize> = unacked.iter().map(|r| {
            record::encode_as(version, r, &mut tail);
            version.frame_len(r.len()).unwrap()
        }).collect();
        let surviving = match &damage {
            TailDamage::Truncate(at) => {
                let cut = at % (tail.len() + 1);
                tail.truncate(cut);
                frames_before(&frame_lens, cut)
            }
            TailDamage::Flip(at) if !tail.is_empty() => {
                let at = at % tail.len();
                tail[at] ^= 0xFF;
                frames_before(&frame_lens, at)
            }
            TailDamage::Flip(_) => 0,
            TailDamage::Garbage(bytes) => {
                tail.extend_from_slice(bytes);
                // Random bytes pass a frame's header checksum with probability 2^-32.
                frame_lens.len()
            }
        };
        let mut file = OpenOptions::new().append(true).open(&last_path).unwrap();
        file.write_all(&tail).unwrap();
        drop(file);

        let store = LocalStore::open(dir.path(), options).unwrap();
        let s = open_as(&*store, version);
        let replayed = replay(&*s);
        prop_assert_eq!(replayed.len(), expected.len() + surviving);
        prop_assert_eq!(&replayed[..expected.len()], &expected[..]);
        for (extra, (_, payload)) in replayed[expected.len()..].iter().enumerate() {
            prop_assert_eq!(payload, &unacked[extra]);
        }
        for (loc, payload) in &expected {
            prop_assert_eq!(&s.read(*loc).unwrap(), payload);
        }
        // The next append goes right after the last surviving record.
        let end = s.end_position();
        if let Some((last, _)) = replayed.last() {
            let last_end = last.offset + version.frame_len(last.len as usize).unwrap() as u64;
            prop_assert!(
                (last.extent, last_end) == (end.extent, end.offset)
                    || end.offset == lazuli_stream::EXTENT_HEADER_BYTES as u64
            );
        }
        let next = s.append(&[b"next"]).unwrap()[0];
        prop_assert_eq!(s.read(next).unwrap(), b"next".to_vec());
    }

    /// MemStore: random appends under a random fault (failed write, torn write, failed
    /// sync), then a random kind of crash.
    #[test]
    fn mem_store_survives_faults_and_crashes(
        plan in batches(),
        fault_kind in 0u8..3,
        fault_at in 1u64..60,
        keep in 0usize..400,
        crash_kind in 0u8..3,
        seed in any::<u64>(),
        version in frame_version(),
    ) {
        let store = MemStore::with_options(StoreOptions { extent_size_bytes_max: 1024, sync: true });
        let s = open_as(&*store, version);
        store.set_faults(match fault_kind {
            0 => FaultPlan::new().fail_nth_write(fault_at),
            1 => FaultPlan::new().tear_nth_write(fault_at, keep),
            _ => FaultPlan::new().fail_nth_sync(fault_at),
        });
        // Records acknowledged, and every record that may have reached the file in order.
        let mut acked: Vec<(RecordLocation, Vec<u8>)> = Vec::new();
        let mut attempted: Vec<Vec<u8>> = Vec::new();
        for batch in &plan {
            let refs: Vec<&[u8]> = batch.iter().map(|r| &r[..]).collect();
            match s.append(&refs) {
                Ok(locs) => {
                    acked.extend(locs.into_iter().zip(batch.iter().cloned()));
                    attempted.extend(batch.iter().cloned());
                }
                Err(StreamError::Io { .. }) if fault_kind == 0 => {
                    // A plain failed write is cut back; the stream goes on.
                }
                Err(_) => {
                    // Poisoned or dead: this batch may be partly on disk, nothing after it.
                    attempted.extend(batch.iter().cloned());
                    prop_assert!(s.append(&[b"refused"]).is_err());
                    break;
                }
            }
        }
        let restarted = match crash_kind {
            0 => store.crash(),
            1 => store.crash_torn(seed),
            _ => store.crash_process(),
        };
        let s2 = open_as(&*restarted, version);
        let replayed = replay(&*s2);
        prop_assert!(replayed.len() >= acked.len(), "lost acknowledged records");
        prop_assert!(replayed.len() <= attempted.len());
        for (i, (_, payload)) in replayed.iter().enumerate() {
            prop_assert_eq!(payload, &attempted[i], "replay is not a prefix");
        }
        for (i, (loc, payload)) in acked.iter().enumerate() {
            prop_assert_eq!(&replayed[i].0, loc);
            prop_assert_eq!(&s2.read(*loc).unwrap(), payload);
        }
        // The restarted store accepts writes, and they survive another power loss.
        let next = s2.append(&[b"after"]).unwrap()[0];
        let again = restarted.crash();
        let s3: Arc<dyn Stream> = open_as(&*again, version);
        prop_assert_eq!(s3.read(next).unwrap(), b"after".to_vec());
        prop_assert_eq!(replay(&*s3).len(), replayed.len() + 1);
    }
}

/// A torn tail written by hand into the file of a real store: half a frame after two good
/// records is cut, durably, on open.
#[test]
fn local_store_cuts_a_hand_written_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default();
    let (locs, path) = {
        let store = LocalStore::open(dir.path(), options.clone()).unwrap();
        let s = store.open_stream("log").unwrap();
        let locs = s.append(&[b"alpha", b"beta"]).unwrap();
        (locs, store.extent_path("log", 1).unwrap())
    };
    let good_len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(good_len, locs[1].end(FrameVersion::Whole).offset);
    let torn = record::encode(b"gamma, never acknowledged");
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&torn[..torn.len() / 2]).unwrap();
    drop(file);

    let store = LocalStore::open(dir.path(), options).unwrap();
    let s = store.open_stream("log").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len, "file cut back");
    let payloads: Vec<Vec<u8>> = replay(&*s).into_iter().map(|(_, p)| p).collect();
    assert_eq!(payloads, [b"alpha".to_vec(), b"beta".to_vec()]);
    let next = s.append(&[b"delta"]).unwrap()[0];
    assert_eq!(next.offset, good_len);
}

/// An extent file whose creation never became durable (no header) is started over; one
/// with a damaged header is refused rather than overwritten.
#[test]
fn local_store_extent_header_recovery() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
        let s = store.open_stream("log").unwrap();
        s.append(&[b"a"]).unwrap();
        s.seal().unwrap();
    }
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let open_path = store.extent_path("log", 2).unwrap();
    drop(store);
    // Extent 2 lost its header (created, crash before the sync).
    std::fs::write(&open_path, [0u8; 10]).unwrap();
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let s = store.open_stream("log").unwrap();
    assert_eq!(s.append(&[b"b"]).unwrap()[0].extent, 2);
    drop((s, store));

    // A zeroed header in front of records is damage, not an interrupted creation.
    let original = std::fs::read(&open_path).unwrap();
    let mut zeroed = original.clone();
    zeroed[..24].fill(0);
    std::fs::write(&open_path, &zeroed).unwrap();
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(matches!(
        store.open_stream("log"),
        Err(StreamError::Corrupt {
            extent: 2,
            offset: 0,
            ..
        })
    ));
    drop(store);

    let mut header = original;
    header[3] ^= 1;
    std::fs::write(&open_path, header).unwrap();
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(matches!(
        store.open_stream("log"),
        Err(StreamError::Corrupt {
            extent: 2,
            offset: 0,
            ..
        })
    ));
}

/// Files that are not extents are ignored; nothing in a stream directory is trusted by name
/// alone.
#[test]
fn local_store_ignores_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let s = store.open_stream("log").unwrap();
    let loc = s.append(&[b"a"]).unwrap()[0];
    drop((s, store));
    std::fs::write(dir.path().join("log").join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.path().join("log").join("00000000000000ff.extent.tmp"), b"x").unwrap();
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let s = store.open_stream("log").unwrap();
    assert_eq!(s.extents().len(), 1);
    assert_eq!(s.read(loc).unwrap(), b"a");
}
