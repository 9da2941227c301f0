/* libFuzzer target for the provider-format body parser (cg_compatbody_parse,
 * issue 20). The first byte picks the format (even: Anthropic, odd:
 * OpenAI), the rest is the body. Properties: no crash; an accepted body
 * gives a conversation that starts and ends with the user and alternates,
 * every text and the system prompt valid UTF-8 without NUL, a model
 * named, max_tokens positive or unset, and r->body restored; a refused
 * one gives an error whose client message is chatgate's fixed text, never
 * a pointer into the caller's body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/compatbody.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cg_guard_limits_t limits = { 200, 8, 1000 };


static void
check_accepted(const cg_req_t *r, const char *body, size_t len)
{
    size_t i;

    if (r->nmsgs == 0 || r->msgs[0].assistant
        || r->msgs[r->nmsgs - 1].assistant || r->model_req[0] == '\0'
        || r->max_tokens < 0 || r->body != body || r->body_len != len) {
        abort();
    }
    for (i = 0; i < r->nmsgs; i++) {
        if (cg_utf8_count(r->msgs[i].text, r->msgs[i].len) <= 0
            || (i > 0 && r->msgs[i].assistant == r->msgs[i - 1].assistant)) {
            abort();
        }
    }
    if (r->system && (cg_utf8_count(r->system, r->system_len) < 0
                      || memchr(r->system, '\0', r->system_len) != NULL)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_req_t  r;
    char     *body;

    if (size == 0) {
        return 0;
    }
    body = malloc(size);
    if (body == NULL) {
        return 0;
    }
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    memset(&r, 0, sizeof(r));
    cg_req_init(&r, 0);
    r.api = (data[0] & 1) ? CG_API_OPENAI : CG_API_ANTHROPIC;
    r.body = body;
    r.body_len = size - 1;
    if (cg_compatbody_parse(&r, &limits) == 0) {
        check_accepted(&r, body, size - 1);
    } else if (r.err == CG_OK
               || (r.err_msg && r.err_msg >= body
                   && r.err_msg < body + size)) {
        abort();
    }
    cg_req_destroy(&r);
    free(body);
    return 0;
}
