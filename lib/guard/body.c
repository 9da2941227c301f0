#include "guard/body.h"
#include "core/jtok.h"
#include "core/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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


/* The fields of the body the guard reads; the rest is checked as JSON
 * and ignored. */
enum { CG_BODY_STREAM, CG_BODY_ROUTE, CG_BODY_MESSAGE, CG_BODY_MESSAGES };
static const char *const cg_body_paths[] = {
    "stream", "route", "message", "messages", NULL
};
static const char *const cg_turn_paths[] = { "role", "content", NULL };


/* One message text: a non-empty string of valid UTF-8 without NUL, at most
 * max_chars characters, decoded into *text (which the caller frees). */
static long
cg_guard_text(cg_req_t *r, const cg_jtok_val_t *v, long max_chars,
              cg_buf_t *text)
{
    long chars;

    if (cg_jtok_str(v, text) != 0) {
        cg_req_fail(r, CG_E_INVALID, "Message content must be a string.",
                    "message not a string");
        return -1;
    }
    if (text->oom) {
        cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
        return -1;
    }
    if (text->len == 0 || cg_guard_blank(text->data, text->len)) {
        cg_req_fail(r, CG_E_INVALID, "A message is empty.", "empty message");
        return -1;
    }
    chars = cg_utf8_count(text->data, text->len);
    if (chars < 0 || memchr(text->data, '\0', text->len) != NULL) {
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


/* The decoded text becomes the message's own: no second copy. */
static void
cg_guard_add(cg_req_t *r, int assistant, cg_buf_t *text)
{
    r->msgs[r->nmsgs].assistant = assistant;
    r->msgs[r->nmsgs].text = text->data;
    r->msgs[r->nmsgs].len = text->len;
    r->nmsgs++;
    r->msgs_bytes += text->len;
    cg_buf_init(text);
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


/* One message text checked and added; the decoded copy is wiped and
 * freed when it is refused. */
static long
cg_guard_take(cg_req_t *r, const cg_jtok_val_t *v, int assistant,
              long max_chars)
{
    cg_buf_t text;
    long     chars;

    cg_buf_init(&text);
    chars = cg_guard_text(r, v, max_chars, &text);
    if (chars < 0) {
        cg_buf_wipe(&text);
        cg_buf_free(&text);
        return -1;
    }
    cg_guard_add(r, assistant, &text);
    return chars;
}


static int
cg_guard_message(cg_req_t *r, const cg_jtok_val_t *msg,
                 const cg_guard_limits_t *l)
{
    if (msg->type != CG_JTOK_STRING) {
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"message\" must be a string.",
                           "message not a string");
    }
    r->msgs = calloc(1, sizeof(cg_msg_t));
    if (r->msgs == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    if (cg_guard_take(r, msg, 0, l->max_chars) < 0) {
        return -1;
    }
    return cg_guard_last(r);
}


/* {"role":"user"|"assistant","content":"..."}, roles alternating. A role
 * is compared up to its first NUL, as json-c's string was. */
static int
cg_guard_turn(cg_req_t *r, const cg_jtok_val_t *m, size_t i, long *total,
              const cg_guard_limits_t *l)
{
    cg_jtok_val_t v[2];
    const char   *want = (i % 2) ? "assistant" : "user";
    char          role[16];
    long          chars;

    if (cg_jtok_sub(m, cg_turn_paths, v) != 0
        || v[0].type == CG_JTOK_ABSENT || v[1].type == CG_JTOK_ABSENT) {
        return cg_req_fail(r, CG_E_INVALID, "Each message needs a \"role\" "
                           "and a \"content\".", "message without role or "
                           "content");
    }
    if (cg_jtok_cstr(&v[0], role, sizeof(role)) != 0
        || strcmp(role, want) != 0) {
        return cg_req_fail(r, CG_E_INVALID, "Roles must alternate user, "
                           "assistant, user ..., starting with user.",
                           "message %zu: role not %s", i, want);
    }
    chars = cg_guard_take(r, &v[1], (int) (i % 2), l->max_chars);
    if (chars < 0) {
        return -1;
    }
    *total += chars;
    if (*total > l->max_total_chars) {
        return cg_req_fail(r, CG_E_INVALID, "The conversation is too long.",
                           "conversation over max_total_chars");
    }
    return 0;
}


static size_t
cg_guard_count(const cg_jtok_val_t *a)
{
    cg_jtok_val_t e;
    size_t        pos = 0, n = 0;

    while (cg_jtok_next(a, &pos, &e)) {
        n++;
    }
    return n;
}


static int
cg_guard_messages(cg_req_t *r, const cg_jtok_val_t *a,
                  const cg_guard_limits_t *l)
{
    cg_jtok_val_t e;
    size_t        i, n, pos = 0;
    long          total = 0;

    if (a->type != CG_JTOK_ARRAY) {
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"messages\" must be an array.",
                           "messages not an array");
    }
    n = cg_guard_count(a);
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
    for (i = 0; i < n && cg_jtok_next(a, &pos, &e); i++) {
        if (cg_guard_turn(r, &e, i, &total, l) != 0) {
            return -1;
        }
    }
    return cg_guard_last(r);
}


/* "route": a name, kept whole (a NUL in it ends it, as it always did). */
static int
cg_guard_route(cg_req_t *r, const cg_jtok_val_t *v)
{
    cg_buf_t name;
    int      ok;

    cg_buf_init(&name);
    ok = cg_jtok_str(v, &name) == 0 && !name.oom && name.len > 0
         && name.len < sizeof(r->route_req);
    if (ok) {
        memcpy(r->route_req, name.data, name.len + 1);
    }
    cg_buf_free(&name);
    return ok ? 0 : cg_req_fail(r, CG_E_INVALID, "Field \"route\" must "
                                "name a route.", "bad route field");
}


/* "stream" and "route": the only other fields the client may set. */
static int
cg_guard_options(cg_req_t *r, const cg_jtok_val_t *f)
{
    const cg_jtok_val_t *v = &f[CG_BODY_STREAM];

    if (v->type != CG_JTOK_ABSENT) {
        if (v->type != CG_JTOK_BOOL) {
            return cg_req_fail(r, CG_E_INVALID, "Field \"stream\" must be "
                               "true or false.", "stream not a boolean");
        }
        r->stream = v->p[0] == 't';
    }
    if (r->accept && strstr(r->accept, "text/event-stream")) {
        r->stream = 1;
    }
    if (f[CG_BODY_ROUTE].type != CG_JTOK_ABSENT) {
        return cg_guard_route(r, &f[CG_BODY_ROUTE]);
    }
    return 0;
}


static int
cg_guard_conversation(cg_req_t *r, const cg_jtok_val_t *f,
                      const cg_guard_limits_t *l)
{
    if (cg_guard_options(r, f) != 0) {
        return -1;
    }
    /* "message" wins when both are sent, as before conversations. */
    if (f[CG_BODY_MESSAGE].type != CG_JTOK_ABSENT) {
        return cg_guard_message(r, &f[CG_BODY_MESSAGE], l);
    }
    if (f[CG_BODY_MESSAGES].type != CG_JTOK_ABSENT) {
        return cg_guard_messages(r, &f[CG_BODY_MESSAGES], l);
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


/* A refused body that is valid JSON but no object (an array, a string):
 * told apart by reading it as the one member of an object, on this error
 * path only. The member's value must be the whole body, or a body such as
 * 1,"v":2 would pass for one value. */
static int
cg_guard_is_json(const char *s, size_t n)
{
    static const char *const path[] = { "v", NULL };
    cg_jtok_val_t            v;
    cg_buf_t                 w;
    size_t                   lead = 0, at;
    int                      ok;

    while (lead < n && cg_guard_blank(s + lead, 1)) {
        lead++;
    }
    cg_buf_init(&w);
    cg_buf_add(&w, "{\"v\":", 5);
    cg_buf_add(&w, s, n);
    cg_buf_addc(&w, '}');
    ok = !w.oom && cg_jtok_pick_depth(w.data, w.len, CG_JSON_DEPTH + 1, path,
                                      &v) == 0
         && v.p == w.data + 5 + lead;
    if (ok) {
        at = (size_t) (v.p - w.data) + v.len;
        ok = cg_guard_blank(w.data + at, w.len - 1 - at);
    }
    cg_buf_wipe(&w);
    cg_buf_free(&w);
    return ok;
}


int
cg_guard_parse(cg_req_t *r, const cg_guard_limits_t *l)
{
    cg_jtok_val_t f[CG_BODY_MESSAGES + 1];

    if (r->body_len == 0) {
        return cg_req_fail(r, CG_E_INVALID, "The request body is empty.",
                           "empty body");
    }
    if (cg_guard_strict(r) != 0) {
        return -1;
    }
    if (cg_jtok_pick_depth(r->body, r->body_len, CG_JSON_DEPTH,
                           cg_body_paths, f) == 0) {
        return cg_guard_conversation(r, f, l);
    }
    if (cg_guard_is_json(r->body, r->body_len)) {
        return cg_req_fail(r, CG_E_INVALID,
                           "The request body must be a JSON object.",
                           "body not an object");
    }
    return cg_req_fail(r, CG_E_INVALID, "The request body is not valid JSON.",
                       "body not valid JSON");
}
