/* test_attach.c: shma_attach, shma_attach_name, shma_attach_handle, shma_attach_unsafe,
 * shma_view_of, the accessors and shma_handle_encode (array.c): library segments, foreign
 * segments made with raw shm_open, corrupt trailers, bad names and every error path. */
#include "segutil.h"

#include "internal.h"

#include <sys/resource.h>

/* An owner array (3, 4) float64 holding 0.5, 1.5, ... */
static shma_array *make_owner(void) {
    shma_array *a = alloc_tracked(NULL, 2, (const int64_t[]){3, 4}, "float64");
    double *d = shma_data(a);
    for (int i = 0; i < 12; i++) d[i] = i + 0.5;
    return a;
}

static void assert_pattern(const shma_array *a) {
    const double *d = shma_data(a);
    for (int i = 0; i < 12; i++)
        if (d[i] != i + 0.5) fail_msg("element %d is %g, expected %g", i, d[i], i + 0.5);
}

/* ---------------------------------------------------------------------------------------------
 * shma_attach on library segments
 * ------------------------------------------------------------------------------------------- */

static void test_attach_with_and_without_slash(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char slashed[SHMA_NAME_MAX + 2];
    snprintf(slashed, sizeof slashed, "/%s", shma_name(owner));
    const int64_t shape[] = {3, 4};

    const char *names[] = {shma_name(owner), slashed};
    for (int i = 0; i < 2; i++) {
        shma_array *c = NULL;
        assert_shma_ok(shma_attach(names[i], 2, shape, "float64", &c));
        assert_false(shma_is_owner(c));
        assert_string_equal(shma_name(c), shma_name(owner)); /* without the '/' */
        assert_int_equal(shma_ndim(c), 2);
        assert_memory_equal(shma_shape(c), shape, sizeof shape);
        assert_string_equal(shma_dtype_str(c), "<f8");
        assert_int_equal(shma_nbytes(c), 96);
        assert_pattern(c);
        /* One memory: a write through either mapping shows in the other. */
        ((double *)shma_data(c))[5] = -1.0;
        assert_true(((double *)shma_data(owner))[5] == -1.0);
        ((double *)shma_data(owner))[5] = 5.5;
        assert_true(((double *)shma_data(c))[5] == 5.5);
        /* A client's close only unmaps. */
        assert_shma_ok(shma_close(&c));
        assert_null(c);
        assert_true(seg_exists(shma_name(owner)));
        assert_pattern(owner);
    }
    assert_shma_ok(shma_close(&owner));
}

/* The dtype is compared in canonical form: any spelling of it attaches. */
static void test_attach_dtype_spellings(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    const int64_t shape[] = {3, 4};
    const char *same[] = {"float64", "f8", "<f8", "d", "double", "=f8"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        shma_array *c = NULL;
        int rc = shma_attach(shma_name(owner), 2, shape, same[i], &c);
        if (rc != SHMA_OK) fail_msg("attach as '%s': %s", same[i], shma_last_error());
        assert_string_equal(shma_dtype_str(c), "<f8");
        assert_shma_ok(shma_close(&c));
    }
    assert_shma_ok(shma_close(&owner));
}

static void test_attach_mismatch(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    const char *name = shma_name(owner);
    shma_array *c = (shma_array *)&c, *sentinel = c;
    /* both shapes and both dtypes are named */
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){4, 3}, "float64", &c), SHMA_E_MISMATCH, "(3, 4)");
    assert_non_null(strstr(shma_last_error(), "(4, 3)"));
    assert_non_null(strstr(shma_last_error(), name));
    assert_shma_fails(shma_attach(name, 1, (const int64_t[]){12}, "float64", &c), SHMA_E_MISMATCH, "(12,)");
    assert_non_null(strstr(shma_last_error(), "(3, 4)"));
    assert_shma_fails(shma_attach(name, 0, NULL, "float64", &c), SHMA_E_MISMATCH, "shape ()");
    assert_shma_fails(shma_attach(name, 3, (const int64_t[]){3, 4, 1}, "float64", &c), SHMA_E_MISMATCH,
                      "(3, 4, 1)");
    /* same byte count, other dtype */
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){3, 4}, "int64", &c), SHMA_E_MISMATCH, "<i8");
    assert_non_null(strstr(shma_last_error(), "<f8"));
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){3, 4}, ">f8", &c), SHMA_E_MISMATCH, ">f8");
    /* smaller than the segment is still a mismatch, not a partial view */
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){2, 4}, "float64", &c), SHMA_E_MISMATCH, "(2, 4)");
    assert_ptr_equal(c, sentinel);
    assert_pattern(owner);
    assert_shma_ok(shma_close(&owner));

    /* A 64-d segment: the detail stays bounded and names the segment. */
    int64_t big[SHMA_MAX_NDIM];
    for (int k = 0; k < SHMA_MAX_NDIM; k++) big[k] = 1;
    shma_array *deep = alloc_tracked(NULL, SHMA_MAX_NDIM, big, "u1");
    big[SHMA_MAX_NDIM - 1] = 0;
    assert_shma_fails(shma_attach(shma_name(deep), SHMA_MAX_NDIM, big, "u1", &c), SHMA_E_MISMATCH,
                      shma_name(deep));
    assert_true(strlen(shma_last_error()) < 512);
    assert_shma_ok(shma_close(&deep));
}

static void test_attach_zero_size_and_0d(void **state) {
    (void)state;
    shma_array *empty = alloc_tracked(NULL, 2, (const int64_t[]){0, 7}, "int16");
    shma_array *c = NULL;
    assert_shma_ok(shma_attach(shma_name(empty), 2, (const int64_t[]){0, 7}, "int16", &c));
    assert_int_equal(shma_nbytes(c), 0);
    assert_non_null(shma_data(c));
    assert_shma_ok(shma_close(&c));
    assert_shma_fails(shma_attach(shma_name(empty), 2, (const int64_t[]){7, 0}, "int16", &c), SHMA_E_MISMATCH,
                      "(0, 7)");
    assert_shma_ok(shma_close(&empty));

    shma_array *scalar = alloc_tracked(NULL, 0, NULL, "complex128");
    ((double *)shma_data(scalar))[1] = 3.0;
    assert_shma_ok(shma_attach(shma_name(scalar), 0, NULL, "c16", &c));
    assert_int_equal(shma_ndim(c), 0);
    assert_int_equal(shma_nbytes(c), 16);
    assert_true(((double *)shma_data(c))[1] == 3.0);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&scalar));
}

/* ---------------------------------------------------------------------------------------------
 * shma_attach on foreign segments (no trailer): only the size is checked
 * ------------------------------------------------------------------------------------------- */

static void test_attach_foreign(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "foreign");
    foreign_create(name, 96);
    size_t size;
    unsigned char *raw = raw_map(name, &size);
    for (int i = 0; i < 96; i++) raw[i] = (unsigned char)i;

    shma_array *c = NULL;
    /* exact size */
    assert_shma_ok(shma_attach(name, 2, (const int64_t[]){3, 4}, "float64", &c));
    assert_false(shma_is_owner(c));
    assert_int_equal(shma_nbytes(c), 96);
    assert_memory_equal(shma_data(c), raw, 96);
    ((unsigned char *)shma_data(c))[95] = 0xee;
    assert_int_equal(raw[95], 0xee);
    assert_shma_ok(shma_close(&c));
    /* smaller shapes and other dtypes fit too */
    assert_shma_ok(shma_attach(name, 1, (const int64_t[]){96}, "u1", &c));
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_attach(name, 2, (const int64_t[]){2, 2}, "<i4", &c));
    assert_int_equal(((int32_t *)shma_data(c))[1], 0x07060504);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_attach(name, 0, NULL, "S96", &c));
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_attach(name, 2, (const int64_t[]){0, 1000}, "f8", &c));
    assert_int_equal(shma_nbytes(c), 0);
    assert_shma_ok(shma_close(&c));

    /* one byte too many: SHMA_E_SIZE naming both sizes */
    shma_array *sentinel = (shma_array *)&sentinel;
    c = sentinel;
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){4, 4}, "float64", &c), SHMA_E_SIZE, "holds 96 bytes");
    assert_non_null(strstr(shma_last_error(), "needs 128"));
    assert_non_null(strstr(shma_last_error(), "(4, 4)"));
    assert_shma_fails(shma_attach(name, 1, (const int64_t[]){97}, "u1", &c), SHMA_E_SIZE, "needs 97");
    assert_shma_fails(shma_attach(name, 0, NULL, "S97", &c), SHMA_E_SIZE, "needs 97");
    assert_ptr_equal(c, sentinel);
    munmap(raw, size);
    assert_true(seg_exists(name));
    assert_shma_ok(shma_unlink(name));
}

static void test_attach_foreign_zero_size(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "empty");
    foreign_create(name, 0);
    shma_array *c = NULL;
    assert_shma_ok(shma_attach(name, 1, (const int64_t[]){0}, "f8", &c));
    assert_int_equal(shma_nbytes(c), 0);
    assert_non_null(shma_data(c)); /* non-NULL though nothing is mapped */
    shma_view v;
    assert_shma_ok(shma_view_of(c, &v));
    assert_non_null(v.data);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_attach(name, 3, (const int64_t[]){5, 0, 5}, "u1", &c));
    assert_shma_ok(shma_close(&c));
    assert_shma_fails(shma_attach(name, 0, NULL, "u1", &c), SHMA_E_SIZE, "holds 0 bytes");
    assert_shma_fails(shma_attach(name, 1, (const int64_t[]){1}, "u1", &c), SHMA_E_SIZE, "needs 1");
    assert_shma_fails(shma_attach_name(name, &c), SHMA_E_NOMETA, "");
    assert_null(c);
    assert_true(seg_exists(name));
}

/* A segment bigger than the address space cannot be mapped: a clean SHMA_E_NOMEM. */
static void test_attach_unmappable(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "huge");
    foreign_create(name, (off_t)1 << 62); /* sparse: costs nothing */
    shma_array *c = NULL;
    /* Linux says ENOMEM; valgrind's own mmap says EINVAL, an OS error (not a name error). */
    const int code = under_valgrind() ? SHMA_E_OS : SHMA_E_NOMEM;
    assert_shma_fails(shma_attach(name, 1, (const int64_t[]){8}, "u1", &c), code, "cannot map segment");
    assert_shma_fails(shma_attach_name(name, &c), code, name);
    assert_shma_fails(shma_attach_unsafe(name, 1, (const int64_t[]){8}, "u1", &c), code, "errno");
    assert_null(c);
    assert_true(seg_exists(name));
}

/* Out of memory (address space capped near its current size, the heap used up): attach and
 * manager creation fail with SHMA_E_NOMEM and leak nothing. RLIMIT_AS does not mix with ASan's
 * shadow memory or with valgrind. */
typedef struct chunk {
    struct chunk *next;
} chunk;

static void test_attach_out_of_memory(void **state) {
    (void)state;
    if (under_asan() || under_valgrind()) skip();
    char empty[128], full[128];
    seg_test_name(empty, sizeof empty, "oomempty");
    seg_test_name(full, sizeof full, "oomfull");
    foreign_create(empty, 0);
    foreign_create(full, 1 << 20);
    pid_t pid = fork_child();
    if (pid == 0) {
        struct rlimit lim;
        CHILD_REQUIRE(getrlimit(RLIMIT_AS, &lim) == 0);
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        CHILD_REQUIRE(f && fscanf(f, "%lu", &pages) == 1);
        fclose(f);
        rlim_t saved = lim.rlim_cur;
        lim.rlim_cur = pages * (unsigned long)sysconf(_SC_PAGESIZE) + (1u << 20);
        CHILD_REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
        chunk *hoard = NULL;
        for (chunk *c; (c = malloc(64)) != NULL;) {
            c->next = hoard;
            hoard = c;
        }
        shma_array *a = NULL;
        int rc_empty = shma_attach(empty, 1, (const int64_t[]){0}, "u1", &a);
        int rc_full = shma_attach(full, 1, (const int64_t[]){8}, "u1", &a);
        shma_manager *mgr = NULL;
        int rc_mgr = shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr);
        while (hoard) {
            chunk *next = hoard->next;
            free(hoard);
            hoard = next;
        }
        lim.rlim_cur = saved;
        CHILD_REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
        CHILD_REQUIRE(rc_empty == SHMA_E_NOMEM);
        CHILD_REQUIRE(rc_full == SHMA_E_NOMEM);
        CHILD_REQUIRE(rc_mgr == SHMA_E_NOMEM);
        CHILD_REQUIRE(a == NULL && mgr == NULL);
        exit(0);
    }
    assert_child_ok(pid);
    assert_true(seg_exists(empty));
    assert_true(seg_exists(full));
}

/* ---------------------------------------------------------------------------------------------
 * Names and other bad arguments
 * ------------------------------------------------------------------------------------------- */

static void test_attach_missing(void **state) {
    (void)state;
    char name[128], slashed[130];
    seg_test_name(name, sizeof name, "missing");
    snprintf(slashed, sizeof slashed, "/%s", name);
    shma_array *c = NULL;
    assert_shma_fails(shma_attach(name, 1, (const int64_t[]){1}, "u1", &c), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_attach(slashed, 1, (const int64_t[]){1}, "u1", &c), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_attach_name(name, &c), SHMA_E_NOTFOUND, name);
    assert_shma_fails(shma_attach_unsafe(slashed, 1, (const int64_t[]){1}, "u1", &c), SHMA_E_NOTFOUND, name);
    assert_null(c);
    assert_false(seg_exists(name)); /* attach never creates */
}

static void test_attach_bad_names(void **state) {
    (void)state;
    char too_long[SHMA_NAME_MAX + 2], too_long_slashed[SHMA_NAME_MAX + 3];
    memset(too_long, 'n', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    snprintf(too_long_slashed, sizeof too_long_slashed, "/%s", too_long);
    const char *bad[] = {"", "/", "//", "a/b", "/a/b", "a/", ".", "..", "/.", "/..", "new\nline", "\x1b", too_long,
                         too_long_slashed};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shma_array *c = NULL;
        int rc = shma_attach(bad[i], 1, (const int64_t[]){1}, "u1", &c);
        if (rc != SHMA_E_NAME) fail_msg("attach name #%zu gave %s (%s)", i, shma_errname(rc), shma_last_error());
        rc = shma_attach_name(bad[i], &c);
        if (rc != SHMA_E_NAME) fail_msg("attach_name #%zu gave %s (%s)", i, shma_errname(rc), shma_last_error());
        assert_null(c);
    }
    shma_array *c = NULL;
    assert_shma_fails(shma_attach(NULL, 1, (const int64_t[]){1}, "u1", &c), SHMA_E_ARG, "name is NULL");
    assert_shma_fails(shma_attach_name(NULL, &c), SHMA_E_ARG, "name is NULL");
    assert_shma_fails(shma_attach("x", 1, (const int64_t[]){1}, "u1", NULL), SHMA_E_ARG, "out is NULL");
    assert_shma_fails(shma_attach_name("x", NULL), SHMA_E_ARG, "out is NULL");
    assert_null(c);
}

static void test_attach_bad_shape_dtype(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    const char *name = shma_name(owner);
    shma_array *c = NULL;
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){3, -4}, "f8", &c), SHMA_E_SHAPE, "shape[1] = -4");
    assert_shma_fails(shma_attach(name, 2, NULL, "f8", &c), SHMA_E_ARG, "shape is NULL");
    assert_shma_fails(shma_attach(name, 65, (const int64_t[]){1}, "f8", &c), SHMA_E_SHAPE, "ndim = 65");
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){(int64_t)1 << 32, (int64_t)1 << 32}, "f8", &c),
                      SHMA_E_OVERFLOW, "overflows");
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){3, 4}, "O", &c), SHMA_E_DTYPE, "");
    assert_shma_fails(shma_attach(name, 2, (const int64_t[]){3, 4}, NULL, &c), SHMA_E_ARG, "");
    assert_null(c);
    assert_shma_ok(shma_close(&owner));
}

/* ---------------------------------------------------------------------------------------------
 * Corrupt trailers
 * ------------------------------------------------------------------------------------------- */

static void test_attach_corrupt_trailer(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(owner));
    size_t size;
    unsigned char *raw = raw_map(name, &size);
    assert_int_equal(size, 128 + 640);
    unsigned char *trailer = raw + size - 640;
    assert_memory_equal(trailer, "SHMATRLR", 8);
    const int64_t shape[] = {3, 4};

    /* A byte flipped anywhere past the magic: SHMA_E_CORRUPT from every reader. */
    const size_t offsets[] = {8, 12, 16, 24, 40, 44, 48, 49, 63, 64, 72, 600, 631, 632, 639};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        trailer[offsets[i]] ^= 0x41;
        shma_array *c = NULL;
        int rc = shma_attach(name, 2, shape, "float64", &c);
        if (rc != SHMA_E_CORRUPT)
            fail_msg("flipped trailer byte %zu: attach gave %s (%s)", offsets[i], shma_errname(rc), shma_last_error());
        assert_non_null(strstr(shma_last_error(), "trailer"));
        rc = shma_attach_name(name, &c);
        if (rc != SHMA_E_CORRUPT)
            fail_msg("flipped trailer byte %zu: attach_name gave %s", offsets[i], shma_errname(rc));
        char handle[SHMA_HANDLE_MAX];
        size_t len;
        assert_shma_ok(shma_handle_encode(owner, handle, sizeof handle, &len));
        rc = shma_attach_handle(handle, len, &c);
        if (rc != SHMA_E_CORRUPT)
            fail_msg("flipped trailer byte %zu: attach_handle gave %s", offsets[i], shma_errname(rc));
        assert_null(c);
        trailer[offsets[i]] ^= 0x41;
        /* restored: fine again */
        assert_shma_ok(shma_attach(name, 2, shape, "float64", &c));
        assert_shma_ok(shma_close(&c));
    }

    /* A flipped magic byte makes the segment foreign: no metadata, only the size check. */
    trailer[3] ^= 0x20;
    shma_array *c = NULL;
    assert_shma_fails(shma_attach_name(name, &c), SHMA_E_NOMETA, "no shmanager metadata");
    assert_shma_ok(shma_attach(name, 1, (const int64_t[]){size}, "u1", &c));
    assert_shma_ok(shma_close(&c));
    assert_shma_fails(shma_attach(name, 1, (const int64_t[]){size + 1}, "u1", &c), SHMA_E_SIZE, "");
    trailer[3] ^= 0x20;

    /* The data itself is free to hold anything. */
    memset(raw, 0xff, 96);
    assert_shma_ok(shma_attach_name(name, &c));
    assert_shma_ok(shma_close(&c));
    munmap(raw, size);
    assert_shma_ok(shma_close(&owner));
}

/* A segment resized by someone else no longer ends in its trailer. */
static void test_attach_resized_segment(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%s", shma_name(owner));
    int fd = shm_open(path, O_RDWR, 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 128 + 640 + 64), 0);
    close(fd);
    shma_array *c = NULL;
    assert_shma_fails(shma_attach_name(shma_name(owner), &c), SHMA_E_NOMETA, "");
    /* Attached with a shape, it is a plain buffer again. */
    assert_shma_ok(shma_attach(shma_name(owner), 2, (const int64_t[]){3, 4}, "float64", &c));
    assert_pattern(c);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&owner));
}

/* ---------------------------------------------------------------------------------------------
 * shma_attach_name
 * ------------------------------------------------------------------------------------------- */

static void test_attach_name(void **state) {
    (void)state;
    const struct {
        int ndim;
        int64_t shape[3];
        const char *dtype, *canonical;
    } cases[] = {
        {2, {3, 4}, "float64", "<f8"}, {0, {0}, "int8", "|i1"},  {3, {2, 0, 5}, "U3", "<U3"},
        {1, {7}, ">u2", ">u2"},        {3, {2, 3, 4}, "S3", "|S3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shma_array *owner = alloc_tracked(NULL, cases[i].ndim, cases[i].shape, cases[i].dtype);
        memset(shma_data(owner), 0x3c, shma_nbytes(owner));
        char slashed[SHMA_NAME_MAX + 2];
        snprintf(slashed, sizeof slashed, "/%s", shma_name(owner));
        for (int s = 0; s < 2; s++) {
            shma_array *c = NULL;
            assert_shma_ok(shma_attach_name(s ? slashed : shma_name(owner), &c));
            assert_false(shma_is_owner(c));
            assert_string_equal(shma_name(c), shma_name(owner));
            assert_int_equal(shma_ndim(c), cases[i].ndim);
            if (cases[i].ndim > 0)
                assert_memory_equal(shma_shape(c), cases[i].shape, (size_t)cases[i].ndim * sizeof(int64_t));
            assert_string_equal(shma_dtype_str(c), cases[i].canonical);
            assert_int_equal(shma_nbytes(c), shma_nbytes(owner));
            if (shma_nbytes(c) > 0) assert_memory_equal(shma_data(c), shma_data(owner), shma_nbytes(c));
            shma_view v, w;
            assert_shma_ok(shma_view_of(c, &v));
            assert_shma_ok(shma_view_of(owner, &w));
            if (cases[i].ndim > 0) assert_memory_equal(v.strides, w.strides, (size_t)cases[i].ndim * sizeof(int64_t));
            assert_shma_ok(shma_close(&c));
        }
        assert_shma_ok(shma_close(&owner));
    }
}

static void test_attach_name_foreign_and_tiny(void **state) {
    (void)state;
    char big[128], tiny[128], edge[128];
    seg_test_name(big, sizeof big, "fbig");
    seg_test_name(tiny, sizeof tiny, "ftiny");
    seg_test_name(edge, sizeof edge, "fedge");
    foreign_create(big, 4096);
    foreign_create(tiny, 10);
    foreign_create(edge, 640); /* exactly a trailer's size, all zero */
    shma_array *c = NULL;
    assert_shma_fails(shma_attach_name(big, &c), SHMA_E_NOMETA, "attach it with an explicit shape and dtype");
    assert_shma_fails(shma_attach_name(tiny, &c), SHMA_E_NOMETA, tiny);
    assert_shma_fails(shma_attach_name(edge, &c), SHMA_E_NOMETA, "no shmanager metadata");
    assert_null(c);
    /* they still attach with an explicit shape */
    assert_shma_ok(shma_attach(tiny, 1, (const int64_t[]){10}, "u1", &c));
    assert_shma_ok(shma_close(&c));
}

/* ---------------------------------------------------------------------------------------------
 * Handles
 * ------------------------------------------------------------------------------------------- */

static void test_attach_handle_round_trip(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char h[SHMA_HANDLE_MAX];
    size_t len = 0;
    assert_shma_ok(shma_handle_encode(owner, h, sizeof h, &len));
    char expect[SHMA_HANDLE_MAX];
    snprintf(expect, sizeof expect, "shma1;<f8;3,4;%s", shma_name(owner));
    assert_string_equal(h, expect);
    assert_int_equal(len, strlen(expect));

    shma_array *c = NULL;
    assert_shma_ok(shma_attach_handle(h, len, &c));
    assert_false(shma_is_owner(c));
    assert_string_equal(shma_name(c), shma_name(owner));
    assert_int_equal(shma_ndim(c), 2);
    assert_string_equal(shma_dtype_str(c), "<f8");
    assert_pattern(c);
    /* a client's handle is the same string */
    char h2[SHMA_HANDLE_MAX];
    assert_shma_ok(shma_handle_encode(c, h2, sizeof h2, NULL));
    assert_string_equal(h2, h);
    assert_shma_ok(shma_close(&c));

    /* with its NUL, and with a newline as read from a pipe */
    assert_shma_ok(shma_attach_handle(h, len + 1, &c));
    assert_shma_ok(shma_close(&c));
    char line[SHMA_HANDLE_MAX + 1];
    snprintf(line, sizeof line, "%s\n", h);
    assert_shma_ok(shma_attach_handle(line, len + 1, &c));
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&owner));

    /* 0-d and empty arrays */
    shma_array *scalar = alloc_tracked(NULL, 0, NULL, "bool");
    assert_shma_ok(shma_handle_encode(scalar, h, sizeof h, &len));
    assert_non_null(strstr(h, "shma1;|b1;;"));
    assert_shma_ok(shma_attach_handle(h, len, &c));
    assert_int_equal(shma_ndim(c), 0);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&scalar));
    shma_array *empty = alloc_tracked(NULL, 2, (const int64_t[]){4, 0}, "u1");
    assert_shma_ok(shma_handle_encode(empty, h, sizeof h, &len));
    assert_shma_ok(shma_attach_handle(h, len, &c));
    assert_int_equal(shma_nbytes(c), 0);
    assert_shma_ok(shma_close(&c));
    assert_shma_ok(shma_close(&empty));

    /* a handle to a foreign segment, written by hand */
    char fname[128];
    seg_test_name(fname, sizeof fname, "fhandle");
    foreign_create(fname, 96);
    snprintf(h, sizeof h, "shma1;<f8;12;%s", fname);
    assert_shma_ok(shma_attach_handle(h, strlen(h), &c));
    assert_int_equal(shma_nbytes(c), 96);
    assert_shma_ok(shma_close(&c));
    snprintf(h, sizeof h, "shma1;<f8;13;%s", fname);
    assert_shma_fails(shma_attach_handle(h, strlen(h), &c), SHMA_E_SIZE, "needs 104");
}

static void test_attach_handle_errors(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char good[SHMA_HANDLE_MAX], buf[SHMA_HANDLE_MAX];
    size_t len;
    assert_shma_ok(shma_handle_encode(owner, good, sizeof good, &len));
    shma_array *c = NULL;

    const char *malformed[] = {
        "",
        "garbage",
        "shma2;<f8;3,4;x",
        "shma1;",
        "shma1;<f8;3,4",
        "shma1;<f8;3,4;",
        "shma1;zz;3,4;x",
        "shma1;float64;3,4;x", /* not the canonical dtype spelling */
        "shma1;<f8;3,-4;x",
        "shma1;<f8;3,,4;x",
        "shma1;<f8;03,4;x",
        "shma1;<f8;3,4;/x",
        "shma1;<f8;3,4;a/b",
        "shma1;<f8;4611686018427387904,4;x", /* shape x itemsize overflows */
        "shma1;<O;3;x",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        int rc = shma_attach_handle(malformed[i], strlen(malformed[i]), &c);
        if (rc != SHMA_E_HANDLE)
            fail_msg("handle \"%s\" gave %s (%s)", malformed[i], shma_errname(rc), shma_last_error());
    }
    /* cut short anywhere: malformed (or, cut inside the name, naming another segment) */
    for (size_t cut = 0; cut < len; cut++) {
        int rc = shma_attach_handle(good, cut, &c);
        if (rc != SHMA_E_HANDLE && rc != SHMA_E_NOTFOUND)
            fail_msg("handle cut to %zu bytes gave %s", cut, shma_errname(rc));
    }
    /* an embedded NUL */
    memcpy(buf, good, len + 1);
    buf[len - 3] = '\0';
    assert_shma_fails(shma_attach_handle(buf, len, &c), SHMA_E_HANDLE, "");
    assert_null(c);

    /* well-formed, but wrong about the segment */
    snprintf(buf, sizeof buf, "shma1;<f8;4,3;%s", shma_name(owner));
    assert_shma_fails(shma_attach_handle(buf, strlen(buf), &c), SHMA_E_MISMATCH, "(3, 4)");
    snprintf(buf, sizeof buf, "shma1;<i8;3,4;%s", shma_name(owner));
    assert_shma_fails(shma_attach_handle(buf, strlen(buf), &c), SHMA_E_MISMATCH, "<i8");
    snprintf(buf, sizeof buf, "shma1;<f8;3,4;shmatest_%d_nosuch", (int)getpid());
    assert_shma_fails(shma_attach_handle(buf, strlen(buf), &c), SHMA_E_NOTFOUND, "nosuch");

    assert_shma_fails(shma_attach_handle(NULL, 5, &c), SHMA_E_ARG, "");
    assert_shma_fails(shma_attach_handle(good, len, NULL), SHMA_E_ARG, "out is NULL");
    assert_null(c);
    assert_shma_ok(shma_close(&owner));
}

static void test_handle_encode_errors(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char buf[SHMA_HANDLE_MAX];
    size_t len = 77;
    assert_shma_fails(shma_handle_encode(NULL, buf, sizeof buf, &len), SHMA_E_ARG, "array is NULL");
    assert_shma_fails(shma_handle_encode(owner, NULL, sizeof buf, &len), SHMA_E_ARG, "buf is NULL");
    size_t need = 6 + 4 + 4 + strlen(shma_name(owner)); /* "shma1;" "<f8;" "3,4;" name */
    memset(buf, 'z', sizeof buf);
    assert_shma_fails(shma_handle_encode(owner, buf, need, &len), SHMA_E_BUFSIZE, "");
    assert_shma_fails(shma_handle_encode(owner, buf, 0, &len), SHMA_E_BUFSIZE, "");
    assert_int_equal(buf[0], 'z'); /* untouched */
    assert_int_equal(len, 77);
    assert_shma_ok(shma_handle_encode(owner, buf, need + 1, &len));
    assert_int_equal(len, need);
    assert_int_equal(buf[need], '\0');

    /* encode then decode gives back the array's fields */
    shma_handle h;
    assert_shma_ok(shma_handle_decode(buf, len, &h));
    assert_string_equal(h.name, shma_name(owner));
    assert_string_equal(h.dtype.str, "<f8");
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[0], 3);
    assert_int_equal(h.shape[1], 4);
    assert_shma_ok(shma_close(&owner));
}

/* ---------------------------------------------------------------------------------------------
 * shma_attach_unsafe
 * ------------------------------------------------------------------------------------------- */

static void test_attach_unsafe(void **state) {
    (void)state;
    shma_array *owner = make_owner();
    char slashed[SHMA_NAME_MAX + 2];
    snprintf(slashed, sizeof slashed, "/%s", shma_name(owner));
    const int64_t shape[] = {3, 4};
    const char *names[] = {shma_name(owner), slashed};
    for (int i = 0; i < 2; i++) {
        shma_array *safe = NULL, *fast = NULL;
        assert_shma_ok(shma_attach(names[i], 2, shape, "float64", &safe));
        assert_shma_ok(shma_attach_unsafe(names[i], 2, shape, "float64", &fast));
        assert_false(shma_is_owner(fast));
        assert_string_equal(shma_name(fast), shma_name(safe));
        assert_int_equal(shma_ndim(fast), 2);
        assert_memory_equal(shma_shape(fast), shma_shape(safe), sizeof shape);
        assert_string_equal(shma_dtype_str(fast), shma_dtype_str(safe));
        assert_int_equal(shma_nbytes(fast), shma_nbytes(safe));
        assert_pattern(fast);
        shma_view a, b;
        assert_shma_ok(shma_view_of(safe, &a));
        assert_shma_ok(shma_view_of(fast, &b));
        assert_memory_equal(a.strides, b.strides, sizeof shape);
        char ha[SHMA_HANDLE_MAX], hb[SHMA_HANDLE_MAX];
        assert_shma_ok(shma_handle_encode(safe, ha, sizeof ha, NULL));
        assert_shma_ok(shma_handle_encode(fast, hb, sizeof hb, NULL));
        assert_string_equal(ha, hb);
        assert_shma_ok(shma_close(&fast));
        assert_shma_ok(shma_close(&safe));
    }
    /* Metadata is not compared: a shape that fits the mapping attaches. */
    shma_array *fast = NULL;
    assert_shma_ok(shma_attach_unsafe(shma_name(owner), 1, (const int64_t[]){12}, "f8", &fast));
    assert_true(((double *)shma_data(fast))[11] == 11.5);
    assert_shma_ok(shma_close(&fast));
    /* zero-size foreign segment */
    char fname[128];
    seg_test_name(fname, sizeof fname, "ufempty");
    foreign_create(fname, 0);
    assert_shma_ok(shma_attach_unsafe(fname, 1, (const int64_t[]){0}, "u1", &fast));
    assert_int_equal(shma_nbytes(fast), 0);
    assert_non_null(shma_data(fast));
    assert_shma_ok(shma_close(&fast));
    /* A dtype the lookup does not know is still an error. */
    assert_shma_fails(shma_attach_unsafe(shma_name(owner), 2, shape, "no-such-dtype", &fast), SHMA_E_DTYPE,
                      "unsafe lookup");
    assert_null(fast);
    assert_shma_ok(shma_close(&owner));
}

/* ---------------------------------------------------------------------------------------------
 * Views and accessors
 * ------------------------------------------------------------------------------------------- */

static void test_view_of(void **state) {
    (void)state;
    const int64_t shape[] = {3, 4, 5};
    shma_array *a = alloc_tracked(NULL, 3, shape, ">i4");
    shma_view v;
    memset(&v, 0xcd, sizeof v);
    assert_shma_ok(shma_view_of(a, &v));
    assert_ptr_equal(v.data, shma_data(a));
    assert_int_equal(v.ndim, 3);
    assert_ptr_equal(v.shape, shma_shape(a));
    assert_memory_equal(v.shape, shape, sizeof shape);
    assert_int_equal(v.strides[0], 80);
    assert_int_equal(v.strides[1], 20);
    assert_int_equal(v.strides[2], 4);
    assert_string_equal(v.dtype.str, ">i4");
    assert_int_equal(v.dtype.kind, 'i');
    assert_int_equal(v.dtype.byteorder, '>');
    assert_int_equal(v.dtype.itemsize, 4);
    /* O(1): the same pointers every time */
    shma_view w;
    assert_shma_ok(shma_view_of(a, &w));
    assert_ptr_equal(w.shape, v.shape);
    assert_ptr_equal(w.strides, v.strides);

    /* A client's view is the same memory. */
    shma_array *c = NULL;
    assert_shma_ok(shma_attach_name(shma_name(a), &c));
    assert_shma_ok(shma_view_of(c, &w));
    assert_memory_equal(w.strides, v.strides, 3 * sizeof(int64_t));
    ((int32_t *)w.data)[59] = 1234;
    assert_int_equal(((int32_t *)v.data)[59], 1234);
    assert_shma_ok(shma_close(&c));

    memset(&w, 0xab, sizeof w);
    shma_view saved = w;
    assert_shma_fails(shma_view_of(NULL, &w), SHMA_E_ARG, "array is NULL");
    assert_shma_fails(shma_view_of(a, NULL), SHMA_E_ARG, "out is NULL");
    assert_shma_fails(shma_view_of(NULL, NULL), SHMA_E_ARG, "");
    assert_memory_equal(&w, &saved, sizeof w);
    assert_shma_ok(shma_close(&a));

    a = alloc_tracked(NULL, 0, NULL, "f2");
    assert_shma_ok(shma_view_of(a, &v));
    assert_int_equal(v.ndim, 0);
    assert_ptr_equal(v.data, shma_data(a));
    assert_shma_ok(shma_close(&a));
}

static void test_accessors(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
    shma_array *a = alloc_tracked(mgr, 2, (const int64_t[]){5, 6}, "uint16");
    assert_int_equal(strlen(shma_name(a)), 29);
    assert_int_equal(shma_ndim(a), 2);
    assert_int_equal(shma_shape(a)[0], 5);
    assert_int_equal(shma_shape(a)[1], 6);
    assert_string_equal(shma_dtype_str(a), "<u2");
    assert_int_equal(shma_nbytes(a), 60);
    assert_true(shma_is_owner(a));
    assert_non_null(shma_data(a));
    shma_array *c = NULL;
    assert_shma_ok(shma_attach(shma_name(a), 2, (const int64_t[]){5, 6}, "u2", &c));
    assert_false(shma_is_owner(c));
    assert_ptr_not_equal(shma_data(c), shma_data(a)); /* a mapping of its own */
    assert_shma_ok(shma_close(&c));
    /* after the manager's shutdown the array owns nothing */
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_false(shma_is_owner(a));
    assert_int_equal(shma_nbytes(a), 60);
    ((uint16_t *)shma_data(a))[29] = 7;
    assert_shma_ok(shma_close(&a));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_attach_with_and_without_slash),
        SEG_TEST(test_attach_dtype_spellings),
        SEG_TEST(test_attach_mismatch),
        SEG_TEST(test_attach_zero_size_and_0d),
        SEG_TEST(test_attach_foreign),
        SEG_TEST(test_attach_foreign_zero_size),
        SEG_TEST(test_attach_unmappable),
        SEG_TEST(test_attach_out_of_memory),
        SEG_TEST(test_attach_missing),
        SEG_TEST(test_attach_bad_names),
        SEG_TEST(test_attach_bad_shape_dtype),
        SEG_TEST(test_attach_corrupt_trailer),
        SEG_TEST(test_attach_resized_segment),
        SEG_TEST(test_attach_name),
        SEG_TEST(test_attach_name_foreign_and_tiny),
        SEG_TEST(test_attach_handle_round_trip),
        SEG_TEST(test_attach_handle_errors),
        SEG_TEST(test_handle_encode_errors),
        SEG_TEST(test_attach_unsafe),
        SEG_TEST(test_view_of),
        SEG_TEST(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
