//! The table's on-stream formats on hostile data, through `Table::open` over a `MemStore`: the
//! manifest, checkpoint footer, block index, bloom filter and data block decoders and the
//! commit-log decoder are crate-private, so the target reaches them the way recovery does.
//!
//! A real table is written first (two checkpoints and a commit-log tail), then the fuzzer edits
//! its streams: appends arbitrary records, appends damaged copies of real records (re-sealed with
//! a valid table checksum so they get past it), points the newest manifest at any record of the
//! rows stream, seals streams and flips stored bytes. Then the table is reopened, read, scanned,
//! written and flushed. Properties: nothing panics; every failure is an error value.

#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use lazuli_stream::{MemStore, RecordLocation, Stream, StreamPosition, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Which {
    Log,
    Rows,
    Meta,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Log => "t.log",
            Which::Rows => "t.rows",
            Which::Meta => "t.meta",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Append arbitrary bytes as one record, optionally sealed with a valid table checksum.
    Append {
        stream: Which,
        bytes: Vec<u8>,
        seal_crc: bool,
    },
    /// Append a copy of record `index` with bytes XORed (before re-sealing its checksum). For the
    /// meta stream, `bump` makes the copy the newest manifest.
    MutateCopy {
        stream: Which,
        index: u8,
        edits: Vec<(u16, u8)>,
        reseal: bool,
        bump: bool,
    },
    /// A new manifest: the newest one with checkpoint `slot`'s footer pointing at rows record
    /// `rows_index` (which may be a block, an index part, a bloom part or a damaged copy).
    Repoint {
        slot: u8,
        rows_index: u8,
    },
    /// Set the newest manifest's log replay position.
    ReplayFrom {
        extent: u8,
        offset: u16,
    },
    Seal {
        stream: Which,
    },
    /// Flip a stored byte (fails the stream checksum of that record).
    Corrupt {
        stream: Which,
        extent: u8,
        offset: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
    probe_keys: Vec<Vec<u8>>,
}

fn options() -> TableOptions {
    // Small blocks (many per checkpoint) and no background threads (deterministic runs).
    TableOptions {
        memtable_bytes_max: 1 << 20,
        block_bytes: 256,
        block_cache_bytes: 1 << 16,
        background: false,
        ..TableOptions::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

/// Two checkpoints (the second overwriting and deleting some rows of the first) and a log tail.
fn seed_table(store: &Arc<MemStore>) {
    let table = Table::open(store.clone(), "t", options()).expect("open fresh table");
    for round in 0..2u32 {
        let mut batch = WriteBatch::new();
        for i in 0..40 {
            if round == 1 && i % 7 == 0 {
                batch.delete(key(i));
            } else {
                batch.put(key(i + round * 20), format!("value {i} of round {round}").into_bytes());
            }
        }
        table.write(&batch).expect("write");
        table.flush().expect("flush");
    }
    let mut batch = WriteBatch::new();
    batch.put(b"tail".to_vec(), b"in the log only".to_vec()).delete(key(3));
    table.write(&batch).expect("write tail");
}

fn records(stream: &Arc<dyn Stream>) -> Vec<(RecordLocation, Vec<u8>)> {
    let mut out = Vec::new();
    // A damaged record stops the replay; what came before is still usable.
    let _ = stream.replay(StreamPosition::default(), &mut |location, bytes| {
        out.push((location, bytes.to_vec()));
        Ok(())
    });
    out
}

fn reseal(body: &mut Vec<u8>) {
    let crc = lazuli_stream::crc::crc32c(body);
    body.extend_from_slice(&crc.to_le_bytes());
}

/// The newest manifest, without its checksum, if the meta stream has one long enough.
fn newest_manifest(meta: &Arc<dyn Stream>) -> Option<Vec<u8>> {
    let (_, mut bytes) = records(meta).pop()?;
    if bytes.len() < 46 + 4 {
        return None;
    }
    bytes.truncate(bytes.len() - 4);
    Some(bytes)
}

fn generation(manifest: &[u8]) -> u64 {
    u64::from_le_bytes(manifest[2..10].try_into().expect("8 bytes"))
}

fn set_generation(manifest: &mut [u8], generation: u64) {
    manifest[2..10].copy_from_slice(&generation.to_le_bytes());
}

fuzz_target!(|input: Input| {
    if input.ops.len() > 32 {
        return;
    }
    // No fsync simulation: the crash below keeps every written byte anyway.
    let store = MemStore::with_options(lazuli_stream::StoreOptions {
        sync: false,
        ..Default::default()
    });
    seed_table(&store);
    let stream = |w: Which| store.open_stream(w.name()).expect("open stream");

    for op in &input.ops {
        match op {
            Op::Append {
                stream: w,
                bytes,
                seal_crc,
            } => {
                let mut bytes = bytes.clone();
                if *seal_crc {
                    reseal(&mut bytes);
                }
                let _ = stream(*w).append(&[&bytes]);
            }
            Op::MutateCopy {
                stream: w,
                index,
                edits,
                reseal: fix,
                bump,
            } => {
                let s = stream(*w);
                let all = records(&s);
                let Some((_, original)) = (!all.is_empty()).then(|| &all[usize::from(*index) % all.len()]) else {
                    continue;
                };
                let mut bytes = original.clone();
                if *fix && bytes.len() >= 4 {
                    bytes.truncate(bytes.len() - 4);
                }
                for (at, xor) in edits {
                    if !bytes.is_empty() {
                        let i = usize::from(*at) % bytes.len();
                        bytes[i] ^= xor;
                    }
                }
                if let (Which::Meta, true) = (w, bump) {
                    if let Some(newest) = newest_manifest(&s) {
                        if bytes.len() >= 10 {
                            set_generation(&mut bytes, generation(&newest).wrapping_add(1));
                        }
                    }
                }
                if *fix {
                    reseal(&mut bytes);
                }
                let _ = s.append(&[&bytes]);
            }
            Op::Repoint { slot, rows_index } => {
                let meta = stream(Which::Meta);
                let rows = records(&stream(Which::Rows));
                let Some(mut manifest) = newest_manifest(&meta) else {
                    continue;
                };
                let n = u32::from_le_bytes(manifest[42..46].try_into().expect("4 bytes")) as usize;
                if n == 0 || rows.is_empty() || manifest.len() < 46 + n * 28 {
                    continue;
                }
                let (location, _) = rows[usize::from(*rows_index) % rows.len()];
                let at = 46 + (usize::from(*slot) % n) * 28 + 8;
                manifest[at..at + 8].copy_from_slice(&location.extent.to_le_bytes());
                manifest[at + 8..at + 16].copy_from_slice(&location.offset.to_le_bytes());
                manifest[at + 16..at + 20].copy_from_slice(&location.len.to_le_bytes());
                let g = generation(&manifest).wrapping_add(1);
                set_generation(&mut manifest, g);
                reseal(&mut manifest);
                let _ = meta.append(&[&manifest]);
            }
            Op::ReplayFrom { extent, offset } => {
                let meta = stream(Which::Meta);
                let Some(mut manifest) = newest_manifest(&meta) else {
                    continue;
                };
                manifest[18..26].copy_from_slice(&u64::from(*extent).to_le_bytes());
                manifest[26..34].copy_from_slice(&u64::from(*offset).to_le_bytes());
                let g = generation(&manifest).wrapping_add(1);
                set_generation(&mut manifest, g);
                reseal(&mut manifest);
                let _ = meta.append(&[&manifest]);
            }
            Op::Seal { stream: w } => {
                let _ = stream(*w).seal();
            }
            Op::Corrupt {
                stream: w,
                extent,
                offset,
            } => {
                store.corrupt_byte(w.name(), u64::from(*extent), u64::from(*offset));
            }
        }
    }

    // Reopen from what is in the streams now (a process restart keeps every written byte).
    let store = store.crash_process();
    let Ok(table) = Table::open(store.clone(), "t", options()) else {
        return;
    };
    for i in 0..80 {
        let _ = table.get(&key(i));
    }
    for k in &input.probe_keys {
        let _ = table.get(k);
    }
    let _ = table.get(b"tail");
    let _ = table.scan(b"", None, 1000);
    let _ = table.scan(b"key0010", Some(b"key0030"), 5);
    let mut batch = WriteBatch::new();
    batch.put(b"after".to_vec(), b"reopen".to_vec());
    if table.write(&batch).is_ok() {
        let _ = table.flush();
        let _ = table.compact();
        let _ = table.get(b"after");
    }
    let _ = table.stats();
});
