// bench_calls.cc: the cost of one call. allocate, attach, view, close and the handle codec,
// each safe call beside its _unsafe twin and beside the raw system calls that are its floor:
//   raw lifecycle = shm_open(O_CREAT|O_EXCL) + ftruncate + fallocate + mmap + close(fd)
//                   + munmap + shm_unlink
//   raw_segment   = the same for the library's segment size (data, padding to 64 bytes and the
//                   640-byte trailer), which shows what the trailer's extra page costs
//   hugepages     = allocate + close with SHMA_ALLOC_HUGEPAGES: skipped, as unavailable, where
//                   the kernel gives shared memory no transparent huge pages (shmem THP off)
//   raw attach    = shm_open + fstat + mmap + close(fd) + munmap
// Lifecycle benchmarks time each iteration by hand (create and close, not the bookkeeping
// around them) and report the two halves as the counters create_us and close_us.
#include "bench_common.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace {

using bench::KiB;
using bench::MiB;

enum class Mode { safe, unsafe, safe_mgr, raw, raw_segment, hugepages, name, handle };

// A 2-D float64 shape of `bytes` (64 columns), so validation sees more than one dimension.
struct Shape2 {
    int64_t dims[2];
    explicit Shape2(int64_t bytes) : dims{bytes / 8 / 64, 64} {}
};

std::string shma_err(const char *what, int rc) {
    return std::string(what) + ": " + shma_errname(rc) + " (" + shma_last_error() + ")";
}

void finish_halves(benchmark::State &state, double first_s, double second_s, const char *first,
                   const char *second) {
    state.counters[first] = benchmark::Counter(first_s * 1e6, benchmark::Counter::kAvgIterations);
    state.counters[second] = benchmark::Counter(second_s * 1e6, benchmark::Counter::kAvgIterations);
}

// ---------------------------------------------------------------------------------------------
// allocate + close
// ---------------------------------------------------------------------------------------------

void alloc_close(benchmark::State &state, Mode mode) {
    const int64_t bytes = state.range(0);
    Shape2 shape(bytes);
    shma_manager *mgr = nullptr;
    if (mode == Mode::safe_mgr) {
        int rc = shma_manager_create(0, &mgr);
        if (rc != SHMA_OK) {
            state.SkipWithError(shma_err("shma_manager_create", rc).c_str());
            return;
        }
    }
    std::string why;
    if (!bench::shm_has_room(static_cast<uint64_t>(bytes), &why)) {
        shma_manager_shutdown(&mgr);
        state.SkipWithError(why.c_str());
        return;
    }
    if (mode == Mode::hugepages) {
        // Ask once outside the loop: where the kernel cannot give huge pages to shared memory,
        // the option reports SHMA_E_UNAVAILABLE, which is this machine's limit, not a failure.
        shma_alloc_opts opts = {nullptr, SHMA_ALLOC_HUGEPAGES};
        shma_array *arr = nullptr;
        int rc = shma_allocate_ex(nullptr, 2, shape.dims, "float64", &opts, &arr);
        shma_close(&arr);
        if (rc == SHMA_E_UNAVAILABLE) {
            state.SkipWithError((std::string("unavailable: ") + shma_last_error()).c_str());
            return;
        }
        if (rc != SHMA_OK) {
            state.SkipWithError(shma_err("shma_allocate_ex(SHMA_ALLOC_HUGEPAGES)", rc).c_str());
            return;
        }
    }
    // The library's segment: the data padded to 64 bytes, then the 640-byte trailer.
    const size_t segment_bytes = (static_cast<size_t>(bytes) + 63) / 64 * 64 + 640;
    double create_s = 0, close_s = 0;
    for (auto _ : state) {
        double t0 = bench::now_s(), t1, t2;
        if (mode == Mode::raw || mode == Mode::raw_segment) {
            bench::RawSegment seg;
            int err = bench::raw_create(&seg, mode == Mode::raw ? static_cast<size_t>(bytes) : segment_bytes, true);
            t1 = bench::now_s();
            if (err) {
                state.SkipWithError((std::string("raw create: ") + strerror(err)).c_str());
                break;
            }
            bench::raw_release(&seg, true);
            t2 = bench::now_s();
        } else {
            shma_array *arr = nullptr;
            shma_alloc_opts huge = {nullptr, SHMA_ALLOC_HUGEPAGES};
            int rc = mode == Mode::unsafe      ? shma_allocate_unsafe(nullptr, 2, shape.dims, "float64", &arr)
                     : mode == Mode::hugepages ? shma_allocate_ex(nullptr, 2, shape.dims, "float64", &huge, &arr)
                                               : shma_allocate(mgr, 2, shape.dims, "float64", &arr);
            t1 = bench::now_s();
            if (rc != SHMA_OK) {
                state.SkipWithError(shma_err("shma_allocate", rc).c_str());
                break;
            }
            shma_close(&arr);
            t2 = bench::now_s();
        }
        create_s += t1 - t0;
        close_s += t2 - t1;
        state.SetIterationTime(t2 - t0);
    }
    finish_halves(state, create_s, close_s, "create_us", "close_us");
    shma_manager_shutdown(&mgr);
}

void alloc_like_close(benchmark::State &state, Mode mode) {
    const int64_t bytes = state.range(0);
    Shape2 shape(bytes);
    const int64_t strides[2] = {64 * 8, 8};
    shma_view like = {};
    like.ndim = 2;
    like.shape = shape.dims;
    like.strides = strides;
    if (shma_dtype_parse("float64", &like.dtype) != SHMA_OK) {
        state.SkipWithError("shma_dtype_parse(float64) failed");
        return;
    }
    double create_s = 0, close_s = 0;
    for (auto _ : state) {
        shma_array *arr = nullptr;
        double t0 = bench::now_s();
        int rc = mode == Mode::unsafe ? shma_allocate_like_unsafe(nullptr, &like, &arr)
                                      : shma_allocate_like(nullptr, &like, &arr);
        double t1 = bench::now_s();
        if (rc != SHMA_OK) {
            state.SkipWithError(shma_err("shma_allocate_like", rc).c_str());
            break;
        }
        shma_close(&arr);
        double t2 = bench::now_s();
        create_s += t1 - t0;
        close_s += t2 - t1;
        state.SetIterationTime(t2 - t0);
    }
    finish_halves(state, create_s, close_s, "create_us", "close_us");
}

// ---------------------------------------------------------------------------------------------
// attach + close (of a segment made once, outside the loop)
// ---------------------------------------------------------------------------------------------

void attach_close(benchmark::State &state, Mode mode) {
    const int64_t bytes = state.range(0);
    Shape2 shape(bytes);
    std::string why;
    if (!bench::shm_has_room(static_cast<uint64_t>(bytes), &why)) {
        state.SkipWithError(why.c_str());
        return;
    }
    shma_array *owner = nullptr;
    int rc = shma_allocate(nullptr, 2, shape.dims, "float64", &owner);
    if (rc != SHMA_OK) {
        state.SkipWithError(shma_err("shma_allocate", rc).c_str());
        return;
    }
    char handle[SHMA_HANDLE_MAX];
    size_t handle_len = 0;
    rc = shma_handle_encode(owner, handle, sizeof handle, &handle_len);
    if (rc != SHMA_OK) {
        shma_close(&owner);
        state.SkipWithError(shma_err("shma_handle_encode", rc).c_str());
        return;
    }
    const std::string name = shma_name(owner);
    const std::string slash_name = "/" + name;

    double attach_s = 0, close_s = 0;
    for (auto _ : state) {
        double t0 = bench::now_s(), t1, t2;
        if (mode == Mode::raw) {
            bench::RawSegment seg;
            int err = bench::raw_attach(slash_name.c_str(), &seg);
            t1 = bench::now_s();
            if (err) {
                state.SkipWithError((std::string("raw attach: ") + strerror(err)).c_str());
                break;
            }
            bench::raw_release(&seg, false);
            t2 = bench::now_s();
        } else {
            shma_array *arr = nullptr;
            switch (mode) {
            case Mode::unsafe: rc = shma_attach_unsafe(name.c_str(), 2, shape.dims, "float64", &arr); break;
            case Mode::name: rc = shma_attach_name(name.c_str(), &arr); break;
            case Mode::handle: rc = shma_attach_handle(handle, handle_len, &arr); break;
            default: rc = shma_attach(name.c_str(), 2, shape.dims, "float64", &arr); break;
            }
            t1 = bench::now_s();
            if (rc != SHMA_OK) {
                state.SkipWithError(shma_err("shma_attach", rc).c_str());
                break;
            }
            shma_close(&arr);
            t2 = bench::now_s();
        }
        attach_s += t1 - t0;
        close_s += t2 - t1;
        state.SetIterationTime(t2 - t0);
    }
    finish_halves(state, attach_s, close_s, "attach_us", "close_us");
    shma_close(&owner);
}

// ---------------------------------------------------------------------------------------------
// O(1) calls: view, handle encode/decode, dtype parsing
// ---------------------------------------------------------------------------------------------

// An owner array of shape (1000, 1000) float64's name and shape, allocated for one run.
struct SmallArray {
    shma_array *arr = nullptr;
    int rc;
    SmallArray() {
        const int64_t shape[2] = {1000, 1000};
        rc = shma_allocate(nullptr, 2, shape, "float64", &arr);
    }
    ~SmallArray() { shma_close(&arr); }
};

void view_of(benchmark::State &state) {
    SmallArray a;
    if (a.rc != SHMA_OK) {
        state.SkipWithError(shma_err("shma_allocate", a.rc).c_str());
        return;
    }
    for (auto _ : state) {
        shma_view v;
        int rc = shma_view_of(a.arr, &v);
        benchmark::DoNotOptimize(rc);
        benchmark::DoNotOptimize(v);
    }
}

void handle_encode(benchmark::State &state) {
    SmallArray a;
    if (a.rc != SHMA_OK) {
        state.SkipWithError(shma_err("shma_allocate", a.rc).c_str());
        return;
    }
    char buf[SHMA_HANDLE_MAX];
    for (auto _ : state) {
        size_t len = 0;
        int rc = shma_handle_encode(a.arr, buf, sizeof buf, &len);
        benchmark::DoNotOptimize(rc);
        benchmark::DoNotOptimize(buf);
        benchmark::ClobberMemory();
    }
}

void handle_decode(benchmark::State &state) {
    SmallArray a;
    if (a.rc != SHMA_OK) {
        state.SkipWithError(shma_err("shma_allocate", a.rc).c_str());
        return;
    }
    char buf[SHMA_HANDLE_MAX];
    size_t len = 0;
    int rc = shma_handle_encode(a.arr, buf, sizeof buf, &len);
    if (rc != SHMA_OK) {
        state.SkipWithError(shma_err("shma_handle_encode", rc).c_str());
        return;
    }
    for (auto _ : state) {
        shma_handle h;
        rc = shma_handle_decode(buf, len, &h);
        benchmark::DoNotOptimize(rc);
        benchmark::DoNotOptimize(h);
    }
}

void dtype_parse(benchmark::State &state, const char *spelling) {
    for (auto _ : state) {
        shma_dtype d;
        int rc = shma_dtype_parse(spelling, &d);
        benchmark::DoNotOptimize(rc);
        benchmark::DoNotOptimize(d);
    }
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

void lifecycle_sizes(benchmark::internal::Benchmark *b) {
    b->ArgName("bytes");
    for (int64_t s : {4 * KiB, 1 * MiB, 64 * MiB})
        if (s <= bench::max_bytes()) b->Arg(s);
    b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

void small_size(benchmark::internal::Benchmark *b) {
    b->ArgName("bytes")->Arg(4 * KiB)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(alloc_close, safe, Mode::safe)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(alloc_close, unsafe, Mode::unsafe)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(alloc_close, safe_mgr, Mode::safe_mgr)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(alloc_close, raw, Mode::raw)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(alloc_close, raw_segment, Mode::raw_segment)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(alloc_close, hugepages, Mode::hugepages)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(alloc_like_close, safe, Mode::safe)->Apply(small_size);
BENCHMARK_CAPTURE(alloc_like_close, unsafe, Mode::unsafe)->Apply(small_size);
BENCHMARK_CAPTURE(attach_close, safe, Mode::safe)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(attach_close, unsafe, Mode::unsafe)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(attach_close, name, Mode::name)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(attach_close, handle, Mode::handle)->Apply(lifecycle_sizes);
BENCHMARK_CAPTURE(attach_close, raw, Mode::raw)->Apply(lifecycle_sizes);
BENCHMARK(view_of);
BENCHMARK(handle_encode);
BENCHMARK(handle_decode);
BENCHMARK_CAPTURE(dtype_parse, float64, "float64");
BENCHMARK_CAPTURE(dtype_parse, lt_f8, "<f8");

}  // namespace
