/*
 * mcpipe: several memcached binary-protocol operations in one round trip.
 *
 * libmemcached waits for the answer of every increment before it sends
 * the next, so a request that reserves a budget (two increments and a
 * read) paid three round trips. mcpipe writes all the requests of a batch
 * in one send on its own connection to one server, then reads the answers,
 * which memcached sends in request order: the same effect as running them
 * one after another, at the cost of one round trip.
 *
 * It only talks to the one server it is given; lib/store/store.c picks the
 * server of each key and keeps one mcpipe per server. It never logs and
 * never retries an exchange: a failed one closes the connection and
 * reports -1, and the next batch reconnects.
 *
 * Only an answer counts. An op is done once a reply with the request's
 * magic, opcode and opaque, a body that fits, and a status that op can
 * have arrived; end of file, a reset, a short read, a timeout or a reply
 * that does not match is an error, never a missing key or a zero. A kept
 * connection the server has closed while idle (a clean stop, a restart)
 * is noticed before anything is sent on it and replaced, so a restarted
 * server is answering again from the first batch.
 */
#ifndef CG_MCPIPE_H
#define CG_MCPIPE_H

#include "store/store.h"

typedef enum {
    CG_MCPIPE_OK = 0,
    CG_MCPIPE_CONNECT,      /* cannot connect */
    CG_MCPIPE_TIMEOUT,      /* no answer within the timeout */
    CG_MCPIPE_IO,           /* the connection failed mid-exchange */
    CG_MCPIPE_PROTOCOL,     /* an answer we did not expect */
    CG_MCPIPE_EOF,          /* the server closed before answering all */
    CG_MCPIPE_SERVER        /* the server answered with an error status */
} cg_mcpipe_err_t;

typedef struct {
    int              fd;            /* -1: not connected */
    char             host[256];     /* name, address, or /unix/socket */
    unsigned         port;
    int              timeout_ms;
    cg_mcpipe_err_t  err;
    int              sys_errno;     /* errno of a CONNECT or IO error */
    unsigned         status;        /* the status of a SERVER error */
    size_t           answered;      /* ops of the last batch answered */
    size_t           sent;          /* ops of the last batch */
} cg_mcpipe_t;

void cg_mcpipe_init(cg_mcpipe_t *p, const char *host, unsigned port,
                    int timeout_ms);
/* Sends ops[0..n) (n <= CG_STORE_BATCH_MAX) and reads their answers;
 * 0, or -1 with p->err set. */
int  cg_mcpipe_run(cg_mcpipe_t *p, cg_store_op_t *ops, size_t n);
void cg_mcpipe_close(cg_mcpipe_t *p);
/* The last error as operator text naming the server, e.g. "memcached
 * 127.0.0.1:11211: connection closed by the server after 1 of 3
 * answers". */
const char *cg_mcpipe_strerror(const cg_mcpipe_t *p, char *buf,
                               size_t len);

#endif
