//! Injected faults: torn and failed writes, failed syncs and flipped bytes. A table either
//! reports the fault or returns the right data; it never returns wrong data.

use std::sync::Arc;

use lazuli_stream::{FaultPlan, MemStore, StreamError, StreamStore};
use lazuli_table::{Table, TableError, TableOptions, WriteBatch};

fn options() -> TableOptions {
    TableOptions {
        memtable_bytes_max: 1 << 20,
        block_bytes: 256,
        block_cache_bytes: 0,
        compaction_trigger_checkpoints: 4,
        background: false,
    }
}

fn open(store: &Arc<MemStore>) -> Result<Arc<Table>, TableError> {
    Table::open(store.clone() as Arc<dyn StreamStore>, "t", options())
}

/// A batch of `n` rows all naming `id`, so a partial batch is easy to spot.
fn batch(id: u32, n: u32) -> WriteBatch {
    let mut b = WriteBatch::new();
    for i in 0..n {
        b.put(
            format!("row-{i:03}"),
            format!("batch-{id}-row-{i}-payload-payload-payload"),
        );
    }
    b
}

/// Asserts batch `id` (all `n` rows of it) is what reopens after a machine crash and after a
/// process crash.
fn assert_holds_after_crashes(store: &Arc<MemStore>, id: u32, n: u32) {
    for restarted in [store.crash(), store.crash_process()] {
        let table = open(&restarted).unwrap();
        assert_holds(&table, id, n);
    }
}

/// Asserts the rows hold exactly batch `id` (all of it).
fn assert_holds(table: &Table, id: u32, n: u32) {
    let rows = table.scan(b"row-", Some(b"row-~"), 10_000).unwrap();
    assert_eq!(rows.len(), n as usize);
    for (i, (k, v)) in rows.iter().enumerate() {
        assert_eq!(k, format!("row-{i:03}").as_bytes());
        assert_eq!(
            v,
            format!("batch-{id}-row-{i}-payload-payload-payload").as_bytes(),
            "row {i}"
        );
    }
}

/// Finds `needle` in the stored extents of `stream`, returning (extent, offset).
fn find(store: &MemStore, stream: &str, needle: &[u8]) -> Option<(u64, u64)> {
    for extent in 0..64 {
        if let Some(bytes) = store.extent_bytes(stream, extent) {
            if let Some(pos) = bytes.windows(needle.len()).position(|w| w == needle) {
                return Some((extent, pos as u64));
            }
        }
    }
    None
}

#[test]
fn torn_commit_log_write_loses_only_the_unacknowledged_batch() {
    for keep in [1usize, 20, 100, 400] {
        let store = MemStore::new();
        let table = open(&store).unwrap();
        table.write(&batch(1, 20)).unwrap();
        store.set_faults(FaultPlan::new().tear_nth_write(1, keep));
        assert!(
            table.write(&batch(2, 20)).is_err(),
            "the torn write is not acknowledged"
        );
        // Nothing of the failed batch is visible; the torn store is dead, so writes keep failing.
        assert_holds(&table, 1, 20);
        assert!(table.write(&batch(3, 20)).is_err());
        assert_holds(&table, 1, 20);
        drop(table);
        for restarted in [store.crash_process(), store.crash()] {
            let table = open(&restarted).unwrap();
            assert_holds(&table, 1, 20);
            table.write(&batch(4, 20)).unwrap();
            assert_holds(&table, 4, 20);
        }
    }
}

#[test]
fn failed_commit_log_write_is_reported_and_the_table_goes_on() {
    // A failed write (a full disk, say) is cut off by the stream layer: the batch is not in the
    // log, so the table reports the error and stays writable.
    let store = MemStore::new();
    let table = open(&store).unwrap();
    table.write(&batch(1, 10)).unwrap();
    store.set_faults(FaultPlan::new().fail_nth_write(1));
    let err = table.write(&batch(2, 10)).unwrap_err();
    assert!(matches!(err, TableError::Stream(_)), "{err}");
    assert_holds(&table, 1, 10);
    table.write(&batch(3, 10)).unwrap();
    assert_holds(&table, 3, 10);
    drop(table);
    assert_holds_after_crashes(&store, 3, 10);
}

#[test]
fn failed_write_during_a_flush_is_retried_and_nothing_is_lost() {
    // Aim the failure at each of the flush's writes in turn (log seal, checkpoint records,
    // manifest, extent headers). A failed write is cut back by the stream, so the flush can
    // simply run again: the table stays writable, the next flush succeeds, and everything is
    // there, in this process and after a crash.
    let mut failures = 0;
    for nth in 1..=8 {
        let store = MemStore::new();
        let table = open(&store).unwrap();
        table.write(&batch(1, 40)).unwrap();
        store.set_faults(FaultPlan::new().fail_nth_write(nth));
        if let Err(e) = table.flush() {
            failures += 1;
            assert!(
                matches!(e, TableError::Stream(StreamError::Io { .. })),
                "the failure reports its cause: {e}"
            );
            assert_holds(&table, 1, 40);
            table.write(&batch(2, 40)).expect("writable after a failed flush");
            assert_holds(&table, 2, 40);
            table.flush().expect("the flush runs again");
            assert_holds(&table, 2, 40);
            assert_holds_after_crashes(&store, 2, 40);
        }
        drop(table);
        let store = store.crash();
        let table = open(&store).unwrap();
        table.write(&batch(3, 40)).unwrap();
        table.flush().unwrap();
        table.compact().unwrap();
        drop(table);
        let table = open(&store.crash()).unwrap();
        assert_holds(&table, 3, 40);
    }
    assert!(failures >= 3, "only {failures} of the flush's writes were hit");
}

#[test]
fn failed_write_during_a_compaction_is_retried_and_nothing_is_lost() {
    let mut failures = 0;
    for nth in 1..=6 {
        let store = MemStore::new();
        let table = open(&store).unwrap();
        for id in 1..=3 {
            table.write(&batch(id, 40)).unwrap();
            table.flush().unwrap();
        }
        store.set_faults(FaultPlan::new().fail_nth_write(nth));
        if let Err(e) = table.compact() {
            failures += 1;
            assert!(matches!(e, TableError::Stream(StreamError::Io { .. })), "{e}");
            assert_holds(&table, 3, 40);
            table.write(&batch(4, 40)).expect("writable after a failed compaction");
            table.compact().expect("the compaction runs again");
            assert_eq!(table.stats().checkpoints, 1);
        } else {
            table.write(&batch(4, 40)).unwrap();
        }
        assert_holds(&table, 4, 40);
        drop(table);
        assert_holds_after_crashes(&store, 4, 40);
    }
    assert!(failures >= 2, "only {failures} of the compaction's writes were hit");
}

#[test]
fn failed_sync_poisons_and_nothing_is_half_visible() {
    let store = MemStore::new();
    let table = open(&store).unwrap();
    table.write(&batch(1, 30)).unwrap();
    store.set_faults(FaultPlan::new().fail_nth_sync(1));
    let err = table.write(&batch(2, 30)).unwrap_err();
    assert!(
        !matches!(err, TableError::Poisoned(_)),
        "the first failure reports the cause: {err}"
    );
    assert_holds(&table, 1, 30);
    let err = table.write(&batch(3, 30)).unwrap_err();
    assert!(matches!(err, TableError::Poisoned(_)), "{err}");
    assert_holds(&table, 1, 30);
    drop(table);
    // The batch whose sync failed may or may not have reached the disk: all of it or none.
    for restarted in [store.crash(), store.crash_process()] {
        let table = open(&restarted).unwrap();
        let v = table.get(b"row-000").unwrap().unwrap();
        let id = if v.starts_with(b"batch-1-") { 1 } else { 2 };
        assert_holds(&table, id, 30);
    }
}

#[test]
fn failed_sync_during_flush_poisons_and_recovers_from_the_log() {
    let store = MemStore::new();
    let table = open(&store).unwrap();
    table.write(&batch(1, 30)).unwrap();
    store.set_faults(FaultPlan::new().fail_nth_sync(1));
    assert!(table.flush().is_err());
    assert_holds(&table, 1, 30);
    assert!(table.write(&batch(2, 30)).is_err());
    drop(table);
    let table = open(&store.crash()).unwrap();
    assert_holds(&table, 1, 30);
    table.flush().unwrap();
    table.write(&batch(3, 30)).unwrap();
    assert_holds(&table, 3, 30);
}

#[test]
fn flipped_byte_in_a_checkpoint_block_is_reported_not_returned() {
    let store = MemStore::new();
    let table = open(&store).unwrap();
    table.write(&batch(1, 50)).unwrap();
    table.flush().unwrap();
    assert_holds(&table, 1, 50);
    let (extent, offset) = find(&store, "t.rows", b"batch-1-row-17-payload").expect("row 17 is stored");
    assert!(store.corrupt_byte("t.rows", extent, offset + 3));
    // Reads that touch the damaged block fail; a fresh open (no cached blocks) fails the same way.
    for table in [table.clone(), open(&store).unwrap()] {
        let err = table.get(b"row-017").unwrap_err();
        assert!(err.is_corrupt(), "{err}");
        let err = table.scan(b"row-", None, 1000).unwrap_err();
        assert!(err.is_corrupt(), "{err}");
        // Rows in other blocks still read correctly.
        assert_eq!(
            table.get(b"row-049").unwrap().unwrap(),
            b"batch-1-row-49-payload-payload-payload"[..]
        );
    }
}

#[test]
fn flipped_byte_in_a_checkpoint_index_or_manifest_fails_the_open() {
    for (stream, needle) in [("t.rows", &b"row-049"[..]), ("t.meta", &[5u8][..])] {
        let store = MemStore::new();
        let table = open(&store).unwrap();
        table.write(&batch(1, 50)).unwrap();
        table.flush().unwrap();
        drop(table);
        // The last occurrence of the last key is in the block index (after the data blocks).
        let (extent, offset) = if stream == "t.rows" {
            let mut found = None;
            for extent in 0..64 {
                if let Some(bytes) = store.extent_bytes(stream, extent) {
                    if let Some(pos) = bytes.windows(needle.len()).rposition(|w| w == needle) {
                        found = Some((extent, pos as u64));
                    }
                }
            }
            found.unwrap()
        } else {
            // The manifest record: its kind byte follows the version byte.
            let (extent, _) = find(&store, stream, &[1u8, 5]).unwrap();
            let bytes = store.extent_bytes(stream, extent).unwrap();
            let pos = bytes.windows(2).rposition(|w| w == [1u8, 5]).unwrap();
            (extent, pos as u64 + 10)
        };
        assert!(store.corrupt_byte(stream, extent, offset));
        let err = open(&store).err().expect("open must fail");
        assert!(err.is_corrupt(), "{stream}: {err}");
    }
}

#[test]
fn flipped_byte_in_a_commit_log_record_fails_the_open() {
    let store = MemStore::new();
    let table = open(&store).unwrap();
    table.write(&batch(1, 5)).unwrap();
    table.write(&batch(2, 5)).unwrap();
    table.write(&batch(3, 5)).unwrap();
    drop(table);
    // Damage the first record (not the tail, which the stream layer may cut as torn).
    let (extent, offset) = find(&store, "t.log", b"batch-1-row-2").unwrap();
    assert!(store.corrupt_byte("t.log", extent, offset));
    let err = open(&store).err().expect("open must fail");
    assert!(err.is_corrupt(), "{err}");
}
