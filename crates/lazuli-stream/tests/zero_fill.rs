//! Streams that keep zeros written ahead of their records (`StreamOptions::zero_fill_ahead_bytes`):
//! the zeros are never read as records, a restart and a seal cut them, and they cost no
//! acknowledged write.

use std::path::Path;
use std::sync::Arc;

use lazuli_stream::{
    FaultPlan, LocalStore, MemStore, RecordLocation, StoreOptions, Stream, StreamOptions, StreamPosition, StreamStore,
};

const AHEAD: u64 = 4096;

fn options() -> StoreOptions {
    StoreOptions {
        extent_size_bytes_max: 64 << 10,
        sync: true,
    }
}

fn open(store: &dyn StreamStore) -> Arc<dyn Stream> {
    store
        .open_stream_with(
            "t.log",
            StreamOptions {
                zero_fill_ahead_bytes: AHEAD,
                ..StreamOptions::default()
            },
        )
        .unwrap()
}

fn replay_all(stream: &dyn Stream) -> Vec<(RecordLocation, Vec<u8>)> {
    let mut out = Vec::new();
    stream
        .replay(StreamPosition::default(), &mut |location, payload| {
            out.push((location, payload.to_vec()));
            Ok(())
        })
        .unwrap();
    out
}

fn record(i: usize) -> Vec<u8> {
    format!("record {i:04} ").repeat(7).into_bytes()
}

/// Appends `count` records one by one, returning them with their locations.
fn append_records(stream: &dyn Stream, from: usize, count: usize) -> Vec<(RecordLocation, Vec<u8>)> {
    (from..from + count)
        .map(|i| {
            let payload = record(i);
            let location = stream.append(&[&payload]).unwrap()[0];
            (location, payload)
        })
        .collect()
}

/// The bytes of an extent file of either store.
trait Files {
    fn extent_file(&self, extent: u64) -> Vec<u8>;
}

impl Files for MemStore {
    fn extent_file(&self, extent: u64) -> Vec<u8> {
        self.extent_bytes("t.log", extent).unwrap()
    }
}

struct OnDisk<'a>(&'a LocalStore);

impl Files for OnDisk<'_> {
    fn extent_file(&self, extent: u64) -> Vec<u8> {
        std::fs::read(self.0.extent_path("t.log", extent).unwrap()).unwrap()
    }
}

/// The open extent holds zeros past its last record, at least half of `AHEAD` of them.
fn assert_zeros_ahead(files: &dyn Files, stream: &dyn Stream) {
    let end = stream.end_position();
    let bytes = files.extent_file(end.extent);
    let end = end.offset as usize;
    assert!(
        bytes.len() >= end + AHEAD as usize / 2,
        "{} bytes, records end at {end}",
        bytes.len()
    );
    assert!(bytes[end..].iter().all(|&b| b == 0));
}

/// Every extent but the open one ends at its last record.
fn assert_sealed_extents_end_at_their_records(files: &dyn Files, stream: &dyn Stream) {
    let extents = stream.extents();
    assert!(extents.len() > 1, "the test should roll over: {extents:?}");
    for extent in extents.iter().filter(|e| e.sealed) {
        assert_eq!(
            files.extent_file(extent.id).len() as u64,
            extent.size_bytes,
            "{extent:?}"
        );
    }
}

#[test]
fn zeros_ahead_are_never_records_and_a_restart_cuts_them() {
    let mem = MemStore::with_options(options());
    let stream = open(&*mem);
    let written = append_records(&*stream, 0, 30);
    assert_zeros_ahead(&*mem, &*stream);
    assert_eq!(replay_all(&*stream), written);
    let end = stream.end_position();

    // Even with every written byte kept (zeros too), the stream ends at its last record.
    let restarted = mem.crash_process();
    let stream = open(&*restarted);
    assert_eq!(stream.end_position(), end);
    assert_eq!(restarted.extent_file(end.extent).len() as u64, end.offset);
    assert_eq!(replay_all(&*stream), written);
    let more = append_records(&*stream, 30, 3);
    assert_eq!(more[0].0.offset, end.offset);
    assert_zeros_ahead(&*restarted, &*stream);
}

#[test]
fn on_disk_a_reopen_cuts_the_zeros_and_appends_after_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let open_local = |path: &Path| LocalStore::open(path, options()).unwrap();
    let (written, end) = {
        let store = open_local(dir.path());
        let stream = open(&*store);
        let written = append_records(&*stream, 0, 30);
        assert_zeros_ahead(&OnDisk(&store), &*stream);
        (written, stream.end_position())
    };
    let store = open_local(dir.path());
    let stream = open(&*store);
    assert_eq!(stream.end_position(), end);
    assert_eq!(OnDisk(&store).extent_file(end.extent).len() as u64, end.offset);
    assert_eq!(replay_all(&*stream), written);
    let more = append_records(&*stream, 30, 1);
    assert_eq!(more[0].0.offset, end.offset);
}

#[test]
fn sealing_cuts_the_zeros_so_sealed_extents_replay_after_a_restart() {
    let mem = MemStore::with_options(options());
    let stream = open(&*mem);
    // ~160 bytes a record: 1,000 records fill two extents of 64 KiB and start a third.
    let mut written = append_records(&*stream, 0, 700);
    stream.seal().unwrap();
    written.extend(append_records(&*stream, 700, 300));
    assert_sealed_extents_end_at_their_records(&*mem, &*stream);
    assert_zeros_ahead(&*mem, &*stream);

    let restarted = mem.crash();
    let stream = open(&*restarted);
    assert_eq!(replay_all(&*stream), written);
    assert_sealed_extents_end_at_their_records(&*restarted, &*stream);
}

#[test]
fn a_torn_write_among_the_zeros_loses_no_acknowledged_record() {
    // Records and zeros are written in turn; tear each of the first writes at several points,
    // then restart keeping every byte that landed (a process crash) or only the synced ones
    // plus part of the rest (a power loss).
    for nth in 2..40u64 {
        for keep_bytes in [0, 1, 15, 16, 100, 2000] {
            let mem = MemStore::with_options(options());
            mem.set_faults(FaultPlan::new().tear_nth_write(nth, keep_bytes));
            let stream = open(&*mem);
            let mut acknowledged = Vec::new();
            let mut failed = None;
            for i in 0..60 {
                let payload = record(i);
                match stream.append(&[&payload]) {
                    Ok(_) => acknowledged.push(payload),
                    Err(_) => {
                        failed = Some(payload);
                        break;
                    }
                }
            }
            let failed = failed.unwrap_or_else(|| panic!("write {nth} was never torn"));
            for restarted in [mem.crash_process(), mem.crash_torn(nth * 31 + keep_bytes as u64)] {
                let stream = open(&*restarted);
                let replayed: Vec<Vec<u8>> = replay_all(&*stream).into_iter().map(|(_, p)| p).collect();
                // Every acknowledged record, in order; the one whose append failed may or may
                // not have landed whole, and nothing else may appear.
                let (head, rest) = replayed.split_at(acknowledged.len().min(replayed.len()));
                assert_eq!(head, acknowledged, "write {nth} torn after {keep_bytes} bytes");
                assert!(
                    rest.is_empty() || rest == [failed.clone()],
                    "write {nth} torn after {keep_bytes} bytes: {rest:?}"
                );
                let next = append_records(&*stream, 100, 1);
                assert_eq!(replay_all(&*stream).last(), next.last());
            }
        }
    }
}

#[test]
fn a_failed_write_of_zeros_fails_no_append() {
    let mem = MemStore::with_options(options());
    // Write 1 is the extent's header, 2 the first record, 3 the zeros after it.
    mem.set_faults(FaultPlan::new().fail_nth_write(3));
    let stream = open(&*mem);
    let mut written = append_records(&*stream, 0, 1);
    assert_eq!(mem.writes(), 3);
    let end = stream.end_position();
    assert_eq!(
        mem.extent_file(end.extent).len() as u64,
        end.offset,
        "nothing of the failed write lands"
    );
    written.extend(append_records(&*stream, 1, 5));
    assert_zeros_ahead(&*mem, &*stream);
    let restarted = mem.crash();
    assert_eq!(replay_all(&*open(&*restarted)), written);
}
