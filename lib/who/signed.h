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
 *
 * Key rotation: a token may name the key that signed it,
 *
 *     v2.<kid>.<base64url(user)>.<expiry>.<base64url(HMAC-SHA256)>
 *
 * where kid is 1-16 of [A-Za-z0-9_-]. A keyring holds every key that may
 * verify; the first one signs. v1 tokens (no kid) are tried against every
 * key, so tokens issued before rotation keep working until their key goes.
 */
#ifndef CG_SESSION_H
#define CG_SESSION_H

#include <stddef.h>
#include <time.h>
#include "core/reqparts.h"
#include "core/secret.h"
#include "who/session_conf.h"

#define CG_TOKEN_MAX    512


typedef enum {
    CG_TOKEN_OK = 0,
    CG_TOKEN_MISSING,
    CG_TOKEN_MALFORMED,
    CG_TOKEN_BAD_MAC,
    CG_TOKEN_EXPIRED,
    CG_TOKEN_UNKNOWN_KID
} cg_token_rc_t;

/* The namespace of service token callers ("token:NAME"); no session,
 * JWT or PHP user id may start with it. */
#define CG_USER_TOKEN_NS  "token:"
int  cg_signed_user_valid(const char *user, size_t n);
/* Writes a token for user valid until exp into out (cap bytes). Returns its
 * length or -1. */
int  cg_signed_sign(const unsigned char *secret, size_t secret_len,
                    const char *user, time_t exp, char *out, size_t cap);
/* Verifies tok; on success copies the user id (NUL-terminated) into user. */
cg_token_rc_t cg_signed_verify(const unsigned char *secret, size_t secret_len,
                               const char *tok, size_t toklen, time_t now,
                               char user[CG_USER_MAX + 1]);
const char *cg_signed_reason(cg_token_rc_t rc);
/* Signs with key (v1 when its kid is empty, else v2 naming the kid). */
int  cg_signed_sign_key(const cg_session_key_t *key, const char *user,
                        time_t exp, char *out, size_t cap);
/* Verifies a v1 or v2 token against the keyring keys[0..n). */
cg_token_rc_t cg_signed_verify_ring(const cg_session_key_t *keys, size_t n,
                                    const char *tok, size_t toklen,
                                    time_t now, char user[CG_USER_MAX + 1]);
/* HMAC-SHA256 of msg under secret into mac (32 bytes), with one MAC
 * context per thread: HMAC() fetches the algorithm from OpenSSL's provider
 * tables on every call, which costs more than the hash. 0 or -1. */
int  cg_signed_hmac(const unsigned char *secret, size_t secret_len,
                    const char *msg, size_t n, unsigned char mac[32]);
int  cg_signed_kid_valid(const char *kid, size_t n);
/* Finds the token: "Bearer X" in authorization wins, else cookie NAME in
 * the Cookie header. Returns 0 and points *tok into the header, or -1. */
int  cg_signed_find_token(const char *authorization, const char *cookies,
                          const char *cookie_name, const char **tok,
                          size_t *toklen);

#endif
