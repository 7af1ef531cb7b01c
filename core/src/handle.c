/* handle.c: the handle codec, "shma1;DTYPE;D0,D1,...;NAME" (grammar in shmanager.h).
 *
 * The decoder accepts only the canonical spelling the formatter writes, so a handle has one
 * spelling and format(decode(x)) == x. It reads nothing past `len` and trusts no byte. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HANDLE_PREFIX "shma1;"

/* Longest text of an int64 in decimal, without sign. */
#define DIM_DIGITS_MAX 19

/* How much of an untrusted field a detail message quotes. */
#define QUOTE_MAX 40

/* Copies n untrusted bytes into dst as printable text: bytes outside ' '..'~', the quote and
 * the backslash become \xNN, and a long field is cut with "...". */
static void quote(char *dst, size_t cap, const char *src, size_t n) {
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '\'' && c != '\\';
        size_t need = plain ? 1 : 4;
        if (i >= QUOTE_MAX || pos + need + sizeof "..." > cap) {
            memcpy(dst + pos, "...", 3);
            pos += 3;
            break;
        }
        if (plain) dst[pos++] = (char)c;
        else pos += (size_t)snprintf(dst + pos, cap - pos, "\\x%02x", c);
    }
    dst[pos] = '\0';
}

/* Re-reports the failure just recorded as a malformed handle, keeping its detail. */
static int handle_fail(const char *field) {
    char inner[256];
    snprintf(inner, sizeof inner, "%s", shma_last_error());
    return shma__fail(SHMA_E_HANDLE, "handle: %s: %s", field, inner);
}

/* ---------------------------------------------------------------------------------------------
 * Formatting
 * ------------------------------------------------------------------------------------------- */

int shma_handle_format(const shma_handle *h, char *buf, size_t cap, size_t *len) {
    SHMA_FAIL_IF(h == NULL, SHMA_E_ARG, "handle is NULL");
    SHMA_FAIL_IF(buf == NULL, SHMA_E_ARG, "output buffer is NULL");

    SHMA_FAIL_IF(memchr(h->dtype.str, '\0', sizeof h->dtype.str) == NULL, SHMA_E_DTYPE,
                 "handle dtype string is not NUL-terminated within %d bytes", SHMA_DTYPE_STR_MAX);
    shma_dtype dtype;
    SHMA_FORWARD(shma_dtype_parse(h->dtype.str, &dtype));
    SHMA_FAIL_IF(strcmp(dtype.str, h->dtype.str) != 0, SHMA_E_DTYPE,
                 "handle dtype '%s' is not canonical (NumPy spells it '%s')", h->dtype.str, dtype.str);
    uint64_t nbytes;
    SHMA_FORWARD(shma__shape_check(h->ndim, h->shape, dtype.itemsize, &nbytes));
    SHMA_FAIL_IF(memchr(h->name, '\0', sizeof h->name) == NULL, SHMA_E_NAME,
                 "handle name is not NUL-terminated within %d bytes", SHMA_NAME_MAX + 1);
    SHMA_FAIL_IF(h->name[0] == '/', SHMA_E_NAME, "handle name starts with '/': store it without");
    SHMA_FORWARD(shma__name_check(h->name, NULL));

    /* Built aside so that buf is untouched on failure. */
    char text[SHMA_HANDLE_MAX];
    size_t n = (size_t)snprintf(text, sizeof text, HANDLE_PREFIX "%s;", dtype.str);
    for (int k = 0; k < h->ndim; k++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%" PRId64, k > 0 ? "," : "", h->shape[k]);
    n += (size_t)snprintf(text + n, sizeof text - n, ";%s", h->name);

    SHMA_FAIL_IF(n + 1 > cap, SHMA_E_BUFSIZE, "handle needs %zu bytes with its NUL, buffer holds %zu",
                 n + 1, cap);
    memcpy(buf, text, n + 1);
    if (len != NULL) *len = n;
    return SHMA_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------- */

/* Parses a canonical decimal dim: digits only, no leading zero unless it is "0", <= INT64_MAX. */
static int parse_dim(const char *s, size_t n, int k, int64_t *out) {
    char q[QUOTE_MAX * 4 + 4];
    quote(q, sizeof q, s, n);
    SHMA_FAIL_IF(n == 0, SHMA_E_HANDLE, "handle: shape[%d] is empty", k);
    for (size_t i = 0; i < n; i++)
        SHMA_FAIL_IF(s[i] < '0' || s[i] > '9', SHMA_E_HANDLE,
                     "handle: shape[%d] '%s' is not a decimal number", k, q);
    SHMA_FAIL_IF(n > 1 && s[0] == '0', SHMA_E_HANDLE, "handle: shape[%d] '%s' is not canonical", k, q);
    SHMA_FAIL_IF(n > DIM_DIGITS_MAX, SHMA_E_HANDLE, "handle: shape[%d] '%s' exceeds INT64_MAX", k, q);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v * 10 + (uint64_t)(s[i] - '0');
    SHMA_FAIL_IF(v > (uint64_t)INT64_MAX, SHMA_E_HANDLE, "handle: shape[%d] '%s' exceeds INT64_MAX", k, q);
    *out = (int64_t)v;
    return SHMA_OK;
}

int shma_handle_decode(const char *buf, size_t len, shma_handle *out) {
    SHMA_FAIL_IF(buf == NULL, SHMA_E_ARG, "handle buffer is NULL");
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "output handle is NULL");
    if (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\0')) len--;
    SHMA_FAIL_IF(len >= SHMA_HANDLE_MAX, SHMA_E_HANDLE, "handle: %zu bytes, more than the %d a handle can hold",
                 len, SHMA_HANDLE_MAX - 1);

    const size_t prefix_len = sizeof HANDLE_PREFIX - 1;
    SHMA_FAIL_IF(len < prefix_len || memcmp(buf, HANDLE_PREFIX, prefix_len) != 0, SHMA_E_HANDLE,
                 "handle: does not start with '" HANDLE_PREFIX "'");
    const char *p = buf + prefix_len;
    const char *end = buf + len;

    shma_handle h;
    memset(&h, 0, sizeof h);

    const char *semi = memchr(p, ';', (size_t)(end - p));
    SHMA_FAIL_IF(semi == NULL, SHMA_E_HANDLE, "handle: no ';' after the dtype field");
    size_t dtype_len = (size_t)(semi - p);
    char q[QUOTE_MAX * 4 + 4];
    quote(q, sizeof q, p, dtype_len);
    SHMA_FAIL_IF(dtype_len == 0, SHMA_E_HANDLE, "handle: dtype is empty");
    SHMA_FAIL_IF(dtype_len >= SHMA_DTYPE_STR_MAX || memchr(p, '\0', dtype_len) != NULL, SHMA_E_HANDLE,
                 "handle: dtype '%s' is not a canonical dtype string", q);
    char dtype_text[SHMA_DTYPE_STR_MAX];
    memcpy(dtype_text, p, dtype_len);
    dtype_text[dtype_len] = '\0';
    if (shma_dtype_parse(dtype_text, &h.dtype) != SHMA_OK) return handle_fail("dtype");
    SHMA_FAIL_IF(strcmp(h.dtype.str, dtype_text) != 0, SHMA_E_HANDLE,
                 "handle: dtype '%s' is not canonical (NumPy spells it '%s')", q, h.dtype.str);
    p = semi + 1;

    semi = memchr(p, ';', (size_t)(end - p));
    SHMA_FAIL_IF(semi == NULL, SHMA_E_HANDLE, "handle: no ';' after the shape field");
    /* An empty field is a 0-d array; otherwise every comma separates two dims. */
    if (p < semi) {
        for (;;) {
            SHMA_FAIL_IF(h.ndim == SHMA_MAX_NDIM, SHMA_E_HANDLE, "handle: shape has more than %d dims",
                         SHMA_MAX_NDIM);
            const char *comma = memchr(p, ',', (size_t)(semi - p));
            const char *dim_end = comma != NULL ? comma : semi;
            SHMA_FORWARD(parse_dim(p, (size_t)(dim_end - p), h.ndim, &h.shape[h.ndim]));
            h.ndim++;
            if (comma == NULL) break;
            p = comma + 1;
        }
    }
    uint64_t nbytes;
    if (shma__shape_check(h.ndim, h.shape, h.dtype.itemsize, &nbytes) != SHMA_OK)
        return handle_fail("shape");
    p = semi + 1;

    size_t name_len = (size_t)(end - p);
    SHMA_FAIL_IF(name_len > 0 && p[0] == '/', SHMA_E_HANDLE, "handle: name starts with '/'");
    if (shma__name_check_len(p, name_len) != SHMA_OK) return handle_fail("name");
    memcpy(h.name, p, name_len);
    h.name[name_len] = '\0';

    *out = h;
    return SHMA_OK;
}
