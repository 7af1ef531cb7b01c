/*
 * test_fill.c: the routes by which allocate and copy fill a fresh segment (fill.c), each
 * checked byte for byte against shma__copy_to_contiguous() and for its trailer:
 *   - zeros: one pwrite of zeros and trailer (small), or fallocate then the trailer (large);
 *   - a contiguous copy: one pwrite of data, padding and trailer;
 *   - a strided copy: gathered a chunk at a time, in one chunk or many, including rows longer
 *     than a chunk, which are gathered in pieces;
 *   - a copy of 4 MiB or more, contiguous or strided, split between this thread (writing the
 *     front) and a second one (faulting the back in and copying through the mapping): every
 *     8 MiB-and-larger case below, its split landing mid-row for the odd shapes;
 * and the failures each route must report cleanly, leaving nothing in /dev/shm: a full file
 * system part-way through a write, and unreadable source memory.
 */
#include "segutil.h"

#include "internal.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>

#define MIB (1024 * 1024)

/* A deterministic pattern with no two neighbouring bytes alike. */
static unsigned char *pattern(size_t n, uint32_t seed) {
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static shma_view make_view(void *data, int ndim, const int64_t *shape, const int64_t *strides, const char *dtype) {
    shma_view v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.ndim = ndim;
    v.shape = shape;
    v.strides = strides;
    assert_shma_ok(shma_dtype_parse(dtype, &v.dtype));
    return v;
}

/* Copies v with shma_copy and shma_copy_unsafe; asserts both hold exactly the reference gather
 * of v and that their trailers describe v (attach_name finds its shape and dtype). */
static void check_copy(const shma_view *v, const char *what) {
    uint64_t nbytes = shma__shape_nbytes(v->ndim, v->shape, v->dtype.itemsize);
    unsigned char *want = malloc(nbytes ? nbytes : 1);
    assert_non_null(want);
    shma__copy_to_contiguous(want, v, nbytes);
    for (int unsafe = 0; unsafe < 2; unsafe++) {
        shma_array *a = NULL;
        assert_shma_ok(unsafe ? shma_copy_unsafe(NULL, v, &a) : shma_copy(NULL, v, &a));
        seg_track(shma_name(a));
        assert_int_equal(shma_nbytes(a), nbytes);
        if (memcmp(shma_data(a), want, nbytes) != 0) {
            const unsigned char *got = shma_data(a);
            size_t i = 0;
            while (got[i] == want[i]) i++;
            fail_msg("%s (%s): byte %zu of %llu is 0x%02x, expected 0x%02x", what, unsafe ? "unsafe" : "safe", i,
                     (unsigned long long)nbytes, got[i], want[i]);
        }
        shma_array *b = NULL;
        assert_shma_ok(shma_attach_name(shma_name(a), &b));
        assert_int_equal(shma_ndim(b), v->ndim);
        for (int k = 0; k < v->ndim; k++) assert_int_equal(shma_shape(b)[k], v->shape[k]);
        assert_string_equal(shma_dtype_str(b), v->dtype.str);
        assert_shma_ok(shma_close(&b));
        assert_shma_ok(shma_close(&a));
    }
    free(want);
}

/* ---------------------------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------------------------- */

static void test_zeros(void **state) {
    (void)state;
    /* Around the one-write limit (16 KiB of data), an empty array, and fallocate's route. */
    const int64_t sizes[] = {0, 1, 4096, 16383, 16384, 16385, 3 * MIB + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int64_t shape[1] = {sizes[i]};
        shma_array *a = alloc_tracked(NULL, 1, shape, "u1");
        const unsigned char *d = shma_data(a);
        for (int64_t k = 0; k < sizes[i]; k++)
            if (d[k] != 0) fail_msg("allocate(%lld): byte %lld is %d", (long long)sizes[i], (long long)k, d[k]);
        shma_array *b = NULL;
        assert_shma_ok(shma_attach(shma_name(a), 1, shape, "u1", &b));
        assert_shma_ok(shma_close(&b));
        assert_shma_ok(shma_close(&a));
    }
}

static void test_contiguous(void **state) {
    (void)state;
    const int64_t counts[] = {0, 1, 7, 8, 513, 1 << 20};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        unsigned char *src = pattern((size_t)counts[i] * 8, (uint32_t)i);
        const int64_t shape[1] = {counts[i]}, strides[1] = {8};
        shma_view v = make_view(counts[i] ? src : NULL, 1, shape, strides, "<f8");
        check_copy(&v, "contiguous");
        free(src);
    }
}

/* a.T of an n x m array: the transposed (banded) gather. */
static void test_transposed(void **state) {
    (void)state;
    const bool small = under_valgrind();
    struct {
        int64_t rows, cols;
        const char *dtype;
        uint32_t itemsize;
    } cases[] = {
        {37, 53, "<f8", 8},
        {1024, 1024, "<f8", 8},                            /* 8 MiB: 16 chunks */
        {small ? 1100 : 3001, small ? 500 : 1999, "u1", 1}, /* bands of 64 rows */
        {700, 900, "<c16", 16},                            /* 10 MiB, bands of 4 rows */
        {300, 257, "<U3", 12},                             /* an itemsize without a fast case */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t rows = cases[c].rows, cols = cases[c].cols, isz = cases[c].itemsize;
        unsigned char *src = pattern((size_t)(rows * cols * isz), (uint32_t)c + 11);
        /* The source is cols x rows, C order; its transpose is rows x cols. */
        const int64_t shape[2] = {rows, cols}, strides[2] = {isz, rows * isz};
        shma_view v = make_view(src, 2, shape, strides, cases[c].dtype);
        check_copy(&v, "transposed");
        free(src);
    }
}

/* a[:, ::2] and a[::-1, ::3]: rows gathered with a stride, over many chunks. */
static void test_strided_rows(void **state) {
    (void)state;
    const int64_t rows = 2100, cols = 1024; /* 2 * 1024 columns of f8 in the source */
    unsigned char *src = pattern((size_t)(rows * cols * 2 * 8), 5);
    const int64_t shape[2] = {rows, cols}, strides[2] = {cols * 2 * 8, 16};
    shma_view v = make_view(src, 2, shape, strides, "<f8");
    check_copy(&v, "a[:, ::2]");
    const int64_t shape3[2] = {rows, (2 * cols + 2) / 3}, strides3[2] = {-cols * 2 * 8, 24};
    shma_view r = make_view(src + (rows - 1) * cols * 2 * 8, 2, shape3, strides3, "<f8");
    check_copy(&r, "a[::-1, ::3]");
    free(src);
}

/* One row longer than the 8 MiB a chunk holds at most: gathered in pieces of rows. */
static void test_row_longer_than_a_chunk(void **state) {
    (void)state;
    const int64_t n = 9 * MIB / 8 + 3;
    unsigned char *src = pattern((size_t)n * 16, 9);
    const int64_t shape[1] = {n}, strides[1] = {16};
    shma_view v = make_view(src, 1, shape, strides, "<f8");
    check_copy(&v, "a[::2], one long row");
    free(src);
}

/* ---------------------------------------------------------------------------------------------
 * Failures
 * ------------------------------------------------------------------------------------------- */

/* In a forked child: a private tmpfs on /dev/shm (needs CAP_SYS_ADMIN), so that a listing of
 * it shows this process's segments only. false where that is not permitted. */
static bool private_dev_shm(void) {
    return unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") == 0;
}

/* RLIMIT_FSIZE (SIGXFSZ ignored) makes a write past 2 MiB fail with EFBIG part-way through a
 * 3 MiB copy on one thread, and the sizing of an 8 MiB copy split over two threads fail: on
 * every route SHMA_E_NOSPC and (checked where a private /dev/shm can be had, as other
 * processes' segments come and go in the shared one) nothing left. */
static void test_write_fails_part_way(void **state) {
    (void)state;
    pid_t pid = fork_child();
    if (pid == 0) {
        bool private_shm = private_dev_shm();
        signal(SIGXFSZ, SIG_IGN);
        unsigned char *src = pattern(16 * MIB, 3);
        struct rlimit lim = {2 * MIB, 2 * MIB};
        CHILD_REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
        shma_manager *mgr = NULL;
        CHILD_OK(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
        shm_listing before = shm_list();
        for (int64_t mib = 3; mib <= 8; mib += 5) {
            /* Contiguous, transposed (rows of 512 f8), a[:, ::2] (rows of 1024 f8). */
            int64_t elems = mib * MIB / 8;
            const int64_t n1[1] = {elems}, s1[1] = {8};
            const int64_t n2[2] = {512, elems / 512}, s2[2] = {8, 512 * 8};
            const int64_t n3[2] = {elems / 1024, 1024}, s3[2] = {2 * 1024 * 8, 16};
            shma_view views[3] = {make_view(src, 1, n1, s1, "<f8"), make_view(src, 2, n2, s2, "<f8"),
                                  make_view(src, 2, n3, s3, "<f8")};
            for (int i = 0; i < 3; i++) {
                shma_array *a = NULL;
                CHILD_REQUIRE(shma_copy(NULL, &views[i], &a) == SHMA_E_NOSPC);
                CHILD_REQUIRE(strstr(shma_last_error(), "cannot reserve") != NULL);
                CHILD_REQUIRE(shma_copy_unsafe(mgr, &views[i], &a) == SHMA_E_NOSPC);
                CHILD_REQUIRE(a == NULL);
            }
        }
        CHILD_REQUIRE(shma_manager_count(mgr) == 0);
        char names[256];
        CHILD_REQUIRE(!private_shm || shm_new_entries(&before, names, sizeof names) == 0);
        /* Below the limit every route still works. */
        const int64_t small[2] = {256, 512}, ss[2] = {8, 2048};
        shma_view ok = make_view(src, 2, small, ss, "<f8");
        shma_array *a = NULL;
        CHILD_OK(shma_copy(mgr, &ok, &a));
        CHILD_OK(shma_close(&a));
        CHILD_OK(shma_manager_shutdown(&mgr));
        shm_listing_free(&before);
        free(src);
        exit(0);
    }
    assert_child_ok(pid);
}

/* A contiguous source is written straight from its memory: an unreadable one is EFAULT from
 * the kernel, reported as SHMA_E_ARG, not a crash. */
static void test_unreadable_source(void **state) {
    (void)state;
    /* Deliberate misuse that valgrind reports as such (a write from unaddressable memory). */
    if (under_valgrind()) skip();
    size_t bytes = 64 * 1024;
    void *hole = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(hole != MAP_FAILED);
    const int64_t shape[1] = {(int64_t)bytes / 8}, strides[1] = {8};
    shma_view v = make_view(hole, 1, shape, strides, "<f8");
    shm_listing before = shm_list();
    shma_array *a = NULL;
    assert_shma_fails(shma_copy(NULL, &v, &a), SHMA_E_ARG, "not readable");
    assert_null(a);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
    munmap(hole, bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_zeros),
        SEG_TEST(test_contiguous),
        SEG_TEST(test_transposed),
        SEG_TEST(test_strided_rows),
        SEG_TEST(test_row_longer_than_a_chunk),
        SEG_TEST(test_write_fails_part_way),
        SEG_TEST(test_unreadable_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
