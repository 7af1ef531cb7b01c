#!/usr/bin/env bash
# Runs each test binary given as an argument in its own process, with a timeout and captured
# output (a crash or hang in one cannot hide the others), then checks that the run left nothing
# new in /dev/shm. $RUNNER, when set, wraps each binary (e.g. valgrind). Prints the output of
# failing binaries and ends with the line "N passed, N failed".
set -u

# Run in a private /dev/shm (a fresh tmpfs in a mount namespace of our own) when we can: the
# leftover check below then sees only what these tests made, whatever else runs on the
# machine, and a test that asks for too much meets this tmpfs's limit, not the machine's RAM.
# SHMA_TEST_SHARED_SHM=1 runs against the real /dev/shm instead.
if [ -z "${SHMA_TEST_IN_PRIVATE_SHM:-}" ] && [ "${SHMA_TEST_SHARED_SHM:-0}" != 1 ] && [ "$(id -u)" -eq 0 ] &&
   unshare -m true 2>/dev/null; then
  export SHMA_TEST_IN_PRIVATE_SHM=1
  exec unshare -m bash -c 'mount --make-rprivate / && mount -t tmpfs -o size=${SHMA_TEST_SHM_SIZE:-8g},mode=1777 tmpfs /dev/shm &&
    exec bash "$0" "$@"' "$0" "$@"
fi

timeout_s=${TEST_TIMEOUT:-600}
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
before=$(ls -A /dev/shm 2>/dev/null | sort)

passed=0 failed=0 failed_names=()
for t in "$@"; do
  name=$(basename "$t")
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  timeout --kill-after=10 "$timeout_s" ${RUNNER:-} "$t" >"$log_dir/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 )); secs=$((ms / 1000)).$(( (ms % 1000) / 100 ))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); printf 'PASS  %-40s %6ss\n' "$name" "$secs"
  else
    failed=$((failed + 1)); failed_names+=("$name")
    [ $rc -eq 124 ] && why="timed out after ${timeout_s}s" || why="exit $rc"
    printf 'FAIL  %-40s %6ss  (%s)\n' "$name" "$secs" "$why"
    sed 's/^/    | /' "$log_dir/$name.log" | tail -n 80
  fi
done

after=$(ls -A /dev/shm 2>/dev/null | sort)
leftover=$(comm -13 <(echo "$before") <(echo "$after") | grep -v '^$')
if [ -n "$leftover" ]; then
  echo "FAIL  /dev/shm holds segments the tests left behind:"; echo "$leftover" | sed 's/^/    | /'
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
