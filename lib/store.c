#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmemcached/memcached.h>

struct cg_store_s {
    memcached_st          *mc;
    memcached_return_t     last;
};


cg_store_t *
cg_store_new(const char *servers, int timeout_ms, char *err, size_t errlen)
{
    cg_store_t            *st;
    memcached_server_st   *list;
    memcached_return_t     rc;

    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->mc = memcached_create(NULL)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(st);
        return NULL;
    }
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
        cg_store_free(st);
        return NULL;
    }
    rc = memcached_server_push(st->mc, list);
    memcached_server_list_free(list);
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(err, errlen, "memcached servers: %s",
                 memcached_strerror(st->mc, rc));
        cg_store_free(st);
        return NULL;
    }
    return st;
}


void
cg_store_free(cg_store_t *st)
{
    if (st) {
        if (st->mc) {
            memcached_free(st->mc);
        }
        free(st);
    }
}


int
cg_store_incr(cg_store_t *st, const char *key, size_t keylen, uint64_t delta,
              unsigned ttl, uint64_t *value)
{
    st->last = memcached_increment_with_initial(st->mc, key, keylen, delta,
                                                delta, (time_t) ttl, value);
    return st->last == MEMCACHED_SUCCESS ? 0 : -1;
}


const char *
cg_store_error(cg_store_t *st)
{
    return memcached_strerror(st->mc, st->last);
}
