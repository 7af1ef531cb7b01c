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
 *      632     8  checksum, u64: XXH64 (seed 0) of bytes 0..631
 *
 * The checksum (see xxh64() below) is there to catch a torn or scribbled trailer, not an
 * adversary. A reader checks magic, then version and size (a later version may change what
 * the checksum covers), then the checksum, then every field. Every byte is pinned, so an
 * accepted trailer re-encodes to the same bytes.
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

/* Little-endian loads and stores through memcpy: one instruction each on a little-endian host
 * (a byte loop is not always recognised as one), a byte swap on a big-endian one. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE32(v) __builtin_bswap32(v)
#define LE64(v) __builtin_bswap64(v)
#else
#define LE32(v) (v)
#define LE64(v) (v)
#endif

static void put_u32(unsigned char *p, uint32_t v) {
    v = LE32(v);
    memcpy(p, &v, 4);
}

static void put_u64(unsigned char *p, uint64_t v) {
    v = LE64(v);
    memcpy(p, &v, 8);
}

static uint32_t get_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return LE32(v);
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return LE64(v);
}

/* Whether p[0..n) are all zero: 32 bytes at a time (four independent loads an iteration: the
 * unused shape words are most of a trailer), then 8, then the rest. */
static bool all_zero(const unsigned char *p, size_t n) {
    uint64_t any = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) any |= get_u64(p + i) | get_u64(p + i + 8) | get_u64(p + i + 16) | get_u64(p + i + 24);
    for (; i + 8 <= n; i += 8) any |= get_u64(p + i);
    for (; i < n; i++) any |= p[i];
    return any == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Checksum: XXH64 with seed 0 (Yann Collet's xxHash, the 64-bit variant), so any reader can
 * check a trailer with a stock xxHash library: XXH64(tail, 632, 0). It reads eight bytes at a
 * time over four independent lanes, about ten times fewer instructions than the byte-wise
 * FNV-1a it replaced, and every round is a bijection of its lane for a fixed input word (and
 * of the word for a fixed lane), so any change confined to one 8-byte word, in particular any
 * single changed byte, changes the sum.
 * ------------------------------------------------------------------------------------------- */

#define XXH_P1 0x9E3779B185EBCA87u
#define XXH_P2 0xC2B2AE3D27D4EB4Fu
#define XXH_P3 0x165667B19E3779F9u
#define XXH_P4 0x85EBCA77C2B2AE63u
#define XXH_P5 0x27D4EB2F165667C5u

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t xxh_round(uint64_t acc, uint64_t word) {
    acc += word * XXH_P2;
    return rotl64(acc, 31) * XXH_P1;
}

static uint64_t xxh_merge(uint64_t h, uint64_t lane) {
    h ^= xxh_round(0, lane);
    return h * XXH_P1 + XXH_P4;
}

/* XXH64(p, n, seed 0) for n a multiple of 8 and at least 32, as the trailer's 632 bytes are. */
static uint64_t xxh64(const unsigned char *p, size_t n) {
    uint64_t v1 = XXH_P1 + XXH_P2, v2 = XXH_P2, v3 = 0, v4 = 0 - XXH_P1;
    const unsigned char *end = p + n, *stripes_end = p + n / 32 * 32;
    for (; p < stripes_end; p += 32) {
        v1 = xxh_round(v1, get_u64(p));
        v2 = xxh_round(v2, get_u64(p + 8));
        v3 = xxh_round(v3, get_u64(p + 16));
        v4 = xxh_round(v4, get_u64(p + 24));
    }
    uint64_t h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
    h += n;
    for (; p < end; p += 8) h = rotl64(h ^ xxh_round(0, get_u64(p)), 27) * XXH_P1 + XXH_P4;
    h ^= h >> 33;
    h *= XXH_P2;
    h ^= h >> 29;
    h *= XXH_P3;
    h ^= h >> 32;
    return h;
}

_Static_assert((SHMA_TRAILER_SIZE - 8) % 8 == 0 && SHMA_TRAILER_SIZE - 8 >= 32, "xxh64() handles the summed length");

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
    put_u64(out + OFF_CHECKSUM, xxh64(out, OFF_CHECKSUM));
}

int shma__trailer_decode(const unsigned char *tail, uint64_t segment_bytes, shma_meta *out) {
    SHMA_FAIL_IF(memcmp(tail + OFF_MAGIC, MAGIC, 8) != 0, SHMA_E_NOMETA,
                 "segment has no shmanager trailer");

    uint32_t version = get_u32(tail + OFF_VERSION);
    SHMA_FAIL_IF(version != FORMAT_VERSION, SHMA_E_CORRUPT,
                 "trailer: unsupported version %" PRIu32 " (this library reads %u)", version,
                 FORMAT_VERSION);
    uint32_t size = get_u32(tail + OFF_SIZE);
    SHMA_FAIL_IF(size != SHMA_TRAILER_SIZE, SHMA_E_CORRUPT,
                 "trailer: size field is %" PRIu32 ", expected %u", size, SHMA_TRAILER_SIZE);
    uint64_t stored_sum = get_u64(tail + OFF_CHECKSUM), sum = xxh64(tail, OFF_CHECKSUM);
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
    /* Checked in one pass without branches; the loops below only name what failed. */
    uint64_t used_bits = 0;
    for (int k = 0; k < m.ndim; k++) {
        uint64_t dim = get_u64(tail + OFF_SHAPE + 8 * k);
        used_bits |= dim;
        m.shape[k] = (int64_t)dim;
    }
    if (used_bits > (uint64_t)INT64_MAX || !all_zero(tail + OFF_SHAPE + 8 * ndim, 8 * (SHMA_MAX_NDIM - ndim))) {
        for (int k = 0; k < SHMA_MAX_NDIM; k++) {
            uint64_t dim = get_u64(tail + OFF_SHAPE + 8 * k);
            SHMA_FAIL_IF(k >= m.ndim && dim != 0, SHMA_E_CORRUPT, "trailer: unused shape[%d] is %" PRIu64 ", not 0",
                         k, dim);
            SHMA_FAIL_IF(dim > (uint64_t)INT64_MAX, SHMA_E_CORRUPT, "trailer: shape[%d] = %" PRIu64 " exceeds INT64_MAX",
                         k, dim);
        }
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
