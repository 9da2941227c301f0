#include "pipeline/chat.h"
#include "core/clock.h"
#include "guard/body.h"
#include "guard/compatbody.h"
#include "provider/keys.h"
#include "provider/plan.h"
#include "provider/provider.h"
#include "provider/relay.h"
#include "who/signed.h"
#include "who/svctoken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CG_CHAT_KEEP  (64 * 1024)   /* per buffer, kept between requests */


/* like: a context of the same config whose compiled guards are shared. */
static int
cg_chat_setup(cg_chat_t *c, const cg_conf_t *conf, const cg_chat_t *like,
              char *err, size_t errlen)
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
        || (like ? cg_guardset_init_like(&c->guards, &like->guards, err,
                                         errlen)
                 : cg_guardset_init(&c->guards, conf, err, errlen)) != 0) {
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


int
cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err, size_t errlen)
{
    return cg_chat_setup(c, conf, NULL, err, errlen);
}


int
cg_chat_init_like(cg_chat_t *c, const cg_chat_t *like, char *err,
                  size_t errlen)
{
    return cg_chat_setup(c, like->conf, like, err, errlen);
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


void
cg_chat_set_events(cg_chat_t *c, const cg_chat_events_t *ev)
{
    const char *notice;

    c->ev = *ev;
    cg_alert_set_sink(&c->meter.alert, ev->alert, ev->ctx);
    c->meter.note = ev->note;
    c->meter.note_ctx = ev->ctx;
    if ((notice = cg_store_notice(c->store)) != NULL && ev->note) {
        ev->note(ev->ctx, notice);
    }
}


int
cg_chat_alert(cg_chat_t *c, const char *kind, const char *subject,
              const char *period, unsigned ttl, const char *msg, time_t now)
{
    return cg_alert_raise(&c->meter.alert, kind, subject, period, ttl, msg,
                          now);
}


static void
cg_chat_user_known(cg_chat_t *c, const cg_req_t *r)
{
    if (c->ev.user_known) {
        c->ev.user_known(c->ev.ctx, r);
    }
}


static int
cg_chat_who(cg_chat_t *c, cg_req_t *r)
{
    int rc = cg_auth_who(c->auth, c->store, r, cg_clock_now());

    if (r->store_failed) {
        cg_meter_store_failed(&c->meter, r, r->store_failed,
                              r->err == CG_E_UNAVAILABLE);
    }
    return rc;
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
                    rt ? cg_conf_route_price(c->conf, rt) : NULL);
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
        if (r->sess.token && !cg_plan_route_allowed(r, *rt)) {
            return cg_req_fail(r, CG_E_FORBIDDEN, NULL, "service token not "
                               "allowed on route %s", (*rt)->name);
        }
        return 0;
    }
    if (*rt == NULL || !cg_plan_route_allowed(r, *rt)) {
        return cg_req_fail(r, CG_E_FORBIDDEN, "This route is not available.",
                           "route %s %s", *rt ? "not allowed:" : "unknown:",
                           *rt ? (*rt)->name : "(client text not logged)");
    }
    return 0;
}


/* The body is parsed and the route chosen: the application hears of the
 * request again (whether it streams, which route), for its scoreboard. */
static int
cg_chat_known(cg_chat_t *c, cg_req_t *r)
{
    cg_chat_user_known(c, r);
    return 0;
}


/* ---- the provider-compatible endpoints (issue 20, docs/sdk.md) ---- */

/* The body in the request's own format: chatgate's, or a provider's. */
static int
cg_chat_parse(cg_req_t *r, const cg_guard_limits_t *lim)
{
    return r->api == CG_API_CHAT ? cg_guard_parse(r, lim)
                                 : cg_compatbody_parse(r, lim);
}


/* The input guard and PII on every message and on the caller's system
 * prompt, which is as able to carry either: it goes through as one more
 * message (first, so the conversation's last message stays last). */
static int
cg_chat_guard_in(cg_chat_t *c, cg_req_t *r)
{
    cg_msg_t *all, *msgs = r->msgs;
    size_t    n = r->nmsgs;
    int       rc;

    if (r->system == NULL) {
        return cg_guardset_in(&c->guards, r);
    }
    all = calloc(n + 1, sizeof(*all));
    if (all == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    all[0].text = r->system;
    all[0].len = r->system_len;
    memcpy(all + 1, msgs, n * sizeof(*all));
    r->msgs = all;
    r->nmsgs = n + 1;
    rc = cg_guardset_in(&c->guards, r);
    /* The guards replaced texts in place: take them back. */
    memcpy(msgs, all + 1, n * sizeof(*all));
    r->system = all[0].text;
    r->system_len = all[0].len;
    r->msgs = msgs;
    r->nmsgs = n;
    free(all);
    return rc;
}


/* The model a compatible call names, mapped through the token's scope:
 * a route it may use by that name, else the first such route serving
 * that model. An unknown model and one outside the scope get the same
 * answer, so names do not leak. */
static int
cg_chat_model(cg_chat_t *c, cg_req_t *r)
{
    const cg_route_t *rt;
    int               i;

    if (r->api == CG_API_CHAT) {
        return 0;
    }
    rt = cg_provider_route_find(c->conf, r->model_req, strlen(r->model_req));
    for (i = 0; (rt == NULL || !cg_plan_route_allowed(r, rt))
                && i < c->conf->provider.nroutes; i++) {
        rt = &c->conf->provider.routes[i];
        if (strcmp(rt->model, r->model_req) != 0) {
            rt = NULL;      /* not this model: go on looking */
        }
    }
    if (rt == NULL || !cg_plan_route_allowed(r, rt)) {
        return cg_req_fail(r, CG_E_NOT_FOUND, "The model does not exist or "
                           "this token may not use it.", "compat: model not "
                           "in the token's routes (client text not logged)");
    }
    snprintf(r->route_req, sizeof(r->route_req), "%s", rt->name);
    return 0;
}


/* A route with its own system prompt does not take the caller's. */
static int
cg_chat_system_ok(cg_req_t *r, const cg_route_t *rt)
{
    if (r->system && rt->system_prompt_text && rt->system_prompt_text[0]) {
        return cg_req_fail(r, CG_E_INVALID, "This model's route sets its own "
                           "system prompt; send none.", "compat: client "
                           "system prompt on route %s, which fixes one",
                           rt->name);
    }
    return 0;
}


/* The request is over, however it ended: every buffer that held its
 * prompt or its answer (the provider call and response, the stream's
 * events and deltas, the guards' scratch and the PII map) is wiped, and
 * what grew for a large one is given back, so a worker holds neither the
 * last request's text nor its largest request's memory. */
static void
cg_chat_wipe(cg_chat_t *c)
{
    cg_buf_t *b[] = { &c->call, &c->resp, &c->delta, &c->gdelta,
                      &c->sse.line, &c->sse.event, &c->sse.data,
                      &c->stream.buf };
    size_t    i;

    for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        cg_buf_wipe(b[i]);
    }
    cg_buf_shrink(&c->call, CG_CHAT_KEEP);
    cg_buf_shrink(&c->resp, CG_CHAT_KEEP);
    cg_buf_shrink(&c->delta, CG_CHAT_KEEP);
    cg_buf_shrink(&c->gdelta, CG_CHAT_KEEP);
    cg_guardset_shrink(&c->guards, CG_CHAT_KEEP);
    c->og = NULL;           /* the relay takes a fresh one per attempt */
    cg_sse_reset(&c->sse);
}


void
cg_chat_end(cg_chat_t *c, cg_req_t *r)
{
    cg_chat_wipe(c);
    cg_req_clear(r);
}


/* The provider call, lent what of this thread's state it works with. */
static int
cg_chat_relay(cg_chat_t *c, cg_req_t *r, const cg_route_t *rt)
{
    cg_relay_t relay = {
        .conf = c->conf, .up = c->up, .call = &c->call, .resp = &c->resp,
        .headers = &c->headers, .url = &c->url, .delta = &c->delta,
        .gdelta = &c->gdelta, .sse = &c->sse, .stream = &c->stream,
        .meter = &c->meter, .guards = &c->guards, .og = &c->og,
        .key_rejected = c->ev.key_rejected, .ctx = c->ev.ctx,
    };

    return cg_relay_run(&relay, r, rt);
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
    cg_chat_user_known(c, r);
    rl = cg_chat_limits(c, r, &own);
    /* A service token may leave links in the answers it never renders. */
    c->guards.keep_links = r->sess.token && r->sess.token->keep_links;
    /* Settled however it ends: a refused answer was still paid for. */
    if (cg_chat_how_much(c, r, rl) != 0
        || cg_chat_parse(r, &lim) != 0
        || cg_chat_guard_in(c, r) != 0
        || cg_chat_model(c, r) != 0
        || cg_chat_route(c, r, &rt) != 0
        || cg_chat_known(c, r) != 0
        || cg_chat_system_ok(r, rt) != 0
        || cg_meter_admit_route(&c->meter, rt, r) != 0
        || cg_meter_reserve(&c->meter, r, rt) != 0
        || cg_chat_relay(c, r, rt) != 0
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
}
