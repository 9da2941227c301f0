#include "provider.h"

#include <string.h>

#include <json-c/json.h>


void
cg_anthropic_build(const cg_conf_t *conf, const char *msg, size_t len,
                   cg_buf_t *out)
{
    cg_buf_adds(out, "{\"model\":");
    cg_buf_add_json_cstr(out, conf->model);
    cg_buf_adds(out, ",\"max_tokens\":");
    cg_buf_add_long(out, conf->max_tokens);
    if (conf->system_prompt_text && conf->system_prompt_text[0]) {
        cg_buf_adds(out, ",\"system\":");
        cg_buf_add_json_cstr(out, conf->system_prompt_text);
    }
    cg_buf_adds(out, ",\"messages\":[{\"role\":\"user\",\"content\":");
    cg_buf_add_json_str(out, msg, len);
    cg_buf_adds(out, "}]}");
}


static long
cg_anthropic_int(json_object *obj, const char *name)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, name, &v)
        || !json_object_is_type(v, json_type_int)) {
        return 0;
    }
    return (long) json_object_get_int64(v);
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


int
cg_anthropic_parse(const char *body, size_t len, cg_buf_t *text,
                   long *input_tokens, long *output_tokens)
{
    json_tokener *tok;
    json_object  *root, *content, *usage;
    int           rc = -1;

    tok = json_tokener_new_ex(32);
    if (tok == NULL) {
        return -1;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, body, (int) len);
    if (root && json_tokener_get_parse_end(tok) == len
        && json_object_is_type(root, json_type_object)
        && json_object_object_get_ex(root, "content", &content)
        && json_object_object_get_ex(root, "usage", &usage)
        && json_object_is_type(usage, json_type_object)
        && cg_anthropic_text(content, text) == 0) {
        /* input_tokens excludes cached tokens; the prompt's full size is
         * the sum of the three. */
        *input_tokens = cg_anthropic_int(usage, "input_tokens")
                        + cg_anthropic_int(usage,
                                           "cache_creation_input_tokens")
                        + cg_anthropic_int(usage, "cache_read_input_tokens");
        *output_tokens = cg_anthropic_int(usage, "output_tokens");
        rc = 0;
    }
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}
