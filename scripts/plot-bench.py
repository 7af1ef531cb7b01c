#!/usr/bin/python3
"""Draws results/bench.png from the benchmarks' JSON with gnuplot (stdlib only).

    plot-bench.py OUT.png JSON...

Six panels: contiguous copy (GB/s vs size, one line per method), per-call time vs size,
non-contiguous copy (GB/s vs size), time to hand an array to W workers, the workers' memory
(sum of Pss) vs W, and the seed's row-sum vs W. Benchmarks missing from the JSON are left out.
"""
import importlib.util
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_summary", os.path.join(here, "bench-summary.py"))
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)

KiB, MiB = 1024, 1024 * 1024


def series(runs, pattern, x_of, y_of):
    """[(x, y)] over runs whose name matches pattern (groups passed to x_of), sorted by x."""
    rx = re.compile(pattern + "$")
    pts = []
    for name, rec in runs.items():
        m = rx.match(name)
        if m:
            y = y_of(rec)
            if y is not None and y > 0:
                pts.append((x_of(m), y))
    return sorted(pts)


def gbps(rec):
    return rec["bytes_per_second"] / 1e9 if rec.get("bytes_per_second") else None


def size_tics(lo, hi):
    tics, s = [], 4 * KiB
    while s <= 1024 * MiB:
        if lo <= s <= hi:
            tics.append(f'"{summary.size_label(s).replace(" ", "")}" {s}')
        s *= 4
    return "(" + ", ".join(tics) + ")" if tics else ""


class Plot:
    def __init__(self):
        self.blocks = []
        self.panels = []

    def panel(self, title, xlabel, ylabel, lines, logx=True, logy=True, xtics=None, extra=""):
        """lines: [(label, [(x, y)], style)]"""
        lines = [ln for ln in lines if ln[1]]
        xs = [x for _, pts, _ in lines for x, _ in pts]
        if xs and logx:
            xrange = f"set xrange [{min(xs) / 1.4}:{max(xs) * 1.4}]"
        elif xs:
            xrange = f"set xrange [{min(xs) - 0.3}:{max(xs) + 0.3}]"
        else:
            xrange = "set autoscale x"
        cmds = [f'set title "{title}"', f'set xlabel "{xlabel}"', f'set ylabel "{ylabel}"', xrange,
                "set logscale x 2" if logx else "unset logscale x",
                "set logscale y 10" if logy else "unset logscale y",
                f"set xtics {xtics}" if xtics else "set xtics autofreq", extra]
        if not lines:
            cmds += ["unset logscale", "set xrange [0:1]", "set yrange [0:1]",
                     'set label 1 "no data in this run" at 0.35,0.5', "plot NaN notitle", "unset label 1",
                     "set autoscale"]
            self.panels.append("\n".join(cmds))
            return
        parts = []
        for label, pts, style in lines:
            name = f"$D{len(self.blocks)}"
            self.blocks.append(f"{name} << EOD\n" + "\n".join(f"{x} {y}" for x, y in pts) + "\nEOD")
            parts.append(f'{name} using 1:2 with linespoints {style} title "{label}"')
        cmds.append("plot " + ", \\\n     ".join(parts))
        self.panels.append("\n".join(cmds))

    def script(self, out):
        head = [f'set terminal pngcairo noenhanced size 1600,1800 font ",10"', f'set output "{out}"',
                "set grid", "set key top left font \",9\"", "set multiplot layout 3,2"]
        return "\n".join(self.blocks + head + self.panels + ["unset multiplot", "set output"]) + "\n"


def styles():
    return [f"lw 2 pt {pt} lc rgb '{c}'" for c, pt in (
        ("#1f77b4", 7), ("#ff7f0e", 5), ("#2ca02c", 9), ("#d62728", 11), ("#9467bd", 13), ("#8c564b", 4),
        ("#e377c2", 6), ("#7f7f7f", 8), ("#bcbd22", 10), ("#17becf", 12))]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, paths = sys.argv[1], sys.argv[2:]
    runs, _, ctx = summary.load(paths)
    st = styles()
    p = Plot()
    first = lambda m: int(m.group(1))

    # 1. Contiguous copy
    methods = [("copy_safe", "shma_copy"), ("copy_unsafe", "shma_copy_unsafe"), ("copy_safe_u8", "shma_copy uint8"),
               ("memcpy_fresh", "memcpy, fresh anon"), ("memcpy_touched", "memcpy, touched"),
               ("memset_shm", "memset, fresh shm (floor)"), ("memset_shm_reserved", "fallocate+memset, fresh shm")]
    lines = [(label, series(runs, rf"copy_contig/{m}/bytes:(\d+)", first, gbps), st[i])
             for i, (m, label) in enumerate(methods)]
    xs = [x for _, pts, _ in lines for x, _ in pts]
    p.panel("copy(), contiguous float64", "array size", "GB/s", lines,
            xtics=size_tics(min(xs), max(xs)) if xs else None)

    # 2. Per call
    methods = [("alloc_close/safe", "allocate+close"), ("alloc_close/unsafe", "allocate_unsafe+close"),
               ("alloc_close/safe_mgr", "allocate+close, manager"), ("alloc_close/raw", "raw lifecycle (floor)"),
               ("attach_close/safe", "attach+close"), ("attach_close/unsafe", "attach_unsafe+close"),
               ("attach_close/handle", "attach_handle+close"), ("attach_close/raw", "raw attach (floor)")]
    lines = [(label, series(runs, rf"{m}/bytes:(\d+)", first, lambda r: r["time"] * 1e6), st[i])
             for i, (m, label) in enumerate(methods)]
    xs = [x for _, pts, _ in lines for x, _ in pts]
    p.panel("per call", "array size", "microseconds per call", lines,
            xtics=size_tics(min(xs), max(xs)) if xs else None)

    # 3. Non-contiguous
    nbytes_t = lambda m: int(m.group(1)) ** 2 * 8
    lines = [(label, series(runs, rf"copy_transposed/{m}/n:(\d+)/itemsize:8", nbytes_t, gbps), st[i])
             for i, (m, label) in enumerate([("copy_safe", "transposed: shma_copy"),
                                             ("loop_fresh_shm", "transposed: loop, fresh shm"),
                                             ("loop_touched", "transposed: loop, touched"),
                                             ("memcpy_touched", "memcpy, touched")])]
    lines += [(label, series(runs, rf"copy_strided/{m}/bytes:(\d+)", first, gbps), st[4 + i])
              for i, (m, label) in enumerate([("copy_safe", "a[:, ::2]: shma_copy"),
                                              ("loop_fresh_shm", "a[:, ::2]: loop, fresh shm")])]
    xs = [x for _, pts, _ in lines for x, _ in pts]
    p.panel("copy(), non-contiguous float64", "bytes copied", "GB/s", lines,
            xtics=size_tics(min(xs), max(xs)) if xs else None)

    # 4. Sharing: time vs W, per method and size
    sizes = sorted({int(m.group(1)) for n in runs for m in [re.match(r"share/\w+/mib:(\d+)/", n)] if m})
    shown = sorted({sizes[0], sizes[-1]}) if sizes else []
    lines, i = [], 0
    for mib in shown:
        for m, label in (("pipe", "pipe copy"), ("handle", "handle+attach"), ("copy_handle", "copy+handle+attach")):
            lines.append((f"{label}, {mib} MiB",
                          series(runs, rf"share/{m}/mib:{mib}/W:(\d+)", first, lambda r: r["time"] * 1e3),
                          st[i] + (" dt 2" if mib != shown[-1] else "")))
            i += 1
    p.panel("handing an array to W workers (until all hold it)", "workers W", "milliseconds", lines, logx=False,
            xtics="1")

    # 5. Memory vs W at the largest size
    lines = []
    if sizes:
        mib = sizes[-1]
        for i, (m, label) in enumerate((("pipe", "pipe copy"), ("handle", "handle+attach"),
                                        ("copy_handle", "copy+handle+attach"))):
            lines.append((label, series(runs, rf"share/{m}/mib:{mib}/W:(\d+)", first,
                                        lambda r: r.get("worker_pss_mib")), st[i]))
        ws = sorted({x for _, pts, _ in lines for x, _ in pts})
        if ws:
            lines.append(("one copy of the array", [(w, mib) for w in ws], "lw 1 dt 3 lc rgb 'black' pt 0"))
    p.panel(f"workers' memory, sum of Pss ({sizes[-1] if sizes else '?'} MiB array)", "workers W", "MiB", lines,
            logx=False, logy=False, xtics="1", extra="set yrange [0:*]")

    # 6. Row-sum vs W
    ns = sorted({int(m.group(1)) for n in runs for m in [re.match(r"rowsum/\w+/n:(\d+)/", n)] if m})
    lines, i = [], 0
    for nn in ns:
        for m, label in (("pipe", "pipe rows"), ("pipe_array", "pipe whole array"), ("shm", "shmanager"),
                         ("inherit", "fork-inherited (floor)")):
            lines.append((f"{label}, {nn}x{nn}",
                          series(runs, rf"rowsum/{m}/n:{nn}/W:(\d+)", first, lambda r: r["time"] * 1e3),
                          st[i % 4] + (" dt 2" if nn != ns[-1] else "")))
            i += 1
    p.panel("seed row-sum, 1000 tasks, end to end", "workers W", "milliseconds", lines, logx=False, xtics="1",
            extra="set yrange [*:*]")

    machine = summary.describe_machine(ctx).replace('"', "'")
    script = p.script(out).replace("set multiplot layout 3,2",
                                   f'set multiplot layout 3,2 title "shmanager benchmarks -- {machine}" font ",11"')
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"plot-bench: gnuplot failed: {e}", file=sys.stderr)
        return 1
    print(f"plot-bench: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
