# examples/: programs that mirror the seed README's examples. `make example` runs the row sum.

EXAMPLES := $(B)/examples/rowsum

$(B)/examples/%: examples/%.c $(LIB_A) $(HEADER) | $(SETUP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(ALL_CFLAGS) $< $(LIB_A) $(ALL_LDFLAGS) -lm -o $@

example: $(B)/examples/rowsum
	$(B)/examples/rowsum $(EXAMPLE_ARGS)

ALL_EXTRA += $(EXAMPLES)
.PHONY: example
