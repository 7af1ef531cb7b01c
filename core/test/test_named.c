/* test_named: arrays under caller-chosen names, whose name can be taken over by someone else. */
#include "testutil.h"

#include <stdio.h>

/* The names the tests use; removed after each test, pass or fail. */
static char name_plain[64], name_mgr[64];

static int remove_names(void **state) {
    (void)state;
    shma_unlink(name_plain);
    shma_unlink(name_mgr);
    return 0;
}

static void test_close_spares_a_segment_made_again_under_the_same_name(void **state) {
    (void)state;
    const char *name = name_plain;
    const int64_t shape[1] = {16};
    shma_alloc_opts opts = {.name = name};
    shma_array *first = NULL, *second = NULL;
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "f8", &opts, &first));
    assert_shma_ok(shma_unlink(name)); /* someone else removes it ... */
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "f8", &opts, &second)); /* ... and makes it again */
    assert_shma_ok(shma_close(&first));
    assert_true(shm_exists(name)); /* the stale owner left the newcomer alone */
    assert_shma_ok(shma_close(&second));
    assert_false(shm_exists(name));
}

static void test_manager_shutdown_spares_a_segment_made_again(void **state) {
    (void)state;
    const char *name = name_mgr;
    const int64_t shape[1] = {16};
    shma_alloc_opts opts = {.name = name};
    shma_manager *mgr = NULL;
    shma_array *owned = NULL, *other = NULL;
    assert_shma_ok(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
    assert_shma_ok(shma_allocate_ex(mgr, 1, shape, "f8", &opts, &owned));
    assert_shma_ok(shma_unlink(name));
    assert_shma_ok(shma_allocate_ex(NULL, 1, shape, "f8", &opts, &other));
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_true(shm_exists(name));
    assert_shma_ok(shma_close(&owned));
    assert_true(shm_exists(name));
    assert_shma_ok(shma_close(&other));
    assert_false(shm_exists(name));
}

int main(void) {
    snprintf(name_plain, sizeof name_plain, "shma_test_named_%d", (int)getpid());
    snprintf(name_mgr, sizeof name_mgr, "shma_test_named_mgr_%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_close_spares_a_segment_made_again_under_the_same_name, remove_names),
        cmocka_unit_test_teardown(test_manager_shutdown_spares_a_segment_made_again, remove_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
