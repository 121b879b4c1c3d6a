//! Containers: create, read, update, delete, list.

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};

use crate::rows::{self, ContainerRow};
use crate::{keys, now_nanos, time_from_nanos, Partition, PartitionError};

/// Rows deleted per batch when a container is deleted: bounds the size of one log record.
const DELETE_BATCH_ROWS: usize = 1000;

pub struct ListContainersPage {
    pub containers: Vec<(String, ContainerRow)>,
    pub next_marker: Option<String>,
}

pub fn container_not_found() -> AzureError {
    AzureError::new(ErrorCode::ContainerNotFound, "The specified container does not exist.")
}

impl Partition {
    pub fn get_container(&self, account: &str, container: &str) -> Result<ContainerRow, AzureError> {
        let bytes = self
            .table
            .get(&keys::container(account, container))
            .map_err(PartitionError::from)?
            .ok_or_else(container_not_found)?;
        Ok(rows::decode::<ContainerRow>(&bytes)?.0)
    }

    pub(crate) fn container_exists(&self, account: &str, container: &str) -> Result<bool, AzureError> {
        Ok(self
            .table
            .get(&keys::container(account, container))
            .map_err(PartitionError::from)?
            .is_some())
    }

    pub fn create_container(
        &self,
        account: &str,
        container: &str,
        metadata: Vec<(String, String)>,
        public_access: Option<String>,
    ) -> Result<ContainerRow, AzureError> {
        let _guard = self.locks.container_exclusive(account, container);
        if self.container_exists(account, container)? {
            return Err(AzureError::new(
                ErrorCode::ContainerAlreadyExists,
                "The specified container already exists.",
            ));
        }
        // A soft-deleted container of this name still owns its blob rows.
        self.refuse_if_soft_deleted(account, container)?;
        let now = now_nanos();
        let row = ContainerRow {
            etag: self.new_etag(),
            last_modified: now,
            created: now,
            metadata,
            public_access,
            signed_identifiers: None,
            ..Default::default()
        };
        self.write_container(account, container, &row)?;
        Ok(row)
    }

    fn write_container(&self, account: &str, container: &str, row: &ContainerRow) -> Result<(), AzureError> {
        let mut batch = WriteBatch::new();
        batch.put(keys::container(account, container), rows::encode(row, None));
        self.table.write(&batch).map_err(PartitionError::from)?;
        Ok(())
    }

    fn check_container_conditions(row: &ContainerRow, conditions: &Conditions) -> Result<(), AzureError> {
        conditions.check_write(
            Some((&row.etag, time_from_nanos(row.last_modified))),
            ErrorCode::ContainerAlreadyExists,
        )
    }

    /// Applies `change` to an existing container row under the container's lock, with a new
    /// ETag and modification time.
    fn update_container(
        &self,
        account: &str,
        container: &str,
        conditions: &Conditions,
        change: impl FnOnce(&mut ContainerRow),
    ) -> Result<ContainerRow, AzureError> {
        let _guard = self.locks.container_exclusive(account, container);
        let mut row = self.get_container(account, container)?;
        // The lease id is optional for these; when given it must be the active lease's.
        crate::lease::check_access(
            row.lease.as_ref(),
            conditions.lease_id.as_deref(),
            false,
            crate::lease::LeaseScope::Container,
        )?;
        Self::check_container_conditions(&row, conditions)?;
        change(&mut row);
        row.etag = self.new_etag();
        row.last_modified = now_nanos();
        self.write_container(account, container, &row)?;
        Ok(row)
    }

    pub fn set_container_metadata(
        &self,
        account: &str,
        container: &str,
        metadata: Vec<(String, String)>,
        conditions: &Conditions,
    ) -> Result<ContainerRow, AzureError> {
        self.update_container(account, container, conditions, |row| row.metadata = metadata)
    }

    pub fn set_container_acl(
        &self,
        account: &str,
        container: &str,
        public_access: Option<String>,
        signed_identifiers: Option<String>,
        conditions: &Conditions,
    ) -> Result<ContainerRow, AzureError> {
        self.update_container(account, container, conditions, |row| {
            row.public_access = public_access;
            row.signed_identifiers = signed_identifiers;
        })
    }

    /// Deletes the container and every row under it. Blob rows go first and the container
    /// row last, so a crash part-way leaves a container with fewer blobs (the delete was not
    /// acknowledged), never blob rows without a container that a re-created container would
    /// resurrect.
    pub fn delete_container(&self, account: &str, container: &str, conditions: &Conditions) -> Result<(), AzureError> {
        let _guard = self.locks.container_exclusive(account, container);
        let row = self.get_container(account, container)?;
        // A leased container is deleted only with its lease id.
        crate::lease::check_access(
            row.lease.as_ref(),
            conditions.lease_id.as_deref(),
            true,
            crate::lease::LeaseScope::Container,
        )?;
        Self::check_container_conditions(&row, conditions)?;
        // With container soft delete on, the container row moves aside and its rows stay
        // until restored or purged (see `soft_delete.rs`).
        if self.soft_delete_container(account, container, row)? {
            return Ok(());
        }
        self.remove_container_contents(account, container)?;
        let mut batch = WriteBatch::new();
        batch.delete(keys::container(account, container));
        batch.delete(keys::path_id_counter(account, container));
        self.table.write(&batch).map_err(PartitionError::from)?;
        Ok(())
    }

    /// Deletes every blob, page map chunk and block row of a container, in bounded batches.
    pub(crate) fn remove_container_contents(&self, account: &str, container: &str) -> Result<(), AzureError> {
        for prefix in [
            keys::blobs_prefix(account, container),
            keys::container_blocks_prefix(account, container),
            keys::container_page_chunks_prefix(account, container),
            // The hierarchical namespace of an HNS account (`hns.rs`).
            keys::paths_prefix(account, container),
            keys::filesystem_staged_prefix(account, container),
            keys::path_tombstones_prefix(account, container),
            keys::deleted_directories_prefix(account, container),
        ] {
            let end = keys::prefix_end(&prefix);
            loop {
                let found = self
                    .table
                    .scan(&prefix, end.as_deref(), DELETE_BATCH_ROWS)
                    .map_err(PartitionError::from)?;
                if found.is_empty() {
                    break;
                }
                let mut batch = WriteBatch::new();
                let mut released = Vec::new();
                for (key, value) in &found {
                    batch.delete(key.clone());
                    self.unindex_row(key, value, &mut batch)?;
                    released.push(self.segments_of_row(key, value)?);
                }
                self.table.write(&batch).map_err(PartitionError::from)?;
                // Each row held one reference per distinct segment.
                for segments in &released {
                    self.release_segments(segments);
                }
            }
        }
        Ok(())
    }

    /// Containers whose name starts with `prefix`, from `marker` (inclusive: the marker is
    /// the name of the next container to return), at most `max_results`.
    pub fn list_containers(
        &self,
        account: &str,
        prefix: &str,
        marker: Option<&str>,
        max_results: usize,
    ) -> Result<ListContainersPage, AzureError> {
        let base = keys::containers_prefix(account);
        let prefix_key = [base.as_slice(), prefix.as_bytes()].concat();
        let mut start = prefix_key.clone();
        if let Some(marker) = marker {
            let marker_key = [base.as_slice(), marker.as_bytes()].concat();
            start = start.max(marker_key);
        }
        let end = keys::prefix_end(&prefix_key);
        let found = self
            .table
            .scan(&start, end.as_deref(), max_results.saturating_add(1))
            .map_err(PartitionError::from)?;
        let mut containers = Vec::with_capacity(found.len().min(max_results));
        let mut next_marker = None;
        for (key, value) in found {
            let name = String::from_utf8_lossy(&key[base.len()..]).into_owned();
            if containers.len() == max_results {
                next_marker = Some(name);
                break;
            }
            containers.push((name, rows::decode::<ContainerRow>(&value)?.0));
        }
        Ok(ListContainersPage {
            containers,
            next_marker,
        })
    }
}
