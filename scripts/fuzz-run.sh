#!/usr/bin/env bash
# Runs the libFuzzer targets: `make fuzz` (short) and `make fuzz-campaign` (long) call this.
#
#   fuzz-run.sh short    SECONDS TARGET...   each target SECONDS on a scratch copy of its
#                                            corpus, then its regression inputs; the repository
#                                            is left as it was.
#   fuzz-run.sh campaign SECONDS TARGET...   each target SECONDS, then new inputs are merged
#                                            (-merge=1, minimal) into fuzz/corpus/<target>/ and
#                                            a summary goes to results/fuzz/summary.{md,json}.
#   fuzz-run.sh summary  SECONDS TARGET...   rewrites that summary from the last campaign's
#                                            files in $FUZZ_B/campaign/, fuzzing nothing.
#
# FUZZ_JOBS targets run at a time (default 2), each a single libFuzzer process. Binaries are
# $FUZZ_B/bin/<target>; scratch space is $FUZZ_B/<mode>/<target>/. A target passes when
# libFuzzer exits 0 and left no crash, leak, timeout or OOM artifact. Prints one line per
# target and ends with "N passed, N failed". A segment left in /dev/shm by a target's process
# fails that target (and is removed).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: fuzz-run.sh short|campaign SECONDS TARGET...}
seconds=${2:?seconds}
shift 2
targets=("$@")
B=${FUZZ_B:-build/fuzz}
# A smaller ASan quarantine (default 256 MB): the fuzzers share the machine with other jobs.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64}
jobs=${FUZZ_JOBS:-2}
# `summary` rewrites the campaign's report from its last run's files, without fuzzing.
report_only=false
[ "$mode" = summary ] && { mode=campaign; report_only=true; }
[ "$mode" = short ] || [ "$mode" = campaign ] || { echo "fuzz-run.sh: unknown mode '$mode'" >&2; exit 2; }

# Longest useful input per target: a bit more than what the target reads.
max_len() {
    case $1 in
    dtype) echo 128 ;; name) echo 320 ;; handle) echo 2200 ;; trailer) echo 700 ;;
    shape) echo 600 ;; attach) echo 4200 ;; procstat) echo 1100 ;; *) echo 4096 ;;
    esac
}

# Removes and lists the segments named after fuzzer process $1 (shma_fuzz_PID_N): after a
# clean run there are none, the attach target unlinks on every path it controls.
sweep_shm() {
    local f
    for f in /dev/shm/shma_fuzz_"$1"_*; do
        [ -e "$f" ] || continue
        echo "${f#/dev/shm/}"; rm -f "$f"
    done
}

# Executions of one libFuzzer log: its final stat, or for a run killed before printing it,
# the count on its last status line.
execs_of() {
    local n
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -n 1)
    [ -n "$n" ] || n=$(grep -oE '^#[0-9]+' "$1" | tail -n 1 | tr -d '#')
    echo "${n:-0}"
}

run_one() {
    local t=$1 dir=$B/$mode/$1 bin=$B/bin/$1
    rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/artifacts"
    [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$dir/corpus/"
    local args=(-timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")"
                -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
    [ -f "fuzz/dict/$t.dict" ] && args+=(-dict="fuzz/dict/$t.dict")
    local start=$SECONDS rc=0 left=$seconds n=0 pid
    : >"$dir/runs"
    # A run killed from outside (SIGKILL: the OOM killer when another job fills memory or
    # /dev/shm) is no finding: it resumes on the same corpus for the time left, twice at most.
    while :; do
        n=$((n + 1))
        local t0=$SECONDS
        # exec in a subshell: the fuzzer keeps the recorded pid, which names its segments. No
        # outer timeout: -max_total_time ends the run and -timeout any input that hangs.
        (echo "$BASHPID" >"$dir/pid.$n"; exec "$bin" -max_total_time="$left" "${args[@]}" "$dir/corpus" >"$dir/log.$n" 2>&1)
        rc=$?
        pid=$(cat "$dir/pid.$n")
        echo "$(execs_of "$dir/log.$n") $((SECONDS - t0)) $rc" >>"$dir/runs"
        left=$((seconds - (SECONDS - start)))
        if [ $rc -eq 137 ] && [ $n -le 2 ] && [ $left -gt 20 ] && [ -z "$(ls -A "$dir/artifacts")" ]; then
            # A SIGKILLed attach run cannot unlink its last segment.
            sweep_shm "$pid" >>"$dir/swept_after_kill"
            continue
        fi
        break
    done
    cat "$dir"/log.* >"$dir/log"
    # Past crashes, each run once by the fuzzing binary too (the replay build runs them again).
    if [ $rc -eq 0 ] && [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
        timeout 300 "$bin" -timeout=10 -rss_limit_mb=2048 "fuzz/regressions/$t"/* >"$dir/regressions.log" 2>&1
        rc=$?
        [ $rc -ne 0 ] && cat "$dir/regressions.log" >>"$dir/log"
    fi
    echo "$pid" >"$dir/pid"
    echo "$rc $((SECONDS - start)) $n" >"$dir/status"
}

# cov: and ft: from the last status line ("#N DONE cov: X ft: Y corp: A/Bb ...").
status_field() { grep -E '^#[0-9]+' "$1" | grep -o "$2: [0-9]*" | tail -n 1 | awk '{print $2}'; }

# ---- run, FUZZ_JOBS at a time ----
if ! $report_only; then
for t in "${targets[@]}"; do
    [ -x "$B/bin/$t" ] || { echo "fuzz-run.sh: $B/bin/$t is not built" >&2; exit 2; }
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time ($mode)"
running=0
for t in "${targets[@]}"; do
    if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
    run_one "$t" &
    running=$((running + 1))
done
wait

# ---- merge (campaign) ----
if [ "$mode" = campaign ]; then
    for t in "${targets[@]}"; do
        dir=$B/$mode/$t
        rm -rf "$dir/merged" && mkdir -p "$dir/merged" "fuzz/corpus/$t"
        # Minimal set covering the committed corpus and everything found: smallest inputs first.
        if "$B/bin/$t" -merge=1 -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
               "$dir/merged" "fuzz/corpus/$t" "$dir/corpus" >"$dir/merge.log" 2>&1; then
            echo "$(ls "fuzz/corpus/$t" | wc -l) $(ls "$dir/merged" | wc -l)" >"$dir/merge_counts"
            rm -f "fuzz/corpus/$t"/* && cp "$dir/merged"/* "fuzz/corpus/$t/" 2>/dev/null
        else
            echo "merge of $t failed, corpus left as it was (see $dir/merge.log)"
            echo "$(ls "fuzz/corpus/$t" | wc -l) -1" >"$dir/merge_counts"
        fi
    done
fi

fi

# ---- report ----
passed=0 failed=0
rows=()
for t in "${targets[@]}"; do
    dir=$B/$mode/$t
    read -r rc secs runs <"$dir/status" 2>/dev/null || { rc=99; secs=0; runs=0; }
    crashes=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    execs=$(awk '{n += $1} END {print n + 0}' "$dir/runs" 2>/dev/null); execs=${execs:-0}
    fuzz_secs=$(awk '{s += $2} END {print s + 0}' "$dir/runs" 2>/dev/null)
    eps=$(( fuzz_secs > 0 ? execs / fuzz_secs : 0 ))
    cov=$(status_field "$dir/log" cov); cov=${cov:-0}
    ft=$(status_field "$dir/log" ft); ft=${ft:-0}
    corpus=$(ls "$dir/corpus" | wc -l)
    leaked=$(sweep_shm "$(cat "$dir/pid" 2>/dev/null || echo none)")
    if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] && [ -z "$leaked" ]; then
        passed=$((passed + 1)); verdict=PASS
    else
        failed=$((failed + 1)); verdict=FAIL
    fi
    restarts=$((runs > 0 ? runs - 1 : 0))
    printf '%-4s  %-9s %5ss  execs %-10s exec/s %-7s cov %-5s ft %-6s corpus %-5s crashes %s%s\n' \
        "$verdict" "$t" "$secs" "$execs" "$eps" "$cov" "$ft" "$corpus" "$crashes" \
        "$([ $restarts -gt 0 ] && echo "  (resumed $restarts x after SIGKILL from outside)")"
    if [ $verdict = FAIL ]; then
        [ -n "$leaked" ] && echo "$leaked" | sed 's/^/    | left in \/dev\/shm (removed): /'
        echo "    | libFuzzer exit $rc; log $dir/log; artifacts:"
        find "$dir/artifacts" -type f | sed 's/^/    |   /'
        grep -E -A 12 'FUZZ_ASSERT failed|ERROR: |runtime error' "$dir/log" | head -n 40 | sed 's/^/    | /'
    fi
    rows+=("$t $secs $execs $eps $cov $ft $corpus $crashes $rc $restarts")
done

if [ "$mode" = campaign ]; then
    mkdir -p results/fuzz
    printf '%s\n' "${rows[@]}" >"$B/$mode/rows"
    B=$B python3 - "$seconds" "$jobs" "$B/$mode/rows" <<'EOF'
import json, os, sys, datetime
seconds, jobs = int(sys.argv[1]), int(sys.argv[2])
B = os.environ["B"]
targets = []
for line in open(sys.argv[3]).read().split("\n"):
    if not line.strip():
        continue
    t, secs, execs, eps, cov, ft, corpus, crashes, rc, restarts = line.split()
    before, after = -1, -1
    try:
        before, after = (int(x) for x in open(f"{B}/campaign/{t}/merge_counts").read().split())
    except (OSError, ValueError):
        pass
    targets.append({"target": t, "seconds": int(secs), "executions": int(execs), "exec_per_sec": int(eps),
                    "cov": int(cov), "ft": int(ft), "corpus_found": int(corpus),
                    "corpus_committed_before": before, "corpus_committed_after": after,
                    "crashes": int(crashes), "libfuzzer_exit": int(rc), "restarts_after_sigkill": int(restarts)})
summary = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "seconds_per_target": seconds, "parallel_jobs": jobs,
    "machine": {"cpus": os.cpu_count()},
    "total_crashes": sum(t["crashes"] for t in targets),
    "targets": targets,
}
with open("results/fuzz/summary.json", "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
with open("results/fuzz/summary.md", "w") as f:
    f.write("# Fuzzing campaign\n\n")
    f.write(f"{summary['date']}: each target {seconds} s (`make fuzz-campaign`), {jobs} at a time on a "
            f"{os.cpu_count()}-CPU machine, libFuzzer + ASan + UBSan (clang). Coverage is libFuzzer's `cov:` "
            "(edges) and `ft:` (features) from each run's final status line. Corpus: inputs in the run's "
            "corpus at the end, then the committed corpus (fuzz/corpus/TARGET) before -> after the "
            "minimizing merge.\n\n")
    f.write("| target | seconds | executions | exec/s | cov | ft | corpus (run) | committed corpus | crashes |\n")
    f.write("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for t in targets:
        f.write(f"| {t['target']} | {t['seconds']} | {t['executions']:,} | {t['exec_per_sec']:,} | {t['cov']} | "
                f"{t['ft']} | {t['corpus_found']} | {t['corpus_committed_before']} -> {t['corpus_committed_after']} | "
                f"{t['crashes']} |\n")
    f.write(f"\nTotal crashes: {summary['total_crashes']}.\n")
    resumed = [t["target"] for t in targets if t["restarts_after_sigkill"]]
    if resumed:
        f.write(f"\nResumed on the same corpus after a SIGKILL from outside (the OOM killer; other jobs "
                f"shared the machine): {', '.join(resumed)}. Executions and exec/s add up all parts.\n")
EOF
    echo "fuzz-campaign: summary in results/fuzz/summary.md and results/fuzz/summary.json"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
