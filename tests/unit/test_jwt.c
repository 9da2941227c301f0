/*
 * Unit tests for lib/who/jwt.c (HS256 JWTs per RFC 8725) and the key
 * id rotation of lib/who/signed.c (v2 tokens, keyrings).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/b64.h"
#include "who/signed.h"
#include "who/jwt.h"

#define NOW ((time_t) 1700000000)

static const unsigned char key[] = "jwt-test-key-0123456789abcdef-0123456789";
#define KEY_LEN (sizeof(key) - 1)

static const cg_jwt_conf_t jc = {
    key, KEY_LEN, "https://site.test", "chatgate", "sub", 60
};


/* Builds header.payload.signature from JSON text, signed with k. */
static void
make_jwt(const char *header, const char *payload, const unsigned char *k,
         size_t klen, char *out, size_t cap)
{
    unsigned char mac[32];
    unsigned int  len = 0;
    size_t        n;

    assert_true(cg_b64_url_len(strlen(header)) + cg_b64_url_len(strlen(payload))
                + 50 < cap);
    n = cg_b64_url_encode((const unsigned char *) header, strlen(header), out);
    out[n++] = '.';
    n += cg_b64_url_encode((const unsigned char *) payload, strlen(payload),
                           out + n);
    assert_non_null(HMAC(EVP_sha256(), k, (int) klen,
                         (const unsigned char *) out, n, mac, &len));
    out[n++] = '.';
    cg_b64_url_encode(mac, 32, out + n);
}


static cg_jwt_rc_t
check(const char *header, const char *payload, char *user)
{
    char tok[4096];

    make_jwt(header, payload, key, KEY_LEN, tok, sizeof(tok));
    return cg_jwt_verify(&jc, tok, strlen(tok), NOW, user);
}


#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD  "{\"sub\":\"alice\",\"iss\":\"https://site.test\"," \
              "\"aud\":\"chatgate\",\"exp\":1700000600,\"iat\":1699999990}"


static void
test_valid(void **state)
{
    char user[CG_USER_MAX + 1];

    (void) state;
    assert_int_equal(check(HS256, GOOD, user), CG_JWT_OK);
    assert_string_equal(user, "alice");
    /* aud as an array; numeric sub; no typ. */
    assert_int_equal(check("{\"alg\":\"HS256\"}",
                           "{\"sub\":42,\"iss\":\"https://site.test\","
                           "\"aud\":[\"x\",\"chatgate\"],\"exp\":1700000600}",
                           user), CG_JWT_OK);
    assert_string_equal(user, "42");
}


static void
test_algorithms(void **state)
{
    char user[CG_USER_MAX + 1], tok[4096];
    size_t n;

    (void) state;
    assert_int_equal(check("{\"alg\":\"HS512\"}", GOOD, user),
                     CG_JWT_BAD_ALG);
    assert_int_equal(check("{\"alg\":\"RS256\"}", GOOD, user),
                     CG_JWT_BAD_ALG);
    assert_int_equal(check("{\"alg\":\"hs256\"}", GOOD, user),
                     CG_JWT_BAD_ALG);
    assert_int_equal(check("{\"typ\":\"JWT\"}", GOOD, user), CG_JWT_BAD_ALG);
    assert_int_equal(check("{\"alg\":\"HS256\",\"crit\":[\"x\"]}", GOOD,
                           user), CG_JWT_BAD_ALG);
    assert_int_equal(check("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", GOOD,
                           user), CG_JWT_MALFORMED);
    /* alg none with an empty signature. */
    n = cg_b64_url_encode((const unsigned char *) "{\"alg\":\"none\"}", 14,
                          tok);
    tok[n++] = '.';
    n += cg_b64_url_encode((const unsigned char *) GOOD, strlen(GOOD),
                           tok + n);
    tok[n++] = '.';
    tok[n] = '\0';
    assert_int_equal(cg_jwt_verify(&jc, tok, n, NOW, user), CG_JWT_BAD_ALG);
    assert_string_equal(user, "");
}


static void
test_tampered(void **state)
{
    char user[CG_USER_MAX + 1], tok[4096], other[4096], *dot;

    (void) state;
    make_jwt(HS256, GOOD, (const unsigned char *) "another-key-0123456789abcdef"
             "0123456789", 38, tok, sizeof(tok));
    assert_int_equal(cg_jwt_verify(&jc, tok, strlen(tok), NOW, user),
                     CG_JWT_BAD_MAC);
    /* A payload swapped in under a valid signature. */
    make_jwt(HS256, GOOD, key, KEY_LEN, tok, sizeof(tok));
    make_jwt(HS256, "{\"sub\":\"mallory\",\"iss\":\"https://site.test\","
             "\"aud\":\"chatgate\",\"exp\":1700000600}", key, KEY_LEN, other,
             sizeof(other));
    dot = strrchr(tok, '.');
    memcpy(strrchr(other, '.'), dot, strlen(dot) + 1);
    assert_int_equal(cg_jwt_verify(&jc, other, strlen(other), NOW, user),
                     CG_JWT_BAD_MAC);
    /* Truncated signature. */
    tok[strlen(tok) - 2] = '\0';
    assert_int_equal(cg_jwt_verify(&jc, tok, strlen(tok), NOW, user),
                     CG_JWT_BAD_MAC);
}


static void
test_times(void **state)
{
    char user[CG_USER_MAX + 1];

    (void) state;
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":\"chatgate\",\"exp\":1699999900}",
                           user), CG_JWT_EXPIRED);
    /* Within the leeway: still good. */
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":\"chatgate\",\"exp\":1699999970}",
                           user), CG_JWT_OK);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":\"chatgate\",\"exp\":1700000600,"
                           "\"nbf\":1700000300}", user), CG_JWT_NOT_YET);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":\"chatgate\"}", user),
                     CG_JWT_MALFORMED);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":\"chatgate\",\"exp\":\"soon\"}", user),
                     CG_JWT_MALFORMED);
}


/* A sub that JSON decodes to a NUL, or that names a service token's
 * caller, is no user id: it would be cut short or collide. */
static void
test_user_ids(void **state)
{
    char user[CG_USER_MAX + 1];

    (void) state;
    assert_int_equal(check(HS256, "{\"sub\":\"alice\\u0000x\",\"iss\":"
                           "\"https://site.test\",\"aud\":\"chatgate\","
                           "\"exp\":1700000600}", user), CG_JWT_NO_USER);
    assert_int_equal(check(HS256, "{\"sub\":\"token:batch\",\"iss\":"
                           "\"https://site.test\",\"aud\":\"chatgate\","
                           "\"exp\":1700000600}", user), CG_JWT_NO_USER);
    assert_int_equal(check(HS256, "{\"sub\":\"alice\",\"iss\":"
                           "\"https://site.test\",\"aud\":\"chatgate\","
                           "\"exp\":1700000600}", user), CG_JWT_OK);
    assert_string_equal(user, "alice");
}


static void
test_parties(void **state)
{
    char          user[CG_USER_MAX + 1], tok[4096];
    cg_jwt_conf_t open = jc;

    (void) state;
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://evil.test"
                           "\",\"aud\":\"chatgate\",\"exp\":1700000600}",
                           user), CG_JWT_BAD_ISS);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"aud\":\"chatgate\","
                           "\"exp\":1700000600}", user), CG_JWT_BAD_ISS);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":\"other\",\"exp\":1700000600}", user),
                     CG_JWT_BAD_AUD);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",\"iss\":\"https://site.test"
                           "\",\"aud\":[\"x\"],\"exp\":1700000600}", user),
                     CG_JWT_BAD_AUD);
    /* No audience configured: a token that names one is refused. */
    open.audience = "";
    make_jwt(HS256, GOOD, key, KEY_LEN, tok, sizeof(tok));
    assert_int_equal(cg_jwt_verify(&open, tok, strlen(tok), NOW, user),
                     CG_JWT_BAD_AUD);
    assert_int_equal(check(HS256, "{\"iss\":\"https://site.test\","
                           "\"aud\":\"chatgate\",\"exp\":1700000600}", user),
                     CG_JWT_NO_USER);
    assert_int_equal(check(HS256, "{\"sub\":\"a b\",\"iss\":"
                           "\"https://site.test\",\"aud\":\"chatgate\","
                           "\"exp\":1700000600}", user), CG_JWT_NO_USER);
}


static void
test_malformed(void **state)
{
    char user[CG_USER_MAX + 1], tok[4096], other[4200];
    char big[CG_JWT_MAX + 200];
    static const char *const bad[] = {
        "", ".", "..", "...", "a.b", "a.b.c.d", "eyJ.eyJ.", "a..b",
    };
    size_t i, n;

    (void) state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(cg_jwt_verify(&jc, bad[i], strlen(bad[i]), NOW,
                                           user), CG_JWT_OK);
    }
    /* Padding, whitespace and a non-object header are refused. */
    make_jwt(HS256, GOOD, key, KEY_LEN, tok, sizeof(tok));
    snprintf(other, sizeof(other), " %s", tok);
    assert_int_equal(cg_jwt_verify(&jc, other, strlen(other), NOW, user),
                     CG_JWT_MALFORMED);
    n = (size_t) (strchr(tok, '.') - tok);
    snprintf(other, sizeof(other), "%.*s=%s", (int) n, tok, tok + n);
    assert_int_equal(cg_jwt_verify(&jc, other, strlen(other), NOW, user),
                     CG_JWT_MALFORMED);
    assert_int_equal(check("[\"HS256\"]", GOOD, user), CG_JWT_MALFORMED);
    assert_int_equal(check(HS256, "[1]", user), CG_JWT_MALFORMED);
    assert_int_equal(check(HS256, "{\"sub\":\"a\",}", user),
                     CG_JWT_MALFORMED);
    /* Oversized. */
    memset(big, 'A', sizeof(big));
    assert_int_equal(cg_jwt_verify(&jc, big, sizeof(big), NOW, user),
                     CG_JWT_TOO_LONG);
}


static void
test_keyring(void **state)
{
    cg_session_key_t ring[2];
    char             tok[CG_TOKEN_MAX + 1], user[CG_USER_MAX + 1];
    char            *p;

    (void) state;
    memset(ring, 0, sizeof(ring));
    strcpy(ring[0].kid, "2026");
    ring[0].key.data = (unsigned char *) "new-key-0123456789abcdef-0123456789";
    ring[0].key.len = 35;
    ring[1].key.data = (unsigned char *) "old-key-0123456789abcdef-0123456789";
    ring[1].key.len = 35;

    /* The newest signs a v2 token naming its kid; it verifies. */
    assert_true(cg_signed_sign_key(&ring[0], "bob", NOW + 60, tok,
                                   sizeof(tok)) > 0);
    assert_memory_equal(tok, "v2.2026.", 8);
    assert_int_equal(cg_signed_verify_ring(ring, 2, tok, strlen(tok), NOW,
                                           user), CG_TOKEN_OK);
    assert_string_equal(user, "bob");
    assert_int_equal(cg_signed_verify_ring(ring, 2, tok, strlen(tok),
                                           NOW + 60, user), CG_TOKEN_EXPIRED);
    /* Once its key is removed, the token no longer verifies. */
    assert_int_equal(cg_signed_verify_ring(ring + 1, 1, tok, strlen(tok), NOW,
                                           user), CG_TOKEN_UNKNOWN_KID);
    /* A kid swapped to another key's id fails the MAC. */
    strcpy(ring[1].kid, "2025");
    p = tok + 3;
    memcpy(p, "2025", 4);
    assert_int_equal(cg_signed_verify_ring(ring, 2, tok, strlen(tok), NOW,
                                           user), CG_TOKEN_BAD_MAC);
    ring[1].kid[0] = '\0';
    /* A v1 token from the old (legacy) key still verifies. */
    assert_true(cg_signed_sign_key(&ring[1], "carol", NOW + 60, tok,
                                   sizeof(tok)) > 0);
    assert_memory_equal(tok, "v1.", 3);
    assert_int_equal(cg_signed_verify_ring(ring, 2, tok, strlen(tok), NOW,
                                           user), CG_TOKEN_OK);
    assert_string_equal(user, "carol");
    assert_int_equal(cg_signed_verify_ring(ring, 1, tok, strlen(tok), NOW,
                                           user), CG_TOKEN_BAD_MAC);
    /* Bad kids. */
    assert_int_equal(cg_signed_verify_ring(ring, 2, "v2..x.1.y", 9, NOW,
                                           user), CG_TOKEN_MALFORMED);
    assert_int_equal(cg_signed_verify_ring(ring, 2, "v2.a/b.x.1.y", 12, NOW,
                                           user), CG_TOKEN_MALFORMED);
    assert_int_equal(cg_signed_verify_ring(ring, 2, "v3.x.1.y", 8, NOW,
                                           user), CG_TOKEN_MALFORMED);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_user_ids),
        cmocka_unit_test(test_parties),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_keyring),
    };

    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
