//! The hierarchical namespace (`docs/rfcs/0001-hierarchical-namespace.md`): path creation with
//! implicit parents, delete (recursive with a tombstone and background collection), rename of
//! files and directories as one batch, listings, append/flush data with segment references,
//! and survival across restarts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lazuli_partition::hns::NewPath;
use lazuli_partition::{Partition, PartitionOptions, UploadedBody};
use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::TableOptions;
use lazuli_types::conditions::Conditions;
use lazuli_types::ErrorCode;

const A: &str = "acct";
const FS: &str = "fs";

fn options() -> PartitionOptions {
    PartitionOptions {
        inline_bytes_max: 16,
        segment_bytes_max: 200,
        gc_grace: Duration::ZERO,
        table: TableOptions {
            memtable_bytes_max: 256 * 1024,
            background: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn open(store: Arc<dyn StreamStore>) -> Arc<Partition> {
    let partition = Partition::open(store, options()).expect("open");
    // The configuration turns HNS on at every start.
    partition.set_hns(A, true);
    partition
}

fn setup() -> (Arc<MemStore>, Arc<Partition>) {
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, FS, vec![], None).expect("filesystem");
    (store, partition)
}

fn none() -> Conditions {
    Conditions::default()
}

fn if_none_match_star() -> Conditions {
    Conditions {
        if_none_match: Some("*".into()),
        ..Default::default()
    }
}

fn mkdir(p: &Partition, path: &str) {
    p.create_path(A, FS, path, true, &NewPath::default(), &none())
        .expect("mkdir");
}

fn touch(p: &Partition, path: &str) {
    p.create_path(A, FS, path, false, &NewPath::default(), &none())
        .expect("create file");
}

fn upload(p: &Partition, data: &[u8]) -> UploadedBody {
    let segments = data
        .chunks(p.options().segment_bytes_max)
        .map(|chunk| p.append_segment(chunk).expect("append"))
        .collect();
    UploadedBody {
        inline: None,
        segments,
        len: data.len() as u64,
        md5: [0; 16],
    }
}

fn write_file(p: &Partition, path: &str, data: &[u8]) {
    touch(p, path);
    p.append_path(A, FS, path, 0, upload(p, data)).expect("append");
    p.flush_path(A, FS, path, data.len() as u64, false, None, &none())
        .expect("flush");
}

fn read(p: &Partition, path: &str) -> Vec<u8> {
    let row = p.get_blob(A, FS, path, &none()).expect("get").expect("not 304");
    p.read_blob_bytes(&row, 0, row.content_length).expect("read")
}

fn names(p: &Partition, dir: &str, recursive: bool) -> Vec<String> {
    let page = p.list_paths(A, FS, dir, recursive, usize::MAX, None).expect("list");
    assert!(page.continuation.is_none());
    page.paths.into_iter().map(|(name, _)| name).collect()
}

#[test]
fn create_with_implicit_parents_and_conditions() {
    let (_store, p) = setup();
    touch(&p, "a/b/c.txt");
    assert!(p.get_path(A, FS, "a").expect("a").is_directory);
    assert!(p.get_path(A, FS, "a/b").expect("a/b").is_directory);
    assert!(!p.get_path(A, FS, "a/b/c.txt").expect("file").is_directory);
    let exists = p
        .create_path(A, FS, "a/b/c.txt", false, &NewPath::default(), &if_none_match_star())
        .unwrap_err();
    assert_eq!(exists.code, ErrorCode::PathAlreadyExists);
    // A file and a directory of one name cannot coexist; a file cannot be a parent.
    let conflict = p
        .create_path(A, FS, "a/b", false, &NewPath::default(), &none())
        .unwrap_err();
    assert_eq!(conflict.code, ErrorCode::PathConflict);
    let under_file = p
        .create_path(A, FS, "a/b/c.txt/d", false, &NewPath::default(), &none())
        .unwrap_err();
    assert_eq!(under_file.code, ErrorCode::PathConflict);
    let new = NewPath {
        permissions: Some("0755".into()),
        umask: Some("0022".into()),
        owner: Some("alice".into()),
        metadata: vec![("k".into(), "v".into())],
        ..Default::default()
    };
    let row = p
        .create_path(A, FS, "x", true, &new, &none())
        .expect("mkdir with props");
    assert_eq!(
        (row.permissions.as_str(), row.owner.as_str(), row.blob.metadata.len()),
        ("rwxr-xr-x", "alice", 1)
    );
    assert_eq!(
        p.get_path(A, "nofs", "x").unwrap_err().code,
        ErrorCode::FilesystemNotFound
    );
}

#[test]
fn listing_order_recursion_and_continuation() {
    let (_store, p) = setup();
    for path in ["a-c", "a/x", "a/y/z", "a0", "b"] {
        touch(&p, path);
    }
    // Directory names sort with their `/`: `a-c`, `a/`, `a0`, as the flat key space would.
    assert_eq!(names(&p, "", true), ["a-c", "a", "a/x", "a/y", "a/y/z", "a0", "b"]);
    assert_eq!(names(&p, "", false), ["a-c", "a", "a0", "b"]);
    assert_eq!(names(&p, "a", false), ["a/x", "a/y"]);
    for (dir, recursive) in [("", true), ("", false), ("a", true)] {
        for size in 1..=7 {
            let mut all = Vec::new();
            let mut continuation = None;
            loop {
                let page = p
                    .list_paths(A, FS, dir, recursive, size, continuation.as_deref())
                    .expect("page");
                assert!(page.paths.len() <= size);
                all.extend(page.paths.into_iter().map(|(n, _)| n));
                match page.continuation {
                    Some(next) => continuation = Some(next),
                    None => break,
                }
            }
            assert_eq!(all, names(&p, dir, recursive), "pages of {size} under {dir:?}");
        }
    }
}

#[test]
fn delete_recursive_tombstone_and_collection() {
    let (store, p) = setup();
    write_file(&p, "t/a/b/c.bin", &[7u8; 1000]);
    write_file(&p, "t/d.bin", &[8u8; 500]);
    write_file(&p, "keep.bin", &[9u8; 300]);
    let err = p.delete_path(A, FS, "t", false, &none()).unwrap_err();
    assert_eq!(err.code, ErrorCode::DirectoryNotEmpty);
    p.delete_path(A, FS, "t", true, &none()).expect("recursive delete");
    // Gone at once for readers, before any collection.
    assert_eq!(
        p.get_path(A, FS, "t/a/b/c.bin").unwrap_err().code,
        ErrorCode::PathNotFound
    );
    assert_eq!(names(&p, "", true), ["keep.bin"]);
    assert!(p.get_blob(A, FS, "t/d.bin", &none()).is_err());
    // A crash before the background collection: the next start finishes it.
    let store = store.crash_process();
    let p = open(store.clone());
    assert_eq!(p.collect_deleted_paths().expect("collect"), 0);
    let (_, live) = p.data_usage();
    assert_eq!(live, 300, "only keep.bin's bytes are live");
    assert_eq!(read(&p, "keep.bin"), vec![9u8; 300]);
    // An empty directory goes without `recursive`.
    mkdir(&p, "empty");
    p.delete_path(A, FS, "empty", false, &none()).expect("delete empty");
    assert_eq!(
        p.delete_path(A, FS, "empty", false, &none()).unwrap_err().code,
        ErrorCode::PathNotFound
    );
}

#[test]
fn rename_files_and_directories() {
    let (_store, p) = setup();
    write_file(&p, "src/x.txt", b"x");
    write_file(&p, "src/deep/y.txt", b"y");
    p.rename_path(A, FS, "src/x.txt", "src/x2.txt", &none(), &none())
        .expect("rename file");
    assert_eq!(read(&p, "src/x2.txt"), b"x");
    p.rename_path(A, FS, "src", "other/dst", &none(), &none())
        .expect("rename dir across dirs");
    assert_eq!(read(&p, "other/dst/deep/y.txt"), b"y");
    assert_eq!(
        names(&p, "", true),
        [
            "other",
            "other/dst",
            "other/dst/deep",
            "other/dst/deep/y.txt",
            "other/dst/x2.txt"
        ]
    );
    let missing = p.rename_path(A, FS, "nope", "n2", &none(), &none()).unwrap_err();
    assert_eq!(missing.code, ErrorCode::SourcePathNotFound);
    write_file(&p, "f", b"f");
    let exists = p
        .rename_path(A, FS, "f", "other/dst/x2.txt", &if_none_match_star(), &none())
        .unwrap_err();
    assert_eq!(exists.code, ErrorCode::PathAlreadyExists);
    // Without the condition a file replaces a file (and the old data is released).
    p.rename_path(A, FS, "f", "other/dst/x2.txt", &none(), &none())
        .expect("replace");
    assert_eq!(read(&p, "other/dst/x2.txt"), b"f");
    let into_itself = p
        .rename_path(A, FS, "other", "other/dst/deep/o", &none(), &none())
        .unwrap_err();
    assert_eq!(into_itself.code, ErrorCode::InvalidSourceUri);
    // Also below a directory that does not exist yet (it would be created inside the source).
    let into_new = p
        .rename_path(A, FS, "other", "other/new/o", &none(), &none())
        .unwrap_err();
    assert_eq!(into_new.code, ErrorCode::InvalidSourceUri);
    assert!(
        p.get_path(A, FS, "other/new").is_err(),
        "nothing written by a refused rename"
    );
    // `other` is a prefix of `other2` by name but not by component.
    p.rename_path(A, FS, "other", "other2", &none(), &none())
        .expect("sibling rename");
}

#[test]
fn append_flush_positions_and_restart() {
    let (store, p) = setup();
    touch(&p, "f");
    p.append_path(A, FS, "f", 0, upload(&p, b"hello ")).expect("append 1");
    p.append_path(A, FS, "f", 6, upload(&p, b"world")).expect("append 2");
    let bad = p.append_path(A, FS, "f", 99, upload(&p, b"x")).unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidFlushPosition);
    assert_eq!(
        p.get_path(A, FS, "f").expect("f").blob.content_length,
        0,
        "not flushed yet"
    );
    let bad = p.flush_path(A, FS, "f", 7, false, None, &none()).unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidFlushPosition);
    p.flush_path(A, FS, "f", 11, false, None, &none()).expect("flush");
    assert_eq!(read(&p, "f"), b"hello world");
    p.append_path(A, FS, "f", 11, upload(&p, b"!")).expect("append 3");
    // Appending to a path that does not exist stages data on a file that appears at the
    // first flush (what the SDKs' upload does).
    p.append_path(A, FS, "new/g", 0, upload(&p, b"gg")).expect("implicit");
    assert_eq!(p.get_path(A, FS, "new/g").unwrap_err().code, ErrorCode::PathNotFound);
    p.flush_path(A, FS, "new/g", 2, false, None, &if_none_match_star())
        .expect("first flush");
    assert_eq!(read(&p, "new/g"), b"gg");
    let (_, live) = p.data_usage();
    let store = store.crash_process();
    let p = open(store.clone());
    assert_eq!(p.data_usage().1, live, "references rebuilt from path and staged rows");
    p.flush_path(A, FS, "f", 12, false, None, &none())
        .expect("flush after restart");
    assert_eq!(read(&p, "f"), b"hello world!");
    p.delete_path(A, FS, "f", false, &none()).expect("delete");
    p.delete_path(A, FS, "new", true, &none()).expect("delete dir");
    p.collect_deleted_paths().expect("collect");
    assert_eq!(p.data_usage().1, 0, "every segment released");
}

/// A file written by many small append-and-flush rounds keeps a short block list (small
/// blocks are merged, as for append blobs) and reads back exactly, before and after a
/// restart, with every segment accounted for.
#[test]
fn many_small_flushes_keep_the_row_small() {
    let (store, p) = setup();
    touch(&p, "log");
    let mut expected = Vec::new();
    for round in 0..100u32 {
        let line = format!("round {round:03} {}\n", "x".repeat((round * 7 % 500) as usize));
        p.append_path(A, FS, "log", expected.len() as u64, upload(&p, line.as_bytes()))
            .expect("append");
        expected.extend_from_slice(line.as_bytes());
        p.flush_path(A, FS, "log", expected.len() as u64, false, None, &none())
            .expect("flush");
    }
    let row = p.get_blob(A, FS, "log", &none()).expect("get").expect("not 304");
    assert!(row.blocks.len() < 32, "{} blocks after 100 flushes", row.blocks.len());
    assert_eq!(read(&p, "log"), expected);
    let live = p.data_usage().1;
    let referenced: std::collections::HashSet<_> = row.segments().copied().collect();
    assert_eq!(live, referenced.iter().map(|s| s.len as u64).sum::<u64>());
    drop(p);
    let p = open(store.crash_process());
    assert_eq!(p.data_usage().1, live);
    assert_eq!(read(&p, "log"), expected);
}

/// A directory rename is one batch whatever it holds: concurrent listers see the whole tree
/// at the old path or at the new one, never split. `LAZULI_HNS_RENAME_FILES` sets the size
/// (default 100,000).
#[test]
fn directory_rename_is_atomic_for_concurrent_listers() {
    let files: usize = std::env::var("LAZULI_HNS_RENAME_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (_store, p) = setup();
    mkdir(&p, "src");
    for i in 0..files {
        touch(&p, &format!("src/d{}/f{i}", i % 10));
    }
    let done = Arc::new(AtomicBool::new(false));
    // Listings finished by all listers, and how many saw the tree at each name.
    let listings = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listers: Vec<_> = (0..3)
        .map(|_| {
            let (p, done, listings) = (p.clone(), done.clone(), listings.clone());
            std::thread::spawn(move || {
                let (mut at_src, mut at_dst) = (0, 0);
                while !done.load(Ordering::Relaxed) {
                    let page = p.list_paths(A, FS, "", true, usize::MAX, None).expect("list");
                    let files_at = |dir: &str| {
                        page.paths
                            .iter()
                            .filter(|(n, r)| !r.is_directory && n.starts_with(dir))
                            .count()
                    };
                    match (files_at("src/"), files_at("dst/")) {
                        (old, 0) if old == files => at_src += 1,
                        (0, new) if new == files => at_dst += 1,
                        (old, new) => panic!("split tree: {old} files under src, {new} under dst"),
                    }
                    listings.fetch_add(1, Ordering::Relaxed);
                }
                (at_src, at_dst)
            })
        })
        .collect();
    // Rename back and forth; after each rename, let every lister finish a listing or two so
    // that listings run across the renames and see both names.
    // Bounded: a lister that dies (a failed assertion) stops counting, and the wait must end.
    let wait_for_listings = |seen: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while listings.load(Ordering::Relaxed) < seen + 3 {
            assert!(std::time::Instant::now() < deadline, "the listers stopped listing");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let mut rename_times = Vec::new();
    let (mut from, mut to) = ("src", "dst");
    for _ in 0..4 {
        wait_for_listings(listings.load(Ordering::Relaxed));
        let started = std::time::Instant::now();
        p.rename_path(A, FS, from, to, &none(), &none()).expect("rename");
        rename_times.push(started.elapsed());
        std::mem::swap(&mut from, &mut to);
    }
    wait_for_listings(listings.load(Ordering::Relaxed));
    done.store(true, Ordering::Relaxed);
    let (mut at_src, mut at_dst) = (0, 0);
    for lister in listers {
        let (s, d) = lister.join().expect("lister");
        at_src += s;
        at_dst += d;
    }
    println!(
        "{files} files: listings saw the tree {at_src} times at src, {at_dst} at dst; renames took {rename_times:?}"
    );
    assert!(at_src > 0 && at_dst > 0, "the listings did not overlap the renames");
    for took in &rename_times {
        assert!(*took < Duration::from_secs(1), "rename took {took:?}: not O(1)");
    }
    assert_eq!(
        names(&p, "src", true).iter().filter(|n| n.contains("/f")).count(),
        files
    );
    assert!(p.get_path(A, FS, "dst").is_err());
}

#[test]
fn filesystem_delete_removes_paths() {
    let (_store, p) = setup();
    write_file(&p, "a/b", &[1u8; 700]);
    p.append_path(A, FS, "a/b", 700, upload(&p, &[2u8; 300]))
        .expect("staged");
    p.delete_container(A, FS, &none()).expect("delete fs");
    assert_eq!(p.data_usage().1, 0);
    p.create_container(A, FS, vec![], None).expect("recreate");
    assert!(names(&p, "", true).is_empty());
}

/// Garbage collection rewrites mostly-dead extents under path rows and staged appends too
/// (on the development account every file is a path row): files written through DFS and
/// through the Blob API, one with appends still staged, survive collection and a restart
/// byte for byte, and the space of deleted files comes back.
#[test]
fn garbage_collection_relocates_path_data() {
    use lazuli_partition::HttpHeaders;
    use lazuli_stream::{LocalStore, StoreOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let open_local = || {
        let store = LocalStore::open(
            dir.path(),
            StoreOptions {
                extent_size_bytes_max: 4096,
                ..Default::default()
            },
        )
        .expect("store");
        open(store)
    };
    let p = open_local();
    p.create_container(A, FS, vec![], None).expect("filesystem");
    let content = |i: usize| -> Vec<u8> { (0..700).map(|j| (i * 7 + j) as u8).collect() };
    let mut kept = Vec::new();
    for i in 0..40 {
        let path = format!("d{}/f{i}", i % 4);
        if i % 2 == 0 {
            write_file(&p, &path, &content(i));
        } else {
            p.put_blob(
                A,
                FS,
                &path,
                upload(&p, &content(i)),
                HttpHeaders::default(),
                vec![],
                &none(),
            )
            .expect("put blob");
        }
        if i % 5 == 0 {
            kept.push((path, content(i)));
        }
    }
    // A file whose appends are staged, not flushed.
    touch(&p, "staged");
    p.append_path(A, FS, "staged", 0, upload(&p, &content(99)))
        .expect("append");
    for i in 0..40 {
        let path = format!("d{}/f{i}", i % 4);
        if !kept.iter().any(|(k, _)| *k == path) {
            p.delete_path(A, FS, &path, false, &none()).expect("delete");
        }
    }
    // A directory renamed between passes: its files move, their data with them.
    p.rename_path(A, FS, "d0", "moved", &none(), &none()).expect("rename");
    for (path, _) in kept.iter_mut() {
        if let Some(rest) = path.strip_prefix("d0/") {
            *path = format!("moved/{rest}");
        }
    }
    let (before, live) = p.data_usage();
    let mut rewritten = 0;
    for _ in 0..3 {
        rewritten += p.collect_garbage().expect("gc").extents_rewritten;
    }
    assert!(rewritten > 0, "some extents were mostly dead");
    let (after, live_after) = p.data_usage();
    assert_eq!(
        live_after, live,
        "collection changes where bytes are, not how many are live"
    );
    assert!(after < before, "space came back: {before} -> {after} bytes");
    for (path, data) in &kept {
        assert_eq!(&read(&p, path), data, "{path}");
    }
    p.flush_path(A, FS, "staged", 700, false, None, &none()).expect("flush");
    assert_eq!(read(&p, "staged"), content(99));
    let live = p.data_usage().1;
    drop(p);
    let p = open_local();
    assert_eq!(p.data_usage().1, live, "reference counts drifted from the rows");
    for (path, data) in &kept {
        assert_eq!(&read(&p, path), data, "{path}");
    }
    assert_eq!(read(&p, "staged"), content(99));
}

/// A soft-deleted directory keeps its tree unreachable until it is restored (all of it at
/// once) or purged (then its tree and data are collected).
#[test]
fn soft_deleted_directory_is_restored_or_purged() {
    use lazuli_partition::page::PAGE_CHUNK_BYTES;
    use lazuli_partition::soft_delete::Deletion;
    use lazuli_partition::{HttpHeaders, SequenceConditions};
    let (_store, p) = setup();
    write_file(&p, "keep/a/b.txt", b"deep data");
    write_file(&p, "keep/c.txt", b"c");
    // A page blob whose map is in chunk rows keeps them while its directory is soft-deleted.
    p.create_page_blob(
        A,
        FS,
        "keep/disk",
        2 * PAGE_CHUNK_BYTES,
        0,
        HttpHeaders::default(),
        vec![],
        vec![],
        &none(),
    )
    .expect("create page blob");
    p.write_pages(
        A,
        FS,
        "keep/disk",
        PAGE_CHUNK_BYTES - 512,
        upload(&p, &[6u8; 1024]),
        &none(),
        &SequenceConditions::default(),
    )
    .expect("write pages");
    let disk = read(&p, "keep/disk");
    let chunk_rows = |p: &Partition| {
        let prefix = format!("G{A}/{FS}/").into_bytes();
        let end = lazuli_partition::keys::prefix_end(&prefix);
        p.table().scan(&prefix, end.as_deref(), 100).expect("scan").len()
    };
    assert_eq!(chunk_rows(&p), 2);
    let now = lazuli_partition::now_nanos();
    p.soft_delete_directory(A, FS, "keep", true, Deletion::new(now, 7), &none())
        .expect("soft delete");
    assert!(p.get_path(A, FS, "keep").is_err());
    assert!(names(&p, "", true).is_empty());
    p.undelete_blob(A, FS, "keep").expect("undelete");
    assert_eq!(read(&p, "keep/a/b.txt"), b"deep data");
    assert_eq!(read(&p, "keep/disk"), disk);
    assert_eq!(
        names(&p, "keep", true),
        vec!["keep/a", "keep/a/b.txt", "keep/c.txt", "keep/disk"]
    );
    // Not recursive: refused while it has children.
    let error = p
        .soft_delete_directory(A, FS, "keep", false, Deletion::new(now, 7), &none())
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::DirectoryNotEmpty);
    // Purged once its retention has passed: the tree and its data go.
    let expired = Deletion {
        time: now,
        purge_at: now,
    };
    p.soft_delete_directory(A, FS, "keep", true, expired, &none())
        .expect("soft delete");
    assert!(p.data_usage().1 > 0);
    assert_eq!(p.purge_soft_deleted().expect("purge"), 1);
    p.collect_deleted_paths().expect("collect");
    assert_eq!(p.data_usage().1, 0, "every segment released");
    assert_eq!(chunk_rows(&p), 0, "the page blob's chunk rows went with it");
    assert!(p.undelete_blob(A, FS, "keep").is_err());
}

/// A file's index tags follow it through a DFS rename and go with a DFS delete: Find Blobs
/// by Tags names it where it is.
#[test]
fn index_tags_follow_renamed_and_deleted_files() {
    use lazuli_partition::{HttpHeaders, NewBlobOptions};
    use lazuli_types::tag_expr;
    let (_store, p) = setup();
    let options = NewBlobOptions {
        tags: Some(vec![("team".into(), "blue".into())]),
        ..Default::default()
    };
    for name in ["d/tagged", "d/other"] {
        p.put_blob_with(
            A,
            FS,
            name,
            upload(&p, b"x"),
            HttpHeaders::default(),
            vec![],
            &none(),
            &options,
        )
        .expect("put");
    }
    let filter = tag_expr::parse_filter("\"team\" = 'blue'").expect("filter");
    let found = |p: &Partition| -> Vec<String> {
        let page = p.find_blobs_by_tags(A, Some(FS), &filter, None, 100).expect("find");
        page.items.into_iter().map(|(_, name, _)| name).collect()
    };
    p.rename_path(A, FS, "d/tagged", "e/renamed", &none(), &none())
        .expect("rename");
    p.delete_path(A, FS, "d/other", false, &none()).expect("delete");
    assert_eq!(found(&p), vec!["e/renamed"]);
    // Path Create over the file replaces it, tags and all.
    p.create_path(A, FS, "e/renamed", false, &NewPath::default(), &none())
        .expect("create over");
    assert!(found(&p).is_empty());
    let entries = p.tag_index_entries(A).expect("index");
    assert!(entries.is_empty(), "index rows outlived their file: {entries:?}");
}

/// A page blob of an HNS account keeps its map in chunk rows keyed by the filesystem and a
/// map id (not by name), so the pages follow a rename; a write reads and rewrites only its
/// chunks; Path Create over the file, a rename over it, Path Delete, a recursive delete once
/// collected, and Delete Blob drop the chunk rows, and soft delete moves the pages into the
/// deleted row, from which undelete brings them back; live bytes stay exact throughout.
#[test]
fn page_blob_maps_follow_renames_and_go_with_their_files() {
    use lazuli_partition::page::PAGE_CHUNK_BYTES;
    use lazuli_partition::{BlobVersion, DeleteOptions, DeleteSnapshots, HttpHeaders, SequenceConditions};
    let (store, p) = setup();
    let size = 3 * PAGE_CHUNK_BYTES;
    let create = |p: &Partition, path: &str| {
        p.create_page_blob(A, FS, path, size, 0, HttpHeaders::default(), vec![], vec![], &none())
            .expect("create page blob");
    };
    let write = |p: &Partition, path: &str, at: u64, byte: u8, expected: &mut Vec<u8>| {
        let data: Vec<u8> = (0..1024u32).map(|i| byte.wrapping_add((i / 3) as u8)).collect();
        p.write_pages(
            A,
            FS,
            path,
            at,
            upload(p, &data),
            &none(),
            &SequenceConditions::default(),
        )
        .expect("write pages");
        expected[at as usize..at as usize + data.len()].copy_from_slice(&data);
    };
    let chunk_rows = |p: &Partition| {
        let prefix = format!("G{A}/{FS}/").into_bytes();
        let end = lazuli_partition::keys::prefix_end(&prefix);
        p.table().scan(&prefix, end.as_deref(), 1000).expect("scan")
    };
    let restart = |store: &Arc<MemStore>, p: &Partition| {
        let (_, live) = p.data_usage();
        let store = store.crash_process();
        let reopened = open(store.clone());
        assert_eq!(reopened.data_usage().1, live, "reference counts drifted from the rows");
        (store, reopened)
    };

    create(&p, "d/disk");
    let mut expected = vec![0u8; size as usize];
    // The second write crosses the first chunk boundary.
    for (n, at) in [0, PAGE_CHUNK_BYTES - 512, 2 * PAGE_CHUNK_BYTES + 4096]
        .into_iter()
        .enumerate()
    {
        write(&p, "d/disk", at, n as u8 + 1, &mut expected);
    }
    assert_eq!(chunk_rows(&p).len(), 3);
    let stored = p.get_path(A, FS, "d/disk").expect("path");
    assert!(
        stored.blob.pages.is_empty() && stored.blob.page_map != 0,
        "the path row holds no pages"
    );
    assert_eq!(read(&p, "d/disk"), expected);

    // A write reads only its chunks: with the last one damaged, a write to the first works.
    let (far_key, far_value) = chunk_rows(&p).pop().expect("a chunk row");
    let mut batch = lazuli_table::WriteBatch::new();
    batch.put(far_key.clone(), b"damaged".to_vec());
    p.table().write(&batch).expect("damage");
    write(&p, "d/disk", 8192, 7, &mut expected);
    let mut batch = lazuli_table::WriteBatch::new();
    batch.put(far_key, far_value);
    p.table().write(&batch).expect("mend");
    assert_eq!(read(&p, "d/disk"), expected);

    p.rename_path(A, FS, "d/disk", "e/disk", &none(), &none())
        .expect("rename");
    assert_eq!(read(&p, "e/disk"), expected);
    write(&p, "e/disk", PAGE_CHUNK_BYTES + 8192, 9, &mut expected);
    assert_eq!(chunk_rows(&p).len(), 3);
    let (store, p) = restart(&store, &p);
    assert_eq!(read(&p, "e/disk"), expected);
    p.collect_garbage().expect("gc");
    assert_eq!(read(&p, "e/disk"), expected);

    // Another page blob renamed over it: the first's chunk rows go.
    create(&p, "f");
    let mut other = vec![0u8; size as usize];
    write(&p, "f", 0, 40, &mut other);
    p.rename_path(A, FS, "f", "e/disk", &none(), &none())
        .expect("rename over");
    assert_eq!(chunk_rows(&p).len(), 1);
    assert_eq!(read(&p, "e/disk"), other);
    // Path Create over a file replaces it.
    p.create_path(A, FS, "e/disk", false, &NewPath::default(), &none())
        .expect("create over");
    assert!(chunk_rows(&p).is_empty());
    assert_eq!(read(&p, "e/disk"), Vec::<u8>::new());

    // Path Delete, and a recursive delete once collected.
    create(&p, "g/one");
    create(&p, "g/h/two");
    write(&p, "g/one", 0, 1, &mut other);
    write(&p, "g/h/two", 2 * PAGE_CHUNK_BYTES, 2, &mut other);
    assert_eq!(chunk_rows(&p).len(), 2);
    p.delete_path(A, FS, "g/one", false, &none()).expect("delete");
    assert_eq!(chunk_rows(&p).len(), 1);
    p.delete_path(A, FS, "g", true, &none()).expect("delete recursive");
    p.collect_deleted_paths().expect("collect");
    assert!(chunk_rows(&p).is_empty());

    // Delete Blob with soft delete keeps the pages in the deleted row; undelete restores them.
    create(&p, "s");
    let mut soft = vec![0u8; size as usize];
    write(&p, "s", PAGE_CHUNK_BYTES - 512, 5, &mut soft);
    let delete = |p: &Partition, retention_days| {
        let options = DeleteOptions {
            snapshots: DeleteSnapshots::Include,
            retention_days,
        };
        p.delete_blob_with(A, FS, "s", &BlobVersion::Base, &options, &none())
            .expect("delete blob");
    };
    delete(&p, Some(1));
    assert!(chunk_rows(&p).is_empty());
    let (store, p) = restart(&store, &p);
    p.undelete_blob(A, FS, "s").expect("undelete");
    assert_eq!(read(&p, "s"), soft);
    assert_eq!(chunk_rows(&p).len(), 2, "the restored pages are in chunk rows again");
    write(&p, "s", 0, 6, &mut soft);
    assert_eq!(read(&p, "s"), soft);
    delete(&p, None);
    assert!(chunk_rows(&p).is_empty());
    p.delete_path(A, FS, "e/disk", false, &none()).expect("delete");
    let (_, p) = restart(&store, &p);
    assert_eq!(p.data_usage().1, 0, "nothing is referenced once every file is gone");
}

/// A page blob file that also took DFS appends (blocks and pages in one row) and is deleted
/// with soft delete, restored and deleted for good leaves no reference behind.
#[test]
fn soft_deleted_page_blob_with_blocks_keeps_exact_references() {
    use lazuli_partition::page::PAGE_CHUNK_BYTES;
    use lazuli_partition::{BlobVersion, DeleteOptions, DeleteSnapshots, HttpHeaders, SequenceConditions};
    let (store, p) = setup();
    let size = 2 * PAGE_CHUNK_BYTES;
    p.create_page_blob(A, FS, "m", size, 0, HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    p.write_pages(
        A,
        FS,
        "m",
        PAGE_CHUNK_BYTES - 512,
        upload(&p, &[3u8; 1024]),
        &none(),
        &SequenceConditions::default(),
    )
    .expect("write");
    p.append_path(A, FS, "m", size, upload(&p, &[4u8; 700]))
        .expect("append");
    p.flush_path(A, FS, "m", size + 700, false, None, &none())
        .expect("flush");
    let delete = |p: &Partition, retention_days| {
        let options = DeleteOptions {
            snapshots: DeleteSnapshots::Include,
            retention_days,
        };
        p.delete_blob_with(A, FS, "m", &BlobVersion::Base, &options, &none())
            .expect("delete");
    };
    delete(&p, Some(1));
    p.undelete_blob(A, FS, "m").expect("undelete");
    delete(&p, None);
    let live = p.data_usage().1;
    let p = open(store.crash_process());
    assert_eq!(p.data_usage().1, live, "reference counts drifted from the rows");
    assert_eq!(live, 0, "nothing is referenced once the file is gone");
}

/// A directory created where an expired file was takes nothing of it: not its lease (which
/// nobody could name any more) nor its creation time.
#[test]
fn directory_created_over_an_expired_leased_file_takes_nothing_of_it() {
    use lazuli_partition::hns::Expiry;
    use lazuli_partition::LeaseAction;
    let (_store, p) = setup();
    write_file(&p, "old", b"data");
    let acquire = LeaseAction::Acquire {
        duration: -1,
        proposed_id: None,
    };
    p.lease_blob(A, FS, "old", &acquire, None, &none()).expect("lease");
    let created = p.get_path(A, FS, "old").expect("path").blob.created;
    let expiry = Expiry::Absolute(lazuli_partition::now_nanos() + 1_000_000);
    let leased = Conditions {
        lease_id: p.get_path(A, FS, "old").expect("path").blob.lease.map(|l| l.id),
        ..Default::default()
    };
    p.set_path_expiry(A, FS, "old", expiry, &leased).expect("expiry");
    std::thread::sleep(Duration::from_millis(5));
    assert!(p.get_path(A, FS, "old").is_err(), "expired");
    mkdir(&p, "old");
    let dir = p.get_path(A, FS, "old").expect("directory");
    assert!(dir.is_directory);
    assert!(dir.blob.lease.is_none(), "no lease of the expired file");
    assert_ne!(dir.blob.created, created);
    p.delete_path(A, FS, "old", false, &none())
        .expect("delete without a lease id");
}

/// A directory created where a file only appends made so far (pending) replaces it: the file
/// row goes, and the directory is what the path resolves to.
#[test]
fn directory_created_over_a_pending_file_replaces_it() {
    let (store, p) = setup();
    p.append_path(A, FS, "x", 0, upload(&p, &[1u8; 300])).expect("append");
    mkdir(&p, "x");
    assert!(p.get_path(A, FS, "x").expect("path").is_directory);
    write_file(&p, "x/inner", &[2u8; 50]);
    assert_eq!(names(&p, "", true), ["x", "x/inner"]);
    let live = p.data_usage().1;
    let p = open(store.crash_process());
    assert_eq!(p.data_usage().1, live, "reference counts drifted from the rows");
    assert_eq!(live, 50, "only the inner file's bytes are live");
    assert_eq!(read(&p, "x/inner"), vec![2u8; 50]);
}

/// Append Data finds where a file's staged data ends from the previous append (not by reading
/// every staged row) and checks that against the rows: whatever changed them in between (a
/// flush keeping or dropping the rest, a new file at the path, a restart, new content written
/// over the file through the Blob API), only the true end is accepted, over thousands of
/// appends.
#[test]
fn appends_find_the_staged_end_whatever_changed_it() {
    use lazuli_partition::HttpHeaders;
    let (store, mut p) = setup();
    touch(&p, "f");
    let mut expected = Vec::new();
    let append = |p: &Partition, expected: &mut Vec<u8>, bytes: &[u8]| {
        let at = expected.len() as u64;
        for wrong in [at + 1, at.saturating_sub(1), at + bytes.len() as u64] {
            if wrong != at {
                let refused = p.append_path(A, FS, "f", wrong, upload(p, bytes)).unwrap_err();
                assert_eq!(
                    refused.code,
                    ErrorCode::InvalidFlushPosition,
                    "append at {wrong}, end {at}"
                );
            }
        }
        p.append_path(A, FS, "f", at, upload(p, bytes))
            .expect("append at the end");
        expected.extend_from_slice(bytes);
    };
    for i in 0..3000u32 {
        append(&p, &mut expected, format!("{i},").as_bytes());
    }
    // A flush of part of the staged data, keeping the rest: the end stays where it was.
    let flushed = expected.len() as u64 - 100;
    let cut = expected[..flushed as usize]
        .iter()
        .rposition(|&b| b == b',')
        .expect("a comma") as u64
        + 1;
    p.flush_path(A, FS, "f", cut, true, None, &none())
        .expect("flush a prefix, keep the rest");
    append(&p, &mut expected, b"after-keep,");
    // A flush that drops what it does not commit: the end is the new length.
    p.flush_path(A, FS, "f", cut, false, None, &none())
        .expect("flush, drop the rest");
    expected.truncate(cut as usize);
    append(&p, &mut expected, b"after-drop,");
    // A restart forgets every hint: the rows alone say.
    let restarted = store.crash_process();
    p = open(restarted.clone());
    append(&p, &mut expected, b"after-restart,");
    p.flush_path(A, FS, "f", expected.len() as u64, false, None, &none())
        .expect("flush all");
    assert_eq!(read(&p, "f"), expected);
    // A Blob API write of new content over the file discards what was staged (as it does
    // uncommitted blocks): Append Data and Flush Data both count from the new length. A
    // change of properties keeps it.
    append(&p, &mut expected, b"kept,");
    p.update_blob(A, FS, "f", &none(), |row| row.metadata = vec![("k".into(), "v".into())])
        .expect("set metadata");
    append(&p, &mut expected, b"still-kept,");
    let staged = b"kept,still-kept,".len() as u64;
    p.put_blob(
        A,
        FS,
        "f",
        upload(&p, b"short"),
        HttpHeaders::default(),
        vec![],
        &none(),
    )
    .expect("put blob over the file");
    for gone in [expected.len() as u64, 5 + staged] {
        let refused = p.append_path(A, FS, "f", gone, upload(&p, b"x")).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidFlushPosition, "append at {gone}");
    }
    expected = b"short".to_vec();
    append(&p, &mut expected, b"tail");
    p.flush_path(A, FS, "f", expected.len() as u64, false, None, &none())
        .expect("flush");
    assert_eq!(read(&p, "f"), b"shorttail");
    // A new file at the path stages from zero, though the old file's last append is known.
    append(&p, &mut expected, b"staged-on-the-old-file,");
    touch(&p, "f");
    expected.clear();
    append(&p, &mut expected, b"new file");
    p.flush_path(A, FS, "f", expected.len() as u64, false, None, &none())
        .expect("flush new");
    assert_eq!(read(&p, "f"), expected);
}

/// Get Blob Properties of a file leaves its block list undecoded and a ranged Get decodes
/// the blocks of the range (as of a flat blob); the file's next write and read still have
/// every block.
#[test]
fn properties_reads_of_files_leave_block_lists_undecoded() {
    use lazuli_partition::{BlockListItem, BlockListKind, HttpHeaders};
    let (store, p) = setup();
    let mut expected = Vec::new();
    let mut list = Vec::new();
    for i in 0..120u32 {
        let id = format!("{i:04}");
        let data = format!("block {i};").into_bytes();
        p.put_block(A, FS, "dir/f", &id, upload(&p, &data)).expect("block");
        expected.extend_from_slice(&data);
        list.push(BlockListItem {
            kind: BlockListKind::Latest,
            id,
        });
    }
    p.put_block_list(A, FS, "dir/f", &list, HttpHeaders::default(), vec![], &none())
        .expect("commit");
    let properties = p
        .get_blob_within(A, FS, "dir/f", &none(), Some(0..0))
        .expect("properties")
        .expect("row");
    assert!(properties.blocks_omitted && properties.blocks.is_empty() && properties.inline.is_none());
    assert_eq!(properties.content_length, expected.len() as u64);
    let whole = p.get_blob(A, FS, "dir/f", &none()).expect("get").expect("row");
    assert_eq!((whole.blocks_omitted, whole.blocks.len()), (false, 120));
    let len = expected.len() as u64;
    for (start, end) in [(0, 1), (9, 30), (500, 700), (len - 1, len)] {
        let ranged = p
            .get_blob_within(A, FS, "dir/f", &none(), Some(start..end))
            .expect("ranged")
            .expect("row");
        // Blocks are 9 to 11 bytes long.
        let most = ((end - start) / 9 + 2) as usize;
        assert!(
            ranged.blocks_omitted && ranged.blocks.len() <= most,
            "{start}..{end}: {} blocks",
            ranged.blocks.len()
        );
        let bytes = p.read_blob_bytes(&ranged, start, end - start).expect("read");
        assert_eq!(bytes, expected[start as usize..end as usize], "bytes {start}..{end}");
    }
    p.update_blob(A, FS, "dir/f", &none(), |row| {
        row.metadata = vec![("k".into(), "v".into())]
    })
    .expect("a write after a properties read");
    assert_eq!(read(&p, "dir/f"), expected);
    let p = open(store.crash_process());
    assert_eq!(read(&p, "dir/f"), expected);
    assert_eq!(p.get_path(A, FS, "dir/f").expect("path").blob.metadata.len(), 1);
}
