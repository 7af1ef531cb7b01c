/*
 * fuzz/handle.c: the handle codec. shma_handle_decode on arbitrary bytes (not NUL-terminated:
 * the buffer is exactly the input), and a round trip of anything it accepts.
 *
 * Properties:
 *  - Accepted: every field is valid on its own terms (canonical dtype, shape that passes
 *    shma__shape_check, name that passes shma__name_check and has no leading '/'), and
 *    shma_handle_format gives back exactly the input bytes, less the one trailing '\n' or NUL
 *    decode allows. Decoding that output again gives the same handle. Formatting into a
 *    buffer one byte too small is SHMA_E_BUFSIZE and leaves the buffer untouched.
 *  - Rejected: SHMA_E_HANDLE with a non-empty detail free of raw control bytes (decode quotes
 *    the untrusted fields it names), and *out untouched.
 */
#include "fuzz_helpers.h"

static bool same_handle(const shma_handle *a, const shma_handle *b) {
    if (strcmp(a->name, b->name) != 0 || strcmp(a->dtype.str, b->dtype.str) != 0 || a->ndim != b->ndim ||
        a->dtype.itemsize != b->dtype.itemsize || a->dtype.kind != b->dtype.kind ||
        a->dtype.byteorder != b->dtype.byteorder)
        return false;
    for (int k = 0; k < a->ndim; k++)
        if (a->shape[k] != b->shape[k]) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *in = malloc(size > 0 ? size : 1);
    FUZZ_ASSERT(in != NULL);
    if (size > 0) memcpy(in, data, size);

    shma_handle h, sentinel;
    memset(&sentinel, 0x5a, sizeof sentinel);
    h = sentinel;
    fuzz_clear_error();
    int rc = shma_handle_decode(in, size, &h);
    if (rc != SHMA_OK) {
        FUZZ_ASSERT_EQ(rc, SHMA_E_HANDLE);
        FUZZ_ASSERT_CLEAN_ERROR(rc);
        for (const char *p = shma_last_error(); *p; p++)
            FUZZ_ASSERT_MSG((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f,
                            "detail echoes raw byte 0x%02x", (unsigned char)*p);
        FUZZ_ASSERT_MSG(memcmp(&h, &sentinel, sizeof h) == 0, "rejected handle but wrote *out");
        free(in);
        return 0;
    }

    /* Each field stands on its own. */
    FUZZ_ASSERT(memchr(h.name, '\0', sizeof h.name) != NULL);
    FUZZ_ASSERT(h.name[0] != '/');
    const char *bare;
    FUZZ_ASSERT_EQ(shma__name_check(h.name, &bare), SHMA_OK);
    shma_dtype d;
    FUZZ_ASSERT_EQ(shma_dtype_parse(h.dtype.str, &d), SHMA_OK);
    FUZZ_ASSERT(strcmp(d.str, h.dtype.str) == 0 && d.itemsize == h.dtype.itemsize);
    uint64_t nbytes;
    FUZZ_ASSERT_EQ(shma__shape_check(h.ndim, h.shape, h.dtype.itemsize, &nbytes), SHMA_OK);

    /* format(decode(x)) == x, modulo the one allowed terminator. */
    size_t want_len = size;
    if (want_len > 0 && (in[want_len - 1] == '\n' || in[want_len - 1] == '\0')) want_len--;
    char out[SHMA_HANDLE_MAX];
    size_t out_len = 0;
    rc = shma_handle_format(&h, out, sizeof out, &out_len);
    FUZZ_ASSERT_MSG(rc == SHMA_OK, "format of a decoded handle: %s", shma_errname(rc));
    FUZZ_ASSERT_EQ(out_len, want_len);
    FUZZ_ASSERT_EQ(strlen(out), out_len);
    FUZZ_ASSERT_MSG(memcmp(out, in, want_len) == 0, "re-formatted handle differs: '%s'", out);

    /* decode(format(h)) == h. */
    shma_handle h2;
    FUZZ_ASSERT_EQ(shma_handle_decode(out, out_len, &h2), SHMA_OK);
    FUZZ_ASSERT(same_handle(&h, &h2));

    /* Too small by one (room for everything but the NUL): an error, buf untouched. */
    char small[SHMA_HANDLE_MAX];
    memset(small, 0x77, sizeof small);
    size_t small_len = 12345;
    rc = shma_handle_format(&h, small, out_len, &small_len);
    FUZZ_ASSERT_EQ(rc, SHMA_E_BUFSIZE);
    FUZZ_ASSERT(small_len == 12345);
    for (size_t i = 0; i < sizeof small; i++) FUZZ_ASSERT(small[i] == 0x77);
    free(in);
    return 0;
}
