/* proc.c: process identity, a pid plus its start time, so that a reused pid is never mistaken
 * for the process that created a segment. Linux only: it reads /proc/PID/stat. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* /proc/PID/stat is one line of 52 fields; field 22 ends within about 500 bytes even with a
 * 64-byte command name and 20-digit fields, so cutting a longer line here loses nothing. */
#define STAT_MAX 1024

/* Field numbers as proc(5) counts them. */
#define FIELD_STATE 3
#define FIELD_STARTTIME 22

/* ---------------------------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------------------------- */

/* Reads the state letter and start time. The command name (field 2) may hold spaces and ')',
 * but the kernel writes nothing after it that contains ')', so the last ')' ends it. */
static int parse_stat(const char *text, size_t len, char *state, uint64_t *start) {
    const char *comm_end = memrchr(text, ')', len);
    if (comm_end == NULL) return EINVAL;
    const char *p = comm_end + 1, *end = text + len, *tok = p;
    char state_seen = 0;
    for (int field = FIELD_STATE; field <= FIELD_STARTTIME; field++) {
        if (p == end || *p != ' ') return EINVAL;
        tok = ++p;
        while (p < end && *p != ' ' && *p != '\n') p++;
        if (p == tok) return EINVAL;
        if (field == FIELD_STATE) {
            if (p - tok != 1) return EINVAL;
            state_seen = *tok;
        }
    }
    /* tok..p is now field 22. */
    uint64_t v = 0;
    for (const char *d = tok; d < p; d++) {
        if (*d < '0' || *d > '9') return EINVAL;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*d - '0'), &v))
            return EINVAL;
    }
    *state = state_seen;
    *start = v;
    return 0;
}

int shma__parse_proc_stat_start(const char *text, size_t len, uint64_t *start) {
    char state;
    return parse_stat(text, len, &state, start);
}

/* Reads a /proc/.../stat file and parses it. 0 or an errno. */
static int read_stat(const char *path, char *state, uint64_t *start) {
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;

    char text[STAT_MAX];
    size_t len = 0;
    int err = 0;
    while (len < sizeof text) {
        ssize_t n = read(fd, text + len, sizeof text - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (err != 0) return err;
    return parse_stat(text, len, state, start);
}

/* ---------------------------------------------------------------------------------------------
 * This process
 * ------------------------------------------------------------------------------------------- */

/* The cache: start is written before pid (release), so a reader that sees its own pid in
 * cached_pid (acquire) also sees the matching start. 0 means empty. */
static _Atomic int64_t cached_pid;
static _Atomic uint64_t cached_start;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A child must not trust the parent's entry. Comparing with getpid() alone is not enough: the
 * child of a child can be given the pid of an ancestor that filled the cache and has since
 * exited. */
static void forget_identity(void) { atomic_store_explicit(&cached_pid, 0, memory_order_relaxed); }

static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_identity); }

int shma__self_identity(int64_t *pid, uint64_t *start) {
    pthread_once(&atfork_once, register_atfork);
    /* getpid() as well as the atfork handler: a raw clone() runs no atfork handlers. */
    int64_t self = getpid();
    if (atomic_load_explicit(&cached_pid, memory_order_acquire) == self) {
        *pid = self;
        *start = atomic_load_explicit(&cached_start, memory_order_relaxed);
        return 0;
    }
    char state;
    uint64_t started;
    int err = read_stat("/proc/self/stat", &state, &started);
    if (err != 0) return err;
    atomic_store_explicit(&cached_start, started, memory_order_relaxed);
    atomic_store_explicit(&cached_pid, self, memory_order_release);
    *pid = self;
    *start = started;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Other processes
 * ------------------------------------------------------------------------------------------- */

bool shma__process_alive(int64_t pid, uint64_t start) {
    if (pid <= 0) return false;
    char path[64], state;
    uint64_t started;
    snprintf(path, sizeof path, "/proc/%" PRId64 "/stat", pid);
    if (read_stat(path, &state, &started) != 0) return false;
    /* A zombie ('Z') or dead ('X') task has exited; only its entry waits to be reaped. */
    return state != 'Z' && state != 'X' && started == start;
}
