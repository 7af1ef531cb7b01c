// bench_common.cc: the shared helpers of bench_common.h, and the main() every suite links:
// Google Benchmark's, plus the machine's description in the JSON context.
#include "bench_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bench {

// ---------------------------------------------------------------------------------------------
// Knobs
// ---------------------------------------------------------------------------------------------

int64_t max_bytes() {
    const char *s = getenv("BENCH_MAX_MB");
    long long mb = s && *s ? atoll(s) : 256;
    if (mb < 1) mb = 1;
    return static_cast<int64_t>(mb) * MiB;
}

const std::vector<int> &worker_counts() {
    static const std::vector<int> counts = [] {
        std::vector<int> v;
        const char *s = getenv("BENCH_WORKERS");
        std::stringstream ss(s && *s ? s : "1,2,4,8");
        std::string item;
        while (std::getline(ss, item, ',')) {
            int w = atoi(item.c_str());
            if (w >= 1 && w <= 64) v.push_back(w);
        }
        if (v.empty()) v = {1, 2, 4, 8};
        return v;
    }();
    return counts;
}

std::vector<int64_t> copy_sizes() {
    std::vector<int64_t> v;
    for (int64_t s : {4 * KiB, 64 * KiB, 1 * MiB, 8 * MiB, 64 * MiB, 256 * MiB, 800 * MiB})
        if (s <= max_bytes()) v.push_back(s);
    return v;
}

// ---------------------------------------------------------------------------------------------
// Clock and limits
// ---------------------------------------------------------------------------------------------

double now_s() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

static std::string mib_str(uint64_t bytes) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / MiB);
    return buf;
}

bool shm_has_room(uint64_t bytes, std::string *why) {
    struct statvfs st;
    if (statvfs("/dev/shm", &st) != 0) {
        *why = std::string("statvfs /dev/shm: ") + strerror(errno);
        return false;
    }
    uint64_t avail = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    if (avail < bytes + 16 * MiB) {
        *why = "/dev/shm has " + mib_str(avail) + " free, needs " + mib_str(bytes);
        return false;
    }
    return true;
}

static uint64_t meminfo_kib(const char *key) {
    std::ifstream f("/proc/meminfo");
    std::string line;
    size_t klen = strlen(key);
    while (std::getline(f, line))
        if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':')
            return strtoull(line.c_str() + klen + 1, nullptr, 10);
    return 0;
}

bool ram_has_room(uint64_t bytes, std::string *why) {
    uint64_t avail = meminfo_kib("MemAvailable") * 1024;
    if (avail < bytes + 256 * MiB) {
        *why = "MemAvailable is " + mib_str(avail) + ", needs " + mib_str(bytes);
        return false;
    }
    return true;
}

int64_t pss_bytes(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", static_cast<int>(pid));
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, 4, "Pss:") == 0) return strtoll(line.c_str() + 4, nullptr, 10) * 1024;
    return -1;
}

void fill_pattern(double *p, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);
    }
}

void *fresh_anon(size_t bytes) {
    void *p = mmap(nullptr, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

void release_anon(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}

void *touched_buffer(int slot, size_t bytes, bool exact) {
    struct Slot {
        void *p = nullptr;
        size_t bytes = 0;
    };
    static Slot slots[4];
    if (slot < 0 || slot >= 4) return nullptr;
    Slot &s = slots[slot];
    if (s.p && (exact ? s.bytes == bytes : s.bytes >= bytes)) return s.p;
    release_anon(s.p, s.bytes);
    s.p = fresh_anon(bytes);
    s.bytes = s.p ? bytes : 0;
    if (s.p) fill_pattern(static_cast<double *>(s.p), bytes / sizeof(double), static_cast<uint64_t>(slot) + 1);
    return s.p;
}

// ---------------------------------------------------------------------------------------------
// Raw floors
// ---------------------------------------------------------------------------------------------

void raw_name(char *buf, size_t cap) {
    static unsigned long counter;
    snprintf(buf, cap, "/shma_bench_%d_%lu", static_cast<int>(getpid()), ++counter);
}

int raw_create(RawSegment *seg, size_t bytes, bool reserve) {
    raw_name(seg->name, sizeof seg->name);
    int fd = shm_open(seg->name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return errno;
    int err = 0;
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) err = errno;
    if (!err && reserve && bytes > 0 && fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0) err = errno;
    void *map = MAP_FAILED;
    if (!err) {
        map = mmap(nullptr, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) err = errno;
    }
    close(fd);
    if (err) {
        shm_unlink(seg->name);
        seg->name[0] = '\0';
        return err;
    }
    seg->map = map;
    seg->bytes = bytes;
    return 0;
}

int raw_attach(const char *name, RawSegment *seg) {
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) return errno;
    struct stat st;
    int err = 0;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) != 0) {
        err = errno;
    } else {
        map = mmap(nullptr, st.st_size ? static_cast<size_t>(st.st_size) : 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) err = errno;
    }
    close(fd);
    if (err) return err;
    seg->map = map;
    seg->bytes = static_cast<size_t>(st.st_size);
    return 0;
}

void raw_release(RawSegment *seg, bool unlink) {
    if (seg->map) munmap(seg->map, seg->bytes ? seg->bytes : 1);
    if (unlink && seg->name[0]) shm_unlink(seg->name);
    seg->map = nullptr;
    seg->name[0] = '\0';
}

// ---------------------------------------------------------------------------------------------
// Pipes and workers
// ---------------------------------------------------------------------------------------------

bool write_all(int fd, const void *buf, size_t n) {
    const char *p = static_cast<const char *>(buf);
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void *buf, size_t n) {
    char *p = static_cast<char *>(buf);
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

bool read_all_timeout(int fd, void *buf, size_t n, double timeout_s) {
    char *p = static_cast<char *>(buf);
    while (n > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll(&pfd, 1, static_cast<int>(timeout_s * 1000));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return false;
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

void widen_pipe(int fd) {
    long max = 1 << 20;
    std::ifstream f("/proc/sys/fs/pipe-max-size");
    f >> max;
    fcntl(fd, F_SETPIPE_SZ, static_cast<int>(max));  // best effort: a narrower pipe still works
}

bool Workers::start(int n, const Fn &fn, std::string *why) {
    for (int i = 0; i < n; i++) {
        int cmd[2], reply[2];
        if (pipe2(cmd, O_CLOEXEC) != 0) {
            *why = std::string("pipe: ") + strerror(errno);
            return false;
        }
        if (pipe2(reply, O_CLOEXEC) != 0) {
            *why = std::string("pipe: ") + strerror(errno);
            close(cmd[0]), close(cmd[1]);
            return false;
        }
        widen_pipe(cmd[1]);
        fflush(stdout), fflush(stderr);  // no buffered output duplicated into the child
        pid_t pid = fork();
        if (pid < 0) {
            *why = std::string("fork: ") + strerror(errno);
            close(cmd[0]), close(cmd[1]), close(reply[0]), close(reply[1]);
            return false;
        }
        if (pid == 0) {
            // The child keeps only its own ends: a sibling's command pipe left open here would
            // hide that sibling's EOF.
            for (int fd : cmd_fds_)
                if (fd >= 0) close(fd);
            for (int fd : reply_fds_) close(fd);
            close(cmd[1]), close(reply[0]);
            _exit(fn(i, cmd[0], reply[1]));
        }
        close(cmd[0]), close(reply[1]);
        pids_.push_back(pid);
        cmd_fds_.push_back(cmd[1]);
        reply_fds_.push_back(reply[0]);
    }
    return true;
}

void Workers::close_cmds() {
    for (int &fd : cmd_fds_)
        if (fd >= 0) close(fd), fd = -1;
}

bool Workers::close_all() {
    close_cmds();
    for (int fd : reply_fds_) close(fd);
    cmd_fds_.clear();
    reply_fds_.clear();
    bool ok = true;
    for (pid_t pid : pids_) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = false;
    }
    pids_.clear();
    return ok;
}

// ---------------------------------------------------------------------------------------------
// The machine's description, added to the JSON context
// ---------------------------------------------------------------------------------------------

static std::string first_line_of(const char *path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return line;
}

static std::string cpu_model() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, 10, "model name") == 0) {
            size_t colon = line.find(':');
            return colon == std::string::npos ? line : line.substr(colon + 2);
        }
    return "unknown";
}

// The selected value of a sysfs choice file ("always [never] advise" -> "never").
static std::string bracketed(const std::string &s) {
    size_t a = s.find('['), b = s.find(']');
    return a != std::string::npos && b != std::string::npos && b > a ? s.substr(a + 1, b - a - 1) : s;
}

static void add_machine_context() {
    struct utsname u;
    uname(&u);
    struct statvfs st;
    uint64_t shm_bytes = statvfs("/dev/shm", &st) == 0 ? static_cast<uint64_t>(st.f_blocks) * st.f_frsize : 0;
    std::string workers;
    for (int w : worker_counts()) workers += (workers.empty() ? "" : ",") + std::to_string(w);
    benchmark::AddCustomContext("machine_nproc", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)));
    benchmark::AddCustomContext("machine_mem_total_mib", std::to_string(meminfo_kib("MemTotal") / 1024));
    benchmark::AddCustomContext("machine_kernel", std::string(u.sysname) + " " + u.release + " " + u.machine);
    benchmark::AddCustomContext("machine_cpu_model", cpu_model());
    benchmark::AddCustomContext("machine_dev_shm_mib", std::to_string(shm_bytes / MiB));
    benchmark::AddCustomContext("machine_shmem_thp",
                                bracketed(first_line_of("/sys/kernel/mm/transparent_hugepage/shmem_enabled")));
    benchmark::AddCustomContext("machine_thp", bracketed(first_line_of("/sys/kernel/mm/transparent_hugepage/enabled")));
    benchmark::AddCustomContext("shmanager_version", shma_version());
    benchmark::AddCustomContext("bench_max_mb", std::to_string(max_bytes() / MiB));
    benchmark::AddCustomContext("bench_workers", workers);
}

// ---------------------------------------------------------------------------------------------
// Leak check: every segment this process made must be gone when it ends
// ---------------------------------------------------------------------------------------------

// Segments in /dev/shm that this process created and left: raw ones by their name, the
// library's by the creator pid in their trailer. Each is reported and unlinked; returns the
// count. Other processes' segments (tests running beside the benchmarks) are not counted.
static int unlink_own_leftovers() {
    char raw_prefix[64];
    snprintf(raw_prefix, sizeof raw_prefix, "shma_bench_%d_", static_cast<int>(getpid()));
    DIR *dir = opendir("/dev/shm");
    if (!dir) return 0;
    std::vector<std::string> leaked;
    while (struct dirent *e = readdir(dir)) {
        if (strncmp(e->d_name, "shma", 4) != 0) continue;
        shma_info info;
        bool mine = strncmp(e->d_name, raw_prefix, strlen(raw_prefix)) == 0 ||
                    (shma_inspect(e->d_name, &info) == SHMA_OK && info.has_meta && info.creator_pid == getpid());
        if (mine) leaked.push_back(e->d_name);
    }
    closedir(dir);
    for (const std::string &name : leaked) {
        fprintf(stderr, "bench: leaked segment /dev/shm/%s (unlinking it)\n", name.c_str());
        shma_unlink(name.c_str());
    }
    return static_cast<int>(leaked.size());
}

}  // namespace bench

int main(int argc, char **argv) {
    // A worker that dies must show up as a failed write (EPIPE), not kill the whole run.
    signal(SIGPIPE, SIG_IGN);
    bench::add_machine_context();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return bench::unlink_own_leftovers() == 0 ? 0 : 1;
}
