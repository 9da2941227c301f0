/*
 * Unit tests for lib/core/clock.c: the test offset moves the wall clock
 * (cg_clock_now, cg_clock_wall) and never the monotonic one, and code that
 * reads time through the module follows it: a host-local store counter
 * (lib/store/local.c) expires when the clock passes its TTL, with no
 * sleep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "store/store.h"

#define DAY  (24 * 60 * 60)


static int
reset_clock(void **state)
{
    (void) state;
    cg_clock_test_offset(0);
    return 0;
}


static void
test_offset_moves_wall_clock_only(void **state)
{
    time_t before, now;
    double mono;

    (void) state;
    before = cg_clock_now();
    mono = cg_clock_mono();
    cg_clock_test_offset(DAY);
    now = cg_clock_now();
    /* A second may tick between the two reads, never a day. */
    assert_in_range(now - before, DAY, DAY + 1);
    assert_in_range((long long) cg_clock_wall() - (long long) before, DAY,
                    DAY + 1);
    assert_true(cg_clock_mono() - mono < DAY);
    cg_clock_test_offset(0);
    assert_in_range(cg_clock_now() - before, 0, 1);
}


static void
test_now_is_time(void **state)
{
    time_t t = time(NULL), now = cg_clock_now();

    (void) state;
    assert_in_range(now - t, 0, 1);
}


static void
test_local_store_ttl_follows_clock(void **state)
{
    cg_store_t *st;
    char        err[256];
    uint64_t    v = 0;

    (void) state;
    st = cg_store_new_local(NULL, 64, NULL, err, sizeof(err));
    assert_non_null(st);
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 2);
    cg_clock_test_offset(59);
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 3);                 /* not yet expired */
    cg_clock_test_offset(61);
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 1);                 /* expired: counted anew */
    cg_store_free(st);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_offset_moves_wall_clock_only,
                                  reset_clock),
        cmocka_unit_test(test_now_is_time),
        cmocka_unit_test_teardown(test_local_store_ttl_follows_clock,
                                  reset_clock),
    };

    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
