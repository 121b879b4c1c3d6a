#!/usr/bin/env python3
"""Do small writes slow down as one blob grows? Many Append Blocks (or Put Pages, or Put Blocks)
to one blob.

    python3 bench/appends.py --lazuli A [B ...] [--appends 16000] [--size 1024] [--step 2000]
                             [--op append|pages-in-order|pages-at-random|blocks|dfs-appends]
                             [--reads N]
                             [--azurite bench/.azurite/node_modules/.bin/azurite-blob]

Each build (and Azurite, if given) gets a fresh server and data directory; one client writes
--size bytes --appends times to one blob over a keep-alive connection: Append Block to an
append blob, Put Page to a 256 MiB page blob at consecutive offsets or at random 4 KiB-aligned
ones (--size is then rounded up to whole pages), Put Block with a new block id each time
(committed at the end with one Put Block List of all of them, whose time is printed too), or
DFS Append Data to one file at its end (flushed at the end; Lazuli's development account has
a hierarchical namespace, and Azurite has no DFS endpoint, so that op runs against Lazuli). It prints, for every --step writes, the rate
and the server's CPU per write, then the bytes the data directory holds. A server that rewrites
a growing block list or page map on every write shows a falling rate and a data directory far
larger than what was written. With --reads, the same client then reads --size bytes at N
random offsets of the blob (ranged Get Blob) and N times its properties (HEAD), and prints
both rates: a server that reads a whole block list or page map for a small range or for the
properties shows it there. Stops what it started.
"""
import argparse
import base64
import os
import random
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def dir_bytes(path):
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


PAGE_BLOB_BYTES = 256 << 20


def run(srv, tmp, label, op, appends, size, step, reads):
    cl = bench.Client(srv.port)
    bench.create_container(cl, "appends")
    sas = azsas.container_sas("appends")
    path = f"/{bench.ACCOUNT}/appends/log"
    if op == "append":
        cl.request("PUT", path, sas, headers={"x-ms-blob-type": "AppendBlob"})
    elif op == "blocks":
        block_ids = [base64.b64encode(f"block-{i:08d}".encode()).decode() for i in range(appends)]
    elif op == "dfs-appends":
        cl.request("PUT", path, sas + "&resource=file")
    else:
        size = -(-size // 4096) * 4096
        cl.request("PUT", path, sas, headers={"x-ms-blob-type": "PageBlob",
                                              "x-ms-blob-content-length": str(PAGE_BLOB_BYTES)})
    body = os.urandom(size)
    slots = PAGE_BLOB_BYTES // size
    offsets = random.Random(1)
    rates = []
    started, cpu0 = time.perf_counter(), srv.cpu_s()
    for i in range(1, appends + 1):
        if op == "append":
            cl.request("PUT", path, sas + "&comp=appendblock", body=body)
        elif op == "blocks":
            block_id = urllib.parse.quote(block_ids[i - 1], safe="")
            cl.request("PUT", path, sas + "&comp=block&blockid=" + block_id, body=body)
        elif op == "dfs-appends":
            cl.request("PATCH", path, sas + f"&action=append&position={(i - 1) * size}", body=body)
        else:
            slot = (i - 1) % slots if op == "pages-in-order" else offsets.randrange(slots)
            cl.request("PUT", path, sas + "&comp=page", body=body,
                       headers={"x-ms-page-write": "update",
                                "x-ms-range": f"bytes={slot * size}-{(slot + 1) * size - 1}"})
        if i % step == 0:
            now, cpu = time.perf_counter(), srv.cpu_s()
            rates.append(step / (now - started))
            print(f"{label:>10} {i:7} writes: {rates[-1]:7.0f} writes/s, "
                  f"server CPU {(cpu - cpu0) / step * 1e6:6.0f} us per write", flush=True)
            started, cpu0 = now, cpu
    if op == "blocks":
        listing = "<?xml version='1.0' encoding='utf-8'?><BlockList>" + "".join(
            f"<Latest>{block_id}</Latest>" for block_id in block_ids) + "</BlockList>"
        began, cpu0 = time.perf_counter(), srv.cpu_s()
        cl.request("PUT", path, sas + "&comp=blocklist", body=listing.encode())
        print(f"{label:>10} Put Block List of {appends} blocks: {time.perf_counter() - began:.3f} s, "
              f"server CPU {srv.cpu_s() - cpu0:.3f} s", flush=True)
    if op == "dfs-appends":
        began, cpu0 = time.perf_counter(), srv.cpu_s()
        cl.request("PATCH", path, sas + f"&action=flush&position={appends * size}")
        print(f"{label:>10} Flush Data of {appends} appends: {time.perf_counter() - began:.3f} s, "
              f"server CPU {srv.cpu_s() - cpu0:.3f} s", flush=True)
    if op in ("append", "blocks", "dfs-appends"):
        _, resp, _ = cl.request("HEAD", path, sas)
        length = int(resp.getheader("Content-Length"))
        assert length == appends * size, (length, appends * size)
    print(f"{label:>10} last/first rate {rates[-1] / rates[0]:.2f}; "
          f"data directory {dir_bytes(tmp) / 2**20:.0f} MiB for {appends * size / 2**20:.0f} MiB written",
          flush=True)
    if not reads:
        return
    _, resp, _ = cl.request("HEAD", path, sas)
    length = int(resp.getheader("Content-Length"))
    at = random.Random(2)
    started, cpu0 = time.perf_counter(), srv.cpu_s()
    for _ in range(reads):
        start = at.randrange(length // size) * size
        _, resp, got = cl.request("GET", path, sas, headers={"x-ms-range": f"bytes={start}-{start + size - 1}"})
        assert resp.status == 206 and len(got) == size, (resp.status, len(got))
    now, cpu = time.perf_counter(), srv.cpu_s()
    print(f"{label:>10} {reads} ranged reads of {size} B: {reads / (now - started):7.0f} reads/s, "
          f"server CPU {(cpu - cpu0) / reads * 1e6:6.0f} us per read", flush=True)
    started, cpu0 = now, cpu
    for _ in range(reads):
        cl.request("HEAD", path, sas)
    now, cpu = time.perf_counter(), srv.cpu_s()
    print(f"{label:>10} {reads} Get Blob Properties: {reads / (now - started):7.0f} /s, "
          f"server CPU {(cpu - cpu0) / reads * 1e6:6.0f} us each", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", nargs="+", required=True)
    p.add_argument("--azurite", help="azurite-blob executable, to run the same appends against it")
    p.add_argument("--appends", type=int, default=16000)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--step", type=int, default=2000)
    p.add_argument("--op", choices=["append", "pages-in-order", "pages-at-random", "blocks", "dfs-appends"],
                   default="append")
    p.add_argument("--reads", type=int, default=0, help="ranged reads and HEADs after the writes")
    a = p.parse_args()
    for label, srv, tmp in bench.each_server(a.lazuli, a.azurite, prefix="lazuli-appends-"):
        run(srv, tmp, label, a.op, a.appends, a.size, a.step, a.reads)

if __name__ == "__main__":
    main()
