// bench_common.h: what the benchmark suites share: sizes and knobs, clocks, the machine's
// limits (free /dev/shm, available RAM), Pss from /proc, pipe I/O, forked workers, and the raw
// system-call floors the library is compared with.
//
// The raw floors call shm_open/mmap/fallocate directly on purpose: they are the limit the
// library's own OS layer is measured against, so they must not go through it.
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <benchmark/benchmark.h>

extern "C" {
#include "shmanager.h"
}

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bench {

constexpr int64_t KiB = 1024;
constexpr int64_t MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------------
// Knobs (environment, read when the benchmarks are registered)
// ---------------------------------------------------------------------------------------------

// BENCH_MAX_MB: the largest array any benchmark makes, in MiB (default 256, so that the whole
// set runs in a few minutes; 800 gives the 800 MiB figures). Sizes above it are not
// registered.
int64_t max_bytes();

// BENCH_WORKERS: comma-separated worker counts for the multi-process suites (default 1,2,4,8).
const std::vector<int> &worker_counts();

// ---------------------------------------------------------------------------------------------
// Clock and the machine's limits
// ---------------------------------------------------------------------------------------------

// CLOCK_MONOTONIC in seconds.
double now_s();

// True if /dev/shm has `bytes` free (plus a margin); otherwise false with a reason in *why.
bool shm_has_room(uint64_t bytes, std::string *why);

// True if MemAvailable covers `bytes` (plus a margin); otherwise false with a reason in *why.
bool ram_has_room(uint64_t bytes, std::string *why);

// Proportional set size of a process (Pss line of /proc/PID/smaps_rollup) in bytes; -1 if it
// cannot be read.
int64_t pss_bytes(pid_t pid);

// Fills n doubles with a deterministic, non-constant pattern (every page is touched).
void fill_pattern(double *p, size_t n, uint64_t seed);

// A page-aligned private anonymous buffer, faulted in (written) once, reused across runs and
// kept for the life of the process: the "already touched" memory of the baselines. Grows
// (remapping) when a larger size is asked for or, with `exact`, is remapped whenever the size
// differs (so a fork does not also copy the page tables of a larger earlier array). Returns
// NULL if the mapping fails.
void *touched_buffer(int slot, size_t bytes, bool exact = false);

// A fresh private anonymous mapping (not yet touched) and its release.
void *fresh_anon(size_t bytes);
void release_anon(void *p, size_t bytes);

// ---------------------------------------------------------------------------------------------
// Raw system-call floors
// ---------------------------------------------------------------------------------------------

// A segment made with the system calls alone, no library in between.
struct RawSegment {
    char name[64] = {0};
    void *map = nullptr;
    size_t bytes = 0;
};

// A fresh unique name in this process ("/shma_bench_<pid>_<n>"); the "shma" prefix lets
// scripts/check-shm-clean.sh catch a leak.
void raw_name(char *buf, size_t cap);

// shm_open(O_CREAT|O_EXCL) + ftruncate [+ fallocate] + mmap + close(fd). 0 or an errno.
int raw_create(RawSegment *seg, size_t bytes, bool reserve);

// shm_open + fstat + mmap + close(fd) of an existing segment. 0 or an errno.
int raw_attach(const char *name, RawSegment *seg);

// munmap (and shm_unlink when unlink is true). Safe on an empty RawSegment.
void raw_release(RawSegment *seg, bool unlink);

// ---------------------------------------------------------------------------------------------
// Pipes and forked workers
// ---------------------------------------------------------------------------------------------

// Writes/reads exactly n bytes, retrying on EINTR and short transfers. false on error or EOF.
bool write_all(int fd, const void *buf, size_t n);
bool read_all(int fd, void *buf, size_t n);

// As read_all, giving up (false) if nothing arrives for timeout_s seconds.
bool read_all_timeout(int fd, void *buf, size_t n, double timeout_s);

// Raises a pipe's capacity to the system maximum (1 MiB by default): the most favourable
// setting for the pipe-copy baselines.
void widen_pipe(int fd);

// Forked workers, each with a command pipe (parent writes) and a reply pipe (parent reads).
// A worker runs fn(index, cmd_fd, reply_fd) and _exits with its result; it sees only its own
// pipes (the other workers' ends are closed in it, so EOF reaches every worker). Closing the
// set closes the parent's ends, which makes every worker's next read return EOF, and waits for
// them: workers always end by themselves.
class Workers {
  public:
    using Fn = std::function<int(int index, int cmd_fd, int reply_fd)>;
    Workers() = default;
    Workers(const Workers &) = delete;
    Workers &operator=(const Workers &) = delete;
    ~Workers() { close_all(); }

    // Forks n workers. false (with *why) if a pipe or fork fails; those started are kept.
    bool start(int n, const Fn &fn, std::string *why);

    int size() const { return static_cast<int>(pids_.size()); }
    pid_t pid(int i) const { return pids_[i]; }
    int cmd_fd(int i) const { return cmd_fds_[i]; }
    int reply_fd(int i) const { return reply_fds_[i]; }

    // Closes the command pipes only: each worker reads EOF once it has taken every command
    // sent, while its replies can still be read.
    void close_cmds();

    // Closes the parent's ends and reaps every worker. Returns true if all exited with 0.
    bool close_all();

  private:
    std::vector<pid_t> pids_;
    std::vector<int> cmd_fds_;
    std::vector<int> reply_fds_;
};

// ---------------------------------------------------------------------------------------------
// Naming helpers for registration
// ---------------------------------------------------------------------------------------------

// The copy sizes swept: 4 KiB .. 800 MiB, capped at max_bytes().
std::vector<int64_t> copy_sizes();

}  // namespace bench

#endif  // BENCH_COMMON_H
