/*
 * `chatgate audit`: who and what can use the keys, how old they are, who can
 * reach the socket and the config, and the providers' retention reviews.
 *
 * The report is built once as a JSON object (printed as is with --json) and
 * printed as text from the same object, so both say the same thing. Keys
 * are shown by name and fingerprint only. Readers of each key and secret
 * file come from its mode and its POSIX ACL (a named user is a high
 * finding, a named group medium), and from its directory's default ACL,
 * which a rotated key inherits. Exit status: 3 when any finding
 * is high, 0 otherwise (1 when the config cannot be read).
 */
#include "audit.h"
#include "acl.h"
#include "confopen.h"

#include "cli/access.h"
#include "conf/config.h"
#include "core/clock.h"
#include "core/csv.h"
#include "provider/keys.h"
#include "who/svctoken.h"

#include <json-c/json.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>


typedef struct {
    json_object *root;
    json_object *findings;
    int          counts[4];
    time_t       now;
    const char  *php_user;      /* the account PHP runs as, or NULL */
} cg_audit_t;

static const char *cg_sev_names[] = { "info", "low", "medium", "high" };

enum { CG_INFO, CG_LOW, CG_MEDIUM, CG_HIGH };


static void
cg_audit_find(cg_audit_t *a, int sev, const char *subject, const char *fmt,
              ...) __attribute__((format(printf, 4, 5)));

static void
cg_audit_find(cg_audit_t *a, int sev, const char *subject, const char *fmt,
              ...)
{
    json_object *f = json_object_new_object();
    char         msg[512];
    va_list      ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_object_add(f, "severity",
                           json_object_new_string(cg_sev_names[sev]));
    json_object_object_add(f, "subject", json_object_new_string(subject));
    json_object_object_add(f, "message", json_object_new_string(msg));
    json_object_array_add(a->findings, f);
    a->counts[sev]++;
}


static json_object *
cg_audit_names(const cg_accounts_t *acc)
{
    json_object *arr = json_object_new_array();
    size_t       i;

    for (i = 0; i < acc->n; i++) {
        json_object_array_add(arr, json_object_new_string(acc->names[i]));
    }
    if (acc->everyone) {
        json_object_array_add(arr, json_object_new_string("everyone"));
    }
    return arr;
}


/* Owner, group, mode, and the accounts with read (and write) access. */
static json_object *
cg_audit_file(const char *path, const struct stat *st, int writers)
{
    json_object   *o = json_object_new_object();
    cg_accounts_t  acc, grp;
    char           name[64], mode[8];

    json_object_object_add(o, "path", json_object_new_string(path));
    cg_access_user_name((unsigned) st->st_uid, NULL, name, sizeof(name));
    json_object_object_add(o, "owner", json_object_new_string(name));
    cg_access_group_name((unsigned) st->st_gid, NULL, name, sizeof(name));
    json_object_object_add(o, "group", json_object_new_string(name));
    snprintf(mode, sizeof(mode), "%04o", (unsigned) (st->st_mode & 07777));
    json_object_object_add(o, "mode", json_object_new_string(mode));
    if (cg_access_who_path(path, st, CG_ACCESS_READ, NULL, NULL, &acc,
                           &grp) == 0) {
        json_object_object_add(o, "readers", cg_audit_names(&acc));
        json_object_object_add(o, "reader_groups", cg_audit_names(&grp));
    }
    cg_access_accounts_free(&acc);
    cg_access_accounts_free(&grp);
    if (writers && cg_access_who(st, CG_ACCESS_WRITE, NULL, NULL, &acc) == 0) {
        json_object_object_add(o, "writers", cg_audit_names(&acc));
    }
    cg_access_accounts_free(&acc);
    return o;
}


/* Findings for a POSIX ACL (access ACL of the file, or default ACL of its
 * directory, which a key written there by a rotation inherits): a named
 * user is an account singled out to read the secret, high; a named group
 * medium, and its name in the message. */
static void
cg_audit_acl(cg_audit_t *a, const char *subject, const char *what,
             const char *path, int dflt)
{
    cg_acl_grants_t g;
    size_t          i;
    const char     *how = dflt ? "the default ACL of directory"
                               : "a POSIX ACL on";

    if (cg_access_acl(path, dflt, CG_ACCESS_READ, &g) != 0) {
        cg_audit_find(a, CG_MEDIUM, subject, "cannot read the ACL of %s",
                      path);
        return;
    }
    for (i = 0; i < g.users.n; i++) {
        cg_audit_find(a, CG_HIGH, subject, "%s %s grants read to user %s "
                      "(a named-user grant on the %s)", how, path,
                      g.users.names[i], what);
    }
    for (i = 0; i < g.groups.n; i++) {
        cg_audit_find(a, CG_MEDIUM, subject, "%s %s grants read to group %s "
                      "(its members are listed as readers)", how, path,
                      g.groups.names[i]);
    }
    cg_access_grants_free(&g);
}


/* A key or secret file's ACL and its directory's default ACL. */
static void
cg_audit_acls(cg_audit_t *a, const char *subject, const char *what,
              const char *path)
{
    char dir[4096], *slash;

    cg_audit_acl(a, subject, what, path, 0);
    snprintf(dir, sizeof(dir), "%s", path);
    if ((slash = strrchr(dir, '/')) != NULL) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        cg_audit_acl(a, subject, what, dir, 1);
    }
}


/* A key file: its ACLs, then who the mode (or the ACL's owning-group
 * entry) lets read it. */
static void
cg_audit_secret_file(cg_audit_t *a, const char *subject, const char *what,
                     const char *path, const struct stat *st)
{
    cg_acl_grants_t g;
    int             group_reads = (st->st_mode & S_IRGRP) != 0;

    cg_audit_acls(a, subject, what, path);
    /* With an ACL the group bits are the mask: the owning group's own
     * entry says whether it reads. */
    if (cg_access_acl(path, 0, CG_ACCESS_READ, &g) == 0 && g.extended) {
        group_reads = g.group_obj;
    }
    cg_access_grants_free(&g);
    if (st->st_mode & S_IROTH) {
        cg_audit_find(a, CG_HIGH, subject, "%s file %s is readable by "
                      "everyone (mode %04o)", what, path,
                      (unsigned) (st->st_mode & 07777));
    } else if (group_reads) {
        cg_audit_find(a, CG_INFO, subject, "%s file %s is readable by its "
                      "group; check the readers listed", what, path);
    }
}


/* --- PHP and the session secret (issue 19) --- */

/* The account PHP code runs as: [session] php_file_owner, else Debian's
 * www-data (mod_php, and php-fpm's default pool), when it exists. */
static const char *
cg_audit_php_user(const cg_conf_t *conf)
{
    if (conf->session.php_file_owner[0]) {
        return conf->session.php_file_owner;
    }
    return getpwnam("www-data") ? "www-data" : NULL;
}


static int
cg_audit_readable_by(const struct stat *st, const char *user)
{
    cg_accounts_t acc;
    size_t        i;
    int           yes = 0;

    if (cg_access_who(st, CG_ACCESS_READ, NULL, NULL, &acc) != 0) {
        return 0;
    }
    yes = acc.everyone;
    for (i = 0; i < acc.n && !yes; i++) {
        yes = strcmp(acc.names[i], user) == 0;
    }
    cg_access_accounts_free(&acc);
    return yes;
}


/* Any PHP code on the site runs as the PHP user: a secret it can read is
 * a secret every PHP script (and every upload that becomes one) has. */
static void
cg_audit_php_reads(cg_audit_t *a, const char *subject, const char *what,
                   const char *path, const struct stat *st)
{
    if (a->php_user && !(st->st_mode & S_IROTH)
        && cg_audit_readable_by(st, a->php_user)) {
        cg_audit_find(a, CG_HIGH, subject, "%s %s is readable by %s, the "
                      "account PHP runs as: any PHP code on the site can "
                      "read it; make it root:chatgate-keys 0640 and run "
                      "chatgate with [server] group = chatgate-keys, a "
                      "group %s is not in (docs/keys.md)", what, path,
                      a->php_user, a->php_user);
    }
}


/* Whoever reads [session] secret (or jwt_secret) can forge a session for
 * any user: it is audited like a provider key. */
static void
cg_audit_session_secret(cg_audit_t *a, const cg_conf_t *conf)
{
    const char  *refs[] = { conf->session.secret_ref,
                            conf->session.jwt_secret_ref };
    const char  *names[] = { "[session] secret", "[session] jwt_secret" };
    json_object *arr = json_object_new_array();
    struct stat  st;
    char         path[4096];
    size_t       i;

    for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        if (refs[i] == NULL || cg_secret_path(refs[i], path, sizeof(path))
            || stat(path, &st) != 0) {
            continue;
        }
        json_object_array_add(arr, cg_audit_file(path, &st, 0));
        if (st.st_mode & S_IROTH) {
            cg_audit_find(a, CG_HIGH, names[i], "%s file %s is readable by "
                          "everyone (mode %04o): anyone can forge any "
                          "user's session", names[i], path,
                          (unsigned) (st.st_mode & 07777));
        }
        cg_audit_php_reads(a, names[i], "session secret file", path, &st);
        cg_audit_acls(a, names[i], "secret", path);
    }
    json_object_object_add(a->root, "session_secrets", arr);
}
/* --- end PHP and the session secret --- */


static void
cg_audit_key_file(cg_audit_t *a, const cg_key_t *k, json_object *jk)
{
    struct stat st;
    char        path[4096];

    if (cg_secret_path(k->source, path, sizeof(path)) != 0) {
        if (strncmp(k->source, "env:", 4) == 0) {
            cg_audit_find(a, k->env == CG_ENV_PRODUCTION ? CG_LOW : CG_INFO,
                          k->name, "comes from the environment: the "
                          "master's /proc/PID/environ keeps it for the "
                          "process's life; prefer file: or credential:");
        }
        return;
    }
    if (stat(path, &st) != 0) {
        return;     /* the load error already says why */
    }
    json_object_object_add(jk, "file", cg_audit_file(path, &st, 0));
    cg_audit_php_reads(a, k->name, "key file", path, &st);
    cg_audit_secret_file(a, k->name, "key", path, &st);
}


static void
cg_audit_key_age(cg_audit_t *a, const cg_key_t *k, json_object *jk)
{
    long age = cg_keys_age_days(k, a->now);

    json_object_object_add(jk, "age_days",
                           age < 0 ? NULL : json_object_new_int64(age));
    json_object_object_add(jk, "age_from", json_object_new_string(
                           k->created_t ? "created" :
                           age < 0 ? "unknown" : "file ctime"));
    json_object_object_add(jk, "max_age_days",
                           json_object_new_int(k->max_age_days));
    if (age < 0) {
        cg_audit_find(a, CG_LOW, k->name, "age unknown: set created = "
                      "YYYY-MM-DD in [key %s]", k->name);
    } else if (age > 2L * k->max_age_days) {
        cg_audit_find(a, CG_HIGH, k->name, "%ld days old, over twice its "
                      "max_age_days of %d: rotate it now", age,
                      k->max_age_days);
    } else if (age > k->max_age_days) {
        cg_audit_find(a, CG_MEDIUM, k->name, "%ld days old, over its "
                      "max_age_days of %d: rotate it", age, k->max_age_days);
    }
}


/* A services name that matches no [token NAME] is a typo or a token
 * since removed: the key's scope is not what its reader thinks. */
static void
cg_audit_services(cg_audit_t *a, const cg_conf_t *conf, const cg_key_t *k)
{
    const cg_token_t *t;
    const char       *p = k->services, *item;
    size_t            len;

    while (p && cg_csv_next(&p, &item, &len)) {
        if (len == 1 && item[0] == '*') {
            continue;
        }
        for (t = conf->session.tokens; t; t = t->next) {
            if (strlen(t->name) == len && memcmp(t->name, item, len) == 0) {
                break;
            }
        }
        if (t == NULL) {
            cg_audit_find(a, CG_MEDIUM, k->name, "services names %.*s, "
                          "which is no [token NAME] in the config",
                          (int) len, item);
        }
    }
}


/* routes: the routes using k (NULL: none), for the report. */
static void
cg_audit_key(cg_audit_t *a, cg_conf_t *conf, cg_key_t *k, json_object *used,
             json_object *keys)
{
    json_object *jk = json_object_new_object();
    char         err[512];

    json_object_object_add(jk, "name", json_object_new_string(k->name));
    json_object_object_add(jk, "environment",
                           json_object_new_string(cg_keys_env_name(k->env)));
    json_object_object_add(jk, "source", json_object_new_string(k->source));
    if (k->secret.data == NULL
        && cg_secret_load(&k->secret, k->source, err, sizeof(err)) != 0) {
        cg_audit_find(a, CG_MEDIUM, k->name, "cannot be read here (%s); run "
                      "audit as root, with the service's environment", err);
    }
    json_object_object_add(jk, "fingerprint", k->secret.data
                           ? json_object_new_string(k->secret.fp) : NULL);
    cg_audit_key_age(a, k, jk);
    json_object_object_add(jk, "routes", json_object_new_string(k->routes));
    json_object_object_add(jk, "services",
                           json_object_new_string(k->services));
    json_object_object_add(jk, "provider_key",
                           json_object_new_boolean(used != NULL));
    json_object_object_add(jk, "used_by", used);
    if (used && k->env != conf->provider.environment) {
        cg_audit_find(a, CG_HIGH, k->name, "route %s uses this %s key but "
                      "[server] environment is %s",
                      json_object_get_string(json_object_array_get_idx(used,
                                                                       0)),
                      cg_keys_env_name(k->env),
                      cg_keys_env_name(conf->provider.environment));
    }
    cg_audit_services(a, conf, k);
    cg_audit_key_file(a, k, jk);
    json_object_array_add(keys, jk);
}


/* The routes using the key called name, as a JSON array, or NULL. */
static json_object *
cg_audit_users(const cg_conf_t *conf, const char *name)
{
    json_object *arr = NULL;
    int          i;

    for (i = 0; i < conf->provider.nroutes; i++) {
        if (strcmp(cg_provider_route_key_name(&conf->provider.routes[i]), name)
            == 0) {
            if (arr == NULL) {
                arr = json_object_new_array();
            }
            json_object_array_add(arr, json_object_new_string(
                                  conf->provider.routes[i].name));
        }
    }
    return arr;
}


/* The same key bytes under two names defeat per-environment and
 * per-service keys: one leak exposes both. */
static void
cg_audit_shared(cg_audit_t *a, cg_key_t *all, size_t n)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (all[i].secret.data == NULL || all[j].secret.data == NULL
                || strcmp(all[i].secret.fp, all[j].secret.fp) != 0) {
                continue;
            }
            if (all[i].env != all[j].env) {
                cg_audit_find(a, CG_HIGH, all[i].name, "same key as %s "
                              "(%s), shared across environments %s and %s",
                              all[j].name, all[i].secret.fp,
                              cg_keys_env_name(all[i].env),
                              cg_keys_env_name(all[j].env));
            } else {
                cg_audit_find(a, CG_MEDIUM, all[i].name, "same key as %s "
                              "(%s): give each service its own key",
                              all[j].name, all[i].secret.fp);
            }
        }
    }
}


/* Every route's key: a direct reference is audited as a key of its own
 * ("provider" for the route "default", else the route's name), copied so
 * that its secret is loaded and freed here; then every [key NAME]. */
static void
cg_audit_keys(cg_audit_t *a, cg_conf_t *conf)
{
    json_object *keys = json_object_new_array();
    cg_key_t     all[CG_KEYS_MAX + 64];
    size_t       n = 0, direct, i;
    const char  *name;
    int          r;

    for (r = 0; r < conf->provider.nroutes && n < 64; r++) {
        name = cg_provider_route_key_name(&conf->provider.routes[r]);
        if (strncmp(conf->provider.routes[r].api_key_ref, "key:", 4) != 0) {
            cg_provider_route_keyview(conf, &conf->provider.routes[r],
                                      &all[n]);
            memset(&all[n].secret, 0, sizeof(all[n].secret));
            cg_audit_key(a, conf, &all[n], cg_audit_users(conf, name), keys);
            n++;
        } else if (cg_keys_find(&conf->provider.keys, name) == NULL) {
            cg_audit_find(a, CG_HIGH, name, "route %s api_key refers to "
                          "key:%s, which has no [key %s] section",
                          conf->provider.routes[r].name, name, name);
        }
    }
    direct = n;
    for (i = 0; i < conf->provider.keys.n; i++) {
        cg_audit_key(a, conf, &conf->provider.keys.v[i],
                     cg_audit_users(conf, conf->provider.keys.v[i].name),
                     keys);
        all[n++] = conf->provider.keys.v[i];
    }
    cg_audit_shared(a, all, n);
    for (i = 0; i < direct; i++) {
        cg_secret_free(&all[i].secret);
    }
    json_object_object_add(a->root, "keys", keys);
}


static void
cg_audit_socket(cg_audit_t *a, const cg_conf_t *conf)
{
    json_object *o;
    struct stat  st;

    if (conf->server.listen[0] != '/') {
        o = json_object_new_object();
        json_object_object_add(o, "address",
                               json_object_new_string(conf->server.listen));
        json_object_object_add(o, "connect", json_object_new_string(
                               "any local account (TCP)"));
        cg_audit_find(a, CG_MEDIUM, "socket", "listens on TCP %s: every "
                      "local account can send requests; use a Unix socket",
                      conf->server.listen);
    } else if (stat(conf->server.listen, &st) != 0) {
        o = json_object_new_object();
        json_object_object_add(o, "path",
                               json_object_new_string(conf->server.listen));
        cg_audit_find(a, CG_INFO, "socket", "%s does not exist (server not "
                      "running?); socket_mode is %04o", conf->server.listen,
                      (unsigned) conf->server.socket_mode);
    } else {
        /* Connecting to a Unix socket needs write permission on it. */
        o = cg_audit_file(conf->server.listen, &st, 1);
        if (st.st_mode & S_IWOTH) {
            cg_audit_find(a, CG_HIGH, "socket", "%s is writable by everyone: "
                          "any local account can use the provider key",
                          conf->server.listen);
        }
    }
    json_object_object_add(a->root, "socket", o);
}


static void
cg_audit_config(cg_audit_t *a, const char *path)
{
    struct stat  st, dst;
    json_object *o;
    char        *copy = strdup(path), *dir;

    if (copy == NULL || stat(path, &st) != 0) {
        free(copy);
        return;
    }
    o = cg_audit_file(path, &st, 1);
    dir = dirname(copy);
    if (stat(dir, &dst) == 0) {
        json_object_object_add(o, "directory", cg_audit_file(dir, &dst, 1));
        if ((dst.st_mode & S_IWOTH) && !(dst.st_mode & S_ISVTX)) {
            cg_audit_find(a, CG_HIGH, "config", "directory %s is writable "
                          "by everyone: anyone can replace the config", dir);
        }
    }
    if (st.st_mode & S_IWOTH) {
        cg_audit_find(a, CG_HIGH, "config", "%s is writable by everyone",
                      path);
    } else if (st.st_mode & S_IWGRP) {
        cg_audit_find(a, CG_MEDIUM, "config", "%s is writable by its group: "
                      "its members can point api_key at any file", path);
    }
    if (st.st_mode & S_IROTH) {
        cg_audit_find(a, CG_LOW, "config", "%s is readable by everyone "
                      "(it names the key files)", path);
    }
    json_object_object_add(a->root, "config_file", o);
    free(copy);
}


static void
cg_audit_provider(cg_audit_t *a, const cg_conf_t *conf)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    time_t       t = 0;
    long         days = -1;

    if (conf->provider.reviewed[0]
        && cg_keys_date_parse(conf->provider.reviewed, &t) == 0) {
        days = (long) ((a->now - t) / CG_DAY_S);
    }
    json_object_object_add(o, "type",
                           json_object_new_string(
                               cg_provider_type_name(conf->provider.type)));
    json_object_object_add(o, "retention", conf->provider.retention[0]
                           ? json_object_new_string(conf->provider.retention)
                           : NULL);
    json_object_object_add(o, "reviewed", conf->provider.reviewed[0]
                           ? json_object_new_string(conf->provider.reviewed)
                           : NULL);
    json_object_object_add(o, "review_age_days",
                           days < 0 ? NULL : json_object_new_int64(days));
    if (conf->provider.retention[0] == '\0') {
        cg_audit_find(a, CG_MEDIUM, "provider", "no data-retention policy "
                      "recorded: set [provider] retention and reviewed");
    }
    if (days < 0) {
        cg_audit_find(a, CG_MEDIUM, "provider", "retention never reviewed: "
                      "set [provider] reviewed = YYYY-MM-DD");
    } else if (days > 365) {
        cg_audit_find(a, CG_MEDIUM, "provider", "retention last reviewed "
                      "%ld days ago (more than a year)", days);
    }
    json_object_array_add(arr, o);
    json_object_object_add(a->root, "providers", arr);
}


static int
cg_audit_loopback(const cg_acl_t *acl, int i)
{
    static const unsigned char one[16] = { [15] = 1 };

    return acl->family[i] == AF_INET ? acl->addr[i][0] == 127
                                     : memcmp(acl->addr[i], one, 16) == 0;
}


/* The status page shows the pool, the routes and request counts: fine for
 * the host itself, a finding when [status] allow lets others read it. */
static void
cg_audit_status_page(cg_audit_t *a, const cg_conf_t *conf)
{
    json_object *o = json_object_new_object();
    cg_acl_t     acl;
    char         err[128];
    int          i, wide = 0;

    json_object_object_add(o, "configured",
                           json_object_new_boolean(conf->status.path[0]));
    json_object_object_add(a->root, "status_page", o);
    if (conf->status.path[0] == '\0') {
        cg_audit_find(a, CG_INFO, "status", "no status page configured");
        return;
    }
    json_object_object_add(o, "path",
                           json_object_new_string(conf->status.path));
    json_object_object_add(o, "allow",
                           json_object_new_string(conf->status.allow));
    if (cg_acl_parse(&acl, conf->status.allow, err, sizeof(err)) != 0) {
        cg_audit_find(a, CG_MEDIUM, "status", "[status] allow: %s (the "
                      "server refuses to start)", err);
        return;
    }
    for (i = 0; i < acl.n; i++) {
        wide += !cg_audit_loopback(&acl, i);
    }
    if (wide) {
        cg_audit_find(a, CG_MEDIUM, "status", "status page %s exposed: "
                      "[status] allow admits %d non-loopback address(es) "
                      "(%s); it shows the pool and the routes, keep it to "
                      "127.0.0.1, ::1", conf->status.path, wide,
                      conf->status.allow);
    } else {
        cg_audit_find(a, CG_INFO, "status", "status page %s readable from "
                      "loopback only", conf->status.path);
    }
}


static void
cg_audit_print_list(const char *label, json_object *o, const char *key)
{
    json_object *arr;
    size_t       i, n;

    if (!json_object_object_get_ex(o, key, &arr)) {
        return;
    }
    printf("  %-13s", label);
    n = json_object_array_length(arr);
    for (i = 0; i < n; i++) {
        printf("%s%s", i ? ", " : "",
               json_object_get_string(json_object_array_get_idx(arr, i)));
        if (i == 0 && strcmp(json_object_get_string(
                              json_object_array_get_idx(arr, i)), "root") == 0) {
            printf(" (always)");
        }
    }
    printf("\n");
}


static const char *
cg_audit_str(json_object *o, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        return "-";
    }
    return json_object_get_string(v);
}


static void
cg_audit_print_file(const char *title, json_object *f)
{
    if (f == NULL) {
        return;
    }
    printf("%s %s: owner %s, group %s, mode %s\n", title,
           cg_audit_str(f, "path"), cg_audit_str(f, "owner"),
           cg_audit_str(f, "group"), cg_audit_str(f, "mode"));
    cg_audit_print_list("readable by:", f, "readers");
    cg_audit_print_list("groups:", f, "reader_groups");
    cg_audit_print_list("writable by:", f, "writers");
}


static void
cg_audit_print_routes(json_object *arr)
{
    size_t i, n = arr ? json_object_array_length(arr) : 0;

    printf("  used by:     %s", n ? "route " : "no route");
    for (i = 0; i < n; i++) {
        printf("%s%s", i ? ", " : "",
               json_object_get_string(json_object_array_get_idx(arr, i)));
    }
    printf("\n");
}


static void
cg_audit_print_key(json_object *k)
{
    json_object *f = NULL;

    printf("key %s\n", cg_audit_str(k, "name"));
    printf("  environment: %s\n", cg_audit_str(k, "environment"));
    printf("  source:      %s\n", cg_audit_str(k, "source"));
    printf("  fingerprint: %s\n", cg_audit_str(k, "fingerprint"));
    printf("  age:         %s days (from %s, max %s)\n",
           cg_audit_str(k, "age_days"), cg_audit_str(k, "age_from"),
           cg_audit_str(k, "max_age_days"));
    printf("  routes:      %s\n", cg_audit_str(k, "routes"));
    printf("  services:    %s\n", cg_audit_str(k, "services"));
    cg_audit_print_routes(json_object_object_get(k, "used_by"));
    if (json_object_object_get_ex(k, "file", &f)) {
        printf("  file:        %s (owner %s, group %s, mode %s)\n",
               cg_audit_str(f, "path"), cg_audit_str(f, "owner"),
               cg_audit_str(f, "group"), cg_audit_str(f, "mode"));
        cg_audit_print_list("readable by:", f, "readers");
        cg_audit_print_list("groups:", f, "reader_groups");
    }
}


static void
cg_audit_print(cg_audit_t *a)
{
    json_object *v, *d = NULL;
    size_t       i, n;

    printf("chatgate audit of %s (environment %s)\n",
           cg_audit_str(a->root, "config"),
           cg_audit_str(a->root, "environment"));
    json_object_object_get_ex(a->root, "keys", &v);
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        cg_audit_print_key(json_object_array_get_idx(v, i));
    }
    if (json_object_object_get_ex(a->root, "socket", &v)) {
        if (json_object_object_get_ex(v, "readers", NULL)) {
            cg_audit_print_file("socket", v);
        } else {
            printf("socket %s\n", cg_audit_str(v, "path"));
        }
    }
    if (json_object_object_get_ex(a->root, "config_file", &v)) {
        cg_audit_print_file("config", v);
        json_object_object_get_ex(v, "directory", &d);
        cg_audit_print_file("config directory", d);
    }
    json_object_object_get_ex(a->root, "providers", &v);
    v = json_object_array_get_idx(v, 0);
    printf("provider %s: retention %s, reviewed %s\n",
           cg_audit_str(v, "type"), cg_audit_str(v, "retention"),
           cg_audit_str(v, "reviewed"));
    printf("findings:\n");
    n = json_object_array_length(a->findings);
    for (i = 0; i < n; i++) {
        v = json_object_array_get_idx(a->findings, i);
        printf("  [%s] %s: %s\n", cg_audit_str(v, "severity"),
               cg_audit_str(v, "subject"), cg_audit_str(v, "message"));
    }
    printf("summary: %d high, %d medium, %d low, %d info\n",
           a->counts[CG_HIGH], a->counts[CG_MEDIUM], a->counts[CG_LOW],
           a->counts[CG_INFO]);
}


int
cg_audit_run(const char *path, int json)
{
    cg_audit_t  a;
    cg_conf_t   *conf;
    json_object *sum;
    char         err[1024];
    int          i;

    conf = cg_confopen(path, CG_OPEN_SETTINGS, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "chatgate: %s\n", err);
        return 1;
    }
    memset(&a, 0, sizeof(a));
    a.now = cg_clock_now();
    a.root = json_object_new_object();
    a.findings = json_object_new_array();
    json_object_object_add(a.root, "config", json_object_new_string(path));
    json_object_object_add(a.root, "environment", json_object_new_string(
                           cg_keys_env_name(conf->provider.environment)));
    json_object_object_add(a.root, "usage_log",
                           json_object_new_string(conf->log.usage_log));
    a.php_user = cg_audit_php_user(conf);
    cg_audit_keys(&a, conf);
    cg_audit_session_secret(&a, conf);
    cg_audit_socket(&a, conf);
    cg_audit_config(&a, path);
    cg_audit_status_page(&a, conf);
    cg_audit_provider(&a, conf);
    json_object_object_add(a.root, "findings", a.findings);
    sum = json_object_new_object();
    for (i = 0; i < 4; i++) {
        json_object_object_add(sum, cg_sev_names[i],
                               json_object_new_int(a.counts[i]));
    }
    json_object_object_add(a.root, "summary", sum);
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(a.root,
               JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        cg_audit_print(&a);
    }
    json_object_put(a.root);
    cg_confclose(conf);
    return a.counts[CG_HIGH] ? 3 : 0;
}
