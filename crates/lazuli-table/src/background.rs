//! The background threads of a table: a flusher writes frozen memtables out and a compactor
//! merges checkpoints. They are separate so that a long compaction never delays a flush: writers
//! only wait when a second memtable fills before the first is written.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::table::TableInner;

/// How long failed background work waits before it is tried again (each try on a full disk
/// costs little, but seals an extent and burns a checkpoint id).
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn spawn(inner: &Arc<TableInner>) -> std::io::Result<Vec<JoinHandle<()>>> {
    let flusher = {
        let inner = inner.clone();
        std::thread::Builder::new()
            .name(format!("flush-{}", inner.name))
            .spawn(move || {
                run(&inner, |inner| {
                    let v = inner.current();
                    (v.frozen.is_some() || v.active.bytes() >= inner.options.memtable_bytes_max)
                        .then(|| inner.flush(false))
                })
            })?
    };
    let compactor = {
        let inner = inner.clone();
        std::thread::Builder::new()
            .name(format!("compact-{}", inner.name))
            .spawn(move || {
                run(&inner, |inner| {
                    let due = inner.current().checkpoints.len() >= inner.options.compaction_trigger_checkpoints.max(2);
                    due.then(|| inner.compact_if_needed())
                })
            })?
    };
    Ok(vec![flusher, compactor])
}

/// Runs `step` (which returns `None` when there is nothing to do) until shutdown.
fn run(inner: &TableInner, step: impl Fn(&TableInner) -> Option<crate::Result<()>>) {
    while !inner.shutdown.load(Ordering::Acquire) {
        if inner.poisoned.lock().is_some() {
            inner.wait();
            continue;
        }
        match step(inner) {
            None => inner.wait(),
            // Either the failing step poisoned the table (the loop idles until shutdown) or it
            // is retried after a pause (a full disk: see `after_background_work`).
            Some(Err(e)) => {
                tracing::debug!(table = %inner.name, error = %e, "background work failed");
                inner.pause(RETRY_PAUSE);
            }
            Some(Ok(())) => {}
        }
    }
}
