/*
 * fcgi: the FastCGI 1.0 record layer, non-blocking: bytes in, events out,
 * records appended to a buffer. No sockets, no threads, no allocation per
 * record: the caller reads whatever arrived and feeds it; the layer keeps
 * the partial record (header, content, padding) between feeds, so any
 * split of the byte stream gives the same events (tests/fuzz/fuzz_fcgi.c
 * checks exactly that).
 *
 * One request at a time per connection (FCGI_MPXS_CONNS is "0", as
 * php-fpm says): a BEGIN_REQUEST while one is open, a record for another
 * request id, a version other than 1, an unknown role or PARAMS past
 * CG_FCGI_PARAMS_MAX are protocol errors, after which the caller closes
 * the connection (what nginx and php-fpm do). Management records (id 0)
 * are answered here: GET_VALUES with this server's values, any other
 * type with UNKNOWN_TYPE. PARAMS are decoded as one stream once their
 * empty record arrives, so a name-value pair may span records.
 *
 * It is the layer an event-driven worker needs in place of libfcgi's
 * FCGX_Accept_r, which holds a thread per connection and blocks on each
 * read. This module must never block, log or call exit().
 */
#ifndef CG_FCGI_H
#define CG_FCGI_H

#include <fastcgi.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

/* Largest PARAMS stream of one request (nginx sends a few KiB; big
 * cookies and many headers stay well below). */
#define CG_FCGI_PARAMS_MAX  (128 * 1024)
/* Largest STDOUT record this layer writes: a multiple of 8, as php-fpm
 * writes, so no padding is ever needed. */
#define CG_FCGI_OUT_CHUNK   0xfff8

typedef struct {
    /* A request began: role is FCGI_RESPONDER (others are refused before
     * this is called), keep_conn is FCGI_KEEP_CONN set. */
    int  (*on_begin)(void *ctx, unsigned id, int keep_conn);
    /* One parameter; not NUL-terminated. */
    int  (*on_param)(void *ctx, const char *name, size_t nlen,
                     const char *value, size_t vlen);
    /* Every parameter has been given. */
    int  (*on_params_end)(void *ctx);
    /* Request body bytes; n == 0 once: the body is complete. */
    int  (*on_stdin)(void *ctx, const char *p, size_t n);
    /* The web server gave the request up (FCGI_ABORT_REQUEST). */
    int  (*on_abort)(void *ctx);
    void  *ctx;
    /* Answers to FCGI_GET_VALUES ("0": FCGI_MPXS_CONNS). */
    unsigned max_conns, max_reqs;
} cg_fcgi_cb_t;

typedef enum {
    CG_FCGI_S_HEADER = 0,
    CG_FCGI_S_CONTENT,
    CG_FCGI_S_PADDING
} cg_fcgi_state_t;

typedef struct {
    const cg_fcgi_cb_t *cb;
    cg_fcgi_state_t     state;
    unsigned char       hdr[FCGI_HEADER_LEN];
    size_t              hdr_len;
    int                 type;
    unsigned            id;
    size_t              left;       /* content bytes still to come */
    size_t              pad;        /* padding bytes still to come */
    int                 empty;      /* the record has no content */
    unsigned char       begin[sizeof(FCGI_BeginRequestBody)];
    size_t              begin_len;
    unsigned            active;     /* request id, 0: none open */
    int                 params_done;
    int                 stdin_done;
    cg_buf_t            params;
    cg_buf_t            mgmt;       /* a GET_VALUES body */
    const char         *error;      /* why the connection must close */
} cg_fcgi_conn_t;

void cg_fcgi_init(cg_fcgi_conn_t *c, const cg_fcgi_cb_t *cb);
/* Ready for the next request on a kept connection. */
void cg_fcgi_reset(cg_fcgi_conn_t *c);
void cg_fcgi_free(cg_fcgi_conn_t *c);
/* Feeds bytes that arrived; answers to management records go to out.
 * Returns 0, 1 when a callback asked to stop (the rest of p is not
 * read: *used says how much was), or -1 on a protocol error (c->error). */
int  cg_fcgi_feed(cg_fcgi_conn_t *c, const char *p, size_t n, size_t *used,
                  cg_buf_t *out);

/* Records for the answer: STDOUT in chunks, then the empty STDOUT and
 * END_REQUEST (protocol status FCGI_REQUEST_COMPLETE) that end it. */
void cg_fcgi_stdout(cg_buf_t *out, unsigned id, const char *p, size_t n);
void cg_fcgi_end(cg_fcgi_conn_t *c, cg_buf_t *out, uint32_t app_status);

#endif
