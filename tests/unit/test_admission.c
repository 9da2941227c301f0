/*
 * Unit tests for the cross-site rules of lib/http/http.c (Origin, Referer,
 * Sec-Fetch-Site, preflight, CORS headers), the client address of
 * lib/who/auth.c (trusted proxies, X-Forwarded-For), service tokens
 * (lib/who/svctoken.c) and lib/core/csv.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "who/auth.h"
#include "core/csv.h"
#include "http/http.h"
#include "core/req.h"
#include "who/svctoken.h"

static cg_conf_t conf;


static int
setup(void **state)
{
    char err[256];

    (void) state;
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
teardown(void **state)
{
    (void) state;
    cg_conf_free(&conf);
    return 0;
}


/* A same-origin cookie request that passes admission. */
static void
cookie_req(cg_req_t *r)
{
    memset(r, 0, sizeof(*r));
    cg_req_init(r, 0);
    r->method = "POST";
    r->uri = "/api/chat";
    r->content_type = "application/json";
    r->cookie = "chatgate_session=v1.x.1.y";
    r->origin = "https://app.test";
    snprintf(r->request_id, sizeof(r->request_id), "req_00112233aabbccdd");
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


static void
test_tokens(void **state)
{
    cg_token_t       *list = NULL;
    const cg_token_t *t;
    unsigned char     h[32];
    unsigned int      hl;
    char              hex[65], err[256];
    int               i;

    (void) state;
    EVP_Digest("cgt_secret1", 11, h, &hl, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    }
    assert_int_equal(cg_svctoken_conf(&list, "token a", "sha256", hex, err,
                                    sizeof(err)), 0);
    assert_int_equal(cg_svctoken_conf(&list, "token a", "routes",
                                    "default, reports", err, sizeof(err)), 0);
    assert_int_equal(cg_svctoken_conf(&list, "token b", "routes", "*", err,
                                    sizeof(err)), 0);
    /* b has no hash yet. */
    assert_int_equal(cg_svctoken_check(list, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[token b] sha256"));
    assert_int_equal(cg_svctoken_conf(&list, "token b", "sha256", "abc", err,
                                    sizeof(err)), -1);
    assert_int_equal(cg_svctoken_conf(&list, "token a b", "routes", "x", err,
                                    sizeof(err)), -1);
    assert_int_equal(cg_svctoken_conf(&list, "token a", "colour", "x", err,
                                    sizeof(err)), -1);
    t = cg_svctoken_find(list, "cgt_secret1", 11);
    assert_non_null(t);
    assert_string_equal(t->name, "a");
    assert_null(cg_svctoken_find(list, "cgt_secret2", 11));
    assert_null(cg_svctoken_find(list, "cgt_secret", 10));
    assert_true(cg_svctoken_route_allowed(t, "reports"));
    assert_true(cg_svctoken_route_allowed(t, "default"));
    assert_false(cg_svctoken_route_allowed(t, "report"));
    assert_false(cg_svctoken_route_allowed(t, "reports2"));
    assert_true(cg_svctoken_route_allowed(t->next, "anything"));
    cg_svctoken_free(list);
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


static void
test_csv(void **state)
{
    (void) state;
    assert_true(cg_csv_has(" a ,b,, c\t", "c", 1));
    assert_true(cg_csv_has("a,b", "a", 1));
    assert_false(cg_csv_has("ab,b", "a", 1));
    assert_false(cg_csv_has("", "", 0));
    assert_false(cg_csv_has(NULL, "a", 1));
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
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_referer_and_missing),
        cmocka_unit_test(test_fetch_metadata_and_tokens),
        cmocka_unit_test(test_preflight),
        cmocka_unit_test(test_client_addr),
        cmocka_unit_test(test_client_addr_many_hops),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_config_rows),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_ambiguous_headers),
        cmocka_unit_test(test_basic_keeps_origin_rule),
    };

    return cmocka_run_group_tests_name("admission", tests, setup, teardown);
}
