/*
 * kbuf: short text built into a fixed buffer without printf (kbuf.h).
 */
#include "core/kbuf.h"

#include <string.h>


void
cg_kbuf_init(cg_kbuf_t *k, char *buf, size_t cap)
{
    k->p = buf;
    k->cap = cap;
    k->len = 0;
    k->over = cap == 0;
    if (cap) {
        buf[0] = '\0';
    }
}


/* Room is kept for the NUL: len stays below cap. */
void
cg_kbuf_mem(cg_kbuf_t *k, const char *s, size_t n)
{
    if (k->over || n >= k->cap - k->len) {
        k->over = 1;
        return;
    }
    memcpy(k->p + k->len, s, n);
    k->len += n;
}


void
cg_kbuf_str(cg_kbuf_t *k, const char *s)
{
    cg_kbuf_mem(k, s, strlen(s));
}


void
cg_kbuf_chr(cg_kbuf_t *k, char c)
{
    cg_kbuf_mem(k, &c, 1);
}


static void
cg_kbuf_digits(cg_kbuf_t *k, unsigned long long u, int neg)
{
    char  tmp[24];
    char *p = tmp + sizeof(tmp);

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg) {
        *--p = '-';
    }
    cg_kbuf_mem(k, p, (size_t) (tmp + sizeof(tmp) - p));
}


void
cg_kbuf_ll(cg_kbuf_t *k, long long v)
{
    cg_kbuf_digits(k, v < 0 ? 0ULL - (unsigned long long) v
                            : (unsigned long long) v, v < 0);
}


void
cg_kbuf_ull(cg_kbuf_t *k, unsigned long long v)
{
    cg_kbuf_digits(k, v, 0);
}


void
cg_kbuf_hex64(cg_kbuf_t *k, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char              tmp[16];
    int               i;

    for (i = 15; i >= 0; i--) {
        tmp[i] = hex[v & 0xf];
        v >>= 4;
    }
    cg_kbuf_mem(k, tmp, sizeof(tmp));
}


size_t
cg_kbuf_end(cg_kbuf_t *k)
{
    if (k->over) {
        if (k->cap) {
            k->p[k->len] = '\0';
        }
        return 0;
    }
    k->p[k->len] = '\0';
    return k->len;
}
