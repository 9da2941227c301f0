/* Typed findings (lib/core/findings.h): events as bits, configured names
 * in a bounded list, text only when rendered, and nothing crowded out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "flagtext.h"


static void
test_order_and_once(void **state)
{
    cg_findings_t f;

    (void) state;
    cg_findings_clear(&f);
    assert_string_equal(flagtext(&f), "");
    cg_findings_set(&f, CG_FIND_KEY_EXPOSED);
    cg_findings_add_pii(&f, "phone");
    cg_findings_add_pii(&f, "badge_id");        /* a custom detector */
    cg_findings_add_id(&f, CG_FIND_ID_INJECTION, "ignore_previous", 15);
    cg_findings_add_id(&f, CG_FIND_ID_INJECTION, "ignore_previous", 15);
    cg_findings_set(&f, CG_FIND_INVISIBLE | CG_FIND_STORE_DOWN);
    cg_findings_add_pii(&f, "email");
    cg_findings_add_pii(&f, "email");
    /* The documented order, whatever the order of discovery; once each. */
    assert_string_equal(flagtext(&f), "store_down,invisible,"
                        "injection:ignore_previous,pii:email,pii:phone,"
                        "pii:badge_id,key_exposed");
    assert_true(cg_findings_has(&f, CG_FIND_KEY_EXPOSED));
    assert_true(cg_findings_has(&f, CG_FIND_PII_EMAIL | CG_FIND_PII_PHONE));
    assert_false(cg_findings_has(&f, CG_FIND_PII_CARD));
    assert_int_equal(f.nids, 2);
}


/* More names than the list holds: the list keeps the first ones, says
 * that some are missing, and every event is still there. */
static void
test_overflow_keeps_events(void **state)
{
    cg_findings_t f, g;
    char          name[CG_FINDINGS_NAME_MAX + 16];
    int           i;

    (void) state;
    cg_findings_clear(&f);
    for (i = 0; i < 3 * CG_FINDINGS_IDS; i++) {
        snprintf(name, sizeof(name), "long_pattern_name_number_%02d_xx", i % 100);
        cg_findings_add_id(&f, CG_FIND_ID_INJECTION, name, strlen(name));
    }
    assert_int_equal(f.nids, CG_FINDINGS_IDS);
    assert_true(cg_findings_has(&f, CG_FIND_TRUNCATED));
    cg_findings_set(&f, CG_FIND_KEY_EXPOSED);
    assert_true(cg_findings_has(&f, CG_FIND_KEY_EXPOSED));
    assert_non_null(strstr(flagtext(&f), ",key_exposed,flags_truncated"));
    /* Merged into a request's findings: the same. */
    cg_findings_clear(&g);
    cg_findings_set(&g, CG_FIND_URL_REMOVED);
    cg_findings_merge(&g, &f);
    assert_true(cg_findings_has(&g, CG_FIND_KEY_EXPOSED | CG_FIND_TRUNCATED
                                    | CG_FIND_URL_REMOVED));
    assert_int_equal(g.nids, CG_FINDINGS_IDS);
}


static void
test_long_name(void **state)
{
    cg_findings_t f;
    char          name[CG_FINDINGS_NAME_MAX + 8];

    (void) state;
    cg_findings_clear(&f);
    memset(name, 'a', sizeof(name));
    cg_findings_add_id(&f, CG_FIND_ID_PII, name, sizeof(name));
    assert_int_equal(f.nids, 0);
    assert_string_equal(flagtext(&f), "flags_truncated");
}


/* cg_findings_format says how much it needed, and never overruns. */
static void
test_format_small(void **state)
{
    cg_findings_t f;
    char          s[8];

    (void) state;
    cg_findings_clear(&f);
    cg_findings_set(&f, CG_FIND_URL_REMOVED | CG_FIND_KEY_EXPOSED);
    assert_int_equal(cg_findings_format(&f, s, sizeof(s)),
                     strlen("url_removed,key_exposed"));
    assert_string_equal(s, "url_rem");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_once),
        cmocka_unit_test(test_overflow_keeps_events),
        cmocka_unit_test(test_long_name),
        cmocka_unit_test(test_format_small),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
