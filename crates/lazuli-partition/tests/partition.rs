//! The object tables' semantics, over the in-memory stream store and over real files.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lazuli_partition::{
    BlockListItem, BlockListKind, HttpHeaders, ListBlobsOptions, Partition, PartitionOptions, UploadedBody,
};
use lazuli_stream::{LocalStore, MemStore, StoreOptions, StreamStore};
use lazuli_table::TableOptions;
use lazuli_types::conditions::Conditions;
use lazuli_types::ErrorCode;

const A: &str = "acct";

fn options() -> PartitionOptions {
    PartitionOptions {
        inline_bytes_max: 16,
        segment_bytes_max: 64,
        gc_grace: Duration::ZERO,
        table: TableOptions {
            memtable_bytes_max: 64 * 1024,
            background: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn open(store: Arc<dyn StreamStore>) -> Arc<Partition> {
    Partition::open(store, options()).expect("open")
}

/// Uploads `data` the way the front-end does: inline when small, else segment by segment.
fn upload(partition: &Partition, data: &[u8], inline_allowed: bool) -> UploadedBody {
    let md5 = lazuli_types::checksum::md5(data);
    if inline_allowed && data.len() <= partition.options().inline_bytes_max {
        return UploadedBody {
            inline: Some(data.to_vec()),
            segments: vec![],
            len: data.len() as u64,
            md5,
        };
    }
    let segments = data
        .chunks(partition.options().segment_bytes_max)
        .map(|chunk| partition.append_segment(chunk).expect("append"))
        .collect();
    UploadedBody {
        inline: None,
        segments,
        len: data.len() as u64,
        md5,
    }
}

/// The live bytes counted while running equal those rebuilt from the rows by a fresh open
/// (after a simulated process crash, which ends the old store); returns the reopened store.
fn assert_live_bytes_match_rows(store: &Arc<MemStore>, partition: &Partition) -> (Arc<MemStore>, Arc<Partition>) {
    let (_, live) = partition.data_usage();
    let store = store.crash_process();
    let reopened = open(store.clone());
    assert_eq!(reopened.data_usage().1, live, "reference counts drifted from the rows");
    (store, reopened)
}

fn read_all(partition: &Partition, container: &str, blob: &str) -> Vec<u8> {
    let row = partition
        .get_blob(A, container, blob, &Conditions::default())
        .expect("get")
        .expect("not 304");
    if let Some(inline) = &row.inline {
        return inline.to_vec();
    }
    row.segments()
        .flat_map(|s| partition.read_segment(*s).expect("read"))
        .collect()
}

fn put(partition: &Partition, container: &str, blob: &str, data: &[u8]) {
    let body = upload(partition, data, true);
    partition
        .put_blob(
            A,
            container,
            blob,
            body,
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
        )
        .expect("put");
}

#[test]
fn blobs_round_trip_inline_and_segmented_and_survive_reopen() {
    let store = MemStore::new();
    let partition = open(store.clone());
    partition
        .create_container(A, "c", vec![("k".into(), "v".into())], None)
        .expect("create");
    let small = b"tiny".to_vec();
    let large: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    put(&partition, "c", "small", &small);
    put(&partition, "c", "large", &large);
    assert_eq!(read_all(&partition, "c", "small"), small);
    assert_eq!(read_all(&partition, "c", "large"), large);
    drop(partition);
    let partition = open(store);
    assert_eq!(read_all(&partition, "c", "large"), large);
    assert_eq!(
        partition.get_container(A, "c").expect("container").metadata,
        vec![("k".into(), "v".into())]
    );
}

#[test]
fn missing_things_answer_the_service_codes() {
    let partition = open(MemStore::new());
    let get = partition.get_blob(A, "nope", "b", &Conditions::default()).unwrap_err();
    assert_eq!(get.code, ErrorCode::ContainerNotFound);
    partition.create_container(A, "c", vec![], None).expect("create");
    assert_eq!(
        partition.create_container(A, "c", vec![], None).unwrap_err().code,
        ErrorCode::ContainerAlreadyExists
    );
    let get = partition.get_blob(A, "c", "b", &Conditions::default()).unwrap_err();
    assert_eq!(get.code, ErrorCode::BlobNotFound);
    assert_eq!(
        partition
            .delete_blob(A, "c", "b", &Conditions::default())
            .unwrap_err()
            .code,
        ErrorCode::BlobNotFound
    );
    let body = upload(&partition, b"x", true);
    let put = partition.put_blob(
        A,
        "missing",
        "b",
        body,
        HttpHeaders::default(),
        vec![],
        &Conditions::default(),
    );
    assert_eq!(put.unwrap_err().code, ErrorCode::ContainerNotFound);
}

#[test]
fn write_conditions() {
    let partition = open(MemStore::new());
    partition.create_container(A, "c", vec![], None).expect("create");
    put(&partition, "c", "b", b"one");
    let etag = partition
        .get_blob(A, "c", "b", &Conditions::default())
        .expect("get")
        .expect("row")
        .etag;
    let star = Conditions {
        if_none_match: Some("*".into()),
        ..Default::default()
    };
    let body = upload(&partition, b"two", true);
    let refused = partition.put_blob(A, "c", "b", body, HttpHeaders::default(), vec![], &star);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BlobAlreadyExists);
    let stale = Conditions {
        if_match: Some("\"0xdead\"".into()),
        ..Default::default()
    };
    let body = upload(&partition, b"two", true);
    assert_eq!(
        partition
            .put_blob(A, "c", "b", body, HttpHeaders::default(), vec![], &stale)
            .unwrap_err()
            .code,
        ErrorCode::ConditionNotMet
    );
    let current = Conditions {
        if_match: Some(etag.clone()),
        ..Default::default()
    };
    let body = upload(&partition, b"two", true);
    let row = partition
        .put_blob(A, "c", "b", body, HttpHeaders::default(), vec![], &current)
        .expect("put");
    assert_ne!(row.etag, etag);
    assert_eq!(read_all(&partition, "c", "b"), b"two");
    let read = Conditions {
        if_none_match: Some(row.etag.clone()),
        ..Default::default()
    };
    assert!(partition.get_blob(A, "c", "b", &read).expect("get").is_none(), "304");
}

#[test]
fn block_lists_commit_in_order_and_discard_the_rest() {
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, "c", vec![], None).expect("create");
    for (id, data) in [("AA==", b"aaa".as_slice()), ("AQ==", b"bbbb"), ("Ag==", b"cc")] {
        let body = upload(&partition, data, false);
        partition.put_block(A, "c", "b", id, body).expect("block");
    }
    let lists = partition.get_block_list(A, "c", "b").expect("list");
    assert!(lists.committed.is_empty());
    assert_eq!(lists.uncommitted.len(), 3);
    let item = |kind, id: &str| BlockListItem { kind, id: id.into() };
    let list = [
        item(BlockListKind::Latest, "AQ=="),
        item(BlockListKind::Uncommitted, "AA=="),
        item(BlockListKind::Latest, "AQ=="),
    ];
    let row = partition
        .put_block_list(
            A,
            "c",
            "b",
            &list,
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
        )
        .expect("commit");
    assert_eq!(row.content_length, 11);
    assert_eq!(read_all(&partition, "c", "b"), b"bbbbaaabbbb");
    let lists = partition.get_block_list(A, "c", "b").expect("list");
    assert_eq!(
        lists.committed.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["AQ==", "AA==", "AQ=="]
    );
    assert!(
        lists.uncommitted.is_empty(),
        "uncommitted blocks are discarded by a commit"
    );
    // Committed blocks can be reused; a block that no longer exists cannot.
    let body = upload(&partition, b"zz", false);
    partition.put_block(A, "c", "b", "Aw==", body).expect("block");
    let list = [
        item(BlockListKind::Committed, "AA=="),
        item(BlockListKind::Uncommitted, "Aw=="),
    ];
    partition
        .put_block_list(
            A,
            "c",
            "b",
            &list,
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
        )
        .expect("commit");
    assert_eq!(read_all(&partition, "c", "b"), b"aaazz");
    let bad = [item(BlockListKind::Committed, "Ag==")];
    let refused = partition.put_block_list(
        A,
        "c",
        "b",
        &bad,
        HttpHeaders::default(),
        vec![],
        &Conditions::default(),
    );
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidBlockList);
    // Block ids of one blob must have one length.
    let body = upload(&partition, b"q", false);
    partition
        .put_block(A, "c", "b", "AAAA", body)
        .expect("different length after a commit is fine");
    let body = upload(&partition, b"q", false);
    assert_eq!(
        partition.put_block(A, "c", "b", "AAAAAAAA", body).unwrap_err().code,
        ErrorCode::InvalidBlobOrBlock
    );
    let (store, partition) = assert_live_bytes_match_rows(&store, &partition);
    partition
        .delete_blob(A, "c", "b", &Conditions::default())
        .expect("delete");
    assert_eq!(partition.data_usage().1, 0, "nothing references any data any more");
    assert_live_bytes_match_rows(&store, &partition);
}

/// Listing with prefix, delimiter and pagination equals a model computed from the names.
#[test]
fn listing_matches_a_model() {
    let partition = open(MemStore::new());
    partition.create_container(A, "c", vec![], None).expect("create");
    let names = ["a", "a/b", "a/b/c", "a/c", "ab", "b/x", "b/y/z", "c", "c/", "d/e/f"];
    for name in names {
        put(&partition, "c", name, name.as_bytes());
    }
    for (prefix, delimiter) in [
        ("", None),
        ("", Some("/")),
        ("a", Some("/")),
        ("a/", Some("/")),
        ("b/", None),
        ("zzz", None),
    ] {
        let mut model: Vec<String> = Vec::new();
        for name in names.iter().filter(|n| n.starts_with(prefix)) {
            let item = match delimiter.and_then(|d| {
                name[prefix.len()..]
                    .find(d)
                    .map(|at| &name[..prefix.len() + at + d.len()])
            }) {
                Some(p) => format!("P:{p}"),
                None => format!("B:{name}"),
            };
            if model.last() != Some(&item) {
                model.push(item);
            }
        }
        for page_size in [1, 2, 3, 100] {
            let mut got = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let options = ListBlobsOptions {
                    prefix,
                    delimiter,
                    marker: marker.as_deref(),
                    max_results: page_size,
                    ..Default::default()
                };
                let page = partition.list_blobs(A, "c", &options).expect("list");
                assert!(page.items.len() <= page_size);
                for item in page.items {
                    got.push(match item {
                        Ok((name, _)) => format!("B:{name}"),
                        Err(p) => format!("P:{p}"),
                    });
                }
                match page.next_marker {
                    Some(next) => marker = Some(next),
                    None => break,
                }
            }
            assert_eq!(got, model, "prefix {prefix:?} delimiter {delimiter:?} page {page_size}");
        }
    }
}

#[test]
fn deleting_a_container_removes_its_blobs() {
    let partition = open(MemStore::new());
    partition.create_container(A, "c", vec![], None).expect("create");
    partition.create_container(A, "c-1", vec![], None).expect("create");
    for i in 0..2500 {
        put(&partition, "c", &format!("blob-{i:05}"), b"x");
    }
    put(&partition, "c-1", "keep", b"kept");
    partition
        .delete_container(A, "c", &Conditions::default())
        .expect("delete");
    partition.create_container(A, "c", vec![], None).expect("recreate");
    let page = partition
        .list_blobs(
            A,
            "c",
            &ListBlobsOptions {
                max_results: 10,
                ..Default::default()
            },
        )
        .expect("list");
    assert!(page.items.is_empty(), "a re-created container must be empty");
    assert_eq!(read_all(&partition, "c-1", "keep"), b"kept");
    let containers = partition.list_containers(A, "", None, 10).expect("list");
    assert_eq!(
        containers
            .containers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["c", "c-1"]
    );
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).expect("read_dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Write then delete a lot of blob data; the space comes back to within 10% of what is live.
/// `LAZULI_GC_TEST_BYTES` sets the volume (default 2 GiB).
#[test]
fn garbage_collection_returns_space_of_deleted_blobs() {
    let total: u64 = std::env::var("LAZULI_GC_TEST_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2 << 30);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(
        dir.path(),
        StoreOptions {
            extent_size_bytes_max: 64 << 20,
            ..Default::default()
        },
    )
    .expect("store");
    let options = PartitionOptions {
        gc_grace: Duration::ZERO,
        ..PartitionOptions::default()
    };
    let partition = Partition::open(store, options).expect("open");
    partition.create_container(A, "c", vec![], None).expect("create");
    let blob_bytes = 16usize << 20;
    let chunk: Vec<u8> = (0..blob_bytes).map(|i| (i * 7 % 256) as u8).collect();
    let blobs = (total / blob_bytes as u64).max(2) as usize;
    let mut live = BTreeMap::new();
    for i in 0..blobs {
        let body = UploadedBody {
            inline: None,
            segments: chunk
                .chunks(4 << 20)
                .map(|c| partition.append_segment(c).expect("append"))
                .collect(),
            len: blob_bytes as u64,
            md5: [0; 16],
        };
        let name = format!("blob-{i}");
        partition
            .put_blob(
                A,
                "c",
                &name,
                body,
                HttpHeaders::default(),
                vec![],
                &Conditions::default(),
            )
            .expect("put");
        live.insert(name, ());
    }
    // Keep one blob in ten; delete the rest.
    for i in 0..blobs {
        if i % 10 != 0 {
            partition
                .delete_blob(A, "c", &format!("blob-{i}"), &Conditions::default())
                .expect("delete");
            live.remove(&format!("blob-{i}"));
        }
    }
    for _ in 0..3 {
        partition.collect_garbage().expect("gc");
    }
    let (data_bytes, live_bytes) = partition.data_usage();
    let expected_live = live.len() as u64 * blob_bytes as u64;
    assert_eq!(live_bytes, expected_live);
    let on_disk = dir_bytes(&dir.path().join("blobdata"));
    assert_eq!(
        on_disk, data_bytes,
        "the stream's view of its extents matches the files"
    );
    println!(
        "written {} MiB, live {} MiB, blob-data on disk {} MiB",
        blobs * 16,
        expected_live >> 20,
        on_disk >> 20
    );
    assert!(
        on_disk as f64 <= expected_live as f64 * 1.1,
        "on disk {on_disk} bytes for {expected_live} live bytes"
    );
    for name in live.keys() {
        assert_eq!(read_all(&partition, "c", name).len(), blob_bytes);
    }
}

#[test]
fn committed_entries_take_the_committed_block_even_when_restaged() {
    let partition = open(MemStore::new());
    partition.create_container(A, "c", vec![], None).expect("create");
    let item = |kind, id: &str| BlockListItem { kind, id: id.into() };
    let stage = |id: &str, data: &[u8]| {
        let body = upload(&partition, data, false);
        partition.put_block(A, "c", "b", id, body).expect("block");
    };
    stage("AA==", b"old");
    partition
        .put_block_list(
            A,
            "c",
            "b",
            &[item(BlockListKind::Latest, "AA==")],
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
        )
        .expect("commit");
    stage("AA==", b"newer");
    let list = [item(BlockListKind::Committed, "AA==")];
    partition
        .put_block_list(
            A,
            "c",
            "b",
            &list,
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
        )
        .expect("commit");
    assert_eq!(read_all(&partition, "c", "b"), b"old");
}

/// Snapshots, previous versions and soft-deleted rows share segments with the blob: each row
/// holds its own references, so the counts rebuilt from the rows after a crash equal the
/// running ones at every step, and nothing stays live once every row is gone.
#[test]
fn reference_counts_cover_snapshots_versions_and_soft_deleted_rows() {
    use lazuli_partition::{BlobVersion, DeleteOptions, DeleteSnapshots};
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, "c", vec![], None).expect("create");
    partition.set_versioning(A, true).expect("versioning");
    let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    put(&partition, "c", "x", &data);
    partition
        .create_snapshot(A, "c", "x", vec![], &Conditions::default())
        .expect("snapshot");
    put(&partition, "c", "x", &data[..100]);
    let (store, partition) = assert_live_bytes_match_rows(&store, &partition);
    partition.set_versioning(A, false).expect("versioning off");
    let soft = DeleteOptions {
        snapshots: DeleteSnapshots::Include,
        retention_days: Some(0),
    };
    partition
        .delete_blob_with(A, "c", "x", &BlobVersion::Base, &soft, &Conditions::default())
        .expect("delete");
    let (store, partition) = assert_live_bytes_match_rows(&store, &partition);
    partition.purge_soft_deleted().expect("purge");
    // The versions kept by versioning remain until deleted one by one.
    let versions: Vec<String> = partition
        .list_blobs(
            A,
            "c",
            &ListBlobsOptions {
                max_results: 100,
                include_versions: true,
                ..Default::default()
            },
        )
        .expect("list")
        .items
        .into_iter()
        .filter_map(|item| item.ok().and_then(|(_, row)| row.version_id))
        .collect();
    assert_eq!(versions.len(), 2);
    for version in versions {
        partition
            .delete_blob_with(
                A,
                "c",
                "x",
                &BlobVersion::Version(version),
                &DeleteOptions::default(),
                &Conditions::default(),
            )
            .expect("delete version");
    }
    let (_, partition) = assert_live_bytes_match_rows(&store, &partition);
    assert_eq!(partition.data_usage().1, 0, "no row references data any more");
}

/// Blob data carries a checksum per 64 KiB: a ranged read verifies the chunks it reads, so a
/// damaged byte on disk fails every read that covers it (an error, never other bytes) and no
/// read of the rest of its segment, and a ranged read of a 4 MiB segment costs its range.
#[test]
fn damaged_blob_data_fails_only_the_ranges_that_cover_it() {
    use lazuli_partition::PartitionError;
    use lazuli_stream::record::{FrameVersion, CHECKSUM_CHUNK_BYTES, FRAME_HEADER_BYTES};
    use lazuli_stream::StreamError;

    const CHUNK: u32 = CHECKSUM_CHUNK_BYTES as u32;
    let store = MemStore::new();
    let partition = Partition::open(store.clone(), PartitionOptions::default()).expect("open");
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(7) % 253) as u8).collect();
    let segment = partition.append_segment(&data).expect("append");
    let payload_at = segment.offset + (FRAME_HEADER_BYTES + FrameVersion::Chunked.table_len(data.len())) as u64;
    let damaged = 5 * CHUNK + 100;
    assert!(store.corrupt_byte("blobdata", segment.extent, payload_at + u64::from(damaged)));
    for (skip, len) in [
        (0, 4096),
        (6 * CHUNK, CHUNK),
        (5 * CHUNK - 10, 10),
        (7 * CHUNK - 1, 2),
        (63 * CHUNK, CHUNK),
    ] {
        let read = partition
            .read_segment_range(segment, skip, len)
            .unwrap_or_else(|e| panic!("{skip}+{len} is clear of the damage: {e}"));
        assert_eq!(read, data[skip as usize..(skip + len) as usize], "{skip}+{len}");
    }
    for (skip, len) in [
        (5 * CHUNK, 1),
        (5 * CHUNK - 10, 200),
        (6 * CHUNK - 1, 2),
        (damaged, 1),
        (0, segment.len),
    ] {
        let read = partition.read_segment_range(segment, skip, len);
        assert!(
            matches!(read, Err(PartitionError::Stream(StreamError::Corrupt { .. }))),
            "{skip}+{len}: {read:?}"
        );
    }
    assert!(partition.read_segment(segment).is_err());
}

/// Put Block reads no other block of its blob, yet the service's limits hold exactly: ids of
/// one length per blob, at most 100,000 uncommitted blocks (a new id past that is refused, a
/// staged id may be replaced), across a restart, and a commit that discards all of them
/// (64-character ids of a blob with a 100-character name: ~19 MiB of deletions) frees the
/// count.
#[test]
fn put_block_keeps_the_uncommitted_limit_exactly() {
    const LIMIT: usize = 100_000;
    let name = "n".repeat(100);
    let id = |i: usize| format!("{i:064}");
    let store = MemStore::new();
    let options = PartitionOptions {
        table: TableOptions {
            background: false,
            ..Default::default()
        },
        ..options()
    };
    let mut partition = Partition::open(store.clone(), options.clone()).expect("open");
    partition.create_container(A, "c", vec![], None).expect("create");
    let empty = || UploadedBody {
        inline: None,
        segments: vec![],
        len: 0,
        md5: lazuli_types::checksum::md5(b""),
    };
    for i in 0..LIMIT {
        partition
            .put_block(A, "c", &name, &id(i), empty())
            .unwrap_or_else(|e| panic!("block {i}: {e:?}"));
    }
    let wrong_length = partition.put_block(A, "c", &name, "1234567", empty()).unwrap_err();
    assert_eq!(wrong_length.code, ErrorCode::InvalidBlobOrBlock);
    let over = partition.put_block(A, "c", &name, &id(LIMIT), empty()).unwrap_err();
    assert_eq!(over.code, ErrorCode::BlockCountExceedsLimit);
    partition
        .put_block(A, "c", &name, &id(7), upload(&partition, b"again", false))
        .expect("a staged id is replaced, not counted");
    let store = store.crash_process();
    partition = Partition::open(store.clone(), options).expect("reopen");
    let over = partition.put_block(A, "c", &name, &id(LIMIT + 1), empty()).unwrap_err();
    assert_eq!(
        over.code,
        ErrorCode::BlockCountExceedsLimit,
        "counted again after a restart"
    );
    let item = |id: &str| BlockListItem {
        kind: BlockListKind::Uncommitted,
        id: id.into(),
    };
    partition
        .put_block_list(
            A,
            "c",
            &name,
            &[item(&id(7)), item(&id(LIMIT - 1))],
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
        )
        .expect("commit two");
    assert_eq!(read_all(&partition, "c", &name), b"again");
    for i in 0..3 {
        partition
            .put_block(A, "c", &name, &format!("x{i:063}"), empty())
            .expect("the commit discarded the rest");
    }
    assert_eq!(
        partition.get_block_list(A, "c", &name).expect("list").uncommitted.len(),
        3
    );
}

/// A blob with more uncommitted blocks than one write's batch deletes (here 7 rows a batch;
/// 4096 by default, with names up to 3 KiB): a commit, a Put Blob and a delete each discard
/// all of them, on both namespaces, after a commit that keeps the listed ones' data intact
/// across a restart, and nothing staged for the name is left.
#[test]
fn writes_discard_more_uncommitted_blocks_than_one_batch_holds() {
    const STAGED: usize = 60;
    const COMMITTED: usize = 25;
    let name = "\u{20ac}".repeat(300);
    let id = |i: usize| format!("{i:064}");
    let item = |i: usize| BlockListItem {
        kind: BlockListKind::Latest,
        id: id(i),
    };
    let options = PartitionOptions {
        staged_rows_per_batch: 7,
        ..options()
    };
    for hns in [false, true] {
        let store = MemStore::new();
        let mut partition = Partition::open(store.clone(), options.clone()).expect("open");
        partition.set_hns(A, hns);
        partition.create_container(A, "c", vec![], None).expect("create");
        let stage = |partition: &Partition, count: usize| {
            for i in 0..count {
                let data = format!("{i};");
                partition
                    .put_block(A, "c", &name, &id(i), upload(partition, data.as_bytes(), false))
                    .unwrap_or_else(|e| panic!("block {i}: {e:?}"));
            }
        };
        stage(&partition, STAGED);
        // Committed from the end of the staged rows, which the commit's own batch does not
        // delete: the new row must hold their data when the sweep drops the staged rows.
        let list: Vec<BlockListItem> = (STAGED - COMMITTED..STAGED).map(item).collect();
        partition
            .put_block_list(
                A,
                "c",
                &name,
                &list,
                HttpHeaders::default(),
                vec![],
                &Conditions::default(),
            )
            .expect("commit");
        let expected: Vec<u8> = (STAGED - COMMITTED..STAGED)
            .flat_map(|i| format!("{i};").into_bytes())
            .collect();
        let lists = partition.get_block_list(A, "c", &name).expect("list");
        assert_eq!(
            (lists.committed.len(), lists.uncommitted.len()),
            (COMMITTED, 0),
            "hns {hns}"
        );
        // Every swept row's reference went, and only those: the live bytes are the
        // committed blocks', as counted again from the rows after a restart.
        assert_eq!(partition.data_usage().1, expected.len() as u64, "hns {hns}");
        partition = Partition::open(store.crash_process(), options.clone()).expect("reopen");
        partition.set_hns(A, hns);
        assert_eq!(partition.data_usage().1, expected.len() as u64, "hns {hns}");
        assert_eq!(read_all(&partition, "c", &name), expected, "hns {hns}");
        assert!(partition
            .get_block_list(A, "c", &name)
            .expect("list")
            .uncommitted
            .is_empty());

        // Put Blob discards them too; then a delete does.
        stage(&partition, 30);
        put(&partition, "c", &name, b"whole");
        assert!(partition
            .get_block_list(A, "c", &name)
            .expect("list")
            .uncommitted
            .is_empty());
        assert_eq!(read_all(&partition, "c", &name), b"whole");
        stage(&partition, 30);
        partition
            .delete_blob(A, "c", &name, &Conditions::default())
            .expect("delete");
        // Nothing staged is left for the name: ids of another length are accepted.
        partition
            .put_block(A, "c", &name, "short", upload(&partition, b"s", false))
            .expect("a new upload after the delete");
        let lists = partition.get_block_list(A, "c", &name).expect("list");
        assert_eq!(lists.uncommitted, vec![("short".to_string(), 1)], "hns {hns}");
    }
}

/// Get Blob Properties of a block blob leaves its block list undecoded, and a ranged Get
/// decodes only the blocks holding the range; the rows they get say so, answer every
/// property and the range's exact bytes, and the blob's next write still has every block
/// (writers read the whole row themselves).
#[test]
fn properties_reads_leave_block_lists_undecoded() {
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, "c", vec![], None).expect("create");
    let mut expected = Vec::new();
    let mut list = Vec::new();
    for i in 0..300u32 {
        let id = format!("{i:04}");
        let data = format!("block {i};").into_bytes();
        partition
            .put_block(A, "c", "b", &id, upload(&partition, &data, false))
            .expect("block");
        expected.extend_from_slice(&data);
        list.push(BlockListItem {
            kind: BlockListKind::Latest,
            id,
        });
    }
    let metadata = vec![("k".to_string(), "v".to_string())];
    partition
        .put_block_list(
            A,
            "c",
            "b",
            &list,
            HttpHeaders::default(),
            metadata.clone(),
            &Conditions::default(),
        )
        .expect("commit");
    let whole = partition
        .get_blob(A, "c", "b", &Conditions::default())
        .expect("get")
        .expect("row");
    let properties = partition
        .get_blob_within(A, "c", "b", &Conditions::default(), Some(0..0))
        .expect("properties")
        .expect("row");
    assert!(properties.blocks_omitted && properties.blocks.is_empty() && properties.inline.is_none());
    assert!(!whole.blocks_omitted);
    assert_eq!(whole.blocks.len(), 300);
    assert_eq!(
        (&properties.etag, properties.content_length, &properties.metadata),
        (&whole.etag, expected.len() as u64, &metadata)
    );
    // A ranged read decodes the blocks holding the range, and reads exactly its bytes.
    let len = expected.len() as u64;
    for (start, end) in [
        (0, 1),
        (0, 9),
        (8, 9),
        (9, 30),
        (100, 2000),
        (len - 1, len),
        (len - 20, len),
        (0, len),
    ] {
        let ranged = partition
            .get_blob_within(A, "c", "b", &Conditions::default(), Some(start..end))
            .expect("ranged")
            .expect("row");
        assert!(ranged.blocks_omitted);
        let needed = whole
            .blocks
            .iter()
            .scan(0u64, |at, block| {
                let from = *at;
                *at += block.size;
                Some((from, *at))
            })
            .filter(|(from, to)| *to > start && *from < end)
            .count();
        assert_eq!(ranged.blocks.len(), needed, "blocks decoded for {start}..{end}");
        let bytes = partition.read_blob_bytes(&ranged, start, end - start).expect("read");
        assert_eq!(bytes, expected[start as usize..end as usize], "bytes {start}..{end}");
    }
    let beyond = partition
        .get_blob_within(A, "c", "b", &Conditions::default(), Some(len + 5..len + 10))
        .expect("ranged past the end")
        .expect("row");
    assert!(beyond.blocks.is_empty() && beyond.blocks_omitted);
    partition
        .update_blob(A, "c", "b", &Conditions::default(), |row| row.metadata.clear())
        .expect("a write after a properties read");
    assert_eq!(read_all(&partition, "c", "b"), expected);
    let (_, reopened) = assert_live_bytes_match_rows(&store, &partition);
    assert_eq!(read_all(&reopened, "c", "b"), expected);
}
