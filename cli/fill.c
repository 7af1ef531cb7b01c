/*
 * fill.c: the seeded test fill of `create` and `verify`, and the data checksum.
 *
 * The fill is defined so that any language with 64-bit unsigned arithmetic, NumPy included,
 * can reproduce it element by element, and so that every value is exact in its dtype (no
 * rounding, no NaN), which lets a binding compare values as well as bytes:
 *
 *   r(k) = splitmix64 output k (k = 0, 1, ...) for seed s:
 *            z = s + (k + 1) * 0x9e3779b97f4a7c15        (mod 2^64)
 *            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *            z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *            r = z ^ (z >> 31)
 *   element i (C order) of a dtype of kind
 *     b        r(i) & 1
 *     i u M m  the low 8 x itemsize bits of r(i), two's complement for signed kinds
 *     f2       (r(i) >> 53) * 2^-11     f4  (r(i) >> 40) * 2^-24     f8  (r(i) >> 11) * 2^-53
 *     c8, c16  real part from r(2i), imaginary part from r(2i+1), each by the f4 / f8 rule
 *   stored in the dtype's byte order. Other dtypes (S, U, V, float128, complex256) have no fill.
 *
 * r(k) is splitmix64's k-th output (Steele, Lea and Flood, "Fast splittable pseudorandom number
 * generators", 2014, as in Vigna's splitmix64.c) written as a function of k, which is what makes
 * it vectorisable in NumPy.
 */
#include "cli.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Checksum
 * ------------------------------------------------------------------------------------------- */

uint64_t cli_fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* ---------------------------------------------------------------------------------------------
 * Fill
 * ------------------------------------------------------------------------------------------- */

static uint64_t splitmix64_at(uint64_t seed, uint64_t k) {
    uint64_t z = seed + (k + 1) * UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The IEEE 754 binary16 bits of k * 2^-11 for k < 2^11: exact, and always a normal number
 * (the smallest non-zero value, 2^-11, is above binary16's smallest normal, 2^-14). */
static uint16_t half_bits(uint64_t k) {
    if (k == 0) return 0;
    int msb = 63 - __builtin_clzll(k); /* 0..10 */
    uint16_t exponent = (uint16_t)(msb - 11 + 15);
    uint16_t mantissa = (uint16_t)((k << (10 - msb)) & 0x3ff);
    return (uint16_t)(exponent << 10 | mantissa);
}

/* The bit pattern of the float rule for a component of `size` bytes (2, 4 or 8). */
static uint64_t float_bits(uint64_t r, uint32_t size) {
    if (size == 2) return half_bits(r >> 53);
    if (size == 4) {
        float v = (float)(r >> 40) * 0x1p-24f;
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        return bits;
    }
    double v = (double)(r >> 11) * 0x1p-53;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

/* Stores the low `size` bytes of v at out in byte order '<', '>' or '|' (one byte). */
static void store(unsigned char *out, uint64_t v, uint32_t size, char byteorder) {
    for (uint32_t i = 0; i < size; i++) {
        unsigned char b = (unsigned char)(v >> (8 * i));
        out[byteorder == '>' ? size - 1 - i : i] = b;
    }
}

bool cli_fill_supported(const shma_dtype *dt, char *why, size_t why_cap) {
    uint32_t n = dt->itemsize;
    bool ok;
    switch (dt->kind) {
    case 'b': ok = n == 1; break;
    case 'i':
    case 'u':
    case 'M':
    case 'm': ok = n == 1 || n == 2 || n == 4 || n == 8; break;
    case 'f': ok = n == 2 || n == 4 || n == 8; break;
    case 'c': ok = n == 8 || n == 16; break;
    default: ok = false;
    }
    if (!ok)
        snprintf(why, why_cap, "dtype %s has no test fill: use a bool, integer, datetime, float16/32/64 or "
                 "complex64/128 dtype", dt->str);
    return ok;
}

void cli_fill_element(const shma_dtype *dt, uint64_t seed, uint64_t index, unsigned char *out) {
    uint32_t n = dt->itemsize;
    switch (dt->kind) {
    case 'b':
        out[0] = (unsigned char)(splitmix64_at(seed, index) & 1);
        break;
    case 'f':
        store(out, float_bits(splitmix64_at(seed, index), n), n, dt->byteorder);
        break;
    case 'c':
        /* Each part is stored in the dtype's byte order, real part first, as NumPy does. */
        store(out, float_bits(splitmix64_at(seed, 2 * index), n / 2), n / 2, dt->byteorder);
        store(out + n / 2, float_bits(splitmix64_at(seed, 2 * index + 1), n / 2), n / 2, dt->byteorder);
        break;
    default: /* i, u, M, m */
        store(out, splitmix64_at(seed, index), n, dt->byteorder);
        break;
    }
}

void cli_fill(void *data, const shma_dtype *dt, uint64_t nelems, uint64_t seed) {
    unsigned char *p = data;
    for (uint64_t i = 0; i < nelems; i++, p += dt->itemsize) cli_fill_element(dt, seed, i, p);
}
