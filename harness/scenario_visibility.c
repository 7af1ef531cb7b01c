/*
 * scenario_visibility.c (issue 3, scenario 1): what one process writes, every other process
 * attached to the same array sees.
 *
 * N workers (1, 2, 8, 32; fewer under valgrind) attach one array by its handle, name or
 * explicit shape, each writes its own rows, and the parent checks every element. The reverse
 * direction too: a child allocates, the parent attaches from the handle it sends, and both see
 * each other's writes. Strided copies made by the parent (sliced with steps, transposed,
 * reversed, broadcast, empty; every element size) read back in C order in other processes.
 */
#include "harness.h"

#define COLS 512

/* The value worker w writes at (r, c): unique per element and per writer. */
static int64_t cell_value(int w, int64_t r, int64_t c) {
    return ((int64_t)(w + 1) << 40) | (r << 20) | c;
}

typedef struct rows_job {
    char handle[SHMA_HANDLE_MAX];
    char name[SHMA_NAME_MAX + 1];
    int64_t rows;
    int worker, nworkers;
} rows_job;

/* A worker: attaches (three ways, by worker number), checks the parent's sentinel in its
 * rows, writes them, closes. */
static int rows_worker(void *arg) {
    const rows_job *job = arg;
    shma_array *a = NULL;
    const int64_t shape[2] = {job->rows, COLS};
    switch (job->worker % 3) {
    case 0: H_CHECK_OK(shma_attach_handle(job->handle, strlen(job->handle), &a)); break;
    case 1: H_CHECK_OK(shma_attach_name(job->name, &a)); break;
    default: H_CHECK_OK(shma_attach(job->name, 2, shape, "<i8", &a)); break;
    }
    H_CHECK(!shma_is_owner(a));
    H_CHECK_EQ(shma_ndim(a), 2);
    H_CHECK_EQ(shma_shape(a)[0], job->rows);
    H_CHECK_EQ(shma_shape(a)[1], COLS);
    H_CHECK(strcmp(shma_dtype_str(a), "<i8") == 0);
    shma_view v;
    H_CHECK_OK(shma_view_of(a, &v));
    H_CHECK_EQ(v.strides[0], COLS * 8);
    H_CHECK_EQ(v.strides[1], 8);
    int64_t *data = v.data;
    for (int64_t r = job->worker; r < job->rows; r += job->nworkers)
        for (int64_t c = 0; c < COLS; c++) {
            H_CHECK_EQ(data[r * COLS + c], -1);
            data[r * COLS + c] = cell_value(job->worker, r, c);
        }
    H_CHECK_OK(shma_close(&a));
    H_CHECK(a == NULL);
    return 0;
}

static void run_workers(int nworkers_check) {
    int nworkers = (int)h_size(nworkers_check, nworkers_check < 8 ? nworkers_check : 8,
                               nworkers_check);
    const int64_t rows = h_size(4 * 64, 64, 4 * 1024);
    shma_manager **mgr = h_manager(0);
    shma_array *a = NULL;
    const int64_t shape[2] = {rows, COLS};
    assert_shma_ok(shma_allocate(*mgr, 2, shape, "int64", &a));
    assert_true(shma_is_owner(a));
    int64_t *data = shma_data(a);
    for (int64_t i = 0; i < rows * COLS; i++) data[i] = -1;

    rows_job *jobs = calloc((size_t)nworkers, sizeof *jobs);
    pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
    assert_non_null(jobs);
    assert_non_null(pids);
    for (int w = 0; w < nworkers; w++) {
        assert_shma_ok(shma_handle_encode(a, jobs[w].handle, sizeof jobs[w].handle, NULL));
        snprintf(jobs[w].name, sizeof jobs[w].name, "%s", shma_name(a));
        jobs[w].rows = rows, jobs[w].worker = w, jobs[w].nworkers = nworkers;
        pids[w] = h_fork(rows_worker, &jobs[w]);
        assert_true(pids[w] > 0);
    }
    for (int w = 0; w < nworkers; w++) h_wait_ok(pids[w]);

    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < COLS; c++) {
            int64_t want = cell_value((int)(r % nworkers), r, c);
            if (data[r * COLS + c] != want)
                fail_msg("element (%lld, %lld) = %#llx, worker %d wrote %#llx", (long long)r,
                         (long long)c, (long long)data[r * COLS + c], (int)(r % nworkers),
                         (long long)want);
        }
    /* The workers' closes left the segment in place: they were clients. */
    assert_true(h_shm_exists(shma_name(a)));
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    assert_shma_ok(shma_close(&a));
    assert_false(h_shm_exists(name));
    assert_int_equal(shma_manager_count(*mgr), 0);
    free(jobs);
    free(pids);
}

static void test_workers_1(void **state) { (void)state, run_workers(1); }
static void test_workers_2(void **state) { (void)state, run_workers(2); }
static void test_workers_8(void **state) { (void)state, run_workers(8); }
static void test_workers_32(void **state) { (void)state, run_workers(32); }

/* ---------------------------------------------------------------------------------------------
 * The reverse: a child allocates, the parent attaches from the handle
 * ------------------------------------------------------------------------------------------- */

typedef struct reverse_job {
    int to_parent, from_parent; /* the child's pipe ends */
    bool use_manager;
} reverse_job;

#define REV_N 10000

static int reverse_child(void *arg) {
    const reverse_job *job = arg;
    shma_manager *mgr = NULL;
    if (job->use_manager) H_CHECK_OK(shma_manager_create(0, &mgr));
    shma_array *a = NULL;
    const int64_t shape[1] = {REV_N};
    H_CHECK_OK(shma_allocate(mgr, 1, shape, "float64", &a));
    double *d = shma_data(a);
    for (int i = 0; i < REV_N; i++) d[i] = i * 0.5;
    char handle[SHMA_HANDLE_MAX];
    size_t len = 0;
    H_CHECK_OK(shma_handle_encode(a, handle, sizeof handle, &len));
    H_CHECK(h_send_msg(job->to_parent, handle, (uint32_t)len));
    /* The parent writes the odd elements back, then says so. */
    H_CHECK(h_wait_byte(job->from_parent, NULL));
    for (int i = 0; i < REV_N; i++) H_CHECK(d[i] == (i % 2 ? -i : i * 0.5));
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    H_CHECK_OK(shma_close(&a));
    H_CHECK(!h_shm_exists(name));
    H_CHECK_OK(shma_manager_shutdown(&mgr));
    return 0;
}

static void run_reverse(bool use_manager) {
    int up[2], down[2];
    h_pipe(up);
    h_pipe(down);
    reverse_job job = {up[1], down[0], use_manager};
    pid_t pid = h_fork(reverse_child, &job);
    assert_true(pid > 0);
    close(up[1]);
    close(down[0]);

    char handle[SHMA_HANDLE_MAX];
    ssize_t len = h_recv_msg(up[0], handle, sizeof handle);
    assert_true(len > 0);
    shma_array *a = NULL;
    assert_shma_ok(shma_attach_handle(handle, (size_t)len, &a));
    assert_false(shma_is_owner(a));
    assert_int_equal(shma_shape(a)[0], REV_N);
    assert_string_equal(shma_dtype_str(a), "<f8");
    double *d = shma_data(a);
    for (int i = 0; i < REV_N; i++) {
        if (d[i] != i * 0.5) fail_msg("element %d = %g, the child wrote %g", i, d[i], i * 0.5);
        if (i % 2) d[i] = -i;
    }
    assert_true(h_send_byte(down[1], 'w'));
    h_wait_ok(pid);
    /* The child (the owner) closed it: the name is gone, our mapping still holds the data. */
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    assert_false(h_shm_exists(name));
    for (int i = 0; i < REV_N; i++) assert_true(d[i] == (i % 2 ? -i : i * 0.5));
    shma_array *again = NULL;
    assert_shma_fails(shma_attach_handle(handle, (size_t)len, &again), SHMA_E_NOTFOUND, name);
    assert_null(again);
    assert_shma_ok(shma_close(&a));
    close(up[0]);
    close(down[1]);
}

static void test_child_allocates_parent_attaches(void **state) { (void)state, run_reverse(false); }
static void test_child_manager_allocates_parent_attaches(void **state) {
    (void)state, run_reverse(true);
}

/* ---------------------------------------------------------------------------------------------
 * A strided copy reads back in C order from other processes
 * ------------------------------------------------------------------------------------------- */

typedef struct copy_job {
    char handle[SHMA_HANDLE_MAX];
    int64_t rows, cols; /* of the copy: the transpose of the source */
} copy_job;

static int copy_reader(void *arg) {
    const copy_job *job = arg;
    shma_array *a = NULL;
    H_CHECK_OK(shma_attach_handle(job->handle, strlen(job->handle), &a));
    const int32_t *d = shma_data(a);
    /* The source was src[i][j] = i * 1000 + j, 0 <= i < cols, 0 <= j < rows, transposed and
     * reversed along its rows: copy[r][c] = src[cols - 1 - c][r]. */
    for (int64_t r = 0; r < job->rows; r++)
        for (int64_t c = 0; c < job->cols; c++)
            H_CHECK_EQ(d[r * job->cols + c], (job->cols - 1 - c) * 1000 + r);
    H_CHECK_OK(shma_close(&a));
    return 0;
}

static void test_strided_copy_seen_by_children(void **state) {
    (void)state;
    const int64_t src_rows = 300, src_cols = 700;
    int32_t *src = malloc((size_t)(src_rows * src_cols) * sizeof *src);
    assert_non_null(src);
    for (int64_t i = 0; i < src_rows; i++)
        for (int64_t j = 0; j < src_cols; j++) src[i * src_cols + j] = (int32_t)(i * 1000 + j);
    /* The view src[::-1, :].T: shape (cols, rows), strides (4, -4 * cols), data at last row. */
    const int64_t shape[2] = {src_cols, src_rows};
    const int64_t strides[2] = {4, -4 * src_cols};
    shma_view v = {.data = src + (src_rows - 1) * src_cols, .ndim = 2, .shape = shape,
                   .strides = strides};
    assert_shma_ok(shma_dtype_parse("int32", &v.dtype));
    shma_manager **mgr = h_manager(0);
    shma_array *a = NULL;
    assert_shma_ok(shma_copy(*mgr, &v, &a));
    free(src);

    copy_job job = {.rows = src_cols, .cols = src_rows};
    assert_shma_ok(shma_handle_encode(a, job.handle, sizeof job.handle, NULL));
    pid_t pids[4];
    for (int i = 0; i < 4; i++) assert_true((pids[i] = h_fork(copy_reader, &job)) > 0);
    for (int i = 0; i < 4; i++) h_wait_ok(pids[i]);
    assert_shma_ok(shma_close(&a));
}

/* ---------------------------------------------------------------------------------------------
 * Strided copies of every element size, checked by another process
 * ------------------------------------------------------------------------------------------- */

typedef struct strided_job {
    char handle[SHMA_HANDLE_MAX];
    const shma_view *src; /* the source, inherited by the child through fork */
} strided_job;

/* The child walks src in C order with the plainest possible loop and compares each element
 * with what the shared copy holds. */
static int strided_checker(void *arg) {
    const strided_job *job = arg;
    shma_array *a = NULL;
    H_CHECK_OK(shma_attach_handle(job->handle, strlen(job->handle), &a));
    const shma_view *v = job->src;
    H_CHECK_EQ(shma_ndim(a), v->ndim);
    uint64_t count = 1;
    for (int d = 0; d < v->ndim; d++) {
        H_CHECK_EQ(shma_shape(a)[d], v->shape[d]);
        count *= (uint64_t)v->shape[d];
    }
    size_t item = v->dtype.itemsize;
    H_CHECK_EQ(shma_nbytes(a), count * item);
    const unsigned char *got = shma_data(a);
    int64_t idx[SHMA_MAX_NDIM] = {0};
    for (uint64_t e = 0; e < count; e++) {
        const unsigned char *p = v->data;
        for (int d = 0; d < v->ndim; d++) p += idx[d] * v->strides[d];
        if (memcmp(got + e * item, p, item) != 0)
            h_child_fail(__FILE__, __LINE__, "%s: element %llu differs", v->dtype.str, (unsigned long long)e);
        for (int d = v->ndim - 1; d >= 0 && ++idx[d] == v->shape[d]; d--) idx[d] = 0;
    }
    H_CHECK_OK(shma_close(&a));
    return 0;
}

static void test_strided_copies_every_itemsize(void **state) {
    (void)state;
    static const char *dtypes[] = {"u1", "i2", "f4", "f8", "c16", "S3", "V7", "U2", "V40"};
    enum { D0 = 9, D1 = 8, D2 = 7 };
    shma_manager **mgr = h_manager(0);
    for (size_t t = 0; t < sizeof dtypes / sizeof *dtypes; t++) {
        shma_dtype dt;
        assert_shma_ok(shma_dtype_parse(dtypes[t], &dt));
        const int64_t it = dt.itemsize;
        unsigned char *buf = malloc((size_t)(D0 * D1 * D2 * it));
        assert_non_null(buf);
        for (int64_t i = 0; i < D0 * D1 * D2 * it; i++) buf[i] = (unsigned char)(i * 131 + t);
        const int64_t s0 = D1 * D2 * it, s1 = D2 * it, s2 = it;
        /* buf viewed as (D0, D1, D2), then: [::2, ::-1, ::3]; transposed (2, 0, 1); its 2-d
         * transpose [:, :, 0].T; a reversed 1-d row; a broadcast (stride 0); an empty one. */
        const int64_t sh_a[3] = {(D0 + 1) / 2, D1, (D2 + 2) / 3}, st_a[3] = {2 * s0, -s1, 3 * s2};
        const int64_t sh_b[3] = {D2, D0, D1}, st_b[3] = {s2, s0, s1};
        const int64_t sh_c[2] = {D1, D0}, st_c[2] = {s1, s0};
        const int64_t sh_d[1] = {D2}, st_d[1] = {-s2};
        const int64_t sh_e[2] = {5, D2}, st_e[2] = {0, s2};
        const int64_t sh_f[3] = {D0, 0, D2}, st_f[3] = {s0, s1, s2};
        const shma_view views[] = {
            {buf + (D1 - 1) * s1, 3, sh_a, st_a, dt}, {buf, 3, sh_b, st_b, dt},
            {buf, 2, sh_c, st_c, dt},                 {buf + (D2 - 1) * s2, 1, sh_d, st_d, dt},
            {buf, 2, sh_e, st_e, dt},                 {buf, 3, sh_f, st_f, dt},
        };
        for (size_t k = 0; k < sizeof views / sizeof *views; k++) {
            shma_array *a = NULL;
            assert_shma_ok(k % 2 ? shma_copy_unsafe(*mgr, &views[k], &a) : shma_copy(*mgr, &views[k], &a));
            strided_job job = {.src = &views[k]};
            assert_shma_ok(shma_handle_encode(a, job.handle, sizeof job.handle, NULL));
            pid_t pid = h_fork(strided_checker, &job);
            assert_true(pid > 0);
            h_wait_ok(pid);
            assert_shma_ok(shma_close(&a));
        }
        free(buf);
    }
    assert_int_equal(shma_manager_count(*mgr), 0);
}

int main(void) {
    h_init("visibility");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_workers_1, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_workers_2, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_workers_8, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_workers_32, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_allocates_parent_attaches, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_child_manager_allocates_parent_attaches, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_strided_copy_seen_by_children, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_strided_copies_every_itemsize, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
