/*
 * The one end of a request (lib/pipeline/chat.c, cg_chat_end): a request
 * run through the real pipeline (signed session, local store, guards,
 * provider call) to an early failure leaves none of its prompt, its
 * personal data or the PII map's originals in the buffers a worker
 * thread keeps for the next request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pipeline/chat.h"
#include "core/clock.h"
#include "who/signed.h"

#define PROMPT  "the-secret-prompt-7f3a"
#define EMAIL   "anna.private@example.com"

static char dir[] = "/tmp/cg-test-chat-XXXXXX";
static char paths[4][64];


static const char *
put(int i, const char *name, const char *text)
{
    FILE *f;

    snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, name);
    f = fopen(paths[i], "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(paths[i], 0600), 0);
    return paths[i];
}


/* A config whose provider cannot be reached: the request fails (502)
 * after the guards ran and the provider call was built. */
static void
load(cg_conf_t *conf)
{
    char ini[1024], err[512];

    assert_non_null(mkdtemp(dir));
    put(0, "session.secret", "test-session-secret-0123456789abcdef");
    put(1, "provider.key", "fake-provider-key-xxxxxxxx");
    snprintf(ini, sizeof(ini),
             "[session]\nsecret = file:%s\n"
             "[provider]\napi_key = file:%s\n"
             "base_url = http://127.0.0.1:1\n"
             "[store]\ntype = local\npath = %s/counters\n"
             "[budget]\nuser_daily = 1000\n"
             "[price claude-sonnet-4-5]\ninput = 3\noutput = 15\n",
             paths[0], paths[1], dir);
    put(2, "chatgate.ini", ini);
    assert_int_equal(cg_conf_init(conf, err, sizeof(err)), 0);
    if (cg_conf_load(conf, paths[2], err, sizeof(err)) != 0
        || cg_conf_load_secrets(conf, err, sizeof(err)) != 0) {
        fail_msg("config: %s", err);
    }
}


/* Whether needle is anywhere in b's memory, not only its contents (all
 * of it written once wiped; read only then, for valgrind). */
static int
holds(const cg_buf_t *b, const char *needle)
{
    return b->data != NULL
           && memmem(b->data, b->cap, needle, strlen(needle)) != NULL;
}


static void
assert_wiped(const cg_buf_t *b, const char *what)
{
    if (holds(b, PROMPT) || holds(b, EMAIL)) {
        fail_msg("%s still holds the request's text", what);
    }
}


static void
test_end_wipes(void **state)
{
    cg_conf_t  conf;
    cg_chat_t  c;
    cg_req_t   r;
    cg_out_t   out = { NULL, NULL, NULL, NULL };
    char       err[512], tok[512], auth[600];
    const char body[] = "{\"message\":\"" PROMPT " mail me at " EMAIL "\"}";

    (void) state;
    load(&conf);
    if (cg_chat_init(&c, &conf, err, sizeof(err)) != 0) {
        fail_msg("chat: %s", err);
    }
    assert_true(cg_signed_sign_key(&conf.session.keys[0], "alice",
                                   cg_clock_now() + 600, tok, sizeof(tok)) > 0);
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    memset(&r, 0, sizeof(r));
    cg_req_init(&r, 0);
    r.method = "POST";
    r.authorization = auth;
    r.remote_addr = "127.0.0.1";
    r.body = body;
    r.body_len = strlen(body);
    cg_chat_handle(&c, &r, &out);
    assert_int_equal(r.err, CG_E_UPSTREAM);
    /* The pipeline held the request: the provider call, the PII map. */
    assert_non_null(memmem(c.call.data, c.call.len, PROMPT, strlen(PROMPT)));
    assert_true(c.guards.map.n > 0);
    /* The budget was settled, and answered: the meter's queue of
     * unanswered settlements holds the one slot it landed in, not 32
     * (70 kB in every request context). */
    assert_int_equal(c.meter.npcap, 1);

    cg_chat_end(&c, &r);
    assert_wiped(&c.call, "the provider call");
    assert_wiped(&c.resp, "the provider response");
    assert_wiped(&c.delta, "the delta");
    assert_wiped(&c.gdelta, "the guarded delta");
    assert_wiped(&c.guards.tmp, "the guards' scratch");
    assert_wiped(&c.guards.tmp2, "the guards' second scratch");
    assert_wiped(&r.text, "the answer");
    assert_int_equal(c.guards.map.n, 0);     /* originals wiped, freed */
    assert_null(r.message);
    assert_null(r.msgs);
    assert_null(r.body);

    cg_req_destroy(&r);
    cg_chat_free(&c);
    cg_conf_free(&conf);
    unlink(paths[0]);
    unlink(paths[1]);
    unlink(paths[2]);
    snprintf(paths[3], sizeof(paths[3]), "%s/counters", dir);
    unlink(paths[3]);
    rmdir(dir);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_wipes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
