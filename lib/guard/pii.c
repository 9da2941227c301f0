#include "guard/pii.h"
#include "guard/piiview.h"
#include "guard/textguard.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CG_PII_NAME_MAX  25
#define CG_PII_KEY_MAX   64

typedef int (*cg_pii_valid_pt)(const char *s, size_t n);

typedef struct {
    char             name[CG_PII_NAME_MAX];
    char             label[CG_PII_NAME_MAX];
    cg_pii_action_t  action;
    pcre2_code      *re;
    cg_pii_valid_pt  valid;
    int              keep_invalid;  /* a shape failing valid() is kept
                                       whole: no other detector takes
                                       part of it */
} cg_pii_det_t;

struct cg_pii_s {
    unsigned char   key[CG_PII_KEY_MAX];
    size_t          keylen;
    cg_pii_det_t   *det;
    size_t          ndet;
};

/* A match: [start, end) in the view; keep: a checksum-invalid shape that
 * stays as written and shields its text from later detectors. */
typedef struct {
    size_t              start, end;
    const cg_pii_det_t *det;
    int                 keep;
} cg_pii_span_t;

static int cg_pii_phone_ok(const char *s, size_t n);
static int cg_pii_card_ok(const char *s, size_t n);
static int cg_pii_ip_ok(const char *s, size_t n);

/* In priority order, matched on the normalised view (guard/piiview.h):
 * where two detectors match overlapping text, the earlier one wins (a card
 * number is not also a phone number; a checksum-valid IBAN beats a phone,
 * and a checksum-invalid one stays whole, so no phone takes its tail). */
#define CG_PII_UWORD "\\p{L}\\p{M}\\p{N}"
static const struct {
    const char       *name;
    cg_pii_action_t   action;
    cg_pii_valid_pt   valid;
    int               keep_invalid;
    const char       *re;
} cg_pii_builtin[] = {
    /* Unicode local parts and internationalised domains (RFC 6531/5890);
     * a TLD of letters in any script, or an A-label (xn--...). */
    { "email", CG_PII_PSEUDO, NULL, 0,
      "(?<![" CG_PII_UWORD "._%+-])[" CG_PII_UWORD "._%+-]{1,64}@"
      "(?:[" CG_PII_UWORD "](?:[" CG_PII_UWORD "-]{0,61}[" CG_PII_UWORD
      "])?\\.)+(?:\\p{L}[\\p{L}\\p{M}]{1,23}|xn--[A-Za-z0-9-]{1,59})"
      "(?![" CG_PII_UWORD "-])" },
    /* Case-insensitive: the checksum reads letters either way. */
    { "iban", CG_PII_MASK, cg_pii_iban_ok, 1,
      "(?<![A-Za-z0-9])(?i)[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|"
      "(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])" },
    { "card", CG_PII_MASK, cg_pii_card_ok, 0,
      "(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])" },
    { "ssn", CG_PII_MASK, cg_pii_ssn_ok, 0,
      "(?<![0-9-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9-])" },
    /* E.164 with + or the 00 international prefix, North American, and
     * national numbers with a leading 0. */
    { "phone", CG_PII_PSEUDO, cg_pii_phone_ok, 0,
      "(?<![\\w+])\\+[1-9](?:[ .()-]{0,2}[0-9]){6,14}(?![0-9])"
      "|(?<![\\w+])00[1-9](?:[ .()/-]{0,2}[0-9]){6,14}(?![0-9])"
      "|(?<![\\w+-])(?:\\([2-9][0-9]{2}\\) ?|[2-9][0-9]{2}[-. ])[2-9][0-9]{2}"
      "[-. ][0-9]{4}(?![\\w-])"
      "|(?<![\\w+-])0[1-9][0-9]{0,3}(?:[ ./-][0-9]{2,4}){2,4}(?![\\w-])" },
    { "ip", CG_PII_ALLOW, cg_pii_ip_ok, 0,
      "(?<![0-9.])(?:[0-9]{1,3}\\.){3}[0-9]{1,3}(?!\\.?[0-9])"
      "|(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
      "(?![0-9A-Fa-f:])" },
};


static size_t
cg_pii_digits(const char *s, size_t n, char *out, size_t max)
{
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (k < max) {
                out[k] = s[i];
            }
            k++;
        }
    }
    return k;
}


int
cg_pii_luhn(const char *s, size_t n)
{
    char    d[32];
    size_t  k = cg_pii_digits(s, n, d, sizeof(d)), i;
    int     sum = 0, v;

    if (k < 13 || k > 19) {
        return 0;
    }
    for (i = 0; i < k; i++) {
        v = d[k - 1 - i] - '0';
        if (i & 1) {
            v *= 2;
            if (v > 9) {
                v -= 9;
            }
        }
        sum += v;
    }
    return sum % 10 == 0;
}


static int
cg_pii_card_ok(const char *s, size_t n)
{
    size_t i;
    char   sep = 0;

    /* One kind of separator at most: "4111 1111-1111 1111" is not how
     * anyone writes a card number, but a list of numbers may look so. */
    for (i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '-') {
            if (sep && s[i] != sep) {
                return 0;
            }
            sep = s[i];
        }
    }
    return cg_pii_luhn(s, n);
}


/* Country code and IBAN length of the ISO 13616 registry. A lower-case
 * match must fit it: lower-case text of that shape is mostly hex (an MD5
 * "ab12..." passes mod-97 one time in 97), an IBAN typed in lower case
 * still names its country. */
static const char cg_pii_iban_countries[] =
    "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BR29BY28CH21CR22CY28CZ24DE22"
    "DK18DO28EE20EG29ES24FI18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28"
    "IE22IL23IQ23IS26IT27JO30KW30KZ20LB28LC32LI21LT20LU20LV21LY25MC27"
    "MD24ME22MK19MR27MT31MU30NL18NO15PK24PL28PS29PT25QA29RO24RS22SA24"
    "SC31SD18SE24SI19SK24SM27ST25SV28TL23TN24TR26UA29VA22VG24XK20";


static int
cg_pii_iban_country(const char *c, size_t k)
{
    const char *p;

    for (p = cg_pii_iban_countries; *p; p += 4) {
        if ((c[0] & ~0x20) == p[0] && (c[1] & ~0x20) == p[1]) {
            return (size_t) ((p[2] - '0') * 10 + (p[3] - '0')) == k;
        }
    }
    return 0;
}


/* Mod-97 of c[0..k) moved by four (ISO 7064), letters of either case. */
static int
cg_pii_iban_mod97(const char *c, size_t k)
{
    unsigned rem = 0;
    size_t   i;
    char     ch;

    for (i = 0; i < k; i++) {
        ch = c[(i + 4) % k];
        if (ch >= 'a' && ch <= 'z') {
            ch = (char) (ch - 'a' + 'A');
        }
        if (ch >= '0' && ch <= '9') {
            rem = (rem * 10 + (unsigned) (ch - '0')) % 97;
        } else if (ch >= 'A' && ch <= 'Z') {
            rem = (rem * 100 + (unsigned) (ch - 'A' + 10)) % 97;
        } else {
            return 0;
        }
    }
    return rem == 1;
}


int
cg_pii_iban_ok(const char *s, size_t n)
{
    char    c[40];
    size_t  k = 0, i;
    int     lower = 0;

    for (i = 0; i < n; i++) {
        if (s[i] != ' ') {
            if (k == sizeof(c)) {
                return 0;
            }
            lower |= s[i] >= 'a' && s[i] <= 'z';
            c[k++] = s[i];
        }
    }
    if (k < 15 || k > 34 || (lower && !cg_pii_iban_country(c, k))) {
        return 0;
    }
    return cg_pii_iban_mod97(c, k);
}


int
cg_pii_ssn_ok(const char *s, size_t n)
{
    char d[16];
    int  area, group, serial;

    if (cg_pii_digits(s, n, d, sizeof(d)) != 9) {
        return 0;
    }
    area = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    group = (d[3] - '0') * 10 + (d[4] - '0');
    serial = (d[5] - '0') * 1000 + (d[6] - '0') * 100 + (d[7] - '0') * 10
             + (d[8] - '0');
    return area != 0 && area != 666 && area < 900 && group != 0
           && serial != 0;
}


static int
cg_pii_phone_ok(const char *s, size_t n)
{
    char   d[32];
    size_t k = cg_pii_digits(s, n, d, sizeof(d));

    if (s[0] == '+') {
        return k >= 8 && k <= 15;
    }
    if (n > 2 && s[0] == '0' && s[1] == '0') {
        /* 00 is the + of E.164; unlike +, it also starts order numbers
         * and ids, so a separator must show the grouping. */
        return k - 2 >= 8 && k - 2 <= 15 && k < n;
    }
    return k >= 9 && k <= 12;
}


static int
cg_pii_ip_ok(const char *s, size_t n)
{
    char          tmp[48];
    unsigned char a[16];
    size_t        i;

    if (n >= sizeof(tmp)) {
        return 0;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (memchr(tmp, '.', n) != NULL) {
        return inet_pton(AF_INET, tmp, a) == 1;
    }
    for (i = 0; i < n && (tmp[i] == ':'); i++) { }
    return i < n && inet_pton(AF_INET6, tmp, a) == 1;
}


static int
cg_pii_compile(cg_pii_det_t *d, const char *regex, char *err, size_t errlen)
{
    PCRE2_SIZE off;
    int        ec;
    char       msg[120];

    d->re = pcre2_compile((PCRE2_SPTR) regex, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF, &ec, &off, NULL);
    if (d->re == NULL) {
        pcre2_get_error_message(ec, (PCRE2_UCHAR *) msg, sizeof(msg));
        snprintf(err, errlen, "pattern %s: %s at offset %zu", d->name, msg,
                 (size_t) off);
        return -1;
    }
    if (cg_textguard_jit()) {
        (void) pcre2_jit_compile(d->re, PCRE2_JIT_COMPLETE); /* best effort */
    }
    return 0;
}


static cg_pii_det_t *
cg_pii_grow(cg_pii_t *p, const char *name, cg_pii_action_t action)
{
    cg_pii_det_t *d;
    size_t        i;

    d = realloc(p->det, (p->ndet + 1) * sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    p->det = d;
    d = &p->det[p->ndet];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    for (i = 0; d->name[i]; i++) {
        char c = d->name[i];
        d->label[i] = (char) ((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    d->action = action;
    return d;
}


cg_pii_t *
cg_pii_new(const void *key, size_t keylen)
{
    cg_pii_t     *p = calloc(1, sizeof(*p));
    cg_pii_det_t *d;
    size_t        i;
    char          err[160];

    if (p == NULL) {
        return NULL;
    }
    p->keylen = keylen < CG_PII_KEY_MAX ? keylen : CG_PII_KEY_MAX;
    memcpy(p->key, key, p->keylen);
    for (i = 0; i < sizeof(cg_pii_builtin) / sizeof(cg_pii_builtin[0]); i++) {
        d = cg_pii_grow(p, cg_pii_builtin[i].name, cg_pii_builtin[i].action);
        if (d == NULL || cg_pii_compile(d, cg_pii_builtin[i].re, err,
                                        sizeof(err)) != 0) {
            cg_pii_free(p);
            return NULL;
        }
        d->valid = cg_pii_builtin[i].valid;
        d->keep_invalid = cg_pii_builtin[i].keep_invalid;
        p->ndet++;
    }
    return p;
}


void
cg_pii_free(cg_pii_t *p)
{
    size_t i;

    if (p == NULL) {
        return;
    }
    for (i = 0; i < p->ndet; i++) {
        pcre2_code_free(p->det[i].re);
    }
    free(p->det);
    explicit_bzero(p->key, sizeof(p->key));
    free(p);
}


int
cg_pii_set_action(cg_pii_t *p, const char *name, cg_pii_action_t action)
{
    size_t i;

    for (i = 0; i < p->ndet; i++) {
        if (strcmp(p->det[i].name, name) == 0) {
            p->det[i].action = action;
            return 0;
        }
    }
    return -1;
}


int
cg_pii_action_parse(const char *s)
{
    static const char *names[] = { "allow", "pseudonymize", "mask",
                                   "block" };
    int                i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}


int
cg_pii_add(cg_pii_t *p, const char *name, cg_pii_action_t action,
           const char *regex, char *err, size_t errlen)
{
    cg_pii_det_t *d;
    size_t        i, n = strlen(name);

    for (i = 0; i < n; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_'
              || (name[i] >= '0' && name[i] <= '9'))) {
            break;
        }
    }
    if (n == 0 || n >= CG_PII_NAME_MAX || i < n) {
        snprintf(err, errlen, "detector name must be 1-24 of [a-z0-9_]");
        return -1;
    }
    d = cg_pii_grow(p, name, action);
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cg_pii_compile(d, regex, err, errlen) != 0) {
        return -1;
    }
    p->ndet++;
    return 0;
}


static int
cg_pii_load_line(void *ctx, char *line, int lineno, char *msg,
                 size_t msglen)
{
    char  why[160], *name, *re;
    int   act;

    name = strchr(line, '\t');
    re = name ? strchr(name + 1, '\t') : NULL;
    if (re == NULL) {
        snprintf(msg, msglen, "line %d: expected action<TAB>name<TAB>regex",
                 lineno);
        return -1;
    }
    *name++ = '\0';
    *re++ = '\0';
    act = cg_pii_action_parse(line);
    if (act < 0 || cg_pii_add(ctx, name, (cg_pii_action_t) act, re, why,
                              sizeof(why)) != 0) {
        snprintf(msg, msglen, "line %d: %s", lineno,
                 act < 0 ? "unknown action" : why);
        return -1;
    }
    return 0;
}


int
cg_pii_load(cg_pii_t *p, const char *path, char *err, size_t errlen)
{
    return cg_textguard_pattern_file_each(path, cg_pii_load_line, p, err,
                                          errlen);
}


static int
cg_pii_overlaps(const cg_pii_span_t *sp, size_t n, size_t s, size_t e)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s < sp[i].end && sp[i].start < e) {
            return 1;
        }
    }
    return 0;
}


static int
cg_pii_span_cmp(const void *a, const void *b)
{
    const cg_pii_span_t *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}


static int
cg_pii_push(cg_pii_span_t **sp, size_t *n, size_t *cap, cg_pii_span_t one)
{
    cg_pii_span_t *t;

    if (*n == *cap) {
        t = realloc(*sp, (*cap ? *cap * 2 : 8) * sizeof(**sp));
        if (t == NULL) {
            return -1;
        }
        *sp = t;
        *cap = *cap ? *cap * 2 : 8;
    }
    (*sp)[(*n)++] = one;
    return 0;
}


/* The matches of one detector that no earlier one holds. */
static int
cg_pii_find_one(const cg_pii_det_t *d, const char *s, size_t len,
                pcre2_match_data *md, cg_pii_span_t **sp, size_t *n,
                size_t *cap)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t      off;
    int         ok;

    for (off = 0; off <= len; off = ov[1]) {
        if (pcre2_match(d->re, (PCRE2_SPTR) s, len, off, 0, md, NULL) < 0) {
            break;
        }
        if (ov[1] == ov[0]) {
            ov[1]++;        /* an empty match from a custom pattern */
            continue;
        }
        ok = d->valid == NULL || d->valid(s + ov[0], ov[1] - ov[0]);
        if ((!ok && !d->keep_invalid)
            || cg_pii_overlaps(*sp, *n, ov[0], ov[1])) {
            continue;
        }
        if (cg_pii_push(sp, n, cap,
                        (cg_pii_span_t) { ov[0], ov[1], d, !ok }) != 0) {
            return -1;
        }
    }
    return 0;
}


/* One ordered pass: every active detector in priority order over the view
 * s[0..len), each taking only text no earlier one holds. Returns the spans
 * sorted by start; NULL (and *n = 0) when none, *n = (size_t) -1 when out
 * of memory. */
static cg_pii_span_t *
cg_pii_find(const cg_pii_t *p, const char *s, size_t len, size_t *n)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    cg_pii_span_t    *sp = NULL;
    size_t            i, cap = 0;

    *n = 0;
    for (i = 0; md != NULL && i < p->ndet; i++) {
        if (p->det[i].action != CG_PII_ALLOW
            && cg_pii_find_one(&p->det[i], s, len, md, &sp, n, &cap) != 0) {
            break;
        }
    }
    if (md == NULL || i < p->ndet) {
        free(sp);
        pcre2_match_data_free(md);
        *n = (size_t) -1;
        return NULL;
    }
    pcre2_match_data_free(md);
    if (*n > 1) {
        qsort(sp, *n, sizeof(*sp), cg_pii_span_cmp);
    }
    return sp;
}


static void
cg_pii_placeholder(const cg_pii_t *p, const char *user,
                   const cg_pii_det_t *d, const char *v, size_t n,
                   char ph[CG_PII_PH_MAX])
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned int   mdlen = 0;
    cg_buf_t       msg;

    /* HMAC over user NUL kind NUL value: separators keep ("ab","c") and
     * ("a","bc") apart. */
    cg_buf_init(&msg);
    cg_buf_add(&msg, user, strlen(user) + 1);
    cg_buf_add(&msg, d->name, strlen(d->name) + 1);
    cg_buf_add(&msg, v, n);
    memset(md, 0, sizeof(md));
    if (!msg.oom) {
        (void) HMAC(EVP_sha256(), p->key, (int) p->keylen,
                    (const unsigned char *) msg.data, msg.len, md, &mdlen);
        cg_buf_wipe_bytes(msg.data, msg.len);
    }
    cg_buf_free(&msg);
    snprintf(ph, CG_PII_PH_MAX, "[%s_%02x%02x%02x%02x]", d->label, md[0],
             md[1], md[2], md[3]);
}


static int
cg_pii_map_add(cg_pii_map_t *m, const char *ph, const char *v, size_t n)
{
    cg_pii_entry_t *e;

    if (cg_pii_map_find(m, ph, strlen(ph)) != NULL) {
        return 0;
    }
    if (m->n == m->cap) {
        e = realloc(m->e, (m->cap ? m->cap * 2 : 8) * sizeof(*e));
        if (e == NULL) {
            return -1;
        }
        m->e = e;
        m->cap = m->cap ? m->cap * 2 : 8;
    }
    e = &m->e[m->n];
    e->orig = malloc(n + 1);
    if (e->orig == NULL) {
        return -1;
    }
    memcpy(e->orig, v, n);
    e->orig[n] = '\0';
    e->orig_len = n;
    snprintf(e->ph, sizeof(e->ph), "%s", ph);
    m->n++;
    return 0;
}


/* The placeholder is keyed on the normalised value (view v[0..vn)), so
 * "＋49 30 1234567" and "+49 30 1234567" are the same person's number;
 * the map restores what the user wrote (orig[0..on)). */
static int
cg_pii_replace(const cg_pii_t *p, const char *user, const cg_pii_det_t *d,
               const char *v, size_t vn, const char *orig, size_t on,
               cg_buf_t *out, cg_pii_map_t *map)
{
    char ph[CG_PII_PH_MAX];

    if (d->action == CG_PII_MASK) {
        cg_buf_addf(out, "[%s]", d->label);
        return 0;
    }
    cg_pii_placeholder(p, user, d, v, vn, ph);
    cg_buf_adds(out, ph);
    return cg_pii_map_add(map, ph, orig, on);
}


/* Writes in with every span replaced, in the original's bytes. */
static cg_pii_rc_t
cg_pii_emit(const cg_pii_t *p, const char *user, const cg_piiview_t *v,
            const char *in, size_t n, const cg_pii_span_t *sp, size_t nsp,
            cg_buf_t *out, cg_pii_map_t *map, cg_pii_result_t *res)
{
    size_t i, at = 0, os, oe;

    for (i = 0; i < nsp; i++) {
        cg_piiview_span(v, sp[i].start, sp[i].end, &os, &oe);
        if (sp[i].keep || os < at) {
            continue;       /* kept as written; or shares a code point */
        }
        cg_findings_add_pii(&res->findings, sp[i].det->name);
        if (sp[i].det->action == CG_PII_BLOCK) {
            snprintf(res->detector, sizeof(res->detector), "%s",
                     sp[i].det->name);
            cg_buf_reset(out);
            return CG_PII_BLOCKED;
        }
        cg_buf_add(out, in + at, os - at);
        if (cg_pii_replace(p, user, sp[i].det, v->text.data + sp[i].start,
                           sp[i].end - sp[i].start, in + os, oe - os, out,
                           map) != 0) {
            return CG_PII_NOMEM;
        }
        at = oe;
        res->found++;
    }
    cg_buf_add(out, in + at, n - at);
    return out->oom ? CG_PII_NOMEM : CG_PII_OK;
}


cg_pii_rc_t
cg_pii_apply(const cg_pii_t *p, const char *user, const char *in, size_t n,
             cg_buf_t *out, cg_pii_map_t *map, cg_pii_result_t *res)
{
    cg_piiview_t   v;
    cg_pii_span_t *sp = NULL;
    size_t         nsp = (size_t) -1;

    memset(res, 0, sizeof(*res));
    cg_buf_reset(out);
    cg_piiview_init(&v);
    if (cg_piiview_build(&v, in, n) == 0) {
        sp = cg_pii_find(p, v.text.data, v.text.len, &nsp);
    }
    res->rc = nsp == (size_t) -1 ? CG_PII_NOMEM
              : cg_pii_emit(p, user, &v, in, n, sp, nsp, out, map, res);
    free(sp);
    cg_piiview_free(&v);
    return res->rc;
}


void
cg_pii_map_init(cg_pii_map_t *m)
{
    memset(m, 0, sizeof(*m));
}


void
cg_pii_map_reset(cg_pii_map_t *m)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        cg_buf_wipe_bytes(m->e[i].orig, m->e[i].orig_len);
        free(m->e[i].orig);
    }
    m->n = 0;
}


void
cg_pii_map_free(cg_pii_map_t *m)
{
    cg_pii_map_reset(m);
    free(m->e);
    memset(m, 0, sizeof(*m));
}


const cg_pii_entry_t *
cg_pii_map_find(const cg_pii_map_t *m, const char *ph, size_t n)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        if (strlen(m->e[i].ph) == n && memcmp(m->e[i].ph, ph, n) == 0) {
            return &m->e[i];
        }
    }
    return NULL;
}
