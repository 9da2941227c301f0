/*
 * session: who is asking. Extracts the session token from the request
 * (Authorization: Bearer, else the configured cookie) and verifies chatgate's
 * signed token:
 *
 *     v1.<base64url(user)>.<expiry unix seconds>.<base64url(HMAC-SHA256)>
 *
 * The MAC covers everything before the last dot, is keyed with the server's
 * session secret and is compared in constant time (CRYPTO_memcmp). A user id
 * is 1-128 bytes of [A-Za-z0-9._@+:-], so it is safe in memcached keys and
 * log lines. This module never logs and never says more than why a token
 * failed (for the operator's log, not for the client).
 */
#ifndef CG_SESSION_H
#define CG_SESSION_H

#include <stddef.h>
#include <time.h>

#define CG_USER_MAX     128
#define CG_TOKEN_MAX    512

typedef enum {
    CG_TOKEN_OK = 0,
    CG_TOKEN_MISSING,
    CG_TOKEN_MALFORMED,
    CG_TOKEN_BAD_MAC,
    CG_TOKEN_EXPIRED
} cg_token_rc_t;

int  cg_session_user_valid(const char *user, size_t n);
/* Writes a token for user valid until exp into out (cap bytes). Returns its
 * length or -1. */
int  cg_token_sign(const unsigned char *secret, size_t secret_len,
                   const char *user, time_t exp, char *out, size_t cap);
/* Verifies tok; on success copies the user id (NUL-terminated) into user. */
cg_token_rc_t cg_token_verify(const unsigned char *secret, size_t secret_len,
                              const char *tok, size_t toklen, time_t now,
                              char user[CG_USER_MAX + 1]);
const char *cg_token_reason(cg_token_rc_t rc);
/* Finds the token: "Bearer X" in authorization wins, else cookie NAME in
 * the Cookie header. Returns 0 and points *tok into the header, or -1. */
int  cg_session_find_token(const char *authorization, const char *cookies,
                           const char *cookie_name, const char **tok,
                           size_t *toklen);

#endif
