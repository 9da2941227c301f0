#include "core/iowait.h"
#include "core/clock.h"

#include <errno.h>

static __thread const cg_iowait_t *cg_iowait_cur;


void
cg_iowait_set(const cg_iowait_t *w)
{
    cg_iowait_cur = w;
}


int
cg_iowait_custom(void)
{
    return cg_iowait_cur != NULL;
}


/* A signal may cut a wait short: the rest of the time is waited again,
 * so a timeout stays the caller's, not the signal's. */
int
cg_iowait_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    double end = timeout_ms > 0 ? cg_clock_mono() + timeout_ms / 1000.0 : 0;
    int    rc, left = timeout_ms;

    for (;;) {
        rc = cg_iowait_cur != NULL
             ? cg_iowait_cur->poll(cg_iowait_cur->ctx, fds, n, left)
             : poll(fds, n, left);
        if (rc >= 0 || errno != EINTR) {
            return rc;
        }
        if (timeout_ms > 0) {
            left = (int) ((end - cg_clock_mono()) * 1000.0);
            if (left <= 0) {
                return 0;
            }
        }
    }
}


void
cg_iowait_sleep_ms(int ms)
{
    if (ms > 0) {
        (void) cg_iowait_poll(NULL, 0, ms);
    }
}


void
cg_iowait_yield(void)
{
    if (cg_iowait_cur != NULL && cg_iowait_cur->yield != NULL) {
        cg_iowait_cur->yield(cg_iowait_cur->ctx);
    }
}


/* A request waiting for a lock: on its own stack while it waits. */
struct cg_iowait_node_s {
    void              *who;
    int                granted;
    cg_iowait_node_t  *next;
};


/* The node is on this stack and in the lock's line only until unlock
 * takes it out, which is before this function returns (it waits for
 * exactly that): GCC cannot see it, hence the pragma. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define CG_IOWAIT_NO_DANGLING 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
void
cg_iowait_lock(cg_iowait_lock_t *l)
{
    cg_iowait_node_t me = { NULL, 0, NULL };

    if (!l->held || cg_iowait_cur == NULL || cg_iowait_cur->self == NULL
        || (me.who = cg_iowait_cur->self(cg_iowait_cur->ctx)) == NULL) {
        l->held = 1;
        return;
    }
    if (l->tail) {
        l->tail->next = &me;
    } else {
        l->head = &me;
    }
    l->tail = &me;
    while (!me.granted) {
        (void) cg_iowait_cur->poll(cg_iowait_cur->ctx, NULL, 0, -1);
    }
}
#ifdef CG_IOWAIT_NO_DANGLING
#pragma GCC diagnostic pop
#endif


/* The next in line gets the lock as it is (still held), so no request
 * that comes later can take it first. */
void
cg_iowait_unlock(cg_iowait_lock_t *l)
{
    cg_iowait_node_t *n = l->head;

    if (n == NULL) {
        l->held = 0;
        return;
    }
    l->head = n->next;
    if (l->head == NULL) {
        l->tail = NULL;
    }
    n->granted = 1;
    cg_iowait_cur->wake(cg_iowait_cur->ctx, n->who);
}
