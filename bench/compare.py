#!/usr/bin/env python3
"""Get Blob 4 KiB at 64 connections of several Lazuli builds, interleaved with the hyper ceiling.

    python3 bench/compare.py --lazuli A [B ...] [--ceiling bench/ceiling/target/release/lazuli-bench-ceiling]
                             [--rounds 6] [--duration 5] [--fill-seconds N]

On this VM a server's rate drifts by ±10 % over minutes, and the ceiling's with it. Each
round runs the ceiling, then every build, back to back (all servers started once, each build
with its own fresh data dir and the same 1000 blobs), and reports each build's req/s and its
ratio to the ceiling of the same round; the summary is the median over rounds. With
--fill-seconds N each build first takes N seconds of unique 4 KiB Puts (one build at a time,
then idle), as `make bench` reads after its Puts. Stops what it started; every wrk run is
bounded by --duration.
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

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", nargs="+", required=True)
    p.add_argument("--ceiling", default=os.path.join(HERE, "ceiling/target/release/lazuli-bench-ceiling"))
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--duration", type=int, default=5)
    bench.add_fill_argument(p)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="lazuli-compare-")
    servers = []
    try:
        cport = bench.free_port()
        ceiling = bench.Server("ceiling", [a.ceiling, str(cport)], cport, os.path.join(tmp, "ceiling.log"))
        for i, binary in enumerate(a.lazuli):
            srv = bench.start_lazuli(binary, tmp, name=f"lazuli{i}")
            cl = bench.Client(srv.port)
            bench.create_container(cl, "compare")
            sas = azsas.container_sas("compare")
            bench.upload_many(cl, "compare", sas, "g4k", 1000, 4096)
            if a.fill_seconds:
                bench.fill_puts(srv, f"/{bench.ACCOUNT}/compare", sas, a.fill_seconds)
            servers.append((binary, srv, sas))
        rates = {binary: [] for binary, _, _ in servers}
        ratios = {binary: [] for binary, _, _ in servers}
        for r in range(a.rounds):
            c = bench.run_wrk(cport, "get.lua", [f"/{bench.ACCOUNT}/c", "size=4096", 64, "g"], 64, a.duration)["rps"]
            line = f"round {r}: ceiling {c:8.0f}"
            for binary, srv, sas in servers:
                x = bench.run_wrk(srv.port, "get.lua", [f"/{bench.ACCOUNT}/compare", sas, 1000, "g4k"],
                                  64, a.duration)["rps"]
                rates[binary].append(x)
                ratios[binary].append(x / c)
                line += f"  {os.path.basename(binary)} {x:8.0f} ({x / c:.3f}x)"
            print(line, flush=True)
        for binary, _, _ in servers:
            print(f"{binary}: median {statistics.median(rates[binary]):.0f} req/s, "
                  f"{statistics.median(ratios[binary]):.3f}x the ceiling "
                  f"(per round {min(ratios[binary]):.3f}-{max(ratios[binary]):.3f})")
    finally:
        for _, srv, _ in servers:
            srv.close()
        if "ceiling" in locals():
            ceiling.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
