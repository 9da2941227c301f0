/*
 * http: admission and responses.
 *
 * cg_http_admit() runs before the body is read: path, method, content type
 * and declared length, so an oversized body is refused without reading it.
 * It also refuses cross-site requests (403 cross_site_request): an Origin
 * not listed in [http] allowed_origins (exact scheme://host:port), a
 * Referer outside them, Sec-Fetch-Site: cross-site, and a cookie request
 * with neither Origin nor Referer. Service tokens (Bearer cgt_...) are
 * server to server and exempt. An OPTIONS from an allowed origin is a CORS
 * preflight: admit returns 1 and the response is a 204; CORS headers are
 * only ever sent for an allowed origin.
 * Before any of that it refuses (400 invalid_request) an ambiguous request:
 * a header that admission or the who stage reads (Origin, Referer,
 * Sec-Fetch-Site, Cookie, Authorization, Content-Type, Content-Length,
 * X-Forwarded-For) sent twice, whether the web server passes the copies as
 * separate params (nginx before 1.23) or joins them into one value (nginx
 * 1.23+, Apache, lighttpd: ", ", "; " for Cookie), and a session cookie
 * name that appears twice. The first value never silently wins.
 * cg_http_response() is the one place a request's outcome becomes an HTTP
 * response (CGI-style "Status:" header block plus body): a JSON answer, or
 * the JSON error {"error":{"type","message"},"request_id"} whose message is
 * fixed text from chatgate, never the provider's.
 */
#ifndef CG_HTTP_H
#define CG_HTTP_H

#include "core/buf.h"
#include "conf/config.h"
#include "core/req.h"

/* The header name (as "Origin") of the first header admission or the who
 * stage reads that appears more than once in envp ("NAME=value" strings,
 * NULL-terminated, as CGI and FastCGI pass them), or NULL. */
const char *cg_http_dup_param(char *const *envp);
/* r's fields from the web server (method, uri or else SCRIPT_NAME,
 * content_type ... x_api_key, dup_header), from envp in one pass: each
 * the first param of its name, NULL when absent. */
void cg_http_params(cg_req_t *r, char *const *envp);
/* 0: go on; -1: r failed; 1: answered (preflight), do not read the body. */
int  cg_http_admit(const cg_conf_t *conf, cg_req_t *r);
/* The answer; a provider-compatible request's in its provider's format
 * (lib/http/compat.h). */
void cg_http_response(const cg_req_t *r, cg_buf_t *out);
/* The checks of the body's declared type and size (415, 413), which the
 * compatible endpoints share. */
int  cg_http_admit_body(const cg_conf_t *conf, cg_req_t *r);
/* Ends a header block with Content-Length and appends the body. */
void cg_http_end(cg_buf_t *out, const cg_buf_t *body);
/* "200 OK" ... for a status code. */
const char *cg_http_status_line(int status);
/* A fixed 500 internal_error answer for when building the real one ran out
 * of memory: written into out[cap], allocating nothing. Returns its length
 * (0: cap too small). */
size_t cg_http_fallback(const cg_req_t *r, char *out, size_t cap);
/* The headers every answer carries, JSON or stream: no-store, nosniff,
 * request id, CORS for an allowed origin, Retry-After and the RateLimit
 * fields. Each starts with CRLF; the caller ends the block. */
void cg_http_headers(const cg_req_t *r, cg_buf_t *out);

#endif
