/*
 * Unit tests for lib/provider/keys.c (named keys, environments, route and service
 * scopes, age), lib/cli/access.c (who can read a file, from made-up account
 * files) and the audit line of lib/log/usagelog.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/access.h"
#include "provider/keys.h"
#include "log/usagelog.h"


static void
set_ok(cg_keys_t *keys, const char *key, const char *name, const char *value)
{
    char err[256];

    if (cg_keys_set(keys, key, name, value, err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }
}


static void
test_list_has(void **state)
{
    (void) state;
    assert_true(cg_keys_list_has("*", "anything"));
    assert_true(cg_keys_list_has("a,b", "b"));
    assert_true(cg_keys_list_has("a, b ,c", "b"));
    assert_false(cg_keys_list_has("ab,c", "a"));
    assert_false(cg_keys_list_has("a,bc", "b"));
    assert_false(cg_keys_list_has("", "a"));
    assert_false(cg_keys_list_has(NULL, "a"));
}


static void
test_parse_and_defaults(void **state)
{
    cg_keys_t  keys;
    cg_key_t  *k;
    char       err[256];

    (void) state;
    memset(&keys, 0, sizeof(keys));
    set_ok(&keys, "prod", "source", "file:/nonexistent/k");
    set_ok(&keys, "prod", "environment", "production");
    assert_int_equal(cg_keys_validate(&keys, err, sizeof(err)), 0);
    k = cg_keys_find(&keys, "prod");
    assert_non_null(k);
    assert_string_equal(k->routes, "*");
    assert_string_equal(k->services, "*");
    assert_int_equal(k->max_age_days, 90);
    assert_int_equal(k->env, CG_ENV_PRODUCTION);
    assert_null(cg_keys_find(&keys, "other"));

    assert_int_equal(cg_keys_set(&keys, "prod", "source", "env:X", err,
                                 sizeof(err)), -1);
    assert_non_null(strstr(err, "set twice"));
    assert_int_equal(cg_keys_set(&keys, "prod", "nope", "1", err,
                                 sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown key [key prod] nope"));
    assert_int_equal(cg_keys_set(&keys, "bad name", "source", "env:X", err,
                                 sizeof(err)), -1);
    assert_int_equal(cg_keys_set(&keys, "d", "environment", "prod", err,
                                 sizeof(err)), -1);
    assert_int_equal(cg_keys_set(&keys, "d", "created", "2024-13-01", err,
                                 sizeof(err)), -1);
    assert_int_equal(cg_keys_set(&keys, "d", "max_age_days", "0", err,
                                 sizeof(err)), -1);
    assert_int_equal(cg_keys_set(&keys, "d", "source", "sk-ant-literal",
                                 err, sizeof(err)), -1);
    assert_null(strstr(err, "sk-ant-literal"));
    /* "d" has no source or environment yet. */
    assert_int_equal(cg_keys_validate(&keys, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[key d] source is required"));
    cg_keys_free(&keys);
}


static void
test_allowed_and_routes(void **state)
{
    cg_keys_t  keys;
    cg_key_t  *k;
    char       err[256];

    (void) state;
    memset(&keys, 0, sizeof(keys));
    set_ok(&keys, "web", "source", "env:CG_NONE");
    set_ok(&keys, "web", "environment", "staging");
    set_ok(&keys, "web", "routes", "chat,summary");
    set_ok(&keys, "web", "services", "tok1");
    assert_int_equal(cg_keys_validate(&keys, err, sizeof(err)), 0);
    k = cg_keys_find(&keys, "web");
    assert_true(cg_keys_allowed(k, "chat", NULL));
    assert_true(cg_keys_allowed(k, "summary", "tok1"));
    assert_false(cg_keys_allowed(k, "summary", "tok2"));
    assert_false(cg_keys_allowed(k, "other", NULL));
    assert_false(cg_keys_allowed(NULL, "chat", NULL));

    assert_int_equal(cg_keys_check_route(&keys, "web", CG_ENV_STAGING,
                                         "chat", err, sizeof(err)), 0);
    assert_int_equal(cg_keys_check_route(&keys, "web", CG_ENV_PRODUCTION,
                                         "chat", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a staging key"));
    assert_int_equal(cg_keys_check_route(&keys, "web", CG_ENV_STAGING,
                                         "other", err, sizeof(err)), -1);
    assert_int_equal(cg_keys_check_route(&keys, "nope", CG_ENV_STAGING,
                                         "chat", err, sizeof(err)), -1);
    /* Another environment's key is not read at all. */
    assert_int_equal(cg_keys_load(&keys, CG_ENV_PRODUCTION, err,
                                  sizeof(err)), 0);
    assert_null(k->secret.data);
    assert_int_equal(cg_keys_load(&keys, CG_ENV_STAGING, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "CG_NONE"));
    cg_keys_free(&keys);
}


static void
test_age(void **state)
{
    cg_keys_t  keys;
    cg_key_t  *k;
    time_t     t;
    char       err[256];

    (void) state;
    memset(&keys, 0, sizeof(keys));
    set_ok(&keys, "old", "source", "env:CG_NONE");
    set_ok(&keys, "old", "environment", "development");
    set_ok(&keys, "old", "created", "2024-01-01");
    set_ok(&keys, "old", "max_age_days", "30");
    k = cg_keys_find(&keys, "old");
    assert_int_equal(cg_keys_date_parse("2024-01-31", &t), 0);
    assert_int_equal(cg_keys_age_days(k, t), 30);
    assert_int_equal(cg_keys_age_check(k, t, err, sizeof(err)), 0);
    assert_int_equal(cg_keys_age_check(k, t + 86400, err, sizeof(err)), 1);
    assert_non_null(strstr(err, "31 days old"));
    set_ok(&keys, "noage", "source", "env:CG_NONE");
    assert_int_equal(cg_keys_age_days(cg_keys_find(&keys, "noage"), t), -1);
    cg_keys_free(&keys);
}


static char passwd_path[64], group_path[64];

static int
write_accounts(void **state)
{
    FILE *f;
    int   fd;

    (void) state;
    strcpy(passwd_path, "/tmp/cg-test-passwd-XXXXXX");
    strcpy(group_path, "/tmp/cg-test-group-XXXXXX");
    fd = mkstemp(passwd_path);
    f = fdopen(fd, "w");
    fputs("root:x:0:0:root:/root:/bin/sh\n"
          "svc:x:100:500::/:/bin/false\n"
          "prim:x:101:500::/:/bin/false\n"
          "memb:x:102:600::/:/bin/false\n"
          "other:x:103:600::/:/bin/false\n", f);
    fclose(f);
    fd = mkstemp(group_path);
    f = fdopen(fd, "w");
    fputs("root:x:0:\nkeys:x:500:memb,svc\nusers:x:600:other\n", f);
    fclose(f);
    return 0;
}


static int
remove_accounts(void **state)
{
    (void) state;
    unlink(passwd_path);
    unlink(group_path);
    return 0;
}


static void
assert_names(const cg_accounts_t *a, const char *want)
{
    char   got[256] = "";
    size_t i;

    for (i = 0; i < a->n; i++) {
        strcat(got, i ? "," : "");
        strcat(got, a->names[i]);
    }
    assert_string_equal(got, want);
}


static void
test_access_who(void **state)
{
    struct stat   st;
    cg_accounts_t a;
    char          name[32];

    (void) state;
    memset(&st, 0, sizeof(st));
    st.st_uid = 100;
    st.st_gid = 500;

    st.st_mode = S_IFREG | 0600;
    assert_int_equal(cg_access_who(&st, CG_ACCESS_READ, passwd_path,
                                   group_path, &a), 0);
    assert_names(&a, "root,svc");
    assert_false(a.everyone);
    cg_access_accounts_free(&a);

    /* Group-readable: the member from /etc/group and the account with the
     * primary group; not the owner twice, not "other". */
    st.st_mode = S_IFREG | 0640;
    cg_access_who(&st, CG_ACCESS_READ, passwd_path, group_path, &a);
    assert_names(&a, "root,memb,prim,svc");
    cg_access_accounts_free(&a);

    /* Owner without the bit cannot read even though the group can. */
    st.st_mode = S_IFREG | 0040;
    cg_access_who(&st, CG_ACCESS_READ, passwd_path, group_path, &a);
    assert_names(&a, "root,memb,prim");
    cg_access_accounts_free(&a);

    st.st_mode = S_IFREG | 0644;
    cg_access_who(&st, CG_ACCESS_READ, passwd_path, group_path, &a);
    assert_true(a.everyone);
    cg_access_accounts_free(&a);

    st.st_mode = S_IFREG | 0640;
    cg_access_who(&st, CG_ACCESS_WRITE, passwd_path, group_path, &a);
    assert_names(&a, "root,svc");
    cg_access_accounts_free(&a);

    cg_access_user_name(101, passwd_path, name, sizeof(name));
    assert_string_equal(name, "prim");
    cg_access_user_name(999, passwd_path, name, sizeof(name));
    assert_string_equal(name, "#999");
    cg_access_group_name(500, group_path, name, sizeof(name));
    assert_string_equal(name, "keys");
}


static void
test_audit_line(void **state)
{
    cg_audit_event_t ev = { "key_rotated", "prod", "aaaaaaaaaaaa",
                            "bbbbbbbbbbbb", "x\"y" };
    cg_buf_t         b;

    (void) state;
    cg_buf_init(&b);
    cg_usagelog_audit_format(&ev, 0.0, &b);
    assert_string_equal(b.data,
        "{\"v\":1,\"ts\":\"1970-01-01T00:00:00.000Z\",\"event\":\"audit\","
        "\"action\":\"key_rotated\",\"key\":\"prod\",\"key_id\":"
        "\"aaaaaaaaaaaa\",\"old_key_id\":\"bbbbbbbbbbbb\",\"detail\":"
        "\"x\\\"y\"}\n");
    cg_buf_free(&b);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_has),
        cmocka_unit_test(test_parse_and_defaults),
        cmocka_unit_test(test_allowed_and_routes),
        cmocka_unit_test(test_age),
        cmocka_unit_test_setup_teardown(test_access_who, write_accounts,
                                        remove_accounts),
        cmocka_unit_test(test_audit_line),
    };

    return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
