/*
 * guard: validation of the chat request body.
 *
 * The body must be a JSON object (read in one pass by lib/core/jtok, no
 * tree built: what json-c accepts with JSON_TOKENER_STRICT at depth 16, no
 * comments, no trailing data, every string valid UTF-8 by RFC 3629, the
 * last of duplicate keys counting) whose "message" is a
 * non-empty string of valid UTF-8 without NUL, at most max_chars characters.
 * Or, instead of "message", "messages": an array of {"role","content"}
 * turns that alternate user/assistant, start and end with the user, within
 * the message count and total size limits ("message" wins if both are
 * sent). Raw control characters inside strings are refused with their
 * byte offset (RFC 8259), never the content. "stream" (boolean) and
 * "route" (a name) are the only options.
 * Other fields are ignored: the client can never set the model, max_tokens,
 * system prompt or any other provider parameter. Fails the request with a
 * fixed 400 message; never echoes the input.
 */
#ifndef CG_GUARD_H
#define CG_GUARD_H

#include "core/req.h"

typedef struct {
    long    max_chars;          /* per message */
    long    max_messages;
    long    max_total_chars;
} cg_guard_limits_t;

/* Fills r->msgs (and r->message: the last user message), r->stream and
 * r->route_req. */
int cg_guard_parse(cg_req_t *r, const cg_guard_limits_t *l);
/* The byte offset of the first raw control character (U+0000-U+001F)
 * inside a JSON string of s[0..n), or -1 (RFC 8259 forbids them). */
long cg_guard_json_raw_control(const char *s, size_t n);
/* The same with the default conversation limits. */
int cg_guard_parse_chat(cg_req_t *r, long max_chars);

#endif
