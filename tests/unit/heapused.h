/* Bytes of heap in use (malloc'd and mmap'd chunks), for the tests that
 * hold a structure to its memory cost. 0 under a sanitizer or valgrind,
 * whose allocators keep their own books: such a check then holds
 * trivially there and is made by the plain build. */
#ifndef CG_TEST_HEAPUSED_H
#define CG_TEST_HEAPUSED_H

#include <malloc.h>

static inline size_t
heap_used(void)
{
    struct mallinfo2 m = mallinfo2();

    return m.uordblks + m.hblkhd;
}

#endif
