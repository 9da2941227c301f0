#include "meter/lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A ledger record: what is left of the lease, when it is given back,
 * the store's count last seen. Counters of the ledger's own local store,
 * named after the store counter they lease. */
enum { CG_LREC_LEFT = 0, CG_LREC_UNTIL, CG_LREC_SEEN, CG_LREC__N };

#define CG_LREC_KEY  (CG_STORE_KEY_MAX + 8)
/* A record lives this long after its last change: past the lease's own
 * life, and past the round of looks that gives an expired one back
 * (CG_LEASE_TRACK keys, CG_LEASE_LOOKS a second). */
#define CG_LREC_TTL  (3 * CG_LEASE_LIFE_S)
/* Records looked at per second for an expired lease. */
#define CG_LEASE_LOOKS  16

typedef struct {
    char        text[CG_LREC__N][CG_LREC_KEY];
    const char *key[CG_LREC__N];
    size_t      len[CG_LREC__N];
} cg_lrec_t;

/* What one locked step of the ledger does (see cg_lease_step). */
typedef struct {
    uint64_t    add;        /* units back to the lease */
    int         grant;      /* add is a new lease: seen, until set */
    uint64_t    seen;       /* with grant: the store's count now */
    uint64_t    take;       /* units asked */
    uint64_t    debt;       /* units used past a reservation */
    time_t      now;
    unsigned    life;       /* with grant: seconds the lease lives */
    int         give_all;   /* empty the lease (expired or shutdown) */
    int         give_short; /* empty it when take does not fit */
    uint64_t    left;       /* out: units left before take */
    uint64_t    given;      /* out: units to give back to the store */
    uint64_t    owed;       /* out: debt the lease could not pay */
    uint64_t    was_seen;   /* out */
} cg_lstep_t;


/* The record's counters are named <c>|<store key>: the counter's own
 * name, never a hash of it, so no caller can pick an id whose record
 * is another caller's. */
static void
cg_lrec_keys(cg_lrec_t *r, const char *key, size_t keylen)
{
    static const char c[CG_LREC__N] = { 'l', 'u', 's' };
    int               i;

    for (i = 0; i < CG_LREC__N; i++) {
        r->text[i][0] = c[i];
        r->text[i][1] = '|';
        memcpy(r->text[i] + 2, key, keylen);
        r->key[i] = r->text[i];
        r->len[i] = keylen + 2;
    }
}


static int
cg_lease_apply(uint64_t *v, void *ctx)
{
    cg_lstep_t *s = ctx;
    uint64_t    pay;

    v[CG_LREC_LEFT] += s->add;
    if (s->grant) {
        v[CG_LREC_SEEN] = s->seen;
        if (v[CG_LREC_UNTIL] <= (uint64_t) s->now) {
            v[CG_LREC_UNTIL] = (uint64_t) s->now + s->life;
        }
    }
    pay = s->debt < v[CG_LREC_LEFT] ? s->debt : v[CG_LREC_LEFT];
    v[CG_LREC_LEFT] -= pay;
    s->owed = s->debt - pay;
    s->left = v[CG_LREC_LEFT];
    s->was_seen = v[CG_LREC_SEEN];
    if (s->give_all || (s->now > 0 && v[CG_LREC_UNTIL] > 0
                        && v[CG_LREC_UNTIL] <= (uint64_t) s->now
                        && s->take == 0)) {
        /* Nothing is left: the record of zeros is freed. */
        s->given = v[CG_LREC_LEFT];
        v[CG_LREC_LEFT] = 0;
        v[CG_LREC_UNTIL] = 0;
        v[CG_LREC_SEEN] = 0;
        return 0;
    }
    if (s->take > 0 && v[CG_LREC_LEFT] >= s->take) {
        v[CG_LREC_LEFT] -= s->take;
        return 1;
    }
    if (s->give_short) {
        s->given = v[CG_LREC_LEFT];
        v[CG_LREC_LEFT] = v[CG_LREC_UNTIL] = v[CG_LREC_SEEN] = 0;
    }
    return 0;
}


/* One step on the record of key, as one change under the ledger's lock:
 * 1 when s->take was taken, 0 when not, -1 when the ledger failed. */
static int
cg_lease_step(cg_lease_t *l, const char *key, size_t keylen, cg_lstep_t *s)
{
    cg_lrec_t r;

    cg_lrec_keys(&r, key, keylen);
    return cg_store_local_update(l->ledger, r.key, r.len, CG_LREC__N,
                                 CG_LREC_TTL, cg_lease_apply, s);
}


int
cg_lease_init(cg_lease_t *l, unsigned ledgers, cg_store_t *ledger,
              char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->ledgers = ledgers > 0 ? ledgers : 1;
    l->ledger = ledger;
    if (l->ledger == NULL) {
        l->ledger = cg_store_new_local(NULL, CG_LEASE_SLOTS, NULL, err,
                                       errlen);
        l->own = 1;
    }
    return l->ledger ? 0 : -1;
}


int
cg_lease_on(const cg_lease_t *l)
{
    return l && l->ledger != NULL;
}


/* Gives units back to the store; a DECR that is not answered leaves
 * them counted there, which only makes the cap stricter. */
static void
cg_lease_give(cg_store_t *st, const char *key, size_t keylen, uint64_t n)
{
    uint64_t v;

    if (n > 0) {
        (void) cg_store_decr(st, key, keylen, n, &v);
    }
}


/* Gives back what the lease of k holds unused: all of it (now 0), or
 * only once it has expired. */
static void
cg_lease_give_back(cg_lease_t *l, cg_store_t *st, const cg_lease_key_t *k,
                   time_t now)
{
    cg_lease_key_t own = *k;    /* the list may move while the DECR waits */
    cg_lstep_t     s;

    memset(&s, 0, sizeof(s));
    s.give_all = now == 0;
    s.now = now;
    if (cg_lease_step(l, own.key, own.len, &s) >= 0) {
        cg_lease_give(st, own.key, own.len, s.given);
    }
}


void
cg_lease_free(cg_lease_t *l, cg_store_t *st)
{
    size_t i;

    for (i = 0; cg_lease_on(l) && st && i < l->ntook; i++) {
        cg_lease_give_back(l, st, &l->took[i], 0);
    }
    if (l->own) {
        cg_store_free(l->ledger);
    }
    free(l->took);
    memset(l, 0, sizeof(*l));
}


/* Room for one more remembered key: 0 when the list is full (or cannot
 * grow), and then the caller gives a lease back to make room. */
static int
cg_lease_room(cg_lease_t *l)
{
    cg_lease_key_t *t;
    size_t          cap;

    if (l->ntook < l->cap) {
        return 1;
    }
    if (l->cap == CG_LEASE_TRACK) {
        return 0;
    }
    cap = l->cap ? 2 * l->cap : 4;
    cap = cap < CG_LEASE_TRACK ? cap : CG_LEASE_TRACK;
    t = realloc(l->took, cap * sizeof(*t));
    if (t == NULL) {
        return 0;
    }
    l->took = t;
    l->cap = cap;
    return 1;
}


/* Remembers key, leased by this meter, to give back what is unused at
 * expiry and shutdown (a record leased by another worker of a shared
 * ledger is that worker's to give back). A full list gives the oldest's
 * lease back now and forgets it, so no lease is left with nobody to give
 * it back. Looked up on a grant only, never on a plain take. */
static void
cg_lease_track(cg_lease_t *l, cg_store_t *st, const char *key,
               size_t keylen)
{
    cg_lease_key_t *k;
    size_t          i;

    for (i = 0; i < l->ntook; i++) {
        if (l->took[i].len == keylen
            && memcmp(l->took[i].key, key, keylen) == 0) {
            return;
        }
    }
    if (!cg_lease_room(l)) {
        if (l->ntook == 0) {        /* out of memory: nothing to forget */
            cg_lease_key_t one;

            memcpy(one.key, key, keylen);
            one.key[keylen] = '\0';
            one.len = keylen;
            cg_lease_give_back(l, st, &one, 0);
            return;
        }
        cg_lease_give_back(l, st, &l->took[0], 0);
        memmove(l->took, l->took + 1, (l->ntook - 1) * sizeof(*k));
        l->ntook--;
    }
    k = &l->took[l->ntook++];
    memcpy(k->key, key, keylen);
    k->key[keylen] = '\0';
    k->len = keylen;
}


/* The next lease: k x amount, at most a share of the headroom left,
 * never less than need. */
static uint64_t
cg_lease_size(const cg_lease_t *l, const cg_lease_ctr_t *c, uint64_t seen,
              uint64_t amount, uint64_t need)
{
    uint64_t head = c->cap > seen ? c->cap - seen : 0;
    uint64_t share = head / ((uint64_t) l->ledgers * 4);
    uint64_t want = (c->unit > 0 ? c->unit : amount)
                    * (c->requests > 0 ? c->requests : 1);

    want = want < share ? want : share;
    return want > need ? want : need;
}


/* One INCR of the store counter by n. *back: the part past the cap,
 * which the ledger must not keep (the caller gives it back); *seen: the
 * count without it. */
static int
cg_lease_grant(cg_store_t *st, const cg_lease_ctr_t *c, uint64_t n,
               uint64_t *back, uint64_t *seen)
{
    uint64_t v;

    if (cg_store_incr(st, c->key, c->len, n, c->ttl, &v) != 0) {
        return -1;
    }
    *back = v > c->cap ? v - c->cap : 0;
    *back = *back < n ? *back : n;
    *seen = v - *back;
    return 0;
}


static uint64_t
cg_lease_known(const cg_lstep_t *s)
{
    return s->was_seen > s->left ? s->was_seen - s->left : 0;
}


cg_lease_rc_t
cg_lease_take(cg_lease_t *l, cg_store_t *st, const cg_lease_ctr_t *c,
              uint64_t amount, time_t now, uint64_t *seen)
{
    cg_lstep_t s;
    uint64_t   n, back;
    int        rc;

    memset(&s, 0, sizeof(s));
    s.take = amount;
    rc = cg_lease_step(l, c->key, c->len, &s);
    if (rc != 0) {
        s.left -= rc > 0 ? amount : 0;
        *seen = cg_lease_known(&s);
        return rc < 0 ? CG_LEASE_STORE_DOWN : CG_LEASE_OK;
    }
    n = cg_lease_size(l, c, s.was_seen, amount, amount - s.left);
    memset(&s, 0, sizeof(s));
    s.take = amount;
    s.now = now;
    s.grant = 1;
    s.life = c->life > 0 && c->life < CG_LEASE_LIFE_S ? c->life
                                                      : CG_LEASE_LIFE_S;
    if (cg_lease_grant(st, c, n, &back, &s.seen) != 0) {
        return CG_LEASE_STORE_DOWN;
    }
    s.add = n - back;
    /* Should the cap be reached, what this ledger holds cannot serve the
     * request, but another ledger's might: all of it goes back, in the
     * DECR that gives back what passed the cap. */
    s.give_short = 1;
    cg_lease_track(l, st, c->key, c->len);
    rc = cg_lease_step(l, c->key, c->len, &s);
    if (rc < 0) {
        /* The ledger has no room for it: give it back now. */
        cg_lease_give(st, c->key, c->len, n);
        *seen = s.seen;
        return CG_LEASE_STORE_DOWN;
    }
    cg_lease_give(st, c->key, c->len, back + s.given);
    s.left -= rc > 0 ? amount : 0;
    *seen = rc > 0 ? cg_lease_known(&s) : s.seen;
    return rc > 0 ? CG_LEASE_OK : CG_LEASE_OVER;
}


int
cg_lease_settle(cg_lease_t *l, cg_store_t *st, const cg_lease_ctr_t *c,
                uint64_t reserved, uint64_t used, uint64_t *owed)
{
    cg_lstep_t s;
    uint64_t   v;

    memset(&s, 0, sizeof(s));
    *owed = used > reserved ? used - reserved : 0;
    if (used < reserved) {
        /* What a reservation did not use goes back to the lease. Should
         * the ledger fail, it stays counted in the store: stricter,
         * never looser. */
        s.add = reserved - used;
        (void) cg_lease_step(l, c->key, c->len, &s);
        return 0;
    }
    if (*owed == 0) {
        return 0;
    }
    s.debt = *owed;
    if (cg_lease_step(l, c->key, c->len, &s) >= 0) {
        *owed = s.owed;
    }
    if (*owed > 0 && cg_store_incr(st, c->key, c->len, *owed, c->ttl, &v)
        != 0) {
        return -1;
    }
    *owed = 0;
    return 0;
}


void
cg_lease_sweep(cg_lease_t *l, cg_store_t *st, time_t now)
{
    int i;

    /* Once a second at most: each look costs a lock of the ledger. */
    if (!cg_lease_on(l) || l->ntook == 0 || now == l->swept) {
        return;
    }
    l->swept = now;
    for (i = 0; i < CG_LEASE_LOOKS && (size_t) i < l->ntook; i++) {
        cg_lease_give_back(l, st, &l->took[l->sweep++ % l->ntook], now);
    }
}


/* Memos are named m|<key> and hold value + 1 (0: none). */
static size_t
cg_lease_memo_key(char *buf, const char *key, size_t len)
{
    if (len > CG_STORE_KEY_MAX) {
        return 0;
    }
    buf[0] = 'm';
    buf[1] = '|';
    memcpy(buf + 2, key, len);
    return len + 2;
}


int
cg_lease_memo_get(const cg_lease_t *l, const char *key, size_t len,
                  uint64_t *value)
{
    char        buf[CG_LREC_KEY];
    const char *k = buf;
    size_t      n;
    uint64_t    v = 0;

    if (!cg_lease_on(l) || (n = cg_lease_memo_key(buf, key, len)) == 0
        || cg_store_get_multi(l->ledger, &k, &n, 1, &v) != 0 || v == 0) {
        return 0;
    }
    *value = v - 1;
    return 1;
}


void
cg_lease_memo_put(cg_lease_t *l, const char *key, size_t len, uint64_t value,
                  unsigned ttl)
{
    char   buf[CG_LREC_KEY];
    size_t n;

    if (cg_lease_on(l) && (n = cg_lease_memo_key(buf, key, len)) > 0) {
        (void) cg_store_add(l->ledger, buf, n, value + 1, ttl);
    }
}
