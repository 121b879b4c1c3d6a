//! Real crashes: a child process (this test binary, re-executed) writes batches to a table on a
//! `LocalStore` and reports each acknowledged batch; the parent kills it with SIGKILL at a random
//! moment, reopens the table and checks that every acknowledged batch is present and intact and
//! that no batch is half applied. The same directory is reused across iterations, so recovery is
//! also tested on state left by earlier crashes (including crashes during recovery, flushes and
//! compactions).
//!
//! `LAZULI_CRASH_ITERATIONS` sets the number of kills (default 25; the full run is 200).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lazuli_stream::{LocalStore, StoreOptions, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};
use rand::{Rng, SeedableRng};

const CHILD_DIR_ENV: &str = "LAZULI_CRASH_CHILD_DIR";
const CHILD_FIRST_ID_ENV: &str = "LAZULI_CRASH_CHILD_FIRST_ID";
/// Writer threads in the child: concurrent writes share fsyncs (group commit), the interesting
/// case for atomicity.
const WRITERS: u64 = 3;
/// Ids of one iteration's batches stay below the next iteration's first id.
const IDS_PER_ITERATION: u64 = 1_000_000;
/// Every this many iterations the parent checks every batch ever written, not only the newest.
const FULL_CHECK_EVERY: u64 = 25;
/// Every this many iterations the parent compacts the recovered table to one checkpoint.
const COMPACT_EVERY: u64 = 10;
/// Bounds one iteration even if the child hangs before the kill or the pipe stalls.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

fn table_options(background: bool) -> TableOptions {
    TableOptions {
        // Small, so a second or two of writing goes through several flushes and compactions.
        memtable_bytes_max: 48 << 10,
        block_bytes: 1024,
        block_cache_bytes: 256 << 10,
        compaction_trigger_checkpoints: 3,
        background,
    }
}

fn open_table(dir: &Path, background: bool) -> Arc<Table> {
    // Small extents so that rolls, seals and extent deletion happen often.
    let store = LocalStore::open(
        dir,
        StoreOptions {
            extent_size_bytes_max: 256 << 10,
            sync: true,
        },
    )
    .unwrap();
    Table::open(store as Arc<dyn StreamStore>, "crash", table_options(background)).unwrap()
}

/// Rows per batch, derived from the id so the parent knows what a complete batch is.
fn rows_in(id: u64) -> u64 {
    1 + id % 5
}

fn row_key(id: u64, j: u64) -> Vec<u8> {
    format!("batch/{id:012}/{j}").into_bytes()
}

/// A value that names its batch and row, with filler of varying length and a CRC of the rest.
fn row_value(id: u64, j: u64) -> Vec<u8> {
    let filler = "x".repeat(((id * 7 + j * 13) % 300) as usize);
    let body = format!("id={id};j={j};n={};{filler}", rows_in(id));
    format!("{body};crc={:08x}", lazuli_stream::crc::crc32c(body.as_bytes())).into_bytes()
}

/// Parses and checks a value; returns (id, j) if intact.
fn check_value(value: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (body, crc) = text.rsplit_once(";crc=")?;
    if format!("{:08x}", lazuli_stream::crc::crc32c(body.as_bytes())) != crc {
        return None;
    }
    let mut fields = body.split(';');
    let id = fields.next()?.strip_prefix("id=")?.parse().ok()?;
    let j = fields.next()?.strip_prefix("j=")?.parse().ok()?;
    Some((id, j))
}

fn batch(id: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    for j in 0..rows_in(id) {
        b.put(row_key(id, j), row_value(id, j));
    }
    // A row every batch overwrites: newest-wins across group-committed batches.
    b.put(format!("last/{}", id % WRITERS).into_bytes(), row_value(id, 0));
    b
}

/// The child: write until killed.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let first: u64 = std::env::var(CHILD_FIRST_ID_ENV).unwrap().parse().unwrap();
    let table = open_table(Path::new(&dir), true);
    println!("OPEN");
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let table = table.clone();
            std::thread::spawn(move || {
                let mut id = first + w;
                loop {
                    table.write(&batch(id)).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {id}").unwrap();
                    out.flush().unwrap();
                    id += WRITERS;
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Checks the batches with ids in `ids` (a scan of their rows: none half applied, values intact,
/// every acknowledged one present) and returns the ids present there.
fn verify_range(table: &Table, acked: &BTreeSet<u64>, ids: std::ops::Range<u64>) -> BTreeSet<u64> {
    let start = format!("batch/{:012}", ids.start).into_bytes();
    let end = format!("batch/{:012}", ids.end).into_bytes();
    let rows = table.scan(&start, Some(&end), usize::MAX).unwrap();
    let mut by_batch: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for (key, value) in &rows {
        let (id, j) =
            check_value(value).unwrap_or_else(|| panic!("damaged value under {:?}", String::from_utf8_lossy(key)));
        assert_eq!(key, &row_key(id, j), "value stored under the wrong key");
        by_batch.entry(id).or_default().insert(j);
    }
    for (id, rows) in &by_batch {
        assert_eq!(
            rows.len() as u64,
            rows_in(*id),
            "batch {id} is half applied: rows {rows:?}"
        );
    }
    for id in acked.range(ids) {
        assert!(by_batch.contains_key(id), "acknowledged batch {id} is missing");
    }
    by_batch.into_keys().collect()
}

/// Point reads of every row of some older acknowledged batches (a full scan of all history in
/// every iteration would make the run quadratic; a full scan runs every few iterations).
fn verify_sample(table: &Table, acked: &BTreeSet<u64>, rng: &mut impl Rng, count: usize) {
    let all: Vec<u64> = acked.iter().copied().collect();
    for _ in 0..count.min(all.len()) {
        let id = all[rng.gen_range(0..all.len())];
        for j in 0..rows_in(id) {
            assert_eq!(
                table.get(&row_key(id, j)).unwrap().map(Vec::from),
                Some(row_value(id, j)),
                "acknowledged batch {id} row {j}"
            );
        }
    }
}

fn verify_last_rows(table: &Table) {
    for w in 0..WRITERS {
        if let Some(value) = table.get(format!("last/{w}").as_bytes()).unwrap() {
            let (id, j) = check_value(&value).expect("damaged last/ row");
            assert_eq!(
                table.get(&row_key(id, j)).unwrap(),
                Some(value),
                "last/{w} names batch {id}, which is absent"
            );
        }
    }
}

#[test]
fn crash_consistency() {
    if std::env::var(CHILD_DIR_ENV).is_ok() {
        return;
    }
    let iterations: u64 = std::env::var("LAZULI_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let seed: u64 = std::env::var("LAZULI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash_consistency: {iterations} iterations, seed {seed} (LAZULI_CRASH_SEED)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let started = Instant::now();
    for iteration in 0..iterations {
        let first_id = (iteration + 1) * IDS_PER_ITERATION;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_FIRST_ID_ENV, first_id.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill at a random moment after the child opened the table: sometimes right away
        // (mid-recovery work), mostly while it writes, flushes and compacts.
        let delay = Duration::from_millis(rng.gen_range(0..1200));
        let deadline = Instant::now() + CHILD_TIMEOUT;
        let mut lines = Vec::new();
        let mut opened_at = None;
        loop {
            let now = Instant::now();
            if now > deadline {
                break;
            }
            if let Some(at) = opened_at {
                if now >= at + delay {
                    break;
                }
            }
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(line) => {
                    // The test harness may print its own text before ours on the same line.
                    if line.ends_with("OPEN") {
                        opened_at = Some(Instant::now());
                    }
                    lines.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        assert!(
            opened_at.is_some() || status.code().is_none(),
            "child exited before opening the table: {status}"
        );
        let new_acks: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.rsplit_once("ACK ")?.1.parse().ok())
            .collect();
        acked.extend(new_acks.iter().copied());

        let table = open_table(dir.path(), false);
        let present = verify_range(&table, &acked, first_id..first_id + IDS_PER_ITERATION);
        verify_sample(&table, &acked, &mut rng, 200);
        verify_last_rows(&table);
        let last = iteration + 1 == iterations;
        if iteration % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1 || last {
            verify_range(&table, &acked, 0..u64::MAX / 2);
        }
        if iteration % COMPACT_EVERY == COMPACT_EVERY - 1 {
            // Compaction on recovered state, by the parent, then the same checks again.
            table.compact().unwrap();
            verify_range(&table, &acked, first_id..first_id + IDS_PER_ITERATION);
            verify_sample(&table, &acked, &mut rng, 200);
        }
        // Nothing the child did not try to write can appear: per writer, at most the batch in
        // flight past its last acknowledgement.
        for w in 0..WRITERS {
            let last_acked = new_acks
                .iter()
                .filter(|id| **id >= first_id && (**id - first_id) % WRITERS == w)
                .max()
                .copied();
            let limit = last_acked.map_or(first_id + w, |id| id + WRITERS);
            let beyond: Vec<_> = present
                .range(first_id..)
                .filter(|id| (*id - first_id) % WRITERS == w && **id > limit)
                .collect();
            assert!(beyond.is_empty(), "batches {beyond:?} were never written by writer {w}");
        }
        let stats = table.stats();
        drop(table);
        println!(
            "iteration {iteration}: killed after {delay:?}, {} acks ({} total), {} of this iteration's batches present, {} checkpoints, {} rows extents",
            new_acks.len(),
            acked.len(),
            present.len(),
            stats.checkpoints,
            stats.rows_extents
        );
    }
    println!("crash_consistency: {iterations} iterations in {:?}", started.elapsed());
}
