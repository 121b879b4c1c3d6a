//! Block blobs: Put Blob, Put Block, Put Block List, Get Block List, reads, properties,
//! metadata, delete and listing.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use lazuli_table::WriteBatch;
use lazuli_types::conditions::{ConditionFailure, Conditions};
use lazuli_types::{AzureError, ErrorCode};

use crate::container::container_not_found;
use crate::rows::{self, BlobRow, BlockRow, CommittedBlock, HttpHeaders, Segment};
use crate::{keys, now_nanos, time_from_nanos, Partition, PartitionError};

/// The service's limit on committed blocks per blob.
pub const COMMITTED_BLOCKS_MAX: usize = 50_000;
/// The service's limit on uncommitted blocks per blob.
pub const UNCOMMITTED_BLOCKS_MAX: usize = 100_000;
/// Block ids decode to at most 64 bytes.
pub const BLOCK_ID_BYTES_MAX: usize = 64;

/// What a change to a blob's row makes of it: the new row (none to delete it), the other
/// rows the change writes, and the segment references it drops.
pub(crate) type ChangedRow = Result<(Option<BlobRow>, WriteBatch, Vec<Segment>), AzureError>;

/// The default of `PartitionOptions::staged_rows_per_batch`: a blob's uncommitted block
/// rows are read this many at a time, and a write that discards them deletes at most this
/// many in its own batch (the rest after it: see [`Partition::discard_uncommitted`]). Their
/// keys hold the blob's name, up to ~3 KiB of UTF-8: 100,000 of them are ~300 MiB, which
/// neither memory nor one batch should hold.
pub const STAGED_ROWS_PER_BATCH: usize = 4096;
/// The bytes of keys a page of uncommitted block rows holds at most (see
/// `Partition::staged_rows_per_batch`).
const STAGED_PAGE_BYTES: usize = 1 << 20;
/// A block row beyond its blob's key prefix: the block id (base64 of up to 64 bytes) and
/// the row's value, about.
const BLOCK_ROW_BYTES_BEYOND_PREFIX: usize = 160;

// A batch that discards a page of rows also holds the blob's row and a few index rows.
const _: () = assert!(
    STAGED_ROWS_PER_BATCH * lazuli_table::KEY_BYTES_MAX + 2 * lazuli_table::VALUE_BYTES_MAX
        < lazuli_table::BATCH_BYTES_MAX
);

thread_local! {
    /// Set by [`Partition::discard_uncommitted`] when a blob has more uncommitted blocks than
    /// one batch deletes: the blob's block prefix, whose rows the write sweeps once its batch
    /// is durable, still under its locks ([`Partition::sweep_staged`]). A write's change runs
    /// on the thread that prepares it, which clears this before and takes it after
    /// ([`begin_staged_sweep`], [`take_staged_sweep`]).
    static STAGED_SWEEP: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Before a write's change runs: no sweep is pending from a change that failed.
pub(crate) fn begin_staged_sweep() {
    STAGED_SWEEP.with(|sweep| sweep.borrow_mut().take());
}

/// After a write's change ran: the blob prefix to sweep once the write is durable, if any.
/// Inside `lazuli_table::memory_only` a sweep refuses the write (it writes and waits), so
/// that the write is made again on a blocking thread.
pub(crate) fn take_staged_sweep() -> Result<Option<Vec<u8>>, AzureError> {
    let sweep = STAGED_SWEEP.with(|sweep| sweep.borrow_mut().take());
    if sweep.is_some() {
        if let Some(error) = lazuli_table::refuse_io() {
            return Err(PartitionError::from(error).into());
        }
    }
    Ok(sweep)
}

/// Rows as the table stores them: (key, value).
pub(crate) type StoredRows = Vec<(Vec<u8>, Vec<u8>)>;

/// Deletes staged rows (uncommitted blocks, staged appends: `BlockRow`s) into `batch`;
/// returns the references they held, one per distinct segment per row.
pub(crate) fn delete_staged_rows(
    batch: &mut WriteBatch,
    rows: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Result<Vec<Segment>, AzureError> {
    let mut released = Vec::new();
    for (key, value) in rows {
        let block = rows::decode::<BlockRow>(&value)?.0;
        batch.delete(key);
        let unique: HashSet<Segment> = block.segments.into_iter().collect();
        released.extend(unique);
    }
    Ok(released)
}

/// A blob write decided under its locks and not yet committed: the locks stay held until the
/// batch is durable and applied ([`Partition::commit_prepared`]), or until it is dropped
/// uncommitted, which changes nothing.
pub struct PreparedWrite<'p> {
    pub(crate) _locks: WriteLocks<'p>,
    pub(crate) batch: WriteBatch,
    pub(crate) new_row: Option<BlobRow>,
    /// Segment references the new rows take once committed: one per distinct segment per row.
    pub(crate) referenced: Vec<Vec<Segment>>,
    /// Segment references dropped once committed.
    pub(crate) released: Vec<Segment>,
    /// References dropped once committed by rows that go (page map chunks): one per distinct
    /// segment per row.
    pub(crate) released_rows: Vec<Vec<Segment>>,
    /// The references the request's upload holds (among `released`: the new row takes them
    /// over on commit); dropped if the commit fails, as the blocking path drops them.
    pub(crate) upload: Vec<Segment>,
    /// Uncommitted block rows to delete once committed (see [`take_staged_sweep`]).
    pub(crate) sweep: Option<Vec<u8>>,
}

/// The locks of one blob write: its container (shared), an HNS filesystem's namespace, the
/// blob's stripe.
pub(crate) struct WriteLocks<'p> {
    pub _container: parking_lot::RwLockReadGuard<'p, ()>,
    pub _namespace: Option<crate::hns::NamespaceGuard<'p>>,
    pub _blob: parking_lot::MutexGuard<'p, ()>,
}

/// A request body as the front-end received it: inline when small, else segments already
/// durable in the blob-data stream (each holding one reference owned by the upload).
#[derive(Clone, Debug, Default)]
pub struct UploadedBody {
    pub inline: Option<Vec<u8>>,
    pub segments: Vec<Segment>,
    pub len: u64,
    /// The body's MD5 when the front-end computed it (Put Blob, or a Content-MD5 to check);
    /// zeros otherwise.
    pub md5: [u8; 16],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockListKind {
    Committed,
    Uncommitted,
    Latest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockListItem {
    pub kind: BlockListKind,
    pub id: String,
}

#[derive(Clone, Debug, Default)]
pub struct ListBlobsOptions<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub marker: Option<&'a str>,
    pub max_results: usize,
    /// `include=snapshots`, `include=versions`, `include=deleted` (see `listing.rs`).
    pub include_snapshots: bool,
    pub include_versions: bool,
    pub include_deleted: bool,
}

/// One entry of a blob listing: `Ok` a blob (its name and row), `Err` a prefix (BlobPrefix).
pub type ListItem = Result<(String, BlobRow), String>;

/// Takes a listing's items a chunk at a time.
pub type ItemSink<'a> = &'a mut dyn FnMut(Vec<ListItem>);

#[derive(Default)]
pub struct ListBlobsPage {
    /// Blobs and prefixes in name order.
    pub items: Vec<ListItem>,
    pub next_marker: Option<String>,
}

/// Get Block List's answer: the blob's row if committed, and both block lists.
pub struct BlockLists {
    pub row: Option<BlobRow>,
    pub committed: Vec<(String, u64)>,
    pub uncommitted: Vec<(String, u64)>,
}

pub fn blob_not_found() -> AzureError {
    AzureError::new(ErrorCode::BlobNotFound, "The specified blob does not exist.")
}

/// Block operations apply to block blobs only; the service refuses them on page and append
/// blobs rather than silently changing the blob's type.
fn require_block_blob(row: &BlobRow) -> Result<(), AzureError> {
    if row.blob_type == "BlockBlob" {
        Ok(())
    } else {
        Err(AzureError::new(
            ErrorCode::InvalidBlobType,
            "The blob type is invalid for this operation.",
        ))
    }
}

fn invalid_block_list() -> AzureError {
    AzureError::new(ErrorCode::InvalidBlockList, "The specified block list is invalid.")
}

impl Partition {
    /// The blob's current row, a page blob's pages loaded (see `page.rs`).
    pub(crate) fn read_blob_row(
        &self,
        account: &str,
        container: &str,
        blob: &str,
    ) -> Result<Option<BlobRow>, AzureError> {
        self.read_blob_row_within(account, container, blob, None, None)
    }

    /// [`Partition::read_blob_row`] loading only the chunks of a page blob's map within the
    /// chunk-aligned `pages_within` (all of them when `None`): for a write that changes only
    /// those. With `blocks_for`, a read of those blob bytes (none: Get Blob Properties),
    /// only the blocks of a block blob within them are decoded (`BlobRow::blocks_omitted`):
    /// such a row is for answering, never for writing back.
    pub(crate) fn read_blob_row_within(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        pages_within: Option<&std::ops::Range<u64>>,
        blocks_for: Option<&std::ops::Range<u64>>,
    ) -> Result<Option<BlobRow>, AzureError> {
        // HNS accounts: the RFC's resolver finds the path row.
        if self.is_hns(account) {
            return self.hns_blob_row(account, container, blob, pages_within, blocks_for);
        }
        if !self.blobs_reachable(account, container)? {
            return Ok(None);
        }
        let key = keys::blob(account, container, blob);
        self.read_with_page_map(account, container, blob, || {
            let Some(bytes) = self.table.get(&key).map_err(PartitionError::from)? else {
                return Ok(Some(None));
            };
            let mut row = match blocks_for {
                Some(range) => rows::decode_blob_within(&bytes, range)?,
                None => rows::decode_blob_shared(&bytes)?,
            };
            if row.page_map == 0 {
                return Ok(Some(Some(row)));
            }
            self.load_pages(account, container, blob, &mut row, pages_within)?;
            let again = self.table.get(&key).map_err(PartitionError::from)?;
            Ok((again.as_deref() == Some(&bytes[..])).then_some(Some(row)))
        })
    }

    fn uncommitted_blocks(
        &self,
        account: &str,
        container: &str,
        blob: &str,
    ) -> Result<Vec<(String, BlockRow)>, AzureError> {
        let prefix = keys::blocks_prefix(account, container, blob);
        let mut blocks = Vec::new();
        self.for_each_staged_page(&prefix, |page| {
            for (key, value) in page {
                let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                blocks.push((id, rows::decode::<BlockRow>(&value)?.0));
            }
            Ok(())
        })?;
        Ok(blocks)
    }

    /// Rows of one blob's uncommitted blocks (keys starting with `prefix`) read or deleted at
    /// a time: `staged_rows_per_batch`, fewer for long names, so that a page of their keys
    /// stays near [`STAGED_PAGE_BYTES`] (a blob name of 1,024 three-byte characters: ~300 rows).
    fn staged_rows_per_batch(&self, prefix: &[u8]) -> usize {
        let row_bytes = prefix.len() + BLOCK_ROW_BYTES_BEYOND_PREFIX;
        (STAGED_PAGE_BYTES / row_bytes).clamp(1, self.options.staged_rows_per_batch.max(1))
    }

    /// Calls `page` with the rows under `prefix` in key order, `staged_rows_per_batch` at a
    /// time, so that no more than a page of their keys is held at once.
    fn for_each_staged_page(
        &self,
        prefix: &[u8],
        mut page: impl FnMut(StoredRows) -> Result<(), AzureError>,
    ) -> Result<(), AzureError> {
        let end = keys::prefix_end(prefix);
        let page_rows = self.staged_rows_per_batch(prefix);
        let mut start = prefix.to_vec();
        loop {
            let rows = self
                .table
                .scan(&start, end.as_deref(), page_rows)
                .map_err(PartitionError::from)?;
            let more = rows.len() == page_rows;
            if let Some((last, _)) = rows.last() {
                start.clone_from(last);
                start.push(0);
            }
            if !rows.is_empty() {
                page(rows)?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Returns the blob's row after checking read conditions. `Ok(None)` means 304.
    pub fn get_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
    ) -> Result<Option<BlobRow>, AzureError> {
        self.get_blob_within(account, container, blob, conditions, None)
    }

    /// [`Partition::get_blob`] for a read of bytes `pages_for` only (`Some(0..0)`: properties
    /// alone): a page blob's map is loaded for the chunks that hold them, not whole, and the
    /// row's `pages` hold no others.
    pub fn get_blob_within(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
        pages_for: Option<std::ops::Range<u64>>,
    ) -> Result<Option<BlobRow>, AzureError> {
        // Of the blob's pages or blocks, only those holding bytes of the range are read (none
        // for an empty range: the properties alone).
        let window = pages_for.clone().map(crate::page::read_window);
        let Some(row) = self.read_blob_row_within(account, container, blob, window.as_ref(), pages_for.as_ref())?
        else {
            if !self.container_exists(account, container)? {
                return Err(container_not_found());
            }
            return Err(blob_not_found());
        };
        conditions.check_tags(&row.tags)?;
        crate::lease::check_access(
            row.lease.as_ref(),
            conditions.lease_id.as_deref(),
            false,
            crate::lease::LeaseScope::Blob,
        )?;
        match conditions.check_read(&row.etag, time_from_nanos(row.last_modified)) {
            Ok(()) => Ok(Some(row)),
            Err(ConditionFailure::NotModified) => Ok(None),
            Err(ConditionFailure::Failed(error)) => Err(error),
        }
    }

    /// Runs a read-modify-write of one blob under its locks: `change` receives the current
    /// row (if any) and returns the new row, extra batch operations, and the segment
    /// references that the write consumes (an upload's, or deleted block rows'). Once the
    /// write is durable the new row takes its references, then the old row's and the
    /// consumed ones are dropped.
    pub(crate) fn modify_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        change: impl FnOnce(Option<&BlobRow>) -> ChangedRow,
    ) -> Result<Option<BlobRow>, AzureError> {
        self.modify_blob_within(account, container, blob, None, change)
    }

    /// [`Partition::modify_blob`] of a page write that changes only the pages within the
    /// chunk-aligned `pages_within`: `change` sees only those (see `page.rs`).
    pub(crate) fn modify_blob_within(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        pages_within: Option<std::ops::Range<u64>>,
        change: impl FnOnce(Option<&BlobRow>) -> ChangedRow,
    ) -> Result<Option<BlobRow>, AzureError> {
        let prepared = self.prepare_blob_write_within(account, container, blob, pages_within, change)?;
        self.table.write(&prepared.batch).map_err(PartitionError::from)?;
        Ok(self.finish_write(prepared))
    }

    /// Commits a write prepared on an async thread (see [`Partition::try_prepare_put_blob`])
    /// without blocking it. `None` when the table would make it wait (the memtable full, a
    /// flush freezing it): nothing was written, and the locks are released with `prepared`,
    /// so the call can be made again on a blocking thread. Run it to its end (the front-end
    /// gives it its own task): dropped midway, the batch is still applied (see
    /// `lazuli_table::PendingWrite`), but the segment references it would drop stay counted
    /// until the next start: space kept, never data lost.
    pub async fn commit_prepared(&self, prepared: PreparedWrite<'_>) -> Option<Result<Option<BlobRow>, AzureError>> {
        debug_assert!(
            prepared.sweep.is_none(),
            "a write with a sweep is prepared only where it may block"
        );
        let pending = match self.table.try_write_async(&prepared.batch) {
            Ok(Some(pending)) => pending,
            // Declined, nothing written: the upload keeps its references for the retry.
            Ok(None) => return None,
            Err(error) => {
                self.release_segments(&prepared.upload);
                return Some(Err(PartitionError::from(error).into()));
            }
        };
        if let Err(error) = pending.await {
            self.release_segments(&prepared.upload);
            return Some(Err(PartitionError::from(error).into()));
        }
        Some(Ok(self.finish_write(prepared)))
    }

    /// After a prepared write is durable: the references it takes and drops; its locks go.
    fn finish_write(&self, prepared: PreparedWrite<'_>) -> Option<BlobRow> {
        for row in &prepared.referenced {
            self.reference_segments(row);
        }
        self.release_segments(&prepared.released);
        for row in &prepared.released_rows {
            self.release_segments(row);
        }
        // After the new row took its references: the swept rows may share its segments.
        if let Some(prefix) = &prepared.sweep {
            self.sweep_staged(prefix);
        }
        prepared.new_row
    }

    /// The read-modify-write of one blob up to its commit: locks taken, current row read,
    /// `change` applied, version/lease/tag-index rules added to the batch. Inside
    /// `lazuli_table::memory_only` (an async thread) it refuses rather than wait for a lock
    /// or the disk.
    pub(crate) fn prepare_blob_write(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        change: impl FnOnce(Option<&BlobRow>) -> ChangedRow,
    ) -> Result<PreparedWrite<'_>, AzureError> {
        self.prepare_blob_write_within(account, container, blob, None, change)
    }

    /// [`Partition::prepare_blob_write`], the current row's pages loaded within
    /// `pages_within` only (see [`Partition::read_blob_row_within`]).
    pub(crate) fn prepare_blob_write_within(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        pages_within: Option<std::ops::Range<u64>>,
        change: impl FnOnce(Option<&BlobRow>) -> ChangedRow,
    ) -> Result<PreparedWrite<'_>, AzureError> {
        if self.is_hns(account) {
            return self.prepare_hns_blob_write(account, container, blob, pages_within, change);
        }
        let container_guard = self.locks.acquire_container_shared(account, container)?;
        if !self.container_exists(account, container)? {
            return Err(container_not_found());
        }
        let blob_guard = self.locks.acquire_blob(account, container, blob)?;
        let current = self.read_blob_row_within(account, container, blob, pages_within.as_ref(), None)?;
        begin_staged_sweep();
        let (mut new_row, mut batch, mut released) = change(current.as_ref())?;
        let sweep = take_staged_sweep()?;
        // Leases and versions (see `version.rs`): may add a previous-version row to the batch.
        let kept_version =
            self.before_blob_write(account, container, blob, current.as_ref(), new_row.as_mut(), &mut batch)?;
        if kept_version.is_some() && pages_within.is_some() {
            return Err(AzureError::internal(
                "a partly loaded page map would be kept as a version",
            ));
        }
        // The tag index changes in the same atomic batch as the row (see `tags.rs`).
        crate::tags::index_changes(
            &mut batch,
            account,
            container,
            blob,
            current.as_ref().map_or(&[][..], |row| &row.tags),
            new_row.as_ref().map_or(&[][..], |row| &row.tags),
        );
        let mut referenced: Vec<Vec<Segment>> = kept_version
            .iter()
            .map(|row| row.segments().copied().collect())
            .collect();
        let mut released_rows = Vec::new();
        self.store_page_map(
            account,
            container,
            blob,
            current.as_ref(),
            pages_within.as_ref(),
            new_row.as_mut(),
            &mut batch,
            &mut referenced,
            &mut released_rows,
        )?;
        let key = keys::blob(account, container, blob);
        match &mut new_row {
            Some(row) => {
                batch.put(key, rows::encode_blob(row));
                referenced.push(row.stored_segments().collect());
                // The caller's row is as a read through the partition gives it.
                if row.page_map != 0 {
                    row.loaded_page_map = std::mem::take(&mut row.page_map);
                }
            }
            None => {
                batch.delete(key);
            }
        };
        if let Some(old) = &current {
            released.extend(old.stored_segments());
        }
        Ok(PreparedWrite {
            _locks: WriteLocks {
                _container: container_guard,
                _namespace: None,
                _blob: blob_guard,
            },
            batch,
            new_row,
            referenced,
            released,
            released_rows,
            upload: Vec::new(),
            sweep,
        })
    }

    /// How many uncommitted blocks a blob has, at least: the hint when one is kept, and an
    /// exact count (which becomes the hint) when there is none or it has reached the limit,
    /// so that no Put Block is refused on a hint.
    fn uncommitted_block_count(&self, prefix: &[u8]) -> Result<usize, AzureError> {
        if let Some(count) = self.staging.block_count(prefix) {
            if count < UNCOMMITTED_BLOCKS_MAX {
                return Ok(count);
            }
        }
        let mut count = 0;
        self.for_each_staged_page(prefix, |page| {
            count += page.len();
            Ok(())
        })?;
        self.staging.set_block_count(prefix, count);
        Ok(count)
    }

    /// Deletes every uncommitted block row of a blob: the first `staged_rows_per_batch` in
    /// `batch`, whose references are returned, and any more after `batch` is durable, under
    /// the same locks (a sweep, see [`take_staged_sweep`]): a blob's uncommitted blocks may
    /// be more than one batch can hold. A crash between the two leaves the rest staged, as
    /// if uploaded after the write: nothing committed is lost, and the blob's next commit or
    /// delete discards them.
    pub(crate) fn discard_uncommitted(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Segment>, AzureError> {
        let prefix = keys::blocks_prefix(account, container, blob);
        // The hint may only count too many; once these rows go it would, for no use.
        self.staging.forget(&prefix);
        let end = keys::prefix_end(&prefix);
        let page_rows = self.staged_rows_per_batch(&prefix);
        let rows = self
            .table
            .scan(&prefix, end.as_deref(), page_rows + 1)
            .map_err(PartitionError::from)?;
        if rows.len() > page_rows {
            STAGED_SWEEP.with(|sweep| *sweep.borrow_mut() = Some(prefix));
        }
        delete_staged_rows(batch, rows.into_iter().take(page_rows))
    }

    /// Deletes the uncommitted block rows left under `prefix` after a write that discarded
    /// them committed (see [`Partition::discard_uncommitted`]), a page per batch, each
    /// page's references dropped once its batch is durable. Run under the blob's lock. The
    /// write is already durable and answered for, so a failure here is logged, not
    /// returned: the rows it leaves are discarded by the blob's next commit.
    pub(crate) fn sweep_staged(&self, prefix: &[u8]) {
        let swept = self.for_each_staged_page(prefix, |rows| {
            let mut batch = WriteBatch::new();
            let released = delete_staged_rows(&mut batch, rows)?;
            self.table.write(&batch).map_err(PartitionError::from)?;
            self.release_segments(&released);
            Ok(())
        });
        self.staging.forget(prefix);
        if let Err(error) = swept {
            tracing::error!(%error, "uncommitted blocks left after a write that discarded them");
        }
    }

    pub(crate) fn check_write_conditions(current: Option<&BlobRow>, conditions: &Conditions) -> Result<(), AzureError> {
        crate::lease::check_access(
            current.and_then(|row| row.lease.as_ref()),
            conditions.lease_id.as_deref(),
            true,
            crate::lease::LeaseScope::Blob,
        )?;
        conditions.check_tags(current.map_or(&[][..], |row| &row.tags))?;
        conditions.check_write(
            current.map(|row| (row.etag.as_str(), time_from_nanos(row.last_modified))),
            ErrorCode::BlobAlreadyExists,
        )
    }

    /// Put Blob (block blob, single shot). On any error the body's segments are released.
    #[allow(clippy::too_many_arguments)]
    pub fn put_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        body: UploadedBody,
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        let options = crate::tags::NewBlobOptions::default();
        self.put_blob_with(account, container, blob, body, headers, metadata, conditions, &options)
    }

    /// Put Blob with the creation-time properties of [`crate::NewBlobOptions`] (tags, tier).
    #[allow(clippy::too_many_arguments)]
    pub fn put_blob_with(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        body: UploadedBody,
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        conditions: &Conditions,
        options: &crate::tags::NewBlobOptions,
    ) -> Result<BlobRow, AzureError> {
        let body_segments = body.segments.clone();
        let result = self.modify_blob(
            account,
            container,
            blob,
            self.put_blob_change(account, container, blob, body, headers, metadata, conditions, options),
        );
        match result {
            Ok(row) => row.ok_or_else(|| AzureError::internal("put produced no row")),
            Err(error) => {
                self.release_segments(&body_segments);
                Err(error)
            }
        }
    }

    /// Put Blob prepared on an async thread, inside `lazuli_table::memory_only`: `None` when
    /// it would have to wait for a lock or the disk (nothing was done and the upload still
    /// holds its segment references; call [`Partition::put_blob_with`] on a blocking thread),
    /// else the prepared write for [`Partition::commit_prepared`] or the request's error (its
    /// segment references dropped, as `put_blob_with` drops them on an error).
    #[allow(clippy::too_many_arguments)]
    pub fn try_prepare_put_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        body: &UploadedBody,
        headers: &HttpHeaders,
        metadata: &[(String, String)],
        conditions: &Conditions,
        options: &crate::tags::NewBlobOptions,
    ) -> Option<Result<PreparedWrite<'_>, AzureError>> {
        let prepared = self.try_prepare(|| {
            let change = self.put_blob_change(
                account,
                container,
                blob,
                body.clone(),
                headers.clone(),
                metadata.to_vec(),
                conditions,
                options,
            );
            self.prepare_blob_write(account, container, blob, change)
        })?;
        Some(match prepared {
            Ok(mut prepared) => {
                prepared.upload = body.segments.clone();
                Ok(prepared)
            }
            Err(error) => {
                self.release_segments(&body.segments);
                Err(error)
            }
        })
    }

    /// The change Put Blob makes to a blob's row.
    #[allow(clippy::too_many_arguments)]
    fn put_blob_change<'a>(
        &'a self,
        account: &'a str,
        container: &'a str,
        blob: &'a str,
        body: UploadedBody,
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        conditions: &'a Conditions,
        options: &'a crate::tags::NewBlobOptions,
    ) -> impl FnOnce(Option<&BlobRow>) -> ChangedRow + 'a {
        let body_segments = body.segments.clone();
        move |current| {
            Self::check_write_conditions(current, conditions)?;
            let now = now_nanos();
            let blocks = if body.segments.is_empty() {
                Vec::new()
            } else {
                vec![CommittedBlock {
                    id: String::new(),
                    size: body.len,
                    segments: body.segments,
                }]
            };
            let row = BlobRow {
                blob_type: "BlockBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: current.map_or(now, |row| row.created),
                content_length: body.len,
                headers,
                metadata,
                inline: if blocks.is_empty() {
                    Some(Bytes::from(body.inline.unwrap_or_default()))
                } else {
                    None
                },
                blocks,
                tags: options.tags.clone().unwrap_or_default(),
                tier: crate::tier::initial(options.tier.as_deref(), now),
                copy: options.copy.clone(),
                ..Default::default()
            };
            let mut batch = WriteBatch::new();
            let mut consumed = self.discard_uncommitted(account, container, blob, &mut batch)?;
            consumed.extend(body_segments.iter().copied());
            Ok((Some(row), batch, consumed))
        }
    }

    /// Put Block: stores an uncommitted block (replacing one with the same id).
    pub fn put_block(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        block_id: &str,
        body: UploadedBody,
    ) -> Result<(), AzureError> {
        let body_segments = body.segments.clone();
        let result = (|| {
            let _container_guard = self.locks.container_shared(account, container);
            if !self.container_exists(account, container)? {
                return Err(container_not_found());
            }
            // The lock every writer of this blob takes (on an HNS account, of its normalized path).
            let _blob_guard = self.locks.blob(account, container, &self.blob_lock_name(account, blob));
            // Only the type is wanted: not the pages or blocks of a large blob being replaced.
            let nothing = 0..0;
            if let Some(row) = self.read_blob_row_within(account, container, blob, Some(&nothing), Some(&nothing))? {
                require_block_blob(&row)?;
            }
            // The blob's other blocks are not read: one per Put Block made a large upload
            // quadratic (10,000 blocks: 836 -> 118 Put Blocks/s). Their ids' length is the
            // first one's, a replaced block is a point read, and the count is a hint.
            let prefix = keys::blocks_prefix(account, container, blob);
            let end = keys::prefix_end(&prefix);
            let first = self
                .table
                .scan(&prefix, end.as_deref(), 1)
                .map_err(PartitionError::from)?;
            if first
                .first()
                .is_some_and(|(key, _)| key.len() - prefix.len() != block_id.len())
            {
                return Err(AzureError::new(
                    ErrorCode::InvalidBlobOrBlock,
                    "The specified blob or block content is invalid.",
                ));
            }
            let key = keys::block(account, container, blob, block_id);
            let replaced = match self.table.get(&key).map_err(PartitionError::from)? {
                Some(value) => Some(rows::decode::<BlockRow>(&value)?.0.segments),
                None => None,
            };
            if replaced.is_none() && self.uncommitted_block_count(&prefix)? >= UNCOMMITTED_BLOCKS_MAX {
                return Err(AzureError::new(
                    ErrorCode::BlockCountExceedsLimit,
                    "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.",
                ));
            }
            let segments = if let Some(inline) = &body.inline {
                // Blocks always live in the data stream so that committing never copies bytes.
                if inline.is_empty() {
                    Vec::new()
                } else {
                    vec![self.append_segment(inline)?]
                }
            } else {
                body.segments.clone()
            };
            let row = BlockRow {
                size: body.len,
                segments: segments.clone(),
                created: now_nanos(),
            };
            let mut batch = WriteBatch::new();
            batch.put(key, rows::encode(&row, None));
            let written = self.table.write(&batch).map_err(PartitionError::from);
            match (&written, &replaced) {
                (Ok(()), None) => self.staging.block_added(&prefix),
                (Ok(()), Some(_)) => {}
                // Whether the row landed is not known: the next Put Block counts again.
                (Err(_), _) => self.staging.forget(&prefix),
            }
            if written.is_ok() {
                self.reference_segments(&row.segments);
            }
            if body.inline.is_some() {
                // The segment appended here for an inline body: its reference is this call's.
                self.release_segments(&segments);
            }
            written?;
            if let Some(old) = replaced {
                self.release_segments(&old);
            }
            Ok(())
        })();
        // The upload's own references end here, whatever happened.
        self.release_segments(&body_segments);
        result
    }

    /// Put Block List: commits the listed blocks in order as the blob's content and discards
    /// every other uncommitted block.
    #[allow(clippy::too_many_arguments)]
    pub fn put_block_list(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        list: &[BlockListItem],
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        let options = crate::tags::NewBlobOptions::default();
        self.put_block_list_with(account, container, blob, list, headers, metadata, conditions, &options)
    }

    /// Put Block List with the creation-time properties of [`crate::NewBlobOptions`].
    #[allow(clippy::too_many_arguments)]
    pub fn put_block_list_with(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        list: &[BlockListItem],
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        conditions: &Conditions,
        options: &crate::tags::NewBlobOptions,
    ) -> Result<BlobRow, AzureError> {
        if list.len() > COMMITTED_BLOCKS_MAX {
            return Err(AzureError::new(
                ErrorCode::BlockListTooLong,
                "The block list may not contain more than 50,000 blocks.",
            ));
        }
        let row = self.modify_blob(account, container, blob, |current| {
            Self::check_write_conditions(current, conditions)?;
            if let Some(row) = current {
                require_block_blob(row)?;
            }
            let uncommitted: HashMap<String, BlockRow> =
                self.uncommitted_blocks(account, container, blob)?.into_iter().collect();
            let committed: HashMap<&str, &CommittedBlock> = current
                .map(|row| {
                    row.blocks
                        .iter()
                        .filter(|b| !b.id.is_empty())
                        .map(|b| (b.id.as_str(), b))
                        .collect()
                })
                .unwrap_or_default();
            let mut blocks = Vec::with_capacity(list.len());
            for item in list {
                let from_uncommitted = || {
                    uncommitted.get(&item.id).map(|block| CommittedBlock {
                        id: item.id.clone(),
                        size: block.size,
                        segments: block.segments.clone(),
                    })
                };
                let from_committed = || committed.get(item.id.as_str()).map(|block| (*block).clone());
                let block = match item.kind {
                    BlockListKind::Uncommitted => from_uncommitted(),
                    BlockListKind::Committed => from_committed(),
                    BlockListKind::Latest => from_uncommitted().or_else(from_committed),
                };
                blocks.push(block.ok_or_else(invalid_block_list)?);
            }
            let now = now_nanos();
            let content_length = blocks.iter().map(|b| b.size).sum();
            let row = BlobRow {
                blob_type: "BlockBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: current.map_or(now, |row| row.created),
                content_length,
                headers,
                metadata,
                inline: if blocks.is_empty() { Some(Bytes::new()) } else { None },
                blocks,
                tags: options.tags.clone().unwrap_or_default(),
                tier: crate::tier::initial(options.tier.as_deref(), now),
                copy: options.copy.clone(),
                ..Default::default()
            };
            let mut batch = WriteBatch::new();
            let consumed = self.discard_uncommitted(account, container, blob, &mut batch)?;
            Ok((Some(row), batch, consumed))
        })?;
        row.ok_or_else(|| AzureError::internal("commit produced no row"))
    }

    /// Get Block List: the committed and uncommitted blocks as (id, size), in order.
    pub fn get_block_list(&self, account: &str, container: &str, blob: &str) -> Result<BlockLists, AzureError> {
        let row = self.read_blob_row(account, container, blob)?;
        let uncommitted: Vec<(String, u64)> = self
            .uncommitted_blocks(account, container, blob)?
            .into_iter()
            .map(|(id, block)| (id, block.size))
            .collect();
        if row.is_none() && uncommitted.is_empty() {
            if !self.container_exists(account, container)? {
                return Err(container_not_found());
            }
            return Err(blob_not_found());
        }
        let committed = row
            .as_ref()
            .map(|row| {
                row.blocks
                    .iter()
                    .filter(|b| !b.id.is_empty())
                    .map(|b| (b.id.clone(), b.size))
                    .collect()
            })
            .unwrap_or_default();
        Ok(BlockLists {
            row,
            committed,
            uncommitted,
        })
    }

    /// Changes an existing blob's properties or metadata under write conditions.
    pub fn update_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
        change: impl FnOnce(&mut BlobRow),
    ) -> Result<BlobRow, AzureError> {
        let row = self.modify_blob(account, container, blob, self.update_change(conditions, change))?;
        row.ok_or_else(|| AzureError::internal("update produced no row"))
    }

    /// [`Partition::update_blob`] prepared on an async thread, as [`Partition::try_prepare_put_blob`].
    pub fn try_prepare_update_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
        change: impl FnOnce(&mut BlobRow),
    ) -> Option<Result<PreparedWrite<'_>, AzureError>> {
        self.try_prepare(|| self.prepare_blob_write(account, container, blob, self.update_change(conditions, change)))
    }

    /// Runs `prepare` inside `lazuli_table::memory_only`, and not at all when the table would
    /// decline the commit anyway (the memtable full): the blocking path would redo the work.
    fn try_prepare<'p>(
        &'p self,
        prepare: impl FnOnce() -> Result<PreparedWrite<'p>, AzureError>,
    ) -> Option<Result<PreparedWrite<'p>, AzureError>> {
        if !self.table.can_write_async() {
            return None;
        }
        lazuli_table::memory_only(prepare)
    }

    /// The change an update of an existing blob's properties makes to its row.
    fn update_change<'a>(
        &'a self,
        conditions: &'a Conditions,
        change: impl FnOnce(&mut BlobRow) + 'a,
    ) -> impl FnOnce(Option<&BlobRow>) -> ChangedRow + 'a {
        move |current| {
            let Some(current) = current else {
                return Err(blob_not_found());
            };
            Self::check_write_conditions(Some(current), conditions)?;
            let mut row = current.clone();
            change(&mut row);
            row.etag = self.new_etag();
            row.last_modified = now_nanos();
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        }
    }

    pub fn delete_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        // The snapshot rules and versioning live in `snapshot.rs`; no soft delete here (the
        // front-end passes the account's retention policy to `delete_blob_with`).
        self.delete_blob_with(
            account,
            container,
            blob,
            &crate::snapshot::BlobVersion::Base,
            &crate::snapshot::DeleteOptions::default(),
            conditions,
        )
    }

    /// List Blobs: blobs whose name starts with `prefix`, from `marker` (the name of the
    /// first item to return), rolling names up to the next `delimiter` into prefixes.
    pub fn list_blobs(
        &self,
        account: &str,
        container: &str,
        options: &ListBlobsOptions,
    ) -> Result<ListBlobsPage, AzureError> {
        // Blob rows and their sub-rows (snapshots, versions, deleted blobs): see `listing.rs`.
        self.list_blob_rows(account, container, options, None)
    }
}
