/*
 * keys: named provider keys, `[key NAME]` sections.
 *
 * A named key says where its bytes come from (source = env:|file:|
 * credential:), which environment it belongs to (production, staging,
 * development), which routes and which service tokens may use it, and how
 * old it may get. The server's own environment is `[server] environment`;
 * a server only ever reads the keys of its own environment, and refuses to
 * start when a route refers to a key of another one. cg_keys_allowed() is
 * the one question the routes and token code ask.
 *
 * The section parser is table-driven (cg_keys_cmds) and registered as the
 * named section [key NAME] by provider_conf.c. This
 * module never logs and never prints a key: only names and fingerprints.
 */
#ifndef CG_KEYS_H
#define CG_KEYS_H

#include <stddef.h>
#include <time.h>
#include "provider/provider_conf.h"


/* The [key NAME] keys (name, default, doc; set by cg_keys_set()). */
extern const cg_conf_cmd_t cg_keys_cmds[];

/* Parses YYYY-MM-DD (UTC midnight); 0 or -1. */
int         cg_keys_date_parse(const char *value, time_t *out);
/* "production" ... -> cg_env_t, or -1. */
int         cg_keys_env_parse(const char *s);
const char *cg_keys_env_name(int env);
/* 1 if name is usable as a key name (A-Z a-z 0-9 . _ -, 1-64). */
int         cg_keys_valid_name(const char *name, size_t len);
/* Sets one "name = value" of section [key NAME]; 0 or -1 with a message. */
int         cg_keys_set(cg_keys_t *keys, const char *key, const char *name,
                        const char *value, char *err, size_t errlen);
/* After parsing: every key has its required settings. */
int         cg_keys_validate(cg_keys_t *keys, char *err, size_t errlen);
cg_key_t   *cg_keys_find(cg_keys_t *keys, const char *name);
/* Loads the secrets of the keys of environment env (others stay unread). */
int         cg_keys_load(cg_keys_t *keys, int env, char *err, size_t errlen);
/* Refuses a route's use of key NAME when the key is unknown, of another
 * environment than env, or does not list the route. */
int         cg_keys_check_route(cg_keys_t *keys, const char *name, int env,
                                const char *route, char *err, size_t errlen);
/* 1 if key may serve route for service (NULL service: a browser session,
 * checked against routes only). */
int         cg_keys_allowed(const cg_key_t *key, const char *route,
                            const char *service);
/* 1 if item is in the comma-separated list (or the list is "*"). */
int         cg_keys_list_has(const char *list, const char *item);
/* Age in days at now: from `created`, else the ctime of the key's file;
 * -1 when unknown (an env: key without `created`). */
long        cg_keys_age_days(const cg_key_t *key, time_t now);
/* 1 (and a message naming the key and its fingerprint) when the key is
 * older than its max_age_days; 0 otherwise. */
int         cg_keys_age_check(const cg_key_t *key, time_t now, char *msg,
                              size_t msglen);
void        cg_keys_free(cg_keys_t *keys);

#endif
