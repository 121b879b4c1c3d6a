//! LSM point gets and range scans over checkpoints (the read path of every request), on the
//! in-memory stream store so the figures are the table's own cost.

use criterion::{criterion_group, criterion_main, Criterion};
use lazuli_stream::MemStore;
use lazuli_table::{Table, TableOptions, WriteBatch};

const ROWS: usize = 100_000;

fn key(i: usize) -> Vec<u8> {
    format!("Bacct1/cont{:02}/blob-{:08}", i % 20, i).into_bytes()
}

fn lsm(c: &mut Criterion) {
    let options = TableOptions {
        memtable_bytes_max: 4 << 20,
        background: false,
        ..Default::default()
    };
    let table = Table::open(MemStore::new(), "bench", options).expect("open");
    for chunk in (0..ROWS).collect::<Vec<_>>().chunks(1000) {
        let mut batch = WriteBatch::new();
        for &i in chunk {
            batch.put(key(i), vec![7u8; 200]);
        }
        table.write(&batch).expect("write");
    }
    table.flush().expect("flush");
    let mut i = 0usize;
    c.bench_function("lsm/point_get", |b| {
        b.iter(|| {
            i = (i + 7919) % ROWS;
            table.get(&key(i)).expect("get")
        })
    });
    let start = b"Bacct1/cont07/".to_vec();
    c.bench_function("lsm/scan_1000", |b| {
        b.iter(|| table.scan(&start, None, 1000).expect("scan"))
    });
}

criterion_group!(benches, lsm);
criterion_main!(benches);
