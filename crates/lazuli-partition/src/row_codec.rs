//! The binary encoding of blob and path rows (format versions 2 and 3; `docs/formats/rows.md`).
//!
//! Every Get, Put and listed blob decodes or encodes one of these rows; as JSON (version 1,
//! still read) the decode was the largest single cost of a small Get. The fields are
//! tag-length-value: `[tag u8][length varint][payload]`, absent when they hold their default,
//! so a row carries only what is set, and a reader skips a tag it does not know (a row written
//! by a newer version stays readable, as JSON's unknown fields were). The rarely set nested
//! states (lease, soft delete, tier, copy) stay JSON inside their field: they are read only
//! when present, and their structs evolve as JSON does.

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::hns::PathRow;
use crate::page::PageExtent;
use crate::rows::{BlobRow, CommittedBlock, Segment};
use crate::PartitionError;

/// The first byte of a binary `BlobRow`.
pub(crate) const BLOB_FORMAT: u8 = 2;
/// The first byte of a binary `PathRow`.
pub(crate) const PATH_FORMAT: u8 = 3;
/// The first byte of a binary `BlobRow` whose page map lives in chunk rows (`page_map` set):
/// a format of its own so that a version that does not know chunk rows refuses the row as
/// corrupt rather than serving the blob as all zeros.
pub(crate) const BLOB_PAGE_MAP_FORMAT: u8 = 4;
/// The first byte of a page map chunk row (`page.rs`).
pub(crate) const PAGE_CHUNK_FORMAT: u8 = 5;
/// The first byte of a binary `PathRow` whose file's page map lives in chunk rows, for the
/// reason of [`BLOB_PAGE_MAP_FORMAT`].
pub(crate) const PATH_PAGE_MAP_FORMAT: u8 = 6;

// BlobRow fields. Numbers are part of the on-disk format: never reuse one.
const BLOB_TYPE: u8 = 1;
const ETAG: u8 = 2;
const LAST_MODIFIED: u8 = 3;
const CREATED: u8 = 4;
const CONTENT_LENGTH: u8 = 5;
const CONTENT_TYPE: u8 = 6;
const CONTENT_ENCODING: u8 = 7;
const CONTENT_LANGUAGE: u8 = 8;
const CONTENT_MD5: u8 = 9;
const CACHE_CONTROL: u8 = 10;
const CONTENT_DISPOSITION: u8 = 11;
const METADATA: u8 = 12;
const BLOCKS: u8 = 13;
const PAGES: u8 = 14;
const SEQUENCE_NUMBER: u8 = 15;
const SEALED: u8 = 16;
const LEASE: u8 = 17;
const SNAPSHOT: u8 = 18;
const VERSION_ID: u8 = 19;
const DELETED: u8 = 20;
const TAGS: u8 = 21;
const TIER: u8 = 22;
const COPY: u8 = 23;
const EXPIRES_ON: u8 = 24;
const APPENDED_BLOCKS: u8 = 25;
const PAGE_MAP: u8 = 26;
// PathRow fields.
const PATH_ID: u8 = 64;
const IS_DIRECTORY: u8 = 65;
const OWNER: u8 = 66;
const GROUP: u8 = 67;
const PERMISSIONS: u8 = 68;
const ACL: u8 = 69;
const PENDING: u8 = 70;

fn corrupt(why: &str) -> PartitionError {
    PartitionError::Corrupt(format!("row: {why}"))
}

// ---- writing

fn put_varint(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i128) -> u128 {
    ((value << 1) ^ (value >> 127)) as u128
}

fn unzigzag(value: u128) -> i128 {
    (value >> 1) as i128 ^ -((value & 1) as i128)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u128);
    out.extend_from_slice(bytes);
}

/// Writes one field whose payload `write` appends; the length is patched in after it.
fn field(out: &mut Vec<u8>, tag: u8, write: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let length_at = out.len();
    // One byte of length covers payloads up to 127 bytes (most fields); longer ones are moved.
    out.push(0);
    write(out);
    let len = out.len() - length_at - 1;
    if len < 0x80 {
        out[length_at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(5);
        put_varint(&mut prefix, len as u128);
        out.splice(length_at..=length_at, prefix);
    }
}

fn str_field(out: &mut Vec<u8>, tag: u8, value: &str) {
    out.push(tag);
    put_bytes(out, value.as_bytes());
}

fn opt_str_field(out: &mut Vec<u8>, tag: u8, value: Option<&str>) {
    if let Some(value) = value {
        str_field(out, tag, value);
    }
}

fn int_field(out: &mut Vec<u8>, tag: u8, value: i128) {
    field(out, tag, |out| put_varint(out, zigzag(value)));
}

fn flag_field(out: &mut Vec<u8>, tag: u8, set: bool) {
    if set {
        out.extend_from_slice(&[tag, 0]);
    }
}

fn pairs_field(out: &mut Vec<u8>, tag: u8, pairs: &[(String, String)]) {
    if !pairs.is_empty() {
        field(out, tag, |out| {
            for (name, value) in pairs {
                put_bytes(out, name.as_bytes());
                put_bytes(out, value.as_bytes());
            }
        });
    }
}

fn put_segment(out: &mut Vec<u8>, segment: &Segment) {
    put_varint(out, segment.extent.into());
    put_varint(out, segment.offset.into());
    put_varint(out, segment.len.into());
}

fn put_pages(out: &mut Vec<u8>, pages: &[PageExtent]) {
    for page in pages {
        put_varint(out, page.offset.into());
        put_varint(out, page.len.into());
        put_segment(out, &page.segment);
        put_varint(out, page.skip.into());
    }
}

fn json_field<T: Serialize>(out: &mut Vec<u8>, tag: u8, value: Option<&T>) {
    if let Some(value) = value {
        // Serializing plain structs of strings and numbers cannot fail.
        let json = serde_json::to_vec(value).unwrap_or_default();
        out.push(tag);
        put_bytes(out, &json);
    }
}

fn put_blob_fields(out: &mut Vec<u8>, row: &BlobRow) {
    str_field(out, BLOB_TYPE, &row.blob_type);
    str_field(out, ETAG, &row.etag);
    int_field(out, LAST_MODIFIED, row.last_modified);
    int_field(out, CREATED, row.created);
    int_field(out, CONTENT_LENGTH, row.content_length.into());
    let h = &row.headers;
    opt_str_field(out, CONTENT_TYPE, h.content_type.as_deref());
    opt_str_field(out, CONTENT_ENCODING, h.content_encoding.as_deref());
    opt_str_field(out, CONTENT_LANGUAGE, h.content_language.as_deref());
    opt_str_field(out, CONTENT_MD5, h.content_md5.as_deref());
    opt_str_field(out, CACHE_CONTROL, h.cache_control.as_deref());
    opt_str_field(out, CONTENT_DISPOSITION, h.content_disposition.as_deref());
    pairs_field(out, METADATA, &row.metadata);
    if !row.blocks.is_empty() {
        field(out, BLOCKS, |out| {
            for block in &row.blocks {
                put_bytes(out, block.id.as_bytes());
                put_varint(out, block.size.into());
                put_varint(out, block.segments.len() as u128);
                for segment in &block.segments {
                    put_segment(out, segment);
                }
            }
        });
    }
    // A row whose map is in chunk rows is stored without its pages (they are the chunks').
    if !row.pages.is_empty() && row.page_map == 0 {
        field(out, PAGES, |out| put_pages(out, &row.pages));
    }
    if row.page_map != 0 {
        int_field(out, PAGE_MAP, row.page_map.into());
    }
    if row.sequence_number != 0 {
        int_field(out, SEQUENCE_NUMBER, row.sequence_number.into());
    }
    flag_field(out, SEALED, row.sealed);
    if row.appended_blocks != 0 {
        int_field(out, APPENDED_BLOCKS, row.appended_blocks.into());
    }
    json_field(out, LEASE, row.lease.as_ref());
    opt_str_field(out, SNAPSHOT, row.snapshot.as_deref());
    opt_str_field(out, VERSION_ID, row.version_id.as_deref());
    json_field(out, DELETED, row.deleted.as_ref());
    pairs_field(out, TAGS, &row.tags);
    json_field(out, TIER, row.tier.as_ref());
    json_field(out, COPY, row.copy.as_ref());
    if let Some(at) = row.expires_on {
        int_field(out, EXPIRES_ON, at);
    }
}

/// `[format][fields length u32 LE][fields][inline body]`, the framing of every row version.
fn frame(format: u8, write_fields: impl FnOnce(&mut Vec<u8>), inline: Option<&[u8]>) -> Vec<u8> {
    let inline = inline.unwrap_or_default();
    let mut out = Vec::with_capacity(256 + inline.len());
    out.push(format);
    out.extend_from_slice(&[0; 4]);
    write_fields(&mut out);
    let fields_len = (out.len() - 5) as u32;
    out[1..5].copy_from_slice(&fields_len.to_le_bytes());
    out.extend_from_slice(inline);
    out
}

pub(crate) fn encode_blob(row: &BlobRow) -> Vec<u8> {
    debug_assert!(
        !row.blocks_omitted,
        "a row read with part of its block list is written back"
    );
    let format = if row.page_map != 0 {
        BLOB_PAGE_MAP_FORMAT
    } else {
        BLOB_FORMAT
    };
    frame(format, |out| put_blob_fields(out, row), row.inline.as_deref())
}

/// A page map chunk row: the framing, then the extents as the `pages` field's payload.
pub(crate) fn encode_page_chunk(pages: &[PageExtent]) -> Vec<u8> {
    frame(PAGE_CHUNK_FORMAT, |out| put_pages(out, pages), None)
}

pub(crate) fn decode_page_chunk(bytes: &[u8]) -> Result<Vec<PageExtent>, PartitionError> {
    match crate::rows::split_row(bytes)? {
        (PAGE_CHUNK_FORMAT, fields, _) => pages(fields),
        _ => Err(corrupt("not a page map chunk")),
    }
}

pub(crate) fn encode_path(row: &PathRow) -> Vec<u8> {
    debug_assert!(
        !row.blob.blocks_omitted,
        "a row read with part of its block list is written back"
    );
    let format = if row.blob.page_map != 0 {
        PATH_PAGE_MAP_FORMAT
    } else {
        PATH_FORMAT
    };
    frame(
        format,
        |out| {
            int_field(out, PATH_ID, row.id.into());
            flag_field(out, IS_DIRECTORY, row.is_directory);
            str_field(out, OWNER, &row.owner);
            str_field(out, GROUP, &row.group);
            str_field(out, PERMISSIONS, &row.permissions);
            opt_str_field(out, ACL, row.acl.as_deref());
            flag_field(out, PENDING, row.pending);
            put_blob_fields(out, &row.blob);
        },
        row.blob.inline.as_deref(),
    )
}

// ---- reading

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn byte(&mut self) -> Result<u8, PartitionError> {
        let (&first, rest) = self.bytes.split_first().ok_or_else(|| corrupt("truncated field"))?;
        self.bytes = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u128, PartitionError> {
        let mut value = 0u128;
        for shift in (0..128).step_by(7) {
            let byte = self.byte()?;
            value |= u128::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("varint too long"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], PartitionError> {
        if len > self.bytes.len() {
            return Err(corrupt("field longer than the row"));
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    fn bytes(&mut self) -> Result<&'a [u8], PartitionError> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| corrupt("length"))?)
    }

    fn string(&mut self) -> Result<String, PartitionError> {
        text(self.bytes()?)
    }

    fn int<T: TryFrom<i128>>(&mut self) -> Result<T, PartitionError> {
        T::try_from(unzigzag(self.varint()?)).map_err(|_| corrupt("integer out of range"))
    }

    fn uint<T: TryFrom<u128>>(&mut self) -> Result<T, PartitionError> {
        T::try_from(self.varint()?).map_err(|_| corrupt("integer out of range"))
    }

    fn segment(&mut self) -> Result<Segment, PartitionError> {
        Ok(Segment {
            extent: self.uint()?,
            offset: self.uint()?,
            len: self.uint()?,
        })
    }
}

/// A string field's payload.
fn text(payload: &[u8]) -> Result<String, PartitionError> {
    std::str::from_utf8(payload)
        .map(str::to_owned)
        .map_err(|_| corrupt("string is not UTF-8"))
}

fn pairs(payload: &[u8]) -> Result<Vec<(String, String)>, PartitionError> {
    let mut r = Reader { bytes: payload };
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push((r.string()?, r.string()?));
    }
    Ok(out)
}

fn blocks(payload: &[u8]) -> Result<Vec<CommittedBlock>, PartitionError> {
    let mut r = Reader { bytes: payload };
    let mut out = Vec::new();
    while !r.is_empty() {
        let id = r.string()?;
        let size = r.uint()?;
        let count: usize = r.uint()?;
        // Each segment takes at least 3 bytes: a count beyond that is corrupt, not an allocation.
        if count > r.bytes.len() / 3 {
            return Err(corrupt("segment count"));
        }
        let mut segments = Vec::with_capacity(count);
        for _ in 0..count {
            segments.push(r.segment()?);
        }
        out.push(CommittedBlock { id, size, segments });
    }
    Ok(out)
}

fn pages(payload: &[u8]) -> Result<Vec<PageExtent>, PartitionError> {
    let mut r = Reader { bytes: payload };
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(PageExtent {
            offset: r.uint()?,
            len: r.uint()?,
            segment: r.segment()?,
            skip: r.uint()?,
        });
    }
    Ok(out)
}

fn json<T: DeserializeOwned>(payload: &[u8]) -> Result<Option<T>, PartitionError> {
    serde_json::from_slice(payload)
        .map(Some)
        .map_err(|e| corrupt(&e.to_string()))
}

fn whole_int<T: TryFrom<i128>>(payload: &[u8]) -> Result<T, PartitionError> {
    let mut r = Reader { bytes: payload };
    let value = r.int()?;
    if !r.is_empty() {
        return Err(corrupt("integer field too long"));
    }
    Ok(value)
}

/// Applies one BlobRow field; a tag it does not know is a newer version's field, skipped.
fn blob_field(row: &mut BlobRow, tag: u8, payload: &[u8]) -> Result<(), PartitionError> {
    let text = || text(payload);
    let h = &mut row.headers;
    match tag {
        BLOB_TYPE => row.blob_type = text()?,
        ETAG => row.etag = text()?,
        LAST_MODIFIED => row.last_modified = whole_int(payload)?,
        CREATED => row.created = whole_int(payload)?,
        CONTENT_LENGTH => row.content_length = whole_int(payload)?,
        CONTENT_TYPE => h.content_type = Some(text()?),
        CONTENT_ENCODING => h.content_encoding = Some(text()?),
        CONTENT_LANGUAGE => h.content_language = Some(text()?),
        CONTENT_MD5 => h.content_md5 = Some(text()?),
        CACHE_CONTROL => h.cache_control = Some(text()?),
        CONTENT_DISPOSITION => h.content_disposition = Some(text()?),
        METADATA => row.metadata = pairs(payload)?,
        BLOCKS => row.blocks = blocks(payload)?,
        PAGES => row.pages = pages(payload)?,
        SEQUENCE_NUMBER => row.sequence_number = whole_int(payload)?,
        SEALED => row.sealed = true,
        APPENDED_BLOCKS => row.appended_blocks = whole_int(payload)?,
        PAGE_MAP => row.page_map = whole_int(payload)?,
        LEASE => row.lease = json(payload)?,
        SNAPSHOT => row.snapshot = Some(text()?),
        VERSION_ID => row.version_id = Some(text()?),
        DELETED => row.deleted = json(payload)?,
        TAGS => row.tags = pairs(payload)?,
        TIER => row.tier = json(payload)?,
        COPY => row.copy = json(payload)?,
        EXPIRES_ON => row.expires_on = Some(whole_int(payload)?),
        _ => {}
    }
    Ok(())
}

/// Calls `apply` with each (tag, payload) of a row's fields.
fn each_field(
    fields: &[u8],
    mut apply: impl FnMut(u8, &[u8]) -> Result<(), PartitionError>,
) -> Result<(), PartitionError> {
    let mut r = Reader { bytes: fields };
    while !r.is_empty() {
        let tag = r.byte()?;
        let payload = r.bytes()?;
        apply(tag, payload)?;
    }
    Ok(())
}

/// The fields of a binary `BlobRow` (the bytes between the framing and the inline body).
/// Unknown tags are skipped: a newer version's fields. With `blocks_for`, only the blocks of
/// a block blob that hold bytes within it (none for an empty range: Get Blob Properties),
/// the list skipped by its encoding past them (`BlobRow::blocks_omitted`,
/// `BlobRow::blocks_start`): a blob of tens of thousands of blocks cost a millisecond per read
/// to decode whole.
pub(crate) fn decode_blob_fields_within(
    fields: &[u8],
    blocks_for: Option<&Range<u64>>,
) -> Result<BlobRow, PartitionError> {
    let mut row = BlobRow::default();
    each_field(fields, |tag, payload| {
        blob_field_within(&mut row, tag, payload, blocks_for)
    })?;
    Ok(row)
}

/// [`blob_field`], with a block blob's `BLOCKS` decoded only within `blocks_for` when given.
/// An append blob's blocks are decoded whole (one written before `APPENDED_BLOCKS` existed
/// counts its committed blocks by them). The type is the first field written
/// (`put_blob_fields`), so it is known when `BLOCKS` comes.
fn blob_field_within(
    row: &mut BlobRow,
    tag: u8,
    payload: &[u8],
    blocks_for: Option<&Range<u64>>,
) -> Result<(), PartitionError> {
    match blocks_for {
        Some(range) if tag == BLOCKS && row.blob_type != "AppendBlob" => blocks_within(row, payload, range),
        _ => blob_field(row, tag, payload),
    }
}

/// The blocks of `payload` (a `BLOCKS` field) that hold bytes within `range`, into `row`.
fn blocks_within(row: &mut BlobRow, payload: &[u8], range: &Range<u64>) -> Result<(), PartitionError> {
    row.blocks_omitted = true;
    if range.is_empty() {
        return Ok(());
    }
    let mut r = Reader { bytes: payload };
    let mut offset = 0u64;
    while !r.is_empty() && offset < range.end {
        let id = r.bytes()?;
        let size: u64 = r.uint()?;
        let count: usize = r.uint()?;
        // Each segment takes at least 3 bytes: a count beyond that is corrupt, not an allocation.
        if count > r.bytes.len() / 3 {
            return Err(corrupt("segment count"));
        }
        let end = offset.checked_add(size).ok_or_else(|| corrupt("block sizes"))?;
        if end > range.start {
            if row.blocks.is_empty() {
                row.blocks_start = offset;
            }
            let mut segments = Vec::with_capacity(count);
            for _ in 0..count {
                segments.push(r.segment()?);
            }
            let id = std::str::from_utf8(id)
                .map_err(|_| corrupt("string is not UTF-8"))?
                .to_owned();
            row.blocks.push(CommittedBlock { id, size, segments });
        } else {
            for _ in 0..count {
                r.segment()?;
            }
        }
        offset = end;
    }
    Ok(())
}

/// The fields of a binary `PathRow`; with `blocks_for`, a file's blocks only within it (as
/// [`decode_blob_fields_within`]).
pub(crate) fn decode_path_fields_within(
    fields: &[u8],
    blocks_for: Option<&Range<u64>>,
) -> Result<PathRow, PartitionError> {
    let mut row = PathRow::default();
    each_field(fields, |tag, payload| {
        let text = || text(payload);
        match tag {
            PATH_ID => row.id = whole_int(payload)?,
            IS_DIRECTORY => row.is_directory = true,
            OWNER => row.owner = text()?,
            GROUP => row.group = text()?,
            PERMISSIONS => row.permissions = text()?,
            ACL => row.acl = Some(text()?),
            PENDING => row.pending = true,
            _ => blob_field_within(&mut row.blob, tag, payload, blocks_for)?,
        }
        Ok(())
    })?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::HttpHeaders;

    fn full_blob_row() -> BlobRow {
        BlobRow {
            blob_type: "BlockBlob".into(),
            etag: "\"0x8DD1234567890AB\"".into(),
            last_modified: 1_764_350_000_123_456_789,
            created: -5,
            content_length: 300,
            headers: HttpHeaders {
                content_type: Some("text/plain".into()),
                content_encoding: Some(String::new()),
                content_language: None,
                content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg==".into()),
                cache_control: None,
                content_disposition: Some("attachment; filename=\"é.txt\"".into()),
            },
            metadata: vec![("b".into(), "2".into()), ("a".into(), "x".repeat(200))],
            blocks: vec![
                CommittedBlock {
                    id: "YmxvY2sx".into(),
                    size: 5_000_000,
                    segments: vec![
                        Segment {
                            extent: 3,
                            offset: 1 << 40,
                            len: 4 << 20,
                        },
                        Segment {
                            extent: 4,
                            offset: 0,
                            len: 1,
                        },
                    ],
                },
                CommittedBlock {
                    id: String::new(),
                    size: 0,
                    segments: vec![],
                },
            ],
            inline: None,
            pages: vec![PageExtent {
                offset: 512,
                len: 1024,
                segment: Segment {
                    extent: 9,
                    offset: 77,
                    len: 4096,
                },
                skip: 512,
            }],
            page_map: 0,
            loaded_page_map: 0,
            blocks_omitted: false,
            blocks_start: 0,
            sequence_number: 42,
            sealed: true,
            appended_blocks: 50_000,
            lease: Some(crate::lease::Lease {
                id: "lease".into(),
                duration: -1,
                expires: None,
                broken_at: Some(3),
            }),
            snapshot: Some("2026-11-28T18:00:00.0000000Z".into()),
            version_id: Some("2026-11-28T18:00:00.1234567Z".into()),
            deleted: Some(crate::soft_delete::Deletion {
                time: 7,
                purge_at: i128::MAX,
            }),
            previous_version: false,
            tags: vec![("project".into(), "lazuli".into())],
            tier: Some(crate::tier::TierState {
                tier: "Cool".into(),
                change_time: 11,
                rehydrate: None,
            }),
            copy: Some(crate::copy::CopyState {
                id: "copy".into(),
                ..Default::default()
            }),
            expires_on: Some(i128::MIN),
        }
    }

    #[test]
    fn blob_rows_round_trip_with_every_field() {
        let row = full_blob_row();
        let bytes = encode_blob(&row);
        assert_eq!(bytes[0], BLOB_FORMAT);
        assert_eq!(crate::rows::decode_blob(&bytes).unwrap(), row);
        let default = BlobRow::default();
        let decoded = crate::rows::decode_blob(&encode_blob(&default)).unwrap();
        // A row without blocks has an (empty) inline body, as every version reads it.
        assert_eq!(
            decoded,
            BlobRow {
                inline: Some(bytes::Bytes::new()),
                ..default
            }
        );
    }

    #[test]
    fn path_rows_round_trip_with_inline_bodies() {
        let row = PathRow {
            id: u64::MAX,
            is_directory: false,
            owner: "$superuser".into(),
            group: "g".into(),
            permissions: "rw-r-----".into(),
            acl: Some("user::rw-,group::r--,other::---".into()),
            blob: BlobRow {
                blob_type: "BlockBlob".into(),
                content_length: 3,
                inline: Some(bytes::Bytes::from_static(b"abc")),
                ..Default::default()
            },
            pending: true,
        };
        let bytes = encode_path(&row);
        assert_eq!(bytes[0], PATH_FORMAT);
        assert_eq!(crate::hns::decode_path(&bytes).unwrap(), row);
        let directory = PathRow {
            id: 7,
            is_directory: true,
            ..Default::default()
        };
        assert_eq!(crate::hns::decode_path(&encode_path(&directory)).unwrap(), directory);
    }

    /// Rows written by earlier versions (JSON, format 1) read as they did.
    #[test]
    fn json_rows_of_earlier_versions_still_read() {
        let mut blob = full_blob_row();
        blob.blocks.clear();
        blob.inline = Some(bytes::Bytes::from_static(b"body"));
        let legacy = crate::rows::encode(&blob, blob.inline.as_deref());
        assert_eq!(legacy[0], 1);
        assert_eq!(crate::rows::decode_blob(&legacy).unwrap(), blob);
        let path = PathRow {
            id: 9,
            owner: "o".into(),
            blob: blob.clone(),
            ..Default::default()
        };
        let legacy = crate::rows::encode(&path, path.blob.inline.as_deref());
        assert_eq!(crate::hns::decode_path(&legacy).unwrap(), path);
        // A blob row is not a path row, whatever its format.
        assert!(crate::hns::decode_path(&encode_blob(&blob)).is_err());
        assert!(crate::rows::decode_blob(&encode_path(&path)).is_err());
    }

    /// The bytes of a row as this version writes it: a change to the format fails here before
    /// it fails to read the rows already on disk.
    #[test]
    fn the_format_is_stable() {
        let row = BlobRow {
            blob_type: "BlockBlob".into(),
            etag: "\"0x1\"".into(),
            last_modified: 300,
            created: -1,
            content_length: 2,
            metadata: vec![("k".into(), "v".into())],
            inline: Some(bytes::Bytes::from_static(b"hi")),
            ..Default::default()
        };
        let expected: &[u8] = &[
            2, 34, 0, 0, 0, // format, fields length
            1, 9, b'B', b'l', b'o', b'c', b'k', b'B', b'l', b'o', b'b', // blob type
            2, 5, b'"', b'0', b'x', b'1', b'"', // etag
            3, 2, 0xd8, 0x04, // last modified 300, zigzag varint
            4, 1, 1, // created -1
            5, 1, 4, // content length 2
            12, 4, 1, b'k', 1, b'v', // metadata
            b'h', b'i', // inline body
        ];
        assert_eq!(encode_blob(&row), expected);
        assert_eq!(crate::rows::decode_blob(expected).unwrap(), row);
    }

    /// A page blob row whose map is in chunk rows has a format of its own (so that a version
    /// without chunk rows refuses it), and chunk rows have stable bytes.
    #[test]
    fn page_map_rows_and_chunk_rows() {
        let row = BlobRow {
            blob_type: "PageBlob".into(),
            content_length: 1 << 30,
            page_map: 0x1234,
            ..Default::default()
        };
        let bytes = encode_blob(&row);
        assert_eq!(bytes[0], BLOB_PAGE_MAP_FORMAT);
        assert_eq!(crate::rows::decode_blob(&bytes).unwrap(), row);
        let path = PathRow {
            id: 5,
            blob: row.clone(),
            ..Default::default()
        };
        let path_bytes = encode_path(&path);
        assert_eq!(path_bytes[0], PATH_PAGE_MAP_FORMAT);
        assert_eq!(crate::hns::decode_path(&path_bytes).unwrap(), path);
        assert!(crate::rows::decode_blob(&path_bytes).is_err());
        assert!(crate::hns::decode_path(&bytes).is_err());
        let inline_map = BlobRow { page_map: 0, ..row };
        assert_eq!(encode_blob(&inline_map)[0], BLOB_FORMAT);

        let pages = [
            PageExtent {
                offset: 512,
                len: 1024,
                segment: Segment {
                    extent: 9,
                    offset: 77,
                    len: 4096,
                },
                skip: 512,
            },
            PageExtent {
                offset: 4096,
                len: 1,
                segment: Segment {
                    extent: 1,
                    offset: 0,
                    len: 1,
                },
                skip: 0,
            },
        ];
        let expected: &[u8] = &[
            5, 17, 0, 0, 0, // format, fields length
            0x80, 0x04, 0x80, 0x08, 9, 77, 0x80, 0x20, 0x80, 0x04, // 512, 1024, (9, 77, 4096), 512
            0x80, 0x20, 1, 1, 0, 1, 0, // 4096, 1, (1, 0, 1), 0
        ];
        let chunk = encode_page_chunk(&pages);
        assert_eq!(chunk, expected);
        assert_eq!(decode_page_chunk(&chunk).unwrap(), pages);
        assert_eq!(decode_page_chunk(&encode_page_chunk(&[])).unwrap(), vec![]);
        assert!(decode_page_chunk(&bytes).is_err(), "a blob row is not a chunk");
        for cut in 0..chunk.len() {
            assert!(decode_page_chunk(&chunk[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn unknown_fields_are_skipped_and_damage_is_an_error() {
        let row = BlobRow {
            blob_type: "AppendBlob".into(),
            blocks: vec![CommittedBlock::default()],
            ..Default::default()
        };
        let mut fields = Vec::new();
        put_blob_fields(&mut fields, &row);
        fields.extend_from_slice(&[200, 3, 1, 2, 3]);
        assert_eq!(decode_blob_fields_within(&fields, None).unwrap(), row);
        // Every truncation of the fields is refused or decodes to something, never panics.
        for cut in 0..fields.len() {
            let _ = decode_blob_fields_within(&fields[..cut], None);
        }
        assert!(decode_blob_fields_within(&[LAST_MODIFIED, 1, 0x80], None).is_err());
        assert!(decode_blob_fields_within(&[ETAG, 2, 0xff, 0xfe], None).is_err());
        assert!(
            decode_blob_fields_within(&[CONTENT_LENGTH, 1, 1], None).is_err(),
            "negative length"
        );
        assert!(decode_blob_fields_within(&[ETAG, 9, b'x'], None).is_err());
        assert!(
            decode_blob_fields_within(&[BLOCKS, 3, 0, 0, 200], None).is_err(),
            "segment count"
        );
        assert!(decode_blob_fields_within(&[LEASE, 1, b'{'], None).is_err());
    }
}
