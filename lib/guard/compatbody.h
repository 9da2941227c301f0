/*
 * compatbody: the body of a provider-compatible request (issue 20), read
 * in the provider's format (Anthropic Messages or OpenAI Chat Completions)
 * and turned into chatgate's own conversation, which then goes through
 * the one body parser (lib/guard/body) with all its rules: roles that
 * alternate, UTF-8, per-message and total limits.
 *
 * Only the fields of a documented allow-list are accepted (docs/sdk.md);
 * anything else, tool use, images and other non-text content, and n > 1
 * are refused with a fixed 400 message, never silently dropped, and the
 * caller's text is never echoed. What the caller may set: the model (a
 * route or its model, mapped by the pipeline), a max_tokens that can only
 * lower the route's, "stream", OpenAI's stream_options.include_usage, and
 * a system prompt (refused later when the route fixes one). metadata and
 * user are accepted and not forwarded (chatgate sends its own
 * pseudonymous user id).
 */
#ifndef CG_COMPATBODY_H
#define CG_COMPATBODY_H

#include "core/req.h"
#include "guard/body.h"

/* Fills r as cg_guard_parse() does, plus r->model_req, r->max_tokens,
 * r->include_usage and r->system, from a body in r->api's format. */
int cg_compatbody_parse(cg_req_t *r, const cg_guard_limits_t *l);

#endif
