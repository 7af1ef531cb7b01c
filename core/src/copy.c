/*
 * copy.c: gathering a strided view into a C-contiguous buffer, whole or a byte range at a time.
 *
 * The view is first simplified (size-1 dimensions dropped, dimensions that are contiguous with
 * their inner neighbour merged), so a sliced-but-contiguous-rows source becomes a few long
 * memcpy calls. What remains is either a plain odometer walk over rows, or, when the source's
 * innermost dimension is not its fastest-moving one (a transpose), a walk over bands of rows,
 * column by column, so that every source cache line is read once and used whole while the
 * band's output rows (a few KiB each) stay in cache.
 *
 * A range of the output can be produced on its own (shma__copy_range), so a caller can gather
 * a large copy piece by piece into a small cache-resident buffer, or split it between threads.
 */
#include "internal.h"

#include <string.h>

enum { PLAN_CONTIGUOUS, PLAN_ROWS, PLAN_TILED };

static void simplify(const shma_view *src, shma_copy_plan *v) {
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

static int64_t abs64(int64_t x) { return x < 0 ? -x : x; }

void shma__copy_plan(shma_copy_plan *p, const shma_view *src, uint64_t nbytes) {
    p->base = src->data;
    p->itemsize = src->dtype.itemsize;
    p->nbytes = nbytes;
    p->ndim = 0;
    /* An empty view's strides and data are never followed (they may be NULL). */
    if (nbytes > 0) simplify(src, p);
    p->phase = 0;
    if (nbytes == 0 || p->ndim == 0 || (p->ndim == 1 && p->strides[0] == (int64_t)p->itemsize)) {
        p->kind = PLAN_CONTIGUOUS;
        p->row_elems = (int64_t)(nbytes / p->itemsize);
        p->tile = 1;
        return;
    }
    int last = p->ndim - 1;
    p->row_elems = p->shape[last];
    /* Transposed-like: the inner dimension jumps further than the one above it. */
    bool tiled = p->ndim == 2 && p->strides[1] != (int64_t)p->itemsize && abs64(p->strides[0]) < abs64(p->strides[1]);
    p->kind = tiled ? PLAN_TILED : PLAN_ROWS;
    /* A transpose reads its source a band of rows at a time: one cache line of each column. */
    int64_t band = 64 / (int64_t)p->itemsize;
    p->tile = tiled && band > 1 ? band : 1;
    /* Bands line up with the source's cache lines in every column when the rows are adjacent
     * elements and each column starts at the same offset in its line. */
    uint64_t misalign = (uintptr_t)p->base % 64;
    if (p->tile > 1 && p->strides[0] == (int64_t)p->itemsize && p->strides[1] % 64 == 0 && misalign % p->itemsize == 0)
        p->phase = (int64_t)((64 - misalign) % 64 / p->itemsize);
}

const void *shma__copy_source_if_contiguous(const shma_copy_plan *p) {
    return p->kind == PLAN_CONTIGUOUS ? p->base : NULL;
}

uint64_t shma__copy_unit(const shma_copy_plan *p) { return (uint64_t)p->row_elems * p->itemsize * (uint64_t)p->tile; }

uint64_t shma__copy_phase(const shma_copy_plan *p) { return (uint64_t)p->row_elems * p->itemsize * (uint64_t)p->phase; }

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

/* Source address of the first element of output row `row` (rows of row_elems elements). */
static const char *row_source(const shma_copy_plan *p, int64_t row) {
    const char *a = p->base;
    for (int d = p->ndim - 2; d >= 0 && row > 0; d--) {
        a += (row % p->shape[d]) * p->strides[d];
        row /= p->shape[d];
    }
    return a;
}

/* How many source columns ahead a transpose prefetches: each column's elements sit in their
 * own cache line (usually their own page), which no hardware prefetcher predicts. */
#define PREFETCH_COLUMNS 24

/* Rows [r0, r0 + band) of a 2-D source whose rows are strided (a transpose), band <= 64: the
 * band's elements of one source column are read together (with band = 64 / itemsize they are
 * one cache line, used whole), then the next column, writing the band's rows side by side. */
#define BAND_CASE(sz)                                                                              \
    case sz:                                                                                       \
        for (int64_t c = 0; c < cols; c++) {                                                       \
            if (c + PREFETCH_COLUMNS < cols) __builtin_prefetch(src + (c + PREFETCH_COLUMNS) * cs); \
            const char *s = src + c * cs;                                                          \
            char *d = dst + c * sz;                                                                \
            for (int64_t r = 0; r < band; r++) memcpy(d + r * dst_row, s + r * rs, sz);           \
        }                                                                                          \
        return;

static void copy_band(const char *src, int64_t band, int64_t cols, int64_t rs, int64_t cs, uint32_t itemsize,
                      char *dst) {
    int64_t dst_row = cols * itemsize;
    switch (itemsize) {
        BAND_CASE(1)
        BAND_CASE(2)
        BAND_CASE(4)
        BAND_CASE(8)
        BAND_CASE(16)
    default:
        for (int64_t c = 0; c < cols; c++)
            for (int64_t r = 0; r < band; r++) memcpy(dst + r * dst_row + c * itemsize, src + r * rs + c * cs, itemsize);
    }
}
#undef BAND_CASE

/* Rows [r0, r1) of a transposed 2-D source, in bands of p->tile rows that start at rows
 * p->phase + k * p->tile (the first and last may be shorter), into dst (which holds row r0
 * first). */
static void copy_tiled_rows(const shma_copy_plan *p, int64_t r0, int64_t r1, char *dst) {
    int64_t cols = p->shape[1], rs = p->strides[0], cs = p->strides[1];
    int64_t dst_row = cols * p->itemsize;
    for (int64_t r = r0, next; r < r1; r = next) {
        int64_t into = ((r - p->phase) % p->tile + p->tile) % p->tile;
        next = r + p->tile - into < r1 ? r + p->tile - into : r1;
        copy_band(p->base + r * rs, next - r, cols, rs, cs, p->itemsize, dst + (r - r0) * dst_row);
    }
}

/* Rows [r0, r0 + count) by an odometer over the outer dimensions, one row at a time. */
static void copy_rows(const shma_copy_plan *p, int64_t r0, int64_t count, char *dst) {
    int last = p->ndim - 1;
    int64_t inner = p->row_elems, inner_stride = p->strides[last];
    int64_t row_bytes = inner * p->itemsize;
    int64_t idx[SHMA_MAX_NDIM];
    int64_t rest = r0;
    for (int d = last - 1; d >= 0; d--) {
        idx[d] = rest % p->shape[d];
        rest /= p->shape[d];
    }
    const char *row = row_source(p, r0);
    for (int64_t done = 0; done < count; done++, dst += row_bytes) {
        if (inner_stride == (int64_t)p->itemsize) memcpy(dst, row, (size_t)row_bytes);
        else gather_row(dst, row, inner, inner_stride, p->itemsize);
        for (int d = last - 1; d >= 0; d--) {
            row += p->strides[d];
            if (++idx[d] < p->shape[d]) break;
            row -= p->strides[d] * p->shape[d];
            idx[d] = 0;
        }
    }
}

void shma__copy_range(const shma_copy_plan *p, uint64_t off, uint64_t len, void *dst_) {
    char *dst = dst_;
    if (len == 0) return;
    if (p->kind == PLAN_CONTIGUOUS) {
        memcpy(dst, p->base + off, (size_t)len);
        return;
    }
    uint32_t itemsize = p->itemsize;
    int last = p->ndim - 1;
    int64_t inner = p->row_elems;
    int64_t e = (int64_t)(off / itemsize), end = (int64_t)((off + len) / itemsize);
    int64_t row = e / inner, col = e % inner;
    /* A partial first row, whole rows, a partial last row. */
    if (col != 0) {
        int64_t n = inner - col < end - e ? inner - col : end - e;
        gather_row(dst, row_source(p, row) + col * p->strides[last], n, p->strides[last], itemsize);
        dst += n * itemsize;
        e += n;
        row++;
    }
    int64_t whole = (end - e) / inner;
    if (whole > 0) {
        if (p->kind == PLAN_TILED) copy_tiled_rows(p, row, row + whole, dst);
        else copy_rows(p, row, whole, dst);
        dst += whole * inner * itemsize;
        e += whole * inner;
        row += whole;
    }
    if (e < end) gather_row(dst, row_source(p, row), end - e, p->strides[last], itemsize);
}

void shma__copy_to_contiguous(void *dst, const shma_view *src, uint64_t nbytes) {
    shma_copy_plan p;
    shma__copy_plan(&p, src, nbytes);
    shma__copy_range(&p, 0, nbytes, dst);
}
