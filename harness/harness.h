/*
 * harness.h: helpers shared by the multi-process scenarios in harness/ (issue 3).
 *
 * Every scenario is a cmocka binary. The parent process runs the cmocka tests and asserts;
 * children it forks never call cmocka (a failed cmocka assert in a child would longjmp back into
 * the runner and go on running the parent's tests there). Children check with H_CHECK*, which
 * print what failed and end the child with a non-zero exit status; the parent collects it with
 * h_wait_ok() / assert_child_ok(). Synchronisation is by pipes and waitpid/pidfd, never sleep.
 *
 * Sizes scale with the environment (see h_size()):
 *   SHMA_TEST_SCALE  unset       the `make check` size (also under ASan)
 *                    "valgrind"  smallest (the valgrind run of `make check` sets it)
 *                    "stress"    the `make stress` size (hundreds of crashes, 100,000 cycles)
 *                    a number    the check size multiplied by it (0.5, 3, ...)
 *   SHMA_TEST_SEED   seed of the random choices (printed at start); default: time and pid.
 *
 * Cleanup. h_setup()/h_teardown() bracket every test: teardown kills and reaps any child the
 * test left running (a failed assert can leave one), waits for the crash reapers the test
 * registered, then unlinks whatever segment of this test run is still in /dev/shm: segments
 * named by h_name() and segments whose metadata names a creator among this process and the
 * children it forked. Removing one is reported and fails the test, so a leak is never hidden by
 * the cleanup that keeps /dev/shm clean.
 */
#ifndef SHMA_HARNESS_H
#define SHMA_HARNESS_H

#include "testutil.h"

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------------------------------------
 * Scale and randomness
 * ------------------------------------------------------------------------------------------- */

typedef enum h_tier { H_TIER_SMALL, H_TIER_CHECK, H_TIER_STRESS } h_tier;

/* The tier SHMA_TEST_SCALE selects (SMALL also when running under valgrind without it). */
h_tier h_scale_tier(void);

/* The count to use: `small` under valgrind, `stress` under `make stress`, else `check` times
 * the numeric multiplier (at least 1). */
long h_size(long check, long small, long stress);

/* Pseudo-random numbers (xorshift64*), per thread, seeded from SHMA_TEST_SEED; h_fork()
 * reseeds each child and a thread seeds itself on first use, so that siblings differ. */
uint64_t h_rand(void);
uint64_t h_rand_below(uint64_t n); /* uniform in [0, n); n > 0 */
void h_rand_reseed(uint64_t salt);
uint64_t h_seed(void);

/* Busy-waits `ns` nanoseconds: a random delay that lands a SIGKILL inside an operation. */
void h_spin_ns(uint64_t ns);
double h_now(void); /* CLOCK_MONOTONIC seconds */

/* ---------------------------------------------------------------------------------------------
 * Test bracketing and cleanup
 * ------------------------------------------------------------------------------------------- */

/* Called once from main(): reads the scale, seeds, makes this process a child subreaper
 * (reapers of managers whose process died are re-parented here and reaped, instead of piling up
 * as zombies under a PID 1 that never waits), prints the configuration. */
void h_init(const char *scenario);

/* cmocka group/test fixtures. */
int h_setup(void **state);
int h_teardown(void **state);

/* A name unique to this test run: "shma_hx<top>_<tag>_<pid>_<n>" (top: the test process;
 * pid: the caller). The
 * teardown removes every segment with this run's prefix. */
void h_name(char *buf, size_t cap, const char *tag);

/* The prefix of every name h_name(tag) gives in process `pid`: "shma_hx<top>_<tag>_<pid>_". */
void h_name_prefix(char *buf, size_t cap, const char *tag, pid_t pid);

/* Creates a manager for the current test (the test fails if that fails) and returns the slot
 * holding it: use *slot, shut it down early with shma_manager_shutdown(slot). The teardown shuts
 * down whatever is still in a slot, so a failed assert does not strand a reaper. */
shma_manager **h_manager(uint32_t flags);

/* Registers a reaper pid the teardown must see exit before it inspects /dev/shm. */
void h_track_reaper(int pid);

/* Unlinks the leftovers described above; returns how many it removed (printing each). */
int h_sweep(void);

/* ---------------------------------------------------------------------------------------------
 * Children
 * ------------------------------------------------------------------------------------------- */

#define H_EXIT_SKIP 77 /* a child's "this system cannot do that" */

/* Forks; the child runs fn(arg) and ends with its return value as exit status (0 = passed).
 * The child's pid is recorded for the teardown. Returns the pid (the parent asserts it > 0). */
pid_t h_fork(int (*fn)(void *), void *arg);

/* Ends a child with _exit(code): no atexit handlers, no stdio buffers inherited from the parent
 * flushed twice. (In the coverage build _exit flushes the coverage counters first.) */
void h_child_exit(int code) __attribute__((noreturn));

/* Waits for pid (EINTR-safe) and returns its raw status. */
int h_wait(pid_t pid);

/* Reaps pid if it has ended: true and its status in *status, else false (it still runs). */
bool h_wait_nohang(pid_t pid, int *status);

/* Waits for pid and fails the test unless it exited with status 0. */
void h_wait_ok(pid_t pid);

/* Waits for pid and fails the test unless it was killed by `sig`. */
void h_wait_signaled(pid_t pid, int sig);

/* Waits up to timeout_ms for a process that need not be our child (a reaper) to exit, through
 * pidfd_open + poll; true if it exited. Zombies count as exited. */
bool h_wait_exit_any(pid_t pid, int timeout_ms);

/* Kills every child h_fork() made that still runs, and reaps all children (including reapers
 * re-parented to us). Called by the teardown. */
void h_reap_all(void);

/* Failure reporting inside children: print where and why to stderr, then h_child_exit(1). */
void h_child_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define H_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) h_child_fail(__FILE__, __LINE__, "check failed: %s", #cond);                  \
    } while (0)

#define H_CHECK_EQ(a, b)                                                                           \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) h_child_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);  \
    } while (0)

#define H_CHECK_OK(expr)                                                                           \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != SHMA_OK)                                                                        \
            h_child_fail(__FILE__, __LINE__, "%s returned %s: %s", #expr, shma_errname(rc_),       \
                         shma_last_error());                                                       \
    } while (0)

#define H_CHECK_RC(expr, code)                                                                     \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (code))                                                                         \
            h_child_fail(__FILE__, __LINE__, "%s returned %s (%s), expected %s", #expr,            \
                         shma_errname(rc_), shma_last_error(), shma_errname(code));                \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Pipes
 * ------------------------------------------------------------------------------------------- */

/* pipe2(O_CLOEXEC); fails the test (parent) on error. */
void h_pipe(int fds[2]);

/* Writes/reads exactly n bytes, retrying on EINTR and short transfers. Read returns n, or the
 * smaller count read before end of file, or -1 on error. */
bool h_write_all(int fd, const void *buf, size_t n);
ssize_t h_read_all(int fd, void *buf, size_t n);

/* A length-prefixed message: u32 length then bytes. read returns the length, 0 at end of file,
 * -1 on error or if the message is longer than cap - 1 (the buffer is NUL-terminated). */
bool h_send_msg(int fd, const void *buf, uint32_t n);
ssize_t h_recv_msg(int fd, char *buf, size_t cap);

/* One byte as a go/ack signal. h_wait_byte returns false at end of file. */
bool h_send_byte(int fd, char c);
bool h_wait_byte(int fd, char *c);

/* ---------------------------------------------------------------------------------------------
 * /dev/shm and /proc
 * ------------------------------------------------------------------------------------------- */

/* Whether /dev/shm/NAME exists. (testutil.h's shm_exists(), inlined at call sites whose name
 * buffers gcc cannot bound, trips -Wformat-truncation at -O2; this one is out of line.) */
bool h_shm_exists(const char *name);

/* Number of /dev/shm entries whose name starts with prefix ("" for all); if out_first is not
 * NULL, the first one found is copied there. */
int h_shm_count(const char *prefix, char *out_first, size_t cap);

/* Open descriptors of this process (entries of /proc/self/fd, the listing's own excluded). */
int h_count_fds(void);

/* Lines of /proc/self/maps, all of them (substr NULL) or those containing substr. */
int h_count_maps(const char *substr);

/* Resident set size of this process in KiB (VmRSS). */
long h_rss_kib(void);

/* Enters a private mount namespace with a fresh tmpfs of `size_opt` ("size=64m") on /dev/shm.
 * For a forked child only. Returns 0, or the errno of the step that failed (EPERM when the
 * system does not allow it; the child then exits H_EXIT_SKIP). */
int h_private_dev_shm(const char *size_opt);

/* Creates a segment with raw shm_open (no shmanager trailer) of `size` bytes filled with
 * `fill`, as another program would. Returns 0 or errno. */
int h_make_foreign(const char *name, size_t size, unsigned char fill);

/* Sets /dev/shm/NAME to `size` bytes with ftruncate (shrinking or growing). 0 or errno. */
int h_truncate(const char *name, off_t size);

#endif /* SHMA_HARNESS_H */
