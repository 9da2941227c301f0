/* libFuzzer target for the JWT verifier. Two modes, by the first byte:
 *   even: the rest is a token as received; nothing can verify, since the
 *         fuzzer cannot make an HMAC with the key (any CG_JWT_OK aborts);
 *   odd:  the rest is "HEADER\nPAYLOAD" JSON, encoded and signed here with
 *         the key, so the claim checks behind the MAC are fuzzed too; a
 *         token that verifies must name a valid user.
 * Properties: no crash, and the two above. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/b64.h"
#include "who/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[] = "fuzz-jwt-key-fuzz-jwt-key-fuzz-jwt!";


/* header.payload.mac of the two JSON parts, in tok (CG_JWT_MAX + 64). */
static size_t
sign(const char *h, size_t hn, const char *p, size_t pn, char *tok)
{
    unsigned char mac[32];
    unsigned int  ml = sizeof(mac);
    size_t        n;

    n = cg_b64_url_encode((const unsigned char *) h, hn, tok);
    tok[n++] = '.';
    n += cg_b64_url_encode((const unsigned char *) p, pn, tok + n);
    HMAC(EVP_sha256(), key, sizeof(key) - 1, (unsigned char *) tok, n, mac,
         &ml);
    tok[n++] = '.';
    n += cg_b64_url_encode(mac, ml, tok + n);
    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_jwt_conf_t jc = { key, sizeof(key) - 1, "https://issuer.test",
                         "", "sub", 30 };
    char          user[CG_USER_MAX + 1], tok[CG_JWT_MAX + 64];
    const char   *s = (const char *) data + 1, *nl;
    size_t        n = size ? size - 1 : 0;
    cg_jwt_rc_t   rc;

    if (size < 1) {
        return 0;
    }
    if (!(data[0] & 1)) {
        if (cg_jwt_verify(&jc, s, n, 1700000000, user) == CG_JWT_OK) {
            abort();
        }
        return 0;
    }
    nl = memchr(s, '\n', n);
    if (nl == NULL || n > 2000) {
        return 0;
    }
    n = sign(s, (size_t) (nl - s), nl + 1, (size_t) (s + n - nl - 1), tok);
    rc = cg_jwt_verify(&jc, tok, n, 1700000000, user);
    if (rc == CG_JWT_OK && !cg_signed_user_valid(user, strlen(user))) {
        abort();
    }
    (void) cg_jwt_reason(rc);
    return 0;
}
