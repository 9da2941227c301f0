#include "outage.h"
#include "log.h"

#include "core/clock.h"

#include <pthread.h>
#include <string.h>

#define CG_OUTAGE_EVERY_S  60.0

enum { CG_OUTAGE_STORE, CG_OUTAGE_PROVIDER, CG_OUTAGE__COUNT };

static pthread_mutex_t cg_outage_lock = PTHREAD_MUTEX_INITIALIZER;
static double          cg_outage_last[CG_OUTAGE__COUNT];
static unsigned long   cg_outage_since[CG_OUTAGE__COUNT];


/* 1 when this kind may be logged now; *hits: requests since the last. */
static int
cg_outage_due(int kind, unsigned long *hits)
{
    double now = cg_clock_mono();
    int    due;

    pthread_mutex_lock(&cg_outage_lock);
    cg_outage_since[kind]++;
    due = cg_outage_last[kind] == 0
          || now - cg_outage_last[kind] >= CG_OUTAGE_EVERY_S;
    if (due) {
        cg_outage_last[kind] = now;
        *hits = cg_outage_since[kind];
        cg_outage_since[kind] = 0;
    }
    pthread_mutex_unlock(&cg_outage_lock);
    return due;
}


void
cg_outage_note(const cg_conf_t *conf, const cg_req_t *r)
{
    const cg_route_t *rt;
    unsigned long     hits = 0;
    int               store, provider;

    const char       *type = cg_store_type_name(conf->store.type);

    store = r->err == CG_E_UNAVAILABLE
            && strncmp(r->reason, type, strlen(type)) == 0;
    provider = (r->err == CG_E_UPSTREAM_TIMEOUT
                && strncmp(r->reason, "provider timeout", 16) == 0)
               || (r->err == CG_E_UPSTREAM
                   && strncmp(r->reason, "provider call failed", 20) == 0);
    if (store && cg_outage_due(CG_OUTAGE_STORE, &hits)) {
        cg_log(CG_LOG_ERROR, "counter store down (%s %s): %s; %lu request(s) "
               "refused with 503 since the last such line", type,
               conf->store.type == CG_STORE_LOCAL ? conf->store.path
                                                  : conf->memcached.servers,
               r->reason, hits);
    } else if (provider && cg_outage_due(CG_OUTAGE_PROVIDER, &hits)) {
        rt = r->route ? cg_provider_route_find(conf, r->route,
                                               strlen(r->route)) : NULL;
        cg_log(CG_LOG_ERROR, "provider unreachable (route %s, %s): %s; %lu "
               "request(s) failed since the last such line",
               r->route ? r->route : "?", rt ? rt->base_url : "?", r->reason,
               hits);
    }
}
