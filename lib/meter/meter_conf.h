/*
 * meter_conf: the settings of the how-much stage, [limits] (rates and
 * concurrency), [budget], [price MODEL] and [alerts]. Plain types only:
 * lib/conf/config.h embeds this.
 */
#ifndef CG_METER_CONF_H
#define CG_METER_CONF_H

/* [limits] concurrent_requests = auto: half the pool. */
#define CG_LIMITS_CONCURRENT_AUTO  (-1L)

#include <stddef.h>
#include <stdint.h>
#include "conf/conf.h"

/* on_store_error: what a request gets when the store cannot count it. */
typedef enum {
    CG_FAIL_DENY = 0,           /* 503 */
    CG_FAIL_ALLOW = 1,          /* served, uncounted */
    CG_FAIL_LOCAL = 2           /* counted in this worker only */
} cg_fail_t;

/* One [price MODEL] section: micro-dollars per million tokens. */
typedef struct {
    char       *model;
    uint64_t    input;
    uint64_t    output;
    uint64_t    cache_write;
    uint64_t    cache_read;
} cg_price_t;

typedef struct {
    int     requests_per_minute;
    int     on_store_error;     /* cg_fail_t */
    long    tokens_per_minute;
    long    addr_requests_per_minute;
    long    addr_tokens_per_minute;
    long    global_requests_per_minute;
    long    global_tokens_per_minute;
    long    concurrent_requests;    /* CG_LIMITS_CONCURRENT_AUTO: auto */
    int     window_seconds;
    int     lease_requests;     /* requests one lease covers; 0: off */
} cg_limits_conf_t;

typedef struct {
    uint64_t    user_daily;     /* micro-dollars; 0: no cap */
    uint64_t    user_monthly;
    uint64_t    global_daily;
    uint64_t    global_monthly;
    int         on_store_error; /* CG_FAIL_DENY or CG_FAIL_ALLOW */
    int         lease_requests; /* reservations one lease covers; 0: off */
    cg_price_t *prices;         /* [price MODEL] sections */
    size_t      nprices;
} cg_budget_conf_t;

typedef struct {
    char   *budget_thresholds;
    long    spike_rpm;
    char   *webhook;
    char   *command;
} cg_alerts_conf_t;

extern const cg_conf_section_t cg_limits_conf_section;
extern const cg_conf_section_t cg_budget_conf_section;
extern const cg_conf_section_t cg_price_conf_section;
extern const cg_conf_section_t cg_alerts_conf_section;

#endif
