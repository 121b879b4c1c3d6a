//! Row keys of the object table. One ordered key space holds every kind of row; the first
//! byte names the kind so that each kind is one contiguous range:
//!
//! | kind | key | row |
//! |---|---|---|
//! | account setting | `A` account `/` setting | opaque bytes (e.g. service properties) |
//! | container | `C` account `/` container | [`crate::rows::ContainerRow`] |
//! | blob | `B` account `/` container `/` blob name | [`crate::rows::BlobRow`] |
//! | uncommitted block | `K` account `/` container `/` blob name `\0` block id | [`crate::rows::BlockRow`] |
//! | soft-deleted container | `c` account `/` container | [`crate::rows::ContainerRow`] |
//! | blob sub-row | `B` account `/` container `/` blob name `\0` kind id | [`crate::rows::BlobRow`] |
//!
//! Blob sub-rows sort right after their blob's row and before any other blob name (blob names
//! never contain NUL, and NUL sorts first): kind `D` a soft-deleted base blob (id: the
//! deletion time), `S` a snapshot (id: the snapshot time), `V` a previous version (id: the
//! version id). Ids are ISO 8601 times with seven fractional digits, so they sort by time.
//!
//! Account and container names never contain `/` and blob names never contain NUL
//! (validated by `lazuli_types::names`), so every prefix below is unambiguous and the blob
//! rows of a container sort by blob name: a listing is one range scan.

pub fn account_setting(account: &str, setting: &str) -> Vec<u8> {
    format!("A{account}/{setting}").into_bytes()
}

pub fn container(account: &str, container: &str) -> Vec<u8> {
    format!("C{account}/{container}").into_bytes()
}

/// A soft-deleted container's row (kind `c`): apart from the live containers, so that every
/// lookup and listing of containers ignores it without decoding.
pub fn deleted_container(account: &str, container: &str) -> Vec<u8> {
    format!("c{account}/{container}").into_bytes()
}

pub fn deleted_containers_prefix(account: &str) -> Vec<u8> {
    format!("c{account}/").into_bytes()
}

pub fn containers_prefix(account: &str) -> Vec<u8> {
    format!("C{account}/").into_bytes()
}

pub fn blob(account: &str, container: &str, blob: &str) -> Vec<u8> {
    format!("B{account}/{container}/{blob}").into_bytes()
}

pub fn blobs_prefix(account: &str, container: &str) -> Vec<u8> {
    format!("B{account}/{container}/").into_bytes()
}

pub fn block(account: &str, container: &str, blob: &str, block_id: &str) -> Vec<u8> {
    format!("K{account}/{container}/{blob}\0{block_id}").into_bytes()
}

pub fn blocks_prefix(account: &str, container: &str, blob: &str) -> Vec<u8> {
    format!("K{account}/{container}/{blob}\0").into_bytes()
}

pub fn container_blocks_prefix(account: &str, container: &str) -> Vec<u8> {
    format!("K{account}/{container}/").into_bytes()
}

/// Kinds of blob sub-rows (see the module documentation).
pub const SUBROW_DELETED: char = 'D';
pub const SUBROW_SNAPSHOT: char = 'S';
pub const SUBROW_VERSION: char = 'V';

pub fn blob_subrow(account: &str, container: &str, blob: &str, kind: char, id: &str) -> Vec<u8> {
    format!("B{account}/{container}/{blob}\0{kind}{id}").into_bytes()
}

/// Every sub-row of one blob.
pub fn blob_subrows_prefix(account: &str, container: &str, blob: &str) -> Vec<u8> {
    format!("B{account}/{container}/{blob}\0").into_bytes()
}

/// Splits the name part of a blob row key into the blob name and, for a sub-row, its kind
/// and id.
pub fn split_blob_name(name: &str) -> (&str, Option<(char, &str)>) {
    match name.split_once('\0') {
        None => (name, None),
        Some((blob, sub)) => {
            let mut chars = sub.chars();
            match chars.next() {
                Some(kind) => (blob, Some((kind, chars.as_str()))),
                None => (blob, None),
            }
        }
    }
}

/// (account, container, blob) of a blob row key or an uncommitted block row key.
pub fn parse_blob_key(key: &[u8]) -> Option<(String, String, String)> {
    let (kind, rest) = key.split_first()?;
    let rest = std::str::from_utf8(rest).ok()?;
    let (account, rest) = rest.split_once('/')?;
    let (container, blob) = rest.split_once('/')?;
    let blob = match kind {
        b'B' => split_blob_name(blob).0,
        b'K' => blob.split_once('\0')?.0,
        _ => return None,
    };
    Some((account.to_string(), container.to_string(), blob.to_string()))
}

// Hierarchical namespace (`docs/rfcs/0001-hierarchical-namespace.md`, `hns.rs`): paths are
// keyed by their parent directory's id (16 hex digits, so ids sort numerically), directory
// names carry a trailing `/` so that a directory's children scan in full-path order.

/// A path row: `P` account `/` filesystem `/` parent id `/` name (`name/` for a directory).
pub fn path(account: &str, filesystem: &str, parent: u64, name: &str) -> Vec<u8> {
    // Written by hand: every Get and Put of an HNS account builds one or more of these, and
    // `format!` with a padded hex field cost more than the point read it keys.
    let mut key = Vec::with_capacity(1 + account.len() + 1 + filesystem.len() + 1 + 16 + 1 + name.len());
    key.push(b'P');
    key.extend_from_slice(account.as_bytes());
    key.push(b'/');
    key.extend_from_slice(filesystem.as_bytes());
    key.push(b'/');
    key.extend(
        (0..16)
            .rev()
            .map(|nibble| b"0123456789abcdef"[(parent >> (nibble * 4)) as usize & 0xf]),
    );
    key.push(b'/');
    key.extend_from_slice(name.as_bytes());
    key
}

/// (account, filesystem) of a path row (`P`), staged append (`Q`), tombstone (`X`) or id
/// counter key.
pub fn parse_path_scope(key: &[u8]) -> Option<(String, String)> {
    let rest = std::str::from_utf8(key.get(1..)?).ok()?;
    let mut parts = rest.splitn(3, '/');
    let account = parts.next()?;
    let filesystem = parts.next()?;
    Some((account.to_string(), filesystem.to_string()))
}

/// The row of a filesystem's root directory (its owner, permissions and ACL once set):
/// `root` is never 16 hex digits, so it sorts apart from every directory's children.
pub fn path_root(account: &str, filesystem: &str) -> Vec<u8> {
    format!("P{account}/{filesystem}/root").into_bytes()
}

/// Every child of one directory.
pub fn path_children_prefix(account: &str, filesystem: &str, parent: u64) -> Vec<u8> {
    format!("P{account}/{filesystem}/{parent:016x}/").into_bytes()
}

pub fn paths_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    format!("P{account}/{filesystem}/").into_bytes()
}

/// The next path id of a filesystem (`N` account `/` filesystem).
pub fn path_id_counter(account: &str, filesystem: &str) -> Vec<u8> {
    format!("N{account}/{filesystem}").into_bytes()
}

/// A deleted directory whose subtree rows are still to be removed (`X` account `/`
/// filesystem `/` directory id; `T` is taken by the tag index).
pub fn path_tombstone(account: &str, filesystem: &str, id: u64) -> Vec<u8> {
    format!("X{account}/{filesystem}/{id:016x}").into_bytes()
}

/// Every tombstone.
pub const PATH_TOMBSTONES: &[u8] = b"X";

pub fn path_tombstones_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    format!("X{account}/{filesystem}/").into_bytes()
}

/// Appended, not yet flushed data of a file (`Q` account `/` filesystem `/` file id `/`
/// position): keyed by the file's id, so a rename does not move them.
pub fn path_staged(account: &str, filesystem: &str, file_id: u64, position: u64) -> Vec<u8> {
    format!("Q{account}/{filesystem}/{file_id:016x}/{position:016x}").into_bytes()
}

pub fn path_staged_prefix(account: &str, filesystem: &str, file_id: u64) -> Vec<u8> {
    format!("Q{account}/{filesystem}/{file_id:016x}/").into_bytes()
}

/// A soft-deleted directory (`R`): its row, kept by full path and deletion time; its children
/// stay keyed by its id, unreachable from the root, until it is restored or purged.
pub fn deleted_directory(account: &str, filesystem: &str, path: &str, deletion_id: &str) -> Vec<u8> {
    format!("R{account}/{filesystem}/{path}\0{deletion_id}").into_bytes()
}

pub fn deleted_directories_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    format!("R{account}/{filesystem}/").into_bytes()
}

pub const DELETED_DIRECTORIES: &[u8] = b"R";

pub fn filesystem_staged_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    format!("Q{account}/{filesystem}/").into_bytes()
}

/// The smallest key greater than every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_are_the_documented_bytes() {
        for parent in [0, 1, 0xabc, u64::MAX, 1 << 63] {
            assert_eq!(
                path("acct", "fs", parent, "dir/é"),
                format!("Pacct/fs/{parent:016x}/dir/é").into_bytes()
            );
        }
        // The children of a directory are the range its prefix names.
        assert!(path("a", "f", 7, "x").starts_with(&path_children_prefix("a", "f", 7)));
    }

    #[test]
    fn blob_keys_sort_by_name_within_container() {
        assert!(blob("a", "c", "x") < blob("a", "c", "x/y"));
        assert!(blob("a", "c", "zzz") < prefix_end(&blobs_prefix("a", "c")).unwrap());
        let other = blob("a", "c-1", "a");
        assert!(other < blobs_prefix("a", "c") || other >= prefix_end(&blobs_prefix("a", "c")).unwrap());
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
        let parsed = parse_blob_key(&block("a", "c", "x/y", "id")).unwrap();
        assert_eq!(parsed, ("a".into(), "c".into(), "x/y".into()));
        assert_eq!(parse_blob_key(&blob("a", "c", "x/y")).unwrap().2, "x/y");
    }

    #[test]
    fn hns_kinds_are_their_own_ranges() {
        // Tombstone collection and filesystem deletion scan these kinds whole: none may share
        // a kind byte with the flat namespace, tags (`T`) or settings.
        let hns = [
            path("a", "f", 1, "x")[0],
            path_id_counter("a", "f")[0],
            path_tombstone("a", "f", 1)[0],
            path_staged("a", "f", 1, 0)[0],
        ];
        for kind in hns {
            assert!(!b"ABCKTc".contains(&kind), "kind {}", kind as char);
        }
        // A directory's `/` sorts its children between `a-c` and `a0`, as full paths do.
        assert!(path("a", "f", 0, "a-c") < path("a", "f", 0, "a/"));
        assert!(path("a", "f", 0, "a/") < path("a", "f", 0, "a0"));
        assert!(path("a", "f", 0, "zzz/") < prefix_end(&path_children_prefix("a", "f", 0)).unwrap());
    }
}
