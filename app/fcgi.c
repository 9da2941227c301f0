#include "fcgi.h"

#include <stdio.h>
#include <string.h>

/* A GET_VALUES body names a few variables; more is not a real query. */
#define CG_FCGI_MGMT_MAX  1024
/* Records are padded to a multiple of 8 bytes, as the specification
 * recommends and php-fpm does. */
#define CG_FCGI_ALIGN     8

static const char cg_fcgi_zeros[CG_FCGI_ALIGN];


void
cg_fcgi_init(cg_fcgi_conn_t *c, const cg_fcgi_cb_t *cb)
{
    memset(c, 0, sizeof(*c));
    c->cb = cb;
    cg_buf_init(&c->params);
    cg_buf_init(&c->mgmt);
}


void
cg_fcgi_reset(cg_fcgi_conn_t *c)
{
    c->active = 0;
    c->params_done = c->stdin_done = 0;
    /* The parameters carried the request's cookie: wipe, then reuse. */
    if (c->params.data) {
        cg_buf_wipe_bytes(c->params.data, c->params.cap);
    }
    cg_buf_reset(&c->params);
}


void
cg_fcgi_free(cg_fcgi_conn_t *c)
{
    cg_fcgi_reset(c);
    cg_buf_free(&c->params);
    cg_buf_free(&c->mgmt);
}


static void
cg_fcgi_header(cg_buf_t *out, int type, unsigned id, size_t len, size_t pad)
{
    FCGI_Header h = {
        .version = FCGI_VERSION_1,
        .type = (unsigned char) type,
        .requestIdB1 = (unsigned char) (id >> 8),
        .requestIdB0 = (unsigned char) id,
        .contentLengthB1 = (unsigned char) (len >> 8),
        .contentLengthB0 = (unsigned char) len,
        .paddingLength = (unsigned char) pad,
    };

    cg_buf_add(out, &h, sizeof(h));
}


static size_t
cg_fcgi_pad(size_t len)
{
    return (CG_FCGI_ALIGN - len % CG_FCGI_ALIGN) % CG_FCGI_ALIGN;
}


/* Content of len bytes, then its padding (as the header announced). */
static void
cg_fcgi_put_padded(cg_buf_t *out, const void *p, size_t len)
{
    cg_buf_add(out, p, len);
    cg_buf_add(out, cg_fcgi_zeros, cg_fcgi_pad(len));
}


static void
cg_fcgi_end_record(cg_buf_t *out, unsigned id, uint32_t app, int proto)
{
    FCGI_EndRequestBody b = {
        .appStatusB3 = (unsigned char) (app >> 24),
        .appStatusB2 = (unsigned char) (app >> 16),
        .appStatusB1 = (unsigned char) (app >> 8),
        .appStatusB0 = (unsigned char) app,
        .protocolStatus = (unsigned char) proto,
    };

    cg_fcgi_header(out, FCGI_END_REQUEST, id, sizeof(b), 0);
    cg_buf_add(out, &b, sizeof(b));
}


void
cg_fcgi_stdout(cg_buf_t *out, unsigned id, const char *p, size_t n)
{
    size_t k;

    while (n > 0) {
        k = n > CG_FCGI_OUT_CHUNK ? CG_FCGI_OUT_CHUNK : n;
        cg_fcgi_header(out, FCGI_STDOUT, id, k, cg_fcgi_pad(k));
        cg_fcgi_put_padded(out, p, k);
        p += k;
        n -= k;
    }
}


void
cg_fcgi_end(cg_fcgi_conn_t *c, cg_buf_t *out, uint32_t app_status)
{
    cg_fcgi_header(out, FCGI_STDOUT, c->active, 0, 0);
    cg_fcgi_end_record(out, c->active, app_status, FCGI_REQUEST_COMPLETE);
    cg_fcgi_reset(c);
}


/* One length of a name-value pair: 1 byte, or 4 with the high bit set. */
static int
cg_fcgi_nvlen(const unsigned char **p, const unsigned char *end, size_t *len)
{
    if (*p >= end) {
        return -1;
    }
    if ((**p & 0x80) == 0) {
        *len = *(*p)++;
        return 0;
    }
    if (end - *p < 4) {
        return -1;
    }
    *len = ((size_t) ((*p)[0] & 0x7f) << 24) | ((size_t) (*p)[1] << 16)
           | ((size_t) (*p)[2] << 8) | (*p)[3];
    *p += 4;
    return 0;
}


/* Calls each(ctx, name, value) for every pair of a PARAMS or GET_VALUES
 * stream; -1 when the stream is cut short or a callback stops. */
typedef int (*cg_fcgi_pair_pt)(void *ctx, const char *n, size_t nl,
                               const char *v, size_t vl);

static int
cg_fcgi_pairs(const char *data, size_t len, cg_fcgi_pair_pt each, void *ctx)
{
    const unsigned char *p, *end;
    size_t               nl, vl;

    if (len == 0) {
        return 0;       /* an empty stream (its buffer may be NULL) */
    }
    p = (const unsigned char *) data;
    end = p + len;
    while (p < end) {
        if (cg_fcgi_nvlen(&p, end, &nl) != 0
            || cg_fcgi_nvlen(&p, end, &vl) != 0
            || nl > (size_t) (end - p) || vl > (size_t) (end - p) - nl) {
            return -1;
        }
        if (each && each(ctx, (const char *) p, nl, (const char *) p + nl,
                         vl) != 0) {
            return 1;
        }
        p += nl + vl;
    }
    return 0;
}


static void
cg_fcgi_pair_out(cg_buf_t *out, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);

    cg_buf_addc(out, (char) nl);    /* both short: one byte each */
    cg_buf_addc(out, (char) vl);
    cg_buf_add(out, name, nl);
    cg_buf_add(out, value, vl);
}


typedef struct {
    const cg_fcgi_cb_t *cb;
    cg_buf_t            body;
} cg_fcgi_values_t;

static int
cg_fcgi_value(void *ctx, const char *n, size_t nl, const char *v, size_t vl)
{
    cg_fcgi_values_t *x = ctx;
    const char       *names[] = { FCGI_MAX_CONNS, FCGI_MAX_REQS,
                                  FCGI_MPXS_CONNS };
    unsigned          vals[] = { x->cb->max_conns, x->cb->max_reqs, 0 };
    char              num[24];
    size_t            i;

    (void) v; (void) vl;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (nl == strlen(names[i]) && memcmp(n, names[i], nl) == 0) {
            snprintf(num, sizeof(num), "%u", vals[i]);
            cg_fcgi_pair_out(&x->body, names[i], num);
        }
    }
    return 0;       /* unknown variables are left out of the answer */
}


static int
cg_fcgi_get_values(cg_fcgi_conn_t *c, cg_buf_t *out)
{
    cg_fcgi_values_t x = { c->cb, { NULL, 0, 0, 0 } };

    if (cg_fcgi_pairs(c->mgmt.data, c->mgmt.len, cg_fcgi_value, &x) != 0) {
        cg_buf_free(&x.body);
        c->error = "malformed FCGI_GET_VALUES";
        return -1;
    }
    cg_fcgi_header(out, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID,
                   x.body.len, cg_fcgi_pad(x.body.len));
    cg_fcgi_put_padded(out, x.body.data, x.body.len);
    cg_buf_free(&x.body);
    cg_buf_reset(&c->mgmt);
    return 0;
}


/* PARAMS: one stream, decoded when its empty record ends it. */
static int
cg_fcgi_params_end(cg_fcgi_conn_t *c)
{
    const cg_fcgi_cb_t *cb = c->cb;
    int                 rc;

    c->params_done = 1;
    rc = cg_fcgi_pairs(c->params.data, c->params.len, cb->on_param, cb->ctx);
    if (rc < 0) {
        c->error = "malformed FCGI_PARAMS";
        return -1;
    }
    if (rc > 0) {
        return 1;
    }
    return cb->on_params_end && cb->on_params_end(cb->ctx) ? 1 : 0;
}


static int
cg_fcgi_begin(cg_fcgi_conn_t *c, cg_buf_t *out)
{
    const FCGI_BeginRequestBody *b = (const FCGI_BeginRequestBody *) c->begin;
    int                          role = (b->roleB1 << 8) | b->roleB0;

    if (c->id == FCGI_NULL_REQUEST_ID || c->active) {
        c->error = c->active ? "FCGI_BEGIN_REQUEST while a request is open"
                             : "FCGI_BEGIN_REQUEST for request id 0";
        return -1;
    }
    if (role != FCGI_RESPONDER) {
        cg_fcgi_end_record(out, c->id, 0, FCGI_UNKNOWN_ROLE);
        return 0;
    }
    c->active = c->id;
    return c->cb->on_begin
           && c->cb->on_begin(c->cb->ctx, c->id,
                              (b->flags & FCGI_KEEP_CONN) != 0) ? 1 : 0;
}


/* The record's header is complete: is it one this server takes? */
static int
cg_fcgi_check(cg_fcgi_conn_t *c)
{
    if (((const FCGI_Header *) c->hdr)->version != FCGI_VERSION_1) {
        c->error = "FastCGI version is not 1";
    } else if (c->id == FCGI_NULL_REQUEST_ID) {
        if (c->type == FCGI_GET_VALUES && c->left > CG_FCGI_MGMT_MAX) {
            c->error = "FCGI_GET_VALUES too long";
        }
    } else if (c->type == FCGI_BEGIN_REQUEST) {
        if (c->left != sizeof(c->begin)) {
            c->error = "FCGI_BEGIN_REQUEST of the wrong length";
        }
    } else if (c->id != c->active) {
        c->error = "record for a request that is not open";
    } else if (c->type == FCGI_PARAMS) {
        if (c->params_done) {
            c->error = "FCGI_PARAMS after their end";
        } else if (c->params.len + c->left > CG_FCGI_PARAMS_MAX) {
            c->error = "FCGI_PARAMS too long";
        }
    } else if (c->type == FCGI_STDIN) {
        if (!c->params_done || c->stdin_done) {
            c->error = c->stdin_done ? "FCGI_STDIN after its end"
                                     : "FCGI_STDIN before the parameters";
        }
    } else if (c->type != FCGI_ABORT_REQUEST) {
        c->error = "unexpected FastCGI record type";
    }
    return c->error ? -1 : 0;
}


/* Content bytes of the current record. */
static int
cg_fcgi_content(cg_fcgi_conn_t *c, const char *p, size_t k)
{
    if (c->id == FCGI_NULL_REQUEST_ID) {
        if (c->type == FCGI_GET_VALUES) {
            cg_buf_add(&c->mgmt, p, k);
        }
        return 0;
    }
    switch (c->type) {
    case FCGI_BEGIN_REQUEST:
        memcpy(c->begin + c->begin_len, p, k);
        c->begin_len += k;
        return 0;
    case FCGI_PARAMS:
        cg_buf_add(&c->params, p, k);
        return c->params.oom ? (c->error = "out of memory", -1) : 0;
    case FCGI_STDIN:
        return c->cb->on_stdin && c->cb->on_stdin(c->cb->ctx, p, k) ? 1 : 0;
    default:
        return 0;       /* ABORT_REQUEST: its body means nothing */
    }
}


/* The current record is complete. */
static int
cg_fcgi_record_end(cg_fcgi_conn_t *c, cg_buf_t *out)
{
    FCGI_UnknownTypeBody u = { .type = (unsigned char) c->type };

    if (c->id == FCGI_NULL_REQUEST_ID) {
        if (c->type == FCGI_GET_VALUES) {
            return cg_fcgi_get_values(c, out);
        }
        cg_fcgi_header(out, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID,
                       sizeof(u), 0);
        cg_buf_add(out, &u, sizeof(u));
        return 0;
    }
    switch (c->type) {
    case FCGI_BEGIN_REQUEST:
        return cg_fcgi_begin(c, out);
    case FCGI_ABORT_REQUEST:
        return c->cb->on_abort && c->cb->on_abort(c->cb->ctx) ? 1 : 0;
    case FCGI_PARAMS:
        /* An empty PARAMS record ends the parameters. */
        return c->empty ? cg_fcgi_params_end(c) : 0;
    case FCGI_STDIN:
        if (!c->empty) {
            return 0;
        }
        c->stdin_done = 1;
        return c->cb->on_stdin && c->cb->on_stdin(c->cb->ctx, NULL, 0)
               ? 1 : 0;
    default:
        return 0;
    }
}


/* The 8 header bytes are in: decode them and check the record. */
static int
cg_fcgi_header_done(cg_fcgi_conn_t *c)
{
    const FCGI_Header *h = (const FCGI_Header *) c->hdr;

    c->type = h->type;
    c->id = ((unsigned) h->requestIdB1 << 8) | h->requestIdB0;
    c->left = ((size_t) h->contentLengthB1 << 8) | h->contentLengthB0;
    c->pad = h->paddingLength;
    c->empty = c->left == 0;
    c->begin_len = 0;
    c->hdr_len = 0;
    if (c->id == FCGI_NULL_REQUEST_ID) {
        cg_buf_reset(&c->mgmt);
    }
    return cg_fcgi_check(c);
}


int
cg_fcgi_feed(cg_fcgi_conn_t *c, const char *p, size_t n, size_t *used,
             cg_buf_t *out)
{
    size_t i = 0, k;
    int    rc = 0;

    while (i < n && rc == 0) {
        switch (c->state) {
        case CG_FCGI_S_HEADER:
            k = sizeof(c->hdr) - c->hdr_len;
            k = k < n - i ? k : n - i;
            memcpy(c->hdr + c->hdr_len, p + i, k);
            c->hdr_len += k;
            i += k;
            if (c->hdr_len < sizeof(c->hdr)) {
                break;
            }
            if (cg_fcgi_header_done(c) != 0) {
                rc = -1;
                break;
            }
            c->state = CG_FCGI_S_CONTENT;
            if (c->left == 0) {
                rc = cg_fcgi_record_end(c, out);
                c->state = c->pad ? CG_FCGI_S_PADDING : CG_FCGI_S_HEADER;
            }
            break;
        case CG_FCGI_S_CONTENT:
            k = c->left < n - i ? c->left : n - i;
            rc = cg_fcgi_content(c, p + i, k);
            c->left -= k;
            i += k;
            if (rc == 0 && c->left == 0) {
                rc = cg_fcgi_record_end(c, out);
                c->state = c->pad ? CG_FCGI_S_PADDING : CG_FCGI_S_HEADER;
            } else if (c->left == 0) {
                c->state = c->pad ? CG_FCGI_S_PADDING : CG_FCGI_S_HEADER;
            }
            break;
        case CG_FCGI_S_PADDING:
            k = c->pad < n - i ? c->pad : n - i;
            c->pad -= k;
            i += k;
            if (c->pad == 0) {
                c->state = CG_FCGI_S_HEADER;
            }
            break;
        }
    }
    if (used) {
        *used = i;
    }
    return rc;
}
