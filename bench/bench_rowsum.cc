// bench_rowsum.cc: the seed README's workload, end to end. An n x n float64 array (1000 and
// 10000) is summed row by row in T = 1000 tasks (n / 1000 rows each) mapped over W forked
// workers as Pool.map does it: in chunks of ceil(T / 4W) tasks, dealt round-robin. Every task's
// sum comes back to the parent, which adds them up and checks the total against a sequential
// sum. Timed: from the parent holding a private array to every worker reaped, as the seed's
// `with Pool() as pool:` block:
//   pipe        the careful pickle-copy: each chunk's message carries the bytes of its rows
//               (every byte crosses a pipe once)
//   pipe_array  the seed's "traditional" pickle-copy, pool.map(f, [(data, i) ...]): each
//               chunk's message carries the whole array (pickle writes a shared object once per
//               message). Registered while the bytes piped per run stay within 4 GiB
//   shm         shma_copy() into a managed segment, the handle sent to each worker once, chunks
//               carry only row indices; the array is closed (unlinked) inside the timed part
//   inherit     the floor: workers read the parent's array inherited at fork, chunks carry only
//               row indices (a fork-inherited global, no sharing library at all)
#include "bench_common.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using bench::MiB;

enum class Method { pipe, pipe_array, shm, inherit };

// A chunk of `ntasks` tasks: task id0 + k sums rows row0 + k * nrows .. + nrows.
struct Chunk {
    int64_t id0;
    int64_t row0;
    int64_t nrows;   // rows per task
    int64_t ntasks;
};

struct Result {
    int64_t id;
    double sum;
};

constexpr int64_t kTasks = 1000;

// Rows row0 .. row0+nrows of an n-column array, summed row by row then across rows. The
// reference and the workers use this one function, so their totals agree to the bit.
double task_sum(const double *rows, int64_t nrows, int64_t n) {
    double total = 0;
    for (int64_t r = 0; r < nrows; r++) {
        const double *row = rows + r * n;
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += row[j];
        total += s;
    }
    return total;
}

// Tasks per chunk as Pool.map picks it: ceil(T / (4 W)).
int64_t chunk_size(int nworkers) { return (kTasks + 4 * nworkers - 1) / (4 * nworkers); }

// A worker: reads chunks until EOF, replies with one Result per task. `inherited` is the
// parent's array as the fork left it (used by the inherit method).
int rowsum_worker(Method m, const double *inherited, int64_t n, int cmd_fd, int reply_fd) {
    const double *data = inherited;
    shma_array *arr = nullptr;
    if (m == Method::shm) {
        uint64_t len = 0;
        char handle[SHMA_HANDLE_MAX];
        if (!bench::read_all(cmd_fd, &len, sizeof len) || len >= sizeof handle ||
            !bench::read_all(cmd_fd, handle, len))
            return 2;
        if (shma_attach_handle(handle, len, &arr) != SHMA_OK) return 3;
        data = static_cast<const double *>(shma_data(arr));
    }
    Chunk c;
    int exit_code = 0;
    while (exit_code == 0 && bench::read_all(cmd_fd, &c, sizeof c)) {
        double *buf = nullptr;
        const double *base = data;  // where row 0 of the array is, as far as this chunk goes
        if (m == Method::pipe || m == Method::pipe_array) {
            // A new buffer per message, as unpickling allocates a new array.
            const int64_t first = m == Method::pipe ? c.row0 : 0;
            const int64_t rows = m == Method::pipe ? c.nrows * c.ntasks : n;
            const size_t bytes = static_cast<size_t>(rows * n) * sizeof(double);
            buf = static_cast<double *>(malloc(bytes ? bytes : 1));
            if (!buf || !bench::read_all(cmd_fd, buf, bytes)) {
                free(buf);
                exit_code = 4;
                break;
            }
            base = buf - first * n;
        }
        for (int64_t k = 0; k < c.ntasks; k++) {
            Result r = {c.id0 + k, task_sum(base + (c.row0 + k * c.nrows) * n, c.nrows, n)};
            if (!bench::write_all(reply_fd, &r, sizeof r)) {
                exit_code = 5;
                break;
            }
        }
        free(buf);
    }
    shma_close(&arr);
    return exit_code;
}

std::string shma_err(const char *what, int rc) {
    return std::string(what) + ": " + shma_errname(rc) + " (" + shma_last_error() + ")";
}

// One end-to-end run. Returns the total, or sets *why and returns false.
bool run_once(Method m, shma_manager *mgr, const shma_view &view, int64_t n, int nworkers, double *total,
              std::string *why) {
    const double *src = static_cast<const double *>(view.data);
    const int64_t rows_per_task = n / kTasks;
    shma_array *arr = nullptr;
    char handle[SHMA_HANDLE_MAX];
    uint64_t handle_len = 0;
    if (m == Method::shm) {
        int rc = shma_copy(mgr, &view, &arr);
        size_t len = 0;
        if (rc == SHMA_OK) rc = shma_handle_encode(arr, handle, sizeof handle, &len);
        if (rc != SHMA_OK) {
            *why = shma_err("shma_copy/shma_handle_encode", rc);
            shma_close(&arr);
            return false;
        }
        handle_len = len;
    }

    bench::Workers ws;
    bool ok = ws.start(nworkers,
                       [&](int, int cmd_fd, int reply_fd) { return rowsum_worker(m, src, n, cmd_fd, reply_fd); }, why);
    for (int i = 0; ok && m == Method::shm && i < nworkers; i++)
        ok = bench::write_all(ws.cmd_fd(i), &handle_len, sizeof handle_len) &&
             bench::write_all(ws.cmd_fd(i), handle, handle_len);
    const int64_t per_chunk = chunk_size(nworkers);
    for (int64_t id0 = 0, chunk = 0; ok && id0 < kTasks; id0 += per_chunk, chunk++) {
        Chunk c = {id0, id0 * rows_per_task, rows_per_task, std::min(per_chunk, kTasks - id0)};
        int fd = ws.cmd_fd(static_cast<int>(chunk % nworkers));
        ok = bench::write_all(fd, &c, sizeof c);
        if (ok && m == Method::pipe)
            ok = bench::write_all(fd, src + c.row0 * n, static_cast<size_t>(c.nrows * c.ntasks * n) * sizeof(double));
        if (ok && m == Method::pipe_array) ok = bench::write_all(fd, src, static_cast<size_t>(n * n) * sizeof(double));
    }
    if (!ok && why->empty()) *why = std::string("sending tasks: ") + strerror(errno);
    ws.close_cmds();

    // Each worker's replies fit in its pipe (kTasks * 16 bytes < 64 KiB), so reading them only
    // now cannot deadlock. A worker answers its chunks in the order it was dealt them.
    std::vector<double> sums(kTasks, 0);
    for (int64_t id0 = 0, chunk = 0; ok && id0 < kTasks; id0 += per_chunk, chunk++) {
        const int i = static_cast<int>(chunk % nworkers);
        for (int64_t k = 0; ok && k < std::min(per_chunk, kTasks - id0); k++) {
            Result r;
            ok = bench::read_all_timeout(ws.reply_fd(i), &r, sizeof r, 600) && r.id >= 0 && r.id < kTasks;
            if (!ok) *why = "worker " + std::to_string(i) + " did not reply";
            else sums[r.id] = r.sum;
        }
    }
    if (!ws.close_all() && ok) {
        *why = "a worker exited with an error";
        ok = false;
    }
    shma_close(&arr);
    *total = 0;
    for (double s : sums) *total += s;
    return ok;
}

void rowsum(benchmark::State &state, Method m) {
    const int64_t n = state.range(0);
    const int nworkers = static_cast<int>(state.range(1));
    const size_t bytes = static_cast<size_t>(n * n) * sizeof(double);
    std::string why;
    if (!bench::ram_has_room(3 * bytes, &why) || (m == Method::shm && !bench::shm_has_room(bytes, &why))) {
        state.SkipWithError(why.c_str());
        return;
    }
    const double *src = static_cast<const double *>(bench::touched_buffer(0, bytes, true));
    if (!src) {
        state.SkipWithError("cannot map the source array");
        return;
    }
    const int64_t rows_per_task = n / kTasks;
    double expected = 0;
    for (int64_t id = 0; id < kTasks; id++) expected += task_sum(src + id * rows_per_task * n, rows_per_task, n);

    const int64_t shape[2] = {n, n};
    const int64_t strides[2] = {n * 8, 8};
    shma_view view = {};
    view.data = const_cast<double *>(src);
    view.ndim = 2;
    view.shape = shape;
    view.strides = strides;
    shma_dtype_parse("float64", &view.dtype);
    shma_manager *mgr = nullptr;
    if (m == Method::shm) {
        int rc = shma_manager_create(0, &mgr);
        if (rc != SHMA_OK) {
            state.SkipWithError(shma_err("shma_manager_create", rc).c_str());
            return;
        }
    }

    for (auto _ : state) {
        double total = 0;
        why.clear();
        if (!run_once(m, mgr, view, n, nworkers, &total, &why)) {
            state.SkipWithError(why.c_str());
            break;
        }
        if (total != expected) {
            state.SkipWithError("the workers' total differs from the sequential sum");
            break;
        }
    }
    shma_manager_shutdown(&mgr);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
    state.counters["tasks"] = static_cast<double>(kTasks);
}

// Registered size by size (every method of n = 1000, then of 10000): the parent holds only the
// array of the size being measured, so each fork copies the page tables of that array alone, as
// in the seed. pipe_array is registered while the bytes it pipes per run stay within 4 GiB.
const bool registered = [] {
    const std::pair<const char *, Method> methods[] = {{"pipe", Method::pipe},
                                                       {"pipe_array", Method::pipe_array},
                                                       {"shm", Method::shm},
                                                       {"inherit", Method::inherit}};
    for (int64_t n : {1000, 10000}) {
        const int64_t bytes = n * n * 8;
        if (bytes > bench::max_bytes()) continue;
        for (const auto &[label, m] : methods) {
            benchmark::internal::Benchmark *b = nullptr;
            for (int w : bench::worker_counts()) {
                const int64_t chunks = (kTasks + chunk_size(w) - 1) / chunk_size(w);
                if (m == Method::pipe_array && chunks * bytes > 4 * 1024 * MiB) continue;
                if (!b) {
                    b = benchmark::RegisterBenchmark((std::string("rowsum/") + label).c_str(), rowsum, m);
                    b->ArgNames({"n", "W"})->UseRealTime()->Unit(benchmark::kMillisecond);
                }
                b->Args({n, w});
            }
        }
    }
    return true;
}();

}  // namespace
