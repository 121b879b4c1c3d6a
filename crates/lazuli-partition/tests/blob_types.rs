//! Append and page blobs: semantics, segment references, persistence across restarts, and a
//! property test of page writes, clears and resizes against a plain byte-vector model.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lazuli_partition::{
    AppendConditions, BlobRow, BlobVersion, HttpHeaders, Partition, PartitionOptions, SequenceAction,
    SequenceConditions, UploadedBody,
};
use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::TableOptions;
use lazuli_types::conditions::Conditions;
use lazuli_types::ErrorCode;
use proptest::prelude::*;

const A: &str = "acct";
const PAGE: u64 = 512;

fn options() -> PartitionOptions {
    PartitionOptions {
        inline_bytes_max: 16,
        // Smaller than a page, so that one page write spans several segments.
        segment_bytes_max: 200,
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

/// Uploads `data` the way the front-end does for appends and pages: segment by segment.
fn upload(partition: &Partition, data: &[u8]) -> UploadedBody {
    let segments = data
        .chunks(partition.options().segment_bytes_max)
        .map(|chunk| partition.append_segment(chunk).expect("append"))
        .collect();
    UploadedBody {
        inline: None,
        segments,
        len: data.len() as u64,
        md5: lazuli_types::checksum::md5(data),
    }
}

fn inline(data: &[u8]) -> UploadedBody {
    UploadedBody {
        inline: Some(data.to_vec()),
        segments: vec![],
        len: data.len() as u64,
        md5: lazuli_types::checksum::md5(data),
    }
}

fn row(partition: &Partition, blob: &str) -> BlobRow {
    partition
        .get_blob(A, "c", blob, &Conditions::default())
        .expect("get")
        .expect("not 304")
}

fn read_all(partition: &Partition, blob: &str) -> Vec<u8> {
    let row = row(partition, blob);
    partition.read_blob_bytes(&row, 0, row.content_length).expect("read")
}

/// Restarts the partition (a process crash) and checks that the live bytes counted while
/// running equal those rebuilt from the rows.
fn restart(store: &Arc<MemStore>, partition: &Partition) -> (Arc<MemStore>, Arc<Partition>) {
    let (_, live) = partition.data_usage();
    let store = store.crash_process();
    let reopened = open(store.clone());
    assert_eq!(reopened.data_usage().1, live, "reference counts drifted from the rows");
    (store, reopened)
}

/// Live bytes equal the bytes of the distinct segments the rows name (when only `blobs` hold
/// data): an overwritten segment that no row uses is no longer counted.
fn assert_live_is_exactly(partition: &Partition, blobs: &[&str]) {
    let mut segments = HashSet::new();
    for blob in blobs {
        if let Ok(Some(row)) = partition.get_blob(A, "c", blob, &Conditions::default()) {
            segments.extend(row.segments().copied());
        }
    }
    let expected: u64 = segments.iter().map(|s| s.len as u64).sum();
    assert_eq!(partition.data_usage().1, expected, "live bytes != referenced segments");
}

/// The written ranges of a page blob as inclusive (first, last).
fn page_ranges(partition: &Partition, blob: &str, range: Option<(u64, u64)>) -> Vec<(u64, u64)> {
    let (_, ranges) = partition
        .get_page_ranges(A, "c", blob, &BlobVersion::Base, None, &none(), range)
        .expect("ranges")
        .expect("not 304");
    assert!(ranges.iter().all(|r| !r.2), "no cleared ranges without a diff");
    ranges.into_iter().map(|(first, last, _)| (first, last)).collect()
}

fn setup() -> (Arc<MemStore>, Arc<Partition>) {
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, "c", vec![], None).expect("container");
    (store, partition)
}

fn none() -> Conditions {
    Conditions::default()
}

#[test]
fn append_blob_grows_by_blocks_and_seals() {
    let (store, partition) = setup();
    let created = partition
        .create_append_blob(A, "c", "log", HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    assert_eq!((created.blob_type.as_str(), created.content_length), ("AppendBlob", 0));
    assert_eq!(read_all(&partition, "log"), b"");
    let no_append = AppendConditions::default();
    let (r, offset) = partition
        .append_block(A, "c", "log", inline(b"hello "), &none(), &no_append)
        .expect("append inline");
    assert_eq!((offset, r.blocks.len(), r.content_length), (0, 1, 6));
    let big = vec![7u8; 1000];
    let (r, offset) = partition
        .append_block(A, "c", "log", upload(&partition, &big), &none(), &no_append)
        .expect("append segments");
    assert_eq!((offset, r.blocks.len(), r.content_length), (6, 2, 1006));
    let mut expected = b"hello ".to_vec();
    expected.extend_from_slice(&big);
    assert_eq!(read_all(&partition, "log"), expected);
    assert_live_is_exactly(&partition, &["log"]);

    // Append position and max size conditions.
    let wrong_position = AppendConditions {
        append_position: Some(5),
        max_size: None,
    };
    let refused = partition.append_block(A, "c", "log", inline(b"x"), &none(), &wrong_position);
    assert_eq!(refused.unwrap_err().code, ErrorCode::AppendPositionConditionNotMet);
    let too_big = AppendConditions {
        append_position: None,
        max_size: Some(1006),
    };
    let refused = partition.append_block(A, "c", "log", upload(&partition, &big), &none(), &too_big);
    assert_eq!(refused.unwrap_err().code, ErrorCode::MaxBlobSizeConditionNotMet);
    let exact = AppendConditions {
        append_position: Some(1006),
        max_size: Some(1007),
    };
    partition
        .append_block(A, "c", "log", inline(b"!"), &none(), &exact)
        .expect("conditions met");
    expected.push(b'!');
    // Refused appends released their uploads.
    assert_live_is_exactly(&partition, &["log"]);

    // Block operations do not apply to append blobs, nor appends to block blobs.
    let refused = partition.put_block(A, "c", "log", "AAAA", upload(&partition, b"0123456789abcdefXYZ"));
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidBlobType);
    partition
        .put_blob(A, "c", "block", inline(b"b"), HttpHeaders::default(), vec![], &none())
        .expect("block blob");
    let refused = partition.append_block(A, "c", "block", inline(b"x"), &none(), &no_append);
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidBlobType);
    let refused = partition.append_block(A, "c", "nothing", inline(b"x"), &none(), &no_append);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BlobNotFound);

    // Everything survives a restart; then seal.
    let (store, partition) = restart(&store, &partition);
    assert_eq!(read_all(&partition, "log"), expected);
    let sealed = partition
        .seal_append_blob(A, "c", "log", &none(), &no_append)
        .expect("seal");
    assert!(sealed.sealed);
    let refused = partition.append_block(A, "c", "log", inline(b"x"), &none(), &no_append);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BlobIsSealed);
    let (store, partition) = restart(&store, &partition);
    assert!(row(&partition, "log").sealed);
    assert_eq!(read_all(&partition, "log"), expected);
    assert_live_is_exactly(&partition, &["log", "block"]);

    // Overwriting with a block blob drops every appended segment.
    partition
        .put_blob(A, "c", "log", inline(b"z"), HttpHeaders::default(), vec![], &none())
        .expect("overwrite");
    partition.delete_blob(A, "c", "block", &none()).expect("delete");
    assert_eq!(partition.data_usage().1, 0);
    restart(&store, &partition);
}

/// A partition whose segments are 64 KiB (not the other tests' 200 bytes), so that merged
/// blocks and pages become few segments, as they do with the default 4 MiB.
fn open_with_large_segments(store: Arc<MemStore>) -> Arc<Partition> {
    let options = PartitionOptions {
        segment_bytes_max: 64 * 1024,
        ..options()
    };
    Partition::open(store, options).expect("open")
}

/// Small appended blocks are merged into larger ones so that the row stays small however many
/// appends a blob takes, while the bytes, the committed block count and the segment
/// references stay exact, across restarts and garbage collection.
#[test]
fn many_small_appends_keep_the_row_small_and_the_bytes_exact() {
    use lazuli_partition::{MERGED_BLOCK_BYTES_MIN, MERGE_RUN_BLOCKS};
    let open = open_with_large_segments;
    let restart = |store: &Arc<MemStore>, partition: &Partition| {
        let live = partition.data_usage().1;
        let store = store.crash_process();
        let reopened = open(store.clone());
        assert_eq!(reopened.data_usage().1, live, "reference counts drifted from the rows");
        (store, reopened)
    };
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, "c", vec![], None).expect("container");
    partition
        .create_append_blob(A, "c", "log", HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    let mut expected = Vec::new();
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let (mut store, mut partition) = (store, partition);
    for call in 1..=600u64 {
        // Mostly small bodies, inline or in segments, now and then one past the merge size.
        let len = match next() % 50 {
            0 => MERGED_BLOCK_BYTES_MIN as usize + (next() % 1000) as usize,
            n if n < 25 => 1 + (next() % 15) as usize,
            _ => 17 + (next() % 3000) as usize,
        };
        let data: Vec<u8> = (0..len).map(|i| (call as usize * 31 + i) as u8).collect();
        let body = if len <= 16 {
            inline(&data)
        } else {
            upload(&partition, &data)
        };
        let appended = partition
            .append_block(A, "c", "log", body, &none(), &AppendConditions::default())
            .expect("append");
        assert_eq!(appended.1, expected.len() as u64, "append offset of call {call}");
        expected.extend_from_slice(&data);
        let current = row(&partition, "log");
        assert_eq!(current.committed_block_count(), call);
        let small_at_end = current
            .blocks
            .iter()
            .rev()
            .take_while(|b| b.size < MERGED_BLOCK_BYTES_MIN)
            .count();
        assert!(
            small_at_end < MERGE_RUN_BLOCKS,
            "call {call}: {small_at_end} small blocks at the end"
        );
        let large = current
            .blocks
            .iter()
            .filter(|b| b.size >= MERGED_BLOCK_BYTES_MIN)
            .count();
        assert!(
            current.blocks.len() <= 2 * large + MERGE_RUN_BLOCKS,
            "call {call}: {} blocks, {large} large",
            current.blocks.len()
        );
        if call % 150 == 0 {
            assert_eq!(read_all(&partition, "log"), expected, "after call {call}");
            for (start, len) in [
                (0, 1),
                (expected.len() as u64 / 3, 5000),
                (expected.len() as u64 - 7, 7),
            ] {
                let bytes = partition.read_blob_bytes(&current, start, len).expect("range");
                assert_eq!(bytes, &expected[start as usize..(start + len) as usize]);
            }
            assert_live_is_exactly(&partition, &["log"]);
            (store, partition) = restart(&store, &partition);
            assert_eq!(row(&partition, "log").committed_block_count(), call);
        }
    }
    let blocks = &row(&partition, "log").blocks;
    assert!(blocks.len() < 100, "600 appends merged into {} blocks", blocks.len());
    let segments: usize = blocks.iter().map(|b| b.segments.len()).sum();
    assert!(segments < 250, "{segments} segments");
    partition.collect_garbage().expect("gc");
    assert_eq!(read_all(&partition, "log"), expected);
    assert_live_is_exactly(&partition, &["log"]);
}

/// Small sequential page writes are merged into few extents, so the row stays small; the
/// bytes, the page ranges and the references stay exact. With a snapshot, pages it shares are
/// not copied: the diff against it names only what was written since.
#[test]
fn sequential_page_writes_merge_except_what_a_snapshot_shares() {
    use lazuli_partition::MERGE_RUN_BLOCKS;
    let open = open_with_large_segments;
    let store = MemStore::new();
    let partition = open(store.clone());
    partition.create_container(A, "c", vec![], None).expect("container");
    let size = 1024 * PAGE;
    partition
        .create_page_blob(A, "c", "d", size, 0, HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    let no_seq = SequenceConditions::default();
    let mut expected = vec![0u8; size as usize];
    let write = |partition: &Partition, page: u64, pages: u64, expected: &mut Vec<u8>| {
        let data: Vec<u8> = (0..pages * PAGE).map(|i| (i / 7 + page * 3) as u8).collect();
        let at = page * PAGE;
        partition
            .write_pages(A, "c", "d", at, upload(partition, &data), &none(), &no_seq)
            .expect("write");
        expected[at as usize..(at + data.len() as u64) as usize].copy_from_slice(&data);
    };
    for page in 0..300 {
        write(&partition, page, 1, &mut expected);
        assert!(
            row(&partition, "d").pages.len() < MERGE_RUN_BLOCKS + 4,
            "after page {page}"
        );
    }
    // An overwrite in the middle of merged pages, and one two pages long.
    write(&partition, 100, 1, &mut expected);
    write(&partition, 299, 2, &mut expected);
    assert_eq!(read_all(&partition, "d"), expected);
    assert_eq!(page_ranges(&partition, "d", None), vec![(0, 301 * PAGE - 1)]);
    assert_live_is_exactly(&partition, &["d"]);

    let (snapshot, _) = partition
        .create_snapshot(A, "c", "d", vec![], &none())
        .expect("snapshot");
    for page in 301..400 {
        write(&partition, page, 1, &mut expected);
    }
    let diff = partition
        .get_page_ranges(A, "c", "d", &BlobVersion::Base, Some(&snapshot), &none(), None)
        .expect("diff")
        .expect("not 304")
        .1;
    assert_eq!(diff, vec![(301 * PAGE, 400 * PAGE - 1, false)]);
    assert_eq!(read_all(&partition, "d"), expected);

    let live = partition.data_usage().1;
    drop(partition);
    let partition = open(store.crash_process());
    assert_eq!(partition.data_usage().1, live, "reference counts drifted from the rows");
    assert_eq!(read_all(&partition, "d"), expected);
}

#[test]
fn page_blob_writes_clears_and_sequence_numbers() {
    let (store, partition) = setup();
    let created = partition
        .create_page_blob(
            A,
            "c",
            "disk",
            8 * PAGE,
            5,
            HttpHeaders::default(),
            vec![],
            vec![],
            &none(),
        )
        .expect("create");
    assert_eq!((created.content_length, created.sequence_number), (8 * PAGE, 5));
    assert_eq!(read_all(&partition, "disk"), vec![0; 8 * PAGE as usize]);
    let no_seq = SequenceConditions::default();
    let ones = vec![1u8; 2 * PAGE as usize];
    partition
        .write_pages(A, "c", "disk", PAGE, upload(&partition, &ones), &none(), &no_seq)
        .expect("write");
    let ranges = |p: &Partition| page_ranges(p, "disk", None);
    assert_eq!(ranges(&partition), vec![(512, 1535)]);
    // Misaligned, out-of-range and wrong-type writes.
    let refused = partition.write_pages(A, "c", "disk", 100, upload(&partition, &ones), &none(), &no_seq);
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidHeaderValue);
    let refused = partition.write_pages(A, "c", "disk", 7 * PAGE, upload(&partition, &ones), &none(), &no_seq);
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidPageRange);
    let refused = partition.clear_pages(A, "c", "disk", 0, 100, &none(), &no_seq);
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidHeaderValue);
    // Sequence number conditions: the number is 5.
    for (sequence, ok) in [
        (
            SequenceConditions {
                le: Some(5),
                ..Default::default()
            },
            true,
        ),
        (
            SequenceConditions {
                le: Some(4),
                ..Default::default()
            },
            false,
        ),
        (
            SequenceConditions {
                lt: Some(5),
                ..Default::default()
            },
            false,
        ),
        (
            SequenceConditions {
                lt: Some(6),
                ..Default::default()
            },
            true,
        ),
        (
            SequenceConditions {
                eq: Some(5),
                ..Default::default()
            },
            true,
        ),
        (
            SequenceConditions {
                eq: Some(6),
                ..Default::default()
            },
            false,
        ),
    ] {
        let result = partition.clear_pages(A, "c", "disk", 6 * PAGE, 7 * PAGE, &none(), &sequence);
        match ok {
            true => assert!(result.is_ok(), "{sequence:?}"),
            false => assert_eq!(result.unwrap_err().code, ErrorCode::SequenceNumberConditionNotMet),
        }
    }
    // A partial overwrite keeps the old segments referenced for the pages they still hold.
    let twos = vec![2u8; PAGE as usize];
    partition
        .write_pages(A, "c", "disk", 2 * PAGE, upload(&partition, &twos), &none(), &no_seq)
        .expect("overwrite half");
    let mut expected = vec![0u8; 8 * PAGE as usize];
    expected[512..1024].fill(1);
    expected[1024..1536].fill(2);
    assert_eq!(read_all(&partition, "disk"), expected);
    assert_eq!(ranges(&partition), vec![(512, 1535)]);
    assert_live_is_exactly(&partition, &["disk"]);
    // Clearing the middle of a range splits it.
    partition
        .write_pages(
            A,
            "c",
            "disk",
            4 * PAGE,
            upload(&partition, &vec![3u8; 3 * PAGE as usize]),
            &none(),
            &no_seq,
        )
        .expect("write");
    partition
        .clear_pages(A, "c", "disk", 5 * PAGE, 6 * PAGE, &none(), &no_seq)
        .expect("clear");
    expected[2048..2560].fill(3);
    expected[3072..3584].fill(3);
    assert_eq!(ranges(&partition), vec![(512, 1535), (2048, 2559), (3072, 3583)]);
    let clipped = page_ranges(&partition, "disk", Some((1024, 2560)));
    assert_eq!(clipped, vec![(1024, 1535), (2048, 2559)]);
    assert_live_is_exactly(&partition, &["disk"]);
    let (store, partition) = restart(&store, &partition);
    assert_eq!(read_all(&partition, "disk"), expected);

    // Resize and sequence number actions.
    let set = |p: &Partition, size, action| p.set_page_blob_properties(A, "c", "disk", &none(), None, size, action);
    let r = set(&partition, Some(3 * PAGE), Some(SequenceAction::Increment)).expect("shrink");
    assert_eq!((r.content_length, r.sequence_number), (3 * PAGE, 6));
    assert_eq!(read_all(&partition, "disk"), expected[..1536].to_vec());
    assert_live_is_exactly(&partition, &["disk"]);
    let r = set(&partition, Some(6 * PAGE), Some(SequenceAction::Max(3))).expect("grow");
    assert_eq!((r.content_length, r.sequence_number), (6 * PAGE, 6));
    let mut grown = expected[..1536].to_vec();
    grown.resize(6 * PAGE as usize, 0);
    assert_eq!(read_all(&partition, "disk"), grown, "grown pages read as zeros");
    let r = set(&partition, None, Some(SequenceAction::Update(2))).expect("update");
    assert_eq!(r.sequence_number, 2);
    assert_eq!(
        set(&partition, Some(100), None).unwrap_err().code,
        ErrorCode::InvalidHeaderValue
    );
    partition
        .put_blob(A, "c", "block", inline(b"b"), HttpHeaders::default(), vec![], &none())
        .expect("block blob");
    let refused = partition.write_pages(A, "c", "block", 0, upload(&partition, &twos), &none(), &no_seq);
    assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidBlobType);
    let (store, partition) = restart(&store, &partition);
    assert_eq!(read_all(&partition, "disk"), grown);
    assert_eq!(row(&partition, "disk").sequence_number, 2);
    partition.delete_blob(A, "c", "disk", &none()).expect("delete");
    partition.delete_blob(A, "c", "block", &none()).expect("delete");
    assert_eq!(partition.data_usage().1, 0);
    restart(&store, &partition);
}

#[test]
fn full_page_overwrite_drops_the_old_segment() {
    let (_store, partition) = setup();
    partition
        .create_page_blob(
            A,
            "c",
            "d",
            2 * PAGE,
            0,
            HttpHeaders::default(),
            vec![],
            vec![],
            &none(),
        )
        .expect("create");
    let no_seq = SequenceConditions::default();
    let first = upload(&partition, &vec![1u8; PAGE as usize]);
    partition
        .write_pages(A, "c", "d", 0, first, &none(), &no_seq)
        .expect("write");
    assert_eq!(partition.data_usage().1, PAGE);
    // Inline bodies (as the partition API allows) go to the data stream too.
    let second = inline(&[2u8; PAGE as usize]);
    partition
        .write_pages(A, "c", "d", 0, second, &none(), &no_seq)
        .expect("overwrite");
    assert_eq!(
        partition.data_usage().1,
        PAGE,
        "the overwritten page's segments are released"
    );
    partition
        .clear_pages(A, "c", "d", 0, PAGE, &none(), &no_seq)
        .expect("clear");
    assert_eq!(partition.data_usage().1, 0, "cleared pages take no space");
}

#[derive(Clone, Debug)]
enum Op {
    Write { page: u64, pages: u64, byte: u8 },
    Clear { page: u64, pages: u64 },
    Resize { pages: u64 },
    Restart,
}

const MODEL_PAGES: u64 = 12;
/// The model's pages start six pages before the first page map chunk boundary, so that
/// writes, clears and resizes cross it.
const MODEL_BASE: u64 = lazuli_partition::page::PAGE_CHUNK_BYTES - 6 * PAGE;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..MODEL_PAGES, 1..4u64, any::<u8>()).prop_map(|(page, pages, byte)| Op::Write { page, pages, byte }),
        2 => (0..MODEL_PAGES, 1..5u64).prop_map(|(page, pages)| Op::Clear { page, pages }),
        1 => (0..=MODEL_PAGES).prop_map(|pages| Op::Resize { pages }),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Writes, clears and resizes of a page blob (across a page map chunk boundary) read back
    /// like a plain byte vector, report the pages written, and keep exactly the
    /// overwritten-but-still-used segments live.
    #[test]
    fn page_blob_matches_a_byte_vector(ops in proptest::collection::vec(op(), 1..40)) {
        let (mut store, mut partition) = setup();
        partition
            .create_page_blob(A, "c", "p", MODEL_BASE + MODEL_PAGES * PAGE, 0, HttpHeaders::default(), vec![], vec![], &none())
            .expect("create");
        let mut bytes = vec![0u8; (MODEL_PAGES * PAGE) as usize];
        let mut written = vec![false; MODEL_PAGES as usize];
        let no_seq = SequenceConditions::default();
        for (n, op) in ops.into_iter().enumerate() {
            let size_pages = written.len() as u64;
            match op {
                Op::Write { page, pages, byte } => {
                    // Distinct bytes within a write, so that misplaced slices show.
                    let data: Vec<u8> = (0..pages * PAGE).map(|i| byte.wrapping_add((i / 7) as u8)).collect();
                    let result = partition.write_pages(A, "c", "p", MODEL_BASE + page * PAGE, upload(&partition, &data), &none(), &no_seq);
                    if page + pages > size_pages {
                        prop_assert_eq!(result.unwrap_err().code, ErrorCode::InvalidPageRange);
                    } else {
                        result.expect("write");
                        bytes[(page * PAGE) as usize..((page + pages) * PAGE) as usize].copy_from_slice(&data);
                        written[page as usize..(page + pages) as usize].fill(true);
                    }
                }
                Op::Clear { page, pages } => {
                    let result = partition.clear_pages(A, "c", "p", MODEL_BASE + page * PAGE, MODEL_BASE + (page + pages) * PAGE, &none(), &no_seq);
                    if page + pages > size_pages {
                        prop_assert_eq!(result.unwrap_err().code, ErrorCode::InvalidPageRange);
                    } else {
                        result.expect("clear");
                        bytes[(page * PAGE) as usize..((page + pages) * PAGE) as usize].fill(0);
                        written[page as usize..(page + pages) as usize].fill(false);
                    }
                }
                Op::Resize { pages } => {
                    partition
                        .set_page_blob_properties(A, "c", "p", &none(), None, Some(MODEL_BASE + pages * PAGE), None)
                        .expect("resize");
                    bytes.resize((pages * PAGE) as usize, 0);
                    written.resize(pages as usize, false);
                }
                Op::Restart => {
                    (store, partition) = restart(&store, &partition);
                }
            }
            let row = row(&partition, "p");
            let model_len = row.content_length - MODEL_BASE;
            let got = partition.read_blob_bytes(&row, MODEL_BASE, model_len).expect("read");
            prop_assert_eq!(got, bytes.clone(), "content after op {}", n);
            // A few ranged reads that straddle page, segment and chunk boundaries.
            for (start, len) in [(100u64, 1000u64), (511, 2), (1000, 3000)] {
                let got = partition.read_blob_bytes(&row, MODEL_BASE + start, len).expect("read range");
                let from = (start as usize).min(bytes.len());
                let to = ((start + len) as usize).min(bytes.len());
                prop_assert_eq!(got, bytes[from..to].to_vec());
            }
            let mut model_ranges: Vec<(u64, u64)> = Vec::new();
            for (page, _) in written.iter().enumerate().filter(|(_, w)| **w) {
                let (first, last) = (MODEL_BASE + page as u64 * PAGE, MODEL_BASE + (page as u64 + 1) * PAGE - 1);
                match model_ranges.last_mut() {
                    Some(range) if range.1 + 1 == first => range.1 = last,
                    _ => model_ranges.push((first, last)),
                }
            }
            let ranges = page_ranges(&partition, "p", None);
            prop_assert_eq!(ranges, model_ranges);
            assert_live_is_exactly(&partition, &["p"]);
        }
        restart(&store, &partition);
    }
}

/// The page map chunk rows of blob `d` (see `page.rs`), key to bytes.
fn page_chunk_rows(partition: &Partition) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    let prefix = b"Gacct/c/d\0".to_vec();
    let end = lazuli_partition::keys::prefix_end(&prefix);
    partition
        .table()
        .scan(&prefix, end.as_deref(), 100_000)
        .expect("scan")
        .into_iter()
        .collect()
}

/// The chunk index a chunk row's key names (its last 16 hex digits).
fn chunk_of_key(key: &[u8]) -> u64 {
    u64::from_str_radix(std::str::from_utf8(&key[key.len() - 16..]).expect("hex"), 16).expect("hex")
}

/// Pages written at random offsets of a large page blob: each write rewrites only the chunk
/// rows of the offsets it touches and the blob row never holds the map, whatever the number of
/// writes; the bytes, page ranges, diffs and references stay exact across restarts, garbage
/// collection, snapshots, soft delete and undelete, versions, overwrites and deletes. A blob
/// whose map a build before chunk rows kept in its row moves it out on its next write.
#[test]
fn random_page_writes_rewrite_only_their_chunks() {
    use lazuli_partition::page::PAGE_CHUNK_BYTES;
    let chunks = 12u64;
    let size = chunks * PAGE_CHUNK_BYTES;
    let (mut store, mut partition) = setup();
    partition
        .create_page_blob(A, "c", "d", size, 0, HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    let no_seq = SequenceConditions::default();
    let mut expected = vec![0u8; size as usize];
    let mut written = vec![false; (size / PAGE) as usize];
    let mut seed = 11u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let stored_row_len = |partition: &Partition| {
        let key = lazuli_partition::keys::blob(A, "c", "d");
        partition.table().get(&key).expect("get").expect("row").len()
    };
    let model_ranges = |written: &[bool]| {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for (page, _) in written.iter().enumerate().filter(|(_, w)| **w) {
            let (first, last) = (page as u64 * PAGE, (page as u64 + 1) * PAGE - 1);
            match ranges.last_mut() {
                Some(range) if range.1 + 1 == first => range.1 = last,
                _ => ranges.push((first, last)),
            }
        }
        ranges
    };
    for n in 0..400u64 {
        let pages = 1 + next() % 8;
        // Every tenth write ends exactly on a chunk boundary or crosses one.
        let page = if n % 10 == 0 {
            (1 + next() % (chunks - 1)) * (PAGE_CHUNK_BYTES / PAGE) - 1 - next() % pages
        } else {
            next() % (size / PAGE - pages)
        };
        let (start, end) = (page * PAGE, (page + pages) * PAGE);
        let before = page_chunk_rows(&partition);
        if n % 7 == 3 {
            partition
                .clear_pages(A, "c", "d", start, end, &none(), &no_seq)
                .expect("clear");
            expected[start as usize..end as usize].fill(0);
            written[page as usize..(page + pages) as usize].fill(false);
        } else {
            let data: Vec<u8> = (0..end - start).map(|i| (i / 5 + n * 13) as u8).collect();
            partition
                .write_pages(A, "c", "d", start, upload(&partition, &data), &none(), &no_seq)
                .expect("write");
            expected[start as usize..end as usize].copy_from_slice(&data);
            written[page as usize..(page + pages) as usize].fill(true);
        }
        let after = page_chunk_rows(&partition);
        let (first, last) = (start / PAGE_CHUNK_BYTES, (end - 1) / PAGE_CHUNK_BYTES);
        for key in before.keys().chain(after.keys()) {
            if before.get(key) != after.get(key) {
                let chunk = chunk_of_key(key);
                assert!(
                    (first..=last).contains(&chunk),
                    "write {n} of [{start}, {end}) changed chunk {chunk}"
                );
            }
        }
        assert!(stored_row_len(&partition) < 200, "the blob row holds no pages");
        if n % 100 == 99 {
            assert_eq!(read_all(&partition, "d"), expected, "after write {n}");
            assert_eq!(page_ranges(&partition, "d", None), model_ranges(&written));
            let (start, end) = (PAGE_CHUNK_BYTES - 3 * PAGE, 2 * PAGE_CHUNK_BYTES + 5 * PAGE);
            let clipped: Vec<(u64, u64)> = model_ranges(&written)
                .into_iter()
                .filter(|r| r.1 >= start && r.0 < end)
                .map(|(a, b)| (a.max(start), b.min(end - 1)))
                .collect();
            assert_eq!(page_ranges(&partition, "d", Some((start, end))), clipped);
            assert_live_is_exactly(&partition, &["d"]);
            (store, partition) = restart(&store, &partition);
        }
    }
    assert!(page_chunk_rows(&partition).len() as u64 <= chunks);
    // A write reads no chunk row but its own: with another one damaged, it still succeeds
    // (and a read of the whole blob does not).
    let rows = page_chunk_rows(&partition);
    let (far_key, far_value) = rows.iter().find(|(key, _)| chunk_of_key(key) == 1).expect("chunk 1");
    let mut batch = lazuli_table::WriteBatch::new();
    batch.put(far_key.clone(), b"damaged".to_vec());
    partition.table().write(&batch).expect("damage");
    let data = vec![0xaa; PAGE as usize];
    partition
        .write_pages(A, "c", "d", 3 * PAGE, upload(&partition, &data), &none(), &no_seq)
        .expect("a write of chunk 0");
    expected[3 * PAGE as usize..4 * PAGE as usize].copy_from_slice(&data);
    written[3] = true;
    let whole = partition.get_blob(A, "c", "d", &none());
    assert_eq!(whole.expect_err("damaged map").code, ErrorCode::InternalError);
    // So does a read of a range in other chunks (up to the boundary of the damaged one), or of
    // the properties alone; a range reaching into the damaged chunk does not.
    let beyond = partition.get_blob_within(
        A,
        "c",
        "d",
        &none(),
        Some(PAGE_CHUNK_BYTES - PAGE..PAGE_CHUNK_BYTES + 1),
    );
    assert_eq!(beyond.expect_err("damaged chunk").code, ErrorCode::InternalError);
    let near = PAGE_CHUNK_BYTES - 6 * PAGE..PAGE_CHUNK_BYTES;
    let ranged = partition
        .get_blob_within(A, "c", "d", &none(), Some(near.clone()))
        .expect("a read of chunk 0")
        .expect("not 304");
    let bytes = partition
        .read_blob_bytes(&ranged, near.start, near.end - near.start)
        .expect("read");
    assert_eq!(bytes, &expected[near.start as usize..near.end as usize]);
    let properties = partition
        .get_blob_within(A, "c", "d", &none(), Some(0..0))
        .expect("properties")
        .expect("not 304");
    assert!(properties.pages.is_empty() && properties.content_length == size);
    let ranges = partition
        .get_page_ranges(
            A,
            "c",
            "d",
            &BlobVersion::Base,
            None,
            &none(),
            Some((0, PAGE_CHUNK_BYTES)),
        )
        .expect("ranges of chunk 0")
        .expect("not 304")
        .1;
    let chunk0: Vec<(u64, u64, bool)> = model_ranges(&written)
        .into_iter()
        .filter(|r| r.0 < PAGE_CHUNK_BYTES)
        .map(|(a, b)| (a, b.min(PAGE_CHUNK_BYTES - 1), false))
        .collect();
    assert_eq!(ranges, chunk0);
    let mut batch = lazuli_table::WriteBatch::new();
    batch.put(far_key.clone(), far_value.clone());
    partition.table().write(&batch).expect("mend");
    assert_eq!(read_all(&partition, "d"), expected);
    partition.collect_garbage().expect("gc");
    assert_eq!(read_all(&partition, "d"), expected, "after collection");

    // A snapshot holds the pages in its own row; writes after it show in the diff alone.
    let (snapshot, _) = partition
        .create_snapshot(A, "c", "d", vec![], &none())
        .expect("snapshot");
    let at_snapshot = expected.clone();
    let mut since = vec![false; written.len()];
    for n in 0..20u64 {
        let page = next() % (size / PAGE - 2);
        let data = vec![n as u8 + 1; 2 * PAGE as usize];
        partition
            .write_pages(A, "c", "d", page * PAGE, upload(&partition, &data), &none(), &no_seq)
            .expect("write");
        expected[(page * PAGE) as usize..((page + 2) * PAGE) as usize].copy_from_slice(&data);
        since[page as usize..page as usize + 2].fill(true);
    }
    let diff = partition
        .get_page_ranges(A, "c", "d", &BlobVersion::Base, Some(&snapshot), &none(), None)
        .expect("diff")
        .expect("not 304")
        .1;
    let expected_diff: Vec<(u64, u64, bool)> = model_ranges(&since).into_iter().map(|(a, b)| (a, b, false)).collect();
    assert_eq!(diff, expected_diff);
    let snapshot_row = partition
        .get_blob_version(A, "c", "d", &BlobVersion::Snapshot(snapshot.clone()), &none())
        .expect("snapshot")
        .expect("not 304");
    assert_eq!(
        partition.read_blob_bytes(&snapshot_row, 0, size).expect("read"),
        at_snapshot
    );
    (store, partition) = restart(&store, &partition);

    // Soft delete keeps the pages in the deleted row; undelete brings them back in it.
    let delete = |partition: &Partition, retention_days| {
        let options = lazuli_partition::DeleteOptions {
            snapshots: lazuli_partition::DeleteSnapshots::Include,
            retention_days,
        };
        partition
            .delete_blob_with(A, "c", "d", &BlobVersion::Base, &options, &none())
            .expect("delete");
    };
    delete(&partition, Some(1));
    assert!(
        page_chunk_rows(&partition).is_empty(),
        "chunk rows go with the base row"
    );
    (store, partition) = restart(&store, &partition);
    partition.undelete_blob(A, "c", "d").expect("undelete");
    assert_eq!(read_all(&partition, "d"), expected, "after undelete");
    // The next write moves the map back out of the row.
    let data = vec![9u8; PAGE as usize];
    partition
        .write_pages(A, "c", "d", PAGE, upload(&partition, &data), &none(), &no_seq)
        .expect("write");
    expected[PAGE as usize..2 * PAGE as usize].copy_from_slice(&data);
    assert!(stored_row_len(&partition) < 200);
    assert!(!page_chunk_rows(&partition).is_empty());
    assert_eq!(read_all(&partition, "d"), expected);
    (store, partition) = restart(&store, &partition);

    // With versioning, a new version of the blob keeps the pages in the previous version.
    partition.set_versioning(A, true).expect("versioning");
    let set_metadata = |partition: &Partition, value: &str| {
        partition
            .update_blob(A, "c", "d", &none(), |row| {
                row.metadata = vec![("k".into(), value.into())]
            })
            .expect("metadata")
            .version_id
            .expect("version id")
    };
    let version = set_metadata(&partition, "v");
    assert_ne!(set_metadata(&partition, "w"), version);
    let previous = partition
        .get_blob_version(A, "c", "d", &BlobVersion::Version(version), &none())
        .expect("version")
        .expect("not 304");
    assert_eq!(partition.read_blob_bytes(&previous, 0, size).expect("read"), expected);
    partition.set_versioning(A, false).expect("versioning");
    assert_eq!(read_all(&partition, "d"), expected);
    (store, partition) = restart(&store, &partition);

    // A block blob written over it drops its chunk rows; so does a delete of a page blob.
    partition
        .put_blob(A, "c", "d", inline(b"block"), HttpHeaders::default(), vec![], &none())
        .expect("put");
    assert!(page_chunk_rows(&partition).is_empty());
    assert_eq!(read_all(&partition, "d"), b"block");
    partition
        .create_page_blob(A, "c", "d", size, 0, HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    assert_eq!(
        page_ranges(&partition, "d", None),
        vec![],
        "no pages of the earlier blob"
    );
    partition
        .write_pages(A, "c", "d", 0, upload(&partition, &data), &none(), &no_seq)
        .expect("write");
    assert_eq!(page_chunk_rows(&partition).len(), 1);
    delete(&partition, None);
    assert!(page_chunk_rows(&partition).is_empty());
    (_, partition) = restart(&store, &partition);
    partition.collect_garbage().expect("gc");
    let (_, live) = partition.data_usage();
    // What stays is the previous version's row, holding its pages itself.
    let subrows = partition
        .table()
        .scan(b"Bacct/c/d\0", Some(b"Bacct/c/d\x01"), 1000)
        .expect("scan");
    assert!(!subrows.is_empty(), "the previous version stays");
    let kept: HashSet<lazuli_partition::Segment> = subrows
        .iter()
        .flat_map(|(_, value)| {
            let row = lazuli_partition::rows::decode_blob(value).expect("row");
            row.segments().copied().collect::<Vec<_>>()
        })
        .collect();
    let kept: u64 = kept.iter().map(|s| s.len as u64).sum();
    assert_eq!(live, kept, "live bytes are exactly the sub-rows' segments");
}

/// A read of a page blob sees the pages of the row it returns, though it reads the chunk rows
/// apart from the row and without the blob's lock, while Put Pages that cross a chunk boundary
/// land concurrently: the bytes always belong to the ETag they come with. Whole reads of a map
/// of 64 chunks race the writes often; they still finish (under the blob's lock at worst).
#[test]
fn reads_see_the_pages_of_the_row_they_return() {
    use lazuli_partition::page::PAGE_CHUNK_BYTES;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::time::Instant;
    let (_store, partition) = setup();
    let size = 64 * PAGE_CHUNK_BYTES;
    partition
        .create_page_blob(A, "c", "d", size, 0, HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    for chunk in 2..64 {
        let body = upload(&partition, &[9u8; PAGE as usize]);
        partition
            .write_pages(
                A,
                "c",
                "d",
                chunk * PAGE_CHUNK_BYTES,
                body,
                &none(),
                &SequenceConditions::default(),
            )
            .expect("write");
    }
    let at = PAGE_CHUNK_BYTES - PAGE;
    let generations: Mutex<HashMap<String, u8>> = Mutex::new(HashMap::new());
    let done = AtomicBool::new(false);
    let (mut checked, mut mixed) = (0, 0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = Instant::now();
            for generation in 1..=600u32 {
                if started.elapsed() > Duration::from_secs(5) {
                    break;
                }
                let byte = generation as u8;
                let body = upload(&partition, &[byte; 2 * PAGE as usize]);
                let row = partition
                    .write_pages(A, "c", "d", at, body, &none(), &SequenceConditions::default())
                    .expect("write");
                generations.lock().expect("lock").insert(row.etag, byte);
            }
            done.store(true, Ordering::Relaxed);
        });
        while !done.load(Ordering::Relaxed) {
            let row = row(&partition, "d");
            let bytes = partition.read_blob_bytes(&row, at, 2 * PAGE).expect("read");
            if bytes[0] != bytes[bytes.len() - 1] {
                mixed += 1;
            }
            if let Some(byte) = generations.lock().expect("lock").get(&row.etag) {
                checked += 1;
                if bytes[0] != *byte {
                    mixed += 1;
                }
            }
        }
    });
    assert_eq!(mixed, 0, "reads whose pages were not their row's ({checked} checked)");
    assert!(checked > 0, "no read was checked against its write");
}

/// A page blob whose map an earlier build kept in its row reads as before and moves its map
/// into chunk rows on its next write, keeping its bytes and references exact.
#[test]
fn page_maps_written_in_the_row_move_to_chunk_rows() {
    use lazuli_partition::page::PAGE_CHUNK_BYTES;
    let (store, partition) = setup();
    let size = 3 * PAGE_CHUNK_BYTES;
    partition
        .create_page_blob(A, "c", "d", size, 0, HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    let no_seq = SequenceConditions::default();
    let mut expected = vec![0u8; size as usize];
    for (n, page) in [0u64, 9000, 8191, 17_000].into_iter().enumerate() {
        let data = vec![n as u8 + 1; 3 * PAGE as usize];
        partition
            .write_pages(A, "c", "d", page * PAGE, upload(&partition, &data), &none(), &no_seq)
            .expect("write");
        expected[(page * PAGE) as usize..(page * PAGE) as usize + data.len()].copy_from_slice(&data);
    }
    // The row as an earlier build wrote it: the whole map inline, no chunk rows.
    let legacy = row(&partition, "d");
    let mut batch = lazuli_table::WriteBatch::new();
    for key in page_chunk_rows(&partition).keys() {
        batch.delete(key.clone());
    }
    batch.put(
        lazuli_partition::keys::blob(A, "c", "d"),
        lazuli_partition::rows::encode_blob(&legacy),
    );
    partition.table().write(&batch).expect("write legacy row");
    let store = store.crash_process();
    let partition = open(store.clone());
    assert!(page_chunk_rows(&partition).is_empty());
    assert_eq!(read_all(&partition, "d"), expected);
    assert_live_is_exactly(&partition, &["d"]);
    let data = vec![7u8; PAGE as usize];
    partition
        .write_pages(
            A,
            "c",
            "d",
            2 * PAGE_CHUNK_BYTES + PAGE,
            upload(&partition, &data),
            &none(),
            &no_seq,
        )
        .expect("write");
    let at = (2 * PAGE_CHUNK_BYTES + PAGE) as usize;
    expected[at..at + PAGE as usize].copy_from_slice(&data);
    assert_eq!(page_chunk_rows(&partition).len(), 3, "every chunk of the map moved out");
    assert_eq!(read_all(&partition, "d"), expected);
    assert_live_is_exactly(&partition, &["d"]);
    let (_, partition) = restart(&store, &partition);
    assert_eq!(read_all(&partition, "d"), expected);
}

/// Get Page Ranges Diff against a snapshot, which shares the blob's segments until the blob
/// is written again; the snapshot's pages keep their segments live.
#[test]
fn page_ranges_diff_against_a_snapshot() {
    let (store, partition) = setup();
    let no_seq = SequenceConditions::default();
    partition
        .create_page_blob(
            A,
            "c",
            "d",
            8 * PAGE,
            0,
            HttpHeaders::default(),
            vec![],
            vec![],
            &none(),
        )
        .expect("create");
    let data = vec![1u8; 4 * PAGE as usize];
    partition
        .write_pages(A, "c", "d", 0, upload(&partition, &data), &none(), &no_seq)
        .expect("write");
    let (snapshot, _) = partition
        .create_snapshot(A, "c", "d", vec![], &none())
        .expect("snapshot");
    let diff = |p: &Partition| {
        p.get_page_ranges(A, "c", "d", &BlobVersion::Base, Some(&snapshot), &none(), None)
            .expect("diff")
            .expect("not 304")
            .1
    };
    assert_eq!(diff(&partition), vec![]);
    partition
        .write_pages(A, "c", "d", PAGE, upload(&partition, &[2u8; 512]), &none(), &no_seq)
        .expect("write");
    partition
        .clear_pages(A, "c", "d", 3 * PAGE, 4 * PAGE, &none(), &no_seq)
        .expect("clear");
    partition
        .write_pages(A, "c", "d", 6 * PAGE, upload(&partition, &[3u8; 512]), &none(), &no_seq)
        .expect("write");
    let expected = vec![(512, 1023, false), (1536, 2047, true), (3072, 3583, false)];
    assert_eq!(diff(&partition), expected);
    // The cleared page is still the snapshot's: its bytes stay live and readable.
    let snap_row = partition
        .get_blob_version(A, "c", "d", &BlobVersion::Snapshot(snapshot.clone()), &none())
        .expect("snapshot")
        .expect("not 304");
    assert_eq!(partition.read_blob_bytes(&snap_row, 0, 4 * PAGE).expect("read"), data);
    let (_store, partition) = restart(&store, &partition);
    assert_eq!(diff(&partition), expected);
}

/// Garbage collection rewrites mostly-dead extents: page entries (which point into the middle
/// of segments) and appended blocks are re-pointed at the copies and read back unchanged.
#[test]
fn garbage_collection_relocates_pages_and_appended_blocks() {
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
    let partition = open_local();
    partition.create_container(A, "c", vec![], None).expect("container");
    let no_seq = SequenceConditions::default();
    partition
        .create_page_blob(
            A,
            "c",
            "d",
            32 * PAGE,
            0,
            HttpHeaders::default(),
            vec![],
            vec![],
            &none(),
        )
        .expect("create");
    partition
        .create_append_blob(A, "c", "log", HttpHeaders::default(), vec![], vec![], &none())
        .expect("create");
    let mut expected = vec![0u8; 32 * PAGE as usize];
    let mut log = Vec::new();
    for round in 0..4u8 {
        // Each round rewrites two pages in three, leaving extents partly live.
        for page in 0..32u64 {
            if (page + round as u64).is_multiple_of(3) {
                continue;
            }
            let data: Vec<u8> = (0..PAGE)
                .map(|i| round.wrapping_mul(31).wrapping_add((i + page) as u8))
                .collect();
            partition
                .write_pages(A, "c", "d", page * PAGE, upload(&partition, &data), &none(), &no_seq)
                .expect("write");
            expected[(page * PAGE) as usize..((page + 1) * PAGE) as usize].copy_from_slice(&data);
        }
        let block: Vec<u8> = (0..300u32).map(|i| (i as u8).wrapping_add(round)).collect();
        partition
            .append_block(
                A,
                "c",
                "log",
                upload(&partition, &block),
                &none(),
                &AppendConditions::default(),
            )
            .expect("append");
        log.extend_from_slice(&block);
    }
    let mut rewritten = 0;
    for _ in 0..3 {
        rewritten += partition.collect_garbage().expect("gc").extents_rewritten;
    }
    assert!(rewritten > 0, "some extents were mostly dead");
    assert_eq!(read_all(&partition, "d"), expected);
    assert_eq!(read_all(&partition, "log"), log);
    assert_live_is_exactly(&partition, &["d", "log"]);
    let live = partition.data_usage().1;
    drop(partition);
    let partition = open_local();
    assert_eq!(partition.data_usage().1, live, "reference counts drifted from the rows");
    assert_eq!(read_all(&partition, "d"), expected);
    assert_eq!(read_all(&partition, "log"), log);
}
