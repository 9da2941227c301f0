/* libFuzzer target for the request-body parser (cg_guard_parse). The
 * input is the body as the web server passes it. Properties: no crash; an
 * accepted body gives a conversation that starts and ends with the user and
 * alternates, whose every text is non-empty valid UTF-8 without NUL and
 * within the limits; a refused one gives a fixed client message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/body.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cg_guard_limits_t limits = { 200, 8, 1000 };


static void
check_accepted(const cg_req_t *r)
{
    size_t i;
    long   chars;

    if (r->nmsgs == 0 || r->msgs[0].assistant
        || r->msgs[r->nmsgs - 1].assistant || r->message == NULL
        || (long) r->nmsgs > limits.max_messages) {
        abort();
    }
    for (i = 0; i < r->nmsgs; i++) {
        chars = cg_utf8_count(r->msgs[i].text, r->msgs[i].len);
        if (chars <= 0 || chars > limits.max_chars
            || memchr(r->msgs[i].text, '\0', r->msgs[i].len) != NULL
            || (i > 0 && r->msgs[i].assistant == r->msgs[i - 1].assistant)) {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_req_t  r;
    char     *body;

    /* The worker's body buffer is NUL-terminated after its length. */
    body = malloc(size + 1);
    if (body == NULL) {
        return 0;
    }
    memcpy(body, data, size);
    body[size] = '\0';
    memset(&r, 0, sizeof(r));   /* cg_req_init keeps r->text's memory */
    cg_req_init(&r, 0);
    r.body = body;
    r.body_len = size;
    if (cg_guard_parse(&r, &limits) == 0) {
        check_accepted(&r);
    } else if (r.err == CG_OK) {
        abort();
    }
    cg_req_destroy(&r);
    free(body);
    return 0;
}
