/*
 * chat: the request path after admission, as one straight line of stages.
 *
 *   who (session) -> how much (rate limits) -> clean in (guard)
 *     -> provider (build, reserve budget, call, parse) -> settle (meter)
 *
 * Each stage reads the request context and either passes or fails it with
 * cg_req_fail(); cg_chat_handle() stops at the first failure. A cg_chat_t
 * holds one worker thread's own handles (memcached, curl) and buffers,
 * reused across requests and never shared between threads.
 */
#ifndef CG_CHAT_H
#define CG_CHAT_H

#include "buf.h"
#include "config.h"
#include "meter.h"
#include "req.h"
#include "store.h"
#include "upstream.h"

typedef struct {
    const cg_conf_t *conf;
    cg_store_t      *store;     /* the meter's: counters and alerts */
    cg_meter_t       meter;     /* limits, budgets, alerts */
    cg_upstream_t   *up;
    cg_buf_t         call;      /* provider request body */
    cg_buf_t         resp;      /* provider response body */
} cg_chat_t;

int  cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err,
                  size_t errlen);
void cg_chat_free(cg_chat_t *c);
void cg_chat_handle(cg_chat_t *c, cg_req_t *r);

#endif
