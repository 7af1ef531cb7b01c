/* test_disown: giving up ownership leaves a segment in place for later processes. */
#include "testutil.h"

#include <signal.h>
#include <time.h>

/* Names made here, removed after each test, pass or fail. */
static char names[4][SHMA_NAME_MAX + 1];

static void remember(int slot, const shma_array *arr) { snprintf(names[slot], sizeof names[slot], "%s", shma_name(arr)); }

static int remove_names(void **state) {
    (void)state;
    for (int i = 0; i < 4; i++) {
        if (names[i][0]) shma_unlink(names[i]);
        names[i][0] = '\0';
    }
    return 0;
}

static const int64_t shape[1] = {32};

static void test_disowned_array_is_not_unlinked_by_close(void **state) {
    (void)state;
    shma_array *arr = NULL, *client = NULL;
    assert_shma_ok(shma_allocate(NULL, 1, shape, "f8", &arr));
    remember(0, arr);
    ((double *)shma_data(arr))[3] = 7.5;
    assert_shma_ok(shma_disown(arr));
    assert_false(shma_is_owner(arr));
    assert_shma_ok(shma_close(&arr));
    assert_true(shm_exists(names[0]));
    assert_shma_ok(shma_attach_name(names[0], &client));
    assert_true(((double *)shma_data(client))[3] == 7.5);
    assert_shma_ok(shma_close(&client));
}

static void test_manager_forgets_a_disowned_array(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    shma_array *kept = NULL, *owned = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    assert_shma_ok(shma_allocate(mgr, 1, shape, "f8", &kept));
    assert_shma_ok(shma_allocate(mgr, 1, shape, "f8", &owned));
    remember(0, kept);
    remember(1, owned);
    assert_int_equal(shma_manager_count(mgr), 2);
    assert_shma_ok(shma_disown(kept));
    assert_int_equal(shma_manager_count(mgr), 1);
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_true(shm_exists(names[0]));
    assert_false(shm_exists(names[1]));
    assert_shma_ok(shma_close(&kept));
    assert_shma_ok(shma_close(&owned));
    assert_true(shm_exists(names[0]));
}

/* The reaper must not remove what was disowned when the owner dies: the child disowns one
 * array, keeps another, and is killed; only the kept one may go. */
static void test_reaper_spares_a_disowned_array(void **state) {
    (void)state;
    int report[2];
    assert_int_equal(pipe(report), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        shma_manager *mgr = NULL;
        shma_array *a = NULL, *b = NULL;
        if (shma_manager_create(0, &mgr) != SHMA_OK || shma_allocate(mgr, 1, shape, "f8", &a) != SHMA_OK ||
            shma_allocate(mgr, 1, shape, "f8", &b) != SHMA_OK || shma_disown(a) != SHMA_OK)
            _exit(1);
        char both[2][SHMA_NAME_MAX + 1];
        snprintf(both[0], sizeof both[0], "%s", shma_name(a));
        snprintf(both[1], sizeof both[1], "%s", shma_name(b));
        if (write(report[1], both, sizeof both) != (ssize_t)sizeof both) _exit(2);
        for (;;) pause(); /* until the parent kills it */
    }
    close(report[1]);
    char both[2][SHMA_NAME_MAX + 1];
    assert_int_equal(read(report[0], both, sizeof both), (ssize_t)sizeof both);
    close(report[0]);
    snprintf(names[0], sizeof names[0], "%s", both[0]);
    snprintf(names[1], sizeof names[1], "%s", both[1]);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* The reaper acts on end-of-file, after the kill: poll with a deadline. */
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 500 && shm_exists(names[1]); i++) nanosleep(&step, NULL);
    assert_false(shm_exists(names[1]));
    assert_true(shm_exists(names[0]));
}

static void test_disown_refuses_clients_children_and_null(void **state) {
    (void)state;
    shma_array *arr = NULL, *client = NULL;
    assert_shma_fails(shma_disown(NULL), SHMA_E_ARG, "NULL");
    assert_shma_ok(shma_allocate(NULL, 1, shape, "f8", &arr));
    remember(0, arr);
    assert_shma_ok(shma_attach_name(names[0], &client));
    assert_shma_fails(shma_disown(client), SHMA_E_STATE, "not owned");
    assert_shma_ok(shma_close(&client));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(shma_disown(arr) == SHMA_E_STATE && strstr(shma_last_error(), "created by process") ? 0 : 1);
    assert_child_ok(pid);
    assert_true(shma_is_owner(arr));
    assert_shma_ok(shma_close(&arr));
    assert_false(shm_exists(names[0]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_disowned_array_is_not_unlinked_by_close, remove_names),
        cmocka_unit_test_teardown(test_manager_forgets_a_disowned_array, remove_names),
        cmocka_unit_test_teardown(test_reaper_spares_a_disowned_array, remove_names),
        cmocka_unit_test_teardown(test_disown_refuses_clients_children_and_null, remove_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
