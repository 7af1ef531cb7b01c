# bindings/python/: the `shmanager` Python package, a CPython extension module (shmanager._core)
# linked with the static libshmanager, plus its pytest suite, cross-language checks and
# benchmarks. Python is $(PYTHON) (Debian's /usr/bin/python3 with python3-numpy, python3-dev
# and python3-pytest, installed by scripts/setup.sh).
#
#   make python            builds build/python/shmanager/ (import it with PYTHONPATH=build/python)
#   make python-test       runs the pytest suite (part of `make check`); PYTEST_ARGS="-k pickle -x"
#                          passes options to pytest
#   make python-bench      writes results/python-bench.json (part of `make bench`); PY_BENCH_ARGS
#                          "--no-big" skips the 10000x10000 comparison, "--quick" shortens
#   make install-python    installs the package into $(PYTHON_SITE) (default: the interpreter's
#                          site-packages, /usr/local/lib/python3.X/dist-packages on Debian)
#   make uninstall-python
#
# The extension always links the release library, whatever VARIANT says: a sanitizer build
# cannot be loaded into an uninstrumented interpreter.

PY_SRC := bindings/python
PY_BUILD := build/python
PY_PKG := $(PY_BUILD)/shmanager
PY_LIB_A := build/release/libshmanager.a

# The extension's file name carries the interpreter's tag (".cpython-311-x86_64-linux-gnu.so"),
# read when this file is; on a machine where $(PYTHON) is not installed yet (setup installs it)
# the plain ".so", which CPython imports as well. Include and site dirs are asked for in the
# recipes, after setup has run.
PY_EXT_SUFFIX := $(or $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX") or "")' \
  2>/dev/null),.so)
PY_QUERY = $$($(PYTHON) -c 'import sysconfig, sys; print(sysconfig.get_paths()[sys.argv[1]])' $(1))
# PYTHON_SITE: where install-python puts the package; default the interpreter's site-packages.
PYTHON_SITE ?=

PY_EXT := $(PY_PKG)/_core$(PY_EXT_SUFFIX)
PY_MODULES := $(patsubst $(PY_SRC)/shmanager/%,$(PY_PKG)/%,$(wildcard $(PY_SRC)/shmanager/*.py))
PY_XLANG := $(PY_BUILD)/tests/xlang
PY_VERSION_DIST := shmanager-$(VERSION).dist-info

# The C library's warnings; -fno-strict-aliasing as CPython builds its own extensions.
PY_CFLAGS = -std=c11 $(WARN) -fPIC -pthread -g -O2 -fvisibility=hidden \
  -fno-strict-aliasing $(CFLAGS)

ifneq ($(VARIANT),release)
$(PY_LIB_A): FORCE_PY_LIB
	$(MAKE) VARIANT=release $@
FORCE_PY_LIB:
.PHONY: FORCE_PY_LIB
endif

$(PY_BUILD)/obj/_core.o: $(PY_SRC)/src/_core.c $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -Icore/include -I"$(call PY_QUERY,include)" \
	  -I"$$($(PYTHON) -c 'import numpy; print(numpy.get_include())')" \
	  $(PY_CFLAGS) -c $< -o $@

# --exclude-libs keeps libshmanager's symbols out of the module's dynamic symbol table, so it
# cannot clash with another copy of the library loaded in the same process.
$(PY_EXT): $(PY_BUILD)/obj/_core.o $(PY_LIB_A)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,--exclude-libs,ALL -pthread $(LDFLAGS) $< $(PY_LIB_A) -o $@

$(PY_PKG)/%.py: $(PY_SRC)/shmanager/%.py
	@mkdir -p $(@D)
	cp $< $@

python: $(PY_EXT) $(PY_MODULES)

# The cross-language helper: a C process that creates/fills or attaches/verifies arrays.
$(PY_XLANG): $(PY_SRC)/tests/xlang.c $(PY_LIB_A) $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -Icore/include $(CFLAGS_COMMON) -O2 $(CFLAGS) $< $(PY_LIB_A) -pthread $(LDFLAGS) -o $@

# pytest exits 5 when it collected nothing: that is a failure here, not a pass. The CLI
# ($(CLI_BIN), from cli/cli.mk) is a prerequisite when that fragment is there: test_cli.py
# checks its seeded fill from Python.
python-test: python $(PY_XLANG) $(CLI_BIN)
	@PYTHONPATH=$(abspath $(PY_BUILD)) PYTHONDONTWRITEBYTECODE=1 SHMA_XLANG=$(abspath $(PY_XLANG)) \
	  SHMA_REQUIRE_XLANG=1 SHMA_CLI=$(abspath $(CLI_BIN)) \
	  $(PYTHON) -m pytest -p no:cacheprovider -q $(PYTEST_ARGS) $(PY_SRC)/tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "python-test: pytest collected no tests"; exit 1; fi; exit $$rc

# $(LIB_SO): the benchmark also times the ctypes design over the shared library.
python-bench: python $(LIB_SO)
	@mkdir -p results
	PYTHONPATH=$(abspath $(PY_BUILD)) PYTHONDONTWRITEBYTECODE=1 \
	  $(PYTHON) $(PY_SRC)/bench/bench_python.py --out results/python-bench.json $(PY_BENCH_ARGS)

install-python: python
	@site='$(PYTHON_SITE)'; [ -n "$$site" ] || site="$(call PY_QUERY,platlib)"; dest="$(DESTDIR)$$site"; \
	set -e -x; \
	install -d "$$dest/shmanager" "$$dest/$(PY_VERSION_DIST)"; \
	install -m 644 $(PY_MODULES) "$$dest/shmanager/"; \
	install -m 755 $(PY_EXT) "$$dest/shmanager/"; \
	printf 'Metadata-Version: 2.1\nName: shmanager\nVersion: $(VERSION)\nSummary: NumPy arrays shared between processes through POSIX shared memory\n' \
	  > "$$dest/$(PY_VERSION_DIST)/METADATA"; \
	echo make > "$$dest/$(PY_VERSION_DIST)/INSTALLER"; \
	cd "$$dest" && { ls shmanager/* | sed 's/$$/,,/'; \
	  printf '%s,,\n' $(PY_VERSION_DIST)/METADATA $(PY_VERSION_DIST)/INSTALLER $(PY_VERSION_DIST)/RECORD; } \
	  > $(PY_VERSION_DIST)/RECORD; \
	set +x; echo "installed shmanager $(VERSION) into $$dest"

uninstall-python:
	@site='$(PYTHON_SITE)'; [ -n "$$site" ] || site="$(call PY_QUERY,platlib)"; \
	set -x; rm -rf "$(DESTDIR)$$site/shmanager" "$(DESTDIR)$$site/$(PY_VERSION_DIST)"

ALL_EXTRA += python
CHECK_EXTRA += python-test
BENCH_EXTRA += python-bench

.PHONY: python python-test python-bench install-python uninstall-python
