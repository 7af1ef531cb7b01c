/*
 * shmanager.h: n-dimensional arrays shared between processes through POSIX shared memory.
 *
 * This header is the whole public interface of libshmanager. Every public name starts with
 * `shma_` (or `SHMA_` for macros); the library exports nothing else.
 *
 * Model. An array is one POSIX shared-memory segment (/dev/shm/NAME) holding C-contiguous
 * element data at offset 0, followed by a fixed-size metadata trailer (dtype, shape, creator).
 * Because the data starts at offset 0, any other reader (NumPy over Python's SharedMemory, say)
 * sees a plain buffer. Shapes, strides and dtypes follow NumPy: dtypes are NumPy dtype strings
 * ("float64", "<f8", "i4", ...), strides are in bytes and may be negative.
 *
 * Ownership. An array returned by an allocate or copy call is the segment's *owner*: closing it
 * unlinks the segment. Arrays returned by attach calls are *clients*: closing them only unmaps.
 * An owner array closed from a process other than the one that created it (a forked child)
 * behaves as a client, so a worker's exit or close can never remove the parent's data.
 *
 * Errors. Every call that can fail returns an int: SHMA_OK (0) on success, a negative
 * SHMA_E_* code otherwise; results come back through out-parameters, which are left untouched
 * on failure. shma_strerror() names the code's meaning; shma_last_error() gives the detail of
 * the calling thread's most recent failure ("shape[1] = -5 is negative"), including the OS
 * errno text where one was involved. The library never prints, never aborts, and never raises
 * a signal on bad input.
 *
 * Threads. Distinct arrays may be used from distinct threads without locking. One array may be
 * read (accessors, views) from many threads at once, but closing it must not race with any
 * other use of it. A manager is fully thread-safe.
 */
#ifndef SHMANAGER_H
#define SHMANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMA_BUILDING_LIBRARY)
#define SHMA_API __attribute__((visibility("default")))
#else
#define SHMA_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */

#define SHMA_VERSION_MAJOR 0
#define SHMA_VERSION_MINOR 1
#define SHMA_VERSION_PATCH 0
#define SHMA_VERSION_NUMBER (SHMA_VERSION_MAJOR * 10000 + SHMA_VERSION_MINOR * 100 + SHMA_VERSION_PATCH)

/* The library's version as "MAJOR.MINOR.PATCH": the one it was built as, which may differ from
 * the header a program was compiled against. Never fails; thread-safe. */
SHMA_API const char *shma_version(void);

/* ---------------------------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------------------------- */

#define SHMA_MAX_NDIM 64      /* ndim ranges over 0..SHMA_MAX_NDIM, as in NumPy */
#define SHMA_NAME_MAX 255     /* characters of a segment name, not counting a leading '/' */
#define SHMA_DTYPE_STR_MAX 16 /* bytes of a canonical dtype string, NUL included */
#define SHMA_HANDLE_MAX 2048  /* bytes of an encoded handle, NUL included */

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */

/* X(NAME, value, message): the single list the enum, shma_errname() and shma_strerror() are
 * generated from. */
#define SHMA_ERROR_MAP(X)                                                                       \
    X(OK, 0, "success")                                                                         \
    X(E_ARG, -1, "invalid argument")                                                            \
    X(E_DTYPE, -2, "invalid or unsupported dtype")                                              \
    X(E_SHAPE, -3, "invalid shape")                                                             \
    X(E_STRIDES, -4, "invalid strides")                                                         \
    X(E_OVERFLOW, -5, "array size overflows")                                                   \
    X(E_NAME, -6, "invalid segment name")                                                       \
    X(E_NOTFOUND, -7, "no shared-memory segment with that name")                                \
    X(E_EXISTS, -8, "a shared-memory segment with that name already exists")                    \
    X(E_SIZE, -9, "segment is too small for the requested shape and dtype")                     \
    X(E_MISMATCH, -10, "shape or dtype differs from the segment's metadata")                    \
    X(E_NOMETA, -11, "segment has no shmanager metadata")                                       \
    X(E_CORRUPT, -12, "segment metadata is corrupt")                                            \
    X(E_HANDLE, -13, "malformed handle")                                                        \
    X(E_NOSPC, -14, "no space left in shared memory")                                           \
    X(E_NOMEM, -15, "out of memory")                                                            \
    X(E_PERM, -16, "permission denied")                                                         \
    X(E_STATE, -17, "object not usable in this state or process")                               \
    X(E_BUFSIZE, -18, "output buffer too small")                                                \
    X(E_UNAVAILABLE, -19, "feature not available on this system")                               \
    X(E_OS, -20, "operating-system error")

typedef enum shma_error {
#define SHMA_ERROR_ENUM_(name, value, msg) SHMA_##name = value,
    SHMA_ERROR_MAP(SHMA_ERROR_ENUM_)
#undef SHMA_ERROR_ENUM_
} shma_error;

/* A fixed, static description of an error code ("invalid shape"); an unknown code gives
 * "unknown error". Never NULL; thread-safe. */
SHMA_API const char *shma_strerror(int err);

/* The code's name as written in this header ("SHMA_E_SHAPE"); "SHMA_E_UNKNOWN" if unknown.
 * Never NULL; thread-safe. */
SHMA_API const char *shma_errname(int err);

/* The detail message of the calling thread's most recent failed call, e.g.
 * "shape[1] = -5 is negative". Successful calls do not clear it. The string is thread-local
 * and valid until the thread's next failing call. Never NULL ("" if nothing failed yet). */
SHMA_API const char *shma_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * dtypes
 * ------------------------------------------------------------------------------------------- */

/* A parsed NumPy dtype. `str` is NumPy's canonical `dtype.str` ("<f8", "|b1", ">i2",
 * "<M8[ns]", "<U10"); `kind` is NumPy's `dtype.kind` ('b', 'i', 'u', 'f', 'c', 'S', 'U', 'V',
 * 'M', 'm'); `byteorder` is '<', '>' or '|'. Filled by shma_dtype_parse(). */
typedef struct shma_dtype {
    char str[SHMA_DTYPE_STR_MAX];
    char kind;
    char byteorder;
    uint32_t itemsize; /* bytes per element, >= 1 */
} shma_dtype;

/* Parses a dtype string as NumPy's np.dtype() would: names ("float64", "int", "double",
 * "bool", "complex128", "uint8", ...), type codes with optional byte order and size ("f8",
 * "<i4", ">u2", "|b1", "?", "d", "S10", "U3", "V16", "M8[ns]"). Types that hold Python objects
 * ('O'), structured dtypes ("i4,f8") and flexible types without a size ("S", "U0") are
 * rejected with SHMA_E_DTYPE. `s` must be NUL-terminated; NULL gives SHMA_E_ARG. Pure, no
 * I/O; thread-safe. */
SHMA_API int shma_dtype_parse(const char *s, shma_dtype *out);

/* ---------------------------------------------------------------------------------------------
 * Views
 * ------------------------------------------------------------------------------------------- */

/* A strided n-dimensional view, as NumPy's ndarray describes memory. A view obtained from
 * shma_view() points into the array object and stays valid until that array is closed. A
 * view passed to copy/allocate_like is the caller's: the library only reads it during the
 * call. `shape` and `strides` point to `ndim` values each (may be NULL when ndim == 0). */
typedef struct shma_view {
    void *data;
    int ndim;
    const int64_t *shape;
    const int64_t *strides; /* bytes; may be negative or zero */
    shma_dtype dtype;
} shma_view;

/* ---------------------------------------------------------------------------------------------
 * Managers
 * ------------------------------------------------------------------------------------------- */

typedef struct shma_manager shma_manager;

/* Manager flags (OR them). */
#define SHMA_MANAGER_NO_REAPER 0x1u /* don't start the crash reaper (see below) */

/* Creates a manager: the owner of every array allocated or copied through it, like Python's
 * SharedMemoryManager. Unless SHMA_MANAGER_NO_REAPER is given, it starts a reaper: a small
 * watchdog process that learns each segment's name before the segment is created and unlinks
 * whatever is still registered if this process dies without shutting the manager down (even
 * by SIGKILL). The reaper leaves the caller's process group, so a Ctrl-C to the job does not
 * kill it, and it is not the caller's child, so wait() in the caller never sees it.
 * Thread-safe. */
SHMA_API int shma_manager_create(uint32_t flags, shma_manager **out);

/* Shuts the manager down and frees it: unlinks every segment it still owns, stops its reaper
 * (waiting until the reaper has exited) and sets *mgr to NULL. Arrays of the manager still
 * open stay mapped and usable; they just no longer own their (now unlinked) segment. Called
 * from a forked child (a process other than the creator), it only frees the child's copy:
 * nothing is unlinked and the parent's reaper keeps running. NULL or *mgr == NULL is a no-op
 * returning SHMA_OK. Returns the first unlink error met, after trying all. */
SHMA_API int shma_manager_shutdown(shma_manager **mgr);

/* Number of segments the manager currently owns; 0 for NULL. Thread-safe. */
SHMA_API size_t shma_manager_count(const shma_manager *mgr);

/* The reaper's process id, or 0 when the manager has none. */
SHMA_API int shma_manager_reaper_pid(const shma_manager *mgr);

/* void f(shma_manager **) for the cleanup attribute; ignores the result. */
SHMA_API void shma_manager_shutdownp(shma_manager **mgr);

/* Declares a manager pointer shut down when it goes out of scope:
 *     SHMA_SCOPED_MANAGER mgr = NULL;  shma_manager_create(0, &mgr); */
#define SHMA_SCOPED_MANAGER __attribute__((cleanup(shma_manager_shutdownp))) shma_manager *

/* ---------------------------------------------------------------------------------------------
 * Arrays: creating
 * ------------------------------------------------------------------------------------------- */

typedef struct shma_array shma_array;

/* Allocation flags (OR them) for shma_allocate_ex(). */
#define SHMA_ALLOC_HUGEPAGES 0x1u /* ask for transparent huge pages on the mapping; SHMA_E_UNAVAILABLE where shmem THP is off */
#define SHMA_ALLOC_POPULATE 0x2u  /* fault every page in up front (MAP_POPULATE) */

typedef struct shma_alloc_opts {
    const char *name; /* NULL: a fresh random name; else this name (SHMA_E_EXISTS if taken) */
    uint32_t flags;   /* SHMA_ALLOC_* */
} shma_alloc_opts;

/* Creates a new zero-filled array of `ndim` dimensions `shape` and dtype `dtype` in a fresh
 * segment with an unguessable random name, mode 0600, memory reserved up front (so a full
 * /dev/shm is SHMA_E_NOSPC here, never SIGBUS later). The array is the owner. `mgr` may be
 * NULL: the array then owns its segment alone and a crash leaks it. On any failure nothing is
 * left in /dev/shm. Thread-safe. */
SHMA_API int shma_allocate(shma_manager *mgr, int ndim, const int64_t *shape, const char *dtype,
                           shma_array **out);

/* shma_allocate() with options; opts may be NULL (same as shma_allocate()). */
SHMA_API int shma_allocate_ex(shma_manager *mgr, int ndim, const int64_t *shape, const char *dtype,
                              const shma_alloc_opts *opts, shma_array **out);

/* Allocates an array of the shape and dtype of `like` (its data and strides are ignored). */
SHMA_API int shma_allocate_like(shma_manager *mgr, const shma_view *like, shma_array **out);

/* Allocates an array of the shape and dtype of `src` and fills it with a C-contiguous copy of
 * src's elements. src may be any strided view: sliced with steps, transposed, with negative or
 * zero strides, or empty. The strides are checked so that no address computation overflows;
 * the caller vouches that every element they reach is readable (a contiguous source that is not
 * is SHMA_E_ARG, a strided one faults as any read of it would). Copies of 4 MiB or more run on
 * the calling thread and one more, created and joined within the call; nothing keeps running
 * after it returns. Thread-safe. */
SHMA_API int shma_copy(shma_manager *mgr, const shma_view *src, shma_array **out);

/* ---------------------------------------------------------------------------------------------
 * Arrays: attaching
 * ------------------------------------------------------------------------------------------- */

/* Maps an existing segment as a client array of the given shape and dtype. `name` is taken
 * with or without its leading '/' (Python's SharedMemory names, "psm_1a2b3c4d", work as
 * they are). If the segment carries shmanager metadata, shape and dtype must equal it
 * (SHMA_E_MISMATCH names both); otherwise the segment must hold at least shape x itemsize
 * bytes (SHMA_E_SIZE). A missing segment is SHMA_E_NOTFOUND. Thread-safe. */
SHMA_API int shma_attach(const char *name, int ndim, const int64_t *shape, const char *dtype,
                         shma_array **out);

/* Maps an existing segment made by this library, taking shape and dtype from its metadata.
 * A segment without metadata is SHMA_E_NOMETA; damaged metadata SHMA_E_CORRUPT. */
SHMA_API int shma_attach_name(const char *name, shma_array **out);

/* Maps the array a handle (see shma_handle_encode) names; checks as shma_attach(). `len` is
 * the handle's length in bytes; a trailing NUL or newline is allowed. */
SHMA_API int shma_attach_handle(const char *handle, size_t len, shma_array **out);

/* ---------------------------------------------------------------------------------------------
 * Arrays: the unsafe variants
 *
 * The same calls without validation, for callers that have validated their inputs
 * themselves: shapes are not checked for negatives or overflow, names are not checked, dtypes
 * are looked up without error details, a client's shape and dtype are not compared with the
 * segment's metadata, and copy sources are not checked. Wrong inputs are undefined behaviour
 * (a crash, a SIGBUS, or silently wrong data). OS failures are still reported.
 * ------------------------------------------------------------------------------------------- */

SHMA_API int shma_allocate_unsafe(shma_manager *mgr, int ndim, const int64_t *shape,
                                  const char *dtype, shma_array **out);
SHMA_API int shma_allocate_like_unsafe(shma_manager *mgr, const shma_view *like, shma_array **out);
SHMA_API int shma_copy_unsafe(shma_manager *mgr, const shma_view *src, shma_array **out);
SHMA_API int shma_attach_unsafe(const char *name, int ndim, const int64_t *shape, const char *dtype,
                                shma_array **out);

/* ---------------------------------------------------------------------------------------------
 * Arrays: using and closing
 * ------------------------------------------------------------------------------------------- */

/* Fills *out with a C-contiguous view of the array's data: O(1), no copy. The view stays valid
 * until the array is closed. NULL arguments are SHMA_E_ARG. */
SHMA_API int shma_view_of(const shma_array *arr, shma_view *out);

/* Accessors. `arr` must be a live array (not NULL). Pointers returned point into the array
 * and stay valid until it is closed. */
SHMA_API const char *shma_name(const shma_array *arr);      /* without the leading '/' */
SHMA_API int shma_ndim(const shma_array *arr);
SHMA_API const int64_t *shma_shape(const shma_array *arr);  /* ndim values */
SHMA_API const char *shma_dtype_str(const shma_array *arr); /* canonical, e.g. "<f8" */
SHMA_API size_t shma_nbytes(const shma_array *arr);         /* data bytes, product(shape) x itemsize */
SHMA_API bool shma_is_owner(const shma_array *arr);
SHMA_API void *shma_data(const shma_array *arr);

/* Closes the array and frees it: unmaps the data, unlinks the segment if the array is its
 * owner and this is the creating process, and sets *arr to NULL, so calling it again is a
 * no-op. NULL or *arr == NULL returns SHMA_OK. The object is always freed; the result reports
 * an unlink failure other than "already gone". */
SHMA_API int shma_close(shma_array **arr);

/* Gives up ownership: the array stays mapped and usable, but closing it will not unlink its
 * segment, and its manager (if any) forgets it, so neither shutdown nor the reaper removes
 * it. For leaving a segment in place on purpose, for processes that come later; something
 * else must remove it then (shma_unlink(), `shmanager rm`, or `shmanager gc` once its creator
 * has exited). SHMA_E_STATE for a client array or in a process other than the creator. */
SHMA_API int shma_disown(shma_array *arr);

/* void f(shma_array **) for the cleanup attribute; ignores the result. */
SHMA_API void shma_closep(shma_array **arr);

/* Declares an array pointer closed when it goes out of scope (the seed's `managed()`):
 *     SHMA_SCOPED_ARRAY a = NULL;  shma_allocate(mgr, 2, shape, "float64", &a); */
#define SHMA_SCOPED_ARRAY __attribute__((cleanup(shma_closep))) shma_array *

/* ---------------------------------------------------------------------------------------------
 * Handles
 *
 * A handle names an array (segment name, dtype, shape) in a short printable string that can be
 * sent through a pipe, a socket or a file and attached from in another process: what pickling
 * a SharedArray does in Python. Format, one canonical spelling per array:
 *     shma1;DTYPE;D0,D1,...;NAME      e.g. "shma1;<f8;1000,1000;shma_6f1c0e9a2b4d7c3e5a1f"
 * (a 0-d array has an empty shape field). Decoding accepts only that canonical spelling, so
 * decode then encode gives back the same bytes.
 * ------------------------------------------------------------------------------------------- */

typedef struct shma_handle {
    char name[SHMA_NAME_MAX + 1]; /* without the leading '/' */
    shma_dtype dtype;
    int ndim;
    int64_t shape[SHMA_MAX_NDIM];
} shma_handle;

/* Writes the handle of `arr` to buf (NUL-terminated) and its length, NUL excluded, to *len
 * (len may be NULL). SHMA_E_BUFSIZE if cap is too small; SHMA_HANDLE_MAX always suffices. */
SHMA_API int shma_handle_encode(const shma_array *arr, char *buf, size_t cap, size_t *len);

/* Writes the canonical spelling of *h to buf, as shma_handle_encode(). Validates *h. */
SHMA_API int shma_handle_format(const shma_handle *h, char *buf, size_t cap, size_t *len);

/* Parses `len` bytes (need not be NUL-terminated; one trailing NUL or '\n' is allowed) into
 * *out, validating every field: SHMA_E_HANDLE for a malformed handle, with a detail naming the
 * field. Pure, no I/O; thread-safe. */
SHMA_API int shma_handle_decode(const char *buf, size_t len, shma_handle *out);

/* ---------------------------------------------------------------------------------------------
 * Inspecting segments
 * ------------------------------------------------------------------------------------------- */

typedef struct shma_info {
    char name[SHMA_NAME_MAX + 1];
    uint64_t segment_bytes; /* size of the whole segment */
    bool has_meta;          /* false: a foreign segment (no shmanager trailer); fields below are 0 */
    shma_dtype dtype;
    int ndim;
    int64_t shape[SHMA_MAX_NDIM];
    uint64_t data_bytes;
    int64_t creator_pid;
    uint64_t creator_start; /* creator's start time, clock ticks after boot (/proc/PID/stat field 22) */
    bool creator_alive;     /* that pid exists and started at that time */
} shma_info;

/* Reads a segment's size and metadata: opens it read-only and reads only its trailer (no
 * mapping, so read permission suffices). A segment whose trailer has the right magic but
 * fails a check is SHMA_E_CORRUPT (with has_meta false in *out, name and size filled).
 * Thread-safe. */
SHMA_API int shma_inspect(const char *name, shma_info *out);

/* Unlinks a segment by name (with or without '/'). SHMA_E_NOTFOUND if it is not there. */
SHMA_API int shma_unlink(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SHMANAGER_H */
