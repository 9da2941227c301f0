#include "who/signed.h"
#include "core/b64.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

#define CG_MAC_LEN  32


int
cg_signed_user_valid(const char *user, size_t n)
{
    size_t i;
    char   c;

    if (n == 0 || n > CG_USER_MAX) {
        return 0;
    }
    /* "token:NAME" is how a service token is counted, billed and logged:
     * a site user of that name would share its limits, budget and PII key. */
    if (n >= sizeof(CG_USER_TOKEN_NS) - 1
        && memcmp(user, CG_USER_TOKEN_NS, sizeof(CG_USER_TOKEN_NS) - 1) == 0) {
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
 * call, and EVP_MAC_init with a key hashes the key into fresh inner and
 * outer states each time (13k instructions). A thread keeps one keyed
 * context per secret it has seen (a handful: the session keyring and the
 * user-id key) and re-initialises it without a key, which only copies the
 * precomputed inner state. Entries are matched on the secret's bytes, so
 * a reload that changes a secret simply keys a new entry. Everything
 * belongs to the thread and is cleansed and freed when it ends (a pthread
 * key destructor). */
#define CG_HMAC_SLOTS  4
#define CG_HMAC_KEYMAX 128

typedef struct {
    EVP_MAC_CTX   *ctx;
    int            keyed;           /* key[0..len) is what ctx holds */
    size_t         len;
    unsigned char  key[CG_HMAC_KEYMAX];
} cg_hmac_slot_t;

typedef struct {
    cg_hmac_slot_t slot[CG_HMAC_SLOTS];
    unsigned       next;            /* round-robin victim */
} cg_hmac_cache_t;

static pthread_key_t  cg_token_key;
static pthread_once_t cg_token_once = PTHREAD_ONCE_INIT;


static void
cg_token_ctx_free(void *p)
{
    cg_hmac_cache_t *c = p;
    unsigned         i;

    for (i = 0; i < CG_HMAC_SLOTS; i++) {
        EVP_MAC_CTX_free(c->slot[i].ctx);
    }
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}


static void
cg_token_key_init(void)
{
    (void) pthread_key_create(&cg_token_key, cg_token_ctx_free);
}


static cg_hmac_cache_t *
cg_hmac_cache(void)
{
    cg_hmac_cache_t *c;

    (void) pthread_once(&cg_token_once, cg_token_key_init);
    c = pthread_getspecific(cg_token_key);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL || pthread_setspecific(cg_token_key, c) != 0) {
            free(c);
            return NULL;
        }
    }
    return c;
}


/* A context keyed with secret, or NULL. Re-keys the victim slot on a miss. */
static EVP_MAC_CTX *
cg_hmac_keyed(cg_hmac_cache_t *c, const unsigned char *secret, size_t n)
{
    cg_hmac_slot_t *s;
    OSSL_PARAM      params[2];
    EVP_MAC        *hmac;
    unsigned        i;

    for (i = 0; i < CG_HMAC_SLOTS; i++) {
        s = &c->slot[i];
        if (s->keyed && s->len == n && CRYPTO_memcmp(s->key, secret, n) == 0) {
            return EVP_MAC_init(s->ctx, NULL, 0, NULL) == 1 ? s->ctx : NULL;
        }
    }
    s = &c->slot[c->next++ % CG_HMAC_SLOTS];
    if (s->ctx == NULL) {
        hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        s->ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        EVP_MAC_free(hmac);         /* the context keeps its reference */
    }
    s->keyed = 0;                   /* not a match until keyed */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (s->ctx == NULL || EVP_MAC_init(s->ctx, secret, n, params) != 1) {
        return NULL;
    }
    /* a longer secret still works, it is only re-keyed on every call */
    if (n <= CG_HMAC_KEYMAX) {
        if (n > 0) {                /* memcpy must not be given NULL */
            memcpy(s->key, secret, n);
        }
        s->len = n;
        s->keyed = 1;
    }
    return s->ctx;
}


int
cg_signed_hmac(const unsigned char *secret, size_t secret_len,
               const char *msg, size_t n, unsigned char mac[CG_MAC_LEN])
{
    cg_hmac_cache_t *c = cg_hmac_cache();
    EVP_MAC_CTX     *ctx;
    size_t           len = 0;

    ctx = c ? cg_hmac_keyed(c, secret, secret_len) : NULL;
    if (ctx == NULL
        || EVP_MAC_update(ctx, (const unsigned char *) msg, n) != 1
        || EVP_MAC_final(ctx, mac, &len, CG_MAC_LEN) != 1
        || len != CG_MAC_LEN) {
        return -1;
    }
    return 0;
}


static int
cg_token_sign_hdr(const unsigned char *secret, size_t secret_len,
                  const char *kid, const char *user, time_t exp, char *out,
                  size_t cap)
{
    unsigned char mac[CG_MAC_LEN];
    size_t        ulen = strlen(user), klen = strlen(kid), n;
    int           w;

    /* verify accepts at most 18 digits of expiry; never sign more */
    if (!cg_signed_user_valid(user, ulen) || exp <= 0
        || (long long) exp >= 1000000000000000000LL
        || cap < 4 + klen + cg_b64_url_len(ulen) + 1 + 20 + 1
                 + cg_b64_url_len(CG_MAC_LEN) + 1) {
        return -1;
    }
    if (klen) {
        n = (size_t) snprintf(out, cap, "v2.%s.", kid);
    } else {
        memcpy(out, "v1.", 3);
        n = 3;
    }
    n += cg_b64_url_encode((const unsigned char *) user, ulen, out + n);
    w = snprintf(out + n, cap - n, ".%lld", (long long) exp);
    n += (size_t) w;
    if (cg_signed_hmac(secret, secret_len, out, n, mac) != 0) {
        return -1;
    }
    out[n++] = '.';
    n += cg_b64_url_encode(mac, CG_MAC_LEN, out + n);
    return (int) n;
}


int
cg_signed_sign(const unsigned char *secret, size_t secret_len,
               const char *user, time_t exp, char *out, size_t cap)
{
    return cg_token_sign_hdr(secret, secret_len, "", user, exp, out, cap);
}


int
cg_signed_sign_key(const cg_session_key_t *key, const char *user, time_t exp,
                   char *out, size_t cap)
{
    return cg_token_sign_hdr(key->key.data, key->key.len, key->kid, user,
                             exp, out, cap);
}


int
cg_signed_kid_valid(const char *kid, size_t n)
{
    size_t i;

    if (n == 0 || n > CG_KID_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((kid[i] >= 'A' && kid[i] <= 'Z') || (kid[i] >= 'a'
              && kid[i] <= 'z') || (kid[i] >= '0' && kid[i] <= '9')
              || kid[i] == '_' || kid[i] == '-')) {
            return 0;
        }
    }
    return 1;
}


/* Checks a token whose user part starts at tok + hdr ("v1." or
 * "v2.<kid>."), with one secret. */
static cg_token_rc_t
cg_token_check(const unsigned char *secret, size_t secret_len,
               const char *tok, size_t toklen, size_t hdr, time_t now,
               char user[CG_USER_MAX + 1])
{
    unsigned char  mac[CG_MAC_LEN], got[CG_MAC_LEN + 3];
    const char    *dot_exp, *dot_mac, *p;
    long long      exp = 0;
    long           ulen;

    dot_mac = memrchr(tok, '.', toklen);
    dot_exp = dot_mac ? memrchr(tok, '.', (size_t) (dot_mac - tok)) : NULL;
    if (dot_exp == NULL || dot_exp < tok + hdr || dot_mac - dot_exp < 2
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
    if (cg_b64_url_decode(dot_mac + 1, (size_t) (tok + toklen - dot_mac - 1),
                          got, sizeof(got)) != CG_MAC_LEN
        || cg_signed_hmac(secret, secret_len, tok, (size_t) (dot_mac - tok),
                        mac) != 0) {
        return CG_TOKEN_MALFORMED;
    }
    if (CRYPTO_memcmp(mac, got, CG_MAC_LEN) != 0) {
        return CG_TOKEN_BAD_MAC;
    }
    ulen = cg_b64_url_decode(tok + hdr, (size_t) (dot_exp - tok - hdr),
                             (unsigned char *) user, CG_USER_MAX);
    if (ulen <= 0 || !cg_signed_user_valid(user, (size_t) ulen)) {
        return CG_TOKEN_MALFORMED;
    }
    user[ulen] = '\0';
    if ((long long) now >= exp) {
        return CG_TOKEN_EXPIRED;
    }
    return CG_TOKEN_OK;
}


cg_token_rc_t
cg_signed_verify(const unsigned char *secret, size_t secret_len,
                 const char *tok, size_t toklen, time_t now,
                 char user[CG_USER_MAX + 1])
{
    if (toklen == 0) {
        return CG_TOKEN_MISSING;
    }
    if (toklen > CG_TOKEN_MAX || toklen < 3 || memcmp(tok, "v1.", 3) != 0) {
        return CG_TOKEN_MALFORMED;
    }
    return cg_token_check(secret, secret_len, tok, toklen, 3, now, user);
}


cg_token_rc_t
cg_signed_verify_ring(const cg_session_key_t *keys, size_t n,
                      const char *tok, size_t toklen, time_t now,
                      char user[CG_USER_MAX + 1])
{
    const char    *kid_end;
    size_t         i, klen;
    cg_token_rc_t  rc = CG_TOKEN_BAD_MAC;

    if (toklen == 0) {
        return CG_TOKEN_MISSING;
    }
    if (toklen > CG_TOKEN_MAX || toklen < 4) {
        return CG_TOKEN_MALFORMED;
    }
    if (memcmp(tok, "v1.", 3) == 0) {
        /* No kid: any key may have signed it; a MAC match ends the search
         * (the token may still be expired). */
        for (i = 0; i < n; i++) {
            rc = cg_token_check(keys[i].key.data, keys[i].key.len, tok,
                                toklen, 3, now, user);
            if (rc != CG_TOKEN_BAD_MAC) {
                return rc;
            }
        }
        return rc;
    }
    if (memcmp(tok, "v2.", 3) != 0
        || (kid_end = memchr(tok + 3, '.', toklen - 3)) == NULL) {
        return CG_TOKEN_MALFORMED;
    }
    klen = (size_t) (kid_end - tok - 3);
    if (!cg_signed_kid_valid(tok + 3, klen)) {
        return CG_TOKEN_MALFORMED;
    }
    for (i = 0; i < n; i++) {
        if (strlen(keys[i].kid) == klen
            && memcmp(keys[i].kid, tok + 3, klen) == 0) {
            return cg_token_check(keys[i].key.data, keys[i].key.len, tok,
                                  toklen, klen + 4, now, user);
        }
    }
    return CG_TOKEN_UNKNOWN_KID;
}


const char *
cg_signed_reason(cg_token_rc_t rc)
{
    switch (rc) {
    case CG_TOKEN_OK:        return "ok";
    case CG_TOKEN_MISSING:   return "no session token";
    case CG_TOKEN_MALFORMED: return "malformed session token";
    case CG_TOKEN_BAD_MAC:   return "session token signature mismatch";
    case CG_TOKEN_EXPIRED:   return "session token expired";
    case CG_TOKEN_UNKNOWN_KID: return "session token key id not configured";
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
cg_signed_find_token(const char *authorization, const char *cookies,
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
