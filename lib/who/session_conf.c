#include "conf/config.h"
#include "core/clock.h"
#include "core/csv.h"
#include "who/auth.h"
#include "who/phpser.h"
#include "who/signed.h"
#include "who/svctoken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_OFF(field)  offsetof(cg_session_conf_t, field)
#define CG_SESSION_KEY_MIN  32      /* bytes of an HMAC key */
#define CG_SESSION_REF_MAX  512

static const cg_conf_enum_t cg_session_modes[] = {
    { "signed", CG_SESSION_SIGNED }, { "jwt", CG_SESSION_JWT },
    { "php-files", CG_SESSION_PHP_FILES },
    { "php-memcached", CG_SESSION_PHP_MEMCACHED }, { NULL, 0 }
};

static const cg_conf_enum_t cg_session_serializers[] = {
    { "php", CG_PHPSER_PHP }, { "php_serialize", CG_PHPSER_SERIALIZE },
    { NULL, 0 }
};

static const cg_conf_cmd_t cg_session_cmds[] = {
    { "session", "secret", cg_conf_set_str, CG_OFF(secret_ref),
      "", 0, 0,
      "HMAC secret for session tokens, as env:NAME, file:/path or "
      "credential:NAME (at least 32 bytes); required for mode signed "
      "unless secrets is set", cg_conf_check_optref },
    { "session", "cookie", cg_conf_set_str, CG_OFF(cookie_name),
      "chatgate_session", 0, 0, "name of the session cookie" },
    { "session", "ttl", cg_conf_set_int, CG_OFF(ttl),
      "86400", CG_MINUTE_S, CG_YEAR_S,
      "lifetime in seconds of tokens made by `mint`" },
    { "session", "user_id_key", cg_conf_set_str, CG_OFF(user_id_key_ref),
      "", 0, 0,
      "key for the pseudonymous user id sent to the provider, as env:NAME "
      "or file:/path (empty: the session secret)", cg_conf_check_optref },
    { "session", "mode", cg_conf_set_list, CG_OFF(mode),
      "signed", 0, 0,
      "verifiers tried in order: signed, jwt, php-files, php-memcached",
      NULL, cg_session_modes },
    { "session", "secrets", cg_conf_set_str, CG_OFF(secrets_ref),
      "", 0, 0,
      "rotating signing keys KID:env:NAME or KID:file:/path, comma-"
      "separated; the first signs (v2 tokens), all verify" },
    { "session", "jwt_secret", cg_conf_set_str, CG_OFF(jwt_secret_ref),
      "", 0, 0, "HS256 key for mode jwt (env:/file:, at least 32 bytes)",
      cg_conf_check_optref },
    { "session", "jwt_issuer", cg_conf_set_str, CG_OFF(jwt_issuer),
      "", 0, 0, "required iss claim (empty: not checked)" },
    { "session", "jwt_audience", cg_conf_set_str, CG_OFF(jwt_audience),
      "", 0, 0, "required aud value (empty: tokens with aud are refused)" },
    { "session", "jwt_user_claim", cg_conf_set_str, CG_OFF(jwt_user_claim),
      "sub", 0, 0, "claim that holds the user id" },
    { "session", "jwt_leeway", cg_conf_set_int, CG_OFF(jwt_leeway),
      "60", 0, 5 * CG_MINUTE_S, "clock skew allowed on exp/nbf/iat, seconds" },
    { "session", "jwt_cookie", cg_conf_set_str, CG_OFF(jwt_cookie),
      "", 0, 0, "cookie holding the JWT (empty: Authorization: Bearer only)" },
    { "session", "php_save_path", cg_conf_set_str, CG_OFF(php_save_path),
      "/var/lib/php/sessions", 0, 0,
      "PHP session.save_path for php-files (\"N;/dir\" form allowed)" },
    { "session", "php_cookie", cg_conf_set_str, CG_OFF(php_cookie),
      "PHPSESSID", 0, 0, "PHP session cookie name (session.name)" },
    { "session", "php_user_key", cg_conf_set_str, CG_OFF(php_user_key),
      "user_id", 0, 0, "$_SESSION variable that holds the user id" },
    { "session", "php_serializer", cg_conf_set_enum, CG_OFF(php_serializer),
      "php", 0, 0, "session.serialize_handler: php or php_serialize",
      NULL, cg_session_serializers },
    { "session", "php_file_owner", cg_conf_set_str, CG_OFF(php_file_owner),
      "", 0, 0,
      "user name or uid that must own session files (empty: chatgate's)" },
    { "session", "php_max_lifetime", cg_conf_set_int,
      CG_OFF(php_max_lifetime), "1440", 0, CG_YEAR_S,
      "session files not modified for this many seconds are refused "
      "(session.gc_maxlifetime; 0: no check)" },
    { "session", "php_memcached_servers", cg_conf_set_str,
      CG_OFF(php_mc_servers), "127.0.0.1:11211", 0, 0,
      "memcached servers of PHP's session.save_path (HOST:PORT,...)" },
    { "session", "php_memcached_prefix", cg_conf_set_str,
      CG_OFF(php_mc_prefix), "memc.sess.key.", 0, 0,
      "memcached.sess_prefix of php-memcached" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

static const cg_conf_cmd_t cg_session_limits_cmds[] = {
    { "limits", "auth_failures_per_minute", cg_conf_set_int,
      CG_OFF(auth_failures_per_minute), "30", 0, 1000000,
      "failed authentications per client address per minute before 429 "
      "(0: no limit)" },
    { "limits", "auth_failures_cache_ms", cg_conf_set_int,
      CG_OFF(auth_failures_cache_ms), "0", 0, 60000,
      "a worker reuses an address's pre-auth count for this long instead of "
      "reading the store for each request; failures counted elsewhere are "
      "seen that much later (0: read each time)" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

/* [token NAME]: set by cg_svctoken_conf(); the rows document the keys. */
static const cg_conf_cmd_t cg_token_cmds[] = {
    { "token NAME", "sha256", NULL, 0, NULL, 0, 0,
      "SHA-256 of the service token, 64 hex digits (printf %s TOKEN | "
      "sha256sum)" },
    { "token NAME", "routes", NULL, 0, "", 0, 0,
      "comma-separated routes the token may use, or * (empty: none)" },
    { "token NAME", "requests_per_minute", NULL, 0, "", 0, 0,
      "its own requests per window (empty: [limits] requests_per_minute)" },
    { "token NAME", "tokens_per_minute", NULL, 0, "", 0, 0,
      "its own tokens per window (empty: [limits] tokens_per_minute)" },
    { "token NAME", "budget_daily", NULL, 0, "", 0, 0,
      "dollars it may spend per UTC day, in place of [budget] user_daily" },
    { "token NAME", "budget_monthly", NULL, 0, "", 0, 0,
      "dollars it may spend per UTC month, in place of [budget] "
      "user_monthly" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


static cg_session_conf_t *
cg_session_conf(void *conf)
{
    return &((cg_conf_t *) conf)->session;
}


static int
cg_session_conf_check(void *conf, const cg_conf_ctx_t *ctx, char *err,
                      size_t errlen)
{
    cg_session_conf_t *s = cg_session_conf(conf);

    (void) ctx;
    if (cg_conf_list_has(&s->mode, CG_SESSION_SIGNED)
        && s->secret_ref[0] == '\0' && s->secrets_ref[0] == '\0') {
        snprintf(err, errlen, "[session] secret is required for mode "
                 "signed (or secrets)");
        return -1;
    }
    return cg_svctoken_check(s->tokens, err, errlen);
}


static int
cg_session_load_key(cg_secret_t *k, const char *what, const char *ref,
                    char *err, size_t errlen)
{
    char msg[400];

    if (cg_secret_load(k, ref, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[session] %s: %s", what, msg);
        return -1;
    }
    if (k->len < CG_SESSION_KEY_MIN) {
        snprintf(err, errlen, "[session] %s: must be at least %d bytes "
                 "(try: openssl rand -hex 32)", what, CG_SESSION_KEY_MIN);
        return -1;
    }
    return 0;
}


/* One "KID:REF" item of [session] secrets into k. */
static int
cg_session_load_item(cg_session_key_t *k, const char *item, size_t len,
                     char *err, size_t errlen)
{
    const char *colon = memchr(item, ':', len);
    char        ref[CG_SESSION_REF_MAX];
    size_t      kid;

    if (colon == NULL || !cg_signed_kid_valid(item, (size_t) (colon - item))
        || len - (size_t) (colon - item) >= sizeof(ref)) {
        snprintf(err, errlen, "[session] secrets: each item is KID:REF, "
                 "KID 1-%d of [A-Za-z0-9_-]", CG_KID_MAX);
        return -1;
    }
    kid = (size_t) (colon - item);
    memcpy(k->kid, item, kid);
    memcpy(ref, colon + 1, len - kid - 1);
    ref[len - kid - 1] = '\0';
    if (!cg_secret_is_ref(ref)) {
        snprintf(err, errlen, "[session] secrets: key %s must be "
                 "env:NAME or file:/path", k->kid);
        return -1;
    }
    return cg_session_load_key(&k->key, "secrets", ref, err, errlen);
}


/* The keyring: each "KID:REF" of secrets, then the legacy secret (no kid,
 * signs v1 tokens only when it is the only key). */
static int
cg_session_load_keyring(cg_session_conf_t *s, char *err, size_t errlen)
{
    const char       *p = s->secrets_ref, *item;
    size_t            len, n = 2;
    cg_session_key_t *k;

    if (s->keys != NULL) {
        return 0;                       /* loaded already */
    }
    for (item = p; *item; item++) {
        n += *item == ',';
    }
    s->keys = calloc(n, sizeof(*s->keys));
    if (s->keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (cg_csv_next(&p, &item, &len)) {
        if (cg_session_load_item(&s->keys[s->nkeys], item, len, err,
                                 errlen) != 0) {
            return -1;
        }
        s->nkeys++;
    }
    if (s->secret_ref[0]) {
        if (cg_session_load_key(&s->secret, "secret", s->secret_ref, err,
                                errlen) != 0) {
            return -1;
        }
        k = &s->keys[s->nkeys++];
        /* The ring shares the bytes; only secret frees them. */
        k->key = s->secret;
    }
    return 0;
}


static int
cg_session_load_verifiers(cg_session_conf_t *s, char *err, size_t errlen)
{
    if (cg_session_load_keyring(s, err, errlen) != 0) {
        return -1;
    }
    if (s->nkeys == 0 && cg_conf_list_has(&s->mode, CG_SESSION_SIGNED)) {
        snprintf(err, errlen, "[session] secret (or secrets) is required "
                 "for mode signed");
        return -1;
    }
    if (cg_conf_list_has(&s->mode, CG_SESSION_JWT)) {
        if (s->jwt_secret_ref[0] == '\0') {
            snprintf(err, errlen, "[session] jwt_secret is required for "
                     "mode jwt");
            return -1;
        }
        return cg_session_load_key(&s->jwt_secret, "jwt_secret",
                                   s->jwt_secret_ref, err, errlen);
    }
    return 0;
}


/* The verifiers are built as a worker builds them, so their own settings
 * (php_file_owner, the memcached prefix) fail `check`, the start and a
 * reload rather than every worker. */
static int
cg_session_conf_secrets(void *conf, int session_only, char *err,
                        size_t errlen)
{
    cg_session_conf_t *s = cg_session_conf(conf);
    cg_auth_t         *a;
    char               msg[400];

    if (cg_session_load_verifiers(s, err, errlen) != 0) {
        return -1;
    }
    if (session_only) {
        return 0;
    }
    if (s->user_id_key_ref[0]
        && cg_secret_load(&s->user_id_key, s->user_id_key_ref, msg,
                          sizeof(msg)) != 0) {
        snprintf(err, errlen, "[session] user_id_key: %s", msg);
        return -1;
    }
    a = cg_auth_new(conf, err, errlen);
    if (a == NULL) {
        return -1;
    }
    cg_auth_free(a);
    return 0;
}


static void
cg_session_conf_free(void *conf)
{
    cg_session_conf_t *s = cg_session_conf(conf);

    cg_secret_free(&s->user_id_key);
    cg_secret_free(&s->secret);
    cg_secret_free(&s->jwt_secret);
    while (s->nkeys > 0) {
        s->nkeys--;
        if (s->keys[s->nkeys].kid[0]) {
            cg_secret_free(&s->keys[s->nkeys].key);
        }
    }
    free(s->keys);
    s->keys = NULL;
    cg_svctoken_free(s->tokens);
    s->tokens = NULL;
}


static int
cg_token_conf_key(void *conf, const char *arg, const char *key,
                  const char *value, char *err, size_t errlen)
{
    char section[CG_TOKEN_NAME_MAX + 16];

    snprintf(section, sizeof(section), "token %.*s", CG_TOKEN_NAME_MAX + 1,
             arg);
    return cg_svctoken_conf(&cg_session_conf(conf)->tokens, section, key,
                            value, err, errlen);
}


const cg_conf_section_t cg_session_conf_section = {
    .name = "session", .cmds = cg_session_cmds,
    .offset = offsetof(cg_conf_t, session),
    .check = cg_session_conf_check, .secrets = cg_session_conf_secrets,
    .free = cg_session_conf_free,
};

const cg_conf_section_t cg_session_limits_conf_section = {
    .name = "limits", .cmds = cg_session_limits_cmds,
    .offset = offsetof(cg_conf_t, session),
};

const cg_conf_section_t cg_token_conf_section = {
    .name = "token", .flags = CG_CONF_NAMED, .cmds = cg_token_cmds,
    .doc_name = "token NAME", .key = cg_token_conf_key,
};
