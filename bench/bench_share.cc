// bench_share.cc: handing one float64 array to W forked workers (W = 1, 2, 4, 8).
//
//   pipe         the pickle-copy baseline: the parent writes the array's bytes through a pipe
//                (widened to the system maximum) to each worker in turn, as Python's Pool does
//                with a pickled array; each worker reads them into a buffer of its own
//   handle       shmanager: the array already lives in a segment; each worker gets its handle
//                (a short string) through the pipe and attaches
//   copy_handle  the same, but the timed part starts from a private array and includes the
//                shma_copy() that puts it into shared memory
//
// Time (manual, per iteration): from the first byte sent until every worker has replied that
// it holds the data; then the workers release it (untimed). In the first iteration of a run,
// between the two, every worker also reads one double per page (so shared pages are mapped in
// it) and the counters report:
//   read_ms        time until all workers have read every page
//   worker_pss_mib sum over workers of their Pss growth (/proc/PID/smaps_rollup)
//   copies         that sum divided by the array's size: W for pipe, below 1 for shmanager
// Workers are forked once per run (the parent's private copy kept out of them) and end at EOF.
#include "bench_common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::MiB;

enum class Method { pipe, handle, copy_handle };

enum Op : uint32_t { kDeliverBytes = 1, kDeliverHandle = 2, kTouch = 3, kRelease = 4 };

struct Cmd {
    uint32_t op;
    uint32_t pad;
    uint64_t len;  // payload bytes that follow
};

struct Reply {
    int64_t status;  // 0, or a negative error
    double value;    // kTouch: the sum of the first double of every page
};

constexpr size_t kPage = 4096;

double page_sum(const void *data, size_t bytes) {
    const char *p = static_cast<const char *>(data);
    double s = 0;
    for (size_t off = 0; off + sizeof(double) <= bytes; off += kPage) {
        double d;
        memcpy(&d, p + off, sizeof d);
        s += d;
    }
    return s;
}

// The worker's loop: one command at a time, one reply each, until EOF.
int share_worker(int, int cmd_fd, int reply_fd) {
    void *buf = nullptr;
    shma_array *arr = nullptr;
    const void *data = nullptr;
    size_t data_bytes = 0;
    Cmd c;
    int exit_code = 0;
    while (bench::read_all(cmd_fd, &c, sizeof c)) {
        Reply r = {0, 0};
        if (c.op == kDeliverBytes) {
            // A new buffer per delivery, as unpickling allocates a new array.
            buf = malloc(c.len ? c.len : 1);
            if (!buf || !bench::read_all(cmd_fd, buf, c.len)) {
                exit_code = 2;
                break;
            }
            data = buf;
            data_bytes = c.len;
        } else if (c.op == kDeliverHandle) {
            char handle[SHMA_HANDLE_MAX];
            if (c.len >= sizeof handle || !bench::read_all(cmd_fd, handle, c.len)) {
                exit_code = 2;
                break;
            }
            r.status = shma_attach_handle(handle, c.len, &arr);
            if (r.status == SHMA_OK) {
                data = shma_data(arr);
                data_bytes = shma_nbytes(arr);
            }
        } else if (c.op == kTouch) {
            r.value = page_sum(data, data_bytes);
        } else if (c.op == kRelease) {
            free(buf);
            buf = nullptr;
            shma_close(&arr);
            data = nullptr;
            data_bytes = 0;
        } else {
            exit_code = 3;
            break;
        }
        if (!bench::write_all(reply_fd, &r, sizeof r)) break;
    }
    free(buf);
    shma_close(&arr);
    return exit_code;
}

// Sends `op` with its payload to every worker (in turn, as one feeder does), then collects
// every reply. false with *why on a failed write, a timeout or an error reply.
bool broadcast(bench::Workers &ws, Op op, const void *payload, size_t len, std::vector<Reply> *replies,
               std::string *why) {
    Cmd c = {op, 0, len};
    for (int i = 0; i < ws.size(); i++) {
        if (!bench::write_all(ws.cmd_fd(i), &c, sizeof c) || (len && !bench::write_all(ws.cmd_fd(i), payload, len))) {
            *why = "write to worker " + std::to_string(i) + ": " + strerror(errno);
            return false;
        }
    }
    replies->assign(ws.size(), Reply{0, 0});
    for (int i = 0; i < ws.size(); i++) {
        if (!bench::read_all_timeout(ws.reply_fd(i), &(*replies)[i], sizeof(Reply), 600)) {
            *why = "worker " + std::to_string(i) + " did not reply";
            return false;
        }
        if ((*replies)[i].status != 0) {
            *why = "worker " + std::to_string(i) + " failed: " + shma_errname(static_cast<int>((*replies)[i].status));
            return false;
        }
    }
    return true;
}

std::string shma_err(const char *what, int rc) {
    return std::string(what) + ": " + shma_errname(rc) + " (" + shma_last_error() + ")";
}

void share(benchmark::State &state, Method m) {
    const size_t bytes = static_cast<size_t>(state.range(0)) * MiB;
    const int nworkers = static_cast<int>(state.range(1));
    std::string why;
    bool room = m == Method::pipe ? bench::ram_has_room(bytes * (nworkers + 2), &why)
                                  : bench::shm_has_room(bytes, &why) && bench::ram_has_room(bytes * 2, &why);
    if (!room) {
        state.SkipWithError(why.c_str());
        return;
    }

    // The parent's data, kept out of the workers (MADV_DONTFORK): they neither copy its page
    // tables at fork nor share its pages, so their Pss grows only by what they are handed.
    void *src = bench::touched_buffer(0, bytes, true);
    if (!src) {
        state.SkipWithError("cannot map the source buffer");
        return;
    }
    madvise(src, bytes, MADV_DONTFORK);

    // The manager (and its reaper) comes before the workers, so that no process it starts can
    // hold a copy of the workers' command pipes and keep them from seeing EOF.
    shma_manager *mgr = nullptr;
    if (m != Method::pipe) {
        int rc = shma_manager_create(0, &mgr);
        if (rc != SHMA_OK) {
            madvise(src, bytes, MADV_DOFORK);
            state.SkipWithError(shma_err("shma_manager_create", rc).c_str());
            return;
        }
    }
    bench::Workers ws;
    if (!ws.start(nworkers, share_worker, &why)) {
        ws.close_all();
        shma_manager_shutdown(&mgr);
        madvise(src, bytes, MADV_DOFORK);
        state.SkipWithError(why.c_str());
        return;
    }
    std::vector<int64_t> idle_pss(nworkers);
    for (int i = 0; i < nworkers; i++) idle_pss[i] = bench::pss_bytes(ws.pid(i));

    const double expected_sum = page_sum(src, bytes);
    const int64_t shape[1] = {static_cast<int64_t>(bytes / sizeof(double))};
    const int64_t strides[1] = {sizeof(double)};
    shma_view view = {};
    view.data = src;
    view.ndim = 1;
    view.shape = shape;
    view.strides = strides;
    shma_dtype_parse("float64", &view.dtype);

    shma_array *shared = nullptr;  // the handle method's array, made once
    if (m == Method::handle) {
        int rc = shma_copy(mgr, &view, &shared);
        if (rc != SHMA_OK) {
            state.SkipWithError(shma_err("shma_copy", rc).c_str());
            ws.close_all();
            shma_manager_shutdown(&mgr);
            madvise(src, bytes, MADV_DOFORK);
            return;
        }
    }

    double read_s = 0;
    int64_t pss_growth = 0;
    bool measured = false;
    std::vector<Reply> replies;
    for (auto _ : state) {
        shma_array *fresh = nullptr;
        double t0 = bench::now_s();
        bool ok;
        if (m == Method::pipe) {
            ok = broadcast(ws, kDeliverBytes, src, bytes, &replies, &why);
        } else {
            int rc = SHMA_OK;
            if (m == Method::copy_handle) rc = shma_copy(mgr, &view, &fresh);
            char handle[SHMA_HANDLE_MAX];
            size_t len = 0;
            if (rc == SHMA_OK) rc = shma_handle_encode(fresh ? fresh : shared, handle, sizeof handle, &len);
            ok = rc == SHMA_OK;
            if (!ok) why = shma_err("shma_copy/shma_handle_encode", rc);
            if (ok) ok = broadcast(ws, kDeliverHandle, handle, len, &replies, &why);
        }
        double t1 = bench::now_s();
        const bool measure = !measured;  // the first iteration of each run reads and measures
        if (ok && measure) {
            measured = true;
            ok = broadcast(ws, kTouch, nullptr, 0, &replies, &why);
            read_s += bench::now_s() - t1;
            for (int i = 0; ok && i < nworkers; i++)
                if (replies[i].value != expected_sum) {
                    why = "worker " + std::to_string(i) + " read different data";
                    ok = false;
                }
        }
        if (ok && measure) {
            pss_growth = 0;
            for (int i = 0; i < nworkers; i++) pss_growth += bench::pss_bytes(ws.pid(i)) - idle_pss[i];
        }
        if (ok) ok = broadcast(ws, kRelease, nullptr, 0, &replies, &why);
        shma_close(&fresh);
        if (!ok) {
            state.SkipWithError(why.c_str());
            break;
        }
        state.SetIterationTime(t1 - t0);
    }
    if (!ws.close_all() && !state.error_occurred()) state.SkipWithError("a worker exited with an error");
    shma_close(&shared);
    shma_manager_shutdown(&mgr);
    madvise(src, bytes, MADV_DOFORK);

    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes) * nworkers);
    state.counters["read_ms"] = read_s * 1e3;
    state.counters["worker_pss_mib"] = static_cast<double>(pss_growth) / MiB;
    state.counters["copies"] = static_cast<double>(pss_growth) / static_cast<double>(bytes);
}

// Registered size by size (all methods of one size, then the next), so the parent's source
// array is made once per size.
const bool registered = [] {
    const std::pair<const char *, Method> methods[] = {
        {"pipe", Method::pipe}, {"handle", Method::handle}, {"copy_handle", Method::copy_handle}};
    for (int64_t mib : {8, 64, 256, 800}) {
        if (mib * MiB > bench::max_bytes()) continue;
        for (const auto &[label, m] : methods) {
            auto *b = benchmark::RegisterBenchmark((std::string("share/") + label).c_str(), share, m);
            b->ArgNames({"mib", "W"});
            for (int w : bench::worker_counts()) b->Args({mib, w});
            b->UseManualTime()->Unit(benchmark::kMillisecond);
        }
    }
    return true;
}();

}  // namespace
