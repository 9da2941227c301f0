/*
 * findings: what the stages noticed about one request, typed.
 *
 * Fixed events (an answer held a key, the store did not answer, ...) are
 * bits, so none can be crowded out by others: key_exposed must always
 * reach the operator. Names that come from configuration (injection
 * patterns, custom PII detectors) go into a bounded list; one that does
 * not fit sets CG_FIND_TRUNCATED instead of pushing anything out.
 *
 * Text exists only when the usage line is written (cg_findings_each): the
 * strings of the usage log's "flags" array (docs/guards.md,
 * docs/usage-log.md), in one fixed order. Findings name kinds and
 * configured names only, never user text, originals or secrets.
 */
#ifndef CG_FINDINGS_H
#define CG_FINDINGS_H

#include <stddef.h>

/* The fixed events, in the order they are rendered. */
typedef enum {
    CG_FIND_STORE_DOWN        = 1u << 0,    /* "store_down" */
    CG_FIND_PROVIDER_KEY_SENT = 1u << 1,    /* "provider_key_sent" */
    CG_FIND_INVISIBLE         = 1u << 2,    /* "invisible" */
    /* injection:NAME (the list) is rendered here */
    CG_FIND_PII_EMAIL         = 1u << 3,    /* "pii:email" */
    CG_FIND_PII_IBAN          = 1u << 4,
    CG_FIND_PII_CARD          = 1u << 5,
    CG_FIND_PII_SSN           = 1u << 6,
    CG_FIND_PII_PHONE         = 1u << 7,
    CG_FIND_PII_IP            = 1u << 8,
    /* pii:NAME of a custom detector (the list) is rendered here */
    CG_FIND_URL_REMOVED       = 1u << 9,    /* "url_removed" */
    CG_FIND_ANSWER_INVISIBLE  = 1u << 10,   /* "answer_invisible" */
    CG_FIND_KEY_EXPOSED       = 1u << 11,   /* "key_exposed" */
    CG_FIND_SPEND_QUEUED      = 1u << 12,   /* "spend_queued" */
    CG_FIND_WORKER_DIED       = 1u << 13,   /* "worker_died" */
    CG_FIND_TRUNCATED         = 1u << 14    /* "flags_truncated": a name
                                               did not fit the list */
} cg_find_event_t;

/* What a listed name is. */
typedef enum {
    CG_FIND_ID_INJECTION = 1,   /* "injection:NAME" */
    CG_FIND_ID_PII              /* "pii:NAME" */
} cg_find_kind_t;

#define CG_FINDINGS_IDS       8     /* names kept per request */
#define CG_FINDINGS_NAME_MAX  32    /* longest name + 1 (patterns: 31) */
#define CG_FINDINGS_TEXT_MAX  (16 + CG_FINDINGS_NAME_MAX)

typedef struct {
    unsigned char kind;             /* cg_find_kind_t */
    char          name[CG_FINDINGS_NAME_MAX];
} cg_find_id_t;

typedef struct {
    unsigned      bits;             /* cg_find_event_t */
    unsigned      nids;
    cg_find_id_t  ids[CG_FINDINGS_IDS];
} cg_findings_t;

void cg_findings_clear(cg_findings_t *f);
void cg_findings_set(cg_findings_t *f, unsigned events);
/* Whether every event of events was noticed. */
int  cg_findings_has(const cg_findings_t *f, unsigned events);
/* Adds a configured name[0..n) once; a name too long or over the list
 * sets CG_FIND_TRUNCATED. */
void cg_findings_add_id(cg_findings_t *f, cg_find_kind_t kind,
                        const char *name, size_t n);
/* A PII detector by name: a built-in one's bit, else a listed name. */
void cg_findings_add_pii(cg_findings_t *f, const char *name);
/* Adds everything src noticed to dst. */
void cg_findings_merge(cg_findings_t *dst, const cg_findings_t *src);

/* Calls fn with each finding's text ("key_exposed", "injection:NAME"), in
 * the fixed order above. */
typedef void (*cg_findings_fn)(void *ctx, const char *text);
void cg_findings_each(const cg_findings_t *f, cg_findings_fn fn, void *ctx);
/* The texts joined by commas into out[cap] ("a,b:c"), for tests and
 * diagnostics; returns the length it needed. */
size_t cg_findings_format(const cg_findings_t *f, char *out, size_t cap);

#endif
