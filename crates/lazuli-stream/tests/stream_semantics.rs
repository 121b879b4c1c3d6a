//! The `Stream` contract, checked on both stores: appends, reads, replay, sealing, deletion,
//! live bytes, names.

use std::sync::Arc;

use lazuli_stream::record::FrameVersion;
use lazuli_stream::record::FRAME_HEADER_BYTES;
use lazuli_stream::{
    LocalStore, MemStore, RecordLocation, StoreOptions, Stream, StreamError, StreamPosition, StreamStore,
    EXTENT_HEADER_BYTES,
};

fn small(extent_size_bytes_max: u64) -> StoreOptions {
    StoreOptions {
        extent_size_bytes_max,
        sync: true,
    }
}

/// Runs `check` against a fresh MemStore and a fresh LocalStore in a temporary directory.
fn on_both_stores(options: StoreOptions, check: impl Fn(Arc<dyn StreamStore>)) {
    check(MemStore::with_options(options.clone()));
    let dir = tempfile::tempdir().unwrap();
    check(LocalStore::open(dir.path(), options).unwrap());
}

fn replay_all(stream: &dyn Stream, from: StreamPosition) -> Vec<(RecordLocation, Vec<u8>)> {
    let mut out = Vec::new();
    stream
        .replay(from, &mut |loc, payload| {
            out.push((loc, payload.to_vec()));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn append_then_read_and_replay() {
    on_both_stores(StoreOptions::default(), |store| {
        let s = store.open_stream("commit.log").unwrap();
        assert_eq!(s.name(), "commit.log");
        let a = s.append(&[b"first", b"", b"third record"]).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].offset, EXTENT_HEADER_BYTES as u64);
        // Records of one call are contiguous.
        assert_eq!(a[1].offset, a[0].end(FrameVersion::Whole).offset);
        assert_eq!(a[2].offset, a[1].end(FrameVersion::Whole).offset);
        let b = s.append(&[b"fourth"]).unwrap();
        assert_eq!(b[0].offset, a[2].end(FrameVersion::Whole).offset);
        assert_eq!(s.end_position(), b[0].end(FrameVersion::Whole));
        assert_eq!(s.read(a[0]).unwrap(), b"first");
        assert_eq!(s.read(a[1]).unwrap(), b"");
        assert_eq!(s.read(a[2]).unwrap(), b"third record");
        assert_eq!(s.read(b[0]).unwrap(), b"fourth");

        let all = replay_all(&*s, StreamPosition::default());
        let payloads: Vec<&[u8]> = all.iter().map(|(_, p)| &p[..]).collect();
        assert_eq!(payloads, [&b"first"[..], b"", b"third record", b"fourth"]);
        assert_eq!(all[3].0, b[0]);
        // Replay from a record's start, and from the middle of a record (next one on).
        let from_third = replay_all(
            &*s,
            StreamPosition {
                extent: a[2].extent,
                offset: a[2].offset,
            },
        );
        assert_eq!(from_third.len(), 2);
        let mid = StreamPosition {
            extent: a[2].extent,
            offset: a[2].offset + 3,
        };
        assert_eq!(replay_all(&*s, mid).len(), 1);
        assert!(replay_all(&*s, s.end_position()).is_empty());
    });
}

/// A read from memory only returns what `read` returns, small and large records alike, or
/// defers (`None`): an in-memory store always has the bytes; on disk, records just written
/// are in the page cache (`local.rs` checks that they are found there where the file system
/// supports reads from the cache alone).
#[test]
fn cached_reads_return_what_reads_return() {
    let dir = tempfile::tempdir().unwrap();
    let stores: [(Arc<dyn StreamStore>, bool); 2] = [
        (MemStore::new(), true),
        (LocalStore::open(dir.path(), StoreOptions::default()).unwrap(), false),
    ];
    for (store, always_cached) in stores {
        let s = store.open_stream("data").unwrap();
        let large: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let records: [&[u8]; 3] = [b"small", b"", &large];
        let locations = s.append(&records).unwrap();
        for (location, record) in locations.iter().zip(records) {
            match s.read_cached(*location).unwrap() {
                Some(bytes) => assert_eq!(bytes, record),
                None => assert!(!always_cached, "the in-memory store deferred a read"),
            }
        }
    }
}

/// With nothing in memory a cached read says so (`None`) and never blocks or fails; the
/// ordinary read still returns the record. Damage is an error either way, never bytes.
#[test]
fn cached_reads_defer_to_reads_and_report_damage() {
    let store = MemStore::new();
    let s = store.open_stream("data").unwrap();
    let large = vec![7u8; 100_000];
    let locations = s.append(&[b"small record", &large]).unwrap();
    store.set_cold_reads(true);
    for location in &locations {
        assert_eq!(s.read_cached(*location).unwrap(), None);
    }
    assert_eq!(s.read(locations[1]).unwrap(), large);
    store.set_cold_reads(false);
    for location in &locations {
        // A payload byte (the frame header is 16 bytes).
        assert!(store.corrupt_byte("data", location.extent, location.offset + 16 + 5));
        assert!(matches!(s.read_cached(*location), Err(StreamError::Corrupt { .. })));
    }
}

#[test]
fn wrong_locations_are_errors_never_bytes() {
    on_both_stores(StoreOptions::default(), |store| {
        let s = store.open_stream("s").unwrap();
        let loc = s.append(&[b"0123456789"]).unwrap()[0];
        let wrong_len = RecordLocation { len: 9, ..loc };
        assert!(matches!(s.read(wrong_len), Err(StreamError::Corrupt { .. })));
        let past_end = RecordLocation { len: 11, ..loc };
        assert!(matches!(s.read(past_end), Err(StreamError::NotFound { .. })));
        let inside = RecordLocation {
            offset: loc.offset + 1,
            len: 4,
            ..loc
        };
        assert!(matches!(s.read(inside), Err(StreamError::Corrupt { .. })));
        let in_header = RecordLocation { offset: 0, ..loc };
        assert!(matches!(s.read(in_header), Err(StreamError::NotFound { .. })));
        let no_extent = RecordLocation { extent: 99, ..loc };
        assert!(matches!(s.read(no_extent), Err(StreamError::NotFound { .. })));
        let huge = RecordLocation { len: u32::MAX, ..loc };
        assert!(matches!(s.read(huge), Err(StreamError::NotFound { .. })));
    });
}

#[test]
fn same_name_is_same_stream_and_names_are_checked() {
    on_both_stores(StoreOptions::default(), |store| {
        let a = store.open_stream("t1.rows").unwrap();
        let loc = a.append(&[b"x"]).unwrap()[0];
        let b = store.open_stream("t1.rows").unwrap();
        assert_eq!(b.read(loc).unwrap(), b"x");
        for bad in ["", ".", "..", "a/b", "A", "a b", "../x", "é", &"a".repeat(65)] {
            assert!(
                matches!(store.open_stream(bad), Err(StreamError::InvalidName(_))),
                "{bad:?} accepted"
            );
        }
        assert!(store.open_stream(&"a".repeat(64)).is_ok());
        assert!(store.open_stream("a-b_c.0").is_ok());
    });
}

#[test]
fn empty_append_and_oversized_record() {
    on_both_stores(StoreOptions::default(), |store| {
        let s = store.open_stream("s").unwrap();
        assert!(s.append(&[]).unwrap().is_empty());
        let big = vec![0u8; lazuli_stream::record::RECORD_BYTES_MAX + 1];
        assert!(matches!(
            s.append(&[b"ok", &big]),
            Err(StreamError::RecordTooLarge(n)) if n == big.len()
        ));
        // Nothing of the refused call was written.
        assert!(replay_all(&*s, StreamPosition::default()).is_empty());
    });
}

#[test]
fn seals_at_size() {
    // Header + three 100-byte frames fit; the fourth starts a new extent.
    let frame = (FRAME_HEADER_BYTES + 84) as u64;
    let max = EXTENT_HEADER_BYTES as u64 + 3 * frame;
    on_both_stores(small(max), |store| {
        let s = store.open_stream("s").unwrap();
        let payload = [7u8; 84];
        let mut locs = Vec::new();
        for _ in 0..7 {
            locs.push(s.append(&[&payload]).unwrap()[0]);
        }
        let extents: Vec<u64> = locs.iter().map(|l| l.extent).collect();
        assert_eq!(extents, [1, 1, 1, 2, 2, 2, 3]);
        let info = s.extents();
        assert_eq!(info.len(), 3);
        assert!(info[0].sealed && info[1].sealed && !info[2].sealed);
        assert_eq!(info[0].size_bytes, max);
        // A batch that does not fit in what is left goes whole into a new extent.
        let batch = s.append(&[&payload, &payload, &payload]).unwrap();
        assert!(batch.iter().all(|l| l.extent == 4));
        // A single call larger than the seal size goes alone into a fresh extent.
        let huge = vec![1u8; max as usize * 2];
        let alone = s.append(&[&huge]).unwrap()[0];
        assert_eq!(alone.extent, 5);
        assert_eq!(alone.offset, EXTENT_HEADER_BYTES as u64);
        let after = s.append(&[b"next"]).unwrap()[0];
        assert_eq!(after.extent, 6);
        assert_eq!(s.read(alone).unwrap(), huge);
        // Replay crosses extents in order.
        let all = replay_all(&*s, StreamPosition::default());
        let locations: Vec<RecordLocation> = all.iter().map(|(l, _)| *l).collect();
        let mut expected = locs.clone();
        expected.extend(batch);
        expected.extend([alone, after]);
        assert_eq!(locations, expected);
        let from_second = replay_all(&*s, StreamPosition { extent: 2, offset: 0 });
        assert_eq!(from_second.len(), expected.len() - 3);
    });
}

#[test]
fn explicit_seal_starts_a_new_extent() {
    on_both_stores(StoreOptions::default(), |store| {
        let s = store.open_stream("s").unwrap();
        // Sealing an empty stream or an empty extent does nothing.
        s.seal().unwrap();
        assert!(s.extents().is_empty());
        let a = s.append(&[b"a"]).unwrap()[0];
        s.seal().unwrap();
        s.seal().unwrap();
        let info = s.extents();
        assert_eq!(info.len(), 2);
        assert!(info[0].sealed && !info[1].sealed);
        assert_eq!(
            s.end_position(),
            StreamPosition {
                extent: 2,
                offset: EXTENT_HEADER_BYTES as u64
            }
        );
        let b = s.append(&[b"b"]).unwrap()[0];
        assert_eq!(b.extent, 2);
        assert_eq!(s.read(a).unwrap(), b"a");
    });
}

#[test]
fn delete_extent_and_live_bytes() {
    on_both_stores(StoreOptions::default(), |store| {
        let s = store.open_stream("s").unwrap();
        let a = s.append(&[b"aaaa"]).unwrap()[0];
        s.add_live_bytes(a.extent, 4);
        s.add_live_bytes(a.extent, 10);
        s.add_live_bytes(a.extent, -3);
        assert_eq!(s.extents()[0].live_bytes, 11);
        s.add_live_bytes(a.extent, -100);
        assert_eq!(s.extents()[0].live_bytes, 0, "saturates at zero");
        s.add_live_bytes(42, 5); // unknown extent: ignored

        assert!(matches!(
            s.delete_extent(a.extent),
            Err(StreamError::ExtentOpen { extent: 1, .. })
        ));
        s.seal().unwrap();
        let b = s.append(&[b"bbbb"]).unwrap()[0];
        s.delete_extent(a.extent).unwrap();
        assert!(matches!(s.read(a), Err(StreamError::NotFound { .. })));
        assert!(matches!(s.delete_extent(a.extent), Err(StreamError::NotFound { .. })));
        assert_eq!(s.extents().len(), 1);
        let replayed = replay_all(&*s, StreamPosition::default());
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].0, b);
    });
}

#[test]
fn reopen_continues_after_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let options = small(512);
    let mut locs = Vec::new();
    {
        let store = LocalStore::open(dir.path(), options.clone()).unwrap();
        let s = store.open_stream("s").unwrap();
        for i in 0..20u32 {
            locs.push(s.append(&[&i.to_le_bytes(), &[i as u8; 40]]).unwrap());
        }
        s.seal().unwrap();
        s.append(&[b"tail"]).unwrap();
        s.delete_extent(1).unwrap();
    }
    let store = LocalStore::open(dir.path(), options).unwrap();
    let s = store.open_stream("s").unwrap();
    let info = s.extents();
    assert_eq!(info.first().map(|e| e.id), Some(2), "deleted extent stays deleted");
    assert!(info[..info.len() - 1].iter().all(|e| e.sealed));
    assert!(!info.last().unwrap().sealed);
    for batch in locs.iter().filter(|b| b[0].extent != 1) {
        assert_eq!(s.read(batch[1]).unwrap().len(), 40);
    }
    let end = s.end_position();
    let next = s.append(&[b"after reopen"]).unwrap()[0];
    assert_eq!((next.extent, next.offset), (end.extent, end.offset));
    assert_eq!(s.read(next).unwrap(), b"after reopen");
}
