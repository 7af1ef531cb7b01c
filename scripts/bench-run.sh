#!/usr/bin/env bash
# Runs the benchmark binaries and writes one Google Benchmark JSON per suite.
#
#   bench-run.sh full  OUTDIR BIN...   the default set (knobs: BENCH_MAX_MB, BENCH_WORKERS,
#                                      BENCH_FILTER, BENCH_MIN_TIME, BENCH_REPS)
#   bench-run.sh check OUTDIR BIN...   the quick subset bench-check compares with its baseline:
#                                      64 MiB at most, W = 1 and 2, 5 repetitions of 0.1 s,
#                                      interleaved
#
# The per-call suite (a call takes microseconds) runs at least 20 repetitions of 0.05 s in
# either mode: a ratio uses each side's fastest repetition, and many short samples find the
# machine quiet for both sides where a few long ones average its load in.
#
# OUTDIR/bench-<suite>.json for BIN = .../bench_<suite>. Each binary runs under a timeout as a
# safety net (the benchmarks end their own workers). Fails if a binary fails, which includes a
# binary finding a segment it made still in /dev/shm when it ends.
set -u
mode=$1 outdir=$2
shift 2
mkdir -p "$outdir"

# The quick subset, per suite: the ratios bench-check guards, at sizes that take seconds.
check_filter() {
  case $1 in
    calls) echo '^(alloc_close|alloc_like_close|attach_close)/.*/bytes:4096/|^(view_of|handle_encode|handle_decode)$' ;;
    copy) echo '^copy_contig/(copy_safe|copy_unsafe|memcpy_fresh|memcpy_touched|memset_shm)/bytes:(4096|67108864)/|^copy_transposed/.*/n:1024/itemsize:8/|^copy_strided/.*/bytes:8388608/' ;;
    share) echo '^share/.*/mib:8/' ;;
    rowsum) echo '^rowsum/.*/n:1000/W:2/' ;;
    *) echo '.' ;;
  esac
}

if [ "$mode" = check ]; then
  export BENCH_MAX_MB=64 BENCH_WORKERS=1,2
  min_time=0.1 reps=5 timeout_s=300
else
  min_time=${BENCH_MIN_TIME:-} reps=${BENCH_REPS:-1} timeout_s=1800
fi

before=$(ls -A /dev/shm 2>/dev/null | sort)
failed=0
echo "bench: BENCH_MAX_MB=${BENCH_MAX_MB:-256} BENCH_WORKERS=${BENCH_WORKERS:-1,2,4,8} mode=$mode -> $outdir"
for bin in "$@"; do
  suite=$(basename "$bin"); suite=${suite#bench_}
  args=(--benchmark_out="$outdir/bench-$suite.json" --benchmark_out_format=json --benchmark_counters_tabular=true)
  if [ "$mode" = check ]; then
    args+=(--benchmark_filter="$(check_filter "$suite")")
  elif [ -n "${BENCH_FILTER:-}" ]; then
    args+=(--benchmark_filter="$BENCH_FILTER")
  fi
  suite_min_time=$min_time suite_reps=$reps
  if [ "$suite" = calls ]; then
    suite_min_time=${BENCH_MIN_TIME:-0.05}
    [ "$suite_reps" -lt 20 ] && suite_reps=20
  fi
  [ -n "$suite_min_time" ] && args+=(--benchmark_min_time="$suite_min_time")
  [ "$suite_reps" -gt 1 ] && args+=(--benchmark_repetitions="$suite_reps")
  # Benchmarks (and their repetitions) run in random order: a burst of load from the machine's
  # other tenants then lands on both sides of a ratio, not on one whole family. Not for the
  # full multi-process suites, whose parent array would be remade at every change of size.
  if [ "$mode" = check ] || [ "$suite" = calls ] || [ "$suite" = copy ]; then
    args+=(--benchmark_enable_random_interleaving=true)
  fi
  echo "=== $suite"
  start=$(date +%s)
  timeout --kill-after=10 "$timeout_s" "$bin" "${args[@]}"
  rc=$?
  echo "=== $suite: exit $rc, $(( $(date +%s) - start ))s"
  [ $rc -eq 0 ] || failed=1
done

# Each binary fails itself if it leaves a segment it made (checked by creator pid, so tests
# running beside it do not count); this only reports what else appeared meanwhile.
after=$(ls -A /dev/shm 2>/dev/null | sort)
appeared=$(comm -13 <(echo "$before") <(echo "$after") | grep -v '^$')
if [ -n "$appeared" ]; then
  echo "bench: note: /dev/shm gained $(echo "$appeared" | wc -l) entries during the run (not the benchmarks' own)"
fi
exit $failed
