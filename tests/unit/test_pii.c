/* PII detectors, validators, actions and the placeholder round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <cmocka.h>

#include "guard/outguard.h"
#include "guard/pii.h"

#define KEY "0123456789abcdef0123456789abcdef"

static cg_pii_t *pii;


static int
setup(void **state)
{
    (void) state;
    pii = cg_pii_new(KEY, strlen(KEY));
    return pii == NULL;
}


static int
teardown(void **state)
{
    (void) state;
    cg_pii_free(pii);
    return 0;
}


/* Applies pii to in for user alice; returns the text (static). */
static const char *
apply(const char *in, cg_pii_map_t *map, cg_pii_result_t *res)
{
    static cg_buf_t out;
    cg_pii_rc_t     rc;

    rc = cg_pii_apply(pii, "alice", in, strlen(in), &out, map, res);
    assert_int_equal(rc, res->rc);
    return out.data ? out.data : "";
}


static void
test_validators(void **state)
{
    (void) state;
    assert_true(cg_pii_luhn("4111 1111 1111 1111", 19));
    assert_false(cg_pii_luhn("4111 1111 1111 1112", 19));
    assert_true(cg_pii_luhn("378282246310005", 15));
    assert_false(cg_pii_luhn("411111111111", 12));    /* too short */
    assert_true(cg_pii_iban_ok("DE89370400440532013000", 22));
    assert_true(cg_pii_iban_ok("GB82 WEST 1234 5698 7654 32", 27));
    assert_false(cg_pii_iban_ok("GB82 WEST 1234 5698 7654 33", 27));
    assert_true(cg_pii_ssn_ok("123-45-6789", 11));
    assert_false(cg_pii_ssn_ok("000-45-6789", 11));
    assert_false(cg_pii_ssn_ok("666-45-6789", 11));
    assert_false(cg_pii_ssn_ok("901-45-6789", 11));
    assert_false(cg_pii_ssn_ok("123-00-6789", 11));
    assert_false(cg_pii_ssn_ok("123-45-0000", 11));
}


static void
test_detect(void **state)
{
    static const struct {
        const char *in, *out, *flags;
    } cases[] = {
        { "card 4111-1111-1111-1111 ok", "card [CARD] ok", "pii:card" },
        { "card 4111 1111 1111 1112 ok", "card 4111 1111 1111 1112 ok", "" },
        { "iban DE89 3704 0044 0532 0130 00.", "iban [IBAN].", "pii:iban" },
        { "iban DE89370400440532013001", "iban DE89370400440532013001", "" },
        { "ssn 123-45-6789", "ssn [SSN]", "pii:ssn" },
        { "ssn 666-45-6789", "ssn 666-45-6789", "" },
        { "ip 10.1.2.3 and ::1 stay", "ip 10.1.2.3 and ::1 stay", "" },
        { "version 1.2.3 at 12:30:45 on 2024-01-15",
          "version 1.2.3 at 12:30:45 on 2024-01-15", "" },
        { "order 12345 of 3 items", "order 12345 of 3 items", "" },
    };
    cg_pii_map_t    map;
    cg_pii_result_t res;
    size_t          i;

    (void) state;
    cg_pii_map_init(&map);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *o = apply(cases[i].in, &map, &res);
        if (strcmp(o, cases[i].out) != 0
            || strcmp(res.flags, cases[i].flags) != 0) {
            fail_msg("case %zu: got '%s' [%s]", i, o, res.flags);
        }
    }
    assert_int_equal(map.n, 0);     /* masks are never restorable */
    cg_pii_map_free(&map);
}


static void
test_phones(void **state)
{
    static const char *hits[] = {
        "+1 415 555 0132", "+44 20 7946 0958", "+33612345678",
        "(415) 555-0132", "415-555-0132", "030 1234 5678",
    };
    cg_pii_map_t    map;
    cg_pii_result_t res;
    size_t          i;
    char            in[80];

    (void) state;
    cg_pii_map_init(&map);
    for (i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
        snprintf(in, sizeof(in), "call %s now", hits[i]);
        const char *o = apply(in, &map, &res);
        if (strncmp(o, "call [PHONE_", 12) != 0) {
            fail_msg("not found: %s -> %s", hits[i], o);
        }
    }
    cg_pii_map_free(&map);
}


static void
test_pseudonymize(void **state)
{
    cg_pii_map_t    map;
    cg_pii_result_t res;
    char            first[128], *ph;
    const char     *o;

    (void) state;
    cg_pii_map_init(&map);
    o = apply("mail bob@example.com and bob@example.com", &map, &res);
    assert_int_equal(res.found, 2);
    assert_string_equal(res.flags, "pii:email");
    assert_int_equal(map.n, 1);
    assert_int_equal(strncmp(o, "mail [EMAIL_", 12), 0);
    assert_null(strstr(o, "bob@"));
    snprintf(first, sizeof(first), "%s", o);
    ph = map.e[0].ph;
    assert_int_equal(strlen(ph), strlen("[EMAIL_12345678]"));
    /* Deterministic per user and value, across requests. */
    cg_pii_map_reset(&map);
    o = apply("mail bob@example.com and bob@example.com", &map, &res);
    assert_string_equal(o, first);
    /* Another user, another placeholder. */
    {
        cg_buf_t out;
        cg_buf_init(&out);
        cg_pii_apply(pii, "mallory", "bob@example.com", 15, &out, &map,
                     &res);
        assert_string_not_equal(out.data, map.e[0].ph);
        cg_buf_free(&out);
    }
    cg_pii_map_free(&map);
}


/* The provider echoes placeholders, split anywhere: the user sees the
 * originals. */
static void
test_round_trip(void **state)
{
    const char         *msg = "I am carol@example.org, call +44 20 7946 0958";
    cg_pii_map_t        map;
    cg_pii_result_t     res;
    cg_outguard_conf_t *c = cg_outguard_conf_new();
    cg_outguard_t      *g;
    cg_buf_t            ans, out;
    size_t              cut;
    const char         *o;

    (void) state;
    cg_pii_map_init(&map);
    o = apply(msg, &map, &res);
    assert_null(strstr(o, "carol"));
    assert_null(strstr(o, "7946"));
    assert_string_equal(res.flags, "pii:email,pii:phone");
    cg_buf_init(&ans);
    cg_buf_init(&out);
    cg_buf_addf(&ans, "Hello %s!", o);
    g = cg_outguard_new(c, &map);
    for (cut = 0; cut <= ans.len; cut++) {
        cg_outguard_reset(g, &map);
        cg_buf_reset(&out);
        assert_int_equal(cg_outguard_feed(g, ans.data, cut, &out), 0);
        assert_int_equal(cg_outguard_feed(g, ans.data + cut, ans.len - cut,
                                          &out), 0);
        assert_int_equal(cg_outguard_finish(g, &out), 0);
        assert_string_equal(out.data, "Hello I am carol@example.org, call "
                            "+44 20 7946 0958!");
    }
    cg_outguard_free(g);
    cg_outguard_conf_free(c);
    cg_buf_free(&ans);
    cg_buf_free(&out);
    cg_pii_map_free(&map);
}


static void
test_actions(void **state)
{
    cg_pii_map_t    map;
    cg_pii_result_t res;
    const char     *o;
    char            err[200];

    (void) state;
    cg_pii_map_init(&map);
    assert_int_equal(cg_pii_set_action(pii, "email", CG_PII_BLOCK), 0);
    apply("to x@example.com", &map, &res);
    assert_int_equal(res.rc, CG_PII_BLOCKED);
    assert_string_equal(res.detector, "email");
    assert_int_equal(cg_pii_set_action(pii, "email", CG_PII_MASK), 0);
    o = apply("to x@example.com", &map, &res);
    assert_string_equal(o, "to [EMAIL]");
    assert_int_equal(cg_pii_set_action(pii, "email", CG_PII_ALLOW), 0);
    o = apply("to x@example.com", &map, &res);
    assert_string_equal(o, "to x@example.com");
    assert_int_equal(cg_pii_set_action(pii, "ip", CG_PII_MASK), 0);
    o = apply("host 192.168.0.1 and fe80::1 but not 999.1.1.1", &map, &res);
    assert_string_equal(o, "host [IP] and [IP] but not 999.1.1.1");
    assert_int_equal(cg_pii_set_action(pii, "nosuch", CG_PII_MASK), -1);
    assert_int_equal(cg_pii_add(pii, "employee_id", CG_PII_PSEUDO,
                                "\\bEMP-[0-9]{6}\\b", err, sizeof(err)), 0);
    o = apply("badge EMP-123456", &map, &res);
    assert_int_equal(strncmp(o, "badge [EMPLOYEE_ID_", 19), 0);
    assert_int_equal(cg_pii_add(pii, "Bad", CG_PII_MASK, "x", err,
                                sizeof(err)), -1);
    assert_int_equal(cg_pii_action_parse("pseudonymize"), CG_PII_PSEUDO);
    assert_int_equal(cg_pii_action_parse("hide"), -1);
    cg_pii_map_free(&map);
}


static void
test_load(void **state)
{
    char         path[] = "/tmp/cg_pii_XXXXXX", err[200];
    const char  *body = "# custom\nmask\tticket\tTKT-[0-9]+\n";
    int          fd = mkstemp(path);

    (void) state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t) strlen(body));
    close(fd);
    assert_int_equal(cg_pii_load(pii, path, err, sizeof(err)), 0);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "mask\tno_regex\n", 14), 14);
    close(fd);
    assert_int_equal(cg_pii_load(pii, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 1"));
    unlink(path);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_phones),
        cmocka_unit_test(test_pseudonymize),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_load),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
