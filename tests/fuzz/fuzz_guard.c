/* libFuzzer target for the request-body parser (cg_guard_parse). The
 * input is the body as the web server passes it. Properties: no crash; an
 * accepted body gives a conversation that starts and ends with the user and
 * alternates, whose every text is non-empty valid UTF-8 without NUL and
 * within the limits; a refused one gives a fixed client message; and the
 * body is refused as JSON exactly when json-c (strict, depth 16, what the
 * guard used before lib/core/jtok read it) refuses it, for every body of
 * valid UTF-8 without raw control characters in strings (those two the
 * guard refuses on its own). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/body.h"
#include "core/utf8.h"

#include <json-c/json.h>

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


/* json-c's verdict: one object, nothing but whitespace after it. */
static int
jc_accepts(const char *s, size_t n)
{
    json_tokener *tok = json_tokener_new_ex(16);
    json_object  *root;
    int           ok;

    if (tok == NULL) {
        abort();
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, s, (int) n);
    ok = root && json_tokener_get_parse_end(tok) == n
         && json_object_is_type(root, json_type_object);
    json_object_put(root);
    json_tokener_free(tok);
    return ok;
}


static void
check_as_json_c(const cg_req_t *r, int rc, const char *body, size_t size)
{
    int as_json;

    if (size == 0 || cg_utf8_count(body, size) < 0
        || cg_guard_json_raw_control(body, size) >= 0) {
        return;
    }
    as_json = rc != 0 && (strcmp(r->reason, "body not valid JSON") == 0
                          || strcmp(r->reason, "body not an object") == 0);
    if (as_json == jc_accepts(body, size)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_req_t  r;
    char     *body;
    int       rc;

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
    rc = cg_guard_parse(&r, &limits);
    if (rc == 0) {
        check_accepted(&r);
    } else if (r.err == CG_OK) {
        abort();
    }
    check_as_json_c(&r, rc, body, size);
    cg_req_destroy(&r);
    free(body);
    return 0;
}
