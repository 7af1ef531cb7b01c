#!/usr/bin/env bash
# Installs the Debian packages the build, tests and benchmarks need. Idempotent: packages
# already present are not fetched again, and apt-get update runs only when something is missing.
set -euo pipefail

packages=(
  make gcc clang llvm libclang-rt-14-dev   # compilers, libFuzzer, sanitizer runtimes, llvm-symbolizer
  libcmocka-dev                            # C unit-test framework
  libbenchmark-dev g++                     # Google Benchmark
  valgrind gcovr                           # memcheck, line coverage
  python3 python3-dev python3-numpy python3-pytest   # the Python binding and its tests
  gnuplot-nox                              # results/bench.png
  procps util-linux mount                  # /proc tools; unshare and mount for private /dev/shm tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
