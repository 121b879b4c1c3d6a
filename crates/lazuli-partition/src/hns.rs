//! The hierarchical namespace (ADLS Gen2) of HNS accounts: `docs/rfcs/0001-hierarchical-namespace.md`.
//!
//! Paths are rows keyed by their parent directory's id (`keys::path`), so renaming or deleting
//! a directory is one batch whatever it holds. File data uses the blob-data stream and the
//! segment references of `data.rs` exactly as blobs do; appended but unflushed data are
//! `BlockRow`s keyed by the file's id and position (`keys::path_staged`).
//!
//! Namespace changes of one filesystem are serialized by one striped lock (a first cut: the
//! RFC's per-parent locks would let renames in different directories run in parallel).
//! Readers take no lock: every change is one atomic batch.

use std::collections::HashSet;

use lazuli_table::WriteBatch;
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::rows::{self, BlobRow, BlockRow, CommittedBlock, HttpHeaders, Segment};
use crate::{keys, now_nanos, time_from_nanos, Partition, PartitionError, UploadedBody};

/// The root directory of every filesystem.
pub const ROOT_ID: u64 = 0;
/// Rows read per scan when listing a directory or cleaning up a deleted subtree.
const SCAN_ROWS: usize = 1000;
/// Metadata that marks a directory in Blob API views, as the service does.
pub const FOLDER_METADATA: &str = "hdi_isfolder";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRow {
    /// Directories: the id their children are keyed by. Files: the id their staged appends
    /// are keyed by.
    pub id: u64,
    pub is_directory: bool,
    pub owner: String,
    pub group: String,
    /// Symbolic mode bits, e.g. `rwxr-x---` (plus `t` for sticky).
    pub permissions: String,
    /// The access ACL beyond the mode bits, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    /// The blob view: headers, metadata, data segments, ETag, times.
    pub blob: BlobRow,
    /// A file that Append Data created implicitly (the SDKs append to a new path and create
    /// it with the first flush, `If-None-Match: *`): it exists for nothing but appends and
    /// flushes until flushed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// What a path creation sets besides its type.
#[derive(Clone, Debug, Default)]
pub struct NewPath {
    pub metadata: Vec<(String, String)>,
    pub headers: HttpHeaders,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Symbolic or octal, before the umask.
    pub permissions: Option<String>,
    pub umask: Option<String>,
    pub acl: Option<String>,
}

/// A page of List Paths: (full path, row) in listing order, and where the next page starts.
pub struct PathPage {
    pub paths: Vec<(String, PathRow)>,
    pub continuation: Option<String>,
}

pub fn path_not_found() -> AzureError {
    AzureError::new(ErrorCode::PathNotFound, "The specified path does not exist.")
}

pub fn filesystem_not_found() -> AzureError {
    AzureError::new(
        ErrorCode::FilesystemNotFound,
        "The specified filesystem does not exist.",
    )
}

fn path_already_exists() -> AzureError {
    AzureError::new(ErrorCode::PathAlreadyExists, "The specified path already exists.")
}

fn path_conflict() -> AzureError {
    AzureError::new(
        ErrorCode::PathConflict,
        "The specified path, or an element of the path, exists and its resource type is invalid for this operation.",
    )
}

/// The components of a path; empty components (`a//b`, leading or trailing `/`) are ignored
/// as the service does.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

/// Octal (`0750`) or symbolic (`rwxr-x---`) permissions as mode bits.
fn parse_mode(text: &str) -> Result<u32, AzureError> {
    let text = text.trim();
    let invalid = || AzureError::header("x-ms-permissions", text);
    if text.len() <= 4 && !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u32::from_str_radix(text, 8).map_err(|_| invalid());
    }
    let symbolic = text.strip_suffix('+').unwrap_or(text);
    if symbolic.len() != 9 {
        return Err(invalid());
    }
    let mut mode = 0;
    for (i, c) in symbolic.chars().enumerate() {
        let expected = ['r', 'w', 'x'][i % 3];
        let bit = 1 << (8 - i);
        match c {
            '-' => {}
            c if c == expected => mode |= bit,
            't' | 'T' if i == 8 => mode |= 0o1000 | if c == 't' { 1 } else { 0 },
            _ => return Err(invalid()),
        }
    }
    Ok(mode)
}

fn format_mode(mode: u32) -> String {
    let mut out = String::with_capacity(9);
    for i in 0..9 {
        let on = mode & (1 << (8 - i)) != 0;
        out.push(if on { ['r', 'w', 'x'][i % 3] } else { '-' });
    }
    if mode & 0o1000 != 0 {
        out.pop();
        out.push(if mode & 1 != 0 { 't' } else { 'T' });
    }
    out
}

/// The stored permissions of a new path: the requested (or default 0777/0666) mode minus
/// the umask (default 0027, as the service applies to paths created without one).
fn initial_permissions(new: &NewPath, is_directory: bool) -> Result<String, AzureError> {
    let mode = match &new.permissions {
        Some(p) => parse_mode(p)?,
        None if is_directory => 0o777,
        None => 0o666,
    };
    let umask = match &new.umask {
        Some(u) => parse_mode(u).map_err(|_| AzureError::header("x-ms-umask", u))?,
        None => 0o027,
    };
    Ok(format_mode(mode & !umask & 0o1777))
}

/// Normalises permissions given to Set Access Control.
pub fn normalize_permissions(text: &str) -> Result<String, AzureError> {
    Ok(format_mode(parse_mode(text)?))
}

/// A path found by [`Partition::resolve_path`].
struct Found {
    key: Vec<u8>,
    parent: u64,
    /// The row's name in its parent (with the trailing `/` of a directory).
    name: String,
    row: PathRow,
}

pub(crate) fn decode_path(bytes: &[u8]) -> Result<PathRow, PartitionError> {
    let (mut row, inline): (PathRow, &[u8]) = rows::decode(bytes)?;
    if !row.is_directory && row.blob.blocks.is_empty() {
        row.blob.inline = Some(inline.to_vec());
    }
    Ok(row)
}

fn encode_path(row: &PathRow) -> Vec<u8> {
    rows::encode(row, row.blob.inline.as_deref())
}

impl Partition {
    /// Turns the hierarchical namespace on or off for an account (configuration, at start).
    pub fn set_hns(&self, account: &str, enabled: bool) {
        let mut accounts = self.hns_accounts.write();
        if enabled {
            accounts.insert(account.to_string());
        } else {
            accounts.remove(account);
        }
    }

    pub fn is_hns(&self, account: &str) -> bool {
        self.hns_accounts.read().contains(account)
    }

    fn read_path(&self, key: &[u8]) -> Result<Option<PathRow>, AzureError> {
        match self.table.get(key).map_err(PartitionError::from)? {
            Some(bytes) => Ok(Some(decode_path(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The id of directory `components` (the root for none), or `None` when a component is
    /// missing; a file in the way is a conflict.
    fn resolve_directory(&self, account: &str, fs: &str, components: &[&str]) -> Result<Option<u64>, AzureError> {
        let mut id = ROOT_ID;
        for component in components {
            match self.read_path(&keys::path(account, fs, id, &format!("{component}/")))? {
                Some(row) => id = row.id,
                None => {
                    if self.read_path(&keys::path(account, fs, id, component))?.is_some() {
                        return Err(path_conflict());
                    }
                    return Ok(None);
                }
            }
        }
        Ok(Some(id))
    }

    /// The resolver of the RFC: one point read per component (a file and a directory of the
    /// same name never coexist, so the last one is tried as both).
    fn resolve_path(&self, account: &str, fs: &str, path: &str) -> Result<Option<Found>, AzureError> {
        let parts = components(path);
        let Some((last, parents)) = parts.split_last() else {
            return Ok(None);
        };
        let parent = match self.resolve_directory(account, fs, parents) {
            Ok(Some(id)) => id,
            Ok(None)
            | Err(AzureError {
                code: ErrorCode::PathConflict,
                ..
            }) => return Ok(None),
            Err(error) => return Err(error),
        };
        for name in [last.to_string(), format!("{last}/")] {
            let key = keys::path(account, fs, parent, &name);
            if let Some(row) = self.read_path(&key)? {
                return Ok(Some(Found { key, parent, name, row }));
            }
        }
        Ok(None)
    }

    /// [`Partition::resolve_path`] without the files that only appends created so far.
    fn resolve_visible(&self, account: &str, fs: &str, path: &str) -> Result<Option<Found>, AzureError> {
        Ok(self.resolve_path(account, fs, path)?.filter(|found| !found.row.pending))
    }

    /// A path's row (`None`: no such path). The filesystem root is a directory.
    pub fn get_path(&self, account: &str, fs: &str, path: &str) -> Result<PathRow, AzureError> {
        let container = self.get_container(account, fs).map_err(|_| filesystem_not_found())?;
        if components(path).is_empty() {
            return Ok(PathRow {
                id: ROOT_ID,
                is_directory: true,
                owner: "$superuser".into(),
                group: "$superuser".into(),
                permissions: "rwxr-x---".into(),
                blob: BlobRow {
                    etag: container.etag,
                    last_modified: container.last_modified,
                    created: container.created,
                    ..Default::default()
                },
                ..Default::default()
            });
        }
        Ok(self.resolve_visible(account, fs, path)?.ok_or_else(path_not_found)?.row)
    }

    /// The Blob API's view of a path (Get Blob, Get Blob Properties on an HNS account):
    /// directories are empty blobs with `hdi_isfolder=true`.
    pub(crate) fn hns_blob_row(&self, account: &str, fs: &str, path: &str) -> Result<Option<BlobRow>, AzureError> {
        if !self.container_exists(account, fs)? {
            return Ok(None);
        }
        let Some(found) = self.resolve_visible(account, fs, path)? else {
            return Ok(None);
        };
        let mut blob = found.row.blob;
        if found.row.is_directory {
            blob.metadata.push((FOLDER_METADATA.into(), "true".into()));
            blob.inline = Some(Vec::new());
            blob.content_length = 0;
        }
        Ok(Some(blob))
    }

    fn next_path_id(&self, account: &str, fs: &str) -> Result<u64, AzureError> {
        let current = self
            .table
            .get(&keys::path_id_counter(account, fs))
            .map_err(PartitionError::from)?
            .and_then(|bytes| bytes.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(ROOT_ID);
        Ok(current + 1)
    }

    fn new_row(&self, id: u64, is_directory: bool, new: &NewPath) -> Result<PathRow, AzureError> {
        let now = now_nanos();
        Ok(PathRow {
            id,
            is_directory,
            owner: new.owner.clone().unwrap_or_else(|| "$superuser".into()),
            group: new.group.clone().unwrap_or_else(|| "$superuser".into()),
            permissions: initial_permissions(new, is_directory)?,
            acl: new.acl.clone(),
            blob: BlobRow {
                blob_type: "BlockBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: now,
                headers: new.headers.clone(),
                metadata: new.metadata.clone(),
                inline: (!is_directory).then(Vec::new),
                ..Default::default()
            },
            pending: false,
        })
    }

    /// Resolves the parent directories of `parts`, creating missing ones into `batch` with
    /// ids from `next_id` (the RFC's implicit parents, default permissions).
    fn ensure_directories(
        &self,
        account: &str,
        fs: &str,
        parts: &[&str],
        next_id: &mut u64,
        batch: &mut WriteBatch,
    ) -> Result<u64, AzureError> {
        let mut id = ROOT_ID;
        let mut creating = false;
        for component in parts {
            let dir_key = keys::path(account, fs, id, &format!("{component}/"));
            if !creating {
                if let Some(row) = self.read_path(&dir_key)? {
                    id = row.id;
                    continue;
                }
                if self.read_path(&keys::path(account, fs, id, component))?.is_some() {
                    return Err(path_conflict());
                }
                creating = true;
            }
            let row = self.new_row(*next_id, true, &NewPath::default())?;
            *next_id += 1;
            batch.put(dir_key, encode_path(&row));
            id = row.id;
        }
        Ok(id)
    }

    /// Holds the namespace lock of a filesystem and checks that it exists.
    fn with_namespace<T>(
        &self,
        account: &str,
        fs: &str,
        f: impl FnOnce() -> Result<T, AzureError>,
    ) -> Result<T, AzureError> {
        let _container_guard = self.locks.container_shared(account, fs);
        if !self.container_exists(account, fs)? {
            return Err(filesystem_not_found());
        }
        let _namespace_guard = self.locks.blob(account, fs, "\0namespace");
        f()
    }

    /// Path Create (`resource=file|directory`). An existing file is replaced by a new empty
    /// one; an existing directory keeps its children (its properties are replaced).
    pub fn create_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        is_directory: bool,
        new: &NewPath,
        conditions: &Conditions,
    ) -> Result<PathRow, AzureError> {
        let parts = components(path);
        let Some((last, parents)) = parts.split_last() else {
            return Err(path_conflict());
        };
        let mut released = Vec::new();
        let row = self.with_namespace(account, fs, || {
            let mut batch = WriteBatch::new();
            let mut next_id = self.next_path_id(account, fs)?;
            let current = self.resolve_path(account, fs, path)?;
            conditions.check_write(
                current
                    .as_ref()
                    .filter(|f| !f.row.pending)
                    .map(|f| (f.row.blob.etag.as_str(), time_from_nanos(f.row.blob.last_modified))),
                ErrorCode::PathAlreadyExists,
            )?;
            if let Some(found) = &current {
                if found.row.is_directory != is_directory {
                    return Err(path_conflict());
                }
            }
            let parent = self.ensure_directories(account, fs, parents, &mut next_id, &mut batch)?;
            let name = if is_directory {
                format!("{last}/")
            } else {
                last.to_string()
            };
            let mut row = match &current {
                // A directory keeps its id (its children stay); a file gets a fresh one so its
                // old staged appends are left behind and deleted below.
                Some(found) if is_directory => self.new_row(found.row.id, true, new)?,
                _ => {
                    let row = self.new_row(next_id, is_directory, new)?;
                    next_id += 1;
                    row
                }
            };
            if let Some(found) = &current {
                row.blob.created = found.row.blob.created;
                if !found.row.is_directory {
                    released.extend(found.row.blob.segments().copied());
                    released.extend(self.discard_staged(account, fs, found.row.id, &mut batch)?);
                }
            }
            batch.put(keys::path(account, fs, parent, &name), encode_path(&row));
            batch.put(keys::path_id_counter(account, fs), (next_id - 1).to_le_bytes().to_vec());
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(row)
        })?;
        self.release_segments(&released);
        Ok(row)
    }

    /// Deletes the staged append rows of a file into `batch`; returns their references.
    fn discard_staged(
        &self,
        account: &str,
        fs: &str,
        file_id: u64,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Segment>, AzureError> {
        let mut released = Vec::new();
        for (key, block) in self.staged(account, fs, file_id)? {
            batch.delete(key);
            let unique: HashSet<Segment> = block.segments.into_iter().collect();
            released.extend(unique);
        }
        Ok(released)
    }

    fn staged(&self, account: &str, fs: &str, file_id: u64) -> Result<Vec<(Vec<u8>, BlockRow)>, AzureError> {
        let prefix = keys::path_staged_prefix(account, fs, file_id);
        let end = keys::prefix_end(&prefix);
        let found = self
            .table
            .scan(&prefix, end.as_deref(), crate::blob::UNCOMMITTED_BLOCKS_MAX + 1)
            .map_err(PartitionError::from)?;
        found
            .into_iter()
            .map(|(key, value)| Ok((key, rows::decode::<BlockRow>(&value)?.0)))
            .collect()
    }

    /// Path Delete. A file or an empty directory goes at once; a directory with children
    /// only with `recursive`, as one batch: its key goes and a tombstone for its id is put,
    /// then [`Partition::collect_deleted_paths`] removes the orphaned subtree.
    pub fn delete_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        recursive: bool,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        let mut released = Vec::new();
        self.with_namespace(account, fs, || {
            let found = self.resolve_visible(account, fs, path)?.ok_or_else(path_not_found)?;
            conditions.check_write(
                Some((
                    found.row.blob.etag.as_str(),
                    time_from_nanos(found.row.blob.last_modified),
                )),
                ErrorCode::PathAlreadyExists,
            )?;
            let mut batch = WriteBatch::new();
            batch.delete(found.key.clone());
            if found.row.is_directory {
                let prefix = keys::path_children_prefix(account, fs, found.row.id);
                let end = keys::prefix_end(&prefix);
                let has_children = !self
                    .table
                    .scan(&prefix, end.as_deref(), 1)
                    .map_err(PartitionError::from)?
                    .is_empty();
                if has_children {
                    if !recursive {
                        return Err(AzureError::new(
                            ErrorCode::DirectoryNotEmpty,
                            "The recursive query parameter value must be true to delete a non-empty directory.",
                        ));
                    }
                    batch.put(keys::path_tombstone(account, fs, found.row.id), Vec::new());
                }
            } else {
                released.extend(found.row.blob.segments().copied());
                released.extend(self.discard_staged(account, fs, found.row.id, &mut batch)?);
            }
            let _ = found.parent;
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(())
        })?;
        self.release_segments(&released);
        Ok(())
    }

    /// Removes the rows of deleted subtrees (tombstones), in bounded batches, releasing their
    /// data. Safe to run at any time: the subtrees are unreachable from the root.
    pub fn collect_deleted_paths(&self) -> Result<usize, AzureError> {
        let _cleanup = self.hns_cleanup.lock();
        let mut removed = 0;
        loop {
            let start = keys::PATH_TOMBSTONES.to_vec();
            let end = keys::prefix_end(&start);
            let tombstones = self
                .table
                .scan(&start, end.as_deref(), SCAN_ROWS)
                .map_err(PartitionError::from)?;
            if tombstones.is_empty() {
                return Ok(removed);
            }
            for (key, _) in tombstones {
                let text = String::from_utf8_lossy(&key[1..]).into_owned();
                let mut parts = text.rsplitn(2, '/');
                let (Some(id), Some(scope)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let (Some((account, fs)), Ok(id)) = (scope.split_once('/'), u64::from_str_radix(id, 16)) else {
                    continue;
                };
                removed += self.collect_subtree(account, fs, id, &key)?;
            }
        }
    }

    /// Deletes one page of a deleted directory's children (sub-directories become
    /// tombstones themselves), and the tombstone once no child is left.
    fn collect_subtree(&self, account: &str, fs: &str, id: u64, tombstone: &[u8]) -> Result<usize, AzureError> {
        // Filesystem deletion (exclusive) removes the same rows and the tombstones: the
        // shared lock keeps the two apart, and the tombstone is re-read under it so that a
        // stale one never touches a re-created filesystem whose ids start again at 1.
        let _container_guard = self.locks.container_shared(account, fs);
        if self.table.get(tombstone).map_err(PartitionError::from)?.is_none() {
            return Ok(0);
        }
        let prefix = keys::path_children_prefix(account, fs, id);
        let end = keys::prefix_end(&prefix);
        let children = self
            .table
            .scan(&prefix, end.as_deref(), SCAN_ROWS)
            .map_err(PartitionError::from)?;
        let mut batch = WriteBatch::new();
        let mut released = Vec::new();
        for (key, value) in &children {
            let row = decode_path(value)?;
            batch.delete(key.clone());
            if row.is_directory {
                batch.put(keys::path_tombstone(account, fs, row.id), Vec::new());
            } else {
                released.push(row.blob.segments().copied().collect::<Vec<_>>());
                released.push(self.discard_staged(account, fs, row.id, &mut batch)?);
            }
        }
        if children.len() < SCAN_ROWS {
            batch.delete(tombstone.to_vec());
        }
        self.table.write(&batch).map_err(PartitionError::from)?;
        for segments in &released {
            self.release_segments(segments);
        }
        Ok(children.len())
    }

    /// Rename (`x-ms-rename-source`): delete the source key and put the same row (same id,
    /// so a directory's children move with it) under the destination key, in one batch.
    /// `dest_conditions` apply to an existing destination, which a file replaces.
    pub fn rename_path(
        &self,
        account: &str,
        fs: &str,
        source: &str,
        destination: &str,
        dest_conditions: &Conditions,
        source_conditions: &Conditions,
    ) -> Result<PathRow, AzureError> {
        let dest_parts = components(destination);
        let Some((last, parents)) = dest_parts.split_last() else {
            return Err(path_conflict());
        };
        let mut released = Vec::new();
        let row = self.with_namespace(account, fs, || {
            let found = self.resolve_visible(account, fs, source)?.ok_or_else(|| {
                AzureError::new(
                    ErrorCode::SourcePathNotFound,
                    "The source path for a rename operation does not exist.",
                )
            })?;
            source_conditions.check_write(
                Some((
                    found.row.blob.etag.as_str(),
                    time_from_nanos(found.row.blob.last_modified),
                )),
                ErrorCode::PathAlreadyExists,
            )?;
            let existing = self.resolve_path(account, fs, destination)?;
            let existing_visible = existing.as_ref().filter(|e| !e.row.pending);
            dest_conditions.check_write(
                existing_visible.map(|f| (f.row.blob.etag.as_str(), time_from_nanos(f.row.blob.last_modified))),
                ErrorCode::PathAlreadyExists,
            )?;
            if existing.as_ref().is_some_and(|e| e.key == found.key) {
                return Ok(found.row);
            }
            let mut batch = WriteBatch::new();
            let mut next_id = self.next_path_id(account, fs)?;
            let first_new_id = next_id;
            let parent = self.ensure_directories(account, fs, parents, &mut next_id, &mut batch)?;
            // Paths name directories uniquely (no links), so a destination inside the source
            // is one whose components extend the source's: checked by name, in O(depth).
            if found.row.is_directory && dest_parts.starts_with(&components(source)) {
                return Err(AzureError::new(
                    ErrorCode::InvalidSourceUri,
                    "A directory cannot be renamed into itself or one of its subdirectories.",
                ));
            }
            if let Some(existing) = &existing {
                if existing.row.is_directory || found.row.is_directory {
                    // The service refuses to replace a directory, or a file by a directory.
                    return Err(path_already_exists());
                }
                batch.delete(existing.key.clone());
                released.extend(existing.row.blob.segments().copied());
                released.extend(self.discard_staged(account, fs, existing.row.id, &mut batch)?);
            }
            let name = if found.row.is_directory {
                format!("{last}/")
            } else {
                last.to_string()
            };
            let mut row = found.row.clone();
            row.blob.etag = self.new_etag();
            row.blob.last_modified = now_nanos();
            let _ = (found.parent, &found.name);
            batch.delete(found.key.clone());
            batch.put(keys::path(account, fs, parent, &name), encode_path(&row));
            if next_id != first_new_id {
                batch.put(keys::path_id_counter(account, fs), (next_id - 1).to_le_bytes().to_vec());
            }
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(row)
        })?;
        self.release_segments(&released);
        Ok(row)
    }

    /// Children of a directory as (name with `/` for directories, row), from the name
    /// `from` (inclusive), at most `limit`.
    fn children(
        &self,
        account: &str,
        fs: &str,
        id: u64,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, PathRow)>, AzureError> {
        let prefix = keys::path_children_prefix(account, fs, id);
        let end = keys::prefix_end(&prefix);
        let mut start = [prefix.as_slice(), from.unwrap_or("").as_bytes()].concat();
        let mut out = Vec::new();
        while out.len() < limit {
            let found = self
                .table
                .scan(&start, end.as_deref(), SCAN_ROWS.min(limit - out.len()))
                .map_err(PartitionError::from)?;
            let Some((last, _)) = found.last() else { break };
            start = [last.as_slice(), &[0]].concat();
            let full = found.len() == SCAN_ROWS.min(limit - out.len());
            for (key, value) in found {
                let name = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                out.push((name, decode_path(&value)?));
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// List Paths under `directory` (the root when empty), recursively or not. Items come in
    /// the order of their names with `/` appended to directories (a depth-first walk, see
    /// the RFC); `continuation` is the sort name of the first item of the page.
    pub fn list_paths(
        &self,
        account: &str,
        fs: &str,
        directory: &str,
        recursive: bool,
        max_results: usize,
        continuation: Option<&str>,
    ) -> Result<PathPage, AzureError> {
        if !self.container_exists(account, fs)? {
            return Err(filesystem_not_found());
        }
        let base = components(directory);
        let start_id = if base.is_empty() {
            ROOT_ID
        } else {
            let found = self
                .resolve_visible(account, fs, directory)?
                .ok_or_else(path_not_found)?;
            if !found.row.is_directory {
                // Listing a file lists that file (as the service does).
                let name = base.join("/");
                return Ok(PathPage {
                    paths: vec![(name, found.row)],
                    continuation: None,
                });
            }
            found.row.id
        };
        let prefix = if base.is_empty() {
            String::new()
        } else {
            format!("{}/", base.join("/"))
        };
        let mut paths = Vec::new();
        let mut next = None;
        self.walk(
            account,
            fs,
            start_id,
            &prefix,
            recursive,
            continuation.unwrap_or(""),
            max_results,
            &mut paths,
            &mut next,
        )?;
        Ok(PathPage {
            paths,
            continuation: next,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        account: &str,
        fs: &str,
        id: u64,
        prefix: &str,
        recursive: bool,
        from: &str,
        max: usize,
        out: &mut Vec<(String, PathRow)>,
        next: &mut Option<String>,
    ) -> Result<(), AzureError> {
        // Resume at the child on the way to `from`: every child before it, with its whole
        // subtree, sorts before `from` (a page costs O(depth) seeks, not a rescan).
        let mut start: Option<String> = from.strip_prefix(prefix).map(|rest| match rest.find('/') {
            Some(slash) => rest[..=slash].to_string(),
            None => rest.to_string(),
        });
        loop {
            let page = self.children(account, fs, id, start.as_deref(), SCAN_ROWS)?;
            let Some((last, _)) = page.last() else { return Ok(()) };
            // Names never contain NUL: the next page starts right after the last name.
            start = Some(format!("{last}\0"));
            let count = page.len();
            for (name, row) in page {
                if row.pending {
                    continue;
                }
                let sort_name = format!("{prefix}{name}");
                let emit = sort_name.as_str() >= from;
                // A subtree whose every name sorts before `from` is skipped whole.
                let descend = recursive && row.is_directory && (emit || from.starts_with(&sort_name));
                if emit {
                    if out.len() == max {
                        *next = Some(sort_name);
                        return Ok(());
                    }
                    out.push((sort_name.trim_end_matches('/').to_string(), row.clone()));
                }
                if descend {
                    self.walk(account, fs, row.id, &sort_name, recursive, from, max, out, next)?;
                    if next.is_some() {
                        return Ok(());
                    }
                }
            }
            if count < SCAN_ROWS {
                return Ok(());
            }
        }
    }

    /// Runs a read-modify-write of an existing path's row under the namespace lock.
    fn modify_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        include_pending: bool,
        change: impl FnOnce(&mut PathRow, &mut WriteBatch) -> Result<Vec<Segment>, AzureError>,
    ) -> Result<PathRow, AzureError> {
        let (row, old, released) = self.with_namespace(account, fs, || {
            let found = self
                .resolve_path(account, fs, path)?
                .filter(|found| include_pending || !found.row.pending)
                .ok_or_else(path_not_found)?;
            let mut row = found.row.clone();
            let mut batch = WriteBatch::new();
            let released = change(&mut row, &mut batch)?;
            batch.put(found.key, encode_path(&row));
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok((row, found.row, released))
        })?;
        // The new row's references are taken before the old row's and the consumed ones go.
        self.reference_segments(row.blob.segments());
        let mut released = released;
        released.extend(old.blob.segments().copied());
        self.release_segments(&released);
        Ok(row)
    }

    /// Set Properties (`x-ms-properties`, and path headers when given) or Set Access Control.
    pub fn update_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        conditions: &Conditions,
        change: impl FnOnce(&mut PathRow),
    ) -> Result<PathRow, AzureError> {
        self.modify_path(account, fs, path, false, |row, _| {
            conditions.check_write(
                Some((row.blob.etag.as_str(), time_from_nanos(row.blob.last_modified))),
                ErrorCode::PathAlreadyExists,
            )?;
            change(row);
            row.blob.etag = self.new_etag();
            row.blob.last_modified = now_nanos();
            Ok(Vec::new())
        })
    }

    /// Append Data: stages `body` at `position`, which must be the end of the file's committed
    /// and staged data (contiguous appends, as the service requires).
    pub fn append_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        position: u64,
        body: UploadedBody,
    ) -> Result<(), AzureError> {
        let body_segments = body.segments.clone();
        let result = self.with_namespace(account, fs, || {
            let mut batch = WriteBatch::new();
            let found = match self.resolve_path(account, fs, path)? {
                Some(found) => found,
                None => self.create_pending_file(account, fs, path, &mut batch)?,
            };
            if found.row.is_directory {
                return Err(path_conflict());
            }
            let staged = self.staged(account, fs, found.row.id)?;
            let end = found.row.blob.content_length + staged.iter().map(|(_, b)| b.size).sum::<u64>();
            if position != end {
                return Err(AzureError::new(
                    ErrorCode::InvalidFlushPosition,
                    "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.",
                ));
            }
            if body.len == 0 {
                if !batch.is_empty() {
                    self.table.write(&batch).map_err(PartitionError::from)?;
                }
                return Ok(());
            }
            let segments = match &body.inline {
                Some(inline) => vec![self.append_segment(inline)?],
                None => body.segments.clone(),
            };
            let row = BlockRow {
                size: body.len,
                segments: segments.clone(),
                created: now_nanos(),
            };
            batch.put(keys::path_staged(account, fs, found.row.id, position), rows::encode(&row, None));
            let written = self.table.write(&batch).map_err(PartitionError::from);
            if written.is_ok() {
                self.reference_segments(&row.segments);
            }
            if body.inline.is_some() {
                // The segment appended here for an inline body: its reference is this call's.
                self.release_segments(&segments);
            }
            written?;
            Ok(())
        });
        self.release_segments(&body_segments);
        result
    }

    /// The implicit file of an append to a path that does not exist (see [`PathRow::pending`]),
    /// with its parent directories, into `batch`.
    fn create_pending_file(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        batch: &mut WriteBatch,
    ) -> Result<Found, AzureError> {
        let parts = components(path);
        let Some((last, parents)) = parts.split_last() else {
            return Err(path_conflict());
        };
        let mut next_id = self.next_path_id(account, fs)?;
        let parent = self.ensure_directories(account, fs, parents, &mut next_id, batch)?;
        let mut row = self.new_row(next_id, false, &NewPath::default())?;
        row.pending = true;
        let key = keys::path(account, fs, parent, last);
        batch.put(key.clone(), encode_path(&row));
        batch.put(keys::path_id_counter(account, fs), next_id.to_le_bytes().to_vec());
        Ok(Found {
            key,
            parent,
            name: last.to_string(),
            row,
        })
    }

    /// Flush Data: commits the staged data up to `position` (which must be the end of a
    /// staged append, or the committed length); the rest is kept with `retain`, else dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn flush_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        position: u64,
        retain: bool,
        headers: Option<HttpHeaders>,
        conditions: &Conditions,
    ) -> Result<PathRow, AzureError> {
        self.modify_path(account, fs, path, true, |row, batch| {
            if row.is_directory {
                return Err(path_conflict());
            }
            conditions.check_write(
                (!row.pending).then(|| (row.blob.etag.as_str(), time_from_nanos(row.blob.last_modified))),
                ErrorCode::PathAlreadyExists,
            )?;
            row.pending = false;
            let invalid = || {
                AzureError::new(
                    ErrorCode::InvalidFlushPosition,
                    "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.",
                )
            };
            if position < row.blob.content_length {
                return Err(invalid());
            }
            let mut end = row.blob.content_length;
            let mut blocks = Vec::new();
            let mut released = Vec::new();
            for (key, block) in self.staged(account, fs, row.id)? {
                if end < position {
                    end += block.size;
                    blocks.push(CommittedBlock {
                        id: String::new(),
                        size: block.size,
                        segments: block.segments.clone(),
                    });
                    batch.delete(key);
                    released.extend(block.segments.iter().copied().collect::<HashSet<_>>());
                } else if !retain {
                    batch.delete(key);
                    released.extend(block.segments.iter().copied().collect::<HashSet<_>>());
                }
            }
            if end != position {
                return Err(invalid());
            }
            if !blocks.is_empty() {
                if let Some(inline) = row.blob.inline.take().filter(|i| !i.is_empty()) {
                    // Committed inline bytes move to the data stream so the file is one list of blocks.
                    let segment = self.append_segment(&inline)?;
                    released.push(segment);
                    row.blob.blocks.push(CommittedBlock {
                        id: String::new(),
                        size: inline.len() as u64,
                        segments: vec![segment],
                    });
                }
                row.blob.inline = None;
                row.blob.blocks.extend(blocks);
            }
            row.blob.content_length = position;
            if let Some(headers) = headers {
                row.blob.headers = headers;
            }
            row.blob.etag = self.new_etag();
            row.blob.last_modified = now_nanos();
            Ok(released)
        })
    }
}
