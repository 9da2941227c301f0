/*
 * Unit tests for lib/conf (the INI driver, the section registry and the
 * modules' sections) and lib/core/secret.c
 * (secret references, loading, fingerprints, key detection).
 *
 * Every key used here is an obviously fake run of 'A's or 'x's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "conf/config.h"
#include "core/secret.h"
#include "who/svctoken.h"

#define MAX_TMP 64

static char tmp_paths[MAX_TMP][64];
static int  tmp_count;

/* 32+ bytes: long enough for a session secret. */
static const char session_secret[] = "test-session-secret-0123456789abcdef";
static const char api_key[] = "fake-provider-key-xxxxxxxx";

/* The example key shape from the brief: fake, all 'A's. */
static const char fake_ant_key[] =
    "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char fake_proj_key[] =
    "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";


/* Writes data to a new file in /tmp with the given mode; the path is
 * removed by the teardown. */
static const char *
tmp_file(const char *data, size_t n, mode_t mode)
{
    char *path;
    int   fd;

    assert_true(tmp_count < MAX_TMP);
    path = tmp_paths[tmp_count];
    snprintf(path, sizeof(tmp_paths[0]), "/tmp/cg-test-config-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    tmp_count++;
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, n), (ssize_t) n);
    assert_int_equal(close(fd), 0);
    return path;
}


static const char *
tmp_text(const char *text, mode_t mode)
{
    return tmp_file(text, strlen(text), mode);
}


static int
teardown(void **state)
{
    int i;

    (void) state;
    for (i = 0; i < tmp_count; i++) {
        unlink(tmp_paths[i]);
    }
    tmp_count = 0;
    unsetenv("CG_TEST_SESSION_SECRET");
    unsetenv("CG_TEST_API_KEY");
    return 0;
}


/* A config with the two required references plus extra text, written to a
 * temp file. */
static const char *
write_config(const char *extra)
{
    char        buf[8192];
    const char *sec = tmp_text(session_secret, 0600);
    const char *key = tmp_text(api_key, 0600);

    snprintf(buf, sizeof(buf),
             "[session]\nsecret = file:%s\n"
             "[provider]\napi_key = file:%s\n%s", sec, key, extra);
    return tmp_text(buf, 0644);
}


/* Loads text as a config; returns cg_conf_load's result, err filled. */
static int
load_text(cg_conf_t *conf, const char *text, char *err, size_t errlen)
{
    const char *path = tmp_text(text, 0644);
    int         rc;

    err[0] = '\0';
    assert_int_equal(cg_conf_init(conf, err, errlen), 0);
    rc = cg_conf_load(conf, path, err, errlen);
    return rc;
}


static void
expect_load_error(const char *text, const char *needle)
{
    cg_conf_t conf;
    char      err[1024];

    if (load_text(&conf, text, err, sizeof(err)) != -1) {
        cg_conf_free(&conf);
        fail_msg("config accepted:\n%s", text);
    }
    if (needle && strstr(err, needle) == NULL) {
        cg_conf_free(&conf);
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
    }
    cg_conf_free(&conf);
}


/* The error must hold neither the key nor any 10-byte piece of it. */
static void
assert_no_piece_of(const char *err, const char *secret)
{
    size_t i, n = strlen(secret);

    assert_null(strstr(err, secret));
    for (i = 0; i + 10 <= n; i++) {
        if (memmem(err, strlen(err), secret + i, 10) != NULL) {
            fail_msg("error \"%s\" holds \"%.10s\"", err, secret + i);
        }
    }
}


static int
is_hex_fp(const char *fp)
{
    size_t i;

    if (strlen(fp) != CG_FP_LEN) {
        return 0;
    }
    for (i = 0; i < CG_FP_LEN; i++) {
        if (!((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a'
                                                  && fp[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}


/* ---- cg_conf_load ----------------------------------------------------- */

static int
online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > 1024 ? 1024 : (int) n;
}


static void
test_defaults(void **state)
{
    cg_conf_t conf;
    char      err[512];

    (void) state;
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    /* workers = auto: one event loop per CPU. */
    assert_int_equal(conf.server.workers, online_cpus());
    assert_int_equal(conf.server.threads, 1);
    assert_int_equal(conf.input.max_chars, 10000);
    assert_string_equal(conf.http.chat_path, "/api/chat");
    assert_int_equal(conf.limits.requests_per_minute, 20);
    assert_int_equal(conf.http.max_body, 65536);
    assert_int_equal(conf.server.socket_mode, 0660);
    assert_int_equal(conf.server.backlog, 511);
    assert_int_equal(conf.limits.on_store_error, 0);
    assert_int_equal(conf.session.ttl, 86400);
    assert_string_equal(conf.session.cookie_name, "chatgate_session");
    assert_int_equal(conf.provider.type, CG_PROVIDER_ANTHROPIC);
    assert_string_equal(conf.provider.base_url, "https://api.anthropic.com");
    assert_string_equal(conf.memcached.servers, "127.0.0.1:11211");
    assert_int_equal(conf.provider.max_tokens, 1024);
    assert_string_equal(conf.provider.system_prompt, "");
    /* The required ones have no default; the session secret is only
     * required for mode signed (checked after parsing). */
    assert_string_equal(conf.session.secret_ref, "");
    assert_null(conf.provider.api_key_ref);
    cg_conf_free(&conf);
}


static void
test_minimal_valid(void **state)
{
    cg_conf_t   conf;
    char        err[512];
    const char *path = write_config("");

    (void) state;
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    if (cg_conf_load(&conf, path, err, sizeof(err)) != 0) {
        fail_msg("load: %s", err);
    }
    assert_int_equal(conf.server.workers, online_cpus());
    assert_int_equal(conf.input.max_chars, 10000);
    assert_string_equal(conf.http.chat_path, "/api/chat");
    assert_int_equal(conf.limits.requests_per_minute, 20);
    assert_non_null(conf.session.secret_ref);
    assert_int_equal(strncmp(conf.session.secret_ref, "file:/tmp/", 10), 0);
    assert_int_equal(strncmp(conf.provider.api_key_ref, "file:/tmp/", 10), 0);

    if (cg_conf_load_secrets(&conf, err, sizeof(err)) != 0) {
        fail_msg("secrets: %s", err);
    }
    assert_int_equal(conf.session.secret.len, strlen(session_secret));
    assert_memory_equal(conf.session.secret.data, session_secret,
                        strlen(session_secret));
    assert_int_equal(conf.provider.api_key.len, strlen(api_key));
    assert_memory_equal(conf.provider.api_key.data, api_key, strlen(api_key));
    assert_true(is_hex_fp(conf.provider.api_key.fp));
    assert_string_equal(conf.provider.system_prompt_text, "");
    cg_conf_free(&conf);
    assert_null(conf.provider.api_key.data);
}


static void
test_overrides(void **state)
{
    cg_conf_t   conf;
    char        err[512];
    const char *path = write_config(
        "[server]\nworkers = 8\nsocket_mode = 0600\nchat_path = /v1/chat\n"
        "max_body = 1024\n"
        "[limits]\nrequests_per_minute = 0\non_store_error = allow\n"
        "[input]\nmax_chars = 5\n"
        "; a comment\n# another\n"
        "[provider]\nmodel = test-model ; inline comment\n");

    (void) state;
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    if (cg_conf_load(&conf, path, err, sizeof(err)) != 0) {
        fail_msg("load: %s", err);
    }
    assert_int_equal(conf.server.workers, 8);
    assert_int_equal(conf.server.socket_mode, 0600);
    assert_string_equal(conf.http.chat_path, "/v1/chat");
    assert_int_equal(conf.http.max_body, 1024);
    assert_int_equal(conf.limits.requests_per_minute, 0);
    assert_int_equal(conf.limits.on_store_error, 1);
    assert_int_equal(conf.input.max_chars, 5);
    assert_string_equal(conf.provider.model, "test-model");
    /* Untouched keys keep their defaults. */
    assert_int_equal(conf.server.backlog, 511);
    cg_conf_free(&conf);
}


/* The event-loop worker: "auto" is a worker per CPU, and a worker may
 * hold far more requests than the thread engine's 1,024 threads. */
static void
test_workers_auto(void **state)
{
    cg_conf_t   conf;
    char        err[512];
    const char *path = write_config("[server]\nworkers = auto\n"
                                    "threads = 5000\n");

    (void) state;
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    if (cg_conf_load(&conf, path, err, sizeof(err)) != 0) {
        fail_msg("load: %s", err);
    }
    assert_int_equal(conf.server.workers, online_cpus());
    assert_int_equal(conf.server.threads, 5000);
    cg_conf_free(&conf);
    expect_load_error("[server]\nworkers = 0\n", "[server] workers");
    expect_load_error("[server]\nthreads = 70000\n", "[server] threads");
}


static void
test_unknown_key(void **state)
{
    cg_conf_t conf;
    char      err[512];

    (void) state;
    assert_int_equal(load_text(&conf, "[server]\nworkers = 2\nbogus = 1\n",
                               err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[server] bogus"));
    assert_non_null(strstr(err, ":3:"));       /* the line */
    cg_conf_free(&conf);

    /* A known key in the wrong section is unknown there. */
    expect_load_error("[limits]\nworkers = 2\n", "[limits] workers");
    /* Keys before any section. */
    expect_load_error("workers = 2\n", NULL);
}


static void
test_unknown_section(void **state)
{
    (void) state;
    expect_load_error("[bogus]\nx = 1\n", "[bogus]");
    expect_load_error("[Server]\nworkers = 2\n", "[Server]");
}


static void
test_duplicate_key(void **state)
{
    (void) state;
    expect_load_error("[server]\nworkers = 2\nworkers = 3\n",
                      "[server] workers is set twice");
    /* Also when the section is opened twice. */
    expect_load_error("[server]\nworkers = 2\n[input]\nmax_chars = 9\n"
                      "[server]\nworkers = 2\n", "[server] workers");
}


static void
test_out_of_range(void **state)
{
    (void) state;
    expect_load_error("[server]\nworkers = 0\n", "[server] workers");
    expect_load_error("[server]\nworkers = 1025\n", "[server] workers");
    expect_load_error("[server]\nworkers = -1\n", "[server] workers");
    expect_load_error("[server]\nworkers = four\n", "[server] workers");
    expect_load_error("[server]\nworkers = 4x\n", "[server] workers");
    expect_load_error("[server]\nworkers = 99999999999999999999\n",
                      "[server] workers");
    expect_load_error("[server]\nworkers =\n", "[server] workers");
    expect_load_error("[server]\nmax_body = 63\n", "[server] max_body");
    expect_load_error("[server]\nsocket_mode = 0999\n",
                      "[server] socket_mode");
    expect_load_error("[server]\nsocket_mode = 01777\n",
                      "[server] socket_mode");
    expect_load_error("[limits]\nrequests_per_minute = -1\n",
                      "[limits] requests_per_minute");
    expect_load_error("[input]\nmax_chars = 0\n", "[input] max_chars");
    expect_load_error("[limits]\non_store_error = maybe\n",
                      "[limits] on_store_error");
    expect_load_error("[provider]\ntype = gemini\n", "[provider] type");
    expect_load_error("[server]\nchat_path = api/chat\n",
                      "[server] chat_path");
}


static void
expect_key_refused(const char *text, const char *key, const char *line)
{
    cg_conf_t conf;
    char      err[1024];

    if (load_text(&conf, text, err, sizeof(err)) != -1) {
        cg_conf_free(&conf);
        fail_msg("config with a key accepted");
    }
    cg_conf_free(&conf);
    if (strstr(err, line) == NULL) {
        fail_msg("error \"%s\" does not name line \"%s\"", err, line);
    }
    assert_no_piece_of(err, key);
}


static void
test_key_in_config_refused(void **state)
{
    char text[1024];

    (void) state;
    snprintf(text, sizeof(text),
             "[session]\nsecret = env:S\napi_key = %s\n", fake_ant_key);
    expect_key_refused(text, fake_ant_key, ":3:");

    snprintf(text, sizeof(text),
             "[session]\nsecret = env:S\n[provider]\napi_key = %s\n",
             fake_proj_key);
    expect_key_refused(text, fake_proj_key, ":4:");

    /* Only in a comment: still a leak, still refused. */
    snprintf(text, sizeof(text),
             "[session]\nsecret = env:S\n[provider]\napi_key = env:K\n"
             "# old key was %s\n", fake_ant_key);
    expect_key_refused(text, fake_ant_key, ":5:");

    snprintf(text, sizeof(text), "; %s\n[session]\n", fake_proj_key);
    expect_key_refused(text, fake_proj_key, ":1:");

    /* As a key name, a section name, or in quotes. */
    snprintf(text, sizeof(text), "[provider]\n%s = 1\n", fake_ant_key);
    expect_key_refused(text, fake_ant_key, ":2:");
    snprintf(text, sizeof(text), "[x]\n[%s]\n", fake_proj_key);
    expect_key_refused(text, fake_proj_key, ":2:");
    snprintf(text, sizeof(text), "[provider]\nmodel = \"%s\"\n",
             fake_ant_key);
    expect_key_refused(text, fake_ant_key, ":2:");
    /* With no line break at the end of the file. */
    snprintf(text, sizeof(text), "[provider]\n\n\nsystem_prompt = x%s",
             " " "sk-ant-api03-AAAAAAAAAAAAAAAA");
    expect_key_refused(text, "sk-ant-api03-AAAAAAAAAAAAAAAA", ":4:");
}


static void
test_plain_secret_refused(void **state)
{
    cg_conf_t conf;
    char      err[1024];

    (void) state;
    assert_int_equal(load_text(&conf,
                               "[session]\nsecret = hunter2hunter2\n"
                               "[provider]\napi_key = env:K\n",
                               err, sizeof(err)), -1);
    cg_conf_free(&conf);
    assert_non_null(strstr(err, "[session] secret"));
    assert_no_piece_of(err, "hunter2hunter2");
    assert_null(strstr(err, "hunter2"));

    assert_int_equal(load_text(&conf,
                               "[session]\nsecret = env:S\n"
                               "[provider]\napi_key = plainvalue-123456789\n",
                               err, sizeof(err)), -1);
    cg_conf_free(&conf);
    assert_non_null(strstr(err, "[provider] api_key"));
    assert_no_piece_of(err, "plainvalue-123456789");

    /* Near-misses of the reference forms. */
    expect_load_error("[session]\nsecret = env:\n", "[session] secret");
    expect_load_error("[session]\nsecret = file:relative/path\n",
                      "[session] secret");
    expect_load_error("[session]\nsecret = ENV:X\n", "[session] secret");
    expect_load_error("[session]\nsecret = file:\n", "[session] secret");
}


static void
test_required(void **state)
{
    const char *sec;
    char        text[512];

    (void) state;
    expect_load_error("", "[session] secret is required");
    sec = tmp_text(session_secret, 0600);
    snprintf(text, sizeof(text), "[session]\nsecret = file:%s\n", sec);
    expect_load_error(text, "[provider] api_key is required");
    expect_load_error("[provider]\napi_key = env:K\n",
                      "[session] secret is required");
}


static void
test_missing_file(void **state)
{
    cg_conf_t conf;
    char      err[512];

    (void) state;
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    assert_int_equal(cg_conf_load(&conf, "/nonexistent/chatgate.ini", err,
                                  sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/chatgate.ini"));
    cg_conf_free(&conf);
}


static void
test_syntax_error(void **state)
{
    (void) state;
    expect_load_error("[server\nworkers = 2\n", ":1:");
    expect_load_error("[server]\nworkers 2\n", ":2:");
}


/* ---- cg_conf_load_secrets -------------------------------------------- */

/* Loads a config naming the given references and then its secrets. */
static int
load_refs(cg_conf_t *conf, const char *sref, const char *kref, char *err,
          size_t errlen)
{
    char text[512];

    snprintf(text, sizeof(text),
             "[session]\nsecret = %s\n[provider]\napi_key = %s\n", sref,
             kref);
    if (load_text(conf, text, err, errlen) != 0) {
        fail_msg("load: %s", err);
    }
    return cg_conf_load_secrets(conf, err, errlen);
}


static void
test_secrets_env(void **state)
{
    cg_conf_t conf;
    char      err[512];

    (void) state;
    setenv("CG_TEST_SESSION_SECRET", session_secret, 1);
    setenv("CG_TEST_API_KEY", api_key, 1);
    if (load_refs(&conf, "env:CG_TEST_SESSION_SECRET", "env:CG_TEST_API_KEY",
                  err, sizeof(err)) != 0) {
        fail_msg("secrets: %s", err);
    }
    assert_int_equal(conf.session.secret.len, strlen(session_secret));
    assert_memory_equal(conf.session.secret.data, session_secret,
                        strlen(session_secret));
    assert_int_equal(conf.provider.api_key.len, strlen(api_key));
    assert_memory_equal(conf.provider.api_key.data, api_key, strlen(api_key));
    cg_conf_free(&conf);
    /* Read once, then gone from the environment; a reload still finds the
     * value that was read. */
    assert_null(getenv("CG_TEST_API_KEY"));
    assert_null(getenv("CG_TEST_SESSION_SECRET"));
    assert_int_equal(load_refs(&conf, "env:CG_TEST_SESSION_SECRET",
                               "env:CG_TEST_API_KEY", err, sizeof(err)), 0);
    assert_memory_equal(conf.provider.api_key.data, api_key, strlen(api_key));
    cg_conf_free(&conf);

    /* Unset (and never read). */
    cg_secret_env_clear();
    setenv("CG_TEST_SESSION_SECRET", session_secret, 1);
    unsetenv("CG_TEST_API_KEY");
    assert_int_equal(load_refs(&conf, "env:CG_TEST_SESSION_SECRET",
                               "env:CG_TEST_API_KEY", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "CG_TEST_API_KEY"));
    assert_non_null(strstr(err, "not set"));
    assert_null(strstr(err, session_secret));
    cg_conf_free(&conf);

    /* Set but empty. */
    setenv("CG_TEST_API_KEY", "", 1);
    assert_int_equal(load_refs(&conf, "env:CG_TEST_SESSION_SECRET",
                               "env:CG_TEST_API_KEY", err, sizeof(err)), -1);
    cg_conf_free(&conf);

    /* Session secret unset. */
    cg_secret_env_clear();
    unsetenv("CG_TEST_SESSION_SECRET");
    setenv("CG_TEST_API_KEY", api_key, 1);
    assert_int_equal(load_refs(&conf, "env:CG_TEST_SESSION_SECRET",
                               "env:CG_TEST_API_KEY", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[session] secret"));
    cg_conf_free(&conf);
    cg_secret_env_clear();
}


static void
test_secret_file_mode(void **state)
{
    cg_conf_t   conf;
    char        err[512], sref[128], kref[128];
    const char *sec = tmp_text(session_secret, 0644);
    const char *key = tmp_text(api_key, 0600);

    (void) state;
    snprintf(sref, sizeof(sref), "file:%s", sec);
    snprintf(kref, sizeof(kref), "file:%s", key);
    assert_int_equal(load_refs(&conf, sref, kref, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "others"));
    assert_null(strstr(err, session_secret));
    cg_conf_free(&conf);

    /* World-writable only, and group-readable (0640) is fine. */
    assert_int_equal(chmod(sec, 0602), 0);
    assert_int_equal(load_refs(&conf, sref, kref, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "others"));
    cg_conf_free(&conf);
    assert_int_equal(chmod(sec, 0640), 0);
    if (load_refs(&conf, sref, kref, err, sizeof(err)) != 0) {
        fail_msg("0640: %s", err);
    }
    cg_conf_free(&conf);

    /* The API key file too. */
    assert_int_equal(chmod(key, 0604), 0);
    assert_int_equal(load_refs(&conf, sref, kref, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[provider] api_key"));
    assert_non_null(strstr(err, "others"));
    assert_null(strstr(err, api_key));
    cg_conf_free(&conf);
}


static void
test_session_secret_too_short(void **state)
{
    cg_conf_t   conf;
    char        err[512], sref[128], kref[128];
    const char *key = tmp_text(api_key, 0600);
    const char *sec;

    (void) state;
    snprintf(kref, sizeof(kref), "file:%s", key);

    /* 31 bytes, then 31 bytes plus a newline (stripped): both refused. */
    sec = tmp_text("0123456789012345678901234567890", 0600);
    snprintf(sref, sizeof(sref), "file:%s", sec);
    assert_int_equal(load_refs(&conf, sref, kref, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "32"));
    assert_null(strstr(err, "0123456789"));
    cg_conf_free(&conf);

    sec = tmp_text("0123456789012345678901234567890\n", 0600);
    snprintf(sref, sizeof(sref), "file:%s", sec);
    assert_int_equal(load_refs(&conf, sref, kref, err, sizeof(err)), -1);
    cg_conf_free(&conf);

    /* Exactly 32 is enough. */
    sec = tmp_text("01234567890123456789012345678901", 0600);
    snprintf(sref, sizeof(sref), "file:%s", sec);
    if (load_refs(&conf, sref, kref, err, sizeof(err)) != 0) {
        fail_msg("32 bytes: %s", err);
    }
    assert_int_equal(conf.session.secret.len, 32);
    cg_conf_free(&conf);

    /* An empty file. */
    sec = tmp_text("", 0600);
    snprintf(sref, sizeof(sref), "file:%s", sec);
    assert_int_equal(load_refs(&conf, sref, kref, err, sizeof(err)), -1);
    cg_conf_free(&conf);

    /* A missing file. */
    assert_int_equal(load_refs(&conf, "file:/nonexistent/secret", kref, err,
                               sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/secret"));
    cg_conf_free(&conf);
}


static void
test_secret_trailing_newline(void **state)
{
    cg_conf_t   conf;
    char        err[512], sref[128], kref[128], buf[128];
    const char *sec, *key;

    (void) state;
    snprintf(buf, sizeof(buf), "%s\n", session_secret);
    sec = tmp_text(buf, 0600);
    snprintf(buf, sizeof(buf), "%s\r\n", api_key);
    key = tmp_text(buf, 0600);
    snprintf(sref, sizeof(sref), "file:%s", sec);
    snprintf(kref, sizeof(kref), "file:%s", key);
    if (load_refs(&conf, sref, kref, err, sizeof(err)) != 0) {
        fail_msg("secrets: %s", err);
    }
    assert_int_equal(conf.session.secret.len, strlen(session_secret));
    assert_memory_equal(conf.session.secret.data, session_secret,
                        strlen(session_secret));
    assert_int_equal(conf.provider.api_key.len, strlen(api_key));
    assert_memory_equal(conf.provider.api_key.data, api_key, strlen(api_key));
    assert_int_equal(conf.provider.api_key.data[conf.provider.api_key.len],
                     '\0');
    cg_conf_free(&conf);
}


static void
test_fingerprint(void **state)
{
    cg_secret_t   a, b, c;
    char          err[256], ref[128], fp[CG_FP_LEN + 1], hex[CG_FP_LEN + 1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen = 0, i;

    (void) state;
    snprintf(ref, sizeof(ref), "file:%s", tmp_text(api_key, 0600));
    assert_int_equal(cg_secret_load(&a, ref, err, sizeof(err)), 0);
    snprintf(ref, sizeof(ref), "file:%s", tmp_text("fake-provider-key-"
                                                   "xxxxxxxx\n", 0600));
    assert_int_equal(cg_secret_load(&b, ref, err, sizeof(err)), 0);
    setenv("CG_TEST_API_KEY", "fake-provider-key-xxxxxxxy", 1);
    assert_int_equal(cg_secret_load(&c, "env:CG_TEST_API_KEY", err,
                                    sizeof(err)), 0);

    assert_true(is_hex_fp(a.fp));
    assert_string_equal(a.fp, b.fp);
    assert_string_not_equal(a.fp, c.fp);

    /* It is the SHA-256 prefix of the bytes. */
    assert_int_equal(EVP_Digest(api_key, strlen(api_key), md, &mdlen,
                                EVP_sha256(), NULL), 1);
    for (i = 0; i < CG_FP_LEN / 2; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    assert_string_equal(a.fp, hex);
    cg_secret_fingerprint(api_key, strlen(api_key), fp);
    assert_string_equal(fp, hex);
    /* And never the key itself. */
    assert_null(strstr(api_key, a.fp));

    cg_secret_free(&a);
    cg_secret_free(&b);
    cg_secret_free(&c);
    assert_null(a.data);
    assert_int_equal(a.len, 0);
}


static void
test_secret_is_ref(void **state)
{
    (void) state;
    assert_true(cg_secret_is_ref("env:X"));
    assert_true(cg_secret_is_ref("file:/etc/chatgate/key"));
    assert_false(cg_secret_is_ref(NULL));
    assert_false(cg_secret_is_ref(""));
    assert_false(cg_secret_is_ref("env:"));
    assert_false(cg_secret_is_ref("file:"));
    assert_false(cg_secret_is_ref("file:key"));
    assert_false(cg_secret_is_ref("hunter2hunter2"));
    assert_false(cg_secret_is_ref("/etc/chatgate/key"));
}


static void
test_secret_symlink_refused(void **state)
{
    cg_secret_t s;
    char        err[256], link[128], ref[160];
    const char *target = tmp_text(api_key, 0600);

    (void) state;
    snprintf(link, sizeof(link), "%s.link", target);
    unlink(link);
    assert_int_equal(symlink(target, link), 0);
    snprintf(ref, sizeof(ref), "file:%s", link);
    assert_int_equal(cg_secret_load(&s, ref, err, sizeof(err)), -1);
    assert_null(strstr(err, api_key));
    unlink(link);
    cg_secret_free(&s);
}


/* ---- cg_secret_looks_like_key ---------------------------------------- */

static int
looks(const char *s)
{
    return cg_secret_looks_like_key(s, strlen(s));
}


static void
test_looks_like_key(void **state)
{
    static const char *yes[] = {
        "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA",
        "sk-ant-AAAA",                          /* 4 after the prefix */
        "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "sk-xxxxxxxxxxxxxxxxxxxx",              /* legacy, 20 */
        "api_key = sk-ant-api03-AAAAAAAAAAAAAAAAAAAA",
        "api_key=sk-ant-api03-AAAAAAAAAAAAAAAAAAAA",
        "\"sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
        "# sk-ant-api03-AAAAAAAAAAAAAAAAAAAA\n",
        "xxxxT3BlbkFJxxxx",
        "T3BlbkFJ",
        /* issue 18: the other providers' shapes */
        "gsk_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijkl",
        "xai-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "key=AKIAIOSFODNN7EXAMPLE",
        "(ASIAIOSFODNN7EXAMPLE)",
        "sk-or-v1-0123456789abcdef0123456789abcdef",
        "sk-svcacct-AbCdEfGhIjKlMnOpQrSt",
        "sk-admin-AbCdEfGhIjKlMnOpQrSt",
        "sk-ant-admin01-AbCd",
        "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpJQQJ99BAACOG"
        "AbCdEfGhIjKlMnOpQrSt",
        NULL
    };
    static const char *no[] = {
        "task-force-is-working-on-it",
        "disk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "disk-",
        "risk-assessment-for-the-quarterly-report",
        "whisk-whisk-whisk-whisk-whisk-whisk",
        "sk-ant-AAA",                           /* 3 after the prefix */
        "sk-xxxxxxxxxxxxxxxxxxx",               /* 19 */
        "sk-ant-",
        "sk-",
        "sk",
        "",
        "secret = env:CHATGATE_SESSION_SECRET",
        "api_key = file:/etc/chatgate/provider.key",
        "model = claude-sonnet-4-5",
        "T3Blbk",
        "gsk_short", "hf_hub_download", "AIzawa", "xai-grok-2",
        "AKIAbcdefghijklmnopq", "AKIAIOSFODNN7EXAMPLEXX", "XAKIAIOSFODNN7EXAMPLE",
        "5d41402abc4b2a76b9719d911017c592",     /* an MD5: config only */
        "skill-tree-of-the-quarterly-planning",
        NULL
    };
    int i;

    (void) state;
    for (i = 0; yes[i]; i++) {
        if (!looks(yes[i])) {
            fail_msg("not detected: %s", yes[i]);
        }
    }
    for (i = 0; no[i]; i++) {
        if (looks(no[i])) {
            fail_msg("false positive: %s", no[i]);
        }
    }
    /* Only the first n bytes count. */
    assert_false(cg_secret_looks_like_key("sk-ant-AAAA", 10));
    assert_true(cg_secret_looks_like_key("sk-ant-AAAA", 11));
    assert_false(cg_secret_looks_like_key("xT3BlbkFJ", 8));
    /* In a config file a bare 32-character key (Azure classic, Mistral)
     * counts too; a 64-hex sha256 or a 31-character word does not. */
    assert_true(cg_secret_config_has_key("; 5d41402abc4b2a76b9719d911017c592",
                                         34));
    assert_true(cg_secret_config_has_key("k = aBcD1234aBcD1234aBcD1234aBcD1234",
                                         36));
    assert_false(cg_secret_config_has_key("sha256 = 5d41402abc4b2a76b9719d91"
                                          "1017c5925d41402abc4b2a76b9719d911017"
                                          "c592", 73));
    assert_false(cg_secret_config_has_key("abcdefghijklmnopqrstuvwxyzabcdef",
                                          32));
    assert_true(cg_secret_config_has_key("gsk_AbCdEfGhIjKlMnOpQrStUvWx", 28));
    /* URL userinfo */
    assert_true(cg_secret_url_has_userinfo("https://u:p@api.example/v1"));
    assert_true(cg_secret_url_has_userinfo("http://tok@127.0.0.1:9"));
    assert_false(cg_secret_url_has_userinfo("https://api.example/v1?u=a@b"));
    assert_false(cg_secret_url_has_userinfo("https://api.example/a@b"));
    assert_false(cg_secret_url_has_userinfo(""));
    assert_false(cg_secret_url_has_userinfo(NULL));
}


/* The key scan once read the file with fgets() into a 4096-byte buffer, so a
 * key that straddles a 4095-byte boundary of a long line is seen as two
 * harmless halves. inih (200-byte lines) reads such a line as 199-byte
 * pieces, so a comment line whose every piece starts with '#' parses. */
static void
test_key_split_across_scan_buffer(void **state)
{
    static const char head[] = "[session]\nsecret = env:S\n"
                               "[provider]\napi_key = env:K\n";
    /* Short enough to end before inih's next 199-byte piece. */
    static const char key[] = "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char   text[8192];
    size_t n = sizeof(head) - 1, i, len = 4300;

    (void) state;
    memcpy(text, head, n);
    for (i = 0; i < len; i++) {
        text[n + i] = i % 199 == 0 ? '#' : '.';
    }
    /* "sk-ant-api" ends the first 4095-byte read, the rest begins the
     * next. */
    memcpy(text + n + 4095 - 10, key, strlen(key));
    text[n + len] = '\n';
    text[n + len + 1] = '\0';
    expect_key_refused(text, key, ":5:");
}


/* inih calls the handler only for name = value lines, so a section with
 * no keys must be caught by the config's own scan. */
static void
test_empty_unknown_section(void **state)
{
    (void) state;
    expect_load_error("[session]\nsecret = env:S\n[provider]\n"
                      "api_key = env:K\n[bogus]\n", "[bogus]");
}


/* ---- the driver and the registry ------------------------------------- */

/* A toy module, to test the driver apart from chatgate's own sections. */
typedef struct {
    char           *name;
    int             count;
    int             color;
    cg_conf_list_t  order;
    int             items;      /* [item NAME] keys seen */
    char            last[32];
    int             checked;
} toy_t;

enum { TOY_RED = 7, TOY_BLUE = 9 };

static const cg_conf_enum_t toy_colors[] = {
    { "red", TOY_RED }, { "blue", TOY_BLUE }, { NULL, 0 }
};

static const cg_conf_cmd_t toy_cmds[] = {
    { "toy", "name", cg_conf_set_str, offsetof(toy_t, name), NULL, 0, 0,
      "required" },
    { "toy", "count", cg_conf_set_int, offsetof(toy_t, count), "3", 1, 10,
      "a number" },
    { "toy", "color", cg_conf_set_enum, offsetof(toy_t, color), "blue", 0, 0,
      "a choice", NULL, toy_colors },
    { "toy", "order", cg_conf_set_list, offsetof(toy_t, order), "red", 0, 0,
      "a list", NULL, toy_colors },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

static int
toy_item(void *conf, const char *arg, const char *key, const char *value,
         char *err, size_t errlen)
{
    toy_t *t = conf;

    if (strcmp(key, "x") != 0) {
        return 1;
    }
    if (strcmp(value, "bad") == 0) {
        snprintf(err, errlen, "[item %s] x is bad", arg);
        return -1;
    }
    t->items++;
    snprintf(t->last, sizeof(t->last), "%s", arg);
    return 0;
}

static int
toy_check(void *conf, const cg_conf_ctx_t *ctx, char *err, size_t errlen)
{
    toy_t *t = conf;

    t->checked = 1 + cg_conf_was_set(ctx, "toy", "count");
    if (t->count == 5) {
        snprintf(err, errlen, "five is not allowed");
        return -1;
    }
    return 0;
}

static const cg_conf_section_t toy_section = {
    .name = "toy", .cmds = toy_cmds, .check = toy_check,
};
static const cg_conf_section_t toy_item_section = {
    .name = "item", .flags = CG_CONF_NAMED, .key = toy_item,
};
static const cg_conf_section_t *const toy_registry[] = {
    &toy_section, &toy_item_section, NULL
};


static int
toy_load(toy_t *t, const char *text, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    err[0] = '\0';
    assert_int_equal(cg_conf_reg_init(toy_registry, t, err, errlen), 0);
    return cg_conf_reg_load(toy_registry, t, tmp_text(text, 0644), err,
                            errlen);
}


static void
test_registry_driver(void **state)
{
    toy_t t;
    char  err[512];

    (void) state;
    /* Defaults come from the rows, through the same setters. */
    assert_int_equal(toy_load(&t, "[toy]\nname = a\n", err, sizeof(err)), 0);
    assert_string_equal(t.name, "a");
    assert_int_equal(t.count, 3);
    assert_int_equal(t.color, TOY_BLUE);
    assert_int_equal(t.order.n, 1);
    assert_int_equal(t.order.v[0], TOY_RED);
    assert_int_equal(t.checked, 1);         /* count not set in the file */
    cg_conf_reg_free(toy_registry, &t);
    assert_null(t.name);

    /* Choices become their enum values, lists keep their order. */
    assert_int_equal(toy_load(&t, "[toy]\nname = a\ncolor = red\n"
                              "order = blue, red,blue\ncount = 4\n", err,
                              sizeof(err)), 0);
    assert_int_equal(t.color, TOY_RED);
    assert_int_equal(t.order.n, 3);
    assert_int_equal(t.order.v[0], TOY_BLUE);
    assert_int_equal(t.order.v[1], TOY_RED);
    assert_int_equal(t.checked, 2);
    cg_conf_reg_free(toy_registry, &t);

    /* Named sections go to their hook, with the name. */
    assert_int_equal(toy_load(&t, "[toy]\nname = a\n[item one]\nx = 1\n"
                              "[item  two]\nx = 2\n", err, sizeof(err)), 0);
    assert_int_equal(t.items, 2);
    assert_string_equal(t.last, "two");
    cg_conf_reg_free(toy_registry, &t);

#define TOY_REFUSED(text, needle) do {                                    \
        assert_int_equal(toy_load(&t, text, err, sizeof(err)), -1);       \
        if (strstr(err, needle) == NULL) {                                \
            fail_msg("error \"%s\" does not mention \"%s\"", err, needle); \
        }                                                                 \
        cg_conf_reg_free(toy_registry, &t);                               \
    } while (0)

    TOY_REFUSED("[toy]\nname = a\ncolor = green\n",
                "[toy] color must be red or blue");
    TOY_REFUSED("[toy]\nname = a\norder = red, green\n",
                "[toy] order must be a list of red or blue");
    TOY_REFUSED("[toy]\nname = a\norder = ,\n", "[toy] order is empty");
    TOY_REFUSED("[toy]\nname = a\nsize = 1\n", "unknown key [toy] size");
    TOY_REFUSED("[toy]\nname = a\n[box]\nx = 1\n", "unknown section [box]");
    TOY_REFUSED("[toy]\nname = a\n[box]\n", "unknown section [box]");
    /* A plain section is not a named one, nor the other way round. */
    TOY_REFUSED("[toy]\nname = a\n[item]\nx = 1\n", "unknown section [item]");
    TOY_REFUSED("[toy one]\nname = a\n", "unknown section [toy one]");
    TOY_REFUSED("[toy]\nname = a\n[item one]\ny = 1\n",
                "unknown key [item one] y");
    TOY_REFUSED("[toy]\nname = a\n[item one]\nx = bad\n",
                "[item one] x is bad");
    TOY_REFUSED("[toy]\nname = a\nname = b\n", "[toy] name is set twice");
    TOY_REFUSED("[toy]\ncount = 2\n", "[toy] name is required");
    TOY_REFUSED("[toy]\nname = a\ncount = 11\n",
                "[toy] count must be a number from 1 to 10");
    /* The module's own check runs after the file is read. */
    TOY_REFUSED("[toy]\nname = a\ncount = 5\n", "five is not allowed");
#undef TOY_REFUSED
}


/* chatgate's own registry: every default passes its own setter (init
 * would fail otherwise), no key is declared twice for a section, named
 * sections have a hook, every row is documented. */
static void
test_registry_sections(void **state)
{
    const cg_conf_section_t *const *s, *const *t;
    const cg_conf_cmd_t            *a, *b;
    int                             named = 0;

    (void) state;
    for (s = cg_conf_registry; *s; s++) {
        if ((*s)->flags & CG_CONF_NAMED) {
            named++;
            assert_non_null((*s)->key);
            assert_non_null((*s)->doc_name);
        }
        for (a = (*s)->cmds; a && a->name; a++) {
            assert_non_null(a->doc);
            assert_true(a->doc[0] != '\0');
            for (t = s; *t; t++) {
                if (strcmp((*t)->name, (*s)->name) != 0
                    || ((*t)->flags & CG_CONF_NAMED)
                       != ((*s)->flags & CG_CONF_NAMED)) {
                    continue;
                }
                for (b = (*t)->cmds; b && b->name; b++) {
                    if (b != a && strcmp(a->name, b->name) == 0) {
                        fail_msg("[%s] %s is declared twice", (*s)->name,
                                 a->name);
                    }
                }
            }
        }
    }
    /* [route NAME], [key NAME], [token NAME], [price MODEL] */
    assert_int_equal(named, 4);
}


static void
test_registry_named_and_enums(void **state)
{
    cg_conf_t   conf;
    char        err[1024];
    const char *path;

    (void) state;
    path = write_config(
        "[session]\nmode = php-files, signed,jwt\njwt_secret = env:X\n"
        "php_serializer = php_serialize\n"
        "[log]\non_write_error = continue\nsyslog_facility = daemon\n"
        "[store]\ntype = local\n"
        "[limits]\non_store_error = local\nauth_failures_per_minute = 7\n"
        "[route fast]\napi_key = env:K\nmodel = m\nprovider = openai\n"
        "auth = api-key\n"
        "[route slow]\napi_key = env:K\nmodel = n\nmax_tokens_param = "
        "max_tokens\n"
        "[price m]\ninput = 3\n"
        "[token svc]\nsha256 = "
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\n"
        "[key main]\nsource = env:K\nenvironment = production\n");
    assert_int_equal(cg_conf_init(&conf, err, sizeof(err)), 0);
    if (cg_conf_load(&conf, path, err, sizeof(err)) != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(conf.session.mode.n, 3);
    assert_int_equal(conf.session.mode.v[0], CG_SESSION_PHP_FILES);
    assert_int_equal(conf.session.mode.v[1], CG_SESSION_SIGNED);
    assert_int_equal(conf.session.mode.v[2], CG_SESSION_JWT);
    assert_int_equal(conf.session.php_serializer, 1);
    assert_int_equal(conf.session.auth_failures_per_minute, 7);
    assert_int_equal(conf.log.on_write_error, CG_LOG_WRITE_CONTINUE);
    assert_int_equal(conf.log.syslog_facility, LOG_DAEMON);
    assert_int_equal(conf.store.type, CG_STORE_LOCAL);
    assert_int_equal(conf.limits.on_store_error, CG_FAIL_LOCAL);
    assert_int_equal(conf.provider.nroutes, 3);  /* default, fast, slow */
    assert_string_equal(conf.provider.routes[1].name, "fast");
    assert_int_equal(conf.provider.routes[1].provider, CG_PROVIDER_OPENAI);
    assert_int_equal(conf.provider.routes[1].auth, CG_AUTH_API_KEY);
    assert_string_equal(conf.provider.routes[1].base_url,
                        "https://api.openai.com/v1");
    /* auto is decided at load: the newer name for api.openai.com. */
    assert_int_equal(conf.provider.routes[1].max_tokens_param,
                     CG_TOKPARAM_MAX_COMPLETION_TOKENS);
    assert_int_equal(conf.provider.routes[2].max_tokens_param,
                     CG_TOKPARAM_MAX_TOKENS);
    assert_int_equal(conf.provider.routes[0].auth, CG_AUTH_DEFAULT);
    assert_int_equal(conf.budget.nprices, 1);
    assert_int_equal(conf.budget.prices[0].input, 3000000);
    assert_non_null(conf.session.tokens);
    assert_string_equal(conf.session.tokens->name, "svc");
    assert_int_equal(conf.provider.keys.n, 1);
    assert_string_equal(conf.provider.keys.v[0].name, "main");
    cg_conf_free(&conf);

    expect_load_error("[route]\nmodel = m\n", "unknown section [route]");
    expect_load_error("[route bad/name]\nmodel = m\n", "a route name is");
    expect_load_error("[route r]\nmodel = m\napi_key = env:K\ncolour = 1\n",
                      "unknown key [route r] colour");
    expect_load_error("[route r]\nmodel = m\napi_key = env:K\n"
                      "auth = basic\n", "[route] auth must be bearer, "
                      "api-key or x-api-key (or empty)");
    expect_load_error("[price m]\nin = 3\n", "unknown key [price m] in");
    expect_load_error("[session]\nmode = signed, cookie\n",
                      "[session] mode must be a list of signed, jwt, "
                      "php-files or php-memcached");
    expect_load_error("[log]\non_write_error = ignore\n",
                      "[log] on_write_error must be refuse or continue");
    expect_load_error("[budget]\non_store_error = local\n",
                      "[budget] on_store_error must be deny or allow");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_minimal_valid, teardown),
        cmocka_unit_test_teardown(test_overrides, teardown),
        cmocka_unit_test_teardown(test_workers_auto, teardown),
        cmocka_unit_test_teardown(test_unknown_key, teardown),
        cmocka_unit_test_teardown(test_unknown_section, teardown),
        cmocka_unit_test_teardown(test_duplicate_key, teardown),
        cmocka_unit_test_teardown(test_out_of_range, teardown),
        cmocka_unit_test_teardown(test_key_in_config_refused, teardown),
        cmocka_unit_test_teardown(test_plain_secret_refused, teardown),
        cmocka_unit_test_teardown(test_required, teardown),
        cmocka_unit_test_teardown(test_missing_file, teardown),
        cmocka_unit_test_teardown(test_syntax_error, teardown),
        cmocka_unit_test_teardown(test_secrets_env, teardown),
        cmocka_unit_test_teardown(test_secret_file_mode, teardown),
        cmocka_unit_test_teardown(test_session_secret_too_short, teardown),
        cmocka_unit_test_teardown(test_secret_trailing_newline, teardown),
        cmocka_unit_test_teardown(test_fingerprint, teardown),
        cmocka_unit_test_teardown(test_secret_is_ref, teardown),
        cmocka_unit_test_teardown(test_secret_symlink_refused, teardown),
        cmocka_unit_test_teardown(test_looks_like_key, teardown),
        cmocka_unit_test_teardown(test_key_split_across_scan_buffer,
                                  teardown),
        cmocka_unit_test_teardown(test_empty_unknown_section, teardown),
        cmocka_unit_test_teardown(test_registry_driver, teardown),
        cmocka_unit_test_teardown(test_registry_sections, teardown),
        cmocka_unit_test_teardown(test_registry_named_and_enums, teardown),
    };

    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
