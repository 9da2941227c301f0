/* libFuzzer target for the input guard. Properties: no crash; the cleaned
 * text is valid UTF-8 and has nothing left to strip. */
#include <stdint.h>
#include <stdlib.h>

#include "guard/textguard.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cg_textguard_t *tg;
    cg_textguard_limits_t  lim = { 0, 0, 0, 0 };
    cg_tg_result_t         res, again;
    cg_buf_t               out, out2;
    char                   err[200];

    if (tg == NULL) {
        tg = cg_textguard_new(&lim);
        if (tg == NULL || cg_textguard_add_defaults(tg, CG_GUARD_FLAG, err,
                                                    sizeof(err)) != 0) {
            abort();
        }
    }
    cg_buf_init(&out);
    cg_buf_init(&out2);
    if (cg_textguard_check(tg, (const char *) data, size, &out, &res)
        == CG_TG_OK) {
        if (cg_utf8_count(out.data ? out.data : "", out.len) < 0) {
            abort();
        }
        cg_textguard_check(tg, out.data ? out.data : "", out.len, &out2,
                           &again);
        if (again.stripped != 0) {
            abort();
        }
    }
    cg_buf_free(&out);
    cg_buf_free(&out2);
    return 0;
}
