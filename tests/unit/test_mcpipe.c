/*
 * Unit tests for lib/store/mcpipe.c: a batch goes out in one send and its
 * answers are matched in order. The memcached here is a forked fake on a
 * unix socket that answers the binary protocol and exits with the number
 * of reads it took to receive the whole batch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/mcpipe.h"

static char sock_path[64];


static void
put_be(unsigned char *at, uint64_t v, int bytes)
{
    while (bytes-- > 0) {
        at[bytes] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}


static uint64_t
get_be(const unsigned char *at, int bytes)
{
    uint64_t v = 0;

    while (bytes-- > 0) {
        v = v << 8 | *at++;
    }
    return v;
}


/* Answers one request: incr -> delta + 100, decr -> NOT_FOUND, get of
 * "missing" -> NOT_FOUND, other gets -> "42". */
static size_t
answer(const unsigned char *q, unsigned char *a)
{
    size_t ext = q[4], klen = (size_t) get_be(q + 2, 2), body = 0;

    memset(a, 0, 24);
    a[0] = 0x81;
    a[1] = q[1];
    memcpy(a + 12, q + 12, 4);
    if (q[1] == 0x05) {
        put_be(a + 24, get_be(q + 24, 8) + 100, 8);
        body = 8;
    } else if (q[1] == 0x06
               || (klen == 7 && memcmp(q + 24 + ext, "missing", 7) == 0)) {
        put_be(a + 6, 1, 2);
    } else {
        a[4] = 4;
        memset(a + 24, 0, 4);
        memcpy(a + 28, "42", 2);
        body = 6;
    }
    put_be(a + 8, body, 4);
    return 24 + body;
}


/* The fake server: reads until it has `want` requests, answers all, and
 * exits with the number of reads that took. */
static void
fake_memcached(int lfd, int want)
{
    unsigned char in[8192], out[8192];
    size_t        have = 0, off = 0, olen = 0;
    int           fd = accept(lfd, NULL, NULL), reads = 0, got = 0;
    ssize_t       r;

    while (got < want) {
        r = read(fd, in + have, sizeof(in) - have);
        if (r <= 0) {
            _exit(100);
        }
        reads++;
        have += (size_t) r;
        while (have - off >= 24
               && have - off >= 24 + get_be(in + off + 8, 4)) {
            olen += answer(in + off, out + olen);
            off += 24 + (size_t) get_be(in + off + 8, 4);
            got++;
        }
    }
    if (write(fd, out, olen) != (ssize_t) olen) {
        _exit(101);
    }
    _exit(reads);
}


static pid_t
start_fake(int want)
{
    struct sockaddr_un un;
    int                lfd;
    pid_t              pid;

    snprintf(sock_path, sizeof(sock_path), "/tmp/cg-mcpipe-%d.sock",
             (int) getpid());
    unlink(sock_path);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, sock_path, strlen(sock_path));
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *) &un, sizeof(un)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fake_memcached(lfd, want);
    }
    close(lfd);
    return pid;
}


static int
fake_reads(pid_t pid)
{
    int status = 0;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    unlink(sock_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


static void
test_batch_one_send(void **state)
{
    cg_store_op_t ops[] = {
        { CG_STORE_INCR, "cg:h:u:bob:1", 12, 7, 60, 0, 0 },
        { CG_STORE_INCR, "cg:h:g:*:1", 10, 7, 60, 0, 0 },
        { CG_STORE_GET, "cg:$:u:bob:d", 12, 0, 0, 0, 0 },
        { CG_STORE_GET, "missing", 7, 0, 0, 9, 0 },
        { CG_STORE_DECR, "cg:h:u:bob:0", 12, 7, 0, 9, 0 },
    };
    cg_mcpipe_t   p;
    pid_t         pid = start_fake(5);

    (void) state;
    cg_mcpipe_init(&p, sock_path, 0, 2000);
    assert_int_equal(cg_mcpipe_run(&p, ops, 5), 0);
    assert_int_equal(ops[0].value, 107);
    assert_int_equal(ops[1].value, 107);
    assert_int_equal(ops[2].value, 42);
    assert_int_equal(ops[3].value, 0);      /* missing reads as 0 */
    assert_int_equal(ops[4].value, 0);      /* decr of a missing key: 0 */
    assert_true(ops[0].done && ops[4].done);
    /* One send: the server had the whole batch in its first read. */
    assert_int_equal(fake_reads(pid), 1);
    cg_mcpipe_close(&p);
}


static void
test_batch_server_gone(void **state)
{
    cg_store_op_t ops[] = { { CG_STORE_INCR, "k", 1, 1, 60, 0, 0 } };
    cg_mcpipe_t   p;

    (void) state;
    cg_mcpipe_init(&p, "/tmp/cg-mcpipe-nobody-listens.sock", 0, 200);
    assert_int_equal(cg_mcpipe_run(&p, ops, 1), -1);
    assert_int_equal(p.err, CG_MCPIPE_CONNECT);
    assert_false(ops[0].done);
    assert_int_equal(p.fd, -1);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_one_send),
        cmocka_unit_test(test_batch_server_gone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
