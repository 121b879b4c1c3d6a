//! An ordered key→value table (an LSM) whose every byte lives in streams: a commit-log
//! stream, a row-data stream of immutable sorted checkpoints, and a metadata stream holding
//! the manifest of live checkpoints. Because a table is only its streams, a partition moves to
//! another server by reopening them; nothing is copied.
//!
//! # Shape
//!
//! - [`Table::write`]: one commit-log record per [`WriteBatch`] (`log.rs`), durable before
//!   `write` returns, then applied to the memtable (`memtable.rs`) under one lock.
//! - When the memtable is full it freezes (reads still see it) and a background thread writes it
//!   to the rows stream as a checkpoint: data blocks, block index, bloom filter, footer
//!   (`checkpoint.rs`, `block.rs`, `bloom.rs`). A manifest naming the live checkpoints and the
//!   log replay position is then appended to the meta stream (`manifest.rs`, `flush.rs`).
//! - Another background thread merges checkpoints (`compaction.rs`, size-tiered); extents that
//!   no live checkpoint, manifest or replayable log record needs are deleted (`reclaim.rs`).
//! - Reads consult an immutable snapshot of the sources (`version.rs`): memtables, then
//!   checkpoints newest first, through bloom filters, block indexes and an LRU block cache
//!   (`cache.rs`); scans merge all sources (`merge.rs`).
//! - [`Table::open`] recovers from the newest manifest and replays the log (`recovery.rs`).
//!
//! # Guarantees
//!
//! Acknowledged means durable: a crash loses no batch for which `write` returned `Ok`, and every
//! batch is all-or-nothing, for readers and after recovery. Stored data that fails a checksum or
//! a format check is an error ([`TableError::is_corrupt`]), never returned as data. After a
//! commit-log append whose durability is unknown (a failed sync), or a failed flush or
//! compaction, the table refuses writes ([`TableError::Poisoned`]) until reopened; a plain
//! I/O error on append (the record was cut off again) only fails that write. See `docs/durability.md` (section "Tables") and
//! `docs/formats/{commit-log,checkpoint,manifest}.md`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use bytes::Bytes;
use lazuli_stream::{StreamError, StreamStore};
use parking_lot::Mutex;

mod background;
mod block;
mod bloom;
mod cache;
mod checkpoint;
mod codec;
mod compaction;
mod flush;
pub mod limits;
mod log;
mod manifest;
mod memtable;
mod merge;
mod reclaim;
mod recovery;
mod table;
mod version;

pub use limits::{BATCH_BYTES_MAX, BATCH_OPS_MAX, KEY_BYTES_MAX, VALUE_BYTES_MAX};
pub use table::PendingWrite;

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
    #[error("batch too large: {0}")]
    BatchTooLarge(String),
    /// An earlier failure (a commit-log append that failed other than by a plain I/O error, e.g.
    /// a failed sync; or a failed flush or compaction) left the durable state uncertain: the table
    /// refuses writes until it is reopened, which replays the log.
    #[error("table refuses writes after an earlier failure: {0}")]
    Poisoned(String),
    /// Inside [`memory_only`], a read needed a checkpoint block that is not cached.
    #[error("the read needs disk I/O, which was refused")]
    WouldBlock,
}

thread_local! {
    /// Set inside [`memory_only`]; `REFUSED` records that a read needed I/O there.
    static MEMORY_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static REFUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` with every table read on this thread limited to memory (memtables, the block
/// cache, indexes and bloom filters): a read that would need a checkpoint block from disk
/// fails with [`TableError::WouldBlock`] instead, and then this returns `None`, whatever `read`
/// made of the error. An async caller uses it to answer reads of hot rows on its own thread
/// and sends only the rest to a blocking thread. Writes prepared inside it refuse the same
/// way whatever would make them wait: a held lock ([`refuse_to_wait`]), a blocking
/// [`Table::write`] (see [`Table::try_write_async`] for the commit).
pub fn memory_only<T>(read: impl FnOnce() -> T) -> Option<T> {
    /// Puts the thread's flags back even if `read` panics: the runtime catches a task's
    /// panic and keeps the thread, whose every later read would otherwise be refused.
    struct Restore {
        outer: bool,
        refused_before: bool,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            MEMORY_ONLY.with(|m| m.set(self.outer));
            REFUSED.with(|r| r.set(self.refused_before));
        }
    }
    let _restore = Restore {
        outer: MEMORY_ONLY.with(|m| m.replace(true)),
        refused_before: REFUSED.with(|r| r.replace(false)),
    };
    let result = read();
    let refused = REFUSED.with(|r| r.get());
    (!refused).then_some(result)
}

/// True inside [`memory_only`] (on this thread).
pub fn in_memory_only() -> bool {
    MEMORY_ONLY.with(|m| m.get())
}

/// Inside [`memory_only`]: marks the call refused because it would have to wait (for a lock,
/// say), so that `memory_only` returns `None` whatever the call returns. Outside, nothing.
pub fn refuse_to_wait() {
    refuse_io();
}

/// Inside [`memory_only`]: notes the refusal and returns the error to fail the call with.
pub fn refuse_io() -> Option<TableError> {
    MEMORY_ONLY.with(|m| m.get()).then(|| {
        REFUSED.with(|r| r.set(true));
        TableError::WouldBlock
    })
}

impl TableError {
    /// True if stored data failed a checksum or format check (as opposed to I/O or input errors).
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            TableError::Corrupt(_) | TableError::Stream(StreamError::Corrupt { .. })
        )
    }
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

/// What a table holds right now, for metrics, tests and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// The sequence number the next batch gets.
    pub next_seq: u64,
    pub memtable_rows: usize,
    pub memtable_bytes: usize,
    /// Rows of the memtable being written out as a checkpoint (0 if none).
    pub frozen_memtable_rows: usize,
    pub checkpoints: usize,
    /// Rows in checkpoints, tombstones and shadowed rows included.
    pub checkpoint_rows: u64,
    /// Bytes of checkpoint records in the rows stream.
    pub checkpoint_bytes: u64,
    pub checkpoint_blocks: usize,
    /// Memory held by the block indexes and bloom filters of live checkpoints.
    pub index_and_bloom_bytes: usize,
    pub block_cache_bytes: usize,
    pub block_cache_blocks: usize,
    pub log_extents: usize,
    pub rows_extents: usize,
    pub meta_extents: usize,
    /// Flushes and compactions since the table was opened.
    pub flushes: u64,
    pub compactions: u64,
    /// Times a compaction gave the rows stream up to a waiting flush.
    pub compaction_yields: u64,
    pub poisoned: Option<String>,
}

/// An LSM table over three streams. All methods may be called from many threads at once; writers
/// never wait for each other (their log appends share fsyncs), only for a full memtable while the
/// previous one is still being written out.
pub struct Table {
    inner: Arc<table::TableInner>,
    background: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Table {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.notify();
        for handle in self.background.lock().drain(..) {
            if handle.join().is_err() {
                tracing::error!(table = %self.inner.name, "background thread panicked");
            }
        }
    }
}

impl Table {
    /// Opens (or creates) the table whose streams are `{name}.log`, `{name}.rows` and
    /// `{name}.meta` in `store`, recovering from the manifest, checkpoints and log.
    pub fn open(store: Arc<dyn StreamStore>, name: &str, options: TableOptions) -> Result<Arc<Table>> {
        let background = options.background;
        let inner = recovery::open(store.as_ref(), name, options)?;
        let handles = if background {
            background::spawn(&inner).map_err(|source| {
                TableError::Stream(StreamError::Io {
                    stream: format!("{name} (background threads)"),
                    source,
                })
            })?
        } else {
            Vec::new()
        };
        Ok(Arc::new(Table {
            inner,
            background: Mutex::new(handles),
        }))
    }

    /// Applies `batch` atomically; returns once it is durable. Readers see all of it or none.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.inner.write(batch)
    }

    /// Whether [`Table::try_write_async`] would take a batch now, checked before the work of
    /// preparing one (it may still decline).
    pub fn can_write_async(&self) -> bool {
        self.inner.can_write_async()
    }

    /// [`Table::write`] for async callers, which must never block their thread: `None` (with
    /// nothing done) when the write would have to wait for room or for a flush, else a future
    /// that resolves when the batch is durable and visible. The batch is queued in the log
    /// before this returns.
    pub fn try_write_async<'a>(&'a self, batch: &'a WriteBatch) -> Result<Option<PendingWrite<'a>>> {
        self.inner.try_write_async(batch)
    }

    /// The newest value of `key`, or `None` if it was never written or was deleted. The value
    /// shares the memtable's or the cached block's memory rather than being copied.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.inner.get(key)
    }

    /// Up to `limit` rows with `start <= key < end` (no upper bound if `end` is None), in key order.
    pub fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.scan(start, end, limit)
    }

    /// Writes the memtable out as a checkpoint now (and waits for it). With `background: false`
    /// this and [`Table::compact`] are the only way checkpoints are made besides the automatic
    /// flush a `write` runs inline when the memtable is full.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush(true)
    }

    /// Merges all checkpoints into one and drops obsolete data now.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact_all()
    }

    pub fn stats(&self) -> TableStats {
        self.inner.stats()
    }
}
