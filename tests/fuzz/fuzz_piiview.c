/* libFuzzer target for the PII normaliser (guard/piiview). Properties: no
 * crash; every view byte maps to a source code point inside the input, in
 * order; pure ASCII is its own view; the view of the view is the view
 * (NFKC and the separator classes are idempotent), so a second pass can
 * never find what the first missed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/piiview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check_map(const cg_piiview_t *v, size_t n)
{
    size_t j;

    for (j = 0; j < v->text.len; j++) {
        if (v->from[j] >= v->to[j] || v->to[j] > n
            || (j > 0 && (v->from[j] < v->from[j - 1]
                          || v->to[j] < v->to[j - 1]))) {
            abort();
        }
    }
    if (n > 0 && v->text.len == 0) {
        abort();                /* nothing maps to nothing */
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_piiview_t v, w;
    size_t       i;
    int          ascii = 1;

    cg_piiview_init(&v);
    cg_piiview_init(&w);
    if (cg_piiview_build(&v, (const char *) data, size) != 0) {
        abort();
    }
    check_map(&v, size);
    for (i = 0; i < size; i++) {
        ascii &= data[i] < 0x80;
    }
    if (ascii && (v.text.len != size || memcmp(v.text.data, data, size))) {
        abort();
    }
    if (cg_piiview_build(&w, v.text.data, v.text.len) != 0
        || w.text.len != v.text.len
        || memcmp(w.text.data, v.text.data, v.text.len) != 0) {
        abort();
    }
    cg_piiview_free(&v);
    cg_piiview_free(&w);
    return 0;
}
