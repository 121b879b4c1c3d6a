//! The async write path: batches written with `try_write_async` are durable and visible once
//! their future resolves, interleave safely with blocking writers, flushes and compactions,
//! and survive a reopen; it declines (doing nothing) where it would have to block.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::thread;

use lazuli_stream::{block_on, LocalStore, MemStore, StoreOptions, StreamStore};
use lazuli_table::{Table, TableOptions, WriteBatch};

fn key(t: usize, i: usize) -> Vec<u8> {
    format!("t{t}-k{i:05}").into_bytes()
}

fn value(t: usize, i: usize) -> Vec<u8> {
    format!("value {t}/{i} ").repeat(20).into_bytes()
}

#[test]
fn async_writes_are_visible_when_resolved_and_survive_reopen_through_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let options = TableOptions {
        // Small memtables: many freezes and flushes race the async writers' held gates.
        memtable_bytes_max: 32 << 10,
        block_bytes: 1024,
        block_cache_bytes: 256 << 10,
        compaction_trigger_checkpoints: 3,
        background: true,
    };
    let store_options = StoreOptions {
        extent_size_bytes_max: 1 << 20,
        sync: true,
    };
    const THREADS: usize = 4;
    const WRITES: usize = 400;
    let went_async = Arc::new(AtomicUsize::new(0));
    {
        let store = LocalStore::open(dir.path(), store_options.clone()).unwrap();
        let table = Table::open(store as Arc<dyn StreamStore>, "t", options.clone()).unwrap();
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let table = table.clone();
                let went_async = went_async.clone();
                thread::spawn(move || {
                    for i in 0..WRITES {
                        let mut batch = WriteBatch::new();
                        batch.put(key(t, i), value(t, i));
                        if i > 0 {
                            // Each batch also overwrites the previous key: the newest must win.
                            batch.put(key(t, i - 1), format!("final {t}/{}", i - 1));
                        }
                        // Odd threads write with a blocking call now and then, beside the async ones.
                        let pending = if t % 2 == 1 && i % 5 == 0 {
                            None
                        } else {
                            table.try_write_async(&batch).unwrap()
                        };
                        match pending {
                            Some(pending) => {
                                block_on(pending).unwrap();
                                went_async.fetch_add(1, Ordering::Relaxed);
                            }
                            None => table.write(&batch).unwrap(),
                        }
                        assert_eq!(
                            table.get(&key(t, i)).unwrap().map(Vec::from),
                            Some(value(t, i)),
                            "not visible once resolved"
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let stats = table.stats();
        assert!(stats.flushes > 0, "{stats:?}");
        assert!(went_async.load(Ordering::Relaxed) > THREADS * WRITES / 2);
    }
    let store = LocalStore::open(dir.path(), store_options).unwrap();
    let table = Table::open(store as Arc<dyn StreamStore>, "t", options).unwrap();
    for t in 0..THREADS {
        for i in 0..WRITES - 1 {
            assert_eq!(
                table.get(&key(t, i)).unwrap().map(Vec::from),
                Some(format!("final {t}/{i}").into_bytes())
            );
        }
        assert_eq!(
            table.get(&key(t, WRITES - 1)).unwrap().map(Vec::from),
            Some(value(t, WRITES - 1))
        );
    }
}

#[test]
fn async_write_declines_without_background_threads_and_rejects_bad_batches() {
    let store = MemStore::new();
    let options = TableOptions {
        background: false,
        ..TableOptions::default()
    };
    let table = Table::open(store.clone() as Arc<dyn StreamStore>, "t", options).unwrap();
    let mut batch = WriteBatch::new();
    batch.put("k", "v");
    assert!(table.try_write_async(&batch).unwrap().is_none());
    assert_eq!(
        table.get(b"k").unwrap(),
        None,
        "a declined write must leave nothing behind"
    );

    let table = Table::open(store as Arc<dyn StreamStore>, "u", TableOptions::default()).unwrap();
    let mut bad = WriteBatch::new();
    bad.put(vec![b'k'; 1 << 20], "v");
    assert!(table.try_write_async(&bad).is_err());
    let empty = WriteBatch::new();
    block_on(table.try_write_async(&empty).unwrap().unwrap()).unwrap();
    block_on(table.try_write_async(&batch).unwrap().unwrap()).unwrap();
    assert_eq!(table.get(b"k").unwrap().map(Vec::from), Some(b"v".to_vec()));
}

/// A caller that gives up on its commit (a dropped request) does not leave a durable batch
/// that only a reopen would show: dropping the future waits for the append and applies it.
#[test]
fn a_dropped_async_write_is_still_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store_options = StoreOptions {
        extent_size_bytes_max: 1 << 20,
        sync: true,
    };
    let options = TableOptions::default();
    {
        let store = LocalStore::open(dir.path(), store_options.clone()).unwrap();
        let table = Table::open(store as Arc<dyn StreamStore>, "t", options.clone()).unwrap();
        for i in 0..20 {
            let mut batch = WriteBatch::new();
            batch.put(format!("dropped-{i}"), "v");
            let pending = table.try_write_async(&batch).unwrap().expect("room for a small batch");
            if i % 2 == 0 {
                // Polled once (queued and waiting), then abandoned.
                let mut pending = std::pin::pin!(pending);
                let _ = pending.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            } else {
                drop(pending);
            }
            assert_eq!(
                table.get(format!("dropped-{i}").as_bytes()).unwrap().map(Vec::from),
                Some(b"v".to_vec())
            );
        }
        // The table stays writable, and the gate was released (a flush can freeze).
        table.flush().unwrap();
    }
    let store = LocalStore::open(dir.path(), store_options).unwrap();
    let table = Table::open(store as Arc<dyn StreamStore>, "t", options).unwrap();
    for i in 0..20 {
        assert_eq!(
            table.get(format!("dropped-{i}").as_bytes()).unwrap().map(Vec::from),
            Some(b"v".to_vec())
        );
    }
}
