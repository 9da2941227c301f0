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
