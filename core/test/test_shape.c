/* test_shape.c: shape validation, byte counts, contiguous strides and view checks (shape.c). */
#include "testutil.h"

#include "internal.h"

/* A view over fake addresses: shma__view_check() never dereferences data. */
static shma_view make_view(uintptr_t data, int ndim, const int64_t *shape, const int64_t *strides,
                           uint32_t itemsize) {
    shma_view v;
    memset(&v, 0, sizeof v);
    v.data = (void *)data;
    v.ndim = ndim;
    v.shape = shape;
    v.strides = strides;
    snprintf(v.dtype.str, sizeof v.dtype.str, "|V%u", itemsize);
    v.dtype.itemsize = itemsize;
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * shma__shape_check
 * ------------------------------------------------------------------------------------------- */

static void test_ndim_range(void **state) {
    (void)state;
    int64_t shape[SHMA_MAX_NDIM + 1];
    for (int k = 0; k <= SHMA_MAX_NDIM; k++) shape[k] = 1;
    uint64_t nbytes = 0;

    assert_shma_ok(shma__shape_check(0, NULL, 8, &nbytes));
    assert_int_equal(nbytes, 8);
    assert_shma_ok(shma__shape_check(0, shape, 4, &nbytes));
    assert_int_equal(nbytes, 4);
    assert_shma_ok(shma__shape_check(SHMA_MAX_NDIM, shape, 2, &nbytes));
    assert_int_equal(nbytes, 2);

    nbytes = 77;
    assert_shma_fails(shma__shape_check(65, shape, 8, &nbytes), SHMA_E_SHAPE,
                      "ndim = 65 is out of range 0..64");
    assert_shma_fails(shma__shape_check(-1, shape, 8, &nbytes), SHMA_E_SHAPE,
                      "ndim = -1 is out of range 0..64");
    assert_shma_fails(shma__shape_check(INT32_MIN, shape, 8, &nbytes), SHMA_E_SHAPE,
                      "ndim = -2147483648 is out of range");
    assert_int_equal(nbytes, 77); /* untouched on failure */
}

static void test_null_shape(void **state) {
    (void)state;
    uint64_t nbytes;
    assert_shma_fails(shma__shape_check(2, NULL, 8, &nbytes), SHMA_E_ARG, "shape is NULL but ndim = 2");
}

static void test_negative_dim(void **state) {
    (void)state;
    uint64_t nbytes;
    assert_shma_fails(shma__shape_check(3, (int64_t[]){4, -5, 6}, 8, &nbytes), SHMA_E_SHAPE,
                      "shape[1] = -5 is negative");
    assert_shma_fails(shma__shape_check(1, (int64_t[]){INT64_MIN}, 8, &nbytes), SHMA_E_SHAPE,
                      "shape[0] = -9223372036854775808 is negative");
    /* A negative dim is reported even next to a zero one. */
    assert_shma_fails(shma__shape_check(2, (int64_t[]){0, -1}, 8, &nbytes), SHMA_E_SHAPE,
                      "shape[1] = -1 is negative");
}

static void test_products(void **state) {
    (void)state;
    uint64_t nbytes;
    assert_shma_ok(shma__shape_check(2, (int64_t[]){1000, 1000}, 8, &nbytes));
    assert_int_equal(nbytes, 8000000);
    assert_shma_ok(shma__shape_check(3, (int64_t[]){2, 3, 4}, 1, &nbytes));
    assert_int_equal(nbytes, 24);
    assert_shma_ok(shma__shape_check(1, (int64_t[]){INT64_MAX}, 1, &nbytes));
    assert_int_equal(nbytes, (uint64_t)INT64_MAX);
}

static void test_zero_dim(void **state) {
    (void)state;
    uint64_t nbytes = 1;
    /* The other dims are not multiplied, so no overflow is reported. */
    assert_shma_ok(shma__shape_check(3, (int64_t[]){INT64_MAX, 0, INT64_MAX}, 8, &nbytes));
    assert_int_equal(nbytes, 0);
    nbytes = 1;
    assert_shma_ok(shma__shape_check(1, (int64_t[]){0}, 8, &nbytes));
    assert_int_equal(nbytes, 0);
}

static void test_overflow_at_limit(void **state) {
    (void)state;
    uint64_t nbytes;
    /* INT64_MAX = 8 * 1152921504606846975 + 7 */
    assert_shma_ok(shma__shape_check(1, (int64_t[]){INT64_MAX / 8}, 8, &nbytes));
    assert_int_equal(nbytes, (uint64_t)(INT64_MAX / 8) * 8);
    assert_shma_fails(shma__shape_check(1, (int64_t[]){INT64_MAX / 8 + 1}, 8, &nbytes), SHMA_E_OVERFLOW,
                      "shape (1152921504606846976,) x itemsize 8 overflows int64");
    /* 2^31 x 2^31 x 2 = 2^63, one past INT64_MAX; x 1 = 2^62 fits. */
    assert_shma_ok(shma__shape_check(2, (int64_t[]){1ll << 31, 1ll << 31}, 1, &nbytes));
    assert_int_equal(nbytes, 1ull << 62);
    assert_shma_fails(shma__shape_check(2, (int64_t[]){1ll << 31, 1ll << 31}, 2, &nbytes),
                      SHMA_E_OVERFLOW, "shape (2147483648, 2147483648) x itemsize 2 overflows int64");
    assert_shma_fails(shma__shape_check(2, (int64_t[]){4294967296, 4294967296}, 8, &nbytes),
                      SHMA_E_OVERFLOW, "shape (4294967296, 4294967296) x itemsize 8 overflows int64");
    assert_shma_fails(shma__shape_check(1, (int64_t[]){INT64_MAX}, 2, &nbytes), SHMA_E_OVERFLOW,
                      "shape (9223372036854775807,) x itemsize 2 overflows int64");
    /* 64 dims of 2: 2^64 overflows even with itemsize 1; 63 dims give 2^63, also too big; 62 fit. */
    int64_t twos[SHMA_MAX_NDIM];
    for (int k = 0; k < SHMA_MAX_NDIM; k++) twos[k] = 2;
    assert_shma_ok(shma__shape_check(62, twos, 1, &nbytes));
    assert_int_equal(nbytes, 1ull << 62);
    assert_shma_fails(shma__shape_check(63, twos, 1, &nbytes), SHMA_E_OVERFLOW, "overflows int64");
}

static void test_overflow_message_long_shape(void **state) {
    (void)state;
    int64_t shape[SHMA_MAX_NDIM];
    for (int k = 0; k < SHMA_MAX_NDIM; k++) shape[k] = 1000000007 + k;
    uint64_t nbytes;
    assert_shma_fails(shma__shape_check(SHMA_MAX_NDIM, shape, 8, &nbytes), SHMA_E_OVERFLOW,
                      "shape (1000000007, 1000000008, ");
    const char *detail = shma_last_error();
    assert_non_null(strstr(detail, ", ..., 1000000070) x itemsize 8 overflows int64"));
    assert_true(strlen(detail) < 300);
}

/* ---------------------------------------------------------------------------------------------
 * shma__shape_nbytes and shma__contiguous_strides
 * ------------------------------------------------------------------------------------------- */

static void test_nbytes_unchecked(void **state) {
    (void)state;
    assert_int_equal(shma__shape_nbytes(0, NULL, 8), 8);
    assert_int_equal(shma__shape_nbytes(3, (int64_t[]){2, 3, 4}, 8), 192);
    assert_int_equal(shma__shape_nbytes(2, (int64_t[]){5, 0}, 8), 0);
}

static void test_contiguous_strides(void **state) {
    (void)state;
    int64_t strides[4] = {-1, -1, -1, -1};
    shma__contiguous_strides(3, (int64_t[]){2, 3, 4}, 8, strides);
    assert_int_equal(strides[0], 96);
    assert_int_equal(strides[1], 32);
    assert_int_equal(strides[2], 8);
    assert_int_equal(strides[3], -1);

    /* NumPy: np.zeros((3, 0)).strides == (8, 8), np.zeros((0, 3)).strides == (24, 8). */
    shma__contiguous_strides(2, (int64_t[]){3, 0}, 8, strides);
    assert_int_equal(strides[0], 8);
    assert_int_equal(strides[1], 8);
    shma__contiguous_strides(2, (int64_t[]){0, 3}, 8, strides);
    assert_int_equal(strides[0], 24);
    assert_int_equal(strides[1], 8);

    strides[0] = -1;
    shma__contiguous_strides(0, NULL, 8, strides);
    assert_int_equal(strides[0], -1);

    shma__contiguous_strides(1, (int64_t[]){7}, 2, strides);
    assert_int_equal(strides[0], 2);
}

/* ---------------------------------------------------------------------------------------------
 * shma__view_check
 * ------------------------------------------------------------------------------------------- */

static void test_view_args(void **state) {
    (void)state;
    uint64_t nbytes = 5;
    int64_t lo = 5, hi = 5;
    int64_t shape[] = {2, 3}, strides[] = {24, 8};
    assert_shma_fails(shma__view_check(NULL, &nbytes, &lo, &hi), SHMA_E_ARG, "view is NULL");

    shma_view v = make_view(0x1000, 2, shape, strides, 0);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_ARG, "has itemsize 0");

    v = make_view(0, 2, shape, strides, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_ARG,
                      "view data is NULL but the view holds 48 bytes");

    v = make_view(0x1000, 2, shape, NULL, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_ARG,
                      "view strides are NULL but ndim = 2");

    v = make_view(0x1000, 2, NULL, strides, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_ARG, "shape is NULL but ndim = 2");

    v = make_view(0x1000, 65, shape, strides, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_SHAPE, "ndim = 65 is out of range");

    v = make_view(0x1000, 2, (int64_t[]){2, -3}, strides, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_SHAPE, "shape[1] = -3 is negative");

    v = make_view(0x1000, 2, (int64_t[]){4294967296, 4294967296}, strides, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_OVERFLOW,
                      "shape (4294967296, 4294967296) x itemsize 8 overflows int64");

    assert_int_equal(nbytes, 5);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 5);
}

static void test_view_contiguous(void **state) {
    (void)state;
    uint64_t nbytes;
    int64_t lo, hi;
    shma_view v = make_view(0x1000, 2, (int64_t[]){2, 3}, (int64_t[]){24, 8}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 48);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 48);

    /* Transposed. */
    v = make_view(0x1000, 2, (int64_t[]){3, 2}, (int64_t[]){8, 24}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 48);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 48);
}

static void test_view_0d(void **state) {
    (void)state;
    uint64_t nbytes;
    int64_t lo, hi;
    shma_view v = make_view(0x1000, 0, NULL, NULL, 16);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 16);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 16);

    v = make_view(0, 0, NULL, NULL, 16);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_ARG,
                      "view data is NULL but the view holds 16 bytes");
}

static void test_view_empty(void **state) {
    (void)state;
    uint64_t nbytes = 9;
    int64_t lo = 9, hi = 9;
    /* NULL data and strides, and strides that would overflow, are all fine when empty. */
    shma_view v = make_view(0, 3, (int64_t[]){5, 0, 7}, NULL, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);

    v = make_view(0x1000, 2, (int64_t[]){0, INT64_MAX}, (int64_t[]){INT64_MAX, INT64_MIN}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
}

static void test_view_negative_zero_unaligned(void **state) {
    (void)state;
    uint64_t nbytes;
    int64_t lo, hi;
    /* a[::-1, :] of a (3, 4) float64 array: data points at the last row. */
    shma_view v = make_view(0x10000, 2, (int64_t[]){3, 4}, (int64_t[]){-32, 8}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 96);
    assert_int_equal(lo, -64);
    assert_int_equal(hi, 32);

    /* Broadcast: every element is the same 8 bytes. */
    v = make_view(0x10000, 2, (int64_t[]){1000, 1000}, (int64_t[]){0, 0}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 8000000);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 8);

    /* Strides that are not multiples of the itemsize (packed structured fields). */
    v = make_view(0x10001, 1, (int64_t[]){10}, (int64_t[]){3}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(nbytes, 80);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 35);

    /* A dim of 1 reaches nothing, whatever its stride. */
    v = make_view(0x10000, 2, (int64_t[]){1, 2}, (int64_t[]){INT64_MIN, -8}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(lo, -8);
    assert_int_equal(hi, 8);
}

static void test_view_offset_overflow(void **state) {
    (void)state;
    uint64_t nbytes;
    int64_t lo, hi;
    shma_view v = make_view(0x1000, 1, (int64_t[]){3}, (int64_t[]){INT64_MAX}, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "strides[0] = 9223372036854775807 x (shape[0] - 1) = 2 overflows int64");

    v = make_view(0x1000, 1, (int64_t[]){3}, (int64_t[]){INT64_MIN / 2 - 1}, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "strides[0] = -4611686018427387905 x (shape[0] - 1) = 2 overflows int64");

    /* Each reach fits; their sum does not. */
    v = make_view(0x1000, 2, (int64_t[]){2, 2}, (int64_t[]){1ll << 62, 1ll << 62}, 1);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "strides reach beyond int64 at dim 1");
    v = make_view(0x1000, 2, (int64_t[]){2, 3}, (int64_t[]){INT64_MIN / 2, INT64_MIN / 4 - 1}, 1);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "strides reach beyond int64 at dim 1");

    /* The highest element fits but its last byte does not: exactly at the limit and one past. */
    v = make_view(0x1000, 1, (int64_t[]){2}, (int64_t[]){INT64_MAX - 8}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(hi, INT64_MAX);
    v = make_view(0x1000, 1, (int64_t[]){2}, (int64_t[]){INT64_MAX - 7}, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "highest element offset + itemsize 8 overflows");
}

static void test_view_address_wrap(void **state) {
    (void)state;
    uint64_t nbytes;
    int64_t lo, hi;
    /* Reaching down to address 0 exactly is representable; one byte further wraps. */
    shma_view v = make_view(0x1000, 1, (int64_t[]){2}, (int64_t[]){-0x1000}, 8);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(lo, -0x1000);
    v = make_view(0x1000, 1, (int64_t[]){2}, (int64_t[]){-0x1001}, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "view reaches 4097 bytes below its data address");
    v = make_view(0x1000, 1, (int64_t[]){2}, (int64_t[]){INT64_MIN}, 8);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "view reaches 9223372036854775808 bytes below");

    /* The one-past-the-end offset may equal the top of the address space, not exceed it. */
    v = make_view(UINTPTR_MAX - 16, 1, (int64_t[]){1}, (int64_t[]){16}, 16);
    assert_shma_ok(shma__view_check(&v, &nbytes, &lo, &hi));
    assert_int_equal(hi, 16);
    v = make_view(UINTPTR_MAX - 16, 1, (int64_t[]){2}, (int64_t[]){1}, 16);
    assert_shma_fails(shma__view_check(&v, &nbytes, &lo, &hi), SHMA_E_STRIDES,
                      "view reaches 17 bytes above its data address");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ndim_range),
        cmocka_unit_test(test_null_shape),
        cmocka_unit_test(test_negative_dim),
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_zero_dim),
        cmocka_unit_test(test_overflow_at_limit),
        cmocka_unit_test(test_overflow_message_long_shape),
        cmocka_unit_test(test_nbytes_unchecked),
        cmocka_unit_test(test_contiguous_strides),
        cmocka_unit_test(test_view_args),
        cmocka_unit_test(test_view_contiguous),
        cmocka_unit_test(test_view_0d),
        cmocka_unit_test(test_view_empty),
        cmocka_unit_test(test_view_negative_zero_unaligned),
        cmocka_unit_test(test_view_offset_overflow),
        cmocka_unit_test(test_view_address_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
