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

#include "pipeline/chat.h"

/* Returns 0 with the answer in r (or already streamed), or -1 with r
 * failed. */
int cg_relay_run(cg_chat_t *c, cg_req_t *r, const cg_route_t *rt);

#endif
