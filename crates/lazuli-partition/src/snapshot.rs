//! Blob snapshots and blob deletion with its snapshot rules.
//!
//! A snapshot is a copy of the blob's row under the sub-row key `name \0 S <snapshot id>`
//! (see `keys.rs`): it names the same data segments as the blob did, so taking a snapshot
//! copies no bytes; like every row it holds one reference per distinct segment. Deleting a
//! blob that has snapshots needs `x-ms-delete-snapshots` (`include` or `only`). With soft
//! delete on, deleted rows are kept (marked deleted) until purged, see `soft_delete.rs`.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::{ConditionFailure, Conditions};
use lazuli_types::time_fmt::iso8601_7;
use lazuli_types::{AzureError, ErrorCode};

use crate::blob::blob_not_found;
use crate::container::container_not_found;
use crate::keys::{self, SUBROW_DELETED, SUBROW_SNAPSHOT};
use crate::lease::{check_access, LeaseScope};
use crate::rows::{self, BlobRow, Segment};
use crate::soft_delete::Deletion;
use crate::{now_nanos, time_from_nanos, Partition, PartitionError};

/// Sub-rows read per scan step.
const SUBROW_SCAN_ROWS: usize = 1024;

/// `x-ms-delete-snapshots`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeleteSnapshots {
    /// Header absent: a blob with snapshots cannot be deleted.
    #[default]
    Refuse,
    Include,
    Only,
}

/// Which row of a blob an operation addresses: the blob itself, a snapshot (`?snapshot=`) or
/// a version (`?versionid=`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BlobVersion {
    #[default]
    Base,
    Snapshot(String),
    Version(String),
}

#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub snapshots: DeleteSnapshots,
    /// Days deleted rows are kept (the account's DeleteRetentionPolicy), `None`: deleted at once.
    pub retention_days: Option<u32>,
}

pub(crate) fn snapshot_not_found() -> AzureError {
    blob_not_found()
}

impl Partition {
    /// Every sub-row of a blob (snapshots, versions, soft-deleted bases), in key order.
    pub(crate) fn blob_subrows(
        &self,
        account: &str,
        container: &str,
        blob: &str,
    ) -> Result<Vec<(Vec<u8>, BlobRow)>, AzureError> {
        let prefix = keys::blob_subrows_prefix(account, container, blob);
        let end = keys::prefix_end(&prefix);
        let mut start = prefix.clone();
        let mut out = Vec::new();
        loop {
            let found = self
                .table
                .scan(&start, end.as_deref(), SUBROW_SCAN_ROWS)
                .map_err(PartitionError::from)?;
            let Some((last, _)) = found.last() else { break };
            start = [last.as_slice(), &[0]].concat();
            let full = found.len() == SUBROW_SCAN_ROWS;
            for (key, value) in found {
                out.push((key, rows::decode_blob(&value)?));
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Whether a blob has any sub-row (a snapshot, a version, a soft-deleted base): rows that
    /// may share its segments.
    pub(crate) fn has_subrows(&self, account: &str, container: &str, blob: &str) -> Result<bool, AzureError> {
        Ok(self.any_row_under(&keys::blob_subrows_prefix(account, container, blob))?)
    }

    /// Runs `change` under the blob's locks (after checking the container exists); it returns
    /// the batch to write and the segments whose references the batch drops (deleted rows').
    pub(crate) fn with_blob_locked<T>(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        change: impl FnOnce() -> Result<(T, WriteBatch, Vec<Vec<Segment>>, Vec<Vec<Segment>>), AzureError>,
    ) -> Result<T, AzureError> {
        let _container_guard = self.locks.container_shared(account, container);
        if !self.container_exists(account, container)? {
            return Err(container_not_found());
        }
        // On an HNS account the path's row must not move (rename, delete) meanwhile.
        let _namespace_guard = self
            .is_hns(account)
            .then(|| self.locks.namespace_shared(account, container));
        let _blob_guard = self.locks.blob(account, container, &self.blob_lock_name(account, blob));
        crate::blob::begin_staged_sweep();
        let (value, batch, added, released) = change()?;
        let sweep = crate::blob::take_staged_sweep()?;
        if !batch.is_empty() {
            self.table.write(&batch).map_err(PartitionError::from)?;
        }
        // New rows take their references before the dropped rows release theirs.
        for segments in &added {
            self.reference_segments(segments);
        }
        for segments in &released {
            self.release_segments(segments);
        }
        if let Some(prefix) = sweep {
            self.sweep_staged(&prefix);
        }
        Ok(value)
    }

    /// Snapshot Blob: returns the snapshot id and the snapshot's row. `metadata`, when not
    /// empty, replaces the blob's metadata on the snapshot.
    pub fn create_snapshot(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        metadata: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<(String, BlobRow), AzureError> {
        self.with_blob_locked(account, container, blob, || {
            let base = self
                .read_blob_row(account, container, blob)?
                .ok_or_else(blob_not_found)?;
            // The lease id is optional here; when given it must be the active lease's.
            check_access(
                base.lease.as_ref(),
                conditions.lease_id.as_deref(),
                false,
                LeaseScope::Blob,
            )?;
            let plain = Conditions {
                lease_id: None,
                ..conditions.clone()
            };
            plain.check_write(
                Some((&base.etag, time_from_nanos(base.last_modified))),
                ErrorCode::BlobAlreadyExists,
            )?;
            // Snapshot ids are times to 100 ns; two snapshots in one tick take the next free one.
            let mut at = now_nanos();
            let (id, key) = loop {
                let id = iso8601_7(time_from_nanos(at));
                let key = keys::blob_subrow(account, container, blob, SUBROW_SNAPSHOT, &id);
                if self.table.get(&key).map_err(PartitionError::from)?.is_none() {
                    break (id, key);
                }
                at += 100;
            };
            let mut row = base.clone();
            row.lease = None;
            row.snapshot = Some(id.clone());
            row.deleted = None;
            if !metadata.is_empty() {
                row.metadata = metadata;
            }
            let mut batch = WriteBatch::new();
            batch.put(key, rows::encode_blob(&row));
            let added = vec![row.segments().copied().collect()];
            Ok(((id, row), batch, added, Vec::new()))
        })
    }

    /// Reads a snapshot or a version of a blob after checking read conditions (`Ok(None)`: 304).
    pub fn get_blob_version(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        version: &BlobVersion,
        conditions: &Conditions,
    ) -> Result<Option<BlobRow>, AzureError> {
        self.get_blob_version_within(account, container, blob, version, conditions, None)
    }

    /// [`Partition::get_blob_version`] for a read of bytes `pages_for` only (see
    /// [`Partition::get_blob_within`]).
    pub fn get_blob_version_within(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        version: &BlobVersion,
        conditions: &Conditions,
        pages_for: Option<std::ops::Range<u64>>,
    ) -> Result<Option<BlobRow>, AzureError> {
        let row = match version {
            BlobVersion::Base => return self.get_blob_within(account, container, blob, conditions, pages_for),
            BlobVersion::Snapshot(id) => self.read_subrow(account, container, blob, SUBROW_SNAPSHOT, id)?,
            BlobVersion::Version(id) => self.read_version(account, container, blob, id)?,
        };
        let Some(row) = row.filter(|r| r.deleted.is_none()) else {
            if !self.container_exists(account, container)? {
                return Err(container_not_found());
            }
            return Err(snapshot_not_found());
        };
        match conditions.check_read(&row.etag, time_from_nanos(row.last_modified)) {
            Ok(()) => Ok(Some(row)),
            Err(ConditionFailure::NotModified) => Ok(None),
            Err(ConditionFailure::Failed(error)) => Err(error),
        }
    }

    pub(crate) fn read_subrow(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        kind: char,
        id: &str,
    ) -> Result<Option<BlobRow>, AzureError> {
        if !self.blobs_reachable(account, container)? {
            return Ok(None);
        }
        let key = keys::blob_subrow(account, container, blob, kind, id);
        match self.table.get(&key).map_err(PartitionError::from)? {
            Some(bytes) => Ok(Some(rows::decode_blob_shared(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Delete Blob, of the blob (with its snapshot rules), of one snapshot, or of one version.
    pub fn delete_blob_with(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        version: &BlobVersion,
        options: &DeleteOptions,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        let now = now_nanos();
        let deletion = options.retention_days.map(|days| Deletion::new(now, days));
        match version {
            BlobVersion::Snapshot(id) => self.with_blob_locked(account, container, blob, || {
                if options.snapshots != DeleteSnapshots::Refuse {
                    return Err(AzureError::new(
                        ErrorCode::InvalidQueryParameterValue,
                        "x-ms-delete-snapshots cannot be specified when deleting a snapshot.",
                    )
                    .with_detail("QueryParameterName", "snapshot"));
                }
                let key = keys::blob_subrow(account, container, blob, SUBROW_SNAPSHOT, id);
                let row = self
                    .read_subrow(account, container, blob, SUBROW_SNAPSHOT, id)?
                    .filter(|r| r.deleted.is_none())
                    .ok_or_else(snapshot_not_found)?;
                let plain = Conditions {
                    lease_id: None,
                    ..conditions.clone()
                };
                plain.check_write(
                    Some((&row.etag, time_from_nanos(row.last_modified))),
                    ErrorCode::BlobAlreadyExists,
                )?;
                let mut batch = WriteBatch::new();
                let mut released = Vec::new();
                soft_or_hard_delete(&mut batch, &mut released, key, row, deletion);
                Ok(((), batch, Vec::new(), released))
            }),
            BlobVersion::Version(id) => self.delete_version(account, container, blob, id, deletion),
            BlobVersion::Base if self.is_hns(account) => {
                self.delete_hns_blob(account, container, blob, options, deletion, conditions)
            }
            BlobVersion::Base => self.with_blob_locked(account, container, blob, || {
                let base = self
                    .read_blob_row(account, container, blob)?
                    .ok_or_else(blob_not_found)?;
                Self::check_write_conditions(Some(&base), conditions)?;
                let mut batch = WriteBatch::new();
                let (mut added, mut released) = (Vec::new(), Vec::new());
                self.delete_snapshots_of(account, container, blob, options, deletion, &mut batch, &mut released)?;
                if options.snapshots != DeleteSnapshots::Only {
                    released.push(self.discard_uncommitted(account, container, blob, &mut batch)?);
                    let key = keys::blob(account, container, blob);
                    self.retire_base(
                        account,
                        container,
                        blob,
                        &mut batch,
                        &mut added,
                        &mut released,
                        key,
                        base,
                        deletion,
                    )?;
                }
                Ok(((), batch, added, released))
            }),
        }
    }
}

impl Partition {
    /// The snapshot rules of deleting a base blob: its live snapshots are deleted into
    /// `batch` (or kept as deleted rows), and a blob with snapshots is refused unless
    /// `x-ms-delete-snapshots` was given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn delete_snapshots_of(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        options: &DeleteOptions,
        deletion: Option<Deletion>,
        batch: &mut WriteBatch,
        released: &mut Vec<Vec<Segment>>,
    ) -> Result<(), AzureError> {
        let snapshots: Vec<(Vec<u8>, BlobRow)> = self
            .blob_subrows(account, container, blob)?
            .into_iter()
            .filter(|(key, row)| is_kind(key, SUBROW_SNAPSHOT) && row.deleted.is_none())
            .collect();
        if !snapshots.is_empty() && options.snapshots == DeleteSnapshots::Refuse {
            return Err(AzureError::new(
                ErrorCode::SnapshotsPresent,
                "This operation is not permitted because the blob has snapshots.",
            ));
        }
        for (key, row) in snapshots {
            soft_or_hard_delete(batch, released, key, row, deletion);
        }
        Ok(())
    }
}

pub(crate) fn is_kind(key: &[u8], kind: char) -> bool {
    let name = String::from_utf8_lossy(key);
    matches!(keys::split_blob_name(&name).1, Some((k, _)) if k == kind)
}

/// Deletes a row, or with soft delete marks it deleted in place.
pub(crate) fn soft_or_hard_delete(
    batch: &mut WriteBatch,
    released: &mut Vec<Vec<Segment>>,
    key: Vec<u8>,
    mut row: BlobRow,
    deletion: Option<Deletion>,
) {
    match deletion {
        Some(deletion) => {
            row.deleted = Some(deletion);
            row.lease = None;
            batch.put(key, rows::encode_blob(&row));
        }
        None => {
            released.push(row.segments().copied().collect());
            batch.delete(key);
        }
    }
}

impl Partition {
    /// Removes the blob's current row: with soft delete it moves to a deleted sub-row (the
    /// same segments, so references are unchanged); else it is gone. With versioning on, the
    /// current version is kept as a previous version instead. A page map in chunk rows goes
    /// with the row: the row that keeps the blob holds the pages itself and takes `added`
    /// references on them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn retire_base(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        batch: &mut WriteBatch,
        added: &mut Vec<Vec<Segment>>,
        released: &mut Vec<Vec<Segment>>,
        key: Vec<u8>,
        mut base: BlobRow,
        deletion: Option<Deletion>,
    ) -> Result<(), AzureError> {
        batch.delete(key);
        base.lease = None;
        let chunked = base.loaded_page_map != 0;
        if chunked {
            self.drop_page_map(account, container, blob, base.loaded_page_map, batch, released)?;
        }
        // Only current blobs are found by their tags.
        crate::tags::index_changes(batch, account, container, blob, &base.tags, &[]);
        let kept_key = match (&base.version_id, deletion) {
            // Versioning keeps every version.
            (Some(version_id), _) => keys::blob_subrow(account, container, blob, keys::SUBROW_VERSION, version_id),
            (None, Some(deletion)) => {
                base.deleted = Some(deletion);
                let id = iso8601_7(time_from_nanos(deletion.time));
                let key = keys::blob_subrow(account, container, blob, SUBROW_DELETED, &id);
                // A second delete in the same tick replaces the first deleted row: release it.
                if let Some(old) = self.table.get(&key).map_err(PartitionError::from)? {
                    released.push(rows::decode_blob(&old)?.segments().copied().collect());
                }
                key
            }
            (None, None) => {
                released.push(base.stored_segments().collect());
                return Ok(());
            }
        };
        // The kept row's references are the base row's, moved with it; the segments of pages
        // it takes from chunk rows (which released theirs) it references itself.
        if chunked {
            let moved: std::collections::HashSet<Segment> = base.stored_segments().collect();
            let pages = base.pages.iter().map(|page| page.segment);
            added.push(pages.filter(|segment| !moved.contains(segment)).collect());
        }
        batch.put(kept_key, rows::encode_blob(&base));
        Ok(())
    }
}
