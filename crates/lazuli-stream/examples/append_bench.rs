//! Group-commit throughput of a `LocalStore`: N writer threads append fixed-size records to
//! one stream for a bounded time, then the run prints appends/s, syncs/s and latency.
//!
//! ```text
//! cargo run --release -p lazuli-stream --example append_bench -- \
//!     [--dir DIR] [--threads 64] [--seconds 5] [--record-bytes 4096]
//! ```
//!
//! The store lives in a fresh temporary directory inside `--dir` (default: the system
//! temporary directory), removed at the end. Compare syncs/s with the disk's own fsync rate
//! (e.g. `fio --name=fsync --rw=write --bs=4k --size=64m --fsync=1 --directory=DIR`):
//! group commit turns each of those syncs into many acknowledged appends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lazuli_stream::{LocalStore, StoreOptions, StreamStore};

/// Upper bounds on the arguments, so a typo cannot start a run that never ends.
const THREADS_MAX: usize = 1024;
const SECONDS_MAX: u64 = 600;
const RECORD_BYTES_MAX: usize = 16 << 20;

struct Args {
    dir: PathBuf,
    threads: usize,
    seconds: u64,
    record_bytes: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: std::env::temp_dir(),
        threads: 64,
        seconds: 5,
        record_bytes: 4096,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(&value),
            "--threads" => args.threads = number()? as usize,
            "--seconds" => args.seconds = number()?,
            "--record-bytes" => args.record_bytes = number()? as usize,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !(1..=THREADS_MAX).contains(&args.threads)
        || !(1..=SECONDS_MAX).contains(&args.seconds)
        || !(1..=RECORD_BYTES_MAX).contains(&args.record_bytes)
    {
        return Err(format!(
            "limits: 1..={THREADS_MAX} threads, 1..={SECONDS_MAX} s, 1..={RECORD_BYTES_MAX} bytes"
        ));
    }
    Ok(args)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("append_bench: {e}");
            std::process::exit(2);
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("lazuli-append-bench-")
        .tempdir_in(&args.dir)
        .expect("create a temporary directory");
    let store = LocalStore::open(dir.path(), StoreOptions::default()).expect("open store");
    let stream = store.open_stream("bench").expect("open stream");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let stream = stream.clone();
            let stop = stop.clone();
            let payload = vec![t as u8; args.record_bytes];
            thread::spawn(move || {
                let mut latencies_us = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    stream.append(&[&payload]).expect("append");
                    latencies_us.push(t0.elapsed().as_micros() as u64);
                }
                latencies_us
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("writer thread"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    let stats = store.stats();
    println!(
        "threads={} record_bytes={} seconds={:.2}",
        args.threads, args.record_bytes, elapsed
    );
    println!(
        "appends/s={:.0} syncs/s={:.0} appends_per_sync={:.1} MiB/s={:.1}",
        stats.appends as f64 / elapsed,
        stats.syncs as f64 / elapsed,
        stats.appends as f64 / stats.syncs.max(1) as f64,
        stats.bytes as f64 / elapsed / (1 << 20) as f64,
    );
    println!(
        "latency_us p50={} p99={} max={} mean_sync_us={:.0}",
        percentile(&latencies_us, 0.50),
        percentile(&latencies_us, 0.99),
        latencies_us.last().copied().unwrap_or(0),
        stats.sync_nanos_total as f64 / stats.syncs.max(1) as f64 / 1000.0,
    );
}
