#include "keylog.h"
#include "log.h"

#include "log/usagelog.h"
#include "provider/keys.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


static const char *
cg_keylog_old_fp(const cg_conf_t *old, const cg_key_t *k)
{
    size_t i;
    int    r;

    if (old == NULL) {
        return NULL;
    }
    for (r = 0; r < old->provider.nroutes; r++) {
        if (strcmp(cg_provider_route_key_name(&old->provider.routes[r]),
                   k->name) == 0
            && old->provider.routes[r].api_key.data) {
            return old->provider.routes[r].api_key.fp;
        }
    }
    for (i = 0; i < old->provider.keys.n; i++) {
        if (strcmp(old->provider.keys.v[i].name, k->name) == 0
            && old->provider.keys.v[i].secret.data) {
            return old->provider.keys.v[i].secret.fp;
        }
    }
    return NULL;
}


static void
cg_keylog_key(const cg_conf_t *old, const cg_conf_t *nc, const cg_key_t *k)
{
    cg_audit_event_t  ev = { "key_loaded", k->name, k->secret.fp, NULL,
                             cg_keys_env_name(k->env) };
    const char       *ofp = cg_keylog_old_fp(old, k);
    char              msg[300];

    cg_usagelog_audit(nc->log.usage_log, &ev);
    if (ofp && strcmp(ofp, k->secret.fp) != 0) {
        ev.action = "key_rotated";
        ev.old_key_id = ofp;
        cg_usagelog_audit(nc->log.usage_log, &ev);
        cg_log(CG_LOG_NOTICE, "key %s rotated: %s -> %s", k->name, ofp,
               k->secret.fp);
    }
    if (cg_keys_age_check(k, cg_clock_now(), msg, sizeof(msg))) {
        ev.action = "key_age";
        ev.old_key_id = NULL;
        ev.detail = msg;
        cg_usagelog_audit(nc->log.usage_log, &ev);
        cg_log(CG_LOG_WARN, "%s", msg);
    }
}


void
cg_keylog_refused(const cg_conf_t *cur, const char *why)
{
    cg_audit_event_t ev = { "reload_refused", NULL, NULL, NULL, why };

    cg_usagelog_audit(cur->log.usage_log, &ev);
}


void
cg_keylog_events(const cg_conf_t *old, const cg_conf_t *nc,
                 const char *action)
{
    cg_audit_event_t ev = { action, NULL, NULL, NULL,
                            cg_keys_env_name(nc->provider.environment) };
    cg_key_t         pk;
    size_t           i;
    int              r;

    cg_usagelog_audit(nc->log.usage_log, &ev);
    for (r = 0; r < nc->provider.nroutes; r++) {
        if (strncmp(nc->provider.routes[r].api_key_ref, "key:", 4) != 0) {
            cg_provider_route_keyview(nc, &nc->provider.routes[r], &pk);
            cg_keylog_key(old, nc, &pk);
        }
    }
    for (i = 0; i < nc->provider.keys.n; i++) {
        if (nc->provider.keys.v[i].secret.data) {
            cg_keylog_key(old, nc, &nc->provider.keys.v[i]);
        }
    }
}
