# harness/: fork-based multi-process scenarios (issue 3), one cmocka binary per scenario,
# linked statically against the library of the current variant. `make test` (hence
# `make check`, plain, ASan+UBSan and valgrind) runs them; `make stress` runs each one over and
# over at stress size for STRESS_SECONDS, then checks /dev/shm holds nothing of the project.

HARNESS_SRCS := $(wildcard harness/scenario_*.c)
HARNESS_TESTS := $(patsubst harness/%.c,$(B)/harness/%,$(HARNESS_SRCS))
HARNESS_UTIL := $(B)/harness/harness.o
TESTS += $(HARNESS_TESTS)

# In the coverage build every _exit flushes the counters first (harness.c, __wrap__exit), so
# code run by forked children and by the library's reaper process is counted.
ifeq ($(VARIANT),cov)
  HARNESS_DEFS := -DH_GCOV
  HARNESS_LDFLAGS := -Wl,--wrap=_exit
endif

$(HARNESS_UTIL): harness/harness.c harness/harness.h core/test/testutil.h $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Icore/test $(HARNESS_DEFS) $(ALL_CFLAGS) -c $< -o $@

$(B)/harness/scenario_%: harness/scenario_%.c $(HARNESS_UTIL) harness/harness.h $(LIB_A) $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Icore/test $(HARNESS_DEFS) $(ALL_CFLAGS) $< $(HARNESS_UTIL) $(LIB_A) \
	  $(ALL_LDFLAGS) $(HARNESS_LDFLAGS) -lcmocka -lm -o $@

# Only the harness scenarios, at check size.
harness: $(HARNESS_TESTS)
harness-test: $(HARNESS_TESTS)
	bash scripts/run-tests.sh $(HARNESS_TESTS)

# Each scenario for STRESS_SECONDS (default 60) at stress size: hundreds of crash-reaping
# rounds, 100,000 hygiene cycles. STRESS_SCENARIOS=crash_reaping,hygiene picks some.
STRESS_SECONDS ?= 60
stress: setup $(HARNESS_TESTS)
	STRESS_SECONDS=$(STRESS_SECONDS) STRESS_SCENARIOS=$(STRESS_SCENARIOS) \
	  bash scripts/stress.sh $(HARNESS_TESTS)

.PHONY: harness harness-test stress
