#include "preflight.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG_PF_MAX_EXIT  100     /* errors counted through an exit status */

typedef struct {
    int         errors;
    const char *who;            /* the account the checks run as */
    int         dropped;        /* who is [server] user, not the starter */
} cg_pf_t;


static void __attribute__((format(printf, 2, 3)))
cg_pf_error(cg_pf_t *pf, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "chatgate: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pf->errors++;
}


static void __attribute__((format(printf, 1, 2)))
cg_pf_warn(const char *fmt, ...)
{
    va_list ap;

    printf("chatgate: warning: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}


/* Each account [server] names, by the key that names it. */
static void
cg_pf_accounts(const cg_conf_t *conf, cg_pf_t *pf)
{
    if (conf->server.user[0] && getpwnam(conf->server.user) == NULL) {
        cg_pf_error(pf, "[server] user %s: no such user", conf->server.user);
    }
    if (conf->server.group[0] && getgrnam(conf->server.group) == NULL) {
        cg_pf_error(pf, "[server] group %s: no such group",
                    conf->server.group);
    }
    if (conf->server.socket_owner[0]
        && getpwnam(conf->server.socket_owner) == NULL) {
        cg_pf_error(pf, "[server] socket_owner %s: no such user",
                    conf->server.socket_owner);
    }
    if (conf->server.socket_group[0]
        && getgrnam(conf->server.socket_group) == NULL) {
        cg_pf_error(pf, "[server] socket_group %s: no such group",
                    conf->server.socket_group);
    }
}


/* 0 when the effective account can write path, or create it in its
 * directory; else -1 with why. */
static int
cg_pf_writable(const char *path, char *why, size_t len)
{
    char dir[PATH_MAX];

    if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0) {
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(why, len, "%s", strerror(errno));
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    if (faccessat(AT_FDCWD, dirname(dir), W_OK | X_OK, AT_EACCESS) != 0) {
        snprintf(why, len, "cannot create it in %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}


/* 0 when the effective account can create and remove entries in path's
 * directory. */
static int
cg_pf_dir_writable(const char *path)
{
    char dir[PATH_MAX];

    snprintf(dir, sizeof(dir), "%s", path);
    return faccessat(AT_FDCWD, dirname(dir), W_OK | X_OK, AT_EACCESS);
}


static void
cg_pf_must_write(cg_pf_t *pf, const char *key, const char *path)
{
    char why[PATH_MAX + 64];

    if (path != NULL && path[0] && cg_pf_writable(path, why, sizeof(why))) {
        cg_pf_error(pf, "%s %s: not writable by %s: %s", key, path, pf->who,
                    why);
    }
}


static void
cg_pf_reload_reads(cg_pf_t *pf, const char *key, const char *ref)
{
    if (ref != NULL && strncmp(ref, "file:", 5) == 0
        && faccessat(AT_FDCWD, ref + 5, R_OK, AT_EACCESS) != 0) {
        cg_pf_warn("%s %s: not readable by %s (%s): a reload (SIGHUP) "
                   "re-reads it as %s and would be refused; give it to "
                   "[server] group", key, ref + 5, pf->who, strerror(errno),
                   pf->who);
    }
}


/* What serve does as the account it runs as: workers open the usage log
 * and the local store, a log rotation reopens the error log, a reload
 * re-reads the keys, and the exit removes the pid file and socket. */
static void
cg_pf_as_run_user(const cg_conf_t *conf, cg_pf_t *pf)
{
    char why[PATH_MAX + 64];
    int  i;

    cg_pf_must_write(pf, "[log] usage_log", conf->log.usage_log);
    if (conf->log.error_log[0] && cg_pf_writable(conf->log.error_log, why,
                                             sizeof(why)) != 0) {
        /* Opened before the drop; only a reopen (SIGUSR1) needs this. */
        cg_pf_warn("[log] error_log %s: not writable by %s (%s): after a "
                   "log rotation it could not be reopened",
                   conf->log.error_log,
                   pf->who, why);
    }
    if (conf->store.type == CG_STORE_LOCAL) {
        cg_pf_must_write(pf, "[store] path", conf->store.path);
    }
    for (i = 0; i < conf->provider.nroutes; i++) {
        cg_pf_reload_reads(pf, "[provider] api_key",
                           conf->provider.routes[i].api_key_ref);
    }
    for (i = 0; i < (int) conf->provider.keys.n; i++) {
        char label[96];

        snprintf(label, sizeof(label), "[key %s] source",
                 conf->provider.keys.v[i].name);
        cg_pf_reload_reads(pf, label, conf->provider.keys.v[i].source);
    }
    cg_pf_reload_reads(pf, "[session] secret", conf->session.secret_ref);
    cg_pf_reload_reads(pf, "[session] jwt_secret",
                       conf->session.jwt_secret_ref);
    if (!pf->dropped) {
        return;                 /* the starter's own files: checked above */
    }
    if (conf->server.pid_file[0]
        && cg_pf_dir_writable(conf->server.pid_file) != 0) {
        cg_pf_warn("[server] pid_file %s: its directory is not writable by "
                   "%s, so chatgate keeps a small root helper to remove it "
                   "at exit; a directory of its own (/run/chatgate, owned "
                   "by %s) is simpler", conf->server.pid_file, pf->who,
                   pf->who);
    }
}


/* Runs cg_pf_as_run_user as [server] user when started as root, in a
 * child that drops privileges exactly as serve does. */
static void
cg_pf_drop_and_check(const cg_conf_t *conf, cg_pf_t *pf)
{
    struct passwd *pw = getpwnam(conf->server.user);
    struct group  *gr = conf->server.group[0] ? getgrnam(conf->server.group)
                                              : NULL;
    pid_t          pid;
    int            status;
    gid_t          gid;

    if (pw == NULL || (conf->server.group[0] && gr == NULL)) {
        return;                 /* said by cg_pf_accounts */
    }
    gid = gr ? gr->gr_gid : pw->pw_gid;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        cg_pf_error(pf, "cannot fork to check as %s: %s", conf->server.user,
                    strerror(errno));
        return;
    }
    if (pid == 0) {
        if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0
            || setuid(pw->pw_uid) != 0) {
            cg_pf_error(pf, "cannot switch to [server] user %s: %s",
                        conf->server.user, strerror(errno));
        } else {
            cg_pf_as_run_user(conf, pf);
        }
        fflush(NULL);
        _exit(pf->errors > CG_PF_MAX_EXIT ? CG_PF_MAX_EXIT : pf->errors);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        /* retry */
    }
    pf->errors += WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}


/* loopback: 127.0.0.0/8, ::1, ::ffff:127.x. */
static int
cg_pf_loopback(const char *listen)
{
    char             host[INET6_ADDRSTRLEN + 2];
    const char      *colon = strrchr(listen, ':');
    size_t           n = colon ? (size_t) (colon - listen) : 0;
    struct in_addr   a4;
    struct in6_addr  a6;

    if (n == 0 || n >= sizeof(host)) {
        return 1;               /* not HOST:PORT: refused elsewhere */
    }
    memcpy(host, listen, n);
    host[n] = '\0';
    if (host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    if (inet_pton(AF_INET, host, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&a6)
               || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    }
    return 0;
}


/* What the account starting serve creates: the socket and the pid file
 * (before any privilege drop). */
static void
cg_pf_as_starter(const cg_conf_t *conf, cg_pf_t *pf, const char *me)
{
    const char *sock = conf->server.listen;
    char        why[PATH_MAX + 64];

    if (sock[0] == '/' && cg_pf_dir_writable(sock) != 0) {
        /* Not an error: under systemd or a spawner it is never used. */
        cg_pf_warn("[server] listen %s: %s cannot create the socket there "
                   "(%s); serve fails unless systemd or a spawner (mod_fcgid, "
                   "spawn-fcgi) passes it the socket", conf->server.listen, me,
                   strerror(errno));
    } else if (sock[0] != '/' && !cg_pf_loopback(sock)) {
        cg_pf_warn("[server] listen %s is not a loopback address: whoever "
                   "reaches it can send FastCGI requests as if from the "
                   "web server%s", conf->server.listen,
                   conf->server.allowed_clients[0] ? "" : " (set [server] "
                   "allowed_clients, or listen on 127.0.0.1)");
    }
    if (conf->server.pid_file[0] && cg_pf_writable(conf->server.pid_file, why,
                                            sizeof(why)) != 0) {
        cg_pf_error(pf, "[server] pid_file %s: not writable by %s: %s",
                    conf->server.pid_file, me, why);
    }
}


int
cg_preflight(const cg_conf_t *conf)
{
    struct passwd *pw = getpwuid(geteuid());
    char           me[64];
    cg_pf_t        pf = { 0, me, 0 };

    snprintf(me, sizeof(me), "%s", pw ? pw->pw_name : "this account");
    cg_pf_accounts(conf, &pf);
    cg_pf_as_starter(conf, &pf, me);
    if (geteuid() == 0 && conf->server.user[0]) {
        pf.who = conf->server.user;
        pf.dropped = 1;
        cg_pf_drop_and_check(conf, &pf);
    } else {
        if (geteuid() == 0) {
            cg_pf_warn("serve would run as root: set [server] user");
        }
        cg_pf_as_run_user(conf, &pf);
    }
    return pf.errors;
}
