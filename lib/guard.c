#include "guard.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define CG_JSON_DEPTH  16


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


static int
cg_guard_message(cg_req_t *r, json_object *root, long max_chars)
{
    json_object *msg;
    const char  *s;
    size_t       n;
    long         chars;

    if (!json_object_object_get_ex(root, "message", &msg)) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"message\" is required.",
                           "no message field");
    }
    if (!json_object_is_type(msg, json_type_string)) {
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"message\" must be a string.",
                           "message not a string");
    }
    s = json_object_get_string(msg);
    n = (size_t) json_object_get_string_len(msg);
    if (n == 0 || cg_guard_blank(s, n)) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"message\" is empty.",
                           "empty message");
    }
    chars = cg_utf8_count(s, n);
    if (chars < 0 || memchr(s, '\0', n) != NULL) {
        return cg_req_fail(r, CG_E_INVALID,
                           "Field \"message\" is not valid UTF-8 text.",
                           "message not valid UTF-8");
    }
    if (chars > max_chars) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"message\" is too long.",
                           "message of %ld characters over max_chars",
                           chars);
    }
    r->message = malloc(n + 1);
    if (r->message == NULL) {
        return cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
    }
    memcpy(r->message, s, n + 1);
    r->message_len = n;
    return 0;
}


int
cg_guard_parse_chat(cg_req_t *r, long max_chars)
{
    json_tokener *tok;
    json_object  *root;
    int           rc;

    if (r->body_len == 0) {
        return cg_req_fail(r, CG_E_INVALID, "The request body is empty.",
                           "empty body");
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
    rc = cg_guard_message(r, root, max_chars);
    json_object_put(root);
    return rc;
}
