/*
 * fuzz/dtype.c: the NumPy dtype-string parser (shma_dtype_parse) and the unsafe path's lookup
 * (shma__dtype_lookup_fast) on arbitrary strings.
 *
 * Properties:
 *  - Accepted: itemsize >= 1; kind, byte order and the canonical `str` are consistent with each
 *    other as NumPy spells dtype.str ("<f8", "|S10", "<U3" = 12 bytes, "<M8[ns]"); `str` is
 *    NUL-terminated and zero-padded, and re-parses to exactly the same shma_dtype (a fixed
 *    point), through both the parser and the fast lookup.
 *  - Rejected: SHMA_E_DTYPE with a non-empty, printable detail message, and *out untouched.
 *  - The fast lookup gives the parser's result whenever the parser accepts; whatever it
 *    accepts on its own is still a well-formed dtype; it never writes a detail message.
 * The input is copied into a buffer of exactly its length plus the NUL, so ASan catches a read
 * past the terminator.
 */
#include "fuzz_helpers.h"

/* Longer than the parser's 64-byte input bound, so its length check is exercised. */
#define INPUT_MAX 200

static bool is_printable_text(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) return false;
    return true;
}

/* Parses the decimal digits at s; *end gets the first non-digit. -1 if there are none or the
 * value exceeds UINT32_MAX. */
static int64_t read_digits(const char *s, const char **end) {
    int64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > (int64_t)UINT32_MAX) return -1;
    }
    *end = p;
    return p == s ? -1 : v;
}

static bool is_unit(const char *u, size_t n) {
    static const char *const units[] = {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"};
    for (size_t i = 0; i < FUZZ_COUNT(units); i++)
        if (strlen(units[i]) == n && memcmp(units[i], u, n) == 0) return true;
    return false;
}

/* The invariants of an accepted dtype, from its canonical string as NumPy writes dtype.str. */
static void check_well_formed(const shma_dtype *d, const char *input) {
    FUZZ_ASSERT_MSG(d->itemsize >= 1, "'%s': itemsize 0", input);
    const char *nul = memchr(d->str, '\0', sizeof d->str);
    FUZZ_ASSERT_MSG(nul != NULL, "'%s': str not NUL-terminated", input);
    for (const char *p = nul; p < d->str + sizeof d->str; p++)
        FUZZ_ASSERT_MSG(*p == '\0', "'%s': str not zero-padded", input);
    FUZZ_ASSERT_MSG(strchr("biufcSUVMm", d->kind) != NULL && d->kind != '\0', "'%s': kind '%c'", input, d->kind);
    FUZZ_ASSERT_MSG(d->byteorder == '<' || d->byteorder == '>' || d->byteorder == '|', "'%s': byteorder '%c'",
                    input, d->byteorder);
    FUZZ_ASSERT_MSG(d->str[0] == d->byteorder && d->str[1] == d->kind, "'%s': str '%s' vs kind '%c' order '%c'",
                    input, d->str, d->kind, d->byteorder);

    bool orderless = d->kind == 'b' || d->kind == 'S' || d->kind == 'V' || d->itemsize == 1;
    FUZZ_ASSERT_MSG(orderless == (d->byteorder == '|'), "'%s': str '%s' byte order", input, d->str);

    const char *end;
    int64_t n = read_digits(d->str + 2, &end);
    if (d->kind == 'M' || d->kind == 'm') {
        FUZZ_ASSERT_MSG(n == 8 && d->itemsize == 8, "'%s': datetime str '%s' itemsize %u", input, d->str,
                        d->itemsize);
        if (*end != '\0') {
            /* "[unit]" or "[Nunit]": N canonical decimal, never 1 (a multiplier of 1 is not
             * written); NumPy can produce 0 ("M8[W/11]"), so 0 is allowed here. */
            FUZZ_ASSERT_MSG(*end == '[' && end[strlen(end) - 1] == ']', "'%s': datetime str '%s'", input, d->str);
            const char *unit = end + 1;
            if (*unit >= '0' && *unit <= '9') {
                int64_t mult = read_digits(unit, &unit);
                bool canonical = mult >= 0 && mult != 1 && (end[1] != '0' || unit == end + 2);
                FUZZ_ASSERT_MSG(canonical, "'%s': datetime multiplier in '%s'", input, d->str);
            }
            size_t ulen = strlen(unit) - 1;
            FUZZ_ASSERT_MSG(is_unit(unit, ulen), "'%s': datetime unit in '%s'", input, d->str);
        }
    } else {
        FUZZ_ASSERT_MSG(n >= 1 && *end == '\0' && d->str[2] != '0', "'%s': str '%s' size digits", input, d->str);
        uint64_t want = (uint64_t)n * (d->kind == 'U' ? 4u : 1u);
        FUZZ_ASSERT_MSG(want == d->itemsize, "'%s': str '%s' says %llu bytes, itemsize %u", input, d->str,
                        (unsigned long long)want, d->itemsize);
    }
}

static bool same_dtype(const shma_dtype *a, const shma_dtype *b) {
    return memcmp(a->str, b->str, sizeof a->str) == 0 && a->kind == b->kind && a->byteorder == b->byteorder &&
           a->itemsize == b->itemsize;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_MAX) size = INPUT_MAX;
    char *s = malloc(size + 1);
    FUZZ_ASSERT(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';

    shma_dtype d, sentinel;
    memset(&sentinel, 0x5a, sizeof sentinel);
    d = sentinel;
    fuzz_clear_error();
    int rc = shma_dtype_parse(s, &d);

    /* The fast lookup: no detail message, whatever the outcome. */
    (void)shma__fail(SHMA_OK, "%s", "sentinel");
    shma_dtype fast = sentinel;
    int fast_rc = shma__dtype_lookup_fast(s, &fast);
    FUZZ_ASSERT_MSG(strcmp(shma_last_error(), "sentinel") == 0, "lookup_fast('%s') wrote a detail message", s);
    FUZZ_ASSERT_MSG(fast_rc == SHMA_OK || fast_rc == SHMA_E_DTYPE, "lookup_fast returned %d", fast_rc);
    if (fast_rc == SHMA_OK) check_well_formed(&fast, s);

    if (rc != SHMA_OK) {
        FUZZ_ASSERT_EQ(rc, SHMA_E_DTYPE);
        fuzz_clear_error();
        rc = shma_dtype_parse(s, &d); /* again, to see that it sets the message itself */
        FUZZ_ASSERT_EQ(rc, SHMA_E_DTYPE);
        FUZZ_ASSERT_CLEAN_ERROR(rc);
        FUZZ_ASSERT_MSG(is_printable_text(shma_last_error()), "detail holds raw control bytes");
        FUZZ_ASSERT_MSG(memcmp(&d, &sentinel, sizeof d) == 0, "rejected '%s' but wrote *out", s);
        free(s);
        return 0;
    }

    check_well_formed(&d, s);
    FUZZ_ASSERT_MSG(fast_rc == SHMA_OK && same_dtype(&fast, &d), "lookup_fast('%s') = %d '%s', parser says '%s'",
                    s, fast_rc, fast_rc == SHMA_OK ? fast.str : "", d.str);

    /* The canonical spelling is a fixed point, by either route. */
    char canon[SHMA_DTYPE_STR_MAX];
    memcpy(canon, d.str, sizeof canon);
    shma_dtype again = sentinel;
    rc = shma_dtype_parse(canon, &again);
    FUZZ_ASSERT_MSG(rc == SHMA_OK && same_dtype(&again, &d), "'%s' -> '%s' re-parses to %d '%s'", s, canon, rc,
                    rc == SHMA_OK ? again.str : "");
    shma_dtype again_fast = sentinel;
    rc = shma__dtype_lookup_fast(canon, &again_fast);
    FUZZ_ASSERT_MSG(rc == SHMA_OK && same_dtype(&again_fast, &d), "lookup_fast('%s') differs", canon);
    free(s);
    return 0;
}
