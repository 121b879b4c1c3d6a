//! Striped locks that serialize the read-modify-write of one blob (conditions, block lists)
//! while writes to different blobs proceed in parallel and share group commits.

use std::hash::BuildHasher;

use lazuli_types::AzureError;
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Enough stripes that unrelated blobs rarely share one: a writer holds its blob's stripe until
/// its commit is durable, so at 64 concurrent Puts 1024 stripes made ~6 % of them wait out
/// another blob's fsync; 16384 make it ~0.4 %, for ~150 KiB.
const STRIPES: usize = 16384;

pub struct Locks {
    /// Container stripes: blob writes hold them shared, container deletion exclusive, so no
    /// blob row can be written into a container while it is being deleted.
    containers: Box<[RwLock<()>]>,
    blobs: Box<[Mutex<()>]>,
    /// Namespace stripes of HNS filesystems: changes to the tree (directories, renames,
    /// deletes, DFS writes) hold them exclusive; Blob writes of files under existing
    /// directories hold them shared (plus the blob's own lock), so they run in parallel and
    /// share group commits.
    namespaces: Box<[RwLock<()>]>,
    hasher: std::hash::RandomState,
}

impl Locks {
    pub fn new() -> Self {
        Locks {
            containers: (0..STRIPES).map(|_| RwLock::new(())).collect(),
            blobs: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            namespaces: (0..STRIPES).map(|_| RwLock::new(())).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn stripe(&self, parts: &[&str]) -> usize {
        (self.hasher.hash_one(parts) as usize) % STRIPES
    }

    pub fn container_shared(&self, account: &str, container: &str) -> RwLockReadGuard<'_, ()> {
        self.containers[self.stripe(&[account, container])].read()
    }

    pub fn container_exclusive(&self, account: &str, container: &str) -> RwLockWriteGuard<'_, ()> {
        self.containers[self.stripe(&[account, container])].write()
    }

    pub fn namespace_shared(&self, account: &str, filesystem: &str) -> RwLockReadGuard<'_, ()> {
        self.namespaces[self.stripe(&[account, filesystem])].read()
    }

    pub fn namespace_exclusive(&self, account: &str, filesystem: &str) -> RwLockWriteGuard<'_, ()> {
        self.namespaces[self.stripe(&[account, filesystem])].write()
    }

    pub fn blob(&self, account: &str, container: &str, blob: &str) -> MutexGuard<'_, ()> {
        self.blobs[self.stripe(&[account, container, blob])].lock()
    }

    // The `acquire_*` variants are for the paths that also run on the async threads inside
    // `lazuli_table::memory_only`: there they never wait. An async writer holds its locks
    // until its commit is durable, and that commit needs an async thread to finish; a runtime
    // thread waiting here could be the one it needs. So a held lock refuses instead, and the
    // request is retried on a blocking thread. Elsewhere they wait as the plain methods do.

    pub fn acquire_container_shared(
        &self,
        account: &str,
        container: &str,
    ) -> Result<RwLockReadGuard<'_, ()>, AzureError> {
        let lock = &self.containers[self.stripe(&[account, container])];
        acquire(|| lock.try_read(), || lock.read())
    }

    pub fn acquire_namespace_shared(
        &self,
        account: &str,
        filesystem: &str,
    ) -> Result<RwLockReadGuard<'_, ()>, AzureError> {
        let lock = &self.namespaces[self.stripe(&[account, filesystem])];
        acquire(|| lock.try_read(), || lock.read())
    }

    pub fn acquire_namespace_exclusive(
        &self,
        account: &str,
        filesystem: &str,
    ) -> Result<RwLockWriteGuard<'_, ()>, AzureError> {
        let lock = &self.namespaces[self.stripe(&[account, filesystem])];
        acquire(|| lock.try_write(), || lock.write())
    }

    pub fn acquire_blob(&self, account: &str, container: &str, blob: &str) -> Result<MutexGuard<'_, ()>, AzureError> {
        let lock = &self.blobs[self.stripe(&[account, container, blob])];
        acquire(|| lock.try_lock(), || lock.lock())
    }
}

/// The locks of [`Locks::for_consistent_read`].
pub struct ReadLocks<'a> {
    _namespace: Option<RwLockReadGuard<'a, ()>>,
    _blob: MutexGuard<'a, ()>,
}

impl Locks {
    /// The locks every writer of a blob's row takes, for a reader that must see the row and
    /// rows read apart from it (a page map's chunks) with no write in between: the blob's
    /// lock, and on an HNS filesystem the namespace shared (tree changes hold it exclusive).
    /// Each waits at most `wait` (a reader that already holds one of these stripes for
    /// another blob must not wait forever), `None` if that passed; inside `memory_only` they
    /// refuse instead of waiting.
    pub fn for_consistent_read(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        hns: bool,
        wait: std::time::Duration,
    ) -> Result<Option<ReadLocks<'_>>, AzureError> {
        let namespace = &self.namespaces[self.stripe(&[account, container])];
        let blob_lock = &self.blobs[self.stripe(&[account, container, blob])];
        let namespace = match hns {
            false => None,
            true => match acquire(|| namespace.try_read().map(Some), || namespace.try_read_for(wait))? {
                Some(guard) => Some(guard),
                None => return Ok(None),
            },
        };
        let blob = acquire(|| blob_lock.try_lock().map(Some), || blob_lock.try_lock_for(wait))?;
        Ok(blob.map(|blob| ReadLocks {
            _namespace: namespace,
            _blob: blob,
        }))
    }
}

/// Takes a lock with `lock`, or inside `memory_only` with `try_lock` only: a lock an async
/// thread may not wait for refuses the call (`memory_only` then returns `None`).
fn acquire<G>(try_lock: impl FnOnce() -> Option<G>, lock: impl FnOnce() -> G) -> Result<G, AzureError> {
    if !lazuli_table::in_memory_only() {
        return Ok(lock());
    }
    try_lock().ok_or_else(|| {
        lazuli_table::refuse_to_wait();
        AzureError::internal("A lock was held; the operation is retried on a blocking thread.")
    })
}
