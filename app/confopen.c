#include "confopen.h"
#include "acl.h"

#include "core/secret.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* Key files may belong to root, to the account chatgate runs as, to the
 * [server] user it drops to, or to the config file's owner (who can point
 * api_key at a file of its own anyway, so trusting it adds nothing). */
static void
cg_confopen_trust(const cg_conf_t *conf, const char *path)
{
    struct stat    st;
    struct passwd *pw;

    if (stat(path, &st) == 0) {
        cg_secret_trust_uid(st.st_uid);
    }
    if (conf->server.user[0] && (pw = getpwnam(conf->server.user)) != NULL) {
        cg_secret_trust_uid(pw->pw_uid);
    }
}


/* The address lists are parsed where they are used (workers); check them
 * here so a typo fails `check`, the start or the reload, not every
 * worker. */
static int
cg_confopen_acls(const cg_conf_t *conf, char *err, size_t errlen)
{
    cg_acl_t acl;
    char     e[200];

    if (cg_acl_parse(&acl, conf->server.allowed_clients, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "[server] allowed_clients: %s", e);
        return -1;
    }
    if (cg_acl_parse(&acl, conf->status.allow, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "[status] allow: %s", e);
        return -1;
    }
    return 0;
}


/* A file every worker opens at start (the usage log, the local counter
 * store) must be writable, or creatable in its folder, by this process's
 * user: for a reload that is the master's, already the workers' user. It
 * is only looked at, never created, so `check` run as root leaves nothing
 * behind that the workers could not open. */
static int
cg_confopen_writable(const char *what, const char *file, char *err,
                     size_t errlen)
{
    char  dir[PATH_MAX];
    char *slash;

    if (access(file, W_OK) == 0) {
        return 0;
    }
    if (errno == ENOENT && strlen(file) < sizeof(dir)) {
        memcpy(dir, file, strlen(file) + 1);
        slash = strrchr(dir, '/');
        if (slash == NULL) {
            memcpy(dir, ".", 2);
        } else {
            slash[slash == dir] = '\0';     /* "/x" -> "/" */
        }
        if (access(dir, W_OK | X_OK) == 0) {
            return 0;
        }
    }
    snprintf(err, errlen, "%s: cannot write %s: %s", what, file,
             strerror(errno));
    return -1;
}


static int
cg_confopen_files(const cg_conf_t *conf, char *err, size_t errlen)
{
    if (cg_confopen_writable("[log] usage_log", conf->log.usage_log, err,
                             errlen) != 0) {
        return -1;
    }
    if (conf->store.type == CG_STORE_LOCAL
        && cg_confopen_writable("[store] path", conf->store.path, err,
                                errlen) != 0) {
        return -1;
    }
    return 0;
}


cg_conf_t *
cg_confopen(const char *path, cg_open_level_t level, char *err,
            size_t errlen)
{
    cg_conf_t *conf = calloc(1, sizeof(*conf));

    if (conf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cg_conf_init(conf, err, errlen) != 0
        || (path && cg_conf_load(conf, path, err, errlen) != 0)
        || (level == CG_OPEN_ALL
            && (cg_confopen_acls(conf, err, errlen) != 0
                || cg_confopen_files(conf, err, errlen) != 0))) {
        goto failed;
    }
    if (level >= CG_OPEN_SESSION && path) {
        cg_confopen_trust(conf, path);
    }
    if ((level == CG_OPEN_SESSION
         && cg_conf_load_session_secret(conf, err, errlen) != 0)
        || (level == CG_OPEN_ALL
            && cg_conf_load_secrets(conf, err, errlen) != 0)) {
        goto failed;
    }
    return conf;

failed:
    cg_confclose(conf);
    return NULL;
}


void
cg_confclose(cg_conf_t *conf)
{
    if (conf) {
        cg_conf_free(conf);
        free(conf);
    }
}
