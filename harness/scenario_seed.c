/*
 * scenario_seed.c (issue 3, scenario 8): the seed README's examples, in C, across processes,
 * give exactly the results of a sequential run.
 *
 * "Parallel row summation": a 1000 x 1000 float64 array copied into shared memory through a
 * manager; a pool of worker processes takes tasks (handle, row) from a pipe, attaches from the
 * handle for each task (as unpickling a SharedArray does), sums the row, and sends it back.
 * "Image processing pipeline": a large image (2000 x 1000 under check, 10000 x 10000 under
 * stress) is shared once and 10 tiles' mean and std are computed by the pool, also for the
 * transposed image (a strided copy). "Automatic cleanup": a scoped array filled with 42.0 and
 * checked by the workers is gone after its scope. Each result must equal the sequential one bit
 * for bit: the workers run the same code on the same bytes.
 */
#include "harness.h"

#include <limits.h>
#include <math.h>

#define TASK_HANDLE_CAP 256

/* A task and its result travel as fixed-size records, below PIPE_BUF, so that several workers
 * can read one pipe and write another without their records interleaving. */
typedef struct task {
    int32_t kind; /* 1 row sum, 2 tile stats, 3 check all == 42 */
    int32_t index;
    int64_t begin, end; /* rows */
    char handle[TASK_HANDLE_CAP];
} task;

typedef struct result {
    int32_t index;
    int32_t ok;
    double a, b;
} result;

_Static_assert(sizeof(task) <= PIPE_BUF && sizeof(result) <= PIPE_BUF, "records must be atomic");

/* ---------------------------------------------------------------------------------------------
 * The computations, shared by the workers and the sequential reference
 * ------------------------------------------------------------------------------------------- */

/* Sum of row r of a 2-d float64 view, in order along the row (any strides). */
static double row_sum(const shma_view *v, int64_t r) {
    const char *row = (const char *)v->data + r * v->strides[0];
    double s = 0;
    for (int64_t j = 0; j < v->shape[1]; j++) s += *(const double *)(row + j * v->strides[1]);
    return s;
}

/* Mean and (population) standard deviation of rows [begin, end) of a 2-d float64 view, two
 * passes in row-major order: the same numbers in the same order give the same bits. */
static void tile_stats(const shma_view *v, int64_t begin, int64_t end, double *mean, double *std) {
    double s = 0;
    int64_t n = (end - begin) * v->shape[1];
    for (int64_t r = begin; r < end; r++) s += row_sum(v, r);
    *mean = s / (double)n;
    double q = 0;
    for (int64_t r = begin; r < end; r++) {
        const char *row = (const char *)v->data + r * v->strides[0];
        double rq = 0;
        for (int64_t j = 0; j < v->shape[1]; j++) {
            double d = *(const double *)(row + j * v->strides[1]) - *mean;
            rq += d * d;
        }
        q += rq;
    }
    *std = sqrt(q / (double)n);
}

/* ---------------------------------------------------------------------------------------------
 * The pool
 * ------------------------------------------------------------------------------------------- */

typedef struct pool {
    int tasks[2], results[2];
    int nworkers;
    pid_t pids[16];
} pool;

static int pool_worker(void *arg) {
    pool *p = arg;
    close(p->tasks[1]);
    close(p->results[0]);
    task t;
    for (;;) {
        ssize_t n = h_read_all(p->tasks[0], &t, sizeof t);
        if (n == 0) break; /* no more tasks */
        H_CHECK_EQ(n, (ssize_t)sizeof t);
        shma_array *a = NULL;
        H_CHECK_OK(shma_attach_handle(t.handle, strnlen(t.handle, sizeof t.handle), &a));
        shma_view v;
        H_CHECK_OK(shma_view_of(a, &v));
        result r = {.index = t.index, .ok = 1};
        switch (t.kind) {
        case 1: r.a = row_sum(&v, t.begin); break;
        case 2: tile_stats(&v, t.begin, t.end, &r.a, &r.b); break;
        default: {
            const double *d = v.data;
            for (int64_t i = 0; i < (int64_t)(shma_nbytes(a) / 8); i++)
                if (d[i] != 42.0) r.ok = 0;
        }
        }
        H_CHECK_OK(shma_close(&a));
        H_CHECK(h_write_all(p->results[1], &r, sizeof r));
    }
    return 0;
}

static void pool_start(pool *p, int nworkers) {
    h_pipe(p->tasks);
    h_pipe(p->results);
    p->nworkers = nworkers;
    for (int i = 0; i < nworkers; i++) assert_true((p->pids[i] = h_fork(pool_worker, p)) > 0);
    close(p->tasks[0]);
    close(p->results[1]);
}

/* Sends the tasks while collecting results (so neither pipe can fill up and stall), then ends
 * the pool. results[t.index] receives each. */
static void pool_map(pool *p, const task *tasks, int ntasks, result *results) {
    int sent = 0, got = 0;
    while (got < ntasks) {
        if (sent < ntasks) {
            assert_true(h_write_all(p->tasks[1], &tasks[sent], sizeof *tasks));
            sent++;
            if (sent == ntasks) close(p->tasks[1]);
            if (sent - got < 8) continue; /* keep a few in flight */
        }
        result r;
        assert_int_equal(h_read_all(p->results[0], &r, sizeof r), (ssize_t)sizeof r);
        assert_true(r.index >= 0 && r.index < ntasks);
        results[r.index] = r;
        got++;
    }
    if (ntasks == 0) close(p->tasks[1]);
    for (int i = 0; i < p->nworkers; i++) h_wait_ok(p->pids[i]);
    close(p->results[0]);
}

static int workers(void) { return (int)h_size(4, 2, 8); }

/* Deterministic pseudo-random doubles in [0, 1) (the seed's np.random.rand). */
static void fill_random(double *d, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d[i] = (double)(x >> 11) * 0x1.0p-53;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Row sums
 * ------------------------------------------------------------------------------------------- */

static void test_parallel_row_sum(void **state) {
    (void)state;
    const int64_t n = h_size(1000, 120, 4000);
    double *data = malloc((size_t)(n * n) * sizeof *data);
    assert_non_null(data);
    fill_random(data, (size_t)(n * n), h_seed());
    const int64_t shape[2] = {n, n}, strides[2] = {n * 8, 8};
    shma_view src = {.data = data, .ndim = 2, .shape = shape, .strides = strides};
    assert_shma_ok(shma_dtype_parse("float64", &src.dtype));

    shma_manager **mgr = h_manager(0);
    shma_array *shared = NULL;
    assert_shma_ok(shma_copy(*mgr, &src, &shared));
    task *tasks = calloc((size_t)n, sizeof *tasks);
    result *results = calloc((size_t)n, sizeof *results);
    assert_non_null(tasks);
    assert_non_null(results);
    for (int64_t i = 0; i < n; i++) {
        tasks[i] = (task){.kind = 1, .index = (int32_t)i, .begin = i};
        assert_shma_ok(shma_handle_encode(shared, tasks[i].handle, sizeof tasks[i].handle, NULL));
    }
    pool p;
    pool_start(&p, workers());
    pool_map(&p, tasks, (int)n, results);

    double total = 0, total_seq = 0;
    for (int64_t i = 0; i < n; i++) {
        double seq = row_sum(&src, i);
        if (results[i].a != seq) fail_msg("row %lld: pool %.17g, sequential %.17g", (long long)i, results[i].a, seq);
        total += results[i].a;
        total_seq += seq;
    }
    assert_true(total == total_seq);
    print_message("[seed] row sums of a %lld x %lld array by %d workers: total %.6f, equal to the sequential run\n",
                  (long long)n, (long long)n, p.nworkers, total);
    assert_shma_ok(shma_manager_shutdown(mgr)); /* the `with SharedMemoryManager()` exit */
    assert_shma_ok(shma_close(&shared));
    free(tasks);
    free(results);
    free(data);
}

/* ---------------------------------------------------------------------------------------------
 * Image tiles
 * ------------------------------------------------------------------------------------------- */

static void image_tiles(const shma_view *image, const char *what) {
    enum { N_TILES = 10 };
    shma_manager **mgr = h_manager(0);
    shma_array *shared = NULL;
    assert_shma_ok(shma_copy(*mgr, image, &shared));
    int64_t tile_height = image->shape[0] / N_TILES;
    task tasks[N_TILES];
    result results[N_TILES];
    for (int i = 0; i < N_TILES; i++) {
        tasks[i] = (task){.kind = 2, .index = i, .begin = i * tile_height, .end = (i + 1) * tile_height};
        assert_shma_ok(shma_handle_encode(shared, tasks[i].handle, sizeof tasks[i].handle, NULL));
    }
    pool p;
    pool_start(&p, workers());
    pool_map(&p, tasks, N_TILES, results);
    for (int i = 0; i < N_TILES; i++) {
        double mean, std;
        tile_stats(image, tasks[i].begin, tasks[i].end, &mean, &std);
        if (results[i].a != mean || results[i].b != std)
            fail_msg("%s tile %d: pool (%.17g, %.17g), sequential (%.17g, %.17g)", what, i,
                     results[i].a, results[i].b, mean, std);
        /* Uniform [0, 1): mean near 1/2, std near 1/sqrt(12). */
        assert_true(fabs(mean - 0.5) < 0.05 && fabs(std - 0.2887) < 0.05);
    }
    print_message("[seed] %s %lld x %lld: %d tiles' mean/std by %d workers equal the sequential run\n",
                  what, (long long)image->shape[0], (long long)image->shape[1], N_TILES, p.nworkers);
    assert_shma_ok(shma_close(&shared));
    assert_shma_ok(shma_manager_shutdown(mgr));
}

static void test_image_tiles(void **state) {
    (void)state;
    const int64_t h = h_size(2000, 200, 10000), w = h_size(1000, 100, 10000);
    double *img = malloc((size_t)(h * w) * sizeof *img);
    assert_non_null(img);
    fill_random(img, (size_t)(h * w), h_seed() + 1);
    const int64_t shape[2] = {h, w}, strides[2] = {w * 8, 8};
    shma_view v = {.data = img, .ndim = 2, .shape = shape, .strides = strides};
    assert_shma_ok(shma_dtype_parse("f8", &v.dtype));
    image_tiles(&v, "image");
    /* The transposed image, a strided view: shared as a C-contiguous copy. */
    const int64_t tshape[2] = {w, h}, tstrides[2] = {8, w * 8};
    shma_view t = {.data = img, .ndim = 2, .shape = tshape, .strides = tstrides, .dtype = v.dtype};
    image_tiles(&t, "transposed image");
    free(img);
}

/* ---------------------------------------------------------------------------------------------
 * Automatic cleanup
 * ------------------------------------------------------------------------------------------- */

static void scoped_block(shma_manager *mgr, char *name, size_t cap) {
    SHMA_SCOPED_ARRAY shared = NULL;
    const int64_t shape[2] = {h_size(1000, 100, 10000), h_size(1000, 100, 10000)};
    assert_shma_ok(shma_allocate(mgr, 2, shape, "float64", &shared));
    snprintf(name, cap, "%s", shma_name(shared));
    double *d = shma_data(shared);
    for (int64_t i = 0; i < shape[0] * shape[1]; i++) d[i] = 42.0;
    enum { CHECKERS = 3 };
    task tasks[CHECKERS];
    result results[CHECKERS];
    for (int i = 0; i < CHECKERS; i++) {
        tasks[i] = (task){.kind = 3, .index = i};
        assert_shma_ok(shma_handle_encode(shared, tasks[i].handle, sizeof tasks[i].handle, NULL));
    }
    pool p;
    pool_start(&p, workers());
    pool_map(&p, tasks, CHECKERS, results);
    for (int i = 0; i < CHECKERS; i++) assert_int_equal(results[i].ok, 1);
    assert_true(h_shm_exists(name));
}

static void test_scoped_cleanup(void **state) {
    (void)state;
    shma_manager **mgr = h_manager(0);
    char name[SHMA_NAME_MAX + 1];
    scoped_block(*mgr, name, sizeof name);
    assert_false(h_shm_exists(name)); /* closed, so unlinked, at the end of the scope */
    assert_int_equal(shma_manager_count(*mgr), 0);
    assert_shma_ok(shma_manager_shutdown(mgr));
}

int main(void) {
    h_init("seed");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parallel_row_sum, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_image_tiles, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_scoped_cleanup, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
