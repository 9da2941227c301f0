/*
 * config: the whole configuration, one sub-struct per module.
 *
 * Each module owns its settings: its rows, its struct (a small plain
 * "<module>_conf.h" header with no functions of the stage), its checks
 * (lib/conf/conf.h says how). This header only gathers those structs into
 * cg_conf_t and names the calls that open one; lib/conf/registry.c lists
 * the sections. Unknown keys and sections are errors (like `nginx -t`),
 * and a config file holding anything shaped like a provider key is
 * refused, naming the line but never echoing the value.
 *
 * Secrets are loaded separately (cg_conf_load_secrets) so that a reload
 * can load a new set before dropping the old one; app/confopen.c is the
 * one function that opens and checks a configuration for every command.
 * This module never logs; it returns errors as text.
 */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "conf/conf.h"
#include "conf/server_conf.h"
#include "guard/guard_conf.h"
#include "http/http_conf.h"
#include "log/log_conf.h"
#include "meter/meter_conf.h"
#include "provider/provider_conf.h"
#include "store/store_conf.h"
#include "who/session_conf.h"

typedef struct cg_conf_s {
    cg_server_conf_t    server;     /* [server]: socket, processes */
    cg_pool_conf_t      pool;
    cg_status_conf_t    status;
    cg_http_conf_t      http;       /* [http], [server] chat_path ... */
    cg_log_conf_t       log;
    cg_session_conf_t   session;    /* [session], [token NAME] */
    cg_limits_conf_t    limits;
    cg_budget_conf_t    budget;     /* [budget], [price MODEL] */
    cg_alerts_conf_t    alerts;
    cg_store_conf_t     store;
    cg_memcached_conf_t memcached;
    cg_provider_conf_t  provider;   /* [provider], [route NAME], [key NAME] */
    cg_input_conf_t     input;
    cg_guard_conf_t     guard;
    cg_pii_conf_t       pii;
    /* The file cg_conf_load() read (absolute when it could be resolved):
     * names this configuration where two may meet (the local store). */
    char                path[256];
} cg_conf_t;

/* Fills conf with the defaults. */
int  cg_conf_init(cg_conf_t *conf, char *err, size_t errlen);
/* Parses path over the defaults and runs every module's checks; returns
 * 0, or -1 with a message. */
int  cg_conf_load(cg_conf_t *conf, const char *path, char *err, size_t errlen);
/* Loads the secrets the config refers to (and file: system prompts), and
 * runs the checks that need them. */
int  cg_conf_load_secrets(cg_conf_t *conf, char *err, size_t errlen);
/* Loads only the session keys (for `mint`, which needs no provider key). */
int  cg_conf_load_session_secret(cg_conf_t *conf, char *err, size_t errlen);
void cg_conf_free(cg_conf_t *conf);

/* Prints every key as "[section] key<TAB>default<TAB>doc" lines, grouped
 * by section (`chatgate keys`; docs/config.md is made from it). */
void cg_conf_print_keys(FILE *f);

/* Defined by meter_conf.c, declared here where both types are known: the
 * [price] row a route is billed at (its `price`, else its model). */
const cg_price_t *cg_conf_route_price(const cg_conf_t *conf,
                                      const cg_route_t *rt);

#endif
