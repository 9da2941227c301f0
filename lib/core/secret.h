/*
 * secret: loading, holding and wiping server-held secrets (provider keys,
 * the session signing secret).
 *
 * A secret is only ever named in the config by reference: env:NAME,
 * file:/path or credential:NAME (systemd's $CREDENTIALS_DIRECTORY/NAME). Its
 * bytes live in a buffer locked against swap and are wiped when freed. A
 * key file must be owned by root or the service user and must not be
 * writable by its group or readable/writable by others (group-readable is
 * allowed: root:chatgate 0640 is the usual way to hand a root-owned key to
 * the service). A variable read by env:NAME is removed from the environment
 * at once and its value kept here, so a reload still finds it. Anything that is shown to a person (logs, errors, `check`) uses
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

#include <sys/types.h>

/* Returns 1 if ref has a supported reference form (env:NAME, file:/path,
 * credential:NAME). */
int  cg_secret_is_ref(const char *ref);
/* For file: and credential: references, writes the file's path to out and
 * returns 0; -1 for env: (or when $CREDENTIALS_DIRECTORY is unset). */
int  cg_secret_path(const char *ref, char *out, size_t outlen);
/* The account besides root that may own key files (the service user after
 * a privilege drop); (uid_t) -1, the default, means the effective uid. */
void cg_secret_set_service_uid(uid_t uid);
/* One more account that may own key files (app/ adds the [server] user and
 * the config file's owner, who can point api_key at any file anyway). */
void cg_secret_trust_uid(uid_t uid);
/* Wipes the values kept from env: references (call at exit). */
void cg_secret_env_clear(void);
/* Copies src into dst (locked, wiped on free). */
int  cg_secret_copy(cg_secret_t *dst, const cg_secret_t *src);
/* Loads the secret behind ref into s. On failure returns -1 and writes a
 * reason that names the reference, never its contents. */
int  cg_secret_load(cg_secret_t *s, const char *ref, char *err, size_t errlen);
void cg_secret_free(cg_secret_t *s);
/* Hex SHA-256 prefix of data, CG_FP_LEN characters plus NUL. */
void cg_secret_fingerprint(const void *data, size_t len,
                           char out[CG_FP_LEN + 1]);
/* Returns 1 if s[0..n) contains something shaped like an API key, at the
 * start of a token: Anthropic sk-ant-, OpenAI sk- (proj-, svcacct-,
 * admin-, legacy; OpenRouter sk-or-, DeepSeek), OpenAI's T3BlbkFJ marker
 * anywhere, Groq gsk_, xAI xai-, Hugging Face hf_, Google AIza, AWS
 * AKIA/ASIA key ids, Azure's 84-character keys (JQQJ9 signature). The
 * output guard redacts exactly these; docs/guards.md lists them. */
int  cg_secret_looks_like_key(const char *s, size_t n);
/* The same, plus what is only a key in a config file: a bare token of 32
 * letters and digits (Azure classic, Mistral). */
int  cg_secret_config_has_key(const char *s, size_t n);
/* 1 if url carries userinfo (user:password@ before the host). */
int  cg_secret_url_has_userinfo(const char *url);

#endif
