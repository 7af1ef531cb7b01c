/* test_inspect.c: shma_inspect and shma_unlink (array.c): metadata fields, the creator's
 * liveness (self, an exited child, a reused pid), foreign, tiny and corrupt segments, names. */
#include "segutil.h"

#include "internal.h"

/* This process's start time, field 22 of /proc/self/stat, read independently of proc.c. */
static uint64_t my_start_time(void) {
    char text[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    assert_true(n > 0);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    assert_non_null(p);
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        assert_non_null(p);
        p++;
    }
    return strtoull(p, NULL, 10);
}

static void test_inspect_meta(void **state) {
    (void)state;
    const int64_t shape[] = {10, 20, 3};
    shma_array *a = alloc_tracked(NULL, 3, shape, ">c8");
    shma_info info;
    memset(&info, 0xee, sizeof info);
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_string_equal(info.name, shma_name(a));
    assert_true(info.has_meta);
    assert_int_equal(info.segment_bytes, 4800 + 640);
    assert_int_equal(info.data_bytes, 4800);
    assert_string_equal(info.dtype.str, ">c8");
    assert_int_equal(info.dtype.kind, 'c');
    assert_int_equal(info.dtype.byteorder, '>');
    assert_int_equal(info.dtype.itemsize, 8);
    assert_int_equal(info.ndim, 3);
    assert_memory_equal(info.shape, shape, sizeof shape);
    for (int k = 3; k < SHMA_MAX_NDIM; k++) assert_int_equal(info.shape[k], 0);
    assert_int_equal(info.creator_pid, getpid());
    assert_int_equal(info.creator_start, my_start_time());
    assert_true(info.creator_alive);

    /* with a leading '/', through a client, and after writes to the data */
    char slashed[SHMA_NAME_MAX + 2];
    snprintf(slashed, sizeof slashed, "/%s", shma_name(a));
    memset(shma_data(a), 0xff, shma_nbytes(a));
    shma_info again;
    assert_shma_ok(shma_inspect(slashed, &again));
    assert_string_equal(again.name, info.name);
    assert_int_equal(again.segment_bytes, info.segment_bytes);
    assert_true(again.has_meta);
    assert_string_equal(again.dtype.str, info.dtype.str);
    assert_int_equal(again.ndim, info.ndim);
    assert_memory_equal(again.shape, info.shape, sizeof info.shape);
    assert_int_equal(again.data_bytes, info.data_bytes);
    assert_int_equal(again.creator_pid, info.creator_pid);
    assert_int_equal(again.creator_start, info.creator_start);
    assert_true(again.creator_alive);
    assert_shma_ok(shma_close(&a));
    assert_shma_fails(shma_inspect(slashed, &again), SHMA_E_NOTFOUND, "");

    /* 0-d and empty */
    a = alloc_tracked(NULL, 0, NULL, "u1");
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_true(info.has_meta);
    assert_int_equal(info.ndim, 0);
    assert_int_equal(info.data_bytes, 1);
    assert_int_equal(info.segment_bytes, 704);
    assert_shma_ok(shma_close(&a));
    a = alloc_tracked(NULL, 1, (const int64_t[]){0}, "f8");
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_int_equal(info.data_bytes, 0);
    assert_int_equal(info.segment_bytes, 640);
    assert_shma_ok(shma_close(&a));
}

/* A segment made by a child: alive while the child runs, not alive once it exited, both as
 * a zombie and after it was reaped. */
static void test_inspect_creator_alive(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "creator");
    int ready[2], go[2];
    make_pipe(ready);
    make_pipe(go);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        shma_alloc_opts opts = {name, 0};
        shma_array *a = NULL;
        CHILD_OK(shma_allocate_ex(NULL, 1, (const int64_t[]){3}, "f4", &opts, &a));
        CHILD_REQUIRE(write_full(ready[1], "r", 1));
        char c;
        CHILD_REQUIRE(!read_full(go[0], &c, 1)); /* EOF: the parent is done looking */
        /* leave without closing: a standalone owner's segment outlives its process */
        exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_true(read_full(ready[0], &c, 1));
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_true(info.has_meta);
    assert_int_equal(info.creator_pid, pid);
    assert_true(info.creator_alive);
    uint64_t start = info.creator_start;
    close(go[1]);
    close(ready[0]);

    /* exited but not yet reaped (a zombie) */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    assert_shma_ok(shma_inspect(name, &info));
    assert_int_equal(info.creator_pid, pid);
    assert_int_equal(info.creator_start, start);
    assert_false(info.creator_alive);
    assert_child_ok(pid);
    assert_shma_ok(shma_inspect(name, &info));
    assert_false(info.creator_alive);
    assert_true(seg_exists(name));
    assert_shma_ok(shma_unlink(name));
}

/* A pid that is alive but started at another time (a reused pid) is not the creator. */
static void test_inspect_reused_pid(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 1, (const int64_t[]){4}, "u1");
    size_t size;
    unsigned char *raw = raw_map(shma_name(a), &size);
    shma_meta m;
    memset(&m, 0, sizeof m);
    assert_shma_ok(shma_dtype_parse("u1", &m.dtype));
    m.ndim = 1;
    m.shape[0] = 4;
    m.data_bytes = 4;
    m.creator_pid = getpid();
    m.creator_start = my_start_time() + 1;
    shma__trailer_encode(&m, raw + size - SHMA_TRAILER_SIZE);
    shma_info info;
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_true(info.has_meta);
    assert_int_equal(info.creator_pid, getpid());
    assert_false(info.creator_alive);
    /* a pid that does not exist (beyond pid_max) */
    m.creator_pid = (int64_t)1 << 40;
    shma__trailer_encode(&m, raw + size - SHMA_TRAILER_SIZE);
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_false(info.creator_alive);
    munmap(raw, size);
    assert_shma_ok(shma_close(&a));
}

static void test_inspect_foreign(void **state) {
    (void)state;
    const off_t sizes[] = {0, 10, 639, 640, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[128];
        seg_test_name(name, sizeof name, "finspect");
        foreign_create(name, sizes[i]);
        shma_info info;
        memset(&info, 0xee, sizeof info);
        assert_shma_ok(shma_inspect(name, &info));
        assert_string_equal(info.name, name);
        assert_int_equal(info.segment_bytes, (uint64_t)sizes[i]);
        assert_false(info.has_meta);
        assert_int_equal(info.ndim, 0);
        assert_int_equal(info.data_bytes, 0);
        assert_int_equal(info.creator_pid, 0);
        assert_int_equal(info.creator_start, 0);
        assert_false(info.creator_alive);
        assert_int_equal(info.dtype.itemsize, 0);
        assert_int_equal(info.dtype.str[0], '\0');
        assert_shma_ok(shma_unlink(name));
    }
}

static void test_inspect_corrupt(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 2, (const int64_t[]){2, 2}, "i8");
    size_t size;
    unsigned char *raw = raw_map(shma_name(a), &size);
    raw[size - 640 + 100] ^= 1; /* a shape byte past ndim */
    shma_info info;
    memset(&info, 0xee, sizeof info);
    assert_shma_fails(shma_inspect(shma_name(a), &info), SHMA_E_CORRUPT, "trailer");
    assert_false(info.has_meta);
    assert_int_equal(info.segment_bytes, size);
    assert_string_equal(info.name, shma_name(a));
    assert_int_equal(info.ndim, 0);
    assert_int_equal(info.creator_pid, 0);
    raw[size - 640 + 100] ^= 1;
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_true(info.has_meta);
    munmap(raw, size);
    assert_shma_ok(shma_close(&a));
}

/* shma_inspect promises to read size and metadata "without mapping its data": a segment too
 * big to map (here a sparse 4 EiB one) must still be inspectable. */
static void test_inspect_unmappable_segment(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "finhuge");
    foreign_create(name, (off_t)1 << 62);
    shma_info info;
    memset(&info, 0, sizeof info);
    int rc = shma_inspect(name, &info);
    if (rc != SHMA_OK)
        fail_msg("inspect of a %llu-byte segment failed with %s (%s): did it map the segment?",
                 1ull << 62, shma_errname(rc), shma_last_error());
    assert_int_equal(info.segment_bytes, 1ull << 62);
    assert_false(info.has_meta);
}

static void test_inspect_errors(void **state) {
    (void)state;
    shma_info info;
    memset(&info, 0xee, sizeof info);
    shma_info saved = info;
    char name[128];
    seg_test_name(name, sizeof name, "nosuch");
    assert_shma_fails(shma_inspect(name, &info), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_inspect(NULL, &info), SHMA_E_ARG, "name is NULL");
    assert_shma_fails(shma_inspect("", &info), SHMA_E_NAME, "empty");
    assert_shma_fails(shma_inspect("a/b", &info), SHMA_E_NAME, "'/'");
    assert_shma_fails(shma_inspect("..", &info), SHMA_E_NAME, "");
    assert_memory_equal(&info, &saved, sizeof info);
    assert_shma_fails(shma_inspect(name, NULL), SHMA_E_ARG, "out is NULL");
}

static void test_unlink(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 1, (const int64_t[]){16}, "u1");
    memset(shma_data(a), 9, 16);
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    shma_array *c = NULL;
    assert_shma_ok(shma_attach_name(name, &c));

    assert_shma_ok(shma_unlink(name));
    assert_false(seg_exists(name));
    assert_shma_fails(shma_unlink(name), SHMA_E_NOTFOUND, name);
    /* mappings stay valid; new attaches fail */
    assert_int_equal(((unsigned char *)shma_data(c))[15], 9);
    ((unsigned char *)shma_data(a))[0] = 1;
    assert_int_equal(((unsigned char *)shma_data(c))[0], 1);
    shma_array *d = NULL;
    assert_shma_fails(shma_attach_name(name, &d), SHMA_E_NOTFOUND, name);
    /* the owner's close of an already-unlinked segment is not an error */
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&a));

    /* with a leading '/', and on a foreign segment */
    char fname[128], slashed[130];
    seg_test_name(fname, sizeof fname, "funlink");
    foreign_create(fname, 1);
    snprintf(slashed, sizeof slashed, "/%s", fname);
    assert_shma_ok(shma_unlink(slashed));
    assert_false(seg_exists(fname));
    assert_shma_fails(shma_unlink(slashed), SHMA_E_NOTFOUND, "");

    assert_shma_fails(shma_unlink(NULL), SHMA_E_ARG, "name is NULL");
    assert_shma_fails(shma_unlink(""), SHMA_E_NAME, "");
    assert_shma_fails(shma_unlink("/"), SHMA_E_NAME, "");
    assert_shma_fails(shma_unlink("x/y"), SHMA_E_NAME, "");
    assert_shma_fails(shma_unlink("."), SHMA_E_NAME, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_inspect_meta),
        SEG_TEST(test_inspect_creator_alive),
        SEG_TEST(test_inspect_reused_pid),
        SEG_TEST(test_inspect_foreign),
        SEG_TEST(test_inspect_corrupt),
        SEG_TEST(test_inspect_unmappable_segment),
        SEG_TEST(test_inspect_errors),
        SEG_TEST(test_unlink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
