#include "conf/config.h"
#include "meter/alert.h"
#include "meter/budget.h"
#include "who/svctoken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_OFF(field)  offsetof(cg_limits_conf_t, field)


static int
cg_meter_conf_money(const cg_conf_cmd_t *cmd, void *base, const char *value,
                    char *err, size_t errlen)
{
    if (cg_budget_money_parse(value, (uint64_t *) ((char *) base + cmd->offset))
        != 0) {
        snprintf(err, errlen, "[%s] %s must be dollars such as 5 or 0.25",
                 cmd->section, cmd->name);
        return -1;
    }
    return 0;
}


/* "auto", or a count (0: no limit). */
static int
cg_meter_conf_concurrent(const cg_conf_cmd_t *cmd, void *base,
                         const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "auto") == 0) {
        *(long *) ((char *) base + cmd->offset) = CG_LIMITS_CONCURRENT_AUTO;
        return 0;
    }
    return cg_conf_set_long(cmd, base, value, err, errlen);
}


static int
cg_meter_conf_thresholds(const cg_conf_cmd_t *cmd, const char *value,
                         char *err, size_t errlen)
{
    int t[CG_ALERT_THRESHOLDS];

    if (cg_alert_parse_thresholds(value, t, CG_ALERT_THRESHOLDS) < 0) {
        snprintf(err, errlen, "[%s] %s must be up to %d percentages such "
                 "as 50,80,100", cmd->section, cmd->name,
                 CG_ALERT_THRESHOLDS);
        return -1;
    }
    return 0;
}


/* deny, local (per-worker counting: [limits] only), allow. */
static const cg_conf_enum_t cg_limits_fail[] = {
    { "deny", CG_FAIL_DENY }, { "local", CG_FAIL_LOCAL },
    { "allow", CG_FAIL_ALLOW }, { NULL, 0 }
};

static const cg_conf_enum_t cg_budget_fail[] = {
    { "deny", CG_FAIL_DENY }, { "allow", CG_FAIL_ALLOW }, { NULL, 0 }
};

static const cg_conf_cmd_t cg_limits_cmds[] = {
    { "limits", "requests_per_minute", cg_conf_set_int,
      CG_OFF(requests_per_minute), "20", 0, 1000000,
      "chat requests per user per minute (0: no limit)" },
    { "limits", "on_store_error", cg_conf_set_enum, CG_OFF(on_store_error),
      "deny", 0, 0,
      "when the store cannot be reached: deny (503), allow the request, or "
      "local (count in this worker only, and log that)", NULL,
      cg_limits_fail },
    { "limits", "tokens_per_minute", cg_conf_set_long,
      CG_OFF(tokens_per_minute), "0", 0, 1000000000,
      "tokens per user per window (0: no limit)" },
    { "limits", "addr_requests_per_minute", cg_conf_set_long,
      CG_OFF(addr_requests_per_minute), "0", 0, 1000000000,
      "requests per client address per window (0: no limit)" },
    { "limits", "addr_tokens_per_minute", cg_conf_set_long,
      CG_OFF(addr_tokens_per_minute), "0", 0, 1000000000,
      "tokens per client address per window (0: no limit)" },
    { "limits", "global_requests_per_minute", cg_conf_set_long,
      CG_OFF(global_requests_per_minute), "0", 0, 1000000000,
      "requests for the whole site per window (0: no limit)" },
    { "limits", "global_tokens_per_minute", cg_conf_set_long,
      CG_OFF(global_tokens_per_minute), "0", 0, 1000000000,
      "tokens for the whole site per window (0: no limit)" },
    { "limits", "concurrent_requests", cg_meter_conf_concurrent,
      CG_OFF(concurrent_requests), "auto", 0, 1000000,
      "requests one caller (user or service token) may have in flight at "
      "once; auto: half the pool (children x threads / 2, at least 1), so "
      "no caller's slow requests can hold every worker; 0: no limit" },
    { "limits", "window_seconds", cg_conf_set_int, CG_OFF(window_seconds),
      "60", 1, 3600, "length of a rate window (\"per minute\" = 60)" },
    { "limits", "lease_requests", cg_conf_set_int, CG_OFF(lease_requests),
      "0", 0, 1000,
      "requests one lease of a rate window covers: a window's count is "
      "leased from the store in chunks of up to this many requests (token "
      "windows: this many percent of the quota), never more than a quarter "
      "of what is left shared among [store] hosts, and counted in the "
      "host's ledger without a round trip; 0: every request is counted in "
      "the store" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_budget_conf_t, field)

static const cg_conf_cmd_t cg_budget_cmds[] = {
    { "budget", "user_daily", cg_meter_conf_money, CG_OFF(user_daily),
      "0", 0, 0, "dollars one user may spend per UTC day (0: no cap)" },
    { "budget", "user_monthly", cg_meter_conf_money, CG_OFF(user_monthly),
      "0", 0, 0, "dollars one user may spend per UTC month (0: no cap)" },
    { "budget", "global_daily", cg_meter_conf_money, CG_OFF(global_daily),
      "0", 0, 0, "dollars the whole site may spend per UTC day (0: no cap)" },
    { "budget", "global_monthly", cg_meter_conf_money,
      CG_OFF(global_monthly), "0", 0, 0,
      "dollars the whole site may spend per UTC month (0: no cap)" },
    { "budget", "on_store_error", cg_conf_set_enum, CG_OFF(on_store_error),
      "deny", 0, 0,
      "when spend cannot be counted: deny (503) or allow (uncapped)", NULL,
      cg_budget_fail },
    { "budget", "lease_requests", cg_conf_set_int, CG_OFF(lease_requests),
      "0", 0, 1000,
      "reservations one lease of a budget covers: spend is leased from the "
      "store in chunks of up to this many reservations (never more than a "
      "quarter of what is left, shared among [store] hosts) and spent from "
      "the host's ledger without a round trip; 0: every reservation and "
      "settlement goes to the store (exact spend there at every moment)" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_price_t, field)

/* [price MODEL]: rows into one cg_price_t, made on first sight. */
static const cg_conf_cmd_t cg_price_cmds[] = {
    { "price MODEL", "input", cg_meter_conf_money, CG_OFF(input), "0", 0, 0,
      "dollars per million input tokens" },
    { "price MODEL", "output", cg_meter_conf_money, CG_OFF(output), "0", 0,
      0, "dollars per million output tokens" },
    { "price MODEL", "cache_write", cg_meter_conf_money, CG_OFF(cache_write),
      "0", 0, 0, "dollars per million tokens written to the prompt cache" },
    { "price MODEL", "cache_read", cg_meter_conf_money, CG_OFF(cache_read),
      "0", 0, 0, "dollars per million tokens read from the prompt cache" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

#undef CG_OFF
#define CG_OFF(field)  offsetof(cg_alerts_conf_t, field)

static const cg_conf_cmd_t cg_alerts_cmds[] = {
    { "alerts", "budget_thresholds", cg_conf_set_str,
      CG_OFF(budget_thresholds), "50,80,100", 0, 0,
      "percentages of any budget that raise an alert (empty: none)",
      cg_meter_conf_thresholds },
    { "alerts", "spike_requests_per_minute", cg_conf_set_long,
      CG_OFF(spike_rpm), "0", 0, 1000000000,
      "alert when one user sends more requests in a window (0: off)" },
    { "alerts", "webhook", cg_conf_set_str, CG_OFF(webhook), "", 0, 0,
      "http(s) URL that gets each alert as Slack-style {\"text\":...}" },
    { "alerts", "command", cg_conf_set_str, CG_OFF(command), "", 0, 0,
      "program run with each alert's JSON on standard input" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


static cg_budget_conf_t *
cg_budget_conf(void *conf)
{
    return &((cg_conf_t *) conf)->budget;
}


static cg_price_t *
cg_price_add(cg_budget_conf_t *b, const char *model)
{
    cg_price_t *p = realloc(b->prices, (b->nprices + 1) * sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    b->prices = p;
    p = &b->prices[b->nprices];
    memset(p, 0, sizeof(*p));
    if ((p->model = strdup(model)) == NULL) {
        return NULL;
    }
    b->nprices++;
    return p;
}


/* One [price MODEL] key: the row for MODEL is made on first sight. */
static int
cg_price_conf_key(void *conf, const char *model, const char *key,
                  const char *value, char *err, size_t errlen)
{
    cg_budget_conf_t *b = cg_budget_conf(conf);
    cg_price_t       *p;
    int               i = cg_conf_rows_find(cg_price_cmds, key);

    if (i < 0) {
        snprintf(err, errlen, "unknown key [price %s] %s", model, key);
        return -1;
    }
    p = (cg_price_t *) cg_budget_price_find(b->prices, b->nprices, model);
    if (p == NULL && (p = cg_price_add(b, model)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cg_price_cmds[i].set(&cg_price_cmds[i], p, value, err, errlen)
        != 0) {
        snprintf(err, errlen, "[price %s] %s must be dollars per million "
                 "tokens, such as 3 or 0.30", model, key);
        return -1;
    }
    return 0;
}


const cg_price_t *
cg_conf_route_price(const cg_conf_t *conf, const cg_route_t *rt)
{
    const char *name = rt->price && rt->price[0] ? rt->price : rt->model;

    return cg_budget_price_find(conf->budget.prices, conf->budget.nprices,
                                name);
}


/* A cap without a price could never be enforced: refuse to start. */
static int
cg_budget_conf_check(void *vconf, const cg_conf_ctx_t *ctx, char *err,
                     size_t errlen)
{
    const cg_conf_t  *conf = vconf;
    const cg_token_t *t;
    const cg_route_t *rt;
    int               i, any;

    (void) ctx;
    any = conf->budget.user_daily || conf->budget.user_monthly
          || conf->budget.global_daily || conf->budget.global_monthly;
    for (t = conf->session.tokens; t && !any; t = t->next) {
        any = (t->have_budget[0] && t->budget[0])
              || (t->have_budget[1] && t->budget[1]);
    }
    for (i = 0; any && i < conf->provider.nroutes; i++) {
        rt = &conf->provider.routes[i];
        if (cg_conf_route_price(conf, rt) == NULL) {
            snprintf(err, errlen, "a budget is set but route %s has no "
                     "[price %s] section", rt->name,
                     rt->price && rt->price[0] ? rt->price : rt->model);
            return -1;
        }
    }
    return 0;
}


static void
cg_budget_conf_free(void *conf)
{
    cg_budget_conf_t *b = cg_budget_conf(conf);

    while (b->nprices > 0) {
        free(b->prices[--b->nprices].model);
    }
    free(b->prices);
    b->prices = NULL;
}


const cg_conf_section_t cg_limits_conf_section = {
    .name = "limits", .cmds = cg_limits_cmds,
    .offset = offsetof(cg_conf_t, limits),
};

const cg_conf_section_t cg_budget_conf_section = {
    .name = "budget", .cmds = cg_budget_cmds,
    .offset = offsetof(cg_conf_t, budget),
    .check = cg_budget_conf_check, .free = cg_budget_conf_free,
};

const cg_conf_section_t cg_price_conf_section = {
    .name = "price", .flags = CG_CONF_NAMED, .cmds = cg_price_cmds,
    .doc_name = "price MODEL", .key = cg_price_conf_key,
};

const cg_conf_section_t cg_alerts_conf_section = {
    .name = "alerts", .cmds = cg_alerts_cmds,
    .offset = offsetof(cg_conf_t, alerts),
};
