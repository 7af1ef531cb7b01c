/*
 * fuzz/trailer.c: the metadata trailer codec. shma__trailer_decode on arbitrary bytes with a
 * fuzzer-chosen segment size, and the encode -> decode round trip.
 *
 * The checksum would stop random bytes at the door, so the input's option byte can ask the
 * harness to make the header valid (magic, version, size) and to fix up the checksum (its own
 * XXH64, independent of trailer.c's), and to derive the segment size from the data_bytes
 * field: the fuzzer then reaches every field check behind them.
 *
 * Properties:
 *  - Decode never reads outside the 640-byte tail (an exact-size buffer: ASan).
 *  - Rejected: SHMA_E_NOMETA exactly when the magic is absent, otherwise SHMA_E_CORRUPT, with
 *    a non-empty detail; *out untouched.
 *  - Accepted: ndim <= 64, dims past ndim zero, every dim <= INT64_MAX, shape x itemsize
 *    checked and equal to data_bytes, shma__segment_size(data_bytes) == segment size (so data
 *    + trailer fit the segment), canonical dtype, pid > 0; and re-encoding gives the input
 *    bytes exactly.
 *  - Encode mode: a valid meta built from the input encodes to bytes that decode to the same
 *    meta.
 */
#include "fuzz_helpers.h"

#define OFF_VERSION 8
#define OFF_SIZE 12
#define OFF_DATA_BYTES 16
#define OFF_CHECKSUM (SHMA_TRAILER_SIZE - 8)

enum {
    OPT_HEADER = 1,       /* write magic, version 1 and size 640 */
    OPT_CHECKSUM = 2,     /* recompute the checksum */
    OPT_DERIVED_SIZE = 4, /* segment size from the data_bytes field, as the library makes it */
    OPT_ENCODE = 8,       /* encode a meta built from the input, then decode */
};

static uint64_t load_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void store_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void store_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* XXH64 (seed 0) of n bytes, n a multiple of 8 and at least 32 (the trailer's 632). */
static uint64_t xxh64(const unsigned char *p, size_t n) {
    const uint64_t P1 = 0x9E3779B185EBCA87u, P2 = 0xC2B2AE3D27D4EB4Fu, P3 = 0x165667B19E3779F9u,
                   P4 = 0x85EBCA77C2B2AE63u;
    const unsigned char *end = p + n;
    uint64_t v[4] = {P1 + P2, P2, 0, 0 - P1};
    for (; end - p >= 32; p += 32)
        for (int i = 0; i < 4; i++) v[i] = rotl64(v[i] + load_u64(p + 8 * i) * P2, 31) * P1;
    uint64_t h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
    for (int i = 0; i < 4; i++) h = (h ^ (rotl64(v[i] * P2, 31) * P1)) * P1 + P4;
    h += n;
    for (; p < end; p += 8) h = rotl64(h ^ (rotl64(load_u64(p) * P2, 31) * P1), 27) * P1 + P4;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

static bool same_meta(const shma_meta *a, const shma_meta *b) {
    if (strcmp(a->dtype.str, b->dtype.str) != 0 || a->dtype.itemsize != b->dtype.itemsize || a->ndim != b->ndim ||
        a->data_bytes != b->data_bytes || a->creator_pid != b->creator_pid || a->creator_start != b->creator_start)
        return false;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k]) return false;
    return true;
}

static void check_accepted(const unsigned char *tail, uint64_t segment_bytes, const shma_meta *m) {
    FUZZ_ASSERT(m->ndim >= 0 && m->ndim <= SHMA_MAX_NDIM);
    for (int k = 0; k < SHMA_MAX_NDIM; k++) {
        FUZZ_ASSERT(m->shape[k] >= 0);
        if (k >= m->ndim) FUZZ_ASSERT_EQ(m->shape[k], 0);
    }
    shma_dtype d;
    FUZZ_ASSERT_EQ(shma_dtype_parse(m->dtype.str, &d), SHMA_OK);
    FUZZ_ASSERT(strcmp(d.str, m->dtype.str) == 0 && d.itemsize == m->dtype.itemsize);

    /* data_bytes is shape x itemsize, computed independently in 128 bits. */
    unsigned __int128 total = m->dtype.itemsize;
    bool empty = false;
    for (int k = 0; k < m->ndim; k++) empty |= m->shape[k] == 0;
    for (int k = 0; k < m->ndim && !empty; k++) {
        total *= (uint64_t)m->shape[k];
        FUZZ_ASSERT_MSG(total <= INT64_MAX, "accepted shape overflows int64 at dim %d", k);
    }
    FUZZ_ASSERT_EQ(m->data_bytes, empty ? 0 : (uint64_t)total);

    /* Data, padding and trailer make up the segment exactly. */
    uint64_t padded = (m->data_bytes + SHMA_DATA_ALIGN - 1) / SHMA_DATA_ALIGN * SHMA_DATA_ALIGN;
    FUZZ_ASSERT_MSG(padded + SHMA_TRAILER_SIZE == segment_bytes, "data %llu + trailer != segment %llu",
                    (unsigned long long)m->data_bytes, (unsigned long long)segment_bytes);
    FUZZ_ASSERT(m->data_bytes + SHMA_TRAILER_SIZE <= segment_bytes);
    FUZZ_ASSERT(m->creator_pid > 0);

    unsigned char again[SHMA_TRAILER_SIZE];
    shma__trailer_encode(m, again);
    FUZZ_ASSERT_MSG(memcmp(again, tail, SHMA_TRAILER_SIZE) == 0, "re-encoded trailer differs");
}

static void decode_mode(fuzz_producer *p, unsigned opts) {
    uint64_t raw_size = fuzz_bool(p) ? fuzz_range(p, 0, 1u << 20) : fuzz_u64(p);
    size_t n;
    const uint8_t *bytes = fuzz_bytes(p, SHMA_TRAILER_SIZE, &n);
    /* Exactly the trailer's size: the decoder may read all of it and nothing more. */
    unsigned char *tail = calloc(1, SHMA_TRAILER_SIZE);
    FUZZ_ASSERT(tail != NULL);
    memcpy(tail, bytes, n);
    if (opts & OPT_HEADER) {
        memcpy(tail, "SHMATRLR", 8);
        store_u32(tail + OFF_VERSION, 1);
        store_u32(tail + OFF_SIZE, SHMA_TRAILER_SIZE);
    }
    if (opts & OPT_CHECKSUM) store_u64(tail + OFF_CHECKSUM, xxh64(tail, OFF_CHECKSUM));
    uint64_t segment_bytes = raw_size;
    if (opts & OPT_DERIVED_SIZE) {
        uint64_t data_bytes = load_u64(tail + OFF_DATA_BYTES);
        if (shma__segment_size(data_bytes, &segment_bytes) != SHMA_OK) segment_bytes = raw_size;
    }
    if (segment_bytes < SHMA_TRAILER_SIZE) segment_bytes = SHMA_TRAILER_SIZE; /* the precondition */

    shma_meta m, sentinel;
    memset(&sentinel, 0x5a, sizeof sentinel);
    m = sentinel;
    fuzz_clear_error();
    int rc = shma__trailer_decode(tail, segment_bytes, &m);
    if (rc != SHMA_OK) {
        bool has_magic = memcmp(tail, "SHMATRLR", 8) == 0;
        FUZZ_ASSERT_EQ(rc, has_magic ? SHMA_E_CORRUPT : SHMA_E_NOMETA);
        FUZZ_ASSERT_CLEAN_ERROR(rc);
        FUZZ_ASSERT_MSG(memcmp(&m, &sentinel, sizeof m) == 0, "rejected trailer but wrote *out");
    } else {
        check_accepted(tail, segment_bytes, &m);
    }
    free(tail);
}

static void encode_mode(fuzz_producer *p) {
    static const char *const dtypes[] = {"<f8", "|u1", "|b1", "<i4", ">i2", "<c16", "|S7", "<U3", "|V5", "<M8[ns]",
                                         ">m8[3h]", "<f2", "<M8"};
    shma_meta m;
    memset(&m, 0, sizeof m);
    FUZZ_ASSERT_EQ(shma_dtype_parse(fuzz_pick(p, dtypes, FUZZ_COUNT(dtypes)), &m.dtype), SHMA_OK);
    m.ndim = (int)fuzz_range(p, 0, SHMA_MAX_NDIM);
    for (int k = 0; k < m.ndim; k++) m.shape[k] = fuzz_interesting_i64(p);
    m.creator_pid = (int64_t)fuzz_range(p, 1, INT64_MAX);
    m.creator_start = fuzz_u64(p);
    uint64_t nbytes, segment_bytes;
    if (shma__shape_check(m.ndim, m.shape, m.dtype.itemsize, &nbytes) != SHMA_OK) return;
    if (shma__segment_size(nbytes, &segment_bytes) != SHMA_OK) return;
    m.data_bytes = nbytes;

    unsigned char *tail = malloc(SHMA_TRAILER_SIZE);
    FUZZ_ASSERT(tail != NULL);
    shma__trailer_encode(&m, tail);
    shma_meta back;
    int rc = shma__trailer_decode(tail, segment_bytes, &back);
    FUZZ_ASSERT_MSG(rc == SHMA_OK, "a valid meta's trailer does not decode: %s", shma_errname(rc));
    FUZZ_ASSERT(same_meta(&m, &back));
    check_accepted(tail, segment_bytes, &back);

    /* Any other segment size is a misplaced trailer. */
    uint64_t other = segment_bytes + SHMA_DATA_ALIGN * fuzz_range(p, 1, 3);
    FUZZ_ASSERT_EQ(shma__trailer_decode(tail, other, &back), SHMA_E_CORRUPT);
    free(tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_producer p = fuzz_producer_make(data, size);
    unsigned opts = fuzz_u8(&p);
    if (opts & OPT_ENCODE) encode_mode(&p);
    else decode_mode(&p, opts);
    return 0;
}
