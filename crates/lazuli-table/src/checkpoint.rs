//! Checkpoints: immutable sorted files of rows in the `{name}.rows` stream (see
//! docs/formats/checkpoint.md). A checkpoint is its data blocks, its block index and bloom filter
//! (in parts), and a footer whose location the manifest records. The rows stream is sealed after
//! each checkpoint, so a checkpoint owns whole extents and dropping it frees them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use lazuli_stream::{ExtentId, RecordLocation, Stream};
use parking_lot::{Mutex, MutexGuard};

use crate::block::{Block, BlockBuilder, CHECKPOINT_VERSION};
use crate::bloom::Bloom;
use crate::cache::BlockCache;
use crate::codec::{
    check_crc, corrupt, get_location, put_location, put_u16, put_u32, put_u64, put_u8, seal_crc, Reader,
};
use crate::limits::{APPEND_GROUP_BLOCKS, APPEND_GROUP_BYTES, KEY_BYTES_MAX, PART_BYTES_MAX};
use crate::memtable::Row;
use crate::Result;

const KIND_INDEX_PART: u8 = 2;
const KIND_BLOOM_PART: u8 = 3;
const KIND_FOOTER: u8 = 4;
/// Bytes of one index entry besides its key: key length u16 + location (8 + 8 + 4).
const INDEX_ENTRY_FIXED_BYTES: usize = 2 + 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockHandle {
    pub last_key: Vec<u8>,
    pub location: RecordLocation,
}

/// Summary fields of a checkpoint, stored in its footer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CheckpointSummary {
    pub entries: u64,
    pub tombstones: u64,
    pub min_seq: u64,
    pub max_seq: u64,
}

pub(crate) struct Checkpoint {
    pub id: u64,
    pub footer: RecordLocation,
    pub summary: CheckpointSummary,
    pub first_key: Vec<u8>,
    blocks: Vec<BlockHandle>,
    bloom: Bloom,
    /// Payload bytes this checkpoint references, per extent of the rows stream.
    extents: BTreeMap<ExtentId, u64>,
    rows: Arc<dyn Stream>,
    /// Set once a manifest without this checkpoint is durable: the last reader to drop it then
    /// deletes its extents (a scan may still be reading it when compaction replaces it).
    obsolete: AtomicBool,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("id", &self.id)
            .field("summary", &self.summary)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        if !self.obsolete.load(Ordering::Acquire) {
            return;
        }
        for (&extent, &bytes) in &self.extents {
            self.rows.add_live_bytes(extent, -(bytes as i64));
            // An extent left behind (error here, or a crash before this point) is not referenced
            // by the manifest and is deleted when the table is next opened.
            if let Err(e) = self.rows.delete_extent(extent) {
                tracing::warn!(stream = self.rows.name(), extent, error = %e, "could not delete obsolete checkpoint extent");
            }
        }
    }
}

impl Checkpoint {
    pub(crate) fn extents(&self) -> &BTreeMap<ExtentId, u64> {
        &self.extents
    }

    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    pub(crate) fn last_key(&self) -> &[u8] {
        self.blocks.last().map_or(&[], |b| b.last_key.as_slice())
    }

    pub(crate) fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes of index and bloom filter kept in memory for this checkpoint.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.bloom.memory_bytes()
            + self
                .blocks
                .iter()
                .map(|b| b.last_key.len() + std::mem::size_of::<BlockHandle>())
                .sum::<usize>()
    }

    /// Payload bytes in the rows stream.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.extents.values().sum()
    }

    /// The first block whose last key is `>= key` (the only block that can hold `key`).
    fn block_for(&self, key: &[u8]) -> usize {
        self.blocks.partition_point(|b| b.last_key.as_slice() < key)
    }

    /// Reads block `i`, through the cache when given one (compaction reads around it so that a
    /// merge does not evict the blocks that serve reads).
    pub(crate) fn block(&self, i: usize, cache: Option<&BlockCache>) -> Result<Arc<Block>> {
        let key = (self.id, i as u32);
        if let Some(cache) = cache {
            if let Some(block) = cache.get(key) {
                return Ok(block);
            }
        }
        if let Some(refused) = crate::refuse_io() {
            return Err(refused);
        }
        let handle = &self.blocks[i];
        let bytes = self.rows.read(handle.location)?;
        let block = Block::decode(&bytes)?;
        // The index and the block were written together: a disagreement means we were handed
        // another record or the index is damaged. Either way the data cannot be trusted.
        if block.key(block.len() - 1) != handle.last_key.as_slice() {
            return Err(corrupt(format!(
                "checkpoint {} block {i}: last key does not match the block index",
                self.id
            )));
        }
        let block = Arc::new(block);
        if let Some(cache) = cache {
            cache.insert(key, block.clone());
        }
        Ok(block)
    }

    /// `Some(None)` is a tombstone; `None` means this checkpoint knows nothing of `key`.
    pub(crate) fn get(&self, key: &[u8], cache: &BlockCache) -> Result<Option<Option<bytes::Bytes>>> {
        if !self.bloom.may_contain(key) {
            return Ok(None);
        }
        let i = self.block_for(key);
        if i >= self.blocks.len() {
            return Ok(None);
        }
        let block = self.block(i, Some(cache))?;
        Ok(block.get(key))
    }

    /// Reads a checkpoint back from its footer: index and bloom filter are loaded and checked.
    pub(crate) fn open(rows: Arc<dyn Stream>, id: u64, footer: RecordLocation) -> Result<Checkpoint> {
        let bytes = rows.read(footer)?;
        let f = decode_footer(&bytes)?;
        if f.id != id {
            return Err(corrupt(format!(
                "checkpoint footer names checkpoint {}, manifest expects {id}",
                f.id
            )));
        }
        let mut extents: BTreeMap<ExtentId, u64> = BTreeMap::new();
        *extents.entry(footer.extent).or_default() += u64::from(footer.len);
        let mut blocks = Vec::with_capacity(f.block_count.min(1 << 20) as usize);
        for loc in &f.index_parts {
            *extents.entry(loc.extent).or_default() += u64::from(loc.len);
            decode_index_part(&rows.read(*loc)?, &mut blocks)?;
        }
        if blocks.len() != f.block_count as usize {
            return Err(corrupt(format!(
                "checkpoint {id}: index holds {} blocks, footer says {}",
                blocks.len(),
                f.block_count
            )));
        }
        for pair in blocks.windows(2) {
            if pair[0].last_key >= pair[1].last_key {
                return Err(corrupt(format!("checkpoint {id}: block index out of order")));
            }
        }
        let mut bits = Vec::with_capacity(f.bloom_bytes.min(crate::limits::BLOOM_BYTES_MAX as u64) as usize);
        for loc in &f.bloom_parts {
            *extents.entry(loc.extent).or_default() += u64::from(loc.len);
            let part = rows.read(*loc)?;
            let body = check_crc(&part, "checkpoint bloom part")?;
            let mut r = Reader::new(body, "checkpoint bloom part");
            r.header(CHECKPOINT_VERSION, KIND_BLOOM_PART)?;
            let rest = r.remaining();
            bits.extend_from_slice(r.bytes(rest)?);
        }
        if bits.len() as u64 != f.bloom_bytes {
            return Err(corrupt(format!(
                "checkpoint {id}: bloom filter of {} bytes, footer says {}",
                bits.len(),
                f.bloom_bytes
            )));
        }
        for b in &blocks {
            *extents.entry(b.location.extent).or_default() += u64::from(b.location.len);
        }
        Ok(Checkpoint {
            id,
            footer,
            summary: f.summary,
            first_key: f.first_key,
            blocks,
            bloom: Bloom::from_parts(bits, f.bloom_probes),
            extents,
            rows,
            obsolete: AtomicBool::new(false),
        })
    }
}

struct Footer {
    id: u64,
    summary: CheckpointSummary,
    first_key: Vec<u8>,
    block_count: u32,
    bloom_probes: u8,
    bloom_bytes: u64,
    index_parts: Vec<RecordLocation>,
    bloom_parts: Vec<RecordLocation>,
}

fn encode_footer(f: &Footer) -> Vec<u8> {
    let mut out = Vec::new();
    put_u8(&mut out, CHECKPOINT_VERSION);
    put_u8(&mut out, KIND_FOOTER);
    put_u64(&mut out, f.id);
    put_u64(&mut out, f.summary.entries);
    put_u64(&mut out, f.summary.tombstones);
    put_u64(&mut out, f.summary.min_seq);
    put_u64(&mut out, f.summary.max_seq);
    put_u16(&mut out, f.first_key.len() as u16);
    out.extend_from_slice(&f.first_key);
    put_u32(&mut out, f.block_count);
    put_u8(&mut out, f.bloom_probes);
    put_u64(&mut out, f.bloom_bytes);
    put_u32(&mut out, f.index_parts.len() as u32);
    for loc in &f.index_parts {
        put_location(&mut out, *loc);
    }
    put_u32(&mut out, f.bloom_parts.len() as u32);
    for loc in &f.bloom_parts {
        put_location(&mut out, *loc);
    }
    seal_crc(&mut out);
    out
}

fn decode_footer(bytes: &[u8]) -> Result<Footer> {
    let body = check_crc(bytes, "checkpoint footer")?;
    let mut r = Reader::new(body, "checkpoint footer");
    r.header(CHECKPOINT_VERSION, KIND_FOOTER)?;
    let id = r.u64()?;
    let summary = CheckpointSummary {
        entries: r.u64()?,
        tombstones: r.u64()?,
        min_seq: r.u64()?,
        max_seq: r.u64()?,
    };
    let first_len = r.u16()? as usize;
    if first_len > KEY_BYTES_MAX {
        return Err(corrupt("checkpoint footer: first key too long"));
    }
    let first_key = r.bytes(first_len)?.to_vec();
    let block_count = r.u32()?;
    let bloom_probes = r.u8()?;
    let probes = bloom_probes & !crate::bloom::BLOCKED;
    if probes == 0 || probes > 32 {
        return Err(corrupt(format!("checkpoint footer: {probes} bloom probes")));
    }
    let bloom_bytes = r.u64()?;
    if bloom_probes & crate::bloom::BLOCKED != 0 && bloom_bytes % crate::bloom::BLOCK_BYTES as u64 != 0 {
        return Err(corrupt(format!(
            "checkpoint footer: blocked bloom filter of {bloom_bytes} bytes"
        )));
    }
    let parts = |r: &mut Reader<'_>| -> Result<Vec<RecordLocation>> {
        let n = r.u32()? as usize;
        if n > r.remaining() / 20 {
            return Err(corrupt("checkpoint footer: part count overruns the record"));
        }
        (0..n).map(|_| get_location(r)).collect()
    };
    let index_parts = parts(&mut r)?;
    let bloom_parts = parts(&mut r)?;
    r.finish()?;
    Ok(Footer {
        id,
        summary,
        first_key,
        block_count,
        bloom_probes,
        bloom_bytes,
        index_parts,
        bloom_parts,
    })
}

fn decode_index_part(bytes: &[u8], blocks: &mut Vec<BlockHandle>) -> Result<()> {
    let body = check_crc(bytes, "checkpoint index part")?;
    let mut r = Reader::new(body, "checkpoint index part");
    r.header(CHECKPOINT_VERSION, KIND_INDEX_PART)?;
    let n = r.u32()? as usize;
    if n > r.remaining() / INDEX_ENTRY_FIXED_BYTES {
        return Err(corrupt("checkpoint index part: entry count overruns the record"));
    }
    for _ in 0..n {
        let key_len = r.u16()? as usize;
        if key_len > KEY_BYTES_MAX {
            return Err(corrupt("checkpoint index part: key too long"));
        }
        let last_key = r.bytes(key_len)?.to_vec();
        let location = get_location(&mut r)?;
        blocks.push(BlockHandle { last_key, location });
    }
    r.finish()
}

/// Who may append to the rows stream. A checkpoint must own whole extents (so that dropping it
/// frees them), so one writer appends at a time and seals the stream before letting another in.
/// A flush and a compaction run at once: the compaction yields between append groups when a flush
/// is waiting, so writers are never held up by a long merge.
#[derive(Default)]
pub(crate) struct RowsGate {
    lock: Mutex<()>,
    flushes_waiting: AtomicUsize,
    /// Times a compaction gave the stream up to a flush (a metric, and proof in tests).
    pub(crate) yields: std::sync::atomic::AtomicU64,
}

impl RowsGate {
    /// Marks a flush as wanting the rows stream until the returned token is dropped.
    pub(crate) fn flush_waiting(&self) -> FlushWaiting<'_> {
        self.flushes_waiting.fetch_add(1, Ordering::SeqCst);
        FlushWaiting(self)
    }
}

pub(crate) struct FlushWaiting<'a>(&'a RowsGate);

impl Drop for FlushWaiting<'_> {
    fn drop(&mut self) {
        self.0.flushes_waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Writes one checkpoint: rows go in, in strictly increasing key order, and [`finish`] appends the
/// index, the bloom filter and the footer, then seals the rows stream.
///
/// [`finish`]: CheckpointWriter::finish
pub(crate) struct CheckpointWriter<'g> {
    gate: &'g RowsGate,
    /// Held from the first append until the stream is sealed behind our records.
    turn: Option<MutexGuard<'g, ()>>,
    /// Compactions give the stream up to a waiting flush between append groups.
    yield_to_flush: bool,
    rows: Arc<dyn Stream>,
    id: u64,
    block_bytes: usize,
    current: Option<BlockBuilder>,
    /// Finished blocks not yet appended, with their last keys.
    pending: Vec<(Vec<u8>, Vec<u8>)>,
    pending_bytes: usize,
    blocks: Vec<BlockHandle>,
    bloom: Bloom,
    summary: CheckpointSummary,
    first_key: Option<Vec<u8>>,
    extents: BTreeMap<ExtentId, u64>,
    /// Index and bloom parts are cut at this size ([`PART_BYTES_MAX`]; tests use less).
    part_bytes_max: usize,
}

impl<'g> CheckpointWriter<'g> {
    /// `expected_keys` sizes the bloom filter (an upper bound is fine).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        gate: &'g RowsGate,
        yield_to_flush: bool,
        rows: Arc<dyn Stream>,
        id: u64,
        block_bytes: usize,
        expected_keys: usize,
        min_seq: u64,
        max_seq: u64,
    ) -> Self {
        CheckpointWriter {
            gate,
            turn: None,
            yield_to_flush,
            rows,
            id,
            block_bytes: block_bytes.max(256),
            current: None,
            pending: Vec::new(),
            pending_bytes: 0,
            blocks: Vec::new(),
            bloom: Bloom::with_capacity(expected_keys),
            summary: CheckpointSummary {
                min_seq,
                max_seq,
                ..Default::default()
            },
            first_key: None,
            extents: BTreeMap::new(),
            part_bytes_max: PART_BYTES_MAX,
        }
    }

    pub(crate) fn add(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if self.first_key.is_none() {
            self.first_key = Some(key.to_vec());
        }
        self.bloom.insert(key);
        self.summary.entries += 1;
        if value.is_none() {
            self.summary.tombstones += 1;
        }
        // A block ends with the row that takes it past `block_bytes`: room for that row too,
        // unless it is an unusually large one.
        let capacity = self.block_bytes + self.block_bytes / 2;
        let block = self.current.get_or_insert_with(|| BlockBuilder::new(capacity));
        block.add(key, value);
        if block.size_bytes() >= self.block_bytes {
            self.finish_block()?;
        }
        Ok(())
    }

    fn finish_block(&mut self) -> Result<()> {
        if let Some(block) = self.current.take() {
            let (bytes, last_key) = block.finish();
            self.pending_bytes += bytes.len();
            self.pending.push((bytes, last_key));
        }
        if self.pending_bytes >= APPEND_GROUP_BYTES || self.pending.len() >= APPEND_GROUP_BLOCKS {
            self.append_pending()?;
        }
        Ok(())
    }

    fn append_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let records: Vec<&[u8]> = pending.iter().map(|(b, _)| b.as_slice()).collect();
        let locations = self.append_records(&records)?;
        if locations.len() != pending.len() {
            return Err(corrupt("rows stream returned the wrong number of locations"));
        }
        for ((_, last_key), location) in pending.into_iter().zip(locations) {
            *self.extents.entry(location.extent).or_default() += u64::from(location.len);
            self.blocks.push(BlockHandle { last_key, location });
        }
        self.pending_bytes = 0;
        if self.yield_to_flush && self.gate.flushes_waiting.load(Ordering::SeqCst) > 0 {
            self.gate.yields.fetch_add(1, Ordering::Relaxed);
            self.release_turn()?;
        }
        Ok(())
    }

    fn append_records(&mut self, records: &[&[u8]]) -> Result<Vec<RecordLocation>> {
        if self.turn.is_none() {
            self.turn = Some(self.gate.lock.lock());
        }
        Ok(self.rows.append(records)?)
    }

    /// Seals the rows stream behind our records and lets another writer in.
    fn release_turn(&mut self) -> Result<()> {
        if self.turn.is_some() {
            let sealed = self.rows.seal();
            self.turn = None;
            sealed?;
        }
        Ok(())
    }

    fn append_one(&mut self, record: &[u8]) -> Result<RecordLocation> {
        let locations = self.append_records(&[record])?;
        let location = *locations
            .first()
            .ok_or_else(|| corrupt("rows stream returned no location"))?;
        *self.extents.entry(location.extent).or_default() += u64::from(location.len);
        Ok(location)
    }

    /// Appends the remaining blocks, index, bloom filter and footer. `None` if no row was added.
    pub(crate) fn finish(mut self) -> Result<Option<Checkpoint>> {
        if self.first_key.is_none() {
            return Ok(None);
        }
        self.finish_block()?;
        self.append_pending()?;

        // Index and bloom go in parts so that no record grows with the checkpoint.
        let mut index_parts = Vec::new();
        let mut part = Vec::new();
        let mut count = 0u32;
        let start_part = |part: &mut Vec<u8>| {
            part.clear();
            put_u8(part, CHECKPOINT_VERSION);
            put_u8(part, KIND_INDEX_PART);
            put_u32(part, 0);
        };
        start_part(&mut part);
        let blocks = std::mem::take(&mut self.blocks);
        for (i, handle) in blocks.iter().enumerate() {
            put_u16(&mut part, handle.last_key.len() as u16);
            part.extend_from_slice(&handle.last_key);
            put_location(&mut part, handle.location);
            count += 1;
            if part.len() >= self.part_bytes_max || i + 1 == blocks.len() {
                part[2..6].copy_from_slice(&count.to_le_bytes());
                seal_crc(&mut part);
                let record = std::mem::take(&mut part);
                index_parts.push(self.append_one(&record)?);
                start_part(&mut part);
                count = 0;
            }
        }
        let mut bloom_parts = Vec::new();
        let bloom = std::mem::replace(&mut self.bloom, Bloom::from_parts(Vec::new(), 1));
        for chunk in bloom.bits().chunks(self.part_bytes_max) {
            let mut record = Vec::with_capacity(chunk.len() + 6);
            put_u8(&mut record, CHECKPOINT_VERSION);
            put_u8(&mut record, KIND_BLOOM_PART);
            record.extend_from_slice(chunk);
            seal_crc(&mut record);
            bloom_parts.push(self.append_one(&record)?);
        }
        let first_key = self.first_key.take().unwrap_or_default();
        let footer = Footer {
            id: self.id,
            summary: self.summary,
            first_key: first_key.clone(),
            block_count: blocks.len() as u32,
            bloom_probes: bloom.probes(),
            bloom_bytes: bloom.bits().len() as u64,
            index_parts,
            bloom_parts,
        };
        let footer_location = self.append_one(&encode_footer(&footer))?;
        self.release_turn()?;
        Ok(Some(Checkpoint {
            id: self.id,
            footer: footer_location,
            summary: self.summary,
            first_key,
            blocks,
            bloom,
            extents: std::mem::take(&mut self.extents),
            rows: self.rows.clone(),
            obsolete: AtomicBool::new(false),
        }))
    }
}

impl Drop for CheckpointWriter<'_> {
    fn drop(&mut self) {
        // A writer abandoned by an error still seals behind its partial records, so the next
        // checkpoint does not share an extent with them (they are reclaimed at the next open).
        if self.turn.is_some() {
            if let Err(e) = self.release_turn() {
                tracing::warn!(stream = self.rows.name(), error = %e, "could not seal the rows stream after a failed checkpoint");
            }
        }
    }
}

/// Iterates a checkpoint's rows from a start key, block by block.
pub(crate) struct CheckpointCursor {
    checkpoint: Arc<Checkpoint>,
    cache: Option<Arc<BlockCache>>,
    block_index: usize,
    block: Option<Arc<Block>>,
    pos: usize,
}

impl CheckpointCursor {
    pub(crate) fn new(checkpoint: Arc<Checkpoint>, cache: Option<Arc<BlockCache>>, start: &[u8]) -> Result<Self> {
        let block_index = checkpoint.block_for(start);
        let mut cursor = CheckpointCursor {
            checkpoint,
            cache,
            block_index,
            block: None,
            pos: 0,
        };
        if cursor.block_index < cursor.checkpoint.blocks.len() {
            let block = cursor.checkpoint.block(cursor.block_index, cursor.cache.as_deref())?;
            cursor.pos = block.seek(start);
            cursor.block = Some(block);
        }
        Ok(cursor)
    }

    pub(crate) fn next_row(&mut self) -> Result<Option<Row>> {
        loop {
            let Some(block) = &self.block else { return Ok(None) };
            if self.pos < block.len() {
                let row = (block.key(self.pos).to_vec(), block.value(self.pos).map(<[u8]>::to_vec));
                self.pos += 1;
                return Ok(Some(row));
            }
            self.block_index += 1;
            self.pos = 0;
            self.block = if self.block_index < self.checkpoint.blocks.len() {
                Some(self.checkpoint.block(self.block_index, self.cache.as_deref())?)
            } else {
                None
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazuli_stream::{MemStore, StreamStore};
    use proptest::prelude::*;

    fn key(i: u32) -> Vec<u8> {
        format!("acct/cont/blob-{i:06}").into_bytes()
    }

    #[test]
    fn write_then_open_from_footer_with_multipart_index_and_bloom() {
        let store = MemStore::new();
        let rows = store.open_stream("t.rows").unwrap();
        let gate = RowsGate::default();
        let mut w = CheckpointWriter::new(&gate, false, rows.clone(), 7, 300, 5000, 1, 9);
        w.part_bytes_max = 200;
        for i in 0..5000u32 {
            let value = (i % 7 != 0).then(|| format!("value-{i}").into_bytes());
            w.add(&key(i * 2), value.as_deref()).unwrap();
        }
        let written = w.finish().unwrap().unwrap();
        let reopened = Checkpoint::open(rows.clone(), 7, written.footer).unwrap();
        assert_eq!(reopened.blocks, written.blocks);
        assert_eq!(reopened.bloom, written.bloom);
        assert_eq!(reopened.extents, written.extents);
        assert_eq!(
            reopened.summary,
            CheckpointSummary {
                entries: 5000,
                tombstones: 715,
                min_seq: 1,
                max_seq: 9
            }
        );
        assert_eq!(reopened.first_key, key(0));
        assert!(reopened.block_count() > 50, "small blocks: {}", reopened.block_count());
        let cache = BlockCache::new(1 << 20);
        for i in (0..5000u32).step_by(37) {
            let expected = (i % 7 != 0).then(|| format!("value-{i}").into_bytes());
            let found = reopened.get(&key(i * 2), &cache).unwrap();
            assert_eq!(found.map(|v| v.map(Vec::from)), Some(expected));
            assert_eq!(reopened.get(&key(i * 2 + 1), &cache).unwrap(), None);
        }
        let reopened = Arc::new(reopened);
        let mut cursor = CheckpointCursor::new(reopened.clone(), None, &key(4001)).unwrap();
        let mut n = 0;
        while let Some((k, _)) = cursor.next_row().unwrap() {
            assert_eq!(k, key(4002 + n * 2));
            n += 1;
        }
        assert_eq!(n, 2999);
        assert!(
            Checkpoint::open(rows, 8, written.footer).is_err(),
            "footer names another checkpoint"
        );
    }

    #[test]
    fn footer_round_trip() {
        let f = Footer {
            id: 9,
            summary: CheckpointSummary {
                entries: 3,
                tombstones: 1,
                min_seq: 4,
                max_seq: 8,
            },
            first_key: b"a".to_vec(),
            block_count: 2,
            bloom_probes: 7,
            bloom_bytes: 16,
            index_parts: vec![RecordLocation {
                extent: 1,
                offset: 2,
                len: 3,
            }],
            bloom_parts: vec![RecordLocation {
                extent: 4,
                offset: 5,
                len: 6,
            }],
        };
        let g = decode_footer(&encode_footer(&f)).unwrap();
        assert_eq!(
            (g.id, g.summary, g.first_key, g.block_count),
            (f.id, f.summary, f.first_key, f.block_count)
        );
        assert_eq!((g.index_parts, g.bloom_parts), (f.index_parts, f.bloom_parts));
    }

    proptest! {
        #[test]
        fn footer_decoder_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if bytes.len() >= 2 {
                bytes[0] = CHECKPOINT_VERSION;
                bytes[1] = KIND_FOOTER;
            }
            seal_crc(&mut bytes);
            let _ = decode_footer(&bytes);
        }

        #[test]
        fn index_decoder_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if bytes.len() >= 2 {
                bytes[0] = CHECKPOINT_VERSION;
                bytes[1] = KIND_INDEX_PART;
            }
            seal_crc(&mut bytes);
            let _ = decode_index_part(&bytes, &mut Vec::new());
        }
    }
}
