/*
 * http_conf: the settings of admission and the answer, [http] and the
 * [server] keys about the endpoint (chat_path, max_body,
 * heartbeat_seconds). Plain types only: lib/conf/config.h embeds this.
 */
#ifndef CG_HTTP_CONF_H
#define CG_HTTP_CONF_H

#include "conf/conf.h"

typedef struct {
    long    max_body;
    char   *chat_path;
    int     heartbeat_seconds;
    char   *allowed_origins;
    int     allow_missing_origin;
    char   *trusted_proxies;
} cg_http_conf_t;

extern const cg_conf_section_t cg_http_server_conf_section;
extern const cg_conf_section_t cg_http_conf_section;

#endif
