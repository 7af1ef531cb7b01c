/*
 * testutil.h: helpers shared by the cmocka unit tests. Every assertion here is always on
 * (cmocka's assert_* ignore NDEBUG) and prints both sides on failure.
 */
#ifndef SHMA_TESTUTIL_H
#define SHMA_TESTUTIL_H

#include <setjmp.h> /* cmocka.h needs these four first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmanager.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Whether this binary was built with AddressSanitizer / is running under valgrind: big loops
 * shrink there. */
static inline bool under_asan(void) {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

static inline bool running_on_valgrind(void) { return RUNNING_ON_VALGRIND != 0; }

/* Asserts a call returns SHMA_OK, printing the error name and detail otherwise. */
#define assert_shma_ok(expr)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != SHMA_OK)                                                                        \
            fail_msg("%s returned %s: %s", #expr, shma_errname(rc_), shma_last_error());           \
    } while (0)

/* Asserts a call fails with `code` and that its detail message contains `needle`. */
#define assert_shma_fails(expr, code, needle)                                                      \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (code))                                                                         \
            fail_msg("%s returned %s (%s), expected %s", #expr, shma_errname(rc_),                 \
                     shma_last_error(), shma_errname(code));                                       \
        if (strstr(shma_last_error(), (needle)) == NULL)                                           \
            fail_msg("%s: detail \"%s\" lacks \"%s\"", #expr, shma_last_error(), (needle));        \
    } while (0)

/* Whether /dev/shm/NAME exists (name without the leading '/'). */
static inline bool shm_exists(const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return stat(path, &st) == 0;
}

/* Waits for child `pid` and asserts it exited normally with status 0: children report
 * failure through their exit status, the parent asserts. */
static inline void assert_child_ok(pid_t pid) {
    int status = 0;
    pid_t r;
    do r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    if (WIFSIGNALED(status)) fail_msg("child %d killed by signal %d", (int)pid, WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#endif /* SHMA_TESTUTIL_H */
