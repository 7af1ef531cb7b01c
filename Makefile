# shmanager: top-level build. Plain make; honours CC, CXX, CFLAGS, LDFLAGS, PREFIX, DESTDIR.
#
# Build variants live in separate folders so their objects never mix:
#   build/release  (default)            build/asan  (ASan + UBSan, VARIANT=asan)
#   build/cov      (gcov, VARIANT=cov)  build/fuzz  (clang libFuzzer, made by fuzz/fuzz.mk)
#
# Main targets: all, check, example, bench, bench-check, stress, fuzz, fuzz-campaign,
# install, uninstall, clean. Each subsystem adds its rules in its own fragment (*.mk).

.DEFAULT_GOAL := all
SHELL := /bin/bash

VARIANT ?= release
B := build/$(VARIANT)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin

PYTHON ?= /usr/bin/python3

# The version is read from the public header, so there is one place to change it.
HEADER := core/include/shmanager.h
version_part = $(shell sed -n 's/^\#define SHMA_VERSION_$(1) \([0-9]*\)$$/\1/p' $(HEADER))
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION := $(VERSION_MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CPPFLAGS_ALL := -D_GNU_SOURCE -Icore/include -Icore/src $(CPPFLAGS)
CFLAGS_COMMON := -std=c11 $(WARN) -fPIC -pthread -g

ifeq ($(VARIANT),release)
  CFLAGS_VARIANT := -O2
else ifeq ($(VARIANT),asan)
  CFLAGS_VARIANT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS_VARIANT := -fsanitize=address,undefined
else ifeq ($(VARIANT),cov)
  CFLAGS_VARIANT := -O0 --coverage
  LDFLAGS_VARIANT := --coverage
else
  $(error unknown VARIANT '$(VARIANT)': use release, asan or cov)
endif

ALL_CFLAGS = $(CFLAGS_COMMON) $(CFLAGS_VARIANT) $(CFLAGS)
ALL_LDFLAGS = -pthread $(LDFLAGS_VARIANT) $(LDFLAGS)

# Test binaries each fragment adds; `make test` runs them all through scripts/run-tests.sh,
# each in its own process with a timeout.
TESTS :=

# Installs the Debian packages the build needs (a no-op when they are there). Order-only
# prerequisite of everything that compiles or runs tests.
SETUP_STAMP := build/.setup-done
$(SETUP_STAMP): scripts/setup.sh
	bash scripts/setup.sh
	@mkdir -p $(@D) && touch $@
setup: $(SETUP_STAMP)

include core/core.mk
-include cli/cli.mk
-include harness/harness.mk
-include fuzz/fuzz.mk
-include bench/bench.mk
-include bindings/python/python.mk
include examples/examples.mk

all: $(LIB_A) $(LIB_SO) $(PC_FILE) $(ALL_EXTRA)

# --- tests ----------------------------------------------------------------------------------

# Runs every test binary of this variant (RUNNER wraps each, e.g. valgrind).
test: $(TESTS)
	bash scripts/run-tests.sh $(TESTS)

# The one command that proves the project works: installs what it needs, then runs the unit
# and harness tests plain, under ASan+UBSan and under valgrind, the coverage report, the short
# fuzz runs, the Python suite, and checks that nothing was left in /dev/shm.
check: setup
	$(MAKE) test
	$(MAKE) VARIANT=asan test
	$(MAKE) valgrind
	$(MAKE) coverage
	$(MAKE) check-extra
	bash scripts/check-shm-clean.sh

# Targets fragments add to check (fuzz replay and short runs, CLI and Python tests).
check-extra: $(CHECK_EXTRA)

valgrind: setup
	$(MAKE) $(TESTS)
	RUNNER="valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --trace-children=yes --child-silent-after-fork=no --track-fds=no" \
	  SHMA_TEST_SCALE=valgrind bash scripts/run-tests.sh $(TESTS)

coverage: setup
	rm -rf build/cov/core && find build/cov -name '*.gcda' -delete 2>/dev/null || true
	$(MAKE) VARIANT=cov test
	bash scripts/coverage.sh

# --- install --------------------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 644 $(HEADER) $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libshmanager.so
	install -m 644 $(PC_FILE) $(DESTDIR)$(LIBDIR)/pkgconfig/
	$(INSTALL_EXTRA)

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/shmanager.h $(DESTDIR)$(LIBDIR)/libshmanager.* \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/shmanager.pc $(DESTDIR)$(BINDIR)/shmanager

clean:
	rm -rf build

.PHONY: all setup test check check-extra valgrind coverage install uninstall clean
