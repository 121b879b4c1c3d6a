//! Soft delete of blobs (the account's DeleteRetentionPolicy): deleted blobs and snapshots
//! stay as rows marked deleted, listed with `include=deleted`, restored by Undelete Blob,
//! and purged by the background timer once their retention period has passed.
//!
//! A deleted blob's row moves to the sub-row `name \0 D <deletion time>`, so that a new
//! blob of the same name can be written meanwhile; a deleted snapshot stays at its key with
//! the deletion recorded in the row. The purge time is fixed at deletion (the policy then in
//! force), as the service computes `RemainingRetentionDays` from the deletion.

use lazuli_table::WriteBatch;
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::blob::blob_not_found;
use crate::container::container_not_found;
use crate::keys::{self, SUBROW_DELETED, SUBROW_SNAPSHOT};
use crate::rows::{self, BlobRow, ContainerRow, Segment};
use crate::snapshot::is_kind;
use crate::{now_nanos, Partition, PartitionError};

const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
/// The account setting holding the container soft-delete retention in days (absent or empty:
/// off). In the service it is an ARM property of the account, not part of the Blob API.
const CONTAINER_RETENTION_SETTING: &str = "container-delete-retention-days";
/// The account setting mirroring the blob DeleteRetentionPolicy's days (empty: off).
const BLOB_RETENTION_SETTING: &str = "blob-delete-retention-days";
/// Deleted containers listed at most (they are few: each is kept only for its retention).
const DELETED_CONTAINERS_MAX: usize = 5000;
/// Rows read per scan step while purging. Every blob row comes with its value, and a small
/// blob's row holds its body (up to 64 KiB): 4096 rows made each step hold ~0.5 GiB at once.
const PURGE_SCAN_ROWS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// When the row was deleted (Unix ns).
    pub time: i128,
    /// When the purge may remove it (Unix ns).
    pub purge_at: i128,
}

impl Deletion {
    pub fn new(now: i128, retention_days: u32) -> Deletion {
        Deletion {
            time: now,
            purge_at: now + retention_days as i128 * NANOS_PER_DAY,
        }
    }

    /// `RemainingRetentionDays`: whole days left, rounded up (at least 1 until purged).
    pub fn remaining_days(&self, now: i128) -> u32 {
        let left = (self.purge_at - now).max(0);
        ((left + NANOS_PER_DAY - 1) / NANOS_PER_DAY).clamp(0, u32::MAX as i128) as u32
    }
}

/// Clears the deletion of every soft-deleted snapshot among a blob's sub-rows, into `batch`
/// (the rows keep their references); true if there was one.
pub(crate) fn restore_deleted_snapshots(subrows: &[(Vec<u8>, BlobRow)], batch: &mut WriteBatch) -> bool {
    let mut restored = false;
    for (key, row) in subrows {
        if is_kind(key, SUBROW_SNAPSHOT) && row.deleted.is_some() {
            let mut row = row.clone();
            row.deleted = None;
            batch.put(key.clone(), rows::encode_blob(&row));
            restored = true;
        }
    }
    restored
}

impl Partition {
    /// Undelete Blob: restores the blob's soft-deleted snapshots and, when the blob itself
    /// does not exist, its most recently deleted row. Restoring a blob that is not deleted
    /// succeeds and changes nothing, as in the service.
    pub fn undelete_blob(&self, account: &str, container: &str, blob: &str) -> Result<(), AzureError> {
        if self.is_hns(account) {
            return self.undelete_hns_blob(account, container, blob);
        }
        self.with_blob_locked(account, container, blob, || {
            let base = self.read_blob_row(account, container, blob)?;
            let subrows = self.blob_subrows(account, container, blob)?;
            let mut batch = WriteBatch::new();
            // Restored rows keep their references: nothing is taken or dropped.
            let released: Vec<Vec<Segment>> = Vec::new();
            let mut found_any = restore_deleted_snapshots(&subrows, &mut batch) || base.is_some();
            if base.is_none() {
                // Deleted rows sort by deletion time: the last is the newest.
                if let Some((key, row)) = subrows.iter().rev().find(|(key, _)| is_kind(key, SUBROW_DELETED)) {
                    let mut row = row.clone();
                    row.deleted = None;
                    batch.delete(key.clone());
                    crate::tags::index_changes(&mut batch, account, container, blob, &[], &row.tags);
                    batch.put(keys::blob(account, container, blob), rows::encode_blob(&row));
                    found_any = true;
                }
            }
            if !found_any {
                return Err(blob_not_found());
            }
            Ok(((), batch, Vec::new(), released))
        })
    }

    /// The account's blob soft-delete retention (its DeleteRetentionPolicy), mirrored here
    /// by the front-end when the service properties change: deletes get it from the request
    /// path, but overwrites (which keep a soft-deleted snapshot) need it in this layer.
    pub fn set_blob_delete_retention(&self, account: &str, days: Option<u32>) -> Result<(), AzureError> {
        if days.is_some() {
            self.blob_soft_delete_used
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let value = days.map(|d| d.to_string()).unwrap_or_default();
        self.set_account_setting(account, BLOB_RETENTION_SETTING, value.as_bytes())
    }

    fn blob_retention_days(&self, account: &str) -> Result<Option<u32>, AzureError> {
        if !self.blob_soft_delete_used.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(self
            .account_setting(account, BLOB_RETENTION_SETTING)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse().ok()))
    }

    /// At open, from the account setting rows: whether any account has blob soft delete on.
    pub(crate) fn note_blob_soft_delete(&self, settings: &[(Vec<u8>, Vec<u8>)]) {
        let suffix = format!("/{BLOB_RETENTION_SETTING}");
        if settings
            .iter()
            .any(|(key, value)| key.ends_with(suffix.as_bytes()) && !value.is_empty())
        {
            self.blob_soft_delete_used
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// With blob soft delete on, an overwrite keeps the blob's previous state as a
    /// soft-deleted snapshot (restored by Undelete Blob). Adds the row to `batch` and returns
    /// it; the caller takes its segment references once the batch is durable.
    pub(crate) fn keep_overwritten(
        &self,
        account: &str,
        container: &str,
        blob: &str,
        current: &BlobRow,
        batch: &mut WriteBatch,
    ) -> Result<Option<BlobRow>, AzureError> {
        let Some(days) = self.blob_retention_days(account)? else {
            return Ok(None);
        };
        let now = now_nanos();
        let mut at = now;
        let (id, key) = loop {
            let id = lazuli_types::time_fmt::iso8601_7(crate::time_from_nanos(at));
            let key = keys::blob_subrow(account, container, blob, SUBROW_SNAPSHOT, &id);
            if self.table.get(&key).map_err(PartitionError::from)?.is_none() {
                break (id, key);
            }
            at += 100;
        };
        let mut row = current.clone();
        row.lease = None;
        row.snapshot = Some(id);
        row.deleted = Some(Deletion::new(now, days));
        batch.put(key, rows::encode_blob(&row));
        Ok(Some(row))
    }

    pub fn set_container_delete_retention(&self, account: &str, days: Option<u32>) -> Result<(), AzureError> {
        let value = days.map(|d| d.to_string()).unwrap_or_default();
        self.set_account_setting(account, CONTAINER_RETENTION_SETTING, value.as_bytes())
    }

    /// Whether the rows of `container` may be read: false while the container is
    /// soft-deleted. Costs nothing until some container has been soft-deleted.
    pub(crate) fn blobs_reachable(&self, account: &str, container: &str) -> Result<bool, AzureError> {
        if !self.containers_soft_deleted.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(true);
        }
        self.container_exists(account, container)
    }

    pub(crate) fn note_soft_deleted_containers(&self) -> Result<(), PartitionError> {
        if self.any_row_under(b"c")? {
            self.containers_soft_deleted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn container_retention_days(&self, account: &str) -> Result<Option<u32>, AzureError> {
        Ok(self
            .account_setting(account, CONTAINER_RETENTION_SETTING)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Called by Delete Container (under the container's exclusive lock, checks done): with
    /// container soft delete on, moves the container row to the deleted range and answers
    /// true; its blob rows stay where they are, unreachable while the container is deleted.
    pub(crate) fn soft_delete_container(
        &self,
        account: &str,
        container: &str,
        mut row: ContainerRow,
    ) -> Result<bool, AzureError> {
        let Some(days) = self.container_retention_days(account)? else {
            return Ok(false);
        };
        let now = now_nanos();
        row.deleted = Some(Deletion::new(now, days));
        row.deleted_version = Some(format!("{:016X}", now / 100));
        row.lease = None;
        // Before the write: no read may find the container gone yet its blobs reachable.
        self.containers_soft_deleted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut batch = WriteBatch::new();
        batch.delete(keys::container(account, container));
        batch.put(keys::deleted_container(account, container), rows::encode(&row, None));
        self.table.write(&batch).map_err(PartitionError::from)?;
        Ok(true)
    }

    /// A container name whose soft-deleted container still holds its rows cannot be created
    /// again until that one is restored or purged.
    pub(crate) fn refuse_if_soft_deleted(&self, account: &str, container: &str) -> Result<(), AzureError> {
        let key = keys::deleted_container(account, container);
        if self.table.get(&key).map_err(PartitionError::from)?.is_some() {
            return Err(AzureError::new(
                ErrorCode::ContainerBeingDeleted,
                "The specified container is being deleted.",
            ));
        }
        Ok(())
    }

    /// Restore Container: the soft-deleted container `container` of version `version` becomes
    /// live again with all its blobs.
    pub fn restore_container(&self, account: &str, container: &str, version: &str) -> Result<ContainerRow, AzureError> {
        let _guard = self.locks.container_exclusive(account, container);
        if self.container_exists(account, container)? {
            return Err(AzureError::new(
                ErrorCode::ContainerAlreadyExists,
                "The specified container already exists.",
            ));
        }
        let key = keys::deleted_container(account, container);
        let bytes = self
            .table
            .get(&key)
            .map_err(PartitionError::from)?
            .ok_or_else(container_not_found)?;
        let (mut row, _): (ContainerRow, _) = rows::decode(&bytes)?;
        if row.deleted_version.as_deref() != Some(version) {
            return Err(container_not_found());
        }
        row.deleted = None;
        row.deleted_version = None;
        let mut batch = WriteBatch::new();
        batch.delete(key);
        batch.put(keys::container(account, container), rows::encode(&row, None));
        self.table.write(&batch).map_err(PartitionError::from)?;
        Ok(row)
    }

    /// Soft-deleted containers whose name starts with `prefix`, by name.
    pub fn list_deleted_containers(
        &self,
        account: &str,
        prefix: &str,
    ) -> Result<Vec<(String, ContainerRow)>, AzureError> {
        let base = keys::deleted_containers_prefix(account);
        let start = [base.as_slice(), prefix.as_bytes()].concat();
        let end = keys::prefix_end(&start);
        let found = self
            .table
            .scan(&start, end.as_deref(), DELETED_CONTAINERS_MAX)
            .map_err(PartitionError::from)?;
        found
            .into_iter()
            .map(|(key, value)| {
                let name = String::from_utf8_lossy(&key[base.len()..]).into_owned();
                Ok((name, rows::decode::<ContainerRow>(&value)?.0))
            })
            .collect()
    }

    /// Purges soft-deleted containers past their retention, with all their rows.
    fn purge_deleted_containers(&self, now: i128) -> Result<usize, PartitionError> {
        let end = keys::prefix_end(b"c");
        let found = self.table.scan(b"c", end.as_deref(), DELETED_CONTAINERS_MAX)?;
        let mut purged = 0;
        for (key, value) in found {
            let (row, _): (ContainerRow, _) = rows::decode(&value)?;
            if row.deleted.is_none_or(|d| d.purge_at > now) {
                continue;
            }
            let Some((account, container)) = std::str::from_utf8(&key[1..])
                .ok()
                .and_then(|rest| rest.split_once('/'))
                .map(|(a, c)| (a.to_string(), c.to_string()))
            else {
                continue;
            };
            let _guard = self.locks.container_exclusive(&account, &container);
            // Restored meanwhile: nothing to purge.
            if self.table.get(&key)?.is_none() {
                continue;
            }
            let removed = self.remove_container_contents(&account, &container);
            if let Err(error) = removed {
                tracing::warn!(code = ?error.code, "purging a deleted container failed");
                continue;
            }
            let mut batch = WriteBatch::new();
            batch.delete(key);
            self.table.write(&batch)?;
            purged += 1;
        }
        Ok(purged)
    }

    /// Removes every soft-deleted row and container whose retention has passed; returns how
    /// many. Run by the binary's background timer.
    pub fn purge_soft_deleted(&self) -> Result<usize, PartitionError> {
        let now = now_nanos();
        let containers = self.purge_deleted_containers(now)?;
        let directories = self.purge_deleted_directories(now)?;
        let end = keys::prefix_end(b"B");
        let mut start = b"B".to_vec();
        let mut expired = Vec::new();
        loop {
            let found = self.table.scan(&start, end.as_deref(), PURGE_SCAN_ROWS)?;
            let Some((last, _)) = found.last() else { break };
            start = [last.as_slice(), &[0]].concat();
            let full = found.len() == PURGE_SCAN_ROWS;
            for (key, value) in &found {
                // Only sub-rows can be deleted rows; skip decoding the others.
                if !key.contains(&0) {
                    continue;
                }
                let row = rows::decode_blob(value)?;
                if row.deleted.is_some_and(|d| d.purge_at <= now) {
                    expired.push(key.clone());
                }
            }
            if !full {
                break;
            }
        }
        let mut purged = 0;
        for key in expired {
            let Some((account, container, blob)) = keys::parse_blob_key(&key) else {
                continue;
            };
            let _container_guard = self.locks.container_shared(&account, &container);
            let _blob_guard = self.locks.blob(&account, &container, &blob);
            // Re-read under the lock: the row may have been restored meanwhile.
            let Some(value) = self.table.get(&key)? else { continue };
            let row = rows::decode_blob(&value)?;
            if row.deleted.is_none_or(|d| d.purge_at > now) {
                continue;
            }
            let mut batch = WriteBatch::new();
            batch.delete(key.clone());
            self.table.write(&batch)?;
            self.release_segments(row.segments());
            purged += 1;
        }
        Ok(purged + containers + directories)
    }
}
