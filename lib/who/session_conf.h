/*
 * session_conf: the settings of the who stage, [session] (verifiers,
 * keys, PHP sessions, JWT), [token NAME] (service tokens) and [limits]
 * auth_failures_per_minute (the pre-auth limit), and the session keys
 * once loaded. [session] mode is parsed at load into the verifiers in
 * order, so no request compares strings to find them. Plain types only:
 * lib/conf/config.h embeds this.
 */
#ifndef CG_SESSION_CONF_H
#define CG_SESSION_CONF_H

#include "conf/conf.h"
#include "core/secret.h"

#define CG_KID_MAX      16

/* One verification key; an empty kid means "legacy [session] secret". */
typedef struct {
    char         kid[CG_KID_MAX + 1];
    cg_secret_t  key;
} cg_session_key_t;

/* [session] mode: the verifiers, tried in the order written. */
typedef enum {
    CG_SESSION_SIGNED = 0,
    CG_SESSION_JWT,
    CG_SESSION_PHP_FILES,
    CG_SESSION_PHP_MEMCACHED
} cg_session_mode_t;

typedef struct {
    cg_conf_list_t  mode;           /* cg_session_mode_t, in order */
    char           *secret_ref;
    char           *secrets_ref;
    char           *cookie_name;
    int             ttl;
    char           *user_id_key_ref;
    char           *jwt_secret_ref;
    char           *jwt_issuer;
    char           *jwt_audience;
    char           *jwt_user_claim;
    int             jwt_leeway;
    char           *jwt_cookie;
    char           *php_save_path;
    char           *php_cookie;
    char           *php_user_key;
    int             php_serializer; /* cg_phpser_t */
    char           *php_file_owner;
    int             php_max_lifetime;
    char           *php_mc_servers;
    char           *php_mc_prefix;
    int             auth_failures_per_minute;   /* [limits] */
    int             auth_failures_cache_ms;     /* [limits] */
    struct cg_token_s *tokens;      /* [token NAME] sections */

    /* Loaded with the secrets. */
    cg_secret_t       secret;
    cg_session_key_t *keys;         /* first signs; all verify */
    size_t            nkeys;
    cg_secret_t       jwt_secret;
    cg_secret_t       user_id_key;  /* [session] user_id_key or secret */
} cg_session_conf_t;

extern const cg_conf_section_t cg_session_conf_section;
extern const cg_conf_section_t cg_session_limits_conf_section;
extern const cg_conf_section_t cg_token_conf_section;

#endif
