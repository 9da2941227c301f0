/*
 * ratelimit: request and token rates, and requests in flight, counted in
 * the shared store.
 *
 * Windows are approximate sliding windows made of two fixed buckets (the
 * current and the previous window): estimate = current + previous x the
 * share of the previous window still inside the sliding one. Buckets are
 * atomic increments with expiry (key cg:r|t:<scope>:<id>:<bucket>), so
 * every worker and host that shares the store shares the count.
 *
 * Scopes: the caller (a user, or a service token as "token:NAME"), the
 * client address, and the whole site. A cg_limits_t is what a route (or a
 * token) carries; the global one comes from [limits]. A route's own limits
 * (ns = its name) count in keys of their own (cg:r:u@ROUTE:<id>:<bucket>)
 * and report as "route-rpm" etc., beside the global ones. Each limit is
 * optional (0). Requests are counted before the call, tokens after it (a
 * request is refused once the tokens already used reach the quota).
 *
 * With leases (lim->lease_requests and the cache's lease) a request
 * window's bucket is a leased counter (lib/meter/lease.h) whose cap is
 * the limit less the previous window's share: a request takes one unit
 * from the ledger, and only a lease that runs out costs a round trip.
 * Units leased but not used count in the store until the lease is given
 * back (at the end of the bucket at the latest), so a limit may refuse
 * early by what the ledgers hold, never late.
 *
 * Round trips: one incr per configured request scope; one get_multi for
 * token buckets and for previous request buckets this worker has not
 * seen yet (cg_limit_cache_t); one incr and one decr for the in-flight
 * count; one incr per token scope after the call. This module never
 * logs and never decides what a store failure means; the caller does.
 */
#ifndef CG_RATELIMIT_H
#define CG_RATELIMIT_H

#include <time.h>
#include "core/reqparts.h"
#include "meter/lease.h"
#include "store/store.h"

typedef enum {
    CG_LIMIT_PASS = 0,
    CG_LIMIT_OVER,
    CG_LIMIT_STORE_DOWN
} cg_limit_rc_t;



/* A worker's memory of finished request buckets: once a window is over
 * its request count no longer changes, so the "previous" bucket is read
 * from the store once per key and window, not once per request. That
 * makes the common case (a per-user limit) one round trip: the incr. */
#define CG_LIMIT_CACHE  256

typedef struct {
    /* The worker's leases (lib/meter/lease.h), when lim->lease_requests
     * asks for them: request windows are then counted from the ledger. */
    cg_lease_t *lease;
    uint64_t    hash[CG_LIMIT_CACHE];
    long long   bucket[CG_LIMIT_CACHE];
    uint64_t    value[CG_LIMIT_CACHE];
} cg_limit_cache_t;

/* Counts one request against lim for the given ids (caller, address;
 * the global scope is counted when its limits are set). On
 * CG_LIMIT_OVER nothing is left counted. */
cg_limit_rc_t cg_ratelimit_begin(cg_store_t *st, cg_limit_cache_t *cache,
                                 const cg_limits_t *lim, const char *caller,
                                 const char *addr, time_t now,
                                 cg_limit_hold_t *h, cg_limit_report_t *rep);
/* Adds the tokens the request used and frees its in-flight slot. */
int           cg_ratelimit_end(cg_store_t *st, const cg_limits_t *lim,
                               cg_limit_hold_t *h, long tokens, time_t now);

#endif
