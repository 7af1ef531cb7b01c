# bench/: Google Benchmark suites against the release library (issue 5).
#
#   make bench          set up, build, run every suite, write results/bench-<suite>.json and
#                       results/bench.png, print the ratio summary (about 3.5 minutes; with
#                       BENCH_FULL=1, 800 MiB arrays too: about 5 minutes)
#   make bench-check    a quick subset (< 2 min); compares its in-run ratios with
#                       results/bench-baseline.json and fails on a regression
#   make bench-baseline runs the bench-check subset three times and rewrites the baseline's
#                       values with each ratio's median (keeping tolerances and hard limits)
#   make bench-build    only the binaries: build/release/bench/bench_{calls,copy,share,rowsum}
#
# Knobs (environment or make variables):
#   BENCH_MAX_MB=256    largest array in MiB (the row-sum's 10000 x 10000 needs 763)
#   BENCH_FULL=1        BENCH_MAX_MB=800: the issue's 800 MiB figures and the 10000 x 10000 row-sum
#   BENCH_WORKERS=1,2,4,8  worker counts of the multi-process suites
#   BENCH_FILTER=regex  run only matching benchmarks (Google Benchmark's --benchmark_filter)
#   BENCH_MIN_TIME=s    seconds per benchmark (default Google Benchmark's 0.5)
#   BENCH_REPS=n        repetitions; the summary uses each benchmark's fastest (the reference run
#                       in results/ is BENCH_FULL=1 BENCH_REPS=3, about 10 minutes)
#   BENCH_TARGETS=1     bench-check also fails on unmet issue-8 targets (printed either way)
#   BENCH_EXTRA         targets other fragments add (e.g. the Python benchmarks); `make bench`
#                       runs them after the C suites and before the summary and plot, which read
#                       every results/bench-*.json
#   BENCH_CHECK_EXTRA   the same for bench-check (their JSON goes to $(BENCH_CHECK_DIR))
#
# NumPy's own copies into shared memory (scripts/bench-numpy.py, $(PYTHON) with numpy) are the
# baselines of issue 8's copy targets: `bench-numpy` and `bench-numpy-check` run them, as
# BENCH_EXTRA and BENCH_CHECK_EXTRA.

BENCH_SUITES := calls copy share rowsum
BENCH_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -pthread $(CXXFLAGS)
BENCH_BINS := $(patsubst %,build/release/bench/bench_%,$(BENCH_SUITES))
BENCH_RESULTS := results
BENCH_CHECK_DIR := build/release/bench-check
BENCH_BASELINE := results/bench-baseline.json
BENCH_EXTRA ?=
BENCH_CHECK_EXTRA ?=
BENCH_EXTRA += bench-numpy
BENCH_CHECK_EXTRA += bench-numpy-check

ifeq ($(BENCH_FULL),1)
  BENCH_MAX_MB ?= 800
endif
BENCH_MAX_MB ?= 256
export BENCH_MAX_MB BENCH_WORKERS BENCH_FILTER BENCH_MIN_TIME BENCH_REPS BENCH_TARGETS

ifeq ($(VARIANT),release)

build/release/bench/obj/%.o: bench/%.cc bench/bench_common.h $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS_ALL) $(BENCH_CXXFLAGS) -c $< -o $@

build/release/bench/bench_%: build/release/bench/obj/bench_%.o build/release/bench/obj/bench_common.o $(LIB_A)
	$(CXX) $(BENCH_CXXFLAGS) $^ $(ALL_LDFLAGS) -lbenchmark -lpthread -o $@

.PRECIOUS: build/release/bench/obj/%.o

bench-build: $(BENCH_BINS)

bench: setup bench-build
	bash scripts/bench-run.sh full $(BENCH_RESULTS) $(BENCH_BINS)
	$(if $(strip $(BENCH_EXTRA)),$(MAKE) $(BENCH_EXTRA))
	$(PYTHON) scripts/plot-bench.py $(BENCH_RESULTS)/bench.png $(BENCH_RESULTS)/bench-*.json
	$(PYTHON) scripts/bench-summary.py $(BENCH_RESULTS)/bench-*.json

bench-check: setup bench-build
	rm -rf $(BENCH_CHECK_DIR)
	bash scripts/bench-run.sh check $(BENCH_CHECK_DIR) $(BENCH_BINS)
	$(if $(strip $(BENCH_CHECK_EXTRA)),$(MAKE) $(BENCH_CHECK_EXTRA))
	$(PYTHON) scripts/bench-summary.py --check $(BENCH_BASELINE) $(if $(filter 1,$(BENCH_TARGETS)),--targets) \
	  $(BENCH_CHECK_DIR)/bench-*.json

bench-numpy: setup
	$(PYTHON) scripts/bench-numpy.py full $(BENCH_RESULTS)

bench-numpy-check: setup
	$(PYTHON) scripts/bench-numpy.py check $(BENCH_CHECK_DIR)

bench-baseline: setup bench-build
	rm -rf $(BENCH_CHECK_DIR)-baseline
	for run in 1 2 3; do \
	  bash scripts/bench-run.sh check $(BENCH_CHECK_DIR)-baseline/run$$run $(BENCH_BINS) || exit 1; \
	  $(PYTHON) scripts/bench-numpy.py check $(BENCH_CHECK_DIR)-baseline/run$$run || exit 1; \
	done
	$(PYTHON) scripts/bench-summary.py --write-baseline $(BENCH_BASELINE) $(BENCH_CHECK_DIR)-baseline/run*/bench-*.json

else

# The benchmarks measure the release build only.
bench bench-check bench-baseline bench-build:
	$(MAKE) VARIANT=release $@

endif

.PHONY: bench bench-check bench-baseline bench-build bench-numpy bench-numpy-check
