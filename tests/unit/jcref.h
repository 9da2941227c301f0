/* json-c as lib/provider read the provider's answers before lib/core/jtok
 * (strict, UTF-8 checked, depth 32, one object and nothing after it): the
 * reference the jtok unit test and fuzz target hold jtok to. */
#ifndef CG_TEST_JCREF_H
#define CG_TEST_JCREF_H

#include <stddef.h>

#include <json-c/json.h>

static inline json_object *
jc_parse(const char *s, size_t len)
{
    json_tokener *tok = json_tokener_new_ex(32);
    json_object  *root;

    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, s, (int) len);
    if (root && (json_tokener_get_parse_end(tok) != len
                 || !json_object_is_type(root, json_type_object))) {
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    return root;
}

#endif
