/* test_name.c: segment-name validation and random names (name.c). */
#include "testutil.h"

#include "internal.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* Exit status of a child that could not set up its test (no seccomp here). */
#define CHILD_SKIP 77

static void test_null(void **state) {
    (void)state;
    const char *bare = "untouched";
    assert_shma_fails(shma__name_check(NULL, &bare), SHMA_E_ARG, "name is NULL");
    assert_string_equal(bare, "untouched");
    assert_shma_fails(shma__name_check_len(NULL, 3), SHMA_E_ARG, "name is NULL");
}

static void test_plain_and_slash(void **state) {
    (void)state;
    const char *bare = NULL;
    const char *plain = "psm_1a2b3c4d";
    assert_shma_ok(shma__name_check(plain, &bare));
    assert_ptr_equal(bare, plain);
    const char *slashed = "/psm_1a2b3c4d";
    assert_shma_ok(shma__name_check(slashed, &bare));
    assert_ptr_equal(bare, slashed + 1);
    assert_shma_ok(shma__name_check("x", NULL));
    assert_shma_ok(shma__name_check("a.b;c d", &bare));
    assert_shma_ok(shma__name_check("...", &bare));
    assert_shma_ok(shma__name_check(".hidden", &bare));
    /* Linux takes bytes >= 0x80, so UTF-8 names work. */
    assert_shma_ok(shma__name_check("caf\xc3\xa9", &bare));
    assert_shma_ok(shma__name_check("\xff\x80", &bare));
}

static void test_empty(void **state) {
    (void)state;
    assert_shma_fails(shma__name_check("", NULL), SHMA_E_NAME, "name is empty");
    assert_shma_fails(shma__name_check_len("abc", 0), SHMA_E_NAME, "name is empty");
    assert_shma_fails(shma__name_check("/", NULL), SHMA_E_NAME, "name '/' is empty after its leading '/'");
    assert_shma_fails(shma__name_check_len("/", 1), SHMA_E_NAME, "name '/' is empty");
}

static void test_length_limit(void **state) {
    (void)state;
    char name[SHMA_NAME_MAX + 3];
    const char *bare;

    memset(name, 'n', SHMA_NAME_MAX);
    name[SHMA_NAME_MAX] = '\0';
    assert_shma_ok(shma__name_check(name, &bare));
    assert_shma_ok(shma__name_check_len(name, SHMA_NAME_MAX));

    memset(name, 'n', SHMA_NAME_MAX + 1);
    name[SHMA_NAME_MAX + 1] = '\0';
    assert_shma_fails(shma__name_check(name, &bare), SHMA_E_NAME,
                      "name is 256 characters long (without a leading '/'), more than 255");
    assert_shma_fails(shma__name_check_len(name, SHMA_NAME_MAX + 1), SHMA_E_NAME,
                      "name is 256 characters long");

    /* The leading '/' does not count. */
    name[0] = '/';
    assert_shma_ok(shma__name_check(name, &bare));
    assert_ptr_equal(bare, name + 1);
    assert_int_equal(strlen(bare), SHMA_NAME_MAX);
    assert_shma_ok(shma__name_check_len(name, SHMA_NAME_MAX + 1));
    memset(name + 1, 'n', SHMA_NAME_MAX + 1);
    name[SHMA_NAME_MAX + 2] = '\0';
    assert_shma_fails(shma__name_check(name, &bare), SHMA_E_NAME, "name is 256 characters long");
}

static void test_inner_slash(void **state) {
    (void)state;
    assert_shma_fails(shma__name_check("a/b", NULL), SHMA_E_NAME,
                      "name contains '/' at offset 1: only a leading '/' is allowed");
    assert_shma_fails(shma__name_check("//a", NULL), SHMA_E_NAME, "contains '/' at offset 1");
    assert_shma_fails(shma__name_check("/a/b", NULL), SHMA_E_NAME, "contains '/' at offset 2");
    assert_shma_fails(shma__name_check("ab/", NULL), SHMA_E_NAME, "contains '/' at offset 2");
    assert_shma_fails(shma__name_check_len("a/b", 3), SHMA_E_NAME, "contains '/' at offset 1");
}

static void test_dots(void **state) {
    (void)state;
    assert_shma_fails(shma__name_check(".", NULL), SHMA_E_NAME, "name '.' is not allowed");
    assert_shma_fails(shma__name_check("..", NULL), SHMA_E_NAME, "name '..' is not allowed");
    assert_shma_fails(shma__name_check("/.", NULL), SHMA_E_NAME, "name '.' is not allowed");
    assert_shma_fails(shma__name_check("/..", NULL), SHMA_E_NAME, "name '..' is not allowed");
    assert_shma_fails(shma__name_check_len("..x", 2), SHMA_E_NAME, "name '..' is not allowed");
}

static void test_control_chars(void **state) {
    (void)state;
    char name[] = "ab?cd", expect[64];
    for (int c = 1; c < 0x20; c++) {
        name[2] = (char)c;
        snprintf(expect, sizeof expect, "name contains control character 0x%02x at offset 2", c);
        assert_shma_fails(shma__name_check(name, NULL), SHMA_E_NAME, expect);
        assert_shma_fails(shma__name_check_len(name, 5), SHMA_E_NAME, expect);
    }
    name[2] = 0x7f;
    assert_shma_fails(shma__name_check(name, NULL), SHMA_E_NAME, "control character 0x7f at offset 2");
    assert_shma_fails(shma__name_check("\n", NULL), SHMA_E_NAME, "control character 0x0a at offset 0");
    assert_shma_fails(shma__name_check("/\t", NULL), SHMA_E_NAME, "control character 0x09 at offset 1");
}

static void test_len_buffer(void **state) {
    (void)state;
    /* Not NUL-terminated: only len bytes may be read. */
    const char unterminated[3] = {'a', 'b', 'c'};
    assert_shma_ok(shma__name_check_len(unterminated, sizeof unterminated));
    assert_shma_ok(shma__name_check_len("abcdef", 3));
    assert_shma_ok(shma__name_check_len("/abc", 4));
    assert_shma_fails(shma__name_check_len("a\0b", 3), SHMA_E_NAME, "name contains a NUL byte at offset 1");
    assert_shma_fails(shma__name_check_len("ab", 3), SHMA_E_NAME, "name contains a NUL byte at offset 2");
    assert_shma_fails(shma__name_check_len("/\0", 2), SHMA_E_NAME, "NUL byte at offset 1");
}

static void test_random_names(void **state) {
    (void)state;
    enum { COUNT = 1000 };
    static char names[COUNT][SHMA_RANDOM_NAME_LEN + 1];
    for (int i = 0; i < COUNT; i++) {
        memset(names[i], 'X', sizeof names[i]);
        assert_shma_ok(shma__name_random(names[i]));
        assert_int_equal(strlen(names[i]), SHMA_RANDOM_NAME_LEN);
        assert_memory_equal(names[i], "shma_", 5);
        for (int k = 5; k < SHMA_RANDOM_NAME_LEN; k++)
            assert_non_null(strchr("0123456789abcdef", names[i][k]));
        assert_shma_ok(shma__name_check(names[i], NULL));
        for (int j = 0; j < i; j++) assert_string_not_equal(names[i], names[j]);
    }
}

/* Makes getrandom() fail with EIO in this process (a forked child). Returns false if the
 * kernel or a sandbox refuses the filter. */
static bool break_getrandom(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EIO & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0;
}

static void test_random_failure(void **state) {
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!break_getrandom()) _exit(CHILD_SKIP);
        char buf[SHMA_RANDOM_NAME_LEN + 1] = "untouched";
        int rc = shma__name_random(buf);
        bool ok = rc == SHMA_E_OS && strcmp(buf, "untouched") == 0 &&
                  strstr(shma_last_error(), "getrandom() for a segment name failed: ") != NULL &&
                  strstr(shma_last_error(), "(errno 5)") != NULL;
        if (!ok) fprintf(stderr, "child: rc %d, detail \"%s\"\n", rc, shma_last_error());
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == CHILD_SKIP) skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_plain_and_slash),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_inner_slash),
        cmocka_unit_test(test_dots),
        cmocka_unit_test(test_control_chars),
        cmocka_unit_test(test_len_buffer),
        cmocka_unit_test(test_random_names),
        cmocka_unit_test(test_random_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
