/* test_close.c: shma_close and shma_closep, and the scoped macros SHMA_SCOPED_ARRAY and
 * SHMA_SCOPED_MANAGER (array.c, manager.c): NULL handling, idempotence, who unlinks (owner,
 * client, an owner's copy in a forked child), and segments gone when a scope ends. */
#include "segutil.h"

static void test_close_null(void **state) {
    (void)state;
    assert_shma_ok(shma_close(NULL));
    shma_array *a = NULL;
    assert_shma_ok(shma_close(&a));
    shma_closep(NULL);
    shma_closep(&a);
    assert_null(a);
}

static void test_close_idempotent(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 1, (const int64_t[]){8}, "u1");
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));
    assert_shma_ok(shma_close(&a));
    assert_null(a);
    assert_false(seg_exists(name));
    /* the pointer was NULLed, so a second close is a no-op */
    assert_shma_ok(shma_close(&a));
    assert_null(a);

    /* through shma_closep, twice */
    a = alloc_tracked(NULL, 1, (const int64_t[]){8}, "u1");
    snprintf(name, sizeof name, "%s", shma_name(a));
    shma_closep(&a);
    assert_null(a);
    assert_false(seg_exists(name));
    shma_closep(&a);
}

static void test_close_owner_unlinks_client_does_not(void **state) {
    (void)state;
    shma_array *owner = alloc_tracked(NULL, 2, (const int64_t[]){4, 4}, "i4");
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(owner));
    shma_array *c1 = NULL, *c2 = NULL;
    assert_shma_ok(shma_attach_name(name, &c1));
    assert_shma_ok(shma_attach(name, 2, (const int64_t[]){4, 4}, "i4", &c2));
    ((int32_t *)shma_data(owner))[3] = 33;

    assert_shma_ok(shma_close(&c1));
    assert_true(seg_exists(name));
    assert_int_equal(((int32_t *)shma_data(owner))[3], 33);

    assert_shma_ok(shma_close(&owner));
    assert_false(seg_exists(name));
    /* a client's mapping outlives the unlink */
    assert_int_equal(((int32_t *)shma_data(c2))[3], 33);
    ((int32_t *)shma_data(c2))[3] = 34;
    assert_shma_ok(shma_close(&c2));
    assert_false(seg_exists(name));
}

/* An owner whose segment someone else removed closes without error. */
static void test_close_after_external_unlink(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 1, (const int64_t[]){8}, "u1");
    assert_shma_ok(shma_unlink(shma_name(a)));
    assert_shma_ok(shma_close(&a));
    assert_null(a);
}

/* An owner whose caller-chosen name was removed and reused by someone else leaves the new
 * segment alone, whether it is closed or its manager shuts down. */
static void test_close_name_reused_by_another(void **state) {
    (void)state;
    char name[128], mname[128];
    seg_test_name(name, sizeof name, "reused");
    seg_test_name(mname, sizeof mname, "reusedmgr");
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_alloc_opts opts = {name, 0};
    shma_array *a = NULL, *m = NULL;
    assert_shma_ok(shma_allocate_ex(NULL, 1, (const int64_t[]){8}, "u1", &opts, &a));
    opts.name = mname;
    assert_shma_ok(shma_allocate_ex(mgr, 1, (const int64_t[]){8}, "u1", &opts, &m));
    assert_shma_ok(shma_unlink(name));
    assert_shma_ok(shma_unlink(mname));
    foreign_create(name, 123);
    foreign_create(mname, 456);
    assert_shma_ok(shma_close(&a));
    assert_int_equal(shm_size(name), 123);
    assert_shma_ok(shma_manager_shutdown(&mgr));
    assert_int_equal(shm_size(mname), 456);
    assert_shma_ok(shma_close(&m));
    assert_int_equal(shm_size(mname), 456);
}

/* A forked child's copy of an owner is a client: closing it, or exiting without closing it,
 * leaves the parent's segment and data alone. */
static void test_close_owner_in_forked_child(void **state) {
    (void)state;
    shma_array *a = alloc_tracked(NULL, 1, (const int64_t[]){100}, "f8");
    double *d = shma_data(a);
    for (int i = 0; i < 100; i++) d[i] = i;
    char name[SHMA_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", shma_name(a));

    pid_t pid = fork_child();
    if (pid == 0) {
        CHILD_REQUIRE(shma_is_owner(a)); /* the flag is inherited, the unlink right is not */
        CHILD_OK(shma_close(&a));
        CHILD_REQUIRE(a == NULL);
        CHILD_REQUIRE(seg_exists(name));
        exit(0);
    }
    assert_child_ok(pid);
    assert_true(seg_exists(name));
    for (int i = 0; i < 100; i++) assert_true(d[i] == i);

    pid = fork_child();
    if (pid == 0) exit(0); /* never closes */
    assert_child_ok(pid);
    assert_true(seg_exists(name));

    /* The same through a manager: the child's close tells neither the manager nor its reaper. */
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *m = alloc_tracked(mgr, 1, (const int64_t[]){4}, "u1");
    char mname[SHMA_NAME_MAX + 1];
    snprintf(mname, sizeof mname, "%s", shma_name(m));
    pid = fork_child();
    if (pid == 0) {
        CHILD_OK(shma_close(&m));
        CHILD_REQUIRE(shma_manager_count(mgr) == 0); /* the child's own copy forgot it */
        CHILD_REQUIRE(seg_exists(mname));
        exit(0);
    }
    assert_child_ok(pid);
    assert_true(seg_exists(mname));
    assert_int_equal(shma_manager_count(mgr), 1);

    assert_shma_ok(shma_close(&a));
    assert_false(seg_exists(name));
    assert_shma_ok(shma_close(&m));
    assert_false(seg_exists(mname));
    assert_int_equal(shma_manager_count(mgr), 0);
    assert_shma_ok(shma_manager_shutdown(&mgr));
}

static void test_close_with_manager(void **state) {
    (void)state;
    shma_manager *mgr = NULL;
    assert_shma_ok(shma_manager_create(0, &mgr));
    shma_array *a = alloc_tracked(mgr, 1, (const int64_t[]){4}, "u1");
    shma_array *b = alloc_tracked(mgr, 1, (const int64_t[]){4}, "u1");
    shma_array *c = alloc_tracked(mgr, 1, (const int64_t[]){4}, "u1");
    assert_int_equal(shma_manager_count(mgr), 3);
    /* The manager's list is c, b, a: close from its middle, its tail, then its last entry. */
    assert_shma_ok(shma_close(&b));
    assert_int_equal(shma_manager_count(mgr), 2);
    assert_shma_ok(shma_close(&a));
    assert_int_equal(shma_manager_count(mgr), 1);
    assert_shma_ok(shma_close(&c));
    assert_int_equal(shma_manager_count(mgr), 0);
    assert_shma_ok(shma_manager_shutdown(&mgr));
}

static void test_scoped_array(void **state) {
    (void)state;
    char owned[SHMA_NAME_MAX + 1], attached[SHMA_NAME_MAX + 1];
    shma_array *keep = alloc_tracked(NULL, 1, (const int64_t[]){8}, "u1");
    snprintf(attached, sizeof attached, "%s", shma_name(keep));
    {
        SHMA_SCOPED_ARRAY a = NULL;
        assert_shma_ok(shma_allocate(NULL, 2, (const int64_t[]){3, 3}, "f4", &a));
        seg_track(shma_name(a));
        snprintf(owned, sizeof owned, "%s", shma_name(a));
        SHMA_SCOPED_ARRAY c = NULL;
        assert_shma_ok(shma_attach_name(attached, &c));
        SHMA_SCOPED_ARRAY never = NULL; /* never assigned: a no-op at scope exit */
        (void)never;
        assert_true(seg_exists(owned));
    }
    assert_false(seg_exists(owned)); /* the owner's scope ended: unlinked */
    assert_true(seg_exists(attached)); /* a client's scope ending only unmaps */

    /* Scope ends by an early exit from a loop, too. */
    for (int i = 0; i < 3; i++) {
        SHMA_SCOPED_ARRAY a = NULL;
        assert_shma_ok(shma_allocate(NULL, 0, NULL, "u1", &a));
        seg_track(shma_name(a));
        snprintf(owned, sizeof owned, "%s", shma_name(a));
        if (i == 1) break;
    }
    assert_false(seg_exists(owned));
    assert_shma_ok(shma_close(&keep));
}

static void test_scoped_manager(void **state) {
    (void)state;
    char names[3][SHMA_NAME_MAX + 1];
    shma_array *arrs[3] = {NULL, NULL, NULL};
    int reaper = 0;
    {
        SHMA_SCOPED_MANAGER mgr = NULL;
        assert_shma_ok(shma_manager_create(0, &mgr));
        reaper = shma_manager_reaper_pid(mgr);
        assert_true(reaper > 0);
        for (int i = 0; i < 3; i++) {
            arrs[i] = alloc_tracked(mgr, 1, (const int64_t[]){10}, "i8");
            snprintf(names[i], sizeof names[i], "%s", shma_name(arrs[i]));
            ((int64_t *)shma_data(arrs[i]))[9] = i + 100;
        }
        assert_int_equal(shma_manager_count(mgr), 3);
        SHMA_SCOPED_MANAGER unused = NULL;
        (void)unused;
    }
    for (int i = 0; i < 3; i++) assert_false(seg_exists(names[i]));
    pid_t rp = reaper;
    assert_true(wait_until(cond_proc_gone, &rp, 5000));
    /* the arrays outlive their manager, still mapped */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(((int64_t *)shma_data(arrs[i]))[9], i + 100);
        assert_false(shma_is_owner(arrs[i]));
        assert_shma_ok(shma_close(&arrs[i]));
    }
    /* Scoped arrays inside a scoped manager: arrays close first (reverse declaration order). */
    {
        SHMA_SCOPED_MANAGER mgr = NULL;
        assert_shma_ok(shma_manager_create(SHMA_MANAGER_NO_REAPER, &mgr));
        SHMA_SCOPED_ARRAY a = NULL;
        assert_shma_ok(shma_allocate(mgr, 1, (const int64_t[]){3}, "u1", &a));
        seg_track(shma_name(a));
        snprintf(names[0], sizeof names[0], "%s", shma_name(a));
        assert_int_equal(shma_manager_count(mgr), 1);
    }
    assert_false(seg_exists(names[0]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        SEG_TEST(test_close_null),
        SEG_TEST(test_close_idempotent),
        SEG_TEST(test_close_owner_unlinks_client_does_not),
        SEG_TEST(test_close_after_external_unlink),
        SEG_TEST(test_close_name_reused_by_another),
        SEG_TEST(test_close_owner_in_forked_child),
        SEG_TEST(test_close_with_manager),
        SEG_TEST(test_scoped_array),
        SEG_TEST(test_scoped_manager),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
