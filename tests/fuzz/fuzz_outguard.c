/* libFuzzer target for the output guard. Property: feeding the answer in
 * pieces (cut where the first bytes say) gives exactly the one-shot
 * result. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/outguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
guard(const cg_outguard_conf_t *c, const cg_pii_map_t *map,
      const uint8_t *in, size_t n, const uint8_t *cuts, size_t ncuts,
      cg_buf_t *out)
{
    cg_outguard_t *g = cg_outguard_new(c, map);
    size_t         at = 0, i, step;

    if (g == NULL) {
        abort();
    }
    for (i = 0; i < ncuts && at < n; i++) {
        step = cuts[i] % 64;
        step = step > n - at ? n - at : step;
        cg_outguard_feed(g, (const char *) in + at, step, out);
        at += step;
    }
    cg_outguard_feed(g, (const char *) in + at, n - at, out);
    cg_outguard_finish(g, out);
    cg_outguard_free(g);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cg_outguard_conf_t *c;
    static cg_pii_map_t        map;
    cg_buf_t                   one, many;
    size_t                     ncuts;

    if (c == NULL) {
        c = cg_outguard_conf_new();
        if (c == NULL) {
            abort();
        }
        cg_outguard_conf_allow_hosts(c, "docs.example.com .trusted.org");
        cg_outguard_conf_max_urls(c, 2);
        cg_outguard_conf_bare_urls(c, 1);
        cg_outguard_conf_add_secret(c, "cg-own-secret-0123", 18);
        map.e = calloc(1, sizeof(*map.e));
        map.n = map.cap = 1;
        strcpy(map.e[0].ph, "[EMAIL_0a1b2c3d]");
        map.e[0].orig = strdup("a@b.example");
        map.e[0].orig_len = 11;
    }
    if (size < 1) {
        return 0;
    }
    ncuts = data[0] % 16;
    if (ncuts + 1 > size) {
        return 0;
    }
    cg_buf_init(&one);
    cg_buf_init(&many);
    guard(c, &map, data + 1 + ncuts, size - 1 - ncuts, NULL, 0, &one);
    guard(c, &map, data + 1 + ncuts, size - 1 - ncuts, data + 1, ncuts,
          &many);
    if (one.len != many.len
        || (one.len > 0 && memcmp(one.data, many.data, one.len) != 0)) {
        abort();
    }
    cg_buf_free(&one);
    cg_buf_free(&many);
    return 0;
}
