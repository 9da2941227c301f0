/*
 * Unit tests for lib/core/jtok.c, the field-picking JSON reader, held to
 * json-c (the parser it replaces for provider answers): on a corpus of
 * valid and invalid documents and on documents generated and mutated from
 * a fixed seed, both must agree on accept/reject (json-c as chatgate ran
 * it: strict, UTF-8 checked, depth 32, one object, nothing after it) and on
 * the type and value at every picked path. The one deliberate difference:
 * jtok also refuses what is not UTF-8 by RFC 3629 (overlong forms,
 * surrogates, above U+10FFFF), which json-c lets through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/jtok.h"
#include "core/utf8.h"
#include "jcref.h"

static const char *const paths[] = {
    "content", "content[0].text", "content[1].type", "usage.input_tokens",
    "usage", "a", "a[0]", "a[1].b", "a.b", "b", "stop_reason",
    "choices[0].message.content", "error.type", "k", "x.y.z", NULL
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]) - 1)


/* The value at path in a json-c tree: 1 and *out (NULL for JSON null), or
 * 0 when it is not there. */
static int
jc_path(json_object *o, const char *path, json_object **out)
{
    char        seg[64];
    const char *p = path;
    size_t      n;

    while (*p) {
        if (*p == '[') {
            n = strcspn(p, "]") + 1;
            if (!json_object_is_type(o, json_type_array)
                || (size_t) atoi(p + 1) >= json_object_array_length(o)) {
                return 0;
            }
            o = json_object_array_get_idx(o, (size_t) atoi(p + 1));
        } else {
            n = strcspn(p, ".[");
            memcpy(seg, p, n);
            seg[n] = '\0';
            if (!json_object_is_type(o, json_type_object)
                || !json_object_object_get_ex(o, seg, &o)) {
                return 0;
            }
        }
        p += n;
        p += *p == '.';
    }
    *out = o;
    return 1;
}


static int
jc_type(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null:    return CG_JTOK_NULL;
    case json_type_boolean: return CG_JTOK_BOOL;
    case json_type_int:     return CG_JTOK_INT;
    case json_type_double:  return CG_JTOK_DOUBLE;
    case json_type_string:  return CG_JTOK_STRING;
    case json_type_array:   return CG_JTOK_ARRAY;
    default:                return CG_JTOK_OBJECT;
    }
}


static void
dump(const char *s, size_t len)
{
    size_t i;

    fprintf(stderr, "document (%zu bytes): ", len);
    for (i = 0; i < len; i++) {
        fprintf(stderr, (unsigned char) s[i] >= 0x20 && s[i] < 0x7f
                        ? "%c" : "\\x%02x", (unsigned char) s[i]);
    }
    fprintf(stderr, "\n");
}


static void
check_value(const char *s, size_t len, size_t i, json_object *root,
            const cg_jtok_val_t *v)
{
    json_object *o = NULL;
    cg_buf_t     b;
    long long    n;

    if (!jc_path(root, paths[i], &o)) {
        if (v->type != CG_JTOK_ABSENT) {
            dump(s, len);
        }
        assert_int_equal(v->type, CG_JTOK_ABSENT);
        return;
    }
    if (v->type != jc_type(o)) {
        dump(s, len);
        fprintf(stderr, "path %s\n", paths[i]);
    }
    assert_int_equal(v->type, jc_type(o));
    if (v->type == CG_JTOK_STRING) {
        cg_buf_init(&b);
        assert_int_equal(cg_jtok_str(v, &b), 0);
        assert_int_equal(b.len, (size_t) json_object_get_string_len(o));
        assert_memory_equal(b.len ? b.data : "", json_object_get_string(o),
                            b.len);
        cg_buf_free(&b);
    } else if (v->type == CG_JTOK_INT) {
        assert_int_equal(cg_jtok_int(v, &n), 0);
        assert_true(n == (long long) json_object_get_int64(o));
    }
}


/* What jtok finds inside a picked value, against json-c: every path
 * within an object (cg_jtok_sub), every element of an array
 * (cg_jtok_next). */
static void
check_inside(const char *s, size_t len, json_object *root, size_t i,
             const cg_jtok_val_t *v)
{
    cg_jtok_val_t sub[CG_JTOK_PATHS], e;
    json_object  *o = NULL;
    size_t        j, pos = 0, n = 0;

    if (!jc_path(root, paths[i], &o)) {
        return;
    }
    if (v->type == CG_JTOK_OBJECT) {
        assert_int_equal(cg_jtok_sub(v, paths, sub), 0);
        for (j = 0; j < NPATHS; j++) {
            check_value(s, len, j, o, &sub[j]);
        }
    } else {
        assert_int_equal(cg_jtok_sub(v, paths, sub), -1);
    }
    while (cg_jtok_next(v, &pos, &e)) {
        assert_true(n < json_object_array_length(o));
        assert_int_equal(e.type,
                         jc_type(json_object_array_get_idx(o, n)));
        n++;
    }
    if (v->type == CG_JTOK_ARRAY) {
        assert_int_equal(n, json_object_array_length(o));
    }
}


/* One document through both; returns 1 if it was accepted. */
static int
differ(const char *s, size_t len)
{
    cg_jtok_val_t vals[CG_JTOK_PATHS];
    json_object  *root = jc_parse(s, len);
    int           want, got;
    size_t        i;

    want = root != NULL && cg_utf8_count(s, len) >= 0;
    got = cg_jtok_pick(s, len, paths, vals) == 0;
    if (want != got) {
        dump(s, len);
        fprintf(stderr, "json-c %s it, jtok %s it\n",
                root ? "accepts" : "refuses", got ? "accepts" : "refuses");
    }
    assert_int_equal(got, want);
    for (i = 0; got && i < NPATHS; i++) {
        check_value(s, len, i, root, &vals[i]);
        check_inside(s, len, root, i, &vals[i]);
    }
    json_object_put(root);
    return got;
}


#define DIFF(lit) differ(lit, sizeof(lit) - 1)

static void
test_jtok_corpus(void **state)
{
    static const char *const docs[] = {
        "{}", " {} ", "\t{\n}\r\n", "{\"a\":1}", "{\"a\":1}x", "{\"a\":1}}",
        "[1]", "\"s\"", "1", "", " ", "{", "{\"a\":1", "{\"a\"}", "{\"a\"1}",
        "{,}", "{\"a\":1,}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":[1 2]}",
        "{\"a\":1 2}", "{\"a\":\"x\"\"y\"}", "{'a':1}", "{\"a\":'x'}",
        "{'a\"b':1}", "{'a\\'':1}", "{\"a\":1/*c*/}", "{\"a\":1}//",
        "{\"a\":true}", "{\"a\":True}", "{\"a\":tru}", "{\"a\":truex}",
        "{\"a\":false}", "{\"a\":null}", "{\"a\":nul}", "{\"a\":Null}",
        "{\"a\":NaN}", "{\"a\":nan}", "{\"a\":-NaN}", "{\"a\":Infinity}",
        "{\"a\":-Infinity}", "{\"a\":infinity}", "{\"a\":-infinity}",
        "{\"a\":[-Infinity,NaN,Infinity]}", "{\"a\":Infinityx}",
        "{\"a\":0}", "{\"a\":-0}", "{\"a\":00}", "{\"a\":01}", "{\"a\":-01}",
        "{\"a\":-00}", "{\"a\":000}", "{\"a\":0001}", "{\"a\":1.}",
        "{\"a\":-.5}", "{\"a\":.5}", "{\"a\":1.e5}", "{\"a\":1e}",
        "{\"a\":1e+}", "{\"a\":1E5}", "{\"a\":1e-5}", "{\"a\":1.5e3.2}",
        "{\"a\":0.0}", "{\"a\":00.5}", "{\"a\":-}", "{\"a\":--1}",
        "{\"a\":[-]}", "{\"a\":1-2}", "{\"a\":1.-5}", "{\"a\":-e5}",
        "{\"a\":1+5}", "{\"a\":0x10}", "{\"a\":+1}", "{\"a\":1ee5}",
        "{\"a\":1.5.}", "{\"a\":-.}", "{\"a\":-.e1}", "{\"a\":1.e}",
        "{\"a\":99999999999999999999}", "{\"a\":18446744073709551615}",
        "{\"a\":9223372036854775807}", "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775808}", "{\"a\":-9223372036854775809}",
        "{\"a\":-99999999999999999999}", "{\"a\":1e999}",
        "{\"a\":\"x\ny\"}", "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\ud800\\n\"}", "{\"a\":\"\\ud83d\\ude00\"}",
        "{\"a\":\"\\ud800x\"}", "{\"a\":\"\\ud800\\ud800\"}",
        "{\"a\":\"\\ud800\\ud800\\udc00\"}", "{\"a\":\"\\ud800\\x\"}",
        "{\"a\":\"\\ud800\\u12\"}", "{\"a\":\"\\ud800\\\"}",
        "{\"a\":\"\\ud800\"", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\U0041\"}", "{\"a\":\"\\u00e9\\u20AC\"}",
        "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}", "{\"a\":\"\\'\"}",
        "{\"a\":\"\xc3\xa9\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\x80\"}",
        "{\"a\":\"\xf8\"}", "{\"a\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}",
        "{\"a\":\"\x7f\x01\x1f\"}", "{\"a\x0b\":1}", "\x0b{\"a\":1}",
        "\f{\"a\":1}", "\xef\xbb\xbf{}", "{\"k\\u0000x\":1}",
        "{\"a\":1,\"a\":2}", "{\"a\":[1],\"a\":{\"b\":2}}",
        "{\"a\":{\"b\":1},\"a\":5}", "{\"\\u0061\":[7,{\"b\":\"c\"}]}",
        "{\"a\":[[],{},[{}]],\"b\":{\"c\":[]}}",
        "{\"x\":{\"y\":{\"z\":\"deep\"}},\"x\":{\"y\":{}}}",
        "{\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}],"
        "\"usage\":{\"input_tokens\":12,\"output_tokens\":3},"
        "\"stop_reason\":\"end_turn\"}",
        "{\"choices\":[{\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        "\"message\":\"Overloaded\"}}",
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        differ(docs[i], strlen(docs[i]));
    }
    /* Bytes a C string cannot hold. */
    assert_int_equal(DIFF("{\"a\":\"x\0y\"}"), 0);
    assert_int_equal(DIFF("{\"a\":1}\0"), 0);
    assert_int_equal(DIFF("{\"a\":1\0}"), 0);
}


/* {"a": n brackets around inner }, through both. */
static int
nest(size_t n, const char *inner)
{
    char   doc[256];
    size_t len = 0, i;

    memcpy(doc, "{\"a\":", 5);
    len = 5;
    for (i = 0; i < n; i++) {
        doc[len++] = '[';
    }
    len += (size_t) snprintf(doc + len, sizeof(doc) - len, "%s", inner);
    for (i = 0; i < n; i++) {
        doc[len++] = ']';
    }
    doc[len++] = '}';
    return differ(doc, len);
}


/* Nesting: the document is level 0 and a value may sit at level 31. */
static void
test_jtok_depth(void **state)
{
    size_t n;

    (void) state;
    for (n = 26; n <= 34; n++) {
        nest(n, "");
        nest(n, "1");
        nest(n, "{}");
        nest(n, "{\"b\":2}");
    }
    assert_int_equal(nest(30, "1"), 1);
    assert_int_equal(nest(31, "1"), 0);
    assert_int_equal(nest(31, ""), 1);
    assert_int_equal(nest(30, "{}"), 1);
    assert_int_equal(nest(30, "{\"b\":2}"), 0);
}


/* What json-c lets through and jtok does not: bytes that are not UTF-8 by
 * RFC 3629 inside a string. */
static void
test_jtok_strict_utf8(void **state)
{
    static const char *const bad[] = {
        "{\"a\":\"\xc0\x80\"}",                 /* overlong NUL */
        "{\"a\":\"\xe0\x80\xaf\"}",             /* overlong '/' */
        "{\"a\":\"\xed\xa0\x80\"}",             /* a surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}",         /* above U+10FFFF */
        "{\"a\":\"\xf7\xbf\xbf\xbf\"}",
        "{\"\xc1\xbf\":1}",                     /* in a key */
    };
    cg_jtok_val_t vals[CG_JTOK_PATHS];
    json_object  *o;
    size_t        i;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = jc_parse(bad[i], strlen(bad[i]));
        assert_non_null(o);
        json_object_put(o);
        assert_int_equal(cg_jtok_pick(bad[i], strlen(bad[i]), paths, vals),
                         -1);
        assert_int_equal(vals[0].type, CG_JTOK_ABSENT);
    }
}


static void
test_jtok_next(void **state)
{
    static const char doc[] =
        "{\"content\" : [ {\"type\":\"text\",\"text\":\"a\\u00e9\"} , 5,"
        "[1,[2]], \"s\",{} ] }";
    static const char *const p[] = { "content", NULL };
    cg_jtok_val_t v, e;
    size_t        pos = 0;
    char          s[8];
    int           types[8], n = 0;

    (void) state;
    assert_int_equal(cg_jtok_pick(doc, sizeof(doc) - 1, p, &v), 0);
    assert_int_equal(v.type, CG_JTOK_ARRAY);
    while (cg_jtok_next(&v, &pos, &e) && n < 8) {
        types[n++] = e.type;
        if (e.type == CG_JTOK_STRING) {
            assert_int_equal(cg_jtok_cstr(&e, s, sizeof(s)), 0);
            assert_string_equal(s, "s");
        }
    }
    assert_int_equal(n, 5);
    assert_int_equal(types[0], CG_JTOK_OBJECT);
    assert_int_equal(types[1], CG_JTOK_INT);
    assert_int_equal(types[2], CG_JTOK_ARRAY);
    assert_int_equal(types[3], CG_JTOK_STRING);
    assert_int_equal(types[4], CG_JTOK_OBJECT);
    /* An empty array and a value that is none. */
    pos = 0;
    assert_int_equal(cg_jtok_pick("{\"content\":[ ]}", 15, p, &v), 0);
    assert_int_equal(cg_jtok_next(&v, &pos, &e), 0);
    assert_int_equal(cg_jtok_pick("{\"content\":7}", 13, p, &v), 0);
    assert_int_equal(cg_jtok_next(&v, &pos, &e), 0);
}


static void
test_jtok_cstr(void **state)
{
    static const char *const p[] = { "a", "b", "c", NULL };
    static const char doc[] =
        "{\"a\":\"end_turn\",\"b\":\"x\\u0000yz\",\"c\":\"0123456789\"}";
    cg_jtok_val_t v[3];
    char          s[16];

    (void) state;
    assert_int_equal(cg_jtok_pick(doc, sizeof(doc) - 1, p, v), 0);
    assert_int_equal(cg_jtok_cstr(&v[0], s, 10), 0);
    assert_string_equal(s, "end_turn");
    assert_int_equal(cg_jtok_cstr(&v[1], s, 10), 0);
    assert_string_equal(s, "x");                /* json-c's C string */
    assert_int_equal(cg_jtok_cstr(&v[2], s, 10), -1);
    assert_string_equal(s, "");
    assert_int_equal(cg_jtok_cstr(&v[2], s, 11), 0);       /* 10 + NUL */
    assert_string_equal(s, "0123456789");
}


/* --- generated documents --- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned
rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned) (rng % n);
}


static void gen_value(cg_buf_t *b, int depth);

static void
gen_string(cg_buf_t *b, int key)
{
    static const char *const keys[] = {
        "a", "b", "k", "content", "text", "type", "usage", "input_tokens",
        "stop_reason", "choices", "message", "error", "x", "y", "z",
        "\\u0061", "k\\u0000x", "a\\\"", "\\ud800", "",
    };
    static const char *const bits[] = {
        "x", "Hello", " ", "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\u20ac",
        "\\ud83d\\ude00", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\u0000",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x01", "\t", "'",
        "\\b\\f\\r\\t", "\\uD834\\uDD1E",
    };
    int n;

    cg_buf_addc(b, key && rnd(20) == 0 ? '\'' : '"');
    if (key && rnd(4)) {
        cg_buf_adds(b, keys[rnd(sizeof(keys) / sizeof(keys[0]))]);
    } else {
        for (n = (int) rnd(5); n > 0; n--) {
            cg_buf_adds(b, bits[rnd(sizeof(bits) / sizeof(bits[0]))]);
        }
    }
    cg_buf_addc(b, key && b->data[b->len - 1] != '\\' && rnd(20) == 0
                   ? '\'' : '"');
}


static void
gen_scalar(cg_buf_t *b)
{
    static const char *const nums[] = {
        "0", "1", "-1", "12", "00", "01", "-01", "-0", "1.5", "1.", "-.5",
        "1e5", "1E+2", "1e-3", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "true", "false",
        "null", "NaN", "Infinity", "-Infinity", "123456789012",
    };

    if (rnd(3) == 0) {
        gen_string(b, 0);
    } else {
        cg_buf_adds(b, nums[rnd(sizeof(nums) / sizeof(nums[0]))]);
    }
}


static void
gen_ws(cg_buf_t *b)
{
    static const char ws[] = " \t\r\n";

    if (rnd(6) == 0) {
        cg_buf_addc(b, ws[rnd(4)]);
    }
}


static void
gen_container(cg_buf_t *b, int depth, int object)
{
    int n, i;

    cg_buf_addc(b, object ? '{' : '[');
    n = (int) rnd(depth > 3 ? 2 : 5);
    for (i = 0; i < n; i++) {
        if (i) {
            cg_buf_addc(b, ',');
        }
        gen_ws(b);
        if (object) {
            gen_string(b, 1);
            gen_ws(b);
            cg_buf_addc(b, ':');
            gen_ws(b);
        }
        gen_value(b, depth + 1);
        gen_ws(b);
    }
    cg_buf_addc(b, object ? '}' : ']');
}


static void
gen_value(cg_buf_t *b, int depth)
{
    unsigned r = rnd(10);

    if (depth < 40 && (r < 2 || (depth > 6 && r < 5 && rnd(8) == 0))) {
        gen_container(b, depth, r == 0);
    } else if (r < 4 && depth < 40) {
        gen_container(b, depth, (int) (r & 1));
    } else {
        gen_scalar(b);
    }
}


/* Breaks a document a little: a byte dropped, changed, doubled, or the
 * end cut off. */
static void
mutate(cg_buf_t *b)
{
    static const char junk[] = "{}[],:\"'\\ \t0-.eE+naNIu\x80\xc3\xff";
    size_t            at;

    if (b->len == 0) {
        return;
    }
    at = rnd((unsigned) b->len);
    switch (rnd(4)) {
    case 0:
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
        break;
    case 1: b->data[at] = junk[rnd(sizeof(junk) - 1)]; break;
    case 2:
        cg_buf_addc(b, 0);
        memmove(b->data + at + 1, b->data + at, b->len - at - 1);
        b->data[at] = junk[rnd(sizeof(junk) - 1)];
        break;
    default: b->len = at;
    }
}


static void
test_jtok_generated(void **state)
{
    cg_buf_t b;
    int      i, m, ok = 0;

    (void) state;
    cg_buf_init(&b);
    for (i = 0; i < 30000; i++) {
        cg_buf_reset(&b);
        gen_container(&b, 0, 1);
        for (m = (int) rnd(4) - 1; m > 0; m--) {
            mutate(&b);
        }
        ok += differ(b.data, b.len);
    }
    cg_buf_free(&b);
    /* Both halves were exercised. */
    assert_true(ok > 3000);
    assert_true(ok < 27000);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jtok_corpus),
        cmocka_unit_test(test_jtok_depth),
        cmocka_unit_test(test_jtok_strict_utf8),
        cmocka_unit_test(test_jtok_next),
        cmocka_unit_test(test_jtok_cstr),
        cmocka_unit_test(test_jtok_generated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
