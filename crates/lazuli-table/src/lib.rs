//! An ordered key→value table (an LSM) whose every byte lives in streams: a commit-log
//! stream, a row-data stream of immutable sorted checkpoints, and a metadata stream holding
//! the manifest of live checkpoints.

use std::sync::Arc;

use lazuli_stream::{StreamError, StreamStore};

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("corrupt table data: {0}")]
    Corrupt(String),
    #[error("key too large: {0} bytes")]
    KeyTooLarge(usize),
    #[error("value too large: {0} bytes")]
    ValueTooLarge(usize),
}

pub type Result<T, E = TableError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct TableOptions {
    /// Memtable size that triggers a checkpoint.
    pub memtable_bytes_max: usize,
    /// Target size of a checkpoint data block.
    pub block_bytes: usize,
    /// Bytes of decoded checkpoint blocks kept in the cache.
    pub block_cache_bytes: usize,
    /// Number of checkpoints that triggers a background compaction.
    pub compaction_trigger_checkpoints: usize,
    /// Run flushes and compactions on a background thread (tests may drive them by hand).
    pub background: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            memtable_bytes_max: 64 << 20,
            block_bytes: 16 << 10,
            block_cache_bytes: 64 << 20,
            compaction_trigger_checkpoints: 4,
            background: true,
        }
    }
}

/// An atomic set of puts and deletes: after a crash either all of it is visible or none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push((key.into(), Some(value.into())));
        self
    }
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push((key.into(), None));
        self
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub struct Table {
    _private: (),
}

impl Table {
    /// Opens (or creates) the table whose streams are `{name}.log`, `{name}.rows` and
    /// `{name}.meta` in `store`, recovering from the manifest, checkpoints and log.
    pub fn open(store: Arc<dyn StreamStore>, name: &str, options: TableOptions) -> Result<Arc<Table>> {
        let _ = (store, name, options);
        todo!("storage core")
    }

    /// Applies `batch` atomically; returns once it is durable.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        let _ = batch;
        todo!("storage core")
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let _ = key;
        todo!("storage core")
    }

    /// Up to `limit` rows with `start <= key < end` (no upper bound if `end` is None), in key order.
    pub fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let _ = (start, end, limit);
        todo!("storage core")
    }

    /// Writes the memtable out as a checkpoint now.
    pub fn flush(&self) -> Result<()> {
        todo!("storage core")
    }

    /// Merges all checkpoints into one and drops obsolete data now.
    pub fn compact(&self) -> Result<()> {
        todo!("storage core")
    }
}
