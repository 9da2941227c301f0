#include "who/jwt.h"
#include "core/b64.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define CG_JWT_MAC_LEN  32


/* Decodes one base64url part and parses it as a strict JSON object. */
static json_object *
cg_jwt_part(const char *s, size_t n)
{
    unsigned char  buf[CG_JWT_MAX];
    json_tokener  *tk;
    json_object   *obj;
    long           len;

    len = cg_b64_url_decode(s, n, buf, sizeof(buf));
    if (len <= 0 || memchr(buf, '\0', (size_t) len) != NULL) {
        return NULL;
    }
    tk = json_tokener_new();
    if (tk == NULL) {
        return NULL;
    }
    json_tokener_set_flags(tk, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tk, (const char *) buf, (int) len);
    if (obj != NULL && (json_tokener_get_error(tk) != json_tokener_success
                        || json_tokener_get_parse_end(tk) != (size_t) len
                        || !json_object_is_type(obj, json_type_object))) {
        json_object_put(obj);
        obj = NULL;
    }
    json_tokener_free(tk);
    return obj;
}


static cg_jwt_rc_t
cg_jwt_header(const char *s, size_t n)
{
    json_object *h = cg_jwt_part(s, n), *v;
    cg_jwt_rc_t  rc = CG_JWT_OK;

    if (h == NULL) {
        return CG_JWT_MALFORMED;
    }
    if (!json_object_object_get_ex(h, "alg", &v)
        || !json_object_is_type(v, json_type_string)
        || strcmp(json_object_get_string(v), "HS256") != 0
        || json_object_object_get_ex(h, "crit", NULL)) {
        rc = CG_JWT_BAD_ALG;
    } else if (json_object_object_get_ex(h, "typ", &v)
               && (!json_object_is_type(v, json_type_string)
                   || strcasecmp(json_object_get_string(v), "JWT") != 0)) {
        rc = CG_JWT_MALFORMED;
    }
    json_object_put(h);
    return rc;
}


static int
cg_jwt_mac_ok(const cg_jwt_conf_t *jc, const char *tok, size_t signed_len,
              const char *sig, size_t sig_len)
{
    unsigned char mac[CG_JWT_MAC_LEN], got[CG_JWT_MAC_LEN + 3];
    unsigned int  len = 0;

    if (cg_b64_url_decode(sig, sig_len, got, sizeof(got)) != CG_JWT_MAC_LEN
        || HMAC(EVP_sha256(), jc->key, (int) jc->key_len,
                (const unsigned char *) tok, signed_len, mac, &len) == NULL
        || len != CG_JWT_MAC_LEN) {
        return 0;
    }
    return CRYPTO_memcmp(mac, got, CG_JWT_MAC_LEN) == 0;
}


/* A NumericDate claim: absent (0), a number (1, *t set) or invalid (-1). */
static int
cg_jwt_time(json_object *p, const char *name, long long *t)
{
    json_object *v;

    if (!json_object_object_get_ex(p, name, &v)) {
        return 0;
    }
    if (!json_object_is_type(v, json_type_int)
        && !json_object_is_type(v, json_type_double)) {
        return -1;
    }
    *t = (long long) json_object_get_int64(v);
    return 1;
}


static cg_jwt_rc_t
cg_jwt_times(const cg_jwt_conf_t *jc, json_object *p, time_t now)
{
    long long t = 0;
    int       rc;

    rc = cg_jwt_time(p, "exp", &t);
    if (rc <= 0) {
        return CG_JWT_MALFORMED;        /* exp is required */
    }
    if ((long long) now - jc->leeway >= t) {
        return CG_JWT_EXPIRED;
    }
    rc = cg_jwt_time(p, "nbf", &t);
    if (rc < 0 || (rc == 1 && (long long) now + jc->leeway < t)) {
        return rc < 0 ? CG_JWT_MALFORMED : CG_JWT_NOT_YET;
    }
    rc = cg_jwt_time(p, "iat", &t);
    if (rc < 0 || (rc == 1 && (long long) now + jc->leeway < t)) {
        return rc < 0 ? CG_JWT_MALFORMED : CG_JWT_NOT_YET;
    }
    return CG_JWT_OK;
}


static int
cg_jwt_aud_has(json_object *aud, const char *want)
{
    json_object *v;
    size_t       i, n;

    if (json_object_is_type(aud, json_type_string)) {
        return strcmp(json_object_get_string(aud), want) == 0;
    }
    if (!json_object_is_type(aud, json_type_array)) {
        return 0;
    }
    n = json_object_array_length(aud);
    for (i = 0; i < n; i++) {
        v = json_object_array_get_idx(aud, i);
        if (json_object_is_type(v, json_type_string)
            && strcmp(json_object_get_string(v), want) == 0) {
            return 1;
        }
    }
    return 0;
}


static cg_jwt_rc_t
cg_jwt_parties(const cg_jwt_conf_t *jc, json_object *p)
{
    json_object *v;
    int          has;

    if (jc->issuer && jc->issuer[0]
        && (!json_object_object_get_ex(p, "iss", &v)
            || !json_object_is_type(v, json_type_string)
            || strcmp(json_object_get_string(v), jc->issuer) != 0)) {
        return CG_JWT_BAD_ISS;
    }
    has = json_object_object_get_ex(p, "aud", &v);
    if (jc->audience && jc->audience[0]) {
        return has && cg_jwt_aud_has(v, jc->audience) ? CG_JWT_OK
                                                      : CG_JWT_BAD_AUD;
    }
    return has ? CG_JWT_BAD_AUD : CG_JWT_OK;
}


static cg_jwt_rc_t
cg_jwt_user(const cg_jwt_conf_t *jc, json_object *p,
            char user[CG_USER_MAX + 1])
{
    json_object *v;
    const char  *s;
    int64_t      id;
    size_t       len;

    if (!json_object_object_get_ex(p, jc->user_claim, &v)) {
        return CG_JWT_NO_USER;
    }
    if (json_object_is_type(v, json_type_int)) {
        id = json_object_get_int64(v);
        if (id < 0) {
            return CG_JWT_NO_USER;
        }
        snprintf(user, CG_USER_MAX + 1, "%lld", (long long) id);
        return CG_JWT_OK;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return CG_JWT_NO_USER;
    }
    s = json_object_get_string(v);
    len = (size_t) json_object_get_string_len(v);
    /* "\u0000" decodes to a NUL: strlen() would see a shorter id. */
    if (memchr(s, '\0', len) != NULL || !cg_signed_user_valid(s, len)) {
        return CG_JWT_NO_USER;
    }
    memcpy(user, s, len);
    user[len] = '\0';
    return CG_JWT_OK;
}


cg_jwt_rc_t
cg_jwt_verify(const cg_jwt_conf_t *jc, const char *tok, size_t n,
              time_t now, char user[CG_USER_MAX + 1])
{
    const char  *d1, *d2;
    json_object *p;
    cg_jwt_rc_t  rc;

    user[0] = '\0';
    if (n > CG_JWT_MAX) {
        return CG_JWT_TOO_LONG;
    }
    d1 = memchr(tok, '.', n);
    d2 = d1 ? memchr(d1 + 1, '.', (size_t) (tok + n - d1 - 1)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', (size_t) (tok + n - d2 - 1))) {
        return CG_JWT_MALFORMED;        /* exactly two dots */
    }
    rc = cg_jwt_header(tok, (size_t) (d1 - tok));
    if (rc != CG_JWT_OK) {
        return rc;
    }
    if (!cg_jwt_mac_ok(jc, tok, (size_t) (d2 - tok), d2 + 1,
                       (size_t) (tok + n - d2 - 1))) {
        return CG_JWT_BAD_MAC;
    }
    p = cg_jwt_part(d1 + 1, (size_t) (d2 - d1 - 1));
    if (p == NULL) {
        return CG_JWT_MALFORMED;
    }
    rc = cg_jwt_times(jc, p, now);
    if (rc == CG_JWT_OK) {
        rc = cg_jwt_parties(jc, p);
    }
    if (rc == CG_JWT_OK) {
        rc = cg_jwt_user(jc, p, user);
    }
    json_object_put(p);
    if (rc != CG_JWT_OK) {
        user[0] = '\0';
    }
    return rc;
}


const char *
cg_jwt_reason(cg_jwt_rc_t rc)
{
    switch (rc) {
    case CG_JWT_OK:        return "ok";
    case CG_JWT_MALFORMED: return "JWT malformed";
    case CG_JWT_BAD_ALG:   return "JWT algorithm not HS256 (or crit set)";
    case CG_JWT_BAD_MAC:   return "JWT signature mismatch";
    case CG_JWT_EXPIRED:   return "JWT expired";
    case CG_JWT_NOT_YET:   return "JWT not yet valid (nbf/iat)";
    case CG_JWT_BAD_ISS:   return "JWT issuer mismatch";
    case CG_JWT_BAD_AUD:   return "JWT audience mismatch";
    case CG_JWT_NO_USER:   return "JWT has no usable user claim";
    case CG_JWT_TOO_LONG:  return "JWT too long";
    }
    return "?";
}
