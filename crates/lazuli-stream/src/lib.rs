//! The stream layer: named streams, each an ordered list of append-only extents holding
//! checksummed records. Everything Lazuli stores goes through this crate.
//!
//! The single-node store ([`LocalStore`]) keeps one directory per stream and one file per
//! extent; the replicated stamp will implement the same [`StreamStore`] trait over extent
//! nodes. [`MemStore`] is an in-memory store with fault injection for tests.
//!
//! Both stores run the same engine (`stream.rs`: extent rollover and sealing, group commit,
//! poisoning, recovery, reads, replay) over an I/O seam (`storage.rs`): the file system in
//! `local.rs`, an in-memory file system with injected faults and simulated crashes in
//! `mem.rs`. Formats: `record.rs` (the frame), `extent.rs` (the extent header and scanning);
//! both are documented byte by byte in docs/formats/extent.md. What an acknowledged append
//! means and what survives which crash: docs/durability.md, section "Stream layer".

use std::sync::Arc;

/// Identifies an extent inside one stream. Ids grow monotonically; a stream's extents are
/// ordered by id.
pub type ExtentId = u64;

/// Where a record lives: the extent, the byte offset of the record's frame in that extent,
/// and the payload length. Returned by [`Stream::append`] and given back to [`Stream::read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordLocation {
    pub extent: ExtentId,
    pub offset: u64,
    pub len: u32,
}

/// A position in a stream: replay starts at the first record at or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamPosition {
    pub extent: ExtentId,
    pub offset: u64,
}

impl RecordLocation {
    /// The position just past this record (where the next record starts) when it is framed
    /// as `frames` (the version its extent's header names).
    pub fn end(&self, frames: record::FrameVersion) -> StreamPosition {
        StreamPosition {
            extent: self.extent,
            // Saturating: a location decoded from damaged metadata must not panic here.
            offset: self.offset.saturating_add(
                (record::FRAME_HEADER_BYTES + frames.table_len(self.len as usize)) as u64 + self.len as u64,
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtentInfo {
    pub id: ExtentId,
    /// Bytes in the extent file, frames included.
    pub size_bytes: u64,
    pub sealed: bool,
    /// Payload bytes the stream's owner still references (see [`Stream::add_live_bytes`]).
    pub live_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("I/O error on stream {stream}: {source}")]
    Io {
        stream: String,
        #[source]
        source: std::io::Error,
    },
    /// A previous fsync failed: the stream refuses every further write until reopened by an
    /// operator. An fsync is never retried (the kernel may have dropped the dirty pages).
    #[error("stream {0} is poisoned by an earlier failed sync; no further writes are accepted")]
    Poisoned(String),
    #[error("checksum mismatch in stream {stream} extent {extent} at offset {offset}")]
    Corrupt {
        stream: String,
        extent: ExtentId,
        offset: u64,
    },
    #[error("record not found in stream {stream} extent {extent} at offset {offset}")]
    NotFound {
        stream: String,
        extent: ExtentId,
        offset: u64,
    },
    #[error("record too large: {0} bytes")]
    RecordTooLarge(usize),
    #[error("invalid stream name {0:?}")]
    InvalidName(String),
    /// The extent is the stream's open (or last) extent, which is never deleted.
    #[error("extent {extent} of stream {stream} is open and cannot be deleted")]
    ExtentOpen { stream: String, extent: ExtentId },
}

pub type Result<T, E = StreamError> = std::result::Result<T, E>;

/// Runs `future` to its end on this thread, parking between polls: for a thread that has to
/// wait for an async append after all (a commit whose caller went away; tests).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// The future of [`Stream::append_async`].
pub type AppendFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<RecordLocation>>> + Send + 'a>>;

/// A set of named streams. Stream names are chosen by the layers above (`[a-z0-9._-]`, at
/// most 64 bytes), never by clients.
pub trait StreamStore: Send + Sync + 'static {
    /// Opens a stream, creating it if absent. On first open in a process, the tail of the
    /// open (last) extent is scanned and a torn or corrupt trailing record is cut off.
    /// Opening the same name twice returns the same stream.
    fn open_stream(&self, name: &str) -> Result<Arc<dyn Stream>> {
        self.open_stream_with(name, StreamOptions::default())
    }

    /// [`StreamStore::open_stream`] with options for how the stream is written. The options
    /// of a stream's first open in a process hold for as long as it stays open.
    fn open_stream_with(&self, name: &str, options: StreamOptions) -> Result<Arc<dyn Stream>>;
}

/// How one stream is written (see [`StreamStore::open_stream_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Keeps this many bytes past the last record of the open extent written with zeros
    /// (0: off). A sync after an append that grew the file must also write the file's new
    /// size and block map; a sync after an append into bytes already written and synced
    /// writes only the data, about half the latency and a third less CPU for small appends
    /// on ext4. Meant for streams of small, latency-bound appends (commit logs): a stream of
    /// large appends would write its bytes twice. Recovery cuts the zeros like any tail
    /// that holds no frame, and an extent is cut to its last record when it is sealed.
    pub zero_fill_ahead_bytes: u64,
    /// Frames records with a checksum per 64 KiB of payload (frame version 2) instead of one
    /// over the whole payload, so that [`Stream::read_range`] reads and verifies only the
    /// chunks a range touches. Meant for streams of large records read in parts (blob data).
    /// Extents created by a stream with this on hold version 2 frames only (their header
    /// says so); opening such a stream seals an open extent of version 1 frames first.
    pub chunk_checksums: bool,
}

/// One append-only stream. All methods are safe to call from many threads at once.
pub trait Stream: Send + Sync {
    fn name(&self) -> &str;

    /// Appends `records` in order, contiguously in one extent, and returns their locations
    /// once every byte is durable (group commit: concurrent appends share one fdatasync).
    /// If the open extent would exceed the seal size, it is sealed first and a new extent
    /// started. After a failed sync the stream is poisoned.
    fn append(&self, records: &[&[u8]]) -> Result<Vec<RecordLocation>>;

    /// [`Stream::append`] for async callers: the records are queued before this returns, in
    /// call order among all appends, and written by the stream's sync thread (the caller's
    /// thread makes no file system call); the future resolves once they are durable, without
    /// a thread parked for it.
    fn append_async(&self, records: &[&[u8]]) -> AppendFuture<'_>;

    /// Reads one record's payload and verifies its checksum; a mismatch is an error, never
    /// wrong bytes.
    fn read(&self, location: RecordLocation) -> Result<Vec<u8>>;

    /// [`Stream::read`] if every byte of the record is in memory (the page cache) now; `None`
    /// when reading it would wait for the disk. For threads that must not block: they read
    /// what is hot themselves and hand the rest to a thread that may wait.
    fn read_cached(&self, location: RecordLocation) -> Result<Option<Vec<u8>>>;

    /// The `len` bytes of a record's payload from `start` on, verified. For a record framed
    /// with [`StreamOptions::chunk_checksums`] only the 64 KiB chunks the range touches are
    /// read and checksummed; any other record is read and verified whole. A range past the
    /// payload's end is [`StreamError::Corrupt`]: the caller's idea of the record is wrong.
    fn read_range(&self, location: RecordLocation, start: u32, len: u32) -> Result<Vec<u8>>;

    /// [`Stream::read_range`] if every byte it needs is in memory now; `None` otherwise.
    fn read_range_cached(&self, location: RecordLocation, start: u32, len: u32) -> Result<Option<Vec<u8>>>;

    /// Whether a ranged read of this record reads only the chunks it touches (its extent
    /// holds version 2 frames) rather than the whole record.
    fn reads_ranges_by_chunk(&self, location: RecordLocation) -> bool;

    /// Calls `visit` with every record at or after `from`, in stream order. Used to replay
    /// commit logs. Stops at the end of what was durable when the call started; a corrupt
    /// record is an error (including one skipped over to reach `from` inside an extent).
    fn replay(&self, from: StreamPosition, visit: &mut dyn FnMut(RecordLocation, &[u8]) -> Result<()>) -> Result<()>;

    /// Seals the open extent (if it holds any record) so that the next append starts a new one.
    fn seal(&self) -> Result<()>;

    /// The stream's extents, oldest first.
    fn extents(&self) -> Vec<ExtentInfo>;

    /// Deletes a sealed extent (garbage collection). Deleting the open extent is refused.
    fn delete_extent(&self, extent: ExtentId) -> Result<()>;

    /// Adjusts the in-memory live-byte count of an extent (owners add what they reference and
    /// subtract what they drop; rebuilt by the owner after reopen).
    fn add_live_bytes(&self, extent: ExtentId, delta: i64);

    /// The position where the next append will start.
    fn end_position(&self) -> StreamPosition;
}

/// Options of a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Seal size: an append that would grow the open extent past this starts a new extent.
    /// 1 GiB by default: large enough that per-extent costs (a file, a directory fsync,
    /// metadata in the stream map) are negligible, small enough that garbage collection can
    /// rewrite one extent in seconds.
    pub extent_size_bytes_max: u64,
    /// Sync before acknowledging. Off only for tests and scratch data: nothing written with
    /// `sync: false` survives a power loss reliably.
    pub sync: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            extent_size_bytes_max: 1 << 30,
            sync: true,
        }
    }
}

pub mod crc;
mod extent;
mod local;
mod mem;
pub mod record;
mod stats;
mod storage;
mod stream;

pub use extent::{EXTENT_HEADER_BYTES, EXTENT_MAGIC, EXTENT_VERSION};
pub use local::LocalStore;
pub use mem::{FaultPlan, MemStore, TornWrite};
pub use stats::{stats, StreamStats};
pub use stream::{validate_stream_name, STREAM_NAME_BYTES_MAX};
