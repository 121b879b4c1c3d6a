#!/usr/bin/env python3
"""The Lazuli benchmark: Lazuli vs Azurite vs ceilings, back to back, on loopback.

Run through `make bench` (which installs wrk, fio and Azurite and builds the
binaries), or directly:

    python3 bench/bench.py --lazuli target/release/lazuli \
        --ceiling /path/to/lazuli-bench-ceiling \
        --azurite bench/.azurite/node_modules/.bin/azurite-blob

Every workload runs REPS times (default 3) against each server; RESULTS.md
gets the median with min-max.  Only the Python standard library is used (the
multi-block, 1 GiB and listing client is http.client with threads), so there
is nothing to install for it.  Only 127.0.0.1 is ever contacted, every loop is
bounded, and only the processes started here are stopped (by PID) at exit.
"""
import argparse
import atexit
import base64
import datetime
import http.client
import json
import os
import platform
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WRK_DIR = os.path.join(BENCH_DIR, "wrk")
ACCOUNT = azsas.ACCOUNT
XMS_VERSION = "2021-08-06"
KiB = 1024
MiB = 1024 * 1024
GiB = 1024 * MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")

STARTED = []  # Popen objects started by this script; stopped by PID at exit


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lazuli(binary, tmp, name="lazuli", wrapper=(), env=None, reuse=False):
    """Lazuli on a free loopback port with a fresh data directory under `tmp` (for the one-build
    scripts: quick, profile, compare, instructions); `wrapper` is a command to run it under.
    With `reuse`, the directory may hold the data of an earlier start of the same name."""
    port = free_port()
    data = os.path.join(tmp, f"{name}-data")
    os.makedirs(data, exist_ok=reuse)
    argv = [*wrapper, binary, "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--location", data, "--metricsPort", "0", "--silent"]
    return Server("lazuli", argv, port, os.path.join(tmp, f"{name}.log"), env)


def start_azurite(executable, tmp):
    """Azurite on a free loopback port with a fresh data directory under `tmp` (for the
    one-build scripts that run the same load against it)."""
    port = free_port()
    data = os.path.join(tmp, "azurite-data")
    os.makedirs(data)
    argv = [executable, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", data,
            "--skipApiVersionCheck", "--loose", "--silent"]
    return Server("azurite", argv, port, os.path.join(tmp, "azurite.log"))


def each_server(lazuli_binaries, azurite=None, prefix="lazuli-"):
    """Each Lazuli build (labelled by its file name), then Azurite when given, one at a time:
    yields (label, server, temporary directory), each server fresh on a fresh data directory,
    stopped and its directory removed before the next starts."""
    starts = [(os.path.basename(b), lambda tmp, b=b: start_lazuli(b, tmp)) for b in lazuli_binaries]
    if azurite:
        starts.append(("azurite", lambda tmp: start_azurite(azurite, tmp)))
    for label, start in starts:
        tmp = tempfile.mkdtemp(prefix=prefix)
        srv = start(tmp)
        try:
            yield label, srv, tmp
        finally:
            srv.close()
            shutil.rmtree(tmp, ignore_errors=True)


def add_fill_argument(parser):
    """--fill-seconds of the one-build scripts (see `fill_puts`)."""
    parser.add_argument("--fill-seconds", type=int, default=0,
                        help="first Put unique 4 KiB blobs for this long, then wait until the server is idle")


def fill_puts(srv, container_path, sas, seconds, conns=64):
    """Puts unique 4 KiB blobs (`fill-…`) for `seconds`, as `make bench` does before its Gets,
    then waits for the flushes and compactions they leave (the one-build scripts' --fill-seconds)."""
    r = run_wrk(srv.port, "put.lua", [container_path, sas, 4096, "fill"], conns, seconds)
    waited, _ = srv.wait_quiet(limit_s=60)
    print(f"filled: {r['requests']} Puts in {seconds} s, idle after {waited:.1f} s", flush=True)


def wait_port(port, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not up after {timeout}s")


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def stop_all():
    for p in reversed(STARTED):
        try:
            stop(p)
        except Exception as e:  # noqa: BLE001
            log("stop failed", p.pid, e)


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


class Server:
    """One server process (lazuli, azurite or the ceiling) and its /proc counters."""

    def __init__(self, kind, argv, port, logpath, env=None):
        self.kind = kind
        self.port = port
        self.logf = open(logpath, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=None if env is None else {**os.environ, **env})
        STARTED.append(self.proc)
        wait_port(port, self.proc)
        self.pid = self.proc.pid

    def wait_quiet(self, limit_s=30.0, step_s=0.5, busy=0.05):
        """Waits (at most `limit_s`) until the server uses under `busy` of a core over `step_s`:
        a workload should not be charged with the flushes and compactions the previous one left
        behind. Returns (seconds waited, CPU seconds the server used meanwhile)."""
        t0, c0 = time.perf_counter(), self.cpu_s()
        while time.perf_counter() - t0 < limit_s:
            before = self.cpu_s()
            time.sleep(step_s)
            if self.cpu_s() - before < busy * step_s:
                break
        return time.perf_counter() - t0, self.cpu_s() - c0

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK  # utime + stime

    def status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def reset_hwm(self):
        """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def hwm_mib(self):
        return self.status_kib("VmHWM") / 1024

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.kind} died with status {self.proc.returncode}")

    def close(self):
        stop(self.proc)
        self.logf.close()


# --------------------------------------------------------------------------- stats

def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "values": values}


class Meter:
    """Server CPU seconds and peak RSS over one measured workload (all its repetitions)."""

    def __init__(self, server):
        self.server = server

    def __enter__(self):
        self.hwm_reset = self.server.reset_hwm()
        self.cpu0 = self.server.cpu_s()
        return self

    def __exit__(self, *exc):
        self.cpu = self.server.cpu_s() - self.cpu0
        self.hwm = self.server.hwm_mib()
        return False


# --------------------------------------------------------------------------- wrk

def run_wrk(port, script, args, conns, duration, threads=2, timeout="10s"):
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", timeout,
            "-s", os.path.join(WRK_DIR, script), f"http://127.0.0.1:{port}", "--"] + [str(a) for a in args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            res = json.loads(line[len("BENCHJSON "):])
            res["errors"] = sum(res[k] for k in ("err_connect", "err_read", "err_write",
                                                  "err_status", "err_timeout"))
            return res
    raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")


def wrk_fill(port, container_path, sas, count, prefix, tags=False, conns=64, threads=2, limit_s=1800):
    """Put `count` empty blobs (tagged if `tags`) with wrk and fill.lua, fast enough for millions.
    Returns (seconds, blobs created, failures). wrk runs at most `limit_s`; it is ended with
    SIGINT as soon as every thread has had its last Put answered."""
    per_thread = -(-count // threads)
    marker_dir = tempfile.mkdtemp(prefix="lazuli-fill-")
    marker = os.path.join(marker_dir, "done")
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{limit_s}s", "--timeout", "30s",
            "-s", os.path.join(WRK_DIR, "fill.lua"), f"http://127.0.0.1:{port}", "--",
            container_path, sas, str(per_thread), prefix, "tags" if tags else "-", marker]
    markers = [f"{marker}.{t}" for t in range(threads)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not all(os.path.exists(m) for m in markers):
            time.sleep(0.2)
        secs = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    created = failed = 0
    for m in markers:
        try:
            with open(m) as f:
                a, b = f.read().split()
            created, failed = created + int(a), failed + int(b)
        except OSError:
            pass
    shutil.rmtree(marker_dir, ignore_errors=True)
    return secs, created, failed


# --------------------------------------------------------------------------- HTTP client

class Client:
    """Blob REST over http.client, one keep-alive connection per thread."""

    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.local.conn = c
        return c

    def request(self, method, path, query="", body=None, headers=None, expect=(200, 201, 202, 206)):
        url = path + ("?" + query if query else "")
        h = {"x-ms-version": XMS_VERSION}
        if headers:
            h.update(headers)
        if body is None and method in ("PUT", "POST"):
            h["Content-Length"] = "0"
        for attempt in range(2):
            c = self.conn()
            try:
                c.request(method, url, body=body, headers=h)
                resp = c.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, socket.timeout):
                c.close()
                self.local.conn = None
                if attempt:
                    raise
        if resp.status not in expect:
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
        return resp.status, resp, data

    def stream_get(self, path, query, headers=None, bufsize=8 * MiB):
        """GET reading the body with readinto into a reused buffer; returns bytes read."""
        h = {"x-ms-version": XMS_VERSION}
        if headers:
            h.update(headers)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            c.request("GET", path + "?" + query, headers=h)
            resp = c.getresponse()
            if resp.status not in (200, 206):
                raise RuntimeError(f"GET {path}: {resp.status} {resp.read()[:300]!r}")
            buf = bytearray(bufsize)
            mv = memoryview(buf)
            total = 0
            while True:
                n = resp.readinto(mv)
                if not n:
                    break
                total += n
            return total
        finally:
            c.close()


def parallel(n_threads, items, fn):
    """Run fn(item) over items with n_threads threads; re-raise the first error."""
    q = queue.Queue()
    for it in items:
        q.put(it)
    errors = []

    def worker():
        while not errors:
            try:
                it = q.get_nowait()
            except queue.Empty:
                return
            try:
                fn(it)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def create_container(cl, name):
    cl.request("PUT", f"/{ACCOUNT}/{name}", "restype=container&" + azsas.account_sas(),
               expect=(201, 409))


def upload_many(cl, container, sas, prefix, count, size, threads=16):
    body = os.urandom(size) if size else b""
    hdr = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"}

    def put(i):
        cl.request("PUT", f"/{ACCOUNT}/{container}/{prefix}-{i}", sas, body=body, headers=hdr)

    parallel(threads, range(count), put)


# --------------------------------------------------------------------------- workloads

def big_upload(cl, container, sas, name, total, block, par):
    data = os.urandom(block)
    n_blocks = (total + block - 1) // block
    ids = [base64.b64encode(f"blk-{i:08d}".encode()).decode() for i in range(n_blocks)]

    def put_block(i):
        size = min(block, total - i * block)
        body = data if size == block else data[:size]
        q = sas + "&comp=block&blockid=" + urllib.parse.quote(ids[i], safe="")
        cl.request("PUT", f"/{ACCOUNT}/{container}/{name}", q, body=body,
                   headers={"Content-Type": "application/octet-stream"})

    t0 = time.perf_counter()
    parallel(par, range(n_blocks), put_block)
    xml = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
           + "".join(f"<Latest>{b}</Latest>" for b in ids) + "</BlockList>").encode()
    cl.request("PUT", f"/{ACCOUNT}/{container}/{name}", sas + "&comp=blocklist", body=xml,
               headers={"Content-Type": "application/xml"})
    return time.perf_counter() - t0


def big_download(cl, container, sas, name, total, streams):
    got = [0] * streams
    t0 = time.perf_counter()
    if streams == 1:
        got[0] = cl.stream_get(f"/{ACCOUNT}/{container}/{name}", sas)
    else:
        part = (total + streams - 1) // streams

        def dl(i):
            start = i * part
            end = min(total, start + part) - 1
            got[i] = cl.stream_get(f"/{ACCOUNT}/{container}/{name}", sas,
                                   headers={"x-ms-range": f"bytes={start}-{end}"})

        parallel(streams, range(streams), dl)
    dt = time.perf_counter() - t0
    if sum(got) != total:
        raise RuntimeError(f"download of {name}: got {sum(got)} bytes, want {total}")
    return dt


NEXT_MARKER = re.compile(rb"<NextMarker>([^<]*)</NextMarker>")


def list_all(cl, container, sas, page):
    """List Blobs over the whole container, `page` per call; returns (seconds, blobs, pages)."""
    marker = ""
    blobs = pages = 0
    t0 = time.perf_counter()
    for _ in range(100000):  # bounded
        q = f"restype=container&comp=list&maxresults={page}&{sas}"
        if marker:
            q += "&marker=" + urllib.parse.quote(marker, safe="")
        _, _, data = cl.request("GET", f"/{ACCOUNT}/{container}", q)
        blobs += data.count(b"<Blob>")
        pages += 1
        m = NEXT_MARKER.search(data)
        marker = m.group(1).decode() if m else ""
        if not marker:
            break
    return time.perf_counter() - t0, blobs, pages


# --------------------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="lazuli-bench-", dir=args.tmpdir)
        self.results = {"ceiling": {}, "disk": {}, "lazuli": {}, "azurite": {}, "meta": {}}
        self.rep = args.reps
        self.dur = args.duration

    # ---- servers
    def start(self, kind, env=None):
        port = free_port()
        d = os.path.join(self.tmp, f"{kind}-{port}")
        os.makedirs(d)
        if kind == "lazuli":
            argv = [self.a.lazuli, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                    "--location", d, "--metricsPort", "0", "--silent"]
        elif kind == "azurite":
            argv = [self.a.azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                    "--location", d, "--skipApiVersionCheck", "--loose", "--silent"]
        elif kind == "ceiling":
            argv = [self.a.ceiling, str(port)]
        else:
            raise ValueError(kind)
        log(f"start {kind} on 127.0.0.1:{port}" + (f" with {env}" if env else ""))
        return Server(kind, argv, port, d + ".log", env)

    def finish(self, srv):
        srv.check_alive()
        srv.close()
        shutil.rmtree(os.path.join(self.tmp, f"{srv.kind}-{srv.port}"), ignore_errors=True)

    def settle(self, srv, key):
        """Lets the server finish the background work of what ran before `key`."""
        waited, cpu = srv.wait_quiet()
        if waited > 1:
            log(f"  {srv.kind:8s} {key:22s} waited {waited:.1f}s for the server to go idle "
                f"({cpu:.2f} CPU s of earlier work)")
        return {"waited_s": waited, "cpu_s": cpu}

    # ---- one wrk workload, REPS times, with server CPU and peak RSS
    def wrk_workload(self, srv, key, script, args, conns, bytes_per_req=None, dest=None, paired=None):
        """`paired` = (ceiling server, its wrk args): each repetition is preceded by one of the
        ceiling's, once this server is idle, so that the ratio is taken per repetition between
        two runs seconds apart (the ceiling's rate on this VM moves by a third from run to run)."""
        dest = self.results[srv.kind] if dest is None else dest
        settle = self.settle(srv, key)
        run_wrk(srv.port, script, args(f"w{key}"), conns, self.a.warmup)  # warm-up, not counted
        if paired:
            csrv, cargs = paired
            run_wrk(csrv.port, script, cargs(f"w{key}"), conns, self.a.warmup)
        runs, paired_runs = [], []
        with Meter(srv) as m:
            for r in range(self.rep):
                if paired:
                    srv.wait_quiet()
                    paired_runs.append(run_wrk(csrv.port, script, cargs(f"c{r}{key}"), conns, self.dur))
                res = run_wrk(srv.port, script, args(f"r{r}{key}"), conns, self.dur)
                runs.append(res)
                srv.check_alive()
        ent = {
            "unit": "req/s",
            "value": summarize([x["rps"] for x in runs]),
            "p50_ms": summarize([x["p50_ms"] for x in runs]),
            "p99_ms": summarize([x["p99_ms"] for x in runs]),
            "p999_ms": summarize([x["p999_ms"] for x in runs]),
            "errors": sum(x["errors"] for x in runs),
            "requests": sum(x["requests"] for x in runs),
            "cpu_s_per_rep": m.cpu / self.rep,
            "cpu_us_per_req": m.cpu * 1e6 / max(1, sum(x["requests"] for x in runs)),
            "peak_rss_mib": m.hwm,
            "hwm_reset": m.hwm_reset,
            "conns": conns,
            "runs": runs,
            "settle": settle,
        }
        if bytes_per_req:
            ent["mib_s"] = summarize([x["rps"] * bytes_per_req / MiB for x in runs])
        if paired:
            ent["paired_ceiling"] = summarize([x["rps"] for x in paired_runs])
            ent["paired_ratio"] = summarize([x["rps"] / c["rps"] for x, c in zip(runs, paired_runs)])
        dest[key] = ent
        log(f"  {srv.kind:8s} {key:22s} {ent['value']['median']:12.1f} req/s  "
            f"p99 {ent['p99_ms']['median']:.2f} ms  errors {ent['errors']}  "
            f"cpu {ent['cpu_s_per_rep']:.2f}s/rep  rss {m.hwm:.0f} MiB"
            + (f"  ceiling beside it {ent['paired_ceiling']['median']:.0f} req/s = "
               f"{ent['paired_ratio']['median']:.2f}x" if paired else ""))
        return ent

    def timed_workload(self, srv, key, fn, unit, scale):
        """fn() -> seconds; value = scale / seconds (e.g. MiB/s, blobs/s)."""
        settle = self.settle(srv, key)
        secs = []
        with Meter(srv) as m:
            for _ in range(self.rep):
                secs.append(fn())
                srv.check_alive()
        ent = {"unit": unit, "value": summarize([scale / s for s in secs]),
               "seconds": summarize(secs), "cpu_s_per_rep": m.cpu / self.rep,
               "peak_rss_mib": m.hwm, "hwm_reset": m.hwm_reset, "settle": settle}
        self.results[srv.kind][key] = ent
        log(f"  {srv.kind:8s} {key:22s} {ent['value']['median']:12.1f} {unit}  "
            f"cpu {ent['cpu_s_per_rep']:.2f}s/rep  rss {m.hwm:.0f} MiB")
        return ent

    # ---- groups
    def group_small(self, kind):
        srv = self.start(kind)
        # Lazuli's 4 KiB rows are measured against the hyper ceiling interleaved with them (see
        # `wrk_workload`); the ceiling group's own figures stay in the ceilings table.
        csrv = self.start("ceiling") if kind == "lazuli" and self.a.ceiling != "-" else None
        cpath = f"/{ACCOUNT}/c"
        try:
            cl = Client(srv.port)
            create_container(cl, "small")
            sas = azsas.container_sas("small")
            spath = f"/{ACCOUNT}/small"
            n_get = self.a.get_blobs
            upload_many(cl, "small", sas, "g4k", n_get, 4 * KiB)
            for c in self.a.conns:
                paired = (csrv, lambda p: [cpath, "-", 4096, p]) if csrv else None
                self.wrk_workload(srv, f"put4k_c{c}", "put.lua",
                                  lambda p: [spath, sas, 4096, p], c, 4 * KiB, paired=paired)
            for c in self.a.conns:
                paired = (csrv, lambda p: [cpath, "size=4096", 64, "g"]) if csrv else None
                self.wrk_workload(srv, f"get4k_c{c}", "get.lua",
                                  lambda p: [spath, sas, n_get, "g4k"], c, 4 * KiB, paired=paired)
        finally:
            if csrv:
                self.finish(csrv)
            self.finish(srv)

    def group_1mib(self, kind):
        srv = self.start(kind)
        try:
            cl = Client(srv.port)
            create_container(cl, "mib")
            sas = azsas.container_sas("mib")
            cpath = f"/{ACCOUNT}/mib"
            upload_many(cl, "mib", sas, "g1m", 64, MiB, threads=8)
            c = self.a.conns_1mib
            self.wrk_workload(srv, f"put1m_c{c}", "put.lua", lambda p: [cpath, sas, MiB, p], c, MiB)
            self.wrk_workload(srv, f"get1m_c{c}", "get.lua", lambda p: [cpath, sas, 64, "g1m"], c, MiB)
        finally:
            self.finish(srv)

    def group_mixed(self, kind):
        srv = self.start(kind)
        try:
            cl = Client(srv.port)
            create_container(cl, "mixed")
            sas = azsas.container_sas("mixed")
            cpath = f"/{ACCOUNT}/mixed"
            upload_many(cl, "mixed", sas, "g64k", 256, 64 * KiB)
            c = self.a.conns_mixed
            self.wrk_workload(srv, f"mixed64k_c{c}", "mixed.lua",
                              lambda p: [cpath, sas, 256, "g64k", sas, 64 * KiB, p, 80], c, 64 * KiB)
        finally:
            self.finish(srv)

    def group_big(self, kind):
        srv = self.start(kind)
        try:
            cl = Client(srv.port)
            create_container(cl, "big")
            sas = azsas.container_sas("big")
            total, block = self.a.big_size, 8 * MiB
            up, dl1, dl4 = [], [], []
            with Meter(srv) as m:
                for r in range(self.rep):
                    name = f"big-{r}"
                    up.append(big_upload(cl, "big", sas, name, total, block, 4))
                    dl1.append(big_download(cl, "big", sas, name, total, 1))
                    dl4.append(big_download(cl, "big", sas, name, total, 4))
                    cl.request("DELETE", f"/{ACCOUNT}/big/{name}", sas)
                    srv.check_alive()
            mib = total / MiB
            res = self.results[kind]
            common = {"unit": "MiB/s", "cpu_s_per_rep": m.cpu / self.rep, "peak_rss_mib": m.hwm,
                      "hwm_reset": m.hwm_reset, "cpu_note": "upload + both downloads"}
            res["big_upload"] = dict(common, value=summarize([mib / s for s in up]), seconds=summarize(up))
            res["big_download1"] = dict(common, value=summarize([mib / s for s in dl1]), seconds=summarize(dl1))
            res["big_download4"] = dict(common, value=summarize([mib / s for s in dl4]), seconds=summarize(dl4))
            for k in ("big_upload", "big_download1", "big_download4"):
                log(f"  {kind:8s} {k:22s} {res[k]['value']['median']:12.1f} MiB/s")
            log(f"  {kind:8s} big: cpu {m.cpu / self.rep:.2f}s/rep rss {m.hwm:.0f} MiB")
        finally:
            self.finish(srv)

    def group_list(self, kind):
        srv = self.start(kind)
        try:
            cl = Client(srv.port)
            sizes = ([("list", self.a.list_blobs), ("list_big", self.a.list_blobs_big)] if kind == "lazuli"
                     else [("list", self.a.list_blobs_azurite)])
            for key, n in sizes:
                if n > 0:
                    self.one_listing(srv, cl, key, n)
        finally:
            self.finish(srv)

    def one_listing(self, srv, cl, key, n):
        """Fill a fresh container with `n` empty blobs, then time List Blobs over all of it."""
        container = f"list{n}"
        create_container(cl, container)
        sas = azsas.container_sas(container)
        pop, created, failed = wrk_fill(srv.port, f"/{ACCOUNT}/{container}", sas, n, "b")
        log(f"  {srv.kind:8s} populated {created} blobs ({failed} failed) in {pop:.1f}s ({created / pop:.0f}/s)")
        srv.check_alive()
        # One untimed pass, as every wrk run has its warm-up: the timed ones measure listing,
        # not the tail of the population (a server still flushing what it was just sent). It
        # also counts the blobs: a Put that failed (Azurite fails a few under load) may or may
        # not have created its blob, and every timed pass must list exactly this many.
        _, have, _ = list_all(cl, container, sas, 5000)
        if have < created:
            raise RuntimeError(f"{container}: {created} Puts acknowledged, {have} blobs listed")
        counts = []

        def one():
            secs, blobs, pages = list_all(cl, container, sas, 5000)
            counts.append((blobs, pages))
            if blobs != have:
                raise RuntimeError(f"listed {blobs} blobs, want {have}")
            return secs

        ent = self.timed_workload(srv, key, one, "blobs/s", have)
        ent["blobs"] = have
        ent["failed_puts"] = failed
        ent["pages"] = counts[0][1]
        ent["populate_s"] = pop
        ent["populate_rate"] = created / pop

    def group_tags(self, kind):
        """Find Blobs by Tags (container scope) over blobs tagged tenant (1 of 1000), shard (1 of
        16) and a unique id, as the partition layer's find_by_tags example tags them. Lazuli runs
        it twice: on the development account as it starts by default (hierarchical namespace)
        and on an account without one, as Azurite's and most Blob Storage accounts are."""
        self.tags_once(kind, "", None)
        if kind == "lazuli":
            self.tags_once(kind, "flat_", {"LAZULI_HNS_ACCOUNTS": ""})

    def tags_once(self, kind, prefix, env):
        srv = self.start(kind, env)
        try:
            cl = Client(srv.port)
            create_container(cl, "tags")
            # Tags on Put Blob need the t permission; Find Blobs by Tags the f permission.
            sas = azsas.container_sas("tags", permissions="racwdltf")
            n = self.a.tag_blobs if srv.kind == "lazuli" else self.a.tag_blobs_azurite
            pop, created, failed = wrk_fill(srv.port, f"/{ACCOUNT}/tags", sas, n, "t", tags=True)
            log(f"  {srv.kind:8s} populated {created} tagged blobs ({failed} failed) in {pop:.1f}s")
            srv.check_alive()
            self.settle(srv, "tags")
            queries = [(prefix + "tags_tenant", "\"tenant\"='t42'"),
                       (prefix + "tags_tenant_shard", "\"tenant\"='t42' AND \"shard\"='s10'")]
            res = self.results[srv.kind]
            for key, where in queries:
                query = "restype=container&comp=blobs&maxresults=5000&where=" + urllib.parse.quote(where) + "&" + sas

                def find():
                    t0 = time.perf_counter()
                    _, _, data = cl.request("GET", f"/{ACCOUNT}/tags", query)
                    return time.perf_counter() - t0, data.count(b"<Blob>")

                find()  # untimed, as a listing's first pass
                ms, matches = [], []
                with Meter(srv) as m:
                    for _ in range(max(self.rep, 5)):
                        secs, found = find()
                        ms.append(secs * 1000)
                        matches.append(found)
                ent = {"unit": "ms", "value": summarize(ms), "matches": matches[0], "blobs": created,
                       "failed_puts": failed, "populate_s": pop, "cpu_s_per_rep": m.cpu / len(ms),
                       "peak_rss_mib": m.hwm, "hwm_reset": m.hwm_reset, "where": where}
                res[key] = ent
                log(f"  {srv.kind:8s} {key:22s} {ent['value']['median']:10.2f} ms, {matches[0]} matches "
                    f"of {created}, rss {m.hwm:.0f} MiB")
        finally:
            self.finish(srv)

    def group_ceiling(self):
        srv = self.start("ceiling")
        dest = self.results["ceiling"]
        path = f"/{ACCOUNT}/c"
        try:
            for c in self.a.conns:
                self.wrk_workload(srv, f"put4k_c{c}", "put.lua", lambda p: [path, "-", 4096, p], c,
                                  4 * KiB, dest=dest)
                self.wrk_workload(srv, f"get4k_c{c}", "get.lua", lambda p: [path, "size=4096", 64, "g"],
                                  c, 4 * KiB, dest=dest)
            c = self.a.conns_1mib
            self.wrk_workload(srv, f"put1m_c{c}", "put.lua", lambda p: [path, "-", MiB, p], c, MiB, dest=dest)
            self.wrk_workload(srv, f"get1m_c{c}", "get.lua", lambda p: [path, f"size={MiB}", 64, "g"], c,
                              MiB, dest=dest)
            c = self.a.conns_mixed
            self.wrk_workload(srv, f"mixed64k_c{c}", "mixed.lua",
                              lambda p: [path, f"size={64 * KiB}", 256, "g", "-", 64 * KiB, p, 80], c,
                              64 * KiB, dest=dest)
        finally:
            self.finish(srv)

    def group_profile(self):
        if shutil.which("perf") is None:
            self.results["profile"] = "perf not installed: no profile taken."
            return
        out = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "profile.py"), "--lazuli", self.a.lazuli,
                              "--conns", "64", "--duration", str(self.dur), "--top", "20"],
                             capture_output=True, text=True, timeout=300)
        text = out.stdout.strip() or out.stderr.strip()
        self.results["profile"] = text
        for line in text.splitlines()[:5]:
            log("  " + line[:160])

    # ---- disk ceilings with fio, in the same directory tree as the servers' data
    def fio(self, name, *opts):
        d = os.path.join(self.tmp, "fio")
        os.makedirs(d, exist_ok=True)
        argv = ["fio", f"--name={name}", f"--directory={d}", f"--filename={name}.dat",
                "--ioengine=psync", "--output-format=json", *opts]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"fio failed: {out.stderr}")
        txt = out.stdout[out.stdout.index("{"):]
        return json.loads(txt)["jobs"][0]

    def fio_rm(self, name):
        try:
            os.unlink(os.path.join(self.tmp, "fio", f"{name}.dat"))
        except FileNotFoundError:
            pass

    def group_disk(self):
        size = self.a.big_size
        wbw, rbw, fs_iops, fds_lat, fds_p50 = [], [], [], [], []
        for _ in range(self.rep):
            # sequential write, 8 MiB writes each followed by fsync (like a durable 8 MiB Put Block)
            self.fio_rm("seq")
            j = self.fio("seq", "--rw=write", "--bs=8m", f"--size={size}", "--fsync=1",
                         "--end_fsync=1", "--fallocate=none")
            wbw.append(j["write"]["bw_bytes"] / MiB)
            # sequential read of the same file, from the page cache (not invalidated)
            j = self.fio("seq", "--rw=read", "--bs=8m", f"--size={size}", "--invalidate=0")
            rbw.append(j["read"]["bw_bytes"] / MiB)
            self.fio_rm("seq")
            # the disk's fsync rate: 4 KiB sequential writes, fsync after each
            self.fio_rm("fsync")
            j = self.fio("fsync", "--rw=write", "--bs=4k", "--size=256m", "--fsync=1",
                         f"--runtime={self.a.fio_runtime}", "--fallocate=none")
            fs_iops.append(j["write"]["iops"])
            self.fio_rm("fsync")
            # fdatasync latency of sequential appends to a fresh file (the group-commit unit)
            self.fio_rm("append")
            j = self.fio("append", "--rw=write", "--bs=4k", "--size=256m", "--fdatasync=1",
                         f"--runtime={self.a.fio_runtime}", "--fallocate=none")
            sync = j.get("sync", {}).get("lat_ns", {})
            fds_lat.append(sync.get("mean", 0) / 1e6)
            pct = sync.get("percentile", {})
            fds_p50.append(pct.get("50.000000", 0) / 1e6 if pct else None)
            self.fio_rm("append")
        disk = self.results["disk"]
        disk["seq_write_fsync_mib_s"] = summarize(wbw)
        disk["seq_read_cached_mib_s"] = summarize(rbw)
        disk["fsync_4k_iops"] = summarize(fs_iops)
        disk["fdatasync_append_mean_ms"] = summarize(fds_lat)
        disk["fdatasync_append_p50_ms"] = summarize(fds_p50)
        lat = disk["fdatasync_append_mean_ms"]["median"]
        disk["group_commit_bound_64"] = 64 / (lat / 1000) if lat > 0 else None
        log(f"  disk: seq write+fsync {disk['seq_write_fsync_mib_s']['median']:.0f} MiB/s, "
            f"cached read {disk['seq_read_cached_mib_s']['median']:.0f} MiB/s, "
            f"fsync 4k {disk['fsync_4k_iops']['median']:.0f}/s, fdatasync {lat:.3f} ms")

    # ---- main
    def run(self):
        self.meta()
        t0 = time.time()
        groups = self.a.groups
        if "ceiling" in groups:
            log("== ceiling: minimal hyper server")
            self.group_ceiling()
        if "disk" in groups:
            log("== disk: fio")
            self.group_disk()
        for g in ("small", "1mib", "mixed", "big", "list", "tags"):
            if g not in groups:
                continue
            for kind in self.a.servers:
                log(f"== {g}: {kind}")
                getattr(self, "group_" + g)(kind)
        if "profile" in groups:
            log("== profile: Lazuli under Put 4 KiB, 64 conns (bench/profile.py)")
            self.group_profile()
        self.results["meta"]["elapsed_s"] = time.time() - t0
        return self.results

    def meta(self):
        m = self.results["meta"]
        m["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        m["nproc"] = os.cpu_count()
        cpu = "unknown"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        m["cpu"] = cpu
        m["kernel"] = platform.release()
        try:
            with open("/proc/meminfo") as f:
                m["mem_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
        except OSError:
            pass
        try:
            fs = subprocess.run(["df", "-T", self.tmp], capture_output=True, text=True).stdout.splitlines()[-1].split()
            m["fs"] = f"{fs[1]} on {fs[0]}"
        except Exception:  # noqa: BLE001
            m["fs"] = "unknown"

        def cmd(argv):
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                return (r.stdout + r.stderr).strip().splitlines()[0]
            except Exception:  # noqa: BLE001
                return "unknown"

        m["lazuli_version"] = cmd([self.a.lazuli, "--version"])
        m["azurite_version"] = cmd([self.a.azurite, "--version"])
        m["wrk_version"] = cmd(["wrk", "--version"])
        m["fio_version"] = cmd(["fio", "--version"])
        repo = os.path.dirname(BENCH_DIR)
        rev = cmd(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        m["git"] = rev + (" (with uncommitted changes)" if dirty else "")
        m["lazuli_bin"] = self.a.lazuli
        m["get_blobs"] = self.a.get_blobs
        m["big_size"] = self.a.big_size
        m["reps"] = self.rep
        m["duration_s"] = self.dur
        m["quick"] = self.a.quick


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", required=True)
    p.add_argument("--azurite", required=True)
    p.add_argument("--ceiling", required=True)
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "RESULTS.md"))
    p.add_argument("--json", default=os.path.join(BENCH_DIR, "results.json"))
    p.add_argument("--tmpdir", default=None, help="where the servers' data dirs and fio files go")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk warm-up per workload")
    p.add_argument("--fio-runtime", type=int, default=3)
    p.add_argument("--conns", type=int, nargs="+", default=[16, 64])
    p.add_argument("--conns-1mib", type=int, default=16)
    p.add_argument("--conns-mixed", type=int, default=64)
    p.add_argument("--get-blobs", type=int, default=1000)
    p.add_argument("--big-size", type=int, default=GiB)
    p.add_argument("--list-blobs", type=int, default=100000)
    p.add_argument("--list-blobs-big", type=int, default=10_000_000,
                   help="Lazuli's second listing (0: skip it); Azurite lists only --list-blobs-azurite")
    p.add_argument("--list-blobs-azurite", type=int, default=10000)
    p.add_argument("--tag-blobs", type=int, default=1_000_000)
    p.add_argument("--tag-blobs-azurite", type=int, default=10000)
    p.add_argument("--groups", nargs="+",
                   default=["ceiling", "disk", "small", "1mib", "mixed", "big", "list", "tags", "profile"])
    p.add_argument("--servers", nargs="+", default=["lazuli", "azurite"])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 rep of 1 s, 64 MiB big blob, 2000 listed blobs")
    p.add_argument("--render-only", action="store_true", help="re-render RESULTS.md from --json")
    a = p.parse_args()

    import report  # noqa: E402  (bench/report.py)

    if a.render_only:
        with open(a.json) as f:
            res = json.load(f)
        report.write(res, a.out)
        return
    if a.quick:
        a.reps, a.duration, a.warmup, a.fio_runtime = 1, 1, 1, 1
        a.big_size, a.list_blobs, a.list_blobs_azurite = 64 * MiB, 2000, 1000
        a.list_blobs_big, a.tag_blobs, a.tag_blobs_azurite = 20000, 20000, 2000
        a.get_blobs = 100
    for tool in ("wrk", "fio"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (make bench installs it)")

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    b = Bench(a)
    try:
        res = b.run()
    except BaseException:
        stop_all()
        log(f"FAILED; server logs kept in {b.tmp}")
        raise
    stop_all()
    shutil.rmtree(b.tmp, ignore_errors=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    report.write(res, a.out)
    log(f"wrote {a.out} and {a.json} in {res['meta']['elapsed_s']:.0f}s")


if __name__ == "__main__":
    main()
