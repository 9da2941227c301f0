/* The SSE parser: every split point of sample streams gives the same
 * events as one whole feed; CRLF, CR, multi-line data, comments, [DONE]. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "provider/sse.h"
#include "core/num.h"

#include <stdlib.h>

typedef struct {
    cg_buf_t out;       /* "event|data\n" per event */
    int      stop_at;   /* stop after this many events (0: never) */
    int      n;
} rec_t;


static int
rec_event(void *ctx, const char *event, const char *data, size_t len)
{
    rec_t *r = ctx;

    cg_buf_adds(&r->out, event);
    cg_buf_addc(&r->out, '|');
    cg_buf_add(&r->out, data, len);
    cg_buf_addc(&r->out, '\n');
    return ++r->n == r->stop_at ? -1 : 0;
}


static void
parse_split(const char *in, size_t len, size_t a, size_t b, cg_buf_t *out)
{
    cg_sse_t p;
    rec_t    r;

    memset(&r, 0, sizeof(r));
    cg_sse_init(&p, rec_event, &r);
    assert_int_equal(cg_sse_feed(&p, in, a), 0);
    assert_int_equal(cg_sse_feed(&p, in + a, b - a), 0);
    assert_int_equal(cg_sse_feed(&p, in + b, len - b), 0);
    cg_sse_free(&p);
    cg_buf_reset(out);
    cg_buf_add(out, r.out.data ? r.out.data : "", r.out.len);
    cg_buf_free(&r.out);
}


static void
check_all_splits(const char *in, const char *want)
{
    cg_buf_t got;
    size_t   len = strlen(in), a, b;

    cg_buf_init(&got);
    for (a = 0; a <= len; a++) {
        for (b = a; b <= len; b++) {
            parse_split(in, len, a, b, &got);
            if (got.len != strlen(want)
                || memcmp(got.data, want, got.len) != 0) {
                print_error("split at %zu,%zu gave:\n%s\n", a, b, got.data);
                fail();
            }
        }
    }
    cg_buf_free(&got);
}


static void
test_anthropic_crlf(void **state)
{
    (void) state;
    check_all_splits(
        "event: message_start\r\ndata: {\"a\":1}\r\n\r\n"
        ": comment\r\n"
        "event: ping\r\ndata: {}\r\n\r\n"
        "event: content_block_delta\r\ndata: {\"t\":\"h\\u00e9\"}\r\n\r\n",
        "message_start|{\"a\":1}\nping|{}\n"
        "content_block_delta|{\"t\":\"h\\u00e9\"}\n");
}


static void
test_openai_lf_done(void **state)
{
    (void) state;
    check_all_splits(
        "data: {\"x\":\"a\"}\n\n: OPENROUTER PROCESSING\n\n"
        "data: {\"x\":\"b\"}\n\ndata: [DONE]\n\n",
        "message|{\"x\":\"a\"}\nmessage|{\"x\":\"b\"}\nmessage|[DONE]\n");
}


static void
test_cr_multiline(void **state)
{
    (void) state;
    check_all_splits(
        "event:e1\rdata:line1\rdata: line2\rdata\r\r"
        "event: lost\r\n\r\ndata:x\n\n",
        "e1|line1\nline2\n\nmessage|x\n");
}


static void
test_incomplete_not_dispatched(void **state)
{
    (void) state;
    check_all_splits("data: whole\n\ndata: partial\n", "message|whole\n");
}


static void
test_callback_stop(void **state)
{
    cg_sse_t p;
    rec_t    r;
    const char *in = "data: a\n\ndata: b\n\ndata: c\n\n";

    (void) state;
    memset(&r, 0, sizeof(r));
    r.stop_at = 2;
    cg_sse_init(&p, rec_event, &r);
    assert_int_equal(cg_sse_feed(&p, in, strlen(in)), -1);
    assert_int_equal(r.n, 2);
    assert_int_equal(cg_sse_feed(&p, "data: d\n\n", 9), -1);
    cg_sse_free(&p);
    cg_buf_free(&r.out);
}


/* Issue 18: one event of many data: lines (each under the line cap) once
 * grew a worker by 153 MB. The event is capped; so is the whole stream;
 * and a reset gives back what the buffers grew to. */
static void
test_event_cap(void **state)
{
    static char line[1024];
    cg_sse_t    p;
    rec_t       r;
    size_t      i, fed = 0;
    int         rc = 0;

    (void) state;
    memset(line, 'x', sizeof(line));
    memcpy(line, "data: ", 6);
    line[sizeof(line) - 1] = '\n';
    memset(&r, 0, sizeof(r));
    cg_sse_init(&p, rec_event, &r);
    assert_int_equal(cg_sse_feed(&p, "event: ping\n", 12), 0);
    for (i = 0; i < 4 * CG_SSE_MAX_EVENT / sizeof(line) && rc == 0; i++) {
        rc = cg_sse_feed(&p, line, sizeof(line));
        fed += sizeof(line);
    }
    assert_int_equal(rc, -1);
    assert_true(fed < CG_SSE_MAX_EVENT + CG_SSE_MAX_EVENT / 64);
    assert_true(p.data.cap <= 2 * CG_SSE_MAX_EVENT);
    assert_int_equal(r.n, 0);
    assert_int_equal(cg_sse_feed(&p, "\n", 1), -1);     /* stays failed */
    cg_sse_reset(&p);
    assert_true(p.data.cap <= CG_SSE_KEEP);
    assert_true(p.line.cap <= CG_SSE_KEEP);
    /* Just under the cap, an event still passes whole. */
    for (i = 0; i < CG_SSE_MAX_EVENT / sizeof(line) - 1; i++) {
        assert_int_equal(cg_sse_feed(&p, line, sizeof(line)), 0);
    }
    assert_int_equal(cg_sse_feed(&p, "\n", 1), 0);
    assert_int_equal(r.n, 1);
    cg_sse_free(&p);
    cg_buf_free(&r.out);
}


static void
test_stream_cap(void **state)
{
    static const char ev[] = "event: content_block_delta\ndata: {}\n\n";
    char     *big = malloc(1024 * 1024);
    cg_sse_t  p;
    rec_t     r;
    size_t    i, j, fed = 0;
    int       rc = 0;

    (void) state;
    assert_non_null(big);
    for (j = 0; j + sizeof(ev) - 1 <= 1024 * 1024; j += sizeof(ev) - 1) {
        memcpy(big + j, ev, sizeof(ev) - 1);
    }
    memset(&r, 0, sizeof(r));
    cg_sse_init(&p, rec_event, &r);
    for (i = 0; i < 2 * CG_SSE_MAX_STREAM / j && rc == 0; i++) {
        rc = cg_sse_feed(&p, big, j);
        fed += j;
        cg_buf_reset(&r.out);
    }
    assert_int_equal(rc, -1);
    assert_true(fed > CG_SSE_MAX_STREAM && fed <= CG_SSE_MAX_STREAM + j);
    cg_sse_reset(&p);       /* a new stream starts from zero */
    assert_int_equal(cg_sse_feed(&p, ev, sizeof(ev) - 1), 0);
    cg_sse_free(&p);
    cg_buf_free(&r.out);
    free(big);
}


/* Header-derived numbers saturate instead of overflowing (a provider's
 * Retry-After: 99999999999999999999 aborted a SAN build). */
static void
test_num_parse(void **state)
{
    static const char *const bad[] = {
        "", " ", "-1", "+1", "1.5", "1e3", "Wed, 21 Oct 2026 07:28:00 GMT",
        "12 34", "0x10",
    };
    size_t i;

    (void) state;
    assert_int_equal(cg_num_parse("120", 3, 86400), 120);
    assert_int_equal(cg_num_parse(" 7\r\n", 4, 86400), 7);
    assert_int_equal(cg_num_parse("99999999999999999999", 20, 86400), 86400);
    assert_int_equal(cg_num_parse("9223372036854775808", 19, 86400), 86400);
    assert_int_equal(cg_num_parse("86401", 5, 86400), 86400);
    assert_int_equal(cg_num_parse("99999999999999999999999999999999999999"
                                  "9999999999", 48, 0x7fffffffffffffffL),
                     0x7fffffffffffffffL);
    assert_int_equal(cg_num_parse("0", 1, 0), 0);
    assert_int_equal(cg_num_parse("123", 2, 1000), 12);     /* n bounds it */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cg_num_parse(bad[i], strlen(bad[i]), 86400), -1);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_crlf),
        cmocka_unit_test(test_openai_lf_done),
        cmocka_unit_test(test_cr_multiline),
        cmocka_unit_test(test_incomplete_not_dispatched),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_event_cap),
        cmocka_unit_test(test_stream_cap),
        cmocka_unit_test(test_num_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
