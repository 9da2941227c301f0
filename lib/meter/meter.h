/*
 * meter: what the request path calls to count a request: rate limits
 * before the call, the budget reservation before the call, and the
 * settlement, token count and alerts after it.
 *
 * It owns the worker's store handle (memcached or the host-local file),
 * the per-worker fallback counters (on_store_error = local), the limits
 * and budgets read from the config and the alert state. A route or a
 * service token that carries its own cg_limits_t passes it to
 * cg_meter_admit(); NULL means the global [limits].
 *
 * Store failures follow the config: rate limits, the in-flight count and
 * the pre-auth counter deny (503), allow, or count in this worker only;
 * money budgets deny unless [budget] on_store_error = allow. Only an
 * answer from the store counts (see store.h): every failure raises the
 * store_down alert, hands the note callback one line naming the server
 * (at most one per CG_METER_NOTE_EVERY seconds, with the number held
 * back), and marks the request (reason "limits|budget fail-closed: ...",
 * or the flag store_down when the policy let it through). A settlement
 * the store did not answer is queued in the worker and run again before
 * the next request's own store calls, so spend already made is counted
 * once the store is back (flag spend_queued on its usage line). This
 * module never logs directly: it hands operator notices to the note
 * callback and alerts to the alert sink, both installed by the
 * application.
 */
#ifndef CG_METER_H
#define CG_METER_H

#include "meter/alert.h"
#include "meter/budget.h"
#include "meter/lease.h"
#include "conf/config.h"
#include "meter/ratelimit.h"
#include "core/req.h"
#include "store/store.h"

typedef void (*cg_meter_note_pt)(void *ctx, const char *msg);

/* Seconds between two store-error lines of one worker about one counter
 * (limits, budget, pre-auth, ...); CG_METER_NOTE_KINDS counters. */
#define CG_METER_NOTE_EVERY  10
#define CG_METER_NOTE_KINDS  8
/* Settlements one worker keeps while the store does not answer; past
 * that the oldest is dropped, with a log line saying how much. */
#define CG_METER_PENDING     32

typedef struct {
    const cg_conf_t   *conf;
    cg_store_t        *store;
    cg_store_t        *local;       /* fallback counters, made when needed */
    cg_store_t        *ledger;      /* [store] ledger file, when set */
    cg_lease_t        *lease;       /* budgets.lease when leases are on */
    int                lease_shared;    /* this thread's, not its own */
    int                store_shared;    /* this thread's, not its own */
    cg_limits_t        limits;
    cg_limit_cache_t   cache;       /* finished buckets, shared store */
    cg_budgets_t       budgets;
    cg_alert_t         alert;
    cg_meter_note_pt   note;
    void              *note_ctx;
    struct {
        const char    *what;        /* a static name; NULL: free */
        time_t         until;       /* no store-error line before */
        unsigned long  held;        /* store errors not logged since */
    }                  notes[CG_METER_NOTE_KINDS];
    cg_budget_pending_t *pending;   /* grown on need, to CG_METER_PENDING */
    size_t             npending, npcap;
    time_t             pending_retry; /* no retry before */
} cg_meter_t;

int  cg_meter_init(cg_meter_t *m, const cg_conf_t *conf, char *err,
                   size_t errlen);
void cg_meter_free(cg_meter_t *m);
/* The global [limits] as a cg_limits_t (what a route starts from). */
void cg_meter_limits(const cg_conf_t *conf, cg_limits_t *lim);
/* Rate limits and the in-flight slot; fails r with 429/503. */
int  cg_meter_admit(cg_meter_t *m, const cg_limits_t *lim, cg_req_t *r);
/* The second admission, once the route is chosen: the route's own
 * limits (none set: nothing to do), counted apart from the global ones
 * and reported beside them; fails r with 429/503. */
int  cg_meter_admit_route(cg_meter_t *m, const cg_route_t *rt,
                          cg_req_t *r);
/* Reserves the worst case of one call to route rt, at its price (none:
 * refused when a budget is set): the conversation as it will be sent
 * (after the input guards; never less than the client's body) and the
 * system prompt as input, max_tokens as output. Fails r with 429
 * budget_exceeded or 503. */
int  cg_meter_reserve(cg_meter_t *m, cg_req_t *r, const cg_route_t *rt);
/* An attempt given up for a retry or a fallback that was billed (cost,
 * at its own route's price): settles it now and reserves the next
 * attempt, to route next, afresh; so every attempt is paid and a cap
 * holds across them. Fails r like cg_meter_reserve. */
int  cg_meter_next_attempt(cg_meter_t *m, cg_req_t *r, uint64_t cost,
                           const cg_route_t *next);
/* After the call (success or not): settles the reservation to the actual
 * usage of the last attempt, counts tokens, frees the in-flight slot,
 * raises alerts, and sets r->cost_micro_usd and the token counts to the
 * sums over every attempt that was billed. Safe to call for a request that never got as
 * far as admit or reserve. */
void cg_meter_finish(cg_meter_t *m, const cg_limits_t *lim, cg_req_t *r,
                     const cg_price_t *p);
/* A store failure seen outside the meter (the pre-auth counter): the
 * alert, the rate-limited log line and the request's mark, as for the
 * meter's own. what names the counter ("pre-auth"); denied: whether the
 * policy refused the request. */
void cg_meter_store_failed(cg_meter_t *m, cg_req_t *r, const char *what,
                           int denied);

#endif
