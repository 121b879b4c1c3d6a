#!/usr/bin/env python3
"""Put Blob of one size from several Lazuli builds, alternating, each run on a fresh server.

    python3 bench/putcmp.py --lazuli A [B ...] [--size 4096] [--conns 64] [--rounds 4] [--duration 5]

Put rates on this VM drift by ±10 % over minutes; running the builds in turn, round after
round, keeps them in the same minutes. Each run starts the build on a fresh data directory,
warms up for 1 s, then runs wrk put.lua (unique names) for --duration seconds. Prints req/s,
p99 and the server's CPU per request per run, and the medians. Stops what it started.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def one_run(binary, size, conns, duration):
    tmp = tempfile.mkdtemp(prefix="lazuli-putcmp-")
    srv = bench.start_lazuli(binary, tmp)
    try:
        bench.create_container(bench.Client(srv.port), "putcmp")
        sas = azsas.container_sas("putcmp")
        args = [f"/{bench.ACCOUNT}/putcmp", sas, size]
        bench.run_wrk(srv.port, "put.lua", args + ["warm"], conns, 1)
        cpu0 = srv.cpu_s()
        res = bench.run_wrk(srv.port, "put.lua", args + ["run"], conns, duration)
        cpu_us = (srv.cpu_s() - cpu0) * 1e6 / max(1, res["requests"])
        return res["rps"], res["p99_ms"], cpu_us
    finally:
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", nargs="+", required=True)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--duration", type=int, default=5)
    a = p.parse_args()
    runs = {binary: [] for binary in a.lazuli}
    for r in range(a.rounds):
        line = f"round {r}:"
        for binary in a.lazuli:
            rps, p99, cpu_us = one_run(binary, a.size, a.conns, a.duration)
            runs[binary].append((rps, p99, cpu_us))
            line += f"  {os.path.basename(binary)} {rps:7.0f} req/s p99 {p99:6.1f} ms {cpu_us:5.0f} us"
        print(line, flush=True)
    for binary, v in runs.items():
        print(f"{binary}: median {statistics.median(x[0] for x in v):.0f} req/s, "
              f"p99 {statistics.median(x[1] for x in v):.1f} ms, "
              f"{statistics.median(x[2] for x in v):.0f} us CPU per request")


if __name__ == "__main__":
    main()
