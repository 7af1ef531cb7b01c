/*
 * array.c: the array lifecycle: allocate, copy, attach, view, close.
 *
 * A segment is laid out as [data | zero padding to SHMA_DATA_ALIGN | trailer], so its data is
 * at offset 0 for any reader and its metadata is always its last SHMA_TRAILER_SIZE bytes.
 * Every path maps the whole segment once; the trailer is read from that mapping, which costs
 * no system call beyond the mmap a raw attach makes anyway.
 */
#include "array.h"
#include "fill.h"
#include "os.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where an empty array's data points: never dereferenced, but non-NULL as NumPy expects. */
static max_align_t empty_data;

#define NAME_ATTEMPTS 16 /* fresh random names tried before giving up on collisions */

/* ---------------------------------------------------------------------------------------------
 * Shared pieces
 * ------------------------------------------------------------------------------------------- */

static shma_array *array_new(const char *bare, int ndim, const int64_t *shape, const shma_dtype *dtype,
                             uint64_t nbytes) {
    shma_array *arr = malloc(sizeof *arr);
    if (!arr) return NULL;
    arr->data = &empty_data;
    arr->map = NULL;
    arr->map_bytes = 0;
    arr->nbytes = nbytes;
    arr->ndim = ndim;
    arr->dtype = *dtype;
    arr->owner = false;
    arr->creator_pid = 0;
    arr->named_ino = 0;
    arr->mgr = NULL;
    arr->mgr_prev = arr->mgr_next = NULL;
    if (ndim > 0) memcpy(arr->shape, shape, (size_t)ndim * sizeof *shape);
    shma__contiguous_strides(ndim, shape, dtype->itemsize, arr->strides);
    size_t n = strnlen(bare, SHMA_NAME_MAX);
    memcpy(arr->name, bare, n);
    arr->name[n] = '\0';
    return arr;
}

static void array_set_mapping(shma_array *arr, void *map, uint64_t map_bytes) {
    arr->map = map;
    arr->map_bytes = map_bytes;
    if (map && arr->nbytes > 0) arr->data = map;
}

static int fail_os(int errnum, const char *what, const char *bare) {
    return shma__fail_errno(shma__code_from_errno(errnum), errnum, "%s '%s'", what, bare);
}

/* mmap's EINVAL is not a bad name, as shm_open's is: keep its codes apart. */
static int fail_map(int errnum, const char *bare) {
    return shma__fail_errno(errnum == ENOMEM ? SHMA_E_NOMEM : SHMA_E_OS, errnum, "cannot map segment '%s'", bare);
}

/* ---------------------------------------------------------------------------------------------
 * Creating
 * ------------------------------------------------------------------------------------------- */

/* Everything allocate needs, validated (or, on the unsafe path, merely computed). */
typedef struct alloc_req {
    int ndim;
    const int64_t *shape;
    shma_dtype dtype;
    uint64_t nbytes;
    uint64_t segment_bytes;
    const char *name; /* bare, or NULL for a random one */
    uint32_t flags;
} alloc_req;

/* Creates the segment, fills it (zeros, or the copy `src` plans) with its trailer and maps it
 * (fill.c): the common tail of every allocation and copy. */
static int create_array(shma_manager *mgr, const alloc_req *req, const shma_copy_plan *src, shma_array **out) {
    shma_meta meta;
    memset(&meta, 0, sizeof meta);
    int err = shma__self_identity(&meta.creator_pid, &meta.creator_start);
    if (err) return shma__fail_errno(SHMA_E_OS, err, "cannot read this process's start time from /proc");
    meta.dtype = req->dtype;
    meta.ndim = req->ndim;
    if (req->ndim > 0) memcpy(meta.shape, req->shape, (size_t)req->ndim * sizeof *req->shape);
    meta.data_bytes = req->nbytes;
    unsigned char trailer[SHMA_TRAILER_SIZE];
    shma__trailer_encode(&meta, trailer);

    char name[SHMA_NAME_MAX + 1];
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        if (req->name) {
            snprintf(name, sizeof name, "%s", req->name);
        } else {
            SHMA_FORWARD(shma__name_random(name));
        }
        if (mgr) SHMA_FORWARD(shma__manager_begin(mgr, name));
        err = shma__os_create(name, &fd);
        if (err == 0) break;
        if (mgr) shma__manager_abort(mgr, name);
        if (err != EEXIST || req->name || attempt + 1 == NAME_ATTEMPTS) return fail_os(err, "cannot create segment", name);
    }

    /* A random name is never made again by anyone; a chosen one may be, after someone else
     * unlinked ours, so close must check that the name still means this segment. */
    uint64_t named_ino = 0;
    err = req->name ? shma__os_fd_inode(fd, &named_ino) : 0;
    void *map = NULL;
    int rc = err ? fail_os(err, "cannot read segment", name) : SHMA_OK;
    if (rc == SHMA_OK) {
        shma_fill fill = {name, req->nbytes, req->segment_bytes, src, trailer, req->flags & SHMA_ALLOC_POPULATE};
        rc = shma__fill_segment(fd, &fill, &map);
    }
    shma__os_close(fd);
    if (rc == SHMA_OK && (req->flags & SHMA_ALLOC_HUGEPAGES)) {
        err = shma__os_advise_hugepages(map, req->segment_bytes);
        if (err)
            rc = err == ENOTSUP ? shma__fail(SHMA_E_UNAVAILABLE, "transparent huge pages for shared memory are "
                                             "off on this system (/sys/kernel/mm/transparent_hugepage/shmem_enabled)")
                                : fail_os(err, "madvise(MADV_HUGEPAGE) failed on segment", name);
    }
    shma_array *arr = NULL;
    if (rc == SHMA_OK) {
        arr = array_new(name, req->ndim, req->shape, &req->dtype, req->nbytes);
        if (!arr) rc = shma__fail(SHMA_E_NOMEM, "out of memory for the array of segment '%s'", name);
    }
    if (rc != SHMA_OK) {
        if (map) shma__os_unmap(map, req->segment_bytes);
        shma__os_unlink(name);
        if (mgr) shma__manager_abort(mgr, name);
        return rc;
    }
    array_set_mapping(arr, map, req->segment_bytes);
    arr->owner = true;
    arr->creator_pid = meta.creator_pid;
    arr->named_ino = named_ino;
    if (mgr) shma__manager_adopt(mgr, arr);
    *out = arr;
    return SHMA_OK;
}

/* Validates dtype and shape into req (the safe path). */
static int check_array_args(int ndim, const int64_t *shape, const char *dtype, alloc_req *req) {
    SHMA_FORWARD(shma_dtype_parse(dtype, &req->dtype));
    SHMA_FORWARD(shma__shape_check(ndim, shape, req->dtype.itemsize, &req->nbytes));
    SHMA_FORWARD(shma__segment_size(req->nbytes, &req->segment_bytes));
    req->ndim = ndim;
    req->shape = shape;
    return SHMA_OK;
}

int shma_allocate_ex(shma_manager *mgr, int ndim, const int64_t *shape, const char *dtype,
                     const shma_alloc_opts *opts, shma_array **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "allocate: out is NULL");
    alloc_req req = {0};
    SHMA_FORWARD(check_array_args(ndim, shape, dtype, &req));
    if (opts) {
        const uint32_t known = SHMA_ALLOC_HUGEPAGES | SHMA_ALLOC_POPULATE;
        SHMA_FAIL_IF(opts->flags & ~known, SHMA_E_ARG, "allocate: unknown flags 0x%x", (unsigned)(opts->flags & ~known));
        if (opts->name) SHMA_FORWARD(shma__name_check(opts->name, &req.name));
        req.flags = opts->flags;
    }
    return create_array(mgr, &req, NULL, out);
}

int shma_allocate(shma_manager *mgr, int ndim, const int64_t *shape, const char *dtype, shma_array **out) {
    return shma_allocate_ex(mgr, ndim, shape, dtype, NULL, out);
}

static int like_args(const shma_view *like, alloc_req *req) {
    SHMA_FAIL_IF(like == NULL, SHMA_E_ARG, "view is NULL");
    /* The view's dtype was filled by shma_dtype_parse(); re-parsing its canonical string
     * checks that it was, rather than trusting a hand-filled struct. */
    char str[SHMA_DTYPE_STR_MAX];
    memcpy(str, like->dtype.str, sizeof str);
    str[sizeof str - 1] = '\0';
    return check_array_args(like->ndim, like->shape, str, req);
}

int shma_allocate_like(shma_manager *mgr, const shma_view *like, shma_array **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "allocate_like: out is NULL");
    alloc_req req = {0};
    SHMA_FORWARD(like_args(like, &req));
    return create_array(mgr, &req, NULL, out);
}

int shma_copy(shma_manager *mgr, const shma_view *src, shma_array **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "copy: out is NULL");
    alloc_req req = {0};
    SHMA_FORWARD(like_args(src, &req));
    SHMA_FAIL_IF(src->dtype.itemsize != req.dtype.itemsize, SHMA_E_DTYPE, "copy: view dtype '%s' has itemsize %u, not %u",
                 req.dtype.str, (unsigned)src->dtype.itemsize, (unsigned)req.dtype.itemsize);
    int64_t lo, hi;
    uint64_t nbytes;
    SHMA_FORWARD(shma__view_check(src, &nbytes, &lo, &hi));
    shma_copy_plan plan;
    shma__copy_plan(&plan, src, nbytes);
    return create_array(mgr, &req, &plan, out);
}

/* ---------------------------------------------------------------------------------------------
 * Creating, unsafe: the same without validation
 * ------------------------------------------------------------------------------------------- */

/* Sizes req from its dtype and a shape, unchecked (shma__segment_size's formula, no overflow test). */
static void unsafe_size(alloc_req *req, int ndim, const int64_t *shape) {
    req->ndim = ndim;
    req->shape = shape;
    req->nbytes = shma__shape_nbytes(ndim, shape, req->dtype.itemsize);
    req->segment_bytes = (req->nbytes + SHMA_DATA_ALIGN - 1) / SHMA_DATA_ALIGN * SHMA_DATA_ALIGN + SHMA_TRAILER_SIZE;
}

static int unsafe_args(int ndim, const int64_t *shape, const char *dtype, alloc_req *req) {
    if (shma__dtype_lookup_fast(dtype, &req->dtype) != SHMA_OK)
        return shma__fail(SHMA_E_DTYPE, "dtype not recognised by the unsafe lookup");
    unsafe_size(req, ndim, shape);
    return SHMA_OK;
}

int shma_allocate_unsafe(shma_manager *mgr, int ndim, const int64_t *shape, const char *dtype, shma_array **out) {
    alloc_req req = {0};
    SHMA_FORWARD(unsafe_args(ndim, shape, dtype, &req));
    return create_array(mgr, &req, NULL, out);
}

static void like_unsafe_args(const shma_view *like, alloc_req *req) {
    memset(req, 0, sizeof *req);
    req->dtype = like->dtype;
    unsafe_size(req, like->ndim, like->shape);
}

int shma_allocate_like_unsafe(shma_manager *mgr, const shma_view *like, shma_array **out) {
    alloc_req req;
    like_unsafe_args(like, &req);
    return create_array(mgr, &req, NULL, out);
}

int shma_copy_unsafe(shma_manager *mgr, const shma_view *src, shma_array **out) {
    alloc_req req;
    like_unsafe_args(src, &req);
    shma_copy_plan plan;
    shma__copy_plan(&plan, src, req.nbytes);
    return create_array(mgr, &req, &plan, out);
}

/* ---------------------------------------------------------------------------------------------
 * Attaching
 * ------------------------------------------------------------------------------------------- */

/* Opens and maps the whole segment. On success *arr is a client array named bare with no
 * shape yet (the caller fills it) and *meta_rc says what the trailer held: SHMA_OK (meta
 * filled), SHMA_E_NOMETA or SHMA_E_CORRUPT (detail set).
 *
 * The trailer is read with pread, not through the mapping: a system call costs less than the
 * page fault that touching the trailer's page would, and leaves that page unmapped until the
 * caller wants it. `expect` (0 when unknown) is the segment size the caller's shape implies:
 * then one read of the trailer there, asking for a byte more, both finds the trailer and
 * shows that the segment ends right after it, which saves the fstat a raw attach makes. */
static int map_segment(const char *bare, bool read_meta, uint64_t expect, shma_array **arr_out, shma_meta *meta,
                       int *meta_rc) {
    int fd;
    int err = shma__os_open(bare, &fd);
    if (err == ENOENT) return shma__fail(SHMA_E_NOTFOUND, "no shared-memory segment named '%s'", bare);
    if (err) return fail_os(err, "cannot open segment", bare);
    unsigned char tail[SHMA_TRAILER_SIZE + 1];
    size_t got = 0;
    uint64_t size = 0;
    if (read_meta && expect >= SHMA_TRAILER_SIZE) {
        err = shma__os_read(fd, tail, sizeof tail, expect - SHMA_TRAILER_SIZE, &got);
        if (!err && got == SHMA_TRAILER_SIZE) size = expect;
        else got = 0;
    }
    if (!err && size == 0) {
        err = shma__os_size(fd, &size);
        if (!err && read_meta && size >= SHMA_TRAILER_SIZE)
            err = shma__os_read(fd, tail, SHMA_TRAILER_SIZE, size - SHMA_TRAILER_SIZE, &got);
    }
    if (err) {
        shma__os_close(fd);
        return fail_os(err, "cannot read segment", bare);
    }
    void *map = NULL;
    if (size > 0) err = shma__os_map(fd, size, false, &map);
    shma__os_close(fd);
    if (err) return fail_map(err, bare);

    *meta_rc = SHMA_E_NOMETA;
    if (read_meta) {
        if (size < SHMA_TRAILER_SIZE)
            shma__fail(SHMA_E_NOMETA, "segment '%s' holds %llu bytes, too few for shmanager metadata", bare,
                       (unsigned long long)size);
        else if (got < SHMA_TRAILER_SIZE)
            *meta_rc = shma__fail(SHMA_E_CORRUPT, "segment '%s' shrank while its metadata was read", bare);
        else
            *meta_rc = shma__trailer_decode(tail, size, meta);
    }
    static const shma_dtype no_dtype = {"|u1", 'u', '|', 1};
    shma_array *arr = array_new(bare, 0, NULL, &no_dtype, 0);
    if (!arr) {
        if (map) shma__os_unmap(map, size);
        return shma__fail(SHMA_E_NOMEM, "out of memory for the array of segment '%s'", bare);
    }
    array_set_mapping(arr, map, size);
    *arr_out = arr;
    return SHMA_OK;
}

/* Gives a mapped client array its shape and dtype; fixes data for empty arrays. */
static void array_shape(shma_array *arr, int ndim, const int64_t *shape, const shma_dtype *dtype, uint64_t nbytes) {
    arr->ndim = ndim;
    arr->dtype = *dtype;
    arr->nbytes = nbytes;
    if (ndim > 0) memcpy(arr->shape, shape, (size_t)ndim * sizeof *shape);
    shma__contiguous_strides(ndim, shape, dtype->itemsize, arr->strides);
    arr->data = nbytes > 0 && arr->map ? arr->map : (void *)&empty_data;
}

static void array_free(shma_array *arr) {
    if (arr->map) shma__os_unmap(arr->map, arr->map_bytes);
    free(arr);
}

static int mismatch(const char *bare, int ndim, const int64_t *shape, const shma_dtype *dtype, const shma_meta *meta) {
    char want[160], have[160];
    shma__format_shape(want, sizeof want, ndim, shape);
    shma__format_shape(have, sizeof have, meta->ndim, meta->shape);
    return shma__fail(SHMA_E_MISMATCH, "segment '%s' holds shape %s dtype %s, not shape %s dtype %s", bare, have,
                      meta->dtype.str, want, dtype->str);
}

static bool same_shape(int ndim, const int64_t *shape, const shma_meta *meta) {
    if (ndim != meta->ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (shape[i] != meta->shape[i]) return false;
    return true;
}

/* The safe attach, once the arguments are validated. */
static int attach_checked(const char *bare, int ndim, const int64_t *shape, const shma_dtype *dtype, uint64_t nbytes,
                          shma_array **out) {
    shma_array *arr;
    shma_meta meta;
    int meta_rc;
    uint64_t expect = 0;
    if (shma__segment_size(nbytes, &expect) != SHMA_OK) expect = 0;
    SHMA_FORWARD(map_segment(bare, true, expect, &arr, &meta, &meta_rc));
    int rc = SHMA_OK;
    if (meta_rc == SHMA_OK) {
        if (!same_shape(ndim, shape, &meta) || strcmp(dtype->str, meta.dtype.str) != 0)
            rc = mismatch(bare, ndim, shape, dtype, &meta);
    } else if (meta_rc == SHMA_E_CORRUPT) {
        rc = meta_rc;
    } else if (arr->map_bytes < nbytes) {
        char want[160];
        shma__format_shape(want, sizeof want, ndim, shape);
        rc = shma__fail(SHMA_E_SIZE, "segment '%s' holds %llu bytes, shape %s %s needs %llu", bare,
                        (unsigned long long)arr->map_bytes, want, dtype->str, (unsigned long long)nbytes);
    }
    if (rc != SHMA_OK) {
        array_free(arr);
        return rc;
    }
    array_shape(arr, ndim, shape, dtype, nbytes);
    *out = arr;
    return SHMA_OK;
}

int shma_attach(const char *name, int ndim, const int64_t *shape, const char *dtype, shma_array **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "attach: out is NULL");
    const char *bare;
    SHMA_FORWARD(shma__name_check(name, &bare));
    alloc_req req = {0};
    SHMA_FORWARD(check_array_args(ndim, shape, dtype, &req));
    return attach_checked(bare, ndim, shape, &req.dtype, req.nbytes, out);
}

int shma_attach_name(const char *name, shma_array **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "attach_name: out is NULL");
    const char *bare;
    SHMA_FORWARD(shma__name_check(name, &bare));
    shma_array *arr;
    shma_meta meta;
    int meta_rc;
    SHMA_FORWARD(map_segment(bare, true, 0, &arr, &meta, &meta_rc));
    if (meta_rc != SHMA_OK) {
        array_free(arr);
        if (meta_rc == SHMA_E_NOMETA)
            return shma__fail(SHMA_E_NOMETA, "segment '%s' has no shmanager metadata (made by another program?): "
                                             "attach it with an explicit shape and dtype", bare);
        return meta_rc;
    }
    array_shape(arr, meta.ndim, meta.shape, &meta.dtype, meta.data_bytes);
    *out = arr;
    return SHMA_OK;
}

int shma_attach_handle(const char *handle, size_t len, shma_array **out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "attach_handle: out is NULL");
    shma_handle h;
    SHMA_FORWARD(shma_handle_decode(handle, len, &h));
    uint64_t nbytes;
    SHMA_FORWARD(shma__shape_check(h.ndim, h.shape, h.dtype.itemsize, &nbytes));
    return attach_checked(h.name, h.ndim, h.shape, &h.dtype, nbytes, out);
}

int shma_attach_unsafe(const char *name, int ndim, const int64_t *shape, const char *dtype, shma_array **out) {
    const char *bare = name[0] == '/' ? name + 1 : name;
    shma_dtype dt;
    if (shma__dtype_lookup_fast(dtype, &dt) != SHMA_OK)
        return shma__fail(SHMA_E_DTYPE, "dtype not recognised by the unsafe lookup");
    shma_array *arr;
    shma_meta meta;
    int meta_rc;
    SHMA_FORWARD(map_segment(bare, false, 0, &arr, &meta, &meta_rc));
    array_shape(arr, ndim, shape, &dt, shma__shape_nbytes(ndim, shape, dt.itemsize));
    *out = arr;
    return SHMA_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Using and closing
 * ------------------------------------------------------------------------------------------- */

int shma_view_of(const shma_array *arr, shma_view *out) {
    SHMA_FAIL_IF(arr == NULL || out == NULL, SHMA_E_ARG, "view: %s is NULL", arr == NULL ? "array" : "out");
    out->data = arr->data;
    out->ndim = arr->ndim;
    out->shape = arr->shape;
    out->strides = arr->strides;
    out->dtype = arr->dtype;
    return SHMA_OK;
}

const char *shma_name(const shma_array *arr) { return arr->name; }
int shma_ndim(const shma_array *arr) { return arr->ndim; }
const int64_t *shma_shape(const shma_array *arr) { return arr->shape; }
const char *shma_dtype_str(const shma_array *arr) { return arr->dtype.str; }
size_t shma_nbytes(const shma_array *arr) { return (size_t)arr->nbytes; }
bool shma_is_owner(const shma_array *arr) { return arr->owner; }
void *shma_data(const shma_array *arr) { return arr->data; }

int shma__array_unlink_own(const shma_array *arr) {
    /* Only the creating process unlinks: a forked child's copy of an owner is a client. */
    if (arr->creator_pid != (int64_t)getpid()) return 0;
    if (arr->named_ino) {
        uint64_t ino;
        int err = shma__os_name_inode(arr->name, &ino);
        if (err) return err;
        if (ino != arr->named_ino) return ENOENT;
    }
    return shma__os_unlink(arr->name);
}

int shma_close(shma_array **parr) {
    if (parr == NULL || *parr == NULL) return SHMA_OK;
    shma_array *arr = *parr;
    *parr = NULL;
    int rc = SHMA_OK;
    if (arr->owner) {
        int err = shma__array_unlink_own(arr);
        if (err && err != ENOENT) rc = fail_os(err, "close: cannot unlink segment", arr->name);
    }
    if (arr->mgr) shma__manager_release(arr);
    array_free(arr);
    return rc;
}

void shma_closep(shma_array **arr) { (void)shma_close(arr); }

int shma_disown(shma_array *arr) {
    SHMA_FAIL_IF(arr == NULL, SHMA_E_ARG, "disown: array is NULL");
    SHMA_FAIL_IF(!arr->owner, SHMA_E_STATE, "disown: segment '%s' is not owned by this array", arr->name);
    SHMA_FAIL_IF(arr->creator_pid != (int64_t)getpid(), SHMA_E_STATE,
                 "disown: segment '%s' was created by process %lld, not this one", arr->name,
                 (long long)arr->creator_pid);
    if (arr->mgr) shma__manager_release(arr);
    arr->owner = false;
    return SHMA_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Handles, inspection, unlink
 * ------------------------------------------------------------------------------------------- */

int shma_handle_encode(const shma_array *arr, char *buf, size_t cap, size_t *len) {
    SHMA_FAIL_IF(arr == NULL || buf == NULL, SHMA_E_ARG, "handle_encode: %s is NULL", arr == NULL ? "array" : "buf");
    shma_handle h;
    memcpy(h.name, arr->name, sizeof h.name);
    h.dtype = arr->dtype;
    h.ndim = arr->ndim;
    if (arr->ndim > 0) memcpy(h.shape, arr->shape, (size_t)arr->ndim * sizeof *arr->shape);
    return shma_handle_format(&h, buf, cap, len);
}

int shma_inspect(const char *name, shma_info *out) {
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "inspect: out is NULL");
    const char *bare;
    SHMA_FORWARD(shma__name_check(name, &bare));
    unsigned char tail[SHMA_TRAILER_SIZE];
    uint64_t size, got;
    int err = shma__os_read_tail(bare, tail, sizeof tail, &size, &got);
    if (err == ENOENT) return shma__fail(SHMA_E_NOTFOUND, "no shared-memory segment named '%s'", bare);
    if (err) return fail_os(err, "cannot read segment", bare);
    shma_meta meta;
    int meta_rc = got ? shma__trailer_decode(tail, size, &meta) : SHMA_E_NOMETA;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", bare);
    out->segment_bytes = size;
    if (meta_rc == SHMA_E_CORRUPT) return meta_rc;
    if (meta_rc == SHMA_OK) {
        out->has_meta = true;
        out->dtype = meta.dtype;
        out->ndim = meta.ndim;
        memcpy(out->shape, meta.shape, sizeof out->shape);
        out->data_bytes = meta.data_bytes;
        out->creator_pid = meta.creator_pid;
        out->creator_start = meta.creator_start;
        out->creator_alive = shma__process_alive(meta.creator_pid, meta.creator_start);
    }
    return SHMA_OK;
}

int shma_unlink(const char *name) {
    const char *bare;
    SHMA_FORWARD(shma__name_check(name, &bare));
    int err = shma__os_unlink(bare);
    if (err == ENOENT) return shma__fail(SHMA_E_NOTFOUND, "no shared-memory segment named '%s'", bare);
    if (err) return fail_os(err, "cannot unlink segment", bare);
    return SHMA_OK;
}
