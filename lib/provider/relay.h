/*
 * relay: the provider call of one chat request, from route to answer.
 *
 * Builds the request for the route's provider, calls it, and on 429 (not
 * quota), 529 or 5xx retries with backoff (honouring retry-after, bounded
 * by the route's retries and retry_max_wait_ms) as long as nothing has
 * reached the client yet; then tries the route's fallbacks in order. A
 * streamed answer is relayed as chatgate's own SSE events with heartbeats;
 * when the client leaves the call is aborted and the partial usage kept.
 * Usage comes from the provider; a stream that ends without it gets a
 * conservative estimate (never zero) and r->usage_estimated.
 */
#ifndef CG_RELAY_H
#define CG_RELAY_H

#include "conf/config.h"
#include "core/buf.h"
#include "core/req.h"
#include "guard/guardset.h"
#include "http/stream.h"
#include "meter/meter.h"
#include "provider/sse.h"
#include "provider/upstream.h"

/* What the relay works with, lent by its caller (the pipeline owns it, per
 * thread): the relay sees only these, never the pipeline's own state, so
 * the provider stage does not include the pipeline. */
typedef struct {
    const cg_conf_t *conf;
    cg_upstream_t   *up;
    cg_buf_t        *call;      /* provider request body */
    cg_buf_t        *resp;      /* provider response body */
    cg_buf_t        *headers;   /* provider request headers (wiped) */
    cg_buf_t        *url;
    cg_buf_t        *delta;     /* a delta as the provider sent it */
    cg_buf_t        *gdelta;    /* a delta after the output guard */
    cg_sse_t        *sse;
    cg_stream_t     *stream;
    cg_meter_t      *meter;
    cg_guardset_t   *guards;
    cg_outguard_t  **og;        /* this stream's output guard */
    /* Called with ctx when a provider rejects a route's key (401), once
     * per route tried; may be NULL. */
    void           (*key_rejected)(void *ctx, const cg_route_t *rt,
                                   const cg_req_t *r);
    void            *ctx;
} cg_relay_t;

/* Returns 0 with the answer in r (or already streamed), or -1 with r
 * failed. */
int cg_relay_run(cg_relay_t *c, cg_req_t *r, const cg_route_t *rt);

#endif
