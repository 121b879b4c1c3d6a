//! A version: the set of sources a read consults, as one immutable snapshot. Readers clone the
//! current `Arc<Version>` and never block flushes or compactions; those publish a new version.

use std::sync::Arc;

use lazuli_stream::StreamPosition;

use crate::checkpoint::Checkpoint;
use crate::memtable::Memtable;

/// A memtable that no longer takes writes and is being written out as a checkpoint. Reads still
/// consult it until the checkpoint is installed.
#[derive(Clone)]
pub(crate) struct Frozen {
    pub memtable: Arc<Memtable>,
    /// The commit-log position where the records not in this memtable start (the log was sealed
    /// when it froze): the next manifest's replay position.
    pub log_replay_from: StreamPosition,
    /// Every batch up to this sequence number is in this memtable or older sources.
    pub highest_seq: u64,
}

#[derive(Clone)]
pub(crate) struct Version {
    pub active: Arc<Memtable>,
    pub frozen: Option<Frozen>,
    /// Newest first.
    pub checkpoints: Vec<Arc<Checkpoint>>,
}
