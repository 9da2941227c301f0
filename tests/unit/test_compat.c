/* The provider-compatible endpoints (issue 20): admission takes only a
 * service token and flags a provider key; a provider-format body becomes
 * chatgate's conversation or is refused (unknown fields, tools, images,
 * n > 1), never echoing the caller's text; answers, errors and stream
 * events are in the provider's own shape, stop reasons translated. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "flagtext.h"

#include "guard/compatbody.h"
#include "http/compat.h"

static const cg_guard_limits_t lim = { 1000, 10, 5000 };


static int
parse(cg_req_t *r, cg_api_t api, const char *body)
{
    memset(r, 0, sizeof(*r));
    cg_req_init(r, 0);
    r->api = api;
    r->body = body;
    r->body_len = strlen(body);
    return cg_compatbody_parse(r, &lim);
}


static void
test_parse_anthropic(void **state)
{
    cg_req_t r;

    (void) state;
    assert_int_equal(parse(&r, CG_API_ANTHROPIC, "{\"model\":\"m1\","
        "\"max_tokens\":50,\"system\":[{\"type\":\"text\",\"text\":\"S\"}],"
        "\"stream\":true,\"metadata\":{\"user_id\":\"u\"},\"messages\":["
        "{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
        "\"content\":[{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"user\","
        "\"content\":[{\"type\":\"text\",\"text\":\"c\"},{\"type\":\"text\","
        "\"text\":\"d\"}]}]}"), 0);
    assert_string_equal(r.model_req, "m1");
    assert_int_equal(r.max_tokens, 50);
    assert_true(r.stream);
    assert_string_equal(r.system, "S");
    assert_int_equal(r.nmsgs, 3);
    assert_true(r.msgs[1].assistant);
    assert_string_equal(r.msgs[2].text, "cd");
    assert_string_equal(r.message, "cd");
    assert_int_equal(r.body_len, strlen(r.body));  /* restored */
    cg_req_destroy(&r);
    /* max_tokens is required, as by Anthropic. */
    assert_int_equal(parse(&r, CG_API_ANTHROPIC, "{\"model\":\"m\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}"), -1);
    assert_int_equal(r.err, CG_E_INVALID);
    cg_req_destroy(&r);
}


static void
test_parse_openai(void **state)
{
    cg_req_t r;

    (void) state;
    assert_int_equal(parse(&r, CG_API_OPENAI, "{\"model\":\"gpt\",\"n\":1,"
        "\"max_completion_tokens\":70,\"max_tokens\":90,\"user\":\"x\","
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"system\",\"content\":\"A\"},{\"role\":"
        "\"developer\",\"content\":\"B\"},{\"role\":\"user\",\"content\":"
        "\"hi\"}]}"), 0);
    assert_int_equal(r.max_tokens, 70);     /* the lower of the two */
    assert_true(r.include_usage);
    assert_string_equal(r.system, "A\n\nB");
    assert_int_equal(r.nmsgs, 1);
    cg_req_destroy(&r);
}


/* Each refused body: 400 with a fixed message that holds no caller
 * text, and the field named in the log only if it is a known one. */
static void
test_refusals(void **state)
{
    static const struct {
        cg_api_t    api;
        const char *body;
        const char *reason;
    } cases[] = {
        { CG_API_OPENAI, "{\"model\":\"m\",\"temperature\":1,\"messages\":"
          "[{\"role\":\"user\",\"content\":\"a\"}]}", "temperature" },
        { CG_API_OPENAI, "{\"model\":\"m\",\"zzsecretzz\":1,\"messages\":"
          "[{\"role\":\"user\",\"content\":\"a\"}]}", "not a known" },
        { CG_API_OPENAI, "{\"model\":\"m\",\"n\":2,\"messages\":"
          "[{\"role\":\"user\",\"content\":\"a\"}]}", "n other than 1" },
        { CG_API_OPENAI, "{\"model\":\"m\",\"tools\":[],\"messages\":"
          "[{\"role\":\"user\",\"content\":\"a\"}]}", "tool use" },
        { CG_API_OPENAI, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\","
          "\"content\":\"a\"}]}", "tool message" },
        { CG_API_OPENAI, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
          "non-text" },
        { CG_API_OPENAI, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"a\"},{\"role\":\"system\",\"content\":\"s\"}]}",
          "system message after" },
        { CG_API_ANTHROPIC, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
          "[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]}",
          "non-text" },
        { CG_API_ANTHROPIC, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
          "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\","
          "\"cache_control\":{}}]}]}", "cache_control" },
        { CG_API_ANTHROPIC, "{\"model\":\"m\",\"max_tokens\":0,\"messages\":"
          "[{\"role\":\"user\",\"content\":\"a\"}]}", "bad max_tokens" },
        { CG_API_ANTHROPIC, "{\"max_tokens\":5,\"messages\":"
          "[{\"role\":\"user\",\"content\":\"a\"}]}", "no model" },
        { CG_API_ANTHROPIC, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
          "[{\"role\":\"assistant\",\"content\":\"a\"}]}", "role not user" },
        { CG_API_ANTHROPIC, "{\"model\":\"m\",\"max_tokens\":5}",
          "no messages" },
        { CG_API_ANTHROPIC, "[1]", "not an object" },
        { CG_API_ANTHROPIC, "{\"model\":\"m\"} x", "not valid JSON" },
    };
    cg_req_t r;
    size_t   i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse(&r, cases[i].api, cases[i].body), -1);
        assert_int_equal(r.err, CG_E_INVALID);
        if (strstr(r.reason, cases[i].reason) == NULL) {
            fail_msg("case %zu: reason \"%s\"", i, r.reason);
        }
        assert_null(strstr(r.reason, "zzsecretzz"));
        assert_null(strstr(r.err_msg ? r.err_msg : "", "zzsecretzz"));
        cg_req_destroy(&r);
    }
}


static cg_req_t *
req_for(cg_req_t *r, cg_api_t api)
{
    memset(r, 0, sizeof(*r));
    cg_req_init(r, 0);
    r->api = api;
    snprintf(r->request_id, sizeof(r->request_id), "req_00000000000000ab");
    r->model = "claude-x";
    return r;
}


static void
test_admit(void **state)
{
    cg_conf_t conf;
    cg_req_t  r;
    char      err[256], *prefix;

    (void) state;
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    assert_int_equal(cg_compat_api(&conf, "/api/llm/v1/messages"),
                     CG_API_ANTHROPIC);
    assert_int_equal(cg_compat_api(&conf, "/api/llm/v1/chat/completions?x"),
                     CG_API_OPENAI);
    assert_int_equal(cg_compat_api(&conf, "/api/llm/v1/messagesX"),
                     CG_API_CHAT);
    assert_int_equal(cg_compat_api(&conf, "/api/chat"), CG_API_CHAT);
    prefix = conf.http.llm_prefix;
    conf.http.llm_prefix = "/svc";       /* [server] llm_prefix */
    assert_int_equal(cg_compat_api(&conf, "/svc/v1/messages"),
                     CG_API_ANTHROPIC);
    assert_int_equal(cg_compat_api(&conf, "/api/llm/v1/messages"),
                     CG_API_CHAT);
    conf.http.llm_prefix = "";           /* off */
    assert_int_equal(cg_compat_api(&conf, "/v1/messages"), CG_API_CHAT);
    conf.http.llm_prefix = prefix;

    req_for(&r, CG_API_CHAT);
    r.method = "POST";
    r.content_type = "application/json";
    r.cookie = "chatgate_session=v1.x";
    r.x_api_key = "cgt_abcdef";
    assert_int_equal(cg_compat_admit(&conf, &r, CG_API_ANTHROPIC), 0);
    assert_string_equal(r.service_token, "cgt_abcdef");
    assert_null(r.cookie);      /* a browser session never counts here */

    req_for(&r, CG_API_CHAT);
    r.method = "POST";
    r.content_type = "application/json";
    r.authorization = "Bearer sk-ant-api03-"
                      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_int_equal(cg_compat_admit(&conf, &r, CG_API_OPENAI), -1);
    assert_int_equal(r.err, CG_E_UNAUTHORIZED);
    assert_string_equal(flagtext(&r.findings), "provider_key_sent");
    assert_null(r.service_token);

    /* Beside a valid token, in the other header: still an exposure. */
    req_for(&r, CG_API_CHAT);
    r.method = "POST";
    r.content_type = "application/json";
    r.authorization = "Bearer cgt_abcdef";
    r.x_api_key = "sk-ant-api03-"
                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_int_equal(cg_compat_admit(&conf, &r, CG_API_OPENAI), -1);
    assert_string_equal(flagtext(&r.findings), "provider_key_sent");

    req_for(&r, CG_API_CHAT);
    r.method = "POST";
    r.content_type = "application/json";
    r.authorization = "Bearer v1.YWxpY2U.123.sig";     /* a session token */
    assert_int_equal(cg_compat_admit(&conf, &r, CG_API_OPENAI), -1);
    assert_int_equal(r.err, CG_E_UNAUTHORIZED);

    req_for(&r, CG_API_CHAT);
    r.method = "POST";
    r.content_type = "application/json";
    r.origin = "https://app.test";
    r.authorization = "Bearer cgt_abcdef";
    assert_int_equal(cg_compat_admit(&conf, &r, CG_API_OPENAI), -1);
    assert_int_equal(r.err, CG_E_CROSS_SITE);
    cg_conf_free(&conf);
}


static void
test_answers(void **state)
{
    cg_req_t r;
    cg_buf_t b;

    (void) state;
    cg_buf_init(&b);
    req_for(&r, CG_API_ANTHROPIC);
    cg_buf_adds(&r.text, "Hi \"you\"");
    r.input_tokens = 3;
    r.output_tokens = 4;
    snprintf(r.stop_reason, sizeof(r.stop_reason), "length");
    cg_compat_response(&r, &b);
    assert_non_null(strstr(b.data, "Status: 200 OK\r\n"));
    assert_non_null(strstr(b.data, "\r\nrequest-id: req_00000000000000ab"));
    assert_non_null(strstr(b.data, "{\"id\":\"msg_00000000000000ab\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Hi \\\"you\\\"\"}],"
        "\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,\"usage\":"
        "{\"input_tokens\":3,\"output_tokens\":4}}"));

    cg_buf_reset(&b);
    r.api = CG_API_OPENAI;
    cg_compat_response(&r, &b);
    assert_non_null(strstr(b.data, "\"object\":\"chat.completion\""));
    assert_non_null(strstr(b.data, "\"finish_reason\":\"length\""));
    assert_non_null(strstr(b.data, "\"usage\":{\"prompt_tokens\":3,"
        "\"completion_tokens\":4,\"total_tokens\":7}"));

    cg_buf_reset(&b);
    r.err = CG_E_BUDGET;
    r.retry_after = 30;
    cg_compat_response(&r, &b);
    assert_non_null(strstr(b.data, "Status: 429"));
    assert_non_null(strstr(b.data, "\r\nRetry-After: 30"));
    assert_non_null(strstr(b.data, "\r\nx-should-retry: false"));
    assert_non_null(strstr(b.data, "{\"error\":{\"message\":\"The spending "
        "limit has been reached; retry later.\",\"type\":\"insufficient_quota"
        "\",\"param\":null,\"code\":\"budget_exceeded\"}}"));

    cg_buf_reset(&b);
    r.api = CG_API_ANTHROPIC;
    r.err = CG_E_RATE_LIMITED;
    cg_compat_response(&r, &b);
    assert_non_null(strstr(b.data, "\r\nx-should-retry: true"));
    assert_non_null(strstr(b.data, "{\"type\":\"error\",\"error\":{\"type\":"
        "\"rate_limit_error\",\"message\":"));
    cg_req_destroy(&r);
    cg_buf_free(&b);
}


static int
sink_write(void *ctx, const char *p, size_t n)
{
    cg_buf_add(ctx, p, n);
    return 0;
}


static int
sink_flush(void *ctx)
{
    (void) ctx;
    return 0;
}


/* A whole stream of one delta "ab" in r's format, with 9 + 2 tokens and
 * the provider's stop reason stop. */
static void
stream_once(cg_stream_t *s, cg_out_t *out, cg_req_t *r, const char *stop)
{
    cg_stream_init(s, out);
    assert_int_equal(cg_stream_start(s, r, 0), 0);
    assert_int_equal(cg_stream_delta(s, "ab", 2, 0), 0);
    r->input_tokens = 9;
    r->output_tokens = 2;
    snprintf(r->stop_reason, sizeof(r->stop_reason), "%s", stop);
    assert_int_equal(cg_stream_done(s, r, 0), 0);
}


/* The events in order, as the SDKs' stream helpers read them. */
static void
test_streams(void **state)
{
    cg_buf_t    got;
    cg_out_t    out = { sink_write, sink_flush, NULL, &got };
    cg_stream_t s;
    cg_req_t    r;
    const char *p;

    (void) state;
    cg_buf_init(&got);
    memset(&s, 0, sizeof(s));
    stream_once(&s, &out, req_for(&r, CG_API_ANTHROPIC), "stop");
    p = got.data;
    assert_non_null(strstr(p, "\r\nrequest-id: req_00000000000000ab\r\n"));
    assert_non_null(p = strstr(p, "event: message_start\ndata: {\"type\":"
                               "\"message_start\",\"message\":{\"id\":"
                               "\"msg_00000000000000ab\""));
    assert_non_null(p = strstr(p, "event: content_block_start\n"));
    assert_non_null(p = strstr(p, "event: ping\ndata: {\"type\":\"ping\"}"));
    assert_non_null(p = strstr(p, "event: content_block_delta\ndata: {\"type\""
                               ":\"content_block_delta\",\"index\":0,\"delta\""
                               ":{\"type\":\"text_delta\",\"text\":\"ab\"}}"));
    assert_non_null(p = strstr(p, "event: content_block_stop\n"));
    assert_non_null(p = strstr(p, "event: message_delta\ndata: {\"type\":"
                               "\"message_delta\",\"delta\":{\"stop_reason\":"
                               "\"end_turn\",\"stop_sequence\":null},\"usage\":"
                               "{\"input_tokens\":9,\"output_tokens\":2}}"));
    assert_non_null(strstr(p, "event: message_stop\n"));

    cg_buf_reset(&got);
    req_for(&r, CG_API_OPENAI)->include_usage = 1;
    stream_once(&s, &out, &r, "end_turn");
    p = got.data;
    assert_non_null(p = strstr(p, "\"object\":\"chat.completion.chunk\""));
    assert_non_null(p = strstr(p, "\"delta\":{\"role\":\"assistant\","
                               "\"content\":\"\"}"));
    assert_non_null(p = strstr(p, "\"delta\":{\"content\":\"ab\"}"));
    assert_non_null(p = strstr(p, "\"finish_reason\":\"stop\""));
    assert_non_null(p = strstr(p, "\"choices\":[],\"usage\":{\"prompt_tokens\""
                               ":9,\"completion_tokens\":2,\"total_tokens\":"
                               "11}"));
    assert_non_null(strstr(p, "data: [DONE]\n\n"));

    cg_buf_reset(&got);
    r.err = CG_E_UPSTREAM;
    assert_int_equal(cg_stream_error(&s, &r, 0), 0);
    assert_string_equal(got.data, "data: {\"error\":{\"message\":\"The AI "
                        "provider could not answer.\",\"type\":\"server_error\","
                        "\"param\":null,\"code\":\"upstream_error\"}}\n\n");
    cg_stream_free(&s);
    cg_req_destroy(&r);
    cg_buf_free(&got);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_anthropic),
        cmocka_unit_test(test_parse_openai),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_admit),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_streams),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
