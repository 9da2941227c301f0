/*
 * budget: money caps in integer micro-dollars, reserved before a provider
 * call and settled after it.
 *
 * Prices come from the config's [price MODEL] table (dollars per million
 * tokens, parsed from decimal text: no floating point ever touches money).
 *
 * Reserve then settle. Each scope (the caller, the whole site) has settled
 * spend counters per day and per month (cg:$:<scope>:<id>:d|m:<date>) and
 * "held" counters for reservations in flight, bucketed by hold period
 * (cg:h:<scope>:<id>:<bucket>, one period >= the provider timeout, kept
 * for two). Reserving adds the worst case to the current held bucket and
 * then reads settled + held; if any budget would be passed it takes the
 * hold back and refuses. Settling adds the actual cost to the spend
 * counters first and only then releases the hold, so a reader may briefly
 * see a request twice (refusing too much) but never zero times. A worker
 * that dies leaves only a held bucket, which expires: a reservation is
 * released by expiry and never counted twice.
 *
 * With leases (cg_budgets_t.lease, lib/meter/lease.h) the spend counters
 * are leased instead: a reservation takes its worst case from the
 * ledger's lease of each capped counter, and the settlement gives back
 * what it did not use (or counts in the store what it used past it), so
 * the steady state needs no round trip. The store's spend then counts
 * the leases unused yet too: a cap holds exactly, and refuses early by
 * at most what the ledgers hold unused.
 *
 * This module never logs and knows nothing of HTTP; the caller maps the
 * result (429 budget_exceeded, or the store-failure policy).
 */
#ifndef CG_BUDGET_H
#define CG_BUDGET_H

#include <stdint.h>
#include <time.h>
#include "core/reqparts.h"
#include "meter/lease.h"
#include "meter/meter_conf.h"
#include "store/store.h"

/* Prices (cg_price_t) are micro-dollars per million tokens. */


/* The caps, micro-dollars (0: none). A service token's caps fit the
 * same shape: pass them as the caller's. */
typedef struct {
    uint64_t    cap[CG_BSCOPE__COUNT][CG_BUDGET__PERIODS];
    int         hold_seconds;   /* >= the longest provider call */
    /* Leases on (cg_lease_on): reservations and settlements spend from
     * the host's ledger, and the store's spend counters count what every
     * ledger leased (lease.h); no held counters, no markers. */
    cg_lease_t *lease;
    unsigned    lease_requests; /* reservations one lease covers */
} cg_budgets_t;


typedef enum {
    CG_BUDGET_OK = 0,
    CG_BUDGET_OVER,
    CG_BUDGET_STORE_DOWN
} cg_budget_rc_t;

/* "3", "3.5", "0.000125" dollars -> micro-dollars (rounded up past six
 * decimals). Returns 0, or -1 for anything that is not such a number. */
int      cg_budget_money_parse(const char *s, uint64_t *micro);
/* Cost in micro-dollars of a usage at price p, rounded up. */
uint64_t cg_budget_price_cost(const cg_price_t *p, long input, long output,
                              long cache_write, long cache_read);
/* The worst case of one call: bytes_sent / 4 input tokens plus
 * max_tokens output tokens. */
uint64_t cg_budget_price_worst(const cg_price_t *p, size_t bytes_sent,
                               long max_tokens);
const cg_price_t *cg_budget_price_find(const cg_price_t *table, size_t n,
                                       const char *model);
int      cg_budget_any(const cg_budgets_t *b);

cg_budget_rc_t cg_budget_reserve(cg_store_t *st, const cg_budgets_t *b,
                                 const char *caller, uint64_t amount,
                                 time_t now, cg_budget_hold_t *h);
/* The ops of a settlement the store did not answer, kept to be run again
 * once it does: the spend is never dropped because the store went away
 * between the reservation and the settlement. Ops that were sent but not
 * answered may have happened, and on memcached may still happen later
 * (a paused server); each carries a marker (cg:s:<mark>.<seq>:<op>, see
 * budget.c) that says whether it ran, so the resend runs only what did
 * not and nothing is counted twice. Keys live in the struct: fill it in
 * place, do not copy it. */
#define CG_BUDGET_SETTLE_OPS  (CG_BSCOPE__COUNT * (CG_BUDGET__PERIODS + 1))
#define CG_BUDGET_MARK_MAX    80

typedef struct {
    char          keys[CG_BUDGET_SETTLE_OPS][CG_STORE_KEY_MAX + 1];
    char          marks[CG_BUDGET_SETTLE_OPS][CG_BUDGET_MARK_MAX + 1];
    cg_store_op_t ops[CG_BUDGET_SETTLE_OPS];
    size_t        n;        /* 0: nothing left */
    uint64_t      amount;   /* the spend it carries, for the log */
} cg_budget_pending_t;

/* Settles to the actual cost (which may exceed the reservation when the
 * estimate was short: the actual is always what is recorded). h->mark
 * and h->seq name the settlement's markers (a request id and which of
 * its reservations; no mark: no markers, a resend may count twice).
 * Returns 0,
 * or -1 when the store did not answer every op: those are then copied
 * into left (when not NULL) for cg_budget_retry(). */
int            cg_budget_settle(cg_store_t *st, const cg_budgets_t *b,
                                cg_budget_hold_t *h, uint64_t actual,
                                time_t now, cg_budget_pending_t *left);
/* Runs the ops left of a settlement again: 0 when all are answered now
 * (left->n becomes 0), -1 when some are still left. */
int            cg_budget_retry(cg_store_t *st, cg_budget_pending_t *left);
/* For a streaming answer: 1 while used_so_far fits in what was reserved,
 * 0 when the stream should end with an error event and then settle. */
int            cg_budget_check_stream(const cg_budget_hold_t *h,
                                      uint64_t used_so_far);

#endif
