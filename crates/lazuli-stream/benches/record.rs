//! Record framing: every byte stored is framed on write and verified on read.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lazuli_stream::record;

fn framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for size in [4 << 10, 4 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let framed = record::encode(&payload);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encode", size), &payload, |b, p| {
            let mut out = Vec::with_capacity(p.len() + record::FRAME_OVERHEAD_BYTES);
            b.iter(|| {
                out.clear();
                record::encode_into(p, &mut out);
            })
        });
        group.bench_with_input(BenchmarkId::new("decode_verify", size), &framed, |b, f| {
            b.iter(|| record::decode(f).expect("valid frame"))
        });
    }
    group.finish();
}

criterion_group!(benches, framing);
criterion_main!(benches);
