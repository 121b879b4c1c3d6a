//! List Blobs as a container grows to 10,000,000 blobs: populate empty blobs through the
//! partition layer on real files, and at each checkpoint count list the whole container,
//! 5,000 per page, as the List Blobs handler does (without HTTP and XML).
//!
//!   cargo run --release -p lazuli-partition --example list_scale -- [max blobs] [dir] [hns]
//!
//! With `hns`, the account has a hierarchical namespace (the development account's default):
//! the blobs are path rows and the listing walks the tree.
//!
//! Counts listed: 100,000, 1,000,000, 10,000,000 (those up to the maximum, default 10M).
//! Population uses a store without fsync (`StoreOptions { sync: false }`): what is measured
//! is listing, and 10M durable single-blob commits would take most of an hour on a small
//! machine. Listing reads the same rows and checkpoints either way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lazuli_partition::{HttpHeaders, ListBlobsOptions, NewBlobOptions, Partition, PartitionOptions, UploadedBody};
use lazuli_stream::{LocalStore, StoreOptions};
use lazuli_types::conditions::Conditions;

const WRITERS: usize = 4;
const PAGE: usize = 5000;
/// Listings timed per count (the median is reported); the 10M listing is timed once per run
/// only if it alone would take too long to repeat.
const REPEATS: usize = 3;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let max: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10_000_000);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("lazuli-list-scale-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let options = StoreOptions {
        sync: false,
        ..StoreOptions::default()
    };
    let hns = args.next().as_deref() == Some("hns");
    let store = LocalStore::open(&dir, options)?;
    let partition = Partition::open(store, PartitionOptions::default())?;
    partition.set_hns("acct", hns);
    partition.create_container("acct", "big", vec![], None)?;

    let mut populated = 0usize;
    for count in [100_000usize, 1_000_000, 10_000_000].into_iter().filter(|c| *c <= max) {
        let started = Instant::now();
        populate(&partition, populated, count);
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "populated {} more blobs in {seconds:.1} s ({:.0}/s)",
            count - populated,
            (count - populated) as f64 / seconds
        );
        populated = count;

        let mut rates = Vec::new();
        for _ in 0..REPEATS {
            let started = Instant::now();
            let listed = list_all(&partition)?;
            let seconds = started.elapsed().as_secs_f64();
            anyhow::ensure!(listed == count, "listed {listed} blobs, expected {count}");
            rates.push(listed as f64 / seconds);
        }
        rates.sort_by(|a, b| a.total_cmp(b));
        println!(
            "list {count} blobs, {PAGE} per page: median {:.0} blobs/s (min {:.0}, max {:.0}) over {REPEATS} listings; peak RSS {} MiB",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1],
            peak_rss_mib()
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Empty blobs `blob-<from>` .. `blob-<to - 1>`, written by a few threads.
fn populate(partition: &Partition, from: usize, to: usize) {
    let next = AtomicUsize::new(from);
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    break;
                }
                let body = UploadedBody {
                    inline: Some(Vec::new()),
                    ..Default::default()
                };
                partition
                    .put_blob_with(
                        "acct",
                        "big",
                        &format!("blob-{i:08}"),
                        body,
                        HttpHeaders::default(),
                        vec![],
                        &Conditions::default(),
                        &NewBlobOptions::default(),
                    )
                    .expect("put");
            });
        }
    });
}

fn list_all(partition: &Partition) -> anyhow::Result<usize> {
    let mut marker: Option<String> = None;
    let mut listed = 0;
    loop {
        let options = ListBlobsOptions {
            prefix: "",
            delimiter: None,
            marker: marker.as_deref(),
            max_results: PAGE,
            include_snapshots: false,
            include_versions: false,
            include_deleted: false,
        };
        let page = partition
            .list_blobs("acct", "big", &options)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        listed += page.items.len();
        match page.next_marker {
            Some(next) => marker = Some(next),
            None => return Ok(listed),
        }
    }
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kib| kib.parse::<u64>().ok()))
        })
        .map_or(0, |kib| kib / 1024)
}
