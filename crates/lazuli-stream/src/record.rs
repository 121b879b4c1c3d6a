//! Record framing (see docs/formats/extent.md).
//!
//! A frame is a 16-byte header followed by the payload:
//!
//! | bytes  | field                                                  |
//! |--------|--------------------------------------------------------|
//! | 0      | format version ([`FRAME_VERSION`])                     |
//! | 1      | flags (none defined; must be 0 in version 1)           |
//! | 2..4   | reserved, must be 0                                    |
//! | 4..8   | payload length, u32 little-endian                      |
//! | 8..12  | record CRC32C over bytes 0..8 then the payload, u32 LE |
//! | 12..16 | header CRC32C over bytes 0..12, u32 LE                 |
//!
//! The header carries its own checksum so that a reader can reject a damaged length before
//! trusting it to size a read (a flipped high bit would otherwise ask for gigabytes).

use crate::crc::{crc32c, crc32c_of};

/// Frame header bytes around a payload (the frame has no trailer).
pub const FRAME_OVERHEAD_BYTES: usize = 16;

/// The frame header is the whole overhead.
pub const FRAME_HEADER_BYTES: usize = FRAME_OVERHEAD_BYTES;

/// Version byte written into every frame. A reader refuses versions it does not know rather
/// than guessing at their layout.
pub const FRAME_VERSION: u8 = 1;

/// Largest payload of one record. Readers allocate a whole record before verifying its
/// checksum, so this bounds the memory one read (or one replay step) can take; the layers
/// above cut blob data into records of at most the block size (well below this), and 64 MiB
/// keeps a record far below the extent seal size so extents never hold just a few records.
pub const RECORD_BYTES_MAX: usize = 64 << 20;

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
    pub payload_len: u32,
    pub record_crc: u32,
}

impl FrameHeader {
    /// Header plus payload bytes.
    pub fn frame_len(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload_len as usize
    }
}

/// Bytes needed to frame `payload`, or `None` if it exceeds [`RECORD_BYTES_MAX`].
pub fn frame_len(payload_len: usize) -> Option<usize> {
    (payload_len <= RECORD_BYTES_MAX).then_some(FRAME_HEADER_BYTES + payload_len)
}

/// Appends the frame of `payload` to `out`. The caller checks the size first with
/// [`frame_len`]; an oversized payload here is a bug in the caller.
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    assert!(payload.len() <= RECORD_BYTES_MAX, "record larger than RECORD_BYTES_MAX");
    let len = payload.len() as u32;
    let mut head = [0u8; 8];
    head[0] = FRAME_VERSION;
    head[4..8].copy_from_slice(&len.to_le_bytes());
    let record_crc = crc32c_of(&[&head, payload]);
    let mut header = [0u8; FRAME_HEADER_BYTES];
    header[0..8].copy_from_slice(&head);
    header[8..12].copy_from_slice(&record_crc.to_le_bytes());
    let header_crc = crc32c(&header[0..12]);
    header[12..16].copy_from_slice(&header_crc.to_le_bytes());
    out.reserve(FRAME_HEADER_BYTES + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

/// The frame of `payload` as a new buffer.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    encode_into(payload, &mut out);
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
    // The checksum matched, so these fields are what the writer wrote: a wrong version here
    // means a newer writer, not damage.
    if header[0] != FRAME_VERSION {
        return Err(FrameError::BadVersion(header[0]));
    }
    if header[1..4] != [0, 0, 0] {
        return Err(FrameError::BadReserved);
    }
    let payload_len = le_u32(header, 4).ok_or(FrameError::BadHeaderChecksum)?;
    if payload_len as usize > RECORD_BYTES_MAX {
        return Err(FrameError::TooLarge(payload_len));
    }
    let record_crc = le_u32(header, 8).ok_or(FrameError::BadHeaderChecksum)?;
    Ok(FrameHeader {
        payload_len,
        record_crc,
    })
}

/// Checks `payload` against a decoded header.
pub fn verify_payload(header: &FrameHeader, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() != header.payload_len as usize {
        return Err(FrameError::Incomplete {
            needed: header.payload_len as usize,
            available: payload.len(),
        });
    }
    let mut head = [0u8; 8];
    head[0] = FRAME_VERSION;
    head[4..8].copy_from_slice(&header.payload_len.to_le_bytes());
    let crc = crc32c_of(&[&head, payload]);
    if crc != header.record_crc {
        return Err(FrameError::BadChecksum);
    }
    Ok(())
}

/// Decodes the frame at the start of `bytes`, returning the payload and the frame length.
/// Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<(&[u8], usize), FrameError> {
    let header = decode_header(bytes)?;
    let frame_len = header.frame_len();
    let payload = bytes.get(FRAME_HEADER_BYTES..frame_len).ok_or(FrameError::Incomplete {
        needed: frame_len,
        available: bytes.len(),
    })?;
    verify_payload(&header, payload)?;
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
        assert_eq!(frame.len(), FRAME_OVERHEAD_BYTES + 5);
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
        header[0] = FRAME_VERSION;
        header[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32c(&header[..12]);
        header[12..16].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&header), Err(FrameError::TooLarge(u32::MAX)));
    }

    proptest! {
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
