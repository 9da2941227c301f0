/*
 * Unit tests for lib/meter/lease.c and the leased budget path of
 * lib/meter/budget.c: that leases keep a cap exact across ledgers (two
 * hosts sharing one store), that a ledger lost with its lease (a killed
 * worker) leaves the cap stricter and never looser, that unused lease is
 * given back at expiry and at shutdown, and that the steady state costs
 * (almost) no store call. Against the local store and against a real
 * memcached (started here, as test_mcpipe.c does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ON_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef ON_VALGRIND
#define ON_VALGRIND() 0
#endif
#include <time.h>
#include <unistd.h>

#include "meter/budget.h"
#include "meter/lease.h"
#include "meter/ratelimit.h"
#include "store/store.h"

static char  path[64];
static char  mc_path[64];
static pid_t mc_pid = -1;

#define NOW  1700000000

/* Lease size k, for the next take and settle. */
static unsigned lease_k = 8;


static int
setup(void **state)
{
    (void) state;
    lease_k = 8;
    snprintf(path, sizeof(path), "/tmp/cg-test-lease-%d", (int) getpid());
    unlink(path);
    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    unlink(path);
    if (mc_pid > 0) {
        kill(mc_pid, SIGTERM);
        waitpid(mc_pid, NULL, 0);
        mc_pid = -1;
        unlink(mc_path);
    }
    return 0;
}


/* A store that counts the calls made to the one behind it: what a
 * request costs in round trips (one call, one round trip, on memcached). */
typedef struct {
    cg_store_t  base;
    cg_store_t *inner;
    unsigned    calls;
    int         down;       /* 1: every incr fails, as a store gone */
} count_store_t;

static int
count_incr(cg_store_t *b, const char *k, size_t n, uint64_t d, unsigned ttl,
           uint64_t *v)
{
    ((count_store_t *) b)->calls++;
    if (((count_store_t *) b)->down) {
        return -1;
    }
    return cg_store_incr(((count_store_t *) b)->inner, k, n, d, ttl, v);
}

static int
count_decr(cg_store_t *b, const char *k, size_t n, uint64_t d, uint64_t *v)
{
    ((count_store_t *) b)->calls++;
    return cg_store_decr(((count_store_t *) b)->inner, k, n, d, v);
}

static int
count_add(cg_store_t *b, const char *k, size_t n, uint64_t v, unsigned ttl)
{
    ((count_store_t *) b)->calls++;
    return cg_store_add(((count_store_t *) b)->inner, k, n, v, ttl);
}

static int
count_get(cg_store_t *b, const char *const *k, const size_t *n, size_t c,
          uint64_t *v)
{
    ((count_store_t *) b)->calls++;
    return cg_store_get_multi(((count_store_t *) b)->inner, k, n, c, v);
}

static int
count_batch(cg_store_t *b, cg_store_op_t *ops, size_t n)
{
    ((count_store_t *) b)->calls++;
    return cg_store_batch(((count_store_t *) b)->inner, ops, n);
}

static const char *
count_error(cg_store_t *b)
{
    return cg_store_error(((count_store_t *) b)->inner);
}

static const cg_store_ops_t count_ops = {
    count_incr, count_decr, count_add, count_get, count_error, NULL,
    count_batch
};


static cg_store_t *
open_local(void)
{
    char        err[200];
    cg_store_t *st = cg_store_new_local(path, 4096, "test", err, sizeof(err));

    if (st == NULL) {
        fail_msg("%s", err);
    }
    return st;
}


/* A real memcached on a socket of its own; NULL (test skipped) without
 * the binary. */
static cg_store_t *
open_memcached(void)
{
    char        err[200];
    cg_store_t *st;
    uint64_t    v;
    int         i;

    if (access("/usr/bin/memcached", X_OK) != 0) {
        return NULL;
    }
    snprintf(mc_path, sizeof(mc_path), "/tmp/cg-lease-mc-%d.sock",
             (int) getpid());
    unlink(mc_path);
    mc_pid = fork();
    assert_true(mc_pid >= 0);
    if (mc_pid == 0) {
        execl("/usr/bin/memcached", "memcached", "-s", mc_path, "-U", "0",
              "-t", "1", "-m", "8", "-u", "nobody", (char *) NULL);
        _exit(127);
    }
    st = cg_store_new(mc_path, 2000, err, sizeof(err));
    if (st == NULL) {
        fail_msg("%s", err);
    }
    for (i = 0; i < 100; i++) {         /* until it listens */
        usleep(20000);
        if (cg_store_incr(st, "cg:t:up", 7, 1, 60, &v) == 0) {
            return st;
        }
    }
    fail_msg("memcached did not start");
    return NULL;
}


static uint64_t
read_counter(cg_store_t *st, const char *key)
{
    size_t      len = strlen(key);
    uint64_t    v = 0;

    assert_int_equal(cg_store_get_multi(st, &key, &len, 1, &v), 0);
    return v;
}


static cg_lease_ctr_t
ctr(uint64_t cap)
{
    cg_lease_ctr_t c = { "cg:$:u:x:d", 10, 3600, cap, lease_k, 0 };

    return c;
}


static cg_lease_rc_t
take_at(cg_lease_t *l, cg_store_t *st, uint64_t cap, uint64_t amount,
        time_t now)
{
    cg_lease_ctr_t c = ctr(cap);
    uint64_t       seen;

    return cg_lease_take(l, st, &c, amount, now, &seen);
}


static cg_lease_rc_t
take(cg_lease_t *l, cg_store_t *st, uint64_t cap, uint64_t amount)
{
    return take_at(l, st, cap, amount, NOW);
}


static void
settle(cg_lease_t *l, cg_store_t *st, uint64_t reserved, uint64_t used)
{
    cg_lease_ctr_t c = ctr(0);
    uint64_t       owed;

    assert_int_equal(cg_lease_settle(l, st, &c, reserved, used, &owed), 0);
}


/* One ledger: as many reservations fit as the cap takes, exactly (the
 * lease shrinks to what is needed near the cap), and most of them cost
 * no store call. */
static void
test_lease_exact_one_ledger(void **state)
{
    count_store_t cs = { { &count_ops, "", 0, 0, 0 }, NULL, 0, 0 };
    cg_lease_t    l;
    char          err[200];
    int           i, ok = 0;

    (void) state;
    cs.inner = open_local();
    assert_int_equal(cg_lease_init(&l, 1, NULL, err, sizeof(err)), 0);
    while (take(&l, &cs.base, 1000, 40) == CG_LEASE_OK) {
        ok++;
        assert_true(read_counter(cs.inner, "cg:$:u:x:d") <= 1000);
    }
    assert_int_equal(ok, 25);
    /* 25 reservations, and the refusal: a dozen leases, shrinking. */
    assert_true(cs.calls <= 16);
    assert_int_equal(read_counter(cs.inner, "cg:$:u:x:d"), 1000);
    /* Settled at half: half comes back to the lease, and is spent from
     * it without the store. */
    for (i = 0; i < 25; i++) {
        settle(&l, &cs.base, 40, 20);
    }
    cs.calls = 0;
    for (i = 0; i < 12; i++) {
        assert_int_equal(take(&l, &cs.base, 1000, 40), CG_LEASE_OK);
    }
    assert_int_equal(take(&l, &cs.base, 1000, 40), CG_LEASE_OVER);
    assert_int_equal(cs.calls, 2);  /* the last one asked the store */
    /* Shutdown gives back what is unused: the store holds the spend. */
    for (i = 0; i < 12; i++) {
        settle(&l, &cs.base, 40, 40);
    }
    cg_lease_free(&l, &cs.base);
    assert_int_equal(read_counter(cs.inner, "cg:$:u:x:d"), 500 + 480);
    cg_store_free(cs.inner);
}


/* Two ledgers (two hosts) on one store, a random mix of reservations,
 * settlements below and above the reservation, and one ledger lost with
 * what it held (a killed worker): what was spent never passes the cap,
 * the store never reads past it, and once the live ledger gives back,
 * the store holds the spend plus only what the lost ledger held. */
static void
run_two_ledgers(cg_store_t *st)
{
    enum { N = 2, MAXH = 16 };
    cg_lease_t    l[N];
    uint64_t      held[N][MAXH], spent = 0, lost = 0, past = 0, a, u;
    uint64_t      cap = 5000;
    size_t        nh[N] = { 0, 0 };
    char          err[200];
    unsigned      seed = 16;
    int           i, k, step, served = 0;

    lease_k = 4;
    for (k = 0; k < N; k++) {
        assert_int_equal(cg_lease_init(&l[k], N, NULL, err, sizeof(err)),
                         0);
    }
    for (step = 0; step < 3000; step++) {
        k = rand_r(&seed) % N;
        if (nh[k] < MAXH && rand_r(&seed) % 3 != 0) {
            a = 10 + (uint64_t) (rand_r(&seed) % 90);
            if (take(&l[k], st, cap, a) == CG_LEASE_OK) {
                held[k][nh[k]++] = a;
                served++;
            }
        } else if (nh[k] > 0) {
            a = held[k][--nh[k]];
            /* Mostly below the reservation; now and then a few past it
             * (the stream piece that carried an answer over it). */
            u = rand_r(&seed) % 8 == 0 ? a + 3 : (uint64_t) rand_r(&seed) % a;
            past += u > a ? u - a : 0;
            settle(&l[k], st, a, u);
            spent += u;
        }
        if (step == 1500) {
            /* Ledger 1 dies with its lease and its reservations. */
            lost = read_counter(l[1].ledger, "l|cg:$:u:x:d");
            for (i = 0; i < (int) nh[1]; i++) {
                lost += held[1][i];
            }
            nh[1] = 0;
            cg_store_free(l[1].ledger);
            free(l[1].took);        /* its memory goes with it */
            assert_int_equal(cg_lease_init(&l[1], N, NULL, err,
                                           sizeof(err)), 0);
        }
        /* The store never counts less than what was spent, and never
         * more than the cap but for what settled past a reservation. */
        assert_true(spent <= read_counter(st, "cg:$:u:x:d"));
        assert_true(read_counter(st, "cg:$:u:x:d") <= cap + past);
    }
    for (k = 0; k < N; k++) {
        while (nh[k] > 0) {
            a = held[k][--nh[k]];
            settle(&l[k], st, a, a);
            spent += a;
        }
        cg_lease_free(&l[k], st);
    }
    assert_true(served > 50);
    assert_true(spent <= cap + past);
    /* Given back at shutdown: the store holds the spend, and what the
     * lost ledger took with it (stricter, never looser). */
    assert_int_equal(read_counter(st, "cg:$:u:x:d"), spent + lost);
}


static void
test_lease_two_ledgers_local(void **state)
{
    cg_store_t *st;

    (void) state;
    st = open_local();
    run_two_ledgers(st);
    cg_store_free(st);
}


static void
test_lease_two_ledgers_memcached(void **state)
{
    cg_store_t *st;

    (void) state;
    if ((st = open_memcached()) == NULL) {
        skip();
    }
    run_two_ledgers(st);
    cg_store_free(st);
}


/* Unused lease goes back to the store once it expires. */
static void
test_lease_expires(void **state)
{
    cg_store_t *st;
    cg_lease_t  l;
    char        err[200];

    (void) state;
    st = open_local();
    assert_int_equal(cg_lease_init(&l, 1, NULL, err, sizeof(err)), 0);
    assert_int_equal(take(&l, st, 100000, 10), CG_LEASE_OK);
    assert_int_equal(read_counter(st, "cg:$:u:x:d"), 80);
    settle(&l, st, 10, 4);
    cg_lease_sweep(&l, st, NOW + 1);
    assert_int_equal(read_counter(st, "cg:$:u:x:d"), 80);
    cg_lease_sweep(&l, st, NOW + CG_LEASE_LIFE_S);
    assert_int_equal(read_counter(st, "cg:$:u:x:d"), 4);
    /* The next take leases afresh. */
    assert_int_equal(take_at(&l, st, 100000, 10, NOW + CG_LEASE_LIFE_S),
                     CG_LEASE_OK);
    assert_int_equal(read_counter(st, "cg:$:u:x:d"), 84);
    cg_lease_free(&l, st);
    cg_store_free(st);
}


/* More leased counters than a meter remembers: the oldest is given back
 * as it is forgotten, so at shutdown every counter holds exactly what
 * was used, none a lease that nobody would give back. */
static void
test_lease_many_counters(void **state)
{
    cg_store_t    *st;
    cg_lease_t     l;
    cg_lease_ctr_t c = { NULL, 0, 3600, 100000, 8, 0, 0 };
    char           err[200], key[3 * CG_LEASE_TRACK][32];
    uint64_t       seen;
    int            i;

    (void) state;
    st = open_local();
    assert_int_equal(cg_lease_init(&l, 1, NULL, err, sizeof(err)), 0);
    for (i = 0; i < 3 * CG_LEASE_TRACK; i++) {
        c.key = key[i];
        c.len = (size_t) snprintf(key[i], sizeof(key[i]), "cg:$:u:%d:d", i);
        assert_int_equal(cg_lease_take(&l, st, &c, 10, NOW, &seen),
                         CG_LEASE_OK);
    }
    assert_int_equal(read_counter(st, key[3 * CG_LEASE_TRACK - 1]), 80);
    cg_lease_free(&l, st);
    for (i = 0; i < 3 * CG_LEASE_TRACK; i++) {
        assert_int_equal(read_counter(st, key[i]), 10);
    }
    cg_store_free(st);
}


/* Every request context has a meter, and a worker thousands of them for
 * 10,000 streams: a lease remembers its counters in a list that grows
 * with them (it was 512 x 208 bytes inline, 110 kB per context), and
 * a meter that took three costs a few hundred bytes for them. */
static void
test_lease_list_grows(void **state)
{
    cg_store_t    *st;
    cg_lease_t     l;
    cg_lease_ctr_t c = { NULL, 0, 3600, 100000, 8, 0, 0 };
    char           err[200], key[3][32];
    uint64_t       seen;
    int            i;

    (void) state;
    assert_true(sizeof(cg_lease_t) < 256);
    st = open_local();
    assert_int_equal(cg_lease_init(&l, 1, NULL, err, sizeof(err)), 0);
    for (i = 0; i < 3; i++) {
        c.key = key[i];
        c.len = (size_t) snprintf(key[i], sizeof(key[i]), "cg:$:g:%d:d", i);
        assert_int_equal(cg_lease_take(&l, st, &c, 10, NOW, &seen),
                         CG_LEASE_OK);
    }
    assert_true(l.cap * sizeof(l.took[0]) < 1024);
    cg_lease_free(&l, st);
    for (i = 0; i < 3; i++) {
        assert_int_equal(read_counter(st, key[i]), 10);
    }
    cg_store_free(st);
}


/* Anonymous memory this process has resident, in kB. */
static long
rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char  line[256];
    long  kb = -1;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "RssAnon:", 8) == 0) {
            kb = atol(line + 8);
        }
    }
    fclose(f);
    return kb;
}


/* With memcached and no [store] ledger each meter has a private ledger
 * (an anonymous local store of 4,096 slots): it is resident only as far
 * as it is used, not all ~100 kB of it from the start. */
static void
test_lease_private_ledger_lazy(void **state)
{
    static cg_lease_t l[32];
    char              err[200];
    long              kb0, kb1;
    int               i;

    (void) state;
    if (ON_VALGRIND()) {
        skip();     /* valgrind's own allocator: resident pages mean nothing */
    }
    kb0 = rss_anon_kb();
    for (i = 0; i < 32; i++) {
        assert_int_equal(cg_lease_init(&l[i], 1, NULL, err, sizeof(err)), 0);
    }
    kb1 = rss_anon_kb();
    assert_true(kb1 - kb0 < 32 * 16);
    for (i = 0; i < 32; i++) {
        cg_lease_free(&l[i], NULL);
    }
}


/* The budget API on leases: reserve and settle spend from the ledger,
 * no held counter is made, and the cap refuses exactly as the per-request
 * path does. With type = local the store is the ledger too. */
static void
test_budget_leased(void **state)
{
    count_store_t    cs = { { &count_ops, "", 0, 0, 0 }, NULL, 0, 0 };
    cg_budgets_t     b;
    static cg_budget_hold_t h[120];
    cg_lease_t       l;
    char             err[200];
    int              i, ok = 0;

    (void) state;
    cs.inner = open_local();
    assert_int_equal(cg_lease_init(&l, 1, cs.inner, err, sizeof(err)), 0);
    memset(&b, 0, sizeof(b));
    b.cap[CG_BSCOPE_CALLER][CG_BUDGET_DAILY] = 10000;
    b.cap[CG_BSCOPE_GLOBAL][CG_BUDGET_MONTHLY] = 1000000;
    b.hold_seconds = 60;
    b.lease = &l;
    b.lease_requests = 8;
    while (cg_budget_reserve(&cs.base, &b, "u", 100, NOW, &h[ok])
           == CG_BUDGET_OK) {
        ok++;
    }
    assert_int_equal(ok, 100);
    assert_int_equal(h[ok].over_scope, CG_BSCOPE_CALLER);
    /* A hundred reservations against two caps, and the refusal: under
     * half the hundred round trips of the per-request path (leases
     * shrink to one reservation as the user's cap nears). */
    assert_true(cs.calls < 50);
    cs.calls = 0;
    for (i = 0; i < 10; i++) {
        assert_int_equal(cg_budget_settle(&cs.base, &b, &h[i], 50, NOW,
                                          NULL), 0);
    }
    assert_int_equal(cs.calls, 0);
    assert_int_equal(read_counter(cs.inner, "cg:h:u:u:28333333"), 0);
    /* What the settlements gave back serves five more. */
    for (i = 0; i < 6; i++) {
        ok += cg_budget_reserve(&cs.base, &b, "u", 100, NOW, &h[10 + i])
              == CG_BUDGET_OK;
    }
    assert_int_equal(ok, 105);
    cg_lease_free(&l, &cs.base);
    cg_store_free(cs.inner);
}


/* A settlement past its reservation that the lease cannot pay is counted
 * in the store; when the store is away it is queued, not lost, and the
 * resend counts it once. A store away while the lease lasts is not
 * noticed at all: the lease serves. */
static void
test_budget_leased_overshoot(void **state)
{
    count_store_t       cs = { { &count_ops, "", 0, 0, 0 }, NULL, 0, 0 };
    cg_budgets_t        b;
    cg_budget_hold_t    h;
    cg_budget_pending_t left;
    cg_lease_t          l;
    char                err[200], key[64];
    struct tm           tm;
    time_t              now = NOW;

    (void) state;
    cs.inner = open_local();
    assert_int_equal(cg_lease_init(&l, 1, NULL, err, sizeof(err)), 0);
    memset(&b, 0, sizeof(b));
    b.cap[CG_BSCOPE_CALLER][CG_BUDGET_DAILY] = 1000;
    b.lease = &l;
    b.lease_requests = 2;
    gmtime_r(&now, &tm);
    strftime(key, sizeof(key), "cg:$:u:o:d:%Y%m%d", &tm);
    /* A lease of 200: the reservation of 100 and 100 left. */
    assert_int_equal(cg_budget_reserve(&cs.base, &b, "o", 100, NOW, &h),
                     CG_BUDGET_OK);
    assert_int_equal(read_counter(cs.inner, key), 200);
    cs.down = 1;
    /* 150 used: the lease pays the 50 past the reservation. */
    assert_int_equal(cg_budget_settle(&cs.base, &b, &h, 150, NOW, &left), 0);
    assert_int_equal(cg_budget_reserve(&cs.base, &b, "o", 50, NOW, &h),
                     CG_BUDGET_OK);
    /* 300 used of 50: the lease is empty; the 250 owed waits. */
    assert_int_equal(cg_budget_settle(&cs.base, &b, &h, 300, NOW, &left),
                     -1);
    assert_int_equal(left.n, 1);
    cs.down = 0;
    assert_int_equal(cg_budget_retry(&cs.base, &left), 0);
    assert_int_equal(left.n, 0);
    cg_lease_free(&l, &cs.base);
    assert_int_equal(read_counter(cs.inner, key), 150 + 300);
    cg_store_free(cs.inner);
}


/* One worker's rate windows on leases over a counting local store. */
typedef struct {
    cg_limit_cache_t  cache;
    count_store_t     cs;
    cg_limits_t       lim;
    cg_limit_hold_t   h;
    cg_limit_report_t rep;
    cg_lease_t        l;
} window_fix_t;

static window_fix_t *
window_fix(unsigned k)
{
    static window_fix_t f;
    char                err[200];

    memset(&f, 0, sizeof(f));
    f.cs.base.ops = &count_ops;
    f.cs.inner = open_local();
    assert_int_equal(cg_lease_init(&f.l, 1, NULL, err, sizeof(err)), 0);
    f.cache.lease = &f.l;
    f.lim.window = 60;
    f.lim.lease_requests = k;
    return &f;
}

static cg_limit_rc_t
window_begin(window_fix_t *f, const char *user, time_t now)
{
    return cg_ratelimit_begin(&f->cs.base, &f->cache, &f->lim, user, NULL,
                              now, &f->h, &f->rep);
}

static void
window_fix_free(window_fix_t *f)
{
    cg_lease_free(&f->l, &f->cs.base);
    cg_store_free(f->cs.inner);
}


/* A request window on leases: exactly the requests the sliding window
 * allows pass, in this window and the next, the RateLimit figures are
 * exact with one ledger, most requests cost no store call, and a lease
 * unused at the end of its bucket is given back, so it does not count
 * against the next window. */
static void
test_ratelimit_leased(void **state)
{
    window_fix_t *f = window_fix(8);
    time_t        t0 = 1000 * 60;
    char          key[64];
    int           i, ok = 0;

    (void) state;
    f->lim.rpm[CG_SCOPE_CALLER] = 20;
    while (window_begin(f, "u", t0) == CG_LIMIT_PASS) {
        assert_int_equal(f->rep.p[0].remaining, 19 - ok);
        ok++;
    }
    assert_int_equal(ok, 20);
    assert_true(f->cs.calls < 20);
    /* Early next window 20 x 50/60 of it still counts (17): 3 more. */
    for (ok = 0; window_begin(f, "u", t0 + 70) == CG_LIMIT_PASS; ok++) {
    }
    assert_int_equal(ok, 3);
    /* One request of v leases more than it uses... */
    assert_int_equal(window_begin(f, "v", t0 + 70), CG_LIMIT_PASS);
    snprintf(key, sizeof(key), "cg:r:u:v:%lld", (long long) t0 / 60 + 1);
    assert_true(read_counter(f->cs.inner, key) > 1);
    /* ...and gives the rest back once its bucket is over. */
    for (i = 0; i < 4; i++) {   /* one look a second, round robin */
        (void) window_begin(f, "w", t0 + 120 + i);
    }
    assert_int_equal(read_counter(f->cs.inner, key), 1);
    window_fix_free(f);
}


/* A token window on leases admits exactly what the per-request path
 * does (a request passes while the tokens used are under the quota, so
 * the last one may pass it by its own size), with fewer store calls than
 * requests; the store then holds exactly the tokens used. */
static void
test_tokens_leased(void **state)
{
    window_fix_t *f = window_fix(16);   /* leases of 16 x 1% of quota */
    time_t        t0 = 1000 * 60;
    char          key[64];
    int           ok = 0;

    (void) state;
    f->lim.tpm[CG_SCOPE_CALLER] = 1000;
    while (window_begin(f, "u", t0) == CG_LIMIT_PASS) {
        assert_int_equal(f->rep.p[0].remaining, 1000 - 30 * ok);
        assert_int_equal(cg_ratelimit_end(&f->cs.base, &f->lim, &f->h, 30,
                                          t0), 0);
        ok++;
    }
    assert_int_equal(ok, 34);       /* 33 x 30 = 990 < 1000: one more */
    assert_true(f->cs.calls < 34);
    cg_lease_free(&f->l, &f->cs.base);     /* gives back what is left */
    snprintf(key, sizeof(key), "cg:t:u:u:%lld", (long long) t0 / 60);
    assert_int_equal(read_counter(f->cs.inner, key), 34 * 30);
    cg_store_free(f->cs.inner);
}


/* Two workers of one host share a ledger file: the second makes no store
 * call at all for a window the first one leased and whose previous
 * bucket it read (the ledger keeps both for every worker). */
static void
test_ratelimit_shared_ledger(void **state)
{
    static cg_limit_cache_t cache[2];
    count_store_t     cs = { { &count_ops, "", 0, 0, 0 }, NULL, 0, 0 };
    cg_limits_t       lim;
    cg_limit_hold_t   h;
    cg_limit_report_t rep;
    cg_lease_t        l[2];
    cg_store_t       *ledger[2];
    time_t            t0 = 1000 * 60;
    char              err[200], lpath[80];
    int               i;

    (void) state;
    cs.inner = open_local();
    snprintf(lpath, sizeof(lpath), "%s.ledger", path);
    unlink(lpath);
    memset(&lim, 0, sizeof(lim));
    lim.rpm[CG_SCOPE_CALLER] = 100;
    lim.window = 60;
    lim.lease_requests = 8;
    for (i = 0; i < 2; i++) {
        ledger[i] = cg_store_new_local(lpath, 1024, "test", err, sizeof(err));
        assert_non_null(ledger[i]);
        assert_int_equal(cg_lease_init(&l[i], 1, ledger[i], err,
                                       sizeof(err)), 0);
        memset(&cache[i], 0, sizeof(cache[i]));
        cache[i].lease = &l[i];
    }
    assert_int_equal(cg_ratelimit_begin(&cs.base, &cache[0], &lim, "u",
                                        NULL, t0, &h, &rep), CG_LIMIT_PASS);
    assert_int_equal(cg_ratelimit_begin(&cs.base, &cache[0], &lim, "u",
                                        NULL, t0 + 60, &h, &rep),
                     CG_LIMIT_PASS);
    cs.calls = 0;
    assert_int_equal(cg_ratelimit_begin(&cs.base, &cache[1], &lim, "u",
                                        NULL, t0 + 60, &h, &rep),
                     CG_LIMIT_PASS);
    assert_int_equal(cs.calls, 0);
    assert_int_equal(rep.p[0].remaining, 100 - 2 - 1);
    for (i = 0; i < 2; i++) {
        cg_lease_free(&l[i], &cs.base);
        cg_store_free(ledger[i]);
    }
    unlink(lpath);
    cg_store_free(cs.inner);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lease_exact_one_ledger, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lease_two_ledgers_local, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lease_two_ledgers_memcached,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_many_counters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lease_list_grows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lease_private_ledger_lazy,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_leased, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_leased_overshoot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_leased, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_shared_ledger, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tokens_leased, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
