/*
 * dtype.c: NumPy dtype strings ("float64", "<f8", "S10", "M8[ns]") to shma_dtype.
 *
 * The reference is NumPy 1.24's np.dtype(str) on x86-64 Linux: _convert_from_str() in
 * numpy/core/src/multiarray/descriptor.c for type codes, kinds with sizes and names, and
 * parse_datetime_metadata_from_metastr() in datetime.c for datetime units. The steps below
 * follow NumPy's order, so a string reaches the same branch it reaches there.
 *
 * Where NumPy accepts a string only through an accident of its C, we reject it: a one-byte
 * control code read as a type number ("\x0c" is float64), a size that wraps around in an int
 * ("S4294967297" is S1), a week divisor that reads past its table ("M8[W/11]" is M8[0Y]), a
 * zero divisor (which crashes the interpreter). We also reject what cannot live in a shared
 * segment or our fixed-size trailer: objects, structured and subarray dtypes, flexible types
 * without a size, and canonical strings longer than SHMA_DTYPE_STR_MAX - 1. The unit test
 * lists each of these differences against core/test/dtype_vectors.txt, NumPy's own answers.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* NumPy's names for C types assume these sizes ('l' and "int" are 8 bytes, 'g' and
 * "float128" 16); on another ABI NumPy itself would spell them differently. */
_Static_assert(sizeof(long) == 8, "dtype table assumes LP64");
_Static_assert(sizeof(long double) == 16, "dtype table assumes a 16-byte long double");

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NATIVE_ORDER '>'
#else
#define NATIVE_ORDER '<'
#endif

/* The longest input considered. The longest sensible spelling, "<timedelta64[99999999ns]", is
 * 24 bytes; the bound keeps every scan short and the quoted input inside the detail message. */
#define DTYPE_INPUT_MAX 64

/* Sizes, datetime multipliers and divisors are C ints in NumPy; beyond INT_MAX it wraps. */
#define NUMBER_MAX INT_MAX

/* ---------------------------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------------------------- */

typedef struct type_desc {
    char kind;         /* NumPy's kind: 'b', 'i', 'u', 'f', 'c', 'S', 'U', 'V', 'O', 'M', 'm' */
    uint8_t itemsize;  /* 0 for S, U and V, whose size comes from the string */
} type_desc;

/* NumPy's one-character type codes (PyArray_DescrFromType of the character). */
static bool type_from_code(char code, type_desc *t) {
    switch (code) {
    case '?': *t = (type_desc){'b', 1}; return true;
    case 'b': *t = (type_desc){'i', 1}; return true;
    case 'B': *t = (type_desc){'u', 1}; return true;
    case 'h': *t = (type_desc){'i', 2}; return true;
    case 'H': *t = (type_desc){'u', 2}; return true;
    case 'i': *t = (type_desc){'i', 4}; return true;
    case 'I': *t = (type_desc){'u', 4}; return true;
    case 'l':
    case 'q':
    case 'p': *t = (type_desc){'i', 8}; return true;
    case 'L':
    case 'Q':
    case 'P': *t = (type_desc){'u', 8}; return true;
    case 'e': *t = (type_desc){'f', 2}; return true;
    case 'f': *t = (type_desc){'f', 4}; return true;
    case 'd': *t = (type_desc){'f', 8}; return true;
    case 'g': *t = (type_desc){'f', 16}; return true;
    case 'F': *t = (type_desc){'c', 8}; return true;
    case 'D': *t = (type_desc){'c', 16}; return true;
    case 'G': *t = (type_desc){'c', 32}; return true;
    case 'S':
    case 'a': *t = (type_desc){'S', 0}; return true;
    case 'c': *t = (type_desc){'S', 1}; return true; /* NumPy's NPY_CHARLTR: a one-byte string */
    case 'U': *t = (type_desc){'U', 0}; return true;
    case 'V': *t = (type_desc){'V', 0}; return true;
    case 'O': *t = (type_desc){'O', 8}; return true;
    case 'M': *t = (type_desc){'M', 8}; return true;
    case 'm': *t = (type_desc){'m', 8}; return true;
    default: return false;
    }
}

/* A kind letter with a size in bytes, for the non-flexible kinds (PyArray_TypestrConvert). */
static bool type_from_kind_size(char kind, int64_t size, type_desc *t) {
    bool ok;
    switch (kind) {
    case 'b': ok = size == 1; break;
    case 'i':
    case 'u': ok = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'f': ok = size == 2 || size == 4 || size == 8 || size == 16; break;
    case 'c': ok = size == 8 || size == 16 || size == 32; break;
    /* NumPy still takes 'O4' and 'O8' (deprecated); both are its 8-byte object pointer. */
    case 'O': ok = size == 4 || size == 8; size = 8; break;
    case 'M':
    case 'm': ok = size == 8; break;
    default: ok = false; break;
    }
    if (ok) *t = (type_desc){kind, (uint8_t)size};
    return ok;
}

/* numpy.sctypeDict's string keys that are names rather than codes, each with the code it
 * means. The commonest come first: the fast path scans this table from the top. */
static const struct {
    char name[14];
    char code;
} names[] = {
    {"float64", 'd'},     {"float32", 'f'},       {"int64", 'l'},       {"int32", 'i'},
    {"uint8", 'B'},       {"bool", '?'},          {"int16", 'h'},       {"uint16", 'H'},
    {"uint32", 'I'},      {"uint64", 'L'},        {"int8", 'b'},        {"float16", 'e'},
    {"complex64", 'F'},   {"complex128", 'D'},    {"double", 'd'},      {"float", 'd'},
    {"int", 'l'},         {"complex", 'D'},       {"bool_", '?'},       {"bool8", '?'},
    {"byte", 'b'},        {"ubyte", 'B'},         {"short", 'h'},       {"ushort", 'H'},
    {"intc", 'i'},        {"uintc", 'I'},         {"int_", 'l'},        {"int0", 'l'},
    {"intp", 'l'},        {"long", 'l'},          {"longlong", 'q'},    {"uint", 'L'},
    {"uint0", 'L'},       {"uintp", 'L'},         {"ulong", 'L'},       {"ulonglong", 'Q'},
    {"half", 'e'},        {"single", 'f'},        {"float_", 'd'},      {"longdouble", 'g'},
    {"longfloat", 'g'},   {"float128", 'g'},      {"csingle", 'F'},     {"singlecomplex", 'F'},
    {"complex_", 'D'},    {"cdouble", 'D'},       {"cfloat", 'D'},      {"clongdouble", 'G'},
    {"clongfloat", 'G'},  {"longcomplex", 'G'},   {"complex256", 'G'},  {"bytes", 'S'},
    {"bytes0", 'S'},      {"bytes_", 'S'},        {"string_", 'S'},     {"str", 'U'},
    {"str0", 'U'},        {"str_", 'U'},          {"unicode", 'U'},     {"unicode_", 'U'},
    {"void", 'V'},        {"void0", 'V'},         {"object", 'O'},      {"object0", 'O'},
    {"object_", 'O'},
};

static bool type_from_name(const char *s, type_desc *t) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) return type_from_code(names[i].code, t);
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Datetime units
 * ------------------------------------------------------------------------------------------- */

/* In NumPy's order, largest first: a divisor moves a unit towards the end. */
enum { UNIT_Y, UNIT_M, UNIT_W, UNIT_D, UNIT_h, UNIT_m, UNIT_s, UNIT_ms, UNIT_us, UNIT_ns,
       UNIT_ps, UNIT_fs, UNIT_as, UNIT_COUNT, UNIT_GENERIC = UNIT_COUNT };

static const char unit_names[UNIT_COUNT][3] = {"Y", "M",  "W",  "D",  "h",  "m", "s",
                                                "ms", "us", "ns", "ps", "fs", "as"};

/* "[D/24]" means hours: each unit's multiples of smaller units, tried in order, as NumPy's
 * _multiples_table (minus the fourth, zero, entry it reads for weeks). */
static const struct {
    uint32_t factor[3];
    uint8_t unit[3];
} unit_splits[UNIT_COUNT] = {
    [UNIT_Y] = {{12, 52, 365}, {UNIT_M, UNIT_W, UNIT_D}},
    [UNIT_M] = {{4, 30, 720}, {UNIT_W, UNIT_D, UNIT_h}},
    [UNIT_W] = {{7, 168, 10080}, {UNIT_D, UNIT_h, UNIT_m}},
    [UNIT_D] = {{24, 1440, 86400}, {UNIT_h, UNIT_m, UNIT_s}},
    [UNIT_h] = {{60, 3600}, {UNIT_m, UNIT_s}},
    [UNIT_m] = {{60, 60000}, {UNIT_s, UNIT_ms}},
    [UNIT_s] = {{1000, 1000000}, {UNIT_ms, UNIT_us}},
    [UNIT_ms] = {{1000, 1000000}, {UNIT_us, UNIT_ns}},
    [UNIT_us] = {{1000, 1000000}, {UNIT_ns, UNIT_ps}},
    [UNIT_ns] = {{1000, 1000000}, {UNIT_ps, UNIT_fs}},
    [UNIT_ps] = {{1000, 1000000}, {UNIT_fs, UNIT_as}},
    [UNIT_fs] = {{1000}, {UNIT_as}},
    [UNIT_as] = {{0}, {0}},
};

/* The unit named by p[0..n), or -1. */
static int unit_from_string(const char *p, size_t n) {
    if (n == 3 && memcmp(p, "\xce\xbcs", 3) == 0) return UNIT_us; /* "μs", UTF-8 */
    if (n == 7 && memcmp(p, "generic", 7) == 0) return UNIT_GENERIC;
    for (int u = 0; u < UNIT_COUNT; u++)
        if (strlen(unit_names[u]) == n && memcmp(p, unit_names[u], n) == 0) return u;
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------------------------- */

#define QUOTED_MAX (4 * DTYPE_INPUT_MAX + 4) /* every byte as \xHH, then "..." and NUL */

/* Writes p[0..n) into buf (QUOTED_MAX bytes) for a message inside single quotes: printable
 * ASCII as is, quote and backslash escaped, anything else as \xHH; cut at DTYPE_INPUT_MAX
 * bytes with "...". */
static void quote(const char *p, size_t n, char *buf) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n && i < DTYPE_INPUT_MAX; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\'' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 0xf];
        }
    }
    if (n > DTYPE_INPUT_MAX) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

/* Fails with SHMA_E_DTYPE; if `report`, sets the detail "dtype '<s>' <reason>". The unsafe
 * path passes report = false: it must not spend time on, or overwrite, a detail message. */
static int reject(bool report, const char *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int reject(bool report, const char *s, const char *fmt, ...) {
    if (!report) return SHMA_E_DTYPE;
    char quoted[QUOTED_MAX];
    char reason[QUOTED_MAX + 96];
    quote(s, strnlen(s, DTYPE_INPUT_MAX + 1), quoted);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return shma__fail(SHMA_E_DTYPE, "dtype '%s' %s", quoted, reason);
}

/* ---------------------------------------------------------------------------------------------
 * Building the result
 * ------------------------------------------------------------------------------------------- */

/* A resolved dtype before it is spelled out. */
typedef struct spec {
    char kind;
    char order;       /* '<', '>' or '|', as NumPy's dtype.str shows it */
    int64_t count;    /* itemsize in bytes; characters for 'U' */
    int unit;         /* 'M' and 'm': a UNIT_* value, UNIT_GENERIC for a bare "M8" */
    int64_t unit_num; /* the multiplier in "M8[10ms]" */
} spec;

/* NumPy's byte order for a type given a prefix ('<', '>', '=', '|' or 0): single bytes,
 * bytes strings and voids have none; '=' and '|' mean native. */
static char order_for(char kind, int64_t itemsize, char prefix) {
    if (kind == 'b' || kind == 'S' || kind == 'V' || kind == 'O' || itemsize == 1) return '|';
    return (prefix == '<' || prefix == '>') ? prefix : NATIVE_ORDER;
}

static spec spec_from_type(type_desc t, char prefix) {
    return (spec){.kind = t.kind,
                  .order = order_for(t.kind, t.itemsize, prefix),
                  .count = t.itemsize,
                  .unit = UNIT_GENERIC,
                  .unit_num = 1};
}

/* Appends the decimal digits of v (0..INT64_MAX) at p; returns the end. */
static char *put_digits(char *p, int64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0) *p++ = tmp[--n];
    return p;
}

/* Checks what cannot be shared, spells NumPy's dtype.str and fills *out. */
static int finish(const spec *sp, const char *s, shma_dtype *out, bool report) {
    if (sp->kind == 'O') return reject(report, s, "holds Python objects and cannot be shared");
    if (sp->count == 0) return reject(report, s, "has no size");

    /* Sizes are at most NUMBER_MAX (and U's count a quarter of it), so every itemsize fits
     * uint32; the digits may still overflow the fixed-size string. */
    char buf[48];
    char *p = buf;
    *p++ = sp->order;
    *p++ = sp->kind;
    uint32_t itemsize;
    if (sp->kind == 'M' || sp->kind == 'm') {
        itemsize = 8;
        *p++ = '8';
        if (sp->unit != UNIT_GENERIC) {
            *p++ = '[';
            if (sp->unit_num != 1) p = put_digits(p, sp->unit_num);
            size_t ulen = strlen(unit_names[sp->unit]);
            memcpy(p, unit_names[sp->unit], ulen);
            p += ulen;
            *p++ = ']';
        }
    } else {
        itemsize = (uint32_t)(sp->kind == 'U' ? sp->count * 4 : sp->count);
        p = put_digits(p, sp->count);
    }
    *p = '\0';
    size_t len = (size_t)(p - buf);
    if (len >= SHMA_DTYPE_STR_MAX)
        return reject(report, s, "is '%s' in NumPy, longer than the %d characters a shared dtype holds",
                      buf, SHMA_DTYPE_STR_MAX - 1);

    memcpy(out->str, buf, len + 1);
    memset(out->str + len + 1, 0, sizeof out->str - len - 1);
    out->kind = sp->kind;
    out->byteorder = sp->order;
    out->itemsize = itemsize;
    return SHMA_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_order(char c) { return c == '<' || c == '>' || c == '=' || c == '|'; }

/* Reads a decimal integer from p[0..n) as NumPy's strtol(p, &end, 10) does: spaces, a sign,
 * digits. (strtol also skips \t\n\v\f\r, but control bytes never get this far.) Returns the
 * bytes consumed, 0 when there are no digits, as strtol consumes nothing then. The magnitude
 * saturates at NUMBER_MAX + 1 so that callers see the overflow without wrapping. */
static size_t read_int(const char *p, size_t n, int64_t *value) {
    size_t i = 0;
    while (i < n && p[i] == ' ') i++;
    bool negative = i < n && p[i] == '-';
    if (i < n && (p[i] == '-' || p[i] == '+')) i++;
    size_t digits_at = i;
    int64_t v = 0;
    for (; i < n && is_digit(p[i]); i++) {
        v = v * 10 + (p[i] - '0');
        if (v > (int64_t)NUMBER_MAX) v = (int64_t)NUMBER_MAX + 1;
    }
    if (i == digits_at) return 0;
    *value = negative ? -v : v;
    return i;
}

/* NumPy's _check_for_commastring(): strings it hands to its structured-dtype parser. Some come
 * back plain ("f8," and "1f8" are float64), but none is a spelling worth sharing. Returns 0
 * for a plain string, or the failure. */
static int check_not_comma_string(const char *s, size_t len, bool report) {
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        /* As NumPy, counts brackets without matching them: "]," has depth -1 at the comma. */
        if (s[i] == '[') depth++;
        else if (s[i] == ']') depth--;
        else if (s[i] == ',' && depth == 0)
            return reject(report, s, "is structured; only plain dtypes are supported");
    }
    bool leading_count = is_digit(s[0]) || (len > 1 && is_order(s[0]) && is_digit(s[1]));
    bool empty_shape = (len > 1 && s[0] == '(' && s[1] == ')') ||
                       (len > 3 && is_order(s[0]) && s[1] == '(' && s[2] == ')');
    if (leading_count || empty_shape)
        return reject(report, s, "has a subarray shape; only plain dtypes are supported");
    return SHMA_OK;
}

/* The metadata after "M8"/"datetime64" (meta[0..n)): "", "[unit]", "[Nunit]", "[Nunit/D]". */
static int parse_datetime_meta(const char *meta, size_t n, spec *sp, const char *s, bool report) {
    if (n == 0) return SHMA_OK; /* a bare "M8": generic units */
    const char *close = n >= 3 && meta[0] == '[' ? memchr(meta + 1, ']', n - 1) : NULL;
    if (close == NULL || close == meta + 1 || close != meta + n - 1)
        return reject(report, s, "has malformed datetime units (expected e.g. 'M8[ns]')");
    const char *p = meta + 1;
    size_t inner = (size_t)(close - p);

    int64_t num = 1;
    size_t used = read_int(p, inner, &num);
    if (used > 0 && (num < 0 || num > NUMBER_MAX))
        return reject(report, s, "has a datetime multiplier out of range 0..%d", NUMBER_MAX);
    p += used;
    inner -= used;

    const char *slash = memchr(p, '/', inner);
    size_t unit_len = slash ? (size_t)(slash - p) : inner;
    int unit = unit_from_string(p, unit_len);
    if (unit < 0) {
        if (!report) return SHMA_E_DTYPE;
        char unit_quoted[QUOTED_MAX];
        quote(p, unit_len, unit_quoted);
        return reject(report, s, "has an unknown datetime unit '%s'", unit_quoted);
    }

    if (slash != NULL) {
        size_t rest = inner - unit_len - 1;
        int64_t den = 0;
        size_t den_used = read_int(slash + 1, rest, &den);
        if (den_used == 0 || den_used != rest)
            return reject(report, s, "has a malformed datetime divisor");
        /* NumPy crashes on 0 and turns a negative divisor into negative units. */
        if (den < 1 || den > NUMBER_MAX)
            return reject(report, s, "has a datetime divisor out of range 1..%d", NUMBER_MAX);
        if (den != 1) {
            if (unit == UNIT_GENERIC)
                return reject(report, s, "divides generic datetime units");
            int i = 0;
            while (i < 3 && (unit_splits[unit].factor[i] == 0 || unit_splits[unit].factor[i] % den != 0))
                i++;
            if (i == 3)
                return reject(report, s, "has a datetime divisor %lld that splits %s into no smaller unit",
                              (long long)den, unit_names[unit]);
            num *= unit_splits[unit].factor[i] / den;
            unit = unit_splits[unit].unit[i];
            if (num > NUMBER_MAX)
                return reject(report, s, "has a datetime multiplier that overflows");
        }
    }
    sp->unit = unit;
    sp->unit_num = num;
    return SHMA_OK;
}

/* A kind letter followed by a size, "f8", "S10", "U3", after the prefix (t[0..n), n >= 2);
 * `size` is what read_int() read after the letter. */
static int parse_kind_size(const char *t, int64_t size, char prefix, const char *s, shma_dtype *out,
                           bool report) {
    char kind = t[0] == 'a' ? 'S' : t[0];
    if (kind == 'S' || kind == 'U' || kind == 'V') {
        if (size < 0) return reject(report, s, "has a negative size");
        if (size > (kind == 'U' ? NUMBER_MAX / 4 : NUMBER_MAX))
            return reject(report, s, "has a size that overflows");
        spec sp = spec_from_type((type_desc){kind, 0}, prefix);
        sp.count = size;
        return finish(&sp, s, out, report);
    }
    type_desc td;
    if (size > NUMBER_MAX || size < -NUMBER_MAX) {
        if (strchr("biufcOMm", kind) != NULL) return reject(report, s, "has a size that overflows");
    } else if (type_from_kind_size(kind, size, &td)) {
        spec sp = spec_from_type(td, prefix);
        return finish(&sp, s, out, report);
    }
    if (type_from_name(s, &td)) {
        spec sp = spec_from_type(td, 0);
        return finish(&sp, s, out, report);
    }
    return reject(report, s, "is not a NumPy dtype");
}

static int parse(const char *s, shma_dtype *out, bool report) {
    size_t len = strnlen(s, DTYPE_INPUT_MAX + 1);
    if (len == 0) return reject(report, s, "is empty");
    if (len > DTYPE_INPUT_MAX) return reject(report, s, "is longer than %d bytes", DTYPE_INPUT_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return reject(report, s, "contains a control character");
    }
    SHMA_FORWARD(check_not_comma_string(s, len, report));

    char prefix = is_order(s[0]) ? s[0] : 0;
    const char *t = prefix ? s + 1 : s;
    size_t n = prefix ? len - 1 : len;
    if (n == 0) return reject(report, s, "is a byte order without a type");

    const char *meta = NULL;
    char dt_kind = 0;
    if (n >= 2 && t[1] == '8' && (t[0] == 'M' || t[0] == 'm')) {
        dt_kind = t[0];
        meta = t + 2;
    } else if (n >= 10 && memcmp(t, "datetime64", 10) == 0) {
        dt_kind = 'M';
        meta = t + 10;
    } else if (n >= 11 && memcmp(t, "timedelta64", 11) == 0) {
        dt_kind = 'm';
        meta = t + 11;
    }
    if (meta != NULL) {
        spec sp = spec_from_type((type_desc){dt_kind, 8}, prefix);
        SHMA_FORWARD(parse_datetime_meta(meta, n - (size_t)(meta - t), &sp, s, report));
        return finish(&sp, s, out, report);
    }

    type_desc td;
    if (n == 1 && type_from_code(t[0], &td)) {
        spec sp = spec_from_type(td, prefix);
        return finish(&sp, s, out, report);
    }
    int64_t size = 0;
    if (n >= 2 && read_int(t + 1, n - 1, &size) == n - 1)
        return parse_kind_size(t, size, prefix, s, out, report);
    /* Names are looked up as written, prefix included, so "<float64" is no dtype. */
    if (type_from_name(s, &td)) {
        spec sp = spec_from_type(td, 0);
        return finish(&sp, s, out, report);
    }
    return reject(report, s, "is not a NumPy dtype");
}

/* ---------------------------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------------------------- */

/* The spellings NumPy's own dtype.str gives ("<f8", "|u1", "c16": a numeric kind with a one- or
 * two-digit size, optionally after a byte order) and the names of the table, resolved in a few
 * steps. parse() reaches the same type_from_kind_size() or type_from_name() result and the same
 * finish() for each of them (none is a datetime, a type code, a flexible size, or holds a comma
 * or a control character), so this only takes a shortcut; anything else, or any rejection, is
 * left to parse(). Each byte is read only if the one before it was not the NUL. */
static bool parse_common(const char *s, shma_dtype *out) {
    const char *t = is_order(s[0]) ? s + 1 : s;
    type_desc td;
    if (t[0] >= 'a' && t[0] <= 'z' && is_digit(t[1]) && (t[2] == '\0' || (is_digit(t[2]) && t[3] == '\0'))) {
        int size = t[2] == '\0' ? t[1] - '0' : (t[1] - '0') * 10 + (t[2] - '0');
        if (!type_from_kind_size(t[0], size, &td)) return false;
        spec sp = spec_from_type(td, t == s ? 0 : s[0]);
        return finish(&sp, s, out, false) == SHMA_OK;
    }
    if (t == s && type_from_name(s, &td)) {
        spec sp = spec_from_type(td, 0);
        return finish(&sp, s, out, false) == SHMA_OK;
    }
    return false;
}

/* The last few strings parsed successfully and their results, per thread: a program makes and
 * attaches its arrays with a handful of dtypes (and an attach parses two: the caller's and the
 * trailer's), so a repeated parse costs a comparison. Parsing is a pure function of the string,
 * so an entry is never stale, in any thread or after fork(). Strings of SHMA_DTYPE_STR_MAX
 * bytes or more are not remembered. */
#define MEMO_ENTRIES 4

static _Thread_local struct {
    struct {
        char in[SHMA_DTYPE_STR_MAX]; /* "" when empty: no dtype string is empty */
        shma_dtype out;
    } entry[MEMO_ENTRIES];
    unsigned next;
} memo;

static bool memo_find(const char *s, size_t len, shma_dtype *out) {
    for (int i = 0; i < MEMO_ENTRIES; i++)
        if (memo.entry[i].in[0] != '\0' && memcmp(memo.entry[i].in, s, len + 1) == 0) {
            *out = memo.entry[i].out;
            return true;
        }
    return false;
}

static void memo_add(const char *s, size_t len, const shma_dtype *d) {
    unsigned i = memo.next++ % MEMO_ENTRIES;
    memcpy(memo.entry[i].in, s, len + 1);
    memo.entry[i].out = *d;
}

/* parse() behind the memo and the common-spelling shortcut; report as parse(). */
static int parse_remembered(const char *s, shma_dtype *out, bool report) {
    size_t len = strnlen(s, SHMA_DTYPE_STR_MAX);
    bool memorable = len > 0 && len < SHMA_DTYPE_STR_MAX;
    if (memorable && memo_find(s, len, out)) return SHMA_OK;
    if (!parse_common(s, out)) SHMA_FORWARD(parse(s, out, report));
    if (memorable) memo_add(s, len, out);
    return SHMA_OK;
}

int shma_dtype_parse(const char *s, shma_dtype *out) {
    SHMA_FAIL_IF(s == NULL, SHMA_E_ARG, "dtype string is NULL");
    SHMA_FAIL_IF(out == NULL, SHMA_E_ARG, "dtype output pointer is NULL");
    shma_dtype d;
    SHMA_FORWARD(parse_remembered(s, &d, true));
    *out = d;
    return SHMA_OK;
}

int shma__dtype_lookup_fast(const char *s, shma_dtype *out) {
    if (s == NULL) return SHMA_E_DTYPE;
    return parse_remembered(s, out, false);
}
