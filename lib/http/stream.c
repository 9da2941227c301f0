#include "http/stream.h"
#include "http/compat.h"
#include "http/http.h"
#include "core/err.h"

#include <string.h>


void
cg_stream_init(cg_stream_t *s, cg_out_t *out)
{
    cg_buf_t buf = s->buf;

    memset(s, 0, sizeof(*s));
    s->buf = buf;
    cg_buf_reset(&s->buf);
    s->out = out;
}


void
cg_stream_free(cg_stream_t *s)
{
    cg_buf_free(&s->buf);
}


/* Sends what is in s->buf and flushes it to the web server at once. */
static int
cg_stream_send(cg_stream_t *s, double now)
{
    if (s->gone || s->buf.oom
        || s->out->write(s->out->ctx, s->buf.data, s->buf.len) != 0
        || s->out->flush(s->out->ctx) != 0) {
        s->gone = 1;
    }
    cg_buf_reset(&s->buf);
    s->last = now;
    return s->gone ? -1 : 0;
}


int
cg_stream_start(cg_stream_t *s, cg_req_t *r, double now)
{
    cg_buf_adds(&s->buf, "Status: 200 OK\r\n"
                "Content-Type: text/event-stream; charset=utf-8\r\n"
                "X-Accel-Buffering: no");
    s->api = r->api;
    if (s->api != CG_API_CHAT) {
        cg_compat_headers(r, &s->buf);
    } else {
        cg_http_headers(r, &s->buf);
    }
    cg_buf_adds(&s->buf, "\r\n\r\n");
    r->streamed = 1;
    if (s->api != CG_API_CHAT) {
        cg_compat_sse_start(s, r);     /* the provider's opening events */
    }
    return cg_stream_send(s, now);
}


int
cg_stream_delta(cg_stream_t *s, const char *text, size_t len, double now)
{
    if (s->api != CG_API_CHAT) {
        cg_compat_sse_delta(s, text, len);
        return cg_stream_send(s, now);
    }
    cg_buf_adds(&s->buf, "event: delta\ndata: {\"text\":");
    cg_buf_add_json_str(&s->buf, text, len);
    cg_buf_adds(&s->buf, "}\n\n");
    return cg_stream_send(s, now);
}


int
cg_stream_ping(cg_stream_t *s, double now)
{
    if (s->api != CG_API_CHAT) {
        cg_compat_sse_ping(s);
        return cg_stream_send(s, now);
    }
    cg_buf_adds(&s->buf, ": ping\n\n");
    return cg_stream_send(s, now);
}


int
cg_stream_done(cg_stream_t *s, const cg_req_t *r, double now)
{
    if (s->api != CG_API_CHAT) {
        cg_compat_sse_done(s, r);
        return cg_stream_send(s, now);
    }
    cg_buf_adds(&s->buf, "event: done\ndata: {\"request_id\":");
    cg_buf_add_json_cstr(&s->buf, r->request_id);
    cg_buf_adds(&s->buf, ",\"route\":");
    cg_buf_add_json_cstr(&s->buf, r->route);
    cg_buf_adds(&s->buf, ",\"usage\":{\"input_tokens\":");
    cg_buf_add_long(&s->buf, r->input_tokens);
    cg_buf_adds(&s->buf, ",\"output_tokens\":");
    cg_buf_add_long(&s->buf, r->output_tokens);
    cg_buf_adds(&s->buf, r->usage_estimated ? "},\"usage_estimated\":true"
                                            : "}");
    cg_buf_adds(&s->buf, ",\"stop_reason\":");
    cg_buf_add_json_cstr(&s->buf, r->stop_reason[0] ? r->stop_reason
                                                    : NULL);
    cg_buf_adds(&s->buf, "}\n\n");
    return cg_stream_send(s, now);
}


int
cg_stream_error(cg_stream_t *s, const cg_req_t *r, double now)
{
    if (s->api != CG_API_CHAT) {
        cg_compat_sse_error(s, r);
        return cg_stream_send(s, now);
    }
    cg_buf_adds(&s->buf, "event: error\ndata: {\"error\":{\"type\":\"");
    cg_buf_adds(&s->buf, cg_err_type(r->err));
    cg_buf_adds(&s->buf, "\",\"message\":");
    cg_buf_add_json_cstr(&s->buf, r->err_msg ? r->err_msg
                                             : cg_err_message(r->err));
    cg_buf_adds(&s->buf, "},\"request_id\":");
    cg_buf_add_json_cstr(&s->buf, r->request_id);
    cg_buf_adds(&s->buf, "}\n\n");
    return cg_stream_send(s, now);
}


int
cg_stream_alive(cg_stream_t *s)
{
    if (!s->gone && s->out->alive && !s->out->alive(s->out->ctx)) {
        s->gone = 1;
    }
    return !s->gone;
}
