/* shape.c: shape validation, byte counts and strides. Pure functions: no I/O, no allocation. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>

/* Enough for the head of a long shape, "...", its last dim and the closing ")" while leaving
 * room in the detail buffer for the rest of a message. */
#define SHAPE_TEXT_MAX 200

/* Longest ", <int64>" piece: ", " and "-9223372036854775808". */
#define DIM_TEXT_MAX 22

/* Appends printf-style text at *pos, never past cap, keeping buf NUL-terminated. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *pos,
                                                         const char *fmt, ...) {
    if (*pos >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, cap - *pos, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    *pos = ((size_t)n < cap - *pos) ? *pos + (size_t)n : cap - 1;
}

/* Writes shape as NumPy prints it, "(3, 4)", "(5,)" or "()". A shape too long for the buffer
 * keeps its first dims and its last one around "...", so the message stays readable. */
void shma__format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t pos = 0;
    buf[0] = '\0';
    append(buf, cap, &pos, "(");
    for (int k = 0; k < ndim; k++) {
        bool room_for_rest = pos + DIM_TEXT_MAX + sizeof ", ..." + DIM_TEXT_MAX + sizeof ")" <= cap;
        if (k > 0 && k < ndim - 1 && !room_for_rest) {
            append(buf, cap, &pos, ", ...");
            k = ndim - 1;
        }
        append(buf, cap, &pos, "%s%" PRId64, k > 0 ? ", " : "", shape[k]);
    }
    append(buf, cap, &pos, ndim == 1 ? ",)" : ")");
}

int shma__shape_check(int ndim, const int64_t *shape, uint32_t itemsize, uint64_t *nbytes) {
    SHMA_FAIL_IF(ndim < 0 || ndim > SHMA_MAX_NDIM, SHMA_E_SHAPE, "ndim = %d is out of range 0..%d",
                 ndim, SHMA_MAX_NDIM);
    SHMA_FAIL_IF(ndim > 0 && shape == NULL, SHMA_E_ARG, "shape is NULL but ndim = %d", ndim);

    bool empty = false;
    for (int k = 0; k < ndim; k++) {
        SHMA_FAIL_IF(shape[k] < 0, SHMA_E_SHAPE, "shape[%d] = %" PRId64 " is negative", k, shape[k]);
        if (shape[k] == 0) empty = true;
    }
    if (empty) {
        *nbytes = 0;
        return SHMA_OK;
    }

    int64_t total = itemsize;
    bool overflow = false;
    for (int k = 0; k < ndim && !overflow; k++) overflow = __builtin_mul_overflow(total, shape[k], &total);
    if (overflow) {
        char text[SHAPE_TEXT_MAX];
        shma__format_shape(text, sizeof text, ndim, shape);
        return shma__fail(SHMA_E_OVERFLOW, "shape %s x itemsize %" PRIu32 " overflows int64", text,
                          itemsize);
    }
    *nbytes = (uint64_t)total;
    return SHMA_OK;
}

uint64_t shma__shape_nbytes(int ndim, const int64_t *shape, uint32_t itemsize) {
    uint64_t total = itemsize;
    for (int k = 0; k < ndim; k++) total *= (uint64_t)shape[k];
    return total;
}

void shma__contiguous_strides(int ndim, const int64_t *shape, uint32_t itemsize, int64_t *strides) {
    /* As NumPy, a zero dim counts as 1, so an empty array still gets the strides of its
     * non-empty neighbours. shma__shape_check() does not bound the other dims of an empty
     * shape, so the product is taken modulo 2^64: harmless, nothing is addressed through an
     * empty array's strides. */
    uint64_t step = itemsize;
    for (int k = ndim - 1; k >= 0; k--) {
        strides[k] = (int64_t)step;
        if (shape[k] != 0) step *= (uint64_t)shape[k];
    }
}

int shma__view_check(const shma_view *v, uint64_t *nbytes, int64_t *lo, int64_t *hi) {
    SHMA_FAIL_IF(v == NULL, SHMA_E_ARG, "view is NULL");
    uint32_t itemsize = v->dtype.itemsize;
    SHMA_FAIL_IF(itemsize == 0, SHMA_E_ARG, "view dtype '%.*s' has itemsize 0",
                 (int)sizeof v->dtype.str, v->dtype.str);
    uint64_t total;
    SHMA_FORWARD(shma__shape_check(v->ndim, v->shape, itemsize, &total));
    if (total == 0) {
        *nbytes = 0;
        *lo = 0;
        *hi = 0;
        return SHMA_OK;
    }
    SHMA_FAIL_IF(v->data == NULL, SHMA_E_ARG, "view data is NULL but the view holds %" PRIu64 " bytes",
                 total);
    SHMA_FAIL_IF(v->ndim > 0 && v->strides == NULL, SHMA_E_ARG, "view strides are NULL but ndim = %d",
                 v->ndim);

    /* The lowest offset sums the negative strides' reach, the highest the positive ones'. */
    int64_t low = 0, high = 0;
    for (int k = 0; k < v->ndim; k++) {
        int64_t reach;
        SHMA_FAIL_IF(__builtin_mul_overflow(v->shape[k] - 1, v->strides[k], &reach), SHMA_E_STRIDES,
                     "strides[%d] = %" PRId64 " x (shape[%d] - 1) = %" PRId64 " overflows int64", k,
                     v->strides[k], k, v->shape[k] - 1);
        int64_t *end = reach < 0 ? &low : &high;
        SHMA_FAIL_IF(__builtin_add_overflow(*end, reach, end), SHMA_E_STRIDES,
                     "strides reach beyond int64 at dim %d (strides[%d] = %" PRId64 ")", k, k,
                     v->strides[k]);
    }
    SHMA_FAIL_IF(__builtin_add_overflow(high, (int64_t)itemsize, &high), SHMA_E_STRIDES,
                 "strides reach beyond int64: highest element offset + itemsize %" PRIu32 " overflows",
                 itemsize);

    /* Offsets are fine as numbers; added to the address they must not wrap either. */
    uintptr_t base = (uintptr_t)v->data;
    uint64_t below = (uint64_t)0 - (uint64_t)low;
    SHMA_FAIL_IF(below > (uint64_t)base, SHMA_E_STRIDES,
                 "view reaches %" PRIu64 " bytes below its data address %p, past address 0", below,
                 v->data);
    SHMA_FAIL_IF((uint64_t)high > (uint64_t)(UINTPTR_MAX - base), SHMA_E_STRIDES,
                 "view reaches %" PRId64 " bytes above its data address %p, past the top of memory",
                 high, v->data);

    *nbytes = total;
    *lo = low;
    *hi = high;
    return SHMA_OK;
}
