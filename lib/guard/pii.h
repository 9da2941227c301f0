/*
 * pii: keeps personal data out of prompts.
 *
 * Detectors (e-mail, phone, payment card with Luhn, IBAN with mod-97, US SSN
 * with the invalid-area rules, IPv4/IPv6, and configured PCRE2 patterns)
 * find personal data in the user's text, matched in one ordered pass on its
 * normalised view (guard/piiview.h: NFKC, every space a space, every dash
 * a dash) and replaced in the original bytes; a checksum-invalid IBAN is
 * kept whole. Each detector has an action:
 *
 *   pseudonymize  replace with "[EMAIL_1a2b3c4d]": 8 hex of
 *                 HMAC-SHA256(server key, user, kind, value), so the same
 *                 value of the same user maps to the same placeholder across
 *                 turns; the request's map restores it in the answer
 *   mask          replace with "[CARD]"; never restored
 *   block         refuse the request (the caller answers 400 pii_rejected)
 *   allow         leave it
 *
 * The map holding originals lives for one request, is wiped when reset, and
 * must never be logged; results name detectors ("pii:email"), never values.
 * A cg_pii_t is read-only after setup and may be shared by threads.
 */
#ifndef CG_PII_H
#define CG_PII_H

#include <stddef.h>
#include "core/buf.h"
#include "guard/textguard.h"

#define CG_PII_PH_MAX  64       /* longest placeholder, brackets included */

typedef enum {
    CG_PII_ALLOW = 0,
    CG_PII_PSEUDO,
    CG_PII_MASK,
    CG_PII_BLOCK
} cg_pii_action_t;

typedef enum {
    CG_PII_OK = 0,
    CG_PII_BLOCKED,
    CG_PII_NOMEM
} cg_pii_rc_t;

typedef struct cg_pii_s cg_pii_t;

typedef struct {
    char    ph[CG_PII_PH_MAX];
    char   *orig;
    size_t  orig_len;
} cg_pii_entry_t;

/* placeholder -> original, for one request. */
typedef struct {
    cg_pii_entry_t *e;
    size_t          n, cap;
} cg_pii_map_t;

typedef struct {
    cg_pii_rc_t rc;
    size_t      found;          /* items replaced */
    char        detector[32];   /* the blocking detector */
    cg_findings_t findings;     /* pii:email, pii:NAME */
} cg_pii_result_t;

/* Built-in detectors with their default actions (e-mail and phone
 * pseudonymized; card, IBAN and SSN masked; IP allowed). The key is
 * copied. NULL when out of memory. */
cg_pii_t *cg_pii_new(const void *key, size_t keylen);
void      cg_pii_free(cg_pii_t *p);
/* Sets the action of a built-in or added detector, by name. */
int       cg_pii_set_action(cg_pii_t *p, const char *name,
                            cg_pii_action_t action);
/* Adds a PCRE2 detector; name [a-z0-9_]{1,24}, its placeholder label is
 * the name upper-cased. */
int       cg_pii_add(cg_pii_t *p, const char *name, cg_pii_action_t action,
                     const char *regex, char *err, size_t errlen);
/* Adds detectors from a file: "action<TAB>name<TAB>regex" per line. */
int       cg_pii_load(cg_pii_t *p, const char *path, char *err,
                      size_t errlen);
/* "pseudonymize", "mask", "block", "allow"; -1 if none. */
int       cg_pii_action_parse(const char *s);

/* Replaces personal data in in[0..n) into out (cleared first) and adds the
 * placeholders of pseudonymized items to map. */
cg_pii_rc_t cg_pii_apply(const cg_pii_t *p, const char *user, const char *in,
                         size_t n, cg_buf_t *out, cg_pii_map_t *map,
                         cg_pii_result_t *res);

void        cg_pii_map_init(cg_pii_map_t *m);
/* Wipes the originals and forgets them; keeps the memory. */
void        cg_pii_map_reset(cg_pii_map_t *m);
void        cg_pii_map_free(cg_pii_map_t *m);
/* The original for placeholder ph[0..n), or NULL. */
const cg_pii_entry_t *cg_pii_map_find(const cg_pii_map_t *m, const char *ph,
                                      size_t n);

/* Validators, exported for the tests. */
int cg_pii_luhn(const char *s, size_t n);
int cg_pii_iban_ok(const char *s, size_t n);
int cg_pii_ssn_ok(const char *s, size_t n);

#endif
