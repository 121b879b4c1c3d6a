//! The I/O seam under a stream: a directory of extent files per stream. [`crate::LocalStore`]
//! implements it over the file system, [`crate::MemStore`] in memory with injected faults, so
//! group commit, recovery and poisoning are the same code in tests and in production.

use std::io;

use crate::ExtentId;

/// One extent file. Positional I/O only: there is no shared cursor, so reads need no lock.
pub(crate) trait ExtentFile: Send + Sync + 'static {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// [`ExtentFile::read_exact_at`] from memory only: `Ok(false)` (and `buf` unspecified)
    /// when some of the bytes would have to come from the disk, so that a thread that must
    /// not wait for the disk can try it and hand the read to one that may.
    fn read_exact_at_cached(&self, buf: &mut [u8], offset: u64) -> io::Result<bool>;
    /// fdatasync: the written bytes (and the size) reach stable storage.
    fn sync_data(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
}

/// The extent files of all streams.
pub(crate) trait Storage: Send + Sync + 'static {
    type File: ExtentFile;

    /// Creates the stream's directory if absent and makes its existence durable.
    fn create_stream(&self, stream: &str) -> io::Result<()>;
    /// The extent ids present in the stream's directory, ascending.
    fn list_extents(&self, stream: &str) -> io::Result<Vec<ExtentId>>;
    /// Creates a new, empty extent file; fails if it exists. Not durable until
    /// [`ExtentFile::sync_data`] and [`Storage::sync_stream_dir`].
    fn create_extent(&self, stream: &str, extent: ExtentId) -> io::Result<Self::File>;
    fn open_extent(&self, stream: &str, extent: ExtentId) -> io::Result<Self::File>;
    fn remove_extent(&self, stream: &str, extent: ExtentId) -> io::Result<()>;
    /// fsync of the stream's directory: makes creations and removals of extent files durable.
    fn sync_stream_dir(&self, stream: &str) -> io::Result<()>;
}
