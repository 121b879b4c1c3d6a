#!/usr/bin/env python3
"""Instructions per request of one Lazuli build under callgrind: Get (or Put) Blob of 4 KiB.

    python3 bench/instructions.py --lazuli target/release/lazuli [--put] [--duration 6] [--keep DIR]
                                  [--fill-seconds N]

req/s on a shared 2-core VM moves by ±10 % from run to run, more than most single changes
are worth; the instructions the server executes per request repeat to within ~0.3 %. This
starts Lazuli under `valgrind --tool=callgrind` with instrumentation off (fresh data dir,
127.0.0.1), uploads 1000 blobs of 4 KiB, warms up for 3 s, then counts only while wrk runs
(4 connections, one thread) and prints the server's instructions per request. --keep DIR
keeps the callgrind output for `callgrind_annotate --inclusive=yes`. --fill-seconds N first
runs the build natively and Puts unique 4 KiB blobs for N seconds (as `make bench` does before
its Gets), waits for its flushes and compactions, stops it, and counts on that data directory.

Caveats: user space only (the kernel's share is not counted), and valgrind hides the CPU's
SHA extensions, so HMAC-SHA256 weighs ~15 % here where it costs ~1 % of real time. Needs
valgrind (Debian package); stops what it started.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", required=True)
    p.add_argument("--put", action="store_true", help="count Put Blob (unique names) instead of Get Blob")
    p.add_argument("--duration", type=int, default=6, help="seconds of counted requests")
    p.add_argument("--keep", help="copy the callgrind output files into this directory")
    bench.add_fill_argument(p)
    a = p.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found (apt-get install valgrind)")
    tmp = tempfile.mkdtemp(prefix="lazuli-instructions-")
    out = os.path.join(tmp, "callgrind.out")
    sas = azsas.container_sas("counted")
    cpath = f"/{bench.ACCOUNT}/counted"
    srv = None

    def seed(port):
        cl = bench.Client(port)
        bench.create_container(cl, "counted")
        bench.upload_many(cl, "counted", sas, "g4k", 1000, 4096)

    try:
        if a.fill_seconds:
            # Seeded and filled natively (valgrind would take hours), then counted on that data.
            srv = bench.start_lazuli(a.lazuli, tmp)
            seed(srv.port)
            bench.fill_puts(srv, cpath, sas, a.fill_seconds)
            srv.close()
        srv = bench.start_lazuli(a.lazuli, tmp, wrapper=["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                                         f"--callgrind-out-file={out}"], reuse=True)
        port = srv.port
        if not a.fill_seconds:
            seed(port)
        if a.put:
            script, warm, counted = "put.lua", [cpath, sas, 4096, "warm"], [cpath, sas, 4096, "p"]
        else:
            script = "get.lua"
            warm = counted = [cpath, sas, 1000, "g4k"]
        bench.run_wrk(port, script, warm, 4, 3, threads=1)
        subprocess.run(["callgrind_control", "-i", "on", str(srv.pid)], capture_output=True, check=True)
        res = bench.run_wrk(port, script, counted, 4, a.duration, threads=1)
        subprocess.run(["callgrind_control", "-i", "off", str(srv.pid)], capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-d", str(srv.pid)], capture_output=True, check=True)
        total = 0
        deadline = time.time() + 30
        while time.time() < deadline and total == 0:
            time.sleep(1)
            for path in glob.glob(out + "*"):
                with open(path) as f:
                    total += next((int(line.split()[1]) for line in f if line.startswith("totals:")), 0)
        print(f"{'Put' if a.put else 'Get'} Blob 4 KiB: {res['requests']} requests, {res['errors']} errors, "
              f"{total / max(1, res['requests']):.0f} instructions per request")
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
            for path in glob.glob(out + "*"):
                shutil.copy(path, a.keep)
    finally:
        if srv is not None:
            srv.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
