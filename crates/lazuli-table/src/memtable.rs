//! The memtable: the newest rows, in key order, in memory. Rows reach it only after their
//! commit-log record is durable.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::WriteBatch;

/// Estimated bookkeeping bytes per row besides key and value (B-tree node share, two `Vec`
/// headers, the sequence number), so that `memtable_bytes_max` bounds real memory, not payload.
const ENTRY_OVERHEAD_BYTES: usize = 96;

#[derive(Clone, Debug)]
pub(crate) struct MemEntry {
    pub seq: u64,
    /// `None` is a tombstone. Shared, so that a point read hands it out without a copy.
    pub value: Option<Bytes>,
}

/// A row as it flows through reads, merges and checkpoint writes: `None` is a tombstone.
pub(crate) type Row = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
pub(crate) struct Memtable {
    map: RwLock<BTreeMap<Vec<u8>, MemEntry>>,
    bytes: AtomicUsize,
}

fn entry_bytes(key: &[u8], value: Option<&[u8]>) -> usize {
    key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD_BYTES
}

impl Memtable {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Applies a whole batch under one write lock, so that no reader sees part of it. Per key the
    /// entry with the highest sequence number wins: batches committed in the same group may arrive
    /// here in either order, and replay applies the same rule.
    pub(crate) fn apply(&self, seq: u64, batch: &WriteBatch) {
        let mut map = self.map.write();
        let mut added: isize = 0;
        for (key, value) in &batch.ops {
            match map.get_mut(key.as_slice()) {
                Some(entry) => {
                    if entry.seq > seq {
                        continue;
                    }
                    added +=
                        entry_bytes(key, value.as_deref()) as isize - entry_bytes(key, entry.value.as_deref()) as isize;
                    entry.seq = seq;
                    entry.value = value.as_deref().map(Bytes::copy_from_slice);
                }
                None => {
                    added += entry_bytes(key, value.as_deref()) as isize;
                    map.insert(
                        key.clone(),
                        MemEntry {
                            seq,
                            value: value.as_deref().map(Bytes::copy_from_slice),
                        },
                    );
                }
            }
        }
        if added >= 0 {
            self.bytes.fetch_add(added as usize, Ordering::Relaxed);
        } else {
            self.bytes.fetch_sub(added.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// `Some(None)` is a tombstone: the key is deleted and older sources must not be consulted.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Bytes>> {
        self.map.read().get(key).map(|e| e.value.clone())
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.read().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }

    /// Copies the rows a scan of `[start, end)` returning at most `limit` live rows can need from
    /// this memtable, under one read lock (a consistent view: whole batches only). The memtable
    /// is newer than every checkpoint, so each of its live rows is in the scan's result: past its
    /// `limit`-th live row nothing more of it can matter. Tombstones before that point are kept to
    /// hide older rows.
    pub(crate) fn range_for_scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Vec<Row> {
        let map = self.map.read();
        let upper = match end {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        let mut live = 0usize;
        for (key, entry) in map.range::<[u8], _>((Bound::Included(start), upper)) {
            if live >= limit {
                break;
            }
            if entry.value.is_some() {
                live += 1;
            }
            out.push((key.clone(), entry.value.as_deref().map(<[u8]>::to_vec)));
        }
        out
    }

    /// Calls `visit` with every row in key order without copying the whole memtable first; the
    /// read lock is held throughout, which is only done on frozen memtables (no writers).
    pub(crate) fn for_each(
        &self,
        mut visit: impl FnMut(&[u8], Option<&[u8]>) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let map = self.map.read();
        for (key, entry) in map.iter() {
            visit(key, entry.value.as_deref())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_sequence_number_wins_in_any_order() {
        let mut a = WriteBatch::new();
        a.put("k", "old");
        let mut b = WriteBatch::new();
        b.put("k", "new");
        let m = Memtable::new();
        m.apply(2, &b);
        m.apply(1, &a);
        assert_eq!(m.get(b"k"), Some(Some(Bytes::from_static(b"new"))));
    }

    #[test]
    fn scan_copy_stops_after_limit_live_rows() {
        let m = Memtable::new();
        let mut b = WriteBatch::new();
        b.put("a", "1").delete("b").put("c", "3").put("d", "4");
        m.apply(1, &b);
        let rows = m.range_for_scan(b"", None, 2);
        let keys: Vec<_> = rows.iter().map(|r| r.0.clone()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }
}
