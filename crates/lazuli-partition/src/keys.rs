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
//! | page map chunk | `G` account `/` container `/` blob name `\0` map id chunk | pages of a page blob (`page.rs`) |
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
    key(b'A', &[account.as_bytes(), setting.as_bytes()], &[])
}

pub fn container(account: &str, container: &str) -> Vec<u8> {
    key(b'C', &[account.as_bytes(), container.as_bytes()], &[])
}

/// A soft-deleted container's row (kind `c`): apart from the live containers, so that every
/// lookup and listing of containers ignores it without decoding.
pub fn deleted_container(account: &str, container: &str) -> Vec<u8> {
    key(b'c', &[account.as_bytes(), container.as_bytes()], &[])
}

pub fn deleted_containers_prefix(account: &str) -> Vec<u8> {
    key(b'c', &[account.as_bytes()], &[b"/"])
}

pub fn containers_prefix(account: &str) -> Vec<u8> {
    key(b'C', &[account.as_bytes()], &[b"/"])
}

pub fn blob(account: &str, container: &str, blob: &str) -> Vec<u8> {
    key(b'B', &[account.as_bytes(), container.as_bytes(), blob.as_bytes()], &[])
}

pub fn blobs_prefix(account: &str, container: &str) -> Vec<u8> {
    key(b'B', &[account.as_bytes(), container.as_bytes()], &[b"/"])
}

pub fn block(account: &str, container: &str, blob: &str, block_id: &str) -> Vec<u8> {
    key(
        b'K',
        &[account.as_bytes(), container.as_bytes(), blob.as_bytes()],
        &[b"\0", block_id.as_bytes()],
    )
}

pub fn blocks_prefix(account: &str, container: &str, blob: &str) -> Vec<u8> {
    key(
        b'K',
        &[account.as_bytes(), container.as_bytes(), blob.as_bytes()],
        &[b"\0"],
    )
}

pub fn container_blocks_prefix(account: &str, container: &str) -> Vec<u8> {
    key(b'K', &[account.as_bytes(), container.as_bytes()], &[b"/"])
}

/// One chunk of a page blob's page map (`page.rs`): the map id and the chunk index, 16 hex
/// digits each, so that a map's chunks sort by offset and one map is one range.
pub fn page_chunk(account: &str, container: &str, blob: &str, map: u64, chunk: u64) -> Vec<u8> {
    let mut key = page_map_prefix(account, container, blob, map);
    key.extend_from_slice(&hex16(chunk));
    key
}

pub fn page_map_prefix(account: &str, container: &str, blob: &str, map: u64) -> Vec<u8> {
    key(
        b'G',
        &[account.as_bytes(), container.as_bytes(), blob.as_bytes()],
        &[b"\0", &hex16(map)],
    )
}

pub fn container_page_chunks_prefix(account: &str, container: &str) -> Vec<u8> {
    key(b'G', &[account.as_bytes(), container.as_bytes()], &[b"/"])
}

/// Kinds of blob sub-rows (see the module documentation).
pub const SUBROW_DELETED: char = 'D';
pub const SUBROW_SNAPSHOT: char = 'S';
pub const SUBROW_VERSION: char = 'V';

pub fn blob_subrow(account: &str, container: &str, blob: &str, kind: char, id: &str) -> Vec<u8> {
    let mut kind_utf8 = [0; 4];
    let kind = kind.encode_utf8(&mut kind_utf8).as_bytes();
    key(
        b'B',
        &[account.as_bytes(), container.as_bytes(), blob.as_bytes()],
        &[b"\0", kind, id.as_bytes()],
    )
}

/// Every sub-row of one blob.
pub fn blob_subrows_prefix(account: &str, container: &str, blob: &str) -> Vec<u8> {
    key(
        b'B',
        &[account.as_bytes(), container.as_bytes(), blob.as_bytes()],
        &[b"\0"],
    )
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

/// (account, container, blob) of a blob row key, an uncommitted block row key or a page map
/// chunk key.
pub fn parse_blob_key(key: &[u8]) -> Option<(String, String, String)> {
    let (kind, rest) = key.split_first()?;
    let rest = std::str::from_utf8(rest).ok()?;
    let (account, rest) = rest.split_once('/')?;
    let (container, blob) = rest.split_once('/')?;
    let blob = match kind {
        b'B' => split_blob_name(blob).0,
        b'K' | b'G' => blob.split_once('\0')?.0,
        _ => return None,
    };
    Some((account.to_string(), container.to_string(), blob.to_string()))
}

// Hierarchical namespace (`docs/rfcs/0001-hierarchical-namespace.md`, `hns.rs`): paths are
// keyed by their parent directory's id (16 hex digits, so ids sort numerically), directory
// names carry a trailing `/` so that a directory's children scan in full-path order.

/// A path row: `P` account `/` filesystem `/` parent id `/` name (`name/` for a directory).
pub fn path(account: &str, filesystem: &str, parent: u64, name: &str) -> Vec<u8> {
    path_with_suffix(account, filesystem, parent, name, b"")
}

/// The path row of a directory: [`path`] of `name/`.
pub fn directory_path(account: &str, filesystem: &str, parent: u64, name: &str) -> Vec<u8> {
    path_with_suffix(account, filesystem, parent, name, b"/")
}

fn path_with_suffix(account: &str, filesystem: &str, parent: u64, name: &str, suffix: &[u8]) -> Vec<u8> {
    let segments: [&[u8]; 4] = [
        account.as_bytes(),
        filesystem.as_bytes(),
        &hex16(parent),
        name.as_bytes(),
    ];
    key(b'P', &segments, &[suffix])
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
    key(b'P', &[account.as_bytes(), filesystem.as_bytes()], &[b"/root"])
}

/// Every child of one directory.
pub fn path_children_prefix(account: &str, filesystem: &str, parent: u64) -> Vec<u8> {
    key(
        b'P',
        &[account.as_bytes(), filesystem.as_bytes(), &hex16(parent)],
        &[b"/"],
    )
}

pub fn paths_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    key(b'P', &[account.as_bytes(), filesystem.as_bytes()], &[b"/"])
}

/// The next path id of a filesystem (`N` account `/` filesystem).
pub fn path_id_counter(account: &str, filesystem: &str) -> Vec<u8> {
    key(b'N', &[account.as_bytes(), filesystem.as_bytes()], &[])
}

/// A deleted directory whose subtree rows are still to be removed (`X` account `/`
/// filesystem `/` directory id; `T` is taken by the tag index).
pub fn path_tombstone(account: &str, filesystem: &str, id: u64) -> Vec<u8> {
    key(b'X', &[account.as_bytes(), filesystem.as_bytes(), &hex16(id)], &[])
}

/// Every tombstone.
pub const PATH_TOMBSTONES: &[u8] = b"X";

pub fn path_tombstones_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    key(b'X', &[account.as_bytes(), filesystem.as_bytes()], &[b"/"])
}

/// Appended, not yet flushed data of a file (`Q` account `/` filesystem `/` file id `/`
/// position): keyed by the file's id, so a rename does not move them.
pub fn path_staged(account: &str, filesystem: &str, file_id: u64, position: u64) -> Vec<u8> {
    key(
        b'Q',
        &[
            account.as_bytes(),
            filesystem.as_bytes(),
            &hex16(file_id),
            &hex16(position),
        ],
        &[],
    )
}

pub fn path_staged_prefix(account: &str, filesystem: &str, file_id: u64) -> Vec<u8> {
    key(
        b'Q',
        &[account.as_bytes(), filesystem.as_bytes(), &hex16(file_id)],
        &[b"/"],
    )
}

/// A soft-deleted directory (`R`): its row, kept by full path and deletion time; its children
/// stay keyed by its id, unreachable from the root, until it is restored or purged.
pub fn deleted_directory(account: &str, filesystem: &str, path: &str, deletion_id: &str) -> Vec<u8> {
    key(
        b'R',
        &[account.as_bytes(), filesystem.as_bytes(), path.as_bytes()],
        &[b"\0", deletion_id.as_bytes()],
    )
}

pub fn deleted_directories_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    key(b'R', &[account.as_bytes(), filesystem.as_bytes()], &[b"/"])
}

pub const DELETED_DIRECTORIES: &[u8] = b"R";

pub fn filesystem_staged_prefix(account: &str, filesystem: &str) -> Vec<u8> {
    key(b'Q', &[account.as_bytes(), filesystem.as_bytes()], &[b"/"])
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

/// A key: its kind byte, its segments separated by `/`, then `tail` as it is; built in one
/// allocation of the exact size, since every Get and Put builds several keys and `format!`
/// (growing its string piece by piece) cost more than some of the point reads they serve.
fn key(kind: u8, segments: &[&[u8]], tail: &[&[u8]]) -> Vec<u8> {
    let length = 1
        + segments.iter().map(|segment| segment.len() + 1).sum::<usize>()
        + tail.iter().map(|piece| piece.len()).sum::<usize>();
    let mut key = Vec::with_capacity(length);
    key.push(kind);
    for (index, segment) in segments.iter().enumerate() {
        if index > 0 {
            key.push(b'/');
        }
        key.extend_from_slice(segment);
    }
    for piece in tail {
        key.extend_from_slice(piece);
    }
    key
}

/// An id as 16 lowercase hex digits, so that ids sort numerically.
fn hex16(id: u64) -> [u8; 16] {
    let mut digits = [0; 16];
    for (position, digit) in digits.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(id >> ((15 - position) * 4)) as usize & 0xf];
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key is the bytes the module documentation (and every data directory written so
    /// far) has: the `format!` expressions the builders replaced are the oracle.
    #[test]
    fn keys_are_the_documented_bytes() {
        let (a, c, b, f) = ("acct", "cnt", "dir/blöb", "fs");
        for id in [0, 1, 0xabc, u64::MAX, 1 << 63] {
            let cases: [(Vec<u8>, String); 29] = [
                (account_setting(a, "props"), format!("A{a}/props")),
                (container(a, c), format!("C{a}/{c}")),
                (deleted_container(a, c), format!("c{a}/{c}")),
                (deleted_containers_prefix(a), format!("c{a}/")),
                (containers_prefix(a), format!("C{a}/")),
                (blob(a, c, b), format!("B{a}/{c}/{b}")),
                (blobs_prefix(a, c), format!("B{a}/{c}/")),
                (block(a, c, b, "id=="), format!("K{a}/{c}/{b}\0id==")),
                (blocks_prefix(a, c, b), format!("K{a}/{c}/{b}\0")),
                (container_blocks_prefix(a, c), format!("K{a}/{c}/")),
                (page_chunk(a, c, b, id, 3), format!("G{a}/{c}/{b}\0{id:016x}{:016x}", 3)),
                (page_map_prefix(a, c, b, id), format!("G{a}/{c}/{b}\0{id:016x}")),
                (container_page_chunks_prefix(a, c), format!("G{a}/{c}/")),
                (
                    blob_subrow(a, c, b, SUBROW_SNAPSHOT, "2026"),
                    format!("B{a}/{c}/{b}\0S2026"),
                ),
                (blob_subrow(a, c, b, 'é', "x"), format!("B{a}/{c}/{b}\0éx")),
                (blob_subrows_prefix(a, c, b), format!("B{a}/{c}/{b}\0")),
                (path(a, f, id, b), format!("P{a}/{f}/{id:016x}/{b}")),
                (directory_path(a, f, id, b), format!("P{a}/{f}/{id:016x}/{b}/")),
                (path_root(a, f), format!("P{a}/{f}/root")),
                (path_children_prefix(a, f, id), format!("P{a}/{f}/{id:016x}/")),
                (paths_prefix(a, f), format!("P{a}/{f}/")),
                (path_id_counter(a, f), format!("N{a}/{f}")),
                (path_tombstone(a, f, id), format!("X{a}/{f}/{id:016x}")),
                (path_tombstones_prefix(a, f), format!("X{a}/{f}/")),
                (path_staged(a, f, id, !id), format!("Q{a}/{f}/{id:016x}/{:016x}", !id)),
                (path_staged_prefix(a, f, id), format!("Q{a}/{f}/{id:016x}/")),
                (deleted_directory(a, f, b, "t1"), format!("R{a}/{f}/{b}\0t1")),
                (deleted_directories_prefix(a, f), format!("R{a}/{f}/")),
                (filesystem_staged_prefix(a, f), format!("Q{a}/{f}/")),
            ];
            for (built, documented) in cases {
                assert_eq!(String::from_utf8(built).unwrap(), documented);
            }
        }
    }

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
        assert_eq!(parse_blob_key(&page_chunk("a", "c", "x/y", 7, 9)).unwrap(), parsed);
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
