#include "worker.h"
#include "confwatch.h"
#include "outage.h"
#include "acl.h"
#include "alertsend.h"
#include "log.h"
#include "scoreboard.h"
#include "status.h"

#include "pipeline/chat.h"
#include "core/clock.h"
#include "core/fault.h"
#include "http/compat.h"
#include "http/http.h"
#include "core/req.h"
#include "log/usagelog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

#include <fcgiapp.h>

/* Body and answer buffers kept between requests, per thread; a larger one
 * is given back after its request. */
#define CG_WORKER_KEEP  (64 * 1024)
/* Idle kept FastCGI connections a process holds: far more than a front
 * end's pool (nginx keepalive 32 per worker), well under the default
 * limit of 1,024 open files. */
#define CG_WORKER_PARK_MAX  256
/* Unread request body read off a kept connection to keep it (twice the
 * shipped nginx client_max_body_size); past it the connection is closed. */
#define CG_WORKER_DRAIN_MAX (2 * 1024 * 1024)
/* Allocations from this size up get their own mapping, given back to the
 * system when freed. glibc's default threshold moves up to 32 MiB after
 * the first large free, and the freed space of a thread's arena is then
 * kept for ever: a worker kept every large request's memory. */
#define CG_WORKER_MMAP_THRESHOLD  (256 * 1024)
/* The signal loop wakes every 100 ms; the config is looked at every 10th
 * time (confwatch.h: under a spawner only). */
#define CG_WORKER_WATCH_TICKS  10
/* A key_exposure alert for one caller is raised once an hour. */
#define CG_WORKER_EXPOSURE_PERIOD  CG_HOUR_S

typedef struct cg_wproc_s cg_wproc_t;

/* Who answers the current request: its thread, or (past
 * request_terminate_timeout) the process's main thread with a 504. The
 * first to move the phase away from WORKING owns the connection. */
enum {
    CG_W_WORKING = 0,
    CG_W_ANSWERING,
    CG_W_TERMINATED
};

/* One request thread's own state: its FastCGI request, its chat handles
 * (curl, memcached) and buffers. Never shared between threads. */
typedef struct {
    const cg_conf_t *conf;
    cg_chat_t        chat;
    cg_usagelog_t    usage;
    cg_usage_ctx_t   uctx;
    cg_req_t         req;
    cg_buf_t         body;
    cg_buf_t         out;
    cg_buf_t         line;
    uint64_t         id_seed;
    uint64_t         id_count;
    cg_wproc_t      *proc;
    int              index;
    unsigned         reopen_seen;
    int              log_failing;   /* the last usage line was not written */
    FCGX_Request     fr;
    pthread_t        tid;
    int              tid_ok;
    atomic_int       phase;         /* CG_W_* */
} cg_worker_t;

/* The worker process: what its threads share. */
struct cg_wproc_s {
    const cg_conf_t *conf;
    cg_sb_t         *sb;
    int              slot;
    int              listen_fd;
    int              handoff[2];    /* kept conns passed between workers */
    int              dead_fd;       /* a socket that never listens */
    int              stop_fd;       /* eventfd: readable once stopping */
    atomic_int       stop;
    atomic_uint      reopen;        /* bumped by SIGUSR1 */
    atomic_int       running;       /* threads still in their loop */
    pthread_mutex_t  accept_lock;
    int              park_fd;       /* eventfd: a connection was parked */
    pthread_mutex_t  park_lock;     /* guards parked, nparked */
    int              parked[CG_WORKER_PARK_MAX];    /* idle kept conns */
    int              nparked;
    cg_acl_t         clients;
    cg_worker_t     *threads;
    int              nthreads;
};


static void
cg_worker_request_id(cg_worker_t *w, char *out, size_t cap)
{
    /* splitmix64 over a random per-process seed: unique and cheap; request
     * ids are labels, not secrets. */
    uint64_t z = w->id_seed + (++w->id_count) * 0x9e3779b97f4a7c15ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    snprintf(out, cap, "req_%016llx", (unsigned long long) z);
}


static int
cg_worker_read_body(cg_worker_t *w, FCGX_Request *fr, cg_req_t *r)
{
    long   want = w->conf->http.max_body + 1, got;
    char  *end;

    if (r->content_length && r->content_length[0]) {
        want = strtol(r->content_length, &end, 10);
    }
    cg_buf_reset(&w->body);
    if (cg_buf_reserve(&w->body, (size_t) want) != 0) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    got = FCGX_GetStr(w->body.data, (int) want, fr->in);
    if (got < 0) {
        got = 0;
    }
    w->body.len = (size_t) got;
    w->body.data[got] = '\0';
    if (got > w->conf->http.max_body) {
        return cg_req_fail(r, CG_E_TOO_LARGE, NULL,
                           "undeclared body over max_body");
    }
    if (r->content_length && r->content_length[0] && got < want) {
        return cg_req_fail(r, CG_E_INVALID, NULL, "body shorter than "
                           "Content-Length");
    }
    r->body = w->body.data;
    r->body_len = w->body.len;
    return 0;
}


static void
cg_worker_params(cg_req_t *r, FCGX_Request *fr)
{
    FCGX_ParamArray env = fr->envp;

    r->method = FCGX_GetParam("REQUEST_METHOD", env);
    r->uri = FCGX_GetParam("REQUEST_URI", env);
    if (r->uri == NULL) {
        r->uri = FCGX_GetParam("SCRIPT_NAME", env);
    }
    r->content_type = FCGX_GetParam("CONTENT_TYPE", env);
    r->content_length = FCGX_GetParam("CONTENT_LENGTH", env);
    r->cookie = FCGX_GetParam("HTTP_COOKIE", env);
    r->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", env);
    r->remote_addr = FCGX_GetParam("REMOTE_ADDR", env);
    r->origin = FCGX_GetParam("HTTP_ORIGIN", env);
    r->referer = FCGX_GetParam("HTTP_REFERER", env);
    r->sec_fetch_site = FCGX_GetParam("HTTP_SEC_FETCH_SITE", env);
    r->forwarded_for = FCGX_GetParam("HTTP_X_FORWARDED_FOR", env);
    r->accept = FCGX_GetParam("HTTP_ACCEPT", env);
    r->x_api_key = FCGX_GetParam("HTTP_X_API_KEY", env);
    r->dup_header = cg_http_dup_param(env);
}


static int
cg_worker_claim(cg_worker_t *w)
{
    int expected = CG_W_WORKING;

    return atomic_compare_exchange_strong(&w->phase, &expected,
                                          CG_W_ANSWERING);
}


/* cg_out_t over the FastCGI stream: streamed answers are flushed to the
 * web server as they come; a failed write or flush means the client (or
 * the web server's connection for it) is gone. */
static int
cg_worker_out_write(void *ctx, const char *p, size_t n)
{
    cg_worker_t *w = ctx;

    /* The first byte of a streamed answer claims the connection, so the
     * request_terminate_timeout watchdog can no longer write its 504 over
     * it; if the watchdog was first, this answer is dropped. */
    if (atomic_load(&w->phase) != CG_W_ANSWERING) {
        if (!cg_worker_claim(w)) {
            return -1;
        }
        /* For the master's line, should this process die mid-stream. */
        cg_sb_request(w->proc->sb, w->proc->slot, w->index,
                      w->req.request_id, 1);
        cg_sb_route(w->proc->sb, w->proc->slot, w->index, w->req.route);
    }
    return FCGX_PutStr(p, (int) n, w->fr.out) == (int) n ? 0 : -1;
}


static int
cg_worker_out_flush(void *ctx)
{
    cg_worker_t *w = ctx;

    return FCGX_FFlush(w->fr.out) == 0 ? 0 : -1;
}


/* The web server closes its FastCGI connection when the client leaves
 * (nginx: fastcgi_ignore_client_abort off), which shows as a hangup. */
static int
cg_worker_out_alive(void *ctx)
{
    cg_worker_t   *w = ctx;
    struct pollfd  pfd = { w->fr.ipcFd, POLLRDHUP, 0 };

    if (poll(&pfd, 1, 0) <= 0) {
        return 1;
    }
    return !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}


/* The provider refused a route's key (401): revoked, mistyped or leaked
 * and disabled. One audit event, for the alerting that reads the log, and
 * one error-log line saying "rotate it"; the alert itself comes through
 * cg_worker_alert. */
static void
cg_worker_key_rejected(void *ctx, const cg_route_t *rt, const cg_req_t *r)
{
    cg_worker_t      *w = ctx;
    cg_audit_event_t  ev = { "key_rejected", cg_provider_route_key_name(rt),
                             rt->api_key.fp, NULL, r->request_id };

    cg_usagelog_audit_format(&ev, cg_clock_wall(), &w->line);
    (void) cg_usagelog_write(&w->usage, &w->line);
    cg_log(CG_LOG_ERROR, "%s: the provider rejected key %s (%s): rotate it "
           "(route %s)", r->request_id, ev.key, ev.key_id, rt->name);
}


/* Out of memory for the full usage line: the short one, from the stack. */
static int
cg_worker_usage_min(cg_worker_t *w, const cg_req_t *r)
{
    char     mem[512];
    cg_buf_t line = { mem, 0, sizeof(mem), 0 };

    line.len = cg_usagelog_format_min(r, cg_clock_wall(), mem, sizeof(mem));
    if (line.len == 0 || cg_usagelog_write(&w->usage, &line) != 0) {
        cg_log(CG_LOG_ERROR, "cannot write usage line for %s: out of memory",
               r->request_id);
        return -1;
    }
    return 0;
}


/* [log] on_write_error = refuse: while the usage log takes no lines, no
 * request is served (each refusal's own line is the probe that notices the
 * log is back). */
static int
cg_worker_log_ok(cg_worker_t *w, cg_req_t *r)
{
    if (!w->log_failing
        || w->conf->log.on_write_error != CG_LOG_WRITE_REFUSE) {
        return 0;
    }
    return cg_req_fail(r, CG_E_UNAVAILABLE, NULL, "usage log not writable "
                       "([log] on_write_error = refuse)");
}


/* A caller sent a provider key to a provider-compatible endpoint
 * (lib/http/compat.c refused it): the key has been where it should not
 * be, so the operator hears of it in the error log and as an alert. */
static void
cg_worker_key_sent(cg_worker_t *w, const cg_req_t *r)
{
    const char *addr = r->remote_addr ? r->remote_addr : "?";
    time_t      now = cg_clock_now();
    char        period[32], msg[160];

    cg_log(CG_LOG_ERROR, "%s: key exposure: the caller at %s sent a "
           "provider key instead of a service token; it was refused and not "
           "forwarded, but rotate it and give that service a cgt_ token",
           r->request_id, addr);
    snprintf(period, sizeof(period), "%lld",
             (long long) now / CG_WORKER_EXPOSURE_PERIOD);
    snprintf(msg, sizeof(msg), "the caller at %.64s sent a provider key to "
             "a service endpoint: rotate that key", addr);
    (void) cg_chat_alert(&w->chat, "key_exposure", addr, period,
                         CG_WORKER_EXPOSURE_PERIOD, msg, now);
}


/* Returns -1 when the usage line could not be written. */
static int
cg_worker_log_usage(cg_worker_t *w, cg_req_t *r)
{
    unsigned gen = atomic_load(&w->proc->reopen);
    int      rc;

    if (gen != w->reopen_seen) {
        /* SIGUSR1 (logrotate): each thread reopens its own usage fd. */
        w->reopen_seen = gen;
        cg_usagelog_reopen(&w->usage);
    }
    if (cg_findings_has(&r->findings, CG_FIND_KEY_EXPOSED)) {
        /* The output guard redacted it, but the key reached the model. */
        cg_log(CG_LOG_ERROR, "%s: key exposed: an answer held a key; it was "
               "redacted, but rotate the key now", r->request_id);
    }
    if (cg_findings_has(&r->findings, CG_FIND_PROVIDER_KEY_SENT)) {
        cg_worker_key_sent(w, r);
    }
    cg_usagelog_format(r, &w->uctx, cg_clock_mono(), cg_clock_wall(), &w->line);
    if (w->line.oom) {
        rc = cg_worker_usage_min(w, r);
    } else if ((rc = cg_usagelog_write(&w->usage, &w->line)) != 0) {
        /* Never unlogged silently: the line goes to the error log. */
        cg_log(CG_LOG_ERROR, "cannot write usage line for %s (%s): %.*s",
               r->request_id, strerror(errno), (int) w->line.len - 1,
               w->line.data);
    }
    w->log_failing = rc != 0;
    /* Written (or in the error log): the master must not write it too. */
    cg_sb_logged(w->proc->sb, w->proc->slot, w->index);
    cg_syslog_line(w->conf, &w->line);
    return rc;
}


/* The status page shows the running request's user. */
static void
cg_worker_user_known(void *ctx, const cg_req_t *r)
{
    cg_worker_t *w = ctx;

    cg_sb_user(w->proc->sb, w->proc->slot, w->index, r->user);
    cg_sb_request(w->proc->sb, w->proc->slot, w->index, r->request_id,
                  r->stream);
    cg_sb_route(w->proc->sb, w->proc->slot, w->index,
                r->route ? r->route : r->route_req);
}


/* lib/meter/alert.c raised an alert: the usage log, syslog, webhook, command. */
static void
cg_worker_alert(void *ctx, const cg_buf_t *line)
{
    cg_worker_t *w = ctx;

    if (cg_usagelog_write(&w->usage, line) != 0) {
        cg_log(CG_LOG_ERROR, "cannot write alert line: %s", strerror(errno));
    }
    cg_syslog_line(w->conf, line);
    cg_alertsend(w->conf, line);
}


static void
cg_worker_note(void *ctx, const char *msg)
{
    (void) ctx;
    cg_log(CG_LOG_WARN, "%s", msg);
}




/* The answer in w->out, or the fixed 500 when it could not be built. */
static int
cg_worker_put_answer(cg_worker_t *w, const cg_req_t *r, FCGX_Request *fr)
{
    char   mem[512];
    size_t n;

    if (!w->out.oom) {
        return FCGX_PutStr(w->out.data, (int) w->out.len, fr->out);
    }
    n = cg_http_fallback(r, mem, sizeof(mem));
    return FCGX_PutStr(mem, (int) n, fr->out);
}


/* The request is over, on every exit of cg_worker_serve(): the body
 * read and the answer written are wiped with everything the pipeline
 * held (cg_chat_end), and a buffer that grew past CG_WORKER_KEEP for it
 * is given back. */
static void
cg_worker_done(cg_worker_t *w, cg_req_t *r)
{
    cg_buf_wipe(&w->body);
    cg_buf_wipe(&w->out);
    cg_chat_end(&w->chat, r);
    cg_buf_shrink(&w->body, CG_WORKER_KEEP);
    cg_buf_shrink(&w->out, CG_WORKER_KEEP);
}


/* A request answered before its body was read (413, 400, ...) leaves the
 * rest of its stdin on the connection. Closing a kept connection after the
 * answer races with the front end, which takes it back into its pool and
 * may send the next request on it at once (nginx then answers that one
 * 502): read the rest, up to a bound, and keep the connection. 0 when the
 * stdin ended within the bound and the connection can be kept. */
static int
cg_worker_drain(FCGX_Request *fr)
{
    char   buf[4096];
    size_t total = 0;
    int    n;

    if (!fr->keepConnection) {
        return -1;
    }
    while ((n = FCGX_GetStr(buf, sizeof(buf), fr->in)) > 0) {
        total += (size_t) n;
        if (total > CG_WORKER_DRAIN_MAX) {
            return -1;
        }
    }
    return FCGX_GetError(fr->in) == 0 ? 0 : -1;
}


static void
cg_worker_answer(cg_worker_t *w, FCGX_Request *fr)
{
    cg_req_t *r = &w->req;
    cg_out_t  out = { cg_worker_out_write, cg_worker_out_flush,
                      cg_worker_out_alive, w };
    cg_api_t  api;

    cg_req_init(r, cg_clock_mono());
    cg_worker_request_id(w, r->request_id, sizeof(r->request_id));
    /* From here the request is accepted: if this process dies before its
     * usage line, the master writes one from the scoreboard. */
    cg_sb_request(w->proc->sb, w->proc->slot, w->index, r->request_id, 0);
    cg_worker_params(r, fr);
    /* The path decides the front: /api/chat, or a provider's format. */
    api = cg_compat_api(w->conf, r->uri);
    if ((api != CG_API_CHAT ? cg_compat_admit(w->conf, r, api)
                            : cg_http_admit(w->conf, r)) == 0
        && cg_worker_log_ok(w, r) == 0
        && cg_worker_read_body(w, fr, r) == 0) {
        cg_chat_handle(&w->chat, r, &out);
    }
    if (r->streamed) {
        if (r->err == CG_E_CLIENT_CLOSED) {
            fr->keepConnection = 0;
        }
        cg_worker_log_usage(w, r);
        return;
    }
    if (r->err != CG_OK && r->body == NULL && cg_worker_drain(fr) != 0) {
        /* The body was not read to its end: this connection cannot carry
         * another request, so do not keep it. */
        fr->keepConnection = 0;
    }
    if (!cg_worker_claim(w)) {
        return;     /* answered 504 by request_terminate_timeout */
    }
    cg_buf_reset(&w->out);
    cg_http_response(r, &w->out);
    if (w->out.oom) {
        cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory for the answer");
    }
    /* The usage line goes out before the answer, so whoever has the answer
     * can already find it in the log; with on_write_error = refuse, no
     * answer goes out without its line. */
    if (cg_worker_log_usage(w, r) != 0 && r->err == CG_OK
        && cg_worker_log_ok(w, r) != 0) {
        cg_log(CG_LOG_ERROR, "%s: answer withheld (503): its usage line "
               "could not be written", r->request_id);
        cg_buf_reset(&w->out);
        cg_http_response(r, &w->out);
    }
    cg_outage_note(w->conf, r);
    /* No flush here: FCGX_Finish_r writes what is buffered together with
     * the end records, one write(2) and one nginx wake-up instead of two. */
    if (cg_worker_put_answer(w, r, fr) < 0) {
        cg_log(CG_LOG_WARN, "%s: client went away before the answer was "
               "written", r->request_id);
    }
}


static void
cg_worker_serve(cg_worker_t *w, FCGX_Request *fr)
{
    cg_worker_answer(w, fr);
    cg_worker_done(w, &w->req);
}


static int
cg_worker_init(cg_worker_t *w, const cg_conf_t *conf)
{
    const cg_route_t *rt;
    cg_chat_events_t  ev = { cg_worker_alert, cg_worker_note,
                             cg_worker_key_rejected, cg_worker_user_known,
                             w };
    char              err[512];

    w->conf = conf;
    w->usage.fd = -1;
    /* Requests that fail before a route is chosen are logged under the
     * default route. */
    rt = cg_provider_route_find(conf, conf->provider.default_route,
                                strlen(conf->provider.default_route));
    w->uctx.route = rt->name;
    w->uctx.model = rt->model;
    w->uctx.key_id = rt->api_key.fp;
    if (getrandom(&w->id_seed, sizeof(w->id_seed), 0) != sizeof(w->id_seed)) {
        w->id_seed = (uint64_t) getpid() << 32 ^ (uint64_t) cg_clock_now();
    }
    if (cg_usagelog_open(&w->usage, conf->log.usage_log, err, sizeof(err)) != 0
        || cg_syslog_open(conf, err, sizeof(err)) != 0
        || cg_chat_init(&w->chat, conf, err, sizeof(err)) != 0) {
        cg_log(CG_LOG_ERROR, "worker start failed: %s", err);
        return -1;
    }
    cg_chat_set_events(&w->chat, &ev);
    return 0;
}


static void
cg_worker_free(cg_worker_t *w)
{
    cg_chat_free(&w->chat);
    cg_usagelog_close(&w->usage);
    cg_req_destroy(&w->req);
    cg_buf_free(&w->body);
    cg_buf_free(&w->out);
    cg_buf_free(&w->line);
}


/* A kept FastCGI connection (FCGI_KEEP_CONN) between two requests is
 * parked: handed to the process's accepting thread, which polls it with
 * the listening socket, instead of holding a thread that blocks on it
 * inside libfcgi. Blocking there pinned a thread to every idle connection
 * in the front end's pool, so a pool as large as workers x threads left
 * new connections queued forever. Parked connections are never closed
 * here while the process serves (the front end may be sending on one at
 * that moment); a stop closes them, as no request is in flight on them. */
static void
cg_worker_park_fd(cg_wproc_t *p, int fd)
{
    pthread_mutex_lock(&p->park_lock);
    if (p->nparked < CG_WORKER_PARK_MAX) {
        p->parked[p->nparked++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&p->park_lock);
    if (fd >= 0) {
        close(fd);          /* more idle connections than any pool keeps */
    }
}


static void
cg_worker_park(cg_wproc_t *p, int fd)
{
    uint64_t one = 1;

    cg_worker_park_fd(p, fd);
    if (write(p->park_fd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow: the accepting thread drains it */
    }
}


/* The parked connections into pfd[0..), their number. */
static int
cg_worker_parked_poll(cg_wproc_t *p, struct pollfd *pfd)
{
    int i, n;

    pthread_mutex_lock(&p->park_lock);
    n = p->nparked;
    for (i = 0; i < n; i++) {
        pfd[i] = (struct pollfd) { .fd = p->parked[i], .events = POLLIN };
    }
    pthread_mutex_unlock(&p->park_lock);
    return n;
}


static void
cg_worker_unpark(cg_wproc_t *p, int fd)
{
    int i;

    pthread_mutex_lock(&p->park_lock);
    for (i = 0; i < p->nparked; i++) {
        if (p->parked[i] == fd) {
            p->parked[i] = p->parked[--p->nparked];
            break;
        }
    }
    pthread_mutex_unlock(&p->park_lock);
}


static void
cg_worker_parked_close(cg_wproc_t *p)
{
    while (p->nparked > 0) {
        close(p->parked[--p->nparked]);
    }
}


/* ondemand may leave no process to take a kept connection (the last one
 * idles out), so there a stopping worker closes them as the drain does;
 * it still takes those that others hand on. */
static int
cg_worker_hands_off(const cg_wproc_t *p)
{
    return p->handoff[1] >= 0 && p->conf->pool.mode != CG_PM_ONDEMAND;
}


/* Passes a kept connection to the pool's other workers (SCM_RIGHTS over
 * the socket pair the master made): 0 when it went, and then our copy is
 * closed without the front end seeing a close. */
static int
cg_worker_handoff_send(cg_wproc_t *p, int fd)
{
    char            one = 1;
    struct iovec    iov = { &one, 1 };
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr   msg = { .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = u.b,
                            .msg_controllen = sizeof(u.b) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

    if (!cg_worker_hands_off(p)) {
        return -1;
    }
    memset(u.b, 0, sizeof(u.b));
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(p->handoff[1], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
        return -1;
    }
    close(fd);
    return 0;
}


/* A kept connection another worker passed on, or -1. */
static int
cg_worker_handoff_recv(cg_wproc_t *p)
{
    char            one;
    struct iovec    iov = { &one, 1 };
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr   msg = { .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = u.b,
                            .msg_controllen = sizeof(u.b) };
    struct cmsghdr *c;
    int             fd = -1;

    if (recvmsg(p->handoff[0], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 1) {
        return -1;
    }
    c = CMSG_FIRSTHDR(&msg);
    if (c != NULL && c->cmsg_level == SOL_SOCKET
        && c->cmsg_type == SCM_RIGHTS
        && c->cmsg_len == CMSG_LEN(sizeof(int))) {
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
    return fd;
}


/* 1 when the front end has sent something on fd (a request, or its own
 * close) that is waiting to be read. */
static int
cg_worker_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) > 0 && pfd.revents != 0;
}


/* A stopping process drains its parked connections: one with a request
 * already in its socket buffer is returned to be served (its answer then
 * closes it), and one with nothing readable is closed at once, so the
 * front end sees the close and stops choosing it. The check and the close
 * are back to back under the lock: a request the front end sends before
 * the check is served, and the window in which one can be lost is the
 * few instructions between the two, not the whole drain as when parked
 * connections were closed at exit. -1 when none is left to serve. */
static int
cg_worker_parked_sweep(cg_wproc_t *p)
{
    int fd = -1, i;

    pthread_mutex_lock(&p->park_lock);
    for (i = p->nparked - 1; i >= 0 && fd < 0; i--) {
        if (cg_worker_handoff_send(p, p->parked[i]) == 0) {
            /* a sibling serves it: nginx never sees a close */
        } else if (cg_worker_readable(p->parked[i])) {
            fd = p->parked[i];
        } else {
            close(p->parked[i]);
        }
        p->parked[i] = p->parked[--p->nparked];
    }
    pthread_mutex_unlock(&p->park_lock);
    return fd;
}


static int
cg_worker_accept(cg_wproc_t *p)
{
    struct sockaddr_storage sa;
    socklen_t               len;
    struct pollfd           pfd[4 + CG_WORKER_PARK_MAX];
    uint64_t                v;
    int                     fd = -1, i, n;

    /* One thread per process waits on the socket and the parked
     * connections at a time, so a new connection or a next request wakes
     * one thread here, not all of them. A thread that sees the stop flag
     * never accepts: the connection stays queued for another worker, so a
     * stop cannot lose one; it only drains the parked ones. */
    pthread_mutex_lock(&p->accept_lock);
    while (fd < 0) {
        if (atomic_load(&p->stop)) {
            fd = cg_worker_parked_sweep(p);
            break;
        }
        pfd[0] = (struct pollfd) { .fd = p->listen_fd, .events = POLLIN };
        pfd[1] = (struct pollfd) { .fd = p->stop_fd, .events = POLLIN };
        pfd[2] = (struct pollfd) { .fd = p->park_fd, .events = POLLIN };
        pfd[3] = (struct pollfd) { .fd = p->handoff[0], .events = POLLIN };
        n = cg_worker_parked_poll(p, pfd + 4);
        if (poll(pfd, (nfds_t) (4 + n), -1) < 0 || pfd[1].revents) {
            continue;
        }
        if (pfd[2].revents && read(p->park_fd, &v, sizeof(v)) < 0) {
            /* nothing to drain: another round of poll */
        }
        if (pfd[3].revents && (i = cg_worker_handoff_recv(p)) >= 0) {
            cg_worker_park_fd(p, i);    /* a stopping sibling's */
        }
        for (i = 0; i < n && fd < 0; i++) {
            if (pfd[4 + i].revents) {   /* a next request, or a close */
                fd = pfd[4 + i].fd;
                cg_worker_unpark(p, fd);
            }
        }
        if (fd >= 0 || !(pfd[0].revents & POLLIN)) {
            continue;
        }
        len = sizeof(sa);
        fd = accept4(p->listen_fd, (struct sockaddr *) &sa, &len,
                     SOCK_CLOEXEC);
        if (fd >= 0) {
            atomic_fetch_add(&p->sb->c->connections, 1);
            if (p->clients.n == 0
                || cg_acl_match_sa(&p->clients, (struct sockaddr *) &sa)) {
                break;
            }
            cg_log(CG_LOG_WARN, "connection from an address not in "
                   "allowed_clients refused");
            close(fd);
            fd = -1;
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
            cg_log(CG_LOG_ERROR, "accept failed: %s", strerror(errno));
            poll(NULL, 0, 100);
        }
    }
    pthread_mutex_unlock(&p->accept_lock);
    return fd;
}


static int
cg_worker_is_status(const cg_conf_t *conf, FCGX_Request *fr)
{
    const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
    size_t      n;

    if (conf->status.path[0] == '\0' || uri == NULL) {
        return 0;
    }
    n = strlen(conf->status.path);
    return strncmp(uri, conf->status.path, n) == 0
           && (uri[n] == '\0' || uri[n] == '?');
}


static void
cg_worker_stop(cg_wproc_t *p)
{
    uint64_t one = 1;

    atomic_store(&p->stop, 1);
    if (write(p->stop_fd, &one, sizeof(one)) < 0) {
        /* the counter cannot overflow with one write per stop */
    }
}


static void
cg_worker_fault_note(cg_worker_t *w)
{
    const char *fired = cg_fault_disarm();

    if (fired != NULL) {
        cg_log(CG_LOG_WARN, "%s: injected fault %s", w->req.request_id,
               fired);
    }
}


static void
cg_worker_one(cg_worker_t *w)
{
    cg_wproc_t *p = w->proc;
    cg_sb_t    *sb = p->sb;
    int         status;

    atomic_store(&w->phase, CG_W_WORKING);
    cg_sb_begin(sb, p->slot, w->index);
    status = cg_worker_is_status(w->conf, &w->fr);
    if (status) {
        cg_status_serve(w->conf, sb, &w->fr);
    } else {
        /* Test builds only (make faults): the request names its fault. */
        cg_fault_arm(FCGX_GetParam("HTTP_X_CHATGATE_FAULT", w->fr.envp));
        cg_worker_serve(w, &w->fr);
        cg_worker_fault_note(w);
    }
    while (atomic_load(&w->phase) == CG_W_TERMINATED) {
        /* The main thread answered for us and the process is leaving:
         * touch the connection no more. */
        pause();
    }
    /* Counted before FCGX_Finish_r sends the end of the response, so a
     * client that has its answer also sees it on the status page. */
    cg_sb_end(sb, p->slot, w->index, status ? NULL : &w->req);
    if (p->conf->pool.max_requests > 0
        && atomic_load(&sb->procs[p->slot].requests)
           >= (unsigned long long) p->conf->pool.max_requests) {
        /* Recycle: finish what is in flight, then leave; the master
         * starts a fresh process. */
        cg_worker_stop(p);
    }
    if (atomic_load(&p->stop) && !cg_worker_hands_off(p)) {
        /* A stopping process keeps no connection: libfcgi closes this one
         * right after the end-request record, so the front end sees the
         * close with the answer and does not send another request on it
         * (FCGI_KEEP_CONN leaves the close to the front end; a close from
         * our side later, with nothing to tell it apart from an idle
         * connection, is what it answered 502). */
        w->fr.keepConnection = 0;
    }
    FCGX_Finish_r(&w->fr);
}


static void *
cg_worker_thread(void *arg)
{
    cg_worker_t *w = arg;
    cg_wproc_t  *p = w->proc;
    int          fd;

    /* Also while stopping: the accepting thread then hands out only the
     * parked connections with a request waiting, and -1 once none is
     * left. */
    for (;;) {
        if (w->fr.ipcFd >= 0) {
            cg_worker_park(p, w->fr.ipcFd);     /* kept: wait without us */
            w->fr.ipcFd = -1;
        }
        if (w->fr.ipcFd < 0) {
            fd = cg_worker_accept(p);
            if (fd < 0) {
                break;
            }
            /* libfcgi reads the request from a connection we accepted
             * ourselves; its own accept (on the dead socket) only runs if
             * that connection fails, and then fails at once. */
            w->fr.ipcFd = fd;
            w->fr.keepConnection = 1;
        }
        if (FCGX_Accept_r(&w->fr) < 0) {
            continue;
        }
        cg_worker_one(w);
    }
    atomic_fetch_sub(&p->running, 1);
    return NULL;
}


static void
cg_worker_block_all(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}


static void
cg_worker_record(cg_buf_t *b, int type, int id, const char *data, size_t n)
{
    unsigned char h[8] = { 1, (unsigned char) type,
                           (unsigned char) (id >> 8), (unsigned char) id,
                           (unsigned char) (n >> 8), (unsigned char) n,
                           0, 0 };

    cg_buf_add(b, h, sizeof(h));
    cg_buf_add(b, data, n);
}


/* Answers a request whose thread is stuck with chatgate's own 504, as
 * FastCGI records written straight to its connection (the thread has
 * written nothing: it never claimed the answer). */
static void
cg_worker_answer_504(cg_worker_t *w)
{
    static const char end[8] = { 0 };   /* appStatus 0, REQUEST_COMPLETE */
    cg_req_t          r;
    cg_buf_t          resp = { 0 }, out = { 0 };

    memset(&r, 0, sizeof(r));
    cg_req_init(&r, cg_clock_mono());
    memcpy(r.request_id, w->req.request_id, sizeof(r.request_id));
    r.request_id[sizeof(r.request_id) - 1] = '\0';
    r.api = w->req.api;     /* in the format the caller speaks */
    cg_req_fail(&r, CG_E_UPSTREAM_TIMEOUT, NULL, "request_terminate_timeout");
    cg_http_response(&r, &resp);
    if (!resp.oom && resp.len < 65536) {
        cg_worker_record(&out, 6, w->fr.requestId, resp.data, resp.len);
        cg_worker_record(&out, 6, w->fr.requestId, "", 0);
        cg_worker_record(&out, 3, w->fr.requestId, end, sizeof(end));
        if (!out.oom
            && send(w->fr.ipcFd, out.data, out.len, MSG_NOSIGNAL) < 0) {
            cg_log(CG_LOG_WARN, "%s: cannot send the 504: %s",
                   r.request_id, strerror(errno));
        }
    }
    cg_req_destroy(&r);
    cg_buf_free(&resp);
    cg_buf_free(&out);
}


/* request_terminate_timeout, enforced by the process itself so that the
 * client gets a clean 504; a thread cannot be cancelled safely, so the
 * process then leaves (the master replaces it, and kills it itself if
 * this check cannot run). */
static void
cg_worker_watchdog(cg_wproc_t *p)
{
    long long       limit = p->conf->pool.request_terminate_timeout * 1000LL;
    long long       now = cg_sb_now_ms();
    cg_sb_thread_t *t;
    int             i, n = 0, expected;

    if (limit <= 0) {
        return;
    }
    for (i = 0; i < p->nthreads; i++) {
        t = cg_sb_thread(p->sb, p->slot, i);
        if (atomic_load(&t->state) != CG_SB_BUSY
            || now - atomic_load(&t->started_ms) <= limit) {
            continue;
        }
        expected = CG_W_WORKING;
        if (atomic_compare_exchange_strong(&p->threads[i].phase, &expected,
                                           CG_W_TERMINATED)) {
            cg_worker_answer_504(&p->threads[i]);
        }
        n++;
    }
    if (n > 0) {
        cg_log(CG_LOG_WARN, "%d request(s) ran past "
               "request_terminate_timeout (%d s): answered 504, worker "
               "leaves", n, p->conf->pool.request_terminate_timeout);
        _exit(CG_WORKER_EXIT_TERMINATED);
    }
}


/* The process's main thread only waits for signals: request threads never
 * see one, so no read or write of theirs is cut short by EINTR. */
static void
cg_worker_signals(cg_wproc_t *p, const sigset_t *set)
{
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    double          deadline = 0;
    int             sig;
    unsigned        ticks = 0;

    while (atomic_load(&p->running) > 0) {
        sig = sigtimedwait(set, NULL, &ts);
        if ((sig == SIGHUP || ++ticks % CG_WORKER_WATCH_TICKS == 0)
            && !atomic_load(&p->stop) && cg_confwatch_poll(sig == SIGHUP)) {
            cg_worker_stop(p);
        }
        if (sig == SIGUSR1) {
            cg_log_reopen();
            atomic_fetch_add(&p->reopen, 1);
            cg_log(CG_LOG_NOTICE, "logs reopened");
        } else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
            cg_worker_stop(p);
        }
        cg_worker_watchdog(p);
        if (atomic_load(&p->stop) && deadline == 0) {
            deadline = cg_clock_mono() + p->conf->server.shutdown_timeout;
        }
        if (deadline > 0 && cg_clock_mono() > deadline) {
            /* Under a spawner there is no master to enforce the grace
             * time: do it here. */
            cg_log(CG_LOG_WARN, "shutdown timeout: leaving with requests "
                   "in flight");
            _exit(1);
        }
    }
}


static int
cg_worker_start(cg_wproc_t *p)
{
    cg_worker_t *w;
    int          i;

    for (i = 0; i < p->nthreads; i++) {
        w = &p->threads[i];
        w->proc = p;
        w->index = i;
        if (cg_worker_init(w, p->conf) != 0) {
            return -1;
        }
        atomic_store(&cg_sb_thread(p->sb, p->slot, i)->state, CG_SB_IDLE);
        FCGX_InitRequest(&w->fr, p->dead_fd, 0);
    }
    for (i = 0; i < p->nthreads; i++) {
        w = &p->threads[i];
        atomic_fetch_add(&p->running, 1);
        if (pthread_create(&w->tid, NULL, cg_worker_thread, w) != 0) {
            atomic_fetch_sub(&p->running, 1);
            cg_log(CG_LOG_ERROR, "cannot start thread %d", i);
            return i == 0 ? -1 : 0;
        }
        w->tid_ok = 1;
    }
    return 0;
}


static void
cg_worker_finish(cg_wproc_t *p)
{
    int i;

    for (i = 0; i < p->nthreads; i++) {
        if (p->threads[i].tid_ok) {
            pthread_join(p->threads[i].tid, NULL);
        }
        FCGX_Free(&p->threads[i].fr, 1);
        cg_worker_free(&p->threads[i]);
        atomic_store(&cg_sb_thread(p->sb, p->slot, i)->state, CG_SB_EMPTY);
    }
    free(p->threads);
    cg_worker_parked_close(p);
    close(p->dead_fd);
    close(p->stop_fd);
    close(p->park_fd);
}


int
cg_worker_run(const cg_conf_t *conf, int listen_fd, const int handoff[2],
              cg_sb_t *sb, int slot, int nthreads)
{
    static cg_wproc_t p;
    sigset_t          set;
    char              err[256];
    int               rc = 0;

    (void) mallopt(M_MMAP_THRESHOLD, CG_WORKER_MMAP_THRESHOLD);
    memset(&p, 0, sizeof(p));
    p.conf = conf;
    p.sb = sb;
    p.slot = slot;
    p.listen_fd = listen_fd;
    p.handoff[0] = handoff[0];
    p.handoff[1] = handoff[1];
    p.nthreads = nthreads;
    pthread_mutex_init(&p.accept_lock, NULL);
    pthread_mutex_init(&p.park_lock, NULL);
    cg_worker_block_all(&set);
    p.dead_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    p.stop_fd = eventfd(0, EFD_CLOEXEC);
    p.park_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p.threads = calloc((size_t) nthreads, sizeof(cg_worker_t));
    if (cg_acl_parse(&p.clients, conf->server.allowed_clients, err,
                     sizeof(err))
        != 0) {
        cg_log(CG_LOG_ERROR, "allowed_clients: %s", err);
        return CG_WORKER_EXIT_START;
    }
    /* The listening socket is shared by every worker; accept() after a
     * poll() must not block when another process won the race. */
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    if (p.dead_fd < 0 || p.stop_fd < 0 || p.park_fd < 0
        || p.threads == NULL
        || FCGX_Init() != 0 || cg_worker_start(&p) != 0) {
        cg_worker_stop(&p);
        rc = CG_WORKER_EXIT_START;
    }
    cg_worker_signals(&p, &set);
    cg_worker_finish(&p);
    return rc;
}
