#include "core/utf8.h"

size_t
cg_utf8_decode(const unsigned char *p, size_t n, unsigned *cp)
{
    unsigned c, min;
    size_t   len, i;

    if (n == 0) {
        return 0;
    }
    c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2; c &= 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; c &= 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; c &= 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return len;
}


long
cg_utf8_count(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s, *end = p + n;
    unsigned             cp;
    size_t               len;
    long                 count = 0;

    while (p < end) {
        if (*p < 0x80) {
            p++;
        } else {
            len = cg_utf8_decode(p, (size_t) (end - p), &cp);
            if (len == 0) {
                return -1;
            }
            p += len;
        }
        count++;
    }
    return count;
}
