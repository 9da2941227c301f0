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
#include "secret.h"
#include "budget.h"

typedef struct {
    /* [server] */
    char   *listen;
    int     socket_mode;
    int     workers;
    int     backlog;
    long    max_body;
    char   *chat_path;
    char   *pid_file;
    int     shutdown_timeout;

    /* [log] */
    char   *usage_log;
    char   *error_log;

    /* [session] */
    char   *session_secret_ref;
    char   *cookie_name;
    int     session_ttl;

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

    /* [input] */
    int     max_chars;

    /* Loaded by cg_conf_load_secrets(). */
    cg_secret_t session_secret;
    cg_secret_t api_key;
    char       *system_prompt_text;   /* resolved system_prompt */
} cg_conf_t;

typedef struct cg_conf_cmd_s cg_conf_cmd_t;
typedef int (*cg_conf_set_pt)(const cg_conf_cmd_t *cmd, cg_conf_t *conf,
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

/* Fills conf with the defaults. */
int  cg_conf_init(cg_conf_t *conf, char *err, size_t errlen);
/* Parses path over the defaults; returns 0, or -1 with a message. */
int  cg_conf_load(cg_conf_t *conf, const char *path, char *err, size_t errlen);
/* Loads the secrets the config refers to (and file: system prompts). */
int  cg_conf_load_secrets(cg_conf_t *conf, char *err, size_t errlen);
/* Loads only the session secret (for `mint`, which needs no provider key). */
int  cg_conf_load_session_secret(cg_conf_t *conf, char *err, size_t errlen);
void cg_conf_free(cg_conf_t *conf);
/* The syslog(3) facility for a [log] syslog_facility name, or -1. */
int  cg_conf_syslog_facility(const char *name);

#endif
