#include "store/store.h"
#include "core/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmemcached/memcached.h>

#include "store/mcpipe.h"

typedef struct {
    cg_store_t             base;
    memcached_st          *mc;
    memcached_return_t     last;
    int                    timeout_ms;
    cg_mcpipe_t            pipe;        /* batches, with one server */
} cg_store_mc_t;

static const cg_store_ops_t cg_store_mc_ops;


/* A batch without pipelining: each op in order, stopping at a failure. */
static int
cg_store_batch_each(cg_store_t *st, cg_store_op_t *ops, size_t n)
{
    cg_store_op_t *op;
    size_t         i;
    int            rc;

    for (i = 0; i < n; i++) {
        ops[i].done = 0;
    }
    for (i = 0; i < n; i++) {
        op = &ops[i];
        rc = op->op == CG_STORE_INCR
             ? st->ops->incr(st, op->key, op->keylen, op->delta, op->ttl,
                             &op->value)
             : op->op == CG_STORE_DECR
             ? st->ops->decr(st, op->key, op->keylen, op->delta, &op->value)
             : st->ops->get_multi(st, &op->key, &op->keylen, 1, &op->value);
        if (rc != 0) {
            return -1;
        }
        op->done = 1;
    }
    return 0;
}


/* memcached reads an expiry over 30 days as an absolute Unix time, so
 * monthly counters need one. */
static time_t
cg_store_mc_ttl(unsigned ttl)
{
    return ttl > 30 * 86400 ? time(NULL) + (time_t) ttl : (time_t) ttl;
}


cg_store_t *
cg_store_new(const char *servers, int timeout_ms, char *err, size_t errlen)
{
    cg_store_mc_t         *st;
    memcached_server_st   *list;
    memcached_return_t     rc;

    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->mc = memcached_create(NULL)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(st);
        return NULL;
    }
    st->base.ops = &cg_store_mc_ops;
    st->timeout_ms = timeout_ms;
    st->pipe.fd = -1;
    /* Binary protocol is needed for increment-with-initial; ketama lets
     * several gateway hosts agree on which server holds a counter. */
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_KETAMA, 1);
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                           (uint64_t) timeout_ms);
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
                           (uint64_t) timeout_ms);
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
    list = memcached_servers_parse(servers);
    if (list == NULL) {
        snprintf(err, errlen, "cannot parse memcached servers");
        cg_store_free(&st->base);
        return NULL;
    }
    rc = memcached_server_push(st->mc, list);
    memcached_server_list_free(list);
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(err, errlen, "memcached servers: %s",
                 memcached_strerror(st->mc, rc));
        cg_store_free(&st->base);
        return NULL;
    }
    return &st->base;
}


static void
cg_store_mc_free(cg_store_t *base)
{
    cg_store_mc_t *st = (cg_store_mc_t *) base;

    if (st->mc) {
        memcached_free(st->mc);
    }
    cg_mcpipe_close(&st->pipe);
    free(st);
}


/* With one server, every op goes over mcpipe's connection: batches
 * pipelined, single ops as batches of one, so a worker thread holds one
 * connection to memcached, not two (memcached's -c limit counts them).
 * With several servers, ops on different servers could be applied out of
 * order, so everything goes through libmemcached, one by one. Returns 1
 * when the ops ran (or failed) on the pipe, 0 when they did not go. */
static int
cg_store_mc_pipe(cg_store_mc_t *st, cg_store_op_t *ops, size_t n, int *rc)
{
    static const memcached_return_t err[] = {
        MEMCACHED_SUCCESS, MEMCACHED_CONNECTION_FAILURE, MEMCACHED_TIMEOUT,
        MEMCACHED_ERRNO, MEMCACHED_PROTOCOL_ERROR
    };
    const memcached_instance_st *srv;

    if (memcached_server_count(st->mc) != 1 || n > CG_STORE_BATCH_MAX) {
        return 0;
    }
    if (st->pipe.host[0] == '\0') {
        srv = memcached_server_instance_by_position(st->mc, 0);
        cg_mcpipe_init(&st->pipe, memcached_server_name(srv),
                       memcached_server_port(srv), st->timeout_ms);
    }
    *rc = cg_mcpipe_run(&st->pipe, ops, n);
    st->last = err[st->pipe.err];
    return 1;
}


static int
cg_store_mc_incr(cg_store_t *base, const char *key, size_t keylen,
                 uint64_t delta, unsigned ttl, uint64_t *value)
{
    cg_store_mc_t *st = (cg_store_mc_t *) base;
    cg_store_op_t  op = { CG_STORE_INCR, key, keylen, delta, ttl, 0, 0 };
    int            rc;

    if (cg_store_mc_pipe(st, &op, 1, &rc)) {
        *value = op.value;
        return rc;
    }

    st->last = memcached_increment_with_initial(st->mc, key, keylen, delta,
                                                delta, cg_store_mc_ttl(ttl),
                                                value);
    return st->last == MEMCACHED_SUCCESS ? 0 : -1;
}


static int
cg_store_mc_decr(cg_store_t *base, const char *key, size_t keylen,
                 uint64_t delta, uint64_t *value)
{
    cg_store_mc_t *st = (cg_store_mc_t *) base;
    cg_store_op_t  op = { CG_STORE_DECR, key, keylen, delta, 0, 0, 0 };
    uint32_t       step;
    int            rc;

    if (cg_store_mc_pipe(st, &op, 1, &rc)) {
        *value = op.value;
        return rc;
    }

    /* The protocol call takes 32 bits; larger amounts go in steps. */
    do {
        step = delta > UINT32_MAX ? UINT32_MAX : (uint32_t) delta;
        delta -= step;
        st->last = memcached_decrement(st->mc, key, keylen, step, value);
    } while (delta > 0 && st->last == MEMCACHED_SUCCESS && *value > 0);
    if (st->last == MEMCACHED_NOTFOUND) {
        *value = 0;
        return 0;
    }
    return st->last == MEMCACHED_SUCCESS ? 0 : -1;
}


static int
cg_store_mc_add(cg_store_t *base, const char *key, size_t keylen,
                uint64_t value, unsigned ttl)
{
    cg_store_mc_t *st = (cg_store_mc_t *) base;
    char           text[24];
    int            n;

    /* Decimal text, so that a later incr works on the same key. */
    n = snprintf(text, sizeof(text), "%llu", (unsigned long long) value);
    st->last = memcached_add(st->mc, key, keylen, text, (size_t) n,
                             cg_store_mc_ttl(ttl), 0);
    if (st->last == MEMCACHED_NOTSTORED || st->last == MEMCACHED_DATA_EXISTS) {
        return 1;
    }
    return st->last == MEMCACHED_SUCCESS ? 0 : -1;
}


static int
cg_store_mc_get_multi(cg_store_t *base, const char *const *keys,
                      const size_t *lens, size_t n, uint64_t *values)
{
    cg_store_mc_t      *st = (cg_store_mc_t *) base;
    memcached_result_st *res;
    memcached_return_t  rc;
    cg_store_op_t       ops[CG_STORE_BATCH_MAX];
    const char         *k, *v;
    size_t              i, kl;
    int                 prc;

    for (i = 0; i < n && i < CG_STORE_BATCH_MAX; i++) {
        ops[i] = (cg_store_op_t) { CG_STORE_GET, keys[i], lens[i], 0, 0,
                                   0, 0 };
    }
    if (cg_store_mc_pipe(st, ops, n, &prc)) {
        for (i = 0; i < n; i++) {
            values[i] = ops[i].value;
        }
        return prc;
    }
    memset(values, 0, n * sizeof(*values));
    st->last = memcached_mget(st->mc, keys, lens, n);
    if (st->last != MEMCACHED_SUCCESS) {
        return -1;
    }
    while ((res = memcached_fetch_result(st->mc, NULL, &rc)) != NULL) {
        k = memcached_result_key_value(res);
        kl = memcached_result_key_length(res);
        v = memcached_result_value(res);
        for (i = 0; i < n; i++) {
            if (lens[i] == kl && memcmp(keys[i], k, kl) == 0) {
                values[i] = strtoull(v ? v : "0", NULL, 10);
            }
        }
        memcached_result_free(res);
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS
        && rc != MEMCACHED_NOTFOUND) {
        st->last = rc;
        return -1;
    }
    return 0;
}


static int
cg_store_mc_batch(cg_store_t *base, cg_store_op_t *ops, size_t n)
{
    int rc;

    if (cg_store_mc_pipe((cg_store_mc_t *) base, ops, n, &rc)) {
        return rc;
    }
    return cg_store_batch_each(base, ops, n);
}


static const char *
cg_store_mc_error(cg_store_t *base)
{
    cg_store_mc_t *st = (cg_store_mc_t *) base;

    return memcached_strerror(st->mc, st->last);
}


static const cg_store_ops_t cg_store_mc_ops = {
    cg_store_mc_incr, cg_store_mc_decr, cg_store_mc_add,
    cg_store_mc_get_multi, cg_store_mc_error, cg_store_mc_free,
    cg_store_mc_batch
};


/* The one fault hook of both backends (make faults): the call fails as an
 * unreachable store would. */
static int
cg_store_fault(cg_store_t *st)
{
    st->faulted = cg_fault_hit(CG_FAULT_STORE);
    return st->faulted;
}


void
cg_store_free(cg_store_t *st)
{
    if (st) {
        st->ops->free(st);
    }
}


int
cg_store_incr(cg_store_t *st, const char *key, size_t keylen, uint64_t delta,
              unsigned ttl, uint64_t *value)
{
    return cg_store_fault(st) ? -1 : st->ops->incr(st, key, keylen, delta, ttl, value);
}


int
cg_store_decr(cg_store_t *st, const char *key, size_t keylen, uint64_t delta,
              uint64_t *value)
{
    return cg_store_fault(st) ? -1 : st->ops->decr(st, key, keylen, delta, value);
}


int
cg_store_add(cg_store_t *st, const char *key, size_t keylen, uint64_t value,
             unsigned ttl)
{
    return cg_store_fault(st) ? -1 : st->ops->add(st, key, keylen, value, ttl);
}


int
cg_store_get_multi(cg_store_t *st, const char *const *keys,
                   const size_t *lens, size_t n, uint64_t *values)
{
    return cg_store_fault(st) ? -1 : st->ops->get_multi(st, keys, lens, n, values);
}


int
cg_store_batch(cg_store_t *st, cg_store_op_t *ops, size_t n)
{
    return st->ops->batch ? st->ops->batch(st, ops, n)
                          : cg_store_batch_each(st, ops, n);
}


const char *
cg_store_error(cg_store_t *st)
{
    return st->faulted ? "injected fault" : st->ops->error(st);
}


const char *
cg_store_notice(cg_store_t *st)
{
    if (st->notice[0] == '\0') {
        return NULL;
    }
    return st->notice;
}
