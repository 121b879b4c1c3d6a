//! Row types of the object table and their encoding.
//!
//! A row is `[format version u8][fields length u32 LE][fields][inline body bytes]`: the fields
//! hold properties and data locations, as JSON (version 1) or, for blob and path rows, binary
//! (versions 2 and 3, `row_codec.rs`); small blob bodies ride after them in the same row (and
//! so in the same commit-log record) instead of going to the blob-data stream.

use bytes::Bytes;
use lazuli_stream::RecordLocation;
use serde::{Deserialize, Serialize};

use crate::PartitionError;

const ROW_FORMAT_VERSION: u8 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    pub etag: String,
    /// Unix time in nanoseconds.
    pub last_modified: i128,
    pub created: i128,
    pub metadata: Vec<(String, String)>,
    /// `None`, `"blob"` or `"container"`.
    pub public_access: Option<String>,
    /// Stored access policies, as the front-end's JSON (opaque here).
    pub signed_identifiers: Option<String>,
    /// The container's lease, if one was ever acquired (see `lease.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<crate::lease::Lease>,
    /// Soft-deleted containers (rows under `c`, see `soft_delete.rs`): the deletion, and the
    /// version that Restore Container names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<crate::soft_delete::Deletion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_version: Option<String>,
}

/// A run of blob bytes in the blob-data stream: one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    pub extent: u64,
    pub offset: u64,
    pub len: u32,
}

impl From<RecordLocation> for Segment {
    fn from(location: RecordLocation) -> Self {
        Segment {
            extent: location.extent,
            offset: location.offset,
            len: location.len,
        }
    }
}

impl From<Segment> for RecordLocation {
    fn from(segment: Segment) -> Self {
        RecordLocation {
            extent: segment.extent,
            offset: segment.offset,
            len: segment.len,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    /// The block id as the client sent it (base64); empty for the body of a single-shot Put Blob.
    pub id: String,
    pub size: u64,
    pub segments: Vec<Segment>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub content_md5: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRow {
    pub blob_type: String,
    pub etag: String,
    pub last_modified: i128,
    pub created: i128,
    pub content_length: u64,
    pub headers: HttpHeaders,
    pub metadata: Vec<(String, String)>,
    /// Committed blocks in order. Empty when the body is inline.
    pub blocks: Vec<CommittedBlock>,
    /// The whole body when it is small (kept out of the JSON, after it in the row). Read from
    /// the table, it shares the row's memory.
    #[serde(skip)]
    pub inline: Option<Bytes>,
    /// Page blobs: the written pages, sorted by offset and disjoint (see `page.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<crate::page::PageExtent>,
    /// Page blobs of flat-namespace accounts, as stored: the id of the map whose chunk rows
    /// hold the written pages (`pages` is then empty in the row; see `page.rs`). A row read
    /// through the partition has its pages loaded and this at 0, so that a copy of it (a
    /// snapshot, a version) holds its pages itself; the id it was loaded from is in
    /// `loaded_page_map`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub page_map: u64,
    /// The page map a base row's `pages` were loaded from (never stored).
    #[serde(skip)]
    pub loaded_page_map: u64,
    /// Read for a range (or for the properties alone): `blocks` holds only the blocks with
    /// bytes in that range (none for the properties), the first starting at blob offset
    /// `blocks_start`. Never stored; such a row must not be written back.
    #[serde(skip)]
    pub blocks_omitted: bool,
    /// See `blocks_omitted` (0 for a whole list).
    #[serde(skip)]
    pub blocks_start: u64,
    /// Page blobs: the sequence number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sequence_number: u64,
    /// Append blobs: sealed (read-only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
    /// Append blobs: how many Append Block calls were committed, once small appended blocks
    /// have been merged into fewer `blocks` (see `append.rs`); 0 while there is one block per
    /// call.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub appended_blocks: u64,
    /// The blob's lease, if one was ever acquired (see `lease.rs`); never on snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<crate::lease::Lease>,
    /// Snapshot rows: the snapshot id (also in the key; kept here so a listed row names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// With versioning on: the version id this row's content was written as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Soft-deleted rows: when the delete happened (Unix ns) and when the row is purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<crate::soft_delete::Deletion>,
    /// Set on rows read from a previous-version sub-row (not stored: the key says it).
    #[serde(skip)]
    pub previous_version: bool,
    /// Blob index tags, in the order set; mirrored by the tag index rows (see `tags.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The access tier when set explicitly (absent: Hot, inferred); see `tier.rs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<crate::tier::TierState>,
    /// The last copy that created this blob; see `copy.rs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<crate::copy::CopyState>,
    /// Files of an HNS account: when the file expires (Unix ns; Set Blob Expiry). An expired
    /// file is gone for every reader; its row goes when the path is written again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<i128>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl BlobRow {
    /// The committed block count clients see (`x-ms-blob-committed-block-count`).
    pub fn committed_block_count(&self) -> u64 {
        if self.appended_blocks > 0 {
            self.appended_blocks
        } else {
            self.blocks.len() as u64
        }
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.blocks
            .iter()
            .flat_map(|block| block.segments.iter())
            .chain(self.pages.iter().map(|page| &page.segment))
    }

    /// Whether the pages are kept in chunk rows (see `page.rs`): the row is stored without them,
    /// or they were loaded from there.
    pub(crate) fn pages_in_chunk_rows(&self) -> bool {
        self.page_map != 0 || self.loaded_page_map != 0
    }

    /// The segments the stored row itself references: all of [`BlobRow::segments`], but for
    /// a row whose pages are in chunk rows (which hold their own references), its blocks alone.
    pub(crate) fn stored_segments(&self) -> impl Iterator<Item = Segment> + '_ {
        let pages: &[crate::page::PageExtent] = if self.pages_in_chunk_rows() { &[] } else { &self.pages };
        self.blocks
            .iter()
            .flat_map(|block| block.segments.iter())
            .chain(pages.iter().map(|page| &page.segment))
            .copied()
    }

    /// Whether the bytes after the row's fields are its body: not when it has committed
    /// blocks, and never for a page blob (whose body is its page map).
    pub(crate) fn has_inline_body(&self) -> bool {
        self.blocks.is_empty() && !self.blocks_omitted && self.blob_type != "PageBlob"
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    pub size: u64,
    pub segments: Vec<Segment>,
    pub created: i128,
}

pub fn encode<T: Serialize>(row: &T, inline: Option<&[u8]>) -> Vec<u8> {
    // Serializing plain structs of strings and numbers cannot fail.
    let json = serde_json::to_vec(row).unwrap_or_default();
    let inline = inline.unwrap_or_default();
    let mut out = Vec::with_capacity(5 + json.len() + inline.len());
    out.push(ROW_FORMAT_VERSION);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(inline);
    out
}

/// Splits a row into its format version, its fields (JSON or binary) and its inline bytes.
pub(crate) fn split_row(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), PartitionError> {
    let corrupt = |why: &str| PartitionError::Corrupt(format!("row: {why}"));
    let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
    let length_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt("short"))?;
    let fields_len = u32::from_le_bytes(length_bytes) as usize;
    let fields = rest.get(4..4 + fields_len).ok_or_else(|| corrupt("fields length"))?;
    let inline = rest.get(4 + fields_len..).unwrap_or_default();
    Ok((version, fields, inline))
}

/// Decodes a JSON row (format version 1); returns the row and the inline bytes (possibly
/// empty).
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<(T, &[u8]), PartitionError> {
    let (version, json, inline) = split_row(bytes)?;
    if version != ROW_FORMAT_VERSION {
        return Err(PartitionError::Corrupt("row: unknown format version".into()));
    }
    let row = serde_json::from_slice(json).map_err(|e| PartitionError::Corrupt(format!("row: {e}")))?;
    Ok((row, inline))
}

/// A row of one of the `binary_formats` decoded by `decode_fields`, or a JSON row of an earlier
/// version; with the inline bytes.
fn decode_binary_or_json<'a, T: for<'de> Deserialize<'de>>(
    bytes: &'a [u8],
    binary_formats: &[u8],
    decode_fields: impl FnOnce(&[u8]) -> Result<T, PartitionError>,
) -> Result<(T, &'a [u8]), PartitionError> {
    if !bytes.first().is_some_and(|format| binary_formats.contains(format)) {
        return decode(bytes);
    }
    let (_, fields, inline) = split_row(bytes)?;
    Ok((decode_fields(fields)?, inline))
}

/// A blob row without its inline body (which stays `None`), and the inline bytes: binary
/// rows (format 2, or 4 with a page map in chunk rows) and the JSON rows of earlier versions.
pub fn decode_blob_parts(bytes: &[u8]) -> Result<(BlobRow, &[u8]), PartitionError> {
    decode_blob_parts_within(bytes, None)
}

/// [`decode_blob_parts`]; with `blocks_for`, a block blob's blocks only within those bytes
/// (`row_codec::decode_blob_fields_within`; JSON rows decode whole).
fn decode_blob_parts_within<'a>(
    bytes: &'a [u8],
    blocks_for: Option<&std::ops::Range<u64>>,
) -> Result<(BlobRow, &'a [u8]), PartitionError> {
    use crate::row_codec::{BLOB_FORMAT, BLOB_PAGE_MAP_FORMAT};
    decode_binary_or_json(bytes, &[BLOB_FORMAT, BLOB_PAGE_MAP_FORMAT], |fields| {
        crate::row_codec::decode_blob_fields_within(fields, blocks_for)
    })
}

pub fn decode_blob(bytes: &[u8]) -> Result<BlobRow, PartitionError> {
    decode_blob_with(bytes, None, Bytes::copy_from_slice)
}

/// [`decode_blob`] of a row read from the table: the inline body shares the row's memory.
pub fn decode_blob_shared(bytes: &Bytes) -> Result<BlobRow, PartitionError> {
    decode_blob_with(bytes, None, |inline| bytes.slice_ref(inline))
}

/// [`decode_blob_shared`] for a read of blob bytes `blocks_for` (an empty range: the
/// properties alone): a block blob's blocks outside it are skipped, not decoded
/// (`blocks_omitted`).
pub fn decode_blob_within(bytes: &Bytes, blocks_for: &std::ops::Range<u64>) -> Result<BlobRow, PartitionError> {
    decode_blob_with(bytes, Some(blocks_for), |inline| bytes.slice_ref(inline))
}

/// A blob row (its blocks within `blocks_for`, when given) with its inline body (if it has
/// one) made by `body` from the inline bytes.
fn decode_blob_with(
    bytes: &[u8],
    blocks_for: Option<&std::ops::Range<u64>>,
    body: impl FnOnce(&[u8]) -> Bytes,
) -> Result<BlobRow, PartitionError> {
    let (mut row, inline) = decode_blob_parts_within(bytes, blocks_for)?;
    if row.has_inline_body() {
        row.inline = Some(body(inline));
    }
    Ok(row)
}

/// A path row without its inline body, and the inline bytes (as [`decode_blob_parts`]); with
/// `blocks_for`, a file's blocks only within those bytes.
pub(crate) fn decode_path_parts<'a>(
    bytes: &'a [u8],
    blocks_for: Option<&std::ops::Range<u64>>,
) -> Result<(crate::hns::PathRow, &'a [u8]), PartitionError> {
    use crate::row_codec::{PATH_FORMAT, PATH_PAGE_MAP_FORMAT};
    decode_binary_or_json(bytes, &[PATH_FORMAT, PATH_PAGE_MAP_FORMAT], |fields| {
        crate::row_codec::decode_path_fields_within(fields, blocks_for)
    })
}

/// Blob rows are written in the binary format (2).
pub fn encode_blob(row: &BlobRow) -> Vec<u8> {
    crate::row_codec::encode_blob(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_row_round_trip_with_inline_body() {
        let row = BlobRow {
            blob_type: "BlockBlob".into(),
            etag: "\"0x1\"".into(),
            content_length: 3,
            inline: Some(Bytes::from_static(b"abc")),
            ..Default::default()
        };
        assert_eq!(decode_blob(&encode_blob(&row)).unwrap(), row);
        assert!(decode_blob(b"").is_err());
        assert!(decode_blob(&[1, 200, 0, 0, 0, b'{']).is_err());
        assert!(decode_blob(&[2, 200, 0, 0, 0, 1]).is_err());
        assert!(decode_blob(&[9]).is_err());
    }
}
