/* Compiled to nothing unless -DCG_FAULT_INJECTION: see fault.h. */
#define CG_FAULT_IMPL
#include "core/fault.h"

#ifdef CG_FAULT_INJECTION

/* The build force-includes fault.h before CG_FAULT_IMPL was defined: the
 * wrappers below must reach the real allocator. */
#undef malloc
#undef calloc
#undef realloc
#undef strdup

#include <stdio.h>

static const char *const cg_fault_names[CG_FAULT_KINDS] = {
    "alloc", "store", "upstream"
};

/* One request thread's fault: fail event number `at` of `kind`. */
static _Thread_local struct {
    int            armed;
    int            kind;
    unsigned long  at;
    unsigned long  seen;
    char           fired[40];
} cg_fault;


void
cg_fault_arm(const char *spec)
{
    char          *end;
    size_t         n;
    unsigned long  at;
    int            k;

    memset(&cg_fault, 0, sizeof(cg_fault));
    if (spec == NULL || spec[0] == '\0') {
        spec = getenv("CHATGATE_FAULT");
    }
    if (spec == NULL) {
        return;
    }
    for (k = 0; k < CG_FAULT_KINDS; k++) {
        n = strlen(cg_fault_names[k]);
        if (strncmp(spec, cg_fault_names[k], n) == 0 && spec[n] == ':') {
            at = strtoul(spec + n + 1, &end, 10);
            if (at > 0 && *end == '\0') {
                cg_fault.armed = 1;
                cg_fault.kind = k;
                cg_fault.at = at;
            }
            return;
        }
    }
}


int
cg_fault_hit(cg_fault_kind_t kind)
{
    if (!cg_fault.armed || (int) kind != cg_fault.kind
        || ++cg_fault.seen != cg_fault.at)
    {
        return 0;
    }
    snprintf(cg_fault.fired, sizeof(cg_fault.fired), "%s:%lu",
             cg_fault_names[kind], cg_fault.at);
    return 1;
}


const char *
cg_fault_disarm(void)
{
    cg_fault.armed = 0;
    return cg_fault.fired[0] ? cg_fault.fired : NULL;
}


void *
cg_fault_malloc(size_t n)
{
    return cg_fault_hit(CG_FAULT_ALLOC) ? NULL : malloc(n);
}


void *
cg_fault_calloc(size_t n, size_t size)
{
    return cg_fault_hit(CG_FAULT_ALLOC) ? NULL : calloc(n, size);
}


void *
cg_fault_realloc(void *p, size_t n)
{
    return cg_fault_hit(CG_FAULT_ALLOC) ? NULL : realloc(p, n);
}


char *
cg_fault_strdup(const char *s)
{
    return cg_fault_hit(CG_FAULT_ALLOC) ? NULL : strdup(s);
}

#endif
