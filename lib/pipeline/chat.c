#include "pipeline/chat.h"
#include "core/clock.h"
#include "guard/body.h"
#include "provider/keys.h"
#include "provider/relay.h"
#include "who/signed.h"
#include "who/svctoken.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CG_CHAT_KEEP  (64 * 1024)   /* per buffer, kept between requests */


int
cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->conf = conf;
    if (cg_meter_init(&c->meter, conf, err, errlen) != 0) {
        cg_meter_free(&c->meter);
        return -1;
    }
    c->store = c->meter.store;
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
    cg_meter_free(&c->meter);
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


/* [limits], with a service token's own requests and tokens per
 * minute. */
static const cg_limits_t *
cg_chat_limits(cg_chat_t *c, const cg_req_t *r, cg_limits_t *own)
{
    const cg_token_t *t = r->sess.token;

    if (t == NULL || (t->rpm < 0 && t->tpm < 0)) {
        return &c->meter.limits;
    }
    *own = c->meter.limits;
    if (t->rpm >= 0) {
        own->rpm[CG_SCOPE_CALLER] = t->rpm;
    }
    if (t->tpm >= 0) {
        own->tpm[CG_SCOPE_CALLER] = t->tpm;
    }
    return own;
}


static int
cg_chat_how_much(cg_chat_t *c, cg_req_t *r, const cg_limits_t *lim)
{
    return cg_meter_admit(&c->meter, lim, r);
}


/* After the call, however it ended: settle at the price of the route
 * that answered, count tokens, free the in-flight slot, raise alerts
 * (a rejected key is raised by the relay, per route tried). */
static void
cg_chat_settle(cg_chat_t *c, cg_req_t *r, const cg_limits_t *lim)
{
    const cg_route_t *rt = r->route
                           ? cg_provider_route_find(c->conf, r->route,
                                                    strlen(r->route))
                           : NULL;

    cg_meter_finish(&c->meter, lim, r,
                    rt ? cg_meter_route_price(c->conf, rt) : NULL);
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
                                       : c->conf->provider.default_route;

    *rt = cg_provider_route_find(c->conf, name, strlen(name));
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


/* After an answer: what grew for a large one (a big provider response, a
 * runaway event) is given back, so a worker does not hold its largest
 * request's memory for ever. */
static void
cg_chat_shrink(cg_chat_t *c)
{
    cg_buf_shrink(&c->call, CG_CHAT_KEEP);
    cg_buf_shrink(&c->resp, CG_CHAT_KEEP);
    cg_buf_shrink(&c->delta, CG_CHAT_KEEP);
    cg_buf_shrink(&c->gdelta, CG_CHAT_KEEP);
    cg_guardset_shrink(&c->guards, CG_CHAT_KEEP);
    c->og = NULL;           /* the relay takes a fresh one per attempt */
    cg_sse_reset(&c->sse);
}


static void
cg_chat_stages(cg_chat_t *c, cg_req_t *r, cg_out_t *out)
{
    cg_guard_limits_t  lim = { c->conf->input.max_chars,
                               c->conf->input.max_messages,
                               c->conf->input.max_total_chars };
    const cg_route_t  *rt = NULL;
    const cg_limits_t *rl;
    cg_limits_t        own;

    cg_stream_init(&c->stream, out);
    if (cg_chat_who(c, r) != 0) {
        return;
    }
    if (c->user_known) {
        c->user_known(c->user_ctx, r);
    }
    rl = cg_chat_limits(c, r, &own);
    /* Settled however it ends: a refused answer was still paid for. */
    if (cg_chat_how_much(c, r, rl) != 0
        || cg_guard_parse(r, &lim) != 0
        || cg_guardset_in(&c->guards, r) != 0
        || cg_chat_route(c, r, &rt) != 0
        || cg_meter_admit_route(&c->meter, rt, r) != 0
        || cg_meter_reserve(&c->meter, r, rt) != 0
        || cg_relay_run(c, r, rt) != 0
        || (!r->stream && cg_guardset_out(&c->guards, r) != 0)) {
        cg_chat_settle(c, r, rl);
        return;
    }
    cg_chat_settle(c, r, rl);
    if (r->text.oom) {
        cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
}


void
cg_chat_handle(cg_chat_t *c, cg_req_t *r, cg_out_t *out)
{
    cg_chat_stages(c, r, out);
    cg_chat_shrink(c);
}
