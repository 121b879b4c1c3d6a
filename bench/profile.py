#!/usr/bin/env python3
"""Where does Put Blob (or Get Blob) of 4 KiB spend its time? A short profile of Lazuli under wrk.

    python3 bench/profile.py --lazuli target/release/lazuli [--conns 64] [--duration 5] [--get]
                             [--fill-seconds N]

Starts Lazuli (fresh data dir, 127.0.0.1), runs wrk put.lua (4 KiB, unique names; with --get,
get.lua over 1000 blobs; with --fill-seconds, after N seconds of unique 4 KiB Puts, as
`make bench` reads after its Puts) and, over the same seconds, counts the server's syscalls
(fsync/fdatasync, writes, reads, waits: perf stat on syscall tracepoints) and samples its
stacks (perf record -g, cpu-clock). Prints req/s, requests per fsync (the group-commit
batch), server CPU per request, and the hottest symbols.
Needs `perf` (linux-perf) and root or perf_event_paranoid <= 1; stops what it started.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def ctx_switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", required=True)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--perf-data", help="keep the perf.data here (default: a temporary file)")
    p.add_argument("--get", action="store_true", help="profile Get Blob of 1000 blobs instead of Put Blob")
    bench.add_fill_argument(p)
    a = p.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf not found (apt-get install linux-perf)")
    tmp = tempfile.mkdtemp(prefix="lazuli-profile-")
    srv = bench.start_lazuli(a.lazuli, tmp)
    port = srv.port
    perf_data = a.perf_data or os.path.join(tmp, "perf.data")
    try:
        cl = bench.Client(port)
        bench.create_container(cl, "prof")
        sas = azsas.container_sas("prof")
        if a.get:
            bench.upload_many(cl, "prof", sas, "g", 1000, a.size)
            script, args = "get.lua", ["/devstoreaccount1/prof", sas, 1000, "g"]
        else:
            script, args = "put.lua", ["/devstoreaccount1/prof", sas, a.size]
        if a.fill_seconds:
            bench.fill_puts(srv, "/devstoreaccount1/prof", sas, a.fill_seconds, a.conns)
        bench.run_wrk(port, script, args + ([] if a.get else ["warm"]), a.conns, 1)
        cpu0 = srv.cpu_s()
        cs0 = ctx_switches(srv.pid)
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e",
                                 "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,"
                                 "syscalls:sys_enter_pwrite64,syscalls:sys_enter_write,"
                                 "syscalls:sys_enter_writev,syscalls:sys_enter_sync_file_range,"
                                 "syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,"
                                 "syscalls:sys_enter_pread64,syscalls:sys_enter_sched_yield",
                                 "-p", str(srv.pid), "--", "sleep", str(a.duration)],
                                stderr=subprocess.PIPE, text=True)
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "-g",
                                "-o", perf_data, "-p", str(srv.pid), "--", "sleep", str(a.duration)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        res = bench.run_wrk(port, script, args + ([] if a.get else ["prof"]), a.conns, a.duration)
        _, err = stat.communicate(timeout=a.duration + 30)
        rec.wait(timeout=a.duration + 60)
        cpu = srv.cpu_s() - cpu0
        cs = ctx_switches(srv.pid) - cs0
        threads = len(os.listdir(f"/proc/{srv.pid}/task"))
        wall = time.time() - t0
        counts = {}
        for line in err.splitlines():
            parts = line.split(",")
            if len(parts) > 2 and parts[2].startswith("syscalls:"):
                try:
                    counts[parts[2].split(":")[1]] = int(parts[0])
                except ValueError:
                    counts[parts[2].split(":")[1]] = None
        syncs = (counts.get("sys_enter_fsync") or 0) + (counts.get("sys_enter_fdatasync") or 0)
        print(f"{'Get' if a.get else 'Put'} {a.size} B, {a.conns} conns, {a.duration} s: {res['rps']:.0f} req/s, "
              f"p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms, errors {res['errors']}")
        print(f"server CPU {cpu:.2f} s over ~{wall:.1f} s wall = {cpu / wall:.2f} cores; "
              f"{cpu * 1e6 / max(1, res['requests']):.0f} us CPU per request")
        print(f"context switches (all {threads} threads, voluntary+involuntary): {cs}, "
              f"{cs / max(1, res['requests']):.1f} per request")
        print(f"syscalls in the server over {a.duration} s: {counts}")
        if syncs:
            print(f"fsync+fdatasync: {syncs / a.duration:.0f}/s, "
                  f"{res['requests'] / syncs:.1f} requests per sync (group-commit batch)")
        def report(title, *opts, limit):
            rep = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "-g", "none", *opts],
                                 capture_output=True, text=True)
            lines = [re.sub(r"(\s+-)*\s*$", "", ln) for ln in rep.stdout.splitlines()
                     if ln.strip() and not ln.startswith("#")]
            print(f"\n{title}")
            print("\n".join(lines[:limit]))

        report("by shared object (self time of cpu-clock samples in the server):",
               "--no-children", "--sort", "dso", limit=8)
        report("hottest symbols, self time:", "--no-children", "--sort", "dso,symbol",
               "--percent-limit", "0.7", limit=a.top)
        report("inclusive time (children) of call-graph entries, >= 4 %:", "--children", "--sort", "symbol",
               "--percent-limit", "4", limit=a.top + 20)
    finally:
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
