/*
 * guard: validation of the chat request body.
 *
 * The body must be a JSON object (strict json-c parsing: no comments, no
 * trailing data, UTF-8 validated, bounded nesting) whose "message" is a
 * non-empty string of valid UTF-8 without NUL, at most max_chars characters.
 * Other fields are ignored: the client can never set the model, max_tokens,
 * system prompt or any other provider parameter. Fails the request with a
 * fixed 400 message; never echoes the input.
 */
#ifndef CG_GUARD_H
#define CG_GUARD_H

#include "req.h"

int cg_guard_parse_chat(cg_req_t *r, long max_chars);

#endif
