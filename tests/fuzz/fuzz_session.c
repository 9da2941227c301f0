/* libFuzzer target for the session parsers: finding the token in the
 * Authorization and Cookie headers, and verifying it. Properties: no crash;
 * a token that verifies names a valid user; a token signed for a user
 * taken from the input verifies to that user. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "who/signed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char secret[] = "fuzz-secret-fuzz-secret-fuzz-secret!";


static void
verify(const char *tok, size_t n)
{
    char user[CG_USER_MAX + 1];

    if (cg_signed_verify(secret, sizeof(secret) - 1, tok, n, 1000, user)
        == CG_TOKEN_OK && !cg_signed_user_valid(user, strlen(user))) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *s, *cookie, user[CG_USER_MAX + 1], tok[512];
    const char  *t;
    size_t       tn, un;
    int          n;

    s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    /* Before the first newline: Authorization; after it: Cookie. */
    cookie = strchr(s, '\n');
    if (cookie != NULL) {
        *cookie++ = '\0';
    }
    if (cg_signed_find_token(s, cookie, "chatgate_session", &t, &tn) == 0) {
        verify(t, tn);
    }
    verify((const char *) s, strlen(s));
    un = strlen(s) < CG_USER_MAX ? strlen(s) : CG_USER_MAX;
    memcpy(user, s, un);
    user[un] = '\0';
    if (cg_signed_user_valid(user, un)) {
        char back[CG_USER_MAX + 1];
        n = cg_signed_sign(secret, sizeof(secret) - 1, user, 2000, tok,
                           sizeof(tok));
        if (n < 0 || cg_signed_verify(secret, sizeof(secret) - 1, tok,
                                      (size_t) n, 1000, back) != CG_TOKEN_OK
            || strcmp(back, user) != 0) {
            abort();
        }
    }
    free(s);
    return 0;
}
