/* libFuzzer target for the SSE parser: the input is split at a point taken
 * from its first byte, and both halves must parse to the same events as
 * the whole input. Build: make fuzz (needs clang). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
fuzz_event(void *ctx, const char *event, const char *d, size_t len)
{
    cg_buf_t *b = ctx;

    cg_buf_adds(b, event);
    cg_buf_addc(b, '\0');
    cg_buf_add(b, d, len);
    cg_buf_addc(b, '\0');
    return 0;
}


static void
fuzz_parse(const char *in, size_t len, size_t split, cg_buf_t *out)
{
    cg_sse_t p;

    cg_sse_init(&p, fuzz_event, out);
    cg_sse_feed(&p, in, split);
    cg_sse_feed(&p, in + split, len - split);
    cg_sse_free(&p);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_buf_t whole, split;
    size_t   at;

    if (size == 0) {
        return 0;
    }
    at = size > 1 ? data[0] % size : 0;
    cg_buf_init(&whole);
    cg_buf_init(&split);
    fuzz_parse((const char *) data + 1, size - 1, 0, &whole);
    fuzz_parse((const char *) data + 1, size - 1, at ? at - 1 : 0, &split);
    if (whole.len != split.len
        || (whole.len && memcmp(whole.data, split.data, whole.len) != 0)) {
        abort();
    }
    cg_buf_free(&whole);
    cg_buf_free(&split);
    return 0;
}
