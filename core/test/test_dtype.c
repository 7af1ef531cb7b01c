/*
 * test_dtype.c: the dtype parser, branch by branch, then against NumPy's own answers in
 * core/test/dtype_vectors.txt (written by scripts/gen-dtype-vectors.py). Runs from the repo
 * root, or from anywhere with SHMA_SRCDIR set to it.
 */
#include "testutil.h"

#include "internal.h"

#include <limits.h>

/* dtype.c's bound on input length; the vector test needs it to name a deliberate rejection. */
#define DTYPE_INPUT_MAX 64

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

typedef struct ok_case {
    const char *in;
    const char *str;
    uint32_t itemsize;
    char kind;
} ok_case;

static void check_ok(const char *in, const char *str, uint32_t itemsize, char kind) {
    shma_dtype d;
    memset(&d, 0xab, sizeof d);
    int rc = shma_dtype_parse(in, &d);
    if (rc != SHMA_OK) fail_msg("dtype '%s' returned %s: %s", in, shma_errname(rc), shma_last_error());
    if (strcmp(d.str, str) != 0) fail_msg("dtype '%s' gave str '%s', expected '%s'", in, d.str, str);
    if (d.itemsize != itemsize)
        fail_msg("dtype '%s' gave itemsize %u, expected %u", in, (unsigned)d.itemsize, (unsigned)itemsize);
    if (d.kind != kind) fail_msg("dtype '%s' gave kind '%c', expected '%c'", in, d.kind, kind);
    if (d.byteorder != str[0])
        fail_msg("dtype '%s' gave byteorder '%c' for str '%s'", in, d.byteorder, d.str);
    /* The trailer stores str whole: the bytes after the NUL must be zero, not stale. */
    for (size_t i = strlen(d.str); i < sizeof d.str; i++)
        if (d.str[i] != '\0') fail_msg("dtype '%s': str byte %zu after the NUL is not zero", in, i);
}

static void check_cases(const ok_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) check_ok(cases[i].in, cases[i].str, cases[i].itemsize, cases[i].kind);
}

/* Asserts the parse fails with SHMA_E_DTYPE, a detail containing `needle`, and *out untouched. */
static void check_fails(const char *in, const char *needle) {
    shma_dtype d, before;
    memset(&d, 0x5a, sizeof d);
    before = d;
    assert_shma_fails(shma_dtype_parse(in, &d), SHMA_E_DTYPE, needle);
    if (memcmp(&d, &before, sizeof d) != 0) fail_msg("dtype '%s': out was written on failure", in);
}

/* Asserts the whole detail message. */
static void check_message(const char *in, const char *message) {
    shma_dtype d;
    assert_int_equal(shma_dtype_parse(in, &d), SHMA_E_DTYPE);
    assert_string_equal(shma_last_error(), message);
}

#define CHECK_CASES(cases) check_cases((cases), sizeof(cases) / sizeof((cases)[0]))

/* ---------------------------------------------------------------------------------------------
 * Accepted spellings
 * ------------------------------------------------------------------------------------------- */

static void test_names(void **state) {
    (void)state;
    static const ok_case cases[] = {
        {"float64", "<f8", 8, 'f'},       {"float32", "<f4", 4, 'f'},
        {"float16", "<f2", 2, 'f'},       {"float128", "<f16", 16, 'f'},
        {"longdouble", "<f16", 16, 'f'},  {"longfloat", "<f16", 16, 'f'},
        {"double", "<f8", 8, 'f'},        {"single", "<f4", 4, 'f'},
        {"half", "<f2", 2, 'f'},          {"float", "<f8", 8, 'f'},
        {"float_", "<f8", 8, 'f'},        {"int", "<i8", 8, 'i'},
        {"int8", "|i1", 1, 'i'},          {"int16", "<i2", 2, 'i'},
        {"int32", "<i4", 4, 'i'},         {"int64", "<i8", 8, 'i'},
        {"uint8", "|u1", 1, 'u'},         {"uint16", "<u2", 2, 'u'},
        {"uint32", "<u4", 4, 'u'},        {"uint64", "<u8", 8, 'u'},
        {"bool", "|b1", 1, 'b'},          {"bool_", "|b1", 1, 'b'},
        {"bool8", "|b1", 1, 'b'},         {"byte", "|i1", 1, 'i'},
        {"ubyte", "|u1", 1, 'u'},         {"short", "<i2", 2, 'i'},
        {"ushort", "<u2", 2, 'u'},        {"intc", "<i4", 4, 'i'},
        {"uintc", "<u4", 4, 'u'},         {"int_", "<i8", 8, 'i'},
        {"int0", "<i8", 8, 'i'},          {"intp", "<i8", 8, 'i'},
        {"long", "<i8", 8, 'i'},          {"longlong", "<i8", 8, 'i'},
        {"uint", "<u8", 8, 'u'},          {"uint0", "<u8", 8, 'u'},
        {"uintp", "<u8", 8, 'u'},         {"ulong", "<u8", 8, 'u'},
        {"ulonglong", "<u8", 8, 'u'},     {"complex", "<c16", 16, 'c'},
        {"complex64", "<c8", 8, 'c'},     {"complex128", "<c16", 16, 'c'},
        {"complex256", "<c32", 32, 'c'},  {"complex_", "<c16", 16, 'c'},
        {"csingle", "<c8", 8, 'c'},       {"singlecomplex", "<c8", 8, 'c'},
        {"cfloat", "<c16", 16, 'c'},      {"cdouble", "<c16", 16, 'c'},
        {"clongdouble", "<c32", 32, 'c'}, {"clongfloat", "<c32", 32, 'c'},
        {"longcomplex", "<c32", 32, 'c'}, {"datetime64", "<M8", 8, 'M'},
        {"timedelta64", "<m8", 8, 'm'},
    };
    CHECK_CASES(cases);
}

static void test_codes(void **state) {
    (void)state;
    static const ok_case cases[] = {
        {"?", "|b1", 1, 'b'},  {"b", "|i1", 1, 'i'},  {"B", "|u1", 1, 'u'},  {"h", "<i2", 2, 'i'},
        {"H", "<u2", 2, 'u'},  {"i", "<i4", 4, 'i'},  {"I", "<u4", 4, 'u'},  {"l", "<i8", 8, 'i'},
        {"L", "<u8", 8, 'u'},  {"q", "<i8", 8, 'i'},  {"Q", "<u8", 8, 'u'},  {"p", "<i8", 8, 'i'},
        {"P", "<u8", 8, 'u'},  {"e", "<f2", 2, 'f'},  {"f", "<f4", 4, 'f'},  {"d", "<f8", 8, 'f'},
        {"g", "<f16", 16, 'f'}, {"F", "<c8", 8, 'c'}, {"D", "<c16", 16, 'c'}, {"G", "<c32", 32, 'c'},
        {"c", "|S1", 1, 'S'},  {"M", "<M8", 8, 'M'},  {"m", "<m8", 8, 'm'},  {">d", ">f8", 8, 'f'},
        {"<?", "|b1", 1, 'b'}, {">c", "|S1", 1, 'S'},
    };
    CHECK_CASES(cases);
}

static void test_kind_and_size(void **state) {
    (void)state;
    static const ok_case cases[] = {
        {"b1", "|b1", 1, 'b'},   {"i1", "|i1", 1, 'i'},   {"i2", "<i2", 2, 'i'},
        {"i4", "<i4", 4, 'i'},   {"i8", "<i8", 8, 'i'},   {"u1", "|u1", 1, 'u'},
        {"u2", "<u2", 2, 'u'},   {"u4", "<u4", 4, 'u'},   {"u8", "<u8", 8, 'u'},
        {"f2", "<f2", 2, 'f'},   {"f4", "<f4", 4, 'f'},   {"f8", "<f8", 8, 'f'},
        {"f16", "<f16", 16, 'f'}, {"c8", "<c8", 8, 'c'},  {"c16", "<c16", 16, 'c'},
        {"c32", "<c32", 32, 'c'}, {"M8", "<M8", 8, 'M'},  {"m8", "<m8", 8, 'm'},
        /* NumPy reads the size with strtol: spaces, a sign and leading zeros pass. */
        {"f 8", "<f8", 8, 'f'},  {"f+8", "<f8", 8, 'f'},  {"f08", "<f8", 8, 'f'},
        {"f  +008", "<f8", 8, 'f'}, {"M08", "<M8", 8, 'M'}, {"m 8", "<m8", 8, 'm'},
    };
    CHECK_CASES(cases);
}

static void test_byte_order(void **state) {
    (void)state;
    static const ok_case cases[] = {
        {"<f8", "<f8", 8, 'f'},  {">f8", ">f8", 8, 'f'},  {"=f8", "<f8", 8, 'f'},
        {"|f8", "<f8", 8, 'f'},  {">i1", "|i1", 1, 'i'},  {"<u1", "|u1", 1, 'u'},
        {">b1", "|b1", 1, 'b'},  {">S5", "|S5", 5, 'S'},  {">V4", "|V4", 4, 'V'},
        {">U3", ">U3", 12, 'U'}, {"|U3", "<U3", 12, 'U'}, {"=U3", "<U3", 12, 'U'},
        {">c16", ">c16", 16, 'c'}, {">e", ">f2", 2, 'f'},  {"|M8", "<M8", 8, 'M'},
        {">M8[ns]", ">M8[ns]", 8, 'M'}, {">timedelta64[s]", ">m8[s]", 8, 'm'},
    };
    CHECK_CASES(cases);
}

static void test_flexible(void **state) {
    (void)state;
    static const ok_case cases[] = {
        {"S1", "|S1", 1, 'S'},       {"S10", "|S10", 10, 'S'},    {"a5", "|S5", 5, 'S'},
        {"U1", "<U1", 4, 'U'},       {"U3", "<U3", 12, 'U'},      {"V16", "|V16", 16, 'V'},
        {"S+5", "|S5", 5, 'S'},      {"S 5", "|S5", 5, 'S'},      {"<a3", "|S3", 3, 'S'},
        {"S2147483647", "|S2147483647", 2147483647u, 'S'},
        {"V2147483647", "|V2147483647", 2147483647u, 'V'},
        {"U536870911", "<U536870911", 2147483644u, 'U'},
    };
    CHECK_CASES(cases);
}

static void test_datetime(void **state) {
    (void)state;
    static const ok_case cases[] = {
        {"M8[ns]", "<M8[ns]", 8, 'M'},               {"m8[s]", "<m8[s]", 8, 'm'},
        {"datetime64[ns]", "<M8[ns]", 8, 'M'},       {"timedelta64[D]", "<m8[D]", 8, 'm'},
        {"M8[10ms]", "<M8[10ms]", 8, 'M'},           {"M8[1Y]", "<M8[Y]", 8, 'M'},
        {"M8[\xce\xbcs]", "<M8[us]", 8, 'M'},        {"M8[generic]", "<M8", 8, 'M'},
        {"M8[5generic]", "<M8", 8, 'M'},             {"M8[generic/1]", "<M8", 8, 'M'},
        {"M8[0s]", "<M8[0s]", 8, 'M'},               {"M8[-0s]", "<M8[0s]", 8, 'M'},
        {"M8[ 5s]", "<M8[5s]", 8, 'M'},              {"M8[+5s]", "<M8[5s]", 8, 'M'},
        {"M8[s/1000]", "<M8[ms]", 8, 'M'},           {"M8[s/ 1000]", "<M8[ms]", 8, 'M'},
        {"M8[s/2]", "<M8[500ms]", 8, 'M'},           {"M8[D/24]", "<M8[h]", 8, 'M'},
        {"M8[W/7]", "<M8[D]", 8, 'M'},               {"M8[W/5]", "<M8[2016m]", 8, 'M'},
        {"M8[Y/4]", "<M8[3M]", 8, 'M'},              {"M8[m/60000]", "<M8[ms]", 8, 'M'},
        {"M8[fs/1000]", "<M8[as]", 8, 'M'},          {"M8[ps/1000000]", "<M8[as]", 8, 'M'},
        {"M8[ns/1]", "<M8[ns]", 8, 'M'},             {"M8[99999999ns]", "<M8[99999999ns]", 8, 'M'},
        {"<datetime64[2D]", "<M8[2D]", 8, 'M'},      {"|m8[2D]", "<m8[2D]", 8, 'm'},
    };
    CHECK_CASES(cases);
}

/* ---------------------------------------------------------------------------------------------
 * Rejections, one per branch
 * ------------------------------------------------------------------------------------------- */

static void test_null_arguments(void **state) {
    (void)state;
    shma_dtype d;
    assert_shma_fails(shma_dtype_parse(NULL, &d), SHMA_E_ARG, "dtype string is NULL");
    assert_shma_fails(shma_dtype_parse("f8", NULL), SHMA_E_ARG, "output pointer is NULL");
}

static void test_empty_long_and_control(void **state) {
    (void)state;
    check_message("", "dtype '' is empty");
    char longest[DTYPE_INPUT_MAX + 1];
    memset(longest, '0', DTYPE_INPUT_MAX);
    longest[0] = 'f';
    longest[DTYPE_INPUT_MAX - 1] = '8';
    longest[DTYPE_INPUT_MAX] = '\0';
    check_ok(longest, "<f8", 8, 'f');

    char too_long[DTYPE_INPUT_MAX + 2];
    memset(too_long, '0', sizeof too_long);
    too_long[0] = 'f';
    too_long[DTYPE_INPUT_MAX] = '8';
    too_long[DTYPE_INPUT_MAX + 1] = '\0';
    check_fails(too_long, "is longer than 64 bytes");
    check_fails(too_long, "0000...'"); /* the quote is cut, and says so */

    /* NumPy reads "\x0c" as type number 12 (float64) and strtol skips the tab in "f\t8". */
    check_message("\x0c", "dtype '\\x0c' contains a control character");
    check_fails("f\t8", "contains a control character");
    check_fails("f8\n", "'f8\\x0a'");
    check_fails("f8\x7f", "contains a control character");
}

static void test_quoting(void **state) {
    (void)state;
    check_message("it's", "dtype 'it\\'s' is not a NumPy dtype");
    check_message("a\\b", "dtype 'a\\\\b' is not a NumPy dtype");
    check_message("\xff", "dtype '\\xff' is not a NumPy dtype");
    check_message("f\xc3\xa9" "8", "dtype 'f\\xc3\\xa98' is not a NumPy dtype");
}

static void test_comma_strings(void **state) {
    (void)state;
    check_message("i4,f8", "dtype 'i4,f8' is structured; only plain dtypes are supported");
    check_fails("f8,", "is structured"); /* float64 in NumPy */
    check_fails(",", "is structured");
    check_fails("i4, f8", "is structured");
    check_message("2f8", "dtype '2f8' has a subarray shape; only plain dtypes are supported");
    check_fails("1f8", "has a subarray shape"); /* float64 in NumPy, with a FutureWarning */
    check_fails("<2f8", "has a subarray shape");
    check_fails("()f8", "has a subarray shape");
    check_fails("<()f8", "has a subarray shape");
    check_fails("(2,3)i4", "is structured");
    /* Commas inside brackets belong to datetime units, as in NumPy. */
    check_fails("M8[1,2]", "unknown datetime unit ',2'");
    /* NumPy counts brackets without matching them: after "]" the depth is -1. */
    check_fails("],f8", "is not a NumPy dtype");
    /* "<()" is too short for NumPy's empty-shape check (len > 3), so it is just unknown. */
    check_fails("<()", "is not a NumPy dtype");
    check_fails("(2)f8", "is not a NumPy dtype");
}

static void test_objects(void **state) {
    (void)state;
    check_message("O", "dtype 'O' holds Python objects and cannot be shared");
    check_fails("object", "holds Python objects");
    check_fails("object_", "holds Python objects");
    check_fails("O8", "holds Python objects");
    check_fails("O4", "holds Python objects");
    check_fails(">O", "holds Python objects");
    check_fails("O0", "is not a NumPy dtype");
    check_fails("O16", "is not a NumPy dtype");
}

static void test_unsized(void **state) {
    (void)state;
    check_message("S0", "dtype 'S0' has no size");
    const char *const unsized[] = {"S", "U", "V", "a", "U0", "V0", "S-0", "<U", "str", "bytes",
                                   "void", "unicode", "string_", "str_", "bytes_", "void0"};
    for (size_t i = 0; i < sizeof unsized / sizeof unsized[0]; i++) check_fails(unsized[i], "has no size");
}

static void test_sizes(void **state) {
    (void)state;
    check_message("S-5", "dtype 'S-5' has a negative size");
    check_fails("U-1", "has a negative size");
    check_message("S99999999999999999999", "dtype 'S99999999999999999999' has a size that overflows");
    check_fails("S2147483648", "has a size that overflows");
    check_fails("S4294967297", "has a size that overflows"); /* S1 in NumPy */
    check_fails("U536870912", "has a size that overflows");  /* 4 * 536870912 wraps an int */
    check_fails("U1073741825", "has a size that overflows"); /* U1 in NumPy */
    check_fails("f4294967304", "has a size that overflows"); /* f8 in NumPy */
    check_fails("i-4294967292", "has a size that overflows");
    /* An unknown kind with a huge size is just unknown. */
    check_fails("x4294967304", "is not a NumPy dtype");
    check_fails("f-8", "is not a NumPy dtype");
    check_fails("f0", "is not a NumPy dtype");
    check_fails("f7", "is not a NumPy dtype");
    check_fails("c5", "is not a NumPy dtype");
    check_fails("b2", "is not a NumPy dtype");
}

static void test_not_a_dtype(void **state) {
    (void)state;
    check_message("foo", "dtype 'foo' is not a NumPy dtype");
    const char *const bad[] = {"<float64", "Float64", "float64 ", " f8", "f8 ", "!f8", "!",
                               "<>f8", "x", "j", "float8", "int128", "Uint32", "f8x", "i4\xc2\xa0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) check_fails(bad[i], "is not a NumPy dtype");
    check_message("<", "dtype '<' is a byte order without a type");
    check_fails("|", "is a byte order without a type");
}

static void test_datetime_errors(void **state) {
    (void)state;
    const char *const malformed[] = {"M8[", "M8]", "M8[]", "M8[ns", "M8ns", "M8[ns]x", "M8[ns]]",
                                     "M8 [ns]", "M80", "datetime64ns", "timedelta64[", "M8[]]"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        check_fails(malformed[i], "has malformed datetime units");
    check_message("M8[xs]", "dtype 'M8[xs]' has an unknown datetime unit 'xs'");
    check_fails("M8[ns ]", "unknown datetime unit 'ns '");
    check_fails("M8[5 s]", "unknown datetime unit ' s'");
    check_fails("M8[/2]", "unknown datetime unit ''");
    check_fails("M8[\xc2\xb5s]", "unknown datetime unit '\\xc2\\xb5s'"); /* micro sign, not mu */
    check_fails("M8[-5s]", "has a datetime multiplier out of range 0..2147483647");
    check_fails("M8[2147483648s]", "has a datetime multiplier out of range");
    check_fails("M8[s/]", "has a malformed datetime divisor");
    check_fails("M8[s/2 ]", "has a malformed datetime divisor");
    check_fails("M8[s/2/5]", "has a malformed datetime divisor");
    /* NumPy crashes (SIGFPE) on a zero divisor and makes negative units of a negative one. */
    check_fails("M8[s/0]", "has a datetime divisor out of range 1..2147483647");
    check_fails("M8[s/-1]", "has a datetime divisor out of range");
    check_fails("M8[s/4294967297]", "has a datetime divisor out of range");
    check_message("M8[generic/2]", "dtype 'M8[generic/2]' divides generic datetime units");
    check_message("M8[D/7]", "dtype 'M8[D/7]' has a datetime divisor 7 that splits D into no smaller unit");
    check_fails("M8[W/11]", "splits W into no smaller unit"); /* NumPy: M8[0Y] */
    check_fails("M8[as/2]", "splits as into no smaller unit");
    check_fails("M8[fs/1000000]", "splits fs into no smaller unit");
    check_fails("M8[60000000W/2]", "has a datetime multiplier that overflows");
    check_message("M8[2147483647as]", "dtype 'M8[2147483647as]' is '<M8[2147483647as]' in NumPy, "
                                      "longer than the 15 characters a shared dtype holds");
    check_fails("M8[999999999ns]", "longer than the 15 characters");
}

/* ---------------------------------------------------------------------------------------------
 * The unsafe path's lookup
 * ------------------------------------------------------------------------------------------- */

static void test_fast_lookup(void **state) {
    (void)state;
    const char *const spellings[] = {"float64", "<f8", "f8", "float32", "<f4", "int64", "int32",
                                     "uint8", "|u1", "bool", "|b1", ">f8", "=i4", "c16", "i08",
                                     "m8", "M8[ns]", "S10", "<U3", "double", "longdouble"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        shma_dtype slow, fast;
        assert_shma_ok(shma_dtype_parse(spellings[i], &slow));
        assert_int_equal(shma__dtype_lookup_fast(spellings[i], &fast), SHMA_OK);
        assert_string_equal(fast.str, slow.str);
        assert_memory_equal(fast.str, slow.str, sizeof fast.str);
        assert_int_equal(fast.itemsize, slow.itemsize);
        assert_int_equal(fast.kind, slow.kind);
        assert_int_equal(fast.byteorder, slow.byteorder);
    }

    /* Rejections give SHMA_E_DTYPE and leave the thread's detail message alone. */
    const char *const rejected[] = {"O", "object", "S0", "str", "i4,f8", "f7", "m80", "foo", "",
                                    "<", "M8[s/0]", "f\t8", "z8", "O8", "b2"};
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        shma__fail(SHMA_E_ARG, "sentinel");
        shma_dtype d;
        if (shma__dtype_lookup_fast(rejected[i], &d) != SHMA_E_DTYPE)
            fail_msg("fast lookup accepted '%s'", rejected[i]);
        if (strcmp(shma_last_error(), "sentinel") != 0)
            fail_msg("fast lookup of '%s' set the detail \"%s\"", rejected[i], shma_last_error());
    }
    shma_dtype d;
    assert_int_equal(shma__dtype_lookup_fast(NULL, &d), SHMA_E_DTYPE);
}

/* ---------------------------------------------------------------------------------------------
 * NumPy's answers
 * ------------------------------------------------------------------------------------------- */

/* NumPy hands these to its structured-dtype parser (_check_for_commastring in descriptor.c): a
 * comma outside brackets, a leading repeat count, or a leading "()". */
static bool numpy_comma_string(const char *s, size_t len) {
    bool order0 = len > 1 && strchr("<>|=", s[0]) != NULL;
    if ((s[0] >= '0' && s[0] <= '9') || (order0 && s[1] >= '0' && s[1] <= '9')) return true;
    if ((len > 1 && s[0] == '(' && s[1] == ')') || (len > 3 && order0 && s[1] == '(' && s[2] == ')'))
        return true;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '[') depth++;
        if (s[i] == ']') depth--;
        if (s[i] == ',' && depth == 0) return true;
    }
    return false;
}

/* Whether a number in s would wrap around in NumPy's C int: any digit run above INT_MAX, or a
 * 'U' count above INT_MAX / 4, which NumPy multiplies by 4. */
static bool numpy_int_wraps(const char *s, size_t len) {
    size_t kind_at = len > 1 && strchr("<>|=", s[0]) != NULL ? 1 : 0;
    bool first_run = true;
    for (size_t i = 0; i < len;) {
        if (s[i] < '0' || s[i] > '9') {
            i++;
            continue;
        }
        long long v = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) v = v < INT_MAX ? v * 10 + (s[i] - '0') : v;
        if (v > INT_MAX) return true;
        if (first_run && s[kind_at] == 'U' && v > INT_MAX / 4) return true;
        first_run = false;
    }
    return false;
}

/* Strings NumPy 1.24 accepts that we reject on purpose, and why; NULL for the others. */
static const char *deliberate_rejection(const char *s, size_t len, const char *np_str, long long np_itemsize,
                                        char np_kind) {
    if (np_kind == 'O') return "holds Python objects";
    if (len > DTYPE_INPUT_MAX) return "longer than the input bound";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return "control byte (NumPy reads \"\\x0c\" as type number 12; strtol skips \"\\t\")";
    if (numpy_comma_string(s, len)) return "structured, subarray or other comma-string syntax";
    if (np_itemsize <= 0) return "unsized flexible type, or a size NumPy wrapped to <= 0";
    if (numpy_int_wraps(s, len)) return "a number NumPy wraps around in a C int";
    if (strlen(np_str) >= SHMA_DTYPE_STR_MAX) return "canonical string longer than 15 characters";
    if (strstr(np_str, "[-") != NULL) return "negative datetime divisor";
    /* NumPy tries a fourth, zero, multiple for weeks and gets M8[0Y] when none divides. */
    if (strstr(np_str, "[0Y]") != NULL && strstr(s, "W/") != NULL) return "week divisor past NumPy's table";
    /* 60000000 x 84 hours wraps NumPy's int multiplier to a positive 745032704. */
    const char *body = strchr("<>|=", s[0]) != NULL ? s + 1 : s;
    if (strcmp(body, "M8[60000000W/2]") == 0) return "datetime multiplier times divisor overflows";
    return NULL;
}

/* Decodes the file's escaping (\xHH) into out; returns the length or -1. */
static long unescape(const char *text, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; text[i] != '\0'; n++) {
        if (n + 1 >= cap) return -1;
        if (text[i] != '\\') {
            out[n] = text[i++];
            continue;
        }
        unsigned int byte;
        if (text[i + 1] != 'x' || sscanf(text + i + 2, "%2x", &byte) != 1 || byte == 0) return -1;
        out[n] = (char)byte;
        i += 4;
    }
    out[n] = '\0';
    return (long)n;
}

#define LINE_MAX_BYTES 32768
#define SHOW_MAX 25

typedef struct vector_stats {
    long lines, accepted, rejected, deliberate, mismatches;
} vector_stats;

static void mismatch(vector_stats *st, long lineno, const char *line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void mismatch(vector_stats *st, long lineno, const char *line, const char *fmt, ...) {
    if (st->mismatches++ < SHOW_MAX) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "dtype_vectors.txt:%ld: %s\n    ", lineno, line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
}

static bool same_dtype(const shma_dtype *a, const shma_dtype *b) {
    return memcmp(a->str, b->str, sizeof a->str) == 0 && a->kind == b->kind &&
           a->byteorder == b->byteorder && a->itemsize == b->itemsize;
}

static void check_vector(vector_stats *st, long lineno, char *line) {
    char *fields[5] = {0};
    int nf = 0;
    for (char *p = line; nf < 5; nf++) {
        fields[nf] = p;
        p = strchr(p, '\t');
        if (p == NULL) {
            nf++;
            break;
        }
        *p++ = '\0';
    }
    char input[LINE_MAX_BYTES];
    long len = unescape(fields[0], input, sizeof input);
    bool numpy_ok = nf == 5 && strcmp(fields[1], "ok") == 0;
    if (len <= 0 || !(numpy_ok || (nf == 2 && strcmp(fields[1], "err") == 0)))
        fail_msg("dtype_vectors.txt:%ld: malformed line", lineno);
    st->lines++;

    /* Parsed from an exact-size heap copy, so ASan and valgrind catch a read past the NUL. */
    char *exact = malloc((size_t)len + 1);
    assert_non_null(exact);
    memcpy(exact, input, (size_t)len + 1);
    shma_dtype d, fast;
    int rc = shma_dtype_parse(exact, &d);
    char detail[512];
    snprintf(detail, sizeof detail, "%s", shma_last_error());
    int fast_rc = shma__dtype_lookup_fast(exact, &fast);
    free(exact);
    const char *why = NULL;
    if (numpy_ok) {
        char np_str[64] = "", np_kind[8] = "";
        if (unescape(fields[2], np_str, sizeof np_str) < 0 || unescape(fields[4], np_kind, sizeof np_kind) != 1)
            fail_msg("dtype_vectors.txt:%ld: malformed ok fields", lineno);
        long long np_itemsize = strtoll(fields[3], NULL, 10);
        why = deliberate_rejection(input, (size_t)len, np_str, np_itemsize, np_kind[0]);
        if (why == NULL) {
            if (rc != SHMA_OK) {
                mismatch(st, lineno, fields[0], "NumPy gives %s, we reject: %s", np_str, detail);
                return;
            }
            if (strcmp(d.str, np_str) != 0 || (long long)d.itemsize != np_itemsize || d.kind != np_kind[0] ||
                d.byteorder != np_str[0]) {
                mismatch(st, lineno, fields[0], "NumPy gives %s %lld %c, we give %s %u %c (order %c)", np_str,
                         np_itemsize, np_kind[0], d.str, (unsigned)d.itemsize, d.kind, d.byteorder);
                return;
            }
            if (fast_rc != SHMA_OK || !same_dtype(&d, &fast)) {
                mismatch(st, lineno, fields[0], "fast lookup disagrees (%s, '%s')", shma_errname(fast_rc),
                         fast_rc == SHMA_OK ? fast.str : "");
                return;
            }
            shma_dtype again;
            if (shma_dtype_parse(d.str, &again) != SHMA_OK || !same_dtype(&d, &again)) {
                mismatch(st, lineno, fields[0], "canonical '%s' does not parse back to itself", d.str);
                return;
            }
            st->accepted++;
            return;
        }
        st->deliberate++;
    }
    if (rc != SHMA_E_DTYPE) {
        mismatch(st, lineno, fields[0], "%s, we accept it as %s",
                 why ? why : "NumPy rejects it", rc == SHMA_OK ? d.str : shma_errname(rc));
        return;
    }
    if (strncmp(detail, "dtype '", 7) != 0) {
        mismatch(st, lineno, fields[0], "detail \"%s\" does not name the input", detail);
        return;
    }
    /* The unsafe path must never produce an object array or an unsized type either. */
    if (fast_rc != SHMA_E_DTYPE) {
        mismatch(st, lineno, fields[0], "fast lookup accepts it (%s)", fast_rc == SHMA_OK ? fast.str : "?");
        return;
    }
    if (why == NULL) st->rejected++;
}

static void test_numpy_vectors(void **state) {
    (void)state;
    const char *srcdir = getenv("SHMA_SRCDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/core/test/dtype_vectors.txt", srcdir ? srcdir : ".");
    FILE *f = fopen(path, "r");
    if (f == NULL) fail_msg("cannot open %s: %s (run from the repo root or set SHMA_SRCDIR)", path, strerror(errno));

    static char line[LINE_MAX_BYTES];
    vector_stats st = {0};
    long lineno = 0;
    bool saw_version = false;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            fclose(f);
            fail_msg("dtype_vectors.txt:%ld: line too long or unterminated", lineno);
        }
        line[n - 1] = '\0';
        if (line[0] == '#') {
            saw_version |= strstr(line, "numpy 1.24.") != NULL;
            continue;
        }
        check_vector(&st, lineno, line);
    }
    fclose(f);
    printf("[ dtype    ] %ld NumPy vectors: %ld accepted alike, %ld rejected alike, %ld deliberately "
           "rejected, %ld mismatches\n",
           st.lines, st.accepted, st.rejected, st.deliberate, st.mismatches);
    if (!saw_version) fail_msg("%s: no 'numpy 1.24.' header line", path);
    /* A handful of lines would mean the file was truncated, not that we agree. */
    if (st.lines < 1000 || st.accepted < 500) fail_msg("%s holds too few vectors", path);
    if (st.mismatches > 0) fail_msg("%ld of %ld vectors differ from NumPy (first %d above)", st.mismatches, st.lines, SHOW_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_kind_and_size),
        cmocka_unit_test(test_byte_order),
        cmocka_unit_test(test_flexible),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_empty_long_and_control),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_comma_strings),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_unsized),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_not_a_dtype),
        cmocka_unit_test(test_datetime_errors),
        cmocka_unit_test(test_fast_lookup),
        cmocka_unit_test(test_numpy_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
