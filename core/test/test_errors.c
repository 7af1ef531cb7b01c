/* test_errors.c: error codes and messages (error.c), the thread-local detail message, the
 * errno mapping, the version (version.c), and a sweep of NULL arguments across the API. */
#include "segutil.h"

#include "internal.h"

#include <limits.h>
#include <pthread.h>

/* The codes as the header documents them, written out independently of SHMA_ERROR_MAP. */
static const struct {
    int code;
    const char *name;
} CODES[] = {
    {SHMA_OK, "SHMA_OK"},
    {SHMA_E_ARG, "SHMA_E_ARG"},
    {SHMA_E_DTYPE, "SHMA_E_DTYPE"},
    {SHMA_E_SHAPE, "SHMA_E_SHAPE"},
    {SHMA_E_STRIDES, "SHMA_E_STRIDES"},
    {SHMA_E_OVERFLOW, "SHMA_E_OVERFLOW"},
    {SHMA_E_NAME, "SHMA_E_NAME"},
    {SHMA_E_NOTFOUND, "SHMA_E_NOTFOUND"},
    {SHMA_E_EXISTS, "SHMA_E_EXISTS"},
    {SHMA_E_SIZE, "SHMA_E_SIZE"},
    {SHMA_E_MISMATCH, "SHMA_E_MISMATCH"},
    {SHMA_E_NOMETA, "SHMA_E_NOMETA"},
    {SHMA_E_CORRUPT, "SHMA_E_CORRUPT"},
    {SHMA_E_HANDLE, "SHMA_E_HANDLE"},
    {SHMA_E_NOSPC, "SHMA_E_NOSPC"},
    {SHMA_E_NOMEM, "SHMA_E_NOMEM"},
    {SHMA_E_PERM, "SHMA_E_PERM"},
    {SHMA_E_STATE, "SHMA_E_STATE"},
    {SHMA_E_BUFSIZE, "SHMA_E_BUFSIZE"},
    {SHMA_E_UNAVAILABLE, "SHMA_E_UNAVAILABLE"},
    {SHMA_E_OS, "SHMA_E_OS"},
};
#define NCODES (int)(sizeof CODES / sizeof CODES[0])

static void test_codes_names_messages(void **state) {
    (void)state;
    for (int i = 0; i < NCODES; i++) {
        assert_int_equal(CODES[i].code, -i); /* 0, -1, ..., -20: contiguous */
        assert_string_equal(shma_errname(CODES[i].code), CODES[i].name);
        const char *msg = shma_strerror(CODES[i].code);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(msg, "unknown error");
        for (int j = 0; j < i; j++) assert_string_not_equal(msg, shma_strerror(CODES[j].code));
    }
    assert_string_equal(shma_strerror(SHMA_OK), "success");
    assert_string_equal(shma_strerror(SHMA_E_SHAPE), "invalid shape");
    assert_string_equal(shma_strerror(SHMA_E_NOTFOUND), "no shared-memory segment with that name");

    /* every entry of the one X-macro list reaches both functions */
    int seen = 0;
#define CHECK_ENTRY(name, value, msg)                                                              \
    assert_string_equal(shma_strerror(value), msg);                                               \
    assert_string_equal(shma_errname(value), "SHMA_" #name);                                       \
    seen++;
    SHMA_ERROR_MAP(CHECK_ENTRY)
#undef CHECK_ENTRY
    assert_int_equal(seen, NCODES);
}

static void test_unknown_codes(void **state) {
    (void)state;
    const int unknown[] = {1, 2, -21, -100, 1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(shma_strerror(unknown[i]), "unknown error");
        assert_string_equal(shma_errname(unknown[i]), "SHMA_E_UNKNOWN");
    }
}

static void test_version(void **state) {
    (void)state;
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", SHMA_VERSION_MAJOR, SHMA_VERSION_MINOR, SHMA_VERSION_PATCH);
    assert_non_null(shma_version());
    assert_string_equal(shma_version(), expect);
    assert_int_equal(SHMA_VERSION_NUMBER,
                     SHMA_VERSION_MAJOR * 10000 + SHMA_VERSION_MINOR * 100 + SHMA_VERSION_PATCH);
    assert_ptr_equal(shma_version(), shma_version()); /* static, never freed */
}

/* ---------------------------------------------------------------------------------------------
 * The detail message
 * ------------------------------------------------------------------------------------------- */

static void test_last_error_kept_across_success(void **state) {
    (void)state;
    shma_array *a = NULL;
    assert_int_equal(shma_allocate(NULL, 1, (const int64_t[]){-5}, "f8", &a), SHMA_E_SHAPE);
    assert_string_equal(shma_last_error(), "shape[0] = -5 is negative");
    /* successes do not clear it */
    shma_dtype d;
    assert_shma_ok(shma_dtype_parse("f8", &d));
    a = alloc_tracked(NULL, 1, (const int64_t[]){5}, "f8");
    assert_shma_ok(shma_close(&a));
    assert_string_equal(shma_last_error(), "shape[0] = -5 is negative");
    /* the next failure replaces it */
    assert_int_equal(shma_unlink(""), SHMA_E_NAME);
    assert_string_not_equal(shma_last_error(), "shape[0] = -5 is negative");
}

typedef struct thread_arg {
    pthread_barrier_t *barrier;
    int which;
    char initial[64];
    char after_own[512];
    char after_other[512];
    int rc;
} thread_arg;

static void *error_thread(void *p) {
    thread_arg *t = p;
    snprintf(t->initial, sizeof t->initial, "%s", shma_last_error());
    /* thread 0 fails first, then thread 1, then both read back */
    if (t->which == 1) pthread_barrier_wait(t->barrier);
    if (t->which == 0) t->rc = shma_allocate(NULL, 2, (const int64_t[]){3, -7}, "f8", &(shma_array *){NULL});
    else t->rc = shma_unlink("bad/name");
    snprintf(t->after_own, sizeof t->after_own, "%s", shma_last_error());
    if (t->which == 0) pthread_barrier_wait(t->barrier);
    pthread_barrier_wait(t->barrier);
    snprintf(t->after_other, sizeof t->after_other, "%s", shma_last_error());
    return NULL;
}

static void test_last_error_thread_local(void **state) {
    (void)state;
    assert_int_equal(shma_attach_name(NULL, &(shma_array *){NULL}), SHMA_E_ARG);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", shma_last_error());
    assert_string_equal(mine, "name is NULL");

    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    thread_arg args[2];
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].barrier = &barrier;
        args[i].which = i;
        assert_int_equal(pthread_create(&threads[i], NULL, error_thread, &args[i]), 0);
    }
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&barrier);

    for (int i = 0; i < 2; i++) assert_string_equal(args[i].initial, ""); /* fresh thread: empty */
    assert_int_equal(args[0].rc, SHMA_E_SHAPE);
    assert_int_equal(args[1].rc, SHMA_E_NAME);
    assert_string_equal(args[0].after_own, "shape[1] = -7 is negative");
    assert_non_null(strstr(args[1].after_own, "'/'"));
    /* each still sees its own after the other failed */
    assert_string_equal(args[0].after_other, args[0].after_own);
    assert_string_equal(args[1].after_other, args[1].after_own);
    /* and the main thread's is untouched */
    assert_string_equal(shma_last_error(), mine);
}

static void test_fail_helpers(void **state) {
    (void)state;
    assert_int_equal(shma__fail(SHMA_E_SIZE, "x=%d y=%s", 5, "z"), SHMA_E_SIZE);
    assert_string_equal(shma_last_error(), "x=5 y=z");

    assert_int_equal(shma__fail_errno(SHMA_E_NOTFOUND, ENOENT, "open '%s'", "n"), SHMA_E_NOTFOUND);
    char expect[256];
    snprintf(expect, sizeof expect, "open 'n': %s (errno %d)", strerror(ENOENT), ENOENT);
    assert_string_equal(shma_last_error(), expect);
    assert_int_equal(shma__fail_errno(SHMA_E_OS, 9999, "odd"), SHMA_E_OS);
    assert_non_null(strstr(shma_last_error(), "(errno 9999)"));

    /* a message longer than the buffer is cut, NUL-terminated, and the errno suffix dropped */
    char longer[2000];
    memset(longer, 'q', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    shma__fail(SHMA_E_ARG, "%s", longer);
    size_t cut = strlen(shma_last_error());
    assert_true(cut > 100 && cut < sizeof longer - 1);
    shma__fail_errno(SHMA_E_ARG, EINVAL, "%s", longer);
    assert_int_equal(strlen(shma_last_error()), cut);
    assert_null(strstr(shma_last_error(), "errno"));
    /* one that fits only partly with its suffix keeps as much as fits */
    longer[cut - 5] = '\0';
    shma__fail_errno(SHMA_E_ARG, EINVAL, "%s", longer);
    assert_int_equal(strlen(shma_last_error()), cut);
    assert_memory_equal(shma_last_error(), longer, cut - 5);
}

static void test_code_from_errno(void **state) {
    (void)state;
    static const struct {
        int errnum, code;
    } map[] = {
        {ENOENT, SHMA_E_NOTFOUND}, {EEXIST, SHMA_E_EXISTS}, {ENOSPC, SHMA_E_NOSPC}, {EFBIG, SHMA_E_NOSPC},
        {ENOMEM, SHMA_E_NOMEM},    {EACCES, SHMA_E_PERM},   {EPERM, SHMA_E_PERM},   {ENAMETOOLONG, SHMA_E_NAME},
        {EINVAL, SHMA_E_NAME},     {EMFILE, SHMA_E_OS},     {EIO, SHMA_E_OS},       {0, SHMA_E_OS},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (shma__code_from_errno(map[i].errnum) != map[i].code)
            fail_msg("errno %d maps to %s, expected %s", map[i].errnum,
                     shma_errname(shma__code_from_errno(map[i].errnum)), shma_errname(map[i].code));
}

/* ---------------------------------------------------------------------------------------------
 * NULL arguments: SHMA_E_ARG (or a documented no-op), never a crash
 * ------------------------------------------------------------------------------------------- */

static void test_null_sweep(void **state) {
    (void)state;
    const int64_t shape[] = {2};
    shma_array *a = NULL;
    shma_view v;
    memset(&v, 0, sizeof v);
    shma_info info;
    shma_handle h;
    char buf[64];
    shma_dtype d;
    shma_manager *m = NULL;
    shm_listing before = shm_list();

    assert_int_equal(shma_dtype_parse(NULL, &d), SHMA_E_ARG);
    assert_int_equal(shma_allocate(NULL, 1, shape, "f8", NULL), SHMA_E_ARG);
    assert_int_equal(shma_allocate(NULL, 1, shape, NULL, &a), SHMA_E_ARG);
    assert_int_equal(shma_allocate(NULL, 1, NULL, "f8", &a), SHMA_E_ARG);
    assert_int_equal(shma_allocate_ex(NULL, 1, shape, "f8", NULL, NULL), SHMA_E_ARG);
    assert_int_equal(shma_allocate_like(NULL, NULL, &a), SHMA_E_ARG);
    assert_int_equal(shma_allocate_like(NULL, &v, NULL), SHMA_E_ARG);
    assert_int_equal(shma_copy(NULL, NULL, &a), SHMA_E_ARG);
    assert_int_equal(shma_copy(NULL, &v, NULL), SHMA_E_ARG);
    assert_int_equal(shma_attach(NULL, 1, shape, "f8", &a), SHMA_E_ARG);
    assert_int_equal(shma_attach("x", 1, shape, "f8", NULL), SHMA_E_ARG);
    assert_int_equal(shma_attach_name(NULL, &a), SHMA_E_ARG);
    assert_int_equal(shma_attach_name("x", NULL), SHMA_E_ARG);
    assert_int_equal(shma_attach_handle(NULL, 3, &a), SHMA_E_ARG);
    assert_int_equal(shma_attach_handle("x", 1, NULL), SHMA_E_ARG);
    assert_int_equal(shma_view_of(NULL, &v), SHMA_E_ARG);
    assert_int_equal(shma_handle_encode(NULL, buf, sizeof buf, NULL), SHMA_E_ARG);
    assert_int_equal(shma_handle_format(NULL, buf, sizeof buf, NULL), SHMA_E_ARG);
    assert_int_equal(shma_handle_decode(NULL, 3, &h), SHMA_E_ARG);
    assert_int_equal(shma_handle_decode("x", 1, NULL), SHMA_E_ARG);
    assert_int_equal(shma_inspect(NULL, &info), SHMA_E_ARG);
    assert_int_equal(shma_inspect("x", NULL), SHMA_E_ARG);
    assert_int_equal(shma_unlink(NULL), SHMA_E_ARG);
    assert_int_equal(shma_manager_create(0, NULL), SHMA_E_ARG);
    assert_null(a);

    /* documented no-ops */
    assert_int_equal(shma_close(NULL), SHMA_OK);
    assert_int_equal(shma_close(&a), SHMA_OK);
    assert_int_equal(shma_manager_shutdown(NULL), SHMA_OK);
    assert_int_equal(shma_manager_shutdown(&m), SHMA_OK);
    assert_int_equal(shma_manager_count(NULL), 0);
    assert_int_equal(shma_manager_reaper_pid(NULL), 0);
    assert_no_new_segments(&before);
    shm_listing_free(&before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_codes_names_messages),
        SEG_TEST(test_unknown_codes),
        SEG_TEST(test_version),
        SEG_TEST(test_last_error_kept_across_success),
        SEG_TEST(test_last_error_thread_local),
        SEG_TEST(test_fail_helpers),
        SEG_TEST(test_code_from_errno),
        SEG_TEST(test_null_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
