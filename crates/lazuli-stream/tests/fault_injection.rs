//! Failed syncs poison a stream, failed and torn writes never leave a wrong record behind,
//! and damaged bytes are reported, not returned.

use std::sync::Arc;

use lazuli_stream::record::FrameVersion;
use lazuli_stream::{
    FaultPlan, MemStore, RecordLocation, StoreOptions, Stream, StreamError, StreamPosition, StreamStore,
    EXTENT_HEADER_BYTES,
};

fn replay_payloads(stream: &dyn Stream) -> Result<Vec<Vec<u8>>, StreamError> {
    let mut out = Vec::new();
    stream.replay(StreamPosition::default(), &mut |_, p| {
        out.push(p.to_vec());
        Ok(())
    })?;
    Ok(out)
}

fn open(store: &Arc<MemStore>) -> Arc<dyn Stream> {
    store.open_stream("s").unwrap()
}

#[test]
fn failed_sync_poisons_forever() {
    let store = MemStore::new();
    let s = open(&store);
    let first = s.append(&[b"durable"]).unwrap()[0];
    store.set_faults(FaultPlan::new().fail_nth_sync(1));
    assert!(matches!(s.append(&[b"lost"]), Err(StreamError::Poisoned(_))));
    // Every later write is refused, even though syncs would work again.
    for _ in 0..3 {
        assert!(matches!(s.append(&[b"again"]), Err(StreamError::Poisoned(_))));
    }
    assert!(matches!(s.seal(), Err(StreamError::Poisoned(_))));
    assert!(matches!(s.delete_extent(1), Err(StreamError::Poisoned(_))));
    // Opening it again in the same process returns the same poisoned stream.
    assert!(matches!(open(&store).append(&[b"x"]), Err(StreamError::Poisoned(_))));
    // Reads still work.
    assert_eq!(s.read(first).unwrap(), b"durable");
    assert_eq!(replay_payloads(&*s).unwrap(), [b"durable".to_vec()]);
    // Only after a restart (reopen from what is on disk) are writes accepted again.
    let restarted = store.crash();
    let s = open(&restarted);
    assert_eq!(replay_payloads(&*s).unwrap(), [b"durable".to_vec()]);
    let next = s.append(&[b"after restart"]).unwrap()[0];
    assert_eq!(s.read(next).unwrap(), b"after restart");
}

#[test]
fn failed_sync_poisons_every_waiting_writer() {
    let store = MemStore::new();
    let s = open(&store);
    s.append(&[b"warm up"]).unwrap();
    store.set_faults(FaultPlan::new().fail_nth_sync(1));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || s.append(&[format!("w{i}").as_bytes()]))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Whoever was covered by a sync before the failure succeeded; no one after it did.
    assert!(results.iter().any(|r| matches!(r, Err(StreamError::Poisoned(_)))));
    assert!(matches!(s.append(&[b"x"]), Err(StreamError::Poisoned(_))));
    // Whatever was acknowledged before the failure survives a power loss.
    let restarted = store.crash();
    let s2 = open(&restarted);
    for (i, result) in results.iter().enumerate() {
        if let Ok(locs) = result {
            assert_eq!(s2.read(locs[0]).unwrap(), format!("w{i}").as_bytes());
        }
    }
}

#[test]
fn failed_sync_while_creating_an_extent_poisons() {
    let store = MemStore::with_options(StoreOptions {
        extent_size_bytes_max: 64,
        sync: true,
    });
    let s = open(&store);
    // Creating the first extent syncs the file and then the directory: fail the latter.
    store.set_faults(FaultPlan::new().fail_nth_sync(2));
    assert!(matches!(s.append(&[b"a"]), Err(StreamError::Poisoned(_))));
    assert!(matches!(s.append(&[b"a"]), Err(StreamError::Poisoned(_))));
}

#[test]
fn failed_write_leaves_nothing_and_the_stream_continues() {
    let store = MemStore::new();
    let s = open(&store);
    let a = s.append(&[b"a"]).unwrap()[0];
    store.set_faults(FaultPlan::new().fail_nth_write(1));
    assert!(matches!(s.append(&[b"b"]), Err(StreamError::Io { .. })));
    let c = s.append(&[b"c"]).unwrap()[0];
    assert_eq!(
        c.offset,
        a.end(FrameVersion::Whole).offset,
        "the failed append left no gap"
    );
    assert_eq!(replay_payloads(&*s).unwrap(), [b"a".to_vec(), b"c".to_vec()]);
    let restarted = store.crash();
    assert_eq!(
        replay_payloads(&*open(&restarted)).unwrap(),
        [b"a".to_vec(), b"c".to_vec()]
    );
}

#[test]
fn torn_write_is_cut_on_recovery() {
    for keep in [0, 1, 15, 16, 17, 30, 40, 1000] {
        let store = MemStore::new();
        let s = open(&store);
        let acked = s.append(&[b"one", b"two"]).unwrap();
        // Tear the next write (a batch of two 20-byte records) after `keep` bytes.
        store.set_faults(FaultPlan::new().tear_nth_write(1, keep));
        assert!(s.append(&[b"three", b"four"]).is_err());
        // The store is dead, like the process that tore the write.
        assert!(s.append(&[b"five"]).is_err());

        // A process crash keeps the torn prefix; recovery cuts it at the first bad frame.
        // A complete first frame of the batch may survive: it was never acknowledged, and
        // it is a whole, valid record.
        let restarted = store.crash_process();
        let s2 = open(&restarted);
        let payloads = replay_payloads(&*s2).unwrap();
        let expected_len = if keep >= 21 { 3 } else { 2 };
        assert_eq!(payloads.len(), expected_len, "keep {keep}");
        assert_eq!(&payloads[..2], [b"one".to_vec(), b"two".to_vec()]);
        for loc in &acked {
            assert!(s2.read(*loc).is_ok());
        }
        // The cut is durable and the stream writes again right after the last good record.
        let next = s2.append(&[b"six"]).unwrap()[0];
        let last_good = if keep >= 21 {
            acked[1].end(FrameVersion::Whole).offset + 21
        } else {
            acked[1].end(FrameVersion::Whole).offset
        };
        assert_eq!(next.offset, last_good);
        let again = restarted.crash();
        assert_eq!(replay_payloads(&*open(&again)).unwrap().last().unwrap(), b"six");
    }
}

#[test]
fn power_loss_keeps_exactly_the_synced_records() {
    let store = MemStore::new();
    let s = open(&store);
    s.append(&[b"one"]).unwrap();
    store.set_faults(FaultPlan::new().fail_nth_sync(1));
    assert!(s.append(&[b"never acknowledged"]).is_err());
    let after_power_loss = store.crash();
    assert_eq!(replay_payloads(&*open(&after_power_loss)).unwrap(), [b"one".to_vec()]);
}

#[test]
fn flipped_byte_is_detected_by_read_and_replay() {
    let store = MemStore::with_options(StoreOptions {
        extent_size_bytes_max: 128,
        sync: true,
    });
    let s = open(&store);
    let locs: Vec<RecordLocation> = (0..6u8).map(|i| s.append(&[&[i; 40]]).unwrap()[0]).collect();
    // Damage the payload of the first record of the (sealed) first extent.
    assert!(locs[0].extent == 1 && s.extents()[0].sealed);
    assert!(store.corrupt_byte("s", 1, locs[0].offset + 16 + 5));
    assert!(matches!(
        s.read(locs[0]),
        Err(StreamError::Corrupt { extent: 1, offset, .. }) if offset == locs[0].offset
    ));
    assert!(matches!(
        replay_payloads(&*s),
        Err(StreamError::Corrupt { extent: 1, .. })
    ));
    // Neighbours are unaffected, and replay from after the damage works.
    assert_eq!(s.read(locs[1]).unwrap(), [1u8; 40]);
    let mut after = 0;
    s.replay(locs[1].end(FrameVersion::Whole), &mut |_, _| {
        after += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(after, 4);

    // Damage in a header byte is caught too.
    assert!(store.corrupt_byte("s", locs[2].extent, locs[2].offset + 4));
    assert!(matches!(s.read(locs[2]), Err(StreamError::Corrupt { .. })));

    // A sealed extent is never cut on recovery: the damage is still reported after restart,
    // and the records after it are still there.
    let restarted = store.crash();
    let s2 = open(&restarted);
    assert!(matches!(s2.read(locs[0]), Err(StreamError::Corrupt { .. })));
    assert_eq!(s2.read(locs[5]).unwrap(), [5u8; 40]);
    assert_eq!(s2.extents()[0].size_bytes, s.extents()[0].size_bytes);
}

#[test]
fn damaged_tail_of_the_open_extent_is_cut_on_recovery() {
    let store = MemStore::new();
    let s = open(&store);
    let locs: Vec<RecordLocation> = (0..5u8).map(|i| s.append(&[&[i; 10]]).unwrap()[0]).collect();
    assert!(store.corrupt_byte("s", 1, locs[3].offset + 20));
    let restarted = store.crash();
    let s2 = open(&restarted);
    // Damage in the open extent is indistinguishable from a torn write: cut there.
    assert_eq!(replay_payloads(&*s2).unwrap().len(), 3);
    assert_eq!(s2.end_position().offset, locs[3].offset);
    assert!(s2.extents()[0].size_bytes == locs[3].offset);
    assert_eq!(
        s2.end_position(),
        StreamPosition {
            extent: 1,
            offset: locs[3].offset
        }
    );
    assert!(locs[0].offset == EXTENT_HEADER_BYTES as u64);
}

/// Large records are read in two parts (header, then the payload in place): damage in either
/// part, and a location whose length disagrees with the header, are still caught.
#[test]
fn large_records_are_checked_like_small_ones() {
    let store = MemStore::with_options(StoreOptions::default());
    let s = open(&store);
    let payload: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    let locs: Vec<RecordLocation> = (0..3).map(|_| s.append(&[&payload]).unwrap()[0]).collect();
    assert_eq!(s.read(locs[0]).unwrap(), payload);
    let shorter = RecordLocation {
        len: locs[0].len - 1,
        ..locs[0]
    };
    assert!(matches!(s.read(shorter), Err(StreamError::Corrupt { .. })));
    assert!(store.corrupt_byte("s", locs[1].extent, locs[1].offset + 16 + 200_000));
    assert!(matches!(s.read(locs[1]), Err(StreamError::Corrupt { .. })));
    assert!(store.corrupt_byte("s", locs[2].extent, locs[2].offset + 2));
    assert!(matches!(s.read(locs[2]), Err(StreamError::Corrupt { .. })));
    assert_eq!(s.read(locs[0]).unwrap(), payload);
}
