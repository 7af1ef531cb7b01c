#!/usr/bin/python3
"""Reads Google Benchmark JSON files from bench/ and prints the ratios that matter.

    bench-summary.py JSON...                            the summary table (make bench)
    bench-summary.py --check BASELINE [--targets] JSON...
                                                        compare with the baseline (make bench-check)
    bench-summary.py --write-baseline BASELINE JSON...  record the ratios as the baseline (JSON from
                                                        several directories: one run each, median)
    bench-summary.py --markdown JSON...                 the table as Markdown, for the README

Every ratio is taken inside one run (both sides measured minutes apart on the same machine);
absolute times are never compared across runs. A benchmark run with repetitions counts as its
fastest repetition (counters: the median). Files without a "benchmarks" list (the baseline itself) are skipped.

Besides the suites' JSON, the summary reads results/python-bench.json when it lies beside them
(the Python binding's issue-8 ratios) and runs numbered "limits" that explain, from figures of
the same run, why a target this machine cannot reach is out of reach.

Check verdicts: a ratio FAILs if it is worse than its baseline by more than the tolerance
(lower-is-better: value > baseline * (1 + tol); higher-is-better: value < baseline / (1 + tol)),
or crosses its hard limit, or is missing. Issue 8's performance targets are printed beside each
ratio; they fail the check only with --targets.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
SUFFIX = re.compile(r"/(manual_time|real_time|process_time|min_time:[^/]*|iterations:\d+|repeats:\d+|threads:\d+)$")
KiB, MiB = 1024, 1024 * 1024


def base_name(name):
    while True:
        stripped = SUFFIX.sub("", name)
        if stripped == name:
            return name
        name = stripped


def load(paths):
    """{name: {"time": seconds, counter: value, ...}} (medians), machine context, errors."""
    runs, errors, context = {}, {}, {}
    for path in paths:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"bench-summary: skipping {path}: {e}", file=sys.stderr)
            continue
        if not isinstance(doc, dict) or "benchmarks" not in doc:
            continue
        context = context or doc.get("context", {})
        for b in doc["benchmarks"]:
            if b.get("run_type") == "aggregate":
                continue
            name = base_name(b.get("run_name") or b["name"])
            if b.get("error_occurred"):
                errors[name] = b.get("error_message", "error")
                continue
            rec = {k: v for k, v in b.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            rec["time"] = b["real_time"] * UNIT_S.get(b.get("time_unit", "ns"), 1e-9)
            runs.setdefault(name, []).append(rec)
    merged = {}
    for name, recs in runs.items():
        keys = set.intersection(*(set(r) for r in recs))
        merged[name] = {k: statistics.median(r[k] for r in recs) for k in keys}
        # Time: the fastest repetition. On a shared machine noise only ever adds time (another
        # tenant takes the CPU), so the minimum is the most repeatable estimate of the cost.
        merged[name]["time"] = min(r["time"] for r in recs)
        # How far the repetitions spread (slowest over fastest): the noise a ratio sits in.
        merged[name]["time_spread"] = max(r["time"] for r in recs) / merged[name]["time"] if len(recs) > 1 else None
        if all("bytes_per_second" in r for r in recs):
            merged[name]["bytes_per_second"] = max(r["bytes_per_second"] for r in recs)
    return merged, errors, context


def size_label(nbytes):
    if nbytes % MiB == 0:
        return f"{nbytes // MiB} MiB"
    if nbytes % KiB == 0:
        return f"{nbytes // KiB} KiB"
    return f"{nbytes / MiB:.0f} MiB"


# ---------------------------------------------------------------------------------------------
# The ratios. Each item: key (stable, used by the baseline), section, row, column, value,
# better ("lower" or "higher"), target (issue 8, or None), and note text for the column.
# ---------------------------------------------------------------------------------------------

class Ratios:
    def __init__(self, runs):
        self.runs = runs
        self.items = []

    def t(self, name):
        r = self.runs.get(name)
        return r["time"] if r and r.get("time", 0) > 0 else None

    def counter(self, name, key):
        r = self.runs.get(name)
        return r.get(key) if r else None

    def args(self, prefix, pattern):
        """Integer captures of `pattern` over names starting with prefix, sorted, unique."""
        rx = re.compile(re.escape(prefix) + pattern + "$")
        found = set()
        for name in self.runs:
            m = rx.match(name)
            if m:
                found.add(tuple(int(g) for g in m.groups()))
        return sorted(found)

    def add(self, key, section, row, col, value, better, target=None):
        if value is None:
            return
        self.items.append(dict(key=key, section=section, row=row, col=col, value=value, better=better,
                               target=target))

    def time_ratio(self, a, b):
        ta, tb = self.t(a), self.t(b)
        return ta / tb if ta and tb else None

    def speed_ratio(self, a, b):
        """speed(a) / speed(b) for the same bytes: time(b) / time(a)."""
        ta, tb = self.t(a), self.t(b)
        return tb / ta if ta and tb else None


SEC_CALLS = "per call: time ratio (1.00 = no overhead; lower is better)"
SEC_COPY = "copy(), contiguous float64: speed of copy() / speed of the baseline (higher is better)"
SEC_NONC = "copy(), non-contiguous: speed of copy() / speed of the baseline (higher is better)"
SEC_SHARE = "handing an array to W workers: pipe-copy time / shmanager time (higher is better)"
SEC_MEM = "memory: sum of the workers' Pss growth, in copies of the array (lower is better; 1 = one copy)"
SEC_ROWSUM = "seed row-sum, end to end (T = 1000 tasks): time ratios"
SEC_OPTIONS = "options the machine may not offer (1 = works, or reported unavailable as designed)"
SEC_PY = "Python binding (results/python-bench.json): time ratios (lower is better)"


def compute(runs, errors=None, paths=()):
    r = Ratios(runs)
    errors = errors or {}

    # Per call ---------------------------------------------------------------------------------
    for (s,) in r.args("alloc_close/safe/bytes:", r"(\d+)"):
        row, k = f"allocate+close {size_label(s)}", f"alloc_close@{s}"
        n = lambda m: f"alloc_close/{m}/bytes:{s}"
        r.add(f"{k}:safe/unsafe", SEC_CALLS, row, "safe/unsafe",
              r.time_ratio(n("safe"), n("unsafe")), "lower", 1.05)
        r.add(f"{k}:safe/raw", SEC_CALLS, row, "safe/raw syscalls",
              r.time_ratio(n("safe"), n("raw")), "lower", 1.15 if s == 4 * KiB else None)
        r.add(f"{k}:mgr/nomgr", SEC_CALLS, row, "manager/no manager",
              r.time_ratio(n("safe_mgr"), n("safe")), "lower")
        r.add(f"{k}:safe/raw_segment", SEC_CALLS, row, "safe/raw same segment",
              r.time_ratio(n("safe"), n("raw_segment")), "lower")
    for (s,) in r.args("alloc_like_close/safe/bytes:", r"(\d+)"):
        r.add(f"alloc_like_close@{s}:safe/unsafe", SEC_CALLS, f"allocate_like+close {size_label(s)}",
              "safe/unsafe", r.time_ratio(f"alloc_like_close/safe/bytes:{s}", f"alloc_like_close/unsafe/bytes:{s}"),
              "lower", 1.05)
    for (s,) in r.args("attach_close/safe/bytes:", r"(\d+)"):
        row, k = f"attach+close {size_label(s)}", f"attach_close@{s}"
        n = lambda m: f"attach_close/{m}/bytes:{s}"
        r.add(f"{k}:safe/unsafe", SEC_CALLS, row, "safe/unsafe", r.time_ratio(n("safe"), n("unsafe")), "lower", 1.05)
        r.add(f"{k}:safe/raw", SEC_CALLS, row, "safe/raw syscalls", r.time_ratio(n("safe"), n("raw")), "lower", 1.10)
        r.add(f"{k}:handle/raw", SEC_CALLS, row, "handle/raw", r.time_ratio(n("handle"), n("raw")), "lower")
        r.add(f"{k}:name/raw", SEC_CALLS, row, "by name/raw", r.time_ratio(n("name"), n("raw")), "lower")
    # Issue 8's 1.05 holds per call. A copy of megabytes runs the same code safe or unsafe after
    # checks that take nanoseconds, so its ratio shows how far the machine drifted between the
    # two runs: printed, not held to the per-call target.
    contig = [s for (s,) in r.args("copy_contig/copy_safe/bytes:", r"(\d+)")]
    for s in [x for x in contig if x in (4 * KiB, 8 * MiB) or x == max(contig)]:
        r.add(f"copy@{s}:safe/unsafe", SEC_CALLS, f"copy {size_label(s)}", "safe/unsafe",
              r.time_ratio(f"copy_contig/copy_safe/bytes:{s}", f"copy_contig/copy_unsafe/bytes:{s}"), "lower",
              1.05 if s <= 64 * KiB else None)

    # Contiguous copy --------------------------------------------------------------------------
    for s in contig:
        row, k = size_label(s), f"copy@{s}"
        n = lambda m: f"copy_contig/{m}/bytes:{s}"
        big = s >= 8 * MiB
        r.add(f"{k}:vs_memcpy_fresh", SEC_COPY, row, "/memcpy fresh", r.speed_ratio(n("copy_safe"), n("memcpy_fresh")),
              "higher")
        r.add(f"{k}:vs_memset_shm", SEC_COPY, row, "/memset fresh shm",
              r.speed_ratio(n("copy_safe"), n("memset_shm")), "higher", 1.0 if big else None)
        r.add(f"{k}:vs_memset_reserved", SEC_COPY, row, "/fallocate+memset",
              r.speed_ratio(n("copy_safe"), n("memset_shm_reserved")), "higher")
        r.add(f"{k}:vs_memcpy_touched", SEC_COPY, row, "/memcpy touched",
              r.speed_ratio(n("copy_safe"), n("memcpy_touched")), "higher")
        r.add(f"{k}:vs_numpy_fresh", SEC_COPY, row, "/numpy copyto fresh shm",
              r.speed_ratio(n("copy_safe"), n("numpy_copyto_fresh")), "higher", 1.5 if big else None)
        r.add(f"{k}:u8/f8", SEC_COPY, row, "uint8/float64",
              r.speed_ratio(n("copy_safe_u8"), n("copy_safe")), "higher")

    # Non-contiguous copy ----------------------------------------------------------------------
    # Issue 8 sets 0.25 of memcpy for the 8000 x 8000 float64 transpose (4096 x 4096 stands in
    # when the run stops at 256 MiB). At 1024 x 1024 memcpy runs from L3: shown, with its limit.
    cases = [(f"copy_transposed/{{}}/n:{nn}/itemsize:{isz}", f"transposed {'f8' if isz == 8 else 'u8'} {nn}x{nn}",
              f"transposed@{nn}x{isz}", isz == 8 and nn >= 4096, isz == 8)
             for (nn, isz) in r.args("copy_transposed/copy_safe/n:", r"(\d+)/itemsize:(\d+)")]
    cases += [(f"copy_strided/{{}}/bytes:{s}", f"a[:, ::2] {size_label(s)}", f"strided@{s}", False, True)
              for (s,) in r.args("copy_strided/copy_safe/bytes:", r"(\d+)")]
    for fmt, row, k, is_f8_transpose, numpy_target in cases:
        n = fmt.format
        r.add(f"{k}:vs_loop_fresh_shm", SEC_NONC, row, "/loop fresh shm",
              r.speed_ratio(n("copy_safe"), n("loop_fresh_shm")), "higher")
        r.add(f"{k}:vs_loop_touched", SEC_NONC, row, "/loop touched",
              r.speed_ratio(n("copy_safe"), n("loop_touched")), "higher")
        r.add(f"{k}:vs_memcpy_touched", SEC_NONC, row, "/memcpy touched",
              r.speed_ratio(n("copy_safe"), n("memcpy_touched")), "higher", 0.25 if is_f8_transpose else None)
        r.add(f"{k}:vs_numpy_fresh", SEC_NONC, row, "/numpy fresh shm",
              r.speed_ratio(n("copy_safe"), n("numpy_fresh_shm")), "higher", 2.5 if numpy_target else None)
        r.add(f"{k}:vs_numpy_touched", SEC_NONC, row, "/numpy touched",
              r.speed_ratio(n("copy_safe"), n("numpy_touched")), "higher")
        r.add(f"{k}:safe/unsafe", SEC_NONC, row, "safe/unsafe (time)",
              r.time_ratio(n("copy_safe"), n("copy_unsafe")), "lower")  # not per call: see above
        r.add(f"{k}:unaligned/aligned", SEC_NONC, row, "source +16 B (speed)",
              r.speed_ratio(n("copy_safe_unaligned"), n("copy_safe")), "higher")

    # Sharing ----------------------------------------------------------------------------------
    for (mib, w) in r.args("share/pipe/mib:", r"(\d+)/W:(\d+)"):
        n = lambda m: f"share/{m}/mib:{mib}/W:{w}"
        col = f"W={w}"
        r.add(f"share@{mib}MiB.W{w}:pipe/handle", SEC_SHARE, f"{mib} MiB: pipe / handle", col,
              r.time_ratio(n("pipe"), n("handle")), "higher")
        r.add(f"share@{mib}MiB.W{w}:pipe/copy_handle", SEC_SHARE, f"{mib} MiB: pipe / copy+handle", col,
              r.time_ratio(n("pipe"), n("copy_handle")), "higher")
        for m, label in (("pipe", "pipe"), ("handle", "handle")):
            r.add(f"share@{mib}MiB.W{w}:{m}_copies", SEC_MEM, f"{mib} MiB: {label}", col,
                  r.counter(n(m), "copies"), "lower", 1.05 if m == "handle" else None)

    # The handle's cost is the same for every size: its time at the largest size / the smallest.
    sizes = sorted({mib for (mib, _) in r.args("share/handle/mib:", r"(\d+)/W:(\d+)")})
    if len(sizes) > 1:
        for w in sorted({w for (_, w) in r.args("share/handle/mib:", r"(\d+)/W:(\d+)")}):
            r.add(f"share.W{w}:handle_flat", SEC_SHARE, f"handle time, {sizes[-1]} MiB / {sizes[0]} MiB (lower better)",
                  f"W={w}", r.time_ratio(f"share/handle/mib:{sizes[-1]}/W:{w}", f"share/handle/mib:{sizes[0]}/W:{w}"),
                  "lower", 1.5)

    # Huge pages -------------------------------------------------------------------------------
    # SHMA_ALLOC_HUGEPAGES where shmem THP is off must report SHMA_E_UNAVAILABLE, which the
    # benchmark turns into a skip with "unavailable: ..."; any other error is a failure.
    for (s,) in sorted({(int(m.group(1)),) for n in list(runs) + list(errors)
                        for m in [re.match(r"alloc_close/hugepages/bytes:(\d+)$", n)] if m}):
        name = f"alloc_close/hugepages/bytes:{s}"
        ok = name in runs or errors.get(name, "").startswith("unavailable")
        r.add(f"hugepages@{s}:works_or_unavailable", SEC_OPTIONS, f"SHMA_ALLOC_HUGEPAGES, {size_label(s)}",
              "status", 1.0 if ok else 0.0, "higher", 1.0)

    # Python binding: its own benchmark's JSON, when it lies beside these -----------------------
    for d in sorted({os.path.dirname(os.path.abspath(p)) for p in paths}):
        doc = None
        try:
            with open(os.path.join(d, "python-bench.json")) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        lat, rs = doc.get("latency", {}), doc.get("row_sum", {})
        avc = lat.get("attach_view_close", {})
        r.add("python:attach_view_close", SEC_PY, "attach + as_array + close", "/ SharedMemory + ndarray",
              avc.get("ratio"), "lower", 0.5)
        # The kernel's share of that: bench_calls' raw attach (shm_open, fstat, mmap, close, then
        # munmap; no checks, no Python) of the largest size it ran, over the same baseline.
        raw = [s for (s,) in r.args("attach_close/raw/bytes:", r"(\d+)")]
        t_raw = r.t(f"attach_close/raw/bytes:{max(raw)}") if raw else None
        if t_raw and avc.get("shared_memory_us"):
            r.add("python:attach_floor", SEC_PY, "raw attach + close in C (the kernel's part)",
                  "/ SharedMemory + ndarray", t_raw * 1e6 / avc["shared_memory_us"], "lower")
        r.add("python:row_sum_floor", SEC_PY, f"row-sum, {rs.get('tasks')} tasks, {rs.get('workers')} workers",
              "/ fork-inherited floor", rs.get("shared_vs_floor_ratio"), "lower", 1.5)
        break

    # Row-sum ----------------------------------------------------------------------------------
    for (nn, w) in r.args("rowsum/shm/n:", r"(\d+)/W:(\d+)"):
        n = lambda m: f"rowsum/{m}/n:{nn}/W:{w}"
        col = f"W={w}"
        r.add(f"rowsum@{nn}.W{w}:pipe/shm", SEC_ROWSUM, f"{nn}x{nn}: pipe rows / shm (higher better)", col,
              r.time_ratio(n("pipe"), n("shm")), "higher")
        r.add(f"rowsum@{nn}.W{w}:pipe_array/shm", SEC_ROWSUM, f"{nn}x{nn}: pipe whole array / shm (higher better)",
              col, r.time_ratio(n("pipe_array"), n("shm")), "higher")
        r.add(f"rowsum@{nn}.W{w}:shm/inherit", SEC_ROWSUM, f"{nn}x{nn}: shm / fork-inherited floor (lower better)",
              col, r.time_ratio(n("shm"), n("inherit")), "lower")
    return r.items


# ---------------------------------------------------------------------------------------------
# Limits: why a target is out of this machine's reach, from figures of the same run
# ---------------------------------------------------------------------------------------------

def limits(runs, items):
    """Lines that explain the unmet targets the machine itself rules out."""
    r = Ratios(runs)
    unmet = {it["key"] for it in items if target_met(it) is False}
    out = []
    contig = [s for (s,) in r.args("copy_contig/copy_safe/bytes:", r"(\d+)")]
    big = max(contig) if contig else None
    c = (lambda m: f"copy_contig/{m}/bytes:{big}") if big else None
    for k in sorted(unmet):
        m = re.match(r"transposed@(\d+)x8:vs_memcpy_touched$", k)
        if not m or not contig:
            continue
        nn = int(m.group(1))
        nbytes = nn * nn * 8
        large = [x for x in contig if x >= MiB]  # below, per-call costs dominate
        if not large:
            continue
        near = min(large, key=lambda x: abs(math.log(x / nbytes)))
        # The same bytes written contiguously, by copy(), over memcpy of them into touched memory.
        t_copy, t_memcpy = r.t(f"copy_contig/copy_safe/bytes:{near}"), r.t(f"copy_transposed/memcpy_touched/n:{nn}/itemsize:8")
        t_memset = r.t(f"copy_contig/memset_shm/bytes:{near}")
        if not (t_copy and t_memcpy and t_memset):
            continue
        ceiling = t_memcpy / (t_copy * nbytes / near)
        floor = t_memcpy / (t_memset * nbytes / near)
        verdict = "so 0.25 is beyond any copy into fresh memory here" if ceiling < 0.25 else \
            "the gather of the transpose costs the rest"
        out.append(f"{k}: into a fresh segment, first touch bounds every copy: even the contiguous copy() of "
                   f"{size_label(near)} (pwrite, no zero-fill) reaches {ceiling:.2f} of memcpy of the same bytes "
                   f"into touched memory, memset of a fresh segment {floor:.2f}; {verdict}")
    strided_unmet = sorted(k for k in unmet if re.match(r"(strided@\d+|transposed@\d+x8):vs_numpy_fresh$", k))
    for k in strided_unmet:
        m = re.match(r"strided@(\d+)", k)
        src = f"copy_strided/numpy_fresh_shm/bytes:{m.group(1)}" if m else None
        if big and src:
            # Speed per byte: the contiguous copy's at the largest size against numpy's strided one.
            tc, tn = r.t(c("copy_safe")), r.t(src)
            if tc and tn:
                ceiling = (tn / int(m.group(1))) / (tc / big)
                verdict = "so no strided copy into fresh memory can reach 2.5x here" if ceiling < 2.5 else \
                    "the gather and the second thread's zero-filled pages cost the rest"
                out.append(f"{k}: writing bytes already gathered (the contiguous copy() of {size_label(big)}) runs "
                           f"{ceiling:.2f}x as fast per byte as numpy's strided copy into a fresh segment; {verdict}")
    floor = next((it["value"] for it in items if it["key"] == "python:attach_floor"), None)
    if "python:attach_view_close" in unmet and floor is not None:
        out.append(f"python:attach_view_close: the raw attach alone (four system calls from C, no checks) takes "
                   f"{floor:.2f} of SharedMemory + ndarray's time in this run, leaving {max(0.5 - floor, 0):.2f} "
                   f"for the binding and the checks")
    for k in sorted(unmet):
        m = re.match(r"(alloc_close|alloc_like_close|attach_close)@(\d+):safe/unsafe$", k)
        spreads = m and [r.counter(f"{m.group(1)}/{side}/bytes:{m.group(2)}", "time_spread") for side in ("safe", "unsafe")]
        if spreads and None not in spreads:
            out.append(f"{k}: in this run the slowest repetition of each side took {spreads[0]:.2f}x and "
                       f"{spreads[1]:.2f}x its fastest; a ratio within a few percent of its target sits in "
                       f"that noise")
    if "alloc_close@4096:safe/raw" in unmet:
        seg = r.time_ratio("alloc_close/raw_segment/bytes:4096", "alloc_close/raw/bytes:4096")
        own = r.time_ratio("alloc_close/safe/bytes:4096", "alloc_close/raw_segment/bytes:4096")
        if seg is not None and own is not None:
            out.append(f"a 4 KiB array's segment is two pages (data, then the 640-byte trailer): the raw lifecycle of "
                       f"that segment takes {seg:.2f}x the 4 KiB one's, and allocate+close {own:.2f}x the raw "
                       f"lifecycle of the same segment")
    return out


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------

def target_met(item):
    t = item["target"]
    if t is None:
        return None
    return item["value"] <= t if item["better"] == "lower" else item["value"] >= t


def fmt_value(item):
    v = item["value"]
    s = f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"
    met = target_met(item)
    return s + ("" if met is None else ("" if met else "!"))


def describe_machine(ctx):
    return (f"machine: {ctx.get('machine_cpu_model', '?')}, {ctx.get('machine_nproc', '?')} CPUs, "
            f"{int(ctx.get('machine_mem_total_mib', 0)) // 1024} GiB RAM, /dev/shm "
            f"{int(ctx.get('machine_dev_shm_mib', 0)) // 1024} GiB, {ctx.get('machine_kernel', '?')}, "
            f"shmem THP {ctx.get('machine_shmem_thp', '?')}; shmanager {ctx.get('shmanager_version', '?')}, "
            f"BENCH_MAX_MB={ctx.get('bench_max_mb', '?')}")


def tables(items):
    """[(section, columns, [(row, {col: item})])] in first-seen order."""
    out = []
    for it in items:
        sec = next((s for s in out if s[0] == it["section"]), None)
        if sec is None:
            sec = (it["section"], [], [])
            out.append(sec)
        if it["col"] not in sec[1]:
            sec[1].append(it["col"])
        row = next((rw for rw in sec[2] if rw[0] == it["row"]), None)
        if row is None:
            row = (it["row"], {})
            sec[2].append(row)
        row[1][it["col"]] = it
    return out


def print_text(items, errors, ctx, absolutes, notes=()):
    print()
    print("=" * 100)
    print("shmanager benchmark summary (ratios within this run; '!' marks an unmet issue-8 target)")
    print(describe_machine(ctx))
    for section, cols, rows in tables(items):
        print()
        print(section)
        w0 = max(len(rw[0]) for rw in rows) + 2
        widths = [max(len(c), 6) + 2 for c in cols]
        print(" " * w0 + "".join(c.rjust(w) for c, w in zip(cols, widths)))
        for name, cells in rows:
            print(name.ljust(w0) + "".join((fmt_value(cells[c]) if c in cells else "-").rjust(w)
                                            for c, w in zip(cols, widths)))
    targets = [it for it in items if it["target"] is not None]
    unmet = [it for it in targets if not target_met(it)]
    if targets:
        print()
        print(f"issue-8 targets: {len(targets) - len(unmet)} of {len(targets)} met" + (", not met:" if unmet else ""))
        for it in unmet:
            op = "<=" if it["better"] == "lower" else ">="
            print(f"  {it['row']}, {it['col']}: {it['value']:.2f} (target {op} {it['target']})")
    if notes:
        print()
        print("limits measured in this run, beside the unmet targets they bound:")
        for line in notes:
            print(f"  - {line}")
    if absolutes:
        print()
        print("absolute (this run): " + ", ".join(absolutes))
    if errors:
        print()
        print("skipped by the benchmarks:")
        for name, msg in sorted(errors.items()):
            print(f"  {name}: {msg}")
    print("=" * 100)


def print_markdown(items, ctx):
    print(f"<!-- {describe_machine(ctx)} -->")
    for section, cols, rows in tables(items):
        print()
        print(f"**{section}**")
        print()
        print("| | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for name, cells in rows:
            print(f"| {name} | " + " | ".join(fmt_value(cells[c]) if c in cells else "-" for c in cols) + " |")


def absolute_figures(runs):
    out = []
    for name, label, scale, unit in (("view_of", "view", 1e9, "ns"), ("handle_encode", "handle encode", 1e9, "ns"),
                                     ("handle_decode", "handle decode", 1e9, "ns"),
                                     ("attach_close/raw/bytes:4096", "raw attach+close", 1e6, "us"),
                                     ("attach_close/safe/bytes:4096", "attach+close", 1e6, "us"),
                                     ("alloc_close/raw/bytes:4096", "raw lifecycle 4 KiB", 1e6, "us"),
                                     ("alloc_close/safe/bytes:4096", "allocate+close 4 KiB", 1e6, "us")):
        if name in runs:
            out.append(f"{label} {runs[name]['time'] * scale:.1f} {unit}")
    contig = [int(m.group(1)) for n in runs for m in [re.match(r"copy_contig/copy_safe/bytes:(\d+)$", n)] if m]
    if contig:
        s = max(contig)
        for m in ("copy_safe", "memset_shm", "memcpy_touched"):
            rec = runs.get(f"copy_contig/{m}/bytes:{s}")
            if rec and rec.get("bytes_per_second"):
                out.append(f"{m} {size_label(s)} {rec['bytes_per_second'] / 1e9:.2f} GB/s")
    return out


# ---------------------------------------------------------------------------------------------
# Baseline check
# ---------------------------------------------------------------------------------------------

# Hard limits written into a new baseline: invariants that must hold whatever the baseline says.
DEFAULT_HARD = [
    (r":safe/unsafe$", 2.0),                 # validation never doubles a call
    (r"^(alloc_close|attach_close)@\d+:safe/raw$", 3.0),
    (r"^share@.*:pipe/handle$", 1.0),       # handing a handle must beat piping the bytes
    (r"^share@.*:handle_copies$", 1.05),    # workers attached share one copy
    (r"^copy@\d+:vs_memset_shm$", 0.3),
    (r":vs_numpy_fresh$", 1.0),             # never slower than NumPy's own copy into shm
    (r":handle_flat$", 3.0),                # handing over a handle does not grow with the size
    (r"^hugepages@\d+:works_or_unavailable$", 1.0),
    (r":unaligned/aligned$", 0.75),         # a source off its cache line keeps its bands aligned
]
# Measured on the 2-core VM while other jobs ran: over six check runs, each ratio (fastest of 5
# repetitions) stayed within 1.55x of its median, except those against memcpy into touched
# memory, whose 8 MiB buffer sits in an L3 cache shared with the other tenants (1.7x).
DEFAULT_TOLERANCE = 0.6
TOLERANCE = [(r":vs_memcpy_touched$", 1.0),
             (r":vs_numpy_touched$", 1.0),  # the same: its 8 MiB destination sits in the shared L3
             # The handle side takes tens of microseconds, mostly waking a worker: an idle vCPU
             # wakes far slower than a busy one, so the ratio moves 2.5x with the machine's load.
             (r"^share@\d+MiB\.W\d+:pipe/handle$", 2.0)]
# Ratios held to their hard limit only (no tolerance around the baseline): the workers' memory
# is a property with a fixed bound (one copy), whatever the last run measured.
HARD_ONLY = [r":handle_copies$", r":works_or_unavailable$", r":unaligned/aligned$"]
# Ratios not written into a new baseline: the pipe's copies are W by construction, and a 4 KiB
# memcpy into touched memory takes ~100 ns, too little for a stable ratio.
NOT_CHECKED = [r":pipe_copies$", r"^copy@4096:vs_memcpy_touched$"]


def check(items, baseline_path, enforce_targets):
    try:
        with open(baseline_path) as f:
            baseline = json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAIL  no usable baseline ({e}); make bench-baseline writes one")
        print("0 passed, 1 failed")
        return False
    by_key = {it["key"]: it for it in items}
    default_tol = baseline.get("tolerance", DEFAULT_TOLERANCE)
    passed = failed = 0
    for key, spec in sorted(baseline.get("checks", {}).items()):
        tol = spec.get("tolerance", default_tol)  # null: the hard limit only
        base, hard, better = spec["baseline"], spec.get("hard"), spec.get("better", "lower")
        it = by_key.get(key)
        if it is None:
            failed += 1
            print(f"FAIL  {key}: not measured in this run")
            continue
        v = it["value"]
        op = "<=" if better == "lower" else ">="
        within = lambda a, b: a <= b if better == "lower" else a >= b
        bounds = []
        ok = True
        if tol is not None:
            limit = base * (1 + tol) if better == "lower" else base / (1 + tol)
            ok = ok and within(v, limit)
            bounds.append(f"{op} {limit:.3g}")
        if hard is not None:
            ok = ok and within(v, hard)
            bounds.append(f"hard {op} {hard}")
        bound = ", ".join(bounds) or "no limit"
        note = ""
        met = target_met(it)
        if met is not None:
            note = f"; issue-8 target {'<=' if better == 'lower' else '>='} {it['target']} {'met' if met else 'not met'}"
            if enforce_targets and not met:
                ok = False
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'PASS' if ok else 'FAIL'}  {key}: {v:.3g} (baseline {base:.3g}, {bound}{note})")
    print(f"{passed} passed, {failed} failed")
    return failed == 0


def median_items(item_lists):
    """Per key, the item whose value is the median over several runs' lists."""
    by_key = {}
    for items in item_lists:
        for it in items:
            by_key.setdefault(it["key"], []).append(it)
    out = []
    for its in by_key.values():
        its = sorted(its, key=lambda it: it["value"])
        out.append(its[(len(its) - 1) // 2])
    return out


def write_baseline(items, path):
    old = {}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
    old_checks = old.get("checks", {})
    checks = {}
    for it in items:
        if any(re.search(pat, it["key"]) for pat in NOT_CHECKED):
            continue
        prev = old_checks.get(it["key"], {})
        spec = {"baseline": round(it["value"], 4), "better": it["better"]}
        hard = prev.get("hard")
        if hard is None and not prev:
            hard = next((h for pat, h in DEFAULT_HARD if re.search(pat, it["key"])), None)
        if hard is not None:
            spec["hard"] = hard
        if "tolerance" in prev:
            spec["tolerance"] = prev["tolerance"]
        elif not prev and any(re.search(pat, it["key"]) for pat in HARD_ONLY):
            spec["tolerance"] = None
        elif not prev:
            tol = next((t for pat, t in TOLERANCE if re.search(pat, it["key"])), None)
            if tol is not None:
                spec["tolerance"] = tol
        checks[it["key"]] = spec
    doc = {
        "about": "In-run ratios of the bench-check subset (scripts/bench-run.sh check) and the limits "
                 "make bench-check holds them to: a ratio fails if it is worse than 'baseline' by more than "
                 "'tolerance' (x(1+tol) or /(1+tol) by 'better'), or crosses 'hard'. Rewrite the values with "
                 "make bench-baseline; tolerances and hard limits are kept.",
        "tolerance": old.get("tolerance", DEFAULT_TOLERANCE),
        "checks": checks,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"bench-summary: wrote {len(checks)} ratios to {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--check", metavar="BASELINE")
    ap.add_argument("--targets", action="store_true", help="with --check: unmet issue-8 targets fail")
    ap.add_argument("--write-baseline", metavar="BASELINE")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    if args.write_baseline:
        # One run per directory; the baseline takes each ratio's median over the runs.
        dirs = {}
        for p in args.json:
            dirs.setdefault(os.path.dirname(os.path.abspath(p)), []).append(p)
        item_lists = []
        for paths in dirs.values():
            runs, errors, _ = load(paths)
            item_lists.append(compute(runs, errors, paths))
        if not any(item_lists):
            print("bench-summary: no benchmark results found in " + " ".join(args.json), file=sys.stderr)
            return 1
        write_baseline(median_items(item_lists), args.write_baseline)
        return 0

    runs, errors, ctx = load(args.json)
    if not runs:
        print("bench-summary: no benchmark results found in " + " ".join(args.json), file=sys.stderr)
        return 1
    items = compute(runs, errors, args.json)
    notes = limits(runs, items)
    if args.check:
        print_text(items, errors, ctx, [], notes)
        return 0 if check(items, args.check, args.targets) else 1
    if args.markdown:
        print_markdown(items, ctx)
    else:
        print_text(items, errors, ctx, absolute_figures(runs), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
