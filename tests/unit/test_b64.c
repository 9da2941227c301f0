/*
 * Unit tests for lib/core/b64.c: strict unpadded base64url (RFC 4648 §5),
 * every non-canonical or padded form refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/b64.h"

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static void
check_vector(const char *raw, size_t n, const char *enc)
{
    char          out[128];
    unsigned char dec[128];
    long          dn;

    assert_int_equal(cg_b64_url_len(n), strlen(enc));
    memset(out, '#', sizeof(out));
    assert_int_equal(cg_b64_url_encode((const unsigned char *) raw, n, out),
                     strlen(enc));
    assert_string_equal(out, enc);
    dn = cg_b64_url_decode(enc, strlen(enc), dec, sizeof(dec));
    assert_int_equal(dn, (long) n);
    assert_memory_equal(dec, raw, n);
}


static void
test_b64_rfc4648(void **state)
{
    (void) state;
    /* RFC 4648 §10, without padding. */
    check_vector("", 0, "");
    check_vector("f", 1, "Zg");
    check_vector("fo", 2, "Zm8");
    check_vector("foo", 3, "Zm9v");
    check_vector("foob", 4, "Zm9vYg");
    check_vector("fooba", 5, "Zm9vYmE");
    check_vector("foobar", 6, "Zm9vYmFy");
    /* The url alphabet: '-' and '_' where standard base64 has '+', '/'. */
    check_vector("\xfb\xff", 2, "-_8");
    check_vector("\xfb\xef\xbe", 3, "----");
    check_vector("\xff\xff\xff", 3, "____");
    check_vector("\x00\x00\x00", 3, "AAAA");
    check_vector("\x00", 1, "AA");
    check_vector("\x03\xe0", 2, "A-A");
    check_vector("\x3f\x3f>", 3, "Pz8-");
    check_vector("\x3f\x3f\x3f", 3, "Pz8_");
}


static void
test_b64_roundtrip(void **state)
{
    unsigned char raw[200], dec[200];
    char          enc[300];
    size_t        n, i, e;
    unsigned      x = 12345;

    (void) state;
    memset(raw, 0, sizeof(raw));
    for (n = 0; n < sizeof(raw); n++) {
        for (i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            raw[i] = (unsigned char) (x >> 16);
        }
        e = cg_b64_url_encode(raw, n, enc);
        assert_int_equal(e, cg_b64_url_len(n));
        assert_int_equal(strspn(enc, b64_alpha), e);
        assert_int_equal(cg_b64_url_decode(enc, e, dec, n), (long) n);
        assert_memory_equal(dec, raw, n);
        if (n > 0) {
            /* One byte too little room. */
            assert_int_equal(cg_b64_url_decode(enc, e, dec, n - 1), -1);
        }
    }
}


static void
test_b64_rejects(void **state)
{
    static const char *bad[] = {
        "Zg==", "Zm8=", "Zm9vYg==", "Zm9vYmE=", "Zg=", "=", "====",
        "Zm9v ", " Zm9v", "Zm 9v", "Zm9v\n", "Zm9v\r\n", "Zm\t9v",
        "+/+/", "Zm9+", "Zm9/", "ab+d", "ab/d",
        "Z", "Zm9vY", "Zm9vYmFyZ",          /* length % 4 == 1 */
        "Zh", "Zm9", "Zm9vYh", "Zm9vYmF",   /* non-canonical trailing bits */
        "Z!==", "Zm.v", "Zm9v\xc3\xa9",
        NULL
    };
    unsigned char out[64];
    int           i;

    (void) state;
    for (i = 0; bad[i]; i++) {
        if (cg_b64_url_decode(bad[i], strlen(bad[i]), out, sizeof(out))
            != -1) {
            fail_msg("accepted \"%s\"", bad[i]);
        }
    }
    /* An embedded NUL inside the given length. */
    assert_int_equal(cg_b64_url_decode("Zm\0v", 4, out, sizeof(out)), -1);
    /* The canonical neighbours of the non-canonical ones are fine. */
    assert_int_equal(cg_b64_url_decode("Zg", 2, out, sizeof(out)), 1);
    assert_int_equal(cg_b64_url_decode("Zm8", 3, out, sizeof(out)), 2);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64_rfc4648),
        cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_b64_rejects),
    };

    return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
