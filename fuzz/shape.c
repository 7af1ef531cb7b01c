/*
 * fuzz/shape.c: shape validation, byte counts, contiguous strides, view validation and the
 * strided copy.
 *
 * Properties:
 *  - shma__shape_check accepts exactly the shapes an independent 128-bit computation says
 *    fit (ndim in range, no negative dim, product x itemsize <= INT64_MAX, or a zero dim),
 *    with the same byte count; shma__shape_nbytes and shma__contiguous_strides agree.
 *  - shma__view_check with fuzzer-chosen strides (zero, negative, overlapping, huge) accepts
 *    exactly the views whose offsets fit in int64 and do not wrap the address, and reports
 *    the same lowest/highest byte offsets as the 128-bit model.
 *  - For an accepted view of modest extent, shma__copy_to_contiguous from a buffer of exactly
 *    [data + lo, data + hi) bytes reads nothing outside it (ASan would report it) and writes
 *    the elements in C order (checked element by element against the model).
 */
#include "fuzz_helpers.h"

/* Copies are only attempted when source extent and destination both stay below this. */
#define COPY_MAX_BYTES (1u << 18)

typedef __int128 i128;

static const i128 I64_MAX = INT64_MAX, I64_MIN = INT64_MIN;

/* The model of shma__shape_check: the expected code and byte count. */
static int model_shape(int ndim, const int64_t *shape, uint32_t itemsize, uint64_t *nbytes) {
    if (ndim < 0 || ndim > SHMA_MAX_NDIM) return SHMA_E_SHAPE;
    for (int k = 0; k < ndim; k++)
        if (shape[k] < 0) return SHMA_E_SHAPE;
    for (int k = 0; k < ndim; k++)
        if (shape[k] == 0) {
            *nbytes = 0;
            return SHMA_OK;
        }
    /* Saturating: once past INT64_MAX the exact value no longer matters. */
    i128 total = itemsize;
    for (int k = 0; k < ndim; k++) {
        total *= shape[k];
        if (total > I64_MAX) return SHMA_E_OVERFLOW;
    }
    *nbytes = (uint64_t)total;
    return SHMA_OK;
}

/* A dim for the pure shape check: anything, edges often. */
static int64_t pick_dim(fuzz_producer *p) { return fuzz_interesting_i64(p); }

/* A stride relative to a natural one, so contiguous, transposed, broadcast (0), reversed,
 * overlapping and huge strides all come up. */
static int64_t pick_stride(fuzz_producer *p, int64_t natural, uint32_t itemsize) {
    /* natural may be anything (contiguous strides wrap for shapes that overflow), so the
     * arithmetic on it wraps too, in uint64. */
    switch (fuzz_u8(p) % 8) {
    case 0: return natural;
    case 1: return (int64_t)(0 - (uint64_t)natural);
    case 2: return 0;
    case 3: return (int64_t)itemsize * ((int64_t)fuzz_range(p, 0, 32) - 16);
    case 4: return (int64_t)fuzz_range(p, 0, 512) - 256; /* unaligned, overlapping */
    case 5: return (int64_t)((uint64_t)natural * fuzz_range(p, 2, 5));
    default: return fuzz_interesting_i64(p);
    }
}

static void check_shape(int ndim, const int64_t *shape, uint32_t itemsize) {
    uint64_t want_nbytes = 0, got_nbytes = 0;
    int want = model_shape(ndim, shape, itemsize, &want_nbytes);
    fuzz_clear_error();
    int got = shma__shape_check(ndim, shape, itemsize, &got_nbytes);
    FUZZ_ASSERT_MSG(got == want, "shape_check(ndim %d, itemsize %u) = %s, model says %s", ndim, itemsize,
                    shma_errname(got), shma_errname(want));
    if (got != SHMA_OK) {
        FUZZ_ASSERT_CLEAN_ERROR(got);
        return;
    }
    FUZZ_ASSERT_EQ(got_nbytes, want_nbytes);
    if (got_nbytes == 0) return;
    FUZZ_ASSERT_EQ(shma__shape_nbytes(ndim, shape, itemsize), got_nbytes);

    int64_t strides[SHMA_MAX_NDIM];
    shma__contiguous_strides(ndim, shape, itemsize, strides);
    for (int k = ndim - 1; k >= 0; k--) {
        int64_t inner = k == ndim - 1 ? (int64_t)itemsize : strides[k + 1] * shape[k + 1];
        FUZZ_ASSERT_EQ(strides[k], inner);
    }
    if (ndim > 0) FUZZ_ASSERT_EQ((uint64_t)strides[0] * (uint64_t)shape[0], got_nbytes);
}

/* The model of shma__view_check for a view at address `base`. */
static int model_view(const shma_view *v, uintptr_t base, int64_t *lo, int64_t *hi) {
    uint64_t nbytes;
    int rc = model_shape(v->ndim, v->shape, v->dtype.itemsize, &nbytes);
    if (rc != SHMA_OK) return rc;
    if (nbytes == 0) {
        *lo = *hi = 0;
        return SHMA_OK;
    }
    i128 low = 0, high = 0;
    for (int k = 0; k < v->ndim; k++) {
        i128 reach = (i128)(v->shape[k] - 1) * v->strides[k];
        if (reach > I64_MAX || reach < I64_MIN) return SHMA_E_STRIDES;
        if (reach < 0) low += reach;
        else high += reach;
    }
    high += v->dtype.itemsize;
    if (low < I64_MIN || high > I64_MAX) return SHMA_E_STRIDES;
    if (-low > (i128)base || high > (i128)(UINTPTR_MAX - base)) return SHMA_E_STRIDES;
    *lo = (int64_t)low;
    *hi = (int64_t)high;
    return SHMA_OK;
}

/* Byte offset of element number `flat` (C order) of the view. */
static int64_t element_offset(const shma_view *v, uint64_t flat) {
    int64_t off = 0;
    for (int k = v->ndim - 1; k >= 0; k--) {
        uint64_t n = (uint64_t)v->shape[k];
        off += (int64_t)(flat % n) * v->strides[k];
        flat /= n;
    }
    return off;
}

static void check_copy(const shma_view *model_view_at, int64_t lo, int64_t hi, uint64_t nbytes) {
    size_t extent = (size_t)((uint64_t)hi - (uint64_t)lo);
    /* Exactly the extent: one byte more or less read by the copy is an ASan report. */
    unsigned char *src = malloc(extent);
    unsigned char *dst = malloc(nbytes);
    FUZZ_ASSERT(src != NULL && dst != NULL);
    for (size_t i = 0; i < extent; i++) src[i] = (unsigned char)(i * 131u + (i >> 8) * 7u + 1u);
    memset(dst, 0xEE, nbytes);

    shma_view v = *model_view_at;
    /* data - lo is inside or at the start of the buffer: lo <= 0. */
    v.data = src + (size_t)(-lo);

    uint64_t nbytes2;
    int64_t lo2, hi2;
    int rc = shma__view_check(&v, &nbytes2, &lo2, &hi2);
    FUZZ_ASSERT_MSG(rc == SHMA_OK, "view_check at a real address: %s", shma_errname(rc));
    FUZZ_ASSERT(nbytes2 == nbytes && lo2 == lo && hi2 == hi);

    shma__copy_to_contiguous(dst, &v, nbytes);

    uint32_t itemsize = v.dtype.itemsize;
    uint64_t count = nbytes / itemsize;
    for (uint64_t e = 0; e < count; e++) {
        int64_t off = element_offset(&v, e);
        FUZZ_ASSERT_MSG(off >= lo && off + (int64_t)itemsize <= hi, "element %llu at offset %lld outside [%lld, %lld)",
                        (unsigned long long)e, (long long)off, (long long)lo, (long long)hi);
        const unsigned char *want = (const unsigned char *)v.data + off;
        FUZZ_ASSERT_MSG(memcmp(dst + e * itemsize, want, itemsize) == 0, "element %llu copied wrongly",
                        (unsigned long long)e);
    }
    free(src);
    free(dst);
}

static void check_view(fuzz_producer *p, int ndim, const int64_t *shape, uint32_t itemsize) {
    int64_t natural[SHMA_MAX_NDIM], strides[SHMA_MAX_NDIM];
    shma__contiguous_strides(ndim, shape, itemsize, natural);
    for (int k = 0; k < ndim; k++) strides[k] = pick_stride(p, natural[k], itemsize);

    shma_view v;
    memset(&v, 0, sizeof v);
    v.ndim = ndim;
    v.shape = shape;
    v.strides = strides;
    v.dtype.itemsize = itemsize;
    v.dtype.kind = 'V';
    v.dtype.byteorder = '|';
    snprintf(v.dtype.str, sizeof v.dtype.str, "|V%u", itemsize);

    /* A fake address in the middle of the user range, or near either end, to reach the wrap
     * checks. Never dereferenced. */
    static const uintptr_t bases[] = {(uintptr_t)1 << 44, 4096, UINTPTR_MAX - 4095};
    uintptr_t base = bases[fuzz_range(p, 0, FUZZ_COUNT(bases) - 1)];
    v.data = (void *)base;

    int64_t want_lo = 0, want_hi = 0, lo = 0, hi = 0;
    uint64_t nbytes = 0;
    int want = model_view(&v, base, &want_lo, &want_hi);
    fuzz_clear_error();
    int got = shma__view_check(&v, &nbytes, &lo, &hi);
    FUZZ_ASSERT_MSG(got == want, "view_check = %s, model says %s", shma_errname(got), shma_errname(want));
    if (got != SHMA_OK) {
        FUZZ_ASSERT_CLEAN_ERROR(got);
        return;
    }
    FUZZ_ASSERT_EQ(lo, want_lo);
    FUZZ_ASSERT_EQ(hi, want_hi);
    FUZZ_ASSERT(lo <= 0 && (nbytes == 0 ? hi == 0 : hi >= (int64_t)itemsize));

    if (nbytes > 0 && nbytes <= COPY_MAX_BYTES && (uint64_t)hi - (uint64_t)lo <= COPY_MAX_BYTES && fuzz_bool(p))
        check_copy(&v, lo, hi, nbytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_producer p = fuzz_producer_make(data, size);
    bool small = fuzz_bool(&p); /* small shapes reach the copy; the rest hunt overflows */

    int ndim;
    int64_t shape[SHMA_MAX_NDIM + 2] = {0};
    uint32_t itemsize;
    if (small) {
        ndim = (int)fuzz_range(&p, 0, 6);
        static const uint32_t sizes[] = {1, 2, 4, 8, 16, 3, 5, 12, 40};
        itemsize = sizes[fuzz_range(&p, 0, FUZZ_COUNT(sizes) - 1)];
        for (int k = 0; k < ndim; k++) shape[k] = (int64_t)fuzz_range(&p, 0, 9);
    } else {
        ndim = (int)fuzz_range(&p, 0, SHMA_MAX_NDIM + 2) - 1; /* -1 .. 65 */
        itemsize = fuzz_bool(&p) ? (uint32_t)fuzz_range(&p, 1, 64) : fuzz_u32(&p);
        if (itemsize == 0) itemsize = 1; /* shma_dtype promises >= 1; view_check tests 0 below */
        for (int k = 0; k < ndim; k++) shape[k] = pick_dim(&p);
    }

    check_shape(ndim, shape, itemsize);
    if (ndim >= 0 && ndim <= SHMA_MAX_NDIM) check_view(&p, ndim, shape, itemsize);

    /* A view whose dtype claims itemsize 0 is refused, never divided by. */
    shma_view zero;
    memset(&zero, 0, sizeof zero);
    zero.ndim = 0;
    zero.data = shape;
    fuzz_clear_error();
    uint64_t nb;
    int64_t lo, hi;
    int rc = shma__view_check(&zero, &nb, &lo, &hi);
    FUZZ_ASSERT_EQ(rc, SHMA_E_ARG);
    FUZZ_ASSERT_CLEAN_ERROR(rc);
    return 0;
}
