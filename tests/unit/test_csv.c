/*
 * Unit tests for lib/core/csv.c: membership in a comma-separated list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stddef.h>

#include "core/csv.h"


static void
test_csv(void **state)
{
    (void) state;
    assert_true(cg_csv_has(" a ,b,, c\t", "c", 1));
    assert_true(cg_csv_has("a,b", "a", 1));
    assert_false(cg_csv_has("ab,b", "a", 1));
    assert_false(cg_csv_has("", "", 0));
    assert_false(cg_csv_has(NULL, "a", 1));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),
    };

    return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
