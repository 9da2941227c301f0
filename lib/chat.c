#include "chat.h"
#include "clock.h"
#include "guard.h"
#include "ratelimit.h"
#include "provider.h"
#include "session.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


int
cg_chat_init(cg_chat_t *c, const cg_conf_t *conf, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->conf = conf;
    if (cg_meter_init(&c->meter, conf, err, errlen) != 0) {
        cg_meter_free(&c->meter);
        return -1;
    }
    c->store = c->meter.store;
    c->up = cg_upstream_new(conf);
    if (c->up == NULL) {
        snprintf(err, errlen, "cannot set up the provider connection");
        cg_chat_free(c);
        return -1;
    }
    return 0;
}


void
cg_chat_free(cg_chat_t *c)
{
    cg_meter_free(&c->meter);
    cg_upstream_free(c->up);
    cg_buf_free(&c->call);
    cg_buf_free(&c->resp);
    memset(c, 0, sizeof(*c));
}


static int
cg_chat_who(cg_chat_t *c, cg_req_t *r)
{
    const char    *tok = NULL;
    size_t         toklen = 0;
    cg_token_rc_t  rc;

    if (cg_session_find_token(r->authorization, r->cookie,
                              c->conf->cookie_name, &tok, &toklen) != 0) {
        return cg_req_fail(r, CG_E_UNAUTHORIZED, NULL, "%s",
                           cg_token_reason(CG_TOKEN_MISSING));
    }
    rc = cg_token_verify(c->conf->session_secret.data,
                         c->conf->session_secret.len, tok, toklen,
                         time(NULL), r->user);
    if (rc != CG_TOKEN_OK) {
        r->user[0] = '\0';
        return cg_req_fail(r, CG_E_UNAUTHORIZED, NULL, "%s",
                           cg_token_reason(rc));
    }
    return 0;
}


static int
cg_chat_how_much(cg_chat_t *c, cg_req_t *r)
{
    return cg_meter_admit(&c->meter, NULL, r);
}


static int
cg_chat_call(cg_chat_t *c, cg_req_t *r)
{
    cg_up_rc_t  rc;
    long        status = 0;
    double      t0;
    char        why[128] = "";

    cg_buf_reset(&c->call);
    cg_anthropic_build(c->conf, r->message, r->message_len, &c->call);
    if (c->call.oom) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    if (cg_meter_reserve(&c->meter, r, c->conf->model, c->call.len,
                         c->conf->max_tokens) != 0) {
        return -1;
    }
    t0 = cg_clock_mono();
    rc = cg_upstream_post(c->up, c->call.data, c->call.len, &c->resp,
                          &status, why, sizeof(why));
    r->upstream_ms = (cg_clock_mono() - t0) * 1000.0;
    r->upstream_status = (int) status;
    if (rc == CG_UP_TIMEOUT) {
        return cg_req_fail(r, CG_E_UPSTREAM_TIMEOUT, NULL,
                           "provider timeout: %s", why);
    }
    if (rc != CG_UP_OK) {
        return cg_req_fail(r, CG_E_UPSTREAM, NULL, "provider call failed: %s",
                           why);
    }
    if (status == 401 || status == 403) {
        cg_alert_key_rejected(&c->meter.alert, c->conf->api_key.fp,
                              (int) status, time(NULL));
    }
    if (status < 200 || status > 299) {
        /* Only the status is kept: the provider's message may hold
         * internal details and is never passed on or logged. */
        return cg_req_fail(r, CG_E_UPSTREAM, NULL, "provider status %ld",
                           status);
    }
    if (cg_anthropic_parse(c->resp.data, c->resp.len, &r->text,
                           &r->input_tokens, &r->output_tokens) != 0) {
        cg_buf_reset(&r->text);
        return cg_req_fail(r, CG_E_UPSTREAM, NULL,
                           "provider answer not understood");
    }
    return 0;
}


void
cg_chat_handle(cg_chat_t *c, cg_req_t *r)
{
    if (cg_chat_who(c, r) != 0
        || cg_chat_how_much(c, r) != 0
        || cg_guard_parse_chat(r, c->conf->max_chars) != 0
        || cg_chat_call(c, r) != 0) {
        cg_meter_finish(&c->meter, NULL, r, c->conf->model);
        return;
    }
    cg_meter_finish(&c->meter, NULL, r, c->conf->model);
    if (r->text.oom) {
        cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
}
