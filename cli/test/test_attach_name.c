/*
 * test_attach_name.c: attach by name alone across processes (issue 7), and the creator
 * liveness that `shmanager ls` and `gc` rely on.
 *
 * A process that knows only a segment's name gets the right shape and dtype, whichever side
 * of a fork made it and whether its creator still runs, has exited, or was SIGKILLed; a wrong
 * shape or dtype is caught even when the byte count matches; a foreign segment is
 * SHMA_E_NOMETA and a scribbled trailer SHMA_E_CORRUPT. Children report through their exit
 * status; synchronisation is by pipes and waitid(), never by sleeping.
 */
#include "segutil.h"

#include <sys/wait.h>

/* Arrays a child deliberately leaves open when it exits, so its segment outlives it. Kept in
 * a global so leak checkers count them as reachable. */
static shma_array *left_open;

/* Fills a C-contiguous int32 array with 7 * i + 3. */
static void fill_i32(shma_array *a) {
    int32_t *p = shma_data(a);
    size_t n = shma_nbytes(a) / sizeof *p;
    for (size_t i = 0; i < n; i++) p[i] = (int32_t)(7 * i + 3);
}

static bool is_filled_i32(const shma_array *a) {
    const int32_t *p = shma_data(a);
    size_t n = shma_nbytes(a) / sizeof *p;
    for (size_t i = 0; i < n; i++)
        if (p[i] != (int32_t)(7 * i + 3)) return false;
    return true;
}

static bool same_shape(const shma_array *a, int ndim, const int64_t *shape) {
    if (shma_ndim(a) != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (shma_shape(a)[i] != shape[i]) return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * The parent creates, a child attaches by name
 * ------------------------------------------------------------------------------------------- */

static void test_child_attaches_by_name(void **state) {
    (void)state;
    const int64_t shape[] = {3, 5};
    shma_array *a = alloc_tracked(NULL, 2, shape, "int32");
    fill_i32(a);
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));

    pid_t pid = fork_child();
    if (pid == 0) {
        shma_array *b = NULL;
        CHILD_OK(shma_attach_name(name, &b));
        CHILD_REQUIRE(same_shape(b, 2, shape));
        CHILD_REQUIRE(strcmp(shma_dtype_str(b), "<i4") == 0);
        CHILD_REQUIRE(shma_nbytes(b) == 60);
        CHILD_REQUIRE(!shma_is_owner(b));
        CHILD_REQUIRE(is_filled_i32(b));
        ((int32_t *)shma_data(b))[14] = -1; /* the parent sees this */
        CHILD_OK(shma_close(&b));
        /* With the leading '/', as POSIX spells it. */
        char slashed[SHMA_NAME_MAX + 2];
        snprintf(slashed, sizeof slashed, "/%s", name);
        CHILD_OK(shma_attach_name(slashed, &b));
        CHILD_REQUIRE(same_shape(b, 2, shape));
        CHILD_OK(shma_close(&b));
        exit(0);
    }
    assert_child_ok(pid);
    assert_int_equal(((int32_t *)shma_data(a))[14], -1);
    assert_true(seg_exists(name)); /* a client's close never unlinks */
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(name));
}

/* Every kind of dtype and the edge shapes (0-d, empty, many dimensions) come back exactly. */
static void test_shapes_and_dtypes_by_name(void **state) {
    (void)state;
    static const char *const dtypes[] = {"float64", ">f4", "|b1", "int8", ">u2", "c16", "S7", "<U3", "V16",
                                         "M8[ns]", ">m8[s]", "float16"};
    enum { NDTYPES = sizeof dtypes / sizeof dtypes[0] };
    int64_t many[SHMA_MAX_NDIM];
    for (int i = 0; i < SHMA_MAX_NDIM; i++) many[i] = i % 3 == 0 ? 2 : 1;
    const struct {
        int ndim;
        const int64_t *shape;
    } shapes[] = {
        {0, NULL},
        {1, (int64_t[]){0}},
        {2, (int64_t[]){0, 4}},
        {1, (int64_t[]){1000}},
        {3, (int64_t[]){2, 3, 4}},
        {SHMA_MAX_NDIM, many},
    };
    enum { NSHAPES = sizeof shapes / sizeof shapes[0] };
    static shma_array *arrays[NDTYPES * NSHAPES];
    static char names[NDTYPES * NSHAPES][SHMA_NAME_MAX + 1];
    static char dtype_strs[NDTYPES * NSHAPES][SHMA_DTYPE_STR_MAX];
    int n = 0;
    for (int d = 0; d < NDTYPES; d++)
        for (int s = 0; s < NSHAPES; s++, n++) {
            arrays[n] = alloc_tracked(NULL, shapes[s].ndim, shapes[s].shape, dtypes[d]);
            snprintf(names[n], sizeof names[n], "%s", shma_name(arrays[n]));
            snprintf(dtype_strs[n], sizeof dtype_strs[n], "%s", shma_dtype_str(arrays[n]));
        }

    pid_t pid = fork_child();
    if (pid == 0) {
        for (int i = 0; i < n; i++) {
            const int s = i % NSHAPES;
            shma_array *b = NULL;
            CHILD_OK(shma_attach_name(names[i], &b));
            CHILD_REQUIRE(same_shape(b, shapes[s].ndim, shapes[s].shape));
            CHILD_REQUIRE(strcmp(shma_dtype_str(b), dtype_strs[i]) == 0);
            /* What attach by name found also attaches explicitly. */
            shma_array *c = NULL;
            CHILD_OK(shma_attach(names[i], shapes[s].ndim, shapes[s].shape, dtype_strs[i], &c));
            CHILD_REQUIRE(shma_nbytes(c) == shma_nbytes(b));
            CHILD_OK(shma_close(&c));
            CHILD_OK(shma_close(&b));
        }
        exit(0);
    }
    assert_child_ok(pid);
    for (int i = 0; i < n; i++) assert_shma_ok(shma_close(&arrays[i]));
}

/* ---------------------------------------------------------------------------------------------
 * A child creates, the parent attaches by name: creator alive, exited, killed
 * ------------------------------------------------------------------------------------------- */

/* Forks a child that allocates a (4, 6) int32 array, fills it, sends its name through a pipe
 * and then, per `then`, waits for a byte and closes it ('c'), waits and exits without closing
 * ('l'), or waits forever ('w', to be killed). */
static pid_t spawn_creator(char then, char name[SHMA_NAME_MAX + 1], int *go_fd) {
    int to_parent[2], to_child[2];
    make_pipe(to_parent);
    make_pipe(to_child);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(to_parent[0]);
        close(to_child[1]);
        shma_array *a = NULL;
        CHILD_OK(shma_allocate(NULL, 2, (int64_t[]){4, 6}, "int32", &a));
        fill_i32(a);
        CHILD_REQUIRE(send_str(to_parent[1], shma_name(a)));
        char go;
        if (then == 'w') {
            for (;;) pause();
        }
        CHILD_REQUIRE(read_full(to_child[0], &go, 1));
        if (then == 'c') CHILD_OK(shma_close(&a));
        else left_open = a;
        exit(0);
    }
    close(to_parent[1]);
    close(to_child[0]);
    bool got = recv_str(to_parent[0], name, SHMA_NAME_MAX + 1);
    close(to_parent[0]);
    if (!got) {
        kill(pid, SIGKILL);
        wait_status(pid);
        fail_msg("the creator child sent no name");
    }
    seg_track(name);
    *go_fd = to_child[1];
    return pid;
}

/* Waits until the child has exited but leaves it a zombie (WNOWAIT), so that its pid still
 * exists: the liveness check must not take a zombie for its creator. */
static void wait_exited_not_reaped(pid_t pid) {
    siginfo_t info;
    int r;
    do r = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
    while (r < 0 && errno == EINTR);
    assert_int_equal(r, 0);
}

static void assert_attach_4x6(const char *name) {
    shma_array *b = NULL;
    assert_shma_ok(shma_attach_name(name, &b));
    assert_true(same_shape(b, 2, (int64_t[]){4, 6}));
    assert_string_equal(shma_dtype_str(b), "<i4");
    assert_true(is_filled_i32(b));
    assert_false(shma_is_owner(b));
    assert_shma_ok(shma_close(&b));
}

static void test_parent_attaches_live_creators_array(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    int go;
    pid_t pid = spawn_creator('c', name, &go);
    assert_attach_4x6(name);
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_true(info.has_meta);
    assert_int_equal(info.creator_pid, pid);
    assert_true(info.creator_alive);
    assert_true(write_full(go, "x", 1));
    close(go);
    assert_child_ok(pid);
    assert_false(seg_exists(name)); /* the creator's close unlinked it */
    shma_array *b = NULL;
    assert_shma_fails(shma_attach_name(name, &b), SHMA_E_NOTFOUND, name);
}

static void test_attach_after_creator_exited(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    int go;
    pid_t pid = spawn_creator('l', name, &go);
    assert_true(write_full(go, "x", 1));
    close(go);
    wait_exited_not_reaped(pid);
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_int_equal(info.creator_pid, pid);
    assert_false(info.creator_alive); /* a zombie is not alive */
    assert_child_ok(pid);
    assert_shma_ok(shma_inspect(name, &info));
    assert_false(info.creator_alive);
    assert_attach_4x6(name); /* the data outlives its creator */
    assert_shma_ok(shma_unlink(name));
    assert_false(seg_exists(name));
}

static void test_attach_after_creator_killed(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    int go;
    pid_t pid = spawn_creator('w', name, &go);
    close(go);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = wait_status(pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_true(info.has_meta);
    assert_int_equal(info.creator_pid, pid);
    assert_false(info.creator_alive);
    assert_attach_4x6(name);
    assert_shma_ok(shma_unlink(name));
}

/* ---------------------------------------------------------------------------------------------
 * What attach catches, in another process
 * ------------------------------------------------------------------------------------------- */

/* Wrong shape or dtype is caught even when the byte count is the same. */
static void test_wrong_shape_or_dtype_caught(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 2, (int64_t[]){4, 6}, "float64");
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    pid_t pid = fork_child();
    if (pid == 0) {
        shma_array *b = NULL;
        CHILD_REQUIRE(shma_attach(name, 2, (int64_t[]){6, 4}, "float64", &b) == SHMA_E_MISMATCH);
        CHILD_REQUIRE(strstr(shma_last_error(), "(4, 6)") && strstr(shma_last_error(), "(6, 4)"));
        CHILD_REQUIRE(shma_attach(name, 1, (int64_t[]){24}, "float64", &b) == SHMA_E_MISMATCH);
        CHILD_REQUIRE(strstr(shma_last_error(), "(24,)") != NULL);
        CHILD_REQUIRE(shma_attach(name, 2, (int64_t[]){4, 6}, "int64", &b) == SHMA_E_MISMATCH);
        CHILD_REQUIRE(strstr(shma_last_error(), "<i8") && strstr(shma_last_error(), "<f8"));
        CHILD_REQUIRE(shma_attach(name, 2, (int64_t[]){4, 6}, ">f8", &b) == SHMA_E_MISMATCH);
        CHILD_REQUIRE(shma_attach(name, 2, (int64_t[]){4, 12}, "float32", &b) == SHMA_E_MISMATCH);
        CHILD_REQUIRE(shma_attach(name, 2, (int64_t[]){2, 6}, "float64", &b) == SHMA_E_MISMATCH);
        CHILD_REQUIRE(b == NULL);
        CHILD_OK(shma_attach(name, 2, (int64_t[]){4, 6}, "f8", &b));
        CHILD_OK(shma_close(&b));
        exit(0);
    }
    assert_child_ok(pid);
    assert_shma_ok(shma_close(&a));
}

/* A segment another program made has no metadata: attach by name refuses it, naming it;
 * an explicit shape still attaches within its size. */
static void test_foreign_segment_has_no_meta(void **state) {
    (void)state;
    char small[128], big[128];
    seg_test_name(small, sizeof small, "foreign_small");
    seg_test_name(big, sizeof big, "foreign_big");
    foreign_create(small, 100);
    foreign_create(big, 1 << 16);
    pid_t pid = fork_child();
    if (pid == 0) {
        shma_array *b = NULL;
        CHILD_REQUIRE(shma_attach_name(small, &b) == SHMA_E_NOMETA);
        CHILD_REQUIRE(strstr(shma_last_error(), small) != NULL);
        CHILD_REQUIRE(shma_attach_name(big, &b) == SHMA_E_NOMETA);
        CHILD_REQUIRE(strstr(shma_last_error(), big) != NULL);
        CHILD_REQUIRE(b == NULL);
        CHILD_OK(shma_attach(small, 2, (int64_t[]){5, 20}, "u1", &b));
        CHILD_OK(shma_close(&b));
        CHILD_REQUIRE(shma_attach(small, 1, (int64_t[]){101}, "u1", &b) == SHMA_E_SIZE);
        shma_info info;
        CHILD_OK(shma_inspect(big, &info));
        CHILD_REQUIRE(!info.has_meta && info.segment_bytes == 1 << 16 && !info.creator_alive);
        exit(0);
    }
    assert_child_ok(pid);
    assert_true(seg_exists(small) && seg_exists(big)); /* attaching never removes */
}

/* A scribbled trailer is SHMA_E_CORRUPT for attach by name, attach and inspect, in any process. */
static void test_corrupt_trailer_caught(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 1, (int64_t[]){10}, "int32");
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    size_t size;
    unsigned char *map = raw_map(name, &size);
    map[size - 1] ^= 0x5a; /* the last byte is the trailer's, whatever the layout */
    pid_t pid = fork_child();
    if (pid == 0) {
        shma_array *b = NULL;
        CHILD_REQUIRE(shma_attach_name(name, &b) == SHMA_E_CORRUPT);
        CHILD_REQUIRE(shma_attach(name, 1, (int64_t[]){10}, "int32", &b) == SHMA_E_CORRUPT);
        shma_info info;
        CHILD_REQUIRE(shma_inspect(name, &info) == SHMA_E_CORRUPT);
        exit(0);
    }
    assert_child_ok(pid);
    map[size - 1] ^= 0x5a;
    munmap(map, size);
    shma_array *b = NULL;
    assert_shma_ok(shma_attach_name(name, &b));
    assert_shma_ok(shma_close(&b));
    assert_shma_ok(shma_close(&a));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_child_attaches_by_name),
        SEG_TEST(test_shapes_and_dtypes_by_name),
        SEG_TEST(test_parent_attaches_live_creators_array),
        SEG_TEST(test_attach_after_creator_exited),
        SEG_TEST(test_attach_after_creator_killed),
        SEG_TEST(test_wrong_shape_or_dtype_caught),
        SEG_TEST(test_foreign_segment_has_no_meta),
        SEG_TEST(test_corrupt_trailer_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
