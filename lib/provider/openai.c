#include "provider/provider.h"

#include <string.h>

#include <json-c/json.h>


/* Reasoning models reject sampling parameters and max_tokens. */
static int
cg_openai_reasoning(const char *model)
{
    static const char *const prefix[] = { "o1", "o3", "o4", "gpt-5", NULL };
    const char *const       *p;

    for (p = prefix; *p; p++) {
        if (strncmp(model, *p, strlen(*p)) == 0) {
            return 1;
        }
    }
    return 0;
}


int
cg_provider_openai_max_tokens_param(const cg_route_t *rt)
{
    if (rt->max_tokens_param != CG_TOKPARAM_AUTO) {
        return rt->max_tokens_param;
    }
    /* OpenAI and Azure deprecated max_tokens; compatible servers (Ollama,
     * vLLM, Groq ...) may only know the old name. */
    if (rt->url[0] || strstr(rt->base_url, "api.openai.com")
        || strstr(rt->base_url, ".openai.azure.com")
        || cg_openai_reasoning(rt->model)) {
        return CG_TOKPARAM_MAX_COMPLETION_TOKENS;
    }
    return CG_TOKPARAM_MAX_TOKENS;
}


/* Routes from the config come with auto resolved at load. */
static const char *
cg_openai_tokparam(const cg_route_t *rt)
{
    return cg_provider_openai_max_tokens_param(rt) == CG_TOKPARAM_MAX_TOKENS
           ? "max_tokens" : "max_completion_tokens";
}


static void
cg_openai_build(const cg_route_t *rt, const cg_req_t *r, const char *uid,
                int stream, cg_buf_t *out)
{
    cg_buf_adds(out, "{\"model\":");
    cg_buf_add_json_cstr(out, rt->model);
    cg_buf_adds(out, ",\"");
    cg_buf_adds(out, cg_openai_tokparam(rt));
    cg_buf_adds(out, "\":");
    cg_buf_add_long(out, cg_provider_max_tokens(rt, r));
    if (rt->temperature[0] && !cg_openai_reasoning(rt->model)) {
        cg_buf_adds(out, ",\"temperature\":");
        cg_buf_adds(out, rt->temperature);
    }
    if (uid[0]) {
        cg_buf_adds(out, ",\"safety_identifier\":\"");
        cg_buf_adds(out, uid);              /* hex: nothing to escape */
        cg_buf_adds(out, "\"");
    }
    if (stream) {
        cg_buf_adds(out, ",\"stream\":true,"
                    "\"stream_options\":{\"include_usage\":true}");
    }
    cg_buf_adds(out, ",\"messages\":[");
    if (cg_provider_system(rt, r)) {
        cg_buf_adds(out, "{\"role\":\"system\",\"content\":");
        cg_buf_add_json_cstr(out, cg_provider_system(rt, r));
        cg_buf_adds(out, "},");
    }
    cg_provider_add_turns(r, out);
    cg_buf_adds(out, "]}");
}


static void
cg_openai_headers(const cg_route_t *rt, cg_buf_t *out)
{
    (void) rt;
    (void) out;
}


static void
cg_openai_usage(json_object *root, cg_pstream_t *ps)
{
    json_object *u, *v;

    if (!json_object_object_get_ex(root, "usage", &u)
        || !json_object_is_type(u, json_type_object)) {
        return;
    }
    if (json_object_object_get_ex(u, "prompt_tokens", &v)
        && json_object_is_type(v, json_type_int)) {
        ps->input_tokens = cg_provider_tokens(v);
        ps->have_input = 1;
    }
    if (json_object_object_get_ex(u, "completion_tokens", &v)
        && json_object_is_type(v, json_type_int)) {
        ps->output_tokens = cg_provider_tokens(v);
        ps->have_output = 1;
    }
}


/* choices[0] and, in it, the object called part ("message" or "delta"). */
static json_object *
cg_openai_choice(json_object *root, const char *part, cg_pstream_t *ps)
{
    json_object *a, *c, *v;

    if (!json_object_object_get_ex(root, "choices", &a)
        || !json_object_is_type(a, json_type_array)
        || json_object_array_length(a) == 0) {
        return NULL;
    }
    c = json_object_array_get_idx(a, 0);
    if (json_object_object_get_ex(c, "finish_reason", &v)) {
        cg_provider_ident(v, ps->stop_reason, sizeof(ps->stop_reason));
    }
    return json_object_object_get_ex(c, part, &v) ? v : NULL;
}


static void
cg_openai_content(json_object *msg, cg_buf_t *text)
{
    json_object *v;

    if (msg && json_object_object_get_ex(msg, "content", &v)
        && json_object_is_type(v, json_type_string)) {
        cg_buf_add(text, json_object_get_string(v),
                   (size_t) json_object_get_string_len(v));
    }
}


static int
cg_openai_parse(const char *body, size_t len, cg_buf_t *text,
                cg_pstream_t *ps)
{
    json_object *root, *msg;
    int          rc = -1;

    root = cg_provider_json(body, len);
    if (root && (msg = cg_openai_choice(root, "message", ps)) != NULL) {
        cg_openai_content(msg, text);
        cg_openai_usage(root, ps);
        rc = 0;
    }
    json_object_put(root);
    return rc;
}


static int
cg_openai_event(cg_pstream_t *ps, const char *event, const char *data,
                size_t len, cg_buf_t *delta)
{
    json_object *root, *o, *v;
    int          rc = 0;

    (void) event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        ps->done = 1;
        return 1;
    }
    root = cg_provider_json(data, len);
    if (root == NULL) {
        return -1;
    }
    if (json_object_object_get_ex(root, "error", &o)) {
        if (json_object_object_get_ex(o, "type", &v)) {
            cg_provider_ident(v, ps->err_type, sizeof(ps->err_type));
        }
        if (!ps->err_type[0] && json_object_object_get_ex(o, "code", &v)) {
            cg_provider_ident(v, ps->err_type, sizeof(ps->err_type));
        }
        rc = -1;
    } else {
        cg_openai_content(cg_openai_choice(root, "delta", ps), delta);
        cg_openai_usage(root, ps);
    }
    json_object_put(root);
    return rc;
}


const cg_provider_t cg_provider_openai = {
    "openai", "/chat/completions", CG_AUTH_BEARER,
    cg_openai_build, cg_openai_headers, cg_openai_parse, cg_openai_event,
};
