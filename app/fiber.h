/*
 * fiber: a request's own stack, switched to and from by the event loop
 * of its worker. A fiber runs until it waits (lib/core/iowait parks it)
 * and is resumed when what it waits for is ready, so the request pipeline
 * stays one straight line of code while one thread serves thousands of
 * requests.
 *
 * Switching saves only what the C calling convention says a callee keeps
 * (x86-64: rbx, rbp, r12-r15, the stack pointer, the SSE and x87 control
 * words): no system call, unlike swapcontext(3), which changes the signal
 * mask each time. Stacks are mmap'd with a guard page below (an overflow
 * faults instead of writing into a neighbour) and given to the system
 * lazily, so an idle fiber costs only the pages it touched. ASan and
 * valgrind are told of every stack and switch.
 *
 * Fibers of one thread only; a fiber never resumes another. This module
 * must never log, and never block.
 */
#ifndef CG_FIBER_H
#define CG_FIBER_H

#include <stddef.h>

typedef struct cg_fiber_s cg_fiber_t;
typedef void (*cg_fiber_fn)(void *arg);

/* A fiber with a stack of stack_size bytes (rounded up to pages), not
 * started; NULL when out of memory. */
cg_fiber_t *cg_fiber_new(size_t stack_size);
void        cg_fiber_free(cg_fiber_t *f);
/* Makes f run fn(arg) from the top of its stack at its next resume; f
 * must be new or ended. */
void        cg_fiber_start(cg_fiber_t *f, cg_fiber_fn fn, void *arg);
/* From outside any fiber: runs f until it yields or fn returns; 1 when fn
 * has returned (f may be started again). */
int         cg_fiber_resume(cg_fiber_t *f);
/* From inside a fiber: back to the resume() that ran it. */
void        cg_fiber_yield(void);
/* The running fiber, NULL outside any. */
cg_fiber_t *cg_fiber_current(void);

#endif
