//! The stream engine shared by every store: extent rollover and sealing, group commit,
//! poisoning, recovery, reads and replay, over the [`Storage`] seam.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::extent::{self, FrameCursor, HeaderError, ScanError, EXTENT_HEADER_BYTES};
use crate::record::{self, FrameHeader, FrameVersion, CHECKSUM_CHUNK_BYTES, FRAME_HEADER_BYTES, RECORD_BYTES_MAX};
use crate::stats::Counters;
use crate::storage::{ExtentFile, Storage};
use crate::{
    AppendFuture, ExtentId, ExtentInfo, RecordLocation, Result, StoreOptions, Stream, StreamError, StreamOptions,
    StreamPosition,
};

/// Longest stream name: names become directory names, and 64 bytes is far below every file
/// system's name limit while leaving room for the layers' naming schemes.
pub const STREAM_NAME_BYTES_MAX: usize = 64;

/// Appends waiting in the queue are written with one `pwrite` up to this many bytes: enough
/// for hundreds of small records, small enough that the copy into one buffer stays cheap and
/// bounded (a blob segment of 4 MiB is written on its own, from its own buffer).
const COMBINED_WRITE_BYTES_MAX: usize = 1 << 20;

/// The id of a stream's first extent. Zero is left unused so that the default
/// [`StreamPosition`] lies before every record.
const FIRST_EXTENT_ID: ExtentId = 1;
/// Records from this size on are read in two parts (header, then payload in place); below
/// it, one read and a move of the payload cost less than a second system call.
const SEPARATE_HEADER_READ_BYTES: usize = 64 * 1024;

/// Zeros for [`StreamOptions::zero_fill_ahead_bytes`], written from here in pieces of at most
/// this size (in the binary's zero-initialized data: it takes no memory until read).
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

/// Checks a stream name: `[a-z0-9._-]{1,64}`, and not `.` or `..`. Names become directory
/// names, so this is what keeps a name from reaching outside the store's root.
pub fn validate_stream_name(name: &str) -> Result<()> {
    let charset_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    let ok = !name.is_empty() && name.len() <= STREAM_NAME_BYTES_MAX && charset_ok && name != "." && name != "..";
    if ok {
        Ok(())
    } else {
        Err(StreamError::InvalidName(name.to_owned()))
    }
}

/// The streams of one store, each recovered once on first open.
pub(crate) struct StoreCore<S: Storage> {
    storage: Arc<S>,
    options: StoreOptions,
    counters: Arc<Counters>,
    streams: Mutex<HashMap<String, Arc<StreamCore<S>>>>,
}

impl<S: Storage> StoreCore<S> {
    pub(crate) fn new(storage: Arc<S>, options: StoreOptions) -> Self {
        StoreCore {
            storage,
            options,
            counters: Arc::new(Counters::default()),
            streams: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn storage(&self) -> &Arc<S> {
        &self.storage
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn open_stream(&self, name: &str, stream_options: StreamOptions) -> Result<Arc<StreamCore<S>>> {
        validate_stream_name(name)?;
        // Held across recovery on purpose: two threads opening the same stream must not
        // both scan and truncate its tail.
        let mut streams = self.streams.lock();
        if let Some(stream) = streams.get(name) {
            return Ok(stream.clone());
        }
        let stream = Arc::new(StreamCore::recover(
            name,
            self.storage.clone(),
            self.options.clone(),
            stream_options,
            self.counters.clone(),
        )?);
        if stream.options.sync {
            let weak = Arc::downgrade(&stream);
            let (shared, counters, stream_name) = (stream.sync.clone(), stream.counters.clone(), name.to_owned());
            std::thread::Builder::new()
                .name(format!("sync-{name}"))
                .spawn(move || sync_loop(&stream_name, &weak, &shared, &counters))
                .map_err(io_error(name))?;
        }
        streams.insert(name.to_owned(), stream.clone());
        Ok(stream)
    }
}

struct Extent<F> {
    file: Arc<F>,
    /// Bytes written (header and frames); the next frame of an open extent goes here.
    size_bytes: u64,
    /// The file's length: `size_bytes`, or more where zeros were written ahead of the
    /// records ([`StreamOptions::zero_fill_ahead_bytes`]; open extent only).
    file_len: u64,
    sealed: bool,
    live_bytes: u64,
    /// The version of the extent's frames, from its header; `None` if the header of a sealed
    /// extent is damaged (each frame's own checksummed version byte is taken then).
    frames: Option<FrameVersion>,
}

struct Meta<F> {
    /// Invariant: only the last extent may be unsealed (the open extent).
    extents: BTreeMap<ExtentId, Extent<F>>,
    next_id: ExtentId,
}

impl<F> Meta<F> {
    fn open_extent(&self) -> Option<(ExtentId, &Extent<F>)> {
        self.extents
            .last_key_value()
            .filter(|(_, e)| !e.sealed)
            .map(|(id, e)| (*id, e))
    }
}

/// An appender waiting until `target` is durable (or the stream is poisoned).
struct Waiter {
    target: StreamPosition,
    slot: Arc<AppendSlot>,
}

/// Group-commit state. Positions order bytes: writes are serialized, so every byte before
/// `written` has been written, and every byte before `durable` has been synced.
struct SyncState<F> {
    written: StreamPosition,
    durable: StreamPosition,
    /// The extent that may hold unsynced bytes: an extent is synced in full before the next
    /// one is created, so only the open extent ever needs a group-commit sync.
    open_file: Option<Arc<F>>,
    /// Appenders waiting for a sync. Each is unparked by whoever makes its target durable, so
    /// a finished sync wakes all of its appenders at once, not one after another through a
    /// shared lock.
    waiters: Vec<Waiter>,
    /// The sync thread is waiting for work (and must be signalled).
    syncer_idle: bool,
    /// An async appender queued an append that no one is writing: the sync thread writes the
    /// queue before its next sync, so async threads never make file system calls.
    write_requested: bool,
    shutdown: bool,
    poisoned: bool,
}

impl<F> SyncState<F> {
    /// Raises `durable` to `to` and releases every waiter it covers.
    fn advance_durable(&mut self, to: StreamPosition) {
        if to > self.durable {
            self.durable = to;
        }
        let durable = self.durable;
        self.waiters.retain(|w| {
            let done = w.target <= durable;
            if done {
                w.slot.wake();
            }
            !done
        });
    }

    fn poison(&mut self) {
        self.poisoned = true;
        for w in self.waiters.drain(..) {
            w.slot.wake();
        }
    }
}

/// Where an append's frames were written (their start), or why they were not.
type Outcome = Option<Result<StreamPosition>>;

/// One append waiting for the combiner to write it (see [`StreamCore::combine`]).
struct QueuedAppend {
    frames: Vec<u8>,
    slot: Arc<AppendSlot>,
}

struct AppendSlot {
    outcome: Mutex<Outcome>,
    wake: Wake,
}

/// How an appender waits: a thread parks; an async task leaves its waker, so that a sync
/// wakes the runtime's threads (which run other requests meanwhile) instead of one parked
/// thread per append.
enum Wake {
    Thread(Thread),
    Task(Mutex<Option<Waker>>),
}

impl AppendSlot {
    fn wake(&self) {
        match &self.wake {
            Wake::Thread(thread) => thread.unpark(),
            Wake::Task(waker) => {
                if let Some(waker) = waker.lock().take() {
                    waker.wake();
                }
            }
        }
    }
}

#[derive(Default)]
struct AppendQueue {
    appends: Vec<QueuedAppend>,
    /// An appender (or the sync thread) is writing the queue; see [`StreamCore::combine`].
    combining: bool,
}

impl StreamError {
    /// The same error again (for each append of a failed write, or to report it later);
    /// `io::Error` is not `Clone`.
    pub fn duplicate(&self) -> StreamError {
        match self {
            StreamError::Io { stream, source } => StreamError::Io {
                stream: stream.clone(),
                // The OS error code survives (a full disk is told apart from other failures).
                source: source.raw_os_error().map_or_else(
                    || io::Error::new(source.kind(), source.to_string()),
                    io::Error::from_raw_os_error,
                ),
            },
            StreamError::Poisoned(stream) => StreamError::Poisoned(stream.clone()),
            StreamError::Corrupt { stream, extent, offset } => StreamError::Corrupt {
                stream: stream.clone(),
                extent: *extent,
                offset: *offset,
            },
            StreamError::NotFound { stream, extent, offset } => StreamError::NotFound {
                stream: stream.clone(),
                extent: *extent,
                offset: *offset,
            },
            StreamError::RecordTooLarge(n) => StreamError::RecordTooLarge(*n),
            StreamError::InvalidName(name) => StreamError::InvalidName(name.clone()),
            StreamError::ExtentOpen { stream, extent } => StreamError::ExtentOpen {
                stream: stream.clone(),
                extent: *extent,
            },
        }
    }
}

/// What the stream and its sync thread share.
struct SyncShared<F> {
    state: Mutex<SyncState<F>>,
    /// Signals the sync thread: bytes were written past `durable`, or shutdown.
    work: Condvar,
}

pub(crate) struct StreamCore<S: Storage> {
    name: String,
    storage: Arc<S>,
    options: StoreOptions,
    stream_options: StreamOptions,
    counters: Arc<Counters>,
    /// Serializes appends and seals: bytes are written in position order, so the synced
    /// prefix of the open extent never has a hole (recovery would cut the stream at a hole
    /// and lose acknowledged records after it). A write to the page cache takes
    /// microseconds; the slow part, the sync, happens outside this lock.
    writer: Mutex<()>,
    /// Appends waiting to be written. Whoever finds no one combining writes the whole queue
    /// in as few `pwrite`s as fit, so concurrent appenders neither queue on `writer` nor wake
    /// twice (once for the lock, once for the sync): each parks once, until its bytes are
    /// durable.
    queue: Mutex<AppendQueue>,
    /// Serializes extent deletions (each ends in a directory fsync) without blocking appends.
    deleter: Mutex<()>,
    /// The extent table; held only for lookups and updates, never across I/O.
    meta: Mutex<Meta<S::File>>,
    sync: Arc<SyncShared<S::File>>,
}

impl<S: Storage> Drop for StreamCore<S> {
    fn drop(&mut self) {
        self.sync.state.lock().shutdown = true;
        self.sync.work.notify_all();
    }
}

fn io_error(stream: &str) -> impl FnOnce(io::Error) -> StreamError + '_ {
    move |source| StreamError::Io {
        stream: stream.to_owned(),
        source,
    }
}

impl<S: Storage> StreamCore<S> {
    fn recover(
        name: &str,
        storage: Arc<S>,
        options: StoreOptions,
        stream_options: StreamOptions,
        counters: Arc<Counters>,
    ) -> Result<Self> {
        storage.create_stream(name).map_err(io_error(name))?;
        let ids = storage.list_extents(name).map_err(io_error(name))?;
        let stream = StreamCore {
            name: name.to_owned(),
            storage,
            options,
            stream_options,
            counters,
            writer: Mutex::new(()),
            queue: Mutex::new(AppendQueue::default()),
            deleter: Mutex::new(()),
            meta: Mutex::new(Meta {
                extents: BTreeMap::new(),
                next_id: ids.last().map_or(FIRST_EXTENT_ID, |last| last + 1),
            }),
            sync: Arc::new(SyncShared {
                state: Mutex::new(SyncState {
                    written: StreamPosition::default(),
                    durable: StreamPosition::default(),
                    open_file: None,
                    waiters: Vec::new(),
                    syncer_idle: false,
                    write_requested: false,
                    shutdown: false,
                    poisoned: false,
                }),
                work: Condvar::new(),
            }),
        };
        for (index, &id) in ids.iter().enumerate() {
            let is_last = index + 1 == ids.len();
            let file = stream.storage.open_extent(name, id).map_err(io_error(name))?;
            let (size_bytes, frames) = if is_last {
                let (size_bytes, frames) = stream.recover_open_extent(id, &file)?;
                (size_bytes, Some(frames))
            } else {
                stream.check_sealed_extent(id, &file)?
            };
            stream.meta.lock().extents.insert(
                id,
                Extent {
                    file: Arc::new(file),
                    size_bytes,
                    file_len: size_bytes,
                    sealed: !is_last,
                    live_bytes: 0,
                    frames,
                },
            );
        }
        {
            let meta = stream.meta.lock();
            let mut sync = stream.sync.state.lock();
            let end = match meta.open_extent() {
                Some((id, e)) => {
                    sync.open_file = Some(e.file.clone());
                    StreamPosition {
                        extent: id,
                        offset: e.size_bytes,
                    }
                }
                None => StreamPosition::default(),
            };
            sync.written = end;
            sync.durable = end;
        }
        // Frames of the other version never join an extent: its header names one version.
        let open_frames = stream.meta.lock().open_extent().map(|(_, e)| e.frames);
        if open_frames.is_some_and(|frames| frames != Some(stream.frame_version())) {
            stream.roll_over()?;
        }
        Ok(stream)
    }

    /// The version of the frames this stream writes.
    fn frame_version(&self) -> FrameVersion {
        if self.stream_options.chunk_checksums {
            FrameVersion::Chunked
        } else {
            FrameVersion::Whole
        }
    }

    fn read_header(
        &self,
        id: ExtentId,
        file: &S::File,
    ) -> Result<(u64, std::result::Result<FrameVersion, HeaderError>)> {
        let len = file.len().map_err(io_error(&self.name))?;
        let mut header = vec![0u8; (len as usize).min(EXTENT_HEADER_BYTES)];
        file.read_exact_at(&mut header, 0).map_err(io_error(&self.name))?;
        Ok((len, extent::check_header(&header, id)))
    }

    /// A sealed extent is never modified: damage in it is reported when a record is read.
    fn check_sealed_extent(&self, id: ExtentId, file: &S::File) -> Result<(u64, Option<FrameVersion>)> {
        let (len, header) = self.read_header(id, file)?;
        if let Err(problem) = header {
            tracing::error!(stream = %self.name, extent = id, ?problem,
                "sealed extent has a bad header; its records are still verified one by one on read");
        }
        Ok((len, header.ok()))
    }

    /// Scans the open extent and cuts it at the first torn or corrupt frame: the writer died
    /// before that frame was synced, so it (and anything after it) was never acknowledged.
    fn recover_open_extent(&self, id: ExtentId, file: &S::File) -> Result<(u64, FrameVersion)> {
        let (len, header) = self.read_header(id, file)?;
        let frames = match header {
            Ok(frames) => frames,
            // No record is written before the header is synced, so a missing header with
            // bytes after it is damage, not an interrupted creation.
            Err(HeaderError::Missing) if len <= EXTENT_HEADER_BYTES as u64 => {
                // The creation of this file was not yet durable when the process stopped, so
                // nothing in it was acknowledged: start it over.
                tracing::warn!(stream = %self.name, extent = id, "open extent has no header; reinitializing it");
                file.set_len(0).map_err(io_error(&self.name))?;
                file.write_all_at(&extent::encode_header(id, self.frame_version()), 0)
                    .map_err(io_error(&self.name))?;
                self.recovery_sync(file)?;
                return Ok((EXTENT_HEADER_BYTES as u64, self.frame_version()));
            }
            Err(HeaderError::Invalid | HeaderError::Missing) => {
                tracing::error!(stream = %self.name, extent = id, "open extent has an invalid header; refusing to open the stream");
                return Err(StreamError::Corrupt {
                    stream: self.name.clone(),
                    extent: id,
                    offset: 0,
                });
            }
        };
        let mut cursor = FrameCursor::new(file, id, Some(frames), EXTENT_HEADER_BYTES as u64, len);
        loop {
            match cursor.next_record(true) {
                Ok(Some(_)) => {}
                Ok(None) => return Ok((len, frames)),
                Err(ScanError::Io(e)) => return Err(io_error(&self.name)(e)),
                Err(ScanError::Frame(stop)) => {
                    if self.is_zero_tail(file, stop.offset, len)? {
                        tracing::debug!(stream = %self.name, extent = id, offset = stop.offset,
                            cut_bytes = len - stop.offset, "cutting the zeros written ahead of the records");
                    } else {
                        tracing::warn!(stream = %self.name, extent = id, offset = stop.offset,
                            cut_bytes = len - stop.offset, error = %stop.error,
                            "cutting the unacknowledged tail of the open extent");
                    }
                    file.set_len(stop.offset).map_err(io_error(&self.name))?;
                    self.recovery_sync(file)?;
                    return Ok((stop.offset, frames));
                }
            }
        }
    }

    /// Whether the bytes from `from` to `len` are all zero: what zero-filling ahead leaves
    /// after the last record, as opposed to a torn or damaged frame.
    fn is_zero_tail(&self, file: &S::File, from: u64, len: u64) -> Result<bool> {
        let mut buf = vec![0u8; 64 << 10];
        let mut at = from;
        while at < len {
            let n = (len - at).min(buf.len() as u64) as usize;
            file.read_exact_at(&mut buf[..n], at).map_err(io_error(&self.name))?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    /// A failed sync during recovery fails the open; nothing was acknowledged yet, so there is
    /// no stream to poison.
    fn recovery_sync(&self, file: &S::File) -> Result<()> {
        if !self.options.sync {
            return Ok(());
        }
        let started = Instant::now();
        let result = file.sync_data();
        self.counters.record_sync(started.elapsed().as_nanos() as u64);
        result.map_err(io_error(&self.name))
    }

    fn poisoned_error(&self) -> StreamError {
        StreamError::Poisoned(self.name.clone())
    }

    fn check_not_poisoned(&self) -> Result<()> {
        if self.sync.state.lock().poisoned {
            return Err(self.poisoned_error());
        }
        Ok(())
    }

    /// Records a failed sync. The sync is never retried: after a failed fsync Linux may have
    /// dropped the dirty pages and marked them clean, so a second fsync can "succeed" without
    /// the data ever reaching the disk. Only a reopen (which re-reads what is really on disk)
    /// can continue safely.
    fn poison(&self, what: &str, error: &io::Error) -> StreamError {
        let mut sync = self.sync.state.lock();
        if !sync.poisoned {
            tracing::error!(stream = %self.name, %error, what, "sync failed; the stream is poisoned");
        }
        sync.poison();
        self.poisoned_error()
    }

    /// A sync outside group commit (sealing, creating an extent). Fails into poisoning.
    fn sync_file(&self, file: &S::File) -> Result<()> {
        if !self.options.sync {
            return Ok(());
        }
        let started = Instant::now();
        let result = file.sync_data();
        self.counters.record_sync(started.elapsed().as_nanos() as u64);
        result.map_err(|e| self.poison("extent sync", &e))
    }

    fn sync_dir(&self) -> Result<()> {
        if !self.options.sync {
            return Ok(());
        }
        self.storage
            .sync_stream_dir(&self.name)
            .map_err(|e| self.poison("directory sync", &e))
    }

    /// Seals the open extent (after syncing it in full) and creates the next one. Called with
    /// the writer lock held.
    fn roll_over(&self) -> Result<(ExtentId, Arc<S::File>)> {
        let open = self
            .meta
            .lock()
            .open_extent()
            .map(|(id, e)| (id, e.file.clone(), e.size_bytes));
        if let Some((open_id, open_file, size_bytes)) = open {
            // A sealed extent ends at its last record: only an open extent may have zeros
            // after its records. The file is asked, not `file_len`, which a failed write of
            // zeros may leave short of what landed.
            if open_file.len().map_err(io_error(&self.name))? > size_bytes {
                open_file.set_len(size_bytes).map_err(io_error(&self.name))?;
                if let Some(e) = self.meta.lock().extents.get_mut(&open_id) {
                    e.file_len = size_bytes;
                }
            }
            // Syncing the whole extent before leaving it keeps the group-commit invariant:
            // only the open extent can hold unsynced bytes.
            self.sync_file(&open_file)?;
            if let Some(e) = self.meta.lock().extents.get_mut(&open_id) {
                e.sealed = true;
            }
            // Everything written so far is durable now, even if creating the next extent
            // fails below.
            let mut sync = self.sync.state.lock();
            let written = sync.written;
            sync.advance_durable(written);
        }
        let id = {
            let mut meta = self.meta.lock();
            let id = meta.next_id;
            meta.next_id += 1;
            id
        };
        let file = self
            .storage
            .create_extent(&self.name, id)
            .map_err(io_error(&self.name))?;
        if let Err(e) = file.write_all_at(&extent::encode_header(id, self.frame_version()), 0) {
            // Nothing refers to this file yet; if removal fails too, recovery reinitializes
            // a headerless last extent.
            let _ = self.storage.remove_extent(&self.name, id);
            return Err(io_error(&self.name)(e));
        }
        // The file and its directory entry must be durable before any record in it is
        // acknowledged: fdatasync on the file does not persist the entry naming it, so after
        // a power loss the whole file (with acknowledged records) could vanish.
        self.sync_file(&file)?;
        self.sync_dir()?;
        let file = Arc::new(file);
        self.meta.lock().extents.insert(
            id,
            Extent {
                file: file.clone(),
                size_bytes: EXTENT_HEADER_BYTES as u64,
                file_len: EXTENT_HEADER_BYTES as u64,
                sealed: false,
                live_bytes: 0,
                frames: Some(self.frame_version()),
            },
        );
        let mut sync = self.sync.state.lock();
        let start = StreamPosition {
            extent: id,
            offset: EXTENT_HEADER_BYTES as u64,
        };
        // Every earlier byte was synced above (or syncing is off).
        sync.written = start;
        sync.open_file = Some(file.clone());
        sync.advance_durable(start);
        Ok((id, file))
    }

    /// The bytes `range` (start, length; the whole payload when `None`) of one record's
    /// payload, verified; `None` only with `cached_only`, when some of the bytes it needs are
    /// not in memory.
    fn read_record(
        &self,
        location: RecordLocation,
        range: Option<(u32, u32)>,
        cached_only: bool,
    ) -> Result<Option<Vec<u8>>> {
        let not_found = || StreamError::NotFound {
            stream: self.name.clone(),
            extent: location.extent,
            offset: location.offset,
        };
        let corrupt = || StreamError::Corrupt {
            stream: self.name.clone(),
            extent: location.extent,
            offset: location.offset,
        };
        if location.len as usize > RECORD_BYTES_MAX || location.offset < EXTENT_HEADER_BYTES as u64 {
            return Err(not_found());
        }
        if range.is_some_and(|(start, len)| u64::from(start) + u64::from(len) > u64::from(location.len)) {
            return Err(corrupt());
        }
        let (file, size_bytes, frames) = {
            let meta = self.meta.lock();
            let extent = meta.extents.get(&location.extent).ok_or_else(not_found)?;
            (extent.file.clone(), extent.size_bytes, extent.frames)
        };
        let within = |len: usize| location.offset.saturating_add(len as u64) <= size_bytes;
        // `false`: the bytes are not all in memory and only a cached read was asked for.
        let read_at = |buf: &mut [u8], offset: u64| -> Result<bool> {
            let read = if cached_only {
                file.read_exact_at_cached(buf, offset)
            } else {
                file.read_exact_at(buf, offset).map(|()| true)
            };
            read.map_err(io_error(&self.name))
        };
        let frames = match frames {
            Some(frames) => frames,
            // The extent's header is damaged: the frame's own version byte, checksummed with
            // the rest of its header, says.
            None => {
                let mut head = [0u8; FRAME_HEADER_BYTES];
                if !within(FRAME_HEADER_BYTES) {
                    return Err(not_found());
                }
                if !read_at(&mut head, location.offset)? {
                    return Ok(None);
                }
                record::decode_header(&head).map_err(|_| corrupt())?.version
            }
        };
        let payload_offset = FRAME_HEADER_BYTES + frames.table_len(location.len as usize);
        if !within(payload_offset + location.len as usize) {
            return Err(not_found());
        }
        let header_of = |head: &[u8]| -> Result<FrameHeader> {
            let header = record::decode_header(head).map_err(|_| corrupt())?;
            if header.payload_len != location.len || header.version != frames {
                return Err(corrupt());
            }
            Ok(header)
        };
        let whole = range.is_none_or(|(start, len)| start == 0 && len == location.len);
        if frames == FrameVersion::Chunked && !whole {
            let (start, len) = range.map_or((0, 0), |(start, len)| (start as usize, len as usize));
            let first_chunk = start / CHECKSUM_CHUNK_BYTES;
            let span_start = first_chunk * CHECKSUM_CHUNK_BYTES;
            let span_end = (start + len)
                .div_ceil(CHECKSUM_CHUNK_BYTES)
                .saturating_mul(CHECKSUM_CHUNK_BYTES)
                .clamp(span_start, location.len as usize);
            let mut head_and_table = vec![0u8; payload_offset];
            let mut span = vec![0u8; span_end - span_start];
            if !read_at(&mut head_and_table, location.offset)?
                || !read_at(&mut span, location.offset + (payload_offset + span_start) as u64)?
            {
                return Ok(None);
            }
            let (head, table) = head_and_table.split_at(FRAME_HEADER_BYTES);
            let header = header_of(head)?;
            record::verify_table(&header, table).map_err(|_| corrupt())?;
            record::verify_chunks(&header, table, first_chunk, &span).map_err(|_| corrupt())?;
            span.drain(..start - span_start);
            span.truncate(len);
            return Ok(Some(span));
        }
        let mut payload = if location.len as usize >= SEPARATE_HEADER_READ_BYTES {
            // A large payload is read where it is returned: moving it down over the header
            // afterwards cost a copy of every byte of every download.
            let mut head_and_table = vec![0u8; payload_offset];
            let mut payload = vec![0u8; location.len as usize];
            if !read_at(&mut head_and_table, location.offset)?
                || !read_at(&mut payload, location.offset + payload_offset as u64)?
            {
                return Ok(None);
            }
            let (head, table) = head_and_table.split_at(FRAME_HEADER_BYTES);
            record::verify_payload(&header_of(head)?, table, &payload).map_err(|_| corrupt())?;
            payload
        } else {
            let mut frame = vec![0u8; payload_offset + location.len as usize];
            if !read_at(&mut frame, location.offset)? {
                return Ok(None);
            }
            let (head_and_table, payload) = frame.split_at(payload_offset);
            let (head, table) = head_and_table.split_at(FRAME_HEADER_BYTES);
            record::verify_payload(&header_of(head)?, table, payload).map_err(|_| corrupt())?;
            frame.drain(..payload_offset);
            frame
        };
        if let Some((start, len)) = range.filter(|_| !whole) {
            payload.drain(..start as usize);
            payload.truncate(len as usize);
        }
        Ok(Some(payload))
    }

    /// Parks until the combiner has written the append of `slot` and the sync thread has made
    /// it durable (or either failed); returns where its frames start. The combiner registers
    /// the appender as a sync waiter when it writes, so both steps cost one wake-up.
    fn wait_written_and_durable(&self, slot: &AppendSlot, frames_len: u64) -> Result<StreamPosition> {
        loop {
            if let Some(settled) = self.settled(slot, frames_len) {
                return settled;
            }
            if slot.outcome.lock().is_none() && self.claim_combiner() {
                self.combine();
                continue;
            }
            // A stale unpark (left from an earlier wait) only costs one more look.
            std::thread::park();
        }
    }

    /// Where the append of `slot` starts once it is written and durable, or why it failed;
    /// `None` while it is still on its way.
    fn settled(&self, slot: &AppendSlot, frames_len: u64) -> Option<Result<StreamPosition>> {
        let outcome = slot
            .outcome
            .lock()
            .as_ref()
            .map(|o| o.as_ref().map(|p| *p).map_err(StreamError::duplicate))?;
        let start = match outcome {
            Ok(start) => start,
            Err(error) => return Some(Err(error)),
        };
        let target = StreamPosition {
            extent: start.extent,
            offset: start.offset + frames_len,
        };
        let sync = self.sync.state.lock();
        // Poison first: a sync that returned after the stream was poisoned proves
        // nothing about what reached the disk.
        if sync.poisoned {
            return Some(Err(self.poisoned_error()));
        }
        (sync.durable >= target).then_some(Ok(start))
    }

    /// Frames `records` and queues them (writing the queue if no one else is); returns the
    /// slot to wait on and the framed length, or `None` for an empty append.
    fn enqueue(&self, records: &[&[u8]], wake: Wake) -> Result<Option<(Arc<AppendSlot>, u64)>> {
        let mut total_bytes = 0usize;
        for r in records {
            total_bytes += self
                .frame_version()
                .frame_len(r.len())
                .ok_or(StreamError::RecordTooLarge(r.len()))?;
        }
        if records.is_empty() {
            self.check_not_poisoned()?;
            return Ok(None);
        }
        let mut frames = Vec::with_capacity(total_bytes);
        for r in records {
            record::encode_as(self.frame_version(), r, &mut frames);
        }
        let slot = Arc::new(AppendSlot {
            outcome: Mutex::new(None),
            wake,
        });
        let combine = {
            let mut queue = self.queue.lock();
            queue.appends.push(QueuedAppend {
                frames,
                slot: slot.clone(),
            });
            !std::mem::replace(&mut queue.combining, true)
        };
        if combine {
            match slot.wake {
                Wake::Task(_) if self.options.sync => self.request_write(),
                _ => self.combine(),
            }
        }
        Ok(Some((slot, total_bytes as u64)))
    }

    /// Hands the combiner's role to the sync thread (async appenders must not write on the
    /// runtime's threads).
    fn request_write(&self) {
        let mut sync = self.sync.state.lock();
        sync.write_requested = true;
        if sync.syncer_idle {
            sync.syncer_idle = false;
            self.sync.work.notify_one();
        }
    }

    /// Takes the combiner's role if no one holds it and appends are queued (a combiner that
    /// found more appends after its round passed the role on by waking this appender).
    fn claim_combiner(&self) -> bool {
        let mut queue = self.queue.lock();
        !queue.appends.is_empty() && !std::mem::replace(&mut queue.combining, true)
    }

    /// The locations of `lens`-long records framed one after another from `start`.
    fn locations(&self, start: StreamPosition, lens: impl Iterator<Item = usize>) -> Vec<RecordLocation> {
        let mut locations = Vec::new();
        let mut at = start.offset;
        let mut payload_bytes = 0;
        for len in lens {
            locations.push(RecordLocation {
                extent: start.extent,
                offset: at,
                len: len as u32,
            });
            // Every record this stream writes is framed in its version (`enqueue`).
            at += self.frame_version().frame_len(len).unwrap_or_default() as u64;
            payload_bytes += len as u64;
        }
        self.counters.record_append(locations.len() as u64, payload_bytes);
        locations
    }

    /// Writes the appends queued now (the combiner's own among them), then gives up the
    /// combiner's role: to no one if the queue is empty, else to the first append queued
    /// meanwhile. Keeping on while appends keep arriving would hold the combiner's own
    /// request, written and synced long since, for as long as the load lasts (seconds under
    /// a steady stream of 1 MiB uploads).
    fn combine(&self) {
        loop {
            let batch = {
                let mut queue = self.queue.lock();
                if queue.appends.is_empty() {
                    queue.combining = false;
                    return;
                }
                std::mem::take(&mut queue.appends)
            };
            {
                let _writer = self.writer.lock();
                let mut rest = &batch[..];
                while !rest.is_empty() {
                    let taken = self.write_group(rest);
                    rest = &rest[taken..];
                }
            }
            let mut queue = self.queue.lock();
            let Some(next) = queue.appends.first().map(|next| next.slot.clone()) else {
                queue.combining = false;
                return;
            };
            match &next.wake {
                // Its thread takes the role when it wakes (`wait_written_and_durable`),
                // unless an appender arriving first does.
                Wake::Thread(_) => {
                    queue.combining = false;
                    drop(queue);
                    next.wake();
                    return;
                }
                Wake::Task(_) if self.options.sync => {
                    drop(queue);
                    self.request_write();
                    return;
                }
                // Without syncs there is no sync thread to take it, and no wait for one
                // to hold anyone: carry on.
                Wake::Task(_) => {}
            }
        }
    }

    /// With [`StreamOptions::zero_fill_ahead_bytes`], writes zeros up to that far past `end`
    /// (the records' end in a file `file_len` long) once fewer than half of them are left;
    /// the next sync makes them durable with the records. Returns the file's length as far as
    /// zeros go. A failed write of zeros fails no append (the records are written): it is
    /// cut off where possible (what is left holds no frame, which recovery cuts like a torn
    /// tail and a seal cuts too) and tried again, from `end`, with a later append.
    fn zero_fill_ahead(&self, file: &S::File, end: u64, file_len: u64) -> u64 {
        let ahead = self.stream_options.zero_fill_ahead_bytes;
        let file_len = file_len.max(end);
        if ahead == 0 || end.saturating_add(ahead / 2) <= file_len {
            return file_len;
        }
        let target = end.saturating_add(ahead).min(self.options.extent_size_bytes_max);
        let mut at = file_len;
        while at < target {
            let n = (target - at).min(ZEROS.len() as u64) as usize;
            if let Err(error) = file.write_all_at(&ZEROS[..n], at) {
                tracing::warn!(stream = %self.name, %error, "writing zeros ahead of the records failed");
                let _ = file.set_len(end);
                return end;
            }
            at += n as u64;
        }
        target
    }

    /// Writes a prefix of `appends` that fits in the open extent (rolling over first if even
    /// the first does not) with one `pwrite`, and settles each append's outcome. Returns how
    /// many it settled (at least one). Called with the writer lock held.
    fn write_group(&self, appends: &[QueuedAppend]) -> usize {
        let fail = |count: usize, error: StreamError| {
            for append in &appends[..count] {
                *append.slot.outcome.lock() = Some(Err(error.duplicate()));
                append.slot.wake();
            }
            count
        };
        if let Err(error) = self.check_not_poisoned() {
            return fail(appends.len(), error);
        }
        let first_len = appends[0].frames.len() as u64;
        let open = self.meta.lock().open_extent().and_then(|(id, e)| {
            let empty = e.size_bytes <= EXTENT_HEADER_BYTES as u64;
            let fits = e.size_bytes + first_len <= self.options.extent_size_bytes_max;
            (empty || fits).then(|| (id, e.file.clone(), e.size_bytes, e.file_len))
        });
        let (id, file, offset, file_len) = match open {
            Some(open) => open,
            None => match self.roll_over() {
                Ok((id, file)) => (id, file, EXTENT_HEADER_BYTES as u64, EXTENT_HEADER_BYTES as u64),
                Err(error) => return fail(1, error),
            },
        };
        let mut end = offset + first_len;
        let mut count = 1;
        while let Some(next) = appends.get(count) {
            let len = next.frames.len() as u64;
            if end + len > self.options.extent_size_bytes_max || end + len - offset > COMBINED_WRITE_BYTES_MAX as u64 {
                break;
            }
            end += len;
            count += 1;
        }
        let combined;
        let bytes: &[u8] = if count == 1 {
            &appends[0].frames
        } else {
            combined = appends[..count]
                .iter()
                .fold(Vec::with_capacity((end - offset) as usize), |mut buf, a| {
                    buf.extend_from_slice(&a.frames);
                    buf
                });
            &combined
        };
        if let Err(e) = file.write_all_at(bytes, offset) {
            // Cut off whatever part landed so the next append does not leave garbage
            // between two records; if even that fails the tail is unknown: poison.
            if let Err(cut) = file.set_len(offset) {
                self.poison("truncate after failed write", &cut);
            }
            if let Some(e) = self.meta.lock().extents.get_mut(&id) {
                e.file_len = offset;
            }
            return fail(count, io_error(&self.name)(e));
        }
        let file_len = self.zero_fill_ahead(&file, end, file_len);
        if let Some(e) = self.meta.lock().extents.get_mut(&id) {
            e.size_bytes = end;
            e.file_len = file_len;
        }
        let mut sync = self.sync.state.lock();
        if sync.poisoned {
            // Poisoned while this group was written: its waiters were released already and
            // the sync thread no longer runs, so these appenders must fail here.
            drop(sync);
            return fail(count, self.poisoned_error());
        }
        sync.written = StreamPosition {
            extent: id,
            offset: end,
        };
        let mut at = offset;
        for append in &appends[..count] {
            // The outcome is set before the appender is registered, so whichever wakes it
            // finds the outcome there.
            *append.slot.outcome.lock() = Some(Ok(StreamPosition { extent: id, offset: at }));
            at += append.frames.len() as u64;
            sync.waiters.push(Waiter {
                target: StreamPosition { extent: id, offset: at },
                slot: append.slot.clone(),
            });
        }
        debug_assert_eq!(at, end);
        if self.options.sync {
            if sync.syncer_idle {
                sync.syncer_idle = false;
                self.sync.work.notify_one();
            }
        } else {
            sync.advance_durable(StreamPosition {
                extent: id,
                offset: end,
            });
        }
        count
    }
}

/// The sync thread of a stream: while bytes were written past `durable`, syncs the open extent
/// and releases the appenders it covers. One thread per stream, so that the next sync starts
/// the moment the previous one returns, and no appender's thread has to lead one. It also
/// writes the appends that async appenders queued (one `pwrite` for all that arrived during
/// the previous sync).
fn sync_loop<S: Storage>(name: &str, stream: &Weak<StreamCore<S>>, shared: &SyncShared<S::File>, counters: &Counters) {
    let mut sync = shared.state.lock();
    loop {
        if sync.shutdown {
            return;
        }
        if std::mem::take(&mut sync.write_requested) {
            drop(sync);
            if let Some(stream) = stream.upgrade() {
                stream.combine();
            }
            sync = shared.state.lock();
            // A round that left appends queued asked for another; what it wrote is synced
            // first, so that a steady stream of async appends cannot hold syncs back.
        }
        if sync.poisoned || sync.written <= sync.durable || sync.waiters.is_empty() {
            if sync.write_requested {
                continue;
            }
            sync.syncer_idle = true;
            shared.work.wait(&mut sync);
            continue;
        }
        let covers = sync.written;
        let file = sync.open_file.clone();
        drop(sync);
        let started = Instant::now();
        let result = match &file {
            Some(file) => file.sync_data(),
            None => Ok(()),
        };
        counters.record_sync(started.elapsed().as_nanos() as u64);
        sync = shared.state.lock();
        match result {
            Ok(()) if sync.poisoned => {}
            Ok(()) => sync.advance_durable(covers),
            Err(error) => {
                if !sync.poisoned {
                    tracing::error!(stream = %name, %error, "group commit sync failed; the stream is poisoned");
                }
                sync.poison();
            }
        }
    }
}

impl<S: Storage> Stream for StreamCore<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn append(&self, records: &[&[u8]]) -> Result<Vec<RecordLocation>> {
        let Some((slot, frames_len)) = self.enqueue(records, Wake::Thread(std::thread::current()))? else {
            return Ok(Vec::new());
        };
        let start = self.wait_written_and_durable(&slot, frames_len)?;
        Ok(self.locations(start, records.iter().map(|r| r.len())))
    }

    fn append_async(&self, records: &[&[u8]]) -> AppendFuture<'_> {
        let enqueued = self.enqueue(records, Wake::Task(Mutex::new(None)));
        let lens = records.iter().map(|r| r.len()).collect::<Vec<_>>();
        Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
            let (slot, frames_len) = match &enqueued {
                Err(error) => return Poll::Ready(Err(error.duplicate())),
                Ok(None) => return Poll::Ready(Ok(Vec::new())),
                Ok(Some(queued)) => queued,
            };
            // The waker goes in before the look, so a wake between the two is not lost.
            if let Wake::Task(waker) = &slot.wake {
                *waker.lock() = Some(cx.waker().clone());
            }
            match self.settled(slot, *frames_len) {
                Some(settled) => Poll::Ready(settled.map(|start| self.locations(start, lens.iter().copied()))),
                None => Poll::Pending,
            }
        }))
    }

    fn read(&self, location: RecordLocation) -> Result<Vec<u8>> {
        Ok(self
            .read_record(location, None, false)?
            .expect("a read that may wait always returns the record"))
    }

    fn read_cached(&self, location: RecordLocation) -> Result<Option<Vec<u8>>> {
        self.read_record(location, None, true)
    }

    fn read_range(&self, location: RecordLocation, start: u32, len: u32) -> Result<Vec<u8>> {
        Ok(self
            .read_record(location, Some((start, len)), false)?
            .expect("a read that may wait always returns the record"))
    }

    fn read_range_cached(&self, location: RecordLocation, start: u32, len: u32) -> Result<Option<Vec<u8>>> {
        self.read_record(location, Some((start, len)), true)
    }

    fn reads_ranges_by_chunk(&self, location: RecordLocation) -> bool {
        self.meta
            .lock()
            .extents
            .get(&location.extent)
            .is_some_and(|extent| extent.frames == Some(FrameVersion::Chunked))
    }

    fn replay(&self, from: StreamPosition, visit: &mut dyn FnMut(RecordLocation, &[u8]) -> Result<()>) -> Result<()> {
        // Only durable records are replayed: anything later may still vanish in a crash.
        let durable = self.sync.state.lock().durable;
        // (id, file, frame version, end of what is durable in it)
        type ToReplay<F> = (ExtentId, Arc<F>, Option<FrameVersion>, u64);
        let extents: Vec<ToReplay<S::File>> = {
            let meta = self.meta.lock();
            meta.extents
                .range(from.extent..)
                .filter(|(id, _)| **id <= durable.extent)
                .map(|(id, e)| {
                    let end = if *id == durable.extent {
                        e.size_bytes.min(durable.offset)
                    } else {
                        e.size_bytes
                    };
                    (*id, e.file.clone(), e.frames, end)
                })
                .collect()
        };
        for (id, file, frames, end) in extents {
            let start = if id == from.extent { from.offset } else { 0 };
            let mut cursor = FrameCursor::new(&*file, id, frames, EXTENT_HEADER_BYTES as u64, end);
            loop {
                // Records before `start` are skipped by their headers alone.
                let verify = cursor.position() >= start;
                match cursor.next_record(verify) {
                    Ok(None) => break,
                    Ok(Some((location, payload))) => {
                        if verify {
                            visit(location, payload)?;
                        }
                    }
                    Err(ScanError::Io(e)) => return Err(io_error(&self.name)(e)),
                    Err(ScanError::Frame(stop)) => {
                        tracing::error!(stream = %self.name, extent = id, offset = stop.offset,
                            error = %stop.error, "corrupt record during replay");
                        return Err(StreamError::Corrupt {
                            stream: self.name.clone(),
                            extent: id,
                            offset: stop.offset,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn seal(&self) -> Result<()> {
        let _writer = self.writer.lock();
        self.check_not_poisoned()?;
        let has_records = self
            .meta
            .lock()
            .open_extent()
            .is_some_and(|(_, e)| e.size_bytes > EXTENT_HEADER_BYTES as u64);
        if has_records {
            self.roll_over()?;
        }
        Ok(())
    }

    fn extents(&self) -> Vec<ExtentInfo> {
        self.meta
            .lock()
            .extents
            .iter()
            .map(|(id, e)| ExtentInfo {
                id: *id,
                size_bytes: e.size_bytes,
                sealed: e.sealed,
                live_bytes: e.live_bytes,
            })
            .collect()
    }

    fn delete_extent(&self, extent: ExtentId) -> Result<()> {
        let _deleter = self.deleter.lock();
        self.check_not_poisoned()?;
        {
            let meta = self.meta.lock();
            let e = meta.extents.get(&extent).ok_or(StreamError::NotFound {
                stream: self.name.clone(),
                extent,
                offset: 0,
            })?;
            // The last extent is never deleted, even if sealed: its id is where the next id
            // is derived from after a restart, and reusing an id would let a stale location
            // read a different record that passes its checksum.
            let is_last = meta.extents.last_key_value().map(|(id, _)| *id) == Some(extent);
            if !e.sealed || is_last {
                return Err(StreamError::ExtentOpen {
                    stream: self.name.clone(),
                    extent,
                });
            }
        }
        self.storage
            .remove_extent(&self.name, extent)
            .map_err(io_error(&self.name))?;
        self.meta.lock().extents.remove(&extent);
        // Without the directory sync the unlink may be undone by a crash; harmless for data
        // but it would resurrect garbage, and a failed directory fsync is as untrustworthy
        // as any other.
        self.sync_dir()
    }

    fn add_live_bytes(&self, extent: ExtentId, delta: i64) {
        let mut meta = self.meta.lock();
        match meta.extents.get_mut(&extent) {
            Some(e) => {
                e.live_bytes = if delta >= 0 {
                    e.live_bytes.saturating_add(delta as u64)
                } else {
                    e.live_bytes.saturating_sub(delta.unsigned_abs())
                };
            }
            None => {
                tracing::debug!(stream = %self.name, extent, delta, "live bytes for an unknown extent ignored");
            }
        }
    }

    fn end_position(&self) -> StreamPosition {
        let meta = self.meta.lock();
        match meta.open_extent() {
            Some((id, e)) => StreamPosition {
                extent: id,
                offset: e.size_bytes,
            },
            None => StreamPosition {
                extent: meta.next_id,
                offset: EXTENT_HEADER_BYTES as u64,
            },
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_duplicated_error_keeps_its_os_code() {
        // The front-end answers a full disk (ENOSPC) with 503, other failures with 500.
        let full = StreamError::Io {
            stream: "s".into(),
            source: std::io::Error::from_raw_os_error(28),
        };
        match full.duplicate() {
            StreamError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(28)),
            other => panic!("{other:?}"),
        }
    }

    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    use crate::{MemStore, RecordLocation, Stream, StreamError, StreamStore};

    const LIMIT: Duration = Duration::from_secs(10);

    /// A combiner writes what was queued when it took the queue, then passes the role on:
    /// an append queued meanwhile is written by its own appender, and the combiner's request
    /// returns once its own record is durable. (A combiner that kept writing while appends
    /// kept coming held its request for seconds under a steady stream of 1 MiB uploads.)
    #[test]
    fn a_combiner_leaves_the_appends_queued_after_its_round_to_their_appenders() {
        let store = MemStore::new();
        let stream = store.stream_core("s");
        // The open extent exists, so the held writes below are the appends themselves.
        stream.append(&[b"first"]).unwrap();
        store.hold_writes();
        let appender = |name: &str, record: &'static [u8]| {
            let stream = stream.clone();
            let (sender, result) = mpsc::channel();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || sender.send(stream.append(&[record])))
                .unwrap();
            result
        };
        let a_result = appender("a-appender", b"a");
        assert!(
            store.wait_for_held_writes(&["a-appender"], LIMIT),
            "a's appender writes a"
        );
        let b_result = appender("b-appender", b"b");
        let deadline = Instant::now() + LIMIT;
        while stream.queue.lock().appends.is_empty() {
            assert!(Instant::now() < deadline, "b was never queued");
            thread::sleep(Duration::from_millis(1));
        }
        store.pass_writes(1);
        let a = a_result
            .recv_timeout(LIMIT)
            .expect("a's request is held while b is written")
            .unwrap();
        assert!(
            store.wait_for_held_writes(&["b-appender"], LIMIT),
            "b's appender writes b"
        );
        store.release_writes();
        let b = b_result.recv_timeout(LIMIT).unwrap().unwrap();
        assert_eq!(stream.read(a[0]).unwrap(), b"a");
        assert_eq!(stream.read(b[0]).unwrap(), b"b");
    }

    /// Found by `fuzz/fuzz_targets/record.rs`: the bounds check of `read` added the frame length
    /// to an offset read from disk (a checkpoint footer, a manifest) and overflowed near u64::MAX.
    #[test]
    fn read_at_an_offset_near_u64_max_is_not_found() {
        let store = MemStore::new();
        let stream = store.open_stream("s").unwrap();
        stream.append(&[b"x"]).unwrap();
        let location = RecordLocation {
            extent: 1,
            offset: u64::MAX - 8,
            len: 16,
        };
        assert!(matches!(stream.read(location), Err(StreamError::NotFound { .. })));
    }
}
