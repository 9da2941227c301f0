/*
 * phpsess: reads one variable out of PHP's serialized session data.
 *
 * Both session serializers are understood: "php" (name|value name|value...)
 * and "php_serialize" (one serialize()d array). The parser is driven by the
 * lengths PHP writes (s:LEN:"...", a:N:{...}), never by searching for quote
 * characters, and validates the whole blob before answering. Objects,
 * custom-serialized objects, enums and references (O: C: E: r: R:) are
 * rejected outright: chatgate never needs them and they are where PHP's own
 * unserialize() bugs live. This module only parses; it does no I/O.
 */
#ifndef CG_PHPSESS_H
#define CG_PHPSESS_H

#include <stddef.h>

typedef enum {
    CG_PHPSER_PHP = 0,
    CG_PHPSER_SERIALIZE
} cg_phpser_t;

typedef enum {
    CG_PHPSESS_FOUND = 0,
    CG_PHPSESS_ABSENT,      /* well-formed, but no such top-level variable */
    CG_PHPSESS_MALFORMED,   /* not valid serialized data */
    CG_PHPSESS_OBJECT,      /* holds an object or a reference */
    CG_PHPSESS_BAD_VALUE    /* the variable is not an int or string id */
} cg_phpsess_rc_t;

/* Finds the top-level variable key in data[0..n) and copies its value (an
 * integer, or a string of 1..cap-1 bytes) NUL-terminated into out. */
cg_phpsess_rc_t cg_phpser_get(const char *data, size_t n, cg_phpser_t ser,
                              const char *key, char *out, size_t cap);
const char     *cg_phpser_reason(cg_phpsess_rc_t rc);

#endif
