/*
 * Unit tests for lib/http/http.c: admission before the body is read (path,
 * method, content type and length; the cross-site rules: Origin, Referer,
 * Sec-Fetch-Site, preflight, CORS headers, duplicated headers; the [http]
 * and [session] rows they read), and the one place a request becomes an
 * HTTP response, with every entry of lib/core/err.c's table of failures.
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


/* The cross-site rules need allowed origins and trusted proxies: these
 * tests start from a config that has them, and leave the defaults. */
static int
origins_setup(void **state)
{
    char err[256];

    (void) state;
    cg_conf_free(&conf);
    if (cg_conf_init(&conf, err, sizeof(err)) != 0) {
        return -1;
    }
    free(conf.http.allowed_origins);
    conf.http.allowed_origins =
        strdup("https://app.test, http://127.0.0.1:8080");
    free(conf.http.trusted_proxies);
    conf.http.trusted_proxies = strdup("127.0.0.1, ::1, 10.0.0.2");
    return conf.http.allowed_origins && conf.http.trusted_proxies ? 0 : -1;
}


static int
origins_teardown(void **state)
{
    char err[256];

    (void) state;
    cg_conf_free(&conf);
    return cg_conf_init(&conf, err, sizeof(err));
}


/* A same-origin cookie request that passes admission (no length: the
 * cross-site rules are read before it). */
static void
cookie_req(cg_req_t *r)
{
    good_req(r);
    r->content_length = NULL;
    r->cookie = "chatgate_session=v1.x.1.y";
    r->origin = "https://app.test";
}


static cg_err_t
admit(cg_req_t *r)
{
    int rc = cg_http_admit(&conf, r);

    assert_true(rc == 0 ? r->err == CG_OK : r->err != CG_OK);
    return r->err;
}


static void
test_origin(void **state)
{
    static const char *const bad[] = {
        "https://app.test.evil.test", "https://evil.test", "http://app.test",
        "https://app.test:443", "https://app.test/", "null", "",
        "https://APP.test", "http://127.0.0.1:80", "http://127.0.0.1:8080 ",
    };
    cg_req_t r;
    size_t   i;

    (void) state;
    cookie_req(&r);
    assert_int_equal(admit(&r), CG_OK);
    assert_string_equal(r.cors_origin, "https://app.test");
    cookie_req(&r);
    r.origin = "http://127.0.0.1:8080";
    assert_int_equal(admit(&r), CG_OK);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cookie_req(&r);
        r.origin = bad[i];
        if (admit(&r) != CG_E_CROSS_SITE) {
            fail_msg("Origin '%s' admitted", bad[i]);
        }
        assert_null(r.cors_origin);
    }
}


static void
test_referer_and_missing(void **state)
{
    cg_req_t r;

    (void) state;
    cookie_req(&r);
    r.origin = NULL;
    assert_int_equal(admit(&r), CG_E_CROSS_SITE);
    cookie_req(&r);
    r.origin = NULL;
    r.referer = "https://app.test/page?q=1";
    assert_int_equal(admit(&r), CG_OK);
    cookie_req(&r);
    r.origin = NULL;
    r.referer = "https://app.test";
    assert_int_equal(admit(&r), CG_OK);
    cookie_req(&r);
    r.origin = NULL;
    r.referer = "https://app.test.evil.test/";
    assert_int_equal(admit(&r), CG_E_CROSS_SITE);
    cookie_req(&r);
    r.origin = NULL;
    r.referer = "https://app.testing/";
    assert_int_equal(admit(&r), CG_E_CROSS_SITE);
    /* Configured to allow: a cookie request without either passes. */
    conf.http.allow_missing_origin = 1;
    cookie_req(&r);
    r.origin = NULL;
    assert_int_equal(admit(&r), CG_OK);
    conf.http.allow_missing_origin = 0;
    /* No allowed origins configured: no browser is served (any Origin is
     * refused), and a cookie request without Origin passes, as a script's. */
    {
        char *saved = conf.http.allowed_origins;

        conf.http.allowed_origins = "";
        cookie_req(&r);
        r.origin = NULL;
        assert_int_equal(admit(&r), CG_OK);
        cookie_req(&r);
        assert_int_equal(admit(&r), CG_E_CROSS_SITE);
        conf.http.allowed_origins = saved;
    }
    /* A Bearer token without a cookie is not ambient: no Origin needed. */
    cookie_req(&r);
    r.origin = NULL;
    r.cookie = NULL;
    r.authorization = "Bearer v1.x.1.y";
    assert_int_equal(admit(&r), CG_OK);
}


static void
test_fetch_metadata_and_tokens(void **state)
{
    cg_req_t r;

    (void) state;
    cookie_req(&r);
    r.sec_fetch_site = "cross-site";
    assert_int_equal(admit(&r), CG_E_CROSS_SITE);
    assert_null(r.cors_origin);
    cookie_req(&r);
    r.sec_fetch_site = "same-origin";
    assert_int_equal(admit(&r), CG_OK);
    /* Service tokens are server to server: exempt from the origin rules,
     * not from the content type. */
    cookie_req(&r);
    r.cookie = NULL;
    r.origin = "https://evil.test";
    r.sec_fetch_site = "cross-site";
    r.authorization = "Bearer cgt_abc";
    assert_int_equal(admit(&r), CG_OK);
    r.content_type = "text/plain";
    r.err = CG_OK;
    assert_int_equal(admit(&r), CG_E_MEDIA_TYPE);
}


static void
test_preflight(void **state)
{
    cg_req_t r;
    cg_buf_t out;

    (void) state;
    cookie_req(&r);
    r.method = "OPTIONS";
    r.cookie = NULL;
    assert_int_equal(cg_http_admit(&conf, &r), 1);
    assert_int_equal(r.err, CG_OK);
    assert_true(r.preflight);
    cg_buf_init(&out);
    cg_http_response(&r, &out);
    assert_non_null(strstr(out.data, "Status: 204 No Content\r\n"));
    assert_non_null(strstr(out.data, "Access-Control-Allow-Origin: "
                                     "https://app.test\r\n"));
    assert_non_null(strstr(out.data, "Access-Control-Allow-Methods: POST"));
    assert_non_null(strstr(out.data, "Content-Length: 0\r\n"));
    cg_buf_free(&out);
    cookie_req(&r);
    r.method = "OPTIONS";
    r.origin = "https://evil.test";
    assert_int_equal(cg_http_admit(&conf, &r), -1);
    assert_int_equal(r.err, CG_E_CROSS_SITE);
    cg_buf_init(&out);
    cg_http_response(&r, &out);
    assert_non_null(strstr(out.data, "Status: 403 Forbidden\r\n"));
    assert_non_null(strstr(out.data, "\"cross_site_request\""));
    assert_null(strstr(out.data, "Access-Control"));
    cg_buf_free(&out);
    /* Where preflights are answered, a 405 names OPTIONS as allowed. */
    cookie_req(&r);
    r.method = "GET";
    assert_int_equal(cg_http_admit(&conf, &r), -1);
    assert_int_equal(r.err, CG_E_METHOD);
    cg_buf_init(&out);
    cg_http_response(&r, &out);
    assert_non_null(strstr(out.data, "\r\nAllow: POST, OPTIONS\r\n"));
    cg_buf_free(&out);
}


static int
set(const char *section, const char *name, const char *value)
{
    const cg_conf_section_t *const *sec;
    const cg_conf_cmd_t            *cmd;
    char                            err[256];

    for (sec = cg_conf_registry; *sec; sec++) {
        if ((*sec)->flags & CG_CONF_NAMED || strcmp((*sec)->name, section)) {
            continue;
        }
        for (cmd = (*sec)->cmds; cmd->name; cmd++) {
            if (strcmp(cmd->name, name) == 0) {
                return cmd->set(cmd, (char *) &conf + (*sec)->offset, value,
                                err, sizeof(err));
            }
        }
    }
    fail_msg("no row [%s] %s", section, name);
    return -1;
}


static void
test_config_rows(void **state)
{
    (void) state;
    assert_int_equal(set("http", "allowed_origins",
                         "https://a.test, http://127.0.0.1:8080"), 0);
    assert_int_equal(set("http", "allowed_origins", "https://a.test/"), -1);
    assert_int_equal(set("http", "allowed_origins", "https://a.test/x"), -1);
    assert_int_equal(set("http", "allowed_origins", "a.test"), -1);
    assert_int_equal(set("http", "allowed_origins", "https://"), -1);
    assert_int_equal(set("http", "allowed_origins", ""), 0);
    assert_int_equal(set("session", "mode", "php-files, jwt,signed"), 0);
    assert_true(cg_conf_list_has(&conf.session.mode, CG_SESSION_JWT));
    assert_false(cg_conf_list_has(&conf.session.mode,
                                  CG_SESSION_PHP_MEMCACHED));
    assert_int_equal(set("session", "mode", "signed, cookie"), -1);
    assert_int_equal(set("session", "mode", " , "), -1);
    assert_int_equal(set("session", "php_serializer", "php_serialize"), 0);
    assert_int_equal(set("session", "php_serializer", "php, php"), -1);
    assert_int_equal(set("session", "php_serializer", "php_binary"), -1);
    assert_int_equal(set("session", "jwt_secret", "hunter2"), -1);
    assert_int_equal(set("session", "jwt_secret", "env:JWT"), 0);
    assert_int_equal(set("http", "allow_missing_origin", "maybe"), -1);
    assert_int_equal(set("session", "mode", "signed"), 0);
    assert_int_equal(set("http", "allowed_origins",
                         "https://app.test, http://127.0.0.1:8080"), 0);
}


/* The request's fields come from the params in one pass: each the first
 * of its name, SCRIPT_NAME only when REQUEST_URI is absent, absent ones
 * NULL (even over a request that had them), and a second watched param
 * named. */
static void
test_params_one_pass(void **state)
{
    static char *const env[] = {
        "REQUEST_METHOD=POST", "SCRIPT_NAME=/s", "REQUEST_URI=/api/chat",
        "CONTENT_TYPE=application/json", "CONTENT_LENGTH=2",
        "HTTP_COOKIE=a=1", "HTTP_AUTHORIZATION=Bearer x",
        "REMOTE_ADDR=192.0.2.7", "HTTP_ORIGIN=https://app.test",
        "HTTP_REFERER=https://app.test/", "HTTP_SEC_FETCH_SITE=same-origin",
        "HTTP_X_FORWARDED_FOR=198.51.100.1", "HTTP_ACCEPT=*/*",
        "HTTP_X_API_KEY=k", "HTTP_ACCEPT=text/plain", "NOEQUALS",
        "REQUEST_URIX=/no", NULL };
    static char *const script[] = { "SCRIPT_NAME=/s", "HTTP_X=1", NULL };
    static char *const two[] = { "HTTP_CONTENT_TYPE=a/b",
                                 "HTTP_CONTENT_TYPE=c/d", NULL };
    cg_req_t r;

    (void) state;
    memset(&r, 0, sizeof(r));
    cg_http_params(&r, env);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.uri, "/api/chat");
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.content_length, "2");
    assert_string_equal(r.cookie, "a=1");
    assert_string_equal(r.authorization, "Bearer x");
    assert_string_equal(r.remote_addr, "192.0.2.7");
    assert_string_equal(r.origin, "https://app.test");
    assert_string_equal(r.referer, "https://app.test/");
    assert_string_equal(r.sec_fetch_site, "same-origin");
    assert_string_equal(r.forwarded_for, "198.51.100.1");
    assert_string_equal(r.accept, "*/*");          /* the first */
    assert_string_equal(r.x_api_key, "k");
    assert_null(r.dup_header);                     /* Accept is not watched */
    cg_http_params(&r, script);
    assert_string_equal(r.uri, "/s");
    assert_null(r.method);
    assert_null(r.cookie);
    assert_null(r.x_api_key);
    cg_http_params(&r, NULL);
    assert_null(r.uri);
    cg_http_params(&r, two);
    assert_string_equal(r.dup_header, "Content-Type");
    assert_null(r.content_type);
}


/* Issue 18: a header that admission or the who stage reads, sent twice,
 * is refused with 400 whatever form the web server passes it in: separate
 * params (nginx < 1.23) or one value joined with ", " (nginx 1.23+, Apache,
 * lighttpd) or "; " (Cookie). The first value never silently wins. */
static void
test_ambiguous_headers(void **state)
{
    static char *const env_dup[] = {
        "REQUEST_METHOD=POST", "HTTP_ORIGIN=https://app.test",
        "HTTP_ACCEPT=*/*", "HTTP_ORIGIN=https://evil.test", NULL };
    static char *const env_xff[] = {
        "HTTP_X_FORWARDED_FOR=1.2.3.4", "HTTP_X_FORWARDED_FOR=5.6.7.8", NULL };
    static char *const env_ok[] = {
        "HTTP_ORIGIN=https://app.test", "HTTP_ORIGINAL=x", "HTTP_X=1",
        "HTTP_X=2", "HTTP_COOKIE=a=1", NULL };
    static const struct { const char *field, *value; } joined[] = {
        { "origin", "https://app.test, https://evil.test" },
        { "origin", "https://app.test,https://app.test" },
        { "origin", "https://app.test https://evil.test" },
        { "sfs", "same-origin, cross-site" },
        { "referer", "https://app.test/, https://evil.test/" },
        { "auth", "Basic dTpw, Bearer cgt_x" },
        { "auth", "Bearer a,Bearer b" },
        { "ct", "application/json, text/plain" },
        { "cl", "5, 5" },
        { "cookie", "chatgate_session=v1.x.1.y; chatgate_session=v1.z" },
        { "cookie", "a=1, chatgate_session=v1.x, chatgate_session=v1.z" },
        { "cookie", "chatgate_session=v1.x;chatgate_session=" },
    };
    cg_req_t r;
    size_t   i;

    (void) state;
    assert_string_equal(cg_http_dup_param(env_dup), "Origin");
    assert_string_equal(cg_http_dup_param(env_xff), "X-Forwarded-For");
    assert_null(cg_http_dup_param(env_ok));
    assert_null(cg_http_dup_param(NULL));
    cookie_req(&r);
    r.dup_header = "Origin";
    assert_int_equal(admit(&r), CG_E_INVALID);
    assert_non_null(strstr(r.reason, "duplicated Origin header"));
    assert_null(r.cors_origin);
    for (i = 0; i < sizeof(joined) / sizeof(joined[0]); i++) {
        cookie_req(&r);
        switch (joined[i].field[1]) {
        case 'r': r.origin = joined[i].value; break;
        case 'f': r.sec_fetch_site = joined[i].value; break;
        case 'e': r.origin = NULL; r.referer = joined[i].value; break;
        case 'u': r.authorization = joined[i].value; break;
        case 't': r.content_type = joined[i].value; break;
        case 'l': r.content_length = joined[i].value; break;
        default:  r.cookie = joined[i].value; break;
        }
        if (admit(&r) != CG_E_INVALID || !strstr(r.reason, "ambiguous")) {
            fail_msg("%s '%s' not refused as ambiguous (%s)",
                     joined[i].field, joined[i].value, r.reason);
        }
    }
    /* Near misses: one value in its own syntax passes. */
    cookie_req(&r);
    r.cookie = "other=1; chatgate_session=v1.x.1.y; chatgate_sessionx=2";
    r.referer = "https://app.test/a,b?c=d,e";
    r.content_type = "application/json; charset=\"utf-8,x\"";
    r.content_length = "16";
    r.authorization = "Digest username=\"u\", realm=\"r\", nonce=\"n\"";
    r.forwarded_for = "10.0.0.1, 10.0.0.2";
    assert_int_equal(admit(&r), CG_OK);
}


/* A browser's cached Basic credentials ride along with its cookie: they do
 * not make a cookie request a script's, so the missing-Origin rule holds;
 * a Bearer token (which replaces the cookie) still lifts it. */
static void
test_basic_keeps_origin_rule(void **state)
{
    cg_req_t r;

    (void) state;
    cookie_req(&r);
    r.origin = NULL;
    r.authorization = "Basic dXNlcjpwYXNz";
    assert_int_equal(admit(&r), CG_E_CROSS_SITE);
    cookie_req(&r);
    r.origin = NULL;
    r.authorization = "Digest username=\"u\"";
    assert_int_equal(admit(&r), CG_E_CROSS_SITE);
    cookie_req(&r);
    r.origin = NULL;
    r.authorization = "Bearer v1.x.1.y";
    assert_int_equal(admit(&r), CG_OK);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_one_pass),
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
        cmocka_unit_test_setup_teardown(test_origin, origins_setup,
                                        origins_teardown),
        cmocka_unit_test_setup_teardown(test_referer_and_missing, origins_setup,
                                        origins_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_metadata_and_tokens, origins_setup,
                                        origins_teardown),
        cmocka_unit_test_setup_teardown(test_preflight, origins_setup,
                                        origins_teardown),
        cmocka_unit_test_setup_teardown(test_config_rows, origins_setup,
                                        origins_teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_headers, origins_setup,
                                        origins_teardown),
        cmocka_unit_test_setup_teardown(test_basic_keeps_origin_rule, origins_setup,
                                        origins_teardown),
    };

    return cmocka_run_group_tests_name("http", tests, setup, teardown);
}
