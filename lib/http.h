/*
 * http: admission and responses.
 *
 * cg_http_admit() runs before the body is read: path, method, content type
 * and declared length, so an oversized body is refused without reading it.
 * cg_http_response() is the one place a request's outcome becomes an HTTP
 * response (CGI-style "Status:" header block plus body): a JSON answer, or
 * the JSON error {"error":{"type","message"},"request_id"} whose message is
 * fixed text from chatgate, never the provider's.
 */
#ifndef CG_HTTP_H
#define CG_HTTP_H

#include "buf.h"
#include "config.h"
#include "req.h"

int  cg_http_admit(const cg_conf_t *conf, cg_req_t *r);
void cg_http_response(const cg_req_t *r, cg_buf_t *out);

#endif
