/*
 * fuzz_helpers.h: what every fuzz target shares: an always-on FUZZ_ASSERT and a small data
 * producer that carves typed parameters out of the fuzzer's bytes (zstd's
 * tests/fuzz/fuzz_data_producer.h, simplified).
 *
 * The fuzz harness is the one place where abort() is right: libFuzzer (and ASan under the
 * regression driver) turns it into a reported crash with a stack trace and saves the input.
 * FUZZ_ASSERT is never compiled out, whatever NDEBUG says.
 */
#ifndef SHMA_FUZZ_HELPERS_H
#define SHMA_FUZZ_HELPERS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* libFuzzer's entry point, defined once per target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Assertions
 * ------------------------------------------------------------------------------------------- */

/* A target that holds an outside resource (the attach target's segment) registers a hook that
 * releases it; FUZZ_ASSERT runs it before abort(), so a failed assertion leaks nothing. */
static void (*fuzz_cleanup_hook)(void);

__attribute__((noreturn, format(printf, 4, 5))) static inline void fuzz_fail(const char *file, int line,
                                                                             const char *cond,
                                                                             const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "FUZZ_ASSERT failed at %s:%d: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  shma_last_error(): \"%s\"\n", shma_last_error());
    fflush(stderr);
    if (fuzz_cleanup_hook != NULL) fuzz_cleanup_hook();
    abort();
}

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, "%s", "");                               \
    } while (0)

/* As FUZZ_ASSERT, printing a printf-style explanation (both sides) on failure. */
#define FUZZ_ASSERT_MSG(cond, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                            \
    } while (0)

/* Asserts that two integers are equal, printing both. */
#define FUZZ_ASSERT_EQ(a, b)                                                                       \
    do {                                                                                           \
        long long fuzz_a_ = (long long)(a), fuzz_b_ = (long long)(b);                              \
        if (fuzz_a_ != fuzz_b_)                                                                    \
            fuzz_fail(__FILE__, __LINE__, #a " == " #b, "%lld != %lld", fuzz_a_, fuzz_b_);         \
    } while (0)

/* Empties the thread's detail message, so a later check can tell that a failing call set it. */
static inline void fuzz_clear_error(void) { (void)shma__fail(SHMA_OK, "%s", ""); }

/* Asserts that the call just made failed "cleanly": a known negative code and a non-empty
 * detail message. */
#define FUZZ_ASSERT_CLEAN_ERROR(rc)                                                                \
    do {                                                                                           \
        int fuzz_rc_ = (rc);                                                                       \
        FUZZ_ASSERT_MSG(fuzz_rc_ < 0 && strcmp(shma_errname(fuzz_rc_), "SHMA_E_UNKNOWN") != 0,     \
                        "unknown error code %d", fuzz_rc_);                                        \
        FUZZ_ASSERT_MSG(shma_last_error()[0] != '\0', "%s left no detail message",                 \
                        shma_errname(fuzz_rc_));                                                   \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Data producer
 *
 * Integers are taken from the end of the input and byte strings from the front, so a mutation
 * of a string's bytes does not shift every parameter after it. Once the input runs out every
 * request returns zeros or empty strings: any input is valid.
 * ------------------------------------------------------------------------------------------- */

typedef struct fuzz_producer {
    const uint8_t *data;
    size_t size;
} fuzz_producer;

static inline fuzz_producer fuzz_producer_make(const uint8_t *data, size_t size) {
    fuzz_producer p = {data, size};
    return p;
}

static inline size_t fuzz_remaining(const fuzz_producer *p) { return p->size; }

/* An unsigned integer of `nbytes` (1..8) bytes, little-endian, from the end of the input. */
static inline uint64_t fuzz_uint(fuzz_producer *p, int nbytes) {
    uint64_t v = 0;
    for (int i = 0; i < nbytes && p->size > 0; i++) {
        v |= (uint64_t)p->data[p->size - 1] << (8 * i);
        p->size--;
    }
    return v;
}

static inline uint8_t fuzz_u8(fuzz_producer *p) { return (uint8_t)fuzz_uint(p, 1); }
static inline uint32_t fuzz_u32(fuzz_producer *p) { return (uint32_t)fuzz_uint(p, 4); }
static inline uint64_t fuzz_u64(fuzz_producer *p) { return fuzz_uint(p, 8); }
static inline bool fuzz_bool(fuzz_producer *p) { return fuzz_u8(p) & 1; }

/* A value in [min, max], taking only as many bytes as the range needs. */
static inline uint64_t fuzz_range(fuzz_producer *p, uint64_t min, uint64_t max) {
    if (min >= max) return min;
    uint64_t span = max - min;
    int nbytes = 0;
    for (uint64_t s = span; s != 0; s >>= 8) nbytes++;
    uint64_t v = fuzz_uint(p, nbytes);
    return span == UINT64_MAX ? v : min + v % (span + 1);
}

/* An int64 shaped by a selector byte so that small values, edges and huge values all come
 * up often: the values where size arithmetic breaks. */
static inline int64_t fuzz_interesting_i64(fuzz_producer *p) {
    switch (fuzz_u8(p) % 8) {
    case 0: return (int64_t)fuzz_range(p, 0, 4);
    case 1: return (int64_t)fuzz_range(p, 0, 64);
    case 2: return (int64_t)fuzz_range(p, 0, 70000);
    case 3: return -(int64_t)fuzz_range(p, 0, 64);
    case 4: return INT64_MAX - (int64_t)fuzz_range(p, 0, 16);
    case 5: return INT64_MIN + (int64_t)fuzz_range(p, 0, 16);
    case 6: return (int64_t)1 << fuzz_range(p, 0, 62);
    default: return (int64_t)fuzz_u64(p);
    }
}

/* Up to `max` bytes from the front of the input (fewer if it runs out); *n gets the count. */
static inline const uint8_t *fuzz_bytes(fuzz_producer *p, size_t max, size_t *n) {
    size_t take = max < p->size ? max : p->size;
    const uint8_t *b = p->data;
    p->data += take;
    p->size -= take;
    *n = take;
    return b;
}

/* One string of `list` chosen by the input. */
static inline const char *fuzz_pick(fuzz_producer *p, const char *const *list, size_t count) {
    return list[fuzz_range(p, 0, count - 1)];
}

#define FUZZ_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif /* SHMA_FUZZ_HELPERS_H */
