#include "guard/outguard.h"
#include "core/secret.h"
#include "guard/ogurl.h"
#include "guard/textguard.h"
#include "core/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CG_OG_NEED       (-1L)  /* a step needs more bytes to decide */
#define CG_OG_DEPTH      8      /* link text nested deeper: no more links */
#define CG_OG_REMOVED    "[link removed]"
#define CG_OG_REDACTED   "[REDACTED]"
#define CG_OG_RING       (2 * CG_OG_LOOKAHEAD)
#define CG_OG_STACK      (CG_OG_LOOKAHEAD + 2)
#define CG_OG_TITLE_MAX  32     /* CommonMark's paren nesting limit */
#define CG_OG_ENC_MAX    (2 * CG_OG_SECRET_MAX + 4)
#define CG_OG_NOMATCH    UINT16_MAX /* a '[' with no ']' in reach (yet) */

typedef struct {
    char   *s;
    size_t  n;
} cg_og_str_t;

struct cg_outguard_conf_s {
    cg_og_str_t *hosts;
    size_t       nhosts;
    cg_og_str_t *secrets;       /* each secret and its encodings */
    size_t       nsecrets;
    long         max_urls;
    int          bare_urls;
};

/* One stage of the pipeline: bytes not yet decided, the absolute offset of
 * the first of them, the last byte it consumed (some constructs start only
 * at a word boundary), and its output's last byte and whether something
 * was just removed there (see cg_og_put). */
typedef struct {
    cg_buf_t       pend;
    size_t         off;
    size_t         abs;
    unsigned char  prev;
    unsigned char  olast;
    int            osep;
} cg_og_stage_t;

/* Where a step writes: the buffer (NULL: nowhere, a dry scan for secrets),
 * the last byte written, and "a construct was just removed here": the
 * next byte written is kept from joining what came before into a new
 * construct (a link, a tag, a URL). */
typedef struct {
    cg_buf_t      *buf;
    unsigned char  last;
    int            sep;
} cg_og_out_t;

typedef struct {
    unsigned char  prev;
    int            depth;
    size_t         abs;         /* depth 0: absolute offset of p[0] */
} cg_og_ctx_t;

/* Matching brackets for every '[' of stage B's input, computed once, so
 * that a long run of unclosed '[' costs what plain text does. The table
 * is made at an answer's first '[' and given back at reset: every stream
 * in flight holds one guard, and most answers have no '[' at all.
 * Offsets are kept in 32 bits (an answer is below CG_OG_MAX_ANSWER) and a
 * match as its distance (under a lookahead), 32 KB instead of 82. */
typedef struct {
    uint32_t       stk[CG_OG_STACK];
    uint32_t       mo[CG_OG_RING];  /* '[' at abs o: mo[o % RING] = o + 1 */
    uint16_t       mk[CG_OG_RING];  /* and its ']' at o + mk (or NOMATCH) */
} cg_og_table_t;

typedef struct {
    size_t         scan;        /* bytes of the stream scanned */
    int            esc;         /* the last scanned byte was a lone '\' */
    size_t         sbot, stop;
    cg_og_table_t *t;           /* NULL: no '[' in this answer yet */
    int            oom;         /* the table could not be made */
} cg_og_brackets_t;

/* Raw-text elements whose content is dropped with them. */
#define CG_OG_SKIP_NONE   0
#define CG_OG_SKIP_SCRIPT 1
#define CG_OG_SKIP_STYLE  2

struct cg_outguard_s {
    const cg_outguard_conf_t *conf;
    const cg_pii_map_t       *map;
    cg_og_stage_t             a, b;
    cg_buf_t                  mid;      /* stage A's output */
    long                      urls;     /* allowed URLs kept so far */
    unsigned                  events;
    int                       skip;     /* inside <script> or <style> */
    int                       dry;      /* a tag's text checked, not kept */
    size_t                    gt_from;  /* no '>' in [gt_from, gt_at) */
    size_t                    gt_at;
    int                       gt_found; /* ... and one at gt_at */
    cg_og_brackets_t          br;
    int                       keep_links;   /* stage 2 off (issue 20) */
};

typedef long (*cg_og_step_pt)(cg_outguard_t *g, cg_og_ctx_t *cx,
                              const unsigned char *p, size_t n, int eof,
                              cg_og_out_t *o);

static long cg_og_step_b(cg_outguard_t *g, cg_og_ctx_t *cx,
                         const unsigned char *p, size_t n, int eof,
                         cg_og_out_t *o);
static long cg_og_secret(cg_outguard_t *g, const cg_og_ctx_t *cx,
                         const unsigned char *p, size_t n, int eof,
                         cg_og_out_t *o);


/* ---- configuration ---- */

cg_outguard_conf_t *
cg_outguard_conf_new(void)
{
    cg_outguard_conf_t *c = calloc(1, sizeof(*c));

    if (c != NULL) {
        c->max_urls = 10;
        c->bare_urls = 1;
    }
    return c;
}


static void
cg_og_strs_free(cg_og_str_t *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        explicit_bzero(v[i].s, v[i].n);
        free(v[i].s);
    }
    free(v);
}


void
cg_outguard_conf_free(cg_outguard_conf_t *c)
{
    if (c == NULL) {
        return;
    }
    cg_og_strs_free(c->hosts, c->nhosts);
    cg_og_strs_free(c->secrets, c->nsecrets);
    free(c);
}


static int
cg_og_strs_add(cg_og_str_t **v, size_t *n, const void *s, size_t len,
               int lower)
{
    cg_og_str_t *t = realloc(*v, (*n + 1) * sizeof(**v));
    size_t       i;

    if (t == NULL) {
        return -1;
    }
    *v = t;
    t[*n].s = malloc(len + 1);
    if (t[*n].s == NULL) {
        return -1;
    }
    memcpy(t[*n].s, s, len);
    t[*n].s[len] = '\0';
    for (i = 0; lower && i < len; i++) {
        char ch = t[*n].s[i];
        t[*n].s[i] = (char) ((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    }
    t[*n].n = len;
    (*n)++;
    return 0;
}


int
cg_outguard_conf_allow_hosts(cg_outguard_conf_t *c, const char *list)
{
    const char *p = list, *q;

    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        for (q = p; *q && *q != ' ' && *q != ',' && *q != '\t'; q++) { }
        if (q > p && cg_og_strs_add(&c->hosts, &c->nhosts, p,
                                    (size_t) (q - p), 1) != 0) {
            return -1;
        }
        p = q;
    }
    return 0;
}


void
cg_outguard_conf_max_urls(cg_outguard_conf_t *c, long max)
{
    c->max_urls = max;
}


void
cg_outguard_conf_bare_urls(cg_outguard_conf_t *c, int on)
{
    c->bare_urls = on;
}


/* The part of base64(pad zero bytes + s + anything) that only s decides:
 * the key is found in a base64 blob whatever its offset in the blob. */
static size_t
cg_og_b64_core(const unsigned char *s, size_t n, size_t pad, int url,
               char *out)
{
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char safe[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *al = url ? safe : std;
    size_t      bits = 8 * (pad + n), i0 = (8 * pad + 5) / 6, i1 = bits / 6;
    size_t      i, o = 0, bit, k;
    unsigned    v;

    for (i = i0; i < i1; i++) {
        for (v = 0, k = 0; k < 6; k++) {
            bit = 6 * i + k;
            v <<= 1;
            if (bit >= 8 * pad) {
                size_t b = bit - 8 * pad;
                v |= (s[b / 8] >> (7 - b % 8)) & 1;
            }
        }
        out[o++] = al[v];
    }
    return o;
}


static int
cg_og_secret_add(cg_outguard_conf_t *c, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < c->nsecrets; i++) {
        if (c->secrets[i].n == n && memcmp(c->secrets[i].s, s, n) == 0) {
            return 0;
        }
    }
    if (n < CG_OG_SECRET_MIN) {
        return 0;
    }
    return cg_og_strs_add(&c->secrets, &c->nsecrets, s, n, 0);
}


/* The secret verbatim, in hex (both cases) and in base64 and base64url at
 * each of the three offsets a blob can hold it at. */
int
cg_outguard_conf_add_secret(cg_outguard_conf_t *c, const void *s, size_t n)
{
    static const char hexl[] = "0123456789abcdef", hexu[] = "0123456789ABCDEF";
    const unsigned char *u = s;
    char                 enc[CG_OG_ENC_MAX];
    size_t               i, pad, k;
    int                  url, rc = 0;

    if (n < CG_OG_SECRET_MIN || n > CG_OG_SECRET_MAX) {
        return -1;
    }
    rc |= cg_og_secret_add(c, s, n);
    for (i = 0; i < n; i++) {
        enc[2 * i] = hexl[u[i] >> 4];
        enc[2 * i + 1] = hexl[u[i] & 15];
    }
    rc |= cg_og_secret_add(c, enc, 2 * n);
    for (i = 0; i < n; i++) {
        enc[2 * i] = hexu[u[i] >> 4];
        enc[2 * i + 1] = hexu[u[i] & 15];
    }
    rc |= cg_og_secret_add(c, enc, 2 * n);
    for (url = 0; url < 2; url++) {
        for (pad = 0; pad < 3; pad++) {
            k = cg_og_b64_core(u, n, pad, url, enc);
            rc |= cg_og_secret_add(c, enc, k);
        }
    }
    explicit_bzero(enc, sizeof(enc));
    return rc ? -1 : 0;
}


/* ---- URLs ---- */

static int
cg_og_host_allowed(const void *ctx, const char *low, size_t n)
{
    const cg_outguard_conf_t *c = ctx;
    size_t                    i, k;

    for (i = 0; i < c->nhosts; i++) {
        const cg_og_str_t *a = &c->hosts[i];
        if (a->n == n && memcmp(a->s, low, n) == 0) {
            return 1;
        }
        if (a->s[0] == '.') {
            k = a->n - 1;
            if ((n == k && memcmp(a->s + 1, low, k) == 0)
                || (n > a->n && memcmp(a->s, low + n - a->n, a->n) == 0)) {
                return 1;
            }
        }
    }
    return 0;
}


/* Decides one URL written as `mode`: kept (absolute ones counted) or
 * removed (and noted). */
static int
cg_og_url_keep(cg_outguard_t *g, const unsigned char *u, size_t n, int mode)
{
    int ok = cg_ogurl_class((const char *) u, n, mode, cg_og_host_allowed,
                            g->conf);

    if (ok == CG_OGURL_RELATIVE) {
        return 1;
    }
    if (ok == CG_OGURL_ABSOLUTE && g->urls < g->conf->max_urls) {
        g->urls++;
        return 1;
    }
    g->events |= CG_OG_EV_URL;
    return 0;
}


/* ---- output ---- */

static int
cg_og_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80;
}


static int
cg_og_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int
cg_og_slash(unsigned char c)
{
    return c == '/' || c == '\\';
}


/* Does p[0..n) hold a '<' that could start a tag or an autolink, or a
 * "](" ? Kept raw text (a link tail, a definition, a tag) must not. */
static int
cg_og_has_tag(const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if ((p[i] == '<' && (cg_og_alpha(p[i + 1]) || p[i + 1] == '/'
                             || p[i + 1] == '!' || p[i + 1] == '?'))
            || (p[i] == ']' && p[i + 1] == '(')) {
            return 1;
        }
    }
    return 0;
}


/* Would l followed by p[0] (and p[1], when known) make something that was
 * not there: "](", "]:", a tag, a longer word, scheme or host, "//"? Only
 * asked where something was removed between them, so a space too many is
 * all it can cost. */
static int
cg_og_joins(unsigned char l, const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    int           word1 = n > 1 && (cg_og_word(p[1]) || cg_og_slash(p[1]));

    if (l == ' ' || l == '\n' || l == '\t' || c == ' ' || c == '\n'
        || c == '\t' || c == '\r') {
        return 0;
    }
    if (l == ']') {
        return c == '(' || c == '[' || c == ':';
    }
    if (l == '[' || l == '(') {
        return 0;
    }
    switch (c) {
    case '[':
        return l == '!';
    case ',': case ';': case '!': case '?': case ')': case '"': case '\'':
        return 0;
    case '.': case ':':
        return word1;
    default:
        return 1;
    }
}


/* Writes p[0..len); p[len..avail) may follow and is only looked at. */
static void
cg_og_put(cg_og_out_t *o, const void *s, size_t len, size_t avail)
{
    const unsigned char *p = s;

    if (len == 0) {
        return;
    }
    if (o->sep) {
        o->sep = 0;
        if (cg_og_joins(o->last, p, avail)) {
            if (o->buf != NULL) {
                cg_buf_addc(o->buf, ' ');
            }
        }
    }
    if (o->buf != NULL) {
        cg_buf_add(o->buf, p, len);
    }
    o->last = p[len - 1];
}


static void
cg_og_puts(cg_og_out_t *o, const char *s)
{
    size_t n = strlen(s);

    cg_og_put(o, s, n, n);
}


/* A construct was removed here: the event, and no join across it. */
static void
cg_og_cut(cg_outguard_t *g, cg_og_out_t *o)
{
    g->events |= CG_OG_EV_URL;
    o->sep = 1;
}


/* ---- the stage driver ---- */

static void cg_og_brackets_to(cg_outguard_t *g, size_t to);

/* Runs step over the stage's pending bytes. A step sees at most
 * CG_OG_LOOKAHEAD bytes and is told eof when that is all it will get, so
 * it decides on the same bytes whether the text came in one piece or many. */
static void
cg_og_run(cg_outguard_t *g, cg_og_stage_t *st, cg_og_step_pt step,
          const char *in, size_t len, int final, cg_buf_t *out)
{
    cg_og_ctx_t           cx;
    cg_og_out_t           o;
    const unsigned char  *p;
    size_t                avail, win;
    long                  r;

    cg_buf_add(&st->pend, in, len);
    cx.prev = st->prev;
    cx.depth = 0;
    o.buf = out;
    o.last = st->olast;
    o.sep = st->osep;
    while (!st->pend.oom && st->off < st->pend.len) {
        p = (const unsigned char *) st->pend.data + st->off;
        avail = st->pend.len - st->off;
        win = avail < CG_OG_LOOKAHEAD ? avail : CG_OG_LOOKAHEAD;
        cx.abs = st->abs + st->off;
        r = step(g, &cx, p, win, final || avail >= CG_OG_LOOKAHEAD, &o);
        if (r == CG_OG_NEED) {
            break;
        }
        cx.prev = p[r - 1];
        st->off += (size_t) r;
    }
    st->prev = cx.prev;
    st->olast = o.last;
    st->osep = o.sep;
    if (st->off > 0) {
        if (st == &g->b) {
            /* The bracket matcher reads every byte once, before it goes. */
            cg_og_brackets_to(g, st->abs + st->off);
        }
        memmove(st->pend.data, st->pend.data + st->off,
                st->pend.len - st->off);
        st->pend.len -= st->off;
        st->abs += st->off;
        st->off = 0;
    }
}


static size_t
cg_og_charlen(const unsigned char *p, size_t n)
{
    unsigned cp;
    size_t   len = cg_utf8_decode(p, n, &cp);

    return len ? len : 1;
}


/* ---- stage A: invisible characters and PII placeholders ---- */

static long
cg_og_placeholder(cg_outguard_t *g, const unsigned char *p, size_t n,
                  int eof, cg_og_out_t *o)
{
    const cg_pii_entry_t *e;
    size_t                i;

    for (i = 1; i < n && i < CG_PII_PH_MAX; i++) {
        unsigned char ch = p[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || (ch >= 'a' && ch <= 'f') || ch == '_')) {
            break;
        }
    }
    if (i == n && i < CG_PII_PH_MAX) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (i >= CG_PII_PH_MAX || p[i] != ']') {
        return 0;
    }
    e = cg_pii_map_find(g->map, (const char *) p, i + 1);
    if (e == NULL) {
        return 0;
    }
    cg_og_put(o, e->orig, e->orig_len, e->orig_len);
    g->events |= CG_OG_EV_RESTORED;
    return (long) i + 1;
}


static long
cg_og_step_a(cg_outguard_t *g, cg_og_ctx_t *cx, const unsigned char *p,
             size_t n, int eof, cg_og_out_t *o)
{
    size_t i;
    long   r;

    (void) cx;
    if (p[0] == '[' && g->map != NULL && g->map->n > 0) {
        r = cg_og_placeholder(g, p, n, eof, o);
        if (r != 0) {
            return r;
        }
    }
    r = cg_textguard_invisible(p, n, eof);
    if (r != 0) {
        if (r > 0) {
            g->events |= CG_OG_EV_INVISIBLE;
        }
        return r;
    }
    /* A run of plain printable ASCII in one go. */
    for (i = 0; i < n && ((p[i] >= 0x20 && p[i] < 0x7f && p[i] != '[')
                          || p[i] == '\n' || p[i] == '\t'); i++) { }
    if (i == 0) {
        i = cg_og_charlen(p, n);
    }
    cg_og_put(o, p, i, i);
    return (long) i;
}


/* ---- secrets ---- */

static int
cg_og_keychar(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
           || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}


static long
cg_og_secret(cg_outguard_t *g, const cg_og_ctx_t *cx, const unsigned char *p,
             size_t n, int eof, cg_og_out_t *o)
{
    const cg_outguard_conf_t *c = g->conf;
    size_t                    i, t;

    for (i = 0; i < c->nsecrets; i++) {
        const cg_og_str_t *s = &c->secrets[i];
        if ((unsigned char) s->s[0] != p[0]) {
            continue;
        }
        if (n < s->n) {
            if (!eof && memcmp(p, s->s, n) == 0) {
                return CG_OG_NEED;
            }
        } else if (memcmp(p, s->s, s->n) == 0) {
            cg_og_puts(o, CG_OG_REDACTED);
            g->events |= CG_OG_EV_SECRET;
            return (long) s->n;
        }
    }
    if (cg_og_keychar(cx->prev) || !cg_og_keychar(p[0])) {
        return 0;
    }
    for (t = 0; t < n && cg_og_keychar(p[t]); t++) { }
    if (t == n && !eof) {
        return CG_OG_NEED;
    }
    if (!cg_secret_looks_like_key((const char *) p, t)) {
        return 0;
    }
    cg_og_puts(o, CG_OG_REDACTED);
    g->events |= CG_OG_EV_SECRET;
    return (long) t;
}


/* Emits a construct that is kept as it is (an allowed link, tag or URL),
 * still without secrets: a key in an allowed URL is a key sent away. With
 * o->buf NULL it only looks for secrets (in what is being removed: the
 * key reached the model all the same, so it must be rotated). */
static void
cg_og_raw(cg_outguard_t *g, cg_og_out_t *o, const unsigned char *p,
          size_t n)
{
    cg_og_ctx_t cx = { ' ', 0, 0 };
    size_t      i = 0;
    long        r;

    while (i < n) {
        r = cg_og_secret(g, &cx, p + i, n - i, 1, o);
        if (r == 0) {
            cg_og_put(o, p + i, 1, n - i);
            r = 1;
        }
        cx.prev = p[i + (size_t) r - 1];
        i += (size_t) r;
    }
}


static void
cg_og_secrets_in(cg_outguard_t *g, const unsigned char *p, size_t n)
{
    cg_og_out_t none = { NULL, ' ', 0 };

    cg_og_raw(g, &none, p, n);
}


/* ---- brackets ---- */

static void
cg_og_brackets_reset(cg_og_brackets_t *b)
{
    free(b->t);
    memset(b, 0, sizeof(*b));
}


/* The table, made at the first '[': only mo is read before it is
 * written, and no tag in it may be mistaken for an offset + 1. */
static cg_og_table_t *
cg_og_table(cg_og_brackets_t *b)
{
    if (b->t == NULL && !b->oom) {
        b->t = malloc(sizeof(*b->t));
        if (b->t == NULL) {
            b->oom = 1;
            return NULL;
        }
        memset(b->t->mo, 0, sizeof(b->t->mo));
    }
    return b->t;
}


/* Scans stage B's input up to absolute offset `to` (at most what it
 * holds): each unescaped '[' is pushed, each unescaped ']' pops and
 * records its match. An opener more than a lookahead behind can never
 * match within its reach, so the stack keeps only the last ones. */
static void
cg_og_brackets_to(cg_outguard_t *g, size_t to)
{
    cg_og_brackets_t *b = &g->br;
    cg_og_table_t    *t;
    const char       *d = g->b.pend.data;
    size_t            end = g->b.abs + g->b.pend.len, o;
    unsigned char     c;

    if (to > end) {
        to = end;
    }
    for (; b->scan < to; b->scan++) {
        c = (unsigned char) d[b->scan - g->b.abs];
        if (b->esc) {
            b->esc = 0;
            continue;
        }
        if (c == '\\') {
            b->esc = 1;
        } else if (c == '[') {
            if ((t = cg_og_table(b)) == NULL) {
                return;
            }
            if (b->stop - b->sbot >= CG_OG_STACK) {
                b->sbot++;
            }
            t->stk[b->stop++ % CG_OG_STACK] = (uint32_t) b->scan;
            t->mo[b->scan % CG_OG_RING] = (uint32_t) (b->scan + 1);
            t->mk[b->scan % CG_OG_RING] = CG_OG_NOMATCH;
        } else if (c == ']' && b->stop > b->sbot) {
            t = b->t;               /* a '[' was pushed: it is there */
            o = (uint32_t) b->scan - t->stk[--b->stop % CG_OG_STACK];
            if (o < CG_OG_LOOKAHEAD) {
                t->mk[(b->scan - o) % CG_OG_RING] = (uint16_t) o;
            }
        }
    }
}


/* p[0] == '[': the index of the matching ']' (backslash escapes honoured),
 * 0 when there is none in reach, CG_OG_NEED when it may still come. */
static long
cg_og_bracket(cg_outguard_t *g, const cg_og_ctx_t *cx, const unsigned char *p,
              size_t n, int eof)
{
    cg_og_brackets_t *b = &g->br;
    size_t            i, s = cx->abs, k;
    int               depth = 0;

    if (cx->depth == 0 && p >= (const unsigned char *) g->b.pend.data
        && p < (const unsigned char *) g->b.pend.data + g->b.pend.len) {
        cg_og_brackets_to(g, s + n);
        if (b->t == NULL || b->t->mo[s % CG_OG_RING] != (uint32_t) (s + 1)) {
            return 0;       /* an escaped '[' opens nothing (or no memory) */
        }
        k = b->t->mk[s % CG_OG_RING];
        if (k != CG_OG_NOMATCH && k < n) {
            return (long) k;
        }
        return eof ? 0 : CG_OG_NEED;
    }
    for (i = 0; i < n; i++) {
        if (p[i] == '\\') {
            i++;
        } else if (p[i] == '[') {
            depth++;
        } else if (p[i] == ']' && --depth == 0) {
            return (long) i;
        }
    }
    return eof ? 0 : CG_OG_NEED;
}


/* Runs stage B over a piece already in hand (link text), one level
 * deeper, and appends the result without brackets, so kept text can never
 * form a new link with what follows it. */
static void
cg_og_text(cg_outguard_t *g, const cg_og_ctx_t *outer, const unsigned char *p,
           size_t n, cg_og_out_t *o)
{
    cg_og_ctx_t  cx = { ' ', outer->depth + 1, 0 };
    cg_buf_t     tmp;
    cg_og_out_t  t;
    size_t       i = 0;
    long         r;

    cg_buf_init(&tmp);
    t.buf = &tmp;
    t.last = ' ';
    t.sep = 0;
    while (i < n) {
        r = cg_og_step_b(g, &cx, p + i, n - i, 1, &t);
        cx.prev = p[i + (size_t) r - 1];
        i += (size_t) r;
    }
    for (i = 0; i < tmp.len; i++) {
        char ch = tmp.data[i];
        if (ch == '[' || ch == ']') {
            o->sep = 1;
        } else {
            cg_og_put(o, tmp.data + i, 1, tmp.len - i);
        }
    }
    if (tmp.oom && o->buf != NULL) {
        o->buf->oom = 1;
    }
    if (tmp.data != NULL) {
        cg_buf_wipe_bytes(tmp.data, tmp.cap);
    }
    cg_buf_free(&tmp);
}


static int
cg_og_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@')
           || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}


/* CommonMark's "optional spaces or tabs, including up to one line
 * ending" from p[i]. */
static size_t
cg_og_spnl(const unsigned char *p, size_t n, size_t i)
{
    int nl = 0;

    for (; i < n; i++) {
        if (p[i] == ' ' || p[i] == '\t') {
            continue;
        }
        if ((p[i] == '\n' || p[i] == '\r') && !nl) {
            nl = 1;
            if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
                i++;
            }
            continue;
        }
        break;
    }
    return i;
}


/* A link destination at p[i], as CommonMark reads it: <...> (no line
 * ending, no unescaped '<' or '>') or a run without spaces or controls
 * whose unescaped parentheses balance. Sets the span; returns the index
 * after it, 0 if there is none, CG_OG_NEED if more may come. */
static long
cg_og_dest(const unsigned char *p, size_t n, size_t i, int eof,
           size_t *ds, size_t *dn)
{
    size_t j;
    int    depth = 0;

    if (p[i] == '<') {
        for (j = i + 1; j < n; j++) {
            if (p[j] == '\\' && j + 1 < n && cg_og_punct(p[j + 1])) {
                j++;
            } else if (p[j] == '>') {
                *ds = i + 1;
                *dn = j - i - 1;
                return (long) j + 1;
            } else if (p[j] == '<' || p[j] == '\n' || p[j] == '\r') {
                return 0;
            }
        }
        return eof ? 0 : CG_OG_NEED;
    }
    for (j = i; j < n; j++) {
        if (p[j] == '\\' && j + 1 < n && cg_og_punct(p[j + 1])) {
            j++;
        } else if (p[j] <= ' ' || p[j] == 0x7f) {
            break;
        } else if (p[j] == '(') {
            if (++depth > CG_OG_TITLE_MAX) {
                return 0;
            }
        } else if (p[j] == ')') {
            if (depth == 0) {
                break;
            }
            depth--;
        }
    }
    if (j >= n) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (depth != 0 || j == i) {
        return 0;
    }
    *ds = i;
    *dn = j - i;
    return (long) j;
}


/* A link title at p[i] ("...", '...' or (...)): the index after it, 0 if
 * none, CG_OG_NEED if more may come. A blank line ends it. */
static long
cg_og_title(const unsigned char *p, size_t n, size_t i, int eof)
{
    unsigned char open = p[i], close = open == '(' ? ')' : open;
    size_t        j, k;

    for (j = i + 1; j < n; j++) {
        if (p[j] == '\\' && j + 1 < n) {
            j++;
        } else if (p[j] == close) {
            return (long) j + 1;
        } else if (open == '(' && p[j] == '(') {
            return 0;
        } else if (p[j] == '\n') {
            for (k = j + 1; k < n && (p[k] == ' ' || p[k] == '\t'); k++) { }
            if (k < n && p[k] == '\n') {
                return 0;
            }
        }
    }
    return eof ? 0 : CG_OG_NEED;
}


/* The rest of an inline link at p[0] == '(': destination, optional title,
 * ')'. Returns its length, 0 if it is not one, CG_OG_NEED if more may
 * come; ds/dn: the destination as written. */
static long
cg_og_tail(const unsigned char *p, size_t n, int eof, size_t *ds, size_t *dn)
{
    size_t i, k;
    long   e;

    i = cg_og_spnl(p, n, 1);
    if (i >= n) {
        return eof ? 0 : CG_OG_NEED;
    }
    *ds = i;
    *dn = 0;
    if (p[i] != ')') {
        e = cg_og_dest(p, n, i, eof, ds, dn);
        if (e <= 0) {
            return e;
        }
        k = cg_og_spnl(p, n, (size_t) e);
        if (k >= n) {
            return eof ? 0 : CG_OG_NEED;
        }
        if (k > (size_t) e && (p[k] == '"' || p[k] == '\'' || p[k] == '(')) {
            e = cg_og_title(p, n, k, eof);
            if (e <= 0) {
                return e;
            }
            k = cg_og_spnl(p, n, (size_t) e);
            if (k >= n) {
                return eof ? 0 : CG_OG_NEED;
            }
        }
        i = k;
    }
    return p[i] == ')' ? (long) i + 1 : 0;
}


static int cg_og_angle_keeps(cg_outguard_t *g, const unsigned char *p,
                             size_t n);

/* A link tail p[0..n) with its destination at ds (dn bytes): has_tag, and
 * a <...> destination must be a tag the guard would keep as HTML: where a
 * renderer does not see the link (inside an HTML block), it is one. */
static int
cg_og_tail_tag(cg_outguard_t *g, const unsigned char *p, size_t n,
               size_t ds, size_t dn)
{
    size_t end = ds + dn + 1;

    if (ds > 0 && p[ds - 1] == '<' && end <= n) {
        return cg_og_has_tag(p, ds - 1) || cg_og_has_tag(p + end, n - end)
               || !cg_og_angle_keeps(g, p + ds - 1, dn + 2);
    }
    return cg_og_has_tag(p, n);
}


/* "[text](dest)", "![alt](dest)", "[text][ref]": p points at '[' and img
 * says a '!' came before it (and is part of what is consumed). Anything
 * else (a CommonMark renderer would not see a link) is left to be read on
 * byte by byte, so what is inside is checked like any text. */
static long
cg_og_link(cg_outguard_t *g, cg_og_ctx_t *cx, const unsigned char *p,
           size_t n, int eof, int img, cg_og_out_t *o)
{
    cg_og_ctx_t inner = *cx;
    long        k, e;
    size_t      ds = 0, dn = 0;

    k = cg_og_bracket(g, cx, p, n, eof);
    if (k <= 0) {
        return k;
    }
    if ((size_t) k + 1 == n) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (p[k + 1] == '[') {
        inner.abs = cx->abs + (size_t) k + 1;
        e = cg_og_bracket(g, &inner, p + k + 1, n - (size_t) k - 1, eof);
        if (e <= 0) {
            return e;
        }
        /* A reference: its definition is checked where it stands; the
         * use keeps only its text. */
        o->sep = 1;
        cg_og_text(g, cx, p + 1, (size_t) k - 1, o);
        o->sep = 1;
        return img + k + 1 + e + 1;
    }
    if (p[k + 1] != '(') {
        return 0;
    }
    e = cg_og_tail(p + k + 1, n - (size_t) k - 1, eof, &ds, &dn);
    if (e <= 0) {
        return e;
    }
    if (!cg_og_tail_tag(g, p + k + 1, (size_t) e, ds, dn)
        && cg_og_url_keep(g, p + k + 1 + ds, dn, CG_OGURL_MD)) {
        cg_og_puts(o, img ? "![" : "[");
        cg_og_text(g, cx, p + 1, (size_t) k - 1, o);
        cg_og_puts(o, "]");
        cg_og_raw(g, o, p + k + 1, (size_t) e);
    } else {
        cg_og_secrets_in(g, p + k + 1, (size_t) e);
        cg_og_cut(g, o);
        cg_og_text(g, cx, p + 1, (size_t) k - 1, o);
        o->sep = 1;
    }
    return img + k + 1 + e;
}


/* "](dest)" and "]: dest" whose "[" did not make a link (unbalanced text,
 * a definition, a code span in the way): the destination goes, the
 * bracket stays. A "](" that is no link tail keeps its text, but never
 * the "](" itself, so no renderer can make one of it. */
static long
cg_og_orphan(cg_outguard_t *g, const unsigned char *p, size_t n, int eof,
             cg_og_out_t *o)
{
    size_t i, j, ds = 0, dn = 0, nl;
    long   e;

    if (n < 2) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (p[1] == '(') {
        e = cg_og_tail(p + 1, n - 1, eof, &ds, &dn);
        if (e < 0) {
            return e;
        }
        cg_og_puts(o, "]");
        if (e == 0) {
            o->sep = 1;
            return 1;
        }
        if (!cg_og_tail_tag(g, p + 1, (size_t) e, ds, dn)
            && cg_og_url_keep(g, p + 1 + ds, dn, CG_OGURL_MD)) {
            cg_og_raw(g, o, p + 1, (size_t) e);
        } else {
            cg_og_secrets_in(g, p + 1, (size_t) e);
            cg_og_cut(g, o);
        }
        return e + 1;
    }
    if (p[1] != ':') {
        return 0;
    }
    /* The destination may follow on the next line. */
    for (i = 2, nl = 0; i < n && (p[i] == ' ' || p[i] == '\t'
                                  || ((p[i] == '\n' || p[i] == '\r')
                                      && nl++ == 0)); i++) { }
    for (j = i; j < n && p[j] > ' ' && p[j] != 0x7f; j++) { }
    if (j == n && !eof) {
        return CG_OG_NEED;
    }
    if (j > i && p[i] == '<' && p[j - 1] != '>') {
        j = i;                      /* "<..." unclosed: no destination */
    }
    cg_og_put(o, p, i, n);
    if (j > i) {
        size_t s = p[i] == '<' ? 1 : 0, t = (p[j - 1] == '>' && s) ? 1 : 0;
        int    keep = !cg_og_has_tag(p + i + s, j - i - s - t)
                      && (j - i <= s + t
                          || cg_og_url_keep(g, p + i + s, j - i - s - t,
                                            CG_OGURL_MD));
        if (keep && s && !cg_og_angle_keeps(g, p + i, j - i)) {
            return (long) i;        /* a tag for HTML: read on as one */
        }
        if (keep) {
            cg_og_raw(g, o, p + i, j - i);
        } else {
            cg_og_secrets_in(g, p + i, j - i);
            cg_og_cut(g, o);
        }
    }
    return (long) j;
}


/* ---- HTML ---- */

/* Tags that fetch, run, embed or redirect whatever their attributes:
 * always removed. Any other tag is removed when one of its attribute
 * values is a URL that is not kept, it has an event handler, style,
 * srcdoc or srcset, or its text would not pass as Markdown text (for the
 * renderers that show a tag as text). */
static const char *cg_og_tags_never[] = {
    "script", "style", "meta", "base", "link", "object", "embed", "form",
    "svg", "math", "input", "button", "applet", "frameset", "frame",
    "portal", "iframe", "video", "audio", "source", "track", "picture",
    "image", "param", "template", "isindex", "bgsound", "keygen",
    "fencedframe", NULL
};

/* Attributes that are never URLs (their text is still checked). */
static const char *cg_og_attrs_text[] = {
    "alt", "title", "class", "id", "width", "height", "lang", "dir",
    "align", "name", "role", "colspan", "rowspan", "target", "rel", "type",
    "border", "start", "reversed", "open", NULL
};

static const char *cg_og_attrs_bad[] = {
    "style", "srcdoc", "srcset", "imagesrcset", NULL
};


static int
cg_og_in(const char **list, const unsigned char *s, size_t n)
{
    for (; *list; list++) {
        if (strlen(*list) == n && strncasecmp(*list, (const char *) s, n)
            == 0) {
            return 1;
        }
    }
    return 0;
}


static int
cg_og_tws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}


static int
cg_og_in_pend(const cg_outguard_t *g, const cg_og_ctx_t *cx,
              const unsigned char *p)
{
    return cx->depth == 0 && p >= (const unsigned char *) g->b.pend.data
           && p < (const unsigned char *) g->b.pend.data + g->b.pend.len;
}


/* The index of the first '>' in p[0..n), or n; at depth 0 it remembers
 * how far it looked, so unclosed tags do not rescan the same window. */
static size_t
cg_og_next_gt(cg_outguard_t *g, const cg_og_ctx_t *cx,
              const unsigned char *p, size_t n)
{
    const unsigned char *q;
    size_t               s = cx->abs, start = s;

    if (!cg_og_in_pend(g, cx, p)) {
        q = memchr(p, '>', n);
        return q ? (size_t) (q - p) : n;
    }
    if (g->gt_from <= s && s <= g->gt_at) {
        if (g->gt_found) {
            return g->gt_at - s < n ? g->gt_at - s : n;
        }
        start = g->gt_at;
    }
    if (start >= s + n) {
        return n;
    }
    q = memchr(p + (start - s), '>', n - (start - s));
    g->gt_from = s;
    g->gt_found = q != NULL;
    g->gt_at = q ? s + (size_t) (q - p) : s + n;
    return q ? (size_t) (q - p) : n;
}


static int
cg_og_attr_ok(cg_outguard_t *g, const unsigned char *name, size_t nn,
              const unsigned char *v, size_t vn)
{
    if (nn == 0) {
        return 1;
    }
    if ((nn > 2 && strncasecmp((const char *) name, "on", 2) == 0)
        || cg_og_in(cg_og_attrs_bad, name, nn)) {
        return 0;
    }
    if (cg_og_in(cg_og_attrs_text, name, nn)) {
        return 1;
    }
    /* Every other value may be a URL somewhere (href, src, poster,
     * background, data, action, formaction, xlink:href, cite, ping...). */
    return cg_og_url_keep(g, v, vn, CG_OGURL_HTML);
}


/* Would the inside of a tag pass through as text unchanged? A renderer
 * that does not take it for HTML shows it as Markdown text, which may
 * then hold links, autolinks or a '<' that starts a tag of its own. */
static int
cg_og_tag_clean(cg_outguard_t *g, const cg_og_ctx_t *outer,
                const unsigned char *p, size_t n)
{
    cg_og_ctx_t  cx = { ' ', outer->depth + 1, 0 };
    cg_og_out_t  t;
    cg_buf_t     tmp;
    long         urls = g->urls, r;
    unsigned     ev = g->events;
    int          dry = g->dry, same;
    size_t       i = 0;

    if (cg_og_has_tag(p, n)) {
        return 0;
    }
    cg_buf_init(&tmp);
    t.buf = &tmp;
    t.last = ' ';
    t.sep = 0;
    g->dry = 1;
    while (i < n) {
        r = cg_og_step_b(g, &cx, p + i, n - i, 1, &t);
        cx.prev = p[i + (size_t) r - 1];
        i += (size_t) r;
    }
    same = !tmp.oom && tmp.len == n && memcmp(tmp.data, p, n) == 0;
    g->dry = dry;
    g->urls = urls;
    g->events = ev;
    if (tmp.data != NULL) {
        cg_buf_wipe_bytes(tmp.data, tmp.cap);
    }
    cg_buf_free(&tmp);
    return same;
}


/* A tag at p[0] == '<', p[1] a letter, read as the HTML tokenizer reads
 * it (attribute names may hold quotes, only values are quoted). Returns
 * its length, 0 if it does not end in reach, CG_OG_NEED; with ok, judges
 * each attribute and clears *ok if one is not kept. */
static long
cg_og_tag(cg_outguard_t *g, const cg_og_ctx_t *cx, const unsigned char *p,
          size_t n, int eof, int *ok)
{
    const unsigned char *q;
    size_t               i, ns, nn, vs, vn;

    if (cg_og_next_gt(g, cx, p, n) == n) {
        return eof ? 0 : CG_OG_NEED;
    }
    for (i = 1; i < n && !cg_og_tws(p[i]) && p[i] != '/' && p[i] != '>';
         i++) { }
    for (;;) {
        while (i < n && (cg_og_tws(p[i]) || p[i] == '/')) {
            i++;
        }
        if (i >= n) {
            break;
        }
        if (p[i] == '>') {
            return (long) i + 1;
        }
        for (ns = i++; i < n && !cg_og_tws(p[i]) && p[i] != '/'
                       && p[i] != '>' && p[i] != '='; i++) { }
        nn = i - ns;
        while (i < n && cg_og_tws(p[i])) {
            i++;
        }
        vs = vn = 0;
        if (i < n && p[i] == '=') {
            for (i++; i < n && cg_og_tws(p[i]); i++) { }
            if (i >= n) {
                break;
            }
            if (p[i] == '"' || p[i] == '\'') {
                vs = i + 1;
                q = memchr(p + vs, p[i], n - vs);
                if (q == NULL) {
                    break;
                }
                vn = (size_t) (q - p) - vs;
                i = vs + vn + 1;
            } else {
                for (vs = i; i < n && !cg_og_tws(p[i]) && p[i] != '>';
                     i++) { }
                vn = i - vs;
            }
        }
        if (ok != NULL && !cg_og_attr_ok(g, p + ns, nn, p + vs, vn)) {
            *ok = 0;
        }
    }
    return eof ? 0 : CG_OG_NEED;
}


/* p[0] == '<': an autolink, an HTML tag, or nothing. */
static long
cg_og_angle(cg_outguard_t *g, const cg_og_ctx_t *cx, const unsigned char *p,
            size_t n, int eof, cg_og_out_t *o)
{
    size_t  i, k, tn;
    long    e;
    int     ok = 1;

    for (i = 1; i < n && (cg_og_alpha(p[i]) || (p[i] >= '0' && p[i] <= '9')
                          || p[i] == '+' || p[i] == '.' || p[i] == '-');
         i++) { }
    if (i == n) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (p[i] == ':' && i >= 3 && cg_og_alpha(p[1])) {
        /* An autolink <scheme:...>: no spaces, no '<', ends at '>'. */
        for (k = i + 1; k < n && p[k] > ' ' && p[k] != '<' && p[k] != '>';
             k++) { }
        if (k == n) {
            return eof ? 0 : CG_OG_NEED;
        }
        if (p[k] == '>') {
            if (cg_og_url_keep(g, p + 1, k - 1, CG_OGURL_RAW)) {
                cg_og_raw(g, o, p, k + 1);
            } else {
                cg_og_secrets_in(g, p, k + 1);
                cg_og_cut(g, o);
                cg_og_puts(o, CG_OG_REMOVED);
                o->sep = 1;
            }
            return (long) k + 1;
        }
    }
    if (!cg_og_alpha(p[1])) {
        return 0;                   /* "</", "<!", "<?", "< ": no fetch */
    }
    /* Found whole first, judged after: a step that needs more bytes must
     * not have counted URLs. */
    e = cg_og_tag(g, cx, p, n, eof, NULL);
    if (e < 0) {
        return e;
    }
    if (e > 0) {
        (void) cg_og_tag(g, cx, p, (size_t) e, 1, &ok);
    }
    if (e == 0) {
        /* Unterminated in reach: the '<' goes, so no tag. */
        cg_og_cut(g, o);
        return 1;
    }
    for (tn = 1; tn < (size_t) e && !cg_og_tws(p[tn]) && p[tn] != '/'
                 && p[tn] != '>'; tn++) { }
    tn--;
    if (ok && !cg_og_in(cg_og_tags_never, p + 1, tn)
        && cg_og_tag_clean(g, cx, p + 1, (size_t) e - 2)) {
        cg_og_raw(g, o, p, (size_t) e);
        return e;
    }
    cg_og_secrets_in(g, p, (size_t) e);
    cg_og_cut(g, o);
    if (cx->depth == 0 && !g->dry) {
        if (tn == 6 && strncasecmp((const char *) p + 1, "script", 6) == 0) {
            g->skip = CG_OG_SKIP_SCRIPT;
        } else if (tn == 5
                   && strncasecmp((const char *) p + 1, "style", 5) == 0) {
            g->skip = CG_OG_SKIP_STYLE;
        }
    }
    return e;
}


/* Would cg_og_angle keep the "<...>" at p[0..n) (p[n - 1] == '>') as it
 * is? Counts and notes nothing. */
static int
cg_og_angle_keeps(cg_outguard_t *g, const unsigned char *p, size_t n)
{
    cg_og_ctx_t cx = { ' ', 1, 0 };
    long        urls = g->urls, e;
    unsigned    ev = g->events;
    int         ok = 1;
    size_t      tn;

    if (n < 2 || !cg_og_alpha(p[1])) {
        return 1;                   /* "</", "<!", "< ": no element */
    }
    e = cg_og_tag(g, &cx, p, n, 1, NULL);
    if (e != (long) n) {
        ok = 0;
    } else {
        (void) cg_og_tag(g, &cx, p, n, 1, &ok);
        for (tn = 1; tn < n && !cg_og_tws(p[tn]) && p[tn] != '/'
                     && p[tn] != '>'; tn++) { }
        ok = ok && !cg_og_in(cg_og_tags_never, p + 1, tn - 1)
             && cg_og_tag_clean(g, &cx, p + 1, n - 2);
    }
    g->urls = urls;
    g->events = ev;
    return ok;
}


/* Inside <script> or <style>: everything up to the end tag goes. */
static long
cg_og_skip(cg_outguard_t *g, const unsigned char *p, size_t n, int eof)
{
    const char          *end = g->skip == CG_OG_SKIP_SCRIPT ? "</script"
                                                            : "</style";
    size_t               len = strlen(end), i = 0;
    const unsigned char *q;

    while (i < n) {
        q = memchr(p + i, '<', n - i);
        if (q == NULL) {
            i = n;
            break;
        }
        i = (size_t) (q - p);
        if (n - i <= len) {
            if (!eof) {
                break;              /* decided when more has come */
            }
            i = n;
            break;
        }
        if (strncasecmp((const char *) q, end, len) == 0
            && (cg_og_tws(q[len]) || q[len] == '/' || q[len] == '>')) {
            /* The end tag goes too, up to its '>'. */
            q = memchr(q, '>', n - i);
            if (q != NULL) {
                g->skip = CG_OG_SKIP_NONE;
                i = (size_t) (q - p) + 1;
            } else if (eof) {
                i = n;
            }
            break;
        }
        i++;
    }
    if (i == 0) {
        return CG_OG_NEED;
    }
    cg_og_secrets_in(g, p, i);
    return (long) i;
}


/* ---- URLs in text ---- */

/* linkify-it's top-level domains (markdown-it's linkify): a word.word
 * ending in one of these becomes a link there. */
static const char *cg_og_tld_words[] = {
    "biz", "com", "edu", "gov", "net", "org", "pro", "web", "xxx", "aero",
    "asia", "coop", "info", "museum", "name", "shop", NULL
};
static const char *cg_og_tld_2ch =
    "a:cdefgilmnoqrstuwxz|b:abdefghijmnorstvwyz|c:acdfghiklmnoruvwxyz|"
    "d:ejkmoz|e:cegrstu|f:ijkmor|g:abdefghilmnpqrstuwy|h:kmnrtu|"
    "i:delmnoqrst|j:emop|k:eghimnprwyz|l:abcikrstuvy|"
    "m:acdeghklmnopqrstuvwxyz|n:acefgilopruz|o:m|p:aefghklmnrstwy|q:a|"
    "r:eosuw|s:abcdeghijklmnortuvxyz|t:cdfghjklmnortvwz|u:agksyz|"
    "v:aceginu|w:fs|y:et|z:amw";


static int
cg_og_tld(const unsigned char *l, size_t n)
{
    const char *e;
    char        a, b;
    size_t      i;

    for (i = 0; i < n; i++) {
        if (l[i] >= 0x80) {
            return 1;               /* IDN: linkify takes most of them */
        }
    }
    if (n >= 4 && strncasecmp((const char *) l, "xn--", 4) == 0) {
        return 1;
    }
    if (n == 2) {
        a = (char) (l[0] | 0x20);
        b = (char) (l[1] | 0x20);
        for (e = cg_og_tld_2ch; *e; e++) {
            if (e[0] == a && e[1] == ':') {
                for (e += 2; *e && *e != '|'; e++) {
                    if (*e == b) {
                        return 1;
                    }
                }
                return 0;
            }
            while (*e && *e != '|') {
                e++;
            }
            if (*e == '\0') {
                break;
            }
        }
        return 0;
    }
    return cg_og_in(cg_og_tld_words, l, n);
}


/* Where a URL in text ends: white space, controls, quotes, angle and
 * square brackets. */
static size_t
cg_og_url_end(const unsigned char *p, size_t n, size_t i)
{
    for (; i < n && p[i] > ' ' && p[i] != 0x7f && p[i] != '<' && p[i] != '>'
           && p[i] != '"' && p[i] != '\'' && p[i] != '[' && p[i] != ']';
         i++) { }
    return i;
}


static size_t
cg_og_prefix(const unsigned char *p, size_t n, const char *pre)
{
    size_t k = strlen(pre), m = n < k ? n : k;

    return strncasecmp((const char *) p, pre, m) == 0 ? (m == k ? k : 0)
                                                       : (size_t) -1;
}


/* Does the host of a URL in text, starting at p[k], end where renderers
 * end it? They take it up to white space or '<' '>' (quotes and '*' "`"
 * included), dropping only trailing punctuation; everything they may take
 * must be a plain host[:port]. 1 yes, 0 no, CG_OG_NEED. */
static long
cg_og_bare_host(const unsigned char *p, size_t n, size_t k, int eof)
{
    size_t r, h, i;

    for (r = k; r < n && p[r] > ' ' && p[r] != 0x7f && p[r] != '<'
                && p[r] != '>'; r++) { }
    if (r == n && !eof) {
        return CG_OG_NEED;
    }
    for (h = k; h < r && p[h] != '/' && p[h] != '?' && p[h] != '#'; h++) { }
    if (h == r) {
        while (h > k && strchr("?!.,:;*_~'\")]", p[h - 1]) != NULL) {
            h--;
        }
    }
    for (i = k; i < h; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'
              || p[i] == ':')) {
            return 0;
        }
    }
    return 1;
}


/* "http://", "https://", "ftp://", "www." anywhere (marked links them even
 * inside a word) and "//host.name" not after a '/': what GFM, marked and
 * linkify turn into links. */
static long
cg_og_bare(cg_outguard_t *g, const cg_og_ctx_t *cx, const unsigned char *p,
           size_t n, int eof, cg_og_out_t *o)
{
    static const char *pre[] = { "https://", "http://", "ftp://", "www.",
                                 NULL };
    char    buf[CG_OG_LOOKAHEAD + 8];
    size_t  i, k = 0, e, h;
    long    hk;
    int     partial = 0, keep;

    for (i = 0; pre[i] != NULL && k == 0; i++) {
        size_t m = cg_og_prefix(p, n, pre[i]);
        if (m == 0) {
            partial = 1;
        } else if (m != (size_t) -1) {
            k = m;
        }
    }
    if (k == 0 && p[0] == '/' && cx->prev != '/') {
        if (n < 3) {
            partial = 1;
        } else if (p[1] == '/' && cg_og_word(p[2])) {
            k = 2;
        }
    }
    if (k == 0) {
        return (partial && !eof) ? CG_OG_NEED : 0;
    }
    e = cg_og_url_end(p, n, k);
    if (e == n && !eof) {
        return CG_OG_NEED;
    }
    while (e > k && strchr(".,;:!?)*_~", p[e - 1]) != NULL) {
        e--;
    }
    if (e == k && (k == n || p[k] <= ' ') && k != 4) {
        return 0;                   /* "https://" alone links nothing */
    }
    if (k == 2) {
        /* "//word" is a path in prose; "//host.name/" is a link. */
        for (h = 2; h < e && p[h] != '/' && p[h] != '?' && p[h] != '#'; h++) { }
        if (memchr(p + 2, '.', h - 2) == NULL
            && !(h - 2 == 9 && strncasecmp((const char *) p + 2, "localhost",
                                           9) == 0)) {
            return 0;
        }
    }
    hk = cg_og_bare_host(p, n, (p[0] == 'w' || p[0] == 'W') ? 0 : k, eof);
    if (hk < 0) {
        return hk;
    }
    if (hk == 0) {
        keep = 0;
        g->events |= CG_OG_EV_URL;
    } else if (p[0] == 'w' || p[0] == 'W') {
        memcpy(buf, "//", 2);
        memcpy(buf + 2, p, e);
        keep = cg_og_url_keep(g, (const unsigned char *) buf, e + 2,
                              CG_OGURL_RAW);
        explicit_bzero(buf, e + 2);
    } else {
        keep = cg_og_url_keep(g, p, e, CG_OGURL_RAW);
    }
    if (keep) {
        cg_og_raw(g, o, p, e);
    } else {
        cg_og_secrets_in(g, p, e);
        cg_og_cut(g, o);
        cg_og_puts(o, CG_OG_REMOVED);
        o->sep = 1;
    }
    return (long) e;
}


/* marked links "www." and "http://", "https://", "ftp://" even inside a
 * word: a token ends where one of them starts, so that cg_og_bare sees it. */
static size_t
cg_og_token_cut(const unsigned char *p, size_t i, size_t n)
{
    static const char *tail[] = { "https", "http", "ftp", NULL };
    size_t             k, m;

    for (k = 1; k + 4 <= i; k++) {
        if (strncasecmp((const char *) p + k, "www.", 4) == 0) {
            return k;
        }
    }
    if (i < n && p[i] == ':') {
        for (k = 0; tail[k] != NULL; k++) {
            m = strlen(tail[k]);
            if (i >= m && strncasecmp((const char *) p + i - m, tail[k], m)
                == 0) {
                return i - m;
            }
        }
    }
    return i;
}


/* A word.word... at a word start that linkify would take for a host: when
 * the host is not allowed, its dots are written "\." (a Markdown escape:
 * the same text on screen, and no renderer's linkifier sees a host). */
static long
cg_og_domain(cg_outguard_t *g, const unsigned char *p, size_t n, int eof,
             cg_og_out_t *o)
{
    char    low[256] = "";
    size_t  i, e, d, s;
    int     allowed = 0;

    for (i = 0; i < n && (cg_og_word(p[i]) || p[i] == '.'); i++) { }
    if (i == n && !eof) {
        return CG_OG_NEED;
    }
    i = cg_og_token_cut(p, i, n);
    if (i == 0) {
        return 0;
    }
    for (e = i; e > 0 && p[e - 1] == '.'; e--) { }
    for (d = e; d > 0 && p[d - 1] != '.'; d--) { }
    if (d == 0) {
        return 0;                   /* no dot: a plain word */
    }
    if (!cg_og_tld(p + d, e - d)) {
        cg_og_raw(g, o, p, i);
        return (long) i;
    }
    if (e < sizeof(low)) {
        for (s = 0; s < e; s++) {
            low[s] = (char) ((p[s] >= 'A' && p[s] <= 'Z') ? p[s] + 32 : p[s]);
        }
        allowed = cg_og_host_allowed(g->conf, low, e);
    }
    if (allowed) {
        cg_og_raw(g, o, p, i);
        return (long) i;
    }
    for (s = 0; s < e; s = d + 1) {
        for (d = s; d < e && p[d] != '.'; d++) { }
        cg_og_raw(g, o, p + s, d - s);
        if (d < e) {
            cg_og_puts(o, "\\.");
        }
    }
    cg_og_raw(g, o, p + e, i - e);
    return (long) i;
}


static int
cg_og_secret_starts(const cg_outguard_t *g, unsigned char c)
{
    size_t i;

    for (i = 0; i < g->conf->nsecrets; i++) {
        if ((unsigned char) g->conf->secrets[i].s[0] == c) {
            return 1;
        }
    }
    return 0;
}


static long
cg_og_step_b(cg_outguard_t *g, cg_og_ctx_t *cx, const unsigned char *p,
             size_t n, int eof, cg_og_out_t *o)
{
    int  bare = g->conf->bare_urls;
    long r;

    if (g->skip != CG_OG_SKIP_NONE && cx->depth == 0 && !g->dry) {
        return cg_og_skip(g, p, n, eof);
    }
    if (o->sep && n < 2 && !eof) {
        return CG_OG_NEED;          /* cg_og_put looks one byte ahead */
    }
    r = cg_og_secret(g, cx, p, n, eof, o);
    if (r == 0 && !g->keep_links) {
        switch (p[0]) {
        case '\\':
            /* "\\", "\[", "\]" are one character for every renderer. */
            if (n < 2) {
                r = eof ? 0 : CG_OG_NEED;
            } else if ((p[1] == '\\' || p[1] == '[' || p[1] == ']')
                       && !cg_og_secret_starts(g, p[1])) {
                cg_og_put(o, p, 2, n);
                r = 2;
            }
            break;
        case '!':
            if (cx->depth > CG_OG_DEPTH) {
                break;
            }
            if (n < 2) {
                r = eof ? 0 : CG_OG_NEED;
            } else if (p[1] == '[') {
                cg_og_ctx_t at = *cx;
                at.abs++;
                r = cg_og_link(g, &at, p + 1, n - 1, eof, 1, o);
            }
            break;
        case '[':
            if (cx->depth <= CG_OG_DEPTH) {
                r = cg_og_link(g, cx, p, n, eof, 0, o);
            }
            break;
        case ']':
            r = cg_og_orphan(g, p, n, eof, o);
            break;
        case '<':
            r = cg_og_angle(g, cx, p, n, eof, o);
            break;
        case 'h': case 'H': case 'f': case 'F': case 'w': case 'W': case '/':
            if (bare) {
                r = cg_og_bare(g, cx, p, n, eof, o);
            }
            break;
        default:
            break;
        }
        if (r == 0 && bare && cg_og_word(p[0]) && !cg_og_word(cx->prev)
            && cx->prev != '@') {
            r = cg_og_domain(g, p, n, eof, o);
        }
    }
    if (r == 0) {
        r = (long) cg_og_charlen(p, n);
        cg_og_put(o, p, (size_t) r, n);
    }
    return r;
}


/* ---- the guard ---- */

cg_outguard_t *
cg_outguard_new(const cg_outguard_conf_t *c, const cg_pii_map_t *map)
{
    cg_outguard_t *g = calloc(1, sizeof(*g));

    if (g != NULL) {
        g->conf = c;
        cg_outguard_reset(g, map);
    }
    return g;
}


static void
cg_og_stage_reset(cg_og_stage_t *st)
{
    if (st->pend.data) {
        cg_buf_wipe_bytes(st->pend.data, st->pend.cap);
    }
    cg_buf_reset(&st->pend);
    st->off = st->abs = 0;
    st->prev = st->olast = '\n';
    st->osep = 0;
}


void
cg_outguard_reset(cg_outguard_t *g, const cg_pii_map_t *map)
{
    cg_og_stage_reset(&g->a);
    cg_og_stage_reset(&g->b);
    cg_buf_reset(&g->mid);
    g->map = map;
    g->urls = 0;
    g->events = 0;
    g->skip = CG_OG_SKIP_NONE;
    g->dry = 0;
    g->gt_from = g->gt_at = 0;
    g->gt_found = 0;
    cg_og_brackets_reset(&g->br);
}


void
cg_outguard_keep_links(cg_outguard_t *g, int on)
{
    g->keep_links = on;
}


void
cg_outguard_free(cg_outguard_t *g)
{
    if (g == NULL) {
        return;
    }
    cg_outguard_reset(g, NULL);
    cg_buf_free(&g->a.pend);
    cg_buf_free(&g->b.pend);
    cg_buf_free(&g->mid);
    free(g);
}


static int
cg_og_feed(cg_outguard_t *g, const char *chunk, size_t len, int final,
           cg_buf_t *out)
{
    int over;

    cg_buf_reset(&g->mid);
    cg_og_run(g, &g->a, cg_og_step_a, chunk, len, final, &g->mid);
    /* Stage B keeps its offsets in 32 bits: an answer that would pass
     * them is refused before they could wrap. */
    over = g->b.abs + g->b.pend.len + g->mid.len > CG_OG_MAX_ANSWER;
    if (!over) {
        cg_og_run(g, &g->b, cg_og_step_b, g->mid.data, g->mid.len, final,
                  out);
    }
    if (g->mid.data != NULL) {
        cg_buf_wipe_bytes(g->mid.data, g->mid.len);
    }
    return (over || g->br.oom || g->a.pend.oom || g->b.pend.oom
            || g->mid.oom || out->oom) ? -1 : 0;
}


int
cg_outguard_feed(cg_outguard_t *g, const char *chunk, size_t len,
                 cg_buf_t *out)
{
    return cg_og_feed(g, chunk, len, 0, out);
}


int
cg_outguard_finish(cg_outguard_t *g, cg_buf_t *out)
{
    return cg_og_feed(g, "", 0, 1, out);
}


unsigned
cg_outguard_events(const cg_outguard_t *g)
{
    return g->events;
}
