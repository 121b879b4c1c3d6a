#!/usr/bin/env python3
"""Small ranged reads of a large blob: does a read cost its range, or the blob's segments?

    python3 bench/ranges.py --lazuli A [B ...] [--blob-mib 64] [--sizes 4096 65536]
                            [--reads 2000] [--threads 1]
                            [--azurite bench/.azurite/node_modules/.bin/azurite-blob]

Each build (and Azurite, if given) gets a fresh server and data directory and one blob of
--blob-mib MiB of random bytes, uploaded as 4 MiB Put Blocks and a Put Block List. Then, for
each --sizes, --reads ranged Get Blobs of that many bytes at random byte offsets (not aligned
to anything), from --threads keep-alive connections, each answer checked against the
uploaded bytes. Prints reads/s and the server's CPU per read. Parquet and columnar readers,
VHDs and databases over blobs read this way; a server that reads and checksums a whole
stored segment for a few KiB shows a CPU cost per read far above the range's. Stops what it
started.
"""
import argparse
import base64
import os
import random
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402

BLOCK_BYTES = 4 << 20


def upload(cl, path, sas, body):
    ids = []
    for i in range(0, len(body), BLOCK_BYTES):
        block_id = base64.b64encode(f"block-{i // BLOCK_BYTES:08d}".encode()).decode()
        cl.request("PUT", path, sas + "&comp=block&blockid=" + urllib.parse.quote(block_id, safe=""),
                   body=body[i:i + BLOCK_BYTES])
        ids.append(block_id)
    listing = "<?xml version='1.0' encoding='utf-8'?><BlockList>" + "".join(
        f"<Latest>{i}</Latest>" for i in ids) + "</BlockList>"
    cl.request("PUT", path, sas + "&comp=blocklist", body=listing.encode())


def run(srv, label, blob_mib, sizes, reads, threads):
    cl = bench.Client(srv.port)
    bench.create_container(cl, "ranges")
    sas = azsas.container_sas("ranges")
    path = f"/{bench.ACCOUNT}/ranges/big"
    body = random.Random(3).randbytes(blob_mib << 20)
    upload(cl, path, sas, body)
    srv.wait_quiet()
    for size in sizes:
        at = random.Random(size)
        starts = [at.randrange(len(body) - size + 1) for _ in range(reads)]

        def read(start):
            _, resp, got = cl.request("GET", path, sas, headers={"x-ms-range": f"bytes={start}-{start + size - 1}"})
            if resp.status != 206 or got != body[start:start + size]:
                raise RuntimeError(f"{label}: range {start}+{size} answered {resp.status} with wrong bytes")

        began, cpu0 = time.perf_counter(), srv.cpu_s()
        bench.parallel(threads, starts, read)
        seconds, cpu = time.perf_counter() - began, srv.cpu_s() - cpu0
        print(f"{label:>10} {reads} ranged reads of {size} B from a {blob_mib} MiB blob, {threads} client(s): "
              f"{reads / seconds:7.0f} reads/s, server CPU {cpu / reads * 1e6:6.0f} us per read", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", nargs="+", required=True)
    p.add_argument("--azurite", help="azurite-blob executable, to run the same reads against it")
    p.add_argument("--blob-mib", type=int, default=64)
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536])
    p.add_argument("--reads", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    for label, srv, _ in bench.each_server(a.lazuli, a.azurite, prefix="lazuli-ranges-"):
        run(srv, label, a.blob_mib, a.sizes, a.reads, a.threads)

if __name__ == "__main__":
    main()
