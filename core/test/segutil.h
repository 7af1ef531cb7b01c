/*
 * segutil.h: helpers for the lifecycle tests (test_allocate, test_attach, test_copy, ...), on
 * top of testutil.h:
 *
 *   - tracking every segment a test makes, so that the per-test teardown unlinks it even when
 *     an assertion aborted the test half-way (SEG_TEST() registers that teardown);
 *   - /dev/shm snapshots, to assert that a failing call left nothing behind;
 *   - foreign segments made with raw shm_open, as Python or another program would;
 *   - forked children that report through their exit status (CHILD_REQUIRE), pipes, and
 *     polling a condition against a deadline (never a bare sleep as synchronisation).
 */
#ifndef SHMA_SEGUTIL_H
#define SHMA_SEGUTIL_H

#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>


/* ---------------------------------------------------------------------------------------------
 * Scale: big loops shrink under valgrind and the sanitizers.
 * ------------------------------------------------------------------------------------------- */

/* Under valgrind, or sized as if (the valgrind run of `make check` sets SHMA_TEST_SCALE). */
static inline bool under_valgrind(void) {
    const char *scale = getenv("SHMA_TEST_SCALE");
    return running_on_valgrind() || (scale != NULL && strcmp(scale, "valgrind") == 0);
}

/* ---------------------------------------------------------------------------------------------
 * Segment tracking: whatever a test records here is unlinked by seg_teardown().
 * ------------------------------------------------------------------------------------------- */

#define SEG_TRACK_MAX 2048

__attribute__((unused)) static char seg_tracked[SEG_TRACK_MAX][SHMA_NAME_MAX + 1];
__attribute__((unused)) static int seg_ntracked;
__attribute__((unused)) static int seg_name_counter;

/* Records `name` (with or without its leading '/') for removal in the teardown. */
static inline void seg_track(const char *name) {
    if (name[0] == '/') name++;
    for (int i = 0; i < seg_ntracked; i++)
        if (strcmp(seg_tracked[i], name) == 0) return;
    if (seg_ntracked == SEG_TRACK_MAX) fail_msg("seg_track: more than %d segments", SEG_TRACK_MAX);
    snprintf(seg_tracked[seg_ntracked++], SHMA_NAME_MAX + 1, "%.*s", SHMA_NAME_MAX, name);
}

static inline void raw_unlink(const char *bare) {
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%.*s", SHMA_NAME_MAX, bare);
    shm_unlink(path);
}

/* Per-test teardown: unlinks every tracked segment (most are gone already). */
static inline int seg_teardown(void **state) {
    (void)state;
    for (int i = 0; i < seg_ntracked; i++) raw_unlink(seg_tracked[i]);
    seg_ntracked = 0;
    return 0;
}

#define SEG_TEST(f) cmocka_unit_test_teardown(f, seg_teardown)

/* A fresh name for this test process ("shmatest_PID_N_tag"), already tracked. */
static inline const char *seg_test_name(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "shmatest_%d_%d_%s", (int)getpid(), seg_name_counter++, tag);
    seg_track(buf);
    return buf;
}

/* Allocates (asserting success) and tracks the new segment. */
static inline shma_array *alloc_tracked(shma_manager *mgr, int ndim, const int64_t *shape, const char *dtype) {
    shma_array *a = NULL;
    assert_shma_ok(shma_allocate(mgr, ndim, shape, dtype, &a));
    assert_non_null(a);
    seg_track(shma_name(a));
    return a;
}

/* Unlinks every segment whose name starts with `prefix` (a test's own "shmatest_PID_..."
 * prefix), for children that make more segments than are worth tracking one by one. */
static inline void seg_unlink_prefix(const char *prefix) {
    DIR *d = opendir("/dev/shm");
    if (!d) return;
    struct dirent *e;
    size_t n = strlen(prefix);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, n) == 0) raw_unlink(e->d_name);
    closedir(d);
}

/* ---------------------------------------------------------------------------------------------
 * Foreign segments and raw access
 * ------------------------------------------------------------------------------------------- */

/* Creates segment `bare` of `size` bytes with raw shm_open, as another program would. */
static inline void foreign_create(const char *bare, off_t size) {
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%.*s", SHMA_NAME_MAX, bare);
    int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) fail_msg("shm_open(%s): %s", path, strerror(errno));
    seg_track(bare);
    if (ftruncate(fd, size) != 0) {
        int err = errno;
        close(fd);
        fail_msg("ftruncate(%s, %lld): %s", path, (long long)size, strerror(err));
    }
    close(fd);
}

/* Whether /dev/shm/NAME exists: testutil.h's shm_exists() with the name's length bounded in
 * the format, so that GCC's -Wformat-truncation stays quiet whatever array it comes from. */
static inline bool seg_exists(const char *bare) {
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%.*s", SHMA_NAME_MAX, bare);
    return stat(path, &st) == 0;
}

/* Size of /dev/shm/NAME, or -1 if it does not exist. */
static inline long long shm_size(const char *bare) {
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%.*s", SHMA_NAME_MAX, bare);
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Maps the whole segment `bare` read-write with raw calls; *size receives its size. */
static inline unsigned char *raw_map(const char *bare, size_t *size) {
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%.*s", SHMA_NAME_MAX, bare);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) fail_msg("shm_open(%s): %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        fail_msg("fstat(%s) failed or segment is empty", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) fail_msg("mmap(%s): %s", path, strerror(errno));
    *size = (size_t)st.st_size;
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * /dev/shm snapshots: what a failing call may not leave behind
 * ------------------------------------------------------------------------------------------- */

typedef struct shm_listing {
    int n;
    char (*names)[SHMA_NAME_MAX + 1];
} shm_listing;

/* Entries of /dev/shm whose name starts with "shma" (the library's random names and the
 * tests' names both do). */
static inline shm_listing shm_list(void) {
    shm_listing l = {0, NULL};
    int cap = 0;
    DIR *d = opendir("/dev/shm");
    if (!d) fail_msg("opendir(/dev/shm): %s", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "shma", 4) != 0) continue;
        if (l.n == cap) {
            cap = cap ? 2 * cap : 64;
            l.names = realloc(l.names, (size_t)cap * sizeof *l.names);
            if (!l.names) fail_msg("out of memory");
        }
        snprintf(l.names[l.n++], SHMA_NAME_MAX + 1, "%s", e->d_name);
    }
    closedir(d);
    return l;
}

static inline bool shm_listing_has(const shm_listing *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return true;
    return false;
}

static inline void shm_listing_free(shm_listing *l) {
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

/* Whether `name` is visibly another process's: it carries a trailer naming another creator.
 * Other test binaries may run at the same time and create segments of their own. */
static inline bool segment_of_other_process(const char *name) {
    shma_info info;
    if (shma_inspect(name, &info) != SHMA_OK) return false;
    return info.has_meta && info.creator_pid != (int64_t)getpid();
}

static inline uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Counts the entries in the current listing that are not in `before` and not visibly another
 * process's; writes their names, comma-separated, to `out`. */
static inline int shm_new_entries(const shm_listing *before, char *out, size_t cap) {
    shm_listing now = shm_list();
    int count = 0;
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < now.n; i++) {
        if (shm_listing_has(before, now.names[i]) || segment_of_other_process(now.names[i])) continue;
        count++;
        if (used < cap) used += (size_t)snprintf(out + used, cap - used, "%s%s", count > 1 ? ", " : "", now.names[i]);
    }
    shm_listing_free(&now);
    return count;
}

/* Asserts /dev/shm holds nothing new since `before`. A new entry that another process is
 * still creating (no trailer yet) gets up to two seconds to show its creator or vanish. */
#define assert_no_new_segments(before) assert_no_new_segments_((before), __FILE__, __LINE__)
static inline void assert_no_new_segments_(const shm_listing *before, const char *file, int line) {
    char names[1024];
    uint64_t deadline = now_ms() + 2000;
    while (shm_new_entries(before, names, sizeof names) > 0) {
        if (now_ms() > deadline) fail_msg("%s:%d: /dev/shm holds new segments: %s", file, line, names);
        nap_ms(2);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Children, pipes, processes and deadlines
 * ------------------------------------------------------------------------------------------- */

/* fork() with stdio flushed first, so the child's exit() does not print the parent's
 * buffered output a second time. */
static inline pid_t fork_child(void) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    return pid;
}

/* In a child: a failed check prints where and why and exits 1, which the parent's
 * assert_child_ok() reports. Children exit through exit(), so coverage data is written. */
#define CHILD_REQUIRE(cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child %d: %s:%d: check failed: %s (last error: %s)\n", (int)getpid(),  \
                    __FILE__, __LINE__, #cond, shma_last_error());                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHILD_OK(expr) CHILD_REQUIRE((expr) == SHMA_OK)

/* In a child: `expr` must fail with `code`; should it succeed, the array it made in *parr is
 * unlinked before the child reports the failure, so nothing is left behind. */
#define CHILD_FAILS(expr, code, parr)                                                              \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ == SHMA_OK && *(parr) != NULL) {                                                   \
            shma_unlink(shma_name(*(parr)));                                                       \
            shma_close(parr);                                                                      \
        }                                                                                          \
        CHILD_REQUIRE(rc_ == (code));                                                              \
    } while (0)

/* Reads exactly n bytes (false on EOF or error). */
static inline bool read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static inline bool write_full(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* A length-prefixed string through a pipe. */
static inline bool send_str(int fd, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    return write_full(fd, &n, sizeof n) && write_full(fd, s, n);
}

static inline bool recv_str(int fd, char *buf, size_t cap) {
    uint32_t n;
    if (!read_full(fd, &n, sizeof n) || n >= cap) return false;
    if (!read_full(fd, buf, n)) return false;
    buf[n] = '\0';
    return true;
}

static inline void make_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) fail_msg("pipe2: %s", strerror(errno));
}

/* The state letter of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 when there is no such process. */
static inline char proc_state(pid_t pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    const char *close_paren = strrchr(text, ')');
    return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

/* Running, not exited (a zombie waiting to be reaped by init counts as exited). */
static inline bool proc_alive(pid_t pid) {
    char s = proc_state(pid);
    return s != 0 && s != 'Z' && s != 'X';
}

/* Polls cond(arg) every millisecond or so until it holds or timeout_ms passes. */
static inline bool wait_until(bool (*cond)(const void *), const void *arg, int timeout_ms) {
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (cond(arg)) return true;
        if (now_ms() > deadline) return false;
        nap_ms(1);
    }
}

static inline bool cond_proc_gone(const void *arg) { return !proc_alive(*(const pid_t *)arg); }
static inline bool cond_segment_gone(const void *arg) { return !seg_exists((const char *)arg); }

/* Waits for a child, returning its raw wait status. */
static inline int wait_status(pid_t pid) {
    int status = 0;
    pid_t r;
    do r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    return status;
}

#endif /* SHMA_SEGUTIL_H */
