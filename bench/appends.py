#!/usr/bin/env python3
"""Does Append Block slow down as an append blob grows? Many small appends to one blob.

    python3 bench/appends.py --lazuli A [B ...] [--appends 16000] [--size 1024] [--step 2000]
                             [--azurite bench/.azurite/node_modules/.bin/azurite-blob]

Each build (and Azurite, if given) gets a fresh server and data directory; one client appends
--size bytes --appends times to one append blob over a keep-alive connection and prints, for
every --step appends, the rate and the server's CPU per append, then the bytes the data
directory holds. A server that rewrites a growing block list on every append shows a falling
rate and a data directory far larger than what was appended. Stops what it started.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import azsas  # noqa: E402
import bench  # noqa: E402


def dir_bytes(path):
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def start_azurite(executable, tmp):
    port = bench.free_port()
    data = os.path.join(tmp, "azurite-data")
    os.makedirs(data)
    argv = [executable, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", data,
            "--skipApiVersionCheck", "--loose", "--silent"]
    return bench.Server("azurite", argv, port, os.path.join(tmp, "azurite.log"))


def run(srv, tmp, label, appends, size, step):
    cl = bench.Client(srv.port)
    bench.create_container(cl, "appends")
    sas = azsas.container_sas("appends")
    path = f"/{bench.ACCOUNT}/appends/log"
    cl.request("PUT", path, sas, headers={"x-ms-blob-type": "AppendBlob"})
    body = os.urandom(size)
    rates = []
    started, cpu0 = time.perf_counter(), srv.cpu_s()
    for i in range(1, appends + 1):
        cl.request("PUT", path, sas + "&comp=appendblock", body=body)
        if i % step == 0:
            now, cpu = time.perf_counter(), srv.cpu_s()
            rates.append(step / (now - started))
            print(f"{label:>10} {i:7} appends: {rates[-1]:7.0f} appends/s, "
                  f"server CPU {(cpu - cpu0) / step * 1e6:6.0f} us per append", flush=True)
            started, cpu0 = now, cpu
    _, resp, _ = cl.request("HEAD", path, sas)
    length = int(resp.getheader("Content-Length"))
    assert length == appends * size, (length, appends * size)
    print(f"{label:>10} last/first rate {rates[-1] / rates[0]:.2f}; "
          f"data directory {dir_bytes(tmp) / 2**20:.0f} MiB for {appends * size / 2**20:.0f} MiB appended")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lazuli", nargs="+", required=True)
    p.add_argument("--azurite", help="azurite-blob executable, to run the same appends against it")
    p.add_argument("--appends", type=int, default=16000)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--step", type=int, default=2000)
    a = p.parse_args()
    servers = [(os.path.basename(b), lambda tmp, b=b: bench.start_lazuli(b, tmp)) for b in a.lazuli]
    if a.azurite:
        servers.append(("azurite", lambda tmp: start_azurite(a.azurite, tmp)))
    for label, start in servers:
        tmp = tempfile.mkdtemp(prefix="lazuli-appends-")
        srv = start(tmp)
        try:
            run(srv, tmp, label, a.appends, a.size, a.step)
        finally:
            srv.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
