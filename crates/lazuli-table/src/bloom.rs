//! The bloom filter of a checkpoint: lets a point read skip checkpoints that cannot hold the key.

use crate::limits::{BLOOM_BITS_PER_KEY, BLOOM_BYTES_MAX, BLOOM_PROBES};

/// 64-bit FNV-1a followed by a murmur3 finalizer: FNV alone mixes the last bytes poorly, and keys
/// that differ only in a trailing counter are the common case (`blob-00000001`, ...). The hash is
/// part of the checkpoint format: changing it needs a new format version.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bloom {
    bits: Vec<u8>,
    probes: u8,
}

impl Bloom {
    /// A filter sized for `keys` keys (at least 64 bits so tiny checkpoints still filter).
    pub(crate) fn with_capacity(keys: usize) -> Self {
        let bits = keys.saturating_mul(BLOOM_BITS_PER_KEY).clamp(64, BLOOM_BYTES_MAX * 8);
        Bloom {
            bits: vec![0; bits.div_ceil(8)],
            probes: BLOOM_PROBES,
        }
    }

    pub(crate) fn from_parts(bits: Vec<u8>, probes: u8) -> Self {
        Bloom { bits, probes }
    }

    pub(crate) fn bits(&self) -> &[u8] {
        &self.bits
    }

    pub(crate) fn probes(&self) -> u8 {
        self.probes
    }

    fn positions(&self, hash: u64) -> impl Iterator<Item = usize> {
        // Double hashing (Kirsch–Mitzenmacher): probe i is h1 + i·h2, mapped onto the n bits by
        // a multiply-shift (the high half of a 64×64-bit product), which is uniform like a
        // modulo but avoids a division per probe.
        let n = (self.bits.len() * 8) as u64;
        let h1 = hash;
        let h2 = hash.rotate_left(32) | 1;
        (0..u64::from(self.probes))
            .map(move |i| ((u128::from(h1.wrapping_add(i.wrapping_mul(h2))) * u128::from(n)) >> 64) as usize)
    }

    pub(crate) fn insert(&mut self, key: &[u8]) {
        if self.bits.is_empty() {
            return;
        }
        let positions: Vec<usize> = self.positions(key_hash(key)).collect();
        for p in positions {
            self.bits[p / 8] |= 1 << (p % 8);
        }
    }

    /// False means the key is certainly absent.
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        if self.bits.is_empty() {
            // An empty filter (decoded from a checkpoint without one) filters nothing.
            return true;
        }
        self.positions(key_hash(key))
            .all(|p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.bits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut bloom = Bloom::with_capacity(10_000);
        assert_eq!(Bloom::with_capacity(usize::MAX).bits().len(), BLOOM_BYTES_MAX, "capped");
        for i in 0..10_000 {
            bloom.insert(format!("blob-{i:08}").as_bytes());
        }
        for i in 0..10_000 {
            assert!(bloom.may_contain(format!("blob-{i:08}").as_bytes()));
        }
        let false_positives = (10_000..20_000)
            .filter(|i| bloom.may_contain(format!("blob-{i:08}").as_bytes()))
            .count();
        assert!(false_positives < 300, "{false_positives} false positives in 10,000");
    }

    const PINNED_HASH: u64 = 6_951_039_270_075_219_545;

    #[test]
    fn hash_is_stable() {
        // The hash is part of the on-stream format.
        assert_eq!(key_hash(b"acct1/cont00/blob-00000001"), PINNED_HASH);
        assert_ne!(key_hash(b"blob-00000001"), key_hash(b"blob-00000002"));
    }
}
