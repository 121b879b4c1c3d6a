//! Checkpoint data blocks: runs of sorted rows with prefix-compressed keys, one stream record
//! each (see docs/formats/checkpoint.md).

use bytes::Bytes;

use crate::codec::{check_crc, corrupt, put_u16, put_u32, put_u8, seal_crc, Reader};
use crate::limits::{KEY_BYTES_MAX, VALUE_BYTES_MAX};
use crate::Result;

pub(crate) const CHECKPOINT_VERSION: u8 = 1;
pub(crate) const KIND_DATA_BLOCK: u8 = 1;
const VALUE_TOMBSTONE: u8 = 0;
const VALUE_PRESENT: u8 = 1;
/// Offset of the entry count, patched when the block is finished.
const COUNT_OFFSET: usize = 2;

/// Builds one data block; keys must be added in strictly increasing order.
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    last_key: Vec<u8>,
    entries: u32,
}

impl BlockBuilder {
    /// `capacity`: the bytes the block is expected to reach, so that its buffer is allocated
    /// once rather than grown (and copied) a dozen times on the way.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        put_u8(&mut buf, CHECKPOINT_VERSION);
        put_u8(&mut buf, KIND_DATA_BLOCK);
        put_u32(&mut buf, 0);
        BlockBuilder {
            buf,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    pub(crate) fn add(&mut self, key: &[u8], value: Option<&[u8]>) {
        assert!(
            self.entries == 0 || key > self.last_key.as_slice(),
            "block keys must increase"
        );
        assert!(key.len() <= KEY_BYTES_MAX);
        let shared = if self.entries == 0 {
            0
        } else {
            key.iter().zip(self.last_key.iter()).take_while(|(a, b)| a == b).count()
        };
        put_u16(&mut self.buf, shared as u16);
        put_u16(&mut self.buf, (key.len() - shared) as u16);
        match value {
            Some(value) => {
                put_u8(&mut self.buf, VALUE_PRESENT);
                put_u32(&mut self.buf, value.len() as u32);
                self.buf.extend_from_slice(&key[shared..]);
                self.buf.extend_from_slice(value);
            }
            None => {
                put_u8(&mut self.buf, VALUE_TOMBSTONE);
                self.buf.extend_from_slice(&key[shared..]);
            }
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.entries += 1;
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The finished record and the block's last key.
    pub(crate) fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        self.buf[COUNT_OFFSET..COUNT_OFFSET + 4].copy_from_slice(&self.entries.to_le_bytes());
        seal_crc(&mut self.buf);
        (self.buf, self.last_key)
    }
}

/// One row of a decoded block: ranges into the block's arena.
#[derive(Clone, Copy, Debug)]
struct EntryRef {
    key_start: u32,
    key_len: u32,
    value_start: u32,
    /// `u32::MAX` marks a tombstone.
    value_len: u32,
}

/// A decoded block: keys expanded (prefixes restored) and values, all in one arena so the block
/// cache holds one allocation per block rather than two per row; shared, so that a point read
/// hands out its value without a copy.
#[derive(Debug)]
pub(crate) struct Block {
    arena: Bytes,
    /// The arena's allocation (its capacity), which the block cache is charged for.
    arena_bytes: usize,
    entries: Vec<EntryRef>,
}

impl Block {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Block> {
        let body = check_crc(bytes, "checkpoint data block")?;
        let mut r = Reader::new(body, "checkpoint data block");
        r.header(CHECKPOINT_VERSION, KIND_DATA_BLOCK)?;
        let count = r.u32()? as usize;
        // Each entry takes at least 5 bytes: a lying count cannot make us allocate much.
        if count > r.remaining() / 5 {
            return Err(corrupt(format!("checkpoint data block: {count} entries cannot fit")));
        }
        let mut arena = Vec::with_capacity(body.len() + count * 16);
        let mut entries = Vec::with_capacity(count);
        let mut prev: Option<EntryRef> = None;
        for _ in 0..count {
            let shared = r.u16()? as usize;
            let unshared = r.u16()? as usize;
            let flag = r.u8()?;
            let value_len = match flag {
                VALUE_PRESENT => {
                    let len = r.u32()? as usize;
                    if len > VALUE_BYTES_MAX {
                        return Err(corrupt(format!("checkpoint data block: value of {len} bytes")));
                    }
                    Some(len)
                }
                VALUE_TOMBSTONE => None,
                other => return Err(corrupt(format!("checkpoint data block: unknown value flag {other}"))),
            };
            let prev_key_len = prev.map_or(0, |p| p.key_len as usize);
            if shared > prev_key_len || shared + unshared > KEY_BYTES_MAX {
                return Err(corrupt("checkpoint data block: bad key prefix length"));
            }
            let key_start = arena.len();
            if let Some(p) = prev {
                let from = p.key_start as usize;
                arena.extend_from_within(from..from + shared);
            }
            arena.extend_from_slice(r.bytes(unshared)?);
            let key_len = shared + unshared;
            if let Some(p) = prev {
                // The writer always shares the longest common prefix, so the keys agree up to
                // `shared` and the order is decided by the next byte alone (or by the new key
                // being longer): a constant-time check instead of a key comparison per row.
                let prev_len = p.key_len as usize;
                let increasing = if shared == prev_len {
                    unshared > 0
                } else {
                    unshared > 0 && arena[key_start + shared] > arena[p.key_start as usize + shared]
                };
                if !increasing {
                    return Err(corrupt(
                        "checkpoint data block: keys out of order or prefix not maximal",
                    ));
                }
            }
            let value_start = arena.len();
            let value_len = match value_len {
                Some(len) => {
                    arena.extend_from_slice(r.bytes(len)?);
                    len as u32
                }
                None => u32::MAX,
            };
            let entry = EntryRef {
                key_start: key_start as u32,
                key_len: key_len as u32,
                value_start: value_start as u32,
                value_len,
            };
            entries.push(entry);
            prev = Some(entry);
        }
        r.finish()?;
        if entries.is_empty() {
            return Err(corrupt("checkpoint data block: no entries"));
        }
        Ok(Block {
            arena_bytes: arena.capacity(),
            arena: Bytes::from(arena),
            entries,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn key(&self, i: usize) -> &[u8] {
        let e = self.entries[i];
        &self.arena[e.key_start as usize..(e.key_start + e.key_len) as usize]
    }

    /// `None` is a tombstone.
    pub(crate) fn value(&self, i: usize) -> Option<&[u8]> {
        let e = self.entries[i];
        if e.value_len == u32::MAX {
            None
        } else {
            Some(&self.arena[e.value_start as usize..(e.value_start + e.value_len) as usize])
        }
    }

    /// Index of the first entry whose key is `>= key` (may be `len()`).
    pub(crate) fn seek(&self, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (0, self.entries.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Exact lookup: `Some(None)` is a tombstone. The value shares the block's memory.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        let i = self.seek(key);
        (i < self.len() && self.key(i) == key).then(|| self.value(i).map(|v| self.arena.slice_ref(v)))
    }

    /// What this block costs in the block cache.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.arena_bytes + self.entries.capacity() * std::mem::size_of::<EntryRef>() + 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        let mut b = BlockBuilder::new(0);
        b.add(b"ab", Some(b"1"));
        b.add(b"ac", None);
        let (bytes, last) = b.finish();
        let mut expected = vec![1u8, 1, 2, 0, 0, 0];
        expected.extend_from_slice(&[0, 0, 2, 0, 1, 1, 0, 0, 0, b'a', b'b', b'1']);
        expected.extend_from_slice(&[1, 0, 1, 0, 0, b'c']);
        let crc = lazuli_stream::crc::crc32c(&expected);
        expected.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(last, b"ac");
        let block = Block::decode(&bytes).unwrap();
        assert_eq!(block.get(b"ab"), Some(Some(Bytes::from_static(b"1"))));
        assert_eq!(block.get(b"ac"), Some(None));
        assert_eq!(block.get(b"aa"), None);
    }

    proptest! {
        #[test]
        fn round_trip(rows in proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 0..12),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..30)),
            1..40,
        )) {
            let mut b = BlockBuilder::new(0);
            for (k, v) in &rows {
                b.add(k, v.as_deref());
            }
            let (bytes, _) = b.finish();
            let block = Block::decode(&bytes).unwrap();
            prop_assert_eq!(block.len(), rows.len());
            for (i, (k, v)) in rows.iter().enumerate() {
                prop_assert_eq!(block.key(i), k.as_slice());
                prop_assert_eq!(block.value(i), v.as_deref());
            }
        }

        #[test]
        fn decoder_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), crc in any::<bool>()) {
            if crc {
                seal_crc(&mut bytes);
            }
            let _ = Block::decode(&bytes);
        }
    }
}
