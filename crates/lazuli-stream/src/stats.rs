//! Counters for metrics, kept in atomics so the append path never takes a lock for them.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of stream-layer counters (monotonic since process start or store creation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Successful [`crate::Stream::append`] calls.
    pub appends: u64,
    /// Records in those calls.
    pub records: u64,
    /// Payload bytes in those records (frames excluded).
    pub bytes: u64,
    /// Data syncs (fdatasync) of extent files; with group commit, far fewer than appends.
    pub syncs: u64,
    /// Time spent in those syncs, in nanoseconds.
    pub sync_nanos_total: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    appends: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    syncs: AtomicU64,
    sync_nanos_total: AtomicU64,
}

pub(crate) static GLOBAL: Counters = Counters {
    appends: AtomicU64::new(0),
    records: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
    syncs: AtomicU64::new(0),
    sync_nanos_total: AtomicU64::new(0),
};

impl Counters {
    pub(crate) fn record_append(&self, records: u64, bytes: u64) {
        for c in [self, &GLOBAL] {
            c.appends.fetch_add(1, Ordering::Relaxed);
            c.records.fetch_add(records, Ordering::Relaxed);
            c.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_sync(&self, nanos: u64) {
        for c in [self, &GLOBAL] {
            c.syncs.fetch_add(1, Ordering::Relaxed);
            c.sync_nanos_total.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> StreamStats {
        StreamStats {
            appends: self.appends.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            sync_nanos_total: self.sync_nanos_total.load(Ordering::Relaxed),
        }
    }
}

/// Process-wide counters over every store (what the HTTP layer exports to Prometheus).
pub fn stats() -> StreamStats {
    GLOBAL.snapshot()
}
