//! A bounded LRU cache of decoded checkpoint blocks, shared by all reads of a table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::block::Block;

/// (checkpoint id, block number). Checkpoint ids are never reused, so entries of a dropped
/// checkpoint can never be returned for a new one; they simply age out.
pub(crate) type BlockKey = (u64, u32);

struct Slot {
    block: Arc<Block>,
    /// The cache's clock at this block's last use.
    last_use: AtomicU64,
    bytes: usize,
}

#[derive(Default)]
struct Slots {
    map: HashMap<BlockKey, Slot>,
    bytes: usize,
}

/// A hit takes the lock shared and stamps the block with the clock: every point read of every
/// request comes through here, from all runtime threads at once, and an exclusive lock with
/// an ordered list to update on each hit was a contended step of every Get. Eviction, when an
/// insert overflows the capacity, sorts the blocks by last use once and drops the oldest
/// until an eighth of the capacity is free, so its cost is spread over many inserts.
pub(crate) struct BlockCache {
    capacity_bytes: usize,
    clock: AtomicU64,
    slots: RwLock<Slots>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub blocks: usize,
    pub bytes: usize,
}

impl BlockCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        BlockCache {
            capacity_bytes,
            clock: AtomicU64::new(0),
            slots: RwLock::new(Slots::default()),
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn get(&self, key: BlockKey) -> Option<Arc<Block>> {
        let slots = self.slots.read();
        let slot = slots.map.get(&key)?;
        slot.last_use.store(self.tick(), Ordering::Relaxed);
        Some(slot.block.clone())
    }

    pub(crate) fn insert(&self, key: BlockKey, block: Arc<Block>) {
        let bytes = block.memory_bytes();
        if bytes > self.capacity_bytes {
            return;
        }
        let mut slots = self.slots.write();
        let last_use = AtomicU64::new(self.tick());
        if let Some(old) = slots.map.insert(key, Slot { block, last_use, bytes }) {
            slots.bytes -= old.bytes;
        }
        slots.bytes += bytes;
        if slots.bytes <= self.capacity_bytes {
            return;
        }
        let low_water = self.capacity_bytes - self.capacity_bytes / 8;
        let mut by_age: Vec<(u64, BlockKey)> = slots
            .map
            .iter()
            .map(|(key, slot)| (slot.last_use.load(Ordering::Relaxed), *key))
            .collect();
        by_age.sort_unstable();
        for (_, victim) in by_age {
            if slots.bytes <= low_water {
                break;
            }
            if let Some(slot) = slots.map.remove(&victim) {
                slots.bytes -= slot.bytes;
            }
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let slots = self.slots.read();
        CacheStats {
            blocks: slots.map.len(),
            bytes: slots.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockBuilder;

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(0);
        b.add(b"k", Some(&vec![0u8; n]));
        Arc::new(Block::decode(&b.finish().0).unwrap())
    }

    #[test]
    fn evicts_least_recently_used_within_capacity() {
        let one = block(1000).memory_bytes();
        let cache = BlockCache::new(one * 2 + one / 2);
        cache.insert((1, 0), block(1000));
        cache.insert((1, 1), block(1000));
        assert!(cache.get((1, 0)).is_some());
        cache.insert((1, 2), block(1000));
        assert!(cache.get((1, 1)).is_none(), "least recently used is evicted");
        assert!(cache.get((1, 0)).is_some());
        assert!(cache.get((1, 2)).is_some());
        assert!(cache.stats().bytes <= one * 2 + one / 2);
    }

    /// Eviction frees an eighth of the capacity at once, oldest first, and never takes a
    /// block used since an older one.
    #[test]
    fn eviction_frees_room_oldest_first() {
        let one = block(1000).memory_bytes();
        let cache = BlockCache::new(one * 16);
        for i in 0..16 {
            cache.insert((1, i), block(1000));
        }
        assert_eq!(cache.stats().blocks, 16);
        // Touch the first four: they become the newest.
        for i in 0..4 {
            assert!(cache.get((1, i)).is_some());
        }
        cache.insert((2, 0), block(1000));
        let stats = cache.stats();
        assert!(stats.bytes <= one * 14, "{stats:?}");
        assert!(stats.blocks >= 13, "{stats:?}");
        for i in 0..4 {
            assert!(cache.get((1, i)).is_some(), "recently used block {i} was evicted");
        }
        assert!(cache.get((2, 0)).is_some());
        assert!(
            cache.get((1, 4)).is_none() && cache.get((1, 5)).is_none(),
            "the oldest go first"
        );
        // A block larger than the whole cache is not kept.
        let small = BlockCache::new(one / 2);
        small.insert((3, 0), block(1000));
        assert_eq!(small.stats(), CacheStats::default());
    }
}
