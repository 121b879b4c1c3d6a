//! A bounded LRU cache of decoded checkpoint blocks, shared by all reads of a table.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::block::Block;

/// (checkpoint id, block number). Checkpoint ids are never reused, so entries of a dropped
/// checkpoint can never be returned for a new one; they simply age out.
pub(crate) type BlockKey = (u64, u32);

struct Slot {
    block: Arc<Block>,
    tick: u64,
    bytes: usize,
}

#[derive(Default)]
struct Lru {
    slots: HashMap<BlockKey, Slot>,
    /// Last-use tick → key; the first entry is the least recently used.
    order: BTreeMap<u64, BlockKey>,
    tick: u64,
    bytes: usize,
}

pub(crate) struct BlockCache {
    capacity_bytes: usize,
    lru: Mutex<Lru>,
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
            lru: Mutex::new(Lru::default()),
        }
    }

    pub(crate) fn get(&self, key: BlockKey) -> Option<Arc<Block>> {
        let mut lru = self.lru.lock();
        lru.tick += 1;
        let tick = lru.tick;
        let slot = lru.slots.get_mut(&key)?;
        let old = std::mem::replace(&mut slot.tick, tick);
        let block = slot.block.clone();
        lru.order.remove(&old);
        lru.order.insert(tick, key);
        Some(block)
    }

    pub(crate) fn insert(&self, key: BlockKey, block: Arc<Block>) {
        let bytes = block.memory_bytes();
        if bytes > self.capacity_bytes {
            return;
        }
        let mut lru = self.lru.lock();
        lru.tick += 1;
        let tick = lru.tick;
        if let Some(old) = lru.slots.insert(key, Slot { block, tick, bytes }) {
            lru.order.remove(&old.tick);
            lru.bytes -= old.bytes;
        }
        lru.order.insert(tick, key);
        lru.bytes += bytes;
        while lru.bytes > self.capacity_bytes {
            let Some((_, victim)) = lru.order.pop_first() else {
                break;
            };
            if let Some(slot) = lru.slots.remove(&victim) {
                lru.bytes -= slot.bytes;
            }
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let lru = self.lru.lock();
        CacheStats {
            blocks: lru.slots.len(),
            bytes: lru.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockBuilder;

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new();
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
}
