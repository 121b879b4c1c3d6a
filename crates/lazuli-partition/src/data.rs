//! The blob-data stream: where blob bodies live, how their space is accounted and reclaimed.
//!
//! Every segment carries a reference count, kept in memory: an upload holds one reference
//! from the moment it appends the segment (so data in flight is never collected), and every
//! row that names the segment holds one (a row counts each segment once, however often it
//! names it). Snapshots, versions and reused committed blocks share segments this way. A
//! writer takes the new row's references after the row is durable, then drops the old row's
//! and its own; a segment whose count falls to zero stops counting toward its extent's live
//! bytes. After a restart the counts are rebuilt from the rows. An extent whose live bytes stay
//! at zero for the grace period is deleted.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use lazuli_stream::{ExtentId, RecordLocation};
use parking_lot::Mutex;

use crate::rows::{self, BlobRow, BlockRow, Segment};
use crate::{keys, Partition, PartitionError};

/// Rows read per scan while rebuilding live-byte counts or looking for references. Each row
/// comes with its value, which for a small blob is its body (up to 64 KiB): 4096 rows could
/// hold a quarter of a GiB at once while a server opens.
const REBUILD_SCAN_ROWS: usize = 256;
/// Kinds of rows that hold segment references: blobs and their sub-rows, page map chunks,
/// uncommitted blocks, and, of HNS accounts (`hns.rs`), paths and their staged appends.
const REFERENCING_KINDS: [&[u8]; 5] = [b"B", b"G", b"K", b"P", b"Q"];
/// A sealed extent whose live bytes fall below this fraction of its size is rewritten: its
/// live segments are copied to the open extent so that the whole extent can be dropped.
/// At one half, each live byte is copied at most once per halving of its extent, bounding
/// the write amplification of collection to 2x.
const REWRITE_LIVE_FRACTION: f64 = 0.5;

#[derive(Default)]
pub(crate) struct GcState {
    /// Extents seen with no live bytes, and since when.
    dead_since: Mutex<HashMap<ExtentId, Instant>>,
    /// References held on each live segment.
    references: Mutex<HashMap<Segment, u32>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub extents_deleted: usize,
    pub bytes_reclaimed: u64,
    pub extents_sealed: usize,
    /// Extents whose live segments were copied elsewhere (dropped on a later pass).
    pub extents_rewritten: usize,
    pub bytes_copied: u64,
}

impl Partition {
    /// Appends one segment of a blob body durably; the caller holds its one reference until
    /// it passes the segment to a row (and then releases it) or gives up.
    pub fn append_segment(&self, bytes: &[u8]) -> Result<Segment, PartitionError> {
        if let Some(refused) = lazuli_table::refuse_io() {
            // An async thread must not wait for a sync: refused, retried on a blocking thread.
            return Err(refused.into());
        }
        let locations = self.data.append(&[bytes])?;
        self.take_appended_segment(&locations)
    }

    /// [`Partition::append_segment`] for a task on the runtime's threads: the segment is
    /// queued when the call returns and written and synced by the stream's sync thread, and
    /// no thread waits for it. If the future is dropped, the bytes are written but never
    /// referenced: garbage for the collector, as a failed upload's segments are.
    pub async fn append_segment_async(&self, bytes: &[u8]) -> Result<Segment, PartitionError> {
        let locations = self.data.append_async(&[bytes]).await?;
        self.take_appended_segment(&locations)
    }

    /// The segment one appended record became, with the uploader's reference on it.
    fn take_appended_segment(&self, locations: &[RecordLocation]) -> Result<Segment, PartitionError> {
        let location = locations
            .first()
            .copied()
            .ok_or_else(|| PartitionError::Corrupt("append returned no location".into()))?;
        let segment = Segment::from(location);
        self.reference_segments(&[segment]);
        Ok(segment)
    }

    /// Copies `slices` (a segment and the bytes of it to keep, in order) into new segments as
    /// large as the segment limit allows, reading once, for consecutive slices of a segment,
    /// the span of it that they cover (small page extents are often a few KiB of a 4 MiB
    /// segment); `held` takes the caller's references on the new segments, which are returned
    /// in order. Merging small appended blocks and page extents copies through here.
    pub(crate) fn copy_into_segments(
        &self,
        slices: &[(Segment, std::ops::Range<usize>)],
        held: &mut Vec<Segment>,
    ) -> Result<Vec<Segment>, PartitionError> {
        let piece_max = self.options.segment_bytes_max.clamp(1, u32::MAX as usize);
        let mut copies = Vec::new();
        let mut piece = Vec::new();
        let mut flush = |piece: &mut Vec<u8>| -> Result<(), PartitionError> {
            let segment = self.append_segment(piece)?;
            held.push(segment);
            copies.push(segment);
            piece.clear();
            Ok(())
        };
        let past_segment = || PartitionError::Corrupt("a copied slice reaches past its segment".into());
        // The segment read last, the offset in it where the bytes read start, and the bytes.
        let mut last_read: Option<(Segment, usize, Vec<u8>)> = None;
        for (index, (segment, range)) in slices.iter().enumerate() {
            let covered = last_read.as_ref().is_some_and(|(read, from, bytes)| {
                read == segment && range.start >= *from && range.end <= from + bytes.len()
            });
            if !covered {
                let run = slices[index..].iter().take_while(|(other, _)| other == segment);
                let (from, to) = run.fold((range.start, range.end), |(from, to), (_, r)| {
                    (from.min(r.start), to.max(r.end))
                });
                let (skip, len) = (u32::try_from(from), u32::try_from(to - from));
                let (Ok(skip), Ok(len)) = (skip, len) else {
                    return Err(past_segment());
                };
                last_read = Some((*segment, from, self.read_segment_range(*segment, skip, len)?));
            }
            let (from, bytes) = last_read
                .as_ref()
                .map_or((0, &[][..]), |(_, from, bytes)| (*from, bytes.as_slice()));
            let mut part = bytes
                .get(range.start - from..range.end - from)
                .ok_or_else(past_segment)?;
            while !part.is_empty() {
                let take = part.len().min(piece_max - piece.len());
                piece.extend_from_slice(&part[..take]);
                part = &part[take..];
                if piece.len() == piece_max {
                    flush(&mut piece)?;
                }
            }
        }
        if !piece.is_empty() {
            flush(&mut piece)?;
        }
        Ok(copies)
    }

    /// Takes one reference on each distinct segment.
    pub fn reference_segments<'a>(&self, segments: impl IntoIterator<Item = &'a Segment>) {
        let unique: HashSet<Segment> = segments.into_iter().copied().collect();
        let mut references = self.gc.references.lock();
        for segment in unique {
            let count = references.entry(segment).or_insert(0);
            *count += 1;
            if *count == 1 {
                self.data.add_live_bytes(segment.extent, segment.len as i64);
            }
        }
    }

    /// Reads one segment, checksum-verified by the stream layer.
    pub fn read_segment(&self, segment: Segment) -> Result<Vec<u8>, PartitionError> {
        Ok(self.data.read(RecordLocation::from(segment))?)
    }

    /// [`Partition::read_segment`] if its bytes are all in memory now, without waiting for
    /// the disk; `None` otherwise.
    pub fn read_segment_cached(&self, segment: Segment) -> Result<Option<Vec<u8>>, PartitionError> {
        Ok(self.data.read_cached(RecordLocation::from(segment))?)
    }

    /// `len` bytes of a segment from `skip` on, verified; segments written since blob data
    /// has had checksums per 64 KiB cost only the chunks the range touches.
    pub fn read_segment_range(&self, segment: Segment, skip: u32, len: u32) -> Result<Vec<u8>, PartitionError> {
        Ok(self.data.read_range(RecordLocation::from(segment), skip, len)?)
    }

    /// Whether [`Partition::read_segment_range`] reads only the 64 KiB chunks of its range
    /// (segments written before blob data had checksums per chunk are read whole).
    pub fn reads_ranges_by_chunk(&self, segment: Segment) -> bool {
        self.data.reads_ranges_by_chunk(RecordLocation::from(segment))
    }

    /// [`Partition::read_segment_range`] if the bytes it needs are all in memory now; `None`
    /// otherwise.
    pub fn read_segment_range_cached(
        &self,
        segment: Segment,
        skip: u32,
        len: u32,
    ) -> Result<Option<Vec<u8>>, PartitionError> {
        Ok(self.data.read_range_cached(RecordLocation::from(segment), skip, len)?)
    }

    /// Drops one reference on each distinct segment; a segment nobody references any more
    /// stops counting as live.
    pub fn release_segments<'a>(&self, segments: impl IntoIterator<Item = &'a Segment>) {
        let unique: HashSet<Segment> = segments.into_iter().copied().collect();
        let mut references = self.gc.references.lock();
        for segment in unique {
            let Some(count) = references.get_mut(&segment) else {
                debug_assert!(false, "released an unreferenced segment {segment:?}");
                continue;
            };
            *count -= 1;
            if *count == 0 {
                references.remove(&segment);
                self.data.add_live_bytes(segment.extent, -(segment.len as i64));
            }
        }
    }

    /// The data segments a blob, page map chunk or block row references.
    pub(crate) fn segments_of_row(&self, key: &[u8], value: &[u8]) -> Result<Vec<Segment>, PartitionError> {
        match key.first() {
            // The `_parts` decoders leave a small body where it is (`decode_blob` would copy
            // it): only the segments are wanted, at start-up for every row.
            Some(b'B') => Ok(rows::decode_blob_parts(value)?.0.segments().copied().collect()),
            Some(b'G') => Ok(crate::row_codec::decode_page_chunk(value)?
                .iter()
                .map(|page| page.segment)
                .collect()),
            Some(b'K') | Some(b'Q') => Ok(rows::decode::<BlockRow>(value)?.0.segments),
            Some(b'P') => Ok(rows::decode_path_parts(value, None)?
                .0
                .blob
                .segments()
                .copied()
                .collect()),
            _ => Ok(Vec::new()),
        }
    }

    pub(crate) fn rebuild_live_bytes(&self) -> Result<(), PartitionError> {
        for kind in REFERENCING_KINDS {
            let end = keys::prefix_end(kind);
            let mut start = kind.to_vec();
            loop {
                let found = self.table.scan(&start, end.as_deref(), REBUILD_SCAN_ROWS)?;
                let Some((last_key, _)) = found.last() else { break };
                start = [last_key.as_slice(), &[0]].concat();
                for (key, value) in &found {
                    self.reference_segments(&self.segments_of_row(key, value)?);
                }
                if found.len() < REBUILD_SCAN_ROWS {
                    break;
                }
            }
        }
        Ok(())
    }

    /// One garbage-collection pass over the blob-data stream: extents with no live bytes for
    /// the grace period are deleted; an open extent with no live bytes is sealed so that it
    /// can be deleted on a later pass.
    pub fn collect_garbage(&self) -> Result<GcReport, PartitionError> {
        let mut report = GcReport::default();
        let extents = self.data.extents();
        let open_extent = extents.last().filter(|e| !e.sealed).map(|e| e.id);
        let mut dead_since = self.gc.dead_since.lock();
        let now = Instant::now();
        let mut still_dead = HashMap::new();
        for extent in &extents {
            if extent.live_bytes > 0 || extent.size_bytes == 0 {
                continue;
            }
            let since = dead_since.get(&extent.id).copied().unwrap_or(now);
            if Some(extent.id) == open_extent {
                if now.duration_since(since) >= self.options.gc_grace {
                    self.data.seal()?;
                    report.extents_sealed += 1;
                }
                still_dead.insert(extent.id, since);
                continue;
            }
            if now.duration_since(since) >= self.options.gc_grace {
                self.data.delete_extent(extent.id)?;
                report.extents_deleted += 1;
                report.bytes_reclaimed += extent.size_bytes;
            } else {
                still_dead.insert(extent.id, since);
            }
        }
        *dead_since = still_dead;
        drop(dead_since);
        let mostly_dead: HashSet<ExtentId> = extents
            .iter()
            .filter(|e| {
                e.sealed && e.live_bytes > 0 && (e.live_bytes as f64) < e.size_bytes as f64 * REWRITE_LIVE_FRACTION
            })
            .map(|e| e.id)
            .collect();
        if !mostly_dead.is_empty() {
            report.bytes_copied = self.rewrite_extents(&mostly_dead)?;
            report.extents_rewritten = mostly_dead.len();
        }
        Ok(report)
    }

    /// Copies every live segment stored in `extents` to the open extent and points the rows
    /// at the copies. Rows are found by a scan (collection is rare and runs in the background);
    /// each row is then re-read and rewritten under its blob's locks, so a concurrent write
    /// to the same blob either comes before (and the copy sees its result) or after.
    fn rewrite_extents(&self, extents: &HashSet<ExtentId>) -> Result<u64, PartitionError> {
        let mut referencing = Vec::new();
        for kind in REFERENCING_KINDS {
            let end = keys::prefix_end(kind);
            let mut start = kind.to_vec();
            loop {
                let found = self.table.scan(&start, end.as_deref(), REBUILD_SCAN_ROWS)?;
                let Some((last_key, _)) = found.last() else { break };
                start = [last_key.as_slice(), &[0]].concat();
                for (key, value) in &found {
                    if self
                        .segments_of_row(key, value)?
                        .iter()
                        .any(|s| extents.contains(&s.extent))
                    {
                        referencing.push(key.clone());
                    }
                }
                if found.len() < REBUILD_SCAN_ROWS {
                    break;
                }
            }
        }
        let mut copied = 0;
        for key in referencing {
            copied += self.rewrite_row(&key, extents)?;
        }
        Ok(copied)
    }

    fn rewrite_row(&self, key: &[u8], extents: &HashSet<ExtentId>) -> Result<u64, PartitionError> {
        // Blob rows change under their blob's lock; path rows, staged appends and the page map
        // chunks of HNS files (keyed without a name) under the filesystem's namespace lock
        // (held exclusively here: collection is rare).
        let (account, container, blob) = match key.first() {
            Some(b'P' | b'Q') => match keys::parse_path_scope(key) {
                Some((account, fs)) => (account, fs, None),
                None => return Ok(0),
            },
            _ => match keys::parse_blob_key(key) {
                Some((account, container, blob)) if blob.is_empty() => (account, container, None),
                Some((account, container, blob)) => (account, container, Some(blob)),
                None => return Ok(0),
            },
        };
        let _container_guard = self.locks.container_shared(&account, &container);
        let _namespace_guard = blob
            .is_none()
            .then(|| self.locks.namespace_exclusive(&account, &container));
        let _blob_guard = blob.as_ref().map(|blob| self.locks.blob(&account, &container, blob));
        // A path renamed meanwhile has another key: it is found again by the next pass.
        let Some(value) = self.table.get(key)? else {
            return Ok(0);
        };
        let mut moved: HashMap<Segment, Segment> = HashMap::new();
        let mut copied = 0u64;
        let mut relocate = |segment: &mut Segment| -> Result<(), PartitionError> {
            if !extents.contains(&segment.extent) {
                return Ok(());
            }
            if let Some(new) = moved.get(segment) {
                *segment = *new;
                return Ok(());
            }
            let bytes = self.read_segment(*segment)?;
            let new = self.append_segment(&bytes)?;
            copied += bytes.len() as u64;
            moved.insert(*segment, new);
            *segment = new;
            Ok(())
        };
        let new_value = match key.first() {
            Some(b'B') => {
                let mut row = rows::decode_blob(&value)?;
                relocate_blob(&mut row, &mut relocate)?;
                rows::encode_blob(&row)
            }
            Some(b'P') => {
                let mut row = crate::hns::decode_path(&value)?;
                relocate_blob(&mut row.blob, &mut relocate)?;
                crate::hns::encode_path(&row)
            }
            Some(b'G') => {
                let mut pages = crate::row_codec::decode_page_chunk(&value)?;
                for page in &mut pages {
                    relocate(&mut page.segment)?;
                }
                crate::row_codec::encode_page_chunk(&pages)
            }
            Some(b'K' | b'Q') => {
                let (mut row, _): (BlockRow, _) = rows::decode(&value)?;
                for segment in &mut row.segments {
                    relocate(segment)?;
                }
                rows::encode(&row, None)
            }
            _ => return Ok(0),
        };
        if moved.is_empty() {
            return Ok(0);
        }
        let mut batch = lazuli_table::WriteBatch::new();
        batch.put(key.to_vec(), new_value);
        if let Err(error) = self.table.write(&batch) {
            self.release_segments(moved.values());
            return Err(error.into());
        }
        // The row now holds the copies (its reference replaces the copier's) and no longer
        // holds the originals.
        self.release_segments(moved.keys());
        Ok(copied)
    }

    /// Bytes the blob-data stream holds on disk, and how many of them are live.
    pub fn data_usage(&self) -> (u64, u64) {
        self.data
            .extents()
            .iter()
            .fold((0, 0), |(size, live), e| (size + e.size_bytes, live + e.live_bytes))
    }
}

/// Points every segment of a blob's data (blocks and pages) at its copy where `relocate`
/// made one. A page keeps its offset within the segment: the copy is byte-identical.
fn relocate_blob(
    row: &mut BlobRow,
    relocate: &mut impl FnMut(&mut Segment) -> Result<(), PartitionError>,
) -> Result<(), PartitionError> {
    for block in &mut row.blocks {
        for segment in &mut block.segments {
            relocate(segment)?;
        }
    }
    for page in &mut row.pages {
        relocate(&mut page.segment)?;
    }
    Ok(())
}
