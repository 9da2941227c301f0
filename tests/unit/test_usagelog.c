/*
 * Unit tests for lib/log/usagelog.c (one JSON line per request), the JSON
 * string escaper in lib/core/buf.c and the UTF-8 decoder in lib/utf8.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "log/usagelog.h"
#include "core/utf8.h"

#define FFFD "\xef\xbf\xbd"


/* Parses text[0..n) strictly (whole input, UTF-8 validated); the caller
 * puts the result. Fails the test on a parse error. */
static json_object *
parse_strict(const char *text, size_t n)
{
    json_tokener *tok = json_tokener_new();
    json_object  *o;

    assert_non_null(tok);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, text, (int) n);
    if (o == NULL || json_tokener_get_parse_end(tok) != n) {
        json_object_put(o);
        json_tokener_free(tok);
        fail_msg("not strict JSON: %.*s", (int) n, text);
    }
    json_tokener_free(tok);
    return o;
}


/* No raw byte that could end or confuse a line: controls, DEL, U+2028,
 * U+2029, or anything that is not valid UTF-8. */
static void
assert_line_safe(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            fail_msg("raw control 0x%02x at %zu in %.*s", c, i, (int) n, s);
        }
        if (c == 0xe2 && i + 2 < n && (unsigned char) s[i + 1] == 0x80
            && ((unsigned char) s[i + 2] == 0xa8
                || (unsigned char) s[i + 2] == 0xa9)) {
            fail_msg("raw U+2028/9 at %zu", i);
        }
    }
    assert_true(cg_utf8_count(s, n) >= 0);
}


/* Escapes in[0..n), checks the exact output when want_json is given, and
 * that the output parses back to want[0..wn). */
static void
check_escape(const char *in, size_t n, const char *want_json,
             const char *want, size_t wn)
{
    cg_buf_t     b;
    json_object *o;

    cg_buf_init(&b);
    cg_buf_add_json_str(&b, in, n);
    assert_false(b.oom);
    assert_int_equal(strlen(b.data), b.len);
    if (want_json && strcmp(b.data, want_json) != 0) {
        fail_msg("escaped to %s, want %s", b.data, want_json);
    }
    assert_line_safe(b.data, b.len);
    o = parse_strict(b.data, b.len);
    assert_true(json_object_is_type(o, json_type_string));
    assert_int_equal((size_t) json_object_get_string_len(o), wn);
    assert_memory_equal(json_object_get_string(o), want, wn);
    json_object_put(o);
    cg_buf_free(&b);
}


#define ESC(in, json, want) \
    check_escape(in, sizeof(in) - 1, json, want, sizeof(want) - 1)


/* Invalid input: the decoded output must be prefix, then at least one and
 * at most nbad U+FFFD, then suffix. */
static void
check_replaced(const char *in, size_t n, const char *prefix,
               const char *suffix, size_t nbad)
{
    cg_buf_t     b;
    json_object *o;
    const char  *s;
    size_t       sn, pn = strlen(prefix), xn = strlen(suffix), k = 0;

    cg_buf_init(&b);
    cg_buf_add_json_str(&b, in, n);
    assert_line_safe(b.data, b.len);
    o = parse_strict(b.data, b.len);
    s = json_object_get_string(o);
    sn = (size_t) json_object_get_string_len(o);
    assert_true(sn >= pn + xn);
    assert_memory_equal(s, prefix, pn);
    assert_memory_equal(s + sn - xn, suffix, xn);
    for (s += pn, sn -= pn + xn; sn >= 3 && memcmp(s, FFFD, 3) == 0;
         s += 3, sn -= 3) {
        k++;
    }
    if (sn != 0 || k < 1 || k > nbad) {
        fail_msg("%s: %zu replacements, %zu bytes left", b.data, k, sn);
    }
    json_object_put(o);
    cg_buf_free(&b);
}


#define REPL(in, prefix, suffix, nbad) \
    check_replaced(in, sizeof(in) - 1, prefix, suffix, nbad)


/* ---- the escaper ------------------------------------------------------ */

static void
test_escape_basic(void **state)
{
    (void) state;
    ESC("", "\"\"", "");
    ESC("plain text 123", "\"plain text 123\"", "plain text 123");
    ESC("a\"b", "\"a\\\"b\"", "a\"b");
    ESC("a\\b", "\"a\\\\b\"", "a\\b");
    ESC("\\\"", "\"\\\\\\\"\"", "\\\"");
    ESC("a\nb", "\"a\\nb\"", "a\nb");
    ESC("a\rb", "\"a\\rb\"", "a\rb");
    ESC("a\tb", "\"a\\tb\"", "a\tb");
    ESC("\r\n", "\"\\r\\n\"", "\r\n");
    ESC("a/b", "\"a/b\"", "a/b");
    ESC("</script>", "\"</script>\"", "</script>");
}


static void
test_escape_controls(void **state)
{
    char     in[2], json[16], want[2];
    unsigned c;

    (void) state;
    ESC("\x01", "\"\\u0001\"", "\x01");
    ESC("\x1b[31m", "\"\\u001b[31m\"", "\x1b[31m");
    ESC("\x1f", "\"\\u001f\"", "\x1f");
    ESC("\b\f", "\"\\u0008\\u000c\"", "\b\f");
    ESC("\x7f", "\"\\u007f\"", "\x7f");
    ESC("a\0b", "\"a\\u0000b\"", "a\0b");
    /* Every C0 control and DEL, one by one. */
    for (c = 0; c < 0x80; c++) {
        if (c >= 0x20 && c != 0x7f) {
            continue;
        }
        in[0] = (char) c;
        want[0] = (char) c;
        if (c == '\n') {
            snprintf(json, sizeof(json), "\"\\n\"");
        } else if (c == '\r') {
            snprintf(json, sizeof(json), "\"\\r\"");
        } else if (c == '\t') {
            snprintf(json, sizeof(json), "\"\\t\"");
        } else {
            snprintf(json, sizeof(json), "\"\\u%04x\"", c);
        }
        check_escape(in, 1, json, want, 1);
    }
}


static void
test_escape_line_separators(void **state)
{
    (void) state;
    ESC("\xe2\x80\xa8", "\"\\u2028\"", "\xe2\x80\xa8");
    ESC("\xe2\x80\xa9", "\"\\u2029\"", "\xe2\x80\xa9");
    ESC("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c",
        "\"a\\u2028b\\u2029c\"", "a\xe2\x80\xa8" "b\xe2\x80\xa9" "c");
    /* Their neighbours are ordinary text. */
    ESC("\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"",
        "\xe2\x80\xa7\xe2\x80\xaa");
}


static void
test_escape_valid_utf8_passes(void **state)
{
    (void) state;
    ESC("caf\xc3\xa9", "\"caf\xc3\xa9\"", "caf\xc3\xa9");
    ESC("\xe2\x82\xac", "\"\xe2\x82\xac\"", "\xe2\x82\xac");
    ESC("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80");
    ESC("\xc2\x80", "\"\xc2\x80\"", "\xc2\x80");
    ESC("\xef\xbf\xbd", "\"\xef\xbf\xbd\"", "\xef\xbf\xbd");
    ESC("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"", "\xf4\x8f\xbf\xbf");
    ESC("\xe6\x97\xa5\xe6\x9c\xac\"\n",
        "\"\xe6\x97\xa5\xe6\x9c\xac\\\"\\n\"",
        "\xe6\x97\xa5\xe6\x9c\xac\"\n");
}


static void
test_escape_invalid_utf8(void **state)
{
    (void) state;
    ESC("\xff", "\"\\ufffd\"", FFFD);
    ESC("a\xff" "b", "\"a\\ufffdb\"", "a" FFFD "b");
    ESC("\xfe\xff", "\"\\ufffd\\ufffd\"", FFFD FFFD);
    REPL("\xc0\xaf", "", "", 2);                /* overlong '/' */
    REPL("\xe0\x80\xaf", "", "", 3);            /* overlong '/' */
    REPL("\xed\xa0\x80", "", "", 3);            /* surrogate D800 */
    REPL("x\xed\xbf\xbfy", "x", "y", 3);        /* surrogate DFFF */
    REPL("\xe2\x82", "", "", 2);                /* truncated */
    REPL("a\xe2\x82" "b", "a", "b", 2);
    REPL("\xf0\x9f\x98", "", "", 3);            /* truncated 4-byte */
    REPL("\xc3", "", "", 1);
    REPL("\x80", "", "", 1);                    /* lone continuation */
    REPL("\xf4\x90\x80\x80", "", "", 4);        /* > U+10FFFF */
    REPL("\xf5\x80\x80\x80", "", "", 4);
    /* A truncated sequence does not swallow the quote after it. */
    REPL("\xe2\"", "", "\"", 1);
    REPL("\xc3\\", "", "\\", 1);
    REPL("\xe2\x80\n", "", "\n", 2);
}


static void
test_escape_appends_and_null(void **state)
{
    cg_buf_t b;

    (void) state;
    cg_buf_init(&b);
    cg_buf_adds(&b, "{\"k\":");
    cg_buf_add_json_cstr(&b, "v\n");
    cg_buf_adds(&b, ",\"n\":");
    cg_buf_add_json_cstr(&b, NULL);
    cg_buf_addc(&b, '}');
    assert_string_equal(b.data, "{\"k\":\"v\\n\",\"n\":null}");
    cg_buf_free(&b);
}


/* Random bytes: the output always parses, is line-safe, and valid UTF-8
 * without U+2028/9 comes back unchanged. */
static void
test_escape_fuzz(void **state)
{
    unsigned char in[64];
    cg_buf_t      b;
    json_object  *o;
    unsigned      x = 1;
    size_t        n, i;
    int           iter, unchanged = 0;

    (void) state;
    cg_buf_init(&b);
    for (iter = 0; iter < 5000; iter++) {
        x = x * 1103515245u + 12345u;
        n = (x >> 16) % sizeof(in);
        for (i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            /* Bias towards the interesting bytes. */
            switch ((x >> 13) & 7) {
            case 0:  in[i] = (unsigned char) ((x >> 16) & 0x1f); break;
            case 1:  in[i] = (unsigned char) (0x80 | ((x >> 16) & 0x7f));
                     break;
            case 2:  in[i] = "\"\\\x7f\xe2\x80\xa8\xc3\xf0"[(x >> 16) % 8];
                     break;
            default: in[i] = (unsigned char) (x >> 16);
            }
        }
        cg_buf_reset(&b);
        cg_buf_add_json_str(&b, (const char *) in, n);
        assert_false(b.oom);
        assert_line_safe(b.data, b.len);
        o = parse_strict(b.data, b.len);
        if (cg_utf8_count((const char *) in, n) >= 0
            && memmem(in, n, "\xe2\x80\xa8", 3) == NULL
            && memmem(in, n, "\xe2\x80\xa9", 3) == NULL) {
            assert_int_equal((size_t) json_object_get_string_len(o), n);
            assert_memory_equal(json_object_get_string(o), in, n);
            unchanged++;
        }
        json_object_put(o);
    }
    cg_buf_free(&b);
    assert_true(unchanged > 100);
}


/* ---- cg_usagelog_format -------------------------------------------------- */

static const char *
get_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v)) {
        fail_msg("no field %s", key);
    }
    assert_true(json_object_is_type(v, json_type_string));
    return json_object_get_string(v);
}


static int64_t
get_int(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v)) {
        fail_msg("no field %s", key);
    }
    assert_true(json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}


static void
assert_null_field(json_object *o, const char *key)
{
    json_object *v = (json_object *) 1;

    if (!json_object_object_get_ex(o, key, &v)) {
        fail_msg("no field %s", key);
    }
    assert_null(v);
}


/* Formats r and checks the line shape; returns the parsed object. */
static json_object *
format_line(const cg_req_t *r, const cg_usage_ctx_t *u, double now,
            double wall, cg_buf_t *b)
{
    char *nl;

    cg_usagelog_format(r, u, now, wall, b);
    assert_false(b->oom);
    assert_true(b->len > 2);
    assert_int_equal(strlen(b->data), b->len);
    nl = strchr(b->data, '\n');
    assert_non_null(nl);
    assert_ptr_equal(nl, b->data + b->len - 1);
    assert_null(strchr(b->data, '\r'));
    assert_line_safe(b->data, b->len - 1);
    return parse_strict(b->data, b->len - 1);
}


#define EVIL "a\r\nb\"c\x1b[2Jd\xe2\x80\xa8" "e\xff" "f\\g"
#define EVIL_DECODED "a\r\nb\"c\x1b[2Jd\xe2\x80\xa8" "e" FFFD "f\\g"


static void
test_format_hostile_fields(void **state)
{
    static const cg_usage_ctx_t u = { "/api/chat", "test-model",
                                      "0123456789ab" };
    cg_req_t     r;
    cg_buf_t     b;
    json_object *o;
    json_object *v;

    (void) state;
    memset(&r, 0, sizeof(r));
    cg_req_init(&r, 100.0);
    cg_buf_init(&b);
    snprintf(r.request_id, sizeof(r.request_id), "req_%s", EVIL);
    snprintf(r.user, sizeof(r.user), "%s", EVIL);
    r.remote_addr = EVIL;
    r.input_tokens = 12;
    r.output_tokens = 34;
    r.retry_after = 17;
    cg_req_fail(&r, CG_E_RATE_LIMITED, NULL, "over limit: %s", EVIL);

    o = format_line(&r, &u, 100.5, 1700000000.25, &b);
    assert_int_equal(get_int(o, "v"), 1);
    assert_string_equal(get_str(o, "event"), "request");
    assert_string_equal(get_str(o, "ts"), "2023-11-14T22:13:20.250Z");
    assert_int_equal(get_int(o, "status"), 429);
    assert_string_equal(get_str(o, "error"), "rate_limited");
    assert_string_equal(get_str(o, "user"), EVIL_DECODED);
    assert_string_equal(get_str(o, "request_id"), "req_" EVIL_DECODED);
    assert_string_equal(get_str(o, "reason"), "over limit: " EVIL_DECODED);
    assert_string_equal(get_str(o, "remote_addr"), EVIL_DECODED);
    assert_string_equal(get_str(o, "route"), "/api/chat");
    assert_string_equal(get_str(o, "model"), "test-model");
    assert_string_equal(get_str(o, "key_id"), "0123456789ab");
    assert_int_equal(get_int(o, "input_tokens"), 12);
    assert_int_equal(get_int(o, "output_tokens"), 34);
    assert_true(json_object_object_get_ex(o, "latency_ms", &v));
    assert_true(json_object_get_double(v) > 499.9
                && json_object_get_double(v) < 500.1);
    assert_true(json_object_object_get_ex(o, "upstream_ms", &v));
    json_object_put(o);

    /* Hostile route, model and key id too. */
    {
        cg_usage_ctx_t bad = { EVIL, EVIL, EVIL };

        o = format_line(&r, &bad, 100.5, 1700000000.25, &b);
        assert_string_equal(get_str(o, "route"), EVIL_DECODED);
        assert_string_equal(get_str(o, "model"), EVIL_DECODED);
        assert_string_equal(get_str(o, "key_id"), EVIL_DECODED);
        json_object_put(o);
    }

    cg_buf_free(&b);
    cg_req_destroy(&r);
}


static void
test_format_ok(void **state)
{
    static const cg_usage_ctx_t u = { "/api/chat", "m", "0123456789ab" };
    cg_req_t     r;
    cg_buf_t     b;
    json_object *o;

    (void) state;
    memset(&r, 0, sizeof(r));
    cg_req_init(&r, 10.0);
    cg_buf_init(&b);
    snprintf(r.request_id, sizeof(r.request_id), "req_0123456789abcdef");
    snprintf(r.user, sizeof(r.user), "alice");
    r.remote_addr = "192.0.2.1";
    r.input_tokens = 5;
    r.output_tokens = 7;
    r.upstream_ms = 12.5;

    o = format_line(&r, &u, 10.25, 1700000000.0, &b);
    assert_int_equal(get_int(o, "status"), 200);
    assert_null_field(o, "error");
    assert_null_field(o, "reason");
    assert_string_equal(get_str(o, "user"), "alice");
    assert_string_equal(get_str(o, "request_id"), "req_0123456789abcdef");
    assert_string_equal(get_str(o, "remote_addr"), "192.0.2.1");
    assert_string_equal(get_str(o, "ts"), "2023-11-14T22:13:20.000Z");
    assert_int_equal(get_int(o, "input_tokens"), 5);
    assert_int_equal(get_int(o, "output_tokens"), 7);
    json_object_put(o);

    /* An answered CORS preflight is logged as what the client got. */
    r.preflight = 1;
    o = format_line(&r, &u, 10.25, 1700000000.0, &b);
    assert_int_equal(get_int(o, "status"), 204);
    json_object_put(o);
    r.preflight = 0;

    /* No user yet (failed before the session stage), no remote address:
     * JSON null, not an empty string. The buffer is reused. */
    r.user[0] = '\0';
    r.remote_addr = NULL;
    cg_req_fail(&r, CG_E_UNAUTHORIZED, NULL, "no session token");
    o = format_line(&r, &u, 10.25, 1700000000.0, &b);
    assert_null_field(o, "user");
    assert_null_field(o, "remote_addr");
    assert_int_equal(get_int(o, "status"), 401);
    assert_string_equal(get_str(o, "error"), "authentication_error");
    assert_string_equal(get_str(o, "reason"), "no session token");
    json_object_put(o);

    cg_buf_free(&b);
    cg_req_destroy(&r);
}


static void
test_format_every_error(void **state)
{
    static const cg_usage_ctx_t u = { "/api/chat", "m", "k" };
    cg_req_t     r;
    cg_buf_t     b;
    json_object *o;
    int          e;

    (void) state;
    cg_buf_init(&b);
    memset(&r, 0, sizeof(r));
    for (e = 1; e < CG_E__COUNT; e++) {
        cg_req_init(&r, 0);
        cg_req_fail(&r, (cg_err_t) e, NULL, "reason %d", e);
        o = format_line(&r, &u, 0, 0, &b);
        assert_int_equal(get_int(o, "status"), cg_err_status((cg_err_t) e));
        assert_string_equal(get_str(o, "error"), cg_err_type((cg_err_t) e));
        json_object_put(o);
    }
    cg_buf_free(&b);
    cg_req_destroy(&r);
}


/* ---- the log file ----------------------------------------------------- */

static char *
slurp(const char *path)
{
    FILE  *f = fopen(path, "r");
    char  *s;
    long   n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    s = calloc(1, (size_t) n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    return s;
}


static void
line_of(cg_buf_t *b, const char *text)
{
    cg_buf_reset(b);
    cg_buf_adds(b, text);
}


static void
test_log_write_and_reopen(void **state)
{
    char          dir[] = "/tmp/cg-test-usagelog-XXXXXX";
    char          path[128], rotated[128], err[256], *s;
    cg_usagelog_t log;
    cg_buf_t      b;
    struct stat   st;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/usage.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/usage.log.1", dir);
    cg_buf_init(&b);

    assert_int_equal(cg_usagelog_open(&log, path, err, sizeof(err)), 0);
    assert_true(log.fd >= 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0137, 0);     /* at most 0640 */

    line_of(&b, "{\"n\":1}\n");
    assert_int_equal(cg_usagelog_write(&log, &b), 0);
    s = slurp(path);
    assert_string_equal(s, "{\"n\":1}\n");
    free(s);

    line_of(&b, "{\"n\":2}\n");
    assert_int_equal(cg_usagelog_write(&log, &b), 0);

    /* logrotate: rename, then the old fd still writes to the old file. */
    assert_int_equal(rename(path, rotated), 0);
    line_of(&b, "{\"n\":3}\n");
    assert_int_equal(cg_usagelog_write(&log, &b), 0);
    assert_int_not_equal(access(path, F_OK), 0);

    assert_int_equal(cg_usagelog_reopen(&log), 0);
    line_of(&b, "{\"n\":4}\n");
    assert_int_equal(cg_usagelog_write(&log, &b), 0);

    s = slurp(rotated);
    assert_string_equal(s, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    free(s);
    s = slurp(path);
    assert_string_equal(s, "{\"n\":4}\n");
    free(s);

    /* An existing file is appended to, not truncated. */
    cg_usagelog_close(&log);
    assert_int_equal(log.fd, -1);
    assert_int_equal(cg_usagelog_open(&log, path, err, sizeof(err)), 0);
    line_of(&b, "{\"n\":5}\n");
    assert_int_equal(cg_usagelog_write(&log, &b), 0);
    s = slurp(path);
    assert_string_equal(s, "{\"n\":4}\n{\"n\":5}\n");
    free(s);

    /* A buffer that ran out of memory is not written half. */
    b.oom = 1;
    assert_int_equal(cg_usagelog_write(&log, &b), -1);
    b.oom = 0;
    cg_usagelog_close(&log);
    assert_int_equal(cg_usagelog_write(&log, &b), -1);

    cg_buf_free(&b);
    unlink(path);
    unlink(rotated);
    assert_int_equal(rmdir(dir), 0);
}


static void
test_log_format_then_write(void **state)
{
    static const cg_usage_ctx_t u = { "/api/chat", "m", "0123456789ab" };
    char          dir[] = "/tmp/cg-test-usagelog-XXXXXX";
    char          path[128], err[256], *s;
    cg_usagelog_t log;
    cg_req_t      r;
    cg_buf_t      b;
    json_object  *o;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/usage.log", dir);
    cg_buf_init(&b);
    memset(&r, 0, sizeof(r));
    cg_req_init(&r, 0);
    snprintf(r.user, sizeof(r.user), "%s", EVIL);
    cg_req_fail(&r, CG_E_INVALID, NULL, "%s", EVIL);
    cg_usagelog_format(&r, &u, 1, 1700000000, &b);

    assert_int_equal(cg_usagelog_open(&log, path, err, sizeof(err)), 0);
    assert_int_equal(cg_usagelog_write(&log, &b), 0);
    assert_int_equal(cg_usagelog_write(&log, &b), 0);
    cg_usagelog_close(&log);

    /* Exactly two lines, each the formatted one. */
    s = slurp(path);
    assert_int_equal(strlen(s), 2 * b.len);
    assert_memory_equal(s, b.data, b.len);
    assert_memory_equal(s + b.len, b.data, b.len);
    o = parse_strict(s, b.len - 1);
    assert_string_equal(get_str(o, "user"), EVIL_DECODED);
    json_object_put(o);
    free(s);

    cg_buf_free(&b);
    cg_req_destroy(&r);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}


static void
test_log_open_fails(void **state)
{
    cg_usagelog_t log;
    char          err[256] = "";

    (void) state;
    assert_int_equal(cg_usagelog_open(&log, "/nonexistent-dir/usage.log",
                                      err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/usage.log"));
    assert_int_equal(log.fd, -1);
    assert_null(log.path);
}


/* ---- utf8 ------------------------------------------------------------- */

#define COUNT(s) cg_utf8_count(s, sizeof(s) - 1)

static void
test_utf8_count(void **state)
{
    unsigned cp = 0;

    (void) state;
    assert_int_equal(COUNT(""), 0);
    assert_int_equal(COUNT("abc"), 3);
    assert_int_equal(COUNT("a\0b"), 3);
    assert_int_equal(COUNT("\xc3\xa9"), 1);
    assert_int_equal(COUNT("caf\xc3\xa9"), 4);
    assert_int_equal(COUNT("\xe2\x82\xac"), 1);
    assert_int_equal(COUNT("\xf0\x9f\x98\x80"), 1);
    assert_int_equal(COUNT("\xc2\x80"), 1);                 /* U+0080 */
    assert_int_equal(COUNT("\xdf\xbf"), 1);                 /* U+07FF */
    assert_int_equal(COUNT("\xe0\xa0\x80"), 1);             /* U+0800 */
    assert_int_equal(COUNT("\xed\x9f\xbf"), 1);             /* U+D7FF */
    assert_int_equal(COUNT("\xee\x80\x80"), 1);             /* U+E000 */
    assert_int_equal(COUNT("\xef\xbf\xbf"), 1);             /* U+FFFF */
    assert_int_equal(COUNT("\xf0\x90\x80\x80"), 1);         /* U+10000 */
    assert_int_equal(COUNT("\xf4\x8f\xbf\xbf"), 1);         /* U+10FFFF */
    assert_int_equal(COUNT("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 5);

    assert_int_equal(COUNT("\xff"), -1);
    assert_int_equal(COUNT("\xfe"), -1);
    assert_int_equal(COUNT("\x80"), -1);
    assert_int_equal(COUNT("\xbf"), -1);
    assert_int_equal(COUNT("\xc0\xaf"), -1);                /* overlong */
    assert_int_equal(COUNT("\xc1\xbf"), -1);                /* overlong */
    assert_int_equal(COUNT("\xe0\x9f\xbf"), -1);            /* overlong */
    assert_int_equal(COUNT("\xf0\x8f\xbf\xbf"), -1);        /* overlong */
    assert_int_equal(COUNT("\xed\xa0\x80"), -1);            /* surrogate */
    assert_int_equal(COUNT("\xed\xbf\xbf"), -1);            /* surrogate */
    assert_int_equal(COUNT("\xf4\x90\x80\x80"), -1);        /* > 10FFFF */
    assert_int_equal(COUNT("\xf5\x80\x80\x80"), -1);
    assert_int_equal(COUNT("\xc3"), -1);                    /* truncated */
    assert_int_equal(COUNT("\xe2\x82"), -1);
    assert_int_equal(COUNT("\xf0\x9f\x98"), -1);
    assert_int_equal(COUNT("\xc3\x28"), -1);                /* bad cont. */
    assert_int_equal(COUNT("\xe2\x28\xa1"), -1);
    assert_int_equal(COUNT("abc\xff"), -1);
    /* Only n bytes are read. */
    assert_int_equal(cg_utf8_count("\xc3\xa9", 1), -1);
    assert_int_equal(cg_utf8_count("ab\xff", 2), 2);

    assert_int_equal(cg_utf8_decode((const unsigned char *) "\xe2\x82\xac",
                                    3, &cp), 3);
    assert_int_equal(cp, 0x20ac);
    assert_int_equal(cg_utf8_decode((const unsigned char *) "\xf0\x9f\x98"
                                    "\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(cg_utf8_decode((const unsigned char *) "A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(cg_utf8_decode((const unsigned char *) "\xe2\x82\xac",
                                    2, &cp), 0);
    assert_int_equal(cg_utf8_decode((const unsigned char *) "", 0, &cp), 0);
}


/* A write that only fits in part (here a file size limit, in production
 * a full disk): the file is cut back to the line's start, so it holds
 * whole lines only and the next line is not glued to a fragment. Runs in
 * a child, which owns the size limit. */
static void
short_write_child(const char *path)
{
    cg_usagelog_t log;
    char          err[256], text[400];
    cg_buf_t      b;
    struct rlimit rl;
    struct stat   sb;

    signal(SIGXFSZ, SIG_IGN);
    if (cg_usagelog_open(&log, path, err, sizeof(err)) != 0) {
        _exit(10);
    }
    cg_buf_init(&b);
    cg_buf_adds(&b, "{\"v\":1,\"n\":1}\n");
    if (cg_usagelog_write(&log, &b) != 0 || stat(path, &sb) != 0) {
        _exit(11);
    }
    rl.rlim_cur = rl.rlim_max = (rlim_t) sb.st_size + 100;
    setrlimit(RLIMIT_FSIZE, &rl);
    memset(text, 'x', sizeof(text));
    cg_buf_reset(&b);
    cg_buf_adds(&b, "{\"v\":1,\"n\":2,\"pad\":\"");
    cg_buf_add(&b, text, sizeof(text));
    cg_buf_adds(&b, "\"}\n");
    if (cg_usagelog_write(&log, &b) != -1) {
        _exit(12);          /* only 100 bytes fit */
    }
    if (stat(path, &sb) != 0 || (rlim_t) sb.st_size + 100 != rl.rlim_cur) {
        _exit(13);          /* the fragment was not cut */
    }
    cg_buf_reset(&b);
    cg_buf_adds(&b, "{\"v\":1,\"n\":3}\n");
    if (cg_usagelog_write(&log, &b) != 0) {
        _exit(14);
    }
    cg_buf_free(&b);
    cg_usagelog_close(&log);
    _exit(0);
}


static void
test_log_short_write_cut(void **state)
{
    char   path[] = "/tmp/cg-usage-short-XXXXXX", buf[256];
    int    fd = mkstemp(path), status = 0;
    pid_t  pid;
    ssize_t n;

    (void) state;
    assert_true(fd >= 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        short_write_child(path);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "{\"v\":1,\"n\":1}\n{\"v\":1,\"n\":3}\n");
    close(fd);
    unlink(path);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_basic),
        cmocka_unit_test(test_escape_controls),
        cmocka_unit_test(test_escape_line_separators),
        cmocka_unit_test(test_escape_valid_utf8_passes),
        cmocka_unit_test(test_escape_invalid_utf8),
        cmocka_unit_test(test_escape_appends_and_null),
        cmocka_unit_test(test_escape_fuzz),
        cmocka_unit_test(test_format_hostile_fields),
        cmocka_unit_test(test_format_ok),
        cmocka_unit_test(test_format_every_error),
        cmocka_unit_test(test_log_write_and_reopen),
        cmocka_unit_test(test_log_format_then_write),
        cmocka_unit_test(test_log_open_fails),
        cmocka_unit_test(test_log_short_write_cut),
        cmocka_unit_test(test_utf8_count),
    };

    return cmocka_run_group_tests_name("usagelog", tests, NULL, NULL);
}
