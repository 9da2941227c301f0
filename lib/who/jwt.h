/*
 * session_jwt: verifies HS256 JSON Web Tokens issued by the host site.
 *
 * Follows RFC 8725: the algorithm is pinned to HS256 (the header's "alg"
 * never picks a key; "none" and everything else are refused), base64url is
 * strict, the MAC is checked over the received bytes and compared in
 * constant time, "crit" is refused, exp is required and exp/nbf/iat get a
 * small leeway, iss and aud must match when configured (and a token that
 * names an audience is refused when none is configured, RFC 7519 §4.1.3).
 * The user id comes from one configured claim (string, or a non-negative
 * integer). Never logs; the return code says why for the operator.
 */
#ifndef CG_SESSION_JWT_H
#define CG_SESSION_JWT_H

#include <stddef.h>
#include <time.h>
#include "who/signed.h"

#define CG_JWT_MAX  4096

typedef struct {
    const unsigned char *key;
    size_t               key_len;
    const char          *issuer;        /* "" or NULL: not checked */
    const char          *audience;      /* "" or NULL: must be absent */
    const char          *user_claim;
    long                 leeway;        /* seconds */
} cg_jwt_conf_t;

typedef enum {
    CG_JWT_OK = 0,
    CG_JWT_MALFORMED,
    CG_JWT_BAD_ALG,
    CG_JWT_BAD_MAC,
    CG_JWT_EXPIRED,
    CG_JWT_NOT_YET,
    CG_JWT_BAD_ISS,
    CG_JWT_BAD_AUD,
    CG_JWT_NO_USER,
    CG_JWT_TOO_LONG
} cg_jwt_rc_t;

cg_jwt_rc_t cg_jwt_verify(const cg_jwt_conf_t *jc, const char *tok,
                          size_t n, time_t now, char user[CG_USER_MAX + 1]);
const char *cg_jwt_reason(cg_jwt_rc_t rc);

#endif
