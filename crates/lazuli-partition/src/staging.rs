//! Hints that spare Put Block and Append Data a read of everything a blob or file has staged.
//!
//! Put Block read every uncommitted block of its blob (to count them and find a replaced id),
//! and Append Data every staged append of its file (to find where the staged data ends): an
//! upload in 10,000 blocks or appends did 50 million row reads. Each now reads what it needs
//! by key, and what only a scan could tell is kept here from the previous call:
//!
//! - the uncommitted block count of a blob, which is never below the true count (only Put
//!   Block adds block rows, under the blob's lock, and adds one here when it does; whatever
//!   removes them may leave the hint high), and is counted again before a Put Block is
//!   refused on it;
//! - the last staged append of a file and where it ends, which Append Data checks against
//!   the rows (that append is still there, with that size, nothing is staged after it, and
//!   the file's committed length is what it was: a Blob API write over the file changes it
//!   and keeps the staged rows) before trusting it.
//!
//! A hint that is missing (after a restart, or dropped) is rebuilt by one scan. Memory is
//! bounded: a map that reaches [`HINTS_MAX`] entries starts over empty.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Entries per map before it starts over: a blob or file whose staged data is never
/// committed would otherwise keep its entry for the life of the process. Keys are up to
/// ~1 KiB (blob names of 1,024 characters), so this bounds each map near 16 MiB; far more
/// uploads than this at once only cost rescans.
const HINTS_MAX: usize = 16_384;

#[derive(Default)]
pub(crate) struct StagingHints {
    /// Uncommitted blocks per blob, by the blob's block row prefix.
    block_counts: Mutex<HashMap<Vec<u8>, usize>>,
    /// A file's last staged append, by the file's staged row prefix.
    append_ends: Mutex<HashMap<Vec<u8>, LastAppend>>,
}

/// The row key of a file's last staged append, where that append ends, and the file's
/// committed length when it was staged (the staged rows run from there to `end`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LastAppend {
    pub(crate) key: Vec<u8>,
    pub(crate) end: u64,
    pub(crate) committed: u64,
}

fn insert<V>(map: &mut HashMap<Vec<u8>, V>, key: &[u8], value: V) {
    if map.len() >= HINTS_MAX && !map.contains_key(key) {
        map.clear();
    }
    map.insert(key.to_vec(), value);
}

impl StagingHints {
    pub(crate) fn block_count(&self, blob_blocks: &[u8]) -> Option<usize> {
        self.block_counts.lock().get(blob_blocks).copied()
    }

    pub(crate) fn set_block_count(&self, blob_blocks: &[u8], count: usize) {
        insert(&mut self.block_counts.lock(), blob_blocks, count);
    }

    /// A Put Block added a block row (not one replacing another id's).
    pub(crate) fn block_added(&self, blob_blocks: &[u8]) {
        if let Some(count) = self.block_counts.lock().get_mut(blob_blocks) {
            *count += 1;
        }
    }

    /// Drops what is known of a blob's blocks (or a file's appends).
    pub(crate) fn forget(&self, prefix: &[u8]) {
        self.block_counts.lock().remove(prefix);
        self.append_ends.lock().remove(prefix);
    }

    pub(crate) fn last_append(&self, file_staged: &[u8]) -> Option<LastAppend> {
        self.append_ends.lock().get(file_staged).cloned()
    }

    pub(crate) fn set_last_append(&self, file_staged: &[u8], last: LastAppend) {
        insert(&mut self.append_ends.lock(), file_staged, last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_grow_only_once_known_and_maps_stay_bounded() {
        let hints = StagingHints::default();
        hints.block_added(b"K/a");
        assert_eq!(
            hints.block_count(b"K/a"),
            None,
            "an unknown count is not started at one"
        );
        hints.set_block_count(b"K/a", 3);
        hints.block_added(b"K/a");
        assert_eq!(hints.block_count(b"K/a"), Some(4));
        let last = LastAppend {
            key: b"Q/f/0".to_vec(),
            end: 10,
            committed: 0,
        };
        hints.set_last_append(b"Q/f", last.clone());
        assert_eq!(hints.last_append(b"Q/f"), Some(last));
        hints.forget(b"K/a");
        hints.forget(b"Q/f");
        assert_eq!(hints.block_count(b"K/a"), None);
        assert_eq!(hints.last_append(b"Q/f"), None);
        for i in 0..HINTS_MAX + 10 {
            hints.set_block_count(format!("K/{i}").as_bytes(), i);
        }
        assert!(hints.block_counts.lock().len() <= HINTS_MAX);
        assert_eq!(
            hints.block_count(format!("K/{}", HINTS_MAX + 9).as_bytes()),
            Some(HINTS_MAX + 9)
        );
    }
}
