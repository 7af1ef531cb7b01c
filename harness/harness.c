/*
 * harness.c: helpers shared by the multi-process scenarios; see harness.h.
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------
 * Scale and randomness
 * ------------------------------------------------------------------------------------------- */

static h_tier g_tier = H_TIER_CHECK;
static double g_multiplier = 1.0;
static uint64_t g_seed;
static _Thread_local uint64_t g_rng; /* per thread; 0 until seeded */
static pid_t g_top_pid;

h_tier h_scale_tier(void) { return g_tier; }

long h_size(long check, long small, long stress) {
    switch (g_tier) {
    case H_TIER_SMALL: return small;
    case H_TIER_STRESS: return stress;
    default: break;
    }
    long n = (long)((double)check * g_multiplier);
    return n < 1 ? 1 : n;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t h_rand(void) {
    if (g_rng == 0) h_rand_reseed((uint64_t)(uintptr_t)&g_rng); /* a thread's first call */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}

uint64_t h_rand_below(uint64_t n) { return h_rand() % n; }

void h_rand_reseed(uint64_t salt) {
    g_rng = splitmix64(g_seed ^ splitmix64(salt) ^ ((uint64_t)getpid() << 32));
    if (g_rng == 0) g_rng = 1;
}

uint64_t h_seed(void) { return g_seed; }

double h_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void h_spin_ns(uint64_t ns) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)t.tv_nsec -
               (uint64_t)t0.tv_nsec <
           ns);
}

/* ---------------------------------------------------------------------------------------------
 * Children
 * ------------------------------------------------------------------------------------------- */

/* The children this process forked during the current test, and every pid forked during the
 * run (creators whose segments the sweep may remove). */
typedef struct pid_list {
    pid_t *v;
    size_t n, cap;
} pid_list;

static pid_list g_live, g_ever, g_reapers;

static void pid_list_add(pid_list *l, pid_t pid) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        pid_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "harness: out of memory\n");
            abort();
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = pid;
}

static bool pid_list_has(const pid_list *l, pid_t pid) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == pid) return true;
    return false;
}

static void pid_list_remove(pid_list *l, pid_t pid) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == pid) {
            l->v[i] = l->v[--l->n];
            return;
        }
}

static void pid_list_free(pid_list *l) {
    free(l->v);
    *l = (pid_list){0};
}

#ifdef H_GCOV
/* The coverage build links with -Wl,--wrap=_exit, so every _exit in the binary, the library's
 * included, comes here first: processes that end with _exit (our children, and the library's
 * reaper and its intermediate process) flush their counters too, and the reaper's code is
 * counted. */
extern void __gcov_dump(void);
extern void __real__exit(int code) __attribute__((noreturn));
void __wrap__exit(int code) __attribute__((noreturn));
void __wrap__exit(int code) {
    __gcov_dump();
    __real__exit(code);
}
#endif

void h_child_exit(int code) { _exit(code); }

void h_child_fail(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[child %d] %s:%d: %s\n", (int)getpid(), file, line, msg);
    h_child_exit(1);
}

pid_t h_fork(int (*fn)(void *), void *arg) {
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* A child never outlives the test process that forked it: if that dies (a failed
         * assert, a timeout), the child is killed rather than left looping. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) h_child_exit(2);
        /* The child's own bookkeeping starts empty: these lists are the parent's. */
        pid_list_free(&g_live);
        pid_list_free(&g_reapers);
        h_rand_reseed((uint64_t)getpid());
        h_child_exit(fn(arg));
    }
    if (pid > 0) {
        pid_list_add(&g_live, pid);
        pid_list_add(&g_ever, pid);
    }
    return pid;
}

int h_wait(pid_t pid) {
    int status = 0;
    pid_t r;
    do r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    pid_list_remove(&g_live, pid);
    if (r != pid) fail_msg("waitpid(%d) returned %d: %s", (int)pid, (int)r, strerror(errno));
    return status;
}

bool h_wait_nohang(pid_t pid, int *status) {
    pid_t r;
    do r = waitpid(pid, status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    pid_list_remove(&g_live, pid);
    if (r != pid) fail_msg("waitpid(%d) returned %d: %s", (int)pid, (int)r, strerror(errno));
    return true;
}

void h_wait_ok(pid_t pid) {
    int status = h_wait(pid);
    if (WIFSIGNALED(status))
        fail_msg("child %d was killed by signal %d (%s)", (int)pid, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child %d exited with status %d (0 expected; its stderr says why)", (int)pid,
                 WEXITSTATUS(status));
}

void h_wait_signaled(pid_t pid, int sig) {
    int status = h_wait(pid);
    if (WIFEXITED(status))
        fail_msg("child %d exited with status %d, expected death by signal %d", (int)pid,
                 WEXITSTATUS(status), sig);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), sig);
}

/* Whether /proc says pid is gone or a zombie: the fallback when pidfds are unavailable. */
static bool proc_exited(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return true;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return true;
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
    return rp == NULL || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X';
}

bool h_wait_exit_any(pid_t pid, int timeout_ms) {
    /* valgrind 3.19 does not know pidfd_open and warns at every call: use /proc there. */
    int fd = running_on_valgrind() ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno == ESRCH) return true;
    if (fd >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r;
        do r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        close(fd);
        return r > 0;
    }
    /* No pidfd (an old kernel): watch /proc, yielding the CPU between looks. This waits for an
     * exit; it orders nothing, so it is not sleep-as-synchronisation. */
    double end = h_now() + timeout_ms / 1000.0;
    while (!proc_exited(pid)) {
        if (h_now() > end) return false;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return true;
}

void h_reap_all(void) {
    for (size_t i = 0; i < g_live.n; i++) {
        fprintf(stderr, "harness: killing child %d the test left running\n", (int)g_live.v[i]);
        kill(g_live.v[i], SIGKILL);
    }
    while (g_live.n > 0) {
        pid_t pid = g_live.v[0];
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        pid_list_remove(&g_live, pid);
    }
    /* Reapers re-parented to us (we are a subreaper) end up as zombies: collect them. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#define H_MAX_MANAGERS 32
static shma_manager *g_managers[H_MAX_MANAGERS];

shma_manager **h_manager(uint32_t flags) {
    for (int i = 0; i < H_MAX_MANAGERS; i++) {
        if (g_managers[i]) continue;
        assert_shma_ok(shma_manager_create(flags, &g_managers[i]));
        h_track_reaper(shma_manager_reaper_pid(g_managers[i]));
        return &g_managers[i];
    }
    fail_msg("more than %d managers in one test", H_MAX_MANAGERS);
    return NULL;
}

void h_track_reaper(int pid) {
    if (pid > 0 && !pid_list_has(&g_reapers, pid)) pid_list_add(&g_reapers, pid);
}

/* ---------------------------------------------------------------------------------------------
 * Bracketing and cleanup
 * ------------------------------------------------------------------------------------------- */

void h_init(const char *scenario) {
    g_top_pid = getpid();
    const char *scale = getenv("SHMA_TEST_SCALE");
    if (scale && *scale) {
        char *end = NULL;
        double m = strtod(scale, &end);
        if (strcmp(scale, "valgrind") == 0 || strcmp(scale, "small") == 0) {
            g_tier = H_TIER_SMALL;
        } else if (strcmp(scale, "stress") == 0) {
            g_tier = H_TIER_STRESS;
        } else if (end && *end == '\0' && m > 0) {
            g_multiplier = m;
        } else {
            fprintf(stderr, "harness: SHMA_TEST_SCALE=%s not understood; using the check size\n",
                    scale);
        }
    } else if (running_on_valgrind()) {
        g_tier = H_TIER_SMALL;
    }
    const char *seed = getenv("SHMA_TEST_SEED");
    g_seed = seed && *seed ? strtoull(seed, NULL, 0)
                           : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    h_rand_reseed(0);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fprintf(stderr, "harness: PR_SET_CHILD_SUBREAPER failed: %s\n", strerror(errno));
    static const char *tiers[] = {"small (valgrind)", "check", "stress"};
    printf("[harness] %s: libshmanager %s, size %s x%g, SHMA_TEST_SEED=%llu%s\n", scenario,
           shma_version(), tiers[g_tier], g_multiplier, (unsigned long long)g_seed,
           under_asan() ? ", ASan" : "");
    fflush(stdout);
}

void h_name_prefix(char *buf, size_t cap, const char *tag, pid_t pid) {
    snprintf(buf, cap, "shma_hx%d_%s_%d_", (int)g_top_pid, tag, (int)pid);
}

void h_name(char *buf, size_t cap, const char *tag) {
    static unsigned counter;
    char prefix[128];
    h_name_prefix(prefix, sizeof prefix, tag, getpid());
    snprintf(buf, cap, "%s%u", prefix, counter++);
}

int h_sweep(void) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "shma_hx%d_", (int)g_top_pid);
    DIR *d = opendir("/dev/shm");
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        bool ours = strncmp(n, prefix, strlen(prefix)) == 0;
        if (!ours && strncmp(n, "shma", 4) == 0) {
            shma_info info;
            if (shma_inspect(n, &info) == SHMA_OK && info.has_meta)
                ours = info.creator_pid == g_top_pid ||
                       pid_list_has(&g_ever, (pid_t)info.creator_pid);
        }
        if (!ours) continue;
        fprintf(stderr, "harness: LEAK: /dev/shm/%s was left behind; removing it\n", n);
        shma_unlink(n);
        removed++;
    }
    closedir(d);
    return removed;
}

int h_setup(void **state) {
    (void)state;
    h_rand_reseed(h_rand());
    return 0;
}

int h_teardown(void **state) {
    (void)state;
    h_reap_all();
    for (int i = 0; i < H_MAX_MANAGERS; i++) {
        int rc = shma_manager_shutdown(&g_managers[i]);
        if (rc != SHMA_OK)
            fprintf(stderr, "harness: manager shutdown: %s: %s\n", shma_errname(rc),
                    shma_last_error());
    }
    int stuck = 0;
    for (size_t i = 0; i < g_reapers.n; i++) {
        if (!h_wait_exit_any(g_reapers.v[i], 20000)) {
            fprintf(stderr, "harness: reaper %d still runs 20 s after its owner ended\n",
                    (int)g_reapers.v[i]);
            stuck++;
        }
    }
    g_reapers.n = 0;
    h_reap_all();
    int leaked = h_sweep();
    return leaked || stuck ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Pipes
 * ------------------------------------------------------------------------------------------- */

void h_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) fail_msg("pipe2: %s", strerror(errno));
}

bool h_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w, n -= (size_t)w;
    }
    return true;
}

ssize_t h_read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

bool h_send_msg(int fd, const void *buf, uint32_t n) {
    return h_write_all(fd, &n, sizeof n) && h_write_all(fd, buf, n);
}

ssize_t h_recv_msg(int fd, char *buf, size_t cap) {
    uint32_t n;
    ssize_t r = h_read_all(fd, &n, sizeof n);
    if (r == 0) return 0;
    if (r != (ssize_t)sizeof n || n >= cap) return -1;
    if (h_read_all(fd, buf, n) != (ssize_t)n) return -1;
    buf[n] = '\0';
    return (ssize_t)n;
}

bool h_send_byte(int fd, char c) { return h_write_all(fd, &c, 1); }

bool h_wait_byte(int fd, char *c) {
    char sink;
    return h_read_all(fd, c ? c : &sink, 1) == 1;
}

/* ---------------------------------------------------------------------------------------------
 * /dev/shm and /proc
 * ------------------------------------------------------------------------------------------- */

bool h_shm_exists(const char *name) {
    char path[SHMA_NAME_MAX + 16];
    struct stat st;
    if (strlen(name) > SHMA_NAME_MAX) return false;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return stat(path, &st) == 0;
}

int h_shm_count(const char *prefix, char *out_first, size_t cap) {
    DIR *d = opendir("/dev/shm");
    if (!d) return -1;
    int count = 0;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (strncmp(e->d_name, prefix, plen) != 0) continue;
        if (count == 0 && out_first) snprintf(out_first, cap, "%s", e->d_name);
        count++;
    }
    closedir(d);
    return count;
}

int h_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') count++;
    closedir(d);
    return count - 1; /* the listing's own descriptor */
}

/* Reads a whole /proc file into a malloc'd NUL-terminated buffer. */
static char *slurp(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger, cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (buf) buf[len] = '\0';
    return buf;
}

int h_count_maps(const char *substr) {
    char *text = slurp("/proc/self/maps");
    if (!text) return -1;
    int count = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (!substr || strstr(line, substr)) count++;
        if (!nl) break;
        line = nl + 1;
    }
    free(text);
    return count;
}

long h_rss_kib(void) {
    char *text = slurp("/proc/self/status");
    if (!text) return -1;
    long kib = -1;
    const char *p = strstr(text, "\nVmRSS:");
    if (p) kib = strtol(p + 7, NULL, 10);
    free(text);
    return kib;
}

int h_private_dev_shm(const char *size_opt) {
    char opts[128];
    if (unshare(CLONE_NEWNS) != 0) return errno;
    /* Without this, the tmpfs mount below would propagate back to the host's namespace. */
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) return errno;
    snprintf(opts, sizeof opts, "%s,mode=1777", size_opt);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) return errno;
    return 0;
}

int h_make_foreign(const char *name, size_t size, unsigned char fill) {
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    int err = 0;
    if (ftruncate(fd, (off_t)size) != 0) err = errno;
    char chunk[4096];
    memset(chunk, fill, sizeof chunk);
    for (size_t off = 0; !err && off < size; off += sizeof chunk) {
        size_t n = size - off < sizeof chunk ? size - off : sizeof chunk;
        if (pwrite(fd, chunk, n, (off_t)off) != (ssize_t)n) err = errno ? errno : EIO;
    }
    close(fd);
    if (err) shm_unlink(path);
    return err;
}

int h_truncate(const char *name, off_t size) {
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return errno;
    int err = ftruncate(fd, size) == 0 ? 0 : errno;
    close(fd);
    return err;
}
