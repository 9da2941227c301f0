/*
 * auth: the who stage. Finds the caller's credential and runs the
 * configured verifiers ([session] mode, in order; the first that accepts
 * wins): chatgate's signed tokens, HS256 JWTs, PHP sessions in files or in
 * memcached, and service tokens (Bearer cgt_..., always tried first).
 *
 * Before any verification it applies the pre-auth limit: failed
 * authentications per client address per minute, counted in memcached, so
 * guessing session ids or tokens is slow. The client address is
 * REMOTE_ADDR, or, when that is a trusted proxy, the right-most address in
 * X-Forwarded-For that is not one.
 *
 * The client only ever learns "authentication_error" (or 429); the exact
 * reason goes to r->reason for the usage log. A cg_auth_t belongs to one
 * worker thread (it holds a memcached handle and a buffer).
 */
#ifndef CG_AUTH_H
#define CG_AUTH_H

#include <time.h>
#include "conf/config.h"
#include "core/req.h"
#include "store/store.h"

typedef struct cg_auth_s cg_auth_t;

cg_auth_t *cg_auth_new(const cg_conf_t *conf, char *err, size_t errlen);
void       cg_auth_free(cg_auth_t *a);
/* Sets r->user, r->sess and r->remote_addr (the client's), or fails r. */
int        cg_auth_who(cg_auth_t *a, cg_store_t *st, cg_req_t *r,
                       time_t now);
/* Whether the session may use route: browser sessions may use every
 * route, service tokens only those listed in their routes. */
int        cg_auth_route_allowed(const cg_session_t *s,
                                 const char *route);
/* Writes the client address for r (see above) into out. */
void       cg_auth_client_addr(const cg_conf_t *conf, const cg_req_t *r,
                               char *out, size_t cap);

#endif
