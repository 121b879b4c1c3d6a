"""Render bench/RESULTS.md from the results dict of bench/bench.py (also: results.json)."""

import os

MIB = 1024 * 1024


def num(x):
    if x is None:
        return "—"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def mmm(s):
    """median (min–max)"""
    if not s:
        return "—"
    if s.get("n", 1) == 1:
        return num(s["median"])
    return f"{num(s['median'])} ({num(s['min'])}–{num(s['max'])})"


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def rtxt(r, digits=2):
    if r is None:
        return "—"
    if r >= 10:
        return f"{r:,.0f}×"
    return f"{r:.{digits}f}×"


def med(ent, key="value"):
    if not ent or not ent.get(key):
        return None
    return ent[key]["median"]


def lat(ent):
    if not ent or "p50_ms" not in ent:
        return "—"
    return f"{num(med(ent, 'p50_ms'))} / {num(med(ent, 'p99_ms'))} / {num(med(ent, 'p999_ms'))}"


def pair(l_txt, a_txt):
    return f"L {l_txt}<br>A {a_txt}"


# (key, label, unit, ceiling source, ceiling key)
GROUPS = [
    ("Small blobs: Put Blob / Get Blob of 4 KiB (wrk)", "small", [
        ("put4k_c16", "Put 4 KiB, unique names, 16 conns", "req/s", "ceiling", "put4k_c16"),
        ("put4k_c64", "Put 4 KiB, unique names, 64 conns", "req/s", "ceiling", "put4k_c64"),
        ("get4k_c16", "Get 4 KiB, random of 1000, 16 conns", "req/s", "ceiling", "get4k_c16"),
        ("get4k_c64", "Get 4 KiB, random of 1000, 64 conns", "req/s", "ceiling", "get4k_c64"),
    ]),
    ("1 MiB blobs (wrk; req/s = MiB/s)", "1mib", [
        ("put1m_c16", "Put 1 MiB, unique names, 16 conns", "req/s", "ceiling", "put1m_c16"),
        ("get1m_c16", "Get 1 MiB, random of 64, 16 conns", "req/s", "ceiling", "get1m_c16"),
    ]),
    ("Mixed 80/20 read/write of 64 KiB blobs (wrk)", "mixed", [
        ("mixed64k_c64", "80% Get of 256 blobs / 20% Put new, 64 conns", "req/s", "ceiling", "mixed64k_c64"),
    ]),
    ("One {big} blob: 8 MiB Put Block ×4 in parallel + Put Block List; download", "big", [
        ("big_upload", "upload (Put Block ×4 parallel + Put Block List)", "MiB/s", "disk", "seq_write_fsync_mib_s"),
        ("big_download1", "download, one stream", "MiB/s", "disk", "seq_read_cached_mib_s"),
        ("big_download4", "download, 4 ranged streams", "MiB/s", "disk", "seq_read_cached_mib_s"),
    ]),
    ("List Blobs, 5000 per page, whole container", "list", [
        ("list", "List Blobs (Lazuli 100,000 blobs; Azurite 10,000)", "blobs/s", "target", 200000),
        ("list_big", "List Blobs (Lazuli 10,000,000 blobs)", "blobs/s", "target", 200000),
    ]),
]


def ceiling_of(res, src, key):
    if src == "ceiling":
        return med(res["ceiling"].get(key))
    if src == "disk":
        d = res["disk"].get(key)
        return d["median"] if d else None
    if src == "target":
        return key
    return None


def ceiling_label(src):
    return {"ceiling": "hyper", "disk": "fio", "target": "target"}[src]


KEPT_HEADING = "## Storage core, tags, namespace and torture"


def write(res, path):
    m = res["meta"]
    L, A, C, D = res["lazuli"], res["azurite"], res["ceiling"], res["disk"]
    out = []
    w = out.append
    w("# Lazuli benchmark results")
    w("")
    if m.get("quick"):
        w("**SMOKE RUN (`--quick`): 1 repetition of 1 s, small sizes. Not a measurement.**")
        w("")
    w(f"- Date: {m['date']}")
    w(f"- Machine: {m['nproc']} CPUs, {m['cpu']}, {m.get('mem_gib', '?')} GiB RAM, kernel {m['kernel']}; "
      f"data and fio files on {m.get('fs', '?')}")
    w("- Command: `make bench`")
    w(f"- Lazuli: `{m['lazuli_version']}` (`{m.get('lazuli_bin', '?')}`), git {m['git']}; Azurite {m['azurite_version']}; "
      f"{m['wrk_version'].split(' Copyright')[0]}; {m['fio_version']}")
    w(f"- Each figure: median of {m['reps']} repetitions (min–max in brackets); wrk runs are {m['duration_s']} s "
      f"each with 2 wrk threads, after a 1 s warm-up (listings: after one untimed pass), once the server is idle (under 5% of a core, waiting at most 30 s for the flushes and compactions an earlier workload left); total run time {m.get('elapsed_s', 0) / 60:.1f} min.")
    w("- Client, servers and ceilings share the same 2 cores on loopback (127.0.0.1): "
      "the load generator's CPU is taken from the server's.")
    w("- Lazuli's 4 KiB Put and Get rows are measured against the hyper ceiling interleaved: before "
      "each of Lazuli's repetitions (the server idle), one of the ceiling's, with the same script "
      "and connections; their Lazuli/ceiling is the median (min–max) of the per-repetition ratios. "
      "On this VM the ceiling's own rate moves between ~120k and ~160k 4 KiB Gets/s from run to "
      "run, so the ceilings table (measured minutes earlier) may differ from the figure beside Lazuli.")
    w("- `L` = Lazuli, `A` = Azurite. Latencies are wrk's (ms). Peak RSS = VmHWM of the server process, "
      "reset (`/proc/<pid>/clear_refs` = 5) before each workload, so it is the peak during that workload. "
      "CPU s = server utime+stime per repetition.")
    w("- Azurite keeps data in files and metadata in memory and does not fsync; Lazuli acknowledges only "
      "after fsync (group commit).")
    w("")

    # ceilings and disk
    w("## Ceilings measured in this run")
    w("")
    w("| ceiling | median (min–max) | p50 / p99 / p99.9 ms |")
    w("|---|---|---|")
    clabels = {
        "put4k_c16": "hyper PUT 4 KiB, 16 conns (req/s)", "put4k_c64": "hyper PUT 4 KiB, 64 conns (req/s)",
        "get4k_c16": "hyper GET 4 KiB, 16 conns (req/s)", "get4k_c64": "hyper GET 4 KiB, 64 conns (req/s)",
        "put1m_c16": "hyper PUT 1 MiB, 16 conns (req/s)", "get1m_c16": "hyper GET 1 MiB, 16 conns (req/s)",
        "mixed64k_c64": "hyper 80/20 GET/PUT 64 KiB, 64 conns (req/s)",
    }
    for k, lbl in clabels.items():
        if k in C:
            w(f"| {lbl} | {mmm(C[k]['value'])} | {lat(C[k])} |")
    dl = [
        ("seq_write_fsync_mib_s", "fio sequential write, 8 MiB writes, fsync after each (MiB/s)"),
        ("seq_read_cached_mib_s", "fio sequential read of the same file from the page cache (MiB/s)"),
        ("fsync_4k_iops", "fio `--rw=write --bs=4k --fsync=1`: fsyncs/s"),
        ("fdatasync_append_mean_ms", "fdatasync latency of 4 KiB sequential appends, mean (ms)"),
        ("fdatasync_append_p50_ms", "same, p50 (ms)"),
    ]
    for k, lbl in dl:
        if D.get(k):
            w(f"| {lbl} | {mmm(D[k])} | |")
    gcb = D.get("group_commit_bound_64")
    if gcb:
        w(f"| group-commit bound: 64 ÷ fdatasync latency (req/s) | {num(gcb)} | |")
    w("")

    for title, _g, rows in GROUPS:
        present = [r for r in rows if r[0] in L or r[0] in A]
        if not present:
            continue
        big = m.get("big_size", 1 << 30)
        w("## " + title.replace("{big}", "1 GiB" if big == 1 << 30 else f"{big / MIB:.0f} MiB"))
        w("")
        w("| workload | Lazuli median (min–max) | Azurite median (min–max) | Lazuli/Azurite | ceiling | "
          "Lazuli/ceiling | p50/p99/p99.9 ms | peak RSS MiB | CPU s |")
        w("|---|---|---|---|---|---|---|---|---|")
        for key, label, unit, src, ckey in present:
            label = label.replace("of 1000", f"of {m.get('get_blobs', 1000)}")
            if key == "list":
                nl = (L.get("list") or {}).get("blobs")
                na = (A.get("list") or {}).get("blobs")
                label = f"List Blobs (Lazuli {nl or 0:,} blobs; Azurite {na or 0:,})"
            if key == "list_big":
                label = f"List Blobs (Lazuli {(L.get('list_big') or {}).get('blobs') or 0:,} blobs)"
            le, ae = L.get(key), A.get(key)
            lv, av = med(le), med(ae)
            c = ceiling_of(res, src, ckey)
            ctxt = f"{num(c)} ({ceiling_label(src)})" if c else "—"
            ceiling_ratio = rtxt(ratio(lv, c))
            if le and le.get("paired_ratio"):
                # Measured interleaved with Lazuli's repetitions: the ratio is per repetition.
                ctxt = f"{mmm(le['paired_ceiling'])} (hyper, interleaved)"
                pr = le["paired_ratio"]
                ceiling_ratio = f"{rtxt(pr['median'])} ({rtxt(pr['min'])}–{rtxt(pr['max'])})"
            rss = pair(num(le["peak_rss_mib"]) if le else "—", num(ae["peak_rss_mib"]) if ae else "—")
            cpu = pair(num(le["cpu_s_per_rep"]) if le else "—", num(ae["cpu_s_per_rep"]) if ae else "—")
            lt = pair(lat(le), lat(ae)) if (le and "p50_ms" in le) else "—"
            errs = []
            for nm, e in (("Lazuli", le), ("Azurite", ae)):
                if e and e.get("errors"):
                    errs.append(f"{nm}: {e['errors']} errors of {e['requests']}")
            lbl = f"{label} ({unit})" + (" ⚠ " + "; ".join(errs) if errs else "")
            w(f"| {lbl} | {mmm(le['value']) if le else '—'} | {mmm(ae['value']) if ae else '—'} | "
              f"{rtxt(ratio(lv, av))} | {ctxt} | {ceiling_ratio} | {lt} | {rss} | {cpu} |")
        if _g == "1mib":
            v, c = med(L.get("put1m_c16")), (D.get("seq_write_fsync_mib_s") or {}).get("median")
            if v is not None and c:
                w("")
                w(f"Put 1 MiB is bound by the disk as much as by the network: {num(v)} MiB/s = "
                  f"{rtxt(ratio(v, c))} fio's fsync'd sequential write ({num(c)} MiB/s) in this run "
                  "(each Put is acknowledged only after its data is synced).")
        if _g == "big":
            ent = L.get("big_upload") or A.get("big_upload")
            if ent:
                w("")
                w("RSS and CPU of the 1 GiB group cover upload and both downloads together (CPU per repetition).")
        if _g == "list":
            w("")
            for nm, e in (("Lazuli", L.get("list")), ("Lazuli", L.get("list_big")), ("Azurite", A.get("list"))):
                if e:
                    failed = e.get("failed_puts") or 0
                    w(f"Populating {nm} with {e['blobs']:,} empty blobs (wrk, `bench/wrk/fill.lua`, 64 conns): "
                      f"{e['populate_s']:.1f} s ({num(e['populate_rate'])}/s)"
                      + (f", {failed:,} Puts failed" if failed else "") + f"; {e['pages']} pages per listing.")
        w("")

    tag_queries = [("tags_tenant", "one tenant (1 in 1,000 blobs)"),
                   ("tags_tenant_shard", "one tenant and shard (1 in 2,000)")]
    # (Lazuli's key, Azurite's key, label): Azurite has no hierarchical namespace, so its one
    # figure stands beside both of Lazuli's accounts.
    tag_rows = [(key, key, label + ", HNS account (the default)") for key, label in tag_queries] + \
        [("flat_" + key, key, label + ", account without HNS") for key, label in tag_queries]
    if any(k in L or a in A for k, a, _ in tag_rows):
        w("## Find Blobs by Tags, container scope, one page of up to 5000")
        w("")
        w("Blobs tagged `tenant` (1 of 1,000), `shard` (1 of 16) and a unique `id`, filled with wrk "
          "(`bench/wrk/fill.lua`); the query's latency, median of 5 after one untimed query. Azurite "
          "holds fewer blobs, so the two columns are not a like-for-like ratio. On an account without "
          "hierarchical namespace Lazuli answers from the tag index alone; on an HNS account it also "
          "reads the path row of each candidate that the index's tag set does not rule out, since "
          "only the row vouches for the path's visibility (`docs/formats/rows.md`, Blob index tags).")
        w("")
        w("| query | Lazuli ms (min–max) | blobs, matches | Azurite ms (min–max) | blobs, matches | peak RSS MiB |")
        w("|---|---|---|---|---|---|")
        for key, akey, label in tag_rows:
            le, ae = L.get(key), A.get(akey)
            if not (le or ae):
                continue
            where = (le or ae)["where"]
            cnt = (lambda e: f"{e['blobs']:,}, {e['matches']:,}" if e else "—")
            rss = pair(num(le["peak_rss_mib"]) if le else "—", num(ae["peak_rss_mib"]) if ae else "—")
            w(f"| {label}: `{where}` | {mmm(le['value']) if le else '—'} | {cnt(le)} | "
              f"{mmm(ae['value']) if ae else '—'} | {cnt(ae)} | {rss} |")
        w("")

    # CPU efficiency
    eff = []
    for key in ("put4k_c64", "get4k_c64", "put1m_c16", "get1m_c16", "mixed64k_c64"):
        le, ae = L.get(key), A.get(key)
        if le or ae:
            eff.append(f"| {key} | {num(le['cpu_us_per_req']) if le else '—'} | "
                       f"{num(ae['cpu_us_per_req']) if ae else '—'} |")
    if eff:
        w("## Server CPU per request (µs of utime+stime)")
        w("")
        w("| workload | Lazuli | Azurite |")
        w("|---|---|---|")
        out.extend(eff)
        w("")

    # targets
    w("## Targets")
    w("")
    w("| target | measured | met? |")
    w("|---|---|---|")

    def tgt(name, measured, ok):
        w(f"| {name} | {measured} | {'met' if ok else ('not met' if ok is not None else 'n/a')} |")

    def ceiling_ratio(key):
        """Lazuli/ceiling of a 4 KiB row: the median of the per-repetition ratios when the
        ceiling ran interleaved with Lazuli, else the ratio of the two groups' medians."""
        paired = (L.get(key) or {}).get("paired_ratio")
        return paired["median"] if paired else ratio(med(L.get(key)), med(C.get(key)))

    p64 = med(L.get("put4k_c64"))
    if p64 is not None:
        r1 = ceiling_ratio("put4k_c64")
        r2 = ratio(p64, gcb)
        ok = (r1 is not None and r1 >= 0.5) or (r2 is not None and r2 >= 0.8)
        tgt("Put 4 KiB @64 ≥ 0.5× ceiling or ≥ 0.8× group-commit bound",
            f"{num(p64)} req/s = {rtxt(r1)} ceiling, {rtxt(r2)} group-commit bound", ok if r1 or r2 else None)
        p99 = med(L["put4k_c64"], "p99_ms")
        tgt("Put 4 KiB @64 p99 < 20 ms", f"{num(p99)} ms", p99 < 20)
    g64 = med(L.get("get4k_c64"))
    if g64 is not None:
        r = ceiling_ratio("get4k_c64")
        tgt("Get 4 KiB @64 ≥ 0.5× ceiling", f"{num(g64)} req/s = {rtxt(r)} ceiling", r >= 0.5 if r else None)
    up = med(L.get("big_upload"))
    if up is not None:
        c = (D.get("seq_write_fsync_mib_s") or {}).get("median")
        r = ratio(up, c)
        tgt("1 GiB upload ≥ 0.8× fsync'd sequential write", f"{num(up)} MiB/s = {rtxt(r)}", r >= 0.8 if r else None)
        c = (D.get("seq_read_cached_mib_s") or {}).get("median")
        for k, nm in (("big_download1", "one stream"), ("big_download4", "4 ranged streams")):
            v = med(L.get(k))
            r = ratio(v, c)
            tgt(f"1 GiB download ({nm}) ≥ 0.8× page-cached read", f"{num(v)} MiB/s = {rtxt(r)}",
                r >= 0.8 if r else None)
    lv, lbv = med(L.get("list")), med(L.get("list_big"))
    if lv is not None:
        tgt("List ≥ 200,000 blobs/s", f"{num(lv)} blobs/s", lv >= 200000)
    if lbv is not None:
        n = L["list_big"]["blobs"]
        tgt(f"List ≥ 200,000 blobs/s with {n:,} blobs (flat)", f"{num(lbv)} blobs/s"
            + (f" ({rtxt(ratio(lbv, lv))} the {L['list']['blobs']:,}-blob listing)" if lv else ""), lbv >= 200000)
    rss = [e["peak_rss_mib"] for e in L.values() if isinstance(e, dict) and "peak_rss_mib" in e]
    if rss:
        tgt("Peak RSS ≤ 256 MiB (max over all workloads)", f"{num(max(rss))} MiB", max(rss) <= 256)
    for key, nm in (("put4k_c16", "Put 4 KiB @16"), ("put4k_c64", "Put 4 KiB @64"),
                    ("get4k_c16", "Get 4 KiB @16"), ("get4k_c64", "Get 4 KiB @64")):
        r = ratio(med(L.get(key)), med(A.get(key)))
        if r is not None:
            tgt(f"≥ 100× Azurite: {nm}", rtxt(r), r >= 100)
    w("")
    prof = res.get("profile")
    if prof:
        w("## Profile: Lazuli under Put 4 KiB, 64 connections (`bench/profile.py`)")
        w("")
        w("One extra wrk run, not counted above; `perf stat` on syscall tracepoints and `perf record -g` "
          "(cpu-clock) attached to the server for its duration.")
        w("")
        w("```")
        out.extend(prof.splitlines())
        w("```")
        w("")
    missing = []
    if "list_big" not in L:
        missing.append("- List Blobs over 10,000,000 blobs over HTTP (group `list`, `--list-blobs-big`); the "
                       "partition layer's figure: `cargo run --release -p lazuli-partition --example list_scale`.")
    if "tags_tenant" not in L:
        missing.append("- Find Blobs by Tags over 1,000,000 blobs over HTTP (group `tags`); in-process: "
                       "`cargo run --release -p lazuli-partition --example find_by_tags`.")
    if missing:
        w("## Not measured in this run")
        w("")
        out.extend(missing)
        w("")
    w("Raw numbers of every repetition: `bench/results.json`.")
    w("")
    # Figures measured by separate commands (layers' own benchmarks, long test runs) are kept
    # by hand below this heading: a new run replaces only what it measured.
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            previous = f.read()
        at = previous.find(KEPT_HEADING)
        if at >= 0:
            kept = previous[at:]
    with open(path, "w") as f:
        f.write("\n".join(out))
        if kept:
            f.write("\n" + kept)
