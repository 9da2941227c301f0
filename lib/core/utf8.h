/*
 * utf8: strict UTF-8 decoding (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF). Used by the input check and the JSON escaper, so both agree
 * on what "valid" means. Pure functions; no allocation.
 */
#ifndef CG_UTF8_H
#define CG_UTF8_H

#include <stddef.h>

/* Decodes one code point at p; returns its length in bytes (1-4), or 0 when
 * the bytes there are not valid UTF-8. */
size_t cg_utf8_decode(const unsigned char *p, size_t n, unsigned *cp);
/* Returns the number of code points in s, or -1 if s is not valid UTF-8. */
long   cg_utf8_count(const char *s, size_t n);

#endif
