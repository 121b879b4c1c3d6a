//! Record framing: every byte stored is framed on write and verified on read, in either frame
//! version (one checksum per record, or one per 64 KiB, as blob data is framed); and a 4 KiB
//! range of a 4 MiB version 2 record verified on its own.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lazuli_stream::record::{self, FrameVersion, CHECKSUM_CHUNK_BYTES, FRAME_HEADER_BYTES};

fn framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("record");
    for (name, version) in [("v1", FrameVersion::Whole), ("v2", FrameVersion::Chunked)] {
        for size in [4 << 10, 4 << 20] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
            let mut framed = Vec::new();
            record::encode_as(version, &payload, &mut framed);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(format!("encode_{name}"), size), &payload, |b, p| {
                let mut out = Vec::with_capacity(framed.len());
                b.iter(|| {
                    out.clear();
                    record::encode_as(version, p, &mut out);
                })
            });
            group.bench_with_input(
                BenchmarkId::new(format!("decode_verify_{name}"), size),
                &framed,
                |b, f| b.iter(|| record::decode(f).expect("valid frame")),
            );
        }
    }
    let payload: Vec<u8> = (0..4 << 20).map(|i| (i * 7) as u8).collect();
    let mut framed = Vec::new();
    record::encode_as(FrameVersion::Chunked, &payload, &mut framed);
    group.throughput(Throughput::Bytes(4096));
    group.bench_function("verify_4KiB_range_of_4MiB_v2", |b| {
        b.iter(|| {
            let header = record::decode_header(&framed).expect("header");
            let table = &framed[FRAME_HEADER_BYTES..header.payload_offset()];
            record::verify_table(&header, table).expect("table");
            let chunk = 17;
            let from = header.payload_offset() + chunk * CHECKSUM_CHUNK_BYTES;
            record::verify_chunks(&header, table, chunk, &framed[from..from + CHECKSUM_CHUNK_BYTES]).expect("chunk")
        })
    });
    group.finish();
}

criterion_group!(benches, framing);
criterion_main!(benches);
