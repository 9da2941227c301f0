/*
 * secret: loading, holding and wiping server-held secrets (provider keys,
 * the session signing secret).
 *
 * A secret is only ever named in the config by reference: env:NAME or
 * file:/path. Its bytes live in a buffer locked against swap and are wiped
 * when freed. Anything that is shown to a person (logs, errors, `check`) uses
 * the fingerprint, a short SHA-256 prefix, never the bytes. This module must
 * never print or log a secret value, not even in an error message.
 */
#ifndef CG_SECRET_H
#define CG_SECRET_H

#include <stddef.h>

#define CG_SECRET_MAX  4096
#define CG_FP_LEN      12     /* hex characters of SHA-256 shown as key id */

typedef struct {
    unsigned char *data;
    size_t         len;
    char           fp[CG_FP_LEN + 1];
} cg_secret_t;

/* Returns 1 if ref has a supported reference form (env:NAME, file:/path). */
int  cg_secret_is_ref(const char *ref);
/* Loads the secret behind ref into s. On failure returns -1 and writes a
 * reason that names the reference, never its contents. */
int  cg_secret_load(cg_secret_t *s, const char *ref, char *err, size_t errlen);
void cg_secret_free(cg_secret_t *s);
/* Hex SHA-256 prefix of data, CG_FP_LEN characters plus NUL. */
void cg_secret_fingerprint(const void *data, size_t len,
                           char out[CG_FP_LEN + 1]);
/* Returns 1 if s[0..n) contains something shaped like a provider API key
 * (sk-ant-..., sk-proj-..., legacy sk-..., OpenAI's T3BlbkFJ marker). */
int  cg_secret_looks_like_key(const char *s, size_t n);

#endif
