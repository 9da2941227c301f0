/* Provider modules: stream events to text and usage (Anthropic's
 * cumulative message_delta replaces, never adds), OpenAI [DONE] and usage
 * chunk, error events keep only the type, quota errors, user id. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "provider/provider.h"
#include "who/signed.h"

#include <stdio.h>


static int
feed(const cg_provider_t *p, cg_pstream_t *ps, const char *ev,
     const char *data, cg_buf_t *text)
{
    return p->event(ps, ev, data, strlen(data), text);
}


static void
test_anthropic_stream(void **state)
{
    const cg_provider_t *p = &cg_provider_anthropic;
    cg_pstream_t         ps;
    cg_buf_t             t;

    (void) state;
    memset(&ps, 0, sizeof(ps));
    cg_buf_init(&t);
    assert_int_equal(feed(p, &ps, "message_start", "{\"type\":\"message_start\","
        "\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":"
        "5,\"output_tokens\":1}}}", &t), 0);
    assert_int_equal(ps.input_tokens, 15);
    assert_false(ps.have_output);
    assert_int_equal(feed(p, &ps, "ping", "{}", &t), 0);
    assert_int_equal(feed(p, &ps, "content_block_delta", "{\"delta\":{\"type\":"
        "\"text_delta\",\"text\":\"Hi\"}}", &t), 0);
    assert_int_equal(feed(p, &ps, "message_delta", "{\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":7}}", &t), 0);
    assert_int_equal(ps.output_tokens, 7);
    assert_true(ps.have_output);
    assert_string_equal(ps.stop_reason, "end_turn");
    assert_int_equal(feed(p, &ps, "message_stop", "{}", &t), 1);
    assert_string_equal(t.data, "Hi");
    assert_int_equal(feed(p, &ps, "error", "{\"error\":{\"type\":"
        "\"overloaded_error\",\"message\":\"secret detail\"}}", &t), -1);
    assert_string_equal(ps.err_type, "overloaded_error");
    assert_int_equal(feed(p, &ps, "content_block_delta", "{not json", &t), -1);
    cg_buf_free(&t);
}


static void
test_openai_stream(void **state)
{
    const cg_provider_t *p = &cg_provider_openai;
    cg_pstream_t         ps;
    cg_buf_t             t;

    (void) state;
    memset(&ps, 0, sizeof(ps));
    cg_buf_init(&t);
    assert_int_equal(feed(p, &ps, "message", "{\"choices\":[{\"delta\":{"
        "\"role\":\"assistant\"},\"finish_reason\":null}],\"usage\":null}",
        &t), 0);
    assert_int_equal(feed(p, &ps, "message", "{\"choices\":[{\"delta\":{"
        "\"content\":\"Yo\"},\"finish_reason\":\"stop\"}]}", &t), 0);
    assert_false(ps.have_input);
    assert_int_equal(feed(p, &ps, "message", "{\"choices\":[],\"usage\":{"
        "\"prompt_tokens\":3,\"completion_tokens\":2}}", &t), 0);
    assert_true(ps.have_input && ps.have_output);
    assert_int_equal(ps.input_tokens, 3);
    assert_int_equal(ps.output_tokens, 2);
    assert_int_equal(feed(p, &ps, "message", "[DONE]", &t), 1);
    assert_string_equal(t.data, "Yo");
    assert_string_equal(ps.stop_reason, "stop");
    assert_int_equal(feed(p, &ps, "message", "{\"error\":{\"message\":\"x y\","
        "\"type\":\"has space\",\"code\":\"server_error\"}}", &t), -1);
    assert_string_equal(ps.err_type, "server_error");
    cg_buf_free(&t);
}


static void
test_quota(void **state)
{
    (void) state;
#define Q(s) cg_provider_is_quota(s, strlen(s))
    assert_true(Q("{\"error\":{\"type\":\"insufficient_quota\"}}"));
    assert_true(Q("{\"error\":{\"type\":\"x\",\"code\":"
                  "\"enforced_spend_limit_reached\"}}"));
    assert_false(Q("{\"error\":{\"type\":\"rate_limit_error\"}}"));
    assert_false(Q("{\"type\":\"error\",\"error\":{\"code\":\"requests\"}}"));
    assert_false(Q("not json"));
#undef Q
}


/* Found by fuzz_provider: negative usage came through as negative spend. */
static void
test_usage_clamped(void **state)
{
    const char   *a = "{\"type\":\"message\",\"content\":[{\"type\":"
                      "\"text\",\"text\":\"hi\"}],\"usage\":{\"input_tokens\":"
                      "-5,\"cache_read_input_tokens\":9223372036854775807,"
                      "\"output_tokens\":-1}}";
    const char   *o = "{\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
                      "\"usage\":{\"prompt_tokens\":-7,\"completion_tokens\":"
                      "-9223372036854775807}}";
    cg_pstream_t  ps;
    cg_buf_t      t;

    (void) state;
    cg_buf_init(&t);
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(cg_provider_anthropic.parse(a, strlen(a), &t, &ps), 0);
    assert_int_equal(ps.input_tokens, CG_PROVIDER_TOKENS_MAX);
    assert_int_equal(ps.output_tokens, 0);
    memset(&ps, 0, sizeof(ps));
    cg_buf_reset(&t);
    assert_int_equal(cg_provider_openai.parse(o, strlen(o), &t, &ps), 0);
    assert_int_equal(ps.input_tokens, 0);
    assert_int_equal(ps.output_tokens, 0);
    cg_buf_free(&t);
}


static void
test_user_id(void **state)
{
    unsigned char k[] = "0123456789abcdef0123456789abcdef";
    cg_secret_t   key = { k, 32, "" };
    char          a[CG_UID_LEN + 1], b[CG_UID_LEN + 1];

    (void) state;
    cg_provider_user_id(&key, "alice", a);
    cg_provider_user_id(&key, "bob", b);
    assert_int_equal(strlen(a), CG_UID_LEN);
    assert_string_not_equal(a, b);
    assert_null(strstr(a, "alice"));
    cg_provider_user_id(&key, "alice", b);
    assert_string_equal(a, b);
}


/* The per-thread cache of user ids: the same id as the HMAC itself, for
 * more users than it keeps, and a new key (a reload) never gets an id
 * made under the old one, even for the same user and key length. */
static void
test_user_id_cache(void **state)
{
    unsigned char k1[] = "0123456789abcdef0123456789abcdef";
    unsigned char k2[] = "0123456789abcdef0123456789abcdeX";
    cg_secret_t   key1 = { k1, 32, "" }, key2 = { k2, 32, "" };
    char          got[CG_UID_LEN + 1], want[CG_UID_LEN + 1], user[16];
    unsigned char mac[32];
    int           round, u, i;

    (void) state;
    for (round = 0; round < 3; round++) {
        for (u = 0; u < 12; u++) {
            const cg_secret_t *key = (u + round) % 3 ? &key1 : &key2;

            snprintf(user, sizeof(user), "user%d", u);
            cg_provider_user_id(key, user, got);
            assert_int_equal(cg_signed_hmac(key->data, key->len, user,
                                            strlen(user), mac), 0);
            for (i = 0; i < CG_UID_LEN / 2; i++) {
                snprintf(want + i * 2, 3, "%02x", mac[i]);
            }
            assert_string_equal(got, want);
        }
    }
    cg_provider_user_id(&key1, "alice", got);
    cg_provider_user_id(&key2, "alice", want);
    assert_string_not_equal(got, want);
}


static int
parse(const cg_provider_t *p, const char *body, cg_buf_t *t, cg_pstream_t *ps)
{
    memset(ps, 0, sizeof(*ps));
    cg_buf_reset(t);
    return p->parse(body, strlen(body), t, ps);
}


/* Whole answers: text blocks joined in order, other blocks skipped, the
 * last of repeated keys counts (as json-c read them). */
static void
test_answers(void **state)
{
    const cg_provider_t *a = &cg_provider_anthropic, *o = &cg_provider_openai;
    cg_pstream_t         ps;
    cg_buf_t             t;

    (void) state;
    cg_buf_init(&t);
    assert_int_equal(parse(a, "{\"content\":[{\"type\":\"text\",\"text\":"
        "\"a\\u00e9\"},{\"type\":\"tool_use\",\"text\":5},7,{\"type\":\"text\","
        "\"text\":\"\\n!\"}],\"usage\":{\"input_tokens\":3,"
        "\"cache_creation_input_tokens\":4,\"output_tokens\":2},"
        "\"stop_reason\":\"end_turn\"}", &t, &ps), 0);
    assert_int_equal(t.len, 5);
    assert_memory_equal(t.data, "a\xc3\xa9\n!", 5);
    assert_int_equal(ps.input_tokens, 7);
    assert_int_equal(ps.output_tokens, 2);
    assert_string_equal(ps.stop_reason, "end_turn");
    assert_int_equal(parse(a, "{\"content\":[{\"type\":\"text\",\"text\":"
        "\"a\"}],\"content\":[{\"type\":\"text\",\"text\":\"b\"}],\"usage\":"
        "{\"input_tokens\":1},\"usage\":{}}", &t, &ps), 0);
    assert_string_equal(t.data, "b");
    assert_false(ps.have_input);
    assert_int_equal(parse(a, "{\"content\":[{\"type\":\"text\",\"text\":"
        "null}]}", &t, &ps), -1);
    assert_int_equal(parse(a, "{\"content\":{}}", &t, &ps), -1);
    assert_int_equal(parse(a, "{\"usage\":{}}", &t, &ps), -1);
    assert_int_equal(parse(o, "{\"choices\":[{\"message\":{\"content\":"
        "\"Hi\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":"
        "4,\"completion_tokens\":1.5}}", &t, &ps), 0);
    assert_string_equal(t.data, "Hi");
    assert_string_equal(ps.stop_reason, "length");
    assert_true(ps.have_input && !ps.have_output);
    assert_int_equal(parse(o, "{\"choices\":[{\"message\":null}]}", &t, &ps),
                     -1);
    assert_int_equal(parse(o, "{\"choices\":[]}", &t, &ps), -1);
    assert_int_equal(parse(o, "{\"choices\":[{\"message\":{}}]} x", &t, &ps),
                     -1);
    cg_buf_free(&t);
}


/* Two answers json-c let through badly. A content block whose type is
 * null crashed the worker (json_object_get_string(NULL) into strcmp); it
 * is now a block that is not text. Text that is not UTF-8 by RFC 3629
 * (an overlong NUL, a UTF-16 surrogate in UTF-8) passed json-c's check
 * and reached the guards and the client; it is now garbage, as other
 * invalid UTF-8 always was. */
static void
test_hostile_answers(void **state)
{
    const cg_provider_t *a = &cg_provider_anthropic, *o = &cg_provider_openai;
    cg_pstream_t         ps;
    cg_buf_t             t;

    (void) state;
    cg_buf_init(&t);
    assert_int_equal(parse(a, "{\"content\":[{\"type\":null},{\"type\":"
        "\"text\",\"text\":\"ok\"}]}", &t, &ps), 0);
    assert_string_equal(t.data, "ok");
    assert_int_equal(parse(a, "{\"content\":[{\"type\":\"text\",\"text\":"
        "\"\xc0\x80\"}]}", &t, &ps), -1);
    assert_int_equal(parse(o, "{\"choices\":[{\"message\":{\"content\":"
        "\"\xed\xa0\x80\"}}]}", &t, &ps), -1);
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(feed(a, &ps, "content_block_delta", "{\"delta\":{"
        "\"text\":\"\xf4\x90\x80\x80\"}}", &t), -1);
    assert_int_equal(feed(o, &ps, "message", "{\"choices\":[{\"delta\":{"
        "\"content\":\"\xe0\x80\xaf\"}}]}", &t), -1);
    cg_buf_free(&t);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anthropic_stream),
        cmocka_unit_test(test_openai_stream),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_usage_clamped),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_hostile_answers),
        cmocka_unit_test(test_user_id),
        cmocka_unit_test(test_user_id_cache),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
