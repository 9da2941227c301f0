#include "children.h"
#include "alertsend.h"
#include "log.h"
#include "pctl.h"
#include "worker.h"

#include "core/clock.h"
#include "log/usagelog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Workers in a row that could not start, with none serving, before the
 * master gives up instead of respawning forever. */
#define CG_CHILDREN_START_TRIES  3

/* PHP_FCGI_CHILDREN on an inherited socket: a static pool of that many
 * single-thread workers on fd 0, as php-cgi does (0: not asked). */
static int cg_children_php_n;


void
cg_children_php_set(int n)
{
    cg_children_php_n = n;
}


int
cg_children_php(void)
{
    return cg_children_php_n;
}


void
cg_children_php_pool(cg_conf_t *conf)
{
    if (cg_children_php_n > 0) {
        conf->pool.mode = CG_PM_STATIC;
        conf->pool.max_children = cg_children_php_n;
        conf->server.threads = 1;
    }
}


int
cg_children_max(const cg_conf_t *conf)
{
    /* [server] workers is the documented static pool size; [pool]
     * max_children overrides it. */
    return conf->pool.max_children > 0 ? conf->pool.max_children
                                       : conf->server.workers;
}


static void
cg_children_clear_slot(cg_pool_t *m, int i)
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
cg_children_spawn(cg_pool_t *m)
{
    cg_pool_slot_t *slot;
    pid_t           pid;
    int             rc;
    int             i;

    for (i = 0; i < m->nslots && m->slots[i].pid != 0; i++) {
        /* find a free process slot */
    }
    if (i == m->nslots) {
        return -1;
    }
    slot = &m->slots[i];
    cg_children_clear_slot(m, i);
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
        cg_alertsend_forked();
        cg_pctl_child_init();
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
} cg_children_count_t;


static void
cg_children_count(cg_pool_t *m, cg_children_count_t *c)
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
cg_children_retire(cg_pool_t *m, int i, const char *why)
{
    m->slots[i].retiring = 1;
    cg_log(CG_LOG_NOTICE, "worker %d leaves: %s", (int) m->slots[i].pid,
           why);
    kill(m->slots[i].pid, SIGQUIT);
}


/* Retires one idle process of the current generation: the one idle
 * longest, if min_idle_ms is given only one idle at least that long. */
static int
cg_children_retire_idle(cg_pool_t *m, long long min_idle_ms, const char *why)
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
        cg_children_retire(m, pick, why);
    }
    return pick;
}


/* The status page's respawns counts replacements of workers that left
 * unasked (a crash, a failed start, max_requests), not the first forks,
 * a reload's new generation or a dynamic pool growing. */
static void
cg_children_spawn_n(cg_pool_t *m, int n)
{
    while (n-- > 0 && cg_children_spawn(m) == 0) {
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
void
cg_children_manage(cg_pool_t *m, int listen_ready)
{
    const cg_conf_t     *conf = m->conf;
    int                  max = cg_children_max(conf);
    cg_children_count_t  c;

    if (m->stopping || cg_clock_mono() < m->respawn_after) {
        return;
    }
    cg_children_count(m, &c);
    switch (conf->pool.mode) {
    case CG_PM_STATIC:
        cg_children_spawn_n(m, max - c.live);
        break;
    case CG_PM_DYNAMIC:
        if (c.idle < conf->pool.min_spare && c.live < max) {
            cg_children_spawn_n(m, conf->pool.min_spare - c.idle
                                   < max - c.live
                                   ? conf->pool.min_spare - c.idle
                                   : max - c.live);
        } else if (c.idle > conf->pool.max_spare) {
            cg_children_retire_idle(m, 0, "more idle processes than "
                                    "max_spare");
        }
        break;
    case CG_PM_ONDEMAND:
        if (listen_ready && c.live - c.busy_all == 0 && c.live < max
            && cg_clock_mono() >= m->ondemand_after) {
            cg_children_spawn_n(m, 1);
            /* Give the new process time to take the connection before
             * counting it as still waiting. */
            m->ondemand_after = cg_clock_mono() + 0.05;
        }
        cg_children_retire_idle(m, conf->pool.idle_timeout * 1000LL,
                                "idle_timeout");
        break;
    }
}


void
cg_children_terminate_stuck(cg_pool_t *m)
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
cg_children_note_crash(cg_pool_t *m, double now)
{
    int limit = m->conf->pool.emergency_restart_threshold;

    /* Emergency throttle: a burst of crashes (a bad deploy, a dead
     * dependency) must not become a fork storm. */
    if (limit <= 0) {
        limit = cg_children_max(m->conf) * 2 + 2;
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
    cg_pool_t   *m;
    const char  *why;
    cg_err_t     err;       /* what the client got */
} cg_children_orphan_t;


/* One usage line, written by the master from the scoreboard, for a
 * request whose worker died before writing it: 502 (what the web server
 * answers when the worker's connection breaks), the user, the route, and
 * why. The count of usage lines stays the count of requests accepted. */
static void
cg_children_orphan_line(void *ctx, const cg_sb_thread_t *t)
{
    cg_children_orphan_t *o = ctx;
    const cg_conf_t      *conf = o->m->conf;
    const cg_route_t     *rt = cg_provider_route_find(conf, t->route,
                                                        strlen(t->route));
    cg_usage_ctx_t        u;
    cg_usagelog_t         log;
    cg_req_t              r;
    cg_buf_t              line = { 0 };
    char                  err[256];

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


/* 1 when a worker of the current generation has a thread up (idle or
 * busy): the pool can serve. */
static int
cg_children_serving(cg_pool_t *m)
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


/* A worker could not start (it logged why). When none serves and this
 * keeps happening, no worker ever will: stop, and exit non-zero. */
static void
cg_children_start_failed(cg_pool_t *m)
{
    if (cg_children_serving(m)) {
        m->start_failures = 0;
        return;
    }
    if (++m->start_failures >= CG_CHILDREN_START_TRIES) {
        cg_log(CG_LOG_ERROR, "no worker can start (%d in a row failed; "
               "\"worker start failed\" above says why): stopping",
               m->start_failures);
        m->exit_code = 1;
        cg_pctl_stop(m, SIGTERM);
    }
}


/* Why slot s's worker left, into why; logged and counted when it was a
 * death (a signal, an error status), and the crash throttle fed when it
 * counts as one. Returns what its requests in flight got from the web
 * server. */
static cg_err_t
cg_children_death(cg_pool_t *m, cg_pool_slot_t *s, int status, double now,
                  char *why, size_t whylen)
{
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int current = s->generation == m->generation && !m->stopping;

    snprintf(why, whylen, "worker %d left", (int) s->pid);
    if (s->killed || (WIFEXITED(status)
                      && WEXITSTATUS(status) == CG_WORKER_EXIT_TERMINATED)) {
        /* request_terminate_timeout: expected, not a crash */
        atomic_fetch_add(&m->sb.c->terminated, 1);
        snprintf(why, whylen, "worker %d ended by "
                 "request_terminate_timeout", (int) s->pid);
        return CG_E_UPSTREAM_TIMEOUT;   /* it answered 504 itself */
    }
    if (sig) {
        cg_log(CG_LOG_WARN, "worker %d killed by signal %d%s (%s, "
               "generation %d%s)", (int) s->pid, sig,
               current ? "; replacing it" : "", strsignal(sig),
               s->generation, current ? "" : ", draining: not replaced");
        cg_sb_death(&m->sb, sig);
        snprintf(why, whylen, "worker %d died (signal %d)", (int) s->pid,
                 sig);
        if (current) {
            cg_children_note_crash(m, now);
        }
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        cg_log(CG_LOG_WARN, "worker %d exited with status %d (generation "
               "%d)", (int) s->pid, WEXITSTATUS(status), s->generation);
        cg_sb_death(&m->sb, 0);
        snprintf(why, whylen, "worker %d exited (status %d)", (int) s->pid,
                 WEXITSTATUS(status));
        if (!m->stopping) {
            cg_children_note_crash(m, now);
        }
    }
    return CG_E_UPSTREAM;
}


/* Every death of every generation is logged with its cause and counted
 * on the status page; only the current generation's is replaced (a
 * draining one was leaving anyway). Requests it left without a usage
 * line get one from the master. */
static void
cg_children_reap_one(cg_pool_t *m, int i, int status, double now)
{
    cg_pool_slot_t       *s = &m->slots[i];
    char                  why[96];
    cg_children_orphan_t  o = { m, why, CG_E_UPSTREAM };

    if (!s->retiring && !m->stopping && s->generation == m->generation) {
        m->owed++;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == CG_WORKER_EXIT_START
        && !m->stopping && s->generation == m->generation) {
        s->pid = 0;
        cg_children_clear_slot(m, i);
        cg_children_note_crash(m, now);
        cg_children_start_failed(m);
        return;
    }
    o.err = cg_children_death(m, s, status, now, why, sizeof(why));
    if (cg_sb_orphans(&m->sb, i, cg_children_orphan_line, &o) > 0) {
        cg_log(CG_LOG_WARN, "%s: its requests in flight have usage lines "
               "written by the master", why);
    }
    s->pid = 0;
    cg_children_clear_slot(m, i);
}


void
cg_children_reap(cg_pool_t *m)
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
                cg_children_reap_one(m, i, status, now);
            }
        }
    }
}


int
cg_children_alive(cg_pool_t *m)
{
    int i, n = 0;

    for (i = 0; i < m->nslots; i++) {
        n += m->slots[i].pid != 0;
    }
    return n;
}


void
cg_children_signal(cg_pool_t *m, int sig, int generation)
{
    int i;

    for (i = 0; i < m->nslots; i++) {
        if (m->slots[i].pid
            && (generation < 0 || m->slots[i].generation == generation)) {
            kill(m->slots[i].pid, sig);
        }
    }
}


void
cg_children_start(cg_pool_t *m)
{
    const cg_conf_t *conf = m->conf;
    int              max = cg_children_max(conf), n = max;

    if (conf->pool.mode == CG_PM_DYNAMIC) {
        n = conf->pool.start_children > 0
            ? conf->pool.start_children
            : conf->pool.min_spare
              + (conf->pool.max_spare - conf->pool.min_spare) / 2;
    } else if (conf->pool.mode == CG_PM_ONDEMAND) {
        n = 0;
    }
    cg_children_spawn_n(m, n < max ? n : max);
}
