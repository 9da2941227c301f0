#include "provider/provider.h"

#include <string.h>


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


/* The usage fields as the paths of an answer or event pick them, in the
 * order cg_anthropic_usage() reads them. */
#define CG_ANTHROPIC_USAGE(at)  at "input_tokens", \
    at "cache_creation_input_tokens", at "cache_read_input_tokens", \
    at "output_tokens"

/* input_tokens excludes cached tokens; the prompt's full size is the sum
 * of the three. */
static void
cg_anthropic_usage(const cg_jtok_val_t *u, cg_pstream_t *ps, int with_output)
{
    if (u[0].type == CG_JTOK_INT) {
        ps->input_tokens = cg_provider_tokens(&u[0])
            + cg_provider_tokens(&u[1]) + cg_provider_tokens(&u[2]);
        ps->have_input = 1;
    }
    if (u[3].type == CG_JTOK_INT) {
        ps->output_tokens = cg_provider_tokens(&u[3]);
        ps->have_output |= with_output;
    }
}


static int
cg_anthropic_text(const cg_jtok_val_t *content, cg_buf_t *text)
{
    static const char *const block[] = { "type", "text", NULL };
    cg_jtok_val_t            e, v[2];
    size_t                   pos = 0;
    char                     type[8];

    if (content->type != CG_JTOK_ARRAY) {
        return -1;
    }
    while (cg_jtok_next(content, &pos, &e)) {
        if (cg_jtok_sub(&e, block, v) != 0
            || cg_jtok_cstr(&v[0], type, sizeof(type)) != 0
            || strcmp(type, "text") != 0) {
            continue;       /* tool_use, thinking ...: not shown */
        }
        if (cg_jtok_str(&v[1], text) != 0) {
            return -1;
        }
    }
    return 0;
}


static int
cg_anthropic_parse(const char *body, size_t len, cg_buf_t *text,
                   cg_pstream_t *ps)
{
    static const char *const path[] = {
        CG_ANTHROPIC_USAGE("usage."), "content", "stop_reason", NULL
    };
    cg_jtok_val_t            v[6];

    /* An answer without usage (a proxy that strips it) is still an
     * answer: the relay estimates what it cost. */
    if (cg_jtok_pick(body, len, path, v) != 0
        || cg_anthropic_text(&v[4], text) != 0) {
        return -1;
    }
    cg_anthropic_usage(v, ps, 1);
    cg_provider_ident(&v[5], ps->stop_reason, sizeof(ps->stop_reason));
    return 0;
}


static const char *const cg_anthropic_start[] = {
    CG_ANTHROPIC_USAGE("message.usage."), NULL
};
/* message_delta and content_block_delta. */
static const char *const cg_anthropic_change[] = {
    CG_ANTHROPIC_USAGE("usage."), "delta.stop_reason", "delta.text", NULL
};
static const char *const cg_anthropic_error[] = { "error.type", NULL };


/* The paths an event's data is read for (NULL: checked only). */
static const char *const *
cg_anthropic_paths(const char *event)
{
    if (strcmp(event, "message_start") == 0) {
        return cg_anthropic_start;
    }
    if (strcmp(event, "message_delta") == 0
        || strcmp(event, "content_block_delta") == 0) {
        return cg_anthropic_change;
    }
    return strcmp(event, "error") == 0 ? cg_anthropic_error : NULL;
}


static int
cg_anthropic_event(cg_pstream_t *ps, const char *event, const char *data,
                   size_t len, cg_buf_t *delta)
{
    const char *const *path = cg_anthropic_paths(event);
    cg_jtok_val_t      v[6];

    if (strcmp(event, "ping") == 0) {
        return 0;
    }
    if (cg_jtok_pick(data, len, path, v) != 0) {
        return -1;
    }
    if (strcmp(event, "content_block_delta") == 0) {
        cg_jtok_str(&v[5], delta);          /* only if it is a string */
    } else if (path == cg_anthropic_start) {
        cg_anthropic_usage(v, ps, 0);
    } else if (path == cg_anthropic_change) {
        /* Cumulative counts: they replace, never add to, message_start's. */
        cg_anthropic_usage(v, ps, 1);
        cg_provider_ident(&v[4], ps->stop_reason, sizeof(ps->stop_reason));
    } else if (strcmp(event, "message_stop") == 0) {
        ps->done = 1;
        return 1;
    } else if (path == cg_anthropic_error) {
        cg_provider_ident(&v[0], ps->err_type, sizeof(ps->err_type));
        return -1;
    }
    return 0;
}


const cg_provider_t cg_provider_anthropic = {
    "anthropic", "/v1/messages", CG_AUTH_X_API_KEY,
    cg_anthropic_build, cg_anthropic_headers, cg_anthropic_parse,
    cg_anthropic_event,
};
