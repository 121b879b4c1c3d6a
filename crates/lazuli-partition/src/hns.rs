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
use std::ops::Range;

use bytes::Bytes;
use lazuli_table::WriteBatch;
use lazuli_types::acl::{self, AclEntry, Tag};
use lazuli_types::conditions::Conditions;
use lazuli_types::{AzureError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::rows::{self, BlobRow, BlockRow, CommittedBlock, HttpHeaders, Segment};
use crate::{keys, now_nanos, time_from_nanos, Partition, PartitionError, UploadedBody};

/// The root directory of every filesystem.
pub const ROOT_ID: u64 = 0;
/// Rows read per scan when listing a directory or cleaning up a deleted subtree.
const SCAN_ROWS: usize = 1000;
/// Rows reserved up front for a listing page (the service's largest page).
const LIST_PAGE_RESERVE_MAX: usize = 5000;
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

impl PathRow {
    /// Past its expiry time (Set Blob Expiry).
    pub fn expired(&self) -> bool {
        self.blob.expires_on.is_some_and(|at| at <= now_nanos())
    }

    /// Not there for readers: created by appends only so far, or expired.
    pub fn hidden(&self) -> bool {
        self.pending || self.expired()
    }
}

/// Set Blob Expiry's `x-ms-expiry-option` with its time.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    Never,
    /// Milliseconds after the file's creation.
    RelativeToCreation(u64),
    /// Milliseconds from now.
    RelativeToNow(u64),
    /// Unix ns.
    Absolute(i128),
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

fn directory_not_empty() -> AzureError {
    AzureError::new(
        ErrorCode::DirectoryNotEmpty,
        "The recursive query parameter value must be true to delete a non-empty directory.",
    )
}

/// The conditions and the lease of a write to an existing path (a pending file, which only
/// appends created so far, counts as absent for the conditions).
fn check_path_write(row: &PathRow, conditions: &Conditions) -> Result<(), AzureError> {
    conditions.check_write(
        (!row.pending).then(|| (row.blob.etag.as_str(), time_from_nanos(row.blob.last_modified))),
        ErrorCode::PathAlreadyExists,
    )?;
    crate::lease::check_access(
        row.blob.lease.as_ref(),
        conditions.lease_id.as_deref(),
        true,
        crate::lease::LeaseScope::Blob,
    )
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

/// The owner of paths created with the account key or a SAS, and the identity those
/// credentials act as: every permission check passes for it.
pub const SUPERUSER: &str = "$superuser";

thread_local! {
    /// The user a partition call acts for (a bearer token's object id), set by
    /// [`as_principal`]: new paths are owned by it. `None`: the superuser.
    static PRINCIPAL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (one partition call, on this thread) on behalf of `principal`.
pub fn as_principal<T>(principal: Option<String>, f: impl FnOnce() -> T) -> T {
    let previous = PRINCIPAL.with(|p| p.replace(principal));
    let result = f();
    PRINCIPAL.with(|p| p.replace(previous));
    result
}

fn current_principal() -> Option<String> {
    PRINCIPAL.with(|p| p.borrow().clone())
}

/// A path's access and default ACL entries; without a stored ACL, the three base entries
/// its mode bits stand for.
pub fn acl_entries(row: &PathRow) -> Vec<AclEntry> {
    if let Some(entries) = row.acl.as_deref().and_then(|text| acl::parse(text).ok()) {
        return entries;
    }
    let mode = parse_mode(&row.permissions).unwrap_or(0);
    [(Tag::User, 6), (Tag::Group, 3), (Tag::Other, 0)]
        .into_iter()
        .map(|(tag, shift)| AclEntry {
            default: false,
            tag,
            qualifier: String::new(),
            perms: ((mode >> shift) & 7) as u8,
        })
        .collect()
}

/// `x-ms-acl` of Get Access Control.
pub fn acl_text(row: &PathRow) -> String {
    acl::format(&acl_entries(row))
}

/// Replaces a path's ACL: the base entries it lacks keep their current permissions; the
/// mode bits follow the owner, mask (or owning group) and other entries, as in POSIX. Only
/// directories have a default ACL.
pub fn set_acl(row: &mut PathRow, mut entries: Vec<AclEntry>) -> Result<(), AzureError> {
    if !row.is_directory && entries.iter().any(|e| e.default) {
        return Err(acl::invalid_acl("A file cannot have a default ACL."));
    }
    for base in acl_entries(row)
        .into_iter()
        .filter(|e| !e.default && e.qualifier.is_empty())
    {
        if base.tag != Tag::Mask && !entries.iter().any(|e| e.key() == base.key()) {
            entries.push(base);
        }
    }
    acl::sort(&mut entries);
    let perms = |tag: Tag| {
        entries
            .iter()
            .find(|e| !e.default && e.tag == tag && e.qualifier.is_empty())
            .map_or(0, |e| e.perms as u32)
    };
    let group_class = if entries.iter().any(|e| !e.default && e.tag == Tag::Mask) {
        perms(Tag::Mask)
    } else {
        perms(Tag::Group)
    };
    let sticky = parse_mode(&row.permissions).unwrap_or(0) & 0o1000;
    row.permissions = format_mode(sticky | perms(Tag::User) << 6 | group_class << 3 | perms(Tag::Other));
    let only_base = entries
        .iter()
        .all(|e| !e.default && e.tag != Tag::Mask && e.qualifier.is_empty());
    row.acl = (!only_base).then(|| acl::format(&entries));
    Ok(())
}

/// Changes a path's mode bits (`x-ms-permissions`); with an ACL, the owner, mask (or owning
/// group) and other entries change with them.
pub fn set_mode(row: &mut PathRow, permissions: &str) -> Result<(), AzureError> {
    let mode = parse_mode(permissions)?;
    row.permissions = format_mode(mode);
    if row.acl.is_some() {
        let mut entries = acl_entries(row);
        mode_classes(&mut entries, mode, |entry, bits| entry.perms = bits);
        row.acl = Some(acl::format(&entries));
    }
    Ok(())
}

/// Calls `apply` with each access entry that stands for a class of the mode bits (the owner,
/// the group class: the mask when there is one, else the owning group; other) and that
/// class's three bits of `mode`.
fn mode_classes(entries: &mut [AclEntry], mode: u32, mut apply: impl FnMut(&mut AclEntry, u8)) {
    let has_mask = entries.iter().any(|e| !e.default && e.tag == Tag::Mask);
    for entry in entries.iter_mut().filter(|e| !e.default && e.qualifier.is_empty()) {
        let shift = match entry.tag {
            Tag::User => 6,
            Tag::Group if has_mask => continue,
            Tag::Group | Tag::Mask => 3,
            Tag::Other => 0,
        };
        apply(entry, ((mode >> shift) & 7) as u8);
    }
}

/// What an operation needs of a path, checked for callers that are users (bearer tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathAccess {
    /// Execute on every ancestor (Get Properties, Get Access Control).
    Traverse,
    Read,
    /// Write on the path if it exists, else write and execute on its deepest existing parent.
    Write,
    /// Write and execute on the parent (Path Create, an overwrite included).
    Create,
    /// Write and execute on the parent, and with the parent's sticky bit, owning the parent
    /// or the path.
    Delete,
    /// Read and execute on a directory.
    List,
    /// Owning the path (Set Access Control).
    Owner,
}

pub fn permission_denied() -> AzureError {
    AzureError::new(
        ErrorCode::AuthorizationPermissionMismatch,
        "This request is not authorized to perform this operation using this permission.",
    )
}

fn allows(row: &PathRow, principal: &str, needed: u8) -> bool {
    acl::permissions_of(&acl_entries(row), &row.owner, principal) & needed == needed
}

/// The change of Set Access Control Recursive (`mode=set|modify|remove`).
pub enum AclChange {
    Set(Vec<AclEntry>),
    Modify(Vec<AclEntry>),
    Remove(Vec<(bool, Tag, String)>),
}

#[derive(Default)]
pub struct AclRecursiveResult {
    pub directories: u64,
    pub files: u64,
    /// (path, is a directory, why).
    pub failures: Vec<(String, bool, String)>,
    pub continuation: Option<String>,
}

/// The state of one tree walk (List Paths, List Blobs).
struct Walk<'a> {
    account: &'a str,
    fs: &'a str,
    recursive: bool,
    /// The first sort name to emit.
    from: &'a str,
    /// Emitted sort names start with this; the walk ends at the first that does not.
    within: &'a str,
    max: usize,
    out: &'a mut Vec<(String, PathRow)>,
    next: &'a mut Option<String>,
    /// When wanted, each emitted path's row key, in step with `out`.
    keys: Option<&'a mut Vec<Vec<u8>>>,
    /// Paths emitted so far (`out` may have been handed on in chunks).
    emitted: usize,
    /// When set, `out` is handed to it (and emptied) each time it holds this many paths.
    chunks: Option<(usize, PathSink<'a>)>,
}

/// Takes (and empties) a walk's emitted paths.
type PathSink<'a> = &'a mut dyn FnMut(&mut Vec<(String, PathRow)>);

impl Walk<'_> {
    fn emit(&mut self, name: String, row: PathRow) {
        self.out.push((name, row));
        self.emitted += 1;
        if let Some((size, sink)) = self.chunks.as_mut() {
            if self.out.len() >= *size {
                sink(self.out);
            }
        }
    }
}

pub(crate) enum NamespaceGuard<'a> {
    Shared(#[allow(dead_code)] parking_lot::RwLockReadGuard<'a, ()>),
    Exclusive(#[allow(dead_code)] parking_lot::RwLockWriteGuard<'a, ()>),
}

/// A Blob write that the service takes as a directory: empty, with `hdi_isfolder=true`.
fn is_folder_marker(row: &BlobRow) -> bool {
    row.content_length == 0
        && row
            .metadata
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case(FOLDER_METADATA) && value.eq_ignore_ascii_case("true"))
}

/// The Blob API's view of a path: directories are empty blobs with `hdi_isfolder=true`.
pub(crate) fn blob_view(row: &PathRow) -> BlobRow {
    into_blob_view(row.clone())
}

/// [`blob_view`] of a row that is not needed any more (listings: no copy).
fn into_blob_view(row: PathRow) -> BlobRow {
    let mut blob = row.blob;
    if row.is_directory {
        blob.metadata.push((FOLDER_METADATA.into(), "true".into()));
        blob.inline = Some(Bytes::new());
        blob.content_length = 0;
    }
    blob
}

/// A path found by [`Partition::resolve_path`].
struct Found {
    key: Vec<u8>,
    row: PathRow,
}

pub(crate) fn decode_path(bytes: &[u8]) -> Result<PathRow, PartitionError> {
    decode_path_with(bytes, None, Bytes::copy_from_slice)
}

/// [`decode_path`] of a row read from the table: the inline body shares the row's memory.
fn decode_path_shared(bytes: &Bytes) -> Result<PathRow, PartitionError> {
    decode_path_with(bytes, None, |inline| bytes.slice_ref(inline))
}

/// [`decode_path_shared`] for a read of file bytes `blocks_for` (none: the properties): only
/// the blocks within them are decoded (`BlobRow::blocks_omitted`).
fn decode_path_within(bytes: &Bytes, blocks_for: &Range<u64>) -> Result<PathRow, PartitionError> {
    decode_path_with(bytes, Some(blocks_for), |inline| bytes.slice_ref(inline))
}

/// A path row (a file's blocks within `blocks_for`, when given) with a file's inline body
/// (if it has one) made by `body` from the inline bytes.
fn decode_path_with(
    bytes: &[u8],
    blocks_for: Option<&Range<u64>>,
    body: impl FnOnce(&[u8]) -> Bytes,
) -> Result<PathRow, PartitionError> {
    let (mut row, inline) = rows::decode_path_parts(bytes, blocks_for)?;
    if !row.is_directory && row.blob.has_inline_body() {
        row.blob.inline = Some(body(inline));
    }
    Ok(row)
}

pub(crate) fn encode_path(row: &PathRow) -> Vec<u8> {
    crate::row_codec::encode_path(row)
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
        self.read_path_as(key, None)
    }

    /// [`Partition::read_path`]; with `blocks_for`, only a file's blocks within those bytes
    /// are decoded.
    fn read_path_as(&self, key: &[u8], blocks_for: Option<&Range<u64>>) -> Result<Option<PathRow>, AzureError> {
        match (self.table.get(key).map_err(PartitionError::from)?, blocks_for) {
            (Some(bytes), Some(range)) => Ok(Some(decode_path_within(&bytes, range)?)),
            (Some(bytes), None) => Ok(Some(decode_path_shared(&bytes)?)),
            (None, _) => Ok(None),
        }
    }

    /// The id of directory `components` (the root for none), or `None` when a component is
    /// missing; a file in the way is a conflict.
    fn resolve_directory(&self, account: &str, fs: &str, components: &[&str]) -> Result<Option<u64>, AzureError> {
        if components.is_empty() {
            // The root's id is known: its row (read by `resolve_directory_row`) is not needed.
            return Ok(Some(ROOT_ID));
        }
        Ok(self.resolve_directory_row(account, fs, components)?.map(|row| row.id))
    }

    /// [`Partition::resolve_directory`] with the directory's row.
    fn resolve_directory_row(
        &self,
        account: &str,
        fs: &str,
        components: &[&str],
    ) -> Result<Option<PathRow>, AzureError> {
        // The root's own row is read only when it is the answer: walking through it needs
        // nothing but its id (this is on the path of every Get and Put).
        if components.is_empty() {
            return Ok(Some(self.root_row(account, fs)?));
        }
        let mut id = ROOT_ID;
        for (depth, component) in components.iter().enumerate() {
            match self.read_path(&keys::directory_path(account, fs, id, component))? {
                Some(child) if depth + 1 == components.len() => return Ok(Some(child)),
                Some(child) => id = child.id,
                None => {
                    if self.read_path(&keys::path(account, fs, id, component))?.is_some() {
                        return Err(path_conflict());
                    }
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// The root directory: its stored row once its access control was set, else the
    /// service's defaults for a new filesystem.
    fn root_row(&self, account: &str, fs: &str) -> Result<PathRow, AzureError> {
        if let Some(row) = self.read_path(&keys::path_root(account, fs))? {
            return Ok(row);
        }
        Ok(PathRow {
            id: ROOT_ID,
            is_directory: true,
            owner: SUPERUSER.into(),
            group: SUPERUSER.into(),
            permissions: "rwxr-x---".into(),
            ..Default::default()
        })
    }

    /// The resolver of the RFC: one point read per component (a file and a directory of the
    /// same name never coexist, so the last one is tried as both).
    fn resolve_path(&self, account: &str, fs: &str, path: &str) -> Result<Option<Found>, AzureError> {
        self.resolve_path_as(account, fs, path, None)
    }

    /// [`Partition::resolve_path`]; with `blocks_for`, the path's own row is read with only
    /// a file's blocks within those bytes (`read_path_as`).
    fn resolve_path_as(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        blocks_for: Option<&Range<u64>>,
    ) -> Result<Option<Found>, AzureError> {
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
        self.find_child_as(account, fs, parent, last, blocks_for)
    }

    /// The child `name` of directory `parent`, as a file or as a directory (the two never
    /// coexist, so the second read happens only for directories and misses).
    fn find_child(&self, account: &str, fs: &str, parent: u64, name: &str) -> Result<Option<Found>, AzureError> {
        self.find_child_as(account, fs, parent, name, None)
    }

    fn find_child_as(
        &self,
        account: &str,
        fs: &str,
        parent: u64,
        name: &str,
        blocks_for: Option<&Range<u64>>,
    ) -> Result<Option<Found>, AzureError> {
        let file = keys::path(account, fs, parent, name);
        if let Some(row) = self.read_path_as(&file, blocks_for)? {
            return Ok(Some(Found { key: file, row }));
        }
        let directory = keys::directory_path(account, fs, parent, name);
        Ok(self.read_path(&directory)?.map(|row| Found { key: directory, row }))
    }

    /// [`Partition::resolve_path`] without the files that only appends created so far.
    fn resolve_visible(&self, account: &str, fs: &str, path: &str) -> Result<Option<Found>, AzureError> {
        self.resolve_visible_as(account, fs, path, None)
    }

    fn resolve_visible_as(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        blocks_for: Option<&Range<u64>>,
    ) -> Result<Option<Found>, AzureError> {
        Ok(self
            .resolve_path_as(account, fs, path, blocks_for)?
            .filter(|found| !found.row.hidden()))
    }

    /// A path's row (`None`: no such path). The filesystem root is a directory.
    pub fn get_path(&self, account: &str, fs: &str, path: &str) -> Result<PathRow, AzureError> {
        let container = self.get_container(account, fs).map_err(|_| filesystem_not_found())?;
        if components(path).is_empty() {
            let mut root = self.root_row(account, fs)?;
            if root.blob.etag.is_empty() {
                root.blob = BlobRow {
                    etag: container.etag,
                    last_modified: container.last_modified,
                    created: container.created,
                    ..Default::default()
                };
            }
            return Ok(root);
        }
        Ok(self.resolve_visible(account, fs, path)?.ok_or_else(path_not_found)?.row)
    }

    /// The Blob API's view of a path (Get Blob, Get Blob Properties on an HNS account):
    /// directories are empty blobs with `hdi_isfolder=true`.
    /// A page blob's pages are loaded within `pages_within` (all when `None`), and with
    /// `blocks_for` only a file's blocks within those bytes (see
    /// [`Partition::read_blob_row_within`]).
    pub(crate) fn hns_blob_row(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        pages_within: Option<&std::ops::Range<u64>>,
        blocks_for: Option<&std::ops::Range<u64>>,
    ) -> Result<Option<BlobRow>, AzureError> {
        // As for flat blobs: a deleted filesystem's paths are gone with it, so only a
        // soft-deleted one needs its row read (every Get comes through here).
        if !self.blobs_reachable(account, fs)? {
            return Ok(None);
        }
        self.read_with_page_map(account, fs, path, || {
            let Some(found) = self.resolve_visible_as(account, fs, path, blocks_for)? else {
                return Ok(Some(None));
            };
            if found.row.blob.page_map == 0 {
                return Ok(Some(Some(into_blob_view(found.row))));
            }
            let mut view = blob_view(&found.row);
            self.load_pages(account, fs, path, &mut view, pages_within)?;
            let again = self.resolve_visible_as(account, fs, path, blocks_for)?;
            let unchanged = again.is_some_and(|again| again.key == found.key && again.row == found.row);
            Ok(unchanged.then_some(Some(view)))
        })
    }

    /// The Blob API's read-modify-write of one path (`modify_blob` on an HNS account):
    /// `change` sees the Blob view of the path and returns the new blob row. Files under
    /// existing directories are written under the shared namespace lock and the path's own
    /// lock, so such writes run in parallel; a write that must create parent directories
    /// takes the namespace exclusively. A zero-length blob with `hdi_isfolder=true` is a
    /// directory, as the service treats it; a directory's row keeps being a directory (only
    /// its properties change), and data written onto it is a conflict.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prepare_hns_blob_write(
        &self,
        account: &str,
        fs: &str,
        blob: &str,
        pages_within: Option<std::ops::Range<u64>>,
        change: impl FnOnce(Option<&BlobRow>) -> crate::blob::ChangedRow,
    ) -> Result<crate::blob::PreparedWrite<'_>, AzureError> {
        let parts = components(blob);
        let Some((last, parents)) = parts.split_last() else {
            return Err(AzureError::new(
                ErrorCode::InvalidResourceName,
                "The specifed resource name contains invalid characters.",
            ));
        };
        let container_guard = self.locks.acquire_container_shared(account, fs)?;
        if !self.container_exists(account, fs)? {
            return Err(crate::container::container_not_found());
        }
        let shared = self.locks.acquire_namespace_shared(account, fs)?;
        let existing_parent = self.resolve_directory_row(account, fs, parents)?;
        let namespace_guard = match existing_parent {
            Some(_) => NamespaceGuard::Shared(shared),
            None => {
                drop(shared);
                NamespaceGuard::Exclusive(self.locks.acquire_namespace_exclusive(account, fs)?)
            }
        };
        let normalized = parts.join("/");
        let path_guard = self.locks.acquire_blob(account, fs, &normalized)?;
        debug_assert_eq!(self.blob_lock_name(account, blob), normalized);
        // Under the exclusive lock the parents are resolved (and created) again below.
        let found = match &existing_parent {
            Some(parent) => self.find_child(account, fs, parent.id, last)?,
            None => match self.resolve_directory(account, fs, parents)? {
                Some(parent) => self.find_child(account, fs, parent, last)?,
                None => None,
            },
        };
        let current = match found.as_ref().filter(|f| !f.row.hidden()) {
            Some(found) => {
                let mut view = blob_view(&found.row);
                self.load_pages(account, fs, &normalized, &mut view, pages_within.as_ref())?;
                Some(view)
            }
            None => None,
        };
        crate::blob::begin_staged_sweep();
        let (mut new_row, mut batch, mut released) = change(current.as_ref())?;
        let sweep = crate::blob::take_staged_sweep()?;
        let kept_version =
            self.before_blob_write(account, fs, &normalized, current.as_ref(), new_row.as_mut(), &mut batch)?;
        if kept_version.is_some() && pages_within.is_some() {
            return Err(AzureError::internal(
                "a partly loaded page map would be kept as a version",
            ));
        }
        crate::tags::index_changes(
            &mut batch,
            account,
            fs,
            &normalized,
            current.as_ref().map_or(&[][..], |row| &row.tags),
            new_row.as_ref().map_or(&[][..], |row| &row.tags),
        );
        let mut referenced: Vec<Vec<Segment>> = kept_version
            .iter()
            .map(|row| row.segments().copied().collect())
            .collect();
        let mut released_rows = Vec::new();
        // A page blob's map in chunk rows (`page.rs`): a hidden file's goes with its row; a
        // visible file's changes as `current` becomes `new_row`. Directories have none.
        if let Some(hidden) = found.as_ref().filter(|f| f.row.hidden()) {
            self.drop_file_page_map(account, fs, &hidden.row, &mut batch, &mut released_rows)?;
        }
        if found.as_ref().is_none_or(|f| !f.row.is_directory) {
            self.store_page_map(
                account,
                fs,
                &normalized,
                current.as_ref(),
                pages_within.as_ref(),
                new_row.as_mut(),
                &mut batch,
                &mut referenced,
                &mut released_rows,
            )?;
        }
        let mut old_data = Vec::new();
        let written = match (found, new_row.as_mut()) {
            (Some(found), Some(new)) if found.row.is_directory => {
                if new.content_length != 0 || !new.blocks.is_empty() {
                    return Err(path_conflict());
                }
                let mut row = found.row;
                new.metadata
                    .retain(|(name, _)| !name.eq_ignore_ascii_case(FOLDER_METADATA));
                row.blob = BlobRow {
                    inline: None,
                    content_length: 0,
                    ..new.clone()
                };
                batch.put(found.key, encode_path(&row));
                new.metadata.push((FOLDER_METADATA.into(), "true".into()));
                new.inline = Some(Bytes::new());
                row
            }
            (Some(found), Some(new)) => {
                let mut row = found.row;
                // New content (Put Blob, Put Block List, a copy) discards what Append Data
                // staged, as it discards uncommitted blocks: the staged rows are keyed by
                // positions past the old content, which Flush Data would put in the wrong
                // order after the new. A change of properties keeps them.
                let new_content = row.blob.content_length != new.content_length
                    || row.blob.blocks != new.blocks
                    || row.blob.inline != new.inline;
                if row.hidden() || new_content {
                    // Replaced as if absent: staged appends of a pending file go too.
                    released.extend(self.discard_staged(account, fs, row.id, &mut batch)?);
                    row.pending = false;
                }
                old_data.extend(row.blob.segments().copied());
                row.blob = new.clone();
                batch.put(found.key, encode_path(&row));
                row
            }
            (None, Some(new)) => {
                let parent = match existing_parent {
                    Some(parent) => parent,
                    None => self.ensure_parents(account, fs, parents, &mut batch)?,
                };
                // Blob-created paths take ids from the time ticks, with the top bit set:
                // apart from the counter's ids, and unique without writing the counter, so
                // that writes under the shared lock need no common row.
                let id = (1 << 63) | self.unique_tick();
                let is_directory = is_folder_marker(new);
                let mut row = self.new_row(id, is_directory, &NewPath::default(), &parent)?;
                let name = if is_directory {
                    new.metadata
                        .retain(|(name, _)| !name.eq_ignore_ascii_case(FOLDER_METADATA));
                    row.blob = BlobRow {
                        inline: None,
                        ..new.clone()
                    };
                    new.metadata.push((FOLDER_METADATA.into(), "true".into()));
                    format!("{last}/")
                } else {
                    row.blob = new.clone();
                    last.to_string()
                };
                batch.put(keys::path(account, fs, parent.id, &name), encode_path(&row));
                row
            }
            (Some(found), None) => {
                if found.row.is_directory {
                    if self.has_children(account, fs, found.row.id)? {
                        return Err(directory_not_empty());
                    }
                } else {
                    old_data.extend(found.row.blob.segments().copied());
                    released.extend(self.discard_staged(account, fs, found.row.id, &mut batch)?);
                }
                batch.delete(found.key);
                PathRow::default()
            }
            (None, None) => PathRow::default(),
        };
        referenced.push(written.blob.stored_segments().collect());
        if let Some(new) = new_row.as_mut() {
            // The caller's row has its pages, as a row read through the partition does.
            new.loaded_page_map = std::mem::take(&mut new.page_map);
        }
        released.extend(old_data);
        Ok(crate::blob::PreparedWrite {
            _locks: crate::blob::WriteLocks {
                _container: container_guard,
                _namespace: Some(namespace_guard),
                _blob: path_guard,
            },
            batch,
            new_row,
            referenced,
            released,
            released_rows,
            upload: Vec::new(),
            sweep,
        })
    }

    /// Delete Blob of a path's base row on an HNS account: the snapshot rules, soft delete
    /// and versions as for any blob (their rows are `B` sub-rows of the full path), and the
    /// path row removed; a directory only when it is empty.
    pub(crate) fn delete_hns_blob(
        &self,
        account: &str,
        fs: &str,
        blob: &str,
        options: &crate::snapshot::DeleteOptions,
        deletion: Option<crate::soft_delete::Deletion>,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        use crate::snapshot::DeleteSnapshots;
        let name = components(blob).join("/");
        let (mut added, mut released) = (Vec::new(), Vec::new());
        self.with_namespace(account, fs, || {
            // Put Block takes this lock, not the namespace's: the path's staged blocks are
            // discarded (and swept after the batch) with no Put Block in between.
            let _blob_guard = self.locks.blob(account, fs, &name);
            crate::blob::begin_staged_sweep();
            let found = self
                .resolve_visible(account, fs, blob)?
                .ok_or_else(crate::blob::blob_not_found)?;
            let mut base = blob_view(&found.row);
            // A page map in chunk rows is loaded: a kept row holds the pages itself.
            self.load_pages(account, fs, &name, &mut base, None)?;
            Self::check_write_conditions(Some(&base), conditions)?;
            let mut batch = WriteBatch::new();
            self.delete_snapshots_of(account, fs, &name, options, deletion, &mut batch, &mut released)?;
            if options.snapshots != DeleteSnapshots::Only {
                if found.row.is_directory {
                    if self.has_children(account, fs, found.row.id)? {
                        return Err(directory_not_empty());
                    }
                    batch.delete(found.key.clone());
                } else {
                    released.push(self.discard_uncommitted(account, fs, &name, &mut batch)?);
                    released.push(self.discard_staged(account, fs, found.row.id, &mut batch)?);
                    batch.delete(found.key.clone());
                    // `retire_base` keeps the row as a deleted or previous-version sub-row
                    // (its references move with it) or releases its data.
                    let key = keys::blob(account, fs, &name);
                    self.retire_base(
                        account,
                        fs,
                        &name,
                        &mut batch,
                        &mut added,
                        &mut released,
                        key,
                        base,
                        deletion,
                    )?;
                }
            }
            let sweep = crate::blob::take_staged_sweep()?;
            self.table.write(&batch).map_err(PartitionError::from)?;
            if let Some(prefix) = sweep {
                self.sweep_staged(&prefix);
            }
            Ok(())
        })?;
        for segments in &added {
            self.reference_segments(segments);
        }
        for segments in &released {
            self.release_segments(segments);
        }
        Ok(())
    }

    /// Path Delete of a directory under a soft-delete policy: the directory's row moves to a
    /// deleted-directory row (`keys::deleted_directory`) in one batch; its children stay keyed
    /// by its id, unreachable, so an undelete brings the whole tree back at once and a purge
    /// turns it into a tombstone for [`Partition::collect_deleted_paths`].
    pub fn soft_delete_directory(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        recursive: bool,
        deletion: crate::soft_delete::Deletion,
        conditions: &Conditions,
    ) -> Result<(), AzureError> {
        let name = components(path).join("/");
        self.with_namespace(account, fs, || {
            let found = self.resolve_visible(account, fs, path)?.ok_or_else(path_not_found)?;
            if !found.row.is_directory {
                return Err(path_conflict());
            }
            check_path_write(&found.row, conditions)?;
            if !recursive && self.has_children(account, fs, found.row.id)? {
                return Err(directory_not_empty());
            }
            let mut row = found.row;
            row.blob.deleted = Some(deletion);
            row.blob.lease = None;
            let id = lazuli_types::time_fmt::iso8601_7(time_from_nanos(deletion.time));
            let mut batch = WriteBatch::new();
            batch.delete(found.key);
            batch.put(keys::deleted_directory(account, fs, &name, &id), encode_path(&row));
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(())
        })
    }

    /// Soft-deleted directories in `[from, until)` whose path starts with `prefix`, as
    /// (path, Blob view with the deletion) in path order.
    fn deleted_directories(
        &self,
        account: &str,
        fs: &str,
        prefix: &str,
        from: &str,
        until: Option<&str>,
    ) -> Result<Vec<(String, BlobRow)>, AzureError> {
        let base = keys::deleted_directories_prefix(account, fs);
        let start = [base.as_slice(), from.max(prefix).as_bytes()].concat();
        let prefix_key = [base.as_slice(), prefix.as_bytes()].concat();
        let end = keys::prefix_end(&prefix_key);
        let mut out = Vec::new();
        for (key, value) in self
            .table
            .scan(&start, end.as_deref(), usize::MAX)
            .map_err(PartitionError::from)?
        {
            let text = String::from_utf8_lossy(&key[base.len()..]).into_owned();
            let Some((path, _)) = text.split_once('\0') else {
                continue;
            };
            if until.is_some_and(|until| path >= until.trim_end_matches('/')) {
                break;
            }
            out.push((path.to_string(), into_blob_view(decode_path(&value)?)));
        }
        Ok(out)
    }

    /// Restores the newest soft-deleted directory at `path` (and its tree) when the name is
    /// free; `Ok(false)` when there is none.
    fn undelete_directory(&self, account: &str, fs: &str, path: &str) -> Result<bool, AzureError> {
        let parts = components(path);
        let Some((last, parents)) = parts.split_last() else {
            return Ok(false);
        };
        let name = parts.join("/");
        self.with_namespace(account, fs, || {
            let prefix = [
                keys::deleted_directories_prefix(account, fs),
                format!("{name}\0").into_bytes(),
            ]
            .concat();
            let end = keys::prefix_end(&prefix);
            let Some((key, value)) = self
                .table
                .scan(&prefix, end.as_deref(), usize::MAX)
                .map_err(PartitionError::from)?
                .pop()
            else {
                return Ok(false);
            };
            if self.resolve_path(account, fs, path)?.is_some() {
                return Err(path_already_exists());
            }
            let mut row = decode_path(&value)?;
            row.blob.deleted = None;
            let mut batch = WriteBatch::new();
            let parent = self.ensure_parents(account, fs, parents, &mut batch)?;
            batch.delete(key);
            batch.put(keys::directory_path(account, fs, parent.id, last), encode_path(&row));
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(true)
        })
    }

    /// Purges soft-deleted directories whose retention has passed: each becomes a tombstone
    /// whose tree [`Partition::collect_deleted_paths`] removes. Returns how many.
    pub(crate) fn purge_deleted_directories(&self, now: i128) -> Result<usize, PartitionError> {
        let start = keys::DELETED_DIRECTORIES.to_vec();
        let end = keys::prefix_end(&start);
        let mut expired = Vec::new();
        for (key, value) in self
            .table
            .scan(&start, end.as_deref(), usize::MAX)
            .map_err(PartitionError::from)?
        {
            if decode_path(&value)?.blob.deleted.is_some_and(|d| d.purge_at <= now) {
                expired.push(key);
            }
        }
        let mut purged = 0;
        for key in expired {
            let Some((account, fs)) = keys::parse_path_scope(&key) else {
                continue;
            };
            let _container_guard = self.locks.container_shared(&account, &fs);
            let _namespace_guard = self.locks.namespace_exclusive(&account, &fs);
            // Re-read under the lock: it may have been restored meanwhile.
            let Some(value) = self.table.get(&key).map_err(PartitionError::from)? else {
                continue;
            };
            let row = decode_path(&value)?;
            let mut batch = WriteBatch::new();
            batch.delete(key);
            batch.put(keys::path_tombstone(&account, &fs, row.id), Vec::new());
            self.table.write(&batch).map_err(PartitionError::from)?;
            purged += 1;
        }
        Ok(purged)
    }

    /// Undelete Blob on an HNS account: restores soft-deleted snapshots and, when the path
    /// does not exist, its newest deleted row as the path (with its parent directories), or
    /// else its newest soft-deleted directory with the tree below it.
    pub(crate) fn undelete_hns_blob(&self, account: &str, fs: &str, blob: &str) -> Result<(), AzureError> {
        use crate::snapshot::is_kind;
        use crate::soft_delete::restore_deleted_snapshots;
        let name = components(blob).join("/");
        if self
            .hns_blob_row(account, fs, blob, Some(&(0..0)), Some(&(0..0)))?
            .is_some()
        {
            // The path exists: only its soft-deleted snapshots come back.
            return self.with_blob_locked(account, fs, blob, || {
                let mut batch = WriteBatch::new();
                restore_deleted_snapshots(&self.blob_subrows(account, fs, &name)?, &mut batch);
                Ok(((), batch, Vec::new(), Vec::new()))
            });
        }
        let subrows = self.blob_subrows(account, fs, &name)?;
        if !subrows
            .iter()
            .any(|(key, _)| is_kind(key, keys::SUBROW_DELETED) || is_kind(key, keys::SUBROW_SNAPSHOT))
            && self.undelete_directory(account, fs, blob)?
        {
            return Ok(());
        }
        let mut found_any = false;
        let restored = self.modify_blob(account, fs, blob, |current| {
            let mut batch = WriteBatch::new();
            let mut new_row = current.cloned();
            // The restored base row already holds its references (the deleted row's): the
            // write takes one more for the path row, so one is given back.
            let mut consumed = Vec::new();
            found_any = restore_deleted_snapshots(&subrows, &mut batch);
            if current.is_none() {
                if let Some((key, row)) = subrows.iter().rev().find(|(key, _)| is_kind(key, keys::SUBROW_DELETED)) {
                    let mut row = row.clone();
                    row.deleted = None;
                    batch.delete(key.clone());
                    consumed.extend(row.segments().copied());
                    new_row = Some(row);
                    found_any = true;
                }
            } else {
                // Created meanwhile: the write puts the same row back, which takes one
                // reference and gives the old row's back, so nothing else is released.
                found_any = true;
            }
            Ok((new_row, batch, consumed))
        });
        restored?;
        if !found_any {
            return Err(crate::blob::blob_not_found());
        }
        Ok(())
    }

    /// Checks that `principal` may do `access` on `path` (POSIX permissions and ACLs: execute
    /// on every ancestor, then what the operation needs). Paths or parents that do not exist
    /// pass: the operation itself then answers not found.
    pub fn check_path_access(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        principal: &str,
        access: PathAccess,
    ) -> Result<(), AzureError> {
        if principal == SUPERUSER || !self.container_exists(account, fs)? {
            // A missing filesystem is the operation's own error to answer.
            return Ok(());
        }
        let parts = components(path);
        let mut parent = self.root_row(account, fs)?;
        let Some((last, ancestors)) = parts.split_last() else {
            // The root itself.
            let needed = match access {
                PathAccess::Traverse => 0,
                PathAccess::Read => acl::READ,
                PathAccess::List => acl::READ | acl::EXECUTE,
                PathAccess::Write | PathAccess::Create | PathAccess::Delete => acl::WRITE | acl::EXECUTE,
                PathAccess::Owner => {
                    return if parent.owner == principal {
                        Ok(())
                    } else {
                        Err(permission_denied())
                    }
                }
            };
            return if allows(&parent, principal, needed) {
                Ok(())
            } else {
                Err(permission_denied())
            };
        };
        for component in ancestors {
            if !allows(&parent, principal, acl::EXECUTE) {
                return Err(permission_denied());
            }
            match self.read_path(&keys::directory_path(account, fs, parent.id, component))? {
                Some(row) => parent = row,
                None if access == PathAccess::Write || access == PathAccess::Create => {
                    // Missing parents are created: the deepest existing one decides.
                    return if allows(&parent, principal, acl::WRITE | acl::EXECUTE) {
                        Ok(())
                    } else {
                        Err(permission_denied())
                    };
                }
                None => return Ok(()),
            }
        }
        if !allows(&parent, principal, acl::EXECUTE) {
            return Err(permission_denied());
        }
        let target = self
            .find_child(account, fs, parent.id, last)?
            .map(|found| found.row)
            .filter(|row| !row.hidden());
        let ok = match (access, &target) {
            (PathAccess::Traverse, _) => true,
            (PathAccess::Read, Some(row)) => allows(row, principal, acl::READ),
            (PathAccess::List, Some(row)) => allows(row, principal, acl::READ | acl::EXECUTE),
            (PathAccess::Owner, Some(row)) => row.owner == principal,
            (PathAccess::Write, Some(row)) => allows(row, principal, acl::WRITE),
            (PathAccess::Write | PathAccess::Create, _) => allows(&parent, principal, acl::WRITE | acl::EXECUTE),
            (PathAccess::Delete, Some(row)) => {
                let sticky = parse_mode(&parent.permissions).unwrap_or(0) & 0o1000 != 0;
                allows(&parent, principal, acl::WRITE | acl::EXECUTE)
                    && (!sticky || parent.owner == principal || row.owner == principal)
            }
            (_, None) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(permission_denied())
        }
    }

    /// Set Access Control Recursive: applies `change` to `path` and every path below it, in
    /// the listing order, at most `max_records` per call (one atomic batch each), resuming at
    /// `continuation`. A user (the call's principal, see [`as_principal`]) must own each path
    /// changed; the others are reported as failures and left as they were.
    pub fn set_acl_recursive(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        change: &AclChange,
        max_records: usize,
        continuation: Option<&str>,
    ) -> Result<AclRecursiveResult, AzureError> {
        let principal = current_principal();
        self.with_namespace(account, fs, || {
            let mut result = AclRecursiveResult::default();
            let base = components(path);
            let mut targets: Vec<(String, Vec<u8>, PathRow)> = Vec::new();
            let start = if base.is_empty() {
                if continuation.is_none() {
                    targets.push((
                        String::new(),
                        keys::path_root(account, fs),
                        self.get_path(account, fs, "")?,
                    ));
                }
                ROOT_ID
            } else {
                let found = self.resolve_visible(account, fs, path)?.ok_or_else(path_not_found)?;
                if continuation.is_none() {
                    targets.push((base.join("/"), found.key.clone(), found.row.clone()));
                }
                if !found.row.is_directory {
                    ROOT_ID
                } else {
                    found.row.id
                }
            };
            let is_directory = base.is_empty() || targets.first().is_none_or(|t| t.2.is_directory);
            if is_directory {
                let prefix = if base.is_empty() {
                    String::new()
                } else {
                    format!("{}/", base.join("/"))
                };
                let mut paths = Vec::new();
                let mut path_keys = Vec::new();
                let mut walk = Walk {
                    account,
                    fs,
                    recursive: true,
                    from: continuation.unwrap_or(""),
                    within: "",
                    max: max_records.saturating_sub(targets.len()).max(1),
                    out: &mut paths,
                    next: &mut result.continuation,
                    keys: Some(&mut path_keys),
                    emitted: 0,
                    chunks: None,
                };
                self.walk(&mut walk, start, &prefix)?;
                for ((name, row), key) in paths.into_iter().zip(path_keys) {
                    targets.push((name, key, row));
                }
            }
            let mut batch = WriteBatch::new();
            for (name, key, mut row) in targets {
                if principal.as_deref().is_some_and(|p| p != SUPERUSER && p != row.owner) {
                    result
                        .failures
                        .push((name, row.is_directory, permission_denied().message));
                    continue;
                }
                let mut entries = acl_entries(&row);
                match change {
                    AclChange::Set(new) => entries = new.clone(),
                    AclChange::Modify(changes) => acl::modify(&mut entries, changes)?,
                    AclChange::Remove(removed) => acl::remove(&mut entries, removed),
                }
                if !row.is_directory {
                    entries.retain(|e| !e.default);
                }
                set_acl(&mut row, entries)?;
                if row.is_directory {
                    result.directories += 1;
                } else {
                    result.files += 1;
                }
                batch.put(key, encode_path(&row));
            }
            if !batch.is_empty() {
                self.table.write(&batch).map_err(PartitionError::from)?;
            }
            Ok(result)
        })
    }

    /// Whether directory `id` has any child row.
    fn has_children(&self, account: &str, fs: &str, id: u64) -> Result<bool, AzureError> {
        Ok(self.any_row_under(&keys::path_children_prefix(account, fs, id))?)
    }

    /// The name a blob's lock is taken by: on an HNS account, the path without empty
    /// components (`a//b` is `a/b`, as the resolver reads it).
    pub(crate) fn blob_lock_name<'a>(&self, account: &str, blob: &'a str) -> std::borrow::Cow<'a, str> {
        if self.is_hns(account) {
            std::borrow::Cow::Owned(components(blob).join("/"))
        } else {
            std::borrow::Cow::Borrowed(blob)
        }
    }

    fn next_path_id(&self, account: &str, fs: &str) -> Result<u64, AzureError> {
        let current = self
            .table
            .get(&keys::path_id_counter(account, fs))
            .map_err(PartitionError::from)?
            .and_then(|bytes| <[u8; 8]>::try_from(&bytes[..]).ok().map(u64::from_le_bytes))
            .unwrap_or(ROOT_ID);
        Ok(current + 1)
    }

    /// A new path's row under `parent`: owned by the calling principal (`$superuser` for
    /// the account key and SAS), in the parent's owning group, with the requested mode less
    /// the umask; a parent's default ACL becomes the new path's access ACL (and a new
    /// directory's default ACL), its base entries limited by that mode, as in POSIX.
    fn new_row(&self, id: u64, is_directory: bool, new: &NewPath, parent: &PathRow) -> Result<PathRow, AzureError> {
        let now = now_nanos();
        let mut row = PathRow {
            id,
            is_directory,
            owner: new
                .owner
                .clone()
                .or_else(current_principal)
                .unwrap_or_else(|| SUPERUSER.into()),
            group: new.group.clone().unwrap_or_else(|| parent.group.clone()),
            permissions: initial_permissions(new, is_directory)?,
            acl: None,
            blob: BlobRow {
                blob_type: "BlockBlob".into(),
                etag: self.new_etag(),
                last_modified: now,
                created: now,
                headers: new.headers.clone(),
                metadata: new.metadata.clone(),
                inline: (!is_directory).then(Bytes::new),
                ..Default::default()
            },
            pending: false,
        };
        // Default entries exist only in a stored ACL (most parents have none).
        let inherited: Vec<AclEntry> = match parent.acl {
            Some(_) => acl_entries(parent).into_iter().filter(|e| e.default).collect(),
            None => Vec::new(),
        };
        if !inherited.is_empty() {
            let mode = parse_mode(&row.permissions)?;
            let mut entries: Vec<AclEntry> = inherited
                .iter()
                .map(|e| AclEntry {
                    default: false,
                    ..e.clone()
                })
                .collect();
            mode_classes(&mut entries, mode, |entry, bits| entry.perms &= bits);
            if is_directory {
                entries.extend(inherited);
            }
            set_acl(&mut row, entries)?;
        }
        if let Some(text) = &new.acl {
            set_acl(&mut row, acl::parse(text)?)?;
        }
        Ok(row)
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
    ) -> Result<PathRow, AzureError> {
        let mut parent = self.root_row(account, fs)?;
        let mut creating = false;
        for component in parts {
            let dir_key = keys::directory_path(account, fs, parent.id, component);
            if !creating {
                if let Some(row) = self.read_path(&dir_key)? {
                    parent = row;
                    continue;
                }
                if self
                    .read_path(&keys::path(account, fs, parent.id, component))?
                    .is_some()
                {
                    return Err(path_conflict());
                }
                creating = true;
            }
            let row = self.new_row(*next_id, true, &NewPath::default(), &parent)?;
            *next_id += 1;
            batch.put(dir_key, encode_path(&row));
            parent = row;
        }
        Ok(parent)
    }

    /// [`Partition::ensure_directories`] for a write that needs no id of its own: the id
    /// counter goes into `batch` only when directories were created.
    fn ensure_parents(
        &self,
        account: &str,
        fs: &str,
        parts: &[&str],
        batch: &mut WriteBatch,
    ) -> Result<PathRow, AzureError> {
        let first_new_id = self.next_path_id(account, fs)?;
        let mut next_id = first_new_id;
        let parent = self.ensure_directories(account, fs, parts, &mut next_id, batch)?;
        if next_id != first_new_id {
            batch.put(keys::path_id_counter(account, fs), (next_id - 1).to_le_bytes().to_vec());
        }
        Ok(parent)
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
        let _namespace_guard = self.locks.namespace_exclusive(account, fs);
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
        let mut page_rows = Vec::new();
        let row = self.with_namespace(account, fs, || {
            let mut batch = WriteBatch::new();
            let mut next_id = self.next_path_id(account, fs)?;
            let current = self.resolve_path(account, fs, path)?;
            conditions.check_write(
                current
                    .as_ref()
                    .filter(|f| !f.row.hidden())
                    .map(|f| (f.row.blob.etag.as_str(), time_from_nanos(f.row.blob.last_modified))),
                ErrorCode::PathAlreadyExists,
            )?;
            if let Some(found) = current.as_ref().filter(|f| !f.row.hidden()) {
                if found.row.is_directory != is_directory {
                    return Err(path_conflict());
                }
                // Replacing a leased path needs its lease.
                crate::lease::check_access(
                    found.row.blob.lease.as_ref(),
                    conditions.lease_id.as_deref(),
                    true,
                    crate::lease::LeaseScope::Blob,
                )?;
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
                Some(found) if is_directory && found.row.is_directory => {
                    self.new_row(found.row.id, true, new, &parent)?
                }
                _ => {
                    let row = self.new_row(next_id, is_directory, new, &parent)?;
                    next_id += 1;
                    row
                }
            };
            if let Some(found) = &current {
                // The lease (checked above) stays with the path; a hidden file's is gone with it.
                if !found.row.hidden() {
                    row.blob.created = found.row.blob.created;
                    row.blob.lease = found.row.blob.lease.clone();
                }
                if !found.row.is_directory {
                    released.extend(found.row.blob.segments().copied());
                    released.extend(self.discard_staged(account, fs, found.row.id, &mut batch)?);
                    self.drop_file_page_map(account, fs, &found.row, &mut batch, &mut page_rows)?;
                    // The file goes with its tags; the new path starts with none.
                    let full = parts.join("/");
                    crate::tags::index_changes(&mut batch, account, fs, &full, &found.row.blob.tags, &[]);
                }
            }
            let key = keys::path(account, fs, parent.id, &name);
            // A directory over a hidden file (pending, expired) has another key: the file goes.
            if let Some(found) = current.as_ref().filter(|found| found.key != key) {
                batch.delete(found.key.clone());
            }
            batch.put(key, encode_path(&row));
            batch.put(keys::path_id_counter(account, fs), (next_id - 1).to_le_bytes().to_vec());
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(row)
        })?;
        self.release_segments(&released);
        for segments in &page_rows {
            self.release_segments(segments);
        }
        Ok(row)
    }

    /// Deletes the chunk rows of a file's page map, if its map is in chunk rows (`page.rs`),
    /// into `batch`, with the references they hold (one list per row).
    pub(crate) fn drop_file_page_map(
        &self,
        account: &str,
        fs: &str,
        row: &PathRow,
        batch: &mut WriteBatch,
        released: &mut Vec<Vec<Segment>>,
    ) -> Result<(), AzureError> {
        if row.blob.page_map != 0 {
            self.drop_page_map(account, fs, "", row.blob.page_map, batch, released)?;
        }
        Ok(())
    }

    /// Deletes the staged append rows of a file into `batch`; returns their references.
    fn discard_staged(
        &self,
        account: &str,
        fs: &str,
        file_id: u64,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Segment>, AzureError> {
        self.staging.forget(&keys::path_staged_prefix(account, fs, file_id));
        crate::blob::delete_staged_rows(batch, self.staged_rows(account, fs, file_id)?)
    }

    /// Where a file's staged appends end: its committed length plus what is staged (as Flush
    /// Data counts it). The previous Append Data's hint (`staging.rs`) is taken once the rows
    /// confirm it: the file's committed length is the one the hint was made with, its append
    /// is still staged with its size, and nothing is staged after it (appends are contiguous
    /// from the committed length, so it is the last). Otherwise every staged row is read.
    fn staged_end(&self, account: &str, fs: &str, file_id: u64, content_length: u64) -> Result<u64, AzureError> {
        let prefix = keys::path_staged_prefix(account, fs, file_id);
        let hint = self
            .staging
            .last_append(&prefix)
            .filter(|hint| hint.committed == content_length);
        if let Some(crate::staging::LastAppend { key: last_key, end, .. }) = hint {
            if let Some(value) = self.table.get(&last_key).map_err(PartitionError::from)? {
                let size = rows::decode::<BlockRow>(&value)?.0.size;
                let start = end.checked_sub(size).filter(|start| *start >= content_length);
                if start.is_some_and(|start| last_key == keys::path_staged(account, fs, file_id, start)) {
                    let after = keys::path_staged(account, fs, file_id, end);
                    let prefix_end = keys::prefix_end(&prefix);
                    let later = self
                        .table
                        .scan(&after, prefix_end.as_deref(), 1)
                        .map_err(PartitionError::from)?;
                    if later.is_empty() {
                        return Ok(end);
                    }
                }
            }
        }
        let staged = self.staged(account, fs, file_id)?;
        let end = content_length + staged.iter().map(|(_, b)| b.size).sum::<u64>();
        if let Some((last_key, _)) = staged.last() {
            let last = crate::staging::LastAppend {
                key: last_key.clone(),
                end,
                committed: content_length,
            };
            self.staging.set_last_append(&prefix, last);
        }
        Ok(end)
    }

    fn staged(&self, account: &str, fs: &str, file_id: u64) -> Result<Vec<(Vec<u8>, BlockRow)>, AzureError> {
        self.staged_rows(account, fs, file_id)?
            .into_iter()
            .map(|(key, value)| Ok((key, rows::decode::<BlockRow>(&value)?.0)))
            .collect()
    }

    /// A file's staged append rows as stored, in position order.
    fn staged_rows(&self, account: &str, fs: &str, file_id: u64) -> Result<crate::blob::StoredRows, AzureError> {
        let prefix = keys::path_staged_prefix(account, fs, file_id);
        let end = keys::prefix_end(&prefix);
        Ok(self
            .table
            .scan(&prefix, end.as_deref(), crate::blob::UNCOMMITTED_BLOCKS_MAX + 1)
            .map_err(PartitionError::from)?)
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
        let mut page_rows = Vec::new();
        self.with_namespace(account, fs, || {
            let found = self.resolve_visible(account, fs, path)?.ok_or_else(path_not_found)?;
            check_path_write(&found.row, conditions)?;
            let mut batch = WriteBatch::new();
            batch.delete(found.key.clone());
            if found.row.is_directory {
                if self.has_children(account, fs, found.row.id)? {
                    if !recursive {
                        return Err(directory_not_empty());
                    }
                    batch.put(keys::path_tombstone(account, fs, found.row.id), Vec::new());
                }
            } else {
                released.extend(found.row.blob.segments().copied());
                released.extend(self.discard_staged(account, fs, found.row.id, &mut batch)?);
                self.drop_file_page_map(account, fs, &found.row, &mut batch, &mut page_rows)?;
                let name = components(path).join("/");
                crate::tags::index_changes(&mut batch, account, fs, &name, &found.row.blob.tags, &[]);
            }
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(())
        })?;
        self.release_segments(&released);
        for segments in &page_rows {
            self.release_segments(segments);
        }
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
        // Garbage collection rewrites path, staged and chunk rows under the namespace lock
        // (exclusive): without it here, a row copied there while deleted here would come back.
        let _namespace_guard = self.locks.namespace_shared(account, fs);
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
                self.drop_file_page_map(account, fs, &row, &mut batch, &mut released)?;
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
        let mut page_rows = Vec::new();
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
            let existing_visible = existing.as_ref().filter(|e| !e.row.hidden());
            dest_conditions.check_write(
                existing_visible.map(|f| (f.row.blob.etag.as_str(), time_from_nanos(f.row.blob.last_modified))),
                ErrorCode::PathAlreadyExists,
            )?;
            if existing.as_ref().is_some_and(|e| e.key == found.key) {
                return Ok(found.row);
            }
            let mut batch = WriteBatch::new();
            let parent = self.ensure_parents(account, fs, parents, &mut batch)?.id;
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
                self.drop_file_page_map(account, fs, &existing.row, &mut batch, &mut page_rows)?;
                crate::tags::index_changes(
                    &mut batch,
                    account,
                    fs,
                    &dest_parts.join("/"),
                    &existing.row.blob.tags,
                    &[],
                );
            }
            if !found.row.is_directory {
                // A file's index tags follow its name (a directory's files keep theirs under
                // the old names: `docs/compat.md`).
                let tags = &found.row.blob.tags;
                crate::tags::index_changes(&mut batch, account, fs, &components(source).join("/"), tags, &[]);
                crate::tags::index_changes(&mut batch, account, fs, &dest_parts.join("/"), &[], tags);
            }
            let name = if found.row.is_directory {
                format!("{last}/")
            } else {
                last.to_string()
            };
            let mut row = found.row.clone();
            row.blob.etag = self.new_etag();
            row.blob.last_modified = now_nanos();
            batch.delete(found.key.clone());
            batch.put(keys::path(account, fs, parent, &name), encode_path(&row));
            self.table.write(&batch).map_err(PartitionError::from)?;
            Ok(row)
        })?;
        self.release_segments(&released);
        for segments in &page_rows {
            self.release_segments(segments);
        }
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
        // Rows are large (about 1 KiB): growing the vector by doubling would copy them again.
        let mut out = Vec::with_capacity(limit.min(SCAN_ROWS));
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
        let mut paths = Vec::with_capacity(max_results.min(LIST_PAGE_RESERVE_MAX));
        let mut next = None;
        let mut walk = Walk {
            account,
            fs,
            recursive,
            from: continuation.unwrap_or(""),
            within: "",
            max: max_results,
            out: &mut paths,
            next: &mut next,
            keys: None,
            emitted: 0,
            chunks: None,
        };
        self.walk(&mut walk, start_id, &prefix)?;
        Ok(PathPage {
            paths,
            continuation: next,
        })
    }

    /// Visits directory `id` (whose children's names start with `prefix`) in the order of the
    /// sort names; returns true once the walk is over (page full or past `within`).
    fn walk(&self, walk: &mut Walk<'_>, id: u64, prefix: &str) -> Result<bool, AzureError> {
        // Resume at the child on the way to `from`: every child before it, with its whole
        // subtree, sorts before `from` (a page costs O(depth) seeks, not a rescan).
        let mut start: Option<String> = walk.from.strip_prefix(prefix).map(|rest| match rest.find('/') {
            Some(slash) => rest[..=slash].to_string(),
            None => rest.to_string(),
        });
        loop {
            // A page needs at most one row past what is left of it (to know where the next
            // starts): reading and decoding more is wasted.
            let limit = walk.max.saturating_sub(walk.emitted).saturating_add(1).min(SCAN_ROWS);
            let page = self.children(walk.account, walk.fs, id, start.as_deref(), limit)?;
            let Some((last, _)) = page.last() else { return Ok(false) };
            // Names never contain NUL: the next page starts right after the last name.
            start = Some(format!("{last}\0"));
            let count = page.len();
            for (name, row) in page {
                if row.hidden() {
                    continue;
                }
                let sort_name = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}{name}")
                };
                let emit = sort_name.as_str() >= walk.from;
                if emit && !sort_name.starts_with(walk.within) {
                    // Sort names that do not start with `within` and follow `from` all come after it.
                    return Ok(true);
                }
                // A subtree whose every name sorts before `from` is skipped whole.
                let descend = walk.recursive && row.is_directory && (emit || walk.from.starts_with(&sort_name));
                let child_id = row.id;
                if emit {
                    if walk.emitted == walk.max {
                        *walk.next = Some(sort_name);
                        return Ok(true);
                    }
                    if let Some(keys) = walk.keys.as_deref_mut() {
                        keys.push(keys::path(walk.account, walk.fs, id, &sort_name[prefix.len()..]));
                    }
                    // Listed without a directory's slash; the sort name itself is moved there
                    // unless the walk goes on below it.
                    let listed_len = sort_name.trim_end_matches('/').len();
                    if !descend {
                        let mut listed = sort_name;
                        listed.truncate(listed_len);
                        walk.emit(listed, row);
                        continue;
                    }
                    walk.emit(sort_name[..listed_len].to_string(), row);
                }
                if descend && self.walk(walk, child_id, &sort_name)? {
                    return Ok(true);
                }
            }
            if count < limit {
                return Ok(false);
            }
        }
    }

    /// Adds the snapshots, versions and soft-deleted rows (`B` sub-rows, keyed by the full
    /// path) whose names fall in this page, each group before its path's row.
    fn merge_blob_subrows(
        &self,
        account: &str,
        fs: &str,
        options: &crate::blob::ListBlobsOptions,
        from: &str,
        page: &mut crate::blob::ListBlobsPage,
    ) -> Result<(), AzureError> {
        let sub_options = crate::blob::ListBlobsOptions {
            delimiter: None,
            marker: Some(from),
            max_results: usize::MAX,
            ..options.clone()
        };
        let until = page.next_marker.clone();
        // Only the sub-rows of this page's names: a scan to the end of the prefix on every
        // page would make paging through a container quadratic.
        let subrows = self.list_flat_rows(
            account,
            fs,
            &sub_options,
            until.as_deref().map(|u| u.trim_end_matches('/')),
        )?;
        let mut groups: std::collections::BTreeMap<String, Vec<BlobRow>> = Default::default();
        if options.include_deleted {
            for (name, row) in self.deleted_directories(account, fs, options.prefix, from, until.as_deref())? {
                groups.entry(name).or_default().push(row);
            }
        }
        for (name, row) in subrows
            .items
            .into_iter()
            .chain(std::mem::take(&mut page.items))
            .flatten()
        {
            groups.entry(name).or_default().push(row);
        }
        page.items = groups
            .into_iter()
            .flat_map(|(name, rows)| rows.into_iter().map(move |row| Ok((name.clone(), row))))
            .collect();
        Ok(())
    }

    /// List Blobs on an HNS account: paths in the order of their sort names (see the RFC),
    /// directories as empty blobs with `hdi_isfolder=true`; with the `/` delimiter, one
    /// directory's children, each sub-directory both as a blob and as a prefix (as the
    /// service answers). The marker is the sort name of the next item.
    ///
    /// With `chunks`, a listing without delimiter or sub-rows hands its items to the sink as
    /// the walk finds them, `size` at a time, instead of returning them in the page.
    pub(crate) fn list_hns_blobs(
        &self,
        account: &str,
        fs: &str,
        options: &crate::blob::ListBlobsOptions,
        chunks: Option<(usize, crate::blob::ItemSink<'_>)>,
    ) -> Result<crate::blob::ListBlobsPage, AzureError> {
        let mut page = crate::blob::ListBlobsPage::default();
        let max = options.max_results.max(1);
        let from = options.marker.filter(|m| *m > options.prefix).unwrap_or(options.prefix);
        match options.delimiter.filter(|d| !d.is_empty()) {
            None => {
                let with_subrows = options.include_snapshots || options.include_versions || options.include_deleted;
                let mut chunks = chunks.filter(|_| !with_subrows);
                let chunk_size = chunks.as_ref().map(|(size, _)| *size);
                // A directory named by the prefix up to its `/` (`a` for `a/`) is walked through, not listed.
                let listed = |paths: &mut Vec<(String, PathRow)>| -> Vec<crate::blob::ListItem> {
                    paths
                        .drain(..)
                        .filter(|(name, _)| name.starts_with(options.prefix))
                        .map(|(name, row)| Ok((name, into_blob_view(row))))
                        .collect()
                };
                let mut forward = |paths: &mut Vec<(String, PathRow)>| {
                    let items = listed(paths);
                    if let Some((_, sink)) = chunks.as_mut().filter(|_| !items.is_empty()) {
                        sink(items);
                    }
                };
                // The rows are about 1 KiB each: reserved once, not copied as the vector grows.
                let mut paths = Vec::with_capacity(chunk_size.unwrap_or(max).min(LIST_PAGE_RESERVE_MAX));
                let mut walk = Walk {
                    account,
                    fs,
                    recursive: true,
                    from,
                    within: options.prefix,
                    max,
                    out: &mut paths,
                    next: &mut page.next_marker,
                    keys: None,
                    emitted: 0,
                    chunks: chunk_size.map(|size| (size, &mut forward as PathSink<'_>)),
                };
                self.walk(&mut walk, ROOT_ID, "")?;
                if chunk_size.is_some() {
                    forward(&mut paths);
                } else {
                    page.items = listed(&mut paths);
                    if with_subrows {
                        self.merge_blob_subrows(account, fs, options, from, &mut page)?;
                    }
                }
            }
            Some("/") => {
                let (dir, name_prefix) = match options.prefix.rfind('/') {
                    Some(slash) => options.prefix.split_at(slash + 1),
                    None => ("", options.prefix),
                };
                let dir_id = match self.resolve_directory(account, fs, &components(dir)) {
                    Ok(Some(id)) => id,
                    Ok(None)
                    | Err(AzureError {
                        code: ErrorCode::PathConflict,
                        ..
                    }) => return Ok(page),
                    Err(error) => return Err(error),
                };
                let start = from.strip_prefix(dir).unwrap_or(name_prefix);
                let mut start = start.to_string();
                'pages: loop {
                    let children = self.children(account, fs, dir_id, Some(&start), SCAN_ROWS)?;
                    let count = children.len();
                    for (name, row) in children {
                        start = format!("{name}\0");
                        if !name.starts_with(name_prefix) {
                            break 'pages;
                        }
                        if row.hidden() {
                            continue;
                        }
                        if page.items.len() >= max {
                            page.next_marker = Some(format!("{dir}{name}"));
                            break 'pages;
                        }
                        let full = format!("{dir}{name}");
                        let is_directory = row.is_directory;
                        page.items
                            .push(Ok((full.trim_end_matches('/').to_string(), into_blob_view(row))));
                        if is_directory {
                            page.items.push(Err(full));
                        }
                    }
                    if count < SCAN_ROWS {
                        break;
                    }
                }
            }
            Some(delimiter) => {
                // Other delimiters group the flat order; each group's rows are skipped by
                // resuming after the group's prefix.
                let mut from = from.to_string();
                'batches: loop {
                    let mut paths = Vec::new();
                    let mut next = None;
                    let mut walk = Walk {
                        account,
                        fs,
                        recursive: true,
                        from: &from,
                        within: options.prefix,
                        max: SCAN_ROWS,
                        out: &mut paths,
                        next: &mut next,
                        keys: None,
                        emitted: 0,
                        chunks: None,
                    };
                    self.walk(&mut walk, ROOT_ID, "")?;
                    let mut resume = None;
                    for (name, row) in paths {
                        if page.items.len() >= max {
                            page.next_marker = Some(if row.is_directory { format!("{name}/") } else { name });
                            break 'batches;
                        }
                        let rest = &name[options.prefix.len().min(name.len())..];
                        match rest.find(delimiter) {
                            Some(at) => {
                                let group = format!("{}{}", options.prefix, &rest[..at + delimiter.len()]);
                                let mut after = group.clone();
                                after.push(char::MAX);
                                page.items.push(Err(group));
                                resume = Some(after);
                                break;
                            }
                            None => page.items.push(Ok((name, into_blob_view(row)))),
                        }
                    }
                    match (resume, next) {
                        (Some(after), _) => from = after,
                        (None, Some(next)) => from = next,
                        (None, None) => break,
                    }
                }
            }
        }
        Ok(page)
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
            let found = if components(path).is_empty() {
                // The root: its row is stored once something about it changes.
                Found {
                    key: keys::path_root(account, fs),
                    row: self.get_path(account, fs, "")?,
                }
            } else {
                self.resolve_path(account, fs, path)?
                    .filter(|found| !found.row.expired() && (include_pending || !found.row.pending))
                    .ok_or_else(path_not_found)?
            };
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

    /// Set Blob Expiry on a file of an HNS account.
    pub fn set_path_expiry(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        expiry: Expiry,
        conditions: &Conditions,
    ) -> Result<PathRow, AzureError> {
        self.update_path(account, fs, path, conditions, |row| {
            if row.is_directory {
                return Err(AzureError::new(
                    ErrorCode::InvalidInput,
                    "Set Blob Expiry applies to files, not directories.",
                ));
            }
            let ms = |ms: u64| ms as i128 * 1_000_000;
            row.blob.expires_on = match expiry {
                Expiry::Never => None,
                Expiry::RelativeToCreation(after) => Some(row.blob.created + ms(after)),
                Expiry::RelativeToNow(after) => Some(now_nanos() + ms(after)),
                Expiry::Absolute(at) => Some(at),
            };
            Ok(())
        })
    }

    /// Set Properties (`x-ms-properties`, and path headers when given) or Set Access Control.
    pub fn update_path(
        &self,
        account: &str,
        fs: &str,
        path: &str,
        conditions: &Conditions,
        change: impl FnOnce(&mut PathRow) -> Result<(), AzureError>,
    ) -> Result<PathRow, AzureError> {
        self.modify_path(account, fs, path, false, |row, _| {
            check_path_write(row, conditions)?;
            change(row)?;
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
            let end = self.staged_end(account, fs, found.row.id, found.row.blob.content_length)?;
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
            let key = keys::path_staged(account, fs, found.row.id, position);
            batch.put(key.clone(), rows::encode(&row, None));
            let written = self.table.write(&batch).map_err(PartitionError::from);
            let staged_prefix = keys::path_staged_prefix(account, fs, found.row.id);
            if written.is_ok() {
                let last = crate::staging::LastAppend {
                    key,
                    end: position + body.len,
                    committed: found.row.blob.content_length,
                };
                self.staging.set_last_append(&staged_prefix, last);
                self.reference_segments(&row.segments);
            } else {
                self.staging.forget(&staged_prefix);
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
        let parent_row = self.ensure_directories(account, fs, parents, &mut next_id, batch)?;
        let parent = parent_row.id;
        let mut row = self.new_row(next_id, false, &NewPath::default(), &parent_row)?;
        row.pending = true;
        let key = keys::path(account, fs, parent, last);
        batch.put(key.clone(), encode_path(&row));
        batch.put(keys::path_id_counter(account, fs), next_id.to_le_bytes().to_vec());
        Ok(Found { key, row })
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
            check_path_write(row, conditions)?;
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
                // Many small append-and-flush rounds would otherwise grow the row by a block
                // each, as Append Block did.
                self.merge_small_blocks(&mut row.blob.blocks, &mut released)?;
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
