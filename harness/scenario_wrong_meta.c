/*
 * scenario_wrong_meta.c (issue 3, scenario 5): attaching with the wrong metadata, to a damaged
 * segment, to a foreign one or by a bad name gives a clean error code, never a signal.
 *
 * Every probe runs in a forked child, which also writes every byte of whatever it did manage to
 * attach: an attach that mapped more than the segment holds would SIGBUS there, and the parent
 * reports the signal. Library segments carry the trailer, so a wrong shape or dtype is
 * SHMA_E_MISMATCH; segments made with raw shm_open have none, so a shape they cannot hold is
 * SHMA_E_SIZE. A damaged trailer is SHMA_E_CORRUPT, or, with its magic gone, a foreign segment.
 */
#include "harness.h"

#include <fcntl.h>
#include <sys/mman.h>

#define ROWS 100
#define COLS 50
#define DATA_BYTES (ROWS * COLS * 8)

static const int64_t g_shape[2] = {ROWS, COLS};

/* ---------------------------------------------------------------------------------------------
 * Probes (run in children)
 * ------------------------------------------------------------------------------------------- */

/* Fails the child unless rc is one of want[0..n). */
static void expect_rc(int rc, const int *want, int n, const char *what, int line) {
    for (int i = 0; i < n; i++)
        if (rc == want[i]) return;
    h_child_fail(__FILE__, line, "%s returned %s (%s), expected %s%s", what, shma_errname(rc),
                 shma_last_error(), shma_errname(want[0]), n > 1 ? " or another listed code" : "");
}

/* After an attach: on success the whole array is writable (no SIGBUS) and the object closes;
 * on failure nothing came back and a detail was set. */
static void after_attach(int rc, shma_array **a) {
    if (rc == SHMA_OK) {
        H_CHECK(*a != NULL);
        memset(shma_data(*a), 0x5c, shma_nbytes(*a));
        H_CHECK_OK(shma_close(a));
    } else {
        H_CHECK(*a == NULL);
        H_CHECK(strlen(shma_last_error()) > 0);
    }
}

static int probe(const char *name, int ndim, const int64_t *shape, const char *dtype, int line,
                 int n, const int *want) {
    shma_array *a = NULL;
    int rc = shma_attach(name, ndim, shape, dtype, &a);
    char what[SHMA_NAME_MAX + 64];
    snprintf(what, sizeof what, "shma_attach(%s, ndim %d, %s)", name, ndim, dtype);
    expect_rc(rc, want, n, what, line);
    after_attach(rc, &a);
    return rc;
}
#define PROBE(name, ndim, shape, dtype, ...)                                                       \
    probe(name, ndim, shape, dtype, __LINE__, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)),  \
          (int[]){__VA_ARGS__})

static int probe_name(const char *name, int line, int n, const int *want) {
    shma_array *a = NULL;
    int rc = shma_attach_name(name, &a);
    char what[SHMA_NAME_MAX + 64];
    snprintf(what, sizeof what, "shma_attach_name(%s)", name);
    expect_rc(rc, want, n, what, line);
    if (rc == SHMA_OK) { /* a trailer accepted must be the one written */
        H_CHECK_EQ(shma_ndim(a), 2);
        H_CHECK_EQ(shma_shape(a)[0], ROWS);
        H_CHECK_EQ(shma_shape(a)[1], COLS);
        H_CHECK(strcmp(shma_dtype_str(a), "<f8") == 0);
    }
    after_attach(rc, &a);
    return rc;
}
#define PROBE_NAME(name, ...)                                                                      \
    probe_name(name, __LINE__, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

static void probe_handle(const char *name, int ndim, const int64_t *shape, const char *dtype,
                         int want, int line) {
    shma_handle h = {.ndim = ndim};
    snprintf(h.name, sizeof h.name, "%s", name);
    H_CHECK_OK(shma_dtype_parse(dtype, &h.dtype));
    memcpy(h.shape, shape, (size_t)ndim * sizeof *shape);
    char buf[SHMA_HANDLE_MAX];
    size_t len = 0;
    H_CHECK_OK(shma_handle_format(&h, buf, sizeof buf, &len));
    shma_array *a = NULL;
    int rc = shma_attach_handle(buf, len, &a);
    expect_rc(rc, &want, 1, buf, line);
    after_attach(rc, &a);
}
#define PROBE_HANDLE(name, ndim, shape, dtype, want)                                               \
    probe_handle(name, ndim, shape, dtype, want, __LINE__)

/* ---------------------------------------------------------------------------------------------
 * Segments to probe (made in the parent)
 * ------------------------------------------------------------------------------------------- */

/* Makes a library segment (ROWS, COLS) <f8 holding 0, 1, 2, ... that no object owns: a child
 * allocates it without a manager and exits without closing. The test unlinks it by name. */
static shma_array *g_left_open; /* reachable, so valgrind does not call it lost */

static int segment_maker(void *arg) {
    const char *name = arg;
    shma_alloc_opts named = {.name = name};
    H_CHECK_OK(shma_allocate_ex(NULL, 2, g_shape, "<f8", &named, &g_left_open));
    double *d = shma_data(g_left_open);
    for (int i = 0; i < ROWS * COLS; i++) d[i] = i;
    return 0;
}

static void make_library_segment(char *name, size_t cap) {
    h_name(name, cap, "meta");
    pid_t pid = h_fork(segment_maker, name);
    assert_true(pid > 0);
    h_wait_ok(pid);
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    assert_true(info.has_meta);
    assert_int_equal(info.data_bytes, DATA_BYTES);
}

static uint64_t segment_size(const char *name) {
    shma_info info;
    assert_shma_ok(shma_inspect(name, &info));
    return info.segment_bytes;
}

/* Runs the probes in a child: a SIGBUS or SIGSEGV there fails this test with the signal named,
 * instead of killing the runner. */
static void run_probe(int (*fn)(void *), void *arg) {
    pid_t pid = h_fork(fn, arg);
    assert_true(pid > 0);
    h_wait_ok(pid);
}

/* ---------------------------------------------------------------------------------------------
 * Library segments: wrong shape or dtype is MISMATCH
 * ------------------------------------------------------------------------------------------- */

static int wrong_shapes(void *arg) {
    const char *name = arg;
    const int64_t wider[2] = {ROWS, COLS + 1}, taller[2] = {ROWS + 1, COLS},
                  shorter[2] = {ROWS - 1, COLS}, swapped[2] = {COLS, ROWS},
                  flat[1] = {ROWS * COLS}, three[3] = {ROWS, COLS, 1}, twice[2] = {2 * ROWS, COLS};
    PROBE(name, 2, g_shape, "<f8", SHMA_OK);
    PROBE(name, 2, g_shape, "float64", SHMA_OK);
    PROBE(name, 2, g_shape, "d", SHMA_OK);
    PROBE(name, 2, wider, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 2, taller, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 2, twice, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 2, shorter, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 2, swapped, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 1, flat, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 3, three, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 0, NULL, "<f8", SHMA_E_MISMATCH);
    PROBE(name, 2, g_shape, "complex128", SHMA_E_MISMATCH); /* bigger dtype */
    PROBE(name, 2, g_shape, "V16", SHMA_E_MISMATCH);
    PROBE(name, 2, g_shape, "<f4", SHMA_E_MISMATCH); /* smaller */
    PROBE(name, 2, g_shape, "<i8", SHMA_E_MISMATCH); /* same size */
    PROBE(name, 2, g_shape, ">f8", SHMA_E_MISMATCH); /* byte order */
    PROBE(name, 2, g_shape, "M8[ns]", SHMA_E_MISMATCH);
    /* The detail names both sides. */
    shma_array *a = NULL;
    H_CHECK_RC(shma_attach(name, 2, wider, "<f8", &a), SHMA_E_MISMATCH);
    H_CHECK(strstr(shma_last_error(), "(100, 50)") && strstr(shma_last_error(), "(100, 51)"));
    H_CHECK_RC(shma_attach(name, 2, g_shape, "c16", &a), SHMA_E_MISMATCH);
    H_CHECK(strstr(shma_last_error(), "<f8") && strstr(shma_last_error(), "<c16"));
    /* The same through handles (what another process would receive). */
    PROBE_HANDLE(name, 2, g_shape, "<f8", SHMA_OK);
    PROBE_HANDLE(name, 2, twice, "<f8", SHMA_E_MISMATCH);
    PROBE_HANDLE(name, 2, g_shape, "<c16", SHMA_E_MISMATCH);
    PROBE_HANDLE(name, 1, flat, "<u1", SHMA_E_MISMATCH);
    /* Invalid requests are rejected before the segment is even looked at. */
    const int64_t negative[2] = {-1, COLS}, huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    PROBE(name, 2, negative, "<f8", SHMA_E_SHAPE);
    PROBE(name, SHMA_MAX_NDIM + 1, g_shape, "<f8", SHMA_E_SHAPE);
    PROBE(name, -1, g_shape, "<f8", SHMA_E_SHAPE);
    PROBE(name, 2, huge, "<f8", SHMA_E_OVERFLOW);
    PROBE(name, 2, g_shape, "f9", SHMA_E_DTYPE);
    PROBE(name, 2, g_shape, "O", SHMA_E_DTYPE);
    PROBE(name, 2, g_shape, "", SHMA_E_DTYPE);
    int rc = shma_attach(name, 2, NULL, "<f8", &a);
    H_CHECK(rc == SHMA_E_ARG || rc == SHMA_E_SHAPE);
    H_CHECK_RC(shma_attach(name, 2, g_shape, NULL, &a), SHMA_E_ARG);
    H_CHECK_RC(shma_attach(name, 2, g_shape, "<f8", NULL), SHMA_E_ARG);
    H_CHECK(a == NULL);
    /* The unsafe variants skip the checks, but an unknown dtype is still an error. */
    H_CHECK_RC(shma_attach_unsafe(name, 2, g_shape, "f9", &a), SHMA_E_DTYPE);
    H_CHECK_RC(shma_allocate_unsafe(NULL, 2, g_shape, "nope", &a), SHMA_E_DTYPE);
    H_CHECK(a == NULL);
    H_CHECK_OK(shma_attach_unsafe(name, 2, g_shape, "<f8", &a));
    H_CHECK_EQ(shma_nbytes(a), DATA_BYTES);
    memset(shma_data(a), 0x5c, DATA_BYTES);
    H_CHECK_OK(shma_close(&a));
    PROBE_NAME(name, SHMA_OK);
    return 0;
}

static void test_library_segment_wrong_shape_or_dtype(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    make_library_segment(name, sizeof name);
    run_probe(wrong_shapes, name);
    assert_shma_ok(shma_unlink(name));
}

/* ---------------------------------------------------------------------------------------------
 * Library segments cut short, grown, or with a damaged trailer
 * ------------------------------------------------------------------------------------------- */

static int truncated_probes(void *arg) {
    const char *name = arg;
    shma_info info;
    H_CHECK_OK(shma_inspect(name, &info));
    H_CHECK(!info.has_meta);
    /* Without its trailer a segment is foreign: an explicit shape works if it fits. */
    if (info.segment_bytes >= DATA_BYTES)
        PROBE(name, 2, g_shape, "<f8", SHMA_OK);
    else
        PROBE(name, 2, g_shape, "<f8", SHMA_E_SIZE);
    PROBE_HANDLE(name, 2, g_shape, "<f8", info.segment_bytes >= DATA_BYTES ? SHMA_OK : SHMA_E_SIZE);
    PROBE_NAME(name, SHMA_E_NOMETA);
    const int64_t empty[1] = {0}, one[1] = {1};
    PROBE(name, 1, empty, "<f8", SHMA_OK);
    PROBE(name, 1, one, "<f8", info.segment_bytes >= 8 ? SHMA_OK : SHMA_E_SIZE);
    return 0;
}

static void test_library_segment_truncated(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    make_library_segment(name, sizeof name);
    uint64_t full = segment_size(name);
    const uint64_t sizes[] = {full - 1,  full - 64, DATA_BYTES + 1, DATA_BYTES, DATA_BYTES - 1,
                              DATA_BYTES / 2, 4096, 640, 639, 7, 1, 0};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        assert_int_equal(h_truncate(name, (off_t)sizes[i]), 0);
        assert_int_equal(segment_size(name), sizes[i]);
        run_probe(truncated_probes, name);
    }
    assert_shma_ok(shma_unlink(name));
}

static int grown_probes(void *arg) {
    const char *name = arg;
    PROBE_NAME(name, SHMA_E_NOMETA);
    shma_array *a = NULL;
    H_CHECK_OK(shma_attach(name, 2, g_shape, "<f8", &a));
    const double *d = shma_data(a);
    for (int i = 0; i < ROWS * COLS; i++) H_CHECK(d[i] == i); /* the data is where it was */
    H_CHECK_OK(shma_close(&a));
    return 0;
}

static void test_library_segment_grown(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    make_library_segment(name, sizeof name);
    assert_int_equal(h_truncate(name, (off_t)segment_size(name) + 4096), 0);
    run_probe(grown_probes, name);
    assert_shma_ok(shma_unlink(name));
}

typedef struct damage_job {
    char name[SHMA_NAME_MAX + 1];
    uint64_t size;
    long random_rounds;
} damage_job;

/* Flips each byte of the trailer in turn, then writes random garbage over random parts of it:
 * the trailer is read by attach_name and by attach; each result is a clean code. */
static int damaged_probes(void *arg) {
    const damage_job *job = arg;
    char path[SHMA_NAME_MAX + 2];
    snprintf(path, sizeof path, "/%s", job->name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    H_CHECK(fd >= 0);
    enum { T = 640 };
    const uint64_t base = job->size - T;
    unsigned char orig[T], b;
    H_CHECK(pread(fd, orig, T, (off_t)base) == T);
    long corrupt = 0, foreign = 0;
    for (int k = 0; k < T; k++) {
        b = orig[k] ^ (unsigned char)(1u << (k % 8));
        H_CHECK(pwrite(fd, &b, 1, (off_t)(base + (uint64_t)k)) == 1);
        int rc = PROBE_NAME(job->name, SHMA_E_CORRUPT, SHMA_E_NOMETA, SHMA_OK);
        corrupt += rc == SHMA_E_CORRUPT, foreign += rc == SHMA_E_NOMETA;
        /* With an explicit shape: the trailer's damage is reported, or (magic gone) the
         * segment is foreign and large enough. */
        PROBE(job->name, 2, g_shape, "<f8", SHMA_E_CORRUPT, SHMA_OK);
        H_CHECK(pwrite(fd, &orig[k], 1, (off_t)(base + (uint64_t)k)) == 1);
    }
    H_CHECK(corrupt > T / 2); /* a checksum catches nearly every flip */
    for (long r = 0; r < job->random_rounds; r++) {
        unsigned char junk[T];
        memcpy(junk, orig, T);
        int n = 1 + (int)h_rand_below(16);
        for (int i = 0; i < n; i++) junk[h_rand_below(T)] = (unsigned char)h_rand();
        if (h_rand_below(4) == 0) /* now and then a whole run of garbage */
            for (int i = (int)h_rand_below(T), e = i + (int)h_rand_below(64); i < e && i < T; i++)
                junk[i] = (unsigned char)h_rand();
        H_CHECK(pwrite(fd, junk, T, (off_t)base) == T);
        PROBE_NAME(job->name, SHMA_E_CORRUPT, SHMA_E_NOMETA, SHMA_OK);
        PROBE(job->name, 2, g_shape, "<f8", SHMA_E_CORRUPT, SHMA_OK);
    }
    H_CHECK(pwrite(fd, orig, T, (off_t)base) == T);
    PROBE_NAME(job->name, SHMA_OK);
    fprintf(stderr, "[wrong_meta] %d single-bit flips: %ld corrupt, %ld no-meta; %ld garbage rounds\n",
            T, corrupt, foreign, job->random_rounds);
    close(fd);
    return 0;
}

static void test_library_segment_damaged_trailer(void **state) {
    (void)state;
    damage_job job = {.random_rounds = h_size(300, 30, 20000)};
    make_library_segment(job.name, sizeof job.name);
    job.size = segment_size(job.name);
    run_probe(damaged_probes, &job);
    assert_shma_ok(shma_unlink(job.name));
}

/* ---------------------------------------------------------------------------------------------
 * Foreign segments (raw shm_open): a shape they cannot hold is SIZE
 * ------------------------------------------------------------------------------------------- */

typedef struct foreign_job {
    char name1000[SHMA_NAME_MAX + 1], name0[SHMA_NAME_MAX + 1], name_junk[SHMA_NAME_MAX + 1];
} foreign_job;

static int foreign_probes(void *arg) {
    const foreign_job *job = arg;
    const int64_t b1000[1] = {1000}, b1001[1] = {1001}, d125[1] = {125}, d126[1] = {126},
                  m10x100[2] = {10, 100}, m10x101[2] = {10, 101}, one[1] = {1}, empty[1] = {0},
                  huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    const char *f = job->name1000;
    /* The bytes are the other program's (checked before the probes below write over them). */
    shma_array *a = NULL;
    H_CHECK_OK(shma_attach(f, 1, b1000, "u1", &a));
    const unsigned char *d = shma_data(a);
    for (int i = 0; i < 1000; i++) H_CHECK_EQ(d[i], 0xab);
    H_CHECK(!shma_is_owner(a));
    H_CHECK_OK(shma_close(&a));
    PROBE(f, 1, b1000, "u1", SHMA_OK);
    PROBE(f, 1, d125, "f8", SHMA_OK);
    PROBE(f, 2, m10x100, "i1", SHMA_OK);
    PROBE(f, 1, one, "V1000", SHMA_OK);
    PROBE(f, 1, b1001, "u1", SHMA_E_SIZE);
    PROBE(f, 1, d126, "f8", SHMA_E_SIZE); /* bigger shape */
    PROBE(f, 1, d125, "c16", SHMA_E_SIZE); /* bigger dtype */
    PROBE(f, 2, m10x101, "u1", SHMA_E_SIZE);
    PROBE(f, 1, one, "V1001", SHMA_E_SIZE);
    PROBE(f, 2, huge, "f8", SHMA_E_OVERFLOW);
    PROBE_HANDLE(f, 1, b1000, "|u1", SHMA_OK);
    PROBE_HANDLE(f, 1, b1001, "|u1", SHMA_E_SIZE);
    PROBE_NAME(f, SHMA_E_NOMETA);
    H_CHECK_RC(shma_attach(f, 1, b1001, "u1", &a), SHMA_E_SIZE);
    H_CHECK(strstr(shma_last_error(), "1000") && strstr(shma_last_error(), "1001"));
    H_CHECK(h_shm_exists(f));
    shma_info info;
    H_CHECK_OK(shma_inspect(f, &info));
    H_CHECK(!info.has_meta);
    H_CHECK_EQ(info.segment_bytes, 1000);

    PROBE(job->name0, 1, empty, "f8", SHMA_OK);
    const int64_t zero_rows[2] = {0, 7}, fits[1] = {8192}, too_many[1] = {8193};
    PROBE(job->name0, 2, zero_rows, "f8", SHMA_OK);
    PROBE(job->name0, 1, one, "u1", SHMA_E_SIZE);
    PROBE_NAME(job->name0, SHMA_E_NOMETA);

    PROBE_NAME(job->name_junk, SHMA_E_NOMETA);
    PROBE(job->name_junk, 1, fits, "u8", SHMA_OK);
    PROBE(job->name_junk, 1, too_many, "u8", SHMA_E_SIZE);
    return 0;
}

static void test_foreign_segments(void **state) {
    (void)state;
    foreign_job job;
    h_name(job.name1000, sizeof job.name1000, "foreign");
    h_name(job.name0, sizeof job.name0, "foreign");
    h_name(job.name_junk, sizeof job.name_junk, "foreign");
    assert_int_equal(h_make_foreign(job.name1000, 1000, 0xab), 0);
    assert_int_equal(h_make_foreign(job.name0, 0, 0), 0);
    assert_int_equal(h_make_foreign(job.name_junk, 65536, 0xfe), 0);
    run_probe(foreign_probes, &job);
    assert_int_equal(shm_unlink(job.name1000), 0);
    assert_int_equal(shm_unlink(job.name0), 0);
    assert_int_equal(shm_unlink(job.name_junk), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Names that are not there, or not names
 * ------------------------------------------------------------------------------------------- */

static int name_probes(void *arg) {
    const char *existing = arg;
    char missing[SHMA_NAME_MAX + 1];
    h_name(missing, sizeof missing, "missing");
    shma_array *a = NULL;
    shma_info info;
    PROBE(missing, 2, g_shape, "<f8", SHMA_E_NOTFOUND);
    PROBE_NAME(missing, SHMA_E_NOTFOUND);
    PROBE_HANDLE(missing, 2, g_shape, "<f8", SHMA_E_NOTFOUND);
    H_CHECK_RC(shma_inspect(missing, &info), SHMA_E_NOTFOUND);
    H_CHECK_RC(shma_unlink(missing), SHMA_E_NOTFOUND);
    H_CHECK(strstr(shma_last_error(), missing) != NULL);

    /* A leading '/' is the POSIX spelling and works; any other '/' is an error. */
    char slashed[SHMA_NAME_MAX + 2];
    snprintf(slashed, sizeof slashed, "/%s", existing);
    PROBE(slashed, 2, g_shape, "<f8", SHMA_OK);
    PROBE_NAME(slashed, SHMA_OK);
    char long_name[SHMA_NAME_MAX + 2];
    memset(long_name, 'x', SHMA_NAME_MAX + 1);
    long_name[SHMA_NAME_MAX + 1] = '\0';
    char inner[SHMA_NAME_MAX + 8];
    snprintf(inner, sizeof inner, "%s/x", existing);
    const char *bad[] = {"shma_a/b", "a/", "//x", inner, "/", "", ".", "..", "/..", "tab\there",
                         "nl\n", "del\x7f", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        PROBE(bad[i], 2, g_shape, "<f8", SHMA_E_NAME);
        PROBE_NAME(bad[i], SHMA_E_NAME);
        H_CHECK_RC(shma_inspect(bad[i], &info), SHMA_E_NAME);
        H_CHECK_RC(shma_unlink(bad[i]), SHMA_E_NAME);
        shma_alloc_opts named = {.name = bad[i]};
        H_CHECK_RC(shma_allocate_ex(NULL, 2, g_shape, "<f8", &named, &a), SHMA_E_NAME);
        H_CHECK(a == NULL);
    }
    H_CHECK_RC(shma_attach(NULL, 2, g_shape, "<f8", &a), SHMA_E_ARG);
    H_CHECK_RC(shma_attach_name(NULL, &a), SHMA_E_ARG);
    H_CHECK_RC(shma_attach_handle(NULL, 0, &a), SHMA_E_ARG);
    /* Handles that are not handles, or name something that is not a name. */
    const char *bad_handles[] = {"", "shma1", "shma1;", "shma1;<f8;100,50", "shma2;<f8;100,50;x",
                                 "shma1;<f8;-100,50;x", "shma1;<f8;100,,50;x", "shma1;<f8;100,50;",
                                 "shma1;<f8;100,50;a/b", "shma1;f9;100,50;x", "shma1;<f8;100 ,50;x",
                                 "shma1;<f8;0100,50;x", "shma1;float64;100,50;x"};
    for (size_t i = 0; i < sizeof bad_handles / sizeof *bad_handles; i++) {
        int rc = shma_attach_handle(bad_handles[i], strlen(bad_handles[i]), &a);
        if (rc != SHMA_E_HANDLE)
            h_child_fail(__FILE__, __LINE__, "handle \"%s\": %s (%s), expected SHMA_E_HANDLE",
                         bad_handles[i], shma_errname(rc), shma_last_error());
    }
    H_CHECK(a == NULL);
    return 0;
}

static void test_bad_names(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 1];
    make_library_segment(name, sizeof name);
    run_probe(name_probes, name);
    assert_shma_ok(shma_unlink(name));
}

/* A directory, a FIFO and a symlink where a segment is expected: clean errors, no hang (the
 * FIFO would block an O_RDONLY open without O_NONBLOCK), and the symlink is not followed. */
typedef struct odd_job {
    char dir[SHMA_NAME_MAX + 1], fifo[SHMA_NAME_MAX + 1], link[SHMA_NAME_MAX + 1];
} odd_job;

static int odd_probes(void *arg) {
    const odd_job *job = arg;
    alarm(60); /* a hang becomes SIGALRM, which the parent reports */
    const char *names[] = {job->dir, job->fifo, job->link};
    for (int i = 0; i < 3; i++) {
        shma_array *a = NULL;
        int rc = shma_attach(names[i], 2, g_shape, "<f8", &a);
        if (rc == SHMA_OK) h_child_fail(__FILE__, __LINE__, "attached %s", names[i]);
        H_CHECK(a == NULL);
        rc = shma_attach_name(names[i], &a);
        if (rc == SHMA_OK) h_child_fail(__FILE__, __LINE__, "attached %s by name", names[i]);
        H_CHECK(a == NULL);
    }
    return 0;
}

static void test_odd_files_in_dev_shm(void **state) {
    (void)state;
    odd_job job;
    char path[SHMA_NAME_MAX + 16], target[64];
    h_name(job.dir, sizeof job.dir, "dir");
    h_name(job.fifo, sizeof job.fifo, "fifo");
    h_name(job.link, sizeof job.link, "link");
    snprintf(path, sizeof path, "/dev/shm/%s", job.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "/dev/shm/%s", job.fifo);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* The link points at a file of ours holding DATA_BYTES bytes: were it followed, the
     * attach would succeed and write over it. */
    snprintf(target, sizeof target, "/tmp/shma_harness_target_%d", (int)getpid());
    int fd = open(target, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, DATA_BYTES), 0);
    close(fd);
    snprintf(path, sizeof path, "/dev/shm/%s", job.link);
    assert_int_equal(symlink(target, path), 0);

    pid_t pid = h_fork(odd_probes, &job);
    assert_true(pid > 0);
    int status = h_wait(pid);

    snprintf(path, sizeof path, "/dev/shm/%s", job.dir);
    rmdir(path);
    snprintf(path, sizeof path, "/dev/shm/%s", job.fifo);
    unlink(path);
    snprintf(path, sizeof path, "/dev/shm/%s", job.link);
    unlink(path);
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    unlink(target);
    if (WIFSIGNALED(status)) fail_msg("probe child killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(st.st_size, DATA_BYTES);
}

int main(void) {
    h_init("wrong_meta");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_library_segment_wrong_shape_or_dtype, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_library_segment_truncated, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_library_segment_grown, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_library_segment_damaged_trailer, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_segments, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_odd_files_in_dev_shm, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
