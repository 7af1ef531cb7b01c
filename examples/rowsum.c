/*
 * rowsum: the seed README's "parallel row summation" in C.
 *
 * The parent copies a ROWS x COLS float64 array into shared memory through a manager, forks
 * WORKERS processes and sends each, through a pipe, the array's handle (a few dozen bytes, what
 * pickling a SharedArray sends in Python) and the range of rows it should sum. Each worker
 * attaches from the handle, sums its rows and writes the partial sum back. The parent checks
 * the total against a sequential sum of the same rows in the same order.
 *
 * usage: rowsum [WORKERS [ROWS [COLS]]]   (defaults 4, 1000, 1000)
 */
#include "shmanager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct task {
    char handle[SHMA_HANDLE_MAX];
    int64_t worker, row_begin, row_end;
} task;

typedef struct result {
    int64_t worker;
    double sum;
} result;

static int die(const char *what, int rc) {
    fprintf(stderr, "rowsum: %s: %s (%s)\n", what, shma_strerror(rc), shma_last_error());
    return 1;
}

static int read_full(int fd, void *buf, size_t n) {
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* A worker: receive one task, attach, sum, reply, exit. Uses only the handle. */
static int worker(int in_fd, int out_fd) {
    task t;
    if (read_full(in_fd, &t, sizeof t) != 0) return 2;
    SHMA_SCOPED_ARRAY arr = NULL;
    int rc = shma_attach_handle(t.handle, strlen(t.handle), &arr);
    if (rc != SHMA_OK) return die("attach", rc), 3;
    shma_view v;
    shma_view_of(arr, &v);
    const double *a = v.data;
    int64_t cols = v.shape[1];
    double sum = 0.0;
    for (int64_t r = t.row_begin; r < t.row_end; r++) {
        double row = 0.0;
        for (int64_t c = 0; c < cols; c++) row += a[r * cols + c];
        sum += row;
    }
    result res = {t.worker, sum};
    return write(out_fd, &res, sizeof res) == (ssize_t)sizeof res ? 0 : 4;
}

int main(int argc, char **argv) {
    int workers = argc > 1 ? atoi(argv[1]) : 4;
    int64_t rows = argc > 2 ? atoll(argv[2]) : 1000, cols = argc > 3 ? atoll(argv[3]) : 1000;
    if (workers < 1 || rows < 1 || cols < 1) {
        fprintf(stderr, "usage: rowsum [WORKERS [ROWS [COLS]]]\n");
        return 2;
    }

    /* The data lives in ordinary memory first, as a NumPy array would. */
    double *data = malloc((size_t)(rows * cols) * sizeof *data);
    if (!data) return fprintf(stderr, "rowsum: out of memory\n"), 1;
    srand(42);
    for (int64_t i = 0; i < rows * cols; i++) data[i] = rand() / (double)RAND_MAX;

    SHMA_SCOPED_MANAGER mgr = NULL;
    int rc = shma_manager_create(0, &mgr);
    if (rc != SHMA_OK) return die("manager", rc);
    int64_t shape[2] = {rows, cols}, strides[2] = {cols * (int64_t)sizeof(double), sizeof(double)};
    shma_view src = {.data = data, .ndim = 2, .shape = shape, .strides = strides};
    if ((rc = shma_dtype_parse("float64", &src.dtype)) != SHMA_OK) return die("dtype", rc);
    SHMA_SCOPED_ARRAY shared = NULL;
    if ((rc = shma_copy(mgr, &src, &shared)) != SHMA_OK) return die("copy", rc);

    task t;
    if ((rc = shma_handle_encode(shared, t.handle, sizeof t.handle, NULL)) != SHMA_OK) return die("handle", rc);
    int results[2];
    if (pipe(results) != 0) return perror("pipe"), 1;
    for (int w = 0; w < workers; w++) {
        int in[2];
        if (pipe(in) != 0) return perror("pipe"), 1;
        pid_t pid = fork();
        if (pid < 0) return perror("fork"), 1;
        if (pid == 0) {
            close(in[1]);
            close(results[0]);
            _exit(worker(in[0], results[1]));
        }
        close(in[0]);
        t.worker = w;
        t.row_begin = rows * w / workers;
        t.row_end = rows * (w + 1) / workers;
        if (write(in[1], &t, sizeof t) != (ssize_t)sizeof t) return perror("write"), 1;
        close(in[1]);
    }
    close(results[1]);

    /* Partial sums arrive in any order; adding them in worker order makes the total
     * bit-identical to the sequential sum below. */
    double *parts = calloc((size_t)workers, sizeof *parts);
    if (!parts) return fprintf(stderr, "rowsum: out of memory\n"), 1;
    result res;
    int got = 0;
    while (read_full(results[0], &res, sizeof res) == 0)
        if (res.worker >= 0 && res.worker < workers) parts[res.worker] = res.sum, got++;
    close(results[0]);
    double total = 0.0;
    for (int w = 0; w < workers; w++) total += parts[w];
    free(parts);
    int failed = 0;
    for (int w = 0; w < workers; w++) {
        int status;
        if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
    }

    /* The same sums in the same association, in one process. */
    double expect = 0.0;
    for (int w = 0; w < workers; w++) {
        double part_sum = 0.0;
        for (int64_t r = rows * w / workers; r < rows * (w + 1) / workers; r++) {
            double row = 0.0;
            for (int64_t c = 0; c < cols; c++) row += data[r * cols + c];
            part_sum += row;
        }
        expect += part_sum;
    }
    free(data);
    printf("rowsum: %d workers summed %lld x %lld float64 from segment %s\n", workers, (long long)rows,
           (long long)cols, shma_name(shared));
    printf("rowsum: parallel total %.6f, sequential total %.6f: %s\n", total, expect,
           failed == 0 && got == workers && total == expect ? "match" : "MISMATCH");
    return failed == 0 && got == workers && total == expect ? 0 : 1;
}
