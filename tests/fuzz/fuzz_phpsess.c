/* libFuzzer target for the PHP session parser, both serializers. The first
 * byte picks the serializer. Properties: no crash; a found value is
 * NUL-terminated within the buffer and non-empty; the answer does not
 * depend on bytes after the data (the parser is length-driven). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "who/phpser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_phpsess_rc_t  rc;
    cg_phpser_t      ser;
    char             out[64];
    char            *s;

    if (size < 1) {
        return 0;
    }
    ser = data[0] & 1 ? CG_PHPSER_SERIALIZE : CG_PHPSER_PHP;
    /* Exactly the data, no terminator: an overread is a bug. */
    s = malloc(size - 1 ? size - 1 : 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data + 1, size - 1);
    memset(out, 'x', sizeof(out));
    rc = cg_phpser_get(s, size - 1, ser, "user_id", out, sizeof(out));
    if (rc == CG_PHPSESS_FOUND
        && (memchr(out, '\0', sizeof(out)) == NULL || out[0] == '\0')) {
        abort();
    }
    (void) cg_phpser_reason(rc);
    free(s);
    return 0;
}
