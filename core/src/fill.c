/*
 * fill.c: giving a freshly created segment its content (the array's data: zeros, or a copy of
 * a view; the zero padding; the trailer), with every page allocated before the call returns,
 * so that a full /dev/shm is SHMA_E_NOSPC here and never SIGBUS later; then mapping it.
 *
 * How, and why (measured on tmpfs, Linux 6.x, 4 KiB pages; figures in results/PERFORMANCE.md):
 *  - Zeros: posix_fallocate of the data, then one pwrite of the trailer (for small arrays, one
 *    pwrite of zeros and trailer). Writing the trailer through the mapping instead would cost a
 *    page fault, and sizing the file a separate ftruncate.
 *  - A copy: pwrite from the source. tmpfs does not zero-fill a page that write() fills whole,
 *    and no page is faulted: one copy per byte, where fallocate + memcpy through a mapping (or a
 *    memset of a fresh mapping) zero-fills every page, faults it in, then writes it again.
 *  - A strided copy is gathered a chunk at a time into a buffer small enough to stay in cache,
 *    and each chunk written with pwrite.
 *  - A large copy is split between this thread and a second one. Writes to one file are
 *    serialised (on the file's lock), so the second thread takes the back of the data through
 *    the mapping instead: it allocates its pages with MADV_POPULATE_WRITE, which takes no file
 *    lock and, like fallocate, reports a page it cannot allocate as an error rather than a
 *    later SIGBUS, then copies (or gathers) into them. Its pages are zero-filled first, which
 *    written ones are not, so it takes the smaller share. The thread is created and joined
 *    inside the call: no pool, nothing left running, no state a fork() could break. Where no
 *    thread can be started, or the kernel lacks MADV_POPULATE_WRITE, this thread does it all.
 */
#include "fill.h"

#include "os.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The gather buffer of strided copies: whole output rows, written with one pwrite each time.
 * Small enough to stay in L2 between the gather and the write. */
#define GATHER_BYTES (512u * 1024u)

/* A gather unit (whole rows) larger than this is gathered in GATHER_BYTES pieces instead. */
#define GATHER_MAX_BYTES (8u * 1024u * 1024u)

/* Copies at least this large check the free space first (below, the write fails fast anyway). */
#define SPACE_CHECK_BYTES (1u * 1024u * 1024u)

/* Copies at least this large are split over two threads (below, starting one is not repaid). */
#define PARALLEL_MIN_BYTES (4u * 1024u * 1024u)

/* The share of a split copy this thread writes, in 64ths: a written page costs one copy, a
 * faulted one a zero-fill and a copy, so the pwrite side takes more (tuned on a 2-core VM). */
#define FRONT_64THS_CONTIGUOUS 44u
#define FRONT_64THS_GATHERED 40u

#define PAGE_BYTES 4096u

/* Arrays of zeros up to this size are written, zeros and trailer in one pwrite, rather than
 * reserved with fallocate and then given their trailer: one system call instead of two. */
#define ZERO_WRITE_MAX 16384u

static const unsigned char zeros[ZERO_WRITE_MAX];

static int fail_nospc(const shma_fill *f, int err) {
    return shma__fail_errno(SHMA_E_NOSPC, err, "cannot reserve %llu bytes for segment '%s' in /dev/shm",
                            (unsigned long long)f->segment_bytes, f->name);
}

static int fail_write(const shma_fill *f, int err, bool src_fault) {
    if (src_fault) return shma__fail_errno(SHMA_E_ARG, err, "copy: the source view's memory is not readable");
    if (err == ENOSPC || err == EFBIG) return fail_nospc(f, err);
    return shma__fail_errno(shma__code_from_errno(err), err, "cannot fill segment '%s'", f->name);
}

/* ---------------------------------------------------------------------------------------------
 * Writing through pwrite
 * ------------------------------------------------------------------------------------------- */

/* Bytes gathered at a time: whole units (rows) filling GATHER_BYTES, or one unit, or, for
 * rows longer than GATHER_MAX_BYTES, pieces of rows. */
static uint64_t gather_chunk(const shma_copy_plan *src, uint64_t len) {
    uint64_t unit = shma__copy_unit(src), chunk;
    if (unit <= GATHER_BYTES) chunk = GATHER_BYTES / unit * unit;
    else if (unit <= GATHER_MAX_BYTES) chunk = unit;
    else chunk = GATHER_BYTES / src->itemsize * src->itemsize;
    if (chunk == 0) chunk = src->itemsize;
    return chunk < len ? chunk : len;
}

/* Writes output bytes [0, len) of a strided plan, a gathered chunk at a time, the chunks after
 * the first starting where the plan's units do. The source is read by the gather, not by
 * write(): memory that cannot be read faults there, as any read of it would. */
static int write_gathered(int fd, const shma_copy_plan *src, uint64_t len) {
    uint64_t chunk = gather_chunk(src, len);
    uint64_t first = shma__copy_phase(src);
    if (first == 0 || first > chunk) first = chunk;
    char *buf = malloc((size_t)chunk);
    if (!buf) return ENOMEM;
    int err = 0;
    for (uint64_t off = 0, n; off < len && !err; off += n) {
        n = off == 0 ? first : chunk;
        if (n > len - off) n = len - off;
        shma__copy_range(src, off, n, buf);
        struct iovec iov = {buf, (size_t)n};
        err = shma__os_write(fd, &iov, 1, off);
    }
    free(buf);
    return err;
}

/* Writes output bytes [0, len) of the plan: straight from the source when it is contiguous
 * (EFAULT then means the source could not be read: the file is ours), else gathered. */
static int write_front(int fd, const shma_copy_plan *src, uint64_t len, bool *src_fault) {
    const void *direct = shma__copy_source_if_contiguous(src);
    if (!direct) return write_gathered(fd, src, len);
    struct iovec iov = {(void *)direct, (size_t)len};
    int err = shma__os_write(fd, &iov, 1, 0);
    *src_fault = err == EFAULT;
    return err;
}

/* ---------------------------------------------------------------------------------------------
 * The second thread: the back of a large copy, through the mapping
 * ------------------------------------------------------------------------------------------- */

typedef struct back_job {
    const shma_copy_plan *src;
    char *map;
    uint64_t off, len; /* output bytes; off is page-aligned */
    int err;
} back_job;

static void *back_main(void *arg) {
    back_job *job = arg;
    uint64_t pages = (job->len + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES;
    job->err = shma__os_populate_write(job->map + job->off, pages);
    if (job->err == 0) shma__copy_range(job->src, job->off, job->len, job->map + job->off);
    return NULL;
}

/* A copy split between this thread (the front, written, and the tail) and a second one (the
 * back, faulted in and copied through the mapping). SHMA_E_UNAVAILABLE, with nothing written,
 * when no thread could be started. */
static int fill_split(int fd, const shma_fill *f, const shma_copy_plan *src, void **map_out) {
    /* The split is page-aligned for the second thread's madvise and a whole number of
     * elements: a multiple of lcm(page, itemsize). */
    uint64_t a = PAGE_BYTES, b = src->itemsize;
    while (b) {
        uint64_t t = a % b;
        a = b, b = t;
    }
    uint64_t step = PAGE_BYTES / a * src->itemsize;
    uint64_t share = shma__copy_source_if_contiguous(src) ? FRONT_64THS_CONTIGUOUS : FRONT_64THS_GATHERED;
    uint64_t split = f->data_bytes / 64 * share / step * step;
    if (split == 0 || split >= f->data_bytes) return SHMA_E_UNAVAILABLE;

    /* The second thread writes through the mapping: the file needs its size first. */
    int err = shma__os_resize(fd, f->segment_bytes);
    if (err) return fail_write(f, err, false);
    void *map = NULL;
    err = shma__os_map(fd, f->segment_bytes, false, &map);
    if (err) return shma__fail_errno(shma__code_from_errno(err), err, "cannot map segment '%s'", f->name);

    back_job job = {src, map, split, f->data_bytes - split, 0};
    pthread_t thread;
    pthread_attr_t attr;
    int started = pthread_attr_init(&attr);
    if (started == 0) {
        /* Its stack holds a few frames: a small one is quicker to set up. */
        pthread_attr_setstacksize(&attr, 64 * 1024);
        started = pthread_create(&thread, &attr, back_main, &job);
        pthread_attr_destroy(&attr);
    }
    if (started != 0) {
        shma__os_unmap(map, f->segment_bytes);
        return SHMA_E_UNAVAILABLE;
    }
    bool src_fault = false;
    err = write_front(fd, src, split, &src_fault);
    uint64_t padded = f->segment_bytes - SHMA_TRAILER_SIZE;
    struct iovec tail[2] = {{(void *)zeros, (size_t)(padded - f->data_bytes)}, {(void *)f->trailer, SHMA_TRAILER_SIZE}};
    if (!err) err = shma__os_write(fd, tail, 2, f->data_bytes);
    pthread_join(thread, NULL);
    if (!err && job.err == EINVAL) {
        /* A kernel without MADV_POPULATE_WRITE: reserve the back here, then copy it. */
        job.err = shma__os_reserve(fd, split, f->data_bytes - split);
        if (job.err == 0) shma__copy_range(src, split, f->data_bytes - split, (char *)map + split);
    }
    int rc = SHMA_OK;
    if (err) rc = fail_write(f, err, src_fault);
    else if (job.err == EFAULT || job.err == ENOMEM || job.err == ENOSPC || job.err == EFBIG) rc = fail_nospc(f, job.err);
    else if (job.err) rc = shma__fail_errno(SHMA_E_OS, job.err, "cannot fault in segment '%s'", f->name);
    if (rc != SHMA_OK) {
        shma__os_unmap(map, f->segment_bytes);
        return rc;
    }
    *map_out = map;
    return SHMA_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Entry point
 * ------------------------------------------------------------------------------------------- */

int shma__fill_segment(int fd, const shma_fill *f, void **map_out) {
    /* An empty array's view may have no data at all: only the trailer is written. */
    const shma_copy_plan *src = f->data_bytes > 0 ? f->src : NULL;
    uint64_t padded = f->segment_bytes - SHMA_TRAILER_SIZE;
    bool src_fault = false;
    int err;
    if (src == NULL) {
        struct iovec iov[2] = {{(void *)zeros, (size_t)padded}, {(void *)f->trailer, SHMA_TRAILER_SIZE}};
        if (padded <= ZERO_WRITE_MAX) {
            err = shma__os_write(fd, iov, 2, 0);
        } else {
            err = shma__os_reserve(fd, 0, padded);
            if (!err) err = shma__os_write(fd, iov + 1, 1, padded);
        }
    } else {
        /* fallocate refuses a size it cannot hold before touching a page; writing would fill
         * the memory first and fail only then, so refuse too large a copy up front. */
        uint64_t avail;
        if (f->data_bytes >= SPACE_CHECK_BYTES && shma__os_space(fd, &avail) == 0 && avail < f->segment_bytes)
            return fail_nospc(f, ENOSPC);
        if (f->data_bytes >= PARALLEL_MIN_BYTES) {
            int rc = fill_split(fd, f, src, map_out);
            if (rc != SHMA_E_UNAVAILABLE) return rc;
        }
        const void *direct = shma__copy_source_if_contiguous(src);
        struct iovec iov[3] = {{(void *)direct, (size_t)f->data_bytes},
                               {(void *)zeros, (size_t)(padded - f->data_bytes)},
                               {(void *)f->trailer, SHMA_TRAILER_SIZE}};
        if (direct) {
            /* One call: data, padding and trailer. EFAULT can only be the source's. */
            err = shma__os_write(fd, iov, 3, 0);
            src_fault = err == EFAULT;
        } else {
            err = write_gathered(fd, src, f->data_bytes);
            if (!err) err = shma__os_write(fd, iov + 1, 2, f->data_bytes);
        }
    }
    if (err) return fail_write(f, err, src_fault);
    void *map = NULL;
    err = shma__os_map(fd, f->segment_bytes, f->populate, &map);
    if (err) return shma__fail_errno(shma__code_from_errno(err), err, "cannot map segment '%s'", f->name);
    *map_out = map;
    return SHMA_OK;
}
