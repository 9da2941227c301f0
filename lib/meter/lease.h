/*
 * lease: quota taken from the shared store in chunks and spent from a
 * host-local ledger, so that a request at steady state needs no round
 * trip to memcached while every cap still holds exactly across hosts.
 *
 * A leased counter is the same store counter the per-request path uses
 * (a budget's spend of the day or month, a rate window's bucket). A
 * ledger takes a lease of L units by one INCR of it; should the answer
 * pass the cap, the part past the cap is given back at once (one DECR),
 * so the store's count is never left past the cap and the sum of all
 * leases of every host fits the cap: the cap holds exactly, whatever
 * the hosts do with their leases. Requests then take their units from
 * the ledger under its lock (no round trip); a settlement gives back what
 * a reservation did not use, and counts in the store what it used past
 * it. The next request that finds the lease short takes a new one: the
 * one awaited round trip.
 *
 * Lease size: min(k x the amount asked, headroom / (ledgers x 4))
 * and never less than what the request needs, where headroom is the cap
 * less the store's count last seen: leases shrink as the cap nears, down
 * to one request's worth, so near the cap a ledger holds at most about
 * a quarter of what is left divided among the ledgers.
 *
 * The ledger is a local store (lib/store/local.c), shared by the host's
 * processes when it is a file, private to the worker otherwise; each
 * record is three counters changed as one under its lock (what is left
 * of the lease, when it expires, the store's count last seen). Unused
 * lease is given back (DECR) when it expires (CG_LEASE_LIFE_S after it
 * was taken, or sooner when the caller says so: a rate window's bucket
 * at its end; a few records are looked at per second), when the meter's
 * list of leases it uses is full (the oldest), and at shutdown. A record
 * lives a few lease lives after its last change, so the ledger holds
 * the counters in use, not every one of the day. A ledger
 * that dies with what it held (a killed worker's private ledger, a
 * reservation in flight, a host) loses it: it stays counted in the store
 * until the period ends, so a lost lease makes a cap stricter, never
 * looser.
 *
 * This module never logs and never decides what a store failure means.
 */
#ifndef CG_LEASE_H
#define CG_LEASE_H

/* Counters a private ledger holds: CG_LREC__N per leased counter. */
#define CG_LEASE_SLOTS  4096

#include <stdint.h>
#include <time.h>
#include "store/store.h"

/* Seconds an unused lease stays with the ledger before it is given back. */
#define CG_LEASE_LIFE_S  60
/* Leased counters one meter remembers, to give back what is unused. */
#define CG_LEASE_TRACK   512

typedef enum {
    CG_LEASE_OK = 0,
    CG_LEASE_OVER,          /* the cap cannot take the amount */
    CG_LEASE_STORE_DOWN     /* the store or the ledger did not answer */
} cg_lease_rc_t;

typedef struct {
    char        key[CG_STORE_KEY_MAX + 1];
    size_t      len;
} cg_lease_key_t;

/* One leased counter, as its caller names it. */
typedef struct {
    const char *key;
    size_t      len;
    unsigned    ttl;        /* the counter's own expiry */
    uint64_t    cap;        /* what the counter may reach now */
    unsigned    requests;   /* a lease covers this many of the amount */
    unsigned    life;       /* seconds a new lease lives (<= LIFE_S) */
    uint64_t    unit;       /* one request's worth, for the lease size
                               (0: the amount asked) */
} cg_lease_ctr_t;

typedef struct cg_lease_s {
    cg_store_t     *ledger;     /* NULL: leases off */
    int             own;        /* made by cg_lease_init, freed here */
    unsigned        ledgers;    /* ledgers sharing the store (>= 1) */
    /* Grown as leases are granted, up to CG_LEASE_TRACK: a worker has
     * as many meters as request contexts (thousands for 10,000 streams)
     * and most remember a few counters, not 512 x 208 bytes each. */
    cg_lease_key_t *took;
    size_t          ntook, cap, sweep;
    time_t          swept;      /* the last sweep's second */
} cg_lease_t;

/* Leases on, from a ledger: ledger when not NULL (a local store the
 * caller keeps), else a private one made here. ledgers is how many
 * ledgers share the store. Returns 0, or -1 with err. A zeroed
 * cg_lease_t is off. */
int  cg_lease_init(cg_lease_t *l, unsigned ledgers, cg_store_t *ledger,
                   char *err, size_t errlen);
/* Gives back every unused lease this meter took (st: the shared store),
 * then frees the ledger when it is its own. */
void cg_lease_free(cg_lease_t *l, cg_store_t *st);
int  cg_lease_on(const cg_lease_t *l);
/* Takes amount units of counter c from the lease, taking a new lease
 * from st when what is left falls short. *seen gets the counter as this
 * ledger knows it: the store's count last seen less what the ledger
 * still holds unused (exact with one ledger). */
cg_lease_rc_t cg_lease_take(cg_lease_t *l, cg_store_t *st,
                            const cg_lease_ctr_t *c, uint64_t amount,
                            time_t now, uint64_t *seen);
/* Settles what take gave: the unused part (reserved - used) back to the
 * lease; used past reserved is taken from the lease and, when that is
 * short, counted in st at once. Returns 0, or -1 when st did not answer:
 * *owed then holds the units still to add to the counter. */
int  cg_lease_settle(cg_lease_t *l, cg_store_t *st, const cg_lease_ctr_t *c,
                     uint64_t reserved, uint64_t used, uint64_t *owed);
/* A value every worker of the host may reuse (a finished window's
 * count, which no longer changes), kept in the ledger for ttl seconds:
 * 1 and *value when it is there, 0 when not (or leases are off). */
int  cg_lease_memo_get(const cg_lease_t *l, const char *key, size_t len,
                       uint64_t *value);
void cg_lease_memo_put(cg_lease_t *l, const char *key, size_t len,
                       uint64_t value, unsigned ttl);
/* Gives back remembered leases that have expired (round robin, a few
 * looks, once a second at most). */
void cg_lease_sweep(cg_lease_t *l, cg_store_t *st, time_t now);

#endif
