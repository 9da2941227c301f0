#include "guard/piiview.h"
#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* The longest compatibility decomposition of one code point (U+FDFA) is 18
 * code points. */
#define CG_PIIVIEW_DECOMP_MAX  32
#define CG_PIIVIEW_IDEO_STOP   0x3002      /* IDNA (UTS 46) maps it to '.' */


void
cg_piiview_init(cg_piiview_t *v)
{
    memset(v, 0, sizeof(*v));
}


void
cg_piiview_free(cg_piiview_t *v)
{
    cg_buf_wipe_bytes(v->text.data, v->text.cap);
    cg_buf_free(&v->text);
    free(v->from);
    free(v->to);
    cg_piiview_init(v);
}


static int
cg_piiview_grow(cg_piiview_t *v, size_t need)
{
    uint32_t *f, *t;
    size_t    cap = v->cap ? v->cap : 256;

    if (need <= v->cap) {
        return 0;
    }
    while (cap < need) {
        if (cap > ((size_t) -1) / 2 / sizeof(uint32_t)) {
            return -1;
        }
        cap *= 2;
    }
    f = realloc(v->from, cap * sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    v->from = f;
    t = realloc(v->to, cap * sizeof(*t));
    if (t == NULL) {
        return -1;
    }
    v->to = t;
    v->cap = cap;
    return 0;
}


/* Appends the bytes p[0..n) for the source code point [s, e). */
static int
cg_piiview_put(cg_piiview_t *v, const void *p, size_t n, size_t s, size_t e)
{
    size_t at = v->text.len, i;

    if (cg_piiview_grow(v, at + n + 1) != 0) {
        return -1;
    }
    cg_buf_add(&v->text, p, n);
    for (i = 0; i < n; i++) {
        v->from[at + i] = (uint32_t) s;
        v->to[at + i] = (uint32_t) e;
    }
    return v->text.oom ? -1 : 0;
}


/* ASCII is its own form: in[s..e) byte for byte. */
static int
cg_piiview_put_ascii(cg_piiview_t *v, const char *in, size_t s, size_t e)
{
    size_t at = v->text.len, i;

    if (cg_piiview_grow(v, at + (e - s) + 1) != 0) {
        return -1;
    }
    cg_buf_add(&v->text, in + s, e - s);
    for (i = s; i < e; i++) {
        v->from[at + i - s] = (uint32_t) i;
        v->to[at + i - s] = (uint32_t) (i + 1);
    }
    return v->text.oom ? -1 : 0;
}


/* The separator classes: any space (Zs, Zl, Zp) is " ", any dash (Pd) is
 * "-", the ideographic full stop is "."; else cp itself. */
static utf8proc_int32_t
cg_piiview_sep(utf8proc_int32_t cp)
{
    utf8proc_category_t cat = utf8proc_category(cp);

    if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL
        || cat == UTF8PROC_CATEGORY_ZP) {
        return ' ';
    }
    if (cat == UTF8PROC_CATEGORY_PD) {
        return '-';
    }
    return cp == CG_PIIVIEW_IDEO_STOP ? '.' : cp;
}


/* One code point's form in the view, as UTF-8 into out (cap bytes, room
 * for CG_PIIVIEW_DECOMP_MAX code points); its length. NFKC of the code
 * point alone, then the separator classes on what it became, so that the
 * view of a view is the view. */
static size_t
cg_piiview_form(unsigned cp, unsigned char *out, size_t cap)
{
    utf8proc_int32_t d[CG_PIIVIEW_DECOMP_MAX];
    utf8proc_ssize_t n, i;
    size_t           len = 0;
    int              bound = 0;

    n = utf8proc_decompose_char((utf8proc_int32_t) cp, d,
                                CG_PIIVIEW_DECOMP_MAX,
                                UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bound);
    if (n > 0 && n <= CG_PIIVIEW_DECOMP_MAX) {
        n = utf8proc_normalize_utf32(d, n, UTF8PROC_COMPOSE
                                           | UTF8PROC_STABLE);
    }
    if (n <= 0 || n > CG_PIIVIEW_DECOMP_MAX) {
        d[0] = (utf8proc_int32_t) cp;
        n = 1;
    }
    for (i = 0; i < n && len + 4 <= cap; i++) {
        len += (size_t) utf8proc_encode_char(cg_piiview_sep(d[i]),
                                             out + len);
    }
    return len;
}


int
cg_piiview_build(cg_piiview_t *v, const char *in, size_t n)
{
    const unsigned char *p = (const unsigned char *) in;
    unsigned char        form[CG_PIIVIEW_DECOMP_MAX * 4];
    size_t               i = 0, len, flen;
    unsigned             cp;

    cg_buf_reset(&v->text);
    if (n >= UINT32_MAX || cg_piiview_grow(v, n + 1) != 0
        || cg_buf_reserve(&v->text, n) != 0) {
        return -1;
    }
    while (i < n) {
        if (p[i] < 0x80) {
            for (len = i; len < n && p[len] < 0x80; len++) {
            }
            if (cg_piiview_put_ascii(v, in, i, len) != 0) {
                return -1;
            }
            i = len;
            continue;
        }
        len = cg_utf8_decode(p + i, n - i, &cp);
        if (len == 0) {
            flen = 1;
            form[0] = p[i];
            len = 1;
        } else {
            flen = cg_piiview_form(cp, form, sizeof(form));
        }
        if (cg_piiview_put(v, form, flen, i, i + len) != 0) {
            return -1;
        }
        i += len;
    }
    /* pcre2's JIT reads the subject in aligned blocks, past its end
     * within the buffer: defined bytes there (valgrind otherwise reports
     * the branches on them). */
    memset(v->text.data + v->text.len, 0, v->text.cap - v->text.len);
    return 0;
}


void
cg_piiview_span(const cg_piiview_t *v, size_t a, size_t b, size_t *start,
                size_t *end)
{
    *start = v->from[a];
    *end = v->to[b - 1];
}
