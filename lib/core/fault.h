/*
 * fault: fault injection for the test build (make faults), after curl's
 * "torture" tests.
 *
 * Built with -DCG_FAULT_INJECTION (and this header force-included into
 * every object), the Nth allocation, the Nth store call or the Nth upstream
 * read of one request fails, so a test can walk N from 1 upwards over a
 * request of each kind and check that every failure ends in a clean error,
 * no crash, no leak and a true usage line. Faults are armed per request
 * thread, only between cg_fault_arm() and cg_fault_disarm(): startup and
 * config loading never see one. In a normal build every hook is a constant
 * 0 and this module compiles to nothing; it must never be able to fire
 * there.
 *
 * The spec is "KIND:N" with KIND alloc, store or upstream (N >= 1).
 */
#ifndef CG_FAULT_H
#define CG_FAULT_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    CG_FAULT_ALLOC = 0,
    CG_FAULT_STORE,
    CG_FAULT_UPSTREAM,
    CG_FAULT_KINDS
} cg_fault_kind_t;

#ifdef CG_FAULT_INJECTION

/* Arms the calling thread with spec ("alloc:7"), or with the environment's
 * CHATGATE_FAULT when spec is NULL or empty; a bad spec arms nothing. */
void        cg_fault_arm(const char *spec);
/* Counts one event of this kind; nonzero: it must fail now. */
int         cg_fault_hit(cg_fault_kind_t kind);
/* Disarms; returns the spec that fired ("alloc:7"), or NULL if none did. */
const char *cg_fault_disarm(void);

void       *cg_fault_malloc(size_t n);
void       *cg_fault_calloc(size_t n, size_t size);
void       *cg_fault_realloc(void *p, size_t n);
char       *cg_fault_strdup(const char *s);

#ifndef CG_FAULT_IMPL
/* The project's own allocations go through the counters. */
#define malloc(n)       cg_fault_malloc(n)
#define calloc(n, s)    cg_fault_calloc(n, s)
#define realloc(p, n)   cg_fault_realloc(p, n)
#define strdup(s)       cg_fault_strdup(s)
#endif

#else

#define cg_fault_arm(spec)      ((void) 0)
#define cg_fault_hit(kind)      0
#define cg_fault_disarm()       ((const char *) NULL)

#endif

#endif
