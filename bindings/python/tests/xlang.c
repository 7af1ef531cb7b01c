/*
 * xlang.c: the C side of the Python binding's cross-language checks (tests/test_xlang.py).
 *
 *   xlang create DTYPE SHAPE SEED     allocates an array, fills it with the seeded pattern, prints
 *                                     "HANDLE CHECKSUM" on one line, then waits for stdin to reach
 *                                     EOF before closing (unlinking) it: the Python side attaches
 *                                     meanwhile, and closing the pipe is the only synchronisation.
 *   xlang verify-handle HANDLE SEED   attaches by handle, checks every element against the pattern
 *   xlang verify-name NAME SEED       attaches by name alone (shape and dtype from the trailer)
 *   xlang verify-raw NAME DTYPE SHAPE SEED
 *                                     attaches a segment without metadata (Python's SharedMemory)
 *   xlang fill-raw NAME DTYPE SHAPE SEED
 *                                     attaches such a segment and writes the pattern into it
 *
 * The verify modes print "CHECKSUM" and exit 0 when every element matches, 1 on a mismatch and 2
 * on a usage or library error (message on stderr). SHAPE is "D0,D1,..." ("" for 0-d).
 *
 * Pattern: element i (in C order) holds v(i) = (i * 2654435761 + SEED) mod 1000003, stored as
 * v/8 for floats (exact in binary) and v - 500000 for signed integers, v mod 256 for u1; byte order
 * as the dtype says. Checksum: sum over data bytes b[j] of (j + 1) * b[j], modulo 2^64: position
 * dependent, and a one-liner in NumPy.
 */
#include "shmanager.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t pattern(uint64_t i, uint64_t seed) { return (i * 2654435761u + seed) % 1000003u; }

static uint64_t checksum(const unsigned char *p, size_t n) {
    uint64_t sum = 0;
    for (size_t j = 0; j < n; j++) sum += (uint64_t)(j + 1) * p[j];
    return sum;
}

/* Writes the `n` bytes of host-order value `src` into dst in the dtype's byte order. */
static void put(unsigned char *dst, const void *src, size_t n, char byteorder) {
    const uint16_t one = 1;
    char host = *(const unsigned char *)&one == 1 ? '<' : '>';
    bool swap = (byteorder == '<' || byteorder == '>') && byteorder != host;
    const unsigned char *s = src;
    for (size_t k = 0; k < n; k++) dst[k] = swap ? s[n - 1 - k] : s[k];
}

/* Encodes element i of the pattern in dtype dt into out[0..itemsize). 0, or -1 if the dtype is
 * not one the pattern covers. */
static int element(const shma_dtype *dt, uint64_t i, uint64_t seed, unsigned char *out) {
    uint64_t v = pattern(i, seed);
    if (dt->kind == 'f' && dt->itemsize == 8) {
        double d = (double)v / 8.0;
        put(out, &d, 8, dt->byteorder);
    } else if (dt->kind == 'f' && dt->itemsize == 4) {
        float f = (float)v / 8.0f; /* v < 2^20 and /8: exact in float too */
        put(out, &f, 4, dt->byteorder);
    } else if (dt->kind == 'i' && dt->itemsize == 4) {
        int32_t x = (int32_t)v - 500000;
        put(out, &x, 4, dt->byteorder);
    } else if (dt->kind == 'i' && dt->itemsize == 8) {
        int64_t x = (int64_t)v - 500000;
        put(out, &x, 8, dt->byteorder);
    } else if (dt->kind == 'u' && dt->itemsize == 1) {
        out[0] = (unsigned char)(v % 256);
    } else {
        return -1;
    }
    return 0;
}

static int parse_shape(const char *s, int *ndim, int64_t *shape) {
    *ndim = 0;
    if (*s == '\0') return 0;
    for (;;) {
        char *end;
        if (*ndim == SHMA_MAX_NDIM) return -1;
        shape[(*ndim)++] = strtoll(s, &end, 10);
        if (end == s) return -1;
        if (*end == '\0') return 0;
        if (*end != ',') return -1;
        s = end + 1;
    }
}

static int lib_error(const char *what, int rc) {
    fprintf(stderr, "xlang: %s: %s: %s\n", what, shma_errname(rc), shma_last_error());
    return 2;
}

/* Compares the array's data with the pattern; prints the checksum. */
static int verify(shma_array *arr, uint64_t seed) {
    shma_view v;
    shma_view_of(arr, &v);
    size_t n = shma_nbytes(arr), item = v.dtype.itemsize;
    const unsigned char *data = v.data;
    unsigned char want[16];
    int bad = 0;
    for (size_t i = 0; i * item < n; i++) {
        if (element(&v.dtype, i, seed, want) != 0) {
            fprintf(stderr, "xlang: dtype %s not covered by the pattern\n", v.dtype.str);
            shma_close(&arr);
            return 2;
        }
        if (memcmp(want, data + i * item, item) != 0) {
            if (bad++ < 5) fprintf(stderr, "xlang: element %zu differs from the pattern\n", i);
        }
    }
    printf("%" PRIu64 "\n", checksum(data, n));
    shma_close(&arr);
    return bad ? 1 : 0;
}

static int fill(shma_array *arr, uint64_t seed) {
    shma_view v;
    shma_view_of(arr, &v);
    size_t n = shma_nbytes(arr), item = v.dtype.itemsize;
    for (size_t i = 0; i * item < n; i++) {
        if (element(&v.dtype, i, seed, (unsigned char *)v.data + i * item) != 0) {
            fprintf(stderr, "xlang: dtype %s not covered by the pattern\n", v.dtype.str);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) goto usage;
    const char *mode = argv[1];
    int64_t shape[SHMA_MAX_NDIM];
    int ndim;
    shma_array *arr = NULL;
    int rc;

    if (strcmp(mode, "create") == 0 && argc == 5) {
        if (parse_shape(argv[3], &ndim, shape) != 0) goto usage;
        uint64_t seed = strtoull(argv[4], NULL, 10);
        if ((rc = shma_allocate(NULL, ndim, shape, argv[2], &arr)) != SHMA_OK) return lib_error("allocate", rc);
        if ((rc = fill(arr, seed)) != 0) {
            shma_close(&arr);
            return rc;
        }
        char handle[SHMA_HANDLE_MAX];
        if ((rc = shma_handle_encode(arr, handle, sizeof handle, NULL)) != SHMA_OK) return lib_error("handle", rc);
        printf("%s %" PRIu64 "\n", handle, checksum(shma_data(arr), shma_nbytes(arr)));
        fflush(stdout);
        while (getchar() != EOF) {
        }
        rc = shma_close(&arr);
        return rc == SHMA_OK ? 0 : lib_error("close", rc);
    }
    if (strcmp(mode, "verify-handle") == 0 && argc == 4) {
        if ((rc = shma_attach_handle(argv[2], strlen(argv[2]), &arr)) != SHMA_OK) return lib_error("attach_handle", rc);
        return verify(arr, strtoull(argv[3], NULL, 10));
    }
    if (strcmp(mode, "verify-name") == 0 && argc == 4) {
        if ((rc = shma_attach_name(argv[2], &arr)) != SHMA_OK) return lib_error("attach_name", rc);
        return verify(arr, strtoull(argv[3], NULL, 10));
    }
    if ((strcmp(mode, "verify-raw") == 0 || strcmp(mode, "fill-raw") == 0) && argc == 6) {
        if (parse_shape(argv[4], &ndim, shape) != 0) goto usage;
        if ((rc = shma_attach(argv[2], ndim, shape, argv[3], &arr)) != SHMA_OK) return lib_error("attach", rc);
        uint64_t seed = strtoull(argv[5], NULL, 10);
        if (mode[0] == 'v') return verify(arr, seed);
        rc = fill(arr, seed);
        shma_close(&arr);
        return rc;
    }
usage:
    fprintf(stderr, "usage: xlang create DTYPE SHAPE SEED | verify-handle HANDLE SEED | verify-name NAME SEED |\n"
                    "       verify-raw NAME DTYPE SHAPE SEED | fill-raw NAME DTYPE SHAPE SEED\n");
    return 2;
}
