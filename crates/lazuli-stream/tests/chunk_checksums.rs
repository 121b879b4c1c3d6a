//! Streams with checksums per 64 KiB chunk (`StreamOptions::chunk_checksums`, frame version
//! 2): ranged reads return exactly the bytes asked for, verify only the chunks they touch (so
//! damage is found by every read that covers it and by no other), and a stream written with
//! whole-record checksums keeps reading after it is reopened with chunk checksums.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use lazuli_stream::record::{FrameVersion, CHECKSUM_CHUNK_BYTES, FRAME_HEADER_BYTES};
use lazuli_stream::{
    LocalStore, MemStore, RecordLocation, StoreOptions, Stream, StreamError, StreamOptions, StreamPosition,
    StreamStore, EXTENT_HEADER_BYTES,
};

const CHUNK: u32 = CHECKSUM_CHUNK_BYTES as u32;

fn open(store: &dyn StreamStore, chunk_checksums: bool) -> Arc<dyn Stream> {
    store
        .open_stream_with(
            "data",
            StreamOptions {
                chunk_checksums,
                ..StreamOptions::default()
            },
        )
        .unwrap()
}

fn payload(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

/// Ranges at chunk edges, inside one chunk, across several, empty and whole.
fn ranges(len: u32) -> Vec<(u32, u32)> {
    let mut out = vec![
        (0, len),
        (0, 0),
        (len, 0),
        (0, len.min(1)),
        (len.saturating_sub(1), len.min(1)),
    ];
    for start in [1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 5, len / 2] {
        for size in [1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            if start.saturating_add(size) <= len {
                out.push((start, size));
            }
        }
    }
    out
}

fn replay(stream: &dyn Stream) -> Vec<(RecordLocation, Vec<u8>)> {
    let mut out = Vec::new();
    stream
        .replay(StreamPosition::default(), &mut |location, payload| {
            out.push((location, payload.to_vec()));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn ranges_read_exactly_their_bytes_in_either_frame_version() {
    for chunk_checksums in [false, true] {
        let store = MemStore::new();
        let stream = open(&*store, chunk_checksums);
        let lens = [
            0,
            1,
            4096,
            CHECKSUM_CHUNK_BYTES,
            CHECKSUM_CHUNK_BYTES + 1,
            5 * CHECKSUM_CHUNK_BYTES - 3,
        ];
        let payloads: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, len)| payload(*len, i as u32))
            .collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let locations = stream.append(&refs).unwrap();
        for (location, bytes) in locations.iter().zip(&payloads) {
            for (start, len) in ranges(bytes.len() as u32) {
                let expected = &bytes[start as usize..(start + len) as usize];
                assert_eq!(
                    stream.read_range(*location, start, len).unwrap(),
                    expected,
                    "chunked {chunk_checksums}, {} bytes, {start}+{len}",
                    bytes.len()
                );
                assert_eq!(
                    stream.read_range_cached(*location, start, len).unwrap().as_deref(),
                    Some(expected)
                );
            }
            let past = bytes.len() as u32;
            assert!(matches!(
                stream.read_range(*location, past, 1),
                Err(StreamError::Corrupt { .. })
            ));
            assert!(matches!(
                stream.read_range(*location, 1, u32::MAX),
                Err(StreamError::Corrupt { .. })
            ));
            assert_eq!(&stream.read(*location).unwrap(), bytes);
        }
        // Where a read would wait for the disk, the cached form says so instead.
        store.set_cold_reads(true);
        let big = locations[5];
        assert_eq!(stream.read_range_cached(big, CHUNK + 3, 10).unwrap(), None);
        assert_eq!(
            stream.read_range(big, CHUNK + 3, 10).unwrap(),
            payloads[5][CHUNK as usize + 3..][..10]
        );
        // Frames follow each other as their version lays them out, across a restart too.
        let version = if chunk_checksums {
            FrameVersion::Chunked
        } else {
            FrameVersion::Whole
        };
        for pair in locations.windows(2) {
            assert_eq!(
                pair[0].offset + version.frame_len(pair[0].len as usize).unwrap() as u64,
                pair[1].offset
            );
        }
        let restarted = store.crash();
        let stream = open(&*restarted, chunk_checksums);
        let replayed: Vec<Vec<u8>> = replay(&*stream).into_iter().map(|(_, bytes)| bytes).collect();
        assert_eq!(replayed, payloads);
    }
}

/// A flipped byte on disk in one chunk of a record fails every read that covers that chunk,
/// and no read of the record's other chunks.
#[test]
fn damage_fails_the_reads_that_cover_it_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let stream = open(&*store, true);
    let bytes = payload(4 * CHECKSUM_CHUNK_BYTES + 10, 7);
    let location = stream.append(&[&bytes]).unwrap()[0];
    let path = store.extent_path("data", location.extent).unwrap();
    let payload_at = location.offset + (FRAME_HEADER_BYTES + FrameVersion::Chunked.table_len(bytes.len())) as u64;
    let damaged_at = 2 * CHUNK + 77;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, payload_at + u64::from(damaged_at))
        .unwrap();
    assert_eq!(
        byte[0], bytes[damaged_at as usize],
        "the payload is where the format says"
    );
    file.write_all_at(&[byte[0] ^ 0x40], payload_at + u64::from(damaged_at))
        .unwrap();
    file.sync_all().unwrap();

    for (start, len) in ranges(bytes.len() as u32) {
        let read = stream.read_range(location, start, len);
        let covers = len > 0 && start / CHUNK <= damaged_at / CHUNK && damaged_at / CHUNK <= (start + len - 1) / CHUNK;
        if covers || (start, len) == (0, bytes.len() as u32) {
            assert!(
                matches!(read, Err(StreamError::Corrupt { .. })),
                "{start}+{len} read damaged bytes: {read:?}"
            );
        } else {
            assert_eq!(
                read.unwrap(),
                bytes[start as usize..(start + len) as usize],
                "{start}+{len}"
            );
        }
    }
    assert!(matches!(stream.read(location), Err(StreamError::Corrupt { .. })));

    // Damage to the checksum table fails every ranged read of the record.
    file.write_all_at(&[byte[0]], payload_at + u64::from(damaged_at))
        .unwrap();
    assert_eq!(stream.read(location).unwrap(), bytes);
    let table_at = location.offset + FRAME_HEADER_BYTES as u64 + 4;
    let mut table_byte = [0u8; 1];
    file.read_exact_at(&mut table_byte, table_at).unwrap();
    file.write_all_at(&[table_byte[0] ^ 1], table_at).unwrap();
    for (start, len) in [(0, 10), (3 * CHUNK, 5), (CHUNK, 1)] {
        assert!(matches!(
            stream.read_range(location, start, len),
            Err(StreamError::Corrupt { .. })
        ));
    }
}

/// Records written with whole-record checksums stay readable, whole and in ranges, once the
/// stream is reopened with chunk checksums; new records go to a new extent whose header says
/// version 2 (so a build that knows only version 1 refuses it instead of cutting it as torn),
/// and both kinds replay in order after another restart.
#[test]
fn a_stream_of_whole_checksums_reopens_with_chunk_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let old = payload(3 * CHECKSUM_CHUNK_BYTES + 1, 1);
    let old_location = {
        let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
        let stream = open(&*store, false);
        stream.append(&[&old]).unwrap()[0]
    };
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let stream = open(&*store, true);
    let extents = stream.extents();
    assert_eq!(extents.len(), 2, "{extents:?}");
    assert!(extents[0].sealed && !extents[1].sealed);
    assert_eq!(stream.read(old_location).unwrap(), old);
    assert_eq!(
        stream.read_range(old_location, CHUNK - 2, 5).unwrap(),
        old[CHUNK as usize - 2..][..5]
    );

    let new = payload(2 * CHECKSUM_CHUNK_BYTES, 2);
    let new_location = stream.append(&[&new]).unwrap()[0];
    assert_eq!(new_location.extent, extents[1].id);
    assert_eq!(new_location.offset, EXTENT_HEADER_BYTES as u64);
    assert_eq!(
        stream.read_range(new_location, CHUNK + 5, 9).unwrap(),
        new[CHUNK as usize + 5..][..9]
    );
    let header = std::fs::read(store.extent_path("data", new_location.extent).unwrap()).unwrap();
    assert_eq!(header[8], 2, "the new extent's header names version 2 frames");
    let old_header = std::fs::read(store.extent_path("data", old_location.extent).unwrap()).unwrap();
    assert_eq!(old_header[8], 1);
    drop(stream);
    drop(store);

    // Reopened with chunk checksums again: nothing to seal, both records replay.
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let stream = open(&*store, true);
    assert_eq!(stream.extents().len(), 2);
    let replayed = replay(&*stream);
    assert_eq!(replayed, [(old_location, old.clone()), (new_location, new.clone())]);
    drop(stream);
    drop(store);

    // And back without them (as the tables' streams are opened): version 2 records stay
    // readable in ranges, the version 2 extent is sealed rather than given version 1 frames.
    let store = LocalStore::open(dir.path(), StoreOptions::default()).unwrap();
    let stream = open(&*store, false);
    assert_eq!(stream.extents().len(), 3);
    assert_eq!(
        stream.read_range(new_location, 7, CHUNK).unwrap(),
        new[7..][..CHUNK as usize]
    );
    let last = stream.append(&[b"whole"]).unwrap()[0];
    assert_eq!(last.extent, new_location.extent + 1);
    assert_eq!(replay(&*stream).len(), 3);
}
