/*
 * scenario_crash_reaping.c (issue 3, scenario 3): when the process owning a manager dies
 * without shutting it down (SIGKILL included), the manager's reaper unlinks every segment it
 * still owned; nothing else triggers the reaper.
 *
 * The random test kills an owner at random points of an allocate/copy/close loop, tens of
 * times under `make check` and hundreds under `make stress`, and checks after each kill that
 * /dev/shm holds nothing of it once the reaper has exited. It runs in a private mount namespace
 * with its own tmpfs on /dev/shm, so "nothing" is exact: the namespace's /dev/shm must be empty
 * (where namespaces are not permitted it runs on the real /dev/shm and looks for segments by
 * name and creator instead). The deterministic tests pin down each path: SIGKILL, exit without
 * shutdown, clean shutdown, closed arrays forgotten, forked children, Ctrl-C.
 *
 * Process tree: the test process P forks the owner O; O's manager forks the reaper R (twice, so
 * R is not O's child). P is a child subreaper (h_init), so R is re-parented to P, or to the
 * namespace child C that runs the random rounds, and gets reaped there.
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>

/* ---------------------------------------------------------------------------------------------
 * Owners: report the reaper's pid, then work
 * ------------------------------------------------------------------------------------------- */

typedef struct owner_job {
    int to_parent, from_parent; /* the owner's pipe ends (from_parent may be -1) */
    int other_fds[2];           /* the parent's ends, closed in the owner */
    bool own_group;             /* setpgid(0, 0) first */
} owner_job;

static void owner_start(const owner_job *job, shma_manager **mgr) {
    for (int i = 0; i < 2; i++)
        if (job->other_fds[i] >= 0) close(job->other_fds[i]);
    if (job->own_group) {
        H_CHECK(setpgid(0, 0) == 0);
        signal(SIGINT, SIG_DFL); /* a shell without job control may have started us ignoring it */
    }
    H_CHECK_OK(shma_manager_create(0, mgr));
    int reaper = shma_manager_reaper_pid(*mgr);
    H_CHECK(reaper > 0);
    H_CHECK(h_send_msg(job->to_parent, &reaper, sizeof reaper));
}

static void send_name(const owner_job *job, const shma_array *a) {
    H_CHECK(h_send_msg(job->to_parent, shma_name(a), (uint32_t)strlen(shma_name(a))));
}

/* Forks an owner running fn; returns its pid, and the reaper pid it reports in *reaper. The
 * parent keeps up[0] (to read) and down[1] (to write). */
static pid_t start_owner(int (*fn)(void *), owner_job *job, int up[2], int down[2], int *reaper) {
    h_pipe(up);
    h_pipe(down);
    job->to_parent = up[1], job->from_parent = down[0];
    job->other_fds[0] = up[0], job->other_fds[1] = down[1];
    pid_t pid = h_fork(fn, job);
    assert_true(pid > 0);
    close(up[1]);
    close(down[0]);
    char buf[64];
    assert_int_equal(h_recv_msg(up[0], buf, sizeof buf), (ssize_t)sizeof *reaper);
    memcpy(reaper, buf, sizeof *reaper);
    assert_true(*reaper > 0);
    assert_int_not_equal(*reaper, pid);
    h_track_reaper(*reaper);
    return pid;
}

/* Reads the names an owner sends until it sends an empty message. */
static int recv_names(int fd, char names[][SHMA_NAME_MAX + 1], int max) {
    int n = 0;
    for (;;) {
        char buf[SHMA_NAME_MAX + 1];
        ssize_t len = h_recv_msg(fd, buf, sizeof buf);
        assert_true(len >= 0);
        if (len == 0 || buf[0] == '.') break;
        assert_true(n < max);
        snprintf(names[n++], SHMA_NAME_MAX + 1, "%s", buf);
    }
    return n;
}

static void wait_reaper_done(int reaper) {
    if (!h_wait_exit_any(reaper, 30000)) fail_msg("reaper %d still runs 30 s after its owner died", reaper);
}

/* ---------------------------------------------------------------------------------------------
 * Every creation path, then SIGKILL
 * ------------------------------------------------------------------------------------------- */

/* Allocates through each creating call, closes two of the arrays, sends the names of the live
 * ones and then those of the closed ones (separated by "."), then waits to be killed. */
static int owner_all_paths(void *arg) {
    const owner_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(job, &mgr);
    enum { K = 8 };
    shma_array *a[K] = {0};
    const int64_t shape[2] = {100, 37};
    char fixed[SHMA_NAME_MAX + 1];
    h_name(fixed, sizeof fixed, "fixed");
    shma_alloc_opts named = {.name = fixed}, populate = {.flags = SHMA_ALLOC_POPULATE};
    H_CHECK_OK(shma_allocate(mgr, 2, shape, "float64", &a[0]));
    H_CHECK_OK(shma_allocate_ex(mgr, 2, shape, "int8", &named, &a[1]));
    H_CHECK_OK(shma_allocate_ex(mgr, 2, shape, "c16", &populate, &a[2]));
    shma_view v;
    H_CHECK_OK(shma_view_of(a[0], &v));
    H_CHECK_OK(shma_copy(mgr, &v, &a[3]));
    H_CHECK_OK(shma_allocate_like(mgr, &v, &a[4]));
    H_CHECK_OK(shma_allocate_unsafe(mgr, 2, shape, "u2", &a[5]));
    H_CHECK_OK(shma_copy_unsafe(mgr, &v, &a[6]));
    H_CHECK_OK(shma_allocate_like_unsafe(mgr, &v, &a[7]));
    char closed[2][SHMA_NAME_MAX + 1];
    snprintf(closed[0], sizeof closed[0], "%s", shma_name(a[3]));
    snprintf(closed[1], sizeof closed[1], "%s", shma_name(a[5]));
    H_CHECK_OK(shma_close(&a[3]));
    H_CHECK_OK(shma_close(&a[5]));
    H_CHECK_EQ(shma_manager_count(mgr), K - 2);
    for (int i = 0; i < K; i++)
        if (a[i]) send_name(job, a[i]);
    H_CHECK(h_send_msg(job->to_parent, ".", 1));
    for (int i = 0; i < 2; i++) H_CHECK(h_send_msg(job->to_parent, closed[i], (uint32_t)strlen(closed[i])));
    H_CHECK(h_send_msg(job->to_parent, "", 0));
    h_wait_byte(job->from_parent, NULL); /* until killed */
    return 4;
}

static void test_sigkill_owner_reaps_everything(void **state) {
    (void)state;
    int up[2], down[2], reaper;
    owner_job job = {0};
    pid_t pid = start_owner(owner_all_paths, &job, up, down, &reaper);
    char live[16][SHMA_NAME_MAX + 1], closed[4][SHMA_NAME_MAX + 1];
    int nlive = recv_names(up[0], live, 16);
    int nclosed = recv_names(up[0], closed, 4);
    assert_int_equal(nlive, 6);
    assert_int_equal(nclosed, 2);
    for (int i = 0; i < nlive; i++) assert_true(h_shm_exists(live[i]));
    for (int i = 0; i < nclosed; i++) assert_false(h_shm_exists(closed[i]));
    /* A client in this process keeps the data past the reaping. */
    shma_array *c = NULL;
    assert_shma_ok(shma_attach_name(live[0], &c));
    ((double *)shma_data(c))[0] = 1.25;

    assert_int_equal(kill(pid, SIGKILL), 0);
    h_wait_signaled(pid, SIGKILL);
    wait_reaper_done(reaper);
    for (int i = 0; i < nlive; i++)
        if (h_shm_exists(live[i])) fail_msg("/dev/shm/%s survived its owner's SIGKILL", live[i]);
    assert_true(((double *)shma_data(c))[0] == 1.25);
    assert_shma_ok(shma_close(&c));
    close(up[0]);
    close(down[1]);
}

/* Thousands of live segments (the reaper's table grows many times over), the longest name
 * allowed and a UTF-8 one: all reaped. */
typedef struct many_job {
    owner_job base;
    long count;
} many_job;

static int owner_many(void *arg) {
    const many_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(&job->base, &mgr);
    const int64_t shape[1] = {8};
    char longest[SHMA_NAME_MAX + 1], utf8[SHMA_NAME_MAX + 1];
    h_name(longest, sizeof longest, "long");
    size_t n = strlen(longest);
    memset(longest + n, 'L', SHMA_NAME_MAX - n);
    longest[SHMA_NAME_MAX] = '\0';
    h_name(utf8, sizeof utf8, "\xc3\xa9t\xc3\xa9_\xe6\x97\xa5");
    const char *special[2] = {longest, utf8};
    for (int i = 0; i < 2; i++) {
        shma_alloc_opts named = {.name = special[i]};
        shma_array *a = NULL;
        H_CHECK_OK(shma_allocate_ex(mgr, 1, shape, "u1", &named, &a));
        send_name(&job->base, a);
    }
    for (long i = 0; i < job->count; i++) {
        shma_array *a = NULL;
        H_CHECK_OK(shma_allocate(mgr, 1, shape, "u1", &a));
        send_name(&job->base, a);
        if (i % 3 == 0) H_CHECK_OK(shma_close(&a)); /* tombstones in the reaper's table */
    }
    H_CHECK(h_send_msg(job->base.to_parent, "", 0));
    h_wait_byte(job->base.from_parent, NULL); /* until killed */
    return 4;
}

static void test_sigkill_reaps_thousands_and_long_names(void **state) {
    (void)state;
    int up[2], down[2], reaper;
    many_job job = {.count = h_size(2000, 60, 20000)};
    pid_t pid = start_owner(owner_many, &job.base, up, down, &reaper);
    long total = job.count + 2;
    char (*names)[SHMA_NAME_MAX + 1] = calloc((size_t)total, sizeof *names);
    assert_non_null(names);
    assert_int_equal(recv_names(up[0], names, (int)total), total);
    assert_int_equal(strlen(names[0]), SHMA_NAME_MAX);
    assert_true(h_shm_exists(names[0]) && h_shm_exists(names[1]));
    assert_int_equal(kill(pid, SIGKILL), 0);
    h_wait_signaled(pid, SIGKILL);
    wait_reaper_done(reaper);
    for (long i = 0; i < total; i++)
        if (h_shm_exists(names[i])) fail_msg("/dev/shm/%s (%ld of %ld) survived", names[i], i, total);
    free(names);
    close(up[0]);
    close(down[1]);
}

/* ---------------------------------------------------------------------------------------------
 * Owners that end without shutting their manager down, or with
 * ------------------------------------------------------------------------------------------- */

typedef enum owner_end { OWNER_EXIT, OWNER_UNDERSCORE_EXIT, OWNER_SHUTDOWN } owner_end;

typedef struct ending_job {
    owner_job base;
    owner_end how;
} ending_job;

static int owner_ending(void *arg) {
    const ending_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(&job->base, &mgr);
    shma_array *a = NULL, *b = NULL;
    const int64_t shape[1] = {1000};
    char fixed[SHMA_NAME_MAX + 1];
    h_name(fixed, sizeof fixed, "end");
    shma_alloc_opts named = {.name = fixed};
    H_CHECK_OK(shma_allocate(mgr, 1, shape, "int64", &a));
    H_CHECK_OK(shma_allocate_ex(mgr, 1, shape, "int64", &named, &b));
    ((int64_t *)shma_data(a))[999] = 12345;
    send_name(&job->base, a);
    send_name(&job->base, b);
    H_CHECK(h_send_msg(job->base.to_parent, "", 0));
    H_CHECK(h_wait_byte(job->base.from_parent, NULL)); /* the parent has attached */
    switch (job->how) {
    case OWNER_EXIT: exit(0);
    case OWNER_UNDERSCORE_EXIT: _exit(0);
    case OWNER_SHUTDOWN:
        H_CHECK_OK(shma_manager_shutdown(&mgr));
        H_CHECK(!h_shm_exists(fixed));
        /* The parent now re-creates the fixed name; wait until it has, then exit. */
        H_CHECK(h_send_byte(job->base.to_parent, 's'));
        H_CHECK(h_wait_byte(job->base.from_parent, NULL));
        H_CHECK_OK(shma_close(&a));
        H_CHECK_OK(shma_close(&b));
        return 0;
    }
    return 3;
}

static void run_owner_ending(owner_end how) {
    int up[2], down[2], reaper;
    ending_job job = {.how = how};
    pid_t pid = start_owner(owner_ending, &job.base, up, down, &reaper);
    char names[4][SHMA_NAME_MAX + 1];
    assert_int_equal(recv_names(up[0], names, 4), 2);
    shma_array *c = NULL;
    assert_shma_ok(shma_attach_name(names[0], &c));
    assert_true(h_send_byte(down[1], 'a'));
    shma_array *newcomer = NULL;
    if (how == OWNER_SHUTDOWN) {
        assert_true(h_wait_byte(up[0], NULL));
        /* Clean shutdown already removed everything and stopped the reaper. */
        assert_false(h_shm_exists(names[0]));
        assert_false(h_shm_exists(names[1]));
        wait_reaper_done(reaper);
        const int64_t shape[1] = {8};
        shma_alloc_opts named = {.name = names[1]};
        assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "u1", &named, &newcomer));
        assert_true(h_send_byte(down[1], 'n'));
    }
    h_wait_ok(pid);
    wait_reaper_done(reaper);
    assert_false(h_shm_exists(names[0]));
    if (how == OWNER_SHUTDOWN) {
        /* The reaper had nothing left to do: the newcomer under the old name survives. */
        assert_true(h_shm_exists(names[1]));
        assert_shma_ok(shma_close(&newcomer));
    }
    assert_false(h_shm_exists(names[1]));
    assert_int_equal(((int64_t *)shma_data(c))[999], 12345);
    assert_shma_ok(shma_close(&c));
    close(up[0]);
    close(down[1]);
}

static void test_owner_exit_without_shutdown_reaps(void **s) { (void)s, run_owner_ending(OWNER_EXIT); }
static void test_owner_underscore_exit_reaps(void **s) {
    (void)s, run_owner_ending(OWNER_UNDERSCORE_EXIT);
}
static void test_clean_shutdown_leaves_reaper_nothing(void **s) {
    (void)s, run_owner_ending(OWNER_SHUTDOWN);
}

/* ---------------------------------------------------------------------------------------------
 * A newcomer under one of the owner's names survives the crash: the name was closed (the reaper
 * forgot it), or unlinked by someone else while the owner held it (the reaper checks its inode)
 * ------------------------------------------------------------------------------------------- */

typedef struct fixed_job {
    owner_job base;
    bool close_fixed; /* close the fixed-name array before reporting, else hold it */
} fixed_job;

/* Makes an array under a fixed name and one under a random name, closes the first if asked,
 * sends both names, then waits to be killed. */
static int owner_with_fixed_name(void *arg) {
    const fixed_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(&job->base, &mgr);
    char fixed[SHMA_NAME_MAX + 1];
    h_name(fixed, sizeof fixed, "fixed");
    shma_alloc_opts named = {.name = fixed};
    const int64_t shape[1] = {64};
    shma_array *a = NULL, *keep = NULL;
    H_CHECK_OK(shma_allocate_ex(mgr, 1, shape, "f4", &named, &a));
    H_CHECK_OK(shma_allocate(mgr, 1, shape, "f4", &keep));
    if (job->close_fixed) H_CHECK_OK(shma_close(&a));
    H_CHECK(h_send_msg(job->base.to_parent, fixed, (uint32_t)strlen(fixed)));
    send_name(&job->base, keep);
    H_CHECK(h_send_msg(job->base.to_parent, "", 0));
    h_wait_byte(job->base.from_parent, NULL); /* until killed */
    return 4;
}

static void run_newcomer_survives(bool close_fixed) {
    int up[2], down[2], reaper;
    fixed_job job = {.close_fixed = close_fixed};
    pid_t pid = start_owner(owner_with_fixed_name, &job.base, up, down, &reaper);
    char names[4][SHMA_NAME_MAX + 1];
    assert_int_equal(recv_names(up[0], names, 4), 2);
    if (close_fixed) assert_false(h_shm_exists(names[0]));
    else assert_shma_ok(shma_unlink(names[0]));
    shma_array *newcomer = NULL;
    shma_alloc_opts named = {.name = names[0]};
    const int64_t shape[1] = {3};
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "i8", &named, &newcomer));
    ((int64_t *)shma_data(newcomer))[2] = 777;
    assert_int_equal(kill(pid, SIGKILL), 0);
    h_wait_signaled(pid, SIGKILL);
    wait_reaper_done(reaper);
    assert_false(h_shm_exists(names[1]));
    shma_array *seen = NULL;
    assert_shma_ok(shma_attach(names[0], 1, shape, "i8", &seen));
    assert_int_equal(((int64_t *)shma_data(seen))[2], 777);
    assert_shma_ok(shma_close(&seen));
    assert_shma_ok(shma_close(&newcomer));
    assert_false(h_shm_exists(names[0]));
    close(up[0]);
    close(down[1]);
}

static void test_reaper_forgets_closed_arrays(void **s) { (void)s, run_newcomer_survives(true); }
static void test_reaper_spares_replaced_fixed_name(void **s) { (void)s, run_newcomer_survives(false); }

/* ---------------------------------------------------------------------------------------------
 * Forked children of the owner never trigger the reaper
 * ------------------------------------------------------------------------------------------- */

typedef struct forking_job {
    owner_job base;
    shma_manager *mgr;
    shma_array *a;
    int how;
} forking_job;

static int grandchild(void *arg) {
    forking_job *job = arg;
    shma_array *c = NULL;
    H_CHECK_OK(shma_attach_name(shma_name(job->a), &c));
    switch (job->how) {
    case 0: exit(0);
    case 1: _exit(0);
    case 2: raise(SIGKILL); break;
    case 3: /* closes everything it inherited, the manager included */
        H_CHECK_OK(shma_close(&job->a));
        H_CHECK_OK(shma_manager_shutdown(&job->mgr));
        H_CHECK_OK(shma_close(&c));
        return 0;
    }
    return 3;
}

static int owner_forking(void *arg) {
    forking_job *job = arg;
    owner_start(&job->base, &job->mgr);
    const int64_t shape[1] = {256};
    H_CHECK_OK(shma_allocate(job->mgr, 1, shape, "u8", &job->a));
    int reaper = shma_manager_reaper_pid(job->mgr);
    for (int round = 0; round < 3; round++) {
        for (job->how = 0; job->how < 4; job->how++) {
            pid_t pid = h_fork(grandchild, job);
            H_CHECK(pid > 0);
            int status = 0;
            H_CHECK(waitpid(pid, &status, 0) == pid);
            H_CHECK(job->how == 2 ? WIFSIGNALED(status) : WIFEXITED(status) && WEXITSTATUS(status) == 0);
            H_CHECK(h_shm_exists(shma_name(job->a)));
            H_CHECK(!h_wait_exit_any(reaper, 0));
            H_CHECK_EQ(shma_manager_count(job->mgr), 1);
        }
    }
    send_name(&job->base, job->a);
    H_CHECK(h_send_msg(job->base.to_parent, "", 0));
    h_wait_byte(job->base.from_parent, NULL); /* until killed */
    return 4;
}

static void test_forked_children_never_trigger_reaper(void **state) {
    (void)state;
    int up[2], down[2], reaper;
    forking_job job = {0};
    pid_t pid = start_owner(owner_forking, &job.base, up, down, &reaper);
    char names[2][SHMA_NAME_MAX + 1];
    assert_int_equal(recv_names(up[0], names, 2), 1);
    assert_true(h_shm_exists(names[0]));
    assert_false(h_wait_exit_any(reaper, 0));
    /* The owner's own death still does. */
    assert_int_equal(kill(pid, SIGKILL), 0);
    h_wait_signaled(pid, SIGKILL);
    wait_reaper_done(reaper);
    assert_false(h_shm_exists(names[0]));
    close(up[0]);
    close(down[1]);
}

/* An owner killed while a child it forked still runs: once that child ends too, the reaper
 * has cleaned up (it may not start before: the child holds the manager's descriptor). */
typedef struct survivor_job {
    owner_job base;
    int hold[2]; /* the grandchild blocks reading hold[0] until the test closes hold[1] */
} survivor_job;

static int survivor(void *arg) {
    survivor_job *job = arg;
    close(job->hold[1]);
    h_wait_byte(job->hold[0], NULL);
    return 0;
}

static int owner_with_survivor(void *arg) {
    survivor_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(&job->base, &mgr);
    shma_array *a = NULL;
    const int64_t shape[1] = {256};
    H_CHECK_OK(shma_allocate(mgr, 1, shape, "u8", &a));
    /* Not h_fork: the grandchild must outlive us, so no parent-death signal. */
    pid_t pid = fork();
    if (pid == 0) h_child_exit(survivor(job));
    H_CHECK(pid > 0);
    H_CHECK(h_send_msg(job->base.to_parent, &pid, sizeof pid));
    send_name(&job->base, a);
    H_CHECK(h_send_msg(job->base.to_parent, "", 0));
    h_wait_byte(job->base.from_parent, NULL); /* until killed */
    return 4;
}

static void test_owner_killed_while_child_runs(void **state) {
    (void)state;
    int up[2], down[2], reaper;
    survivor_job job = {0};
    h_pipe(job.hold);
    pid_t pid = start_owner(owner_with_survivor, &job.base, up, down, &reaper);
    close(job.hold[0]);
    char buf[64];
    pid_t gc = 0;
    assert_int_equal(h_recv_msg(up[0], buf, sizeof buf), (ssize_t)sizeof gc);
    memcpy(&gc, buf, sizeof gc);
    char names[2][SHMA_NAME_MAX + 1];
    assert_int_equal(recv_names(up[0], names, 2), 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    h_wait_signaled(pid, SIGKILL);
    close(job.hold[1]); /* the grandchild (now ours, as subreaper) ends */
    h_wait_ok(gc);
    wait_reaper_done(reaper);
    assert_false(h_shm_exists(names[0]));
    close(up[0]);
    close(down[1]);
}

/* ---------------------------------------------------------------------------------------------
 * The reaper is detached: not the owner's child, in its own session, deaf to Ctrl-C
 * ------------------------------------------------------------------------------------------- */

static int owner_checks_detachment(void *arg) {
    const owner_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(job, &mgr);
    int reaper = shma_manager_reaper_pid(mgr);
    /* Not our child: wait() sees nothing. */
    H_CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
    H_CHECK(getsid(reaper) != getsid(0));
    H_CHECK(getpgid(reaper) != getpgid(0));
    shma_array *a = NULL;
    const int64_t shape[1] = {16};
    H_CHECK_OK(shma_allocate(mgr, 1, shape, "u8", &a));
    send_name(job, a);
    H_CHECK(h_send_msg(job->to_parent, "", 0));
    h_wait_byte(job->from_parent, NULL); /* until SIGINT */
    return 4;
}

static void test_reaper_survives_ctrl_c_to_owner_group(void **state) {
    (void)state;
    int up[2], down[2], reaper;
    owner_job job = {.own_group = true};
    pid_t pid = start_owner(owner_checks_detachment, &job, up, down, &reaper);
    char names[2][SHMA_NAME_MAX + 1];
    assert_int_equal(recv_names(up[0], names, 2), 1);
    /* What a terminal's Ctrl-C does to the owner's job: SIGINT to its whole process group. */
    assert_int_equal(kill(-pid, SIGINT), 0);
    h_wait_signaled(pid, SIGINT);
    wait_reaper_done(reaper);
    assert_false(h_shm_exists(names[0]));
    close(up[0]);
    close(down[1]);
}

/* ---------------------------------------------------------------------------------------------
 * The reaper itself killed (by an OOM killer, a stray kill -9)
 * ------------------------------------------------------------------------------------------- */

/* The manager then refuses new segments, which it could no longer protect, with SHMA_E_STATE
 * and creates nothing; what it already owns stays usable, and its shutdown still unlinks it. */
static void test_reaper_killed(void **state) {
    (void)state;
    shma_manager **mgr = h_manager(0);
    int reaper = shma_manager_reaper_pid(*mgr);
    shma_array *a = NULL, *b = NULL;
    const int64_t shape[1] = {1000};
    assert_shma_ok(shma_allocate(*mgr, 1, shape, "f8", &a));
    assert_shma_ok(shma_allocate(*mgr, 1, shape, "f8", &b));
    char name_a[SHMA_NAME_MAX + 1], name_b[SHMA_NAME_MAX + 1];
    snprintf(name_a, sizeof name_a, "%s", shma_name(a));
    snprintf(name_b, sizeof name_b, "%s", shma_name(b));

    assert_int_equal(kill(reaper, SIGKILL), 0);
    assert_true(h_wait_exit_any(reaper, 10000));
    char name[SHMA_NAME_MAX + 1];
    h_name(name, sizeof name, "orphan");
    shma_alloc_opts named = {.name = name};
    shma_array *c = NULL;
    assert_shma_fails(shma_allocate_ex(*mgr, 1, shape, "f8", &named, &c), SHMA_E_STATE, "reaper");
    assert_null(c);
    assert_false(h_shm_exists(name));
    shma_view v;
    assert_shma_ok(shma_view_of(a, &v));
    assert_shma_fails(shma_copy(*mgr, &v, &c), SHMA_E_STATE, "reaper");
    assert_null(c);
    /* Arrays made before still work; an owner's close still unlinks. */
    ((double *)shma_data(a))[999] = 9.5;
    shma_array *client = NULL;
    assert_shma_ok(shma_attach_name(name_a, &client));
    assert_true(((double *)shma_data(client))[999] == 9.5);
    assert_shma_ok(shma_close(&client));
    assert_shma_ok(shma_close(&b));
    assert_false(h_shm_exists(name_b));
    assert_int_equal(shma_manager_count(*mgr), 1);
    /* Shutdown may report the dead reaper, but unlinks what is left and frees the manager. */
    int rc = shma_manager_shutdown(mgr);
    assert_true(rc == SHMA_OK || rc == SHMA_E_OS);
    assert_null(*mgr);
    assert_false(h_shm_exists(name_a));
    assert_shma_ok(shma_close(&a));
}

/* ---------------------------------------------------------------------------------------------
 * Random SIGKILLs during allocate/copy/close loops
 * ------------------------------------------------------------------------------------------- */

#define LIVE_MAX 12

/* Loops forever over random operations, writing one progress byte after each. */
static int owner_random_loop(void *arg) {
    const owner_job *job = arg;
    shma_manager *mgr = NULL;
    owner_start(job, &mgr);
    shma_array *live[LIVE_MAX] = {0};
    static const char *dtypes[] = {"f8", "int32", "u1", "complex64", "<i2", "bool", "S7"};
    size_t src_bytes = 1 << 20;
    unsigned char *src = malloc(src_bytes);
    H_CHECK(src != NULL);
    memset(src, 0x5a, src_bytes);
    for (;;) {
        int slot = (int)h_rand_below(LIVE_MAX);
        if (live[slot]) {
            if (h_rand_below(4) == 0) {
                shma_array *c = NULL; /* a client of our own array, for variety */
                H_CHECK_OK(shma_attach_name(shma_name(live[slot]), &c));
                H_CHECK_OK(shma_close(&c));
            }
            H_CHECK_OK(shma_close(&live[slot]));
        } else {
            int64_t shape[2] = {1 + (int64_t)h_rand_below(512), 1 + (int64_t)h_rand_below(1024)};
            const char *dt = dtypes[h_rand_below(sizeof dtypes / sizeof *dtypes)];
            switch (h_rand_below(5)) {
            case 0: H_CHECK_OK(shma_allocate(mgr, 2, shape, dt, &live[slot])); break;
            case 1: {
                char name[SHMA_NAME_MAX + 1];
                h_name(name, sizeof name, "crash");
                shma_alloc_opts o = {.name = name, .flags = (uint32_t)h_rand_below(2) * SHMA_ALLOC_POPULATE};
                H_CHECK_OK(shma_allocate_ex(mgr, 2, shape, dt, &o, &live[slot]));
                break;
            }
            case 2: case 3: { /* a transposed copy of part of src, as bytes */
                int64_t rows = 1 + (int64_t)h_rand_below(1024), cols = 1 + (int64_t)h_rand_below(1024);
                const int64_t s[2] = {cols, rows}, st[2] = {1, cols};
                shma_view v = {.data = src, .ndim = 2, .shape = s, .strides = st};
                H_CHECK_OK(shma_dtype_parse("u1", &v.dtype));
                H_CHECK_OK(shma_copy(mgr, &v, &live[slot]));
                break;
            }
            default: H_CHECK_OK(shma_allocate_unsafe(mgr, 2, shape, "f4", &live[slot])); break;
            }
            unsigned char *d = shma_data(live[slot]);
            size_t n = shma_nbytes(live[slot]);
            if (n) d[n - 1] = 1; /* touch the last byte: must never SIGBUS */
        }
        if (!h_send_byte(job->to_parent, '.')) break;
    }
    return 4;
}

typedef struct rounds_cfg {
    long rounds;
    bool private_ns; /* out: ran in a private /dev/shm */
} rounds_cfg;

/* What of owner `pid` is still in /dev/shm: in a private namespace, anything at all; else
 * segments named by it or whose metadata names it as creator. Returns a count, first name in
 * `first`. */
static int leftovers(bool private_ns, pid_t owner, char *first, size_t cap) {
    if (private_ns) return h_shm_count("", first, cap);
    char prefix[128];
    h_name_prefix(prefix, sizeof prefix, "crash", owner);
    int n = h_shm_count(prefix, first, cap);
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        shma_info info;
        if (strncmp(e->d_name, "shma_", 5) == 0 && shma_inspect(e->d_name, &info) == SHMA_OK &&
            info.has_meta && info.creator_pid == owner) {
            if (n++ == 0) snprintf(first, cap, "%s", e->d_name);
        }
    }
    if (d) closedir(d);
    return n;
}

static int random_rounds(void *arg) {
    rounds_cfg *cfg = arg;
    int err = h_private_dev_shm("size=512m");
    cfg->private_ns = err == 0;
    if (err)
        fprintf(stderr, "[crash] no private /dev/shm (%s): checking the real one by name and creator\n",
                strerror(err));
    /* The reapers of our owners are re-parented to us; we reap them. */
    H_CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    long kills_with_segments = 0;
    for (long round = 0; round < cfg->rounds; round++) {
        int up[2], down[2];
        H_CHECK(pipe2(up, O_CLOEXEC) == 0 && pipe2(down, O_CLOEXEC) == 0);
        owner_job job = {up[1], down[0], {up[0], down[1]}, false};
        pid_t pid = h_fork(owner_random_loop, &job);
        H_CHECK(pid > 0);
        close(up[1]);
        close(down[0]);
        int reaper = 0;
        char buf[64];
        H_CHECK_EQ(h_recv_msg(up[0], buf, sizeof buf), (ssize_t)sizeof reaper);
        memcpy(&reaper, buf, sizeof reaper);
        /* Let it run a random number of operations, then kill it a random moment later:
         * anywhere inside an allocate, a copy or a close. */
        long ops = (long)h_rand_below(48);
        for (long i = 0; i < ops; i++) H_CHECK(h_wait_byte(up[0], NULL));
        h_spin_ns(h_rand_below(400) * 1000);
        if (h_shm_count(cfg->private_ns ? "" : "shma_", NULL, 0) > 0) kills_with_segments++;
        H_CHECK(kill(pid, SIGKILL) == 0);
        int status = 0;
        H_CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            h_child_fail(__FILE__, __LINE__, "round %ld: the owner ended by itself (status %#x)",
                         round, status);
        close(up[0]);
        close(down[1]);
        if (!h_wait_exit_any(reaper, 30000))
            h_child_fail(__FILE__, __LINE__, "round %ld: reaper %d still runs 30 s after the kill",
                         round, reaper);
        while (waitpid(-1, NULL, WNOHANG) > 0) { /* the reaper's zombie, and its parent's */
        }
        char first[SHMA_NAME_MAX + 1] = "";
        int left = leftovers(cfg->private_ns, pid, first, sizeof first);
        if (left)
            h_child_fail(__FILE__, __LINE__,
                         "round %ld (killed after %ld ops): %d segment(s) left, e.g. /dev/shm/%s",
                         round, ops, left, first);
    }
    fprintf(stderr, "[crash] %ld rounds, %ld killed with segments live, all reaped%s\n",
            cfg->rounds, kills_with_segments, cfg->private_ns ? " (private /dev/shm)" : "");
    return 0;
}

static void test_random_sigkill_rounds(void **state) {
    (void)state;
    rounds_cfg cfg = {.rounds = h_size(50, 4, 600)};
    if (under_asan()) cfg.rounds = (cfg.rounds + 1) / 2;
    pid_t pid = h_fork(random_rounds, &cfg);
    assert_true(pid > 0);
    h_wait_ok(pid);
}

int main(void) {
    h_init("crash_reaping");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_owner_reaps_everything, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_reaps_thousands_and_long_names, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_owner_exit_without_shutdown_reaps, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_owner_underscore_exit_reaps, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_clean_shutdown_leaves_reaper_nothing, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reaper_forgets_closed_arrays, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reaper_spares_replaced_fixed_name, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_forked_children_never_trigger_reaper, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_owner_killed_while_child_runs, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reaper_survives_ctrl_c_to_owner_group, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reaper_killed, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_random_sigkill_rounds, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
