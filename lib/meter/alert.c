#include "meter/alert.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Caps are kept in micro-dollars; people read dollars. */
#define CG_ALERT_MICRO_PER_USD  1e6

#define CG_ALERT_DOWN_PERIOD  (5 * CG_MINUTE_S)
/* How long "raised already" is kept: past the end of the period (a day,
 * a month of up to 31 days) whatever the hour it was raised at. */
#define CG_ALERT_DAY_TTL      (2 * CG_DAY_S)
#define CG_ALERT_MONTH_TTL    (32 * CG_DAY_S)
/* A key refused by the provider is raised once an hour. */
#define CG_ALERT_KEY_PERIOD   CG_HOUR_S


int
cg_alert_parse_thresholds(const char *text, int *out, int max)
{
    const char *p = text;
    char       *end;
    long        v;
    int         n = 0;

    while (p && *p) {
        v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1000 || n == max
            || (*end != ',' && *end != '\0')) {
            return -1;
        }
        out[n++] = (int) v;
        p = *end ? end + 1 : end;
    }
    return n;
}


int
cg_alert_init(cg_alert_t *a, cg_store_t *st, const char *thresholds,
              long spike, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->store = st;
    a->spike = spike;
    a->nthresholds = cg_alert_parse_thresholds(thresholds, a->threshold,
                                               CG_ALERT_THRESHOLDS);
    if (a->nthresholds < 0) {
        a->nthresholds = 0;
        snprintf(err, errlen, "[alerts] budget_thresholds must be up to "
                 "%d percentages such as 50,80,100", CG_ALERT_THRESHOLDS);
        return -1;
    }
    return 0;
}


void
cg_alert_free(cg_alert_t *a)
{
    cg_buf_free(&a->line);
}


void
cg_alert_set_sink(cg_alert_t *a, cg_alert_sink_pt sink, void *ctx)
{
    a->sink = sink;
    a->sink_ctx = ctx;
}


static uint64_t
cg_alert_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;

    while (n--) {
        h = (h ^ (unsigned char) *s++) * 1099511628211ULL;
    }
    return h ? h : 1;
}


/* The per-worker memory: 1 if key was already raised or found raised. */
static int
cg_alert_seen(cg_alert_t *a, uint64_t h, time_t now, time_t until)
{
    size_t i, slot = h % CG_ALERT_SEEN;

    for (i = 0; i < CG_ALERT_SEEN; i++) {
        if (a->seen[i] == h && a->seen_until[i] > now) {
            return 1;
        }
    }
    if (until) {
        a->seen[slot] = h;
        a->seen_until[slot] = until;
    }
    return 0;
}


/* The machine the alert comes from: whoever reads it may run several. */
static const char *
cg_alert_host(void)
{
    static char host[256];

    if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) != 0) {
        snprintf(host, sizeof(host), "unknown");
    }
    return host;
}


static void
cg_alert_emit(cg_alert_t *a, const char *kind, const char *subject,
              const char *period, const char *message, time_t now)
{
    struct tm tm;
    char      ts[32];

    if (a->sink == NULL) {
        return;
    }
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cg_buf_reset(&a->line);
    cg_buf_addf(&a->line, "{\"v\":1,\"ts\":\"%s\",\"event\":\"alert\","
                "\"alert\":", ts);
    cg_buf_add_json_cstr(&a->line, kind);
    cg_buf_adds(&a->line, ",\"subject\":");
    cg_buf_add_json_cstr(&a->line, subject);
    cg_buf_adds(&a->line, ",\"period\":");
    cg_buf_add_json_cstr(&a->line, period);
    cg_buf_adds(&a->line, ",\"message\":");
    cg_buf_add_json_cstr(&a->line, message);
    cg_buf_adds(&a->line, ",\"host\":");
    cg_buf_add_json_cstr(&a->line, cg_alert_host());
    cg_buf_adds(&a->line, "}\n");
    if (!a->line.oom) {
        a->sink(a->sink_ctx, &a->line);
    }
}


int
cg_alert_raise(cg_alert_t *a, const char *kind, const char *subject,
               const char *period, unsigned ttl, const char *message,
               time_t now)
{
    char      key[CG_STORE_KEY_MAX + 1];
    int       n, rc;
    uint64_t  h;

    n = snprintf(key, sizeof(key), "cg:alert:%s:%s:%s", kind, subject,
                 period);
    if (n < 0 || n >= (int) sizeof(key)) {
        return -1;
    }
    h = cg_alert_hash(key, (size_t) n);
    if (cg_alert_seen(a, h, now, 0)) {
        return 0;
    }
    rc = cg_store_add(a->store, key, (size_t) n, 1, ttl);
    if (rc < 0) {
        return -1;
    }
    cg_alert_seen(a, h, now, now + (time_t) ttl);
    if (rc == 0) {
        cg_alert_emit(a, kind, subject, period, message, now);
        return 1;
    }
    return 0;
}


static void
cg_alert_one_budget(cg_alert_t *a, const cg_budget_hold_t *h, int s, int p,
                    uint64_t cap, int pct, time_t now)
{
    static const char *const scope[] = { "user", "global" };
    static const char *const per[] = { "daily", "monthly" };
    char       subject[CG_STORE_KEY_MAX / 2], period[16] = "", msg[160];
    struct tm  tm;
    int        i;

    for (i = 0; i < a->nthresholds; i++) {
        if (pct < a->threshold[i]) {
            continue;
        }
        /* The date only for an alert: this runs for every request. */
        if (period[0] == '\0') {
            gmtime_r(&now, &tm);
            strftime(period, sizeof(period), p == 0 ? "%Y-%m-%d" : "%Y-%m",
                     &tm);
        }
        snprintf(subject, sizeof(subject), "%s_%s:%s:%d", scope[s], per[p],
                 s == 0 ? h->caller : "*", a->threshold[i]);
        snprintf(msg, sizeof(msg), "%s %s budget of %s at %d%% (threshold "
                 "%d%%, cap $%.2f)", scope[s], per[p],
                 s == 0 ? h->caller : "the site", pct, a->threshold[i],
                 (double) cap / CG_ALERT_MICRO_PER_USD);
        (void) cg_alert_raise(a, "budget", subject, period,
                              p == 0 ? CG_ALERT_DAY_TTL : CG_ALERT_MONTH_TTL,
                              msg, now);
    }
}


void
cg_alert_budget(cg_alert_t *a, const cg_budgets_t *b,
                const cg_budget_hold_t *h, int refused, time_t now)
{
    uint64_t cap;
    int      s, p, pct;

    for (s = 0; s < CG_BSCOPE__COUNT; s++) {
        for (p = 0; p < CG_BUDGET__PERIODS; p++) {
            cap = b->cap[s][p];
            if (cap == 0 || (s == 0 && h->caller == NULL)) {
                continue;
            }
            pct = (int) (h->spent[s][p] * 100 / cap);
            if (refused && h->over_scope == s && h->over_period == p) {
                pct = pct < 100 ? 100 : pct;
            }
            cg_alert_one_budget(a, h, s, p, cap, pct, now);
        }
    }
}


void
cg_alert_spike(cg_alert_t *a, const char *user, long used, int window,
               time_t now)
{
    char period[32], msg[160];

    if (a->spike <= 0 || used <= a->spike) {
        return;
    }
    window = window > 0 ? window : CG_MINUTE_S;
    snprintf(period, sizeof(period), "%lld", (long long) now / window);
    snprintf(msg, sizeof(msg), "user %s sent %ld requests in a %d s window "
             "(spike threshold %ld)", user, used, window, a->spike);
    (void) cg_alert_raise(a, "spike", user, period, (unsigned) window * 2,
                          msg, now);
}


void
cg_alert_key_rejected(cg_alert_t *a, const char *key_id, int status,
                      time_t now)
{
    char period[32], msg[160];

    snprintf(period, sizeof(period), "%lld",
             (long long) now / CG_ALERT_KEY_PERIOD);
    snprintf(msg, sizeof(msg), "the provider refused key %s with status %d: "
             "revoked or wrong?", key_id ? key_id : "?", status);
    if (cg_alert_raise(a, "key_rejected", key_id ? key_id : "?", period,
                       CG_ALERT_KEY_PERIOD, msg, now) < 0) {
        cg_alert_emit(a, "key_rejected", key_id, period, msg, now);
    }
}


void
cg_alert_store_down(cg_alert_t *a, const char *why, time_t now)
{
    char period[32], msg[200];

    if (now < a->store_down_until) {
        return;
    }
    a->store_down_until = now + CG_ALERT_DOWN_PERIOD;
    snprintf(period, sizeof(period), "%lld",
             (long long) now / CG_ALERT_DOWN_PERIOD);
    snprintf(msg, sizeof(msg), "the counter store cannot be reached: %s",
             why);
    cg_alert_emit(a, "store_down", "store", period, msg, now);
}
