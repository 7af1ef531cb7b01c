# core/: libshmanager, static and shared, and its unit tests (cmocka).

CORE_SRCS := $(wildcard core/src/*.c)
CORE_OBJS := $(patsubst core/src/%.c,$(B)/core/%.o,$(CORE_SRCS))

SONAME := libshmanager.so.$(VERSION_MAJOR)
LIB_A := $(B)/libshmanager.a
LIB_SO := $(B)/libshmanager.so.$(VERSION)
PC_FILE := $(B)/shmanager.pc

$(B)/core/%.o: core/src/%.c core/src/*.h $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -DSHMA_BUILDING_LIBRARY $(ALL_CFLAGS) -fvisibility=hidden -c $< -o $@

$(LIB_A): $(CORE_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(CORE_OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(ALL_LDFLAGS) $^ -o $@
	ln -sf $(notdir $@) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/libshmanager.so

$(PC_FILE): core/shmanager.pc.in $(HEADER)
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

# Unit tests: one binary per core/test/test_*.c, linked statically against the library.
CORE_TEST_SRCS := $(wildcard core/test/test_*.c)
CORE_TESTS := $(patsubst core/test/%.c,$(B)/test/%,$(CORE_TEST_SRCS))
TESTS += $(CORE_TESTS)

$(B)/test/%: core/test/%.c core/test/*.h $(LIB_A) $(HEADER) core/src/internal.h | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -Icore/test $(ALL_CFLAGS) $< $(LIB_A) $(ALL_LDFLAGS) -lcmocka -o $@
