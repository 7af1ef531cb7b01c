# cli/: the `shmanager` command-line tool (built by `all`, installed by `install`) and its
# tests: cli/test/test_*.c are C tests run with the others by `make test`; the shell test of
# every subcommand runs from `make check` as `cli-test` (and `cli-test-asan`, the same script
# against the ASan+UBSan build of the tool).

CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(patsubst cli/%.c,$(B)/cli/%.o,$(CLI_SRCS))
CLI_BIN := $(B)/shmanager
# The tool and its tests see only the public header: core/src stays off their include path.
CLI_CPPFLAGS := $(filter-out -Icore/src,$(CPPFLAGS_ALL))

$(B)/cli/%.o: cli/%.c cli/cli.h $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(CLI_BIN): $(CLI_OBJS) $(LIB_A)
	$(CC) $(CLI_OBJS) $(LIB_A) $(ALL_LDFLAGS) -o $@

ALL_EXTRA += $(CLI_BIN)
INSTALL_EXTRA += install -m 755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/shmanager || exit 1;

# C tests across processes (attach by name alone), linked statically like the core's.
CLI_TEST_SRCS := $(wildcard cli/test/test_*.c)
CLI_TESTS := $(patsubst cli/test/%.c,$(B)/cli-test/%,$(CLI_TEST_SRCS))
TESTS += $(CLI_TESTS)

$(B)/cli-test/%: cli/test/%.c core/test/testutil.h $(LIB_A) $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Icore/test $(ALL_CFLAGS) $< $(LIB_A) $(ALL_LDFLAGS) -lcmocka -o $@

cli-test: $(CLI_BIN) | $(SETUP_STAMP)
	bash cli/test/test_cli.sh $(CLI_BIN)

cli-test-asan: | $(SETUP_STAMP)
	$(MAKE) VARIANT=asan cli-test

CHECK_EXTRA += cli-test cli-test-asan
.PHONY: cli-test cli-test-asan
