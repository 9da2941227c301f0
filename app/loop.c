#include "loop.h"

#include "core/clock.h"
#include "core/iowait.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Events one epoll_wait hands back at most. */
#define CG_LOOP_EVENTS  256
/* Ended fibers kept for reuse (their stacks stay mapped and warm). */
#define CG_LOOP_SPARE   64

enum { CG_FD_NONE = 0, CG_FD_WAIT, CG_FD_WATCH };

/* What an fd is to the loop. gen tells a one-shot event from an earlier
 * wait (still queued in the kernel) from one for the current wait. */
typedef struct {
    int         kind;
    uint32_t    gen;
    cg_task_t  *task;       /* CG_FD_WAIT: the waiter */
    int         idx;        /* its index in the waiter's pollfd array */
    cg_loop_cb  cb;         /* CG_FD_WATCH */
    void       *arg;
    int         in_epoll;
} cg_loop_fd_t;

struct cg_task_s {
    cg_fiber_t     *f;
    cg_fiber_fn     fn;
    void           *arg;
    struct pollfd  *fds;        /* the current wait's */
    nfds_t          n;
    int             fired;      /* fds with revents */
    int             waiting;
    int             queued;
    uint64_t        seq;        /* bumped at each wait's end */
    cg_task_t      *next;       /* run queue, or the spare list */
};

typedef struct {
    double      at;
    cg_task_t  *task;
    uint64_t    seq;
} cg_loop_timer_t;

struct cg_loop_s {
    int              ep;
    size_t           stack;
    cg_loop_fd_t    *fds;
    size_t           nfds;
    cg_loop_timer_t *heap;
    size_t           nheap, capheap;
    cg_task_t       *run, *run_tail;
    cg_task_t       *spare;
    int              nspare;
    int              ntasks;
    cg_task_t       *cur;
    cg_iowait_t      waiter;
};


static cg_loop_fd_t *
cg_loop_fd(cg_loop_t *l, int fd)
{
    size_t         n;
    cg_loop_fd_t  *p;

    if (fd < 0) {
        return NULL;
    }
    if ((size_t) fd >= l->nfds) {
        n = l->nfds ? l->nfds : 1024;
        while (n <= (size_t) fd) {
            n *= 2;
        }
        p = realloc(l->fds, n * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        memset(p + l->nfds, 0, (n - l->nfds) * sizeof(*p));
        l->fds = p;
        l->nfds = n;
    }
    return &l->fds[fd];
}


/* Arms fd in epoll: ADD or MOD as the kernel has it (a closed fd leaves
 * the set by itself, so our in_epoll may be stale either way). */
static int
cg_loop_ctl(cg_loop_t *l, int fd, cg_loop_fd_t *e, uint32_t events)
{
    struct epoll_event ev = { .events = events,
                              .data.u64 = (uint64_t) (unsigned) fd
                                          | (uint64_t) e->gen << 32 };
    int op = e->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

    if (epoll_ctl(l->ep, op, fd, &ev) != 0) {
        op = errno == ENOENT ? EPOLL_CTL_ADD
             : errno == EEXIST ? EPOLL_CTL_MOD : -1;
        if (op < 0 || epoll_ctl(l->ep, op, fd, &ev) != 0) {
            return -1;
        }
    }
    e->in_epoll = 1;
    return 0;
}


static void
cg_loop_queue(cg_loop_t *l, cg_task_t *t)
{
    if (t->queued) {
        return;
    }
    t->queued = 1;
    t->next = NULL;
    if (l->run_tail) {
        l->run_tail->next = t;
    } else {
        l->run = t;
    }
    l->run_tail = t;
}


/* Timers: a binary min-heap on the deadline; an entry whose task moved
 * on (seq changed) is dropped when it comes up. */
static void
cg_loop_heap_swap(cg_loop_t *l, size_t a, size_t b)
{
    cg_loop_timer_t t = l->heap[a];

    l->heap[a] = l->heap[b];
    l->heap[b] = t;
}


static int
cg_loop_timer_add(cg_loop_t *l, double at, cg_task_t *t)
{
    cg_loop_timer_t *p;
    size_t           i;

    if (l->nheap == l->capheap) {
        p = realloc(l->heap, (l->capheap ? l->capheap * 2 : 64)
                             * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        l->heap = p;
        l->capheap = l->capheap ? l->capheap * 2 : 64;
    }
    i = l->nheap++;
    l->heap[i] = (cg_loop_timer_t) { at, t, t->seq };
    while (i > 0 && l->heap[(i - 1) / 2].at > l->heap[i].at) {
        cg_loop_heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}


static void
cg_loop_timer_pop(cg_loop_t *l)
{
    size_t i = 0, c;

    l->heap[0] = l->heap[--l->nheap];
    for (;;) {
        c = 2 * i + 1;
        if (c >= l->nheap) {
            break;
        }
        if (c + 1 < l->nheap && l->heap[c + 1].at < l->heap[c].at) {
            c++;
        }
        if (l->heap[i].at <= l->heap[c].at) {
            break;
        }
        cg_loop_heap_swap(l, i, c);
        i = c;
    }
}


static void
cg_loop_timers_run(cg_loop_t *l, double now)
{
    cg_loop_timer_t top;

    while (l->nheap > 0 && l->heap[0].at <= now) {
        top = l->heap[0];
        cg_loop_timer_pop(l);
        if (top.task->seq == top.seq && top.task->waiting) {
            cg_loop_queue(l, top.task);
        }
    }
}


static short
cg_loop_revents(uint32_t ev)
{
    return (short) ((ev & EPOLLIN ? POLLIN : 0)
                    | (ev & EPOLLOUT ? POLLOUT : 0)
                    | (ev & EPOLLRDHUP ? POLLRDHUP : 0)
                    | (ev & EPOLLHUP ? POLLHUP : 0)
                    | (ev & EPOLLERR ? POLLERR : 0)
                    | (ev & EPOLLPRI ? POLLPRI : 0));
}


static uint32_t
cg_loop_events(short ev)
{
    return (ev & POLLIN ? EPOLLIN : 0) | (ev & POLLOUT ? EPOLLOUT : 0)
           | (ev & POLLRDHUP ? EPOLLRDHUP : 0)
           | (ev & POLLPRI ? EPOLLPRI : 0);
}


static void
cg_loop_dispatch(cg_loop_t *l, const struct epoll_event *ev)
{
    int            fd = (int) (uint32_t) ev->data.u64;
    uint32_t       gen = (uint32_t) (ev->data.u64 >> 32);
    cg_loop_fd_t  *e = (size_t) fd < l->nfds ? &l->fds[fd] : NULL;
    cg_task_t     *t;

    if (e == NULL || e->gen != gen) {
        return;     /* from a wait that is over */
    }
    if (e->kind == CG_FD_WATCH) {
        e->cb(l, fd, ev->events, e->arg);
        return;
    }
    t = e->task;
    if (e->kind != CG_FD_WAIT || t == NULL || !t->waiting) {
        return;
    }
    if (t->fds[e->idx].revents == 0) {
        t->fired++;
    }
    t->fds[e->idx].revents |= cg_loop_revents(ev->events)
                              & (t->fds[e->idx].events | POLLHUP | POLLERR);
    if (t->fds[e->idx].revents == 0) {
        t->fds[e->idx].revents = POLLHUP;
    }
    e->task = NULL;
    cg_loop_queue(l, t);
}


/* Arms each fd of a wait; an fd epoll cannot watch (a regular file) is
 * ready at once, as poll(2) says of it. */
static void
cg_loop_arm(cg_loop_t *l, cg_task_t *t, struct pollfd *fds, nfds_t n)
{
    cg_loop_fd_t *e;
    nfds_t        i;

    for (i = 0; i < n; i++) {
        fds[i].revents = 0;
        if (fds[i].fd < 0) {
            continue;
        }
        e = cg_loop_fd(l, fds[i].fd);
        if (e != NULL && e->kind == CG_FD_WATCH) {
            e = NULL;
        }
        if (e != NULL) {
            e->gen++;
            e->kind = CG_FD_WAIT;
            e->task = t;
            e->idx = (int) i;
        }
        if (e == NULL
            || cg_loop_ctl(l, fds[i].fd, e,
                           cg_loop_events(fds[i].events) | EPOLLONESHOT)
               != 0) {
            fds[i].revents = fds[i].events & (POLLIN | POLLOUT);
            fds[i].revents |= fds[i].revents ? 0 : POLLNVAL;
            t->fired++;
        }
    }
}


static void
cg_loop_disarm(cg_loop_t *l, cg_task_t *t)
{
    nfds_t i;

    for (i = 0; i < t->n; i++) {
        if (t->fds[i].fd >= 0 && (size_t) t->fds[i].fd < l->nfds
            && l->fds[t->fds[i].fd].task == t) {
            l->fds[t->fds[i].fd].task = NULL;
        }
    }
}


/* The iowait waiter: a fiber's poll(2). */
static int
cg_loop_poll(void *ctx, struct pollfd *fds, nfds_t n, int timeout_ms)
{
    cg_loop_t *l = ctx;
    cg_task_t *t = l->cur;

    if (t == NULL || timeout_ms == 0) {
        return poll(fds, n, timeout_ms);
    }
    t->fds = fds;
    t->n = n;
    t->fired = 0;
    cg_loop_arm(l, t, fds, n);
    if (t->fired == 0
        && (timeout_ms < 0
            || cg_loop_timer_add(l, cg_clock_mono() + timeout_ms / 1000.0,
                                 t) == 0)) {
        t->waiting = 1;
        cg_fiber_yield();
        t->waiting = 0;
    }
    t->seq++;
    cg_loop_disarm(l, t);
    return t->fired;
}


static void *
cg_loop_self_hook(void *ctx)
{
    return ((cg_loop_t *) ctx)->cur;
}


static void
cg_loop_wake_hook(void *ctx, void *who)
{
    cg_loop_wake(ctx, who);
}


static void
cg_loop_yield(void *ctx)
{
    cg_loop_t *l = ctx;
    cg_task_t *t = l->cur;

    if (t != NULL) {
        cg_loop_queue(l, t);
        cg_fiber_yield();
    }
}


cg_loop_t *
cg_loop_new(size_t stack_size)
{
    cg_loop_t *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        free(l);
        return NULL;
    }
    l->stack = stack_size;
    l->waiter = (cg_iowait_t) { cg_loop_poll, cg_loop_yield,
                                cg_loop_self_hook, cg_loop_wake_hook, l };
    cg_iowait_set(&l->waiter);
    return l;
}


void
cg_loop_free(cg_loop_t *l)
{
    cg_task_t *t;

    if (l == NULL) {
        return;
    }
    cg_iowait_set(NULL);
    while ((t = l->spare) != NULL) {
        l->spare = t->next;
        cg_fiber_free(t->f);
        free(t);
    }
    close(l->ep);
    free(l->fds);
    free(l->heap);
    free(l);
}


int
cg_loop_watch(cg_loop_t *l, int fd, uint32_t events, int exclusive,
              cg_loop_cb cb, void *arg)
{
    cg_loop_fd_t *e = cg_loop_fd(l, fd);

    if (e == NULL) {
        return -1;
    }
    e->gen++;
    e->kind = CG_FD_WATCH;
    e->cb = cb;
    e->arg = arg;
    e->task = NULL;
    if (exclusive) {
        /* EPOLLEXCLUSIVE is ADD only. */
        struct epoll_event ev = { .events = events | EPOLLEXCLUSIVE,
                                  .data.u64 = (uint64_t) (unsigned) fd
                                              | (uint64_t) e->gen << 32 };

        (void) epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
        e->in_epoll = epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) == 0;
        return e->in_epoll ? 0 : -1;
    }
    return cg_loop_ctl(l, fd, e, events);
}


void
cg_loop_unwatch(cg_loop_t *l, int fd)
{
    cg_loop_fd_t *e = (size_t) fd < l->nfds ? &l->fds[fd] : NULL;

    if (e == NULL || e->kind != CG_FD_WATCH) {
        return;
    }
    (void) epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
    e->kind = CG_FD_NONE;
    e->in_epoll = 0;
    e->gen++;
}


static void
cg_loop_task_main(void *arg)
{
    cg_task_t *t = arg;

    t->fn(t->arg);
}


cg_task_t *
cg_loop_spawn(cg_loop_t *l, cg_fiber_fn fn, void *arg)
{
    cg_task_t *t = l->spare;

    if (t != NULL) {
        l->spare = t->next;
        l->nspare--;
    } else {
        t = calloc(1, sizeof(*t));
        if (t == NULL || (t->f = cg_fiber_new(l->stack)) == NULL) {
            free(t);
            return NULL;
        }
    }
    t->fn = fn;
    t->arg = arg;
    t->waiting = t->queued = 0;
    t->fds = NULL;
    t->n = 0;
    cg_fiber_start(t->f, cg_loop_task_main, t);
    l->ntasks++;
    cg_loop_queue(l, t);
    return t;
}


cg_task_t *
cg_loop_self(const cg_loop_t *l)
{
    return l->cur;
}


void
cg_loop_wake(cg_loop_t *l, cg_task_t *t)
{
    if (t != NULL && t->waiting) {
        cg_loop_queue(l, t);
    }
}


int
cg_loop_tasks(const cg_loop_t *l)
{
    return l->ntasks;
}


static void
cg_loop_ended(cg_loop_t *l, cg_task_t *t)
{
    l->ntasks--;
    t->seq++;
    if (l->nspare < CG_LOOP_SPARE) {
        t->next = l->spare;
        l->spare = t;
        l->nspare++;
        return;
    }
    cg_fiber_free(t->f);
    free(t);
}


/* Runs what is queued now; what those queue again runs next pass, after a
 * look at the fds, so a yielding fiber cannot starve the others. */
static void
cg_loop_run_queue(cg_loop_t *l)
{
    cg_task_t *t = l->run, *next;

    l->run = l->run_tail = NULL;
    for (; t != NULL; t = next) {
        next = t->next;
        t->queued = 0;
        l->cur = t;
        if (cg_fiber_resume(t->f)) {
            l->cur = NULL;
            cg_loop_ended(l, t);
            continue;
        }
        l->cur = NULL;
    }
}


void
cg_loop_run_once(cg_loop_t *l, int timeout_ms)
{
    struct epoll_event ev[CG_LOOP_EVENTS];
    double             now = cg_clock_mono();
    int                n, i, wait = timeout_ms;

    if (l->run != NULL) {
        wait = 0;
    } else if (l->nheap > 0) {
        double d = (l->heap[0].at - now) * 1000.0;
        int    ms = d <= 0 ? 0 : (int) d + 1;

        wait = wait < 0 || ms < wait ? ms : wait;
    }
    n = epoll_wait(l->ep, ev, CG_LOOP_EVENTS, wait);
    for (i = 0; i < n; i++) {
        cg_loop_dispatch(l, &ev[i]);
    }
    if (l->nheap > 0) {
        cg_loop_timers_run(l, cg_clock_mono());
    }
    cg_loop_run_queue(l);
}
