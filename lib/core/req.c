#include "core/req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_REQ_TEXT_KEEP  (64 * 1024)


void
cg_req_init(cg_req_t *r, double now)
{
    cg_buf_t text = r->text;

    memset(r, 0, sizeof(*r));
    r->text = text;
    cg_buf_reset(&r->text);
    r->t_start = now;
    r->cost_micro_usd = -1;
}


/* Wipes text the request owns (a message, the system prompt) and frees
 * it. */
static void
cg_req_free_text(char **p, size_t *len)
{
    if (*p) {
        explicit_bzero(*p, *len);
    }
    free(*p);
    *p = NULL;
    *len = 0;
}


void
cg_req_clear(cg_req_t *r)
{
    size_t i;

    cg_req_free_text(&r->message, &r->message_len);
    for (i = 0; i < r->nmsgs; i++) {
        cg_req_free_text(&r->msgs[i].text, &r->msgs[i].len);
    }
    free(r->msgs);
    r->msgs = NULL;
    r->nmsgs = 0;
    cg_req_free_text(&r->system, &r->system_len);
    /* The body is the caller's buffer (the caller wipes it). */
    r->body = NULL;
    r->body_len = 0;
    /* An answer that grew past this is not held for the next request. */
    cg_buf_wipe(&r->text);
    if (r->text.cap > CG_REQ_TEXT_KEEP) {
        cg_buf_free(&r->text);
    }
}


void
cg_req_destroy(cg_req_t *r)
{
    cg_req_clear(r);
    cg_buf_free(&r->text);
}


int
cg_req_fail(cg_req_t *r, cg_err_t err, const char *msg,
            const char *reason_fmt, ...)
{
    va_list ap;

    r->err = err;
    r->err_msg = msg;
    va_start(ap, reason_fmt);
    vsnprintf(r->reason, sizeof(r->reason), reason_fmt, ap);
    va_end(ap);
    return -1;
}
