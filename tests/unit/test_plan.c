/*
 * Unit tests for lib/provider/plan.c: the routes a request may try, and
 * how long the longest plan can take (what an in-flight slot and a budget
 * hold must outlive, lib/meter/meter.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conf/config.h"
#include "meter/meter.h"
#include "provider/plan.h"

static char path[] = "/tmp/cg-test-plan-XXXXXX";


static void
load(cg_conf_t *conf, const char *text)
{
    char  err[512];
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(cg_conf_init(conf, err, sizeof(err)), 0);
    if (cg_conf_load(conf, path, err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }
}


#define ROUTES                                                          \
    "[session]\nsecret = env:X\n"                                      \
    "[provider]\napi_key = env:Y\ntimeout_ms = 1000\nretries = 0\n"    \
    "fallback = a\n"                                                    \
    "[route a]\nmodel = m\napi_key = env:Y\ntimeout_ms = 10000\nretries = 2\n"    \
    "retry_max_wait_ms = 1000\nfallback = b\n"                      \
    "[route b]\nmodel = m\napi_key = env:Y\ntimeout_ms = 5000\nretries = 0\n"


static void
test_build(void **state)
{
    cg_conf_t         conf;
    const cg_route_t *plan[CG_PLAN_MAX];
    int               n;

    (void) state;
    load(&conf, ROUTES);
    n = cg_plan_build(&conf, cg_provider_route_find(&conf, "default", 7),
                      NULL, NULL, plan);
    /* default, its fallback a, then a's b. */
    assert_int_equal(n, 3);
    assert_string_equal(plan[0]->name, "default");
    assert_string_equal(plan[1]->name, "a");
    assert_string_equal(plan[2]->name, "b");
    /* From b: b alone. */
    assert_int_equal(cg_plan_build(&conf,
                                   cg_provider_route_find(&conf, "b", 1),
                                   NULL, NULL, plan), 1);
    cg_conf_free(&conf);
}


static void
test_worst(void **state)
{
    cg_conf_t   conf;
    cg_limits_t lim;

    (void) state;
    load(&conf, ROUTES);
    /* a: 3 tries of 10 s + 2 waits of 1 s; then b: 5 s. */
    assert_int_equal(cg_plan_worst_ms(&conf,
                                      cg_provider_route_find(&conf, "a", 1)),
                     37000);
    /* default: 1 s, then a and b. */
    assert_int_equal(cg_plan_worst_ms(&conf, cg_provider_route_find(&conf,
                                                        "default", 7)),
                     38000);
    /* The in-flight slot outlives the longest plan (plus 30 s), not the
     * longest single route (a: 30 s). */
    cg_meter_limits(&conf, &lim);
    assert_int_equal(lim.inflight_ttl, 38 + 30);
    cg_conf_free(&conf);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_worst),
    };
    int fd = mkstemp(path), rc;

    if (fd < 0) {
        return 1;
    }
    close(fd);
    rc = cmocka_run_group_tests_name("plan", tests, NULL, NULL);
    unlink(path);
    return rc;
}
