/*
 * loop: a worker's event loop. One epoll set, timers and a run queue of
 * fibers (app/fiber.h): each request runs in a fiber, and whenever lib/
 * would block it waits through lib/core/iowait, which this loop serves by
 * arming the fds in epoll (one-shot) and a timer, and switching back to
 * the loop. The loop wakes the fiber when one of its fds is ready, its
 * time is up, or someone cancels the wait.
 *
 * Watches are the other kind of fd: the listening socket, the signal fd,
 * the hand-off socket; their callback runs in the loop itself, never in a
 * fiber, and must not wait.
 *
 * One fd is waited on by one fiber at a time (memcached and provider
 * connections belong to one request context; a FastCGI connection to its
 * fiber). This module knows nothing of FastCGI or requests; it must never
 * log, and never block except in epoll_wait.
 */
#ifndef CG_LOOP_H
#define CG_LOOP_H

#include "fiber.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cg_loop_s cg_loop_t;
typedef struct cg_task_s cg_task_t;
typedef void (*cg_loop_cb)(cg_loop_t *l, int fd, uint32_t events, void *arg);

/* A loop whose fibers get stacks of stack_size bytes; it becomes this
 * thread's iowait waiter. NULL when out of memory or fds. */
cg_loop_t *cg_loop_new(size_t stack_size);
void       cg_loop_free(cg_loop_t *l);
/* cb(l, fd, events, arg) in the loop whenever fd is ready for events
 * (EPOLLIN ...; level-triggered). exclusive: EPOLLEXCLUSIVE, so a socket
 * every worker watches wakes one of them. */
int        cg_loop_watch(cg_loop_t *l, int fd, uint32_t events,
                         int exclusive, cg_loop_cb cb, void *arg);
void       cg_loop_unwatch(cg_loop_t *l, int fd);
/* Runs fn(arg) in a fiber of its own, from the next pass; NULL when out of
 * memory. The task is the loop's until fn returns. */
cg_task_t *cg_loop_spawn(cg_loop_t *l, cg_fiber_fn fn, void *arg);
/* The running task, NULL in the loop itself. */
cg_task_t *cg_loop_self(const cg_loop_t *l);
/* Ends t's current wait at once, as a timeout (0 ready fds); nothing if
 * it is not waiting. */
void       cg_loop_wake(cg_loop_t *l, cg_task_t *t);
/* One pass: waits at most timeout_ms (-1: until something happens) for
 * events and timers, then runs every fiber that became ready. */
void       cg_loop_run_once(cg_loop_t *l, int timeout_ms);
/* Fibers started and not yet ended. */
int        cg_loop_tasks(const cg_loop_t *l);

#endif
