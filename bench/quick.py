#!/usr/bin/env python3
"""A quick Put/Get 4 KiB check of one Lazuli build, for measuring one change at a time.

    python3 bench/quick.py --lazuli target/release/lazuli [--conns 64] [--duration 5] [--put-seconds 0]

Starts Lazuli (fresh data dir), runs wrk put.lua (--size bytes, 4 KiB by default, unique names) for --duration seconds,
then get.lua over 1000 blobs, and prints req/s, p50/p99 and the server's peak RSS (VmHWM) after
each. --put-seconds N first puts 4 KiB blobs for N more seconds (to see whether RSS grows with
the blob count). Stops what it started; every wrk run is bounded by its duration.
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", required=True)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--put-seconds", type=int, default=0)
    p.add_argument("--skip-put", action="store_true")
    p.add_argument("--size", type=int, default=4096, help="blob size of every Put and Get")
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="lazuli-quick-")
    srv = bench.start_lazuli(a.lazuli, tmp)
    port = srv.port
    try:
        cl = bench.Client(port)
        bench.create_container(cl, "quick")
        sas = azsas.container_sas("quick")
        cpath = f"/{bench.ACCOUNT}/quick"
        bench.upload_many(cl, "quick", sas, "g4k", 1000, a.size)

        def run(name, script, args, duration):
            cpu0 = srv.cpu_s()
            r = bench.run_wrk(port, script, args, a.conns, duration)
            cpu = srv.cpu_s() - cpu0
            print(f"{name:10s} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:6.2f}  p99 {r['p99_ms']:6.2f} ms  "
                  f"errors {r['errors']}  cpu {cpu * 1e6 / max(1, r['requests']):5.0f} us/req  "
                  f"VmHWM {srv.hwm_mib():4.0f} MiB  threads {len(os.listdir(f'/proc/{srv.pid}/task'))}", flush=True)

        if a.put_seconds:
            run("fill", "put.lua", [cpath, sas, a.size, "fill"], a.put_seconds)
        if not a.skip_put:
            run("put", "put.lua", [cpath, sas, a.size, "p"], a.duration)
        waited, cpu = srv.wait_quiet()
        if waited > 0.6:
            print(f"(waited {waited:.1f} s, {cpu:.1f} CPU s, for the server to go idle)", flush=True)
        run("get", "get.lua", [cpath, sas, 1000, "g4k"], a.duration)
    finally:
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
