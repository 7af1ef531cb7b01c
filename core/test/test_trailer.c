/* test_trailer.c: the metadata trailer codec and segment sizes (trailer.c). */
#include "testutil.h"

#include "internal.h"

#include <inttypes.h>

/* Offsets of the layout documented in trailer.c, restated so that a change there shows here. */
enum {
    AT_VERSION = 8,
    AT_SIZE = 12,
    AT_DATA_BYTES = 16,
    AT_PID = 24,
    AT_START = 32,
    AT_NDIM = 40,
    AT_ITEMSIZE = 44,
    AT_DTYPE = 48,
    AT_SHAPE = 64,
    AT_RESERVED = 576,
    AT_CHECKSUM = 632,
};

/* XXH64 with seed 0, written out from the xxHash specification for any length (the library's
 * own covers only the trailer's 632 bytes), so the two are checked against each other and
 * against vectors from the reference implementation (libxxhash 0.8.1, XXH64(buf, len, 0)). */
static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t le_bytes(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t xxh64_ref(const unsigned char *p, size_t n) {
    const uint64_t P1 = 0x9E3779B185EBCA87u, P2 = 0xC2B2AE3D27D4EB4Fu, P3 = 0x165667B19E3779F9u,
                   P4 = 0x85EBCA77C2B2AE63u, P5 = 0x27D4EB2F165667C5u;
    const unsigned char *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v[4] = {P1 + P2, P2, 0, 0 - P1};
        for (; end - p >= 32; p += 32)
            for (int i = 0; i < 4; i++) v[i] = rotl(v[i] + le_bytes(p + 8 * i, 8) * P2, 31) * P1;
        h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
        for (int i = 0; i < 4; i++) h = (h ^ (rotl(v[i] * P2, 31) * P1)) * P1 + P4;
    } else {
        h = P5;
    }
    h += n;
    for (; end - p >= 8; p += 8) h = rotl(h ^ (rotl(le_bytes(p, 8) * P2, 31) * P1), 27) * P1 + P4;
    for (; end - p >= 4; p += 4) h = rotl(h ^ (le_bytes(p, 4) * P1), 23) * P2 + P3;
    for (; p < end; p++) h = rotl(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Rewrites the checksum after a test has edited a field, so the field's own check is reached. */
static void reseal(unsigned char *t) { put_le(t + AT_CHECKSUM, xxh64_ref(t, AT_CHECKSUM), 8); }

static shma_meta make_meta(const char *dtype, int ndim, const int64_t *shape) {
    shma_meta m;
    memset(&m, 0, sizeof m);
    assert_shma_ok(shma_dtype_parse(dtype, &m.dtype));
    m.ndim = ndim;
    for (int k = 0; k < ndim; k++) m.shape[k] = shape[k];
    m.data_bytes = shma__shape_nbytes(ndim, shape, m.dtype.itemsize);
    m.creator_pid = 4242;
    m.creator_start = 987654321;
    return m;
}

static uint64_t segment_of(const shma_meta *m) {
    uint64_t seg = 0;
    assert_shma_ok(shma__segment_size(m->data_bytes, &seg));
    return seg;
}

static void assert_meta_equal(const shma_meta *a, const shma_meta *b) {
    assert_string_equal(a->dtype.str, b->dtype.str);
    assert_int_equal(a->dtype.kind, b->dtype.kind);
    assert_int_equal(a->dtype.byteorder, b->dtype.byteorder);
    assert_int_equal(a->dtype.itemsize, b->dtype.itemsize);
    assert_int_equal(a->ndim, b->ndim);
    for (int k = 0; k < SHMA_MAX_NDIM; k++) assert_int_equal(a->shape[k], k < a->ndim ? b->shape[k] : 0);
    assert_int_equal(a->data_bytes, b->data_bytes);
    assert_int_equal(a->creator_pid, b->creator_pid);
    assert_int_equal(a->creator_start, b->creator_start);
}

/* ---------------------------------------------------------------------------------------------
 * shma__segment_size
 * ------------------------------------------------------------------------------------------- */

static void test_segment_size(void **state) {
    (void)state;
    uint64_t seg = 0;
    assert_shma_ok(shma__segment_size(0, &seg));
    assert_int_equal(seg, 640);
    assert_shma_ok(shma__segment_size(1, &seg));
    assert_int_equal(seg, 704);
    assert_shma_ok(shma__segment_size(64, &seg));
    assert_int_equal(seg, 704);
    assert_shma_ok(shma__segment_size(65, &seg));
    assert_int_equal(seg, 768);
    assert_shma_ok(shma__segment_size(8000000, &seg));
    assert_int_equal(seg, 8000640);

    /* The largest data size whose segment fits int64, and one more. */
    const uint64_t largest = (uint64_t)INT64_MAX - 703;
    assert_shma_ok(shma__segment_size(largest, &seg));
    assert_int_equal(seg, (uint64_t)INT64_MAX - 63);
    seg = 7;
    assert_shma_fails(shma__segment_size(largest + 1, &seg), SHMA_E_OVERFLOW,
                      "9223372036854775105 data bytes plus the 640-byte trailer overflow int64");
    assert_shma_fails(shma__segment_size(UINT64_MAX, &seg), SHMA_E_OVERFLOW, "overflow int64");
    assert_int_equal(seg, 7);
}

/* ---------------------------------------------------------------------------------------------
 * Encoding and round trips
 * ------------------------------------------------------------------------------------------- */

static void test_layout(void **state) {
    (void)state;
    shma_meta m = make_meta("float64", 2, (int64_t[]){3, 5});
    unsigned char t[SHMA_TRAILER_SIZE];
    memset(t, 0xcc, sizeof t);
    shma__trailer_encode(&m, t);
    assert_memory_equal(t, "SHMATRLR", 8);
    assert_int_equal(get_le(t + AT_VERSION, 4), 1);
    assert_int_equal(get_le(t + AT_SIZE, 4), 640);
    assert_int_equal(get_le(t + AT_DATA_BYTES, 8), 120);
    assert_int_equal(get_le(t + AT_PID, 8), 4242);
    assert_int_equal(get_le(t + AT_START, 8), 987654321);
    assert_int_equal(get_le(t + AT_NDIM, 4), 2);
    assert_int_equal(get_le(t + AT_ITEMSIZE, 4), 8);
    assert_memory_equal(t + AT_DTYPE, "<f8\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    assert_int_equal(get_le(t + AT_SHAPE, 8), 3);
    assert_int_equal(get_le(t + AT_SHAPE + 8, 8), 5);
    for (size_t i = AT_SHAPE + 16; i < AT_CHECKSUM; i++) assert_int_equal(t[i], 0);
    assert_int_equal(get_le(t + AT_CHECKSUM, 8), xxh64_ref(t, AT_CHECKSUM));
    /* This very trailer's sum, from the reference xxHash library. */
    assert_int_equal(get_le(t + AT_CHECKSUM, 8), 0xbb02e71ed314019eu);
    /* Little-endian whatever the host: the low byte of data_bytes comes first. */
    assert_int_equal(t[AT_DATA_BYTES], 120);
    assert_int_equal(t[AT_DATA_BYTES + 7], 0);
}

static void round_trip(const shma_meta *m) {
    unsigned char t[SHMA_TRAILER_SIZE], again[SHMA_TRAILER_SIZE];
    shma__trailer_encode(m, t);
    shma_meta out;
    memset(&out, 0x5a, sizeof out);
    assert_shma_ok(shma__trailer_decode(t, segment_of(m), &out));
    assert_meta_equal(&out, m);
    shma__trailer_encode(&out, again);
    assert_memory_equal(t, again, sizeof t);
}

static void test_round_trip_shapes(void **state) {
    (void)state;
    shma_meta m = make_meta("float64", 2, (int64_t[]){1000, 1000});
    round_trip(&m);
    m = make_meta("bool", 0, NULL);
    round_trip(&m);
    m = make_meta("<U10", 3, (int64_t[]){2, 0, 7});
    round_trip(&m);
    m = make_meta("<M8[ns]", 1, (int64_t[]){(INT64_MAX - 703) / 8}); /* the largest that fits a segment */
    round_trip(&m);
    m = make_meta("|b1", 2, (int64_t[]){0, INT64_MAX});
    round_trip(&m);

    int64_t ones[SHMA_MAX_NDIM];
    for (int k = 0; k < SHMA_MAX_NDIM; k++) ones[k] = k % 2 + 1;
    m = make_meta("<i4", SHMA_MAX_NDIM, ones);
    m.creator_pid = INT64_MAX;
    m.creator_start = UINT64_MAX;
    round_trip(&m);
    m.creator_pid = 1;
    m.creator_start = 0;
    round_trip(&m);
}

/* The trailer needs no alignment: decode from an odd address. */
static void test_unaligned(void **state) {
    (void)state;
    shma_meta m = make_meta("<c16", 1, (int64_t[]){9});
    unsigned char buf[SHMA_TRAILER_SIZE + 1], *t = buf + 1;
    shma__trailer_encode(&m, t);
    shma_meta out;
    assert_shma_ok(shma__trailer_decode(t, segment_of(&m), &out));
    assert_meta_equal(&out, &m);
}

/* ---------------------------------------------------------------------------------------------
 * Rejections
 * ------------------------------------------------------------------------------------------- */

static void test_no_magic(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    shma_meta out;
    memset(t, 0, sizeof t);
    assert_shma_fails(shma__trailer_decode(t, 4096, &out), SHMA_E_NOMETA, "segment has no shmanager trailer");
    memset(t, 0xff, sizeof t);
    assert_shma_fails(shma__trailer_decode(t, 4096, &out), SHMA_E_NOMETA, "segment has no shmanager trailer");
    /* The magic alone at the wrong place is still nothing. */
    memset(t, 0, sizeof t);
    memcpy(t + 1, "SHMATRLR", 8);
    assert_shma_fails(shma__trailer_decode(t, 4096, &out), SHMA_E_NOMETA, "segment has no shmanager trailer");
}

/* A valid trailer of (3, 5) float64 to edit; its segment is 768 bytes. */
static void good(unsigned char t[SHMA_TRAILER_SIZE], uint64_t *segment) {
    shma_meta m = make_meta("float64", 2, (int64_t[]){3, 5});
    shma__trailer_encode(&m, t);
    *segment = segment_of(&m);
    assert_int_equal(*segment, 768);
}

static void test_version_and_size(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out;

    good(t, &seg);
    put_le(t + AT_VERSION, 2, 4);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: unsupported version 2 (this library reads 1)");
    /* Checked before the checksum: a newer version may sum differently. */
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "unsupported version 2");
    put_le(t + AT_VERSION, 0, 4);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "unsupported version 0");

    good(t, &seg);
    put_le(t + AT_SIZE, 641, 4);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: size field is 641, expected 640");
    put_le(t + AT_SIZE, 0, 4);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "size field is 0");
}

static void test_checksum(void **state) {
    (void)state;
    /* The reference sum against libxxhash's own vectors: the empty string, "abc", and 632
     * bytes (0..255 twice, then zeros) that take the four-lane path the trailer takes. */
    unsigned char v[632] = {0};
    for (int i = 0; i < 512; i++) v[i] = (unsigned char)i;
    assert_int_equal(xxh64_ref(v, 0), 0xef46db3751d8e999u);
    assert_int_equal(xxh64_ref((const unsigned char *)"abc", 3), 0x44bc2cf5ad770999u);
    assert_int_equal(xxh64_ref(v, sizeof v), 0x29f489484ab7a2beu);
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out;
    good(t, &seg);
    t[AT_PID] ^= 1;
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: checksum mismatch (stored 0x");
    good(t, &seg);
    t[AT_CHECKSUM + 7] ^= 0x80;
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: checksum mismatch");
}

static void test_dtype_field(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out;

    good(t, &seg);
    memset(t + AT_DTYPE, 'f', 16);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: dtype string is not NUL-terminated within 16 bytes");

    good(t, &seg);
    t[AT_DTYPE + 15] = 'x';
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: dtype string has bytes after its NUL");

    good(t, &seg);
    memcpy(t + AT_DTYPE, "xyz", 3);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: dtype string does not parse: ");

    good(t, &seg);
    memset(t + AT_DTYPE, 0, 16);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: dtype string does not parse");

    good(t, &seg);
    memcpy(t + AT_DTYPE, "f8\0", 3);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: dtype string is not canonical (NumPy spells it '<f8')");

    good(t, &seg);
    put_le(t + AT_ITEMSIZE, 4, 4);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: itemsize 4 differs from dtype <f8's 8");
}

static void test_shape_fields(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out;

    good(t, &seg);
    put_le(t + AT_NDIM, 65, 4);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: ndim 65 exceeds 64");
    put_le(t + AT_NDIM, UINT32_MAX, 4);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: ndim 4294967295 exceeds 64");

    good(t, &seg);
    put_le(t + AT_SHAPE + 8 * 2, 5, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: unused shape[2] is 5, not 0");
    good(t, &seg);
    put_le(t + AT_SHAPE + 8 * 63, 1, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: unused shape[63] is 1, not 0");

    good(t, &seg);
    put_le(t + AT_SHAPE, (uint64_t)INT64_MAX + 1, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: shape[0] = 9223372036854775808 exceeds INT64_MAX");
    put_le(t + AT_SHAPE, UINT64_MAX, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: shape[0] = 18446744073709551615 exceeds INT64_MAX");

    good(t, &seg);
    put_le(t + AT_SHAPE, 4294967296, 8);
    put_le(t + AT_SHAPE + 8, 4294967296, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: shape x itemsize overflows int64");

    good(t, &seg);
    put_le(t + AT_SHAPE + 8, 6, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: data_bytes 120 differs from shape x itemsize = 144");
    good(t, &seg);
    put_le(t + AT_DATA_BYTES, 121, 8);
    reseal(t);
    assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT,
                      "trailer: data_bytes 121 differs from shape x itemsize = 120");
}

static void test_segment_placement(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out;
    good(t, &seg);
    const uint64_t wrong[] = {SHMA_TRAILER_SIZE, 704, 767, 769, 832, 4096, UINT64_MAX};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char expect[128];
        snprintf(expect, sizeof expect,
                 "trailer: 120 data bytes need a 768-byte segment, this one holds %" PRIu64, wrong[i]);
        assert_shma_fails(shma__trailer_decode(t, wrong[i], &out), SHMA_E_CORRUPT, expect);
    }

    /* A shape whose bytes fit int64 but whose segment does not. */
    shma_meta m = make_meta("|b1", 1, (int64_t[]){INT64_MAX});
    shma__trailer_encode(&m, t);
    assert_shma_fails(shma__trailer_decode(t, UINT64_MAX, &out), SHMA_E_CORRUPT,
                      "trailer: data_bytes 9223372036854775807 plus the trailer overflows int64");
}

static void test_reserved_and_pid(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out;
    for (size_t i = AT_RESERVED; i < AT_CHECKSUM; i++) {
        good(t, &seg);
        t[i] = 1;
        reseal(t);
        assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, "trailer: reserved bytes are not zero");
    }
    const int64_t bad_pids[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < sizeof bad_pids / sizeof bad_pids[0]; i++) {
        good(t, &seg);
        put_le(t + AT_PID, (uint64_t)bad_pids[i], 8);
        reseal(t);
        char expect[64];
        snprintf(expect, sizeof expect, "trailer: creator pid %" PRId64 " is not positive", bad_pids[i]);
        assert_shma_fails(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT, expect);
    }
}

static void test_out_untouched(void **state) {
    (void)state;
    unsigned char t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    shma_meta out, before;
    memset(&out, 0xa5, sizeof out);
    before = out;
    good(t, &seg);
    t[AT_RESERVED] = 1;
    reseal(t);
    assert_int_equal(shma__trailer_decode(t, seg, &out), SHMA_E_CORRUPT);
    assert_memory_equal(&out, &before, sizeof out);
}

/* Every byte of the trailer changed to every other value: never accepted. */
static void test_every_byte_change(void **state) {
    (void)state;
    unsigned char orig[SHMA_TRAILER_SIZE], t[SHMA_TRAILER_SIZE];
    uint64_t seg;
    good(orig, &seg);
    for (size_t i = 0; i < SHMA_TRAILER_SIZE; i++) {
        for (int x = 1; x < 256; x++) {
            memcpy(t, orig, sizeof t);
            t[i] ^= (unsigned char)x;
            shma_meta out;
            int rc = shma__trailer_decode(t, seg, &out);
            int expect = i < 8 ? SHMA_E_NOMETA : SHMA_E_CORRUPT;
            if (rc != expect)
                fail_msg("byte %zu ^ 0x%02x: %s (%s), expected %s", i, x, shma_errname(rc), shma_last_error(),
                         shma_errname(expect));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_size),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trip_shapes),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_no_magic),
        cmocka_unit_test(test_version_and_size),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_dtype_field),
        cmocka_unit_test(test_shape_fields),
        cmocka_unit_test(test_segment_placement),
        cmocka_unit_test(test_reserved_and_pid),
        cmocka_unit_test(test_out_untouched),
        cmocka_unit_test(test_every_byte_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
