#include "provider/keys.h"
#include "core/buf.h"
#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    CG_KEY_SOURCE, CG_KEY_ENVIRONMENT, CG_KEY_ROUTES, CG_KEY_SERVICES,
    CG_KEY_CREATED, CG_KEY_MAX_AGE
};

/* Order matches the enum above; `chatgate keys` prints this table. */
const cg_conf_cmd_t cg_keys_cmds[] = {
    { "key NAME", "source", NULL, 0, NULL, 0, 0,
      "where the key is: env:NAME, file:/path or credential:NAME" },
    { "key NAME", "environment", NULL, 0, NULL, 0, 0,
      "production, staging or development; must match [server] "
      "environment for the routes that use the key" },
    { "key NAME", "routes", NULL, 0, "*", 0, 0,
      "comma-separated routes that may use the key (*: all)" },
    { "key NAME", "services", NULL, 0, "*", 0, 0,
      "comma-separated service tokens that may use the key (*: all)" },
    { "key NAME", "created", NULL, 0, "", 0, 0,
      "date the key was issued, YYYY-MM-DD (empty: the key file's ctime)" },
    { "key NAME", "max_age_days", NULL, 0, "90", 0, 0,
      "age in days after which check and audit ask for a rotation" },
    { NULL, NULL, NULL, 0, NULL, 0, 0, NULL }
};

static const char *cg_env_names[] = { "production", "staging",
                                      "development" };


int
cg_keys_env_parse(const char *s)
{
    int i;

    for (i = 0; i < 3; i++) {
        if (strcmp(s, cg_env_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}


const char *
cg_keys_env_name(int env)
{
    return env >= 0 && env < 3 ? cg_env_names[env] : "unset";
}


int
cg_keys_valid_name(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > CG_KEY_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-')) {
            return 0;
        }
    }
    return 1;
}


cg_key_t *
cg_keys_find(cg_keys_t *keys, const char *name)
{
    size_t i;

    for (i = 0; i < keys->n; i++) {
        if (strcmp(keys->v[i].name, name) == 0) {
            return &keys->v[i];
        }
    }
    return NULL;
}


static cg_key_t *
cg_keys_get(cg_keys_t *keys, const char *name, char *err, size_t errlen)
{
    cg_key_t *k = cg_keys_find(keys, name);

    if (k) {
        return k;
    }
    if (!cg_keys_valid_name(name, strlen(name))) {
        snprintf(err, errlen, "[key %.64s]: a key name is 1-64 characters of "
                 "A-Z a-z 0-9 . _ -", name);
        return NULL;
    }
    if (keys->n == CG_KEYS_MAX) {
        snprintf(err, errlen, "more than %d [key] sections", CG_KEYS_MAX);
        return NULL;
    }
    k = &keys->v[keys->n];
    memset(k, 0, sizeof(*k));
    k->name = strdup(name);
    k->env = -1;
    k->max_age_days = 90;
    if (k->name == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    keys->n++;
    return k;
}


static int
cg_keys_set_str(char **field, const char *value, char *err, size_t errlen)
{
    if (cg_buf_str_replace(field, value) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}


int
cg_keys_date_parse(const char *value, time_t *out)
{
    struct tm tm;
    char     *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(value, "%Y-%m-%d", &tm);
    if (end == NULL || *end != '\0' || strlen(value) != 10) {
        return -1;
    }
    *out = timegm(&tm);
    return *out == (time_t) -1 ? -1 : 0;
}


static int
cg_keys_set_value(cg_key_t *k, int row, const char *value, char *err,
                  size_t errlen)
{
    const char *what = cg_keys_cmds[row].name;
    char       *end;
    long        v;

    switch (row) {
    case CG_KEY_SOURCE:
        if (!cg_secret_is_ref(value)) {
            /* Never echo the value: it may be the key itself. */
            snprintf(err, errlen, "[key %s] source must reference the key "
                     "as env:NAME, file:/path or credential:NAME, not hold "
                     "it", k->name);
            return -1;
        }
        return cg_keys_set_str(&k->source, value, err, errlen);
    case CG_KEY_ENVIRONMENT:
        k->env = cg_keys_env_parse(value);
        if (k->env < 0) {
            snprintf(err, errlen, "[key %s] environment must be production, "
                     "staging or development", k->name);
            return -1;
        }
        return 0;
    case CG_KEY_ROUTES:
        return cg_keys_set_str(&k->routes, value, err, errlen);
    case CG_KEY_SERVICES:
        return cg_keys_set_str(&k->services, value, err, errlen);
    case CG_KEY_CREATED:
        k->created_t = 0;
        if (value[0] && cg_keys_date_parse(value, &k->created_t) != 0) {
            snprintf(err, errlen, "[key %s] created must be a date, "
                     "YYYY-MM-DD", k->name);
            return -1;
        }
        return cg_keys_set_str(&k->created, value, err, errlen);
    default:
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < 1 || v > 3650) {
            snprintf(err, errlen, "[key %s] %s must be a number from 1 to "
                     "3650", k->name, what);
            return -1;
        }
        k->max_age_days = (int) v;
        return 0;
    }
}


int
cg_keys_set(cg_keys_t *keys, const char *key, const char *name,
            const char *value, char *err, size_t errlen)
{
    cg_key_t *k = cg_keys_get(keys, key, err, errlen);
    int       row;

    if (k == NULL) {
        return -1;
    }
    for (row = 0; cg_keys_cmds[row].name; row++) {
        if (strcmp(cg_keys_cmds[row].name, name) != 0) {
            continue;
        }
        if (k->seen & (1u << row)) {
            snprintf(err, errlen, "[key %s] %s is set twice", key, name);
            return -1;
        }
        if (cg_keys_set_value(k, row, value, err, errlen) != 0) {
            return -1;
        }
        k->seen |= 1u << row;
        return 0;
    }
    snprintf(err, errlen, "unknown key [key %s] %s", key, name);
    return -1;
}


int
cg_keys_validate(cg_keys_t *keys, char *err, size_t errlen)
{
    size_t    i;
    int       row;
    cg_key_t *k;

    for (i = 0; i < keys->n; i++) {
        k = &keys->v[i];
        for (row = 0; cg_keys_cmds[row].name; row++) {
            if (k->seen & (1u << row)) {
                continue;
            }
            if (cg_keys_cmds[row].dflt == NULL) {
                snprintf(err, errlen, "[key %s] %s is required", k->name,
                         cg_keys_cmds[row].name);
                return -1;
            }
            if (cg_keys_set_value(k, row, cg_keys_cmds[row].dflt, err,
                                  errlen) != 0) {
                return -1;
            }
        }
    }
    return 0;
}


int
cg_keys_load(cg_keys_t *keys, int env, char *err, size_t errlen)
{
    size_t    i;
    cg_key_t *k;
    char      msg[400];

    for (i = 0; i < keys->n; i++) {
        k = &keys->v[i];
        if (k->env != env) {
            continue;   /* another environment's key is never read */
        }
        if (cg_secret_load(&k->secret, k->source, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "[key %s] source: %s", k->name, msg);
            return -1;
        }
    }
    return 0;
}


int
cg_keys_check_route(cg_keys_t *keys, const char *name, int env,
                    const char *route, char *err, size_t errlen)
{
    cg_key_t *k = cg_keys_find(keys, name);

    if (k == NULL) {
        snprintf(err, errlen, "route %s uses key:%s, but there is no "
                 "[key %s] section", route, name, name);
        return -1;
    }
    if (k->env != env) {
        snprintf(err, errlen, "route %s uses key %s, a %s key, but [server] "
                 "environment is %s; give this environment its own key",
                 route, name, cg_keys_env_name(k->env), cg_keys_env_name(env));
        return -1;
    }
    if (!cg_keys_list_has(k->routes, route)) {
        snprintf(err, errlen, "route %s uses key %s, whose routes (%s) do "
                 "not include it", route, name, k->routes);
        return -1;
    }
    return 0;
}


int
cg_keys_list_has(const char *list, const char *item)
{
    const char *p = list, *end;
    size_t      n = strlen(item);

    if (list == NULL) {
        return 0;
    }
    while (*p) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        end = p;
        while (*end && *end != ',' && *end != ' ') {
            end++;
        }
        if ((end - p == 1 && *p == '*')
            || ((size_t) (end - p) == n && memcmp(p, item, n) == 0)) {
            return 1;
        }
        p = end;
    }
    return 0;
}


int
cg_keys_allowed(const cg_key_t *key, const char *route, const char *service)
{
    if (key == NULL || !cg_keys_list_has(key->routes, route)) {
        return 0;
    }
    return service == NULL || cg_keys_list_has(key->services, service);
}


long
cg_keys_age_days(const cg_key_t *key, time_t now)
{
    struct stat st;
    char        path[4096];
    time_t      from = key->created_t;

    if (from == 0) {
        if (cg_secret_path(key->source, path, sizeof(path)) != 0
            || stat(path, &st) != 0) {
            return -1;
        }
        from = st.st_ctime;
    }
    return now > from ? (long) ((now - from) / CG_DAY_S) : 0;
}


int
cg_keys_age_check(const cg_key_t *key, time_t now, char *msg, size_t msglen)
{
    long age = cg_keys_age_days(key, now);

    if (age <= key->max_age_days) {
        return 0;
    }
    snprintf(msg, msglen, "key %s (%s) is %ld days old, over its "
             "max_age_days of %d: rotate it (scripts/rotate-key)", key->name,
             key->secret.fp[0] ? key->secret.fp : "not loaded", age,
             key->max_age_days);
    return 1;
}


void
cg_keys_free(cg_keys_t *keys)
{
    size_t i;

    for (i = 0; i < keys->n; i++) {
        free(keys->v[i].name);
        free(keys->v[i].source);
        free(keys->v[i].routes);
        free(keys->v[i].services);
        free(keys->v[i].created);
        cg_secret_free(&keys->v[i].secret);
    }
    keys->n = 0;
}
