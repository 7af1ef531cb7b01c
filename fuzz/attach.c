/*
 * fuzz/attach.c: attaching to a real segment of fuzzer-chosen size and content with
 * fuzzer-chosen shape and dtype, through shma_attach, shma_attach_name, shma_attach_handle and
 * shma_inspect.
 *
 * Each input makes one segment with raw shm_open (a unique name, "shma_fuzz_<pid>_<n>", at
 * most SEGMENT_MAX bytes): either raw bytes of any size (a foreign segment), or data followed
 * by a trailer the library would write, optionally damaged (a flipped byte, the checksum
 * fixed up again or not, a segment size off by a little). The segment is unlinked on every
 * path: at the end of the input, and by the cleanup hook if an assertion or a sanitizer
 * report ends the process first.
 *
 * Properties: each call either fails cleanly (a known code, a detail message) or gives an
 * array whose every data byte is readable (each one is read, and equals what was written);
 * the outcome is the one the segment's trailer (as shma__trailer_decode reads it) and size
 * call for: a matching attach on a good trailer succeeds, a different shape or dtype is
 * SHMA_E_MISMATCH, damage is SHMA_E_CORRUPT, a foreign segment is size-checked.
 */
#include "fuzz_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_MAX ((uint64_t)1 << 20)

/* ---------------------------------------------------------------------------------------------
 * The segment, and its cleanup on every path
 * ------------------------------------------------------------------------------------------- */

static char seg_name[64];
static volatile bool seg_live;

static void cleanup(void) {
    if (seg_live) {
        char path[80];
        snprintf(path, sizeof path, "/%s", seg_name);
        shm_unlink(path);
        seg_live = false;
    }
}

static void init_once(void) {
    static bool done;
    if (done) return;
    done = true;
    fuzz_cleanup_hook = cleanup;
    __sanitizer_set_death_callback(cleanup); /* ASan/UBSan reports, deadly signals */
    atexit(cleanup);                         /* libFuzzer's exit paths (timeouts, -runs) */
}

/* Creates the segment with `size` bytes; returns a read-write mapping of it (NULL if size 0). */
static unsigned char *segment_create(uint64_t size) {
    static unsigned long counter;
    snprintf(seg_name, sizeof seg_name, "shma_fuzz_%ld_%lu", (long)getpid(), counter++);
    char path[80];
    snprintf(path, sizeof path, "/%s", seg_name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FUZZ_ASSERT_MSG(fd >= 0, "shm_open(%s): %s", path, strerror(errno));
    seg_live = true;
    FUZZ_ASSERT_MSG(ftruncate(fd, (off_t)size) == 0, "ftruncate: %s", strerror(errno));
    unsigned char *map = NULL;
    if (size > 0) {
        void *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        FUZZ_ASSERT_MSG(m != MAP_FAILED, "mmap: %s", strerror(errno));
        map = m;
    }
    close(fd);
    return map;
}

/* Whether the segment is gone although this process did not unlink it. Other jobs on the
 * machine may sweep /dev/shm (a test cleaning up after a crash, `shmanager gc`); an input
 * whose segment vanished under it proves nothing and is skipped, not failed. A NOTFOUND for
 * a segment that still exists remains a failure. */
static bool vanished(int rc) {
    if (rc != SHMA_E_NOTFOUND) return false;
    char dev_path[96];
    struct stat st;
    snprintf(dev_path, sizeof dev_path, "/dev/shm/%s", seg_name);
    if (stat(dev_path, &st) == 0) return false;
    fprintf(stderr, "attach fuzzer: /dev/shm/%s was removed by another process; input skipped\n", seg_name);
    seg_live = false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Checks on an attached array
 * ------------------------------------------------------------------------------------------- */

/* Reads every data byte of arr and compares it with what was written to the segment. */
static void check_readable(const shma_array *arr, const unsigned char *map, uint64_t size) {
    size_t nbytes = shma_nbytes(arr);
    FUZZ_ASSERT_MSG(nbytes <= size, "array of %zu bytes in a %llu-byte segment", nbytes, (unsigned long long)size);
    if (nbytes == 0) return;
    const unsigned char *d = shma_data(arr);
    FUZZ_ASSERT(d != NULL);
    /* memcmp of equal buffers reads every byte of both: a byte past the segment's end would
     * be SIGBUS, one outside the mapping SIGSEGV. */
    if (memcmp(d, map, nbytes) != 0) {
        size_t i = 0;
        while (d[i] == map[i]) i++;
        FUZZ_ASSERT_MSG(false, "byte %zu reads 0x%02x, 0x%02x was written", i, d[i], map[i]);
    }

    shma_view v;
    FUZZ_ASSERT_EQ(shma_view_of(arr, &v), SHMA_OK);
    FUZZ_ASSERT(v.data == shma_data(arr) && v.ndim == shma_ndim(arr));
    int64_t stride = (int64_t)v.dtype.itemsize;
    for (int k = v.ndim - 1; k >= 0; k--) {
        FUZZ_ASSERT_EQ(v.strides[k], stride);
        stride *= v.shape[k];
    }
    FUZZ_ASSERT_EQ(stride, nbytes);
    FUZZ_ASSERT(!shma_is_owner(arr));
}

static bool same_shape(int ndim, const int64_t *a, int ndim_b, const int64_t *b) {
    if (ndim != ndim_b) return false;
    for (int k = 0; k < ndim; k++)
        if (a[k] != b[k]) return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * The input
 * ------------------------------------------------------------------------------------------- */

static const char *const dtypes[] = {"<f8", "float64", "|u1", "uint8", "<i4", ">i2", "|b1", "<c16", "|S3",
                                     "<U2", "|V7", "<M8[ns]", "<f2", "O", "i4,f8", "", "U0", "S"};

/* Fills the data part from the input's bytes, repeated, or a pattern when there are none. */
static void fill(unsigned char *map, uint64_t n, const uint8_t *bytes, size_t nb) {
    if (nb == 0) {
        for (uint64_t i = 0; i < n && i < 251; i++) map[i] = (unsigned char)(i * 37u + 11u);
        nb = n < 251 ? (size_t)n : 251;
    } else {
        memcpy(map, bytes, n < nb ? (size_t)n : nb);
    }
    /* Doubling copies of the first nb bytes. */
    for (uint64_t done = nb; done < n; done *= 2) memcpy(map + done, map, (size_t)(n - done < done ? n - done : done));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    init_once();
    fuzz_producer p = fuzz_producer_make(data, size);
    unsigned opts = fuzz_u8(&p);
    bool with_trailer = opts & 1;

    /* The trailer's array, when there is one. */
    shma_meta meta;
    memset(&meta, 0, sizeof meta);
    uint64_t seg_bytes;
    if (with_trailer) {
        const char *dt = fuzz_pick(&p, dtypes, 13); /* the valid ones */
        FUZZ_ASSERT_EQ(shma_dtype_parse(dt, &meta.dtype), SHMA_OK);
        meta.ndim = (int)fuzz_range(&p, 0, 4);
        for (int k = 0; k < meta.ndim; k++) meta.shape[k] = (int64_t)fuzz_range(&p, 0, 24);
        uint64_t nbytes;
        FUZZ_ASSERT_EQ(shma__shape_check(meta.ndim, meta.shape, meta.dtype.itemsize, &nbytes), SHMA_OK);
        meta.data_bytes = nbytes;
        FUZZ_ASSERT_EQ(shma__segment_size(nbytes, &seg_bytes), SHMA_OK);
        meta.creator_pid = getpid();
        meta.creator_start = fuzz_u32(&p);
        /* A segment size a little off: the trailer is then not where the size says. */
        if (opts & 2) seg_bytes += (uint64_t)fuzz_range(&p, 0, 130) - 65;
    } else {
        /* Mostly small, so the fuzzer stays fast; now and then up to the cap. */
        seg_bytes = fuzz_range(&p, 0, opts & 2 ? 4096 : opts & 32 ? SEGMENT_MAX : 65536);
    }
    if (seg_bytes > SEGMENT_MAX) seg_bytes = SEGMENT_MAX;

    /* Damage to the trailer: one byte XORed, the checksum then fixed up or not. */
    unsigned damage_at = (unsigned)fuzz_range(&p, 0, SHMA_TRAILER_SIZE - 1);
    uint8_t damage = (opts & 4) ? fuzz_u8(&p) : 0;

    /* What to attach with: the trailer's shape and dtype, or the input's. */
    bool own_args = !with_trailer || (opts & 8);
    const char *dtype = meta.dtype.str;
    int ndim = meta.ndim;
    int64_t shape[8];
    memcpy(shape, meta.shape, sizeof shape);
    if (own_args) {
        dtype = fuzz_pick(&p, dtypes, FUZZ_COUNT(dtypes));
        ndim = (int)fuzz_range(&p, 0, 5);
        for (int k = 0; k < ndim; k++) shape[k] = fuzz_bool(&p) ? (int64_t)fuzz_range(&p, 0, 300) : fuzz_interesting_i64(&p);
    }
    bool slash = opts & 16;

    size_t nb;
    const uint8_t *bytes = fuzz_bytes(&p, 4096, &nb);

    /* ---- make the segment ---- */
    unsigned char *map = segment_create(seg_bytes);
    if (map != NULL) fill(map, seg_bytes, bytes, nb);
    if (with_trailer && seg_bytes >= SHMA_TRAILER_SIZE) {
        unsigned char *tail = map + seg_bytes - SHMA_TRAILER_SIZE;
        if (seg_bytes > meta.data_bytes + SHMA_TRAILER_SIZE) /* zero padding, as the library leaves */
            memset(map + meta.data_bytes, 0, seg_bytes - SHMA_TRAILER_SIZE - meta.data_bytes);
        shma__trailer_encode(&meta, tail);
        tail[damage_at] ^= damage;
    }

    /* What the segment holds, as the library will read it. */
    shma_meta seg_meta;
    int meta_rc = SHMA_E_NOMETA;
    if (seg_bytes >= SHMA_TRAILER_SIZE) meta_rc = shma__trailer_decode(map + seg_bytes - SHMA_TRAILER_SIZE, seg_bytes, &seg_meta);

    char name[80];
    snprintf(name, sizeof name, "%s%s", slash ? "/" : "", seg_name);

    /* ---- attach with a shape and dtype ---- */
    shma_dtype want_dtype;
    uint64_t want_nbytes = 0;
    int want = shma_dtype_parse(dtype, &want_dtype);
    if (want == SHMA_OK) want = shma__shape_check(ndim, shape, want_dtype.itemsize, &want_nbytes);
    /* attach shares allocate's argument check: a shape whose data and trailer would not fit
     * in int64 is SHMA_E_OVERFLOW even for a foreign segment, a clean error too. */
    uint64_t want_segment;
    if (want == SHMA_OK) want = shma__segment_size(want_nbytes, &want_segment);
    if (want == SHMA_OK) {
        if (meta_rc == SHMA_OK)
            want = same_shape(ndim, shape, seg_meta.ndim, seg_meta.shape) && strcmp(want_dtype.str, seg_meta.dtype.str) == 0
                       ? SHMA_OK
                       : SHMA_E_MISMATCH;
        else if (meta_rc == SHMA_E_CORRUPT) want = SHMA_E_CORRUPT;
        else want = want_nbytes <= seg_bytes ? SHMA_OK : SHMA_E_SIZE;
    }
    shma_array *arr = NULL;
    fuzz_clear_error();
    int rc = shma_attach(name, ndim, shape, dtype, &arr);
    if (vanished(rc)) goto done;
    FUZZ_ASSERT_MSG(rc == want, "attach('%s', ndim %d, '%s') to %llu bytes (trailer %s) = %s, expected %s", name, ndim,
                    dtype, (unsigned long long)seg_bytes, shma_errname(meta_rc), shma_errname(rc), shma_errname(want));
    if (rc == SHMA_OK) {
        FUZZ_ASSERT(same_shape(shma_ndim(arr), shma_shape(arr), ndim, shape));
        FUZZ_ASSERT(strcmp(shma_dtype_str(arr), want_dtype.str) == 0);
        FUZZ_ASSERT_EQ(shma_nbytes(arr), want_nbytes);
        FUZZ_ASSERT(strcmp(shma_name(arr), seg_name) == 0);
        check_readable(arr, map, seg_bytes);

        /* The same through a handle. */
        char handle[SHMA_HANDLE_MAX];
        size_t hlen;
        FUZZ_ASSERT_EQ(shma_handle_encode(arr, handle, sizeof handle, &hlen), SHMA_OK);
        shma_array *by_handle = NULL;
        rc = shma_attach_handle(handle, hlen, &by_handle);
        if (vanished(rc)) {
            shma_close(&arr);
            goto done;
        }
        FUZZ_ASSERT_MSG(rc == SHMA_OK, "attach_handle('%s') = %s", handle, shma_errname(rc));
        FUZZ_ASSERT_EQ(shma_nbytes(by_handle), want_nbytes);
        check_readable(by_handle, map, seg_bytes);
        FUZZ_ASSERT_EQ(shma_close(&by_handle), SHMA_OK);
        FUZZ_ASSERT(by_handle == NULL);

        FUZZ_ASSERT_EQ(shma_close(&arr), SHMA_OK);
        FUZZ_ASSERT_EQ(shma_close(&arr), SHMA_OK); /* idempotent */
    } else {
        FUZZ_ASSERT_CLEAN_ERROR(rc);
        FUZZ_ASSERT(arr == NULL);
    }

    /* ---- attach by name alone ---- */
    int want_name = meta_rc;
    fuzz_clear_error();
    rc = shma_attach_name(name, &arr);
    if (vanished(rc)) goto done;
    FUZZ_ASSERT_MSG(rc == want_name, "attach_name = %s, expected %s", shma_errname(rc), shma_errname(want_name));
    if (rc == SHMA_OK) {
        FUZZ_ASSERT(same_shape(shma_ndim(arr), shma_shape(arr), seg_meta.ndim, seg_meta.shape));
        FUZZ_ASSERT(strcmp(shma_dtype_str(arr), seg_meta.dtype.str) == 0);
        FUZZ_ASSERT_EQ(shma_nbytes(arr), seg_meta.data_bytes);
        check_readable(arr, map, seg_bytes);
        FUZZ_ASSERT_EQ(shma_close(&arr), SHMA_OK);
    } else {
        FUZZ_ASSERT_CLEAN_ERROR(rc);
        FUZZ_ASSERT(arr == NULL);
    }

    /* ---- inspect ---- */
    shma_info info;
    rc = shma_inspect(name, &info);
    if (vanished(rc)) goto done;
    FUZZ_ASSERT_EQ(rc, meta_rc == SHMA_E_CORRUPT ? SHMA_E_CORRUPT : SHMA_OK);
    if (rc == SHMA_OK) {
        FUZZ_ASSERT_EQ(info.segment_bytes, seg_bytes);
        FUZZ_ASSERT(info.has_meta == (meta_rc == SHMA_OK));
        if (info.has_meta) {
            FUZZ_ASSERT(same_shape(info.ndim, info.shape, seg_meta.ndim, seg_meta.shape));
            FUZZ_ASSERT_EQ(info.data_bytes, seg_meta.data_bytes);
            FUZZ_ASSERT_EQ(info.creator_pid, seg_meta.creator_pid);
        }
    }

    /* Clients never unlink: the segment is still there. */
    struct stat st;
    char dev_path[96];
    snprintf(dev_path, sizeof dev_path, "/dev/shm/%s", seg_name);
    FUZZ_ASSERT_MSG(stat(dev_path, &st) == 0 || vanished(SHMA_E_NOTFOUND), "a client's close removed %s", dev_path);

done:
    if (map != NULL) munmap(map, (size_t)seg_bytes);
    cleanup();
    return 0;
}
