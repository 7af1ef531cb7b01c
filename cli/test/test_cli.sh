#!/usr/bin/env bash
# test_cli.sh: every `shmanager` subcommand's output and exit status.
#
# usage: bash cli/test/test_cli.sh PATH/TO/shmanager
#
# Every segment this run makes is named with the prefix shma_clitest_PID_ (so `gc` runs with
# --prefix and never touches what other tests, running at the same time, make) or is a random
# name this run records; all of them, and every background process, are removed on exit, pass
# or fail. When it may (root, unshare), one more test runs `gc --force` without a prefix in a
# private /dev/shm. JSON is checked with /usr/bin/python3 -m json.tool; the fill and checksum
# definitions are checked against the NumPy reference cli/test/fill_reference.py.
# Ends with the line "N passed, N failed"; exits 1 if anything failed.
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 PATH/TO/shmanager" >&2
  exit 2
fi
CLI=$(realpath "$1")
PY=${PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REF="$HERE/fill_reference.py"
P="shma_clitest_$$_"

tmp=$(mktemp -d)
bg_pids=()   # background processes to kill on exit
made=()      # random segment names to remove on exit

cleanup() {
  local pid name
  for pid in "${bg_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for name in "${made[@]}"; do rm -f "/dev/shm/$name"; done
  rm -f /dev/shm/"$P"* /dev/shm/sem."$P"*
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- reporting -------------------------------------------------------------------------------

passed=0 failed=0 skipped=0

pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$1"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP  %s (%s)\n' "$1" "$2"; }
fail() {
  failed=$((failed + 1))
  printf 'FAIL  %s\n' "$1"
  printf '    | exit status %s\n' "${rc:-?}"
  sed 's/^/    | stdout: /' "$tmp/out" 2>/dev/null | head -n 40
  sed 's/^/    | stderr: /' "$tmp/err" 2>/dev/null | head -n 20
}

# expect DESC COMMAND...: passes if COMMAND succeeds.
expect() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# run ARGS...: runs the tool; stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run() {
  "$CLI" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}

rc_is() { [ "$rc" -eq "$1" ]; }
out_has() { grep -qE -- "$1" "$tmp/out"; }
out_lacks() { ! grep -qE -- "$1" "$tmp/out"; }
out_has_fixed() { grep -qF -- "$1" "$tmp/out"; }
err_has() { grep -qE -- "$1" "$tmp/err"; }
out_empty() { [ ! -s "$tmp/out" ]; }
err_empty() { [ ! -s "$tmp/err" ]; }
json_valid() { "$PY" -m json.tool "$tmp/out" >/dev/null 2>"$tmp/json_err"; }
# jget EXPR: evaluates the Python expression EXPR with d = the JSON on stdout.
jget() {
  "$PY" -c '
import json, os, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
r = eval(sys.argv[2])
print(str(r).lower() if isinstance(r, bool) else r)' "$tmp/out" "$1"
}
jis() { [ "$(jget "$1")" = "$2" ]; }
exists() { [ -e "/dev/shm/$1" ]; }
gone() { [ ! -e "/dev/shm/$1" ]; }
all_exist() { local n; for n; do exists "$n" || return 1; done; }
all_gone() { local n; for n; do gone "$n" || return 1; done; }
# The value of KEY in the tool's plain "key  value" output.
kv() { sed -n "s/^$1 \{1,\}//p" "$tmp/out"; }

have_numpy=false
"$PY" -c 'import numpy' 2>/dev/null && have_numpy=true

# ref_sum SHAPE DTYPE SEED: the reference checksum of the fill.
ref_sum() { "$PY" "$REF" fill "$@"; }

# start_holder NAME ARGS...: starts `create NAME ARGS... --hold` in the background and waits
# (on a fifo, not a timer) until it has printed its result, i.e. the segment exists. Sets
# holder_pid; the fifo stays open in holder_fd until stop_holder.
start_holder() {
  local fifo="$tmp/fifo.$RANDOM$RANDOM" line
  mkfifo "$fifo"
  "$CLI" create "$@" --hold >"$fifo" 2>>"$tmp/holder.err" &
  holder_pid=$!
  bg_pids+=("$holder_pid")
  exec {holder_fd}<"$fifo"
  rm -f "$fifo"
  IFS= read -r -u "$holder_fd" line
  [ -n "$line" ]
}

# --- the tool as a whole ---------------------------------------------------------------------

version=$(sed -n 's/^#define SHMA_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$HERE/../../core/include/shmanager.h" | paste -sd.)
run --version
expect "--version exits 0 and names the header's version" rc_is 0
expect "--version prints 'shmanager $version'" out_has "^shmanager $version \(libshmanager $version\)$"

run --help
expect "--help exits 0" rc_is 0
for cmd in ls inspect rm gc create verify help; do
  expect "--help lists '$cmd'" out_has "^  $cmd "
done
expect "--help gives the exit statuses" out_has "2 usage error"

run
expect "no command: exit 2" rc_is 2
expect "no command: usage on stderr, nothing on stdout" eval 'err_has "^usage: shmanager" && out_empty'

run frobnicate
expect "unknown command: exit 2" rc_is 2
expect "unknown command: 'shmanager: ' message" err_has "^shmanager: unknown command 'frobnicate'"

run --frobnicate
expect "unknown global option: exit 2" rc_is 2
expect "unknown global option: message" err_has "^shmanager: unknown option '--frobnicate'"

for cmd in ls inspect rm gc create verify; do
  run "$cmd" --help
  expect "$cmd --help: exit 0, usage on stdout" eval 'rc_is 0 && out_has "^usage: shmanager $cmd" && err_empty'
  cp "$tmp/out" "$tmp/help1"
  run help "$cmd"
  expect "help $cmd: the same text" eval 'rc_is 0 && cmp -s "$tmp/out" "$tmp/help1"'
  run "$cmd" --no-such-option
  expect "$cmd --no-such-option: exit 2" rc_is 2
  expect "$cmd --no-such-option: message and hint" \
    eval "err_has \"^shmanager: $cmd: unknown option '--no-such-option'\" && err_has \"shmanager $cmd --help\""
done
run help nope
expect "help of an unknown command: exit 2" rc_is 2

"$CLI" ls >/dev/full 2>"$tmp/err"
rc=$?
expect "output that cannot be written: exit 1" eval 'rc_is 1 && err_has "^shmanager: cannot write output"'

# --- create ----------------------------------------------------------------------------------

A="${P}a"
run create "$A" --shape 100,200 --dtype float64 --seed 42
expect "create: exit 0" rc_is 0
expect "create: prints the name" eval '[ "$(kv name)" = "$A" ]'
expect "create: prints the handle" eval '[ "$(kv handle)" = "shma1;<f8;100,200;$A" ]'
expect "create: canonical dtype and NumPy-style shape" eval '[ "$(kv dtype)" = "<f8" ] && [ "$(kv shape)" = "(100, 200)" ]'
expect "create: data_bytes and seed" eval '[ "$(kv data_bytes)" = 160000 ] && [ "$(kv seed)" = 42 ]'
expect "create: the segment exists after the tool exited" exists "$A"
A_SUM=$(kv checksum | cut -d' ' -f1)
expect "create: the checksum is 16 hex digits, named fnv1a64" \
  eval '[[ $A_SUM =~ ^[0-9a-f]{16}$ ]] && out_has "\(fnv1a64 of 160000 bytes\)"'
if $have_numpy; then
  expect "create: checksum equals the NumPy reference's" eval '[ "$A_SUM" = "$(ref_sum 100,200 float64 42)" ]'
else
  skip "create: checksum equals the NumPy reference's" "no numpy"
fi

run create --shape 3 --dtype '>i2' --seed 0x10 --json
expect "create --json: exit 0, valid JSON" eval 'rc_is 0 && json_valid'
R=$(jget 'd["name"]' 2>/dev/null)
[ -n "$R" ] && made+=("$R")
expect "create without NAME: a fresh shma_ name" eval '[[ $R =~ ^shma_[0-9a-f]{24}$ ]] && exists "$R"'
expect "create --json: fields" \
  eval 'jis "d[\"dtype\"]" ">i2" && jis "d[\"shape\"]" "[3]" && jis "d[\"seed\"]" 16 && jis "d[\"data_bytes\"]" 6 &&
        jis "d[\"checksum_algorithm\"]" fnv1a64 && jis "d[\"handle\"]" "shma1;>i2;3;$R"'
if $have_numpy; then
  expect "create --json: checksum equals the reference's" eval 'jis "d[\"checksum\"]" "$(ref_sum 3 ">i2" 16)"'
fi

run create "$A" --shape 10
expect "create over an existing name: exit 1" rc_is 1
expect "create over an existing name: 'shmanager: ' detail naming it" err_has "^shmanager: .*'$A'.*exists"

run create "${P}zerod" --shape '' --dtype int64 --seed 5
expect "create 0-d (--shape ''): exit 0, shape ()" eval 'rc_is 0 && [ "$(kv shape)" = "()" ] && [ "$(kv data_bytes)" = 8 ]'
run create "${P}empty" --shape '(0, 7)' --dtype c8
expect "create empty (0, 7): exit 0, 0 bytes, FNV offset basis" \
  eval 'rc_is 0 && [ "$(kv shape)" = "(0, 7)" ] && [ "$(kv checksum | cut -d" " -f1)" = cbf29ce484222325 ]'
run create "${P}one" --shape '(5,)' --dtype bool
expect "create (5,): NumPy's one-tuple spelling" eval 'rc_is 0 && [ "$(kv shape)" = "(5,)" ]'

# Usage errors: exit 2, a message, nothing created.
usage_case() {
  local desc=$1
  shift
  run create "${P}bad" "$@"
  expect "create $desc: exit 2" eval 'rc_is 2 && err_has "^shmanager: " && gone "${P}bad"'
}
usage_case "without --shape"
usage_case "--shape 10,-3" --shape 10,-3
usage_case "--shape abc" --shape abc
usage_case "--shape '(1,2'" --shape '(1,2'
usage_case "--shape 1,,2" --shape 1,,2
usage_case "--shape with 65 dims" --shape "$(printf '1,%.0s' {1..65})"
usage_case "--shape overflowing int64 bytes" --shape 4294967296,4294967296 --dtype f8
usage_case "--dtype float99" --shape 3 --dtype float99
usage_case "--dtype U5 (no fill defined)" --shape 3 --dtype U5
usage_case "--dtype float128 (no fill defined)" --shape 3 --dtype float128
usage_case "--seed -1" --shape 3 --seed -1
usage_case "--seed abc" --shape 3 --seed abc
usage_case "--seed 2^64" --shape 3 --seed 18446744073709551616
usage_case "--seed 010 (octal-looking)" --shape 3 --seed 010
usage_case "with two names" "${P}other" --shape 3
usage_case "--shape without a value" --shape
run create "a/b" --shape 3
expect "create with a '/' inside the name: exit 2" eval 'rc_is 2 && err_has "^shmanager: .*/"'
run create "$(printf 'x%.0s' {1..300})" --shape 3
expect "create with a 300-character name: exit 2" rc_is 2

# --- ls --------------------------------------------------------------------------------------

head -c 100 /dev/zero >"/dev/shm/${P}zero"
"$PY" -c '
import sys
from multiprocessing import resource_tracker, shared_memory
m = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=4096)
resource_tracker.unregister(m._name, "shared_memory")  # leave it to the test
m.buf[:5] = b"hello"
m.close()' "${P}py"
head -c 32 /dev/zero >"/dev/shm/sem.${P}sem"

run ls
expect "ls: exit 0" rc_is 0
expect "ls: header" out_has "^NAME +SIZE +DTYPE +SHAPE +PID +STATE$"
expect "ls: a created array, its creator gone" out_has "^$A +[0-9]+ +<f8 +\(100, 200\) +[0-9]+ +gone$"
expect "ls: a /dev/zero file is foreign" out_has "^${P}zero +100 +- +- +- +foreign$"
expect "ls: a Python SharedMemory segment is foreign" out_has "^${P}py +4096 +- +- +- +foreign$"
expect "ls: semaphores hidden by default" out_lacks "sem\.$P"
expect "ls: sorted by name" eval '[ "$(grep -oE "^$P[a-z]+" "$tmp/out" | paste -sd" ")" = "$(grep -oE "^$P[a-z]+" "$tmp/out" | LC_ALL=C sort | paste -sd" ")" ]'
run ls --all
expect "ls --all: semaphores shown as such" out_has "^sem\.${P}sem +32 +- +- +- +semaphore$"

run ls --json
expect "ls --json: exit 0, valid JSON" eval 'rc_is 0 && json_valid'
expect "ls --json: an array" jis 'type(d).__name__' list
sel="[s for s in d if s['name'] == '$A'][0]"
expect "ls --json: the array's metadata" \
  eval 'jis "$sel[\"kind\"]" shmanager && jis "$sel[\"dtype\"]" "<f8" && jis "$sel[\"shape\"]" "[100, 200]" &&
        jis "$sel[\"data_bytes\"]" 160000 && jis "$sel[\"creator_alive\"]" false && jis "$sel[\"state\"]" gone &&
        jis "$sel[\"segment_bytes\"] >= 160000 + 640" true && jis "$sel[\"creator_pid\"] > 0" true'
sel="[s for s in d if s['name'] == '${P}zero'][0]"
expect "ls --json: a foreign segment has null metadata" \
  eval 'jis "$sel[\"kind\"]" foreign && jis "$sel[\"dtype\"]" None && jis "$sel[\"shape\"]" None &&
        jis "$sel[\"creator_pid\"]" None && jis "$sel[\"segment_bytes\"]" 100'
run ls --json --all
expect "ls --json --all: the semaphore" eval 'json_valid && jis "[s[\"kind\"] for s in d if s[\"name\"] == \"sem.${P}sem\"] == [\"semaphore\"]" true'

# Names JSON and terminals must not be confused by.
Q="${P}q\"uo\\te é"
X="${P}"$'\xff'"raw"
run create "$Q" --shape 2
expect "create a name with a quote, a backslash, a space and UTF-8" rc_is 0
run create "$X" --shape 2
expect "create a name with a byte that is not UTF-8" rc_is 0
run ls --json
expect "ls --json: still valid JSON with such names" json_valid
printf '%s' "$Q" >"$tmp/qname"
printf '%s' "$X" >"$tmp/xname"
expect "ls --json: both names round-trip exactly (surrogateescape for the raw byte)" \
  eval 'jis "sum(os.fsencode(s[\"name\"]) in (open(\"$tmp/qname\", \"rb\").read(), open(\"$tmp/xname\", \"rb\").read()) for s in d)" 2'
run ls
expect "ls: a backslash and a raw byte are shown escaped" \
  eval 'out_has_fixed "${P}q\"uo\\x5cte é " && out_has_fixed "${P}\\xffraw "'
run rm "$Q" "$X"
expect "rm of such names: exit 0, gone" eval 'rc_is 0 && gone "$Q" && gone "$X"'

run ls extra
expect "ls with an operand: exit 2" rc_is 2

# Another user's segment (mode 0600): listed as no-access, never touched.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
  as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$CLI" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
  run create "${P}private" --shape 3
  as_nobody ls
  expect "ls as another user: a 0600 segment is no-access" out_has "^${P}private +[0-9]+ +- +- +- +no-access$"
  as_nobody ls --json
  expect "ls --json as another user: kind no-access, the reason" \
    eval 'json_valid && jis "[s[\"kind\"] for s in d if s[\"name\"] == \"${P}private\"] == [\"no-access\"]" true &&
          jis "[s[\"error\"] for s in d if s[\"name\"] == \"${P}private\"][0].endswith(\"(errno 13)\")" true'
  as_nobody inspect "${P}private"
  expect "inspect as another user: exit 1, permission denied" eval 'rc_is 1 && err_has "^shmanager: .*Permission denied"'
  as_nobody gc --force --prefix "${P}private"
  expect "gc --force as another user: leaves it" eval 'rc_is 0 && exists "${P}private"'
  as_nobody rm "${P}private"
  expect "rm as another user: exit 1, still there" eval 'rc_is 1 && exists "${P}private"'
  run rm "${P}private"
else
  skip "segments of another user" "needs root and setpriv"
fi

# --- inspect ---------------------------------------------------------------------------------

run inspect "$A"
expect "inspect: exit 0" rc_is 0
expect "inspect: metadata" \
  eval '[ "$(kv kind)" = shmanager ] && [ "$(kv state)" = gone ] && [ "$(kv dtype)" = "<f8" ] &&
        [ "$(kv shape)" = "(100, 200)" ] && [ "$(kv data_bytes)" = 160000 ] && [ "$(kv creator_alive)" = no ] &&
        [ "$(kv handle)" = "shma1;<f8;100,200;$A" ]'
expect "inspect: the checksum create printed" eval '[ "$(kv checksum | cut -d" " -f1)" = "$A_SUM" ]'
run inspect "/$A"
expect "inspect /NAME: the same segment" eval 'rc_is 0 && [ "$(kv name)" = "$A" ]'
run inspect "$A" --json
expect "inspect --json: valid JSON" eval 'rc_is 0 && json_valid'
expect "inspect --json: fields" \
  eval 'jis "d[\"checksum\"]" "$A_SUM" && jis "d[\"checksum_algorithm\"]" fnv1a64 && jis "d[\"checksum_bytes\"]" 160000 &&
        jis "d[\"handle\"]" "shma1;<f8;100,200;$A" && jis "d[\"shape\"]" "[100, 200]" && jis "d[\"error\"]" None'
run inspect "$A" --no-checksum
expect "inspect --no-checksum: no checksum line" eval 'rc_is 0 && out_lacks "^checksum"'
run inspect "${P}zero"
expect "inspect foreign: kind foreign, checksum of all 100 bytes" \
  eval 'rc_is 0 && [ "$(kv kind)" = foreign ] && out_has "^checksum +[0-9a-f]{16} \(fnv1a64 of 100 bytes\)$" && out_lacks "^dtype"'
expect "inspect foreign: the checksum of 100 zero bytes" \
  eval '[ "$(kv checksum | cut -d" " -f1)" = "$("$PY" -c "
h = 0xcbf29ce484222325
for b in bytes(100): h = ((h ^ b) * 0x100000001b3) % 2**64
print(format(h, \"016x\"))")" ]'
run inspect "${P}py" --json
expect "inspect --json foreign: kind, null dtype, checksum over the segment" \
  eval 'json_valid && jis "d[\"kind\"]" foreign && jis "d[\"dtype\"]" None && jis "d[\"checksum_bytes\"]" 4096 && jis "d[\"handle\"]" None'
run inspect "${P}missing"
expect "inspect a missing segment: exit 1, detail on stderr" \
  eval 'rc_is 1 && err_has "^shmanager: no shared-memory segment named .${P}missing.$" && out_empty'
run inspect
expect "inspect without NAME: exit 2" rc_is 2
run inspect "$A" "${P}zero"
expect "inspect with two names: exit 2" rc_is 2
run inspect "a/b"
expect "inspect an invalid name: exit 2" rc_is 2

# A corrupt trailer: flip the segment's last byte (the trailer's checksum).
run create "${P}corrupt" --shape 4 --dtype u1
size=$(stat -c %s "/dev/shm/${P}corrupt")
printf '\x01' | dd of="/dev/shm/${P}corrupt" bs=1 seek=$((size - 1)) conv=notrunc status=none
run inspect "${P}corrupt"
expect "inspect corrupt: exit 0, kind corrupt, the reason" \
  eval 'rc_is 0 && [ "$(kv kind)" = corrupt ] && out_has "^error +.+" && out_has "^checksum .*of $size bytes"'
run ls
expect "ls: a corrupt segment" out_has "^${P}corrupt +$size +- +- +- +corrupt$"
run inspect "${P}corrupt" --json
expect "inspect --json corrupt: error set" eval 'json_valid && jis "d[\"kind\"]" corrupt && jis "d[\"error\"] is not None" true'

# --- verify ----------------------------------------------------------------------------------

run verify "$A" --seed 42
expect "verify the right seed: exit 0, result ok" \
  eval 'rc_is 0 && [ "$(kv result)" = ok ] && [ "$(kv mismatches)" = "0 of 20000 elements" ] && err_empty'
expect "verify: checksum and expected agree with create's" \
  eval '[ "$(kv checksum | cut -d" " -f1)" = "$A_SUM" ] && [ "$(kv expected)" = "$A_SUM" ]'
run verify "$A" --seed 43
expect "verify another seed: exit 1, mismatch" eval 'rc_is 1 && [ "$(kv result)" = mismatch ]'
expect "verify another seed: 'shmanager: ' detail on stderr" err_has "^shmanager: '$A' is not the fill of seed 43"
run verify "$A" --seed 42 --json
expect "verify --json: valid, ok true" \
  eval 'rc_is 0 && json_valid && jis "d[\"ok\"]" true && jis "d[\"mismatched_elements\"]" 0 && jis "d[\"first_mismatch\"]" None &&
        jis "d[\"checksum\"]" "$A_SUM" && jis "d[\"expected_checksum\"]" "$A_SUM" && jis "d[\"elements\"]" 20000'
# Change element (1, 7), i.e. bytes 8 * 207 ..: verify names it.
printf '\x00\x00\x00\x00\x00\x00\xf0\x7f' | dd of="/dev/shm/$A" bs=1 seek=$((8 * 207)) conv=notrunc status=none
run verify "$A" --seed 42
expect "verify after one element changed: exit 1, the element named" \
  eval 'rc_is 1 && [ "$(kv mismatches)" = "1 of 20000 elements" ] && out_has "^first_mismatch +\(1, 7\) \(element 207"'
run verify "$A" --seed 42 --json
expect "verify --json after the change: ok false, first_mismatch [1, 7]" \
  eval 'rc_is 1 && json_valid && jis "d[\"ok\"]" false && jis "d[\"first_mismatch\"]" "[1, 7]" && jis "d[\"checksum\"] != d[\"expected_checksum\"]" true'
run verify "$A" --seed 42 --shape 100,200 --dtype f8
expect "verify with the right --shape/--dtype: compares (exit 1 here: one element changed)" \
  eval 'rc_is 1 && [ "$(kv mismatches)" = "1 of 20000 elements" ]'
run verify "$A" --shape 200,100 --dtype f8 --seed 42
expect "verify with a wrong --shape: exit 1, both shapes named" \
  eval 'rc_is 1 && err_has "^shmanager: .*\(100, 200\).*\(200, 100\)"'
run verify "$A" --shape 100,200 --dtype i8 --seed 42
expect "verify with a wrong --dtype of the same size: exit 1" eval 'rc_is 1 && err_has "<i8"'
run verify "${P}zero"
expect "verify a foreign segment by name alone: exit 1, says to give a shape" \
  eval 'rc_is 1 && err_has "^shmanager: .*no shmanager metadata.*--shape and --dtype"'
run verify "${P}zero" --shape 100 --dtype u1 --seed 1
expect "verify a foreign segment of zeros with a shape: exit 1 (not the fill)" rc_is 1
run verify "${P}zero" --shape 101 --dtype u1
expect "verify a foreign segment with a shape too big: exit 1" eval 'rc_is 1 && err_has "holds 100 bytes"'
run verify "${P}missing"
expect "verify a missing segment: exit 1" rc_is 1
run verify "$A" --shape 3
expect "verify --shape without --dtype: exit 2" eval 'rc_is 2 && err_has "go together"'
run verify
expect "verify without NAME: exit 2" rc_is 2
run verify "$A" --seed x
expect "verify --seed x: exit 2" rc_is 2
run verify "$A" --shape 3 --dtype U3
expect "verify --dtype without a fill: exit 2" rc_is 2

# The fill against the NumPy reference, both ways, over every kind of dtype.
if $have_numpy; then
  i=0
  for spec in "6,7|float64|42" "5|float32|1" "9|float16|0" "2,3|>f8|9" "4|<c8|3" "4|>c16|3" "10|bool|5" \
              "6|int8|11" "6|>i2|11" "6|<u4|11" "3,2|int64|18446744073709551615" "|uint8|2" "3|M8[ns]|4" \
              "3|>m8[s]|4" "1000|f2|0x10" "0,3|f8|1"; do
    IFS='|' read -r shape dtype seed <<<"$spec"
    i=$((i + 1))
    run create "${P}fill$i" --shape "$shape" --dtype "$dtype" --seed "$seed" --json
    sum=$(jget 'd["checksum"]' 2>/dev/null)
    expect "fill $dtype ($shape) seed $seed: the C checksum is the reference's" \
      eval 'rc_is 0 && [ "$sum" = "$(ref_sum "$shape" "$dtype" "$seed")" ]'
    expect "fill $dtype ($shape) seed $seed: NumPy reads the reference's values" \
      "$PY" "$REF" check "${P}fill$i" "$shape" "$dtype" "$seed"
    "$PY" "$REF" make "${P}pyfill$i" "$shape" "$dtype" "$seed"
    run verify "${P}pyfill$i" --shape "$shape" --dtype "$dtype" --seed "$seed"
    expect "fill $dtype ($shape) seed $seed: verify accepts the array NumPy made" eval 'rc_is 0 && [ "$(kv result)" = ok ]'
  done
  run verify "${P}pyfill1" --shape 6,7 --dtype float64 --seed 41
  expect "verify rejects NumPy's array for another seed" rc_is 1
else
  skip "fill against the NumPy reference" "no numpy"
fi

# The NumPy code the README shows is the reference's code, so it is what was tested above.
readme_block() {
  "$PY" -c '
import sys
for path in sys.argv[1:]:
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        continue
    if "def shmanager_fill" in text:
        start = text.index("```python\n", text.index("def splitmix64") - 200) + len("```python\n")
        print(text[start:text.index("```", start)], end="")
        break' "$HERE/../README.md" "$HERE/../../README.md"
}
block=$(readme_block)
if [ -n "$block" ]; then
  expect "the README's NumPy fill code is the tested reference's" eval '[[ "$(cat "$REF")" == *"$block"* ]]'
else
  skip "the README's NumPy fill code is the tested reference's" "no README shows it"
fi

# --- rm --------------------------------------------------------------------------------------

run create "${P}rm1" --shape 1
run create "${P}rm2" --shape 1
run rm "${P}rm1" "/${P}rm2"
expect "rm two names (one with '/'): exit 0, quiet, both gone" \
  eval 'rc_is 0 && out_empty && err_empty && gone "${P}rm1" && gone "${P}rm2"'
run create "${P}rm3" --shape 1
run rm "${P}nope1" "${P}rm3" "${P}nope2"
expect "rm with missing names: exit 1, one message per missing name, the rest removed" \
  eval 'rc_is 1 && [ "$(grep -c "^shmanager: no shared-memory segment named" "$tmp/err")" = 2 ] && gone "${P}rm3"'
run create "${P}rm4" --shape 1
run rm -v "${P}rm4"
expect "rm -v: prints what it removed" eval 'rc_is 0 && out_has "^removed ${P}rm4$"'
head -c 10 /dev/zero >"/dev/shm/${P}rmforeign"
run rm "${P}rmforeign"
expect "rm removes foreign segments too" eval 'rc_is 0 && gone "${P}rmforeign"'
run rm
expect "rm without NAME: exit 2" rc_is 2
run rm "a/b" "${P}nope"
expect "rm an invalid name: exit 2 (worse than the missing one)" rc_is 2

# --- gc --------------------------------------------------------------------------------------

# Everything with this prefix now: the gone creators' arrays made above, the foreign and
# corrupt segments. Add a live creator and a SIGKILLed one.
expect "gc setup: a live creator (create --hold)" start_holder "${P}live" --shape 8 --dtype i4
live_pid=$holder_pid
live_fd=$holder_fd
expect "gc setup: a creator to kill" start_holder "${P}killed" --shape 16 --dtype f4
kill -KILL "$holder_pid"
wait "$holder_pid" 2>/dev/null
exec {holder_fd}<&-

run ls
expect "ls: the live creator's segment is alive, with its pid" out_has "^${P}live +[0-9]+ +<i4 +\(8,\) +$live_pid +alive$"
expect "ls: the SIGKILLed creator's segment is gone" out_has "^${P}killed .* gone$"

# What gc may remove: this run's segments whose creator is gone.
gone_names=$("$CLI" ls --json | "$PY" -c '
import json, sys
print(" ".join(sorted(s["name"] for s in json.load(sys.stdin)
                      if s["name"].startswith(sys.argv[1]) and s["state"] == "gone")))' "$P")
keep_names="${P}live ${P}zero ${P}py ${P}corrupt"
expect "gc setup: gone ones include the killed creator's" eval '[[ " $gone_names " == *" ${P}killed "* ]]'

run gc --prefix "$P"
expect "gc (dry run): exit 0" rc_is 0
expect "gc (dry run): lists the killed creator's segment" out_has "^${P}killed .* would-remove$"
expect "gc (dry run): says how to act" out_has "'shmanager gc --force' removes them$"
expect "gc (dry run): lists no live, foreign or corrupt segment" \
  eval 'out_lacks "^${P}(live|zero|py|corrupt) "'
expect "gc (dry run): removes nothing" all_exist $gone_names $keep_names
run gc --prefix "$P" --json
expect "gc --json (dry run): valid JSON, dry_run true, count" \
  eval 'rc_is 0 && json_valid && jis "d[\"dry_run\"]" true && jis "d[\"count\"] == len(d[\"segments\"]) == len(\"$gone_names\".split())" true'
expect "gc --json (dry run): exactly the gone segments" \
  eval 'jis "\" \".join(sorted(s[\"name\"] for s in d[\"segments\"]))" "$gone_names" &&
        jis "sorted(set(s[\"action\"] for s in d[\"segments\"])) == [\"would-remove\"]" true'

run gc --prefix "$P" --force
expect "gc --force: exit 0" rc_is 0
expect "gc --force: every gone creator's segment removed" all_gone $gone_names
expect "gc --force: live, foreign (shell and Python) and corrupt segments kept" all_exist $keep_names
expect "gc --force: reports what it removed" eval 'out_has "^${P}killed .* removed$" && out_has "^removed [0-9]+ segments? \("'
run gc --prefix "$P" --force --json
expect "gc --force again: nothing left to do" \
  eval 'rc_is 0 && json_valid && jis "d[\"dry_run\"]" false && jis "d[\"segments\"]" "[]" && jis "d[\"count\"]" 0 && jis "d[\"bytes\"]" 0'
run gc --prefix "$P"
expect "gc (dry run) with nothing to do: says so" eval 'rc_is 0 && out_has "^no segments with an exited creator$"'

kill -TERM "$live_pid"
wait "$live_pid"
live_rc=$?
exec {live_fd}<&-
expect "create --hold: SIGTERM ends it with exit 0 and removes its segment" eval '[ $live_rc -eq 0 ] && gone "${P}live"'

run gc extra
expect "gc with an operand: exit 2" rc_is 2
run gc --prefix
expect "gc --prefix without a value: exit 2" eval 'rc_is 2 && err_has "needs a value"'

# gc without a prefix, in a private /dev/shm (a mount namespace with its own tmpfs), where
# nothing but this test's segments can be.
gc_isolated() {
  mount -t tmpfs -o size=64m shmanager-cli-test /dev/shm || return 1
  local fail=0 pid
  "$CLI" create dead1 --shape 10 >/dev/null || fail=1
  "$CLI" create live1 --shape 10 --hold >"$tmp/iso.fifo" &
  pid=$!
  IFS= read -r _ <"$tmp/iso.fifo" || fail=1
  # A creator that exits while holding (a crash): SIGKILL.
  "$CLI" create dead2 --shape 10 --hold >"$tmp/iso.fifo2" &
  local pid2=$!
  IFS= read -r _ <"$tmp/iso.fifo2" || fail=1
  kill -KILL "$pid2"
  wait "$pid2" 2>/dev/null
  head -c 100 /dev/zero >/dev/shm/foreign1
  "$CLI" gc --force >/dev/null || fail=1
  local left
  left=$(cd /dev/shm && ls | paste -sd' ')
  kill -TERM "$pid"
  wait "$pid" || fail=1
  [ "$left" = "foreign1 live1" ] || { echo "    | left after gc --force: $left"; fail=1; }
  return $fail
}
if [ "$(id -u)" -eq 0 ] && unshare -m --propagation private mount -t tmpfs none /dev/shm 2>/dev/null; then
  mkfifo "$tmp/iso.fifo" "$tmp/iso.fifo2"
  export CLI tmp
  export -f gc_isolated
  unshare -m --propagation private bash -c gc_isolated >"$tmp/out" 2>"$tmp/err"
  rc=$?
  expect "gc --force without --prefix (private /dev/shm): removes exactly the exited creators' segments" rc_is 0
else
  skip "gc --force without --prefix in a private /dev/shm" "needs root and unshare"
fi

# --- end -------------------------------------------------------------------------------------

[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
