/*
 * provider_conf: the settings of the provider stage, [provider] (the
 * route "default"), [route NAME], [key NAME] and the [server] keys that
 * choose among them (environment, default_route), with the keys once
 * loaded. Choices (provider type, key header, max_tokens parameter) are
 * parsed at load into enums, so no request compares strings. Plain types
 * only: lib/conf/config.h embeds this.
 */
#ifndef CG_PROVIDER_CONF_H
#define CG_PROVIDER_CONF_H

#include <stddef.h>
#include <time.h>
#include "conf/conf.h"
#include "core/secret.h"

/* [key NAME] sections: functions in provider/keys.h. */
#define CG_KEYS_MAX      64
#define CG_KEY_NAME_MAX  64

typedef enum {
    CG_ENV_PRODUCTION = 0,
    CG_ENV_STAGING,
    CG_ENV_DEVELOPMENT
} cg_env_t;

typedef struct {
    char        *name;
    char        *source;        /* env:NAME, file:/path, credential:NAME */
    int          env;           /* cg_env_t, -1 until set */
    char        *routes;        /* "a,b" or "*" */
    char        *services;      /* "tok1,tok2" or "*" */
    char        *created;       /* YYYY-MM-DD or NULL */
    time_t       created_t;     /* 0: not set */
    int          max_age_days;
    unsigned     seen;          /* bit per cg_keys_cmds row */
    cg_secret_t  secret;        /* loaded by cg_keys_load() */
} cg_key_t;

typedef struct {
    cg_key_t    v[CG_KEYS_MAX];
    size_t      n;
} cg_keys_t;

#define CG_ROUTE_NAME_MAX  64
#define CG_ROUTE_KEYS_MAX  64

typedef enum {
    CG_PROVIDER_ANTHROPIC = 0,
    CG_PROVIDER_OPENAI
} cg_provider_type_t;

/* The header that carries the key; DEFAULT: the provider's own. */
typedef enum {
    CG_AUTH_DEFAULT = 0,
    CG_AUTH_BEARER,
    CG_AUTH_API_KEY,            /* Azure */
    CG_AUTH_X_API_KEY
} cg_route_auth_t;

typedef enum {
    CG_TOKPARAM_AUTO = 0,
    CG_TOKPARAM_MAX_TOKENS,
    CG_TOKPARAM_MAX_COMPLETION_TOKENS
} cg_route_tokparam_t;

/* One provider route: [route NAME], or [provider] as the route "default".
 * Everything the provider is sent besides the conversation comes from
 * here; the client only picks a route by name. */
typedef struct {
    char   *name;
    int     provider;           /* cg_provider_type_t */
    char   *base_url;
    char   *url;                /* full URL (Azure deployments); "" none */
    char   *api_key_ref;
    int     auth;               /* cg_route_auth_t */
    char   *model;
    int     max_tokens;
    int     max_tokens_param;   /* cg_route_tokparam_t */
    char   *temperature;        /* "" : not sent */
    char   *system_prompt;
    char   *anthropic_version;
    char   *price;              /* for budgets; not interpreted here */
    char   *fallback;           /* comma-separated route names */
    int     is_public;
    int     connect_timeout_ms;
    int     first_byte_timeout_ms;
    int     idle_timeout_ms;
    int     timeout_ms;
    int     retries;
    int     retry_max_wait_ms;
    int     rpm;                /* this route's own limits; 0: none */
    int     tpm;
    int     global_rpm;
    int     global_tpm;

    unsigned char seen[CG_ROUTE_KEYS_MAX];  /* keys set in the file */
    cg_secret_t   api_key;
    char         *system_prompt_text;
    const char   *key_services; /* services of its [key NAME]; NULL: any */
} cg_route_t;

typedef struct {
    /* [server] */
    int     environment;        /* cg_env_t */
    char   *default_route;

    /* [provider] */
    int     type;               /* cg_provider_type_t */
    char   *base_url;
    char   *api_key_ref;        /* NULL: no [provider] api_key */
    char   *model;
    int     max_tokens;
    char   *system_prompt;
    char   *anthropic_version;
    int     connect_timeout_ms;
    int     timeout_ms;
    char   *ca_file;
    char   *retention;          /* the provider's data-retention policy */
    char   *reviewed;           /* YYYY-MM-DD of the last review */

    /* Routes: routes[0] is [provider] (named "default"); it is dropped
     * when the file has [route] sections but no [provider] api_key. */
    cg_route_t *routes;
    int         nroutes;
    cg_keys_t   keys;           /* [key NAME] sections */

    /* Loaded with the secrets. */
    cg_secret_t api_key;
    char       *system_prompt_text;   /* resolved system_prompt */
} cg_provider_conf_t;

struct cg_conf_s;    /* cg_conf_t, lib/conf/config.h */

/* "anthropic" or "openai". */
const char *cg_provider_type_name(int type);
/* The route called name[0..len), or NULL. */
const cg_route_t *cg_provider_route_find(const struct cg_conf_s *conf,
                                         const char *name, size_t len);
/* The name logs and audit use for a route's key: NAME of key:NAME, or for
 * a direct env:/file:/credential: reference "provider" (the route
 * "default") or the route's own name. */
const char *cg_provider_route_key_name(const cg_route_t *rt);
/* Fills out with a view of rt's key as a named key (the [key] section, or
 * one made up for a direct reference: the name above, the server's
 * environment, only this route). The view borrows conf's memory: never
 * free it, never use it after conf is freed. */
void        cg_provider_route_keyview(const struct cg_conf_s *conf,
                                      const cg_route_t *rt, cg_key_t *out);
/* The same for the first route (the provider key of one-route setups). */
const char *cg_provider_api_key_name(const struct cg_conf_s *conf);
void        cg_provider_key_view(const struct cg_conf_s *conf,
                                 cg_key_t *out);

extern const cg_conf_section_t cg_provider_server_conf_section;
extern const cg_conf_section_t cg_provider_conf_section;
extern const cg_conf_section_t cg_route_conf_section;
extern const cg_conf_section_t cg_key_conf_section;

#endif
