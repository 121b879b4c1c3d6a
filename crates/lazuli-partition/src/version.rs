//! Blob versioning, a per-account setting (in the service an ARM property of the account, so
//! not part of the Blob REST API; here the account setting `versioning`, set from the
//! binary's configuration or by [`Partition::set_versioning`]).
//!
//! With versioning on, every write that changes a blob's content or metadata gives the blob a
//! new version id (the write's time, ISO 8601 with seven digits) and keeps the previous
//! current row as the sub-row `name \0 V <its version id>`: it names the same segments and
//! takes its own references on them. Deleting the blob keeps its current version the same
//! way, leaving the blob with previous versions only.

use std::sync::atomic::Ordering;

use lazuli_table::WriteBatch;
use lazuli_types::time_fmt::iso8601_7;
use lazuli_types::{AzureError, ErrorCode};

use crate::blob::blob_not_found;
use crate::keys::{self, SUBROW_VERSION};
use crate::rows::{self, BlobRow};
use crate::snapshot::soft_or_hard_delete;
use crate::soft_delete::Deletion;
use crate::{now_nanos, time_from_nanos, Partition, PartitionError};

const VERSIONING_SETTING: &str = "versioning";

impl Partition {
    pub fn versioning_enabled(&self, account: &str) -> Result<bool, AzureError> {
        if !self.versioning_used.load(Ordering::Relaxed) {
            return Ok(false);
        }
        Ok(self.account_setting(account, VERSIONING_SETTING)?.as_deref() == Some(b"true".as_slice()))
    }

    pub fn set_versioning(&self, account: &str, enabled: bool) -> Result<(), AzureError> {
        if enabled {
            self.versioning_used.store(true, Ordering::Relaxed);
        }
        let value: &[u8] = if enabled { b"true" } else { b"false" };
        self.set_account_setting(account, VERSIONING_SETTING, value)
    }

    /// At open: whether any account has versioning on (account settings are few rows).
    pub(crate) fn note_versioning(&self) -> Result<(), PartitionError> {
        let end = keys::prefix_end(b"A");
        let settings = self.table.scan(b"A", end.as_deref(), 100_000)?;
        let suffix = format!("/{VERSIONING_SETTING}");
        if settings
            .iter()
            .any(|(key, value)| key.ends_with(suffix.as_bytes()) && value.as_slice() == b"true")
        {
            self.versioning_used.store(true, Ordering::Relaxed);
        }
        self.note_blob_soft_delete(&settings);
        Ok(())
    }

    /// Called by `modify_blob` for every write of a blob's row, under the blob's lock: a
    /// write that changes the blob (a new ETag) keeps its lease (lease operations keep the
    /// ETag and set the lease themselves); then versioning.
    pub(crate) fn before_blob_write(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        current: Option<&BlobRow>,
        new_row: Option<&mut BlobRow>,
        batch: &mut WriteBatch,
    ) -> Result<Option<BlobRow>, AzureError> {
        let Some(new_row) = new_row else {
            return Ok(None);
        };
        if let Some(current) = current {
            if new_row.etag != current.etag && new_row.lease.is_none() {
                new_row.lease = crate::lease::lease_after_write(current.lease.as_ref(), now_nanos());
            }
        }
        self.version_write(account, container, blob, current, Some(new_row), batch)
    }

    /// Called by every write of a blob's row, under the blob's lock, before the batch is
    /// written: gives `new_row` a version id when the write changes content or metadata and
    /// versioning is on, and keeps the current row as a previous version. Returns the
    /// previous-version row added to the batch (whose references the caller takes once the
    /// batch is durable).
    pub(crate) fn version_write(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        current: Option<&BlobRow>,
        new_row: Option<&mut BlobRow>,
        batch: &mut WriteBatch,
    ) -> Result<Option<BlobRow>, AzureError> {
        let Some(new_row) = new_row else {
            return Ok(None);
        };
        if let Some(current) = current {
            let unchanged = current.blob_type == new_row.blob_type
                && current.metadata == new_row.metadata
                && current.inline == new_row.inline
                && current.segments().eq(new_row.segments())
                && current.content_length == new_row.content_length;
            // Append Block and Put Page change an append or page blob in place: no new version
            // (nor soft-deleted snapshot) per write, as in the service.
            let in_place = current.blob_type != "BlockBlob"
                && current.blob_type == new_row.blob_type
                && current.created == new_row.created
                && current.metadata == new_row.metadata;
            if unchanged || in_place {
                // Properties and lease changes keep the version.
                new_row.version_id = current.version_id.clone();
                return Ok(None);
            }
        }
        if !self.versioning_enabled(account)? {
            new_row.version_id = None;
            // Without versioning, soft delete keeps the overwritten state as a deleted snapshot.
            return match current {
                Some(current) => self.keep_overwritten(account, container, blob, current, batch),
                None => Ok(None),
            };
        }
        let mut id = iso8601_7(time_from_nanos(new_row.last_modified.max(now_nanos())));
        let Some(current) = current else {
            new_row.version_id = Some(id);
            return Ok(None);
        };
        // A blob written before versioning was turned on has no id: its time names it.
        let previous_id = current
            .version_id
            .clone()
            .unwrap_or_else(|| iso8601_7(time_from_nanos(current.last_modified)));
        if id <= previous_id {
            // Two writes within one clock tick: version ids must still increase.
            let next = lazuli_types::time_fmt::parse_iso8601(&previous_id)
                .map(|t| t.unix_timestamp_nanos() + 100)
                .unwrap_or_else(now_nanos);
            id = iso8601_7(time_from_nanos(next));
        }
        new_row.version_id = Some(id);
        let mut previous = current.clone();
        previous.version_id = Some(previous_id.clone());
        previous.lease = None;
        batch.put(
            keys::blob_subrow(account, container, blob, SUBROW_VERSION, &previous_id),
            rows::encode_blob(&previous),
        );
        Ok(Some(previous))
    }

    /// A version by id: the current row when it carries that id, else a previous version.
    pub(crate) fn read_version(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        id: &str,
    ) -> Result<Option<BlobRow>, AzureError> {
        if let Some(base) = self.read_blob_row(account, container, blob)? {
            if base.version_id.as_deref() == Some(id) {
                return Ok(Some(base));
            }
        }
        let row = self.read_subrow(account, container, blob, SUBROW_VERSION, id)?;
        Ok(row.map(|mut row| {
            row.previous_version = true;
            row
        }))
    }

    /// Deletes a previous version (the current version is deleted by deleting the blob).
    pub(crate) fn delete_version(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        id: &str,
        deletion: Option<Deletion>,
    ) -> Result<(), AzureError> {
        self.with_blob_locked(account, container, blob, || {
            if let Some(base) = self.read_blob_row(account, container, blob)? {
                if base.version_id.as_deref() == Some(id) {
                    return Err(AzureError::new(
                        ErrorCode::InvalidOperation,
                        "The current version of a blob is deleted by deleting the blob, without versionid.",
                    ));
                }
            }
            let key = keys::blob_subrow(account, container, blob, SUBROW_VERSION, id);
            let row = self
                .table
                .get(&key)
                .map_err(PartitionError::from)?
                .map(|bytes| rows::decode_blob(&bytes))
                .transpose()?
                .filter(|row| row.deleted.is_none())
                .ok_or_else(blob_not_found)?;
            let mut batch = WriteBatch::new();
            let mut released = Vec::new();
            soft_or_hard_delete(&mut batch, &mut released, key, row, deletion);
            Ok(((), batch, Vec::new(), released))
        })
    }
}
