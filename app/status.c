#include "status.h"
#include "acl.h"
#include "fconn.h"

#include "core/buf.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    int procs;
    int busy;
    int idle;
} cg_status_pool_t;


static void
cg_status_count(cg_sb_t *sb, cg_status_pool_t *p)
{
    int i, j, st;

    memset(p, 0, sizeof(*p));
    for (i = 0; i < sb->c->nprocs; i++) {
        if (atomic_load(&sb->procs[i].pid) == 0) {
            continue;
        }
        p->procs++;
        for (j = 0; j < sb->c->threads; j++) {
            st = atomic_load(&cg_sb_thread(sb, i, j)->state);
            p->busy += st == CG_SB_BUSY;
            p->idle += st == CG_SB_IDLE;
        }
    }
}


static void
cg_status_json_slots(cg_sb_t *sb, cg_buf_t *b)
{
    long long       now = cg_sb_now_ms();
    cg_sb_thread_t *t;
    char            user[CG_SB_USER_MAX];
    int             i, j, first = 1, busy;

    cg_buf_adds(b, ",\"slots\":[");
    for (i = 0; i < sb->c->nprocs; i++) {
        if (atomic_load(&sb->procs[i].pid) == 0) {
            continue;
        }
        for (j = 0; j < sb->c->threads; j++) {
            t = cg_sb_thread(sb, i, j);
            busy = atomic_load(&t->state) == CG_SB_BUSY;
            memcpy(user, t->user, sizeof(user));
            user[sizeof(user) - 1] = '\0';
            cg_buf_addf(b, "%s{\"pid\":%d,\"thread\":%d,\"state\":\"%s\","
                        "\"requests\":%llu,\"age_ms\":%lld,\"user\":",
                        first ? "" : ",", atomic_load(&sb->procs[i].pid), j,
                        busy ? "busy" : "idle",
                        atomic_load(&t->requests),
                        busy ? now - atomic_load(&t->started_ms) : 0LL);
            if (busy && user[0]) {
                cg_buf_add_json_cstr(b, user);
            } else {
                cg_buf_adds(b, "null");     /* idle, or not yet known */
            }
            cg_buf_addc(b, '}');
            first = 0;
        }
    }
    cg_buf_addc(b, ']');
}


/* Worker deaths of every generation (a draining one included), by the
 * signal that ended them, and the usage lines the master wrote for the
 * requests they cut. */
static void
cg_status_json_deaths(cg_sb_counters_t *c, cg_buf_t *b)
{
    int i, n = 0;

    cg_buf_addf(b, ",\"worker_deaths\":%llu,\"worker_deaths_by_signal\":{",
                atomic_load(&c->deaths));
    for (i = 1; i < CG_SB_SIGNALS; i++) {
        if (atomic_load(&c->deaths_by_signal[i]) > 0) {
            cg_buf_addf(b, "%s\"%d\":%llu", n++ ? "," : "", i,
                        atomic_load(&c->deaths_by_signal[i]));
        }
    }
    cg_buf_addf(b, "},\"orphan_usage_lines\":%llu",
                atomic_load(&c->orphan_lines));
}


static void
cg_status_json(const cg_conf_t *conf, cg_sb_t *sb, cg_buf_t *b)
{
    static const char *modes[] = { "static", "dynamic", "ondemand" };
    cg_sb_counters_t  *c = sb->c;
    cg_status_pool_t   p;
    int                i;

    cg_status_count(sb, &p);
    cg_buf_addf(b, "{\"pool\":{\"mode\":\"%s\",\"processes\":%d,"
                "\"threads\":%d,\"busy\":%d,\"idle\":%d},"
                "\"uptime_s\":%lld,\"requests\":%llu,\"connections\":%llu,"
                "\"errors\":{",
                modes[conf->pool.mode], p.procs, c->threads, p.busy, p.idle,
                (long long) cg_clock_now() - atomic_load(&c->started_wall),
                atomic_load(&c->requests), atomic_load(&c->connections));
    for (i = 1; i < CG_E__COUNT; i++) {
        cg_buf_addf(b, "%s\"%s\":%llu", i > 1 ? "," : "",
                    cg_err_type((cg_err_t) i), atomic_load(&c->errors[i]));
    }
    cg_buf_addf(b, "},\"requests_by_api\":{\"chat\":%llu,\"anthropic\":%llu,"
                "\"openai\":%llu", atomic_load(&c->by_api[CG_API_CHAT]),
                atomic_load(&c->by_api[CG_API_ANTHROPIC]),
                atomic_load(&c->by_api[CG_API_OPENAI]));
    cg_buf_adds(b, "},\"upstream_latency_ms\":{\"buckets\":{");
    for (i = 0; i <= CG_SB_LAT_BUCKETS; i++) {
        if (i < CG_SB_LAT_BUCKETS) {
            cg_buf_addf(b, "\"%g\":", cg_sb_lat_bounds_ms[i]);
        } else {
            cg_buf_adds(b, "\"+Inf\":");
        }
        cg_buf_addf(b, "%llu%s", atomic_load(&c->latency[i]),
                    i < CG_SB_LAT_BUCKETS ? "," : "");
    }
    cg_buf_addf(b, "},\"sum\":%.3f,\"count\":%llu},"
                "\"tokens\":{\"in\":%llu,\"out\":%llu},\"spend_usd\":%.6f,"
                "\"respawns\":%llu,\"terminated\":%llu",
                (double) atomic_load(&c->latency_sum_us) / 1000.0,
                atomic_load(&c->latency_count), atomic_load(&c->tokens_in),
                atomic_load(&c->tokens_out),
                (double) atomic_load(&c->spend_microusd) / 1e6,
                atomic_load(&c->respawns), atomic_load(&c->terminated));
    /* The configured caps, so a dashboard (the WordPress plugin's usage
     * summary) can set spend against them; 0 means no cap. */
    cg_buf_addf(b, ",\"budget_micro_usd\":{\"user_daily\":%llu,"
                "\"user_monthly\":%llu,\"site_daily\":%llu,"
                "\"site_monthly\":%llu}",
                (unsigned long long) conf->budget.user_daily,
                (unsigned long long) conf->budget.user_monthly,
                (unsigned long long) conf->budget.global_daily,
                (unsigned long long) conf->budget.global_monthly);
    cg_status_json_deaths(c, b);
    cg_status_json_slots(sb, b);
    cg_buf_adds(b, "}\n");
}


static void
cg_status_prom_deaths(cg_sb_counters_t *c, cg_buf_t *b)
{
    int i;

    cg_buf_addf(b, "# TYPE chatgate_worker_deaths_total counter\n"
                "chatgate_worker_deaths_total %llu\n"
                "# TYPE chatgate_worker_deaths_by_signal_total counter\n",
                atomic_load(&c->deaths));
    for (i = 1; i < CG_SB_SIGNALS; i++) {
        if (atomic_load(&c->deaths_by_signal[i]) > 0) {
            cg_buf_addf(b, "chatgate_worker_deaths_by_signal_total"
                        "{signal=\"%d\"} %llu\n", i,
                        atomic_load(&c->deaths_by_signal[i]));
        }
    }
    cg_buf_addf(b, "# TYPE chatgate_orphan_usage_lines_total counter\n"
                "chatgate_orphan_usage_lines_total %llu\n",
                atomic_load(&c->orphan_lines));
}


static void
cg_status_prom(cg_sb_t *sb, cg_buf_t *b)
{
    cg_sb_counters_t  *c = sb->c;
    cg_status_pool_t   p;
    unsigned long long cum = 0;
    int                i;

    cg_status_count(sb, &p);
    cg_buf_addf(b, "# TYPE chatgate_requests_total counter\n"
                "chatgate_requests_total %llu\n"
                "# TYPE chatgate_connections_total counter\n"
                "chatgate_connections_total %llu\n"
                "# TYPE chatgate_errors_total counter\n",
                atomic_load(&c->requests), atomic_load(&c->connections));
    for (i = 1; i < CG_E__COUNT; i++) {
        cg_buf_addf(b, "chatgate_errors_total{type=\"%s\"} %llu\n",
                    cg_err_type((cg_err_t) i), atomic_load(&c->errors[i]));
    }
    cg_buf_addf(b, "# TYPE chatgate_requests_by_api_total counter\n"
                "chatgate_requests_by_api_total{api=\"chat\"} %llu\n"
                "chatgate_requests_by_api_total{api=\"anthropic\"} %llu\n"
                "chatgate_requests_by_api_total{api=\"openai\"} %llu\n",
                atomic_load(&c->by_api[CG_API_CHAT]),
                atomic_load(&c->by_api[CG_API_ANTHROPIC]),
                atomic_load(&c->by_api[CG_API_OPENAI]));
    cg_buf_addf(b, "# TYPE chatgate_processes gauge\n"
                "chatgate_processes %d\n"
                "# TYPE chatgate_slots gauge\n"
                "chatgate_slots{state=\"busy\"} %d\n"
                "chatgate_slots{state=\"idle\"} %d\n"
                "# TYPE chatgate_upstream_latency_seconds histogram\n",
                p.procs, p.busy, p.idle);
    for (i = 0; i <= CG_SB_LAT_BUCKETS; i++) {
        cum += atomic_load(&c->latency[i]);
        if (i < CG_SB_LAT_BUCKETS) {
            cg_buf_addf(b, "chatgate_upstream_latency_seconds_bucket"
                        "{le=\"%g\"} %llu\n",
                        cg_sb_lat_bounds_ms[i] / 1000.0, cum);
        } else {
            cg_buf_addf(b, "chatgate_upstream_latency_seconds_bucket"
                        "{le=\"+Inf\"} %llu\n", cum);
        }
    }
    cg_buf_addf(b, "chatgate_upstream_latency_seconds_sum %.6f\n"
                "chatgate_upstream_latency_seconds_count %llu\n"
                "# TYPE chatgate_tokens_total counter\n"
                "chatgate_tokens_total{direction=\"in\"} %llu\n"
                "chatgate_tokens_total{direction=\"out\"} %llu\n"
                "# TYPE chatgate_spend_usd_total counter\n"
                "chatgate_spend_usd_total %.6f\n",
                (double) atomic_load(&c->latency_sum_us) / 1e6,
                atomic_load(&c->latency_count), atomic_load(&c->tokens_in),
                atomic_load(&c->tokens_out),
                (double) atomic_load(&c->spend_microusd) / 1e6);
    cg_status_prom_deaths(c, b);
}


static int
cg_status_wants_text(char *const *envp)
{
    const char *q = cg_fconn_getenv(envp, "QUERY_STRING");
    const char *accept = cg_fconn_getenv(envp, "HTTP_ACCEPT");

    if (q && strstr(q, "format=prometheus")) {
        return 1;
    }
    if (q && strstr(q, "format=json")) {
        return 0;
    }
    return accept && strncmp(accept, "text/plain", 10) == 0;
}


static void
cg_status_write(cg_buf_t *out, const char *status, const char *type,
                const cg_buf_t *b)
{
    cg_buf_addf(out, "Status: %s\r\nContent-Type: %s\r\n"
                "Cache-Control: no-store\r\n\r\n", status, type);
    if (!b->oom) {
        cg_buf_add(out, b->data, b->len);
    }
}


void
cg_status_serve(const cg_conf_t *conf, cg_sb_t *sb, char *const *envp,
                cg_buf_t *out)
{
    const char *addr = cg_fconn_getenv(envp, "REMOTE_ADDR");
    const char *method = cg_fconn_getenv(envp, "REQUEST_METHOD");
    cg_acl_t    allow;
    cg_buf_t    b = { 0 };
    char        err[128];

    if (cg_acl_parse(&allow, conf->status.allow, err, sizeof(err)) != 0
        || !cg_acl_match_str(&allow, addr)) {
        cg_buf_adds(&b, "{\"error\":{\"type\":\"forbidden\",\"message\":"
                    "\"Forbidden.\"}}\n");
        cg_status_write(out, "403 Forbidden", "application/json", &b);
    } else if (method == NULL
               || (strcmp(method, "GET") != 0
                   && strcmp(method, "HEAD") != 0)) {
        cg_buf_adds(&b, "{\"error\":{\"type\":\"method_not_allowed\","
                    "\"message\":\"Use GET.\"}}\n");
        cg_status_write(out, "405 Method Not Allowed", "application/json",
                        &b);
    } else if (cg_status_wants_text(envp)) {
        cg_status_prom(sb, &b);
        cg_status_write(out, "200 OK", "text/plain; version=0.0.4", &b);
    } else {
        cg_status_json(conf, sb, &b);
        cg_status_write(out, "200 OK", "application/json", &b);
    }
    cg_buf_free(&b);
}
