/*
 * Unit tests for lib/core/kbuf.c: text built without printf is what
 * snprintf would have built, and what does not fit is said so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/kbuf.h"


static void
test_kbuf_as_snprintf(void **state)
{
    static const long long vals[] = { 0, 1, -1, 9, 10, -10, 1234567890123LL,
                                      LLONG_MAX, LLONG_MIN };
    char      buf[64], want[64];
    cg_kbuf_t k;
    size_t    i, n;

    (void) state;
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        cg_kbuf_init(&k, buf, sizeof(buf));
        cg_kbuf_str(&k, "cg:r:");
        cg_kbuf_chr(&k, 'u');
        cg_kbuf_ll(&k, vals[i]);
        cg_kbuf_chr(&k, ':');
        cg_kbuf_ull(&k, (unsigned long long) vals[i]);
        cg_kbuf_chr(&k, '#');
        cg_kbuf_hex64(&k, (uint64_t) vals[i]);
        n = cg_kbuf_end(&k);
        snprintf(want, sizeof(want), "cg:r:u%lld:%llu#%016llx", vals[i],
                 (unsigned long long) vals[i], (unsigned long long) vals[i]);
        assert_string_equal(buf, want);
        assert_int_equal(n, strlen(want));
    }
}


/* A text of exactly cap - 1 bytes fits; one more does not, and nothing is
 * written past cap. */
static void
test_kbuf_bounds(void **state)
{
    char      buf[8];
    cg_kbuf_t k;

    (void) state;
    memset(buf, '#', sizeof(buf));
    cg_kbuf_init(&k, buf, 6);
    cg_kbuf_str(&k, "abcde");
    assert_int_equal(cg_kbuf_end(&k), 5);
    assert_string_equal(buf, "abcde");

    memset(buf, '#', sizeof(buf));
    cg_kbuf_init(&k, buf, 6);
    cg_kbuf_str(&k, "abc");
    cg_kbuf_ll(&k, 123);
    cg_kbuf_chr(&k, 'x');       /* after an overflow: still nothing */
    assert_int_equal(cg_kbuf_end(&k), 0);
    assert_int_equal(buf[6], '#');
    assert_int_equal(buf[7], '#');
    assert_non_null(memchr(buf, '\0', 6));

    cg_kbuf_init(&k, buf, 6);
    cg_kbuf_hex64(&k, 1);
    assert_int_equal(cg_kbuf_end(&k), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kbuf_as_snprintf),
        cmocka_unit_test(test_kbuf_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
