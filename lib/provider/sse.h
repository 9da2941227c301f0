/*
 * sse: an incremental Server-Sent Events parser (the provider's stream).
 *
 * Bytes go in as they arrive, split anywhere (even inside a CRLF); complete
 * events come out through a callback with their event name and their data
 * (several data: lines joined by "\n"). It follows the WHATWG rules: lines
 * end in CRLF, LF or CR; lines starting with ':' are comments; an empty
 * line dispatches; an event without data is dropped. "[DONE]" is delivered
 * as ordinary data for the provider module to recognise. Nothing grows
 * without bound: a line over CG_SSE_MAX_LINE, an event (its data: lines
 * and event name together) over CG_SSE_MAX_EVENT, or a stream over
 * CG_SSE_MAX_STREAM bytes fails the stream; cg_sse_reset() gives back what
 * a large event made the buffers grow to. This module knows nothing of
 * providers, JSON or the client.
 */
#ifndef CG_SSE_H
#define CG_SSE_H

#include <stddef.h>
#include "core/buf.h"

#define CG_SSE_MAX_LINE    (1024 * 1024)
/* A provider's events are a few hundred bytes; one of many data: lines
 * once grew a worker by 153 MB. */
#define CG_SSE_MAX_EVENT   (1024 * 1024)
/* The whole answer, as bytes of the stream: far above any max_tokens
 * (a non-streamed answer is capped at 8 MiB of JSON). */
#define CG_SSE_MAX_STREAM  (32 * 1024 * 1024)
/* Buffers above this are freed, not kept, when a stream is reset. */
#define CG_SSE_KEEP        (64 * 1024)

/* Returns 0 to go on, anything else to stop the stream. */
typedef int (*cg_sse_event_pt)(void *ctx, const char *event,
                               const char *data, size_t len);

typedef struct {
    cg_buf_t         line;
    cg_buf_t         event;
    cg_buf_t         data;
    int              has_data;
    int              after_cr;   /* last byte was CR: skip a following LF */
    size_t           total;      /* bytes fed since the last reset */
    int              failed;
    cg_sse_event_pt  on_event;
    void            *ctx;
} cg_sse_t;

void cg_sse_init(cg_sse_t *p, cg_sse_event_pt on_event, void *ctx);
/* Forgets any partial event; keeps up to CG_SSE_KEEP of memory per
 * buffer for the next stream. */
void cg_sse_reset(cg_sse_t *p);
void cg_sse_free(cg_sse_t *p);
/* Returns 0, or -1 once the callback stopped the stream or a line, an
 * event or the stream was too long (and for every call after that). */
int  cg_sse_feed(cg_sse_t *p, const char *buf, size_t len);

#endif
