#include "worker.h"
#include "alertsend.h"
#include "log.h"

#include "chat.h"
#include "clock.h"
#include "http.h"
#include "req.h"
#include "usagelog.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

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
} cg_worker_t;

static volatile sig_atomic_t cg_worker_stop;
static volatile sig_atomic_t cg_worker_reopen;
static int                   cg_worker_listen_fd = -1;
static int                   cg_worker_dead_fd = -1;


/* Replacing the listening socket with a socket that does not listen makes
 * a blocked or about-to-run accept() fail at once, so an idle worker stops
 * without a race between checking the flag and calling accept(). */
static void
cg_worker_on_stop(int sig)
{
    int saved = errno;

    (void) sig;
    cg_worker_stop = 1;
    if (cg_worker_dead_fd >= 0) {
        (void) dup2(cg_worker_dead_fd, cg_worker_listen_fd);
    }
    errno = saved;
}


static void
cg_worker_on_reopen(int sig)
{
    (void) sig;
    cg_worker_reopen = 1;
}


static void
cg_worker_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a stop must interrupt an idle accept(). */
    sa.sa_handler = cg_worker_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = cg_worker_on_reopen;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}


static void
cg_worker_block(int how)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigprocmask(how, &set, NULL);
}


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
    long   want = w->conf->max_body + 1, got;
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
    if (got > w->conf->max_body) {
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
}


static void
cg_worker_log_usage(cg_worker_t *w, cg_req_t *r)
{
    if (cg_worker_reopen) {
        cg_worker_reopen = 0;
        cg_usagelog_reopen(&w->usage);
        cg_log_reopen();
    }
    cg_usage_format(r, &w->uctx, cg_clock_mono(), cg_clock_wall(), &w->line);
    if (cg_usagelog_write(&w->usage, &w->line) != 0) {
        cg_log(CG_LOG_ERROR, "cannot write usage line for %s: %s",
               r->request_id, strerror(errno));
    }
    cg_syslog_line(w->conf, &w->line);
}


/* lib/alert.c raised an alert: the usage log, syslog, webhook, command. */
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


static void
cg_worker_serve(cg_worker_t *w, FCGX_Request *fr)
{
    cg_req_t *r = &w->req;

    cg_req_init(r, cg_clock_mono());
    cg_worker_request_id(w, r->request_id, sizeof(r->request_id));
    cg_worker_params(r, fr);
    if (cg_http_admit(w->conf, r) == 0
        && cg_worker_read_body(w, fr, r) == 0) {
        cg_chat_handle(&w->chat, r);
    }
    if (r->err != CG_OK && r->body == NULL) {
        /* The body was not read: this connection cannot carry another
         * request, so do not keep it. */
        fr->keepConnection = 0;
    }
    cg_buf_reset(&w->out);
    cg_http_response(r, &w->out);
    if (w->out.oom || FCGX_PutStr(w->out.data, (int) w->out.len, fr->out) < 0
        || FCGX_FFlush(fr->out) < 0) {
        cg_log(CG_LOG_WARN, "%s: client went away before the answer was "
               "written", r->request_id);
    }
    cg_worker_log_usage(w, r);
    cg_req_clear(r);
}


static int
cg_worker_init(cg_worker_t *w, const cg_conf_t *conf)
{
    char err[512];

    memset(w, 0, sizeof(*w));
    w->conf = conf;
    w->usage.fd = -1;
    w->uctx.route = "default";
    w->uctx.model = conf->model;
    w->uctx.key_id = conf->api_key.fp;
    if (getrandom(&w->id_seed, sizeof(w->id_seed), 0) != sizeof(w->id_seed)) {
        w->id_seed = (uint64_t) getpid() << 32 ^ (uint64_t) time(NULL);
    }
    if (cg_usagelog_open(&w->usage, conf->usage_log, err, sizeof(err)) != 0
        || cg_syslog_open(conf, err, sizeof(err)) != 0
        || cg_chat_init(&w->chat, conf, err, sizeof(err)) != 0) {
        cg_log(CG_LOG_ERROR, "worker start failed: %s", err);
        return -1;
    }
    cg_alert_set_sink(&w->chat.meter.alert, cg_worker_alert, w);
    w->chat.meter.note = cg_worker_note;
    if (cg_store_notice(w->chat.store)) {
        cg_log(CG_LOG_WARN, "%s", cg_store_notice(w->chat.store));
    }
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


int
cg_worker_run(const cg_conf_t *conf, int listen_fd)
{
    cg_worker_t   w;
    FCGX_Request  fr;
    int           rc = 0;

    cg_worker_listen_fd = listen_fd;
    cg_worker_dead_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* Our handlers go in before FCGX_Init so libfcgi does not install its
     * own (which break EINTR handling and hijack SIGTERM and SIGUSR1). */
    cg_worker_signals();
    if (FCGX_Init() != 0 || cg_worker_init(&w, conf) != 0) {
        return 1;
    }
    FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
    while (!cg_worker_stop) {
        if (FCGX_Accept_r(&fr) < 0) {
            if (cg_worker_stop || errno == EINTR) {
                continue;
            }
            cg_log(CG_LOG_ERROR, "accept failed: %s", strerror(errno));
            rc = 1;
            break;
        }
        cg_worker_block(SIG_BLOCK);
        cg_worker_serve(&w, &fr);
        FCGX_Finish_r(&fr);
        cg_worker_block(SIG_UNBLOCK);
    }
    FCGX_Free(&fr, 1);
    cg_worker_free(&w);
    return rc;
}
