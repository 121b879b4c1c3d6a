//! Blob index tags: Set/Get Blob Tags and Find Blobs by Tags, over a secondary index.
//!
//! Every tag of every blob has one index row, keyed
//! `T<account>/<tag key>\0<tag value>\0<container>/<blob>`, whose value is the blob's whole
//! tag set ([`encode_tag_set`]). Tag keys and values never contain NUL (only
//! `a-zA-Z0-9 +-./:=_` is allowed) and blob names never do either, so the NUL separators are
//! unambiguous and, NUL sorting before every other byte, the rows of one tag key sort by
//! value exactly as the values compare as strings. A query
//! therefore reads the key range of one of its comparisons and checks the rest against the
//! tag set in the index row: it never scans all blobs, and reads a blob's row only on an HNS
//! account (or for an index row written before it carried the tag set).
//!
//! The index rows are written in the same atomic batch as the blob row (see
//! [`index_changes`], called by every read-modify-write of a blob and by container
//! deletion), so the index is never ahead of or behind the rows, even across crashes.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::tag_expr::{CmpOp, Comparison, CONTAINER_KEY};
use lazuli_types::AzureError;

use crate::blob::blob_not_found;
use crate::rows::BlobRow;
use crate::{keys, Partition, PartitionError};

/// Index rows read per scan step of a query.
const FIND_SCAN_ROWS: usize = 1024;

/// Properties that a new blob (Put Blob, Put Block List, copies) gets at creation besides its
/// body, headers and metadata.
#[derive(Clone, Debug, Default)]
pub struct NewBlobOptions {
    /// `x-ms-tags`; `None` leaves the new blob without tags (an overwrite drops the old ones,
    /// as the service does).
    pub tags: Option<Vec<(String, String)>>,
    /// `x-ms-access-tier`.
    pub tier: Option<String>,
    /// The copy properties of a blob created by a copy.
    pub copy: Option<crate::copy::CopyState>,
}

pub fn tags_prefix(account: &str) -> Vec<u8> {
    format!("T{account}/").into_bytes()
}

pub fn tag_index_key(account: &str, key: &str, value: &str, container: &str, blob: &str) -> Vec<u8> {
    format!("T{account}/{key}\0{value}\0{container}/{blob}").into_bytes()
}

/// Puts into `batch` the index changes that take a blob from tags `old` to tags `new`.
///
/// Every index row of a blob carries the blob's whole tag set (see [`encode_tag_set`]), so
/// when the set changes at all, every row of the new set is written again.
pub(crate) fn index_changes(
    batch: &mut WriteBatch,
    account: &str,
    container: &str,
    blob: &str,
    old: &[(String, String)],
    new: &[(String, String)],
) {
    if old == new {
        return;
    }
    for (key, value) in old {
        if !new.iter().any(|(k, v)| k == key && v == value) {
            batch.delete(tag_index_key(account, key, value, container, blob));
        }
    }
    let tag_set = encode_tag_set(new);
    for (key, value) in new {
        batch.put(tag_index_key(account, key, value, container, blob), tag_set.clone());
    }
}

/// First byte of an index row's value that holds the blob's tag set. Rows written before
/// the tag set was kept in the index have an empty value, and a query reads their blob row.
const TAG_SET_V1: u8 = 1;

/// The value of an index row: [`TAG_SET_V1`], then per tag its key and its value, each as a
/// u16 little-endian length and the bytes. A query checks its other comparisons against it
/// and answers with it, instead of reading the blob's row for every candidate. Keys hold at
/// most 128 characters and values 256 (the front end checks every write); a set that would
/// not fit is left out (an empty value), and queries read such a blob's row.
fn encode_tag_set(tags: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + tags.iter().map(|(k, v)| 4 + k.len() + v.len()).sum::<usize>());
    out.push(TAG_SET_V1);
    for part in tags.iter().flat_map(|(key, value)| [key, value]) {
        let Ok(len) = u16::try_from(part.len()) else {
            return Vec::new();
        };
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// The tag set of an index row's value; `None` for a row without one (or not readable as
/// one), whose blob row is then read instead.
fn decode_tag_set(value: &[u8]) -> Option<Vec<(String, String)>> {
    let (&TAG_SET_V1, mut rest) = value.split_first()? else {
        return None;
    };
    let mut tags = Vec::new();
    while !rest.is_empty() {
        let key = take_tag_part(&mut rest)?;
        tags.push((key, take_tag_part(&mut rest)?));
    }
    Some(tags)
}

/// One length-prefixed key or value of an encoded tag set, which `rest` then moves past.
fn take_tag_part(rest: &mut &[u8]) -> Option<String> {
    let len = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let text = std::str::from_utf8(rest.get(2..2 + len)?).ok()?.to_owned();
    *rest = &rest[2 + len..];
    Some(text)
}

/// One Find Blobs by Tags result: container, blob name, the blob's tags.
pub type TaggedBlob = (String, String, Vec<(String, String)>);

#[derive(Default, Debug)]
pub struct FoundBlobs {
    pub items: Vec<TaggedBlob>,
    /// The index key (after the account prefix) at which the next page starts.
    pub next_marker: Option<Vec<u8>>,
}

/// The index key range `[start, end)` (after the account prefix) holding every row that can
/// satisfy `c`.
fn comparison_range(c: &Comparison) -> (Vec<u8>, Option<Vec<u8>>) {
    let key_prefix = format!("{}\0", c.key).into_bytes();
    let value_prefix = format!("{}\0{}\0", c.key, c.value).into_bytes();
    match c.op {
        CmpOp::Eq => {
            let end = keys::prefix_end(&value_prefix);
            (value_prefix, end)
        }
        CmpOp::Ge => (value_prefix, keys::prefix_end(&key_prefix)),
        CmpOp::Gt => (
            keys::prefix_end(&value_prefix).unwrap_or(value_prefix),
            keys::prefix_end(&key_prefix),
        ),
        CmpOp::Lt => (key_prefix, Some(value_prefix)),
        CmpOp::Le => (key_prefix, keys::prefix_end(&value_prefix)),
        // Not reachable from the Filter dialect; the whole key's rows are a correct superset.
        CmpOp::Ne => (key_prefix.clone(), keys::prefix_end(&key_prefix)),
    }
}

impl Partition {
    /// Get Blob Tags: the blob's tags after checking `x-ms-if-tags` (and the other read
    /// conditions).
    pub fn get_blob_tags(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        conditions: &Conditions,
    ) -> Result<Vec<(String, String)>, AzureError> {
        let tags_only = Conditions {
            if_tags: conditions.if_tags.clone(),
            lease_id: conditions.lease_id.clone(),
            ..Default::default()
        };
        // The tags need no pages of a page blob.
        let row = self
            .get_blob_within(account, container, blob, &tags_only, Some(0..0))?
            .ok_or_else(blob_not_found)?;
        Ok(row.tags)
    }

    /// Set Blob Tags: replaces the blob's tags and its index rows in one batch. Setting tags
    /// changes neither the ETag nor Last-Modified, as in the service.
    pub fn set_blob_tags(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        tags: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        self.modify_blob(account, container, blob, |current| {
            let current = current.ok_or_else(blob_not_found)?;
            conditions.check_tags(&current.tags)?;
            let mut row = current.clone();
            row.tags = tags;
            Ok((Some(row), WriteBatch::new(), Vec::new()))
        })?;
        Ok(())
    }

    /// Find Blobs by Tags: blobs of `account` (of `container` only, if given) whose tags
    /// satisfy every comparison, in index order from `marker`, at most `max_results`.
    pub fn find_blobs_by_tags(
        &self,
        account: &str,
        container: Option<&str>,
        filter: &[Comparison],
        marker: Option<&[u8]>,
        max_results: usize,
    ) -> Result<FoundBlobs, AzureError> {
        let mut scope: Option<&str> = container;
        let mut tag_filters = Vec::new();
        for c in filter {
            if c.key == CONTAINER_KEY {
                match scope {
                    // Two different containers (or a container-level request for another
                    // container) can match nothing.
                    Some(other) if other != c.value => return Ok(FoundBlobs::default()),
                    _ => scope = Some(&c.value),
                }
            } else {
                tag_filters.push(c);
            }
        }
        // An equality is the narrowest range; otherwise the first range comparison drives.
        let Some(driver) = tag_filters
            .iter()
            .find(|c| c.op == CmpOp::Eq)
            .or_else(|| tag_filters.first())
        else {
            return Ok(FoundBlobs::default());
        };
        let base = tags_prefix(account);
        // Every comparison on the driving key narrows the scan: `id >= a AND id < b` scans
        // only [a, b), not everything from a on.
        let (range_start, range_end) = tag_filters
            .iter()
            .filter(|c| c.key == driver.key)
            .map(|c| comparison_range(c))
            .fold(comparison_range(driver), |(start, end), (s, e)| {
                let end = match (end, e) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (start.max(s), end)
            });
        let mut start = [base.as_slice(), &range_start].concat();
        if let Some(marker) = marker {
            start = start.max([base.as_slice(), marker].concat());
        }
        let end = match range_end {
            Some(end) => [base.as_slice(), &end].concat(),
            None => keys::prefix_end(&base).unwrap_or_default(),
        };
        let flat = !self.is_hns(account);
        let mut reachable = ReachableContainer::default();
        let matches = |tags: &[(String, String)]| tag_filters.iter().all(|c| c.holds(tags));
        let mut found = FoundBlobs::default();
        loop {
            let rows = self
                .table
                .scan(&start, Some(&end), FIND_SCAN_ROWS)
                .map_err(PartitionError::from)?;
            let Some((last_key, _)) = rows.last() else { break };
            let full = rows.len() == FIND_SCAN_ROWS;
            let next_start = [last_key.as_slice(), &[0]].concat();
            for (key, value) in &rows {
                let Some((blob_container, blob_name)) = parse_index_key(&key[base.len()..]) else {
                    continue;
                };
                if scope.is_some_and(|s| s != blob_container) {
                    continue;
                }
                // The index row is written in the blob row's own batch and carries its tag set:
                // a candidate that the set rules out needs no row read, and on an account
                // without HNS the set answers as the row would. An HNS path's visibility needs
                // its row (a directory's files keep their index rows under its old name, a
                // file may be hidden), and so does an index row written before it carried
                // the tag set.
                let tags = match decode_tag_set(value) {
                    Some(tags) if !matches(&tags) => continue,
                    Some(tags) if flat => {
                        if !reachable.reachable(self, account, blob_container)? {
                            continue;
                        }
                        tags
                    }
                    _ => match self.read_blob_row(account, blob_container, blob_name)? {
                        Some(row) if matches(&row.tags) => row.tags,
                        _ => continue,
                    },
                };
                if found.items.len() == max_results {
                    found.next_marker = Some(key[base.len()..].to_vec());
                    return Ok(found);
                }
                found
                    .items
                    .push((blob_container.to_string(), blob_name.to_string(), tags));
            }
            if !full {
                break;
            }
            start = next_start;
        }
        Ok(found)
    }

    /// Deletes into `batch` the index rows of the blob row `value` stored at `key` (used by
    /// container deletion, which removes rows without going through `modify_blob`).
    pub(crate) fn unindex_row(&self, key: &[u8], value: &[u8], batch: &mut WriteBatch) -> Result<(), PartitionError> {
        if key.first() != Some(&b'B') {
            return Ok(());
        }
        let Some((account, container, blob)) = keys::parse_blob_key(key) else {
            return Ok(());
        };
        let row: BlobRow = crate::rows::decode_blob(value)?;
        index_changes(batch, &account, &container, &blob, &row.tags, &[]);
        Ok(())
    }

    /// Every index row of `account`, as (tag key, value, container, blob): for consistency
    /// checks in tests and tools.
    pub fn tag_index_entries(&self, account: &str) -> Result<Vec<(String, String, String, String)>, AzureError> {
        let base = tags_prefix(account);
        let end = keys::prefix_end(&base);
        let mut start = base.clone();
        let mut out = Vec::new();
        loop {
            let rows = self
                .table
                .scan(&start, end.as_deref(), FIND_SCAN_ROWS)
                .map_err(PartitionError::from)?;
            let Some((last_key, _)) = rows.last() else { break };
            start = [last_key.as_slice(), &[0]].concat();
            for (key, _) in &rows {
                let text = String::from_utf8_lossy(&key[base.len()..]).into_owned();
                let mut parts = text.splitn(3, '\0');
                let (Some(k), Some(v), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                let Some((c, b)) = path.split_once('/') else { continue };
                out.push((k.to_string(), v.to_string(), c.to_string(), b.to_string()));
            }
            if rows.len() < FIND_SCAN_ROWS {
                break;
            }
        }
        Ok(out)
    }
}

/// Whether a container's blobs are reachable (not in a soft-deleted container), asked once
/// per run of index rows in the same container.
#[derive(Default)]
struct ReachableContainer {
    last: Option<(String, bool)>,
}

impl ReachableContainer {
    fn reachable(&mut self, partition: &Partition, account: &str, container: &str) -> Result<bool, AzureError> {
        if let Some((name, answer)) = &self.last {
            if name == container {
                return Ok(*answer);
            }
        }
        let answer = partition.blobs_reachable(account, container)?;
        self.last = Some((container.to_string(), answer));
        Ok(answer)
    }
}

/// (container, blob) of an index key after the account prefix.
fn parse_index_key(rest: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(rest).ok()?;
    let mut parts = text.splitn(3, '\0');
    let (_key, _value, path) = (parts.next()?, parts.next()?, parts.next()?);
    path.split_once('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_order_is_string_order() {
        let k = |v: &str| tag_index_key("a", "k", v, "c", "b");
        assert!(k("a") < k("a "));
        assert!(k("a") < k("ab"));
        assert!(k("ab") < k("b"));
        let gt = comparison_range(&Comparison {
            key: "k".into(),
            op: CmpOp::Gt,
            value: "a".into(),
        });
        let rest = |v: &str| k(v)[3..].to_vec();
        assert!(rest("a") < gt.0);
        assert!(rest("ab") >= gt.0);
        assert!(rest("zz") < gt.1.clone().unwrap());
        let lt = comparison_range(&Comparison {
            key: "k".into(),
            op: CmpOp::Lt,
            value: "b".into(),
        });
        assert!(rest("ab") < lt.1.clone().unwrap());
        assert!(rest("b") >= lt.1.unwrap());
    }

    #[test]
    fn tag_sets_round_trip_and_odd_values_read_as_none() {
        let tags: Vec<(String, String)> = vec![("k".into(), "".into()), ("a b+c".into(), "x".repeat(256))];
        let encoded = encode_tag_set(&tags);
        assert_eq!(decode_tag_set(&encoded), Some(tags));
        assert_eq!(decode_tag_set(&encode_tag_set(&[])), Some(vec![]));
        // Rows written before the index carried tag sets, and anything torn or foreign.
        assert_eq!(decode_tag_set(b""), None);
        assert_eq!(decode_tag_set(&encoded[..encoded.len() - 1]), None);
        assert_eq!(decode_tag_set(&[TAG_SET_V1, 1, 0, b'k']), None);
        assert_eq!(decode_tag_set(&[TAG_SET_V1, 1, 0, 0xFF, 0, 0]), None);
        assert_eq!(decode_tag_set(&[TAG_SET_V1, 1, 0, b'k', 1, 0, 0xFF]), None);
        assert_eq!(decode_tag_set(&[TAG_SET_V1, 1, 0, 0xFF]), None);
        assert_eq!(decode_tag_set(&[2, 0, 0, 0, 0]), None);
        // A set that does not fit the format is left out rather than written wrong.
        assert!(encode_tag_set(&[("k".into(), "v".repeat(70_000))]).is_empty());
    }
}
