/*
 * b64: strict base64url (RFC 4648 §5) without padding, as used by session
 * tokens and JWTs. Decoding rejects '=', whitespace, any byte outside the
 * alphabet and non-canonical trailing bits, so one token has one spelling.
 */
#ifndef CG_B64_H
#define CG_B64_H

#include <stddef.h>

/* Writes the encoding of in[0..n) and a NUL to out, which must hold
 * cg_b64_url_len(n) + 1 bytes; returns the encoded length. */
size_t cg_b64_url_encode(const unsigned char *in, size_t n, char *out);
size_t cg_b64_url_len(size_t n);
/* Decodes in[0..n) into out (capacity cap); returns the decoded length, or
 * -1 on any invalid input or when out is too small. */
long   cg_b64_url_decode(const char *in, size_t n, unsigned char *out,
                         size_t cap);

#endif
