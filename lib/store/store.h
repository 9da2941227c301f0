/*
 * store: the shared counter store, behind one small vtable.
 *
 * Two backends keep the same counters, windows and reservations:
 *   memcached  (binary protocol, ketama): shared by every host that uses
 *              the same servers; the choice as soon as there is more than
 *              one gateway host.
 *   local      a memory-mapped file shared by every chatgate process on
 *              one host (store_local.c), for hosting without memcached.
 * Both give the same four atomic operations, so the limit and budget code
 * (and its tests) never knows which one it talks to.
 *
 * One cg_store_t per worker thread, never shared: it owns its connections.
 * Timeouts are short (tens of milliseconds) so a dead memcached costs
 * little latency. Every call returns 0 only when the store answered it: a
 * server that closed, reset, timed out or replied out of step is -1 with
 * cg_store_error() naming the server and what happened, never a missing
 * key or a zero; callers decide whether a store failure fails the request
 * open or closed. This module never logs; the local backend reports a
 * rebuilt file through cg_store_notice().
 */
#ifndef CG_STORE_H
#define CG_STORE_H

#include <stdint.h>
#include <stddef.h>

typedef struct cg_store_s cg_store_t;

/* Keys of the refusal path start with this: counters that traffic with
 * no valid credential creates (lib/who/auth.c, failed authentications).
 * The local store gives them up first when it is full, so such traffic
 * can never crowd out a budget or a limit (lib/store/local.c). */
#define CG_STORE_SPARE_PREFIX  "cg:authfail:"

/* Keys up to this length; longer keys are a caller bug (-1). */
#define CG_STORE_KEY_MAX  200

/* One operation of a batch (cg_store_batch). */
typedef enum {
    CG_STORE_INCR,      /* incr with ttl, created as delta when missing */
    CG_STORE_DECR,      /* decr, stopping at 0; missing reads as 0 */
    CG_STORE_GET,       /* read; missing reads as 0 */
    CG_STORE_ADD        /* store delta if missing; value 0 stored,
                           1 existed */
} cg_store_opcode_t;

typedef struct {
    cg_store_opcode_t  op;
    const char        *key;
    size_t             keylen;
    uint64_t           delta;
    unsigned           ttl;
    uint64_t           value;   /* out: the new or read value */
    int                done;    /* out: 1 once the store has answered it */
    /* Optional (NULL: key): the key whose server runs this op, so that a
     * marker rides on the connection, and in the round trip, of the op
     * it guards (lib/meter/budget.c). */
    const char        *route;
    size_t             routelen;
} cg_store_op_t;

/* The most operations one batch may carry. */
#define CG_STORE_BATCH_MAX  16

typedef struct {
    int  (*incr)(cg_store_t *st, const char *key, size_t keylen,
                 uint64_t delta, unsigned ttl, uint64_t *value);
    int  (*decr)(cg_store_t *st, const char *key, size_t keylen,
                 uint64_t delta, uint64_t *value);
    int  (*add)(cg_store_t *st, const char *key, size_t keylen,
                uint64_t value, unsigned ttl);
    int  (*get_multi)(cg_store_t *st, const char *const *keys,
                      const size_t *lens, size_t n, uint64_t *values);
    const char *(*error)(cg_store_t *st);
    void (*free)(cg_store_t *st);
    /* Optional: the whole batch in one round trip (NULL: one by one). */
    int  (*batch)(cg_store_t *st, cg_store_op_t *ops, size_t n);
} cg_store_ops_t;

struct cg_store_s {
    const cg_store_ops_t *ops;
    char                  notice[1024];  /* one-off event for the log */
    int                   notice_taken; /* cg_store_notice() returned it */
    int                   faulted;      /* the last call was made to fail */
    /* 1 when an op sent but not answered may still run later (memcached:
     * a paused server runs what it was sent once it resumes); 0 when an
     * unanswered op never ran (the local store). */
    int                   late_ops;
};

cg_store_t *cg_store_new(const char *servers, int timeout_ms, char *err,
                         size_t errlen);
/* The host-local store in the file at path with room for slots counters;
 * owner names the configuration (its file), for the header and for what
 * a refusal says. Everything read from the file is checked against this
 * process's own mapping (magic, version, slot count, size, checksum)
 * before use. A missing, corrupt or stale file, or this owner's own file
 * at another size, is rebuilt (see cg_store_notice); a file that a live
 * configuration of another size uses is refused (NULL, err naming both).
 * While serving, a corrupt file is rebuilt with this process's size and
 * a file another size has taken over is a store error, never a rebuild.
 * A NULL path gives counters private to this process. */
cg_store_t *cg_store_new_local(const char *path, unsigned slots,
                               const char *owner, char *err, size_t errlen);
void        cg_store_free(cg_store_t *st);
/* The local store only: reads the counters keys[0..n) (missing ones
 * read as 0), hands their values to fn, and stores what fn leaves in
 * them, all under the file's one lock, so a record of several counters
 * (the lease ledger, lib/meter/lease.c) changes as one for every process
 * of the host. The record then lives ttl seconds from this change; one
 * fn leaves all zero is freed. Returns what fn returned, or -1 when
 * the store is not local, n is over CG_STORE_UPDATE_MAX, the file cannot
 * be locked or has no room (fn not run). */
#define CG_STORE_UPDATE_MAX  4
typedef int (*cg_store_update_pt)(uint64_t *values, void *ctx);
int         cg_store_local_update(cg_store_t *st, const char *const *keys,
                                  const size_t *lens, size_t n, unsigned ttl,
                                  cg_store_update_pt fn, void *ctx);
/* Atomically adds delta to key (creating it as delta with ttl seconds when
 * missing) and returns the new value in *value. Returns 0, or -1 when the
 * store could not be reached. */
int         cg_store_incr(cg_store_t *st, const char *key, size_t keylen,
                          uint64_t delta, unsigned ttl, uint64_t *value);
/* Atomically subtracts delta, stopping at 0. A missing key is not an
 * error (*value = 0): it expired, which is what releases a reservation. */
int         cg_store_decr(cg_store_t *st, const char *key, size_t keylen,
                          uint64_t delta, uint64_t *value);
/* Stores key only if it does not exist: 0 stored, 1 existed, -1 error. */
int         cg_store_add(cg_store_t *st, const char *key, size_t keylen,
                         uint64_t value, unsigned ttl);
/* Reads n counters in one round trip; missing keys read as 0. */
int         cg_store_get_multi(cg_store_t *st, const char *const *keys,
                               const size_t *lens, size_t n,
                               uint64_t *values);
/* Runs ops[0..n) with the effect of running them one after another, in
 * that order, in as few round trips as the backend can do that with:
 * memcached pipelines each run of consecutive ops on one server over that
 * server's connection (which the server executes in order); the local
 * store runs them one by one. Stops at the first failure and returns -1;
 * each op's done says whether the store answered it (an op sent but not
 * answered may still have happened). n is at most CG_STORE_BATCH_MAX. */
int         cg_store_batch(cg_store_t *st, cg_store_op_t *ops, size_t n);
/* The last error as text, for the operator's log. */
const char *cg_store_error(cg_store_t *st);
/* A pending one-off notice (e.g. "rebuilt corrupt file"), or NULL; each
 * notice is returned once, for the caller to log. */
const char *cg_store_notice(cg_store_t *st);

#endif
