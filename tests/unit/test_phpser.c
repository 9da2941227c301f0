/*
 * Unit tests for lib/who/phpser.c (PHP's session serializers) and the file
 * reader of lib/who/phpstore.c, including session files written by real PHP
 * (php-cli, installed by scripts/deps).
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

static char dir[] = "/tmp/cg-test-phpsess-XXXXXX";


static cg_phpsess_rc_t
get(const char *data, cg_phpser_t ser, const char *key, char *out)
{
    return cg_phpser_get(data, strlen(data), ser, key, out, 129);
}


static void
test_php_format(void **state)
{
    char out[129];

    (void) state;
    assert_int_equal(get("user_id|i:42;role|s:5:\"admin\";", CG_PHPSER_PHP,
                         "user_id", out), CG_PHPSESS_FOUND);
    assert_string_equal(out, "42");
    assert_int_equal(get("user_id|i:42;role|s:5:\"admin\";", CG_PHPSER_PHP,
                         "role", out), CG_PHPSESS_FOUND);
    assert_string_equal(out, "admin");
    /* A string holding the delimiters is read by its length. */
    assert_int_equal(get("x|s:7:\"a|b;\"}c\";user_id|s:3:\"bob\";",
                         CG_PHPSER_PHP, "user_id", out), CG_PHPSESS_FOUND);
    assert_string_equal(out, "bob");
    /* ...and never mistaken for a variable. */
    assert_int_equal(get("x|s:12:\"user_id|i:1;\";", CG_PHPSER_PHP,
                         "user_id", out), CG_PHPSESS_ABSENT);
    assert_int_equal(get("", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_ABSENT);
    assert_int_equal(get("!user_id|role|N;", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_ABSENT);
    /* Nested arrays are walked; a nested key is not the variable. */
    assert_int_equal(get("n|a:2:{s:7:\"user_id\";i:9;i:0;a:1:{i:0;d:1.5;}}",
                         CG_PHPSER_PHP, "user_id", out), CG_PHPSESS_ABSENT);
    assert_int_equal(get("user_id|a:0:{}", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_BAD_VALUE);
    assert_int_equal(get("user_id|b:1;", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_BAD_VALUE);
    assert_int_equal(get("user_id|s:0:\"\";", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_BAD_VALUE);
}


static void
test_php_serialize_format(void **state)
{
    char out[129];

    (void) state;
    assert_int_equal(get("a:2:{s:7:\"user_id\";i:42;s:4:\"role\";s:1:\"x\";}",
                         CG_PHPSER_SERIALIZE, "user_id", out),
                     CG_PHPSESS_FOUND);
    assert_string_equal(out, "42");
    assert_int_equal(get("a:1:{s:1:\"n\";a:1:{s:7:\"user_id\";i:1;}}",
                         CG_PHPSER_SERIALIZE, "user_id", out),
                     CG_PHPSESS_ABSENT);
    assert_int_equal(get("", CG_PHPSER_SERIALIZE, "user_id", out),
                     CG_PHPSESS_ABSENT);
    /* Trailing garbage, wrong top level. */
    assert_int_equal(get("a:1:{s:7:\"user_id\";i:42;}x", CG_PHPSER_SERIALIZE,
                         "user_id", out), CG_PHPSESS_MALFORMED);
    assert_int_equal(get("i:42;", CG_PHPSER_SERIALIZE, "user_id", out),
                     CG_PHPSESS_MALFORMED);
    /* The other format's data is not accepted. */
    assert_int_equal(get("user_id|i:42;", CG_PHPSER_SERIALIZE, "user_id",
                         out), CG_PHPSESS_MALFORMED);
    /* Found by fuzz_phpsess: a NUL inside an integer was accepted (strchr
     * finds the terminator), giving an empty or cut-short user id. */
    assert_int_equal(cg_phpser_get("user_id|i:\0\0004;", 14, CG_PHPSER_PHP,
                                    "user_id", out, 129),
                     CG_PHPSESS_MALFORMED);
    assert_int_equal(get("user_id|i:-;", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_MALFORMED);
    assert_int_equal(get("user_id|i:4-2;", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_MALFORMED);
    assert_int_equal(get("user_id|i:-42;", CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_FOUND);
    /* Found by fuzz_phpsess: a string user id holding a NUL would be cut
     * short (here to nothing); it is not a user id. */
    assert_int_equal(cg_phpser_get("user_id|s:3:\"\0bc\";", 18,
                                    CG_PHPSER_PHP, "user_id", out, 129),
                     CG_PHPSESS_BAD_VALUE);
}


static void
test_objects_rejected(void **state)
{
    char out[129];
    static const char *const bad[] = {
        "o|O:8:\"stdClass\":0:{}user_id|i:1;",
        "o|C:3:\"Foo\":0:{}user_id|i:1;",
        "o|E:7:\"Foo:Bar\";user_id|i:1;",
        "user_id|i:1;r|R:1;",
        "user_id|i:1;n|a:1:{i:0;a:1:{i:0;O:1:\"A\":0:{}}}",
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(get(bad[i], CG_PHPSER_PHP, "user_id", out),
                         CG_PHPSESS_OBJECT);
    }
    assert_int_equal(get("a:1:{s:1:\"o\";O:8:\"stdClass\":0:{}}",
                         CG_PHPSER_SERIALIZE, "user_id", out),
                     CG_PHPSESS_OBJECT);
}


static void
test_malformed(void **state)
{
    char out[129], deep[1024];
    static const char *const bad[] = {
        "user_id|s:10:\"abc\";",            /* length past the end */
        "user_id|s:3:\"abcd\";",            /* length short of the quote */
        "user_id|s:99999999999:\"a\";",     /* huge length */
        "user_id|s:-1:\"\";",
        "user_id|a:999999999:{}",           /* huge count */
        "user_id|a:2:{i:0;i:1;}",           /* count says more */
        "user_id|i:4x2;",
        "user_id|i:;",
        "user_id|i:42",                     /* truncated */
        "user_id|",
        "user_id",
        "|i:1;",
        "user_id|b:2;",
        "user_id|Q:1;",
        "n|a:1:{d:1.5;i:1;}",               /* float key */
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(get(bad[i], CG_PHPSER_PHP, "user_id", out),
                         CG_PHPSESS_MALFORMED);
    }
    /* Nesting deeper than the parser's bound. */
    strcpy(deep, "n|");
    for (i = 0; i < 40; i++) {
        strcat(deep, "a:1:{i:0;");
    }
    strcat(deep, "N;");
    for (i = 0; i < 40; i++) {
        strcat(deep, "}");
    }
    assert_int_equal(get(deep, CG_PHPSER_PHP, "user_id", out),
                     CG_PHPSESS_MALFORMED);
    /* An id longer than the caller's buffer. */
    assert_int_equal(cg_phpser_get("user_id|s:5:\"abcde\";", 20,
                                    CG_PHPSER_PHP, "user_id", out, 5),
                     CG_PHPSESS_BAD_VALUE);
}


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
        cmocka_unit_test(test_php_format),
        cmocka_unit_test(test_php_serialize_format),
        cmocka_unit_test(test_objects_rejected),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sid),
        cmocka_unit_test(test_real_php),
        cmocka_unit_test(test_file_rules),
    };

    return cmocka_run_group_tests_name("phpsess", tests, setup, teardown);
}
