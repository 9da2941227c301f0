/*
 * Unit tests for lib/who/phpser.c: PHP's session serializers (php and
 * php_serialize), objects and malformed data refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "who/phpser.h"

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


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_php_format),
        cmocka_unit_test(test_php_serialize_format),
        cmocka_unit_test(test_objects_rejected),
        cmocka_unit_test(test_malformed),
    };

    return cmocka_run_group_tests_name("phpser", tests, NULL, NULL);
}
