#include "chat.h"
#include "clock.h"
#include "guard.h"
#include "keys.h"
#include "relay.h"
#include "session.h"
#include "tokens.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


int
cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->conf = conf;
    c->store = cg_store_new(conf->mc_servers, conf->mc_timeout_ms, err,
                            errlen);
    if (c->store == NULL) {
        return -1;
    }
    cg_sse_init(&c->sse, NULL, NULL);
    c->auth = cg_auth_new(conf, err, errlen);
    if (c->auth == NULL
        || cg_guardset_init(&c->guards, conf, err, errlen) != 0) {
        cg_chat_free(c);
        return -1;
    }
    c->up = cg_upstream_new(conf);
    if (c->up == NULL) {
        snprintf(err, errlen, "cannot set up the provider connection");
        cg_chat_free(c);
        return -1;
    }
    return 0;
}


void
cg_chat_free(cg_chat_t *c)
{
    cg_store_free(c->store);
    cg_auth_free(c->auth);
    cg_upstream_free(c->up);
    cg_guardset_free(&c->guards);
    cg_buf_free(&c->gdelta);
    cg_buf_free(&c->call);
    cg_buf_free(&c->resp);
    cg_buf_free(&c->headers);
    cg_buf_free(&c->url);
    cg_buf_free(&c->delta);
    cg_sse_free(&c->sse);
    cg_stream_free(&c->stream);
    memset(c, 0, sizeof(*c));
}


static int
cg_chat_who(cg_chat_t *c, cg_req_t *r)
{
    return cg_auth_who(c->auth, c->store, r, time(NULL));
}


static int
cg_chat_how_much(cg_chat_t *c, cg_req_t *r)
{
    cg_limit_rc_t rc;

    rc = cg_limit_rpm(c->store, r->user,
                      r->sess.token && r->sess.token->rpm >= 0
                      ? r->sess.token->rpm : c->conf->requests_per_minute,
                      time(NULL), &r->rate);
    r->rate_set = 1;
    if (rc == CG_LIMIT_OVER) {
        r->retry_after = r->rate.reset;
        return cg_req_fail(r, CG_E_RATE_LIMITED, NULL,
                           "requests_per_minute %ld reached",
                           r->rate.limit);
    }
    if (rc == CG_LIMIT_STORE_DOWN) {
        r->rate_set = 0;
        if (c->conf->store_fail_open) {
            return 0;
        }
        r->retry_after = 5;
        return cg_req_fail(r, CG_E_UNAVAILABLE, NULL, "memcached: %s",
                           cg_store_error(c->store));
    }
    return 0;
}


/* A browser session may use the public routes; a service token exactly
 * the routes its scope lists (public or not). */
int
cg_route_allowed(const cg_req_t *r, const cg_route_t *rt)
{
    if (r->sess.token) {
        /* Both the token's routes and the route key's services decide. */
        return cg_session_route_allowed(&r->sess, rt->name)
               && (rt->key_services == NULL
                   || cg_keys_list_has(rt->key_services,
                                       r->sess.token->name));
    }
    return rt->is_public;
}


/* The route the client named (if allowed), else the default. An unknown
 * and a forbidden route get the same answer, so names do not leak. */
static int
cg_chat_route(cg_chat_t *c, cg_req_t *r, const cg_route_t **rt)
{
    const char *name = r->route_req[0] ? r->route_req
                                       : c->conf->default_route;

    *rt = cg_conf_route(c->conf, name, strlen(name));
    if (r->route_req[0] == '\0') {
        if (*rt == NULL) {
            return cg_req_fail(r, CG_E_INTERNAL, NULL, "no default route");
        }
        if (r->sess.token && !cg_route_allowed(r, *rt)) {
            return cg_req_fail(r, CG_E_FORBIDDEN, NULL, "service token not "
                               "allowed on route %s", (*rt)->name);
        }
        return 0;
    }
    if (*rt == NULL || !cg_route_allowed(r, *rt)) {
        return cg_req_fail(r, CG_E_FORBIDDEN, "This route is not available.",
                           "route %s %s", *rt ? "not allowed:" : "unknown:",
                           *rt ? (*rt)->name : "(client text not logged)");
    }
    return 0;
}


void
cg_chat_handle(cg_chat_t *c, cg_req_t *r, cg_out_t *out)
{
    cg_guard_limits_t  lim = { c->conf->max_chars, c->conf->max_messages,
                               c->conf->max_total_chars };
    const cg_route_t  *rt = NULL;

    cg_stream_init(&c->stream, out);
    if (cg_chat_who(c, r) != 0
        || cg_chat_how_much(c, r) != 0
        || cg_guard_parse(r, &lim) != 0
        || cg_guardset_in(&c->guards, r) != 0
        || cg_chat_route(c, r, &rt) != 0
        || cg_relay_run(c, r, rt) != 0
        || (!r->stream && cg_guardset_out(&c->guards, r) != 0)) {
        return;
    }
    if (r->text.oom) {
        cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
}
