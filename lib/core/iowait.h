/*
 * iowait: the one way code in lib/ waits. Every place that would block
 * the calling thread (a memcached reply, the provider's bytes, a retry's
 * pause, a PHP session file PHP holds locked) waits through here, never
 * with poll(2) or a sleep of its own.
 *
 * By default a wait is poll(2) on the calling thread. The worker's event
 * loop (app/loop.c) installs its own waiter for its thread, which parks
 * the running request (a fiber) and runs others until one of its file
 * descriptors is ready or its time is up; so lib/ stays straight-line code
 * that knows nothing of loops, fibers or processes. A waiter must behave
 * as poll(2) does for the fds it is given; it may refuse more fds than it
 * can watch (-1, EINVAL).
 *
 * cg_iowait_yield() is where long CPU work (a huge answer through the output
 * guard) lets other requests run; with the default waiter it does nothing.
 * This module must never log, allocate or block other than in poll(2).
 */
#ifndef CG_IOWAIT_H
#define CG_IOWAIT_H

#include <poll.h>

typedef struct {
    /* poll(2) semantics: timeout_ms < 0 waits for ever. */
    int   (*poll)(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms);
    /* Lets other work run and comes back. */
    void  (*yield)(void *ctx);
    /* Who is running (NULL outside any request), and ends that one's
     * current wait at once (as a timeout): for cg_iowait_lock. */
    void *(*self)(void *ctx);
    void  (*wake)(void *ctx, void *who);
    void   *ctx;
} cg_iowait_t;

/* A lock for something the requests of one thread share and must not use
 * two at a time across a wait (a memcached connection: a request waiting
 * for its reply must not see another's bytes). Without a waiter of its
 * own a thread has one request at a time, and the lock is only a flag.
 * Handed on in the order asked for; zeroed is unlocked. */
typedef struct cg_iowait_node_s cg_iowait_node_t;
typedef struct {
    int                held;
    cg_iowait_node_t  *head, *tail;
} cg_iowait_lock_t;

/* This thread's waiter (not copied: w must outlive its use); NULL puts the
 * default back. */
void cg_iowait_set(const cg_iowait_t *w);
/* 1 when this thread runs under a waiter of its own (an event loop). */
int  cg_iowait_custom(void);

/* poll(2) through this thread's waiter; EINTR is retried here. */
int  cg_iowait_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
/* Waits ms milliseconds (no fd). */
void cg_iowait_sleep_ms(int ms);
void cg_iowait_yield(void);
void cg_iowait_lock(cg_iowait_lock_t *l);
void cg_iowait_unlock(cg_iowait_lock_t *l);

#endif
