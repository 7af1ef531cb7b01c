/* test_copy.c: shma_copy and shma_copy_unsafe (array.c, copy.c): every kind of strided source
 * (contiguous, sliced with steps, transposed, permuted, negative, zero and overlapping
 * strides, empty, 0-d) for itemsizes 1, 2, 3, 4, 8, 12, 16 and odd large ones, each compared
 * with a naive element-by-element reference; and the checks on bad views. */
#include "segutil.h"

#include "internal.h"

/* ---------------------------------------------------------------------------------------------
 * Views over a base buffer, built as NumPy would: slicing, transposing, broadcasting
 * ------------------------------------------------------------------------------------------- */

#define MAXD 8

typedef struct layout {
    int ndim;
    int64_t shape[MAXD];
    int64_t strides[MAXD];
    int64_t offset; /* bytes from the base buffer to element (0, ..., 0) */
} layout;

static layout contiguous(int ndim, const int64_t *shape, uint32_t itemsize) {
    layout l;
    memset(&l, 0, sizeof l);
    l.ndim = ndim;
    int64_t step = itemsize;
    for (int k = ndim - 1; k >= 0; k--) {
        l.shape[k] = shape[k];
        l.strides[k] = step;
        step *= shape[k] ? shape[k] : 1;
    }
    return l;
}

/* a[..., start : start + count * step : step, ...] along `dim`; step may be negative. */
static layout slice(layout l, int dim, int64_t start, int64_t count, int64_t step) {
    l.offset += start * l.strides[dim];
    l.shape[dim] = count;
    l.strides[dim] *= step;
    return l;
}

static layout permute(layout l, const int *perm) {
    layout t = l;
    for (int k = 0; k < l.ndim; k++) {
        t.shape[k] = l.shape[perm[k]];
        t.strides[k] = l.strides[perm[k]];
    }
    return t;
}

static layout transpose(layout l) {
    int perm[MAXD];
    for (int k = 0; k < l.ndim; k++) perm[k] = l.ndim - 1 - k;
    return permute(l, perm);
}

/* Bytes of base memory a layout of `itemsize` reaches past its offset, to size the buffer. */
static uint64_t base_bytes(int ndim, const int64_t *shape, uint32_t itemsize) {
    uint64_t n = itemsize;
    for (int k = 0; k < ndim; k++) n *= (uint64_t)shape[k];
    return n;
}

/* A base buffer of pseudo-random bytes, so a misplaced element is never equal by chance. */
static unsigned char *random_bytes(uint64_t n, uint32_t seed) {
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static shma_view view_of_layout(unsigned char *base, const layout *l, const char *dtype) {
    shma_view v;
    memset(&v, 0, sizeof v);
    v.data = base + l->offset;
    v.ndim = l->ndim;
    v.shape = l->shape;
    v.strides = l->strides;
    if (shma_dtype_parse(dtype, &v.dtype) != SHMA_OK) fail_msg("dtype '%s': %s", dtype, shma_last_error());
    return v;
}

/* The naive reference: element by element in C order. */
static void ref_copy(unsigned char *dst, const shma_view *v) {
    size_t itemsize = v->dtype.itemsize;
    int64_t n = 1;
    for (int k = 0; k < v->ndim; k++) n *= v->shape[k];
    int64_t idx[SHMA_MAX_NDIM] = {0};
    for (int64_t e = 0; e < n; e++) {
        int64_t off = 0;
        for (int k = 0; k < v->ndim; k++) off += idx[k] * v->strides[k];
        memcpy(dst + (size_t)e * itemsize, (const char *)v->data + off, itemsize);
        for (int k = v->ndim - 1; k >= 0; k--) {
            if (++idx[k] < v->shape[k]) break;
            idx[k] = 0;
        }
    }
}

/* Copies v with shma_copy and shma_copy_unsafe and checks both against the reference: shape,
 * dtype, C-contiguous strides, bytes. */
static void check_copy_(const shma_view *v, const char *what, int line) {
    uint64_t nbytes = v->dtype.itemsize;
    for (int k = 0; k < v->ndim; k++) nbytes *= (uint64_t)v->shape[k];
    unsigned char *want = malloc(nbytes ? nbytes : 1);
    assert_non_null(want);
    ref_copy(want, v);

    for (int unsafe = 0; unsafe < 2; unsafe++) {
        shma_array *a = NULL;
        int rc = unsafe ? shma_copy_unsafe(NULL, v, &a) : shma_copy(NULL, v, &a);
        if (rc != SHMA_OK)
            fail_msg("line %d: %s (%s, %s): copy failed: %s", line, what, v->dtype.str,
                     unsafe ? "unsafe" : "safe", shma_last_error());
        seg_track(shma_name(a));
        assert_true(shma_is_owner(a));
        assert_int_equal(shma_ndim(a), v->ndim);
        if (v->ndim > 0) assert_memory_equal(shma_shape(a), v->shape, (size_t)v->ndim * sizeof(int64_t));
        assert_string_equal(shma_dtype_str(a), v->dtype.str);
        assert_int_equal(shma_nbytes(a), nbytes);
        shma_view out;
        assert_shma_ok(shma_view_of(a, &out));
        int64_t step = v->dtype.itemsize;
        for (int k = v->ndim - 1; k >= 0; k--) {
            assert_int_equal(out.strides[k], step);
            step *= v->shape[k] ? v->shape[k] : 1;
        }
        if (nbytes > 0 && memcmp(shma_data(a), want, nbytes) != 0) {
            const unsigned char *got = shma_data(a);
            uint64_t i = 0;
            while (got[i] == want[i]) i++;
            fail_msg("line %d: %s (%s, %s): byte %llu (element %llu) is %02x, expected %02x", line, what,
                     v->dtype.str, unsafe ? "unsafe" : "safe", (unsigned long long)i,
                     (unsigned long long)(i / v->dtype.itemsize), got[i], want[i]);
        }
        assert_shma_ok(shma_close(&a));
    }
    free(want);
}
#define check_copy(v, what) check_copy_((v), (what), __LINE__)

/* One dtype per itemsize the copy loops treat differently: 1, 2, 4, 8, 16 have fixed-size
 * paths; 3 and 12 take the general one. */
static const char *const DTYPES[] = {"u1", "<u2", "S3", "<u4", "<f8", "<U3", "<c16"};
#define NDTYPES (sizeof DTYPES / sizeof DTYPES[0])

static uint32_t itemsize_of(const char *dtype) {
    shma_dtype d;
    assert_shma_ok(shma_dtype_parse(dtype, &d));
    return d.itemsize;
}

/* Runs check_copy on layout l over a fresh random base of the given base shape, for every
 * dtype (l is rebuilt per itemsize by `build`). */
typedef layout (*layout_fn)(uint32_t itemsize);

static void check_layout_all_dtypes(layout_fn build, int base_ndim, const int64_t *base_shape, const char *what,
                                    int line) {
    for (size_t d = 0; d < NDTYPES; d++) {
        uint32_t isz = itemsize_of(DTYPES[d]);
        unsigned char *base = random_bytes(base_bytes(base_ndim, base_shape, isz), (uint32_t)(line * 31 + d));
        layout l = build(isz);
        shma_view v = view_of_layout(base, &l, DTYPES[d]);
        check_copy_(&v, what, line);
        free(base);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Layouts
 * ------------------------------------------------------------------------------------------- */

static const int64_t B1[] = {37};
static const int64_t B2[] = {10, 12};
static const int64_t B3[] = {4, 5, 6};
static const int64_t BT[] = {7, 13};
static const int64_t B4[] = {2, 3, 4, 5};

static layout l_1d(uint32_t s) { return contiguous(1, B1, s); }
static layout l_2d(uint32_t s) { return contiguous(2, B2, s); }
static layout l_3d(uint32_t s) { return contiguous(3, B3, s); }
static layout l_1d_step(uint32_t s) { return slice(contiguous(1, B1, s), 0, 3, 8, 4); }
static layout l_rows(uint32_t s) { return slice(contiguous(2, B2, s), 0, 2, 5, 1); }
static layout l_cols(uint32_t s) { return slice(contiguous(2, B2, s), 1, 3, 4, 1); }
static layout l_steps(uint32_t s) { return slice(slice(contiguous(2, B2, s), 0, 1, 4, 2), 1, 2, 3, 3); }
static layout l_inner_step(uint32_t s) { return slice(contiguous(2, B2, s), 1, 0, 6, 2); }
static layout l_3d_steps(uint32_t s) {
    return slice(slice(slice(contiguous(3, B3, s), 0, 1, 2, 2), 1, 0, 3, 2), 2, 5, 3, -2);
}
static layout l_t2(uint32_t s) { return transpose(contiguous(2, BT, s)); }
static layout l_t2_slice(uint32_t s) { return slice(transpose(contiguous(2, BT, s)), 0, 1, 6, 2); }
static layout l_rev1(uint32_t s) { return slice(contiguous(1, B1, s), 0, 36, 37, -1); }
static layout l_rev_rows(uint32_t s) { return slice(contiguous(2, B2, s), 0, 9, 10, -1); }
static layout l_rev_cols(uint32_t s) { return slice(contiguous(2, B2, s), 1, 11, 12, -1); }
static layout l_rev_both(uint32_t s) { return slice(slice(contiguous(2, B2, s), 0, 9, 10, -1), 1, 11, 12, -1); }
static layout l_rev_t(uint32_t s) { return slice(transpose(contiguous(2, BT, s)), 1, 6, 7, -1); }
static layout l_rev_t_both(uint32_t s) {
    return slice(slice(transpose(contiguous(2, BT, s)), 0, 12, 13, -1), 1, 6, 4, -2);
}
static layout l_rev_3d_mid(uint32_t s) { return slice(contiguous(3, B3, s), 1, 4, 5, -1); }
static layout l_4d_rev(uint32_t s) { return transpose(contiguous(4, B4, s)); }
static layout l_4d_perm(uint32_t s) { return permute(contiguous(4, B4, s), (const int[]){2, 0, 3, 1}); }

/* Broadcasts (zero strides) over a base of shape (37,). */
static layout l_bcast_rows(uint32_t s) {
    layout l = {2, {4, 5}, {0, s}, 0};
    return l;
}
static layout l_bcast_cols(uint32_t s) {
    layout l = {2, {5, 4}, {s, 0}, 0};
    return l;
}
static layout l_bcast_all(uint32_t s) {
    (void)s;
    layout l = {2, {3, 3}, {0, 0}, 0};
    return l;
}
static layout l_bcast_mid(uint32_t s) {
    layout l = {3, {2, 3, 4}, {4 * s, 0, s}, 0};
    return l;
}
static layout l_bcast_neg(uint32_t s) {
    layout l = {2, {3, 6}, {0, -(int64_t)s}, 30 * (int64_t)s};
    return l;
}
/* Size-1 dims with arbitrary strides are dropped. */
static layout l_ones(uint32_t s) {
    layout l = {4, {1, 6, 1, 5}, {999999, 5 * s, -7, s}, 0};
    return l;
}
/* Overlapping elements (stride below itemsize), as np.lib.stride_tricks.as_strided makes. */
static layout l_overlap(uint32_t s) {
    layout l = {1, {9}, {(s + 1) / 2}, 0};
    return l;
}
static layout l_overlap_2d(uint32_t s) {
    layout l = {2, {4, 6}, {1, 3}, 0};
    (void)s;
    return l;
}

#define CHECK_LAYOUT(fn, base) check_layout_all_dtypes(fn, (int)(sizeof base / sizeof base[0]), base, #fn, __LINE__)

static void test_copy_contiguous(void **state) {
    (void)state;
    CHECK_LAYOUT(l_1d, B1);
    CHECK_LAYOUT(l_2d, B2);
    CHECK_LAYOUT(l_3d, B3);
    CHECK_LAYOUT(l_rows, B2); /* a block of whole rows is one contiguous run */
}

static void test_copy_sliced(void **state) {
    (void)state;
    CHECK_LAYOUT(l_1d_step, B1);
    CHECK_LAYOUT(l_cols, B2);
    CHECK_LAYOUT(l_steps, B2);
    CHECK_LAYOUT(l_inner_step, B2);
    CHECK_LAYOUT(l_3d_steps, B3);
}

static void test_copy_transposed_2d(void **state) {
    (void)state;
    CHECK_LAYOUT(l_t2, BT);
    CHECK_LAYOUT(l_t2_slice, BT);
}

static void test_copy_permutations_3d(void **state) {
    (void)state;
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) {
        for (size_t d = 0; d < NDTYPES; d++) {
            uint32_t isz = itemsize_of(DTYPES[d]);
            unsigned char *base = random_bytes(base_bytes(3, B3, isz), (uint32_t)(p * 7 + d));
            layout l = permute(contiguous(3, B3, isz), perms[p]);
            shma_view v = view_of_layout(base, &l, DTYPES[d]);
            char what[64];
            snprintf(what, sizeof what, "permutation (%d, %d, %d)", perms[p][0], perms[p][1], perms[p][2]);
            check_copy(&v, what);
            /* and the same permutation of a stepped slice */
            l = permute(slice(contiguous(3, B3, isz), 2, 1, 3, 2), perms[p]);
            v = view_of_layout(base, &l, DTYPES[d]);
            check_copy(&v, what);
            free(base);
        }
    }
    CHECK_LAYOUT(l_4d_rev, B4);
    CHECK_LAYOUT(l_4d_perm, B4);
}

static void test_copy_negative_strides(void **state) {
    (void)state;
    CHECK_LAYOUT(l_rev1, B1);
    CHECK_LAYOUT(l_rev_rows, B2);
    CHECK_LAYOUT(l_rev_cols, B2);
    CHECK_LAYOUT(l_rev_both, B2);
    CHECK_LAYOUT(l_rev_t, BT);
    CHECK_LAYOUT(l_rev_t_both, BT);
    CHECK_LAYOUT(l_rev_3d_mid, B3);
}

static void test_copy_zero_strides(void **state) {
    (void)state;
    CHECK_LAYOUT(l_bcast_rows, B1);
    CHECK_LAYOUT(l_bcast_cols, B1);
    CHECK_LAYOUT(l_bcast_all, B1);
    CHECK_LAYOUT(l_bcast_mid, B1);
    CHECK_LAYOUT(l_bcast_neg, B1);
    CHECK_LAYOUT(l_ones, B1);
    CHECK_LAYOUT(l_overlap, B1);
    CHECK_LAYOUT(l_overlap_2d, B1);
}

static void test_copy_zero_size(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{0, 5, 3}, {5, 0, 3}, {5, 3, 0}};
    const int64_t junk[] = {INT64_MAX, INT64_MIN, 12345};
    for (size_t d = 0; d < NDTYPES; d++) {
        for (int s = 0; s < 3; s++) {
            for (int null_data = 0; null_data < 2; null_data++) {
                shma_view v;
                memset(&v, 0, sizeof v);
                assert_shma_ok(shma_dtype_parse(DTYPES[d], &v.dtype));
                v.ndim = 3;
                v.shape = shapes[s];
                v.strides = null_data ? NULL : junk; /* never followed */
                v.data = null_data ? NULL : (void *)junk;
                check_copy(&v, "zero-size");
            }
        }
        shma_view v;
        memset(&v, 0, sizeof v);
        assert_shma_ok(shma_dtype_parse(DTYPES[d], &v.dtype));
        v.ndim = 1;
        v.shape = (const int64_t[]){0};
        check_copy(&v, "zero-size 1-d");
    }
}

static void test_copy_0d(void **state) {
    (void)state;
    for (size_t d = 0; d < NDTYPES; d++) {
        uint32_t isz = itemsize_of(DTYPES[d]);
        unsigned char *base = random_bytes(isz, (uint32_t)d);
        shma_view v;
        memset(&v, 0, sizeof v);
        assert_shma_ok(shma_dtype_parse(DTYPES[d], &v.dtype));
        v.data = base;
        check_copy(&v, "0-d, NULL shape and strides");
        int64_t ignored[] = {-3};
        v.shape = ignored;
        v.strides = ignored;
        check_copy(&v, "0-d, shape and strides ignored");
        free(base);
    }
}

/* Items larger than a copy tile's row (here 100 and 5000 bytes) and transposed. */
static void test_copy_big_items(void **state) {
    (void)state;
    const char *dtypes[] = {"V100", "V5000", "V24"};
    const int64_t base_shape[] = {5, 9};
    for (size_t d = 0; d < 3; d++) {
        uint32_t isz = itemsize_of(dtypes[d]);
        unsigned char *base = random_bytes(base_bytes(2, base_shape, isz), (uint32_t)d + 100);
        layout ls[] = {
            contiguous(2, base_shape, isz),
            transpose(contiguous(2, base_shape, isz)),
            slice(transpose(contiguous(2, base_shape, isz)), 1, 4, 5, -1),
            slice(contiguous(2, base_shape, isz), 1, 1, 4, 2),
        };
        for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
            shma_view v = view_of_layout(base, &ls[i], dtypes[d]);
            check_copy(&v, "big items");
        }
        free(base);
    }
}

/* A large transposed copy, which takes the tiled path, against the naive reference. */
static void test_copy_large_tiled(void **state) {
    (void)state;
    const bool small = under_valgrind();
    struct {
        int64_t rows, cols;
        const char *dtype;
        bool reverse;
    } cases[] = {
        {small ? 200 : 1000, small ? 300 : 1000, "<f8", false},
        {small ? 131 : 1003, small ? 67 : 517, "<c16", false},
        {small ? 150 : 777, small ? 140 : 1111, "u1", true},
        {small ? 70 : 300, small ? 65 : 257, "<U3", true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t isz = itemsize_of(cases[c].dtype);
        int64_t shape[] = {cases[c].rows, cases[c].cols};
        unsigned char *base = random_bytes(base_bytes(2, shape, isz), (uint32_t)c + 7);
        layout l = transpose(contiguous(2, shape, isz));
        if (cases[c].reverse) l = slice(l, 0, l.shape[0] - 1, l.shape[0], -1);
        shma_view v = view_of_layout(base, &l, cases[c].dtype);
        check_copy(&v, "large transposed");
        free(base);
    }
}

/* A transposed source that does not start on a cache line (malloc and NumPy give 16 bytes):
 * the bands then start where the source's lines do, and the gather's first chunk is shorter.
 * Each offset is checked against the reference, at sizes that go through the two-thread
 * split and at rows whose length is not a multiple of 64 bytes (bands cannot align there). */
static void test_copy_tiled_misaligned(void **state) {
    (void)state;
    const bool small = under_valgrind();
    struct {
        int64_t rows, cols;
        const char *dtype;
        uint32_t offset;
    } cases[] = {
        {small ? 256 : 1024, small ? 256 : 1024, "<f8", 16},
        {small ? 256 : 1024, small ? 256 : 1024, "<f8", 56},
        {small ? 200 : 1000, small ? 136 : 1032, "<f8", 8},
        {small ? 130 : 1001, small ? 130 : 1001, "<f8", 16},
        {small ? 300 : 2048, small ? 512 : 2048, "u1", 17},
        {small ? 128 : 700, small ? 256 : 1024, "<f4", 20},
        {small ? 64 : 400, small ? 128 : 512, "<c16", 48},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t isz = itemsize_of(cases[c].dtype);
        int64_t shape[] = {cases[c].rows, cases[c].cols};
        unsigned char *base = random_bytes(base_bytes(2, shape, isz) + 128, (uint32_t)c + 31);
        layout l = transpose(contiguous(2, shape, isz));
        l.offset = (int64_t)((64 - (uintptr_t)base % 64) % 64 + cases[c].offset);
        shma_view v = view_of_layout(base, &l, cases[c].dtype);
        assert_int_equal((uintptr_t)v.data % 64, cases[c].offset);
        check_copy(&v, "transposed, source off its cache line");
        free(base);
    }
}

/* A source that is itself an array of the library, through a manager; the copy's trailer
 * describes it, so attach_name finds the same shape and dtype. */
static void test_copy_from_array_with_manager(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    int64_t shape[] = {6, 4};
    shma_array *src = alloc_tracked(mgr, 2, shape, "<i4");
    int32_t *d = shma_data(src);
    for (int i = 0; i < 24; i++) d[i] = i * i - 7;
    shma_view v;
    assert_shma_ok(shma_view_of(src, &v));

    shma_array *c1 = NULL, *c2 = NULL;
    assert_shma_ok(shma_copy(mgr, &v, &c1));
    seg_track(shma_name(c1));
    assert_shma_ok(shma_copy_unsafe(mgr, &v, &c2));
    seg_track(shma_name(c2));
    assert_int_equal(shma_manager_count(mgr), 3);
    assert_memory_equal(shma_data(c1), d, 96);
    assert_memory_equal(shma_data(c2), d, 96);

    shma_array *att = NULL;
    assert_shma_ok(shma_attach_name(shma_name(c1), &att));
    assert_int_equal(shma_ndim(att), 2);
    assert_memory_equal(shma_shape(att), shape, sizeof shape);
    assert_string_equal(shma_dtype_str(att), "<i4");
    assert_memory_equal(shma_data(att), d, 96);
    assert_shma_ok(shma_close(&att));
    assert_shma_ok(shma_attach(shma_name(c2), 2, shape, "int32", &att));
    assert_shma_ok(shma_close(&att));

    /* A transposed view of the array. */
    int64_t tshape[] = {4, 6}, tstrides[] = {4, 16};
    shma_view t = v;
    t.shape = tshape;
    t.strides = tstrides;
    assert_shma_ok(shma_copy(mgr, &t, &att));
    seg_track(shma_name(att));
    const int32_t *td = shma_data(att);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 6; c++) assert_int_equal(td[r * 6 + c], d[c * 4 + r]);
    assert_int_equal(shma_manager_count(mgr), 4);

    char names[4][SHMA_NAME_MAX + 1];
    shma_array *all[] = {src, c1, c2, att};
    for (int i = 0; i < 4; i++) snprintf(names[i], sizeof names[i], "%s", shma_name(all[i]));
    assert_shma_ok(shma_manager_shutdown(&mgr));
    for (int i = 0; i < 4; i++) {
        assert_false(seg_exists(names[i]));
        assert_shma_ok(shma_close(&all[i]));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Bad views: errors, out untouched, nothing left in /dev/shm
 * ------------------------------------------------------------------------------------------- */

static shma_view fake_view(uintptr_t data, int ndim, const int64_t *shape, const int64_t *strides, const char *dtype) {
    shma_view v;
    memset(&v, 0, sizeof v);
    v.data = (void *)data;
    v.ndim = ndim;
    v.shape = shape;
    v.strides = strides;
    assert_shma_ok(shma_dtype_parse(dtype, &v.dtype));
    return v;
}

static void test_copy_bad_views(void **state) {
    (void)state;
    shm_listing before = shm_list();
    shma_array *sentinel = (shma_array *)&before, *a = sentinel;
    const uintptr_t addr = 0x10000;

    assert_shma_fails(shma_copy(NULL, NULL, &a), SHMA_E_ARG, "view is NULL");
    shma_view v = fake_view(addr, 1, (const int64_t[]){4}, (const int64_t[]){8}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, NULL), SHMA_E_ARG, "out is NULL");

    /* strides whose reach overflows int64 */
    v = fake_view(addr, 1, (const int64_t[]){3}, (const int64_t[]){INT64_MAX}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_STRIDES, "overflows int64");
    v = fake_view(addr, 1, (const int64_t[]){2}, (const int64_t[]){INT64_MAX}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_STRIDES, "itemsize");
    v = fake_view(addr, 2, (const int64_t[]){2, 2}, (const int64_t[]){INT64_MAX / 2 + 1, INT64_MAX / 2 + 1}, "u1");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_STRIDES, "beyond int64");
    v = fake_view(addr, 1, (const int64_t[]){3}, (const int64_t[]){INT64_MIN / 2}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_STRIDES, "");
    /* reaching below address 0 or past the top of memory */
    v = fake_view(addr, 1, (const int64_t[]){2}, (const int64_t[]){-(int64_t)addr - 8}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_STRIDES, "below its data address");
    v = fake_view(UINTPTR_MAX - 64, 1, (const int64_t[]){2}, (const int64_t[]){64}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_STRIDES, "past the top of memory");

    /* shapes */
    v = fake_view(addr, 2, (const int64_t[]){(int64_t)1 << 32, (int64_t)1 << 32}, (const int64_t[]){0, 0}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_OVERFLOW, "overflows");
    v = fake_view(addr, 2, (const int64_t[]){3, -1}, (const int64_t[]){8, 8}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_SHAPE, "shape[1] = -1 is negative");
    v = fake_view(addr, 65, NULL, NULL, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_SHAPE, "ndim = 65");
    v = fake_view(addr, 2, NULL, (const int64_t[]){8, 8}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_ARG, "shape is NULL");

    /* data and strides */
    v = fake_view(0, 1, (const int64_t[]){4}, (const int64_t[]){8}, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_ARG, "data is NULL");
    v = fake_view(0, 0, NULL, NULL, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_ARG, "data is NULL");
    v = fake_view(addr, 2, (const int64_t[]){2, 2}, NULL, "f8");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_ARG, "strides are NULL");

    /* dtypes not filled by shma_dtype_parse */
    v = fake_view(addr, 1, (const int64_t[]){4}, (const int64_t[]){8}, "f8");
    snprintf(v.dtype.str, sizeof v.dtype.str, "O");
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_DTYPE, "");
    v.dtype.str[0] = '\0';
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_DTYPE, "");
    v = fake_view(addr, 1, (const int64_t[]){4}, (const int64_t[]){8}, "f8");
    v.dtype.itemsize = 0;
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_DTYPE, "has itemsize 0, not 8");

    assert_ptr_equal(a, sentinel);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

/* A view whose itemsize disagrees with its dtype string: the copy must not trust the struct's
 * itemsize to size the writes into a buffer sized from the string (an overflow into the
 * trailer and beyond), nor copy the wrong number of bytes the other way round. */
static void test_copy_itemsize_mismatch(void **state) {
    (void)state;
    unsigned char *base = random_bytes(80, 5);
    static const struct {
        const char *dtype;
        uint32_t claimed;
    } cases[] = {{"u1", 8}, {"f8", 1}, {"S3", 12}};
    shm_listing before = shm_list();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shma_view v = fake_view((uintptr_t)base, 1, (const int64_t[]){10}, (const int64_t[]){cases[i].claimed},
                                cases[i].dtype);
        v.dtype.itemsize = cases[i].claimed;
        shma_array *a = NULL;
        int rc = shma_copy(NULL, &v, &a);
        if (rc == SHMA_OK) {
            seg_track(shma_name(a));
            shma_info info;
            memset(&info, 0, sizeof info);
            int irc = shma_inspect(shma_name(a), &info);
            char name[SHMA_NAME_MAX + 1];
            snprintf(name, sizeof name, "%s", shma_name(a));
            shma_close(&a);
            free(base);
            shm_listing_free(&before);
            fail_msg("copy accepted a view of dtype '%s' claiming itemsize %u and wrote %u bytes into the "
                     "array '%s' of %zu data bytes (inspect now: %s, has_meta %d)",
                     v.dtype.str, cases[i].claimed, 10 * cases[i].claimed, name, (size_t)10 * itemsize_of(cases[i].dtype),
                     shma_errname(irc), info.has_meta);
        }
        if (rc != SHMA_E_DTYPE) fail_msg("expected SHMA_E_DTYPE, got %s (%s)", shma_errname(rc), shma_last_error());
        assert_non_null(strstr(shma_last_error(), "itemsize"));
        assert_null(a);
    }
    free(base);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

/* A broadcast view that reads one byte but describes a terabyte: the reservation fails
 * cleanly before anything is read. */
static void test_copy_nospc(void **state) {
    (void)state;
    unsigned char one = 7;
    shma_view v = fake_view((uintptr_t)&one, 2, (const int64_t[]){1 << 20, 1 << 20}, (const int64_t[]){0, 0}, "u1");
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
    shm_listing before = shm_list();
    shma_array *a = NULL;
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_NOSPC, "cannot reserve");
    assert_shma_fails(shma_copy(mgr, &v, &a), SHMA_E_NOSPC, "cannot reserve");
    assert_shma_fails(shma_copy_unsafe(mgr, &v, &a), SHMA_E_NOSPC, "cannot reserve");
    assert_null(a);
    assert_int_equal(shma_manager_count(mgr), 0);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
    assert_shma_ok(shma_manager_shutdown(&mgr));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_copy_contiguous),
        SEG_TEST(test_copy_sliced),
        SEG_TEST(test_copy_transposed_2d),
        SEG_TEST(test_copy_tiled_misaligned),
        SEG_TEST(test_copy_permutations_3d),
        SEG_TEST(test_copy_negative_strides),
        SEG_TEST(test_copy_zero_strides),
        SEG_TEST(test_copy_zero_size),
        SEG_TEST(test_copy_0d),
        SEG_TEST(test_copy_big_items),
        SEG_TEST(test_copy_large_tiled),
        SEG_TEST(test_copy_from_array_with_manager),
        SEG_TEST(test_copy_bad_views),
        SEG_TEST(test_copy_itemsize_mismatch),
        SEG_TEST(test_copy_nospc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
