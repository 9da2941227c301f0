#include "provider/provider.h"

#include <string.h>


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


/* The paths of an answer or a stream chunk, in this order (part is
 * "message" or "delta"). */
#define CG_OPENAI_PATHS(part)  "usage.prompt_tokens", \
    "usage.completion_tokens", "choices[0].finish_reason", \
    "choices[0]." part, "choices[0]." part ".content"

enum { CG_OPENAI_IN, CG_OPENAI_OUT, CG_OPENAI_FINISH, CG_OPENAI_PART,
       CG_OPENAI_CONTENT, CG_OPENAI_ERROR, CG_OPENAI_ETYPE, CG_OPENAI_ECODE };


static void
cg_openai_usage(const cg_jtok_val_t *v, cg_pstream_t *ps)
{
    if (v[CG_OPENAI_IN].type == CG_JTOK_INT) {
        ps->input_tokens = cg_provider_tokens(&v[CG_OPENAI_IN]);
        ps->have_input = 1;
    }
    if (v[CG_OPENAI_OUT].type == CG_JTOK_INT) {
        ps->output_tokens = cg_provider_tokens(&v[CG_OPENAI_OUT]);
        ps->have_output = 1;
    }
}


/* choices[0]: its finish reason, and the text of its message or delta. */
static void
cg_openai_choice(const cg_jtok_val_t *v, cg_pstream_t *ps, cg_buf_t *text)
{
    cg_provider_ident(&v[CG_OPENAI_FINISH], ps->stop_reason,
                      sizeof(ps->stop_reason));
    if (v[CG_OPENAI_CONTENT].type == CG_JTOK_STRING) {
        cg_jtok_str(&v[CG_OPENAI_CONTENT], text);
    }
}


static int
cg_openai_parse(const char *body, size_t len, cg_buf_t *text,
                cg_pstream_t *ps)
{
    static const char *const path[] = { CG_OPENAI_PATHS("message"), NULL };
    cg_jtok_val_t            v[5];

    if (cg_jtok_pick(body, len, path, v) != 0) {
        return -1;
    }
    cg_openai_choice(v, ps, text);
    /* A "message": null is no answer. */
    if (v[CG_OPENAI_PART].type == CG_JTOK_ABSENT
        || v[CG_OPENAI_PART].type == CG_JTOK_NULL) {
        return -1;
    }
    cg_openai_usage(v, ps);
    return 0;
}


static int
cg_openai_event(cg_pstream_t *ps, const char *event, const char *data,
                size_t len, cg_buf_t *delta)
{
    static const char *const path[] = {
        CG_OPENAI_PATHS("delta"), "error", "error.type", "error.code", NULL
    };
    cg_jtok_val_t            v[8];

    (void) event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        ps->done = 1;
        return 1;
    }
    if (cg_jtok_pick(data, len, path, v) != 0) {
        return -1;
    }
    if (v[CG_OPENAI_ERROR].type != CG_JTOK_ABSENT) {
        cg_provider_ident(&v[CG_OPENAI_ETYPE], ps->err_type,
                          sizeof(ps->err_type));
        if (!ps->err_type[0]) {
            cg_provider_ident(&v[CG_OPENAI_ECODE], ps->err_type,
                              sizeof(ps->err_type));
        }
        return -1;
    }
    cg_openai_choice(v, ps, delta);
    cg_openai_usage(v, ps);
    return 0;
}


const cg_provider_t cg_provider_openai = {
    "openai", "/chat/completions", CG_AUTH_BEARER,
    cg_openai_build, cg_openai_headers, cg_openai_parse, cg_openai_event,
};
