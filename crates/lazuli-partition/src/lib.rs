//! The partition layer: the object tables (accounts, containers, blobs, uncommitted blocks)
//! and their semantics, over one LSM table and one blob-data stream.
//!
//! In the single-node embedded default one [`Partition`] serves the whole key space; the
//! stamp will split the same key space into range partitions served by partition servers.
//! Every method is blocking (callers run it on a blocking thread) and returns Azure errors
//! directly, since this layer is the one that knows which condition failed.

mod append;
mod blob;
mod container;
pub mod copy;
mod data;
pub mod hns;
pub mod keys;
pub mod lease;
mod listing;
mod locks;
pub mod page;
mod row_codec;
pub mod rows;
mod snapshot;
pub mod soft_delete;
mod staging;
pub mod tags;
pub mod tier;
mod version;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lazuli_stream::{Stream, StreamError, StreamOptions, StreamStore};
use lazuli_table::{Table, TableError, TableOptions};
use lazuli_types::{AzureError, ErrorCode};
use time::OffsetDateTime;

pub use append::{AppendConditions, APPEND_BLOCK_BYTES_MAX, MERGED_BLOCK_BYTES_MIN, MERGE_RUN_BLOCKS};
pub use blob::{
    BlockListItem, BlockListKind, BlockLists, ListBlobsOptions, ListBlobsPage, ListItem, PreparedWrite, UploadedBody,
    BLOCK_ID_BYTES_MAX, COMMITTED_BLOCKS_MAX,
};
pub use container::ListContainersPage;
pub use copy::{CopyState, PinnedSource};
pub use data::GcReport;
pub use lease::{lease_view, LeaseAction, LeaseOutcome, LeaseView};
pub use page::{
    PageExtent, Piece, SequenceAction, SequenceConditions, PAGE_BLOB_BYTES_MAX, PAGE_BYTES, PAGE_WRITE_BYTES_MAX,
};
pub use rows::{BlobRow, BlockRow, CommittedBlock, ContainerRow, HttpHeaders, Segment};
pub use snapshot::{BlobVersion, DeleteOptions, DeleteSnapshots};
pub use tags::{FoundBlobs, NewBlobOptions, TaggedBlob};

/// Runs partition reads that only look at memory (see [`lazuli_table::memory_only`]): `None`
/// means a read needed the disk, and the caller should repeat the call where it may block.
pub use lazuli_table::memory_only;

#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("corrupt partition data: {0}")]
    Corrupt(String),
}

/// Internal failures answer 500 InternalError (or 503 ServerBusy when the disk is full, so
/// clients back off and retry); the cause is logged here, where it is handled.
impl From<PartitionError> for AzureError {
    fn from(error: PartitionError) -> Self {
        let disk_full = match &error {
            PartitionError::Stream(StreamError::Io { source, .. })
            | PartitionError::Table(TableError::Stream(StreamError::Io { source, .. })) => {
                source.raw_os_error() == Some(28) // ENOSPC
            }
            _ => false,
        };
        // A memory-only read that needs the disk is retried on a blocking thread: not a failure.
        if !matches!(error, PartitionError::Table(TableError::WouldBlock)) {
            tracing::error!(%error, "partition operation failed");
        }
        if disk_full {
            AzureError::new(ErrorCode::ServerBusy, "The server is out of disk space; retry later.")
        } else {
            AzureError::internal("The server encountered an internal error. Please retry the request.")
        }
    }
}

#[derive(Clone, Debug)]
pub struct PartitionOptions {
    /// Bodies up to this size ride inside the row (one durable log append, no data record).
    /// Every flush and compaction rewrites them, and the memtables hold them: 16 KiB keeps
    /// the small Puts that gain most inline while larger bodies go to the blob-data stream.
    /// At 64 KiB, the 80/20 Get/Put mix of 64 KiB blobs had p99 26–188 ms and peak RSS
    /// 202–213 MiB, at 16 KiB 26–48 ms and 80 MiB at the same rate; a 32 KiB Put became
    /// 7–24 % faster and a 32 KiB Get ~15 % slower (read from the data stream, not a row).
    pub inline_bytes_max: usize,
    /// Blob bodies are cut into records of at most this size in the blob-data stream; it
    /// bounds the memory one request holds.
    pub segment_bytes_max: usize,
    /// An extent must stay unreferenced this long before it is deleted, so that a read that
    /// looked up a row just before a delete can still fetch the bytes.
    pub gc_grace: Duration,
    /// A blob's uncommitted block rows read at a time, and deleted at most in one write's
    /// batch (the rest right after it, under the same locks): 4096 by default, fewer for
    /// long blob names (about 1 MiB of keys a page).
    pub staged_rows_per_batch: usize,
    pub table: TableOptions,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            inline_bytes_max: 16 * 1024,
            segment_bytes_max: 4 * 1024 * 1024,
            gc_grace: Duration::from_secs(30),
            staged_rows_per_batch: blob::STAGED_ROWS_PER_BATCH,
            table: TableOptions {
                // Small bodies ride in their rows, so every compaction rewrites them: merging
                // at 8 checkpoints instead of 4 took sustained Put Blob 4 KiB @64 from 12.9-14.4k
                // to 15.8-16.2k req/s (86-99 -> 79-81 us CPU each) with Gets unchanged within
                // noise; at 16, Gets fell by a third (`bench/quick.py --put-seconds 15`).
                compaction_trigger_checkpoints: 8,
                ..TableOptions::default()
            },
        }
    }
}

pub struct Partition {
    table: Arc<Table>,
    data: Arc<dyn Stream>,
    options: PartitionOptions,
    locks: locks::Locks,
    last_etag_tick: AtomicU64,
    gc: data::GcState,
    /// What Put Block and Append Data keep from one call to the next instead of reading all
    /// staged rows (`staging.rs`).
    staging: staging::StagingHints,
    /// Set once any container is soft-deleted (its blob rows stay in place): reads then check
    /// that the blob's container is live (see `soft_delete.rs`).
    containers_soft_deleted: std::sync::atomic::AtomicBool,
    /// Set once any account has had versioning on: until then writes skip the setting lookup.
    versioning_used: std::sync::atomic::AtomicBool,
    /// Set once any account has had blob soft delete on (see `soft_delete.rs`).
    blob_soft_delete_used: std::sync::atomic::AtomicBool,
    /// Accounts with a hierarchical namespace (configuration; see `hns.rs`).
    hns_accounts: parking_lot::RwLock<std::collections::HashSet<String>>,
    /// One collector of deleted subtrees at a time (see `hns.rs`).
    hns_cleanup: parking_lot::Mutex<()>,
}

impl Partition {
    /// Opens the object table `objects` and the stream `blobdata` in `store`, and rebuilds the
    /// live-byte counts of the blob-data extents from the rows that reference them.
    pub fn open(store: Arc<dyn StreamStore>, options: PartitionOptions) -> Result<Arc<Partition>, PartitionError> {
        let table = Table::open(store.clone(), "objects", options.table.clone())?;
        // Blob bodies are read in ranges far smaller than their segments (a footer, a page,
        // a column chunk): checksums per 64 KiB let such a read verify only what it reads.
        let data = store.open_stream_with(
            "blobdata",
            StreamOptions {
                chunk_checksums: true,
                ..StreamOptions::default()
            },
        )?;
        let partition = Arc::new(Partition {
            table,
            data,
            options,
            locks: locks::Locks::new(),
            last_etag_tick: AtomicU64::new(0),
            gc: data::GcState::default(),
            staging: staging::StagingHints::default(),
            containers_soft_deleted: Default::default(),
            versioning_used: Default::default(),
            blob_soft_delete_used: Default::default(),
            hns_accounts: Default::default(),
            hns_cleanup: Default::default(),
        });
        partition.rebuild_live_bytes()?;
        partition.note_soft_deleted_containers()?;
        partition.note_versioning()?;
        // Finish removing subtrees of recursive deletes interrupted by a restart.
        partition
            .collect_deleted_paths()
            .map_err(|e| PartitionError::Corrupt(format!("collecting deleted paths: {}", e.message)))?;
        Ok(partition)
    }

    pub fn options(&self) -> &PartitionOptions {
        &self.options
    }

    /// Whether any row's key starts with `prefix` (one row read at most).
    pub(crate) fn any_row_under(&self, prefix: &[u8]) -> Result<bool, PartitionError> {
        let end = keys::prefix_end(prefix);
        Ok(!self.table.scan(prefix, end.as_deref(), 1)?.is_empty())
    }

    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// A new ETag, unique and increasing within this process (and across restarts, since it
    /// is derived from the clock in 100 ns ticks, as the service's are).
    fn new_etag(&self) -> String {
        etag_of_tick(self.unique_tick())
    }

    /// A 100 ns time tick never handed out before by this process (and, with a clock that
    /// does not step back, by an earlier one).
    fn unique_tick(&self) -> u64 {
        let now_ticks = (now_nanos() / 100) as u64;
        let previous = self.last_etag_tick.fetch_max(now_ticks, Ordering::Relaxed);
        if previous >= now_ticks {
            self.last_etag_tick.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            now_ticks
        }
    }

    /// An opaque per-account setting (e.g. the service properties document).
    pub fn account_setting(&self, account: &str, setting: &str) -> Result<Option<Vec<u8>>, AzureError> {
        Ok(self
            .table
            .get(&keys::account_setting(account, setting))
            .map_err(PartitionError::from)?
            .map(Vec::from))
    }

    pub fn set_account_setting(&self, account: &str, setting: &str, value: &[u8]) -> Result<(), AzureError> {
        // The binary applies its configuration at every start: an unchanged value costs a
        // read, not a durable write.
        if self.account_setting(account, setting)?.as_deref() == Some(value) {
            return Ok(());
        }
        let mut batch = lazuli_table::WriteBatch::new();
        batch.put(keys::account_setting(account, setting), value.to_vec());
        self.table.write(&batch).map_err(PartitionError::from)?;
        Ok(())
    }
}

/// `"0x8D` and the tick in upper-case hex, at least 13 digits: the shape of the service's ETags.
/// Written by hand: `format!` with a padded hex field weighed on every write.
fn etag_of_tick(tick: u64) -> String {
    let digits = ((64 - tick.leading_zeros()).div_ceil(4) as usize).max(13);
    let mut etag = String::with_capacity(5 + digits + 1);
    etag.push_str("\"0x8D");
    for position in (0..digits).rev() {
        etag.push(char::from(b"0123456789ABCDEF"[(tick >> (position * 4)) as usize & 0xf]));
    }
    etag.push('"');
    etag
}

pub fn now_nanos() -> i128 {
    // Straight from the system clock: going through `OffsetDateTime` computes a calendar date
    // only to turn it back into nanoseconds, twice per blob read (lease checks).
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

pub fn time_from_nanos(nanos: i128) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn etags_are_the_tick_in_hex_of_at_least_13_digits() {
        for tick in [0, 1, 0xabc, (1 << 52) - 1, 1 << 52, 17_643_500_001_234_567, u64::MAX] {
            assert_eq!(etag_of_tick(tick), format!("\"0x8D{tick:013X}\""));
        }
    }

    #[test]
    fn now_nanos_reads_the_same_clock_as_offset_date_time() {
        let before = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let now = now_nanos();
        let after = OffsetDateTime::now_utc().unix_timestamp_nanos();
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }
}
