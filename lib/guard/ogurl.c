#include "guard/ogurl.h"

#include <string.h>
#include <strings.h>

#define CG_OGURL_MAX    4096    /* longer values are decided as foreign */
#define CG_OGURL_CP_MAX 0x10FFFF

/* The named references that decode to a character with a meaning in a URL
 * (or to letters, "fj"). Every other named reference decodes to something
 * that cannot start a scheme, end a host or make a path a network path, so
 * leaving it undecoded cannot make a URL look more local than it is. */
static const struct {
    const char *name;
    const char *text;
} cg_ogurl_named[] = {
    { "sol", "/" }, { "bsol", "\\" }, { "colon", ":" }, { "period", "." },
    { "Tab", "\t" }, { "NewLine", "\n" }, { "commat", "@" },
    { "quest", "?" }, { "num", "#" }, { "percnt", "%" }, { "amp", "&" },
    { "AMP", "&" }, { "equals", "=" }, { "plus", "+" }, { "apos", "'" },
    { "quot", "\"" }, { "QUOT", "\"" }, { "fjlig", "fj" }, { "lpar", "(" },
    { "rpar", ")" }, { "excl", "!" }, { "lt", "<" }, { "LT", "<" },
    { "gt", ">" }, { "GT", ">" }, { "lsqb", "[" }, { "rsqb", "]" },
    { "lbrack", "[" }, { "rbrack", "]" }, { "semi", ";" },
    { NULL, NULL }
};


static size_t
cg_ogurl_utf8(unsigned long cp, char *out)
{
    if (cp == 0 || cp > CG_OGURL_CP_MAX || (cp >= 0xD800 && cp <= 0xDFFF)) {
        cp = 0xFFFD;
    }
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char) (0xF0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}


static int
cg_ogurl_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


/* "&#65;", "&#x41;", also without the ';' (the HTML tokenizer accepts
 * that), any number of digits. */
static size_t
cg_ogurl_numeric(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t        i = 2, start;
    unsigned long cp = 0;
    int           hex = 0, d;

    if (n > 2 && (s[2] == 'x' || s[2] == 'X')) {
        hex = 1;
        i = 3;
    }
    for (start = i; i < n; i++) {
        d = hex ? cg_ogurl_hexval(s[i])
                : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0) {
            break;
        }
        cp = cp * (hex ? 16 : 10) + (unsigned long) d;
        if (cp > CG_OGURL_CP_MAX) {
            cp = CG_OGURL_CP_MAX + 1;
        }
    }
    if (i == start) {
        return 0;
    }
    if (i < n && s[i] == ';') {
        i++;
    }
    *outlen = cg_ogurl_utf8(cp, out);
    return i;
}


size_t
cg_ogurl_entity(const char *s, size_t n, char *out, size_t *outlen)
{
    size_t i, k;

    if (n < 3 || s[0] != '&') {
        return 0;
    }
    if (s[1] == '#') {
        return cg_ogurl_numeric(s, n, out, outlen);
    }
    for (i = 0; cg_ogurl_named[i].name != NULL; i++) {
        k = strlen(cg_ogurl_named[i].name);
        if (n >= k + 1 && memcmp(s + 1, cg_ogurl_named[i].name, k) == 0) {
            *outlen = strlen(cg_ogurl_named[i].text);
            memcpy(out, cg_ogurl_named[i].text, *outlen);
            /* Without ';' too: decoding more than a browser does only
             * makes the guard stricter. */
            return k + 1 + ((n > k + 1 && s[k + 1] == ';') ? 1 : 0);
        }
    }
    return 0;
}


static int
cg_ogurl_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@')
           || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}


/* Decodes as the syntax does into d (CG_OGURL_MAX bytes); -1 if too long. */
static long
cg_ogurl_decode(const char *u, size_t n, int mode, char *d)
{
    size_t i = 0, o = 0, k, el;
    char   ent[8];

    while (i < n) {
        if (o + 8 > CG_OGURL_MAX) {
            return -1;
        }
        if (mode == CG_OGURL_MD && u[i] == '\\' && i + 1 < n
            && cg_ogurl_punct((unsigned char) u[i + 1])) {
            d[o++] = u[i + 1];
            i += 2;
            continue;
        }
        if (mode != CG_OGURL_RAW && u[i] == '&'
            && (k = cg_ogurl_entity(u + i, n - i, ent, &el)) > 0) {
            memcpy(d + o, ent, el);
            o += el;
            i += k;
            continue;
        }
        d[o++] = u[i++];
    }
    return (long) o;
}


static int
cg_ogurl_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


/* The authority after the slashes: host[:port], nothing else; anything a
 * renderer might percent-encode into something else ('\', '%', '@',
 * spaces, non-ASCII) makes it unreadable. */
static int
cg_ogurl_authority(const char *a, size_t n, cg_ogurl_host_pt host_ok,
                   const void *ctx)
{
    size_t e, i, p;
    char   low[256];

    for (e = 0; e < n && a[e] != '/' && a[e] != '?' && a[e] != '#'; e++) { }
    for (p = e; p > 0 && a[p - 1] >= '0' && a[p - 1] <= '9'; p--) { }
    if (p > 0 && p < e && a[p - 1] == ':') {
        e = p - 1;
    } else if (p > 0 && p == e && a[p - 1] == ':') {
        e = p - 1;                  /* "host:" is the default port */
    }
    if (e == 0 || e >= sizeof(low)) {
        return CG_OGURL_FOREIGN;
    }
    for (i = 0; i < e; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char) (c + 32);
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
              || c == '-')) {
            return CG_OGURL_FOREIGN;
        }
        low[i] = c;
    }
    return host_ok(ctx, low, e) ? CG_OGURL_ABSOLUTE : CG_OGURL_FOREIGN;
}


static int
cg_ogurl_slash(char c)
{
    return c == '/' || c == '\\';
}


static int cg_ogurl_class1(const char *u, size_t n, int mode,
                           cg_ogurl_host_pt host_ok, const void *ctx);


/* A Markdown destination is read both with and without its backslash
 * escapes: a renderer that keeps "\\host" as written must not see a
 * host the guard did not. The stricter answer wins. */
int
cg_ogurl_class(const char *u, size_t n, int mode, cg_ogurl_host_pt host_ok,
               const void *ctx)
{
    int a = cg_ogurl_class1(u, n, mode, host_ok, ctx), b;

    if (mode != CG_OGURL_MD || a == CG_OGURL_FOREIGN) {
        return a;
    }
    b = cg_ogurl_class1(u, n, CG_OGURL_HTML, host_ok, ctx);
    return b == CG_OGURL_FOREIGN ? b : a;
}


static int
cg_ogurl_class1(const char *u, size_t n, int mode, cg_ogurl_host_pt host_ok,
                const void *ctx)
{
    char     d[CG_OGURL_MAX], *s;
    long     dn;
    size_t   i, o, len, k;
    int      r = CG_OGURL_FOREIGN;

    if (n > CG_OGURL_MAX) {
        return CG_OGURL_FOREIGN;
    }
    dn = cg_ogurl_decode(u, n, mode, d);
    if (dn < 0) {
        goto done;
    }
    /* Leading/trailing C0 and space go, tab/CR/LF go anywhere. */
    s = d;
    len = (size_t) dn;
    while (len > 0 && (unsigned char) s[0] <= ' ') {
        s++;
        len--;
    }
    while (len > 0 && (unsigned char) s[len - 1] <= ' ') {
        len--;
    }
    for (i = o = 0; i < len; i++) {
        if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            s[o++] = s[i];
        }
    }
    len = o;
    if (len == 0) {
        r = CG_OGURL_RELATIVE;
        goto done;
    }
    if (cg_ogurl_alpha((unsigned char) s[0])) {
        for (k = 1; k < len && (cg_ogurl_alpha((unsigned char) s[k])
                                || (s[k] >= '0' && s[k] <= '9')
                                || s[k] == '+' || s[k] == '-'
                                || s[k] == '.'); k++) { }
        if (k < len && s[k] == ':') {
            if ((k == 4 && strncasecmp(s, "http", 4) == 0)
                || (k == 5 && strncasecmp(s, "https", 5) == 0)) {
                /* Any number of '/' or '\', even none. */
                for (k++; k < len && cg_ogurl_slash(s[k]); k++) { }
                r = cg_ogurl_authority(s + k, len - k, host_ok, ctx);
            }
            goto done;              /* every other scheme: foreign */
        }
    }
    if (len >= 2 && cg_ogurl_slash(s[0]) && cg_ogurl_slash(s[1])) {
        for (k = 2; k < len && cg_ogurl_slash(s[k]); k++) { }
        r = cg_ogurl_authority(s + k, len - k, host_ok, ctx);
        goto done;
    }
    r = CG_OGURL_RELATIVE;
done:
    explicit_bzero(d, sizeof(d));
    return r;
}
