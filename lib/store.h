/*
 * store: the shared counter store (memcached, binary protocol).
 *
 * One cg_store_t per worker thread, never shared: libmemcached handles are
 * not thread-safe. Timeouts are short (tens of milliseconds) so a dead
 * memcached costs little latency; callers decide whether a store failure
 * fails the request open or closed. This module never logs.
 */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <stdint.h>
#include <stddef.h>

typedef struct cg_store_s cg_store_t;

cg_store_t *cg_store_new(const char *servers, int timeout_ms, char *err,
                         size_t errlen);
void        cg_store_free(cg_store_t *st);
/* Atomically adds delta to key (creating it as delta with ttl seconds when
 * missing) and returns the new value in *value. Returns 0, or -1 when the
 * store could not be reached. */
int         cg_store_incr(cg_store_t *st, const char *key, size_t keylen,
                          uint64_t delta, unsigned ttl, uint64_t *value);
/* The last error as text, for the operator's log. */
const char *cg_store_error(cg_store_t *st);

#endif
