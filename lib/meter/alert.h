/*
 * alert: operator alerts, raised once per period across every worker and
 * host.
 *
 * An alert is a kind (budget, spike, key_rejected, store_down), a subject
 * (which budget, user or key) and a period (the day, the window...). The
 * first worker anywhere to `add` the key cg:alert:<kind>:<subject>:<period>
 * to the shared store raises it; every other one finds the key and stays
 * quiet. A small per-worker memory of keys already seen spares the store
 * a round trip on every later request. "store_down" cannot be deduplicated
 * through the store that is down: it is raised at most once per period per
 * worker.
 *
 * A raised alert becomes one JSON line {"v":1,"ts":...,"event":"alert",...}
 * handed to the sink the application installed (usage log, syslog,
 * webhook, command). This module never blocks on delivery, never logs
 * itself and knows nothing of processes.
 */
#ifndef CG_ALERT_H
#define CG_ALERT_H

#include <stdint.h>
#include <time.h>
#include "core/buf.h"
#include "meter/budget.h"
#include "store/store.h"

typedef void (*cg_alert_sink_pt)(void *ctx, const cg_buf_t *line);

#define CG_ALERT_SEEN       64
#define CG_ALERT_THRESHOLDS 8

typedef struct {
    cg_store_t        *store;
    cg_alert_sink_pt   sink;
    void              *sink_ctx;
    int                threshold[CG_ALERT_THRESHOLDS];  /* percent */
    int                nthresholds;
    long               spike;
    uint64_t           seen[CG_ALERT_SEEN];
    time_t             seen_until[CG_ALERT_SEEN];
    time_t             store_down_until;
    cg_buf_t           line;
} cg_alert_t;

/* Parses "50,80,100" (empty: none) into out[max]; returns the count, or
 * -1 on bad text. Also the config's check of the key. */
int  cg_alert_parse_thresholds(const char *text, int *out, int max);
/* thresholds: "50,80,100" (empty: none). Returns -1 on bad text. */
int  cg_alert_init(cg_alert_t *a, cg_store_t *st, const char *thresholds,
                   long spike, char *err, size_t errlen);
void cg_alert_free(cg_alert_t *a);
void cg_alert_set_sink(cg_alert_t *a, cg_alert_sink_pt sink, void *ctx);

/* Raises kind/subject once per period (ttl seconds); message is text
 * chatgate wrote. Returns 1 when raised here, 0 when already raised, -1
 * when the store could not tell (then nothing is raised). */
int  cg_alert_raise(cg_alert_t *a, const char *kind, const char *subject,
                    const char *period, unsigned ttl, const char *message,
                    time_t now);
/* Checks every budget of a settled or refused hold against the
 * thresholds (a refusal counts as 100 %). */
void cg_alert_budget(cg_alert_t *a, const cg_budgets_t *b,
                     const cg_budget_hold_t *h, int refused, time_t now);
/* A user sent more than [alerts] spike_requests_per_minute. */
void cg_alert_spike(cg_alert_t *a, const char *user, long used, int window,
                    time_t now);
/* The provider refused chatgate's key (401/403): for provider code. */
void cg_alert_key_rejected(cg_alert_t *a, const char *key_id, int status,
                           time_t now);
/* The store could not be reached. */
void cg_alert_store_down(cg_alert_t *a, const char *why, time_t now);

#endif
