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
#include "keys.h"
#include "secret.h"

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
    int     environment;        /* cg_env_t */

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

    /* Loaded by cg_conf_load_secrets(). */
    cg_secret_t session_secret;
    cg_secret_t api_key;
    cg_keys_t   keys;               /* [key NAME] sections */
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
/* The name logs and audit use for the provider key: NAME of key:NAME, or
 * "provider" for a direct env:/file:/credential: reference. */
const char *cg_conf_api_key_name(const cg_conf_t *conf);
/* Fills out with a view of the provider key as a named key (the [key]
 * section, or one made up for a direct reference: name "provider", the
 * server's environment, route "default"). The view borrows conf's memory:
 * never free it, never use it after conf is freed. */
void        cg_conf_provider_key(const cg_conf_t *conf, cg_key_t *out);

#endif
