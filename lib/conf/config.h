/*
 * config: the INI configuration, table-driven.
 *
 * Every key is one row in cg_conf_cmds (config.c): section, name, setter,
 * offset into cg_conf_t, default and documentation. Defaults are applied by
 * running the same setters over the default strings, so there is one place
 * that says what a key means. Unknown keys and sections are errors (like
 * `nginx -t`), and a config file holding anything shaped like a provider key
 * is refused, naming the line but never echoing the value.
 *
 * Secrets are loaded separately (cg_conf_load_secrets) so that `check` and
 * `serve` share the same path and a reload can load a new set before
 * dropping the old one. This module never logs; it returns errors as text.
 */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stddef.h>
#include "provider/keys.h"
#include "core/secret.h"
#include "meter/budget.h"
#include "who/signed.h"

typedef enum {
    CG_PM_STATIC = 0,
    CG_PM_DYNAMIC,
    CG_PM_ONDEMAND
} cg_pm_t;

#define CG_ROUTE_NAME_MAX  64
#define CG_ROUTE_KEYS_MAX  64

/* One provider route: [route NAME], or [provider] as the route "default".
 * Everything the provider is sent besides the conversation comes from
 * here; the client only picks a route by name. */
typedef struct {
    char   *name;
    char   *provider;           /* anthropic | openai */
    char   *base_url;
    char   *url;                /* full URL (Azure deployments); "" none */
    char   *api_key_ref;
    char   *auth;               /* "" (provider's own), bearer, api-key,
                                   x-api-key */
    char   *model;
    int     max_tokens;
    char   *max_tokens_param;   /* auto, max_tokens, max_completion_tokens */
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
    char   *listen;
    int     socket_mode;
    int     workers;
    int     backlog;
    long    max_body;
    char   *chat_path;
    char   *llm_prefix;         /* issue 20: provider-compatible endpoints */
    char   *pid_file;
    int     shutdown_timeout;
    int     environment;        /* cg_env_t */
    int     threads;
    char   *user;
    char   *group;
    char   *socket_owner;
    char   *socket_group;
    char   *allowed_clients;

    /* [pool] (app/master.c) */
    int     pm;                 /* CG_PM_* */
    int     max_children;       /* 0: [server] workers */
    int     start_children;     /* 0: between min_spare and max_spare */
    int     min_spare;
    int     max_spare;
    int     idle_timeout;
    int     max_requests;
    int     request_terminate_timeout;
    int     emergency_restart_threshold;
    int     emergency_restart_interval;

    /* [status] (app/status.c) */
    char   *status_path;
    char   *status_allow;

    char   *default_route;
    int     heartbeat_seconds;

    /* [log] */
    char   *usage_log;
    char   *error_log;
    char   *log_on_write_error;     /* refuse | continue */

    /* [session] */
    char   *session_secret_ref;
    char   *cookie_name;
    int     session_ttl;
    char   *user_id_key_ref;

    /* [limits] */
    int     requests_per_minute;
    int     store_fail_open;

    /* [limits], more scopes; [store]; [budget]; [alerts] (limits.md) */
    long    tokens_per_minute;
    long    addr_requests_per_minute;
    long    addr_tokens_per_minute;
    long    global_requests_per_minute;
    long    global_tokens_per_minute;
    long    concurrent_requests;
    int     window_seconds;
    char   *store_type;
    char   *store_path;
    int     store_slots;
    uint64_t budget_user_daily;
    uint64_t budget_user_monthly;
    uint64_t budget_global_daily;
    uint64_t budget_global_monthly;
    int     budget_fail_open;
    char   *alert_thresholds;
    long    alert_spike_rpm;
    char   *alert_webhook;
    char   *alert_command;
    int     syslog;
    char   *syslog_facility;
    cg_price_t *prices;         /* [price MODEL] sections */
    size_t      nprices;

    /* [memcached] */
    char   *mc_servers;
    int     mc_timeout_ms;

    /* [provider] */
    char   *provider_type;
    char   *base_url;
    char   *api_key_ref;
    char   *model;
    int     max_tokens;
    char   *system_prompt;
    char   *anthropic_version;
    int     connect_timeout_ms;
    int     timeout_ms;
    char   *ca_file;
    char   *retention;          /* the provider's data-retention policy */
    char   *reviewed;           /* YYYY-MM-DD of the last review */

    /* [input] */
    int     max_chars;
    int     max_messages;
    int     max_total_chars;

    /* Routes: routes[0] is [provider] (named "default"); it is dropped
     * when the file has [route] sections but no [provider] api_key. */
    cg_route_t *routes;
    int         nroutes;

    /* [session] verifiers and [http] admission (docs/sessions.md) */
    char   *session_mode;
    char   *session_secrets_ref;
    char   *jwt_secret_ref;
    char   *jwt_issuer;
    char   *jwt_audience;
    char   *jwt_user_claim;
    int     jwt_leeway;
    char   *jwt_cookie;
    char   *php_save_path;
    char   *php_cookie;
    char   *php_user_key;
    char   *php_serializer;
    char   *php_file_owner;
    int     php_max_lifetime;
    char   *php_mc_servers;
    char   *php_mc_prefix;
    char   *allowed_origins;
    int     allow_missing_origin;
    char   *trusted_proxies;
    int     auth_failures_per_minute;
    struct cg_token_s *tokens;      /* [token NAME] sections */

    /* [guard] and [pii]: see lib/guard/guardset.h and docs/guards.md */
    int     guard_refuse_invisible;
    int     guard_injection;        /* cg_guard_action_t */
    char   *guard_patterns;         /* "" or file:/path */
    long    guard_max_bytes;
    int     guard_max_tokens;
    char   *guard_allowed_hosts;
    int     guard_max_urls;
    int     guard_bare_urls;
    int     pii_email, pii_phone, pii_card, pii_iban, pii_ssn, pii_ip;
    char   *pii_key_ref;            /* "": derived from the session secret */
    char   *pii_patterns;           /* "" or file:/path */

    /* Loaded by cg_conf_load_secrets(). */
    cg_secret_t session_secret;
    cg_secret_t api_key;
    cg_keys_t   keys;               /* [key NAME] sections */
    cg_session_key_t *session_keys; /* first signs; all verify */
    size_t      n_session_keys;
    cg_secret_t jwt_secret;
    char       *system_prompt_text;   /* resolved system_prompt */
    cg_secret_t user_id_key;          /* [session] user_id_key or secret */
} cg_conf_t;

typedef struct cg_conf_cmd_s cg_conf_cmd_t;
typedef int (*cg_conf_set_pt)(const cg_conf_cmd_t *cmd, void *conf,
                              const char *value, char *err, size_t errlen);

struct cg_conf_cmd_s {
    const char     *section;
    const char     *name;
    cg_conf_set_pt  set;
    size_t          offset;
    const char     *dflt;       /* NULL: required, no default */
    long            min, max;   /* for numbers */
    const char     *doc;
};

extern const cg_conf_cmd_t cg_conf_cmds[];
extern const cg_conf_cmd_t cg_route_cmds[];   /* offsets into cg_route_t */

/* Fills conf with the defaults. */
int  cg_conf_init(cg_conf_t *conf, char *err, size_t errlen);
/* Parses path over the defaults; returns 0, or -1 with a message. */
int  cg_conf_load(cg_conf_t *conf, const char *path, char *err, size_t errlen);
/* Loads the secrets the config refers to (and file: system prompts). */
int  cg_conf_load_secrets(cg_conf_t *conf, char *err, size_t errlen);
/* Loads only the session secret (for `mint`, which needs no provider key). */
int  cg_conf_load_session_secret(cg_conf_t *conf, char *err, size_t errlen);
void cg_conf_free(cg_conf_t *conf);
/* The name logs and audit use for a route's key: NAME of key:NAME, or for
 * a direct env:/file:/credential: reference "provider" (the route
 * "default") or the route's own name. */
const char *cg_conf_route_key_name(const cg_route_t *rt);
/* Fills out with a view of rt's key as a named key (the [key] section, or
 * one made up for a direct reference: the name above, the server's
 * environment, only this route). The view borrows conf's memory: never
 * free it, never use it after conf is freed. */
void        cg_conf_route_keyview(const cg_conf_t *conf,
                                  const cg_route_t *rt,
                                  cg_key_t *out);
/* The same for the first route (the provider key of one-route setups). */
const char *cg_conf_api_key_name(const cg_conf_t *conf);
void        cg_conf_provider_key(const cg_conf_t *conf, cg_key_t *out);
/* The syslog(3) facility for a [log] syslog_facility name, or -1. */
int  cg_conf_syslog_facility(const char *name);
/* The [price] row a route is billed at (its `price`, else its model). */
const cg_price_t *cg_conf_route_price(const cg_conf_t *conf,
                                      const cg_route_t *rt);
/* The route called name, or NULL. */
const cg_route_t *cg_conf_route(const cg_conf_t *conf, const char *name,
                                size_t len);
/* 1 if [session] mode lists m. */
int  cg_conf_has_mode(const cg_conf_t *conf, const char *m);

#endif
