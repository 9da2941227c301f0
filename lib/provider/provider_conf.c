#include "conf/config.h"
#include "provider/keys.h"
#include "core/buf.h"
#include "core/secret.h"
#include "provider/provider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_OFF(field)   offsetof(cg_provider_conf_t, field)
#define CG_ROFF(field)  offsetof(cg_route_t, field)
#define CG_PROMPT_MAX   1048576     /* bytes of a file: system prompt */
#define CG_KEY_MAX_AGE_DAYS  90     /* of a key named by a direct ref */

static const cg_conf_enum_t cg_provider_types[] = {
    { "anthropic", CG_PROVIDER_ANTHROPIC }, { "openai", CG_PROVIDER_OPENAI },
    { NULL, 0 }
};

static const cg_conf_enum_t cg_provider_envs[] = {
    { "production", CG_ENV_PRODUCTION }, { "staging", CG_ENV_STAGING },
    { "development", CG_ENV_DEVELOPMENT }, { NULL, 0 }
};

static const cg_conf_enum_t cg_route_auths[] = {
    { "", CG_AUTH_DEFAULT }, { "bearer", CG_AUTH_BEARER },
    { "api-key", CG_AUTH_API_KEY }, { "x-api-key", CG_AUTH_X_API_KEY },
    { NULL, 0 }
};

static const cg_conf_enum_t cg_route_tokparams[] = {
    { "auto", CG_TOKPARAM_AUTO }, { "max_tokens", CG_TOKPARAM_MAX_TOKENS },
    { "max_completion_tokens", CG_TOKPARAM_MAX_COMPLETION_TOKENS },
    { NULL, 0 }
};


const char *
cg_provider_type_name(int type)
{
    return cg_conf_enum_name(cg_provider_types, type);
}


/* key:NAME (a [key NAME] section), or a secret reference. */
static int
cg_provider_conf_keyref(const cg_conf_cmd_t *cmd, const char *value,
                        char *err, size_t errlen)
{
    if (strncmp(value, "key:", 4) == 0
        && cg_keys_valid_name(value + 4, strlen(value + 4))) {
        return 0;
    }
    return cg_conf_check_ref(cmd, value, err, errlen);
}


static int
cg_provider_conf_date(const cg_conf_cmd_t *cmd, const char *value, char *err,
                      size_t errlen)
{
    time_t t;

    if (value[0] && cg_keys_date_parse(value, &t) != 0) {
        snprintf(err, errlen, "[%s] %s must be a date, YYYY-MM-DD",
                 cmd->section, cmd->name);
        return -1;
    }
    return 0;
}


/* Kept as text (it goes into the provider's JSON as written), so it must
 * be a plain decimal number in range: nothing else can reach the body. */
static int
cg_provider_conf_temp(const cg_conf_cmd_t *cmd, const char *value, char *err,
                      size_t errlen)
{
    const char *p = value;
    int         dot = 0, digits = 0;

    for (; *p; p++) {
        if (*p == '.' && !dot) {
            dot = 1;
        } else if (*p >= '0' && *p <= '9') {
            digits++;
        } else {
            break;
        }
    }
    if (value[0] && (*p || !digits || value[0] == '.'
                     || strtod(value, NULL) > (double) cmd->max)) {
        snprintf(err, errlen, "[%s] %s must be a number from %ld to %ld "
                 "(or empty)", cmd->section, cmd->name, cmd->min, cmd->max);
        return -1;
    }
    return 0;
}


static const cg_conf_cmd_t cg_provider_server_cmds[] = {
    { "server", "environment", cg_conf_set_enum, CG_OFF(environment),
      "production", 0, 0,
      "production, staging or development: only keys of this environment "
      "are read, and a route using another environment's key is refused",
      NULL, cg_provider_envs },
    { "server", "default_route", cg_conf_set_str, CG_OFF(default_route),
      "default", 0, 0,
      "route used when the client names none ([provider] is \"default\")" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

static const cg_conf_cmd_t cg_provider_cmds[] = {
    { "provider", "type", cg_conf_set_enum, CG_OFF(type),
      "anthropic", 0, 0, "provider API: anthropic or openai", NULL,
      cg_provider_types },
    { "provider", "base_url", cg_conf_set_str, CG_OFF(base_url),
      "https://api.anthropic.com", 0, 0,
      "provider base URL (the tests and the demo point it at the mock)" },
    { "provider", "api_key", cg_conf_set_str, CG_OFF(api_key_ref),
      NULL, 0, 0, "provider API key: key:NAME (a [key NAME] section), or "
      "env:NAME, file:/path or credential:NAME", cg_provider_conf_keyref },
    { "provider", "model", cg_conf_set_str, CG_OFF(model),
      "claude-sonnet-4-5", 0, 0, "model name sent to the provider" },
    { "provider", "max_tokens", cg_conf_set_int, CG_OFF(max_tokens),
      "1024", 1, 200000, "max_tokens sent to the provider" },
    { "provider", "system_prompt", cg_conf_set_str, CG_OFF(system_prompt),
      "", 0, 0,
      "system prompt text, or file:/path for a long one (empty: none; "
      "then a provider-compatible caller may send its own, docs/sdk.md)" },
    { "provider", "anthropic_version", cg_conf_set_str,
      CG_OFF(anthropic_version), "2023-06-01", 0, 0,
      "anthropic-version header" },
    { "provider", "connect_timeout_ms", cg_conf_set_int,
      CG_OFF(connect_timeout_ms), "5000", 1, 600000,
      "connect timeout to the provider" },
    { "provider", "timeout_ms", cg_conf_set_int, CG_OFF(timeout_ms),
      "60000", 1, 3600000,
      "total time allowed for one provider call; past it the client gets 504" },
    { "provider", "ca_file", cg_conf_set_str, CG_OFF(ca_file),
      "", 0, 0, "CA bundle for TLS to the provider (empty: system default)" },
    { "provider", "retention", cg_conf_set_str, CG_OFF(retention),
      "", 0, 0, "the provider's data-retention terms as reviewed, e.g. "
      "\"30 days, no training\" (empty: an audit finding)" },
    { "provider", "reviewed", cg_conf_set_str, CG_OFF(reviewed),
      "", 0, 0, "date of the last retention review, YYYY-MM-DD (audit flags "
      "one older than a year)", cg_provider_conf_date },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


/* [route NAME] keys. [provider] accepts them too (keys it does not have
 * itself), for its route "default". */
static const cg_conf_cmd_t cg_route_cmds[] = {
    { "route", "provider", cg_conf_set_enum, CG_ROFF(provider),
      "anthropic", 0, 0, "provider API: anthropic or openai", NULL,
      cg_provider_types },
    { "route", "base_url", cg_conf_set_str, CG_ROFF(base_url), "", 0, 0,
      "provider base URL (empty: https://api.anthropic.com, or "
      "https://api.openai.com/v1 for openai)" },
    { "route", "url", cg_conf_set_str, CG_ROFF(url), "", 0, 0,
      "full request URL, overriding base_url (Azure deployment URLs)" },
    { "route", "api_key", cg_conf_set_str, CG_ROFF(api_key_ref), NULL,
      0, 0, "provider API key: key:NAME (a [key NAME] section), or "
      "env:NAME, file:/path or credential:NAME", cg_provider_conf_keyref },
    { "route", "auth", cg_conf_set_enum, CG_ROFF(auth), "", 0, 0,
      "key header: bearer, api-key (Azure) or x-api-key (empty: the "
      "provider's own)", NULL, cg_route_auths },
    { "route", "model", cg_conf_set_str, CG_ROFF(model), NULL, 0, 0,
      "model name sent to the provider" },
    { "route", "max_tokens", cg_conf_set_int, CG_ROFF(max_tokens), "1024",
      1, 200000, "answer length limit sent to the provider" },
    { "route", "max_tokens_param", cg_conf_set_enum,
      CG_ROFF(max_tokens_param), "auto", 0, 0,
      "openai: max_tokens or max_completion_tokens (auto: the latter for "
      "api.openai.com, Azure and o1/o3/o4/gpt-5 models)", NULL,
      cg_route_tokparams },
    { "route", "temperature", cg_conf_set_str, CG_ROFF(temperature), "", 0,
      2, "sampling temperature (empty: not sent; never sent to models that "
      "reject it)", cg_provider_conf_temp },
    { "route", "system_prompt", cg_conf_set_str, CG_ROFF(system_prompt), "",
      0, 0, "system prompt text, or file:/path (empty: none; then a "
      "provider-compatible caller may send its own, docs/sdk.md)" },
    { "route", "anthropic_version", cg_conf_set_str,
      CG_ROFF(anthropic_version), "2023-06-01", 0, 0,
      "anthropic-version header" },
    { "route", "price", cg_conf_set_str, CG_ROFF(price), "", 0, 0,
      "price row for budgets (not interpreted by routing)" },
    { "route", "fallback", cg_conf_set_str, CG_ROFF(fallback), "", 0, 0,
      "comma-separated routes tried in order when this one fails before "
      "the answer starts" },
    { "route", "public", cg_conf_set_bool, CG_ROFF(is_public), "yes", 0, 0,
      "yes: clients may name this route; no: only as default or fallback" },
    { "route", "connect_timeout_ms", cg_conf_set_int,
      CG_ROFF(connect_timeout_ms), "5000", 1, 600000,
      "connect timeout to the provider" },
    { "route", "first_byte_timeout_ms", cg_conf_set_int,
      CG_ROFF(first_byte_timeout_ms), "0", 0, 3600000,
      "time allowed until the provider's first byte (0: timeout_ms)" },
    { "route", "idle_timeout_ms", cg_conf_set_int, CG_ROFF(idle_timeout_ms),
      "30000", 1, 3600000,
      "longest silence between stream events before the call is dropped" },
    { "route", "timeout_ms", cg_conf_set_int, CG_ROFF(timeout_ms), "60000",
      1, 3600000, "total time allowed for one provider call" },
    { "route", "retries", cg_conf_set_int, CG_ROFF(retries), "2", 0, 10,
      "retries on 429/529/5xx/connection errors before the answer starts" },
    { "route", "retry_max_wait_ms", cg_conf_set_int,
      CG_ROFF(retry_max_wait_ms), "5000", 0, 60000,
      "longest wait before one retry; a longer retry-after skips to the "
      "fallbacks" },
    /* This route's own rate limits, on top of [limits] (docs/limits.md). */
    { "route", "requests_per_minute", cg_conf_set_int, CG_ROFF(rpm), "0", 0,
      1000000, "requests per user per window on this route, on top of "
      "[limits] (0: none)" },
    { "route", "tokens_per_minute", cg_conf_set_int, CG_ROFF(tpm), "0", 0,
      1000000000, "tokens per user per window on this route (0: none)" },
    { "route", "global_requests_per_minute", cg_conf_set_int,
      CG_ROFF(global_rpm), "0", 0, 1000000,
      "requests on this route for the whole site per window (0: none)" },
    { "route", "global_tokens_per_minute", cg_conf_set_int,
      CG_ROFF(global_tpm), "0", 0, 1000000000,
      "tokens on this route for the whole site per window (0: none)" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};


static cg_provider_conf_t *
cg_provider_conf(void *conf)
{
    return &((cg_conf_t *) conf)->provider;
}


/* ---- routes ---- */

static void
cg_route_free(cg_route_t *rt)
{
    cg_conf_rows_free(cg_route_cmds, rt);
    free(rt->name);
    cg_secret_free(&rt->api_key);
    free(rt->system_prompt_text);
    memset(rt, 0, sizeof(*rt));
}


/* Appends a route with its defaults; returns it or NULL. */
static cg_route_t *
cg_route_add(cg_provider_conf_t *pc, const char *name, char *err,
             size_t errlen)
{
    cg_route_t *rt;

    rt = realloc(pc->routes, (size_t) (pc->nroutes + 1) * sizeof(*rt));
    if (rt == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pc->routes = rt;
    rt = &pc->routes[pc->nroutes++];
    memset(rt, 0, sizeof(*rt));
    rt->name = strdup(name);
    if (rt->name == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return cg_conf_rows_defaults(cg_route_cmds, rt, err, errlen) == 0 ? rt
                                                                     : NULL;
}


static int
cg_provider_conf_init(void *conf, char *err, size_t errlen)
{
    return cg_route_add(cg_provider_conf(conf), "default", err, errlen)
           ? 0 : -1;
}


const cg_route_t *
cg_provider_route_find(const cg_conf_t *conf, const char *name, size_t len)
{
    int i;

    for (i = 0; i < conf->provider.nroutes; i++) {
        if (strlen(conf->provider.routes[i].name) == len
            && strncmp(conf->provider.routes[i].name, name, len) == 0) {
            return &conf->provider.routes[i];
        }
    }
    return NULL;
}


static int
cg_route_key(cg_route_t *rt, const char *section, const char *key,
             const char *value, char *err, size_t errlen)
{
    return cg_conf_rows_set(cg_route_cmds, rt, rt->seen, section, key, value,
                            err, errlen);
}


/* [provider] keys it does not have itself are its route's ("provider"
 * is [provider] type there). */
static int
cg_provider_conf_key(void *conf, const char *arg, const char *key,
                     const char *value, char *err, size_t errlen)
{
    (void) arg;
    if (strcmp(key, "provider") == 0) {
        return 1;
    }
    return cg_route_key(&cg_provider_conf(conf)->routes[0], "provider", key,
                        value, err, errlen);
}


static int
cg_route_name_valid(const char *name)
{
    const char *p;

    for (p = name; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z')
            && !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_'
            && *p != '.') {
            return 0;
        }
    }
    return p != name && p - name <= CG_ROUTE_NAME_MAX;
}


/* [route NAME]: finds or adds the route. Index 0 is [provider]'s own and
 * is never matched here; a clash of names is reported after parsing. */
static int
cg_route_conf_key(void *conf, const char *name, const char *key,
                  const char *value, char *err, size_t errlen)
{
    cg_provider_conf_t *pc = cg_provider_conf(conf);
    cg_route_t         *rt = NULL;
    char                section[CG_ROUTE_NAME_MAX + 8];
    int                 i, rc;

    if (!cg_route_name_valid(name)) {
        snprintf(err, errlen, "[route %.*s]: a route name is 1-%d letters, "
                 "digits, '-', '_' or '.'", CG_ROUTE_NAME_MAX, name,
                 CG_ROUTE_NAME_MAX);
        return -1;
    }
    for (i = 1; i < pc->nroutes && rt == NULL; i++) {
        if (strcmp(pc->routes[i].name, name) == 0) {
            rt = &pc->routes[i];
        }
    }
    if (rt == NULL && (rt = cg_route_add(pc, name, err, errlen)) == NULL) {
        return -1;
    }
    snprintf(section, sizeof(section), "route %s", name);
    rc = cg_route_key(rt, section, key, value, err, errlen);
    if (rc == 1) {
        snprintf(err, errlen, "unknown key [%s] %s", section, key);
        return -1;
    }
    return rc;
}


static void
cg_route_mark(cg_route_t *rt, const char *key)
{
    int i = cg_conf_rows_find(cg_route_cmds, key);

    if (i >= 0) {
        rt->seen[i] = 1;
    }
}


/* [provider]'s own keys become the route "default"; or, when the file
 * has routes but no [provider] key, that route is dropped. */
static int
cg_provider_route(cg_provider_conf_t *pc, const cg_conf_ctx_t *ctx)
{
    cg_route_t *rt = &pc->routes[0];

    if (!cg_conf_was_set(ctx, "provider", "api_key")) {
        cg_route_free(rt);
        memmove(rt, rt + 1, (size_t) --pc->nroutes * sizeof(*rt));
        return 0;
    }
    cg_route_mark(rt, "api_key");
    cg_route_mark(rt, "model");
    rt->max_tokens = pc->max_tokens;
    rt->connect_timeout_ms = pc->connect_timeout_ms;
    rt->timeout_ms = pc->timeout_ms;
    rt->provider = pc->type;
    if (cg_conf_was_set(ctx, "provider", "base_url")
        && cg_buf_str_replace(&rt->base_url, pc->base_url) != 0) {
        return -1;
    }
    return cg_buf_str_replace(&rt->api_key_ref, pc->api_key_ref)
           | cg_buf_str_replace(&rt->model, pc->model)
           | cg_buf_str_replace(&rt->system_prompt, pc->system_prompt)
           | cg_buf_str_replace(&rt->anthropic_version, pc->anthropic_version);
}


/* Every name in rt's fallback list is another route. */
static int
cg_route_check_fallback(const cg_conf_t *conf, const cg_route_t *rt,
                        char *err, size_t errlen)
{
    const char *p = rt->fallback, *e;
    size_t      n;

    while (*p) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        for (e = p; *e && *e != ',' && *e != ' '; e++) {
            /* one name */
        }
        n = (size_t) (e - p);
        if (n && (cg_provider_route_find(conf, p, n) == NULL
                  || (strlen(rt->name) == n
                      && strncmp(rt->name, p, n) == 0))) {
            snprintf(err, errlen, "[route %s] fallback: \"%.*s\" is not "
                     "another route", rt->name, (int) (n > 64 ? 64 : n), p);
            return -1;
        }
        p = e;
    }
    return 0;
}


static int
cg_route_check(const cg_conf_t *conf, cg_route_t *rt, char *err,
               size_t errlen)
{
    const cg_conf_cmd_t *miss = cg_conf_rows_missing(cg_route_cmds, rt->seen);
    const char          *dflt;

    if (miss) {
        snprintf(err, errlen, "[route %s] %s is required", rt->name,
                 miss->name);
        return -1;
    }
    if (cg_provider_route_find(conf, rt->name, strlen(rt->name)) != rt) {
        snprintf(err, errlen, "route %s is defined twice (note: [provider] "
                 "is the route \"default\")", rt->name);
        return -1;
    }
    /* issue 18: a password in a URL is a secret in the config file (and
     * in every log line that quotes the URL). */
    if (cg_secret_url_has_userinfo(rt->base_url)
        || cg_secret_url_has_userinfo(rt->url)) {
        snprintf(err, errlen, "[route %s] %s holds a user name or password "
                 "(user:pass@host); keep credentials out of URLs and give "
                 "the key as api_key = env:NAME or file:/path", rt->name,
                 cg_secret_url_has_userinfo(rt->url) ? "url" : "base_url");
        return -1;
    }
    if (rt->base_url[0] == '\0') {
        dflt = rt->provider == CG_PROVIDER_OPENAI
               ? "https://api.openai.com/v1" : "https://api.anthropic.com";
        if (cg_buf_str_replace(&rt->base_url, dflt) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    /* Decided once, not on every request. */
    rt->max_tokens_param = cg_provider_openai_max_tokens_param(rt);
    return cg_route_check_fallback(conf, rt, err, errlen);
}


static int
cg_provider_conf_check(void *vconf, const cg_conf_ctx_t *ctx, char *err,
                       size_t errlen)
{
    cg_conf_t          *conf = vconf;
    cg_provider_conf_t *pc = &conf->provider;
    int                 i;

    if (!cg_conf_was_set(ctx, "provider", "api_key") && pc->nroutes <= 1) {
        snprintf(err, errlen, "[provider] api_key is required");
        return -1;
    }
    if (cg_keys_validate(&pc->keys, err, errlen) != 0) {
        return -1;
    }
    if (cg_provider_route(pc, ctx) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < pc->nroutes; i++) {
        if (cg_route_check(conf, &pc->routes[i], err, errlen) != 0) {
            return -1;
        }
    }
    if (cg_provider_route_find(conf, pc->default_route,
                               strlen(pc->default_route)) == NULL) {
        snprintf(err, errlen, "[server] default_route: no route called "
                 "\"%.64s\"", pc->default_route);
        return -1;
    }
    return 0;
}


/* ---- secrets ---- */

/* A system prompt is its text, or file:/path for a long one. */
static int
cg_provider_load_prompt(const char *what, const char *ref, char **out,
                        char *err, size_t errlen)
{
    FILE   *f;
    long    n;
    char   *p = NULL;

    if (strncmp(ref, "file:", 5) != 0) {
        *out = strdup(ref);
        return *out ? 0 : -1;
    }
    f = fopen(ref + 5, "re");
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0
        && n <= CG_PROMPT_MAX && fseek(f, 0, SEEK_SET) == 0
        && (p = malloc((size_t) n + 1)) != NULL
        && fread(p, 1, (size_t) n, f) == (size_t) n) {
        fclose(f);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) {
            n--;
        }
        p[n] = '\0';
        *out = p;
        return 0;
    }
    free(p);
    if (f) {
        fclose(f);
    }
    snprintf(err, errlen, "%s system_prompt: cannot read %s", what, ref + 5);
    return -1;
}


/* Loads ref into s: a key:NAME reference borrows a copy of the [key NAME]
 * secret after checking that the key is of this server's environment and
 * lists the route; anything else is read as env:/file:/credential:. */
static int
cg_provider_load_keyref(cg_provider_conf_t *pc, cg_secret_t *s,
                        const char *ref, const char *route, char *msg,
                        size_t msglen)
{
    if (strncmp(ref, "key:", 4) != 0) {
        return cg_secret_load(s, ref, msg, msglen);
    }
    if (cg_keys_check_route(&pc->keys, ref + 4, pc->environment, route,
                            msg, msglen) != 0) {
        return -1;
    }
    if (cg_secret_copy(s, &cg_keys_find(&pc->keys, ref + 4)->secret) != 0) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}


static int
cg_provider_load_route(cg_provider_conf_t *pc, cg_route_t *rt, char *err,
                       size_t errlen)
{
    char what[CG_ROUTE_NAME_MAX + 16], msg[400];

    /* The route "default" is usually [provider]: name what the file says. */
    snprintf(what, sizeof(what), strcmp(rt->name, "default") == 0
             ? "[provider]" : "[route %s]", rt->name);
    if (cg_provider_load_keyref(pc, &rt->api_key, rt->api_key_ref, rt->name,
                                msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "%s api_key: %s", what, msg);
        return -1;
    }
    if (strncmp(rt->api_key_ref, "key:", 4) == 0) {
        rt->key_services = cg_keys_find(&pc->keys,
                                        rt->api_key_ref + 4)->services;
    }
    return cg_provider_load_prompt(what, rt->system_prompt,
                                   &rt->system_prompt_text, err, errlen);
}


static int
cg_provider_conf_secrets(void *conf, int session_only, char *err,
                         size_t errlen)
{
    cg_provider_conf_t *pc = cg_provider_conf(conf);
    char                msg[400];
    int                 i;

    if (session_only) {
        return 0;
    }
    if (cg_keys_load(&pc->keys, pc->environment, err, errlen) != 0) {
        return -1;
    }
    for (i = 0; i < pc->nroutes; i++) {
        if (cg_provider_load_route(pc, &pc->routes[i], err, errlen) != 0) {
            return -1;
        }
    }
    if (pc->api_key_ref == NULL) {
        return 0;       /* no [provider]: routes only */
    }
    if (cg_provider_load_keyref(pc, &pc->api_key, pc->api_key_ref,
                                "default", msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[provider] api_key: %s", msg);
        return -1;
    }
    return cg_provider_load_prompt("[provider]", pc->system_prompt,
                                   &pc->system_prompt_text, err, errlen);
}


static void
cg_provider_conf_free(void *conf)
{
    cg_provider_conf_t *pc = cg_provider_conf(conf);
    int                 i;

    for (i = 0; i < pc->nroutes; i++) {
        cg_route_free(&pc->routes[i]);
    }
    free(pc->routes);
    pc->routes = NULL;
    pc->nroutes = 0;
    cg_secret_free(&pc->api_key);
    cg_keys_free(&pc->keys);
    free(pc->system_prompt_text);
    pc->system_prompt_text = NULL;
}


static int
cg_key_conf_key(void *conf, const char *name, const char *key,
                const char *value, char *err, size_t errlen)
{
    return cg_keys_set(&cg_provider_conf(conf)->keys, name, key, value, err,
                       errlen);
}


/* ---- the key names logs and audit use ---- */

const char *
cg_provider_route_key_name(const cg_route_t *rt)
{
    if (rt->api_key_ref && strncmp(rt->api_key_ref, "key:", 4) == 0) {
        return rt->api_key_ref + 4;
    }
    return strcmp(rt->name, "default") == 0 ? "provider" : rt->name;
}


void
cg_provider_route_keyview(const cg_conf_t *conf, const cg_route_t *rt,
                      cg_key_t *out)
{
    const cg_keys_t *keys = &conf->provider.keys;
    const char      *name = cg_provider_route_key_name(rt);
    size_t           i;

    if (strncmp(rt->api_key_ref, "key:", 4) == 0) {
        for (i = 0; i < keys->n; i++) {
            if (strcmp(keys->v[i].name, name) == 0) {
                *out = keys->v[i];
                return;
            }
        }
    }
    memset(out, 0, sizeof(*out));
    out->name = (char *) name;
    out->source = rt->api_key_ref;
    out->env = conf->provider.environment;
    out->routes = rt->name;
    out->services = (char *) "*";
    out->max_age_days = CG_KEY_MAX_AGE_DAYS;
    out->secret = rt->api_key;
}


const char *
cg_provider_api_key_name(const cg_conf_t *conf)
{
    return conf->provider.nroutes
           ? cg_provider_route_key_name(&conf->provider.routes[0])
           : "provider";
}


void
cg_provider_key_view(const cg_conf_t *conf, cg_key_t *out)
{
    cg_provider_route_keyview(conf, &conf->provider.routes[0], out);
}


const cg_conf_section_t cg_provider_server_conf_section = {
    .name = "server", .cmds = cg_provider_server_cmds,
    .offset = offsetof(cg_conf_t, provider),
};

/* [provider] api_key is required only without [route] sections: the
 * check hook says so, not the driver. */
const cg_conf_section_t cg_provider_conf_section = {
    .name = "provider", .flags = CG_CONF_OPTIONAL, .cmds = cg_provider_cmds,
    .offset = offsetof(cg_conf_t, provider),
    .key = cg_provider_conf_key, .init = cg_provider_conf_init,
    .check = cg_provider_conf_check, .secrets = cg_provider_conf_secrets,
    .free = cg_provider_conf_free,
};

const cg_conf_section_t cg_route_conf_section = {
    .name = "route", .flags = CG_CONF_NAMED, .cmds = cg_route_cmds,
    .doc_name = "route NAME", .key = cg_route_conf_key,
};

const cg_conf_section_t cg_key_conf_section = {
    .name = "key", .flags = CG_CONF_NAMED, .cmds = cg_keys_cmds,
    .doc_name = "key NAME", .key = cg_key_conf_key,
};
