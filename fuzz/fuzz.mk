# fuzz/: libFuzzer targets on every parser and validator (issue 4) and the metadata trailer
# (issue 7). One target per untrusted input, each in fuzz/<target>.c, built twice:
#
#   build/fuzz/bin/<target>     clang -fsanitize=fuzzer,address,undefined: the fuzzer itself,
#                               over library objects built with -fsanitize=fuzzer-no-link
#                               into build/fuzz/lib (never mixed with another variant's).
#   build/fuzz/replay/<target>  $(CC) with ASan+UBSan and no libFuzzer, linked to
#                               fuzz/regression_driver.c: replays the committed corpus
#                               (fuzz/corpus/<target>/) and past crashes
#                               (fuzz/regressions/<target>/) as an ordinary test.
#
# Make targets:
#   fuzz           builds everything and runs each target FUZZ_SECONDS (default 20) on a scratch
#                  copy of its corpus, then its regression inputs; ends "N passed, N failed".
#   fuzz-replay    replays corpora and regressions through the non-libFuzzer builds.
#   fuzz-campaign  each target FUZZ_CAMPAIGN_SECONDS (default 600), FUZZ_JOBS (default 2) at a
#                  time, merges new inputs into fuzz/corpus/, writes results/fuzz/summary.{md,json}.
# FUZZ_TARGETS="dtype name" picks some. `make check` runs fuzz and fuzz-replay.

FUZZ_TARGETS ?= dtype shape name handle trailer attach procstat
FUZZ_SECONDS ?= 20
FUZZ_CAMPAIGN_SECONDS ?= 600
FUZZ_JOBS ?= 2
FUZZ_CC ?= clang

FUZZ_B := build/fuzz
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 $(WARN) -g -O1 -fno-omit-frame-pointer -pthread $(CFLAGS)
FUZZ_CPPFLAGS := $(CPPFLAGS_ALL) -Ifuzz

FUZZ_LIB_OBJS := $(patsubst core/src/%.c,$(FUZZ_B)/lib/%.o,$(CORE_SRCS))
FUZZ_REPLAY_OBJS := $(patsubst core/src/%.c,$(FUZZ_B)/replay/lib/%.o,$(CORE_SRCS))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_B)/bin/%)
FUZZ_REPLAY_BINS := $(FUZZ_TARGETS:%=$(FUZZ_B)/replay/%)
FUZZ_DRIVER := $(FUZZ_B)/replay/regression_driver.o

$(FUZZ_LIB_OBJS): $(FUZZ_B)/lib/%.o: core/src/%.c core/src/*.h $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE) -c $< -o $@

$(FUZZ_BINS): $(FUZZ_B)/bin/%: fuzz/%.c fuzz/fuzz_helpers.h $(FUZZ_LIB_OBJS) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SANITIZE) $< $(FUZZ_LIB_OBJS) \
	  -pthread $(LDFLAGS) -o $@

$(FUZZ_REPLAY_OBJS): $(FUZZ_B)/replay/lib/%.o: core/src/%.c core/src/*.h $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) -c $< -o $@

$(FUZZ_DRIVER): fuzz/regression_driver.c | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) -c $< -o $@

$(FUZZ_REPLAY_BINS): $(FUZZ_B)/replay/%: fuzz/%.c fuzz/fuzz_helpers.h $(FUZZ_DRIVER) $(FUZZ_REPLAY_OBJS) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) $< $(FUZZ_DRIVER) $(FUZZ_REPLAY_OBJS) \
	  -pthread $(LDFLAGS) -o $@

fuzz-build: $(FUZZ_BINS) $(FUZZ_REPLAY_BINS)

fuzz: setup $(FUZZ_BINS)
	FUZZ_B=$(FUZZ_B) FUZZ_JOBS=$(FUZZ_JOBS) bash scripts/fuzz-run.sh short $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-replay: setup $(FUZZ_REPLAY_BINS)
	FUZZ_B=$(FUZZ_B) bash scripts/fuzz-replay.sh $(FUZZ_TARGETS)

fuzz-campaign: setup $(FUZZ_BINS)
	FUZZ_B=$(FUZZ_B) FUZZ_JOBS=$(FUZZ_JOBS) bash scripts/fuzz-run.sh campaign $(FUZZ_CAMPAIGN_SECONDS) $(FUZZ_TARGETS)

CHECK_EXTRA += fuzz fuzz-replay

.PHONY: fuzz fuzz-build fuzz-replay fuzz-campaign
