#!/usr/bin/env bash
# Runs each harness scenario binary given as an argument over and over at stress size
# (SHMA_TEST_SCALE=stress: hundreds of crash-reaping rounds, 100,000 hygiene cycles, ...) for
# STRESS_SECONDS seconds each (default 60; at least one full run), each run with a fresh
# SHMA_TEST_SEED that is printed, so a failure can be replayed. STRESS_SCENARIOS, a
# comma-separated list of names without "scenario_" (crash_reaping,hygiene), picks some.
# Afterwards /dev/shm must hold nothing of the project. Ends with "N passed, N failed".
set -u
secs=${STRESS_SECONDS:-60}
pick=${STRESS_SCENARIOS:-}
scale=${SHMA_TEST_SCALE:-stress}
timeout_s=${TEST_TIMEOUT:-1800}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
before=$(ls -A /dev/shm 2>/dev/null | sort)

passed=0 failed=0
for t in "$@"; do
  name=$(basename "$t")
  if [ -n "$pick" ] && [[ ",$pick," != *",${name#scenario_},"* ]]; then continue; fi
  start=$SECONDS runs=0 ok=1
  while :; do
    seed=$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ^ 10#$(date +%N) ))
    if ! SHMA_TEST_SCALE=$scale SHMA_TEST_SEED=$seed timeout --kill-after=10 "$timeout_s" "$t" >"$log" 2>&1; then
      ok=0
      printf 'FAIL  %-32s run %d, SHMA_TEST_SEED=%s SHMA_TEST_SCALE=%s\n' "$name" $((runs + 1)) "$seed" "$scale"
      sed 's/^/    | /' "$log" | grep -v -E '^\s*\|\s*\[ +(RUN|OK) +\]' | tail -n 60
      break
    fi
    runs=$((runs + 1))
    [ $((SECONDS - start)) -ge "$secs" ] && break
  done
  if [ $ok -eq 1 ]; then
    passed=$((passed + 1))
    printf 'PASS  %-32s %4d run(s) in %ss\n' "$name" "$runs" $((SECONDS - start))
    grep -h -E '^\[(crash|concurrency|hygiene|seed|wrong_meta)\]' "$log" | sed 's/^/      /' | head -n 12
  else
    failed=$((failed + 1))
  fi
done

after=$(ls -A /dev/shm 2>/dev/null | sort)
leftover=$(comm -13 <(echo "$before") <(echo "$after") | grep -v '^$')
if [ -n "$leftover" ]; then
  echo "FAIL  /dev/shm holds segments the stress runs left behind (or another job made meanwhile):"
  echo "$leftover" | sed 's/^/    | /'
  failed=$((failed + 1))
fi
bash "$(dirname "$0")/check-shm-clean.sh" || failed=$((failed + 1))
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
