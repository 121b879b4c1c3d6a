//! Find Blobs by Tags over a large container: populate N blobs (default 1,000,000) with tags
//! through the partition layer on real files, then time queries served by the tag index.
//!
//!   cargo run --release -p lazuli-partition --example find_by_tags -- [blobs] [dir]
//!
//! Every blob has `tenant` (one of 1,000 values), `shard` (one of 16) and a unique `id`; the
//! selective queries match one tenant (N/1,000 blobs), one tenant and shard, or 100 ids.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lazuli_partition::{HttpHeaders, NewBlobOptions, Partition, PartitionOptions, UploadedBody};
use lazuli_stream::{LocalStore, StoreOptions};
use lazuli_types::conditions::Conditions;
use lazuli_types::tag_expr::parse_filter;

const WRITERS: usize = 64;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let blobs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("lazuli-find-by-tags-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let store = LocalStore::open(&dir, StoreOptions::default())?;
    let partition = Partition::open(store, PartitionOptions::default())?;
    partition.create_container("acct", "tagged", vec![], None)?;

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            let (partition, next) = (&partition, next.clone());
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= blobs {
                    break;
                }
                let tags = vec![
                    ("tenant".to_string(), format!("t{:04}", i % 1000)),
                    ("shard".to_string(), format!("{:02}", i % 16)),
                    ("id".to_string(), format!("{i:08}")),
                ];
                let options = NewBlobOptions {
                    tags: Some(tags),
                    ..Default::default()
                };
                let body = UploadedBody {
                    inline: Some(Vec::new()),
                    ..Default::default()
                };
                partition
                    .put_blob_with(
                        "acct",
                        "tagged",
                        &format!("blob-{i:08}"),
                        body,
                        HttpHeaders::default(),
                        vec![],
                        &Conditions::default(),
                        &options,
                    )
                    .expect("put");
            });
        }
    });
    let populate = started.elapsed();
    println!(
        "populated {blobs} tagged blobs in {:.1} s ({:.0}/s)",
        populate.as_secs_f64(),
        blobs as f64 / populate.as_secs_f64()
    );

    let middle = blobs / 2;
    let queries = [
        ("one tenant".to_string(), "\"tenant\" = 't0042'".to_string()),
        (
            "one tenant AND one shard".to_string(),
            "\"tenant\" = 't0042' AND \"shard\" = '10'".to_string(),
        ),
        (
            "100 consecutive ids".to_string(),
            format!("\"id\" >= '{middle:08}' AND \"id\" < '{:08}'", middle + 100),
        ),
    ];
    for (label, expression) in queries {
        let filter = parse_filter(&expression).map_err(anyhow::Error::msg)?;
        let mut times = Vec::new();
        let mut matches = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let mut marker: Option<Vec<u8>> = None;
            matches = 0;
            loop {
                let page = partition.find_blobs_by_tags("acct", None, &filter, marker.as_deref(), 5000)?;
                matches += page.items.len();
                match page.next_marker {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{label} ({expression}): {matches} blobs, median {:.2} ms (min {:.2}, max {:.2}) over 20 queries, among {blobs} blobs",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
