/* error.c: error codes, their names and messages, and the thread-local detail message. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DETAIL_MAX 512

static _Thread_local char detail[DETAIL_MAX];

const char *shma_strerror(int err) {
    switch (err) {
#define SHMA_ERROR_MSG_(name, value, msg) case value: return msg;
        SHMA_ERROR_MAP(SHMA_ERROR_MSG_)
#undef SHMA_ERROR_MSG_
    }
    return "unknown error";
}

const char *shma_errname(int err) {
    switch (err) {
#define SHMA_ERROR_NAME_(name, value, msg) case value: return "SHMA_" #name;
        SHMA_ERROR_MAP(SHMA_ERROR_NAME_)
#undef SHMA_ERROR_NAME_
    }
    return "SHMA_E_UNKNOWN";
}

const char *shma_last_error(void) { return detail; }

int shma__fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return code;
}

int shma__fail_errno(int code, int errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof detail) {
        char buf[128];
        /* GNU strerror_r returns the message, which may not be buf. */
        const char *text = strerror_r(errnum, buf, sizeof buf);
        snprintf(detail + n, sizeof detail - (size_t)n, ": %s (errno %d)", text, errnum);
    }
    return code;
}

int shma__code_from_errno(int errnum) {
    switch (errnum) {
    case ENOENT: return SHMA_E_NOTFOUND;
    case EEXIST: return SHMA_E_EXISTS;
    case ENOSPC:
    case EFBIG: return SHMA_E_NOSPC;
    case ENOMEM: return SHMA_E_NOMEM;
    case EACCES:
    case EPERM: return SHMA_E_PERM;
    case ENAMETOOLONG:
    case EINVAL: return SHMA_E_NAME;
    default: return SHMA_E_OS;
    }
}
