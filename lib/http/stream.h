/*
 * stream: chatgate's own Server-Sent Events answer to the client.
 *
 *   event: delta   data: {"text":"..."}
 *   event: done    data: {"request_id","route","usage":{...},"stop_reason"}
 *   event: error   data: {"error":{"type","message"},"request_id"}
 *   : ping         (a comment, every heartbeat_seconds of silence)
 *
 * The bytes go out through a cg_out_t that the application supplies (the
 * FastCGI stream in app/worker.c), so lib/ knows nothing of FastCGI. A
 * failing write or flush means the client left: the stream remembers it
 * and every later call fails at once. The error event carries chatgate's
 * fixed error text only, never the provider's.
 */
#ifndef CG_STREAM_H
#define CG_STREAM_H

#include <stddef.h>
#include "core/buf.h"
#include "core/req.h"

typedef struct {
    /* Return 0, or -1 when the client is gone. */
    int   (*write)(void *ctx, const char *p, size_t n);
    int   (*flush)(void *ctx);
    /* Returns 0 once the client has closed its side; NULL: not known. */
    int   (*alive)(void *ctx);
    void   *ctx;
} cg_out_t;

#define CG_STREAM_ID_MAX  64

typedef struct {
    cg_out_t   *out;
    cg_buf_t    buf;
    double      last;       /* monotonic time of the last write */
    int         gone;
    /* A provider-format stream (lib/http/compat.h): its format, and what
     * every event repeats, set when it starts. */
    cg_api_t    api;
    char        id[CG_STREAM_ID_MAX];   /* JSON string, quotes included */
    const char *model;
    long long   created;
} cg_stream_t;

void cg_stream_init(cg_stream_t *s, cg_out_t *out);
void cg_stream_free(cg_stream_t *s);
/* Response headers: 200, text/event-stream, no buffering, request id.
 * Sets r->streamed. */
int  cg_stream_start(cg_stream_t *s, cg_req_t *r, double now);
int  cg_stream_delta(cg_stream_t *s, const char *text, size_t len,
                     double now);
int  cg_stream_ping(cg_stream_t *s, double now);
int  cg_stream_done(cg_stream_t *s, const cg_req_t *r, double now);
int  cg_stream_error(cg_stream_t *s, const cg_req_t *r, double now);
/* 0 if the client is known to have gone. */
int  cg_stream_alive(cg_stream_t *s);

#endif
