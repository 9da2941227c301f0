#include "core/findings.h"

#include <stdio.h>
#include <string.h>

/* The rendering order: an event's text, or (text NULL) the listed names
 * of one kind. */
typedef struct {
    unsigned       bit;
    const char    *text;
    cg_find_kind_t kind;
} cg_find_row_t;

static const cg_find_row_t cg_find_rows[] = {
    { CG_FIND_STORE_DOWN, "store_down", 0 },
    { CG_FIND_PROVIDER_KEY_SENT, "provider_key_sent", 0 },
    { CG_FIND_INVISIBLE, "invisible", 0 },
    { 0, NULL, CG_FIND_ID_INJECTION },
    { CG_FIND_PII_EMAIL, "pii:email", 0 },
    { CG_FIND_PII_IBAN, "pii:iban", 0 },
    { CG_FIND_PII_CARD, "pii:card", 0 },
    { CG_FIND_PII_SSN, "pii:ssn", 0 },
    { CG_FIND_PII_PHONE, "pii:phone", 0 },
    { CG_FIND_PII_IP, "pii:ip", 0 },
    { 0, NULL, CG_FIND_ID_PII },
    { CG_FIND_URL_REMOVED, "url_removed", 0 },
    { CG_FIND_ANSWER_INVISIBLE, "answer_invisible", 0 },
    { CG_FIND_KEY_EXPOSED, "key_exposed", 0 },
    { CG_FIND_SPEND_QUEUED, "spend_queued", 0 },
    { CG_FIND_WORKER_DIED, "worker_died", 0 },
    { CG_FIND_TRUNCATED, "flags_truncated", 0 },
};

#define CG_FIND_NROWS  (sizeof(cg_find_rows) / sizeof(cg_find_rows[0]))


void
cg_findings_clear(cg_findings_t *f)
{
    memset(f, 0, sizeof(*f));
}


void
cg_findings_set(cg_findings_t *f, unsigned events)
{
    f->bits |= events;
}


int
cg_findings_has(const cg_findings_t *f, unsigned events)
{
    return (f->bits & events) == events;
}


void
cg_findings_add_id(cg_findings_t *f, cg_find_kind_t kind, const char *name,
                   size_t n)
{
    unsigned i;

    for (i = 0; i < f->nids; i++) {
        if (f->ids[i].kind == kind && strlen(f->ids[i].name) == n
            && memcmp(f->ids[i].name, name, n) == 0) {
            return;
        }
    }
    if (n >= CG_FINDINGS_NAME_MAX || f->nids == CG_FINDINGS_IDS) {
        f->bits |= CG_FIND_TRUNCATED;
        return;
    }
    f->ids[f->nids].kind = (unsigned char) kind;
    memcpy(f->ids[f->nids].name, name, n);
    f->ids[f->nids].name[n] = '\0';
    f->nids++;
}


void
cg_findings_add_pii(cg_findings_t *f, const char *name)
{
    size_t i;

    for (i = 0; i < CG_FIND_NROWS; i++) {
        if (cg_find_rows[i].text != NULL
            && strncmp(cg_find_rows[i].text, "pii:", 4) == 0
            && strcmp(cg_find_rows[i].text + 4, name) == 0) {
            f->bits |= cg_find_rows[i].bit;
            return;
        }
    }
    cg_findings_add_id(f, CG_FIND_ID_PII, name, strlen(name));
}


void
cg_findings_merge(cg_findings_t *dst, const cg_findings_t *src)
{
    unsigned i;

    dst->bits |= src->bits;
    for (i = 0; i < src->nids; i++) {
        cg_findings_add_id(dst, (cg_find_kind_t) src->ids[i].kind,
                           src->ids[i].name, strlen(src->ids[i].name));
    }
}


static void
cg_findings_each_id(const cg_findings_t *f, cg_find_kind_t kind,
                    cg_findings_fn fn, void *ctx)
{
    char     text[CG_FINDINGS_TEXT_MAX];
    unsigned i;

    for (i = 0; i < f->nids; i++) {
        if (f->ids[i].kind == kind) {
            snprintf(text, sizeof(text), "%s:%s",
                     kind == CG_FIND_ID_INJECTION ? "injection" : "pii",
                     f->ids[i].name);
            fn(ctx, text);
        }
    }
}


void
cg_findings_each(const cg_findings_t *f, cg_findings_fn fn, void *ctx)
{
    size_t i;

    for (i = 0; i < CG_FIND_NROWS; i++) {
        if (cg_find_rows[i].text == NULL) {
            cg_findings_each_id(f, cg_find_rows[i].kind, fn, ctx);
        } else if (f->bits & cg_find_rows[i].bit) {
            fn(ctx, cg_find_rows[i].text);
        }
    }
}


typedef struct {
    char   *out;
    size_t  cap, len;
} cg_find_fmt_t;


static void
cg_findings_fmt1(void *ctx, const char *text)
{
    cg_find_fmt_t *o = ctx;
    int            n;

    n = snprintf(o->out + (o->len < o->cap ? o->len : o->cap),
                 o->len < o->cap ? o->cap - o->len : 0, "%s%s",
                 o->len ? "," : "", text);
    o->len += n > 0 ? (size_t) n : 0;
}


size_t
cg_findings_format(const cg_findings_t *f, char *out, size_t cap)
{
    cg_find_fmt_t o = { out, cap, 0 };

    if (cap > 0) {
        out[0] = '\0';
    }
    cg_findings_each(f, cg_findings_fmt1, &o);
    return o.len;
}
