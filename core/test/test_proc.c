/* test_proc.c: process identity and liveness (proc.c). */
#include "testutil.h"

#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>

/* A /proc/PID/stat line as Linux 6.x writes it (52 fields), with the given command name and
 * start time (field 22). */
static void stat_line(char *buf, size_t cap, const char *comm, const char *state, const char *start) {
    snprintf(buf, cap,
             "4242 (%s) %s 1 4242 4242 0 -1 4194560 1150 0 0 0 3 1 0 0 20 0 1 0 %s 9424896 1024 "
             "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
             comm, state, start);
}

/* Parses exactly len bytes of s from a heap copy of that size. */
static int parse_n(const char *s, size_t len, uint64_t *start) {
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    int rc = shma__parse_proc_stat_start(copy, len, start);
    free(copy);
    return rc;
}

static int parse(const char *s, uint64_t *start) { return parse_n(s, strlen(s), start); }

static uint64_t read_start_of(pid_t pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    assert_true(n > 0);
    uint64_t start = 0;
    assert_int_equal(shma__parse_proc_stat_start(text, (size_t)n, &start), 0);
    return start;
}

/* ---------------------------------------------------------------------------------------------
 * shma__parse_proc_stat_start
 * ------------------------------------------------------------------------------------------- */

static void test_parse_plain(void **state) {
    (void)state;
    char line[512];
    uint64_t start = 0;
    stat_line(line, sizeof line, "bash", "S", "123456789");
    assert_int_equal(parse(line, &start), 0);
    assert_int_equal(start, 123456789);

    stat_line(line, sizeof line, "x", "R", "0");
    assert_int_equal(parse(line, &start), 0);
    assert_int_equal(start, 0);

    stat_line(line, sizeof line, "x", "S", "18446744073709551615");
    assert_int_equal(parse(line, &start), 0);
    assert_int_equal(start, UINT64_MAX);
}

static void test_parse_tricky_comm(void **state) {
    (void)state;
    const char *comms[] = {"my prog", ") ", "a) b) c", ")", "((", "x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
                           "tab\there", "new\nline", "", "\xff\xfe"};
    for (size_t i = 0; i < sizeof comms / sizeof comms[0]; i++) {
        char line[512];
        uint64_t start = 0;
        stat_line(line, sizeof line, comms[i], "S", "777");
        if (parse(line, &start) != 0) fail_msg("comm '%s' not parsed", comms[i]);
        assert_int_equal(start, 777);
    }
}

static void test_parse_minimal_lines(void **state) {
    (void)state;
    uint64_t start = 0;
    /* Exactly 22 fields, with and without the newline. */
    const char *l22 = "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555";
    assert_int_equal(parse(l22, &start), 0);
    assert_int_equal(start, 555);
    char with_nl[128];
    snprintf(with_nl, sizeof with_nl, "%s\n", l22);
    assert_int_equal(parse(with_nl, &start), 0);
    assert_int_equal(start, 555);
    /* Only the bytes up to len count: cut inside field 22 and before it. */
    assert_int_equal(parse_n(l22, strlen(l22) - 1, &start), 0);
    assert_int_equal(start, 55);
    assert_int_equal(parse_n(l22, strlen(l22) - 3, &start), EINVAL);
    assert_int_equal(parse_n(l22, strlen(l22) - 4, &start), EINVAL);
}

static void test_parse_malformed(void **state) {
    (void)state;
    const char *bad[] = {
        "",
        "1234",
        "1234 (bash S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555",  /* no ')' */
        "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",           /* 21 fields */
        "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ",          /* field 22 empty */
        "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55x5",      /* not a number */
        "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -555",      /* negative */
        "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551616", /* > UINT64_MAX */
        "1 (c) S  1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 1",      /* two spaces */
        "1 (c) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555",      /* state of two letters */
        "1 (c)S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555",        /* no space after ')' */
        "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \n555",     /* newline ends field 22 early */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t start = 42;
        if (parse(bad[i], &start) != EINVAL) fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(start, 42);
    }
}

/* Every prefix of a real line parses or fails cleanly, never reading past len. */
static void test_parse_every_prefix(void **state) {
    (void)state;
    char line[512];
    stat_line(line, sizeof line, "a) b", "S", "31337");
    size_t full = strlen(line);
    const char *field22 = strstr(line, " 31337 ") + 1;
    size_t end22 = (size_t)(field22 - line) + 5;
    for (size_t len = 0; len <= full; len++) {
        uint64_t start = 0;
        int rc = parse_n(line, len, &start);
        if (len <= (size_t)(field22 - line)) assert_int_equal(rc, EINVAL);
        else if (len >= end22) {
            assert_int_equal(rc, 0);
            assert_int_equal(start, 31337);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * shma__self_identity
 * ------------------------------------------------------------------------------------------- */

static void test_self_identity(void **state) {
    (void)state;
    int64_t pid = 0, pid2 = 0;
    uint64_t start = 0, start2 = 0;
    assert_int_equal(shma__self_identity(&pid, &start), 0);
    assert_int_equal(pid, getpid());
    assert_int_equal(start, read_start_of(getpid()));
    assert_int_equal(shma__self_identity(&pid2, &start2), 0);
    assert_int_equal(pid2, pid);
    assert_int_equal(start2, start);
}

static void *identity_thread(void *arg) {
    uint64_t *start = arg;
    int64_t pid;
    for (int i = 0; i < 1000; i++)
        if (shma__self_identity(&pid, start) != 0 || pid != getpid()) return (void *)1;
    return NULL;
}

static void test_self_identity_threads(void **state) {
    (void)state;
    enum { THREADS = 8 };
    pthread_t threads[THREADS];
    uint64_t starts[THREADS];
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&threads[i], NULL, identity_thread, &starts[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret = (void *)1;
        assert_int_equal(pthread_join(threads[i], &ret), 0);
        assert_null(ret);
    }
    uint64_t start = read_start_of(getpid());
    for (int i = 0; i < THREADS; i++) assert_int_equal(starts[i], start);
}

/* A forked child gets its own identity, not the parent's cached one. Exit status: 0 ok, else
 * the number of the failed check. */
static void test_self_identity_after_fork(void **state) {
    (void)state;
    int64_t parent_pid;
    uint64_t parent_start;
    assert_int_equal(shma__self_identity(&parent_pid, &parent_start), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int64_t pid;
        uint64_t start;
        if (shma__self_identity(&pid, &start) != 0) _exit(1);
        if (pid != getpid() || pid == parent_pid) _exit(2);
        if (start < parent_start) _exit(3);
        if (start != read_start_of(getpid())) _exit(4);
        if (!shma__process_alive(pid, start)) _exit(5);
        if (!shma__process_alive(parent_pid, parent_start)) _exit(6);
        /* The grandchild, forked after this process filled its cache, is again itself. */
        pid_t grandchild = fork();
        if (grandchild < 0) _exit(7);
        if (grandchild == 0) {
            int64_t gpid;
            uint64_t gstart;
            _exit(shma__self_identity(&gpid, &gstart) == 0 && gpid == getpid() && gpid != pid ? 0 : 1);
        }
        int status;
        if (waitpid(grandchild, &status, 0) != grandchild || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            _exit(8);
        _exit(0);
    }
    assert_child_ok(child);
    int64_t pid;
    uint64_t start;
    assert_int_equal(shma__self_identity(&pid, &start), 0);
    assert_int_equal(pid, parent_pid);
    assert_int_equal(start, parent_start);
}

/* ---------------------------------------------------------------------------------------------
 * shma__process_alive
 * ------------------------------------------------------------------------------------------- */

static void test_alive_self(void **state) {
    (void)state;
    int64_t pid;
    uint64_t start;
    assert_int_equal(shma__self_identity(&pid, &start), 0);
    assert_true(shma__process_alive(pid, start));
    assert_false(shma__process_alive(pid, start + 1));
    assert_false(shma__process_alive(pid, start - 1));
    assert_false(shma__process_alive(0, start));
    assert_false(shma__process_alive(-1, start));
    assert_false(shma__process_alive(INT64_MIN, start));
    assert_false(shma__process_alive(INT64_MAX, start));
}

/* A child is alive while it runs, dead as a zombie, and dead once reaped. */
static void test_alive_child_lifecycle(void **state) {
    (void)state;
    int release[2];
    assert_int_equal(pipe(release), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(release[1]);
        char c;
        ssize_t n;
        do n = read(release[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(0);
    }
    close(release[0]);
    uint64_t start = read_start_of(child);
    assert_true(shma__process_alive(child, start));
    assert_false(shma__process_alive(child, start + 1));

    close(release[1]); /* the child's read returns 0 and it exits */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    assert_int_equal(waitid(P_PID, (id_t)child, &info, WEXITED | WNOWAIT), 0);
    assert_false(shma__process_alive(child, start)); /* a zombie now */

    assert_child_ok(child);
    assert_false(shma__process_alive(child, start));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_plain),
        cmocka_unit_test(test_parse_tricky_comm),
        cmocka_unit_test(test_parse_minimal_lines),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_every_prefix),
        cmocka_unit_test(test_self_identity),
        cmocka_unit_test(test_self_identity_threads),
        cmocka_unit_test(test_self_identity_after_fork),
        cmocka_unit_test(test_alive_self),
        cmocka_unit_test(test_alive_child_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
