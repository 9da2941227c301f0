#include "meter/ratelimit.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

#define CG_KEY_LEN  (CG_STORE_KEY_MAX + 1)

static const char *const cg_scope_key[CG_SCOPE__COUNT] = { "u", "a", "g" };
static const char *const cg_rpm_name[CG_SCOPE__COUNT] = {
    "rpm", "addr-rpm", "global-rpm"
};
static const char *const cg_tpm_name[CG_SCOPE__COUNT] = {
    "tpm", "addr-tpm", "global-tpm"
};
static const char *const cg_route_rpm_name[CG_SCOPE__COUNT] = {
    "route-rpm", "route-addr-rpm", "route-global-rpm"
};
static const char *const cg_route_tpm_name[CG_SCOPE__COUNT] = {
    "route-tpm", "route-addr-tpm", "route-global-tpm"
};

/* The keys one request reads and writes, built once per request. */
typedef struct {
    char        rcur[CG_SCOPE__COUNT][CG_KEY_LEN];
    char        rprev[CG_SCOPE__COUNT][CG_KEY_LEN];
    char        tcur[CG_SCOPE__COUNT][CG_KEY_LEN];
    char        tprev[CG_SCOPE__COUNT][CG_KEY_LEN];
    size_t      rcur_len[CG_SCOPE__COUNT];
    const char *get[4 * CG_SCOPE__COUNT];
    size_t      get_len[4 * CG_SCOPE__COUNT];
    uint64_t    val[4 * CG_SCOPE__COUNT];
    size_t      n;
    uint64_t    rprev_val[CG_SCOPE__COUNT];
    uint64_t    rprev_hash[CG_SCOPE__COUNT];
    size_t      rprev_at[CG_SCOPE__COUNT];  /* get slot + 1; 0: cached */
    cg_lease_t *lease;                      /* NULL: no leases */
    unsigned    leased;                     /* scopes counted from it */
    unsigned    ttl;
} cg_limit_keys_t;


static int
cg_limit_window(const cg_limits_t *lim)
{
    return lim->window > 0 ? lim->window : CG_MINUTE_S;
}


static uint64_t
cg_limit_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;

    while (n--) {
        h = (h ^ (unsigned char) *s++) * 1099511628211ULL;
    }
    return h;
}


/* cg:<kind>:<scope>[@<route>]:<id>:<bucket>. A long route name and a
 * long user id together may not fit a store key: the id is then replaced
 * by its hash (#<hex>), so such a caller is still counted. */
static size_t
cg_limit_key(char *buf, char kind, cg_scope_t s, const char *ns,
             const char *id, long long bucket)
{
    int n = snprintf(buf, CG_KEY_LEN, "cg:%c:%s%s%s:%s:%lld", kind,
                     cg_scope_key[s], ns ? "@" : "", ns ? ns : "", id,
                     bucket);

    if (n >= CG_KEY_LEN) {
        n = snprintf(buf, CG_KEY_LEN, "cg:%c:%s%s%s:#%016llx:%lld", kind,
                     cg_scope_key[s], ns ? "@" : "", ns ? ns : "",
                     (unsigned long long) cg_limit_hash(id, strlen(id)),
                     bucket);
    }
    return n < 0 || n >= CG_KEY_LEN ? 0 : (size_t) n;
}


/* The previous request bucket from the worker's cache; 0 on a miss. */
static int
cg_limit_cached(const cg_limit_cache_t *c, uint64_t h, long long bucket,
                uint64_t *value)
{
    size_t i = h % CG_LIMIT_CACHE;

    if (c && c->hash[i] == h && c->bucket[i] == bucket) {
        *value = c->value[i];
        return 1;
    }
    return 0;
}


static void
cg_limit_remember(cg_limit_cache_t *c, uint64_t h, long long bucket,
                  uint64_t value)
{
    size_t i = h % CG_LIMIT_CACHE;

    if (c) {
        c->hash[i] = h;
        c->bucket[i] = bucket;
        c->value[i] = value;
    }
}


/* Queues key for the one get_multi; returns its slot. */
static size_t
cg_limit_want(cg_limit_keys_t *k, const char *key, size_t len)
{
    k->get[k->n] = key;
    k->get_len[k->n] = len;
    return k->n++;
}


/* The sliding estimate: all of this window plus the part of the previous
 * one that the sliding window still covers, rounded up (strict). */
static long
cg_limit_estimate(uint64_t cur, uint64_t prev, int w, int elapsed)
{
    return (long) (cur + (prev * (uint64_t) (w - elapsed) + (uint64_t) w - 1)
                         / (uint64_t) w);
}


static void
cg_limit_note(cg_limit_report_t *rep, const char *name, long quota,
              long used, int w, int reset, int over)
{
    cg_limit_info_t *p;

    if (rep->n >= CG_LIMIT_POLICIES) {
        return;
    }
    p = &rep->p[rep->n];
    p->name = name;
    p->quota = quota;
    p->remaining = used >= quota ? 0 : quota - used;
    p->used = used;
    p->window = w;
    p->reset = reset;
    if (over && rep->over < 0) {
        rep->over = rep->n;
    }
    rep->n++;
}


static void
cg_limit_ids(const cg_limits_t *lim, const char *caller, const char *addr,
             cg_limit_hold_t *h)
{
    const char *ids[CG_SCOPE__COUNT] = { caller, addr, "*" };
    int         s;

    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        h->id[s] = (ids[s] && ids[s][0] && (lim->rpm[s] > 0
                    || lim->tpm[s] > 0)) ? ids[s] : NULL;
    }
}


/* Gives back the request counts taken before a refusal. */
static void
cg_limit_undo(cg_store_t *st, cg_limit_keys_t *k, int upto)
{
    cg_lease_ctr_t c;
    uint64_t       v;
    int            s;

    for (s = 0; s < upto; s++) {
        if (k->rcur_len[s] && (k->leased & (1u << s))) {
            /* Back to the lease, which took it. */
            c = (cg_lease_ctr_t) { k->rcur[s], k->rcur_len[s], k->ttl, 0,
                                   0, 0 };
            (void) cg_lease_settle(k->lease, st, &c, 1, 0, &v);
        } else if (k->rcur_len[s]) {
            (void) cg_store_decr(st, k->rcur[s], k->rcur_len[s], 1, &v);
        }
    }
    k->leased = 0;
}


/* Counts one request in bucket s from the lease: its cap is the limit
 * less the previous window's share now (which only shrinks while the
 * bucket is current, so a unit leased earlier is still within it).
 * Returns what the incr would: 0 and *cur, 1 when over, -1 store down. */
static int
cg_limit_lease(cg_store_t *st, const cg_limits_t *lim, cg_limit_keys_t *k,
               int s, time_t now, uint64_t *cur)
{
    int            w = cg_limit_window(lim), el = (int) (now % w);
    long           share = cg_limit_estimate(0, k->rprev_val[s], w, el);
    cg_lease_ctr_t c = { k->rcur[s], k->rcur_len[s], k->ttl,
                         lim->rpm[s] > share
                         ? (uint64_t) (lim->rpm[s] - share) : 0,
                         lim->lease_requests, (unsigned) (w - el) };

    switch (cg_lease_take(k->lease, st, &c, 1, now, cur)) {
    case CG_LEASE_OK:
        k->leased |= 1u << s;
        return 0;
    case CG_LEASE_OVER:
        return 1;
    default:
        return -1;
    }
}


/* Finds the previous request buckets in the worker's cache, else (with
 * leases) in the memo the host's workers share, or queues them. */
static void
cg_limit_prev(cg_limit_cache_t *cache, cg_limit_hold_t *h, int s,
              cg_limit_keys_t *k)
{
    size_t len = cg_limit_key(k->rprev[s], 'r', s, h->ns, h->id[s],
                              h->bucket - 1);

    k->rprev_hash[s] = cg_limit_hash(k->rprev[s], len);
    if (cg_limit_cached(cache, k->rprev_hash[s], h->bucket - 1,
                        &k->rprev_val[s])) {
        return;
    }
    if (cg_lease_memo_get(k->lease, k->rprev[s], len, &k->rprev_val[s])) {
        cg_limit_remember(cache, k->rprev_hash[s], h->bucket - 1,
                          k->rprev_val[s]);
        return;
    }
    k->rprev_at[s] = cg_limit_want(k, k->rprev[s], len) + 1;
}


static cg_limit_rc_t
cg_limit_rates(cg_store_t *st, cg_limit_cache_t *cache,
               const cg_limits_t *lim, cg_limit_hold_t *h, time_t now,
               cg_limit_keys_t *k, cg_limit_report_t *rep)
{
    int       w = cg_limit_window(lim), el = (int) (now % w), s, over = 0;
    int       rc;
    size_t    tc[CG_SCOPE__COUNT], tp[CG_SCOPE__COUNT];
    size_t    len;
    uint64_t  cur;
    long      est;

    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (h->id[s] && lim->rpm[s] > 0) {
            k->rcur_len[s] = cg_limit_key(k->rcur[s], 'r', s, h->ns,
                                          h->id[s], h->bucket);
            cg_limit_prev(cache, h, s, k);
        }
        if (h->id[s] && lim->tpm[s] > 0) {
            len = cg_limit_key(k->tcur[s], 't', s, h->ns, h->id[s],
                               h->bucket);
            tc[s] = cg_limit_want(k, k->tcur[s], len);
            len = cg_limit_key(k->tprev[s], 't', s, h->ns, h->id[s],
                               h->bucket - 1);
            tp[s] = cg_limit_want(k, k->tprev[s], len);
        }
    }
    if (k->n && cg_store_get_multi(st, k->get, k->get_len, k->n, k->val)) {
        return CG_LIMIT_STORE_DOWN;
    }
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (k->rprev_at[s]) {
            k->rprev_val[s] = k->val[k->rprev_at[s] - 1];
            cg_limit_remember(cache, k->rprev_hash[s], h->bucket - 1,
                              k->rprev_val[s]);
            cg_lease_memo_put(k->lease, k->rprev[s],
                              k->get_len[k->rprev_at[s] - 1],
                              k->rprev_val[s], (unsigned) w + 5);
        }
    }
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (k->rcur_len[s] == 0) {
            continue;
        }
        /* Two windows and a little: the bucket is read as "previous"
         * during the next window. */
        k->ttl = (unsigned) (2 * w + 5);
        rc = k->lease ? cg_limit_lease(st, lim, k, s, now, &cur)
                      : cg_store_incr(st, k->rcur[s], k->rcur_len[s], 1,
                                      k->ttl, &cur);
        if (rc < 0) {
            k->rcur_len[s] = 0;
            cg_limit_undo(st, k, s);
            return CG_LIMIT_STORE_DOWN;
        }
        if (rc > 0) {
            /* Over, and nothing taken for it. */
            k->rcur_len[s] = 0;
            est = lim->rpm[s] + 1;
        } else {
            est = cg_limit_estimate(cur, k->rprev_val[s], w, el);
        }
        over |= est > lim->rpm[s];
        cg_limit_note(rep, (lim->ns ? cg_route_rpm_name : cg_rpm_name)[s],
                      lim->rpm[s], est, w, w - el,
                      est > lim->rpm[s]);
    }
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (h->id[s] && lim->tpm[s] > 0) {
            est = cg_limit_estimate(k->val[tc[s]], k->val[tp[s]], w, el);
            over |= est >= lim->tpm[s];
            cg_limit_note(rep, (lim->ns ? cg_route_tpm_name : cg_tpm_name)[s],
                          lim->tpm[s], est, w, w - el,
                          est >= lim->tpm[s]);
        }
    }
    if (over) {
        cg_limit_undo(st, k, CG_SCOPE__COUNT);
        return CG_LIMIT_OVER;
    }
    return CG_LIMIT_PASS;
}


static cg_limit_rc_t
cg_limit_inflight(cg_store_t *st, const cg_limits_t *lim, const char *caller,
                  cg_limit_hold_t *h, cg_limit_report_t *rep)
{
    char      key[CG_KEY_LEN];
    size_t    len = cg_limit_key(key, 'c', CG_SCOPE_CALLER, h->ns, caller,
                                 0);
    uint64_t  n;

    /* The expiry is the safety net for a worker that died holding a
     * slot: the count is lost at most inflight_ttl after it was made. */
    if (cg_store_incr(st, key, len, 1, (unsigned) lim->inflight_ttl,
                      &n) != 0) {
        return CG_LIMIT_STORE_DOWN;
    }
    cg_limit_note(rep, "concurrency", lim->concurrent, (long) n, 0, 1,
                  (long) n > lim->concurrent);
    if ((long) n > lim->concurrent) {
        (void) cg_store_decr(st, key, len, 1, &n);
        return CG_LIMIT_OVER;
    }
    h->caller = caller;
    return CG_LIMIT_PASS;
}


cg_limit_rc_t
cg_ratelimit_begin(cg_store_t *st, cg_limit_cache_t *cache,
                   const cg_limits_t *lim, const char *caller, const char *addr,
                   time_t now, cg_limit_hold_t *h, cg_limit_report_t *rep)
{
    cg_limit_keys_t  k;
    cg_limit_rc_t    rc;

    memset(h, 0, sizeof(*h));
    memset(&k, 0, sizeof(k));
    rep->n = 0;
    rep->over = -1;
    h->bucket = (long long) now / cg_limit_window(lim);
    h->ns = lim->ns;
    cg_limit_ids(lim, caller, addr, h);
    if (cache && cg_lease_on(cache->lease) && lim->lease_requests > 0) {
        k.lease = cache->lease;
        cg_lease_sweep(k.lease, st, now);
    }
    rc = cg_limit_rates(st, cache, lim, h, now, &k, rep);
    if (rc == CG_LIMIT_PASS && lim->concurrent > 0 && caller && caller[0]) {
        rc = cg_limit_inflight(st, lim, caller, h, rep);
        if (rc != CG_LIMIT_PASS) {
            cg_limit_undo(st, &k, CG_SCOPE__COUNT);
        }
    }
    if (rc != CG_LIMIT_PASS) {
        h->id[CG_SCOPE_CALLER] = h->id[CG_SCOPE_ADDR] = NULL;
        h->id[CG_SCOPE_GLOBAL] = NULL;
    }
    return rc;
}


int
cg_ratelimit_end(cg_store_t *st, const cg_limits_t *lim, cg_limit_hold_t *h,
                 long tokens, time_t now)
{
    char      key[CG_KEY_LEN];
    size_t    len;
    uint64_t  v;
    int       s, rc = 0, w = cg_limit_window(lim);

    (void) now;
    for (s = 0; s < CG_SCOPE__COUNT && tokens > 0; s++) {
        if (h->id[s] && lim->tpm[s] > 0) {
            /* Counted in the window the request started in, so a long
             * answer cannot dodge the window it was admitted by. */
            len = cg_limit_key(key, 't', s, h->ns, h->id[s], h->bucket);
            rc |= cg_store_incr(st, key, len, (uint64_t) tokens,
                                (unsigned) (2 * w + 5), &v);
        }
    }
    if (h->caller) {
        len = cg_limit_key(key, 'c', CG_SCOPE_CALLER, h->ns, h->caller, 0);
        rc |= cg_store_decr(st, key, len, 1, &v);
        h->caller = NULL;
    }
    memset(h->id, 0, sizeof(h->id));
    return rc;
}
