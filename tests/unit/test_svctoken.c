/*
 * Unit tests for lib/who/svctoken.c: [token NAME] rows, lookup by SHA-256,
 * route scopes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "who/svctoken.h"


static void
test_tokens(void **state)
{
    cg_token_t       *list = NULL;
    const cg_token_t *t;
    unsigned char     h[32];
    unsigned int      hl;
    char              hex[65], err[256];
    int               i;

    (void) state;
    EVP_Digest("cgt_secret1", 11, h, &hl, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    assert_int_equal(cg_svctoken_conf(&list, "token a", "sha256", hex, err,
                                      sizeof(err)), 0);
    assert_int_equal(cg_svctoken_conf(&list, "token a", "routes",
                                      "default, reports", err, sizeof(err)), 0);
    assert_int_equal(cg_svctoken_conf(&list, "token b", "routes", "*", err,
                                      sizeof(err)), 0);
    /* b has no hash yet. */
    assert_int_equal(cg_svctoken_check(list, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[token b] sha256"));
    assert_int_equal(cg_svctoken_conf(&list, "token b", "sha256", "abc", err,
                                      sizeof(err)), -1);
    assert_int_equal(cg_svctoken_conf(&list, "token a b", "routes", "x", err,
                                      sizeof(err)), -1);
    assert_int_equal(cg_svctoken_conf(&list, "token a", "colour", "x", err,
                                      sizeof(err)), -1);
    t = cg_svctoken_find(list, "cgt_secret1", 11);
    assert_non_null(t);
    assert_string_equal(t->name, "a");
    assert_null(cg_svctoken_find(list, "cgt_secret2", 11));
    assert_null(cg_svctoken_find(list, "cgt_secret", 10));
    assert_true(cg_svctoken_route_allowed(t, "reports"));
    assert_true(cg_svctoken_route_allowed(t, "default"));
    assert_false(cg_svctoken_route_allowed(t, "report"));
    assert_false(cg_svctoken_route_allowed(t, "reports2"));
    assert_true(cg_svctoken_route_allowed(t->next, "anything"));
    cg_svctoken_free(list);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
    };

    return cmocka_run_group_tests_name("svctoken", tests, NULL, NULL);
}
