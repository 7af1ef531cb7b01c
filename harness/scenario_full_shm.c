/*
 * scenario_full_shm.c (issue 3, scenario 4): a full /dev/shm is a clean SHMA_E_NOSPC from the
 * creating call, never a SIGBUS later, and leaves nothing behind.
 *
 * The main test runs in a private mount namespace with a 64 MiB tmpfs on /dev/shm (unshare +
 * mount, as root): one allocation larger than the filesystem, every creating call at the limit,
 * then many allocations until the space runs out, every byte of them written (memory is
 * reserved up front, so writing cannot fault), everything freed, and allocation working again.
 * Where namespaces are not permitted it is skipped with a message. The size-limit test runs
 * everywhere: RLIMIT_FSIZE makes the segment's sizing fail with EFBIG, which is also NOSPC.
 */
#include "harness.h"

#include <sys/resource.h>

#define MIB (1024 * 1024)
#define FS_MIB 64

/* Writes every byte of an array: a segment whose memory was not really reserved would SIGBUS
 * here, killing the child (the parent reports the signal). */
static void touch_all(shma_array *a, unsigned char v) {
    unsigned char *d = shma_data(a);
    size_t n = shma_nbytes(a);
    memset(d, v, n);
    for (size_t i = 0; i < n; i += 4096) H_CHECK_EQ(d[i], v);
}

static void expect_empty_dev_shm(const char *when) {
    char first[SHMA_NAME_MAX + 1] = "";
    int n = h_shm_count("", first, sizeof first);
    if (n != 0) h_child_fail(__FILE__, __LINE__, "%s: /dev/shm holds %d entries, e.g. %s", when, n, first);
}

/* ---------------------------------------------------------------------------------------------
 * In a private 64 MiB /dev/shm
 * ------------------------------------------------------------------------------------------- */

static void too_big_everywhere(shma_manager *mgr) {
    const int64_t big[1] = {(int64_t)2 * FS_MIB * MIB / 8};
    shma_array *a = NULL;
    char name[SHMA_NAME_MAX + 1];
    h_name(name, sizeof name, "full");
    shma_alloc_opts named = {.name = name}, populate = {.flags = SHMA_ALLOC_POPULATE};

    H_CHECK_RC(shma_allocate(mgr, 1, big, "f8", &a), SHMA_E_NOSPC);
    H_CHECK(strlen(shma_last_error()) > 0);
    H_CHECK_RC(shma_allocate_ex(mgr, 1, big, "f8", &named, &a), SHMA_E_NOSPC);
    H_CHECK_RC(shma_allocate_ex(mgr, 1, big, "f8", &populate, &a), SHMA_E_NOSPC);
    H_CHECK_RC(shma_allocate_unsafe(mgr, 1, big, "f8", &a), SHMA_E_NOSPC);
    /* A source view of 128 MiB made of one double repeated (stride 0): no big buffer needed. */
    double one = 1.0;
    const int64_t zero_stride[1] = {0};
    shma_view v = {.data = &one, .ndim = 1, .shape = big, .strides = zero_stride};
    H_CHECK_OK(shma_dtype_parse("f8", &v.dtype));
    H_CHECK_RC(shma_copy(mgr, &v, &a), SHMA_E_NOSPC);
    H_CHECK_RC(shma_copy_unsafe(mgr, &v, &a), SHMA_E_NOSPC);
    H_CHECK_RC(shma_allocate_like(mgr, &v, &a), SHMA_E_NOSPC);
    H_CHECK_RC(shma_allocate_like_unsafe(mgr, &v, &a), SHMA_E_NOSPC);
    H_CHECK(a == NULL);
    H_CHECK_EQ(shma_manager_count(mgr), 0);
    expect_empty_dev_shm("after allocations larger than /dev/shm");
}

/* Allocates `mib`-MiB arrays until NOSPC; returns how many fit. */
static int fill(shma_manager *mgr, shma_array **arrs, int max, int64_t mib, int *rc_out) {
    int n = 0;
    const int64_t shape[2] = {mib * 1024, 128};
    for (;;) {
        H_CHECK(n < max);
        int rc = shma_allocate(mgr, 2, shape, "u8", &arrs[n]);
        if (rc != SHMA_OK) {
            *rc_out = rc;
            return n;
        }
        n++;
    }
}

static int full_child(void *arg) {
    (void)arg;
    char opt[32];
    snprintf(opt, sizeof opt, "size=%dm", FS_MIB);
    int err = h_private_dev_shm(opt);
    if (err) {
        fprintf(stderr, "[full_shm] cannot mount a private tmpfs on /dev/shm (%s)\n", strerror(err));
        return H_EXIT_SKIP;
    }
    expect_empty_dev_shm("a fresh private /dev/shm");
    shma_manager *mgr = NULL;
    H_CHECK_OK(shma_manager_create(0, &mgr));

    too_big_everywhere(NULL);
    too_big_everywhere(mgr);

    /* Close to the limit: 48 MiB fits, then 32 MiB more cannot, even before the first was
     * touched (the memory was reserved when it was made). */
    shma_array *big = NULL, *more = NULL;
    const int64_t s48[1] = {48 * MIB}, s32[1] = {32 * MIB};
    H_CHECK_OK(shma_allocate(mgr, 1, s48, "u1", &big));
    H_CHECK_RC(shma_allocate(mgr, 1, s32, "u1", &more), SHMA_E_NOSPC);
    H_CHECK_EQ(h_shm_count("", NULL, 0), 1);
    touch_all(big, 0x11);
    H_CHECK_OK(shma_close(&big));
    expect_empty_dev_shm("after closing the 48 MiB array");

    /* Fill with 1 MiB arrays until the space runs out, three times over. */
    enum { MAX = 4 * FS_MIB };
    shma_array *arrs[MAX] = {0};
    int first_count = -1;
    for (int round = 0; round < 3; round++) {
        int rc = SHMA_OK;
        int n = fill(round == 1 ? NULL : mgr, arrs, MAX, 1, &rc);
        if (rc != SHMA_E_NOSPC)
            h_child_fail(__FILE__, __LINE__, "allocation %d failed with %s (%s), expected SHMA_E_NOSPC",
                         n, shma_errname(rc), shma_last_error());
        H_CHECK(n >= FS_MIB * 3 / 4 && n < FS_MIB);
        if (first_count < 0) first_count = n;
        H_CHECK_EQ(n, first_count); /* freeing gave back all of it */
        H_CHECK_EQ(h_shm_count("", NULL, 0), n); /* the failed one left nothing */
        for (int i = 0; i < n; i++) touch_all(arrs[i], (unsigned char)(i + round));
        for (int i = 0; i < n; i++) {
            const unsigned char *d = shma_data(arrs[i]);
            H_CHECK_EQ(d[shma_nbytes(arrs[i]) - 1], (unsigned char)(i + round));
        }
        /* A client attach still works when the filesystem is full. */
        shma_array *c = NULL;
        H_CHECK_OK(shma_attach_name(shma_name(arrs[n / 2]), &c));
        H_CHECK_OK(shma_close(&c));
        for (int i = 0; i < n; i++) H_CHECK_OK(shma_close(&arrs[i]));
        expect_empty_dev_shm("after freeing everything");
    }

    /* And after all that, allocation works again. */
    shma_array *after = NULL;
    H_CHECK_OK(shma_allocate(mgr, 1, s48, "u1", &after));
    touch_all(after, 0x22);
    H_CHECK_OK(shma_close(&after));

    /* Huge pages are off on this tmpfs: a clean UNAVAILABLE (or success), nothing left. */
    shma_alloc_opts huge = {.flags = SHMA_ALLOC_HUGEPAGES};
    const int64_t s4[1] = {4 * MIB};
    int rc = shma_allocate_ex(mgr, 1, s4, "u1", &huge, &after);
    H_CHECK(rc == SHMA_OK || rc == SHMA_E_UNAVAILABLE);
    if (rc == SHMA_OK) {
        touch_all(after, 0x33);
        H_CHECK_OK(shma_close(&after));
    }
    H_CHECK_OK(shma_manager_shutdown(&mgr));
    expect_empty_dev_shm("at the end");
    return 0;
}

static void test_private_small_dev_shm(void **state) {
    (void)state;
    pid_t pid = h_fork(full_child, NULL);
    assert_true(pid > 0);
    int status = h_wait(pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == H_EXIT_SKIP) {
        print_message("private /dev/shm not permitted here (needs CAP_SYS_ADMIN for unshare -m); "
                      "the size-limit test below covers NOSPC instead\n");
        skip();
    }
    if (WIFSIGNALED(status)) fail_msg("child killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---------------------------------------------------------------------------------------------
 * A file-size limit on the real /dev/shm
 * ------------------------------------------------------------------------------------------- */

static int limit_child(void *arg) {
    (void)arg;
    /* Growing a file past RLIMIT_FSIZE raises SIGXFSZ before failing with EFBIG. That signal
     * is the limit's, not the library's: ignore it, as a program setting a limit would. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {8 * MIB, 8 * MIB};
    H_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    shma_manager *mgr = NULL;
    H_CHECK_OK(shma_manager_create(0, &mgr));
    char name[SHMA_NAME_MAX + 1];
    const int64_t over[1] = {16 * MIB}, under[1] = {4 * MIB};
    shma_array *a = NULL;
    for (int i = 0; i < 2; i++) {
        h_name(name, sizeof name, "limit");
        shma_alloc_opts named = {.name = name};
        H_CHECK_RC(shma_allocate_ex(i ? mgr : NULL, 1, over, "u1", &named, &a), SHMA_E_NOSPC);
        H_CHECK(a == NULL);
        H_CHECK(!h_shm_exists(name));
        H_CHECK_OK(shma_allocate_ex(i ? mgr : NULL, 1, under, "u1", &named, &a));
        touch_all(a, 0x44);
        H_CHECK_OK(shma_close(&a));
        H_CHECK(!h_shm_exists(name));
    }
    H_CHECK_EQ(shma_manager_count(mgr), 0);
    H_CHECK_OK(shma_manager_shutdown(&mgr));
    return 0;
}

static void test_file_size_limit(void **state) {
    (void)state;
    pid_t pid = h_fork(limit_child, NULL);
    assert_true(pid > 0);
    h_wait_ok(pid);
}

int main(void) {
    h_init("full_shm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_private_small_dev_shm, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
