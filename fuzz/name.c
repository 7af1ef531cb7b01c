/*
 * fuzz/name.c: segment-name validation (shma__name_check, shma__name_check_len) on arbitrary
 * bytes: any length, '/', NUL bytes, control and non-ASCII bytes.
 *
 * Properties:
 *  - Both checks accept exactly what an independent model of the documented rules accepts:
 *    non-empty after an optional leading '/', at most SHMA_NAME_MAX bytes after it, no other
 *    '/', no NUL, no byte < 0x20 or 0x7f, not "." or ".."; bytes >= 0x80 are fine.
 *  - check_len(buf, len) and check(buf + NUL) agree whenever buf holds no NUL; a NUL inside
 *    the buffer is always an error for check_len.
 *  - Accepted: *bare points into the name, just past the optional '/'.
 *  - Rejected: a known code, a non-empty detail that never echoes control bytes.
 * Both functions get buffers of exactly the bytes they may read, so ASan catches overreads.
 */
#include "fuzz_helpers.h"

#define INPUT_MAX (SHMA_NAME_MAX + 40)

static bool model_accepts(const unsigned char *b, size_t len) {
    size_t start = len > 0 && b[0] == '/';
    size_t n = len - start;
    if (n == 0 || n > SHMA_NAME_MAX) return false;
    for (size_t i = start; i < len; i++)
        if (b[i] < 0x20 || b[i] == 0x7f || b[i] == '/') return false;
    if (n == 1 && b[start] == '.') return false;
    if (n == 2 && b[start] == '.' && b[start + 1] == '.') return false;
    return true;
}

static void check_detail(int rc) {
    FUZZ_ASSERT_CLEAN_ERROR(rc);
    for (const char *p = shma_last_error(); *p; p++)
        FUZZ_ASSERT_MSG((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f,
                        "detail echoes control byte 0x%02x", (unsigned char)*p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > INPUT_MAX) size = INPUT_MAX;

    /* Length-delimited: exactly `size` bytes, no terminator to lean on. */
    char *buf = malloc(size > 0 ? size : 1);
    FUZZ_ASSERT(buf != NULL);
    if (size > 0) memcpy(buf, data, size);
    fuzz_clear_error();
    int rc_len = shma__name_check_len(buf, size);
    bool has_nul = memchr(buf, '\0', size) != NULL;
    bool want = !has_nul && model_accepts((const unsigned char *)buf, size);
    FUZZ_ASSERT_MSG((rc_len == SHMA_OK) == want, "check_len(%zu bytes) = %s, model says %s", size,
                    shma_errname(rc_len), want ? "accept" : "reject");
    if (rc_len != SHMA_OK) {
        FUZZ_ASSERT_EQ(rc_len, SHMA_E_NAME);
        check_detail(rc_len);
    }

    /* NUL-terminated: the bytes up to the first NUL, plus the NUL. */
    size_t zlen = has_nul ? strlen(buf) : size;
    char *z = malloc(zlen + 1);
    FUZZ_ASSERT(z != NULL);
    memcpy(z, buf, zlen);
    z[zlen] = '\0';
    const char *bare = NULL;
    fuzz_clear_error();
    int rc = shma__name_check(z, &bare);
    bool want_z = model_accepts((const unsigned char *)z, zlen);
    FUZZ_ASSERT_MSG((rc == SHMA_OK) == want_z, "check(%zu bytes) = %s, model says %s", zlen, shma_errname(rc),
                    want_z ? "accept" : "reject");
    if (!has_nul) FUZZ_ASSERT_EQ(rc, rc_len);
    if (rc == SHMA_OK) {
        FUZZ_ASSERT(bare == z + (z[0] == '/'));
        FUZZ_ASSERT(strlen(bare) >= 1 && strlen(bare) <= SHMA_NAME_MAX && strchr(bare, '/') == NULL);
        /* Leaving *bare out is allowed. */
        FUZZ_ASSERT_EQ(shma__name_check(z, NULL), SHMA_OK);
    } else {
        FUZZ_ASSERT_EQ(rc, SHMA_E_NAME);
        check_detail(rc);
    }
    free(z);
    free(buf);
    return 0;
}
