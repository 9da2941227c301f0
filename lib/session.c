#include "session.h"
#include "b64.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

#define CG_MAC_LEN  32


int
cg_session_user_valid(const char *user, size_t n)
{
    size_t i;
    char   c;

    if (n == 0 || n > CG_USER_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        c = user[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@'
              || c == '+' || c == ':' || c == '-')) {
            return 0;
        }
    }
    return 1;
}


/* HMAC() fetches SHA-256 and HMAC from OpenSSL's provider tables on every
 * call; a context made once per thread and re-keyed per token does that
 * work once. */
static int
cg_token_mac(const unsigned char *secret, size_t secret_len, const char *msg,
             size_t n, unsigned char mac[CG_MAC_LEN])
{
    static _Thread_local EVP_MAC_CTX  *ctx;
    OSSL_PARAM                         params[2], *p = NULL;
    EVP_MAC                           *hmac;
    size_t                             len = 0;

    if (ctx == NULL) {
        hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        EVP_MAC_free(hmac);         /* the context keeps its reference */
        if (ctx == NULL) {
            return -1;
        }
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     "SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();
        p = params;
    }
    if (EVP_MAC_init(ctx, secret, secret_len, p) != 1
        || EVP_MAC_update(ctx, (const unsigned char *) msg, n) != 1
        || EVP_MAC_final(ctx, mac, &len, CG_MAC_LEN) != 1
        || len != CG_MAC_LEN) {
        return -1;
    }
    return 0;
}


int
cg_token_sign(const unsigned char *secret, size_t secret_len,
              const char *user, time_t exp, char *out, size_t cap)
{
    unsigned char mac[CG_MAC_LEN];
    size_t        ulen = strlen(user), n;
    int           w;

    if (!cg_session_user_valid(user, ulen) || exp <= 0
        || cap < 3 + cg_b64url_len(ulen) + 1 + 20 + 1
                 + cg_b64url_len(CG_MAC_LEN) + 1) {
        return -1;
    }
    memcpy(out, "v1.", 3);
    n = 3 + cg_b64url_encode((const unsigned char *) user, ulen, out + 3);
    w = snprintf(out + n, cap - n, ".%lld", (long long) exp);
    n += (size_t) w;
    if (cg_token_mac(secret, secret_len, out, n, mac) != 0) {
        return -1;
    }
    out[n++] = '.';
    n += cg_b64url_encode(mac, CG_MAC_LEN, out + n);
    return (int) n;
}


cg_token_rc_t
cg_token_verify(const unsigned char *secret, size_t secret_len,
                const char *tok, size_t toklen, time_t now,
                char user[CG_USER_MAX + 1])
{
    unsigned char  mac[CG_MAC_LEN], got[CG_MAC_LEN + 3];
    const char    *dot_exp, *dot_mac, *p;
    long long      exp = 0;
    long           ulen;

    if (toklen == 0) {
        return CG_TOKEN_MISSING;
    }
    if (toklen > CG_TOKEN_MAX || toklen < 3 || memcmp(tok, "v1.", 3) != 0) {
        return CG_TOKEN_MALFORMED;
    }
    dot_mac = memrchr(tok, '.', toklen);
    dot_exp = dot_mac ? memrchr(tok, '.', (size_t) (dot_mac - tok)) : NULL;
    if (dot_exp == NULL || dot_exp < tok + 3 || dot_mac - dot_exp < 2
        || dot_mac - dot_exp > 19) {    /* 18 digits: no overflow */
        return CG_TOKEN_MALFORMED;
    }
    for (p = dot_exp + 1; p < dot_mac; p++) {
        if (*p < '0' || *p > '9') {
            return CG_TOKEN_MALFORMED;
        }
        exp = exp * 10 + (*p - '0');
    }
    /* Check the MAC before trusting anything else in the token. */
    if (cg_b64url_decode(dot_mac + 1, (size_t) (tok + toklen - dot_mac - 1),
                         got, sizeof(got)) != CG_MAC_LEN
        || cg_token_mac(secret, secret_len, tok, (size_t) (dot_mac - tok),
                        mac) != 0) {
        return CG_TOKEN_MALFORMED;
    }
    if (CRYPTO_memcmp(mac, got, CG_MAC_LEN) != 0) {
        return CG_TOKEN_BAD_MAC;
    }
    ulen = cg_b64url_decode(tok + 3, (size_t) (dot_exp - tok - 3),
                            (unsigned char *) user, CG_USER_MAX);
    if (ulen <= 0 || !cg_session_user_valid(user, (size_t) ulen)) {
        return CG_TOKEN_MALFORMED;
    }
    user[ulen] = '\0';
    if ((long long) now >= exp) {
        return CG_TOKEN_EXPIRED;
    }
    return CG_TOKEN_OK;
}


const char *
cg_token_reason(cg_token_rc_t rc)
{
    switch (rc) {
    case CG_TOKEN_OK:        return "ok";
    case CG_TOKEN_MISSING:   return "no session token";
    case CG_TOKEN_MALFORMED: return "malformed session token";
    case CG_TOKEN_BAD_MAC:   return "session token signature mismatch";
    case CG_TOKEN_EXPIRED:   return "session token expired";
    }
    return "?";
}


static int
cg_session_cookie(const char *cookies, const char *name, const char **tok,
                  size_t *toklen)
{
    size_t      nlen = strlen(name);
    const char *p = cookies, *end;

    while (p && *p) {
        while (*p == ' ' || *p == ';') {
            p++;
        }
        end = strchr(p, ';');
        if (end == NULL) {
            end = p + strlen(p);
        }
        if ((size_t) (end - p) > nlen && strncmp(p, name, nlen) == 0
            && p[nlen] == '=') {
            *tok = p + nlen + 1;
            *toklen = (size_t) (end - *tok);
            while (*toklen && (*tok)[*toklen - 1] == ' ') {
                (*toklen)--;
            }
            return 0;
        }
        p = *end ? end + 1 : end;
    }
    return -1;
}


int
cg_session_find_token(const char *authorization, const char *cookies,
                      const char *cookie_name, const char **tok,
                      size_t *toklen)
{
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        *tok = authorization + 7;
        while (**tok == ' ') {
            (*tok)++;
        }
        *toklen = strlen(*tok);
        return *toklen ? 0 : -1;
    }
    if (cookies) {
        return cg_session_cookie(cookies, cookie_name, tok, toklen);
    }
    return -1;
}
