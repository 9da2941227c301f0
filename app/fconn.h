/*
 * fconn: one FastCGI connection from the web server, served by one fiber
 * of a worker's event loop. It reads a whole request (parameters and
 * body) through the record layer in app/fcgi.c, waiting through
 * lib/core/iowait when the socket has nothing yet, and writes the answer
 * as STDOUT records, buffered until a flush or until enough is pending.
 *
 * The parameters are kept as "NAME=VALUE" strings in an environment
 * array, as libfcgi gave them, so the code that reads them did not
 * change. The body goes into the caller's buffer up to a bound; what
 * comes past the bound is read and dropped (counted), so that a refused
 * request still leaves the connection clean for the next one.
 *
 * It knows nothing of chat requests; it never logs and never allocates
 * per record.
 */
#ifndef CG_FCONN_H
#define CG_FCONN_H

#include "fcgi.h"
#include "core/buf.h"

#include <stddef.h>

/* Largest pending answer kept before it is written out. */
#define CG_FCONN_OUT_HIGH  (64 * 1024)

typedef enum {
    CG_FCONN_OK = 0,
    CG_FCONN_CLOSED,        /* the web server closed it (between requests) */
    CG_FCONN_ERROR,         /* protocol error, read error or timeout */
    CG_FCONN_WOKEN          /* the wait was cut short (the worker stops) */
} cg_fconn_rc_t;

typedef struct {
    int             fd;
    cg_fcgi_conn_t  fc;
    cg_fcgi_cb_t    cb;
    cg_buf_t        in;         /* bytes read, not fed yet */
    size_t          in_off;
    size_t          in_hw;      /* bytes of in ever written, to wipe */
    cg_buf_t        out;        /* records not written yet */
    cg_buf_t        env;        /* "NAME=VALUE\0" ... */
    char          **envp;       /* into env, NULL-terminated */
    size_t          nenv, capenv;
    unsigned        id;         /* the request's, 0 between requests */
    int             keep;       /* FCGI_KEEP_CONN */
    int             params_end, stdin_end, aborted;
    cg_buf_t       *body;
    size_t          body_max;   /* bytes kept; more is counted only */
    size_t          body_seen;
    size_t          body_drop_max;  /* past it the request is an error */
    int             write_failed;
    unsigned long   served;     /* requests ended on it */
    int             waited;     /* this read began with a wait */
    int             awaited;    /* cg_fconn_await saw bytes for it */
    double          alive_at;   /* when alive was last looked at */
    int             alive;
    const char     *error;
} cg_fconn_t;

void          cg_fconn_init(cg_fconn_t *c, int fd, unsigned max_conns,
                            unsigned max_reqs);
/* Wipes what the request left (cookie, body pointers), closes fd if it
 * is still open, frees. */
void          cg_fconn_free(cg_fconn_t *c);
/* Reads the next whole request: parameters, then the body into body (up
 * to body_max bytes kept, up to drop_max read in all). idle_ms bounds the
 * wait for its first byte (-1: none), busy_ms the rest. */
cg_fconn_rc_t cg_fconn_read(cg_fconn_t *c, cg_buf_t *body, size_t body_max,
                            size_t drop_max, int idle_ms, int busy_ms);
/* Waits, on a kept connection with nothing buffered, for the web server
 * to send something (the next request, or its close), without reading
 * it: so the caller can still pass the connection on whole. >0 when
 * there is something (the next cg_fconn_read then does not wait first),
 * 0 when the wait ended with nothing (woken, or idle_ms passed), <0 on
 * error. */
int           cg_fconn_await(cg_fconn_t *c, int idle_ms);
/* The parameter, or NULL (the first, if sent twice). */
const char   *cg_fconn_param(const cg_fconn_t *c, const char *name);
/* The same lookup over any environment array. */
const char   *cg_fconn_getenv(char *const *envp, const char *name);
/* Answer bytes, as STDOUT records; written out once CG_FCONN_OUT_HIGH is
 * pending. -1 once a write failed (the web server is gone). */
int           cg_fconn_write(cg_fconn_t *c, const char *p, size_t n);
/* Writes out what is pending; waits at most ms for room. */
int           cg_fconn_flush(cg_fconn_t *c, int ms);
/* Ends the request (empty STDOUT, END_REQUEST), writes it all out, and
 * makes the connection ready for the next. */
int           cg_fconn_end(cg_fconn_t *c, int ms);
/* 1 while the web server has not closed the connection. The pipeline
 * asks often (each provider event, each curl progress call); the answer
 * is looked up at most every CG_FCONN_ALIVE_MS, well under the second in
 * which a client's leaving must close the provider call. */
#define CG_FCONN_ALIVE_MS  50
int           cg_fconn_alive(cg_fconn_t *c);

#endif
