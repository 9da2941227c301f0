#include "master.h"
#include "alertsend.h"
#include "children.h"
#include "confopen.h"
#include "confwatch.h"
#include "keylog.h"
#include "log.h"
#include "pctl.h"
#include "privs.h"
#include "scoreboard.h"
#include "sockets.h"
#include "worker.h"

#include "provider/upstream.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
cg_master_pid_file(const cg_conf_t *conf, int create)
{
    FILE *f;

    if (conf->server.pid_file == NULL || conf->server.pid_file[0] == '\0') {
        return;
    }
    if (!create) {
        unlink(conf->server.pid_file);
        return;
    }
    f = fopen(conf->server.pid_file, "we");
    if (f == NULL) {
        cg_log(CG_LOG_WARN, "cannot write pid file %s: %s",
               conf->server.pid_file,
               strerror(errno));
        return;
    }
    fprintf(f, "%d\n", (int) getpid());
    fclose(f);
}


int
cg_master_run_single(cg_conf_t *conf, const char *conf_path)
{
    const char *children = getenv("PHP_FCGI_CHILDREN");
    cg_sb_t     sb;
    int         rc;

    /* lighttpd sets PHP_FCGI_CHILDREN=1 by default: one worker is what a
     * single process already is, without a master. */
    if (children && atoi(children) > 1) {
        cg_children_php_set(atoi(children) > 1024 ? 1024 : atoi(children));
        cg_children_php_pool(conf);
        return cg_master_run(conf, conf_path);
    }

    /* mod_fcgid, spawn-fcgi, lighttpd bin-path: the spawner manages the
     * processes and sends one request at a time, so one process, one
     * thread, no master. */
    if (cg_privs_drop(conf) != 0 || cg_upstream_global_init() != 0
        || cg_sb_create(&sb, 1, 1) != 0 || cg_alertsend_start(conf) != 0) {
        return 1;
    }
    atomic_store(&sb.procs[0].pid, (int) getpid());
    cg_log(CG_LOG_NOTICE, "serving on the inherited socket (provider key "
           "%s)", conf->provider.api_key.fp);
    cg_confwatch_start(conf_path);  /* no master to reload: see confwatch.h */
    rc = cg_worker_run(conf, 0, (const int[2]) { -1, -1 }, &sb, 0, 1);
    cg_alertsend_stop();
    cg_sb_destroy(&sb);
    cg_confclose(conf);
    return rc;
}


/* The socket pair every worker inherits, over which a stopping worker
 * passes its kept FastCGI connections to the others (worker.h), so that
 * a reload never closes one under nginx. In ondemand the master watches
 * it as it watches the socket: connections handed on with no process to
 * take them start one. */
static void
cg_master_handoff(cg_pool_t *m)
{
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, m->handoff)
        != 0) {
        cg_log(CG_LOG_WARN, "no hand-off of kept connections: %s",
               strerror(errno));
        m->handoff[0] = m->handoff[1] = -1;
    }
}


static int
cg_master_open(cg_pool_t *m)
{
    char err[512];

    if (cg_children_php() > 0) {
        m->listen_fd = 0;
        return 0;
    }
    m->listen_fd = cg_sockets_systemd();
    if (m->listen_fd >= 0) {
        m->systemd = 1;
        return 0;
    }
    m->listen_fd = cg_sockets_listen(m->conf->server.listen,
                                     m->conf->server.socket_mode,
                                     m->conf->server.backlog, err,
                                     sizeof(err));
    if (m->listen_fd < 0) {
        cg_log(CG_LOG_ERROR, "%s", err);
        return -1;
    }
    m->own_socket = m->conf->server.listen[0] == '/';
    return cg_sockets_owner(m->conf);
}


/* The line an operator looks for first: where, which pool, which key. */
static void
cg_master_announce(const cg_pool_t *m)
{
    const cg_conf_t *conf = m->conf;

    cg_log(CG_LOG_NOTICE, "listening on %s: %s pool of up to %d processes "
           "x %d threads (provider key %s, %d routes)",
           m->systemd ? "the systemd socket (fd 3)"
           : cg_children_php() ? "the inherited socket (fd 0)"
           : conf->server.listen,
           conf->pool.mode == CG_PM_STATIC ? "static"
           : conf->pool.mode == CG_PM_DYNAMIC ? "dynamic" : "ondemand",
           cg_children_max(conf), conf->server.threads,
           conf->provider.routes[0].api_key.fp, conf->provider.nroutes);
    cg_keylog_events(NULL, conf, "start");
}


/* The start, in the order each step needs: the socket and the pid file
 * as root, the drop, then what the workers share. 0, or -1 once the
 * reason is logged. */
static int
cg_master_start(cg_pool_t *m)
{
    cg_conf_t *conf = m->conf;

    if (cg_pctl_signals() != 0
        || cg_sb_create(&m->sb, m->nslots, m->threads) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: %s", strerror(errno));
        return -1;
    }
    if (cg_master_open(m) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: see the line above");
        return -1;
    }
    cg_master_pid_file(conf, 1);
    cg_privs_cleanup(conf, m->own_socket ? conf->server.listen : NULL);
    if (cg_privs_drop(conf) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: see the line above");
        return -1;
    }
    if (cg_upstream_global_init() != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: the HTTP client (libcurl) "
               "failed to initialise");
        return -1;
    }
    if (cg_pctl_open_store(conf, &m->store) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start");
        cg_master_pid_file(conf, 0);
        return -1;
    }
    cg_master_announce(m);
    /* Before the first worker, so no sender is ever forked by a process
     * with threads. */
    if (cg_alertsend_start(conf) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: see the line above");
        cg_master_pid_file(conf, 0);
        return -1;
    }
    cg_master_handoff(m);
    return 0;
}


/* After the loop: every worker is gone; what the master made goes too. */
static void
cg_master_end(cg_pool_t *m)
{
    cg_alertsend_stop();
    close(m->listen_fd);
    if (m->handoff[0] >= 0) {
        close(m->handoff[0]);
        close(m->handoff[1]);
    }
    if (m->own_socket) {
        unlink(m->conf->server.listen);
    }
    cg_master_pid_file(m->conf, 0);
    cg_log(CG_LOG_NOTICE, "stopped");
    cg_store_free(m->store);
    cg_sb_destroy(&m->sb);
    cg_confclose(m->conf);
    cg_secret_env_clear();
}


/* Takes ownership of conf (allocated with malloc), which a reload
 * replaces. */
int
cg_master_run(cg_conf_t *conf, const char *conf_path)
{
    static cg_pool_t m;

    memset(&m, 0, sizeof(m));
    m.conf = conf;
    m.conf_path = conf_path;
    m.master_pid = getpid();
    m.threads = conf->server.threads;
    m.nslots = cg_children_max(conf) * 2 + 2;
    if (cg_master_start(&m) != 0) {
        return 1;
    }
    cg_children_start(&m);
    cg_pctl_loop(&m);
    cg_master_end(&m);
    return m.exit_code;
}
