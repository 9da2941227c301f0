#include "provider/upstream.h"
#include "core/clock.h"
#include "core/fault.h"
#include "core/iowait.h"
#include "core/num.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* A provider asking to wait longer than a day is not retried at all (no
 * route waits that long), whatever number it wrote. */
#define CG_UPSTREAM_RETRY_MAX_S  86400L

/* Sockets one transfer may have open at once (happy eyeballs tries two
 * addresses; HTTP/2 keeps one). */
#define CG_UPSTREAM_SOCKS  8
/* Longest wait between two looks at a transfer: the on_tick callback
 * (the client's liveness) runs at least this often. */
#define CG_UPSTREAM_TICK_MS  250
#define CG_UPSTREAM_RECV_BUF  4096L  /* curl's receive buffer, bytes */

typedef struct {
    curl_socket_t fd;
    short         events;
} cg_up_sock_t;

/* The upstream drives its one easy handle with its own multi handle
 * through the multi socket interface, and waits through lib/core/iowait:
 * under the worker's event loop a call parks its request instead of its
 * thread. Connections (and DNS answers, TLS sessions) live in the share,
 * so every upstream of one thread reuses the same kept connections. */
struct cg_upstream_s {
    CURL         *h;
    CURLM        *m;            /* the call's, while one runs */
    CURLM        *own;          /* without a share: kept for every call */
    cg_upshare_t *share;
    cg_up_sock_t  socks[CG_UPSTREAM_SOCKS];
    int           nsocks;
    long          timer_ms;     /* curl's next timeout, -1: none */
};

/* Multi handles kept for reuse: each holds a socket pair of its own
 * (curl's wakeup), so a worker keeps one per call in flight, not one per
 * request context. */
#define CG_UPSHARE_SPARE  64

struct cg_upshare_s {
    CURLSH       *sh;
    CURLM        *spare[CG_UPSHARE_SPARE];
    size_t        nspare;
};

static int cg_upstream_sock(CURL *e, curl_socket_t fd, int what, void *user,
                            void *sp);
static int cg_upstream_timer(CURLM *m, long timeout_ms, void *user);

typedef enum {
    CG_XFER_RUN = 0,
    CG_XFER_FIRST_BYTE,
    CG_XFER_IDLE,
    CG_XFER_ABORT,
    CG_XFER_TOO_BIG,
    CG_XFER_FAULT,
} cg_xfer_stop_t;

#define CG_UPSTREAM_SSE_TYPE  "text/event-stream"

/* One call in flight. */
typedef struct {
    const cg_up_call_t *call;
    CURL               *h;
    cg_buf_t           *resp;
    cg_up_result_t     *res;
    double              t0;
    double              last;
    int                 got;        /* any byte of the response yet */
    int                 pass;       /* 2xx body goes to on_body */
    int                 checked;
    cg_xfer_stop_t      stop;
} cg_xfer_t;


int
cg_upstream_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}


/* Only an event stream goes to on_body: a provider asked for a stream
 * that answers with a whole JSON document anyway is read as one. */
static int
cg_upstream_is_sse(CURL *h)
{
    char *ct = NULL;

    return curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK
           && ct != NULL
           && strncasecmp(ct, CG_UPSTREAM_SSE_TYPE,
                          sizeof(CG_UPSTREAM_SSE_TYPE) - 1) == 0;
}


static size_t
cg_upstream_write(char *p, size_t size, size_t n, void *user)
{
    cg_xfer_t *x = user;

    n *= size;
    if (cg_fault_hit(CG_FAULT_UPSTREAM)) {
        x->stop = CG_XFER_FAULT;    /* as a connection reset would */
        return 0;
    }
    x->got = 1;
    x->last = cg_clock_mono();
    if (!x->checked) {
        x->checked = 1;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->res->status);
        x->pass = x->call->on_body && x->res->status >= 200
                  && x->res->status <= 299 && cg_upstream_is_sse(x->h);
    }
    if (x->pass) {
        if (x->call->on_body(x->call->ctx, p, n) != 0) {
            x->stop = CG_XFER_ABORT;
            return 0;
        }
        return n;
    }
    if (x->resp->len + n > CG_UPSTREAM_MAX_BODY) {
        x->stop = CG_XFER_TOO_BIG;
        return 0;       /* makes curl fail with CURLE_WRITE_ERROR */
    }
    cg_buf_add(x->resp, p, n);
    return x->resp->oom ? 0 : n;
}


/* Only retry-after (seconds) and retry-after-ms are read, clamped: a
 * provider's 99999999999999999999 is "longer than any route waits", not an
 * overflow; an HTTP-date or other text counts as none given. */
static size_t
cg_upstream_header(char *p, size_t size, size_t n, void *user)
{
    cg_xfer_t *x = user;
    size_t     len = size * n;
    long       v;

    x->got = 1;
    x->last = cg_clock_mono();
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        v = cg_num_parse(p + 12, len - 12, CG_UPSTREAM_RETRY_MAX_S);
        if (x->res->retry_after_ms < 0) {
            x->res->retry_after_ms = v < 0 ? -1 : v * 1000;
        }
    } else if (len > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0) {
        v = cg_num_parse(p + 15, len - 15, CG_UPSTREAM_RETRY_MAX_S * 1000);
        if (v >= 0) {
            x->res->retry_after_ms = v;                 /* more precise */
        }
    }
    return len;
}


static int
cg_upstream_tick(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                 curl_off_t un)
{
    cg_xfer_t *x = user;
    double     now = cg_clock_mono();

    (void) dt; (void) dn; (void) ut; (void) un;
    if (x->call->on_tick && x->call->on_tick(x->call->ctx) != 0) {
        x->stop = CG_XFER_ABORT;
    } else if (!x->got && x->call->first_byte_ms > 0
               && (now - x->t0) * 1000.0 > (double) x->call->first_byte_ms) {
        x->stop = CG_XFER_FIRST_BYTE;
    } else if (x->got && x->call->idle_ms > 0
               && (now - x->last) * 1000.0 > (double) x->call->idle_ms) {
        x->stop = CG_XFER_IDLE;
    }
    return x->stop != CG_XFER_RUN;
}


cg_upstream_t *
cg_upstream_new(const cg_conf_t *conf)
{
    cg_upstream_t *up;

    up = calloc(1, sizeof(*up));
    if (up == NULL) {
        return NULL;
    }
    up->h = curl_easy_init();
    if (up->h == NULL) {
        cg_upstream_free(up);
        return NULL;
    }
    curl_easy_setopt(up->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(up->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(up->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(up->h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(up->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(up->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(up->h, CURLOPT_WRITEFUNCTION, cg_upstream_write);
    curl_easy_setopt(up->h, CURLOPT_HEADERFUNCTION, cg_upstream_header);
    curl_easy_setopt(up->h, CURLOPT_XFERINFOFUNCTION, cg_upstream_tick);
    curl_easy_setopt(up->h, CURLOPT_NOPROGRESS, 0L);
    /* curl's receive buffer lives with the handle, so with every request
     * context (16 kB by default, 10,000 of them for 10,000 streams): an
     * SSE event or a usual answer fits in 4 kB, and a large answer only
     * takes more reads (TLS records are buffered by OpenSSL anyway). */
    curl_easy_setopt(up->h, CURLOPT_BUFFERSIZE, CG_UPSTREAM_RECV_BUF);
    if (conf->provider.ca_file && conf->provider.ca_file[0]) {
        curl_easy_setopt(up->h, CURLOPT_CAINFO, conf->provider.ca_file);
    }
    return up;
}


void
cg_upstream_free(cg_upstream_t *up)
{
    if (up == NULL) {
        return;
    }
    if (up->h) {
        curl_easy_cleanup(up->h);
    }
    if (up->own) {
        curl_multi_cleanup(up->own);
    }
    free(up);
}


cg_upshare_t *
cg_upstream_share_new(void)
{
    cg_upshare_t *s = calloc(1, sizeof(*s));

    if (s == NULL || (s->sh = curl_share_init()) == NULL) {
        free(s);
        return NULL;
    }
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return s;
}


void
cg_upstream_share_free(cg_upshare_t *s)
{
    if (s != NULL) {
        while (s->nspare > 0) {
            curl_multi_cleanup(s->spare[--s->nspare]);
        }
        curl_share_cleanup(s->sh);
        free(s);
    }
}


void
cg_upstream_set_share(cg_upstream_t *up, cg_upshare_t *s)
{
    curl_easy_setopt(up->h, CURLOPT_SHARE, s ? s->sh : NULL);
    up->share = s;
}


static CURLM *
cg_upstream_multi_new(void)
{
    CURLM *m = curl_multi_init();

    if (m != NULL) {
        curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cg_upstream_sock);
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, cg_upstream_timer);
        /* HTTP/2 where the provider offers it (curl's default over TLS),
         * one stream per connection: each call has a multi handle of its
         * own, and a kept connection in the share must not carry the
         * streams of two. */
        curl_multi_setopt(m, CURLMOPT_PIPELINING, (long) CURLPIPE_NOTHING);
    }
    return m;
}


/* The multi handle for one call: a spare of the share's, or a new one; or
 * the upstream's own when it has no share. */
static CURLM *
cg_upstream_multi_get(cg_upstream_t *up)
{
    CURLM *m;

    if (up->share == NULL) {
        if (up->own == NULL) {
            up->own = cg_upstream_multi_new();
        }
        m = up->own;
    } else if (up->share->nspare > 0) {
        m = up->share->spare[--up->share->nspare];
    } else {
        m = cg_upstream_multi_new();
    }
    if (m != NULL) {
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, up);
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, up);
    }
    return m;
}


static void
cg_upstream_multi_put(cg_upstream_t *up, CURLM *m)
{
    if (up->share == NULL || m == NULL) {
        return;
    }
    if (up->share->nspare < CG_UPSHARE_SPARE) {
        up->share->spare[up->share->nspare++] = m;
    } else {
        curl_multi_cleanup(m);
    }
}


/* CURLMOPT_SOCKETFUNCTION: which sockets the transfer waits on, how. */
static int
cg_upstream_sock(CURL *e, curl_socket_t fd, int what, void *user, void *sp)
{
    cg_upstream_t *up = user;
    int            i;

    (void) e; (void) sp;
    for (i = 0; i < up->nsocks && up->socks[i].fd != fd; i++) {
        /* find it */
    }
    if (what == CURL_POLL_REMOVE) {
        if (i < up->nsocks) {
            up->socks[i] = up->socks[--up->nsocks];
        }
        return 0;
    }
    if (i == up->nsocks) {
        if (up->nsocks == CG_UPSTREAM_SOCKS) {
            return -1;
        }
        up->nsocks++;
    }
    up->socks[i].fd = fd;
    up->socks[i].events = (short) ((what & CURL_POLL_IN ? POLLIN : 0)
                                   | (what & CURL_POLL_OUT ? POLLOUT : 0));
    return 0;
}


static int
cg_upstream_timer(CURLM *m, long timeout_ms, void *user)
{
    cg_upstream_t *up = user;

    (void) m;
    up->timer_ms = timeout_ms;
    return 0;
}


/* One wait for the transfer's sockets, then curl acts on what is ready
 * (or on its timeout); 0 when the wait timed out. */
static int
cg_upstream_step(cg_upstream_t *up, int *running)
{
    struct pollfd pfd[CG_UPSTREAM_SOCKS];
    int           i, n = up->nsocks, wait, mask, fired;

    for (i = 0; i < n; i++) {
        pfd[i] = (struct pollfd) { up->socks[i].fd, up->socks[i].events, 0 };
    }
    wait = up->timer_ms < 0 || up->timer_ms > CG_UPSTREAM_TICK_MS
           ? CG_UPSTREAM_TICK_MS : (int) up->timer_ms;
    fired = wait == 0 && up->timer_ms == 0 ? 0 : cg_iowait_poll(pfd, (nfds_t) n,
                                                            wait);
    if (fired <= 0) {
        up->timer_ms = -1;
        curl_multi_socket_action(up->m, CURL_SOCKET_TIMEOUT, 0, running);
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (pfd[i].revents == 0) {
            continue;
        }
        mask = (pfd[i].revents & (POLLIN | POLLHUP) ? CURL_CSELECT_IN : 0)
               | (pfd[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0)
               | (pfd[i].revents & (POLLERR | POLLNVAL) ? CURL_CSELECT_ERR
                                                         : 0);
        curl_multi_socket_action(up->m, pfd[i].fd, mask, running);
    }
    return 1;
}


/* curl_easy_perform, but through the multi socket interface. curl runs
 * the progress callback only when it acts on the transfer, so between
 * two waits the checks it makes (first byte, idle, the client) are made
 * here too: a silent provider is cut on time. */
static CURLcode
cg_upstream_perform(cg_upstream_t *up, cg_xfer_t *x)
{
    CURLcode  rc = CURLE_FAILED_INIT;
    CURLMsg  *msg;
    int       running = 1, left;

    up->nsocks = 0;
    up->timer_ms = -1;
    if ((up->m = cg_upstream_multi_get(up)) == NULL) {
        return CURLE_OUT_OF_MEMORY;
    }
    if (curl_multi_add_handle(up->m, up->h) != CURLM_OK) {
        cg_upstream_multi_put(up, up->m);
        up->m = NULL;
        return rc;
    }
    while (running) {
        if (cg_upstream_step(up, &running) == 0 && running
            && cg_upstream_tick(x, 0, 0, 0, 0) != 0) {
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
    }
    while (!running && (msg = curl_multi_info_read(up->m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == up->h) {
            rc = msg->data.result;
        }
    }
    curl_multi_remove_handle(up->m, up->h);
    cg_upstream_multi_put(up, up->m);
    up->m = NULL;
    return rc;
}


static void
cg_upstream_wipe(struct curl_slist *l)
{
    struct curl_slist *i;

    for (i = l; i; i = i->next) {
        explicit_bzero(i->data, strlen(i->data));
    }
    curl_slist_free_all(l);
}


/* The call's header lines, plus no "Expect: 100-continue" round trip for
 * larger prompts. */
static struct curl_slist *
cg_upstream_headers(const char *lines)
{
    struct curl_slist *l = NULL, *t;
    char               line[8192];
    const char        *e;
    size_t             n;

    for (; *lines; lines = *e ? e + 1 : e) {
        e = strchr(lines, '\n');
        e = e ? e : lines + strlen(lines);
        n = (size_t) (e - lines);
        if (n == 0 || n >= sizeof(line)) {
            continue;
        }
        memcpy(line, lines, n);
        line[n] = '\0';
        t = curl_slist_append(l, line);
        explicit_bzero(line, n);
        if (t == NULL) {
            cg_upstream_wipe(l);
            return NULL;
        }
        l = t;
    }
    t = curl_slist_append(l, "Expect:");
    t = t ? curl_slist_append(t, "content-type: application/json") : NULL;
    if (t == NULL) {
        cg_upstream_wipe(l);
    }
    return t;
}


static cg_up_rc_t
cg_upstream_rc(CURLcode rc, const cg_xfer_t *x)
{
    if (rc == CURLE_OK) {
        return CG_UP_OK;
    }
    switch (x->stop) {
    case CG_XFER_FIRST_BYTE: return CG_UP_TIMEOUT;
    case CG_XFER_IDLE:       return CG_UP_IDLE;
    case CG_XFER_ABORT:      return CG_UP_ABORTED;
    default:
        return rc == CURLE_OPERATION_TIMEDOUT ? CG_UP_TIMEOUT : CG_UP_FAILED;
    }
}


cg_up_rc_t
cg_upstream_call(cg_upstream_t *up, const cg_up_call_t *call, cg_buf_t *resp,
                 cg_up_result_t *res)
{
    static const char *const stop_why[] = { "", "no first byte in time",
        "provider stream idle", "aborted", "answer too large",
        "injected fault" };
    struct curl_slist *hl;
    cg_xfer_t          x;
    CURLcode           rc;

    cg_buf_reset(resp);
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    memset(&x, 0, sizeof(x));
    x.call = call;
    x.h = up->h;
    x.resp = resp;
    x.res = res;
    x.t0 = x.last = cg_clock_mono();
    hl = cg_upstream_headers(call->headers);
    if (hl == NULL) {
        snprintf(res->why, sizeof(res->why), "out of memory");
        return CG_UP_FAILED;
    }
    curl_easy_setopt(up->h, CURLOPT_URL, call->url);
    curl_easy_setopt(up->h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(up->h, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(up->h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) call->len);
    curl_easy_setopt(up->h, CURLOPT_CONNECTTIMEOUT_MS, call->connect_ms);
    curl_easy_setopt(up->h, CURLOPT_TIMEOUT_MS, call->total_ms);
    curl_easy_setopt(up->h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(up->h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(up->h, CURLOPT_XFERINFODATA, &x);
    rc = cg_upstream_perform(up, &x);
    if (!x.checked) {
        curl_easy_getinfo(up->h, CURLINFO_RESPONSE_CODE, &res->status);
    }
    curl_easy_setopt(up->h, CURLOPT_HTTPHEADER, NULL);
    cg_upstream_wipe(hl);
    if (rc != CURLE_OK) {
        snprintf(res->why, sizeof(res->why), "%s",
                 x.stop ? stop_why[x.stop] : curl_easy_strerror(rc));
    }
    return cg_upstream_rc(rc, &x);
}
