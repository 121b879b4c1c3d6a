//! Page blobs: a sparse array of 512-byte pages.
//!
//! The written pages are an interval map (`BlobRow::pages`): disjoint extents sorted by blob
//! offset, each naming a slice of one blob-data segment. A write appends its bytes to the
//! blob-data stream and splices new extents into the map, trimming or splitting the extents
//! it overlaps (newer writes shadow older ones); a clear only trims. Unwritten pages take no
//! space and read as zeros. Earlier data is never copied: a partially overwritten segment
//! stays referenced by the slices that still use it, and a segment that no extent names any
//! more loses the row's reference when the row is replaced (`modify_blob` takes the new row's
//! references and drops the old row's).
//!
//! Every write rewrites the map, so a map that grew by one extent per write made small
//! sequential writes quadratic (12,000 writes of 4 KiB in a row: 1,016 → 327 writes/s). Once a
//! write leaves a run of [`MERGE_RUN_BLOCKS`] or more contiguous extents under
//! [`MERGED_BLOCK_BYTES_MIN`] around it, their bytes are copied into new segments and the run
//! becomes a few extents (as append blobs merge their small blocks). Not while the blob has
//! snapshots or versions: Get Page Ranges Diff tells unchanged pages by the segment they name,
//! and a copy would report them as rewritten.
//!
//! Writes that land apart from each other add an extent each, and the map of a blob written at
//! random offsets grows with every write. So the map is stored in chunk rows
//! (`keys::page_chunk`), one per [`PAGE_CHUNK_BYTES`] of blob offsets that hold written pages;
//! the blob row (or an HNS file's path row) names the map (`BlobRow::page_map`) and holds no
//! pages. A write reads and rewrites only the chunks it touches, whatever the blob's size or
//! history. Reading the row through the partition loads the pages (all of them, or the chunks a
//! write or a ranged read needs, or none for properties), so every other operation sees the
//! whole map as before; a snapshot, version or deleted copy of the blob holds its pages in its
//! own row. Whatever removes the row removes its chunk rows in the same batch. Each chunk row
//! holds one reference per distinct segment, like any row. Rows written before chunk rows keep
//! their map inline until their next write moves it out.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::append::{MERGED_BLOCK_BYTES_MIN, MERGE_RUN_BLOCKS};
use crate::blob::{blob_not_found, UploadedBody};
use crate::rows::{BlobRow, HttpHeaders, Segment};
use crate::snapshot::BlobVersion;
use crate::{keys, now_nanos, Partition, PartitionError};

/// Page size: offsets and lengths of page blobs are multiples of it.
pub const PAGE_BYTES: u64 = 512;
/// The largest page blob the service allows (8 TiB).
pub const PAGE_BLOB_BYTES_MAX: u64 = 8 * 1024 * 1024 * 1024 * 1024;
/// Put Page writes at most 4 MiB per request.
pub const PAGE_WRITE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Blob offsets per page map chunk row: a chunk holds at most 8,192 extents (1,024 if every
/// write is 4 KiB), and a write of up to 4 MiB touches at most two chunks.
pub const PAGE_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// Chunk rows read per scan when loading a map.
const PAGE_CHUNK_SCAN_ROWS: usize = 64;
/// Reads of a row and its chunk rows a reader makes without the blob's lock (each write in
/// between makes it read again) before it reads under the lock, which no writer can race.
const PAGE_MAP_READ_ATTEMPTS: usize = 4;
/// How long that last read waits for the lock before the request answers 503.
const PAGE_MAP_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Sequence numbers are 63-bit.
pub const SEQUENCE_NUMBER_MAX: u64 = i64::MAX as u64;

/// Written bytes `[offset, offset + len)` of a page blob, stored at `skip..skip + len` of
/// `segment`. Short field names keep rows of fragmented blobs small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageExtent {
    #[serde(rename = "o")]
    pub offset: u64,
    #[serde(rename = "n")]
    pub len: u32,
    #[serde(rename = "s")]
    pub segment: Segment,
    #[serde(rename = "k")]
    pub skip: u32,
}

impl PageExtent {
    pub fn end(&self) -> u64 {
        self.offset + self.len as u64
    }

    /// The part of this extent within `[start, end)` (which must overlap it).
    fn slice(&self, start: u64, end: u64) -> PageExtent {
        let from = start.max(self.offset);
        let to = end.min(self.end());
        PageExtent {
            offset: from,
            len: (to - from) as u32,
            segment: self.segment,
            skip: self.skip + (from - self.offset) as u32,
        }
    }
}

/// One step of reading a byte range: bytes of a segment, or a run of zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    Data { segment: Segment, skip: u32, len: u32 },
    Zeros(u64),
}

/// Removes `[start, end)` from the map, keeping the parts of overlapping extents outside it.
pub fn remove_range(pages: &mut Vec<PageExtent>, start: u64, end: u64) {
    if start >= end {
        return;
    }
    let first = pages.partition_point(|p| p.end() <= start);
    let last = first + pages[first..].partition_point(|p| p.offset < end);
    if first == last {
        return;
    }
    let mut kept = Vec::with_capacity(2);
    let (head, tail) = (pages[first], pages[last - 1]);
    if head.offset < start {
        kept.push(head.slice(head.offset, start));
    }
    if tail.end() > end {
        kept.push(tail.slice(end, tail.end()));
    }
    pages.splice(first..last, kept);
}

/// The run of contiguous extents under [`MERGED_BLOCK_BYTES_MIN`] that holds a write of
/// `[start, end)` made of such extents, when it is [`MERGE_RUN_BLOCKS`] long or longer.
pub fn merge_run(pages: &[PageExtent], start: u64, end: u64) -> Option<std::ops::Range<usize>> {
    let small = |p: &PageExtent| u64::from(p.len) < MERGED_BLOCK_BYTES_MIN;
    let mut first = pages.partition_point(|p| p.end() <= start);
    let mut last = first + pages[first..].partition_point(|p| p.offset < end);
    if first == last || !pages[first..last].iter().all(small) {
        return None;
    }
    while first > 0 && small(&pages[first - 1]) && pages[first - 1].end() == pages[first].offset {
        first -= 1;
    }
    while last < pages.len() && small(&pages[last]) && pages[last - 1].end() == pages[last].offset {
        last += 1;
    }
    (last - first >= MERGE_RUN_BLOCKS).then_some(first..last)
}

/// Writes `extents` (sorted, contiguous from their first offset) over the map.
pub fn write_range(pages: &mut Vec<PageExtent>, extents: &[PageExtent]) {
    let (Some(first), Some(last)) = (extents.first(), extents.last()) else {
        return;
    };
    remove_range(pages, first.offset, last.end());
    let at = pages.partition_point(|p| p.offset < first.offset);
    pages.splice(at..at, extents.iter().copied());
}

/// How to read `[start, start + len)`: segment slices and zero runs, in order.
pub fn read_plan(pages: &[PageExtent], start: u64, len: u64) -> Vec<Piece> {
    let end = start + len;
    let mut plan = Vec::new();
    let mut at = start;
    let first = pages.partition_point(|p| p.end() <= start);
    for page in pages[first..].iter().take_while(|p| p.offset < end) {
        let part = page.slice(start, end);
        if part.offset > at {
            plan.push(Piece::Zeros(part.offset - at));
        }
        plan.push(Piece::Data {
            segment: part.segment,
            skip: part.skip,
            len: part.len,
        });
        at = part.end();
    }
    if at < end {
        plan.push(Piece::Zeros(end - at));
    }
    plan
}

/// The written ranges within `[start, end)` as inclusive (first, last) byte offsets, adjacent
/// extents merged, as Get Page Ranges reports them.
pub fn written_ranges(pages: &[PageExtent], start: u64, end: u64) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    // A range starting past the end of the blob (after clipping) holds nothing.
    if start >= end {
        return ranges;
    }
    let first = pages.partition_point(|p| p.end() <= start);
    for page in pages[first..].iter().take_while(|p| p.offset < end) {
        let part = page.slice(start, end);
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == part.offset => last.1 = part.end() - 1,
            _ => ranges.push((part.offset, part.end() - 1)),
        }
    }
    ranges
}

/// Get Page Ranges Diff: within `[start, end)`, the ranges of `current` that differ from
/// `previous` (written or rewritten since: `false`) and the ranges written in `previous` but
/// not in `current` (cleared since: `true`), as inclusive (first, last, cleared), in offset
/// order, adjacent ranges of one kind merged. A page is unchanged when both maps name the
/// same byte of the same segment for it: a snapshot shares its blob's segments until the
/// blob is written again, so this needs no data comparison.
pub fn diff_ranges(current: &[PageExtent], previous: &[PageExtent], start: u64, end: u64) -> Vec<(u64, u64, bool)> {
    let mut points = vec![start, end];
    for page in current.iter().chain(previous) {
        for point in [page.offset, page.end()] {
            if point > start && point < end {
                points.push(point);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    let at = |pages: &[PageExtent], x: u64| {
        let i = pages.partition_point(|p| p.end() <= x);
        pages.get(i).copied().filter(|p| p.offset <= x)
    };
    let mut out: Vec<(u64, u64, bool)> = Vec::new();
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a >= b {
            continue;
        }
        let kind = match (at(current, a), at(previous, a)) {
            (Some(c), Some(p))
                if c.segment == p.segment
                    && i128::from(c.skip) - i128::from(c.offset) == i128::from(p.skip) - i128::from(p.offset) =>
            {
                None
            }
            (Some(_), _) => Some(false),
            (None, Some(_)) => Some(true),
            (None, None) => None,
        };
        if let Some(cleared) = kind {
            match out.last_mut() {
                Some(last) if last.1 + 1 == a && last.2 == cleared => last.1 = b - 1,
                _ => out.push((a, b - 1, cleared)),
            }
        }
    }
    out
}

/// The map split into chunk rows' contents, by chunk index: an extent that crosses a chunk
/// boundary is cut there (both parts name the same segment).
pub fn chunks_of(pages: &[PageExtent]) -> BTreeMap<u64, Vec<PageExtent>> {
    let mut chunks: BTreeMap<u64, Vec<PageExtent>> = BTreeMap::new();
    for page in pages {
        let mut at = page.offset;
        while at < page.end() {
            let chunk = at / PAGE_CHUNK_BYTES;
            let to = page.end().min((chunk + 1) * PAGE_CHUNK_BYTES);
            chunks.entry(chunk).or_default().push(page.slice(at, to));
            at = to;
        }
    }
    chunks
}

/// The chunk-aligned offsets whose chunks hold `[start, end)`.
pub fn chunk_window(start: u64, end: u64) -> Range<u64> {
    let first = start / PAGE_CHUNK_BYTES * PAGE_CHUNK_BYTES;
    let last = end.div_ceil(PAGE_CHUNK_BYTES) * PAGE_CHUNK_BYTES;
    first..last.max(first + PAGE_CHUNK_BYTES)
}

/// The chunk-aligned window whose chunks hold bytes `range` of a blob for a read: empty for an
/// empty range (a read of properties needs no pages), and within the largest page blob.
pub fn read_window(range: Range<u64>) -> Range<u64> {
    let end = range.end.min(PAGE_BLOB_BYTES_MAX);
    if range.start >= end {
        return 0..0;
    }
    chunk_window(range.start, end)
}

fn segments_of(pages: &[PageExtent]) -> Vec<Segment> {
    pages.iter().map(|page| page.segment).collect()
}

/// A reader that could not read a page map with its row (see [`PAGE_MAP_READ_ATTEMPTS`]):
/// the service's answer to a request to retry.
fn page_map_busy() -> AzureError {
    AzureError::new(
        ErrorCode::ServerBusy,
        "The server is currently unable to receive requests. Please retry your request.",
    )
}

/// `x-ms-if-sequence-number-le/lt/eq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequenceConditions {
    pub le: Option<u64>,
    pub lt: Option<u64>,
    pub eq: Option<u64>,
}

impl SequenceConditions {
    pub fn check(&self, sequence_number: u64) -> Result<(), AzureError> {
        let met = self.le.is_none_or(|v| sequence_number <= v)
            && self.lt.is_none_or(|v| sequence_number < v)
            && self.eq.is_none_or(|v| sequence_number == v);
        if met {
            Ok(())
        } else {
            Err(AzureError::new(
                ErrorCode::SequenceNumberConditionNotMet,
                "The sequence number condition specified was not met.",
            ))
        }
    }
}

/// `x-ms-sequence-number-action` of Set Blob Properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceAction {
    /// The larger of the current and the given number.
    Max(u64),
    Update(u64),
    Increment,
}

fn require_page_blob(row: &BlobRow) -> Result<(), AzureError> {
    if row.blob_type == "PageBlob" {
        Ok(())
    } else {
        Err(AzureError::new(
            ErrorCode::InvalidBlobType,
            "The blob type is invalid for this operation.",
        ))
    }
}

/// Checks a page range `[start, end)`: page-aligned and non-empty (else the service answers
/// 400 on the range header), and within the blob (else 416 InvalidPageRange).
pub fn check_page_range(start: u64, end: u64, size: Option<u64>) -> Result<(), AzureError> {
    if !start.is_multiple_of(PAGE_BYTES) || !end.is_multiple_of(PAGE_BYTES) || end <= start {
        return Err(AzureError::header(
            "x-ms-range",
            &format!("bytes={}-{}", start, end.wrapping_sub(1)),
        ));
    }
    if size.is_some_and(|size| end > size) {
        return Err(AzureError::new(
            ErrorCode::InvalidPageRange,
            "The page range specified is invalid.",
        ));
    }
    Ok(())
}

pub fn check_page_blob_size(size: u64) -> Result<(), AzureError> {
    if !size.is_multiple_of(PAGE_BYTES) || size > PAGE_BLOB_BYTES_MAX {
        return Err(AzureError::header("x-ms-blob-content-length", &size.to_string()));
    }
    Ok(())
}

impl Partition {
    /// The blob name a page map's chunk rows are keyed by. A file of an HNS account can be
    /// renamed, so its chunk rows are keyed by the filesystem and the map id alone (an empty
    /// name, which no blob has).
    fn page_map_owner<'a>(&self, account: &str, blob: &'a str) -> &'a str {
        if self.is_hns(account) {
            ""
        } else {
            blob
        }
    }

    /// Loads the pages of a row read from the table whose map is in chunk rows, within the
    /// chunk-aligned `window` (all of them when `None`); see [`BlobRow::loaded_page_map`].
    pub(crate) fn load_pages(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        row: &mut BlobRow,
        window: Option<&Range<u64>>,
    ) -> Result<(), PartitionError> {
        if row.page_map != 0 {
            row.pages = self.load_page_map(account, container, blob, row.page_map, window)?;
            row.loaded_page_map = std::mem::take(&mut row.page_map);
        }
        Ok(())
    }

    /// Reads a blob's row with the chunk rows of its page map, which are read apart from it,
    /// without the blob's lock: every write that changes them also gives the row a new ETag,
    /// so `read` reads the row, the chunks and the row again, and answers `None` when the row
    /// changed in between. It is tried without locks, then once under the locks every writer
    /// of the blob takes, so that a reader racing a stream of writes still finishes.
    pub(crate) fn read_with_page_map<T>(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        mut read: impl FnMut() -> Result<Option<T>, AzureError>,
    ) -> Result<T, AzureError> {
        for attempt in 1..=PAGE_MAP_READ_ATTEMPTS {
            let _locks = match attempt == PAGE_MAP_READ_ATTEMPTS {
                false => None,
                true => {
                    let (name, hns) = (self.blob_lock_name(account, blob), self.is_hns(account));
                    let locks = self
                        .locks
                        .for_consistent_read(account, container, &name, hns, PAGE_MAP_LOCK_WAIT)?;
                    Some(locks.ok_or_else(page_map_busy)?)
                }
            };
            if let Some(value) = read()? {
                return Ok(value);
            }
        }
        Err(page_map_busy())
    }

    /// The pages of map `map` within the chunk-aligned `window` (all of them when `None`).
    fn load_page_map(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        map: u64,
        window: Option<&Range<u64>>,
    ) -> Result<Vec<PageExtent>, PartitionError> {
        let blob = self.page_map_owner(account, blob);
        let (start, end) = match window {
            Some(window) => (
                keys::page_chunk(account, container, blob, map, window.start / PAGE_CHUNK_BYTES),
                Some(keys::page_chunk(
                    account,
                    container,
                    blob,
                    map,
                    window.end / PAGE_CHUNK_BYTES,
                )),
            ),
            None => {
                let prefix = keys::page_map_prefix(account, container, blob, map);
                let end = keys::prefix_end(&prefix);
                (prefix, end)
            }
        };
        let mut pages = Vec::new();
        self.each_page_chunk(start, end, |_, chunk| pages.extend(chunk))?;
        Ok(pages)
    }

    /// Calls `each` with the key and the entries of every chunk row from `start` to `end`, in
    /// order, reading them a bounded number of rows at a time.
    fn each_page_chunk(
        &self,
        mut start: Vec<u8>,
        end: Option<Vec<u8>>,
        mut each: impl FnMut(&[u8], Vec<PageExtent>),
    ) -> Result<(), PartitionError> {
        loop {
            let found = self.table.scan(&start, end.as_deref(), PAGE_CHUNK_SCAN_ROWS)?;
            for (key, value) in &found {
                each(key, crate::row_codec::decode_page_chunk(value)?);
            }
            match found.last() {
                Some((last, _)) if found.len() == PAGE_CHUNK_SCAN_ROWS => start = [last.as_slice(), &[0]].concat(),
                _ => return Ok(()),
            }
        }
    }

    /// Stores the map of a page blob being written (a blob row or an HNS file's path row) in
    /// chunk rows: the chunks that differ from `current`'s (whose pages cover `window`, or all
    /// of them) are
    /// put or deleted in `batch`, with the references the new chunk rows take and the old
    /// ones drop. `new_row` gets the map's id in `page_map` (the caller stores it without its
    /// pages). When the blob stops being a page blob or goes, its chunk rows go (`current`
    /// must then hold the whole map).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_page_map(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        current: Option<&BlobRow>,
        window: Option<&Range<u64>>,
        new_row: Option<&mut BlobRow>,
        batch: &mut WriteBatch,
        referenced: &mut Vec<Vec<Segment>>,
        released: &mut Vec<Vec<Segment>>,
    ) -> Result<(), AzureError> {
        let current_map = current.map_or(0, |row| row.loaded_page_map);
        let Some(row) = new_row.filter(|row| row.blob_type == "PageBlob") else {
            if current_map != 0 {
                if window.is_some() {
                    return Err(AzureError::internal("a partly loaded page map cannot be dropped"));
                }
                self.drop_page_map(account, container, blob, current_map, batch, released)?;
            }
            return Ok(());
        };
        // A map moving to chunk rows gets a new id: rows an earlier blob of this name left
        // (only by a fault) are never read as its own.
        let map = if current_map != 0 {
            current_map
        } else {
            self.unique_tick().max(1)
        };
        let old = match current {
            Some(current) if current_map != 0 => chunks_of(&current.pages),
            _ => BTreeMap::new(),
        };
        let new = chunks_of(&row.pages);
        if current_map != 0 {
            if let Some(window) = window {
                let (first, end) = (window.start / PAGE_CHUNK_BYTES, window.end / PAGE_CHUNK_BYTES);
                if new.keys().any(|chunk| *chunk < first || *chunk >= end) {
                    return Err(AzureError::internal("a page write reached past the chunks it loaded"));
                }
            }
        }
        let owner = self.page_map_owner(account, blob);
        let touched: BTreeSet<u64> = old.keys().chain(new.keys()).copied().collect();
        for chunk in touched {
            let (before, after) = (old.get(&chunk), new.get(&chunk));
            if before == after {
                continue;
            }
            let key = keys::page_chunk(account, container, owner, map, chunk);
            match after {
                Some(pages) => {
                    batch.put(key, crate::row_codec::encode_page_chunk(pages));
                    referenced.push(segments_of(pages));
                }
                None => {
                    batch.delete(key);
                }
            }
            if let Some(pages) = before {
                released.push(segments_of(pages));
            }
        }
        row.page_map = map;
        Ok(())
    }

    /// Deletes every chunk row of page map `map` into `batch`, with the references they hold
    /// into `released` (one list per row).
    pub(crate) fn drop_page_map(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        map: u64,
        batch: &mut WriteBatch,
        released: &mut Vec<Vec<Segment>>,
    ) -> Result<(), PartitionError> {
        let prefix = keys::page_map_prefix(account, container, self.page_map_owner(account, blob), map);
        let end = keys::prefix_end(&prefix);
        self.each_page_chunk(prefix, end, |key, chunk| {
            released.push(segments_of(&chunk));
            batch.delete(key.to_vec());
        })
    }

    /// Put Blob with `x-ms-blob-type: PageBlob`: a new blob of `size` zero bytes (with `tags`,
    /// from `x-ms-tags`).
    #[allow(clippy::too_many_arguments)]
    pub fn create_page_blob(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        size: u64,
        sequence_number: u64,
        headers: HttpHeaders,
        metadata: Vec<(String, String)>,
        tags: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<BlobRow, AzureError> {
        check_page_blob_size(size)?;
        if sequence_number > SEQUENCE_NUMBER_MAX {
            return Err(AzureError::header(
                "x-ms-blob-sequence-number",
                &sequence_number.to_string(),
            ));
        }
        let row = self.modify_blob(account, container, blob, |current| {
            Self::check_write_conditions(current, conditions)?;
            let now = now_nanos();
            let row = BlobRow {
                blob_type: "PageBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: current.map_or(now, |row| row.created),
                content_length: size,
                headers,
                metadata,
                sequence_number,
                tags,
                ..Default::default()
            };
            let mut batch = WriteBatch::new();
            let consumed = self.discard_uncommitted(account, container, blob, &mut batch)?;
            Ok((Some(row), batch, consumed))
        })?;
        row.ok_or_else(|| AzureError::internal("create produced no row"))
    }

    /// Put Page (update): writes `body` at `start`. On any error the body's segments are
    /// released.
    #[allow(clippy::too_many_arguments)]
    pub fn write_pages(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        start: u64,
        body: UploadedBody,
        conditions: &Conditions,
        sequence: &SequenceConditions,
    ) -> Result<BlobRow, AzureError> {
        let mut held = body.segments.clone();
        let result = (|| {
            let end = start
                .checked_add(body.len)
                .ok_or_else(|| AzureError::new(ErrorCode::InvalidPageRange, "The page range specified is invalid."))?;
            check_page_range(start, end, None)?;
            // Pages always live in the data stream so that later writes can slice them.
            let segments: Vec<(Segment, u32)> = match &body.inline {
                Some(inline) => {
                    let segment = self.append_segment(inline)?;
                    held.push(segment);
                    vec![(segment, inline.len() as u32)]
                }
                None => body.segments.iter().map(|s| (*s, s.len)).collect(),
            };
            let mut offset = start;
            let extents: Vec<PageExtent> = segments
                .into_iter()
                .filter(|(_, len)| *len > 0)
                .map(|(segment, len)| {
                    let extent = PageExtent {
                        offset,
                        len,
                        segment,
                        skip: 0,
                    };
                    offset += len as u64;
                    extent
                })
                .collect();
            if offset != end {
                return Err(AzureError::internal("page body length disagrees with its segments"));
            }
            let window = chunk_window(start, end);
            self.change_pages(account, container, blob, window, conditions, sequence, |row| {
                check_page_range(start, end, Some(row.content_length))?;
                write_range(&mut row.pages, &extents);
                if let Some(run) = merge_run(&row.pages, start, end) {
                    if !self.has_subrows(account, container, blob)? {
                        let merged = self.merge_page_extents(&row.pages[run.clone()], &mut held)?;
                        row.pages.splice(run, merged);
                    }
                }
                Ok(())
            })
        })();
        // The upload's own references end here: the row took its own if the write succeeded.
        self.release_segments(&held);
        result
    }

    /// The bytes of contiguous `extents` copied into new segments, as the extents that replace
    /// them; `held` takes the caller's references on the new segments.
    fn merge_page_extents(
        &self,
        extents: &[PageExtent],
        held: &mut Vec<Segment>,
    ) -> Result<Vec<PageExtent>, AzureError> {
        let slices: Vec<_> = extents
            .iter()
            .map(|e| (e.segment, e.skip as usize..e.skip as usize + e.len as usize))
            .collect();
        let mut offset = extents.first().map_or(0, |e| e.offset);
        let merged = self
            .copy_into_segments(&slices, held)?
            .into_iter()
            .map(|segment| {
                let extent = PageExtent {
                    offset,
                    len: segment.len,
                    segment,
                    skip: 0,
                };
                offset += u64::from(segment.len);
                extent
            })
            .collect();
        Ok(merged)
    }

    /// Put Page (clear): `[start, end)` reads as zeros again and takes no space.
    #[allow(clippy::too_many_arguments)]
    pub fn clear_pages(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        start: u64,
        end: u64,
        conditions: &Conditions,
        sequence: &SequenceConditions,
    ) -> Result<BlobRow, AzureError> {
        check_page_range(start, end, None)?;
        self.change_pages(
            account,
            container,
            blob,
            chunk_window(start, end),
            conditions,
            sequence,
            |row| {
                check_page_range(start, end, Some(row.content_length))?;
                remove_range(&mut row.pages, start, end);
                Ok(())
            },
        )
    }

    /// A write of the pages within the chunk-aligned `window`: only its chunks are read (the
    /// row `change` sees holds no pages outside it) and rewritten.
    #[allow(clippy::too_many_arguments)]
    fn change_pages(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        window: Range<u64>,
        conditions: &Conditions,
        sequence: &SequenceConditions,
        change: impl FnOnce(&mut BlobRow) -> Result<(), AzureError>,
    ) -> Result<BlobRow, AzureError> {
        let row = self.modify_blob_within(account, container, blob, Some(window), |current| {
            let current = current.ok_or_else(blob_not_found)?;
            Self::check_write_conditions(Some(current), conditions)?;
            require_page_blob(current)?;
            sequence.check(current.sequence_number)?;
            let mut row = current.clone();
            change(&mut row)?;
            row.etag = self.new_etag();
            row.last_modified = now_nanos();
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        row.ok_or_else(|| AzureError::internal("page write produced no row"))
    }

    /// Set Blob Properties of a page blob: optionally the HTTP headers, the size (pages past
    /// a new, smaller size are dropped) and the sequence number.
    #[allow(clippy::too_many_arguments)]
    pub fn set_page_blob_properties(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
        headers: Option<HttpHeaders>,
        size: Option<u64>,
        action: Option<SequenceAction>,
    ) -> Result<BlobRow, AzureError> {
        if let Some(size) = size {
            check_page_blob_size(size)?;
        }
        if let Some(SequenceAction::Max(n) | SequenceAction::Update(n)) = action {
            if n > SEQUENCE_NUMBER_MAX {
                return Err(AzureError::header("x-ms-blob-sequence-number", &n.to_string()));
            }
        }
        let row = self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            Self::check_write_conditions(Some(current), conditions)?;
            require_page_blob(current)?;
            let mut row = current.clone();
            if let Some(headers) = headers {
                row.headers = headers;
            }
            if let Some(size) = size {
                remove_range(&mut row.pages, size, u64::MAX);
                row.content_length = size;
            }
            match action {
                None => {}
                Some(SequenceAction::Max(n)) => row.sequence_number = row.sequence_number.max(n),
                Some(SequenceAction::Update(n)) => row.sequence_number = n,
                Some(SequenceAction::Increment) => {
                    if row.sequence_number >= SEQUENCE_NUMBER_MAX {
                        return Err(AzureError::new(
                            ErrorCode::SequenceNumberIncrementTooLarge,
                            "The sequence number increment cannot be performed because it would result in overflow of the sequence number.",
                        ));
                    }
                    row.sequence_number += 1;
                }
            }
            row.etag = self.new_etag();
            row.last_modified = now_nanos();
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        row.ok_or_else(|| AzureError::internal("update produced no row"))
    }

    /// Get Page Ranges of the blob or one of its snapshots or versions: its row (after read
    /// conditions; `None` means 304) and its ranges within `[start, end)` as (first, last,
    /// cleared). With `previous` (a snapshot id: Get Page Ranges Diff), the ranges changed
    /// since that snapshot and the ranges cleared since; otherwise the written ranges.
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    pub fn get_page_ranges(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        version: &BlobVersion,
        previous: Option<&str>,
        conditions: &Conditions,
        range: Option<(u64, u64)>,
    ) -> Result<Option<(BlobRow, Vec<(u64, u64, bool)>)>, AzureError> {
        // A range needs only the chunks that hold it.
        let pages_for = range.map(|(start, end)| start..end);
        let Some(row) = self.get_blob_version_within(account, container, blob, version, conditions, pages_for)? else {
            return Ok(None);
        };
        require_page_blob(&row)?;
        let (start, end) = range.unwrap_or((0, row.content_length));
        let end = end.min(row.content_length);
        let ranges = match previous {
            None => written_ranges(&row.pages, start, end)
                .into_iter()
                .map(|(first, last)| (first, last, false))
                .collect(),
            Some(id) => {
                let snapshot = BlobVersion::Snapshot(id.to_string());
                let previous = self
                    .get_blob_version(account, container, blob, &snapshot, &Conditions::default())?
                    .ok_or_else(|| AzureError::internal("unconditional read answered 304"))?;
                require_page_blob(&previous)?;
                diff_ranges(&row.pages, &previous.pages, start, end)
            }
        };
        Ok(Some((row, ranges)))
    }

    /// Reads `[start, start + len)` of any blob into memory (tests and small range reads;
    /// downloads stream instead).
    pub fn read_blob_bytes(&self, row: &BlobRow, start: u64, len: u64) -> Result<Vec<u8>, AzureError> {
        let end = start.saturating_add(len).min(row.content_length);
        let start = start.min(end);
        if let Some(inline) = &row.inline {
            let to = (end as usize).min(inline.len());
            return Ok(inline[(start as usize).min(to)..to].to_vec());
        }
        let mut out = Vec::with_capacity((end - start) as usize);
        for piece in row.read_plan(start, end - start) {
            match piece {
                Piece::Zeros(n) => out.resize(out.len() + n as usize, 0),
                Piece::Data { segment, skip, len } => {
                    out.extend_from_slice(&self.read_segment_range(segment, skip, len)?)
                }
            }
        }
        Ok(out)
    }
}

impl BlobRow {
    /// How to read `[start, start + len)` of a blob whose body is not inline: page blobs from
    /// their page map, others from their blocks in order.
    pub fn read_plan(&self, start: u64, len: u64) -> Vec<Piece> {
        if self.blob_type == "PageBlob" {
            return read_plan(&self.pages, start, len);
        }
        let mut plan = Vec::new();
        // A row read for a range holds the blocks from there on (`blocks_start`).
        let mut offset = self.blocks_start;
        let end = start + len;
        for segment in self.segments() {
            let segment_end = offset + segment.len as u64;
            if segment_end > start && offset < end {
                let skip = start.saturating_sub(offset);
                let take = segment_end.min(end) - offset - skip;
                plan.push(Piece::Data {
                    segment: *segment,
                    skip: skip as u32,
                    len: take as u32,
                });
            }
            offset = segment_end;
            if offset >= end {
                break;
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(offset: u64, len: u32, extent: u64) -> PageExtent {
        PageExtent {
            offset,
            len,
            segment: Segment { extent, offset: 0, len },
            skip: 0,
        }
    }

    #[test]
    fn writes_shadow_and_split() {
        let mut pages = vec![];
        write_range(&mut pages, &[extent(0, 2048, 1)]);
        write_range(&mut pages, &[extent(512, 512, 2)]);
        assert_eq!(pages.len(), 3);
        assert_eq!((pages[0].offset, pages[0].len, pages[0].skip), (0, 512, 0));
        assert_eq!((pages[1].offset, pages[1].segment.extent), (512, 2));
        assert_eq!((pages[2].offset, pages[2].len, pages[2].skip), (1024, 1024, 1024));
        assert_eq!(written_ranges(&pages, 0, 4096), vec![(0, 2047)]);
        remove_range(&mut pages, 0, 1536);
        assert_eq!(written_ranges(&pages, 0, 4096), vec![(1536, 2047)]);
        assert_eq!(pages[0].skip, 1536);
        assert_eq!(
            read_plan(&pages, 1024, 2048),
            vec![
                Piece::Zeros(512),
                Piece::Data {
                    segment: pages[0].segment,
                    skip: 1536,
                    len: 512
                },
                Piece::Zeros(1024)
            ]
        );
        assert_eq!(read_plan(&[], 0, 0), vec![]);
        assert_eq!(written_ranges(&pages, 3000, 1000), vec![]);
        assert_eq!(diff_ranges(&pages, &[], 3000, 1000), vec![]);
    }

    #[test]
    fn diff_reports_changed_and_cleared_pages() {
        let previous = vec![extent(0, 2048, 1)];
        let mut current = previous.clone();
        assert_eq!(diff_ranges(&current, &previous, 0, 4096), vec![]);
        write_range(&mut current, &[extent(512, 512, 2)]);
        remove_range(&mut current, 1536, 2048);
        write_range(&mut current, &[extent(3072, 512, 3)]);
        assert_eq!(
            diff_ranges(&current, &previous, 0, 4096),
            vec![(512, 1023, false), (1536, 2047, true), (3072, 3583, false)]
        );
        assert_eq!(diff_ranges(&current, &previous, 1024, 2048), vec![(1536, 2047, true)]);
    }
}
