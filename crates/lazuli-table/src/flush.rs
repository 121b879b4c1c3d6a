//! Flushing: the active memtable freezes (the commit log is sealed at that point), is written to
//! the rows stream as a checkpoint, and a manifest naming the checkpoint and the new log replay
//! position is appended to the meta stream. Only then are the old log extents deleted.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::checkpoint::CheckpointWriter;
use crate::manifest::ManifestCheckpoint;
use crate::memtable::Memtable;
use crate::table::TableInner;
use crate::version::{Frozen, Version};
use crate::Result;

impl TableInner {
    /// Writes the frozen memtable out, freezing the active one first if there is none and it is
    /// full (or `force`). Without a background thread, compacts afterwards if due.
    pub(crate) fn flush(&self, force: bool) -> Result<()> {
        let result = self.flush_once(force);
        self.after_background_work(&result, crate::table::BackgroundWork::Flush);
        result?;
        if !self.options.background {
            self.compact_if_needed()?;
        }
        Ok(())
    }

    fn flush_once(&self, force: bool) -> Result<()> {
        let _flushing = self.flush_lock.lock();
        self.check_writable()?;
        let v = self.current();
        if v.frozen.is_none() {
            let full = v.active.bytes() >= self.options.memtable_bytes_max;
            if v.active.is_empty() || !(force || full) {
                return Ok(());
            }
            self.freeze()?;
        }
        self.write_frozen()
    }

    /// Swaps in an empty memtable. Holding the gate exclusively means no batch is between taking
    /// its sequence number and reaching the memtable, so the frozen memtable holds exactly the
    /// batches numbered up to `highest_seq`, whose log records all lie before the seal.
    pub(crate) fn freeze(&self) -> Result<()> {
        let _gate = self.gate.write();
        let v = self.current();
        if v.frozen.is_some() || v.active.is_empty() {
            return Ok(());
        }
        self.log.seal()?;
        let frozen = Frozen {
            memtable: v.active.clone(),
            log_replay_from: self.log.end_position(),
            highest_seq: self.next_seq.load(Ordering::SeqCst) - 1,
        };
        let mut version = self.version.write();
        *version = Arc::new(Version {
            active: Arc::new(Memtable::new()),
            frozen: Some(frozen),
            checkpoints: version.checkpoints.clone(),
        });
        Ok(())
    }

    fn write_frozen(&self) -> Result<()> {
        let v = self.current();
        let Some(frozen) = v.frozen.clone() else { return Ok(()) };
        let (id, lowest_seq) = {
            let mut manifest = self.manifest.lock();
            let id = manifest.next_checkpoint_id;
            // Ids are taken now (not when the manifest is written) because a compaction may
            // write its manifest in between.
            manifest.next_checkpoint_id += 1;
            (id, manifest.highest_seq + 1)
        };
        // Nothing older than this memtable exists when there is no checkpoint: its tombstones
        // have nothing left to hide. (Only flushes add checkpoints, and they are serialized.)
        let drop_tombstones = v.checkpoints.is_empty();
        let waiting = self.rows_gate.flush_waiting();
        let mut writer = CheckpointWriter::new(
            &self.rows_gate,
            false,
            self.rows.clone(),
            id,
            self.options.block_bytes,
            frozen.memtable.len(),
            lowest_seq,
            frozen.highest_seq,
        );
        frozen.memtable.for_each(|key, value| {
            if value.is_none() && drop_tombstones {
                return Ok(());
            }
            writer.add(key, value)
        })?;
        let checkpoint = writer.finish()?;
        drop(waiting);

        let checkpoint = checkpoint.map(Arc::new);
        {
            let mut manifest = self.manifest.lock();
            let mut next = manifest.clone();
            next.generation += 1;
            next.highest_seq = frozen.highest_seq;
            next.log_replay_from = frozen.log_replay_from;
            if let Some(c) = &checkpoint {
                next.checkpoints.insert(0, ManifestCheckpoint { id, footer: c.footer });
            }
            self.write_manifest(&mut manifest, next)?;
            if let Some(c) = &checkpoint {
                for (&extent, &bytes) in c.extents() {
                    self.rows.add_live_bytes(extent, bytes as i64);
                }
            }
            let mut version = self.version.write();
            let mut checkpoints = version.checkpoints.clone();
            if let Some(c) = checkpoint {
                checkpoints.insert(0, c);
            }
            *version = Arc::new(Version {
                active: version.active.clone(),
                frozen: None,
                checkpoints,
            });
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.notify();
        self.reclaim_log(frozen.log_replay_from);
        Ok(())
    }

    /// Makes `next` the table's durable state: appends it to the meta stream, then drops the
    /// meta extents holding older manifests (the newest one always survives: its extent is kept).
    /// The caller holds the manifest lock and installs the matching version before releasing it.
    pub(crate) fn write_manifest(
        &self,
        current: &mut crate::manifest::Manifest,
        next: crate::manifest::Manifest,
    ) -> Result<()> {
        assert!(next.generation > current.generation, "manifest generations only grow");
        let record = crate::manifest::encode(&next);
        let location = self.meta.append(&[&record])?;
        let Some(location) = location.first().copied() else {
            return Err(crate::codec::corrupt("meta stream returned no location"));
        };
        *current = next;
        self.reclaim_meta(location.extent);
        Ok(())
    }
}
