//! Basic behaviour of a table on the in-memory store: reads after writes, flushes, compaction and
//! reopen, each checked by hand.

use std::sync::Arc;

use lazuli_stream::{MemStore, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};

fn options() -> TableOptions {
    TableOptions {
        memtable_bytes_max: 16 << 10,
        block_bytes: 512,
        block_cache_bytes: 64 << 10,
        compaction_trigger_checkpoints: 4,
        background: false,
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

#[test]
fn write_get_scan_flush_compact_reopen() {
    let store = MemStore::new();
    let table = Table::open(store.clone() as Arc<dyn StreamStore>, "t", options()).unwrap();
    for chunk in 0..50u32 {
        let mut batch = WriteBatch::new();
        for i in chunk * 20..chunk * 20 + 20 {
            batch.put(key(i), format!("value-{i}"));
        }
        table.write(&batch).unwrap();
    }
    let mut batch = WriteBatch::new();
    batch.delete(key(5)).put(key(6), "six");
    table.write(&batch).unwrap();
    let stats = table.stats();
    assert!(stats.checkpoints >= 1, "{stats:?}");
    assert_eq!(table.get(&key(5)).unwrap(), None);
    assert_eq!(table.get(&key(6)).unwrap().map(Vec::from), Some(b"six".to_vec()));
    assert_eq!(
        table.get(&key(999)).unwrap().map(Vec::from),
        Some(b"value-999".to_vec())
    );
    assert_eq!(table.get(b"nope").unwrap(), None);
    let rows = table.scan(&key(3), Some(&key(9)), 100).unwrap();
    let keys: Vec<_> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(keys, vec![key(3), key(4), key(6), key(7), key(8)]);
    assert_eq!(table.scan(b"", None, 10_000).unwrap().len(), 999);

    table.flush().unwrap();
    table.compact().unwrap();
    assert_eq!(table.stats().checkpoints, 1);
    assert_eq!(table.scan(b"", None, 10_000).unwrap().len(), 999);
    assert_eq!(table.get(&key(6)).unwrap().map(Vec::from), Some(b"six".to_vec()));
    drop(table);

    let table = Table::open(store.clone() as Arc<dyn StreamStore>, "t", options()).unwrap();
    assert_eq!(table.scan(b"", None, 10_000).unwrap().len(), 999);
    assert_eq!(table.get(&key(5)).unwrap(), None);
    let mut batch = WriteBatch::new();
    batch.put(key(5), "back");
    table.write(&batch).unwrap();
    drop(table);
    let crashed = store.crash();
    let table = Table::open(crashed as Arc<dyn StreamStore>, "t", options()).unwrap();
    assert_eq!(table.get(&key(5)).unwrap().map(Vec::from), Some(b"back".to_vec()));
    assert_eq!(table.scan(b"", None, 10_000).unwrap().len(), 1000);
}
