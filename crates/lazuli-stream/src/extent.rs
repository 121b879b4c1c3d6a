//! The extent file: a small header, then frames back to back (see docs/formats/extent.md).

use crate::record::{self, FrameError, FrameVersion, FRAME_HEADER_BYTES};
use crate::storage::ExtentFile;
use crate::{ExtentId, RecordLocation};

/// Identifies a Lazuli extent file; a file without it is not ours and is never parsed.
pub const EXTENT_MAGIC: [u8; 8] = *b"LZEXTENT";

/// Version of the extent header of an extent of version 1 frames. The header's version byte
/// also says which frames follow it: `EXTENT_VERSION` for version 1 frames, 2 for version 2
/// ([`FrameVersion::byte`]); the layout of the header is the same. A build that knows only
/// version 1 refuses an open extent of version 2 instead of cutting its frames as torn.
pub const EXTENT_VERSION: u8 = 1;

/// Bytes of the extent header; the first record starts at this offset.
pub const EXTENT_HEADER_BYTES: usize = 24;

/// Bytes read from an extent per positional read while scanning (recovery, replay): large
/// enough that scanning small records costs few system calls, small enough to be a
/// negligible allocation per concurrent scan.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// The extent header: magic, version (the version of the extent's frames), 3 reserved zero
/// bytes, extent id (u64 LE), and a CRC32C of the previous 20 bytes (u32 LE).
pub fn encode_header(extent: ExtentId, frames: FrameVersion) -> [u8; EXTENT_HEADER_BYTES] {
    let mut header = [0u8; EXTENT_HEADER_BYTES];
    header[0..8].copy_from_slice(&EXTENT_MAGIC);
    header[8] = frames.byte();
    header[12..20].copy_from_slice(&extent.to_le_bytes());
    let crc = crate::crc::crc32c(&header[0..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a header, or all zeroes: a file whose creation was never made durable
    /// (nothing in it was ever acknowledged).
    Missing,
    /// Present but wrong: damage or a foreign file; never overwritten automatically.
    Invalid,
}

/// Checks an extent header read from disk against the id its file name claims; the version
/// of the frames in the extent.
pub fn check_header(bytes: &[u8], extent: ExtentId) -> Result<FrameVersion, HeaderError> {
    let Some(header) = bytes.get(..EXTENT_HEADER_BYTES) else {
        return Err(HeaderError::Missing);
    };
    if header.iter().all(|b| *b == 0) {
        return Err(HeaderError::Missing);
    }
    let frames = FrameVersion::from_byte(header[8]).ok_or(HeaderError::Invalid)?;
    if header != encode_header(extent, frames) {
        return Err(HeaderError::Invalid);
    }
    Ok(frames)
}

/// What a scan found where it stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanStop {
    /// Offset of the first frame that is not valid.
    pub offset: u64,
    pub error: FrameError,
}

pub enum ScanError {
    Io(std::io::Error),
    Frame(ScanStop),
}

/// Walks the frames of one extent between two offsets with buffered positional reads.
pub struct FrameCursor<'a, F: ExtentFile> {
    file: &'a F,
    extent: ExtentId,
    /// The version the extent's header names; `None` when the header is damaged (each
    /// frame's own checksummed version byte is taken then).
    frames: Option<FrameVersion>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a, F: ExtentFile> FrameCursor<'a, F> {
    pub fn new(file: &'a F, extent: ExtentId, frames: Option<FrameVersion>, start: u64, end: u64) -> Self {
        FrameCursor {
            file,
            extent,
            frames,
            pos: start.max(EXTENT_HEADER_BYTES as u64),
            end,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// The offset of the next frame (where a scan stopped).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Makes `[self.pos, self.pos + len)` available in the buffer; `len` is at most
    /// `end - pos` and at most one frame, so the buffer stays bounded.
    fn fill(&mut self, len: usize) -> Result<&[u8], std::io::Error> {
        let have_from = self.pos.checked_sub(self.buf_start);
        let covered = have_from
            .map(|from| from as usize + len <= self.buf.len())
            .unwrap_or(false);
        if !covered {
            let remaining = (self.end - self.pos) as usize;
            let want = len.max(SCAN_CHUNK_BYTES.min(remaining));
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, self.pos)?;
            self.buf_start = self.pos;
        }
        let from = (self.pos - self.buf_start) as usize;
        self.buf
            .get(from..from + len)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
    }

    /// The next record, `Ok(None)` at the end, or where and why the frames stop being valid.
    /// With `verify` false the payload checksum is not checked and the payload not returned
    /// (used to skip records before a replay start).
    pub fn next_record(&mut self, verify: bool) -> Result<Option<(RecordLocation, &[u8])>, ScanError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let stop = |offset, error| ScanError::Frame(ScanStop { offset, error });
        let remaining = self.end - self.pos;
        if remaining < FRAME_HEADER_BYTES as u64 {
            return Err(stop(
                self.pos,
                FrameError::Incomplete {
                    needed: FRAME_HEADER_BYTES,
                    available: remaining as usize,
                },
            ));
        }
        let at = self.pos;
        let header_bytes = self.fill(FRAME_HEADER_BYTES).map_err(ScanError::Io)?;
        let header = record::decode_header(header_bytes).map_err(|e| stop(at, e))?;
        if self.frames.is_some_and(|frames| frames != header.version) {
            return Err(stop(at, FrameError::BadVersion(header.version.byte())));
        }
        let frame_len = header.frame_len();
        if frame_len as u64 > remaining {
            return Err(stop(
                at,
                FrameError::Incomplete {
                    needed: frame_len,
                    available: remaining as usize,
                },
            ));
        }
        let location = RecordLocation {
            extent: self.extent,
            offset: at,
            len: header.payload_len,
        };
        if !verify {
            self.pos = at + frame_len as u64;
            return Ok(Some((location, &[])));
        }
        let frame = self.fill(frame_len).map_err(ScanError::Io)?;
        let payload_len = match record::decode(frame) {
            Ok((payload, _)) => payload.len(),
            Err(e) => return Err(stop(at, e)),
        };
        self.pos = at + frame_len as u64;
        let from = (at - self.buf_start) as usize + header.payload_offset();
        let payload = self
            .buf
            .get(from..from + payload_len)
            .ok_or(stop(at, FrameError::BadChecksum))?;
        Ok(Some((location, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_golden_bytes() {
        assert_eq!(
            encode_header(1, FrameVersion::Whole),
            [
                0x4c, 0x5a, 0x45, 0x58, 0x54, 0x45, 0x4e, 0x54, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x9e, 0x99, 0x79, 0xe1
            ]
        );
    }

    #[test]
    fn header_known_vector() {
        let header = encode_header(0x0102_0304_0506_0708, FrameVersion::Whole);
        assert_eq!(&header[0..8], b"LZEXTENT");
        assert_eq!(header[8], 1);
        assert_eq!(&header[9..12], &[0, 0, 0]);
        assert_eq!(&header[12..20], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&header[20..24], &crate::crc::crc32c(&header[0..20]).to_le_bytes());
        assert_eq!(check_header(&header, 0x0102_0304_0506_0708), Ok(FrameVersion::Whole));
        assert_eq!(check_header(&header, 7), Err(HeaderError::Invalid));
        assert_eq!(check_header(&header[..10], 7), Err(HeaderError::Missing));
        assert_eq!(check_header(&[0u8; 24], 7), Err(HeaderError::Missing));
        let mut damaged = header;
        damaged[21] ^= 4;
        assert_eq!(check_header(&damaged, 0x0102_0304_0506_0708), Err(HeaderError::Invalid));
    }

    /// An extent of version 2 frames differs from one of version 1 in the version byte (and
    /// so the checksum) alone; an unknown version is an invalid header, never a guess.
    #[test]
    fn chunked_header_known_vector() {
        let header = encode_header(1, FrameVersion::Chunked);
        let mut expected = encode_header(1, FrameVersion::Whole);
        expected[8] = 2;
        let crc = crate::crc::crc32c(&expected[0..20]);
        expected[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(header, expected);
        assert_eq!(check_header(&header, 1), Ok(FrameVersion::Chunked));
        let mut unknown = header;
        unknown[8] = 3;
        let crc = crate::crc::crc32c(&unknown[0..20]);
        unknown[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(check_header(&unknown, 1), Err(HeaderError::Invalid));
    }
}
