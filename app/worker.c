#include "worker.h"
#include "confwatch.h"
#include "outage.h"
#include "acl.h"
#include "alertsend.h"
#include "fconn.h"
#include "log.h"
#include "loop.h"
#include "scoreboard.h"
#include "status.h"

#include "pipeline/chat.h"
#include "core/clock.h"
#include "core/fault.h"
#include "core/iowait.h"
#include "http/compat.h"
#include "http/http.h"
#include "core/req.h"
#include "log/usagelog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <malloc.h>

/* Body buffers kept between requests, per connection; a larger one is
 * given back after its request. */
#define CG_WORKER_KEEP  (64 * 1024)
/* Unread request body read off a kept connection to keep it (twice the
 * shipped nginx client_max_body_size); past it the connection is closed
 * after the answer. */
#define CG_WORKER_DRAIN_MAX (2 * 1024 * 1024)
/* Allocations from this size up get their own mapping, given back to the
 * system when freed. glibc's default threshold moves up to 32 MiB after
 * the first large free, and the freed space is then kept for ever: a
 * worker kept every large request's memory. */
#define CG_WORKER_MMAP_THRESHOLD  (256 * 1024)
/* Each request's fiber stack: the deepest path (TLS handshake inside
 * curl, json-c) uses well under a quarter of it; pages never touched cost
 * nothing. */
#define CG_WORKER_STACK  (256 * 1024)
/* The loop looks at the clock (watchdog, stop deadline) this often; the
 * config every 10th time (confwatch.h: under a spawner only). */
#define CG_WORKER_TICK_MS      100
#define CG_WORKER_WATCH_TICKS  10
/* New connections taken per wake of the listening socket, so that one
 * busy worker does not take them all. */
#define CG_WORKER_ACCEPT_BURST  16
/* How long a request may leave the rest of its records unsent, and how
 * long a write may wait for the web server to take the answer. */
#define CG_WORKER_IO_MS  60000
/* How long a new connection is expected to take to send its request
 * (cg_worker_fresh_expire). */
#define CG_WORKER_FRESH_MS  200
/* A key_exposure alert for one caller is raised once an hour. */
#define CG_WORKER_EXPOSURE_PERIOD  CG_HOUR_S

typedef struct cg_wproc_s cg_wproc_t;

/* Who answers the current request: its fiber, or (past
 * request_terminate_timeout) the loop with a 504. The first to move the
 * phase away from WORKING owns the connection. */
enum {
    CG_W_WORKING = 0,
    CG_W_ANSWERING,
    CG_W_TERMINATED
};

/* A request context: chat handles (curl, memcached) and buffers, used by
 * one request at a time and handed from one to the next; its index is its
 * scoreboard slot. Set up the first time one is needed. */
typedef struct cg_worker_s {
    const cg_conf_t     *conf;
    cg_chat_t            chat;
    cg_usage_ctx_t       uctx;
    cg_req_t             req;
    cg_buf_t             out;
    cg_buf_t             line;
    uint64_t             id_seed;
    uint64_t             id_count;
    cg_wproc_t          *proc;
    int                  index;
    int                  ready;         /* cg_worker_init done */
    cg_fconn_t          *conn;          /* the running request's */
    atomic_int           phase;         /* CG_W_* */
    struct cg_worker_s  *next_free;
} cg_worker_t;

/* One FastCGI connection and the fiber that serves it. */
typedef struct cg_wconn_s {
    cg_fconn_t           fc;
    cg_buf_t             body;
    cg_wproc_t          *proc;
    cg_task_t           *task;
    int                  idle;          /* waiting for its next request */
    int                  gone;          /* handed off or closed by a stop */
    int                  waits_ctx;     /* queued for a request context */
    int                  fresh;         /* counted in proc->fresh */
    int                  handed;        /* a sibling passed it on, kept */
    double               accepted_at;
    struct cg_wconn_s   *fnext, *fprev; /* proc->fresh_list, oldest first */
    struct cg_wconn_s   *prev, *next;
    struct cg_wconn_s   *ctx_next;
} cg_wconn_t;

/* The worker process: its loop and what every request shares. */
struct cg_wproc_s {
    const cg_conf_t *conf;
    cg_sb_t         *sb;
    int              slot;
    int              listen_fd;
    int              listening;
    double           accept_paused;     /* until then (out of fds) */
    int              nfree;             /* request contexts free */
    int              fresh;             /* new conns before their first
                                         * request took a context */
    cg_wconn_t      *fresh_head, *fresh_tail;
    int              handoff[2];        /* kept conns passed between workers */
    int              taking;            /* handoff[0] watched */
    int              sig_fd;
    cg_loop_t       *loop;
    cg_upshare_t    *share;             /* provider connections, kept */
    cg_usagelog_t    usage;
    int              log_failing;       /* the last usage line failed */
    int              stop;
    double           deadline;          /* stop: leave by then */
    cg_acl_t         clients;
    cg_worker_t     *ctx;               /* nctx request contexts */
    int              nctx;
    int              nready;
    cg_worker_t     *free_ctx;
    cg_wconn_t      *ctx_wait, *ctx_wait_tail;
    cg_wconn_t      *conns;             /* every open connection */
    int              nconns;
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


/* The body the connection read, checked against what the request says
 * of it (the record layer kept at most max_body + 1 bytes). */
static int
cg_worker_read_body(cg_worker_t *w, cg_wconn_t *k, cg_req_t *r)
{
    size_t  got = k->fc.body_seen;
    long    want;
    char   *end;

    if (got > (size_t) w->conf->http.max_body) {
        return cg_req_fail(r, CG_E_TOO_LARGE, NULL,
                           "undeclared body over max_body");
    }
    if (r->content_length && r->content_length[0]) {
        want = strtol(r->content_length, &end, 10);
        if (want >= 0 && got < (size_t) want) {
            return cg_req_fail(r, CG_E_INVALID, NULL, "body shorter than "
                               "Content-Length");
        }
        if (want >= 0 && got > (size_t) want) {
            got = (size_t) want;
        }
    }
    if (cg_buf_reserve(&k->body, 1) != 0) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    k->body.len = got;
    k->body.data[got] = '\0';
    r->body = k->body.data;
    r->body_len = got;
    return 0;
}


static int
cg_worker_claim(cg_worker_t *w)
{
    int expected = CG_W_WORKING;

    return atomic_compare_exchange_strong(&w->phase, &expected,
                                          CG_W_ANSWERING);
}


/* cg_out_t over the FastCGI connection: streamed answers are flushed to
 * the web server as they come; a failed write or flush means the client
 * (or the web server's connection for it) is gone. */
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
    return cg_fconn_write(w->conn, p, n);
}


static int
cg_worker_out_flush(void *ctx)
{
    cg_worker_t *w = ctx;

    return cg_fconn_flush(w->conn, CG_WORKER_IO_MS);
}


/* The web server closes its FastCGI connection when the client leaves
 * (nginx: fastcgi_ignore_client_abort off), which shows as a hangup. */
static int
cg_worker_out_alive(void *ctx)
{
    cg_worker_t *w = ctx;

    return cg_fconn_alive(w->conn);
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
    (void) cg_usagelog_write(&w->proc->usage, &w->line);
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
    if (line.len == 0 || cg_usagelog_write(&w->proc->usage, &line) != 0) {
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
    if (!w->proc->log_failing
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
    int rc;

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
    } else if ((rc = cg_usagelog_write(&w->proc->usage, &w->line)) != 0) {
        /* Never unlogged silently: the line goes to the error log. */
        cg_log(CG_LOG_ERROR, "cannot write usage line for %s (%s): %.*s",
               r->request_id, strerror(errno), (int) w->line.len - 1,
               w->line.data);
    }
    w->proc->log_failing = rc != 0;
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

    if (cg_usagelog_write(&w->proc->usage, line) != 0) {
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
cg_worker_put_answer(cg_worker_t *w, const cg_req_t *r)
{
    char   mem[512];
    size_t n;

    if (!w->out.oom) {
        return cg_fconn_write(w->conn, w->out.data, w->out.len);
    }
    n = cg_http_fallback(r, mem, sizeof(mem));
    return cg_fconn_write(w->conn, mem, n);
}


/* The request is over, on every exit of cg_worker_serve(): the answer
 * written is wiped with everything the pipeline held (cg_chat_end), and
 * a buffer that grew past CG_WORKER_KEEP for it is given back. The body
 * is the connection's (cg_worker_conn_done). */
static void
cg_worker_done(cg_worker_t *w, cg_req_t *r)
{
    cg_buf_wipe(&w->out);
    cg_chat_end(&w->chat, r);
    cg_buf_shrink(&w->out, CG_WORKER_KEEP);
}


static void
cg_worker_answer(cg_worker_t *w, cg_wconn_t *k)
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
    cg_http_params(r, k->fc.params_end ? k->fc.envp : NULL);
    /* The path decides the front: /api/chat, or a provider's format. */
    api = cg_compat_api(w->conf, r->uri);
    if ((api != CG_API_CHAT ? cg_compat_admit(w->conf, r, api)
                            : cg_http_admit(w->conf, r)) == 0
        && cg_worker_log_ok(w, r) == 0
        && cg_worker_read_body(w, k, r) == 0) {
        cg_chat_handle(&w->chat, r, &out);
    }
    if (r->streamed) {
        if (r->err == CG_E_CLIENT_CLOSED) {
            k->fc.keep = 0;
        }
        cg_worker_log_usage(w, r);
        return;
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
    /* No flush here: cg_fconn_end writes it with the end records, one
     * write(2) and one nginx wake-up instead of two. */
    if (cg_worker_put_answer(w, r) < 0) {
        cg_log(CG_LOG_WARN, "%s: client went away before the answer was "
               "written", r->request_id);
    }
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
    /* The process's first context compiles the guards; the others share
     * them (they are read-only): ~15 kB and a compile less for each. */
    if ((w->index > 0
         ? cg_chat_init_like(&w->chat, &w->proc->ctx[0].chat, err,
                             sizeof(err))
         : cg_chat_init(&w->chat, conf, err, sizeof(err))) != 0) {
        cg_log(CG_LOG_ERROR, "worker start failed: %s", err);
        return -1;
    }
    cg_chat_set_events(&w->chat, &ev);
    cg_upstream_set_share(w->chat.up, w->proc->share);
    w->ready = 1;
    return 0;
}


static void
cg_worker_free(cg_worker_t *w)
{
    if (w->ready) {
        cg_chat_free(&w->chat);
    }
    cg_req_destroy(&w->req);
    cg_buf_free(&w->out);
    cg_buf_free(&w->line);
    w->ready = 0;
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


static void cg_worker_accept(cg_loop_t *l, int fd, uint32_t events,
                             void *arg);
static void cg_worker_handoff_in(cg_loop_t *l, int fd, uint32_t events,
                                 void *arg);


/* A process takes a new connection only while it has a request context
 * for it, as a thread pool takes one only with a thread free: so a busy
 * worker leaves new connections on the socket for the others, and the
 * master sees a busy pool and grows it (dynamic, ondemand). */
static void
cg_worker_listen_update(cg_wproc_t *p)
{
    int want = !p->stop && p->nfree > p->fresh
               && cg_clock_mono() >= p->accept_paused;

    if (want && !p->listening) {
        p->listening = cg_loop_watch(p->loop, p->listen_fd, EPOLLIN, 1,
                                     cg_worker_accept, p) == 0;
    } else if (!want && p->listening) {
        /* What is queued on the socket stays there for another worker. */
        cg_loop_unwatch(p->loop, p->listen_fd);
        p->listening = 0;
    }
    /* Kept connections siblings pass on are taken on the same terms: a
     * full worker passes on those that bring it a request (see
     * cg_worker_pass_on), so it must not be the one that takes them. */
    if (p->handoff[0] < 0) {
        return;
    }
    if (want && !p->taking) {
        p->taking = cg_loop_watch(p->loop, p->handoff[0], EPOLLIN, 1,
                                  cg_worker_handoff_in, p) == 0;
    } else if (!want && p->taking) {
        cg_loop_unwatch(p->loop, p->handoff[0]);
        p->taking = 0;
    }
}


static void
cg_worker_unfresh(cg_wproc_t *p, cg_wconn_t *k)
{
    if (!k->fresh) {
        return;
    }
    k->fresh = 0;
    p->fresh--;
    if (k->fprev) {
        k->fprev->fnext = k->fnext;
    } else {
        p->fresh_head = k->fnext;
    }
    if (k->fnext) {
        k->fnext->fprev = k->fprev;
    } else {
        p->fresh_tail = k->fprev;
    }
    k->fnext = k->fprev = NULL;
    cg_worker_listen_update(p);
}


static void
cg_worker_mark_fresh(cg_wproc_t *p, cg_wconn_t *k)
{
    k->fresh = 1;
    k->accepted_at = cg_clock_mono();
    k->fprev = p->fresh_tail;
    if (p->fresh_tail) {
        p->fresh_tail->fnext = k;
    } else {
        p->fresh_head = k;
    }
    p->fresh_tail = k;
    p->fresh++;
    cg_worker_listen_update(p);
}


/* A new connection counts against the free contexts only while its
 * request can be expected at once: one that has not sent a whole request
 * within CG_WORKER_FRESH_MS (a slow or stalled client, an idle pool
 * connection) no longer keeps the process from accepting. */
static void
cg_worker_fresh_expire(cg_wproc_t *p)
{
    double old = cg_clock_mono() - CG_WORKER_FRESH_MS / 1000.0;

    while (p->fresh_head != NULL && p->fresh_head->accepted_at < old) {
        cg_worker_unfresh(p, p->fresh_head);
    }
}


/* Sets up the next request context, put on the free list. */
static cg_worker_t *
cg_worker_ctx_new(cg_wproc_t *p)
{
    cg_worker_t *w = &p->ctx[p->nready];

    w->proc = p;
    w->index = p->nready;
    if (cg_worker_init(w, p->conf) != 0) {
        cg_worker_free(w);
        return NULL;
    }
    p->nready++;
    p->nfree++;
    w->next_free = p->free_ctx;
    p->free_ctx = w;
    return w;
}


/* A request context for the running fiber: a free one, or the first to
 * be given back ([server] threads of them are set up at the start; the
 * fiber waits in line). */
static cg_worker_t *
cg_worker_ctx_get(cg_wproc_t *p, cg_wconn_t *k)
{
    cg_worker_t *w;

    while (p->free_ctx == NULL) {
        k->waits_ctx = 1;
        k->ctx_next = NULL;
        if (p->ctx_wait_tail) {
            p->ctx_wait_tail->ctx_next = k;
        } else {
            p->ctx_wait = k;
        }
        p->ctx_wait_tail = k;
        (void) cg_iowait_poll(NULL, 0, -1);
    }
    w = p->free_ctx;
    p->free_ctx = w->next_free;
    p->nfree--;
    cg_worker_unfresh(p, k);
    cg_worker_listen_update(p);
    return w;
}


static void
cg_worker_ctx_put(cg_wproc_t *p, cg_worker_t *w)
{
    cg_wconn_t *k = p->ctx_wait;

    w->conn = NULL;
    w->next_free = p->free_ctx;
    p->free_ctx = w;
    p->nfree++;
    cg_worker_listen_update(p);
    if (k != NULL) {
        p->ctx_wait = k->ctx_next;
        if (p->ctx_wait == NULL) {
            p->ctx_wait_tail = NULL;
        }
        k->waits_ctx = 0;
        cg_loop_wake(p->loop, k->task);
    }
}


static void
cg_worker_stop(cg_wproc_t *p);


static void
cg_worker_fault_note(cg_worker_t *w)
{
    const char *fired = cg_fault_disarm();

    if (fired != NULL) {
        cg_log(CG_LOG_WARN, "%s: injected fault %s", w->req.request_id,
               fired);
    }
}


static int
cg_worker_is_status(const cg_conf_t *conf, const cg_fconn_t *c)
{
    const char *uri = cg_fconn_param(c, "REQUEST_URI");
    size_t      n;

    if (conf->status.path[0] == '\0' || uri == NULL) {
        return 0;
    }
    n = strlen(conf->status.path);
    return strncmp(uri, conf->status.path, n) == 0
           && (uri[n] == '\0' || uri[n] == '?');
}


/* One request on connection k, in its fiber, with context w. */
static void
cg_worker_one(cg_worker_t *w, cg_wconn_t *k)
{
    cg_wproc_t *p = w->proc;
    cg_sb_t    *sb = p->sb;
    int         status;

    w->conn = &k->fc;
    atomic_store(&w->phase, CG_W_WORKING);
    cg_sb_begin(sb, p->slot, w->index);
    status = cg_worker_is_status(w->conf, &k->fc);
    if (status) {
        cg_buf_reset(&w->out);
        cg_status_serve(w->conf, sb, k->fc.envp, &w->out);
        (void) cg_fconn_write(&k->fc, w->out.data, w->out.len);
        cg_buf_reset(&w->out);
    } else {
        /* Test builds only (make faults): the request names its fault. */
        cg_fault_arm(cg_fconn_param(&k->fc, "HTTP_X_CHATGATE_FAULT"));
        cg_worker_answer(w, k);
        cg_worker_done(w, &w->req);
        cg_worker_fault_note(w);
    }
    /* Counted before the end of the response goes out, so a client that
     * has its answer also sees it on the status page. */
    cg_sb_end(sb, p->slot, w->index, status ? NULL : &w->req);
    if (p->conf->pool.max_requests > 0
        && atomic_load(&sb->procs[p->slot].requests)
           >= (unsigned long long) p->conf->pool.max_requests) {
        /* Recycle: finish what is in flight, then leave; the master
         * starts a fresh process. */
        cg_worker_stop(p);
    }
    if (atomic_load(&w->phase) != CG_W_TERMINATED) {
        (void) cg_fconn_end(&k->fc, CG_WORKER_IO_MS);
    }
}


static void
cg_worker_conn_unlink(cg_wproc_t *p, cg_wconn_t *k)
{
    if (k->prev) {
        k->prev->next = k->next;
    } else {
        p->conns = k->next;
    }
    if (k->next) {
        k->next->prev = k->prev;
    }
    p->nconns--;
}


/* The request's body held the prompt: wipe it, keep a small buffer. */
static void
cg_worker_conn_done(cg_wconn_t *k)
{
    cg_buf_wipe(&k->body);
    cg_buf_shrink(&k->body, CG_WORKER_KEEP);
}


/* 1 when the front end has sent something on fd (a request, or its own
 * close) that is waiting to be read. */
static int
cg_worker_readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) > 0 && pfd.revents != 0;
}


/* A kept connection (between two requests, or one a sibling passed on)
 * whose fiber finds its process stopping, and that the stop's sweep did
 * not see (its fiber had not run yet): what the sweep does, here. 1 when
 * the fiber is to end. */
static int
cg_worker_conn_leave(cg_wproc_t *p, cg_wconn_t *k)
{
    if (!(k->fc.served > 0 || k->handed) || k->fc.in.len > k->fc.in_off
        || cg_worker_readable(k->fc.fd)) {
        return 0;               /* a request is there, or on its way */
    }
    if (cg_worker_handoff_send(p, k->fc.fd) != 0) {
        close(k->fc.fd);
    }
    k->fc.fd = -1;
    return 1;
}


/* A kept connection (or one that stopped counting as fresh) waits for
 * its next request unread: if the request comes while this process has
 * no request context free, a sibling that has one takes the connection
 * whole, rather than the request waiting here for one of ours to end
 * while other workers idle (the web server chose the connection, not the
 * worker). 1 when the fiber is to end (passed on, woken by a stop, or
 * closed), 0 to read the request here. */
static int
cg_worker_pass_on(cg_wproc_t *p, cg_wconn_t *k)
{
    int rc;

    if (k->fresh || k->fc.in.len > k->fc.in_off) {
        return 0;
    }
    k->idle = 1;
    rc = cg_fconn_await(&k->fc, -1);
    k->idle = 0;
    if (rc < 0 || k->gone) {
        return 1;
    }
    if (rc == 0 || p->free_ctx != NULL || p->stop
        || cg_worker_handoff_send(p, k->fc.fd) != 0) {
        return 0;
    }
    k->fc.fd = -1;
    return 1;
}


/* The fiber of one connection: requests one after the other, for as long
 * as the web server keeps the connection. */
static void
cg_worker_conn_main(void *arg)
{
    cg_wconn_t    *k = arg;
    cg_wproc_t    *p = k->proc;
    cg_worker_t   *w;
    cg_fconn_rc_t  rc;

    while (!k->gone) {
        if ((p->stop && cg_worker_conn_leave(p, k))
            || cg_worker_pass_on(p, k)) {
            break;
        }
        k->idle = 1;
        rc = cg_fconn_read(&k->fc, &k->body,
                           (size_t) p->conf->http.max_body + 1,
                           CG_WORKER_DRAIN_MAX, -1, CG_WORKER_IO_MS);
        k->idle = 0;
        if (rc != CG_FCONN_OK) {
            break;
        }
        w = cg_worker_ctx_get(p, k);
        if (w == NULL) {
            break;
        }
        cg_worker_one(w, k);
        cg_worker_ctx_put(p, w);
        cg_worker_conn_done(k);
        if (!k->fc.keep || k->fc.write_failed) {
            break;
        }
        if (p->stop) {
            /* A stopping process keeps no connection: a sibling takes it
             * (the front end sees no close), or it is closed right after
             * this answer, so the front end does not send another. */
            if (cg_worker_handoff_send(p, k->fc.fd) == 0) {
                k->fc.fd = -1;
            }
            break;
        }
    }
    cg_worker_unfresh(p, k);
    cg_worker_conn_unlink(p, k);
    cg_fconn_free(&k->fc);
    cg_buf_free(&k->body);
    free(k);
}


static int
cg_worker_conn_new(cg_wproc_t *p, int fd)
{
    cg_wconn_t *k = calloc(1, sizeof(*k));

    if (k == NULL) {
        close(fd);
        return -1;
    }
    cg_fconn_init(&k->fc, fd, (unsigned) p->nctx, (unsigned) p->nctx);
    cg_buf_init(&k->body);
    k->proc = p;
    k->task = cg_loop_spawn(p->loop, cg_worker_conn_main, k);
    if (k->task == NULL) {
        cg_fconn_free(&k->fc);
        free(k);
        return -1;
    }
    k->next = p->conns;
    if (p->conns) {
        p->conns->prev = k;
    }
    p->conns = k;
    p->nconns++;
    return 0;
}


static void
cg_worker_accept(cg_loop_t *l, int fd, uint32_t events, void *arg)
{
    cg_wproc_t             *p = arg;
    struct sockaddr_storage sa;
    socklen_t               len;
    int                     c, i;

    (void) l; (void) events;
    for (i = 0; i < CG_WORKER_ACCEPT_BURST && p->listening; i++) {
        len = sizeof(sa);
        c = accept4(fd, (struct sockaddr *) &sa, &len,
                    SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                cg_log(CG_LOG_ERROR, "accept failed: %s", strerror(errno));
                /* Level-triggered: stop looking for a while, or the loop
                 * spins on a socket it cannot take from. */
                p->accept_paused = cg_clock_mono() + 0.1;
                cg_worker_listen_update(p);
            }
            return;
        }
        atomic_fetch_add(&p->sb->c->connections, 1);
        if (p->clients.n != 0
            && !cg_acl_match_sa(&p->clients, (struct sockaddr *) &sa)) {
            cg_log(CG_LOG_WARN, "connection from an address not in "
                   "allowed_clients refused");
            close(c);
            continue;
        }
        if (cg_worker_conn_new(p, c) == 0) {
            cg_worker_mark_fresh(p, p->conns);
        }
    }
}


/* A kept connection a stopping sibling passed on. */
static void
cg_worker_handoff_in(cg_loop_t *l, int fd, uint32_t events, void *arg)
{
    cg_wproc_t *p = arg;
    int         c;

    (void) l; (void) fd; (void) events;
    if ((c = cg_worker_handoff_recv(p)) >= 0) {
        fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
        if (cg_worker_conn_new(p, c) == 0) {
            p->conns->handed = 1;
        }
    }
}


/* A stopping process lets go of its idle kept connections: each goes to
 * a sibling if there is one, one with a request already waiting is served
 * (its answer then closes it), and the others are closed at once, so the
 * front end sees the close and stops choosing them. The check and the
 * close are back to back: a request the front end sends before the check
 * is served. */
static void
cg_worker_sweep(cg_wproc_t *p)
{
    cg_wconn_t *k;

    for (k = p->conns; k != NULL; k = k->next) {
        if (!k->idle || k->gone || k->fc.id != 0
            || k->fc.in.len > k->fc.in_off) {
            continue;
        }
        if (cg_worker_handoff_send(p, k->fc.fd) == 0) {
            k->fc.fd = -1;
        } else if (cg_worker_readable(k->fc.fd)) {
            continue;
        } else {
            close(k->fc.fd);
            k->fc.fd = -1;
        }
        k->gone = 1;
        cg_loop_wake(p->loop, k->task);
    }
}


static void
cg_worker_stop(cg_wproc_t *p)
{
    if (p->stop) {
        return;
    }
    p->stop = 1;
    p->deadline = cg_clock_mono() + p->conf->server.shutdown_timeout;
    cg_worker_listen_update(p);
    cg_worker_sweep(p);
}


/* Answers a request whose fiber is stuck with chatgate's own 504, as
 * FastCGI records written straight to its connection (the fiber has
 * written nothing: it never claimed the answer). */
static void
cg_worker_answer_504(cg_worker_t *w)
{
    cg_req_t r;
    cg_buf_t resp = { 0 }, out = { 0 };

    memset(&r, 0, sizeof(r));
    cg_req_init(&r, cg_clock_mono());
    memcpy(r.request_id, w->req.request_id, sizeof(r.request_id));
    r.request_id[sizeof(r.request_id) - 1] = '\0';
    r.api = w->req.api;     /* in the format the caller speaks */
    cg_req_fail(&r, CG_E_UPSTREAM_TIMEOUT, NULL, "request_terminate_timeout");
    cg_http_response(&r, &resp);
    if (!resp.oom && w->conn != NULL) {
        cg_fcgi_stdout(&out, w->conn->id, resp.data, resp.len);
        cg_fcgi_end(&w->conn->fc, &out, 0);
        if (!out.oom
            && send(w->conn->fd, out.data, out.len, MSG_NOSIGNAL) < 0) {
            cg_log(CG_LOG_WARN, "%s: cannot send the 504: %s",
                   r.request_id, strerror(errno));
        }
    }
    cg_req_destroy(&r);
    cg_buf_free(&resp);
    cg_buf_free(&out);
}


/* request_terminate_timeout, enforced by the process itself so that the
 * client gets a clean 504; a fiber in the middle of the pipeline cannot
 * be unwound safely, so the process then leaves (the master replaces it,
 * and kills it itself if this check cannot run). */
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
    for (i = 0; i < p->nready; i++) {
        t = cg_sb_thread(p->sb, p->slot, i);
        if (atomic_load(&t->state) != CG_SB_BUSY
            || now - atomic_load(&t->started_ms) <= limit) {
            continue;
        }
        expected = CG_W_WORKING;
        if (atomic_compare_exchange_strong(&p->ctx[i].phase, &expected,
                                           CG_W_TERMINATED)) {
            cg_worker_answer_504(&p->ctx[i]);
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


/* Signals arrive on a signalfd in the loop, so no read or write of a
 * request is ever cut short by EINTR. */
static void
cg_worker_signal(cg_loop_t *l, int fd, uint32_t events, void *arg)
{
    cg_wproc_t              *p = arg;
    struct signalfd_siginfo  si;

    (void) l; (void) events;
    while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            if (!p->stop && cg_confwatch_poll(1)) {
                cg_worker_stop(p);
            }
        } else if (si.ssi_signo == SIGUSR1) {
            cg_log_reopen();
            cg_usagelog_reopen(&p->usage);
            cg_log(CG_LOG_NOTICE, "logs reopened");
        } else {
            cg_worker_stop(p);
        }
    }
}


/* Every CG_WORKER_TICK_MS: the config, the watchdog, the stop deadline,
 * a paused listening socket. */
static void
cg_worker_tick(cg_wproc_t *p, unsigned ticks)
{
    if (ticks % CG_WORKER_WATCH_TICKS == 0 && !p->stop
        && cg_confwatch_poll(0)) {
        cg_worker_stop(p);
    }
    cg_worker_watchdog(p);
    cg_worker_fresh_expire(p);
    if (p->stop && cg_clock_mono() > p->deadline) {
        /* Under a spawner there is no master to enforce the grace time:
         * do it here. */
        cg_log(CG_LOG_WARN, "shutdown timeout: leaving with requests in "
               "flight");
        _exit(1);
    }
    cg_worker_listen_update(p);
}


static void
cg_worker_serve_loop(cg_wproc_t *p)
{
    double   next = cg_clock_mono();
    unsigned ticks = 0;

    while (!p->stop || p->nconns > 0) {
        cg_loop_run_once(p->loop, CG_WORKER_TICK_MS);
        if (cg_clock_mono() >= next) {
            cg_worker_tick(p, ++ticks);
            next = cg_clock_mono() + CG_WORKER_TICK_MS / 1000.0;
        }
    }
}


static int
cg_worker_signals_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}


static int
cg_worker_setup(cg_wproc_t *p)
{
    char err[256];

    p->sig_fd = cg_worker_signals_fd();
    p->loop = cg_loop_new(CG_WORKER_STACK);
    p->share = cg_upstream_share_new();
    p->ctx = calloc((size_t) p->nctx, sizeof(cg_worker_t));
    if (p->sig_fd < 0 || p->loop == NULL || p->share == NULL
        || p->ctx == NULL) {
        cg_log(CG_LOG_ERROR, "worker start failed: out of memory or fds");
        return -1;
    }
    if (cg_acl_parse(&p->clients, p->conf->server.allowed_clients, err,
                     sizeof(err)) != 0) {
        cg_log(CG_LOG_ERROR, "allowed_clients: %s", err);
        return -1;
    }
    if (cg_usagelog_open(&p->usage, p->conf->log.usage_log, err,
                         sizeof(err)) != 0
        || cg_syslog_open(p->conf, err, sizeof(err)) != 0) {
        cg_log(CG_LOG_ERROR, "worker start failed: %s", err);
        return -1;
    }
    /* Every context is set up before the first request (compiling the
     * guards takes a while, and in the loop it would hold every other
     * request up); a broken config (a store that cannot be opened) stops
     * the worker here. */
    while (p->nready < p->nctx) {
        if (cg_worker_ctx_new(p) == NULL) {
            return -1;
        }
    }
    /* The listening socket is shared by every worker; accept() after a
     * wake must not block when another process won the race. */
    fcntl(p->listen_fd, F_SETFL, fcntl(p->listen_fd, F_GETFL) | O_NONBLOCK);
    cg_worker_listen_update(p);
    if (!p->listening
        || (p->handoff[0] >= 0 && !p->taking)
        || cg_loop_watch(p->loop, p->sig_fd, EPOLLIN, 0, cg_worker_signal,
                         p) != 0) {
        cg_log(CG_LOG_ERROR, "worker start failed: epoll: %s",
               strerror(errno));
        return -1;
    }
    return 0;
}


static void
cg_worker_finish(cg_wproc_t *p)
{
    int i;

    for (i = 0; i < p->nctx && p->ctx != NULL; i++) {
        cg_worker_free(&p->ctx[i]);
        atomic_store(&cg_sb_thread(p->sb, p->slot, i)->state, CG_SB_EMPTY);
    }
    free(p->ctx);
    cg_upstream_share_free(p->share);
    cg_usagelog_close(&p->usage);
    cg_loop_free(p->loop);
    if (p->sig_fd >= 0) {
        close(p->sig_fd);
    }
}


int
cg_worker_run(const cg_conf_t *conf, int listen_fd, const int handoff[2],
              cg_sb_t *sb, int slot, int nthreads)
{
    static cg_wproc_t p;
    int               rc = 0, i;

    (void) mallopt(M_MMAP_THRESHOLD, CG_WORKER_MMAP_THRESHOLD);
    memset(&p, 0, sizeof(p));
    p.conf = conf;
    p.sb = sb;
    p.slot = slot;
    p.listen_fd = listen_fd;
    p.handoff[0] = handoff[0];
    p.handoff[1] = handoff[1];
    p.nctx = nthreads;
    p.usage.fd = -1;
    p.sig_fd = -1;
    if (cg_worker_setup(&p) != 0) {
        rc = CG_WORKER_EXIT_START;
    } else {
        for (i = 0; i < p.nctx; i++) {
            atomic_store(&cg_sb_thread(sb, slot, i)->state, CG_SB_IDLE);
        }
        cg_worker_serve_loop(&p);
    }
    cg_worker_finish(&p);
    return rc;
}
