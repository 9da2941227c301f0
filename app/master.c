#include "master.h"
#include "acl.h"
#include "alertsend.h"
#include "cleanup.h"
#include "confopen.h"
#include "confwatch.h"
#include "keylog.h"
#include "log.h"
#include "scoreboard.h"
#include "worker.h"

#include "core/clock.h"
#include "log/usagelog.h"
#include "provider/upstream.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG_MAX_SLOTS  2050   /* two generations of 1024, during a reload */

typedef struct {
    pid_t   pid;
    int     generation;
    int     retiring;       /* told to leave (spare, idle, reload) */
    int     killed;         /* by request_terminate_timeout */
    double  started;
} cg_slot_t;

typedef struct {
    cg_conf_t  *conf;
    const char *conf_path;
    int         listen_fd;
    int         handoff[2];     /* worker.h: kept connections between workers */
    pid_t       master_pid;
    int         own_socket;     /* ours to unlink at exit */
    int         systemd;        /* socket activation: fd 3 */
    int         generation;
    int         stopping;
    double      stop_deadline;
    cg_sb_t     sb;
    int         nslots;         /* process slots in the scoreboard */
    int         threads;        /* threads per process, fixed at start */
    cg_slot_t   slots[CG_MAX_SLOTS];
    double      respawn_after;  /* throttle after a crash burst */
    int         crashes;
    double      crash_window;
    double      ondemand_after; /* ondemand: no new fork before this */
    cg_store_t *store;          /* [store] type = local: held open, so the
                                   file is seen in use by this config */
    int         reload_pending; /* deferred: a key rotation holds the
                                   config's lock */
    int         owed;           /* workers that left unasked, to replace */
    int         start_failures; /* in a row, with no worker serving */
    int         exit_code;
} cg_master_t;

/* Workers in a row that could not start, with none serving, before the
 * master gives up instead of respawning forever. */
#define CG_MASTER_START_TRIES  3

static int cg_master_pipe[2] = { -1, -1 };

static void cg_master_start_pool(cg_master_t *m);

/* PHP_FCGI_CHILDREN on an inherited socket: a static pool of that many
 * single-thread workers on fd 0, as php-cgi does (0: not asked). */
static int cg_master_php_children;


static void
cg_master_php_pool(cg_conf_t *conf)
{
    if (cg_master_php_children > 0) {
        conf->pool.mode = CG_PM_STATIC;
        conf->pool.max_children = cg_master_php_children;
        conf->server.threads = 1;
    }
}


static void
cg_master_on_signal(int sig)
{
    int           saved = errno;
    unsigned char c = (unsigned char) sig;

    if (write(cg_master_pipe[1], &c, 1) < 0) {
        /* pipe full: the loop polls and reaps on its own anyway */
    }
    errno = saved;
}


static int
cg_master_signals(void)
{
    struct sigaction sa;
    int              sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                SIGCHLD };
    size_t           i;

    if (pipe2(cg_master_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = cg_master_on_signal;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}


static int
cg_master_listen_unix(const char *path, int mode, int backlog, char *err,
                      size_t errlen)
{
    struct sockaddr_un sun;
    struct stat        st;
    int                fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);
    /* A socket left by a previous run is replaced; anything else at that
     * path is not ours to remove. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0
        || chmod(path, (mode_t) mode) != 0 || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}


static int
cg_master_listen_tcp(const char *spec, int backlog, char *err, size_t errlen)
{
    struct addrinfo  hints, *ai = NULL;
    char             host[256];
    const char      *colon = strrchr(spec, ':');
    size_t           hlen;
    int              fd = -1, one = 1, rc;

    hlen = colon ? (size_t) (colon - spec) : 0;
    if (colon == NULL || hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "listen: expected HOST:PORT, got %s", spec);
        return -1;
    }
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0
        || listen(fd, backlog) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}


int
cg_master_listen(const char *spec, int mode, int backlog, char *err,
                 size_t errlen)
{
    if (spec[0] == '/') {
        return cg_master_listen_unix(spec, mode, backlog, err, errlen);
    }
    return cg_master_listen_tcp(spec, backlog, err, errlen);
}


static void
cg_master_child_signals(void)
{
    struct sigaction sa;
    int              sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1,
                                SIGCHLD, SIGPIPE };
    size_t           i;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
}


static int
cg_master_max_children(const cg_conf_t *conf)
{
    /* [server] workers is the documented static pool size; [pool]
     * max_children overrides it. */
    return conf->pool.max_children > 0 ? conf->pool.max_children
                                       : conf->server.workers;
}


static void
cg_master_clear_slot(cg_master_t *m, int i)
{
    int j;

    atomic_store(&m->sb.procs[i].pid, 0);
    atomic_store(&m->sb.procs[i].busy, 0);
    atomic_store(&m->sb.procs[i].requests, 0);
    for (j = 0; j < m->threads; j++) {
        atomic_store(&cg_sb_thread(&m->sb, i, j)->state, CG_SB_EMPTY);
        atomic_store(&cg_sb_thread(&m->sb, i, j)->requests, 0);
    }
}


static int
cg_master_spawn(cg_master_t *m)
{
    cg_slot_t *slot;
    pid_t      pid;
    int        rc;
    int        i;

    for (i = 0; i < m->nslots && m->slots[i].pid != 0; i++) {
        /* find a free process slot */
    }
    if (i == m->nslots) {
        return -1;
    }
    slot = &m->slots[i];
    cg_master_clear_slot(m, i);
    atomic_store(&m->sb.procs[i].last_active_ms, cg_sb_now_ms());
    pid = fork();
    if (pid < 0) {
        cg_log(CG_LOG_ERROR, "fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* A worker must not outlive its master (a master killed with
         * SIGKILL would otherwise leave workers serving a stale config). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != m->master_pid) {
            _exit(0);
        }
        close(cg_master_pipe[0]);
        close(cg_master_pipe[1]);
        cg_alertsend_forked();
        cg_master_child_signals();
        /* The listening socket is the only fd a worker inherits on
         * purpose; keep it across nothing else (no exec happens). */
        rc = cg_worker_run(m->conf, m->listen_fd, m->handoff, &m->sb, i,
                           m->threads);
        cg_conf_free(m->conf);      /* wipes this process's copy of keys */
        _exit(rc);
    }
    memset(slot, 0, sizeof(*slot));
    slot->pid = pid;
    slot->generation = m->generation;
    slot->started = cg_clock_mono();
    atomic_store(&m->sb.procs[i].generation, m->generation);
    atomic_store(&m->sb.procs[i].pid, (int) pid);
    return 0;
}


typedef struct {
    int live;       /* current generation, not retiring */
    int idle;       /* of those, with no request in progress */
    int busy_all;   /* of those, with every thread busy */
} cg_master_count_t;


static void
cg_master_count(cg_master_t *m, cg_master_count_t *c)
{
    int i, busy;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid == 0 || m->slots[i].retiring
            || m->slots[i].generation != m->generation) {
            continue;
        }
        busy = atomic_load(&m->sb.procs[i].busy);
        c->live++;
        c->idle += busy == 0;
        c->busy_all += busy >= m->threads;
    }
}


static void
cg_master_retire(cg_master_t *m, int i, const char *why)
{
    m->slots[i].retiring = 1;
    cg_log(CG_LOG_NOTICE, "worker %d leaves: %s", (int) m->slots[i].pid,
           why);
    kill(m->slots[i].pid, SIGQUIT);
}


/* Retires one idle process of the current generation: the one idle
 * longest, if min_idle_ms is given only one idle at least that long. */
static int
cg_master_retire_idle(cg_master_t *m, long long min_idle_ms, const char *why)
{
    long long now = cg_sb_now_ms(), t, oldest = now + 1;
    int       i, pick = -1;

    for (i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid == 0 || m->slots[i].retiring
            || m->slots[i].generation != m->generation
            || atomic_load(&m->sb.procs[i].busy) != 0) {
            continue;
        }
        t = atomic_load(&m->sb.procs[i].last_active_ms);
        if (t < oldest && now - t >= min_idle_ms) {
            oldest = t;
            pick = i;
        }
    }
    if (pick >= 0) {
        cg_master_retire(m, pick, why);
    }
    return pick;
}


/* The status page's respawns counts replacements of workers that left
 * unasked (a crash, a failed start, max_requests), not the first forks,
 * a reload's new generation or a dynamic pool growing. */
static void
cg_master_spawn_n(cg_master_t *m, int n)
{
    while (n-- > 0 && cg_master_spawn(m) == 0) {
        if (m->owed > 0) {
            m->owed--;
            atomic_fetch_add(&m->sb.c->respawns, 1);
        }
    }
}


/* One step of the pool manager: static keeps max_children; dynamic keeps
 * the idle processes between min_spare and max_spare; ondemand forks when
 * a connection waits and no process is idle (listen_ready), and retires
 * processes idle for idle_timeout. */
static void
cg_master_manage(cg_master_t *m, int listen_ready)
{
    const cg_conf_t   *conf = m->conf;
    int                max = cg_master_max_children(conf);
    cg_master_count_t  c;

    if (m->stopping || cg_clock_mono() < m->respawn_after) {
        return;
    }
    cg_master_count(m, &c);
    switch (conf->pool.mode) {
    case CG_PM_STATIC:
        cg_master_spawn_n(m, max - c.live);
        break;
    case CG_PM_DYNAMIC:
        if (c.idle < conf->pool.min_spare && c.live < max) {
            cg_master_spawn_n(m, conf->pool.min_spare - c.idle < max - c.live
                                 ? conf->pool.min_spare - c.idle
                                 : max - c.live);
        } else if (c.idle > conf->pool.max_spare) {
            cg_master_retire_idle(m, 0, "more idle processes than "
                                  "max_spare");
        }
        break;
    case CG_PM_ONDEMAND:
        if (listen_ready && c.live - c.busy_all == 0 && c.live < max
            && cg_clock_mono() >= m->ondemand_after) {
            cg_master_spawn_n(m, 1);
            /* Give the new process time to take the connection before
             * counting it as still waiting. */
            m->ondemand_after = cg_clock_mono() + 0.05;
        }
        cg_master_retire_idle(m, conf->pool.idle_timeout * 1000LL,
                              "idle_timeout");
        break;
    }
}


static void
cg_master_terminate_stuck(cg_master_t *m)
{
    long long       now = cg_sb_now_ms(), limit;
    cg_sb_thread_t *t;
    int             i, j;

    if (m->conf->pool.request_terminate_timeout <= 0) {
        return;
    }
    /* The worker answers 504 and leaves on its own at the timeout; this
     * is the backstop for a worker that cannot. */
    limit = (m->conf->pool.request_terminate_timeout + 2) * 1000LL;
    for (i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid == 0 || m->slots[i].killed) {
            continue;
        }
        for (j = 0; j < m->threads; j++) {
            t = cg_sb_thread(&m->sb, i, j);
            if (atomic_load(&t->state) == CG_SB_BUSY
                && now - atomic_load(&t->started_ms) > limit) {
                cg_log(CG_LOG_WARN, "worker %d: a request has run for over "
                       "%d s (request_terminate_timeout); killing it",
                       (int) m->slots[i].pid,
                       m->conf->pool.request_terminate_timeout);
                kill(m->slots[i].pid, SIGKILL);
                m->slots[i].killed = 1;
                break;
            }
        }
    }
}


static void
cg_master_note_crash(cg_master_t *m, double now)
{
    int limit = m->conf->pool.emergency_restart_threshold;

    /* Emergency throttle: a burst of crashes (a bad deploy, a dead
     * dependency) must not become a fork storm. */
    if (limit <= 0) {
        limit = cg_master_max_children(m->conf) * 2 + 2;
    }
    if (now - m->crash_window > m->conf->pool.emergency_restart_interval) {
        m->crash_window = now;
        m->crashes = 0;
    }
    if (++m->crashes > limit) {
        m->respawn_after = now + 1.0;
        cg_log(CG_LOG_WARN, "workers are crashing repeatedly; "
               "throttling respawn");
    }
}


/* What a dead worker's request gets instead of the line it could not
 * write. */
typedef struct {
    cg_master_t *m;
    const char  *why;
    cg_err_t     err;       /* what the client got */
} cg_master_orphan_t;


/* One usage line, written by the master from the scoreboard, for a
 * request whose worker died before writing it: 502 (what the web server
 * answers when the worker's connection breaks), the user, the route, and
 * why. The count of usage lines stays the count of requests accepted. */
static void
cg_master_orphan_line(void *ctx, const cg_sb_thread_t *t)
{
    cg_master_orphan_t *o = ctx;
    const cg_conf_t    *conf = o->m->conf;
    const cg_route_t   *rt = cg_provider_route_find(conf, t->route,
                                                      strlen(t->route));
    cg_usage_ctx_t      u;
    cg_usagelog_t       log;
    cg_req_t            r;
    cg_buf_t            line = { 0 };
    char                err[256];

    if (rt == NULL) {
        rt = cg_provider_route_find(conf, conf->provider.default_route,
                                    strlen(conf->provider.default_route));
    }
    u = (cg_usage_ctx_t) { t->route[0] ? t->route : rt->name, rt->model,
                           rt->api_key.fp };
    memset(&r, 0, sizeof(r));
    cg_req_init(&r, (double) atomic_load(&t->started_ms) / 1000.0);
    snprintf(r.request_id, sizeof(r.request_id), "%s", t->request_id);
    snprintf(r.user, sizeof(r.user), "%s", t->user);
    r.stream = atomic_load(&t->stream);
    cg_findings_set(&r.findings, CG_FIND_WORKER_DIED);
    cg_req_fail(&r, o->err, NULL, "%s mid-request (line written by the "
                "master)", o->why);
    cg_usagelog_format(&r, &u, cg_clock_mono(), cg_clock_wall(), &line);
    if (cg_usagelog_open(&log, conf->log.usage_log, err, sizeof(err)) != 0
        || cg_usagelog_write(&log, &line) != 0) {
        cg_log(CG_LOG_ERROR, "cannot write usage line for %s: %.*s",
               r.request_id, line.len ? (int) line.len - 1 : 0,
               line.data ? line.data : "");
    }
    if (log.path) {
        cg_usagelog_close(&log);
    }
    cg_buf_free(&line);
    cg_req_destroy(&r);
}


/* Every death of every generation is logged with its cause and counted
 * on the status page; only the current generation's is replaced (a
 * draining one was leaving anyway). Requests it left without a usage
 * line get one from the master. */


/* 1 when a worker of the current generation has a thread up (idle or
 * busy): the pool can serve. */
static int
cg_master_serving(cg_master_t *m)
{
    int i, j;

    for (i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid == 0 || m->slots[i].generation != m->generation) {
            continue;
        }
        for (j = 0; j < m->threads; j++) {
            if (atomic_load(&cg_sb_thread(&m->sb, i, j)->state)
                != CG_SB_EMPTY) {
                return 1;
            }
        }
    }
    return 0;
}


static void
cg_master_stop(cg_master_t *m, int sig);


/* A worker could not start (it logged why). When none serves and this
 * keeps happening, no worker ever will: stop, and exit non-zero. */
static void
cg_master_start_failed(cg_master_t *m)
{
    if (cg_master_serving(m)) {
        m->start_failures = 0;
        return;
    }
    if (++m->start_failures >= CG_MASTER_START_TRIES) {
        cg_log(CG_LOG_ERROR, "no worker can start (%d in a row failed; "
               "\"worker start failed\" above says why): stopping",
               m->start_failures);
        m->exit_code = 1;
        cg_master_stop(m, SIGTERM);
    }
}


static void
cg_master_reap_one(cg_master_t *m, int i, int status, double now)
{
    cg_slot_t          *s = &m->slots[i];
    int                 sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int                 current = s->generation == m->generation
                                  && !m->stopping;
    char                why[96];
    cg_master_orphan_t  o = { m, why, CG_E_UPSTREAM };

    if (!s->retiring && !m->stopping && s->generation == m->generation) {
        m->owed++;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == CG_WORKER_EXIT_START
        && !m->stopping && s->generation == m->generation) {
        s->pid = 0;
        cg_master_clear_slot(m, i);
        cg_master_note_crash(m, now);
        cg_master_start_failed(m);
        return;
    }
    snprintf(why, sizeof(why), "worker %d left", (int) s->pid);
    if (s->killed || (WIFEXITED(status)
                      && WEXITSTATUS(status) == CG_WORKER_EXIT_TERMINATED)) {
        /* request_terminate_timeout: expected, not a crash */
        atomic_fetch_add(&m->sb.c->terminated, 1);
        snprintf(why, sizeof(why), "worker %d ended by "
                 "request_terminate_timeout", (int) s->pid);
        o.err = CG_E_UPSTREAM_TIMEOUT;  /* it answered 504 itself */
    } else if (sig) {
        cg_log(CG_LOG_WARN, "worker %d killed by signal %d%s (%s, "
               "generation %d%s)", (int) s->pid, sig,
               current ? "; replacing it" : "", strsignal(sig),
               s->generation, current ? "" : ", draining: not replaced");
        cg_sb_death(&m->sb, sig);
        snprintf(why, sizeof(why), "worker %d died (signal %d)",
                 (int) s->pid, sig);
        if (current) {
            cg_master_note_crash(m, now);
        }
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        cg_log(CG_LOG_WARN, "worker %d exited with status %d (generation "
               "%d)", (int) s->pid, WEXITSTATUS(status), s->generation);
        cg_sb_death(&m->sb, 0);
        snprintf(why, sizeof(why), "worker %d exited (status %d)",
                 (int) s->pid, WEXITSTATUS(status));
        if (!m->stopping) {
            cg_master_note_crash(m, now);
        }
    }
    if (cg_sb_orphans(&m->sb, i, cg_master_orphan_line, &o) > 0) {
        cg_log(CG_LOG_WARN, "%s: its requests in flight have usage lines "
               "written by the master", why);
    }
    s->pid = 0;
    cg_master_clear_slot(m, i);
}


static void
cg_master_reap(cg_master_t *m)
{
    pid_t  pid;
    int    status, i;
    double now = cg_clock_mono();

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (cg_alertsend_reaped(pid, status)) {
            continue;
        }
        for (i = 0; i < m->nslots; i++) {
            if (m->slots[i].pid == pid) {
                cg_master_reap_one(m, i, status, now);
            }
        }
    }
}


static int
cg_master_alive(cg_master_t *m)
{
    int i, n = 0;

    for (i = 0; i < m->nslots; i++) {
        n += m->slots[i].pid != 0;
    }
    return n;
}


static void
cg_master_signal_all(cg_master_t *m, int sig, int generation)
{
    int i;

    for (i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid
            && (generation < 0 || m->slots[i].generation == generation)) {
            kill(m->slots[i].pid, sig);
        }
    }
}


static int
cg_master_reload_fits(cg_master_t *m, cg_conf_t *nc)
{
    /* The scoreboard was sized at start: two generations of the pool. */
    if (nc->server.threads != m->threads
        || cg_master_max_children(nc) * 2 > m->nslots) {
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
static int
cg_master_open_store(const cg_conf_t *conf, cg_store_t **out)
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
cg_master_reload(cg_master_t *m)
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
    cg_master_php_pool(nc);
    if (!cg_master_reload_fits(m, nc) || cg_master_open_store(nc, &store)) {
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
    cg_master_start_pool(m);
    cg_master_signal_all(m, SIGQUIT, old);
    cg_log(CG_LOG_NOTICE, "reloaded %s (generation %d)", m->conf_path,
           m->generation);
}


/* scripts/rotate-key holds an exclusive flock(2) on the config file
 * while the key files are not in a state it has probed: a reload then
 * waits (the master checks again every loop, ~100 ms) rather than load a
 * key half-way through a rotation. The master holds a shared lock while
 * it reloads, so a rotation cannot start under it either. */
static void
cg_master_reload_when_unlocked(cg_master_t *m)
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
    cg_master_reload(m);
    if (fd >= 0) {
        /* Unlocked explicitly: the new workers share this open file
         * (forked with it), and a close here would leave it locked. */
        (void) flock(fd, LOCK_UN);
        close(fd);
    }
}


static void
cg_master_stop(cg_master_t *m, int sig)
{
    if (m->stopping) {
        return;
    }
    m->stopping = 1;
    m->stop_deadline = cg_clock_mono() + m->conf->server.shutdown_timeout;
    cg_log(CG_LOG_NOTICE, "stopping (%s): waiting up to %d s for requests "
           "in flight", sig == SIGQUIT ? "graceful" : "terminate",
           m->conf->server.shutdown_timeout);
    cg_master_signal_all(m, SIGQUIT, -1);
}


static void
cg_master_handle(cg_master_t *m, unsigned char sig)
{
    switch (sig) {
    case SIGCHLD:
        cg_master_reap(m);
        break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        cg_master_stop(m, sig);
        break;
    case SIGHUP:
        if (!m->stopping) {
            cg_master_reload_when_unlocked(m);
        }
        break;
    case SIGUSR1:
        cg_log_reopen();
        cg_master_signal_all(m, SIGUSR1, -1);
        break;
    }
}


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


static void
cg_master_loop(cg_master_t *m)
{
    struct pollfd  pfd[3];
    unsigned char  sigs[64];
    ssize_t        n, i;
    nfds_t         nfds;
    int            rc;

    for (;;) {
        if (m->stopping && cg_master_alive(m) == 0) {
            return;
        }
        if (m->stopping && cg_clock_mono() > m->stop_deadline) {
            cg_log(CG_LOG_WARN, "shutdown timeout: killing the remaining "
                   "workers");
            cg_master_signal_all(m, SIGKILL, -1);
            /* SIGKILL once: waiting for them to be reaped is all left. */
            m->stop_deadline = cg_clock_mono() + CG_HOUR_S;
        }
        pfd[0] = (struct pollfd) { .fd = cg_master_pipe[0], .events = POLLIN };
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
            while ((n = read(cg_master_pipe[0], sigs, sizeof(sigs))) > 0) {
                for (i = 0; i < n; i++) {
                    cg_master_handle(m, sigs[i]);
                }
            }
        }
        cg_master_reap(m);      /* in case a SIGCHLD byte was lost */
        if (m->reload_pending && !m->stopping) {
            cg_master_reload_when_unlocked(m);
        }
        cg_master_terminate_stuck(m);
        cg_alertsend_tick(m->conf, m->stopping);
        cg_master_manage(m, nfds == 3 && rc > 0
                            && (pfd[1].revents & POLLIN));
        if (nfds == 3 && rc > 0 && (pfd[1].revents & POLLIN)
            && !(pfd[0].revents)) {
            /* A waiting client that a busy pool cannot take yet: do not
             * spin on the readable socket. */
            poll(NULL, 0, 10);
        }
    }
}


static void
cg_master_start_pool(cg_master_t *m)
{
    const cg_conf_t *conf = m->conf;
    int              max = cg_master_max_children(conf), n = max;

    if (conf->pool.mode == CG_PM_DYNAMIC) {
        n = conf->pool.start_children > 0
            ? conf->pool.start_children
            : conf->pool.min_spare
              + (conf->pool.max_spare - conf->pool.min_spare) / 2;
    } else if (conf->pool.mode == CG_PM_ONDEMAND) {
        n = 0;
    }
    cg_master_spawn_n(m, n < max ? n : max);
}


static int
cg_master_socket_owner(const cg_conf_t *conf)
{
    struct passwd *pw = NULL;
    struct group  *gr = NULL;

    if (conf->server.listen[0] != '/'
        || (conf->server.socket_owner[0] == '\0'
            && conf->server.socket_group[0] == '\0')) {
        return 0;
    }
    if (conf->server.socket_owner[0]
        && (pw = getpwnam(conf->server.socket_owner)) == NULL) {
        cg_log(CG_LOG_ERROR, "[server] socket_owner %s: no such user",
               conf->server.socket_owner);
        return -1;
    }
    if (conf->server.socket_group[0]
        && (gr = getgrnam(conf->server.socket_group)) == NULL) {
        cg_log(CG_LOG_ERROR, "[server] socket_group %s: no such group",
               conf->server.socket_group);
        return -1;
    }
    if (chown(conf->server.listen, pw ? pw->pw_uid : (uid_t) -1,
              gr ? gr->gr_gid : (gid_t) -1) != 0) {
        cg_log(CG_LOG_ERROR, "cannot chown %s: %s", conf->server.listen,
               strerror(errno));
        return -1;
    }
    return 0;
}


/* Started as root with a user to drop to: the pid file and socket made
 * as root must still go at exit (cleanup.h). */
static void
cg_master_cleaner(cg_master_t *m)
{
    struct passwd *pw;

    if (geteuid() != 0 || m->conf->server.user[0] == '\0'
        || (pw = getpwnam(m->conf->server.user)) == NULL) {
        return;
    }
    if (cg_cleanup_spawn(m->conf, m->conf->server.pid_file,
                         m->own_socket ? m->conf->server.listen : NULL,
                         pw->pw_uid) != 0) {
        cg_log(CG_LOG_WARN, "cannot start the helper that removes the pid "
               "file and socket at exit: %s", strerror(errno));
    }
}


/* Called once the socket is open and the keys are read: what is left
 * needs no privilege. */
static int
cg_master_drop(const cg_conf_t *conf)
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


/* systemd socket activation: LISTEN_PID names us and LISTEN_FDS >= 1;
 * the socket is fd 3 (SD_LISTEN_FDS_START). */
static int
cg_master_systemd_fd(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

    if (pid == NULL || fds == NULL || atol(pid) != (long) getpid()
        || atoi(fds) < 1) {
        return -1;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    fcntl(3, F_SETFD, FD_CLOEXEC);
    return 3;
}


int
cg_master_inherited(void)
{
    struct sockaddr_storage sa;
    socklen_t               len = sizeof(sa);
    int                     on = 0;
    socklen_t               olen = sizeof(on);

    /* What libfcgi's OS_IsFcgi() tests, without its exit() on failure:
     * fd 0 is a socket with no peer, and it listens. */
    if (getpeername(0, (struct sockaddr *) &sa, &len) == 0
        || errno != ENOTCONN) {
        return 0;
    }
    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) == 0 && on;
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
        cg_master_php_children = atoi(children) > 1024 ? 1024
                                                       : atoi(children);
        cg_master_php_pool(conf);
        return cg_master_run(conf, conf_path);
    }

    /* mod_fcgid, spawn-fcgi, lighttpd bin-path: the spawner manages the
     * processes and sends one request at a time, so one process, one
     * thread, no master. */
    if (cg_master_drop(conf) != 0 || cg_upstream_global_init() != 0
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
cg_master_handoff(cg_master_t *m)
{
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, m->handoff)
        != 0) {
        cg_log(CG_LOG_WARN, "no hand-off of kept connections: %s",
               strerror(errno));
        m->handoff[0] = m->handoff[1] = -1;
    }
}


static int
cg_master_open(cg_master_t *m)
{
    char err[512];

    if (cg_master_php_children > 0) {
        m->listen_fd = 0;
        return 0;
    }
    m->listen_fd = cg_master_systemd_fd();
    if (m->listen_fd >= 0) {
        m->systemd = 1;
        return 0;
    }
    m->listen_fd = cg_master_listen(m->conf->server.listen,
                                    m->conf->server.socket_mode,
                                    m->conf->server.backlog, err, sizeof(err));
    if (m->listen_fd < 0) {
        cg_log(CG_LOG_ERROR, "%s", err);
        return -1;
    }
    m->own_socket = m->conf->server.listen[0] == '/';
    return cg_master_socket_owner(m->conf);
}


/* Takes ownership of conf (allocated with malloc), which a reload
 * replaces. */
int
cg_master_run(cg_conf_t *conf, const char *conf_path)
{
    static cg_master_t m;

    memset(&m, 0, sizeof(m));
    m.conf = conf;
    m.conf_path = conf_path;
    m.master_pid = getpid();
    m.threads = conf->server.threads;
    m.nslots = cg_master_max_children(conf) * 2 + 2;
    if (cg_master_signals() != 0
        || cg_sb_create(&m.sb, m.nslots, m.threads) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: %s", strerror(errno));
        return 1;
    }
    if (cg_master_open(&m) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: see the line above");
        return 1;
    }
    cg_master_pid_file(conf, 1);
    cg_master_cleaner(&m);
    if (cg_master_drop(conf) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: see the line above");
        return 1;
    }
    if (cg_upstream_global_init() != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: the HTTP client (libcurl) "
               "failed to initialise");
        return 1;
    }
    if (cg_master_open_store(conf, &m.store) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start");
        cg_master_pid_file(conf, 0);
        return 1;
    }
    cg_log(CG_LOG_NOTICE, "listening on %s: %s pool of up to %d processes "
           "x %d threads (provider key %s, %d routes)",
           m.systemd ? "the systemd socket (fd 3)"
           : cg_master_php_children ? "the inherited socket (fd 0)"
           : conf->server.listen,
           conf->pool.mode == CG_PM_STATIC ? "static"
           : conf->pool.mode == CG_PM_DYNAMIC ? "dynamic" : "ondemand",
           cg_master_max_children(conf), conf->server.threads,
           conf->provider.routes[0].api_key.fp, conf->provider.nroutes);
    cg_keylog_events(NULL, conf, "start");
    /* Before the first worker, so no sender is ever forked by a process
     * with threads. */
    if (cg_alertsend_start(conf) != 0) {
        cg_log(CG_LOG_ERROR, "cannot start: see the line above");
        cg_master_pid_file(conf, 0);
        return 1;
    }
    cg_master_handoff(&m);
    cg_master_start_pool(&m);
    cg_master_loop(&m);
    cg_alertsend_stop();
    close(m.listen_fd);
    if (m.handoff[0] >= 0) {
        close(m.handoff[0]);
        close(m.handoff[1]);
    }
    if (m.own_socket) {
        unlink(m.conf->server.listen);
    }
    cg_master_pid_file(m.conf, 0);
    cg_log(CG_LOG_NOTICE, "stopped");
    cg_store_free(m.store);
    cg_sb_destroy(&m.sb);
    cg_confclose(m.conf);
    cg_secret_env_clear();
    return m.exit_code;
}
