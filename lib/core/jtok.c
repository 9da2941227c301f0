#include "core/jtok.h"
#include "core/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Longest key compared with a path segment; a longer one matches none. */
#define CG_JTOK_KEYMAX  64

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    const char *const   *paths;     /* NULL: check only */
    cg_jtok_val_t       *vals;
    int                  checked;   /* a part of an accepted document */
    int                  depth;     /* levels a document may use */
} cg_jtok_t;

/* The paths that reach one value: those that end at it, and those that go
 * on inside it with where their next segment starts. */
typedef struct {
    uint32_t      done;
    uint32_t      live;
    unsigned char off[CG_JTOK_PATHS];
} cg_jtok_at_t;

/* Where decoded string bytes go: a buffer, a C string (cut at the first
 * NUL, as json-c's keys and json_object_get_string() are), or nowhere. */
typedef struct {
    cg_buf_t *buf;
    char     *out;
    size_t    cap;
    size_t    n;
    int       cut;          /* a NUL was decoded: the C string ended */
    int       over;         /* the C string did not fit */
} cg_jtok_sink_t;

static int cg_jtok_value(cg_jtok_t *w, int depth, const cg_jtok_at_t *at);


static void
cg_jtok_ws(cg_jtok_t *w)
{
    while (w->p < w->end && (*w->p == ' ' || *w->p == '\n'
                             || *w->p == '\r' || *w->p == '\t')) {
        w->p++;
    }
}


static void
cg_jtok_emit(cg_jtok_sink_t *k, const void *s, size_t n)
{
    const char *nul;

    if (k == NULL || n == 0) {
        return;
    }
    if (k->buf) {
        cg_buf_add(k->buf, s, n);
        return;
    }
    if (k->cut) {
        return;
    }
    nul = memchr(s, '\0', n);
    if (nul) {
        n = (size_t) (nul - (const char *) s);
        k->cut = 1;
    }
    if (k->n + n >= k->cap) {
        k->over = 1;
        k->cut = 1;
        return;
    }
    memcpy(k->out + k->n, s, n);
    k->n += n;
    k->out[k->n] = '\0';
}


static void
cg_jtok_emit_cp(cg_jtok_sink_t *k, unsigned cp)
{
    unsigned char u[4];
    size_t        n;

    if (cp < 0x80) {
        u[0] = (unsigned char) cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char) (0xc0 | (cp >> 6));
        u[1] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char) (0xe0 | (cp >> 12));
        u[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char) (0xf0 | (cp >> 18));
        u[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        u[3] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 4;
    }
    cg_jtok_emit(k, u, n);
}


/* Four hex digits after "\u"; -1 if they are not there. */
static long
cg_jtok_hex4(cg_jtok_t *w)
{
    unsigned v = 0, c;
    int      i;

    if (w->end - w->p < 4) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        c = w->p[i];
        if (c >= '0' && c <= '9') {
            c -= '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
        v = v << 4 | c;
    }
    w->p += 4;
    return (long) v;
}


/* A \u escape, w->p after the 'u'. As json-c: a high surrogate takes the
 * low one of a directly following "\u" escape; any other pairing gives
 * U+FFFD for the unpaired half and reads what follows as it is. */
static int
cg_jtok_uescape(cg_jtok_t *w, cg_jtok_sink_t *k)
{
    long u = cg_jtok_hex4(w), lo;

    if (u < 0) {
        return -1;
    }
    while ((u & 0xfc00) == 0xd800) {
        if (w->end - w->p < 2 || w->p[0] != '\\' || w->p[1] != 'u') {
            cg_jtok_emit_cp(k, 0xfffd);
            return 0;
        }
        w->p += 2;
        if ((lo = cg_jtok_hex4(w)) < 0) {
            return -1;
        }
        if ((lo & 0xfc00) == 0xdc00) {
            cg_jtok_emit_cp(k, 0x10000 + (((unsigned) u & 0x3ff) << 10)
                               + ((unsigned) lo & 0x3ff));
            return 0;
        }
        cg_jtok_emit_cp(k, 0xfffd);
        u = lo;
    }
    cg_jtok_emit_cp(k, (u & 0xfc00) == 0xdc00 ? 0xfffd : (unsigned) u);
    return 0;
}


static int
cg_jtok_escape(cg_jtok_t *w, cg_jtok_sink_t *k)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char       *e;
    unsigned char     c;

    if (w->p >= w->end) {
        return -1;
    }
    c = *w->p++;
    if (c == 'u') {
        return cg_jtok_uescape(w, k);
    }
    e = c ? strchr(from, c) : NULL;
    if (e == NULL) {
        return -1;
    }
    cg_jtok_emit(k, &to[e - from], 1);
    return 0;
}


/* Bytes a string passes on without a second look: printable ASCII but
 * the quotes and the backslash. */
static const unsigned char cg_jtok_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};


/* The closing quote of a string in an accepted document, w->p after the
 * opening one: the first quote not escaped (NULL if there is none). */
static const unsigned char *
cg_jtok_close(const cg_jtok_t *w, unsigned char quote)
{
    const unsigned char *q = w->p, *b;

    for (;;) {
        q = memchr(q, quote, (size_t) (w->end - q));
        if (q == NULL) {
            return NULL;        /* not from an accepted document */
        }
        for (b = q; b > w->p && b[-1] == '\\'; b--) {
        }
        if (((q - b) & 1) == 0) {
            return q;
        }
        q++;
    }
}


/* The same string decoded: runs between backslashes are copied whole. */
static int
cg_jtok_checked(cg_jtok_t *w, unsigned char quote, cg_jtok_sink_t *k)
{
    const unsigned char *q = cg_jtok_close(w, quote), *b;
    cg_jtok_t            e = *w;

    if (q == NULL) {
        return -1;
    }
    while (k && (b = memchr(e.p, '\\', (size_t) (q - e.p))) != NULL) {
        cg_jtok_emit(k, e.p, (size_t) (b - e.p));
        e.p = b + 1;
        e.end = q;
        if (cg_jtok_escape(&e, k) != 0) {
            return -1;          /* cannot happen: it was checked */
        }
    }
    if (k) {
        cg_jtok_emit(k, e.p, (size_t) (q - e.p));
    }
    w->p = q + 1;
    return 0;
}


/* A string, w->p after its opening quote; on success w->p is after the
 * closing one. Raw control bytes pass (json-c takes them); a NUL byte, a
 * bad escape or bytes that are not UTF-8 do not. */
static int
cg_jtok_string(cg_jtok_t *w, unsigned char quote, cg_jtok_sink_t *k)
{
    const unsigned char *run;
    unsigned             cp;
    size_t               n;
    unsigned char        c;

    if (w->checked) {
        return cg_jtok_checked(w, quote, k);
    }
    for (;;) {
        run = w->p;
        while (w->p < w->end && cg_jtok_plain[*w->p]) {
            w->p++;
        }
        cg_jtok_emit(k, run, (size_t) (w->p - run));
        if (w->p >= w->end) {
            return -1;
        }
        c = *w->p;
        if (c == quote) {
            w->p++;
            return 0;
        }
        if (c == '\\') {
            w->p++;
            if (cg_jtok_escape(w, k) != 0) {
                return -1;
            }
            continue;
        }
        if (c == 0) {
            return -1;
        }
        n = c < 0x80 ? 1 : cg_utf8_decode(w->p, (size_t) (w->end - w->p), &cp);
        if (n == 0) {
            return -1;
        }
        cg_jtok_emit(k, w->p, n);
        w->p += n;
    }
}


static int
cg_jtok_digits(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;

    while (*p < end && **p >= '0' && **p <= '9') {
        (*p)++;
    }
    return *p > s;
}


/* What strtod() takes whole, from the characters json-c gathers for a
 * number with a '.' or an exponent. */
static int
cg_jtok_double_ok(const unsigned char *p, const unsigned char *end)
{
    int lead;

    if (p < end && *p == '-') {
        p++;
    }
    lead = cg_jtok_digits(&p, end);
    if (p < end && *p == '.') {
        p++;
        if (!cg_jtok_digits(&p, end) && !lead) {
            return 0;
        }
    } else if (!lead) {
        return 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (!cg_jtok_digits(&p, end)) {
            return 0;
        }
    }
    return p == end;
}


/* A literal spelt exactly (strict json-c takes no other case). */
static int
cg_jtok_lit(cg_jtok_t *w, const char *s, int type)
{
    size_t n = strlen(s);

    if ((size_t) (w->end - w->p) < n || memcmp(w->p, s, n) != 0) {
        return -1;
    }
    w->p += n;
    return type;
}


/* A number as json-c 0.16 reads one: it gathers digits, one '.', one
 * exponent and signs where they may start, then an integer must have no
 * leading zero (unless it is negative or all zeros) and anything else must
 * be what strtod() reads whole. Out-of-range integers are clamped. */
static int
cg_jtok_number(cg_jtok_t *w)
{
    const unsigned char *s = w->p;
    int                  dbl = 0, ex = 0, neg = 1, pos = 0;
    unsigned char        c;

    while (w->p < w->end) {
        c = *w->p;
        if (!((c >= '0' && c <= '9') || (!ex && (c == 'e' || c == 'E'))
              || (neg && c == '-') || (pos && c == '+')
              || (!dbl && c == '.'))) {
            break;
        }
        ex |= c == 'e' || c == 'E';
        dbl |= c == '.' || c == 'e' || c == 'E';
        neg = pos = c == '.' || c == 'e' || c == 'E';
        w->p++;
    }
    if (w->p - s == 1 && *s == '-' && w->p < w->end && *w->p == 'I') {
        return cg_jtok_lit(w, "Infinity", CG_JTOK_DOUBLE);
    }
    if (dbl) {
        return cg_jtok_double_ok(s, w->p) ? CG_JTOK_DOUBLE : -1;
    }
    if (*s == '-') {
        return w->p - s > 1 ? CG_JTOK_INT : -1;     /* "-01" passes */
    }
    if (*s == '0') {
        /* A positive integer must not start with '0' unless it is all
         * zeros: "00" passes, "01" does not. */
        while (s < w->p && *s == '0') {
            s++;
        }
        if (s < w->p) {
            return -1;
        }
    }
    return CG_JTOK_INT;
}


/* The paths of at whose next segment is seg_match(key or index): they
 * reach the child; the last one of repeated keys counts, so each match
 * forgets what an earlier one found. */
static void
cg_jtok_child(cg_jtok_t *w, const cg_jtok_at_t *at, const char *key,
              size_t klen, long idx, cg_jtok_at_t *child)
{
    const char *seg, *close;
    size_t      n;
    uint32_t    bit, left;
    int         i;

    child->done = child->live = 0;
    for (left = at->live; left; left &= left - 1) {
        i = __builtin_ctz(left);
        bit = (uint32_t) 1 << i;
        seg = w->paths[i] + at->off[i];
        if (key == NULL) {
            if (*seg != '[' || (close = strchr(seg, ']')) == NULL
                || strtol(seg + 1, NULL, 10) != idx) {
                continue;
            }
            n = (size_t) (close - seg) + 1;
        } else {
            n = klen;
            if (*seg != *key || *seg == '[' || strncmp(seg, key, n) != 0
                || (seg[n] != '\0' && seg[n] != '.' && seg[n] != '[')) {
                continue;
            }
        }
        w->vals[i].type = CG_JTOK_ABSENT;
        if (seg[n] == '\0') {
            child->done |= bit;
        } else {
            child->live |= bit;
            child->off[i] = (unsigned char) (at->off[i] + n
                                             + (seg[n] == '.'));
        }
    }
}


/* After a member or element: 1 at the closing bracket, 0 after a comma
 * (and the whitespace after it), else -1. */
static int
cg_jtok_sep(cg_jtok_t *w, unsigned char close)
{
    cg_jtok_ws(w);
    if (w->p >= w->end || (*w->p != close && *w->p != ',')) {
        return -1;
    }
    if (*w->p++ == close) {
        return 1;
    }
    cg_jtok_ws(w);
    return 0;
}


/* A key (from start, after its opening quote, to end, after its closing
 * one) as text to match paths against: the bytes themselves when it has
 * no escape, else decoded into buf. NULL if it is too long to match any
 * path. */
static const char *
cg_jtok_key(const unsigned char *start, const unsigned char *end,
            unsigned char quote, char *buf, size_t cap, size_t *len)
{
    cg_jtok_sink_t k = { 0 };
    cg_jtok_t      d = { 0 };

    *len = (size_t) (end - 1 - start);
    if (memchr(start, '\\', *len) == NULL) {
        return (const char *) start;
    }
    d.p = start;
    d.end = end;
    d.checked = 1;
    k.out = buf;
    k.cap = cap;
    buf[0] = '\0';
    if (cg_jtok_string(&d, quote, &k) != 0 || k.over) {
        return NULL;
    }
    *len = k.n;
    return buf;
}


static int
cg_jtok_member(cg_jtok_t *w, int depth, const cg_jtok_at_t *at)
{
    cg_jtok_at_t         child = { 0 };
    char                 buf[CG_JTOK_KEYMAX];
    const char          *key;
    const unsigned char *start, *end;
    size_t               klen;
    unsigned char        quote;

    if (w->p >= w->end || (*w->p != '"' && *w->p != '\'')) {
        return -1;      /* json-c takes a single-quoted key, even strict */
    }
    quote = *w->p++;
    start = w->p;
    if (cg_jtok_string(w, quote, NULL) != 0) {
        return -1;
    }
    end = w->p;
    cg_jtok_ws(w);
    if (w->p >= w->end || *w->p != ':') {
        return -1;
    }
    w->p++;
    cg_jtok_ws(w);
    if (depth >= w->depth - 1) {
        return -1;
    }
    if (at && at->live
        && (key = cg_jtok_key(start, end, quote, buf, sizeof(buf), &klen))) {
        cg_jtok_child(w, at, key, klen, -1, &child);
    }
    return cg_jtok_value(w, depth + 1, &child);
}


static int
cg_jtok_object(cg_jtok_t *w, int depth, const cg_jtok_at_t *at)
{
    w->p++;
    cg_jtok_ws(w);
    if (w->p < w->end && *w->p == '}') {
        w->p++;
        return CG_JTOK_OBJECT;
    }
    for (;;) {
        if (cg_jtok_member(w, depth, at) != 0) {
            return -1;
        }
        switch (cg_jtok_sep(w, '}')) {
        case 1: return CG_JTOK_OBJECT;
        case -1: return -1;
        }
    }
}


static int
cg_jtok_array(cg_jtok_t *w, int depth, const cg_jtok_at_t *at)
{
    cg_jtok_at_t child = { 0 };
    long         i;

    w->p++;
    cg_jtok_ws(w);
    if (w->p < w->end && *w->p == ']') {
        w->p++;
        return CG_JTOK_ARRAY;
    }
    for (i = 0;; i++) {
        if (depth >= w->depth - 1) {
            return -1;
        }
        if (at && at->live) {
            cg_jtok_child(w, at, NULL, 0, i, &child);
        }
        if (cg_jtok_value(w, depth + 1, &child) != 0) {
            return -1;
        }
        switch (cg_jtok_sep(w, ']')) {
        case 1: return CG_JTOK_ARRAY;
        case -1: return -1;
        }
        child.done = child.live = 0;
    }
}


static int
cg_jtok_value(cg_jtok_t *w, int depth, const cg_jtok_at_t *at)
{
    const unsigned char *start = w->p;
    uint32_t             left;
    int                  type, i;

    if (w->p >= w->end) {
        return -1;
    }
    switch (*w->p) {
    case '{': type = cg_jtok_object(w, depth, at); break;
    case '[': type = cg_jtok_array(w, depth, at); break;
    case '"':
        w->p++;
        type = cg_jtok_string(w, '"', NULL) == 0 ? CG_JTOK_STRING : -1;
        break;
    case 't': type = cg_jtok_lit(w, "true", CG_JTOK_BOOL); break;
    case 'f': type = cg_jtok_lit(w, "false", CG_JTOK_BOOL); break;
    case 'n': type = cg_jtok_lit(w, "null", CG_JTOK_NULL); break;
    case 'N': type = cg_jtok_lit(w, "NaN", CG_JTOK_DOUBLE); break;
    case 'I': type = cg_jtok_lit(w, "Infinity", CG_JTOK_DOUBLE); break;
    default:
        type = (*w->p >= '0' && *w->p <= '9') || *w->p == '-'
               ? cg_jtok_number(w) : -1;
    }
    if (type < 0) {
        return -1;
    }
    for (left = at ? at->done : 0; left; left &= left - 1) {
        i = __builtin_ctz(left);
        w->vals[i].p = (const char *) start;
        w->vals[i].len = (size_t) (w->p - start);
        w->vals[i].type = type;
    }
    return 0;
}


/* Picks paths in the object at s[0..len), whitespace around it. */
static int
cg_jtok_walk(const char *s, size_t len, int checked, int depth,
             const char *const *paths, cg_jtok_val_t *vals)
{
    cg_jtok_t    w;
    cg_jtok_at_t at = { 0 };
    int          i, n = 0;

    w.p = (const unsigned char *) s;
    w.end = w.p + len;
    w.paths = paths;
    w.vals = vals;
    w.checked = checked;
    w.depth = depth;
    while (paths && paths[n] && n < CG_JTOK_PATHS) {
        vals[n] = (cg_jtok_val_t) { NULL, 0, CG_JTOK_ABSENT };
        at.live |= (uint32_t) 1 << n;
        n++;
    }
    cg_jtok_ws(&w);
    if (w.p < w.end && *w.p == '{' && cg_jtok_value(&w, 0, &at) == 0) {
        cg_jtok_ws(&w);
        if (w.p == w.end) {
            return 0;
        }
    }
    for (i = 0; i < n; i++) {
        vals[i].type = CG_JTOK_ABSENT;
    }
    return -1;
}


int
cg_jtok_pick(const char *s, size_t len, const char *const *paths,
             cg_jtok_val_t *vals)
{
    return cg_jtok_walk(s, len, 0, CG_JTOK_DEPTH, paths, vals);
}


int
cg_jtok_pick_depth(const char *s, size_t len, int depth,
                   const char *const *paths, cg_jtok_val_t *vals)
{
    return cg_jtok_walk(s, len, 0, depth, paths, vals);
}


int
cg_jtok_sub(const cg_jtok_val_t *obj, const char *const *paths,
            cg_jtok_val_t *vals)
{
    return cg_jtok_walk(obj->type == CG_JTOK_OBJECT ? obj->p : "",
                        obj->type == CG_JTOK_OBJECT ? obj->len : 0, 1,
                        CG_JTOK_DEPTH, paths, vals);
}


int
cg_jtok_next(const cg_jtok_val_t *arr, size_t *pos, cg_jtok_val_t *elem)
{
    cg_jtok_t    w = { 0 };
    cg_jtok_at_t at = { 0 };

    if (arr->type != CG_JTOK_ARRAY || *pos >= arr->len) {
        return 0;
    }
    w.p = (const unsigned char *) arr->p + (*pos ? *pos : 1);
    w.end = (const unsigned char *) arr->p + arr->len;
    w.vals = elem;
    w.checked = 1;
    w.depth = CG_JTOK_DEPTH;
    at.done = 1;
    cg_jtok_ws(&w);
    /* The array was checked whole: only its end can stop this. */
    if (*w.p == ']' || cg_jtok_value(&w, 0, &at) != 0) {
        *pos = arr->len;
        return 0;
    }
    cg_jtok_ws(&w);
    if (*w.p == ',') {
        w.p++;
    }
    *pos = (size_t) ((const char *) w.p - arr->p);
    return 1;
}


/* Decodes a string value (checked already) into k. */
static int
cg_jtok_decode(const cg_jtok_val_t *v, cg_jtok_sink_t *k)
{
    cg_jtok_t w = { 0 };

    if (v->type != CG_JTOK_STRING) {
        return -1;
    }
    w.p = (const unsigned char *) v->p + 1;
    w.end = (const unsigned char *) v->p + v->len;
    w.checked = 1;
    return cg_jtok_string(&w, '"', k);
}


int
cg_jtok_str(const cg_jtok_val_t *v, cg_buf_t *out)
{
    cg_jtok_sink_t k = { 0 };

    k.buf = out;
    return cg_jtok_decode(v, &k);
}


int
cg_jtok_cstr(const cg_jtok_val_t *v, char *out, size_t cap)
{
    cg_jtok_sink_t k = { 0 };

    if (cap == 0) {
        return -1;
    }
    k.out = out;
    k.cap = cap;
    out[0] = '\0';
    if (cg_jtok_decode(v, &k) != 0 || k.over) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}


int
cg_jtok_int(const cg_jtok_val_t *v, long long *out)
{
    const char *p, *end;
    int         neg;
    long long   n = 0, d;

    if (v->type != CG_JTOK_INT) {
        return -1;      /* an absent value has no p to count from */
    }
    p = v->p;
    end = p + v->len;
    neg = *p == '-';
    p += neg;
    for (; p < end; p++) {
        d = *p - '0';
        if (!neg) {
            n = n > (INT64_MAX - d) / 10 ? INT64_MAX : n * 10 + d;
        } else {
            n = n < (INT64_MIN + d) / 10 ? INT64_MIN : n * 10 - d;
        }
    }
    *out = n;
    return 0;
}
