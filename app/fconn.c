#include "fconn.h"
#include "core/clock.h"
#include "core/iowait.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes read from the socket at a time. */
#define CG_FCONN_READ  16384


static int
cg_fconn_on_begin(void *ctx, unsigned id, int keep_conn)
{
    cg_fconn_t *c = ctx;

    c->id = id;
    c->keep = keep_conn;
    return 0;
}


/* Parameters are appended as "NAME=VALUE\0"; envp holds offsets until
 * the last one is in (the buffer may move while it grows). */
static int
cg_fconn_on_param(void *ctx, const char *name, size_t nlen,
                  const char *value, size_t vlen)
{
    cg_fconn_t *c = ctx;
    char      **p;

    if (c->nenv + 2 > c->capenv) {
        p = realloc(c->envp, (c->capenv ? c->capenv * 2 : 32) * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        c->envp = p;
        c->capenv = c->capenv ? c->capenv * 2 : 32;
    }
    c->envp[c->nenv++] = (char *) (uintptr_t) c->env.len;
    cg_buf_add(&c->env, name, nlen);
    cg_buf_add(&c->env, "=", 1);
    cg_buf_add(&c->env, value, vlen);
    cg_buf_add(&c->env, "", 1);
    return c->env.oom ? -1 : 0;
}


static int
cg_fconn_on_params_end(void *ctx)
{
    cg_fconn_t *c = ctx;
    size_t      i;

    if (c->envp == NULL && cg_fconn_on_param(c, "", 0, "", 0) != 0) {
        return -1;
    }
    for (i = 0; i < c->nenv; i++) {
        c->envp[i] = c->env.data + (uintptr_t) c->envp[i];
    }
    c->envp[c->nenv] = NULL;
    c->params_end = 1;
    return 0;
}


static int
cg_fconn_on_stdin(void *ctx, const char *p, size_t n)
{
    cg_fconn_t *c = ctx;
    size_t      room;

    if (n == 0) {
        c->stdin_end = 1;
        return 1;
    }
    room = c->body->len < c->body_max ? c->body_max - c->body->len : 0;
    cg_buf_add(c->body, p, n < room ? n : room);
    c->body_seen += n;
    if (c->body_seen > c->body_drop_max) {
        /* Not worth reading to its end: answer, then close. */
        c->stdin_end = 1;
        c->keep = 0;
        return 1;
    }
    return 0;
}


static int
cg_fconn_on_abort(void *ctx)
{
    cg_fconn_t *c = ctx;

    c->aborted = 1;
    return 0;
}


void
cg_fconn_init(cg_fconn_t *c, int fd, unsigned max_conns, unsigned max_reqs)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->cb = (cg_fcgi_cb_t) { cg_fconn_on_begin, cg_fconn_on_param,
                             cg_fconn_on_params_end, cg_fconn_on_stdin,
                             cg_fconn_on_abort, c, max_conns, max_reqs };
    cg_fcgi_init(&c->fc, &c->cb);
    cg_buf_init(&c->in);
    cg_buf_init(&c->out);
    cg_buf_init(&c->env);
}


/* Between two requests: the parameters held the cookie. */
static void
cg_fconn_clear(cg_fconn_t *c)
{
    if (c->env.data) {
        cg_buf_wipe_bytes(c->env.data, c->env.len);
    }
    cg_buf_reset(&c->env);
    c->nenv = 0;
    c->id = 0;
    c->params_end = c->stdin_end = c->aborted = 0;
    c->body = NULL;
    c->body_seen = 0;
    c->alive_at = 0;
    cg_fcgi_reset(&c->fc);
}


void
cg_fconn_free(cg_fconn_t *c)
{
    cg_fconn_clear(c);
    cg_fcgi_free(&c->fc);
    if (c->in.data) {
        cg_buf_wipe_bytes(c->in.data, c->in_hw);
    }
    cg_buf_free(&c->in);
    cg_buf_free(&c->out);
    cg_buf_free(&c->env);
    free(c->envp);
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}


/* One wait for events; 1 ready, 0 timed out or woken, -1 error. */
static int
cg_fconn_wait(const cg_fconn_t *c, short events, int ms)
{
    struct pollfd pfd = { c->fd, events, 0 };

    return cg_iowait_poll(&pfd, 1, ms);
}


/* Feeds what was read; 1 when the request is complete, 0 for more, -1
 * on a protocol error. Answers to management records go out at once. */
static int
cg_fconn_feed(cg_fconn_t *c)
{
    size_t used = 0;
    int    rc;

    rc = cg_fcgi_feed(&c->fc, c->in.data + c->in_off, c->in.len - c->in_off,
                      &used, &c->out);
    c->in_off += used;
    if (c->in_off == c->in.len) {
        /* All fed: what was read held the request's cookie and body. */
        cg_buf_wipe_bytes(c->in.data, c->in_hw);
        c->in_off = c->in.len = c->in_hw = 0;
    }
    if (rc < 0 || c->env.oom) {
        c->error = c->fc.error ? c->fc.error : "out of memory";
        return -1;
    }
    if (c->out.len > 0 && c->id == 0 && cg_fconn_flush(c, 1000) != 0) {
        return -1;
    }
    return c->stdin_end ? 1 : 0;
}


cg_fconn_rc_t
cg_fconn_read(cg_fconn_t *c, cg_buf_t *body, size_t body_max,
              size_t drop_max, int idle_ms, int busy_ms)
{
    ssize_t n;
    int     rc;

    cg_fconn_clear(c);
    c->waited = c->awaited;
    c->awaited = 0;
    c->body = body;
    c->body_max = body_max;
    c->body_drop_max = drop_max;
    for (;;) {
        if (c->in.len > c->in_off) {
            if ((rc = cg_fconn_feed(c)) != 0) {
                if (rc > 0 && c->in.len == 0) {
                    /* Nothing of a next request yet: a long stream or an
                     * idle kept connection holds no read buffer. */
                    cg_buf_free(&c->in);
                }
                return rc > 0 ? CG_FCONN_OK : CG_FCONN_ERROR;
            }
            continue;
        }
        if (c->served > 0 && c->id == 0 && !c->waited) {
            /* A kept connection between requests has nothing yet (the
             * web server sends the next one after our answer): wait
             * first, rather than a read that fails with EAGAIN. */
            c->waited = 1;
            if ((rc = cg_fconn_wait(c, POLLIN, idle_ms)) <= 0) {
                return rc == 0 ? CG_FCONN_WOKEN : CG_FCONN_ERROR;
            }
        }
        if (cg_buf_reserve(&c->in, CG_FCONN_READ - 1) != 0) {
            return CG_FCONN_ERROR;
        }
        n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
        if (n > 0) {
            c->in.len += (size_t) n;
            c->in_hw = c->in.len > c->in_hw ? c->in.len : c->in_hw;
            continue;
        }
        if (n == 0) {
            return c->id == 0 && c->fc.state == CG_FCGI_S_HEADER
                   && c->fc.hdr_len == 0 ? CG_FCONN_CLOSED : CG_FCONN_ERROR;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            return CG_FCONN_ERROR;
        }
        rc = cg_fconn_wait(c, POLLIN, c->id == 0 ? idle_ms : busy_ms);
        if (rc <= 0) {
            return rc == 0 && c->id == 0 ? CG_FCONN_WOKEN : CG_FCONN_ERROR;
        }
    }
}


int
cg_fconn_await(cg_fconn_t *c, int idle_ms)
{
    int rc;

    if (c->in.len > c->in_off) {
        return 1;
    }
    rc = cg_fconn_wait(c, POLLIN, idle_ms);
    c->awaited = rc > 0;
    return rc;
}


const char *
cg_fconn_getenv(char *const *envp, const char *name)
{
    size_t n = strlen(name);

    for (; envp && *envp; envp++) {
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=') {
            return *envp + n + 1;
        }
    }
    return NULL;
}


const char *
cg_fconn_param(const cg_fconn_t *c, const char *name)
{
    return c->params_end ? cg_fconn_getenv(c->envp, name) : NULL;
}


int
cg_fconn_write(cg_fconn_t *c, const char *p, size_t n)
{
    if (c->write_failed) {
        return -1;
    }
    cg_fcgi_stdout(&c->out, c->id, p, n);
    if (c->out.oom) {
        c->write_failed = 1;
        return -1;
    }
    return c->out.len >= CG_FCONN_OUT_HIGH ? cg_fconn_flush(c, 30000) : 0;
}


int
cg_fconn_flush(cg_fconn_t *c, int ms)
{
    size_t  off = 0;
    ssize_t n;

    while (off < c->out.len && !c->write_failed) {
        n = send(c->fd, c->out.data + off, c->out.len - off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t) n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (cg_fconn_wait(c, POLLOUT, ms) <= 0) {
                c->write_failed = 1;
            }
        } else {
            c->write_failed = 1;
        }
    }
    /* The records held the answer. */
    cg_buf_wipe_bytes(c->out.data, c->out.len);
    cg_buf_reset(&c->out);
    return c->write_failed ? -1 : 0;
}


int
cg_fconn_end(cg_fconn_t *c, int ms)
{
    int rc;

    if (c->id == 0) {
        return -1;
    }
    if (!c->write_failed) {
        cg_fcgi_end(&c->fc, &c->out, 0);
    }
    rc = cg_fconn_flush(c, ms);
    cg_fconn_clear(c);
    c->served++;
    return rc;
}


int
cg_fconn_alive(cg_fconn_t *c)
{
    struct pollfd pfd = { c->fd, POLLRDHUP, 0 };
    double        now;

    if (c->write_failed) {
        return 0;
    }
    now = cg_clock_mono();
    if (c->alive_at > 0 && (now - c->alive_at) * 1000.0 < CG_FCONN_ALIVE_MS) {
        return c->alive;
    }
    c->alive_at = now;
    c->alive = poll(&pfd, 1, 0) <= 0
               || !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
    return c->alive;
}
