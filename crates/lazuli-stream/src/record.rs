//! Record framing (see docs/formats/extent.md).
//!
//! A frame is a 16-byte header, for version 2 a table of chunk checksums, then the payload:
//!
//! | bytes  | field                                                           |
//! |--------|-----------------------------------------------------------------|
//! | 0      | format version ([`FrameVersion`])                               |
//! | 1      | flags (none defined; must be 0)                                 |
//! | 2..4   | reserved, must be 0                                             |
//! | 4..8   | payload length, u32 little-endian                               |
//! | 8..12  | record CRC32C over bytes 0..8 then the payload (version 1) or   |
//! |        | then the chunk checksum table (version 2), u32 LE               |
//! | 12..16 | header CRC32C over bytes 0..12, u32 LE                          |
//!
//! Version 2 follows the header with one CRC32C (u32 LE) per [`CHECKSUM_CHUNK_BYTES`] of
//! payload (the last chunk may be shorter), so that a reader of a few bytes of a large record
//! verifies the chunks it reads instead of the whole record.
//!
//! The header carries its own checksum so that a reader can reject a damaged length before
//! trusting it to size a read (a flipped high bit would otherwise ask for gigabytes).

use crate::crc::{crc32c, crc32c_of};

/// The frame header: everything before the checksum table (version 2) or the payload (a
/// version 1 frame has no other overhead).
pub const FRAME_HEADER_BYTES: usize = 16;

/// Payload bytes covered by one checksum of a version 2 frame: a ranged read reads and
/// checksums at most one such chunk beyond each end of its range.
pub const CHECKSUM_CHUNK_BYTES: usize = 64 << 10;

/// Largest payload of one record. Readers allocate a whole record before verifying its
/// checksum, so this bounds the memory one read (or one replay step) can take; the layers
/// above cut blob data into records of at most the block size (well below this), and 64 MiB
/// keeps a record far below the extent seal size so extents never hold just a few records.
pub const RECORD_BYTES_MAX: usize = 64 << 20;

/// How a frame checksums its payload. An extent's header says which version its frames are
/// (see `extent.rs`); a reader refuses any other rather than guessing at a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameVersion {
    /// Version 1: one checksum over the whole payload.
    Whole,
    /// Version 2: one checksum per [`CHECKSUM_CHUNK_BYTES`] of payload, and the record
    /// checksum over the table of them.
    Chunked,
}

impl FrameVersion {
    pub const fn byte(self) -> u8 {
        match self {
            FrameVersion::Whole => 1,
            FrameVersion::Chunked => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Option<FrameVersion> {
        match byte {
            1 => Some(FrameVersion::Whole),
            2 => Some(FrameVersion::Chunked),
            _ => None,
        }
    }

    /// Bytes of the chunk checksum table that follows the header.
    pub const fn table_len(self, payload_len: usize) -> usize {
        match self {
            FrameVersion::Whole => 0,
            FrameVersion::Chunked => payload_len.div_ceil(CHECKSUM_CHUNK_BYTES) * 4,
        }
    }

    /// Bytes needed to frame a payload of `payload_len`, or `None` if it exceeds
    /// [`RECORD_BYTES_MAX`].
    pub const fn frame_len(self, payload_len: usize) -> Option<usize> {
        if payload_len > RECORD_BYTES_MAX {
            return None;
        }
        Some(FRAME_HEADER_BYTES + self.table_len(payload_len) + payload_len)
    }
}

/// Why bytes are not a valid frame. A torn tail (the process died mid-write) shows up as
/// [`FrameError::Incomplete`] or as a checksum mismatch; bit rot as a checksum mismatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame incomplete: {needed} bytes needed, {available} available")]
    Incomplete { needed: usize, available: usize },
    #[error("unknown frame version {0}")]
    BadVersion(u8),
    #[error("frame header checksum mismatch")]
    BadHeaderChecksum,
    #[error("frame reserved bits set")]
    BadReserved,
    #[error("frame payload length {0} exceeds the maximum")]
    TooLarge(u32),
    #[error("record checksum mismatch")]
    BadChecksum,
}

/// A decoded, header-checksum-verified frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub version: FrameVersion,
    pub payload_len: u32,
    pub record_crc: u32,
}

impl FrameHeader {
    /// Bytes of the chunk checksum table (zero for version 1).
    pub fn table_len(&self) -> usize {
        self.version.table_len(self.payload_len as usize)
    }

    /// Where the payload starts, from the start of the frame.
    pub fn payload_offset(&self) -> usize {
        FRAME_HEADER_BYTES + self.table_len()
    }

    /// Header, table and payload bytes.
    pub fn frame_len(&self) -> usize {
        self.payload_offset() + self.payload_len as usize
    }

    /// The first 8 header bytes, which the record checksum covers.
    fn covered_head(&self) -> [u8; 8] {
        let mut head = [0u8; 8];
        head[0] = self.version.byte();
        head[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        head
    }
}

/// Appends the frame of `payload` to `out`. The caller checks the size first with
/// [`FrameVersion::frame_len`]; an oversized payload here is a bug in the caller.
pub fn encode_as(version: FrameVersion, payload: &[u8], out: &mut Vec<u8>) {
    assert!(payload.len() <= RECORD_BYTES_MAX, "record larger than RECORD_BYTES_MAX");
    let frame = FrameHeader {
        version,
        payload_len: payload.len() as u32,
        record_crc: 0,
    };
    let head = frame.covered_head();
    out.reserve(frame.frame_len());
    let at = out.len();
    // The header goes in once the record checksum, which may cover the table, is known.
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    let record_crc = match version {
        FrameVersion::Whole => crc32c_of(&[&head, payload]),
        FrameVersion::Chunked => {
            for chunk in payload.chunks(CHECKSUM_CHUNK_BYTES) {
                out.extend_from_slice(&crc32c(chunk).to_le_bytes());
            }
            crc32c_of(&[&head, &out[at + FRAME_HEADER_BYTES..]])
        }
    };
    let header = &mut out[at..at + FRAME_HEADER_BYTES];
    header[0..8].copy_from_slice(&head);
    header[8..12].copy_from_slice(&record_crc.to_le_bytes());
    let header_crc = crc32c(&header[0..12]);
    header[12..16].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The version 1 frame of `payload` as a new buffer.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_as(FrameVersion::Whole, payload, &mut out);
    out
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(field))
}

/// Decodes and checks the header at the start of `bytes` (which may be longer).
pub fn decode_header(bytes: &[u8]) -> Result<FrameHeader, FrameError> {
    let header = bytes.get(..FRAME_HEADER_BYTES).ok_or(FrameError::Incomplete {
        needed: FRAME_HEADER_BYTES,
        available: bytes.len(),
    })?;
    let stored_header_crc = le_u32(header, 12).ok_or(FrameError::BadHeaderChecksum)?;
    if crc32c(&header[..12]) != stored_header_crc {
        return Err(FrameError::BadHeaderChecksum);
    }
    // The checksum matched, so these fields are what the writer wrote: an unknown version
    // here means a newer writer, not damage.
    let version = FrameVersion::from_byte(header[0]).ok_or(FrameError::BadVersion(header[0]))?;
    if header[1..4] != [0, 0, 0] {
        return Err(FrameError::BadReserved);
    }
    let payload_len = le_u32(header, 4).ok_or(FrameError::BadHeaderChecksum)?;
    if payload_len as usize > RECORD_BYTES_MAX {
        return Err(FrameError::TooLarge(payload_len));
    }
    let record_crc = le_u32(header, 8).ok_or(FrameError::BadHeaderChecksum)?;
    Ok(FrameHeader {
        version,
        payload_len,
        record_crc,
    })
}

/// Checks a version 2 frame's chunk checksum table against its record checksum (a version 1
/// frame has no table: its record checksum needs the payload, [`verify_payload`]).
pub fn verify_table(header: &FrameHeader, table: &[u8]) -> Result<(), FrameError> {
    if header.version != FrameVersion::Chunked || table.len() != header.table_len() {
        return Err(FrameError::BadChecksum);
    }
    if crc32c_of(&[&header.covered_head(), table]) != header.record_crc {
        return Err(FrameError::BadChecksum);
    }
    Ok(())
}

/// Checks `bytes`, the payload of a version 2 frame from the start of chunk `first_chunk`
/// on (whole chunks, the last one possibly the payload's shorter final chunk), against a
/// table already checked with [`verify_table`].
pub fn verify_chunks(header: &FrameHeader, table: &[u8], first_chunk: usize, bytes: &[u8]) -> Result<(), FrameError> {
    let payload_len = header.payload_len as usize;
    let end = first_chunk
        .checked_mul(CHECKSUM_CHUNK_BYTES)
        .and_then(|start| start.checked_add(bytes.len()))
        .filter(|end| *end <= payload_len)
        .ok_or(FrameError::BadChecksum)?;
    if !bytes.len().is_multiple_of(CHECKSUM_CHUNK_BYTES) && end != payload_len {
        return Err(FrameError::BadChecksum);
    }
    for (i, chunk) in bytes.chunks(CHECKSUM_CHUNK_BYTES).enumerate() {
        let stored = le_u32(table, (first_chunk + i) * 4).ok_or(FrameError::BadChecksum)?;
        if crc32c(chunk) != stored {
            return Err(FrameError::BadChecksum);
        }
    }
    Ok(())
}

/// Checks a whole payload against a decoded header and (version 2) its checksum table.
pub fn verify_payload(header: &FrameHeader, table: &[u8], payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() != header.payload_len as usize {
        return Err(FrameError::Incomplete {
            needed: header.payload_len as usize,
            available: payload.len(),
        });
    }
    match header.version {
        FrameVersion::Whole => {
            if crc32c_of(&[&header.covered_head(), payload]) != header.record_crc {
                return Err(FrameError::BadChecksum);
            }
            Ok(())
        }
        FrameVersion::Chunked => {
            verify_table(header, table)?;
            verify_chunks(header, table, 0, payload)
        }
    }
}

/// Decodes the frame (of either version) at the start of `bytes`, returning the payload and
/// the frame length. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<(&[u8], usize), FrameError> {
    let header = decode_header(bytes)?;
    let frame_len = header.frame_len();
    if bytes.len() < frame_len {
        return Err(FrameError::Incomplete {
            needed: frame_len,
            available: bytes.len(),
        });
    }
    let table = &bytes[FRAME_HEADER_BYTES..header.payload_offset()];
    let payload = &bytes[header.payload_offset()..frame_len];
    verify_payload(&header, table, payload)?;
    Ok((payload, frame_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32c_check_value() {
        // The standard CRC-32C check value: guards against linking a different polynomial.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn empty_payload_known_vector() {
        let frame = encode(b"");
        let mut expected = vec![1u8, 0, 0, 0, 0, 0, 0, 0];
        let record_crc = crc32c(&expected);
        expected.extend_from_slice(&record_crc.to_le_bytes());
        let header_crc = crc32c(&expected);
        expected.extend_from_slice(&header_crc.to_le_bytes());
        assert_eq!(frame, expected);
        // Golden bytes (computed by an independent bitwise CRC-32C) pin the format: a change here is a format change (bump the version).
        assert_eq!(
            frame,
            [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xad, 0xcf, 0x14, 0xc5, 0xc7, 0x4b, 0x67, 0x48]
        );
        assert_eq!(decode(&frame), Ok((&b""[..], 16)));
    }

    #[test]
    fn hello_known_vector() {
        let frame = encode(b"hello");
        assert_eq!(frame.len(), FRAME_HEADER_BYTES + 5);
        assert_eq!(&frame[0..8], &[1, 0, 0, 0, 5, 0, 0, 0]);
        let mut covered = frame[0..8].to_vec();
        covered.extend_from_slice(b"hello");
        assert_eq!(&frame[8..12], &crc32c(&covered).to_le_bytes());
        assert_eq!(&frame[12..16], &crc32c(&frame[0..12]).to_le_bytes());
        assert_eq!(&frame[16..], b"hello");
        assert_eq!(frame[8..16], [0x83, 0x44, 0x7b, 0x79, 0x85, 0xca, 0x89, 0x04]);
    }

    #[test]
    fn truncated_frames_are_incomplete() {
        let frame = encode(b"hello world");
        for cut in 0..frame.len() {
            assert!(
                matches!(decode(&frame[..cut]), Err(FrameError::Incomplete { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let frame = encode(b"some payload");
        for byte in 0..frame.len() {
            for bit in 0..8 {
                let mut damaged = frame.clone();
                damaged[byte] ^= 1 << bit;
                assert!(decode(&damaged).is_err(), "flip at {byte}:{bit} undetected");
            }
        }
    }

    #[test]
    fn zeroes_are_not_a_frame() {
        // A file extended by a crash reads back as zeroes: that must never parse.
        assert!(decode(&[0u8; 64]).is_err());
    }

    #[test]
    fn oversized_length_is_refused_before_reading_payload() {
        let mut header = [0u8; 16];
        header[0] = FrameVersion::Whole.byte();
        header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32c(&header[..12]);
        header[12..16].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&header), Err(FrameError::TooLarge(u32::MAX)));
    }

    fn chunked(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_as(FrameVersion::Chunked, payload, &mut out);
        out
    }

    /// Version 2 pins its layout: header, one CRC-32C per 64 KiB chunk, then the payload; the
    /// record checksum covers the first 8 header bytes and the table. (The empty frame's bytes
    /// come from an independent bitwise CRC-32C.)
    #[test]
    fn chunked_known_layout() {
        assert_eq!(
            chunked(b""),
            [0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc4, 0x48, 0x50, 0x1e, 0xc7, 0x4b, 0x67, 0x48]
        );
        let frame = chunked(b"hello");
        assert_eq!(frame.len(), FRAME_HEADER_BYTES + 4 + 5);
        assert_eq!(&frame[0..8], &[2, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(&frame[16..20], &crc32c(b"hello").to_le_bytes());
        assert_eq!(&frame[8..12], &crc32c_of(&[&frame[0..8], &frame[16..20]]).to_le_bytes());
        assert_eq!(&frame[12..16], &crc32c(&frame[0..12]).to_le_bytes());
        assert_eq!(&frame[20..], b"hello");

        let payload: Vec<u8> = (0..CHECKSUM_CHUNK_BYTES * 2 + 7).map(|i| (i % 251) as u8).collect();
        let frame = chunked(&payload);
        let header = decode_header(&frame).unwrap();
        assert_eq!(header.version, FrameVersion::Chunked);
        assert_eq!(header.table_len(), 12);
        assert_eq!(Some(frame.len()), FrameVersion::Chunked.frame_len(payload.len()));
        for (i, chunk) in payload.chunks(CHECKSUM_CHUNK_BYTES).enumerate() {
            assert_eq!(&frame[16 + 4 * i..20 + 4 * i], &crc32c(chunk).to_le_bytes());
        }
        assert_eq!(decode(&frame), Ok((&payload[..], frame.len())));
    }

    /// A chunk read on its own is verified against the table, and damage anywhere is found by
    /// the read that covers it (and only by such a read: the other chunks still verify).
    #[test]
    fn chunks_verify_on_their_own() {
        let payload: Vec<u8> = (0..CHECKSUM_CHUNK_BYTES * 3 + 100)
            .map(|i| (i * 7 % 256) as u8)
            .collect();
        let frame = chunked(&payload);
        let header = decode_header(&frame).unwrap();
        let table = &frame[16..header.payload_offset()];
        verify_table(&header, table).unwrap();
        let body = &frame[header.payload_offset()..];
        for first in 0..4 {
            let from = first * CHECKSUM_CHUNK_BYTES;
            let to = (from + CHECKSUM_CHUNK_BYTES).min(payload.len());
            verify_chunks(&header, table, first, &body[from..to]).unwrap();
            assert!(
                verify_chunks(&header, table, first, &body[from..to - 1]).is_err(),
                "a partial chunk {first}"
            );
        }
        verify_chunks(&header, table, 1, &body[CHECKSUM_CHUNK_BYTES..]).unwrap();
        let mut damaged = body.to_vec();
        damaged[CHECKSUM_CHUNK_BYTES * 2 + 5] ^= 0x10;
        assert_eq!(
            verify_chunks(
                &header,
                table,
                2,
                &damaged[CHECKSUM_CHUNK_BYTES * 2..CHECKSUM_CHUNK_BYTES * 3]
            ),
            Err(FrameError::BadChecksum)
        );
        verify_chunks(
            &header,
            table,
            1,
            &damaged[CHECKSUM_CHUNK_BYTES..CHECKSUM_CHUNK_BYTES * 2],
        )
        .unwrap();
        let mut table_damaged = table.to_vec();
        table_damaged[9] ^= 1;
        assert_eq!(verify_table(&header, &table_damaged), Err(FrameError::BadChecksum));
        // Chunk numbers past the table, however large, are refused, not overflowed.
        assert!(verify_chunks(&header, table, usize::MAX / CHECKSUM_CHUNK_BYTES + 1, &body[..1]).is_err());
        assert!(verify_chunks(&header, table, 4, &body[..1]).is_err());
        // A version 1 frame has no table to verify alone.
        let whole = encode(&payload);
        assert!(verify_table(&decode_header(&whole).unwrap(), &[]).is_err());
    }

    #[test]
    fn every_flipped_bit_of_a_chunked_frame_is_detected() {
        let frame = chunked(b"some payload");
        for byte in 0..frame.len() {
            for bit in 0..8 {
                let mut damaged = frame.clone();
                damaged[byte] ^= 1 << bit;
                assert!(decode(&damaged).is_err(), "flip at {byte}:{bit} undetected");
            }
        }
        for cut in 0..frame.len() {
            assert!(
                matches!(decode(&frame[..cut]), Err(FrameError::Incomplete { .. })),
                "cut at {cut}"
            );
        }
    }

    proptest! {
        #[test]
        fn chunked_roundtrip(payload in proptest::collection::vec(any::<u8>(), 0..(3 * CHECKSUM_CHUNK_BYTES))) {
            let frame = chunked(&payload);
            let (decoded, len) = decode(&frame).unwrap();
            prop_assert_eq!(decoded, &payload[..]);
            prop_assert_eq!(len, frame.len());
        }

        #[test]
        fn roundtrip(payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let frame = encode(&payload);
            let (decoded, len) = decode(&frame).unwrap();
            prop_assert_eq!(decoded, &payload[..]);
            prop_assert_eq!(len, frame.len());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
