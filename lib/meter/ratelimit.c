#include "meter/ratelimit.h"
#include "core/kbuf.h"
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
    uint64_t    tprev_val[CG_SCOPE__COUNT];
    uint64_t    tprev_hash[CG_SCOPE__COUNT];
    size_t      tprev_at[CG_SCOPE__COUNT];
    size_t      tcur_len[CG_SCOPE__COUNT];
    cg_lease_t *lease;                      /* NULL: no leases */
    unsigned    leased;                     /* scopes counted from it */
    unsigned    tleased;                    /* token units taken from it */
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


/* "cg:<kind>:<scope>[@<route>]:", the part before the id. */
static void
cg_limit_key_head(cg_kbuf_t *k, char *buf, char kind, cg_scope_t s,
                  const char *ns)
{
    cg_kbuf_init(k, buf, CG_KEY_LEN);
    cg_kbuf_mem(k, "cg:", 3);
    cg_kbuf_chr(k, kind);
    cg_kbuf_chr(k, ':');
    cg_kbuf_str(k, cg_scope_key[s]);
    if (ns) {
        cg_kbuf_chr(k, '@');
        cg_kbuf_str(k, ns);
    }
    cg_kbuf_chr(k, ':');
}


/* cg:<kind>:<scope>[@<route>]:<id>:<bucket>. A long route name and a
 * long user id together may not fit a store key: the id is then replaced
 * by its hash (#<hex>), so such a caller is still counted. */
static size_t
cg_limit_key(char *buf, char kind, cg_scope_t s, const char *ns,
             const char *id, long long bucket)
{
    cg_kbuf_t k;
    size_t    n;

    cg_limit_key_head(&k, buf, kind, s, ns);
    cg_kbuf_str(&k, id);
    cg_kbuf_chr(&k, ':');
    cg_kbuf_ll(&k, bucket);
    if ((n = cg_kbuf_end(&k)) == 0) {
        cg_limit_key_head(&k, buf, kind, s, ns);
        cg_kbuf_chr(&k, '#');
        cg_kbuf_hex64(&k, cg_limit_hash(id, strlen(id)));
        cg_kbuf_chr(&k, ':');
        cg_kbuf_ll(&k, bucket);
        n = cg_kbuf_end(&k);
    }
    return n;
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
    /* Token units are taken after every request scope: a refusal gives
     * back all of them. */
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (k->tleased & (1u << s)) {
            c = (cg_lease_ctr_t) { k->tcur[s], k->tcur_len[s], k->ttl, 0,
                                   0, 0, 0 };
            (void) cg_lease_settle(k->lease, st, &c, 1, 0, &v);
        }
    }
    k->leased = 0;
    k->tleased = 0;
}


/* One unit of the window (key, limit, the previous window's count) from
 * the lease: the cap is the limit less the previous window's share now,
 * which only shrinks while the bucket is current, so a unit leased
 * earlier is still within it. unit sizes the lease (0: one request).
 * Returns what the incr would: 0 and *cur (the bucket as this ledger
 * knows it, the unit included), 1 when over, -1 store down. */
static int
cg_limit_lease(cg_store_t *st, const cg_limits_t *lim, cg_limit_keys_t *k,
               const char *key, size_t len, long limit, uint64_t prev,
               uint64_t unit, time_t now, uint64_t *cur)
{
    int            w = cg_limit_window(lim), el = (int) (now % w);
    long           share = cg_limit_estimate(0, prev, w, el);
    cg_lease_ctr_t c = { key, len, k->ttl,
                         limit > share ? (uint64_t) (limit - share) : 0,
                         lim->lease_requests, (unsigned) (w - el), unit };

    switch (cg_lease_take(k->lease, st, &c, 1, now, cur)) {
    case CG_LEASE_OK:
        return 0;
    case CG_LEASE_OVER:
        return 1;
    default:
        return -1;
    }
}


/* A request counted from the lease of bucket s. */
static int
cg_limit_request_lease(cg_store_t *st, const cg_limits_t *lim,
                       cg_limit_keys_t *k, int s, time_t now, uint64_t *cur)
{
    int rc = cg_limit_lease(st, lim, k, k->rcur[s], k->rcur_len[s],
                            lim->rpm[s], k->rprev_val[s], 0, now, cur);

    k->leased |= rc == 0 ? 1u << s : 0;
    return rc;
}


/* A finished bucket (key, of bucket b) from the worker's cache, else
 * (with leases) from the memo the host's workers share, else queued for
 * the get_multi (*at = its slot + 1). */
static void
cg_limit_finished(cg_limit_cache_t *cache, cg_limit_keys_t *k,
                  const char *key, size_t len, long long b, uint64_t *val,
                  uint64_t *hash, size_t *at)
{
    *hash = cg_limit_hash(key, len);
    if (cg_limit_cached(cache, *hash, b, val)) {
        return;
    }
    if (cg_lease_memo_get(k->lease, key, len, val)) {
        cg_limit_remember(cache, *hash, b, *val);
        return;
    }
    *at = cg_limit_want(k, key, len) + 1;
}


/* What the get_multi read for a finished bucket, kept for next time. */
static void
cg_limit_finished_read(cg_limit_cache_t *cache, cg_limit_keys_t *k,
                       const char *key, long long b, int w, uint64_t *val,
                       uint64_t hash, size_t at)
{
    if (at == 0) {
        return;
    }
    *val = k->val[at - 1];
    cg_limit_remember(cache, hash, b, *val);
    cg_lease_memo_put(k->lease, key, k->get_len[at - 1], *val,
                      (unsigned) w + 5);
}


/* Takes the admission's one token unit from the lease of the current
 * token bucket, whose cap is the quota less the previous window's share
 * now: a request passes while the window has a unit left, as it passes
 * today while the tokens used are under the quota. The unit is one of
 * the request's tokens, settled with the rest after the call. Returns
 * 0 and *cur (the bucket as this ledger knows it, less the unit), 1 when
 * the quota is reached, -1 when the store did not answer. */
static int
cg_limit_token_lease(cg_store_t *st, const cg_limits_t *lim,
                     cg_limit_keys_t *k, int s, time_t now, uint64_t *cur)
{
    int rc = cg_limit_lease(st, lim, k, k->tcur[s], k->tcur_len[s],
                            lim->tpm[s], k->tprev_val[s],
                            lim->tpm[s] / 100 > 0
                            ? (uint64_t) lim->tpm[s] / 100 : 1, now, cur);

    if (rc == 0) {
        k->tleased |= 1u << s;
        *cur = *cur > 0 ? *cur - 1 : 0;
    }
    return rc;
}


/* The token windows: the estimate from the get_multi's reads, or with
 * leases from the ledger (a unit taken). Returns 1 when one is over, 0
 * when none is, -1 when the store did not answer. */
static int
cg_limit_tokens(cg_store_t *st, const cg_limits_t *lim, cg_limit_hold_t *h,
                time_t now, cg_limit_keys_t *k, const size_t *tc,
                cg_limit_report_t *rep)
{
    int       w = cg_limit_window(lim), el = (int) (now % w), s, rc, over = 0;
    uint64_t  cur;
    long      est;

    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (!h->id[s] || lim->tpm[s] <= 0) {
            continue;
        }
        rc = 0;
        cur = k->lease ? 0 : k->val[tc[s]];
        if (k->lease && (rc = cg_limit_token_lease(st, lim, k, s, now,
                                                   &cur)) < 0) {
            return -1;
        }
        est = rc > 0 ? lim->tpm[s]
                     : cg_limit_estimate(cur, k->tprev_val[s], w, el);
        over |= est >= lim->tpm[s];
        cg_limit_note(rep, (lim->ns ? cg_route_tpm_name : cg_tpm_name)[s],
                      lim->tpm[s], est, w, w - el, est >= lim->tpm[s]);
    }
    return over;
}


static cg_limit_rc_t
cg_limit_rates(cg_store_t *st, cg_limit_cache_t *cache,
               const cg_limits_t *lim, cg_limit_hold_t *h, time_t now,
               cg_limit_keys_t *k, cg_limit_report_t *rep)
{
    int       w = cg_limit_window(lim), el = (int) (now % w), s, over = 0;
    int       rc;
    size_t    tc[CG_SCOPE__COUNT];
    size_t    len;
    uint64_t  cur;
    long      est;

    /* Two windows and a little: a bucket is read as "previous" during
     * the next window. */
    k->ttl = (unsigned) (2 * w + 5);
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (h->id[s] && lim->rpm[s] > 0) {
            k->rcur_len[s] = cg_limit_key(k->rcur[s], 'r', s, h->ns,
                                          h->id[s], h->bucket);
            len = cg_limit_key(k->rprev[s], 'r', s, h->ns, h->id[s],
                               h->bucket - 1);
            cg_limit_finished(cache, k, k->rprev[s], len, h->bucket - 1,
                              &k->rprev_val[s], &k->rprev_hash[s],
                              &k->rprev_at[s]);
        }
        if (h->id[s] && lim->tpm[s] > 0) {
            k->tcur_len[s] = cg_limit_key(k->tcur[s], 't', s, h->ns,
                                          h->id[s], h->bucket);
            if (!k->lease) {
                tc[s] = cg_limit_want(k, k->tcur[s], k->tcur_len[s]);
            }
            len = cg_limit_key(k->tprev[s], 't', s, h->ns, h->id[s],
                               h->bucket - 1);
            /* Without leases the previous token bucket is read each
             * time, as it always was (no cache: a worker kept only
             * request buckets). */
            if (k->lease) {
                cg_limit_finished(cache, k, k->tprev[s], len,
                                  h->bucket - 1, &k->tprev_val[s],
                                  &k->tprev_hash[s], &k->tprev_at[s]);
            } else {
                k->tprev_at[s] = cg_limit_want(k, k->tprev[s], len) + 1;
            }
        }
    }
    if (k->n && cg_store_get_multi(st, k->get, k->get_len, k->n, k->val)) {
        return CG_LIMIT_STORE_DOWN;
    }
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        cg_limit_finished_read(cache, k, k->rprev[s], h->bucket - 1, w,
                               &k->rprev_val[s], k->rprev_hash[s],
                               k->rprev_at[s]);
        if (k->lease) {
            cg_limit_finished_read(cache, k, k->tprev[s], h->bucket - 1, w,
                                   &k->tprev_val[s], k->tprev_hash[s],
                                   k->tprev_at[s]);
        } else if (k->tprev_at[s]) {
            k->tprev_val[s] = k->val[k->tprev_at[s] - 1];
        }
    }
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (k->rcur_len[s] == 0) {
            continue;
        }
        rc = k->lease ? cg_limit_request_lease(st, lim, k, s, now, &cur)
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
    if ((rc = cg_limit_tokens(st, lim, h, now, k, tc, rep)) < 0) {
        cg_limit_undo(st, k, CG_SCOPE__COUNT);
        return CG_LIMIT_STORE_DOWN;
    }
    over |= rc;
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
    } else {
        h->tleased = k.tleased;
        h->lease = k.lease;
    }
    return rc;
}


int
cg_ratelimit_end(cg_store_t *st, const cg_limits_t *lim, cg_limit_hold_t *h,
                 long tokens, time_t now)
{
    char           key[CG_KEY_LEN];
    cg_lease_ctr_t c;
    size_t         len;
    uint64_t       v;
    int            s, rc = 0, w = cg_limit_window(lim);

    (void) now;
    for (s = 0; s < CG_SCOPE__COUNT; s++) {
        if (!h->id[s] || lim->tpm[s] <= 0) {
            continue;
        }
        /* Counted in the window the request started in, so a long
         * answer cannot dodge the window it was admitted by. */
        len = cg_limit_key(key, 't', s, h->ns, h->id[s], h->bucket);
        if (h->tleased & (1u << s)) {
            /* The unit taken at admission, settled to the tokens used:
             * from the lease, and in the store for what it lacks. */
            c = (cg_lease_ctr_t) { key, len, (unsigned) (2 * w + 5), 0, 0,
                                   0, 0 };
            rc |= cg_lease_settle(h->lease, st, &c, 1,
                                  tokens > 0 ? (uint64_t) tokens : 0, &v);
        } else if (tokens > 0) {
            rc |= cg_store_incr(st, key, len, (uint64_t) tokens,
                                (unsigned) (2 * w + 5), &v);
        }
    }
    h->tleased = 0;
    if (h->caller) {
        len = cg_limit_key(key, 'c', CG_SCOPE_CALLER, h->ns, h->caller, 0);
        rc |= cg_store_decr(st, key, len, 1, &v);
        h->caller = NULL;
    }
    memset(h->id, 0, sizeof(h->id));
    return rc;
}
