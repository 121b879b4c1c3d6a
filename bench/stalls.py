#!/usr/bin/env python3
"""Which requests stall, and when: concurrent Put Blob with every request's start and latency.

    python3 bench/stalls.py --lazuli target/release/lazuli [--size 1048576] [--clients 16]
                            [--duration 20] [--slow-ms 300]

wrk reports percentiles; this tells a stall of every client at once (the disk, a lock) from
one client held while the others go on (a request doing someone else's work). Starts Lazuli
(fresh data dir, 127.0.0.1), runs --clients threads, each Putting --size bytes under unique
names on its own keep-alive connection for --duration seconds, then prints the rate, the
latency percentiles and every request slower than --slow-ms with its start time and client.
Stops what it started.
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", required=True)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--slow-ms", type=float, default=300)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="lazuli-stalls-")
    srv = bench.start_lazuli(a.lazuli, tmp)
    events = []
    try:
        bench.create_container(bench.Client(srv.port), "stalls")
        sas = azsas.container_sas("stalls")
        body = os.urandom(a.size)
        t0 = time.time()

        # One keep-alive connection per client thread (bench.Client keeps one per thread).
        cl = bench.Client(srv.port)

        def client(c):
            i = 0
            while time.time() - t0 < a.duration:
                start = time.time()
                status, _, _ = cl.request("PUT", f"/{bench.ACCOUNT}/stalls/c{c}-{i}", sas, body=body,
                                          headers={"x-ms-blob-type": "BlockBlob"}, expect=range(600))
                events.append((start - t0, time.time() - start, c, status))
                i += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)
    lat = sorted(e[1] for e in events)
    failed = sum(1 for e in events if e[3] != 201)
    print(f"{len(events)} Puts of {a.size} B in {a.duration:.0f} s = {len(events) / a.duration:.0f}/s, "
          f"{failed} failed; p50 {lat[len(lat) // 2] * 1e3:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1e3:.0f} ms, "
          f"max {lat[-1] * 1e3:.0f} ms")
    for start, latency, c, status in sorted(events):
        if latency * 1e3 > a.slow_ms:
            print(f"  slow: started at {start:6.2f} s, {latency * 1e3:6.0f} ms, client {c}, status {status}")


if __name__ == "__main__":
    main()
