#include "http/compat.h"
#include "http/http.h"
#include "core/err.h"
#include "core/secret.h"
#include "who/svctoken.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CG_COMPAT_ANTHROPIC_PATH  "/v1/messages"
#define CG_COMPAT_OPENAI_PATH     "/v1/chat/completions"


static int
cg_compat_path_is(const char *uri, const char *prefix, const char *path)
{
    size_t n = strlen(prefix), m = strlen(path);

    return strncmp(uri, prefix, n) == 0 && strncmp(uri + n, path, m) == 0
           && (uri[n + m] == '\0' || uri[n + m] == '?');
}


cg_api_t
cg_compat_api(const cg_conf_t *conf, const char *uri)
{
    if (uri == NULL || conf->http.llm_prefix == NULL
        || conf->http.llm_prefix[0] == '\0') {
        return CG_API_CHAT;
    }
    if (cg_compat_path_is(uri, conf->http.llm_prefix, CG_COMPAT_ANTHROPIC_PATH)) {
        return CG_API_ANTHROPIC;
    }
    if (cg_compat_path_is(uri, conf->http.llm_prefix, CG_COMPAT_OPENAI_PATH)) {
        return CG_API_OPENAI;
    }
    return CG_API_CHAT;
}


/* The token after "Bearer ", or NULL. */
static const char *
cg_compat_bearer(const char *authorization)
{
    const char *p;

    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7)) {
        return NULL;
    }
    for (p = authorization + 7; *p == ' '; p++) {
    }
    return p;
}


/* Whatever header a caller put it in, a provider key is an exposure. */
static int
cg_compat_provider_key(const char *header)
{
    return header && cg_secret_looks_like_key(header, strlen(header));
}


/* The credential: Anthropic's SDK sends x-api-key (or, with authToken,
 * a Bearer token), OpenAI's a Bearer token. Only a service token is
 * accepted; a provider key is an exposure the operator must hear of. */
static int
cg_compat_credential(cg_req_t *r, cg_api_t api)
{
    const char *tok;

    if (cg_compat_provider_key(r->x_api_key)
        || cg_compat_provider_key(r->authorization)) {
        cg_findings_set(&r->findings, CG_FIND_PROVIDER_KEY_SENT);
        return cg_req_fail(r, CG_E_UNAUTHORIZED, "Provider keys are not "
                           "accepted here: use a chatgate service token "
                           "(cgt_...), and rotate the key you sent.",
                           "compat: the caller sent a provider key "
                           "(refused, not forwarded): rotate it");
    }
    if (api == CG_API_ANTHROPIC && r->x_api_key && r->x_api_key[0]) {
        tok = r->x_api_key;
    } else {
        tok = cg_compat_bearer(r->authorization);
    }
    if (tok == NULL || tok[0] == '\0') {
        return cg_req_fail(r, CG_E_UNAUTHORIZED, api == CG_API_ANTHROPIC
                           ? "Send a chatgate service token (cgt_...) as "
                             "x-api-key."
                           : "Send a chatgate service token (cgt_...) as "
                             "Authorization: Bearer.",
                           "compat: no credential");
    }
    if (strncmp(tok, CG_TOKEN_PREFIX, sizeof(CG_TOKEN_PREFIX) - 1) != 0) {
        return cg_req_fail(r, CG_E_UNAUTHORIZED, "Only chatgate service "
                           "tokens (cgt_...) are accepted here.",
                           "compat: credential not a service token");
    }
    r->service_token = tok;
    return 0;
}


int
cg_compat_admit(const cg_conf_t *conf, cg_req_t *r, cg_api_t api)
{
    r->api = api;
    /* Server to server only: a browser session never counts here, and
     * content negotiation is the body's "stream" alone. */
    r->cookie = NULL;
    r->accept = NULL;
    if (r->method == NULL || strcmp(r->method, "POST") != 0) {
        return cg_req_fail(r, CG_E_METHOD, NULL, "compat: method not POST");
    }
    if (r->origin || (r->sec_fetch_site && r->sec_fetch_site[0])) {
        return cg_req_fail(r, CG_E_CROSS_SITE, "These endpoints are for "
                           "server-side callers, not browsers.",
                           "compat: browser request (Origin or "
                           "Sec-Fetch-Site)");
    }
    if (cg_compat_credential(r, api) != 0) {
        return -1;
    }
    return cg_http_admit_body(conf, r);
}


/* ---- answers ---- */

/* Per chatgate error: Anthropic's error type, OpenAI's type and code
 * (OpenAI's own names where an SDK user would look for them; else the
 * code is chatgate's stable error type). */
static const struct {
    const char *anthropic, *openai, *code;
} cg_compat_errs[CG_E__COUNT] = {
    [CG_E_INVALID]          = { "invalid_request_error",
                                "invalid_request_error", NULL },
    [CG_E_UNAUTHORIZED]     = { "authentication_error",
                                "invalid_request_error", "invalid_api_key" },
    [CG_E_FORBIDDEN]        = { "permission_error", "permission_error",
                                NULL },
    [CG_E_NOT_FOUND]        = { "not_found_error", "invalid_request_error",
                                "model_not_found" },
    [CG_E_METHOD]           = { "invalid_request_error",
                                "invalid_request_error", NULL },
    [CG_E_TOO_LARGE]        = { "request_too_large",
                                "invalid_request_error", NULL },
    [CG_E_MEDIA_TYPE]       = { "invalid_request_error",
                                "invalid_request_error", NULL },
    [CG_E_RATE_LIMITED]     = { "rate_limit_error", "requests",
                                "rate_limit_exceeded" },
    [CG_E_INTERNAL]         = { "api_error", "server_error", NULL },
    [CG_E_UPSTREAM]         = { "api_error", "server_error", NULL },
    [CG_E_UNAVAILABLE]      = { "overloaded_error", "server_error", NULL },
    [CG_E_UPSTREAM_TIMEOUT] = { "timeout_error", "server_error", NULL },
    [CG_E_CLIENT_CLOSED]    = { "api_error", "server_error", NULL },
    [CG_E_CROSS_SITE]       = { "permission_error", "permission_error",
                                NULL },
    [CG_E_PROMPT_REJECTED]  = { "invalid_request_error",
                                "invalid_request_error", NULL },
    [CG_E_PII_REJECTED]     = { "invalid_request_error",
                                "invalid_request_error", NULL },
    [CG_E_BUDGET]           = { "rate_limit_error", "insufficient_quota",
                                NULL },
};


static cg_err_t
cg_compat_err(const cg_req_t *r)
{
    return r->err > CG_OK && r->err < CG_E__COUNT ? r->err : CG_E_INTERNAL;
}


static const char *
cg_compat_err_msg(const cg_req_t *r)
{
    return r->err_msg ? r->err_msg : cg_err_message(r->err);
}


static void
cg_compat_error_body(const cg_req_t *r, cg_buf_t *b)
{
    if (r->api == CG_API_ANTHROPIC) {
        cg_buf_adds(b, "{\"type\":\"error\",\"error\":{\"type\":\"");
        cg_buf_adds(b, cg_compat_errs[cg_compat_err(r)].anthropic);
        cg_buf_adds(b, "\",\"message\":");
        cg_buf_add_json_cstr(b, cg_compat_err_msg(r));
        cg_buf_adds(b, "},\"request_id\":");
        cg_buf_add_json_cstr(b, r->request_id);
        cg_buf_addc(b, '}');
        return;
    }
    cg_buf_adds(b, "{\"error\":{\"message\":");
    cg_buf_add_json_cstr(b, cg_compat_err_msg(r));
    cg_buf_adds(b, ",\"type\":\"");
    cg_buf_adds(b, cg_compat_errs[cg_compat_err(r)].openai);
    cg_buf_adds(b, "\",\"param\":null,\"code\":\"");
    cg_buf_adds(b, cg_compat_errs[cg_compat_err(r)].code
                   ? cg_compat_errs[cg_compat_err(r)].code
                   : cg_err_type(cg_compat_err(r)));
    cg_buf_adds(b, "\"}}");
}


/* The provider's stop reason, whichever provider answered: chatgate
 * translates between the two vocabularies (docs/sdk.md). */
static const char *
cg_compat_stop(cg_api_t api, const char *why)
{
    static const struct {
        const char *in, *anthropic, *openai;
    } map[] = {
        { "end_turn", "end_turn", "stop" },
        { "stop", "end_turn", "stop" },
        { "stop_sequence", "stop_sequence", "stop" },
        { "max_tokens", "max_tokens", "length" },
        { "length", "max_tokens", "length" },
        { "refusal", "refusal", "content_filter" },
        { "content_filter", "refusal", "content_filter" },
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(why, map[i].in) == 0) {
            return api == CG_API_ANTHROPIC ? map[i].anthropic
                                           : map[i].openai;
        }
    }
    return api == CG_API_ANTHROPIC ? "end_turn" : "stop";
}


/* "msg_<hex>" / "chatcmpl-<hex>" from the request id, so a caller's id
 * is found in the usage log. */
static void
cg_compat_id_str(const cg_req_t *r, char *out, size_t cap)
{
    const char *hex = strncmp(r->request_id, "req_", 4) == 0
                      ? r->request_id + 4 : r->request_id;

    snprintf(out, cap, "\"%s%s\"",
             r->api == CG_API_ANTHROPIC ? "msg_" : "chatcmpl-", hex);
}


static void
cg_compat_id(cg_buf_t *b, const cg_req_t *r)
{
    char id[CG_STREAM_ID_MAX];

    cg_compat_id_str(r, id, sizeof(id));
    cg_buf_adds(b, id);
}


static void
cg_compat_anthropic_usage(cg_buf_t *b, long in, long out)
{
    cg_buf_adds(b, "\"usage\":{\"input_tokens\":");
    cg_buf_add_long(b, in);
    cg_buf_adds(b, ",\"output_tokens\":");
    cg_buf_add_long(b, out);
    cg_buf_addc(b, '}');
}


static void
cg_compat_openai_usage(cg_buf_t *b, const cg_req_t *r)
{
    cg_buf_adds(b, "\"usage\":{\"prompt_tokens\":");
    cg_buf_add_long(b, r->input_tokens);
    cg_buf_adds(b, ",\"completion_tokens\":");
    cg_buf_add_long(b, r->output_tokens);
    cg_buf_adds(b, ",\"total_tokens\":");
    cg_buf_add_long(b, r->input_tokens + r->output_tokens);
    cg_buf_addc(b, '}');
}


static const char *
cg_compat_text(const cg_req_t *r)
{
    return r->text.data ? r->text.data : "";
}


static void
cg_compat_ok_body(const cg_req_t *r, cg_buf_t *b)
{
    const char *stop = cg_compat_stop(r->api, r->stop_reason);

    cg_buf_adds(b, "{\"id\":");
    cg_compat_id(b, r);
    if (r->api == CG_API_ANTHROPIC) {
        cg_buf_adds(b, ",\"type\":\"message\",\"role\":\"assistant\","
                    "\"model\":");
        cg_buf_add_json_cstr(b, r->model);
        cg_buf_adds(b, ",\"content\":[{\"type\":\"text\",\"text\":");
        cg_buf_add_json_str(b, cg_compat_text(r), r->text.len);
        cg_buf_adds(b, "}],\"stop_reason\":\"");
        cg_buf_adds(b, stop);
        cg_buf_adds(b, "\",\"stop_sequence\":null,");
        cg_compat_anthropic_usage(b, r->input_tokens, r->output_tokens);
        cg_buf_addc(b, '}');
        return;
    }
    cg_buf_adds(b, ",\"object\":\"chat.completion\",\"created\":");
    cg_buf_add_long(b, (long long) cg_clock_now());
    cg_buf_adds(b, ",\"model\":");
    cg_buf_add_json_cstr(b, r->model);
    cg_buf_adds(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                "\"assistant\",\"content\":");
    cg_buf_add_json_str(b, cg_compat_text(r), r->text.len);
    cg_buf_adds(b, ",\"refusal\":null},\"logprobs\":null,"
                "\"finish_reason\":\"");
    cg_buf_adds(b, stop);
    cg_buf_adds(b, "\"}],");
    cg_compat_openai_usage(b, r);
    cg_buf_addc(b, '}');
}


/* What the SDKs read besides the status: Anthropic's request-id, and
 * x-should-retry, so that an SDK retries only what a retry can fix (a
 * rate limit, an unavailable store) and never repeats chatgate's own
 * provider retries or a spent budget. */
void
cg_compat_headers(const cg_req_t *r, cg_buf_t *out)
{
    cg_http_headers(r, out);
    if (r->api == CG_API_ANTHROPIC) {
        cg_buf_adds(out, "\r\nrequest-id: ");
        cg_buf_adds(out, r->request_id);
    }
    if (r->err != CG_OK) {
        cg_buf_adds(out, r->err == CG_E_RATE_LIMITED
                         || r->err == CG_E_UNAVAILABLE
                         ? "\r\nx-should-retry: true"
                         : "\r\nx-should-retry: false");
    }
}


void
cg_compat_response(const cg_req_t *r, cg_buf_t *out)
{
    cg_buf_t body;

    cg_buf_init(&body);
    if (r->err == CG_OK) {
        cg_compat_ok_body(r, &body);
    } else {
        cg_compat_error_body(r, &body);
    }
    cg_buf_addc(&body, '\n');
    cg_buf_adds(out, "Status: ");
    cg_buf_adds(out, cg_http_status_line(cg_err_status(r->err)));
    cg_buf_adds(out, "\r\nContent-Type: application/json");
    cg_compat_headers(r, out);
    if (r->err == CG_E_METHOD) {
        cg_buf_adds(out, "\r\nAllow: POST");
    }
    cg_http_end(out, &body);
    cg_buf_free(&body);
}


/* ---- streams ---- */

static void
cg_compat_event(cg_buf_t *b, const char *name)
{
    cg_buf_adds(b, "event: ");
    cg_buf_adds(b, name);
    cg_buf_adds(b, "\ndata: {\"type\":\"");
    cg_buf_adds(b, name);
    cg_buf_addc(b, '"');
}


/* One chat.completion.chunk up to its choices array's first element. */
static void
cg_compat_chunk(cg_stream_t *s, const char *choices)
{
    cg_buf_t *b = &s->buf;

    cg_buf_adds(b, "data: {\"id\":");
    cg_buf_add(b, s->id, strlen(s->id));
    cg_buf_adds(b, ",\"object\":\"chat.completion.chunk\",\"created\":");
    cg_buf_add_long(b, s->created);
    cg_buf_adds(b, ",\"model\":");
    cg_buf_add_json_cstr(b, s->model);
    cg_buf_adds(b, ",\"choices\":[");
    cg_buf_adds(b, choices);
}


/* Input tokens before the provider has said: its count when it gave one
 * at the start (Anthropic), else the conversation's bytes / 4. The final
 * count comes in message_delta. */
static long
cg_compat_input_guess(const cg_req_t *r)
{
    size_t n = r->msgs_bytes + r->system_len;

    return r->input_tokens > 0 ? r->input_tokens
                               : (n / 4 > 0 ? (long) (n / 4) : 1);
}


void
cg_compat_sse_start(cg_stream_t *s, const cg_req_t *r)
{
    cg_buf_t *b = &s->buf;

    cg_compat_id_str(r, s->id, sizeof(s->id));
    s->model = r->model;
    s->created = (long long) cg_clock_now();
    if (r->api == CG_API_ANTHROPIC) {
        cg_compat_event(b, "message_start");
        cg_buf_adds(b, ",\"message\":{\"id\":");
        cg_buf_adds(b, s->id);
        cg_buf_adds(b, ",\"type\":\"message\",\"role\":\"assistant\","
                    "\"model\":");
        cg_buf_add_json_cstr(b, r->model);
        cg_buf_adds(b, ",\"content\":[],\"stop_reason\":null,"
                    "\"stop_sequence\":null,");
        cg_compat_anthropic_usage(b, cg_compat_input_guess(r), 0);
        cg_buf_adds(b, "}}\n\n");
        cg_compat_event(b, "content_block_start");
        cg_buf_adds(b, ",\"index\":0,\"content_block\":{\"type\":\"text\","
                    "\"text\":\"\"}}\n\n");
        cg_compat_sse_ping(s);
        return;
    }
    cg_compat_chunk(s, "{\"index\":0,\"delta\":{\"role\":\"assistant\","
                    "\"content\":\"\"},\"logprobs\":null,"
                    "\"finish_reason\":null}]}\n\n");
}


void
cg_compat_sse_delta(cg_stream_t *s, const char *text, size_t len)
{
    cg_buf_t *b = &s->buf;

    if (s->api == CG_API_ANTHROPIC) {
        cg_compat_event(b, "content_block_delta");
        cg_buf_adds(b, ",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                    "\"text\":");
        cg_buf_add_json_str(b, text, len);
        cg_buf_adds(b, "}}\n\n");
        return;
    }
    cg_compat_chunk(s, "{\"index\":0,\"delta\":{\"content\":");
    cg_buf_add_json_str(b, text, len);
    cg_buf_adds(b, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}


void
cg_compat_sse_ping(cg_stream_t *s)
{
    if (s->api == CG_API_ANTHROPIC) {
        cg_compat_event(&s->buf, "ping");
        cg_buf_adds(&s->buf, "}\n\n");
        return;
    }
    cg_buf_adds(&s->buf, ": ping\n\n");     /* an SSE comment: ignored */
}


void
cg_compat_sse_done(cg_stream_t *s, const cg_req_t *r)
{
    cg_buf_t   *b = &s->buf;
    const char *stop = cg_compat_stop(r->api, r->stop_reason);

    if (r->api == CG_API_ANTHROPIC) {
        cg_compat_event(b, "content_block_stop");
        cg_buf_adds(b, ",\"index\":0}\n\n");
        cg_compat_event(b, "message_delta");
        cg_buf_adds(b, ",\"delta\":{\"stop_reason\":\"");
        cg_buf_adds(b, stop);
        cg_buf_adds(b, "\",\"stop_sequence\":null},");
        cg_compat_anthropic_usage(b, r->input_tokens, r->output_tokens);
        cg_buf_adds(b, "}\n\n");
        cg_compat_event(b, "message_stop");
        cg_buf_adds(b, "}\n\n");
        return;
    }
    cg_compat_chunk(s, "{\"index\":0,\"delta\":{},\"logprobs\":null,"
                    "\"finish_reason\":\"");
    cg_buf_adds(b, stop);
    cg_buf_adds(b, "\"}]}\n\n");
    if (r->include_usage) {
        cg_compat_chunk(s, "],");
        cg_compat_openai_usage(b, r);
        cg_buf_adds(b, "}\n\n");
    }
    cg_buf_adds(b, "data: [DONE]\n\n");
}


void
cg_compat_sse_error(cg_stream_t *s, const cg_req_t *r)
{
    if (r->api == CG_API_ANTHROPIC) {
        cg_buf_adds(&s->buf, "event: error\ndata: ");
    } else {
        cg_buf_adds(&s->buf, "data: ");
    }
    cg_compat_error_body(r, &s->buf);
    cg_buf_adds(&s->buf, "\n\n");
}
