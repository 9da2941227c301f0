#include "store/store.h"
#include "core/fault.h"
#include "core/iowait.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmemcached/memcached.h>

#include "store/mcpipe.h"

/* libmemcached parses the server list and picks each key's server (ketama,
 * so several gateway hosts agree); every exchange goes over mcpipe, one
 * connection per server, so that every op, single or batched, knows
 * whether the store answered it (see mcpipe.h). */
typedef struct {
    cg_store_t             base;
    memcached_st          *mc;
    size_t                 nservers;
    cg_mcpipe_t           *pipe;        /* one per server, by position */
    char                   err[256];
    /* The request contexts of a worker share the connections: one round
     * trip at a time on them (each waits for its own replies). */
    cg_iowait_lock_t       lock;
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
        switch (op->op) {
        case CG_STORE_INCR:
            rc = st->ops->incr(st, op->key, op->keylen, op->delta, op->ttl,
                               &op->value);
            break;
        case CG_STORE_DECR:
            rc = st->ops->decr(st, op->key, op->keylen, op->delta,
                               &op->value);
            break;
        case CG_STORE_ADD:
            rc = st->ops->add(st, op->key, op->keylen, op->delta, op->ttl);
            op->value = rc == 1;
            rc = rc < 0 ? -1 : 0;
            break;
        default:
            rc = st->ops->get_multi(st, &op->key, &op->keylen, 1,
                                    &op->value);
            break;
        }
        if (rc != 0) {
            return -1;
        }
        op->done = 1;
    }
    return 0;
}


cg_store_t *
cg_store_new(const char *servers, int timeout_ms, char *err, size_t errlen)
{
    cg_store_mc_t                *st;
    memcached_server_st          *list;
    memcached_return_t            rc;
    const memcached_instance_st  *srv;
    size_t                        i;

    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->mc = memcached_create(NULL)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(st);
        return NULL;
    }
    st->base.ops = &cg_store_mc_ops;
    st->base.late_ops = 1;
    /* Ketama lets several gateway hosts agree on which server holds a
     * counter. */
    memcached_behavior_set(st->mc, MEMCACHED_BEHAVIOR_KETAMA, 1);
    list = memcached_servers_parse(servers);
    if (list == NULL) {
        snprintf(err, errlen, "cannot parse memcached servers");
        cg_store_free(&st->base);
        return NULL;
    }
    rc = memcached_server_push(st->mc, list);
    memcached_server_list_free(list);
    st->nservers = memcached_server_count(st->mc);
    if (rc != MEMCACHED_SUCCESS || st->nservers == 0
        || (st->pipe = calloc(st->nservers, sizeof(*st->pipe))) == NULL) {
        snprintf(err, errlen, "memcached servers: %s",
                 rc != MEMCACHED_SUCCESS ? memcached_strerror(st->mc, rc)
                                         : "none");
        cg_store_free(&st->base);
        return NULL;
    }
    for (i = 0; i < st->nservers; i++) {
        srv = memcached_server_instance_by_position(st->mc, (uint32_t) i);
        cg_mcpipe_init(&st->pipe[i], memcached_server_name(srv),
                       memcached_server_port(srv), timeout_ms);
    }
    /* libmemcached only ever says which server holds a key (the pipes do
     * the talking), and with one server it is never asked: its buffers
     * are 28 kB in every request context. */
    if (st->nservers == 1) {
        memcached_free(st->mc);
        st->mc = NULL;
    }
    return &st->base;
}


static void
cg_store_mc_free(cg_store_t *base)
{
    cg_store_mc_t *st = (cg_store_mc_t *) base;
    size_t         i;

    for (i = 0; st->pipe && i < st->nservers; i++) {
        cg_mcpipe_close(&st->pipe[i]);
    }
    free(st->pipe);
    if (st->mc) {
        memcached_free(st->mc);
    }
    free(st);
}


/* The position of the server that holds key. */
static size_t
cg_store_mc_server(cg_store_mc_t *st, const char *key, size_t keylen)
{
    const memcached_instance_st *srv, *at;
    memcached_return_t           rc;
    size_t                       i;

    if (st->nservers == 1) {
        return 0;
    }
    srv = memcached_server_by_key(st->mc, key, keylen, &rc);
    for (i = 0; srv && i < st->nservers; i++) {
        at = memcached_server_instance_by_position(st->mc, (uint32_t) i);
        if (at == srv) {
            return i;
        }
    }
    return 0;
}


/* The server of op: that of its route key when it has one. */
static size_t
cg_store_mc_op_server(cg_store_mc_t *st, const cg_store_op_t *op)
{
    return op->route ? cg_store_mc_server(st, op->route, op->routelen)
                     : cg_store_mc_server(st, op->key, op->keylen);
}


/* Runs ops in order: each run of consecutive ops on one server is one
 * pipelined round trip on that server's connection (which the server
 * executes in order), and runs go one after another, so the effect is
 * that of running every op in order. Stops at the first failure, with
 * the failing server's own words in st->err. */
static int
cg_store_mc_run(cg_store_mc_t *st, cg_store_op_t *ops, size_t n)
{
    size_t       i, j, at, next;
    cg_mcpipe_t *p;

    for (i = 0; i < n; i++) {
        ops[i].done = 0;
    }
    cg_iowait_lock(&st->lock);
    for (i = 0; i < n; i = j) {
        at = cg_store_mc_op_server(st, &ops[i]);
        for (j = i + 1; j < n && j - i < CG_STORE_BATCH_MAX; j++) {
            next = cg_store_mc_op_server(st, &ops[j]);
            if (next != at) {
                break;
            }
        }
        p = &st->pipe[at];
        if (cg_mcpipe_run(p, ops + i, j - i) != 0) {
            cg_mcpipe_strerror(p, st->err, sizeof(st->err));
            cg_iowait_unlock(&st->lock);
            return -1;
        }
    }
    cg_iowait_unlock(&st->lock);
    return 0;
}


static int
cg_store_mc_incr(cg_store_t *base, const char *key, size_t keylen,
                 uint64_t delta, unsigned ttl, uint64_t *value)
{
    cg_store_op_t op = { CG_STORE_INCR, key, keylen, delta, ttl, 0, 0,
                         NULL, 0 };
    int           rc = cg_store_mc_run((cg_store_mc_t *) base, &op, 1);

    *value = op.value;
    return rc;
}


static int
cg_store_mc_decr(cg_store_t *base, const char *key, size_t keylen,
                 uint64_t delta, uint64_t *value)
{
    cg_store_op_t op = { CG_STORE_DECR, key, keylen, delta, 0, 0, 0,
                         NULL, 0 };
    int           rc = cg_store_mc_run((cg_store_mc_t *) base, &op, 1);

    *value = op.value;
    return rc;
}


static int
cg_store_mc_add(cg_store_t *base, const char *key, size_t keylen,
                uint64_t value, unsigned ttl)
{
    cg_store_op_t op = { CG_STORE_ADD, key, keylen, value, ttl, 0, 0,
                         NULL, 0 };

    if (cg_store_mc_run((cg_store_mc_t *) base, &op, 1) != 0) {
        return -1;
    }
    return op.value ? 1 : 0;
}


static int
cg_store_mc_get_multi(cg_store_t *base, const char *const *keys,
                      const size_t *lens, size_t n, uint64_t *values)
{
    cg_store_op_t ops[CG_STORE_BATCH_MAX];
    size_t        i, k, m;

    for (i = 0; i < n; i += m) {
        m = n - i < CG_STORE_BATCH_MAX ? n - i : CG_STORE_BATCH_MAX;
        for (k = 0; k < m; k++) {
            ops[k] = (cg_store_op_t) { CG_STORE_GET, keys[i + k],
                                       lens[i + k], 0, 0, 0, 0, NULL, 0 };
        }
        if (cg_store_mc_run((cg_store_mc_t *) base, ops, m) != 0) {
            return -1;
        }
        for (k = 0; k < m; k++) {
            values[i + k] = ops[k].value;
        }
    }
    return 0;
}


static int
cg_store_mc_batch(cg_store_t *base, cg_store_op_t *ops, size_t n)
{
    return cg_store_mc_run((cg_store_mc_t *) base, ops, n);
}


static const char *
cg_store_mc_error(cg_store_t *base)
{
    return ((cg_store_mc_t *) base)->err;
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
    if (cg_store_fault(st)) {
        return -1;
    }
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
    if (st->notice[0] == '\0' || st->notice_taken) {
        return NULL;
    }
    st->notice_taken = 1;
    return st->notice;
}
