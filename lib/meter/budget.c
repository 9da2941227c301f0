#include "meter/budget.h"
#include "core/kbuf.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

#define CG_BKEY_LEN  (CG_STORE_KEY_MAX + 1)
/* A hold's bucket when [budget] hold_seconds is not set, and how long a
 * held amount outlives its two buckets (memcached's TTL is whole
 * seconds, and the clock of another host may lag). */
#define CG_BUDGET_HOLD_S        (5 * CG_MINUTE_S)
#define CG_BUDGET_HOLD_SLACK_S  CG_MINUTE_S

static const char *const cg_bscope_key[CG_BSCOPE__COUNT] = { "u", "g" };


int
cg_budget_money_parse(const char *s, uint64_t *micro)
{
    uint64_t whole = 0, frac = 0;
    int      digits = 0, fd = 0, round = 0;

    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (whole > 1000000000000ULL) {
            return -1;
        }
        whole = whole * 10 + (uint64_t) (*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, fd++) {
            if (fd < 6) {
                frac = frac * 10 + (uint64_t) (*s - '0');
            } else if (*s != '0') {
                round = 1;
            }
        }
        if (fd == 0) {
            return -1;
        }
    }
    if (*s != '\0' || digits + fd == 0) {
        return -1;
    }
    for (; fd < 6; fd++) {
        frac *= 10;
    }
    *micro = whole * 1000000 + frac + (uint64_t) round;
    return 0;
}


static uint64_t
cg_tokens(long n)
{
    return n > 0 ? (uint64_t) n : 0;
}


uint64_t
cg_budget_price_cost(const cg_price_t *p, long input, long output,
                     long cache_write, long cache_read)
{
    uint64_t sum = cg_tokens(input) * p->input
                   + cg_tokens(output) * p->output
                   + cg_tokens(cache_write) * p->cache_write
                   + cg_tokens(cache_read) * p->cache_read;

    return (sum + 999999) / 1000000;
}


uint64_t
cg_budget_price_worst(const cg_price_t *p, size_t bytes_sent, long max_tokens)
{
    return cg_budget_price_cost(p, (long) ((bytes_sent + 3) / 4), max_tokens,
                                0, 0);
}


const cg_price_t *
cg_budget_price_find(const cg_price_t *table, size_t n, const char *model)
{
    size_t i;

    for (i = 0; model && i < n; i++) {
        if (strcmp(table[i].model, model) == 0) {
            return &table[i];
        }
    }
    return NULL;
}


static int
cg_budget_scope_on(const cg_budgets_t *b, int s)
{
    return b->cap[s][CG_BUDGET_DAILY] > 0 || b->cap[s][CG_BUDGET_MONTHLY] > 0;
}


int
cg_budget_any(const cg_budgets_t *b)
{
    return cg_budget_scope_on(b, CG_BSCOPE_CALLER)
           || cg_budget_scope_on(b, CG_BSCOPE_GLOBAL);
}


static const char *
cg_budget_id(const cg_budget_hold_t *h, int s)
{
    return s == CG_BSCOPE_CALLER ? h->caller : "*";
}


/* "cg:<kind>:<scope>:<id>:", the part before the bucket or date. */
static void
cg_budget_key_head(cg_kbuf_t *k, char *buf, char kind,
                   const cg_budget_hold_t *h, int s)
{
    cg_kbuf_init(k, buf, CG_BKEY_LEN);
    cg_kbuf_mem(k, "cg:", 3);
    cg_kbuf_chr(k, kind);
    cg_kbuf_chr(k, ':');
    cg_kbuf_str(k, cg_bscope_key[s]);
    cg_kbuf_chr(k, ':');
    cg_kbuf_str(k, cg_budget_id(h, s));
    cg_kbuf_chr(k, ':');
}


static size_t
cg_budget_held_key(char *buf, const cg_budget_hold_t *h, int s,
                   long long bucket)
{
    cg_kbuf_t k;

    cg_budget_key_head(&k, buf, 'h', h, s);
    cg_kbuf_ll(&k, bucket);
    return cg_kbuf_end(&k);
}


/* The date part of spend keys, formatted once per UTC day per thread:
 * gmtime_r + strftime for each of the six keys a request names cost more
 * than the rest of the key building. */
static const char *
cg_budget_date(time_t now, int period)
{
    static _Thread_local long long day = -1;
    static _Thread_local char      text[2][16];
    struct tm                      tm;

    if ((long long) (now / CG_DAY_S) != day) {
        day = (long long) (now / CG_DAY_S);
        gmtime_r(&now, &tm);
        strftime(text[0], sizeof(text[0]), "d:%Y%m%d", &tm);
        strftime(text[1], sizeof(text[1]), "m:%Y%m", &tm);
    }
    return text[period == CG_BUDGET_DAILY ? 0 : 1];
}


/* Spend counters are per UTC day and month, kept a little past the end. */
static size_t
cg_budget_spend_key(char *buf, const cg_budget_hold_t *h, int s, int period,
                    time_t now, unsigned *ttl)
{
    cg_kbuf_t k;

    *ttl = period == CG_BUDGET_DAILY ? 2 * 86400 : 32 * 86400;
    cg_budget_key_head(&k, buf, '$', h, s);
    cg_kbuf_str(&k, cg_budget_date(now, period));
    return cg_kbuf_end(&k);
}


/* Adds the decrements that take the reservation back out of the held
 * buckets it went into; keys[] holds their text. Returns the new n. */
static size_t
cg_budget_unhold_ops(cg_budget_hold_t *h, cg_store_op_t *ops, size_t n,
                     char (*keys)[CG_BKEY_LEN])
{
    int s;

    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        if (h->held & (1u << s)) {
            ops[n] = (cg_store_op_t) { CG_STORE_DECR, keys[s],
                                       cg_budget_held_key(keys[s], h, s,
                                                          h->bucket),
                                       h->reserved, 0, 0, 0, NULL, 0 };
            n++;
        }
    }
    h->held = 0;
    return n;
}


static int
cg_budget_unhold(cg_store_t *st, cg_budget_hold_t *h)
{
    char          keys[CG_BSCOPE__COUNT][CG_BKEY_LEN];
    cg_store_op_t ops[CG_BSCOPE__COUNT];
    size_t        n = cg_budget_unhold_ops(h, ops, 0, keys);

    return n ? cg_store_batch(st, ops, n) : 0;
}


/* Is settled spend + held (this and the previous hold period) over any
 * cap? rd[] are the reads of cg_budget_reserve: per scope, the spend of
 * each period, then the previous held bucket; cur[s] is what the current
 * held bucket holds. */
static int
cg_budget_over(const cg_budgets_t *b, cg_budget_hold_t *h,
               const cg_store_op_t *rd, const uint64_t *cur)
{
    uint64_t held, spent;
    int      s, p, over = 0;

    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        held = cur[s] + rd[s * 3 + 2].value;
        for (p = 0; p < CG_BUDGET__PERIODS; p++) {
            spent = rd[s * 3 + p].value;
            h->spent[s][p] = spent;
            if (b->cap[s][p] > 0 && spent + held > b->cap[s][p] && !over) {
                over = 1;
                h->over_scope = s;
                h->over_period = p;
            }
        }
    }
    return over;
}


static void cg_budget_left_put(cg_budget_pending_t *left,
                               const cg_store_op_t *op, const char *mark);


/* The bit of cap (s, p) in a hold's leased set. */
static unsigned
cg_budget_lease_bit(int s, int p)
{
    return 1u << (s * CG_BUDGET__PERIODS + p);
}


/* Cap (s, p) as a leased counter: its spend counter of the day or
 * month of now, in key. */
static void
cg_budget_lease_ctr(const cg_budgets_t *b, const cg_budget_hold_t *h, int s,
                    int p, time_t now, char *key, cg_lease_ctr_t *c)
{
    memset(c, 0, sizeof(*c));
    c->key = key;
    c->len = cg_budget_spend_key(key, h, s, p, now, &c->ttl);
    c->cap = b->cap[s][p];
    c->requests = b->lease_requests;
}


/* Gives back to the leases what hold h took from them (used: what it
 * spent); what the store did not take of a spend past the reservation
 * goes into left. Returns 0, or -1 when such a spend was not counted. */
static int
cg_budget_lease_settle(const cg_budgets_t *b, cg_budget_hold_t *h,
                       cg_store_t *st, uint64_t used,
                       cg_budget_pending_t *left)
{
    /* The counters leased from, even when the day has turned since: a
     * lease's units go back where they came from. */
    time_t        now = h->leased_at;
    char           key[CG_BKEY_LEN];
    cg_store_op_t  op;
    cg_lease_ctr_t c;
    uint64_t       owed;
    int           s, p, rc = 0;

    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        for (p = 0; p < CG_BUDGET__PERIODS; p++) {
            if (!(h->leased & cg_budget_lease_bit(s, p))) {
                continue;
            }
            cg_budget_lease_ctr(b, h, s, p, now, key, &c);
            if (cg_lease_settle(b->lease, st, &c, h->reserved, used,
                                &owed) == 0) {
                continue;
            }
            rc = -1;
            if (left && left->n < CG_BUDGET_SETTLE_OPS) {
                op = (cg_store_op_t) { CG_STORE_INCR, key, c.len, owed,
                                       c.ttl, 0, 0, NULL, 0 };
                cg_budget_left_put(left, &op, "");
            }
        }
    }
    h->leased = 0;
    return rc;
}


/* The reservation from the leases of every capped spend counter: no
 * round trip while they last. A refusal gives back what was taken. */
static cg_budget_rc_t
cg_budget_lease_reserve(cg_store_t *st, const cg_budgets_t *b,
                        cg_budget_hold_t *h, time_t now)
{
    char           key[CG_BKEY_LEN];
    cg_lease_ctr_t c;
    cg_lease_rc_t  rc = CG_LEASE_OK;
    int           s, p;

    h->leased_at = now;
    for (s = 0; s < CG_BSCOPE__COUNT && rc == CG_LEASE_OK; s++) {
        for (p = 0; p < CG_BUDGET__PERIODS && rc == CG_LEASE_OK; p++) {
            if (b->cap[s][p] == 0) {
                continue;
            }
            cg_budget_lease_ctr(b, h, s, p, now, key, &c);
            rc = cg_lease_take(b->lease, st, &c, h->reserved, now,
                               &h->spent[s][p]);
            if (rc == CG_LEASE_OK) {
                h->leased |= cg_budget_lease_bit(s, p);
            } else if (rc == CG_LEASE_OVER) {
                h->over_scope = s;
                h->over_period = p;
            }
        }
    }
    if (rc != CG_LEASE_OK) {
        (void) cg_budget_lease_settle(b, h, st, 0, NULL);
        return rc == CG_LEASE_OVER ? CG_BUDGET_OVER : CG_BUDGET_STORE_DOWN;
    }
    cg_lease_sweep(b->lease, st, now);
    h->active = 1;
    return CG_BUDGET_OK;
}


/* One round trip (with one memcached server): the increments of the held
 * buckets, then the reads of spend and of the previous held buckets. The
 * store applies them in this order, as the budget's invariant needs: a
 * settle adds spend before it releases its hold, so a reader that no
 * longer sees a hold sees its spend. */
cg_budget_rc_t
cg_budget_reserve(cg_store_t *st, const cg_budgets_t *b, const char *caller,
                  uint64_t amount, time_t now, cg_budget_hold_t *h)
{
    char          keys[CG_BSCOPE__COUNT * 4][CG_BKEY_LEN];
    cg_store_op_t ops[CG_BSCOPE__COUNT * 4];
    int           scope[CG_BSCOPE__COUNT];
    uint64_t      cur[CG_BSCOPE__COUNT] = { 0, 0 };
    unsigned      ttl, period = (unsigned) (b->hold_seconds > 0
                                            ? b->hold_seconds
                                            : CG_BUDGET_HOLD_S);
    size_t        n = 0, nh, i;
    int           s, p, rc, over;

    memset(h, 0, sizeof(*h));
    h->caller = caller;
    h->reserved = amount;
    h->bucket = (long long) now / period;
    if (cg_lease_on(b->lease)) {
        return cg_budget_lease_reserve(st, b, h, now);
    }
    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        if (cg_budget_scope_on(b, s)) {
            /* The hold outlives the longest call by one period: a request
             * held in bucket B is read while B or B+1 is current. */
            scope[n] = s;
            ops[n] = (cg_store_op_t) { CG_STORE_INCR, keys[n],
                                       cg_budget_held_key(keys[n], h, s,
                                                          h->bucket),
                                       amount,
                                       2 * period + CG_BUDGET_HOLD_SLACK_S,
                                       0, 0, NULL, 0 };
            n++;
        }
    }
    nh = n;
    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        for (p = 0; p < CG_BUDGET__PERIODS; p++, n++) {
            ops[n] = (cg_store_op_t) { CG_STORE_GET, keys[n],
                                       cg_budget_spend_key(keys[n], h, s, p,
                                                           now, &ttl),
                                       0, 0, 0, 0, NULL, 0 };
        }
        ops[n] = (cg_store_op_t) { CG_STORE_GET, keys[n],
                                   cg_budget_held_key(keys[n], h, s,
                                                      h->bucket - 1),
                                   0, 0, 0, 0, NULL, 0 };
        n++;
    }
    rc = cg_store_batch(st, ops, n);
    for (i = 0; i < nh; i++) {
        if (ops[i].done) {
            h->held |= 1u << scope[i];
            cur[scope[i]] = ops[i].value;
        }
    }
    over = rc != 0 ? -1 : cg_budget_over(b, h, ops + nh, cur);
    if (over != 0) {
        cg_budget_unhold(st, h);
        return over < 0 ? CG_BUDGET_STORE_DOWN : CG_BUDGET_OVER;
    }
    h->active = 1;
    return CG_BUDGET_OK;
}


/* Markers: why a settlement the store did not answer is never counted
 * twice. Memcached has no transaction, and a server that was paused past
 * the timeout still runs, once it resumes, the batch chatgate gave up
 * waiting for; a plain resend would then count the spend twice. So on a
 * store where that can happen (late_ops) each op of a settlement rides
 * behind an ADD of its own marker key, on the op's server and in the same
 * pipelined run (no round trip more): the server runs a run in order, so
 * a marker that exists says its op ran. A resend first claims the marker
 * (ADD CG_MARK_CLAIMED, then GET it, in one round trip) and sends the op
 * only when the claim is its own; the op then rides behind an INCR of
 * the marker (to CG_MARK_RESENT), so a resend that is itself not answered
 * is known to have run too. A marker that expired (a settlement queued
 * past CG_BUDGET_MARK_TTL_S) reads as absent: the resend then counts as
 * before, possibly twice (too strict), never zero times. One order is
 * left open: a server that answers a resend's claim, on a new connection,
 * before it has run the batch still waiting on the old one (memcached
 * reads an old connection's waiting requests as soon as it resumes, so
 * this needs its threads to serve the new connection first). */
#define CG_BUDGET_MARK_TTL_S  (5 * CG_MINUTE_S)

enum {
    CG_MARK_FIRST = 1,      /* the settlement's own batch ran the op */
    CG_MARK_CLAIMED,        /* a resend claimed it, the op not yet sent */
    CG_MARK_RESENT          /* a resend ran the op */
};


/* The marker of op i of the settlement of hold h, or 0 (none) when the
 * hold carries no mark or the key would not fit. */
static size_t
cg_budget_mark_key(char *buf, const cg_budget_hold_t *h, size_t i)
{
    cg_kbuf_t k;

    if (h->mark == NULL || h->mark[0] == '\0') {
        return 0;
    }
    cg_kbuf_init(&k, buf, CG_BUDGET_MARK_MAX + 1);
    cg_kbuf_mem(&k, "cg:s:", 5);
    cg_kbuf_str(&k, h->mark);
    cg_kbuf_chr(&k, '.');
    cg_kbuf_ull(&k, h->seq);
    cg_kbuf_chr(&k, ':');
    cg_kbuf_ull(&k, i);
    return cg_kbuf_end(&k);
}


/* An op on key mark, run by the server of op (see cg_store_op_t.route). */
static cg_store_op_t
cg_budget_mark_op(cg_store_opcode_t code, const char *mark, uint64_t value,
                  const cg_store_op_t *op)
{
    return (cg_store_op_t) { code, mark, strlen(mark), value,
                             CG_BUDGET_MARK_TTL_S, 0, 0, op->key,
                             op->keylen };
}


/* Appends op (with its marker, "" for none) to the ops left to run. */
static void
cg_budget_left_put(cg_budget_pending_t *left, const cg_store_op_t *op,
                   const char *mark)
{
    size_t k = left->n++;

    memcpy(left->keys[k], op->key, op->keylen);
    left->keys[k][op->keylen] = '\0';
    snprintf(left->marks[k], sizeof(left->marks[k]), "%s", mark);
    left->ops[k] = *op;
    left->ops[k].key = left->keys[k];
    left->ops[k].done = 0;
}


/* Claims the marker of every op of left that has one, in one batch: ask[i]
 * becomes 1 when op i is to be sent (the claim is a resend's), 0 when it
 * already ran (dropped) and -1 when that is not known yet (kept). */
static void
cg_budget_claim(cg_store_t *st, const cg_budget_pending_t *left, int *ask)
{
    cg_store_op_t q[CG_STORE_BATCH_MAX];
    size_t        i, k = 0, at[CG_BUDGET_SETTLE_OPS];
    uint64_t      v;

    for (i = 0; i < left->n; i++) {
        ask[i] = 1;
        if (left->marks[i][0] != '\0') {
            at[i] = k;
            q[k++] = cg_budget_mark_op(CG_STORE_ADD, left->marks[i],
                                       CG_MARK_CLAIMED, &left->ops[i]);
            q[k++] = cg_budget_mark_op(CG_STORE_GET, left->marks[i], 0,
                                       &left->ops[i]);
        }
    }
    if (k == 0) {
        return;
    }
    (void) cg_store_batch(st, q, k);
    for (i = 0; i < left->n; i++) {
        if (left->marks[i][0] == '\0') {
            continue;
        }
        v = q[at[i] + 1].value;
        ask[i] = !q[at[i] + 1].done ? -1 : v == CG_MARK_CLAIMED ? 1
                 : v == CG_MARK_FIRST || v == CG_MARK_RESENT ? 0 : -1;
    }
}


int
cg_budget_retry(cg_store_t *st, cg_budget_pending_t *left)
{
    cg_budget_pending_t  was;
    cg_store_op_t        q[CG_STORE_BATCH_MAX];
    size_t               i, k = 0, at[CG_BUDGET_SETTLE_OPS];
    int                  ask[CG_BUDGET_SETTLE_OPS];

    if (left->n == 0) {
        return 0;
    }
    cg_budget_claim(st, left, ask);
    for (i = 0; i < left->n; i++) {
        if (ask[i] != 1) {
            continue;
        }
        if (left->marks[i][0] != '\0') {
            q[k++] = cg_budget_mark_op(CG_STORE_INCR, left->marks[i], 1,
                                       &left->ops[i]);
        }
        at[i] = k;
        q[k++] = left->ops[i];
    }
    if (k > 0) {
        (void) cg_store_batch(st, q, k);
    }
    /* Keep what is still not known to have run, in order. */
    was = *left;
    left->n = 0;
    for (i = 0; i < was.n; i++) {
        was.ops[i].key = was.keys[i];
        if (ask[i] < 0 || (ask[i] == 1 && !q[at[i]].done)) {
            cg_budget_left_put(left, &was.ops[i], was.marks[i]);
        }
    }
    return left->n ? -1 : 0;
}


/* The settlement's ops, spend first and hold released second, into ops;
 * dst[i] gets the new spend of op i (NULL for a release). Returns n. */
static size_t
cg_budget_settle_ops(const cg_budgets_t *b, cg_budget_hold_t *h,
                     uint64_t actual, time_t now, cg_store_op_t *ops,
                     char (*keys)[CG_BKEY_LEN], uint64_t **dst)
{
    unsigned ttl;
    size_t   n = 0, i;
    int      s, p;

    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        for (p = 0; p < CG_BUDGET__PERIODS; p++) {
            if (b->cap[s][p] == 0) {
                continue;
            }
            ops[n] = (cg_store_op_t) { CG_STORE_INCR, keys[n],
                                       cg_budget_spend_key(keys[n], h, s, p,
                                                           now, &ttl),
                                       actual, 0, 0, 0, NULL, 0 };
            ops[n].ttl = ttl;
            dst[n++] = &h->spent[s][p];
        }
    }
    i = n;
    n = cg_budget_unhold_ops(h, ops, n, keys + i);
    for (; i < n; i++) {
        dst[i] = NULL;
    }
    return n;
}


/* One round trip (with one memcached server): spend first, hold released
 * second, in that order: in between a reader counts the request twice
 * (too strict), never not at all. Each op rides behind its marker where
 * the store needs one (see CG_MARK_FIRST). */
int
cg_budget_settle(cg_store_t *st, const cg_budgets_t *b, cg_budget_hold_t *h,
                 uint64_t actual, time_t now, cg_budget_pending_t *left)
{
    char          keys[CG_BUDGET_SETTLE_OPS][CG_BKEY_LEN];
    char          marks[CG_BUDGET_SETTLE_OPS][CG_BUDGET_MARK_MAX + 1];
    cg_store_op_t ops[CG_BUDGET_SETTLE_OPS], q[2 * CG_BUDGET_SETTLE_OPS];
    uint64_t     *dst[CG_BUDGET_SETTLE_OPS];
    size_t        n, i, k = 0, at[CG_BUDGET_SETTLE_OPS];
    int           rc;

    if (!h->active) {
        return 0;
    }
    if (h->leased) {
        h->active = 0;
        if (left) {
            left->n = 0;
            left->amount = actual;
        }
        return cg_budget_lease_settle(b, h, st, actual, left);
    }
    n = cg_budget_settle_ops(b, h, actual, now, ops, keys, dst);
    for (i = 0; i < n; i++) {
        marks[i][0] = '\0';
        if (st->late_ops && cg_budget_mark_key(marks[i], h, i) > 0) {
            q[k++] = cg_budget_mark_op(CG_STORE_ADD, marks[i],
                                       CG_MARK_FIRST, &ops[i]);
        }
        at[i] = k;
        q[k++] = ops[i];
    }
    rc = cg_store_batch(st, q, k);
    h->active = 0;
    if (left) {
        left->n = 0;
        left->amount = actual;
    }
    for (i = 0; i < n; i++) {
        if (q[at[i]].done && dst[i]) {
            *dst[i] = q[at[i]].value;
        } else if (!q[at[i]].done && rc != 0 && left) {
            cg_budget_left_put(left, &ops[i], marks[i]);
        }
    }
    return rc;
}


int
cg_budget_check_stream(const cg_budget_hold_t *h, uint64_t used_so_far)
{
    return !h->active || used_so_far <= h->reserved;
}
