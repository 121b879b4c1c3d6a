//! The table against a model: random batches, reads, scans, flushes, compactions, reopens and
//! crashes, with every result compared to a `BTreeMap` that applies the same operations.

use std::collections::BTreeMap;
use std::sync::Arc;

use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Write(Vec<(u8, Option<Vec<u8>>)>),
    Get(u8),
    Scan {
        start: u8,
        end: Option<u8>,
        limit: usize,
    },
    Flush,
    Compact,
    Reopen,
    /// Power loss: only synced bytes survive (every acknowledged write is synced).
    Crash,
    /// Power loss during writeback: synced bytes plus a random prefix of unsynced tails.
    CrashTorn(u64),
}

/// A small key space so that keys collide across batches; varied lengths so prefix compression
/// and ordering of keys that are prefixes of each other are exercised.
fn key(k: u8) -> Vec<u8> {
    match k % 3 {
        0 => format!("k{k:03}").into_bytes(),
        1 => format!("k{:03}/child", k - 1).into_bytes(),
        _ => format!("other/{k}").into_bytes(),
    }
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 300..1200),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let keys = 0u8..48;
    prop_oneof![
        30 => proptest::collection::vec((keys.clone(), proptest::option::weighted(0.8, value_strategy())), 1..8).prop_map(Op::Write),
        10 => keys.clone().prop_map(Op::Get),
        8 => (keys.clone(), proptest::option::of(keys), 0usize..30).prop_map(|(start, end, limit)| Op::Scan { start, end, limit }),
        2 => Just(Op::Flush),
        2 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
        1 => any::<u64>().prop_map(Op::CrashTorn),
    ]
}

fn check_scan(table: &Table, model: &BTreeMap<Vec<u8>, Vec<u8>>, start: &[u8], end: Option<&[u8]>, limit: usize) {
    let got = table.scan(start, end, limit).unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = if end.is_some_and(|e| e <= start) {
        Vec::new()
    } else {
        model
            .range::<[u8], _>((
                std::ops::Bound::Included(start),
                end.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            ))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(got, expected, "scan {start:?}..{end:?} limit {limit}");
}

fn run(ops: Vec<Op>, memtable_bytes_max: usize, block_bytes: usize, background: bool) {
    let options = TableOptions {
        memtable_bytes_max,
        block_bytes,
        block_cache_bytes: 8 << 10,
        compaction_trigger_checkpoints: 3,
        background,
    };
    let mut store = MemStore::new();
    let open =
        |store: &Arc<MemStore>| Table::open(store.clone() as Arc<dyn StreamStore>, "model", options.clone()).unwrap();
    let mut table = open(&store);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Write(ops) => {
                let mut batch = WriteBatch::new();
                for (k, v) in ops {
                    match v {
                        Some(v) => {
                            batch.put(key(k), v.clone());
                            model.insert(key(k), v);
                        }
                        None => {
                            batch.delete(key(k));
                            model.remove(&key(k));
                        }
                    }
                }
                table.write(&batch).unwrap();
            }
            Op::Get(k) => assert_eq!(
                table.get(&key(k)).unwrap().map(Vec::from),
                model.get(&key(k)).cloned(),
                "get {:?}",
                key(k)
            ),
            Op::Scan { start, end, limit } => check_scan(&table, &model, &key(start), end.map(key).as_deref(), limit),
            Op::Flush => table.flush().unwrap(),
            Op::Compact => table.compact().unwrap(),
            Op::Reopen => {
                drop(table);
                table = open(&store);
            }
            Op::Crash | Op::CrashTorn(_) => {
                drop(table);
                store = match op {
                    Op::CrashTorn(seed) => store.crash_torn(seed),
                    _ => store.crash(),
                };
                table = open(&store);
            }
        }
    }
    // Everything, once more, and again after a final crash.
    check_scan(&table, &model, b"", None, usize::MAX);
    for k in 0..48 {
        assert_eq!(table.get(&key(k)).unwrap().map(Vec::from), model.get(&key(k)).cloned());
    }
    drop(table);
    let table = open(&store.crash());
    check_scan(&table, &model, b"", None, usize::MAX);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(
        ops in proptest::collection::vec(op_strategy(), 1..120),
        memtable_bytes_max in 512usize..6000,
        block_bytes in 64usize..1024,
    ) {
        run(ops, memtable_bytes_max, block_bytes, false);
    }

    #[test]
    fn table_matches_model_with_background_thread(
        ops in proptest::collection::vec(op_strategy(), 1..80),
        memtable_bytes_max in 512usize..6000,
    ) {
        run(ops, memtable_bytes_max, 256, true);
    }
}
