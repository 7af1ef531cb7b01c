/*
 * copy.c: gathering a strided view into a C-contiguous buffer.
 *
 * The view is first simplified (size-1 dimensions dropped, dimensions that are contiguous with
 * their inner neighbour merged), so a sliced-but-contiguous-rows source becomes a few long
 * memcpy calls. What remains is either a plain odometer walk over rows, or, when the source's
 * innermost dimension is not its fastest-moving one (a transpose), a walk in square tiles so
 * that both the reads and the writes of a tile stay in cache.
 */
#include "internal.h"

#include <string.h>

#define TILE_BYTES 4096 /* a tile's rows are this long at most: tile = TILE_BYTES / itemsize */

typedef struct simple_view {
    int ndim;
    int64_t shape[SHMA_MAX_NDIM];
    int64_t strides[SHMA_MAX_NDIM];
} simple_view;

static void simplify(const shma_view *src, simple_view *v) {
    v->ndim = 0;
    for (int i = 0; i < src->ndim; i++) {
        if (src->shape[i] == 1) continue;
        v->shape[v->ndim] = src->shape[i];
        v->strides[v->ndim] = src->strides[i];
        v->ndim++;
    }
    /* Merge dim k into k-1 when stepping k-1 once equals stepping k across its whole length. */
    int out = 0;
    for (int i = 1; i < v->ndim; i++) {
        int64_t span;
        if (!__builtin_mul_overflow(v->strides[i], v->shape[i], &span) && v->strides[out] == span) {
            v->shape[out] *= v->shape[i];
            v->strides[out] = v->strides[i];
        } else {
            out++;
            v->shape[out] = v->shape[i];
            v->strides[out] = v->strides[i];
        }
    }
    if (v->ndim > 0) v->ndim = out + 1;
}

/* Copies `n` elements of `itemsize` bytes spaced `stride` apart into dst, contiguously. The
 * fixed sizes let the compiler turn each memcpy into one load and store. */
static void gather_row(char *dst, const char *src, int64_t n, int64_t stride, uint32_t itemsize) {
    switch (itemsize) {
#define GATHER_CASE(sz)                                                                            \
    case sz:                                                                                       \
        for (int64_t i = 0; i < n; i++) memcpy(dst + i * sz, src + i * stride, sz);                \
        return;
        GATHER_CASE(1)
        GATHER_CASE(2)
        GATHER_CASE(4)
        GATHER_CASE(8)
        GATHER_CASE(16)
#undef GATHER_CASE
    default:
        for (int64_t i = 0; i < n; i++) memcpy(dst + i * itemsize, src + i * stride, itemsize);
    }
}

/* A 2-D source whose rows are strided: read it in tiles, each written row by row. */
static void copy_tiled_2d(char *dst, const char *src, const simple_view *v, uint32_t itemsize) {
    int64_t rows = v->shape[0], cols = v->shape[1];
    int64_t rs = v->strides[0], cs = v->strides[1];
    int64_t tile = TILE_BYTES / itemsize >= 64 ? 64 : (int64_t)(TILE_BYTES / itemsize);
    if (tile < 1) tile = 1;
    int64_t dst_row = cols * itemsize;
    for (int64_t r0 = 0; r0 < rows; r0 += tile) {
        int64_t r1 = r0 + tile < rows ? r0 + tile : rows;
        for (int64_t c0 = 0; c0 < cols; c0 += tile) {
            int64_t c1 = c0 + tile < cols ? c0 + tile : cols;
            for (int64_t r = r0; r < r1; r++)
                gather_row(dst + r * dst_row + c0 * itemsize, src + r * rs + c0 * cs, c1 - c0, cs, itemsize);
        }
    }
}

void shma__copy_to_contiguous(void *dst_, const shma_view *src, uint64_t nbytes) {
    char *dst = dst_;
    const char *base = src->data;
    uint32_t itemsize = src->dtype.itemsize;
    simple_view v;
    simplify(src, &v);

    if (v.ndim == 0 || (v.ndim == 1 && v.strides[0] == (int64_t)itemsize)) {
        memcpy(dst, base, nbytes);
        return;
    }
    int last = v.ndim - 1;
    int64_t inner = v.shape[last], inner_stride = v.strides[last];
    /* Transposed-like: the inner dimension jumps further than the one above it. */
    bool tiled = v.ndim == 2 && inner_stride != (int64_t)itemsize &&
                 (v.strides[0] < 0 ? -v.strides[0] : v.strides[0]) < (inner_stride < 0 ? -inner_stride : inner_stride);
    if (tiled) {
        copy_tiled_2d(dst, base, &v, itemsize);
        return;
    }

    /* Odometer over the outer dimensions, one row of `inner` elements at a time. */
    int64_t idx[SHMA_MAX_NDIM] = {0};
    const char *row = base;
    int64_t row_bytes = inner * itemsize;
    for (uint64_t done = 0; done < nbytes; done += (uint64_t)row_bytes, dst += row_bytes) {
        if (inner_stride == (int64_t)itemsize) memcpy(dst, row, (size_t)row_bytes);
        else gather_row(dst, row, inner, inner_stride, itemsize);
        for (int d = last - 1; d >= 0; d--) {
            row += v.strides[d];
            if (++idx[d] < v.shape[d]) break;
            row -= v.strides[d] * v.shape[d];
            idx[d] = 0;
        }
    }
}
