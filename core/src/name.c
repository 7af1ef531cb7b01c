/* name.c: segment-name validation and fresh random names. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* The one set of rules, on a length-delimited buffer, so NUL-terminated names and handle
 * fields are judged alike. Details never echo the name: it may hold control bytes. */
static int check_bytes(const char *name, size_t len, const char **bare) {
    SHMA_FAIL_IF(len == 0, SHMA_E_NAME, "name is empty");
    size_t start = name[0] == '/' ? 1 : 0;
    size_t bare_len = len - start;
    SHMA_FAIL_IF(bare_len == 0, SHMA_E_NAME, "name '/' is empty after its leading '/'");
    SHMA_FAIL_IF(bare_len > SHMA_NAME_MAX, SHMA_E_NAME,
                 "name is %zu characters long (without a leading '/'), more than %d", bare_len,
                 SHMA_NAME_MAX);
    /* A table lookup per byte finds whether any is forbidden (NUL, a control character, '/');
     * the loop that names the first one runs only then. */
    static const bool forbidden[256] = {[0x00 ... 0x1f] = true, ['/'] = true, [0x7f] = true};
    bool bad = false;
    for (size_t i = start; i < len; i++) bad |= forbidden[(unsigned char)name[i]];
    for (size_t i = start; bad && i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        SHMA_FAIL_IF(c == '\0', SHMA_E_NAME, "name contains a NUL byte at offset %zu", i);
        SHMA_FAIL_IF(c < 0x20 || c == 0x7f, SHMA_E_NAME,
                     "name contains control character 0x%02x at offset %zu", c, i);
        SHMA_FAIL_IF(c == '/', SHMA_E_NAME,
                     "name contains '/' at offset %zu: only a leading '/' is allowed", i);
    }
    const char *rest = name + start;
    bool dots = (bare_len == 1 && rest[0] == '.') || (bare_len == 2 && rest[0] == '.' && rest[1] == '.');
    SHMA_FAIL_IF(dots, SHMA_E_NAME, "name '%.*s' is not allowed", (int)bare_len, rest);
    if (bare != NULL) *bare = rest;
    return SHMA_OK;
}

int shma__name_check(const char *name, const char **bare) {
    SHMA_FAIL_IF(name == NULL, SHMA_E_ARG, "name is NULL");
    return check_bytes(name, strlen(name), bare);
}

int shma__name_check_len(const char *buf, size_t len) {
    SHMA_FAIL_IF(buf == NULL, SHMA_E_ARG, "name is NULL");
    return check_bytes(buf, len, NULL);
}

int shma__name_random(char buf[SHMA_RANDOM_NAME_LEN + 1]) {
    static const char prefix[] = "shma_";
    static const char hex[] = "0123456789abcdef";
    unsigned char bits[(SHMA_RANDOM_NAME_LEN - (sizeof prefix - 1)) / 2];
    size_t got = 0;
    while (got < sizeof bits) {
        ssize_t n = getrandom(bits + got, sizeof bits - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return shma__fail_errno(SHMA_E_OS, errno, "getrandom() for a segment name failed");
        }
        got += (size_t)n;
    }
    memcpy(buf, prefix, sizeof prefix - 1);
    char *digits = buf + sizeof prefix - 1;
    for (size_t i = 0; i < sizeof bits; i++) {
        digits[2 * i] = hex[bits[i] >> 4];
        digits[2 * i + 1] = hex[bits[i] & 0xf];
    }
    buf[SHMA_RANDOM_NAME_LEN] = '\0';
    return SHMA_OK;
}
