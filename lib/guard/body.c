#include "guard/body.h"
#include "core/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define CG_JSON_DEPTH  16
#define CG_JSON_CONTROL_MAX 0x1F    /* RFC 8259 7: U+0000-U+001F escaped */


static int
cg_guard_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            return 0;
        }
    }
    return 1;
}


/* One message text: a non-empty string of valid UTF-8 without NUL, at most
 * max_chars characters. what names the field in the client message. */
static long
cg_guard_text(cg_req_t *r, json_object *v, long max_chars)
{
    const char *s;
    size_t      n;
    long        chars;

    if (!json_object_is_type(v, json_type_string)) {
        cg_req_fail(r, CG_E_INVALID, "Message content must be a string.",
                    "message not a string");
        return -1;
    }
    s = json_object_get_string(v);
    n = (size_t) json_object_get_string_len(v);
    if (n == 0 || cg_guard_blank(s, n)) {
        cg_req_fail(r, CG_E_INVALID, "A message is empty.", "empty message");
        return -1;
    }
    chars = cg_utf8_count(s, n);
    if (chars < 0 || memchr(s, '\0', n) != NULL) {
        cg_req_fail(r, CG_E_INVALID, "A message is not valid UTF-8 text.",
                    "message not valid UTF-8");
        return -1;
    }
    if (chars > max_chars) {
        cg_req_fail(r, CG_E_INVALID, "A message is too long.",
                    "message of %ld characters over max_chars", chars);
        return -1;
    }
    return chars;
}


static int
cg_guard_add(cg_req_t *r, int assistant, json_object *v)
{
    size_t n = (size_t) json_object_get_string_len(v);
    char  *copy = malloc(n + 1);

    if (copy == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    memcpy(copy, json_object_get_string(v), n + 1);
    r->msgs[r->nmsgs].assistant = assistant;
    r->msgs[r->nmsgs].text = copy;
    r->msgs[r->nmsgs].len = n;
    r->nmsgs++;
    r->msgs_bytes += n;
    return 0;
}


/* The last message is also kept as r->message, as before conversations. */
static int
cg_guard_last(cg_req_t *r)
{
    cg_msg_t *m = &r->msgs[r->nmsgs - 1];

    r->message = malloc(m->len + 1);
    if (r->message == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    memcpy(r->message, m->text, m->len + 1);
    r->message_len = m->len;
    return 0;
}


static int
cg_guard_message(cg_req_t *r, json_object *msg, const cg_guard_limits_t *l)
{
    if (!json_object_is_type(msg, json_type_string)) {
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"message\" must be a string.",
                           "message not a string");
    }
    r->msgs = calloc(1, sizeof(cg_msg_t));
    if (r->msgs == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    if (cg_guard_text(r, msg, l->max_chars) < 0
        || cg_guard_add(r, 0, msg) != 0) {
        return -1;
    }
    return cg_guard_last(r);
}


/* {"role":"user"|"assistant","content":"..."}, roles alternating. */
static int
cg_guard_turn(cg_req_t *r, json_object *m, size_t i, long *total,
              const cg_guard_limits_t *l)
{
    json_object *role, *content;
    const char  *want = (i % 2) ? "assistant" : "user";
    long         chars;

    if (!json_object_is_type(m, json_type_object)
        || !json_object_object_get_ex(m, "role", &role)
        || !json_object_object_get_ex(m, "content", &content)) {
        return cg_req_fail(r, CG_E_INVALID, "Each message needs a \"role\" "
                           "and a \"content\".", "message without role or "
                           "content");
    }
    if (!json_object_is_type(role, json_type_string)
        || strcmp(json_object_get_string(role), want) != 0) {
        return cg_req_fail(r, CG_E_INVALID, "Roles must alternate user, "
                           "assistant, user ..., starting with user.",
                           "message %zu: role not %s", i, want);
    }
    chars = cg_guard_text(r, content, l->max_chars);
    if (chars < 0) {
        return -1;
    }
    *total += chars;
    if (*total > l->max_total_chars) {
        return cg_req_fail(r, CG_E_INVALID, "The conversation is too long.",
                           "conversation over max_total_chars");
    }
    return cg_guard_add(r, (int) (i % 2), content);
}


static int
cg_guard_messages(cg_req_t *r, json_object *a, const cg_guard_limits_t *l)
{
    size_t i, n;
    long   total = 0;

    if (!json_object_is_type(a, json_type_array)) {
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"messages\" must be an array.",
                           "messages not an array");
    }
    n = json_object_array_length(a);
    if (n == 0 || n % 2 == 0) {
        return cg_req_fail(r, CG_E_INVALID, "The conversation must start "
                           "and end with a user message.",
                           "messages: %zu turns", n);
    }
    if (n > (size_t) l->max_messages) {
        return cg_req_fail(r, CG_E_INVALID, "The conversation has too many "
                           "messages.", "%zu messages over max_messages", n);
    }
    r->msgs = calloc(n, sizeof(cg_msg_t));
    if (r->msgs == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    for (i = 0; i < n; i++) {
        if (cg_guard_turn(r, json_object_array_get_idx(a, i), i, &total,
                          l) != 0) {
            return -1;
        }
    }
    return cg_guard_last(r);
}


/* "stream" and "route": the only other fields the client may set. */
static int
cg_guard_options(cg_req_t *r, json_object *root)
{
    json_object *v;
    size_t       n;

    if (json_object_object_get_ex(root, "stream", &v)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return cg_req_fail(r, CG_E_INVALID, "Field \"stream\" must be "
                               "true or false.", "stream not a boolean");
        }
        r->stream = json_object_get_boolean(v);
    }
    if (r->accept && strstr(r->accept, "text/event-stream")) {
        r->stream = 1;
    }
    if (json_object_object_get_ex(root, "route", &v)) {
        n = json_object_is_type(v, json_type_string)
            ? (size_t) json_object_get_string_len(v) : 0;
        if (n == 0 || n >= sizeof(r->route_req)) {
            return cg_req_fail(r, CG_E_INVALID, "Field \"route\" must name "
                               "a route.", "bad route field");
        }
        memcpy(r->route_req, json_object_get_string(v), n + 1);
    }
    return 0;
}


static int
cg_guard_conversation(cg_req_t *r, json_object *root,
                      const cg_guard_limits_t *l)
{
    json_object *v;

    if (cg_guard_options(r, root) != 0) {
        return -1;
    }
    /* "message" wins when both are sent, as before conversations. */
    if (json_object_object_get_ex(root, "message", &v)) {
        return cg_guard_message(r, v, l);
    }
    if (json_object_object_get_ex(root, "messages", &v)) {
        return cg_guard_messages(r, v, l);
    }
    return cg_req_fail(r, CG_E_INVALID, "Field \"message\" is required.",
                       "no message field");
}


/* RFC 8259 section 7: inside a string every character below U+0020 must be
 * escaped. json-c's strict mode still takes raw ones (only NUL ends its
 * string), so this pre-scan refuses them, naming the byte offset and never
 * the content. Returns the offset of the first one, or -1. Outside strings
 * JSON allows only space, tab, LF and CR, which json-c already enforces. */
long
cg_guard_json_raw_control(const char *s, size_t n)
{
    size_t i;
    int    in_str = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if (!in_str) {
            in_str = c == '"';
        } else if (c <= CG_JSON_CONTROL_MAX) {
            return (long) i;
        } else if (c == '\\') {
            i++;                        /* the escaped byte, even a '"' */
            if (i < n && (unsigned char) s[i] <= CG_JSON_CONTROL_MAX) {
                return (long) i;
            }
        } else if (c == '"') {
            in_str = 0;
        }
    }
    return -1;
}


static int
cg_guard_strict(cg_req_t *r)
{
    long at = cg_guard_json_raw_control(r->body, r->body_len);

    if (at < 0) {
        return 0;
    }
    snprintf(r->err_text, sizeof(r->err_text), "The request body has a raw "
             "control character in a string at byte offset %ld; escape it "
             "(RFC 8259).", at);
    return cg_req_fail(r, CG_E_INVALID, r->err_text,
                       "raw control character in a JSON string at byte "
                       "offset %ld", at);
}


int
cg_guard_parse_chat(cg_req_t *r, long max_chars)
{
    cg_guard_limits_t l = { max_chars, 50, 50000 };

    return cg_guard_parse(r, &l);
}


int
cg_guard_parse(cg_req_t *r, const cg_guard_limits_t *l)
{
    json_tokener *tok;
    json_object  *root;
    int           rc;

    if (r->body_len == 0) {
        return cg_req_fail(r, CG_E_INVALID, "The request body is empty.",
                           "empty body");
    }
    if (cg_guard_strict(r) != 0) {
        return -1;
    }
    tok = json_tokener_new_ex(CG_JSON_DEPTH);
    if (tok == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, r->body, (int) r->body_len);
    if (root == NULL
        || json_tokener_get_parse_end(tok) != r->body_len) {
        json_object_put(root);
        json_tokener_free(tok);
        return cg_req_fail(r, CG_E_INVALID,
                           "The request body is not valid JSON.",
                           "body not valid JSON");
    }
    json_tokener_free(tok);
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return cg_req_fail(r, CG_E_INVALID,
                           "The request body must be a JSON object.",
                           "body not an object");
    }
    rc = cg_guard_conversation(r, root, l);
    json_object_put(root);
    return rc;
}
