//! A flipped byte anywhere in a table's checkpoints or manifest: opening and reading either fail
//! or return exactly the right data, never something else.

use std::collections::BTreeMap;
use std::sync::Arc;

use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};
use proptest::prelude::*;

fn options() -> TableOptions {
    TableOptions {
        memtable_bytes_max: 4 << 10,
        block_bytes: 256,
        block_cache_bytes: 0,
        compaction_trigger_checkpoints: 4,
        background: false,
    }
}

/// A table with several checkpoints (tombstones included) and an empty memtable, and its model.
fn build(seed: u64) -> (Arc<MemStore>, BTreeMap<Vec<u8>, Vec<u8>>) {
    let store = MemStore::new();
    let table = Table::open(store.clone() as Arc<dyn StreamStore>, "t", options()).unwrap();
    let mut model = BTreeMap::new();
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..120 {
        let mut batch = WriteBatch::new();
        for _ in 0..4 {
            let key = format!("key-{:03}", next() % 150).into_bytes();
            if next() % 5 == 0 {
                batch.delete(key.clone());
                model.remove(&key);
            } else {
                let value = format!("value-{}-{}", next(), "v".repeat((next() % 40) as usize)).into_bytes();
                batch.put(key.clone(), value.clone());
                model.insert(key, value);
            }
        }
        table.write(&batch).unwrap();
    }
    table.flush().unwrap();
    (store, model)
}

fn stream_extents(store: &MemStore, stream: &str) -> Vec<(u64, usize)> {
    (0..256)
        .filter_map(|id| store.extent_bytes(stream, id).map(|b| (id, b.len())))
        .filter(|(_, len)| *len > 0)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn flipped_byte_is_an_error_or_harmless(seed in any::<u64>(), meta in proptest::bool::weighted(0.15), pick in any::<u64>(), at in any::<u64>()) {
        let (store, model) = build(seed);
        let stream = if meta { "t.meta" } else { "t.rows" };
        let extents = stream_extents(&store, stream);
        prop_assume!(!extents.is_empty());
        let (extent, len) = extents[(pick % extents.len() as u64) as usize];
        let offset = at % len as u64;
        prop_assert!(store.corrupt_byte(stream, extent, offset));

        let Ok(table) = Table::open(store.clone() as Arc<dyn StreamStore>, "t", options()) else { return Ok(()) };
        for i in 0..150 {
            let key = format!("key-{i:03}").into_bytes();
            if let Ok(found) = table.get(&key) {
                prop_assert_eq!(found.as_deref(), model.get(&key).map(Vec::as_slice), "get {} after flipping {}:{}:{}", i, stream, extent, offset);
            }
        }
        if let Ok(rows) = table.scan(b"", None, usize::MAX) {
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(rows, expected, "scan after flipping {}:{}:{}", stream, extent, offset);
        }
    }
}
