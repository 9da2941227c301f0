#include "guard/compatbody.h"
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define CG_CB_JSON_DEPTH   16
#define CG_CB_TOKENS_MAX   1000000000L

static const char cg_cb_tools_msg[] =
    "Tool use is not supported here.";
static const char cg_cb_media_msg[] =
    "Only text content is supported here (no images, documents or tool "
    "results).";
static const char cg_cb_field_msg[] =
    "A field of the request is not supported here (docs/sdk.md lists the "
    "fields chatgate accepts).";

/* Provider fields a caller may well send: named in the operator's log
 * when refused (any other name is the caller's text and is not). */
static const char *const cg_cb_known[] = {
    "temperature", "top_p", "top_k", "stop_sequences", "stop", "thinking",
    "service_tier", "frequency_penalty", "presence_penalty", "logit_bias",
    "logprobs", "top_logprobs", "response_format", "seed", "modalities",
    "audio", "prediction", "reasoning_effort", "store", "metadata",
    "container", "mcp_servers", "web_search_options", "verbosity",
    "cache_control", "name", "citations", NULL
};

static const char *const cg_cb_tools[] = {
    "tools", "tool_choice", "functions", "function_call",
    "parallel_tool_calls", "tool_calls", "tool_call_id", NULL
};


static int
cg_cb_in(const char *const *list, const char *s)
{
    for (; *list; list++) {
        if (strcmp(*list, s) == 0) {
            return 1;
        }
    }
    return 0;
}


/* Refuses field name (not in allowed): tool use, or another field. */
static int
cg_cb_refuse(cg_req_t *r, const char *name)
{
    if (cg_cb_in(cg_cb_tools, name)) {
        return cg_req_fail(r, CG_E_INVALID, cg_cb_tools_msg,
                           "compat: tool use (%s) refused", name);
    }
    return cg_req_fail(r, CG_E_INVALID, cg_cb_field_msg,
                       "compat: field %s not supported",
                       cg_cb_in(cg_cb_known, name) ? name
                       : "(not a known provider field)");
}


/* Every key of obj must be in allowed. */
static int
cg_cb_only(cg_req_t *r, json_object *obj, const char *const *allowed)
{
    json_object_object_foreach(obj, key, val) {
        (void) val;
        if (!cg_cb_in(allowed, key)) {
            return cg_cb_refuse(r, key);
        }
    }
    return 0;
}


/* A text block {"type":"text","text":"..."}: appends its text. */
static int
cg_cb_block(cg_req_t *r, json_object *blk, cg_buf_t *out)
{
    static const char *const keys[] = { "type", "text", NULL };
    json_object *type, *text;

    if (!json_object_is_type(blk, json_type_object)
        || !json_object_object_get_ex(blk, "type", &type)
        || !json_object_is_type(type, json_type_string)) {
        return cg_req_fail(r, CG_E_INVALID, "Each content block needs a "
                           "\"type\".", "compat: content block without "
                           "type");
    }
    if (strcmp(json_object_get_string(type), "text") != 0) {
        return cg_req_fail(r, CG_E_INVALID, cg_cb_media_msg, "compat: "
                           "non-text content block refused");
    }
    if (cg_cb_only(r, blk, keys) != 0) {
        return -1;
    }
    if (!json_object_object_get_ex(blk, "text", &text)
        || !json_object_is_type(text, json_type_string)) {
        return cg_req_fail(r, CG_E_INVALID, "A text block needs a string "
                           "\"text\".", "compat: text block without text");
    }
    cg_buf_add(out, json_object_get_string(text),
               (size_t) json_object_get_string_len(text));
    return 0;
}


/* Content: a string, or an array of text blocks (joined). */
static int
cg_cb_content(cg_req_t *r, json_object *v, cg_buf_t *out)
{
    size_t i, n;

    if (json_object_is_type(v, json_type_string)) {
        cg_buf_add(out, json_object_get_string(v),
                   (size_t) json_object_get_string_len(v));
        return 0;
    }
    if (!json_object_is_type(v, json_type_array)) {
        return cg_req_fail(r, CG_E_INVALID, "Message content must be a "
                           "string or an array of text blocks.",
                           "compat: content neither string nor array");
    }
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        if (cg_cb_block(r, json_object_array_get_idx(v, i), out) != 0) {
            return -1;
        }
    }
    return 0;
}


/* The caller's system prompt, r->system; OpenAI's system messages are
 * joined by a blank line. */
static int
cg_cb_system(cg_req_t *r, json_object *v)
{
    cg_buf_t b;
    char    *p;
    int      rc;

    cg_buf_init(&b);
    rc = cg_cb_content(r, v, &b);
    if (rc == 0 && b.len > 0) {
        p = realloc(r->system, r->system_len + b.len + 3);
        if (p == NULL || b.oom) {
            rc = cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory");
        } else {
            if (r->system_len) {
                memcpy(p + r->system_len, "\n\n", 2);
                r->system_len += 2;
            }
            memcpy(p + r->system_len, b.data, b.len);
            r->system_len += b.len;
            p[r->system_len] = '\0';
            r->system = p;
        }
    }
    cg_buf_free(&b);
    return rc;
}


/* One turn, appended to out as chatgate's {"role","content"}. */
static int
cg_cb_turn(cg_req_t *r, json_object *m, int *turns, cg_buf_t *out)
{
    static const char *const keys[] = { "role", "content", NULL };
    json_object *role, *content;
    const char  *rs;
    cg_buf_t     text;
    int          rc;

    if (!json_object_is_type(m, json_type_object)
        || !json_object_object_get_ex(m, "role", &role)
        || !json_object_is_type(role, json_type_string)
        || !json_object_object_get_ex(m, "content", &content)) {
        return cg_req_fail(r, CG_E_INVALID, "Each message needs a \"role\" "
                           "and a \"content\".", "compat: message without "
                           "role or content");
    }
    rs = json_object_get_string(role);
    if (strcmp(rs, "tool") == 0 || strcmp(rs, "function") == 0) {
        return cg_req_fail(r, CG_E_INVALID, cg_cb_tools_msg,
                           "compat: tool message refused");
    }
    if (cg_cb_only(r, m, keys) != 0) {
        return -1;
    }
    if (r->api == CG_API_OPENAI
        && (strcmp(rs, "system") == 0 || strcmp(rs, "developer") == 0)) {
        if (*turns > 0) {
            return cg_req_fail(r, CG_E_INVALID, "System messages must come "
                               "before the conversation.",
                               "compat: system message after a turn");
        }
        return cg_cb_system(r, content);
    }
    if (strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0) {
        return cg_req_fail(r, CG_E_INVALID, "A message role must be user or "
                           "assistant.", "compat: unknown role");
    }
    cg_buf_init(&text);
    rc = cg_cb_content(r, content, &text);
    if (rc == 0) {
        cg_buf_adds(out, (*turns)++ ? ",{\"role\":\"" : "{\"role\":\"");
        cg_buf_adds(out, rs);
        cg_buf_adds(out, "\",\"content\":");
        cg_buf_add_json_str(out, text.data ? text.data : "", text.len);
        cg_buf_addc(out, '}');
    }
    if (text.data) {
        cg_buf_wipe_bytes(text.data, text.len);
    }
    cg_buf_free(&text);
    return rc;
}


static int
cg_cb_messages(cg_req_t *r, json_object *a, cg_buf_t *out)
{
    size_t i, n;
    int    turns = 0;

    if (!json_object_is_type(a, json_type_array)) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"messages\" must be an "
                           "array.", "compat: messages not an array");
    }
    n = json_object_array_length(a);
    cg_buf_adds(out, "\"messages\":[");
    for (i = 0; i < n; i++) {
        if (cg_cb_turn(r, json_object_array_get_idx(a, i), &turns, out)
            != 0) {
            return -1;
        }
    }
    cg_buf_addc(out, ']');
    return 0;
}


static int
cg_cb_model(cg_req_t *r, json_object *root)
{
    json_object *v;
    size_t       n;

    if (!json_object_object_get_ex(root, "model", &v)
        || !json_object_is_type(v, json_type_string)) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"model\" is required "
                           "and must be a string.", "compat: no model");
    }
    n = (size_t) json_object_get_string_len(v);
    if (n == 0 || n >= sizeof(r->model_req)) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"model\" must name a "
                           "model.", "compat: bad model field");
    }
    memcpy(r->model_req, json_object_get_string(v), n + 1);
    return 0;
}


/* max_tokens (or max_completion_tokens): a positive integer, which can
 * only lower the route's own cap. */
static int
cg_cb_max_tokens(cg_req_t *r, json_object *root, const char *name,
                 int required)
{
    json_object *v;
    int64_t      n;

    if (!json_object_object_get_ex(root, name, &v)) {
        return required ? cg_req_fail(r, CG_E_INVALID, "Field \"max_tokens\""
                                      " is required.", "compat: no "
                                      "max_tokens") : 0;
    }
    n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
    if (n < 1 || n > CG_CB_TOKENS_MAX) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"max_tokens\" must be a "
                           "positive integer.", "compat: bad max_tokens");
    }
    if (r->max_tokens == 0 || n < r->max_tokens) {
        r->max_tokens = (long) n;
    }
    return 0;
}


static int
cg_cb_bool(cg_req_t *r, json_object *obj, const char *name, int *out)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, name, &v)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        return cg_req_fail(r, CG_E_INVALID, "A boolean field is not true or "
                           "false.", "compat: %s not a boolean", name);
    }
    *out = json_object_get_boolean(v);
    return 0;
}


/* metadata {"user_id"} and user: accepted, not forwarded. */
static int
cg_cb_ignored(cg_req_t *r, json_object *root)
{
    static const char *const keys[] = { "user_id", NULL };
    json_object *v;

    if (json_object_object_get_ex(root, "metadata", &v)
        && (!json_object_is_type(v, json_type_object)
            || cg_cb_only(r, v, keys) != 0)) {
        return r->err ? -1 : cg_req_fail(r, CG_E_INVALID, cg_cb_field_msg,
                                         "compat: metadata not an object");
    }
    if (json_object_object_get_ex(root, "user", &v)
        && !json_object_is_type(v, json_type_string)) {
        return cg_req_fail(r, CG_E_INVALID, cg_cb_field_msg,
                           "compat: user not a string");
    }
    return 0;
}


static int
cg_cb_anthropic(cg_req_t *r, json_object *root)
{
    static const char *const keys[] = { "model", "max_tokens", "messages",
                                        "system", "stream", "metadata",
                                        NULL };
    json_object *v;

    if (cg_cb_only(r, root, keys) != 0
        || cg_cb_max_tokens(r, root, "max_tokens", 1) != 0) {
        return -1;
    }
    if (json_object_object_get_ex(root, "system", &v)) {
        return cg_cb_system(r, v);
    }
    return 0;
}


static int
cg_cb_openai(cg_req_t *r, json_object *root)
{
    static const char *const keys[] = { "model", "messages", "stream",
                                        "stream_options", "max_tokens",
                                        "max_completion_tokens", "n",
                                        "user", NULL };
    static const char *const opts[] = { "include_usage", NULL };
    json_object *v;

    if (cg_cb_only(r, root, keys) != 0
        || cg_cb_max_tokens(r, root, "max_tokens", 0) != 0
        || cg_cb_max_tokens(r, root, "max_completion_tokens", 0) != 0) {
        return -1;
    }
    if (json_object_object_get_ex(root, "n", &v)
        && (!json_object_is_type(v, json_type_int)
            || json_object_get_int64(v) != 1)) {
        return cg_req_fail(r, CG_E_INVALID, "Only n = 1 is supported.",
                           "compat: n other than 1");
    }
    if (json_object_object_get_ex(root, "stream_options", &v)) {
        if (!json_object_is_type(v, json_type_object)) {
            return cg_req_fail(r, CG_E_INVALID, cg_cb_field_msg,
                               "compat: stream_options not an object");
        }
        if (cg_cb_only(r, v, opts) != 0
            || cg_cb_bool(r, v, "include_usage", &r->include_usage) != 0) {
            return -1;
        }
    }
    return 0;
}


/* The provider body as chatgate's {"messages":[...],"stream":...}. */
static int
cg_cb_translate(cg_req_t *r, json_object *root, cg_buf_t *out)
{
    int stream = 0;

    if (!json_object_is_type(root, json_type_object)) {
        return cg_req_fail(r, CG_E_INVALID, "The request body must be a "
                           "JSON object.", "body not an object");
    }
    if ((r->api == CG_API_ANTHROPIC ? cg_cb_anthropic(r, root)
                                    : cg_cb_openai(r, root)) != 0
        || cg_cb_model(r, root) != 0 || cg_cb_ignored(r, root) != 0
        || cg_cb_bool(r, root, "stream", &stream) != 0) {
        return -1;
    }
    cg_buf_addc(out, '{');
    if (!json_object_object_get_ex(root, "messages", NULL)) {
        return cg_req_fail(r, CG_E_INVALID, "Field \"messages\" is "
                           "required.", "compat: no messages");
    }
    if (cg_cb_messages(r, json_object_object_get(root, "messages"), out)
        != 0) {
        return -1;
    }
    cg_buf_adds(out, stream ? ",\"stream\":true}" : ",\"stream\":false}");
    return out->oom ? cg_req_fail(r, CG_E_INTERNAL, NULL, "out of memory")
                    : 0;
}


static json_object *
cg_cb_json(const char *s, size_t len)
{
    json_tokener *tok = json_tokener_new_ex(CG_CB_JSON_DEPTH);
    json_object  *root;

    if (tok == NULL) {
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, s, (int) len);
    if (root && json_tokener_get_parse_end(tok) != len) {
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    return root;
}


int
cg_compatbody_parse(cg_req_t *r, const cg_guard_limits_t *l)
{
    const char  *body = r->body;
    size_t       len = r->body_len;
    json_object *root;
    cg_buf_t     own;
    int          rc;

    if (len == 0) {
        return cg_req_fail(r, CG_E_INVALID, "The request body is empty.",
                           "empty body");
    }
    root = cg_cb_json(body, len);
    if (root == NULL) {
        return cg_req_fail(r, CG_E_INVALID, "The request body is not valid "
                           "JSON.", "body not valid JSON");
    }
    cg_buf_init(&own);
    rc = cg_cb_translate(r, root, &own);
    json_object_put(root);
    if (rc == 0) {
        /* The one body parser decides the conversation's rules. */
        r->body = own.data;
        r->body_len = own.len;
        rc = cg_guard_parse(r, l);
        r->body = body;
        r->body_len = len;
    }
    if (own.data) {
        cg_buf_wipe_bytes(own.data, own.len);
    }
    cg_buf_free(&own);
    return rc;
}
