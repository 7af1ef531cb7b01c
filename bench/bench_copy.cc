// bench_copy.cc: shma_copy() against the machine's limits, same sizes, same run.
//
// Contiguous sources (float64; uint8 for the safe call), 4 KiB .. BENCH_MAX_MB:
//   copy_safe / copy_unsafe  shma_copy[_unsafe] into a fresh segment (close not timed)
//   memcpy_fresh             memcpy into a fresh anonymous mapping: the same first-touch faults
//   memcpy_touched           memcpy into memory already faulted in: the bandwidth limit
//   memset_shm               memset of a fresh shm segment (shm_open+ftruncate+mmap): the
//                            first-touch floor of any copy into shared memory
//   memset_shm_reserved      the same after fallocate, as the library reserves its memory
// Non-contiguous sources, copied in C order:
//   copy_transposed          the transpose of an n x n array (strides swapped), float64/uint8,
//                            against a plain nested loop into a fresh segment and into touched
//                            memory, and memcpy of as many bytes into touched memory;
//                            copy_safe_unaligned: a source 16 bytes past a cache line, where
//                            malloc (and so NumPy) puts a large array
//   copy_strided             a[:, ::2] of an R x 2048 float64 array, likewise
// Every figure is bytes_per_second of the destination's bytes; each iteration's destination is
// fresh and released outside the timed part.
#include "bench_common.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace {

using bench::KiB;
using bench::MiB;

enum class Method {
    copy_safe,
    copy_unsafe,
    memcpy_fresh,
    memcpy_touched,
    memset_shm,
    memset_shm_reserved,
    loop_fresh_shm,
    loop_touched,
};

std::string shma_err(const char *what, int rc) {
    return std::string(what) + ": " + shma_errname(rc) + " (" + shma_last_error() + ")";
}

bool is_shm_method(Method m) {
    return m == Method::copy_safe || m == Method::copy_unsafe || m == Method::memset_shm ||
           m == Method::memset_shm_reserved || m == Method::loop_fresh_shm;
}

// Skips the benchmark (true) when the machine lacks the memory it needs.
bool lacks_room(benchmark::State &state, Method m, uint64_t dst_bytes, uint64_t src_bytes) {
    std::string why;
    if (is_shm_method(m) && !bench::shm_has_room(dst_bytes, &why)) {
        state.SkipWithError(why.c_str());
        return true;
    }
    if (!bench::ram_has_room(dst_bytes + src_bytes, &why)) {
        state.SkipWithError(why.c_str());
        return true;
    }
    return false;
}

// shma_copy[_unsafe] of `src`; the array is closed outside the timed part. Returns the time,
// or a negative value after SkipWithError.
double timed_copy(benchmark::State &state, Method m, const shma_view &src) {
    shma_array *arr = nullptr;
    double t0 = bench::now_s();
    int rc = m == Method::copy_unsafe ? shma_copy_unsafe(nullptr, &src, &arr) : shma_copy(nullptr, &src, &arr);
    double t1 = bench::now_s();
    if (rc != SHMA_OK) {
        state.SkipWithError(shma_err("shma_copy", rc).c_str());
        return -1;
    }
    benchmark::DoNotOptimize(shma_data(arr));
    shma_close(&arr);
    return t1 - t0;
}

// A float64 (itemsize 8) or uint8 view of src; false after SkipWithError.
bool make_view(benchmark::State &state, void *src, int ndim, const int64_t *shape, const int64_t *strides,
               int itemsize, shma_view *view) {
    *view = {};
    view->data = src;
    view->ndim = ndim;
    view->shape = shape;
    view->strides = strides;
    if (shma_dtype_parse(itemsize == 8 ? "float64" : "uint8", &view->dtype) == SHMA_OK) return true;
    state.SkipWithError("shma_dtype_parse failed");
    return false;
}

// memcpy of bytes into memory already faulted in.
double timed_memcpy_touched(void *touched, const void *src, size_t bytes) {
    double t0 = bench::now_s();
    memcpy(touched, src, bytes);
    benchmark::ClobberMemory();
    return bench::now_s() - t0;
}

// Creates a raw segment of bytes (fallocate'd if reserve), runs write(map) on it, releases it;
// times the creation and the write. Negative after SkipWithError.
template <typename Write>
double timed_fresh_segment(benchmark::State &state, size_t bytes, bool reserve, Write write) {
    bench::RawSegment seg;
    double t0 = bench::now_s();
    int err = bench::raw_create(&seg, bytes, reserve);
    if (!err) write(seg.map);
    benchmark::ClobberMemory();
    double elapsed = bench::now_s() - t0;
    if (err) {
        state.SkipWithError((std::string("raw create: ") + strerror(err)).c_str());
        elapsed = -1;
    }
    bench::raw_release(&seg, true);
    return elapsed;
}

// ---------------------------------------------------------------------------------------------
// Contiguous
// ---------------------------------------------------------------------------------------------

void copy_contig(benchmark::State &state, Method m, int itemsize) {
    const size_t bytes = static_cast<size_t>(state.range(0));
    if (lacks_room(state, m, bytes, 2 * bytes)) return;
    void *src = bench::touched_buffer(0, bytes);
    void *touched = m == Method::memcpy_touched ? bench::touched_buffer(1, bytes) : nullptr;
    if (!src || (m == Method::memcpy_touched && !touched)) {
        state.SkipWithError("cannot map the source or destination buffer");
        return;
    }
    const int64_t shape[1] = {static_cast<int64_t>(bytes) / itemsize};
    const int64_t strides[1] = {itemsize};
    shma_view view;
    if (!make_view(state, src, 1, shape, strides, itemsize, &view)) return;

    for (auto _ : state) {
        double elapsed = 0;
        switch (m) {
        case Method::copy_safe:
        case Method::copy_unsafe:
            elapsed = timed_copy(state, m, view);
            break;
        case Method::memcpy_fresh: {
            double t0 = bench::now_s();
            void *dst = bench::fresh_anon(bytes);
            if (dst) memcpy(dst, src, bytes);
            benchmark::ClobberMemory();
            elapsed = bench::now_s() - t0;
            if (!dst) {
                state.SkipWithError("mmap of the destination failed");
                elapsed = -1;
            }
            bench::release_anon(dst, bytes);
            break;
        }
        case Method::memcpy_touched:
            elapsed = timed_memcpy_touched(touched, src, bytes);
            break;
        case Method::memset_shm:
        case Method::memset_shm_reserved:
            elapsed = timed_fresh_segment(state, bytes, m == Method::memset_shm_reserved,
                                          [&](void *dst) { memset(dst, 1, bytes); });
            break;
        default:
            break;
        }
        if (elapsed < 0) break;
        state.SetIterationTime(elapsed);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

// ---------------------------------------------------------------------------------------------
// Non-contiguous
// ---------------------------------------------------------------------------------------------

// dst[i][j] = src[i * row_stride + j * col_stride] (element units), C order over (rows, cols):
// what a copy without blocking does.
template <typename T>
void strided_loop(T *dst, const T *src, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
    for (int64_t i = 0; i < rows; i++) {
        const T *s = src + i * row_stride;
        T *d = dst + i * cols;
        for (int64_t j = 0; j < cols; j++) d[j] = s[j * col_stride];
    }
}

// One strided copy of a (rows, cols) view with element strides (row_stride, col_stride).
// The source starts src_offset bytes into its (page-aligned) buffer.
void strided_case(benchmark::State &state, Method m, int itemsize, int64_t rows, int64_t cols, int64_t row_stride,
                  int64_t col_stride, size_t src_bytes, size_t src_offset = 0) {
    const size_t bytes = static_cast<size_t>(rows * cols * itemsize);
    if (lacks_room(state, m, bytes, src_bytes)) return;
    void *src = bench::touched_buffer(0, src_bytes + src_offset);
    if (src) src = static_cast<char *>(src) + src_offset;
    void *touched = (m == Method::memcpy_touched || m == Method::loop_touched) ? bench::touched_buffer(1, bytes) : nullptr;
    if (!src || ((m == Method::memcpy_touched || m == Method::loop_touched) && !touched)) {
        state.SkipWithError("cannot map the source or destination buffer");
        return;
    }
    const int64_t shape[2] = {rows, cols};
    const int64_t strides[2] = {row_stride * itemsize, col_stride * itemsize};
    shma_view view;
    if (!make_view(state, src, 2, shape, strides, itemsize, &view)) return;
    auto loop = [&](void *dst) {
        if (itemsize == 8)
            strided_loop(static_cast<double *>(dst), static_cast<const double *>(src), rows, cols, row_stride, col_stride);
        else
            strided_loop(static_cast<uint8_t *>(dst), static_cast<const uint8_t *>(src), rows, cols, row_stride, col_stride);
        benchmark::ClobberMemory();
    };

    for (auto _ : state) {
        double elapsed = 0;
        switch (m) {
        case Method::copy_safe:
        case Method::copy_unsafe:
            elapsed = timed_copy(state, m, view);
            break;
        case Method::loop_fresh_shm:
            elapsed = timed_fresh_segment(state, bytes, false, loop);
            break;
        case Method::loop_touched: {
            double t0 = bench::now_s();
            loop(touched);
            elapsed = bench::now_s() - t0;
            break;
        }
        case Method::memcpy_touched:
            elapsed = timed_memcpy_touched(touched, src, bytes);
            break;
        default:
            break;
        }
        if (elapsed < 0) break;
        state.SetIterationTime(elapsed);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

// The transpose of an n x n C-contiguous array: a.T, strides (itemsize, n * itemsize).
void copy_transposed(benchmark::State &state, Method m, size_t src_offset) {
    const int64_t n = state.range(0);
    const int itemsize = static_cast<int>(state.range(1));
    strided_case(state, m, itemsize, n, n, 1, n, static_cast<size_t>(n * n * itemsize), src_offset);
}

// a[:, ::2] of an R x (2 * kStridedCols) float64 array: every other column.
constexpr int64_t kStridedCols = 1024;

void copy_strided(benchmark::State &state, Method m) {
    const int64_t bytes = state.range(0);
    const int64_t rows = bytes / 8 / kStridedCols;
    strided_case(state, m, 8, rows, kStridedCols, 2 * kStridedCols, 2, static_cast<size_t>(2 * bytes));
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

void contig_sizes(benchmark::internal::Benchmark *b) {
    b->ArgName("bytes");
    for (int64_t s : bench::copy_sizes()) b->Arg(s);
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

// float64 8 MiB, 128 MiB, 488 MiB (the 8000 x 8000); uint8 8 MiB, 64 MiB.
void transposed_sizes(benchmark::internal::Benchmark *b) {
    b->ArgNames({"n", "itemsize"});
    for (int64_t n : {1024, 4096, 8000})
        if (n * n * 8 <= bench::max_bytes()) b->Args({n, 8});
    for (int64_t n : {2896, 8192})
        if (n * n <= bench::max_bytes()) b->Args({n, 1});
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

void strided_sizes(benchmark::internal::Benchmark *b) {
    b->ArgName("bytes");
    for (int64_t s : {8 * MiB, 64 * MiB, 256 * MiB})
        if (2 * s <= bench::max_bytes()) b->Arg(s);
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(copy_contig, copy_safe, Method::copy_safe, 8)->Apply(contig_sizes);
BENCHMARK_CAPTURE(copy_contig, copy_unsafe, Method::copy_unsafe, 8)->Apply(contig_sizes);
BENCHMARK_CAPTURE(copy_contig, copy_safe_u8, Method::copy_safe, 1)->Apply(contig_sizes);
BENCHMARK_CAPTURE(copy_contig, memcpy_fresh, Method::memcpy_fresh, 8)->Apply(contig_sizes);
BENCHMARK_CAPTURE(copy_contig, memcpy_touched, Method::memcpy_touched, 8)->Apply(contig_sizes);
BENCHMARK_CAPTURE(copy_contig, memset_shm, Method::memset_shm, 8)->Apply(contig_sizes);
BENCHMARK_CAPTURE(copy_contig, memset_shm_reserved, Method::memset_shm_reserved, 8)->Apply(contig_sizes);

BENCHMARK_CAPTURE(copy_transposed, copy_safe, Method::copy_safe, 0)->Apply(transposed_sizes);
BENCHMARK_CAPTURE(copy_transposed, copy_safe_unaligned, Method::copy_safe, 16)->Apply(transposed_sizes);
BENCHMARK_CAPTURE(copy_transposed, copy_unsafe, Method::copy_unsafe, 0)->Apply(transposed_sizes);
BENCHMARK_CAPTURE(copy_transposed, loop_fresh_shm, Method::loop_fresh_shm, 0)->Apply(transposed_sizes);
BENCHMARK_CAPTURE(copy_transposed, loop_touched, Method::loop_touched, 0)->Apply(transposed_sizes);
BENCHMARK_CAPTURE(copy_transposed, memcpy_touched, Method::memcpy_touched, 0)->Apply(transposed_sizes);

BENCHMARK_CAPTURE(copy_strided, copy_safe, Method::copy_safe)->Apply(strided_sizes);
BENCHMARK_CAPTURE(copy_strided, copy_unsafe, Method::copy_unsafe)->Apply(strided_sizes);
BENCHMARK_CAPTURE(copy_strided, loop_fresh_shm, Method::loop_fresh_shm)->Apply(strided_sizes);
BENCHMARK_CAPTURE(copy_strided, memcpy_touched, Method::memcpy_touched)->Apply(strided_sizes);

}  // namespace
