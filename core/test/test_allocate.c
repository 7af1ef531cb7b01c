/* test_allocate.c: shma_allocate, shma_allocate_ex, shma_allocate_like and their _unsafe
 * variants (array.c, os_posix.c): names, sizes, modes, zero fill, options, and every error
 * path leaving nothing in /dev/shm. */
#include "segutil.h"

#include "internal.h"

#include <sys/resource.h>

static uint64_t segment_size_for(uint64_t nbytes) { return (nbytes + 63) / 64 * 64 + 640; }

static bool is_random_name(const char *name) {
    if (strlen(name) != 29 || strncmp(name, "shma_", 5) != 0) return false;
    for (int i = 5; i < 29; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return false;
    return true;
}

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return false;
    return true;
}

/* Asserts the segment behind `a` is a regular file of mode 0600, owned by us, of the size
 * the data plus trailer need. */
static void assert_segment_file(const shma_array *a) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", shma_name(a));
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal((uint64_t)st.st_size, segment_size_for(shma_nbytes(a)));
}

/* ---------------------------------------------------------------------------------------------
 * Success
 * ------------------------------------------------------------------------------------------- */

static void test_allocate_basic(void **state) {
    (void)state;
    int64_t shape[] = {3, 4};
    shma_array *a = alloc_tracked(NULL, 2, shape, "float64");
    assert_true(is_random_name(shma_name(a)));
    assert_true(shma_is_owner(a));
    assert_int_equal(shma_ndim(a), 2);
    assert_int_equal(shma_shape(a)[0], 3);
    assert_int_equal(shma_shape(a)[1], 4);
    assert_string_equal(shma_dtype_str(a), "<f8");
    assert_int_equal(shma_nbytes(a), 96);
    assert_non_null(shma_data(a));
    assert_int_equal((uintptr_t)shma_data(a) % 64, 0);
    assert_true(all_zero(shma_data(a), 96));
    assert_segment_file(a);

    /* The data is writable through the whole array. */
    double *d = shma_data(a);
    for (int i = 0; i < 12; i++) d[i] = i * 1.5;
    assert_true(d[11] == 16.5);

    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    assert_true(seg_exists(name));
    assert_shma_ok(shma_close(&a));
    assert_null(a);
    assert_false(seg_exists(name));
}

static void test_allocate_names_unique(void **state) {
    (void)state;
    enum { N = 32 };
    shma_array *arrs[N];
    int64_t shape[] = {1};
    for (int i = 0; i < N; i++) {
        arrs[i] = alloc_tracked(NULL, 1, shape, "u1");
        assert_true(is_random_name(shma_name(arrs[i])));
        for (int j = 0; j < i; j++) assert_string_not_equal(shma_name(arrs[i]), shma_name(arrs[j]));
    }
    for (int i = 0; i < N; i++) assert_shma_ok(shma_close(&arrs[i]));
}

/* Segment size = round_up(nbytes, 64) + 640, whatever the data size. */
static void test_segment_sizes(void **state) {
    (void)state;
    const int64_t lens[] = {0, 1, 2, 63, 64, 65, 127, 128, 129, 4095, 4096, 4097, 1 << 20};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        shma_array *a = alloc_tracked(NULL, 1, &lens[i], "u1");
        assert_int_equal(shma_nbytes(a), (size_t)lens[i]);
        assert_segment_file(a);
        assert_int_equal(shm_size(shma_name(a)), (long long)segment_size_for((uint64_t)lens[i]));
        assert_true(all_zero(shma_data(a), (size_t)lens[i]));
        assert_shma_ok(shma_close(&a));
    }
    /* Multi-byte items: (5, 7) int32 = 140 bytes -> 192 + 640. */
    int64_t shape[] = {5, 7};
    shma_array *a = alloc_tracked(NULL, 2, shape, "int32");
    assert_int_equal(shm_size(shma_name(a)), 192 + 640);
    assert_shma_ok(shma_close(&a));
}

static void test_zero_filled_large(void **state) {
    (void)state;
    int64_t shape[] = {under_valgrind() ? 1 << 16 : 1 << 22};
    shma_array *a = alloc_tracked(NULL, 1, shape, "u1");
    assert_true(all_zero(shma_data(a), (size_t)shape[0]));
    memset(shma_data(a), 0xab, (size_t)shape[0]);
    assert_shma_ok(shma_close(&a));
    /* A new array never sees old bytes, even one of the same size made right after. */
    a = alloc_tracked(NULL, 1, shape, "u1");
    assert_true(all_zero(shma_data(a), (size_t)shape[0]));
    assert_shma_ok(shma_close(&a));
}

static void test_zero_size_and_0d(void **state) {
    (void)state;
    int64_t s0[] = {0, 5};
    shma_array *a = alloc_tracked(NULL, 2, s0, "float64");
    assert_int_equal(shma_nbytes(a), 0);
    assert_non_null(shma_data(a));
    assert_int_equal(shma_shape(a)[0], 0);
    assert_int_equal(shma_shape(a)[1], 5);
    assert_int_equal(shm_size(shma_name(a)), 640);
    shma_view v;
    assert_shma_ok(shma_view_of(a, &v));
    assert_int_equal(v.strides[0], 40); /* as NumPy: a zero dim counts as 1 */
    assert_int_equal(v.strides[1], 8);
    assert_shma_ok(shma_close(&a));

    int64_t s1[] = {5, 0};
    a = alloc_tracked(NULL, 2, s1, "int16");
    assert_int_equal(shma_nbytes(a), 0);
    assert_shma_ok(shma_close(&a));

    /* 0-d: one element, shape may be NULL or anything. */
    a = alloc_tracked(NULL, 0, NULL, "float64");
    assert_int_equal(shma_ndim(a), 0);
    assert_int_equal(shma_nbytes(a), 8);
    assert_int_equal(shm_size(shma_name(a)), 64 + 640);
    *(double *)shma_data(a) = 2.5;
    assert_shma_ok(shma_close(&a));
    int64_t ignored[] = {-7};
    a = alloc_tracked(NULL, 0, ignored, "u1");
    assert_int_equal(shma_nbytes(a), 1);
    assert_shma_ok(shma_close(&a));
}

static void test_max_ndim(void **state) {
    (void)state;
    int64_t shape[SHMA_MAX_NDIM + 1];
    for (int k = 0; k <= SHMA_MAX_NDIM; k++) shape[k] = 1;
    shape[0] = 3;
    shape[SHMA_MAX_NDIM - 1] = 2;
    shma_array *a = alloc_tracked(NULL, SHMA_MAX_NDIM, shape, "int32");
    assert_int_equal(shma_ndim(a), SHMA_MAX_NDIM);
    assert_int_equal(shma_nbytes(a), 24);
    shma_info info;
    assert_shma_ok(shma_inspect(shma_name(a), &info));
    assert_int_equal(info.ndim, SHMA_MAX_NDIM);
    assert_int_equal(info.shape[SHMA_MAX_NDIM - 1], 2);
    assert_shma_ok(shma_close(&a));

    shm_listing before = shm_list();
    a = (shma_array *)&before; /* untouched on failure */
    assert_shma_fails(shma_allocate(NULL, SHMA_MAX_NDIM + 1, shape, "int32", &a), SHMA_E_SHAPE,
                      "ndim = 65 is out of range 0..64");
    assert_ptr_equal(a, (shma_array *)&before);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

static void test_dtypes(void **state) {
    (void)state;
    static const struct {
        const char *spelling, *canonical;
        uint32_t itemsize;
    } cases[] = {
        {"float64", "<f8", 8},     {"f8", "<f8", 8},          {"d", "<f8", 8},     {">f8", ">f8", 8},
        {"int32", "<i4", 4},       {"uint8", "|u1", 1},       {"bool", "|b1", 1},  {"?", "|b1", 1},
        {"complex128", "<c16", 16}, {"float16", "<f2", 2},   {">i2", ">i2", 2},   {"S3", "|S3", 3},
        {"U3", "<U3", 12},         {"V5", "|V5", 5},
    };
    int64_t shape[] = {7, 3};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shma_array *a = alloc_tracked(NULL, 2, shape, cases[i].spelling);
        if (strcmp(shma_dtype_str(a), cases[i].canonical) != 0)
            fail_msg("dtype '%s' gave '%s', expected '%s'", cases[i].spelling, shma_dtype_str(a),
                     cases[i].canonical);
        assert_int_equal(shma_nbytes(a), 21 * cases[i].itemsize);
        assert_segment_file(a);
        assert_true(all_zero(shma_data(a), shma_nbytes(a)));
        assert_shma_ok(shma_close(&a));
    }
}

static void test_explicit_name(void **state) {
    (void)state;
    char name[128], slashed[130];
    seg_test_name(name, sizeof name, "explicit");
    int64_t shape[] = {4};
    shma_alloc_opts opts = {name, 0};
    shma_array *a = NULL;
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "int64", &opts, &a));
    assert_string_equal(shma_name(a), name);
    assert_true(shma_is_owner(a));
    assert_segment_file(a);
    ((int64_t *)shma_data(a))[2] = 42;

    /* Taken: SHMA_E_EXISTS naming it, and the first segment is untouched. */
    shm_listing before = shm_list();
    shma_array *b = NULL;
    snprintf(slashed, sizeof slashed, "/%s", name);
    opts.name = slashed;
    assert_shma_fails(shma_allocate_ex(NULL, 1, shape, "int64", &opts, &b), SHMA_E_EXISTS, name);
    assert_null(b);
    assert_shma_fails(shma_allocate_ex(NULL, 2, (int64_t[]){100, 100}, "int64", &opts, &b), SHMA_E_EXISTS,
                      name);
    assert_int_equal(shm_size(name), 64 + 640);
    assert_int_equal(((int64_t *)shma_data(a))[2], 42);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(name));

    /* A leading '/' is dropped. */
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "int64", &opts, &a));
    assert_string_equal(shma_name(a), name);
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(name));

    /* The longest name Linux takes: SHMA_NAME_MAX characters. */
    char longest[SHMA_NAME_MAX + 1];
    int n = snprintf(longest, sizeof longest, "shmatest_%d_long_", (int)getpid());
    memset(longest + n, 'x', (size_t)(SHMA_NAME_MAX - n));
    longest[SHMA_NAME_MAX] = '\0';
    seg_track(longest);
    opts.name = longest;
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "int64", &opts, &a));
    assert_string_equal(shma_name(a), longest);
    assert_true(seg_exists(longest));
    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(longest));
}

static void test_bad_names(void **state) {
    (void)state;
    char too_long[SHMA_NAME_MAX + 2];
    memset(too_long, 'n', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const char *bad[] = {"", "/", "a/b", "/a/b", ".", "..", "/..", "tab\there", "del\x7f", too_long};
    int64_t shape[] = {4};
    shm_listing before = shm_list();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shma_alloc_opts opts = {bad[i], 0};
        shma_array *a = NULL;
        int rc = shma_allocate_ex(NULL, 1, shape, "u1", &opts, &a);
        if (rc != SHMA_E_NAME) fail_msg("name #%zu gave %s (%s)", i, shma_errname(rc), shma_last_error());
        assert_null(a);
    }
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

static void test_options(void **state) {
    (void)state;
    int64_t shape[] = {16};
    shma_array *a = NULL;
    shm_listing before = shm_list();
    shma_alloc_opts opts = {NULL, 0x4};
    assert_shma_fails(shma_allocate_ex(NULL, 1, shape, "u1", &opts, &a), SHMA_E_ARG, "unknown flags 0x4");
    opts.flags = 0x80000000u | SHMA_ALLOC_POPULATE;
    assert_shma_fails(shma_allocate_ex(NULL, 1, shape, "u1", &opts, &a), SHMA_E_ARG, "unknown flags 0x80000000");
    assert_null(a);
    assert_no_new_segments(&before);
    shm_listing_free(&before);

    /* NULL options and empty options behave as shma_allocate. */
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "u1", NULL, &a));
    seg_track(shma_name(a));
    assert_true(is_random_name(shma_name(a)));
    assert_shma_ok(shma_close(&a));
    opts.flags = 0;
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "u1", &opts, &a));
    seg_track(shma_name(a));
    assert_true(is_random_name(shma_name(a)));
    assert_segment_file(a);
    assert_shma_ok(shma_close(&a));
}

static void test_populate(void **state) {
    (void)state;
    int64_t shape[] = {1 << 18};
    shma_alloc_opts opts = {NULL, SHMA_ALLOC_POPULATE};
    shma_array *a = NULL;
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "float32", &opts, &a));
    seg_track(shma_name(a));
    assert_int_equal(shma_nbytes(a), 1 << 20);
    assert_segment_file(a);
    assert_true(all_zero(shma_data(a), shma_nbytes(a)));
    /* Every page is resident straight away. */
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (shma_nbytes(a) + (size_t)page - 1) / (size_t)page;
    unsigned char *vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore(shma_data(a), shma_nbytes(a), vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
    free(vec);
    assert_int_equal(resident, pages);
    ((float *)shma_data(a))[(1 << 18) - 1] = 1.0f;
    assert_shma_ok(shma_close(&a));

    /* With a name, too. */
    char name[128];
    opts.name = seg_test_name(name, sizeof name, "populate");
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "u1", &opts, &a));
    assert_string_equal(shma_name(a), name);
    assert_shma_ok(shma_close(&a));
}

/* Whether the kernel can give huge pages to shared memory at all. */
static bool shmem_thp_on(void) {
    char buf[256] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strchr(buf, '[') && !strstr(buf, "[never]") && !strstr(buf, "[deny]");
}

static void test_hugepages(void **state) {
    (void)state;
    int64_t shape[] = {4 << 20};
    char name[128];
    seg_test_name(name, sizeof name, "huge");
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    for (int with_name = 0; with_name < 2; with_name++) {
        for (int with_mgr = 0; with_mgr < 2; with_mgr++) {
            shma_alloc_opts opts = {with_name ? name : NULL, SHMA_ALLOC_HUGEPAGES | SHMA_ALLOC_POPULATE * with_mgr};
            shma_array *a = NULL;
            shm_listing before = shm_list();
            int rc = shma_allocate_ex(with_mgr ? mgr : NULL, 1, shape, "u1", &opts, &a);
            if (shmem_thp_on()) {
                if (rc != SHMA_OK) fail_msg("THP is on but HUGEPAGES failed: %s", shma_last_error());
                seg_track(shma_name(a));
                assert_true(all_zero(shma_data(a), shma_nbytes(a)));
                assert_shma_ok(shma_close(&a));
            } else {
                if (rc != SHMA_E_UNAVAILABLE)
                    fail_msg("shmem THP is off: expected SHMA_E_UNAVAILABLE, got %s", shma_errname(rc));
                assert_non_null(strstr(shma_last_error(), "shmem_enabled"));
                assert_null(a);
                assert_false(seg_exists(name));
                assert_int_equal(shma_manager_count(mgr), 0);
                assert_no_new_segments(&before);
            }
            shm_listing_free(&before);
        }
    }
    assert_shma_ok(shma_manager_shutdown(&mgr));
}

/* ---------------------------------------------------------------------------------------------
 * Errors: bad arguments, each leaving nothing behind
 * ------------------------------------------------------------------------------------------- */

static void test_bad_dtype(void **state) {
    (void)state;
    int64_t shape[] = {2, 2};
    shm_listing before = shm_list();
    shma_array *a = NULL;
    assert_shma_fails(shma_allocate(NULL, 2, shape, NULL, &a), SHMA_E_ARG, "");
    const char *bad[] = {"", "O", "object", "float65", "i4,f8", "S", "U0", "<>f8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = shma_allocate(NULL, 2, shape, bad[i], &a);
        if (rc != SHMA_E_DTYPE) fail_msg("dtype '%s' gave %s (%s)", bad[i], shma_errname(rc), shma_last_error());
        shma_alloc_opts opts = {NULL, SHMA_ALLOC_POPULATE};
        rc = shma_allocate_ex(NULL, 2, shape, bad[i], &opts, &a);
        if (rc != SHMA_E_DTYPE) fail_msg("dtype '%s' gave %s (%s)", bad[i], shma_errname(rc), shma_last_error());
    }
    assert_null(a);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

static void test_bad_shape(void **state) {
    (void)state;
    shm_listing before = shm_list();
    shma_array *a = NULL;
    assert_shma_fails(shma_allocate(NULL, 2, (int64_t[]){4, -5}, "f8", &a), SHMA_E_SHAPE, "shape[1] = -5 is negative");
    assert_shma_fails(shma_allocate(NULL, 1, (int64_t[]){INT64_MIN}, "f8", &a), SHMA_E_SHAPE, "is negative");
    assert_shma_fails(shma_allocate(NULL, -1, (int64_t[]){1}, "f8", &a), SHMA_E_SHAPE, "ndim = -1");
    assert_shma_fails(shma_allocate(NULL, 2, NULL, "f8", &a), SHMA_E_ARG, "shape is NULL");
    /* product overflow: never wraps to a small allocation */
    assert_shma_fails(shma_allocate(NULL, 2, (int64_t[]){4294967296, 4294967296}, "f8", &a), SHMA_E_OVERFLOW,
                      "overflows");
    assert_shma_fails(shma_allocate(NULL, 3, (int64_t[]){1 << 21, 1 << 21, 1 << 21}, "f8", &a), SHMA_E_OVERFLOW,
                      "overflows");
    assert_shma_fails(shma_allocate(NULL, 1, (int64_t[]){INT64_MAX / 2 + 1}, "i2", &a), SHMA_E_OVERFLOW,
                      "overflows");
    /* data fits int64, data + trailer does not */
    assert_shma_fails(shma_allocate(NULL, 1, (int64_t[]){INT64_MAX}, "u1", &a), SHMA_E_OVERFLOW,
                      "640-byte trailer");
    assert_shma_fails(shma_allocate(NULL, 1, (int64_t[]){INT64_MAX - 100}, "u1", &a), SHMA_E_OVERFLOW,
                      "trailer");
    assert_null(a);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

static void test_null_out(void **state) {
    (void)state;
    int64_t shape[] = {2};
    shm_listing before = shm_list();
    assert_shma_fails(shma_allocate(NULL, 1, shape, "f8", NULL), SHMA_E_ARG, "out is NULL");
    assert_shma_fails(shma_allocate_ex(NULL, 1, shape, "f8", NULL, NULL), SHMA_E_ARG, "out is NULL");
    shma_view v = {NULL, 1, shape, NULL, {"<f8", 'f', '<', 8}};
    assert_shma_fails(shma_allocate_like(NULL, &v, NULL), SHMA_E_ARG, "out is NULL");
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

/* An allocation bigger than /dev/shm is a clean SHMA_E_NOSPC from posix_fallocate. */
static void test_nospc(void **state) {
    (void)state;
    int64_t shape[] = {(int64_t)1 << 50}; /* 1 PiB */
    char name[128];
    seg_test_name(name, sizeof name, "nospc");
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shm_listing before = shm_list();
    shma_array *a = NULL;
    assert_shma_fails(shma_allocate(NULL, 1, shape, "u1", &a), SHMA_E_NOSPC, "cannot reserve");
    assert_shma_fails(shma_allocate(mgr, 1, shape, "u1", &a), SHMA_E_NOSPC, "in /dev/shm");
    shma_alloc_opts opts = {name, 0};
    assert_shma_fails(shma_allocate_ex(NULL, 1, shape, "u1", &opts, &a), SHMA_E_NOSPC, name);
    assert_shma_fails(shma_allocate_ex(mgr, 1, shape, "u1", &opts, &a), SHMA_E_NOSPC, name);
    assert_shma_fails(shma_allocate_unsafe(mgr, 1, shape, "u1", &a), SHMA_E_NOSPC, "cannot reserve");
    assert_null(a);
    assert_int_equal(shma_manager_count(mgr), 0);
    assert_false(seg_exists(name));
    assert_no_new_segments(&before);
    shm_listing_free(&before);
    /* The manager still works afterwards. */
    a = alloc_tracked(mgr, 1, (int64_t[]){8}, "u1");
    assert_int_equal(shma_manager_count(mgr), 1);
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_manager_shutdown(&mgr));
}

/* ftruncate failing (here: RLIMIT_FSIZE, EFBIG) is SHMA_E_NOSPC and unlinks the segment. */
static void test_ftruncate_fails(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "fsize");
    pid_t pid = fork_child();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {4096, 4096};
        CHILD_REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
        shma_array *a = NULL;
        shma_alloc_opts opts = {name, 0};
        CHILD_REQUIRE(shma_allocate_ex(NULL, 1, (int64_t[]){1 << 20}, "u1", &opts, &a) == SHMA_E_NOSPC);
        CHILD_REQUIRE(strstr(shma_last_error(), "errno") != NULL);
        CHILD_REQUIRE(a == NULL);
        CHILD_REQUIRE(!seg_exists(name));
        /* Under the limit it works. */
        CHILD_OK(shma_allocate_ex(NULL, 1, (int64_t[]){1024}, "u1", &opts, &a));
        CHILD_OK(shma_close(&a));
        exit(0);
    }
    assert_child_ok(pid);
    assert_false(seg_exists(name));
}

/* Fills the descriptor table (under a small RLIMIT_NOFILE) with dups of 0; returns the
 * lowest one made, so the caller can free a few. */
static int exhaust_fds(void) {
    int lowest = -1, fd;
    while ((fd = dup(0)) >= 0)
        if (lowest < 0) lowest = fd;
    return errno == EMFILE ? lowest : -1;
}

/* Closes what exhaust_fds() made, so that exit() (and LeakSanitizer's /proc reads) work. */
static void release_fds(int lowest) {
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    for (int fd = lowest; fd < (int)lim.rlim_cur; fd++) close(fd);
}

/* Running out of descriptors: clean errors, nothing left. */
static void test_resource_exhaustion(void **state) {
    (void)state;
    char name[128];
    seg_test_name(name, sizeof name, "emfile");
    pid_t pid = fork_child();
    if (pid == 0) {
        struct rlimit lim;
        CHILD_REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
        lim.rlim_cur = 64;
        CHILD_REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
        /* A fresh child reads its start time from /proc on first use: with no descriptor
         * left, that fails cleanly too. */
        int spare = exhaust_fds();
        CHILD_REQUIRE(spare >= 0);
        shma_array *a = NULL;
        shma_alloc_opts opts = {name, 0};
        CHILD_REQUIRE(shma_allocate_ex(NULL, 1, (int64_t[]){8}, "u1", &opts, &a) == SHMA_E_OS);
        CHILD_REQUIRE(strstr(shma_last_error(), "start time") != NULL);
        close(spare);
        close(spare + 1);
        CHILD_OK(shma_allocate_ex(NULL, 1, (int64_t[]){8}, "u1", &opts, &a));
        CHILD_OK(shma_close(&a));
        /* Now the identity is cached and shm_open itself fails. (Not under valgrind: its
         * descriptor limit is virtual, so the kernel creates the file before valgrind turns
         * the open into EMFILE, which no real kernel does.) */
        if (!under_valgrind()) {
            CHILD_REQUIRE(exhaust_fds() >= 0);
            CHILD_REQUIRE(shma_allocate_ex(NULL, 1, (int64_t[]){8}, "u1", &opts, &a) == SHMA_E_OS);
            CHILD_REQUIRE(strstr(shma_last_error(), "cannot create segment") != NULL);
            CHILD_REQUIRE(strstr(shma_last_error(), "(errno 24)") != NULL);
            CHILD_FAILS(shma_allocate(NULL, 1, (int64_t[]){8}, "u1", &a), SHMA_E_OS, &a);
            CHILD_REQUIRE(a == NULL);
            CHILD_REQUIRE(!seg_exists(name));
        }
        release_fds(spare);
        exit(0);
    }
    assert_child_ok(pid);
    assert_false(seg_exists(name));
}

/* mmap failing after the segment was made (address space exhausted): SHMA_E_NOMEM and the
 * segment is unlinked again, with or without a manager. RLIMIT_AS does not mix with ASan's
 * shadow memory or with valgrind. */
static void test_map_fails(void **state) {
    (void)state;
    if (under_asan() || under_valgrind()) skip();
    char name[128], mgr_name[128];
    seg_test_name(name, sizeof name, "nomap");
    seg_test_name(mgr_name, sizeof mgr_name, "nomapmgr");
    pid_t pid = fork_child();
    if (pid == 0) {
        /* Warm the identity cache and start a manager, then cap the address space near its
         * current size. */
        shma_array *a = NULL;
        CHILD_OK(shma_allocate(NULL, 0, NULL, "u1", &a));
        CHILD_OK(shma_close(&a));
        shma_manager *mgr = NULL;
        CHILD_OK(shma_manager_create(0, &mgr));
        struct rlimit lim = {0, 0};
        CHILD_REQUIRE(getrlimit(RLIMIT_AS, &lim) == 0);
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        CHILD_REQUIRE(f && fscanf(f, "%lu", &pages) == 1);
        fclose(f);
        lim.rlim_cur = pages * (unsigned long)sysconf(_SC_PAGESIZE) + (8u << 20);
        CHILD_REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
        shma_alloc_opts opts = {name, 0};
        CHILD_REQUIRE(shma_allocate_ex(NULL, 1, (int64_t[]){64 << 20}, "u1", &opts, &a) == SHMA_E_NOMEM);
        CHILD_REQUIRE(strstr(shma_last_error(), "cannot map segment") != NULL);
        CHILD_REQUIRE(!seg_exists(name));
        opts.name = mgr_name;
        CHILD_REQUIRE(shma_allocate_ex(mgr, 1, (int64_t[]){64 << 20}, "u1", &opts, &a) == SHMA_E_NOMEM);
        CHILD_REQUIRE(!seg_exists(mgr_name));
        CHILD_REQUIRE(shma_manager_count(mgr) == 0);
        CHILD_REQUIRE(a == NULL);
        lim.rlim_cur = lim.rlim_max;
        CHILD_REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
        CHILD_OK(shma_manager_shutdown(&mgr));
        exit(0);
    }
    assert_child_ok(pid);
    assert_false(seg_exists(name));
    assert_false(seg_exists(mgr_name));
}

/* ---------------------------------------------------------------------------------------------
 * allocate_like
 * ------------------------------------------------------------------------------------------- */

static void test_allocate_like(void **state) {
    (void)state;
    int64_t shape[] = {6, 5, 4};
    shma_array *src = alloc_tracked(NULL, 3, shape, ">i2");
    memset(shma_data(src), 0x5a, shma_nbytes(src));
    shma_view v;
    assert_shma_ok(shma_view_of(src, &v));
    shma_array *a = NULL;
    assert_shma_ok(shma_allocate_like(NULL, &v, &a));
    seg_track(shma_name(a));
    assert_true(is_random_name(shma_name(a)));
    assert_string_not_equal(shma_name(a), shma_name(src));
    assert_true(shma_is_owner(a));
    assert_int_equal(shma_ndim(a), 3);
    assert_memory_equal(shma_shape(a), shape, sizeof shape);
    assert_string_equal(shma_dtype_str(a), ">i2");
    assert_int_equal(shma_nbytes(a), 240);
    assert_true(all_zero(shma_data(a), 240)); /* the source's data is not copied */
    assert_segment_file(a);
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_close(&src));

    /* A hand-made view: data and strides are ignored, even NULL or nonsense. */
    shma_view hv;
    memset(&hv, 0, sizeof hv);
    assert_shma_ok(shma_dtype_parse("U3", &hv.dtype));
    int64_t hshape[] = {2, 0};
    int64_t junk[] = {-1, INT64_MAX};
    hv.ndim = 2;
    hv.shape = hshape;
    hv.strides = junk;
    assert_shma_ok(shma_allocate_like(NULL, &hv, &a));
    seg_track(shma_name(a));
    assert_string_equal(shma_dtype_str(a), "<U3");
    assert_int_equal(shma_nbytes(a), 0);
    assert_shma_ok(shma_close(&a));

    hv.ndim = 0;
    hv.shape = NULL;
    assert_shma_ok(shma_allocate_like(NULL, &hv, &a));
    seg_track(shma_name(a));
    assert_int_equal(shma_nbytes(a), 12);
    assert_shma_ok(shma_close(&a));
}

static void test_allocate_like_errors(void **state) {
    (void)state;
    shm_listing before = shm_list();
    shma_array *a = NULL;
    assert_shma_fails(shma_allocate_like(NULL, NULL, &a), SHMA_E_ARG, "view is NULL");

    shma_view v;
    memset(&v, 0, sizeof v);
    int64_t shape[] = {3, -2};
    v.ndim = 2;
    v.shape = shape;
    /* a dtype not filled by shma_dtype_parse */
    snprintf(v.dtype.str, sizeof v.dtype.str, "zz");
    v.dtype.itemsize = 8;
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_DTYPE, "");
    memset(v.dtype.str, 'f', sizeof v.dtype.str); /* not NUL-terminated */
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_DTYPE, "");
    assert_shma_ok(shma_dtype_parse("f8", &v.dtype));
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_SHAPE, "shape[1] = -2 is negative");
    v.shape = NULL;
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_ARG, "shape is NULL");
    v.ndim = 65;
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_SHAPE, "ndim = 65");
    v.ndim = 2;
    v.shape = (int64_t[]){1 << 20, 1 << 20}; /* 8 TiB */
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_NOSPC, "cannot reserve");
    v.shape = (int64_t[]){(int64_t)1 << 32, (int64_t)1 << 32};
    assert_shma_fails(shma_allocate_like(NULL, &v, &a), SHMA_E_OVERFLOW, "overflows");
    assert_null(a);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

/* ---------------------------------------------------------------------------------------------
 * The unsafe variants give the same results on valid input
 * ------------------------------------------------------------------------------------------- */

static void test_unsafe_same_results(void **state) {
    (void)state;
    const char *dtypes[] = {"float64", "<f8", "f8", "int32", "uint8", "bool", "complex128", ">i2", "S3", "U3"};
    const int64_t shape[] = {3, 0, 5};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        for (int ndim = 0; ndim <= 3; ndim += 1) {
            int64_t s[3] = {3, 4, 5};
            if (ndim == 3) memcpy(s, shape, sizeof s);
            shma_array *safe = alloc_tracked(NULL, ndim, s, dtypes[i]);
            shma_array *fast = NULL;
            int rc = shma_allocate_unsafe(NULL, ndim, s, dtypes[i], &fast);
            if (rc != SHMA_OK) fail_msg("unsafe allocate of '%s' failed: %s", dtypes[i], shma_last_error());
            seg_track(shma_name(fast));
            assert_true(is_random_name(shma_name(fast)));
            assert_true(shma_is_owner(fast));
            assert_int_equal(shma_ndim(fast), ndim);
            assert_string_equal(shma_dtype_str(fast), shma_dtype_str(safe));
            assert_int_equal(shma_nbytes(fast), shma_nbytes(safe));
            if (ndim > 0) assert_memory_equal(shma_shape(fast), shma_shape(safe), (size_t)ndim * sizeof(int64_t));
            assert_segment_file(fast);
            assert_true(all_zero(shma_data(fast), shma_nbytes(fast)));

            /* The trailer is the same, so the safe attach accepts it. */
            shma_info a_info, b_info;
            assert_shma_ok(shma_inspect(shma_name(safe), &a_info));
            assert_shma_ok(shma_inspect(shma_name(fast), &b_info));
            assert_true(b_info.has_meta);
            assert_string_equal(a_info.dtype.str, b_info.dtype.str);
            assert_int_equal(a_info.data_bytes, b_info.data_bytes);
            assert_int_equal(a_info.segment_bytes, b_info.segment_bytes);

            shma_view v;
            assert_shma_ok(shma_view_of(safe, &v));
            shma_array *like = NULL;
            assert_shma_ok(shma_allocate_like_unsafe(NULL, &v, &like));
            seg_track(shma_name(like));
            assert_string_equal(shma_dtype_str(like), shma_dtype_str(safe));
            assert_int_equal(shma_nbytes(like), shma_nbytes(safe));
            assert_segment_file(like);
            shma_view lv;
            assert_shma_ok(shma_view_of(like, &lv));
            if (ndim > 0) assert_memory_equal(lv.strides, v.strides, (size_t)ndim * sizeof(int64_t));

            assert_shma_ok(shma_close(&like));
            assert_shma_ok(shma_close(&fast));
            assert_shma_ok(shma_close(&safe));
        }
    }
}

static void test_unsafe_with_manager_and_errors(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    int64_t shape[] = {10};
    shma_array *a = NULL, *b = NULL;
    assert_shma_ok(shma_allocate_unsafe(mgr, 1, shape, "f8", &a));
    seg_track(shma_name(a));
    shma_view v;
    assert_shma_ok(shma_view_of(a, &v));
    assert_shma_ok(shma_allocate_like_unsafe(mgr, &v, &b));
    seg_track(shma_name(b));
    assert_int_equal(shma_manager_count(mgr), 2);

    /* The unsafe lookup still reports a dtype it does not know; nothing is created. */
    shm_listing before = shm_list();
    shma_array *c = NULL;
    assert_shma_fails(shma_allocate_unsafe(mgr, 1, shape, "no-such-dtype", &c), SHMA_E_DTYPE, "unsafe lookup");
    assert_shma_fails(shma_allocate_unsafe(NULL, 1, shape, "O", &c), SHMA_E_DTYPE, "");
    assert_null(c);
    assert_int_equal(shma_manager_count(mgr), 2);
    assert_no_new_segments(&before);
    shm_listing_free(&before);

    char na[SHMA_NAME_MAX + 1], nb[SHMA_NAME_MAX + 1];
    snprintf(na, sizeof na, "%s", shma_name(a));
    snprintf(nb, sizeof nb, "%s", shma_name(b));
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_false(seg_exists(na));
    assert_false(seg_exists(nb));
    assert_shma_ok(shma_close(&a));
    assert_shma_ok(shma_close(&b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_allocate_basic),
        SEG_TEST(test_allocate_names_unique),
        SEG_TEST(test_segment_sizes),
        SEG_TEST(test_zero_filled_large),
        SEG_TEST(test_zero_size_and_0d),
        SEG_TEST(test_max_ndim),
        SEG_TEST(test_dtypes),
        SEG_TEST(test_explicit_name),
        SEG_TEST(test_bad_names),
        SEG_TEST(test_options),
        SEG_TEST(test_populate),
        SEG_TEST(test_hugepages),
        SEG_TEST(test_bad_dtype),
        SEG_TEST(test_bad_shape),
        SEG_TEST(test_null_out),
        SEG_TEST(test_nospc),
        SEG_TEST(test_ftruncate_fails),
        SEG_TEST(test_resource_exhaustion),
        SEG_TEST(test_map_fails),
        SEG_TEST(test_allocate_like),
        SEG_TEST(test_allocate_like_errors),
        SEG_TEST(test_unsafe_same_results),
        SEG_TEST(test_unsafe_with_manager_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
