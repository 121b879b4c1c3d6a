//! Directory rename on a hierarchical namespace: the time of the rename does not depend on how
//! many files the directory holds (it is one batch that moves one key).
//!
//!   cargo run --release -p lazuli-partition --example hns_rename -- [dir]
//!
//! For 1,000, 10,000 and 100,000 files: create them under `src/` (64 writers, group commit),
//! then time five renames of the directory back and forth.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lazuli_partition::hns::NewPath;
use lazuli_partition::{Partition, PartitionOptions};
use lazuli_stream::{LocalStore, StoreOptions};
use lazuli_types::conditions::Conditions;

const ACCOUNT: &str = "acct";
const WRITERS: usize = 64;

fn main() -> anyhow::Result<()> {
    let root = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("lazuli-hns-rename-{}", std::process::id())),
    };
    for files in [1_000usize, 10_000, 100_000] {
        let dir = root.join(format!("n{files}"));
        std::fs::create_dir_all(&dir)?;
        let store = LocalStore::open(&dir, StoreOptions::default())?;
        let partition = Partition::open(store, PartitionOptions::default())?;
        partition.set_hns(ACCOUNT, true);
        partition.create_container(ACCOUNT, "fs", vec![], None)?;
        let none = Conditions::default();
        partition.create_path(ACCOUNT, "fs", "src", true, &NewPath::default(), &none)?;
        for d in 0..10 {
            partition.create_path(ACCOUNT, "fs", &format!("src/d{d}"), true, &NewPath::default(), &none)?;
        }
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..WRITERS {
                let (partition, next) = (&partition, next.clone());
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files {
                        break;
                    }
                    let path = format!("src/d{}/f{i}", i % 10);
                    partition
                        .create_path(ACCOUNT, "fs", &path, false, &NewPath::default(), &Conditions::default())
                        .expect("create");
                });
            }
        });
        let created = started.elapsed();
        let mut times = Vec::new();
        let (mut from, mut to) = ("src", "dst");
        for _ in 0..5 {
            let t = Instant::now();
            partition.rename_path(ACCOUNT, "fs", from, to, &none, &none)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::mem::swap(&mut from, &mut to);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{files} files: created in {:.1} s; directory rename median {:.2} ms (min {:.2}, max {:.2}) over 5",
            created.as_secs_f64(),
            times[2],
            times[0],
            times[4]
        );
        drop(partition);
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
