/*
 * Unit tests for lib/who/phpstore.c: session ids, the session file reader
 * (owner, symlinks, lifetime, size, "N;/dir" save paths), and session
 * files written by real PHP (php-cli, installed by scripts/deps) read back
 * through lib/who/phpser.c.
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
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "core/buf.h"
#include "who/phpser.h"
#include "who/phpstore.h"

static char dir[] = "/tmp/cg-test-phpstore-XXXXXX";


static void
test_sid(void **state)
{
    char long_sid[300];

    (void) state;
    assert_true(cg_phpstore_sid_valid("abc123,-XYZ", 11));
    assert_false(cg_phpstore_sid_valid("", 0));
    assert_false(cg_phpstore_sid_valid("../etc", 6));
    assert_false(cg_phpstore_sid_valid("a b", 3));
    assert_false(cg_phpstore_sid_valid("a\0b", 3));
    memset(long_sid, 'a', sizeof(long_sid));
    assert_true(cg_phpstore_sid_valid(long_sid, 256));
    assert_false(cg_phpstore_sid_valid(long_sid, 257));
}


/* Runs PHP to write session sid into dir with the given serializer. */
static void
php_write(const char *save_path, const char *ser, const char *sid,
          const char *code)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd), "php -n -d session.save_path='\"%s\"' "
             "-d session.serialize_handler=%s -r 'session_id(\"%s\"); "
             "session_start(); %s session_write_close();' 2>&1",
             save_path, ser, sid, code);
    assert_int_equal(system(cmd), 0);
}


static cg_phpsess_rc_t
read_back(const char *save_path, const char *sid, cg_phpser_t ser,
          char *out)
{
    cg_buf_t         b;
    cg_phpsess_rc_t  rc;

    cg_buf_init(&b);
    assert_int_equal(cg_phpstore_file_read(save_path, geteuid(), 0, sid,
                                           strlen(sid), time(NULL), &b),
                     CG_PHP_OK);
    rc = cg_phpser_get(b.data ? b.data : "", b.len, ser, "user_id", out,
                       129);
    cg_buf_free(&b);
    return rc;
}


static void
test_real_php(void **state)
{
    char out[129];
    static const char code[] =
        "$_SESSION[\"pre\"] = \"x|y;s:1:\\\"\\\"\"; "
        "$_SESSION[\"user_id\"] = 4242; "
        "$_SESSION[\"n\"] = [\"a\" => [1, 2.5, [\"x\" => \"y\"]], true, null];";

    (void) state;
    php_write(dir, "php", "realphp1", code);
    assert_int_equal(read_back(dir, "realphp1", CG_PHPSER_PHP, out),
                     CG_PHPSESS_FOUND);
    assert_string_equal(out, "4242");
    php_write(dir, "php_serialize", "realphp2", code);
    assert_int_equal(read_back(dir, "realphp2", CG_PHPSER_SERIALIZE, out),
                     CG_PHPSESS_FOUND);
    assert_string_equal(out, "4242");
    /* An object anywhere refuses the whole session. */
    php_write(dir, "php", "realphp3",
              "$_SESSION[\"user_id\"] = \"bob\"; "
              "$_SESSION[\"o\"] = new stdClass;");
    assert_int_equal(read_back(dir, "realphp3", CG_PHPSER_PHP, out),
                     CG_PHPSESS_OBJECT);
    /* Logged out: the variable was unset. */
    php_write(dir, "php", "realphp4", "$_SESSION[\"other\"] = 1;");
    assert_int_equal(read_back(dir, "realphp4", CG_PHPSER_PHP, out),
                     CG_PHPSESS_ABSENT);
}


static void
test_file_rules(void **state)
{
    char     path[512], sub[512];
    cg_buf_t b;
    FILE    *f;
    struct utimbuf old = { 1000, 1000 };

    (void) state;
    cg_buf_init(&b);
    php_write(dir, "php", "rules1", "$_SESSION[\"user_id\"] = 1;");
    assert_int_equal(cg_phpstore_file_read(dir, geteuid(), 0, "nosuch", 6,
                                           time(NULL), &b), CG_PHP_NONE);
    assert_int_equal(cg_phpstore_file_read(dir, geteuid(), 0, "../x", 4,
                                           time(NULL), &b), CG_PHP_BAD_SID);
    /* Owned by someone else. */
    assert_int_equal(cg_phpstore_file_read(dir, geteuid() + 1, 0, "rules1", 6,
                                           time(NULL), &b), CG_PHP_REFUSED);
    /* A symlink is not followed. */
    snprintf(path, sizeof(path), "%s/sess_link1", dir);
    snprintf(sub, sizeof(sub), "%s/sess_rules1", dir);
    assert_int_equal(symlink(sub, path), 0);
    assert_int_equal(cg_phpstore_file_read(dir, geteuid(), 0, "link1", 5,
                                           time(NULL), &b), CG_PHP_REFUSED);
    /* Older than the session lifetime. */
    assert_int_equal(utime(sub, &old), 0);
    assert_int_equal(cg_phpstore_file_read(dir, geteuid(), 1440, "rules1", 6,
                                           time(NULL), &b), CG_PHP_STALE);
    /* Too large. */
    snprintf(path, sizeof(path), "%s/sess_big1", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fseek(f, CG_PHP_DATA_MAX + 10, SEEK_SET), 0);
    fputc('x', f);
    fclose(f);
    assert_int_equal(cg_phpstore_file_read(dir, geteuid(), 0, "big1", 4,
                                           time(NULL), &b), CG_PHP_TOO_LARGE);
    /* "N;/dir": N levels of subdirectories from the id's first bytes. */
    snprintf(sub, sizeof(sub), "%s/a", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof(path), "2;%s", dir);
    php_write(path, "php", "abdeep", "$_SESSION[\"user_id\"] = 7;");
    assert_int_equal(cg_phpstore_file_read(path, geteuid(), 0, "abdeep", 6,
                                           time(NULL), &b), CG_PHP_OK);
    assert_int_equal(b.len, strlen("user_id|i:7;"));
    cg_buf_free(&b);
}


static int
setup(void **state)
{
    (void) state;
    return mkdtemp(dir) ? 0 : -1;
}


static int
teardown(void **state)
{
    char cmd[128];

    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sid),
        cmocka_unit_test(test_real_php),
        cmocka_unit_test(test_file_rules),
    };

    return cmocka_run_group_tests_name("phpstore", tests, setup, teardown);
}
