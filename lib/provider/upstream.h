/*
 * upstream: the HTTP call to the provider (libcurl).
 *
 * One cg_upstream_t per worker thread, reused across requests so the
 * connection (and TLS session) to the provider stays open. TLS verification
 * is always on. The key is only ever placed in the header list built for
 * one call, which is wiped when the call ends; of the provider's response
 * headers only retry-after is read. Timeouts: connect, first byte (until
 * the response headers), idle (silence between body bytes) and total. A
 * 2xx body can be passed on as it arrives (streaming); a tick callback lets
 * the caller abort the call (the client left). This module never logs.
 */
#ifndef CG_UPSTREAM_H
#define CG_UPSTREAM_H

#include "core/buf.h"
#include "conf/config.h"

#define CG_UPSTREAM_MAX_BODY  (8 * 1024 * 1024)

typedef enum {
    CG_UP_OK = 0,
    CG_UP_TIMEOUT,      /* connect, first byte or total time */
    CG_UP_FAILED,       /* connect error, reset, oversized answer ... */
    CG_UP_IDLE,         /* the body went silent for idle_ms */
    CG_UP_ABORTED,      /* a callback asked to stop */
} cg_up_rc_t;

typedef struct {
    const char *url;
    const char *headers;        /* "Name: value\n" lines */
    const char *body;
    size_t      len;
    long        connect_ms;
    long        first_byte_ms;  /* 0: only total_ms */
    long        idle_ms;
    long        total_ms;
    /* When set, a 2xx event stream (Content-Type text/event-stream) goes
     * here as it arrives instead of into resp; nonzero stops the call
     * (CG_UP_ABORTED). Any other 2xx body is kept whole in resp. */
    int       (*on_body)(void *ctx, const char *p, size_t n);
    /* Called often while the call runs (at least about once a second);
     * nonzero stops the call. */
    int       (*on_tick)(void *ctx);
    void       *ctx;
} cg_up_call_t;

typedef struct {
    long        status;
    long        retry_after_ms;     /* -1: none given */
    char        why[128];           /* curl's reason on failure */
} cg_up_result_t;

typedef struct cg_upstream_s cg_upstream_t;
/* Kept connections, DNS answers and TLS sessions shared by the upstreams
 * of one thread (never across threads: it has no locks). */
typedef struct cg_upshare_s  cg_upshare_t;

/* Call once per process before any thread starts. */
int            cg_upstream_global_init(void);
cg_upstream_t *cg_upstream_new(const cg_conf_t *conf);
void           cg_upstream_free(cg_upstream_t *up);
cg_upshare_t  *cg_upstream_share_new(void);
/* After every upstream that uses it is freed. */
void           cg_upstream_share_free(cg_upshare_t *s);
/* up's calls use s's connections from now on (NULL: its own). */
void           cg_upstream_set_share(cg_upstream_t *up, cg_upshare_t *s);
/* POSTs the call's body; resp gets a non-2xx body, or a 2xx one when
 * there is no on_body or it is not an event stream. */
cg_up_rc_t     cg_upstream_call(cg_upstream_t *up, const cg_up_call_t *call,
                                cg_buf_t *resp, cg_up_result_t *res);

#endif
