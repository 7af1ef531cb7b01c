/*
 * scenario_ownership.c (issue 3, scenario 2): only the owner, in the process that created it,
 * removes a segment.
 *
 * A client's close never unlinks. A forked child (a non-owner process) never unlinks, however
 * it ends: exit(), _exit(), a signal, closing the owner array it inherited, scoped cleanup, or
 * shutting down the manager it inherited. The owner's close, and its manager's shutdown, do
 * unlink, and a later attach fails cleanly with SHMA_E_NOTFOUND. (Python's resource tracker
 * unlinks from the wrong process: bpo-38119.)
 */
#include "harness.h"

#define N 4096

/* The arrays every test starts from: one owned by a manager, one standalone. */
typedef struct fixture {
    shma_manager **mgr;
    shma_array *managed, *alone;
    char managed_name[SHMA_NAME_MAX + 1], alone_name[SHMA_NAME_MAX + 1];
} fixture;

static void fixture_open(fixture *f) {
    const int64_t shape[1] = {N};
    f->mgr = h_manager(0);
    assert_shma_ok(shma_allocate(*f->mgr, 1, shape, "uint32", &f->managed));
    assert_shma_ok(shma_allocate(NULL, 1, shape, "uint32", &f->alone));
    snprintf(f->managed_name, sizeof f->managed_name, "%s", shma_name(f->managed));
    snprintf(f->alone_name, sizeof f->alone_name, "%s", shma_name(f->alone));
    uint32_t *m = shma_data(f->managed), *s = shma_data(f->alone);
    for (uint32_t i = 0; i < N; i++) m[i] = i, s[i] = ~i;
}

/* Both segments are there, hold their data plus whatever a child added, and the manager and
 * its reaper are unchanged. */
static void fixture_intact(const fixture *f, uint32_t child_mark) {
    assert_true(h_shm_exists(f->managed_name));
    assert_true(h_shm_exists(f->alone_name));
    const uint32_t *m = shma_data(f->managed), *s = shma_data(f->alone);
    for (uint32_t i = 1; i < N; i++) {
        assert_int_equal(m[i], i);
        assert_int_equal(s[i], ~i);
    }
    assert_int_equal(m[0], child_mark);
    assert_int_equal(shma_manager_count(*f->mgr), 1);
    int reaper = shma_manager_reaper_pid(*f->mgr);
    assert_true(reaper > 0);
    assert_false(h_wait_exit_any(reaper, 0));
    /* A fresh client still attaches. */
    shma_array *c = NULL;
    assert_shma_ok(shma_attach_name(f->managed_name, &c));
    assert_shma_ok(shma_close(&c));
}

static void fixture_close(fixture *f) {
    assert_shma_ok(shma_close(&f->managed));
    assert_shma_ok(shma_close(&f->alone));
    assert_false(h_shm_exists(f->managed_name));
    assert_false(h_shm_exists(f->alone_name));
    assert_shma_ok(shma_manager_shutdown(f->mgr));
}

/* ---------------------------------------------------------------------------------------------
 * Clients in the owner's own process
 * ------------------------------------------------------------------------------------------- */

static void test_client_close_never_unlinks(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    const int64_t shape[1] = {N};
    for (int round = 0; round < 3; round++) {
        shma_array *c1 = NULL, *c2 = NULL, *c3 = NULL;
        assert_shma_ok(shma_attach_name(f.managed_name, &c1));
        assert_shma_ok(shma_attach(f.alone_name, 1, shape, "u4", &c2));
        char handle[SHMA_HANDLE_MAX];
        assert_shma_ok(shma_handle_encode(f.managed, handle, sizeof handle, NULL));
        assert_shma_ok(shma_attach_handle(handle, strlen(handle), &c3));
        assert_false(shma_is_owner(c1) || shma_is_owner(c2) || shma_is_owner(c3));
        ((uint32_t *)shma_data(c1))[0] = 7; /* the same memory as the owner's */
        assert_shma_ok(shma_close(&c1));
        assert_shma_ok(shma_close(&c2));
        assert_shma_ok(shma_close(&c3));
        assert_shma_ok(shma_close(&c3)); /* a second close is a no-op */
        assert_null(c1);
        fixture_intact(&f, 7);
    }
    fixture_close(&f);
}

/* ---------------------------------------------------------------------------------------------
 * Non-owner processes ending every way
 * ------------------------------------------------------------------------------------------- */

typedef enum child_end {
    END_EXIT,           /* exit(0): atexit handlers run */
    END_UNDERSCORE_EXIT,/* _exit(0) */
    END_RETURN_SCOPED,  /* scoped cleanup closes its arrays, then exit */
    END_CLOSE_OWNERS,   /* closes the owner arrays and the manager it inherited */
    END_SIGKILL,
    END_SIGTERM,
    END_ABORT,          /* SIGABRT, as a failed assert() would */
} child_end;

typedef struct end_job {
    fixture *f;
    child_end how;
} end_job;

static int scoped_attach_and_return(const fixture *f) {
    SHMA_SCOPED_ARRAY c = NULL;
    H_CHECK_OK(shma_attach_name(f->managed_name, &c));
    ((uint32_t *)shma_data(c))[0] = 42;
    return 0;
}

static int ending_child(void *arg) {
    end_job *job = arg;
    fixture *f = job->f;
    /* Every child first writes through a fresh client and through the inherited owners, so it
     * holds open segments of both kinds when it ends. */
    shma_array *c = NULL;
    H_CHECK_OK(shma_attach_name(f->alone_name, &c));
    ((uint32_t *)shma_data(f->managed))[0] = 42;
    switch (job->how) {
    case END_EXIT: exit(0);
    case END_UNDERSCORE_EXIT: _exit(0);
    case END_RETURN_SCOPED:
        H_CHECK_OK(shma_close(&c));
        return scoped_attach_and_return(f);
    case END_CLOSE_OWNERS:
        /* In this process the owner arrays act as clients and the manager as a copy. */
        H_CHECK_OK(shma_close(&f->managed));
        H_CHECK_OK(shma_close(&f->alone));
        H_CHECK(h_shm_exists(f->managed_name) && h_shm_exists(f->alone_name));
        H_CHECK_OK(shma_manager_shutdown(f->mgr));
        H_CHECK(*f->mgr == NULL);
        H_CHECK(h_shm_exists(f->managed_name) && h_shm_exists(f->alone_name));
        H_CHECK_OK(shma_close(&c));
        return 0;
    case END_SIGKILL: raise(SIGKILL); break;
    case END_SIGTERM: raise(SIGTERM); break;
    case END_ABORT: abort();
    }
    return 3;
}

static void run_ending(child_end how, int expect_signal) {
    fixture f;
    fixture_open(&f);
    ((uint32_t *)shma_data(f.managed))[0] = 0;
    end_job job = {&f, how};
    pid_t pid = h_fork(ending_child, &job);
    assert_true(pid > 0);
    if (expect_signal)
        h_wait_signaled(pid, expect_signal);
    else
        h_wait_ok(pid);
    fixture_intact(&f, 42);
    fixture_close(&f);
}

static void test_child_exit_never_unlinks(void **s) { (void)s, run_ending(END_EXIT, 0); }
static void test_child_underscore_exit_never_unlinks(void **s) {
    (void)s, run_ending(END_UNDERSCORE_EXIT, 0);
}
static void test_child_scoped_cleanup_never_unlinks(void **s) {
    (void)s, run_ending(END_RETURN_SCOPED, 0);
}
static void test_child_closing_inherited_owners_never_unlinks(void **s) {
    (void)s, run_ending(END_CLOSE_OWNERS, 0);
}
static void test_child_sigkill_never_unlinks(void **s) { (void)s, run_ending(END_SIGKILL, SIGKILL); }
static void test_child_sigterm_never_unlinks(void **s) { (void)s, run_ending(END_SIGTERM, SIGTERM); }
static void test_child_abort_never_unlinks(void **s) {
    (void)s, run_ending(END_ABORT, SIGABRT);
}

/* A child cannot create segments through the manager it inherited: that manager's reaper and
 * bookkeeping belong to the parent. */
static int inherited_manager_child(void *arg) {
    fixture *f = arg;
    char name[SHMA_NAME_MAX + 1];
    h_name(name, sizeof name, "inh");
    const int64_t shape[1] = {16};
    shma_alloc_opts opts = {.name = name};
    shma_array *a = NULL;
    H_CHECK_RC(shma_allocate_ex(*f->mgr, 1, shape, "f8", &opts, &a), SHMA_E_STATE);
    H_CHECK(a == NULL);
    H_CHECK(!h_shm_exists(name));
    shma_view like;
    H_CHECK_OK(shma_view_of(f->alone, &like));
    H_CHECK_RC(shma_copy(*f->mgr, &like, &a), SHMA_E_STATE);
    H_CHECK_RC(shma_allocate_like(*f->mgr, &like, &a), SHMA_E_STATE);
    H_CHECK(a == NULL);
    ((uint32_t *)shma_data(f->managed))[0] = 42;
    return 0;
}

static void test_child_cannot_allocate_with_inherited_manager(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    pid_t pid = h_fork(inherited_manager_child, &f);
    assert_true(pid > 0);
    h_wait_ok(pid);
    fixture_intact(&f, 42);
    fixture_close(&f);
}

/* ---------------------------------------------------------------------------------------------
 * The owner's close
 * ------------------------------------------------------------------------------------------- */

static void assert_gone(const char *name, const char *handle) {
    const int64_t shape[1] = {N};
    shma_array *a = NULL;
    shma_info info;
    assert_false(h_shm_exists(name));
    assert_shma_fails(shma_attach(name, 1, shape, "uint32", &a), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_attach_name(name, &a), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_attach_handle(handle, strlen(handle), &a), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_attach_unsafe(name, 1, shape, "uint32", &a), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_inspect(name, &info), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_unlink(name), SHMA_E_NOTFOUND, name);
    assert_null(a);
}

static void test_owner_close_unlinks(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    char h1[SHMA_HANDLE_MAX], h2[SHMA_HANDLE_MAX];
    assert_shma_ok(shma_handle_encode(f.managed, h1, sizeof h1, NULL));
    assert_shma_ok(shma_handle_encode(f.alone, h2, sizeof h2, NULL));
    assert_shma_ok(shma_close(&f.managed));
    assert_int_equal(shma_manager_count(*f.mgr), 0);
    assert_gone(f.managed_name, h1);
    assert_shma_ok(shma_close(&f.alone));
    assert_gone(f.alone_name, h2);
    assert_shma_ok(shma_manager_shutdown(f.mgr));
}

/* A client in another process keeps its mapping when the owner unlinks; new attaches fail. */
typedef struct late_job {
    fixture *f;
    int to_parent, from_parent;
} late_job;

static int late_client(void *arg) {
    late_job *job = arg;
    shma_array *c = NULL;
    H_CHECK_OK(shma_attach_name(job->f->managed_name, &c));
    H_CHECK(h_send_byte(job->to_parent, 'a'));
    H_CHECK(h_wait_byte(job->from_parent, NULL)); /* the owner has closed */
    H_CHECK(!h_shm_exists(job->f->managed_name));
    uint32_t *d = shma_data(c);
    for (uint32_t i = 1; i < N; i++) H_CHECK_EQ(d[i], i);
    d[0] = 99; /* still writable: the memory lives while mapped */
    shma_array *again = NULL;
    H_CHECK_RC(shma_attach_name(job->f->managed_name, &again), SHMA_E_NOTFOUND);
    H_CHECK_OK(shma_close(&c));
    return 0;
}

static void test_owner_close_while_client_attached(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    int up[2], down[2];
    h_pipe(up);
    h_pipe(down);
    late_job job = {&f, up[1], down[0]};
    pid_t pid = h_fork(late_client, &job);
    assert_true(pid > 0);
    close(up[1]);
    close(down[0]);
    assert_true(h_wait_byte(up[0], NULL));
    assert_shma_ok(shma_close(&f.managed));
    assert_false(h_shm_exists(f.managed_name));
    assert_true(h_send_byte(down[1], 'c'));
    h_wait_ok(pid);
    close(up[0]);
    close(down[1]);
    assert_shma_ok(shma_close(&f.alone));
    assert_shma_ok(shma_manager_shutdown(f.mgr));
}

/* ---------------------------------------------------------------------------------------------
 * The manager's shutdown
 * ------------------------------------------------------------------------------------------- */

static void test_manager_shutdown_unlinks_everything(void **state) {
    (void)state;
    shma_manager **mgr = h_manager(0);
    int reaper = shma_manager_reaper_pid(*mgr);
    enum { K = 6 };
    shma_array *a[K] = {0};
    char names[K][SHMA_NAME_MAX + 1];
    const int64_t shape[2] = {64, 64};
    char fixed[SHMA_NAME_MAX + 1];
    h_name(fixed, sizeof fixed, "fixed");
    shma_alloc_opts opts = {.name = fixed};
    assert_shma_ok(shma_allocate(*mgr, 2, shape, "f8", &a[0]));
    assert_shma_ok(shma_allocate_ex(*mgr, 2, shape, "i2", &opts, &a[1]));
    shma_view v;
    assert_shma_ok(shma_view_of(a[0], &v));
    ((double *)v.data)[5] = 2.5;
    assert_shma_ok(shma_copy(*mgr, &v, &a[2]));
    assert_shma_ok(shma_allocate_like(*mgr, &v, &a[3]));
    assert_shma_ok(shma_allocate_unsafe(*mgr, 2, shape, "float32", &a[4]));
    assert_shma_ok(shma_copy_unsafe(*mgr, &v, &a[5]));
    for (int i = 0; i < K; i++) {
        snprintf(names[i], sizeof names[i], "%s", shma_name(a[i]));
        assert_true(h_shm_exists(names[i]));
        assert_true(shma_is_owner(a[i]));
    }
    assert_int_equal(shma_manager_count(*mgr), K);
    assert_shma_ok(shma_manager_shutdown(mgr));
    assert_null(*mgr);
    assert_true(h_wait_exit_any(reaper, 10000));
    for (int i = 0; i < K; i++) assert_false(h_shm_exists(names[i]));
    /* The arrays stay mapped and usable, no longer owning anything. */
    assert_true(((double *)shma_data(a[2]))[5] == 2.5);
    ((double *)shma_data(a[2]))[5] = 3.5;
    /* A newcomer takes the fixed name; closing the old array must leave it alone. */
    shma_array *newcomer = NULL;
    assert_shma_ok(shma_allocate_ex(NULL, 2, shape, "i2", &opts, &newcomer));
    for (int i = 0; i < K; i++) assert_shma_ok(shma_close(&a[i]));
    assert_true(h_shm_exists(fixed));
    assert_shma_ok(shma_close(&newcomer));
    assert_false(h_shm_exists(fixed));
    assert_shma_ok(shma_manager_shutdown(mgr)); /* already NULL: a no-op */
}

/* Without a manager, a dead owner's segment stays, as any POSIX segment: documented, and
 * shma_unlink() removes it. */
static int standalone_owner_dies(void *arg) {
    int fd = *(int *)arg;
    shma_array *a = NULL;
    const int64_t shape[1] = {10};
    H_CHECK_OK(shma_allocate(NULL, 1, shape, "f8", &a));
    H_CHECK(h_send_msg(fd, shma_name(a), (uint32_t)strlen(shma_name(a))));
    raise(SIGKILL);
    return 3;
}

static void test_standalone_owner_crash_leaves_segment(void **state) {
    (void)state;
    int p[2];
    h_pipe(p);
    pid_t pid = h_fork(standalone_owner_dies, &p[1]);
    assert_true(pid > 0);
    close(p[1]);
    char name[SHMA_NAME_MAX + 1];
    assert_true(h_recv_msg(p[0], name, sizeof name) > 0);
    close(p[0]);
    h_wait_signaled(pid, SIGKILL);
    assert_true(h_shm_exists(name));
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_true(info.has_meta);
    assert_int_equal(info.creator_pid, pid);
    assert_false(info.creator_alive);
    assert_shma_ok(shma_unlink(name));
    assert_false(h_shm_exists(name));
}

int main(void) {
    h_init("ownership");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_close_never_unlinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_exit_never_unlinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_underscore_exit_never_unlinks, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_child_scoped_cleanup_never_unlinks, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_child_closing_inherited_owners_never_unlinks, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_child_sigkill_never_unlinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_sigterm_never_unlinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_abort_never_unlinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_cannot_allocate_with_inherited_manager, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_owner_close_unlinks, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_owner_close_while_client_attached, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_manager_shutdown_unlinks_everything, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_standalone_owner_crash_leaves_segment, h_setup,
                                        h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
