/*
 * compat: the provider-compatible endpoints (issue 20), so that a site's
 * own backend services can use the official Anthropic and OpenAI SDKs
 * with a chatgate service token instead of the provider key:
 *
 *   POST <prefix>/v1/messages          Anthropic Messages
 *   POST <prefix>/v1/chat/completions  OpenAI Chat Completions
 *
 * (<prefix> is [server] llm_prefix, default /api/llm.) This module is the
 * front of those requests and nothing else: admission (POST, JSON, size,
 * no browser, the credential: a cgt_ service token and only that) and the
 * answer in the provider's own wire format: the JSON body, the error body
 * and status, and the Server-Sent Events of a streamed answer. Everything
 * between (who, limits, guards, route, provider, settle) is the one chat
 * pipeline (lib/pipeline/chat.c); the body is read by lib/guard/compatbody.
 * It never puts caller text in an error message, never answers a browser
 * and never accepts a provider key: one sent by a caller is refused and
 * flagged "provider_key_sent" (in x-api-key or Authorization, whichever
 * the credential was) so the operator hears of the exposure.
 */
#ifndef CG_COMPAT_H
#define CG_COMPAT_H

#include "core/buf.h"
#include "conf/config.h"
#include "core/req.h"
#include "http/stream.h"

/* Which compatible endpoint uri is (CG_API_CHAT: none of them). */
cg_api_t cg_compat_api(const cg_conf_t *conf, const char *uri);
/* Admission of a request to endpoint api: 0 to go on, -1 with r failed.
 * Sets r->api and r->service_token. */
int  cg_compat_admit(const cg_conf_t *conf, cg_req_t *r, cg_api_t api);
/* The whole HTTP answer (CGI header block and body) in r->api's format. */
void cg_compat_response(const cg_req_t *r, cg_buf_t *out);

/* The headers of an answer, JSON or stream: those every answer carries
 * (cg_http_headers), Anthropic's request-id, and on an error
 * x-should-retry. Each starts with CRLF; the caller ends the block. */
void cg_compat_headers(const cg_req_t *r, cg_buf_t *out);
/* The streamed answer in r->api's format, appended to s->buf (the caller
 * sends it): start (headers and the opening events), one text delta, a
 * keep-alive, the end (stop reason, usage) and a mid-stream error. */
void cg_compat_sse_start(cg_stream_t *s, const cg_req_t *r);
void cg_compat_sse_delta(cg_stream_t *s, const char *text, size_t len);
void cg_compat_sse_ping(cg_stream_t *s);
void cg_compat_sse_done(cg_stream_t *s, const cg_req_t *r);
void cg_compat_sse_error(cg_stream_t *s, const cg_req_t *r);

#endif
