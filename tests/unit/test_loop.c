/*
 * Unit tests for app/loop.c and app/fiber.c: fibers that wait through
 * lib/core/iowait on a socket pair are woken by the other's write, in
 * order; a wait's timeout fires on time and not before; a woken wait
 * returns 0; yield lets every other fiber run before coming back; ended
 * fibers' stacks are reused; deep stacks work; thousands of fibers wait
 * at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "loop.h"
#include "core/clock.h"
#include "core/iowait.h"

typedef struct {
    int   fd;
    int   rounds;
    int   got;
    char  log[64];
    int  *order;
    int   id;
} pp_t;

static int order_n;
static int order_log[64];


static void
pinger(void *arg)
{
    pp_t          *p = arg;
    struct pollfd  pfd;
    char           c;
    int            i;

    for (i = 0; i < p->rounds; i++) {
        if (p->id == 0 || i > 0) {
            c = (char) ('a' + i);
            assert_int_equal(write(p->fd, &c, 1), 1);
        }
        pfd = (struct pollfd) { p->fd, POLLIN, 0 };
        if (p->id == 0 && i == p->rounds - 1) {
            break;
        }
        assert_int_equal(cg_iowait_poll(&pfd, 1, 5000), 1);
        assert_true(pfd.revents & POLLIN);
        assert_int_equal(read(p->fd, &c, 1), 1);
        order_log[order_n++ % 64] = p->id;
        p->got++;
    }
}


static void
test_pingpong(void **state)
{
    cg_loop_t *l = cg_loop_new(64 * 1024);
    int        sv[2];
    pp_t       a = { 0 }, b = { 0 };
    int        spins = 0;

    (void) state;
    assert_non_null(l);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a.fd = sv[0]; a.rounds = 10; a.id = 0;
    b.fd = sv[1]; b.rounds = 10; b.id = 1;
    assert_non_null(cg_loop_spawn(l, pinger, &a));
    assert_non_null(cg_loop_spawn(l, pinger, &b));
    while (cg_loop_tasks(l) > 0 && spins++ < 1000) {
        cg_loop_run_once(l, 1000);
    }
    assert_int_equal(cg_loop_tasks(l), 0);
    assert_int_equal(a.got, 9);
    assert_int_equal(b.got, 10);
    close(sv[0]);
    close(sv[1]);
    cg_loop_free(l);
}


typedef struct {
    int     ms;
    int     rc;
    double  took;
} sleeper_t;


static void
sleeper(void *arg)
{
    sleeper_t     *s = arg;
    int            sv[2];
    struct pollfd  pfd;
    double         t0 = cg_clock_mono();

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pfd = (struct pollfd) { sv[0], POLLIN, 0 };
    s->rc = cg_iowait_poll(&pfd, 1, s->ms);
    s->took = cg_clock_mono() - t0;
    close(sv[0]);
    close(sv[1]);
}


static void
test_timeout(void **state)
{
    cg_loop_t *l = cg_loop_new(64 * 1024);
    sleeper_t  s1 = { 120, -2, 0 }, s2 = { 30, -2, 0 };

    (void) state;
    cg_loop_spawn(l, sleeper, &s1);
    cg_loop_spawn(l, sleeper, &s2);
    while (cg_loop_tasks(l) > 0) {
        cg_loop_run_once(l, -1);
    }
    assert_int_equal(s1.rc, 0);
    assert_int_equal(s2.rc, 0);
    assert_true(s1.took >= 0.119);
    assert_true(s2.took >= 0.029);
    /* Both slept at once, not one after the other. */
    assert_true(s2.took < s1.took);
    cg_loop_free(l);
}


static cg_task_t *woken_task;
static int        woken_rc = -2;


static void
forever(void *arg)
{
    (void) arg;
    woken_rc = cg_iowait_poll(NULL, 0, -1);
}


static void
test_wake(void **state)
{
    cg_loop_t *l = cg_loop_new(64 * 1024);

    (void) state;
    woken_task = cg_loop_spawn(l, forever, NULL);
    cg_loop_run_once(l, 0);
    assert_int_equal(cg_loop_tasks(l), 1);
    cg_loop_run_once(l, 10);
    assert_int_equal(woken_rc, -2);
    cg_loop_wake(l, woken_task);
    cg_loop_run_once(l, 0);
    assert_int_equal(woken_rc, 0);
    assert_int_equal(cg_loop_tasks(l), 0);
    cg_loop_free(l);
}


static void
yielder(void *arg)
{
    int id = (int) (intptr_t) arg, i;

    for (i = 0; i < 3; i++) {
        order_log[order_n++ % 64] = id;
        cg_iowait_yield();
    }
}


static void
test_yield_round_robin(void **state)
{
    cg_loop_t *l = cg_loop_new(64 * 1024);
    int        i;

    (void) state;
    order_n = 0;
    for (i = 0; i < 3; i++) {
        cg_loop_spawn(l, yielder, (void *) (intptr_t) i);
    }
    while (cg_loop_tasks(l) > 0) {
        cg_loop_run_once(l, 0);
    }
    assert_int_equal(order_n, 9);
    for (i = 0; i < 9; i++) {
        assert_int_equal(order_log[i], i % 3);
    }
    cg_loop_free(l);
}


static int
deep(int n)
{
    volatile char pad[1024];

    pad[0] = (char) n;
    return n == 0 ? 0 : deep(n - 1) + pad[0] - (char) n + 1;
}


static void
deep_fiber(void *arg)
{
    *(int *) arg = deep(100);   /* ~100 KiB of a 256 KiB stack */
}


static void
test_deep_stack_and_reuse(void **state)
{
    cg_loop_t *l = cg_loop_new(256 * 1024);
    int        r, i;

    (void) state;
    for (i = 0; i < 200; i++) {
        r = -1;
        cg_loop_spawn(l, deep_fiber, &r);
        cg_loop_run_once(l, 0);
        assert_int_equal(r, 100);
    }
    assert_int_equal(cg_loop_tasks(l), 0);
    cg_loop_free(l);
}


static int many_done;


static void
many(void *arg)
{
    (void) arg;
    cg_iowait_sleep_ms(20);
    many_done++;
}


static void
test_many(void **state)
{
    cg_loop_t *l = cg_loop_new(64 * 1024);
    int        i;

    (void) state;
    many_done = 0;
    for (i = 0; i < 3000; i++) {
        assert_non_null(cg_loop_spawn(l, many, NULL));
    }
    while (cg_loop_tasks(l) > 0) {
        cg_loop_run_once(l, -1);
    }
    assert_int_equal(many_done, 3000);
    cg_loop_free(l);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pingpong),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_wake),
        cmocka_unit_test(test_yield_round_robin),
        cmocka_unit_test(test_deep_stack_and_reuse),
        cmocka_unit_test(test_many),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
