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

#include "flagtext.h"

#include "guard/outguard.h"
#include "guard/pii.h"
#include "guard/piiview.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define PII_CORPUS "tests/corpus/pii/cases.txt"

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
            || strcmp(flagtext(&res.findings), cases[i].flags) != 0) {
            fail_msg("case %zu: got '%s' [%s]", i, o, flagtext(&res.findings));
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
    assert_string_equal(flagtext(&res.findings), "pii:email");
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
    assert_string_equal(flagtext(&res.findings), "pii:email,pii:phone");
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


/* \uXXXX, \UXXXXXXXX and \t of the corpus, into out as UTF-8. */
static void
unescape(const char *s, cg_buf_t *out)
{
    unsigned cp;
    int      w;
    char     hex[9];

    cg_buf_reset(out);
    while (*s) {
        if (s[0] == '\\' && (s[1] == 'u' || s[1] == 'U')) {
            w = s[1] == 'u' ? 4 : 8;
            snprintf(hex, sizeof(hex), "%.*s", w, s + 2);
            cp = (unsigned) strtoul(hex, NULL, 16);
            if (cp < 0x80) {
                cg_buf_addc(out, (char) cp);
            } else if (cp < 0x800) {
                cg_buf_addc(out, (char) (0xc0 | (cp >> 6)));
                cg_buf_addc(out, (char) (0x80 | (cp & 0x3f)));
            } else if (cp < 0x10000) {
                cg_buf_addc(out, (char) (0xe0 | (cp >> 12)));
                cg_buf_addc(out, (char) (0x80 | ((cp >> 6) & 0x3f)));
                cg_buf_addc(out, (char) (0x80 | (cp & 0x3f)));
            } else {
                cg_buf_addc(out, (char) (0xf0 | (cp >> 18)));
                cg_buf_addc(out, (char) (0x80 | ((cp >> 12) & 0x3f)));
                cg_buf_addc(out, (char) (0x80 | ((cp >> 6) & 0x3f)));
                cg_buf_addc(out, (char) (0x80 | (cp & 0x3f)));
            }
            s += 2 + w;
        } else if (s[0] == '\\' && s[1] == 't') {
            cg_buf_addc(out, '\t');
            s += 2;
        } else {
            cg_buf_addc(out, *s++);
        }
    }
}


/* [EMAIL_1a2b3c4d] -> [EMAIL], in place. */
static void
generic_placeholders(char *s)
{
    char  *p = s, *u;
    size_t i;

    while ((p = strchr(p, '[')) != NULL) {
        u = strchr(p, ']');
        if (u == NULL) {
            break;
        }
        for (i = 1; p + i < u && p[i] != '_'; i++) { }
        if (p + i + 9 == u) {
            memmove(p + i, u, strlen(u) + 1);
        }
        p++;
    }
}


static void
check_case(const cg_pii_t *fresh, int lineno, const char *in_esc, const char *out_esc,
           const char *flags)
{
    cg_pii_map_t    map;
    cg_pii_result_t res;
    cg_buf_t        in, want, got;
    size_t          i;

    cg_buf_init(&in);
    cg_buf_init(&want);
    cg_buf_init(&got);
    cg_pii_map_init(&map);
    unescape(in_esc, &in);
    unescape(out_esc, &want);
    assert_int_equal(cg_pii_apply(fresh, "alice", in.data, in.len, &got,
                                  &map, &res), CG_PII_OK);
    generic_placeholders(got.data);
    if (strcmp(got.data, want.data) != 0
        || strcmp(flagtext(&res.findings), flags) != 0) {
        fail_msg("%s:%d: got '%s' [%s]", PII_CORPUS, lineno, got.data,
                 flagtext(&res.findings));
    }
    /* The map restores what the user wrote, byte for byte. */
    for (i = 0; i < map.n; i++) {
        assert_non_null(memmem(in.data, in.len, map.e[i].orig,
                               map.e[i].orig_len));
    }
    cg_pii_map_free(&map);
    cg_buf_free(&in);
    cg_buf_free(&want);
    cg_buf_free(&got);
}


/* Issue 18: the corpus of forms real users type (IDN and Unicode e-mail,
 * fullwidth, NBSP and NARROW NBSP groups, 00 prefixes, lower-case IBANs)
 * and the near misses that must pass unchanged. */
static void
test_corpus(void **state)
{
    FILE     *f = fopen(PII_CORPUS, "r");
    char      line[1024], in[1024] = "", out[1024] = "";
    int       lineno = 0, cases = 0;
    cg_pii_t *fresh = cg_pii_new(KEY, strlen(KEY));   /* default actions */

    (void) state;
    assert_non_null(f);
    assert_non_null(fresh);
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "in: ", 4) == 0) {
            snprintf(in, sizeof(in), "%s", line + 4);
        } else if (strncmp(line, "out: ", 5) == 0) {
            snprintf(out, sizeof(out), "%s", line + 5);
        } else if (strncmp(line, "flags:", 6) == 0) {
            check_case(fresh, lineno, in, out, line[6] == ' ' ? line + 7 : "");
            cases++;
        }
    }
    fclose(f);
    cg_pii_free(fresh);
    assert_true(cases >= 42);
}


/* The view: NFKC per code point, spaces and dashes unified, and every byte
 * maps back to the code point it came from. */
static void
test_view(void **state)
{
    cg_piiview_t v;
    size_t       s, e;
    const char  *in = "a\xef\xbc\xa0" "b\xc2\xa0" "c\xe2\x80\x93" "d\xef\xac\x81";

    (void) state;
    cg_piiview_init(&v);
    assert_int_equal(cg_piiview_build(&v, in, strlen(in)), 0);
    assert_string_equal(v.text.data, "a@b c-dfi");
    cg_piiview_span(&v, 1, 2, &s, &e);          /* the fullwidth @ */
    assert_int_equal(s, 1);
    assert_int_equal(e, 4);
    cg_piiview_span(&v, 7, 9, &s, &e);          /* "fi" from U+FB01 */
    assert_int_equal(s, 12);
    assert_int_equal(e, 15);
    cg_piiview_span(&v, 0, 9, &s, &e);
    assert_int_equal(s, 0);
    assert_int_equal(e, strlen(in));
    /* Not UTF-8: copied as it is. */
    assert_int_equal(cg_piiview_build(&v, "x\xff" "y", 3), 0);
    assert_memory_equal(v.text.data, "x\xff" "y", 3);
    assert_int_equal(cg_piiview_build(&v, "", 0), 0);
    assert_int_equal(v.text.len, 0);
    cg_piiview_free(&v);
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
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_view),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
