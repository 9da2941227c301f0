#include "provider/provider.h"

#include <string.h>

#include <json-c/json.h>


static void
cg_anthropic_build(const cg_route_t *rt, const cg_req_t *r, const char *uid,
                   int stream, cg_buf_t *out)
{
    cg_buf_adds(out, "{\"model\":");
    cg_buf_add_json_cstr(out, rt->model);
    cg_buf_adds(out, ",\"max_tokens\":");
    cg_buf_add_long(out, cg_provider_max_tokens(rt, r));
    if (cg_provider_system(rt, r)) {
        cg_buf_adds(out, ",\"system\":");
        cg_buf_add_json_cstr(out, cg_provider_system(rt, r));
    }
    if (rt->temperature[0]) {
        cg_buf_adds(out, ",\"temperature\":");
        cg_buf_adds(out, rt->temperature);
    }
    if (uid[0]) {
        cg_buf_adds(out, ",\"metadata\":{\"user_id\":\"");
        cg_buf_adds(out, uid);              /* hex: nothing to escape */
        cg_buf_adds(out, "\"}");
    }
    if (stream) {
        cg_buf_adds(out, ",\"stream\":true");
    }
    cg_buf_adds(out, ",\"messages\":[");
    cg_provider_add_turns(r, out);
    cg_buf_adds(out, "]}");
}


static void
cg_anthropic_headers(const cg_route_t *rt, cg_buf_t *out)
{
    cg_buf_adds(out, "anthropic-version: ");
    cg_buf_adds(out, rt->anthropic_version);
    cg_buf_adds(out, "\n");
}


static long
cg_anthropic_int(json_object *obj, const char *name)
{
    json_object *v;

    return json_object_object_get_ex(obj, name, &v)
           ? cg_provider_tokens(v) : 0;
}


/* input_tokens excludes cached tokens; the prompt's full size is the sum
 * of the three. */
static void
cg_anthropic_usage(json_object *usage, cg_pstream_t *ps, int with_output)
{
    json_object *v;

    if (!json_object_is_type(usage, json_type_object)) {
        return;
    }
    if (json_object_object_get_ex(usage, "input_tokens", &v)
        && json_object_is_type(v, json_type_int)) {
        ps->input_tokens = cg_anthropic_int(usage, "input_tokens")
            + cg_anthropic_int(usage, "cache_creation_input_tokens")
            + cg_anthropic_int(usage, "cache_read_input_tokens");
        ps->have_input = 1;
    }
    if (json_object_object_get_ex(usage, "output_tokens", &v)
        && json_object_is_type(v, json_type_int)) {
        ps->output_tokens = cg_anthropic_int(usage, "output_tokens");
        ps->have_output |= with_output;
    }
}


static int
cg_anthropic_text(json_object *content, cg_buf_t *text)
{
    json_object *block, *type, *t;
    size_t       i, n;

    if (!json_object_is_type(content, json_type_array)) {
        return -1;
    }
    n = json_object_array_length(content);
    for (i = 0; i < n; i++) {
        block = json_object_array_get_idx(content, i);
        if (!json_object_object_get_ex(block, "type", &type)
            || strcmp(json_object_get_string(type), "text") != 0) {
            continue;       /* tool_use, thinking ...: not shown */
        }
        if (!json_object_object_get_ex(block, "text", &t)
            || !json_object_is_type(t, json_type_string)) {
            return -1;
        }
        cg_buf_add(text, json_object_get_string(t),
                   (size_t) json_object_get_string_len(t));
    }
    return 0;
}


static int
cg_anthropic_parse(const char *body, size_t len, cg_buf_t *text,
                   cg_pstream_t *ps)
{
    json_object *root, *content, *usage, *v;
    int          rc = -1;

    root = cg_provider_json(body, len);
    /* An answer without usage (a proxy that strips it) is still an
     * answer: the relay estimates what it cost. */
    if (root
        && json_object_object_get_ex(root, "content", &content)
        && cg_anthropic_text(content, text) == 0) {
        if (json_object_object_get_ex(root, "usage", &usage)) {
            cg_anthropic_usage(usage, ps, 1);
        }
        if (json_object_object_get_ex(root, "stop_reason", &v)) {
            cg_provider_ident(v, ps->stop_reason, sizeof(ps->stop_reason));
        }
        rc = 0;
    }
    json_object_put(root);
    return rc;
}


static int
cg_anthropic_event(cg_pstream_t *ps, const char *event, const char *data,
                   size_t len, cg_buf_t *delta)
{
    json_object *root, *o, *v;
    int          rc = 0;

    if (strcmp(event, "ping") == 0) {
        return 0;
    }
    root = cg_provider_json(data, len);
    if (root == NULL) {
        return -1;
    }
    if (strcmp(event, "content_block_delta") == 0) {
        if (json_object_object_get_ex(root, "delta", &o)
            && json_object_object_get_ex(o, "text", &v)
            && json_object_is_type(v, json_type_string)) {
            cg_buf_add(delta, json_object_get_string(v),
                       (size_t) json_object_get_string_len(v));
        }
    } else if (strcmp(event, "message_start") == 0) {
        if (json_object_object_get_ex(root, "message", &o)
            && json_object_object_get_ex(o, "usage", &v)) {
            cg_anthropic_usage(v, ps, 0);
        }
    } else if (strcmp(event, "message_delta") == 0) {
        /* Cumulative counts: they replace, never add to, message_start's. */
        if (json_object_object_get_ex(root, "usage", &v)) {
            cg_anthropic_usage(v, ps, 1);
        }
        if (json_object_object_get_ex(root, "delta", &o)
            && json_object_object_get_ex(o, "stop_reason", &v)) {
            cg_provider_ident(v, ps->stop_reason, sizeof(ps->stop_reason));
        }
    } else if (strcmp(event, "message_stop") == 0) {
        ps->done = 1;
        rc = 1;
    } else if (strcmp(event, "error") == 0) {
        if (json_object_object_get_ex(root, "error", &o)
            && json_object_object_get_ex(o, "type", &v)) {
            cg_provider_ident(v, ps->err_type, sizeof(ps->err_type));
        }
        rc = -1;
    }
    json_object_put(root);
    return rc;
}


const cg_provider_t cg_provider_anthropic = {
    "anthropic", "/v1/messages", CG_AUTH_X_API_KEY,
    cg_anthropic_build, cg_anthropic_headers, cg_anthropic_parse,
    cg_anthropic_event,
};
