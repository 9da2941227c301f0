/*
 * outage: one error-log line when something chatgate depends on is down,
 * naming it: the counter store (its type and servers or file) or the
 * provider (the route and its URL). Each request already carries its
 * reason in the usage line; this says it where an operator looks, at most
 * once a minute per kind and process, with the count of requests it hit
 * since the last line. It never logs a key or a provider's own text.
 */
#ifndef CG_OUTAGE_H
#define CG_OUTAGE_H

#include "conf/config.h"
#include "core/req.h"

/* Looks at a finished request; logs when it failed for an outage. */
void cg_outage_note(const cg_conf_t *conf, const cg_req_t *r);

#endif
