/* libFuzzer target for lib/core/jtok, the provider answers' JSON reader,
 * against json-c (which it replaced there). Properties: no crash; it
 * accepts exactly what json-c accepts (strict, UTF-8 checked, depth 32, one
 * object and nothing after it) when the bytes are valid UTF-8, and nothing
 * that is not; a picked value has json-c's type there, a string the same
 * bytes, and every array can be walked to its end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jtok.h"
#include "core/utf8.h"
#include "../unit/jcref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = { "a", "b", "content", NULL };


static const json_type jc_types[] = {
    [CG_JTOK_NULL] = json_type_null, [CG_JTOK_BOOL] = json_type_boolean,
    [CG_JTOK_INT] = json_type_int, [CG_JTOK_DOUBLE] = json_type_double,
    [CG_JTOK_STRING] = json_type_string, [CG_JTOK_ARRAY] = json_type_array,
    [CG_JTOK_OBJECT] = json_type_object,
};


static void
check(json_object *root, const char *key, const cg_jtok_val_t *v)
{
    json_object *o;
    cg_jtok_val_t e;
    cg_buf_t     b;
    size_t       pos = 0, n = 0;

    if (!json_object_object_get_ex(root, key, &o)) {
        if (v->type != CG_JTOK_ABSENT) {
            abort();
        }
        return;
    }
    if (v->type == CG_JTOK_ABSENT || jc_types[v->type] != json_object_get_type(o)) {
        abort();
    }
    if (v->type == CG_JTOK_STRING) {
        cg_buf_init(&b);
        if (cg_jtok_str(v, &b) != 0
            || b.len != (size_t) json_object_get_string_len(o)
            || (b.len && memcmp(b.data, json_object_get_string(o), b.len))) {
            abort();
        }
        cg_buf_free(&b);
    }
    while (cg_jtok_next(v, &pos, &e)) {
        if (e.p < v->p || e.p + e.len > v->p + v->len) {
            abort();
        }
        n++;
    }
    if (v->type == CG_JTOK_ARRAY && n != json_object_array_length(o)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char   *s = (const char *) data;
    cg_jtok_val_t vals[3];
    json_object  *root;
    int           got, want;

    root = jc_parse(s, size);
    want = root != NULL && cg_utf8_count(s, size) >= 0;
    got = cg_jtok_pick(s, size, paths, vals) == 0;
    if (got != want) {
        abort();
    }
    if (got) {
        check(root, "a", &vals[0]);
        check(root, "b", &vals[1]);
        check(root, "content", &vals[2]);
    }
    json_object_put(root);
    return 0;
}
