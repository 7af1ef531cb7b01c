#!/usr/bin/python3
"""NumPy's own copies into shared memory: the baselines issue 8 compares shma_copy() with.

    bench-numpy.py full  OUTDIR    the sizes of bench_copy (capped at BENCH_MAX_MB)
    bench-numpy.py check OUTDIR    the bench-check subset: 64 MiB contiguous, the 1024 x 1024
                                   transpose, the 8 MiB strided slice

Writes OUTDIR/bench-numpy.json in Google Benchmark's JSON format, with names that line up with
bench_copy's, so scripts/bench-summary.py sets them beside shma_copy() of the same view:

    copy_contig/numpy_copyto_fresh/bytes:N       np.copyto into a fresh SharedMemory segment
    copy_transposed/numpy_fresh_shm/n:N/itemsize:8   a.T copied (np.copyto) into a fresh segment
    copy_transposed/numpy_touched/n:N/itemsize:8     the same into memory already faulted in
    copy_strided/numpy_fresh_shm/bytes:N         a[:, ::2] of an R x 2048 array, likewise

"Fresh segment" is what Python code does to share an array without this library:
SharedMemory(create=True, size=n) (shm_open + ftruncate + mmap), np.ndarray over its buffer,
np.copyto. Each timed iteration makes a new segment; closing and unlinking it is not timed, as
bench_copy does not time shma_close(). Knobs as bench_copy: BENCH_MAX_MB, BENCH_FILTER (regex),
BENCH_MIN_TIME (seconds per benchmark, default 0.5), BENCH_REPS (repetitions).
"""
import json
import os
import re
import sys
import time

import numpy as np
from multiprocessing import shared_memory

KiB, MiB = 1024, 1024 * 1024


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * KiB
    return 0


def shm_free():
    st = os.statvfs("/dev/shm")
    return st.f_bavail * st.f_frsize


def fresh_copy(view):
    """One iteration: a fresh segment, then np.copyto. Returns the timed seconds."""
    t0 = time.perf_counter()
    shm = shared_memory.SharedMemory(create=True, size=view.nbytes)
    dst = np.ndarray(view.shape, view.dtype, buffer=shm.buf)
    np.copyto(dst, view)
    t = time.perf_counter() - t0
    del dst
    shm.close()
    shm.unlink()
    return t


def run(name, nbytes, once, min_time, reps):
    """Google Benchmark's loop in miniature: iterations until min_time, `reps` times."""
    out = []
    for _ in range(reps):
        total, iters = 0.0, 0
        while iters == 0 or total < min_time:
            total += once()
            iters += 1
        per = total / iters
        out.append({"name": name, "run_name": name, "run_type": "iteration", "repetitions": reps,
                    "iterations": iters, "real_time": per * 1e6, "cpu_time": per * 1e6, "time_unit": "us",
                    "bytes_per_second": nbytes / per})
        print(f"{name:60s} {per * 1e6:12.0f} us {nbytes / per / 1e9:8.2f} GB/s  ({iters} iterations)", flush=True)
    return out


def cases(mode, max_bytes):
    """(name, nbytes of the output, source bytes, maker of (view, touched destination or None))."""
    out = []
    contig = [64 * MiB] if mode == "check" else [8 * MiB, 64 * MiB, 256 * MiB, 800 * MiB]
    for s in contig:
        if s <= max_bytes:
            out.append((f"copy_contig/numpy_copyto_fresh/bytes:{s}", s, s,
                        lambda s=s: (np.random.default_rng(1).random(s // 8), None)))
    trans = [1024] if mode == "check" else [1024, 4096, 8000]
    for n in trans:
        if n * n * 8 <= max_bytes:
            make = lambda n=n: (np.random.default_rng(2).random((n, n)).T, None)
            out.append((f"copy_transposed/numpy_fresh_shm/n:{n}/itemsize:8", n * n * 8, n * n * 8, make))
            out.append((f"copy_transposed/numpy_touched/n:{n}/itemsize:8", n * n * 8, 2 * n * n * 8,
                        lambda n=n: (np.random.default_rng(2).random((n, n)).T, np.ones((n, n)))))
    strided = [8 * MiB] if mode == "check" else [8 * MiB, 64 * MiB, 256 * MiB]
    for s in strided:
        if 2 * s <= max_bytes:
            rows = s // 8 // 1024
            out.append((f"copy_strided/numpy_fresh_shm/bytes:{s}", s, 2 * s,
                        lambda rows=rows: (np.random.default_rng(3).random((rows, 2048))[:, ::2], None)))
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("full", "check"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    mode, outdir = sys.argv[1], sys.argv[2]
    max_bytes = (64 if mode == "check" else env_int("BENCH_MAX_MB", 800)) * MiB
    min_time = 0.1 if mode == "check" else float(os.environ.get("BENCH_MIN_TIME") or 0.5)
    reps = 3 if mode == "check" else max(1, env_int("BENCH_REPS", 1))
    flt = os.environ.get("BENCH_FILTER", "") if mode == "full" else ""
    benchmarks, skipped = [], []
    print(f"=== numpy {np.__version__}: mode={mode} -> {outdir}", flush=True)
    for name, nbytes, src_bytes, make in cases(mode, max_bytes):
        if flt and not re.search(flt, name):
            continue
        if mem_available() < nbytes + src_bytes + 256 * MiB or shm_free() < nbytes + 16 * MiB:
            skipped.append({"name": name, "run_name": name, "run_type": "iteration", "error_occurred": True,
                            "error_message": "not enough memory or /dev/shm for this size"})
            continue
        view, touched = make()
        if touched is None:
            once = lambda view=view: fresh_copy(view)
        else:
            def once(view=view, touched=touched):
                t0 = time.perf_counter()
                np.copyto(touched, view)
                return time.perf_counter() - t0
        benchmarks += run(name, nbytes, once, min_time, reps)
        del view, touched
    doc = {"context": {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "library": "numpy " + np.__version__,
                       "bench_max_mb": str(max_bytes // MiB)},
           "benchmarks": benchmarks + skipped}
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "bench-numpy.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
