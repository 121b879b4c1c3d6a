//! An in-memory store with the same framing, group commit and recovery as [`crate::LocalStore`]
//! (it runs the same engine over an in-memory file system), plus fault injection and crash
//! simulation for tests of this crate and of the layers above.
//!
//! Each in-memory extent file keeps two images: what was written (the page cache) and what
//! was synced (the disk). [`MemStore::crash`] and friends build a new store from one of them.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::stats::StreamStats;
use crate::storage::{ExtentFile, Storage};
use crate::stream::StoreCore;
use crate::{ExtentId, Result, StoreOptions, Stream, StreamOptions, StreamStore};

/// Faults to inject, counted from the moment the plan is set with [`MemStore::set_faults`].
/// Each fault fires once. "Writes" are all positional writes to extent files (including the
/// 24-byte header written when an extent is created); "syncs" are file and directory syncs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The n-th write (1-based) fails and nothing of it lands; the store stays usable.
    pub fail_write: Option<u64>,
    /// The n-th write lands only a prefix, then fails as if the process died mid-write: from
    /// then on every write, sync and truncation of this store fails. Use one of the crash
    /// methods to get the restarted store.
    pub tear_write: Option<TornWrite>,
    /// The n-th sync fails (the stream that asked for it becomes poisoned).
    pub fail_sync: Option<u64>,
}

/// See [`FaultPlan::tear_write`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornWrite {
    /// Which write (1-based) is torn.
    pub nth: u64,
    /// How many of its bytes land (clamped to one less than the write's length).
    pub keep_bytes: usize,
}

impl FaultPlan {
    pub fn new() -> Self {
        Self::default()
    }
    /// See [`FaultPlan::fail_write`].
    pub fn fail_nth_write(mut self, nth: u64) -> Self {
        self.fail_write = Some(nth);
        self
    }
    /// See [`FaultPlan::tear_write`].
    pub fn tear_nth_write(mut self, nth: u64, keep_bytes: usize) -> Self {
        self.tear_write = Some(TornWrite { nth, keep_bytes });
        self
    }
    /// See [`FaultPlan::fail_sync`].
    pub fn fail_nth_sync(mut self, nth: u64) -> Self {
        self.fail_sync = Some(nth);
        self
    }
}

#[derive(Default)]
struct FaultState {
    plan: FaultPlan,
    writes: u64,
    syncs: u64,
    /// Set by a torn write or a crash: the "process" that owned this store is gone.
    dead: bool,
    /// Reads find nothing in memory (see [`MemStore::set_cold_reads`]).
    cold_reads: bool,
}

enum WriteFault {
    None,
    Fail,
    Tear(usize),
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

impl FaultState {
    fn check_alive(&self) -> io::Result<()> {
        if self.dead {
            return Err(injected("store crashed"));
        }
        Ok(())
    }

    fn on_write(&mut self) -> io::Result<WriteFault> {
        self.check_alive()?;
        self.writes += 1;
        if self.plan.fail_write == Some(self.writes) {
            return Ok(WriteFault::Fail);
        }
        if let Some(tear) = self.plan.tear_write.filter(|t| t.nth == self.writes) {
            self.dead = true;
            return Ok(WriteFault::Tear(tear.keep_bytes));
        }
        Ok(WriteFault::None)
    }

    fn on_sync(&mut self) -> io::Result<()> {
        self.check_alive()?;
        self.syncs += 1;
        if self.plan.fail_sync == Some(self.syncs) {
            return Err(injected("sync failed"));
        }
        Ok(())
    }
}

/// Where writes to extent files wait while a test holds them (see [`MemStore::hold_writes`]):
/// a disk that stalls, to show who waits on whom.
#[derive(Default)]
struct WriteHold {
    state: Mutex<HoldState>,
    changed: Condvar,
}

#[derive(Default)]
struct HoldState {
    holding: bool,
    /// Writes that may still pass while holding.
    passes: u64,
    /// The names of the threads whose writes wait now, in arrival order.
    waiting: Vec<String>,
}

impl WriteHold {
    fn pass(&self) {
        let mut state = self.state.lock();
        if !state.holding {
            return;
        }
        let name = std::thread::current().name().unwrap_or("").to_owned();
        state.waiting.push(name.clone());
        self.changed.notify_all();
        while state.holding && state.passes == 0 {
            self.changed.wait(&mut state);
        }
        if let Some(at) = state.waiting.iter().position(|waiting| *waiting == name) {
            state.waiting.remove(at);
        }
        if state.holding {
            state.passes -= 1;
        }
        self.changed.notify_all();
    }
}

#[derive(Default)]
struct FileData {
    /// What was written: the page cache.
    current: Vec<u8>,
    /// What was synced: the disk.
    synced: Vec<u8>,
    /// Lowest offset changed since the last sync; syncs copy from here on, so a sync costs
    /// the new bytes, not the whole extent. Invariant: `dirty_from <= synced.len()`.
    dirty_from: usize,
}

impl FileData {
    fn from_image(image: Vec<u8>) -> Self {
        FileData {
            dirty_from: image.len(),
            synced: image.clone(),
            current: image,
        }
    }

    /// The unsynced bytes past the synced image, if every change since the last sync was an
    /// append (the only shape the stream engine produces between syncs).
    fn unsynced_tail(&self) -> &[u8] {
        if self.dirty_from == self.synced.len() && self.current.len() > self.synced.len() {
            &self.current[self.synced.len()..]
        } else {
            &[]
        }
    }
}

struct MemFile {
    faults: Arc<Mutex<FaultState>>,
    hold: Arc<WriteHold>,
    data: Mutex<FileData>,
}

/// Handle to an in-memory extent file.
pub(crate) struct MemFileHandle(Arc<MemFile>);

impl ExtentFile for MemFileHandle {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.hold.pass();
        let fault = self.0.faults.lock().on_write()?;
        let (landed, result) = match fault {
            WriteFault::None => (buf, Ok(())),
            WriteFault::Fail => return Err(injected("write failed")),
            WriteFault::Tear(keep) => {
                let keep = keep.min(buf.len().saturating_sub(1));
                (&buf[..keep], Err(injected("torn write")))
            }
        };
        let offset = usize::try_from(offset).map_err(|_| injected("offset too large"))?;
        let mut data = self.0.data.lock();
        let end = offset + landed.len();
        if data.current.len() < end {
            data.current.resize(end, 0);
        }
        data.current[offset..end].copy_from_slice(landed);
        data.dirty_from = data.dirty_from.min(offset);
        result
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = self.0.data.lock();
        let src = usize::try_from(offset)
            .ok()
            .and_then(|start| data.current.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn read_exact_at_cached(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        if self.0.faults.lock().cold_reads {
            return Ok(false);
        }
        self.read_exact_at(buf, offset).map(|()| true)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.faults.lock().on_sync()?;
        let mut data = self.0.data.lock();
        let FileData {
            current,
            synced,
            dirty_from,
        } = &mut *data;
        let from = (*dirty_from).min(current.len());
        synced.truncate(from);
        synced.extend_from_slice(&current[from..]);
        *dirty_from = current.len();
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.faults.lock().check_alive()?;
        let len = usize::try_from(len).map_err(|_| injected("length too large"))?;
        let mut data = self.0.data.lock();
        let old_len = data.current.len();
        data.current.resize(len, 0);
        data.dirty_from = data.dirty_from.min(len.min(old_len));
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.data.lock().current.len() as u64)
    }
}

#[derive(Default)]
struct MemDir {
    /// Files as the running process sees them.
    files: BTreeMap<ExtentId, Arc<MemFile>>,
    /// Files whose directory entries were synced: what a power loss leaves.
    durable: BTreeMap<ExtentId, Arc<MemFile>>,
}

pub(crate) struct MemStorage {
    faults: Arc<Mutex<FaultState>>,
    hold: Arc<WriteHold>,
    dirs: Mutex<BTreeMap<String, MemDir>>,
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl Storage for MemStorage {
    type File = MemFileHandle;

    fn create_stream(&self, stream: &str) -> io::Result<()> {
        self.dirs.lock().entry(stream.to_owned()).or_default();
        Ok(())
    }

    fn list_extents(&self, stream: &str) -> io::Result<Vec<ExtentId>> {
        let dirs = self.dirs.lock();
        let dir = dirs.get(stream).ok_or_else(not_found)?;
        Ok(dir.files.keys().copied().collect())
    }

    fn create_extent(&self, stream: &str, extent: ExtentId) -> io::Result<MemFileHandle> {
        self.faults.lock().check_alive()?;
        let mut dirs = self.dirs.lock();
        let dir = dirs.get_mut(stream).ok_or_else(not_found)?;
        if dir.files.contains_key(&extent) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let file = Arc::new(MemFile {
            faults: self.faults.clone(),
            hold: self.hold.clone(),
            data: Mutex::new(FileData::default()),
        });
        dir.files.insert(extent, file.clone());
        Ok(MemFileHandle(file))
    }

    fn open_extent(&self, stream: &str, extent: ExtentId) -> io::Result<MemFileHandle> {
        let dirs = self.dirs.lock();
        let file = dirs
            .get(stream)
            .and_then(|dir| dir.files.get(&extent))
            .ok_or_else(not_found)?;
        Ok(MemFileHandle(file.clone()))
    }

    fn remove_extent(&self, stream: &str, extent: ExtentId) -> io::Result<()> {
        self.faults.lock().check_alive()?;
        let mut dirs = self.dirs.lock();
        let dir = dirs.get_mut(stream).ok_or_else(not_found)?;
        dir.files.remove(&extent).map(|_| ()).ok_or_else(not_found)
    }

    fn sync_stream_dir(&self, stream: &str) -> io::Result<()> {
        self.faults.lock().on_sync()?;
        let mut dirs = self.dirs.lock();
        let dir = dirs.get_mut(stream).ok_or_else(not_found)?;
        dir.durable = dir.files.clone();
        Ok(())
    }
}

/// Which bytes survive a simulated crash.
#[derive(Clone, Copy, Debug)]
enum Survivors {
    /// Power loss: only synced bytes and synced directory entries.
    Synced,
    /// Power loss during writeback: synced bytes plus a random prefix of each file's
    /// unsynced tail.
    TornTail { seed: u64 },
    /// Process crash: the kernel still had every written byte.
    Written,
}

/// A small deterministic generator (splitmix64), so crash tests replay from their seed
/// without a dependency.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An in-memory [`StreamStore`] with fault injection. Cheap to create; one per test.
pub struct MemStore {
    core: StoreCore<MemStorage>,
    options: StoreOptions,
}

impl MemStore {
    /// A store with default options (1 GiB extents, syncing on).
    pub fn new() -> Arc<MemStore> {
        Self::with_options(StoreOptions::default())
    }

    pub fn with_options(options: StoreOptions) -> Arc<MemStore> {
        Self::from_dirs(BTreeMap::new(), options)
    }

    fn from_dirs(dirs: BTreeMap<String, MemDir>, options: StoreOptions) -> Arc<MemStore> {
        let faults = Arc::new(Mutex::new(FaultState::default()));
        let hold = Arc::new(WriteHold::default());
        // Files restored from a crash image belong to the old store's fault state; rebind.
        let dirs = dirs
            .into_iter()
            .map(|(name, dir)| {
                let rebind = |files: BTreeMap<ExtentId, Arc<MemFile>>| {
                    files
                        .into_iter()
                        .map(|(id, f)| {
                            let data = std::mem::take(&mut *f.data.lock());
                            let file = MemFile {
                                faults: faults.clone(),
                                hold: hold.clone(),
                                data: Mutex::new(data),
                            };
                            (id, Arc::new(file))
                        })
                        .collect::<BTreeMap<_, _>>()
                };
                let files = rebind(dir.files);
                let durable = files.clone();
                (name, MemDir { files, durable })
            })
            .collect();
        Arc::new(MemStore {
            core: StoreCore::new(
                Arc::new(MemStorage {
                    faults,
                    hold,
                    dirs: Mutex::new(dirs),
                }),
                options.clone(),
            ),
            options,
        })
    }

    /// Replaces the fault plan and restarts the write and sync counts it refers to.
    pub fn set_faults(&self, plan: FaultPlan) {
        let mut faults = self.core.storage().faults.lock();
        faults.plan = plan;
        faults.writes = 0;
        faults.syncs = 0;
    }

    /// Writes since the fault plan was last set (to aim a fault at a known write).
    pub fn writes(&self) -> u64 {
        self.core.storage().faults.lock().writes
    }

    /// From now on every write to an extent file waits (uncounted, before any fault) until
    /// [`MemStore::pass_writes`] or [`MemStore::release_writes`] lets it through.
    pub fn hold_writes(&self) {
        let hold = &self.core.storage().hold;
        let mut state = hold.state.lock();
        state.holding = true;
        state.passes = 0;
    }

    /// Lets `count` held (or later) writes through; the hold stays.
    pub fn pass_writes(&self, count: u64) {
        let hold = &self.core.storage().hold;
        hold.state.lock().passes += count;
        hold.changed.notify_all();
    }

    /// Ends the hold: every waiting and later write goes through.
    pub fn release_writes(&self) {
        let hold = &self.core.storage().hold;
        hold.state.lock().holding = false;
        hold.changed.notify_all();
    }

    /// Waits until the writes waiting at the hold come from exactly these threads (by name, in
    /// arrival order), for at most `limit`; true if they do.
    pub fn wait_for_held_writes(&self, threads: &[&str], limit: std::time::Duration) -> bool {
        let hold = &self.core.storage().hold;
        let deadline = std::time::Instant::now() + limit;
        let mut state = hold.state.lock();
        while state.waiting != threads {
            if hold.changed.wait_until(&mut state, deadline).timed_out() {
                return state.waiting == threads;
            }
        }
        true
    }

    /// With `cold`, every read that may only use memory finds nothing there, as if the page
    /// cache had been dropped; ordinary reads are unaffected.
    pub fn set_cold_reads(&self, cold: bool) {
        self.core.storage().faults.lock().cold_reads = cold;
    }

    /// Syncs (file and directory) since the fault plan was last set.
    pub fn syncs(&self) -> u64 {
        self.core.storage().faults.lock().syncs
    }

    /// Inverts every bit of one stored byte, in both the written and the synced image (bit
    /// rot on the disk). Returns false if the extent or offset does not exist.
    pub fn corrupt_byte(&self, stream: &str, extent: ExtentId, offset: u64) -> bool {
        let dirs = self.core.storage().dirs.lock();
        let Some(file) = dirs.get(stream).and_then(|d| d.files.get(&extent)) else {
            return false;
        };
        let mut data = file.data.lock();
        let Ok(at) = usize::try_from(offset) else {
            return false;
        };
        let FileData { current, synced, .. } = &mut *data;
        let mut flipped = false;
        for image in [current, synced] {
            if let Some(byte) = image.get_mut(at) {
                *byte ^= 0xFF;
                flipped = true;
            }
        }
        flipped
    }

    /// The written bytes of an extent file, header included (for tests that inspect layout).
    pub fn extent_bytes(&self, stream: &str, extent: ExtentId) -> Option<Vec<u8>> {
        let dirs = self.core.storage().dirs.lock();
        let file = dirs.get(stream)?.files.get(&extent)?;
        let bytes = file.data.lock().current.clone();
        Some(bytes)
    }

    /// Counters of this store alone.
    pub fn stats(&self) -> StreamStats {
        self.core.counters().snapshot()
    }

    /// Simulates a power loss and restart: the new store holds only synced bytes of files
    /// whose directory entries were synced. This store is dead afterwards (its writes and
    /// syncs fail), like the process that owned it.
    pub fn crash(&self) -> Arc<MemStore> {
        self.crash_with(Survivors::Synced)
    }

    /// Like [`MemStore::crash`], but each file also keeps a random prefix (chosen from
    /// `seed`) of its unsynced tail, as when writeback was cut short: torn records.
    pub fn crash_torn(&self, seed: u64) -> Arc<MemStore> {
        self.crash_with(Survivors::TornTail { seed })
    }

    /// Simulates a process crash (the machine stays up): every written byte survives,
    /// synced or not, including the prefix of a torn write.
    pub fn crash_process(&self) -> Arc<MemStore> {
        self.crash_with(Survivors::Written)
    }

    fn crash_with(&self, survivors: Survivors) -> Arc<MemStore> {
        let storage = self.core.storage();
        storage.faults.lock().dead = true;
        let mut rng = match survivors {
            Survivors::TornTail { seed } => seed,
            _ => 0,
        };
        let dirs = storage.dirs.lock();
        let mut image = BTreeMap::new();
        for (name, dir) in dirs.iter() {
            let files = match survivors {
                Survivors::Written => &dir.files,
                Survivors::Synced | Survivors::TornTail { .. } => &dir.durable,
            };
            let mut kept = BTreeMap::new();
            for (id, file) in files {
                let data = file.data.lock();
                let bytes = match survivors {
                    Survivors::Written => data.current.clone(),
                    Survivors::Synced => data.synced.clone(),
                    Survivors::TornTail { .. } => {
                        let tail = data.unsynced_tail();
                        let keep = (splitmix64(&mut rng) % (tail.len() as u64 + 1)) as usize;
                        let mut bytes = data.synced.clone();
                        bytes.extend_from_slice(&tail[..keep]);
                        bytes
                    }
                };
                let file = MemFile {
                    faults: storage.faults.clone(),
                    hold: storage.hold.clone(),
                    data: Mutex::new(FileData::from_image(bytes)),
                };
                kept.insert(*id, Arc::new(file));
            }
            image.insert(
                name.clone(),
                MemDir {
                    durable: kept.clone(),
                    files: kept,
                },
            );
        }
        Self::from_dirs(image, self.options.clone())
    }
}

#[cfg(test)]
impl MemStore {
    /// The stream itself, for tests that look inside it.
    pub(crate) fn stream_core(&self, name: &str) -> Arc<crate::stream::StreamCore<MemStorage>> {
        self.core
            .open_stream(name, StreamOptions::default())
            .expect("open stream")
    }
}

impl StreamStore for MemStore {
    fn open_stream_with(&self, name: &str, options: StreamOptions) -> Result<Arc<dyn Stream>> {
        Ok(self.core.open_stream(name, options)?)
    }
}
