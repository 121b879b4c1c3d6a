//! Reclaiming space: deleting the extents that no durable state references any more. Every
//! deletion here happens after the manifest that stopped referencing the extent is durable, so a
//! crash at any point leaves at worst unreferenced extents, which the next open deletes.

use std::collections::BTreeMap;

use lazuli_stream::{ExtentId, ExtentInfo, StreamPosition};

use crate::table::TableInner;

impl TableInner {
    /// Log extents wholly before the replay position hold only batches now in checkpoints.
    pub(crate) fn reclaim_log(&self, replay_from: StreamPosition) {
        for e in deletable(self.log.extents()) {
            if e.id < replay_from.extent {
                if let Err(err) = self.log.delete_extent(e.id) {
                    tracing::warn!(table = %self.name, extent = e.id, error = %err, "could not delete commit-log extent");
                }
            }
        }
    }

    /// Keeps the meta stream at about two extents: seal the extent holding the newest manifest
    /// (so the next one starts a new extent) and delete every extent before it.
    pub(crate) fn reclaim_meta(&self, newest_manifest_extent: ExtentId) {
        if let Err(err) = self.meta.seal() {
            tracing::warn!(table = %self.name, error = %err, "could not seal the meta stream");
            return;
        }
        for e in deletable(self.meta.extents()) {
            if e.id < newest_manifest_extent {
                if let Err(err) = self.meta.delete_extent(e.id) {
                    tracing::warn!(table = %self.name, extent = e.id, error = %err, "could not delete meta extent");
                }
            }
        }
    }

    /// At open: deletes rows extents no live checkpoint references (left by a flush or compaction
    /// that crashed before its manifest, or by one whose old checkpoints were not yet deleted) and
    /// sets the stream's live-byte counts to what the live checkpoints reference.
    pub(crate) fn reclaim_rows_at_open(&self, referenced: &BTreeMap<ExtentId, u64>) -> crate::Result<()> {
        // A crashed checkpoint write may have left the open extent half used.
        self.rows.seal()?;
        let extents = self.rows.extents();
        let last = extents.last().map(|e| e.id);
        for e in extents {
            let live = referenced.get(&e.id).copied().unwrap_or(0);
            if !referenced.contains_key(&e.id) {
                if e.sealed && Some(e.id) != last {
                    if let Err(err) = self.rows.delete_extent(e.id) {
                        tracing::warn!(table = %self.name, extent = e.id, error = %err, "could not delete orphan rows extent");
                    }
                }
                continue;
            }
            let delta = live as i64 - e.live_bytes as i64;
            if delta != 0 {
                self.rows.add_live_bytes(e.id, delta);
            }
        }
        Ok(())
    }
}

/// The stream layer never deletes an open extent, nor the last one (its id seeds the next id
/// after a restart).
fn deletable(mut extents: Vec<ExtentInfo>) -> impl Iterator<Item = ExtentInfo> {
    extents.pop();
    extents.into_iter().filter(|e| e.sealed)
}
