/* util.c: error reporting, option parsing and the parsers for numbers and shapes. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("shmanager: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "shmanager: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'shmanager %s --help'.\n", cmd);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_lib_error(int rc) {
    const char *detail = shma_last_error();
    cli_error("%s", detail[0] ? detail : shma_strerror(rc));
    switch (rc) {
    case SHMA_E_ARG:
    case SHMA_E_DTYPE:
    case SHMA_E_SHAPE:
    case SHMA_E_STRIDES:
    case SHMA_E_OVERFLOW:
    case SHMA_E_NAME:
    case SHMA_E_HANDLE:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_FAIL;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts) {
    /* A leading ':' makes getopt report a missing value as ':' rather than '?'; opterr = 0
     * keeps its own messages (which name argv[0]) out, so ours are the only ones. */
    char spec[64];
    snprintf(spec, sizeof spec, ":%s", shortopts);
    opterr = 0;
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c == '?') {
        if (optopt != 0)
            cli_usage_error(cmd, "unknown option '-%c'", optopt);
        else
            cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        return '?';
    }
    if (c == ':') {
        /* argv[optind - 1] is the option as typed, e.g. "--shape" or "-s". */
        const char *typed = argv[optind - 1];
        if (typed[0] == '-' && typed[1] != '-' && optopt != 0)
            cli_usage_error(cmd, "option '-%c' needs a value", optopt);
        else
            cli_usage_error(cmd, "option '%s' needs a value", typed);
        return '?';
    }
    return c;
}

int cli_help(const cli_command *cmd) {
    fputs(cmd->help, stdout);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers and shapes
 * ------------------------------------------------------------------------------------------- */

bool cli_parse_u64(const char *s, uint64_t *out) {
    /* strtoull accepts a sign and leading spaces and wraps "-1" to UINT64_MAX: refuse them. */
    if (s == NULL || !isdigit((unsigned char)s[0])) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || end == s) return false;
    /* strtoull's base 0 reads a leading 0 as octal; "010" meaning 8 would surprise. */
    if (s[0] == '0' && s[1] != '\0' && s[1] != 'x' && s[1] != 'X') return false;
    *out = (uint64_t)v;
    return true;
}

static const char *skip_spaces(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

bool cli_parse_shape(const char *s, int *ndim_out, int64_t shape[SHMA_MAX_NDIM], char *why, size_t why_cap) {
    const char *p = skip_spaces(s);
    bool paren = *p == '(';
    if (paren) p = skip_spaces(p + 1);
    int ndim = 0;
    while (*p != '\0' && *p != ')') {
        if (!isdigit((unsigned char)*p)) {
            snprintf(why, why_cap, "shape '%s': expected a non-negative integer at '%s'", s, p);
            return false;
        }
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE) {
            snprintf(why, why_cap, "shape '%s': dimension %d is too large", s, ndim);
            return false;
        }
        if (ndim == SHMA_MAX_NDIM) {
            snprintf(why, why_cap, "shape '%s' has more than %d dimensions", s, SHMA_MAX_NDIM);
            return false;
        }
        shape[ndim++] = (int64_t)v;
        p = skip_spaces(end);
        if (*p == ',') {
            p = skip_spaces(p + 1);
        } else if (*p != '\0' && *p != ')') {
            snprintf(why, why_cap, "shape '%s': expected ',' at '%s'", s, p);
            return false;
        }
    }
    if (paren != (*p == ')')) {
        snprintf(why, why_cap, "shape '%s' has unbalanced parentheses", s);
        return false;
    }
    if (paren) p = skip_spaces(p + 1);
    if (*p != '\0') {
        snprintf(why, why_cap, "shape '%s': unexpected '%s' at the end", s, p);
        return false;
    }
    *ndim_out = ndim;
    return true;
}

/* Appends to buf at *used; once the buffer is full, further appends do nothing. */
static void append(char *buf, size_t cap, size_t *used, const char *fmt, int64_t v) {
    if (*used >= cap) return;
    int n = snprintf(buf + *used, cap - *used, fmt, v);
    *used = n < 0 ? cap : *used + (size_t)n;
}

void cli_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    if (cap == 0) return;
    size_t used = 0;
    append(buf, cap, &used, "(", 0);
    for (int i = 0; i < ndim; i++) append(buf, cap, &used, i == 0 ? "%" PRId64 : ", %" PRId64, shape[i]);
    append(buf, cap, &used, ndim == 1 ? ",)" : ")", 0);
    if (used >= cap && cap >= 4) memcpy(buf + cap - 4, "...", 4);
}
