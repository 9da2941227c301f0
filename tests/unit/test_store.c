/*
 * The memcached store's own cost (lib/store/store.c): every request
 * context has one, and a worker holds thousands of contexts for 10,000
 * streams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "heapused.h"
#include "store/store.h"

/* With one server libmemcached is never asked which server holds a key,
 * so its client (28 kB of buffers) is not kept: a store costs its pipe.
 * With two it is kept, to choose. */
static void
test_one_server_small(void **state)
{
    char        err[200];
    size_t      h0 = heap_used(), one;
    cg_store_t *st = cg_store_new("127.0.0.1:1", 100, err, sizeof(err));
    cg_store_t *two;

    (void) state;
    assert_non_null(st);
    one = heap_used() - h0;
    assert_true(one < 4096);
    two = cg_store_new("127.0.0.1:1,127.0.0.1:2", 100, err, sizeof(err));
    assert_non_null(two);
    cg_store_free(two);
    cg_store_free(st);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_server_small),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
