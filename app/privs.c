#include "privs.h"
#include "cleanup.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* Started as root with a user to drop to: the pid file and socket made
 * as root must still go at exit (cleanup.h). */
void
cg_privs_cleanup(cg_conf_t *conf, const char *sock)
{
    struct passwd *pw;

    if (geteuid() != 0 || conf->server.user[0] == '\0'
        || (pw = getpwnam(conf->server.user)) == NULL) {
        return;
    }
    if (cg_cleanup_spawn(conf, conf->server.pid_file, sock, pw->pw_uid)
        != 0) {
        cg_log(CG_LOG_WARN, "cannot start the helper that removes the pid "
               "file and socket at exit: %s", strerror(errno));
    }
}


/* Called once the socket is open and the keys are read: what is left
 * needs no privilege. */
int
cg_privs_drop(const cg_conf_t *conf)
{
    struct passwd *pw;
    struct group  *gr;
    gid_t          gid;

    if (geteuid() != 0 || conf->server.user[0] == '\0') {
        if (geteuid() == 0) {
            cg_log(CG_LOG_WARN, "running as root: set [server] user");
        }
        return 0;
    }
    if ((pw = getpwnam(conf->server.user)) == NULL) {
        cg_log(CG_LOG_ERROR, "[server] user %s: no such user",
               conf->server.user);
        return -1;
    }
    gr = conf->server.group[0] ? getgrnam(conf->server.group) : NULL;
    if (conf->server.group[0] && gr == NULL) {
        cg_log(CG_LOG_ERROR, "[server] group %s: no such group",
               conf->server.group);
        return -1;
    }
    gid = gr ? gr->gr_gid : pw->pw_gid;
    if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0
        || setuid(pw->pw_uid) != 0) {
        cg_log(CG_LOG_ERROR, "cannot drop privileges to %s: %s",
               conf->server.user, strerror(errno));
        return -1;
    }
    /* setuid() makes the process dumpable again; keys are in memory. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return 0;
}


void
cg_privs_harden(void)
{
    struct rlimit rl = { 0, 0 };

    /* Keys live in this process: no core files, no same-user ptrace. */
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
