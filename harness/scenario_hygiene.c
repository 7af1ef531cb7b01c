/*
 * scenario_hygiene.c (issue 3, scenario 7): after many allocate/close and attach/close cycles
 * the process holds no extra file descriptors (/proc/self/fd), no extra mappings
 * (/proc/self/maps), and its resident memory is flat.
 *
 * Each test warms up first (thread-local buffers, lazily built tables, malloc's arenas), takes
 * the counts, runs its cycles (3,000 per kind under `make check`, 100,000 under `make stress`,
 * a few hundred under valgrind), and compares. Failing calls are cycled too: an error path that
 * forgets a descriptor is the classic leak. Descriptors the library keeps (the manager's
 * socket) must be close-on-exec, so an exec'd program never inherits them.
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>

typedef struct snapshot {
    int fds, maps, shm_maps;
    long rss_kib;
} snapshot;

static snapshot take(void) {
    snapshot s = {h_count_fds(), h_count_maps(NULL), h_count_maps("/dev/shm/"), h_rss_kib()};
    return s;
}

/* Compares two snapshots around `cycles` cycles of `what`. Mappings: the /dev/shm ones must be
 * exactly as before; the total may differ by malloc growing or trimming its heap. RSS: in the
 * plain build only (ASan's quarantine and valgrind hold freed memory on purpose). */
static void assert_flat(const char *what, long cycles, snapshot before, snapshot after) {
    print_message("[hygiene] %-28s %7ld cycles: fds %d -> %d, maps %d -> %d (/dev/shm %d -> %d), "
                  "RSS %ld -> %ld KiB\n",
                  what, cycles, before.fds, after.fds, before.maps, after.maps, before.shm_maps,
                  after.shm_maps, before.rss_kib, after.rss_kib);
    assert_int_equal(after.fds, before.fds);
    assert_int_equal(after.shm_maps, before.shm_maps);
    if (after.maps > before.maps + 4)
        fail_msg("%s: /proc/self/maps grew from %d to %d lines", what, before.maps, after.maps);
    if (!under_asan() && !running_on_valgrind() && after.rss_kib > before.rss_kib + 4096)
        fail_msg("%s: RSS grew from %ld to %ld KiB over %ld cycles", what, before.rss_kib,
                 after.rss_kib, cycles);
}

static long cycles(void) { return h_size(5000, 200, 100000); }

/* Runs body(i, ctx) `warm` times, snapshots, `n` times, snapshots, asserts flat. */
static void measure(const char *what, void (*body)(long, void *), void *ctx) {
    long n = cycles();
    for (long i = 0; i < 50; i++) body(i, ctx);
    snapshot before = take();
    for (long i = 0; i < n; i++) body(i, ctx);
    snapshot after = take();
    assert_flat(what, n, before, after);
}

/* ---------------------------------------------------------------------------------------------
 * Bodies
 * ------------------------------------------------------------------------------------------- */

static void alloc_close(long i, void *ctx) {
    shma_manager *mgr = ctx;
    shma_array *a = NULL;
    const int64_t shape[2] = {1 + i % 97, 64};
    static const char *dtypes[] = {"f8", "u1", "c8", "i2", "S5"};
    shma_alloc_opts opts = {.flags = i % 7 == 0 ? SHMA_ALLOC_POPULATE : 0};
    assert_shma_ok(shma_allocate_ex(mgr, 2, shape, dtypes[i % 5], &opts, &a));
    memset(shma_data(a), (int)i, shma_nbytes(a)); /* pages faulted in: must go away on close */
    assert_shma_ok(shma_close(&a));
}

static void copy_close(long i, void *ctx) {
    shma_manager *mgr = ctx;
    static double src[64 * 64];
    const int64_t shape[2] = {64, 1 + i % 64}, strides[2] = {8, 64 * 8}; /* a transpose */
    shma_view v = {.data = src, .ndim = 2, .shape = shape, .strides = strides};
    assert_shma_ok(shma_dtype_parse("f8", &v.dtype));
    shma_array *a = NULL;
    assert_shma_ok(i % 2 ? shma_copy(mgr, &v, &a) : shma_copy_unsafe(mgr, &v, &a));
    assert_shma_ok(shma_close(&a));
}

typedef struct attach_ctx {
    shma_array *owner;
    char handle[SHMA_HANDLE_MAX];
} attach_ctx;

static void attach_close(long i, void *ctx) {
    attach_ctx *c = ctx;
    shma_array *a = NULL;
    const char *name = shma_name(c->owner);
    switch (i % 4) {
    case 0: assert_shma_ok(shma_attach_name(name, &a)); break;
    case 1: assert_shma_ok(shma_attach_handle(c->handle, strlen(c->handle), &a)); break;
    case 2: assert_shma_ok(shma_attach(name, shma_ndim(c->owner), shma_shape(c->owner), "f4", &a)); break;
    default: assert_shma_ok(shma_attach_unsafe(name, shma_ndim(c->owner), shma_shape(c->owner), "f4", &a));
    }
    ((float *)shma_data(a))[i % 100] = (float)i;
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_shma_ok(shma_close(&a));
}

typedef struct failing_ctx {
    shma_array *owner;
    char foreign[SHMA_NAME_MAX + 1], missing[SHMA_NAME_MAX + 1], handle[SHMA_HANDLE_MAX];
} failing_ctx;

/* Every failing path that gets as far as opening something. */
static void failing_calls(long i, void *ctx) {
    failing_ctx *c = ctx;
    shma_array *a = NULL;
    const int64_t wrong[2] = {100, 101}, big[1] = {1 << 20};
    const char *name = shma_name(c->owner);
    shma_alloc_opts taken = {.name = name};
    int rc = SHMA_OK;
    switch (i % 8) {
    case 0: rc = shma_attach(name, 2, wrong, "f4", &a); break;           /* MISMATCH */
    case 1: rc = shma_attach_name(c->missing, &a); break;                 /* NOTFOUND */
    case 2: rc = shma_attach_name(c->foreign, &a); break;                 /* NOMETA */
    case 3: rc = shma_attach(c->foreign, 1, big, "f8", &a); break;        /* SIZE */
    case 4: rc = shma_allocate_ex(NULL, 2, wrong, "f4", &taken, &a); break; /* EXISTS */
    case 5: rc = shma_attach_handle(c->handle, strlen(c->handle), &a); break; /* MISMATCH */
    case 6: rc = shma_attach(name, 2, shma_shape(c->owner), "f9", &a); break; /* DTYPE */
    default: {
        shma_info info;
        rc = shma_inspect(c->missing, &info);
    }
    }
    assert_int_not_equal(rc, SHMA_OK);
    assert_null(a);
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------------------------- */

static void test_allocate_close_standalone(void **s) { (void)s, measure("allocate/close", alloc_close, NULL); }

static void test_allocate_close_managed(void **s) {
    (void)s;
    shma_manager **mgr = h_manager(0);
    measure("allocate/close (manager)", alloc_close, *mgr);
    assert_int_equal(shma_manager_count(*mgr), 0);
    assert_shma_ok(shma_manager_shutdown(mgr));
}

static void test_copy_close(void **s) {
    (void)s;
    shma_manager **mgr = h_manager(0);
    measure("copy/close (manager)", copy_close, *mgr);
    measure("copy/close", copy_close, NULL);
    assert_shma_ok(shma_manager_shutdown(mgr));
}

static void test_attach_close(void **s) {
    (void)s;
    attach_ctx c;
    const int64_t shape[2] = {100, 100};
    assert_shma_ok(shma_allocate(NULL, 2, shape, "float32", &c.owner));
    assert_shma_ok(shma_handle_encode(c.owner, c.handle, sizeof c.handle, NULL));
    measure("attach/close", attach_close, &c);
    assert_shma_ok(shma_close(&c.owner));
}

static void test_failing_calls(void **s) {
    (void)s;
    failing_ctx c;
    const int64_t shape[2] = {100, 100};
    assert_shma_ok(shma_allocate(NULL, 2, shape, "float32", &c.owner));
    h_name(c.foreign, sizeof c.foreign, "hyg");
    h_name(c.missing, sizeof c.missing, "hyg");
    assert_int_equal(h_make_foreign(c.foreign, 4096, 0), 0);
    snprintf(c.handle, sizeof c.handle, "shma1;<f4;100,99;%s", shma_name(c.owner));
    measure("failing calls", failing_calls, &c);
    assert_shma_ok(shma_close(&c.owner));
    assert_shma_ok(shma_unlink(c.foreign));
}

/* Managers: each create forks a reaper and opens a socket; each shutdown must give both back.
 * Fewer cycles: every one is two forks. */
static void test_manager_create_shutdown(void **s) {
    (void)s;
    long n = h_size(200, 10, 5000);
    for (int i = 0; i < 5; i++) {
        shma_manager *m = NULL;
        assert_shma_ok(shma_manager_create(0, &m));
        assert_shma_ok(shma_manager_shutdown(&m));
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) { /* reapers re-parented to us (subreaper) */
    }
    snapshot before = take();
    for (long i = 0; i < n; i++) {
        shma_manager *m = NULL;
        assert_shma_ok(shma_manager_create(i % 3 == 0 ? SHMA_MANAGER_NO_REAPER : 0, &m));
        shma_array *a = NULL;
        const int64_t shape[1] = {16};
        assert_shma_ok(shma_allocate(m, 1, shape, "u1", &a));
        if (i % 2) assert_shma_ok(shma_close(&a));
        int reaper = shma_manager_reaper_pid(m);
        assert_shma_ok(shma_manager_shutdown(&m));
        if (a) {
            assert_false(h_shm_exists(shma_name(a)));
            assert_shma_ok(shma_close(&a));
        }
        if (reaper > 0) {
            assert_true(h_wait_exit_any(reaper, 10000));
            assert_int_equal(waitpid(reaper, NULL, 0), reaper);
        }
    }
    snapshot after = take();
    assert_flat("manager create/shutdown", n, before, after);
}

/* Which descriptors are open: open[fd] for fd < FD_SCAN. */
#define FD_SCAN 4096
static void open_fds(bool open[FD_SCAN]) {
    memset(open, 0, FD_SCAN * sizeof *open);
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(d) && fd < FD_SCAN) open[fd] = true;
    }
    closedir(d);
}

/* The descriptors the library keeps open (a manager's socket, whatever an array holds) are
 * close-on-exec, so a program the caller execs never inherits them. */
static void test_library_descriptors_are_cloexec(void **s) {
    (void)s;
    static bool before[FD_SCAN], during[FD_SCAN];
    open_fds(before);
    shma_manager **mgr = h_manager(0);
    shma_array *a = NULL, *c = NULL;
    const int64_t shape[1] = {4096};
    assert_shma_ok(shma_allocate(*mgr, 1, shape, "u1", &a));
    assert_shma_ok(shma_attach_name(shma_name(a), &c));
    open_fds(during);
    int added = 0;
    for (int fd = 0; fd < FD_SCAN; fd++) {
        if (!during[fd] || before[fd]) continue;
        added++;
        char link[64], target[256] = "";
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) target[n] = '\0';
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || !(flags & FD_CLOEXEC)) fail_msg("descriptor %d (%s) is not close-on-exec", fd, target);
    }
    print_message("[hygiene] a manager and two open arrays hold %d descriptor(s), all close-on-exec\n", added);
    assert_true(added <= 3);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_manager_shutdown(mgr));
    open_fds(during);
    assert_memory_equal(before, during, sizeof before);
}

/* The same in a forked child: a worker attaching in a loop ends as it started. */
static int child_cycles(void *arg) {
    attach_ctx *c = arg;
    for (long i = 0; i < 20; i++) attach_close(i, c);
    int fds = h_count_fds(), maps = h_count_maps("/dev/shm/");
    long n = cycles() / 4;
    for (long i = 0; i < n; i++) {
        shma_array *a = NULL;
        H_CHECK_OK(shma_attach_handle(c->handle, strlen(c->handle), &a));
        H_CHECK_OK(shma_close(&a));
    }
    H_CHECK_EQ(h_count_fds(), fds);
    H_CHECK_EQ(h_count_maps("/dev/shm/"), maps);
    return 0;
}

static void test_child_attach_cycles(void **s) {
    (void)s;
    attach_ctx c;
    const int64_t shape[2] = {100, 100};
    assert_shma_ok(shma_allocate(NULL, 2, shape, "float32", &c.owner));
    assert_shma_ok(shma_handle_encode(c.owner, c.handle, sizeof c.handle, NULL));
    pid_t pids[4];
    for (int i = 0; i < 4; i++) assert_true((pids[i] = h_fork(child_cycles, &c)) > 0);
    for (int i = 0; i < 4; i++) h_wait_ok(pids[i]);
    assert_shma_ok(shma_close(&c.owner));
}

int main(void) {
    h_init("hygiene");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allocate_close_standalone, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_allocate_close_managed, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_copy_close, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_attach_close, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_failing_calls, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_manager_create_shutdown, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_library_descriptors_are_cloexec, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_attach_cycles, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
