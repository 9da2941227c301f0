/*
 * Unit tests for lib/http/http.c (admission before the body is read, and the
 * one place a request becomes an HTTP response) and lib/core/err.c (the table
 * of failures).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "conf/config.h"
#include "core/err.h"
#include "http/http.h"
#include "core/req.h"

static cg_conf_t conf;


static int
setup(void **state)
{
    char err[256];

    (void) state;
    return cg_conf_init(&conf, err, sizeof(err));
}


static int
teardown(void **state)
{
    (void) state;
    cg_conf_free(&conf);
    return 0;
}


/* A request that passes admission with the default config. */
static void
good_req(cg_req_t *r)
{
    memset(r, 0, sizeof(*r));
    cg_req_init(r, 0);
    r->method = "POST";
    r->uri = "/api/chat";
    r->content_type = "application/json";
    r->content_length = "16";
    snprintf(r->request_id, sizeof(r->request_id), "req_00112233aabbccdd");
}


static void
expect_admit(cg_req_t *r, cg_err_t want)
{
    int rc = cg_http_admit(&conf, r);

    if (want == CG_OK) {
        if (rc != 0) {
            fail_msg("refused (%s)", r->reason);
        }
        assert_int_equal(r->err, CG_OK);
    } else {
        assert_int_equal(rc, -1);
        if (r->err != want) {
            fail_msg("err %d, want %d (%s)", r->err, want, r->reason);
        }
    }
    cg_req_destroy(r);
}


/* ---- admission -------------------------------------------------------- */

static void
test_admit_path(void **state)
{
    static const char *bad[] = {
        "/", "/api", "/api/", "/api/chat/", "/api/chatx", "/api/chat/x",
        "/API/CHAT", "api/chat", "//api/chat", "/api/cha", "", NULL
    };
    cg_req_t r;
    int      i;

    (void) state;
    good_req(&r);
    expect_admit(&r, CG_OK);
    good_req(&r);
    r.uri = "/api/chat?x=1";
    expect_admit(&r, CG_OK);
    good_req(&r);
    r.uri = "/api/chat?";
    expect_admit(&r, CG_OK);
    for (i = 0; bad[i]; i++) {
        good_req(&r);
        r.uri = bad[i];
        expect_admit(&r, CG_E_NOT_FOUND);
    }
    good_req(&r);
    r.uri = NULL;
    expect_admit(&r, CG_E_NOT_FOUND);
    /* The path check comes first: a GET elsewhere is a 404. */
    good_req(&r);
    r.uri = "/other";
    r.method = "GET";
    expect_admit(&r, CG_E_NOT_FOUND);
}


static void
test_admit_custom_path(void **state)
{
    cg_req_t r;
    char    *saved = conf.http.chat_path;

    (void) state;
    conf.http.chat_path = "/v1/chat";
    good_req(&r);
    r.uri = "/v1/chat";
    expect_admit(&r, CG_OK);
    good_req(&r);
    expect_admit(&r, CG_E_NOT_FOUND);
    conf.http.chat_path = saved;
}


static void
test_admit_method(void **state)
{
    static const char *bad[] = {
        "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "post", "POSTX",
        "", NULL
    };
    cg_req_t r;
    int      i;

    (void) state;
    for (i = 0; bad[i]; i++) {
        good_req(&r);
        r.method = bad[i];
        expect_admit(&r, CG_E_METHOD);
    }
    good_req(&r);
    r.method = NULL;
    expect_admit(&r, CG_E_METHOD);
}


static void
test_admit_content_type(void **state)
{
    static const char *ok[] = {
        "application/json", "application/json; charset=utf-8",
        "application/json;charset=UTF-8", "APPLICATION/JSON",
        "Application/Json", "application/json ; charset=utf-8", NULL
    };
    static const char *bad[] = {
        "text/plain", "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded", "multipart/form-data",
        "multipart/form-data; boundary=x", "application/jsonp",
        "application/json-patch+json", "application/json5",
        "application/jso", "application/xml", "text/json", "",
        " application/json", "application/ld+json", "json", NULL
    };
    cg_req_t r;
    int      i;

    (void) state;
    for (i = 0; ok[i]; i++) {
        good_req(&r);
        r.content_type = ok[i];
        expect_admit(&r, CG_OK);
    }
    for (i = 0; bad[i]; i++) {
        good_req(&r);
        r.content_type = bad[i];
        expect_admit(&r, CG_E_MEDIA_TYPE);
    }
    good_req(&r);
    r.content_type = NULL;
    expect_admit(&r, CG_E_MEDIA_TYPE);
}


static void
test_admit_content_length(void **state)
{
    static const char *bad[] = {
        "abc", "-1", "+5", " 5", "5 ", "1e3", "0x10", "12a", "1.0",
        "99999999999999999999999999", NULL
    };
    char     big[32];
    cg_req_t r;
    int      i;

    (void) state;
    good_req(&r);
    r.content_length = "0";
    expect_admit(&r, CG_OK);
    good_req(&r);
    r.content_length = "";
    expect_admit(&r, CG_OK);
    good_req(&r);
    r.content_length = NULL;
    expect_admit(&r, CG_OK);

    /* At max_body and one over. */
    snprintf(big, sizeof(big), "%ld", conf.http.max_body);
    good_req(&r);
    r.content_length = big;
    expect_admit(&r, CG_OK);
    snprintf(big, sizeof(big), "%ld", conf.http.max_body + 1);
    good_req(&r);
    r.content_length = big;
    expect_admit(&r, CG_E_TOO_LARGE);
    good_req(&r);
    r.content_length = "1000000000";
    expect_admit(&r, CG_E_TOO_LARGE);
    good_req(&r);
    r.content_length = "0065536";
    expect_admit(&r, CG_OK);

    for (i = 0; bad[i]; i++) {
        good_req(&r);
        r.content_length = bad[i];
        cg_http_admit(&conf, &r);
        if (r.err != CG_E_INVALID && r.err != CG_E_TOO_LARGE) {
            fail_msg("Content-Length \"%s\": err %d", bad[i], r.err);
        }
        if (strspn(bad[i], "0123456789") != strlen(bad[i])) {
            assert_int_equal(r.err, CG_E_INVALID);
        }
        cg_req_destroy(&r);
    }
}


/* ---- responses -------------------------------------------------------- */

typedef struct {
    char   *head;       /* header block, NUL-terminated, without CRLFCRLF */
    char   *body;
    size_t  body_len;
} resp_t;


static void
render(const cg_req_t *r, resp_t *out)
{
    cg_buf_t    b;
    const char *sep, *cl;
    size_t      hn;
    long        n;

    cg_buf_init(&b);
    cg_http_response(r, &b);
    assert_false(b.oom);
    sep = strstr(b.data, "\r\n\r\n");
    assert_non_null(sep);
    hn = (size_t) (sep - b.data);
    out->head = strndup(b.data, hn);
    out->body_len = b.len - hn - 4;
    out->body = strndup(sep + 4, out->body_len);
    assert_non_null(out->head);
    assert_non_null(out->body);
    cg_buf_free(&b);

    /* Content-Length is the body's length; no bare LF in the headers. */
    cl = strstr(out->head, "\r\nContent-Length: ");
    assert_non_null(cl);
    n = strtol(cl + 18, NULL, 10);
    assert_int_equal((size_t) n, out->body_len);
    assert_null(strstr(out->head, "\n\n"));
    assert_int_equal(strncmp(out->head, "Status: ", 8), 0);
    assert_non_null(strstr(out->head,
                           "\r\nContent-Type: application/json"));
}


static void
resp_free(resp_t *p)
{
    free(p->head);
    free(p->body);
}


static int
has_header(const resp_t *p, const char *line)
{
    size_t      n = strlen(line);
    const char *h = p->head;

    /* A header is a whole line: the start of the block or after CRLF, and
     * followed by CRLF or the end of the block. */
    while ((h = strstr(h, line)) != NULL) {
        if ((h == p->head || (h >= p->head + 2 && h[-2] == '\r'
                              && h[-1] == '\n'))
            && (h[n] == '\0' || (h[n] == '\r' && h[n + 1] == '\n'))) {
            return 1;
        }
        h += n;
    }
    return 0;
}


static json_object *
parse_body(const resp_t *p)
{
    json_tokener *tok = json_tokener_new();
    json_object  *o;
    size_t        n = p->body_len;

    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    while (n > 0 && p->body[n - 1] == '\n') {
        n--;
    }
    o = json_tokener_parse_ex(tok, p->body, (int) n);
    if (o == NULL || json_tokener_get_parse_end(tok) != n) {
        json_object_put(o);
        json_tokener_free(tok);
        fail_msg("body not strict JSON: %s", p->body);
    }
    json_tokener_free(tok);
    assert_true(json_object_is_type(o, json_type_object));
    return o;
}


static json_object *
field(json_object *o, const char *key, json_type type)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v)) {
        fail_msg("no field %s", key);
    }
    assert_true(json_object_is_type(v, type));
    return v;
}


static void
test_response_ok(void **state)
{
    cg_req_t     r;
    resp_t       p;
    json_object *o, *u;

    (void) state;
    good_req(&r);
    cg_buf_adds(&r.text, "Hello \"world\"\n\xe2\x80\xa8");
    r.input_tokens = 11;
    r.output_tokens = 22;
    render(&r, &p);

    assert_true(has_header(&p, "Status: 200 OK"));
    assert_true(has_header(&p, "X-Request-Id: req_00112233aabbccdd"));
    assert_true(has_header(&p, "Cache-Control: no-store"));
    assert_false(has_header(&p, "Allow: POST"));
    assert_null(strstr(p.head, "Retry-After"));

    o = parse_body(&p);
    assert_int_equal(json_object_object_length(o), 3);
    assert_string_equal(json_object_get_string(field(o, "text",
                                                     json_type_string)),
                        "Hello \"world\"\n\xe2\x80\xa8");
    assert_string_equal(json_object_get_string(field(o, "request_id",
                                                     json_type_string)),
                        "req_00112233aabbccdd");
    u = field(o, "usage", json_type_object);
    assert_int_equal(json_object_get_int64(field(u, "input_tokens",
                                                 json_type_int)), 11);
    assert_int_equal(json_object_get_int64(field(u, "output_tokens",
                                                 json_type_int)), 22);
    assert_false(json_object_object_get_ex(o, "error", NULL));
    json_object_put(o);
    resp_free(&p);
    cg_req_destroy(&r);

    /* An empty answer is still a string. */
    good_req(&r);
    render(&r, &p);
    o = parse_body(&p);
    assert_string_equal(json_object_get_string(field(o, "text",
                                                     json_type_string)), "");
    json_object_put(o);
    resp_free(&p);
    cg_req_destroy(&r);
}


/* Checks an error response: status line, type, message and request id. */
static void
check_error_body(const resp_t *p, const char *type, const char *message)
{
    json_object *o, *e;

    o = parse_body(p);
    assert_int_equal(json_object_object_length(o), 2);
    e = field(o, "error", json_type_object);
    assert_string_equal(json_object_get_string(field(e, "type",
                                                     json_type_string)),
                        type);
    if (message) {
        assert_string_equal(json_object_get_string(
                                field(e, "message", json_type_string)),
                            message);
    } else {
        assert_true(json_object_get_string_len(
                        field(e, "message", json_type_string)) > 0);
    }
    assert_string_equal(json_object_get_string(field(o, "request_id",
                                                     json_type_string)),
                        "req_00112233aabbccdd");
    assert_false(json_object_object_get_ex(o, "text", NULL));
    json_object_put(o);
}


static void
test_response_rate_limited(void **state)
{
    cg_req_t r;
    resp_t   p;

    (void) state;
    good_req(&r);
    cg_req_fail(&r, CG_E_RATE_LIMITED, NULL, "over limit");
    r.retry_after = 17;
    render(&r, &p);
    assert_true(has_header(&p, "Status: 429 Too Many Requests"));
    assert_true(has_header(&p, "Retry-After: 17"));
    assert_false(has_header(&p, "Allow: POST"));
    check_error_body(&p, "rate_limited",
                     cg_err_message(CG_E_RATE_LIMITED));
    resp_free(&p);
    cg_req_destroy(&r);

    /* With the rate figures set. */
    good_req(&r);
    cg_req_fail(&r, CG_E_RATE_LIMITED, NULL, "over limit");
    r.retry_after = 5;
    r.rate.n = 2;
    r.rate.p[0] = (cg_limit_info_t) { "rpm", 20, 0, 21, 60, 5 };
    r.rate.p[1] = (cg_limit_info_t) { "concurrency", 4, 3, 1, 0, 1 };
    render(&r, &p);
    assert_true(has_header(&p, "Retry-After: 5"));
    assert_true(has_header(&p, "RateLimit-Policy: \"rpm\";q=20;w=60, "
                           "\"concurrency\";q=4"));
    assert_true(has_header(&p, "RateLimit: \"rpm\";r=0;t=5, "
                           "\"concurrency\";r=3;t=1"));
    resp_free(&p);
    cg_req_destroy(&r);
}


static void
test_response_method(void **state)
{
    cg_req_t r;
    resp_t   p;

    (void) state;
    good_req(&r);
    r.method = "GET";
    assert_int_equal(cg_http_admit(&conf, &r), -1);
    render(&r, &p);
    assert_true(has_header(&p, "Status: 405 Method Not Allowed"));
    assert_true(has_header(&p, "Allow: POST"));
    assert_null(strstr(p.head, "Retry-After"));
    check_error_body(&p, "method_not_allowed", NULL);
    resp_free(&p);
    cg_req_destroy(&r);
}


static void
test_response_custom_message(void **state)
{
    cg_req_t r;
    resp_t   p;

    (void) state;
    good_req(&r);
    cg_req_fail(&r, CG_E_INVALID, "Field \"message\" is too long.",
                "message too long");
    render(&r, &p);
    assert_true(has_header(&p, "Status: 400 Bad Request"));
    check_error_body(&p, "invalid_request", "Field \"message\" is too long.");
    resp_free(&p);
    cg_req_destroy(&r);
}


static void
test_reason_never_in_response(void **state)
{
    static const char reason[] = "upstream said: sk-ant-AAAAAAAAAAAA "
                                 "SECRET-REASON-TEXT";
    cg_req_t r;
    resp_t   p;
    int      e;

    (void) state;
    for (e = 1; e < CG_E__COUNT; e++) {
        good_req(&r);
        cg_req_fail(&r, (cg_err_t) e, NULL, "%s", reason);
        assert_string_equal(r.reason, reason);
        render(&r, &p);
        assert_null(strstr(p.head, "SECRET-REASON"));
        assert_null(strstr(p.body, "SECRET-REASON"));
        assert_null(strstr(p.body, "sk-ant"));
        assert_null(strstr(p.body, "upstream said"));
        resp_free(&p);
        cg_req_destroy(&r);
    }
}


static void
test_response_every_error(void **state)
{
    static const struct {
        cg_err_t    e;
        int         status;
        const char *line;
        const char *type;
    } want[] = {
        { CG_E_INVALID, 400, "400 Bad Request", "invalid_request" },
        { CG_E_UNAUTHORIZED, 401, "401 Unauthorized",
          "authentication_error" },
        { CG_E_FORBIDDEN, 403, "403 Forbidden", "forbidden" },
        { CG_E_NOT_FOUND, 404, "404 Not Found", "not_found" },
        { CG_E_METHOD, 405, "405 Method Not Allowed", "method_not_allowed" },
        { CG_E_TOO_LARGE, 413, "413 ", "request_too_large" },
        { CG_E_MEDIA_TYPE, 415, "415 Unsupported Media Type",
          "unsupported_media_type" },
        { CG_E_RATE_LIMITED, 429, "429 Too Many Requests", "rate_limited" },
        { CG_E_INTERNAL, 500, "500 Internal Server Error",
          "internal_error" },
        { CG_E_UPSTREAM, 502, "502 Bad Gateway", "upstream_error" },
        { CG_E_UNAVAILABLE, 503, "503 Service Unavailable",
          "service_unavailable" },
        { CG_E_UPSTREAM_TIMEOUT, 504, "504 Gateway Timeout",
          "upstream_timeout" },
        { CG_E_CROSS_SITE, 403, "403 Forbidden", "cross_site_request" },
        { CG_E_BUDGET, 429, "429 Too Many Requests", "budget_exceeded" },
    };
    char     line[64];
    cg_req_t r;
    resp_t   p;
    size_t   i;

    (void) state;
    assert_int_equal(cg_err_status(CG_OK), 200);
    /* Errors added later still need a client status and a type. */
    for (i = 1; i < CG_E__COUNT; i++) {
        assert_true(cg_err_status((cg_err_t) i) >= 400);
        assert_true(cg_err_status((cg_err_t) i) <= 599);
        assert_non_null(cg_err_type((cg_err_t) i));
    }
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(cg_err_status(want[i].e), want[i].status);
        assert_non_null(cg_err_type(want[i].e));
        assert_string_equal(cg_err_type(want[i].e), want[i].type);
        assert_non_null(cg_err_message(want[i].e));
        assert_true(strlen(cg_err_message(want[i].e)) > 0);

        good_req(&r);
        cg_req_fail(&r, want[i].e, NULL, "x");
        render(&r, &p);
        snprintf(line, sizeof(line), "Status: %s", want[i].line);
        assert_int_equal(strncmp(p.head, line, strlen(line)), 0);
        check_error_body(&p, want[i].type, cg_err_message(want[i].e));
        resp_free(&p);
        cg_req_destroy(&r);
    }
    /* Out-of-range values fail safe. */
    assert_int_equal(cg_err_status(CG_E__COUNT), 500);
    assert_int_equal(cg_err_status((cg_err_t) -1), 500);
    assert_non_null(cg_err_type(CG_E__COUNT));
    assert_non_null(cg_err_message(CG_E__COUNT));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_path),
        cmocka_unit_test(test_admit_custom_path),
        cmocka_unit_test(test_admit_method),
        cmocka_unit_test(test_admit_content_type),
        cmocka_unit_test(test_admit_content_length),
        cmocka_unit_test(test_response_ok),
        cmocka_unit_test(test_response_rate_limited),
        cmocka_unit_test(test_response_method),
        cmocka_unit_test(test_response_custom_message),
        cmocka_unit_test(test_reason_never_in_response),
        cmocka_unit_test(test_response_every_error),
    };

    return cmocka_run_group_tests_name("http", tests, setup, teardown);
}
