/*
 * A cg_fcgi_cb_t that writes every event into a text log, shared by the
 * unit tests and the fuzz target of app/fcgi.c: two feeds of the same
 * bytes, whatever their split, must give the same log. Body bytes are
 * logged as they come with no separator, so chunking never shows.
 */
#ifndef CG_FCGI_EVENTS_H
#define CG_FCGI_EVENTS_H

#include <string.h>
#include "fcgi.h"

static int
ev_begin(void *ctx, unsigned id, int keep)
{
    cg_buf_addf(ctx, "B%u%s;", id, keep ? "k" : "");
    return 0;
}

static int
ev_param(void *ctx, const char *n, size_t nl, const char *v, size_t vl)
{
    cg_buf_addc(ctx, 'P');
    cg_buf_add(ctx, n, nl);
    cg_buf_addc(ctx, '=');
    cg_buf_add(ctx, v, vl);
    cg_buf_addc(ctx, ';');
    return 0;
}

static int
ev_params_end(void *ctx)
{
    cg_buf_adds(ctx, "p;");
    return 0;
}

static int
ev_stdin(void *ctx, const char *p, size_t n)
{
    if (n == 0) {
        cg_buf_adds(ctx, "|S;");
    } else {
        cg_buf_add(ctx, p, n);
    }
    return 0;
}

static int
ev_abort(void *ctx)
{
    cg_buf_adds(ctx, "A;");
    return 0;
}

static void
ev_init(cg_fcgi_cb_t *cb, cg_buf_t *log)
{
    cb->on_begin = ev_begin;
    cb->on_param = ev_param;
    cb->on_params_end = ev_params_end;
    cb->on_stdin = ev_stdin;
    cb->on_abort = ev_abort;
    cb->ctx = log;
    cb->max_conns = 64;
    cb->max_reqs = 64;
}

/* Feeds d[0..n) in pieces: of `step` bytes (0: whole), or, with
 * by_data, of 1 + d[i] % 13 bytes (the input decides its own split).
 * Returns the last feed's result; *error gets the layer's reason. */
static int
ev_feed(const char *d, size_t n, size_t step, int by_data, cg_buf_t *log,
        cg_buf_t *out, const char **error)
{
    cg_fcgi_cb_t   cb;
    cg_fcgi_conn_t c;
    size_t         i = 0, k, used;
    int            rc = 0;

    memset(&cb, 0, sizeof(cb));
    ev_init(&cb, log);
    cg_fcgi_init(&c, &cb);
    while (i < n && rc == 0) {
        k = by_data ? 1 + (size_t) ((unsigned char) d[i] % 13)
                    : step ? step : n - i;
        k = k < n - i ? k : n - i;
        rc = cg_fcgi_feed(&c, d + i, k, &used, out);
        i += used;
    }
    if (error) {
        *error = c.error;
    }
    cg_fcgi_free(&c);
    return rc;
}

#endif
