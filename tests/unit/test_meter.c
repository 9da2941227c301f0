/*
 * Unit tests for lib/store/local.c, lib/meter/ratelimit.c, lib/meter/budget.c,
 * lib/meter/alert.c and the [price]/[budget] config rows. They run against the
 * host-local store (a temp file), the same vtable memcached sits behind;
 * the integration tests run the same behaviour against memcached.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "meter/alert.h"
#include "meter/budget.h"
#include "conf/config.h"
#include "meter/ratelimit.h"
#include "store/store.h"

static char path[64];


static int
setup(void **state)
{
    int fd;

    (void) state;
    strcpy(path, "/tmp/cg-test-store-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    unlink(path);       /* start from "missing" */
    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    unlink(path);
    return 0;
}


static cg_store_t *
open_store(void)
{
    char        err[200];
    cg_store_t *st = cg_store_new_local(path, 1024, "test", err, sizeof(err));

    if (st == NULL) {
        fail_msg("%s", err);
    }
    return st;
}


static void
test_store_ops(void **state)
{
    cg_store_t  *a, *b;
    uint64_t     v = 99, vals[3];
    const char  *keys[3] = { "k1", "k2", "nope" };
    size_t       lens[3] = { 2, 2, 4 };

    (void) state;
    a = open_store();
    assert_non_null(cg_store_notice(a));        /* missing: built */
    b = open_store();                           /* a second process */
    assert_null(cg_store_notice(b));
    assert_int_equal(cg_store_incr(a, "k1", 2, 5, 60, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(cg_store_incr(b, "k1", 2, 2, 60, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(cg_store_decr(a, "k1", 2, 10, &v), 0);
    assert_int_equal(v, 0);                     /* stops at zero */
    assert_int_equal(cg_store_decr(a, "missing", 7, 1, &v), 0);
    assert_int_equal(cg_store_add(a, "k2", 2, 3, 60), 0);
    assert_int_equal(cg_store_add(b, "k2", 2, 4, 60), 1);
    assert_int_equal(cg_store_get_multi(b, keys, lens, 3, vals), 0);
    assert_int_equal(vals[0], 0);
    assert_int_equal(vals[1], 3);
    assert_int_equal(vals[2], 0);
    /* ttl 0: expired at once, so the next incr starts again. */
    assert_int_equal(cg_store_incr(a, "k3", 2, 1, 0, &v), 0);
    assert_int_equal(cg_store_incr(a, "k3", 2, 1, 0, &v), 0);
    assert_int_equal(v, 1);
    cg_store_free(a);
    cg_store_free(b);
}


static void
test_store_corrupt_rebuilt(void **state)
{
    cg_store_t *st;
    uint64_t    v;
    FILE       *f;
    const char *note;

    (void) state;
    st = open_store();
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    cg_store_free(st);
    f = fopen(path, "r+");
    assert_non_null(f);
    fputs("garbage!", f);
    fclose(f);
    st = open_store();
    note = cg_store_notice(st);
    assert_non_null(note);
    assert_non_null(strstr(note, "corrupt"));
    assert_null(cg_store_notice(st));           /* said once */
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 1);                     /* started again */
    /* Cut short while mapped: no SIGBUS, the table starts again. */
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 1);
    cg_store_free(st);
}


static cg_store_t *
open_sized(unsigned slots, const char *owner, char *err, size_t errlen)
{
    return cg_store_new_local(path, slots, owner, err, errlen);
}


/* Slots come from a hash keyed with the file's secret: keys chosen to
 * share one probe run under a plain hash (FNV-1a, what the store used to
 * use) spread out, so nobody who picks user ids or addresses can fill a
 * run and make the next counter there fail. */
static void
test_store_keyed(void **state)
{
    char        err[200], key[32];
    cg_store_t *st;
    uint64_t    h, v;
    unsigned    i, found = 0;
    size_t      n;

    (void) state;
    st = open_sized(1024, "test", err, sizeof(err));
    assert_non_null(st);
    for (i = 0; found < 200; i++) {
        n = (size_t) snprintf(key, sizeof(key), "cg:r:u:%u:1", i);
        h = 14695981039346656037ULL;
        for (size_t j = 0; j < n; j++) {
            h = (h ^ (unsigned char) key[j]) * 1099511628211ULL;
        }
        if (h % 1024 != 0) {
            continue;
        }
        found++;
        assert_int_equal(cg_store_incr(st, key, n, 1, 60, &v), 0);
    }
    cg_store_free(st);
}


/* A full store gives up the refusal path first: counters of failed
 * authentications (CG_STORE_SPARE_PREFIX) yield their slots to money and
 * limits, never the other way round. 64 slots: one probe run is the
 * whole table. */
static void
test_store_full_spare(void **state)
{
    char        err[200], key[64];
    cg_store_t *st;
    uint64_t    v;
    unsigned    i;
    size_t      n;

    (void) state;
    st = open_sized(64, "test", err, sizeof(err));
    assert_non_null(st);
    for (i = 0; i < 64; i++) {
        n = (size_t) snprintf(key, sizeof(key), CG_STORE_SPARE_PREFIX
                              "10.0.%u.1:1", i);
        assert_int_equal(cg_store_incr(st, key, n, 1, 60, &v), 0);
    }
    /* Full of failed logins: a new spare key finds no room, a budget does. */
    n = (size_t) snprintf(key, sizeof(key), CG_STORE_SPARE_PREFIX "x:1");
    assert_int_equal(cg_store_incr(st, key, n, 1, 60, &v), -1);
    assert_int_equal(cg_store_incr(st, "cg:$:u:alice:d:1", 16, 5, 60, &v), 0);
    for (i = 1; i < 64; i++) {
        n = (size_t) snprintf(key, sizeof(key), "cg:r:u:user%u:1", i);
        assert_int_equal(cg_store_incr(st, key, n, 1, 60, &v), 0);
    }
    /* Full of counters that matter: nothing is evicted for anyone. */
    n = (size_t) snprintf(key, sizeof(key), CG_STORE_SPARE_PREFIX "y:1");
    assert_int_equal(cg_store_incr(st, key, n, 1, 60, &v), -1);
    assert_int_equal(cg_store_incr(st, "cg:r:u:late:1", 13, 1, 60, &v), -1);
    assert_int_equal(cg_store_incr(st, "cg:$:u:alice:d:1", 16, 1, 60, &v), 0);
    assert_int_equal(v, 6);
    for (i = 1; i < 64; i++) {
        n = (size_t) snprintf(key, sizeof(key), "cg:r:u:user%u:1", i);
        assert_int_equal(cg_store_incr(st, key, n, 1, 60, &v), 0);
        assert_int_equal(v, 2);
    }
    cg_store_free(st);
}


/* Two configurations of different sizes cannot share a live file: the
 * second refuses to start naming both. Once the first is gone the file is
 * stale and the second rebuilds it. */
static void
test_store_two_sizes_refused(void **state)
{
    char        err[1024];
    cg_store_t *a, *b;
    uint64_t    v;

    (void) state;
    a = open_sized(1024, "/etc/chatgate/a.ini", err, sizeof(err));
    assert_non_null(a);
    assert_int_equal(cg_store_incr(a, "k", 1, 1, 60, &v), 0);
    b = open_sized(65536, "/etc/chatgate/b.ini", err, sizeof(err));
    assert_null(b);
    assert_non_null(strstr(err, "/etc/chatgate/a.ini"));
    assert_non_null(strstr(err, "/etc/chatgate/b.ini"));
    assert_non_null(strstr(err, "1024"));
    assert_non_null(strstr(err, "65536"));
    /* a is untouched. */
    assert_int_equal(cg_store_incr(a, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 2);
    cg_store_free(a);
    b = open_sized(65536, "/etc/chatgate/b.ini", err, sizeof(err));
    assert_non_null(b);
    assert_non_null(strstr(cg_store_notice(b), "rebuilt"));
    cg_store_free(b);
}


/* A reload that changes the size (same configuration): the new size
 * rebuilds the file; a process still mapping the old size gets store
 * errors, never a crash and never a rebuild back, so the new one keeps
 * counting (no reset loop). */
static void
test_store_resized_no_loop(void **state)
{
    char        err[1024];
    cg_store_t *old, *neu;
    uint64_t    v;

    (void) state;
    old = open_sized(1024, "/etc/chatgate/x.ini", err, sizeof(err));
    assert_non_null(old);
    assert_int_equal(cg_store_incr(old, "k", 1, 1, 60, &v), 0);
    neu = open_sized(4096, "/etc/chatgate/x.ini", err, sizeof(err));
    assert_non_null(neu);
    assert_int_equal(cg_store_incr(neu, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(cg_store_incr(old, "k", 1, 1, 60, &v), -1);
    assert_non_null(strstr(cg_store_error(old), "4096"));
    assert_int_equal(cg_store_incr(neu, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 2);
    cg_store_free(old);
    cg_store_free(neu);
}


/* The first 4 KiB overwritten while serving: rebuilt with this process's
 * size, said so, no crash. */
static void
test_store_overwritten_live(void **state)
{
    char        err[1024], junk[4096];
    cg_store_t *st;
    uint64_t    v;
    int         fd;
    const char *note;

    (void) state;
    st = open_sized(1024, "/etc/chatgate/x.ini", err, sizeof(err));
    assert_non_null(st);
    (void) cg_store_notice(st);
    assert_int_equal(cg_store_incr(st, "k", 1, 5, 60, &v), 0);
    memset(junk, 0xff, sizeof(junk));
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), sizeof(junk));
    close(fd);
    assert_int_equal(cg_store_incr(st, "k", 1, 1, 60, &v), 0);
    assert_int_equal(v, 1);
    note = cg_store_notice(st);
    assert_non_null(note);
    assert_non_null(strstr(note, "corrupt"));
    cg_store_free(st);
}


static void
test_window_slides(void **state)
{
    static cg_limit_cache_t cache;
    cg_store_t        *st;
    cg_limits_t        lim;
    cg_limit_hold_t    h;
    cg_limit_report_t  rep;
    time_t             t0 = 1000 * 60;          /* a window start */
    int                i;

    (void) state;
    st = open_store();
    memset(&lim, 0, sizeof(lim));
    lim.rpm[CG_SCOPE_CALLER] = 4;
    lim.window = 60;
    for (i = 0; i < 4; i++) {
        assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                    "u", "1.2.3.4", t0, &h,
                                        &rep), CG_LIMIT_PASS);
        cg_ratelimit_end(st, &lim, &h, 0, t0);
    }
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "u", NULL, t0 + 10, &h, &rep),
                     CG_LIMIT_OVER);
    assert_int_equal(rep.over, 0);
    assert_string_equal(rep.p[0].name, "rpm");
    assert_int_equal(rep.p[0].reset, 50);
    /* Early next window: 4 x 50/60 of the previous one still counts
     * (rounded up: 4) + 1. */
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "u", NULL, t0 + 70, &h, &rep),
                     CG_LIMIT_OVER);
    /* Late next window: 4 x 10/60 (rounded up: 1) + 1. */
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "u", NULL, t0 + 110, &h, &rep),
                     CG_LIMIT_PASS);
    assert_int_equal(rep.p[0].remaining, 2);
    /* The same through a worker's cache of finished buckets: a miss
     * reads the store, a hit gives the same figures. */
    assert_int_equal(cg_ratelimit_begin(st, &cache, &lim, "u", NULL, t0 + 110,
                                        &h, &rep), CG_LIMIT_PASS);
    assert_int_equal(rep.p[0].remaining, 1);
    assert_int_equal(cg_ratelimit_begin(st, &cache, &lim, "u", NULL, t0 + 110,
                                        &h, &rep), CG_LIMIT_PASS);
    assert_int_equal(rep.p[0].remaining, 0);
    assert_int_equal(cg_ratelimit_begin(st, &cache, &lim, "u", NULL, t0 + 110,
                                        &h, &rep), CG_LIMIT_OVER);
    assert_int_equal(rep.p[0].used, 5);
    cg_store_free(st);
}


/* The counter keys, byte for byte as they always were ("cg:r:<scope>:
 * <id>:<bucket>", an id too long for a store key replaced by "#" and its
 * 64-bit FNV-1a in hex): a deploy that changed them would start every
 * window and budget from zero. */
static uint64_t
count_of(cg_store_t *st, const char *key)
{
    size_t   len = strlen(key);
    uint64_t v = 0;

    assert_int_equal(cg_store_get_multi(st, &key, &len, 1, &v), 0);
    return v;
}


static void
test_limit_keys(void **state)
{
    cg_store_t        *st;
    cg_limits_t        lim;
    cg_limit_hold_t    h;
    cg_limit_report_t  rep;
    time_t             t0 = 1000 * 60;
    char               id[300], key[400];
    uint64_t           fnv = 14695981039346656037ULL;
    size_t             i;

    (void) state;
    st = open_store();
    memset(&lim, 0, sizeof(lim));
    lim.rpm[CG_SCOPE_CALLER] = 10;
    lim.rpm[CG_SCOPE_ADDR] = 10;
    lim.window = 60;
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim, "alice", "1.2.3.4",
                                        t0, &h, &rep), CG_LIMIT_PASS);
    assert_int_equal(count_of(st, "cg:r:u:alice:1000"), 1);
    assert_int_equal(count_of(st, "cg:r:a:1.2.3.4:1000"), 1);
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    for (i = 0; id[i]; i++) {
        fnv = (fnv ^ (unsigned char) id[i]) * 1099511628211ULL;
    }
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim, id, NULL, t0, &h,
                                        &rep), CG_LIMIT_PASS);
    snprintf(key, sizeof(key), "cg:r:u:#%016llx:1000",
             (unsigned long long) fnv);
    assert_int_equal(count_of(st, key), 1);
    cg_store_free(st);
}


static void
test_tokens_and_inflight(void **state)
{
    cg_store_t        *st;
    cg_limits_t        lim;
    cg_limit_hold_t    h1, h2, h3;
    cg_limit_report_t  rep;
    time_t             t0 = 2000 * 60;

    (void) state;
    st = open_store();
    memset(&lim, 0, sizeof(lim));
    lim.tpm[CG_SCOPE_GLOBAL] = 100;
    lim.concurrent = 2;
    lim.inflight_ttl = 60;
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "u", NULL, t0, &h1, &rep), 0);
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "u", NULL, t0, &h2, &rep), 0);
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "u", NULL, t0, &h3, &rep),
                     CG_LIMIT_OVER);
    assert_string_equal(rep.p[rep.over].name, "concurrency");
    cg_ratelimit_end(st, &lim, &h1, 60, t0);
    cg_ratelimit_end(st, &lim, &h2, 60, t0);
    /* 120 tokens used of 100: the next one waits. */
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim,
                                        "v", NULL, t0 + 1, &h3, &rep),
                     CG_LIMIT_OVER);
    assert_string_equal(rep.p[rep.over].name, "global-tpm");
    cg_store_free(st);
}


/* A route's own limits count apart from the global ones, report as
 * route-*, and still count a caller whose id and the route's name are
 * too long together for a plain store key. */
static void
test_route_limits(void **state)
{
    cg_store_t        *st;
    cg_limits_t        lim, glob;
    cg_limit_hold_t    h;
    cg_limit_report_t  rep;
    char               route[65], user[129];
    time_t             t0 = 3000 * 60;

    (void) state;
    st = open_store();
    memset(route, 'r', sizeof(route) - 1);
    route[sizeof(route) - 1] = '\0';
    memset(user, 'u', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    memset(&lim, 0, sizeof(lim));
    lim.rpm[CG_SCOPE_CALLER] = 1;
    lim.window = 60;
    glob = lim;
    lim.ns = route;
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim, "u", NULL, t0, &h,
                                        &rep), CG_LIMIT_PASS);
    assert_string_equal(rep.p[0].name, "route-rpm");
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim, "u", NULL, t0, &h,
                                        &rep), CG_LIMIT_OVER);
    assert_int_equal(cg_ratelimit_begin(st, NULL, &glob, "u", NULL, t0, &h,
                                        &rep), CG_LIMIT_PASS);
    assert_string_equal(rep.p[0].name, "rpm");
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim, user, NULL, t0, &h,
                                        &rep), CG_LIMIT_PASS);
    assert_int_equal(cg_ratelimit_begin(st, NULL, &lim, user, NULL, t0, &h,
                                        &rep), CG_LIMIT_OVER);
    cg_store_free(st);
}


static void
test_money(void **state)
{
    uint64_t   m;
    cg_price_t p = { "m", 3000000, 15000000, 3750000, 300000 };

    (void) state;
    assert_int_equal(cg_budget_money_parse("3", &m), 0);
    assert_int_equal(m, 3000000);
    assert_int_equal(cg_budget_money_parse("0.30", &m), 0);
    assert_int_equal(m, 300000);
    assert_int_equal(cg_budget_money_parse("0.0000001", &m), 0);
    assert_int_equal(m, 1);                     /* rounded up */
    assert_int_equal(cg_budget_money_parse("1.", &m), -1);
    assert_int_equal(cg_budget_money_parse("-1", &m), -1);
    assert_int_equal(cg_budget_money_parse("1e3", &m), -1);
    assert_int_equal(cg_budget_money_parse("", &m), -1);
    /* 1000 in at $3/M + 100 out at $15/M = 3000 + 1500 micro-dollars. */
    assert_int_equal(cg_budget_price_cost(&p, 1000, 100, 0, 0), 4500);
    assert_int_equal(cg_budget_price_cost(&p, 1, 0, 0, 0), 3);
    assert_int_equal(cg_budget_price_cost(&p, 0, 0, 1000, 1000), 4050);
    assert_int_equal(cg_budget_price_worst(&p, 4000, 100), 4500);
}


static void
test_budget_reserve_settle(void **state)
{
    cg_store_t        *st;
    cg_budgets_t       b;
    cg_budget_hold_t   h[4];
    time_t             now = 1700000000;

    (void) state;
    st = open_store();
    memset(&b, 0, sizeof(b));
    b.cap[CG_BSCOPE_CALLER][CG_BUDGET_DAILY] = 100;
    b.hold_seconds = 60;
    assert_int_equal(cg_budget_reserve(st, &b, "u", 40, now, &h[0]), 0);
    assert_int_equal(cg_budget_reserve(st, &b, "u", 40, now, &h[1]), 0);
    /* 80 held: 40 more does not fit. */
    assert_int_equal(cg_budget_reserve(st, &b, "u", 40, now, &h[2]),
                     CG_BUDGET_OVER);
    assert_int_equal(h[2].over_period, CG_BUDGET_DAILY);
    /* Settling to 10 frees 30. */
    assert_int_equal(cg_budget_settle(st, &b, &h[0], 10, now, NULL), 0);
    assert_int_equal(h[0].spent[0][0], 10);
    assert_true(cg_budget_check_stream(&h[1], 40));
    assert_false(cg_budget_check_stream(&h[1], 41));
    assert_int_equal(cg_budget_reserve(st, &b, "u", 40, now, &h[2]), 0);
    /* A worker "dies" holding h[1]: two hold periods later the hold has
     * expired and only settled spend counts. */
    assert_int_equal(cg_budget_settle(st, &b, &h[2], 40, now, NULL), 0);
    assert_int_equal(cg_budget_reserve(st, &b, "u", 50, now + 200, &h[3]),
                     0);
    assert_int_equal(cg_budget_settle(st, &b, &h[3], 50, now + 200, NULL), 0);
    assert_int_equal(h[3].spent[0][0], 100);
    assert_int_equal(cg_budget_reserve(st, &b, "u", 1, now + 200, &h[3]),
                     CG_BUDGET_OVER);
    assert_int_equal(cg_budget_reserve(st, &b, "w", 1, now + 200, &h[3]), 0);
    cg_store_free(st);
}


/* A store in front of the local one that plays what memcached can do to
 * a batch: answer it (ANSWER), run it without answering, as a server
 * paused past the timeout does once it resumes (LATE), or neither, as
 * when the batch never reached the server (LOST). Each batch takes the
 * next step of the script; past its end every batch is answered. */
enum { ANSWER, LATE, LOST };

typedef struct {
    cg_store_t  base;
    cg_store_t *inner;
    const int  *script;
    size_t      nscript, at;
} late_store_t;

static int
late_batch(cg_store_t *base, cg_store_op_t *ops, size_t n)
{
    late_store_t *ls = (late_store_t *) base;
    int           how = ls->at < ls->nscript ? ls->script[ls->at] : ANSWER;
    size_t        i;

    ls->at++;
    if (how == LOST) {
        for (i = 0; i < n; i++) {
            ops[i].done = 0;
        }
        return -1;
    }
    assert_int_equal(cg_store_batch(ls->inner, ops, n), 0);
    for (i = 0; how == LATE && i < n; i++) {
        ops[i].done = 0;
    }
    return how == LATE ? -1 : 0;
}

static const char *
late_error(cg_store_t *base)
{
    (void) base;
    return "late";
}

static const cg_store_ops_t late_ops = {
    NULL, NULL, NULL, NULL, late_error, NULL, late_batch
};

/* The caller's settled spend today, read from the store behind. */
static uint64_t
spend_of(cg_store_t *st, const char *caller, time_t now)
{
    char        key[80], date[16];
    const char *k = key;
    size_t      len;
    uint64_t    v = 0;
    struct tm   tm;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%d", &tm);
    len = (size_t) snprintf(key, sizeof(key), "cg:$:u:%s:d:%s", caller,
                            date);
    assert_int_equal(cg_store_get_multi(st, &k, &len, 1, &v), 0);
    return v;
}

/* One settlement under script, then resends until none is left: the
 * spend is counted exactly once whatever the store did with each batch. */
static void
settle_once(const int *script, size_t nscript, const char *caller)
{
    late_store_t        ls = { { &late_ops, "", 0, 0, 1 }, NULL, script,
                               nscript, 0 };
    cg_budgets_t        b;
    cg_budget_hold_t    h;
    cg_budget_pending_t left;
    time_t              now = 1700000000;
    int                 tries;

    ls.inner = open_store();
    memset(&b, 0, sizeof(b));
    b.cap[CG_BSCOPE_CALLER][CG_BUDGET_DAILY] = 1000;
    b.hold_seconds = 60;
    assert_int_equal(cg_budget_reserve(ls.inner, &b, caller, 40, now, &h),
                     CG_BUDGET_OK);
    h.mark = "req-1";
    h.seq = 1;
    assert_int_equal(cg_budget_settle(&ls.base, &b, &h, 25, now, &left), -1);
    assert_true(left.n > 0);
    for (tries = 0; left.n > 0 && tries < 4; tries++) {
        (void) cg_budget_retry(&ls.base, &left);
    }
    assert_int_equal(left.n, 0);
    assert_int_equal(spend_of(ls.inner, caller, now), 25);
    /* The hold was released once too: all 1000 can be reserved again. */
    assert_int_equal(cg_budget_reserve(ls.inner, &b, caller, 975, now, &h),
                     CG_BUDGET_OK);
    cg_store_free(ls.inner);
}


/* Issue 16: a settlement the store ran but did not answer (a paused
 * memcached) is not counted again by its resend; one that never reached
 * the store is counted by the resend, once, even when the resend itself
 * runs unanswered. */
static void
test_budget_resend_once(void **state)
{
    static const int paused[] = { LATE };
    static const int paused_twice[] = { LATE, LATE, LATE };
    static const int lost[] = { LOST };
    static const int lost_then_paused[] = { LOST, ANSWER, LATE };
    static const int claim_paused[] = { LOST, LATE };

    (void) state;
    settle_once(paused, 1, "a");
    unlink(path);
    settle_once(paused_twice, 3, "b");
    unlink(path);
    settle_once(lost, 1, "c");
    unlink(path);
    settle_once(lost_then_paused, 3, "d");
    unlink(path);
    settle_once(claim_paused, 2, "e");
}


static int sink_calls;
static char sink_last[512];

static void
sink(void *ctx, const cg_buf_t *line)
{
    (void) ctx;
    sink_calls++;
    snprintf(sink_last, sizeof(sink_last), "%.*s", (int) line->len,
             line->data);
}


static void
test_alert_once(void **state)
{
    cg_store_t      *st;
    cg_alert_t       a1, a2, bad;
    cg_budgets_t     b;
    cg_budget_hold_t h;
    char             err[200];
    time_t           now = 1700000000;

    (void) state;
    st = open_store();
    assert_int_equal(cg_alert_init(&a1, st, "50,80,100", 0, err,
                                   sizeof(err)), 0);
    assert_int_equal(cg_alert_init(&a2, st, "50,80,100", 0, err,
                                   sizeof(err)), 0);
    assert_int_equal(cg_alert_init(&bad, st, "50,x", 0, err, sizeof(err)),
                     -1);
    cg_alert_set_sink(&a1, sink, NULL);
    cg_alert_set_sink(&a2, sink, NULL);
    memset(&b, 0, sizeof(b));
    memset(&h, 0, sizeof(h));
    b.cap[CG_BSCOPE_GLOBAL][CG_BUDGET_MONTHLY] = 1000;
    h.caller = "u";
    h.spent[CG_BSCOPE_GLOBAL][CG_BUDGET_MONTHLY] = 850;
    sink_calls = 0;
    cg_alert_budget(&a1, &b, &h, 0, now);
    assert_int_equal(sink_calls, 2);            /* 50 and 80 */
    assert_non_null(strstr(sink_last, "\"event\":\"alert\""));
    cg_alert_budget(&a2, &b, &h, 0, now);       /* another worker */
    cg_alert_budget(&a1, &b, &h, 0, now);
    assert_int_equal(sink_calls, 2);
    h.spent[CG_BSCOPE_GLOBAL][CG_BUDGET_MONTHLY] = 1000;
    cg_alert_budget(&a2, &b, &h, 0, now);
    assert_int_equal(sink_calls, 3);            /* 100 */
    cg_alert_store_down(&a1, "x", now);
    cg_alert_store_down(&a1, "x", now + 1);
    assert_int_equal(sink_calls, 4);            /* once per period */
    cg_alert_free(&a1);
    cg_alert_free(&a2);
    cg_store_free(st);
}


static void
test_conf_price(void **state)
{
    cg_conf_t  conf;
    char       err[512];
    FILE      *f;

    (void) state;
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[session]\nsecret = env:X\n[provider]\napi_key = env:Y\n"
          "model = m1\n[budget]\nuser_daily = 2.5\n"
          "[price m1]\ninput = 3\noutput = 15\ncache_read = 0.30\n", f);
    fclose(f);
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    assert_int_equal(cg_conf_load(&conf, path, err, sizeof(err)), 0);
    assert_int_equal(conf.budget.user_daily, 2500000);
    assert_int_equal(conf.budget.nprices, 1);
    assert_int_equal(conf.budget.prices[0].output, 15000000);
    assert_int_equal(conf.budget.prices[0].cache_read, 300000);
    cg_conf_free(&conf);
    f = fopen(path, "w");
    fputs("[session]\nsecret = env:X\n[provider]\napi_key = env:Y\n"
          "[price m1]\nsurcharge = 3\n", f);
    fclose(f);
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    assert_int_equal(cg_conf_load(&conf, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[price m1] surcharge"));
    cg_conf_free(&conf);
    f = fopen(path, "w");
    fputs("[session]\nsecret = env:X\n[provider]\napi_key = env:Y\n"
          "[alerts]\nbudget_thresholds = 50,eighty\n", f);
    fclose(f);
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    assert_int_equal(cg_conf_load(&conf, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "budget_thresholds"));
    cg_conf_free(&conf);
    f = fopen(path, "w");
    fputs("[session]\nsecret = env:X\n[provider]\napi_key = env:Y\n"
          "[log]\nsyslog_facility = kern\n", f);
    fclose(f);
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    assert_int_equal(cg_conf_load(&conf, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "syslog_facility"));
    cg_conf_free(&conf);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_two_sizes_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_resized_no_loop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_overwritten_live, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_keyed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_full_spare, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_corrupt_rebuilt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_window_slides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_and_inflight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_route_limits, setup, teardown),
        cmocka_unit_test(test_money),
        cmocka_unit_test_setup_teardown(test_budget_reserve_settle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_budget_resend_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf_price, setup, teardown),
    };

    return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
