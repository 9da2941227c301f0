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
 *
 * The pipeline never logs or sends anything itself: what the operator or
 * the application must hear of goes out through one cg_chat_events_t
 * (alerts, notes, a rejected key, a known user), set once with
 * cg_chat_set_events(); the application never reaches into the stages'
 * state.
 */
#ifndef CG_CHAT_H
#define CG_CHAT_H

#include <time.h>

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

/* What the pipeline tells the application that runs it, each with ctx.
 * Any may be NULL. Called on the request's thread. */
typedef struct {
    /* An alert was raised (lib/meter/alert.c): its usage-log line, to be
     * written and sent. */
    void  (*alert)(void *ctx, const cg_buf_t *line);
    /* An operator notice for the error log (the store's, the meter's). */
    void  (*note)(void *ctx, const char *msg);
    /* The provider refused route rt's key (401), once per route tried:
     * the one operator line for it (the key_rejected alert is raised by
     * the pipeline through alert). */
    void  (*key_rejected)(void *ctx, const cg_route_t *rt,
                          const cg_req_t *r);
    /* The user is known; called again once the route is chosen. */
    void  (*user_known)(void *ctx, const cg_req_t *r);
    void   *ctx;
} cg_chat_events_t;

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
    cg_chat_events_t ev;
    cg_guardset_t    guards;    /* input, PII and output guards */
    cg_outguard_t   *og;        /* this stream's output guard */
    cg_buf_t         gdelta;    /* a delta after the output guard */
} cg_chat_t;

int  cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err,
                  size_t errlen);
/* Another context of like's config (a worker's next one): what is
 * read-only once built (the compiled guards) is shared with like rather
 * than built again; its handles and buffers are its own, as ever. like
 * may be freed before c. */
int  cg_chat_init_like(cg_chat_t *c, const cg_chat_t *like, char *err,
                       size_t errlen);
void cg_chat_free(cg_chat_t *c);
/* Where the pipeline's events go (copied); a notice the store left at
 * setup (a rebuilt counter file) is handed to ev->note at once. */
void cg_chat_set_events(cg_chat_t *c, const cg_chat_events_t *ev);
/* Raises an alert the application noticed itself (a provider key sent
 * by a caller), once per period, through the pipeline's alert store and
 * back out through ev.alert; cg_alert_raise()'s result. */
int  cg_chat_alert(cg_chat_t *c, const char *kind, const char *subject,
                   const char *period, unsigned ttl, const char *msg,
                   time_t now);
/* Handles r; a streamed answer goes out through out as it comes (then
 * r->streamed is set and the caller writes nothing more). */
void cg_chat_handle(cg_chat_t *c, cg_req_t *r, cg_out_t *out);
/* The one end of a request, on every exit (also when cg_chat_handle never
 * ran): frees what r owns and wipes the prompt, the answer and every
 * buffer of c that held them, the PII map included. The caller wipes its
 * own buffers (the body it read, the answer it wrote). */
void cg_chat_end(cg_chat_t *c, cg_req_t *r);

#endif
