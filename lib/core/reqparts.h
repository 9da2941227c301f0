/*
 * reqparts: the plain parts of the request context (core/req.h) that the
 * stages fill in: who the request is (the who stage), what it may take and
 * what it holds (the how-much stage). Types only, so that the request
 * context depends on nothing above core; the stages own the functions
 * (who/auth.h, meter/ratelimit.h, meter/budget.h) and include this.
 */
#ifndef CG_REQPARTS_H
#define CG_REQPARTS_H

#include <stdint.h>
#include <time.h>

#define CG_USER_MAX     128

/* ---- who ---- */

struct cg_token_s;

/* Who a request was admitted as, beyond the user id: set by the who stage.
 * token is the service token used, or NULL for a browser session. */
typedef struct {
    const char              *via;      /* "signed", "jwt", "php-files", ... */
    const struct cg_token_s *token;
} cg_session_t;

/* ---- how much: rate limits ---- */

typedef enum {
    CG_SCOPE_CALLER = 0,
    CG_SCOPE_ADDR,
    CG_SCOPE_GLOBAL,
    CG_SCOPE__COUNT
} cg_scope_t;

typedef struct {
    long    rpm[CG_SCOPE__COUNT];   /* requests per window; 0: none */
    long    tpm[CG_SCOPE__COUNT];   /* tokens per window; 0: none */
    long    concurrent;             /* caller's requests in flight; 0: none */
    int     window;                 /* seconds (60: "per minute") */
    int     inflight_ttl;           /* safety net for a dead worker */
    const char *ns;                 /* a route's own counters: its name;
                                       NULL: the global ones */
    unsigned    lease_requests;     /* requests one lease covers; 0: off */
} cg_limits_t;

/* One policy's figures, for the RateLimit headers. */
typedef struct {
    const char *name;       /* e.g. "user-rpm" */
    long        quota;
    long        remaining;
    long        used;       /* the estimate, for spike alerts */
    int         window;
    int         reset;      /* seconds until the figures improve */
} cg_limit_info_t;

#define CG_LIMIT_POLICIES  12     /* the global ones and a route's */

typedef struct {
    cg_limit_info_t p[CG_LIMIT_POLICIES];
    int             n;
    int             over;   /* index of the exhausted policy, or -1 */
} cg_limit_report_t;

/* What one request took, to give back in cg_ratelimit_end(). */
typedef struct {
    const char *id[CG_SCOPE__COUNT];  /* NULL: scope not counted */
    long long   bucket;
    const char *caller;               /* holds an in-flight slot */
    const char *ns;                   /* the limits' ns */
    int         fallback;             /* caller's mark: counted elsewhere */
    /* Token windows whose unit taken at admission came from a lease
     * (bits of scopes), and the leases (lib/meter/lease.h). */
    unsigned    tleased;
    struct cg_lease_s *lease;
} cg_limit_hold_t;

/* ---- how much: budgets ---- */

typedef enum {
    CG_BUDGET_DAILY = 0,
    CG_BUDGET_MONTHLY,
    CG_BUDGET__PERIODS
} cg_budget_period_t;

typedef enum {
    CG_BSCOPE_CALLER = 0,
    CG_BSCOPE_GLOBAL,
    CG_BSCOPE__COUNT
} cg_bscope_t;

typedef struct {
    const char *caller;
    /* Names this settlement's markers (lib/meter/budget.c): the request
     * id, and which of the request's reservations this is. */
    const char *mark;
    unsigned    seq;
    uint64_t    reserved;
    long long   bucket;
    int         active;
    unsigned    held;                     /* scopes holding it (bits) */
    /* Caps reserved from a lease instead (lib/meter/lease.h): bit
     * scope x CG_BUDGET__PERIODS + period. */
    unsigned    leased;
    time_t      leased_at;  /* names the day and month leased from */
    /* After settle (or a refusal): spend in each budget, for alerts. */
    uint64_t    spent[CG_BSCOPE__COUNT][CG_BUDGET__PERIODS];
    int         over_scope, over_period;   /* which cap refused */
} cg_budget_hold_t;

#endif
