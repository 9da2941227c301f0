/*
 * Unit tests for lib/who/auth.c: the client address behind trusted
 * proxies (X-Forwarded-For walked from the right, garbage refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/req.h"
#include "who/auth.h"

static cg_conf_t conf;


static int
setup(void **state)
{
    char err[256];

    (void) state;
    if (cg_conf_init(&conf, err, sizeof(err)) != 0) {
        return -1;
    }
    free(conf.http.trusted_proxies);
    conf.http.trusted_proxies = strdup("127.0.0.1, ::1, 10.0.0.2");
    return conf.http.trusted_proxies ? 0 : -1;
}


static int
teardown(void **state)
{
    (void) state;
    cg_conf_free(&conf);
    return 0;
}


static void
client(const char *remote, const char *xff, const char *want)
{
    cg_req_t r;
    char     out[64];

    memset(&r, 0, sizeof(r));
    r.remote_addr = remote;
    r.forwarded_for = xff;
    cg_auth_client_addr(&conf, &r, out, sizeof(out));
    assert_string_equal(out, want);
}


static void
test_client_addr(void **state)
{
    (void) state;
    client("192.0.2.1", NULL, "192.0.2.1");
    /* An untrusted peer's X-Forwarded-For is ignored. */
    client("192.0.2.1", "198.51.100.9", "192.0.2.1");
    client("127.0.0.1", "198.51.100.9", "198.51.100.9");
    /* Right-most untrusted hop: the left part is the client's to forge. */
    client("127.0.0.1", "1.2.3.4, 198.51.100.9, 10.0.0.2", "198.51.100.9");
    client("::1", "2001:db8::7", "2001:db8::7");
    /* Everything trusted: the left-most. */
    client("127.0.0.1", "10.0.0.2", "10.0.0.2");
    /* Garbage never reaches a memcached key. */
    client("127.0.0.1", "evil key\r\n", "invalid");
    client(NULL, NULL, "invalid");
}


/* A client that forges more hops than any fixed window read from the left
 * must not choose its own address: the walk starts at the right. */
static void
test_client_addr_many_hops(void **state)
{
    char xff[2048];
    int  i, n = 0;

    (void) state;
    for (i = 0; i < 40; i++) {
        n += snprintf(xff + n, sizeof(xff) - (size_t) n, "10.9.9.%d, ", i);
    }
    snprintf(xff + n, sizeof(xff) - (size_t) n, "198.51.100.77, 10.0.0.2");
    client("127.0.0.1", xff, "198.51.100.77");
    client("127.0.0.1", "1.2.3.4,,198.51.100.9", "198.51.100.9");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_addr),
        cmocka_unit_test(test_client_addr_many_hops),
    };

    return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
