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

/// Set in the footer's probe count when the filter is blocked: all probes of a key fall in one
/// 64-byte block (one cache line), chosen by the key's hash. A point read of a large checkpoint
/// then misses the CPU cache once per filter instead of once per probe, for a slightly higher
/// false-positive rate (about 1.1 % instead of 0.8 % at 10 bits per key and 7 probes).
/// Checkpoints written before blocked filters keep their classic filter, read as before.
pub(crate) const BLOCKED: u8 = 0x80;

/// Bytes of one block of a blocked filter.
pub(crate) const BLOCK_BYTES: usize = 64;
const BLOCK_BITS: u64 = 8 * BLOCK_BYTES as u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bloom {
    bits: Vec<u8>,
    probes: u8,
    blocked: bool,
}

impl Bloom {
    /// A blocked filter sized for `keys` keys (at least one block so tiny checkpoints still
    /// filter).
    pub(crate) fn with_capacity(keys: usize) -> Self {
        let bits = keys.saturating_mul(BLOOM_BITS_PER_KEY).clamp(1, BLOOM_BYTES_MAX * 8);
        Bloom {
            bits: vec![0; bits.div_ceil(8 * BLOCK_BYTES) * BLOCK_BYTES],
            probes: BLOOM_PROBES,
            blocked: true,
        }
    }

    /// A filter as stored: `probes` is the footer's byte, with the [`BLOCKED`] flag. A blocked
    /// filter's length is a whole number of blocks (the footer's decoder checks it).
    pub(crate) fn from_parts(bits: Vec<u8>, probes: u8) -> Self {
        Bloom {
            bits,
            probes: probes & !BLOCKED,
            blocked: probes & BLOCKED != 0,
        }
    }

    pub(crate) fn bits(&self) -> &[u8] {
        &self.bits
    }

    /// The footer's byte: the probe count, with the [`BLOCKED`] flag.
    pub(crate) fn probes(&self) -> u8 {
        if self.blocked {
            self.probes | BLOCKED
        } else {
            self.probes
        }
    }

    /// The bits a key's hash sets. The iterator holds copies, not `self`, so `insert` can set
    /// the bits as it goes.
    fn positions(&self, hash: u64) -> impl Iterator<Item = usize> {
        let bits = (self.bits.len() * 8) as u64;
        let blocked = self.blocked;
        // Both layouts: double hashing (Kirsch–Mitzenmacher), probe i at h1 + i·h2; a range is
        // reached by a multiply-shift (the high half of a 64×64-bit product), uniform like a
        // modulo but without a division.
        let (block_start, h1, h2) = if blocked {
            // The block from the hash's high bits; the bits inside it from a remix of the hash,
            // so they are independent of which block was chosen. A block's 512 bits are a power
            // of two and h2 is odd: the probes of a key are distinct bits.
            let block = ((u128::from(hash) * u128::from(bits / BLOCK_BITS)) >> 64) as u64;
            let mut mixed = (hash ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
            mixed ^= mixed >> 31;
            (block * BLOCK_BITS, mixed, (mixed >> 32) | 1)
        } else {
            (0, hash, hash.rotate_left(32) | 1)
        };
        (0..u64::from(self.probes)).map(move |i| {
            let x = h1.wrapping_add(i.wrapping_mul(h2));
            let bit = if blocked {
                block_start + (x & (BLOCK_BITS - 1))
            } else {
                ((u128::from(x) * u128::from(bits)) >> 64) as u64
            };
            bit as usize
        })
    }

    /// An empty filter (decoded from a checkpoint without one) filters nothing; nor does a
    /// blocked one shorter than a block, which only a damaged footer could describe.
    fn filters_nothing(&self) -> bool {
        self.bits.is_empty() || (self.blocked && self.bits.len() < BLOCK_BYTES)
    }

    pub(crate) fn insert(&mut self, key: &[u8]) {
        if self.filters_nothing() {
            return;
        }
        for p in self.positions(key_hash(key)) {
            self.bits[p / 8] |= 1 << (p % 8);
        }
    }

    /// False means the key is certainly absent.
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        if self.filters_nothing() {
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

    fn false_positives_in_10k(mut bloom: Bloom) -> usize {
        for i in 0..10_000 {
            bloom.insert(format!("blob-{i:08}").as_bytes());
        }
        for i in 0..10_000 {
            assert!(bloom.may_contain(format!("blob-{i:08}").as_bytes()));
        }
        (10_000..20_000)
            .filter(|i| bloom.may_contain(format!("blob-{i:08}").as_bytes()))
            .count()
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        assert_eq!(Bloom::with_capacity(usize::MAX).bits().len(), BLOOM_BYTES_MAX, "capped");
        let blocked = Bloom::with_capacity(10_000);
        assert_eq!(blocked.probes(), BLOOM_PROBES | BLOCKED);
        assert_eq!(blocked.bits().len() % BLOCK_BYTES, 0);
        let false_positives = false_positives_in_10k(blocked);
        assert!(false_positives < 200, "{false_positives} false positives in 10,000");
        // The classic filter of checkpoints written before blocked ones is still understood.
        let classic = Bloom::from_parts(vec![0; 12_500], BLOOM_PROBES);
        assert_eq!(classic.probes(), BLOOM_PROBES);
        let false_positives = false_positives_in_10k(classic);
        assert!(false_positives < 200, "{false_positives} false positives in 10,000");
    }

    #[test]
    fn a_blocked_filter_probes_one_block() {
        let bloom = Bloom::with_capacity(10_000);
        for i in 0..1000u32 {
            let positions: Vec<usize> = bloom.positions(key_hash(&i.to_le_bytes())).collect();
            let block = positions[0] / (8 * BLOCK_BYTES);
            assert!(
                positions.iter().all(|p| p / (8 * BLOCK_BYTES) == block),
                "{positions:?}"
            );
            let distinct: std::collections::HashSet<_> = positions.iter().collect();
            assert_eq!(distinct.len(), positions.len(), "{positions:?}");
        }
    }

    #[test]
    fn probe_positions_are_pinned() {
        // Both layouts are part of the on-stream format (docs/formats/checkpoint.md); the
        // expected bits were computed from the formulas written there, not by this code.
        let hash = key_hash(b"acct1/cont00/blob-00000001");
        let blocked: Vec<usize> = Bloom::from_parts(vec![0; 1024], BLOOM_PROBES | BLOCKED)
            .positions(hash)
            .collect();
        let classic: Vec<usize> = Bloom::from_parts(vec![0; 1024], BLOOM_PROBES).positions(hash).collect();
        assert_eq!(blocked, PINNED_BLOCKED);
        assert_eq!(classic, PINNED_CLASSIC);
    }

    #[test]
    fn damaged_sizes_filter_nothing_and_never_panic() {
        for len in [0, 1, 63] {
            let mut bloom = Bloom::from_parts(vec![0; len], BLOOM_PROBES | BLOCKED);
            bloom.insert(b"k");
            assert!(bloom.may_contain(b"anything"));
        }
        // A blocked filter whose length is not a whole number of blocks probes within it.
        let mut bloom = Bloom::from_parts(vec![0; 100], BLOOM_PROBES | BLOCKED);
        for i in 0..1000u32 {
            bloom.insert(&i.to_le_bytes());
            assert!(bloom.may_contain(&i.to_le_bytes()));
        }
    }

    const PINNED_HASH: u64 = 6_951_039_270_075_219_545;
    const PINNED_BLOCKED: [usize; 7] = [3204, 3453, 3190, 3439, 3176, 3425, 3162];
    const PINNED_CLASSIC: [usize; 7] = [3086, 5666, 54, 2634, 5214, 7794, 2182];

    #[test]
    fn hash_is_stable() {
        // The hash is part of the on-stream format.
        assert_eq!(key_hash(b"acct1/cont00/blob-00000001"), PINNED_HASH);
        assert_ne!(key_hash(b"blob-00000001"), key_hash(b"blob-00000002"));
    }
}
