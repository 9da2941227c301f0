#include "guard/outguard.h"
#include "core/secret.h"
#include "guard/textguard.h"
#include "core/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CG_OG_NEED       (-1L)  /* a step needs more bytes to decide */
#define CG_OG_DEPTH      8      /* link text nested deeper is flattened */
#define CG_OG_REMOVED    "[link removed]"
#define CG_OG_REDACTED   "[REDACTED]"

typedef struct {
    char   *s;
    size_t  n;
} cg_og_str_t;

struct cg_outguard_conf_s {
    cg_og_str_t *hosts;
    size_t       nhosts;
    cg_og_str_t *secrets;
    size_t       nsecrets;
    long         max_urls;
    int          bare_urls;
};

/* One stage of the pipeline: bytes not yet decided, and the last byte it
 * consumed (some constructs start only at a word boundary). */
typedef struct {
    cg_buf_t       pend;
    size_t         off;
    unsigned char  prev;
} cg_og_stage_t;

typedef struct {
    unsigned char  prev;
    int            depth;
} cg_og_ctx_t;

struct cg_outguard_s {
    const cg_outguard_conf_t *conf;
    const cg_pii_map_t       *map;
    cg_og_stage_t             a, b;
    cg_buf_t                  mid;      /* stage A's output */
    long                      urls;     /* allowed URLs kept so far */
    unsigned                  events;
    int                       keep_links;   /* stage 2 off (issue 20) */
};

typedef long (*cg_og_step_pt)(cg_outguard_t *g, cg_og_ctx_t *cx,
                              const unsigned char *p, size_t n, int eof,
                              cg_buf_t *out);

static long cg_og_step_b(cg_outguard_t *g, cg_og_ctx_t *cx,
                         const unsigned char *p, size_t n, int eof,
                         cg_buf_t *out);
static long cg_og_secret(cg_outguard_t *g, const cg_og_ctx_t *cx,
                         const unsigned char *p, size_t n, int eof,
                         cg_buf_t *out);


/* ---- configuration ---- */

cg_outguard_conf_t *
cg_outguard_conf_new(void)
{
    cg_outguard_conf_t *c = calloc(1, sizeof(*c));

    if (c != NULL) {
        c->max_urls = 10;
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


int
cg_outguard_conf_add_secret(cg_outguard_conf_t *c, const void *s, size_t n)
{
    if (n < CG_OG_SECRET_MIN || n > CG_OG_SECRET_MAX) {
        return -1;
    }
    return cg_og_strs_add(&c->secrets, &c->nsecrets, s, n, 0);
}


/* ---- URLs ---- */

static int
cg_og_host_allowed(const cg_outguard_conf_t *c, const char *h, size_t n)
{
    size_t i, k;
    char   low[256];

    if (n == 0 || n >= sizeof(low)) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char ch = h[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (char) (ch + 32);
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
              || ch == '.' || ch == '-')) {
            return 0;       /* userinfo, entities, backslashes: no */
        }
        low[i] = ch;
    }
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


/* 2: http(s) to an allowed host; 1: a relative URL that cannot become
 * absolute (no scheme, no entity, no backslash, not network-path); 0: no. */
static int
cg_og_url_allowed(const cg_outguard_conf_t *c, const char *u, size_t n)
{
    const char *h, *end = u + n;
    size_t      skip;

    while (u < end && (*u == ' ' || *u == '\t' || *u == '\n')) {
        u++;
    }
    n = (size_t) (end - u);
    if (n >= 2 && u[0] == '/' && u[1] == '/') {
        skip = 2;
    } else if (n >= 7 && strncasecmp(u, "http://", 7) == 0) {
        skip = 7;
    } else if (n >= 8 && strncasecmp(u, "https://", 8) == 0) {
        skip = 8;
    } else {
        return n == 0 || (memchr(u, ':', n) == NULL
                          && memchr(u, '&', n) == NULL
                          && memchr(u, '\\', n) == NULL);
    }
    h = u + skip;
    for (u = h; u < end && *u != '/' && *u != '?' && *u != '#'; u++) { }
    end = u;
    for (u = end; u > h && u[-1] >= '0' && u[-1] <= '9'; u--) { }
    if (u > h && u < end && u[-1] == ':') {
        end = u - 1;       /* a port */
    }
    return cg_og_host_allowed(c, h, (size_t) (end - h)) ? 2 : 0;
}


/* Decides one URL: kept (absolute ones counted) or removed (and noted). */
static int
cg_og_url_keep(cg_outguard_t *g, const unsigned char *u, size_t n)
{
    int ok = cg_og_url_allowed(g->conf, (const char *) u, n);

    if (ok == 1) {
        return 1;
    }
    if (ok == 2 && g->urls < g->conf->max_urls) {
        g->urls++;
        return 1;
    }
    g->events |= CG_OG_EV_URL;
    return 0;
}


/* ---- the stage driver ---- */

/* Runs step over the stage's pending bytes. A step sees at most
 * CG_OG_LOOKAHEAD bytes and is told eof when that is all it will get, so
 * it decides on the same bytes whether the text came in one piece or many. */
static void
cg_og_run(cg_outguard_t *g, cg_og_stage_t *st, cg_og_step_pt step,
          const char *in, size_t len, int final, cg_buf_t *out)
{
    cg_og_ctx_t           cx;
    const unsigned char  *p;
    size_t                avail, win;
    long                  r;

    cg_buf_add(&st->pend, in, len);
    cx.prev = st->prev;
    cx.depth = 0;
    while (!st->pend.oom && st->off < st->pend.len) {
        p = (const unsigned char *) st->pend.data + st->off;
        avail = st->pend.len - st->off;
        win = avail < CG_OG_LOOKAHEAD ? avail : CG_OG_LOOKAHEAD;
        r = step(g, &cx, p, win, final || avail >= CG_OG_LOOKAHEAD, out);
        if (r == CG_OG_NEED) {
            break;
        }
        cx.prev = p[r - 1];
        st->off += (size_t) r;
    }
    st->prev = cx.prev;
    if (st->off > 0) {
        memmove(st->pend.data, st->pend.data + st->off,
                st->pend.len - st->off);
        st->pend.len -= st->off;
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
                  int eof, cg_buf_t *out)
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
    cg_buf_add(out, e->orig, e->orig_len);
    g->events |= CG_OG_EV_RESTORED;
    return (long) i + 1;
}


static long
cg_og_step_a(cg_outguard_t *g, cg_og_ctx_t *cx, const unsigned char *p,
             size_t n, int eof, cg_buf_t *out)
{
    size_t i;
    long   r;

    (void) cx;
    if (p[0] == '[' && g->map != NULL && g->map->n > 0) {
        r = cg_og_placeholder(g, p, n, eof, out);
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
    cg_buf_add(out, p, i);
    return (long) i;
}


/* ---- stage B: links, images, tags, secrets ---- */

static int
cg_og_keychar(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
           || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}


/* Runs stage B over a piece already in hand (link text), one level
 * deeper, and appends the result without brackets, so kept text can never
 * form a new link with what follows it. */
static void
cg_og_text(cg_outguard_t *g, const cg_og_ctx_t *outer, const unsigned char *p,
           size_t n, cg_buf_t *out)
{
    cg_og_ctx_t  cx = { ' ', outer->depth + 1 };
    cg_buf_t     tmp;
    size_t       i = 0;
    long         r;

    cg_buf_init(&tmp);
    while (i < n) {
        if (cx.depth > CG_OG_DEPTH) {
            r = (long) n;
            cg_buf_add(&tmp, p, n);
        } else {
            r = cg_og_step_b(g, &cx, p + i, n - i, 1, &tmp);
        }
        cx.prev = p[i + (size_t) r - 1];
        i += (size_t) r;
    }
    for (i = 0; i < tmp.len; i++) {
        char ch = tmp.data[i];
        if (ch != '[' && ch != ']' && (cx.depth <= CG_OG_DEPTH
                                       || (ch != '<' && ch != '('))) {
            cg_buf_addc(out, ch);
        }
    }
    if (tmp.oom) {
        out->oom = 1;
    }
    cg_buf_free(&tmp);
}


/* Emits a construct that is kept as it is (an allowed link, tag or URL),
 * still without secrets: a key in an allowed URL is a key sent away. */
static void
cg_og_raw(cg_outguard_t *g, cg_buf_t *out, const unsigned char *p, size_t n)
{
    cg_og_ctx_t cx = { ' ', 0 };
    size_t      i = 0;
    long        r;

    while (i < n) {
        r = cg_og_secret(g, &cx, p + i, n - i, 1, out);
        if (r == 0) {
            cg_buf_addc(out, (char) p[i]);
            r = 1;
        }
        cx.prev = p[i + (size_t) r - 1];
        i += (size_t) r;
    }
}


/* p[0] == '[': the index of the matching ']' (backslash escapes honoured),
 * 0 when there is none in reach, CG_OG_NEED when it may still come. */
static long
cg_og_bracket(const unsigned char *p, size_t n, int eof)
{
    size_t i;
    int    depth = 0;

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


/* p[0] == '(': the index of the matching ')', like cg_og_bracket. */
static long
cg_og_paren(const unsigned char *p, size_t n, int eof)
{
    size_t i;
    int    depth = 0;

    for (i = 0; i < n; i++) {
        if (p[i] == '\\') {
            i++;
        } else if (p[i] == '(') {
            depth++;
        } else if (p[i] == ')' && --depth == 0) {
            return (long) i;
        }
    }
    return eof ? 0 : CG_OG_NEED;
}


/* The destination inside "(dest "title")": <...> or up to white space. */
static void
cg_og_dest(const unsigned char *p, size_t n, size_t *ds, size_t *dn)
{
    size_t i = 0, j;

    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n')) {
        i++;
    }
    if (i < n && p[i] == '<') {
        for (j = i + 1; j < n && p[j] != '>'; j++) { }
        *ds = i + 1;
        *dn = j - i - 1;
        return;
    }
    for (j = i; j < n && p[j] != ' ' && p[j] != '\t' && p[j] != '\n'; j++) { }
    *ds = i;
    *dn = j - i;
}


/* "[text](dest)", "![alt](dest)", "[text][ref]": p points at '[' and img
 * says a '!' came before it (and is part of what is consumed). */
static long
cg_og_link(cg_outguard_t *g, cg_og_ctx_t *cx, const unsigned char *p,
           size_t n, int eof, int img, cg_buf_t *out)
{
    long    k, e;
    size_t  ds, dn;

    k = cg_og_bracket(p, n, eof);
    if (k <= 0) {
        return k;
    }
    if ((size_t) k + 1 == n) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (p[k + 1] == '[') {
        e = cg_og_bracket(p + k + 1, n - (size_t) k - 1, eof);
        if (e <= 0) {
            return e;
        }
        /* A reference: its definition is checked where it stands; the
         * use keeps only its text. */
        cg_og_text(g, cx, p + 1, (size_t) k - 1, out);
        return img + k + 1 + e + 1;
    }
    if (p[k + 1] != '(') {
        return 0;
    }
    e = cg_og_paren(p + k + 1, n - (size_t) k - 1, eof);
    if (e <= 0) {
        return e;
    }
    cg_og_dest(p + k + 2, (size_t) e - 1, &ds, &dn);
    if (cg_og_url_keep(g, p + k + 2 + ds, dn)) {
        cg_buf_adds(out, img ? "![" : "[");
        cg_og_text(g, cx, p + 1, (size_t) k - 1, out);
        cg_buf_adds(out, "]");
        cg_og_raw(g, out, p + k + 1, (size_t) e + 1);
    } else {
        cg_og_text(g, cx, p + 1, (size_t) k - 1, out);
    }
    return img + k + 1 + e + 1;
}


/* "](dest)" and "]: dest" whose "[" did not parse as a link (unbalanced
 * text, a definition): the destination goes, the bracket stays. */
static long
cg_og_orphan(cg_outguard_t *g, const unsigned char *p, size_t n, int eof,
             cg_buf_t *out)
{
    size_t i, j;
    long   e;

    if (n < 2) {
        return eof ? 0 : CG_OG_NEED;
    }
    if (p[1] == '(') {
        e = cg_og_paren(p + 1, n - 1, eof);
        if (e == 0) {
            /* Not closed within reach: a renderer may still find the ')'
             * later, so the '(' goes and no link can form here. */
            cg_buf_addc(out, ']');
            g->events |= CG_OG_EV_URL;
            return 2;
        }
        if (e < 0) {
            return e;
        }
        cg_buf_addc(out, ']');
        cg_og_dest(p + 2, (size_t) e - 1, &i, &j);
        if (cg_og_url_keep(g, p + 2 + i, j)) {
            cg_og_raw(g, out, p + 1, (size_t) e + 1);
        }
        return e + 2;
    }
    if (p[1] != ':') {
        return 0;
    }
    /* The destination may follow on the next line. */
    for (i = 2, j = 0; i < n && (p[i] == ' ' || p[i] == '\t'
                                 || (p[i] == '\n' && j++ == 0)); i++) { }
    for (j = i; j < n && p[j] > ' '; j++) { }
    if (j == n && !eof) {
        return CG_OG_NEED;
    }
    cg_buf_add(out, p, i);
    if (j > i) {
        size_t s = p[i] == '<' ? 1 : 0, t = (p[j - 1] == '>' && s) ? 1 : 0;
        if (cg_og_url_keep(g, p + i + s, j - i - s - t)) {
            cg_og_raw(g, out, p + i, j - i);
        }
    }
    return (long) j;
}


/* Tags that fetch, run or redirect whatever their attributes: always
 * removed. Any other tag is removed when one of its URLs is not kept or it
 * has an event handler, style or srcset attribute. */
static const char *cg_og_tags_never[] = {
    "script", "style", "meta", "base", "link", "object", "embed", "form",
    "svg", "math", "input", "button", "applet", "frameset", "portal", NULL
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


/* Checks the attributes of a tag in p[0..n) (after its name): 1 if every
 * URL-bearing value is kept and no event handler or style is present. */
static int
cg_og_attrs_ok(cg_outguard_t *g, const unsigned char *p, size_t n)
{
    size_t i = 0, ns, nn, vs, vn;
    int    ok = 1;

    while (i < n) {
        while (i < n && (p[i] <= ' ' || p[i] == '/')) {
            i++;
        }
        for (ns = i; i < n && p[i] > ' ' && p[i] != '=' && p[i] != '/'; i++) { }
        nn = i - ns;
        vs = vn = 0;
        while (i < n && p[i] <= ' ') {
            i++;
        }
        if (i < n && p[i] == '=') {
            for (i++; i < n && p[i] <= ' '; i++) { }
            if (i < n && (p[i] == '"' || p[i] == '\'')) {
                unsigned char q = p[i++];
                for (vs = i; i < n && p[i] != q; i++) { }
                vn = i - vs;
                i++;
            } else {
                for (vs = i; i < n && p[i] > ' '; i++) { }
                vn = i - vs;
            }
        }
        if (nn == 0) {
            continue;
        }
        if ((nn > 2 && strncasecmp((const char *) p + ns, "on", 2) == 0)
            || (nn == 5 && strncasecmp((const char *) p + ns, "style", 5)
                == 0)
            || (nn == 6 && strncasecmp((const char *) p + ns, "srcset", 6)
                == 0)) {
            ok = 0;
        } else if (vn > 0 && (memchr(p + vs, ':', vn) || memchr(p + vs, '&',
                                                                vn)
                              || (vn > 1 && p[vs] == '/' && p[vs + 1] == '/'))
                   && !cg_og_url_keep(g, p + vs, vn)) {
            ok = 0;
        }
    }
    return ok;
}


/* p[0] == '<': an autolink, a dangerous HTML tag, or nothing. */
static long
cg_og_angle(cg_outguard_t *g, const unsigned char *p, size_t n, int eof,
            cg_buf_t *out)
{
    size_t  i, tn;
    int     q = 0, never;

    for (i = 1; i < n && ((p[i] >= 'a' && p[i] <= 'z')
                          || (p[i] >= 'A' && p[i] <= 'Z')
                          || (p[i] >= '0' && p[i] <= '9')
                          || p[i] == '+' || p[i] == '.' || p[i] == '-'); i++) { }
    if (i == n) {
        return eof ? 0 : CG_OG_NEED;
    }
    tn = i - 1;
    if (p[i] == ':' && tn > 0) {
        /* An autolink <scheme:...>: no spaces, no '<', ends at '>'. */
        for (i++; i < n && p[i] > ' ' && p[i] != '<' && p[i] != '>'; i++) { }
        if (i == n) {
            return eof ? 0 : CG_OG_NEED;
        }
        if (p[i] != '>') {
            return 0;
        }
        if (cg_og_url_keep(g, p + 1, i - 1)) {
            cg_og_raw(g, out, p, i + 1);
        } else {
            cg_buf_adds(out, CG_OG_REMOVED);
        }
        return (long) i + 1;
    }
    never = cg_og_in(cg_og_tags_never, p + 1, tn);
    if (tn == 0 || !((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A'
                                                       && p[1] <= 'Z'))
        || !(p[i] <= ' ' || p[i] == '>' || p[i] == '/')) {
        return 0;
    }
    for (; i < n && (q || p[i] != '>'); i++) {
        if (p[i] == '"' || p[i] == '\'') {
            q = (q == p[i]) ? 0 : (q ? q : p[i]);
        }
    }
    if (i == n) {
        if (!eof) {
            return CG_OG_NEED;
        }
        g->events |= CG_OG_EV_URL;
        return 1;           /* unterminated: drop the '<', so no tag */
    }
    if (!never && cg_og_attrs_ok(g, p + 1 + tn, i - 1 - tn)) {
        cg_og_raw(g, out, p, i + 1);
    } else {
        g->events |= CG_OG_EV_URL;
    }
    return (long) i + 1;
}


/* At a word start: "http://..." or "https://..." up to white space. */
static long
cg_og_bare(cg_outguard_t *g, const unsigned char *p, size_t n, int eof,
           cg_buf_t *out)
{
    size_t i, k = n < 8 ? n : 8;

    if (strncasecmp((const char *) p, "https://", k) != 0
        && strncasecmp((const char *) p, "http://", k < 7 ? k : 7) != 0) {
        return 0;
    }
    if (k < 7 || (k == 7 && (p[4] == 's' || p[4] == 'S'))) {
        return eof ? 0 : CG_OG_NEED;
    }
    for (i = 7; i < n && p[i] > ' ' && p[i] != '<' && p[i] != '>'
                && p[i] != '"' && p[i] != '\''; i++) { }
    if (i == n && !eof) {
        return CG_OG_NEED;
    }
    while (i > 8 && strchr(".,;:!?)", p[i - 1]) != NULL) {
        i--;        /* sentence punctuation is not part of the URL */
    }
    if (cg_og_url_keep(g, p, i)) {
        cg_og_raw(g, out, p, i);
    } else {
        cg_buf_adds(out, CG_OG_REMOVED);
    }
    return (long) i;
}


static long
cg_og_secret(cg_outguard_t *g, const cg_og_ctx_t *cx, const unsigned char *p,
             size_t n, int eof, cg_buf_t *out)
{
    const cg_outguard_conf_t *c = g->conf;
    size_t                    i, t;

    for (i = 0; i < c->nsecrets; i++) {
        const cg_og_str_t *s = &c->secrets[i];
        if (n < s->n) {
            if (!eof && memcmp(p, s->s, n) == 0) {
                return CG_OG_NEED;
            }
        } else if (memcmp(p, s->s, s->n) == 0) {
            cg_buf_adds(out, CG_OG_REDACTED);
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
    cg_buf_adds(out, CG_OG_REDACTED);
    g->events |= CG_OG_EV_SECRET;
    return (long) t;
}


static long
cg_og_step_b(cg_outguard_t *g, cg_og_ctx_t *cx, const unsigned char *p,
             size_t n, int eof, cg_buf_t *out)
{
    long r = cg_og_secret(g, cx, p, n, eof, out);

    if (r == 0 && !g->keep_links) {
        switch (p[0]) {
        case '!':
            if (n < 2) {
                r = eof ? 0 : CG_OG_NEED;
            } else if (p[1] == '[') {
                r = cg_og_link(g, cx, p + 1, n - 1, eof, 1, out);
            }
            break;
        case '[':
            r = cg_og_link(g, cx, p, n, eof, 0, out);
            break;
        case ']':
            r = cg_og_orphan(g, p, n, eof, out);
            break;
        case '<':
            r = cg_og_angle(g, p, n, eof, out);
            break;
        case 'h':
        case 'H':
            if (g->conf->bare_urls && !cg_og_keychar(cx->prev)) {
                r = cg_og_bare(g, p, n, eof, out);
            }
            break;
        default:
            break;
        }
    }
    if (r == 0) {
        r = (long) cg_og_charlen(p, n);
        cg_buf_add(out, p, (size_t) r);
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


void
cg_outguard_reset(cg_outguard_t *g, const cg_pii_map_t *map)
{
    if (g->a.pend.data) {
        explicit_bzero(g->a.pend.data, g->a.pend.cap);
    }
    if (g->b.pend.data) {
        explicit_bzero(g->b.pend.data, g->b.pend.cap);
    }
    cg_buf_reset(&g->a.pend);
    cg_buf_reset(&g->b.pend);
    cg_buf_reset(&g->mid);
    g->a.off = g->b.off = 0;
    g->a.prev = g->b.prev = '\n';
    g->map = map;
    g->urls = 0;
    g->events = 0;
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
    cg_buf_reset(&g->mid);
    cg_og_run(g, &g->a, cg_og_step_a, chunk, len, final, &g->mid);
    cg_og_run(g, &g->b, cg_og_step_b, g->mid.data, g->mid.len, final, out);
    return (g->a.pend.oom || g->b.pend.oom || g->mid.oom || out->oom)
           ? -1 : 0;
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
