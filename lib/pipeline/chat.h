/*
 * chat: the request path after admission, as one straight line of stages.
 *
 *   who (session) -> how much (rate limits) -> clean in (guard, guardset)
 *     -> which route -> the route's own limits -> budget (reserve) -> provider (relay: build, call,
 *        retry, fall back, answer as JSON or as a stream) -> clean out
 *        (guardset, also on each streamed delta) -> settle (meter)
 *
 * Each stage reads the request context and either passes or fails it with
 * cg_req_fail(); cg_chat_handle() stops at the first failure. A cg_chat_t
 * holds one worker thread's own handles (memcached, curl) and buffers,
 * reused across requests and never shared between threads.
 */
#ifndef CG_CHAT_H
#define CG_CHAT_H

#include "who/auth.h"
#include "core/buf.h"
#include "conf/config.h"
#include "meter/meter.h"
#include "guard/guardset.h"
#include "core/req.h"
#include "provider/sse.h"
#include "store/store.h"
#include "http/stream.h"
#include "provider/upstream.h"

typedef struct {
    const cg_conf_t *conf;
    cg_store_t      *store;     /* the meter's: counters and alerts */
    cg_meter_t       meter;     /* limits, budgets, alerts */
    cg_auth_t       *auth;      /* the who stage's verifiers */
    cg_upstream_t   *up;
    cg_buf_t         call;      /* provider request body */
    cg_buf_t         resp;      /* provider response body */
    cg_buf_t         headers;   /* provider request headers (wiped) */
    cg_buf_t         url;
    cg_buf_t         delta;
    cg_sse_t         sse;
    cg_stream_t      stream;
    /* Called when a provider rejects a route's key (401), for the
     * operator's log and alerts; may be NULL. */
    void           (*key_rejected)(const cg_route_t *rt, const cg_req_t *r);
    /* Called once the session stage knows r->user (for the status
     * page's running requests); may be NULL. */
    /* The user is known; called again once the route is chosen. */
    void           (*user_known)(void *ctx, const cg_req_t *r);
    void            *user_ctx;
    cg_guardset_t    guards;    /* input, PII and output guards */
    cg_outguard_t   *og;        /* this stream's output guard */
    cg_buf_t         gdelta;    /* a delta after the output guard */
} cg_chat_t;

int  cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err,
                  size_t errlen);
void cg_chat_free(cg_chat_t *c);
/* Handles r; a streamed answer goes out through out as it comes (then
 * r->streamed is set and the caller writes nothing more). */
void cg_chat_handle(cg_chat_t *c, cg_req_t *r, cg_out_t *out);

#endif
