//! Blob index tags: the tag index stays exactly the set of (tag, blob) pairs of the live blob
//! rows, through random puts, overwrites, tag changes, deletes, container deletions and
//! process crashes; Find Blobs by Tags answers what a model answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lazuli_partition::{
    BlockListItem, BlockListKind, HttpHeaders, NewBlobOptions, Partition, PartitionOptions, TaggedBlob, UploadedBody,
};
use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::TableOptions;
use lazuli_types::conditions::Conditions;
use lazuli_types::tag_expr::{self, Comparison};
use lazuli_types::ErrorCode;

const A: &str = "acct";
type Tags = Vec<(String, String)>;
/// (container, blob) → tags.
type Model = BTreeMap<(String, String), Tags>;

fn open(store: Arc<dyn StreamStore>) -> Arc<Partition> {
    let options = PartitionOptions {
        inline_bytes_max: 16,
        segment_bytes_max: 64,
        gc_grace: Duration::ZERO,
        table: TableOptions {
            // Small memtables: the index goes through flushes and checkpoints too.
            memtable_bytes_max: 8 * 1024,
            background: false,
            ..Default::default()
        },
        ..Default::default()
    };
    Partition::open(store, options).expect("open")
}

fn inline(data: &[u8]) -> UploadedBody {
    UploadedBody {
        inline: Some(data.to_vec()),
        segments: vec![],
        len: data.len() as u64,
        md5: lazuli_types::checksum::md5(data),
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Put Blob of one byte with `tags` (`None`: the request carried no `x-ms-tags`).
fn put_with_tags(partition: &Partition, container: &str, blob: &str, tags: Option<Tags>) {
    let options = NewBlobOptions {
        tags,
        ..Default::default()
    };
    partition
        .put_blob_with(
            A,
            container,
            blob,
            inline(b"x"),
            HttpHeaders::default(),
            vec![],
            &Conditions::default(),
            &options,
        )
        .expect("put");
}

/// Tags from string pairs.
fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn random_tags(rng: &mut Rng) -> Tags {
    let mut tags = Tags::new();
    for _ in 0..rng.below(4) {
        let key = ["color", "size", "n", "owner"][rng.below(4)].to_string();
        if tags.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let value = ["", "a", "ab", "b", "10", "9", "red", "red blue"][rng.below(8)].to_string();
        tags.push((key, value));
    }
    tags
}

fn assert_index_matches(partition: &Partition, model: &Model) {
    let mut expected: Vec<(String, String, String, String)> = model
        .iter()
        .flat_map(|((c, b), tags)| {
            tags.iter()
                .map(move |(k, v)| (k.clone(), v.clone(), c.clone(), b.clone()))
        })
        .collect();
    expected.sort();
    let mut actual = partition.tag_index_entries(A).expect("index");
    actual.sort();
    assert_eq!(actual, expected, "the tag index drifted from the blob rows");
    for ((c, b), tags) in model {
        let got = partition
            .get_blob_tags(A, c, b, &Conditions::default())
            .expect("get tags");
        assert_eq!(&got, tags);
    }
}

/// Every blob a query finds, with the tags it answers with (the blob's whole tag set).
fn find(partition: &Partition, container: Option<&str>, filter: &[Comparison], page: usize) -> Vec<TaggedBlob> {
    let mut out = Vec::new();
    let mut marker: Option<Vec<u8>> = None;
    loop {
        let found = partition
            .find_blobs_by_tags(A, container, filter, marker.as_deref(), page)
            .expect("find");
        assert!(found.items.len() <= page);
        out.extend(found.items);
        match found.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    out.sort();
    out
}

fn model_find(model: &Model, container: Option<&str>, filter: &[Comparison]) -> Vec<TaggedBlob> {
    model
        .iter()
        .filter(|((c, _), tags)| {
            container.is_none_or(|want| want == c)
                && filter.iter().all(|f| {
                    if f.key == tag_expr::CONTAINER_KEY {
                        f.value == *c
                    } else {
                        f.holds(tags)
                    }
                })
        })
        .map(|((c, b), tags)| (c.clone(), b.clone(), tags.clone()))
        .collect()
}

#[test]
fn tag_index_matches_a_model_through_changes_and_crashes() {
    let mut store = MemStore::new();
    let mut partition = open(store.clone());
    let containers = ["c1", "c2"];
    for c in containers {
        partition.create_container(A, c, vec![], None).expect("create");
    }
    let mut model = Model::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let queries = [
        "\"color\" = 'red'",
        "\"color\" >= 'b'",
        "\"n\" > '10' AND \"n\" < 'b'",
        "\"size\" <= 'ab' AND \"color\" = 'red blue'",
        "\"owner\" < 'a'",
        "\"owner\" = '' AND @container = 'c2'",
        "@container = 'c1' AND \"n\" >= ''",
    ];
    for step in 0..600 {
        let c = containers[rng.below(2)].to_string();
        let b = format!("b{}", rng.below(12));
        let key = (c.clone(), b.clone());
        match rng.below(6) {
            0 | 1 => {
                let tags = random_tags(&mut rng);
                let sent = (!tags.is_empty() || rng.below(2) == 0).then(|| tags.clone());
                put_with_tags(&partition, &c, &b, sent);
                model.insert(key, tags);
            }
            2 => {
                let tags = random_tags(&mut rng);
                partition.put_block(A, &c, &b, "QUE=", inline(b"abc")).expect("block");
                let list = [BlockListItem {
                    kind: BlockListKind::Latest,
                    id: "QUE=".into(),
                }];
                let options = NewBlobOptions {
                    tags: Some(tags.clone()),
                    ..Default::default()
                };
                partition
                    .put_block_list_with(
                        A,
                        &c,
                        &b,
                        &list,
                        HttpHeaders::default(),
                        vec![],
                        &Conditions::default(),
                        &options,
                    )
                    .expect("commit");
                model.insert(key, tags);
            }
            3 => {
                let tags = random_tags(&mut rng);
                let result = partition.set_blob_tags(A, &c, &b, tags.clone(), &Conditions::default());
                match model.get_mut(&key) {
                    Some(current) => {
                        result.expect("set tags");
                        *current = tags;
                    }
                    None => assert_eq!(result.unwrap_err().code, ErrorCode::BlobNotFound),
                }
            }
            4 => {
                let result = partition.delete_blob(A, &c, &b, &Conditions::default());
                match model.remove(&key) {
                    Some(_) => result.expect("delete"),
                    None => assert_eq!(result.unwrap_err().code, ErrorCode::BlobNotFound),
                }
            }
            _ => {
                // Metadata changes rewrite the row; the tags and their index must stay.
                let result = partition.update_blob(A, &c, &b, &Conditions::default(), |row| {
                    row.metadata = vec![("m".into(), "1".into())];
                });
                assert_eq!(result.is_ok(), model.contains_key(&key));
            }
        }
        if step % 97 == 0 {
            store = store.crash_process();
            partition = open(store.clone());
        }
        if step % 50 == 0 {
            partition.table().flush().expect("flush");
        }
        if step % 40 == 0 {
            assert_index_matches(&partition, &model);
            for q in queries {
                let filter = tag_expr::parse_filter(q).expect("parse");
                for container in [None, Some("c1")] {
                    for page in [1, 3, 1000] {
                        assert_eq!(
                            find(&partition, container, &filter, page),
                            model_find(&model, container, &filter),
                            "{q} in {container:?}, pages of {page}"
                        );
                    }
                }
            }
        }
    }
    assert_index_matches(&partition, &model);
    // Deleting a container removes its blobs' index rows in the same batches as the rows.
    partition
        .delete_container(A, "c1", &Conditions::default())
        .expect("delete container");
    model.retain(|(c, _), _| c != "c1");
    assert_index_matches(&partition, &model);
    let store = store.crash_process();
    let partition = open(store);
    assert_index_matches(&partition, &model);
}

#[test]
fn if_tags_guards_reads_and_writes() {
    let partition = open(MemStore::new());
    partition.create_container(A, "c", vec![], None).expect("create");
    put_with_tags(&partition, "c", "b", Some(tags(&[("state", "draft")])));
    let when = |expr: &str| Conditions {
        if_tags: Some(tag_expr::parse(expr, tag_expr::Dialect::Condition).expect("parse")),
        ..Default::default()
    };
    assert!(partition.get_blob(A, "c", "b", &when("\"state\" = 'draft'")).is_ok());
    let refused = partition.get_blob(A, "c", "b", &when("\"state\" = 'final'"));
    assert_eq!(refused.unwrap_err().code, ErrorCode::ConditionNotMet);
    let refused = partition.set_blob_tags(A, "c", "b", vec![], &when("\"state\" <> 'draft'"));
    assert_eq!(refused.unwrap_err().code, ErrorCode::ConditionNotMet);
    let refused = partition.delete_blob(A, "c", "b", &when("\"other\" = ''"));
    assert_eq!(refused.unwrap_err().code, ErrorCode::ConditionNotMet);
    partition
        .delete_blob(A, "c", "b", &when("(\"state\" = 'x' OR \"state\" = 'draft')"))
        .expect("delete");
    assert!(partition.tag_index_entries(A).expect("index").is_empty());
}

#[test]
fn queries_answer_from_the_index_and_from_rows_without_a_tag_set() {
    let partition = open(MemStore::new());
    for c in ["c1", "c2"] {
        partition.create_container(A, c, vec![], None).expect("create");
    }
    put_with_tags(&partition, "c1", "old", Some(tags(&[("color", "red"), ("size", "9")])));
    put_with_tags(&partition, "c1", "new", Some(tags(&[("color", "red"), ("size", "10")])));
    put_with_tags(
        &partition,
        "c2",
        "other",
        Some(tags(&[("color", "red"), ("size", "9")])),
    );
    // A data directory written before index rows carried the blob's tag set holds empty
    // values: such a row still finds its blob, checked against (and answered with) its row.
    let mut batch = lazuli_table::WriteBatch::new();
    for key in ["color\0red", "size\09"] {
        batch.put(format!("T{A}/{key}\0c1/old").into_bytes(), Vec::new());
    }
    partition.table().write(&batch).expect("write");
    let query = tag_expr::parse_filter("\"color\" = 'red' AND \"size\" = '9'").expect("parse");
    assert_eq!(
        find(&partition, None, &query, 10),
        vec![
            ("c1".into(), "old".into(), tags(&[("color", "red"), ("size", "9")])),
            ("c2".into(), "other".into(), tags(&[("color", "red"), ("size", "9")])),
        ]
    );
    // Retagging rewrites every index row of the blob, the unchanged `color` row included.
    partition
        .set_blob_tags(
            A,
            "c1",
            "new",
            tags(&[("color", "red"), ("size", "9")]),
            &Conditions::default(),
        )
        .expect("set tags");
    assert_eq!(find(&partition, Some("c1"), &query, 1).len(), 2);
    // A soft-deleted container's blobs are not found, though their index rows stay.
    partition.set_container_delete_retention(A, Some(7)).expect("retention");
    partition
        .delete_container(A, "c2", &Conditions::default())
        .expect("delete container");
    let red = tag_expr::parse_filter("\"color\" = 'red'").expect("parse");
    let names: Vec<String> = find(&partition, None, &red, 10)
        .into_iter()
        .map(|(_, b, _)| b)
        .collect();
    assert_eq!(names, vec!["new".to_string(), "old".to_string()]);
}
