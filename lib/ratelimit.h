/*
 * ratelimit: per-user request rate, counted in the shared store.
 *
 * A fixed one-minute window per user: one atomic increment with expiry per
 * request (key cg:rpm:<user>:<minute>), so every worker and every host that
 * shares the memcached servers shares the count. The caller turns the
 * result into 429 + Retry-After, or into 503 / a pass when the store is down.
 */
#ifndef CG_RATELIMIT_H
#define CG_RATELIMIT_H

#include <time.h>
#include "store.h"

typedef enum {
    CG_LIMIT_PASS = 0,
    CG_LIMIT_OVER,
    CG_LIMIT_STORE_DOWN
} cg_limit_rc_t;

typedef struct {
    long    limit;
    long    remaining;
    int     reset;          /* seconds until the window resets */
} cg_limit_info_t;

cg_limit_rc_t cg_limit_rpm(cg_store_t *st, const char *user, long limit,
                           time_t now, cg_limit_info_t *info);

#endif
