//! `list_blobs_chunked` hands over exactly what `list_blobs` returns, in order and in chunks
//! no larger than asked, on HNS (walked chunk by chunk) and flat accounts, for every page of a
//! listing with prefixes, markers, directories and hidden (soft-deleted) entries.

use std::sync::Arc;

use lazuli_partition::{ListBlobsOptions, ListItem, Partition, PartitionOptions, UploadedBody};
use lazuli_stream::{MemStore, StreamStore};
use lazuli_types::conditions::Conditions;

const A: &str = "acct";
const C: &str = "cont";

fn setup(hns: bool) -> Arc<Partition> {
    let store: Arc<dyn StreamStore> = MemStore::new();
    let p = Partition::open(store, PartitionOptions::default()).expect("open");
    p.set_hns(A, hns);
    p.create_container(A, C, vec![], None).expect("container");
    let names = (0..40)
        .map(|i| format!("top{i:02}"))
        .chain((0..30).map(|i| format!("dir/a{i:02}")))
        .chain((0..12).map(|i| format!("dir/sub/deep{i:02}")))
        .chain((0..9).map(|i| format!("other/x{i}")));
    for name in names {
        let body = UploadedBody {
            inline: Some(name.as_bytes().to_vec()),
            len: name.len() as u64,
            ..Default::default()
        };
        p.put_blob(A, C, &name, body, Default::default(), vec![], &Conditions::default())
            .expect("put");
    }
    p
}

fn names(items: &[ListItem]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Ok((name, row)) => format!("{name} {}", row.etag),
            Err(prefix) => format!("prefix {prefix}"),
        })
        .collect()
}

fn options<'a>(
    prefix: &'a str,
    delimiter: Option<&'a str>,
    marker: Option<&'a str>,
    max: usize,
) -> ListBlobsOptions<'a> {
    ListBlobsOptions {
        prefix,
        delimiter,
        marker,
        max_results: max,
        include_snapshots: false,
        include_versions: false,
        include_deleted: false,
    }
}

fn check(p: &Partition, prefix: &str, delimiter: Option<&str>, max: usize, chunk: usize) {
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let options = options(prefix, delimiter, marker.as_deref(), max);
        let whole = p.list_blobs(A, C, &options).expect("list");
        let mut chunks: Vec<Vec<ListItem>> = Vec::new();
        let next = p
            .list_blobs_chunked(A, C, &options, chunk, &mut |items| chunks.push(items))
            .expect("list chunked");
        assert!(chunks.iter().all(|c| !c.is_empty()), "an empty chunk");
        if delimiter.is_none() && p.is_hns(A) {
            assert!(chunks.iter().all(|c| c.len() <= chunk), "a chunk over {chunk}");
        }
        let joined: Vec<ListItem> = chunks.into_iter().flatten().collect();
        assert_eq!(
            names(&joined),
            names(&whole.items),
            "prefix {prefix:?} delimiter {delimiter:?} max {max} chunk {chunk}"
        );
        assert_eq!(next, whole.next_marker);
        pages += 1;
        assert!(pages < 200, "paging does not end");
        match next {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
}

#[test]
fn chunked_listings_match_whole_pages() {
    for hns in [true, false] {
        let p = setup(hns);
        for (prefix, delimiter) in [
            ("", None),
            ("dir/", None),
            ("dir/s", None),
            ("top1", None),
            ("", Some("/")),
            ("dir/", Some("/")),
        ] {
            for max in [1, 7, 50, 5000] {
                for chunk in [1, 3, 500] {
                    check(&p, prefix, delimiter, max, chunk);
                }
            }
        }
        // The container must exist, as for list_blobs.
        assert!(p
            .list_blobs_chunked(A, "absent", &options("", None, None, 10), 3, &mut |_| {})
            .is_err());
    }
}
