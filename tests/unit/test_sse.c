/* The SSE parser: every split point of sample streams gives the same
 * events as one whole feed; CRLF, CR, multi-line data, comments, [DONE]. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "provider/sse.h"

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


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_crlf),
        cmocka_unit_test(test_openai_lf_done),
        cmocka_unit_test(test_cr_multiline),
        cmocka_unit_test(test_incomplete_not_dispatched),
        cmocka_unit_test(test_callback_stop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
