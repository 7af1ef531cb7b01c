/*
 * internal.h: what the library's files share with each other (and with the tests and fuzzers,
 * which call the pure functions directly). Internal names start with `shma__`; nothing here is
 * exported from the shared library.
 */
#ifndef SHMA_INTERNAL_H
#define SHMA_INTERNAL_H

#include "shmanager.h"

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------------------------------------
 * Errors (error.c)
 * ------------------------------------------------------------------------------------------- */

/* Sets the calling thread's detail message from printf-style arguments and returns `code`, so
 * a failure site reads `return shma__fail(SHMA_E_SHAPE, "shape[%d] = %lld is negative", ...)`. */
int shma__fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As shma__fail(), appending ": <strerror(errnum)> (errno N)" to the message. */
int shma__fail_errno(int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Maps an errno to the library's code: ENOENT -> E_NOTFOUND, EEXIST -> E_EXISTS, ENOSPC and
 * EFBIG -> E_NOSPC, ENOMEM -> E_NOMEM, EACCES/EPERM -> E_PERM, ENAMETOOLONG/EINVAL -> E_NAME
 * (as shm_open reports them), anything else -> E_OS. */
int shma__code_from_errno(int errnum);

/* Propagation helpers in the spirit of zstd's RETURN_ERROR_IF / FORWARD_IF_ERROR. */
#define SHMA_FAIL_IF(cond, code, ...)                                                              \
    do {                                                                                           \
        if (cond) return shma__fail((code), __VA_ARGS__);                                          \
    } while (0)
#define SHMA_FORWARD(expr)                                                                         \
    do {                                                                                           \
        int shma_rc_ = (expr);                                                                     \
        if (shma_rc_ != SHMA_OK) return shma_rc_;                                                  \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * dtypes (dtype.c). The safe parser is the public shma_dtype_parse().
 * ------------------------------------------------------------------------------------------- */

/* The unsafe path's lookup: the same result as shma_dtype_parse() for the spellings it knows,
 * but it sets no detail message and may accept strings the safe parser rejects. Returns
 * SHMA_OK or SHMA_E_DTYPE. Must be cheap for the common spellings ("float64", "<f8", "f8"). */
int shma__dtype_lookup_fast(const char *s, shma_dtype *out);

/* ---------------------------------------------------------------------------------------------
 * Shapes and strides (shape.c). Pure functions.
 * ------------------------------------------------------------------------------------------- */

/* Validates ndim (0..SHMA_MAX_NDIM), shape (non-NULL when ndim > 0, every dim >= 0) and that
 * product(shape) * itemsize fits in int64 (so also in size_t and off_t), writing it to
 * *nbytes. Errors: SHMA_E_SHAPE (detail "ndim = 65 is out of range 0..64",
 * "shape[1] = -5 is negative"), SHMA_E_OVERFLOW ("shape (4294967296, 4294967296) x itemsize 8
 * overflows"), SHMA_E_ARG (shape NULL with ndim > 0). A zero dim gives nbytes 0 without an
 * overflow check of the other dims beyond each being >= 0 and <= INT64_MAX. */
int shma__shape_check(int ndim, const int64_t *shape, uint32_t itemsize, uint64_t *nbytes);

/* Writes shape as NumPy prints it, "(3, 4)", "(5,)" or "()", shortened around "..." when it
 * would not fit cap bytes (cap >= 64). */
void shma__format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

/* product(shape) * itemsize with no checks (the unsafe path). */
uint64_t shma__shape_nbytes(int ndim, const int64_t *shape, uint32_t itemsize);

/* Writes the C-contiguous strides (bytes) of shape/itemsize to strides[0..ndim). */
void shma__contiguous_strides(int ndim, const int64_t *shape, uint32_t itemsize, int64_t *strides);

/* Validates a source view for copy(): dtype itemsize >= 1, shape as shma__shape_check(), data
 * non-NULL unless the view is empty, strides non-NULL when ndim > 0, and that every element's
 * byte offset sum(i_k * strides[k]) and offset + itemsize fit in int64 and, added to the data
 * address, neither wraps. On success *lo and *hi are the lowest and one-past-highest byte
 * offsets from data that the view reaches (both 0 for an empty view), and *nbytes as above.
 * Errors: SHMA_E_ARG, SHMA_E_SHAPE, SHMA_E_OVERFLOW, SHMA_E_STRIDES. */
int shma__view_check(const shma_view *v, uint64_t *nbytes, int64_t *lo, int64_t *hi);

/* ---------------------------------------------------------------------------------------------
 * Segment names (name.c)
 * ------------------------------------------------------------------------------------------- */

/* Validates a user-supplied name and returns in *bare the name without its leading '/'
 * (pointing into `name`). Errors (SHMA_E_NAME unless said): NULL (SHMA_E_ARG), empty, "/"
 * alone, longer than SHMA_NAME_MAX after the '/', a '/' after the first character, "." or
 * "..", a control character (bytes < 0x20 or 0x7f). Bytes >= 0x80 are allowed (Linux accepts
 * them). Pure. */
int shma__name_check(const char *name, const char **bare);

/* As shma__name_check() for a buffer of `len` bytes that need not be NUL-terminated; a NUL
 * inside the buffer is an error ("name is not NUL-terminated" / "contains a NUL byte"). */
int shma__name_check_len(const char *buf, size_t len);

#define SHMA_RANDOM_NAME_LEN 29 /* "shma_" + 24 hex digits (96 random bits) */

/* Writes a fresh random name (SHMA_RANDOM_NAME_LEN chars + NUL) to buf, from getrandom(). */
int shma__name_random(char buf[SHMA_RANDOM_NAME_LEN + 1]);

/* ---------------------------------------------------------------------------------------------
 * Metadata trailer (trailer.c). Pure codec; layout in trailer.c.
 * ------------------------------------------------------------------------------------------- */

#define SHMA_TRAILER_SIZE 640u   /* bytes, a multiple of 64 */
#define SHMA_DATA_ALIGN 64u      /* the trailer starts at the data size rounded up to this */

typedef struct shma_meta {
    shma_dtype dtype;
    int ndim;
    int64_t shape[SHMA_MAX_NDIM];
    uint64_t data_bytes;
    int64_t creator_pid;
    uint64_t creator_start;
} shma_meta;

/* Size of a segment holding `data_bytes` of data and the trailer:
 * round_up(data_bytes, SHMA_DATA_ALIGN) + SHMA_TRAILER_SIZE. SHMA_E_OVERFLOW if it would not
 * fit in int64. */
int shma__segment_size(uint64_t data_bytes, uint64_t *segment_bytes);

/* Serialises *m into out[0..SHMA_TRAILER_SIZE) (little-endian fields, checksum last). */
void shma__trailer_encode(const shma_meta *m, unsigned char out[SHMA_TRAILER_SIZE]);

/* Decodes the trailer of a segment of `segment_bytes` bytes whose last SHMA_TRAILER_SIZE bytes
 * are `tail` (segment_bytes >= SHMA_TRAILER_SIZE). `tail` must be a private copy (the library
 * reads it with pread): in a mapping others write, a check could pass on one value and the
 * result hold another. Returns SHMA_E_NOMETA when the magic is absent (a foreign segment),
 * SHMA_E_CORRUPT (detail naming the check) when the magic is there but the checksum, version,
 * dtype, ndim, shape, byte count or placement is wrong, including shma__segment_size(data_bytes)
 * != segment_bytes. Everything read is untrusted. *out is written only on success. Pure. */
int shma__trailer_decode(const unsigned char *tail, uint64_t segment_bytes, shma_meta *out);

/* ---------------------------------------------------------------------------------------------
 * Strided copy (copy.c)
 * ------------------------------------------------------------------------------------------- */

/* How to gather a view in C order, worked out once: the view with size-1 dimensions dropped
 * and mergeable ones merged, and the method (memcpy, rows, or tiles for a transpose). */
typedef struct shma_copy_plan {
    const char *base;
    uint32_t itemsize;
    uint64_t nbytes;
    int kind;
    int ndim;
    int64_t row_elems; /* elements per row of the output: its innermost simplified dimension */
    int64_t tile;      /* rows gathered together: 64 / itemsize for a transpose, else 1 */
    int64_t phase;     /* rows before the first band that starts on a source cache line, < tile */
    int64_t shape[SHMA_MAX_NDIM];
    int64_t strides[SHMA_MAX_NDIM];
} shma_copy_plan;

/* Plans the copy of src (already validated; nbytes = product(shape) * itemsize). */
void shma__copy_plan(shma_copy_plan *p, const shma_view *src, uint64_t nbytes);

/* The source address when the output is the nbytes bytes there, unchanged; else NULL. */
const void *shma__copy_source_if_contiguous(const shma_copy_plan *p);

/* The output bytes worth gathering together: a whole row, or for a transpose as many rows as
 * one source cache line feeds. A range of whole units, starting shma__copy_phase() bytes plus a
 * multiple of the unit into the output, copies fastest. */
uint64_t shma__copy_unit(const shma_copy_plan *p);

/* Where the units start: 0, or for a transpose whose source is not 64-byte aligned (malloc's
 * 16 bytes, as NumPy's arrays have) the output bytes before the first band whose elements of
 * each column share one cache line. A band straddling two lines reads both, and the next band
 * reads the second again. */
uint64_t shma__copy_phase(const shma_copy_plan *p);

/* Writes output bytes [off, off + len) of the plan into dst[0..len). off and len are multiples
 * of the itemsize and off + len <= nbytes. Pure: reads the source, writes dst, nothing else. */
void shma__copy_range(const shma_copy_plan *p, uint64_t off, uint64_t len, void *dst);

/* Copies the elements of src (already validated, nbytes = product(shape) * itemsize) into the
 * C-contiguous buffer dst, in C order: shma__copy_range() of the whole output. */
void shma__copy_to_contiguous(void *dst, const shma_view *src, uint64_t nbytes);

/* ---------------------------------------------------------------------------------------------
 * Process identity (proc.c)
 * ------------------------------------------------------------------------------------------- */

/* This process's pid and start time (cached; recomputed after fork). 0 or an errno. */
int shma__self_identity(int64_t *pid, uint64_t *start);

/* Whether a process `pid` that started at `start` still runs (a reused pid with another start
 * time does not count). */
bool shma__process_alive(int64_t pid, uint64_t start);

/* Parses the start time (field 22) from the text of /proc/PID/stat, whose second field is the
 * command name in parentheses and may itself contain spaces and ')'. Pure. 0 or EINVAL. */
int shma__parse_proc_stat_start(const char *text, size_t len, uint64_t *start);

#endif /* SHMA_INTERNAL_H */
