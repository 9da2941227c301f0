/*
 * Unit tests for app/fcgi.c, the non-blocking FastCGI record layer: a
 * request as nginx sends it, fed whole and one byte at a time; long
 * name-value lengths and pairs spanning records; management records;
 * every protocol error that must close the connection; and the records
 * it writes for an answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fastcgi.h>
#include <string.h>
#include "fcgi.h"
#include "fcgi_events.h"


static void
rec(cg_buf_t *b, int type, unsigned id, const void *p, size_t n, size_t pad)
{
    unsigned char h[8] = { 1, (unsigned char) type, (unsigned char) (id >> 8),
                           (unsigned char) id, (unsigned char) (n >> 8),
                           (unsigned char) n, (unsigned char) pad, 0 };
    static const char zeros[256];

    cg_buf_add(b, h, 8);
    cg_buf_add(b, p, n);
    cg_buf_add(b, zeros, pad);
}


static void
begin(cg_buf_t *b, unsigned id, int role, int flags)
{
    unsigned char body[8] = { (unsigned char) (role >> 8),
                              (unsigned char) role, (unsigned char) flags };

    rec(b, FCGI_BEGIN_REQUEST, id, body, 8, 0);
}


/* name=value with the value given a 4-byte length when long. */
static void
pair(cg_buf_t *b, const char *n, const char *v)
{
    size_t vl = strlen(v);

    cg_buf_addc(b, (char) strlen(n));
    if (vl > 127) {
        cg_buf_addc(b, (char) (0x80 | (vl >> 24)));
        cg_buf_addc(b, (char) (vl >> 16));
        cg_buf_addc(b, (char) (vl >> 8));
        cg_buf_addc(b, (char) vl);
    } else {
        cg_buf_addc(b, (char) vl);
    }
    cg_buf_adds(b, n);
    cg_buf_adds(b, v);
}


static int
feed(const cg_buf_t *in, size_t step, cg_buf_t *log, cg_buf_t *out,
     const char **error)
{
    return ev_feed(in->data, in->len, step, 0, log, out, error);
}


static void
nginx_request(cg_buf_t *in)
{
    cg_buf_t params;
    char     cookie[300];

    memset(cookie, 'c', sizeof(cookie) - 1);
    cookie[sizeof(cookie) - 1] = '\0';
    cg_buf_init(&params);
    pair(&params, "REQUEST_METHOD", "POST");
    pair(&params, "HTTP_COOKIE", cookie);
    pair(&params, "CONTENT_LENGTH", "5");
    begin(in, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    /* The pairs are cut across two records, padding on the first. */
    rec(in, FCGI_PARAMS, 1, params.data, 20, 4);
    rec(in, FCGI_PARAMS, 1, params.data + 20, params.len - 20, 0);
    rec(in, FCGI_PARAMS, 1, NULL, 0, 0);
    rec(in, FCGI_STDIN, 1, "hel", 3, 5);
    rec(in, FCGI_STDIN, 1, "lo", 2, 0);
    rec(in, FCGI_STDIN, 1, NULL, 0, 0);
    cg_buf_free(&params);
}


static void
test_request_any_split(void **state)
{
    cg_buf_t    in, whole, out;
    size_t      step;
    const char *err;

    (void) state;
    cg_buf_init(&in);
    cg_buf_init(&whole);
    cg_buf_init(&out);
    nginx_request(&in);
    assert_int_equal(feed(&in, 0, &whole, &out, &err), 0);
    assert_null(err);
    assert_non_null(strstr(whole.data, "B1k;PREQUEST_METHOD=POST;"));
    assert_non_null(strstr(whole.data, "PCONTENT_LENGTH=5;p;hello|S;"));
    assert_int_equal(out.len, 0);
    for (step = 1; step <= 17; step++) {
        cg_buf_t log;

        cg_buf_init(&log);
        assert_int_equal(feed(&in, step, &log, &out, NULL), 0);
        assert_int_equal(log.len, whole.len);
        assert_memory_equal(log.data, whole.data, log.len);
        cg_buf_free(&log);
    }
    cg_buf_free(&in);
    cg_buf_free(&whole);
    cg_buf_free(&out);
}


static void
test_management(void **state)
{
    cg_buf_t in, log, out, q;

    (void) state;
    cg_buf_init(&in); cg_buf_init(&log); cg_buf_init(&out); cg_buf_init(&q);
    pair(&q, FCGI_MPXS_CONNS, "");
    pair(&q, FCGI_MAX_CONNS, "");
    pair(&q, "SOMETHING_ELSE", "");
    rec(&in, FCGI_GET_VALUES, 0, q.data, q.len, 0);
    rec(&in, 42, 0, NULL, 0, 0);
    assert_int_equal(feed(&in, 3, &log, &out, NULL), 0);
    /* GET_VALUES_RESULT, id 0, with the two known variables only. */
    assert_int_equal((unsigned char) out.data[1], FCGI_GET_VALUES_RESULT);
    assert_non_null(memmem(out.data, out.len, "\x0f\x01" FCGI_MPXS_CONNS "0",
                           2 + 15 + 1));
    assert_non_null(memmem(out.data, out.len, FCGI_MAX_CONNS "64", 16));
    assert_null(memmem(out.data, out.len, "SOMETHING", 9));
    /* Then UNKNOWN_TYPE naming type 42. */
    assert_non_null(memmem(out.data, out.len,
                           "\x01\x0b\x00\x00\x00\x08\x00\x00\x2a", 9));
    cg_buf_free(&in); cg_buf_free(&log); cg_buf_free(&out); cg_buf_free(&q);
}


static const char *
error_of(void (*build)(cg_buf_t *))
{
    cg_buf_t    in, log, out;
    const char *err = NULL;

    cg_buf_init(&in); cg_buf_init(&log); cg_buf_init(&out);
    build(&in);
    assert_int_equal(feed(&in, 0, &log, &out, &err), -1);
    cg_buf_free(&in); cg_buf_free(&log); cg_buf_free(&out);
    return err;
}

static void bad_version(cg_buf_t *b)
{
    begin(b, 1, FCGI_RESPONDER, 0);
    b->data[0] = 2;
}
static void two_begins(cg_buf_t *b)
{
    begin(b, 1, FCGI_RESPONDER, 0);
    begin(b, 2, FCGI_RESPONDER, 0);
}
static void other_id(cg_buf_t *b)
{
    begin(b, 1, FCGI_RESPONDER, 0);
    rec(b, FCGI_PARAMS, 7, "\x01\x01" "ab", 4, 0);
}
static void stdin_early(cg_buf_t *b)
{
    begin(b, 1, FCGI_RESPONDER, 0);
    rec(b, FCGI_STDIN, 1, "x", 1, 0);
}
static void cut_pair(cg_buf_t *b)
{
    begin(b, 1, FCGI_RESPONDER, 0);
    /* nameLen 0xffffffff: far past the stream's end. */
    rec(b, FCGI_PARAMS, 1, "\xff\xff\xff\xff\x01" "a", 6, 0);
    rec(b, FCGI_PARAMS, 1, NULL, 0, 0);
}
static void huge_params(cg_buf_t *b)
{
    static char big[0xffff];
    int         i;

    begin(b, 1, FCGI_RESPONDER, 0);
    for (i = 0; i < 3; i++) {
        rec(b, FCGI_PARAMS, 1, big, sizeof(big), 0);
    }
}
static void short_begin(cg_buf_t *b)
{
    rec(b, FCGI_BEGIN_REQUEST, 1, "\x00\x01", 2, 0);
}
static void stdout_in(cg_buf_t *b)
{
    begin(b, 1, FCGI_RESPONDER, 0);
    rec(b, FCGI_STDOUT, 1, "x", 1, 0);
}


static void
test_protocol_errors(void **state)
{
    (void) state;
    assert_string_equal(error_of(bad_version), "FastCGI version is not 1");
    assert_string_equal(error_of(two_begins),
                        "FCGI_BEGIN_REQUEST while a request is open");
    assert_string_equal(error_of(other_id),
                        "record for a request that is not open");
    assert_string_equal(error_of(stdin_early),
                        "FCGI_STDIN before the parameters");
    assert_string_equal(error_of(cut_pair), "malformed FCGI_PARAMS");
    assert_string_equal(error_of(huge_params), "FCGI_PARAMS too long");
    assert_string_equal(error_of(short_begin),
                        "FCGI_BEGIN_REQUEST of the wrong length");
    assert_string_equal(error_of(stdout_in), "unexpected FastCGI record type");
}


static void
test_roles_and_abort(void **state)
{
    cg_buf_t in, log, out;

    (void) state;
    cg_buf_init(&in); cg_buf_init(&log); cg_buf_init(&out);
    begin(&in, 3, FCGI_AUTHORIZER, 0);
    begin(&in, 4, FCGI_RESPONDER, 0);
    rec(&in, FCGI_ABORT_REQUEST, 4, NULL, 0, 0);
    assert_int_equal(feed(&in, 1, &log, &out, NULL), 0);
    /* An authorizer is refused with END_REQUEST, FCGI_UNKNOWN_ROLE. */
    assert_int_equal((unsigned char) out.data[1], FCGI_END_REQUEST);
    assert_int_equal((unsigned char) out.data[3], 3);
    assert_int_equal((unsigned char) out.data[8 + 4], FCGI_UNKNOWN_ROLE);
    assert_string_equal(log.data, "B4;A;");
    cg_buf_free(&in); cg_buf_free(&log); cg_buf_free(&out);
}


static void
test_answer_records(void **state)
{
    static char    body[70000];
    cg_fcgi_cb_t   cb;
    cg_fcgi_conn_t c;
    cg_buf_t       out, log;
    size_t         len1, len2, off;

    (void) state;
    memset(body, 'x', sizeof(body));
    memset(&cb, 0, sizeof(cb));
    cg_buf_init(&out);
    cg_buf_init(&log);
    ev_init(&cb, &log);
    cg_fcgi_init(&c, &cb);
    c.active = 9;
    cg_fcgi_stdout(&out, 9, body, sizeof(body));
    cg_fcgi_end(&c, &out, 0);
    len1 = ((unsigned char) out.data[4] << 8) | (unsigned char) out.data[5];
    assert_int_equal(len1, CG_FCGI_OUT_CHUNK);
    assert_int_equal((unsigned char) out.data[6], 0);
    off = 8 + len1;
    len2 = ((unsigned char) out.data[off + 4] << 8)
           | (unsigned char) out.data[off + 5];
    assert_int_equal(len1 + len2, sizeof(body));
    /* Padded to 8; then the empty STDOUT and END_REQUEST. */
    off += 8 + len2 + (unsigned char) out.data[off + 6];
    assert_int_equal(off % 8, 0);
    assert_int_equal((unsigned char) out.data[off + 1], FCGI_STDOUT);
    assert_int_equal((unsigned char) out.data[off + 5], 0);
    assert_int_equal((unsigned char) out.data[off + 8 + 1], FCGI_END_REQUEST);
    assert_int_equal(out.len, off + 8 + 16);
    assert_int_equal(c.active, 0);      /* ready for the next request */
    cg_fcgi_free(&c);
    cg_buf_free(&out);
    cg_buf_free(&log);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_any_split),
        cmocka_unit_test(test_management),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_roles_and_abort),
        cmocka_unit_test(test_answer_records),
    };

    return cmocka_run_group_tests_name("fcgi", tests, NULL, NULL);
}
