/*
 * Unit tests for lib/who/signed.c: signed session tokens, token lookup in
 * the request headers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/b64.h"
#include "who/signed.h"

#define NOW ((time_t) 1700000000)

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
#define SECRET_LEN (sizeof(secret) - 1)

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* Signs user/exp with the test secret; fails the test if signing fails. */
static int
sign(const char *user, time_t exp, char *out, size_t cap)
{
    int n = cg_signed_sign(secret, SECRET_LEN, user, exp, out, cap);

    assert_true(n > 0);
    assert_int_equal((size_t) n, strlen(out));
    return n;
}


static cg_token_rc_t
verify_at(const char *tok, time_t now, char user[CG_USER_MAX + 1])
{
    return cg_signed_verify(secret, SECRET_LEN, tok, strlen(tok), now, user);
}


/* Builds "<prefix>.<b64url(HMAC-SHA256(secret, prefix))>" independently of
 * the library, so a test can hand the verifier a token whose MAC is right
 * and whose only fault is its shape. */
static void
mac_token(const char *prefix, char *out, size_t cap)
{
    unsigned char mac[32];
    unsigned int  len = 0;
    size_t        n = strlen(prefix);

    assert_non_null(HMAC(EVP_sha256(), secret, (int) SECRET_LEN,
                         (const unsigned char *) prefix, n, mac, &len));
    assert_int_equal(len, 32);
    assert_true(n + 1 + cg_b64_url_len(32) + 1 <= cap);
    memcpy(out, prefix, n);
    out[n] = '.';
    cg_b64_url_encode(mac, 32, out + n + 1);
}


/* ---- sign / verify ---------------------------------------------------- */

static void
test_roundtrip(void **state)
{
    static const char *users[] = {
        "alice", "a", "alice@example.com", "user:42", "first.last+tag",
        "ABCxyz019._@+:-", NULL
    };
    char tok[CG_TOKEN_MAX + 1], user[CG_USER_MAX + 1];
    int  i;

    (void) state;
    for (i = 0; users[i]; i++) {
        sign(users[i], NOW + 3600, tok, sizeof(tok));
        assert_int_equal(strncmp(tok, "v1.", 3), 0);
        memset(user, 'Z', sizeof(user));
        assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_OK);
        assert_string_equal(user, users[i]);
    }
}


static void
test_roundtrip_max_user(void **state)
{
    char long_user[CG_USER_MAX + 1];
    char tok[CG_TOKEN_MAX + 1], user[CG_USER_MAX + 1];
    int  n;

    (void) state;
    memset(long_user, 'u', CG_USER_MAX);
    long_user[CG_USER_MAX] = '\0';
    n = sign(long_user, NOW + 60, tok, sizeof(tok));
    assert_true(n <= CG_TOKEN_MAX);
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_OK);
    assert_string_equal(user, long_user);
}


static void
test_token_format(void **state)
{
    char tok[CG_TOKEN_MAX + 1], expect[CG_TOKEN_MAX + 1];

    (void) state;
    /* v1.<b64url("alice")>.<exp>.<b64url(HMAC over everything before)> */
    sign("alice", 1700003600, tok, sizeof(tok));
    mac_token("v1.YWxpY2U.1700003600", expect, sizeof(expect));
    assert_string_equal(tok, expect);
}


static void
test_verify_uses_toklen(void **state)
{
    char buf[CG_TOKEN_MAX + 32], user[CG_USER_MAX + 1];
    int  n;

    (void) state;
    /* A token inside a header: bytes after toklen must not matter. */
    n = sign("alice", NOW + 60, buf, sizeof(buf));
    memcpy(buf + n, "; other=1", 10);
    assert_int_equal(cg_signed_verify(secret, SECRET_LEN, buf, (size_t) n,
                                      NOW, user), CG_TOKEN_OK);
    assert_string_equal(user, "alice");
    /* And one byte short is not the token. */
    assert_int_not_equal(cg_signed_verify(secret, SECRET_LEN, buf,
                                          (size_t) n - 1, NOW, user),
                         CG_TOKEN_OK);
}


static void
test_expired(void **state)
{
    char tok[CG_TOKEN_MAX + 1], user[CG_USER_MAX + 1];

    (void) state;
    sign("alice", NOW, tok, sizeof(tok));
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_EXPIRED);
    assert_int_equal(verify_at(tok, NOW + 1, user), CG_TOKEN_EXPIRED);
    assert_int_equal(verify_at(tok, NOW + 86400 * 365, user),
                     CG_TOKEN_EXPIRED);
    assert_int_equal(verify_at(tok, NOW - 1, user), CG_TOKEN_OK);

    sign("bob", 1000, tok, sizeof(tok));
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_EXPIRED);
    assert_int_equal(verify_at(tok, 999, user), CG_TOKEN_OK);
}


static void
test_tampered_user(void **state)
{
    char   tok[CG_TOKEN_MAX + 1], forged[CG_TOKEN_MAX + 1];
    char   user[CG_USER_MAX + 1];
    char  *dot;
    size_t i, j;
    cg_token_rc_t rc;

    (void) state;
    sign("alice", NOW + 3600, tok, sizeof(tok));

    /* Swap the user for another valid one, keep exp and MAC. */
    dot = strchr(tok + 3, '.');
    snprintf(forged, sizeof(forged), "v1.%s%s", "bWFsbG9yeQ", dot);
    assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_BAD_MAC);

    /* Change each character of the user part to each other letter. */
    for (i = 3; tok + i < dot; i++) {
        for (j = 0; j < 64; j += 7) {
            if (b64_alpha[j] == tok[i]) {
                continue;
            }
            strcpy(forged, tok);
            forged[i] = b64_alpha[j];
            rc = verify_at(forged, NOW, user);
            assert_true(rc == CG_TOKEN_BAD_MAC || rc == CG_TOKEN_MALFORMED);
        }
    }
}


static void
test_tampered_exp(void **state)
{
    char   tok[CG_TOKEN_MAX + 1], forged[CG_TOKEN_MAX + 1];
    char   user[CG_USER_MAX + 1];
    char  *e, *m;
    size_t i;
    cg_token_rc_t rc;

    (void) state;
    sign("alice", NOW + 3600, tok, sizeof(tok));
    e = strchr(tok + 3, '.') + 1;
    m = strchr(e, '.');

    /* Extend the lifetime: one more digit. */
    snprintf(forged, sizeof(forged), "%.*s9%s", (int) (m - tok), tok, m);
    assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_BAD_MAC);

    /* Every digit changed. */
    for (i = (size_t) (e - tok); tok + i < m; i++) {
        strcpy(forged, tok);
        forged[i] = forged[i] == '9' ? '0' : (char) (forged[i] + 1);
        rc = verify_at(forged, NOW, user);
        assert_int_equal(rc, CG_TOKEN_BAD_MAC);
    }

    /* Same value, different spelling (leading zero) is another message. */
    snprintf(forged, sizeof(forged), "%.*s0%s", (int) (e - tok), tok, e);
    assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_BAD_MAC);
}


static void
test_tampered_mac(void **state)
{
    char   tok[CG_TOKEN_MAX + 1], forged[CG_TOKEN_MAX + 8];
    char   user[CG_USER_MAX + 1];
    char  *m;
    size_t i, j, n;
    int    tried = 0;
    cg_token_rc_t rc;

    (void) state;
    n = (size_t) sign("alice", NOW + 3600, tok, sizeof(tok));
    m = strrchr(tok, '.') + 1;
    assert_int_equal(strlen(m), 43);

    for (i = (size_t) (m - tok); i < n; i++) {
        for (j = 0; j < 64; j++) {
            if (b64_alpha[j] == tok[i]) {
                continue;
            }
            strcpy(forged, tok);
            forged[i] = b64_alpha[j];
            rc = verify_at(forged, NOW, user);
            assert_true(rc == CG_TOKEN_BAD_MAC || rc == CG_TOKEN_MALFORMED);
            tried++;
        }
        /* Flipping a character into one outside the alphabet. */
        strcpy(forged, tok);
        forged[i] = '=';
        assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_MALFORMED);
    }
    assert_int_equal(tried, 43 * 63);

    /* Truncated, extended and empty MACs. */
    strcpy(forged, tok);
    forged[n - 1] = '\0';
    assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_MALFORMED);
    snprintf(forged, sizeof(forged), "%sAAAA", tok);
    assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_MALFORMED);
    snprintf(forged, sizeof(forged), "%.*s", (int) (m - tok), tok);
    assert_int_equal(verify_at(forged, NOW, user), CG_TOKEN_MALFORMED);
}


static void
test_wrong_secret(void **state)
{
    static const unsigned char other[] = "0123456789abcdef0123456789abcdeX";
    char tok[CG_TOKEN_MAX + 1], user[CG_USER_MAX + 1];

    (void) state;
    sign("alice", NOW + 3600, tok, sizeof(tok));
    assert_int_equal(cg_signed_verify(other, sizeof(other) - 1, tok,
                                      strlen(tok), NOW, user),
                     CG_TOKEN_BAD_MAC);
    /* A prefix of the right secret is a different key. */
    assert_int_equal(cg_signed_verify(secret, SECRET_LEN - 1, tok,
                                      strlen(tok), NOW, user),
                     CG_TOKEN_BAD_MAC);
    /* Even an expired token with the wrong key is a MAC failure: nothing
     * is trusted before the MAC. */
    sign("alice", 1000, tok, sizeof(tok));
    assert_int_equal(cg_signed_verify(other, sizeof(other) - 1, tok,
                                      strlen(tok), NOW, user),
                     CG_TOKEN_BAD_MAC);
}


static void
test_missing(void **state)
{
    char user[CG_USER_MAX + 1];

    (void) state;
    assert_int_equal(cg_signed_verify(secret, SECRET_LEN, "", 0, NOW, user),
                     CG_TOKEN_MISSING);
    assert_int_equal(cg_signed_verify(secret, SECRET_LEN, "v1.abc", 0, NOW,
                                      user), CG_TOKEN_MISSING);
}


static void
test_garbage(void **state)
{
    static const char *bad[] = {
        "garbage", "v1.", "v1", "v", "v1..", "v1...", "v1....",
        "v2.YWxpY2U.1700003600.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "V1.YWxpY2U.1700003600.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.YWxpY2U",                   /* too few dots */
        "v1.YWxpY2U.1700003600",        /* too few dots */
        "v1.YWxpY2U.1700003600.",       /* empty MAC */
        ".v1.YWxpY2U.1700003600.abc",
        " v1.YWxpY2U.1700003600.abc",
        "Bearer v1.YWxpY2U.1700003600.abc",
        "\xff\xfe\xfd",
        NULL
    };
    char user[CG_USER_MAX + 1];
    int  i;

    (void) state;
    for (i = 0; bad[i]; i++) {
        assert_int_equal(verify_at(bad[i], NOW, user), CG_TOKEN_MALFORMED);
    }
}


/* Tokens whose MAC is correct but whose shape is not: the verifier must
 * still refuse them. */
static void
test_malformed_with_valid_mac(void **state)
{
    static const char *prefixes[] = {
        "v1.YWxp.Y2U.1700003600",       /* too many dots (user "a.b"-ish) */
        "v1.YWxpY2U.17000.03600",       /* too many dots */
        "v1.YWxpY2U..1700003600",       /* too many dots, empty field */
        "v1..1700003600",               /* empty user */
        "v1.YWxpY2U.",                  /* empty exp */
        "v1.YWxpY2U.17000O3600",        /* letter O in exp */
        "v1.YWxpY2U.-1700003600",       /* sign */
        "v1.YWxpY2U.+1700003600",
        "v1.YWxpY2U. 1700003600",
        "v1.YWxpY2U.1700003600 ",
        "v1.YWxpY2U.0x65536",
        "v1.YWxpY2U.1000000000000000000",       /* 19 digits */
        "v1.YWxpY2U.9999999999999999999",       /* 19 digits */
        "v1.YWxpY2U.99999999999999999999999",   /* overflow */
        "v1.YWxpY2U=.1700003600",       /* padding in user */
        "v1.YWxpYw==.1700003600",       /* padding in user */
        "v1.YWxpY2V.1700003600",        /* non-canonical trailing bits */
        "v1.YW xpY2U.1700003600",       /* whitespace */
        "v1.YWxp+2U.1700003600",        /* std alphabet */
        "v1.YWxp/2U.1700003600",
        "v1.YWxpY.1700003600",          /* length % 4 == 1 */
        "v1.YSBi.1700003600",           /* user "a b": invalid user id */
        "v1.YS9i.1700003600",           /* user "a/b" */
        "v1.YQpi.1700003600",           /* user "a\nb" */
        "v1.AA.1700003600",             /* user "\0" */
        NULL
    };
    char tok[CG_TOKEN_MAX + 64], user[CG_USER_MAX + 1];
    int  i;

    (void) state;
    for (i = 0; prefixes[i]; i++) {
        mac_token(prefixes[i], tok, sizeof(tok));
        if (verify_at(tok, NOW, user) != CG_TOKEN_MALFORMED) {
            fail_msg("not MALFORMED: %s", tok);
        }
    }

    /* 18 digits are still accepted (far future). */
    mac_token("v1.YWxpY2U.999999999999999999", tok, sizeof(tok));
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_OK);
    assert_string_equal(user, "alice");

    /* Padding appended to a correct MAC. */
    mac_token("v1.YWxpY2U.1700003600", tok, sizeof(tok));
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_OK);
    strcat(tok, "=");
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_MALFORMED);
}


static void
test_user_too_long_with_valid_mac(void **state)
{
    unsigned char raw[CG_USER_MAX + 1];
    char          prefix[400], tok[600], user[CG_USER_MAX + 1];
    size_t        n;

    (void) state;
    memset(raw, 'u', sizeof(raw));
    memcpy(prefix, "v1.", 3);
    n = 3 + cg_b64_url_encode(raw, sizeof(raw), prefix + 3);
    snprintf(prefix + n, sizeof(prefix) - n, ".%lld",
             (long long) NOW + 60);
    mac_token(prefix, tok, sizeof(tok));
    assert_true(strlen(tok) <= CG_TOKEN_MAX);
    assert_int_equal(verify_at(tok, NOW, user), CG_TOKEN_MALFORMED);
}


static void
test_oversize(void **state)
{
    char  tok[CG_TOKEN_MAX + 1], user[CG_USER_MAX + 1];
    char *big;
    int   n;

    (void) state;
    /* No well-formed token can exceed CG_TOKEN_MAX, so the length check
     * is seen on its own: a valid token followed by padding up to one byte
     * over the limit is refused as malformed, not as a MAC failure. */
    n = sign("alice", NOW + 60, tok, sizeof(tok));
    big = malloc(CG_TOKEN_MAX + 2);
    assert_non_null(big);
    memset(big, 'A', CG_TOKEN_MAX + 1);
    memcpy(big, tok, (size_t) n);
    big[CG_TOKEN_MAX + 1] = '\0';
    assert_int_equal(cg_signed_verify(secret, SECRET_LEN, big,
                                      CG_TOKEN_MAX + 1, NOW, user),
                     CG_TOKEN_MALFORMED);
    free(big);

    big = malloc(CG_TOKEN_MAX + 2);
    assert_non_null(big);
    memset(big, 'A', CG_TOKEN_MAX + 1);
    memcpy(big, "v1.", 3);
    big[CG_TOKEN_MAX + 1] = '\0';
    assert_int_equal(verify_at(big, NOW, user), CG_TOKEN_MALFORMED);
    /* Just over the limit with a valid-looking tail. */
    memcpy(big + CG_TOKEN_MAX + 1 - 20, ".1700003600.AAAAAAAA", 20);
    assert_int_equal(verify_at(big, NOW, user), CG_TOKEN_MALFORMED);
    free(big);
}


static void
test_sign_refuses_bad_users(void **state)
{
    char long_user[CG_USER_MAX + 2];
    char tok[CG_TOKEN_MAX + 1];
    static const char *bad[] = {
        "", " ", "a b", "alice ", "a/b", "a\nb", "a\rb", "a\tb", "a;b",
        "a=b", "a,b", "a\"b", "a\\b", "caf\xc3\xa9", "a%20b", "a*", NULL
    };
    int i;

    (void) state;
    for (i = 0; bad[i]; i++) {
        assert_int_equal(cg_signed_sign(secret, SECRET_LEN, bad[i], NOW + 60,
                                        tok, sizeof(tok)), -1);
    }
    memset(long_user, 'a', CG_USER_MAX + 1);
    long_user[CG_USER_MAX + 1] = '\0';
    assert_int_equal(cg_signed_sign(secret, SECRET_LEN, long_user, NOW + 60,
                                    tok, sizeof(tok)), -1);
    long_user[CG_USER_MAX] = '\0';
    assert_true(cg_signed_sign(secret, SECRET_LEN, long_user, NOW + 60, tok,
                               sizeof(tok)) > 0);

    /* Non-positive expiry and a too small buffer. */
    assert_int_equal(cg_signed_sign(secret, SECRET_LEN, "alice", 0, tok,
                                    sizeof(tok)), -1);
    assert_int_equal(cg_signed_sign(secret, SECRET_LEN, "alice", -5, tok,
                                    sizeof(tok)), -1);
    assert_int_equal(cg_signed_sign(secret, SECRET_LEN, "alice", NOW, tok,
                                    20), -1);
}


static void
test_user_valid(void **state)
{
    (void) state;
    assert_true(cg_signed_user_valid("alice", 5));
    assert_true(cg_signed_user_valid("A-z_0.9@x+y:z", 13));
    assert_false(cg_signed_user_valid("", 0));
    assert_false(cg_signed_user_valid("a b", 3));
    assert_false(cg_signed_user_valid("a\0b", 3));
    /* Only n bytes are looked at. */
    assert_true(cg_signed_user_valid("ab cd", 2));
    /* Service token callers are "token:NAME": no site user may be one. */
    assert_false(cg_signed_user_valid("token:batch", 11));
    assert_true(cg_signed_user_valid("tokenx:batch", 12));
    assert_true(cg_signed_user_valid("wp:5", 4));
}


static void
test_reason(void **state)
{
    (void) state;
    assert_non_null(cg_signed_reason(CG_TOKEN_OK));
    assert_string_equal(cg_signed_reason(CG_TOKEN_EXPIRED),
                        "session token expired");
    assert_string_not_equal(cg_signed_reason(CG_TOKEN_BAD_MAC),
                            cg_signed_reason(CG_TOKEN_MALFORMED));
}


/* ---- finding the token ------------------------------------------------ */

static void
expect_tok(const char *auth, const char *cookies, const char *name,
           const char *want)
{
    const char *tok = NULL;
    size_t      len = 0;

    assert_int_equal(cg_signed_find_token(auth, cookies, name, &tok, &len),
                     0);
    assert_non_null(tok);
    if (len != strlen(want) || memcmp(tok, want, len) != 0) {
        fail_msg("found \"%.*s\", want \"%s\"", (int) len, tok, want);
    }
}


static void
expect_none(const char *auth, const char *cookies, const char *name)
{
    const char *tok = NULL;
    size_t      len = 0;

    assert_int_equal(cg_signed_find_token(auth, cookies, name, &tok, &len),
                     -1);
}


static void
test_find_bearer_wins(void **state)
{
    (void) state;
    expect_tok("Bearer AAA", "chatgate_session=BBB", "chatgate_session",
               "AAA");
    expect_tok("Bearer AAA", NULL, "chatgate_session", "AAA");
    /* The scheme is case-insensitive (RFC 9110). */
    expect_tok("bearer AAA", "chatgate_session=BBB", "chatgate_session",
               "AAA");
    expect_tok("BEARER AAA", NULL, "chatgate_session", "AAA");
    /* Another scheme is not a session token: fall back to the cookie. */
    expect_tok("Basic dXNlcjpwdw==", "chatgate_session=BBB",
               "chatgate_session", "BBB");
    expect_tok("BearerAAA", "chatgate_session=BBB", "chatgate_session",
               "BBB");
    expect_none("Basic dXNlcjpwdw==", NULL, "chatgate_session");
}


static void
test_find_cookie(void **state)
{
    (void) state;
    expect_tok(NULL, "chatgate_session=TOK", "chatgate_session", "TOK");
    expect_tok(NULL, "a=1; chatgate_session=TOK; b=2", "chatgate_session",
               "TOK");
    expect_tok(NULL, "a=1;chatgate_session=TOK;b=2", "chatgate_session",
               "TOK");
    expect_tok(NULL, "a=1; chatgate_session=TOK", "chatgate_session", "TOK");
    expect_tok(NULL, "chatgate_session=TOK; b=2", "chatgate_session", "TOK");
    expect_tok(NULL, "xchatgate_session=bad; chatgate_session=good",
               "chatgate_session", "good");
    expect_tok(NULL, "chatgate_session_old=bad; chatgate_session=good",
               "chatgate_session", "good");
    expect_tok(NULL, "a=chatgate_session=bad; chatgate_session=good",
               "chatgate_session", "good");
    expect_tok(NULL, "sid=X; other=Y", "sid", "X");
    expect_tok(NULL, "sidx=X; sid=Y", "sid", "Y");
    /* A real token, found and verified from the header. */
    {
        char        tok[CG_TOKEN_MAX + 1], hdr[CG_TOKEN_MAX + 64];
        char        user[CG_USER_MAX + 1];
        const char *t;
        size_t      len;

        sign("alice", NOW + 60, tok, sizeof(tok));
        snprintf(hdr, sizeof(hdr), "theme=dark; chatgate_session=%s; x=1",
                 tok);
        assert_int_equal(cg_signed_find_token(NULL, hdr,
                                              "chatgate_session", &t, &len),
                         0);
        assert_int_equal(len, strlen(tok));
        assert_int_equal(cg_signed_verify(secret, SECRET_LEN, t, len, NOW,
                                          user), CG_TOKEN_OK);
        assert_string_equal(user, "alice");
    }
}


static void
test_find_missing(void **state)
{
    (void) state;
    expect_none(NULL, NULL, "chatgate_session");
    expect_none(NULL, "", "chatgate_session");
    expect_none(NULL, "a=1; b=2", "chatgate_session");
    expect_none(NULL, "xchatgate_session=bad", "chatgate_session");
    expect_none(NULL, "chatgate_sessionx=bad", "chatgate_session");
    expect_none(NULL, "chatgate_session", "chatgate_session");
    expect_none(NULL, "chatgate_sessio=bad", "chatgate_session");
}


/* The per-thread keyed contexts: more secrets than cached slots, each used
 * again after others (a re-keyed slot, a reused one), an empty secret and
 * one longer than a slot keeps; every MAC must equal one-shot HMAC(). */
static void
test_hmac_many_secrets(void **state)
{
    unsigned char keys[7][200], mac[32], want[32];
    size_t        lens[7] = { 32, 16, 0, 1, 32, 200, 129 };
    unsigned int  wlen;
    int           round, i, k;

    (void) state;
    for (k = 0; k < 7; k++) {
        for (i = 0; i < 200; i++) {
            keys[k][i] = (unsigned char) (k * 31 + i);
        }
    }
    for (round = 0; round < 3; round++) {
        for (k = 0; k < 7; k++) {
            const char *msg = round == 1 ? "bob" : "v1.YWxpY2U.1700000000";

            assert_int_equal(cg_signed_hmac(keys[k], lens[k], msg,
                                            strlen(msg), mac), 0);
            assert_non_null(HMAC(EVP_sha256(), keys[k], (int) lens[k],
                                 (const unsigned char *) msg, strlen(msg),
                                 want, &wlen));
            assert_memory_equal(mac, want, 32);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_roundtrip_max_user),
        cmocka_unit_test(test_token_format),
        cmocka_unit_test(test_verify_uses_toklen),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_tampered_user),
        cmocka_unit_test(test_tampered_exp),
        cmocka_unit_test(test_tampered_mac),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_malformed_with_valid_mac),
        cmocka_unit_test(test_user_too_long_with_valid_mac),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_sign_refuses_bad_users),
        cmocka_unit_test(test_user_valid),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_find_bearer_wins),
        cmocka_unit_test(test_find_cookie),
        cmocka_unit_test(test_find_missing),
        cmocka_unit_test(test_hmac_many_secrets),
    };

    return cmocka_run_group_tests_name("signed", tests, NULL, NULL);
}
