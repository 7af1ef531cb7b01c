#!/usr/bin/env bash
# Replays every committed fuzz input as an ordinary test (`make fuzz-replay`, part of
# `make check`): for each target, $FUZZ_B/replay/<target> (built without libFuzzer, ASan +
# UBSan, fuzz/regression_driver.c) runs once on each file of fuzz/corpus/<target>/ and
# fuzz/regressions/<target>/. One line per target, then "N passed, N failed"; a target fails
# on a crash, a sanitizer report, a timeout, or a segment its process left in /dev/shm.
set -uo pipefail
cd "$(dirname "$0")/.."

B=${FUZZ_B:-build/fuzz}
timeout_s=${FUZZ_REPLAY_TIMEOUT:-300}
log_dir=$B/replay/logs
mkdir -p "$log_dir"

passed=0 failed=0
for t in "$@"; do
    inputs=()
    for d in "fuzz/corpus/$t" "fuzz/regressions/$t"; do
        [ -d "$d" ] && inputs+=("$d")
    done
    log=$log_dir/$t.log
    if [ ${#inputs[@]} -eq 0 ]; then
        echo "FAIL  $t: no fuzz/corpus/$t to replay"; failed=$((failed + 1)); continue
    fi
    start=$(date +%s%N)
    timeout --kill-after=10 "$timeout_s" "$B/replay/$t" "${inputs[@]}" >"$log" 2>&1
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    count=$(grep -c '^running ' "$log")
    # The attach target names its segments shma_fuzz_PID_N; one whose process has ended was
    # leaked (a concurrently running fuzzer's live ones are left alone).
    leaked=""
    for f in /dev/shm/shma_fuzz_*; do
        [ -e "$f" ] || continue
        pid=${f#/dev/shm/shma_fuzz_}; pid=${pid%%_*}
        if [ ! -d "/proc/$pid" ]; then leaked+="${f#/dev/shm/} "; rm -f "$f"; fi
    done
    if [ $rc -eq 0 ] && [ -z "$leaked" ]; then
        passed=$((passed + 1))
        printf 'PASS  %-9s %5s inputs %4d.%ds\n' "$t" "$count" $((ms / 1000)) $(((ms % 1000) / 100))
    else
        failed=$((failed + 1))
        [ $rc -eq 124 ] && why="timed out after ${timeout_s}s" || why="exit $rc"
        printf 'FAIL  %-9s %5s inputs  (%s)\n' "$t" "$count" "$why"
        [ -n "$leaked" ] && echo "    | left in /dev/shm (removed): $leaked"
        tail -n 40 "$log" | sed 's/^/    | /'
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
