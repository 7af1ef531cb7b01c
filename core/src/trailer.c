/* trailer.c: the metadata trailer at the end of every segment the library creates.
 *
 * A segment is the C-contiguous data at offset 0, zero padding up to a multiple of
 * SHMA_DATA_ALIGN, then this fixed 640-byte trailer, so the trailer is found from the segment
 * size alone and the data stays a plain buffer for foreign readers. All integers are
 * little-endian whatever the host; the layout has no implicit padding and is written and read
 * field by field, never through a struct.
 *
 *   offset  size  field
 *        0     8  magic "SHMATRLR"
 *        8     4  format version, u32 = 1
 *       12     4  trailer size, u32 = 640
 *       16     8  data_bytes, u64: product(shape) x itemsize
 *       24     8  creator pid, i64, > 0
 *       32     8  creator start time, u64: clock ticks after boot (/proc/PID/stat field 22)
 *       40     4  ndim, u32, 0..64
 *       44     4  itemsize, u32, equal to the dtype's
 *       48    16  dtype: its canonical string (shma_dtype.str), NUL-padded
 *       64   512  shape: 64 x u64, dims past ndim zero, each <= INT64_MAX
 *      576    56  reserved, zero
 *      632     8  checksum, u64: FNV-1a 64 over bytes 0..631
 *
 * FNV-1a is fast, has no tables and changes its value for any single changed byte (each step
 * is a bijection of the state), which is what it is here for: catching a torn or scribbled
 * trailer, not an adversary. A reader checks magic, then version and size (a later version may
 * change what the checksum covers), then the checksum, then every field. Every byte is
 * pinned, so an accepted trailer re-encodes to the same bytes.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "SHMATRLR"
#define FORMAT_VERSION 1u

enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_SIZE = 12,
    OFF_DATA_BYTES = 16,
    OFF_PID = 24,
    OFF_START = 32,
    OFF_NDIM = 40,
    OFF_ITEMSIZE = 44,
    OFF_DTYPE = 48,
    OFF_SHAPE = OFF_DTYPE + SHMA_DTYPE_STR_MAX,
    OFF_RESERVED = OFF_SHAPE + 8 * SHMA_MAX_NDIM,
    OFF_CHECKSUM = SHMA_TRAILER_SIZE - 8,
};

_Static_assert(sizeof MAGIC - 1 == 8, "magic is 8 bytes");
_Static_assert(OFF_RESERVED <= OFF_CHECKSUM, "fields fit before the checksum");
_Static_assert(SHMA_TRAILER_SIZE % SHMA_DATA_ALIGN == 0, "trailer keeps the segment aligned");

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static bool all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0) return false;
    return true;
}

int shma__segment_size(uint64_t data_bytes, uint64_t *segment_bytes) {
    const uint64_t limit = (uint64_t)INT64_MAX - SHMA_TRAILER_SIZE - (SHMA_DATA_ALIGN - 1);
    SHMA_FAIL_IF(data_bytes > limit, SHMA_E_OVERFLOW,
                 "%" PRIu64 " data bytes plus the %u-byte trailer overflow int64", data_bytes,
                 SHMA_TRAILER_SIZE);
    uint64_t padded = (data_bytes + SHMA_DATA_ALIGN - 1) / SHMA_DATA_ALIGN * SHMA_DATA_ALIGN;
    *segment_bytes = padded + SHMA_TRAILER_SIZE;
    return SHMA_OK;
}

/* *m comes from the library's own validated state (ndim 0..64, canonical dtype), never from
 * outside, so it is written as is. */
void shma__trailer_encode(const shma_meta *m, unsigned char out[SHMA_TRAILER_SIZE]) {
    memset(out, 0, SHMA_TRAILER_SIZE);
    memcpy(out + OFF_MAGIC, MAGIC, 8);
    put_u32(out + OFF_VERSION, FORMAT_VERSION);
    put_u32(out + OFF_SIZE, SHMA_TRAILER_SIZE);
    put_u64(out + OFF_DATA_BYTES, m->data_bytes);
    put_u64(out + OFF_PID, (uint64_t)m->creator_pid);
    put_u64(out + OFF_START, m->creator_start);
    put_u32(out + OFF_NDIM, (uint32_t)m->ndim);
    put_u32(out + OFF_ITEMSIZE, m->dtype.itemsize);
    /* strnlen: the string fills at most SHMA_DTYPE_STR_MAX - 1 bytes, the rest stays NUL. */
    memcpy(out + OFF_DTYPE, m->dtype.str, strnlen(m->dtype.str, SHMA_DTYPE_STR_MAX - 1));
    for (int k = 0; k < m->ndim; k++) put_u64(out + OFF_SHAPE + 8 * k, (uint64_t)m->shape[k]);
    put_u64(out + OFF_CHECKSUM, fnv1a64(out, OFF_CHECKSUM));
}

int shma__trailer_decode(const unsigned char *shared_tail, uint64_t segment_bytes, shma_meta *out) {
    /* The tail usually lies in a mapping other processes can write while we read. One copy
     * means each byte is read once: a NUL or a checksum seen valid stays valid. */
    unsigned char tail[SHMA_TRAILER_SIZE];
    memcpy(tail, shared_tail, sizeof tail);

    SHMA_FAIL_IF(memcmp(tail + OFF_MAGIC, MAGIC, 8) != 0, SHMA_E_NOMETA,
                 "segment has no shmanager trailer");

    uint32_t version = get_u32(tail + OFF_VERSION);
    SHMA_FAIL_IF(version != FORMAT_VERSION, SHMA_E_CORRUPT,
                 "trailer: unsupported version %" PRIu32 " (this library reads %u)", version,
                 FORMAT_VERSION);
    uint32_t size = get_u32(tail + OFF_SIZE);
    SHMA_FAIL_IF(size != SHMA_TRAILER_SIZE, SHMA_E_CORRUPT,
                 "trailer: size field is %" PRIu32 ", expected %u", size, SHMA_TRAILER_SIZE);
    uint64_t stored_sum = get_u64(tail + OFF_CHECKSUM), sum = fnv1a64(tail, OFF_CHECKSUM);
    SHMA_FAIL_IF(stored_sum != sum, SHMA_E_CORRUPT,
                 "trailer: checksum mismatch (stored 0x%016" PRIx64 ", computed 0x%016" PRIx64 ")",
                 stored_sum, sum);

    shma_meta m;
    memset(&m, 0, sizeof m);

    const unsigned char *dtype_field = tail + OFF_DTYPE;
    const unsigned char *nul = memchr(dtype_field, '\0', SHMA_DTYPE_STR_MAX);
    SHMA_FAIL_IF(nul == NULL, SHMA_E_CORRUPT, "trailer: dtype string is not NUL-terminated within %d bytes",
                 SHMA_DTYPE_STR_MAX);
    SHMA_FAIL_IF(!all_zero(nul, (size_t)(dtype_field + SHMA_DTYPE_STR_MAX - nul)), SHMA_E_CORRUPT,
                 "trailer: dtype string has bytes after its NUL");
    const char *dtype_text = (const char *)dtype_field;
    if (shma_dtype_parse(dtype_text, &m.dtype) != SHMA_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", shma_last_error());
        return shma__fail(SHMA_E_CORRUPT, "trailer: dtype string does not parse: %s", why);
    }
    SHMA_FAIL_IF(strcmp(m.dtype.str, dtype_text) != 0, SHMA_E_CORRUPT,
                 "trailer: dtype string is not canonical (NumPy spells it '%s')", m.dtype.str);
    uint32_t itemsize = get_u32(tail + OFF_ITEMSIZE);
    SHMA_FAIL_IF(itemsize != m.dtype.itemsize, SHMA_E_CORRUPT,
                 "trailer: itemsize %" PRIu32 " differs from dtype %s's %" PRIu32, itemsize,
                 m.dtype.str, m.dtype.itemsize);

    uint32_t ndim = get_u32(tail + OFF_NDIM);
    SHMA_FAIL_IF(ndim > SHMA_MAX_NDIM, SHMA_E_CORRUPT, "trailer: ndim %" PRIu32 " exceeds %d", ndim,
                 SHMA_MAX_NDIM);
    m.ndim = (int)ndim;
    for (int k = 0; k < SHMA_MAX_NDIM; k++) {
        uint64_t dim = get_u64(tail + OFF_SHAPE + 8 * k);
        SHMA_FAIL_IF(k >= m.ndim && dim != 0, SHMA_E_CORRUPT,
                     "trailer: unused shape[%d] is %" PRIu64 ", not 0", k, dim);
        SHMA_FAIL_IF(dim > (uint64_t)INT64_MAX, SHMA_E_CORRUPT,
                     "trailer: shape[%d] = %" PRIu64 " exceeds INT64_MAX", k, dim);
        m.shape[k] = (int64_t)dim;
    }
    uint64_t nbytes;
    SHMA_FAIL_IF(shma__shape_check(m.ndim, m.shape, itemsize, &nbytes) != SHMA_OK, SHMA_E_CORRUPT,
                 "trailer: shape x itemsize overflows int64");
    m.data_bytes = get_u64(tail + OFF_DATA_BYTES);
    SHMA_FAIL_IF(nbytes != m.data_bytes, SHMA_E_CORRUPT,
                 "trailer: data_bytes %" PRIu64 " differs from shape x itemsize = %" PRIu64, m.data_bytes,
                 nbytes);
    uint64_t expected_segment = 0;
    SHMA_FAIL_IF(shma__segment_size(m.data_bytes, &expected_segment) != SHMA_OK, SHMA_E_CORRUPT,
                 "trailer: data_bytes %" PRIu64 " plus the trailer overflows int64", m.data_bytes);
    SHMA_FAIL_IF(expected_segment != segment_bytes, SHMA_E_CORRUPT,
                 "trailer: %" PRIu64 " data bytes need a %" PRIu64 "-byte segment, this one holds %" PRIu64,
                 m.data_bytes, expected_segment, segment_bytes);

    SHMA_FAIL_IF(!all_zero(tail + OFF_RESERVED, OFF_CHECKSUM - OFF_RESERVED), SHMA_E_CORRUPT,
                 "trailer: reserved bytes are not zero");
    m.creator_pid = (int64_t)get_u64(tail + OFF_PID);
    SHMA_FAIL_IF(m.creator_pid <= 0, SHMA_E_CORRUPT, "trailer: creator pid %" PRId64 " is not positive",
                 m.creator_pid);
    m.creator_start = get_u64(tail + OFF_START);

    *out = m;
    return SHMA_OK;
}
