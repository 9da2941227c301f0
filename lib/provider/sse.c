#include "provider/sse.h"

#include <string.h>


void
cg_sse_init(cg_sse_t *p, cg_sse_event_pt on_event, void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->on_event = on_event;
    p->ctx = ctx;
}


void
cg_sse_reset(cg_sse_t *p)
{
    cg_buf_shrink(&p->line, CG_SSE_KEEP);
    cg_buf_shrink(&p->event, CG_SSE_KEEP);
    cg_buf_shrink(&p->data, CG_SSE_KEEP);
    p->has_data = 0;
    p->after_cr = 0;
    p->failed = 0;
    p->total = 0;
}


void
cg_sse_free(cg_sse_t *p)
{
    cg_buf_free(&p->line);
    cg_buf_free(&p->event);
    cg_buf_free(&p->data);
}


static int
cg_sse_dispatch(cg_sse_t *p)
{
    int rc = 0;

    if (p->has_data) {
        rc = p->on_event(p->ctx, p->event.len ? p->event.data : "message",
                         p->data.len ? p->data.data : "", p->data.len);
    }
    cg_buf_reset(&p->event);
    cg_buf_reset(&p->data);
    p->has_data = 0;
    return rc;
}


/* One complete line (without its end): a field, a comment or the empty
 * line that ends an event. */
static int
cg_sse_line(cg_sse_t *p, const char *s, size_t n)
{
    const char *colon, *v;
    size_t      nlen, vlen;

    if (n == 0) {
        return cg_sse_dispatch(p);
    }
    if (s[0] == ':') {
        return 0;
    }
    colon = memchr(s, ':', n);
    nlen = colon ? (size_t) (colon - s) : n;
    v = colon ? colon + 1 : s + n;
    vlen = colon ? n - nlen - 1 : 0;
    if (vlen && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (p->data.len + p->event.len + vlen + 1 > CG_SSE_MAX_EVENT) {
        return -1;
    }
    if (nlen == 4 && memcmp(s, "data", 4) == 0) {
        if (p->has_data) {
            cg_buf_addc(&p->data, '\n');
        }
        cg_buf_add(&p->data, v, vlen);
        p->has_data = 1;
    } else if (nlen == 5 && memcmp(s, "event", 5) == 0) {
        cg_buf_reset(&p->event);
        cg_buf_add(&p->event, v, vlen);
    }
    /* id:, retry: and unknown fields mean nothing to a one-shot stream. */
    return p->data.oom || p->event.oom ? -1 : 0;
}


int
cg_sse_feed(cg_sse_t *p, const char *buf, size_t len)
{
    const char *end = buf + len, *eol;
    size_t      n;

    if (p->failed || len > CG_SSE_MAX_STREAM - p->total) {
        p->failed = 1;
        return -1;
    }
    p->total += len;
    while (buf < end) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (*buf == '\n') {
                buf++;
                continue;
            }
        }
        for (eol = buf; eol < end && *eol != '\n' && *eol != '\r'; eol++) {
            /* find the line end */
        }
        n = (size_t) (eol - buf);
        if (p->line.len + n > CG_SSE_MAX_LINE) {
            p->failed = 1;
            return -1;
        }
        if (eol == end) {
            cg_buf_add(&p->line, buf, n);   /* partial line: keep it */
            break;
        }
        p->after_cr = *eol == '\r';
        if (p->line.len) {
            cg_buf_add(&p->line, buf, n);
            if (p->line.oom
                || cg_sse_line(p, p->line.data, p->line.len) != 0) {
                p->failed = 1;
                return -1;
            }
            cg_buf_reset(&p->line);
        } else if (cg_sse_line(p, buf, n) != 0) {
            p->failed = 1;
            return -1;
        }
        buf = eol + 1;
    }
    if (p->line.oom) {
        p->failed = 1;
        return -1;
    }
    return 0;
}
