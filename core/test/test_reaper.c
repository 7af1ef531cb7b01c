/* test_reaper.c: the crash reaper (reaper.c, manager.c). A child process makes a manager and
 * arrays, reports their names through a pipe, and dies without shutting the manager down (by
 * SIGKILL or a plain exit); its reaper must unlink exactly the segments still registered:
 * not those closed or never created, and not while a forked grandchild still holds the
 * manager's socket. The harness runs the heavy versions (SIGKILL loops, many workers); these
 * are the unit cases, one property each. */
#include "segutil.h"

#include <sys/syscall.h>

/* Coverage of the reaper process itself. The reaper, and the fork between it and us, leave
 * through _exit(), which skips gcov's exit handler, so none of their lines would count. This
 * binary's definition of _exit is the one the static link binds the library's calls to: it
 * writes the counters first in a --coverage build and is a plain _exit otherwise. The weak
 * reference is to __gcov_exit because it lives in the libgcov member every instrumented
 * object pulls in (with __gcov_init); a weak reference alone would not pull __gcov_dump's. */
extern void __gcov_exit(void) __attribute__((weak));
void _exit(int status) {
    if (__gcov_exit) __gcov_exit();
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

#define REAP_TIMEOUT_MS 10000
#define MAX_NAMES 256

/* What a child reported: the names it made and its reapers' pids. */
typedef struct report {
    int nnames;
    char names[MAX_NAMES][SHMA_NAME_MAX + 1];
    int nreapers;
    pid_t reapers[4];
    pid_t extra_pid; /* a grandchild, if any */
} report;

/* Child side: "N<name>", "R<pid>", "G<pid>", then "K" when ready to die. */
static void report_name(int fd, const char *name) {
    char msg[SHMA_NAME_MAX + 2];
    snprintf(msg, sizeof msg, "N%s", name);
    CHILD_REQUIRE(send_str(fd, msg));
}

static void report_pid(int fd, char tag, int pid) {
    char msg[32];
    snprintf(msg, sizeof msg, "%c%d", tag, pid);
    CHILD_REQUIRE(send_str(fd, msg));
}

/* Parent side: reads until "K", tracking every name for the teardown. */
static void read_report(int fd, report *r) {
    memset(r, 0, sizeof *r);
    char msg[SHMA_NAME_MAX + 2];
    for (;;) {
        if (!recv_str(fd, msg, sizeof msg)) fail_msg("child ended its report early");
        if (msg[0] == 'K') return;
        if (msg[0] == 'N') {
            assert_true(r->nnames < MAX_NAMES);
            snprintf(r->names[r->nnames++], SHMA_NAME_MAX + 1, "%s", msg + 1);
            seg_track(msg + 1);
        } else if (msg[0] == 'R') {
            assert_true(r->nreapers < 4);
            r->reapers[r->nreapers++] = (pid_t)atoi(msg + 1);
        } else if (msg[0] == 'G') {
            r->extra_pid = (pid_t)atoi(msg + 1);
        }
    }
}

static bool cond_all_gone(const void *arg) {
    const report *r = arg;
    for (int i = 0; i < r->nnames; i++)
        if (seg_exists(r->names[i])) return false;
    return true;
}

static void assert_all_reaped(const report *r) {
    if (wait_until(cond_all_gone, r, REAP_TIMEOUT_MS)) return;
    for (int i = 0; i < r->nnames; i++)
        if (seg_exists(r->names[i])) fail_msg("segment %s was not reaped within %d ms", r->names[i], REAP_TIMEOUT_MS);
}

static void assert_reapers_exit(const report *r) {
    for (int i = 0; i < r->nreapers; i++) {
        pid_t pid = r->reapers[i];
        if (!wait_until(cond_proc_gone, &pid, REAP_TIMEOUT_MS)) fail_msg("reaper %d did not exit", (int)pid);
    }
}

static void kill_and_wait(pid_t pid) {
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = wait_status(pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* Forks the reporting child. The child gets the pipe's write end in *fd, the parent its read
 * end (for collect_report). */
static pid_t fork_reporter(int *fd) {
    int rp[2];
    make_pipe(rp);
    pid_t pid = fork_child();
    close(rp[pid == 0 ? 0 : 1]);
    *fd = rp[pid == 0 ? 1 : 0];
    return pid;
}

/* In the child: a manager whose reaper's pid is reported. */
static shma_manager *child_manager(int fd) {
    shma_manager *mgr = NULL;
    CHILD_OK(shma_manager_create(0, &mgr));
    report_pid(fd, 'R', shma_manager_reaper_pid(mgr));
    return mgr;
}

/* In the parent: the child's whole report; the pipe is closed after it. */
static void collect_report(int fd, report *r) {
    read_report(fd, r);
    close(fd);
}

/* In a child: waits to be killed. */
static void wait_for_death(void) {
    for (;;) pause();
}

/* ---------------------------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------------------------- */

static void test_reaper_sigkill(void **state) {
    (void)state;
    char explicit_name[128];
    seg_test_name(explicit_name, sizeof explicit_name, "reap");
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        shma_array *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        CHILD_OK(shma_allocate(mgr, 2, (const int64_t[]){100, 100}, "f8", &a));
        report_name(fd, shma_name(a));
        CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){0}, "u1", &b));
        report_name(fd, shma_name(b));
        shma_view v;
        CHILD_OK(shma_view_of(a, &v));
        CHILD_OK(shma_copy(mgr, &v, &c));
        report_name(fd, shma_name(c));
        shma_alloc_opts opts = {explicit_name, 0};
        CHILD_OK(shma_allocate_ex(mgr, 0, NULL, "c16", &opts, &d));
        report_name(fd, shma_name(d));
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    report r;
    collect_report(fd, &r);
    assert_int_equal(r.nnames, 4);
    assert_int_equal(r.nreapers, 1);
    for (int i = 0; i < r.nnames; i++) assert_true(seg_exists(r.names[i]));
    kill_and_wait(pid);
    assert_all_reaped(&r);
    assert_reapers_exit(&r);
}

/* Exiting normally without a shutdown is a crash as far as the manager knows. */
static void test_reaper_exit_without_shutdown(void **state) {
    (void)state;
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *m1 = child_manager(fd), *m2 = child_manager(fd);
        for (int i = 0; i < 3; i++) {
            shma_array *a = NULL;
            CHILD_OK(shma_allocate(i % 2 ? m1 : m2, 1, (const int64_t[]){64}, "u1", &a));
            report_name(fd, shma_name(a));
        }
        CHILD_REQUIRE(send_str(fd, "K"));
        exit(0);
    }
    report r;
    collect_report(fd, &r);
    assert_child_ok(pid);
    assert_all_reaped(&r);
    assert_reapers_exit(&r);
}

/* The reaper unlinks only what is still registered: a name closed through the manager, or
 * whose creation failed, may belong to someone else by the time of the crash. */
static void test_reaper_forgets_released_names(void **state) {
    (void)state;
    char closed_name[128], taken_name[128], huge_name[128];
    seg_test_name(closed_name, sizeof closed_name, "closed");
    seg_test_name(taken_name, sizeof taken_name, "taken");
    seg_test_name(huge_name, sizeof huge_name, "hugefail");
    foreign_create(taken_name, 100);
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        shma_array *a = NULL;
        shma_alloc_opts opts = {closed_name, 0};
        CHILD_OK(shma_allocate_ex(mgr, 1, (const int64_t[]){8}, "u1", &opts, &a));
        CHILD_OK(shma_close(&a)); /* unlinked and forgotten */
        opts.name = taken_name;
        CHILD_REQUIRE(shma_allocate_ex(mgr, 1, (const int64_t[]){8}, "u1", &opts, &a) == SHMA_E_EXISTS);
        opts.name = huge_name;
        opts.flags = SHMA_ALLOC_HUGEPAGES; /* fails where shmem THP is off; else closed at once */
        if (shma_allocate_ex(mgr, 1, (const int64_t[]){8}, "u1", &opts, &a) == SHMA_OK) CHILD_OK(shma_close(&a));
        CHILD_REQUIRE(!seg_exists(huge_name));
        CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){8}, "u1", &a)); /* the one to reap */
        report_name(fd, shma_name(a));
        CHILD_REQUIRE(shma_manager_count(mgr) == 1);
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    report r;
    collect_report(fd, &r);
    /* someone else now uses the released names */
    foreign_create(closed_name, 100);
    foreign_create(huge_name, 100);
    kill_and_wait(pid);
    assert_all_reaped(&r);
    assert_reapers_exit(&r); /* the reaper has finished: whatever it left, it leaves */
    assert_true(seg_exists(closed_name));
    assert_true(seg_exists(taken_name));
    assert_true(seg_exists(huge_name));
    assert_int_equal(shm_size(taken_name), 100);
}

/* Many names, many of them released: the reaper's set grows and reuses tombstones. */
static void test_reaper_many_names(void **state) {
    (void)state;
    const int cycles = under_valgrind() ? 60 : 300, kept = under_valgrind() ? 60 : 150;
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        for (int i = 0; i < cycles; i++) { /* register and forget, leaving tombstones */
            shma_array *a = NULL;
            CHILD_OK(shma_allocate(mgr, 0, NULL, "u1", &a));
            CHILD_OK(shma_close(&a));
        }
        for (int i = 0; i < kept; i++) {
            shma_array *a = NULL;
            CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){i}, "u1", &a));
            report_name(fd, shma_name(a));
            if (i % 3 == 0) CHILD_OK(shma_close(&a)); /* gone already, and forgotten */
        }
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    report r;
    collect_report(fd, &r);
    assert_int_equal(r.nnames, kept);
    kill_and_wait(pid);
    assert_all_reaped(&r);
    assert_reapers_exit(&r);
}

/* A child forked by the manager's process inherits the manager's socket: the reaper waits
 * for it too. The child's close of an inherited owner array tells the reaper nothing. */
static void test_reaper_waits_for_forked_children(void **state) {
    (void)state;
    int fd, hold[2];
    make_pipe(hold);
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        shma_array *a = NULL;
        CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){8}, "u1", &a));
        report_name(fd, shma_name(a));
        int ack[2];
        CHILD_REQUIRE(pipe2(ack, O_CLOEXEC) == 0);
        fflush(NULL);
        pid_t g = fork();
        CHILD_REQUIRE(g >= 0);
        if (g == 0) {
            close(hold[1]);
            close(fd);
            close(ack[0]);
            CHILD_OK(shma_close(&a)); /* not the creator: no unlink, no message to the reaper */
            CHILD_REQUIRE(write_full(ack[1], "c", 1));
            close(ack[1]);
            char c;
            read_full(hold[0], &c, 1); /* until the test lets go */
            exit(0);
        }
        close(ack[1]);
        char c;
        CHILD_REQUIRE(read_full(ack[0], &c, 1));
        report_pid(fd, 'G', g);
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    close(hold[0]);
    report r;
    collect_report(fd, &r);
    assert_true(r.extra_pid > 0);
    kill_and_wait(pid);
    /* The grandchild still holds the socket, so the reaper cannot have seen end-of-file. */
    assert_true(proc_alive(r.reapers[0]));
    assert_true(seg_exists(r.names[0]));
    close(hold[1]); /* the grandchild exits */
    assert_all_reaped(&r);
    assert_reapers_exit(&r);
    pid_t g = r.extra_pid;
    assert_true(wait_until(cond_proc_gone, &g, REAP_TIMEOUT_MS));
}

/* The reaper ignores the signals a terminal sends (SIGINT, SIGHUP, SIGQUIT) and SIGPIPE: it
 * still reaps afterwards. */
static void test_reaper_ignores_terminal_signals(void **state) {
    (void)state;
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        shma_array *a = NULL;
        CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){8}, "u1", &a));
        report_name(fd, shma_name(a));
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    report r;
    collect_report(fd, &r);
    const int sigs[] = {SIGINT, SIGHUP, SIGQUIT, SIGPIPE};
    for (int i = 0; i < 4; i++) assert_int_equal(kill(r.reapers[0], sigs[i]), 0);
    /* a signal to the test's process group (as Ctrl-C sends) does not reach the reaper */
    assert_int_not_equal(getpgid(r.reapers[0]), getpgrp());
    kill_and_wait(pid);
    assert_all_reaped(&r);
    assert_reapers_exit(&r);
}

/* A caller-chosen name that someone else removed and made again while the manager's process
 * lived names another segment by the time the reaper runs: the reaper leaves it alone, and
 * still reaps the names that are unchanged. */
static void test_reaper_spares_replaced_name(void **state) {
    (void)state;
    char replaced[128], kept[128];
    seg_test_name(replaced, sizeof replaced, "replaced");
    seg_test_name(kept, sizeof kept, "kept");
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        shma_array *a = NULL, *b = NULL, *c = NULL;
        shma_alloc_opts opts = {replaced, 0};
        CHILD_OK(shma_allocate_ex(mgr, 1, (const int64_t[]){16}, "u1", &opts, &a));
        opts.name = kept;
        CHILD_OK(shma_allocate_ex(mgr, 1, (const int64_t[]){16}, "u1", &opts, &b));
        report_name(fd, kept);
        CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){16}, "u1", &c));
        report_name(fd, shma_name(c));
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    report r;
    collect_report(fd, &r);
    assert_int_equal(r.nnames, 2);
    assert_shma_ok(shma_unlink(replaced));
    foreign_create(replaced, 12345);
    kill_and_wait(pid);
    assert_all_reaped(&r);
    assert_reapers_exit(&r);
    assert_int_equal(shm_size(replaced), 12345);
}

/* A clean shutdown stops the reaper without it unlinking anything it was not told to: a
 * segment the process made standalone (no manager) survives the process. */
static void test_reaper_clean_shutdown(void **state) {
    (void)state;
    char standalone[128];
    seg_test_name(standalone, sizeof standalone, "standalone");
    int fd;
    pid_t pid = fork_reporter(&fd);
    if (pid == 0) {
        shma_manager *mgr = child_manager(fd);
        shma_array *a = NULL, *s = NULL;
        CHILD_OK(shma_allocate(mgr, 1, (const int64_t[]){8}, "u1", &a));
        report_name(fd, shma_name(a));
        shma_alloc_opts opts = {standalone, 0};
        CHILD_OK(shma_allocate_ex(NULL, 1, (const int64_t[]){8}, "u1", &opts, &s));
        CHILD_OK(shma_manager_shutdown(&mgr));
        CHILD_REQUIRE(!seg_exists(shma_name(a)));
        CHILD_REQUIRE(send_str(fd, "K"));
        wait_for_death();
    }
    report r;
    collect_report(fd, &r);
    assert_reapers_exit(&r);
    kill_and_wait(pid);
    assert_true(seg_exists(standalone)); /* leaked, as documented for a standalone array */
    assert_shma_ok(shma_unlink(standalone));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_reaper_sigkill),
        SEG_TEST(test_reaper_exit_without_shutdown),
        SEG_TEST(test_reaper_forgets_released_names),
        SEG_TEST(test_reaper_many_names),
        SEG_TEST(test_reaper_waits_for_forked_children),
        SEG_TEST(test_reaper_ignores_terminal_signals),
        SEG_TEST(test_reaper_clean_shutdown),
        SEG_TEST(test_reaper_spares_replaced_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
