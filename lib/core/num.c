#include "core/num.h"

#define CG_NUM_SPACE(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' \
                         || (c) == '\n')


long
cg_num_parse(const char *s, size_t n, long max)
{
    const char *end = s + n;
    long        v = 0;
    int         digits = 0;

    if (s == NULL || max < 0) {
        return -1;
    }
    while (s < end && CG_NUM_SPACE(*s)) {
        s++;
    }
    for (; s < end && *s >= '0' && *s <= '9'; s++, digits++) {
        /* v * 10 + d > max, asked without overflowing */
        v = v > (max - (*s - '0')) / 10 ? max : v * 10 + (*s - '0');
    }
    while (s < end && CG_NUM_SPACE(*s)) {
        s++;
    }
    return digits && s == end ? v : -1;
}
