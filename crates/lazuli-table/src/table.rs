//! The table's shared state and its read and write paths. Flushes, compactions and recovery live
//! in their own modules and work on the same [`TableInner`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lazuli_stream::{AppendFuture, Stream, StreamError};
use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard};

use crate::cache::BlockCache;
use crate::checkpoint::{CheckpointCursor, RowsGate};
use crate::limits::{BATCH_BYTES_MAX, BATCH_OPS_MAX, KEY_BYTES_MAX, MEMTABLE_OVERSHOOT_FACTOR, VALUE_BYTES_MAX};
use crate::manifest::Manifest;
use crate::merge::{Merge, Source};
use crate::version::Version;
use crate::{log, Result, TableError, TableOptions, TableStats, WriteBatch};

/// The commit of a batch queued by [`crate::Table::try_write_async`]: resolves once the batch is
/// durable and in the memtable. It holds the table's write gate until then, as `write` does
/// across its sync, so a memtable is frozen only with every batch numbered before it applied.
///
/// Dropped before it resolves, it waits for the append on the dropping thread and applies the
/// batch anyway: a queued record becomes durable whatever its caller does, and a durable batch
/// that only a reopen would make visible (or a flush could skip) must not exist.
pub struct PendingWrite<'a> {
    table: &'a TableInner,
    batch: &'a WriteBatch,
    queued: Option<(u64, AppendFuture<'a>)>,
    gate: Option<RwLockReadGuard<'a, ()>>,
}

impl PendingWrite<'_> {
    fn settle(&mut self, seq: u64, appended: lazuli_stream::Result<Vec<lazuli_stream::RecordLocation>>) -> Result<()> {
        let memtable = match appended {
            Ok(_) => self.table.apply(seq, self.batch),
            Err(e) => {
                self.gate = None;
                return Err(self.table.append_failed(e));
            }
        };
        self.gate = None;
        self.table.after_apply(&memtable);
        Ok(())
    }
}

impl Future for PendingWrite<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let Some((seq, append)) = this.queued.as_mut() else {
            this.gate = None;
            return Poll::Ready(Ok(()));
        };
        let Poll::Ready(appended) = append.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        let seq = *seq;
        this.queued = None;
        Poll::Ready(this.settle(seq, appended))
    }
}

impl Drop for PendingWrite<'_> {
    fn drop(&mut self) {
        if let Some((seq, append)) = self.queued.take() {
            let appended = lazuli_stream::block_on(append);
            if let Err(e) = self.settle(seq, appended) {
                tracing::debug!(table = %self.table.name, error = %e, "abandoned async write failed");
            }
        }
    }
}

/// Which background work failed (see [`TableInner::after_background_work`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackgroundWork {
    Flush,
    Compaction,
}

/// How long a waiting writer or the idle background thread sleeps before looking again; wakeups
/// are signalled, this only bounds the cost of a missed one.
const WAIT_SLICE: Duration = Duration::from_millis(50);

pub(crate) struct TableInner {
    pub name: String,
    pub options: TableOptions,
    pub log: Arc<dyn Stream>,
    pub rows: Arc<dyn Stream>,
    pub meta: Arc<dyn Stream>,
    /// Writers hold it shared from taking a sequence number until their batch is in the memtable;
    /// freezing the memtable holds it exclusively. So every batch numbered before a freeze is in
    /// the frozen memtable and every later one in the new memtable. It is shared, so writers never
    /// wait for each other and their log appends share fsyncs (group commit).
    pub gate: RwLock<()>,
    pub next_seq: AtomicU64,
    pub version: RwLock<Arc<Version>>,
    /// The last durable manifest. Held only to write the next one and install the matching
    /// version, so that manifest and version always change together.
    pub manifest: Mutex<Manifest>,
    /// One flush at a time (each freezes, writes and installs one memtable).
    pub flush_lock: Mutex<()>,
    /// One compaction at a time; it runs beside flushes.
    pub compaction_lock: Mutex<()>,
    pub rows_gate: RowsGate,
    /// Checkpoints written by flushes and by compactions since open (metrics).
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub cache: Arc<BlockCache>,
    /// Set by the first failure that leaves the table's durable state uncertain; every later
    /// write fails with it. Reads go on.
    pub poisoned: Mutex<Option<String>>,
    /// The I/O error of the last flush, when it failed without poisoning anything (a full
    /// disk): writers that need room get it instead of waiting for a flush that cannot
    /// happen yet. Cleared by the next flush that succeeds.
    pub flush_error: Mutex<Option<StreamError>>,
    /// The last compaction failed with a plain I/O error (it is retried; logged once).
    pub compaction_failing: AtomicBool,
    pub signal: Mutex<()>,
    pub changed: Condvar,
    pub shutdown: AtomicBool,
}

impl TableInner {
    pub(crate) fn current(&self) -> Arc<Version> {
        self.version.read().clone()
    }

    pub(crate) fn poison(&self, why: String) {
        tracing::error!(table = %self.name, %why, "table poisoned: refusing further writes");
        let mut p = self.poisoned.lock();
        if p.is_none() {
            *p = Some(why);
        }
        drop(p);
        self.notify();
    }

    /// After a flush or compaction. A plain I/O error (a full disk) means the stream cut the
    /// failed write back and is not poisoned, and nothing was installed: the frozen memtable or
    /// the compaction's inputs are still there, the half-written checkpoint was sealed off (its
    /// extents are reclaimed at the next open), so the work is simply retried later. Any other
    /// failure may leave a stream poisoned or the state unknown: stop writing until a reopen
    /// has cleaned up (the log still holds every batch).
    pub(crate) fn after_background_work(&self, result: &Result<()>, work: BackgroundWork) {
        let what = match work {
            BackgroundWork::Flush => "flush",
            BackgroundWork::Compaction => "compaction",
        };
        match result {
            Ok(()) => {
                let recovered = match work {
                    BackgroundWork::Flush => self.flush_error.lock().take().is_some(),
                    BackgroundWork::Compaction => self.compaction_failing.swap(false, Ordering::AcqRel),
                };
                if recovered {
                    tracing::info!(table = %self.name, "{what} succeeded again");
                }
            }
            Err(TableError::Poisoned(_)) => {}
            Err(TableError::Stream(error @ StreamError::Io { source, .. })) => {
                let first = match work {
                    BackgroundWork::Flush => self.flush_error.lock().replace(error.duplicate()).is_none(),
                    BackgroundWork::Compaction => !self.compaction_failing.swap(true, Ordering::AcqRel),
                };
                // Retried every second while the cause lasts: said once, not every time.
                if first {
                    tracing::warn!(table = %self.name, error = %source, "{what} failed; retrying until it succeeds");
                } else {
                    tracing::debug!(table = %self.name, error = %source, "{what} failed again");
                }
            }
            Err(e) => self.poison(format!("{what} failed: {e}")),
        }
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        match &*self.poisoned.lock() {
            Some(why) => Err(TableError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn notify(&self) {
        let _g = self.signal.lock();
        self.changed.notify_all();
    }

    pub(crate) fn wait(&self) {
        self.pause(WAIT_SLICE);
    }

    /// Sleeps up to `limit`, or until notified.
    pub(crate) fn pause(&self, limit: Duration) {
        let mut g = self.signal.lock();
        self.changed.wait_for(&mut g, limit);
    }

    pub(crate) fn write(&self, batch: &WriteBatch) -> Result<()> {
        if let Some(refused) = crate::refuse_io() {
            // An async thread must not wait for a sync: refused, retried on a blocking thread.
            return Err(refused);
        }
        validate(batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        self.wait_for_room()?;
        let mut record = log::encode(batch);
        let memtable = {
            let _gate = self.gate.read();
            self.check_writable()?;
            let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
            log::set_seq(&mut record, seq);
            if let Err(e) = self.log.append(&[&record]) {
                return Err(self.append_failed(e));
            }
            self.apply(seq, batch)
        };
        self.after_apply(&memtable);
        Ok(())
    }

    /// [`TableInner::write`] for async callers: never blocks the calling thread. Returns
    /// `None`, having done nothing, when the write would have to wait: the memtable is full,
    /// a flush is freezing it, or flushes run inline (tables without background threads).
    /// Otherwise the batch is numbered and queued on the log before this returns, and the
    /// [`PendingWrite`] resolves once it is durable and applied, exactly as `write` returns.
    pub(crate) fn try_write_async<'a>(&'a self, batch: &'a WriteBatch) -> Result<Option<PendingWrite<'a>>> {
        validate(batch)?;
        if !self.can_write_async() {
            return Ok(None);
        }
        // Encoded before the gate, as in `write`: the gate is held as briefly as it can be.
        let record = (!batch.is_empty()).then(|| log::encode(batch));
        let Some(gate) = self.gate.try_read() else {
            return Ok(None);
        };
        self.check_writable()?;
        let queued = record.map(|mut record| {
            let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
            log::set_seq(&mut record, seq);
            (seq, self.log.append_async(&[&record]))
        });
        Ok(Some(PendingWrite {
            table: self,
            batch,
            queued,
            gate: Some(gate),
        }))
    }

    /// What a failed commit-log append means for the table.
    fn append_failed(&self, e: StreamError) -> TableError {
        // A plain I/O error (e.g. a full disk) means the stream cut the partial record
        // off again: the batch is not in the log and later writes may succeed. Any other
        // failure (above all a failed sync, which poisons the stream) leaves the record's
        // durability unknown: refuse writes until a reopen replays the log and settles it.
        if !matches!(e, StreamError::Io { .. }) {
            self.poison(format!("commit-log append failed: {e}"));
        }
        e.into()
    }

    /// Applies a durable batch to the active memtable (under the gate); returns that memtable.
    fn apply(&self, seq: u64, batch: &WriteBatch) -> Arc<crate::memtable::Memtable> {
        let memtable = self.current().active.clone();
        memtable.apply(seq, batch);
        memtable
    }

    /// After a write: a full memtable is handed to the flusher (or flushed inline).
    fn after_apply(&self, memtable: &crate::memtable::Memtable) {
        if memtable.bytes() >= self.options.memtable_bytes_max {
            if self.options.background {
                self.notify();
            } else if let Err(e) = self.flush(false) {
                // The batch itself is durable and applied. The failed flush either poisoned the
                // table (the next write reports it) or failed on a full disk (the next write
                // that fills the memtable tries it again).
                tracing::debug!(table = %self.name, error = %e, "inline flush failed");
            }
        }
    }

    /// Backpressure: a writer waits only when the active memtable is full while the previous one
    /// is still being written out (or when the flusher fell far behind).
    fn wait_for_room(&self) -> Result<()> {
        loop {
            self.check_writable()?;
            if !self.memtable_full() || !self.options.background || self.shutdown.load(Ordering::Acquire) {
                return Ok(());
            }
            if let Some(error) = self.flush_error.lock().as_ref() {
                // The flush that would make room failed (a full disk): answer now, as a
                // failed append would, rather than wait for its retry.
                return Err(TableError::Stream(error.duplicate()));
            }
            self.notify();
            self.wait();
        }
    }

    /// Whether [`TableInner::try_write_async`] would take a batch now (it still declines if
    /// a freeze takes the gate first): only with background flushes and room in the memtable.
    pub(crate) fn can_write_async(&self) -> bool {
        self.options.background && !self.memtable_full()
    }

    fn memtable_full(&self) -> bool {
        let max = self.options.memtable_bytes_max;
        let v = self.current();
        let bytes = v.active.bytes();
        (v.frozen.is_some() && bytes >= max) || bytes >= max.saturating_mul(MEMTABLE_OVERSHOOT_FACTOR)
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<bytes::Bytes>> {
        let v = self.current();
        if let Some(found) = v.active.get(key) {
            return Ok(found);
        }
        if let Some(frozen) = &v.frozen {
            if let Some(found) = frozen.memtable.get(key) {
                return Ok(found);
            }
        }
        for c in &v.checkpoints {
            if key < c.first_key.as_slice() || key > c.last_key() {
                continue;
            }
            if let Some(found) = c.get(key, &self.cache)? {
                return Ok(found);
            }
        }
        Ok(None)
    }

    pub(crate) fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if limit == 0 || end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let v = self.current();
        let active = v.active.range_for_scan(start, end, limit);
        // Each tombstone of the active memtable may hide one live row of the frozen one, so the
        // frozen memtable must supply that many live rows more.
        let active_tombstones = active.iter().filter(|(_, value)| value.is_none()).count();
        let mut sources = vec![Source::Rows(active.into_iter())];
        if let Some(frozen) = &v.frozen {
            let rows = frozen
                .memtable
                .range_for_scan(start, end, limit.saturating_add(active_tombstones));
            sources.push(Source::Rows(rows.into_iter()));
        }
        for c in &v.checkpoints {
            let before = c.last_key() < start;
            let after = end.is_some_and(|end| c.first_key.as_slice() >= end);
            if !before && !after {
                sources.push(Source::Checkpoint(CheckpointCursor::new(
                    c.clone(),
                    Some(self.cache.clone()),
                    start,
                )?));
            }
        }
        let mut merge = Merge::new(sources, end.map(<[u8]>::to_vec))?;
        let mut out = Vec::new();
        while out.len() < limit {
            match merge.next_row()? {
                Some((key, Some(value))) => out.push((key, value)),
                Some((_, None)) => {}
                None => break,
            }
        }
        Ok(out)
    }

    pub(crate) fn stats(&self) -> TableStats {
        let v = self.current();
        let cache = self.cache.stats();
        TableStats {
            next_seq: self.next_seq.load(Ordering::Relaxed),
            memtable_rows: v.active.len(),
            memtable_bytes: v.active.bytes(),
            frozen_memtable_rows: v.frozen.as_ref().map_or(0, |f| f.memtable.len()),
            checkpoints: v.checkpoints.len(),
            checkpoint_rows: v.checkpoints.iter().map(|c| c.summary.entries).sum(),
            checkpoint_bytes: v.checkpoints.iter().map(|c| c.size_bytes()).sum(),
            checkpoint_blocks: v.checkpoints.iter().map(|c| c.block_count()).sum(),
            index_and_bloom_bytes: v.checkpoints.iter().map(|c| c.memory_bytes()).sum(),
            block_cache_bytes: cache.bytes,
            block_cache_blocks: cache.blocks,
            log_extents: self.log.extents().len(),
            rows_extents: self.rows.extents().len(),
            meta_extents: self.meta.extents().len(),
            flushes: self.flushes.load(Ordering::Relaxed),
            compactions: self.compactions.load(Ordering::Relaxed),
            compaction_yields: self.rows_gate.yields.load(Ordering::Relaxed),
            poisoned: self.poisoned.lock().clone(),
        }
    }
}

fn validate(batch: &WriteBatch) -> Result<()> {
    if batch.ops.len() > BATCH_OPS_MAX {
        return Err(TableError::BatchTooLarge(format!(
            "{} operations (at most {BATCH_OPS_MAX})",
            batch.ops.len()
        )));
    }
    let mut bytes = 0usize;
    for (key, value) in &batch.ops {
        if key.len() > KEY_BYTES_MAX {
            return Err(TableError::KeyTooLarge(key.len()));
        }
        if let Some(value) = value {
            if value.len() > VALUE_BYTES_MAX {
                return Err(TableError::ValueTooLarge(value.len()));
            }
        }
        bytes += 9 + key.len() + value.as_ref().map_or(0, Vec::len);
    }
    if bytes > BATCH_BYTES_MAX {
        return Err(TableError::BatchTooLarge(format!(
            "{bytes} bytes (at most {BATCH_BYTES_MAX})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lazuli_stream::{MemStore, StreamStore};

    use crate::{TableOptions, WriteBatch};

    #[test]
    fn scan_sees_frozen_rows_behind_active_tombstones() {
        let store: Arc<dyn StreamStore> = MemStore::new();
        let options = TableOptions {
            background: false,
            ..TableOptions::default()
        };
        let inner = crate::recovery::open(store.as_ref(), "t", options).unwrap();
        let mut batch = WriteBatch::new();
        batch.put("a", "1").put("b", "2").put("c", "3");
        inner.write(&batch).unwrap();
        inner.freeze().unwrap();
        let mut batch = WriteBatch::new();
        batch.delete("a").delete("b");
        inner.write(&batch).unwrap();
        assert!(inner.current().frozen.is_some());
        assert_eq!(inner.scan(b"", None, 1).unwrap(), vec![(b"c".to_vec(), b"3".to_vec())]);
        assert_eq!(inner.get(b"a").unwrap(), None);
        inner.flush(true).unwrap();
        assert_eq!(inner.scan(b"", None, 1).unwrap(), vec![(b"c".to_vec(), b"3".to_vec())]);
    }
}
