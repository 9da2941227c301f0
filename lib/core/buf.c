#include "core/buf.h"
#include "core/kbuf.h"
#include "core/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cg_buf_init(cg_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}


void
cg_buf_free(cg_buf_t *b)
{
    free(b->data);
    cg_buf_init(b);
}


void
cg_buf_reset(cg_buf_t *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}


void
cg_buf_wipe(cg_buf_t *b)
{
    if (b->data) {
        explicit_bzero(b->data, b->cap);
    }
    cg_buf_reset(b);
}


void
cg_buf_wipe_bytes(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        explicit_bzero(p, n);
    }
}


void
cg_buf_shrink(cg_buf_t *b, size_t keep)
{
    if (b->cap > keep) {
        cg_buf_free(b);
    } else {
        cg_buf_reset(b);
    }
}


int
cg_buf_reserve(cg_buf_t *b, size_t extra)
{
    size_t  need, cap;
    char   *p;

    if (b->oom) {
        return -1;
    }
    if (extra > ((size_t) -1) / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}


/* The room check inline (most appends fit, and this runs ~250 times a
 * request); anything else goes through cg_buf_reserve as before. */
void
cg_buf_add(cg_buf_t *b, const void *p, size_t n)
{
    if ((b->oom || b->len >= b->cap || n >= b->cap - b->len)
        && cg_buf_reserve(b, n) != 0) {
        return;
    }
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}


void
cg_buf_adds(cg_buf_t *b, const char *s)
{
    cg_buf_add(b, s, strlen(s));
}


void
cg_buf_addc(cg_buf_t *b, char c)
{
    cg_buf_add(b, &c, 1);
}


void
cg_buf_addf(cg_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || cg_buf_reserve(b, (size_t) n) != 0) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}


void
cg_buf_add_long(cg_buf_t *b, long long v)
{
    char      tmp[24];
    cg_kbuf_t k;

    cg_kbuf_init(&k, tmp, sizeof(tmp));
    cg_kbuf_ll(&k, v);
    cg_buf_add(b, tmp, cg_kbuf_end(&k));
}


static void
cg_buf_add_u_escape(cg_buf_t *b, unsigned cp)
{
    static const char hex[] = "0123456789abcdef";
    char              e[6] = { '\\', 'u', hex[(cp >> 12) & 15],
                               hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                               hex[cp & 15] };

    cg_buf_add(b, e, sizeof(e));
}


void
cg_buf_add_json_str(cg_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s, *end = p + n;
    const unsigned char *run = p;
    unsigned             cp;
    size_t               len;

    /* Worst case is 6 output bytes per input byte; reserving it up front
     * keeps the loop free of reallocations. */
    if (n > ((size_t) -1) / 8 || cg_buf_reserve(b, n * 6 + 2) != 0) {
        b->oom = 1;
        return;
    }
    cg_buf_addc(b, '"');
    while (p < end) {
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
            p++;
            continue;
        }
        if (*p >= 0x80) {
            len = cg_utf8_decode(p, (size_t) (end - p), &cp);
            if (len && cp != 0x2028 && cp != 0x2029) {
                p += len;
                continue;
            }
        } else {
            len = 1;
        }
        cg_buf_add(b, run, (size_t) (p - run));
        if (len == 0) {
            cg_buf_adds(b, "\\ufffd");      /* invalid UTF-8 byte */
            len = 1;
        } else if (*p == '"') {
            cg_buf_add(b, "\\\"", 2);
        } else if (*p == '\\') {
            cg_buf_add(b, "\\\\", 2);
        } else if (*p == '\n') {
            cg_buf_add(b, "\\n", 2);
        } else if (*p == '\t') {
            cg_buf_add(b, "\\t", 2);
        } else if (*p == '\r') {
            cg_buf_add(b, "\\r", 2);
        } else if (*p < 0x80) {
            cg_buf_add_u_escape(b, *p);     /* other controls and DEL */
        } else {
            cg_buf_add_u_escape(b, cp);     /* U+2028, U+2029 */
        }
        p += len;
        run = p;
    }
    cg_buf_add(b, run, (size_t) (p - run));
    cg_buf_addc(b, '"');
}


void
cg_buf_add_json_cstr(cg_buf_t *b, const char *s)
{
    if (s == NULL) {
        cg_buf_add(b, "null", 4);
        return;
    }
    cg_buf_add_json_str(b, s, strlen(s));
}


int
cg_buf_str_replace(char **dst, const char *src)
{
    char *copy = strdup(src);

    if (copy == NULL) {
        return -1;
    }
    free(*dst);
    *dst = copy;
    return 0;
}
