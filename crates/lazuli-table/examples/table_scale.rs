//! Scale benchmark: a table on a `LocalStore`, then the same workload on redb in the same run.
//!
//! ```text
//! cargo run --release -p lazuli-table --example table_scale -- [--rows N] [--gets N] [--scans N]
//!     [--scan-len N] [--dir PATH] [--skip-redb]
//! ```
//!
//! Inserts `rows` rows (keys `acct1/cont{NN}/blob-{NNNNNNNN}`, 200-byte values) in durable batches
//! of 1,000, then random point gets, then range scans, and prints rows/s, gets/s, scanned keys/s
//! and peak RSS (VmHWM). The peak is reset between the two engines (`/proc/self/clear_refs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use lazuli_stream::{LocalStore, StoreOptions, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};
use rand::{Rng, SeedableRng};

const BATCH_ROWS: u64 = 1_000;
const VALUE_BYTES: usize = 200;
const CONTAINERS: u64 = 100;

struct Args {
    rows: u64,
    gets: u64,
    scans: u64,
    scan_len: usize,
    dir: PathBuf,
    skip_redb: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        rows: 10_000_000,
        gets: 1_000_000,
        scans: 1_000,
        scan_len: 5_000,
        dir: PathBuf::from("/work"),
        skip_redb: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => args.rows = value().parse().expect("--rows N"),
            "--gets" => args.gets = value().parse().expect("--gets N"),
            "--scans" => args.scans = value().parse().expect("--scans N"),
            "--scan-len" => args.scan_len = value().parse().expect("--scan-len N"),
            "--dir" => args.dir = PathBuf::from(value()),
            "--skip-redb" => args.skip_redb = true,
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// Row `i` spreads over the containers so that every batch touches all of them (inserts are not
/// in key order).
fn key(i: u64) -> Vec<u8> {
    format!("acct1/cont{:02}/blob-{:08}", i % CONTAINERS, i / CONTAINERS).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    let mut v = vec![b'v'; VALUE_BYTES];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn reset_peak_rss() {
    // "5" resets the peak resident set size (Linux ≥ 4.0).
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("could not reset VmHWM: {e}");
    }
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            total += if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

struct Figures {
    insert_rows_per_s: f64,
    gets_per_s: f64,
    scanned_keys_per_s: f64,
    peak_rss_mib: f64,
    disk_mib: f64,
}

fn report(name: &str, f: &Figures) {
    println!(
        "{name:>7}: insert {:>10.0} rows/s | get {:>9.0} gets/s | scan {:>10.0} keys/s | peak RSS {:>6.1} MiB | disk {:>7.1} MiB",
        f.insert_rows_per_s, f.gets_per_s, f.scanned_keys_per_s, f.peak_rss_mib, f.disk_mib
    );
}

fn scan_start(rng: &mut impl Rng, rows: u64) -> Vec<u8> {
    let i = rng.gen_range(0..rows);
    key(i)
}

fn run_lazuli(args: &Args) -> Figures {
    let dir = tempfile::tempdir_in(&args.dir).expect("temp dir");
    let store = LocalStore::open(dir.path(), StoreOptions::default()).expect("store");
    let options = TableOptions::default();
    println!("lazuli: {options:?}");
    let table = Table::open(store as Arc<dyn StreamStore>, "bench", options).expect("open");

    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut i = 0u64;
    let mut write_max_ms = 0f64;
    let mut write_latencies_ms = Vec::with_capacity((args.rows / BATCH_ROWS) as usize + 1);
    while i < args.rows {
        let mut batch = WriteBatch::new();
        let end = (i + BATCH_ROWS).min(args.rows);
        for r in i..end {
            batch.put(key(r), value(r));
        }
        let t = Instant::now();
        table.write(&batch).expect("write");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        write_max_ms = write_max_ms.max(ms);
        write_latencies_ms.push(ms);
        i = end;
        if last_report.elapsed().as_secs() >= 30 {
            let s = table.stats();
            println!(
                "  {i} rows, {:.0} rows/s, {} checkpoints, {:.0} MiB in checkpoints, peak RSS {:.1} MiB",
                i as f64 / started.elapsed().as_secs_f64(),
                s.checkpoints,
                s.checkpoint_bytes as f64 / 1048576.0,
                peak_rss_mib()
            );
            last_report = Instant::now();
        }
    }
    let insert_s = started.elapsed().as_secs_f64();
    let s = table.stats();
    write_latencies_ms.sort_by(f64::total_cmp);
    let p99 = write_latencies_ms
        .get(write_latencies_ms.len() * 99 / 100)
        .copied()
        .unwrap_or(0.0);
    println!(
        "lazuli: inserted {} rows in {insert_s:.1} s (batch write latency p99 {p99:.2} ms, max {write_max_ms:.1} ms); {s:?}",
        args.rows
    );
    // Reads are measured on a settled table (memtable written out, checkpoints merged), so that
    // background work still running from the inserts does not skew them; the time is reported.
    let t = Instant::now();
    table.flush().expect("flush");
    table.compact().expect("compact");
    println!(
        "lazuli: flush + compaction to one checkpoint took {:.1} s; {:?}",
        t.elapsed().as_secs_f64(),
        table.stats()
    );

    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = Instant::now();
    for _ in 0..args.gets {
        let r = rng.gen_range(0..args.rows);
        let v = table.get(&key(r)).expect("get").expect("row present");
        assert_eq!(v, value(r));
    }
    let get_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut scanned = 0u64;
    for _ in 0..args.scans {
        let start = scan_start(&mut rng, args.rows);
        scanned += table.scan(&start, None, args.scan_len).expect("scan").len() as u64;
    }
    let scan_s = started.elapsed().as_secs_f64();
    println!("lazuli: after reads {:?}", table.stats());
    let disk = dir_bytes(dir.path());
    drop(table);
    Figures {
        insert_rows_per_s: args.rows as f64 / insert_s,
        gets_per_s: args.gets as f64 / get_s,
        scanned_keys_per_s: scanned as f64 / scan_s,
        peak_rss_mib: peak_rss_mib(),
        disk_mib: disk as f64 / 1048576.0,
    }
}

const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("rows");

fn run_redb(args: &Args) -> Figures {
    use redb::ReadableTableMetadata;
    let dir = tempfile::tempdir_in(&args.dir).expect("temp dir");
    let path = dir.path().join("bench.redb");
    let db = redb::Database::create(&path).expect("redb create");
    let started = Instant::now();
    let mut i = 0u64;
    while i < args.rows {
        let end = (i + BATCH_ROWS).min(args.rows);
        // The default durability is Immediate: each commit is fsynced, like a table batch.
        let tx = db.begin_write().expect("begin");
        {
            let mut t = tx.open_table(REDB_TABLE).expect("table");
            for r in i..end {
                t.insert(key(r).as_slice(), value(r).as_slice()).expect("insert");
            }
        }
        tx.commit().expect("commit");
        i = end;
    }
    let insert_s = started.elapsed().as_secs_f64();
    let tx = db.begin_read().expect("read");
    let t = tx.open_table(REDB_TABLE).expect("table");
    println!("redb: inserted {} rows in {insert_s:.1} s", t.len().unwrap_or(0));

    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = Instant::now();
    for _ in 0..args.gets {
        let r = rng.gen_range(0..args.rows);
        let v = t.get(key(r).as_slice()).expect("get").expect("row present");
        assert_eq!(v.value(), value(r).as_slice());
    }
    let get_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut scanned = 0u64;
    for _ in 0..args.scans {
        let start = scan_start(&mut rng, args.rows);
        for row in t.range(start.as_slice()..).expect("range").take(args.scan_len) {
            let (k, v) = row.expect("row");
            std::hint::black_box((k.value().len(), v.value().len()));
            scanned += 1;
        }
    }
    let scan_s = started.elapsed().as_secs_f64();
    drop(t);
    drop(tx);
    let disk = dir_bytes(dir.path());
    drop(db);
    Figures {
        insert_rows_per_s: args.rows as f64 / insert_s,
        gets_per_s: args.gets as f64 / get_s,
        scanned_keys_per_s: scanned as f64 / scan_s,
        peak_rss_mib: peak_rss_mib(),
        disk_mib: disk as f64 / 1048576.0,
    }
}

fn main() {
    let args = parse_args();
    println!(
        "table_scale: {} rows of {VALUE_BYTES} bytes in batches of {BATCH_ROWS}, {} gets, {} scans of {} keys, in {}",
        args.rows,
        args.gets,
        args.scans,
        args.scan_len,
        args.dir.display()
    );
    reset_peak_rss();
    let lazuli = run_lazuli(&args);
    report("lazuli", &lazuli);
    if !args.skip_redb {
        reset_peak_rss();
        let redb = run_redb(&args);
        report("lazuli", &lazuli);
        report("redb", &redb);
    }
}
