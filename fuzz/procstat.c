/*
 * fuzz/procstat.c: shma__parse_proc_stat_start, the parser of /proc/PID/stat's start time
 * (field 22), on arbitrary text and on stat lines with hostile command names.
 *
 * The command name (field 2) is chosen by whoever names the process, so it is untrusted: it
 * may hold spaces, parentheses and ')' followed by digits that look like fields.
 *
 * Properties:
 *  - Raw mode: the parser accepts exactly what an independent model of proc(5) accepts (after
 *    the last ')', fields separated by one space each, non-empty, field 3 one character,
 *    field 22 all digits, ended by a space, a newline or the end, and <= UINT64_MAX) and
 *    returns the same value. The text buffer is exactly `len` bytes: no NUL to lean on.
 *  - Synthesized mode: "PID (COMM) S f4 ... f21 START f23 ...\n" with a fuzzer-chosen COMM
 *    (any bytes but NUL and '\n') parses to START.
 */
#include "fuzz_helpers.h"

#include <errno.h>

#define TEXT_MAX 1024

/* The model: split what follows the last ')' on single spaces, read field 22. */
static bool model_parse(const char *text, size_t len, uint64_t *start) {
    size_t close = len;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == ')') {
            close = i - 1;
            break;
        }
    if (close == len) return false;
    size_t pos = close + 1;
    size_t tok_start = 0, tok_len = 0;
    for (int field = 3; field <= 22; field++) {
        if (pos >= len || text[pos] != ' ') return false;
        pos++;
        tok_start = pos;
        while (pos < len && text[pos] != ' ' && text[pos] != '\n') pos++;
        tok_len = pos - tok_start;
        if (tok_len == 0) return false;
        if (field == 3 && tok_len != 1) return false;
    }
    unsigned __int128 v = 0;
    for (size_t i = 0; i < tok_len; i++) {
        char c = text[tok_start + i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (unsigned)(c - '0');
        if (v > UINT64_MAX) return false;
    }
    *start = (uint64_t)v;
    return true;
}

static void raw_mode(fuzz_producer *p) {
    size_t n;
    const uint8_t *bytes = fuzz_bytes(p, TEXT_MAX, &n);
    char *text = malloc(n > 0 ? n : 1);
    FUZZ_ASSERT(text != NULL);
    if (n > 0) memcpy(text, bytes, n);
    uint64_t want = 0, got = 0x5a5a5a5a;
    bool ok = model_parse(text, n, &want);
    int rc = shma__parse_proc_stat_start(text, n, &got);
    FUZZ_ASSERT_MSG(rc == 0 || rc == EINVAL, "returned %d", rc);
    FUZZ_ASSERT_MSG((rc == 0) == ok, "parser says %d, model says %s", rc, ok ? "ok" : "invalid");
    if (ok) FUZZ_ASSERT_MSG(got == want, "start %llu, model %llu", (unsigned long long)got, (unsigned long long)want);
    else FUZZ_ASSERT(got == 0x5a5a5a5a);
    free(text);
}

static void synthesized_mode(fuzz_producer *p) {
    uint64_t start = fuzz_bool(p) ? fuzz_u64(p) : fuzz_range(p, 0, 100000);
    char state = "RSDZTtWXIP"[fuzz_range(p, 0, 9)];
    size_t comm_len;
    const uint8_t *comm = fuzz_bytes(p, 64, &comm_len);

    char line[TEXT_MAX];
    int n = snprintf(line, sizeof line, "%d (", 4242);
    for (size_t i = 0; i < comm_len; i++) {
        /* The kernel never writes a NUL or newline in comm. */
        char c = comm[i] == '\0' || comm[i] == '\n' ? '_' : (char)comm[i];
        line[n++] = c;
    }
    n += snprintf(line + n, sizeof line - (size_t)n,
                  ") %c 1 4242 4242 0 -1 4194560 123 0 0 0 5 3 0 0 20 0 1 0 %llu 123456 789 "
                  "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                  state, (unsigned long long)start);
    /* Exactly n bytes, no terminator. */
    char *text = malloc((size_t)n);
    FUZZ_ASSERT(text != NULL);
    memcpy(text, line, (size_t)n);
    uint64_t got = 0;
    int rc = shma__parse_proc_stat_start(text, (size_t)n, &got);
    FUZZ_ASSERT_MSG(rc == 0, "a well-formed stat line with comm of %zu bytes: %d", comm_len, rc);
    FUZZ_ASSERT_MSG(got == start, "start %llu, wrote %llu", (unsigned long long)got, (unsigned long long)start);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_producer p = fuzz_producer_make(data, size);
    if (fuzz_u8(&p) & 1) synthesized_mode(&p);
    else raw_mode(&p);
    return 0;
}
