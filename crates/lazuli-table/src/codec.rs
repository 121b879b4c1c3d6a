//! Little-endian field encoding shared by every on-stream format of the table, and a bounds-checked
//! reader so that no byte read back from a stream can make the decoder index out of range or panic.

use crate::{Result, TableError};

pub(crate) fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends the CRC-32C of everything already in `out`. The stream's record checksum already covers
/// each record; this second one also catches a record handed back for the wrong location and lets
/// every format be checked on its own (fuzzing, docs).
pub(crate) fn seal_crc(out: &mut Vec<u8>) {
    let crc = lazuli_stream::crc::crc32c(out);
    put_u32(out, crc);
}

/// Verifies and strips the trailing CRC-32C written by [`seal_crc`].
pub(crate) fn check_crc<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8]> {
    if bytes.len() < 4 {
        return Err(corrupt(format!("{what}: {} bytes is too short", bytes.len())));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if lazuli_stream::crc::crc32c(body) != stored {
        return Err(corrupt(format!("{what}: checksum mismatch")));
    }
    Ok(body)
}

pub(crate) fn corrupt(message: impl Into<String>) -> TableError {
    TableError::Corrupt(message.into())
}

/// Reads fields front to back; every read checks the remaining length first.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, pos: 0, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(corrupt(format!(
                "{}: field of {n} bytes at offset {} overruns the {}-byte record",
                self.what,
                self.pos,
                self.bytes.len()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Fails unless every byte was consumed: trailing garbage means the writer and reader disagree.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(corrupt(format!(
                "{}: {} unexpected trailing bytes",
                self.what,
                self.remaining()
            )))
        }
    }

    /// Checks a version byte (and a kind byte) at the start of a record.
    pub(crate) fn header(&mut self, version: u8, kind: u8) -> Result<()> {
        let v = self.u8()?;
        if v != version {
            return Err(corrupt(format!("{}: unknown format version {v}", self.what)));
        }
        let k = self.u8()?;
        if k != kind {
            return Err(corrupt(format!("{}: record kind {k}, expected {kind}", self.what)));
        }
        Ok(())
    }
}

/// A record location as stored in checkpoint footers and manifests: extent u64, offset u64, len u32.
pub(crate) fn put_location(out: &mut Vec<u8>, loc: lazuli_stream::RecordLocation) {
    put_u64(out, loc.extent);
    put_u64(out, loc.offset);
    put_u32(out, loc.len);
}

pub(crate) fn get_location(r: &mut Reader<'_>) -> Result<lazuli_stream::RecordLocation> {
    Ok(lazuli_stream::RecordLocation {
        extent: r.u64()?,
        offset: r.u64()?,
        len: r.u32()?,
    })
}
