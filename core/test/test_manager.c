/* test_manager.c: shma_manager_create, _shutdown, _count, _reaper_pid (manager.c, reaper.c):
 * ownership and counting, shutdown unlinking what is left while arrays stay usable, the
 * reaper as a process (not our child, its own session, gone after shutdown), forked children
 * (shutdown unlinks nothing, allocate is SHMA_E_STATE), and a reaper that died or hangs. */
#include "segutil.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

/* The parent pid of `pid` (field 4 of /proc/PID/stat), or -1. */
static pid_t parent_of(pid_t pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    int ppid = -1;
    if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1) return -1;
    return ppid;
}

static void assert_reaper_exits(pid_t pid) {
    if (!wait_until(cond_proc_gone, &pid, 5000)) fail_msg("reaper %d still runs 5 s after shutdown", (int)pid);
}

/* ---------------------------------------------------------------------------------------------
 * Arguments
 * ------------------------------------------------------------------------------------------- */

static void test_manager_args(void **state) {
    (void)state;
    shma_manager *mgr = (shma_manager *)&mgr, *sentinel = mgr;
    assert_shma_fails(shma_manager_create(0x2, &mgr), SHMA_E_ARG, "unknown flags 0x2");
    assert_shma_fails(shma_manager_create(0x80000000u | SHMA_MANAGER_NO_REAPER, &mgr), SHMA_E_ARG,
                      "unknown flags 0x80000000");
    assert_ptr_equal(mgr, sentinel);
    assert_shma_fails(shma_manager_create(0, NULL), SHMA_E_ARG, "out is NULL");

    assert_shma_ok(shma_manager_shutdown(NULL));
    mgr = NULL;
    assert_shma_ok(shma_manager_shutdown(&mgr));
    shma_manager_shutdownp(NULL);
    shma_manager_shutdownp(&mgr);
    assert_int_equal(shma_manager_count(NULL), 0);
    assert_int_equal(shma_manager_reaper_pid(NULL), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Owning, counting, shutting down
 * ------------------------------------------------------------------------------------------- */

static void test_manager_count_and_shutdown(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    assert_non_null(mgr);
    assert_int_equal(shma_manager_count(mgr), 0);
    pid_t reaper = shma_manager_reaper_pid(mgr);

    enum { N = 7 };
    shma_array *arrs[N];
    char names[N][SHMA_NAME_MAX + 1];
    const int64_t shape[] = {5, 4};
    arrs[0] = alloc_tracked(mgr, 2, shape, "f8");
    char explicit_name[128];
    shma_alloc_opts opts = {seg_test_name(explicit_name, sizeof explicit_name, "mgr"), SHMA_ALLOC_POPULATE};
    assert_shma_ok(shma_allocate_ex(mgr, 2, shape, "f8", &opts, &arrs[1]));
    shma_view v;
    assert_shma_ok(shma_view_of(arrs[0], &v));
    assert_shma_ok(shma_allocate_like(mgr, &v, &arrs[2]));
    assert_shma_ok(shma_copy(mgr, &v, &arrs[3]));
    assert_shma_ok(shma_allocate_unsafe(mgr, 2, shape, "f8", &arrs[4]));
    assert_shma_ok(shma_allocate_like_unsafe(mgr, &v, &arrs[5]));
    assert_shma_ok(shma_copy_unsafe(mgr, &v, &arrs[6]));
    for (int i = 0; i < N; i++) {
        seg_track(shma_name(arrs[i]));
        snprintf(names[i], sizeof names[i], "%s", shma_name(arrs[i]));
        assert_true(shma_is_owner(arrs[i]));
        assert_true(seg_exists(names[i]));
        ((double *)shma_data(arrs[i]))[19] = i;
    }
    assert_int_equal(shma_manager_count(mgr), N);

    /* a client attached meanwhile is not the manager's */
    shma_array *client = NULL;
    assert_shma_ok(shma_attach_name(names[0], &client));
    assert_int_equal(shma_manager_count(mgr), N);

    /* closing one through the array: unlinked, and the manager forgets it */
    assert_shma_ok(shma_close(&arrs[3]));
    assert_false(seg_exists(names[3]));
    assert_int_equal(shma_manager_count(mgr), N - 1);

    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_null(mgr);
    for (int i = 0; i < N; i++) assert_false(seg_exists(names[i]));
    assert_reaper_exits(reaper);

    /* the arrays stay mapped and usable, own nothing, and close without error */
    for (int i = 0; i < N; i++) {
        if (i == 3) continue;
        assert_false(shma_is_owner(arrs[i]));
        assert_true(((double *)shma_data(arrs[i]))[19] == i);
        ((double *)shma_data(arrs[i]))[0] = -1;
    }
    assert_true(((double *)shma_data(client))[19] == 0);
    assert_true(((double *)shma_data(client))[0] == -1);
    for (int i = 0; i < N; i++) assert_shma_ok(shma_close(&arrs[i]));
    assert_shma_ok(shma_close(&client));
}

static void test_manager_no_reaper(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
    assert_int_equal(shma_manager_reaper_pid(mgr), 0);
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){3}, "u1");
    shma_array *b = alloc_tracked(mgr, 1, (const int64_t[]){3}, "u1");
    assert_int_equal(shma_manager_count(mgr), 2);
    char na[SHMA_NAME_MAX + 1], nb[SHMA_NAME_MAX + 1];
    snprintf(na, sizeof na, "%s", shma_name(a));
    snprintf(nb, sizeof nb, "%s", shma_name(b));
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(na));
    assert_int_equal(shma_manager_count(mgr), 1);
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_false(seg_exists(nb));
    assert_shma_ok(shma_close(&b));
}

/* Shutdown skips segments someone else already removed, and unlinks the rest. */
static void test_manager_shutdown_after_external_unlink(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){3}, "u1");
    shma_array *b = alloc_tracked(mgr, 1, (const int64_t[]){3}, "u1");
    char nb[SHMA_NAME_MAX + 1];
    snprintf(nb, sizeof nb, "%s", shma_name(b));
    assert_shma_ok(shma_unlink(shma_name(a)));
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_false(seg_exists(nb));
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_close(&b));
}

static void test_manager_many_arrays(void **state) {
    (void)state;
    enum { N = 150 };
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *arrs[N];
    static char names[N][SHMA_NAME_MAX + 1];
    for (int i = 0; i < N; i++) {
        arrs[i] = alloc_tracked(mgr, 1, (const int64_t[]){i}, "u1");
        snprintf(names[i], sizeof names[i], "%s", shma_name(arrs[i]));
    }
    assert_int_equal(shma_manager_count(mgr), N);
    for (int i = 0; i < N; i += 2) assert_shma_ok(shma_close(&arrs[i]));
    assert_int_equal(shma_manager_count(mgr), N / 2);
    assert_shma_ok(shma_manager_shutdown(&mgr));
    for (int i = 0; i < N; i++) {
        assert_false(seg_exists(names[i]));
        assert_shma_ok(shma_close(&arrs[i]));
    }
}

/* Two managers are independent: each its own reaper, its own arrays. */
static void test_manager_two_managers(void **state) {
    (void)state;
    shma_manager *m1 = NULL, *m2 = NULL;
    assert_shma_ok(shma_manager_create(0, &m1));
    assert_shma_ok(shma_manager_create(0, &m2));
    assert_int_not_equal(shma_manager_reaper_pid(m1), shma_manager_reaper_pid(m2));
    shma_array *a = alloc_tracked(m1, 1, (const int64_t[]){3}, "u1");
    shma_array *b = alloc_tracked(m2, 1, (const int64_t[]){3}, "u1");
    pid_t r1 = shma_manager_reaper_pid(m1), r2 = shma_manager_reaper_pid(m2);
    assert_shma_ok(shma_manager_shutdown(&m1));
    assert_false(seg_exists(shma_name(a)));
    assert_true(seg_exists(shma_name(b)));
    assert_reaper_exits(r1);
    assert_true(proc_alive(r2));
    assert_int_equal(shma_manager_count(m2), 1);
    shma_array *c = alloc_tracked(m2, 1, (const int64_t[]){3}, "u1");
    assert_int_equal(shma_manager_count(m2), 2);
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&b));
    assert_shma_ok(shma_manager_shutdown(&m2));
    assert_reaper_exits(r2);
}

/* ---------------------------------------------------------------------------------------------
 * The reaper as a process
 * ------------------------------------------------------------------------------------------- */

static void test_manager_reaper_process(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    pid_t reaper = shma_manager_reaper_pid(mgr);
    assert_true(reaper > 0);
    assert_int_not_equal(reaper, getpid());
    assert_true(proc_alive(reaper));
    assert_int_equal(kill(reaper, 0), 0);
    /* not our child: wait() never sees it */
    int status;
    errno = 0;
    assert_int_equal(waitpid(reaper, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_not_equal(parent_of(reaper), getpid());
    /* its own session and process group: a Ctrl-C to our job does not reach it */
    pid_t its_sid = getsid(reaper);
    assert_true(its_sid > 0);
    assert_int_not_equal(its_sid, getsid(0));
    assert_int_equal(its_sid, reaper);
    assert_int_not_equal(getpgid(reaper), getpgrp());

    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){3}, "u1");
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_reaper_exits(reaper);
    assert_shma_ok(shma_close(&a));
}

/* ---------------------------------------------------------------------------------------------
 * Forked children
 * ------------------------------------------------------------------------------------------- */

/* Shutdown from a forked child frees only the child's copy: nothing is unlinked, and the
 * parent's manager and reaper keep working. */
static void test_manager_shutdown_in_child(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    pid_t reaper = shma_manager_reaper_pid(mgr);
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){8}, "i4");
    shma_array *b = alloc_tracked(mgr, 0, NULL, "i4");
    char na[SHMA_NAME_MAX + 1], nb[SHMA_NAME_MAX + 1];
    snprintf(na, sizeof na, "%s", shma_name(a));
    snprintf(nb, sizeof nb, "%s", shma_name(b));

    pid_t pid = fork_child();
    if (pid == 0) {
        CHILD_OK(shma_manager_shutdown(&mgr));
        CHILD_REQUIRE(mgr == NULL);
        CHILD_REQUIRE(seg_exists(na) && seg_exists(nb));
        CHILD_REQUIRE(proc_alive(reaper));
        ((int32_t *)shma_data(a))[7] = 77; /* the child's arrays still map the data */
        CHILD_OK(shma_close(&a));
        CHILD_OK(shma_close(&b));
        CHILD_REQUIRE(seg_exists(na) && seg_exists(nb));
        exit(0);
    }
    assert_child_ok(pid);
    assert_true(seg_exists(na));
    assert_true(seg_exists(nb));
    assert_int_equal(((int32_t *)shma_data(a))[7], 77);
    assert_int_equal(shma_manager_count(mgr), 2);
    assert_true(proc_alive(reaper));
    assert_int_equal(shma_manager_reaper_pid(mgr), reaper);
    /* still working: a new allocation registers with the reaper, close and shutdown unlink */
    shma_array *c = alloc_tracked(mgr, 1, (const int64_t[]){8}, "i4");
    assert_int_equal(shma_manager_count(mgr), 3);
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(na));
    char nc[SHMA_NAME_MAX + 1];
    snprintf(nc, sizeof nc, "%s", shma_name(c));
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_false(seg_exists(nb));
    assert_false(seg_exists(nc));
    assert_reaper_exits(reaper);
    assert_shma_ok(shma_close(&b));
    assert_shma_ok(shma_close(&c));
}

/* A forked child cannot allocate through its parent's manager: SHMA_E_STATE, nothing made. */
static void test_manager_allocate_in_child(void **state) {
    (void)state;
    shma_manager *mgr = NULL, *quiet = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    assert_shma_ok(shma_manager_create(SHMA_MANAGER_NO_REAPER, &quiet));
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){8}, "u1");
    char name[128];
    seg_test_name(name, sizeof name, "childalloc");
    shm_listing before = shm_list();

    pid_t pid = fork_child();
    if (pid == 0) {
        shma_manager *managers[] = {mgr, quiet};
        for (int m = 0; m < 2; m++) {
            shma_array *b = NULL;
            const int64_t shape[] = {4};
            shma_view v;
            CHILD_OK(shma_view_of(a, &v));
            shma_alloc_opts opts = {name, 0};
            CHILD_FAILS(shma_allocate(managers[m], 1, shape, "u1", &b), SHMA_E_STATE, &b);
            CHILD_REQUIRE(strstr(shma_last_error(), "forked child") != NULL);
            CHILD_FAILS(shma_allocate_ex(managers[m], 1, shape, "u1", &opts, &b), SHMA_E_STATE, &b);
            CHILD_FAILS(shma_allocate_like(managers[m], &v, &b), SHMA_E_STATE, &b);
            CHILD_FAILS(shma_copy(managers[m], &v, &b), SHMA_E_STATE, &b);
            CHILD_FAILS(shma_allocate_unsafe(managers[m], 1, shape, "u1", &b), SHMA_E_STATE, &b);
            CHILD_FAILS(shma_allocate_like_unsafe(managers[m], &v, &b), SHMA_E_STATE, &b);
            CHILD_FAILS(shma_copy_unsafe(managers[m], &v, &b), SHMA_E_STATE, &b);
            CHILD_REQUIRE(b == NULL);
            CHILD_REQUIRE(!seg_exists(name));
        }
        CHILD_REQUIRE(shma_manager_count(mgr) == 1);
        /* without a manager the child allocates fine */
        shma_array *b = NULL;
        CHILD_OK(shma_allocate(NULL, 1, (const int64_t[]){4}, "u1", &b));
        CHILD_OK(shma_close(&b));
        exit(0);
    }
    assert_child_ok(pid);
    assert_false(seg_exists(name));
    assert_no_new_segments(&before);
    shm_listing_free(&before);
    assert_int_equal(shma_manager_count(mgr), 1);
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_shma_ok(shma_manager_shutdown(&quiet));
}

/* ---------------------------------------------------------------------------------------------
 * A reaper that died or hangs
 * ------------------------------------------------------------------------------------------- */

/* If the reaper is gone, new segments cannot be protected: allocate refuses (SHMA_E_STATE)
 * rather than create a segment a crash would leak; everything else keeps working. */
static void test_manager_reaper_killed(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){8}, "u1");
    shma_array *b = alloc_tracked(mgr, 1, (const int64_t[]){8}, "u1");
    char na[SHMA_NAME_MAX + 1], nb[SHMA_NAME_MAX + 1];
    snprintf(na, sizeof na, "%s", shma_name(a));
    snprintf(nb, sizeof nb, "%s", shma_name(b));
    pid_t reaper = shma_manager_reaper_pid(mgr);
    assert_int_equal(kill(reaper, SIGKILL), 0);
    assert_reaper_exits(reaper);
    /* a killed reaper unlinks nothing */
    assert_true(seg_exists(na));

    shm_listing before = shm_list();
    shma_array *c = NULL;
    char name[128];
    shma_alloc_opts opts = {seg_test_name(name, sizeof name, "noreaper"), 0};
    assert_shma_fails(shma_allocate(mgr, 1, (const int64_t[]){8}, "u1", &c), SHMA_E_STATE, "reaper");
    assert_non_null(strstr(shma_last_error(), "errno"));
    assert_shma_fails(shma_allocate_ex(mgr, 1, (const int64_t[]){8}, "u1", &opts, &c), SHMA_E_STATE, name);
    assert_null(c);
    assert_false(seg_exists(name));
    assert_no_new_segments(&before);
    shm_listing_free(&before);
    assert_int_equal(shma_manager_count(mgr), 2);

    /* close still unlinks; shutdown unlinks the rest and reports the dead reaper or not,
     * but frees the manager either way */
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(na));
    int rc = shma_manager_shutdown(&mgr);
    if (rc != SHMA_OK && rc != SHMA_E_OS) fail_msg("shutdown gave %s (%s)", shma_errname(rc), shma_last_error());
    assert_null(mgr);
    assert_false(seg_exists(nb));
    assert_shma_ok(shma_close(&b));
}

/* A stopped reaper does not hang shutdown for ever: it gives up after its timeout with
 * SHMA_E_OS, having unlinked everything first. */
static void test_manager_reaper_stopped(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){8}, "u1");
    char na[SHMA_NAME_MAX + 1];
    snprintf(na, sizeof na, "%s", shma_name(a));
    pid_t reaper = shma_manager_reaper_pid(mgr);
    assert_int_equal(kill(reaper, SIGSTOP), 0);
    uint64_t t0 = now_ms();
    int rc = shma_manager_shutdown(&mgr);
    uint64_t took = now_ms() - t0;
    kill(reaper, SIGKILL);
    kill(reaper, SIGCONT);
    assert_reaper_exits(reaper);
    assert_null(mgr);
    if (rc != SHMA_E_OS) fail_msg("shutdown with a stopped reaper gave %s after %llu ms", shma_errname(rc),
                                  (unsigned long long)took);
    assert_non_null(strstr(shma_last_error(), "did not stop"));
    assert_true(took >= 9000 && took < 60000);
    assert_false(seg_exists(na));
    assert_shma_ok(shma_close(&a));
}

/* ---------------------------------------------------------------------------------------------
 * Closing an array while another thread shuts its manager down
 * ------------------------------------------------------------------------------------------- */

typedef struct race_arg {
    shma_array **victim;
    const char *first_gone; /* the segment shutdown unlinks first */
    bool saw_it;
} race_arg;

static void *close_during_shutdown(void *p) {
    race_arg *r = p;
    uint64_t deadline = now_ms() + 5000;
    while (seg_exists(r->first_gone) && now_ms() < deadline) sched_yield();
    r->saw_it = !seg_exists(r->first_gone);
    shma_close(r->victim);
    return NULL;
}

/* The manager is "fully thread-safe" and one thread uses the array: closing it while another
 * thread shuts the manager down must be safe. Shutdown walks its list from the newest array
 * and holds its lock meanwhile; the closer waits until the newest is unlinked, then closes the
 * oldest, which shutdown reaches last. Runs in a child with a deadline, because the failure is
 * a lock taken in freed memory: a hang or a crash. */
static void test_manager_close_races_shutdown(void **state) {
    (void)state;
    enum { N = 1000 };
    const int rounds = under_valgrind() ? 2 : 10;
    /* The child's names share a prefix the parent removes afterwards, whatever happened. */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "shmatest_%d_race_", (int)getpid());
    pid_t pid = fork_child();
    if (pid == 0) {
        static shma_array *arrs[N];
        for (int round = 0; round < rounds; round++) {
            /* No reaper: shutdown frees the manager right after its loop, which is the window. */
            shma_manager *mgr = NULL;
            CHILD_OK(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
            for (int i = 0; i < N; i++) {
                char name[96];
                snprintf(name, sizeof name, "%s%d", prefix, i);
                shma_alloc_opts opts = {name, 0};
                CHILD_OK(shma_allocate_ex(mgr, 0, NULL, "u1", &opts, &arrs[i]));
            }
            char newest[SHMA_NAME_MAX + 1];
            snprintf(newest, sizeof newest, "%s", shma_name(arrs[N - 1]));
            race_arg r = {&arrs[0], newest, false};
            pthread_t t;
            CHILD_REQUIRE(pthread_create(&t, NULL, close_during_shutdown, &r) == 0);
            CHILD_OK(shma_manager_shutdown(&mgr));
            CHILD_REQUIRE(pthread_join(t, NULL) == 0);
            CHILD_REQUIRE(r.saw_it);
            for (int i = 0; i < N; i++) CHILD_OK(shma_close(&arrs[i]));
        }
        exit(0);
    }
    uint64_t deadline = now_ms() + 10000;
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline) nap_ms(5);
    if (r == 0) {
        kill(pid, SIGKILL);
        wait_status(pid);
        seg_unlink_prefix(prefix);
        fail_msg("shma_close() racing shma_manager_shutdown() hung for 10 s (child %d): close read arr->mgr "
                 "before shutdown freed the manager, then locked the freed mutex",
                 (int)pid);
    }
    seg_unlink_prefix(prefix);
    assert_int_equal(r, pid);
    if (WIFSIGNALED(status)) fail_msg("close racing shutdown: child killed by signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Without a free descriptor the reaper cannot start: a clean SHMA_E_OS. */
static void test_manager_create_fails(void **state) {
    (void)state;
    pid_t pid = fork_child();
    if (pid == 0) {
        struct rlimit lim;
        CHILD_REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
        lim.rlim_cur = 64;
        CHILD_REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
        int lowest = -1, fd;
        while ((fd = dup(0)) >= 0)
            if (lowest < 0) lowest = fd;
        CHILD_REQUIRE(errno == EMFILE && lowest >= 0);
        shma_manager *mgr = (shma_manager *)&lim;
        CHILD_REQUIRE(shma_manager_create(0, &mgr) == SHMA_E_OS);
        CHILD_REQUIRE(strstr(shma_last_error(), "cannot start the reaper") != NULL);
        CHILD_REQUIRE(mgr == (shma_manager *)&lim);
        /* without a reaper it needs no descriptor */
        CHILD_OK(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
        CHILD_OK(shma_manager_shutdown(&mgr));
        for (fd = lowest; fd < (int)lim.rlim_cur; fd++) close(fd); /* exit() and LeakSanitizer need some */
        exit(0);
    }
    assert_child_ok(pid);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_manager_args),
        SEG_TEST(test_manager_count_and_shutdown),
        SEG_TEST(test_manager_no_reaper),
        SEG_TEST(test_manager_shutdown_after_external_unlink),
        SEG_TEST(test_manager_many_arrays),
        SEG_TEST(test_manager_two_managers),
        SEG_TEST(test_manager_reaper_process),
        SEG_TEST(test_manager_shutdown_in_child),
        SEG_TEST(test_manager_allocate_in_child),
        SEG_TEST(test_manager_reaper_killed),
        SEG_TEST(test_manager_reaper_stopped),
        SEG_TEST(test_manager_close_races_shutdown),
        SEG_TEST(test_manager_create_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
