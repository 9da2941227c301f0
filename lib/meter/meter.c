#include "meter/meter.h"
#include "provider/plan.h"
#include "provider/provider.h"
#include "who/svctoken.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* JSON around one message in a provider request ({"role":"user",
 * "content":"..."}), for the reservation's byte count. */
#define CG_METER_MSG_OVERHEAD  32
/* Seconds a slot or a hold outlives the longest plan. */
#define CG_METER_HOLD_MARGIN  30


/* Seconds the longest plan can take (every try of every route of it, the
 * waits between retries, over every route a request may start on), plus
 * a margin: what an in-flight slot and a budget hold must outlive. */
static int
cg_meter_longest_call(const cg_conf_t *conf)
{
    long ms = conf->provider.timeout_ms, one;
    int  i;

    for (i = 0; i < conf->provider.nroutes; i++) {
        one = cg_plan_worst_ms(conf, &conf->provider.routes[i]);
        ms = one > ms ? one : ms;
    }
    return (int) (ms / 1000) + CG_METER_HOLD_MARGIN;
}


/* Worker processes at most: each has one meter. */
static long
cg_meter_children(const cg_conf_t *conf)
{
    return conf->pool.max_children > 0 ? conf->pool.max_children
                                       : conf->server.workers;
}


/* Requests the pool can serve at once: children x threads. */
static long
cg_meter_pool_size(const cg_conf_t *conf)
{
    return cg_meter_children(conf)
           * (conf->server.threads > 0 ? conf->server.threads : 1);
}


/* [limits] concurrent_requests = auto: half of the requests the pool
 * can serve at once, at least 1, so one caller always leaves room. */
static long
cg_meter_concurrent(const cg_conf_t *conf)
{
    long half = cg_meter_pool_size(conf) / 2;

    if (conf->limits.concurrent_requests != CG_LIMITS_CONCURRENT_AUTO) {
        return conf->limits.concurrent_requests;
    }
    return half > 0 ? half : 1;
}


void
cg_meter_limits(const cg_conf_t *conf, cg_limits_t *lim)
{
    memset(lim, 0, sizeof(*lim));
    lim->rpm[CG_SCOPE_CALLER] = conf->limits.requests_per_minute;
    lim->rpm[CG_SCOPE_ADDR] = conf->limits.addr_requests_per_minute;
    lim->rpm[CG_SCOPE_GLOBAL] = conf->limits.global_requests_per_minute;
    lim->tpm[CG_SCOPE_CALLER] = conf->limits.tokens_per_minute;
    lim->tpm[CG_SCOPE_ADDR] = conf->limits.addr_tokens_per_minute;
    lim->tpm[CG_SCOPE_GLOBAL] = conf->limits.global_tokens_per_minute;
    lim->concurrent = cg_meter_concurrent(conf);
    lim->window = conf->limits.window_seconds;
    lim->lease_requests = (unsigned) conf->limits.lease_requests;
    /* A slot outlives the longest provider call, plus a margin. */
    lim->inflight_ttl = cg_meter_longest_call(conf);
}


/* The leases of this thread's meters when they have no ledger file: the
 * request contexts of one event-loop worker share one cg_lease_t and its
 * private ledger, as the processes of a host share a ledger file. So a
 * worker holds one lease per counter, not one per context (each context
 * would also hold a list of CG_LEASE_TRACK keys and a ledger of
 * CG_LEASE_SLOTS records, and take a slice of the headroom). */
static _Thread_local cg_lease_t *cg_meter_lease_mem;
static _Thread_local unsigned    cg_meter_lease_refs;


static cg_lease_t *
cg_meter_lease_shared(unsigned ledgers, char *err, size_t errlen)
{
    if (cg_meter_lease_mem == NULL) {
        cg_meter_lease_mem = calloc(1, sizeof(*cg_meter_lease_mem));
        if (cg_meter_lease_mem == NULL
            || cg_lease_init(cg_meter_lease_mem, ledgers, NULL, err, errlen)
               != 0) {
            free(cg_meter_lease_mem);
            cg_meter_lease_mem = NULL;
            return NULL;
        }
    }
    cg_meter_lease_refs++;
    return cg_meter_lease_mem;
}


/* The last meter of the thread gives the shared leases back. */
static void
cg_meter_lease_release(cg_meter_t *m)
{
    if (m->lease == NULL) {
        return;
    }
    if (!m->lease_shared) {
        cg_lease_free(m->lease, m->store);
        free(m->lease);
    } else if (cg_meter_lease_refs > 0 && --cg_meter_lease_refs == 0) {
        cg_lease_free(cg_meter_lease_mem, m->store);
        free(cg_meter_lease_mem);
        cg_meter_lease_mem = NULL;
    }
    m->lease = NULL;
}


/* Leases on ([budget] lease_requests): the ledger is [store] ledger's
 * file, else the local store's own file, else private to this worker
 * process (then every worker process is a ledger of its own, and the
 * headroom is shared among them all). */
static int
cg_meter_lease_init(cg_meter_t *m, const cg_conf_t *conf, char *err,
                    size_t errlen)
{
    const char *path = conf->store.ledger;
    cg_store_t *ledger = NULL;
    long        ledgers = conf->store.hosts > 0 ? conf->store.hosts : 1;

    if (conf->budget.lease_requests <= 0
        && conf->limits.lease_requests <= 0) {
        return 0;
    }
    if (path && path[0]) {
        m->ledger = cg_store_new_local(path, (unsigned) conf->store.slots,
                                       conf->path, err, errlen);
        if ((ledger = m->ledger) == NULL) {
            return -1;
        }
    } else if (conf->store.type == CG_STORE_LOCAL) {
        ledger = m->store;
    } else {
        ledgers *= cg_meter_children(conf) > 0 ? cg_meter_children(conf)
                                               : 1;
        m->lease = cg_meter_lease_shared((unsigned) ledgers, err, errlen);
        if (m->lease == NULL) {
            return -1;
        }
        m->lease_shared = 1;
    }
    if (m->lease == NULL
        && ((m->lease = calloc(1, sizeof(*m->lease))) == NULL
            || cg_lease_init(m->lease, (unsigned) ledgers, ledger, err,
                             errlen) != 0)) {
        if (m->lease == NULL) {
            snprintf(err, errlen, "out of memory");
        }
        return -1;
    }
    m->cache.lease = m->lease;
    if (conf->budget.lease_requests > 0) {
        m->budgets.lease = m->lease;
        m->budgets.lease_requests = (unsigned) conf->budget.lease_requests;
    }
    return 0;
}


/* The store of this thread's meters (the request contexts of one
 * event-loop worker): one set of memcached connections, or one mapping
 * of the local store's file, per worker instead of per context; a request
 * holds a connection only for its round trip (cg_iowait_lock in
 * lib/store/store.c). 10,000 contexts used to open 10,000 connections to
 * each memcached server. A meter of another configuration (a test's) gets
 * a store of its own. */
static _Thread_local const cg_conf_t *cg_meter_store_conf;
static _Thread_local cg_store_t      *cg_meter_store_mem;
static _Thread_local unsigned         cg_meter_store_refs;


static cg_store_t *
cg_meter_store_open(const cg_conf_t *conf, char *err, size_t errlen)
{
    if (conf->store.type == CG_STORE_LOCAL) {
        return cg_store_new_local(conf->store.path,
                                  (unsigned) conf->store.slots, conf->path,
                                  err, errlen);
    }
    return cg_store_new(conf->memcached.servers, conf->memcached.timeout_ms,
                        err, errlen);
}


static cg_store_t *
cg_meter_store_get(cg_meter_t *m, const cg_conf_t *conf, char *err,
                   size_t errlen)
{
    if (cg_meter_store_mem != NULL && cg_meter_store_conf != conf) {
        return cg_meter_store_open(conf, err, errlen);
    }
    if (cg_meter_store_mem == NULL) {
        cg_meter_store_mem = cg_meter_store_open(conf, err, errlen);
        if (cg_meter_store_mem == NULL) {
            return NULL;
        }
        cg_meter_store_conf = conf;
    }
    cg_meter_store_refs++;
    m->store_shared = 1;
    return cg_meter_store_mem;
}


static void
cg_meter_store_put(cg_meter_t *m)
{
    if (!m->store_shared) {
        cg_store_free(m->store);
    } else if (cg_meter_store_refs > 0 && --cg_meter_store_refs == 0) {
        cg_store_free(cg_meter_store_mem);
        cg_meter_store_mem = NULL;
        cg_meter_store_conf = NULL;
    }
    m->store = NULL;
}


int
cg_meter_init(cg_meter_t *m, const cg_conf_t *conf, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->conf = conf;
    m->store = cg_meter_store_get(m, conf, err, errlen);
    if (m->store == NULL) {
        return -1;
    }
    cg_meter_limits(conf, &m->limits);
    m->budgets.cap[CG_BSCOPE_CALLER][CG_BUDGET_DAILY] =
        conf->budget.user_daily;
    m->budgets.cap[CG_BSCOPE_CALLER][CG_BUDGET_MONTHLY] =
        conf->budget.user_monthly;
    m->budgets.cap[CG_BSCOPE_GLOBAL][CG_BUDGET_DAILY] =
        conf->budget.global_daily;
    m->budgets.cap[CG_BSCOPE_GLOBAL][CG_BUDGET_MONTHLY] =
        conf->budget.global_monthly;
    m->budgets.hold_seconds = cg_meter_longest_call(conf);
    if (cg_meter_lease_init(m, conf, err, errlen) != 0) {
        return -1;
    }
    return cg_alert_init(&m->alert, m->store, conf->alerts.budget_thresholds,
                         conf->alerts.spike_rpm, err, errlen);
}


void
cg_meter_free(cg_meter_t *m)
{
    cg_alert_free(&m->alert);
    free(m->pending);
    /* Unused leases go back to the store before it closes. */
    cg_meter_lease_release(m);
    cg_store_free(m->ledger);
    cg_store_free(m->local);
    cg_meter_store_put(m);
    memset(m, 0, sizeof(*m));
}


static void
cg_meter_note(cg_meter_t *m, const char *msg)
{
    if (m->note) {
        m->note(m->note_ctx, msg);
    }
}


/* One error-log line per counter per CG_METER_NOTE_EVERY seconds at most,
 * saying how many were held back since the last: a store that is down for
 * every request must not flood the log, but it must be in it. */
static void
cg_meter_note_store(cg_meter_t *m, const char *what, const char *policy,
                    time_t now)
{
    char   msg[512];
    size_t i;

    for (i = 0; i < CG_METER_NOTE_KINDS - 1 && m->notes[i].what
                && strcmp(m->notes[i].what, what) != 0; i++) {
    }
    m->notes[i].what = what;
    if (now < m->notes[i].until) {
        m->notes[i].held++;
        return;
    }
    m->notes[i].until = now + CG_METER_NOTE_EVERY;
    snprintf(msg, sizeof(msg), "store error (%s, %s): %s", what, policy,
             cg_store_error(m->store));
    if (m->notes[i].held) {
        snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
                 " (%lu more since the last line)", m->notes[i].held);
    }
    m->notes[i].held = 0;
    cg_meter_note(m, msg);
}


void
cg_meter_store_failed(cg_meter_t *m, cg_req_t *r, const char *what,
                      int denied)
{
    time_t now = cg_clock_now();

    cg_alert_store_down(&m->alert, cg_store_error(m->store), now);
    cg_meter_note_store(m, what, denied ? "fail-closed" : "not counted",
                        now);
    if (r && !denied) {
        cg_findings_set(&r->findings, CG_FIND_STORE_DOWN);
    }
}


/* The store for rate limits after the shared one failed, or NULL when the
 * config says deny or allow. */
static cg_store_t *
cg_meter_fallback(cg_meter_t *m)
{
    char err[200];

    if (m->conf->limits.on_store_error != CG_FAIL_LOCAL) {
        return NULL;
    }
    if (m->local == NULL) {
        m->local = cg_store_new_local(NULL, 4096, NULL, err,
                                      sizeof(err));
        if (m->local == NULL) {
            return NULL;
        }
        cg_meter_note(m, "store down: rate limits now counted per worker "
                      "(on_store_error = local) until it answers again");
    }
    return m->local;
}


static int
cg_meter_refuse(cg_meter_t *m, cg_req_t *r, const cg_limits_t *lim)
{
    const cg_limit_info_t *p = &r->rate.p[r->rate.over];

    (void) m;
    (void) lim;
    r->retry_after = p->reset > 0 ? p->reset : 1;
    return cg_req_fail(r, CG_E_RATE_LIMITED, NULL, "%s %ld reached",
                       p->name, p->quota);
}


static const cg_budgets_t *cg_meter_budgets(const cg_meter_t *m,
                                            const cg_req_t *r,
                                            cg_budgets_t *own);


/* Does a budget apply to r that the store-failure policy would refuse? */
static int
cg_meter_budget_denies(const cg_meter_t *m, const cg_req_t *r)
{
    cg_budgets_t own;

    return m->conf->budget.on_store_error != CG_FAIL_ALLOW
           && cg_budget_any(cg_meter_budgets(m, r, &own));
}


/* Counts r against lim into hold and rep, following the store-failure
 * policy; 1 when the store was down and requests go uncounted. */
static int
cg_meter_count(cg_meter_t *m, const cg_limits_t *lim, cg_req_t *r,
               cg_limit_hold_t *hold, cg_limit_report_t *rep,
               cg_limit_rc_t *rc)
{
    cg_store_t    *fb;
    time_t         now = cg_clock_now();

    *rc = cg_ratelimit_begin(m->store, &m->cache, lim, r->user, r->remote_addr,
                             now, hold, rep);
    if (*rc != CG_LIMIT_STORE_DOWN) {
        return 0;
    }
    rep->n = 0;
    cg_meter_store_failed(m, r, "limits",
                          m->conf->limits.on_store_error == CG_FAIL_DENY);
    if ((fb = cg_meter_fallback(m)) != NULL) {
        *rc = cg_ratelimit_begin(fb, NULL, lim, r->user, r->remote_addr, now,
                                 hold, rep);
        hold->fallback = 1;
        return 0;
    }
    if (m->conf->limits.on_store_error != CG_FAIL_DENY) {
        *rc = CG_LIMIT_PASS;
        return 1;
    }
    r->retry_after = 5;
    /* The budget would be refused by the same store: say so, since the
     * money cap is what an operator looks for. */
    return cg_req_fail(r, CG_E_UNAVAILABLE, NULL, "limits fail-closed%s: %s",
                       cg_meter_budget_denies(m, r)
                       ? ", budget fail-closed" : "",
                       cg_store_error(m->store));
}


/* A queued settlement's ops point into its own keys: after the queue
 * moved (grown) or shifted, each points into its own again. */
static void
cg_meter_pending_own(cg_meter_t *m)
{
    size_t i, k;

    for (i = 0; i < m->npending; i++) {
        for (k = 0; k < m->pending[i].n; k++) {
            m->pending[i].ops[k].key = m->pending[i].keys[k];
        }
    }
}


/* Settlements the store did not answer, run again (in order, stopping at
 * the first the store still does not answer; at most once a second while
 * it stays away) before this request uses the store. */
static void
cg_meter_retry_pending(cg_meter_t *m, time_t now)
{
    char   msg[160];
    size_t i, done = 0;

    if (m->npending == 0 || now < m->pending_retry) {
        return;
    }
    for (i = 0; i < m->npending; i++) {
        if (cg_budget_retry(m->store, &m->pending[i]) != 0) {
            break;
        }
        done++;
    }
    if (done > 0) {
        memmove(m->pending, m->pending + done,
                (m->npending - done) * sizeof(*m->pending));
        m->npending -= done;
        cg_meter_pending_own(m);
        snprintf(msg, sizeof(msg), "store answers again: %zu queued "
                 "settlement(s) counted, %zu still queued", done,
                 m->npending);
        cg_meter_note(m, msg);
    }
    m->pending_retry = m->npending ? now + 1 : 0;
}


/* Room for one more queued settlement; 0 when full (or out of memory).
 * Every settle needs a slot to land in, but one only stays when the
 * store did not answer: the queue grows with them, instead of 32 slots
 * (70 kB) in every request context that ever settled. */
static int
cg_meter_pending_room(cg_meter_t *m)
{
    cg_budget_pending_t *t;
    size_t               cap;

    if (m->npending < m->npcap) {
        return 1;
    }
    if (m->npcap == CG_METER_PENDING) {
        return 0;
    }
    cap = m->npcap ? 2 * m->npcap : 1;
    cap = cap < CG_METER_PENDING ? cap : CG_METER_PENDING;
    if ((t = realloc(m->pending, cap * sizeof(*t))) == NULL) {
        return 0;
    }
    m->pending = t;
    m->npcap = cap;
    cg_meter_pending_own(m);
    return 1;
}


/* A slot for a settlement the store did not answer; the oldest is given
 * up (and said so) when every slot is taken. */
static cg_budget_pending_t *
cg_meter_pending_slot(cg_meter_t *m)
{
    char msg[160];

    if (!cg_meter_pending_room(m)) {
        if (m->npending == 0) {
            return NULL;
        }
        snprintf(msg, sizeof(msg), "store down too long: a queued spend "
                 "of %llu micro-dollars is given up uncounted",
                 (unsigned long long) m->pending[0].amount);
        cg_meter_note(m, msg);
        memmove(m->pending, m->pending + 1,
                (m->npending - 1) * sizeof(*m->pending));
        m->npending--;
        cg_meter_pending_own(m);
    }
    return &m->pending[m->npending];
}


int
cg_meter_admit(cg_meter_t *m, const cg_limits_t *lim, cg_req_t *r)
{
    cg_limit_rc_t  rc;

    lim = lim ? lim : &m->limits;
    if (cg_store_notice(m->store)) {
        /* The local store rebuilt a corrupt file since the last request. */
        cg_meter_note(m, m->store->notice);
    }
    if (m->ledger && cg_store_notice(m->ledger)) {
        /* So did the lease ledger's: the leases it held are lost
         * (counted in the store still: stricter, never looser). */
        cg_meter_note(m, m->ledger->notice);
    }
    cg_meter_retry_pending(m, cg_clock_now());
    if (cg_meter_count(m, lim, r, &r->limit_hold, &r->rate, &rc) != 0) {
        return r->err == CG_OK ? 0 : -1;
    }
    if (r->rate.n > 0 && strcmp(r->rate.p[0].name, "rpm") == 0) {
        cg_alert_spike(&m->alert, r->user, r->rate.p[0].used, lim->window,
                       cg_clock_now());
    }
    if (rc == CG_LIMIT_OVER) {
        return cg_meter_refuse(m, r, lim);
    }
    return 0;
}


int
cg_meter_admit_route(cg_meter_t *m, const cg_route_t *rt, cg_req_t *r)
{
    cg_limits_t       *lim = &r->route_limits;
    cg_limit_report_t  rep;
    cg_limit_rc_t      rc;
    int                i;

    if (rt->rpm == 0 && rt->tpm == 0 && rt->global_rpm == 0
        && rt->global_tpm == 0) {
        return 0;
    }
    *lim = m->limits;
    memset(lim->rpm, 0, sizeof(lim->rpm));
    memset(lim->tpm, 0, sizeof(lim->tpm));
    lim->rpm[CG_SCOPE_CALLER] = rt->rpm;
    lim->tpm[CG_SCOPE_CALLER] = rt->tpm;
    lim->rpm[CG_SCOPE_GLOBAL] = rt->global_rpm;
    lim->tpm[CG_SCOPE_GLOBAL] = rt->global_tpm;
    lim->concurrent = 0;
    lim->ns = rt->name;
    if (cg_meter_count(m, lim, r, &r->route_hold, &rep, &rc) != 0) {
        return r->err == CG_OK ? 0 : -1;
    }
    /* Reported beside the global figures, in the same headers. */
    for (i = 0; i < rep.n && r->rate.n < CG_LIMIT_POLICIES; i++) {
        if (i == rep.over) {
            r->rate.over = r->rate.n;
        }
        r->rate.p[r->rate.n++] = rep.p[i];
    }
    if (rc == CG_LIMIT_OVER) {
        return cg_meter_refuse(m, r, lim);
    }
    return 0;
}


/* The caps that apply to r: a service token's own daily and monthly
 * caps take the place of the per-user ones (its caller is token:NAME). */
static const cg_budgets_t *
cg_meter_budgets(const cg_meter_t *m, const cg_req_t *r, cg_budgets_t *own)
{
    const cg_token_t *t = r->sess.token;
    int               i;

    if (t == NULL || !(t->have_budget[0] || t->have_budget[1])) {
        return &m->budgets;
    }
    *own = m->budgets;
    for (i = 0; i < CG_BUDGET__PERIODS; i++) {
        if (t->have_budget[i]) {
            own->cap[CG_BSCOPE_CALLER][i] = t->budget[i];
        }
    }
    return own;
}


/* Seconds until the budget period that refused rolls over (UTC). */
static int
cg_meter_period_left(int period, time_t now)
{
    struct tm tm;
    time_t    next;

    if (period == CG_BUDGET_DAILY) {
        return (int) (CG_DAY_S - now % CG_DAY_S);
    }
    gmtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon++;
    next = timegm(&tm);
    return next > now ? (int) (next - now) : 1;
}


/* Bytes of the conversation as it will be sent: after the input guards,
 * which may lengthen it (a pseudonymised e-mail is a longer placeholder),
 * plus the JSON around each message; never less than the client's body.
 * The relay estimates input tokens from r->msgs_bytes too. */
static size_t
cg_meter_sent_bytes(cg_req_t *r)
{
    size_t i, n = 0;

    for (i = 0; i < r->nmsgs; i++) {
        n += r->msgs[i].len;
    }
    r->msgs_bytes = n;
    n += r->nmsgs * CG_METER_MSG_OVERHEAD;
    return n > r->body_len ? n : r->body_len;
}


int
cg_meter_reserve(cg_meter_t *m, cg_req_t *r, const cg_route_t *rt)
{
    cg_budget_rc_t      rc;
    time_t              now = cg_clock_now();
    cg_budgets_t        own;
    const cg_budgets_t *b = cg_meter_budgets(m, r, &own);
    const cg_price_t   *p = cg_conf_route_price(m->conf, rt);
    const char         *prompt = cg_provider_system(rt, r);
    size_t              sys = prompt ? strlen(prompt) : 0;
    unsigned            seq;

    if (!cg_budget_any(b)) {
        return 0;
    }
    if (p == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "no [price] row for "
                           "the budget");
    }
    cg_meter_retry_pending(m, now);
    seq = r->budget_hold.seq + 1;
    /* The worst case of what the provider is told: the route's
     * max_tokens, or a compatible caller's lower cap, and the system
     * prompt sent (the route's, or the caller's where it has none). */
    rc = cg_budget_reserve(m->store, b, r->user,
                           cg_budget_price_worst(p,
                               cg_meter_sent_bytes(r) + sys,
                               cg_provider_max_tokens(rt, r)),
                           now,
                           &r->budget_hold);
    /* Each settlement of the request has markers of its own. */
    r->budget_hold.mark = r->request_id;
    r->budget_hold.seq = seq;
    if (rc == CG_BUDGET_OVER) {
        cg_alert_budget(&m->alert, b, &r->budget_hold, 1, now);
        r->retry_after = cg_meter_period_left(r->budget_hold.over_period,
                                              now);
        return cg_req_fail(r, CG_E_BUDGET, NULL, "%s %s budget reached",
                           r->budget_hold.over_scope ? "global"
                           : r->sess.token ? "token" : "user",
                           r->budget_hold.over_period ? "monthly"
                                                      : "daily");
    }
    if (rc == CG_BUDGET_STORE_DOWN) {
        cg_meter_store_failed(m, r, "budget",
                              m->conf->budget.on_store_error != CG_FAIL_ALLOW);
        if (m->conf->budget.on_store_error == CG_FAIL_ALLOW) {
            return 0;
        }
        r->retry_after = 5;
        return cg_req_fail(r, CG_E_UNAVAILABLE, NULL,
                           "budget fail-closed: %s",
                           cg_store_error(m->store));
    }
    return 0;
}


/* Settles r's reservation; what the store did not answer is queued for
 * the next request to run again (cg_meter_retry_pending), so the spend
 * is counted once the store is back. */
static void
cg_meter_settle(cg_meter_t *m, const cg_budgets_t *b, cg_req_t *r,
                uint64_t cost, time_t now)
{
    cg_budget_pending_t *left = cg_meter_pending_slot(m);

    if (left) {
        left->n = 0;
    }
    if (cg_budget_settle(m->store, b, &r->budget_hold, cost, now,
                         left) == 0) {
        cg_alert_budget(&m->alert, b, &r->budget_hold, 0, now);
        return;
    }
    cg_meter_store_failed(m, r, "budget settle", 0);
    if (left && left->n > 0) {
        m->npending++;
        m->pending_retry = 0;
        cg_findings_set(&r->findings, CG_FIND_SPEND_QUEUED);
    }
}


int
cg_meter_next_attempt(cg_meter_t *m, cg_req_t *r, uint64_t cost,
                      const cg_route_t *next)
{
    time_t              now = cg_clock_now();
    cg_budgets_t        own;
    const cg_budgets_t *b = cg_meter_budgets(m, r, &own);

    if (!r->budget_hold.active) {
        return 0;
    }
    cg_meter_settle(m, b, r, cost, now);
    return cg_meter_reserve(m, r, next);
}


void
cg_meter_finish(cg_meter_t *m, const cg_limits_t *lim, cg_req_t *r,
                const cg_price_t *p)
{
    time_t              now = cg_clock_now();
    uint64_t            cost = 0;
    cg_budgets_t        own;
    const cg_budgets_t *b = cg_meter_budgets(m, r, &own);

    lim = lim ? lim : &m->limits;
    if (p) {
        cost = cg_budget_price_cost(p, r->input_tokens, r->output_tokens, 0, 0);
    }
    if (r->budget_hold.active && r->err == CG_E_UPSTREAM_TIMEOUT) {
        /* The provider may have done (and billed) the work we stopped
         * waiting for: count the worst case rather than nothing. */
        cost = r->budget_hold.reserved;
    }
    /* Earlier attempts were settled as they were given up (see
     * cg_meter_next_attempt); the request's totals include them. */
    if (p || r->prior_cost_micro_usd > 0) {
        r->cost_micro_usd = (long long) cost + r->prior_cost_micro_usd;
    }
    r->input_tokens += r->prior_input_tokens;
    r->output_tokens += r->prior_output_tokens;
    if (r->budget_hold.active) {
        cg_meter_settle(m, b, r, cost, now);
    }
    if (cg_ratelimit_end(r->limit_hold.fallback && m->local ? m->local
                                                       : m->store,
                     lim, &r->limit_hold,
                     r->input_tokens + r->output_tokens, now) != 0) {
        cg_meter_store_failed(m, r, "tokens and in-flight release", 0);
    }
    if (r->route_limits.ns
        && cg_ratelimit_end(r->route_hold.fallback && m->local ? m->local
                                                          : m->store,
                        &r->route_limits, &r->route_hold,
                        r->input_tokens + r->output_tokens, now) != 0) {
        cg_meter_store_failed(m, r, "route tokens and in-flight release", 0);
    }
}
