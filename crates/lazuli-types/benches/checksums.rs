//! CRC-64/NVME and MD5 over the sizes a request carries: both run over every byte uploaded.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lazuli_types::checksum::{crc64, md5};

fn checksums(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for size in [4 << 10, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("crc64_nvme", size), &data, |b, d| b.iter(|| crc64(d)));
        group.bench_with_input(BenchmarkId::new("md5", size), &data, |b, d| b.iter(|| md5(d)));
    }
    group.finish();
}

criterion_group!(benches, checksums);
criterion_main!(benches);
