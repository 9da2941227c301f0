#include "store/mcpipe.h"
#include "core/iowait.h"
#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* memcached binary protocol (protocol_binary.h), the part we use. */
#define CG_MC_REQ       0x80
#define CG_MC_RES       0x81
#define CG_MC_GET       0x00
#define CG_MC_ADD       0x02
#define CG_MC_INCR      0x05
#define CG_MC_DECR      0x06
#define CG_MC_HDR       24
#define CG_MC_NOTFOUND  0x0001
#define CG_MC_EXISTS    0x0002
#define CG_MC_NOTSTORED 0x0005
/* The longest value we send (a decimal uint64) and read back. */
#define CG_MC_VALUE_MAX 24
/* Room for a full batch: header, extras (20 for incr), the longest key
 * and value per op. */
#define CG_MCPIPE_OP_MAX (CG_MC_HDR + 20 + CG_STORE_KEY_MAX + CG_MC_VALUE_MAX)
#define CG_MCPIPE_BUF   (CG_STORE_BATCH_MAX * CG_MCPIPE_OP_MAX)
/* The longest reply body a counter op can have: get's flags and value. */
#define CG_MC_BODY_MAX  (4 + CG_MC_VALUE_MAX)


void
cg_mcpipe_init(cg_mcpipe_t *p, const char *host, unsigned port,
               int timeout_ms)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = port;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
}


void
cg_mcpipe_close(cg_mcpipe_t *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}


static int
cg_mcpipe_fail(cg_mcpipe_t *p, cg_mcpipe_err_t err)
{
    p->err = err;
    cg_mcpipe_close(p);
    return -1;
}


const char *
cg_mcpipe_strerror(const cg_mcpipe_t *p, char *buf, size_t len)
{
    char        what[96];
    const char *sep = p->host[0] == '/' ? "" : ":";
    char        port[16] = "";

    if (p->host[0] != '/') {
        snprintf(port, sizeof(port), "%u", p->port);
    }
    switch (p->err) {
    case CG_MCPIPE_OK:
        snprintf(what, sizeof(what), "no error");
        break;
    case CG_MCPIPE_CONNECT:
        snprintf(what, sizeof(what), "cannot connect: %s",
                 p->sys_errno ? strerror(p->sys_errno) : "no address");
        break;
    case CG_MCPIPE_TIMEOUT:
        snprintf(what, sizeof(what), "no answer within %d ms",
                 p->timeout_ms);
        break;
    case CG_MCPIPE_IO:
        snprintf(what, sizeof(what), "connection failed: %s",
                 strerror(p->sys_errno));
        break;
    case CG_MCPIPE_EOF:
        snprintf(what, sizeof(what), "connection closed by the server");
        break;
    case CG_MCPIPE_PROTOCOL:
        snprintf(what, sizeof(what), "a reply that does not match the "
                 "request");
        break;
    case CG_MCPIPE_SERVER:
        snprintf(what, sizeof(what), "server error status 0x%04x",
                 p->status);
        break;
    }
    if (p->err == CG_MCPIPE_CONNECT || p->err == CG_MCPIPE_OK) {
        snprintf(buf, len, "memcached %s%s%s: %s", p->host, sep, port, what);
    } else {
        snprintf(buf, len, "memcached %s%s%s: %s after %zu of %zu answers",
                 p->host, sep, port, what, p->answered, p->sent);
    }
    return buf;
}


/* Waits for events on the socket; 0 ready, -1 timeout or error. */
static int
cg_mcpipe_wait(cg_mcpipe_t *p, short events)
{
    struct pollfd pfd = { p->fd, events, 0 };
    int           rc;

    rc = cg_iowait_poll(&pfd, 1, p->timeout_ms);
    if (rc == 0) {
        p->err = CG_MCPIPE_TIMEOUT;
        return -1;
    }
    if (rc < 0) {
        p->err = CG_MCPIPE_IO;
        p->sys_errno = errno;
        return -1;
    }
    return 0;
}


/* A non-blocking connect bounded by the timeout. */
static int
cg_mcpipe_connect_addr(cg_mcpipe_t *p, int family, const struct sockaddr *sa,
                       socklen_t salen)
{
    int       one = 1, soerr = 0;
    socklen_t len = sizeof(soerr);

    p->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        p->sys_errno = errno;
        return -1;
    }
    if (family != AF_UNIX) {
        (void) setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(p->fd, sa, salen) == 0) {
        return 0;
    }
    p->sys_errno = errno;
    if (errno != EINPROGRESS || cg_mcpipe_wait(p, POLLOUT) != 0
        || getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0
        || soerr != 0) {
        p->sys_errno = soerr ? soerr
                       : p->err == CG_MCPIPE_TIMEOUT ? ETIMEDOUT
                       : p->sys_errno;
        cg_mcpipe_close(p);
        return -1;
    }
    p->sys_errno = 0;
    return 0;
}


static int
cg_mcpipe_connect(cg_mcpipe_t *p)
{
    struct addrinfo     hints, *res, *ai;
    struct sockaddr_un  un;
    char                port[16];

    if (p->host[0] == '/') {
        if (strlen(p->host) >= sizeof(un.sun_path)) {
            return -1;
        }
        memset(&un, 0, sizeof(un));
        un.sun_family = AF_UNIX;
        memcpy(un.sun_path, p->host, strlen(p->host));
        return cg_mcpipe_connect_addr(p, AF_UNIX, (struct sockaddr *) &un,
                                      sizeof(un));
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", p->port);
    if (getaddrinfo(p->host, port, &hints, &res) != 0) {
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (cg_mcpipe_connect_addr(p, ai->ai_family, ai->ai_addr,
                                   ai->ai_addrlen) == 0) {
            break;
        }
    }
    freeaddrinfo(res);
    return p->fd >= 0 ? 0 : -1;
}


static void
cg_mcpipe_be(unsigned char *at, uint64_t v, int bytes)
{
    while (bytes-- > 0) {
        at[bytes] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}


static uint64_t
cg_mcpipe_get_be(const unsigned char *at, int bytes)
{
    uint64_t v = 0;

    while (bytes-- > 0) {
        v = v << 8 | *at++;
    }
    return v;
}


static unsigned char
cg_mcpipe_opcode(cg_store_opcode_t op)
{
    return op == CG_STORE_GET ? CG_MC_GET : op == CG_STORE_ADD ? CG_MC_ADD
           : op == CG_STORE_INCR ? CG_MC_INCR : CG_MC_DECR;
}


/* memcached reads an expiry over 30 days as an absolute Unix time. */
#define CG_MCPIPE_RELATIVE_MAX  (30 * CG_DAY_S)


static uint32_t
cg_mcpipe_expiry(unsigned ttl)
{
    return ttl > CG_MCPIPE_RELATIVE_MAX ? (uint32_t) (cg_clock_now() + ttl)
                                        : ttl;
}


/* An add: flags 0, the expiry, the value as decimal text (so that a
 * later incr works on the same key). */
static size_t
cg_mcpipe_encode_add(unsigned char *b, const cg_store_op_t *op,
                     uint32_t index)
{
    char  text[CG_MC_VALUE_MAX];
    int   vlen = snprintf(text, sizeof(text), "%llu",
                          (unsigned long long) op->delta);

    memset(b, 0, CG_MC_HDR + 8);
    b[0] = CG_MC_REQ;
    b[1] = CG_MC_ADD;
    cg_mcpipe_be(b + 2, op->keylen, 2);
    b[4] = 8;
    cg_mcpipe_be(b + 8, 8 + op->keylen + (size_t) vlen, 4);
    cg_mcpipe_be(b + 12, index, 4);
    cg_mcpipe_be(b + CG_MC_HDR + 4, cg_mcpipe_expiry(op->ttl), 4);
    memcpy(b + CG_MC_HDR + 8, op->key, op->keylen);
    memcpy(b + CG_MC_HDR + 8 + op->keylen, text, (size_t) vlen);
    return CG_MC_HDR + 8 + op->keylen + (size_t) vlen;
}


/* One request; the opaque field carries the op's index. */
static size_t
cg_mcpipe_encode(unsigned char *b, const cg_store_op_t *op, uint32_t index)
{
    size_t   ext = op->op == CG_STORE_GET ? 0 : 20;
    uint32_t exp;

    if (op->op == CG_STORE_ADD) {
        return cg_mcpipe_encode_add(b, op, index);
    }
    memset(b, 0, CG_MC_HDR + ext);
    b[0] = CG_MC_REQ;
    b[1] = cg_mcpipe_opcode(op->op);
    cg_mcpipe_be(b + 2, op->keylen, 2);
    b[4] = (unsigned char) ext;
    cg_mcpipe_be(b + 8, ext + op->keylen, 4);
    cg_mcpipe_be(b + 12, index, 4);
    if (ext) {
        /* delta, initial value (the delta: a new key starts at it), and
         * the expiry; 0xffffffff makes decr of a missing key NOT_FOUND
         * instead of creating it. An expiry over 30 days is absolute. */
        exp = op->op == CG_STORE_DECR ? 0xffffffffu
                                      : cg_mcpipe_expiry(op->ttl);
        cg_mcpipe_be(b + CG_MC_HDR, op->delta, 8);
        cg_mcpipe_be(b + CG_MC_HDR + 8, op->op == CG_STORE_INCR ? op->delta
                                                                : 0, 8);
        cg_mcpipe_be(b + CG_MC_HDR + 16, exp, 4);
    }
    memcpy(b + CG_MC_HDR + ext, op->key, op->keylen);
    return CG_MC_HDR + ext + op->keylen;
}


static int
cg_mcpipe_send(cg_mcpipe_t *p, const unsigned char *b, size_t len)
{
    ssize_t w;

    while (len > 0) {
        w = send(p->fd, b, len, MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            len -= (size_t) w;
        } else if (w < 0 && errno == EAGAIN) {
            if (cg_mcpipe_wait(p, POLLOUT) != 0) {
                return -1;
            }
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            p->err = CG_MCPIPE_IO;
            p->sys_errno = w < 0 ? errno : EPIPE;
            return -1;
        }
    }
    return 0;
}


/* The answer in b (a header whose magic, opcode and opaque matched, and
 * body bytes) into op: 0 an answer, -1 with p->err a reply this op cannot
 * have (PROTOCOL) or an error status (SERVER). */
static int
cg_mcpipe_decode(cg_mcpipe_t *p, const unsigned char *b, size_t body,
                 cg_store_op_t *op)
{
    unsigned  status = (unsigned) cg_mcpipe_get_be(b + 6, 2);
    size_t    ext = b[4], klen = (size_t) cg_mcpipe_get_be(b + 2, 2);
    char      text[CG_MC_VALUE_MAX];

    op->value = 0;
    if (ext + klen > body) {
        p->err = CG_MCPIPE_PROTOCOL;
        return -1;
    }
    if (op->op == CG_STORE_ADD
        && (status == CG_MC_EXISTS || status == CG_MC_NOTSTORED)) {
        op->value = 1;
        return 0;
    }
    if (status == CG_MC_NOTFOUND
        && (op->op == CG_STORE_GET || op->op == CG_STORE_DECR)) {
        return 0;
    }
    if (status != 0) {
        p->err = CG_MCPIPE_SERVER;
        p->status = status;
        return -1;
    }
    if (op->op == CG_STORE_ADD) {
        return 0;
    }
    if (op->op != CG_STORE_GET) {
        if (body != 8 || ext != 0 || klen != 0) {
            p->err = CG_MCPIPE_PROTOCOL;
            return -1;
        }
        op->value = cg_mcpipe_get_be(b + CG_MC_HDR, 8);
        return 0;
    }
    /* A counter is stored as decimal text (incr requires it); anything
     * else under our key is not an answer we can count on. */
    body -= ext + klen;
    if (ext != 4 || body == 0 || body >= sizeof(text)) {
        p->err = CG_MCPIPE_PROTOCOL;
        return -1;
    }
    memcpy(text, b + CG_MC_HDR + ext + klen, body);
    /* memcached rewrites a counter in place when incr or decr leaves it
     * shorter (1000 -> 999) and pads it with spaces: "999 " is 999. */
    while (body > 1 && text[body - 1] == ' ') {
        body--;
    }
    text[body] = '\0';
    if (strspn(text, "0123456789") != body) {
        p->err = CG_MCPIPE_PROTOCOL;
        return -1;
    }
    op->value = strtoull(text, NULL, 10);
    return 0;
}


/* Reads the n answers, in order, into ops. */
static int
cg_mcpipe_recv(cg_mcpipe_t *p, cg_store_op_t *ops, size_t n)
{
    unsigned char  buf[CG_MCPIPE_BUF];
    size_t         have = 0, off = 0, i = 0, body;
    ssize_t        r;

    while (i < n) {
        if (have - off >= CG_MC_HDR) {
            body = (size_t) cg_mcpipe_get_be(buf + off + 8, 4);
            if (buf[off] != CG_MC_RES
                || buf[off + 1] != cg_mcpipe_opcode(ops[i].op)
                || body > CG_STORE_KEY_MAX + CG_MC_BODY_MAX
                || cg_mcpipe_get_be(buf + off + 12, 4) != i) {
                p->err = CG_MCPIPE_PROTOCOL;
                return -1;
            }
            if (have - off >= CG_MC_HDR + body) {
                if (cg_mcpipe_decode(p, buf + off, body, &ops[i]) != 0) {
                    return -1;
                }
                ops[i++].done = 1;
                p->answered = i;
                off += CG_MC_HDR + body;
                continue;
            }
        }
        if (off > 0) {
            memmove(buf, buf + off, have - off);
            have -= off;
            off = 0;
        }
        /* Wait first: the answer is never there yet right after a send,
         * and a recv that says EAGAIN would be a system call for nothing. */
        if (cg_mcpipe_wait(p, POLLIN) != 0) {
            return -1;
        }
        r = recv(p->fd, buf + have, sizeof(buf) - have, 0);
        if (r > 0) {
            have += (size_t) r;
        } else if (r == 0) {
            p->err = CG_MCPIPE_EOF;
            return -1;
        } else if (errno != EINTR && errno != EAGAIN) {
            p->err = CG_MCPIPE_IO;
            p->sys_errno = errno;
            return -1;
        }
    }
    /* More than n answers: the stream is out of step with our requests
     * (nothing on it can be trusted any more). */
    if (have > off) {
        p->err = CG_MCPIPE_PROTOCOL;
        return -1;
    }
    return 0;
}


/* A kept connection that has anything to read before we sent a thing
 * is one the server closed (a clean stop or restart: end of file) or one
 * out of step: it is dropped before use, when nothing is lost yet. */
static void
cg_mcpipe_check_idle(cg_mcpipe_t *p)
{
    struct pollfd pfd = { p->fd, POLLIN | POLLRDHUP, 0 };

    if (p->fd >= 0 && poll(&pfd, 1, 0) != 0) {
        cg_mcpipe_close(p);
    }
}


int
cg_mcpipe_run(cg_mcpipe_t *p, cg_store_op_t *ops, size_t n)
{
    unsigned char  buf[CG_MCPIPE_BUF];
    size_t         len = 0, i;

    p->err = CG_MCPIPE_OK;
    p->sys_errno = 0;
    p->status = 0;
    p->answered = 0;
    p->sent = n;
    if (n > CG_STORE_BATCH_MAX) {
        p->err = CG_MCPIPE_PROTOCOL;
        return -1;
    }
    for (i = 0; i < n; i++) {
        ops[i].done = 0;
        if (ops[i].keylen > CG_STORE_KEY_MAX) {
            p->err = CG_MCPIPE_PROTOCOL;
            return -1;
        }
        len += cg_mcpipe_encode(buf + len, &ops[i], (uint32_t) i);
    }
    cg_mcpipe_check_idle(p);
    if (p->fd < 0 && cg_mcpipe_connect(p) != 0) {
        return cg_mcpipe_fail(p, CG_MCPIPE_CONNECT);
    }
    if (cg_mcpipe_send(p, buf, len) != 0 || cg_mcpipe_recv(p, ops, n) != 0) {
        return cg_mcpipe_fail(p, p->err);
    }
    return 0;
}
