#include "ctl.h"
#include "masterctl.h"

#include "provider/keys.h"
#include "provider/provider.h"
#include "provider/upstream.h"
#include "log/usagelog.h"
#include "core/clock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


int
cg_ctl_reload(const cg_conf_t *conf)
{
    return cg_masterctl_reload(conf->server.pid_file, conf->log.error_log);
}


/* One minimal request (one "ping" turn, max_tokens 1) through rt. */
static int
cg_ctl_probe_call(const cg_conf_t *conf, const cg_route_t *rt, long *status,
                  char *why, size_t whylen)
{
    const cg_provider_t *p = cg_provider_find(rt->provider);
    cg_upstream_t       *up;
    cg_buf_t             body, url, hdr, resp;
    cg_up_call_t         call;
    cg_up_result_t       res;
    cg_req_t             r;
    char                 ping[] = "ping";
    cg_msg_t             msg = { 0, ping, 4 };
    cg_up_rc_t           rc;

    if (p == NULL || cg_upstream_global_init() != 0
        || (up = cg_upstream_new(conf)) == NULL) {
        snprintf(why, whylen, "cannot set up the HTTP client");
        return -1;
    }
    memset(&r, 0, sizeof(r));
    r.msgs = &msg;
    r.nmsgs = 1;
    cg_buf_init(&body);
    cg_buf_init(&url);
    cg_buf_init(&hdr);
    cg_buf_init(&resp);
    p->build(rt, &r, "", 0, &body);
    cg_provider_url(p, rt, &url);
    cg_provider_headers(p, rt, &hdr);
    memset(&call, 0, sizeof(call));
    memset(&res, 0, sizeof(res));
    call.url = url.data;
    call.headers = hdr.data;
    call.body = body.data;
    call.len = body.len;
    call.connect_ms = rt->connect_timeout_ms;
    call.total_ms = rt->timeout_ms;
    rc = body.oom || url.oom || hdr.oom ? CG_UP_FAILED
         : cg_upstream_call(up, &call, &resp, &res);
    *status = res.status;
    snprintf(why, whylen, "%s", res.why);
    if (hdr.data) {
        cg_buf_wipe_bytes(hdr.data, hdr.len);
    }
    cg_buf_free(&hdr);
    cg_buf_free(&url);
    cg_buf_free(&body);
    cg_buf_free(&resp);     /* the provider's text is never shown */
    cg_upstream_free(up);
    return rc == CG_UP_OK && *status >= 200 && *status <= 299 ? 0 : -1;
}


/* The route a probe of key name goes through: the first route using it,
 * else (a [key NAME] no route uses yet, e.g. a new one) the first route
 * the key lists, else the first route, with the key's secret borrowed. */
static int
cg_ctl_probe_route(cg_conf_t *conf, const char *name, cg_route_t *out)
{
    const cg_key_t *k;
    int             i;

    for (i = 0; i < conf->provider.nroutes; i++) {
        if (strcmp(cg_provider_route_key_name(&conf->provider.routes[i]), name)
            == 0) {
            *out = conf->provider.routes[i];
            return 0;
        }
    }
    if ((k = cg_keys_find(&conf->provider.keys, name)) == NULL) {
        fprintf(stderr, "chatgate: probe: no [key %s] and no route using "
                "it\n", name);
        return -1;
    }
    if (k->secret.data == NULL) {
        fprintf(stderr, "chatgate: probe: key %s is a %s key; this server "
                "is %s and never reads it\n", name, cg_keys_env_name(k->env),
                cg_keys_env_name(conf->provider.environment));
        return -1;
    }
    for (i = 0; i < conf->provider.nroutes - 1; i++) {
        if (cg_keys_list_has(k->routes, conf->provider.routes[i].name)) {
            break;
        }
    }
    *out = conf->provider.routes[i];
    out->api_key = k->secret;       /* borrowed for the one call */
    return 0;
}


int
cg_ctl_probe(cg_conf_t *conf, const char *key, const char *key_file)
{
    cg_route_t        rt;
    const char       *name = key ? key : cg_provider_api_key_name(conf);
    long              status = 0;
    char              why[160] = "", detail[200], ref[4200], err[512];
    int               rc;
    cg_audit_event_t  ev = { "key_probe", name, NULL, NULL, detail };
    cg_secret_t       cand;

    memset(&cand, 0, sizeof(cand));
    if (cg_ctl_probe_route(conf, name, &rt) != 0) {
        return 1;
    }
    if (key_file) {
        /* The candidate, with the checks any file: key gets. */
        snprintf(ref, sizeof(ref), "file:%s", key_file);
        if (cg_secret_load(&cand, ref, err, sizeof(err)) != 0) {
            fprintf(stderr, "chatgate: probe: %s\n", err);
            return 1;
        }
        rt.api_key = cand;
    }
    rt.max_tokens = 1;
    rc = cg_ctl_probe_call(conf, &rt, &status, why, sizeof(why));
    ev.key_id = rt.api_key.fp;
    snprintf(detail, sizeof(detail), "%s: status %ld%s%s",
             rc == 0 ? "ok" : "failed", status, why[0] ? ", " : "", why);
    printf("chatgate: probe of %skey %s (%s): %s (route %s)\n",
           key_file ? "candidate " : "", name, rt.api_key.fp, detail,
           rt.name);
    cg_usagelog_audit(conf->log.usage_log, &ev);
    cg_secret_free(&cand);
    return rc == 0 ? 0 : 1;
}


void
cg_ctl_check_keys(const cg_conf_t *conf)
{
    char     msg[300];
    size_t   i;
    int      r;
    cg_key_t pk;

    for (r = 0; r < conf->provider.nroutes; r++) {
        cg_provider_route_keyview(conf, &conf->provider.routes[r], &pk);
        if (strncmp(conf->provider.routes[r].api_key_ref, "key:", 4) != 0
            && cg_keys_age_check(&pk, cg_clock_now(), msg, sizeof(msg))) {
            printf("chatgate: warning: %s\n", msg);
        }
    }
    for (i = 0; i < conf->provider.keys.n; i++) {
        const cg_key_t *k = &conf->provider.keys.v[i];

        printf("chatgate: key %s (%s): %s\n", k->name, cg_keys_env_name(k->env),
               k->secret.data ? k->secret.fp : "not read (other "
               "environment)");
        if (k->secret.data && cg_keys_age_check(k, cg_clock_now(), msg,
                                                sizeof(msg))) {
            printf("chatgate: warning: %s\n", msg);
        }
    }
}
