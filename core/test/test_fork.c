/* test_fork.c: visibility between processes. A forked child attaches the parent's array by
 * handle (sent through a pipe, as a worker gets it) and by name, and each side sees the
 * other's writes while both are attached; a child's array is attached by the parent; an
 * inherited mapping is shared too. Children report through their exit status; the two sides
 * step through each phase over pipes, never by sleeping. */
#include "segutil.h"

#define ROWS 64
#define COLS 48

static double cell(int r, int c, int round) { return round * 100000.0 + r * 1000.0 + c; }

static void fill(double *d, int round) {
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) d[r * COLS + c] = cell(r, c, round);
}

static bool holds(const double *d, int round) {
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            if (d[r * COLS + c] != cell(r, c, round)) return false;
    return true;
}

static void assert_holds(const double *d, int round) {
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            if (d[r * COLS + c] != cell(r, c, round))
                fail_msg("[%d, %d] = %g, expected %g (round %d)", r, c, d[r * COLS + c], cell(r, c, round), round);
}

/* One line ending in '\n' (kept), as a worker reads a handle from a pipe. */
static size_t read_line(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        if (!read_full(fd, buf + n, 1)) break;
        if (buf[n++] == '\n') break;
    }
    buf[n] = '\0';
    return n;
}

static void step(int fd) {
    if (!write_full(fd, "s", 1)) fail_msg("pipe write failed");
}
static void wait_step(int fd) {
    char c;
    if (!read_full(fd, &c, 1)) fail_msg("the child ended early");
}
static void child_step(int fd) { CHILD_REQUIRE(write_full(fd, "s", 1)); }
static void child_wait_step(int fd) {
    char c;
    CHILD_REQUIRE(read_full(fd, &c, 1));
}

enum how { BY_HANDLE, BY_NAME, BY_NAME_SLASH_SHAPE };

/* The child's way of attaching to what the parent sent. */
static int child_attach(enum how how, int fd, shma_array **out) {
    char line[SHMA_HANDLE_MAX + 2];
    size_t n = read_line(fd, line, sizeof line);
    if (n == 0) return SHMA_E_ARG;
    if (how == BY_HANDLE) return shma_attach_handle(line, n, out); /* with its '\n' */
    line[n - 1] = '\0';
    if (how == BY_NAME) return shma_attach_name(line, out);
    char slashed[SHMA_NAME_MAX + 2];
    snprintf(slashed, sizeof slashed, "/%.*s", SHMA_NAME_MAX, line);
    return shma_attach(slashed, 2, (const int64_t[]){ROWS, COLS}, "float64", out);
}

/* The parent's array, and what the child needs to find it. */
static void send_ref(enum how how, int fd, const shma_array *a) {
    char line[SHMA_HANDLE_MAX + 2];
    size_t len = 0;
    if (how == BY_HANDLE) assert_shma_ok(shma_handle_encode(a, line, sizeof line, &len));
    else len = (size_t)snprintf(line, sizeof line, "%s", shma_name(a));
    line[len++] = '\n';
    assert_true(write_full(fd, line, len));
}

/* ---------------------------------------------------------------------------------------------
 * Parent writes, child reads; child writes, parent reads: both while attached
 * ------------------------------------------------------------------------------------------- */

static void both_directions(enum how how) {
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *a = alloc_tracked(mgr, 2, (const int64_t[]){ROWS, COLS}, "float64");
    double *d = shma_data(a);
    fill(d, 1);

    int to_child[2], to_parent[2];
    make_pipe(to_child);
    make_pipe(to_parent);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        shma_array *c = NULL;
        CHILD_OK(child_attach(how, to_child[0], &c));
        CHILD_REQUIRE(!shma_is_owner(c));
        CHILD_REQUIRE(shma_ndim(c) == 2 && shma_shape(c)[0] == ROWS && shma_shape(c)[1] == COLS);
        CHILD_REQUIRE(strcmp(shma_dtype_str(c), "<f8") == 0);
        double *cd = shma_data(c);
        CHILD_REQUIRE(holds(cd, 1)); /* written before the attach */
        child_step(to_parent[1]);
        child_wait_step(to_child[0]);
        CHILD_REQUIRE(holds(cd, 2)); /* written by the parent after the attach */
        fill(cd, 3);                 /* for the parent to see */
        child_step(to_parent[1]);
        child_wait_step(to_child[0]);
        CHILD_OK(shma_close(&c));
        exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    send_ref(how, to_child[1], a);
    wait_step(to_parent[0]);
    fill(d, 2);
    step(to_child[1]);
    wait_step(to_parent[0]);
    assert_holds(d, 3); /* the child's writes, while it is still attached */
    step(to_child[1]);
    assert_child_ok(pid);
    assert_holds(d, 3); /* and after it closed and exited */
    assert_true(seg_exists(shma_name(a)));
    close(to_child[1]);
    close(to_parent[0]);
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_manager_shutdown(&mgr));
}

static void test_fork_by_handle(void **state) {
    (void)state;
    both_directions(BY_HANDLE);
}

static void test_fork_by_name(void **state) {
    (void)state;
    both_directions(BY_NAME);
}

static void test_fork_by_name_with_shape(void **state) {
    (void)state;
    both_directions(BY_NAME_SLASH_SHAPE);
}

/* A child that writes, closes and exits before the parent looks. */
static void test_fork_child_writes_then_exits(void **state) {
    (void)state;
    const enum how hows[] = {BY_HANDLE, BY_NAME};
    for (int h = 0; h < 2; h++) {
        shma_array *a = alloc_tracked(NULL, 2, (const int64_t[]){ROWS, COLS}, "float64");
        int to_child[2];
        make_pipe(to_child);
        pid_t pid = fork_child();
        if (pid == 0) {
            close(to_child[1]);
            CHILD_OK(shma_close(&a)); /* drop the inherited copy: only the attach is used */
            shma_array *c = NULL;
            CHILD_OK(child_attach(hows[h], to_child[0], &c));
            fill(shma_data(c), 7 + h);
            CHILD_OK(shma_close(&c));
            exit(0);
        }
        close(to_child[0]);
        send_ref(hows[h], to_child[1], a);
        close(to_child[1]);
        assert_child_ok(pid);
        assert_holds(shma_data(a), 7 + h);
        assert_true(seg_exists(shma_name(a)));
        assert_shma_ok(shma_close(&a));
    }
}

/* ---------------------------------------------------------------------------------------------
 * The other way round: the child owns the array and the parent attaches
 * ------------------------------------------------------------------------------------------- */

static void test_fork_parent_attaches_child_array(void **state) {
    (void)state;
    char name[128]; /* chosen here and tracked, so a failing child leaves nothing behind */
    seg_test_name(name, sizeof name, "childowned");
    int to_child[2], to_parent[2];
    make_pipe(to_child);
    make_pipe(to_parent);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        shma_array *a = NULL;
        shma_alloc_opts opts = {name, 0};
        CHILD_OK(shma_allocate_ex(NULL, 2, (const int64_t[]){ROWS, COLS}, "float64", &opts, &a));
        fill(shma_data(a), 4);
        char h[SHMA_HANDLE_MAX + 1];
        size_t len;
        CHILD_OK(shma_handle_encode(a, h, sizeof h - 1, &len));
        h[len++] = '\n';
        CHILD_REQUIRE(write_full(to_parent[1], h, len));
        child_wait_step(to_child[0]);
        CHILD_REQUIRE(holds(shma_data(a), 5)); /* the parent's write */
        CHILD_OK(shma_close(&a));               /* the owner unlinks */
        exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char line[SHMA_HANDLE_MAX + 2];
    size_t n = read_line(to_parent[0], line, sizeof line);
    assert_true(n > 1);
    shma_handle h;
    assert_shma_ok(shma_handle_decode(line, n, &h));
    assert_string_equal(h.name, name);

    shma_array *by_handle = NULL, *by_name = NULL;
    assert_shma_ok(shma_attach_handle(line, n, &by_handle));
    assert_shma_ok(shma_attach_name(h.name, &by_name));
    assert_false(shma_is_owner(by_handle));
    assert_holds(shma_data(by_handle), 4);
    assert_holds(shma_data(by_name), 4);
    shma_info info;
    assert_shma_ok(shma_inspect(h.name, &info));
    assert_int_equal(info.creator_pid, pid);
    assert_true(info.creator_alive);
    fill(shma_data(by_name), 5);
    assert_holds(shma_data(by_handle), 5);
    step(to_child[1]);
    assert_child_ok(pid);
    assert_false(seg_exists(h.name)); /* the child's close unlinked it */
    assert_holds(shma_data(by_handle), 5); /* our mappings outlive the name */
    assert_shma_ok(shma_close(&by_handle));
    assert_shma_ok(shma_close(&by_name));
    close(to_child[1]);
    close(to_parent[0]);
}

/* ---------------------------------------------------------------------------------------------
 * An inherited mapping (no attach at all) is the same shared memory
 * ------------------------------------------------------------------------------------------- */

static void test_fork_inherited_mapping(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 2, (const int64_t[]){ROWS, COLS}, "float64");
    double *d = shma_data(a);
    int to_child[2], to_parent[2];
    make_pipe(to_child);
    make_pipe(to_parent);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        child_wait_step(to_child[0]);
        CHILD_REQUIRE(holds(d, 8)); /* written by the parent after the fork */
        fill(d, 9);
        child_step(to_parent[1]);
        exit(0); /* without closing: the child's copy never unlinks */
    }
    close(to_child[0]);
    close(to_parent[1]);
    fill(d, 8);
    step(to_child[1]);
    wait_step(to_parent[0]);
    assert_holds(d, 9);
    assert_child_ok(pid);
    assert_true(seg_exists(shma_name(a)));
    close(to_child[1]);
    close(to_parent[0]);
    assert_shma_ok(shma_close(&a));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_fork_by_handle),
        SEG_TEST(test_fork_by_name),
        SEG_TEST(test_fork_by_name_with_shape),
        SEG_TEST(test_fork_child_writes_then_exits),
        SEG_TEST(test_fork_parent_attaches_child_array),
        SEG_TEST(test_fork_inherited_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
