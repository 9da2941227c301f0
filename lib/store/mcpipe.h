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
 * It only talks to the one server it is given; lib/store/store.c decides when
 * that is right (a single configured server). It never logs and never
 * retries: a failed exchange closes the connection and reports -1, and
 * the next batch reconnects.
 */
#ifndef CG_MCPIPE_H
#define CG_MCPIPE_H

#include "store/store.h"

typedef enum {
    CG_MCPIPE_OK = 0,
    CG_MCPIPE_CONNECT,      /* cannot connect */
    CG_MCPIPE_TIMEOUT,      /* no answer within the timeout */
    CG_MCPIPE_IO,           /* the connection failed mid-exchange */
    CG_MCPIPE_PROTOCOL      /* an answer we did not expect */
} cg_mcpipe_err_t;

typedef struct {
    int              fd;            /* -1: not connected */
    char             host[256];     /* name, address, or /unix/socket */
    unsigned         port;
    int              timeout_ms;
    cg_mcpipe_err_t  err;
} cg_mcpipe_t;

void cg_mcpipe_init(cg_mcpipe_t *p, const char *host, unsigned port,
                    int timeout_ms);
/* Sends ops[0..n) (n <= CG_STORE_BATCH_MAX) and reads their answers;
 * 0, or -1 with p->err set. */
int  cg_mcpipe_run(cg_mcpipe_t *p, cg_store_op_t *ops, size_t n);
void cg_mcpipe_close(cg_mcpipe_t *p);

#endif
