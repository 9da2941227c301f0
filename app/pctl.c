#include "pctl.h"
#include "alertsend.h"
#include "children.h"
#include "confopen.h"
#include "keylog.h"
#include "log.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int cg_pctl_pipe[2] = { -1, -1 };


static void
cg_pctl_on_signal(int sig)
{
    int           saved = errno;
    unsigned char c = (unsigned char) sig;

    if (write(cg_pctl_pipe[1], &c, 1) < 0) {
        /* pipe full: the loop polls and reaps on its own anyway */
    }
    errno = saved;
}


int
cg_pctl_signals(void)
{
    struct sigaction sa;
    int              sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                SIGCHLD };
    size_t           i;

    if (pipe2(cg_pctl_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = cg_pctl_on_signal;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}


/* The listening socket and the hand-off pair are all a worker keeps of
 * the master: not its self-pipe, not its handlers. */
void
cg_pctl_child_init(void)
{
    struct sigaction sa;
    int              sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                SIGCHLD, SIGPIPE };
    size_t           i;

    close(cg_pctl_pipe[0]);
    close(cg_pctl_pipe[1]);
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
}


static int
cg_pctl_reload_fits(cg_pool_t *m, cg_conf_t *nc)
{
    /* The scoreboard was sized at start: two generations of the pool. */
    if (nc->server.threads != m->threads
        || cg_children_max(nc) * 2 > m->nslots) {
        cg_log(CG_LOG_ERROR, "reload refused, still serving with the old "
               "configuration: a different [server] threads or a larger "
               "pool needs a restart");
        return 0;
    }
    return 1;
}


/* [store] type = local: the master opens the file before any worker,
 * so a configuration that cannot share it (another one, another size)
 * refuses to start, or to reload, with a message naming both. Returns the
 * open store (NULL for memcached) in *out; -1 refused. */
int
cg_pctl_open_store(const cg_conf_t *conf, cg_store_t **out)
{
    char        err[1024];
    const char *note;

    *out = NULL;
    if (conf->store.type != CG_STORE_LOCAL) {
        return 0;
    }
    *out = cg_store_new_local(conf->store.path, (unsigned) conf->store.slots,
                              conf->path, err, sizeof(err));
    if (*out == NULL) {
        cg_log(CG_LOG_ERROR, "%s", err);
        return -1;
    }
    if ((note = cg_store_notice(*out)) != NULL) {
        cg_log(CG_LOG_WARN, "%s", note);
    }
    return 0;
}


static void
cg_pctl_reload(cg_pool_t *m)
{
    cg_store_t *store;
    cg_conf_t *nc;
    char       err[512];
    int        old = m->generation;

    /* Exactly what `check` applies: a file every new worker would fail
     * to start with must not replace the one the old workers serve. */
    nc = cg_confopen(m->conf_path, CG_OPEN_ALL, err, sizeof(err));
    if (nc == NULL) {
        cg_log(CG_LOG_ERROR, "reload refused, still serving with the old "
               "configuration: %s", err);
        cg_keylog_refused(m->conf, err);
        return;
    }
    cg_children_php_pool(nc);
    if (!cg_pctl_reload_fits(m, nc) || cg_pctl_open_store(nc, &store)) {
        cg_confclose(nc);
        return;
    }
    cg_store_free(m->store);
    m->store = store;
    if (strcmp(nc->server.listen, m->conf->server.listen) != 0) {
        cg_log(CG_LOG_WARN, "reload: a new listen address needs a restart; "
               "keeping %s", m->conf->server.listen);
    }
    cg_keylog_events(m->conf, nc, "reload");
    cg_alertsend_reload(m->conf, nc);
    /* New workers, forked with the new config, take new requests while
     * the old ones finish theirs and leave. */
    cg_confclose(m->conf);
    m->conf = nc;
    m->generation++;
    cg_children_start(m);
    cg_children_signal(m, SIGQUIT, old);
    cg_log(CG_LOG_NOTICE, "reloaded %s (generation %d)", m->conf_path,
           m->generation);
}


/* scripts/rotate-key holds an exclusive flock(2) on the config file
 * while the key files are not in a state it has probed: a reload then
 * waits (the master checks again every loop, ~100 ms) rather than load a
 * key half-way through a rotation. The master holds a shared lock while
 * it reloads, so a rotation cannot start under it either. */
static void
cg_pctl_reload_when_unlocked(cg_pool_t *m)
{
    int fd = open(m->conf_path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) != 0
        && errno == EWOULDBLOCK) {
        if (!m->reload_pending) {
            cg_log(CG_LOG_NOTICE, "reload deferred: a key rotation holds "
                   "the lock on %s; reloading once it is released",
                   m->conf_path);
        }
        m->reload_pending = 1;
        close(fd);
        return;
    }
    m->reload_pending = 0;
    cg_pctl_reload(m);
    if (fd >= 0) {
        /* Unlocked explicitly: the new workers share this open file
         * (forked with it), and a close here would leave it locked. */
        (void) flock(fd, LOCK_UN);
        close(fd);
    }
}


void
cg_pctl_stop(cg_pool_t *m, int sig)
{
    if (m->stopping) {
        return;
    }
    m->stopping = 1;
    m->stop_deadline = cg_clock_mono() + m->conf->server.shutdown_timeout;
    cg_log(CG_LOG_NOTICE, "stopping (%s): waiting up to %d s for requests "
           "in flight", sig == SIGQUIT ? "graceful" : "terminate",
           m->conf->server.shutdown_timeout);
    cg_children_signal(m, SIGQUIT, -1);
}


static void
cg_pctl_handle(cg_pool_t *m, unsigned char sig)
{
    switch (sig) {
    case SIGCHLD:
        cg_children_reap(m);
        break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        cg_pctl_stop(m, sig);
        break;
    case SIGHUP:
        if (!m->stopping) {
            cg_pctl_reload_when_unlocked(m);
        }
        break;
    case SIGUSR1:
        cg_log_reopen();
        cg_children_signal(m, SIGUSR1, -1);
        break;
    }
}


void
cg_pctl_loop(cg_pool_t *m)
{
    struct pollfd  pfd[3];
    unsigned char  sigs[64];
    ssize_t        n, i;
    nfds_t         nfds;
    int            rc;

    for (;;) {
        if (m->stopping && cg_children_alive(m) == 0) {
            return;
        }
        if (m->stopping && cg_clock_mono() > m->stop_deadline) {
            cg_log(CG_LOG_WARN, "shutdown timeout: killing the remaining "
                   "workers");
            cg_children_signal(m, SIGKILL, -1);
            /* SIGKILL once: waiting for them to be reaped is all left. */
            m->stop_deadline = cg_clock_mono() + CG_HOUR_S;
        }
        pfd[0] = (struct pollfd) { .fd = cg_pctl_pipe[0], .events = POLLIN };
        pfd[1] = (struct pollfd) { .fd = m->listen_fd, .events = POLLIN };
        pfd[2] = (struct pollfd) { .fd = m->handoff[0], .events = POLLIN };
        /* ondemand: the master watches the socket for waiting clients, and
         * the hand-off pair for kept connections no process holds. */
        nfds = m->conf->pool.mode == CG_PM_ONDEMAND && !m->stopping ? 3 : 1;
        rc = poll(pfd, nfds, 100);
        if (nfds == 3 && rc > 0 && (pfd[2].revents & POLLIN)) {
            pfd[1].revents |= POLLIN;
        }
        if (rc > 0 && pfd[0].revents) {
            while ((n = read(cg_pctl_pipe[0], sigs, sizeof(sigs))) > 0) {
                for (i = 0; i < n; i++) {
                    cg_pctl_handle(m, sigs[i]);
                }
            }
        }
        cg_children_reap(m);    /* in case a SIGCHLD byte was lost */
        if (m->reload_pending && !m->stopping) {
            cg_pctl_reload_when_unlocked(m);
        }
        cg_children_terminate_stuck(m);
        cg_alertsend_tick(m->conf, m->stopping);
        cg_children_manage(m, nfds == 3 && rc > 0
                              && (pfd[1].revents & POLLIN));
        if (nfds == 3 && rc > 0 && (pfd[1].revents & POLLIN)
            && !(pfd[0].revents)) {
            /* A waiting client that a busy pool cannot take yet: do not
             * spin on the readable socket. */
            poll(NULL, 0, 10);
        }
    }
}
