/* out.c: what the tool prints: names made safe for a terminal, aligned tables, JSON. */
#include "cli.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there are not one:
 * RFC 3629's rules, so no overlong forms, no surrogates, nothing past U+10FFFF. p is
 * NUL-terminated, and a NUL is never a continuation byte, so reads stop at the end. */
static size_t utf8_len(const unsigned char *p) {
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return n;
}

void cli_printable(const char *s, char *buf, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t used = 0;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        bool escape = n == 0 || *p < 0x20 || *p == 0x7f || *p == '\\';
        size_t need = escape ? 4 : n;
        if (used + need + 1 > cap) break;
        if (escape) {
            buf[used++] = '\\';
            buf[used++] = 'x';
            buf[used++] = hex[*p >> 4];
            buf[used++] = hex[*p & 0xf];
            p++;
        } else {
            memcpy(buf + used, p, n);
            used += n;
            p += n;
        }
    }
    if (cap > 0) buf[used] = '\0';
}

/* Columns a valid UTF-8 string takes: one per code point, which is right for the names and
 * numbers printed here (no combining or double-width characters expected). */
static size_t display_width(const char *s) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if ((*p & 0xc0) != 0x80) w++;
    return w;
}

/* ---------------------------------------------------------------------------------------------
 * Key-value lines
 * ------------------------------------------------------------------------------------------- */

void cli_kv(const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%-15s ", key);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------------------------- */

void cli_table_init(cli_table *t, int ncols, const char *const *headers, const bool *right) {
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->headers = headers;
    t->right = right;
}

bool cli_table_add(cli_table *t, const char *const *cells) {
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 16;
        char **grown = realloc(t->cells, cap * (size_t)t->ncols * sizeof *grown);
        if (!grown) return false;
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->nrows * (size_t)t->ncols;
    for (int c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c]);
        if (!row[c]) {
            while (c-- > 0) free(row[c]);
            return false;
        }
    }
    t->nrows++;
    return true;
}

static void print_cell(FILE *f, const char *s, size_t width, bool right, bool last) {
    size_t pad = width - display_width(s);
    if (right) fprintf(f, "%*s", (int)pad, "");
    fputs(s, f);
    /* No trailing spaces after the last column. */
    if (!right && !last) fprintf(f, "%*s", (int)pad, "");
}

void cli_table_print(const cli_table *t, FILE *f) {
    size_t width[CLI_TABLE_MAX_COLS] = {0};
    int ncols = t->ncols < CLI_TABLE_MAX_COLS ? t->ncols : CLI_TABLE_MAX_COLS;
    for (int c = 0; c < ncols; c++) width[c] = display_width(t->headers[c]);
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < ncols; c++) {
            size_t w = display_width(t->cells[r * (size_t)t->ncols + c]);
            if (w > width[c]) width[c] = w;
        }
    for (int c = 0; c < ncols; c++) {
        if (c > 0) fputs("  ", f);
        print_cell(f, t->headers[c], width[c], t->right[c], c == ncols - 1);
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < ncols; c++) {
            if (c > 0) fputs("  ", f);
            print_cell(f, t->cells[r * (size_t)t->ncols + c], width[c], t->right[c], c == ncols - 1);
        }
        fputc('\n', f);
    }
}

void cli_table_free(cli_table *t) {
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap_rows = 0;
}

/* ---------------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------------- */

void cli_json_init(cli_json *j, FILE *f) {
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void newline_indent(cli_json *j) {
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
}

/* What goes before any value: nothing after a key, else a comma and a new line in a container. */
static void before_value(cli_json *j) {
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0) {
        if (j->need_comma) fputc(',', j->f);
        newline_indent(j);
    }
}

static void begin(cli_json *j, char open) {
    before_value(j);
    fputc(open, j->f);
    j->depth++;
    j->need_comma = false;
}

static void end(cli_json *j, char close) {
    j->depth--;
    if (j->need_comma) newline_indent(j); /* the container held something */
    fputc(close, j->f);
    j->need_comma = true;
}

void cli_json_begin_object(cli_json *j) { begin(j, '{'); }
void cli_json_end_object(cli_json *j) { end(j, '}'); }
void cli_json_begin_array(cli_json *j) { begin(j, '['); }
void cli_json_end_array(cli_json *j) { end(j, ']'); }

static void write_string(FILE *f, const char *s) {
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = utf8_len(p);
        if (n == 0) {
            /* Not UTF-8: Python's surrogateescape spelling of the byte, U+DC80..U+DCFF. */
            fprintf(f, "\\udc%c%c", hex[*p >> 4], hex[*p & 0xf]);
            p++;
        } else if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
        } else {
            unsigned char c = *p++;
            switch (c) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\t': fputs("\\t", f); break;
            case '\r': fputs("\\r", f); break;
            default:
                if (c < 0x20 || c == 0x7f)
                    fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
                else
                    fputc(c, f);
            }
        }
    }
    fputc('"', f);
}

void cli_json_key(cli_json *j, const char *key) {
    before_value(j);
    write_string(j->f, key);
    fputs(": ", j->f);
    j->after_key = true;
}

void cli_json_string(cli_json *j, const char *s) {
    before_value(j);
    write_string(j->f, s);
    j->need_comma = true;
}

void cli_json_int(cli_json *j, int64_t v) {
    before_value(j);
    fprintf(j->f, "%" PRId64, v);
    j->need_comma = true;
}

void cli_json_uint(cli_json *j, uint64_t v) {
    before_value(j);
    fprintf(j->f, "%" PRIu64, v);
    j->need_comma = true;
}

void cli_json_bool(cli_json *j, bool v) {
    before_value(j);
    fputs(v ? "true" : "false", j->f);
    j->need_comma = true;
}

void cli_json_null(cli_json *j) {
    before_value(j);
    fputs("null", j->f);
    j->need_comma = true;
}

void cli_json_shape(cli_json *j, int ndim, const int64_t *shape) {
    before_value(j);
    fputc('[', j->f);
    for (int i = 0; i < ndim; i++) fprintf(j->f, i == 0 ? "%" PRId64 : ", %" PRId64, shape[i]);
    fputc(']', j->f);
    j->need_comma = true;
}

void cli_json_finish(cli_json *j) { fputc('\n', j->f); }
