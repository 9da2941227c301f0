#include "provider/relay.h"
#include "core/clock.h"
#include "core/iowait.h"
#include "provider/plan.h"
#include "provider/provider.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One call to one route. */
typedef struct {
    cg_relay_t           *c;
    cg_req_t            *r;
    const cg_route_t    *rt;
    const cg_provider_t *p;
    cg_pstream_t         ps;
    cg_up_result_t       res;
    cg_up_rc_t           rc;
    double               t0;
    size_t               text_bytes;    /* answer bytes received */
    int                  body_seen;     /* a 2xx stream has started */
    int                  gone;          /* the client left */
    int                  bad_event;     /* error event or garbage */
    int                  over_budget;   /* used its whole reservation */
    int                  up_stream;     /* the provider is asked for SSE */
    const cg_price_t    *price;         /* the route's, for the budget */
} cg_attempt_t;


static long
cg_relay_quarter(size_t bytes)
{
    return bytes / 4 > 0 ? (long) (bytes / 4) : 1;
}


/* Input tokens: the provider's count, or the conversation and system
 * prompt's bytes / 4. A count of 0 is no count: something was sent. */
static long
cg_relay_input(const cg_attempt_t *a)
{
    size_t sys = a->rt->system_prompt_text
                 ? strlen(a->rt->system_prompt_text) : 0;

    return a->ps.have_input && a->ps.input_tokens > 0
           ? a->ps.input_tokens
           : cg_relay_quarter(a->r->msgs_bytes + sys);
}


/* Output tokens: the provider's count, or the answer's bytes / 4 when it
 * gave none, or 0 for an answer that is not empty. */
static int
cg_relay_have_output(const cg_attempt_t *a)
{
    return a->ps.have_output
           && (a->ps.output_tokens > 0 || a->text_bytes == 0);
}


/* The provider's usage where it gave it; a conservative estimate (bytes
 * / 4, never zero) where it did not, JSON answers and streams alike: a
 * provider or proxy that strips usage must not make answers free. */
static void
cg_relay_usage(cg_attempt_t *a)
{
    cg_req_t *r = a->r;
    int       have_in = a->ps.have_input && a->ps.input_tokens > 0;

    r->input_tokens = cg_relay_input(a);
    r->output_tokens = cg_relay_have_output(a)
                       ? a->ps.output_tokens
                       : cg_relay_quarter(a->text_bytes);
    /* |=: an earlier attempt's estimate stays in the request's totals. */
    r->usage_estimated |= !have_in || !cg_relay_have_output(a);
    memcpy(r->stop_reason, a->ps.stop_reason, sizeof(r->stop_reason));
}


/* 1 while the stream's cost so far fits in its budget reservation. A
 * provider that does not hold to max_tokens would otherwise spend past
 * a cap: the answer is cut before the text that would pass it. */
static int
cg_relay_within_budget(const cg_attempt_t *a)
{
    const cg_req_t *r = a->r;
    long            out;

    if (!r->budget_hold.active || a->price == NULL) {
        return 1;
    }
    out = cg_relay_quarter(a->text_bytes);
    if (cg_relay_have_output(a) && a->ps.output_tokens > out) {
        out = a->ps.output_tokens;
    }
    return cg_budget_check_stream(&r->budget_hold,
                                  cg_budget_price_cost(a->price,
                                                       cg_relay_input(a),
                                                       out, 0, 0));
}


static int
cg_relay_send(cg_attempt_t *a, const cg_buf_t *text)
{
    cg_relay_t *c = a->c;
    double     now;

    if (text->len == 0) {
        return 0;
    }
    now = cg_clock_mono();
    if (!a->r->streamed && cg_stream_start(c->stream, a->r, now) != 0) {
        return -1;
    }
    return cg_stream_delta(c->stream, text->data, text->len, now);
}


/* A stream request that got a whole JSON answer (a provider that ignored
 * "stream": true): the text goes out as one delta, guarded like any. */
static int
cg_relay_whole(cg_attempt_t *a)
{
    cg_relay_t *c = a->c;

    cg_buf_reset(c->gdelta);
    return cg_outguard_feed(*c->og, a->r->text.data, a->r->text.len,
                            c->gdelta) != 0
           || cg_relay_send(a, c->gdelta) != 0 ? -1 : 0;
}


static int
cg_relay_event(void *ctx, const char *event, const char *data, size_t len)
{
    cg_attempt_t *a = ctx;
    cg_relay_t    *c = a->c;
    int           rc;

    cg_buf_reset(c->delta);
    rc = a->p->event(&a->ps, event, data, len, c->delta);
    if (c->delta->len) {
        a->text_bytes += c->delta->len;
        if (!cg_relay_within_budget(a)) {
            a->over_budget = 1;
            return -1;
        }
        if (!a->r->stream) {
            /* A JSON answer assembled from the provider's stream: the
             * output guard sees it whole, after the call. */
            cg_buf_add(&a->r->text, c->delta->data, c->delta->len);
            return rc < 0 ? (a->bad_event = 1, -1) : rc;
        }
        /* The output guard sees every delta before the client does; it
         * holds text back only while a link or tag is still open. */
        cg_buf_reset(c->gdelta);
        if (cg_outguard_feed(*c->og, c->delta->data, c->delta->len,
                             c->gdelta) != 0
            || cg_relay_send(a, c->gdelta) != 0) {
            a->gone = 1;
            return -1;
        }
    }
    if (rc < 0) {
        a->bad_event = 1;
        return -1;
    }
    return rc;      /* 1: the answer is complete; stop reading */
}


static int
cg_relay_body(void *ctx, const char *p, size_t n)
{
    cg_attempt_t *a = ctx;

    a->body_seen = 1;
    if (cg_sse_feed(a->c->sse, p, n) != 0) {
        /* The end of the answer stops the parser too: that is no error. */
        return a->ps.done ? 0 : -1;
    }
    return 0;
}


/* Heartbeats on a quiet stream, and noticing that the client left. */
static int
cg_relay_tick(void *ctx)
{
    cg_attempt_t *a = ctx;
    cg_stream_t  *s = a->c->stream;
    double        now, hb = a->c->conf->http.heartbeat_seconds;

    if (!cg_stream_alive(s)) {
        a->gone = 1;
        return 1;
    }
    if (!a->r->stream) {
        return 0;
    }
    now = cg_clock_mono();
    if (!a->r->streamed && a->body_seen && now - a->t0 >= hb) {
        if (cg_stream_start(s, a->r, now) != 0) {
            a->gone = 1;
            return 1;
        }
    }
    if (a->r->streamed && now - s->last >= hb
        && cg_stream_ping(s, now) != 0) {
        a->gone = 1;
        return 1;
    }
    return 0;
}


static void
cg_relay_call(cg_attempt_t *a, const char *uid)
{
    cg_relay_t    *c = a->c;
    cg_req_t     *r = a->r;
    cg_up_call_t  call;
    double        t0;

    /* A failed earlier attempt is forgotten (its cost is not: see
     * cg_relay_give_up): this one decides. */
    r->attempts++;
    r->err = CG_OK;
    r->err_msg = NULL;
    r->reason[0] = '\0';
    cg_buf_reset(&r->text);
    cg_buf_reset(c->call);
    cg_buf_reset(c->url);
    cg_buf_reset(c->headers);
    /* Under a budget a JSON answer is asked for as a stream too, so it can
     * be cut at its reservation when the provider does not hold to
     * max_tokens; the provider then bills only what it sent. */
    a->up_stream = r->stream || r->budget_hold.active;
    a->p->build(a->rt, r, uid, a->up_stream, c->call);
    cg_provider_url(a->p, a->rt, c->url);
    cg_provider_headers(a->p, a->rt, c->headers);
    memset(&a->ps, 0, sizeof(a->ps));
    if (!a->r->streamed) {
        /* A fresh attempt before anything reached the client: a fresh
         * output guard too (a failed attempt may have left text held). */
        *a->c->og = cg_guardset_stream(a->c->guards);
    }
    cg_sse_reset(c->sse);
    c->sse->on_event = cg_relay_event;
    c->sse->ctx = a;
    a->text_bytes = 0;
    a->body_seen = a->bad_event = 0;
    memset(&call, 0, sizeof(call));
    call.url = c->url->data;
    call.headers = c->headers->data;
    call.body = c->call->data;
    call.len = c->call->len;
    call.connect_ms = a->rt->connect_timeout_ms;
    call.first_byte_ms = a->rt->first_byte_timeout_ms;
    call.idle_ms = a->rt->idle_timeout_ms;
    call.total_ms = a->rt->timeout_ms;
    call.on_body = a->up_stream ? cg_relay_body : NULL;
    call.on_tick = cg_relay_tick;
    call.ctx = a;
    if (c->call->oom || c->url->oom || c->headers->oom) {
        a->rc = CG_UP_FAILED;
        snprintf(a->res.why, sizeof(a->res.why), "out of memory");
    } else {
        t0 = a->t0 = cg_clock_mono();
        a->rc = cg_upstream_call(c->up, &call, c->resp, &a->res);
        r->upstream_ms += (cg_clock_mono() - t0) * 1000.0;
    }
    if (c->headers->data) {
        cg_buf_wipe_bytes(c->headers->data, c->headers->len);
    }
    r->upstream_status = (int) a->res.status;
}


typedef enum {
    CG_NEXT_DONE = 0,       /* answered, or failed for good */
    CG_NEXT_RETRY,          /* this route again, after a wait */
    CG_NEXT_FALLBACK,       /* the next route */
} cg_next_t;


/* Turns a finished attempt into the request's outcome and says what to
 * try next. */
static cg_next_t
cg_relay_outcome(cg_attempt_t *a)
{
    cg_req_t *r = a->r;
    long      st = a->res.status;
    int       early = !r->streamed;

    if (a->body_seen || r->streamed || a->gone) {
        /* The provider may have started to answer (and bill) by the time
         * the client left: count it rather than log nothing. */
        cg_relay_usage(a);
    }
    if (a->gone) {
        cg_req_fail(r, CG_E_CLIENT_CLOSED, NULL, "client closed the "
                    "connection during the provider call");
        return CG_NEXT_DONE;
    }
    if (a->over_budget) {
        cg_req_fail(r, CG_E_BUDGET, NULL, "budget: the stream used its "
                    "whole reservation (the provider passed max_tokens?)");
        return CG_NEXT_DONE;
    }
    if (a->body_seen && a->ps.done) {
        return CG_NEXT_DONE;    /* complete, whatever came after the end */
    }
    if (a->rc == CG_UP_TIMEOUT || a->rc == CG_UP_IDLE) {
        cg_req_fail(r, CG_E_UPSTREAM_TIMEOUT, NULL, "provider timeout: %s",
                    a->res.why);
        return early ? CG_NEXT_FALLBACK : CG_NEXT_DONE;
    }
    if (a->rc != CG_UP_OK && !(a->rc == CG_UP_ABORTED && a->bad_event)) {
        cg_req_fail(r, CG_E_UPSTREAM, NULL, "provider call failed: %s",
                    a->res.why);
        return early ? CG_NEXT_FALLBACK : CG_NEXT_DONE;
    }
    if (st < 200 || st > 299) {
        /* Only the status is kept: the provider's message may hold
         * internal details and is never passed on or logged. */
        cg_req_fail(r, CG_E_UPSTREAM, NULL, "provider status %ld", st);
        if (st == 401) {
            cg_alert_key_rejected(&a->c->meter->alert, a->rt->api_key.fp,
                                  401, cg_clock_now());
        }
        if (st == 401 && a->c->key_rejected) {
            a->c->key_rejected(a->c->ctx, a->rt, r);
        }
        if (st == 400 || st == 404 || st == 413 || st == 422) {
            return CG_NEXT_DONE;
        }
        if ((st == 429 && !cg_provider_is_quota(a->c->resp->data,
                                                a->c->resp->len))
            || st == 529 || st >= 500) {
            return CG_NEXT_RETRY;
        }
        return CG_NEXT_FALLBACK;
    }
    if (!a->body_seen) {
        /* A JSON answer (a provider that was asked for a stream may send
         * one anyway: the body was not SSE and was kept whole). */
        if (a->p->parse(a->c->resp->data, a->c->resp->len, &r->text,
                        &a->ps) != 0) {
            cg_buf_reset(&r->text);
            cg_req_fail(r, CG_E_UPSTREAM, NULL,
                        "provider answer not understood");
            return CG_NEXT_DONE;
        }
        a->text_bytes = r->text.len;
        cg_relay_usage(a);
        if (r->stream && cg_relay_whole(a) != 0) {
            a->gone = 1;
            cg_req_fail(r, CG_E_CLIENT_CLOSED, NULL, "client closed the "
                        "connection");
        }
        return CG_NEXT_DONE;
    }
    if (!a->ps.done) {
        cg_req_fail(r, CG_E_UPSTREAM, NULL, "provider stream %s%s",
                    a->bad_event ? "error event " : "ended early",
                    a->ps.err_type);
        return early ? CG_NEXT_RETRY : CG_NEXT_DONE;
    }
    return CG_NEXT_DONE;
}


/* Sleeps ms in short slices; -1 if the client left meanwhile. */
static int
cg_relay_wait(cg_relay_t *c, long ms)
{
    long step;

    while (ms > 0) {
        if (!cg_stream_alive(c->stream)) {
            return -1;
        }
        step = ms > 100 ? 100 : ms;
        cg_iowait_sleep_ms((int) step);
        ms -= step;
    }
    return 0;
}


/* An attempt given up for a retry or a fallback may still have been
 * billed: a stream that had started (its usage so far, or the estimate),
 * or a call that timed out (the provider may have done the work we
 * stopped waiting for: the worst case). That cost joins the request's
 * totals and is settled now; the next attempt, to route next, is reserved
 * afresh. Returns -1 with r failed when the budget cannot take it. */
static int
cg_relay_give_up(cg_attempt_t *a, const cg_route_t *next)
{
    cg_req_t *r = a->r;
    int       timed_out = a->rc == CG_UP_TIMEOUT || a->rc == CG_UP_IDLE;
    long      in, out;
    uint64_t  cost;

    if (!a->body_seen && !timed_out) {
        return 0;       /* refused before any work: nothing was billed */
    }
    in = cg_relay_input(a);
    out = a->body_seen ? (cg_relay_have_output(a)
                          ? a->ps.output_tokens
                          : cg_relay_quarter(a->text_bytes))
                       : a->rt->max_tokens;
    cost = a->price ? cg_budget_price_cost(a->price, in, out, 0, 0) : 0;
    r->prior_input_tokens += in;
    r->prior_output_tokens += out;
    r->prior_cost_micro_usd += (long long) cost;
    r->usage_estimated |= timed_out || !cg_relay_have_output(a)
                          || !(a->ps.have_input && a->ps.input_tokens > 0);
    /* They are in the totals now: the next attempt counts its own. */
    r->input_tokens = r->output_tokens = 0;
    if (cg_meter_next_attempt(a->c->meter, r, cost, next) != 0) {
        return -1;
    }
    return 0;
}


/* Backoff before retry n (0-based): retry-after if the provider gave one,
 * else 250 ms doubling, with jitter; -1 if longer than the route allows. */
static long
cg_relay_backoff(const cg_attempt_t *a, int n)
{
    long ms = a->res.retry_after_ms;

    if (ms < 0) {
        ms = (250L << n) + (long) (random() % 100);
    }
    return ms > a->rt->retry_max_wait_ms ? -1 : ms;
}


/* One route, with its retries. */
static cg_next_t
cg_relay_route(cg_attempt_t *a, const char *uid)
{
    cg_next_t next;
    long      ms;
    int       n;

    for (n = 0; ; n++) {
        cg_relay_call(a, uid);
        next = cg_relay_outcome(a);
        if (next != CG_NEXT_RETRY || a->r->streamed) {
            return next == CG_NEXT_RETRY ? CG_NEXT_DONE : next;
        }
        if (n >= a->rt->retries || (ms = cg_relay_backoff(a, n)) < 0) {
            return CG_NEXT_FALLBACK;
        }
        if (cg_relay_give_up(a, a->rt) != 0) {
            return CG_NEXT_DONE;
        }
        if (cg_relay_wait(a->c, ms) != 0) {
            cg_req_fail(a->r, CG_E_CLIENT_CLOSED, NULL, "client closed the "
                        "connection while a retry waited");
            return CG_NEXT_DONE;
        }
        a->r->retries++;
    }
}


/* For a service token, only routes it could have named itself may join
 * the plan, so no fallback widens its scope. */
static int
cg_relay_may_add(const void *ctx, const cg_route_t *rt)
{
    const cg_req_t *r = ctx;

    return r->sess.token == NULL || cg_plan_route_allowed(r, rt);
}


int
cg_relay_run(cg_relay_t *c, cg_req_t *r, const cg_route_t *rt)
{
    const cg_route_t *plan[CG_PLAN_MAX];
    const cg_secret_t *key;
    cg_attempt_t      a;
    char              uid[CG_UID_LEN + 1];
    int               i, n;

    key = c->conf->session.user_id_key.len ? &c->conf->session.user_id_key
                                   : &c->conf->session.secret;
    cg_provider_user_id(key, r->user, uid);
    n = cg_plan_build(c->conf, rt, cg_relay_may_add, r, plan);
    for (i = 0; i < n; i++) {
        memset(&a, 0, sizeof(a));
        a.c = c;
        a.r = r;
        a.rt = plan[i];
        a.p = cg_provider_find(plan[i]->provider);
        a.price = cg_conf_route_price(c->conf, plan[i]);
        r->route = plan[i]->name;
        r->provider = a.p->name;
        r->model = plan[i]->model;
        r->key_id = plan[i]->api_key.fp;
        r->fallback_from = i ? plan[0]->name : NULL;
        if (cg_relay_route(&a, uid) == CG_NEXT_DONE
            || (i + 1 < n && cg_relay_give_up(&a, plan[i + 1]) != 0)) {
            break;
        }
    }
    if (r->stream && *c->og) {
        cg_buf_reset(c->gdelta);
        if (cg_outguard_finish(*c->og, c->gdelta) == 0 && r->err == CG_OK
            && cg_relay_send(&a, c->gdelta) != 0) {
            cg_req_fail(r, CG_E_CLIENT_CLOSED, NULL, "client closed the "
                        "connection");
        }
        cg_guardset_stream_done(c->guards, r);
    }
    if (r->err == CG_OK && r->stream) {
        if (!r->streamed) {
            cg_stream_start(c->stream, r, cg_clock_mono());
        }
        cg_stream_done(c->stream, r, cg_clock_mono());
    } else if (r->err != CG_OK && r->streamed
               && r->err != CG_E_CLIENT_CLOSED) {
        cg_stream_error(c->stream, r, cg_clock_mono());
    }
    return r->err == CG_OK ? 0 : -1;
}
