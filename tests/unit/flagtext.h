/* The findings as the usage log's flags, joined ("a,b:c"): what the
 * guard tests compare. One static buffer: use one result at a time. */
#ifndef CG_TEST_FLAGTEXT_H
#define CG_TEST_FLAGTEXT_H

#include "core/findings.h"

static inline const char *
flagtext(const cg_findings_t *f)
{
    static char s[1024];

    cg_findings_format(f, s, sizeof(s));
    return s;
}

#endif
