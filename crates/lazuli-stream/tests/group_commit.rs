//! Concurrent appends share syncs, and every acknowledged record is durable and readable.

use std::sync::Arc;
use std::thread;

use lazuli_stream::{LocalStore, MemStore, StoreOptions, StreamPosition, StreamStore};

const THREADS: usize = 16;
const APPENDS_PER_THREAD: usize = 200;

fn payload(thread: usize, i: usize) -> Vec<u8> {
    let mut p = format!("t{thread}-a{i}-").into_bytes();
    p.resize(64 + (thread * 7 + i) % 100, thread as u8);
    p
}

/// Appends from many threads, then checks every location, and replay order against the
/// per-thread order. Returns the number of appends.
fn hammer(store: Arc<dyn StreamStore>) -> usize {
    let stream = store.open_stream("group").unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let stream = stream.clone();
            thread::spawn(move || {
                (0..APPENDS_PER_THREAD)
                    .map(|i| {
                        let p = payload(t, i);
                        (stream.append(&[&p]).unwrap()[0], p)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<Vec<_>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for per_thread in &results {
        for (loc, p) in per_thread {
            assert_eq!(&stream.read(*loc).unwrap(), p);
        }
        // Each thread's appends land in its own call order.
        assert!(per_thread.windows(2).all(|w| w[0].0 < w[1].0));
    }
    let mut replayed = 0;
    stream
        .replay(StreamPosition::default(), &mut |_, _| {
            replayed += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(replayed, THREADS * APPENDS_PER_THREAD);
    THREADS * APPENDS_PER_THREAD
}

#[test]
fn concurrent_appends_share_fsyncs_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        extent_size_bytes_max: 256 << 10,
        sync: true,
    };
    let store = LocalStore::open(dir.path(), options.clone()).unwrap();
    let appends = hammer(store.clone());
    let stats = store.stats();
    assert_eq!(stats.appends, appends as u64);
    assert_eq!(stats.records, appends as u64);
    assert!(
        stats.syncs < stats.appends,
        "no group commit: {} syncs for {} appends",
        stats.syncs,
        stats.appends
    );
    assert!(stats.sync_nanos_total > 0);
    let global = lazuli_stream::stats();
    assert!(global.appends >= stats.appends && global.syncs >= stats.syncs);

    // Everything acknowledged is there after a restart.
    drop(store);
    let store = LocalStore::open(dir.path(), options).unwrap();
    let stream = store.open_stream("group").unwrap();
    let mut replayed = 0;
    stream
        .replay(StreamPosition::default(), &mut |_, _| {
            replayed += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(replayed, appends);
}

#[test]
fn concurrent_appends_survive_a_power_loss_in_memory() {
    let store = MemStore::with_options(StoreOptions {
        extent_size_bytes_max: 64 << 10,
        sync: true,
    });
    let appends = hammer(store.clone());
    let restarted = store.crash();
    let stream = restarted.open_stream("group").unwrap();
    let mut replayed = 0;
    stream
        .replay(StreamPosition::default(), &mut |_, _| {
            replayed += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(replayed, appends);
}

/// Queued appends are written together only while they fit in the open extent: with extents of
/// a few records, nearly every combined write is cut at an extent boundary. Without syncing,
/// appends are acknowledged by the combiner itself.
#[test]
fn combined_writes_split_at_extent_boundaries() {
    for sync in [true, false] {
        let store = MemStore::with_options(StoreOptions {
            extent_size_bytes_max: 600,
            sync,
        });
        let appends = hammer(store.clone());
        let stream = store.open_stream("group").unwrap();
        assert!(
            stream.extents().len() > appends / 10,
            "records were not spread over extents"
        );
    }
}

#[test]
fn replay_during_appends_always_sees_a_prefix() {
    const RECORDS: u32 = 400;
    let store = MemStore::with_options(StoreOptions {
        extent_size_bytes_max: 512,
        sync: true,
    });
    let stream = store.open_stream("live").unwrap();
    let writer = {
        let stream = stream.clone();
        thread::spawn(move || {
            for i in 0..RECORDS {
                stream.append(&[&i.to_le_bytes()]).unwrap();
            }
        })
    };
    let mut last_seen = 0;
    loop {
        // Checked before the pass: if the writer was done, this pass must see everything
        // (which also ends the loop if the writer panicked).
        let writer_done = writer.is_finished();
        let mut seen = 0u32;
        stream
            .replay(StreamPosition::default(), &mut |_, p| {
                assert_eq!(p, seen.to_le_bytes(), "replay skipped or reordered a record");
                seen += 1;
                Ok(())
            })
            .unwrap();
        assert!(seen >= last_seen, "replay went backwards");
        last_seen = seen;
        if seen == RECORDS {
            break;
        }
        assert!(!writer_done, "writer finished but replay saw only {seen} records");
    }
    writer.join().unwrap();
}

/// Many writers, a sync that fails somewhere in the middle, then a power loss with a torn
/// tail: every acknowledged record is still there, and replay holds no damaged record.
#[test]
fn concurrent_writers_with_a_failed_sync_keep_every_acknowledged_record() {
    use lazuli_stream::{FaultPlan, RecordLocation};
    for seed in 0..20u64 {
        let store = MemStore::with_options(StoreOptions {
            extent_size_bytes_max: 2048,
            sync: true,
        });
        let stream = store.open_stream("log").unwrap();
        store.set_faults(FaultPlan::new().fail_nth_sync(5 + seed * 3));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let stream = stream.clone();
                thread::spawn(move || {
                    let mut acked: Vec<(RecordLocation, Vec<u8>)> = Vec::new();
                    for i in 0..50 {
                        let p = payload(t, i);
                        match stream.append(&[&p]) {
                            Ok(locs) => acked.push((locs[0], p)),
                            Err(_) => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        let acked: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let restarted = store.crash_torn(seed);
        let stream = restarted.open_stream("log").unwrap();
        let mut replayed = std::collections::HashMap::new();
        stream
            .replay(StreamPosition::default(), &mut |loc, p| {
                replayed.insert(loc, p.to_vec());
                Ok(())
            })
            .unwrap();
        for (loc, p) in &acked {
            assert_eq!(replayed.get(loc), Some(p), "seed {seed}: lost {loc:?}");
        }
    }
}
