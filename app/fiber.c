#include "fiber.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CG_FIBER_ASAN 1
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CG_FIBER_VALGRIND 1
#endif
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

struct cg_fiber_s {
    void         *sp;           /* saved stack pointer while switched out */
    void         *back;         /* the resumer's, while running */
    char         *map;          /* mapping: guard page, then the stack */
    size_t        map_len;
    char         *stack;        /* lowest usable byte */
    size_t        size;
    cg_fiber_fn   fn;
    void         *arg;
    int           done;
    unsigned      vg_id;
    void         *asan_fake;
#if !defined(__x86_64__)
    ucontext_t    uc, uc_back;
#endif
};

static __thread cg_fiber_t *cg_fiber_cur;
#ifdef CG_FIBER_ASAN
static __thread const void *cg_fiber_main_bottom;
static __thread size_t      cg_fiber_main_size;
#endif


#if defined(__x86_64__)
/* cg_fiber_swap(save, load): pushes the callee-saved registers and the
 * control words on the current stack, stores the stack pointer in *save,
 * takes load as the stack pointer and pops the same from there. */
void cg_fiber_swap(void **save, void *load);
__asm__(
    ".text\n"
    ".globl cg_fiber_swap\n"
    ".hidden cg_fiber_swap\n"
    ".type cg_fiber_swap,@function\n"
    "cg_fiber_swap:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $8, %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size cg_fiber_swap, .-cg_fiber_swap\n");
#endif


cg_fiber_t *
cg_fiber_current(void)
{
    return cg_fiber_cur;
}


cg_fiber_t *
cg_fiber_new(size_t stack_size)
{
    size_t      page = (size_t) sysconf(_SC_PAGESIZE);
    cg_fiber_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return NULL;
    }
    f->size = (stack_size + page - 1) / page * page;
    f->map_len = f->size + page;
    f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                  -1, 0);
    if (f->map == MAP_FAILED) {
        free(f);
        return NULL;
    }
    /* The lowest page faults: a stack overflow stops here. */
    (void) mprotect(f->map, page, PROT_NONE);
    f->stack = f->map + page;
    f->done = 1;
#ifdef CG_FIBER_VALGRIND
    f->vg_id = VALGRIND_STACK_REGISTER(f->stack, f->stack + f->size);
#endif
    return f;
}


void
cg_fiber_free(cg_fiber_t *f)
{
    if (f == NULL) {
        return;
    }
#ifdef CG_FIBER_VALGRIND
    VALGRIND_STACK_DEREGISTER(f->vg_id);
#endif
    munmap(f->map, f->map_len);
    free(f);
}


static void
cg_fiber_asan_enter(void **fake, const void *bottom, size_t size)
{
#ifdef CG_FIBER_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void) fake; (void) bottom; (void) size;
#endif
}


static void
cg_fiber_asan_entered(void *fake, int from_main)
{
#ifdef CG_FIBER_ASAN
    if (from_main) {
        __sanitizer_finish_switch_fiber(fake, &cg_fiber_main_bottom,
                                        &cg_fiber_main_size);
    } else {
        __sanitizer_finish_switch_fiber(fake, NULL, NULL);
    }
#else
    (void) fake; (void) from_main;
#endif
}


static void
cg_fiber_asan_to_main(void **fake)
{
#ifdef CG_FIBER_ASAN
    __sanitizer_start_switch_fiber(fake, cg_fiber_main_bottom,
                                   cg_fiber_main_size);
#else
    (void) fake;
#endif
}


/* A new fiber's first code: runs fn, then goes back for good. */
static void
cg_fiber_entry(void)
{
    cg_fiber_t *f = cg_fiber_cur;

    cg_fiber_asan_entered(NULL, 1);
    f->fn(f->arg);
    f->done = 1;
    cg_fiber_asan_to_main(NULL);
#if defined(__x86_64__)
    cg_fiber_swap(&f->sp, f->back);
#else
    setcontext(&f->uc_back);
#endif
    abort();    /* never resumed after it ended */
}


void
cg_fiber_start(cg_fiber_t *f, cg_fiber_fn fn, void *arg)
{
    f->fn = fn;
    f->arg = arg;
    f->done = 0;
#if defined(__x86_64__)
    {
        uintptr_t  top = ((uintptr_t) (f->stack + f->size)) & ~(uintptr_t) 15;
        uint64_t  *sp = (uint64_t *) top;
        uint32_t   csr[2] = { 0, 0 };

        /* What cg_fiber_swap pops: the control words, six registers, and
         * the entry as the return address; above it a zero so that the
         * entry starts with the alignment of a called function. */
        __asm__ volatile("stmxcsr %0" : "=m"(csr[0]));
        __asm__ volatile("fnstcw %0" : "=m"(csr[1]));
        *--sp = 0;
        *--sp = (uint64_t) (uintptr_t) cg_fiber_entry;
        sp -= 6;
        memset(sp, 0, 6 * sizeof(*sp));
        --sp;
        memcpy(sp, csr, sizeof(csr));
        f->sp = sp;
    }
#else
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = f->size;
    f->uc.uc_link = NULL;
    makecontext(&f->uc, cg_fiber_entry, 0);
#endif
}


int
cg_fiber_resume(cg_fiber_t *f)
{
    void *fake = NULL;

    cg_fiber_cur = f;
    cg_fiber_asan_enter(&fake, f->stack, f->size);
#if defined(__x86_64__)
    cg_fiber_swap(&f->back, f->sp);
#else
    swapcontext(&f->uc_back, &f->uc);
#endif
    cg_fiber_asan_entered(fake, 0);
    cg_fiber_cur = NULL;
    return f->done;
}


void
cg_fiber_yield(void)
{
    cg_fiber_t *f = cg_fiber_cur;

    cg_fiber_asan_to_main(&f->asan_fake);
#if defined(__x86_64__)
    cg_fiber_swap(&f->sp, f->back);
#else
    swapcontext(&f->uc, &f->uc_back);
#endif
    cg_fiber_asan_entered(f->asan_fake, 1);
}
