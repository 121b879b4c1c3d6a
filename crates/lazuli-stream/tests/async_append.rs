//! Async appends: queued in call order when the call returns, resolved only once durable,
//! sharing syncs with each other and with blocking appends, and failed together by a poison.

use std::sync::Arc;
use std::thread;

use lazuli_stream::{
    block_on, FaultPlan, LocalStore, MemStore, StoreOptions, Stream, StreamError, StreamPosition, StreamStore,
};

#[test]
fn async_appends_keep_call_order_share_syncs_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        extent_size_bytes_max: 64 << 10,
        sync: true,
    };
    let store = LocalStore::open(dir.path(), options.clone()).unwrap();
    let stream = store.open_stream("async").unwrap();
    let payloads: Vec<Vec<u8>> = (0..500)
        .map(|i| format!("record {i:04}").repeat(1 + i % 7).into_bytes())
        .collect();
    // A blocking appender runs beside the async ones: both kinds share the queue and syncs.
    let blocking = {
        let stream = stream.clone();
        thread::spawn(move || {
            (0..200)
                .map(|i| stream.append(&[format!("blocking {i}").as_bytes()]).unwrap()[0])
                .collect::<Vec<_>>()
        })
    };
    let mut locations = Vec::new();
    for chunk in payloads.chunks(50) {
        // Every append of the chunk is queued before any is awaited.
        let futures: Vec<_> = chunk.iter().map(|p| stream.append_async(&[p])).collect();
        for future in futures {
            let loc = block_on(future).unwrap();
            assert_eq!(loc.len(), 1);
            locations.push(loc[0]);
        }
    }
    let blocking = blocking.join().unwrap();
    assert!(
        locations.windows(2).all(|w| w[0] < w[1]),
        "async appends out of call order"
    );
    for (loc, p) in locations.iter().zip(&payloads) {
        assert_eq!(&stream.read(*loc).unwrap(), p);
    }
    let stats = store.stats();
    assert_eq!(stats.appends, 700);
    assert!(
        stats.syncs < stats.appends,
        "no group commit: {} syncs for {} appends",
        stats.syncs,
        stats.appends
    );
    assert!(block_on(stream.append_async(&[])).unwrap().is_empty());

    drop(stream);
    drop(store);
    let store = LocalStore::open(dir.path(), options).unwrap();
    let stream = store.open_stream("async").unwrap();
    for (loc, p) in locations.iter().zip(&payloads) {
        assert_eq!(&stream.read(*loc).unwrap(), p);
    }
    for (i, loc) in blocking.iter().enumerate() {
        assert_eq!(stream.read(*loc).unwrap(), format!("blocking {i}").as_bytes());
    }
    let mut replayed = 0;
    stream
        .replay(StreamPosition::default(), &mut |_, _| {
            replayed += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(replayed, 700);
}

#[test]
fn a_failed_sync_fails_every_waiting_async_append() {
    let store = MemStore::new();
    let stream: Arc<dyn Stream> = store.open_stream("s").unwrap();
    let kept = block_on(stream.append_async(&[b"warm up"])).unwrap()[0];
    // The very next sync fails: every append queued behind it is waiting for it or a later one.
    store.set_faults(FaultPlan::new().fail_nth_sync(1));
    let names: Vec<String> = (0..32).map(|i| format!("a{i}")).collect();
    let futures: Vec<_> = names.iter().map(|n| stream.append_async(&[n.as_bytes()])).collect();
    for result in futures.into_iter().map(block_on) {
        assert!(matches!(result, Err(StreamError::Poisoned(_))), "{result:?}");
    }
    assert!(matches!(
        block_on(stream.append_async(&[b"x"])),
        Err(StreamError::Poisoned(_))
    ));
    let restarted = store.crash();
    let again = restarted.open_stream("s").unwrap();
    assert_eq!(again.read(kept).unwrap(), b"warm up");
}

#[test]
fn async_appends_acknowledged_before_a_failed_sync_survive_it() {
    let store = MemStore::new();
    let stream: Arc<dyn Stream> = store.open_stream("s").unwrap();
    store.set_faults(FaultPlan::new().fail_nth_sync(10));
    let mut acknowledged = Vec::new();
    for i in 0..64 {
        let name = format!("a{i}");
        match block_on(stream.append_async(&[name.as_bytes()])) {
            Ok(locations) => acknowledged.push((locations[0], name)),
            Err(error) => {
                assert!(matches!(error, StreamError::Poisoned(_)), "{error:?}");
                break;
            }
        }
    }
    // One append per sync here (the first ones also sync the new extent and its directory).
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 64,
        "{}",
        acknowledged.len()
    );
    let restarted = store.crash();
    let again = restarted.open_stream("s").unwrap();
    for (location, name) in acknowledged {
        assert_eq!(again.read(location).unwrap(), name.as_bytes());
    }
}

#[test]
fn an_oversized_async_append_fails_without_waiting() {
    let store = MemStore::new();
    let stream = store.open_stream("s").unwrap();
    let huge = vec![0u8; lazuli_stream::record::RECORD_BYTES_MAX + 1];
    assert!(matches!(
        block_on(stream.append_async(&[&huge])),
        Err(StreamError::RecordTooLarge(_))
    ));
    assert_eq!(block_on(stream.append_async(&[b"fine"])).unwrap().len(), 1);
}

/// A blocking appender that combined the queue passes the async appends queued after its
/// round to the sync thread instead of writing them itself. (Whether the sync thread first
/// syncs the blocking record or first writes the async one is its choice: here the held
/// write would hold the sync, so only who writes is checked.)
#[test]
fn a_blocking_combiner_leaves_later_async_appends_to_the_sync_thread() {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
    let store = MemStore::new();
    let stream = store.open_stream("handoff").unwrap();
    // The open extent exists, so the held writes below are the appends themselves.
    stream.append(&[b"first"]).unwrap();
    store.hold_writes();
    let blocking = {
        let stream = stream.clone();
        thread::Builder::new()
            .name("blocking-appender".into())
            .spawn(move || stream.append(&[b"blocking"]))
            .unwrap()
    };
    assert!(
        store.wait_for_held_writes(&["blocking-appender"], LIMIT),
        "the blocking appender writes its record"
    );
    // Queued when the call returns, behind the blocking append being written.
    let queued = stream.append_async(&[b"async"]);
    store.pass_writes(1);
    assert!(
        store.wait_for_held_writes(&["sync-handoff"], LIMIT),
        "the sync thread, not the blocking appender, writes the async append"
    );
    store.release_writes();
    let blocking = blocking.join().unwrap().unwrap();
    let queued = block_on(queued).unwrap();
    assert_eq!(stream.read(blocking[0]).unwrap(), b"blocking");
    assert_eq!(stream.read(queued[0]).unwrap(), b"async");
}
