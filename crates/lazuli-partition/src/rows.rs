//! Row types of the object table and their encoding.
//!
//! A row is `[format version u8][json length u32 LE][json][inline body bytes]`: the JSON part
//! holds properties and data locations; small blob bodies ride after it in the same row (and
//! so in the same commit-log record) instead of going to the blob-data stream.

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
    /// The whole body when it is small (kept out of the JSON, after it in the row).
    #[serde(skip)]
    pub inline: Option<Vec<u8>>,
}

impl BlobRow {
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.blocks.iter().flat_map(|block| block.segments.iter())
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

/// Decodes a row; returns the JSON part and the inline bytes (possibly empty).
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<(T, &[u8]), PartitionError> {
    let corrupt = |why: &str| PartitionError::Corrupt(format!("row: {why}"));
    let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
    if version != ROW_FORMAT_VERSION {
        return Err(corrupt("unknown format version"));
    }
    let length_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| corrupt("short"))?;
    let json_len = u32::from_le_bytes(length_bytes) as usize;
    let json = rest.get(4..4 + json_len).ok_or_else(|| corrupt("json length"))?;
    let inline = rest.get(4 + json_len..).unwrap_or_default();
    let row = serde_json::from_slice(json).map_err(|e| corrupt(&e.to_string()))?;
    Ok((row, inline))
}

pub fn decode_blob(bytes: &[u8]) -> Result<BlobRow, PartitionError> {
    let (mut row, inline): (BlobRow, &[u8]) = decode(bytes)?;
    if row.blocks.is_empty() {
        row.inline = Some(inline.to_vec());
    }
    Ok(row)
}

pub fn encode_blob(row: &BlobRow) -> Vec<u8> {
    encode(row, row.inline.as_deref())
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
            inline: Some(b"abc".to_vec()),
            ..Default::default()
        };
        assert_eq!(decode_blob(&encode_blob(&row)).unwrap(), row);
        assert!(decode_blob(b"").is_err());
        assert!(decode_blob(&[1, 200, 0, 0, 0, b'{']).is_err());
        assert!(decode_blob(&[9]).is_err());
    }
}
