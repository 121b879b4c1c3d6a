//! The stream layer on hostile disk contents: `record::decode` on arbitrary bytes, then extent
//! files made of arbitrary (mostly well-framed, sometimes damaged) bytes laid out as `LocalStore`
//! expects (`<root>/<stream>/<16 hex digits>.extent`), opened (recovery cuts the open extent's
//! tail), replayed and read back.
//!
//! Extents and frames are of either frame version (one per input, as a stream with or without
//! chunk checksums writes them), opened by a stream of either setting.
//!
//! Properties: nothing panics; every record replay or read returns decodes, with a valid
//! checksum, from the bytes on disk at its location, and every range read returns those
//! bytes' slice; recovery keeps exactly the leading valid frames of the open extent (the
//! oracle decodes the written bytes itself); and after recovery the stream accepts an append
//! that replays and reads back.

#![no_main]

use std::io::Write;

use arbitrary::Arbitrary;
use lazuli_stream::record::{self, FrameVersion, FRAME_HEADER_BYTES};
use lazuli_stream::{LocalStore, StoreOptions, StreamOptions, StreamPosition, StreamStore, EXTENT_HEADER_BYTES, EXTENT_MAGIC};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Header {
    /// The header `LocalStore` writes for this extent id.
    Valid,
    /// All zeroes (a creation that was never made durable).
    Zero,
    /// The header of another extent id.
    OtherId(u8),
    /// A valid header with one bit flipped.
    Flipped(u8, u8),
    /// Anything (possibly shorter than a header).
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Frame {
    Valid(Vec<u8>),
    /// A valid frame with one bit flipped.
    Flipped(Vec<u8>, u16, u8),
    /// A valid frame cut short (a torn write).
    Torn(Vec<u8>, u16),
    Raw(Vec<u8>),
    /// A frame header claiming a length (possibly huge) with a correct header checksum.
    Length(u32),
}

#[derive(Arbitrary, Debug)]
struct Extent {
    id: u8,
    header: Header,
    frames: Vec<Frame>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    decode_me: Vec<u8>,
    extents: Vec<Extent>,
    append: Vec<u8>,
    /// A replay start, as a manifest read from disk would give it.
    replay_from: (u8, u16),
    /// The frame version the extents are written in.
    chunked_frames: bool,
    /// Whether the stream is opened with chunk checksums.
    chunked_stream: bool,
}

fn header_for(id: u64, version: FrameVersion) -> Vec<u8> {
    let mut h = vec![0u8; EXTENT_HEADER_BYTES];
    h[0..8].copy_from_slice(&EXTENT_MAGIC);
    h[8] = version.byte();
    h[12..20].copy_from_slice(&id.to_le_bytes());
    let crc = lazuli_stream::crc::crc32c(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

fn encode(version: FrameVersion, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    record::encode_as(version, payload, &mut out);
    out
}

fn build(extent: &Extent, id: u64, version: FrameVersion) -> Vec<u8> {
    let mut out = match &extent.header {
        Header::Valid => header_for(id, version),
        Header::Zero => vec![0u8; EXTENT_HEADER_BYTES],
        Header::OtherId(other) => header_for(u64::from(*other), version),
        Header::Flipped(byte, bit) => {
            let mut h = header_for(id, version);
            h[usize::from(*byte) % EXTENT_HEADER_BYTES] ^= 1 << (bit % 8);
            h
        }
        Header::Raw(raw) => raw.clone(),
    };
    for frame in &extent.frames {
        match frame {
            Frame::Valid(payload) => out.extend_from_slice(&encode(version, payload)),
            Frame::Flipped(payload, at, bit) => {
                let mut f = encode(version, payload);
                let i = usize::from(*at) % f.len();
                f[i] ^= 1 << (bit % 8);
                out.extend_from_slice(&f);
            }
            Frame::Torn(payload, keep) => {
                let f = encode(version, payload);
                out.extend_from_slice(&f[..usize::from(*keep) % f.len()]);
            }
            Frame::Raw(raw) => out.extend_from_slice(raw),
            Frame::Length(len) => {
                let mut h = [0u8; FRAME_HEADER_BYTES];
                h[0] = version.byte();
                h[4..8].copy_from_slice(&len.to_le_bytes());
                let crc = lazuli_stream::crc::crc32c(&h[..12]);
                h[12..16].copy_from_slice(&crc.to_le_bytes());
                out.extend_from_slice(&h);
            }
        }
    }
    out
}

/// The payloads of the leading valid frames (of the extent's version) after the header: what
/// recovery must keep.
fn leading_records(bytes: &[u8], version: FrameVersion) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = EXTENT_HEADER_BYTES;
    while at < bytes.len() {
        let versioned = record::decode_header(&bytes[at..]).is_ok_and(|h| h.version == version);
        match record::decode(&bytes[at..]).ok().filter(|_| versioned) {
            Some((payload, len)) => {
                out.push((at as u64, payload.to_vec()));
                at += len;
            }
            None => break,
        }
    }
    out
}

fuzz_target!(|input: Input| {
    // The frame decoder alone.
    if let Ok((payload, len)) = record::decode(&input.decode_me) {
        let version = record::decode_header(&input.decode_me).expect("a decoded frame's header").version;
        assert_eq!(Some(len), version.frame_len(payload.len()));
        assert!(len >= FRAME_HEADER_BYTES + payload.len());
        assert_eq!(encode(version, payload), input.decode_me[..len]);
    }
    let version = if input.chunked_frames {
        FrameVersion::Chunked
    } else {
        FrameVersion::Whole
    };

    if input.extents.is_empty() {
        return;
    }
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let Ok(dir) = tempfile::Builder::new().prefix("lazuli-fuzz-").tempdir_in(base) else {
        return;
    };
    let stream_dir = dir.path().join("s");
    std::fs::create_dir(&stream_dir).expect("stream dir");
    let mut files: std::collections::BTreeMap<u64, Vec<u8>> = std::collections::BTreeMap::new();
    for extent in &input.extents {
        // Ids from 1: zero is never a real extent id.
        let id = u64::from(extent.id) + 1;
        let bytes = build(extent, id, version);
        let mut f = std::fs::File::create(stream_dir.join(format!("{id:016x}.extent"))).expect("extent file");
        f.write_all(&bytes).expect("write extent");
        files.insert(id, bytes);
    }
    let (&last_id, last_bytes) = files.iter().next_back().expect("at least one extent");
    let last_header_ok = last_bytes.get(..EXTENT_HEADER_BYTES) == Some(&header_for(last_id, version)[..]);
    let expected_tail = if last_header_ok {
        leading_records(last_bytes, version)
    } else {
        Vec::new()
    };

    let store = LocalStore::open(
        dir.path(),
        StoreOptions {
            sync: false,
            ..StoreOptions::default()
        },
    )
    .expect("store");
    let stream = match store.open_stream_with(
        "s",
        StreamOptions {
            chunk_checksums: input.chunked_stream,
            ..StreamOptions::default()
        },
    ) {
        Ok(stream) => stream,
        Err(_) => {
            // Refusing to open is right only for a damaged open-extent header.
            let zero_short =
                last_bytes.len() <= EXTENT_HEADER_BYTES && last_bytes.iter().take(EXTENT_HEADER_BYTES).all(|b| *b == 0);
            assert!(
                !last_header_ok && !zero_short,
                "open failed on an open extent with a good header"
            );
            return;
        }
    };

    let mut replayed: Vec<(lazuli_stream::RecordLocation, Vec<u8>)> = Vec::new();
    let replay = stream.replay(StreamPosition::default(), &mut |location, payload| {
        replayed.push((location, payload.to_vec()));
        Ok(())
    });
    for (location, payload) in &replayed {
        // What replay returned is a valid frame on disk at that location.
        let on_disk = std::fs::read(stream_dir.join(format!("{:016x}.extent", location.extent))).expect("read extent");
        let (decoded, _) =
            record::decode(&on_disk[location.offset as usize..]).expect("replayed record has a valid frame");
        assert_eq!(decoded, &payload[..]);
        assert_eq!(location.len as usize, payload.len());
        let read = stream.read(*location).expect("read of a replayed record");
        assert_eq!(&read, payload);
        let len = payload.len() as u32;
        for (start, part) in [(0, len / 2), (len / 3, len / 3), (len.saturating_sub(1), len.min(1)), (len, 0)] {
            let range = stream.read_range(*location, start, part).expect("range read of a replayed record");
            assert_eq!(range, payload[start as usize..(start + part) as usize]);
        }
        assert!(stream.read_range(*location, len, 1).is_err(), "a range past the record was read");
    }
    // Recovery keeps exactly the leading valid frames of the open extent.
    if replay.is_ok() {
        let tail: Vec<(u64, Vec<u8>)> = replayed
            .iter()
            .filter(|(l, _)| l.extent == last_id)
            .map(|(l, p)| (l.offset, p.clone()))
            .collect();
        assert_eq!(
            tail, expected_tail,
            "recovery kept the wrong records of the open extent"
        );
    }
    if files.len() == 1 {
        assert!(replay.is_ok(), "replay of a recovered single extent failed: {replay:?}");
    }

    // Replay from an arbitrary position (possibly inside a record) returns only valid records,
    // at or after it.
    let full_replay_ok = replay.is_ok();
    let from = StreamPosition {
        extent: u64::from(input.replay_from.0),
        offset: u64::from(input.replay_from.1),
    };
    let _ = stream.replay(from, &mut |location, payload| {
        assert!(
            (location.extent, location.offset) >= (from.extent, from.offset),
            "replay returned a record before its start"
        );
        if full_replay_ok {
            let known = replayed.iter().any(|(l, p)| *l == location && p == payload);
            assert!(
                known,
                "replay from {from:?} returned {location:?}, unknown to a full replay"
            );
        }
        Ok(())
    });

    // Reads at arbitrary locations answer errors, never wrong bytes or panics.
    for (extent, bytes) in &files {
        for offset in [
            0u64,
            1,
            EXTENT_HEADER_BYTES as u64,
            bytes.len() as u64,
            u64::MAX - 8,
            u64::MAX,
        ] {
            for len in [0u32, 1, 16, u32::MAX] {
                if let Ok(data) = stream.read(lazuli_stream::RecordLocation {
                    extent: *extent,
                    offset,
                    len,
                }) {
                    let on_disk = std::fs::read(stream_dir.join(format!("{extent:016x}.extent"))).expect("read extent");
                    let (decoded, _) =
                        record::decode(&on_disk[offset as usize..]).expect("read returned an invalid frame");
                    assert_eq!(decoded, &data[..]);
                }
            }
        }
    }

    // The recovered stream takes a new record.
    if input.append.len() <= 4096 {
        let locations = stream.append(&[&input.append]).expect("append after recovery");
        assert_eq!(stream.read(locations[0]).expect("read back the append"), input.append);
    }
});
