/* test_handle.c: the handle codec, shma_handle_format() and shma_handle_decode() (handle.c). */
#include "testutil.h"

#include "internal.h"

#include <inttypes.h>

/* Decodes exactly the n bytes at s from a heap copy of that size, so that a read past the end
 * is caught by ASan and valgrind. */
static int decode_n(const char *s, size_t n, shma_handle *out) {
    char *copy = malloc(n > 0 ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = shma_handle_decode(copy, n, out);
    free(copy);
    return rc;
}

static int decode(const char *s, shma_handle *out) { return decode_n(s, strlen(s), out); }

/* Asserts s decodes and formats back to the same bytes, also with a trailing '\n' or NUL. */
static void assert_round_trip(const char *s) {
    shma_handle h;
    char buf[SHMA_HANDLE_MAX];
    size_t len = 0, n = strlen(s);
    assert_shma_ok(decode(s, &h));
    assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, &len));
    assert_int_equal(len, n);
    assert_string_equal(buf, s);

    char *with_end = malloc(n + 1);
    assert_non_null(with_end);
    memcpy(with_end, s, n);
    const char ends[] = {'\n', '\0'};
    for (size_t i = 0; i < sizeof ends; i++) {
        shma_handle h2;
        with_end[n] = ends[i];
        assert_shma_ok(shma_handle_decode(with_end, n + 1, &h2));
        assert_shma_ok(shma_handle_format(&h2, buf, sizeof buf, NULL));
        assert_string_equal(buf, s);
    }
    free(with_end);
}

/* ---------------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------------- */

static void test_decode_fields(void **state) {
    (void)state;
    shma_handle h;
    assert_shma_ok(decode("shma1;<f8;1000,1000;shma_6f1c0e9a2b4d7c3e5a1f", &h));
    assert_string_equal(h.dtype.str, "<f8");
    assert_int_equal(h.dtype.itemsize, 8);
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[0], 1000);
    assert_int_equal(h.shape[1], 1000);
    assert_string_equal(h.name, "shma_6f1c0e9a2b4d7c3e5a1f");

    assert_shma_ok(decode("shma1;|b1;;x", &h));
    assert_int_equal(h.ndim, 0);
    assert_string_equal(h.name, "x");

    assert_shma_ok(decode("shma1;|b1;9223372036854775807,1;n", &h));
    assert_int_equal(h.shape[0], INT64_MAX);
}

static void test_round_trips(void **state) {
    (void)state;
    assert_round_trip("shma1;<f8;1000,1000;shma_6f1c0e9a2b4d7c3e5a1f");
    assert_round_trip("shma1;|b1;;x");
    assert_round_trip("shma1;<i4;0;a");
    assert_round_trip("shma1;<i4;0,9223372036854775807;a");
    assert_round_trip("shma1;|b1;9223372036854775807;psm_1a2b3c4d");
    assert_round_trip("shma1;<f8;1152921504606846975;big");
    assert_round_trip("shma1;<U10;3,0,5;name with spaces");
    assert_round_trip("shma1;<M8[ns];7;a;b;c");
    assert_round_trip("shma1;|b1;10;caf\xc3\xa9");
    assert_round_trip("shma1;<f8;1,2,3;...");

    char s[SHMA_HANDLE_MAX];
    int n = snprintf(s, sizeof s, "shma1;|b1;");
    for (int k = 0; k < SHMA_MAX_NDIM; k++) n += snprintf(s + n, sizeof s - (size_t)n, "%s1", k ? "," : "");
    n += snprintf(s + n, sizeof s - (size_t)n, ";");
    memset(s + n, 'n', SHMA_NAME_MAX);
    s[n + SHMA_NAME_MAX] = '\0';
    assert_round_trip(s);
}

/* The longest handle there can be still fits SHMA_HANDLE_MAX. */
static void test_longest_handle(void **state) {
    (void)state;
    shma_handle h;
    memset(&h, 0, sizeof h);
    assert_shma_ok(shma_dtype_parse("<M8[ns]", &h.dtype));
    h.ndim = SHMA_MAX_NDIM;
    h.shape[0] = 0; /* makes the other dims' product irrelevant */
    for (int k = 1; k < SHMA_MAX_NDIM; k++) h.shape[k] = INT64_MAX;
    memset(h.name, 'n', SHMA_NAME_MAX);
    char buf[SHMA_HANDLE_MAX];
    size_t len = 0;
    assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, &len));
    assert_true(len < SHMA_HANDLE_MAX);
    assert_round_trip(buf);
}

/* ---------------------------------------------------------------------------------------------
 * Malformed handles
 * ------------------------------------------------------------------------------------------- */

static void test_decode_args(void **state) {
    (void)state;
    shma_handle h;
    assert_shma_fails(shma_handle_decode(NULL, 5, &h), SHMA_E_ARG, "handle buffer is NULL");
    assert_shma_fails(shma_handle_decode("shma1;<f8;1;a", 13, NULL), SHMA_E_ARG, "output handle is NULL");
}

static void test_bad_prefix(void **state) {
    (void)state;
    shma_handle h;
    const char *bad[] = {"", "\n", "shma1", "shma2;<f8;1;a", "SHMA1;<f8;1;a", "shma1<f8;1;a", " shma1;<f8;1;a",
                         "shma;<f8;1;a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_shma_fails(decode(bad[i], &h), SHMA_E_HANDLE, "handle: does not start with 'shma1;'");
}

static void test_bad_dtype(void **state) {
    (void)state;
    shma_handle h;
    assert_shma_fails(decode("shma1;<f8", &h), SHMA_E_HANDLE, "handle: no ';' after the dtype field");
    assert_shma_fails(decode("shma1;", &h), SHMA_E_HANDLE, "handle: no ';' after the dtype field");
    assert_shma_fails(decode("shma1;;1;a", &h), SHMA_E_HANDLE, "handle: dtype is empty");
    assert_shma_fails(decode("shma1;float64;1;a", &h), SHMA_E_HANDLE,
                      "handle: dtype 'float64' is not canonical (NumPy spells it '<f8')");
    assert_shma_fails(decode("shma1;f8;1;a", &h), SHMA_E_HANDLE, "handle: dtype 'f8' is not canonical");
    assert_shma_fails(decode("shma1;xyz;1;a", &h), SHMA_E_HANDLE, "handle: dtype: ");
    assert_shma_fails(decode("shma1;<f8<f8<f8<f8<f8<;1;a", &h), SHMA_E_HANDLE,
                      "handle: dtype '<f8<f8<f8<f8<f8<' is not a canonical dtype string");
    assert_shma_fails(decode_n("shma1;<f\0;1;a", 13, &h), SHMA_E_HANDLE,
                      "handle: dtype '<f\\x00' is not a canonical dtype string");
    assert_shma_fails(decode("shma1;<f\x01;1;a", &h), SHMA_E_HANDLE, "handle: dtype: ");
}

static void test_bad_shape(void **state) {
    (void)state;
    shma_handle h;
    assert_shma_fails(decode("shma1;<f8;1", &h), SHMA_E_HANDLE, "handle: no ';' after the shape field");
    assert_shma_fails(decode("shma1;<f8;", &h), SHMA_E_HANDLE, "handle: no ';' after the shape field");
    assert_shma_fails(decode("shma1;<f8;3,4,01;a", &h), SHMA_E_HANDLE, "handle: shape[2] '01' is not canonical");
    assert_shma_fails(decode("shma1;<f8;00;a", &h), SHMA_E_HANDLE, "handle: shape[0] '00' is not canonical");
    assert_shma_fails(decode("shma1;<f8;007;a", &h), SHMA_E_HANDLE, "handle: shape[0] '007' is not canonical");
    const char *not_decimal[] = {"+1", "-1", " 1", "1 ", "1a", "0x10", "1.0", "1e3", "\xef\xbc\x91"};
    for (size_t i = 0; i < sizeof not_decimal / sizeof not_decimal[0]; i++) {
        char s[64], expect[64];
        snprintf(s, sizeof s, "shma1;<f8;2,%s;a", not_decimal[i]);
        assert_shma_fails(decode(s, &h), SHMA_E_HANDLE, "is not a decimal number");
        snprintf(expect, sizeof expect, "handle: shape[1] '");
        assert_shma_fails(decode(s, &h), SHMA_E_HANDLE, expect);
    }
    assert_shma_fails(decode("shma1;<f8;\x01;a", &h), SHMA_E_HANDLE, "handle: shape[0] '\\x01' is not a decimal");
    assert_shma_fails(decode("shma1;<f8;1,,2;a", &h), SHMA_E_HANDLE, "handle: shape[1] is empty");
    assert_shma_fails(decode("shma1;<f8;,1;a", &h), SHMA_E_HANDLE, "handle: shape[0] is empty");
    assert_shma_fails(decode("shma1;<f8;1,;a", &h), SHMA_E_HANDLE, "handle: shape[1] is empty");
    assert_shma_fails(decode("shma1;<f8;,;a", &h), SHMA_E_HANDLE, "handle: shape[0] is empty");
    assert_shma_fails(decode("shma1;|b1;9223372036854775808;a", &h), SHMA_E_HANDLE,
                      "handle: shape[0] '9223372036854775808' exceeds INT64_MAX");
    assert_shma_fails(decode("shma1;|b1;18446744073709551616;a", &h), SHMA_E_HANDLE,
                      "handle: shape[0] '18446744073709551616' exceeds INT64_MAX");
    assert_shma_fails(decode("shma1;|b1;99999999999999999999999999999999999999999999;a", &h), SHMA_E_HANDLE,
                      "exceeds INT64_MAX");
    assert_shma_fails(decode("shma1;<f8;4294967296,4294967296;a", &h), SHMA_E_HANDLE,
                      "handle: shape: shape (4294967296, 4294967296) x itemsize 8 overflows int64");
    assert_shma_fails(decode("shma1;<f8;1152921504606846976;a", &h), SHMA_E_HANDLE, "overflows int64");

    /* 64 dims are fine, 65 are not. */
    char s[512];
    int n = snprintf(s, sizeof s, "shma1;|b1;");
    for (int k = 0; k < SHMA_MAX_NDIM; k++) n += snprintf(s + n, sizeof s - (size_t)n, "%s1", k ? "," : "");
    snprintf(s + n, sizeof s - (size_t)n, ";a");
    assert_shma_ok(decode(s, &h));
    assert_int_equal(h.ndim, SHMA_MAX_NDIM);
    n += snprintf(s + n, sizeof s - (size_t)n, ",1");
    snprintf(s + n, sizeof s - (size_t)n, ";a");
    assert_shma_fails(decode(s, &h), SHMA_E_HANDLE, "handle: shape has more than 64 dims");
}

static void test_long_field_quote_is_cut(void **state) {
    (void)state;
    shma_handle h;
    char s[512];
    int n = snprintf(s, sizeof s, "shma1;<f8;1,");
    memset(s + n, 'x', 300);
    snprintf(s + n + 300, sizeof s - (size_t)n - 300, ";a");
    assert_shma_fails(decode(s, &h), SHMA_E_HANDLE, "handle: shape[1] 'xxxxxxxxxx");
    assert_non_null(strstr(shma_last_error(), "...' is not a decimal number"));
    assert_true(strlen(shma_last_error()) < 200);
}

static void test_bad_name(void **state) {
    (void)state;
    shma_handle h;
    assert_shma_fails(decode("shma1;<f8;1;", &h), SHMA_E_HANDLE, "handle: name: name is empty");
    assert_shma_fails(decode("shma1;<f8;1;/abc", &h), SHMA_E_HANDLE, "handle: name starts with '/'");
    assert_shma_fails(decode("shma1;<f8;1;/", &h), SHMA_E_HANDLE, "handle: name starts with '/'");
    assert_shma_fails(decode("shma1;<f8;1;a/b", &h), SHMA_E_HANDLE,
                      "handle: name: name contains '/' at offset 1");
    assert_shma_fails(decode("shma1;<f8;1;.", &h), SHMA_E_HANDLE, "handle: name: name '.' is not allowed");
    assert_shma_fails(decode("shma1;<f8;1;..", &h), SHMA_E_HANDLE, "handle: name: name '..' is not allowed");
    assert_shma_fails(decode("shma1;<f8;1;a\tb", &h), SHMA_E_HANDLE,
                      "handle: name: name contains control character 0x09 at offset 1");
    assert_shma_fails(decode_n("shma1;<f8;1;a\0b", 15, &h), SHMA_E_HANDLE,
                      "handle: name: name contains a NUL byte at offset 1");
    /* Only one trailing '\n' or NUL is dropped. */
    assert_shma_fails(decode("shma1;<f8;1;abc\n\n", &h), SHMA_E_HANDLE, "control character 0x0a at offset 3");
    assert_shma_fails(decode_n("shma1;<f8;1;abc\0\n", 17, &h), SHMA_E_HANDLE, "NUL byte at offset 3");
    assert_shma_fails(decode_n("shma1;<f8;1;abc\n\0", 17, &h), SHMA_E_HANDLE, "control character 0x0a");
    assert_shma_fails(decode("shma1;<f8;1;abc\r\n", &h), SHMA_E_HANDLE, "control character 0x0d");

    char s[512];
    int n = snprintf(s, sizeof s, "shma1;<f8;1;");
    memset(s + n, 'n', SHMA_NAME_MAX);
    s[n + SHMA_NAME_MAX] = '\0';
    assert_shma_ok(decode(s, &h));
    assert_int_equal(strlen(h.name), SHMA_NAME_MAX);
    s[n + SHMA_NAME_MAX] = 'n';
    s[n + SHMA_NAME_MAX + 1] = '\0';
    assert_shma_fails(decode(s, &h), SHMA_E_HANDLE, "handle: name: name is 256 characters long");
}

static void test_too_long(void **state) {
    (void)state;
    shma_handle h;
    char *s = malloc(3000);
    assert_non_null(s);
    int n = snprintf(s, 3000, "shma1;<f8;1;");
    memset(s + n, 'n', 3000 - (size_t)n);
    assert_shma_fails(shma_handle_decode(s, 3000, &h), SHMA_E_HANDLE,
                      "handle: 3000 bytes, more than the 2047 a handle can hold");
    assert_shma_fails(shma_handle_decode(s, SHMA_HANDLE_MAX, &h), SHMA_E_HANDLE, "2048 bytes");
    /* 2047 bytes pass the length check and fail on the name instead. */
    assert_shma_fails(shma_handle_decode(s, SHMA_HANDLE_MAX - 1, &h), SHMA_E_HANDLE, "handle: name: ");
    free(s);
}

static void test_out_untouched_on_failure(void **state) {
    (void)state;
    shma_handle h, before;
    memset(&h, 0xa5, sizeof h);
    before = h;
    assert_shma_fails(decode("shma1;<f8;3,01;abc", &h), SHMA_E_HANDLE, "shape[1]");
    assert_memory_equal(&h, &before, sizeof h);
    assert_shma_fails(decode("shma1;<f8;3,1;a/b", &h), SHMA_E_HANDLE, "name");
    assert_memory_equal(&h, &before, sizeof h);
}

/* Every prefix of a handle is an error or (cut inside the name) a valid handle that formats
 * back to itself: never a crash or a read past the end. */
static void test_truncation(void **state) {
    (void)state;
    const char *full = "shma1;<f8;1000,20,3;shma_6f1c0e9a2b4d7c3e5a1f";
    size_t n = strlen(full), name_start = (size_t)(strrchr(full, ';') - full) + 1;
    for (size_t len = 0; len <= n; len++) {
        shma_handle h;
        int rc = decode_n(full, len, &h);
        if (len <= name_start) {
            assert_int_equal(rc, SHMA_E_HANDLE);
            continue;
        }
        assert_shma_ok(rc);
        char buf[SHMA_HANDLE_MAX];
        size_t out_len;
        assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, &out_len));
        assert_int_equal(out_len, len);
        assert_memory_equal(buf, full, len);
    }
}

/* Every byte replaced by every value: accepted results must round-trip exactly. */
static void test_byte_substitutions(void **state) {
    (void)state;
    const char *full = "shma1;<i4;12,0,7;ab";
    size_t n = strlen(full);
    char s[64];
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 256; c++) {
            memcpy(s, full, n);
            s[i] = (char)c;
            shma_handle h;
            int rc = decode_n(s, n, &h);
            if (rc != SHMA_OK) {
                assert_int_equal(rc, SHMA_E_HANDLE);
                continue;
            }
            char buf[SHMA_HANDLE_MAX];
            size_t out_len;
            assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, &out_len));
            size_t expect_len = (i == n - 1 && (c == 0 || c == '\n')) ? n - 1 : n;
            assert_int_equal(out_len, expect_len);
            assert_memory_equal(buf, s, expect_len);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * shma_handle_format
 * ------------------------------------------------------------------------------------------- */

static shma_handle good_handle(void) {
    shma_handle h;
    memset(&h, 0, sizeof h);
    assert_shma_ok(shma_dtype_parse("float64", &h.dtype));
    h.ndim = 2;
    h.shape[0] = 3;
    h.shape[1] = 4;
    strcpy(h.name, "shma_0123456789abcdef01234567");
    return h;
}

static void test_format(void **state) {
    (void)state;
    shma_handle h = good_handle();
    char buf[SHMA_HANDLE_MAX];
    size_t len = 0;
    assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, &len));
    assert_string_equal(buf, "shma1;<f8;3,4;shma_0123456789abcdef01234567");
    assert_int_equal(len, strlen(buf));

    h.ndim = 0;
    assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, NULL));
    assert_string_equal(buf, "shma1;<f8;;shma_0123456789abcdef01234567");

    /* Only the dtype string counts: the other dtype fields are re-derived from it. */
    h = good_handle();
    h.dtype.itemsize = 0;
    h.dtype.kind = 'x';
    assert_shma_ok(shma_handle_format(&h, buf, sizeof buf, NULL));
    assert_string_equal(buf, "shma1;<f8;3,4;shma_0123456789abcdef01234567");
}

static void test_format_bufsize(void **state) {
    (void)state;
    shma_handle h = good_handle();
    const char *expect = "shma1;<f8;3,4;shma_0123456789abcdef01234567";
    size_t need = strlen(expect) + 1;
    char buf[SHMA_HANDLE_MAX];
    size_t len = 99;
    memset(buf, '#', sizeof buf);
    assert_shma_fails(shma_handle_format(&h, buf, need - 1, &len), SHMA_E_BUFSIZE,
                      "handle needs 44 bytes with its NUL, buffer holds 43");
    assert_int_equal(len, 99);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], '#');
    assert_shma_fails(shma_handle_format(&h, buf, 0, &len), SHMA_E_BUFSIZE, "buffer holds 0");
    assert_shma_ok(shma_handle_format(&h, buf, need, &len));
    assert_string_equal(buf, expect);
    assert_int_equal(len, need - 1);
}

static void test_format_invalid(void **state) {
    (void)state;
    char buf[SHMA_HANDLE_MAX];
    shma_handle h = good_handle();
    assert_shma_fails(shma_handle_format(NULL, buf, sizeof buf, NULL), SHMA_E_ARG, "handle is NULL");
    assert_shma_fails(shma_handle_format(&h, NULL, sizeof buf, NULL), SHMA_E_ARG, "output buffer is NULL");

    memset(h.dtype.str, 'f', sizeof h.dtype.str);
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_DTYPE,
                      "handle dtype string is not NUL-terminated within 16 bytes");
    h = good_handle();
    strcpy(h.dtype.str, "float64");
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_DTYPE,
                      "handle dtype 'float64' is not canonical (NumPy spells it '<f8')");
    strcpy(h.dtype.str, "xyz");
    assert_int_equal(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_DTYPE);

    h = good_handle();
    h.ndim = 65;
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_SHAPE, "ndim = 65 is out of range");
    h.ndim = -1;
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_SHAPE, "ndim = -1 is out of range");
    h = good_handle();
    h.shape[1] = -4;
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_SHAPE, "shape[1] = -4 is negative");
    h.shape[0] = h.shape[1] = 4294967296;
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_OVERFLOW,
                      "shape (4294967296, 4294967296) x itemsize 8 overflows int64");

    h = good_handle();
    memset(h.name, 'n', sizeof h.name);
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_NAME,
                      "handle name is not NUL-terminated within 256 bytes");
    strcpy(h.name, "/abc");
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_NAME, "handle name starts with '/'");
    strcpy(h.name, "");
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_NAME, "name is empty");
    strcpy(h.name, "a/b");
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_NAME, "contains '/' at offset 1");
    strcpy(h.name, "..");
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_NAME, "name '..' is not allowed");
    strcpy(h.name, "a\x1b");
    assert_shma_fails(shma_handle_format(&h, buf, sizeof buf, NULL), SHMA_E_NAME, "control character 0x1b");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_fields),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_longest_handle),
        cmocka_unit_test(test_decode_args),
        cmocka_unit_test(test_bad_prefix),
        cmocka_unit_test(test_bad_dtype),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_long_field_quote_is_cut),
        cmocka_unit_test(test_bad_name),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_out_untouched_on_failure),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_byte_substitutions),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_bufsize),
        cmocka_unit_test(test_format_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
