//! The single-node store: one directory per stream under a root, one file per extent.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::stats::StreamStats;
use crate::storage::{ExtentFile, Storage};
use crate::stream::StoreCore;
use crate::{ExtentId, Result, StoreOptions, Stream, StreamError, StreamOptions, StreamStore};

/// Extent files are named `<16 lowercase hex digits of the id>.extent`, so that a directory
/// listing sorts them by id and anything else in the directory is ignored.
const EXTENT_SUFFIX: &str = ".extent";
const EXTENT_ID_HEX_DIGITS: usize = 16;

fn extent_file_name(extent: ExtentId) -> String {
    format!("{extent:016x}{EXTENT_SUFFIX}")
}

fn parse_extent_file_name(name: &str) -> Option<ExtentId> {
    let hex = name.strip_suffix(EXTENT_SUFFIX)?;
    let canonical =
        hex.len() == EXTENT_ID_HEX_DIGITS && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !canonical {
        return None;
    }
    ExtentId::from_str_radix(hex, 16).ok()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

pub(crate) struct DiskStorage {
    root: PathBuf,
}

impl DiskStorage {
    fn stream_dir(&self, stream: &str) -> PathBuf {
        // `stream` was validated by `validate_stream_name`: one plain path component.
        self.root.join(stream)
    }

    fn extent_path(&self, stream: &str, extent: ExtentId) -> PathBuf {
        self.stream_dir(stream).join(extent_file_name(extent))
    }
}

impl ExtentFile for File {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    #[cfg(target_os = "linux")]
    fn read_exact_at_cached(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<bool> {
        use rustix::io::{preadv2, Errno, ReadWriteFlags};
        while !buf.is_empty() {
            // RWF_NOWAIT reads what the page cache holds and fails with EAGAIN (or stops
            // short) where a page is missing.
            match preadv2(self, &mut [io::IoSliceMut::new(buf)], offset, ReadWriteFlags::NOWAIT) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(read) => {
                    buf = &mut buf[read..];
                    offset += read as u64;
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(false),
                // A kernel or file system without RWF_NOWAIT: every read goes the blocking way.
                Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => return Ok(false),
                Err(error) => return Err(error.into()),
            }
        }
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    fn read_exact_at_cached(&self, _buf: &mut [u8], _offset: u64) -> io::Result<bool> {
        Ok(false)
    }
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl Storage for DiskStorage {
    type File = File;

    fn create_stream(&self, stream: &str) -> io::Result<()> {
        let dir = self.stream_dir(stream);
        match fs::create_dir(&dir) {
            // The root's entry for the new directory must survive a crash before any extent
            // in it is acknowledged.
            Ok(()) => sync_dir(&self.root),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list_extents(&self, stream: &str) -> io::Result<Vec<ExtentId>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(self.stream_dir(stream))? {
            let entry = entry?;
            let name = entry.file_name();
            match name.to_str().and_then(parse_extent_file_name) {
                Some(id) => ids.push(id),
                None => {
                    tracing::warn!(stream, file = ?name, "ignoring a file that is not an extent")
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    fn create_extent(&self, stream: &str, extent: ExtentId) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.extent_path(stream, extent))
    }

    fn open_extent(&self, stream: &str, extent: ExtentId) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.extent_path(stream, extent))
    }

    fn remove_extent(&self, stream: &str, extent: ExtentId) -> io::Result<()> {
        fs::remove_file(self.extent_path(stream, extent))
    }

    fn sync_stream_dir(&self, stream: &str) -> io::Result<()> {
        sync_dir(&self.stream_dir(stream))
    }
}

/// Streams as directories of extent files under one root directory. One process per root:
/// two stores over the same root would corrupt each other's tails.
pub struct LocalStore {
    core: StoreCore<DiskStorage>,
}

impl LocalStore {
    /// Opens (creating if needed) a store rooted at `root`. Streams are recovered lazily, on
    /// their first [`StreamStore::open_stream`].
    pub fn open(root: &Path, options: StoreOptions) -> Result<Arc<LocalStore>> {
        let io_error = |source| StreamError::Io {
            stream: String::new(),
            source,
        };
        // Directories created here must be durable before a stream in them is: each new
        // directory's entry lives in its parent, so the parents are fsynced.
        let missing: Vec<&Path> = root.ancestors().take_while(|p| !p.exists()).collect();
        fs::create_dir_all(root).map_err(io_error)?;
        if options.sync {
            for created in missing.iter().rev() {
                let parent = match created.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                sync_dir(parent).map_err(io_error)?;
            }
        }
        let root = root.canonicalize().map_err(io_error)?;
        Ok(Arc::new(LocalStore {
            core: StoreCore::new(Arc::new(DiskStorage { root }), options),
        }))
    }

    /// The root directory (canonicalized).
    pub fn root(&self) -> &Path {
        &self.core.storage().root
    }

    /// Counters of this store alone (see [`crate::stats`] for the process-wide ones).
    pub fn stats(&self) -> StreamStats {
        self.core.counters().snapshot()
    }

    /// The path of an extent file, for tools and tests that inspect files directly.
    pub fn extent_path(&self, stream: &str, extent: ExtentId) -> Result<PathBuf> {
        crate::stream::validate_stream_name(stream)?;
        Ok(self.core.storage().extent_path(stream, extent))
    }
}

impl StreamStore for LocalStore {
    fn open_stream_with(&self, name: &str, options: StreamOptions) -> Result<Arc<dyn Stream>> {
        Ok(self.core.open_stream(name, options)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_file_names_roundtrip() {
        assert_eq!(extent_file_name(0x2a), "000000000000002a.extent");
        assert_eq!(parse_extent_file_name("000000000000002a.extent"), Some(0x2a));
        assert_eq!(parse_extent_file_name("000000000000002A.extent"), None);
        assert_eq!(parse_extent_file_name("2a.extent"), None);
        assert_eq!(parse_extent_file_name("000000000000002a.extent.tmp"), None);
        assert_eq!(parse_extent_file_name("+00000000000002a.extent"), None);
    }

    /// Bytes just written are in the page cache: a cached read returns them, across several
    /// pages and from an unaligned offset. (Skipped where the file system has no RWF_NOWAIT:
    /// there every cached read defers, which is correct but not what this checks.)
    #[cfg(target_os = "linux")]
    #[test]
    fn cached_reads_of_fresh_bytes_come_from_the_page_cache() {
        use rustix::io::{preadv2, Errno, ReadWriteFlags};
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("f"))
            .unwrap();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
        ExtentFile::write_all_at(&file, &data, 0).unwrap();
        let mut probe = [0u8; 1];
        if let Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) =
            preadv2(&file, &mut [io::IoSliceMut::new(&mut probe)], 0, ReadWriteFlags::NOWAIT)
        {
            return;
        }
        let mut buf = vec![0u8; 40_000];
        assert!(file.read_exact_at_cached(&mut buf, 1_234).unwrap());
        assert_eq!(buf, data[1_234..41_234]);
        // Past the end is an error, as for `read_exact_at`.
        let mut past = vec![0u8; 10];
        assert!(file.read_exact_at_cached(&mut past, 49_995).is_err());
    }
}
