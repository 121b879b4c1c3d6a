//! Compaction: merging a run of adjacent checkpoints into one, dropping shadowed rows (and
//! tombstones, when the run reaches the oldest checkpoint so nothing older remains for them to
//! hide). The new manifest is written before the inputs are marked obsolete; their extents are
//! deleted once no reader holds them. A compaction runs beside flushes: it yields the rows stream
//! to a waiting flush, and flushes only add checkpoints in front of its inputs.

use std::sync::Arc;

use crate::checkpoint::{Checkpoint, CheckpointCursor, CheckpointWriter};
use crate::manifest::ManifestCheckpoint;
use crate::merge::{Merge, Source};
use crate::table::TableInner;
use crate::version::Version;
use crate::Result;

/// Size-tiered choice of which checkpoints to merge, given their sizes newest first: the newest
/// checkpoints, extended to older ones while each is at most twice the run so far. Merging only
/// similar sizes keeps write amplification logarithmic instead of rewriting the whole table every
/// few flushes. Returns the run as `start..end` indices into the newest-first list.
pub(crate) fn pick(sizes_newest_first: &[u64], trigger: usize) -> Option<(usize, usize)> {
    if sizes_newest_first.len() < trigger.max(2) {
        return None;
    }
    let mut total = sizes_newest_first[0];
    let mut end = 1;
    while end < sizes_newest_first.len() && sizes_newest_first[end] <= total.saturating_mul(2) {
        total += sizes_newest_first[end];
        end += 1;
    }
    Some((0, end.max(2)))
}

impl TableInner {
    /// Runs the size-tiered compaction if the table has `compaction_trigger_checkpoints` or more.
    pub(crate) fn compact_if_needed(&self) -> Result<()> {
        let result = self.compact_with(|checkpoints| {
            let sizes: Vec<u64> = checkpoints.iter().map(|c| c.size_bytes()).collect();
            pick(&sizes, self.options.compaction_trigger_checkpoints)
        });
        self.after_background_work(&result, crate::table::BackgroundWork::Compaction);
        result
    }

    /// Merges every checkpoint into one (dropping all tombstones and shadowed rows).
    pub(crate) fn compact_all(&self) -> Result<()> {
        let result = self.compact_with(|checkpoints| {
            let worth_it = checkpoints.len() > 1 || checkpoints.first().is_some_and(|c| c.summary.tombstones > 0);
            worth_it.then_some((0, checkpoints.len()))
        });
        self.after_background_work(&result, crate::table::BackgroundWork::Compaction);
        result
    }

    fn compact_with(&self, choose: impl FnOnce(&[Arc<Checkpoint>]) -> Option<(usize, usize)>) -> Result<()> {
        let _compacting = self.compaction_lock.lock();
        self.check_writable()?;
        let v = self.current();
        let Some((start, end)) = choose(&v.checkpoints) else {
            return Ok(());
        };
        let inputs: Vec<Arc<Checkpoint>> = v.checkpoints[start..end].to_vec();
        // Flushes add checkpoints only in front: if the run reaches the oldest checkpoint now, it
        // still does when the compaction ends.
        let drop_tombstones = end == v.checkpoints.len();
        drop(v);
        let id = {
            let mut manifest = self.manifest.lock();
            let id = manifest.next_checkpoint_id;
            manifest.next_checkpoint_id += 1;
            id
        };
        // Footer counts come from disk: add without overflow (the bloom size is capped too).
        let expected_keys: u64 = inputs.iter().fold(0u64, |sum, c| sum.saturating_add(c.summary.entries));
        let min_seq = inputs.iter().map(|c| c.summary.min_seq).min().unwrap_or(0);
        let max_seq = inputs.iter().map(|c| c.summary.max_seq).max().unwrap_or(0);
        let mut writer = CheckpointWriter::new(
            &self.rows_gate,
            true,
            self.rows.clone(),
            id,
            self.options.block_bytes,
            usize::try_from(expected_keys).unwrap_or(usize::MAX),
            min_seq,
            max_seq,
        );
        // Compaction reads around the block cache so a merge does not evict what serves reads.
        let sources = inputs
            .iter()
            .map(|c| CheckpointCursor::new(c.clone(), None, b"").map(Source::Checkpoint))
            .collect::<Result<Vec<_>>>()?;
        let mut merge = Merge::new(sources, None)?;
        while let Some((key, value)) = merge.next_row()? {
            if value.is_none() && drop_tombstones {
                continue;
            }
            writer.add(&key, value.as_deref())?;
        }
        let output = writer.finish()?.map(Arc::new);

        {
            let mut manifest = self.manifest.lock();
            let ids: Vec<u64> = inputs.iter().map(|c| c.id).collect();
            let at = manifest.checkpoints.iter().position(|c| c.id == ids[0]);
            let at = at.filter(|&at| {
                manifest
                    .checkpoints
                    .get(at..at + ids.len())
                    .is_some_and(|run| run.iter().map(|c| c.id).eq(ids.iter().copied()))
            });
            // Only this (serialized) compaction removes checkpoints, so its inputs are still there.
            let Some(at) = at else {
                panic!("compaction inputs {ids:?} vanished from the manifest")
            };
            let mut next = manifest.clone();
            next.generation += 1;
            let replacement: Vec<ManifestCheckpoint> = output
                .iter()
                .map(|c| ManifestCheckpoint { id, footer: c.footer })
                .collect();
            next.checkpoints.splice(at..at + ids.len(), replacement);
            self.write_manifest(&mut manifest, next)?;
            if let Some(c) = &output {
                for (&extent, &bytes) in c.extents() {
                    self.rows.add_live_bytes(extent, bytes as i64);
                }
            }
            let mut version = self.version.write();
            let mut checkpoints = version.checkpoints.clone();
            assert!(
                checkpoints
                    .get(at..at + ids.len())
                    .is_some_and(|run| run.iter().map(|c| c.id).eq(ids.iter().copied())),
                "version and manifest agree"
            );
            checkpoints.splice(at..at + ids.len(), output);
            *version = Arc::new(Version {
                active: version.active.clone(),
                frozen: version.frozen.clone(),
                checkpoints,
            });
        }
        for c in &inputs {
            c.mark_obsolete();
        }
        self.compactions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(table = %self.name, merged = inputs.len(), "compaction done");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn merges_similar_sizes_first() {
        assert_eq!(pick(&[10, 10, 10], 4), None);
        assert_eq!(pick(&[10, 10, 10, 10, 1000], 4), Some((0, 4)));
        assert_eq!(pick(&[10, 10, 10, 50, 1000], 4), Some((0, 4)));
        assert_eq!(pick(&[10, 10, 10, 10, 60], 4), Some((0, 5)));
        // A big newest checkpoint still merges with the next one.
        assert_eq!(pick(&[1000, 10, 10, 10], 4), Some((0, 4)));
        assert_eq!(pick(&[10, 1000, 1000, 1000], 4), Some((0, 2)));
    }
}
