#!/usr/bin/env bash
# Reports line coverage of core/src from the gcov data the cov variant's test run left in
# build/cov, and fails if it is under COVERAGE_MIN percent (default 95).
set -euo pipefail
min=${COVERAGE_MIN:-95}
mkdir -p build/cov/report
gcovr --root . --filter 'core/src/' --object-directory build/cov \
      --txt build/cov/report/coverage.txt --html-details build/cov/report/index.html \
      --print-summary --fail-under-line "$min" build/cov | tee build/cov/report/summary.txt
cat build/cov/report/coverage.txt
